/*
 * Unit tests for home/store_mailbox: IMAP's mailbox operations on a real
 * mail.db in a temporary directory, with the user alice (quota
 * T_QUOTA) and bob. What the API does not show (tombstones, bodies,
 * usage) is read back through it where it can and with SQL where not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"

#include "../../home/home.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_QUOTA 10000

struct t_state {
	char dir[T_PATH_MAX];
	char path[T_PATH_MAX + 16];
	struct store *st;
	int64_t alice, bob;
	struct store_err err;
};

#define E (&t->err)
#define T_OK(call) do { if ((call) != 0) fail_msg("%s: %s", #call, t->err.msg); } while (0)
#define T_REFUSED(call, want) do { \
		if ((call) == 0) fail_msg("%s: succeeded", #call); \
		if (t->err.code != (want)) fail_msg("%s: code %d (%s), want %d", #call, t->err.code, t->err.msg, want); \
	} while (0)

static int
t_setup(void **state)
{
	struct t_state *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	log_init("test_store_mailbox", LOG_LEVEL_ERROR, NULL);
	if (testutil_mkdtemp(t->dir, sizeof(t->dir), "store_mailbox") != 0)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/mail.db", t->dir);
	t->st = store_open(t->path, STORE_OPEN_RECOVER, &t->err);
	if (t->st == NULL || store_domain_add(t->st, "example.test", &t->err) != 0 ||
	    store_user_add(t->st, "alice@example.test", "$argon2id$x", T_QUOTA, &t->alice, &t->err) != 0 ||
	    store_user_add(t->st, "bob@example.test", "$argon2id$x", 0, &t->bob, &t->err) != 0)
		return -1;
	*state = t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *t = *state;
	int rc;

	store_close(&t->st);
	rc = testutil_rmtree(t->dir);
	free(t);
	return rc;
}

/* An integer from SQL on a connection of its own. */
static int64_t
t_sql(struct t_state *t, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Deliver text (size bytes: repeated 'x') to user's INBOX; returns the body id. */
static int64_t
t_deliver(struct t_state *t, int64_t user, size_t size)
{
	struct store_delivery *d = store_delivery_begin(t->st, "s@example.org", E);
	char *text = malloc(size);
	int64_t body;

	assert_non_null(d);
	assert_non_null(text);
	memset(text, 'x', size);
	T_OK(store_delivery_add_user(d, user, E));
	T_OK(store_delivery_write(d, text, size, E));
	T_OK(store_delivery_commit(d, 1700000000, E));
	body = store_delivery_body_id(d);
	store_delivery_free(&d);
	free(text);
	return body;
}

static struct store_mailbox
t_mailbox(struct t_state *t, int64_t user, const char *name)
{
	struct store_mailbox mb;

	T_OK(store_mailbox_get(t->st, user, name, &mb, E));
	return mb;
}

static int64_t
t_used(struct t_state *t, int64_t user)
{
	struct store_user u;

	T_OK(store_user_get_id(t->st, user, &u, E));
	return u.used;
}

/* ---- names ---- */

static void
test_store_mailbox_name(void **state)
{
	static const struct {
		const char *in, *out;	/* out NULL: refused */
	} cases[] = {
		{ "INBOX", "INBOX" },
		{ "inbox", "INBOX" },
		{ "InBoX/Receipts", "INBOX/Receipts" },
		{ "Inboxes", "Inboxes" },
		{ "Work/2026/Q4", "Work/2026/Q4" },
		{ "Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe" },
		{ "\xf0\x9f\x93\xa8 mail", "\xf0\x9f\x93\xa8 mail" },
		{ "[Gmail]/All Mail", "[Gmail]/All Mail" },
		{ "", NULL },
		{ "/Work", NULL },
		{ "Work/", NULL },
		{ "Work//2026", NULL },
		{ "Work%", NULL },
		{ "*", NULL },
		{ "a\tb", NULL },
		{ "a\x7f", NULL },
		{ "caf\xe9", NULL },		/* Latin-1, not UTF-8 */
		{ "\xc0\xaf", NULL },		/* overlong */
	};
	char out[STORE_MAILBOX_NAME_MAX], deep[3 * STORE_MAILBOX_DEPTH_MAX + 8], big[STORE_MAILBOX_NAME_MAX + 1];
	struct store_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = store_mailbox_name(cases[i].in, out, &err);

		if (cases[i].out == NULL) {
			if (rc == 0 || err.code != STORE_E_INVALID)
				fail_msg("'%s': accepted as '%s'", cases[i].in, out);
		} else if (rc != 0 || strcmp(out, cases[i].out) != 0) {
			fail_msg("'%s': %s", cases[i].in, rc != 0 ? err.msg : out);
		}
	}
	/* Depth: STORE_MAILBOX_DEPTH_MAX levels, not one more. */
	deep[0] = '\0';
	for (int i = 0; i < STORE_MAILBOX_DEPTH_MAX; i++)
		strcat(deep, i == 0 ? "a" : "/a");
	assert_int_equal(store_mailbox_name(deep, out, &err), 0);
	strcat(deep, "/a");
	assert_int_equal(store_mailbox_name(deep, out, &err), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_mailbox_name(big, out, &err), -1);
	big[STORE_MAILBOX_NAME_MAX - 1] = '\0';
	assert_int_equal(store_mailbox_name(big, out, &err), 0);
}

