/*
 * store: mail.db, the home's one SQLite database, and the only code in
 * Homeport that speaks SQL. Accounts, mailboxes, messages, bodies and the
 * outbound queue; the schema is in store_sql.c, the MIME structure and the
 * text index in store_text.c, the reasoning in docs/store.md.
 *
 * Rules every function here keeps:
 * - Every write runs in an explicit BEGIN IMMEDIATE transaction opened by
 *   store_begin(), which sets the synchronous level first: FULL for
 *   everything that is acknowledged or administered, NORMAL only for the
 *   chunks of a body that nothing refers to yet. Autocommit is for reads.
 * - Any error inside a transaction rolls the whole transaction back, so a
 *   failed call changes nothing.
 * - Statements are prepared once per connection (store_stmt()) and reset
 *   before a function returns, so no read snapshot outlives a call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "dnsname.h"
#include "home.h"
#include "log.h"
#include "store_int.h"

enum store_delivery_state {
	STORE_DELIVERY_OPEN,
	STORE_DELIVERY_COMMITTED,
	STORE_DELIVERY_FAILED,
};

struct store_delivery {
	struct store *st;		/* borrowed */
	int state;			/* enum store_delivery_state */
	struct mime_parser *mp;		/* the body's MIME structure, as it comes */
	int64_t body_id;		/* 0 until a chunk is written */
	int64_t size;			/* bytes written so far */
	int64_t flushed;		/* of which in body_chunks */
	size_t fill;			/* of which in buf */
	size_t nusers;
	size_t nremote;
	char mail_from[STORE_ADDRESS_MAX];
	int64_t mailbox_id;		/* APPEND: the one mailbox; 0: none */
	unsigned flags;			/* APPEND: its flags and keywords */
	char keywords[STORE_KEYWORDS_MAX];
	uint32_t uid, uidvalidity;	/* APPEND: set by the commit */
	int64_t users[STORE_RCPT_MAX];
	char *remote[STORE_RCPT_MAX];	/* owned */
	crypto_hash_sha256_state hash;	/* mail_from and the content: store_delivery_content() */
	int hashing;
	int has_message_id;		/* the message has a Message-ID field: retries can be told */
	size_t duplicates;		/* local users who had the message already */
	uint8_t buf[STORE_CHUNK_MAX];
};

/* The mailboxes every user gets, with their RFC 6154 attributes. */
static const struct {
	const char *name;
	const char *special_use;
} store_default_mailboxes[] = {
	{ "INBOX", NULL },
	{ "Sent", "\\Sent" },
	{ "Drafts", "\\Drafts" },
	{ "Junk", "\\Junk" },
	{ "Trash", "\\Trash" },
	{ "Archive", "\\Archive" },
};

#define STORE_UIDVALIDITY_MAX 4294967295LL
#define STORE_LIST_MIN 16	/* first allocation of a list, in entries */

/* ---- errors ---------------------------------------------------------- */

static int
store_code_kind(int code)
{
	switch (code) {
	case STORE_OK:
		return STORE_ERR_NONE;
	case STORE_E_IO:
	case STORE_E_FULL:
	case STORE_E_BUSY:
	case STORE_E_NOMEM:
	case STORE_E_QUOTA:
	case STORE_E_CORRUPT:
	case STORE_E_INTERNAL:
		return STORE_ERR_TEMPORARY;
	default:
		return STORE_ERR_PERMANENT;
	}
}

const char *
store_err_kind_name(int kind)
{
	switch (kind) {
	case STORE_ERR_TEMPORARY:
		return "temporary";
	case STORE_ERR_PERMANENT:
		return "permanent";
	default:
		return "none";
	}
}

/* Fill err with code and the formatted message. Returns -1. */
int
store_fail(struct store_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	err->kind = store_code_kind(code);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Our code for an SQLite result code (extended codes are on). */
static int
store_sqlite_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_IOERR:
		return rc == SQLITE_IOERR_NOMEM ? STORE_E_NOMEM : STORE_E_IO;
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return STORE_E_IO;
	case SQLITE_FULL:
		return STORE_E_FULL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_E_BUSY;
	case SQLITE_NOMEM:
		return STORE_E_NOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return STORE_E_CORRUPT;
	case SQLITE_CONSTRAINT:
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
			       ? STORE_E_EXISTS : STORE_E_INVALID;
	case SQLITE_TOOBIG:
		return STORE_E_TOOBIG;
	default:
		return STORE_E_INTERNAL;
	}
}

/* Fill err from an SQLite failure rc while doing what. Returns -1. */
int
store_sqlite_fail(struct store *st, struct store_err *err, int rc, const char *what)
{
	const char *msg = st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	if (strcmp(msg, sqlite3_errstr(rc)) == 0)
		return store_fail(err, store_sqlite_code(rc), "%s: %s (%d)", what, msg, rc);
	return store_fail(err, store_sqlite_code(rc), "%s: %s (%s, %d)", what, msg,
			  sqlite3_errstr(rc), rc);
}

/* ---- statements and transactions -------------------------------------- */

/*
 * The prepared statement for sql (a static string), reset and unbound,
 * or NULL with err set.
 */
sqlite3_stmt *
store_stmt(struct store *st, const char *sql, struct store_err *err)
{
	struct store_stmt_slot *slot;
	int rc;

	for (size_t i = 0; i < st->nstmts; i++) {
		slot = &st->stmts[i];
		if (slot->sql == sql) {
			sqlite3_reset(slot->stmt);
			sqlite3_clear_bindings(slot->stmt);
			return slot->stmt;
		}
	}
	if (st->nstmts == STORE_STMTS_MAX) {
		store_fail(err, STORE_E_INTERNAL, "more than %d statements", STORE_STMTS_MAX);
		return NULL;
	}
	slot = &st->stmts[st->nstmts];
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "prepare");
		sqlite3_finalize(slot->stmt);
		slot->stmt = NULL;
		return NULL;
	}
	slot->sql = sql;
	st->nstmts++;
	return slot->stmt;
}

/*
 * Step s. Returns SQLITE_ROW or SQLITE_DONE, or -1 with err set (and s
 * reset).
 */
int
store_step(struct store *st, sqlite3_stmt *s, const char *what, struct store_err *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	store_sqlite_fail(st, err, rc, what);
	sqlite3_reset(s);
	return -1;
}

/* Run a statement without parameters to its end. Returns 0, or -1 with err set. */
static int
store_exec(struct store *st, const char *sql, const char *what, struct store_err *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	do
		rc = store_step(st, s, what, err);
	while (rc == SQLITE_ROW);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Run a statement once, uncached: PRAGMAs that act when prepared, and
 * the migration scripts. Returns 0, or -1 with err set.
 */
static int
store_exec_once(struct store *st, const char *sql, const char *what, struct store_err *err)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_sqlite_fail(st, err, rc, what);
}

/* Run an uncached query whose first row's first column is an integer. */
static int
store_query_int(struct store *st, const char *sql, int64_t *v_r, struct store_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, sql);
		goto fail;
	}
	rc = store_step(st, s, sql, err);
	if (rc < 0)
		goto fail;
	if (rc != SQLITE_ROW) {
		store_fail(err, STORE_E_INTERNAL, "%s: no answer", sql);
		goto fail;
	}
	*v_r = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return 0;
fail:
	sqlite3_finalize(s);
	return -1;
}

/* Set PRAGMA synchronous (outside a transaction). Returns 0, or -1. */
static int
store_set_sync(struct store *st, int sync, struct store_err *err)
{
	if (st->sync == sync)
		return 0;
	st->sync = STORE_SYNC_UNKNOWN;
	if (store_exec_once(st, sync == STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
							 : "PRAGMA synchronous = NORMAL",
			    "synchronous", err) != 0)
		return -1;
	st->sync = sync;
	return 0;
}

/* Roll back the open transaction, if SQLite has not done so already. */
void
store_rollback(struct store *st)
{
	static const char sql[] = "ROLLBACK";
	struct store_err ignored;

	if (!sqlite3_get_autocommit(st->db))
		(void)store_exec(st, sql, "rollback", &ignored);
	st->nchanged = 0;
	st->changed_overflow = 0;
}

void
store_changed(struct store *st, int64_t mailbox_id)
{
	for (size_t i = 0; i < st->nchanged; i++) {
		if (st->changed[i] == mailbox_id)
			return;
	}
	if (st->nchanged < STORE_CHANGED_MAX)
		st->changed[st->nchanged++] = mailbox_id;
	else
		st->changed_overflow = 1;
}

