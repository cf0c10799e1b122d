/*
 * Unit tests for home/dkim: the canonicalizers as data (RFC 6376 3.4.5's
 * examples exactly, then tables of body and header edge cases), each fed
 * whole, one byte at a time and split in two at every position; bounded
 * memory (empty lines held as a count); the header section's caps; the
 * From domain; every refusal with its exact code; the fields written
 * (folding, h= with From oversigned, b= over the field with b= empty);
 * and RFC 8463 Appendix A: its keys, records, body hash and both
 * published signatures reproduced exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../home/dkim.h"
#include "b64.h"
#include "dkimkey.h"
#include "pemkey.h"

/* A string literal as (bytes, length): it may hold a NUL. */
#define S(x) x, sizeof(x) - 1

#define T_OUT_MAX (512 * 1024)
#define T_ERR_MAX 512
#define T_SIGS_MAX (4 * DKIM_SIGNATURE_MAX)

#define T_BARE 0x01
#define T_MALFORMED 0x02

/* ---- helpers --------------------------------------------------------------- */

struct t_sink {
	uint8_t buf[T_OUT_MAX];
	size_t len;
	unsigned calls;
};

static void
t_sink_out(void *arg, const uint8_t *p, size_t n)
{
	struct t_sink *s = arg;

	assert_true(n > 0);
	assert_true(n <= sizeof(s->buf) - s->len);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->calls++;
}

/* Canonicalize a body: in[0..cut) then in[cut..len) in steps of step bytes (0: the rest at once). */
static void
t_body_run(const uint8_t *in, size_t len, size_t cut, size_t step, struct t_sink *s, int *bare_r)
{
	struct dkim_body b;
	size_t at = cut;

	s->len = 0;
	s->calls = 0;
	dkim_body_init(&b, t_sink_out, s);
	dkim_body_feed(&b, in, cut);
	while (at < len) {
		size_t n = step == 0 || step > len - at ? len - at : step;

		dkim_body_feed(&b, in + at, n);
		at += n;
	}
	dkim_body_finish(&b);
	assert_int_equal(b.len, s->len);
	*bare_r = b.bare;
}

static void
t_sha256_b64(const void *p, size_t n, char out[DKIM_BH_SIZE])
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	assert_int_equal(b64_encode(md, sizeof(md), out, DKIM_BH_SIZE), DKIM_BH_SIZE - 1);
}

/* ---- RFC 6376 3.4.5 ---------------------------------------------------------- */

/*
 * The example message, in the RFC's notation:
 *   A: <SP> X <CRLF>
 *   B <SP> : <SP> Y <HTAB><CRLF>
 *                   <HTAB> Z <SP><SP><CRLF>
 *   <CRLF>
 *   <SP> C <SP><CRLF>
 *   D <SP><HTAB><SP> E <CRLF>
 *   <CRLF>
 *   <CRLF>
 */
#define RFC6376_HEADER "A: X\r\nB : Y\t\r\n\tZ  \r\n"
#define RFC6376_BODY " C \r\nD \t E\r\n\r\n\r\n"
/* Relaxed, relaxed: "a:X <CRLF> b:Y <SP> Z <CRLF>" and "<SP> C <CRLF> D <SP> E <CRLF>". */
#define RFC6376_HEADER_RELAXED "a:X\r\nb:Y Z\r\n"
#define RFC6376_BODY_RELAXED " C\r\nD E\r\n"

static void
test_rfc6376_example(void **state)
{
	static const char msg[] = RFC6376_HEADER "\r\n" RFC6376_BODY;
	const size_t hlen = sizeof(RFC6376_HEADER "\r\n") - 1;
	uint8_t buf[DKIM_HEADER_BUF(1024)];
	struct dkim_field fields[8];
	struct dkim_header h;
	struct t_sink *s = malloc(sizeof(*s));
	size_t used;
	int bare;

	(void)state;
	assert_non_null(s);
	/* The header section, whole: it ends at its empty line, the body left over. */
	dkim_header_init(&h, buf, 1024, fields, 8);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)msg, sizeof(msg) - 1, &used), 1);
	assert_int_equal(used, hlen);
	assert_int_equal(h.len, strlen(RFC6376_HEADER_RELAXED));
	assert_memory_equal(buf, RFC6376_HEADER_RELAXED, h.len);
	assert_int_equal(h.nfields, 2);
	assert_int_equal(fields[0].off, 0);
	assert_int_equal(fields[0].name_len, 1);
	assert_int_equal(fields[0].len, 5);
	assert_int_equal(fields[1].off, 5);
	assert_int_equal(fields[1].name_len, 1);
	assert_int_equal(fields[1].len, 7);
	assert_false(h.bare || h.malformed);

	/* The body. */
	t_body_run((const uint8_t *)msg + hlen, sizeof(msg) - 1 - hlen, 0, 0, s, &bare);
	assert_int_equal(s->len, strlen(RFC6376_BODY_RELAXED));
	assert_memory_equal(s->buf, RFC6376_BODY_RELAXED, s->len);
	assert_false(bare);
	free(s);
}

/* The whole message through the signer, one byte at a time: bh= is SHA-256 of the RFC's body. */
static void
test_rfc6376_example_signer(void **state)
{
	static const char msg[] = "From: a@example.test\r\n" RFC6376_HEADER "\r\n" RFC6376_BODY;
	char want[DKIM_BH_SIZE], got[DKIM_BH_SIZE], err[T_ERR_MAX];
	enum dkim_err code = DKIM_OK;
	struct dkim *d = dkim_new();

	(void)state;
	assert_non_null(d);
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		dkim_feed(d, msg + i, 1);
	assert_int_equal(dkim_body_hash(d, got, &code, err, sizeof(err)), 0);
	t_sha256_b64(RFC6376_BODY_RELAXED, strlen(RFC6376_BODY_RELAXED), want);
	assert_string_equal(got, want);
	dkim_free(&d);
	assert_null(d);
	dkim_free(&d);
}

/* ---- body table ------------------------------------------------------------------ */

struct t_body {
	const char *what;
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
	unsigned flags;
};

