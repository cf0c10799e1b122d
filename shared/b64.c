#include "b64.h"

#include <sodium.h>

int
b64_encode(const void *in, size_t len, char *out, size_t cap)
{
	size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

	if (cap < need)
		return -1;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return (int)(need - 1);
}

int
b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r)
{
	const char *end = NULL;
	unsigned char high = 0;
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	/*
	 * libsodium 1.0.18 reads each character as a signed char and takes
	 * every byte from 0x80 up for a base64 digit. Refuse them first,
	 * looking at every byte so that the time does not depend on where.
	 */
	for (size_t i = 0; i < len; i++)
		high |= (unsigned char)in[i];
	if (high & 0x80)
		return -1;
	if (sodium_base642bin(out, cap, in, len, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	if (end != in + len)
		return -1;
	*out_len_r = n;
	return 0;
}
