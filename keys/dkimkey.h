/*
 * dkimkey: DKIM signing keys (RFC 6376, RFC 8463): Ed25519 and RSA-2048,
 * stored as PKCS#8 PEM (pemkey), and the DNS TXT record that publishes
 * each one at SELECTOR._domainkey.DOMAIN.
 */
#ifndef HOMEPORT_DKIMKEY_H
#define HOMEPORT_DKIMKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#define DKIMKEY_RSA_BITS 2048
#define DKIMKEY_RECORD_MAX 1024	/* TXT text of an RSA-2048 record is about 410 bytes */

enum dkimkey_alg {
	DKIMKEY_ED25519,
	DKIMKEY_RSA,
};

/* Parse "ed25519" or "rsa". Returns 0 or -1. */
int dkimkey_alg_parse(const char *word, enum dkimkey_alg *alg_r);

/* A new key. Returns it (EVP_PKEY_free) or NULL with err set. */
EVP_PKEY *dkimkey_generate(enum dkimkey_alg alg, char *err, size_t errcap);

/*
 * The TXT record text: "v=DKIM1; k=ed25519; p=<raw 32-byte key, base64>"
 * or "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo DER, base64>".
 * Returns the length, or -1 with err set (other key types, small cap).
 */
int dkimkey_record(EVP_PKEY *key, char *out, size_t cap, char *err, size_t errcap);

#endif
