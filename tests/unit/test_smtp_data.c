/*
 * Unit tests for home/smtp_data: messages after DATA as data (these bytes
 * in, exactly this message, this status, these bytes left for the next
 * command and these flags out), each fed whole, one byte at a time and
 * split in two at every position, into output buffers of exactly the
 * input's size with a guard behind them. The smuggling vectors, where only
 * CRLF "." CRLF may end a message and what follows a false end must stay in
 * the (bad) message; dot-unstuffing; line lengths around the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/home.h"

/* A string literal as (bytes, length): it may hold a NUL. */
#define S(x) x, sizeof(x) - 1

#define T_LF 0x01	/* bare_lf */
#define T_CR 0x02	/* bare_cr */
#define T_NUL 0x04	/* nul */
#define T_LONG 0x08	/* too_long */

#define END SMTP_DATA_END
#define MORE SMTP_DATA_MORE

#define T_GUARD 16		/* bytes after each output buffer that must stay untouched */
#define T_GUARD_BYTE 0xa5
#define T_OUT_MAX 8192		/* the longest decoded message here */
#define T_LONG_LINE 999		/* one over the longest line's text */

#define SMUGGLED "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@local.test>\r\nDATA\r\n" \
	"From: ceo@local.test\r\n\r\nwire the money\r\n"

struct t_data {
	const char *what;
	const char *in;
	size_t inlen;
	const char *out;	/* the message as decoded */
	size_t outlen;
	int status;		/* enum smtp_data_status at the end of the input */
	size_t rest;		/* input bytes after the end, not taken */
	unsigned flags;		/* T_* */
};

