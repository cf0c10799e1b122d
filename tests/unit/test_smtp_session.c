/*
 * Unit tests for home/smtp_session: SMTP dialogues as data (send these
 * bytes, expect these replies), against a real store in a temporary
 * directory with the domain example.test and the users alice (password
 * "correct horse"), bob (a small quota) and carol, and an alias
 * team@example.test for alice and bob. Each dialogue that matters is also
 * fed one byte at a time. What reaches the store is read back: the
 * message with its trace fields, one body for several recipients, queue
 * rows, and nothing at all for every refused message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "addr.h"
#include "log.h"

#include "../../home/home.h"
#include "testutil.h"

#define T_PATH_MAX 512
#define T_OUT_MAX (256 * 1024)
#define T_BODY_MAX (256 * 1024)
#define T_PASSWORD "correct horse"
#define T_BOB_QUOTA 5000
#define T_SIZE_MAX 20000
#define T_MAX_RCPT 3
#define T_MAX_ERRORS 10

#define S(x) (const uint8_t *)(x), sizeof(x) - 1

struct t_state {
	char dir[T_PATH_MAX];
	struct store *st;
	struct throttle *th;
	int64_t alice, bob, carol;
	int64_t now;
	char out[T_OUT_MAX];
	size_t outlen;
};

static const struct throttle_conf t_throttle = {
	.delay_ms = 1000, .delay_max_ms = 4000, .lockout_failures = 3, .lockout_ms = 60000,
};

static int
t_setup(void **state)
{
	struct t_state *t = calloc(1, sizeof(*t));
	char path[T_PATH_MAX + 16], hash[PASSWORD_HASH_MAX];
	struct store_err err;

	if (t == NULL || sodium_init() < 0)
		return -1;
	log_init("test_smtp_session", LOG_LEVEL_ERROR, NULL);
	if (testutil_mkdtemp(t->dir, sizeof(t->dir), "smtp_session") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/mail.db", t->dir);
	t->st = store_open(path, STORE_OPEN_RECOVER, &err);
	if (t->st == NULL || password_hash(T_PASSWORD, strlen(T_PASSWORD), hash) != 0 ||
	    store_domain_add(t->st, "example.test", &err) != 0 ||
	    store_domain_add(t->st, "other.example", &err) != 0 ||
	    store_user_add(t->st, "alice@example.test", hash, 0, &t->alice, &err) != 0 ||
	    store_user_add(t->st, "bob@example.test", hash, T_BOB_QUOTA, &t->bob, &err) != 0 ||
	    store_user_add(t->st, "carol@other.example", hash, 0, &t->carol, &err) != 0 ||
	    store_user_add(t->st, "postmaster@example.test", "", 0, NULL, &err) != 0 ||
	    store_alias_add(t->st, "team@example.test", "alice@example.test", &err) != 0 ||
	    store_alias_add(t->st, "team@example.test", "bob@example.test", &err) != 0 ||
	    store_alias_add(t->st, "a.l.i.c.e@example.test", "alice@example.test", &err) != 0)
		return -1;
	t->th = throttle_new(&t_throttle, 0);
	t->now = 1000000;
	*state = t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *t = *state;
	int rc;

	store_close(&t->st);
	throttle_free(&t->th);
	rc = testutil_rmtree(t->dir);
	free(t);
	return rc;
}

static struct smtp_session *
t_session(struct t_state *t, int mode, int tls)
{
	struct addr peer;
	struct smtp_session_params p = {
		.hostname = "mx.example.test",
		.mode = mode,
		.tls_offered = 1,
		.size_max = T_SIZE_MAX,
		.max_recipients = T_MAX_RCPT,
		.max_errors = T_MAX_ERRORS,
		.peer = &peer,
		.sid = "0123456789ab",
	};
	struct smtp_session *s;

	assert_int_equal(addr_parse("198.51.100.25:40000", strlen("198.51.100.25:40000"),
				    ADDR_PORT_REQUIRED, &peer), 0);
	s = smtp_session_new(&p, t->st, t->th);
	assert_non_null(s);
	if (tls)
		smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	else
		smtp_session_greet(s);
	t->outlen = 0;
	t->out[0] = '\0';
	return s;
}

/* Take the session's output into t->out. */
static void
t_drain(struct t_state *t, struct smtp_session *s)
{
	size_t n;
	const uint8_t *o = smtp_session_output(s, &n);

	assert_true(n <= SMTP_SESSION_OUT_MAX);
	assert_true(t->outlen + n < sizeof(t->out));
	memcpy(t->out + t->outlen, o, n);
	t->outlen += n;
	t->out[t->outlen] = '\0';
	smtp_session_output_consume(s, n);
}

