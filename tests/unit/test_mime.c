/*
 * Unit tests for home/mime*.c: the MIME structure IMAP needs, computed
 * while a message streams in.
 *
 * Every message is parsed whole, one byte at a time and in pieces of
 * several sizes (small ones also split in two at every position), and the
 * tables must be identical (compared as blobs, which hold all of them).
 * Every table is checked against the message by means that do not use the
 * parser: each body's line count is the LFs in its bytes, offsets stay
 * inside the message, every part's section number finds that part, the
 * blob reads back to the same blob and the same IMAP strings.
 *
 * Expected BODYSTRUCTURE and ENVELOPE strings are written from RFC 3501
 * 7.4.2 (sizes counted from the bodies the generators write); the same
 * messages given to Dovecot 2.3.19 answer the same strings except where
 * docs/mime.md says why not (T_MIME_DUMP=dir writes the generated
 * messages out for that comparison).
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

#include "../../home/mime.h"

#define T_DATA_DIR "tests/unit/data/mime/"
#define T_OUT_MAX (8 * 1024 * 1024)	/* the longest IMAP string a test writes */
#define T_SPLIT_ALL_MAX 4096		/* messages up to this are split at every position */
#define T_FOX "The quick brown fox jumps over the lazy dog.\r\n"
#define T_FOX_LEN 46
#define T_B64_LINE 76
#define T_ATTACH_LINES 91980		/* 76-column base64 lines: 91980 * 57 bytes is 5 MiB */
#define T_BIG_ATTACH 8			/* the 50 MiB message: eight attachments of ... */
#define T_BIG_LINES 86000		/* ... 86000 lines each: 8 * 86000 * 78 bytes, 50.4 MiB */

/* A string literal as (bytes, length). */
#define S(x) (const uint8_t *)(x), sizeof(x) - 1

/* ---- a growable byte string for building messages and expectations ---- */

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

static void __attribute__((format(printf, 2, 3)))
t_cat(struct t_str *s, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	t_add(s, tmp, (size_t)n);
}

static void
t_str_free(struct t_str *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* n lines of base64-looking text (76 columns, CRLF), from a fixed pseudo-random sequence. */
static void
t_b64_lines(struct t_str *s, size_t n, uint32_t seed)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[T_B64_LINE + 2];

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < T_B64_LINE; k++) {
			seed = seed * 1103515245u + 12345u;
			line[k] = al[(seed >> 16) & 63];
		}
		line[T_B64_LINE] = '\r';
		line[T_B64_LINE + 1] = '\n';
		t_add(s, line, sizeof(line));
	}
}

static uint8_t *
t_read(const char *name, size_t *len_r)
{
	char path[256];
	FILE *f;
	uint8_t *d;
	long n;

	snprintf(path, sizeof(path), "%s%s", T_DATA_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	d = malloc((size_t)n);
	assert_non_null(d);
	assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len_r = (size_t)n;
	return d;
}

/* With T_MIME_DUMP=dir set, write a generated message there (for the Dovecot comparison). */
static void
t_dump(const char *name, const void *d, size_t len)
{
	const char *dir = getenv("T_MIME_DUMP");
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, len, f), len);
	fclose(f);
}

/* ---- parsing in pieces, and what must hold of every table ---- */

/* Parse d[0..len) fed in pieces of step bytes (0: whole). */
static struct mime *
t_parse(const void *d, size_t len, const struct mime_limits *lim, size_t step)
{
	struct mime_parser *p = NULL;
	struct mime *m = NULL;
	const uint8_t *b = d;

	assert_int_equal(mime_parser_new(lim, &p), 0);
	if (step == 0)
		step = len > 0 ? len : 1;
	for (size_t i = 0; i < len; i += step)
		assert_int_equal(mime_parser_feed(p, b + i, len - i < step ? len - i : step), 0);
	/* Nothing fed is fine too. */
	assert_int_equal(mime_parser_feed(p, b, 0), 0);
	assert_int_equal(mime_parser_finish(p, &m), 0);
	assert_non_null(m);
	/* A finished parser takes nothing more. */
	assert_int_equal(mime_parser_feed(p, "x", 1), -1);
	assert_int_equal(mime_parser_finish(p, &m), -1);
	mime_parser_free(&p);
	assert_null(p);
	return m;
}

/* Parse d[0..len) in two calls cut at k. */
static struct mime *
t_parse_split(const void *d, size_t len, const struct mime_limits *lim, size_t k)
{
	struct mime_parser *p = NULL;
	struct mime *m = NULL;

	assert_int_equal(mime_parser_new(lim, &p), 0);
	assert_int_equal(mime_parser_feed(p, d, k), 0);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)d + k, len - k), 0);
	assert_int_equal(mime_parser_finish(p, &m), 0);
	mime_parser_free(&p);
	return m;
}

struct t_blob {
	uint8_t *p;
	size_t len;
};

static struct t_blob
t_blob(const struct mime *m)
{
	struct t_blob b = { NULL, 0 };

	assert_int_equal(mime_blob_write(m, &b.p, &b.len), 0);
	return b;
}

static void
t_same(const struct mime *a, const struct mime *b, const char *how)
{
	struct t_blob x = t_blob(a), y = t_blob(b);

	if (x.len != y.len || memcmp(x.p, y.p, x.len) != 0)
		fail_msg("%s: a different table (blob %zu bytes vs %zu)", how, x.len, y.len);
	free(x.p);
	free(y.p);
}

/*
 * BODYSTRUCTURE (extended) or BODY (extended 0) of part i, or with
 * extended -1 its ENVELOPE; NUL-terminated, the caller frees. A buffer of
 * 64 KiB first, T_OUT_MAX when that is too small.
 */
static char *
t_imap(const struct mime *m, uint32_t i, int extended)
{
	for (size_t cap = 64 * 1024;; cap = T_OUT_MAX) {
		struct buf *b = buf_new(cap);
		char *s;
		int rc;

		assert_non_null(b);
		rc = extended < 0 ? mime_imap_envelope(m, i, b) : mime_imap_bodystructure(m, i, extended, b);
		if (rc != 0 && cap < T_OUT_MAX) {
			buf_free(&b);
			continue;
		}
		assert_int_equal(rc, 0);
		s = strndup((const char *)b->data, b->len);
		assert_non_null(s);
		buf_free(&b);
		return s;
	}
}

static char *
t_bs(const struct mime *m, uint32_t i, int extended)
{
	return t_imap(m, i, extended);
}

static char *
t_env(const struct mime *m, uint32_t i)
{
	return t_imap(m, i, -1);
}

static size_t
t_lfs(const uint8_t *d, size_t len)
{
	size_t n = 0;

	for (const uint8_t *p = d; (p = memchr(p, '\n', len - (size_t)(p - d))) != NULL; p++)
		n++;
	return n;
}

/*
 * What holds of every table of d[0..len): sizes, offsets inside the
 * message, line counts as the LFs of each body, sections that find their
 * part, the tree's shape, and a blob that reads back the same.
 */
static void
t_invariants(const struct mime *m, const uint8_t *d, size_t len)
{
	struct t_blob b1, b2;
	struct mime *back = NULL;
	char sec[4096];

	assert_int_equal(m->size, len);
	assert_int_equal(m->lines, t_lfs(d, len));
	assert_true(m->nparts >= 1);
	assert_int_equal(m->parts[0].subtree, m->nparts);
	assert_true(m->parts[0].flags & MIME_PART_MESSAGE);
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct mime_part *pt = &m->parts[i];
		int n;
		int64_t f;

		assert_true(pt->header_offset <= len);
		assert_int_equal(pt->body_offset, pt->header_offset + pt->header_size);
		assert_true(pt->body_offset + pt->body_size <= len);
		if (pt->body_lines != t_lfs(d + pt->body_offset, pt->body_size))
			fail_msg("part %u: %llu lines, its body has %zu LFs", i,
				 (unsigned long long)pt->body_lines, t_lfs(d + pt->body_offset, pt->body_size));
		if (pt->parent != MIME_NONE) {
			const struct mime_part *pp = &m->parts[pt->parent];

			assert_true(pt->parent < i);
			assert_int_equal(pt->depth, pp->depth + 1);
			/* A part starts inside its parent's body. */
			assert_true(pt->header_offset >= pp->body_offset);
			assert_true(pt->header_offset <= pp->body_offset + pp->body_size + 2);
		}
		/* The section number finds the part (an RFC822 part's multipart message shares its number). */
		n = mime_section(m, i, sec, sizeof(sec));
		assert_true(n >= 0);
		if (n == 0) {
			assert_int_equal(i, 0);
			assert_true(pt->flags & MIME_PART_MULTIPART);
			continue;
		}
		f = mime_find(m, sec, (size_t)n);
		if (f != (int64_t)i && !(f == (int64_t)pt->parent && (pt->flags & MIME_PART_MULTIPART) &&
					 (m->parts[pt->parent].flags & MIME_PART_RFC822)))
			fail_msg("part %u: section %s finds %lld", i, sec, (long long)f);
	}
	/* The blob reads back to the same blob and the same strings. */
	b1 = t_blob(m);
	assert_int_equal(mime_blob_read(b1.p, b1.len, &back), 0);
	b2 = t_blob(back);
	assert_int_equal(b1.len, b2.len);
	assert_memory_equal(b1.p, b2.p, b1.len);
	{
		char *x = t_bs(m, 0, 1), *y = t_bs(back, 0, 1);

		assert_string_equal(x, y);
		free(x);
		free(y);
		x = t_env(m, 0);
		y = t_env(back, 0);
		assert_string_equal(x, y);
		free(x);
		free(y);
	}
	mime_free(&back);
	assert_null(back);
	free(b1.p);
	free(b2.p);
}

/*
 * Parse d[0..len) whole, one byte at a time, in pieces of several sizes and
 * (when small) split in two everywhere; all must agree. Returns the table.
 */
