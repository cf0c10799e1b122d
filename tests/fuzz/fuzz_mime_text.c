/*
 * Fuzz target: the text extractor (home/mime_text.c) on the table the
 * MIME parser makes of the input, and the iconv converter.
 *
 * Input: byte 0: bits 0-2 pick how many bytes the reader hands out a call
 * (all, 1, 2, 3, 5, 64, 4096, 16383), bit 3 tiny parser limits, bit 4
 * charsets through mime_iconv (else a converter of this file's own for
 * "x-fuzz", which grows each byte into 1 to 4 bytes of UTF-8); the rest is
 * the message.
 *
 * Checks: read whole and read in pieces, and from the table read back
 * from its blob, the texts are identical; every text is valid UTF-8 (a
 * checker of its own) with no NUL or CR inside, NUL-terminated, and
 * within its cap; the reader is never asked for bytes before the start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/mime.h"
#include "fuzz.h"

#define FUZZ_TEXT_PIECE_MASK 0x07
#define FUZZ_TEXT_TINY 0x08
#define FUZZ_TEXT_ICONV 0x10

static const size_t fuzz_text_caps[MIME_TEXT_FIELDS] = {
	MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX, MIME_TEXT_FIELD_MAX,
	MIME_TEXT_FIELD_MAX, MIME_TEXT_HEADER_MAX, MIME_TEXT_BODY_MAX,
};

struct fuzz_reader {
	const uint8_t *msg;
	size_t len;
	size_t piece;	/* 0: as asked */
};

static int
fuzz_read(void *ctx, uint64_t off, uint8_t *buf, size_t cap, size_t *len_r)
{
	struct fuzz_reader *r = ctx;
	size_t n;

	if (cap == 0)
		__builtin_trap();
	if (off >= r->len) {
		*len_r = 0;
		return 0;
	}
	n = r->len - (size_t)off < cap ? r->len - (size_t)off : cap;
	if (r->piece != 0 && n > r->piece)
		n = r->piece;
	memcpy(buf, r->msg + off, n);
	*len_r = n;
	return 0;
}

/* "x-fuzz": byte b becomes U+0000 + b (1 byte), U+0100 + b (2), U+1000 + b (3) or U+10000 + b (4). */
static int
fuzz_conv(void *ctx, const char *charset, const uint8_t *in, size_t len, struct buf *out)
{
	(void)ctx;
	if (strcmp(charset, "x-fuzz") != 0)
		return 1;
	for (size_t i = 0; i < len; i++) {
		uint8_t u[4];
		size_t n;
		uint32_t cp = in[i];

		switch (in[i] & 3) {
		case 0:
			cp &= 0x7f;
			u[0] = (uint8_t)cp;
			n = 1;
			break;
		case 1:
			cp += 0x100;
			u[0] = (uint8_t)(0xc0 | cp >> 6);
			u[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
			break;
		case 2:
			cp += 0x1000;
			u[0] = (uint8_t)(0xe0 | cp >> 12);
			u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			u[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
			break;
		default:
			cp += 0x10000;
			u[0] = (uint8_t)(0xf0 | cp >> 18);
			u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
			u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			u[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
			break;
		}
		if (buf_append(out, u, n) != 0)
			return -1;
	}
	return 0;
}

/* Valid UTF-8: no overlong form, surrogate, or code point past U+10FFFF. */
static int
fuzz_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			k = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			k = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			k = 4, cp = s[i] & 0x07;
		else
			return 0;
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
fuzz_text_check(const struct mime_text *t)
{
	for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
		const uint8_t *s = (const uint8_t *)t->text[f];

		if (s == NULL || t->len[f] > fuzz_text_caps[f] || s[t->len[f]] != '\0' ||
		    memchr(s, '\0', t->len[f]) != NULL || memchr(s, '\r', t->len[f]) != NULL ||
		    !fuzz_utf8(s, t->len[f]))
			__builtin_trap();
	}
}

static void
fuzz_text_same(const struct mime_text *a, const struct mime_text *b)
{
	if (a->flags != b->flags)
		__builtin_trap();
	for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
		if (a->len[f] != b->len[f] || memcmp(a->text[f], b->text[f], a->len[f]) != 0)
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[8] = { 0, 1, 2, 3, 5, 64, 4096, 16383 };
	struct mime_limits lim;
	struct fuzz_reader r;
	struct mime *m = NULL, *back = NULL;
	struct mime_text *t = NULL, *u = NULL;
	struct mime_iconv *ic = NULL;
	mime_word_charset_fn *conv = fuzz_conv;
	void *conv_ctx = NULL;
	uint8_t *blob = NULL;
	size_t blen = 0;

	if (size < 1)
		return 0;
	mime_limits_default(&lim);
	if (data[0] & FUZZ_TEXT_TINY) {
		lim.depth_max = 3;
		lim.parts_max = 8;
		lim.header_max = MIME_LIMIT_HEADER_MIN;
		lim.boundary_max = 8;
		lim.kept_max = 256;
	}
	if (data[0] & FUZZ_TEXT_ICONV) {
		if (mime_iconv_new(&ic) != 0)
			abort();
		conv = mime_iconv_convert;
		conv_ctx = ic;
	}
	r.msg = data + 1;
	r.len = size - 1;
	r.piece = 0;
	if (mime_parse(r.msg, r.len, &lim, &m) != 0)
		abort();
	if (mime_text_extract(m, fuzz_read, &r, conv, conv_ctx, &t) != 0)
		abort();
	fuzz_text_check(t);

	r.piece = pieces[data[0] & FUZZ_TEXT_PIECE_MASK];
	if (mime_text_extract(m, fuzz_read, &r, conv, conv_ctx, &u) != 0)
		abort();
	fuzz_text_same(t, u);
	mime_text_free(&u);

	/* The table as the store keeps it gives the same text. */
	if (mime_blob_write(m, &blob, &blen) != 0 || mime_blob_read(blob, blen, &back) != 0)
		abort();
	r.piece = 0;
	if (mime_text_extract(back, fuzz_read, &r, conv, conv_ctx, &u) != 0)
		abort();
	fuzz_text_same(t, u);

	mime_text_free(&u);
	mime_text_free(&t);
	mime_free(&back);
	free(blob);
	mime_free(&m);
	mime_iconv_free(&ic);
	return 0;
}