/* A login waits for its password check: run it here, as a worker would. */
static void
t_verify(struct t_state *t, struct smtp_session *s)
{
	struct password_check c = *smtp_session_check(s);

	password_check_run(&c);
	smtp_session_verified(s, &c, t->now);
	assert_null(smtp_session_check(s));
	t_drain(t, s);
}

/*
 * Feed in[0..len) (step bytes at a time; 0: all at once), draining the
 * output as a server would, until all is taken or the session stops
 * going. Returns the bytes taken; t->out holds the replies of this call.
 */
static size_t
t_feed(struct t_state *t, struct smtp_session *s, const uint8_t *in, size_t len, size_t step)
{
	size_t off = 0;

	t->outlen = 0;
	t->out[0] = '\0';
	t_drain(t, s);
	t->outlen = 0;
	t->out[0] = '\0';
	for (;;) {
		size_t n = len - off, took;

		if (smtp_session_action(s) == SESSION_VERIFY) {
			t_verify(t, s);
			continue;
		}
		if (off == len || smtp_session_action(s) != SESSION_GO)
			break;

		if (step != 0 && n > step)
			n = step;
		took = smtp_session_feed(s, in + off, n, t->now);
		off += took;
		(void)smtp_session_delay(s);
		t_drain(t, s);
		if (took == 0 && smtp_session_action(s) == SESSION_GO)
			fail_msg("no progress at %zu", off);
	}
	t_drain(t, s);
	return off;
}

/* The final reply lines' codes and enhanced codes of t->out, "250 2.1.0|354|..." style. */
static const char *
t_codes(struct t_state *t)
{
	static char codes[8192];
	size_t o = 0;
	const char *p = t->out;

	codes[0] = '\0';
	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");
		size_t len;

		assert_non_null(eol);
		len = (size_t)(eol - p);
		if (len >= 4 && p[3] == ' ') {
			/* "250 2.1.0 OK": the code and, if there is one, the enhanced code. */
			size_t k = 3;
			if (len > 5 && p[4] >= '2' && p[4] <= '5' && p[5] == '.') {
				k = 4;
				while (k < len && p[k] != ' ')
					k++;
			}
			if (o > 0)
				codes[o++] = '|';
			memcpy(codes + o, p, k);
			o += k;
			codes[o] = '\0';
		}
		p = eol + 2;
	}
	return codes;
}

static void
t_expect(struct t_state *t, struct smtp_session *s, const char *in, const char *want)
{
	t_feed(t, s, (const uint8_t *)in, strlen(in), 0);
	if (strcmp(t_codes(t), want) != 0)
		fail_msg("sent:\n%s\ngot:\n%s\nwant codes %s, got %s", in, t->out, want, t_codes(t));
}

/* Messages in a user's INBOX. */
static size_t
t_inbox(struct t_state *t, int64_t user, struct store_message **list_r)
{
	struct store_mailbox mb;
	struct store_message *list = NULL;
	struct store_err err;
	size_t n = 0;

	assert_int_equal(store_mailbox_get(t->st, user, "INBOX", &mb, &err), 0);
	assert_int_equal(store_message_list(t->st, mb.id, &list, &n, &err), 0);
	if (list_r != NULL)
		*list_r = list;
	else
		store_message_list_free(&list, n);
	return n;
}

/* The body of the user's newest INBOX message, NUL-terminated, into a static buffer. */
static const char *
t_last_body(struct t_state *t, int64_t user, int64_t *body_id_r)
{
	static char body[T_BODY_MAX];
	struct store_message *list;
	struct store_err err;
	size_t n = t_inbox(t, user, &list), len = 0;

	assert_true(n > 0);
	assert_int_equal(store_body_read(t->st, list[n - 1].body_id, 0, body, sizeof(body) - 1, &len,
					 &err), 0);
	body[len] = '\0';
	if (body_id_r != NULL)
		*body_id_r = list[n - 1].body_id;
	store_message_list_free(&list, n);
	return body;
}

static size_t
t_queue(struct t_state *t, struct store_queue_entry **list_r)
{
	struct store_queue_entry *list = NULL;
	struct store_err err;
	size_t n = 0;

	assert_int_equal(store_queue_list(t->st, &list, &n, &err), 0);
	if (list_r != NULL)
		*list_r = list;
	else
		free(list);
	return n;
}

#define T_MSG "From: x@client.test\r\nSubject: hello\r\n\r\nHello Alice.\r\n..leading dot\r\n"

/* ---- MX ---- */