static struct mime *
t_all(const void *d, size_t len, const struct mime_limits *lim)
{
	static const size_t steps[] = { 1, 2, 3, 7, 64, 4096, 65536 };
	struct mime *m = t_parse(d, len, lim, 0);

	t_invariants(m, d, len);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct mime *o = t_parse(d, len, lim, steps[k]);
		char how[64];

		snprintf(how, sizeof(how), "pieces of %zu", steps[k]);
		t_same(m, o, how);
		mime_free(&o);
	}
	if (len <= T_SPLIT_ALL_MAX) {
		for (size_t k = 0; k <= len; k++) {
			struct mime *o = t_parse_split(d, len, lim, k);
			char how[64];

			snprintf(how, sizeof(how), "split at %zu", k);
			t_same(m, o, how);
			mime_free(&o);
		}
	}
	return m;
}

static void
t_expect_bs(const struct mime *m, uint32_t i, int extended, const char *want)
{
	char *got = t_bs(m, i, extended);

	if (strcmp(got, want) != 0)
		fail_msg("BODYSTRUCTURE of %u:\n got  %s\n want %s", i, got, want);
	free(got);
}

static void
t_expect_env(const struct mime *m, uint32_t i, const char *want)
{
	char *got = t_env(m, i);

	if (strcmp(got, want) != 0)
		fail_msg("ENVELOPE of %u:\n got  %s\n want %s", i, got, want);
	free(got);
}

/* The body (what = 'B'), MIME header ('M'), or, of an RFC822 part, HEADER ('H') and TEXT ('T') of a section. */
static void
t_expect_section(const struct mime *m, const uint8_t *d, const char *section, char what, const char *want)
{
	int64_t i = mime_find(m, section, strlen(section));
	const struct mime_part *pt;
	uint64_t off, size;

	if (i < 0)
		fail_msg("section %s: not found", section);
	pt = &m->parts[i];
	if (what == 'H' || what == 'T') {
		assert_true(pt->flags & MIME_PART_RFC822);
		assert_int_equal(pt->children, 1);
		pt = &m->parts[i + 1];
	}
	off = what == 'B' || what == 'T' ? pt->body_offset : pt->header_offset;
	size = what == 'B' || what == 'T' ? pt->body_size : pt->header_size;
	if (size != strlen(want) || memcmp(d + off, want, size) != 0)
		fail_msg("section %s.%c: got '%.*s', want '%s'", section, what, (int)size,
			 (const char *)d + off, want);
}

/* ---- the measurement corpus (docs/mime.md), generated ---- */

#define T_HEAD(subject, id) \
	"From: Alice Example <alice@example.org>\r\n" \
	"To: Bob <bob@example.net>\r\n" \
	"Subject: " subject "\r\n" \
	"Date: Mon, 6 May 2024 10:00:00 +0000\r\n" \
	"Message-ID: <" id "@example.org>\r\n" \
	"MIME-Version: 1.0\r\n"

#define T_ENV(subject, id) \
	"(\"Mon, 6 May 2024 10:00:00 +0000\" \"" subject "\" " \
	"((\"Alice Example\" NIL \"alice\" \"example.org\")) " \
	"((\"Alice Example\" NIL \"alice\" \"example.org\")) " \
	"((\"Alice Example\" NIL \"alice\" \"example.org\")) " \
	"((\"Bob\" NIL \"bob\" \"example.net\")) NIL NIL NIL \"<" id "@example.org>\")"

static void
t_gen_plain(struct t_str *s)
{
	t_cat(s, T_HEAD("plain text", "plain") "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	t_cat(s, "Hello Bob,\r\n");
	for (int i = 0; i < 40; i++)
		t_cat(s, T_FOX);
}

static void
t_gen_alternative(struct t_str *s)
{
	t_cat(s, T_HEAD("alternative", "alt") "Content-Type: multipart/alternative; boundary=\"alt-1\"\r\n\r\n");
	t_cat(s, "--alt-1\r\nContent-Type: text/plain; charset=utf-8\r\n"
		 "Content-Transfer-Encoding: quoted-printable\r\n\r\nHello Bob,\r\n");
	for (int i = 0; i < 10; i++)
		t_cat(s, T_FOX);
	t_cat(s, "--alt-1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n");
	for (int i = 0; i < 10; i++)
		t_cat(s, "<p>The quick brown fox jumps over the lazy dog.</p>\r\n");
	t_cat(s, "</body></html>\r\n--alt-1--\r\n");
}

/* multipart/mixed: a text part and n attachments of lines base64 lines each. */
static void
t_gen_mixed(struct t_str *s, const char *subject, size_t n, size_t lines)
{
	t_cat(s, T_HEAD("%s", "mixed") "Content-Type: multipart/mixed; boundary=\"mix-1\"\r\n\r\n", subject);
	t_cat(s, "This is a multi-part message in MIME format.\r\n");
	t_cat(s, "--mix-1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n");
	for (size_t i = 0; i < n; i++) {
		t_cat(s, "--mix-1\r\nContent-Type: application/octet-stream; name=\"file%zu.bin\"\r\n"
			 "Content-Transfer-Encoding: base64\r\n"
			 "Content-Disposition: attachment; filename=\"file%zu.bin\"\r\n\r\n", i, i);
		t_b64_lines(s, lines, (uint32_t)i + 1);
	}
	t_cat(s, "--mix-1--\r\n");
}

static void
t_expect_mixed(struct t_str *e, size_t n, size_t lines)
{
	t_cat(e, "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 19 0 NIL NIL NIL NIL)");
	for (size_t i = 0; i < n; i++)
		t_cat(e, "(\"application\" \"octet-stream\" (\"name\" \"file%zu.bin\") NIL NIL \"base64\" %zu NIL "
			 "(\"attachment\" (\"filename\" \"file%zu.bin\")) NIL NIL)",
		      i, lines * (T_B64_LINE + 2) - 2, i);
	t_cat(e, " \"mixed\" (\"boundary\" \"mix-1\") NIL NIL NIL)");
}

#define T_INNER \
	"From: Dave <dave@example.net>\r\n" \
	"To: Alice <alice@example.org>\r\n" \
	"Subject: inner\r\n" \
	"Date: Sun, 5 May 2024 09:00:00 +0000\r\n" \
	"Message-ID: <inner@example.net>\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/alternative; boundary=\"in-alt\"\r\n" \
	"\r\n" \
	"--in-alt\r\n" \
	"Content-Type: text/plain\r\n" \
	"\r\n" \
	"inner text\r\n" \
	"--in-alt\r\n" \
	"Content-Type: text/html\r\n" \
	"\r\n" \
	"<p>inner html</p>\r\n" \
	"--in-alt--\r\n"

static void
t_gen_rfc822(struct t_str *s)
{
	t_cat(s, T_HEAD("forwarded", "fwd") "Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n");
	t_cat(s, "--fwd\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n");
	t_cat(s, "--fwd\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" T_INNER);
	t_cat(s, "--fwd--\r\n");
}

static void
t_gen_parts(struct t_str *s, int n)
{
	t_cat(s, T_HEAD("hundred parts", "many") "Content-Type: multipart/mixed; boundary=\"many\"\r\n\r\n");
	for (int i = 1; i <= n; i++)
		t_cat(s, "--many\r\nContent-Type: text/plain; name=\"p%d.txt\"\r\n\r\npart %d\r\n", i, i);
	t_cat(s, "--many--\r\n");
}

/* Only "--" and the boundary delimit: "-xb" inside a part is text (found by fuzz_dsn). */
static void
test_mime_one_dash_is_text(void **state)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
				  "--b\r\nContent-Type: text/plain\r\n\r\none\r\n-xb\r\n-bb\r\ntwo\r\n"
				  "--b--\r\n";
	struct mime *m;

	(void)state;
	m = t_all(msg, sizeof(msg) - 1, NULL);
	assert_int_equal(m->nparts, 2);		/* the multipart and its one text part */
	assert_int_equal(m->parts[1].body_lines, 3);	/* the CRLF before "--b--" is the boundary's */
	mime_free(&m);
}

