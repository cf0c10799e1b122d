#include "dkimkey.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "tls.h"

/* SubjectPublicKeyInfo of an RSA-2048 key is 294 bytes; leave room for 4096. */
#define DKIMKEY_PUB_DER_MAX 600

int
dkimkey_alg_parse(const char *word, enum dkimkey_alg *alg_r)
{
	if (strcmp(word, "ed25519") == 0) {
		*alg_r = DKIMKEY_ED25519;
		return 0;
	}
	if (strcmp(word, "rsa") == 0) {
		*alg_r = DKIMKEY_RSA;
		return 0;
	}
	return -1;
}

EVP_PKEY *
dkimkey_generate(enum dkimkey_alg alg, char *err, size_t errcap)
{
	EVP_PKEY *key;

	if (alg == DKIMKEY_ED25519)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIMKEY_RSA_BITS);
	if (key == NULL)
		tls_error(err, errcap, "cannot generate DKIM key");
	return key;
}

int
dkimkey_record(EVP_PKEY *key, char *out, size_t cap, char *err, size_t errcap)
{
	uint8_t der[DKIMKEY_PUB_DER_MAX];
	char b64[B64_ENCODED_SIZE(DKIMKEY_PUB_DER_MAX)];
	const char *k;
	size_t len = sizeof(der);
	int n;

	if (EVP_PKEY_is_a(key, "ED25519")) {
		k = "ed25519";
		if (EVP_PKEY_get_raw_public_key(key, der, &len) != 1) {
			tls_error(err, errcap, "cannot read Ed25519 public key");
			return -1;
		}
	} else if (EVP_PKEY_is_a(key, "RSA")) {
		unsigned char *p = der;
		k = "rsa";
		n = i2d_PUBKEY(key, NULL);
		if (n <= 0 || (size_t)n > sizeof(der) || i2d_PUBKEY(key, &p) != n) {
			tls_error(err, errcap, "cannot encode RSA public key");
			return -1;
		}
		len = (size_t)n;
	} else {
		snprintf(err, errcap, "not a DKIM key type (want Ed25519 or RSA)");
		return -1;
	}
	b64_encode(der, len, b64, sizeof(b64));
	n = snprintf(out, cap, "v=DKIM1; k=%s; p=%s", k, b64);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errcap, "DKIM record longer than %zu bytes", cap);
		return -1;
	}
	return n;
}
