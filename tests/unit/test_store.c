/*
 * Unit tests for home/store: mail.db in a temporary directory per test.
 *
 * Every database here goes through a test VFS (t_vfs) that wraps SQLite's
 * default one and is registered as the default, so store_open() uses it
 * unchanged. It counts every write, sync and truncate and can make the
 * Nth fail (SQLITE_IOERR_WRITE or SQLITE_FULL for writes, optionally
 * torn: half the bytes written first; SQLITE_IOERR_FSYNC and
 * SQLITE_IOERR_TRUNCATE), once or from then on. The sweeps run a delivery
 * once per N over all its I/O calls.
 *
 * It also models power loss: with t_io.powercut set it remembers what
 * every write or truncate of mail.db, its WAL (or the rollback journal
 * used once, to switch a new file to WAL) overwrote since that
 * file's last sync, and t_powercut() puts it all back, leaving each file
 * exactly as its last successful fsync left it. A forked child delivers
 * and reports each acknowledgement (commit returned 0) on a pipe, then
 * loses power; the parent reopens and checks that every acknowledged
 * message is there. The physical fsync itself is skipped (the model is
 * the proof, and the tests stay fast).
 *
 * Row counts the API does not show (bodies, chunks, pending) are read
 * with SQLite directly, on a separate connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"

#include "../../home/home.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_FILES_MAX 32		/* files the test VFS has open at once */
#define T_SWEEP_MAX 20000	/* I/O calls a sweep tries at most */
#define T_PIECE_MAX 9000	/* largest piece handed to store_delivery_write() */
#define T_PC_DELIVERIES_MAX 64	/* deliveries of one power-cut run */
#define T_BIG (4 * 1024 * 1024 + 300000) /* more WAL than one auto-checkpoint */

/* ---- the test VFS ---------------------------------------------------- */

struct t_undo {
	sqlite3_int64 off;
	sqlite3_int64 old_size;		/* the file's size before the change */
	int n;				/* bytes in old */
	unsigned char *old;		/* what was at off */
};

struct t_file {
	sqlite3_file base;
	sqlite3_file *real;		/* the wrapped file, right after this struct */
	int track;			/* mail.db, its WAL or journal: keep undo records */
	struct t_undo *undo;
	size_t nundo;
	size_t capundo;
};

static struct {
	long calls;		/* writes, syncs, truncates since t_fault_arm() */
	long fail_at;		/* the call that fails (1-based); 0: none */
	int sticky;		/* and every call after it */
	int write_rc;		/* SQLITE_IOERR_WRITE or SQLITE_FULL */
	int torn;		/* a failing write writes its first half */
	long failures;		/* calls failed since t_fault_arm() */
	int powercut;		/* keep undo records of unsynced changes */
	long total;		/* every counted call, for cut_at */
	long cut_at;		/* lose power just before this call; 0: never */
} t_io;

static sqlite3_vfs *t_real_vfs;
static sqlite3_vfs t_vfs;
static struct t_file *t_files[T_FILES_MAX];

static void
t_fault_arm(long fail_at, int sticky, int write_rc, int torn)
{
	t_io.calls = 0;
	t_io.failures = 0;
	t_io.fail_at = fail_at;
	t_io.sticky = sticky;
	t_io.write_rc = write_rc;
	t_io.torn = torn;
}

static void
t_fault_off(void)
{
	t_io.fail_at = 0;
	t_io.sticky = 0;
}

static void
t_undo_clear(struct t_file *f)
{
	for (size_t i = 0; i < f->nundo; i++)
		free(f->undo[i].old);
	f->nundo = 0;
}

/* Put every tracked file back as its last sync left it. */
static void
t_powercut(void)
{
	for (size_t i = 0; i < T_FILES_MAX; i++) {
		struct t_file *f = t_files[i];
		if (f == NULL || !f->track)
			continue;
		for (size_t j = f->nundo; j-- > 0;) {
			struct t_undo *u = &f->undo[j];
			if (u->n > 0)
				f->real->pMethods->xWrite(f->real, u->old, u->n, u->off);
			f->real->pMethods->xTruncate(f->real, u->old_size);
		}
		t_undo_clear(f);
	}
}

/* Count one write, sync or truncate. Returns 1 if it must fail. */
static int
t_io_call(void)
{
	t_io.total++;
	if (t_io.cut_at != 0 && t_io.total == t_io.cut_at) {
		t_powercut();
		_exit(0);
	}
	t_io.calls++;
	if (t_io.fail_at == 0 || t_io.calls < t_io.fail_at ||
	    (t_io.calls > t_io.fail_at && !t_io.sticky))
		return 0;
	t_io.failures++;
	return 1;
}

/* Remember what bytes [off, off + len) held before a change. */
static int
t_undo_record(struct t_file *f, sqlite3_int64 off, sqlite3_int64 len)
{
	sqlite3_int64 size;
	struct t_undo *u;

	if (!t_io.powercut || !f->track)
		return SQLITE_OK;
	if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
		return SQLITE_IOERR;
	if (f->nundo == f->capundo) {
		size_t cap = f->capundo == 0 ? 64 : f->capundo * 2;
		struct t_undo *p = realloc(f->undo, cap * sizeof(*p));
		if (p == NULL)
			return SQLITE_NOMEM;
		f->undo = p;
		f->capundo = cap;
	}
	u = &f->undo[f->nundo];
	memset(u, 0, sizeof(*u));
	u->off = off;
	u->old_size = size;
	if (off < size) {
		u->n = (int)(len < size - off ? len : size - off);
		u->old = malloc((size_t)u->n);
		if (u->old == NULL)
			return SQLITE_NOMEM;
		if (f->real->pMethods->xRead(f->real, u->old, u->n, off) != SQLITE_OK) {
			free(u->old);
			return SQLITE_IOERR;
		}
	}
	f->nundo++;
	return SQLITE_OK;
}

static int
t_close(sqlite3_file *file)
{
	struct t_file *f = (struct t_file *)file;
	int rc = f->real->pMethods->xClose(f->real);

	for (size_t i = 0; i < T_FILES_MAX; i++) {
		if (t_files[i] == f)
			t_files[i] = NULL;
	}
	t_undo_clear(f);
	free(f->undo);
	f->undo = NULL;
	return rc;
}

static int
t_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int
t_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
	struct t_file *f = (struct t_file *)file;
	int rc;

	if (t_io_call()) {
		if (t_io.torn && amt > 1 && t_undo_record(f, off, amt / 2) == SQLITE_OK)
			f->real->pMethods->xWrite(f->real, buf, amt / 2, off);
		return t_io.write_rc;
	}
	if ((rc = t_undo_record(f, off, amt)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int
t_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct t_file *f = (struct t_file *)file;
	sqlite3_int64 old;
	int rc;

	if (t_io_call())
		return SQLITE_IOERR_TRUNCATE;
	if (f->real->pMethods->xFileSize(f->real, &old) != SQLITE_OK)
		return SQLITE_IOERR_TRUNCATE;
	if (old > size && (rc = t_undo_record(f, size, old - size)) != SQLITE_OK)
		return rc;
	return f->real->pMethods->xTruncate(f->real, size);
}

/* A sync that succeeds makes the file's changes so far durable. */
static int
t_sync(sqlite3_file *file, int flags)
{
	struct t_file *f = (struct t_file *)file;

	(void)flags;
	if (t_io_call())
		return SQLITE_IOERR_FSYNC;
	t_undo_clear(f);
	return SQLITE_OK;
}

static int
t_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xFileSize(f->real, size);
}

static int
t_lock(sqlite3_file *file, int lock)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xLock(f->real, lock);
}

static int
t_unlock(sqlite3_file *file, int lock)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xUnlock(f->real, lock);
}

static int
t_check_reserved(sqlite3_file *file, int *out)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
t_file_control(sqlite3_file *file, int op, void *arg)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
t_sector_size(sqlite3_file *file)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
t_device_characteristics(sqlite3_file *file)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int
t_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int
t_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
t_shm_barrier(sqlite3_file *file)
{
	struct t_file *f = (struct t_file *)file;

	f->real->pMethods->xShmBarrier(f->real);
}

static int
t_shm_unmap(sqlite3_file *file, int delete_flag)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int
t_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct t_file *f = (struct t_file *)file;

	*pp = NULL;
	return f->real->pMethods->iVersion >= 3 ? f->real->pMethods->xFetch(f->real, off, amt, pp)
						: SQLITE_OK;
}

static int
t_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct t_file *f = (struct t_file *)file;

	return f->real->pMethods->iVersion >= 3 ? f->real->pMethods->xUnfetch(f->real, off, p)
						: SQLITE_OK;
}

static const sqlite3_io_methods t_io_methods = {
	.iVersion = 3,
	.xClose = t_close,
	.xRead = t_read,
	.xWrite = t_write,
	.xTruncate = t_truncate,
	.xSync = t_sync,
	.xFileSize = t_file_size,
	.xLock = t_lock,
	.xUnlock = t_unlock,
	.xCheckReservedLock = t_check_reserved,
	.xFileControl = t_file_control,
	.xSectorSize = t_sector_size,
	.xDeviceCharacteristics = t_device_characteristics,
	.xShmMap = t_shm_map,
	.xShmLock = t_shm_lock,
	.xShmBarrier = t_shm_barrier,
	.xShmUnmap = t_shm_unmap,
	.xFetch = t_fetch,
	.xUnfetch = t_unfetch,
};