static void
test_mime_corpus(void **state)
{
	struct t_str s = { 0 }, e = { 0 };
	struct mime *m;

	(void)state;
	/* Plain text: 12 + 40 * 46 bytes, 41 lines. */
	t_gen_plain(&s);
	t_dump("1-plain.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_expect_bs(m, 0, 1, "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 1852 41 NIL NIL NIL NIL)");
	t_expect_bs(m, 0, 0, "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 1852 41)");
	t_expect_env(m, 0, T_ENV("plain text", "plain"));
	assert_int_equal(m->flags, 0);
	mime_free(&m);
	t_str_free(&s);

	/* multipart/alternative: the CRLF before each boundary is the boundary's. */
	t_gen_alternative(&s);
	t_dump("2-alternative.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_expect_bs(m, 0, 1,
		    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 470 10 NIL NIL NIL NIL)"
		    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 558 11 NIL NIL NIL NIL)"
		    " \"alternative\" (\"boundary\" \"alt-1\") NIL NIL NIL)");
	t_expect_bs(m, 0, 0,
		    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 470 10)"
		    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 558 11) \"alternative\")");
	t_expect_env(m, 0, T_ENV("alternative", "alt"));
	mime_free(&m);
	t_str_free(&s);

	/* multipart/mixed with a 5 MiB base64 attachment. */
	t_gen_mixed(&s, "attachment 5 MiB", 1, T_ATTACH_LINES);
	t_dump("3-attach5m.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_expect_mixed(&e, 1, T_ATTACH_LINES);
	t_expect_bs(m, 0, 1, e.p);
	assert_int_equal(m->nparts, 3);
	assert_int_equal(m->parts[2].body_lines, T_ATTACH_LINES - 1);
	mime_free(&m);
	t_str_free(&s);
	t_str_free(&e);

	/* A forwarded message: message/rfc822 holding a multipart/alternative. */
	t_gen_rfc822(&s);
	t_dump("4-rfc822.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_expect_bs(m, 0, 1,
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)"
		    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 344 "
		    "(\"Sun, 5 May 2024 09:00:00 +0000\" \"inner\" ((\"Dave\" NIL \"dave\" \"example.net\")) "
		    "((\"Dave\" NIL \"dave\" \"example.net\")) ((\"Dave\" NIL \"dave\" \"example.net\")) "
		    "((\"Alice\" NIL \"alice\" \"example.org\")) NIL NIL NIL \"<inner@example.net>\") "
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)"
		    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 0 NIL NIL NIL NIL)"
		    " \"alternative\" (\"boundary\" \"in-alt\") NIL NIL NIL) 17 NIL (\"inline\" NIL) NIL NIL)"
		    " \"mixed\" (\"boundary\" \"fwd\") NIL NIL NIL)");
	t_expect_env(m, 0, T_ENV("forwarded", "fwd"));
	/* The message is part 2 whole, its header 2.HEADER, its parts 2.1 and 2.2. */
	t_expect_section(m, (const uint8_t *)s.p, "2", 'B', T_INNER);
	t_expect_section(m, (const uint8_t *)s.p, "2", 'M',
			 "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n");
	t_expect_section(m, (const uint8_t *)s.p, "2.1", 'B', "inner text");
	t_expect_section(m, (const uint8_t *)s.p, "2.2", 'B', "<p>inner html</p>");
	assert_int_equal(mime_find(m, "2.3", 3), -1);
	assert_int_equal(mime_find(m, "3", 1), -1);
	mime_free(&m);
	t_str_free(&s);

	/* A hundred small parts. */
	t_gen_parts(&s, 100);
	t_dump("5-parts100.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_cat(&e, "(");
	for (int i = 1; i <= 100; i++)
		t_cat(&e, "(\"text\" \"plain\" (\"name\" \"p%d.txt\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" %d 0 "
			  "NIL NIL NIL NIL)", i, i < 10 ? 6 : i < 100 ? 7 : 8);
	t_cat(&e, " \"mixed\" (\"boundary\" \"many\") NIL NIL NIL)");
	t_expect_bs(m, 0, 1, e.p);
	assert_int_equal(m->nparts, 101);
	t_expect_section(m, (const uint8_t *)s.p, "73", 'B', "part 73");
	mime_free(&m);
	t_str_free(&s);
	t_str_free(&e);

	/* A 50 MiB message: eight attachments. */
	t_gen_mixed(&s, "fifty MiB", T_BIG_ATTACH, T_BIG_LINES);
	assert_true(s.len > 50u * 1024 * 1024);
	t_dump("6-big50m.eml", s.p, s.len);
	m = t_all(s.p, s.len, NULL);
	t_expect_mixed(&e, T_BIG_ATTACH, T_BIG_LINES);
	t_expect_bs(m, 0, 1, e.p);
	mime_free(&m);
	t_str_free(&s);
	t_str_free(&e);
}

/* ---- what mail clients send (tests/unit/data/mime/) ---- */

static void
test_mime_real_world(void **state)
{
	size_t len;
	uint8_t *d;
	struct mime *m;

	(void)state;
	/* Thunderbird: mixed(alternative(plain flowed, html), pdf); boundaries that start with dashes. */
	d = t_read("thunderbird.eml", &len);
	m = t_all(d, len, NULL);
	t_expect_bs(m, 0, 1,
		    "(((\"text\" \"plain\" (\"charset\" \"UTF-8\" \"format\" \"flowed\") NIL NIL \"7bit\" 32 3 "
		    "NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"7bit\" 107 7 NIL NIL NIL NIL)"
		    " \"alternative\" (\"boundary\" \"------------N2dF4zQ8cVbY0kS7tWm3pA1e\") NIL NIL NIL)"
		    "(\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL NIL \"base64\" 128 NIL "
		    "(\"attachment\" (\"filename\" \"report.pdf\")) NIL NIL)"
		    " \"mixed\" (\"boundary\" \"------------Xo8cvxKHnL8ANDbKCQ7mMhhK\") NIL (\"en-US\") NIL)");
	t_expect_env(m, 0,
		     "(\"Tue, 7 May 2024 14:03:11 +0200\" \"Quarterly report\" ((\"Alice\" NIL \"alice\" "
		     "\"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" "
		     "\"example.org\")) ((\"Bob\" NIL \"bob\" \"example.net\")) NIL NIL NIL "
		     "\"<8f7c6a1e-3b2d-4c5e-9f10-2a3b4c5d6e7f@example.org>\")");
	t_expect_section(m, d, "1.1", 'B', "Hi Bob,\r\n\r\nhere is the report.\r\n");
	t_expect_section(m, d, "1.2", 'M', "Content-Type: text/html; charset=UTF-8\r\n"
					   "Content-Transfer-Encoding: 7bit\r\n\r\n");
	t_expect_section(m, d, "2", 'B', "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
					 "eJwr5HIK4TI2UzC0tDBTCErlcgrhAgAqsgOnCmVuZHN0cmVhbQplbmRvYmoK\r\n");
	assert_int_equal(mime_find(m, "3", 1), -1);
	assert_int_equal(mime_find(m, "1.3", 3), -1);
	assert_int_equal(m->flags, 0);
	mime_free(&m);
	free(d);

	/* Gmail: mixed(alternative(plain, html), jpeg with Content-ID); two addresses in To. */
	d = t_read("gmail.eml", &len);
	m = t_all(d, len, NULL);
	t_expect_bs(m, 0, 1,
		    "(((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"7bit\" 16 1 NIL NIL NIL NIL)"
		    "(\"text\" \"html\" (\"charset\" \"UTF-8\") NIL NIL \"7bit\" 37 1 NIL NIL NIL NIL)"
		    " \"alternative\" (\"boundary\" \"0000000000004f1a2a0617f3c5cf\") NIL NIL NIL)"
		    "(\"image\" \"jpeg\" (\"name\" \"beach.jpg\") \"<f_lw2k3j4h0>\" NIL \"base64\" 76 NIL "
		    "(\"attachment\" (\"filename\" \"beach.jpg\")) NIL NIL)"
		    " \"mixed\" (\"boundary\" \"0000000000004f1a2b0617f3c5d1\") NIL NIL NIL)");
	t_expect_env(m, 0,
		     "(\"Wed, 8 May 2024 09:12:45 -0700\" \"Photos from the weekend\" ((\"Carol Example\" NIL "
		     "\"carol.example\" \"gmail.com\")) ((\"Carol Example\" NIL \"carol.example\" \"gmail.com\")) "
		     "((\"Carol Example\" NIL \"carol.example\" \"gmail.com\")) ((\"Alice\" NIL \"alice\" "
		     "\"example.org\")(NIL NIL \"bob\" \"example.net\")) NIL NIL NIL "
		     "\"<CAH+x2Z9aBcD=eFgHiJkLmNoPqRsTuVwXyZ@mail.gmail.com>\")");
	t_expect_section(m, d, "1.2", 'B', "<div dir=\"ltr\">Here they are!</div>\r\n");
	mime_free(&m);
	free(d);

	/* Outlook: related(alternative(plain, html), inline png), folded parameters, Content-Language. */
	d = t_read("outlook.eml", &len);
	m = t_all(d, len, NULL);
	t_expect_bs(m, 0, 1,
		    "(((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 21 1 NIL NIL "
		    "NIL NIL)(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 102 1 NIL "
		    "NIL NIL NIL) \"alternative\" (\"boundary\" \"_000_AM0PR01MB1234567890ABCDEF_\") NIL NIL NIL)"
		    "(\"image\" \"png\" (\"name\" \"image001.png\") \"<image001.png@01DAA1B2.C3D4E5F0>\" "
		    "\"image001.png\" \"base64\" 98 NIL (\"inline\" (\"filename\" \"image001.png\" \"size\" \"95\" "
		    "\"creation-date\" \"Thu, 09 May 2024 07:45:00 GMT\" \"modification-date\" "
		    "\"Thu, 09 May 2024 07:45:00 GMT\")) NIL NIL) \"related\" (\"boundary\" "
		    "\"_004_AM0PR01MB1234567890ABCDEF_\" \"type\" \"multipart/alternative\") NIL (\"de-DE\") NIL)");
	/* The encoded subject stays encoded (IMAP sends it as it is). */
	t_expect_env(m, 0,
		     "(\"Thu, 9 May 2024 07:45:00 +0000\" \"=?iso-8859-1?Q?Agenda_f=FCr_Montag?=\" "
		     "((\"Dave Example\" NIL \"dave\" \"example.com\")) ((\"Dave Example\" NIL \"dave\" "
		     "\"example.com\")) ((\"Dave Example\" NIL \"dave\" \"example.com\")) ((\"Alice\" NIL \"alice\" "
		     "\"example.org\")) NIL NIL NIL "
		     "\"<AM0PR01MB1234567890ABCDEF@AM0PR01MB1234.eurprd01.prod.outlook.com>\")");
	t_expect_section(m, d, "1.1", 'B', "Agenda f=FCr Montag\r\n");
	mime_free(&m);
	free(d);

	/* Apple Mail: alternative(plain, related(html, jpeg)), blank lines before the first boundary. */
	d = t_read("applemail.eml", &len);
	m = t_all(d, len, NULL);
	t_expect_bs(m, 0, 1,
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 1 NIL NIL NIL NIL)"
		    "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 92 0 NIL NIL NIL NIL)"
		    "(\"image\" \"jpeg\" (\"x-unix-mode\" \"0644\" \"name\" \"photo.jpg\") "
		    "\"<9F8E7D6C-5B4A-4392-8170-6F5E4D3C2B1A>\" NIL \"base64\" 154 NIL (\"inline\" (\"filename\" "
		    "\"photo.jpg\")) NIL NIL) \"related\" (\"type\" \"text/html\" \"boundary\" "
		    "\"Apple-Mail=_7A8B9C0D-1E2F-4A3B-9C4D-5E6F7A8B9C0D\") NIL NIL NIL) \"alternative\" "
		    "(\"boundary\" \"Apple-Mail=_6F1C2E3A-4B5D-4E6F-8A9B-0C1D2E3F4A5B\") NIL NIL NIL)");
	t_expect_bs(m, 0, 0,
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 1)"
		    "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 92 0)"
		    "(\"image\" \"jpeg\" (\"x-unix-mode\" \"0644\" \"name\" \"photo.jpg\") "
		    "\"<9F8E7D6C-5B4A-4392-8170-6F5E4D3C2B1A>\" NIL \"base64\" 154) \"related\") \"alternative\")");
	t_expect_section(m, d, "1", 'B', "Lunch at noon?\r\n");
	t_expect_section(m, d, "2.2", 'M', "Content-Transfer-Encoding: base64\r\nContent-Disposition: inline;\r\n"
					   "\tfilename=photo.jpg\r\nContent-Type: image/jpeg;\r\n\tx-unix-mode=0644;\r\n"
					   "\tname=\"photo.jpg\"\r\nContent-Id: <9F8E7D6C-5B4A-4392-8170-6F5E4D3C2B1A>\r\n\r\n");
	mime_free(&m);
	free(d);
}

