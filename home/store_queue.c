/*
 * store_queue: the outbound queue in mail.db. A submitted message's body
 * is stored once; each remote recipient is one row that names it
 * (store_delivery_commit writes them). The queue runner (queue.c) reads
 * the rows that are due, and after each attempt removes a row (delivered,
 * bounced) or defers it; `homeport queue` lists, retries and deletes.
 * A row leaves only by store_queue_remove: a crash between a remote
 * server's 250 and the removal sends the message again, never loses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "home.h"
#include "store_int.h"

#define STORE_QUEUE_COLUMNS \
	"id, body_id, mail_from, rcpt, created, next_attempt, attempts, last_error"

/* One entry delivered or bounced (?1 id); or tried and failed (?2 next attempt, ?3 why). */
#define STORE_QUEUE_REMOVE "DELETE FROM queue WHERE id = ?1"
#define STORE_QUEUE_DEFER \
	"UPDATE queue SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE id = ?1"

/* A row of STORE_QUEUE_COLUMNS into *q. Returns 0, or -1. */
static int
store_queue_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	struct store_queue_entry *q = elem;
	const unsigned char *e;

	memset(q, 0, sizeof(*q));
	q->id = sqlite3_column_int64(s, 0);
	q->body_id = sqlite3_column_int64(s, 1);
	if (store_column_text(s, 2, q->mail_from, sizeof(q->mail_from), err) != 0 ||
	    store_column_text(s, 3, q->rcpt, sizeof(q->rcpt), err) != 0)
		return -1;
	q->created = sqlite3_column_int64(s, 4);
	q->next_attempt = sqlite3_column_int64(s, 5);
	q->attempts = (int)sqlite3_column_int64(s, 6);
	/* Cut, not refused: an error text is for people. */
	if ((e = sqlite3_column_text(s, 7)) != NULL)
		snprintf(q->last_error, sizeof(q->last_error), "%s", (const char *)e);
	return 0;
}

/* Run s (bound) and collect its rows. Returns 0, or -1. */
static int
store_queue_collect(struct store *st, sqlite3_stmt *s, struct store_queue_entry **list_r,
		    size_t *n_r, struct store_err *err)
{
	void *list;

	if (store_rows(st, s, "list queue", sizeof(**list_r), store_queue_row, &list, n_r, err) != 0)
		return -1;
	*list_r = list;
	return 0;
}

int
store_queue_list(struct store *st, struct store_queue_entry **list_r, size_t *n_r,
		 struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_QUEUE_COLUMNS " FROM queue ORDER BY id";
	sqlite3_stmt *s;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	return store_queue_collect(st, s, list_r, n_r, err);
}

int
store_queue_due(struct store *st, int64_t now, size_t max, struct store_queue_entry **list_r,
		size_t *n_r, struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_QUEUE_COLUMNS " FROM queue"
				  " WHERE next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)max)) != SQLITE_OK) {
		sqlite3_reset(s);
		return store_sqlite_fail(st, err, rc, "bind");
	}
	return store_queue_collect(st, s, list_r, n_r, err);
}

int
store_queue_get(struct store *st, int64_t id, struct store_queue_entry *q_r, struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_QUEUE_COLUMNS " FROM queue WHERE id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK) {
		sqlite3_reset(s);
		return store_sqlite_fail(st, err, rc, "bind");
	}
	rc = store_step(st, s, "read queue entry", err);
	if (rc == SQLITE_ROW)
		rc = store_queue_row(s, q_r, err) == 0 ? 0 : -1;
	else if (rc >= 0)
		rc = store_fail(err, STORE_E_NOTFOUND, "no queue entry %lld", (long long)id);
	sqlite3_reset(s);
	return rc;
}

/* Inside a transaction: one UPDATE or DELETE of the queue, bound by bind(s, arg). Returns 0, or -1. */
static int
store_queue_apply(struct store *st, const char *sql, const char *what,
		  int (*bind)(sqlite3_stmt *s, const void *arg), const void *arg, struct store_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = bind(s, arg)) != SQLITE_OK) {
		sqlite3_reset(s);
		return store_sqlite_fail(st, err, rc, "bind");
	}
	rc = store_step(st, s, what, err);
	sqlite3_reset(s);
	return rc < 0 ? -1 : 0;
}

