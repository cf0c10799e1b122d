/*
 * Unit tests for edge/preamble: SMTP and IMAP sessions up to STARTTLS as
 * data (these bytes in, exactly these reply bytes and this status out),
 * each fed whole, one byte at a time and in other chunks by a caller that
 * keeps the unconsumed bytes in a PREAMBLE_LINE_MAX buffer; the same tables
 * again with a 253-byte name and an output buffer of exactly
 * PREAMBLE_REPLY_MAX; backpressure on a small output buffer; refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "dnsname.h"

#include "../../edge/edge.h"

#define T_NAME "mx.example.net"
#define T_GOT_MAX 16384		/* all replies of one scenario */
#define T_OUT_CAP 4096		/* the output buffer of an ordinary session */
#define T_WHOLE SIZE_MAX	/* feed the input in one piece */

#define SMTP EDGE_PREAMBLE_SMTP
#define IMAP EDGE_PREAMBLE_IMAP

/* A string literal as (bytes, length): it may hold a NUL. */
#define S(x) x, sizeof(x) - 1

#define X5 "xxxxx"
#define X10 X5 X5
#define X50 X10 X10 X10 X10 X10
#define X100 X50 X50
#define X200 X100 X100
#define X500 X100 X100 X100 X100 X100
#define X600 X500 X100
#define TAG64 "T234567890123456789012345678901234567890123456789012345678901234"

#define NOOP5 "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n"
#define NOOP20 NOOP5 NOOP5 NOOP5 NOOP5
#define OK "250 2.0.0 OK\r\n"
#define OK5 OK OK OK OK OK
#define OK20 OK5 OK5 OK5 OK5
#define INOOP5 "a NOOP\r\na NOOP\r\na NOOP\r\na NOOP\r\na NOOP\r\n"
#define INOOP20 INOOP5 INOOP5 INOOP5 INOOP5
#define IOK "a OK NOOP completed\r\n"
#define IOK5 IOK IOK IOK IOK IOK
#define IOK20 IOK5 IOK5 IOK5 IOK5

#define EHLO_R "250-" T_NAME "\r\n250-SIZE\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
#define HELO_R "250 " T_NAME "\r\n"
#define TLS_R "220 2.0.0 Ready to start TLS\r\n"
#define AFTER_TLS_R "554 5.5.0 Error: bytes sent after STARTTLS\r\n"
#define NEEDS_TLS_R "451 4.7.0 Must issue a STARTTLS command first\r\n"
#define UNKNOWN_R "500 5.5.2 Command not recognized\r\n"
#define NUL_R "500 5.5.2 NUL byte in command\r\n"
#define EHLO_SYNTAX_R "501 5.5.4 Syntax: EHLO hostname\r\n"
#define HELO_SYNTAX_R "501 5.5.4 Syntax: HELO hostname\r\n"
#define LIMIT_R "421 4.7.0 " T_NAME " Too many commands, closing\r\n"
#define LONG_R "500 5.5.6 Line too long\r\n"

#define CAPS_R "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
#define ILIMIT_R "* BYE " T_NAME " Too many commands\r\n"
#define ILONG_R "* BYE Line too long\r\n"
#define BADTAG_R "* BAD Invalid tag\r\n"
#define INOTLS_R " BAD Command not allowed before STARTTLS\r\n"
#define ILITERAL_R " BAD Literals are not allowed before STARTTLS\r\n"
#define INO_R " NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"

struct t_scenario {
	const char *what;
	int proto;			/* enum edge_preamble */
	const char *in;
	size_t inlen;
	const char *want;		/* every reply, in order */
	int status;			/* enum preamble_status at the end */
	const char *want_split;		/* fed in pieces, when that must differ; NULL: want */
	int status_split;
};