/* ---- RFC 3501 6.4.5: the example's part numbers ---- */

#define T_3501 \
	"From: a@example.org\r\nSubject: rfc3501 6.4.5\r\nMIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n" \
	"--o\r\nContent-Type: text/plain\r\n\r\npart 1\r\n" \
	"--o\r\nContent-Type: application/octet-stream\r\n\r\npart 2\r\n" \
	"--o\r\nContent-Type: message/rfc822\r\n\r\n" \
	"Subject: part 3\r\nContent-Type: multipart/mixed; boundary=\"m3\"\r\n\r\n" \
	"--m3\r\nContent-Type: text/plain\r\n\r\npart 3.1\r\n" \
	"--m3\r\nContent-Type: application/octet-stream\r\n\r\npart 3.2\r\n" \
	"--m3--\r\n" \
	"--o\r\nContent-Type: multipart/mixed; boundary=\"m4\"\r\n\r\n" \
	"--m4\r\nContent-Type: image/gif\r\n\r\npart 4.1\r\n" \
	"--m4\r\nContent-Type: message/rfc822\r\n\r\n" \
	"Subject: part 4.2\r\nContent-Type: multipart/mixed; boundary=\"m42\"\r\n\r\n" \
	"--m42\r\nContent-Type: text/plain\r\n\r\npart 4.2.1\r\n" \
	"--m42\r\nContent-Type: multipart/alternative; boundary=\"m422\"\r\n\r\n" \
	"--m422\r\nContent-Type: text/plain\r\n\r\npart 4.2.2.1\r\n" \
	"--m422\r\nContent-Type: text/richtext\r\n\r\npart 4.2.2.2\r\n" \
	"--m422--\r\n--m42--\r\n--m4--\r\n--o--\r\n"

static void
test_mime_rfc3501_sections(void **state)
{
	static const char *const leaves[] = { "1", "2", "3.1", "3.2", "4.1", "4.2.1", "4.2.2.1", "4.2.2.2" };
	/* Each entity's part number in document order (the multipart root has none). */
	static const char *const numbers[] = { "", "1", "2", "3", "3", "3.1", "3.2", "4", "4.1", "4.2",
					       "4.2", "4.2.1", "4.2.2", "4.2.2.1", "4.2.2.2" };
	const uint8_t *d = (const uint8_t *)T_3501;
	struct mime *m;
	char sec[64];

	(void)state;
	t_dump("rfc3501.eml", T_3501, sizeof(T_3501) - 1);
	m = t_all(T_3501, sizeof(T_3501) - 1, NULL);
	assert_int_equal(m->nparts, sizeof(numbers) / sizeof(numbers[0]));
	for (uint32_t i = 0; i < m->nparts; i++) {
		assert_true(mime_section(m, i, sec, sizeof(sec)) >= 0);
		assert_string_equal(sec, numbers[i]);
	}
	for (size_t k = 0; k < sizeof(leaves) / sizeof(leaves[0]); k++) {
		char want[32];

		snprintf(want, sizeof(want), "part %s", leaves[k]);
		t_expect_section(m, d, leaves[k], 'B', want);
	}
	/* 3 and 4.2 are messages: HEADER and TEXT are their messages' own. */
	t_expect_section(m, d, "3", 'H', "Subject: part 3\r\nContent-Type: multipart/mixed; boundary=\"m3\"\r\n\r\n");
	t_expect_section(m, d, "4.2", 'H',
			 "Subject: part 4.2\r\nContent-Type: multipart/mixed; boundary=\"m42\"\r\n\r\n");
	t_expect_section(m, d, "4.1", 'M', "Content-Type: image/gif\r\n\r\n");
	t_expect_bs(m, 0, 0,
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0)"
		    "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 6)"
		    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 175 (NIL \"part 3\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0)"
		    "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 8) \"mixed\") 12)"
		    "((\"image\" \"gif\" NIL NIL NIL \"7bit\" 8)"
		    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 300 (NIL \"part 4.2\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0)"
		    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)"
		    "(\"text\" \"richtext\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0) \"alternative\") "
		    "\"mixed\") 20) \"mixed\") \"mixed\")");
	/* Not parts: 0, 5, 1.1 (a leaf), 3.3, 4.2.3, and what is not a number. */
	static const char *const bad[] = { "0", "5", "1.1", "3.3", "4.2.3", "4.2.2.1.1", "01", "1.", ".1",
					   "1..2", "a", "4.x", "99999999999", "4294967296", "-1", "" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (mime_find(m, bad[k], strlen(bad[k])) != -1)
			fail_msg("section '%s' found", bad[k]);
	}
	assert_int_equal(mime_section(m, m->nparts, sec, sizeof(sec)), -1);
	assert_int_equal(mime_section(m, 13, sec, 7), -1);	/* "4.2.2.1" needs 8 */
	assert_int_equal(mime_section(m, 13, sec, 8), 7);
	mime_free(&m);

	/* A message that is not multipart: its body is part 1, and nothing else is. */
	m = t_all(S("Subject: x\r\n\r\nbody\r\n"), NULL);
	assert_int_equal(mime_find(m, "1", 1), 0);
	assert_int_equal(mime_find(m, "2", 1), -1);
	assert_int_equal(mime_find(m, "1.1", 3), -1);
	assert_true(mime_section(m, 0, sec, sizeof(sec)) == 1);
	assert_string_equal(sec, "1");
	mime_free(&m);
}

/* ---- malformed MIME degrades, never fails ---- */

#define T_PLAIN_EMPTY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
#define T_PLAIN(size, lines) \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" " #size " " #lines " NIL NIL NIL NIL)"
#define T_ENV_NIL "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

struct t_deg {
	const char *what;
	const char *msg;
	size_t len;
	const char *bs;		/* BODYSTRUCTURE; NULL: only the invariants */
	int malformed;		/* MIME_F_MALFORMED expected */
};

#define D(x) x, sizeof(x) - 1

