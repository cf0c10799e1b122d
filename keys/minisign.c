#include "minisign.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"
#include "cursor.h"

#define MINISIGN_UNTRUSTED "untrusted comment: "
#define MINISIGN_TRUSTED "trusted comment: "
#define MINISIGN_PUB_BLOB 42	/* alg + keynum + pk */
#define MINISIGN_SEC_BLOB 158	/* alg kdf chk salt ops mem keynum sk checksum */
#define MINISIGN_SIG_BLOB 74	/* alg + keynum + sig */
#define MINISIGN_CHK_LEN 32
#define MINISIGN_LINES_MAX 4

struct minisign_lines {
	const char *p[MINISIGN_LINES_MAX];
	size_t len[MINISIGN_LINES_MAX];
};

/*
 * Split text into exactly want lines (LF or CRLF); only empty lines may
 * follow. Returns 0 or -1.
 */
static int
minisign_split(const char *text, size_t len, size_t want, struct minisign_lines *out)
{
	size_t n = 0, pos = 0;

	if (len > MINISIGN_FILE_MAX || memchr(text, '\0', len) != NULL)
		return -1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		size_t content = l;

		if (content > 0 && text[pos + content - 1] == '\r')
			content--;
		if (n < want) {
			out->p[n] = text + pos;
			out->len[n] = content;
			n++;
		} else if (content != 0) {
			return -1;
		}
		pos += l + (nl ? 1 : 0);
	}
	return n == want ? 0 : -1;
}

/* The text after prefix on a line; -1 if the line does not start with it. */
static int
minisign_after(const char *line, size_t len, const char *prefix, const char **rest, size_t *rest_len)
{
	size_t pl = strlen(prefix);

	if (len < pl || memcmp(line, prefix, pl) != 0)
		return -1;
	*rest = line + pl;
	*rest_len = len - pl;
	return *rest_len <= MINISIGN_COMMENT_MAX ? 0 : -1;
}

void
minisign_keypair(struct minisign_pubkey *pub, struct minisign_seckey *sec)
{
	randombytes_buf(sec->keynum, sizeof(sec->keynum));
	crypto_sign_keypair(pub->pk, sec->sk);
	memcpy(pub->keynum, sec->keynum, sizeof(pub->keynum));
}

void
minisign_seckey_public(const struct minisign_seckey *sec, struct minisign_pubkey *pub)
{
	memcpy(pub->keynum, sec->keynum, sizeof(pub->keynum));
	crypto_sign_ed25519_sk_to_pk(pub->pk, sec->sk);
}

void
minisign_keyid(const uint8_t keynum[MINISIGN_KEYNUM_LEN], char out[17])
{
	uint64_t v;
	struct cursor c = cursor_init(keynum, MINISIGN_KEYNUM_LEN);

	cursor_u64le(&c, &v);
	snprintf(out, 17, "%016" PRIX64, v);
}

int
minisign_pubkey_parse_b64(const char *b64, size_t len, struct minisign_pubkey *out,
			  const char **why_r)
{
	uint8_t blob[MINISIGN_PUB_BLOB];
	size_t n;
	struct cursor c;

	if (b64_decode(b64, len, blob, sizeof(blob), &n) != 0 || n != sizeof(blob)) {
		*why_r = "public key is not 42 bytes of base64";
		return -1;
	}
	c = cursor_init(blob, n);
	if (memcmp(blob, "Ed", 2) != 0) {
		*why_r = "unsupported public key algorithm (want Ed)";
		return -1;
	}
	cursor_skip(&c, 2);
	cursor_copy(&c, out->keynum, sizeof(out->keynum));
	cursor_copy(&c, out->pk, sizeof(out->pk));
	return 0;
}

int
minisign_pubkey_parse(const char *text, size_t len, struct minisign_pubkey *out, const char **why_r)
{
	struct minisign_lines l;
	const char *rest;
	size_t rest_len;

	if (minisign_split(text, len, 2, &l) != 0) {
		*why_r = "public key file must be a comment line and a base64 line";
		return -1;
	}
	if (minisign_after(l.p[0], l.len[0], MINISIGN_UNTRUSTED, &rest, &rest_len) != 0) {
		*why_r = "public key file must start with 'untrusted comment: '";
		return -1;
	}
	return minisign_pubkey_parse_b64(l.p[1], l.len[1], out, why_r);
}

/* BLAKE2b-256 of "Ed" || keynum || sk, minisign's secret key checksum. */
static void
minisign_seckey_checksum(const struct minisign_seckey *sec, uint8_t out[MINISIGN_CHK_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, MINISIGN_CHK_LEN);
	crypto_generichash_update(&st, (const unsigned char *)"Ed", 2);
	crypto_generichash_update(&st, sec->keynum, sizeof(sec->keynum));
	crypto_generichash_update(&st, sec->sk, sizeof(sec->sk));
	crypto_generichash_final(&st, out, MINISIGN_CHK_LEN);
	sodium_memzero(&st, sizeof(st));
}

