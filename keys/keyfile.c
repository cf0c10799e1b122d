#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int
keyfile_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int
keyfile_sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
keyfile_store(const char *path, const void *data, size_t len, mode_t mode, int replace,
	      char *err, size_t errcap)
{
	char tmp[PATH_MAX];
	int fd = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errcap, "%s: path too long", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "%s: cannot create temporary file: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0 || keyfile_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		snprintf(err, errcap, "%s: cannot write: %s", path, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errcap, "%s: cannot write: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (replace) {
		if (rename(tmp, path) != 0) {
			snprintf(err, errcap, "%s: cannot rename into place: %s", path, strerror(errno));
			goto fail;
		}
	} else {
		/* link() fails on an existing target, where rename() would replace it. */
		if (link(tmp, path) != 0) {
			snprintf(err, errcap, "%s: %s", path,
				 errno == EEXIST ? "already exists" : strerror(errno));
			goto fail;
		}
		unlink(tmp);
	}
	if (keyfile_sync_dir(path) != 0) {
		snprintf(err, errcap, "%s: cannot sync directory: %s", path, strerror(errno));
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int
keyfile_write(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errcap)
{
	return keyfile_store(path, data, len, mode, 1, err, errcap);
}

int
keyfile_create(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errcap)
{
	return keyfile_store(path, data, len, mode, 0, err, errcap);
}

int
keyfile_read(const char *path, int secret, uint8_t *buf, size_t cap, size_t *len_r, char *err,
	     size_t errcap)
{
	struct stat st;
	size_t len = 0;
	int fd;

	/* O_NONBLOCK: a FIFO must be refused below, not waited on here. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errcap, "%s: cannot open: %s%s", path, strerror(errno),
			 errno == ELOOP ? " (key files may not be symbolic links)" : "");
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errcap, "%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errcap, "%s: not a regular file", path);
		goto fail;
	}
	if (secret && (st.st_mode & 077) != 0) {
		snprintf(err, errcap,
			 "%s: private key is accessible by group or others (mode %04o); "
			 "fix with: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	if (secret && st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errcap, "%s: private key is owned by uid %u, not by this user (uid %u); "
			 "fix with: chown %u %s", path, (unsigned)st.st_uid, (unsigned)geteuid(),
			 (unsigned)geteuid(), path);
		goto fail;
	}
	if ((uint64_t)st.st_size > cap) {
		snprintf(err, errcap, "%s: larger than %zu bytes", path, cap);
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			/* Grew since fstat: refuse rather than read half. */
			uint8_t extra;
			if (read(fd, &extra, 1) > 0) {
				snprintf(err, errcap, "%s: larger than %zu bytes", path, cap);
				goto fail;
			}
			break;
		}
	}
	close(fd);
	*len_r = len;
	return 0;
fail:
	sodium_memzero(buf, len);
	close(fd);
	return -1;
}

int
keyfile_mkdir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errcap)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errcap, "%s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0) {
		snprintf(err, errcap, "%s: cannot stat: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "%s: not a directory", dir);
		return -1;
	}
	if ((st.st_mode & 022) != 0) {
		snprintf(err, errcap, "%s: keys directory is writable by group or others; "
			 "fix with: chmod 700 %s", dir, dir);
		return -1;
	}
	if (uid != (uid_t)-1 && (st.st_uid != uid || st.st_gid != gid) &&
	    chown(dir, uid, gid) != 0) {
		snprintf(err, errcap, "%s: cannot give to uid %u: %s", dir, (unsigned)uid,
			 strerror(errno));
		return -1;
	}
	return 0;
}