static int
t_open_file(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
	struct t_file *f = (struct t_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = t_real_vfs->xOpen(t_real_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	f->track = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
	for (size_t i = 0; i < T_FILES_MAX; i++) {
		if (t_files[i] == NULL) {
			t_files[i] = f;
			break;
		}
	}
	f->base.pMethods = &t_io_methods;
	return SQLITE_OK;
}

/* Register the test VFS as the default: every database below uses it. */
static int
t_group_setup(void **state)
{
	(void)state;
	log_init("test_store", LOG_LEVEL_ERROR, NULL);
	if (sqlite3_initialize() != SQLITE_OK || (t_real_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return -1;
	t_vfs = *t_real_vfs;
	t_vfs.pNext = NULL;
	t_vfs.zName = "t_fault";
	t_vfs.szOsFile = (int)sizeof(struct t_file) + t_real_vfs->szOsFile;
	t_vfs.xOpen = t_open_file;
	return sqlite3_vfs_register(&t_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static int
t_group_teardown(void **state)
{
	(void)state;
	sqlite3_vfs_unregister(&t_vfs);
	return 0;
}

/* ---- per-test state and helpers --------------------------------------- */

static int
t_setup(void **state)
{
	memset(&t_io, 0, sizeof(t_io));
	*state = testutil_tmpdir_new("store", STORE_FILE);
	return *state != NULL ? 0 : -1;
}

static struct store *
t_open(struct testutil_tmpdir *s)
{
	struct store_err err;
	struct store *st = store_open(s->path, STORE_OPEN_RECOVER, &err);

	if (st == NULL)
		fail_msg("store_open: %s", err.msg);
	return st;
}

/* Remove mail.db and its WAL and shm: a fresh start in the same directory. */
static void
t_wipe(struct testutil_tmpdir *s)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[3 * T_PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", s->path, suffix[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			fail_msg("unlink %s: %s", p, strerror(errno));
	}
}

/* One integer from SQL on a separate, plain connection (the real VFS). */
static int64_t
t_raw(struct testutil_tmpdir *s, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t v;

	if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE, t_real_vfs->zName) != SQLITE_OK)
		fail_msg("raw open: %s", sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
		fail_msg("raw %s: %s", sql, sqlite3_errmsg(db));
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* Run SQL on a plain connection, to prepare odd files. */
static void
t_raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    t_real_vfs->zName) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("raw %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

#define t_ok(call) do { \
	struct store_err t_err_; \
	t_err_.msg[0] = '\0'; \
	if ((call) != 0) \
		fail_msg("%s: %s", #call, t_err_.msg); \
} while (0)

/* Expect call to fail with code (and its kind). */
#define t_refused(call, want) do { \
	struct store_err t_err_; \
	memset(&t_err_, 0, sizeof(t_err_)); \
	assert_int_equal((call), -1); \
	if (t_err_.code != (want)) \
		fail_msg("%s: code %d, want %d (%s)", #call, t_err_.code, (want), t_err_.msg); \
	assert_int_equal(t_err_.kind, (want) >= STORE_E_EXISTS ? STORE_ERR_PERMANENT \
							       : STORE_ERR_TEMPORARY); \
	assert_true(t_err_.msg[0] != '\0'); \
} while (0)

#define E (&t_err_)

/* Domains example.test and other.test; users alice, bob (example.test), carol (other.test). */
static void
t_accounts(struct store *st, int64_t ids[3])
{
	t_ok(store_domain_add(st, "example.test", E));
	t_ok(store_domain_add(st, "other.test", E));
	t_ok(store_user_add(st, "alice@example.test", "$argon2id$v=19$m=65536,t=3,p=1$a$b", 0,
			    &ids[0], E));
	t_ok(store_user_add(st, "bob@example.test", "$argon2id$v=19$m=65536,t=3,p=1$c$d", 0,
			    &ids[1], E));
	t_ok(store_user_add(st, "carol@other.test", "", 0, &ids[2], E));
}

/* Deterministic message bytes: "X-Seq: %08u" and CRLF lines that depend on seq. */
static void
t_body_fill(uint8_t *buf, size_t len, uint32_t seq)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "X-Seq: %08u\r\n", seq);

	for (size_t i = 0; i < len; i++) {
		if (i < (size_t)n)
			buf[i] = (uint8_t)head[i];
		else if (i % 78 == 76)
			buf[i] = '\r';
		else if (i % 78 == 77)
			buf[i] = '\n';
		else
			buf[i] = (uint8_t)('a' + (i * 7 + seq * 13) % 26);
	}
}

static uint64_t t_rand_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
t_rand(void)
{
	t_rand_state ^= t_rand_state << 13;
	t_rand_state ^= t_rand_state >> 7;
	t_rand_state ^= t_rand_state << 17;
	return (uint32_t)(t_rand_state >> 16);
}

/*
 * Deliver body[0..len) from sender@remote.test to users and remotes,
 * written in pieces of random size up to piece_max. Returns what commit
 * (or an earlier step) returned, with err.
 */
static int
t_deliver(struct store *st, const int64_t *users, size_t nusers, const char *const *remotes,
	  size_t nremote, const uint8_t *body, size_t len, size_t piece_max, int64_t date,
	  struct store_err *err)
{
	struct store_delivery *d = store_delivery_begin(st, "sender@remote.test", err);
	size_t off = 0, n;
	int rc = -1;

	if (d == NULL)
		return -1;
	for (size_t i = 0; i < nusers; i++) {
		if (store_delivery_add_user(d, users[i], err) != 0)
			goto out;
	}
	for (size_t i = 0; i < nremote; i++) {
		if (store_delivery_add_remote(d, remotes[i], err) != 0)
			goto out;
	}
	while (off < len) {
		n = 1 + t_rand() % piece_max;
		if (n > len - off)
			n = len - off;
		if (store_delivery_write(d, body + off, n, err) != 0)
			goto out;
		off += n;
	}
	rc = store_delivery_commit(d, date, err);
out:
	store_delivery_free(&d);
	return rc;
}

static struct store_mailbox
t_inbox(struct store *st, int64_t user_id)
{
	struct store_mailbox mb;

	t_ok(store_mailbox_get(st, user_id, "INBOX", &mb, E));
	return mb;
}

/* Read a body back in odd-sized pieces and compare it with want[0..len). */
static void
t_body_equal(struct store *st, int64_t body_id, const uint8_t *want, size_t len)
{
	uint8_t buf[10007];
	size_t off = 0, got;

	for (;;) {
		t_ok(store_body_read(st, body_id, (int64_t)off, buf, sizeof(buf), &got, E));
		if (got == 0)
			break;
		assert_true(off + got <= len);
		if (memcmp(buf, want + off, got) != 0)
			fail_msg("body %lld differs in [%zu, %zu)", (long long)body_id, off, off + got);
		off += got;
	}
	assert_int_equal(off, len);
}

static int64_t
t_chunks_of(int64_t len)
{
	return (len + STORE_CHUNK_MAX - 1) / STORE_CHUNK_MAX;
}

/* ---- opening, migrations ---------------------------------------------- */

static void
test_store_open_new(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_domain *doms = NULL;
	size_t n = 0;

	assert_int_equal(t_raw(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
				  " ('meta', 'domains', 'users', 'aliases', 'mailboxes', 'bodies',"
				  " 'body_chunks', 'messages', 'queue')"), 9);
	t_ok(store_domain_add(st, "example.test", E));
	t_ok(store_integrity_check(st, E));
	/* Everyone's mail and password hashes: the owner's alone, WAL included. */
	{
		char wal[2 * T_PATH_MAX + 8];
		struct stat sb;

		assert_int_equal(stat(s->path, &sb), 0);
		assert_int_equal(sb.st_mode & 077, 0);
		snprintf(wal, sizeof(wal), "%s-wal", s->path);
		assert_int_equal(stat(wal, &sb), 0);
		assert_int_equal(sb.st_mode & 077, 0);
	}
	store_close(&st);
	assert_null(st);
	store_close(&st);	/* NULL is fine */
	/* A file an older build left 0644 is made private at the next open. */
	assert_int_equal(chmod(s->path, 0644), 0);
	st = t_open(s);
	{
		struct stat sb;

		assert_int_equal(stat(s->path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	store_close(&st);

	/* WAL is a property of the file: a plain connection sees it. */
	assert_int_equal(t_raw(s, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
			 1);

	st = t_open(s);
	assert_int_equal(t_raw(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	t_ok(store_domain_list(st, &doms, &n, E));
	assert_int_equal(n, 1);
	assert_string_equal(doms[0].name, "example.test");
	free(doms);
	store_close(&st);
}

static void
test_store_open_empty_file(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st;
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	st = t_open(s);
	assert_int_equal(t_raw(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM meta WHERE key = 'uidvalidity'"), 1);
	t_ok(store_integrity_check(st, E));
	store_close(&st);
}

static void
test_store_open_newer(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store_err err;
	char sql[128];

	snprintf(sql, sizeof(sql), "CREATE TABLE future (x); PRAGMA user_version = %d;",
		 STORE_SCHEMA_VERSION + 1);
	t_raw_exec(s->path, sql);
	assert_null(store_open(s->path, STORE_OPEN_RECOVER, &err));
	assert_int_equal(err.code, STORE_E_SCHEMA);
	assert_int_equal(err.kind, STORE_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "schema version"));
	/* Untouched: same version, still a rollback journal, no tables of ours. */
	assert_int_equal(t_raw(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'delete'"),
			 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM sqlite_schema"), 1);
}

static void
test_store_open_not_a_database(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store_err err;
	static const char junk[] = "this is not an SQLite database, just some text long enough\n";
	uint8_t page[4096];
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	memset(page, 'x', sizeof(page));
	memcpy(page, junk, sizeof(junk) - 1);
	assert_int_equal(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	close(fd);
	assert_null(store_open(s->path, 0, &err));
	assert_int_equal(err.code, STORE_E_CORRUPT);
	assert_int_equal(err.kind, STORE_ERR_TEMPORARY);
}

/*
 * Each migration is one transaction: an I/O error anywhere while a new
 * file is set up leaves it at version 0 with nothing in it, or complete.
 */
static void
test_store_open_faults(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store_err err;
	struct store *st;
	long n, failed = 0;
	int64_t version;

	for (n = 1; n < T_SWEEP_MAX; n++) {
		t_wipe(s);
		t_fault_arm(n, 0, n % 2 ? SQLITE_IOERR_WRITE : SQLITE_FULL, n % 3 == 0);
		st = store_open(s->path, STORE_OPEN_RECOVER, &err);
		t_fault_off();
		if (st == NULL) {
			failed++;
			assert_true(t_io.failures > 0);
			if (err.kind != STORE_ERR_TEMPORARY)
				fail_msg("call %ld: %s error: %s", n, store_err_kind_name(err.kind), err.msg);
			/* Each migration is one transaction: the file is at one version or another. */
			version = t_raw(s, "PRAGMA user_version");
			if (version == 0)
				assert_int_equal(t_raw(s, "SELECT count(*) FROM sqlite_schema"), 0);
			else
				assert_true(version >= 1 && version <= STORE_SCHEMA_VERSION);
			assert_int_equal(t_raw(s, "SELECT count(*) FROM pragma_integrity_check"
						  " WHERE integrity_check = 'ok'"), 1);
		} else {
			store_close(&st);
		}
		st = t_open(s);
		t_ok(store_integrity_check(st, E));
		t_ok(store_domain_add(st, "example.test", E));
		store_close(&st);
		assert_int_equal(t_raw(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
		if (t_io.failures == 0)
			break;
	}
	assert_true(failed > 3);
	assert_true(n < T_SWEEP_MAX);
}

static void
test_store_integrity_detects(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	int64_t ids[3], page, psize;
	struct store_err err;
	uint8_t b = 0x0d;	/* "table leaf" where an index page should be */
	int fd;

	t_accounts(st, ids);
	t_ok(store_integrity_check(st, E));
	store_close(&st);
	page = t_raw(s, "SELECT rootpage FROM sqlite_schema WHERE name = 'sqlite_autoindex_domains_1'");
	psize = t_raw(s, "PRAGMA page_size");
	assert_true(page > 1);
	fd = open(s->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &b, 1, (page - 1) * psize), 1);
	close(fd);

	st = t_open(s);
	assert_int_equal(store_integrity_check(st, &err), -1);
	assert_int_equal(err.code, STORE_E_CORRUPT);
	assert_int_equal(err.kind, STORE_ERR_TEMPORARY);
	store_close(&st);
}

/* ---- accounts ---------------------------------------------------------- */

static void
test_store_domains(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_domain *doms = NULL;
	size_t n = 0;
	int local = -1;
	int64_t id;

	t_ok(store_domain_add(st, "Example.TEST", E));
	t_ok(store_domain_add(st, "a.example.test", E));
	t_refused(store_domain_add(st, "example.test", E), STORE_E_EXISTS);
	t_refused(store_domain_add(st, "EXAMPLE.test", E), STORE_E_EXISTS);
	t_refused(store_domain_add(st, "", E), STORE_E_INVALID);
	t_refused(store_domain_add(st, "bad domain", E), STORE_E_INVALID);
	t_refused(store_domain_add(st, "example.test.", E), STORE_E_INVALID);
	t_refused(store_domain_add(st, "[192.0.2.1]", E), STORE_E_INVALID);

	t_ok(store_domain_list(st, &doms, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(doms[0].name, "a.example.test");
	assert_string_equal(doms[1].name, "example.test");
	free(doms);

	t_ok(store_domain_is_local(st, "EXAMPLE.Test", &local, E));
	assert_int_equal(local, 1);
	t_ok(store_domain_is_local(st, "other.test", &local, E));
	assert_int_equal(local, 0);
	t_ok(store_domain_is_local(st, "[192.0.2.1]", &local, E));
	assert_int_equal(local, 0);

	t_ok(store_user_add(st, "u@example.test", "h", 0, &id, E));
	t_refused(store_domain_remove(st, "example.test", E), STORE_E_INUSE);
	t_refused(store_domain_remove(st, "nowhere.test", E), STORE_E_NOTFOUND);
	t_ok(store_domain_remove(st, "A.example.test", E));
	t_ok(store_domain_list(st, &doms, &n, E));
	assert_int_equal(n, 1);
	free(doms);
	t_ok(store_user_remove(st, "u@example.test", E));
	t_ok(store_domain_remove(st, "example.test", E));
	t_ok(store_domain_list(st, &doms, &n, E));
	assert_int_equal(n, 0);
	assert_null(doms);
	store_close(&st);
}

static void
test_store_users(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_user u, *users = NULL;
	struct store_mailbox *mbs = NULL;
	size_t n = 0;
	int64_t ids[3], id2;
	static const char *const names[] = { "INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash" };
	static const char *const uses[] = { "", "\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash" };

	t_accounts(st, ids);
	assert_true(ids[0] > 0 && ids[1] > ids[0] && ids[2] > ids[1]);
	t_refused(store_user_add(st, "alice@example.test", "x", 0, NULL, E), STORE_E_EXISTS);
	t_refused(store_user_add(st, "alice@EXAMPLE.test", "x", 0, NULL, E), STORE_E_EXISTS);
	t_refused(store_user_add(st, "dave@nowhere.test", "x", 0, NULL, E), STORE_E_NOTFOUND);
	t_refused(store_user_add(st, "@example.test", "x", 0, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "no-at-sign", "x", 0, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "sp ace@example.test", "x", 0, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "a@b@example.test", "x", 0, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "d@example.test", "x y", 0, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "d@example.test", "x", -1, NULL, E), STORE_E_INVALID);
	t_refused(store_user_add(st, "0123456789012345678901234567890123456789012345678901234567890123"
				 "4@example.test", "x", 0, NULL, E), STORE_E_INVALID);
	/* Local parts are kept as given: case matters. */
	t_ok(store_user_add(st, "Alice@example.test", "other", 5000, &id2, E));
	assert_true(id2 != ids[0]);

	t_ok(store_user_get(st, "alice@Example.Test", &u, E));
	assert_int_equal(u.id, ids[0]);
	assert_string_equal(u.address, "alice@example.test");
	assert_string_equal(u.password_hash, "$argon2id$v=19$m=65536,t=3,p=1$a$b");
	assert_int_equal(u.quota, 0);
	assert_int_equal(u.used, 0);
	t_ok(store_user_get(st, "Alice@example.test", &u, E));
	assert_int_equal(u.id, id2);
	assert_int_equal(u.quota, 5000);
	t_refused(store_user_get(st, "ALICE@example.test", &u, E), STORE_E_NOTFOUND);
	t_ok(store_user_get_id(st, ids[2], &u, E));
	assert_string_equal(u.address, "carol@other.test");
	assert_string_equal(u.password_hash, "");
	t_refused(store_user_get_id(st, 999999, &u, E), STORE_E_NOTFOUND);

	t_ok(store_user_set_password(st, "carol@other.test", "$argon2id$new", E));
	t_ok(store_user_set_quota(st, "carol@other.test", 123456, E));
	t_ok(store_user_get(st, "carol@other.test", &u, E));
	assert_string_equal(u.password_hash, "$argon2id$new");
	assert_int_equal(u.quota, 123456);
	t_refused(store_user_set_password(st, "nobody@other.test", "h", E), STORE_E_NOTFOUND);
	t_refused(store_user_set_quota(st, "nobody@other.test", 1, E), STORE_E_NOTFOUND);
	t_refused(store_user_set_quota(st, "carol@other.test", -5, E), STORE_E_INVALID);

	t_ok(store_user_list(st, NULL, &users, &n, E));
	assert_int_equal(n, 4);
	assert_string_equal(users[0].address, "Alice@example.test");
	assert_string_equal(users[1].address, "alice@example.test");
	assert_string_equal(users[2].address, "bob@example.test");
	assert_string_equal(users[3].address, "carol@other.test");
	assert_string_equal(users[0].password_hash, "");
	free(users);
	t_ok(store_user_list(st, "OTHER.test", &users, &n, E));
	assert_int_equal(n, 1);
	assert_string_equal(users[0].address, "carol@other.test");
	assert_int_equal(users[0].quota, 123456);
	free(users);

	/* Six mailboxes, INBOX first, with their special-use attributes. */
	t_ok(store_mailbox_list(st, ids[1], &mbs, &n, E));
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(mbs[i].name, names[i]);
		assert_string_equal(mbs[i].special_use, uses[i]);
		assert_int_equal(mbs[i].user_id, ids[1]);
		assert_true(mbs[i].uidvalidity > 0);
		assert_int_equal(mbs[i].uidnext, 1);
		assert_int_equal(mbs[i].highestmodseq, 1);
		assert_int_equal(mbs[i].messages, 0);
		for (size_t j = 0; j < i; j++)
			assert_true(mbs[i].uidvalidity != mbs[j].uidvalidity);
	}
	free(mbs);
	t_refused(store_mailbox_list(st, 999999, &mbs, &n, E), STORE_E_NOTFOUND);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mailboxes"), 6 * 4);

	/* A user's mailboxes come in the same transaction, or not at all: see the fault test. */
	t_ok(store_user_remove(st, "Alice@example.test", E));
	t_refused(store_user_remove(st, "Alice@example.test", E), STORE_E_NOTFOUND);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mailboxes"), 6 * 3);
	store_close(&st);
}

static void
test_store_aliases_resolve(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_alias *al = NULL;
	int64_t ids[3], got[STORE_RESOLVE_MAX];
	size_t n = 0;

	t_accounts(st, ids);
	/* An alias to two users, across domains; a catch-all to one. */
	t_ok(store_alias_add(st, "team@example.test", "bob@example.test", E));
	t_ok(store_alias_add(st, "team@EXAMPLE.test", "carol@other.test", E));
	t_ok(store_alias_add(st, "@example.test", "alice@example.test", E));
	t_refused(store_alias_add(st, "team@example.test", "bob@example.test", E), STORE_E_EXISTS);
	t_refused(store_alias_add(st, "alice@example.test", "bob@example.test", E), STORE_E_EXISTS);
	t_refused(store_alias_add(st, "x@nowhere.test", "bob@example.test", E), STORE_E_NOTFOUND);
	t_refused(store_alias_add(st, "x@example.test", "nobody@example.test", E), STORE_E_NOTFOUND);
	t_refused(store_alias_add(st, "x@example.test", "@example.test", E), STORE_E_INVALID);
	t_refused(store_user_add(st, "team@example.test", "h", 0, NULL, E), STORE_E_EXISTS);

	/* Exact user first: the catch-all does not take alice's or bob's mail. */
	t_ok(store_resolve(st, "alice", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	t_ok(store_resolve(st, "bob", "EXAMPLE.TEST", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[1]);
	/* Then the alias: both its users, not the catch-all. */
	t_ok(store_resolve(st, "team", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(got[0], ids[1]);
	assert_int_equal(got[1], ids[2]);
	/* Then the catch-all; local parts are exact, so "Bob" is not bob. */
	t_ok(store_resolve(st, "Bob", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	t_ok(store_resolve(st, "anything", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[0]);
	/* No catch-all in other.test; not our domain; not a domain at all. */
	t_ok(store_resolve(st, "anything", "other.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 0);
	t_ok(store_resolve(st, "carol", "nowhere.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 0);
	t_ok(store_resolve(st, "carol", "[192.0.2.1]", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 0);
	t_ok(store_resolve(st, "", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 0);
	/* Too little room is an error, not a silent cut. */
	t_refused(store_resolve(st, "team", "example.test", got, 1, &n, E), STORE_E_INTERNAL);

	t_ok(store_alias_list(st, NULL, &al, &n, E));
	assert_int_equal(n, 3);
	assert_string_equal(al[0].alias, "@example.test");
	assert_string_equal(al[0].user, "alice@example.test");
	assert_string_equal(al[1].alias, "team@example.test");
	assert_string_equal(al[1].user, "bob@example.test");
	assert_string_equal(al[2].alias, "team@example.test");
	assert_string_equal(al[2].user, "carol@other.test");
	free(al);
	t_ok(store_alias_list(st, "other.test", &al, &n, E));
	assert_int_equal(n, 0);
	free(al);

	t_ok(store_alias_remove(st, "team@example.test", "bob@example.test", E));
	t_ok(store_resolve(st, "team", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[2]);
	t_refused(store_alias_remove(st, "team@example.test", "bob@example.test", E), STORE_E_NOTFOUND);
	t_ok(store_alias_remove(st, "@example.test", NULL, E));
	t_ok(store_resolve(st, "anything", "example.test", got, STORE_RESOLVE_MAX, &n, E));
	assert_int_equal(n, 0);
	t_ok(store_alias_remove(st, "team@example.test", NULL, E));
	t_refused(store_alias_remove(st, "team@example.test", NULL, E), STORE_E_NOTFOUND);
	store_close(&st);
}

/* Removing a user takes its mailboxes, messages, alias entries and unshared bodies. */
static void
test_store_remove_cascades(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	int64_t ids[3], got[4];
	uint8_t body[100000];
	size_t n;

	t_accounts(st, ids);
	t_body_fill(body, sizeof(body), 1);
	t_ok(t_deliver(st, ids, 2, NULL, 0, body, sizeof(body), T_PIECE_MAX, 100, E));
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, 5000, T_PIECE_MAX, 101, E));
	t_ok(store_alias_add(st, "team@example.test", "alice@example.test", E));
	t_ok(store_alias_add(st, "team@example.test", "bob@example.test", E));
	t_ok(store_alias_add(st, "@example.test", "alice@example.test", E));
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages"), 3);

	st = t_open(s);
	t_ok(store_user_remove(st, "alice@example.test", E));
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mailboxes"), 12);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM aliases"), 1);
	/* The shared body stays for bob; alice's own one is gone with its chunks. */
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), t_chunks_of(sizeof(body)));

	st = t_open(s);
	t_ok(store_resolve(st, "team", "example.test", got, 4, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(got[0], ids[1]);
	t_ok(store_user_remove(st, "bob@example.test", E));
	t_ok(store_domain_remove(st, "example.test", E));
	t_ok(store_integrity_check(st, E));
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM aliases"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mailboxes"), 6);
}

/* ---- delivery ------------------------------------------------------------ */

static void
test_store_deliver_one(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_message *msgs = NULL;
	struct store_mailbox mb;
	struct store_user u;
	struct store_delivery *d;
	struct store_err err;
	int64_t ids[3], body_id;
	uint8_t body[3000];
	size_t n = 0;

	t_accounts(st, ids);
	t_body_fill(body, sizeof(body), 7);
	d = store_delivery_begin(st, "", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_user(d, ids[0], E));
	t_ok(store_delivery_write(d, body, 1000, E));
	t_ok(store_delivery_write(d, body + 1000, 0, E));
	t_ok(store_delivery_write(d, body + 1000, 2000, E));
	assert_int_equal(store_delivery_body_id(d), 0);
	t_ok(store_delivery_commit(d, 1700000000, E));
	body_id = store_delivery_body_id(d);
	assert_true(body_id > 0);
	/* Committed is final. */
	t_refused(store_delivery_commit(d, 1700000000, E), STORE_E_INVALID);
	t_refused(store_delivery_add_user(d, ids[1], E), STORE_E_INVALID);
	t_refused(store_delivery_write(d, body, 1, E), STORE_E_INVALID);
	store_delivery_free(&d);
	assert_null(d);
	store_delivery_free(&d);

	mb = t_inbox(st, ids[0]);
	assert_int_equal(mb.uidnext, 2);
	assert_int_equal(mb.highestmodseq, 2);
	assert_int_equal(mb.messages, 1);
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].uid, 1);
	assert_int_equal(msgs[0].modseq, 2);
	assert_int_equal(msgs[0].internal_date, 1700000000);
	assert_int_equal(msgs[0].size, sizeof(body));
	assert_int_equal(msgs[0].flags, 0);
	assert_string_equal(msgs[0].keywords, "");
	assert_int_equal(msgs[0].body_id, body_id);
	t_body_equal(st, body_id, body, sizeof(body));
	store_message_list_free(&msgs, n);
	assert_null(msgs);
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, sizeof(body));
	/* Only INBOX got it; bob got nothing. */
	assert_int_equal(t_inbox(st, ids[1]).messages, 0);
	t_ok(store_mailbox_get(st, ids[0], "Sent", &mb, E));
	assert_int_equal(mb.messages, 0);
	t_refused(store_mailbox_get(st, ids[0], "Nope", &mb, E), STORE_E_NOTFOUND);

	/* An empty body is a body. */
	t_ok(t_deliver(st, &ids[1], 1, NULL, 0, body, 0, 1, 5, E));
	mb = t_inbox(st, ids[1]);
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].size, 0);
	t_body_equal(st, msgs[0].body_id, body, 0);
	store_message_list_free(&msgs, n);

	/* Misuse. */
	assert_null(store_delivery_begin(st, "no at sign", &err));
	assert_int_equal(err.code, STORE_E_INVALID);
	assert_null(store_delivery_begin(st, "a@b\r\nX: y", &err));
	assert_int_equal(err.code, STORE_E_INVALID);
	d = store_delivery_begin(st, "x@remote.test", &err);
	assert_non_null(d);
	t_refused(store_delivery_add_remote(d, "", E), STORE_E_INVALID);
	t_refused(store_delivery_add_remote(d, "nobody", E), STORE_E_INVALID);
	t_ok(store_delivery_write(d, body, 10, E));
	t_refused(store_delivery_commit(d, 1, E), STORE_E_INVALID);	/* no recipients */
	store_delivery_free(&d);
	store_close(&st);

	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), 1);
	assert_int_equal(t_raw(s, "SELECT sum(size) FROM bodies"), sizeof(body));
}

/* One body for any number of local recipients. */
/* Deliver body from sender to the users, the content marked for the duplicate check after trace. */
static struct store_delivery *
t_deliver_checked(struct store *st, const char *sender, const int64_t *users, size_t nusers,
		  const char *trace, const char *body)
{
	struct store_err err;
	struct store_delivery *d = store_delivery_begin(st, sender, &err);

	assert_non_null(d);
	for (size_t i = 0; i < nusers; i++)
		t_ok(store_delivery_add_user(d, users[i], E));
	t_ok(store_delivery_write(d, trace, strlen(trace), E));
	store_delivery_content(d);
	t_ok(store_delivery_write(d, body, strlen(body), E));
	t_ok(store_delivery_commit(d, 1700000000, E));
	return d;
}

/* A client that retries a message whose 250 it lost does not deliver it twice. */
static void
test_store_deliver_duplicates(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_delivery *d;
	int64_t ids[3];
	static const char body[] = "Message-ID: <1@remote.test>\r\nSubject: once\r\n\r\nonly once\r\n";

	t_accounts(st, ids);
	d = t_deliver_checked(st, "a@remote.test", ids, 1, "Received: first\r\n", body);
	assert_true(store_delivery_body_id(d) > 0);
	assert_int_equal(store_delivery_duplicates(d), 0);
	store_delivery_free(&d);
	/* The retry: other trace fields, the same sender and content. Nothing kept. */
	d = t_deliver_checked(st, "a@remote.test", ids, 1, "Received: second\r\n", body);
	assert_int_equal(store_delivery_body_id(d), 0);
	assert_int_equal(store_delivery_duplicates(d), 1);
	store_delivery_free(&d);
	assert_int_equal(t_inbox(st, ids[0]).messages, 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 1);
	/* With a user who did not have it: that user gets it, the other not again. */
	d = t_deliver_checked(st, "a@remote.test", ids, 2, "Received: third\r\n", body);
	assert_true(store_delivery_body_id(d) > 0);
	assert_int_equal(store_delivery_duplicates(d), 1);
	store_delivery_free(&d);
	assert_int_equal(t_inbox(st, ids[0]).messages, 1);
	assert_int_equal(t_inbox(st, ids[1]).messages, 1);
	/* Another sender, or other bytes, is another message. */
	d = t_deliver_checked(st, "b@remote.test", ids, 1, "Received: x\r\n", body);
	assert_int_equal(store_delivery_duplicates(d), 0);
	store_delivery_free(&d);
	d = t_deliver_checked(st, "a@remote.test", ids, 1, "Received: x\r\n",
			      "Message-ID: <1@remote.test>\r\nSubject: once\r\n\r\nonly twice\r\n");
	assert_int_equal(store_delivery_duplicates(d), 0);
	store_delivery_free(&d);
	assert_int_equal(t_inbox(st, ids[0]).messages, 3);
	/* Without a Message-ID, equal messages may be distinct (alerts): both kept. */
	for (int i = 0; i < 2; i++) {
		d = t_deliver_checked(st, "a@remote.test", ids, 1, "Received: y\r\n",
				      "Subject: beep\r\n\r\n!\r\n");
		assert_int_equal(store_delivery_duplicates(d), 0);
		store_delivery_free(&d);
	}
	assert_int_equal(t_inbox(st, ids[0]).messages, 5);
	/* Without store_delivery_content() there is no check. */
	t_ok(t_deliver(st, ids, 1, NULL, 0, (const uint8_t *)body, strlen(body), 5, 1700000000, E));
	t_ok(t_deliver(st, ids, 1, NULL, 0, (const uint8_t *)body, strlen(body), 5, 1700000000, E));
	assert_int_equal(t_inbox(st, ids[0]).messages, 7);
	/* Remembered STORE_DEDUP_WINDOW: older rows are forgotten at the next check. */
	t_raw_exec(s->path, "UPDATE delivered SET at = at - 432001");
	d = t_deliver_checked(st, "a@remote.test", ids, 1, "Received: late\r\n", body);
	assert_int_equal(store_delivery_duplicates(d), 0);
	store_delivery_free(&d);
	assert_int_equal(t_inbox(st, ids[0]).messages, 8);
	store_close(&st);
}

static void
test_store_deliver_shared(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_message *msgs = NULL;
	struct store_user u;
	int64_t ids[3], rcpts[5], body_id = 0;
	size_t n = 0, len = 200000;
	uint8_t *body = malloc(len);

	assert_non_null(body);
	t_accounts(st, ids);
	t_body_fill(body, len, 3);
	/* Three users, two of them named twice (as RCPT and through an alias). */
	rcpts[0] = ids[0];
	rcpts[1] = ids[1];
	rcpts[2] = ids[0];
	rcpts[3] = ids[2];
	rcpts[4] = ids[1];
	t_ok(t_deliver(st, rcpts, 5, NULL, 0, body, len, T_PIECE_MAX, 42, E));
	for (size_t i = 0; i < 3; i++) {
		struct store_mailbox mb = t_inbox(st, ids[i]);
		t_ok(store_message_list(st, mb.id, &msgs, &n, E));
		assert_int_equal(n, 1);
		assert_int_equal(msgs[0].uid, 1);
		assert_int_equal(msgs[0].size, len);
		if (i == 0)
			body_id = msgs[0].body_id;
		assert_int_equal(msgs[0].body_id, body_id);
		t_body_equal(st, msgs[0].body_id, body, len);
		store_message_list_free(&msgs, n);
		t_ok(store_user_get_id(st, ids[i], &u, E));
		assert_int_equal(u.used, len);
	}
	/* And to one: a second body. Exactly one chunk, and one byte over. */
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, STORE_CHUNK_MAX, T_PIECE_MAX, 43, E));
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, STORE_CHUNK_MAX + 1, T_PIECE_MAX, 44, E));
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 3);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages"), 5);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages WHERE body_id = (SELECT min(id) FROM bodies)"),
			 3);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), t_chunks_of((int64_t)len) + 1 + 2);
	assert_int_equal(t_raw(s, "SELECT max(length(data)) FROM body_chunks"), STORE_CHUNK_MAX);
	free(body);
}

/* UIDs go up per mailbox and are never given twice, MODSEQ goes up with every change. */
static void
test_store_uids(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_message *msgs = NULL;
	struct store_mailbox mb, bob;
	int64_t ids[3];
	uint64_t modseq = 0;
	uint8_t body[500];
	uint32_t uidvalidity;
	size_t n = 0;

	t_accounts(st, ids);
	t_body_fill(body, sizeof(body), 1);
	for (int i = 0; i < 3; i++)
		t_ok(t_deliver(st, ids, 1, NULL, 0, body, sizeof(body), 100, 10 + i, E));
	mb = t_inbox(st, ids[0]);
	uidvalidity = mb.uidvalidity;
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(msgs[i].uid, i + 1);
		assert_int_equal(msgs[i].modseq, i + 2);
		assert_int_equal(msgs[i].internal_date, 10 + i);
	}
	store_message_list_free(&msgs, n);

	t_ok(store_message_set_flags(st, mb.id, 2, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED,
				     "$Junk work", &modseq, E));
	assert_int_equal(modseq, 5);
	t_refused(store_message_set_flags(st, mb.id, 2, 0x100, "", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 2, 0, "two  spaces", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 2, 0, "\\Seen", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 2, 0, " lead", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 2, 0, "trail ", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 2, 0, "br]acket", NULL, E), STORE_E_INVALID);
	t_refused(store_message_set_flags(st, mb.id, 9, 0, "", NULL, E), STORE_E_NOTFOUND);
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(msgs[1].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(msgs[1].keywords, "$Junk work");
	assert_int_equal(msgs[1].modseq, 5);
	assert_int_equal(msgs[0].modseq, 2);
	store_message_list_free(&msgs, n);

	/* Expunge the newest: its UID is not given again. */
	t_ok(store_message_expunge(st, mb.id, 3, E));
	t_refused(store_message_expunge(st, mb.id, 3, E), STORE_E_NOTFOUND);
	mb = t_inbox(st, ids[0]);
	assert_int_equal(mb.highestmodseq, 6);
	assert_int_equal(mb.uidnext, 4);
	assert_int_equal(mb.messages, 2);
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, sizeof(body), 100, 20, E));
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(n, 3);
	assert_int_equal(msgs[2].uid, 4);
	assert_int_equal(msgs[2].modseq, 7);
	store_message_list_free(&msgs, n);

	/* Empty the mailbox; even across a reopen the next UID is 5. */
	t_ok(store_message_expunge(st, mb.id, 1, E));
	t_ok(store_message_expunge(st, mb.id, 2, E));
	t_ok(store_message_expunge(st, mb.id, 4, E));
	store_close(&st);
	st = t_open(s);
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, sizeof(body), 100, 30, E));
	mb = t_inbox(st, ids[0]);
	assert_int_equal(mb.uidvalidity, uidvalidity);
	t_ok(store_message_list(st, mb.id, &msgs, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].uid, 5);
	assert_true(msgs[0].modseq > 7);
	store_message_list_free(&msgs, n);
	/* UIDs are per mailbox: bob's start at 1. */
	t_ok(t_deliver(st, &ids[1], 1, NULL, 0, body, sizeof(body), 100, 31, E));
	bob = t_inbox(st, ids[1]);
	t_ok(store_message_list(st, bob.id, &msgs, &n, E));
	assert_int_equal(msgs[0].uid, 1);
	store_message_list_free(&msgs, n);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 2);
}

static void
test_store_queue(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_queue_entry *q = NULL;
	struct store_message *msgs = NULL;
	struct store_delivery *d;
	struct store_mailbox mb;
	struct store_err err;
	static const char *const remotes[] = { "r1@remote.test", "\"odd local\"@remote.test",
					       "r1@remote.test" };
	int64_t ids[3], body_id;
	uint8_t body[70000];
	size_t n = 0, nm = 0;

	t_accounts(st, ids);
	t_body_fill(body, sizeof(body), 9);
	t_ok(t_deliver(st, ids, 1, remotes, 3, body, sizeof(body), T_PIECE_MAX, 50, E));
	mb = t_inbox(st, ids[0]);
	t_ok(store_message_list(st, mb.id, &msgs, &nm, E));
	assert_int_equal(nm, 1);
	body_id = msgs[0].body_id;
	store_message_list_free(&msgs, nm);

	t_ok(store_queue_list(st, &q, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(q[0].rcpt, "r1@remote.test");
	assert_string_equal(q[1].rcpt, "\"odd local\"@remote.test");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(q[i].body_id, body_id);
		assert_string_equal(q[i].mail_from, "sender@remote.test");
		assert_int_equal(q[i].attempts, 0);
		assert_true(q[i].created > 0);
		assert_int_equal(q[i].next_attempt, q[i].created);
	}
	t_body_equal(st, q[0].body_id, body, sizeof(body));

	/* The body lives while a message or a queue entry refers to it. */
	t_ok(store_queue_remove(st, q[0].id, E));
	t_refused(store_queue_remove(st, q[0].id, E), STORE_E_NOTFOUND);
	t_ok(store_message_expunge(st, mb.id, 1, E));
	t_body_equal(st, body_id, body, sizeof(body));
	t_ok(store_queue_remove(st, q[1].id, E));
	t_refused(store_body_read(st, body_id, 0, body, 1, &nm, E), STORE_E_NOTFOUND);
	free(q);

	/* Remote only, null sender. */
	d = store_delivery_begin(st, "", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_remote(d, "r2@remote.test", E));
	t_ok(store_delivery_write(d, body, 100, E));
	t_ok(store_delivery_commit(d, 60, E));
	store_delivery_free(&d);
	t_ok(store_queue_list(st, &q, &n, E));
	assert_int_equal(n, 1);
	assert_string_equal(q[0].mail_from, "");
	assert_string_equal(q[0].rcpt, "r2@remote.test");
	free(q);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM messages"), 0);
}

/* Due entries, deferral with its count and error, retry now, by id and all. */
static void
test_store_queue_retry(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_queue_entry *q = NULL, one;
	struct store_delivery *d;
	struct store_err err;
	const int64_t far = 4000000000LL;	/* after any entry's creation */
	char long_error[2 * STORE_QUEUE_ERROR_MAX];
	size_t n = 0, changed = 0;
	int64_t a, b;

	d = store_delivery_begin(st, "alice@local.test", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_remote(d, "a@remote.test", E));
	t_ok(store_delivery_add_remote(d, "b@remote.test", E));
	t_ok(store_delivery_write(d, "Subject: x\r\n\r\nx\r\n", 18, E));
	t_ok(store_delivery_commit(d, 60, E));
	store_delivery_free(&d);

	t_ok(store_queue_due(st, far, 10, &q, &n, E));
	assert_int_equal(n, 2);
	a = q[0].id;
	b = q[1].id;
	assert_string_equal(q[0].last_error, "");
	free(q);
	/* Nothing is due before it was created. */
	t_ok(store_queue_due(st, 0, 10, &q, &n, E));
	assert_int_equal(n, 0);
	assert_null(q);

	memset(long_error, 'e', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	t_ok(store_queue_defer(st, a, far + 100, long_error, E));
	t_ok(store_queue_defer(st, a, far + 200, "451 4.7.1 later", E));
	t_ok(store_queue_get(st, a, &one, E));
	assert_int_equal(one.attempts, 2);
	assert_int_equal(one.next_attempt, far + 200);
	assert_string_equal(one.last_error, "451 4.7.1 later");
	t_ok(store_queue_defer(st, b, far + 50, long_error, E));
	t_ok(store_queue_get(st, b, &one, E));
	assert_int_equal(strlen(one.last_error), STORE_QUEUE_ERROR_MAX - 1);

	/* Soonest first, at most max, none before its time. */
	t_ok(store_queue_due(st, far, 10, &q, &n, E));
	assert_int_equal(n, 0);
	free(q);
	t_ok(store_queue_due(st, far + 1000, 1, &q, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(q[0].id, b);
	free(q);

	t_ok(store_queue_retry(st, a, far, &changed, E));
	assert_int_equal(changed, 1);
	t_ok(store_queue_due(st, far, 10, &q, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(q[0].id, a);
	assert_int_equal(q[0].attempts, 2);	/* a retry is not an attempt */
	free(q);
	t_ok(store_queue_retry(st, 0, far, &changed, E));
	assert_int_equal(changed, 2);

	/* One attempt's outcomes at once: a deferred, a gone entry skipped; nothing else moves. */
	{
		struct store_queue_outcome o[] = {
			{ .id = a, .remove = 0, .next_attempt = far + 300, .error = "421 4.3.2 busy" },
			{ .id = b + 100, .remove = 1 },
		};
		t_ok(store_queue_settle(st, o, 2, E));
		t_ok(store_queue_get(st, a, &one, E));
		assert_int_equal(one.attempts, 3);
		assert_int_equal(one.next_attempt, far + 300);
		assert_string_equal(one.last_error, "421 4.3.2 busy");
		t_ok(store_queue_get(st, b, &one, E));
		assert_int_equal(one.attempts, 1);
		t_ok(store_queue_settle(st, o, 0, E));
	}
	t_refused(store_queue_defer(st, b + 100, far, "x", E), STORE_E_NOTFOUND);
	t_refused(store_queue_get(st, b + 100, &one, E), STORE_E_NOTFOUND);
	t_refused(store_queue_retry(st, b + 100, far, &changed, E), STORE_E_NOTFOUND);
	t_ok(store_queue_remove(st, a, E));
	{
		struct store_queue_outcome o = { .id = b, .remove = 1 };
		t_ok(store_queue_settle(st, &o, 1, E));
	}
	t_refused(store_queue_get(st, b, &one, E), STORE_E_NOTFOUND);
	t_ok(store_queue_retry(st, 0, far, &changed, E));
	assert_int_equal(changed, 0);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 0);
}

/* MTA-STS policies kept: per domain (any case), replaced, gone once expired. */
static void
test_store_sts(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_sts in = { .id = "abc1", .fetched = 1000, .expires = 1000 + 86400 }, out;

	snprintf(in.policy, sizeof(in.policy), "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: a.test\n");
	t_refused(store_sts_get(st, "peer.test", 2000, &out, E), STORE_E_NOTFOUND);
	t_ok(store_sts_put(st, "Peer.TEST", &in, E));
	t_ok(store_sts_get(st, "peer.test", 2000, &out, E));
	assert_string_equal(out.id, "abc1");
	assert_int_equal(out.fetched, 1000);
	assert_int_equal(out.expires, 1000 + 86400);
	assert_string_equal(out.policy, in.policy);
	/* Expired: not given any more. */
	t_refused(store_sts_get(st, "PEER.test", 1000 + 86400, &out, E), STORE_E_NOTFOUND);
	/* A new id replaces the old. */
	snprintf(in.id, sizeof(in.id), "def2");
	in.fetched = 5000;
	in.expires = 6000;
	t_ok(store_sts_put(st, "peer.test", &in, E));
	t_ok(store_sts_get(st, "peer.test", 5500, &out, E));
	assert_string_equal(out.id, "def2");
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mta_sts"), 1);
	/* Keeping another domain's later drops rows that expired by then. */
	in.fetched = 7000;
	in.expires = 9000;
	t_ok(store_sts_put(st, "other.test", &in, E));
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mta_sts"), 1);
	/* Refused: no domain, a bad id. */
	t_refused(store_sts_put(st, "not a domain", &in, E), STORE_E_INVALID);
	snprintf(in.id, sizeof(in.id), "a-b");
	t_refused(store_sts_put(st, "peer.test", &in, E), STORE_E_INVALID);
	in.id[0] = '\0';
	t_refused(store_sts_put(st, "peer.test", &in, E), STORE_E_INVALID);
	t_refused(store_sts_get(st, "bad..name", 0, &out, E), STORE_E_INVALID);
	store_close(&st);
}

static void
test_store_quota(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_user u;
	int64_t ids[3];
	uint8_t *body = malloc(100000);
	static const char *const remote[] = { "r@remote.test" };

	assert_non_null(body);
	t_accounts(st, ids);
	t_body_fill(body, 100000, 4);
	t_ok(store_user_set_quota(st, "alice@example.test", 10000, E));
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, 6000, 700, 1, E));
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, 6000);

	/* Over quota for alice: bob gets nothing either, nothing is queued. */
	t_refused(t_deliver(st, ids, 2, remote, 1, body, 6000, 700, 2, E), STORE_E_QUOTA);
	assert_int_equal(t_inbox(st, ids[1]).messages, 0);
	t_ok(store_user_get_id(st, ids[1], &u, E));
	assert_int_equal(u.used, 0);

	/* Up to the quota exactly is fine; one byte more is not. */
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, 4000, 700, 3, E));
	t_refused(t_deliver(st, ids, 1, NULL, 0, body, 1, 700, 4, E), STORE_E_QUOTA);
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, 10000);

	/* Expunging frees space. */
	t_ok(store_message_expunge(st, t_inbox(st, ids[0]).id, 1, E));
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, 4000);
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, 6000, 700, 5, E));

	/* Quota 0: no limit. */
	t_ok(store_user_set_quota(st, "alice@example.test", 0, E));
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, 100000, T_PIECE_MAX, 6, E));
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, 110000);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM queue"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 3);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 0);
	assert_int_equal(t_raw(s, "SELECT sum(used_bytes) FROM users"),
			 t_raw(s, "SELECT sum(size) FROM messages"));
	free(body);
}