int
minisign_seckey_parse(const char *text, size_t len, struct minisign_seckey *out, const char **why_r)
{
	static const uint8_t zero[MINISIGN_CHK_LEN];
	uint8_t blob[MINISIGN_SEC_BLOB], chk[MINISIGN_CHK_LEN], want[MINISIGN_CHK_LEN];
	struct minisign_lines l;
	const char *rest;
	size_t rest_len, n = 0;
	struct cursor c;
	int rc = -1;

	if (minisign_split(text, len, 2, &l) != 0) {
		*why_r = "secret key file must be a comment line and a base64 line";
		goto out;
	}
	if (minisign_after(l.p[0], l.len[0], MINISIGN_UNTRUSTED, &rest, &rest_len) != 0) {
		*why_r = "secret key file must start with 'untrusted comment: '";
		goto out;
	}
	if (b64_decode(l.p[1], l.len[1], blob, sizeof(blob), &n) != 0 || n != sizeof(blob)) {
		*why_r = "secret key is not 158 bytes of base64";
		goto out;
	}
	if (memcmp(blob, "Ed", 2) != 0 || memcmp(blob + 4, "B2", 2) != 0) {
		*why_r = "unsupported secret key algorithm (want Ed with B2 checksum)";
		goto out;
	}
	if (blob[2] != 0 || blob[3] != 0) {
		*why_r = "secret key is encrypted; Homeport reads unencrypted keys (minisign -G -W)";
		goto out;
	}
	c = cursor_init(blob, n);
	cursor_skip(&c, 2 + 2 + 2 + 32 + 8 + 8);
	cursor_copy(&c, out->keynum, sizeof(out->keynum));
	cursor_copy(&c, out->sk, sizeof(out->sk));
	cursor_copy(&c, chk, sizeof(chk));
	minisign_seckey_checksum(out, want);
	/* minisign -W leaves the checksum zero; any other value must be right. */
	if (sodium_memcmp(chk, zero, sizeof(chk)) != 0 && sodium_memcmp(chk, want, sizeof(chk)) != 0) {
		*why_r = "secret key checksum mismatch (corrupt key file)";
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(blob, sizeof(blob));
	sodium_memzero(want, sizeof(want));
	return rc;
}

int
minisign_sig_parse(const char *text, size_t len, struct minisign_sig *out, const char **why_r)
{
	uint8_t blob[MINISIGN_SIG_BLOB];
	struct minisign_lines l;
	const char *rest;
	size_t rest_len, n;
	struct cursor c;

	memset(out, 0, sizeof(*out));
	if (minisign_split(text, len, 4, &l) != 0) {
		*why_r = "signature file must have four lines";
		return -1;
	}
	if (minisign_after(l.p[0], l.len[0], MINISIGN_UNTRUSTED, &rest, &rest_len) != 0) {
		*why_r = "signature file must start with 'untrusted comment: '";
		return -1;
	}
	if (b64_decode(l.p[1], l.len[1], blob, sizeof(blob), &n) != 0 || n != sizeof(blob)) {
		*why_r = "signature is not 74 bytes of base64";
		return -1;
	}
	if (memcmp(blob, "ED", 2) == 0) {
		out->prehashed = 1;
	} else if (memcmp(blob, "Ed", 2) == 0) {
		out->prehashed = 0;
	} else {
		*why_r = "unsupported signature algorithm (want ED or Ed)";
		return -1;
	}
	c = cursor_init(blob + 2, n - 2);
	cursor_copy(&c, out->keynum, sizeof(out->keynum));
	cursor_copy(&c, out->sig, sizeof(out->sig));
	if (minisign_after(l.p[2], l.len[2], MINISIGN_TRUSTED, &rest, &rest_len) != 0) {
		*why_r = "third line must be 'trusted comment: ...' (at most 1024 bytes)";
		return -1;
	}
	memcpy(out->trusted, rest, rest_len);
	out->trusted[rest_len] = '\0';
	if (b64_decode(l.p[3], l.len[3], out->global_sig, sizeof(out->global_sig), &n) != 0 ||
	    n != sizeof(out->global_sig)) {
		*why_r = "global signature is not 64 bytes of base64";
		return -1;
	}
	return 0;
}

/* "untrusted comment: C\nB64\n" from a blob. */
static int
minisign_format_keyfile(const char *comment, const uint8_t *blob, size_t blob_len, char *out,
			size_t cap)
{
	char b64[B64_ENCODED_SIZE(MINISIGN_SEC_BLOB)];
	int n;

	if (b64_encode(blob, blob_len, b64, sizeof(b64)) < 0)
		return -1;
	n = snprintf(out, cap, MINISIGN_UNTRUSTED "%s\n%s\n", comment, b64);
	sodium_memzero(b64, sizeof(b64));
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
minisign_pubkey_format(const struct minisign_pubkey *pub, char *out, size_t cap)
{
	uint8_t blob[MINISIGN_PUB_BLOB];
	char comment[64], id[17];

	memcpy(blob, "Ed", 2);
	memcpy(blob + 2, pub->keynum, MINISIGN_KEYNUM_LEN);
	memcpy(blob + 2 + MINISIGN_KEYNUM_LEN, pub->pk, MINISIGN_PK_LEN);
	minisign_keyid(pub->keynum, id);
	snprintf(comment, sizeof(comment), "minisign public key %s", id);
	return minisign_format_keyfile(comment, blob, sizeof(blob), out, cap);
}

int
minisign_seckey_format(const struct minisign_seckey *sec, char *out, size_t cap)
{
	uint8_t blob[MINISIGN_SEC_BLOB] = { 0 };
	size_t o = 0;
	int n;

	/* "Ed", no KDF (0,0), "B2", then zero salt, opslimit and memlimit. */
	memcpy(blob, "Ed\0\0B2", 6);
	o = 6 + 32 + 8 + 8;
	memcpy(blob + o, sec->keynum, MINISIGN_KEYNUM_LEN);
	o += MINISIGN_KEYNUM_LEN;
	memcpy(blob + o, sec->sk, MINISIGN_SK_LEN);
	o += MINISIGN_SK_LEN;
	minisign_seckey_checksum(sec, blob + o);
	n = minisign_format_keyfile("minisign secret key (unencrypted)", blob, sizeof(blob), out, cap);
	sodium_memzero(blob, sizeof(blob));
	return n;
}

static int
minisign_comment_ok(const char *s)
{
	size_t len = strnlen(s, MINISIGN_COMMENT_MAX + 1);

	return len <= MINISIGN_COMMENT_MAX && strpbrk(s, "\r\n") == NULL;
}

int
minisign_sig_format(const struct minisign_sig *sig, const char *untrusted, char *out, size_t cap)
{
	uint8_t blob[MINISIGN_SIG_BLOB];
	char b64sig[B64_ENCODED_SIZE(MINISIGN_SIG_BLOB)], b64global[B64_ENCODED_SIZE(MINISIGN_SIG_LEN)];
	int n;

	if (!minisign_comment_ok(untrusted) || !minisign_comment_ok(sig->trusted))
		return -1;
	memcpy(blob, sig->prehashed ? "ED" : "Ed", 2);
	memcpy(blob + 2, sig->keynum, MINISIGN_KEYNUM_LEN);
	memcpy(blob + 2 + MINISIGN_KEYNUM_LEN, sig->sig, MINISIGN_SIG_LEN);
	b64_encode(blob, sizeof(blob), b64sig, sizeof(b64sig));
	b64_encode(sig->global_sig, sizeof(sig->global_sig), b64global, sizeof(b64global));
	n = snprintf(out, cap, MINISIGN_UNTRUSTED "%s\n%s\n" MINISIGN_TRUSTED "%s\n%s\n", untrusted,
		     b64sig, sig->trusted, b64global);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The bytes the global signature covers: sig || trusted comment. */
static size_t
minisign_global_msg(const struct minisign_sig *sig, uint8_t *buf)
{
	size_t tlen = strlen(sig->trusted);

	memcpy(buf, sig->sig, MINISIGN_SIG_LEN);
	memcpy(buf + MINISIGN_SIG_LEN, sig->trusted, tlen);
	return MINISIGN_SIG_LEN + tlen;
}

int
minisign_sign(const struct minisign_seckey *sec, const uint8_t hash[MINISIGN_HASH_LEN],
	      const char *trusted, struct minisign_sig *out)
{
	uint8_t global[MINISIGN_SIG_LEN + MINISIGN_COMMENT_MAX];
	size_t glen;

	if (!minisign_comment_ok(trusted))
		return -1;
	memset(out, 0, sizeof(*out));
	out->prehashed = 1;
	memcpy(out->keynum, sec->keynum, MINISIGN_KEYNUM_LEN);
	crypto_sign_detached(out->sig, NULL, hash, MINISIGN_HASH_LEN, sec->sk);
	memcpy(out->trusted, trusted, strlen(trusted) + 1);
	glen = minisign_global_msg(out, global);
	crypto_sign_detached(out->global_sig, NULL, global, glen, sec->sk);
	return 0;
}

int
minisign_verify(const struct minisign_pubkey *pub, const struct minisign_sig *sig,
		const uint8_t hash[MINISIGN_HASH_LEN], const uint8_t *msg, size_t msg_len,
		const char **why_r)
{
	uint8_t global[MINISIGN_SIG_LEN + MINISIGN_COMMENT_MAX];
	size_t glen;
	int ok;

	if (memcmp(pub->keynum, sig->keynum, MINISIGN_KEYNUM_LEN) != 0) {
		*why_r = "signature was made with a different key (key ids differ)";
		return -1;
	}
	if (sig->prehashed)
		ok = hash != NULL &&
		     crypto_sign_verify_detached(sig->sig, hash, MINISIGN_HASH_LEN, pub->pk) == 0;
	else
		ok = msg != NULL &&
		     crypto_sign_verify_detached(sig->sig, msg, msg_len, pub->pk) == 0;
	if (!ok) {
		*why_r = "signature verification failed";
		return -1;
	}
	glen = minisign_global_msg(sig, global);
	if (crypto_sign_verify_detached(sig->global_sig, global, glen, pub->pk) != 0) {
		*why_r = "comment signature verification failed";
		return -1;
	}
	return 0;
}