static const struct t_body t_bodies[] = {
	{ "empty", S(""), S(""), 0 },
	{ "one empty line", S("\r\n"), S(""), 0 },
	{ "empty lines only", S("\r\n\r\n\r\n"), S(""), 0 },
	{ "whitespace lines only", S(" \r\n\t\r\n  \t "), S(""), 0 },
	{ "one line", S("a\r\n"), S("a\r\n"), 0 },
	{ "no final CRLF", S("a"), S("a\r\n"), 0 },
	{ "no final CRLF, two lines", S("a\r\nb"), S("a\r\nb\r\n"), 0 },
	{ "no final CRLF, trailing WSP", S("a \t "), S("a\r\n"), 0 },
	{ "a last line of WSP only, no CRLF", S("a\r\n  \t"), S("a\r\n"), 0 },
	{ "trailing empty lines", S("a\r\n\r\n\r\n\r\n"), S("a\r\n"), 0 },
	{ "trailing empty and WSP lines", S("a\r\n \r\n\t\r\n\r\n"), S("a\r\n"), 0 },
	{ "inner empty lines kept", S("a\r\n\r\n\r\nb\r\n"), S("a\r\n\r\n\r\nb\r\n"), 0 },
	{ "inner WSP line becomes empty", S("a\r\n \t \r\nb\r\n"), S("a\r\n\r\nb\r\n"), 0 },
	{ "leading empty lines kept", S("\r\n\r\na\r\n"), S("\r\n\r\na\r\n"), 0 },
	{ "trailing WSP", S("a  \t\r\nb\t\r\n"), S("a\r\nb\r\n"), 0 },
	{ "WSP runs", S("a \t  b\t\tc d\r\n"), S("a b c d\r\n"), 0 },
	{ "leading WSP becomes one SP", S(" \t a\r\n\t\tb\r\n"), S(" a\r\n b\r\n"), 0 },
	{ "a line of one SP then text", S(" \r\nx\r\n"), S("\r\nx\r\n"), 0 },
	{ "8-bit text", S("caf\xc3\xa9  \xff\xfe\r\n\x80\r\n"), S("caf\xc3\xa9 \xff\xfe\r\n\x80\r\n"), 0 },
	{ "a NUL is text", S("a\0 \0b\r\n"), S("a\0 \0b\r\n"), 0 },
	{ "other controls are text", S("a\x0b\x0c b\r\n"), S("a\x0b\x0c b\r\n"), 0 },
	{ "a bare CR is text", S("a\rb\r\n"), S("a\rb\r\n"), T_BARE },
	{ "a bare LF is text", S("a\nb\r\n"), S("a\nb\r\n"), T_BARE },
	{ "CR CR LF", S("a\r\r\n"), S("a\r\r\n"), T_BARE },
	{ "a CR at the end", S("a\r"), S("a\r\r\n"), T_BARE },
	{ "a CR alone", S("\r"), S("\r\r\n"), T_BARE },
	{ "WSP around a bare CR", S("a \r b\r\n"), S("a \r b\r\n"), T_BARE },
	{ "LF CR LF", S("\n\r\n"), S("\n\r\n"), T_BARE },
	{ "an empty line then a bare LF", S("\r\n\n"), S("\r\n\n\r\n"), T_BARE },
};

static void
test_body_table(void **state)
{
	struct t_sink *s = malloc(sizeof(*s));

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(t_bodies) / sizeof(t_bodies[0]); i++) {
		const struct t_body *c = &t_bodies[i];
		const uint8_t *in = (const uint8_t *)c->in;
		int bare;

		print_message("body: %s\n", c->what);
		/* Whole, one byte at a time, and in two at every position. */
		t_body_run(in, c->inlen, 0, 0, s, &bare);
		assert_int_equal(s->len, c->outlen);
		assert_memory_equal(s->buf, c->out, c->outlen);
		assert_int_equal(bare, !!(c->flags & T_BARE));
		t_body_run(in, c->inlen, 0, 1, s, &bare);
		assert_int_equal(s->len, c->outlen);
		assert_memory_equal(s->buf, c->out, c->outlen);
		assert_int_equal(bare, !!(c->flags & T_BARE));
		for (size_t cut = 0; cut <= c->inlen; cut++) {
			t_body_run(in, c->inlen, cut, 0, s, &bare);
			assert_int_equal(s->len, c->outlen);
			assert_memory_equal(s->buf, c->out, c->outlen);
			assert_int_equal(bare, !!(c->flags & T_BARE));
		}
	}
	free(s);
}