/* After a commit: tell the watcher which mailboxes changed. */
static void
store_tell_changes(struct store *st)
{
	size_t n = st->nchanged;
	int overflow = st->changed_overflow;

	st->nchanged = 0;
	st->changed_overflow = 0;
	if (st->notify == NULL)
		return;
	if (overflow) {
		st->notify(st->notify_arg, 0);
		return;
	}
	for (size_t i = 0; i < n; i++)
		st->notify(st->notify_arg, st->changed[i]);
}

void
store_set_notify(struct store *st, store_notify_fn fn, void *arg)
{
	st->notify = fn;
	st->notify_arg = arg;
}

/*
 * Start a write transaction whose commit syncs as sync says. Returns 0,
 * or -1 with err set (and no transaction open).
 */
int
store_begin(struct store *st, int sync, struct store_err *err)
{
	static const char sql[] = "BEGIN IMMEDIATE";

	/* Only if a ROLLBACK failed earlier: what it held was never acknowledged. */
	if (!sqlite3_get_autocommit(st->db)) {
		log_error(NULL, "store_stale_transaction", "action=rollback");
		store_rollback(st);
	}
	if (store_set_sync(st, sync, err) != 0)
		return -1;
	return store_exec(st, sql, "begin", err);
}

/* Commit. Returns 0, or -1 with err set and the transaction rolled back. */
int
store_commit(struct store *st, struct store_err *err)
{
	static const char sql[] = "COMMIT";

	/* Bodies this transaction deleted take their text with them. */
	if ((!st->text_ready || store_text_purge(st, err) == 0) &&
	    store_exec(st, sql, "commit", err) == 0) {
		store_tell_changes(st);
		return 0;
	}
	store_rollback(st);
	return -1;
}

/*
 * Make room for entry n of list, an array of *cap entries of elem bytes.
 * Returns the array (perhaps moved), or NULL with err set and list intact.
 */
void *
store_list_grow(void *list, size_t *cap, size_t n, size_t elem, struct store_err *err)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return list;
	ncap = *cap == 0 ? STORE_LIST_MIN : *cap * 2;
	if (ncap > SIZE_MAX / elem) {
		store_fail(err, STORE_E_NOMEM, "list too long");
		return NULL;
	}
	p = realloc(list, ncap * elem);
	if (p == NULL) {
		store_fail(err, STORE_E_NOMEM, "out of memory");
		return NULL;
	}
	*cap = ncap;
	return p;
}

int
store_rows(struct store *st, sqlite3_stmt *s, const char *what, size_t elem, store_row_fn row,
	   void **list_r, size_t *n_r, struct store_err *err)
{
	uint8_t *list = NULL;
	size_t n = 0, cap = 0;
	void *grown;
	int rc;

	while ((rc = store_step(st, s, what, err)) == SQLITE_ROW) {
		if ((grown = store_list_grow(list, &cap, n, elem, err)) == NULL)
			goto fail;
		list = grown;
		if (row(s, list + n * elem, err) != 0)
			goto fail;
		n++;
	}
	if (rc < 0)
		goto fail;
	sqlite3_reset(s);
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	sqlite3_reset(s);
	free(list);
	return -1;
}

/* Copy text column i into out[0..cap). Returns 0, or -1 if it does not fit. */
int
store_column_text(sqlite3_stmt *s, int i, char *out, size_t cap, struct store_err *err)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	int n = sqlite3_column_bytes(s, i);

	if (t == NULL) {
		out[0] = '\0';
		return 0;
	}
	if ((size_t)n >= cap)
		return store_fail(err, STORE_E_CORRUPT, "stored text of %d bytes, at most %zu expected",
				  n, cap - 1);
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* ---- names ----------------------------------------------------------- */

/* Check and lower-case a domain into out. Returns 0, or -1 if it is not a host name. */
static int
store_domain_norm(const char *in, size_t len, char out[STORE_DOMAIN_MAX + 1])
{
	if (len == 0 || len > STORE_DOMAIN_MAX || dnsname_check(in, len, 0) != 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
	out[len] = '\0';
	return 0;
}

/* A local part we store: 1..STORE_LOCAL_MAX octets, no '@', space or control. */
static int
store_local_check(const char *s, size_t len)
{
	if (len == 0 || len > STORE_LOCAL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || c == '@')
			return -1;
	}
	return 0;
}

/*
 * Split "local@domain" at its last '@' into a checked local part and a
 * lower-cased domain. With catchall set, "@domain" is allowed (local "").
 * Returns 0, or -1 with err set (STORE_E_INVALID).
 */
static int
store_address_split(const char *address, int catchall, char local[STORE_LOCAL_MAX + 1],
		    char domain[STORE_DOMAIN_MAX + 1], struct store_err *err)
{
	const char *at = strrchr(address, '@');
	size_t llen;

	if (at == NULL)
		return store_fail(err, STORE_E_INVALID, "not an address (local@domain)");
	llen = (size_t)(at - address);
	if (!(catchall && llen == 0) && store_local_check(address, llen) != 0)
		return store_fail(err, STORE_E_INVALID,
				  "bad local part (1 to %d octets, no '@', space or control character)",
				  STORE_LOCAL_MAX);
	if (store_domain_norm(at + 1, strlen(at + 1), domain) != 0)
		return store_fail(err, STORE_E_INVALID, "bad domain (a host name like example.com)");
	memcpy(local, address, llen);
	local[llen] = '\0';
	return 0;
}

/* Join local and domain into out[0..STORE_ADDRESS_MAX). */
static int
store_address_join(const char *local, const char *domain, char *out, struct store_err *err)
{
	int n = snprintf(out, STORE_ADDRESS_MAX, "%s@%s", local, domain);

	if (n < 0 || n >= STORE_ADDRESS_MAX)
		return store_fail(err, STORE_E_CORRUPT, "stored address too long");
	return 0;
}

/* An address as text for the queue: "" (if empty_ok) or something@something, no controls. */
static int
store_envelope_check(const char *s, int empty_ok)
{
	size_t len = strlen(s);

	if (len == 0)
		return empty_ok ? 0 : -1;
	if (len >= STORE_ADDRESS_MAX || strchr(s, '@') == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return -1;
	}
	return 0;
}

/* A password hash as stored: printable ASCII, under STORE_HASH_MAX; "" means no login. */
static int
store_hash_check(const char *hash, struct store_err *err)
{
	size_t len = strlen(hash);

	if (len >= STORE_HASH_MAX)
		return store_fail(err, STORE_E_INVALID, "password hash longer than %d bytes",
				  STORE_HASH_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		if (hash[i] < 0x21 || hash[i] > 0x7e)
			return store_fail(err, STORE_E_INVALID,
					  "password hash is not printable ASCII");
	}
	return 0;
}

/* IMAP keywords: atoms (RFC 3501 atom, not starting with '\'), one space apart. */
int
store_keywords_check(const char *kw, struct store_err *err)
{
	size_t len = strlen(kw);
	int start = 1;

	if (len >= STORE_KEYWORDS_MAX)
		return store_fail(err, STORE_E_INVALID, "keywords longer than %d bytes",
				  STORE_KEYWORDS_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];
		if (c == ' ') {
			if (start || i + 1 == len)
				goto bad;
			start = 1;
			continue;
		}
		if (c < 0x21 || c > 0x7e || strchr("(){%*\"\\]", c) != NULL)
			goto bad;
		start = 0;
	}
	return 0;
bad:
	return store_fail(err, STORE_E_INVALID, "keywords must be IMAP atoms separated by one space");
}

/* ---- open and close ---------------------------------------------------- */

