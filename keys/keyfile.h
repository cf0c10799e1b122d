/*
 * keyfile: how key material is stored on disk.
 *
 * Writes are atomic: a temporary file in the same directory, written,
 * fsync'd, renamed over the target, and the directory fsync'd, so a crash
 * leaves either the old file or the new one, never half of either.
 *
 * A secret file must be a regular file that only its owner can read or
 * write (mode 0600 or stricter), owned by the reading user or root;
 * anything else is refused with an error that says how to fix it.
 */
#ifndef HOMEPORT_KEYFILE_H
#define HOMEPORT_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KEYFILE_MAX (64 * 1024)	/* largest key, certificate or signature file we read */

/*
 * Write data[0..len) to path atomically with the given mode (0600 for
 * secrets, 0644 for public keys). Replaces path if it exists.
 * Returns 0, or -1 with err set (and no temporary file left behind).
 */
int keyfile_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
		  size_t errcap);

/* Like keyfile_write() but fails if path already exists. */
int keyfile_create(const char *path, const void *data, size_t len, mode_t mode, char *err,
		   size_t errcap);

/* keyfile_write() when replace is set, else keyfile_create(). */
int keyfile_store(const char *path, const void *data, size_t len, mode_t mode, int replace,
		  char *err, size_t errcap);

/*
 * Read a whole file of at most cap bytes into buf. With secret set, refuse
 * a file that is not a regular file, is group- or world-accessible, or is
 * owned by someone other than the reading user or root. Returns 0 and sets
 * *len_r, or -1 with err set. the bytes read into buf are wiped on failure.
 */
int keyfile_read(const char *path, int secret, uint8_t *buf, size_t cap, size_t *len_r,
		 char *err, size_t errcap);

/*
 * Make the keys directory (mode 0700) if missing, owned by uid:gid when
 * uid is not (uid_t)-1; refuse an existing one that others may write to.
 * Returns 0, or -1 with err set.
 */
int keyfile_mkdir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errcap);

#endif