static const struct t_deg t_degs[] = {
	{ "an invalid Content-Type is text/plain (RFC 2045 5.2; Dovecot: \"garbage\" \"\")",
	  D("Subject: a\r\nContent-Type: garbage\r\n\r\nbody\r\n"), T_PLAIN(6, 1), 1 },
	{ "no Content-Type", D("Subject: a\r\n\r\nbody"), T_PLAIN(4, 0), 0 },
	{ "a multipart without a boundary: one empty part",
	  D("Subject: a\r\nContent-Type: multipart/mixed\r\n\r\nbody\r\n"),
	  "(" T_PLAIN_EMPTY " \"mixed\" NIL NIL NIL NIL)", 1 },
	{ "a boundary that never comes",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\nbody\r\nmore\r\n"),
	  "(" T_PLAIN_EMPTY " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", 1 },
	{ "an empty boundary", D("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n"),
	  "(" T_PLAIN_EMPTY " \"mixed\" (\"boundary\" \"\") NIL NIL NIL)", 1 },
	{ "no close delimiter: the part ends with the message",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n--x\r\nContent-Type: text/plain\r\n\r\nabc\r\n"),
	  "(" T_PLAIN(5, 1) " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", 1 },
	{ "a boundary cuts a header: the part is empty",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n--x\r\n\r\nab\r\n"
	    "--x--"),
	  "(" T_PLAIN(0, 0) T_PLAIN(2, 0) " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", 1 },
	{ "a close delimiter without a line end, transport padding, junk after the boundary",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x  \r\n\r\nab\r\n--x junk\r\n\r\ncd\r\n--x--"),
	  "(" T_PLAIN(2, 0) T_PLAIN(2, 0) " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", 0 },
	{ "bare LF line ends",
	  D("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\nworld\n--b--\n"),
	  "(" T_PLAIN(11, 1) " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)", 0 },
	{ "an outer boundary ends an open inner multipart",
	  D("Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i"
	    "\r\n\r\n--i\r\n\r\nA\r\n--o\r\n\r\nB\r\n--o--\r\n"),
	  "((" T_PLAIN(1, 0) " \"alternative\" (\"boundary\" \"i\") NIL NIL NIL)" T_PLAIN(1, 0)
	  " \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)", 1 },
	{ "a multipart/digest's parts are messages",
	  D("Content-Type: multipart/digest; boundary=x\r\n\r\n--x\r\n\r\nSubject: in\r\n\r\nab\r\n--x--\r\n"),
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	  T_PLAIN(2, 0) " 2 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"x\") NIL NIL NIL)", 0 },
	{ "message/rfc822 in base64 is still read as a message (as Dovecot does)",
	  D("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpoaQ0K\r\n"),
	  "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 26 " T_ENV_NIL " " T_PLAIN_EMPTY " 1 NIL NIL NIL NIL)", 1 },
	{ "an empty message/rfc822",
	  D("Content-Type: message/rfc822\r\n\r\n"),
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 " T_ENV_NIL " " T_PLAIN_EMPTY " 0 NIL NIL NIL NIL)", 1 },
	{ "an empty message", D(""), T_PLAIN_EMPTY, 1 },
	{ "a header and no empty line", D("Subject: x\r\n"), T_PLAIN_EMPTY, 1 },
	{ "a last line without its line end", D("Subject: x\r\n\r\na\r\nb"), T_PLAIN(4, 1), 0 },
	{ "a lone CR at the end", D("Subject: x\r\n\r\na\r"), T_PLAIN(2, 0), 0 },
	{ "Content-* fields: comments, folding, RFC 2231 continuations, languages",
	  D("MIME-Version: 1.0\r\nContent-Type: (c) text (c) / (c) plain (c) ; (c) charset = \"utf-8\" (c)\r\n"
	    "Content-Language: en, de (x)\r\n"
	    "Content-Disposition: inline; filename*0=\"a b\"; filename*1=c.txt\r\nContent-ID:  <x@y> \r\n"
	    "Content-Description: hello\r\n  world\r\nContent-Location: http://x.example/a\r\n"
	    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\nContent-Transfer-Encoding: (c) 8bit (c)\r\n\r\nab"),
	  "(\"text\" \"plain\" (\"charset\" \"utf-8\") \"<x@y> \" \"hello  world\" \"8bit\" 2 0 "
	  "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"filename\" \"a bc.txt\")) (\"en\" \"de\") "
	  "\"http://x.example/a\")", 0 },
	{ "the first Content-Type wins",
	  D("Content-Type: text/html\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"),
	  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)", 0 },
	{ "an invalid Content-Transfer-Encoding is 7bit",
	  D("Content-Transfer-Encoding: ;\r\n\r\nx"), T_PLAIN(1, 0), 1 },
	{ "header lines that are no fields, a field name with a blank before the colon, a NUL",
	  D(" folded first\r\ngarbage line\r\nContent-Type : text/x-a\0b ; na\0me=v\r\n\r\nx"),
	  "(\"text\" \"x-ab\" (\"name\" \"v\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)", 0 },
	{ "a boundary longer than MIME_BOUNDARY_MAX is unusable",
	  D("Content-Type: multipart/mixed; boundary=\""
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "x\"\r\n\r\nbody\r\n"), NULL, 1 },
	{ "the same boundary inside: the inner multipart takes it until its close delimiter",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\n\r\na\r\n--x--\r\n--x\r\n\r\nb\r\n--x--\r\n"), NULL, 0 },
	{ "a boundary that is a prefix of another",
	  D("Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\nContent-Type: multipart/mixed; boundary=abc"
	    "\r\n\r\n--abc\r\n\r\nx\r\n--abc--\r\n--ab--\r\n"), NULL, 0 },
	{ "NULs in a body and a boundary line",
	  D("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\0b\r\n--x\0\r\n\r\nc\r\n--x--\r\n"),
	  "(" T_PLAIN(3, 0) T_PLAIN(1, 0) " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)", 0 },
};

static void
test_mime_degraded(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_degs) / sizeof(t_degs[0]); i++) {
		const struct t_deg *t = &t_degs[i];
		struct mime *m;
		char name[32];

		snprintf(name, sizeof(name), "deg-%02zu.eml", i);
		t_dump(name, t->msg, t->len);
		m = t_all(t->msg, t->len, NULL);
		if (t->bs != NULL) {
			char *got = t_bs(m, 0, 1);

			if (strcmp(got, t->bs) != 0)
				fail_msg("%s:\n got  %s\n want %s", t->what, got, t->bs);
			free(got);
		}
		if (((m->flags & MIME_F_MALFORMED) != 0) != t->malformed)
			fail_msg("%s: flags %#x", t->what, m->flags);
		mime_free(&m);
	}
}

/* ---- ENVELOPE ---- */

struct t_envcase {
	const char *what;
	const char *msg;
	const char *env;
};

static const struct t_envcase t_envs[] = {
	{ "no fields", "\r\nbody", T_ENV_NIL },
	{ "an empty Subject and nothing else kept before it", "X: y\r\nSubject:\r\n\r\n",
	  "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "Sender and Reply-To absent or empty are From; empty Subject is \"\"",
	  "From: a@b.example\r\nSender:\r\nSubject:\r\n\r\n",
	  "(NIL \"\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) "
	  "NIL NIL NIL NIL NIL)" },
	{ "comments as names, groups",
	  "From: a@b.example (comment only)\r\nTo: A <a@b.example> (trailing comment)\r\nCc: (lead) a@b.example\r\n"
	  "Bcc: group: ;\r\nX: y\r\n\r\nhi",
	  "(NIL NIL ((\"comment only\" NIL \"a\" \"b.example\")) ((\"comment only\" NIL \"a\" \"b.example\")) "
	  "((\"comment only\" NIL \"a\" \"b.example\")) ((\"A\" NIL \"a\" \"b.example\")) ((NIL NIL \"a\" "
	  "\"b.example\")) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)) NIL NIL)" },
	{ "routes, quoted names, groups, broken addresses, unfolding, the first Subject",
	  "From: \"Doe, John\" <john@x.example>, Jane   Q.  Roe <@r1.example,@r2.example:jane@y.example>\r\n"
	  "To: undisclosed-recipients:;\r\n"
	  "Cc: team: a@b.example, \"q\\\"x\" <c@d.example>;, e@f.example (Eve Comment)\r\n"
	  "Bcc: justlocal, <>, @bad, bad@\r\nSender:\r\nReply-To: =?utf-8?q?J=C3=B6rg?= <j@g.example>\r\n"
	  "Subject:   spaced subject   \r\nSubject: second\r\nDate: Mon, 6 May 2024\r\n 10:00:00 +0000\r\n"
	  "Message-ID: <a@b>\r\nIn-Reply-To: <x@y> <z@w>\r\n\r\nbody\r\n",
	  "(\"Mon, 6 May 2024 10:00:00 +0000\" \"spaced subject   \" ((\"Doe, John\" NIL \"john\" \"x.example\")"
	  "(\"Jane Q. Roe\" \"@r1.example,@r2.example\" \"jane\" \"y.example\")) ((\"Doe, John\" NIL \"john\" "
	  "\"x.example\")(\"Jane Q. Roe\" \"@r1.example,@r2.example\" \"jane\" \"y.example\")) "
	  "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"g.example\")) ((NIL NIL \"undisclosed-recipients\" NIL)"
	  "(NIL NIL NIL NIL)) ((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"b.example\")(\"q\\\"x\" NIL \"c\" "
	  "\"d.example\")(NIL NIL NIL NIL)(\"Eve Comment\" NIL \"e\" \"f.example\")) ((NIL NIL \"justlocal\" "
	  "\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" "
	  "\"bad\")(NIL NIL \"bad\" \"MISSING_DOMAIN\")) \"<x@y> <z@w>\" \"<a@b>\")" },
	{ "8-bit subject and address: literals",
	  "From: m\xc3\xbcller@x.example\r\nSubject: caf\xc3\xa9 \"q\" b\\s\r\n\r\n",
	  "(NIL {13}\r\ncaf\xc3\xa9 \"q\" b\\s ((NIL NIL {7}\r\nm\xc3\xbcller \"x.example\")) ((NIL NIL {7}\r\n"
	  "m\xc3\xbcller \"x.example\")) ((NIL NIL {7}\r\nm\xc3\xbcller \"x.example\")) NIL NIL NIL NIL NIL)" },
	{ "quoted local parts, domain literals, unclosed brackets",
	  "From: \"john doe\"@x.example, <a@[198.51.100.1]>\r\nTo: \"unclosed <u@v.example\r\nCc: Ann <ann@x.example\r\n\r\n",
	  "(NIL NIL ((NIL NIL \"john doe\" \"x.example\")(NIL NIL \"a\" \"[198.51.100.1]\")) "
	  "((NIL NIL \"john doe\" \"x.example\")(NIL NIL \"a\" \"[198.51.100.1]\")) "
	  "((NIL NIL \"john doe\" \"x.example\")(NIL NIL \"a\" \"[198.51.100.1]\")) "
	  "((NIL NIL \"unclosed <u@v.example\" \"MISSING_DOMAIN\")) ((\"Ann\" NIL \"ann\" \"x.example\")) "
	  "NIL NIL NIL)" },
};

static void
test_mime_envelope(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_envs) / sizeof(t_envs[0]); i++) {
		const struct t_envcase *t = &t_envs[i];
		struct mime *m;
		char *got, name[32];

		snprintf(name, sizeof(name), "env-%02zu.eml", i);
		t_dump(name, t->msg, strlen(t->msg));
		m = t_all(t->msg, strlen(t->msg), NULL);
		got = t_env(m, 0);
		if (strcmp(got, t->env) != 0)
			fail_msg("%s:\n got  %s\n want %s", t->what, got, t->env);
		free(got);
		/* Only messages have envelopes. */
		if (m->nparts > 1) {
			struct buf *b = buf_new(64);

			assert_int_equal(mime_imap_envelope(m, 1, b), -1);
			buf_free(&b);
		}
		mime_free(&m);
	}
}

/* ---- the address-list parser alone ---- */

struct t_addrs {
	struct t_str s;
	int fail_at;		/* return -1 at this item (0: never) */
	int n;
};

static void
t_span(struct t_str *s, struct mime_span sp)
{
	if (sp.p == NULL)
		t_add(s, "-", 1);
	else
		t_add(s, sp.p, sp.len);
}

/* Items as "K|name|route|mailbox|host;", K = M, G or E, "-" when absent. */
static int
t_addr_emit(void *ctx, const struct mime_addr_item *it)
{
	struct t_addrs *a = ctx;

	if (++a->n == a->fail_at)
		return -1;
	t_add(&a->s, it->kind == MIME_ADDR_MAILBOX ? "M|" : it->kind == MIME_ADDR_GROUP ? "G|" : "E|", 2);
	t_span(&a->s, it->name);
	t_add(&a->s, "|", 1);
	t_span(&a->s, it->route);
	t_add(&a->s, "|", 1);
	t_span(&a->s, it->mailbox);
	t_add(&a->s, "|", 1);
	t_span(&a->s, it->host);
	t_add(&a->s, ";", 1);
	return 0;
}