/* fsync the directory that holds path, so that a new file's name is durable. */
static int
store_sync_dir(const char *path, struct store_err *err)
{
	char dir[HOME_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, n;

	if (slash == NULL)
		n = snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		n = snprintf(dir, sizeof(dir), "/");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return store_fail(err, STORE_E_INVALID, "path too long");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return store_fail(err, STORE_E_IO, "open %s: %s", dir, strerror(errno));
	if (fsync(fd) != 0) {
		n = errno;
		close(fd);
		return store_fail(err, STORE_E_IO, "fsync %s: %s", dir, strerror(n));
	}
	close(fd);
	return 0;
}

/* Apply the migrations the file lacks, each in its own transaction. */
static int
store_migrate(struct store *st, struct store_err *err)
{
	char sql[64];
	int64_t version;
	int n;

	for (;;) {
		if (store_begin(st, STORE_SYNC_FULL, err) != 0)
			return -1;
		/* Read under the write lock: another process may have migrated meanwhile. */
		if (store_query_int(st, "PRAGMA user_version", &version, err) != 0)
			goto fail;
		if (version < 0 || version > STORE_SCHEMA_VERSION) {
			store_fail(err, STORE_E_SCHEMA,
				   "mail.db has schema version %lld; this Homeport knows 0 to %d",
				   (long long)version, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (version == STORE_SCHEMA_VERSION)
			return store_commit(st, err);
		if (store_exec_once(st, store_sql_migrations[version], "migration", err) != 0)
			goto fail;
		n = snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)version + 1);
		if (n < 0 || (size_t)n >= sizeof(sql)) {
			store_fail(err, STORE_E_INTERNAL, "user_version: too long");
			goto fail;
		}
		if (store_exec_once(st, sql, "user_version", err) != 0)
			goto fail;
		if (store_commit(st, err) != 0)
			return -1;
		log_info(NULL, "store_migrate", "from=%lld to=%lld", (long long)version,
			 (long long)version + 1);
	}
fail:
	store_rollback(st);
	return -1;
}

/* Delete the pending bodies a crashed run left (with their chunks). */
static int
store_recover(struct store *st, struct store_err *err)
{
	static const char sql[] = "DELETE FROM bodies WHERE pending = 1";
	int changes;

	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_exec(st, sql, "recover", err) != 0) {
		store_rollback(st);
		return -1;
	}
	changes = sqlite3_changes(st->db);
	if (store_commit(st, err) != 0)
		return -1;
	if (changes > 0)
		log_info(NULL, "store_recover", "pending_bodies=%d", changes);
	return 0;
}

/*
 * mail.db holds everyone's mail and password hashes: its owner only.
 * SQLite creates files 0644 and gives its WAL and shared-memory files the
 * database's mode, so the database is made private before the first of
 * them is created (and any left by an older build are fixed too).
 */
static int
store_private(const char *path, struct store_err *err)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char name[HOME_PATH_MAX + 8];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		struct stat sb;
		int n = snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);

		if (n < 0 || (size_t)n >= sizeof(name))
			return store_fail(err, STORE_E_INVALID, "path too long");
		if (stat(name, &sb) != 0)
			continue;
		if ((sb.st_mode & 077) != 0 && chmod(name, sb.st_mode & 0700) != 0)
			return store_fail(err, STORE_E_IO, "chmod %s: %s", name, strerror(errno));
	}
	return 0;
}

struct store *
store_open(const char *path, int flags, struct store_err *err)
{
	struct store *st;
	struct stat sb;
	sqlite3_stmt *s = NULL;
	char limit[64];
	int64_t version, fk;
	int created, rc;

	st = calloc(1, sizeof(*st));
	if (st == NULL || mime_iconv_new(&st->iconv) != 0) {
		free(st);
		store_fail(err, STORE_E_NOMEM, "out of memory");
		return NULL;
	}
	created = stat(path, &sb) != 0 && errno == ENOENT;
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT);
	if (store_private(path, err) != 0)
		goto fail;

	/* Refuse a newer schema before changing anything in the file. */
	if (store_query_int(st, "PRAGMA user_version", &version, err) != 0)
		goto fail;
	if (version < 0 || version > STORE_SCHEMA_VERSION) {
		store_fail(err, STORE_E_SCHEMA,
			   "mail.db has schema version %lld; this Homeport knows 0 to %d",
			   (long long)version, STORE_SCHEMA_VERSION);
		goto fail;
	}

	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		store_sqlite_fail(st, err, rc, "journal_mode");
		goto fail;
	}
	if (sqlite3_column_text(s, 0) == NULL ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "wal") != 0) {
		store_fail(err, STORE_E_IO, "journal_mode: WAL refused (got %s)",
			   sqlite3_column_text(s, 0) != NULL ? (const char *)sqlite3_column_text(s, 0)
							     : "nothing");
		goto fail;
	}
	sqlite3_finalize(s);
	s = NULL;

	rc = snprintf(limit, sizeof(limit), "PRAGMA journal_size_limit = %lld",
		      (long long)STORE_WAL_LIMIT);
	if (rc < 0 || (size_t)rc >= sizeof(limit)) {
		store_fail(err, STORE_E_INTERNAL, "journal_size_limit: too long");
		goto fail;
	}
	if (store_set_sync(st, STORE_SYNC_FULL, err) != 0 ||
	    store_exec_once(st, "PRAGMA foreign_keys = ON", "foreign_keys", err) != 0 ||
	    store_exec_once(st, "PRAGMA trusted_schema = OFF", "trusted_schema", err) != 0 ||
	    store_exec_once(st, limit, "journal_size_limit", err) != 0 ||
	    store_query_int(st, "PRAGMA foreign_keys", &fk, err) != 0)
		goto fail;
	if (fk != 1) {
		store_fail(err, STORE_E_INTERNAL, "this SQLite cannot enforce foreign keys");
		goto fail;
	}
	if (store_migrate(st, err) != 0)
		goto fail;
	st->text_ready = 1;
	if (created && store_sync_dir(path, err) != 0)
		goto fail;
	if ((flags & STORE_OPEN_RECOVER) && store_recover(st, err) != 0)
		goto fail;
	return st;
fail:
	sqlite3_finalize(s);
	store_close(&st);
	return NULL;
}

void
store_close(struct store **stp)
{
	struct store *st;

	if (stp == NULL || *stp == NULL)
		return;
	st = *stp;
	for (size_t i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	sqlite3_close_v2(st->db);
	mime_iconv_free(&st->iconv);
	free(st);
	*stp = NULL;
}

int
store_integrity_check(struct store *st, struct store_err *err)
{
	sqlite3_stmt *s = NULL;
	const char *what = "PRAGMA integrity_check";
	const char *first;
	int rc, ok;

	rc = sqlite3_prepare_v2(st->db, what, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, what);
		goto fail;
	}
	rc = store_step(st, s, what, err);
	if (rc < 0)
		goto fail;
	first = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	ok = first != NULL && strcmp(first, "ok") == 0;
	if (!ok) {
		store_fail(err, STORE_E_CORRUPT, "integrity_check: %s",
			   first != NULL ? first : "no answer");
		goto fail;
	}
	sqlite3_finalize(s);
	s = NULL;

	/* Foreign keys are part of the story: a row must never point nowhere. */
	what = "PRAGMA foreign_key_check";
	rc = sqlite3_prepare_v2(st->db, what, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, what);
		goto fail;
	}
	rc = store_step(st, s, what, err);
	if (rc < 0)
		goto fail;
	if (rc == SQLITE_ROW) {
		store_fail(err, STORE_E_CORRUPT, "foreign_key_check: table %s row %lld",
			   sqlite3_column_text(s, 0) != NULL ? (const char *)sqlite3_column_text(s, 0)
							     : "?",
			   (long long)sqlite3_column_int64(s, 1));
		goto fail;
	}
	sqlite3_finalize(s);
	return 0;
fail:
	sqlite3_finalize(s);
	return -1;
}

/* ---- domains ----------------------------------------------------------- */

/* The id of domain (lower case) into *id_r, 0 if not ours. Returns 0, or -1. */
static int
store_domain_id(struct store *st, const char *domain, int64_t *id_r, struct store_err *err)
{
	static const char sql[] = "SELECT id FROM domains WHERE name = ?1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "domain", err);
	if (rc < 0)
		return -1;
	*id_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return 0;
}

int
store_domain_add(struct store *st, const char *name, struct store_err *err)
{
	static const char sql[] = "INSERT INTO domains (name, created) VALUES (?1, ?2)";
	char domain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (store_domain_norm(name, strlen(name), domain) != 0)
		return store_fail(err, STORE_E_INVALID, "bad domain (a host name like example.com)");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, (int64_t)time(NULL))) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "add domain", err) < 0) {
		if (err->code == STORE_E_EXISTS)
			store_fail(err, STORE_E_EXISTS, "domain %s exists", domain);
		goto fail;
	}
	sqlite3_reset(s);
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