static const struct t_scenario t_smtp[] = {
	{ "EHLO then STARTTLS", SMTP, S("EHLO client.example.org\r\nSTARTTLS\r\n"),
	  EHLO_R TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "HELO then STARTTLS", SMTP, S("HELO client.example.org\r\nSTARTTLS\r\n"),
	  HELO_R TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "MAIL before STARTTLS", SMTP, S("EHLO c\r\nMAIL FROM:<a@example.org>\r\n"),
	  EHLO_R NEEDS_TLS_R, PREAMBLE_MORE, NULL, 0 },
	{ "every mail command refused", SMTP,
	  S("RCPT TO:<a@b>\r\nDATA\r\nBDAT 10 LAST\r\nAUTH PLAIN AGFAYg==\r\n"),
	  NEEDS_TLS_R NEEDS_TLS_R NEEDS_TLS_R NEEDS_TLS_R, PREAMBLE_MORE, NULL, 0 },
	{ "more mail commands refused", SMTP, S("VRFY a\r\nEXPN b\r\nETRN c\r\nTURN\r\n"),
	  NEEDS_TLS_R NEEDS_TLS_R NEEDS_TLS_R NEEDS_TLS_R, PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS before EHLO", SMTP, S("STARTTLS\r\n"),
	  "503 5.5.1 EHLO first\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS after a refused EHLO", SMTP, S("EHLO\r\nSTARTTLS\r\n"),
	  EHLO_SYNTAX_R "503 5.5.1 EHLO first\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS with an argument", SMTP, S("EHLO c\r\nSTARTTLS now\r\n"),
	  EHLO_R "501 5.5.4 Syntax: STARTTLS\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS with a command pipelined", SMTP, S("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@example>\r\n"),
	  EHLO_R AFTER_TLS_R, PREAMBLE_CLOSE, EHLO_R TLS_R, PREAMBLE_STARTTLS },
	{ "STARTTLS with one byte pipelined", SMTP, S("EHLO c\r\nSTARTTLS\r\n\x16"),
	  EHLO_R AFTER_TLS_R, PREAMBLE_CLOSE, EHLO_R TLS_R, PREAMBLE_STARTTLS },
	{ "EHLO and NOOP pipelined", SMTP, S("EHLO c\r\nNOOP\r\n"),
	  EHLO_R OK, PREAMBLE_MORE, NULL, 0 },
	{ "a second EHLO and a HELO", SMTP, S("EHLO a\r\nEHLO b\r\nHELO c\r\nSTARTTLS\r\n"),
	  EHLO_R EHLO_R HELO_R TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "lower and mixed case", SMTP, S("ehlo c\r\nnoop\r\nStartTls\r\n"),
	  EHLO_R OK TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "bare LF", SMTP, S("EHLO c\nNOOP\r\nSTARTTLS\n"),
	  EHLO_R OK TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "RSET HELP NOOP with argument", SMTP, S("RSET\r\nHELP\r\nHELP EHLO\r\nNOOP hello\r\n"),
	  OK "214 2.0.0 Homeport edge: EHLO, STARTTLS, NOOP, RSET, QUIT\r\n"
	  "214 2.0.0 Homeport edge: EHLO, STARTTLS, NOOP, RSET, QUIT\r\n" OK, PREAMBLE_MORE, NULL, 0 },
	{ "QUIT, then nothing more is read", SMTP, S("NOOP\r\nQUIT\r\nNOOP\r\n"),
	  OK "221 2.0.0 Bye\r\n", PREAMBLE_CLOSE, NULL, 0 },
	{ "unknown commands and an empty line", SMTP, S("XYZZY\r\n\r\nSTART TLS\r\n"),
	  UNKNOWN_R UNKNOWN_R UNKNOWN_R, PREAMBLE_MORE, NULL, 0 },
	{ "a stray CR is part of the line", SMTP, S("NOOP\rX\r\nNOOP\r\r\n"),
	  UNKNOWN_R UNKNOWN_R, PREAMBLE_MORE, NULL, 0 },
	{ "NUL byte", SMTP, S("NOOP\0\r\nEHLO a\0b\r\n"),
	  NUL_R NUL_R, PREAMBLE_MORE, NULL, 0 },
	{ "EHLO and HELO without a name", SMTP, S("EHLO\r\nEHLO \r\nHELO\r\n"),
	  EHLO_SYNTAX_R EHLO_SYNTAX_R HELO_SYNTAX_R, PREAMBLE_MORE, NULL, 0 },
	{ "EHLO names that are not printable", SMTP, S("EHLO a b\r\nEHLO \xc3\xa9t\xc3\xa9\r\nEHLO a\tb\r\n"),
	  EHLO_SYNTAX_R EHLO_SYNTAX_R EHLO_SYNTAX_R, PREAMBLE_MORE, NULL, 0 },
	{ "EHLO names of 200 and 201 bytes", SMTP, S("EHLO " X200 "\r\nEHLO " X200 "x\r\n"),
	  EHLO_R EHLO_SYNTAX_R, PREAMBLE_MORE, NULL, 0 },
	{ "an incomplete line is kept", SMTP, S("NOOP\r\nNOO"),
	  OK, PREAMBLE_MORE, NULL, 0 },
	{ "a 600-byte line without its end", SMTP, S("EHLO c\r\n" X600),
	  EHLO_R LONG_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "a 600-byte line", SMTP, S("NOOP " X500 X50 X10 X10 X10 X10 "xxx\r\n"),
	  LONG_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "a line of 512 bytes with CRLF", SMTP, S("NOOP " X500 X5 "\r\nNOOP\r\n"),
	  OK OK, PREAMBLE_MORE, NULL, 0 },
	{ "a line of 512 bytes with LF", SMTP, S("NOOP " X500 X5 "x\nNOOP\r\n"),
	  OK OK, PREAMBLE_MORE, NULL, 0 },
	{ "a line of 513 bytes with CRLF", SMTP, S("NOOP " X500 X5 "x\r\nNOOP\r\n"),
	  LONG_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "20 commands", SMTP, S(NOOP20), OK20, PREAMBLE_MORE, NULL, 0 },
	{ "the 21st command", SMTP, S(NOOP20 "STARTTLS\r\n"), OK20 LIMIT_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "4 errors", SMTP, S("A\r\nB\r\nC\r\nD\r\nEHLO c\r\nSTARTTLS\r\n"),
	  UNKNOWN_R UNKNOWN_R UNKNOWN_R UNKNOWN_R EHLO_R TLS_R, PREAMBLE_STARTTLS, NULL, 0 },
	{ "the command after 5 errors", SMTP,
	  S("MAIL FROM:<>\r\nSTARTTLS\r\nEHLO\r\nEHLO c\r\nSTARTTLS x\r\nXYZZY\r\nSTARTTLS\r\n"),
	  NEEDS_TLS_R "503 5.5.1 EHLO first\r\n" EHLO_SYNTAX_R EHLO_R "501 5.5.4 Syntax: STARTTLS\r\n"
	  UNKNOWN_R LIMIT_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "no input", SMTP, S(""), "", PREAMBLE_MORE, NULL, 0 },
};

