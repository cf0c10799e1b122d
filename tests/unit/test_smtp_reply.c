/*
 * Unit tests for home/smtp_reply: SMTP replies as the client receives
 * them. A table of replies, each fed whole and as every prefix (each from
 * a heap copy of exactly that length, into a result full of garbage): a
 * good reply needs more until its last byte is in, then gives its length
 * and every field of the result; a bad one needs more until the byte that
 * shows it is in, then is refused with the exact text, and stays refused.
 * Then the limits at and one past each (line length, line count, text
 * kept), SIZE's number at the edges of 64 bits, and the escaping of bytes
 * that must never reach a log or a DSN.
 *
 * The Postfix replies are written from Postfix 3.7's formats as I know
 * them (not captured from a running Postfix): its banner, its EHLO list
 * with message_size_limit's default of 10240000, the 250 after DATA and
 * the 550 of local_recipient_maps. The Gmail 550 is written likewise from
 * its well-known four-line form, with a made-up queue id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* Both, to show the parsed reply and the server's struct smtp_reply live side by side. */
#include "../../home/home.h"
#include "../../home/smtp_reply.h"

/* A byte string and its length, NULs included. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1
/* A case that never decides: every prefix needs more. */
#define T_NEVER SIZE_MAX
#define T_GARBAGE 0xa5

#define E_CODE "bad reply code"
#define E_DIFFERS "reply code differs between lines"
#define E_SEP "bad separator after reply code"
#define E_LINES "too many reply lines"
#define E_LONG "reply line too long"

#define STARTTLS SMTP_EXT_STARTTLS
#define PIPELINING SMTP_EXT_PIPELINING
#define SIZE SMTP_EXT_SIZE
#define EIGHTBIT SMTP_EXT_8BITMIME
#define SMTPUTF8 SMTP_EXT_SMTPUTF8
#define ENHANCED SMTP_EXT_ENHANCEDSTATUSCODES
#define CHUNKING SMTP_EXT_CHUNKING
#define DSN SMTP_EXT_DSN

#define T_POSTFIX_BANNER "220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n"
#define T_POSTFIX_EHLO \
	"250-mail.example.test\r\n" \
	"250-PIPELINING\r\n" \
	"250-SIZE 10240000\r\n" \
	"250-VRFY\r\n" \
	"250-ETRN\r\n" \
	"250-STARTTLS\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n" \
	"250-8BITMIME\r\n" \
	"250-DSN\r\n" \
	"250-SMTPUTF8\r\n" \
	"250 CHUNKING\r\n"
#define T_POSTFIX_EHLO_TEXT \
	"250 mail.example.test PIPELINING SIZE 10240000 VRFY ETRN STARTTLS " \
	"ENHANCEDSTATUSCODES 8BITMIME DSN SMTPUTF8 CHUNKING"
#define T_POSTFIX_550 \
	"550 5.1.1 <nobody@example.test>: Recipient address rejected: " \
	"User unknown in local recipient table\r\n"
#define T_POSTFIX_QUEUED "250 2.0.0 Ok: queued as 4T9kqL0cW2z3xyz\r\n"
#define T_GMAIL_550 \
	"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n" \
	"550-5.1.1 double-checking the recipient's email address for typos or\r\n" \
	"550-5.1.1 unnecessary spaces. For more information, go to\r\n" \
	"550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1b2c3d4e5f6-0123.45 - gsmtp\r\n"
#define T_GMAIL_550_TEXT \
	"550 5.1.1 The email account that you tried to reach does not exist. Please try " \
	"5.1.1 double-checking the recipient's email address for typos or " \
	"5.1.1 unnecessary spaces. For more information, go to " \
	"5.1.1  https://support.google.com/mail/?p=NoSuchUser a1b2c3d4e5f6-0123.45 - gsmtp"

struct t_case {
	const uint8_t *in;
	size_t len;
	size_t at;		/* prefixes shorter than this need more; from here on, rc */
	int rc;			/* the reply's length, or -1 */
	const char *err;	/* when -1 */
	int code;
	const char *status;
	const char *text;
	unsigned nlines;
	unsigned ext;
	uint64_t size_max;
};

/* A good reply of n bytes, whole or with more after it. */
#define GOOD(n) (n), (n), NULL
/* A reply refused once k bytes are in. */
#define BAD(k, e) (k), -1, (e), 0, NULL, NULL, 0, 0, 0
/* A reply that needs more however it is cut. */
#define MORE T_NEVER, 0, NULL, 0, NULL, NULL, 0, 0, 0