int
store_domain_remove(struct store *st, const char *name, struct store_err *err)
{
	static const char users[] = "SELECT count(*) FROM users WHERE domain_id = ?1";
	static const char del[] = "DELETE FROM domains WHERE id = ?1";
	char domain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int64_t id, n;
	int rc;

	if (store_domain_norm(name, strlen(name), domain) != 0)
		return store_fail(err, STORE_E_INVALID, "bad domain (a host name like example.com)");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_domain_id(st, domain, &id, err) != 0)
		goto fail;
	if (id == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no domain %s", domain);
		goto fail;
	}
	if ((s = store_stmt(st, users, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	rc = store_step(st, s, "count users", err);
	if (rc < 0)
		goto fail;
	n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (n > 0) {
		store_fail(err, STORE_E_INUSE, "domain %s has %lld users; remove them first", domain,
			   (long long)n);
		goto fail;
	}
	if ((s = store_stmt(st, del, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "remove domain", err) < 0)
		goto fail;
	sqlite3_reset(s);
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

static int
store_domain_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	struct store_domain *d = elem;

	d->id = sqlite3_column_int64(s, 0);
	return store_column_text(s, 1, d->name, sizeof(d->name), err);
}

int
store_domain_list(struct store *st, struct store_domain **list_r, size_t *n_r,
		  struct store_err *err)
{
	static const char sql[] = "SELECT id, name FROM domains ORDER BY name";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	void *list;

	if (s == NULL ||
	    store_rows(st, s, "list domains", sizeof(**list_r), store_domain_row, &list, n_r, err) != 0)
		return -1;
	*list_r = list;
	return 0;
}

int
store_domain_is_local(struct store *st, const char *name, int *local_r, struct store_err *err)
{
	char domain[STORE_DOMAIN_MAX + 1];
	int64_t id;

	if (store_domain_norm(name, strlen(name), domain) != 0) {
		*local_r = 0;
		return 0;
	}
	if (store_domain_id(st, domain, &id, err) != 0)
		return -1;
	*local_r = id != 0;
	return 0;
}

/* ---- users ------------------------------------------------------------- */

/* The id of local@domain (checked, lower case) into *id_r, 0 if none. Returns 0, or -1. */
static int
store_user_id(struct store *st, const char *local, const char *domain, int64_t *id_r,
	      struct store_err *err)
{
	static const char sql[] =
		"SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id"
		" WHERE d.name = ?1 AND u.local = ?2";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "user", err);
	if (rc < 0)
		return -1;
	*id_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return 0;
}

/* Whether domain_id has an alias local (not the catch-all). Returns 0, or -1. */
static int
store_alias_exists(struct store *st, int64_t domain_id, const char *local, int *exists_r,
		   struct store_err *err)
{
	static const char sql[] = "SELECT 1 FROM aliases WHERE domain_id = ?1 AND local = ?2 LIMIT 1";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, domain_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "alias", err);
	if (rc < 0)
		return -1;
	*exists_r = rc == SQLITE_ROW;
	sqlite3_reset(s);
	return 0;
}

/* The next UIDVALIDITY: larger than every earlier one, and the time if that is larger. */
int
store_next_uidvalidity(struct store *st, int64_t *v_r, struct store_err *err)
{
	static const char sql[] =
		"UPDATE meta SET value = max(value + 1, ?1) WHERE key = 'uidvalidity' RETURNING value";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, (int64_t)time(NULL))) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "uidvalidity", err);
	if (rc < 0)
		return -1;
	*v_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (*v_r < 1 || *v_r > STORE_UIDVALIDITY_MAX)
		return store_fail(err, STORE_E_INTERNAL, "no UIDVALIDITY left (%lld)", (long long)*v_r);
	return 0;
}

/* Create the default mailboxes of a new user. */
static int
store_user_mailboxes(struct store *st, int64_t user_id, struct store_err *err)
{
	static const char sql[] =
		"INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4)";
	static const char subscribe[] =
		"INSERT INTO subscriptions (user_id, name) SELECT user_id, name FROM mailboxes"
		" WHERE user_id = ?1";
	sqlite3_stmt *s;
	int64_t uidvalidity = 0;
	int rc;

	for (size_t i = 0; i < sizeof(store_default_mailboxes) / sizeof(store_default_mailboxes[0]);
	     i++) {
		if (store_next_uidvalidity(st, &uidvalidity, err) != 0)
			return -1;
		if ((s = store_stmt(st, sql, err)) == NULL)
			return -1;
		rc = sqlite3_bind_int64(s, 1, user_id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(s, 2, store_default_mailboxes[i].name, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = store_default_mailboxes[i].special_use != NULL
				     ? sqlite3_bind_text(s, 3, store_default_mailboxes[i].special_use, -1,
							 SQLITE_STATIC)
				     : sqlite3_bind_null(s, 3);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 4, uidvalidity);
		if (rc != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		if (store_step(st, s, "add mailbox", err) < 0)
			return -1;
		sqlite3_reset(s);
	}
	/* Clients show subscribed mailboxes: the defaults start subscribed. */
	if ((s = store_stmt(st, subscribe, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "subscribe", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

int
store_user_add(struct store *st, const char *address, const char *password_hash, int64_t quota,
	       int64_t *id_r, struct store_err *err)
{
	static const char sql[] =
		"INSERT INTO users (domain_id, local, password_hash, quota_bytes, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5)";
	char local[STORE_LOCAL_MAX + 1], domain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int64_t domain_id, id;
	int alias = 0, rc;

	if (store_address_split(address, 0, local, domain, err) != 0 ||
	    store_hash_check(password_hash, err) != 0)
		return -1;
	if (quota < 0)
		return store_fail(err, STORE_E_INVALID, "negative quota");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_domain_id(st, domain, &domain_id, err) != 0)
		goto fail;
	if (domain_id == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no domain %s (add it first)", domain);
		goto fail;
	}
	if (store_alias_exists(st, domain_id, local, &alias, err) != 0)
		goto fail;
	if (alias) {
		store_fail(err, STORE_E_EXISTS, "%s@%s is an alias", local, domain);
		goto fail;
	}
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, domain_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 3, password_hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, quota)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, (int64_t)time(NULL))) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "add user", err) < 0) {
		if (err->code == STORE_E_EXISTS)
			store_fail(err, STORE_E_EXISTS, "user %s@%s exists", local, domain);
		goto fail;
	}
	sqlite3_reset(s);
	id = sqlite3_last_insert_rowid(st->db);
	if (store_user_mailboxes(st, id, err) != 0)
		goto fail;
	if (store_commit(st, err) != 0)
		return -1;
	if (id_r != NULL)
		*id_r = id;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/*
 * Run a one-statement change of the user local@domain (?1 domain, ?2
 * local, ?3 if the statement has it: text, or value if text is NULL) in
 * a transaction. Returns 0, or -1 (STORE_E_NOTFOUND
 * if no row changed).
 */
static int
store_user_change(struct store *st, const char *sql, const char *address, const char *text,
		  int64_t value, struct store_err *err)
{
	char local[STORE_LOCAL_MAX + 1], domain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (store_address_split(address, 0, local, domain, err) != 0)
		return -1;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	rc = sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 2, local, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 3)
		rc = text != NULL ? sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC)
				  : sqlite3_bind_int64(s, 3, value);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "change user", err) < 0)
		goto fail;
	sqlite3_reset(s);
	if (sqlite3_changes(st->db) == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no user %s@%s", local, domain);
		goto fail;
	}
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

int
store_user_remove(struct store *st, const char *address, struct store_err *err)
{
	static const char sql[] =
		"DELETE FROM users WHERE domain_id = (SELECT id FROM domains WHERE name = ?1)"
		" AND local = ?2";

	return store_user_change(st, sql, address, NULL, 0, err);
}

int
store_user_set_password(struct store *st, const char *address, const char *password_hash,
			struct store_err *err)
{
	static const char sql[] =
		"UPDATE users SET password_hash = ?3"
		" WHERE domain_id = (SELECT id FROM domains WHERE name = ?1) AND local = ?2";

	if (store_hash_check(password_hash, err) != 0)
		return -1;
	return store_user_change(st, sql, address, password_hash, 0, err);
}

int
store_user_set_quota(struct store *st, const char *address, int64_t quota, struct store_err *err)
{
	static const char sql[] =
		"UPDATE users SET quota_bytes = ?3"
		" WHERE domain_id = (SELECT id FROM domains WHERE name = ?1) AND local = ?2";

	if (quota < 0)
		return store_fail(err, STORE_E_INVALID, "negative quota");
	return store_user_change(st, sql, address, NULL, quota, err);
}

#define STORE_USER_COLUMNS \
	"u.id, u.local, d.name, u.password_hash, u.quota_bytes, u.used_bytes" \
	" FROM users u JOIN domains d ON d.id = u.domain_id"