static const struct t_data t_cases[] = {
	/* Good messages. */
	{ "an empty message", S(".\r\n"), S(""), END, 0, 0 },
	{ "an empty line only", S("\r\n.\r\n"), S("\r\n"), END, 0, 0 },
	{ "a simple message", S("Subject: hi\r\n\r\nbody\r\n.\r\n"), S("Subject: hi\r\n\r\nbody\r\n"),
	  END, 0, 0 },
	{ "commands pipelined after the end", S("a\r\n.\r\nQUIT\r\n"), S("a\r\n"), END, 6, 0 },
	{ "a second end is the next command's", S("a\r\n.\r\n.\r\n"), S("a\r\n"), END, 3, 0 },
	{ "8-bit bytes pass", S("\xff\xfe\x80\r\n.\r\n"), S("\xff\xfe\x80\r\n"), END, 0, 0 },
	{ "no input", S(""), S(""), MORE, 0, 0 },
	{ "no end yet", S("a\r\nb"), S("a\r\nb"), MORE, 0, 0 },
	{ "no end yet: a CR pending", S("a\r\nb\r"), S("a\r\nb\r"), MORE, 0, 0 },
	{ "no end yet: a dot pending", S("a\r\n."), S("a\r\n"), MORE, 0, 0 },
	{ "no end yet: dot CR pending", S("a\r\n.\r"), S("a\r\n"), MORE, 0, 0 },

	/* Dot-unstuffing (RFC 5321 4.5.2). */
	{ "a line of two dots", S("a\r\n..\r\n.\r\n"), S("a\r\n.\r\n"), END, 0, 0 },
	{ "the first line is two dots", S("..\r\n.\r\n"), S(".\r\n"), END, 0, 0 },
	{ "three dots lose one", S("...\r\n.\r\n"), S("..\r\n"), END, 0, 0 },
	{ "a dot and text", S(".x\r\n..y\r\n. \r\n.\r\n"), S("x\r\n.y\r\n \r\n"), END, 0, 0 },
	{ "dots mid-line untouched", S("a.b\r\na.\r\na..\r\n.\r\n"), S("a.b\r\na.\r\na..\r\n"), END, 0, 0 },
	{ "a dot line then the end", S("x\r\n..\r\n..\r\n.\r\n"), S("x\r\n.\r\n.\r\n"), END, 0, 0 },

	/* Smuggling: only CRLF "." CRLF ends; what follows a false end stays in the bad message. */
	{ "<LF>.<LF>", S("hi\n.\n" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\n.\n" SMUGGLED), END, 6, T_LF },
	{ "<LF>.<CR><LF>", S("hi\n.\r\n" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\n.\r\n" SMUGGLED), END, 6, T_LF },
	{ "<CR>.<CR>", S("hi\r.\r" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\r.\r" SMUGGLED), END, 6, T_CR },
	{ "<CR><LF>.<LF>", S("hi\r\n.\n" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\r\n\n" SMUGGLED), END, 6, T_LF },
	{ "<CR><LF>.<CR>", S("hi\r\n.\r" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\r\n" SMUGGLED), END, 6, T_CR },
	{ "<CR>.<CR><LF>", S("hi\r.\r\n" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\r.\r\n" SMUGGLED), END, 6, T_CR },
	{ "<LF>.<CR>", S("hi\n.\r" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\n.\r" SMUGGLED), END, 6, T_LF | T_CR },
	{ "<CR><LF>.<CR><CR><LF>", S("hi\r\n.\r\r\n" SMUGGLED ".\r\nQUIT\r\n"),
	  S("hi\r\n\r\n" SMUGGLED), END, 6, T_CR },
	{ "<LF>.<LF> first", S(".\n" SMUGGLED ".\r\n"), S("\n" SMUGGLED), END, 0, T_LF },
	{ "<LF>.<LF> as the first bytes", S("\n.\n" SMUGGLED ".\r\n"), S("\n.\n" SMUGGLED), END, 0, T_LF },
	{ "<CR>.<CR><LF> first", S("\r.\r\n" SMUGGLED ".\r\n"), S("\r.\r\n" SMUGGLED), END, 0, T_CR },
	{ "a false end and no true one yet", S("hi\n.\n" SMUGGLED), S("hi\n.\n" SMUGGLED), MORE, 0, T_LF },
	{ "bare LF lines", S("a\nb\n.\n\r\n.\r\n"), S("a\nb\n.\n\r\n"), END, 0, T_LF },
	{ "a bare LF mid-line", S("a\nb\r\n.\r\n"), S("a\nb\r\n"), END, 0, T_LF },
	{ "a bare CR mid-line", S("a\rb\r\n.\r\n"), S("a\rb\r\n"), END, 0, T_CR },
	{ "CR CR LF", S("a\r\r\n.\r\n"), S("a\r\r\n"), END, 0, T_CR },
	{ "LF CR LF", S("a\n\r\n.\r\n"), S("a\n\r\n"), END, 0, T_LF },
	{ "a bare LF after the end is not ours", S("a\r\n.\r\n\n"), S("a\r\n"), END, 1, 0 },
	{ "a NUL", S("a\0b\r\n.\r\n"), S("a\0b\r\n"), END, 0, T_NUL },
	{ "a NUL after a stuffed dot", S(".\0\r\n.\r\n"), S("\0\r\n"), END, 0, T_NUL },
	{ "every kind at once", S("\0\r\n\n\r.\r\n.\r\n"), S("\0\r\n\n\r.\r\n"), END, 0,
	  T_NUL | T_LF | T_CR },
};

struct t_result {
	uint8_t out[T_OUT_MAX];
	size_t outlen;
	int status;
	size_t rest;
	unsigned flags;
	unsigned calls;
};

static unsigned
t_flags(const struct smtp_data *d)
{
	return (d->bare_lf ? T_LF : 0) | (d->bare_cr ? T_CR : 0) | (d->nul ? T_NUL : 0) |
	       (d->too_long ? T_LONG : 0);
}

/*
 * Decode in[0..len) as a session does: first a chunk of first bytes, then
 * chunks of step bytes, each into a fresh buffer of exactly the chunk's
 * size with T_GUARD bytes behind it, until the end or the input's end.
 */
static void
t_run(const uint8_t *in, size_t len, size_t first, size_t step, struct t_result *r)
{
	struct smtp_data d;
	enum smtp_data_status st = SMTP_DATA_MORE;
	size_t pos = 0, n = first;

	smtp_data_init(&d);
	assert_int_equal(smtp_data_bad(&d), 0);
	r->outlen = 0;
	r->calls = 0;
	for (;;) {
		uint8_t *out;
		size_t olen = 0, used = 0;

		if (n > len - pos)
			n = len - pos;
		out = malloc(n + T_GUARD);
		assert_non_null(out);
		memset(out, T_GUARD_BYTE, n + T_GUARD);
		st = smtp_data_feed(&d, in + pos, n, out, &olen, &used);
		r->calls++;
		assert_true(st == SMTP_DATA_MORE || st == SMTP_DATA_END);
		/* Never more out than in, nothing written past it. */
		assert_true(used <= n);
		assert_true(olen <= used);
		for (size_t g = n; g < n + T_GUARD; g++)
			assert_int_equal(out[g], T_GUARD_BYTE);
		/* Everything is taken until the end. */
		if (st == SMTP_DATA_MORE)
			assert_int_equal(used, n);
		assert_true(olen <= sizeof(r->out) - r->outlen);
		memcpy(r->out + r->outlen, out, olen);
		r->outlen += olen;
		free(out);
		pos += used;
		/* The size the session enforces is what was written. */
		assert_int_equal(d.size, r->outlen);
		assert_int_equal(d.end, st == SMTP_DATA_END);
		if (st == SMTP_DATA_END || pos == len)
			break;
		n = step;
	}
	if (st == SMTP_DATA_END) {
		uint8_t spare[T_GUARD];
		size_t olen = 1, used = 1, left = len - pos < sizeof(spare) ? len - pos : sizeof(spare);

		/* After the end nothing more is taken. */
		assert_int_equal(smtp_data_feed(&d, in + pos, left, spare, &olen, &used), SMTP_DATA_END);
		assert_int_equal(olen, 0);
		assert_int_equal(used, 0);
		assert_int_equal(d.size, r->outlen);
	}
	r->status = st;
	r->rest = len - pos;
	r->flags = t_flags(&d);
	assert_int_equal(smtp_data_bad(&d), r->flags != 0);
}

static void
t_expect(const struct t_data *t, const char *how, const struct t_result *r)
{
	if (r->outlen != t->outlen || memcmp(r->out, t->out, r->outlen) != 0)
		fail_msg("%s (%s): got %zu bytes '%.*s', want %zu '%.*s'", t->what, how, r->outlen,
			 (int)r->outlen, (const char *)r->out, t->outlen, (int)t->outlen, t->out);
	if (r->status != t->status)
		fail_msg("%s (%s): status %d, want %d", t->what, how, r->status, t->status);
	if (r->rest != t->rest)
		fail_msg("%s (%s): %zu bytes left, want %zu", t->what, how, r->rest, t->rest);
	if (r->flags != t->flags)
		fail_msg("%s (%s): flags %#x, want %#x", t->what, how, r->flags, t->flags);
}

/* One case whole, one byte at a time, and split in two at every position. */
static void
t_case(const struct t_data *t)
{
	static struct t_result r;
	const uint8_t *in = (const uint8_t *)t->in;
	char how[48];

	t_run(in, t->inlen, t->inlen, t->inlen, &r);
	t_expect(t, "whole", &r);
	assert_true(r.calls == 1);
	t_run(in, t->inlen, 1, 1, &r);
	t_expect(t, "byte at a time", &r);
	for (size_t k = 0; k <= t->inlen; k++) {
		snprintf(how, sizeof(how), "split at %zu", k);
		t_run(in, t->inlen, k, t->inlen, &r);
		t_expect(t, how, &r);
	}
}

static void
test_smtp_data_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++)
		t_case(&t_cases[i]);
}

/*
 * A message of one line of n text octets (stuffed when it starts with a
 * dot) and the end, into buf; the case expects the decoded line.
 */
static void
t_long_case(struct t_data *t, char *in, size_t incap, char *out, size_t outcap, size_t n, int dots,
	    unsigned flags)
{
	size_t i = 0;

	assert_true(n + 8 < incap && n + 8 < outcap);
	if (dots)
		in[i++] = '.';
	memset(in + i, dots ? '.' : 'x', n);
	i += n;
	memcpy(in + i, "\r\n.\r\n", 5);
	t->in = in;
	t->inlen = i + 5;
	memset(out, dots ? '.' : 'x', n);
	memcpy(out + n, "\r\n", 2);
	t->out = out;
	t->outlen = n + 2;
	t->status = SMTP_DATA_END;
	t->rest = 0;
	t->flags = flags;
}

/* Lines of 998 and 999 octets before CRLF: 1000 with CRLF is the limit, a stuffed dot not counted. */
static void
test_smtp_data_line_length(void **state)
{
	static char in_c[T_LONG_LINE + 16], out_c[T_LONG_LINE + 16];
	uint8_t *in = (uint8_t *)in_c, *out = (uint8_t *)out_c;
	struct t_data t = { 0 };
	struct smtp_data d;
	size_t olen, used;

	(void)state;
	t.what = "998 octets";
	t_long_case(&t, in_c, sizeof(in_c), out_c, sizeof(out_c), SMTP_DATA_LINE_MAX - 2, 0, 0);
	t_case(&t);
	t.what = "999 octets";
	t_long_case(&t, in_c, sizeof(in_c), out_c, sizeof(out_c), SMTP_DATA_LINE_MAX - 1, 0, T_LONG);
	t_case(&t);
	t.what = "998 dots, stuffed";
	t_long_case(&t, in_c, sizeof(in_c), out_c, sizeof(out_c), SMTP_DATA_LINE_MAX - 2, 1, 0);
	assert_int_equal(t.inlen, SMTP_DATA_LINE_MAX + 1 + 3);
	t_case(&t);
	t.what = "999 dots, stuffed";
	t_long_case(&t, in_c, sizeof(in_c), out_c, sizeof(out_c), SMTP_DATA_LINE_MAX - 1, 1, T_LONG);
	t_case(&t);

	/* An overlong line is flagged as soon as its 999th octet comes, CRLF or not. */
	smtp_data_init(&d);
	memset(in, 'x', T_LONG_LINE);
	assert_int_equal(smtp_data_feed(&d, in, T_LONG_LINE - 1, out, &olen, &used), SMTP_DATA_MORE);
	assert_int_equal(d.too_long, 0);
	assert_int_equal(smtp_data_feed(&d, in, 1, out, &olen, &used), SMTP_DATA_MORE);
	assert_int_equal(d.too_long, 1);
	assert_int_equal(d.size, T_LONG_LINE);

	/* The count starts again on each line: many lines of 998 are fine. */
	smtp_data_init(&d);
	for (int line = 0; line < 5; line++) {
		memset(in, 'y', SMTP_DATA_LINE_MAX - 2);
		memcpy(in + SMTP_DATA_LINE_MAX - 2, "\r\n", 2);
		assert_int_equal(smtp_data_feed(&d, in, SMTP_DATA_LINE_MAX, out, &olen, &used), SMTP_DATA_MORE);
		assert_int_equal(olen, SMTP_DATA_LINE_MAX);
	}
	assert_int_equal(smtp_data_bad(&d), 0);
	assert_int_equal(d.size, 5 * SMTP_DATA_LINE_MAX);
}

/* Pipelined messages: the bytes after one end start the next, after smtp_data_init(). */
static void
test_smtp_data_pipelined(void **state)
{
	static const char in[] = "one\r\n.\r\nMAIL FROM:<>\r\n";
	static const char second[] = "two\r\n..\r\n.\r\n";
	uint8_t out[sizeof(in) + sizeof(second)];
	struct smtp_data d;
	size_t olen, used;

	(void)state;
	smtp_data_init(&d);
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)in, sizeof(in) - 1, out, &olen, &used),
			 SMTP_DATA_END);
	assert_int_equal(used, strlen("one\r\n.\r\n"));
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "one\r\n", 5);

	smtp_data_init(&d);
	assert_int_equal(d.size, 0);
	assert_int_equal(d.end, 0);
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)second, sizeof(second) - 1, out, &olen, &used),
			 SMTP_DATA_END);
	assert_int_equal(used, sizeof(second) - 1);
	assert_int_equal(olen, strlen("two\r\n.\r\n"));
	assert_memory_equal(out, "two\r\n.\r\n", olen);
	assert_int_equal(smtp_data_bad(&d), 0);
}

/* A session enforcing SIZE while streaming sees the decoded count grow call by call. */
static void
test_smtp_data_size(void **state)
{
	static const char in[] = "..abc\r\n";
	uint8_t out[sizeof(in)];
	struct smtp_data d;
	size_t olen, used;

	(void)state;
	smtp_data_init(&d);
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)in, 1, out, &olen, &used), SMTP_DATA_MORE);
	assert_int_equal(olen, 0);
	assert_int_equal(d.size, 0);
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)in + 1, sizeof(in) - 2, out, &olen, &used),
			 SMTP_DATA_MORE);
	assert_int_equal(olen, 6);
	assert_memory_equal(out, ".abc\r\n", 6);
	assert_int_equal(d.size, 6);
	assert_int_equal(smtp_data_feed(&d, (const uint8_t *)".\r\n", 3, out, &olen, &used), SMTP_DATA_END);
	assert_int_equal(olen, 0);
	assert_int_equal(used, 3);
	assert_int_equal(d.size, 6);
}

