/*
 * minisign: Ed25519 signing keys and signatures in minisign's formats, so
 * that Homeport's update signatures can be made and checked with either
 * Homeport or Debian's minisign.
 *
 * Binary layouts (base64 in the files, integers little-endian):
 *   public key  "Ed" keynum[8] pk[32]
 *   secret key  "Ed" kdf[2] "B2" salt[32] opslimit[8] memlimit[8]
 *               keynum[8] sk[64] checksum[32]
 *               (we read and write only unencrypted keys: kdf = 0,0, as
 *               "minisign -G -W" makes; checksum = BLAKE2b-256 of "Ed",
 *               keynum and sk, or all zero as minisign -W leaves it)
 *   signature   "ED" keynum[8] sig[64]   sig over BLAKE2b-512(file)
 *               ("Ed": legacy, sig over the file itself; verified, never made)
 *   global sig  sig[64] over signature sig || trusted comment text
 *
 * Files are lines: "untrusted comment: ..." then base64 (keys); signatures
 * add "trusted comment: ..." and the global signature's base64.
 * The parsers are pure functions over the file's bytes.
 */
#ifndef HOMEPORT_MINISIGN_H
#define HOMEPORT_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

#define MINISIGN_KEYNUM_LEN 8
#define MINISIGN_PK_LEN 32
#define MINISIGN_SK_LEN 64
#define MINISIGN_SIG_LEN 64
#define MINISIGN_HASH_LEN 64		/* BLAKE2b-512 of the signed file */
#define MINISIGN_COMMENT_MAX 1024	/* bytes of comment text, as minisign */
#define MINISIGN_FILE_MAX 4096		/* any key or signature file */

struct minisign_pubkey {
	uint8_t keynum[MINISIGN_KEYNUM_LEN];
	uint8_t pk[MINISIGN_PK_LEN];
};

struct minisign_seckey {
	uint8_t keynum[MINISIGN_KEYNUM_LEN];
	uint8_t sk[MINISIGN_SK_LEN];	/* libsodium's seed || public key; wipe after use */
};

struct minisign_sig {
	int prehashed;			/* 1: "ED", over BLAKE2b-512(file); 0: legacy "Ed" */
	uint8_t keynum[MINISIGN_KEYNUM_LEN];
	uint8_t sig[MINISIGN_SIG_LEN];
	char trusted[MINISIGN_COMMENT_MAX + 1];	/* NUL-terminated trusted comment */
	uint8_t global_sig[MINISIGN_SIG_LEN];
};

/* A new key pair with a random key number. */
void minisign_keypair(struct minisign_pubkey *pub, struct minisign_seckey *sec);

/* The public half of a secret key. */
void minisign_seckey_public(const struct minisign_seckey *sec, struct minisign_pubkey *pub);

/* The key id as minisign prints it: 16 uppercase hex digits and a NUL. */
void minisign_keyid(const uint8_t keynum[MINISIGN_KEYNUM_LEN], char out[17]);

/*
 * Parsers: each returns 0, or -1 with *why_r pointing at a static
 * explanation. minisign_pubkey_parse_b64 takes only the base64 line (the
 * "-P" form).
 */
int minisign_pubkey_parse(const char *text, size_t len, struct minisign_pubkey *out,
			  const char **why_r);
int minisign_pubkey_parse_b64(const char *b64, size_t len, struct minisign_pubkey *out,
			      const char **why_r);
int minisign_seckey_parse(const char *text, size_t len, struct minisign_seckey *out,
			  const char **why_r);
int minisign_sig_parse(const char *text, size_t len, struct minisign_sig *out,
		       const char **why_r);

/*
 * Formatters: write the file's text with a NUL into out[0..cap). The
 * untrusted comment must be a single line. Return the text length, or -1
 * if cap is too small or a comment is too long or holds a newline.
 */
int minisign_pubkey_format(const struct minisign_pubkey *pub, char *out, size_t cap);
int minisign_seckey_format(const struct minisign_seckey *sec, char *out, size_t cap);
int minisign_sig_format(const struct minisign_sig *sig, const char *untrusted, char *out,
			size_t cap);

/*
 * Sign a file given its BLAKE2b-512 hash, with a trusted comment (single
 * line, at most MINISIGN_COMMENT_MAX bytes). Returns 0, or -1 for a bad
 * comment.
 */
int minisign_sign(const struct minisign_seckey *sec, const uint8_t hash[MINISIGN_HASH_LEN],
		  const char *trusted, struct minisign_sig *out);

/*
 * Check a signature and its trusted comment against pub. A prehashed
 * signature needs hash; a legacy one needs the whole file in msg/msg_len.
 * Returns 0 when both signatures are valid, else -1 with *why_r set.
 */
int minisign_verify(const struct minisign_pubkey *pub, const struct minisign_sig *sig,
		    const uint8_t hash[MINISIGN_HASH_LEN], const uint8_t *msg, size_t msg_len,
		    const char **why_r);

#endif
