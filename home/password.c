/*
 * password.c: account passwords. Argon2id at libsodium's "interactive"
 * limits (2 passes, 64 MiB): about a tenth of a second here, which a login
 * pays once and a password guesser pays per guess.
 */
#include <string.h>

#include <sodium.h>

#include "home.h"

#define PASSWORD_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PASSWORD_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

_Static_assert(PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

int
password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX])
{
	if (len == 0 || len > PASSWORD_MAX)
		return -1;
	return crypto_pwhash_str_alg(out, password, len, PASSWORD_OPSLIMIT, PASSWORD_MEMLIMIT,
				     crypto_pwhash_ALG_ARGON2ID13) == 0 ? 0 : -1;
}

int
password_verify(const char *hash, const char *password, size_t len)
{
	if (len == 0 || len > PASSWORD_MAX || memchr(hash, '\0', PASSWORD_HASH_MAX) == NULL)
		return 0;
	return crypto_pwhash_str_verify(hash, password, len) == 0;
}

int
password_needs_rehash(const char *hash)
{
	/* -1 (not an Argon2id hash at all) needs a new hash as much as 1 does. */
	return crypto_pwhash_str_needs_rehash(hash, PASSWORD_OPSLIMIT, PASSWORD_MEMLIMIT) != 0;
}

void
password_generate(char *out)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

	for (size_t i = 0; i < PASSWORD_GENERATED_LEN; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[PASSWORD_GENERATED_LEN] = '\0';
}

void
password_check_run(struct password_check *c)
{
	c->ok = c->hash[0] != '\0' && password_verify(c->hash, c->password, c->len);
	c->rehash[0] = '\0';
	if (c->ok && password_needs_rehash(c->hash) && password_hash(c->password, c->len, c->rehash) != 0)
		c->rehash[0] = '\0';
}
