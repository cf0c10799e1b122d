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
#include <strings.h>

#include <sqlite3.h>

#include "home.h"
#include "store_int.h"
#include "utf8.h"

/* ---- mailboxes and messages ------------------------------------------ */

#define STORE_MAILBOX_COLUMNS \
	"m.id, m.user_id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highestmodseq," \
	" (SELECT count(*) FROM messages WHERE mailbox_id = m.id) FROM mailboxes m"

static int
store_mailbox_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	struct store_mailbox *mb = elem;

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
	sqlite3_stmt *s;
	void *list;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_rows(st, s, "list mailboxes", sizeof(**list_r), store_mailbox_row, &list, n_r, err) != 0)
		return -1;
	if (*n_r == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no user %lld", (long long)user_id);
	*list_r = list;
	return 0;
}

/* Step s (bound already) to its one mailbox row into *mb. Returns 0, or -1 (STORE_E_NOTFOUND). */
static int
store_mailbox_one(struct store *st, sqlite3_stmt *s, struct store_mailbox *mb, struct store_err *err)
{
	int rc = store_step(st, s, "mailbox", err);

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
	return store_mailbox_one(st, s, mb, err);
}

int
store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *mb, struct store_err *err)
{
	static const char sql[] = "SELECT " STORE_MAILBOX_COLUMNS " WHERE m.id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	return store_mailbox_one(st, s, mb, err);
}

int
store_mailbox_count(struct store *st, int64_t mailbox_id, struct store_mailbox_counts *c_r,
		    struct store_err *err)
{
	static const char sql[] =
		"SELECT count(*) FILTER (WHERE flags & 1 = 0), count(*) FILTER (WHERE flags & 8 <> 0),"
		" coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ?1";
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "count", err);
	if (rc < 0)
		return -1;
	c_r->unseen = (uint64_t)sqlite3_column_int64(s, 0);
	c_r->deleted = (uint64_t)sqlite3_column_int64(s, 1);
	c_r->size = (uint64_t)sqlite3_column_int64(s, 2);
	sqlite3_reset(s);
	return 0;
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
store_message_range(struct store *st, int64_t mailbox_id, uint32_t first_uid, uint32_t last_uid,
		    uint64_t since_modseq, struct store_message **list_r, size_t *n_r, struct store_err *err)
{
	static const char sql[] =
		"SELECT id, uid, modseq, internal_date, size, flags, keywords, body_id"
		" FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 AND modseq > ?4 ORDER BY uid";
	static const char changed[] =
		"SELECT id, uid, modseq, internal_date, size, flags, keywords, body_id"
		" FROM messages INDEXED BY messages_modseq WHERE mailbox_id = ?1 AND modseq > ?4"
		" AND uid BETWEEN ?2 AND ?3 ORDER BY uid";
	struct store_message *list = NULL, *m;
	size_t n = 0, cap = 0;
	void *grown;
	sqlite3_stmt *s;
	const unsigned char *kw;
	int rc;

	/* Changes since a MODSEQ are few: look them up by MODSEQ, not by UID. */
	if ((s = store_stmt(st, since_modseq > 0 ? changed : sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, first_uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, last_uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, (int64_t)since_modseq)) != SQLITE_OK)
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

int
store_message_list(struct store *st, int64_t mailbox_id, struct store_message **list_r,
		   size_t *n_r, struct store_err *err)
{
	return store_message_range(st, mailbox_id, 1, UINT32_MAX, 0, list_r, n_r, err);
}

/* 1 if the space-separated list holds word w[0..wl) (keywords are matched without regard to case). */
static int
store_keyword_in(const char *list, const char *w, size_t wl)
{
	for (const char *p = list; *p != '\0';) {
		size_t l = strcspn(p, " ");

		if (l == wl && strncasecmp(p, w, wl) == 0)
			return 1;
		p += l;
		p += *p == ' ';
	}
	return 0;
}

/* cur with arg's keywords added, removed, or arg itself (op), into out. Returns 0, or -1 (too long). */
static int
store_keywords_apply(const char *cur, const char *arg, int op, char out[STORE_KEYWORDS_MAX])
{
	const char *from = op == STORE_FLAGS_SET ? arg : cur;
	size_t o = 0;

	out[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		const char *p = pass == 0 ? from : op == STORE_FLAGS_ADD ? arg : "";

		while (*p != '\0') {
			size_t l = strcspn(p, " ");
			int keep = pass == 0 ? !(op == STORE_FLAGS_REMOVE && store_keyword_in(arg, p, l))
					     : !store_keyword_in(out, p, l);

			if (keep && l > 0 && (pass == 1 || !store_keyword_in(out, p, l))) {
				if (o + (o > 0) + l >= STORE_KEYWORDS_MAX)
					return -1;
				if (o > 0)
					out[o++] = ' ';
				memcpy(out + o, p, l);
				o += l;
				out[o] = '\0';
			}
			p += l;
			p += *p == ' ';
		}
	}
	return 0;
}

/* Read one message's flags, keywords and MODSEQ. Returns 1, 0 (no such UID) or -1. */
static int
store_message_flags_get(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned *flags_r,
			char kw[STORE_KEYWORDS_MAX], uint64_t *modseq_r, struct store_err *err)
{
	static const char sql[] = "SELECT flags, keywords, modseq FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "flags", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return 0;
	}
	*flags_r = (unsigned)sqlite3_column_int64(s, 0);
	*modseq_r = (uint64_t)sqlite3_column_int64(s, 2);
	rc = store_column_text(s, 1, kw, STORE_KEYWORDS_MAX, err);
	sqlite3_reset(s);
	return rc == 0 ? 1 : -1;
}

