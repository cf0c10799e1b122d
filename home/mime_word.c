/*
 * mime_word: text of header fields as UTF-8, for SEARCH (IMAP sends the
 * fields as they are; ENVELOPE never decodes).
 *
 * RFC 2047 encoded words "=?charset?B|Q?text?=" (with RFC 2231 5's
 * "charset*lang"), the blanks between adjacent words dropped (RFC 2047
 * 6.2); RFC 2231 extended parameter values charset'lang'%XX. UTF-8,
 * US-ASCII, ISO-8859-1 and Windows-1252 are decoded here; any other
 * charset goes to the caller's converter, and a word nobody decodes stays
 * as written. The output is always valid UTF-8: every invalid byte
 * becomes U+FFFD.
 *
 * No I/O, no globals; one allocation per call (the decoded bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "mime.h"

#define MIME_WORD_CHARSET_MAX 64	/* bytes of a charset name */

/* Windows-1252 0x80..0x9f; 0 where it has no character (then U+FFFD). */
static const uint16_t mime_word_cp1252[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

enum mime_word_cs {
	MIME_WORD_CS_UTF8,
	MIME_WORD_CS_LATIN1,
	MIME_WORD_CS_CP1252,
	MIME_WORD_CS_OTHER,
};

static int
mime_word_cp(struct buf *out, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	}
	return buf_append(out, b, n);
}

/* The length (1 to 4) of the well-formed UTF-8 character at s[0..n), or 0. */
static size_t
mime_word_utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t k;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	k = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (c == 0xe0)
		lo = 0xa0;	/* no overlong forms */
	else if (c == 0xed)
		hi = 0x9f;	/* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;	/* nothing past U+10FFFF */
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return k;
}

/* Append s[0..n) as valid UTF-8 (U+FFFD for each byte that is not). */
static int
mime_word_utf8(struct buf *out, const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = i;

		while (run < n && s[run] < 0x80)
			run++;
		if (run > i && buf_append(out, s + i, run - i) != 0)
			return -1;
		i = run;
		if (i < n) {
			size_t k = mime_word_utf8_len(s + i, n - i);

			if (k == 0) {
				if (mime_word_cp(out, 0xfffd) != 0)
					return -1;
				i++;
			} else {
				if (buf_append(out, s + i, k) != 0)
					return -1;
				i += k;
			}
		}
	}
	return 0;
}

static int
mime_word_eq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;

		if (x != *b)
			return 0;
	}
	return *a == *b;
}

static enum mime_word_cs
mime_word_charset(const char *cs)
{
	static const char *const utf8[] = { "utf-8", "utf8", "us-ascii", "ascii", "" };
	static const char *const latin1[] = { "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
					      "l1" };
	static const char *const cp1252[] = { "windows-1252", "cp1252" };

	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
		if (mime_word_eq(cs, utf8[i]))
			return MIME_WORD_CS_UTF8;
	for (size_t i = 0; i < sizeof(latin1) / sizeof(latin1[0]); i++)
		if (mime_word_eq(cs, latin1[i]))
			return MIME_WORD_CS_LATIN1;
	for (size_t i = 0; i < sizeof(cp1252) / sizeof(cp1252[0]); i++)
		if (mime_word_eq(cs, cp1252[i]))
			return MIME_WORD_CS_CP1252;
	return MIME_WORD_CS_OTHER;
}

/*
 * Append s[0..n) in charset cs as UTF-8. Returns 0, 1 when the charset is
 * unknown (nothing appended), or -1 when out is full.
 */
static int
mime_word_convert(const char *cs, const uint8_t *s, size_t n, struct buf *out,
		  mime_word_charset_fn *conv, void *ctx)
{
	size_t before = out->len;
	int rc;

	switch (mime_word_charset(cs)) {
	case MIME_WORD_CS_UTF8:
		return mime_word_utf8(out, s, n);
	case MIME_WORD_CS_LATIN1:
	case MIME_WORD_CS_CP1252:
		for (size_t i = 0; i < n; i++) {
			uint32_t cp = s[i];

			if (cp >= 0x80 && cp < 0xa0 && mime_word_charset(cs) == MIME_WORD_CS_CP1252)
				cp = mime_word_cp1252[cp - 0x80] != 0 ? mime_word_cp1252[cp - 0x80] : 0xfffd;
			if (mime_word_cp(out, cp) != 0)
				return -1;
		}
		return 0;
	default:
		if (conv == NULL)
			return 1;
		rc = conv(ctx, cs, s, n, out);
		if (rc != 0)
			out->len = before;
		return rc;
	}
}