static void
test_mime_addr(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "", "" },
		{ "  ,, ; ", "" },
		{ "a@b", "M|-|-|a|b;" },
		{ "A <a@b>, B <b@c>", "M|A|-|a|b;M|B|-|b|c;" },
		{ "g: a@b, c@d; e@f", "G|-|-|g|-;M|-|-|a|b;M|-|-|c|d;E|-|-|-|-;M|-|-|e|f;" },
		{ "g:", "G|-|-|g|-;E|-|-|-|-;" },
		{ ":;", "G|-|-|-|-;E|-|-|-|-;" },
		{ "g: a: b@c;", "G|-|-|g|-;M|-|-|ab|c;E|-|-|-|-;" },
		{ ",,,a@b,,,", "M|-|-|a|b;" },
		{ "<@x,@y:a@b>", "M|-|@x,@y|a|b;" },
		{ "<@x:>", "M|-|@x|-|-;" },
		{ "<@x>", "M|-|-|-|x;" },
		{ "\"a\\\"b\" <c@d>", "M|a\"b|-|c|d;" },
		{ "\"\" <c@d>", "M|-|-|c|d;" },
		{ "(((nested) comment)) a@b", "M|-|-|a|b;" },
		{ "a@b (x) (y (z))", "M|y (z)|-|a|b;" },
		{ "a@b (\\(x\\))", "M|(x)|-|a|b;" },
		{ "a . b @ c . d", "M|-|-|a.b|c.d;" },
		{ "J. R. R. Tolkien <t@x>", "M|J. R. R. Tolkien|-|t|x;" },
		{ "@@@", "M|-|-|-|-;" },
		{ ">>><<<", "M|-|-|-|-;" },
		{ "a@b; c@d", "M|-|-|a|b;M|-|-|c|d;" },
		{ "\"unclosed", "M|-|-|unclosed|-;" },
		{ "\"a b\".\"c\\\"d\"@e", "M|-|-|a b.c\"d|e;" },
		{ "(unclosed a@b", "" },
		{ "J\xc3\xb6rg <j@x>", "M|J\xc3\xb6rg|-|j|x;" },
		{ "=?utf-8?q?a?= <a@b>", "M|=?utf-8?q?a?=|-|a|b;" },
		{ "a@[1.2.3.4", "M|-|-|a|[1.2.3.4;" },
		{ "A B C", "M|-|-|ABC|-;" },
		{ "a@b c@d", "M|-|-|a|bc;" },
		{ "\\", "" },
		{ "Ann <ann@x> junk, b@c", "M|Ann|-|ann|x;M|-|-|b|c;" },
	};
	uint8_t scratch[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_addrs a = { { 0 }, 0, 0 };
		int64_t n = mime_addr_parse((const uint8_t *)cases[i].in, strlen(cases[i].in), scratch,
					    sizeof(scratch), t_addr_emit, &a);

		assert_int_equal(n, a.n);
		if (strcmp(a.s.p != NULL ? a.s.p : "", cases[i].out) != 0)
			fail_msg("'%s': got '%s', want '%s'", cases[i].in, a.s.p != NULL ? a.s.p : "",
				 cases[i].out);
		t_str_free(&a.s);
	}
	/* The callback's -1 stops it; so does a scratch shorter than the value. */
	{
		struct t_addrs a = { { 0 }, 2, 0 };

		assert_int_equal(mime_addr_parse(S("a@b, c@d, e@f"), scratch, sizeof(scratch), t_addr_emit, &a), -1);
		assert_int_equal(a.n, 2);
		t_str_free(&a.s);
		assert_int_equal(mime_addr_parse(S("a@b"), scratch, 2, t_addr_emit, &a), -1);
	}
}

/* ---- the structured-field parsers alone ---- */

static int
t_param_emit(void *ctx, struct mime_span name, struct mime_span value)
{
	struct t_str *s = ctx;

	t_span(s, name);
	t_add(s, "=", 1);
	t_span(s, value);
	t_add(s, ";", 1);
	return 0;
}

/* The parameters of v as "name=value;" after RFC 2231 joining. */
static char *
t_params(const char *v)
{
	struct mime_field_param prm[MIME_PARAMS_MAX];
	uint8_t buf[512], scratch[600];
	struct t_str s = { 0 };
	size_t n, len = strlen(v);

	assert_true(len <= sizeof(buf));
	memcpy(buf, v, len);
	n = mime_field_params(buf, len, prm, MIME_PARAMS_MAX);
	assert_int_equal(mime_field_rfc2231(prm, n, scratch, sizeof(scratch), t_param_emit, &s), 0);
	t_add(&s, "", 0);
	return s.p != NULL ? s.p : strdup("");
}

static void
test_mime_fields(void **state)
{
	static const struct {
		const char *in;
		const char *type;	/* "type/subtype|rest", NULL: invalid */
	} types[] = {
		{ "text/plain", "text/plain|" },
		{ " text / plain ; x=y", "text/plain| ; x=y" },
		{ "(c) text(c)/(c (d))plain(c)", "text/plain|(c)" },
		{ "application/vnd.ms-excel", "application/vnd.ms-excel|" },
		{ "text", NULL },
		{ "text/", NULL },
		{ "/plain", NULL },
		{ "", NULL },
		{ "t\xc3\xa9/x", NULL },
		{ "text/plain/x", "text/plain|/x" },
		{ "(unclosed text/plain", NULL },
	};
	static const struct {
		const char *in;
		const char *out;
	} params[] = {
		{ "", "" },
		{ "; a=b; c=\"d e\"; f=g h ; i", "a=b;c=d e;f=g h;" },
		{ ";name=\"a\\\"b\"", "name=a\"b;" },
		{ ";x=\"abc", "x=abc;" },
		{ "junk; a=1 (comment); b = \"2\" (c)", "a=1;b=2;" },
		{ "; a=; b=\"\"", "a=;b=;" },
		{ "; =x; a", "" },
		/* RFC 2231: plain first, then the rest in order of their first piece. */
		{ "; title*0=\"a \"; title*1=b; x=1; name*=utf-8''%41", "x=1;title=a b;name*=utf-8''%41;" },
		{ "; f*1=b; f*0*=utf-8''a%20", "f*=utf-8''a%20b;" },
		{ "; f*1=b; f*2=c", "" },
		{ "; f*0=a; f*2=c", "f=a;" },
		{ "; F*0=a; f*1=b", "F=ab;" },
		{ "; f*0=a; f*0=b", "f=a;" },
		{ "; f*00=a; f*01=b; g*x=1", "f*00=a;f*01=b;g*x=1;" },
	};
	static const struct {
		const char *in;
		const char *out;
	} langs[] = {
		{ "en", "en;" }, { "en, de-DE (c), fr", "en;de-DE;fr;" }, { "", "" }, { ",en", "" }, { "en de", "en;" },
	};
	uint8_t scratch[4];

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct mime_span t, st, rest;
		int rc = mime_field_type((const uint8_t *)types[i].in, strlen(types[i].in), &t, &st, &rest);
		char got[128];

		if (types[i].type == NULL) {
			if (rc != -1)
				fail_msg("'%s' parsed", types[i].in);
			continue;
		}
		assert_int_equal(rc, 0);
		snprintf(got, sizeof(got), "%.*s/%.*s|%.*s", (int)t.len, (const char *)t.p, (int)st.len,
			 (const char *)st.p, (int)rest.len, (const char *)rest.p);
		assert_string_equal(got, types[i].type);
	}
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char *got = t_params(params[i].in);

		if (strcmp(got, params[i].out) != 0)
			fail_msg("'%s': got '%s', want '%s'", params[i].in, got, params[i].out);
		free(got);
	}
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
		struct mime_span tags[4];
		size_t n = mime_field_languages((const uint8_t *)langs[i].in, strlen(langs[i].in), tags, 4);
		struct t_str s = { 0 };

		for (size_t k = 0; k < n; k++) {
			t_span(&s, tags[k]);
			t_add(&s, ";", 1);
		}
		t_add(&s, "", 0);
		assert_string_equal(s.p, langs[i].out);
		t_str_free(&s);
	}
	/* At most cap parameters; a scratch too small for a joined value is -1. */
	{
		struct mime_field_param prm[2];
		uint8_t v[] = "; a=1; b=2; c=3";
		struct t_str s = { 0 };

		assert_int_equal(mime_field_params(v, sizeof(v) - 1, prm, 2), 2);
		uint8_t w[] = "; f*0=abc; f*1=def";
		size_t n = mime_field_params(w, sizeof(w) - 1, prm, 2);

		assert_int_equal(mime_field_rfc2231(prm, n, scratch, sizeof(scratch), t_param_emit, &s), -1);
		t_str_free(&s);
	}
	assert_int_equal(mime_field_is(S("Content-Type"), "content-type"), 1);
	assert_int_equal(mime_field_is(S("Content-Typ"), "content-type"), 0);
}

/* ---- encoded words, for SEARCH ---- */

/* A converter that knows one charset, "x-test": every byte becomes "<b>". */
static int
t_conv(void *ctx, const char *charset, const uint8_t *in, size_t len, struct buf *out)
{
	(void)ctx;
	if (strcmp(charset, "x-test") != 0)
		return 1;
	for (size_t i = 0; i < len; i++) {
		if (buf_append(out, "<", 1) != 0 || buf_append(out, in + i, 1) != 0 || buf_append(out, ">", 1) != 0)
			return -1;
	}
	return 0;
}