static void
test_smtp_session_ehlo(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	size_t n;

	smtp_session_output(s, &n);
	assert_int_equal(n, strlen("220 mx.example.test ESMTP Homeport\r\n"));
	t_expect(t, s, "EHLO client.test\r\n", "250");
	assert_non_null(strstr(t->out, "250-mx.example.test Hello 198.51.100.25\r\n"));
	assert_non_null(strstr(t->out, "250-PIPELINING\r\n"));
	assert_non_null(strstr(t->out, "250-SIZE 20000\r\n"));
	assert_non_null(strstr(t->out, "250-8BITMIME\r\n"));
	assert_non_null(strstr(t->out, "250-SMTPUTF8\r\n"));
	assert_non_null(strstr(t->out, "250-ENHANCEDSTATUSCODES\r\n"));
	assert_non_null(strstr(t->out, "250-CHUNKING\r\n"));
	assert_non_null(strstr(t->out, "250-STARTTLS\r\n"));
	assert_null(strstr(t->out, "AUTH"));
	t_expect(t, s, "HELO client.test\r\nNOOP\r\nVRFY alice\r\nHELP\r\nEXPN team\r\nRSET\r\n",
		 "250|250 2.0.0|252 2.5.0|214 2.0.0|502 5.5.1|250 2.0.0");
	t_expect(t, s, "AUTH PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2U=\r\n", "502 5.5.1");
	t_expect(t, s, "QUIT\r\n", "221 2.0.0");
	assert_int_equal(smtp_session_action(s), SESSION_CLOSE);
	smtp_session_free(&s);
	assert_null(s);
	smtp_session_free(&s);
}

static void
test_smtp_session_deliver(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	const char *body;

	t_expect(t, s, "EHLO client.test\r\n", "250");
	t_expect(t, s, "MAIL FROM:<sender@client.test>\r\n", "250 2.1.0");
	t_expect(t, s, "RCPT TO:<alice@example.test>\r\n", "250 2.1.5");
	t_expect(t, s, "DATA\r\n", "354");
	t_expect(t, s, T_MSG, "");
	assert_int_equal(t_inbox(t, t->alice, NULL), 0);	/* nothing before the end */
	t_expect(t, s, ".\r\n", "250 2.0.0");
	assert_non_null(strstr(t->out, "id=0123456789ab.1"));
	assert_int_equal(t_inbox(t, t->alice, NULL), 1);
	body = t_last_body(t, t->alice, NULL);
	assert_true(strncmp(body, "Return-Path: <sender@client.test>\r\nReceived: from client.test "
			    "([198.51.100.25])\r\n\tby mx.example.test (Homeport) with ESMTP id "
			    "0123456789ab.1\r\n\tfor <alice@example.test>;\r\n\t", 171) == 0);
	/* The message itself follows unchanged, the dot unstuffed; nothing is added on MX. */
	assert_non_null(strstr(body, "+0000\r\nFrom: x@client.test\r\nSubject: hello\r\n\r\n"
			       "Hello Alice.\r\n.leading dot\r\n"));
	assert_null(strstr(body, "Message-ID"));
	smtp_session_free(&s);
}

/* A whole transaction in one piece, and byte by byte: the same replies, two messages. */
static void
test_smtp_session_pipelining(void **state)
{
	static const char script[] =
		"EHLO client.test\r\nMAIL FROM:<sender@client.test> SIZE=100 BODY=8BITMIME\r\n"
		"RCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
		"RCPT TO:<Bob@EXAMPLE.test>\r\nRCPT TO:<bob@EXAMPLE.TEST>\r\nDATA\r\n"
		"Subject: pipelined\r\n\r\nhi\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\n"
		"DATA\r\nSubject: bounce\r\n\r\n.\r\nQUIT\r\n";
	static const char want[] = "250|250 2.1.0|250 2.1.5|550 5.1.1|550 5.1.1|250 2.1.5|354|"
				   "250 2.0.0|250 2.1.0|250 2.1.5|354|250 2.0.0|221 2.0.0";
	struct t_state *t = *state;
	size_t steps[] = { 0, 1, 7 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
		size_t before = t_inbox(t, t->alice, NULL);

		assert_int_equal(t_feed(t, s, S(script), steps[i]), sizeof(script) - 1);
		assert_string_equal(t_codes(t), want);
		assert_int_equal(t_inbox(t, t->alice, NULL), before + 2);
		assert_non_null(strstr(t_last_body(t, t->alice, NULL), "Return-Path: <>\r\n"));
		smtp_session_free(&s);
	}
}

/* Several recipients, local users and an alias: one body for all of them. */
static void
test_smtp_session_shared_body(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	int64_t a, b;

	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\nRCPT TO:<team@example.test>\r\n"
		 "RCPT TO:<alice@example.test>\r\nRCPT TO:<carol@other.example>\r\nDATA\r\n"
		 "Subject: all\r\n\r\nx\r\n.\r\n",
		 "250|250 2.1.0|250 2.1.5|250 2.1.5|250 2.1.5|354|250 2.0.0");
	assert_int_equal(t_inbox(t, t->alice, NULL), 1);	/* once, though named twice */
	assert_int_equal(t_inbox(t, t->bob, NULL), 1);
	assert_int_equal(t_inbox(t, t->carol, NULL), 1);
	assert_null(strstr(t_last_body(t, t->alice, &a), "\tfor <"));	/* several: no "for" */
	t_last_body(t, t->bob, &b);
	assert_int_equal(a, b);
	smtp_session_free(&s);
}

