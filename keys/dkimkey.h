/*
 * dkimkey: DKIM signing keys (RFC 6376, RFC 8463): Ed25519 and RSA-2048,
 * stored as PKCS#8 PEM (pemkey), and the DNS TXT record that publishes
 * each one at SELECTOR._domainkey.DOMAIN.
 */
#ifndef HOMEPORT_DKIMKEY_H
#define HOMEPORT_DKIMKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define DKIMKEY_RSA_BITS 2048
#define DKIMKEY_RECORD_MAX 1024	/* TXT text of an RSA-2048 record is about 410 bytes */
#define DKIMKEY_RSA_MIN_BITS 1024	/* smaller RSA keys never sign (RFC 8301 3.2) */
#define DKIMKEY_SIG_MAX 512		/* a signature: RSA-4096's; Ed25519's is 64 bytes */
#define DKIMKEY_DIGEST_LEN 32		/* what is signed: a SHA-256 digest */

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

/*
 * The algorithm of a signing key: Ed25519, or RSA of at least
 * DKIMKEY_RSA_MIN_BITS bits. Returns 0, or -1 with err set.
 */
int dkimkey_key_alg(EVP_PKEY *key, enum dkimkey_alg *alg_r, char *err, size_t errcap);

/*
 * Sign the SHA-256 digest of a message's DKIM header data (RFC 6376 3.7):
 * Ed25519 over the 32 digest bytes themselves (PureEdDSA, RFC 8463 3),
 * RSA as RSASSA-PKCS1-v1_5 with SHA-256 (the digest in its DigestInfo,
 * RFC 8017 8.2). This is the only use of a DKIM private key, so that it
 * can move into a process of its own with the digest as its input.
 * Writes the signature into sig[0..cap) and its length to *len_r.
 * Returns 0, or -1 with err set.
 */
int dkimkey_sign(EVP_PKEY *key, const uint8_t digest[DKIMKEY_DIGEST_LEN], uint8_t *sig, size_t cap,
		 size_t *len_r, char *err, size_t errcap);

#endif
