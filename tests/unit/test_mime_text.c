/*
 * Unit tests for home/mime_text.c (a message's text for the full-text
 * index) and home/mime_iconv.c (charsets through iconv).
 *
 * Expected texts are written out by hand from the messages. Every
 * message is also extracted through readers that hand out at most 1, 2,
 * 3, 7, 100 and 4096 bytes a call: the texts must be the same. Every
 * output is checked to be valid UTF-8 without NUL or CR by a checker of
 * this file's own, and to stay under its cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/mime.h"

static const size_t t_caps[MIME_TEXT_FIELDS] = {
	MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX,
	MIME_TEXT_FIELD_MAX, MIME_TEXT_HEADER_MAX, MIME_TEXT_BODY_MAX,
};

/* ---- a growable string ---- */

struct t_str {
	char *p;
	size_t len, cap;
};

static void
t_add(struct t_str *s, const void *d, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t ncap = s->cap == 0 ? 4096 : s->cap;

		while (ncap < s->len + n + 1)
			ncap *= 2;
		s->p = realloc(s->p, ncap);
		assert_non_null(s->p);
		s->cap = ncap;
	}
	memcpy(s->p + s->len, d, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
t_adds(struct t_str *s, const char *z)
{
	t_add(s, z, strlen(z));
}

/* ---- readers ---- */

struct t_reader {
	const uint8_t *msg;
	size_t len;
	size_t piece;		/* at most this many bytes a call; 0: as asked */
	uint64_t read;		/* bytes handed out */
	uint64_t lo, hi;	/* with hi > lo: reading any of [lo, hi) fails the test */
	int fail_at;		/* the call that returns -1 (1-based); 0: none */
	int calls;
};

static int
t_read(void *ctx, uint64_t off, uint8_t *buf, size_t cap, size_t *len_r)
{
	struct t_reader *r = ctx;
	size_t n;

	if (++r->calls == r->fail_at)
		return -1;
	if (off >= r->len) {
		*len_r = 0;
		return 0;
	}
	n = r->len - (size_t)off < cap ? r->len - (size_t)off : cap;
	if (r->piece != 0 && n > r->piece)
		n = r->piece;
	if (r->hi > r->lo && off < r->hi && off + n > r->lo)
		fail_msg("read [%llu, %llu) touches [%llu, %llu), which must not be read",
			 (unsigned long long)off, (unsigned long long)(off + n), (unsigned long long)r->lo,
			 (unsigned long long)r->hi);
	memcpy(buf, r->msg + off, n);
	r->read += n;
	*len_r = n;
	return 0;
}

/* A converter for the tests: "x-upper" is ASCII upper-cased, "x-full" fills out, others unknown. */
static int
t_conv(void *ctx, const char *charset, const uint8_t *in, size_t len, struct buf *out)
{
	(void)ctx;
	if (strcmp(charset, "x-full") == 0)
		return -1;
	if (strcmp(charset, "x-upper") != 0)
		return 1;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = in[i] >= 'a' && in[i] <= 'z' ? (uint8_t)(in[i] - 32) : in[i] < 0x80 ? in[i] : '?';

		if (buf_append(out, &b, 1) != 0)
			return -1;
	}
	return 0;
}

/* ---- checks ---- */

/* Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), written here again. */
static int
t_utf8_valid(const char *z, size_t n)
{
	const uint8_t *s = (const uint8_t *)z;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

static void
t_check(const struct mime_text *t)
{
	for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
		assert_non_null(t->text[f]);
		assert_int_equal(strlen(t->text[f]), t->len[f]);
		assert_true(t->len[f] <= t_caps[f]);
		if (!t_utf8_valid(t->text[f], t->len[f]))
			fail_msg("field %d is not valid UTF-8", f);
		assert_null(memchr(t->text[f], '\r', t->len[f]));
	}
}

/*
 * Extract msg[0..len) with a whole reader, then with piecemeal readers:
 * the same text each time. Returns the first (mime_text_free()).
 */
