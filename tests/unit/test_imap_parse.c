/*
 * Unit tests for home/imap_parse: command streams as data. Each case is a
 * stream of bytes and the transcript of events it must give (commands with
 * their argument trees, continuation requests, literals to stream and the
 * bytes streamed, refusals with their exact error code, and what comes
 * after them, which proves the resynchronisation). Every stream is fed
 * whole, one byte at a time and in pseudo-random chunks, and all three
 * transcripts must be the same. Then: every limit at its maximum and one
 * past it, the literal decisions, thousands of pipelined commands in one
 * feed with memory measured, and the helpers (sequence sets, sections,
 * argument accessors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/imap_parse.h"

/* A string literal as (bytes, length): it may hold a NUL. */
#define S(x) x, sizeof(x) - 1

#define T_LOG_MAX (256 * 1024)
#define T_DATA_MAX (1024 * 1024)
#define T_PIPELINED 10000

/* What the test does at a decision point. */
#define T_REFUSE_LITERAL 0x01	/* refuse at IMAP_PARSE_LITERAL (else accept) */
#define T_UNDECIDED 0x02	/* neither accept nor refuse at IMAP_PARSE_LITERAL */
#define T_REFUSE_CONTINUE 0x04	/* refuse at IMAP_PARSE_CONTINUE */

static const char *const t_errors[] = {
	[IMAP_PARSE_OK] = "OK",
	[IMAP_PARSE_E_EMPTY] = "EMPTY",
	[IMAP_PARSE_E_TAG] = "TAG",
	[IMAP_PARSE_E_COMMAND] = "COMMAND",
	[IMAP_PARSE_E_SYNTAX] = "SYNTAX",
	[IMAP_PARSE_E_BAD_CHAR] = "BAD_CHAR",
	[IMAP_PARSE_E_BARE_LF] = "BARE_LF",
	[IMAP_PARSE_E_NUL] = "NUL",
	[IMAP_PARSE_E_QUOTED] = "QUOTED",
	[IMAP_PARSE_E_LITERAL] = "LITERAL",
	[IMAP_PARSE_E_LITERAL_TOO_BIG] = "LITERAL_TOO_BIG",
	[IMAP_PARSE_E_LINE_TOO_LONG] = "LINE_TOO_LONG",
	[IMAP_PARSE_E_COMMAND_TOO_BIG] = "COMMAND_TOO_BIG",
	[IMAP_PARSE_E_DEPTH] = "DEPTH",
	[IMAP_PARSE_E_ARGS] = "ARGS",
	[IMAP_PARSE_E_DISCARD] = "DISCARD",
};

/* The transcript of one run. */
struct t_log {
	char text[T_LOG_MAX];
	size_t len;
	uint8_t data[T_DATA_MAX];	/* every streamed byte, in order */
	size_t data_len;
	size_t data_pending;		/* streamed bytes not yet written as a DATA line */
	unsigned policy;		/* T_* */
	int fatal;
	const struct imap_parse_limits *limits;
};

static void t_printf(struct t_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
t_printf(struct t_log *log, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(log->text + log->len, sizeof(log->text) - log->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(log->text) - log->len);
	log->len += (size_t)n;
}

/* s[0..len) quoted: printable ASCII as it is, "\"" and "\\" escaped, the rest as \xNN. */
static void
t_escaped(struct t_log *log, const char *s, size_t len)
{
	t_printf(log, "\"");
	for (size_t i = 0; i < len; i++) {
		uint8_t b = (uint8_t)s[i];

		if (b == '"' || b == '\\')
			t_printf(log, "\\%c", b);
		else if (b >= 0x20 && b < 0x7f)
			t_printf(log, "%c", b);
		else
			t_printf(log, "\\x%02x", b);
	}
	t_printf(log, "\"");
}

/* Write a as text, checking what holds for every argument on the way. */
static void
t_arg(struct t_log *log, const struct imap_arg *a, size_t depth)
{
	const struct imap_parse_limits *l = log->limits;

	assert_true(depth <= l->depth_max);
	if (a->type == IMAP_ARG_LIST) {
		assert_null(a->str);
		assert_int_equal(a->len, 0);
		assert_true((a->count == 0) == (a->list == NULL));
		t_printf(log, "(");
		for (size_t i = 0; i < a->count; i++) {
			if (i > 0)
				t_printf(log, " ");
			t_arg(log, &a->list[i], depth + 1);
		}
		t_printf(log, ")");
		return;
	}
	assert_non_null(a->str);
	assert_int_equal(a->str[a->len], '\0');
	assert_null(a->list);
	if (!(a->flags & IMAP_ARG_BINARY))
		assert_null(memchr(a->str, '\0', a->len));
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NUMBER:
	case IMAP_ARG_NIL:
		assert_true(a->len > 0);
		for (size_t i = 0; i < a->len; i++) {
			uint8_t b = (uint8_t)a->str[i];

			if (a->flags & IMAP_ARG_SECTION)
				assert_true(b >= 0x20 && b < 0x7f);
			else
				assert_true(b > 0x20 && b < 0x7f && !strchr("(){\"", b));
		}
		if (a->type == IMAP_ARG_NUMBER) {
			char want[32];

			snprintf(want, sizeof(want), "%llu", (unsigned long long)a->num);
			/* Leading zeros aside, the text is the number. */
			assert_true(strlen(a->str) >= strlen(want));
			assert_string_equal(a->str + strlen(a->str) - strlen(want), want);
			t_printf(log, "#%s", a->str);
		} else if (a->type == IMAP_ARG_NIL) {
			assert_true(imap_parse_arg_is(a, "NIL"));
			t_printf(log, "NIL");
		} else {
			t_printf(log, "%s%s", a->flags & IMAP_ARG_SECTION ? "S:" : "", a->str);
		}
		break;
	case IMAP_ARG_STRING:
		assert_true((a->flags & ~(unsigned)IMAP_ARG_8BIT) == 0);
		t_escaped(log, a->str, a->len);
		break;
	case IMAP_ARG_LITERAL:
		t_printf(log, "%s{%llu%s}", a->flags & IMAP_ARG_BINARY ? "~" : "", (unsigned long long)a->num,
			 a->flags & IMAP_ARG_NONSYNC ? "+" : "");
		if (a->flags & IMAP_ARG_STREAMED) {
			assert_int_equal(a->len, 0);
			t_printf(log, "*");
		} else {
			assert_int_equal(a->len, a->num);
			t_escaped(log, a->str, a->len);
		}
		break;
	default:
		fail_msg("argument type %d", a->type);
	}
	if (a->type == IMAP_ARG_STRING || (a->type == IMAP_ARG_LITERAL && !(a->flags & IMAP_ARG_STREAMED))) {
		int high = 0;

		for (size_t i = 0; i < a->len; i++)
			high |= (uint8_t)a->str[i] >= 0x80;
		assert_int_equal(!!(a->flags & IMAP_ARG_8BIT), high);
	}
}

static void
t_args(struct t_log *log, const struct imap_parse_command *r)
{
	assert_true((r->nargs == 0) == (r->args == NULL));
	assert_true(r->nargs <= log->limits->args_max);
	for (size_t i = 0; i < r->nargs; i++) {
		t_printf(log, " ");
		t_arg(log, &r->args[i], 0);
	}
}

static void
t_flush_data(struct t_log *log)
{
	if (log->data_pending > 0)
		t_printf(log, "DATA %zu\n", log->data_pending);
	log->data_pending = 0;
}

/* Write one event and take the decision it asks for. */
static void
t_event(struct imap_parse *p, enum imap_parse_status st, struct t_log *log)
{
	const struct imap_parse_command *r = imap_parse_result(p);

	if (st == IMAP_PARSE_MORE)
		return;
	if (st == IMAP_PARSE_DATA) {
		assert_non_null(r->data);
		assert_true(r->data_len > 0);
		assert_true(log->data_len + r->data_len <= sizeof(log->data));
		memcpy(log->data + log->data_len, r->data, r->data_len);
		log->data_len += r->data_len;
		log->data_pending += r->data_len;
		return;
	}
	t_flush_data(log);
	assert_non_null(r->tag);
	assert_int_equal(strlen(r->tag), r->tag_len);
	assert_true(r->tag_len <= log->limits->tag_max);
	assert_non_null(r->name);
	assert_true((r->cmd == IMAP_CMD_NONE) == (r->name[0] == '\0'));
	switch (st) {
	case IMAP_PARSE_COMMAND:
		assert_int_equal(r->error, IMAP_PARSE_OK);
		assert_null(r->message);
		assert_true(r->tag_len > 0 && r->cmd != IMAP_CMD_NONE);
		t_printf(log, "COMMAND %s %s%s", r->tag, r->uid ? "UID " : "", r->name);
		t_args(log, r);
		t_printf(log, "\n");
		break;
	case IMAP_PARSE_CONTINUE:
		assert_true(r->literal_sync);
		t_printf(log, "CONTINUE %llu\n", (unsigned long long)r->literal_size);
		if (log->policy & T_REFUSE_CONTINUE)
			assert_int_equal(imap_parse_literal_refuse(p), 0);
		/* Only a streamed literal waits for accept. */
		assert_int_equal(imap_parse_literal_accept(p), -1);
		break;
	case IMAP_PARSE_LITERAL:
		t_printf(log, "LITERAL %s %s %llu %s%s:", r->tag, r->name, (unsigned long long)r->literal_size,
			 r->literal_sync ? "sync" : "nonsync", r->literal_binary ? " binary" : "");
		t_args(log, r);
		t_printf(log, "\n");
		if (log->policy & T_UNDECIDED)
			break;
		if (log->policy & T_REFUSE_LITERAL)
			assert_int_equal(imap_parse_literal_refuse(p), 0);
		else
			assert_int_equal(imap_parse_literal_accept(p), 0);
		assert_int_equal(imap_parse_literal_accept(p), -1);
		break;
	case IMAP_PARSE_ERROR:
	case IMAP_PARSE_FATAL:
		assert_true(r->error > IMAP_PARSE_OK && r->error <= IMAP_PARSE_E_DISCARD);
		assert_non_null(r->message);
		assert_true(r->message[0] != '\0');
		for (const char *m = r->message; *m != '\0'; m++)
			assert_true(*m >= 0x20 && *m < 0x7f);
		assert_null(r->args);
		if (st == IMAP_PARSE_FATAL) {
			assert_int_equal(r->error, IMAP_PARSE_E_DISCARD);
			t_printf(log, "FATAL %s\n", t_errors[r->error]);
			log->fatal = 1;
		} else {
			t_printf(log, "ERROR %s %s %s\n", r->tag_len > 0 ? r->tag : "*",
				 r->name[0] != '\0' ? r->name : "-", t_errors[r->error]);
		}
		assert_int_equal(imap_parse_literal_accept(p), -1);
		assert_int_equal(imap_parse_literal_refuse(p), -1);
		break;
	default:
		fail_msg("status %d", st);
	}
}