static int
store_message_flags_put(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned flags,
			const char *kw, uint64_t modseq, struct store_err *err)
{
	static const char sql[] =
		"UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, flags)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 4, kw, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 5, (int64_t)modseq)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "set flags", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

static int store_mailbox_next_modseq(struct store *st, int64_t mailbox_id, int64_t *modseq_r,
				     struct store_err *err);

int
store_message_update_flags(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
			   const struct store_flags_update *u, struct store_flags_result *res,
			   struct store_err *err)
{
	char kw[STORE_KEYWORDS_MAX], newkw[STORE_KEYWORDS_MAX];
	int64_t modseq = 0;

	memset(res, 0, sizeof(*res));
	if ((u->flags & ~(unsigned)STORE_FLAGS_ALL) != 0)
		return store_fail(err, STORE_E_INVALID, "unknown flags 0x%x", u->flags);
	if (store_keywords_check(u->keywords, err) != 0)
		return -1;
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned flags = 0, nflags;
		uint64_t old = 0;
		int rc = store_message_flags_get(st, mailbox_id, uids[i], &flags, kw, &old, err);

		if (rc < 0)
			goto fail;
		if (rc == 0)
			continue;
		res->found++;
		nflags = u->op == STORE_FLAGS_SET ? u->flags : u->op == STORE_FLAGS_ADD ? flags | u->flags
											 : flags & ~u->flags;
		if (store_keywords_apply(kw, u->keywords, u->op, newkw) != 0) {
			store_fail(err, STORE_E_INVALID, "too many keywords");
			goto fail;
		}
		if (u->unchangedsince > 0 && old > u->unchangedsince) {
			if (res->nfailed < u->failed_cap)
				u->failed[res->nfailed] = uids[i];
			res->nfailed++;
			continue;
		}
		if (!u->always && nflags == flags && strcmp(newkw, kw) == 0)
			continue;
		if (modseq == 0 && store_mailbox_next_modseq(st, mailbox_id, &modseq, err) != 0)
			goto fail;
		if (store_message_flags_put(st, mailbox_id, uids[i], nflags, newkw, (uint64_t)modseq, err) != 0)
			goto fail;
		res->changed++;
	}
	if (store_commit(st, err) != 0)
		return -1;
	res->modseq = (uint64_t)modseq;
	return 0;
fail:
	store_rollback(st);
	memset(res, 0, sizeof(*res));
	return -1;
}