/* Only our domains; every open-relay trick refused; the case of a domain does not matter. */
static void
test_smtp_session_relay(void **state)
{
	static const struct {
		const char *rcpt;
		const char *want;
	} cases[] = {
		{ "<someone@elsewhere.test>", "554 5.7.1" },
		{ "<someone%elsewhere.test@example.test>", "550 5.1.1" },	/* percent hack */
		{ "<@example.test:someone@elsewhere.test>", "554 5.7.1" },	/* source route */
		{ "<@elsewhere.test:alice@example.test>", "250 2.1.5" },	/* route dropped, ours */
		{ "<\"someone@elsewhere.test\"@example.test>", "550 5.1.1" },	/* quoted @ */
		{ "<elsewhere.test!someone@example.test>", "550 5.1.1" },	/* bang path */
		{ "<someone@[192.0.2.1]>", "554 5.7.1" },			/* address literal */
		{ "<someone@[IPv6:2001:db8::1]>", "554 5.7.1" },
		{ "<alice@example.test.>", "501 5.1.3" },			/* trailing dot */
		{ "<someone@elsewhere.test.>", "501 5.1.3" },
		{ "<alice@ExAmPlE.TeSt>", "250 2.1.5" },			/* mixed case */
		{ "<\"alice\"@example.test>", "250 2.1.5" },			/* quoting changes nothing */
		{ "<Alice@example.test>", "550 5.1.1" },			/* local parts are exact */
		{ "<postmaster@example.test>", "250 2.1.5" },
		{ "<Postmaster>", "250 2.1.5" },
		{ "<a.l.i.c.e@example.test>", "250 2.1.5" },			/* an alias */
	};
	struct t_state *t = *state;
	char line[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);

		t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\n", "250|250 2.1.0");
		snprintf(line, sizeof(line), "RCPT TO:%s\r\n", cases[i].rcpt);
		t_expect(t, s, line, cases[i].want);
		smtp_session_free(&s);
	}
	assert_int_equal(t_queue(t, NULL), 0);
}

/* The smuggling vectors: the message is refused whole and nothing after the false end runs. */
static void
test_smtp_session_smuggling(void **state)
{
#define T_SMUGGLE "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" \
	"Subject: smuggled\r\n\r\nforged\r\n"
	static const struct {
		const char *what;
		const char *data;
		size_t len;
		const char *reason;
	} cases[] = {
		{ "<LF>.<LF>", "Subject: a\r\n\r\nx\n.\n" T_SMUGGLE, 0, "bare LF" },
		{ "<LF>.<CR><LF>", "Subject: a\r\n\r\nx\n.\r\n" T_SMUGGLE, 0, "bare LF" },
		{ "<CR>.<CR>", "Subject: a\r\n\r\nx\r.\r" T_SMUGGLE, 0, "bare CR" },
		{ "<CR><LF>.<LF>", "Subject: a\r\n\r\nx\r\n.\n" T_SMUGGLE, 0, "bare LF" },
		{ "<CR><LF>.<CR>", "Subject: a\r\n\r\nx\r\n.\r" T_SMUGGLE, 0, "bare CR" },
		{ "bare LF in a line", "Subject: a\r\n\r\nx\ny\r\n", 0, "bare LF" },
		{ "bare CR in a line", "Subject: a\r\n\r\nx\ry\r\n", 0, "bare CR" },
		{ "NUL", "Subject: a\r\n\r\nx\0y\r\n", sizeof("Subject: a\r\n\r\nx\0y\r\n") - 1, "NUL" },
		{ "overlong line", NULL, 0, "longer than 1000" },
	};
	struct t_state *t = *state;
	static char msg[4096];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
		size_t before = t_inbox(t, t->alice, NULL), len;

		if (cases[i].data != NULL) {
			len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].data);
			memcpy(msg, cases[i].data, len);
		} else {
			memset(msg, 'x', 1001);
			memcpy(msg + 1001, "\r\n", 2);
			len = 1003;
		}
		memcpy(msg + len, "\r\n.\r\n", 5);
		len += 5;
		t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\n"
			 "DATA\r\n", "250|250 2.1.0|250 2.1.5|354");
		t_feed(t, s, (const uint8_t *)msg, len, 0);
		if (strcmp(t_codes(t), "550 5.6.0") != 0 || strstr(t->out, cases[i].reason) == NULL)
			fail_msg("%s: %s", cases[i].what, t->out);
		assert_int_equal(t_inbox(t, t->alice, NULL), before);
		/* The session goes on: the next message is fine. */
		t_expect(t, s, "MAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
			 "ok\r\n.\r\n", "250 2.1.0|250 2.1.5|354|250 2.0.0");
		assert_int_equal(t_inbox(t, t->alice, NULL), before + 1);
		assert_null(strstr(t_last_body(t, t->alice, NULL), "smuggled"));
		smtp_session_free(&s);
	}
}