static void
test_store_too_big(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_delivery *d;
	struct store_err err;
	int64_t ids[3];
	uint8_t body[16] = { 0 };

	t_accounts(st, ids);
	d = store_delivery_begin(st, "a@remote.test", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_user(d, ids[0], E));
	t_ok(store_delivery_write(d, body, sizeof(body), E));
	/* The length is refused before a byte is read. */
	t_refused(store_delivery_write(d, body, (size_t)STORE_BODY_MAX - sizeof(body) + 1, E),
		  STORE_E_TOOBIG);
	t_refused(store_delivery_commit(d, 1, E), STORE_E_INVALID);
	store_delivery_free(&d);
	assert_int_equal(t_inbox(st, ids[0]).messages, 0);
	store_close(&st);
}

/* Abort deletes the pending body; a crash leaves it to the next recovering open. */
static void
test_store_abort_and_recover(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_delivery *d;
	struct store_err err;
	int64_t ids[3];
	size_t len = 300000;
	uint8_t *body = malloc(len);
	int status;
	pid_t pid;

	assert_non_null(body);
	t_body_fill(body, len, 5);
	t_accounts(st, ids);
	d = store_delivery_begin(st, "a@remote.test", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_user(d, ids[0], E));
	t_ok(store_delivery_write(d, body, len, E));
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 1);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), (int64_t)len / STORE_CHUNK_MAX);
	store_delivery_free(&d);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), 0);
	store_close(&st);

	/* A process that dies while receiving. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		st = store_open(s->path, 0, &err);
		if (st == NULL || (d = store_delivery_begin(st, "", &err)) == NULL ||
		    store_delivery_add_user(d, ids[0], &err) != 0 ||
		    store_delivery_write(d, body, len, &err) != 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 1);
	/* Only the process that delivers sweeps (the CLI must not). */
	st = store_open(s->path, 0, &err);
	assert_non_null(st);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 1);
	st = t_open(s);
	t_ok(store_integrity_check(st, E));
	assert_int_equal(t_inbox(st, ids[0]).messages, 0);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), 0);
	free(body);
}

