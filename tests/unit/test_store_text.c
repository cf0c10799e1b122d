/*
 * Unit tests for schema v3 (home/store_text.c and the delivery path in
 * home/store.c): each body's MIME structure kept from delivery, the
 * full-text index and SEARCH over it, APPEND into a named mailbox, and
 * bodies stored before v3 (a v2 file made here from the v1 and v2
 * migrations, with rows written by hand).
 *
 * Expected UID lists are written out from the messages below; tables
 * are compared with what mime_parse() makes of the same bytes (as
 * blobs). What the API does not show (index rows, blobs, the tombstone
 * table) is read with SQL on a connection of its own.
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
#include "../../home/mime.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_BIG_TEXT_AT 150000	/* where the big message's needle is: in its third chunk */

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
	log_init("test_store_text", LOG_LEVEL_ERROR, NULL);
	if (testutil_mkdtemp(t->dir, sizeof(t->dir), "store_text") != 0)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/mail.db", t->dir);
	t->st = store_open(t->path, STORE_OPEN_RECOVER, &t->err);
	if (t->st == NULL || store_domain_add(t->st, "example.test", &t->err) != 0 ||
	    store_user_add(t->st, "alice@example.test", "$argon2id$x", 0, &t->alice, &t->err) != 0 ||
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

	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Deliver msg[0..len) to user, written in pieces of 1 to 7000 bytes; returns the body id. */
static int64_t
t_deliver(struct t_state *t, int64_t user, const char *msg, size_t len)
{
	struct store_delivery *d = store_delivery_begin(t->st, "s@example.org", E);
	size_t off = 0, n, step = 1;
	int64_t body;

	assert_non_null(d);
	T_OK(store_delivery_add_user(d, user, E));
	while (off < len) {
		n = len - off < step ? len - off : step;
		T_OK(store_delivery_write(d, msg + off, n, E));
		off += n;
		step = step * 3 % 7001 + 1;
	}
	T_OK(store_delivery_commit(d, 1700000000, E));
	body = store_delivery_body_id(d);
	assert_int_equal(store_delivery_uid(d), 0);	/* not an APPEND */
	store_delivery_free(&d);
	return body;
}

static struct store_mailbox
t_mailbox(struct t_state *t, int64_t user, const char *name)
{
	struct store_mailbox mb;

	T_OK(store_mailbox_get(t->st, user, name, &mb, E));
	return mb;
}

/* The table the store keeps for body equals mime_parse() of msg: same blob. */
static void
t_same_table(struct t_state *t, int64_t body, const char *msg, size_t len)
{
	struct mime *got = NULL, *want = NULL;
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	T_OK(store_body_mime(t->st, body, &got, E));
	assert_int_equal(mime_parse(msg, len, NULL, &want), 0);
	assert_int_equal(mime_blob_write(got, &a, &alen), 0);
	assert_int_equal(mime_blob_write(want, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	mime_free(&got);
	mime_free(&want);
}

/* ---- the messages ---- */

static const char t_msg1[] =
	"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jurgen@example.org>\r\n"
	"To: Alice <alice@example.test>\r\n"
	"Cc: Team <team@example.org>\r\n"
	"Subject: Quarterly =?utf-8?b?QsO8ZGdldA==?= review\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"The numbers for the caf=E9 project are in.\r\n"
	"Say \"hello\" to 100% of the_team.\r\n";

static const char t_msg2[] =
	"From: bob@example.org\r\n"
	"To: alice@example.test\r\n"
	"Bcc: secret-watcher@example.net\r\n"
	"Subject: Lunch?\r\n"
	"Content-Type: multipart/alternative; boundary=x\r\n"
	"\r\n"
	"--x\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"R3LDvMOfZSBhdXMgS8O2bG4uIMOEw5bDnCBiaWcgbGV0dGVycy4NCg==\r\n"
	"--x\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>HTML <b>lunch</b> menu</p>\r\n"
	"--x--\r\n";

static const char t_msg4[] =
	"Subject: short\r\n"
	"\r\n"
	"ab cd\r\n";

/*
 * Message 3: over three chunks, an image first (its base64 is never
 * indexed), then a text part whose needle sits at T_BIG_TEXT_AT.
 */
static char *
t_msg3(size_t *len_r)
{
	static const char head[] =
		"From: carol@example.org\r\n"
		"X-Folded: first\r\n second\r\n"
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"Content-Type: image/png\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n";
	static const char mid[] =
		"\r\n--b\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n";
	static const char tail[] = "needle-in-the-third-chunk\r\n--b--\r\n";
	char *m = malloc(T_BIG_TEXT_AT + 200000);
	size_t len = 0;

	assert_non_null(m);
	memcpy(m, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	while (len < 100000) {
		memcpy(m + len, "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA\r\n", 74);
		len += 74;
	}
	memcpy(m + len, mid, sizeof(mid) - 1);
	len += sizeof(mid) - 1;
	while (len < T_BIG_TEXT_AT) {
		memcpy(m + len, "filler words of the long text part\r\n", 36);
		len += 36;
	}
	memcpy(m + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	*len_r = len;
	return m;
}

/* Search and compare with want[0..nwant). */
static void
t_search(struct t_state *t, int64_t mailbox, int field, const char *needle, const uint32_t *want, size_t nwant)
{
	uint32_t *uids = NULL;
	size_t n = 0;

	if (store_search_text(t->st, mailbox, field, needle, strlen(needle), &uids, &n, E) != 0)
		fail_msg("search %d \"%s\": %s", field, needle, t->err.msg);
	if (n != nwant || (n > 0 && memcmp(uids, want, n * sizeof(*uids)) != 0)) {
		char got[256] = "";
		size_t o = 0;

		for (size_t i = 0; i < n && o + 12 < sizeof(got); i++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, " %u", uids[i]);
		fail_msg("search %d \"%s\": got%s (%zu), want %zu", field, needle, got, n, nwant);
	}
	free(uids);
}

#define U(...) ((const uint32_t[]){ __VA_ARGS__ }), sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t)
#define NONE NULL, 0

/* ---- tests ---- */

/* Delivery keeps the structure: the same table as a parse of the bytes, for small and multi-chunk bodies. */
static void
test_store_text_mime_kept(void **state)
{
	struct t_state *t = *state;
	size_t len3;
	char *m3 = t_msg3(&len3);
	int64_t b1 = t_deliver(t, t->alice, t_msg1, sizeof(t_msg1) - 1);
	int64_t b3 = t_deliver(t, t->alice, m3, len3);
	struct mime *m = NULL;

	size_t done = 0, left = 1;

	/* The structure comes with the commit; the text later, from the backfill. */
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE mime IS NOT NULL AND indexed = 0"), 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 0);
	T_OK(store_text_backfill(t->st, 10, &done, &left, E));
	assert_int_equal(done, 2);
	assert_int_equal(left, 0);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE mime IS NOT NULL AND indexed = 1"), 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 2);
	t_same_table(t, b1, t_msg1, sizeof(t_msg1) - 1);
	t_same_table(t, b3, m3, len3);
	T_REFUSED(store_body_mime(t->st, 999, &m, E), STORE_E_NOTFOUND);
	free(m3);
}

/* A body without a blob, or with one that does not read, is parsed again, and the blob saved. */
static void
test_store_text_mime_lazy(void **state)
{
	struct t_state *t = *state;
	size_t len3;
	char *m3 = t_msg3(&len3);
	int64_t b1 = t_deliver(t, t->alice, t_msg1, sizeof(t_msg1) - 1);
	int64_t b3 = t_deliver(t, t->alice, m3, len3);
	int64_t good = t_sql(t, "SELECT length(mime) FROM bodies WHERE id = 1");

	assert_int_equal(b1, 1);
	assert_true(good > 0);
	assert_int_equal(t_sql(t, "UPDATE bodies SET mime = NULL WHERE id = 1 RETURNING 0"), 0);
	assert_int_equal(t_sql(t, "UPDATE bodies SET mime = x'485000' WHERE id = 2 RETURNING 0"), 0);
	t_same_table(t, b1, t_msg1, sizeof(t_msg1) - 1);
	t_same_table(t, b3, m3, len3);
	assert_int_equal(t_sql(t, "SELECT length(mime) FROM bodies WHERE id = 1"), good);
	assert_true(t_sql(t, "SELECT length(mime) FROM bodies WHERE id = 2") > 3);
	free(m3);
}

/* Every field, case, phrase quoting, short needles, the mailbox's own messages only. */
static void
test_store_text_search(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox = t_mailbox(t, t->alice, "INBOX");
	size_t len3;
	char *m3 = t_msg3(&len3);
	uint32_t *uids = NULL;
	size_t n = 0;
	char big[STORE_SEARCH_NEEDLE_MAX + 2];

	t_deliver(t, t->alice, t_msg1, sizeof(t_msg1) - 1);
	t_deliver(t, t->alice, t_msg2, sizeof(t_msg2) - 1);
	t_deliver(t, t->alice, m3, len3);
	t_deliver(t, t->alice, t_msg4, sizeof(t_msg4) - 1);
	t_deliver(t, t->bob, t_msg1, sizeof(t_msg1) - 1);	/* bob's: never in alice's answers */

	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "quarterly", U(1));
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "B\xc3\x9c" "DGET REV", U(1));	/* decoded, any case */
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "lunch", U(2));
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "numbers", NONE);
	t_search(t, inbox.id, STORE_SEARCH_FROM, "M\xc3\x9cLLER", U(1));
	t_search(t, inbox.id, STORE_SEARCH_FROM, "jurgen@", U(1));
	t_search(t, inbox.id, STORE_SEARCH_FROM, "bob", U(2));
	t_search(t, inbox.id, STORE_SEARCH_FROM, "alice", NONE);
	t_search(t, inbox.id, STORE_SEARCH_TO, "alice@example.test", U(1, 2));
	t_search(t, inbox.id, STORE_SEARCH_CC, "team@", U(1));
	t_search(t, inbox.id, STORE_SEARCH_CC, "bob", NONE);
	t_search(t, inbox.id, STORE_SEARCH_BCC, "watcher", U(2));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "caf\xc3\xa9 project", U(1));	/* quoted-printable, Latin-1 */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "CAF\xc3\x89", U(1));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "gr\xc3\xbc\xc3\x9f" "e aus k\xc3\xb6ln", U(2));	/* base64 */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "\xc3\xa4\xc3\xb6\xc3\xbc", U(2));	/* 3 letters, other case */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "lunch</b>", U(2));	/* HTML as it is */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "needle-in-the-third-chunk", U(3));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "iVBORw0KGgo", NONE);	/* the image is not text */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "quarterly", NONE);	/* the subject is header */
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "quarterly", U(1));
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "say \"hello\" to", U(1));	/* a quote in the phrase */
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "\"", U(1));
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "to\" OR \"lunch", NONE);	/* one phrase, not a query */
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "NEAR(a b)", NONE);
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "lunch", U(2));
	t_search(t, inbox.id, STORE_SEARCH_HEADER, "x-folded: first second", U(3));	/* unfolded */
	t_search(t, inbox.id, STORE_SEARCH_HEADER, "needle", NONE);
	/* Short needles: LIKE, with its own characters escaped. */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "%", U(1));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "_t", U(1));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "AB", U(4));
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "?", U(2));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "\xc3\x84", U(2));
	t_search(t, inbox.id, STORE_SEARCH_BODY, "\xc3\xa4", NONE);	/* LIKE knows ASCII's case only */
	t_search(t, inbox.id, STORE_SEARCH_BODY, "\xe2\x82\xac", NONE);
	t_search(t, inbox.id, STORE_SEARCH_BODY, "zq", NONE);
	t_search(t, inbox.id, STORE_SEARCH_TEXT, "", U(1, 2, 3, 4));
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "\r", U(1, 2, 3, 4));	/* CRs are not indexed: empty */
	t_search(t, t_mailbox(t, t->alice, "Trash").id, STORE_SEARCH_TEXT, "quarterly", NONE);

	/* Refused: bad field, not UTF-8, NUL, too long. */
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_FIELDS, "abc", 3, &uids, &n, E), STORE_E_INVALID);
	T_REFUSED(store_search_text(t->st, inbox.id, -1, "abc", 3, &uids, &n, E), STORE_E_INVALID);
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, "ab\xff", 3, &uids, &n, E), STORE_E_INVALID);
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, "\xc3", 1, &uids, &n, E), STORE_E_INVALID);
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, "\xed\xa0\x80", 3, &uids, &n, E),
		  STORE_E_INVALID);
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, "a\0b", 3, &uids, &n, E), STORE_E_INVALID);
	memset(big, 'a', sizeof(big));
	T_REFUSED(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, big, STORE_SEARCH_NEEDLE_MAX + 1, &uids, &n, E),
		  STORE_E_INVALID);
	T_OK(store_search_text(t->st, inbox.id, STORE_SEARCH_BODY, big, STORE_SEARCH_NEEDLE_MAX, &uids, &n, E));
	assert_int_equal(n, 0);
	free(m3);
}

