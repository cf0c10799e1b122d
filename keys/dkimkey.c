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

int
dkimkey_key_alg(EVP_PKEY *key, enum dkimkey_alg *alg_r, char *err, size_t errcap)
{
	if (EVP_PKEY_is_a(key, "ED25519")) {
		*alg_r = DKIMKEY_ED25519;
		return 0;
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		int bits = EVP_PKEY_get_bits(key);

		if (bits < DKIMKEY_RSA_MIN_BITS) {
			snprintf(err, errcap, "RSA key of %d bits: DKIM needs at least %d", bits,
				 DKIMKEY_RSA_MIN_BITS);
			return -1;
		}
		*alg_r = DKIMKEY_RSA;
		return 0;
	}
	snprintf(err, errcap, "not a DKIM key type (want Ed25519 or RSA)");
	return -1;
}

int
dkimkey_sign(EVP_PKEY *key, const uint8_t digest[DKIMKEY_DIGEST_LEN], uint8_t *sig, size_t cap,
	     size_t *len_r, char *err, size_t errcap)
{
	enum dkimkey_alg alg;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pc = NULL;
	size_t len = 0;
	int rc = -1;

	if (dkimkey_key_alg(key, &alg, err, errcap) != 0)
		return -1;
	if (alg == DKIMKEY_ED25519) {
		/* PureEdDSA: no digest of its own (md NULL), the 32 bytes are the message. */
		md = EVP_MD_CTX_new();
		if (md == NULL || EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key, NULL) != 1 ||
		    EVP_DigestSign(md, NULL, &len, digest, DKIMKEY_DIGEST_LEN) != 1) {
			tls_error(err, errcap, "cannot sign with Ed25519");
			goto fail;
		}
		if (len > cap) {
			snprintf(err, errcap, "signature of %zu bytes does not fit", len);
			goto fail;
		}
		if (EVP_DigestSign(md, sig, &len, digest, DKIMKEY_DIGEST_LEN) != 1) {
			tls_error(err, errcap, "cannot sign with Ed25519");
			goto fail;
		}
	} else {
		pc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
		if (pc == NULL || EVP_PKEY_sign_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1 ||
		    EVP_PKEY_sign(pc, NULL, &len, digest, DKIMKEY_DIGEST_LEN) != 1) {
			tls_error(err, errcap, "cannot sign with RSA");
			goto fail;
		}
		if (len > cap) {
			snprintf(err, errcap, "signature of %zu bytes does not fit", len);
			goto fail;
		}
		if (EVP_PKEY_sign(pc, sig, &len, digest, DKIMKEY_DIGEST_LEN) != 1) {
			tls_error(err, errcap, "cannot sign with RSA");
			goto fail;
		}
	}
	*len_r = len;
	rc = 0;
fail:
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	return rc;
}