/* Empty lines are held as a count, not as bytes: a million of them cost nothing until text comes. */
static void
test_body_bounded(void **state)
{
	static const uint8_t crlfs[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
	struct t_sink *s = malloc(sizeof(*s));
	struct dkim_body b;

	(void)state;
	assert_non_null(s);
	s->len = 0;
	dkim_body_init(&b, t_sink_out, s);
	dkim_body_feed(&b, (const uint8_t *)"x\r\n", 3);
	assert_int_equal(s->len, 3);
	for (int i = 0; i < 100000; i++)
		dkim_body_feed(&b, crlfs, sizeof(crlfs) - 1);
	assert_int_equal(s->len, 3);
	assert_int_equal(b.empty, 1000000);
	/* Whitespace is held as one flag however long the run. */
	for (int i = 0; i < 1000; i++)
		dkim_body_feed(&b, (const uint8_t *)" \t  ", 4);
	assert_int_equal(s->len, 3);
	dkim_body_finish(&b);
	assert_int_equal(s->len, 3);
	assert_int_equal(b.empty, 0);

	/* Text after them: each held empty line comes out, in runs. */
	s->len = 0;
	s->calls = 0;
	dkim_body_init(&b, t_sink_out, s);
	for (int i = 0; i < 10000; i++)
		dkim_body_feed(&b, crlfs, sizeof(crlfs) - 1);
	assert_int_equal(s->len, 0);
	dkim_body_feed(&b, (const uint8_t *)"  y", 3);
	assert_int_equal(s->len, 200000 + 2);
	for (size_t i = 0; i < 200000; i += 2)
		assert_memory_equal(s->buf + i, "\r\n", 2);
	assert_memory_equal(s->buf + 200000, " y", 2);
	assert_true(s->calls < 200000 / 32 + 8);
	dkim_body_finish(&b);
	assert_int_equal(s->len, 200000 + 4);
	/* Nothing after the end. */
	dkim_body_feed(&b, (const uint8_t *)"z\r\n", 3);
	dkim_body_finish(&b);
	assert_int_equal(s->len, 200000 + 4);
	free(s);
}

/* ---- header table ------------------------------------------------------------------ */

struct t_header {
	const char *what;
	const char *in;
	size_t inlen;
	const char *out;	/* canonical section */
	size_t outlen;
	size_t nfields;
	int status;		/* dkim_header_feed at the end of in: 1 ended, 0 goes on */
	size_t rest;		/* bytes after the empty line */
	unsigned flags;
};

static const struct t_header t_headers[] = {
	{ "RFC 6376 3.4.5", S(RFC6376_HEADER "\r\n"), S(RFC6376_HEADER_RELAXED), 2, 1, 0, 0 },
	{ "the body is not taken", S("A: 1\r\n\r\nbody\r\n"), S("a:1\r\n"), 1, 1, 6, 0 },
	{ "an empty section", S("\r\nbody"), S(""), 0, 1, 4, 0 },
	{ "names lowercased, values not", S("FROM: Joe <J@X.Test>\r\nSuBjEcT: Hi\r\n\r\n"),
	  S("from:Joe <J@X.Test>\r\nsubject:Hi\r\n"), 2, 1, 0, 0 },
	{ "no space after the colon", S("To:a@b\r\n\r\n"), S("to:a@b\r\n"), 1, 1, 0, 0 },
	{ "WSP before and after the colon", S("To \t:\t a@b\r\n\r\n"), S("to:a@b\r\n"), 1, 1, 0, 0 },
	{ "WSP runs in the value", S("Subject: a  \t b\t\tc\r\n\r\n"), S("subject:a b c\r\n"), 1, 1, 0, 0 },
	{ "trailing WSP", S("Subject: a \t \r\n\r\n"), S("subject:a\r\n"), 1, 1, 0, 0 },
	{ "an empty value", S("Subject:\r\n\r\n"), S("subject:\r\n"), 1, 1, 0, 0 },
	{ "a value of WSP", S("Subject: \t \r\n\r\n"), S("subject:\r\n"), 1, 1, 0, 0 },
	{ "folded", S("Subject: a\r\n b\r\n\tc\r\n\r\n"), S("subject:a b c\r\n"), 1, 1, 0, 0 },
	{ "folded with WSP around the fold", S("Subject: a \t\r\n \t b \r\n\r\n"), S("subject:a b\r\n"), 1,
	  1, 0, 0 },
	{ "the value starts after a fold", S("Subject:\r\n  hello\r\n\r\n"), S("subject:hello\r\n"), 1, 1, 0,
	  0 },
	{ "folded many times", S("To: a,\r\n b,\r\n c,\r\n d\r\nCc: e\r\n\r\n"), S("to:a, b, c, d\r\ncc:e\r\n"),
	  2, 1, 0, 0 },
	{ "a field named twice", S("To: a\r\nX: 1\r\nTo: b\r\n\r\n"), S("to:a\r\nx:1\r\nto:b\r\n"), 3, 1, 0,
	  0 },
	{ "8-bit value", S("Subject: caf\xc3\xa9   \xe2\x82\xac\r\n\r\n"), S("subject:caf\xc3\xa9 \xe2\x82\xac\r\n"),
	  1, 1, 0, 0 },
	{ "colons in the value", S("Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\n"),
	  S("date:Fri, 11 Jul 2003 21:00:37 -0700\r\n"), 1, 1, 0, 0 },
	/* Not ended yet: the open field's bytes are in buf already, not counted in nfields. */
	{ "no empty line yet", S("From: a\r\nTo: b"), S("from:a\r\nto:b"), 1, 0, 0, 0 },
	{ "no empty line yet, CRLF", S("From: a\r\n"), S("from:a"), 0, 0, 0, 0 },
	{ "not yet: a CR", S("From: a\r\n\r"), S("from:a\r\n"), 1, 0, 0, 0 },
	{ "an empty name", S(": x\r\n\r\n"), S(":x\r\n"), 1, 1, 0, T_MALFORMED },
	{ "a line without colon", S("From: a\r\nnonsense\r\n\r\n"), S("from:a\r\nnonsense\r\n"), 2, 1, 0,
	  T_MALFORMED },
	{ "WSP inside a name", S("Sub ject: x\r\n\r\n"), S("sub ject:x\r\n"), 1, 1, 0, T_MALFORMED },
	{ "8-bit name", S("Subj\xc3\xa9: x\r\n\r\n"), S("subj\xc3\xa9:x\r\n"), 1, 1, 0, T_MALFORMED },
	{ "a continuation first", S(" x: 1\r\n\r\n"), S(" x:1\r\n"), 1, 1, 0, T_MALFORMED },
	{ "a fold before the colon", S("Subject\r\n : x\r\n\r\n"), S("subject:x\r\n"), 1, 1, 0, T_MALFORMED },
	{ "a bare LF in a value", S("A: x\ny\r\n\r\n"), S("a:x\ny\r\n"), 1, 1, 0, T_BARE },
	{ "a bare CR in a value", S("A: x\ry\r\n\r\n"), S("a:x\ry\r\n"), 1, 1, 0, T_BARE },
	{ "a bare CR in a name", S("A\rB: x\r\n\r\n"), S("a\rb:x\r\n"), 1, 1, 0, T_BARE | T_MALFORMED },
	{ "a bare LF ends nothing", S("A: x\n\nB: y\r\n\r\n"), S("a:x\n\nB: y\r\n"), 1, 1, 0, T_BARE },
	{ "a bare CR starts a line", S("A: x\r\n\rB: y\r\n\r\n"), S("a:x\r\n\rb:y\r\n"), 2, 1, 0,
	  T_BARE | T_MALFORMED },
};

struct t_hresult {
	uint8_t buf[DKIM_HEADER_BUF(4096)];
	struct dkim_field fields[64];
	struct dkim_header h;
	int status;
	size_t used;
};

/* Feed in[0..cut) then the rest in steps (0: at once); stops at the section's end. */
static void
t_header_run(const uint8_t *in, size_t len, size_t cut, size_t step, struct t_hresult *r)
{
	size_t at = 0, n = cut;

	dkim_header_init(&r->h, r->buf, 4096, r->fields, 64);
	r->status = 0;
	r->used = 0;
	for (;;) {
		size_t used = (size_t)-1;

		if (n > len - at)
			n = len - at;
		r->status = dkim_header_feed(&r->h, in + at, n, &used);
		assert_true(r->status >= 0);
		assert_true(used <= n);
		if (r->status == 0)
			assert_int_equal(used, n);
		at += used;
		if (r->status == 1 || at == len)
			break;
		n = step == 0 ? len - at : step;
	}
	r->used = at;
}

static void
t_header_check(const struct t_header *c, const struct t_hresult *r, int finished)
{
	size_t nfields = c->nfields;
	const char *out = c->out;
	size_t outlen = c->outlen;

	assert_int_equal(r->status, c->status);
	assert_int_equal(r->used, c->inlen - c->rest);
	if (!finished) {
		assert_int_equal(r->h.len, outlen);
		assert_memory_equal(r->buf, out, outlen);
		assert_int_equal(r->h.nfields, nfields);
	}
	if (!finished) {
		/* (A section the message ends in may gain flags at the end: see test_header_finish.) */
		assert_int_equal(r->h.bare, !!(c->flags & T_BARE));
		assert_int_equal(r->h.malformed, !!(c->flags & T_MALFORMED));
	}
	/* Each field lies in the buffer, name first, CRLF last; they follow each other. */
	for (size_t i = 0, off = 0; i < r->h.nfields; i++) {
		const struct dkim_field *f = &r->fields[i];

		assert_int_equal(f->off, off);
		assert_true(f->len >= 2 && f->name_len <= f->len - 2);
		assert_memory_equal(r->buf + f->off + f->len - 2, "\r\n", 2);
		off += f->len;
		if (i + 1 < r->h.nfields)
			assert_int_equal(off, r->fields[i + 1].off);
		else
			assert_true(off <= r->h.len);
	}
}

static void
test_header_table(void **state)
{
	struct t_hresult *r = malloc(sizeof(*r)), *one = malloc(sizeof(*one));

	(void)state;
	assert_non_null(r);
	assert_non_null(one);
	for (size_t i = 0; i < sizeof(t_headers) / sizeof(t_headers[0]); i++) {
		const struct t_header *c = &t_headers[i];
		const uint8_t *in = (const uint8_t *)c->in;

		print_message("header: %s\n", c->what);
		t_header_run(in, c->inlen, c->inlen, 0, r);
		t_header_check(c, r, 0);
		t_header_run(in, c->inlen, 0, 1, one);
		t_header_check(c, one, 0);
		for (size_t cut = 0; cut <= c->inlen; cut++) {
			t_header_run(in, c->inlen, cut, 0, one);
			t_header_check(c, one, 0);
		}
		/* Finishing a section that ended changes nothing; one that did not closes its last field. */
		assert_int_equal(dkim_header_finish(&r->h), 0);
		assert_int_equal(dkim_header_finish(&r->h), 0);
		t_header_check(c, r, 1);
		if (c->status == 1) {
			assert_int_equal(r->h.len, c->outlen);
		} else {
			assert_true(r->h.len >= c->outlen);
			assert_memory_equal(r->buf + r->h.len - 2, "\r\n", 2);
		}
	}
	free(one);
	free(r);
}

/* A section that ends with the message (no body): the last field is closed by dkim_header_finish. */
static void
test_header_finish(void **state)
{
	static const struct {
		const char *in;
		const char *out;
		size_t nfields;
		unsigned flags;
	} cases[] = {
		{ "From: a\r\nTo: b", "from:a\r\nto:b\r\n", 2, 0 },
		{ "From: a\r\nTo: b  ", "from:a\r\nto:b\r\n", 2, 0 },
		{ "From: a\r\nTo: b\r\n", "from:a\r\nto:b\r\n", 2, 0 },
		{ "From: a\r\nTo: b\r\n  c", "from:a\r\nto:b c\r\n", 2, 0 },
		{ "From: a\r", "from:a\r\r\n", 1, T_BARE },
		{ "From: a\r\n\r", "from:a\r\n\r\r\n", 2, T_BARE | T_MALFORMED },
		{ "From", "from\r\n", 1, T_MALFORMED },
		{ "", "", 0, 0 },
	};
	struct t_hresult *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 0; step <= 1; step++) {
			t_header_run((const uint8_t *)cases[i].in, strlen(cases[i].in), 0, step, r);
			assert_int_equal(r->status, 0);
			assert_int_equal(dkim_header_finish(&r->h), 0);
			assert_int_equal(r->h.len, strlen(cases[i].out));
			assert_memory_equal(r->buf, cases[i].out, r->h.len);
			assert_int_equal(r->h.nfields, cases[i].nfields);
			assert_int_equal(r->h.bare, !!(cases[i].flags & T_BARE));
			assert_int_equal(r->h.malformed, !!(cases[i].flags & T_MALFORMED));
		}
	}
	free(r);
}