/* Bodies are shared: the index row stays while a message holds the body, and goes with the last. */
static void
test_store_text_removal(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox inbox = t_mailbox(t, t->alice, "INBOX"), archive = t_mailbox(t, t->alice, "Archive");
	uint32_t one = 1, two = 2, copied = 0;
	uint64_t modseq;

	t_deliver(t, t->alice, t_msg1, sizeof(t_msg1) - 1);
	t_deliver(t, t->alice, t_msg2, sizeof(t_msg2) - 1);
	T_OK(store_message_copy(t->st, inbox.id, &one, 1, archive.id, 0, &copied, E));
	t_search(t, archive.id, STORE_SEARCH_SUBJECT, "quarterly", U(1));
	T_OK(store_message_expunge_uids(t->st, inbox.id, &one, 1, &modseq, E));
	t_search(t, inbox.id, STORE_SEARCH_SUBJECT, "quarterly", NONE);
	t_search(t, archive.id, STORE_SEARCH_SUBJECT, "quarterly", U(1));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 2);
	T_OK(store_message_expunge_uids(t->st, archive.id, &copied, 1, &modseq, E));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 1);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text WHERE body_text MATCH 'quarterly'"), 0);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text_gone"), 0);

	/* A mailbox deleted, a user removed: their bodies' rows go in the same commit. */
	T_OK(store_message_copy(t->st, inbox.id, &two, 1, archive.id, 1, &copied, E));
	T_OK(store_mailbox_delete(t->st, t->alice, "Archive", E));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 0);
	t_deliver(t, t->bob, t_msg4, sizeof(t_msg4) - 1);
	T_OK(store_text_backfill(t->st, 10, NULL, NULL, E));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 1);
	T_OK(store_user_remove(t->st, "bob@example.test", E));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 0);

	/* A body only the queue held. */
	{
		struct store_queue_entry *q = NULL;
		struct store_delivery *d = store_delivery_begin(t->st, "alice@example.test", E);
		size_t nq = 0;

		assert_non_null(d);
		T_OK(store_delivery_add_remote(d, "x@remote.test", E));
		T_OK(store_delivery_write(d, t_msg4, sizeof(t_msg4) - 1, E));
		T_OK(store_delivery_commit(d, 1, E));
		store_delivery_free(&d);
		T_OK(store_text_backfill(t->st, 10, NULL, NULL, E));
		assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 1);
		T_OK(store_queue_list(t->st, &q, &nq, E));
		assert_int_equal(nq, 1);
		T_OK(store_queue_remove(t->st, q[0].id, E));
		free(q);
	}
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 0);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text_gone"), 0);
	T_OK(store_integrity_check(t->st, E));
}

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