static void
test_mime_words(void **state)
{
	static const struct {
		const char *in;
		const char *out;
		int is2231;
	} cases[] = {
		{ "=?utf-8?q?J=C3=B6rg?=", "J\xc3\xb6rg", 0 },
		{ "=?iso-8859-1?Q?Agenda_f=FCr_Montag?=", "Agenda f\xc3\xbcr Montag", 0 },
		{ "=?UTF-8?B?w6TDtsO8?= \r\n =?UTF-8?B?w58=?=", "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f", 0 },
		{ "a =?utf-8?q?b?= c", "a b c", 0 },
		{ "=?windows-1252?q?=80=81?=", "\xe2\x82\xac\xef\xbf\xbd", 0 },
		{ "=?utf-8*en?q?x?=", "x", 0 },
		{ "=?koi8-r?b?8sXE?=", "=?koi8-r?b?8sXE?=", 0 },
		{ "=?x-test?q?ab?= =?x-test?q?c?=", "<a><b><c>", 0 },
		{ "=?utf-8?q?broken", "=?utf-8?q?broken", 0 },
		{ "=?utf-8?x?y?=", "=?utf-8?x?y?=", 0 },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=", 0 },
		{ "=?utf-8?q?=ff=?=", "\xef\xbf\xbd=", 0 },
		{ "plain \xff text \xc3\xa9", "plain \xef\xbf\xbd text \xc3\xa9", 0 },
		{ "\xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd"
		  "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd", 0 },
		{ "==?utf-8?q?x?=", "=x", 0 },
		{ "", "", 0 },
		{ "utf-8'en'a%20b.txt", "a b.txt", 1 },
		{ "iso-8859-1''%E9t%E9", "\xc3\xa9t\xc3\xa9", 1 },
		{ "''%41%4", "A%4", 1 },
		{ "noquotes%20", "noquotes%20", 1 },
		{ "x-unknown''%41", "x-unknown''%41", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf *b = buf_new(256);
		const uint8_t *in = (const uint8_t *)cases[i].in;
		int rc = cases[i].is2231 ? mime_word_decode_2231(in, strlen(cases[i].in), b, t_conv, NULL) :
					   mime_word_decode(in, strlen(cases[i].in), b, t_conv, NULL);

		assert_int_equal(rc, 0);
		if (b->len != strlen(cases[i].out) || memcmp(b->data, cases[i].out, b->len) != 0)
			fail_msg("'%s': got '%.*s', want '%s'", cases[i].in, (int)b->len, (const char *)b->data,
				 cases[i].out);
		/* Too little room is -1, never a write past the cap. */
		for (size_t cap = 1; cap < b->len; cap++) {
			struct buf *small = buf_new(cap);

			rc = cases[i].is2231 ? mime_word_decode_2231(in, strlen(cases[i].in), small, t_conv, NULL) :
					       mime_word_decode(in, strlen(cases[i].in), small, t_conv, NULL);
			assert_int_equal(rc, -1);
			buf_free(&small);
		}
		buf_free(&b);
	}
}

/* ---- IMAP strings ---- */

static void
test_mime_imap_strings(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "abc", "\"abc\"" },
		{ "", "\"\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "tab\there\x7f", "\"tab\there\x7f\"" },
		{ "caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9" },
		{ "a\rb", "{3}\r\na\rb" },
	};
	struct buf *b = buf_new(64);
	size_t len;
	uint8_t *d;
	struct mime *m;
	char *full;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b->len = 0;
		assert_int_equal(mime_imap_string(b, (const uint8_t *)cases[i].in, strlen(cases[i].in)), 0);
		assert_int_equal(b->len, strlen(cases[i].out));
		assert_memory_equal(b->data, cases[i].out, b->len);
	}
	b->len = 0;
	assert_int_equal(mime_imap_string(b, S("a\0b")), -1);
	buf_free(&b);

	/* A buffer one byte too small for a whole answer: -1, at every size. */
	d = t_read("outlook.eml", &len);
	m = t_parse(d, len, NULL, 0);
	full = t_bs(m, 0, 1);
	for (size_t cap = 1; cap < strlen(full); cap++) {
		b = buf_new(cap);
		assert_int_equal(mime_imap_bodystructure(m, 0, 1, b), -1);
		buf_free(&b);
	}
	b = buf_new(strlen(full));
	assert_int_equal(mime_imap_bodystructure(m, 0, 1, b), 0);
	buf_free(&b);
	free(full);
	full = t_env(m, 0);
	for (size_t cap = 1; cap < strlen(full); cap++) {
		b = buf_new(cap);
		assert_int_equal(mime_imap_envelope(m, 0, b), -1);
		buf_free(&b);
	}
	free(full);
	b = buf_new(64);
	assert_int_equal(mime_imap_bodystructure(m, m->nparts, 1, b), -1);
	assert_int_equal(mime_imap_envelope(m, m->nparts, b), -1);
	buf_free(&b);
	mime_free(&m);
	free(d);
}

/* ---- the blob ---- */

/* A table read from a damaged blob must still be safe to use. */
static void
t_use(const struct mime *m)
{
	char sec[8192], *s;

	s = t_bs(m, 0, 1);
	free(s);
	s = t_env(m, 0);
	free(s);
	for (uint32_t i = 0; i < m->nparts; i++) {
		int n = mime_section(m, i, sec, sizeof(sec));

		assert_true(n >= 0);
		(void)mime_find(m, sec, (size_t)n);
	}
}

static void
test_mime_blob(void **state)
{
	static const char *const files[] = { "thunderbird.eml", "gmail.eml", "outlook.eml", "applemail.eml" };
	size_t len;
	uint8_t *d;
	struct mime *m, *back = NULL;
	struct t_blob b;

	(void)state;
	d = t_read("thunderbird.eml", &len);
	m = t_parse(d, len, NULL, 0);
	b = t_blob(m);
	/* Every truncation is refused, and so is a byte more. */
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(mime_blob_read(b.p, k, &back), -1);
	{
		uint8_t *more = malloc(b.len + 1);

		memcpy(more, b.p, b.len);
		more[b.len] = 0;
		assert_int_equal(mime_blob_read(more, b.len + 1, &back), -1);
		free(more);
	}
	/* Every byte changed: refused, or a table that is safe to use. */
	for (size_t k = 0; k < b.len; k++) {
		static const uint8_t xors[] = { 0x01, 0x02, 0x40, 0x80, 0xff };

		for (size_t x = 0; x < sizeof(xors); x++) {
			b.p[k] ^= xors[x];
			if (mime_blob_read(b.p, b.len, &back) == 0) {
				t_use(back);
				mime_free(&back);
			}
			b.p[k] ^= xors[x];
		}
	}
	/* Magic, version, a count that is not canonical, a count past the bytes left. */
	b.p[0] = 'X';
	assert_int_equal(mime_blob_read(b.p, b.len, &back), -1);
	b.p[0] = 'H';
	assert_int_equal(b.p[6], MIME_BLOB_VERSION);
	b.p[6] = MIME_BLOB_VERSION + 1;
	assert_int_equal(mime_blob_read(b.p, b.len, &back), -1);
	{
		uint8_t *nc = malloc(b.len + 4);

		/* version 1 as 0x81 0x00 */
		memcpy(nc, b.p, 6);
		nc[6] = 0x81;
		nc[7] = 0x00;
		memcpy(nc + 8, b.p + 7, b.len - 7);
		assert_int_equal(mime_blob_read(nc, b.len + 1, &back), -1);
		/* The same, canonical: accepted. */
		b.p[6] = MIME_BLOB_VERSION;
		assert_int_equal(mime_blob_read(b.p, b.len, &back), 0);
		mime_free(&back);
		free(nc);
	}
	{
		static const uint8_t huge[] = { 'H', 'P', 'M', 'I', 'M', 'E', 1, 10, 1, 0,
						0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0 };

		assert_int_equal(mime_blob_read(huge, sizeof(huge), &back), -1);
	}
	free(b.p);
	mime_free(&m);
	free(d);

	/* Round trips of every sample, and what FETCH writes from them. */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct t_blob b2;
		char *x, *y;

		d = t_read(files[i], &len);
		m = t_parse(d, len, NULL, 0);
		b = t_blob(m);
		assert_int_equal(mime_blob_read(b.p, b.len, &back), 0);
		b2 = t_blob(back);
		assert_int_equal(b.len, b2.len);
		assert_memory_equal(b.p, b2.p, b.len);
		for (uint32_t k = 0; k < m->nparts; k++) {
			x = t_bs(m, k, 1);
			y = t_bs(back, k, 1);
			assert_string_equal(x, y);
			free(x);
			free(y);
		}
		free(b.p);
		free(b2.p);
		mime_free(&back);
		mime_free(&m);
		free(d);
	}
}

/* ---- hostile messages ---- */

/* Heap bytes in use (glibc); 0 under ASan, whose allocator does not say. */
static size_t
t_heap(void)
{
	return mallinfo2().uordblks;
}

