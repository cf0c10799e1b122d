/*
 * hex: lowercase hexadecimal, as in WireGuard's UAPI and key fingerprints.
 * Both directions run in constant time (libsodium underneath).
 */
#ifndef HOMEPORT_HEX_H
#define HOMEPORT_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes, plus the NUL. */
#define HEX_ENCODED_SIZE(n) ((n) * 2 + 1)

/*
 * Encode len bytes as lowercase hex into out[0..cap) with a NUL.
 * Returns the encoded length, or -1 if cap < HEX_ENCODED_SIZE(len).
 */
int hex_encode(const void *in, size_t len, char *out, size_t cap);

/*
 * Decode exactly len hex digits (either case, no separators).
 * Returns 0 and sets *out_len_r, or -1 for an odd length, a non-hex
 * character, or more than cap bytes of output.
 */
int hex_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len_r);

#endif