/* The caps: max raw bytes (the empty line included), fields_max fields; failing is for good. */
static void
test_header_caps(void **state)
{
	static const char ten[] = "A: 123\r\n\r\n";	/* 10 bytes */
	uint8_t buf[DKIM_HEADER_BUF(16)];
	struct dkim_field fields[2];
	struct dkim_header h;
	size_t used;

	(void)state;
	dkim_header_init(&h, buf, 10, fields, 2);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)ten, 10, &used), 1);
	assert_int_equal(used, 10);

	dkim_header_init(&h, buf, 9, fields, 2);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)ten, 10, &used), -1);
	assert_int_equal(used, 9);
	assert_int_equal(h.err, DKIM_ERR_HEADER_MAX);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)"\n", 1, &used), -1);
	assert_int_equal(used, 0);
	assert_int_equal(dkim_header_finish(&h), -1);

	/* Byte by byte, the same. */
	dkim_header_init(&h, buf, 9, fields, 2);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(dkim_header_feed(&h, (const uint8_t *)ten + i, 1, &used), 0);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)ten + 9, 1, &used), -1);
	assert_int_equal(h.err, DKIM_ERR_HEADER_MAX);

	/* A field over the cap fails when it starts. */
	dkim_header_init(&h, buf, 16, fields, 2);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)"a:1\r\nb:2\r\n", 10, &used), 0);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)"c", 1, &used), -1);
	assert_int_equal(h.err, DKIM_ERR_FIELDS_MAX);
	assert_int_equal(h.nfields, 2);

	/* A message that ends inside the section fails at the end too. */
	dkim_header_init(&h, buf, 16, fields, 1);
	assert_int_equal(dkim_header_feed(&h, (const uint8_t *)"a:1\r\n\r", 6, &used), 0);
	assert_int_equal(dkim_header_finish(&h), -1);
	assert_int_equal(h.err, DKIM_ERR_FIELDS_MAX);
}

/* ---- From ---------------------------------------------------------------------- */

static void
test_from_domain(void **state)
{
	static const struct {
		const char *value;
		const char *domain;	/* NULL: refused */
	} cases[] = {
		{ "joe@example.test", "example.test" },
		{ "Joe SixPack <joe@football.example.com>", "football.example.com" },
		{ "<joe@Example.TEST>", "example.test" },
		{ " joe@example.test ", "example.test" },
		{ "\"Smith, Joe\" <joe@example.test>", "example.test" },
		{ "\"a@b.test\" <joe@example.test>", "example.test" },
		{ "joe@bad.test <joe@example.test>", "example.test" },
		{ "\"joe@x\"@example.test", "example.test" },
		{ "\"j\\\"oe\"@example.test", "example.test" },
		{ "joe@example.test (Joe, <x@y>)", "example.test" },
		{ "(c (nested) @x) Joe <joe@example.test> (x)", "example.test" },
		{ "Joe <joe@ example.test >", "example.test" },
		{ "joe@(c)example.test", "example.test" },
		{ "<@relay.test,@other.test:joe@example.test>", "example.test" },
		{ "=?utf-8?q?J=C3=B6rg?= <joe@example.test>", "example.test" },
		{ "J\xc3\xb6rg <j\xc3\xb6rg@example.test>", "example.test" },
		{ "joe@xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "joe@localhost", "localhost" },
		{ "", NULL },
		{ "joe", NULL },
		{ "Joe <joe>", NULL },
		{ "joe@", NULL },
		{ "@example.test", NULL },
		{ "Joe <@example.test>", NULL },
		{ "a@example.test, b@example.test", NULL },
		{ "Joe <a@example.test>, b@example.test", NULL },
		{ "<a@example.test> <b@example.test>", NULL },
		{ "<a@example.test> trailing", NULL },
		{ "Friends: a@example.test;", NULL },
		{ "undisclosed-recipients:;", NULL },
		{ "Joe <joe@example.test", NULL },
		{ "Joe joe@example.test>", NULL },
		{ "\"Joe <joe@example.test>", NULL },
		{ "(Joe <joe@example.test>", NULL },
		{ "a@b@example.test", NULL },
		{ "joe@[192.0.2.1]", NULL },
		{ "joe@exa mple.test", NULL },
		{ "joe@example.test.", NULL },
		{ "joe@-bad.test", NULL },
		{ "joe@b\xc3\xbc" "cher.example", NULL },
		{ "joe@\"example.test\"", NULL },
	};
	char out[DKIM_BH_SIZE + 300];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = dkim_from_domain((const uint8_t *)cases[i].value, strlen(cases[i].value), out,
					  sizeof(out));

		print_message("From: %s\n", cases[i].value);
		if (cases[i].domain == NULL) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].domain);
		}
	}
	/* Too small an output. */
	assert_int_equal(dkim_from_domain((const uint8_t *)S("a@example.test"), out, 12), -1);
	assert_int_equal(dkim_from_domain((const uint8_t *)S("a@example.test"), out, 13), 0);
}

