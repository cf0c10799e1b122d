#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int
testutil_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
testutil_mkdtemp(char *dir, size_t cap, const char *tag)
{
	if (snprintf(dir, cap, "/tmp/test_%s.XXXXXX", tag) >= (int)cap)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

int
testutil_rmtree(const char *dir)
{
	return nftw(dir, testutil_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
testutil_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	if (n < 0 || (size_t)n != len)
		goto fail;
	if (fchmod(fd, mode) != 0)
		goto fail;
	return close(fd);
fail:
	close(fd);
	return -1;
}

struct testutil_tmpdir *
testutil_tmpdir_new(const char *tag, const char *leaf)
{
	struct testutil_tmpdir *td = calloc(1, sizeof(*td));
	int n;

	if (td == NULL)
		return NULL;
	if (testutil_mkdtemp(td->dir, sizeof(td->dir), tag) != 0)
		goto fail;
	n = snprintf(td->path, sizeof(td->path), "%s/%s", td->dir, leaf);
	if (n < 0 || (size_t)n >= sizeof(td->path)) {
		testutil_rmtree(td->dir);
		goto fail;
	}
	return td;
fail:
	free(td);
	return NULL;
}

int
testutil_tmpdir_free(struct testutil_tmpdir **tdp)
{
	struct testutil_tmpdir *td = *tdp;
	int rc;

	if (td == NULL)
		return 0;
	rc = testutil_rmtree(td->dir);
	free(td);
	*tdp = NULL;
	return rc;
}

int
testutil_tmpdir_teardown(void **state)
{
	struct testutil_tmpdir *td = *state;

	*state = NULL;
	return testutil_tmpdir_free(&td);
}
