/*
 * Fuzz target: the MIME structure parser (home/mime*.c) and everything
 * that reads what it keeps.
 *
 * Input: byte 0: bits 0-3 the number of split positions k, bit 4 tiny
 * limits (so that every limit is reached often); then k positions of 2
 * bytes each (big-endian, modulo the message's length + 1); the rest is
 * the message.
 *
 * Checks: fed whole, split at the positions and one byte at a time, the
 * tables are identical (as blobs); every offset is inside the message,
 * every body's line count is the LFs of its bytes, every part's section
 * number finds it (a spread of FUZZ_MIME_FIND_MAX parts when there are more); the blob reads back to the same blob; BODYSTRUCTURE,
 * BODY and every ENVELOPE are well-formed IMAP (a checker of its own:
 * balanced lists of NIL, numbers, quoted strings and literals) and the
 * same from the read-back table; a blob with a byte changed is refused or
 * safe to use. The input itself also goes to the blob reader, the address
 * list, field and encoded-word parsers (their output valid UTF-8 where
 * promised).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/mime.h"
#include "fuzz.h"

#define FUZZ_MIME_SPLITS_MASK 0x0f
#define FUZZ_MIME_TINY 0x10
#define FUZZ_MIME_OUT_MAX (4 * 1024 * 1024)
#define FUZZ_MIME_SECTION_MAX 8192
#define FUZZ_MIME_FIND_MAX 256		/* parts whose sections are looked up (each walks its siblings) */

static struct mime *
fuzz_mime_parse(const uint8_t *msg, size_t len, const struct mime_limits *lim, const size_t *cuts,
		size_t ncuts, int bytes)
{
	struct mime_parser *p = NULL;
	struct mime *m = NULL;
	size_t from = 0;

	if (mime_parser_new(lim, &p) != 0)
		abort();
	if (bytes) {
		for (size_t i = 0; i < len; i++) {
			if (mime_parser_feed(p, msg + i, 1) != 0)
				abort();
		}
	} else {
		for (size_t i = 0; i <= ncuts; i++) {
			size_t to = i < ncuts ? cuts[i] : len;

			if (mime_parser_feed(p, msg + from, to - from) != 0)
				abort();
			from = to;
		}
	}
	if (mime_parser_finish(p, &m) != 0)
		abort();
	mime_parser_free(&p);
	return m;
}

static void
fuzz_mime_blob(const struct mime *m, uint8_t **b_r, size_t *len_r)
{
	if (mime_blob_write(m, b_r, len_r) != 0)
		abort();
}

static void
fuzz_mime_same(const struct mime *a, const struct mime *b)
{
	uint8_t *x, *y;
	size_t xl, yl;

	fuzz_mime_blob(a, &x, &xl);
	fuzz_mime_blob(b, &y, &yl);
	if (xl != yl || memcmp(x, y, xl) != 0)
		__builtin_trap();
	free(x);
	free(y);
}

/* Well-formed IMAP: NIL, numbers, quoted strings, literals, in balanced lists. */
static int
fuzz_mime_imap_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	long depth = 0;

	while (i < n) {
		uint8_t c = s[i];

		if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			if (--depth < 0)
				return 0;
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == 0 || s[i] >= 0x80 || s[i] == '\r' || s[i] == '\n')
					return 0;
				if (s[i] == '\\' && (i + 1 >= n || (s[i + 1] != '"' && s[i + 1] != '\\')))
					return 0;
				if (s[i] == '\\')
					i++;
			}
			if (i >= n)
				return 0;
			i++;
		} else if (c == '{') {
			size_t len = 0;

			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
				if (len > n)
					return 0;
				len = len * 10 + (size_t)(s[i] - '0');
			}
			if (i + 3 > n || s[i] != '}' || s[i + 1] != '\r' || s[i + 2] != '\n')
				return 0;
			i += 3;
			if (len > n - i || memchr(s + i, 0, len) != NULL)
				return 0;
			i += len;
		} else if (c == 'N') {
			if (n - i < 3 || memcmp(s + i, "NIL", 3) != 0)
				return 0;
			i += 3;
		} else if (c >= '0' && c <= '9') {
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		} else {
			return 0;
		}
	}
	return depth == 0;
}

