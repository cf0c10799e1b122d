/*
 * wgkey: WireGuard keys (X25519), in the base64 text form of wg(8):
 * 44 characters, the last one '='. "wg pubkey" accepts our private keys
 * and we accept its output, and the other way round.
 */
#ifndef HOMEPORT_WGKEY_H
#define HOMEPORT_WGKEY_H

#include <stddef.h>
#include <stdint.h>

#define WGKEY_LEN 32
#define WGKEY_TEXT_LEN 44			/* base64 of 32 bytes */
#define WGKEY_TEXT_SIZE (WGKEY_TEXT_LEN + 1)	/* with the NUL */

/* A fresh private key: 32 random bytes, clamped as X25519 wants (as wg genkey). */
void wgkey_generate(uint8_t priv[WGKEY_LEN]);

/* The public key of priv. Returns 0, or -1 for a key whose public key would be zero. */
int wgkey_public(const uint8_t priv[WGKEY_LEN], uint8_t pub[WGKEY_LEN]);

/*
 * Parse a key as wg(8) reads one: exactly 44 base64 characters, then
 * nothing but whitespace. Pure. Returns 0, or -1 (key wiped).
 */
int wgkey_parse(const char *text, size_t len, uint8_t key[WGKEY_LEN]);

/*
 * Read a private key file (0600, the text form) at path, or with create
 * set and no file there, make one (0600). Returns 0, or -1 with err set.
 */
int wgkey_load(const char *path, int create, uint8_t key[WGKEY_LEN], char *err, size_t errcap);

/* Write the 44-character text form and a NUL into out. */
void wgkey_format(const uint8_t key[WGKEY_LEN], char out[WGKEY_TEXT_SIZE]);

#endif
