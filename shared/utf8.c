#include "utf8.h"

size_t
utf8_printable_len(const uint8_t *p, size_t left)
{
	uint32_t cp;
	size_t n;

	if (left == 0 || p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	if (p[0] < 0xe0) {
		n = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] < 0xf0) {
		n = 3;
		cp = p[0] & 0x0fu;
	} else {
		n = 4;
		cp = p[0] & 0x07u;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