static void
test_store_body_read(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_message *msgs = NULL;
	struct store_delivery *d;
	struct store_err err;
	int64_t ids[3], body_id, pending;
	size_t len = 150001, n = 0, got;
	uint8_t *body = malloc(len), *buf = malloc(len + 100);
	static const int64_t offs[] = { 0, 1, 65535, 65536, 65537, 131071, 131072, 150000 };
	static const size_t caps[] = { 1, 7, 65536, 100000, 150001 + 50 };

	assert_non_null(body);
	assert_non_null(buf);
	t_accounts(st, ids);
	t_body_fill(body, len, 11);
	t_ok(t_deliver(st, ids, 1, NULL, 0, body, len, T_PIECE_MAX, 1, E));
	t_ok(store_message_list(st, t_inbox(st, ids[0]).id, &msgs, &n, E));
	body_id = msgs[0].body_id;
	store_message_list_free(&msgs, n);

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(caps) / sizeof(caps[0]); j++) {
			size_t want = len - (size_t)offs[i] < caps[j] ? len - (size_t)offs[i] : caps[j];
			t_ok(store_body_read(st, body_id, offs[i], buf, caps[j], &got, E));
			assert_int_equal(got, want);
			assert_memory_equal(buf, body + offs[i], got);
		}
	}
	t_ok(store_body_read(st, body_id, (int64_t)len, buf, 10, &got, E));
	assert_int_equal(got, 0);
	t_ok(store_body_read(st, body_id, 1000000, buf, 10, &got, E));
	assert_int_equal(got, 0);
	t_refused(store_body_read(st, body_id, -1, buf, 10, &got, E), STORE_E_INVALID);
	t_refused(store_body_read(st, body_id + 1000, 0, buf, 10, &got, E), STORE_E_NOTFOUND);

	/* A pending body is nobody's to read. */
	d = store_delivery_begin(st, "", &err);
	assert_non_null(d);
	t_ok(store_delivery_add_user(d, ids[0], E));
	t_ok(store_delivery_write(d, body, len, E));
	pending = t_raw(s, "SELECT id FROM bodies WHERE pending = 1");
	t_refused(store_body_read(st, pending, 0, buf, 10, &got, E), STORE_E_NOTFOUND);
	store_delivery_free(&d);
	store_close(&st);
	free(body);
	free(buf);
}