static void
test_smtp_session_bad_lines(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	static char line[2100];

	t_expect(t, s, "EHLO c.test\n", "500 5.5.2");
	t_expect(t, s, "EHLO c.test\r\n", "250");
	/* 998 octets and CRLF is the longest; one more is too long, and so is far more. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 998, "\r\n", 3);
	t_expect(t, s, line, "250 2.0.0");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 999, "\r\n", 3);
	t_expect(t, s, line, "500 5.5.2");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 2090, "\r\nNOOP\r\n", 9);
	t_expect(t, s, line, "500 5.5.2|250 2.0.0");
	t_expect(t, s, "NOOP a\rb\r\n", "500 5.5.2");
	t_expect(t, s, "MAIL FROM:<s@c.test> SIZE=20001\r\n", "552 5.3.4");
	assert_int_equal(smtp_session_action(s), SESSION_GO);
	/* The tenth error ends the session. */
	t_expect(t, s, "FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nNOOP\r\n",
		 "500 5.5.2|500 5.5.2|500 5.5.2|500 5.5.2|500 5.5.2|421 4.7.0");
	assert_int_equal(smtp_session_action(s), SESSION_CLOSE);
	smtp_session_free(&s);
}

/* SIZE while streaming: the message is read to its end, refused, and nothing is kept. */
static void
test_smtp_session_size(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	static char msg[T_SIZE_MAX + 1000];
	size_t len = 0;

	while (len < T_SIZE_MAX + 100) {
		memcpy(msg + len, "0123456789012345678901234567890123456789\r\n", 42);
		len += 42;
	}
	memcpy(msg + len, ".\r\nNOOP\r\n", 9);
	len += 9;
	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\n"
		 "DATA\r\n", "250|250 2.1.0|250 2.1.5|354");
	t_feed(t, s, (const uint8_t *)msg, len, 0);
	assert_string_equal(t_codes(t), "552 5.3.4|250 2.0.0");
	assert_int_equal(t_inbox(t, t->alice, NULL), 0);
	smtp_session_free(&s);
}

static void
test_smtp_session_limits(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);

	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\n"
		 "RCPT TO:<carol@other.example>\r\nRCPT TO:<postmaster@example.test>\r\n"
		 "RCPT TO:<bob@example.test>\r\n",
		 "250|250 2.1.0|250 2.1.5|250 2.1.5|250 2.1.5|452 4.5.3");
	t_expect(t, s, "RSET\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
		 "250 2.0.0|503 5.5.1|503 5.5.1");
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\nDATA\r\n", "250 2.1.0|554 5.5.1");
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\n", "503 5.5.1");
	smtp_session_free(&s);

	/* Quota: bob takes at most T_BOB_QUOTA bytes. */
	s = t_session(t, HOME_LISTENER_SMTP, 0);
	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test> SIZE=6000\r\nRCPT TO:<bob@example.test>\r\n",
		 "250|250 2.1.0|552 5.2.2");
	t_expect(t, s, "RSET\r\nMAIL FROM:<s@c.test> SIZE=3000\r\nRCPT TO:<bob@example.test>\r\n",
		 "250 2.0.0|250 2.1.0|250 2.1.5");
	smtp_session_free(&s);
}

static void
test_smtp_session_starttls(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	static const char inject[] = "STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\n";

	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\n", "250|250 2.1.0");
	/* Bytes after STARTTLS are dropped, never run. */
	assert_int_equal(t_feed(t, s, S(inject), 0), sizeof(inject) - 1);
	assert_string_equal(t_codes(t), "220 2.0.0");
	assert_int_equal(smtp_session_action(s), SESSION_STARTTLS);
	smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
	assert_int_equal(smtp_session_action(s), SESSION_GO);
	/* Afresh: EHLO first again, and no STARTTLS offered. */
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\n", "503 5.5.1");
	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_null(strstr(t->out, "STARTTLS"));
	t_expect(t, s, "STARTTLS\r\n", "503 5.5.1");
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n",
		 "250 2.1.0|250 2.1.5|354|250 2.0.0");
	assert_non_null(strstr(t_last_body(t, t->alice, NULL),
			       "with ESMTPS id 0123456789ab.1\r\n\t(using TLSv1.3 with cipher "
			       "TLS_AES_128_GCM_SHA256)\r\n"));
	smtp_session_free(&s);
}

/* ---- submission ---- */

static const char t_auth_alice[] = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNl\r\n";