/* ---- the encoder --------------------------------------------------------- */

struct stuff_case {
	const char *in;
	size_t in_len;
	const char *out;	/* what goes on the wire after DATA's 354, the end included */
	size_t out_len;
};

static const struct stuff_case stuff_cases[] = {
	{ S(""), S(".\r\n") },
	{ S("a\r\n"), S("a\r\n.\r\n") },
	{ S(".\r\n"), S("..\r\n.\r\n") },
	{ S(".a\r\n..b\r\nc.\r\n"), S("..a\r\n...b\r\nc.\r\n.\r\n") },
	{ S("no line end"), S("no line end\r\n.\r\n") },
	{ S("ends in CR\r"), S("ends in CR\r\n.\r\n") },
	{ S("x\r\n.\r\ny\r\n"), S("x\r\n..\r\ny\r\n.\r\n") },
	{ S("\r\n\r\n."), S("\r\n\r\n..\r\n.\r\n") },
};

/* Stuff in, step bytes at a time, into out; returns the length. */
static size_t
t_stuff(const char *in, size_t len, size_t step, uint8_t *out)
{
	struct smtp_data_stuff s;
	size_t o = 0;

	smtp_data_stuff_init(&s);
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		o += smtp_data_stuff_feed(&s, (const uint8_t *)in + i, n, out + o);
	}
	assert_int_equal(s.size, len);
	return o + smtp_data_stuff_end(&s, out + o);
}