/*
 * homeportd receives many messages at once on one connection: chunks of
 * different deliveries interleave, and one failing must not touch the
 * others (not even through a body id its rolled-back row had).
 */
static void
test_store_interleaved(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store *st = t_open(s);
	struct store_delivery *d[4];
	struct store_message *msgs = NULL;
	struct store_err err;
	int64_t ids[3];
	size_t len = 150000, n = 0;
	uint8_t *body[4];

	t_accounts(st, ids);
	for (size_t i = 0; i < 4; i++) {
		body[i] = malloc(len);
		assert_non_null(body[i]);
		t_body_fill(body[i], len, (uint32_t)i);
		d[i] = store_delivery_begin(st, "", &err);
		assert_non_null(d[i]);
		t_ok(store_delivery_add_user(d[i], ids[i % 3], E));
	}
	/* d0's first chunk fails: its new body row is rolled back. */
	t_fault_arm(1, 0, SQLITE_IOERR_WRITE, 0);
	t_refused(store_delivery_write(d[0], body[0], len, E), STORE_E_IO);
	t_fault_off();
	/* d1's body may now get the same row id; d0's abort must leave it be. */
	t_ok(store_delivery_write(d[1], body[1], 70000, E));
	store_delivery_free(&d[0]);
	for (size_t off = 0; off < len; off += 10000) {
		size_t k = len - off < 10000 ? len - off : 10000;
		t_ok(store_delivery_write(d[2], body[2] + off, k, E));
		t_ok(store_delivery_write(d[3], body[3] + off, k, E));
	}
	t_ok(store_delivery_write(d[1], body[1] + 70000, len - 70000, E));
	t_ok(store_delivery_commit(d[3], 3, E));
	t_ok(store_delivery_commit(d[1], 1, E));
	store_delivery_free(&d[2]);	/* aborted */
	t_refused(store_delivery_commit(d[3], 3, E), STORE_E_INVALID);
	store_delivery_free(&d[1]);
	store_delivery_free(&d[3]);

	t_ok(store_message_list(st, t_inbox(st, ids[1]).id, &msgs, &n, E));
	assert_int_equal(n, 1);
	t_body_equal(st, msgs[0].body_id, body[1], len);
	store_message_list_free(&msgs, n);
	t_ok(store_message_list(st, t_inbox(st, ids[0]).id, &msgs, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].internal_date, 3);
	t_body_equal(st, msgs[0].body_id, body[3], len);
	store_message_list_free(&msgs, n);
	assert_int_equal(t_inbox(st, ids[2]).messages, 0);
	store_close(&st);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"), 2 * t_chunks_of((int64_t)len));
	for (size_t i = 0; i < 4; i++)
		free(body[i]);
}