static void
test_smtp_session_submission(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SUBMISSION, 0);
	struct store_queue_entry *q;
	const char *body;

	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_null(strstr(t->out, "AUTH"));
	t_expect(t, s, t_auth_alice, "530 5.7.0");
	t_expect(t, s, "MAIL FROM:<alice@example.test>\r\n", "530 5.7.0");
	t_expect(t, s, "STARTTLS\r\n", "220 2.0.0");
	smtp_session_tls_started(s, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_non_null(strstr(t->out, "250-AUTH PLAIN LOGIN\r\n"));
	t_expect(t, s, "MAIL FROM:<alice@example.test>\r\n", "530 5.7.0");
	t_expect(t, s, t_auth_alice, "235 2.7.0");
	t_expect(t, s, t_auth_alice, "503 5.5.1");
	t_expect(t, s, "MAIL FROM:<bob@example.test>\r\n", "553 5.7.1");
	t_expect(t, s, "MAIL FROM:<carol@other.example>\r\n", "553 5.7.1");
	t_expect(t, s, "MAIL FROM:<>\r\n", "553 5.7.1");
	t_expect(t, s, "MAIL FROM:<alice@elsewhere.test>\r\n", "553 5.7.1");
	/* Her own address, and an alias that delivers to her. */
	t_expect(t, s, "MAIL FROM:<a.l.i.c.e@example.test>\r\nRSET\r\n", "250 2.1.0|250 2.0.0");
	t_expect(t, s, "MAIL FROM:<alice@EXAMPLE.test>\r\nRCPT TO:<friend@elsewhere.test>\r\n"
		 "RCPT TO:<bob@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n"
		 "Subject: out\r\nTo: friend@elsewhere.test\r\n\r\nbody\r\n.\r\n",
		 "250 2.1.0|250 2.1.5|250 2.1.5|550 5.1.1|354|250 2.0.0");
	/* Local at once, remote queued, durable by the 250. */
	body = t_last_body(t, t->bob, NULL);
	assert_non_null(strstr(body, "with ESMTPSA id"));
	assert_non_null(strstr(body, "\r\nSubject: out\r\nTo: friend@elsewhere.test\r\nDate: "));
	assert_non_null(strstr(body, "\r\nMessage-ID: <"));
	assert_non_null(strstr(body, "@mx.example.test>\r\n\r\nbody\r\n"));
	assert_int_equal(t_queue(t, &q), 1);
	assert_string_equal(q[0].rcpt, "friend@elsewhere.test");
	assert_string_equal(q[0].mail_from, "alice@EXAMPLE.test");
	free(q);
	/* Date and Message-ID given: nothing added. */
	t_expect(t, s, "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
		 "date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMESSAGE-ID: <x@y>\r\n\r\nb\r\n.\r\n",
		 "250 2.1.0|250 2.1.5|354|250 2.0.0");
	body = t_last_body(t, t->bob, NULL);
	assert_null(strstr(body, "\r\nDate:"));
	assert_null(strstr(body, "\r\nMessage-ID:"));
	/* No empty line at all: they go at the end. */
	t_expect(t, s, "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
		 "Subject: only\r\n.\r\n", "250 2.1.0|250 2.1.5|354|250 2.0.0");
	body = t_last_body(t, t->bob, NULL);
	assert_non_null(strstr(body, "\r\nSubject: only\r\nDate: "));
	smtp_session_free(&s);
}

static void
test_smtp_session_auth_forms(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SUBMISSIONS, 1);

	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_null(strstr(t->out, "STARTTLS"));
	t_expect(t, s, "STARTTLS\r\n", "502 5.5.1");
	t_expect(t, s, "AUTH CRAM-MD5\r\n", "504 5.5.4");
	/* PLAIN in two steps, cancelled. */
	t_expect(t, s, "AUTH PLAIN\r\n", "334");
	t_expect(t, s, "*\r\n", "501 5.0.0");
	/* LOGIN with an initial response ("alice@example.test"), then the password. */
	t_expect(t, s, "AUTH LOGIN YWxpY2VAZXhhbXBsZS50ZXN0\r\n", "334");
	assert_string_equal(t->out, "334 UGFzc3dvcmQ6\r\n");
	t_expect(t, s, "Y29ycmVjdCBob3JzZQ==\r\n", "235 2.7.0");
	smtp_session_free(&s);

	s = t_session(t, HOME_LISTENER_SUBMISSIONS, 1);
	t_expect(t, s, "EHLO c.test\r\nAUTH LOGIN\r\n", "250|334");
	t_expect(t, s, "YWxpY2VAZXhhbXBsZS50ZXN0\r\n", "334");
	t_expect(t, s, "not base64!\r\n", "501 5.5.2");
	/* PLAIN with a foreign authorization identity. */
	t_expect(t, s, "AUTH PLAIN Ym9iQGV4YW1wbGUudGVzdABhbGljZUBleGFtcGxlLnRlc3QAY29ycmVjdCBob3JzZQ==\r\n",
		 "535 5.7.8");
	t_expect(t, s, "AUTH PLAIN\r\n", "334");
	t_expect(t, s, "AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNl\r\n", "235 2.7.0");
	smtp_session_free(&s);
}