static void
test_mime_hostile(void **state)
{
	struct t_str s = { 0 };
	struct mime *m;
	struct mime_limits deep;
	char *bs;

	(void)state;
	/* 1,000 multiparts, each inside the last: the 100th is a leaf (no boundary a prefix of another). */
	for (int i = 0; i < 1000; i++)
		t_cat(&s, "Content-Type: multipart/mixed; boundary=b%04d\r\n\r\n--b%04d\r\n", i, i);
	t_cat(&s, "Content-Type: text/plain\r\n\r\nbottom\r\n");
	for (int i = 999; i >= 0; i--)
		t_cat(&s, "--b%04d--\r\n", i);
	m = t_all(s.p, s.len, NULL);
	assert_int_equal(m->nparts, MIME_DEPTH_MAX);
	assert_int_equal(m->parts[m->nparts - 1].depth, MIME_DEPTH_MAX - 1);
	assert_true(m->flags & MIME_F_LIMIT);
	bs = t_bs(m, 0, 1);
	assert_non_null(strstr(bs, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"));
	free(bs);
	mime_free(&m);
	/* With the deepest limit a parser may have, 1,000 levels are kept. */
	mime_limits_default(&deep);
	deep.depth_max = MIME_LIMIT_DEPTH_MAX;
	m = t_parse(s.p, s.len, &deep, 0);
	t_invariants(m, (const uint8_t *)s.p, s.len);
	assert_int_equal(m->nparts, MIME_LIMIT_DEPTH_MAX);
	mime_free(&m);
	t_str_free(&s);

	/* 1,000 messages, each inside the last. */
	for (int i = 0; i < 1000; i++)
		t_cat(&s, "Subject: %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
	t_cat(&s, "Subject: bottom\r\n\r\nbody\r\n");
	m = t_all(s.p, s.len, NULL);
	assert_int_equal(m->nparts, MIME_DEPTH_MAX);
	assert_int_equal(m->nenvs, MIME_DEPTH_MAX);
	assert_true(m->flags & MIME_F_LIMIT);
	bs = t_bs(m, 0, 1);
	assert_non_null(strstr(bs, "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "));
	free(bs);
	mime_free(&m);
	t_str_free(&s);

	/* 100,000 parts: the first MIME_PARTS_MAX are kept, the last of them has the rest. */
	t_cat(&s, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < 100000; i++)
		t_cat(&s, "--b\r\n\r\nx\r\n");
	t_cat(&s, "--b--\r\n");
	m = t_all(s.p, s.len, NULL);
	assert_int_equal(m->nparts, MIME_PARTS_MAX);
	assert_true(m->flags & MIME_F_LIMIT);
	assert_int_equal(m->parts[m->nparts - 1].body_offset + m->parts[m->nparts - 1].body_size, s.len);
	assert_int_equal(m->parts[m->nparts - 2].body_size, 1);
	mime_free(&m);
	t_str_free(&s);

	/* A 1 MiB Subject, a 1 MiB field nobody keeps, 1 MiB of parameters: cut, the structure kept. */
	{
		size_t before, during = 0;
		struct mime_parser *p = NULL;

		t_cat(&s, "Subject: ");
		for (int i = 0; i < 1024; i++)
			t_cat(&s, "%01024d", 0);
		t_cat(&s, "\r\nX-Junk: ");
		for (int i = 0; i < 1024; i++)
			t_cat(&s, "%01024d", 1);
		t_cat(&s, "\r\nContent-Type: multipart/mixed; boundary=b");
		for (int i = 0; i < 100000; i++)
			t_cat(&s, "; p%d=v", i);
		t_cat(&s, "\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
		before = t_heap();
		assert_int_equal(mime_parser_new(NULL, &p), 0);
		for (size_t i = 0; i < s.len; i += 4096) {
			size_t h;

			assert_int_equal(mime_parser_feed(p, s.p + i, s.len - i < 4096 ? s.len - i : 4096), 0);
			h = t_heap();
			if (h > before && h - before > during)
				during = h - before;
		}
		assert_int_equal(mime_parser_finish(p, &m), 0);
		mime_parser_free(&p);
		/* State and table stay small while 3 MiB of header go by (skipped under ASan). */
		if (before > 0 && during > 512 * 1024)
			fail_msg("%zu bytes of heap for a 3 MiB header", during);
		t_invariants(m, (const uint8_t *)s.p, s.len);
		assert_true(m->flags & MIME_F_LIMIT);
		assert_int_equal(m->envs[0].field[MIME_ENV_SUBJECT].len, MIME_HEADER_MAX);
		assert_int_equal(m->nparts, 2);
		assert_true(m->parts[0].flags & MIME_PART_MULTIPART);
		assert_true(m->parts[0].param_count <= MIME_PARAMS_MAX);
		mime_free(&m);
		m = t_all(s.p, s.len, NULL);
		mime_free(&m);
		t_str_free(&s);
	}

	/* A boundary never closed over 10 MiB of one line without an LF, and NULs. */
	{
		static const char head[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n";
		size_t n = 10 * 1024 * 1024;

		t_add(&s, head, sizeof(head) - 1);
		for (size_t i = 0; i < n; i += 4096) {
			char chunk[4096];

			memset(chunk, i % 8192 == 0 ? '\0' : '-', sizeof(chunk));
			t_add(&s, chunk, sizeof(chunk));
		}
		m = t_all(s.p, s.len, NULL);
		assert_int_equal(m->nparts, 2);
		assert_int_equal(m->parts[1].body_size, n);
		assert_int_equal(m->parts[1].body_lines, 0);
		assert_true(m->flags & MIME_F_MALFORMED);
		mime_free(&m);
		t_str_free(&s);
	}
}

/* Memory while 50 MiB stream through in the store's chunks: only the parser's fixed state. */
static void
test_mime_bounded(void **state)
{
	struct t_str s = { 0 };
	struct mime_parser *p = NULL;
	struct mime *m;
	size_t before, during = 0;

	(void)state;
	if (t_heap() == 0)
		skip();
	t_gen_mixed(&s, "fifty MiB", T_BIG_ATTACH, T_BIG_LINES);
	before = t_heap();
	assert_int_equal(mime_parser_new(NULL, &p), 0);
	for (size_t i = 0; i < s.len; i += 65536) {
		size_t h;

		assert_int_equal(mime_parser_feed(p, s.p + i, s.len - i < 65536 ? s.len - i : 65536), 0);
		h = t_heap();
		if (h > before && h - before > during)
			during = h - before;
	}
	assert_int_equal(mime_parser_finish(p, &m), 0);
	mime_parser_free(&p);
	/* fbuf and scratch (2 * MIME_HEADER_MAX) and a small table. */
	if (during > 2 * MIME_HEADER_MAX + 32 * 1024)
		fail_msg("%zu bytes of heap while parsing", during);
	mime_free(&m);
	t_str_free(&s);
}

/* ---- limits as parameters ---- */

static void
test_mime_limits(void **state)
{
	struct mime_limits lim, bad;
	struct t_str s = { 0 };
	struct mime_parser *p = NULL;
	struct mime *m;

	(void)state;
	lim.depth_max = 3;
	lim.parts_max = 5;
	lim.header_max = 64;
	lim.boundary_max = 8;
	lim.kept_max = 256;

	/* Depth: the multipart at depth 2 is a leaf. */
	t_cat(&s, "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
		  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		  "Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n--a--\r\n");
	m = t_all(s.p, s.len, &lim);
	assert_int_equal(m->nparts, 3);
	assert_int_equal(m->parts[2].children, 0);
	assert_true(m->parts[2].flags & MIME_PART_MULTIPART);
	assert_true(m->flags & MIME_F_LIMIT);
	t_expect_bs(m, 0, 0, "((((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\") "
			      "\"mixed\") \"mixed\")");
	mime_free(&m);
	t_str_free(&s);

	/* Parts: five entries, the last with the rest. */
	t_cat(&s, "Content-Type: multipart/mixed; boundary=a\r\n\r\n");
	for (int i = 0; i < 10; i++)
		t_cat(&s, "--a\r\n\r\n%d\r\n", i);
	t_cat(&s, "--a--\r\n");
	m = t_all(s.p, s.len, &lim);
	assert_int_equal(m->nparts, 5);
	assert_int_equal(m->parts[4].body_offset + m->parts[4].body_size, s.len);
	mime_free(&m);
	t_str_free(&s);

	/* A boundary of 9 bytes is one too long; 8 is fine. */
	m = t_all(S("Content-Type: multipart/mixed; boundary=123456789\r\n\r\n--123456789\r\n\r\nx\r\n"), &lim);
	assert_int_equal(m->nparts, 1);
	assert_true(m->parts[0].flags & MIME_PART_MALFORMED);
	mime_free(&m);
	m = t_all(S("Content-Type: multipart/mixed; boundary=12345678\r\n\r\n--12345678\r\n\r\nx\r\n"), &lim);
	assert_int_equal(m->nparts, 2);
	mime_free(&m);

	/* header_max: a field is cut to it; the part keeps no more; the structure does not care. */
	t_cat(&s, "Subject: ");
	for (int i = 0; i < 100; i++)
		t_cat(&s, "s");
	t_cat(&s, "\r\nFrom: a@b\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n");
	m = t_all(s.p, s.len, &lim);
	assert_int_equal(m->envs[0].field[MIME_ENV_SUBJECT].len, 64);
	assert_int_equal(m->envs[0].field[MIME_ENV_FROM].off, MIME_NONE);
	assert_int_equal(m->parts[0].type.off, MIME_NONE);
	assert_int_equal(m->nparts, 2);
	assert_true(m->parts[0].flags & MIME_PART_MULTIPART);
	t_expect_bs(m, 0, 0, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) \"mixed\")");
	mime_free(&m);
	t_str_free(&s);

	/* kept_max: the message keeps no more than it, over all parts. */
	t_cat(&s, "Content-Type: multipart/mixed; boundary=a\r\n\r\n");
	for (int i = 0; i < 4; i++)
		t_cat(&s, "--a\r\nContent-Type: text/plain; name=\"%040d\"\r\n\r\nx\r\n", i);
	t_cat(&s, "--a--\r\n");
	m = t_all(s.p, s.len, &lim);
	assert_int_equal(m->nparts, 5);
	assert_true(m->textlen <= lim.kept_max);
	assert_true(m->flags & MIME_F_LIMIT);
	mime_free(&m);
	t_str_free(&s);

	/* Limits out of range are refused. */
	bad = lim;
	bad.depth_max = 0;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad.depth_max = MIME_LIMIT_DEPTH_MAX + 1;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad = lim;
	bad.parts_max = 0;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad = lim;
	bad.header_max = 63;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad = lim;
	bad.boundary_max = 0;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad.boundary_max = 1001;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	bad = lim;
	bad.kept_max = 63;
	assert_int_equal(mime_parser_new(&bad, &p), -1);
	assert_null(p);
	/* NULL is fine everywhere it is freed. */
	mime_parser_free(NULL);
	mime_parser_free(&p);
	mime_free(NULL);
	m = NULL;
	mime_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_one_dash_is_text),
		cmocka_unit_test(test_mime_corpus),
		cmocka_unit_test(test_mime_real_world),
		cmocka_unit_test(test_mime_rfc3501_sections),
		cmocka_unit_test(test_mime_degraded),
		cmocka_unit_test(test_mime_envelope),
		cmocka_unit_test(test_mime_addr),
		cmocka_unit_test(test_mime_fields),
		cmocka_unit_test(test_mime_words),
		cmocka_unit_test(test_mime_imap_strings),
		cmocka_unit_test(test_mime_blob),
		cmocka_unit_test(test_mime_hostile),
		cmocka_unit_test(test_mime_bounded),
		cmocka_unit_test(test_mime_limits),
	};
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