static size_t
fuzz_mime_lfs(const uint8_t *d, size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < len; i++)
		k += d[i] == '\n';
	return k;
}

/* Write part i's BODYSTRUCTURE (ext 1), BODY (ext 0) or ENVELOPE (ext -1) into out; check it. */
static void
fuzz_mime_write(const struct mime *m, uint32_t i, int ext, struct buf *out)
{
	int rc;

	out->len = 0;
	rc = ext < 0 ? mime_imap_envelope(m, i, out) : mime_imap_bodystructure(m, i, ext, out);
	if (rc != 0 && (ext >= 0 || (m->parts[i].flags & MIME_PART_MESSAGE)) && out->len < out->cap / 2)
		__builtin_trap();
	if (rc == 0 && (out->len < 2 || out->data[0] != '(' || !fuzz_mime_imap_ok(out->data, out->len)))
		__builtin_trap();
}

/* Use a table as FETCH would; compare with another's answers when given. */
static void
fuzz_mime_use(const struct mime *m, const struct mime *other, struct buf *a, struct buf *b)
{
	char sec[FUZZ_MIME_SECTION_MAX];

	for (int ext = -1; ext <= 1; ext++) {
		fuzz_mime_write(m, 0, ext, a);
		if (other != NULL) {
			fuzz_mime_write(other, 0, ext, b);
			if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
				__builtin_trap();
		}
	}
	for (uint32_t i = 0; i < m->nparts; i += 1 + m->nparts / FUZZ_MIME_FIND_MAX) {
		int n = mime_section(m, i, sec, sizeof(sec));

		if (n >= 0)
			(void)mime_find(m, sec, (size_t)n);
		if (m->parts[i].flags & MIME_PART_MESSAGE)
			fuzz_mime_write(m, i, -1, a);
	}
}

static void
fuzz_mime_invariants(const struct mime *m, const uint8_t *msg, size_t len)
{
	char sec[FUZZ_MIME_SECTION_MAX];

	if (m->size != len || m->nparts == 0 || m->parts[0].subtree != m->nparts)
		__builtin_trap();
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct mime_part *pt = &m->parts[i];
		int n;
		int64_t f;

		if (pt->header_offset > len || pt->body_offset != pt->header_offset + pt->header_size ||
		    pt->body_offset > len || pt->body_size > len - pt->body_offset ||
		    pt->body_lines != fuzz_mime_lfs(msg + pt->body_offset, pt->body_size))
			__builtin_trap();
		if (i % (1 + m->nparts / FUZZ_MIME_FIND_MAX) != 0)
			continue;
		n = mime_section(m, i, sec, sizeof(sec));
		if (n < 0)
			__builtin_trap();
		if (n == 0) {
			if (i != 0 || !(pt->flags & MIME_PART_MULTIPART))
				__builtin_trap();
			continue;
		}
		f = mime_find(m, sec, (size_t)n);
		if (f != (int64_t)i && !(f == (int64_t)pt->parent && (pt->flags & MIME_PART_MULTIPART) &&
					 (m->parts[pt->parent].flags & MIME_PART_RFC822)))
			__builtin_trap();
	}
}

static int
fuzz_mime_addr_emit(void *ctx, const struct mime_addr_item *it)
{
	size_t *n = ctx;

	if (it->kind < MIME_ADDR_MAILBOX || it->kind > MIME_ADDR_GROUP_END)
		__builtin_trap();
	(*n)++;
	return 0;
}

static int
fuzz_mime_param_emit(void *ctx, struct mime_span name, struct mime_span value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return 0;
}