/* Append t_msg1 to mailbox with flags and keywords. Returns what commit returned. */
static int
t_append(struct t_state *t, int64_t mailbox, unsigned flags, const char *keywords, int64_t date,
	 uint32_t *uid_r, uint32_t *uidvalidity_r)
{
	struct store_delivery *d = store_delivery_begin(t->st, "", E);
	int rc;

	assert_non_null(d);
	T_OK(store_delivery_add_mailbox(d, mailbox, flags, keywords, E));
	T_OK(store_delivery_write(d, t_msg1, sizeof(t_msg1) - 1, E));
	assert_int_equal(store_delivery_uid(d), 0);
	rc = store_delivery_commit(d, date, E);
	*uid_r = store_delivery_uid(d);
	*uidvalidity_r = store_delivery_uidvalidity(d);
	store_delivery_free(&d);
	return rc;
}

/* APPEND: into a named mailbox with flags, keywords and date; its UID; quota; the watcher hears. */
static void
test_store_text_append(void **state)
{
	struct t_state *t = *state;
	struct store_mailbox sent = t_mailbox(t, t->alice, "Sent");
	struct store_message *msgs = NULL;
	struct store_delivery *d;
	struct t_heard h = { .n = 0 };
	struct store_user u;
	uint32_t uid = 0, uidv = 0;
	size_t n = 0;

	store_set_notify(t->st, t_hear, &h);
	T_OK(t_append(t, sent.id, STORE_FLAG_SEEN | STORE_FLAG_DRAFT, "$Forwarded work", 1600000000, &uid, &uidv));
	assert_int_equal(uid, 1);
	assert_int_equal(uidv, sent.uidvalidity);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.ids[0], sent.id);
	T_OK(t_append(t, sent.id, 0, "", 1600000001, &uid, &uidv));
	assert_int_equal(uid, 2);
	T_OK(store_message_list(t->st, sent.id, &msgs, &n, E));
	assert_int_equal(n, 2);
	assert_int_equal(msgs[0].uid, 1);
	assert_int_equal(msgs[0].flags, STORE_FLAG_SEEN | STORE_FLAG_DRAFT);
	assert_string_equal(msgs[0].keywords, "$Forwarded work");
	assert_int_equal(msgs[0].internal_date, 1600000000);
	assert_int_equal(msgs[0].size, sizeof(t_msg1) - 1);
	assert_int_equal(msgs[1].flags, 0);
	assert_true(msgs[0].modseq < msgs[1].modseq);
	store_message_list_free(&msgs, n);
	assert_int_equal(t_mailbox(t, t->alice, "INBOX").messages, 0);
	t_search(t, sent.id, STORE_SEARCH_SUBJECT, "quarterly", U(1, 2));
	T_OK(store_user_get_id(t->st, t->alice, &u, E));
	assert_int_equal(u.used, 2 * (sizeof(t_msg1) - 1));

	/* Quota: one more does not fit; nothing changes, nobody hears. */
	T_OK(store_user_set_quota(t->st, "alice@example.test", 3 * (sizeof(t_msg1) - 1) - 1, E));
	h.n = 0;
	T_REFUSED(t_append(t, sent.id, 0, "", 1, &uid, &uidv), STORE_E_QUOTA);
	assert_int_equal(uid, 0);
	assert_int_equal(uidv, 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(t_mailbox(t, t->alice, "Sent").messages, 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies"), 2);	/* the two appended */
	store_set_notify(t->st, NULL, NULL);

	/* Refused: no such mailbox, bad flags or keywords, two targets, mixed with recipients. */
	d = store_delivery_begin(t->st, "", E);
	assert_non_null(d);
	T_REFUSED(store_delivery_add_mailbox(d, 9999, 0, "", E), STORE_E_NOTFOUND);
	T_REFUSED(store_delivery_add_mailbox(d, sent.id, 0x100, "", E), STORE_E_INVALID);
	T_REFUSED(store_delivery_add_mailbox(d, sent.id, 0, "bad\\kw", E), STORE_E_INVALID);
	T_OK(store_delivery_add_mailbox(d, sent.id, 0, "", E));
	T_REFUSED(store_delivery_add_mailbox(d, sent.id, 0, "", E), STORE_E_INVALID);
	T_REFUSED(store_delivery_add_user(d, t->bob, E), STORE_E_INVALID);
	T_REFUSED(store_delivery_add_remote(d, "x@remote.test", E), STORE_E_INVALID);
	store_delivery_free(&d);
	d = store_delivery_begin(t->st, "", E);
	T_OK(store_delivery_add_user(d, t->bob, E));
	T_REFUSED(store_delivery_add_mailbox(d, sent.id, 0, "", E), STORE_E_INVALID);
	store_delivery_free(&d);

	/* The mailbox goes away between the start and the commit. */
	{
		struct store_mailbox box;

		T_OK(store_mailbox_create(t->st, t->bob, "Lists", &box, E));
		d = store_delivery_begin(t->st, "", E);
		T_OK(store_delivery_add_mailbox(d, box.id, 0, "", E));
		T_OK(store_delivery_write(d, t_msg4, sizeof(t_msg4) - 1, E));
		T_OK(store_mailbox_delete(t->st, t->bob, "Lists", E));
		T_REFUSED(store_delivery_commit(d, 1, E), STORE_E_NOTFOUND);
		store_delivery_free(&d);
	}
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE pending = 1"), 0);
	T_OK(store_integrity_check(t->st, E));
}

/* ---- bodies stored before v3 ---- */

/*
 * A v2 mail.db as the previous release left it: alice with an INBOX of
 * two messages (t_msg1, and message 3 in 64 KiB chunks), and a pending
 * body a crash left.
 */
static void
t_make_v2(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	size_t len3;
	char *m3 = t_msg3(&len3);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int v = 0; v < 2; v++) {
		char pragma[64];

		assert_int_equal(sqlite3_exec(db, store_sql_migrations[v], NULL, NULL, NULL), SQLITE_OK);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
	}
	if (sqlite3_exec(db,
			 "INSERT INTO domains (id, name, created) VALUES (1, 'example.test', 0);"
			 "INSERT INTO users (id, domain_id, local, password_hash, created) VALUES (1, 1, 'alice', '', 0);"
			 "INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 7, 3);"
			 "INSERT INTO bodies (id, size, pending, created) VALUES (3, 5, 1, 0);"
			 "INSERT INTO body_chunks (body_id, start, data) VALUES (3, 0, x'6162636465');",
			 NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("v2 rows: %s", sqlite3_errmsg(db));
	for (int b = 1; b <= 2; b++) {
		const char *msg = b == 1 ? t_msg1 : m3;
		size_t len = b == 1 ? sizeof(t_msg1) - 1 : len3;

		assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO bodies (id, size, pending, created) VALUES (?1, ?2, 0, 0)",
						    -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_int64(s, 1, b);
		sqlite3_bind_int64(s, 2, (int64_t)len);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_finalize(s);
		for (size_t off = 0; off < len; off += STORE_CHUNK_MAX) {
			size_t n = len - off < STORE_CHUNK_MAX ? len - off : STORE_CHUNK_MAX;

			assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO body_chunks (body_id, start, data) VALUES (?1, ?2, ?3)",
							    -1, &s, NULL), SQLITE_OK);
			sqlite3_bind_int64(s, 1, b);
			sqlite3_bind_int64(s, 2, (int64_t)off);
			sqlite3_bind_blob(s, 3, msg + off, (int)n, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(s), SQLITE_DONE);
			sqlite3_finalize(s);
		}
		assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO messages (mailbox_id, uid, modseq, internal_date, size, body_id)"
						    " VALUES (1, ?1, ?1, 0, ?2, ?1)", -1, &s, NULL), SQLITE_OK);
		sqlite3_bind_int64(s, 1, b);
		sqlite3_bind_int64(s, 2, (int64_t)len);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	free(m3);
}

