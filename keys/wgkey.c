#include "wgkey.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "keyfile.h"

void
wgkey_generate(uint8_t priv[WGKEY_LEN])
{
	randombytes_buf(priv, WGKEY_LEN);
	/* RFC 7748 section 5 clamping, as wg genkey stores it. */
	priv[0] &= 248;
	priv[31] = (uint8_t)((priv[31] & 127) | 64);
}

int
wgkey_public(const uint8_t priv[WGKEY_LEN], uint8_t pub[WGKEY_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -1;
}

static int
wgkey_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int
wgkey_parse(const char *text, size_t len, uint8_t key[WGKEY_LEN])
{
	char again[WGKEY_TEXT_SIZE];
	size_t n = 0;

	if (len < WGKEY_TEXT_LEN || text[WGKEY_TEXT_LEN - 1] != '=')
		goto fail;
	for (size_t i = WGKEY_TEXT_LEN; i < len; i++) {
		if (!wgkey_is_space(text[i]))
			goto fail;
	}
	if (b64_decode(text, WGKEY_TEXT_LEN, key, WGKEY_LEN, &n) != 0 || n != WGKEY_LEN)
		goto fail;
	/* Only the canonical spelling (unused low bits zero), as wg(8) insists. */
	wgkey_format(key, again);
	if (sodium_memcmp(again, text, WGKEY_TEXT_LEN) != 0)
		goto fail;
	sodium_memzero(again, sizeof(again));
	return 0;
fail:
	sodium_memzero(again, sizeof(again));
	sodium_memzero(key, WGKEY_LEN);
	return -1;
}

void
wgkey_format(const uint8_t key[WGKEY_LEN], char out[WGKEY_TEXT_SIZE])
{
	b64_encode(key, WGKEY_LEN, out, WGKEY_TEXT_SIZE);
}

int
wgkey_load(const char *path, int create, uint8_t key[WGKEY_LEN], char *err, size_t errcap)
{
	uint8_t text[WGKEY_TEXT_SIZE + 8];
	size_t len = 0;
	int rc = -1;

	if (create && access(path, F_OK) != 0 && errno == ENOENT) {
		char out[WGKEY_TEXT_SIZE + 1];

		wgkey_generate(key);
		wgkey_format(key, out);
		strcat(out, "\n");
		rc = keyfile_create(path, out, WGKEY_TEXT_LEN + 1, 0600, err, errcap);
		sodium_memzero(out, sizeof(out));
		if (rc != 0)
			sodium_memzero(key, WGKEY_LEN);
		return rc;
	}
	if (keyfile_read(path, 1, text, sizeof(text), &len, err, errcap) != 0)
		return -1;
	if (wgkey_parse((const char *)text, len, key) != 0)
		snprintf(err, errcap, "%s: not a WireGuard private key", path);
	else
		rc = 0;
	sodium_memzero(text, sizeof(text));
	return rc;
}