static struct mime_text *
t_extract_conv(const void *msg, size_t len, mime_word_charset_fn *conv, void *conv_ctx)
{
	static const size_t pieces[] = { 1, 2, 3, 7, 100, 4096 };
	struct t_reader r = { .msg = msg, .len = len };
	struct mime *m = NULL;
	struct mime_text *t = NULL, *u = NULL;

	assert_int_equal(mime_parse(msg, len, NULL, &m), 0);
	assert_int_equal(mime_text_extract(m, t_read, &r, conv, conv_ctx, &t), 0);
	t_check(t);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (len > 300000 && pieces[i] < 100)
			continue;	/* the big ones: enough with the larger pieces */
		memset(&r, 0, sizeof(r));
		r.msg = msg;
		r.len = len;
		r.piece = pieces[i];
		assert_int_equal(mime_text_extract(m, t_read, &r, conv, conv_ctx, &u), 0);
		for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
			if (u->len[f] != t->len[f] || memcmp(u->text[f], t->text[f], t->len[f]) != 0)
				fail_msg("field %d differs when read %zu bytes at a time", f, pieces[i]);
		}
		assert_int_equal(u->flags, t->flags);
		mime_text_free(&u);
	}
	mime_free(&m);
	return t;
}

static struct mime_text *
t_extract(const char *msg)
{
	return t_extract_conv(msg, strlen(msg), t_conv, NULL);
}

static void
t_field(const struct mime_text *t, int f, const char *want)
{
	if (strcmp(t->text[f], want) != 0)
		fail_msg("field %d:\n got [%s]\nwant [%s]", f, t->text[f], want);
}

/* ---- tests ---- */

