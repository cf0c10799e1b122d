/*
 * imap_names: mailbox names as IMAP clients write them. IMAP4rev1 clients
 * send non-ASCII names in modified UTF-7 (RFC 3501 5.1.3); IMAP4rev2 and
 * UTF8=ACCEPT clients send UTF-8, which is what the store keeps. LIST
 * patterns use '*' (anything) and '%' (anything but the delimiter).
 * Pure functions over bytes; no allocation.
 */
#include <string.h>

#include "home.h"
#include "utf8.h"

/* Modified base64: RFC 3501 uses ',' where base64 has '/'. */
static const char imap_mutf7_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
imap_mutf7_value(uint8_t c)
{
	const char *p = c != '\0' ? strchr(imap_mutf7_alphabet, c) : NULL;

	return p != NULL ? (int)(p - imap_mutf7_alphabet) : -1;
}

/* Append one code point as UTF-8. Returns 0, or -1 if out is full. */
static int
imap_utf8_put(uint32_t cp, char *out, size_t cap, size_t *o)
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
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (cap - *o <= n)
		return -1;
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

/*
 * One shifted run in[0..len) (between '&' and '-'): UTF-16BE in modified
 * base64, written as UTF-8. Refused: a bad character, an odd byte or
 * non-zero bits left over, a lone surrogate, a character that did not
 * need the shift (printable ASCII), or a control character.
 */
static int
imap_mutf7_run(const uint8_t *in, size_t len, char *out, size_t cap, size_t *o)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;

	for (size_t i = 0; i < len; i++) {
		int v = imap_mutf7_value(in[i]);
		uint32_t unit;

		if (v < 0)
			return -1;
		bits = (bits << 6 | (uint32_t)v) & 0xffffff;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unit = bits >> nbits & 0xffff;
		if (unit >= 0xd800 && unit <= 0xdbff) {
			if (high != 0)
				return -1;
			high = unit;
			continue;
		}
		if (unit >= 0xdc00 && unit <= 0xdfff) {
			if (high == 0)
				return -1;
			unit = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
			high = 0;
		} else if (high != 0 || unit < 0xa0) {
			return -1;	/* ASCII needs no shift; controls (C0, DEL, C1) are no names */
		}
		if (imap_utf8_put(unit, out, cap, o) != 0)
			return -1;
	}
	/* Whatever is left must be padding: fewer than 6 bits, all zero. */
	if (high != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	return 0;
}

int
imap_mutf7_decode(const char *in, size_t len, char *out, size_t cap)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t o = 0;

	if (cap == 0)
		return -1;
	for (size_t i = 0; i < len;) {
		const uint8_t *end;

		if (p[i] < 0x20 || p[i] > 0x7e)
			return -1;
		if (p[i] != '&') {
			if (cap - o <= 1)
				return -1;
			out[o++] = (char)p[i++];
			continue;
		}
		end = memchr(p + i + 1, '-', len - i - 1);
		if (end == NULL)
			return -1;
		if (end == p + i + 1) {
			if (cap - o <= 1)
				return -1;
			out[o++] = '&';		/* "&-" */
		} else if (imap_mutf7_run(p + i + 1, (size_t)(end - p - i - 1), out, cap, &o) != 0) {
			return -1;
		}
		i = (size_t)(end - p) + 1;
	}
	out[o] = '\0';
	return 0;
}

/* Flush pending bits of a shifted run (padding with zeros) and close it. */
static int
imap_mutf7_close(uint32_t bits, unsigned nbits, char *out, size_t cap, size_t *o)
{
	if (nbits > 0) {
		if (cap - *o <= 1)
			return -1;
		out[(*o)++] = imap_mutf7_alphabet[(bits << (6 - nbits)) & 0x3f];
	}
	if (cap - *o <= 1)
		return -1;
	out[(*o)++] = '-';
	return 0;
}

int
imap_mutf7_encode(const char *utf8, char *out, size_t cap)
{
	const uint8_t *p = (const uint8_t *)utf8;
	size_t len = strlen(utf8), o = 0;
	uint32_t bits = 0;
	unsigned nbits = 0;
	int shifted = 0;

	if (cap == 0)
		return -1;
	for (size_t i = 0; i < len;) {
		uint32_t cp, units[2];
		size_t k, nunits;

		if (p[i] >= 0x20 && p[i] <= 0x7e) {
			if (shifted && imap_mutf7_close(bits, nbits, out, cap, &o) != 0)
				return -1;
			shifted = 0;
			bits = nbits = 0;
			if (cap - o <= (p[i] == '&' ? 2u : 1u))
				return -1;
			out[o++] = (char)p[i];
			if (p[i++] == '&')
				out[o++] = '-';
			continue;
		}
		k = utf8_printable_len(p + i, len - i);
		if (k == 0)
			return -1;	/* a control character or not UTF-8 */
		cp = p[i] & (k == 2 ? 0x1fu : k == 3 ? 0x0fu : 0x07u);
		for (size_t j = 1; j < k; j++)
			cp = cp << 6 | (p[i + j] & 0x3fu);
		i += k;
		if (cp >= 0x10000) {
			units[0] = 0xd800 + ((cp - 0x10000) >> 10);
			units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
			nunits = 2;
		} else {
			units[0] = cp;
			nunits = 1;
		}
		if (!shifted) {
			if (cap - o <= 1)
				return -1;
			out[o++] = '&';
			shifted = 1;
		}
		for (size_t u = 0; u < nunits; u++) {
			bits = (bits << 16 | units[u]) & 0xffffff;
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				if (cap - o <= 1)
					return -1;
				out[o++] = imap_mutf7_alphabet[bits >> nbits & 0x3f];
			}
		}
	}
	if (shifted && imap_mutf7_close(bits, nbits, out, cap, &o) != 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int
imap_list_match(const char *pattern, const char *name, char delim)
{
	/*
	 * Iterative matching with one backtrack point per wildcard kind: the
	 * last '*' can absorb anything, the last '%' anything but delim (and a
	 * '*' seen before it still can). Linear in practice, never worse than
	 * length(pattern) x length(name).
	 */
	const char *p = pattern, *n = name, *star_p = NULL, *star_n = NULL, *pct_p = NULL, *pct_n = NULL;

	while (*n != '\0') {
		if (*p == '*') {
			star_p = ++p;
			star_n = n;
			pct_p = NULL;
			continue;
		}
		if (*p == '%') {
			pct_p = ++p;
			pct_n = n;
			continue;
		}
		if (*p != '\0' && *p == *n) {
			p++;
			n++;
			continue;
		}
		if (pct_p != NULL && *pct_n != '\0' && *pct_n != delim) {
			p = pct_p;
			n = ++pct_n;
			continue;
		}
		if (star_p != NULL) {
			p = star_p;
			n = ++star_n;
			pct_p = NULL;
			continue;
		}
		return 0;
	}
	while (*p == '*' || *p == '%')
		p++;
	return *p == '\0';
}