static const struct t_case t_cases[] = {
	/* Postfix. */
	{ B(T_POSTFIX_BANNER), GOOD(50), 220, "", "220 mail.example.test ESMTP Postfix (Debian/GNU)", 1,
	  0, 0 },
	{ B(T_POSTFIX_EHLO), GOOD(168), 250, "", T_POSTFIX_EHLO_TEXT, 11,
	  PIPELINING | SIZE | STARTTLS | ENHANCED | EIGHTBIT | DSN | SMTPUTF8 | CHUNKING, 10240000 },
	{ B(T_POSTFIX_550), GOOD(100), 550, "5.1.1",
	  "550 5.1.1 <nobody@example.test>: Recipient address rejected: "
	  "User unknown in local recipient table", 1, 0, 0 },
	{ B(T_POSTFIX_QUEUED), GOOD(41), 250, "2.0.0", "250 2.0.0 Ok: queued as 4T9kqL0cW2z3xyz", 1, 0, 0 },
	{ B("354 End data with <CR><LF>.<CR><LF>\r\n"), GOOD(37), 354, "",
	  "354 End data with <CR><LF>.<CR><LF>", 1, 0, 0 },
	{ B("221 2.0.0 Bye\r\n"), GOOD(15), 221, "2.0.0", "221 2.0.0 Bye", 1, 0, 0 },
	/* A multiline 550, its status from the first line. */
	{ B(T_GMAIL_550), GOOD(296), 550, "5.1.1", T_GMAIL_550_TEXT, 4, 0, 0 },
	/* What follows belongs to the next reply (pipelining answers, or a server that talks early). */
	{ B("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End\r\n"), GOOD(14), 250, "2.1.0", "250 2.1.0 Ok", 1, 0, 0 },
	{ B("221 2.0.0 Bye\r\nxyz"), GOOD(15), 221, "2.0.0", "221 2.0.0 Bye", 1, 0, 0 },
	{ B("250-a\r\n250 b\r\n599 c\r\n"), GOOD(14), 250, "", "250 a b", 2, 0, 0 },
	{ B("250 a\r\n\x01\x02"), GOOD(7), 250, "", "250 a", 1, 0, 0 },
	/* Bare LF line ends, alone and mixed with CRLF. */
	{ B("250-mx.example.test\n250-SIZE 52428800\n250 8BITMIME\n"), GOOD(51), 250, "",
	  "250 mx.example.test SIZE 52428800 8BITMIME", 3, SIZE | EIGHTBIT, 52428800 },
	{ B("250-a\r\n250-b\n250 c\r\n"), GOOD(20), 250, "", "250 a b c", 3, 0, 0 },
	{ B("451 4.3.0 Try again\n"), GOOD(20), 451, "4.3.0", "451 4.3.0 Try again", 1, 0, 0 },
	/* No text, or empty text: only the code. */
	{ B("250\r\n"), GOOD(5), 250, "", "250", 1, 0, 0 },
	{ B("250\n"), GOOD(4), 250, "", "250", 1, 0, 0 },
	{ B("250 \r\n"), GOOD(6), 250, "", "250", 1, 0, 0 },
	{ B("250-\r\n250 OK\r\n"), GOOD(14), 250, "", "250 OK", 2, 0, 0 },
	{ B("250-\r\n250-\r\n250\r\n"), GOOD(17), 250, "", "250", 3, 0, 0 },
	{ B("250-x\r\n250\n"), GOOD(11), 250, "", "250 x", 2, 0, 0 },
	/* Text kept as sent, spaces included. */
	{ B("250  two  spaces \r\n"), GOOD(19), 250, "", "250  two  spaces ", 1, 0, 0 },
	/* Codes at the ends of the ranges. */
	{ B("200 a\r\n"), GOOD(7), 200, "", "200 a", 1, 0, 0 },
	{ B("559 a\r\n"), GOOD(7), 559, "", "559 a", 1, 0, 0 },
	{ B("259 a\r\n"), GOOD(7), 259, "", "259 a", 1, 0, 0 },
	{ B("305 a\r\n"), GOOD(7), 305, "", "305 a", 1, 0, 0 },

	/* Enhanced status codes: only as the first line's first word, of the code's class. */
	{ B("550 5.7.1\r\n"), GOOD(11), 550, "5.7.1", "550 5.7.1", 1, 0, 0 },
	{ B("550 5.7.1\n"), GOOD(10), 550, "5.7.1", "550 5.7.1", 1, 0, 0 },
	{ B("550 5.123.456 x\r\n"), GOOD(17), 550, "5.123.456", "550 5.123.456 x", 1, 0, 0 },
	{ B("550 5.0.00 x\r\n"), GOOD(14), 550, "5.0.00", "550 5.0.00 x", 1, 0, 0 },
	{ B("450 4.2.0 x\r\n"), GOOD(13), 450, "4.2.0", "450 4.2.0 x", 1, 0, 0 },
	{ B("421-4.7.0 a\r\n421 4.7.0 b\r\n"), GOOD(26), 421, "4.7.0", "421 4.7.0 a 4.7.0 b", 2, 0, 0 },
	{ B("550-x\r\n550 5.1.1 y\r\n"), GOOD(20), 550, "", "550 x 5.1.1 y", 2, 0, 0 },
	{ B("550 4.7.1 x\r\n"), GOOD(13), 550, "", "550 4.7.1 x", 1, 0, 0 },
	{ B("250 5.0.0 x\r\n"), GOOD(13), 250, "", "250 5.0.0 x", 1, 0, 0 },
	{ B("354 3.0.0 x\r\n"), GOOD(13), 354, "", "354 3.0.0 x", 1, 0, 0 },
	{ B("550 5.1.1: x\r\n"), GOOD(14), 550, "", "550 5.1.1: x", 1, 0, 0 },
	{ B("550 5.1.1\tx\r\n"), GOOD(13), 550, "", "550 5.1.1?x", 1, 0, 0 },
	{ B("550 5.1234.1 x\r\n"), GOOD(16), 550, "", "550 5.1234.1 x", 1, 0, 0 },
	{ B("550 5.1.1234 x\r\n"), GOOD(16), 550, "", "550 5.1.1234 x", 1, 0, 0 },
	{ B("550 5..1 x\r\n"), GOOD(12), 550, "", "550 5..1 x", 1, 0, 0 },
	{ B("550 5.1. x\r\n"), GOOD(12), 550, "", "550 5.1. x", 1, 0, 0 },
	{ B("550 5.1\r\n"), GOOD(9), 550, "", "550 5.1", 1, 0, 0 },
	{ B("550 5.1.x\r\n"), GOOD(11), 550, "", "550 5.1.x", 1, 0, 0 },
	{ B("550 55.1.1 x\r\n"), GOOD(14), 550, "", "550 55.1.1 x", 1, 0, 0 },
	{ B("550  5.1.1 x\r\n"), GOOD(14), 550, "", "550  5.1.1 x", 1, 0, 0 },
	{ B("550-5.1.1\r\n550 x\r\n"), GOOD(18), 550, "5.1.1", "550 5.1.1 x", 2, 0, 0 },

	/* Bytes outside printable ASCII, NUL and bare CR included, are '?' in the text. */
	{ B("550 caf\xc3\xa9 \x01\x7f\t~ done\r\n"), GOOD(21), 550, "", "550 caf?? ???~ done", 1, 0, 0 },
	{ B("550 a\0b\r\n"), GOOD(9), 550, "", "550 a?b", 1, 0, 0 },
	{ B("550 a\rb\r\n"), GOOD(9), 550, "", "550 a?b", 1, 0, 0 },
	{ B("550 a\r\r\n"), GOOD(8), 550, "", "550 a?", 1, 0, 0 },
	{ B("550-\0\r\n550 \x1b[31m\r\n"), GOOD(18), 550, "", "550 ? ?[31m", 2, 0, 0 },
	{ B("250-x\r\n250 \xff\xfe\r\n"), GOOD(15), 250, "", "250 x ??", 2, 0, 0 },

	/* EHLO keywords: lines 2.., case ignored, unknown ones and parameters skipped. */
	{ B("250 STARTTLS\r\n"), GOOD(14), 250, "", "250 STARTTLS", 1, 0, 0 },
	{ B("250-x\r\n250-starttls\r\n250-Pipelining\r\n250 dsn\r\n"), GOOD(46), 250, "",
	  "250 x starttls Pipelining dsn", 4, STARTTLS | PIPELINING | DSN, 0 },
	{ B("250-x\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN\r\n250-X-EXPS GSSAPI\r\n250 HELP\r\n"),
	  GOOD(74), 250, "", "250 x AUTH PLAIN LOGIN AUTH=PLAIN X-EXPS GSSAPI HELP", 5, 0, 0 },
	{ B("250-x\r\n250-STARTTLSX\r\n250-SIZES 10\r\n250-SIZE=10\r\n250 8BIT\r\n"), GOOD(59), 250,
	  "", "250 x STARTTLSX SIZES 10 SIZE=10 8BIT", 5, 0, 0 },
	{ B("250-x\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"), GOOD(60), 250,
	  "", "250 x ENHANCEDSTATUSCODES CHUNKING SMTPUTF8", 4, ENHANCED | CHUNKING | SMTPUTF8, 0 },
	{ B("250-x\r\n250-STARTTLS extra words\r\n250 DSN\r\n"), GOOD(42), 250, "",
	  "250 x STARTTLS extra words DSN", 3, STARTTLS | DSN, 0 },
	/* SIZE's number. */
	{ B("250-x\r\n250 SIZE\r\n"), GOOD(17), 250, "", "250 x SIZE", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE \r\n"), GOOD(18), 250, "", "250 x SIZE ", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 0\r\n"), GOOD(19), 250, "", "250 x SIZE 0", 2, SIZE, 0 },
	{ B("250-x\r\n250 size 35882577\r\n"), GOOD(26), 250, "", "250 x size 35882577", 2, SIZE,
	  35882577 },
	{ B("250-x\r\n250 SIZE  100 more\r\n"), GOOD(27), 250, "", "250 x SIZE  100 more", 2, SIZE,
	  100 },
	{ B("250-x\r\n250 SIZE 18446744073709551615\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 18446744073709551615", 2, SIZE, UINT64_MAX },
	{ B("250-x\r\n250 SIZE 18446744073709551616\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 18446744073709551616", 2, SIZE, 0 },
	/* One and four past the largest: a careless overflow check wraps these to 1 and 4. */
	{ B("250-x\r\n250 SIZE 18446744073709551617\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 18446744073709551617", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 18446744073709551619\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 18446744073709551619", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 18446744073709551614\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 18446744073709551614", 2, SIZE, UINT64_MAX - 1 },
	{ B("250-x\r\n250 SIZE 99999999999999999999\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 99999999999999999999", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 00000000000000000001\r\n"), GOOD(38), 250, "",
	  "250 x SIZE 00000000000000000001", 2, SIZE, 1 },
	{ B("250-x\r\n250 SIZE 000000000000000000001\r\n"), GOOD(39), 250, "",
	  "250 x SIZE 000000000000000000001", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 12a\r\n"), GOOD(21), 250, "", "250 x SIZE 12a", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE -1\r\n"), GOOD(20), 250, "", "250 x SIZE -1", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE +1\r\n"), GOOD(20), 250, "", "250 x SIZE +1", 2, SIZE, 0 },
	{ B("250-x\r\n250 SIZE 1\x00" "2\r\n"), GOOD(21), 250, "", "250 x SIZE 1?2", 2, SIZE, 0 },
	/* The last SIZE line counts. */
	{ B("250-x\r\n250-SIZE 100\r\n250 SIZE 200\r\n"), GOOD(35), 250, "",
	  "250 x SIZE 100 SIZE 200", 3, SIZE, 200 },
	{ B("250-x\r\n250-SIZE 100\r\n250 SIZE\r\n"), GOOD(31), 250, "", "250 x SIZE 100 SIZE", 3,
	  SIZE, 0 },

	/* Need more, however cut. */
	{ B(""), MORE },
	{ B("2"), MORE },
	{ B("25"), MORE },
	{ B("250"), MORE },
	{ B("250\r"), MORE },
	{ B("250 ok"), MORE },
	{ B("250 ok\r"), MORE },
	{ B("250-ok\r\n"), MORE },
	{ B("250-ok\n250"), MORE },
	{ B("250-ok\r\n250-more\r\n25"), MORE },

	/* A bad code: refused at its first bad digit. */
	{ B("199 x\r\n"), BAD(1, E_CODE) },
	{ B("600 x\r\n"), BAD(1, E_CODE) },
	{ B("099 x\r\n"), BAD(1, E_CODE) },
	{ B("260 x\r\n"), BAD(2, E_CODE) },
	{ B("290 x\r\n"), BAD(2, E_CODE) },
	{ B("599 x\r\n"), BAD(2, E_CODE) },
	{ B("2a0 x\r\n"), BAD(2, E_CODE) },
	{ B("25x x\r\n"), BAD(3, E_CODE) },
	{ B("25 x\r\n"), BAD(3, E_CODE) },
	{ B("25\r\n"), BAD(3, E_CODE) },
	{ B("2\n"), BAD(2, E_CODE) },
	{ B("\r\n"), BAD(1, E_CODE) },
	{ B("\n"), BAD(1, E_CODE) },
	{ B(" 250 x\r\n"), BAD(1, E_CODE) },
	{ B("\0" "250 x\r\n"), BAD(1, E_CODE) },
	{ B("2500 x\r\n"), BAD(4, E_SEP) },
	/* Not SMTP at all. */
	{ B("HTTP/1.1 400 Bad Request\r\n"), BAD(1, E_CODE) },
	{ B("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), BAD(1, E_CODE) },
	{ B("* OK IMAP4rev1 ready\r\n"), BAD(1, E_CODE) },
	{ B("\x15\x03\x01\x00\x02\x02\x46"), BAD(1, E_CODE) },
	/* A bad separator. */
	{ B("250x\r\n"), BAD(4, E_SEP) },
	{ B("250\tx\r\n"), BAD(4, E_SEP) },
	{ B("250_x\r\n"), BAD(4, E_SEP) },
	{ B("250\0x\r\n"), BAD(4, E_SEP) },
	{ B("250\rx\r\n"), BAD(5, E_SEP) },
	{ B("250\r\r\n"), BAD(5, E_SEP) },
	{ B("250-x\r\n250x\r\n"), BAD(11, E_SEP) },
	{ B("250-x\n250\r250 x\n"), BAD(11, E_SEP) },
	/* A later line with another code, or a bad one: refused at the first digit that differs. */
	{ B("250-x\r\n251 y\r\n"), BAD(10, E_DIFFERS) },
	{ B("250-x\r\n550 y\r\n"), BAD(8, E_DIFFERS) },
	{ B("250-x\r\n240 y\r\n"), BAD(9, E_DIFFERS) },
	{ B("250-x\n251 y\n"), BAD(9, E_DIFFERS) },
	{ B("250-x\r\n250-y\r\n220 z\r\n"), BAD(16, E_DIFFERS) },
	{ B("250-x\r\n\r\n"), BAD(8, E_CODE) },
	{ B("250-x\r\n 250 y\r\n"), BAD(8, E_CODE) },
	{ B("250-x\r\n25\r\n"), BAD(10, E_CODE) },
	{ B("250-x\r\n2a0 y\r\n"), BAD(9, E_CODE) },
	{ B("550-5.1.1 x\r\n550-5.1.1 y\r\n450 4.1.1 z\r\n"), BAD(27, E_DIFFERS) },
};

/* Parse the first n bytes of in from a heap copy of exactly n bytes into a result of garbage. */
static int
t_parse(const uint8_t *in, size_t n, struct smtp_reply_parsed *r, const char **err)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, in, n);
	memset(r, T_GARBAGE, sizeof(*r));
	*err = NULL;
	rc = smtp_reply_parse(copy, n, r, err);
	free(copy);
	return rc;
}

/* What holds for any result: strings terminated, text printable, the zeroed result when not > 0. */
static void
t_sane(const struct smtp_reply_parsed *r, int rc)
{
	static const struct smtp_reply_parsed zero;
	size_t n = strnlen(r->text, sizeof(r->text));

	if (rc <= 0) {
		assert_memory_equal(r, &zero, sizeof(*r));
		return;
	}
	assert_true(n < sizeof(r->text));
	assert_true(strnlen(r->status, sizeof(r->status)) < sizeof(r->status));
	for (size_t i = 0; i < n; i++)
		assert_true(r->text[i] >= 0x20 && r->text[i] <= 0x7e);
	assert_true(r->code >= 200 && r->code <= 599);
	assert_true(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX);
}

static void
t_check(size_t i, size_t k, const struct t_case *c, const struct smtp_reply_parsed *r)
{
	if (r->code != c->code)
		fail_msg("case %zu, %zu bytes: code %d, want %d", i, k, r->code, c->code);
	if (strcmp(r->status, c->status) != 0)
		fail_msg("case %zu: status '%s', want '%s'", i, r->status, c->status);
	if (strcmp(r->text, c->text) != 0)
		fail_msg("case %zu: text '%s', want '%s'", i, r->text, c->text);
	if (r->nlines != c->nlines)
		fail_msg("case %zu: %u lines, want %u", i, r->nlines, c->nlines);
	if (r->ext != c->ext)
		fail_msg("case %zu: ext 0x%x, want 0x%x", i, r->ext, c->ext);
	if (r->size_max != c->size_max)
		fail_msg("case %zu: size_max %llu, want %llu", i, (unsigned long long)r->size_max,
			 (unsigned long long)c->size_max);
}

static void
test_smtp_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++) {
		const struct t_case *c = &t_cases[i];

		/* Every prefix, the whole input last. */
		for (size_t k = 0; k <= c->len; k++) {
			struct smtp_reply_parsed r;
			const char *err;
			int want = k < c->at ? 0 : c->rc;
			int rc = t_parse(c->in, k, &r, &err);

			if (rc != want)
				fail_msg("case %zu, %zu of %zu bytes: rc %d (%s), want %d", i, k, c->len, rc,
					 rc < 0 ? err : "", want);
			t_sane(&r, rc);
			if (rc < 0 && strcmp(err, c->err) != 0)
				fail_msg("case %zu, %zu bytes: '%s', want '%s'", i, k, err, c->err);
			if (rc > 0)
				t_check(i, k, c, &r);
		}
	}
}

/* The result does not depend on what the caller's result held before. */
static void
test_smtp_reply_result_cleared(void **state)
{
	struct smtp_reply_parsed a, b;
	const char *err = NULL;

	(void)state;
	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(smtp_reply_parse(B(T_POSTFIX_EHLO), &a, &err), 168);
	assert_int_equal(smtp_reply_parse(B(T_POSTFIX_EHLO), &b, &err), 168);
	/* Bytes after the NUL of text and status are not part of the result; compare fields. */
	assert_int_equal(a.code, b.code);
	assert_string_equal(a.status, b.status);
	assert_string_equal(a.text, b.text);
	assert_int_equal(a.nlines, b.nlines);
	assert_int_equal(a.ext, b.ext);
	assert_true(a.size_max == b.size_max);
	/* An EHLO reply followed by a refusal: two replies, one after the other. */
	{
		static const uint8_t two[] = "250-a\r\n250 SIZE 5\r\n550 5.7.1 no\r\n";
		int n = smtp_reply_parse(two, sizeof(two) - 1, &a, &err);

		assert_int_equal(n, 19);
		assert_int_equal(a.size_max, 5);
		assert_int_equal(smtp_reply_parse(two + n, sizeof(two) - 1 - (size_t)n, &a, &err), 14);
		assert_int_equal(a.code, 550);
		assert_string_equal(a.status, "5.7.1");
		assert_int_equal(a.ext, 0);
		assert_true(a.size_max == 0);
	}
}

/* ---- limits -------------------------------------------------------------- */

/* Append "DDD" sep, n copies of fill, then the line end to out at *len. */
static void
t_line(uint8_t *out, size_t cap, size_t *len, const char *code_sep, size_t n, char fill,
       const char *end)
{
	size_t a = strlen(code_sep), e = strlen(end);

	assert_true(*len + a + n + e <= cap);
	memcpy(out + *len, code_sep, a);
	memset(out + *len + a, fill, n);
	memcpy(out + *len + a + n, end, e);
	*len += a + n + e;
}

/* Every prefix of in[0..len) needs more below at, and gives rc (and err) from there on. */
static void
t_prefixes(const uint8_t *in, size_t len, size_t at, int rc, const char *err_want)
{
	for (size_t k = 0; k <= len; k++) {
		struct smtp_reply_parsed r;
		const char *err = NULL;
		int want = k < at ? 0 : rc;
		int got = smtp_reply_parse(in, k, &r, &err);

		if (got != want)
			fail_msg("%zu of %zu bytes: rc %d, want %d", k, len, got, want);
		if (got < 0 && strcmp(err, err_want) != 0)
			fail_msg("%zu bytes: '%s', want '%s'", k, err, err_want);
	}
}

/* A line of SMTP_REPLY_LINE_MAX bytes with its CRLF or LF passes; one byte more never does. */
static void
test_smtp_reply_line_max(void **state)
{
	static uint8_t buf[3 * SMTP_REPLY_LINE_MAX];
	struct smtp_reply_parsed r;
	const char *err;
	size_t len;

	(void)state;
	/* "250 " + text + CRLF. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 6, 'x', "\r\n");
	assert_int_equal(len, SMTP_REPLY_LINE_MAX);
	t_prefixes(buf, len, len, (int)len, NULL);
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), SMTP_REPLY_LINE_MAX);
	/* The text is cut, and says so. */
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_memory_equal(r.text, "250 xxx", 7);
	assert_string_equal(r.text + SMTP_REPLY_TEXT_MAX - 5, "x...");

	/* With a bare LF. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 5, 'x', "\n");
	t_prefixes(buf, len, len, (int)len, NULL);

	/* One more: the CR is the line's last allowed byte, and the LF does not come in time. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 5, 'x', "\r\n");
	t_prefixes(buf, len, SMTP_REPLY_LINE_MAX, -1, E_LONG);
	len = 0;
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 4, 'x', "\n");
	t_prefixes(buf, len, SMTP_REPLY_LINE_MAX, -1, E_LONG);
	/* No line end at all: refused when the line's maximum is in. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250-", 2 * SMTP_REPLY_LINE_MAX, 'x', "");
	t_prefixes(buf, len, SMTP_REPLY_LINE_MAX, -1, E_LONG);

	/* On a later line: counted from that line's start. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250-", 1, 'a', "\r\n");
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 6, 'y', "\r\n");
	t_prefixes(buf, len, len, (int)len, NULL);
	len = 0;
	t_line(buf, sizeof(buf), &len, "250-", 1, 'a', "\r\n");
	t_line(buf, sizeof(buf), &len, "250 ", SMTP_REPLY_LINE_MAX - 5, 'y', "\r\n");
	t_prefixes(buf, len, 7 + SMTP_REPLY_LINE_MAX, -1, E_LONG);
}

/* SMTP_REPLY_LINES_MAX lines pass; a line of that number with '-' is refused at the '-'. */
static void
test_smtp_reply_lines_max(void **state)
{
	static uint8_t buf[(SMTP_REPLY_LINES_MAX + 2) * 16];
	struct smtp_reply_parsed r;
	const char *err;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		t_line(buf, sizeof(buf), &len, "250-", 1, 'k', "\r\n");
	t_line(buf, sizeof(buf), &len, "250 ", 1, 'k', "\r\n");
	assert_int_equal(len, 7 * SMTP_REPLY_LINES_MAX);
	t_prefixes(buf, len, len, (int)len, NULL);
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	/* "250 k" and 199 times " k": 5 + 398 characters, not cut. */
	assert_int_equal(strlen(r.text), 5 + 2 * (SMTP_REPLY_LINES_MAX - 1));

	len = 0;
	for (size_t i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		t_line(buf, sizeof(buf), &len, "250-", 1, 'k', "\r\n");
	t_line(buf, sizeof(buf), &len, "250 ", 1, 'k', "\r\n");
	t_prefixes(buf, len, 7 * (SMTP_REPLY_LINES_MAX - 1) + 4, -1, E_LINES);
}

/* The largest reply there is: every line at its maximum. */
static void
test_smtp_reply_largest(void **state)
{
	size_t cap = (size_t)SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX, len = 0;
	uint8_t *buf = malloc(cap);
	struct smtp_reply_parsed r;
	const char *err;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		t_line(buf, cap, &len, "250-", SMTP_REPLY_LINE_MAX - 6, 'z', "\r\n");
	t_line(buf, cap, &len, "250 ", SMTP_REPLY_LINE_MAX - 6, 'z', "\r\n");
	assert_int_equal(len, cap);
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)cap);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_string_equal(r.text + SMTP_REPLY_TEXT_MAX - 4, "...");
	assert_int_equal(smtp_reply_parse(buf, len - 1, &r, &err), 0);
	assert_int_equal(smtp_reply_parse(buf, len - SMTP_REPLY_LINE_MAX, &r, &err), 0);
	free(buf);
}

/* Text of SMTP_REPLY_TEXT_MAX - 1 characters is kept whole; one more is cut to end in "...". */
static void
test_smtp_reply_text_cut(void **state)
{
	static uint8_t buf[4 * SMTP_REPLY_TEXT_MAX];
	char want[SMTP_REPLY_TEXT_MAX];
	struct smtp_reply_parsed r;
	const char *err;
	size_t len = 0, keep = SMTP_REPLY_TEXT_MAX - 1;

	(void)state;
	/* "250 " and 1019 characters: 1023. */
	t_line(buf, sizeof(buf), &len, "250 ", keep - 4, 'a', "\r\n");
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	assert_int_equal(strlen(r.text), keep);
	assert_memory_equal(r.text, buf, keep);

	/* One more: the first 1020 characters, then "...". */
	len = 0;
	t_line(buf, sizeof(buf), &len, "250 ", keep - 3, 'a', "\r\n");
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	memcpy(want, buf, keep - 3);
	memcpy(want + keep - 3, "...", 4);
	assert_string_equal(r.text, want);

	/* Over several lines, the cut just after a joining space; escaped bytes count one each. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "550-", 500, '\x01', "\r\n");
	t_line(buf, sizeof(buf), &len, "550-", 514, 'b', "\r\n");
	t_line(buf, sizeof(buf), &len, "550 ", 10, 'c', "\r\n");
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	/* "550 " 500 '?' " " 514 'b': 1019 characters; the " " before the c's, then "...". */
	memcpy(want, "550 ", 4);
	memset(want + 4, '?', 500);
	want[504] = ' ';
	memset(want + 505, 'b', 514);
	want[1019] = ' ';
	memcpy(want + 1020, "...", 4);
	assert_int_equal(strlen(want), keep);
	assert_string_equal(r.text, want);
	assert_int_equal(r.nlines, 3);

	/* Exactly full over two lines: not cut. */
	len = 0;
	t_line(buf, sizeof(buf), &len, "550-", 500, 'a', "\r\n");
	t_line(buf, sizeof(buf), &len, "550 ", keep - 505, 'b', "\r\n");
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	assert_int_equal(strlen(r.text), keep);
	assert_int_equal(r.text[keep - 1], 'b');
}

/* Every byte value but LF in a line's text: printable ASCII as itself, the rest as '?'. */
static void
test_smtp_reply_escape_all(void **state)
{
	uint8_t buf[4 + 256 + 2];
	struct smtp_reply_parsed r;
	const char *err;
	size_t len = 0, n = 0;

	(void)state;
	memcpy(buf, "550 ", 4);
	len = 4;
	for (unsigned b = 0; b < 256; b++) {
		if (b != '\n')
			buf[len++] = (uint8_t)b;
	}
	/* The CR of 0x0d is followed by 0x0e: text, not a line end. */
	memcpy(buf + len, "\r\n", 2);
	len += 2;
	assert_int_equal(smtp_reply_parse(buf, len, &r, &err), (int)len);
	assert_memory_equal(r.text, "550 ", 4);
	for (unsigned b = 0; b < 256; b++) {
		char want;

		if (b == '\n')
			continue;
		want = b >= 0x20 && b <= 0x7e ? (char)b : '?';
		if (r.text[4 + n] != want)
			fail_msg("byte 0x%02x: '%c', want '%c'", b, r.text[4 + n], want);
		n++;
	}
	assert_int_equal(strlen(r.text), 4 + 255);
}

/* Every code 200..599 with a second digit 0..5 parses; every other three digits do not. */
static void
test_smtp_reply_codes(void **state)
{
	(void)state;
	for (int code = 0; code <= 999; code++) {
		uint8_t line[6];
		struct smtp_reply_parsed r;
		const char *err = NULL;
		int ok = code >= 200 && code <= 599 && code / 10 % 10 <= 5;
		int rc;

		line[0] = (uint8_t)('0' + code / 100);
		line[1] = (uint8_t)('0' + code / 10 % 10);
		line[2] = (uint8_t)('0' + code % 10);
		memcpy(line + 3, " x\n", 3);
		rc = smtp_reply_parse(line, 6, &r, &err);
		if (ok ? rc != 6 || r.code != code : rc != -1 || strcmp(err, E_CODE) != 0)
			fail_msg("code %03d: rc %d", code, rc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_reply_table),
		cmocka_unit_test(test_smtp_reply_result_cleared),
		cmocka_unit_test(test_smtp_reply_line_max),
		cmocka_unit_test(test_smtp_reply_lines_max),
		cmocka_unit_test(test_smtp_reply_largest),
		cmocka_unit_test(test_smtp_reply_text_cut),
		cmocka_unit_test(test_smtp_reply_escape_all),
		cmocka_unit_test(test_smtp_reply_codes),
	};
	return cmocka_run_group_tests_name("smtp_reply", tests, NULL, NULL);
}