/*
 * Run one UPDATE or DELETE of the queue (bound by bind(s, arg)) in its own
 * durable transaction. *changed_r: rows changed. Returns 0, or -1.
 */
static int
store_queue_change(struct store *st, const char *sql, const char *what,
		   int (*bind)(sqlite3_stmt *s, const void *arg), const void *arg, size_t *changed_r,
		   struct store_err *err)
{
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_queue_apply(st, sql, what, bind, arg, err) != 0) {
		store_rollback(st);
		return -1;
	}
	*changed_r = (size_t)sqlite3_changes(st->db);
	return store_commit(st, err);
}

struct store_queue_args {
	int64_t id;
	int64_t when;
	const char *text;
};

static int
store_queue_bind_id(sqlite3_stmt *s, const void *arg)
{
	return sqlite3_bind_int64(s, 1, ((const struct store_queue_args *)arg)->id);
}

static int
store_queue_bind_defer(sqlite3_stmt *s, const void *arg)
{
	const struct store_queue_args *a = arg;
	size_t len = strnlen(a->text, STORE_QUEUE_ERROR_MAX - 1);
	int rc;

	if ((rc = sqlite3_bind_int64(s, 1, a->id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, a->when)) != SQLITE_OK)
		return rc;
	return sqlite3_bind_text(s, 3, a->text, (int)len, SQLITE_TRANSIENT);
}

static int
store_queue_bind_retry(sqlite3_stmt *s, const void *arg)
{
	const struct store_queue_args *a = arg;
	int rc;

	if ((rc = sqlite3_bind_int64(s, 1, a->id)) != SQLITE_OK)
		return rc;
	return sqlite3_bind_int64(s, 2, a->when);
}

int
store_queue_defer(struct store *st, int64_t id, int64_t next_attempt, const char *error,
		  struct store_err *err)
{
	struct store_queue_args a = { .id = id, .when = next_attempt, .text = error };
	size_t changed = 0;

	if (store_queue_change(st, STORE_QUEUE_DEFER, "defer queue entry", store_queue_bind_defer, &a,
			       &changed, err) != 0)
		return -1;
	if (changed == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no queue entry %lld", (long long)id);
	return 0;
}

int
store_queue_retry(struct store *st, int64_t id, int64_t now, size_t *n_r, struct store_err *err)
{
	static const char sql[] = "UPDATE queue SET next_attempt = ?2 WHERE ?1 = 0 OR id = ?1";
	struct store_queue_args a = { .id = id, .when = now };
	size_t changed = 0;

	if (store_queue_change(st, sql, "retry queue entry", store_queue_bind_retry, &a, &changed,
			       err) != 0)
		return -1;
	if (n_r != NULL)
		*n_r = changed;
	if (id != 0 && changed == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no queue entry %lld", (long long)id);
	return 0;
}

int
store_queue_remove(struct store *st, int64_t id, struct store_err *err)
{
	struct store_queue_args a = { .id = id };
	size_t changed = 0;

	if (store_queue_change(st, STORE_QUEUE_REMOVE, "remove queue entry", store_queue_bind_id, &a,
			       &changed, err) != 0)
		return -1;
	if (changed == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no queue entry %lld", (long long)id);
	return 0;
}

int
store_queue_settle(struct store *st, const struct store_queue_outcome *o, size_t n,
		   struct store_err *err)
{
	if (n == 0)
		return 0;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct store_queue_args a = { .id = o[i].id, .when = o[i].next_attempt,
					      .text = o[i].error != NULL ? o[i].error : "" };
		int rc = o[i].remove ? store_queue_apply(st, STORE_QUEUE_REMOVE, "remove queue entry",
							 store_queue_bind_id, &a, err)
				     : store_queue_apply(st, STORE_QUEUE_DEFER, "defer queue entry",
							 store_queue_bind_defer, &a, err);
		if (rc != 0) {
			store_rollback(st);
			return -1;
		}
	}
	return store_commit(st, err);
}