static const struct t_scenario t_imap[] = {
	{ "CAPABILITY then STARTTLS", IMAP, S("a1 CAPABILITY\r\na2 STARTTLS\r\n"),
	  CAPS_R "a1 OK CAPABILITY completed\r\na2 OK Begin TLS negotiation now\r\n",
	  PREAMBLE_STARTTLS, NULL, 0 },
	{ "STARTTLS first", IMAP, S("A001 STARTTLS\r\n"),
	  "A001 OK Begin TLS negotiation now\r\n", PREAMBLE_STARTTLS, NULL, 0 },
	{ "lower case", IMAP, S("x capability\r\ny noop\r\nz StartTLS\r\n"),
	  CAPS_R "x OK CAPABILITY completed\r\ny OK NOOP completed\r\nz OK Begin TLS negotiation now\r\n",
	  PREAMBLE_STARTTLS, NULL, 0 },
	{ "bare LF", IMAP, S("a NOOP\nb STARTTLS\n"),
	  "a OK NOOP completed\r\nb OK Begin TLS negotiation now\r\n", PREAMBLE_STARTTLS, NULL, 0 },
	{ "LOGIN and AUTHENTICATE before STARTTLS", IMAP,
	  S("a LOGIN joe secret\r\nb AUTHENTICATE PLAIN\r\nc authenticate plain AGpvZQBzZWNyZXQ=\r\n"),
	  "a" INO_R "b" INO_R "c" INO_R, PREAMBLE_MORE, NULL, 0 },
	{ "other commands", IMAP, S("a SELECT INBOX\r\nb ID NIL\r\nc\r\n"),
	  "a" INOTLS_R "b" INOTLS_R "c" INOTLS_R, PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS with an argument", IMAP, S("a STARTTLS now\r\n"),
	  "a BAD STARTTLS takes no arguments\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "STARTTLS with a command pipelined", IMAP, S("a STARTTLS\r\nb LOGIN joe secret\r\n"),
	  "* BYE Bytes sent after STARTTLS\r\n", PREAMBLE_CLOSE,
	  "a OK Begin TLS negotiation now\r\n", PREAMBLE_STARTTLS },
	{ "NOOP and CAPABILITY pipelined", IMAP, S("a NOOP\r\nb CAPABILITY\r\n"),
	  "a OK NOOP completed\r\n" CAPS_R "b OK CAPABILITY completed\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "LOGOUT", IMAP, S("a LOGOUT\r\nb NOOP\r\n"),
	  "* BYE " T_NAME " logging out\r\na OK LOGOUT completed\r\n", PREAMBLE_CLOSE, NULL, 0 },
	{ "good tags", IMAP, S("A.1 NOOP\r\n]x NOOP\r\n" TAG64 " NOOP\r\n~!#$&'-_/:;<=>?@[^`|~ NOOP\r\n"),
	  "A.1 OK NOOP completed\r\n]x OK NOOP completed\r\n" TAG64 " OK NOOP completed\r\n"
	  "~!#$&'-_/:;<=>?@[^`|~ OK NOOP completed\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "bad tags", IMAP, S("* NOOP\r\n+ NOOP\r\na+b NOOP\r\n(a NOOP\r\n"),
	  BADTAG_R BADTAG_R BADTAG_R BADTAG_R, PREAMBLE_MORE, NULL, 0 },
	{ "more bad tags", IMAP, S("a{ NOOP\r\n%a NOOP\r\n\"a\" NOOP\r\na\\b NOOP\r\n"),
	  BADTAG_R BADTAG_R BADTAG_R BADTAG_R, PREAMBLE_MORE, NULL, 0 },
	{ "bad tags: length, controls, 8-bit", IMAP,
	  S(TAG64 "x NOOP\r\n NOOP\r\n\r\na\tb NOOP\r\n"),
	  BADTAG_R BADTAG_R BADTAG_R BADTAG_R, PREAMBLE_MORE, NULL, 0 },
	{ "bad tag: 8-bit, then a good one", IMAP, S("\xc3\xa9 NOOP\r\nA NOOP\r\n"),
	  BADTAG_R "A OK NOOP completed\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "NUL byte", IMAP, S("a NOOP\0\r\na\0 NOOP\r\n"),
	  "a BAD NUL byte in command\r\n" BADTAG_R, PREAMBLE_MORE, NULL, 0 },
	{ "a literal", IMAP, S("a LOGIN joe {6}\r\nsecret\r\n"),
	  "a" ILITERAL_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "a non-synchronizing literal", IMAP, S("b LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n"),
	  "b" ILITERAL_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "a literal after a bad tag", IMAP, S("+ {3}\r\n"),
	  "*" ILITERAL_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "not literals", IMAP, S("a X {}\r\nb X {+}\r\nc X {1x}\r\nd X 5}\r\n"),
	  "a" INOTLS_R "b" INOTLS_R "c" INOTLS_R "d" INOTLS_R, PREAMBLE_MORE, NULL, 0 },
	{ "a 600-byte line without its end", IMAP, S("a NOOP\r\nb NOOP " X600),
	  "a OK NOOP completed\r\n" ILONG_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "a line of 512 bytes with CRLF", IMAP, S("a NOOP " X500 "xxx\r\n"),
	  "a OK NOOP completed\r\n", PREAMBLE_MORE, NULL, 0 },
	{ "a line of 513 bytes with CRLF", IMAP, S("a NOOP " X500 "xxxx\r\n"),
	  ILONG_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "20 commands", IMAP, S(INOOP20), IOK20, PREAMBLE_MORE, NULL, 0 },
	{ "the 21st command", IMAP, S(INOOP20 "b STARTTLS\r\n"), IOK20 ILIMIT_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "the command after 5 errors", IMAP,
	  S("a LOGIN x y\r\nb SELECT x\r\n*\r\nc STARTTLS x\r\nd NOOP\0\r\ne STARTTLS\r\n"),
	  "a" INO_R "b" INOTLS_R BADTAG_R "c BAD STARTTLS takes no arguments\r\n"
	  "d BAD NUL byte in command\r\n" ILIMIT_R, PREAMBLE_CLOSE, NULL, 0 },
	{ "the longest replies", IMAP, S(TAG64 " CAPABILITY\r\n" TAG64 " LOGIN\r\n" TAG64 " LOGOUT\r\n"),
	  CAPS_R TAG64 " OK CAPABILITY completed\r\n" TAG64 INO_R
	  "* BYE " T_NAME " logging out\r\n" TAG64 " OK LOGOUT completed\r\n", PREAMBLE_CLOSE, NULL, 0 },
};

struct t_run {
	char got[T_GOT_MAX];
	size_t gotlen;
	int status;
	unsigned calls;		/* preamble_feed() calls */
};

/* Move what the session wrote from out to r->got, as a caller sends it. */
static void
t_drain(struct buf *out, struct t_run *r)
{
	assert_true(out->len <= out->cap);
	assert_true(out->len <= sizeof(r->got) - r->gotlen);
	memcpy(r->got + r->gotlen, out->data, out->len);
	r->gotlen += out->len;
	buf_reset(out);
}

/*
 * Run a session over in, handing it chunk bytes at a time (T_WHOLE: all at
 * once) like a caller with an input buffer of PREAMBLE_LINE_MAX that keeps
 * what was not used and sends out after each call.
 */
static void
t_session(int proto, const char *name, const char *in, size_t inlen, size_t chunk, size_t outcap,
	  struct t_run *r)
{
	struct buf *pending = buf_new(chunk == T_WHOLE ? inlen + 1 : PREAMBLE_LINE_MAX);
	struct buf *out = buf_new(outcap);
	enum preamble_status st;
	struct preamble p;
	size_t pos = 0, used;

	assert_non_null(pending);
	assert_non_null(out);
	preamble_init(&p, proto, name);
	r->gotlen = 0;
	r->calls = 0;
	do {
		size_t n = inlen - pos;

		if (n > chunk)
			n = chunk;
		if (n > buf_room(pending))
			n = buf_room(pending);
		/* A full input buffer would have been refused as an overlong line. */
		assert_true(n > 0 || pos == inlen);
		assert_int_equal(buf_append(pending, in + pos, n), 0);
		pos += n;
		do {
			st = preamble_feed(&p, pending->data, pending->len, &used, out);
			r->calls++;
			assert_true(used <= pending->len);
			t_drain(out, r);
			buf_consume(pending, used);
		} while (st == PREAMBLE_MORE && used > 0);
	} while (st == PREAMBLE_MORE && pos < inlen);
	/* STARTTLS leaves nothing behind: bytes after it are refused instead. */
	if (st == PREAMBLE_STARTTLS)
		assert_int_equal(pending->len, 0);
	assert_true(p.commands <= PREAMBLE_COMMANDS_MAX);
	assert_true(p.errors <= PREAMBLE_ERRORS_MAX);
	r->status = st;
	buf_free(&pending);
	buf_free(&out);
}

static void
t_expect(const struct t_scenario *s, const char *how, const struct t_run *r, const char *want, int status)
{
	if (r->gotlen != strlen(want) || memcmp(r->got, want, r->gotlen) != 0)
		fail_msg("%s (%s):\n got '%.*s'\nwant '%s'", s->what, how, (int)r->gotlen, r->got, want);
	if (r->status != status)
		fail_msg("%s (%s): status %d, want %d", s->what, how, r->status, status);
}

static const size_t t_chunks[] = { 2, 3, 7, 64, 511 };

static void
t_scenarios(const struct t_scenario *table, size_t n)
{
	static struct t_run r;
	char how[32];

	for (size_t i = 0; i < n; i++) {
		const struct t_scenario *s = &table[i];
		const char *want_split = s->want_split != NULL ? s->want_split : s->want;
		int status_split = s->want_split != NULL ? s->status_split : s->status;

		t_session(s->proto, T_NAME, s->in, s->inlen, T_WHOLE, T_OUT_CAP, &r);
		t_expect(s, "whole", &r, s->want, s->status);
		t_session(s->proto, T_NAME, s->in, s->inlen, 1, T_OUT_CAP, &r);
		t_expect(s, "byte at a time", &r, want_split, status_split);
		/* Other cuts: where a pipelined STARTTLS is cut decides its answer. */
		if (s->want_split != NULL)
			continue;
		for (size_t c = 0; c < sizeof(t_chunks) / sizeof(t_chunks[0]); c++) {
			snprintf(how, sizeof(how), "chunks of %zu", t_chunks[c]);
			t_session(s->proto, T_NAME, s->in, s->inlen, t_chunks[c], T_OUT_CAP, &r);
			t_expect(s, how, &r, s->want, s->status);
		}
	}
}

static void
test_preamble_smtp(void **state)
{
	(void)state;
	t_scenarios(t_smtp, sizeof(t_smtp) / sizeof(t_smtp[0]));
}

static void
test_preamble_imap(void **state)
{
	(void)state;
	t_scenarios(t_imap, sizeof(t_imap) / sizeof(t_imap[0]));
}

/* A 253-byte host name (DNSNAME_MAX), four labels. */
static void
t_long_name(char *name)
{
	memset(name, 'a', DNSNAME_MAX);
	name[63] = name[127] = name[191] = '.';
	name[DNSNAME_MAX] = '\0';
	assert_int_equal(dnsname_check(name, strlen(name), 0), 0);
}

/* want with every T_NAME replaced by name. */
static void
t_rename(const char *want, const char *name, char *res, size_t cap)
{
	size_t o = 0;
	const char *hit;

	while ((hit = strstr(want, T_NAME)) != NULL) {
		int n = snprintf(res + o, cap - o, "%.*s%s", (int)(hit - want), want, name);

		assert_true(n >= 0 && (size_t)n < cap - o);
		o += (size_t)n;
		want = hit + strlen(T_NAME);
	}
	assert_true(strlen(want) < cap - o);
	memcpy(res + o, want, strlen(want) + 1);
}

/*
 * Every scenario again with a 253-byte name and an output buffer of just
 * PREAMBLE_REPLY_MAX: a reply longer than that could not be appended.
 */
static void
t_scenarios_long_name(const struct t_scenario *table, size_t n)
{
	static struct t_run r;
	static char want[T_GOT_MAX];
	char name[DNSNAME_MAX + 1];

	t_long_name(name);
	for (size_t i = 0; i < n; i++) {
		const struct t_scenario *s = &table[i];

		t_rename(s->want, name, want, sizeof(want));
		t_session(s->proto, name, s->in, s->inlen, T_WHOLE, PREAMBLE_REPLY_MAX, &r);
		t_expect(s, "253-byte name", &r, want, s->status);
	}
}

static void
test_preamble_long_name(void **state)
{
	char name[DNSNAME_MAX + 1];
	struct buf *out = buf_new(PREAMBLE_REPLY_MAX);
	struct preamble p;

	(void)state;
	t_scenarios_long_name(t_smtp, sizeof(t_smtp) / sizeof(t_smtp[0]));
	t_scenarios_long_name(t_imap, sizeof(t_imap) / sizeof(t_imap[0]));

	/* The replies that do not come from preamble_feed(). */
	t_long_name(name);
	assert_non_null(out);
	for (int proto = SMTP; proto <= IMAP; proto++) {
		preamble_init(&p, proto, name);
		assert_int_equal(preamble_greeting(&p, out), 0);
		assert_non_null(memmem(out->data, out->len, name, strlen(name)));
		buf_reset(out);
		assert_int_equal(preamble_refuse_early(&p, out), 0);
		buf_reset(out);
		for (int why = PREAMBLE_REFUSE_BUSY; why <= PREAMBLE_REFUSE_SUSPENDED; why++) {
			assert_int_equal(preamble_refuse(&p, (enum preamble_refusal)why, out), 0);
			assert_non_null(memmem(out->data, out->len, name, strlen(name)));
			buf_reset(out);
		}
	}
	buf_free(&out);
}

/* A name longer than a host name is cut to DNSNAME_MAX bytes, never past the reply. */
static void
test_preamble_overlong_name(void **state)
{
	char name[DNSNAME_MAX + 50], want[DNSNAME_MAX + 64];
	struct buf *out = buf_new(PREAMBLE_REPLY_MAX);
	struct preamble p;

	(void)state;
	assert_non_null(out);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(want, sizeof(want), "220 %.*s ESMTP Homeport edge\r\n", DNSNAME_MAX, name);
	preamble_init(&p, SMTP, name);
	assert_int_equal(preamble_greeting(&p, out), 0);
	assert_int_equal(out->len, strlen(want));
	assert_memory_equal(out->data, want, out->len);
	buf_free(&out);
}

struct t_reply {
	int proto;
	int why;		/* enum preamble_refusal; -1: greeting, -2: refuse_early */
	const char *want;
};

static const struct t_reply t_replies[] = {
	{ SMTP, -1, "220 " T_NAME " ESMTP Homeport edge\r\n" },
	{ IMAP, -1, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] " T_NAME " ready\r\n" },
	{ SMTP, -2, "554 5.5.1 " T_NAME " Protocol error: you spoke before the greeting\r\n" },
	{ IMAP, -2, "* BYE " T_NAME " Protocol error: you spoke before the greeting\r\n" },
	{ SMTP, PREAMBLE_REFUSE_BUSY, "421 4.3.2 " T_NAME " Too busy, try again later\r\n" },
	{ SMTP, PREAMBLE_REFUSE_TIMEOUT, "421 4.4.2 " T_NAME " Timeout, closing\r\n" },
	{ SMTP, PREAMBLE_REFUSE_TENANT_DOWN,
	  "421 4.4.2 " T_NAME " Destination unreachable, try again later\r\n" },
	{ SMTP, PREAMBLE_REFUSE_NO_ROUTE,
	  "421 4.3.0 " T_NAME " No route for this destination, try again later\r\n" },
	{ SMTP, PREAMBLE_REFUSE_SHUTDOWN, "421 4.3.2 " T_NAME " Shutting down\r\n" },
	{ SMTP, PREAMBLE_REFUSE_SUSPENDED,
	  "421 4.4.2 " T_NAME " Service for this destination is suspended, try again later\r\n" },
	{ IMAP, PREAMBLE_REFUSE_BUSY, "* BYE [UNAVAILABLE] " T_NAME " Too busy, try again later\r\n" },
	{ IMAP, PREAMBLE_REFUSE_TIMEOUT, "* BYE [UNAVAILABLE] " T_NAME " Timeout, closing\r\n" },
	{ IMAP, PREAMBLE_REFUSE_TENANT_DOWN,
	  "* BYE [UNAVAILABLE] " T_NAME " Destination unreachable, try again later\r\n" },
	{ IMAP, PREAMBLE_REFUSE_NO_ROUTE,
	  "* BYE [UNAVAILABLE] " T_NAME " No route for this destination, try again later\r\n" },
	{ IMAP, PREAMBLE_REFUSE_SHUTDOWN, "* BYE [UNAVAILABLE] " T_NAME " Shutting down\r\n" },
	{ IMAP, PREAMBLE_REFUSE_SUSPENDED,
	  "* BYE [UNAVAILABLE] " T_NAME " Service for this destination is suspended, try again later\r\n" },
};

static int
t_reply_call(const struct preamble *p, int why, struct buf *out)
{
	if (why == -1)
		return preamble_greeting(p, out);
	if (why == -2)
		return preamble_refuse_early(p, out);
	return preamble_refuse(p, (enum preamble_refusal)why, out);
}

static void
test_preamble_replies(void **state)
{
	struct preamble p;

	(void)state;
	for (size_t i = 0; i < sizeof(t_replies) / sizeof(t_replies[0]); i++) {
		const struct t_reply *t = &t_replies[i];
		size_t n = strlen(t->want);
		struct buf *out = buf_new(n), *small = buf_new(n - 1);

		assert_non_null(out);
		assert_non_null(small);
		preamble_init(&p, t->proto, T_NAME);
		/* Exactly the room it needs is enough, one byte less is not. */
		assert_int_equal(t_reply_call(&p, t->why, out), 0);
		assert_int_equal(out->len, n);
		assert_memory_equal(out->data, t->want, n);
		assert_int_equal(t_reply_call(&p, t->why, small), -1);
		assert_int_equal(small->len, 0);
		/* A refusal is never permanent (no 5xx). */
		if (t->why >= 0)
			assert_true(t->want[0] != '5');
		buf_free(&out);
		buf_free(&small);
	}
}

static void
test_preamble_refuse_unknown(void **state)
{
	struct buf *out = buf_new(PREAMBLE_REPLY_MAX);
	struct preamble p;

	(void)state;
	assert_non_null(out);
	preamble_init(&p, SMTP, T_NAME);
	assert_int_equal(preamble_refuse(&p, (enum preamble_refusal)(PREAMBLE_REFUSE_SUSPENDED + 1), out), -1);
	assert_int_equal(preamble_refuse(&p, (enum preamble_refusal)-1, out), -1);
	assert_int_equal(out->len, 0);
	buf_free(&out);
}

/* A sender whose TLS the edge cut gets a closing 421 for MAIL in plaintext. */
static void
test_preamble_tls_failed_recently(void **state)
{
	static const char in[] = "EHLO sender.example\r\nMAIL FROM:<a@sender.example>\r\n";
	static const char want[] = "421 4.7.0 " T_NAME " TLS failed on your last attempt, try again later\r\n";
	struct buf *out = buf_new(T_OUT_CAP);
	struct preamble p;
	size_t used;

	(void)state;
	assert_non_null(out);
	preamble_init(&p, SMTP, T_NAME);
	assert_int_equal(p.tls_failed_recently, 0);
	p.tls_failed_recently = 1;
	assert_int_equal(preamble_feed(&p, (const uint8_t *)in, sizeof(in) - 1, &used, out),
			 PREAMBLE_CLOSE);
	assert_int_equal(used, sizeof(in) - 1);
	assert_true(out->len > sizeof(want) - 1);
	assert_memory_equal(out->data + out->len - (sizeof(want) - 1), want, sizeof(want) - 1);
	/* Without the flag: a 451 (never a 5xx: it would bounce), and the session goes on. */
	buf_reset(out);
	preamble_init(&p, SMTP, T_NAME);
	assert_int_equal(preamble_feed(&p, (const uint8_t *)in, sizeof(in) - 1, &used, out),
			 PREAMBLE_MORE);
	assert_non_null(memmem(out->data, out->len, "451 4.7.0", 9));
	buf_free(&out);
}

/* EHLO/HELO state: stored, replaced, and left alone by a refused EHLO. */
static void
test_preamble_helo(void **state)
{
	static const char in[] = "EHLO first.example\r\nHELO second.example\r\nEHLO bad name\r\n"
				 "EHLO " X200 "\r\n";
	struct buf *out = buf_new(T_OUT_CAP);
	struct preamble p;
	size_t used, off = 0;

	(void)state;
	assert_non_null(out);
	preamble_init(&p, SMTP, T_NAME);
	assert_string_equal(p.helo, "");
	assert_int_equal(p.greeted, 0);

	/* Handed one line at a time, to look at the state after each. */
	assert_int_equal(preamble_feed(&p, (const uint8_t *)in, 20, &used, out), PREAMBLE_MORE);
	assert_int_equal(used, 20);
	off += used;
	assert_string_equal(p.helo, "first.example");
	assert_int_equal(p.greeted, 1);
	assert_int_equal(p.esmtp, 1);

	assert_int_equal(preamble_feed(&p, (const uint8_t *)in + off, 21, &used, out), PREAMBLE_MORE);
	assert_int_equal(used, 21);
	off += used;
	assert_string_equal(p.helo, "second.example");
	assert_int_equal(p.esmtp, 0);

	assert_int_equal(preamble_feed(&p, (const uint8_t *)in + off, 15, &used, out), PREAMBLE_MORE);
	assert_int_equal(used, 15);
	off += used;
	assert_string_equal(p.helo, "second.example");
	assert_int_equal(p.greeted, 1);
	assert_int_equal(p.esmtp, 0);
	assert_int_equal(p.errors, 1);

	assert_int_equal(preamble_feed(&p, (const uint8_t *)in + off, sizeof(in) - 1 - off, &used, out),
			 PREAMBLE_MORE);
	assert_int_equal(used, sizeof(in) - 1 - off);
	assert_string_equal(p.helo, X200);
	assert_int_equal(p.esmtp, 1);
	assert_int_equal(p.commands, 4);
	assert_int_equal(p.errors, 1);
	buf_free(&out);
}

/*
 * Backpressure: with room for only a few replies, ten pipelined NOOPs are
 * answered over several calls, each taking only the lines it answered.
 */
static void
test_preamble_backpressure(void **state)
{
	static const char in[] = NOOP5 NOOP5;
	static struct t_run r;
	struct buf *out = buf_new(PREAMBLE_REPLY_MAX + 40);
	struct preamble p;
	size_t used;

	(void)state;
	assert_non_null(out);
	preamble_init(&p, SMTP, T_NAME);
	/* 552, 538 and 524 bytes of room take a line; 510 does not. */
	assert_int_equal(preamble_feed(&p, (const uint8_t *)in, sizeof(in) - 1, &used, out), PREAMBLE_MORE);
	assert_int_equal(used, 3 * strlen("NOOP\r\n"));
	assert_int_equal(out->len, 3 * strlen(OK));
	/* Not drained: nothing more is taken, nothing written. */
	assert_int_equal(preamble_feed(&p, (const uint8_t *)in + used, sizeof(in) - 1 - used, &used, out),
			 PREAMBLE_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(out->len, 3 * strlen(OK));
	assert_int_equal(p.commands, 3);
	buf_free(&out);

	/* The whole session, as a caller runs it. */
	t_session(SMTP, T_NAME, in, sizeof(in) - 1, T_WHOLE, PREAMBLE_REPLY_MAX + 40, &r);
	assert_int_equal(r.status, PREAMBLE_MORE);
	assert_int_equal(r.gotlen, strlen(OK5 OK5));
	assert_memory_equal(r.got, OK5 OK5, r.gotlen);
	/* 3 + 3 + 3 + 1 lines, then one call that finds nothing left. */
	assert_int_equal(r.calls, 5);

	/* And an output buffer of exactly PREAMBLE_REPLY_MAX: one line per call. */
	t_session(IMAP, T_NAME, S(INOOP5), T_WHOLE, PREAMBLE_REPLY_MAX, &r);
	assert_int_equal(r.gotlen, strlen(IOK5));
	assert_memory_equal(r.got, IOK5, r.gotlen);
	assert_int_equal(r.calls, 6);
}

/* An unterminated line is refused as soon as it reaches PREAMBLE_LINE_MAX bytes. */
static void
test_preamble_line_cap(void **state)
{
	static uint8_t in[PREAMBLE_LINE_MAX + 1];
	struct buf *out = buf_new(T_OUT_CAP);
	struct preamble p;
	size_t used;

	(void)state;
	assert_non_null(out);
	memset(in, 'x', sizeof(in));
	for (int proto = SMTP; proto <= IMAP; proto++) {
		preamble_init(&p, proto, T_NAME);
		assert_int_equal(preamble_feed(&p, in, PREAMBLE_LINE_MAX - 1, &used, out), PREAMBLE_MORE);
		assert_int_equal(used, 0);
		assert_int_equal(out->len, 0);
		assert_int_equal(preamble_feed(&p, in, PREAMBLE_LINE_MAX, &used, out), PREAMBLE_CLOSE);
		assert_int_equal(used, PREAMBLE_LINE_MAX);
		assert_true(out->len > 0);
		buf_reset(out);
	}
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preamble_smtp),
		cmocka_unit_test(test_preamble_imap),
		cmocka_unit_test(test_preamble_long_name),
		cmocka_unit_test(test_preamble_overlong_name),
		cmocka_unit_test(test_preamble_replies),
		cmocka_unit_test(test_preamble_refuse_unknown),
		cmocka_unit_test(test_preamble_helo),
		cmocka_unit_test(test_preamble_tls_failed_recently),
		cmocka_unit_test(test_preamble_backpressure),
		cmocka_unit_test(test_preamble_line_cap),
	};
	return cmocka_run_group_tests_name("preamble", tests, NULL, NULL);
}