/* A small deterministic generator for chunk sizes. */
static uint32_t
t_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

/*
 * Feed in[0..len) in chunks: step bytes at a time (0: whole; (size_t)-1:
 * pseudo-random sizes), writing the transcript to log.
 */
static void
t_feed(struct imap_parse *p, const void *in, size_t len, size_t step, struct t_log *log)
{
	const uint8_t *bytes = in;
	uint32_t seed = 7;
	size_t off = 0;

	while (off < len && !log->fatal) {
		size_t chunk = len - off, pos = 0;

		if (step == (size_t)-1)
			chunk = 1 + t_rand(&seed) % 97;
		else if (step > 0)
			chunk = step;
		if (chunk > len - off)
			chunk = len - off;
		for (;;) {
			size_t used = 12345;
			enum imap_parse_status st = imap_parse_feed(p, bytes + off + pos, chunk - pos, &used);

			assert_true(used <= chunk - pos);
			if (st == IMAP_PARSE_DATA)
				assert_ptr_equal(imap_parse_result(p)->data + imap_parse_result(p)->data_len,
						 bytes + off + pos + used);
			pos += used;
			t_event(p, st, log);
			if (st == IMAP_PARSE_FATAL) {
				/* And so it stays, taking nothing. */
				assert_int_equal(imap_parse_feed(p, bytes, len, &used), IMAP_PARSE_FATAL);
				assert_int_equal(used, 0);
				break;
			}
			if (st == IMAP_PARSE_MORE) {
				assert_int_equal(pos, chunk);
				break;
			}
		}
		off += chunk;
	}
	t_flush_data(log);
}

static struct t_log t_logs[3];

/*
 * Run in[0..len) through a parser made with limits (NULL: defaults) and
 * flags, whole, byte by byte and in random chunks. The three transcripts
 * must be want, and the streamed bytes data (NULL: none).
 */
static void
t_check(const struct imap_parse_limits *limits, unsigned flags, unsigned policy, const void *in, size_t len,
	const char *want, const void *data, size_t data_len)
{
	static const size_t steps[] = { 0, 1, (size_t)-1 };
	struct imap_parse_limits def;

	imap_parse_limits_default(&def);
	if (limits == NULL)
		limits = &def;
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct t_log *log = &t_logs[k];
		struct imap_parse *p = NULL;

		memset(log, 0, sizeof(*log));
		log->policy = policy;
		log->limits = limits;
		assert_int_equal(imap_parse_new(limits, flags, &p), 0);
		t_feed(p, in, len, steps[k], log);
		imap_parse_free(&p);
		assert_null(p);
		if (strcmp(log->text, want) != 0)
			fail_msg("'%.*s' (step %zd):\ngot:\n%swant:\n%s", (int)(len < 200 ? len : 200),
				 (const char *)in, (ssize_t)steps[k], log->text, want);
		if (data == NULL)
			data_len = 0;
		if (log->data_len != data_len || (data_len > 0 && memcmp(log->data, data, data_len) != 0))
			fail_msg("'%.*s' (step %zd): streamed %zu bytes, want %zu", (int)(len < 200 ? len : 200),
				 (const char *)in, (ssize_t)steps[k], log->data_len, data_len);
	}
}

/* ---- good commands ---- */

struct t_case {
	const char *in;
	size_t len;
	const char *want;
	unsigned flags;		/* IMAP_PARSE_* */
	unsigned policy;	/* T_* */
	const char *data;	/* the bytes streamed; NULL: none */
	size_t data_len;	/* 0: strlen(data) */
};

#define TB_FIELDS "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups " \
	"In-Reply-To Content-Type Reply-To"

/* The message of RFC 3501 6.3.11's example, with CRLFs: 329 octets. */
#define T_MSG "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n" \
	"From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n" \
	"Subject: afternoon meeting\r\n" \
	"To: mooch@owatagu.example.net\r\n" \
	"Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" \
	"\r\n" \
	"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"