/* ---- the signer ---------------------------------------------------------------- */

struct t_keys {
	EVP_PKEY *ed25519;
	EVP_PKEY *rsa;
};

static int
t_keys_setup(void **state)
{
	struct t_keys *k = calloc(1, sizeof(*k));
	char err[T_ERR_MAX];

	if (k == NULL)
		return -1;
	k->ed25519 = dkimkey_generate(DKIMKEY_ED25519, err, sizeof(err));
	k->rsa = dkimkey_generate(DKIMKEY_RSA, err, sizeof(err));
	if (k->ed25519 == NULL || k->rsa == NULL)
		return -1;
	*state = k;
	return 0;
}

static int
t_keys_teardown(void **state)
{
	struct t_keys *k = *state;

	EVP_PKEY_free(k->ed25519);
	EVP_PKEY_free(k->rsa);
	free(k);
	return 0;
}

/* Sign msg fed in steps of step bytes (0: at once). Returns the dkim_sign result, code in *code_r. */
static int
t_sign(const struct t_keys *k, const char *msg, size_t len, size_t step, char *out, size_t cap,
       enum dkim_err *code_r)
{
	struct dkim_key keys[] = { { k->ed25519, "ed" }, { k->rsa, "rsa" } };
	char err[T_ERR_MAX];
	struct dkim *d = dkim_new();
	size_t outlen = 0;
	int rc;

	assert_non_null(d);
	for (size_t at = 0; at < len;) {
		size_t n = step == 0 || step > len - at ? len - at : step;

		dkim_feed(d, msg + at, n);
		at += n;
	}
	*code_r = DKIM_OK;
	err[0] = '\0';
	rc = dkim_sign(d, keys, 2, 1528637909, out, cap, &outlen, code_r, err, sizeof(err));
	if (rc == 0) {
		assert_int_equal(outlen, strlen(out));
		assert_int_equal(*code_r, DKIM_OK);
	} else {
		assert_true(*code_r != DKIM_OK);
		assert_true(strlen(err) > 0);
		print_message("  refused: %s\n", err);
	}
	dkim_free(&d);
	return rc;
}

#define T_MSG_HEAD "From: Joe <joe@example.test>\r\nTo: Suzie <suzie@example.net>\r\n"
#define T_MSG_TAIL "Subject: hi\r\n\r\nbody\r\n"

static void
test_refusals(void **state)
{
	static const struct {
		const char *what;
		const char *msg;
		enum dkim_err code;
	} cases[] = {
		{ "no From", "To: a@example.test\r\n\r\nx\r\n", DKIM_ERR_NO_FROM },
		{ "no header", "\r\nx\r\n", DKIM_ERR_NO_FROM },
		{ "nothing", "", DKIM_ERR_NO_FROM },
		{ "From in the body only", "To: a@b.test\r\n\r\nFrom: a@b.test\r\n", DKIM_ERR_NO_FROM },
		{ "two From", "From: a@example.test\r\nTo: b@c.test\r\nFROM: a@example.test\r\n\r\n",
		  DKIM_ERR_FROM_TWICE },
		{ "From without domain", "From: joe\r\n\r\nx\r\n", DKIM_ERR_FROM_DOMAIN },
		{ "From with two addresses", "From: a@example.test, b@example.test\r\n\r\n",
		  DKIM_ERR_FROM_DOMAIN },
		{ "From with a literal", "From: a@[192.0.2.1]\r\n\r\n", DKIM_ERR_FROM_DOMAIN },
		{ "a line that is no field", "From: a@example.test\r\nno colon\r\n\r\n", DKIM_ERR_MALFORMED },
		{ "a bare LF in the header", "From: a@example.test\nTo: b@c.test\r\n\r\n", DKIM_ERR_BARE_EOL },
		{ "a bare LF in the body", "From: a@example.test\r\n\r\nx\ny\r\n", DKIM_ERR_BARE_EOL },
		{ "a bare CR at the end", "From: a@example.test\r\n\r\nx\r", DKIM_ERR_BARE_EOL },
	};
	char *out = malloc(T_SIGS_MAX);

	assert_non_null(out);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dkim_err code;

		print_message("refuse: %s\n", cases[i].what);
		assert_int_equal(t_sign(*state, cases[i].msg, strlen(cases[i].msg), 0, out, T_SIGS_MAX, &code),
				 -1);
		assert_int_equal(code, cases[i].code);
		assert_string_equal(out, "");
		assert_int_equal(t_sign(*state, cases[i].msg, strlen(cases[i].msg), 1, out, T_SIGS_MAX, &code),
				 -1);
		assert_int_equal(code, cases[i].code);
	}
	free(out);
}

/* A header section over DKIM_HEADER_MAX, or with too many fields: refused, whatever the pieces. */
static void
test_refuse_big_header(void **state)
{
	size_t cap = DKIM_HEADER_MAX + 4096, len = 0;
	char *msg = malloc(cap), *out = malloc(T_SIGS_MAX);
	enum dkim_err code;

	assert_non_null(msg);
	assert_non_null(out);
	/* Exactly DKIM_HEADER_MAX with the empty line: signed. */
	len = (size_t)snprintf(msg, cap, "From: a@example.test\r\nX: ");
	while (len < DKIM_HEADER_MAX - 4)
		msg[len++] = 'x';
	memcpy(msg + len, "\r\n\r\nbody\r\n", 10);
	len += 10;
	assert_int_equal(t_sign(*state, msg, len, 0, out, T_SIGS_MAX, &code), 0);
	/* One more byte: refused. */
	memmove(msg + 30, msg + 29, len - 29);
	len++;
	assert_int_equal(t_sign(*state, msg, len, 0, out, T_SIGS_MAX, &code), -1);
	assert_int_equal(code, DKIM_ERR_HEADER_MAX);
	assert_int_equal(t_sign(*state, msg, len, 4093, out, T_SIGS_MAX, &code), -1);
	assert_int_equal(code, DKIM_ERR_HEADER_MAX);

	/* Too many fields. */
	len = (size_t)snprintf(msg, cap, "From: a@example.test\r\n");
	for (int i = 0; i < DKIM_HEADER_FIELDS_MAX; i++)
		len += (size_t)snprintf(msg + len, cap - len, "X:%d\r\n", i);
	len += (size_t)snprintf(msg + len, cap - len, "\r\nx\r\n");
	assert_int_equal(t_sign(*state, msg, len, 0, out, T_SIGS_MAX, &code), -1);
	assert_int_equal(code, DKIM_ERR_FIELDS_MAX);
	free(out);
	free(msg);
}