int
store_message_set_flags(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned flags,
			const char *keywords, uint64_t *modseq_r, struct store_err *err)
{
	struct store_flags_update u = {
		.op = STORE_FLAGS_SET, .flags = flags, .keywords = keywords, .always = 1,
	};
	struct store_flags_result res;

	if (store_message_update_flags(st, mailbox_id, &uid, 1, &u, &res, err) != 0)
		return -1;
	if (res.found == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no message with UID %u", uid);
	if (modseq_r != NULL)
		*modseq_r = res.modseq;
	return 0;
}

/* ---- names ------------------------------------------------------------ */

int
store_mailbox_name(const char *name, char out[STORE_MAILBOX_NAME_MAX], struct store_err *err)
{
	size_t len = strnlen(name, STORE_MAILBOX_NAME_MAX), level = 0;
	unsigned levels = 1;

	if (len == 0)
		return store_fail(err, STORE_E_INVALID, "empty mailbox name");
	if (len == STORE_MAILBOX_NAME_MAX)
		return store_fail(err, STORE_E_INVALID, "mailbox name too long");
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];
		size_t k;

		if (c == STORE_MAILBOX_DELIM) {
			if (level == 0)
				return store_fail(err, STORE_E_INVALID, "empty level in a mailbox name");
			if (++levels > STORE_MAILBOX_DEPTH_MAX)
				return store_fail(err, STORE_E_INVALID, "mailbox name too deep");
			level = 0;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return store_fail(err, STORE_E_INVALID, "control character in a mailbox name");
		if (c == '%' || c == '*')
			return store_fail(err, STORE_E_INVALID, "wildcard in a mailbox name");
		k = c < 0x80 ? 1 : utf8_printable_len((const uint8_t *)name + i, len - i);
		if (k == 0)
			return store_fail(err, STORE_E_INVALID, "mailbox name is not UTF-8");
		i += k - 1;
		level += k;
	}
	if (level == 0)
		return store_fail(err, STORE_E_INVALID, "empty level in a mailbox name");
	memcpy(out, name, len + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == STORE_MAILBOX_DELIM))
		memcpy(out, "INBOX", 5);
	return 0;
}

/* ---- mailboxes --------------------------------------------------------- */

/*
 * Run sql bound to (?1 id, ?2 text unless NULL) and read the first
 * column of its one row into *v_r. Returns 1 (a row), 0 (none), or -1.
 */
static int
store_row_int(struct store *st, const char *sql, int64_t id, const char *text, int64_t *v_r,
	      const char *what, struct store_err *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK ||
	    (text != NULL && (rc = sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC)) != SQLITE_OK))
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, what, err);
	if (rc < 0)
		return -1;
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW;
}

/* The id of user_id's mailbox name (stored form). Returns 0, or -1 (STORE_E_NOTFOUND). */
static int
store_mailbox_id(struct store *st, int64_t user_id, const char *name, int64_t *id_r,
		 struct store_err *err)
{
	static const char sql[] = "SELECT id FROM mailboxes WHERE user_id = ?1 AND name = ?2";
	int rc = store_row_int(st, sql, user_id, name, id_r, "mailbox", err);

	return rc > 0 ? 0 : rc < 0 ? -1 : store_fail(err, STORE_E_NOTFOUND, "no such mailbox");
}

/* The user a mailbox belongs to (STORE_E_NOTFOUND if none). */
static int
store_mailbox_owner(struct store *st, int64_t mailbox_id, int64_t *user_r, struct store_err *err)
{
	static const char sql[] = "SELECT user_id FROM mailboxes WHERE id = ?1";
	int rc = store_row_int(st, sql, mailbox_id, NULL, user_r, "mailbox", err);

	if (rc < 0)
		return -1;
	return rc > 0 ? 0 : store_fail(err, STORE_E_NOTFOUND, "no mailbox %lld", (long long)mailbox_id);
}