static const struct t_case t_good[] = {
	/* Thunderbird's message list */
	{ S("a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (" TB_FIELDS ")])\r\n"),
	  .want = "COMMAND a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS S:BODY.PEEK[HEADER.FIELDS (" TB_FIELDS ")])\n" },
	/* RFC 3501 examples */
	{ S("abcd CAPABILITY\r\n"), .want = "COMMAND abcd CAPABILITY\n" },
	{ S("a002 NOOP\r\n"), .want = "COMMAND a002 NOOP\n" },
	{ S("A023 LOGOUT\r\n"), .want = "COMMAND A023 LOGOUT\n" },
	{ S("a001 LOGIN SMITH SESAME\r\n"), .want = "COMMAND a001 LOGIN SMITH SESAME\n" },
	{ S("A142 SELECT INBOX\r\n"), .want = "COMMAND A142 SELECT INBOX\n" },
	{ S("A932 EXAMINE blurdybloop\r\n"), .want = "COMMAND A932 EXAMINE blurdybloop\n" },
	{ S("A003 CREATE owatagusiam/\r\n"), .want = "COMMAND A003 CREATE owatagusiam/\n" },
	{ S("A683 RENAME blurdybloop sarasoop\r\n"), .want = "COMMAND A683 RENAME blurdybloop sarasoop\n" },
	{ S("A002 SUBSCRIBE #news.comp.mail.mime\r\n"), .want = "COMMAND A002 SUBSCRIBE #news.comp.mail.mime\n" },
	{ S("A101 LIST \"\" \"\"\r\n"), .want = "COMMAND A101 LIST \"\" \"\"\n" },
	{ S("A202 LIST ~/Mail/ %\r\n"), .want = "COMMAND A202 LIST ~/Mail/ %\n" },
	{ S("A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n"),
	  .want = "COMMAND A042 STATUS blurdybloop (UIDNEXT MESSAGES)\n" },
	{ S("A003 APPEND saved-messages (\\Seen) {329}\r\n" T_MSG "\r\n"),
	  .want = "LITERAL A003 APPEND 329 sync: saved-messages (\\Seen) {329}*\n"
	  "CONTINUE 329\n"
	  "DATA 329\n"
	  "COMMAND A003 APPEND saved-messages (\\Seen) {329}*\n", .data = T_MSG },
	{ S("FXXZ CHECK\r\nA341 CLOSE\r\nA202 EXPUNGE\r\n"),
	  .want = "COMMAND FXXZ CHECK\nCOMMAND A341 CLOSE\nCOMMAND A202 EXPUNGE\n" },
	{ S("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n"),
	  .want = "COMMAND A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\n" },
	{ S("A284 SEARCH CHARSET UTF-8 TEXT {12}\r\n\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n"),
	  .want = "CONTINUE 12\n"
	  "COMMAND A284 SEARCH CHARSET UTF-8 TEXT "
	  "{12}\"\\xd0\\x9f\\xd1\\x80\\xd0\\xb8\\xd0\\xb2\\xd0\\xb5\\xd1\\x82\"\n" },
	{ S("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n"),
	  .want = "COMMAND A654 FETCH 2:4 (FLAGS S:BODY[HEADER.FIELDS (DATE FROM)])\n" },
	{ S("A003 STORE 2:4 +FLAGS (\\Deleted)\r\n"), .want = "COMMAND A003 STORE 2:4 +FLAGS (\\Deleted)\n" },
	{ S("A003 COPY 2:4 MEETING\r\n"), .want = "COMMAND A003 COPY 2:4 MEETING\n" },
	{ S("A999 UID FETCH 4827313:4828442 FLAGS\r\n"), .want = "COMMAND A999 UID FETCH 4827313:4828442 FLAGS\n" },
	/* RFC 9051 and its extensions */
	{ S("a1 ENABLE IMAP4rev2\r\n"), .want = "COMMAND a1 ENABLE IMAP4rev2\n" },
	{ S("t1 ENABLE CONDSTORE QRESYNC\r\n"), .want = "COMMAND t1 ENABLE CONDSTORE QRESYNC\n" },
	{ S("A142 SELECT INBOX (CONDSTORE)\r\n"), .want = "COMMAND A142 SELECT INBOX (CONDSTORE)\n" },
	{ S("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,3:5 41,43:45)))\r\n"),
	  .want = "COMMAND A02 SELECT INBOX (QRESYNC (#67890007 #20050715194045000 41,43:211,214:541 "
	  "(1,3:5 41,43:45)))\n" },
	{ S("a UNSELECT\r\nb NAMESPACE\r\nc IDLE\r\nd STARTTLS\r\n"),
	  .want = "COMMAND a UNSELECT\nCOMMAND b NAMESPACE\nCOMMAND c IDLE\nCOMMAND d STARTTLS\n" },
	{ S("A01 UID MOVE 42:69 foo\r\n"), .want = "COMMAND A01 UID MOVE 42:69 foo\n" },
	{ S("a2 UID EXPUNGE 3000:3002\r\n"), .want = "COMMAND a2 UID EXPUNGE 3000:3002\n" },
	{ S("A282 SEARCH RETURN (MIN COUNT) FLAGGED\r\n"), .want = "COMMAND A282 SEARCH RETURN (MIN COUNT) FLAGGED\n" },
	{ S("a3 UID SEARCH RETURN (SAVE) FLAGGED\r\na4 UID FETCH $ (FLAGS)\r\n"),
	  .want = "COMMAND a3 UID SEARCH RETURN (SAVE) FLAGGED\nCOMMAND a4 UID FETCH $ (FLAGS)\n" },
	{ S("A004 APPEND saved-messages (\\Seen) {5+}\r\nHello\r\n"),
	  .want = "LITERAL A004 APPEND 5 nonsync: saved-messages (\\Seen) {5+}*\n"
	  "DATA 5\n"
	  "COMMAND A004 APPEND saved-messages (\\Seen) {5+}*\n", .data = "Hello" },
	{ S("a FETCH 1 BINARY.PEEK[1]<0.1024>\r\nb FETCH 1 (BINARY.SIZE[2])\r\n"),
	  .want = "COMMAND a FETCH #1 S:BINARY.PEEK[1]<0.1024>\nCOMMAND b FETCH #1 (S:BINARY.SIZE[2])\n" },
	{ S("a APPEND Drafts (\\Draft) ~{5}\r\nA\0B\0C\r\n"),
	  .want = "LITERAL a APPEND 5 sync binary: Drafts (\\Draft) ~{5}*\n"
	  "CONTINUE 5\n"
	  "DATA 5\n"
	  "COMMAND a APPEND Drafts (\\Draft) ~{5}*\n", .data = "A\0B\0C", .data_len = 5 },
	{ S("a1 GETQUOTAROOT INBOX\r\na2 GETQUOTA \"\"\r\n"),
	  .want = "COMMAND a1 GETQUOTAROOT INBOX\nCOMMAND a2 GETQUOTA \"\"\n" },
	/* Real clients */
	{ S("1 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")\r\n"),
	  .want = "COMMAND 1 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")\n" },
	{ S("1.1 ID (\"name\" \"iPhone Mail\" \"version\" \"20G75\" \"os\" \"iOS\" \"os-version\" \"16.6\")\r\n"),
	  .want = "COMMAND 1.1 ID (\"name\" \"iPhone Mail\" \"version\" \"20G75\" \"os\" \"iOS\" \"os-version\" \"16.6\")\n" },
	{ S("2 ID NIL\r\n"), .want = "COMMAND 2 ID NIL\n" },
	{ S("3 UID FETCH 1:* (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (date subject from "
	    "content-type to cc reply-to message-id references in-reply-to X-K9mail-Identity)])\r\n"),
	  .want = "COMMAND 3 UID FETCH 1:* (UID INTERNALDATE RFC822.SIZE S:BODY.PEEK[HEADER.FIELDS (date subject from "
	  "content-type to cc reply-to message-id references in-reply-to X-K9mail-Identity)])\n" },
	{ S("5 STORE 1:3 +FLAGS.SILENT (\\Seen \\Deleted)\r\n6 UID STORE 42 -FLAGS.SILENT ($Junk)\r\n"),
	  .want = "COMMAND 5 STORE 1:3 +FLAGS.SILENT (\\Seen \\Deleted)\n"
	  "COMMAND 6 UID STORE #42 -FLAGS.SILENT ($Junk)\n" },
	{ S("7 SEARCH CHARSET UTF-8 OR (FROM \"alice\") (NOT (OR SUBJECT \"x\" BODY \"y\")) UNSEEN\r\n"),
	  .want = "COMMAND 7 SEARCH CHARSET UTF-8 OR (FROM \"alice\") (NOT (OR SUBJECT \"x\" BODY \"y\")) UNSEEN\n" },
	{ S("8 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"), .want = "COMMAND 8 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\n" },
	{ S("9 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n"),
	  .want = "COMMAND 9 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))\n" },
	{ S("10 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n"),
	  .want = "COMMAND 10 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\n" },
	{ S("11 STATUS \"Sent Items\" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)\r\n"),
	  .want = "COMMAND 11 STATUS \"Sent Items\" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)\n" },
	{ S("12 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"),
	  .want = "COMMAND 12 UID FETCH 1:* (FLAGS) (CHANGEDSINCE #12345 VANISHED)\n" },
	{ S("15 LOGIN {5}\r\nalice {6}\r\nsecret\r\n"),
	  .want = "CONTINUE 5\nCONTINUE 6\nCOMMAND 15 LOGIN {5}\"alice\" {6}\"secret\"\n" },
	{ S("16 LOGIN {5+}\r\nalice \"p\\\"w\\\\d\"\r\n"), .want = "COMMAND 16 LOGIN {5+}\"alice\" \"p\\\"w\\\\d\"\n" },
	{ S("17 select inbox\r\n18 uid fetch 1 body.peek[]\r\n"),
	  .want = "COMMAND 17 SELECT inbox\nCOMMAND 18 UID FETCH #1 S:body.peek[]\n" },
	/* MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469): every message streamed */
	{ S("20 APPEND INBOX (\\Seen) {3+}\r\none (\\Draft) \"01-Jan-2024 00:00:00 +0000\" {3+}\r\ntwo\r\n"),
	  .want = "LITERAL 20 APPEND 3 nonsync: INBOX (\\Seen) {3+}*\n"
	  "DATA 3\n"
	  "LITERAL 20 APPEND 3 nonsync: INBOX (\\Seen) {3+}* (\\Draft) \"01-Jan-2024 00:00:00 +0000\" {3+}*\n"
	  "DATA 3\n"
	  "COMMAND 20 APPEND INBOX (\\Seen) {3+}* (\\Draft) \"01-Jan-2024 00:00:00 +0000\" {3+}*\n",
	  .data = "onetwo" },
	{ S("21 APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" "
	    "TEXT {4+}\r\nbody)\r\n"),
	  .want = "LITERAL 21 APPEND 4 nonsync: Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;"
	  "section=HEADER\" TEXT {4+}*)\n"
	  "DATA 4\n"
	  "COMMAND 21 APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" "
	  "TEXT {4+}*)\n", .data = "body" },
	/* The mailbox may be a literal too: that one is kept. */
	{ S("22 APPEND {5}\r\nINBOX {3}\r\nabc\r\n"),
	  .want = "CONTINUE 5\n"
	  "LITERAL 22 APPEND 3 sync: {5}\"INBOX\" {3}*\n"
	  "CONTINUE 3\n"
	  "DATA 3\n"
	  "COMMAND 22 APPEND {5}\"INBOX\" {3}*\n", .data = "abc" },
	/* Tolerated: more spaces than one, trailing spaces */
	{ S("23  NOOP \r\n24 FETCH  1  ( FLAGS  UID )  \r\n"),
	  .want = "COMMAND 23 NOOP\nCOMMAND 24 FETCH #1 (FLAGS UID)\n" },
	{ S("25 FETCH 1 (BODY[1.2.HEADER.FIELDS (A B)]<0.100>)\r\n"),
	  .want = "COMMAND 25 FETCH #1 (S:BODY[1.2.HEADER.FIELDS (A B)]<0.100>)\n" },
	{ S("26 FETCH 1 BODY[HEADER.FIELDS (\"X-A\" \"Y)\\\"\")]\r\n"),
	  .want = "COMMAND 26 FETCH #1 S:BODY[HEADER.FIELDS (\"X-A\" \"Y)\\\"\")]\n" },
	/* Brackets outside FETCH items are atom characters. */
	{ S("27 SELECT \"[Gmail]/Sent Mail\"\r\n28 SELECT [Gmail]/Drafts\r\n"),
	  .want = "COMMAND 27 SELECT \"[Gmail]/Sent Mail\"\nCOMMAND 28 SELECT [Gmail]/Drafts\n" },
	/* number64: at most INT64_MAX; more is an atom */
	{ S("30 FETCH 9223372036854775807 FLAGS\r\n31 FETCH 9223372036854775808 FLAGS\r\n"),
	  .want = "COMMAND 30 FETCH #9223372036854775807 FLAGS\nCOMMAND 31 FETCH 9223372036854775808 FLAGS\n" },
	{ S("32 STORE 1 FLAGS ()\r\n33 EXAMINE nil\r\n"), .want = "COMMAND 32 STORE #1 FLAGS ()\nCOMMAND 33 EXAMINE NIL\n" },
	{ S("34 SEARCH SUBJECT \"Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x93\xa7\"\r\n"),
	  .want = "COMMAND 34 SEARCH SUBJECT \"Gr\\xc3\\xbc\\xc3\\x9fe \\xf0\\x9f\\x93\\xa7\"\n" },
	{ S("35 LOGIN {0}\r\n {0+}\r\n\r\n"), .want = "CONTINUE 0\nCOMMAND 35 LOGIN {0}\"\" {0+}\"\"\n" },
	{ S("36 ID ({4}\r\nname \"x\\\\\")\r\n"), .want = "CONTINUE 4\nCOMMAND 36 ID ({4}\"name\" \"x\\\\\")\n" },
	{ S("37 SELECT ~\r\n38 LIST \"\" ~foo\r\n"), .want = "COMMAND 37 SELECT ~\nCOMMAND 38 LIST \"\" ~foo\n" },
	/* Quoted: TEXT-CHAR, controls but CR and LF included; literal: any byte but NUL */
	{ S("39 LOGIN \"a\tb\x7f\" {6}\r\na\r\n\xff" "b\x01\r\n"),
	  .want = "CONTINUE 6\nCOMMAND 39 LOGIN \"a\\x09b\\x7f\" {6}\"a\\x0d\\x0a\\xffb\\x01\"\n" },
	{ S("40 LOGIN ~{3}\r\na\0b\r\n"), .want = "CONTINUE 3\nCOMMAND 40 LOGIN ~{3}\"a\\x00b\"\n" },
	/* LITERAL- allows {N+} up to 4096 */
	{ S("41 LOGIN {5+}\r\nalice x\r\n"), .want = "COMMAND 41 LOGIN {5+}\"alice\" x\n", IMAP_PARSE_LITERAL_MINUS },
	/* A bare LF ends a line only when asked */
	{ S("42 NOOP\n43 LOGIN {3}\nabc x\n"), .want = "COMMAND 42 NOOP\nCONTINUE 3\nCOMMAND 43 LOGIN {3}\"abc\" x\n",
	  IMAP_PARSE_BARE_LF },
	{ S("44 NOOP\r\n"), .want = "COMMAND 44 NOOP\n", IMAP_PARSE_BARE_LF },
};

static void
test_imap_parse_good(void **state)
{
	(void)state;
	assert_int_equal(sizeof(T_MSG) - 1, 329);
	for (size_t i = 0; i < sizeof(t_good) / sizeof(t_good[0]); i++) {
		const struct t_case *t = &t_good[i];

		t_check(NULL, t->flags, t->policy, t->in, t->len, t->want, t->data,
			t->data_len > 0 ? t->data_len : t->data != NULL ? strlen(t->data) : 0);
	}
}