/* Opened without recovery (the homeport command): upgraded, nothing indexed; a search indexes its mailbox. */
static void
test_store_text_v2_lazy(void **state)
{
	struct t_state *t = *state;
	size_t len3;
	char *m3 = t_msg3(&len3);

	store_close(&t->st);
	testutil_rmtree(t->dir);
	assert_int_equal(testutil_mkdtemp(t->dir, sizeof(t->dir), "store_text"), 0);
	snprintf(t->path, sizeof(t->path), "%s/mail.db", t->dir);
	t_make_v2(t->path);
	t->st = store_open(t->path, 0, E);
	assert_non_null(t->st);
	assert_int_equal(t_sql(t, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE indexed = 0 AND mime IS NULL"), 3);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 0);
	/* FETCH's structure: parsed from the bytes on first request, and kept. */
	t_same_table(t, 2, m3, len3);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE mime IS NOT NULL"), 1);
	t_search(t, 1, STORE_SEARCH_BODY, "needle-in-the-third", U(2));
	t_search(t, 1, STORE_SEARCH_SUBJECT, "quarterly", U(1));
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE indexed = 1 AND mime IS NOT NULL"), 2);
	t_same_table(t, 1, t_msg1, sizeof(t_msg1) - 1);
	/* A new delivery after the old ones. */
	t_deliver(t, 1, t_msg4, sizeof(t_msg4) - 1);
	t_search(t, 1, STORE_SEARCH_TEXT, "short", U(3));
	T_OK(store_integrity_check(t->st, E));
	free(m3);
}

/* Opened by homeportd (recovering): the leftover goes; the old bodies are indexed by the backfill, in rounds. */
static void
test_store_text_v2_backfill(void **state)
{
	struct t_state *t = *state;
	size_t done = 99, left = 99;

	store_close(&t->st);
	testutil_rmtree(t->dir);
	assert_int_equal(testutil_mkdtemp(t->dir, sizeof(t->dir), "store_text"), 0);
	snprintf(t->path, sizeof(t->path), "%s/mail.db", t->dir);
	t_make_v2(t->path);
	t->st = store_open(t->path, STORE_OPEN_RECOVER, E);
	assert_non_null(t->st);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies"), 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE indexed = 0 AND mime IS NULL"), 2);
	T_OK(store_text_backfill(t->st, 10, &done, &left, E));
	assert_int_equal(done, 2);
	assert_int_equal(left, 0);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM bodies WHERE indexed = 1 AND mime IS NOT NULL"), 2);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 2);
	t_search(t, 1, STORE_SEARCH_BODY, "needle-in-the-third", U(2));

	/* In rounds: max bodies at a time, and how many are left. */
	assert_int_equal(t_sql(t, "UPDATE bodies SET indexed = 0, mime = NULL RETURNING 0"), 0);
	assert_int_equal(t_sql(t, "DELETE FROM body_text"), -1);
	T_OK(store_text_backfill(t->st, 1, &done, &left, E));
	assert_int_equal(done, 1);
	assert_int_equal(left, 1);
	T_OK(store_text_backfill(t->st, 1, &done, &left, E));
	assert_int_equal(done, 1);
	assert_int_equal(left, 0);
	assert_int_equal(t_sql(t, "SELECT count(*) FROM body_text"), 2);
	t_search(t, 1, STORE_SEARCH_SUBJECT, "quarterly", U(1));
	T_OK(store_integrity_check(t->st, E));
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_text_mime_kept),
		T(test_store_text_mime_lazy),
		T(test_store_text_search),
		T(test_store_text_removal),
		T(test_store_text_append),
		T(test_store_text_v2_lazy),
		T(test_store_text_v2_backfill),
	};
	return cmocka_run_group_tests_name("store_text", tests, NULL, NULL);
}