static void
test_smtp_data_stuff_cases(void **state)
{
	uint8_t out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(stuff_cases) / sizeof(stuff_cases[0]); i++) {
		const struct stuff_case *c = &stuff_cases[i];
		for (size_t step = 1; step <= c->in_len + 1; step++) {
			size_t n = t_stuff(c->in, c->in_len, step, out);
			if (n != c->out_len || memcmp(out, c->out, n) != 0)
				fail_msg("case %zu step %zu: %zu bytes", i, step, n);
		}
	}
}

/* What the encoder writes, the decoder reads back as the message (with its last line end). */
static void
test_smtp_data_stuff_round_trip(void **state)
{
	static const char msg[] = "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n\r\n.\r\nend\r\n";
	uint8_t wire[2 * sizeof(msg) + SMTP_DATA_STUFF_END_MAX], back[sizeof(wire)];
	struct smtp_data d;
	size_t n, olen, used;

	(void)state;
	n = t_stuff(msg, sizeof(msg) - 1, sizeof(msg), wire);
	smtp_data_init(&d);
	assert_int_equal(smtp_data_feed(&d, wire, n, back, &olen, &used), SMTP_DATA_END);
	assert_int_equal(used, n);
	assert_int_equal(smtp_data_bad(&d), 0);
	assert_int_equal(olen, sizeof(msg) - 1);
	assert_memory_equal(back, msg, olen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_data_cases),
		cmocka_unit_test(test_smtp_data_line_length),
		cmocka_unit_test(test_smtp_data_pipelined),
		cmocka_unit_test(test_smtp_data_size),
		cmocka_unit_test(test_smtp_data_stuff_cases),
		cmocka_unit_test(test_smtp_data_stuff_round_trip),
	};
	return cmocka_run_group_tests_name("smtp_data", tests, NULL, NULL);
}
