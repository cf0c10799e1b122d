/*
 * Unit tests for keys/keyfile: atomic writes with exact modes, no
 * temporary files left behind, the permission and ownership checks on
 * secret files, the size cap, and the keys directory.
 *
 * Each test works in its own directory made with mkdtemp() under /tmp and
 * removed afterwards. The tests run as root here, which bypasses permission
 * bits on open(); keyfile checks st_mode itself, so that does not matter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_ERR_MAX 1024
#define T_OTHER_UID 54321	/* a uid nobody here has */
#define T_OTHER_GID 54322
#define T_HANG_SECONDS 5	/* a call that blocks this long has hung */

struct t_dir {
	char path[T_PATH_MAX];
};

static int
t_setup(void **state)
{
	struct t_dir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	if (testutil_mkdtemp(d->path, sizeof(d->path), "keyfile") != 0) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_dir *d = *state;
	int rc = testutil_rmtree(d->path);

	free(d);
	return rc;
}

/* dir/leaf into out. */
static void
t_join(char *out, const char *dir, const char *leaf)
{
	int n = snprintf(out, T_PATH_MAX, "%s/%s", dir, leaf);

	assert_true(n > 0 && n < T_PATH_MAX);
}

/* Number of directory entries whose name contains ".tmp.". */
static int
t_count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".tmp.") != NULL)
			n++;
	}
	closedir(d);
	return n;
}

/* Number of entries other than . and .. */
static int
t_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The whole file, which must hold fewer than cap bytes, as a string. */
static void
t_slurp(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, out, cap - 1);
	assert_true(n >= 0 && (size_t)n < cap - 1);
	out[n] = '\0';
	close(fd);
}

static mode_t
t_mode(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* ---- keyfile_write / keyfile_create ---------------------------------- */

static void
test_keyfile_write_exact_modes(void **state)
{
	static const mode_t modes[] = { 0600, 0644, 0400 };
	static const mode_t umasks[] = { 0, 022, 077 };
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], back[64];
	struct stat st;

	/* fchmod ignores the umask: the mode asked for is the mode we get. */
	for (size_t u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
		mode_t old = umask(umasks[u]);
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			t_join(path, d->path, "key");
			unlink(path);
			err[0] = '\0';
			assert_int_equal(keyfile_write(path, "secret\n", 7, modes[i], err, sizeof(err)), 0);
			assert_string_equal(err, "");
			assert_int_equal(lstat(path, &st), 0);
			assert_true(S_ISREG(st.st_mode));
			if ((st.st_mode & 07777) != modes[i])
				fail_msg("umask %04o mode %04o: got %04o", (unsigned)umasks[u],
					 (unsigned)modes[i], (unsigned)(st.st_mode & 07777));
			assert_int_equal(st.st_size, 7);
			t_slurp(path, back, sizeof(back));
			assert_string_equal(back, "secret\n");
			assert_int_equal(t_count_tmp(d->path), 0);
		}
		umask(old);
	}
}

static void
test_keyfile_write_replaces_atomically(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], back[64];
	struct stat before, after;

	t_join(path, d->path, "key");
	assert_int_equal(testutil_write_file(path, "old contents that are longer\n", 29, 0644), 0);
	assert_int_equal(lstat(path, &before), 0);

	assert_int_equal(keyfile_write(path, "new\n", 4, 0600, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &after), 0);
	/* A new inode renamed over the old name, not the old file rewritten. */
	assert_true(after.st_ino != before.st_ino);
	assert_int_equal(after.st_mode & 07777, 0600);
	t_slurp(path, back, sizeof(back));
	assert_string_equal(back, "new\n");
	assert_int_equal(t_count_tmp(d->path), 0);
	assert_int_equal(t_count_entries(d->path), 1);

	/* An empty file is a valid write too. */
	assert_int_equal(keyfile_write(path, "", 0, 0644, err, sizeof(err)), 0);
	t_slurp(path, back, sizeof(back));
	assert_string_equal(back, "");
	assert_int_equal(t_mode(path), 0644);
	assert_int_equal(t_count_entries(d->path), 1);
}