static void
test_refuse_keys(void **state)
{
	static const char msg[] = T_MSG_HEAD T_MSG_TAIL;
	struct t_keys *k = *state;
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char err[T_ERR_MAX], out[T_SIGS_MAX];
	enum dkim_err code = DKIM_OK;
	size_t outlen;
	struct {
		EVP_PKEY *key;
		const char *selector;
		enum dkim_err code;
	} cases[] = {
		{ small, "s", DKIM_ERR_KEY },
		{ ec, "s", DKIM_ERR_KEY },
		{ k->ed25519, "", DKIM_ERR_KEY },
		{ k->ed25519, "a b", DKIM_ERR_KEY },
		{ k->ed25519, "sel._domainkey", DKIM_ERR_KEY },
		{ k->ed25519, "s", DKIM_OK },
	};

	assert_non_null(small);
	assert_non_null(ec);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_key key = { cases[i].key, cases[i].selector };
		struct dkim *d = dkim_new();

		assert_non_null(d);
		dkim_feed(d, msg, sizeof(msg) - 1);
		code = DKIM_OK;
		assert_int_equal(dkim_sign(d, &key, 1, 1, out, sizeof(out), &outlen, &code, err, sizeof(err)),
				 cases[i].code == DKIM_OK ? 0 : -1);
		assert_int_equal(code, cases[i].code);
		dkim_free(&d);
	}
	/* Too little room: refused, never cut. */
	{
		struct dkim_key keys[] = { { k->ed25519, "ed" }, { k->rsa, "rsa" } };
		struct dkim *d = dkim_new();
		size_t need;

		assert_non_null(d);
		dkim_feed(d, msg, sizeof(msg) - 1);
		assert_int_equal(dkim_sign(d, keys, 2, 1, out, sizeof(out), &need, &code, err, sizeof(err)), 0);
		assert_int_equal(dkim_sign(d, keys, 2, 1, out, need + 1, &outlen, &code, err, sizeof(err)), 0);
		assert_int_equal(outlen, need);
		for (size_t cap = 0; cap <= need; cap += need / 7 + 1) {
			assert_int_equal(dkim_sign(d, keys, 2, 1, out, cap, &outlen, &code, err, sizeof(err)),
					 -1);
			assert_int_equal(code, DKIM_ERR_SPACE);
		}
		assert_int_equal(dkim_sign(d, keys, 2, 1, out, need, &outlen, &code, err, sizeof(err)), -1);
		assert_int_equal(code, DKIM_ERR_SPACE);
		dkim_free(&d);
	}
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

/* The value of tag in the field that field starts with (unfolded, FWS removed), into out. */
static void
t_tag(const char *field, const char *tag, char *out, size_t cap)
{
	char flat[DKIM_SIGNATURE_MAX];
	size_t n = 0, tl = strlen(tag);
	const char *p;

	for (const char *c = field; *c != '\0' && n + 1 < sizeof(flat); c++) {
		/* The field ends at a CRLF not followed by WSP. */
		if (c[0] == '\r' && c[1] == '\n' && c[2] != ' ' && c[2] != '\t')
			break;
		if (*c != '\r' && *c != '\n' && *c != ' ' && *c != '\t')
			flat[n++] = *c;
	}
	flat[n] = '\0';
	p = strchr(flat, ':');
	assert_non_null(p);
	for (p++; *p != '\0';) {
		const char *end = strchr(p, ';');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > tl && strncmp(p, tag, tl) == 0 && p[tl] == '=') {
			assert_true(len - tl - 1 < cap);
			memcpy(out, p + tl + 1, len - tl - 1);
			out[len - tl - 1] = '\0';
			return;
		}
		p += len + (end != NULL);
	}
	fail_msg("no %s= in %s", tag, field);
}

/* Lines of at most DKIM_LINE_MAX, CRLF only, continuations start with SP; returns the fields' count. */
static size_t
t_check_lines(const char *out)
{
	size_t fields = 0;

	for (const char *line = out; *line != '\0';) {
		const char *crlf = strstr(line, "\r\n");

		assert_non_null(crlf);
		assert_true((size_t)(crlf - line) <= DKIM_LINE_MAX);
		assert_null(memchr(line, '\n', (size_t)(crlf - line)));
		assert_null(memchr(line, '\r', (size_t)(crlf - line)));
		if (strncmp(line, "DKIM-Signature: ", 16) == 0)
			fields++;
		else
			assert_true(line[0] == ' ');
		line = crlf + 2;
	}
	return fields;
}

/* The second field of out (starts at the second "DKIM-Signature:"). */
static const char *
t_second(const char *out)
{
	const char *p = strstr(out + 1, "\r\nDKIM-Signature:");

	assert_non_null(p);
	return p + 2;
}