/* ---- refused commands, each followed by one that must still come out ---- */

#define Z "z NOOP\r\n"
#define ZOK "COMMAND z NOOP\n"

static const struct t_case t_bad[] = {
	{ S("\r\n" Z), .want = "ERROR * - EMPTY\n" ZOK },
	{ S("\n" Z), .want = "ERROR * - EMPTY\n" ZOK },
	/* Tags */
	{ S(" NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a+b NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a*b NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a%b NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("\"a\" NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a\\b NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a(b NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a{5}\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("+ NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a\xc3\xa9 NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a\x01 NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	{ S("a\0 NOOP\r\n" Z), .want = "ERROR * - TAG\n" ZOK },
	/* Command names */
	{ S("a1\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 \r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 FOO\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 UID\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 UID SELECT INBOX\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 UID UID FETCH 1 FLAGS\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 NOOP2\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 1NOOP\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 FETCHFETCHFETCHFETCH 1\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 DONE\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	/* An unknown command's literal gets no continuation: the client never sends it. */
	{ S("a1 FOO {5}\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	/* ... and a non-synchronizing one is discarded. */
	{ S("a1 FOO {5+}\r\nhello\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	/* Syntax */
	{ S("a1 FETCH 1 (FLAGS\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	{ S("a1 FETCH 1 FLAGS)\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	{ S("a1 STORE 1 FLAGS(\\Seen)\r\n" Z), .want = "ERROR a1 STORE SYNTAX\n" ZOK },
	{ S("a1 STORE 1 FLAGS (\\Seen)(\\Seen)\r\n" Z), .want = "ERROR a1 STORE SYNTAX\n" ZOK },
	{ S("a1 LOGIN \"a\"\"b\"\r\n" Z), .want = "ERROR a1 LOGIN SYNTAX\n" ZOK },
	{ S("a1 LOGIN a{3}\r\n" Z), .want = "ERROR a1 LOGIN SYNTAX\n" ZOK },
	{ S("a1 LOGIN a \"b\"c\r\n" Z), .want = "ERROR a1 LOGIN SYNTAX\n" ZOK },
	{ S("a1 NOOP(\r\n" Z), .want = "ERROR a1 - COMMAND\n" ZOK },
	{ S("a1 FETCH 1 BODY[TEXT\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	{ S("a1 FETCH 1 BODY[[]]\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	{ S("a1 FETCH 1 (BODY[HEADER.FIELDS (A)]\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	/* A literal inside a section: refused, and its announcement still ends the command. */
	{ S("a1 FETCH 1 BODY[HEADER.FIELDS {3}\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	{ S("a1 FETCH 1 BODY[HEADER.FIELDS {3+}\r\nabc)]\r\n" Z), .want = "ERROR a1 FETCH SYNTAX\n" ZOK },
	/* Bytes */
	{ S("a1 NOOP \x01\r\n" Z), .want = "ERROR a1 NOOP BAD_CHAR\n" ZOK },
	{ S("a1 SELECT INB\xc3\xa4X\r\n" Z), .want = "ERROR a1 SELECT BAD_CHAR\n" ZOK },
	{ S("a1 SELECT \xc3\xa4\r\n" Z), .want = "ERROR a1 SELECT BAD_CHAR\n" ZOK },
	{ S("a1 SELECT IN\0BOX\r\n" Z), .want = "ERROR a1 SELECT BAD_CHAR\n" ZOK },
	{ S("a1 SELECT INBOX\x7f\r\n" Z), .want = "ERROR a1 SELECT BAD_CHAR\n" ZOK },
	{ S("a1 NOOP\rX\r\n" Z), .want = "ERROR a1 NOOP BAD_CHAR\n" ZOK },
	{ S("a1 FETCH 1 BODY[\x01]\r\n" Z), .want = "ERROR a1 FETCH BAD_CHAR\n" ZOK },
	/* A bare LF is refused unless asked for; it still ends the command. */
	{ S("a1 NOOP\n" Z), .want = "ERROR a1 NOOP BARE_LF\n" ZOK },
	{ S("a1 FETCH 1 FLAGS\n" Z), .want = "ERROR a1 FETCH BARE_LF\n" ZOK },
	/* "{3}" LF: the client waits for "+" and gets BAD; what it sends next is a command. */
	{ S("a1 LOGIN {3}\nabc\n" Z), .want = "ERROR a1 LOGIN BARE_LF\nERROR abc - COMMAND\n" ZOK },
	/* "{3+}" LF: its bytes come anyway and are discarded. */
	{ S("a1 LOGIN {3+}\nabc\n" Z), .want = "ERROR a1 LOGIN BARE_LF\n" ZOK },
	/* Quoted strings */
	{ S("a1 LOGIN \"al\0ice\" x\r\n" Z), .want = "ERROR a1 LOGIN NUL\n" ZOK },
	{ S("a1 LOGIN \"alice\r\n" Z), .want = "ERROR a1 LOGIN QUOTED\n" ZOK },
	{ S("a1 LOGIN \"alice\n" Z), .want = "ERROR a1 LOGIN QUOTED\n" ZOK },
	{ S("a1 LOGIN \"a\\lice\" x\r\n" Z), .want = "ERROR a1 LOGIN QUOTED\n" ZOK },
	{ S("a1 SEARCH TEXT \"\xff\"\r\n" Z), .want = "ERROR a1 SEARCH QUOTED\n" ZOK },
	{ S("a1 SEARCH TEXT \"\xc3\"\r\n" Z), .want = "ERROR a1 SEARCH QUOTED\n" ZOK },
	{ S("a1 SEARCH TEXT \"\xc0\xaf\"\r\n" Z), .want = "ERROR a1 SEARCH QUOTED\n" ZOK },
	{ S("a1 SEARCH TEXT \"\xed\xa0\x80\"\r\n" Z), .want = "ERROR a1 SEARCH QUOTED\n" ZOK },
	{ S("a1 SEARCH TEXT \"\xf4\x90\x80\x80\"\r\n" Z), .want = "ERROR a1 SEARCH QUOTED\n" ZOK },
	{ S("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\\x\")]\r\n" Z), .want = "ERROR a1 FETCH QUOTED\n" ZOK },
	{ S("a1 FETCH 1 BODY[HEADER.FIELDS (\"A\0\")]\r\n" Z), .want = "ERROR a1 FETCH NUL\n" ZOK },
	/* An unterminated quoted string that ends in "{N+}": taken as an announcement when discarding. */
	{ S("a1 LOGIN \"x {3+}\r\nabc\r\n" Z), .want = "ERROR a1 LOGIN QUOTED\n" ZOK },
	/* Literal announcements */
	{ S("a1 LOGIN {5x}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {+}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {5-}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {5++}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {5} x\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN ~{x}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL\n" ZOK },
	{ S("a1 LOGIN {5}\rx\r\n" Z), .want = "ERROR a1 LOGIN BAD_CHAR\n" ZOK },
	/* NUL in a literal: refused at the NUL, the rest of the literal and of the command discarded */
	{ S("a1 LOGIN {5}\r\nal\0ce x\r\n" Z), .want = "CONTINUE 5\nERROR a1 LOGIN NUL\n" ZOK },
	{ S("a1 LOGIN {5+}\r\n\0\0\0\0\0 {2+}\r\n\r\n\r\n" Z), .want = "ERROR a1 LOGIN NUL\n" ZOK },
	{ S("a1 APPEND INBOX {5+}\r\nab\0de\r\n" Z),
	  .want = "LITERAL a1 APPEND 5 nonsync: INBOX {5+}*\nDATA 2\nERROR a1 APPEND NUL\n" ZOK, .data = "ab" },
	{ S("a1 APPEND INBOX {5}\r\n\0bcde\r\n" Z),
	  .want = "LITERAL a1 APPEND 5 sync: INBOX {5}*\nCONTINUE 5\nERROR a1 APPEND NUL\n" ZOK },
	/* Too big, known before a byte of it is read */
	{ S("a1 LOGIN {65537}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL_TOO_BIG\n" ZOK },
	{ S("a1 LOGIN {99999999999999999999999}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL_TOO_BIG\n" ZOK },
	{ S("a1 APPEND INBOX {52428801}\r\n" Z), .want = "ERROR a1 APPEND LITERAL_TOO_BIG\n" ZOK },
	{ S("a1 APPEND INBOX ~{52428801}\r\n" Z), .want = "ERROR a1 APPEND LITERAL_TOO_BIG\n" ZOK },
	/* LITERAL-: over 4096 is refused, and "z NOOP" is among the bytes discarded. */
	{ S("a1 LOGIN {4097+}\r\n" Z), .want = "ERROR a1 LOGIN LITERAL_TOO_BIG\n", .flags = IMAP_PARSE_LITERAL_MINUS },
	/* ... and a non-synchronizing one too large to discard: the stream is lost. */
	{ S("a1 LOGIN {99999999999+}\r\nxxx" Z), .want = "ERROR a1 LOGIN LITERAL_TOO_BIG\nFATAL DISCARD\n" },
	/* Streamed literals refused by the caller */
	{ S("a1 APPEND INBOX {310}\r\n" Z), .want = "LITERAL a1 APPEND 310 sync: INBOX {310}*\n" ZOK,
	  .policy = T_REFUSE_LITERAL },
	{ S("a1 APPEND INBOX {5+}\r\nhello (\\Seen) {3+}\r\nabc\r\n" Z),
	  .want = "LITERAL a1 APPEND 5 nonsync: INBOX {5+}*\n" ZOK, .policy = T_REFUSE_LITERAL },
	{ S("a1 APPEND INBOX {5+}\r\nhello\r\n" Z), .want = "LITERAL a1 APPEND 5 nonsync: INBOX {5+}*\n" ZOK,
	  .policy = T_UNDECIDED },
	{ S("a1 APPEND INBOX {5}\r\n" Z), .want = "LITERAL a1 APPEND 5 sync: INBOX {5}*\n" ZOK, .policy = T_UNDECIDED },
	{ S("a1 APPEND INBOX {5}\r\n" Z), .want = "LITERAL a1 APPEND 5 sync: INBOX {5}*\nCONTINUE 5\n" ZOK,
	  .policy = T_REFUSE_CONTINUE },
	/* A kept literal refused at its continuation */
	{ S("a1 LOGIN {5}\r\n" Z), .want = "CONTINUE 5\n" ZOK, .policy = T_REFUSE_CONTINUE },
	/* Errors in the lines after a literal */
	{ S("a1 LOGIN {5+}\r\nalice (\r\n" Z), .want = "ERROR a1 LOGIN SYNTAX\n" ZOK },
	{ S("a1 LOGIN {5+}\r\nalice\"x\"\r\n" Z), .want = "ERROR a1 LOGIN SYNTAX\n" ZOK },
};

static void
test_imap_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_bad) / sizeof(t_bad[0]); i++) {
		const struct t_case *t = &t_bad[i];

		t_check(NULL, t->flags, t->policy, t->in, t->len, t->want, t->data,
			t->data_len > 0 ? t->data_len : t->data != NULL ? strlen(t->data) : 0);
	}
}

/* ---- limits ---- */

/* A buffer of prefix, n copies of c and suffix. */
struct t_buf {
	char b[128 * 1024];
	size_t len;
};

static void
t_cat(struct t_buf *buf, const char *s, size_t n)
{
	assert_true(n <= sizeof(buf->b) - buf->len);
	memcpy(buf->b + buf->len, s, n);
	buf->len += n;
}

static void
t_fill(struct t_buf *buf, char c, size_t n)
{
	assert_true(n <= sizeof(buf->b) - buf->len);
	memset(buf->b + buf->len, c, n);
	buf->len += n;
}

static void
t_str(struct t_buf *buf, const char *s)
{
	t_cat(buf, s, strlen(s));
}

static struct t_buf t_in, t_want;

static const struct imap_parse_limits t_small = {
	.line_max = 64,
	.literal_max = 16,
	.command_max = 128,
	.stream_max = 32,
	.literal_minus_max = 8,
	.skip_max = 256,
	.depth_max = 3,
	.args_max = 8,
	.tag_max = 8,
};

static void
t_small_check(unsigned flags, const char *want)
{
	t_check(&t_small, flags, 0, t_in.b, t_in.len, want, NULL, 0);
}

/* Each limit of a small parser at its maximum, and one past it. */
static void
test_imap_parse_limits(void **state)
{
	(void)state;
	/* line_max: 64 bytes with the CRLF */
	t_in.len = 0;
	t_str(&t_in, "a NOOP ");
	t_fill(&t_in, ' ', 64 - 7 - 2);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "COMMAND a NOOP\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a NOOP ");
	t_fill(&t_in, ' ', 64 - 7 - 1);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a NOOP LINE_TOO_LONG\n" ZOK);
	/* ... all the lines of a command together, literals not counted */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {16+}\r\n");	/* 15 */
	t_fill(&t_in, 'x', 16);
	t_str(&t_in, " ");
	t_fill(&t_in, 'y', 64 - 15 - 1 - 2);
	t_str(&t_in, "\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "COMMAND a LOGIN {16+}\"xxxxxxxxxxxxxxxx\" ");
	t_fill(&t_want, 'y', 64 - 15 - 1 - 2);
	t_str(&t_want, "\n" ZOK);
	t_cat(&t_want, "", 1);
	t_small_check(0, t_want.b);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {16+}\r\n");
	t_fill(&t_in, 'x', 16);
	t_str(&t_in, " ");
	t_fill(&t_in, 'y', 64 - 15 - 1 - 1);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a LOGIN LINE_TOO_LONG\n" ZOK);

	/* literal_max: 16 */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {16}\r\n0123456789abcdef x\r\n" Z);
	t_small_check(0, "CONTINUE 16\nCOMMAND a LOGIN {16}\"0123456789abcdef\" x\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {17}\r\n" Z);
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {17+}\r\n0123456789abcdefg x\r\n" Z);
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK);

	/* command_max: 128 held, kept literals included: 7 + 5 x (8 + 15) + 4 + 2 = 128 */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN");
	for (int i = 0; i < 5; i++)
		t_str(&t_in, " {15+}\r\n0123456789abcde");
	t_str(&t_in, " abc\r\n" Z);
	t_small_check(0, "COMMAND a LOGIN {15+}\"0123456789abcde\" {15+}\"0123456789abcde\" "
		      "{15+}\"0123456789abcde\" {15+}\"0123456789abcde\" {15+}\"0123456789abcde\" abc\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN");
	for (int i = 0; i < 5; i++)
		t_str(&t_in, " {15+}\r\n0123456789abcde");
	t_str(&t_in, " abcd\r\n" Z);
	t_small_check(0, "ERROR a LOGIN COMMAND_TOO_BIG\n" ZOK);
	/* ... a literal that would not fit is refused when announced */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN");
	for (int i = 0; i < 5; i++)
		t_str(&t_in, " {15+}\r\n0123456789abcde");
	t_str(&t_in, " {3+}\r\nabc\r\n" Z);
	t_small_check(0, "ERROR a LOGIN COMMAND_TOO_BIG\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN");
	for (int i = 0; i < 5; i++)
		t_str(&t_in, " {15+}\r\n0123456789abcde");
	t_str(&t_in, " {3}\r\n" Z);
	t_small_check(0, "ERROR a LOGIN COMMAND_TOO_BIG\n" ZOK);

	/* stream_max: 32 */
	t_in.len = 0;
	t_str(&t_in, "a APPEND x {32+}\r\n");
	t_fill(&t_in, 'm', 32);
	t_str(&t_in, "\r\n" Z);
	t_check(&t_small, 0, 0, t_in.b, t_in.len,
		"LITERAL a APPEND 32 nonsync: x {32+}*\nDATA 32\nCOMMAND a APPEND x {32+}*\n" ZOK,
		"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", 32);
	t_in.len = 0;
	t_str(&t_in, "a APPEND x {33+}\r\n");
	t_fill(&t_in, 'm', 33);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a APPEND LITERAL_TOO_BIG\n" ZOK);

	/* literal_minus_max: 8 under LITERAL-, literal_max without it */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {8+}\r\n01234567 x\r\n" Z);
	t_small_check(IMAP_PARSE_LITERAL_MINUS, "COMMAND a LOGIN {8+}\"01234567\" x\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {9+}\r\n012345678 x\r\n" Z);
	t_small_check(IMAP_PARSE_LITERAL_MINUS, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK);
	t_small_check(0, "COMMAND a LOGIN {9+}\"012345678\" x\n" ZOK);
	/* ... a synchronizing literal is not concerned */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {9}\r\n012345678 x\r\n" Z);
	t_small_check(IMAP_PARSE_LITERAL_MINUS, "CONTINUE 9\nCOMMAND a LOGIN {9}\"012345678\" x\n" ZOK);

	/* depth_max: 3 */
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 (((x)))\r\n" Z);
	t_small_check(0, "COMMAND a FETCH #1 (((x)))\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 ((((x))))\r\n" Z);
	t_small_check(0, "ERROR a FETCH DEPTH\n" ZOK);

	/* args_max: 8, lists counted */
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 (2 3 (4) 5) 6\r\n" Z);
	t_small_check(0, "COMMAND a FETCH #1 (#2 #3 (#4) #5) #6\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 (2 3 (4) 5) 6 7\r\n" Z);
	t_small_check(0, "ERROR a FETCH ARGS\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN 1 2 3 4 5 6 7 8 {1+}\r\nx\r\n" Z);
	t_small_check(0, "ERROR a LOGIN ARGS\n" ZOK);

	/* tag_max: 8 */
	t_in.len = 0;
	t_str(&t_in, "abcdefgh NOOP\r\n" Z);
	t_small_check(0, "COMMAND abcdefgh NOOP\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "abcdefghi NOOP\r\n" Z);
	t_small_check(0, "ERROR * - TAG\n" ZOK);

	/* skip_max: 256 bytes discarded after the error, LF and all */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {99+}\r\n");		/* refused at the LF: 1 */
	t_fill(&t_in, 'x', 99);				/* 100 */
	t_str(&t_in, " {145+}\r\n");			/* 109 */
	t_fill(&t_in, 'x', 145);			/* 254 */
	t_str(&t_in, "\r\n" Z);				/* 256 */
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {99+}\r\n");
	t_fill(&t_in, 'x', 99);
	t_str(&t_in, " {146+}\r\n");			/* one more */
	t_fill(&t_in, 'x', 146);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\nFATAL DISCARD\n");
	/* ... a literal that cannot fit is not read at all */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {256+}\r\n");
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\nFATAL DISCARD\n");
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {255+}\r\n");
	t_fill(&t_in, 'x', 255);
	t_str(&t_in, Z);
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\nFATAL DISCARD\n");
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {255+}\r\n");
	t_fill(&t_in, 'x', 255);
	t_small_check(0, "ERROR a LOGIN LITERAL_TOO_BIG\n");
	/* ... an overlong line is discarded to its end, up to skip_max */
	t_in.len = 0;
	t_fill(&t_in, 'a', 64);
	t_fill(&t_in, 'b', 256 - 64 - 1);
	t_str(&t_in, "\n" Z);
	t_small_check(0, "ERROR * - TAG\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a NOOP ");
	t_fill(&t_in, 'b', 64 - 7 + 256 - 2);		/* refused at byte 65; 256 discarded with CRLF */
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a NOOP LINE_TOO_LONG\n" ZOK);
	t_in.len = 0;
	t_str(&t_in, "a NOOP ");
	t_fill(&t_in, 'b', 64 - 7 + 256 - 1);
	t_str(&t_in, "\r\n" Z);
	t_small_check(0, "ERROR a NOOP LINE_TOO_LONG\nFATAL DISCARD\n");
}

/* The defaults: each at its maximum and one past it. */
static void
test_imap_parse_default_limits(void **state)
{
	(void)state;
	/* A line of IMAP_PARSE_LINE_MAX bytes, CRLF in; one more is refused and the next command read. */
	t_in.len = 0;
	t_str(&t_in, "a SEARCH TEXT ");
	t_fill(&t_in, 'w', IMAP_PARSE_LINE_MAX - 14 - 2);
	t_str(&t_in, "\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "COMMAND a SEARCH TEXT ");
	t_fill(&t_want, 'w', IMAP_PARSE_LINE_MAX - 14 - 2);
	t_str(&t_want, "\n" ZOK);
	t_cat(&t_want, "", 1);
	t_check(NULL, 0, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len = 0;
	t_str(&t_in, "a SEARCH TEXT ");
	t_fill(&t_in, 'w', IMAP_PARSE_LINE_MAX - 14 - 1);
	t_str(&t_in, "\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR a SEARCH LINE_TOO_LONG\n" ZOK, NULL, 0);

	/* A literal of IMAP_PARSE_LITERAL_MAX; one more is refused before any of it is read. */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {65536}\r\n");
	t_fill(&t_in, 'l', IMAP_PARSE_LITERAL_MAX);
	t_str(&t_in, " x\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "CONTINUE 65536\nCOMMAND a LOGIN {65536}\"");
	t_fill(&t_want, 'l', IMAP_PARSE_LITERAL_MAX);
	t_str(&t_want, "\" x\n" ZOK);
	t_cat(&t_want, "", 1);
	t_check(NULL, 0, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {65537}\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK, NULL, 0);
	/* ... a non-synchronizing one comes anyway: discarded, then the next command */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {65537+}\r\n");
	t_fill(&t_in, 'l', IMAP_PARSE_LITERAL_MAX + 1);
	t_str(&t_in, " x\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK, NULL, 0);

	/* LITERAL-: 4096 */
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {4096+}\r\n");
	t_fill(&t_in, 'l', 4096);
	t_str(&t_in, " x\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "COMMAND a LOGIN {4096+}\"");
	t_fill(&t_want, 'l', 4096);
	t_str(&t_want, "\" x\n" ZOK);
	t_cat(&t_want, "", 1);
	t_check(NULL, IMAP_PARSE_LITERAL_MINUS, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len = 0;
	t_str(&t_in, "a LOGIN {4097+}\r\n");
	t_fill(&t_in, 'l', 4097);
	t_str(&t_in, " x\r\n" Z);
	t_check(NULL, IMAP_PARSE_LITERAL_MINUS, 0, t_in.b, t_in.len, "ERROR a LOGIN LITERAL_TOO_BIG\n" ZOK, NULL, 0);

	/* Deep nesting: IMAP_PARSE_DEPTH_MAX lists */
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 ");
	t_fill(&t_in, '(', IMAP_PARSE_DEPTH_MAX);
	t_fill(&t_in, ')', IMAP_PARSE_DEPTH_MAX);
	t_str(&t_in, "\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "COMMAND a FETCH #1 ");
	t_fill(&t_want, '(', IMAP_PARSE_DEPTH_MAX);
	t_fill(&t_want, ')', IMAP_PARSE_DEPTH_MAX);
	t_str(&t_want, "\n" ZOK);
	t_cat(&t_want, "", 1);
	t_check(NULL, 0, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len = 0;
	t_str(&t_in, "a FETCH 1 ");
	t_fill(&t_in, '(', 10000);
	t_fill(&t_in, ')', 10000);
	t_str(&t_in, "\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR a FETCH DEPTH\n" ZOK, NULL, 0);

	/* IMAP_PARSE_ARGS_MAX arguments: the 1024th is fine, the 1025th is refused */
	t_in.len = 0;
	t_want.len = 0;
	t_str(&t_in, "a FETCH");
	t_str(&t_want, "COMMAND a FETCH");
	for (int i = 0; i < IMAP_PARSE_ARGS_MAX; i++) {
		t_str(&t_in, " x");
		t_str(&t_want, " x");
	}
	t_str(&t_want, "\n" ZOK);
	t_cat(&t_want, "", 1);
	t_str(&t_in, "\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len -= strlen("\r\n" Z);
	t_str(&t_in, " x\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR a FETCH ARGS\n" ZOK, NULL, 0);

	/* A tag of IMAP_PARSE_TAG_MAX */
	t_in.len = 0;
	t_fill(&t_in, 't', IMAP_PARSE_TAG_MAX);
	t_str(&t_in, " NOOP\r\n" Z);
	t_want.len = 0;
	t_str(&t_want, "COMMAND ");
	t_fill(&t_want, 't', IMAP_PARSE_TAG_MAX);
	t_str(&t_want, " NOOP\n" ZOK);
	t_cat(&t_want, "", 1);
	t_check(NULL, 0, 0, t_in.b, t_in.len, t_want.b, NULL, 0);
	t_in.len = 0;
	t_fill(&t_in, 't', IMAP_PARSE_TAG_MAX + 1);
	t_str(&t_in, " NOOP\r\n" Z);
	t_check(NULL, 0, 0, t_in.b, t_in.len, "ERROR * - TAG\n" ZOK, NULL, 0);
}

/* The events come at the right byte: "+" before the literal is read, TOOBIG before it too. */
static void
test_imap_parse_positions(void **state)
{
	static const char in[] = "a LOGIN {5}\r\nalice {99999}\r\nb NOOP\r\n";
	const struct imap_parse_command *r;
	struct imap_parse *p = NULL;
	size_t used, off = 0;

	(void)state;
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	r = imap_parse_result(p);
	/* The continuation is asked for with the LF of "{5}\r\n" and nothing past it. */
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in, sizeof(in) - 1, &used), IMAP_PARSE_CONTINUE);
	assert_int_equal(used, strlen("a LOGIN {5}\r\n"));
	assert_int_equal(r->literal_size, 5);
	assert_true(r->literal_sync);
	assert_int_equal(r->cmd, IMAP_CMD_LOGIN);
	off += used;
	/* Too big: refused with the LF not taken, so that the caller answers before reading on. */
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in + off, sizeof(in) - 1 - off, &used),
			 IMAP_PARSE_ERROR);
	assert_int_equal(off + used, strlen("a LOGIN {5}\r\nalice {99999}\r"));
	assert_int_equal(r->error, IMAP_PARSE_E_LITERAL_TOO_BIG);
	assert_string_equal(r->tag, "a");
	assert_string_equal(r->name, "LOGIN");
	assert_string_equal(r->message, "Literal too big");
	off += used;
	/* The LF ends the command: the next bytes are the next command. */
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in + off, sizeof(in) - 1 - off, &used),
			 IMAP_PARSE_COMMAND);
	assert_int_equal(off + used, sizeof(in) - 1);
	assert_string_equal(r->tag, "b");
	assert_int_equal(r->cmd, IMAP_CMD_NOOP);
	assert_int_equal(r->nargs, 0);
	assert_int_equal(r->bytes, strlen("b NOOP\r\n"));
	/* The result stays until bytes are fed again. */
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"", 0, &used), IMAP_PARSE_MORE);
	assert_int_equal(used, 0);
	assert_string_equal(r->tag, "b");
	imap_parse_free(&p);
	imap_parse_free(&p);
	assert_null(p);
}

/* An unterminated literal or line is need-more, however long it waits; then it completes. */
static void
test_imap_parse_unterminated(void **state)
{
	static const char head[] = "a LOGIN {10}\r\nabc", tail[] = "defghij \"x\"\r\n";
	const struct imap_parse_command *r;
	struct imap_parse *p = NULL;
	size_t used;

	(void)state;
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	r = imap_parse_result(p);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)head, sizeof(head) - 1, &used), IMAP_PARSE_CONTINUE);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)head + used, sizeof(head) - 1 - used, &used),
			 IMAP_PARSE_MORE);
	for (int i = 0; i < 100; i++)
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"", 0, &used), IMAP_PARSE_MORE);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)tail, sizeof(tail) - 1, &used), IMAP_PARSE_COMMAND);
	assert_int_equal(used, sizeof(tail) - 1);
	assert_int_equal(r->nargs, 2);
	assert_string_equal(r->args[0].str, "abcdefghij");
	assert_string_equal(r->args[1].str, "x");
	/* A quoted string and a list left open wait the same way. */
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"b LOGIN \"ab", 11, &used), IMAP_PARSE_MORE);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"c\" (x", 5, &used), IMAP_PARSE_MORE);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)")\r\n", 3, &used), IMAP_PARSE_COMMAND);
	assert_string_equal(r->args[0].str, "abc");
	assert_int_equal(r->args[1].count, 1);
	imap_parse_free(&p);
}