/* Insert an empty mailbox (inside a transaction). Returns 0 with *id_r, or -1 (STORE_E_EXISTS). */
static int
store_mailbox_insert(struct store *st, int64_t user_id, const char *name, int64_t *id_r,
		     struct store_err *err)
{
	static const char user[] = "SELECT 1 FROM users WHERE id = ?1";
	static const char sql[] =
		"INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (?1, ?2, ?3) RETURNING id";
	int64_t uidvalidity;
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, user, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "user", err);
	if (rc < 0)
		return -1;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(err, STORE_E_NOTFOUND, "no user %lld", (long long)user_id);
	if (store_next_uidvalidity(st, &uidvalidity, err) != 0 || (s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, uidvalidity)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "create mailbox", err);
	if (rc < 0) {
		if (err->code == STORE_E_EXISTS)
			snprintf(err->msg, sizeof(err->msg), "mailbox exists");
		return -1;
	}
	*id_r = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

int
store_mailbox_create(struct store *st, int64_t user_id, const char *name, struct store_mailbox *mb_r,
		     struct store_err *err)
{
	char norm[STORE_MAILBOX_NAME_MAX];
	int64_t id;

	if (store_mailbox_name(name, norm, err) != 0 || store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_mailbox_insert(st, user_id, norm, &id, err) != 0) {
		store_rollback(st);
		return -1;
	}
	if (store_commit(st, err) != 0)
		return -1;
	return mb_r != NULL ? store_mailbox_get(st, user_id, norm, mb_r, err) : 0;
}

/* Run a statement bound to (?1 integer, ?2 text) to its end. Returns 0 or -1. */
static int
store_run_id_text(struct store *st, const char *sql, int64_t id, const char *text, const char *what,
		  struct store_err *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK ||
	    (text != NULL && (rc = sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC)) != SQLITE_OK))
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, what, err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

int
store_mailbox_delete(struct store *st, int64_t user_id, const char *name, struct store_err *err)
{
	/* Messages first, while the mailbox is there: the trigger charges usage back to its user. */
	static const char messages[] = "DELETE FROM messages WHERE mailbox_id = ?1";
	static const char mailbox[] = "DELETE FROM mailboxes WHERE id = ?1";
	char norm[STORE_MAILBOX_NAME_MAX];
	int64_t id;

	if (store_mailbox_name(name, norm, err) != 0)
		return -1;
	if (strcmp(norm, "INBOX") == 0)
		return store_fail(err, STORE_E_INVALID, "INBOX cannot be deleted");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_mailbox_id(st, user_id, norm, &id, err) != 0 ||
	    store_run_id_text(st, messages, id, NULL, "delete messages", err) != 0 ||
	    store_run_id_text(st, mailbox, id, NULL, "delete mailbox", err) != 0) {
		store_rollback(st);
		return -1;
	}
	store_changed(st, id);	/* sessions that have it selected must learn it is gone */
	return store_commit(st, err);
}