/*
 * The password check runs elsewhere: when it cannot (busy workers) the
 * login is a 454 that counts as no failure; a hash with old parameters is
 * replaced by a new one after the right password.
 */
static void
test_smtp_session_login_check(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SUBMISSIONS, 1);
	char old[PASSWORD_HASH_MAX];
	struct store_user u;
	struct store_err err;

	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_int_equal(smtp_session_feed(s, S(t_auth_alice), t->now), sizeof(t_auth_alice) - 1);
	assert_int_equal(smtp_session_action(s), SESSION_VERIFY);
	smtp_session_verified(s, NULL, t->now);
	t->outlen = 0;
	t_drain(t, s);
	assert_string_equal(t_codes(t), "454 4.7.0");
	assert_int_equal(smtp_session_delay(s), 0);
	t_expect(t, s, "MAIL FROM:<alice@example.test>\r\n", "530 5.7.0");

	assert_int_equal(crypto_pwhash_str_alg(old, T_PASSWORD, strlen(T_PASSWORD), crypto_pwhash_OPSLIMIT_MIN,
					       crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13), 0);
	assert_int_equal(store_user_set_password(t->st, "alice@example.test", old, &err), 0);
	t_expect(t, s, t_auth_alice, "235 2.7.0");
	assert_int_equal(store_user_get(t->st, "alice@example.test", &u, &err), 0);
	assert_string_not_equal(u.password_hash, old);
	assert_int_equal(password_needs_rehash(u.password_hash), 0);
	assert_int_equal(password_verify(u.password_hash, T_PASSWORD, strlen(T_PASSWORD)), 1);
	smtp_session_free(&s);
}

/* Failed logins: a delay that grows, then a lockout that even the right password meets. */
static void
test_smtp_session_throttle(void **state)
{
	/* alice@example.test / wrong */
	static const char bad[] = "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n";
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SUBMISSIONS, 1);
	int64_t delays[3];

	t_expect(t, s, "EHLO c.test\r\n", "250");
	for (int i = 0; i < 3; i++) {
		size_t took = smtp_session_feed(s, S(bad), t->now);

		assert_int_equal(took, sizeof(bad) - 1);
		/* The check runs elsewhere; meanwhile the session takes nothing. */
		assert_int_equal(smtp_session_action(s), SESSION_VERIFY);
		assert_int_equal(smtp_session_feed(s, S("NOOP\r\n"), t->now), 0);
		t->outlen = 0;
		t_verify(t, s);
		delays[i] = smtp_session_delay(s);
		assert_int_equal(smtp_session_delay(s), 0);
		assert_string_equal(t_codes(t), "535 5.7.8");
		t->now += 100;
	}
	assert_int_equal(delays[0], 1000);
	assert_int_equal(delays[1], 2000);
	assert_int_equal(delays[2], 4000);
	/* Locked: the right password is not even tried, from this source or for this user. */
	t_expect(t, s, t_auth_alice, "454 4.7.0");
	smtp_session_free(&s);
	t->now += 60000;
	s = t_session(t, HOME_LISTENER_SUBMISSIONS, 1);
	t_expect(t, s, "EHLO c.test\r\n", "250");
	t_expect(t, s, t_auth_alice, "235 2.7.0");
	smtp_session_free(&s);
}

/* ---- BDAT, shutdown, backpressure ---- */

static void
test_smtp_session_bdat(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);

	t_expect(t, s, "EHLO c.test\r\nBDAT 5\r\nhelloNOOP\r\n", "250|503 5.5.1|250 2.0.0");
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\n"
		 "BDAT 14\r\nSubject: b\r\n\r\nBDAT 6 LAST\r\nbody\r\n",
		 "250 2.1.0|250 2.1.5|250 2.0.0|250 2.0.0");
	assert_non_null(strstr(t_last_body(t, t->alice, NULL), "\r\nSubject: b\r\n\r\nbody\r\n"));
	/* A bare LF in a chunk: refused like DATA. */
	t_expect(t, s, "MAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 3 LAST\r\na\nb",
		 "250 2.1.0|250 2.1.5|550 5.6.0");
	assert_int_equal(t_inbox(t, t->alice, NULL), 1);
	t_expect(t, s, "BDAT x\r\n", "501 5.5.4|421 4.5.0");
	assert_int_equal(smtp_session_action(s), SESSION_CLOSE);
	smtp_session_free(&s);
}

