/*
 * store_int.h: what the store's own files (store.c, store_mailbox.c, store_text.c)
 * share, and nothing outside the store may include: the connection and the
 * helpers every SQL call goes through. The rules they keep are at the top
 * of store.c.
 */
#ifndef HOMEPORT_STORE_INT_H
#define HOMEPORT_STORE_INT_H

#include <sqlite3.h>

#include "home.h"
#include "mime.h"

enum store_sync {
	STORE_SYNC_UNKNOWN = 0,
	STORE_SYNC_NORMAL,
	STORE_SYNC_FULL,
};

struct store_stmt_slot {
	const char *sql;	/* a static string: its address is the key */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	int sync;		/* enum store_sync: what PRAGMA synchronous is now */
	size_t nstmts;
	struct store_stmt_slot stmts[STORE_STMTS_MAX];
	store_notify_fn notify;	/* told of each changed mailbox after a commit; may be NULL */
	void *notify_arg;
	size_t nchanged;	/* mailboxes the open transaction changed */
	int64_t changed[STORE_CHANGED_MAX];
	int changed_overflow;	/* more than fit: tell "every mailbox" (0) */
	int text_ready;		/* the schema has body_text (v3): commits purge it */
	struct mime_iconv *iconv; /* charsets mime_word does not know */
};

/* Fill err with code and the formatted message. Returns -1. */
int store_fail(struct store_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fill err from an SQLite failure rc while doing what. Returns -1. */
int store_sqlite_fail(struct store *st, struct store_err *err, int rc, const char *what);

/* The prepared statement for sql (a static string), reset and unbound, or NULL with err set. */
sqlite3_stmt *store_stmt(struct store *st, const char *sql, struct store_err *err);

/* Step s. Returns SQLITE_ROW or SQLITE_DONE, or -1 with err set (and s reset). */
int store_step(struct store *st, sqlite3_stmt *s, const char *what, struct store_err *err);

/* Start a write transaction whose commit syncs as sync says. Returns 0, or -1 with err set. */
int store_begin(struct store *st, int sync, struct store_err *err);

/* Commit. Returns 0, or -1 with err set and the transaction rolled back. */
int store_commit(struct store *st, struct store_err *err);

/* The open transaction changes mailbox_id: it is told after the commit. */
void store_changed(struct store *st, int64_t mailbox_id);

/* Roll back the open transaction, if SQLite has not done so already. */
void store_rollback(struct store *st);

/*
 * Make room for entry n of list, an array of *cap entries of elem bytes.
 * Returns the array (perhaps moved), or NULL with err set and list intact.
 */
void *store_list_grow(void *list, size_t *cap, size_t n, size_t elem, struct store_err *err);

/* Fills one element of a list from the current row of s. Returns 0, or -1 with err set. */
typedef int (*store_row_fn)(sqlite3_stmt *s, void *elem, struct store_err *err);

/*
 * Step s (prepared and bound) to its end, one element of elem bytes per
 * row, filled by row(); s is reset. Returns 0 with a malloc'd array in
 * *list_r of *n_r elements (NULL and 0 for none), or -1 with err set and
 * nothing kept.
 */
int store_rows(struct store *st, sqlite3_stmt *s, const char *what, size_t elem, store_row_fn row,
	       void **list_r, size_t *n_r, struct store_err *err);

/* Copy text column i into out[0..cap). Returns 0, or -1 if it does not fit. */
int store_column_text(sqlite3_stmt *s, int i, char *out, size_t cap, struct store_err *err);

/* IMAP keywords: atoms (RFC 3501 atom, not starting with '\'), one space apart. */
int store_keywords_check(const char *kw, struct store_err *err);

/* The next UIDVALIDITY (inside a transaction): larger than every earlier one. */
int store_next_uidvalidity(struct store *st, int64_t *v_r, struct store_err *err);

/*
 * Add size bytes to a user's usage if the quota allows (inside a
 * transaction). Returns 0, or -1 (STORE_E_QUOTA, STORE_E_NOTFOUND).
 */
int store_user_charge(struct store *st, int64_t user_id, int64_t size, struct store_err *err);

/*
 * Copy up to cap bytes of body_id's chunks from offset, pending or not,
 * stopping at size (the body's length) and at the end of one chunk:
 * *len_r may be less than asked. Returns 0, or -1 (STORE_E_CORRUPT when
 * a chunk is missing).
 */
int store_body_chunks(struct store *st, int64_t body_id, int64_t offset, int64_t size, uint8_t *buf,
		      size_t cap, size_t *len_r, struct store_err *err);

/* ---- store_text.c ---- */

/* Write body_id's row of body_text from t (inside a transaction). Returns 0 or -1. */
int store_text_insert(struct store *st, int64_t body_id, const struct mime_text *t, struct store_err *err);

/*
 * Remove the body_text rows of the bodies the open transaction deleted
 * (the bodies_deleted trigger noted them). store_commit() runs it.
 * Returns 0 or -1.
 */
int store_text_purge(struct store *st, struct store_err *err);

#endif