/* The mailbox's next MODSEQ (inside a transaction). Returns 0, or -1 (STORE_E_NOTFOUND). */
static int
store_mailbox_next_modseq(struct store *st, int64_t mailbox_id, int64_t *modseq_r, struct store_err *err)
{
	static const char sql[] =
		"UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq";
	int rc = store_row_int(st, sql, mailbox_id, NULL, modseq_r, "modseq", err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no mailbox %lld", (long long)mailbox_id);
	store_changed(st, mailbox_id);	/* a new MODSEQ is a change watchers hear of */
	return 0;
}

/*
 * INBOX renamed: a new mailbox to gets INBOX's messages with their UIDs
 * (it has a new UIDVALIDITY, so they are new there) and INBOX's UIDNEXT;
 * INBOX keeps its UIDVALIDITY and remembers the UIDs as expunged.
 */
static int
store_mailbox_rename_inbox(struct store *st, int64_t user_id, const char *to, struct store_err *err)
{
	static const char gone[] =
		"INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)"
		" SELECT mailbox_id, uid, ?2 FROM messages WHERE mailbox_id = ?1";
	static const char carry[] =
		"UPDATE mailboxes SET uidnext = (SELECT uidnext FROM mailboxes WHERE id = ?2),"
		" highestmodseq = (SELECT highestmodseq FROM mailboxes WHERE id = ?2) WHERE id = ?1";
	static const char move[] = "UPDATE messages SET mailbox_id = ?1 WHERE mailbox_id = ?2";
	int64_t inbox, target, modseq;
	sqlite3_stmt *s;
	int rc;

	if (store_mailbox_id(st, user_id, "INBOX", &inbox, err) != 0 ||
	    store_mailbox_insert(st, user_id, to, &target, err) != 0 ||
	    store_mailbox_next_modseq(st, inbox, &modseq, err) != 0 || (s = store_stmt(st, gone, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, inbox)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, modseq)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "expunged", err) < 0)
		return -1;
	sqlite3_reset(s);
	for (int i = 0; i < 2; i++) {
		const char *sql = i == 0 ? carry : move;

		if ((s = store_stmt(st, sql, err)) == NULL)
			return -1;
		if ((rc = sqlite3_bind_int64(s, 1, target)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(s, 2, inbox)) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		if (store_step(st, s, "rename INBOX", err) < 0)
			return -1;
		sqlite3_reset(s);
	}
	return 0;
}

/* Bind (?1 user, ?2 from, ?3 to) and run s to its end; *changes_r gets the rows changed. */
static int
store_run_rename(struct store *st, const char *sql, int64_t user_id, const char *from, const char *to,
		 int *changes_r, struct store_err *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "rename", err);
	if (rc < 0)
		return -1;
	*changes_r = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : sqlite3_changes(st->db);
	sqlite3_reset(s);
	return 0;
}

/* A name ?2 or below it: the rows a rename of ?2 moves. ?3's name for them. */
#define STORE_BELOW(col) "(" col " = ?2 OR substr(" col ", 1, length(?2) + 1) = ?2 || '/')"
#define STORE_RENAMED(col) "?3 || substr(" col ", length(?2) + 1)"

int
store_mailbox_rename(struct store *st, int64_t user_id, const char *from, const char *to,
		     struct store_err *err)
{
	static const char taken[] =
		"SELECT count(*) FROM mailboxes WHERE user_id = ?1 AND name IN"
		" (SELECT " STORE_RENAMED("name") " FROM mailboxes WHERE user_id = ?1 AND "
		STORE_BELOW("name") ")";
	static const char boxes[] =
		"UPDATE mailboxes SET name = " STORE_RENAMED("name") " WHERE user_id = ?1 AND "
		STORE_BELOW("name");
	static const char subs[] =
		"UPDATE OR REPLACE subscriptions SET name = " STORE_RENAMED("name") " WHERE user_id = ?1 AND "
		STORE_BELOW("name");
	char f[STORE_MAILBOX_NAME_MAX], t[STORE_MAILBOX_NAME_MAX];
	size_t flen;
	int n;

	if (store_mailbox_name(from, f, err) != 0 || store_mailbox_name(to, t, err) != 0)
		return -1;
	flen = strlen(f);
	if (strcmp(f, t) == 0)
		return store_fail(err, STORE_E_EXISTS, "mailbox exists");
	if (strncmp(t, f, flen) == 0 && t[flen] == STORE_MAILBOX_DELIM)
		return store_fail(err, STORE_E_INVALID, "a mailbox cannot move below itself");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (strcmp(f, "INBOX") == 0) {
		if (store_mailbox_rename_inbox(st, user_id, t, err) != 0)
			goto fail;
		return store_commit(st, err);
	}
	if (store_run_rename(st, taken, user_id, f, t, &n, err) != 0)
		goto fail;
	if (n > 0) {
		store_fail(err, STORE_E_EXISTS, "mailbox exists");
		goto fail;
	}
	if (store_run_rename(st, boxes, user_id, f, t, &n, err) != 0)
		goto fail;
	if (n == 0) {
		store_fail(err, STORE_E_NOTFOUND, "no such mailbox");
		goto fail;
	}
	if (store_run_rename(st, subs, user_id, f, t, &n, err) != 0)
		goto fail;
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}