/* The standalone parsers on the same bytes. */
static void
fuzz_mime_pieces(const uint8_t *msg, size_t len, struct buf *out)
{
	uint8_t *w = malloc(len > 0 ? len : 1), *scratch = malloc(2 * len + 64);
	struct mime_field_param prm[MIME_PARAMS_MAX];
	struct mime_span t, st, rest, tags[8];
	size_t n = 0, np;
	int64_t got;

	if (w == NULL || scratch == NULL)
		abort();
	got = mime_addr_parse(msg, len, scratch, len, fuzz_mime_addr_emit, &n);
	if (got < 0 || (size_t)got != n || n > len + 1)
		__builtin_trap();
	(void)mime_field_type(msg, len, &t, &st, &rest);
	(void)mime_field_token(msg, len, &t, &rest);
	(void)mime_field_languages(msg, len, tags, 8);
	memcpy(w, msg, len);
	np = mime_field_params(w, len, prm, MIME_PARAMS_MAX);
	if (mime_field_rfc2231(prm, np, scratch, 2 * len + 64, fuzz_mime_param_emit, NULL) != 0)
		__builtin_trap();
	for (int k = 0; k < 2; k++) {
		out->len = 0;
		if ((k == 0 ? mime_word_decode(msg, len, out, NULL, NULL) :
			      mime_word_decode_2231(msg, len, out, NULL, NULL)) == 0) {
			/* Valid UTF-8 out, always. */
			for (size_t i = 0; i < out->len;) {
				uint8_t c = out->data[i];
				size_t l = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 :
					   c >= 0xf0 && c < 0xf5 ? 4 : 0;

				if (l == 0 || l > out->len - i)
					__builtin_trap();
				for (size_t j = 1; j < l; j++) {
					if ((out->data[i + j] & 0xc0) != 0x80)
						__builtin_trap();
				}
				i += l;
			}
		}
	}
	free(w);
	free(scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct buf *a, *b;
	struct mime_limits lim;
	size_t cuts[FUZZ_MIME_SPLITS_MASK], ncuts, pos, len;
	const uint8_t *msg;
	struct mime *whole, *split, *bytes, *back = NULL;
	uint8_t *blob;
	size_t blen;

	if (a == NULL) {
		a = buf_new(FUZZ_MIME_OUT_MAX);
		b = buf_new(FUZZ_MIME_OUT_MAX);
		if (a == NULL || b == NULL)
			abort();
	}
	if (size < 1)
		return 0;
	ncuts = data[0] & FUZZ_MIME_SPLITS_MASK;
	pos = 1 + 2 * ncuts;
	if (pos > size)
		return 0;
	msg = data + pos;
	len = size - pos;
	mime_limits_default(&lim);
	if (data[0] & FUZZ_MIME_TINY) {
		lim.depth_max = 4;
		lim.parts_max = 8;
		lim.header_max = 64;
		lim.boundary_max = 8;
		lim.kept_max = 256;
	}
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = ((size_t)data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (len + 1);
	for (size_t i = 1; i < ncuts; i++) {
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}

	whole = fuzz_mime_parse(msg, len, &lim, NULL, 0, 0);
	split = fuzz_mime_parse(msg, len, &lim, cuts, ncuts, 0);
	bytes = fuzz_mime_parse(msg, len, &lim, NULL, 0, 1);
	fuzz_mime_same(whole, split);
	fuzz_mime_same(whole, bytes);
	fuzz_mime_invariants(whole, msg, len);
	if (whole->nparts > lim.parts_max || whole->textlen > lim.kept_max)
		__builtin_trap();

	/* The blob reads back the same, answers the same. */
	fuzz_mime_blob(whole, &blob, &blen);
	if (mime_blob_read(blob, blen, &back) != 0)
		__builtin_trap();
	fuzz_mime_same(whole, back);
	fuzz_mime_use(whole, back, a, b);
	mime_free(&back);
	/* A byte of it changed: refused, or safe. */
	if (blen > 0) {
		uint32_t h = 2166136261u;

		for (size_t i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		blob[h % blen] ^= (uint8_t)(h >> 24 | 1);
		if (mime_blob_read(blob, blen, &back) == 0) {
			fuzz_mime_use(back, NULL, a, b);
			mime_free(&back);
		}
	}
	free(blob);
	/* The input as a blob. */
	if (mime_blob_read(msg, len, &back) == 0) {
		fuzz_mime_use(back, NULL, a, b);
		mime_free(&back);
	}
	fuzz_mime_pieces(msg, len, a);

	mime_free(&whole);
	mime_free(&split);
	mime_free(&bytes);
	return 0;
}
