#include "hex.h"

#include <sodium.h>

int
hex_encode(const void *in, size_t len, char *out, size_t cap)
{
	if (len > (SIZE_MAX - 1) / 2 || cap < HEX_ENCODED_SIZE(len))
		return -1;
	sodium_bin2hex(out, cap, in, len);
	return (int)(len * 2);
}

int
hex_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r)
{
	const char *end = NULL;
	size_t n = 0;

	if (len % 2 != 0)
		return -1;
	if (sodium_hex2bin(out, cap, in, len, NULL, &n, &end) != 0)
		return -1;
	if (end != in + len)
		return -1;
	*out_len_r = n;
	return 0;
}