/* ---- subscriptions ----------------------------------------------------- */

int
store_subscription_set(struct store *st, int64_t user_id, const char *name, int subscribed,
		       struct store_err *err)
{
	static const char add[] = "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)";
	static const char del[] = "DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2";
	char norm[STORE_MAILBOX_NAME_MAX];

	if (store_mailbox_name(name, norm, err) != 0 || store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_run_id_text(st, subscribed ? add : del, user_id, norm, "subscribe", err) != 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err);
}

static int
store_subscription_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	return store_column_text(s, 0, elem, STORE_MAILBOX_NAME_MAX, err);
}

int
store_subscription_list(struct store *st, int64_t user_id, char (**names_r)[STORE_MAILBOX_NAME_MAX],
			size_t *n_r, struct store_err *err)
{
	static const char sql[] = "SELECT name FROM subscriptions WHERE user_id = ?1 ORDER BY name";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	void *list;
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, user_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_rows(st, s, "subscriptions", sizeof(**names_r), store_subscription_row, &list, n_r,
		       err) != 0)
		return -1;
	*names_r = list;
	return 0;
}

/* ---- expunges, copies, moves -------------------------------------------- */

/* Remember uid of mailbox_id as expunged at modseq. */
static int
store_expunged_add(struct store *st, int64_t mailbox_id, uint32_t uid, int64_t modseq,
		   struct store_err *err)
{
	static const char sql[] = "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, modseq)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, "expunged", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

int
store_message_expunge_uids(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
			   uint64_t *modseq_r, struct store_err *err)
{
	static const char sql[] = "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
	int64_t modseq;
	size_t gone = 0;
	sqlite3_stmt *s;
	int rc;

	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_mailbox_next_modseq(st, mailbox_id, &modseq, err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if ((s = store_stmt(st, sql, err)) == NULL)
			goto fail;
		if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int64(s, 2, uids[i])) != SQLITE_OK) {
			store_sqlite_fail(st, err, rc, "bind");
			goto fail;
		}
		if (store_step(st, s, "expunge", err) < 0)
			goto fail;
		sqlite3_reset(s);
		if (sqlite3_changes(st->db) == 0)
			continue;
		gone++;
		if (store_expunged_add(st, mailbox_id, uids[i], modseq, err) != 0)
			goto fail;
	}
	if (gone == 0) {
		/* Nothing changed: no MODSEQ spent. */
		store_rollback(st);
		if (modseq_r != NULL)
			*modseq_r = 0;
		return 0;
	}
	if (store_commit(st, err) != 0)
		return -1;
	if (modseq_r != NULL)
		*modseq_r = (uint64_t)modseq;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int
store_message_expunge(struct store *st, int64_t mailbox_id, uint32_t uid, struct store_err *err)
{
	uint64_t modseq;

	if (store_message_expunge_uids(st, mailbox_id, &uid, 1, &modseq, err) != 0)
		return -1;
	return modseq != 0 ? 0 : store_fail(err, STORE_E_NOTFOUND, "no message with UID %u", uid);
}

static int
store_expunged_row(sqlite3_stmt *s, void *elem, struct store_err *err)
{
	(void)err;
	*(uint32_t *)elem = (uint32_t)sqlite3_column_int64(s, 0);
	return 0;
}

int
store_expunged_since(struct store *st, int64_t mailbox_id, uint64_t modseq, uint32_t **uids_r,
		     size_t *n_r, struct store_err *err)
{
	static const char sql[] =
		"SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	void *list;
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, (int64_t)modseq)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_rows(st, s, "expunged", sizeof(**uids_r), store_expunged_row, &list, n_r, err) != 0)
		return -1;
	*uids_r = list;
	return 0;
}