/* Fill *u from a row of STORE_USER_COLUMNS. */
static int
store_user_row(sqlite3_stmt *s, struct store_user *u, int with_hash, struct store_err *err)
{
	char local[STORE_LOCAL_MAX + 1], domain[STORE_DOMAIN_MAX + 1];

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(s, 0);
	if (store_column_text(s, 1, local, sizeof(local), err) != 0 ||
	    store_column_text(s, 2, domain, sizeof(domain), err) != 0 ||
	    store_address_join(local, domain, u->address, err) != 0)
		return -1;
	if (with_hash &&
	    store_column_text(s, 3, u->password_hash, sizeof(u->password_hash), err) != 0)
		return -1;
	u->quota = sqlite3_column_int64(s, 4);
	u->used = sqlite3_column_int64(s, 5);
	return 0;
}

/* Run a user query (parameters bound) expecting one row. */
static int
store_user_fetch(struct store *st, sqlite3_stmt *s, struct store_user *u, const char *what,
		 struct store_err *err)
{
	int rc = store_step(st, s, "user", err);

	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_NOTFOUND, "no user %s", what);
	}
	rc = store_user_row(s, u, 1, err);
	sqlite3_reset(s);
	return rc;
}

int
store_user_get(struct store *st, const char *address, struct store_user *u, struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS " WHERE d.name = ?1 AND u.local = ?2";
	char local[STORE_LOCAL_MAX + 1], domain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (store_address_split(address, 0, local, domain, err) != 0)
		return -1;
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	return store_user_fetch(st, s, u, "with that address", err);
}

int
store_user_get_id(struct store *st, int64_t id, struct store_user *u, struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS " WHERE u.id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	return store_user_fetch(st, s, u, "with that id", err);
}

/* A row of STORE_USER_COLUMNS for a list: no password hash. */
static int
store_user_listed(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	return store_user_row(s, elem, 0, err);
}

int
store_user_list(struct store *st, const char *domain, struct store_user **list_r, size_t *n_r,
		struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_USER_COLUMNS
				  " WHERE ?1 IS NULL OR d.name = ?1 ORDER BY d.name, u.local";
	char norm[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	void *list;
	int rc;

	if (domain != NULL && store_domain_norm(domain, strlen(domain), norm) != 0)
		return store_fail(err, STORE_E_INVALID, "bad domain (a host name like example.com)");
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	rc = domain != NULL ? sqlite3_bind_text(s, 1, norm, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 1);
	if (rc != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_rows(st, s, "list users", sizeof(**list_r), store_user_listed, &list, n_r, err) != 0)
		return -1;
	*list_r = list;
	return 0;
}

/* ---- aliases ----------------------------------------------------------- */

int
store_alias_add(struct store *st, const char *alias, const char *user, struct store_err *err)
{
	static const char sql[] = "INSERT INTO aliases (domain_id, local, user_id) VALUES (?1, ?2, ?3)";
	char alocal[STORE_LOCAL_MAX + 1], adomain[STORE_DOMAIN_MAX + 1];
	char ulocal[STORE_LOCAL_MAX + 1], udomain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int64_t domain_id, user_id, taken;
	int rc;

	if (store_address_split(alias, 1, alocal, adomain, err) != 0 ||
	    store_address_split(user, 0, ulocal, udomain, err) != 0)
		return -1;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_domain_id(st, adomain, &domain_id, err) != 0)
		goto fail;
	if (domain_id == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no domain %s (add it first)", adomain);
		goto fail;
	}
	if (alocal[0] != '\0') {
		if (store_user_id(st, alocal, adomain, &taken, err) != 0)
			goto fail;
		if (taken != 0) {
			store_fail(err, STORE_E_EXISTS, "%s@%s is a user", alocal, adomain);
			goto fail;
		}
	}
	if (store_user_id(st, ulocal, udomain, &user_id, err) != 0)
		goto fail;
	if (user_id == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no user %s@%s", ulocal, udomain);
		goto fail;
	}
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, domain_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, alocal, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, user_id)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "add alias", err) < 0) {
		if (err->code == STORE_E_EXISTS)
			store_fail(err, STORE_E_EXISTS, "alias %s@%s already delivers to %s@%s",
				   alocal, adomain, ulocal, udomain);
		goto fail;
	}
	sqlite3_reset(s);
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

int
store_alias_remove(struct store *st, const char *alias, const char *user, struct store_err *err)
{
	static const char sql[] =
		"DELETE FROM aliases WHERE domain_id = (SELECT id FROM domains WHERE name = ?1)"
		" AND local = ?2 AND (?3 IS NULL OR user_id = (SELECT u.id FROM users u"
		" JOIN domains d ON d.id = u.domain_id WHERE d.name = ?4 AND u.local = ?3))";
	char alocal[STORE_LOCAL_MAX + 1], adomain[STORE_DOMAIN_MAX + 1];
	char ulocal[STORE_LOCAL_MAX + 1], udomain[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (store_address_split(alias, 1, alocal, adomain, err) != 0 ||
	    (user != NULL && store_address_split(user, 0, ulocal, udomain, err) != 0))
		return -1;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	rc = sqlite3_bind_text(s, 1, adomain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 2, alocal, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && user != NULL)
		rc = sqlite3_bind_text(s, 3, ulocal, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && user != NULL)
		rc = sqlite3_bind_text(s, 4, udomain, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "remove alias", err) < 0)
		goto fail;
	sqlite3_reset(s);
	if (sqlite3_changes(st->db) == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no such alias");
		goto fail;
	}
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

static int
store_alias_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	struct store_alias *a = elem;
	char alocal[STORE_LOCAL_MAX + 1], adomain[STORE_DOMAIN_MAX + 1];
	char ulocal[STORE_LOCAL_MAX + 1], udomain[STORE_DOMAIN_MAX + 1];

	if (store_column_text(s, 0, alocal, sizeof(alocal), err) != 0 ||
	    store_column_text(s, 1, adomain, sizeof(adomain), err) != 0 ||
	    store_column_text(s, 2, ulocal, sizeof(ulocal), err) != 0 ||
	    store_column_text(s, 3, udomain, sizeof(udomain), err) != 0 ||
	    store_address_join(alocal, adomain, a->alias, err) != 0 ||
	    store_address_join(ulocal, udomain, a->user, err) != 0)
		return -1;
	return 0;
}

int
store_alias_list(struct store *st, const char *domain, struct store_alias **list_r, size_t *n_r,
		 struct store_err *err)
{
	static const char sql[] =
		"SELECT a.local, ad.name, u.local, ud.name FROM aliases a"
		" JOIN domains ad ON ad.id = a.domain_id JOIN users u ON u.id = a.user_id"
		" JOIN domains ud ON ud.id = u.domain_id WHERE ?1 IS NULL OR ad.name = ?1"
		" ORDER BY ad.name, a.local, ud.name, u.local";
	char norm[STORE_DOMAIN_MAX + 1];
	sqlite3_stmt *s;
	void *list;
	int rc;

	if (domain != NULL && store_domain_norm(domain, strlen(domain), norm) != 0)
		return store_fail(err, STORE_E_INVALID, "bad domain (a host name like example.com)");
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	rc = domain != NULL ? sqlite3_bind_text(s, 1, norm, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 1);
	if (rc != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_rows(st, s, "list aliases", sizeof(**list_r), store_alias_row, &list, n_r, err) != 0)
		return -1;
	*list_r = list;
	return 0;
}

/* ---- resolving a recipient ------------------------------------------- */