/* ---- create, delete ---- */

static void
test_store_mailbox_create_delete(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox mb, sent = t_mailbox(t, t->alice, "Sent");
	int64_t body;

	T_OK(store_mailbox_create(t->st, t->alice, "Work", &mb, E));
	assert_string_equal(mb.name, "Work");
	assert_true(mb.uidvalidity > sent.uidvalidity);	/* never one given before */
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(mb.messages, 0);
	T_REFUSED(store_mailbox_create(t->st, t->alice, "Work", NULL, E), STORE_E_EXISTS);
	T_REFUSED(store_mailbox_create(t->st, t->alice, "inbox", NULL, E), STORE_E_EXISTS);
	T_REFUSED(store_mailbox_create(t->st, t->alice, "Work/", NULL, E), STORE_E_INVALID);
	T_REFUSED(store_mailbox_create(t->st, 999, "Work", NULL, E), STORE_E_NOTFOUND);
	T_OK(store_mailbox_create(t->st, t->bob, "Work", NULL, E));	/* names are per user */
	T_OK(store_mailbox_create(t->st, t->alice, "Work/Old", NULL, E));

	/* A mailbox with a message: the message goes, and its usage with it. */
	body = t_deliver(t, t->alice, 300);
	{
		uint32_t uid = 1, new_uid;

		T_OK(store_message_copy(t->st, t_mailbox(t, t->alice, "INBOX").id, &uid, 1, mb.id, 1, &new_uid, E));
		assert_int_equal(new_uid, 1);
	}
	assert_int_equal(t_used(t, t->alice), 300);
	T_OK(store_mailbox_delete(t->st, t->alice, "Work", E));
	assert_int_equal(t_used(t, t->alice), 0);
	{
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM bodies WHERE id = %lld", (long long)body);
		assert_int_equal(t_sql(t, sql), 0);
	}
	T_REFUSED(store_mailbox_get(t->st, t->alice, "Work", &mb, E), STORE_E_NOTFOUND);
	/* What was below it stays. */
	T_OK(store_mailbox_get(t->st, t->alice, "Work/Old", &mb, E));
	T_REFUSED(store_mailbox_delete(t->st, t->alice, "Work", E), STORE_E_NOTFOUND);
	T_REFUSED(store_mailbox_delete(t->st, t->alice, "iNbOx", E), STORE_E_INVALID);
	T_OK(store_mailbox_get(t->st, t->bob, "Work", &mb, E));
}

/* ---- rename ---- */