static void
test_keyfile_write_missing_dir(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX];

	t_join(path, d->path, "nodir/key");
	err[0] = '\0';
	assert_int_equal(keyfile_write(path, "x", 1, 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot create temporary file"));
	assert_int_equal(t_count_entries(d->path), 0);

	assert_int_equal(keyfile_create(path, "x", 1, 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(t_count_entries(d->path), 0);
}

static void
test_keyfile_write_over_directory(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX];

	/* The temporary file is made, the rename fails: it must be removed. */
	t_join(path, d->path, "key");
	assert_int_equal(mkdir(path, 0700), 0);
	err[0] = '\0';
	assert_int_equal(keyfile_write(path, "x", 1, 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot rename into place"));
	assert_int_equal(t_count_tmp(d->path), 0);
	assert_int_equal(t_count_entries(d->path), 1);
}

static void
test_keyfile_create_refuses_existing(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX], back[64];
	struct stat before, after;

	t_join(path, d->path, "key");
	assert_int_equal(keyfile_create(path, "first\n", 6, 0600, err, sizeof(err)), 0);
	assert_int_equal(t_mode(path), 0600);
	assert_int_equal(lstat(path, &before), 0);

	assert_int_equal(keyfile_create(path, "second\n", 7, 0644, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: already exists", path);
	assert_string_equal(err, want);
	assert_int_equal(lstat(path, &after), 0);
	assert_true(after.st_ino == before.st_ino);
	assert_int_equal(after.st_mode & 07777, 0600);
	t_slurp(path, back, sizeof(back));
	assert_string_equal(back, "first\n");
	assert_int_equal(t_count_tmp(d->path), 0);
	assert_int_equal(t_count_entries(d->path), 1);

	/* Also a dangling symbolic link counts as existing. */
	t_join(path, d->path, "dangling");
	assert_int_equal(symlink("/nonexistent/target", path), 0);
	assert_int_equal(keyfile_create(path, "x", 1, 0600, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: already exists", path);
	assert_string_equal(err, want);
	assert_int_equal(t_count_entries(d->path), 2);
}

/* ---- keyfile_read ------------------------------------------------------ */

struct t_mode_case {
	mode_t mode;
	int ok;
};

static const struct t_mode_case t_secret_modes[] = {
	{ 0600, 1 }, { 0400, 1 }, { 0200, 1 }, { 0700, 1 }, { 0000, 1 },
	{ 0640, 0 }, { 0604, 0 }, { 0644, 0 }, { 0660, 0 }, { 0606, 0 },
	{ 0610, 0 }, { 0601, 0 }, { 0620, 0 }, { 0602, 0 }, { 0666, 0 },
	{ 0440, 0 }, { 0404, 0 },
};

static void
test_keyfile_read_secret_modes(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], fix[T_ERR_MAX];
	uint8_t buf[64];
	size_t len;

	t_join(path, d->path, "key");
	snprintf(fix, sizeof(fix), "chmod 600 %s", path);
	for (size_t i = 0; i < sizeof(t_secret_modes) / sizeof(t_secret_modes[0]); i++) {
		const struct t_mode_case *c = &t_secret_modes[i];
		unlink(path);
		assert_int_equal(testutil_write_file(path, "key bytes", 9, c->mode), 0);
		memset(buf, 0xAA, sizeof(buf));
		len = 999;
		err[0] = '\0';
		int rc = keyfile_read(path, 1, buf, sizeof(buf), &len, err, sizeof(err));
		if (c->ok) {
			if (rc != 0)
				fail_msg("mode %04o refused: %s", (unsigned)c->mode, err);
			assert_int_equal(len, 9);
			assert_memory_equal(buf, "key bytes", 9);
		} else {
			if (rc != -1)
				fail_msg("mode %04o accepted", (unsigned)c->mode);
			if (strstr(err, fix) == NULL)
				fail_msg("mode %04o: error '%s' lacks '%s'", (unsigned)c->mode, err, fix);
			assert_int_equal(len, 999);
		}
		/* Not a secret: any mode is fine. */
		len = 999;
		assert_int_equal(keyfile_read(path, 0, buf, sizeof(buf), &len, err, sizeof(err)), 0);
		assert_int_equal(len, 9);
	}
}

static void
test_keyfile_read_refuses_symlink(void **state)
{
	struct t_dir *d = *state;
	char target[T_PATH_MAX], link_path[T_PATH_MAX], err[T_ERR_MAX];
	uint8_t buf[64];
	size_t len = 999;

	t_join(target, d->path, "real");
	t_join(link_path, d->path, "link");
	assert_int_equal(testutil_write_file(target, "key", 3, 0600), 0);
	assert_int_equal(symlink(target, link_path), 0);
	for (int secret = 0; secret <= 1; secret++) {
		err[0] = '\0';
		assert_int_equal(keyfile_read(link_path, secret, buf, sizeof(buf), &len, err,
					      sizeof(err)), -1);
		assert_non_null(strstr(err, link_path));
		assert_non_null(strstr(err, "may not be symbolic links"));
		assert_int_equal(len, 999);
	}
	/* The target itself is fine. */
	assert_int_equal(keyfile_read(target, 1, buf, sizeof(buf), &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
}

static void
test_keyfile_read_refuses_directory(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	uint8_t buf[64];
	size_t len = 999;

	t_join(path, d->path, "sub");
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	for (int secret = 0; secret <= 1; secret++) {
		assert_int_equal(keyfile_read(path, secret, buf, sizeof(buf), &len, err,
					      sizeof(err)), -1);
		assert_string_equal(err, want);
	}
	assert_int_equal(len, 999);

	t_join(path, d->path, "missing");
	assert_int_equal(keyfile_read(path, 1, buf, sizeof(buf), &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_keyfile_read_refuses_fifo(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	uint8_t buf[64];
	size_t len = 999;

	/*
	 * A FIFO with no writer: opening it for reading must not wait for one.
	 * The alarm turns a hang into a failure.
	 */
	t_join(path, d->path, "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	alarm(T_HANG_SECONDS);
	for (int secret = 0; secret <= 1; secret++) {
		assert_int_equal(keyfile_read(path, secret, buf, sizeof(buf), &len, err,
					      sizeof(err)), -1);
		assert_string_equal(err, want);
	}
	alarm(0);
	assert_int_equal(len, 999);
}

static void
test_keyfile_read_refuses_other_owner(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX];
	uint8_t buf[64];
	size_t len = 999;

	if (geteuid() != 0)
		skip();
	t_join(path, d->path, "key");
	assert_int_equal(testutil_write_file(path, "key", 3, 0600), 0);
	assert_int_equal(chown(path, T_OTHER_UID, T_OTHER_GID), 0);
	assert_int_equal(keyfile_read(path, 1, buf, sizeof(buf), &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "owned by uid 54321"));
	assert_non_null(strstr(err, "chown 0 "));
	assert_int_equal(len, 999);
	/* A public file may belong to anyone. */
	assert_int_equal(keyfile_read(path, 0, buf, sizeof(buf), &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
}

static void
test_keyfile_read_cap(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], text[34];
	uint8_t buf[33];
	size_t len;

	memset(text, 'k', 33);
	text[33] = '\0';
	t_join(path, d->path, "key");
	assert_int_equal(testutil_write_file(path, text, strlen(text), 0600), 0);

	/* 33 bytes with a cap of 32: refused. */
	len = 999;
	err[0] = '\0';
	assert_int_equal(keyfile_read(path, 1, buf, 32, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than 32 bytes"));
	assert_int_equal(len, 999);

	/* Exactly at the cap: read whole. */
	assert_int_equal(keyfile_read(path, 1, buf, 33, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 33);
	assert_memory_equal(buf, text, 33);

	/* Empty file, cap 0. */
	unlink(path);
	assert_int_equal(testutil_write_file(path, "", 0, 0600), 0);
	len = 999;
	assert_int_equal(keyfile_read(path, 1, buf, 0, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 0);
}

static void
test_keyfile_read_grown_file_wiped(void **state)
{
	uint8_t buf[16];
	char err[T_ERR_MAX];
	size_t len = 999;

	(void)state;
	/*
	 * A procfs file reports size 0 but holds more: the fstat check passes,
	 * the read hits the cap, and the check after the read must refuse the
	 * file and wipe what it had read.
	 */
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(keyfile_read("/proc/self/status", 0, buf, sizeof(buf), &len, err,
				      sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than 16 bytes"));
	assert_int_equal(len, 999);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
}

/* ---- keyfile_mkdir ----------------------------------------------------- */

static void
test_keyfile_mkdir_creates_0700(void **state)
{
	static const mode_t umasks[] = { 0, 022, 077 };
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX];
	struct stat st;

	for (size_t u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++) {
		mode_t old = umask(umasks[u]);
		t_join(path, d->path, "keys");
		rmdir(path);
		err[0] = '\0';
		assert_int_equal(keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
		umask(old);
		assert_string_equal(err, "");
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
		/* Again: an existing good directory is fine. */
		assert_int_equal(keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
		assert_int_equal(t_mode(path), 0700);
	}
}

static void
test_keyfile_mkdir_existing_modes(void **state)
{
	static const struct t_mode_case cases[] = {
		{ 0700, 1 }, { 0750, 1 }, { 0755, 1 }, { 0500, 1 },
		{ 0770, 0 }, { 0720, 0 }, { 0702, 0 }, { 0777, 0 }, { 0757, 0 },
	};
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];

	t_join(path, d->path, "keys");
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(want, sizeof(want),
		 "%s: keys directory is writable by group or others; fix with: chmod 700 %s",
		 path, path);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(chmod(path, cases[i].mode), 0);
		err[0] = '\0';
		int rc = keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err));
		if (rc != (cases[i].ok ? 0 : -1))
			fail_msg("mode %04o: rc %d (%s)", (unsigned)cases[i].mode, rc, err);
		if (!cases[i].ok)
			assert_string_equal(err, want);
		/* Never "fixed" silently. */
		assert_int_equal(t_mode(path), cases[i].mode);
	}
}

static void
test_keyfile_mkdir_not_a_directory(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], target[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];

	t_join(path, d->path, "file");
	assert_int_equal(testutil_write_file(path, "", 0, 0600), 0);
	snprintf(want, sizeof(want), "%s: not a directory", path);
	assert_int_equal(keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), -1);
	assert_string_equal(err, want);

	/* A symbolic link to a good directory is not the directory. */
	t_join(target, d->path, "real");
	assert_int_equal(mkdir(target, 0700), 0);
	t_join(path, d->path, "link");
	assert_int_equal(symlink(target, path), 0);
	snprintf(want, sizeof(want), "%s: not a directory", path);
	assert_int_equal(keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), -1);
	assert_string_equal(err, want);

	t_join(path, d->path, "missing/keys");
	assert_int_equal(keyfile_mkdir(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create"));
}

static void
test_keyfile_mkdir_owner(void **state)
{
	struct t_dir *d = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX];
	struct stat st;

	if (geteuid() != 0)
		skip();
	t_join(path, d->path, "keys");
	assert_int_equal(keyfile_mkdir(path, T_OTHER_UID, T_OTHER_GID, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, T_OTHER_UID);
	assert_int_equal(st.st_gid, T_OTHER_GID);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* An existing directory is given to the user too. */
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(keyfile_mkdir(path, T_OTHER_UID, T_OTHER_GID, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, T_OTHER_UID);
	assert_int_equal(st.st_gid, T_OTHER_GID);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_keyfile_write_exact_modes),
		T(test_keyfile_write_replaces_atomically),
		T(test_keyfile_write_missing_dir),
		T(test_keyfile_write_over_directory),
		T(test_keyfile_create_refuses_existing),
		T(test_keyfile_read_secret_modes),
		T(test_keyfile_read_refuses_symlink),
		T(test_keyfile_read_refuses_directory),
		T(test_keyfile_read_refuses_fifo),
		T(test_keyfile_read_refuses_other_owner),
		T(test_keyfile_read_cap),
		T(test_keyfile_read_grown_file_wiped),
		T(test_keyfile_mkdir_creates_0700),
		T(test_keyfile_mkdir_existing_modes),
		T(test_keyfile_mkdir_not_a_directory),
		T(test_keyfile_mkdir_owner),
	};
	return cmocka_run_group_tests_name("keyfile", tests, NULL, NULL);
}