/* After FATAL nothing more is taken; decisions are refused when none is due. */
static void
test_imap_parse_fatal_and_decisions(void **state)
{
	static const char big[] = "a LOGIN {99999999999+}\r\nb NOOP\r\n";
	struct imap_parse *p = NULL;
	size_t used;

	(void)state;
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	assert_int_equal(imap_parse_literal_accept(p), -1);
	assert_int_equal(imap_parse_literal_refuse(p), -1);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)big, sizeof(big) - 1, &used), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)big + used, sizeof(big) - 1 - used, &used),
			 IMAP_PARSE_FATAL);
	assert_int_equal(imap_parse_result(p)->error, IMAP_PARSE_E_DISCARD);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"b NOOP\r\n", 8, &used), IMAP_PARSE_FATAL);
		assert_int_equal(used, 0);
	}
	assert_int_equal(imap_parse_literal_refuse(p), -1);
	imap_parse_free(&p);

	/* A refused non-synchronizing streamed literal: discarded, or fatal at once past skip_max. */
	{
		struct imap_parse_limits l = t_small;

		l.stream_max = 1000;
		assert_int_equal(imap_parse_new(&l, 0, &p), 0);
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"a APPEND x {256+}\r\n", 19, &used),
				 IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parse_literal_refuse(p), 0);
		assert_int_equal(imap_parse_literal_refuse(p), -1);
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"x", 1, &used), IMAP_PARSE_MORE);
		imap_parse_free(&p);
		assert_int_equal(imap_parse_new(&l, 0, &p), 0);
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"a APPEND x {257+}\r\n", 19, &used),
				 IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parse_literal_refuse(p), 0);
		assert_int_equal(imap_parse_feed(p, (const uint8_t *)"", 0, &used), IMAP_PARSE_FATAL);
		imap_parse_free(&p);
	}
}

