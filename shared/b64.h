/*
 * b64: standard base64 (RFC 4648 section 4, with padding), the encoding of
 * WireGuard, minisign and DKIM keys. Both directions run in constant time
 * (libsodium's codec underneath), so they are safe on secret keys.
 */
#ifndef HOMEPORT_B64_H
#define HOMEPORT_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes, plus the NUL. */
#define B64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/*
 * Encode len bytes into out[0..cap) with a NUL.
 * Returns the encoded length, or -1 if cap < B64_ENCODED_SIZE(len).
 */
int b64_encode(const void *in, size_t len, char *out, size_t cap);

/*
 * Decode exactly len characters of in: padding required, no whitespace, no
 * other characters. Returns 0 and sets *out_len_r, or -1 when the text is
 * not valid base64 or decodes to more than cap bytes.
 */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r);

#endif