static void
test_store_mailbox_rename(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox before, after;
	char (*subs)[STORE_MAILBOX_NAME_MAX] = NULL;
	size_t n = 0;

	T_OK(store_mailbox_create(t->st, t->alice, "Work", &before, E));
	T_OK(store_mailbox_create(t->st, t->alice, "Work/2026", NULL, E));
	T_OK(store_mailbox_create(t->st, t->alice, "Workshop", NULL, E));	/* not below Work */
	T_OK(store_subscription_set(t->st, t->alice, "Work/2026", 1, E));
	T_OK(store_mailbox_rename(t->st, t->alice, "Work", "Jobs/Past", E));
	after = t_mailbox(t, t->alice, "Jobs/Past");
	assert_int_equal(after.id, before.id);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	t_mailbox(t, t->alice, "Jobs/Past/2026");
	t_mailbox(t, t->alice, "Workshop");
	T_REFUSED(store_mailbox_get(t->st, t->alice, "Work/2026", &after, E), STORE_E_NOTFOUND);
	T_OK(store_subscription_list(t->st, t->alice, &subs, &n, E));
	assert_int_equal(n, 7);		/* the six defaults and the renamed one */
	assert_string_equal(subs[3], "Jobs/Past/2026");
	free(subs);

	T_REFUSED(store_mailbox_rename(t->st, t->alice, "Nope", "Other", E), STORE_E_NOTFOUND);
	T_REFUSED(store_mailbox_rename(t->st, t->alice, "Workshop", "Sent", E), STORE_E_EXISTS);
	T_REFUSED(store_mailbox_rename(t->st, t->alice, "Workshop", "Workshop", E), STORE_E_EXISTS);
	T_REFUSED(store_mailbox_rename(t->st, t->alice, "Jobs", "Jobs/Inner", E), STORE_E_INVALID);
	/* A name below the target taken: nothing moves. */
	T_OK(store_mailbox_create(t->st, t->alice, "Old/2026", NULL, E));
	T_REFUSED(store_mailbox_rename(t->st, t->alice, "Jobs/Past", "Old", E), STORE_E_EXISTS);
	t_mailbox(t, t->alice, "Jobs/Past");
	t_mailbox(t, t->alice, "Jobs/Past/2026");
	/* Special use goes with the mailbox. */
	T_OK(store_mailbox_rename(t->st, t->alice, "Sent", "Sent Items", E));
	assert_string_equal(t_mailbox(t, t->alice, "Sent Items").special_use, "\\Sent");
}