static void
test_smtp_session_shutdown(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);

	t_expect(t, s, "EHLO c.test\r\n", "250");
	assert_int_equal(smtp_session_shutdown(s), 1);
	t->outlen = 0;
	t_drain(t, s);
	assert_string_equal(t_codes(t), "421 4.3.2");
	assert_int_equal(smtp_session_action(s), SESSION_CLOSE);
	smtp_session_free(&s);

	/* In DATA: the message is finished, then 421. */
	s = t_session(t, HOME_LISTENER_SMTP, 0);
	t_expect(t, s, "EHLO c.test\r\nMAIL FROM:<s@c.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
		 "250|250 2.1.0|250 2.1.5|354");
	assert_int_equal(smtp_session_in_data(s), 1);
	assert_int_equal(smtp_session_shutdown(s), 0);
	t_expect(t, s, "x\r\n.\r\nNOOP\r\n", "250 2.0.0|421 4.3.2");
	assert_int_equal(t_inbox(t, t->alice, NULL), 1);
	smtp_session_free(&s);

	/* A timeout. */
	s = t_session(t, HOME_LISTENER_SMTP, 0);
	smtp_session_timeout(s);
	t->outlen = 0;
	t_drain(t, s);
	assert_string_equal(t_codes(t), "421 4.4.2");
	smtp_session_free(&s);
}

/* A client that pipelines without reading: the output stays bounded, input waits. */
static void
test_smtp_session_backpressure(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	static char in[6 * 20000];
	size_t len = 0, took;

	for (int i = 0; i < 20000; i++) {
		memcpy(in + len, "NOOP\r\n", 6);
		len += 6;
	}
	took = smtp_session_feed(s, (const uint8_t *)in, len, t->now);
	assert_true(took < len);
	assert_true(took > 0);
	smtp_session_output(s, &len);
	assert_true(len <= SMTP_SESSION_OUT_MAX);
	assert_true(len > SMTP_SESSION_OUT_MAX - SMTP_SESSION_REPLY_MAX);
	/* Nothing more is taken until the output is. */
	assert_int_equal(smtp_session_feed(s, (const uint8_t *)in + took, 6, t->now), 0);
	smtp_session_free(&s);
}

/*
 * The disk refuses every write (RLIMIT_FSIZE of 1 byte: a write past it
 * fails with EFBIG, as a full disk or a failing one would fail SQLite's
 * write): the message gets a 4xx, so its sender keeps it, and nothing of
 * it is stored. With the disk back, the next message is taken and the
 * database is whole.
 */
static void
test_smtp_session_disk_fault(void **state)
{
	struct t_state *t = *state;
	struct smtp_session *s = t_session(t, HOME_LISTENER_SMTP, 0);
	struct rlimit saved, tiny = { .rlim_cur = 1 };
	struct store_err err;
	void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
	const char *codes;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	tiny.rlim_max = saved.rlim_max;
	t_expect(t, s, "EHLO client.test\r\n", "250");
	t_expect(t, s, "MAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@example.test>\r\n",
		 "250 2.1.0|250 2.1.5");
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	t_feed(t, s, S("DATA\r\n" T_MSG ".\r\n"), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	codes = t_codes(t);
	/* 354 then a 4xx at the end, or the 4xx at DATA already (the body is begun there). */
	if (strcmp(codes, "354|451 4.3.0") != 0 && strcmp(codes, "354|452 4.3.1") != 0 &&
	    strncmp(codes, "451 4.3.0", 9) != 0 && strncmp(codes, "452 4.3.1", 9) != 0)
		fail_msg("a failed write must be a 4xx, got:\n%s", t->out);
	assert_int_equal(t_inbox(t, t->alice, NULL), 0);

	t_expect(t, s, "RSET\r\nMAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
		 "DATA\r\n" T_MSG ".\r\n", "250 2.0.0|250 2.1.0|250 2.1.5|354|250 2.0.0");
	assert_int_equal(t_inbox(t, t->alice, NULL), 1);
	assert_int_equal(store_integrity_check(t->st, &err), 0);
	smtp_session_free(&s);
	signal(SIGXFSZ, old_xfsz);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_smtp_session_ehlo),
		T(test_smtp_session_deliver),
		T(test_smtp_session_pipelining),
		T(test_smtp_session_shared_body),
		T(test_smtp_session_relay),
		T(test_smtp_session_smuggling),
		T(test_smtp_session_bad_lines),
		T(test_smtp_session_size),
		T(test_smtp_session_limits),
		T(test_smtp_session_starttls),
		T(test_smtp_session_submission),
		T(test_smtp_session_auth_forms),
		T(test_smtp_session_login_check),
		T(test_smtp_session_throttle),
		T(test_smtp_session_bdat),
		T(test_smtp_session_shutdown),
		T(test_smtp_session_backpressure),
		T(test_smtp_session_disk_fault),
	};
	return cmocka_run_group_tests_name("smtp_session", tests, NULL, NULL);
}