static void
test_mime_text_plain(void **state)
{
	static const char msg[] =
		"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
		"To: Keith Moore <moore@cs.utk.edu>,\r\n"
		"\tKeld =?ISO-8859-1?Q?J=F8rn_Simonsen?= <keld@dkuug.dk>\r\n"
		"CC: =?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>\r\n"
		"Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?= =?UTF-8?Q?_again?=\r\n"
		"X-Long: one\r\n"
		"  two\r\n"
		"Bcc: hidden@example.test\r\n"
		"\r\n"
		"Line one,\r\n"
		"line two: caf\xc3\xa9.\r\n";
	struct mime_text *t = t_extract(msg);

	(void)state;
	t_field(t, MIME_TEXT_SUBJECT, "Hello W\xc3\xb6rld again");
	t_field(t, MIME_TEXT_FROM, "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
	t_field(t, MIME_TEXT_TO, "Keith Moore <moore@cs.utk.edu>,\tKeld J\xc3\xb8rn Simonsen <keld@dkuug.dk>");
	t_field(t, MIME_TEXT_CC, "Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>");
	t_field(t, MIME_TEXT_BCC, "hidden@example.test");
	t_field(t, MIME_TEXT_HEADER,
		"From: Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>\n"
		"To: Keith Moore <moore@cs.utk.edu>,\tKeld J\xc3\xb8rn Simonsen <keld@dkuug.dk>\n"
		"CC: Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>\n"
		"Subject: Hello W\xc3\xb6rld again\n"
		"X-Long: one  two\n"
		"Bcc: hidden@example.test\n");
	t_field(t, MIME_TEXT_BODY, "Line one,\nline two: caf\xc3\xa9.\n");
	assert_int_equal(t->flags, 0);
	mime_text_free(&t);
	assert_null(t);
	mime_text_free(&t);	/* NULL is fine */
}

/* One text/plain part in each transfer encoding and charset: body bytes in, text out. */
static void
test_mime_text_encodings(void **state)
{
	static const struct {
		const char *cte, *charset, *body, *want;
	} cases[] = {
		{ NULL, NULL, "plain\r\n", "plain\n" },
		{ "7bit", "us-ascii", "seven bit\r\n", "seven bit\n" },
		{ "8bit", "utf-8", "\xe2\x82\xac 5\r\n", "\xe2\x82\xac 5\n" },
		{ "8bit", "iso-8859-1", "\xe9t\xe9\r\n", "\xc3\xa9t\xc3\xa9\n" },
		{ "8bit", "windows-1252", "\x80 \x93q\x94\r\n", "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d\n" },
		{ "base64", "utf-8", "SGVsbG8s\r\nIHfDtnJsZCE=\r\n", "Hello, w\xc3\xb6rld!" },
		{ "BASE64", NULL, "  SGk=\r\nSGk=\r\n", "HiHi" },
		{ "base64", NULL, "SG*V#s!bG8\r\n", "Hello" },
		{ "base64", NULL, "SGVsbG8", "Hello" },
		{ "quoted-printable", "iso-8859-1", "caf=E9 cr=\r\n=E8me\r\n", "caf\xc3\xa9 cr\xc3\xa8me\n" },
		{ "Quoted-Printable", "utf-8", "soft=\nbreak =3D =3d\r\n", "softbreak = =\n" },
		{ "quoted-printable", NULL, "bad =ZZ =4 =\r\nx=", "bad =ZZ =4 x=" },
		{ "quoted-printable", NULL, "==41 =4=42 =\rX", "=A =4B =X" },
		{ "quoted-printable", NULL, "end =4", "end =4" },
		{ "8bit", "utf-8", "bad \xff\xc3 end\r\n", "bad \xef\xbf\xbd\xef\xbf\xbd end\n" },
		{ "8bit", "x-upper", "to upper\r\n", "TO UPPER\n" },
		{ "8bit", "x-nobody-knows", "ok \xc3\xa9 \xe9\r\n", "ok \xc3\xa9 \xef\xbf\xbd\n" },
		{ "8bit", "x-full", "taken as UTF-8\r\n", "taken as UTF-8\n" },
		{ "x-uuencode", NULL, "as it is\r\n", "as it is\n" },
		{ "8bit", NULL, "nul\0here\r\n", "nul here\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_str m = { 0 };
		struct mime_text *t;
		size_t blen = strlen(cases[i].body);

		if (strcmp(cases[i].want, "nul here\n") == 0)
			blen = 10;
		t_adds(&m, "Subject: case\r\nContent-Type: text/plain");
		if (cases[i].charset != NULL) {
			t_adds(&m, "; charset=\"");
			t_adds(&m, cases[i].charset);
			t_adds(&m, "\"");
		}
		t_adds(&m, "\r\n");
		if (cases[i].cte != NULL) {
			t_adds(&m, "Content-Transfer-Encoding: ");
			t_adds(&m, cases[i].cte);
			t_adds(&m, "\r\n");
		}
		t_adds(&m, "\r\n");
		t_add(&m, cases[i].body, blen);
		t = t_extract_conv(m.p, m.len, t_conv, NULL);
		if (strcmp(t->text[MIME_TEXT_BODY], cases[i].want) != 0)
			fail_msg("case %zu: got [%s], want [%s]", i, t->text[MIME_TEXT_BODY], cases[i].want);
		mime_text_free(&t);
		free(m.p);
	}
}

/*
 * A multipart with text, HTML, an image, an embedded message and a
 * nested alternative: the text parts and the embedded header are there,
 * in order; the image is never read.
 */
static void
test_mime_text_multipart(void **state)
{
	struct t_str m = { 0 };
	struct t_reader r = { 0 };
	struct mime *mm = NULL;
	struct mime_text *t = NULL;
	const char *img;
	size_t img_at;

	(void)state;
	t_adds(&m, "Subject: parts\r\n"
		   "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
		   "preamble is not text\r\n"
		   "--outer\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		   "first part\r\n"
		   "--outer\r\n"
		   "Content-Type: image/png\r\n"
		   "Content-Transfer-Encoding: base64\r\n\r\n");
	img_at = m.len;
	t_adds(&m, "aW1hZ2UgYnl0ZXMgbmV2ZXIgcmVhZA==\r\n");	/* "image bytes never read" */
	t_adds(&m, "--outer\r\n"
		   "Content-Type: message/rfc822\r\n\r\n"
		   "Subject: =?utf-8?q?inner_subj=C3=A9ct?=\r\n"
		   "From: inner@example.test\r\n"
		   "Content-Type: multipart/alternative; boundary=alt\r\n\r\n"
		   "--alt\r\n"
		   "Content-Type: text/plain\r\n\r\n"
		   "inner text\r\n"
		   "--alt\r\n"
		   "Content-Type: text/html; charset=iso-8859-1\r\n"
		   "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		   "<p>inner caf=E9</p>\r\n"
		   "--alt--\r\n"
		   "--outer\r\n"
		   "Content-Type: application/octet-stream\r\n\r\n"
		   "binary stuff\r\n"
		   "--outer--\r\n"
		   "epilogue is not text\r\n");
	img = strstr(m.p, "aW1hZ2");
	assert_non_null(img);
	t = t_extract(m.p);
	t_field(t, MIME_TEXT_SUBJECT, "parts");
	t_field(t, MIME_TEXT_HEADER, "Subject: parts\nContent-Type: multipart/mixed; boundary=outer\n");
	t_field(t, MIME_TEXT_BODY,
		"first part\n"
		"Subject: inner subj\xc3\xa9" "ct\n"
		"From: inner@example.test\n"
		"Content-Type: multipart/alternative; boundary=alt\n"
		"inner text\n"
		"<p>inner caf\xc3\xa9</p>");	/* the CRLF before a boundary is the boundary's */
	mime_text_free(&t);

	/* The image's bytes are not read at all. */
	assert_int_equal(mime_parse(m.p, m.len, NULL, &mm), 0);
	r.msg = (const uint8_t *)m.p;
	r.len = m.len;
	r.lo = img_at;
	r.hi = img_at + 32;
	assert_int_equal(mime_text_extract(mm, t_read, &r, NULL, NULL, &t), 0);
	assert_null(strstr(t->text[MIME_TEXT_BODY], "image"));
	assert_true(r.read < m.len);
	mime_text_free(&t);

	/* The reader's failure is the extraction's, at every call. */
	for (int k = 1;; k++) {
		memset(&r, 0, sizeof(r));
		r.msg = (const uint8_t *)m.p;
		r.len = m.len;
		r.fail_at = k;
		if (mime_text_extract(mm, t_read, &r, NULL, NULL, &t) == 0) {
			assert_true(k > 3);
			mime_text_free(&t);
			break;
		}
		assert_null(t);
	}
	mime_free(&mm);
	free(m.p);
}

/*
 * Windows: long lines without a line end, in UTF-8 and Latin-1, and the
 * same text broken in lines, come out whole (no character split where a
 * window was cut).
 */
static void
test_mime_text_windows(void **state)
{
	static const struct {
		const char *charset, *unit, *want;
		const char *sep;	/* after every unit; "" none */
	} cases[] = {
		{ "utf-8", "\xc3\xa9", "\xc3\xa9", "" },
		{ "utf-8", "a\xe2\x82\xac", "a\xe2\x82\xac", "" },
		{ "utf-8", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "" },
		{ "iso-8859-1", "\xe9", "\xc3\xa9", "" },
		{ "windows-1252", "\x80\xb0", "\xe2\x82\xac\xc2\xb0", "" },
		{ "utf-8", "w\xc3\xb6rd", "w\xc3\xb6rd", " " },
		{ "utf-8", "line \xe2\x82\xac", "line \xe2\x82\xac", "\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_str m = { 0 }, want = { 0 };
		struct mime_text *t;

		t_adds(&m, "Content-Type: text/plain; charset=");
		t_adds(&m, cases[i].charset);
		t_adds(&m, "\r\n\r\nx");
		t_adds(&want, "x");
		for (int k = 0; k < 30000; k++) {
			t_adds(&m, cases[i].unit);
			t_adds(&m, cases[i].sep);
			t_adds(&want, cases[i].want);
			t_adds(&want, strcmp(cases[i].sep, "\r\n") == 0 ? "\n" : cases[i].sep);
		}
		t = t_extract(m.p);
		if (strcmp(t->text[MIME_TEXT_BODY], want.p) != 0)
			fail_msg("case %zu: %zu bytes, want %zu", i, t->len[MIME_TEXT_BODY], want.len);
		mime_text_free(&t);
		free(m.p);
		free(want.p);
	}
}

/* Caps: the body, the header and a field are cut at a character boundary, and reading stops. */
static void
test_mime_text_caps(void **state)
{
	struct t_str m = { 0 };
	struct t_reader r = { 0 };
	struct mime *mm = NULL;
	struct mime_text *t;
	size_t body_at;

	(void)state;
	t_adds(&m, "Subject: ");
	for (int k = 0; k < 10000; k++)
		t_adds(&m, "\xc3\xa9");
	t_adds(&m, "\r\n");
	for (int k = 0; k < 20000; k++)
		t_adds(&m, "X-Filler: some header text to fill the header block\r\n");
	t_adds(&m, "\r\n");
	body_at = m.len;
	for (int k = 0; k < 250000; k++)
		t_adds(&m, "\xe2\x82\xac body text line\r\n");
	t = t_extract_conv(m.p, m.len, NULL, NULL);
	assert_int_equal(t->flags & MIME_TEXT_F_CUT, MIME_TEXT_F_CUT);
	/* Cut before a character that did not fit: within 3 bytes of the cap. */
	assert_true(t->len[MIME_TEXT_BODY] + 3 >= MIME_TEXT_BODY_MAX);
	assert_true(t->len[MIME_TEXT_HEADER] + 3 >= MIME_TEXT_HEADER_MAX);
	assert_true(t->len[MIME_TEXT_SUBJECT] > 1000);
	assert_int_equal(memcmp(t->text[MIME_TEXT_BODY], "\xe2\x82\xac body text line\n", 19), 0);
	mime_text_free(&t);

	/* Reading stops once the body is full: far less than the 5 MB of body. */
	assert_int_equal(mime_parse(m.p, m.len, NULL, &mm), 0);
	r.msg = (const uint8_t *)m.p;
	r.len = m.len;
	assert_int_equal(mime_text_extract(mm, t_read, &r, NULL, NULL, &t), 0);
	assert_true(r.read < body_at + MIME_TEXT_BODY_MAX + MIME_TEXT_BODY_MAX / 8);
	assert_true(m.len - body_at > 4 * (size_t)MIME_TEXT_BODY_MAX);
	mime_text_free(&t);
	mime_free(&mm);
	free(m.p);
}

/* Odd messages: no header, no body, header only, bare LF, a table longer than the bytes. */
static void
test_mime_text_odd(void **state)
{
	static const struct {
		const char *msg, *header, *body;
	} cases[] = {
		{ "", "", "" },
		{ "\r\n", "", "" },
		{ "\r\nbody only\r\n", "", "body only\n" },
		{ "Subject: header only", "Subject: header only\n", "" },
		{ "Subject: lf\n\nbare\nlf\n", "Subject: lf\n", "bare\nlf\n" },
		{ " continued first\r\nA: b\r\n\r\nx", " continued first\nA: b\n", "x" },
		{ "A: =?utf-8?q?cut", "A: =?utf-8?q?cut\n", "" },
	};
	struct t_reader r = { 0 };
	struct mime *m = NULL;
	struct mime_text *t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = t_extract(cases[i].msg);
		if (strcmp(t->text[MIME_TEXT_HEADER], cases[i].header) != 0 ||
		    strcmp(t->text[MIME_TEXT_BODY], cases[i].body) != 0)
			fail_msg("case %zu: header [%s] body [%s]", i, t->text[MIME_TEXT_HEADER],
				 t->text[MIME_TEXT_BODY]);
		mime_text_free(&t);
	}

	/* The bytes end before the table says: what is there, no more. */
	assert_int_equal(mime_parse("Subject: s\r\n\r\n0123456789", 24, NULL, &m), 0);
	r.msg = (const uint8_t *)"Subject: s\r\n\r\n01234";
	r.len = 19;
	assert_int_equal(mime_text_extract(m, t_read, &r, NULL, NULL, &t), 0);
	t_field(t, MIME_TEXT_BODY, "01234");
	mime_text_free(&t);
	mime_free(&m);
}

/* Other charsets through iconv: single-byte, multi-byte, stateful, UTF-16; bad bytes. */
static void
test_mime_text_iconv(void **state)
{
	static const struct {
		const char *charset;
		const char *in;
		size_t len;
		const char *want;
		int rc;
	} cases[] = {
		{ "ISO-8859-2", "\xb3\xf3\xbf", 3, "\xc5\x82\xc3\xb3\xc5\xbc", 0 },
		{ "koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", 6, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 0 },
		{ "Shift_JIS", "\x93\xfa\x96\x7b", 4, "\xe6\x97\xa5\xe6\x9c\xac", 0 },
		{ "ISO-2022-JP", "\x1b$BF|K\\\x1b(B", 10, "\xe6\x97\xa5\xe6\x9c\xac", 0 },
		{ "UTF-16LE", "h\0i\0", 4, "hi", 0 },
		{ "Shift_JIS", "a\x93", 2, "a\xef\xbf\xbd", 0 },	/* cut at the end */
		{ "UTF-8", "a\xff" "b", 3, "a\xef\xbf\xbd" "b", 0 },	/* iconv's own UTF-8 check */
		{ "x-no-such-charset", "a", 1, "", 1 },
		{ "ISO-8859-2//TRANSLIT", "a", 1, "", 1 },
		{ "../../etc/passwd", "a", 1, "", 1 },
		{ "", "a", 1, "a", 0 },				/* no name: UTF-8, mime_word's */
	};
	struct mime_iconv *ic = NULL;
	struct buf *out = buf_new(64);
	struct buf *tiny = buf_new(4);

	(void)state;
	assert_non_null(out);
	assert_non_null(tiny);
	assert_int_equal(mime_iconv_new(&ic), 0);
	for (int round = 0; round < 2; round++) {	/* twice: the kept descriptor must be reset */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			int rc;

			out->len = 0;
			rc = mime_word_decode_charset(cases[i].charset, (const uint8_t *)cases[i].in,
						      cases[i].len, out, mime_iconv_convert, ic);
			if (rc != cases[i].rc || out->len != strlen(cases[i].want) ||
			    memcmp(out->data, cases[i].want, out->len) != 0)
				fail_msg("case %zu (%s): rc %d, %zu bytes", i, cases[i].charset, rc, out->len);
		}
	}
	/* Full: -1 and nothing appended. */
	assert_int_equal(buf_append(tiny, "ab", 2), 0);
	assert_int_equal(mime_word_decode_charset("koi8-r", (const uint8_t *)"\xf0\xd2", 2, tiny,
						  mime_iconv_convert, ic), -1);
	assert_int_equal(tiny->len, 2);
	mime_iconv_free(&ic);
	assert_null(ic);
	mime_iconv_free(&ic);
	buf_free(&out);
	buf_free(&tiny);

	/* Through the extractor: a KOI8-R part in quoted-printable, a Shift_JIS one in base64. */
	{
		static const char msg[] =
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			"--b\r\nContent-Type: text/plain; charset=koi8-r\r\n"
			"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
			"=F0=D2=C9=D7=C5=D4\r\n"
			"--b\r\nContent-Type: text/plain; charset=shift_jis\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\n"
			"k/qWew==\r\n"
			"--b--\r\n";
		struct mime_text *t;

		assert_int_equal(mime_iconv_new(&ic), 0);
		t = t_extract_conv(msg, sizeof(msg) - 1, mime_iconv_convert, ic);
		t_field(t, MIME_TEXT_BODY, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n\xe6\x97\xa5\xe6\x9c\xac");
		mime_text_free(&t);
		mime_iconv_free(&ic);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_text_plain),
		cmocka_unit_test(test_mime_text_encodings),
		cmocka_unit_test(test_mime_text_multipart),
		cmocka_unit_test(test_mime_text_windows),
		cmocka_unit_test(test_mime_text_caps),
		cmocka_unit_test(test_mime_text_odd),
		cmocka_unit_test(test_mime_text_iconv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