static void
test_sign_fields(void **state)
{
	static const char msg[] = "Received: from x by y\r\n" T_MSG_HEAD
		"Cc: a@example.test,\r\n b@example.test\r\nX-Mailer: none\r\nSubject: hi\r\n"
		"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\nMessage-ID: <1@example.test>\r\n"
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nTo: second@example.test\r\n"
		"List-Id: <l.example.test>\r\nBcc: hidden@example.test\r\n\r\nbody\r\n";
	struct t_keys *k = *state;
	char *out = malloc(T_SIGS_MAX), *again = malloc(T_SIGS_MAX), v[DKIM_SIGNATURE_MAX];
	char bh[DKIM_BH_SIZE], err[T_ERR_MAX];
	const char *second;
	enum dkim_err code;
	struct dkim *d;

	assert_non_null(out);
	assert_non_null(again);
	assert_int_equal(t_sign(k, msg, sizeof(msg) - 1, 0, out, T_SIGS_MAX, &code), 0);
	print_message("%s", out);
	assert_int_equal(t_check_lines(out), 2);
	second = t_second(out);
	t_tag(out, "v", v, sizeof(v));
	assert_string_equal(v, "1");
	t_tag(out, "a", v, sizeof(v));
	assert_string_equal(v, "ed25519-sha256");
	t_tag(second, "a", v, sizeof(v));
	assert_string_equal(v, "rsa-sha256");
	t_tag(out, "c", v, sizeof(v));
	assert_string_equal(v, "relaxed/relaxed");
	t_tag(out, "d", v, sizeof(v));
	assert_string_equal(v, "example.test");
	t_tag(out, "s", v, sizeof(v));
	assert_string_equal(v, "ed");
	t_tag(second, "s", v, sizeof(v));
	assert_string_equal(v, "rsa");
	t_tag(out, "t", v, sizeof(v));
	assert_string_equal(v, "1528637909");
	/* The recommended set as it occurs, From first and once more at the end; never Received, Bcc, X-. */
	t_tag(out, "h", v, sizeof(v));
	assert_string_equal(v, "from:to:cc:subject:date:message-id:mime-version:content-type:to:list-id:from");
	t_tag(second, "h", v, sizeof(v));
	assert_string_equal(v, "from:to:cc:subject:date:message-id:mime-version:content-type:to:list-id:from");
	assert_null(strstr(out, "l="));
	assert_null(strstr(out, "i="));
	/* bh= is the body's hash. */
	t_sha256_b64("body\r\n", 6, bh);
	t_tag(out, "bh", v, sizeof(v));
	assert_string_equal(v, bh);
	t_tag(second, "bh", v, sizeof(v));
	assert_string_equal(v, bh);
	t_tag(out, "b", v, sizeof(v));
	assert_int_equal(strlen(v), 88);	/* 64 bytes */
	t_tag(second, "b", v, sizeof(v));
	assert_int_equal(strlen(v), 344);	/* 256 bytes */

	/* Fed one byte at a time: the same fields (both signatures are deterministic). */
	assert_int_equal(t_sign(k, msg, sizeof(msg) - 1, 1, again, T_SIGS_MAX, &code), 0);
	assert_string_equal(again, out);
	assert_int_equal(t_sign(k, msg, sizeof(msg) - 1, 7, again, T_SIGS_MAX, &code), 0);
	assert_string_equal(again, out);

	/*
	 * b= is over the field as written with its b= value removed (3.7): taking
	 * the field back, as a verifier does, gives the same signature.
	 */
	d = dkim_new();
	assert_non_null(d);
	dkim_feed(d, msg, sizeof(msg) - 1);
	{
		static const char *const names[] = { "from", "to", "cc", "subject", "date", "message-id",
						     "mime-version", "content-type", "to", "list-id", "from" };
		char b64[1024];
		size_t n = (size_t)(second - out);

		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 11, out, n, b64, sizeof(b64), &code, err,
						 sizeof(err)),
				 0);
		t_tag(out, "b", v, sizeof(v));
		assert_string_equal(b64, v);
		assert_int_equal(dkim_sign_field(d, k->rsa, names, 11, second, strlen(second), b64, sizeof(b64),
						 &code, err, sizeof(err)),
				 0);
		t_tag(second, "b", v, sizeof(v));
		assert_string_equal(b64, v);
		/* Without the oversigned From the signature differs not: no instance is left for it. */
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 10, out, n, b64, sizeof(b64), &code, err,
						 sizeof(err)),
				 0);
		t_tag(out, "b", v, sizeof(v));
		assert_string_equal(b64, v);
		/* Without the second To it does. */
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 8, out, n, b64, sizeof(b64), &code, err,
						 sizeof(err)),
				 0);
		assert_string_not_equal(b64, v);
		/* Fields that are not one DKIM-Signature with one b=. */
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 1, S("DKIM-Signature: v=1; bh=x"), b64,
						 sizeof(b64), &code, err, sizeof(err)),
				 -1);
		assert_int_equal(code, DKIM_ERR_FIELD);
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 1, S("DKIM-Signature: b=1; b=2"), b64,
						 sizeof(b64), &code, err, sizeof(err)),
				 -1);
		assert_int_equal(code, DKIM_ERR_FIELD);
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 1, S("X-Signature: b="), b64, sizeof(b64),
						 &code, err, sizeof(err)),
				 -1);
		assert_int_equal(code, DKIM_ERR_FIELD);
		assert_int_equal(dkim_sign_field(d, k->ed25519, names, 1, S("DKIM-Signature: v=1;\r\n\r\n b="), b64,
						 sizeof(b64), &code, err, sizeof(err)),
				 -1);
		assert_int_equal(code, DKIM_ERR_FIELD);
	}
	/* The message has ended: more bytes are ignored. */
	dkim_feed(d, "X: late\r\n", 9);
	assert_int_equal(dkim_author_domain(d, v, sizeof(v), &code, err, sizeof(err)), 0);
	assert_string_equal(v, "example.test");
	assert_int_equal(dkim_author_domain(d, v, 12, &code, err, sizeof(err)), -1);
	assert_int_equal(code, DKIM_ERR_SPACE);
	dkim_free(&d);
	free(again);
	free(out);
}

/* Many recipients, a long subject, a long domain: folded under 78 columns, h= capped. */
static void
test_sign_folding(void **state)
{
	size_t cap = 64 * 1024, len;
	char *msg = malloc(cap), *out = malloc(T_SIGS_MAX), v[DKIM_SIGNATURE_MAX];
	enum dkim_err code;
	size_t names = 1;

	assert_non_null(msg);
	assert_non_null(out);
	len = (size_t)snprintf(msg, cap, "From: a@%s.example.test\r\nSubject:", "a-rather-long-label-of-the-author");
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(msg + len, cap - len, " word%d", i);
	len += (size_t)snprintf(msg + len, cap - len, "\r\n");
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(msg + len, cap - len, "To: r%d@example.net\r\n", i);
	len += (size_t)snprintf(msg + len, cap - len, "\r\nbody\r\n");
	assert_int_equal(t_sign(*state, msg, len, 0, out, T_SIGS_MAX, &code), 0);
	print_message("%s", out);
	assert_int_equal(t_check_lines(out), 2);
	t_tag(out, "h", v, sizeof(v));
	for (const char *p = v; (p = strchr(p, ':')) != NULL; p++)
		names++;
	assert_int_equal(names, DKIM_SIGN_FIELDS_MAX);
	assert_true(strncmp(v, "from:subject:to:to:", 19) == 0);
	assert_true(strlen(v) > 5 && strcmp(v + strlen(v) - 8, ":to:from") == 0);
	t_tag(out, "d", v, sizeof(v));
	assert_string_equal(v, "a-rather-long-label-of-the-author.example.test");
	free(out);
	free(msg);
}

/* ---- RFC 8463 Appendix A -------------------------------------------------------- */

/* A.1: the Ed25519 secret key (RFC 8032's test 1), and the RSA key. */
#define RFC8463_ED25519_SEED "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
static const char rfc8463_rsa_pem[] =
	"-----BEGIN RSA PRIVATE KEY-----\n"
	"MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
	"Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
	"KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
	"AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
	"6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
	"zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
	"6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
	"uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
	"WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
	"WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
	"licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
	"o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
	"uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
	"-----END RSA PRIVATE KEY-----\n";

/* A.2: the records. */
#define RFC8463_ED25519_RECORD "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC8463_RSA_RECORD                                                                      \
	"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR" \
	"6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5" \
	"QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"