/* ---- I/O faults ------------------------------------------------------------ */

struct t_sweep {
	int write_rc;		/* what a failing write returns */
	int sticky;		/* every call after the first failure fails too */
	int torn;		/* a failing write leaves half its bytes */
	size_t len;		/* body length */
	long stride;		/* try every stride-th call */
};

/*
 * What mail.db must hold after acked deliveries of len bytes to the
 * three users (ids) and two remote recipients: seen through the API.
 */
static void
t_sweep_expect(struct store *st, const int64_t ids[3], long acked, size_t len)
{
	struct store_queue_entry *q = NULL;
	struct store_user u;
	size_t n = 0;

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(t_inbox(st, ids[i]).messages, acked);
		t_ok(store_user_get_id(st, ids[i], &u, E));
		assert_int_equal(u.used, acked * (int64_t)len);
	}
	t_ok(store_queue_list(st, &q, &n, E));
	assert_int_equal(n, 2 * acked);
	free(q);
}

/*
 * Deliver once per N with the Nth I/O call failing, for every N until a
 * delivery makes fewer calls than N. Each either succeeds, and is then
 * readable after a reopen, or fails TEMPORARY and leaves nothing: no
 * message, no queue row, no usage, and after the recovering reopen no
 * body and no chunk. The file passes integrity_check every time.
 */