/* The target's next UID (inside a transaction); STORE_E_INTERNAL once UIDs run out. */
static int
store_mailbox_next_uid(struct store *st, int64_t mailbox_id, uint32_t *uid_r, struct store_err *err)
{
	static const char sql[] =
		"UPDATE mailboxes SET uidnext = uidnext + 1 WHERE id = ?1 AND uidnext < 4294967295"
		" RETURNING uidnext - 1";
	int64_t uid = 0;
	int rc = store_row_int(st, sql, mailbox_id, NULL, &uid, "next uid", err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return store_fail(err, STORE_E_INTERNAL, "mailbox %lld has used up its UIDs", (long long)mailbox_id);
	*uid_r = (uint32_t)uid;
	return 0;
}

/* One message's copy or move (inside the transaction of store_message_copy()). */
static int
store_message_copy_one(struct store *st, int64_t from, uint32_t uid, int64_t to, int64_t user_id,
		       int move, int64_t to_modseq, int64_t from_modseq, uint32_t *new_uid_r,
		       struct store_err *err)
{
	static const char find[] = "SELECT id, size FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
	static const char copy[] =
		"INSERT INTO messages (mailbox_id, uid, modseq, internal_date, size, flags, keywords, body_id)"
		" SELECT ?1, ?2, ?3, internal_date, size, flags, keywords, body_id FROM messages WHERE id = ?4";
	static const char moved[] = "UPDATE messages SET mailbox_id = ?1, uid = ?2, modseq = ?3 WHERE id = ?4";
	sqlite3_stmt *s = store_stmt(st, find, err);
	int64_t id, size;
	uint32_t new_uid = 0;
	int rc;

	*new_uid_r = 0;
	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, from)) != SQLITE_OK || (rc = sqlite3_bind_int64(s, 2, uid)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "message", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return 0;	/* gone meanwhile: skipped */
	}
	id = sqlite3_column_int64(s, 0);
	size = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	if ((!move && store_user_charge(st, user_id, size, err) != 0) ||
	    store_mailbox_next_uid(st, to, &new_uid, err) != 0 || (s = store_stmt(st, move ? moved : copy, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, to)) != SQLITE_OK || (rc = sqlite3_bind_int64(s, 2, new_uid)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, to_modseq)) != SQLITE_OK || (rc = sqlite3_bind_int64(s, 4, id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	if (store_step(st, s, move ? "move" : "copy", err) < 0)
		return -1;
	sqlite3_reset(s);
	if (move && store_expunged_add(st, from, uid, from_modseq, err) != 0)
		return -1;
	*new_uid_r = new_uid;
	return 0;
}

int
store_message_copy(struct store *st, int64_t from_mailbox, const uint32_t *uids, size_t n, int64_t to_mailbox,
		   int move, uint32_t *new_uids, struct store_err *err)
{
	int64_t from_user, to_user, to_modseq = 0, from_modseq = 0;

	if (move && from_mailbox == to_mailbox)
		return store_fail(err, STORE_E_INVALID, "a move into the same mailbox");
	if (store_begin(st, STORE_SYNC_FULL, err) != 0)
		return -1;
	if (store_mailbox_owner(st, from_mailbox, &from_user, err) != 0 ||
	    store_mailbox_owner(st, to_mailbox, &to_user, err) != 0)
		goto fail;
	if (from_user != to_user) {
		store_fail(err, STORE_E_INVALID, "mailboxes of two users");
		goto fail;
	}
	if (store_mailbox_next_modseq(st, to_mailbox, &to_modseq, err) != 0 ||
	    (move && store_mailbox_next_modseq(st, from_mailbox, &from_modseq, err) != 0))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (store_message_copy_one(st, from_mailbox, uids[i], to_mailbox, to_user, move, to_modseq,
					   from_modseq, &new_uids[i], err) != 0)
			goto fail;
	}
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}