/* A.3: the signed message. */
#define RFC8463_SIG_ED25519                                              \
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"  \
	" d=football.example.com; i=@football.example.com;\r\n"          \
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"        \
	" subject : date : message-id : from : subject : date;\r\n"      \
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"          \
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" \
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
#define RFC8463_SIG_RSA                                                 \
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"     \
	" d=football.example.com; i=@football.example.com;\r\n"         \
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n" \
	" date : message-id : from : subject : date;\r\n"               \
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"         \
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n" \
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n" \
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
#define RFC8463_MESSAGE                                                   \
	"From: Joe SixPack <joe@football.example.com>\r\n"                \
	"To: Suzie Q <suzie@shopping.example.net>\r\n"                    \
	"Subject: Is dinner ready?\r\n"                                   \
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"                 \
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" \
	"\r\n"                                                            \
	"Hi.\r\n"                                                         \
	"\r\n"                                                            \
	"We lost the game.  Are you hungry yet?\r\n"                      \
	"\r\n"                                                            \
	"Joe.\r\n"
#define RFC8463_BH "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
#define RFC8463_B_ED25519 "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="
#define RFC8463_B_RSA                                                    \
	"F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9" \
	"mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8="

static void
test_rfc8463(void **state)
{
	static const char *const names[] = { "from", "to", "subject", "date", "message-id", "from", "subject",
					     "date" };
	static const char signed_msg[] = RFC8463_SIG_ED25519 RFC8463_SIG_RSA RFC8463_MESSAGE;
	static const char *const msgs[] = { RFC8463_MESSAGE, signed_msg };
	char err[T_ERR_MAX], b64[1024], record[DKIMKEY_RECORD_MAX], bh[DKIM_BH_SIZE];
	uint8_t seed[32];
	size_t seedlen = 0;
	enum dkim_err code;
	EVP_PKEY *ed, *rsa;

	(void)state;
	assert_int_equal(b64_decode(S(RFC8463_ED25519_SEED), seed, sizeof(seed), &seedlen), 0);
	assert_int_equal(seedlen, 32);
	ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, seedlen);
	assert_non_null(ed);
	rsa = pemkey_parse(rfc8463_rsa_pem, sizeof(rfc8463_rsa_pem) - 1, err, sizeof(err));
	assert_non_null(rsa);

	/* A.2: our records of the keys are the RFC's. */
	assert_int_equal(dkimkey_record(ed, record, sizeof(record), err, sizeof(err)),
			 (int)strlen(RFC8463_ED25519_RECORD));
	assert_string_equal(record, RFC8463_ED25519_RECORD);
	assert_int_equal(dkimkey_record(rsa, record, sizeof(record), err, sizeof(err)),
			 (int)strlen(RFC8463_RSA_RECORD));
	assert_string_equal(record, RFC8463_RSA_RECORD);

	/* A.3: the message, unsigned or as published, whole or byte by byte. */
	for (size_t m = 0; m < 2; m++) {
		for (size_t step = 0; step <= 1; step++) {
			const char *msg = msgs[m];
			size_t len = strlen(msg);
			struct dkim *d = dkim_new();

			assert_non_null(d);
			for (size_t at = 0; at < len;) {
				size_t n = step == 0 ? len : 1;

				dkim_feed(d, msg + at, n);
				at += n;
			}
			assert_int_equal(dkim_body_hash(d, bh, &code, err, sizeof(err)), 0);
			assert_string_equal(bh, RFC8463_BH);
			assert_int_equal(dkim_author_domain(d, b64, sizeof(b64), &code, err, sizeof(err)), 0);
			assert_string_equal(b64, "football.example.com");

			assert_int_equal(dkim_sign_field(d, ed, names, 8, S(RFC8463_SIG_ED25519), b64, sizeof(b64),
							 &code, err, sizeof(err)),
					 0);
			assert_string_equal(b64, RFC8463_B_ED25519);
			assert_int_equal(dkim_sign_field(d, rsa, names, 8, S(RFC8463_SIG_RSA), b64, sizeof(b64), &code,
							 err, sizeof(err)),
					 0);
			assert_string_equal(b64, RFC8463_B_RSA);
			/* The field without its CRLF, and with b= already empty: the same. */
			assert_int_equal(dkim_sign_field(d, ed, names, 8, RFC8463_SIG_ED25519,
							 sizeof(RFC8463_SIG_ED25519) - 3, b64, sizeof(b64), &code, err,
							 sizeof(err)),
					 0);
			assert_string_equal(b64, RFC8463_B_ED25519);
			/* Too small for the base64. */
			assert_int_equal(dkim_sign_field(d, ed, names, 8, S(RFC8463_SIG_ED25519), b64, 88, &code,
							 err, sizeof(err)),
					 -1);
			assert_int_equal(code, DKIM_ERR_SPACE);
			dkim_free(&d);
		}
	}
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
}

/* dkimkey's side: key types, sizes, the signature of a digest. */
static void
test_dkimkey_sign(void **state)
{
	struct t_keys *k = *state;
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
	uint8_t digest[DKIMKEY_DIGEST_LEN] = { 1, 2, 3 }, sig[DKIMKEY_SIG_MAX];
	enum dkimkey_alg alg;
	char err[T_ERR_MAX];
	size_t len = 0;

	assert_non_null(small);
	assert_int_equal(dkimkey_key_alg(k->ed25519, &alg, err, sizeof(err)), 0);
	assert_int_equal(alg, DKIMKEY_ED25519);
	assert_int_equal(dkimkey_key_alg(k->rsa, &alg, err, sizeof(err)), 0);
	assert_int_equal(alg, DKIMKEY_RSA);
	assert_int_equal(dkimkey_key_alg(small, &alg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "768"));
	assert_int_equal(dkimkey_sign(small, digest, sig, sizeof(sig), &len, err, sizeof(err)), -1);

	assert_int_equal(dkimkey_sign(k->ed25519, digest, sig, sizeof(sig), &len, err, sizeof(err)), 0);
	assert_int_equal(len, 64);
	assert_int_equal(dkimkey_sign(k->ed25519, digest, sig, 63, &len, err, sizeof(err)), -1);
	assert_int_equal(dkimkey_sign(k->rsa, digest, sig, sizeof(sig), &len, err, sizeof(err)), 0);
	assert_int_equal(len, 256);
	assert_int_equal(dkimkey_sign(k->rsa, digest, sig, 255, &len, err, sizeof(err)), -1);
	EVP_PKEY_free(small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6376_example),
		cmocka_unit_test(test_rfc6376_example_signer),
		cmocka_unit_test(test_body_table),
		cmocka_unit_test(test_body_bounded),
		cmocka_unit_test(test_header_table),
		cmocka_unit_test(test_header_finish),
		cmocka_unit_test(test_header_caps),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_rfc8463),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_refuse_big_header),
		cmocka_unit_test(test_refuse_keys),
		cmocka_unit_test(test_sign_fields),
		cmocka_unit_test(test_sign_folding),
		cmocka_unit_test(test_dkimkey_sign),
	};

	/* Keys are made once (RSA takes a while). */
	return cmocka_run_group_tests(tests, t_keys_setup, t_keys_teardown);
}