static void
t_sweep_run(struct testutil_tmpdir *s, const struct t_sweep *c)
{
	static const char *const remotes[] = { "r1@remote.test", "r2@remote.test" };
	struct store_message *msgs = NULL;
	struct store_err err;
	struct store *st;
	int64_t ids[3];
	long n, acked = 0, failed = 0, last = 0;
	uint8_t *body = malloc(c->len), *want = malloc(c->len);
	size_t nm = 0;
	int rc, fired;

	assert_non_null(body);
	assert_non_null(want);
	st = t_open(s);
	t_accounts(st, ids);
	store_close(&st);
	for (n = 1; n < T_SWEEP_MAX; n += c->stride) {
		st = t_open(s);
		t_body_fill(body, c->len, (uint32_t)n);
		t_fault_arm(n, c->sticky, c->write_rc, c->torn);
		memset(&err, 0, sizeof(err));
		rc = t_deliver(st, ids, 3, remotes, 2, body, c->len, T_PIECE_MAX, n, &err);
		fired = t_io.failures > 0;
		t_fault_off();
		if (rc == 0) {
			acked++;
			last = n;
			memcpy(want, body, c->len);
		} else {
			failed++;
			if (!fired || err.kind != STORE_ERR_TEMPORARY ||
			    (err.code != STORE_E_IO && err.code != STORE_E_FULL))
				fail_msg("call %ld: fired %d, %s error %d: %s", n, fired,
					 store_err_kind_name(err.kind), err.code, err.msg);
		}
		t_sweep_expect(st, ids, acked, c->len);
		store_close(&st);

		st = t_open(s);
		t_ok(store_integrity_check(st, E));
		t_sweep_expect(st, ids, acked, c->len);
		if (acked > 0) {
			t_ok(store_message_list(st, t_inbox(st, ids[0]).id, &msgs, &nm, E));
			assert_int_equal(nm, acked);
			assert_int_equal(msgs[nm - 1].internal_date, last);
			t_body_equal(st, msgs[nm - 1].body_id, want, c->len);
			store_message_list_free(&msgs, nm);
		}
		store_close(&st);
		assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), acked);
		assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 0);
		assert_int_equal(t_raw(s, "SELECT count(*) FROM body_chunks"),
				 acked * t_chunks_of((int64_t)c->len));
		/* The MIME blob comes and goes with the commit; the text row later. */
		assert_int_equal(t_raw(s, "SELECT count(*) FROM body_text"), 0);
		assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE indexed = 0 AND mime IS NOT NULL"),
				 acked);
		if (!fired)
			break;
	}
	print_message("    sweep: %ld calls tried, %ld failed, %ld acknowledged\n", n, failed, acked);
	/* It ran out of calls to fail, and it did fail some. */
	assert_true(n < T_SWEEP_MAX);
	assert_true(failed > 10);
	free(body);
	free(want);
}

/* Every single I/O call of a four-chunk delivery to 3 users and 2 remotes fails once. */
static void
test_store_faults_write_error(void **state)
{
	const struct t_sweep c = { SQLITE_IOERR_WRITE, 0, 0, 200000, 1 };

	t_sweep_run(*state, &c);
}

/* The disk fills up for good at each call in turn, tearing the write it fails. */
static void
test_store_faults_disk_full(void **state)
{
	const struct t_sweep c = { SQLITE_FULL, 1, 1, 200000, 1 };

	t_sweep_run(*state, &c);
}

/* A body larger than one auto-checkpoint's worth of WAL: checkpoints happen mid-delivery. */
static void
test_store_faults_large(void **state)
{
	const struct t_sweep c = { SQLITE_IOERR_WRITE, 0, 1, T_BIG, 59 };

	t_sweep_run(*state, &c);
}