/* Flags change from the next command on. */
static void
test_imap_parse_set_flags(void **state)
{
	const struct imap_parse_command *r;
	struct imap_parse *p = NULL;
	size_t used;

	(void)state;
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	r = imap_parse_result(p);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"a NOOP", 6, &used), IMAP_PARSE_MORE);
	imap_parse_set_flags(p, IMAP_PARSE_BARE_LF | IMAP_PARSE_LITERAL_MINUS);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"\n", 1, &used), IMAP_PARSE_ERROR);
	assert_int_equal(r->error, IMAP_PARSE_E_BARE_LF);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"\nb NOOP\n", 8, &used), IMAP_PARSE_COMMAND);
	assert_string_equal(r->tag, "b");
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"c LOGIN {4097+}\n", 16, &used), IMAP_PARSE_ERROR);
	assert_int_equal(r->error, IMAP_PARSE_E_LITERAL_TOO_BIG);
	imap_parse_set_flags(p, 0);
	imap_parse_free(&p);
}

/* Limits that cannot work are refused. */
static void
test_imap_parse_new(void **state)
{
	struct imap_parse_limits l;
	struct imap_parse *p = NULL;

	(void)state;
	imap_parse_limits_default(&l);
	assert_int_equal(l.line_max, IMAP_PARSE_LINE_MAX);
	assert_int_equal(l.literal_minus_max, 4096);
	assert_int_equal(imap_parse_new(&l, 0, &p), 0);
	imap_parse_free(&p);
	assert_int_equal(imap_parse_new(&t_small, 0, &p), 0);
	imap_parse_free(&p);
	{
		struct imap_parse_limits bad[11];
		size_t n = 0;

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			bad[i] = l;
		bad[n++].line_max = 0;
		bad[n].line_max = l.command_max + 1;
		bad[n++].skip_max = l.command_max + 1;
		bad[n++].literal_max = l.command_max + 1;
		bad[n++].skip_max = l.command_max - 1;
		bad[n++].depth_max = 0;
		bad[n++].args_max = 0;
		bad[n++].tag_max = 0;
		bad[n++].tag_max = l.line_max - 7;
		bad[n].command_max = (size_t)IMAP_PARSE_HELD_CEILING + 1;
		bad[n++].skip_max = (uint64_t)IMAP_PARSE_HELD_CEILING + 1;
		bad[n++].args_max = IMAP_PARSE_COUNT_CEILING + 1;
		bad[n++].depth_max = IMAP_PARSE_COUNT_CEILING + 1;
		assert_int_equal(n, sizeof(bad) / sizeof(bad[0]));
		for (size_t i = 0; i < n; i++) {
			p = (struct imap_parse *)&l;
			if (imap_parse_new(&bad[i], 0, &p) != -1)
				fail_msg("limits %zu accepted", i);
			assert_ptr_equal(p, (struct imap_parse *)&l);
		}
	}
	/* 0 is a valid size for literals: then only empty ones are taken. */
	l.literal_max = 0;
	l.stream_max = 0;
	assert_int_equal(imap_parse_new(&l, 0, &p), 0);
	imap_parse_free(&p);
}

