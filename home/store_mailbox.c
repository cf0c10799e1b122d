/*
 * store_mailbox: mailboxes and the messages in them, as IMAP sees them:
 * listing, creating, renaming and deleting mailboxes, subscriptions, flags
 * and keywords with their MODSEQ, expunges (remembered for QRESYNC),
 * copies and moves. Part of the store (store_int.h): the same rules as
 * store.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "home.h"
#include "store_int.h"

/* ---- mailboxes and messages ------------------------------------------ */

#define STORE_MAILBOX_COLUMNS \
	"m.id, m.user_id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highestmodseq," \
	" (SELECT count(*) FROM messages WHERE mailbox_id = m.id) FROM mailboxes m"

static int
store_mailbox_row(sqlite3_stmt *s, struct store_mailbox *mb, struct store_err *err)
{
	memset(mb, 0, sizeof(*mb));
	mb->id = sqlite3_column_int64(s, 0);
	mb->user_id = sqlite3_column_int64(s, 1);
	if (store_column_text(s, 2, mb->name, sizeof(mb->name), err) != 0 ||
	    store_column_text(s, 3, mb->special_use, sizeof(mb->special_use), err) != 0)
		return -1;
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(s, 4);
	mb->uidnext = (uint32_t)sqlite3_column_int64(s, 5);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(s, 6);
	mb->messages = (uint32_t)sqlite3_column_int64(s, 7);
	return 0;
}

int
store_mailbox_list(struct store *st, int64_t user_id, struct store_mailbox **list_r, size_t *n_r,
		   struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_MAILBOX_COLUMNS
				  " WHERE m.user_id = ?1 ORDER BY m.name <> 'INBOX', m.name";
	struct store_mailbox *list = NULL;
	size_t n = 0, cap = 0;
	void *grown;
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	while ((rc = store_step(st, s, "list mailboxes", err)) == SQLITE_ROW) {
		if ((grown = store_list_grow(list, &cap, n, sizeof(*list), err)) == NULL)
			goto fail;
		list = grown;
		if (store_mailbox_row(s, &list[n], err) != 0)
			goto fail;
		n++;
	}
	if (rc < 0)
		goto fail;
	sqlite3_reset(s);
	if (n == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no user %lld", (long long)user_id);
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	sqlite3_reset(s);
	free(list);
	return -1;
}

int
store_mailbox_get(struct store *st, int64_t user_id, const char *name, struct store_mailbox *mb,
		  struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_MAILBOX_COLUMNS " WHERE m.user_id = ?1 AND m.name = ?2";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "mailbox", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_NOTFOUND, "no such mailbox");
	}
	rc = store_mailbox_row(s, mb, err);
	sqlite3_reset(s);
	return rc;
}

void
store_message_list_free(struct store_message **list, size_t n)
{
	if (list == NULL || *list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*list)[i].keywords);
	free(*list);
	*list = NULL;
}

int
store_message_list(struct store *st, int64_t mailbox_id, struct store_message **list_r,
		   size_t *n_r, struct store_err *err)
{
	static const char sql[] =
		"SELECT id, uid, modseq, internal_date, size, flags, keywords, body_id"
		" FROM messages WHERE mailbox_id = ?1 ORDER BY uid";
	struct store_message *list = NULL, *m;
	size_t n = 0, cap = 0;
	void *grown;
	sqlite3_stmt *s;
	const unsigned char *kw;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	while ((rc = store_step(st, s, "list messages", err)) == SQLITE_ROW) {
		if ((grown = store_list_grow(list, &cap, n, sizeof(*list), err)) == NULL)
			goto fail;
		list = grown;
		m = &list[n];
		memset(m, 0, sizeof(*m));
		m->id = sqlite3_column_int64(s, 0);
		m->uid = (uint32_t)sqlite3_column_int64(s, 1);
		m->modseq = (uint64_t)sqlite3_column_int64(s, 2);
		m->internal_date = sqlite3_column_int64(s, 3);
		m->size = sqlite3_column_int64(s, 4);
		m->flags = (unsigned)sqlite3_column_int64(s, 5);
		m->body_id = sqlite3_column_int64(s, 7);
		kw = sqlite3_column_text(s, 6);
		m->keywords = strdup(kw != NULL ? (const char *)kw : "");
		n++;
		if (m->keywords == NULL) {
			store_fail(err, STORE_E_NOMEM, "out of memory");
			goto fail;
		}
	}
	if (rc < 0)
		goto fail;
	sqlite3_reset(s);
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	sqlite3_reset(s);
	store_message_list_free(&list, n);
	return -1;
}

/*
 * Take the mailbox's next MODSEQ if it holds uid (inside a transaction).
 * Returns 0 with *modseq_r, or -1 (STORE_E_NOTFOUND).
 */
static int
store_mailbox_bump(struct store *st, int64_t mailbox_id, uint32_t uid, uint64_t *modseq_r,
		   struct store_err *err)
{
	static const char sql[] =
		"UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1"
		" AND EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2)"
		" RETURNING highestmodseq";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "modseq", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_fail(err, STORE_E_NOTFOUND, "no message with UID %u", uid);
	}
	*modseq_r = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

int
store_message_set_flags(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned flags,
			const char *keywords, uint64_t *modseq_r, struct store_err *err)
{
	static const char sql[] =
		"UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5"
		" WHERE mailbox_id = ?1 AND uid = ?2";
	sqlite3_stmt *s;
	uint64_t modseq = 0;
	int rc;

	if ((flags & ~(unsigned)STORE_FLAGS_ALL) != 0)
		return store_fail(err, STORE_E_INVALID, "unknown flags 0x%x", flags);
	if (store_keywords_check(keywords, err) != 0)
		return -1;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_mailbox_bump(st, mailbox_id, uid, &modseq, err) != 0)
		goto fail;
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, flags)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 4, keywords, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, (int64_t)modseq)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "set flags", err) < 0)
		goto fail;
	sqlite3_reset(s);
	if (store_commit(st, err) != 0)
		return -1;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int
store_message_expunge(struct store *st, int64_t mailbox_id, uint32_t uid, struct store_err *err)
{
	static const char sql[] = "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
	sqlite3_stmt *s;
	uint64_t modseq = 0;
	int rc;

	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	/* The expunge is a change too: CONDSTORE/QRESYNC clients see it by MODSEQ. */
	if (store_mailbox_bump(st, mailbox_id, uid, &modseq, err) != 0)
		goto fail;
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	if (store_step(st, s, "expunge", err) < 0)
		goto fail;
	sqlite3_reset(s);
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

