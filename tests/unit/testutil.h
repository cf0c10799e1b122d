/*
 * testutil: what several unit tests share: a private temporary directory,
 * made under /tmp and removed with everything in it, and files written into
 * it. No cmocka here: functions report failure (-1 or NULL), callers assert.
 */
#ifndef HOMEPORT_TESTUTIL_H
#define HOMEPORT_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

#define TESTUTIL_DIR_MAX 256

/* A temporary directory and the path of one file in it (not created). */
struct testutil_tmpdir {
	char dir[TESTUTIL_DIR_MAX];
	char path[2 * TESTUTIL_DIR_MAX];	/* dir/leaf */
};

/* Make /tmp/test_TAG.XXXXXX into dir[0..cap). Returns 0 or -1. */
int testutil_mkdtemp(char *dir, size_t cap, const char *tag);

/* Remove dir and everything below it (symlinks are not followed). Returns 0 or -1. */
int testutil_rmtree(const char *dir);

/*
 * Write len bytes of data to path (created or truncated), then set its mode
 * to exactly mode (umask does not apply). Returns 0, or -1 on any failure
 * including a short write.
 */
int testutil_write_file(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Make a directory as testutil_mkdtemp(..., tag) and set path to dir/leaf.
 * Returns the directory (release with testutil_tmpdir_free), or NULL with
 * nothing made.
 */
struct testutil_tmpdir *testutil_tmpdir_new(const char *tag, const char *leaf);

/*
 * Remove (*tdp)->dir with everything in it, free *tdp and set it to NULL;
 * a NULL *tdp does nothing. Returns 0, or -1 when the directory could not be
 * removed (the memory is freed either way).
 */
int testutil_tmpdir_free(struct testutil_tmpdir **tdp);

/*
 * A cmocka teardown for a test whose state is a struct testutil_tmpdir *:
 * testutil_tmpdir_free on it, then *state = NULL. Returns 0 or -1 as that.
 */
int testutil_tmpdir_teardown(void **state);

#endif