/* Decode B (base64, lenient) or Q text s[0..n) into out; returns the bytes written (<= n). */
static size_t
mime_word_unencode(int b, const uint8_t *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	if (b) {
		uint32_t acc = 0;
		int bits = 0;

		for (size_t i = 0; i < n && s[i] != '='; i++) {
			int v = mime_b64_value(s[i]);

			if (v < 0)
				continue;
			acc = (acc << 6 | (uint32_t)v) & 0xffffff;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[o++] = (uint8_t)(acc >> bits);
			}
		}
		return o;
	}
	for (size_t i = 0; i < n; i++) {
		int h, l;

		if (s[i] == '_') {
			out[o++] = ' ';
		} else if (s[i] == '=' && i + 2 < n && (h = mime_hex_value(s[i + 1])) >= 0 &&
			   (l = mime_hex_value(s[i + 2])) >= 0) {
			out[o++] = (uint8_t)(h << 4 | l);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	return o;
}

/*
 * An encoded word at v[at..len)? Fills charset (NUL-terminated, without
 * "*lang"), *b_r (1: B), the text span and *end_r (past "?="). Returns 1
 * if it is one, else 0.
 */
static int
mime_word_parse(const uint8_t *v, size_t len, size_t at, char *charset, int *b_r, size_t *text_r,
		size_t *text_len_r, size_t *end_r)
{
	size_t i = at + 2, cs = 0, t;
	int star = 0;

	for (; i < len && v[i] != '?'; i++) {
		if (v[i] <= ' ' || v[i] >= 0x7f || cs >= MIME_WORD_CHARSET_MAX)
			return 0;
		if (v[i] == '*')
			star = 1;
		if (!star)
			charset[cs++] = (char)v[i];
	}
	charset[cs] = '\0';
	if (cs == 0 || i + 3 > len || v[i + 2] != '?')
		return 0;
	if (v[i + 1] == 'B' || v[i + 1] == 'b')
		*b_r = 1;
	else if (v[i + 1] == 'Q' || v[i + 1] == 'q')
		*b_r = 0;
	else
		return 0;
	t = i + 3;
	for (i = t; i + 1 < len; i++) {
		if (v[i] == '?' && v[i + 1] == '=') {
			*text_r = t;
			*text_len_r = i - t;
			*end_r = i + 2;
			return 1;
		}
		if (v[i] == ' ' || v[i] == '\t')
			return 0;
	}
	return 0;
}

int
mime_word_decode(const uint8_t *v, size_t len, struct buf *out, mime_word_charset_fn *conv, void *ctx)
{
	uint8_t *tmp = malloc(len > 0 ? len : 1);
	size_t i = 0;
	int after_word = 0, rc = -1;

	if (tmp == NULL)
		return -1;
	while (i < len) {
		const uint8_t *eq = len - i >= 2 ? memmem(v + i, len - i, "=?", 2) : NULL;
		size_t at = eq != NULL ? (size_t)(eq - v) : len, text, tlen, end, n;
		char charset[MIME_WORD_CHARSET_MAX + 1];
		int b, blank = 1, r;

		if (eq == NULL || !mime_word_parse(v, len, at, charset, &b, &text, &tlen, &end)) {
			/* Plain text up to (and with) the "=?" that starts no word. */
			size_t upto = eq != NULL ? at + 2 : len;

			if (mime_word_utf8(out, v + i, upto - i) != 0)
				goto fail;
			after_word = 0;
			i = upto;
			continue;
		}
		for (size_t k = i; k < at && blank; k++)
			blank = v[k] == ' ' || v[k] == '\t' || v[k] == '\r' || v[k] == '\n';
		if (!(after_word && blank) && mime_word_utf8(out, v + i, at - i) != 0)
			goto fail;
		n = mime_word_unencode(b, v + text, tlen, tmp);
		r = mime_word_convert(charset, tmp, n, out, conv, ctx);
		if (r < 0)
			goto fail;
		if (r > 0 && mime_word_utf8(out, v + at, end - at) != 0)
			goto fail;
		after_word = r == 0;
		i = end;
	}
	rc = 0;
fail:
	free(tmp);
	return rc;
}

int
mime_word_decode_charset(const char *charset, const uint8_t *in, size_t len, struct buf *out,
			 mime_word_charset_fn *conv, void *ctx)
{
	size_t before = out->len;
	int rc = mime_word_convert(charset, in, len, out, conv, ctx);

	if (rc != 0)
		out->len = before;
	return rc;
}

int
mime_word_decode_2231(const uint8_t *v, size_t len, struct buf *out, mime_word_charset_fn *conv,
		      void *ctx)
{
	const uint8_t *q1 = memchr(v, '\'', len), *q2;
	char charset[MIME_WORD_CHARSET_MAX + 1];
	uint8_t *tmp;
	size_t cs, n = 0, s;
	int rc;

	q2 = q1 != NULL ? memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - v)) : NULL;
	cs = q1 != NULL ? (size_t)(q1 - v) : 0;
	if (q2 == NULL || cs > MIME_WORD_CHARSET_MAX)
		return mime_word_utf8(out, v, len);
	memcpy(charset, v, cs);
	charset[cs] = '\0';
	s = (size_t)(q2 + 1 - v);
	tmp = malloc(len > 0 ? len : 1);
	if (tmp == NULL)
		return -1;
	for (size_t i = s; i < len; i++) {
		int h, l;

		if (v[i] == '%' && i + 2 < len && (h = mime_hex_value(v[i + 1])) >= 0 &&
		    (l = mime_hex_value(v[i + 2])) >= 0) {
			tmp[n++] = (uint8_t)(h << 4 | l);
			i += 2;
		} else {
			tmp[n++] = v[i];
		}
	}
	rc = mime_word_convert(charset, tmp, n, out, conv, ctx);
	if (rc > 0)
		rc = mime_word_utf8(out, v, len);
	free(tmp);
	return rc;
}