/*
 * Thousands of pipelined commands in one feed: every one comes out, in
 * order, and the parser allocates nothing while it reads them.
 */
static void
test_imap_parse_pipelined(void **state)
{
	static const char *const forms[] = {
		"NOOP\r\n",
		"UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)])\r\n",
		"LOGIN {5+}\r\nalice \"secret\"\r\n",
		"BOGUS x\r\n",
		"APPEND INBOX (\\Seen) {3+}\r\nabc\r\n",
		"SEARCH (((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))\r\n",
	};
	const size_t nforms = sizeof(forms) / sizeof(forms[0]);
	static char buf[T_PIPELINED * 80];
	const struct imap_parse_command *r;
	struct imap_parse *p = NULL;
	struct mallinfo2 before, after;
	size_t len = 0, off = 0, n;
	unsigned next = 0, commands = 0, errors = 0, data = 0;

	(void)state;
	for (unsigned i = 0; i < T_PIPELINED; i++) {
		int k = snprintf(buf + len, sizeof(buf) - len, "t%05u %s", i, forms[i % nforms]);

		assert_true(k > 0 && (size_t)k < sizeof(buf) - len);
		len += (size_t)k;
	}
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	r = imap_parse_result(p);
	before = mallinfo2();
	while (off < len) {
		enum imap_parse_status st = imap_parse_feed(p, (const uint8_t *)buf + off, len - off, &n);
		char tag[16];

		off += n;
		switch (st) {
		case IMAP_PARSE_LITERAL:
			assert_int_equal(imap_parse_literal_accept(p), 0);
			continue;
		case IMAP_PARSE_DATA:
			data += (unsigned)r->data_len;
			continue;
		case IMAP_PARSE_COMMAND:
		case IMAP_PARSE_ERROR:
			snprintf(tag, sizeof(tag), "t%05u", next);
			assert_string_equal(r->tag, tag);
			if (st == IMAP_PARSE_ERROR) {
				/* BOGUS, and the list one deeper than IMAP_PARSE_DEPTH_MAX */
				assert_true(next % nforms == 3 || next % nforms == 5);
				assert_int_equal(r->error, next % nforms == 3 ? IMAP_PARSE_E_COMMAND : IMAP_PARSE_E_DEPTH);
				errors++;
				/* The rest of the refused command is discarded by the next feed. */
				next++;
				continue;
			}
			assert_true(next % nforms != 3 && next % nforms != 5);
			commands++;
			next++;
			continue;
		case IMAP_PARSE_MORE:
			/* The last command was refused: its rest is discarded. */
			assert_int_equal(off, len);
			continue;
		default:
			fail_msg("status %d at %zu", st, off);
		}
	}
	after = mallinfo2();
	assert_int_equal(next, T_PIPELINED);
	assert_int_equal(commands + errors, T_PIPELINED);
	assert_int_equal(data, 3 * ((T_PIPELINED + nforms - 1 - 4) / nforms));
	/* Nothing allocated, nothing freed while reading. */
	assert_int_equal(after.uordblks, before.uordblks);
	assert_int_equal(after.hblkhd, before.hblkhd);
	imap_parse_free(&p);
}

/* ---- helpers ---- */

static void
test_imap_parse_seqset(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int saved;
		struct imap_parse_seq want[4];
	} t[] = {
		{ "1", 1, 0, { { 1, 1 } } },
		{ "1:*", 1, 0, { { 1, IMAP_PARSE_SEQ_STAR } } },
		{ "*", 1, 0, { { IMAP_PARSE_SEQ_STAR, IMAP_PARSE_SEQ_STAR } } },
		{ "*:4", 1, 0, { { IMAP_PARSE_SEQ_STAR, 4 } } },
		{ "2,4:7,9,12:*", 4, 0, { { 2, 2 }, { 4, 7 }, { 9, 9 }, { 12, IMAP_PARSE_SEQ_STAR } } },
		{ "5:2", 1, 0, { { 5, 2 } } },
		{ "4294967295", 1, 0, { { 4294967295u, 4294967295u } } },
		{ "1:4294967295", 1, 0, { { 1, 4294967295u } } },
		{ "$", 0, 1, { { 0, 0 } } },
		{ "1,$", 1, 1, { { 1, 1 } } },
		{ "$,3:4", 1, 1, { { 3, 4 } } },
		{ "4294967296", -1, 0, { { 0, 0 } } },
		{ "0", -1, 0, { { 0, 0 } } },
		{ "1:0", -1, 0, { { 0, 0 } } },
		{ "01", -1, 0, { { 0, 0 } } },
		{ "", -1, 0, { { 0, 0 } } },
		{ "1,", -1, 0, { { 0, 0 } } },
		{ ",1", -1, 0, { { 0, 0 } } },
		{ "1,,2", -1, 0, { { 0, 0 } } },
		{ "1:", -1, 0, { { 0, 0 } } },
		{ "1::2", -1, 0, { { 0, 0 } } },
		{ "1:2:3", -1, 0, { { 0, 0 } } },
		{ "$:3", -1, 0, { { 0, 0 } } },
		{ "1 2", -1, 0, { { 0, 0 } } },
		{ "a", -1, 0, { { 0, 0 } } },
		{ "-1", -1, 0, { { 0, 0 } } },
	};
	struct imap_parse_seq out[4];
	int saved;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		memset(out, 0xa5, sizeof(out));
		saved = 7;
		rc = imap_parse_seqset(t[i].in, strlen(t[i].in), out, 4, &saved);
		if (rc != t[i].rc)
			fail_msg("'%s': %d, want %d", t[i].in, rc, t[i].rc);
		assert_int_equal(saved, t[i].saved);
		for (int k = 0; k < rc; k++) {
			if (out[k].first != t[i].want[k].first || out[k].last != t[i].want[k].last)
				fail_msg("'%s' [%d]: %u:%u", t[i].in, k, out[k].first, out[k].last);
		}
	}
	/* More elements than room: the count, and only cap written. */
	memset(out, 0, sizeof(out));
	assert_int_equal(imap_parse_seqset("1,2,3,4,5,6", 11, out, 2, &saved), 6);
	assert_int_equal(out[1].first, 2);
	assert_int_equal(out[2].first, 0);
	assert_int_equal(imap_parse_seqset("1,2", 3, NULL, 0, &saved), 2);
	/* Without saved_r, "$" is not a sequence set. */
	assert_int_equal(imap_parse_seqset("$", 1, out, 4, NULL), -1);
	assert_int_equal(imap_parse_seqset("1:3", 3, out, 4, NULL), 1);
}