static void
test_store_mailbox_rename_inbox(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox, moved, again;
	struct store_message *list = NULL;
	uint32_t *gone = NULL;
	size_t n = 0;

	t_deliver(t, t->alice, 100);
	t_deliver(t, t->alice, 200);
	inbox = t_mailbox(t, t->alice, "INBOX");
	T_OK(store_mailbox_rename(t->st, t->alice, "inbox", "Old INBOX", E));
	moved = t_mailbox(t, t->alice, "Old INBOX");
	again = t_mailbox(t, t->alice, "INBOX");
	assert_int_equal(again.id, inbox.id);
	assert_int_equal(again.uidvalidity, inbox.uidvalidity);
	assert_int_equal(again.messages, 0);
	assert_true(again.highestmodseq > inbox.highestmodseq);
	assert_int_not_equal(moved.uidvalidity, inbox.uidvalidity);
	assert_int_equal(moved.messages, 2);
	assert_int_equal(moved.uidnext, 3);
	T_OK(store_message_list(t->st, moved.id, &list, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(list[1].uid, 2);
	store_message_list_free(&list, n);
	/* QRESYNC clients of INBOX learn that both are gone. */
	T_OK(store_expunged_since(t->st, inbox.id, inbox.highestmodseq, &gone, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(gone[0], 1);
	assert_int_equal(gone[1], 2);
	free(gone);
	/* New mail goes to INBOX, with UIDs never used there. */
	t_deliver(t, t->alice, 10);
	T_OK(store_message_list(t->st, inbox.id, &list, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(list[0].uid, 3);
	store_message_list_free(&list, n);
	assert_int_equal(t_used(t, t->alice), 310);
}

/* ---- subscriptions ---- */

static void
test_store_mailbox_subscriptions(void **state)
{
	struct t_state *t = *state;
	char (*subs)[STORE_MAILBOX_NAME_MAX] = NULL;
	size_t n = 0;

	T_OK(store_subscription_list(t->st, t->bob, &subs, &n, E));
	assert_int_equal(n, 6);		/* a new user's mailboxes start subscribed */
	assert_string_equal(subs[0], "Archive");
	free(subs);
	T_OK(store_subscription_set(t->st, t->bob, "Junk", 0, E));
	T_OK(store_subscription_set(t->st, t->bob, "Junk", 0, E));	/* twice is fine */
	T_OK(store_subscription_set(t->st, t->bob, "Not/There/Yet", 1, E));
	T_OK(store_subscription_set(t->st, t->bob, "Not/There/Yet", 1, E));
	T_REFUSED(store_subscription_set(t->st, t->bob, "bad%", 1, E), STORE_E_INVALID);
	T_OK(store_subscription_list(t->st, t->bob, &subs, &n, E));
	assert_int_equal(n, 6);
	assert_string_equal(subs[3], "Not/There/Yet");
	free(subs);
	/* Deleting a mailbox leaves its subscription. */
	T_OK(store_mailbox_delete(t->st, t->bob, "Archive", E));
	T_OK(store_subscription_list(t->st, t->bob, &subs, &n, E));
	assert_string_equal(subs[0], "Archive");
	free(subs);
}

/* ---- expunge, copy, move ---- */

static void
test_store_mailbox_expunge_uids(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox, after;
	uint32_t some[] = { 2, 9, 4 }, none[] = { 50, 51 }, *gone = NULL;
	uint64_t modseq;
	size_t n;

	for (int i = 0; i < 5; i++)
		t_deliver(t, t->alice, 100);
	inbox = t_mailbox(t, t->alice, "INBOX");
	T_OK(store_message_expunge_uids(t->st, inbox.id, some, 3, &modseq, E));
	after = t_mailbox(t, t->alice, "INBOX");
	assert_int_equal(modseq, inbox.highestmodseq + 1);	/* one MODSEQ for the lot */
	assert_int_equal(after.highestmodseq, modseq);
	assert_int_equal(after.messages, 3);
	assert_int_equal(t_used(t, t->alice), 300);
	/* Nothing there: nothing changes, not even the MODSEQ. */
	T_OK(store_message_expunge_uids(t->st, inbox.id, none, 2, &modseq, E));
	assert_int_equal(modseq, 0);
	assert_int_equal(t_mailbox(t, t->alice, "INBOX").highestmodseq, after.highestmodseq);
	T_OK(store_message_expunge(t->st, inbox.id, 5, E));
	T_REFUSED(store_message_expunge(t->st, inbox.id, 5, E), STORE_E_NOTFOUND);
	T_REFUSED(store_message_expunge_uids(t->st, 999, some, 1, &modseq, E), STORE_E_NOTFOUND);

	T_OK(store_expunged_since(t->st, inbox.id, inbox.highestmodseq, &gone, &n, E));
	assert_int_equal(n, 3);
	assert_int_equal(gone[0], 2);
	assert_int_equal(gone[1], 4);
	assert_int_equal(gone[2], 5);
	free(gone);
	T_OK(store_expunged_since(t->st, inbox.id, after.highestmodseq, &gone, &n, E));
	assert_int_equal(n, 1);
	assert_int_equal(gone[0], 5);
	free(gone);
}

static void
test_store_mailbox_copy_move(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox, archive, bobs;
	struct store_message *list = NULL;
	uint32_t uids[] = { 3, 1, 7 }, new_uids[3], *gone = NULL;
	uint64_t modseq;
	size_t n;

	for (int i = 0; i < 3; i++)
		t_deliver(t, t->alice, 1000);
	inbox = t_mailbox(t, t->alice, "INBOX");
	archive = t_mailbox(t, t->alice, "Archive");
	T_OK(store_message_set_flags(t->st, inbox.id, 3, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, "$Work", &modseq, E));

	/* Copy: new UIDs in the order asked, the same body, usage counted again. */
	T_OK(store_message_copy(t->st, inbox.id, uids, 3, archive.id, 0, new_uids, E));
	assert_int_equal(new_uids[0], 1);
	assert_int_equal(new_uids[1], 2);
	assert_int_equal(new_uids[2], 0);	/* UID 7 does not exist */
	assert_int_equal(t_used(t, t->alice), 5000);
	T_OK(store_message_list(t->st, archive.id, &list, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(list[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(list[0].keywords, "$Work");
	assert_int_equal(list[0].internal_date, 1700000000);
	assert_int_equal(list[0].modseq, t_mailbox(t, t->alice, "Archive").highestmodseq);
	store_message_list_free(&list, n);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies"), 3);

	/* Over quota (10000): the whole copy is refused, nothing changes. */
	{
		uint32_t all[] = { 1, 2, 3 };

		T_OK(store_message_copy(t->st, inbox.id, all, 3, archive.id, 0, new_uids, E));
		assert_int_equal(t_used(t, t->alice), 8000);
		T_REFUSED(store_message_copy(t->st, inbox.id, all, 3, archive.id, 0, new_uids, E), STORE_E_QUOTA);
		assert_int_equal(t_used(t, t->alice), 8000);
		assert_int_equal(t_mailbox(t, t->alice, "Archive").messages, 5);
	}

	/* Move: usage stays, the source remembers the UIDs as expunged. */
	T_OK(store_message_copy(t->st, inbox.id, uids, 2, archive.id, 1, new_uids, E));
	assert_int_equal(new_uids[0], 6);
	assert_int_equal(new_uids[1], 7);
	assert_int_equal(t_used(t, t->alice), 8000);
	assert_int_equal(t_mailbox(t, t->alice, "INBOX").messages, 1);
	T_OK(store_expunged_since(t->st, inbox.id, inbox.highestmodseq, &gone, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(gone[0], 1);
	assert_int_equal(gone[1], 3);
	free(gone);

	bobs = t_mailbox(t, t->bob, "INBOX");
	T_REFUSED(store_message_copy(t->st, inbox.id, uids, 1, bobs.id, 0, new_uids, E), STORE_E_INVALID);
	T_REFUSED(store_message_copy(t->st, archive.id, uids, 1, archive.id, 1, new_uids, E), STORE_E_INVALID);
	T_REFUSED(store_message_copy(t->st, 999, uids, 1, archive.id, 0, new_uids, E), STORE_E_NOTFOUND);
	/* Copying into the same mailbox is allowed (RFC 9051 6.4.7): a second message. */
	{
		uint32_t one = 2;

		T_OK(store_message_copy(t->st, inbox.id, &one, 1, inbox.id, 0, new_uids, E));
		assert_int_equal(new_uids[0], 4);
	}
	assert_int_equal(t_sql(t, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	T_OK(store_integrity_check(t->st, E));
}

/* ---- change notification ---- */

struct t_heard {
	int64_t ids[16];
	size_t n;
};

static void
t_hear(void *arg, int64_t mailbox_id)
{
	struct t_heard *h = arg;

	assert_true(h->n < 16);
	h->ids[h->n++] = mailbox_id;
}

/* After each commit, once per changed mailbox; nothing for what did not commit. */
static void
test_store_mailbox_notify(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox = t_mailbox(t, t->alice, "INBOX"), trash = t_mailbox(t, t->alice, "Trash");
	struct t_heard h = { .n = 0 };
	uint32_t one = 1, none = 99, new_uid;
	uint64_t modseq;

	store_set_notify(t->st, t_hear, &h);
	t_deliver(t, t->alice, 100);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.ids[0], inbox.id);
	h.n = 0;
	{
		/* One delivery to two users: each INBOX once. */
		struct store_delivery *d = store_delivery_begin(t->st, "", E);

		T_OK(store_delivery_add_user(d, t->alice, E));
		T_OK(store_delivery_add_user(d, t->bob, E));
		T_OK(store_delivery_write(d, "x", 1, E));
		assert_int_equal(h.n, 0);	/* nothing before the commit */
		T_OK(store_delivery_commit(d, 1, E));
		store_delivery_free(&d);
	}
	assert_int_equal(h.n, 2);
	assert_int_equal(h.ids[0], inbox.id);
	assert_int_equal(h.ids[1], t_mailbox(t, t->bob, "INBOX").id);
	h.n = 0;
	T_OK(store_message_set_flags(t->st, inbox.id, 1, STORE_FLAG_SEEN, "", &modseq, E));
	assert_int_equal(h.n, 1);
	h.n = 0;
	T_OK(store_message_expunge_uids(t->st, inbox.id, &none, 1, &modseq, E));
	assert_int_equal(h.n, 0);	/* nothing expunged, nothing changed */
	T_OK(store_message_copy(t->st, inbox.id, &one, 1, trash.id, 1, &new_uid, E));
	assert_int_equal(h.n, 2);
	assert_int_equal(h.ids[0], trash.id);
	assert_int_equal(h.ids[1], inbox.id);
	h.n = 0;
	{
		uint32_t big = new_uid;		/* the 100 bytes, now in Trash */

		/* Over quota (101 used, 100 more): refused, so nobody hears of it. */
		T_OK(store_user_set_quota(t->st, "alice@example.test", 150, E));
		T_REFUSED(store_message_copy(t->st, trash.id, &big, 1, inbox.id, 0, &new_uid, E), STORE_E_QUOTA);
		assert_int_equal(h.n, 0);
	}
	T_OK(store_mailbox_delete(t->st, t->alice, "Trash", E));
	assert_int_equal(h.n, 1);
	assert_int_equal(h.ids[0], trash.id);
	store_set_notify(t->st, NULL, NULL);
	t_deliver(t, t->bob, 1);
	assert_int_equal(h.n, 1);
}

/* ---- flags for many messages, ranges, counts ---- */

static void
test_store_mailbox_update_flags(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox;
	struct store_message *rows = NULL;
	struct store_flags_result res;
	uint32_t uids[] = { 1, 2, 3, 77 }, failed[4];
	struct store_flags_update add = {
		.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN, .keywords = "$Work Later",
	};
	struct store_flags_update rm = { .op = STORE_FLAGS_REMOVE, .flags = 0, .keywords = "later" };
	struct store_flags_update cond = {
		.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_FLAGGED, .keywords = "", .failed = failed, .failed_cap = 4,
	};
	size_t n;

	for (int i = 0; i < 3; i++)
		t_deliver(t, t->alice, 10);
	inbox = t_mailbox(t, t->alice, "INBOX");
	T_OK(store_message_update_flags(t->st, inbox.id, uids, 4, &add, &res, E));
	assert_int_equal(res.found, 3);			/* 77 does not exist */
	assert_int_equal(res.changed, 3);
	assert_int_equal(res.modseq, inbox.highestmodseq + 1);	/* one MODSEQ for all */
	/* The same again changes nothing: no new MODSEQ. */
	T_OK(store_message_update_flags(t->st, inbox.id, uids, 3, &add, &res, E));
	assert_int_equal(res.changed, 0);
	assert_int_equal(res.modseq, 0);
	/* Keywords are removed without regard to case; the others stay in order. */
	T_OK(store_message_update_flags(t->st, inbox.id, uids, 1, &rm, &res, E));
	T_OK(store_message_range(t->st, inbox.id, 1, 1, 0, &rows, &n, E));
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].keywords, "$Work");
	assert_int_equal(rows[0].flags, STORE_FLAG_SEEN);
	store_message_list_free(&rows, n);
	/* UNCHANGEDSINCE: message 1 changed after the MODSEQ given, 2 and 3 did not. */
	cond.unchangedsince = inbox.highestmodseq + 1;
	T_OK(store_message_update_flags(t->st, inbox.id, uids, 3, &cond, &res, E));
	assert_int_equal(res.nfailed, 1);
	assert_int_equal(failed[0], 1);
	assert_int_equal(res.changed, 2);
	/* Changes since a MODSEQ, and a UID range. */
	T_OK(store_message_range(t->st, inbox.id, 1, UINT32_MAX, res.modseq - 1, &rows, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].uid, 2);
	assert_int_equal(rows[1].uid, 3);
	store_message_list_free(&rows, n);
	T_OK(store_message_range(t->st, inbox.id, 2, 2, 0, &rows, &n, E));
	assert_int_equal(n, 1);
	store_message_list_free(&rows, n);
	add.keywords = "\\Bad";
	T_REFUSED(store_message_update_flags(t->st, inbox.id, uids, 1, &add, &res, E), STORE_E_INVALID);
}

static void
test_store_mailbox_count_and_get_id(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox, byid;
	struct store_mailbox_counts c;
	uint32_t one = 1;

	for (int i = 0; i < 3; i++)
		t_deliver(t, t->alice, 100);
	inbox = t_mailbox(t, t->alice, "INBOX");
	T_OK(store_message_set_flags(t->st, inbox.id, one, STORE_FLAG_SEEN | STORE_FLAG_DELETED, "", NULL, E));
	T_OK(store_mailbox_count(t->st, inbox.id, &c, E));
	assert_int_equal(c.unseen, 2);
	assert_int_equal(c.deleted, 1);
	assert_int_equal(c.size, 300);
	T_OK(store_mailbox_get_id(t->st, inbox.id, &byid, E));
	assert_string_equal(byid.name, "INBOX");
	assert_int_equal(byid.messages, 3);
	T_REFUSED(store_mailbox_get_id(t->st, 99999, &byid, E), STORE_E_NOTFOUND);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_mailbox_name),
		T(test_store_mailbox_create_delete),
		T(test_store_mailbox_rename),
		T(test_store_mailbox_rename_inbox),
		T(test_store_mailbox_subscriptions),
		T(test_store_mailbox_expunge_uids),
		T(test_store_mailbox_copy_move),
		T(test_store_mailbox_notify),
		T(test_store_mailbox_update_flags),
		T(test_store_mailbox_count_and_get_id),
	};
	return cmocka_run_group_tests_name("store_mailbox", tests, NULL, NULL);
}