/* Append the users of alias local in domain_id to ids. */
static int
store_resolve_alias(struct store *st, int64_t domain_id, const char *local, size_t llen,
		    int64_t *ids, size_t cap, size_t *n_r, struct store_err *err)
{
	static const char sql[] =
		"SELECT user_id FROM aliases WHERE domain_id = ?1 AND local = ?2 ORDER BY user_id";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, domain_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, (int)llen, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	while ((rc = store_step(st, s, "resolve alias", err)) == SQLITE_ROW) {
		if (*n_r == cap) {
			sqlite3_reset(s);
			return store_fail(err, STORE_E_INTERNAL, "an alias with more than %zu users",
					  cap);
		}
		ids[(*n_r)++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	return rc < 0 ? -1 : 0;
}

int
store_resolve(struct store *st, const char *local, const char *domain, int64_t *ids, size_t cap,
	      size_t *n_r, struct store_err *err)
{
	static const char user[] = "SELECT id FROM users WHERE domain_id = ?1 AND local = ?2";
	char norm[STORE_DOMAIN_MAX + 1];
	size_t llen = strlen(local);
	sqlite3_stmt *s;
	int64_t domain_id;
	int rc;

	*n_r = 0;
	if (llen == 0 || llen > STORE_LOCAL_MAX ||
	    store_domain_norm(domain, strlen(domain), norm) != 0)
		return 0;
	if (store_domain_id(st, norm, &domain_id, err) != 0)
		return -1;
	if (domain_id == 0)
		return 0;

	if ((s = store_stmt(st, user, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, domain_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, local, (int)llen, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "resolve user", err);
	if (rc < 0)
		return -1;
	if (rc == SQLITE_ROW) {
		if (cap == 0) {
			sqlite3_reset(s);
			return store_fail(err, STORE_E_INTERNAL, "no room for one user");
		}
		ids[(*n_r)++] = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);

	if (store_resolve_alias(st, domain_id, local, llen, ids, cap, n_r, err) != 0)
		return -1;
	if (*n_r > 0)
		return 0;
	return store_resolve_alias(st, domain_id, "", 0, ids, cap, n_r, err);
}

/* ---- bodies ------------------------------------------------------------ */

/*
 * Copy up to cap bytes of body_id's chunks from offset, pending or not,
 * stopping at size and at the end of one chunk.
 */
int
store_body_chunks(struct store *st, int64_t body_id, int64_t offset, int64_t size, uint8_t *buf,
		  size_t cap, size_t *len_r, struct store_err *err)
{
	static const char chunk_sql[] =
		"SELECT start, data FROM body_chunks WHERE body_id = ?1 AND start <= ?2"
		" ORDER BY start DESC LIMIT 1";
	sqlite3_stmt *s;
	int64_t start, blen;
	const uint8_t *data;
	size_t n;
	int rc;

	*len_r = 0;
	if (offset >= size || cap == 0)
		return 0;
	if ((s = store_stmt(st, chunk_sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, offset)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "body chunk", err);
	if (rc < 0)
		return -1;
	start = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	data = rc == SQLITE_ROW ? sqlite3_column_blob(s, 1) : NULL;
	blen = rc == SQLITE_ROW ? sqlite3_column_bytes(s, 1) : 0;
	if (data == NULL || start + blen <= offset) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_CORRUPT, "body %lld has no bytes at %lld of %lld",
				  (long long)body_id, (long long)offset, (long long)size);
	}
	if (start + blen > size)
		blen = size - start;
	n = (size_t)(start + blen - offset);
	if (n > cap)
		n = cap;
	memcpy(buf, data + (offset - start), n);
	sqlite3_reset(s);
	*len_r = n;
	return 0;
}

/* Copy body_id's bytes from offset into buf (inside a read transaction). */
static int
store_body_copy(struct store *st, int64_t body_id, int64_t offset, uint8_t *buf, size_t cap,
		size_t *len_r, struct store_err *err)
{
	static const char size_sql[] = "SELECT size FROM bodies WHERE id = ?1 AND pending = 0";
	sqlite3_stmt *s;
	int64_t size;
	size_t got = 0, n;
	int rc;

	if ((s = store_stmt(st, size_sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "body", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_NOTFOUND, "no body %lld", (long long)body_id);
	}
	size = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);

	while (got < cap && offset < size) {
		if (store_body_chunks(st, body_id, offset, size, buf + got, cap - got, &n, err) != 0)
			return -1;
		got += n;
		offset += (int64_t)n;
	}
	*len_r = got;
	return 0;
}

int
store_body_read(struct store *st, int64_t body_id, int64_t offset, void *buf, size_t cap,
		size_t *len_r, struct store_err *err)
{
	static const char begin[] = "BEGIN";
	static const char end[] = "COMMIT";
	int rc;

	if (offset < 0)
		return store_fail(err, STORE_E_INVALID, "negative offset");
	/* One snapshot for all the chunks, though another process may expunge. */
	if (store_exec(st, begin, "begin", err) != 0)
		return -1;
	rc = store_body_copy(st, body_id, offset, buf, cap, len_r, err);
	if (rc == 0 && store_exec(st, end, "commit", err) != 0)
		rc = -1;
	store_rollback(st);
	return rc;
}

/* ---- delivery ---------------------------------------------------------- */

struct store_delivery *
store_delivery_begin(struct store *st, const char *mail_from, struct store_err *err)
{
	struct store_delivery *d;

	if (store_envelope_check(mail_from, 1) != 0) {
		store_fail(err, STORE_E_INVALID, "bad envelope sender");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		store_fail(err, STORE_E_NOMEM, "out of memory");
		return NULL;
	}
	d->st = st;
	d->state = STORE_DELIVERY_OPEN;
	snprintf(d->mail_from, sizeof(d->mail_from), "%s", mail_from);
	if (mime_parser_new(NULL, &d->mp) != 0) {
		free(d);
		store_fail(err, STORE_E_NOMEM, "out of memory");
		return NULL;
	}
	return d;
}

int
store_delivery_add_user(struct store_delivery *d, int64_t user_id, struct store_err *err)
{
	if (d->state != STORE_DELIVERY_OPEN)
		return store_fail(err, STORE_E_INVALID, "delivery already committed or failed");
	if (d->mailbox_id != 0)
		return store_fail(err, STORE_E_INVALID, "an APPEND has no other recipients");
	for (size_t i = 0; i < d->nusers; i++) {
		if (d->users[i] == user_id)
			return 0;
	}
	if (d->nusers + d->nremote >= STORE_RCPT_MAX)
		return store_fail(err, STORE_E_INVALID, "more than %d recipients", STORE_RCPT_MAX);
	d->users[d->nusers++] = user_id;
	return 0;
}

int
store_delivery_add_remote(struct store_delivery *d, const char *rcpt, struct store_err *err)
{
	char *copy;

	if (d->state != STORE_DELIVERY_OPEN)
		return store_fail(err, STORE_E_INVALID, "delivery already committed or failed");
	if (d->mailbox_id != 0)
		return store_fail(err, STORE_E_INVALID, "an APPEND has no other recipients");
	if (store_envelope_check(rcpt, 0) != 0)
		return store_fail(err, STORE_E_INVALID, "bad remote recipient");
	for (size_t i = 0; i < d->nremote; i++) {
		if (strcmp(d->remote[i], rcpt) == 0)
			return 0;
	}
	if (d->nusers + d->nremote >= STORE_RCPT_MAX)
		return store_fail(err, STORE_E_INVALID, "more than %d recipients", STORE_RCPT_MAX);
	if ((copy = strdup(rcpt)) == NULL)
		return store_fail(err, STORE_E_NOMEM, "out of memory");
	d->remote[d->nremote++] = copy;
	return 0;
}

int
store_delivery_add_mailbox(struct store_delivery *d, int64_t mailbox_id, unsigned flags,
			   const char *keywords, struct store_err *err)
{
	static const char sql[] = "SELECT 1 FROM mailboxes WHERE id = ?1";
	struct store *st = d->st;
	sqlite3_stmt *s;
	int rc;

	if (d->state != STORE_DELIVERY_OPEN)
		return store_fail(err, STORE_E_INVALID, "delivery already committed or failed");
	if (d->mailbox_id != 0 || d->nusers + d->nremote > 0)
		return store_fail(err, STORE_E_INVALID, "an APPEND goes to one mailbox and nowhere else");
	if ((flags & ~(unsigned)STORE_FLAGS_ALL) != 0)
		return store_fail(err, STORE_E_INVALID, "unknown flags 0x%x", flags);
	if (store_keywords_check(keywords, err) != 0)
		return -1;
	/* Checked now, so that IMAP can say TRYCREATE before the message is sent. */
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "mailbox", err);
	if (rc < 0)
		return -1;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(err, STORE_E_NOTFOUND, "no mailbox %lld", (long long)mailbox_id);
	d->mailbox_id = mailbox_id;
	d->flags = flags;
	snprintf(d->keywords, sizeof(d->keywords), "%s", keywords);
	return 0;
}

/*
 * Inside a transaction: make the pending body row if there is none yet
 * (*created_r = 1) and write the buffered bytes as its next chunk. The
 * caller resets d->body_id if the transaction does not commit.
 */
static int
store_delivery_put(struct store_delivery *d, int *created_r, struct store_err *err)
{
	static const char body_sql[] = "INSERT INTO bodies (pending, created) VALUES (1, ?1)";
	static const char chunk_sql[] =
		"INSERT INTO body_chunks (body_id, start, data) VALUES (?1, ?2, ?3)";
	struct store *st = d->st;
	sqlite3_stmt *s;
	int rc;

	*created_r = 0;
	if (d->body_id == 0) {
		if ((s = store_stmt(st, body_sql, err)) == NULL)
			return -1;
		if ((rc = sqlite3_bind_int64(s, 1, (int64_t)time(NULL))) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		if (store_step(st, s, "new body", err) < 0)
			return -1;
		sqlite3_reset(s);
		d->body_id = sqlite3_last_insert_rowid(st->db);
		*created_r = 1;
	}
	if (d->fill == 0)
		return 0;
	if ((s = store_stmt(st, chunk_sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, d->body_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, d->flushed)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 3, d->buf, (int)d->fill, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "body chunk", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

/*
 * Write the full buffer as a chunk in a transaction of its own. It need
 * not be durable (synchronous=NORMAL): nothing refers to a pending body,
 * and the commit's fsync of the WAL makes these frames durable too.
 */
static int
store_delivery_flush(struct store_delivery *d, struct store_err *err)
{
	struct store *st = d->st;
	int created = 0;

	if (store_begin(st, STORE_SYNC_NORMAL, err) != 0)
		return -1;
	if (store_delivery_put(d, &created, err) != 0) {
		store_rollback(st);
		goto fail;
	}
	if (store_commit(st, err) != 0)
		goto fail;
	d->flushed += (int64_t)d->fill;
	d->fill = 0;
	return 0;
fail:
	if (created)
		d->body_id = 0;
	return -1;
}

int
store_delivery_write(struct store_delivery *d, const void *data, size_t len,
		     struct store_err *err)
{
	const uint8_t *p = data;
	size_t n;

	if (d->state != STORE_DELIVERY_OPEN)
		return store_fail(err, STORE_E_INVALID, "delivery already committed or failed");
	if (len > (uint64_t)(STORE_BODY_MAX - d->size)) {
		d->state = STORE_DELIVERY_FAILED;
		return store_fail(err, STORE_E_TOOBIG, "message larger than %lld bytes",
				  (long long)STORE_BODY_MAX);
	}
	if (mime_parser_feed(d->mp, data, len) != 0) {
		d->state = STORE_DELIVERY_FAILED;
		return store_fail(err, STORE_E_NOMEM, "out of memory (MIME structure)");
	}
	if (d->hashing)
		crypto_hash_sha256_update(&d->hash, data, len);
	while (len > 0) {
		if (d->fill == sizeof(d->buf) && store_delivery_flush(d, err) != 0) {
			d->state = STORE_DELIVERY_FAILED;
			return -1;
		}
		n = sizeof(d->buf) - d->fill;
		if (n > len)
			n = len;
		memcpy(d->buf + d->fill, p, n);
		d->fill += n;
		d->size += (int64_t)n;
		p += n;
		len -= n;
	}
	return 0;
}

/* Charge size to a user's quota. Returns 0, or -1 (STORE_E_QUOTA, STORE_E_NOTFOUND). */
int
store_user_charge(struct store *st, int64_t user_id, int64_t size, struct store_err *err)
{
	static const char charge[] =
		"UPDATE users SET used_bytes = used_bytes + ?2 WHERE id = ?1"
		" AND (quota_bytes = 0 OR used_bytes + ?2 <= quota_bytes)";
	static const char exists[] = "SELECT used_bytes, quota_bytes FROM users WHERE id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, charge, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, size)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "quota", err) < 0)
		return -1;
	sqlite3_reset(s);
	if (sqlite3_changes(st->db) == 1)
		return 0;

	if ((s = store_stmt(st, exists, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "quota", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_NOTFOUND, "no user %lld", (long long)user_id);
	}
	store_fail(err, STORE_E_QUOTA, "user %lld: %lld of %lld bytes used, message of %lld",
		   (long long)user_id, (long long)sqlite3_column_int64(s, 0),
		   (long long)sqlite3_column_int64(s, 1), (long long)size);
	sqlite3_reset(s);
	return -1;
}

/*
 * One message of the delivery into the mailbox next picks (?1: a user's
 * INBOX by the user's id, or a mailbox by its id): that mailbox's next UID
 * and MODSEQ, its owner's quota charged, the row with flags and keywords.
 * No such mailbox (or no UID left in it): missing_code. *uid_r and
 * *validity_r (may be NULL) get the message's UID and the UIDVALIDITY.
 */
static int
store_delivery_insert(struct store_delivery *d, const char *next, int64_t key, int missing_code, unsigned flags,
		      const char *keywords, int64_t internal_date, uint32_t *uid_r, uint32_t *validity_r,
		      struct store_err *err)
{
	static const char insert[] =
		"INSERT INTO messages (mailbox_id, uid, modseq, internal_date, size, flags, keywords, body_id)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	struct store *st = d->st;
	sqlite3_stmt *s;
	int64_t mailbox_id, user_id, uidvalidity, uid, modseq;
	int rc;

	if ((s = store_stmt(st, next, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, key)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "next uid", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, missing_code, "no mailbox for %lld (or no UID left in it)", (long long)key);
	}
	mailbox_id = sqlite3_column_int64(s, 0);
	user_id = sqlite3_column_int64(s, 1);
	uidvalidity = sqlite3_column_int64(s, 2);
	uid = sqlite3_column_int64(s, 3);
	modseq = sqlite3_column_int64(s, 4);
	sqlite3_reset(s);
	store_changed(st, mailbox_id);
	if (store_user_charge(st, user_id, d->size, err) != 0 || (s = store_stmt(st, insert, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, modseq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, internal_date)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, d->size)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 6, flags)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 7, keywords, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 8, d->body_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "new message", err) < 0)
		return -1;
	sqlite3_reset(s);
	if (uid_r != NULL)
		*uid_r = (uint32_t)uid;
	if (validity_r != NULL)
		*validity_r = (uint32_t)uidvalidity;
	return 0;
}

#define STORE_NEXT_UID \
	"UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 WHERE "
#define STORE_NEXT_UID_RETURNING \
	" AND uidnext < 4294967295 RETURNING id, user_id, uidvalidity, uidnext - 1, highestmodseq"

/* Give one user the message in INBOX (a user without one is a bug: temporary). */
static int
store_delivery_message(struct store_delivery *d, int64_t user_id, int64_t internal_date,
		       struct store_err *err)
{
	static const char inbox[] = STORE_NEXT_UID "user_id = ?1 AND name = 'INBOX'" STORE_NEXT_UID_RETURNING;

	return store_delivery_insert(d, inbox, user_id, STORE_E_INTERNAL, 0, "", internal_date, NULL, NULL, err);
}

/* APPEND: the message into d->mailbox_id with its flags; its UID and UIDVALIDITY into d. */
static int
store_delivery_append(struct store_delivery *d, int64_t internal_date, struct store_err *err)
{
	static const char byid[] = STORE_NEXT_UID "id = ?1" STORE_NEXT_UID_RETURNING;

	return store_delivery_insert(d, byid, d->mailbox_id, STORE_E_NOTFOUND, d->flags, d->keywords, internal_date,
				     &d->uid, &d->uidvalidity, err);
}

/* Queue the body for one remote recipient. */
static int
store_delivery_queue(struct store_delivery *d, const char *rcpt, int64_t now,
		     struct store_err *err)
{
	static const char sql[] =
		"INSERT INTO queue (body_id, mail_from, rcpt, created, next_attempt)"
		" VALUES (?1, ?2, ?3, ?4, ?4)";
	struct store *st = d->st;
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, d->body_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, d->mail_from, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 3, rcpt, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, now)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "queue", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

/*
 * The part of a commit that runs inside the transaction: mark the body
 * complete with its MIME blob, give each local user a message (or the
 * APPEND's mailbox its message), queue each remote recipient, charge the
 * quotas. Its text goes into the index later (store_text_backfill(), or
 * a search's catch-up): the index costs about ten times the rest of a
 * delivery, and an acknowledgement should not wait for it. It neither
 * begins nor commits, so that a group commit can later run it for several
 * deliveries in one transaction.
 */
static int
store_delivery_link(struct store_delivery *d, int64_t internal_date, const uint8_t *blob,
		    size_t blob_len, struct store_err *err)
{
	static const char complete[] =
		"UPDATE bodies SET pending = 0, size = ?2, mime = ?3 WHERE id = ?1 AND pending = 1";
	struct store *st = d->st;
	sqlite3_stmt *s;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (blob_len > INT32_MAX)
		return store_fail(err, STORE_E_TOOBIG, "MIME structure of %zu bytes", blob_len);
	if ((s = store_stmt(st, complete, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, d->body_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, d->size)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(s, 3, blob, (int)blob_len, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "complete body", err) < 0)
		return -1;
	sqlite3_reset(s);
	if (sqlite3_changes(st->db) != 1)
		return store_fail(err, STORE_E_INTERNAL,
				  "pending body %lld is gone (opened with STORE_OPEN_RECOVER elsewhere?)",
				  (long long)d->body_id);
	if (d->mailbox_id != 0 && store_delivery_append(d, internal_date, err) != 0)
		return -1;
	for (size_t i = 0; i < d->nusers; i++) {
		if (store_delivery_message(d, d->users[i], internal_date, err) != 0)
			return -1;
	}
	for (size_t i = 0; i < d->nremote; i++) {
		if (store_delivery_queue(d, d->remote[i], now, err) != 0)
			return -1;
	}
	return 0;
}

/* Before the commit's transaction: the MIME table, as a blob. */
static int
store_delivery_structure(struct store_delivery *d, uint8_t **blob_r, size_t *blob_len_r, struct store_err *err)
{
	struct mime *m = NULL;
	int rc = 0;

	if (mime_parser_finish(d->mp, &m) != 0 || mime_blob_write(m, blob_r, blob_len_r) != 0)
		rc = store_fail(err, STORE_E_NOMEM, "out of memory (MIME structure)");
	else if (m->flags & MIME_F_LIMIT)
		log_info(NULL, "store_index", "size=%lld mime_limit=1", (long long)d->size);
	if (rc == 0 && m->parts[0].envelope != MIME_NONE)
		d->has_message_id = m->envs[m->parts[0].envelope].field[MIME_ENV_MESSAGE_ID].len > 0;
	mime_free(&m);
	return rc;
}

void
store_delivery_content(struct store_delivery *d)
{
	crypto_hash_sha256_init(&d->hash);
	crypto_hash_sha256_update(&d->hash, (const uint8_t *)d->mail_from, strlen(d->mail_from) + 1);
	d->hashing = 1;
}

size_t
store_delivery_duplicates(const struct store_delivery *d)
{
	return d->duplicates;
}

/*
 * Inside the commit's transaction: drop the local users who were given
 * this message (same digest) within STORE_DEDUP_WINDOW, remember it for
 * the others, forget what is older.
 */
static int
store_delivery_dedup(struct store_delivery *d, struct store_err *err)
{
	static const char expire_sql[] = "DELETE FROM delivered WHERE at < ?1";
	static const char seen_sql[] = "SELECT 1 FROM delivered WHERE user_id = ?1 AND digest = ?2";
	static const char note_sql[] = "INSERT INTO delivered (user_id, digest, at) VALUES (?1, ?2, ?3)";
	uint8_t digest[crypto_hash_sha256_BYTES];
	struct store *st = d->st;
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *s;
	size_t kept = 0;
	int rc;

	crypto_hash_sha256_final(&d->hash, digest);
	d->hashing = 0;
	if ((s = store_stmt(st, expire_sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, now - STORE_DEDUP_WINDOW)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "expire delivered", err) < 0)
		return -1;
	sqlite3_reset(s);
	for (size_t i = 0; i < d->nusers; i++) {
		int seen;

		if ((s = store_stmt(st, seen_sql, err)) == NULL)
			return -1;
		if ((rc = sqlite3_bind_int64(s, 1, d->users[i])) != SQLITE_OK ||
		    (rc = sqlite3_bind_blob(s, 2, digest, sizeof(digest), SQLITE_STATIC)) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		if ((seen = store_step(st, s, "find delivered", err)) < 0)
			return -1;
		sqlite3_reset(s);
		if (seen == SQLITE_ROW) {
			d->duplicates++;
			continue;
		}
		if ((s = store_stmt(st, note_sql, err)) == NULL)
			return -1;
		if ((rc = sqlite3_bind_int64(s, 1, d->users[i])) != SQLITE_OK ||
		    (rc = sqlite3_bind_blob(s, 2, digest, sizeof(digest), SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(s, 3, now)) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		if (store_step(st, s, "note delivered", err) < 0)
			return -1;
		sqlite3_reset(s);
		d->users[kept++] = d->users[i];
	}
	d->nusers = kept;
	return 0;
}

static void store_delivery_discard(struct store_delivery *d);

int
store_delivery_commit(struct store_delivery *d, int64_t internal_date, struct store_err *err)
{
	struct store *st = d->st;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	int created = 0;

	if (d->state != STORE_DELIVERY_OPEN)
		return store_fail(err, STORE_E_INVALID, "delivery already committed or failed");
	if (d->nusers + d->nremote == 0 && d->mailbox_id == 0) {
		store_fail(err, STORE_E_INVALID, "a delivery without recipients");
		goto fail;
	}
	if (store_delivery_structure(d, &blob, &blob_len, err) != 0)
		goto fail;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		goto fail;
	/* Without a Message-ID two equal messages may be two messages (alerts): no check. */
	if (d->hashing && d->has_message_id && store_delivery_dedup(d, err) != 0) {
		store_rollback(st);
		goto fail;
	}
	if (d->nusers + d->nremote == 0 && d->mailbox_id == 0) {
		/* Every recipient has it already: a retry of a message whose 250 was lost. */
		store_rollback(st);
		store_delivery_discard(d);
		d->body_id = 0;
		d->state = STORE_DELIVERY_COMMITTED;
		free(blob);
		return 0;
	}
	if (store_delivery_put(d, &created, err) != 0 ||
	    store_delivery_link(d, internal_date, blob, blob_len, err) != 0) {
		store_rollback(st);
		goto fail;
	}
	/* synchronous=FULL: COMMIT returns after the WAL is fsync'd. */
	if (store_commit(st, err) != 0)
		goto fail;
	d->flushed += (int64_t)d->fill;
	d->fill = 0;
	d->state = STORE_DELIVERY_COMMITTED;
	free(blob);
	return 0;
fail:
	if (created)
		d->body_id = 0;
	d->state = STORE_DELIVERY_FAILED;
	d->uid = 0;
	d->uidvalidity = 0;
	free(blob);
	return -1;
}

int64_t
store_delivery_body_id(const struct store_delivery *d)
{
	return d->state == STORE_DELIVERY_COMMITTED ? d->body_id : 0;
}

uint32_t
store_delivery_uid(const struct store_delivery *d)
{
	return d->state == STORE_DELIVERY_COMMITTED ? d->uid : 0;
}

uint32_t
store_delivery_uidvalidity(const struct store_delivery *d)
{
	return d->state == STORE_DELIVERY_COMMITTED ? d->uidvalidity : 0;
}

/* Delete an uncommitted delivery's pending body, if it has one. */
static void
store_delivery_discard(struct store_delivery *d)
{
	static const char sql[] = "DELETE FROM bodies WHERE id = ?1 AND pending = 1";
	struct store *st = d->st;
	struct store_err err;
	sqlite3_stmt *s;
	int rc;

	if (d->body_id == 0)
		return;
	/* Not durable on purpose: a lost delete is redone by STORE_OPEN_RECOVER. */
	if (store_begin(st, STORE_SYNC_NORMAL, &err) != 0)
		goto fail;
	if ((s = store_stmt(st, sql, &err)) == NULL)
		goto rollback;
	if ((rc = sqlite3_bind_int64(s, 1, d->body_id)) != SQLITE_OK) {
		store_sqlite_fail(st, &err, rc, "bind");
		goto rollback;
	}
	if (store_step(st, s, "discard body", &err) < 0)
		goto rollback;
	sqlite3_reset(s);
	if (store_commit(st, &err) != 0)
		goto fail;
	return;
rollback:
	store_rollback(st);
fail:
	log_warn(NULL, "store_discard", "body=%lld result=failed error=\"%s\"",
		 (long long)d->body_id, err.msg);
}

void
store_delivery_free(struct store_delivery **dp)
{
	struct store_delivery *d;

	if (dp == NULL || *dp == NULL)
		return;
	d = *dp;
	if (d->state != STORE_DELIVERY_COMMITTED)
		store_delivery_discard(d);
	for (size_t i = 0; i < d->nremote; i++)
		free(d->remote[i]);
	mime_parser_free(&d->mp);
	free(d);
	*dp = NULL;
}