static void
test_imap_parse_section(void **state)
{
	static const struct {
		const char *in;
		int item;
		int text;
		const char *parts;	/* "1.2" */
		const char *fields;	/* "A|B" */
		int partial;
		uint64_t offset;
		uint64_t length;
	} good[] = {
		{ "BODY[]", IMAP_SECTION_BODY, IMAP_SECTION_ALL, "", "", 0, 0, 0 },
		{ "body.peek[]<0.100>", IMAP_SECTION_BODY_PEEK, IMAP_SECTION_ALL, "", "", 1, 0, 100 },
		{ "BODY.PEEK[HEADER.FIELDS (From To)]", IMAP_SECTION_BODY_PEEK, IMAP_SECTION_HEADER_FIELDS, "",
		  "From|To", 0, 0, 0 },
		{ "body.peek[header.fields.not (Received)]<10.2048>", IMAP_SECTION_BODY_PEEK,
		  IMAP_SECTION_HEADER_FIELDS_NOT, "", "Received", 1, 10, 2048 },
		{ "BODY[1.2.HEADER.FIELDS (A B)]<0.100>", IMAP_SECTION_BODY, IMAP_SECTION_HEADER_FIELDS, "1.2", "A|B",
		  1, 0, 100 },
		{ "BODY[HEADER.FIELDS (\"From\" \"X-Spam]\" List-ID)]", IMAP_SECTION_BODY, IMAP_SECTION_HEADER_FIELDS,
		  "", "From|X-Spam]|List-ID", 0, 0, 0 },
		{ "BODY[1.2.MIME]", IMAP_SECTION_BODY, IMAP_SECTION_MIME, "1.2", "", 0, 0, 0 },
		{ "BODY[3.TEXT]", IMAP_SECTION_BODY, IMAP_SECTION_TEXT, "3", "", 0, 0, 0 },
		{ "BODY[4.2.HEADER]", IMAP_SECTION_BODY, IMAP_SECTION_HEADER, "4.2", "", 0, 0, 0 },
		{ "BODY[1]", IMAP_SECTION_BODY, IMAP_SECTION_ALL, "1", "", 0, 0, 0 },
		{ "BODY[TEXT]", IMAP_SECTION_BODY, IMAP_SECTION_TEXT, "", "", 0, 0, 0 },
		{ "BODY[HEADER]", IMAP_SECTION_BODY, IMAP_SECTION_HEADER, "", "", 0, 0, 0 },
		{ "BODY[4294967295]", IMAP_SECTION_BODY, IMAP_SECTION_ALL, "4294967295", "", 0, 0, 0 },
		{ "BODY[]<9223372036854775807.9223372036854775807>", IMAP_SECTION_BODY, IMAP_SECTION_ALL, "", "", 1,
		  INT64_MAX, INT64_MAX },
		{ "BODY[]<00.5>", IMAP_SECTION_BODY, IMAP_SECTION_ALL, "", "", 1, 0, 5 },
		{ "BINARY[1.2]<0.1024>", IMAP_SECTION_BINARY, IMAP_SECTION_ALL, "1.2", "", 1, 0, 1024 },
		{ "BINARY.PEEK[]", IMAP_SECTION_BINARY_PEEK, IMAP_SECTION_ALL, "", "", 0, 0, 0 },
		{ "binary.size[1]", IMAP_SECTION_BINARY_SIZE, IMAP_SECTION_ALL, "1", "", 0, 0, 0 },
	};
	static const char *const bad[] = {
		"BODY", "BODYX[]", "BODY.PEEKX[]", "[]", "BODY[MIME]", "BODY[0]", "BODY[01]", "BODY[1.]",
		"BODY[1..2]", "BODY[.1]", "BODY[1.0]", "BODY[4294967296]", "BODY[HEADER.FIELDS ()]",
		"BODY[HEADER.FIELDS (A  B)]", "BODY[HEADER.FIELDS(A)]", "BODY[HEADER.FIELDS  (A)]",
		"BODY[HEADER.FIELDS (A:B)]", "BODY[HEADER.FIELDS (\"A\\\"B\")]", "BODY[HEADER.FIELDS (\"A B\")]",
		"BODY[HEADER.FIELDS (\"\")]", "BODY[HEADER.FIELDS (A%)]", "BODY[HEADER.FIELDS (A)", "BODY[HEADER.FIELDS]",
		"BODY[HEADER.FIELDS (A (B))]", "BODY[HEADERS]", "BODY[TEXT ]", "BODY[ TEXT]", "BINARY[TEXT]",
		"BINARY[1.MIME]", "BINARY.SIZE[1]<0.1>", "BODY[]<0.0>", "BODY[]<0>", "BODY[]<.5>", "BODY[]<0.5",
		"BODY[]<0.5>x", "BODY[]x", "BODY[]<9223372036854775808.1>", "BODY[1]]", "BODY[[1]",
	};
	struct imap_parse_section sec;
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *in = good[i].in;
		size_t o = 0;

		memset(&sec, 0xa5, sizeof(sec));
		if (imap_parse_section(in, strlen(in), &sec) != 0)
			fail_msg("'%s' refused", in);
		assert_int_equal(sec.item, good[i].item);
		assert_int_equal(sec.text, good[i].text);
		buf[0] = '\0';
		for (size_t k = 0; k < sec.nparts; k++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u", k > 0 ? "." : "", sec.part[k]);
		if (strcmp(buf, good[i].parts) != 0)
			fail_msg("'%s': parts '%s'", in, buf);
		o = 0;
		buf[0] = '\0';
		for (size_t k = 0; k < sec.nfields; k++) {
			assert_true(sec.fields[k].s > in && sec.fields[k].s + sec.fields[k].len < in + strlen(in));
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s", k > 0 ? "|" : "",
					      (int)sec.fields[k].len, sec.fields[k].s);
		}
		if (strcmp(buf, good[i].fields) != 0)
			fail_msg("'%s': fields '%s'", in, buf);
		assert_int_equal(sec.partial, good[i].partial);
		assert_int_equal(sec.offset, good[i].offset);
		assert_int_equal(sec.length, good[i].length);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&sec, 0xa5, sizeof(sec));
		if (imap_parse_section(bad[i], strlen(bad[i]), &sec) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(sec.nparts + sec.nfields + (size_t)sec.partial, 0);
	}
	/* IMAP_PARSE_SECTION_FIELDS_MAX names, then one too many; the same for parts. */
	{
		size_t o = (size_t)snprintf(buf, sizeof(buf), "BODY[HEADER.FIELDS (");

		for (int k = 0; k < IMAP_PARSE_SECTION_FIELDS_MAX; k++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%sX", k > 0 ? " " : "");
		snprintf(buf + o, sizeof(buf) - o, ")]");
		assert_int_equal(imap_parse_section(buf, strlen(buf), &sec), 0);
		assert_int_equal(sec.nfields, IMAP_PARSE_SECTION_FIELDS_MAX);
		snprintf(buf + o, sizeof(buf) - o, " X)]");
		assert_int_equal(imap_parse_section(buf, strlen(buf), &sec), -1);
		o = (size_t)snprintf(buf, sizeof(buf), "BODY[1");
		for (int k = 1; k < IMAP_PARSE_SECTION_PARTS_MAX; k++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, ".%d", k + 1);
		snprintf(buf + o, sizeof(buf) - o, "]");
		assert_int_equal(imap_parse_section(buf, strlen(buf), &sec), 0);
		assert_int_equal(sec.nparts, IMAP_PARSE_SECTION_PARTS_MAX);
		snprintf(buf + o, sizeof(buf) - o, ".9]");
		assert_int_equal(imap_parse_section(buf, strlen(buf), &sec), -1);
	}
}

/* The accessors, on arguments as the parser gives them. */
static void
test_imap_parse_arg_helpers(void **state)
{
	static const char in[] = "a LOGIN INBOX \"a b\" {3}\r\nx y ~{1}\r\nz 42 nil INBOX% \\Seen () ]x[\r\n";
	const struct imap_parse_command *r;
	struct imap_parse *p = NULL;
	size_t off = 0, used, len;
	const char *s;
	uint64_t v;

	(void)state;
	assert_int_equal(imap_parse_new(NULL, 0, &p), 0);
	r = imap_parse_result(p);
	for (;;) {
		enum imap_parse_status st = imap_parse_feed(p, (const uint8_t *)in + off, sizeof(in) - 1 - off, &used);

		off += used;
		if (st == IMAP_PARSE_COMMAND)
			break;
		assert_int_equal(st, IMAP_PARSE_CONTINUE);
	}
	assert_int_equal(r->nargs, 10);
	assert_int_equal(imap_parse_arg_astring(&r->args[0], &s, &len), 0);
	assert_string_equal(s, "INBOX");
	assert_int_equal(len, 5);
	assert_int_equal(imap_parse_arg_astring(&r->args[1], &s, &len), 0);
	assert_string_equal(s, "a b");
	assert_int_equal(imap_parse_arg_astring(&r->args[2], &s, &len), 0);
	assert_string_equal(s, "x y");
	assert_int_equal(imap_parse_arg_astring(&r->args[3], &s, &len), -1);	/* literal8 */
	assert_int_equal(imap_parse_arg_astring(&r->args[4], &s, &len), 0);	/* a number is an astring */
	assert_string_equal(s, "42");
	assert_int_equal(imap_parse_arg_number(&r->args[4], 42, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(imap_parse_arg_number(&r->args[4], 41, &v), -1);
	assert_int_equal(imap_parse_arg_number(&r->args[0], UINT64_MAX, &v), -1);
	assert_int_equal(r->args[5].type, IMAP_ARG_NIL);
	assert_int_equal(imap_parse_arg_astring(&r->args[5], &s, &len), 0);	/* so is NIL */
	assert_string_equal(s, "nil");
	assert_true(imap_parse_arg_is(&r->args[5], "NIL"));
	assert_int_equal(imap_parse_arg_astring(&r->args[6], &s, &len), -1);	/* "%" */
	assert_int_equal(imap_parse_arg_astring(&r->args[7], &s, &len), -1);	/* "\" */
	assert_true(imap_parse_arg_is(&r->args[7], "\\SEEN"));
	assert_false(imap_parse_arg_is(&r->args[7], "\\SEE"));
	assert_int_equal(imap_parse_arg_astring(&r->args[8], &s, &len), -1);	/* a list */
	assert_false(imap_parse_arg_is(&r->args[8], ""));
	assert_int_equal(imap_parse_arg_astring(&r->args[9], &s, &len), 0);	/* "]" is an ASTRING-CHAR */
	assert_true(imap_parse_arg_is(&r->args[0], "INBOX"));
	assert_false(imap_parse_arg_is(&r->args[1], "A B"));
	imap_parse_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_parse_good),
		cmocka_unit_test(test_imap_parse_bad),
		cmocka_unit_test(test_imap_parse_limits),
		cmocka_unit_test(test_imap_parse_default_limits),
		cmocka_unit_test(test_imap_parse_positions),
		cmocka_unit_test(test_imap_parse_unterminated),
		cmocka_unit_test(test_imap_parse_fatal_and_decisions),
		cmocka_unit_test(test_imap_parse_set_flags),
		cmocka_unit_test(test_imap_parse_new),
		cmocka_unit_test(test_imap_parse_pipelined),
		cmocka_unit_test(test_imap_parse_seqset),
		cmocka_unit_test(test_imap_parse_section),
		cmocka_unit_test(test_imap_parse_arg_helpers),
	};
	return cmocka_run_group_tests_name("imap_parse", tests, NULL, NULL);
}