/* Accounts are all-or-nothing too: a user never exists without all six mailboxes. */
static void
test_store_faults_user_add(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct store_err err;
	struct store_mailbox *mbs = NULL;
	struct store_user u;
	struct store *st = t_open(s);
	char addr[64];
	long n, added = 0;
	size_t nmb = 0;
	int rc;

	t_ok(store_domain_add(st, "example.test", E));
	for (n = 1; n < T_SWEEP_MAX; n++) {
		snprintf(addr, sizeof(addr), "u%ld@example.test", n);
		t_fault_arm(n, n % 2, n % 3 ? SQLITE_IOERR_WRITE : SQLITE_FULL, 1);
		rc = store_user_add(st, addr, "h", 0, NULL, &err);
		t_fault_off();
		if (rc == 0) {
			added++;
			t_ok(store_user_get(st, addr, &u, E));
			t_ok(store_mailbox_list(st, u.id, &mbs, &nmb, E));
			assert_int_equal(nmb, 6);
			free(mbs);
		} else {
			assert_int_equal(err.kind, STORE_ERR_TEMPORARY);
			assert_true(t_io.failures > 0);
			t_refused(store_user_get(st, addr, &u, E), STORE_E_NOTFOUND);
		}
		if (t_io.failures == 0)
			break;
	}
	store_close(&st);
	assert_true(n < T_SWEEP_MAX);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM users"), added);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM mailboxes"), 6 * added);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"),
			 1);
}

/* ---- power loss ------------------------------------------------------------ */

struct t_pc {
	uint64_t seed;
	int deliveries;		/* how many the child attempts */
	int fault_every;	/* about one delivery in this many meets an I/O fault; 0: none */
	int big_at;		/* this delivery is T_BIG bytes; -1: none */
	long cut_at;		/* lose power before this I/O call of the child; 0: at the end */
};

/*
 * The child: deliver c->deliveries messages (seq i, random sizes) to
 * alice and bob and one remote, writing i to fd after each commit that
 * returned 0; then start one more and lose power while it is being
 * written. Also writes -1 and the number of I/O calls if it gets there.
 * Returns an exit status.
 */
static int
t_pc_child(struct testutil_tmpdir *s, const struct t_pc *c, int fd)
{
	static const char *const remote[] = { "r@remote.test" };
	struct store_delivery *d;
	struct store_err err;
	struct store_user u;
	struct store *st;
	int64_t ids[2];
	int32_t rec[2];
	size_t len;
	uint8_t *body = malloc(T_BIG);

	t_rand_state = c->seed;
	t_io.powercut = 1;
	t_io.total = 0;
	t_io.cut_at = c->cut_at;
	if (body == NULL || (st = store_open(s->path, STORE_OPEN_RECOVER, &err)) == NULL)
		return 2;
	if (store_user_get(st, "alice@example.test", &u, &err) != 0)
		return 3;
	ids[0] = u.id;
	if (store_user_get(st, "bob@example.test", &u, &err) != 0)
		return 3;
	ids[1] = u.id;
	for (int i = 0; i < c->deliveries; i++) {
		len = i == c->big_at ? T_BIG : 16 + t_rand() % 300000;
		t_body_fill(body, len, (uint32_t)i);
		if (c->fault_every > 0 && t_rand() % (uint32_t)c->fault_every == 0)
			t_fault_arm(1 + t_rand() % 120, (int)(t_rand() % 2),
				    t_rand() % 2 ? SQLITE_FULL : SQLITE_IOERR_WRITE, (int)(t_rand() % 2));
		if (t_deliver(st, ids, 2, remote, 1, body, len, T_PIECE_MAX, i, &err) == 0) {
			rec[0] = i;
			if (write(fd, rec, sizeof(rec[0])) != (ssize_t)sizeof(rec[0]))
				return 4;
		} else if (err.kind != STORE_ERR_TEMPORARY) {
			return 5;
		}
		t_fault_off();
	}
	t_body_fill(body, 200000, 9999);
	d = store_delivery_begin(st, "", &err);
	if (d == NULL || store_delivery_add_user(d, ids[0], &err) != 0 ||
	    store_delivery_write(d, body, 200000, &err) != 0)
		return 6;
	rec[0] = -1;
	rec[1] = (int32_t)t_io.total;
	if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		return 4;
	return 0;
}

/*
 * Run a child on a fresh mail.db, cut its power, reopen and compare.
 * Every acknowledged delivery must be there, whole, for both users and
 * in the queue. With exact set, nothing else may be; without it one
 * more (the delivery in flight when the power went) may be. Returns the
 * child's count of I/O calls (0 if it was cut before the end).
 */
static long
t_pc_run(struct testutil_tmpdir *s, const struct t_pc *c, int exact)
{
	struct store_message *msgs = NULL;
	struct store_queue_entry *q = NULL;
	struct store_user u;
	struct store *st;
	char acked[T_PC_DELIVERIES_MAX] = { 0 }, seen[T_PC_DELIVERIES_MAX] = { 0 };
	int64_t ids[3], used = 0;
	int32_t rec;
	long calls = 0;
	uint8_t *want = malloc(T_BIG), *got = malloc(T_BIG);
	size_t n = 0, nq = 0, len;
	int fds[2], status, extra = 0, nseen = 0;
	pid_t pid;

	assert_non_null(want);
	assert_non_null(got);
	assert_true(c->deliveries <= T_PC_DELIVERIES_MAX);
	t_wipe(s);
	st = t_open(s);
	t_accounts(st, ids);
	store_close(&st);

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		status = t_pc_child(s, c, fds[1]);
		t_powercut();
		_exit(status);
	}
	close(fds[1]);
	while (read(fds[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
		if (rec == -1) {
			assert_int_equal(read(fds[0], &rec, sizeof(rec)), (ssize_t)sizeof(rec));
			calls = rec;
			break;
		}
		assert_true(rec >= 0 && rec < c->deliveries);
		acked[rec] = 1;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status 0x%x", status);

	st = t_open(s);
	t_ok(store_integrity_check(st, E));
	for (size_t k = 0; k < 2; k++) {
		t_ok(store_message_list(st, t_inbox(st, ids[k]).id, &msgs, &n, E));
		for (size_t i = 0; i < n; i++) {
			unsigned seq;
			len = (size_t)msgs[i].size;
			assert_true(len > 0 && len <= T_BIG);
			t_ok(store_body_read(st, msgs[i].body_id, 0, got, len, &len, E));
			assert_int_equal(len, msgs[i].size);
			got[len < 15 ? len : 15] = '\0';
			if (len < 15 || memcmp(got, "X-Seq: ", 7) != 0)
				seq = 0;
			else
				seq = (unsigned)strtoul((const char *)got + 7, NULL, 10);
			assert_true(seq < (unsigned)c->deliveries);
			t_body_fill(want, len, seq);
			t_body_equal(st, msgs[i].body_id, want, len);
			if (k == 0) {
				seen[seq] = 1;
				nseen++;
				used += (int64_t)len;
			} else {
				assert_true(seen[seq]);
			}
		}
		if (k == 1)
			assert_int_equal(n, nseen);
		store_message_list_free(&msgs, n);
	}
	t_ok(store_queue_list(st, &q, &nq, E));
	assert_int_equal(nq, nseen);
	free(q);
	t_ok(store_user_get_id(st, ids[0], &u, E));
	assert_int_equal(u.used, used);
	store_close(&st);
	for (int i = 0; i < c->deliveries; i++) {
		if (acked[i] && !seen[i])
			fail_msg("delivery %d was acknowledged and is missing (cut at %ld)", i, c->cut_at);
		if (!acked[i] && seen[i])
			extra++;
	}
	assert_true(extra <= (exact ? 0 : 1));
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE pending = 1"), 0);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies"), nseen);
	assert_int_equal(t_raw(s, "SELECT count(*) FROM body_text"), 0);	/* indexed later */
	assert_int_equal(t_raw(s, "SELECT count(*) FROM bodies WHERE mime IS NULL"), 0);
	free(want);
	free(got);
	return calls;
}

/*
 * Deliveries with I/O faults sprinkled among them, one big enough to
 * force checkpoints, then the power goes while one more is being
 * received: after the restart exactly the acknowledged ones exist.
 */
static void
test_store_powercut_acknowledged(void **state)
{
	static const struct t_pc runs[] = {
		{ 0x1234567887654321ULL, 30, 3, 12, 0 },
		{ 0x0badc0ffee0ddf00ULL, 30, 2, -1, 0 },
		{ 0x5eed5eed5eed5eedULL, 20, 4, 3, 0 },
	};

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		assert_true(t_pc_run(*state, &runs[i], 1) > 0);
}

/*
 * The power goes at every k-th I/O call of a run: whatever was
 * acknowledged before is there; at most the one in flight is extra.
 */
static void
test_store_powercut_anywhere(void **state)
{
	struct t_pc c = { 0x0123456789abcdefULL, 8, 0, -1, 0 };
	long calls = t_pc_run(*state, &c, 1), runs = 0;

	assert_true(calls > 50);
	for (long k = 1; k < calls; k += 1 + calls / 60) {
		c.cut_at = k;
		t_pc_run(*state, &c, 0);
		runs++;
	}
	print_message("    power cut at %ld points of %ld calls\n", runs, calls);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, testutil_tmpdir_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_open_new),
		T(test_store_open_empty_file),
		T(test_store_open_newer),
		T(test_store_open_not_a_database),
		T(test_store_open_faults),
		T(test_store_integrity_detects),
		T(test_store_domains),
		T(test_store_users),
		T(test_store_aliases_resolve),
		T(test_store_remove_cascades),
		T(test_store_deliver_one),
		T(test_store_deliver_shared),
		T(test_store_deliver_duplicates),
		T(test_store_uids),
		T(test_store_queue),
		T(test_store_queue_retry),
		T(test_store_sts),
		T(test_store_quota),
		T(test_store_too_big),
		T(test_store_abort_and_recover),
		T(test_store_body_read),
		T(test_store_interleaved),
		T(test_store_faults_write_error),
		T(test_store_faults_disk_full),
		T(test_store_faults_large),
		T(test_store_faults_user_add),
		T(test_store_powercut_acknowledged),
		T(test_store_powercut_anywhere),
	};

	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
