/*
 * Unit tests for keys/minisign against files made by Debian's minisign 0.11:
 *
 *   minisign -G -W -p k.pub -s k.sec
 *   printf 'Homeport update 1.0\n' > file
 *   minisign -S -s k.sec -m file                       (prehashed, "ED")
 *   minisign -S -l -s k.sec -m file -t 'legacy vector'  (legacy, "Ed")
 *
 * Ed25519 signatures are deterministic, so signing the same bytes with the
 * same key must reproduce minisign's files byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "minisign.h"

#define T_TEXT_MAX (2 * MINISIGN_FILE_MAX)
#define T_SEC_BLOB 158
#define T_SEC_CHK_AT (T_SEC_BLOB - 32)
#define T_B64_MAX 256

/* ---- minisign's files ------------------------------------------------- */

#define T_KEYID "394ABDB17DAFEE99"
#define T_PUB_L1 "untrusted comment: minisign public key " T_KEYID
#define T_PUB_L2 "RWSZ7q99sb1KOeSAeE4Te2TStEiQeNxngsktI6Y/kIiEuk1oZuJTruhb"
#define T_SEC_L1 "untrusted comment: minisign encrypted secret key"
#define T_SEC_L2 "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAme6vfbG9SjnThjuUX7A9MMKLSdH8sF9QSREFvKlzeO9Lg+rUjWEQ9eSAeE4Te2TStEiQeNxngsktI6Y/kIiEuk1oZuJTruhbAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define T_SIG_L1 "untrusted comment: signature from minisign secret key"
#define T_SIG_L2 "RUSZ7q99sb1KOVzz9Ptcr7jMQeJ7AEx2aoDbT18VUmpmkWY5ihU0iSEybp6/J05jrLypxdNcyaUMduT3b7s/nJpxID214M//pQk="
#define T_SIG_TRUSTED "timestamp:1795854415\tfile:file\thashed"
#define T_SIG_L3 "trusted comment: " T_SIG_TRUSTED
#define T_SIG_L4 "XneyLIfb62hPfhycbdoONafp3+aavIdXOo1TAfl46f9N1W59McJLSLrw+E11rNdtH8zN0ZAhc/0WvsctfQ4aDg=="
#define T_LEG_L2 "RWSZ7q99sb1KOUeXKrlxxeLIU+e1J3NwvNxtxQa6VM6meqKIT+LWw8WDZjEVHVaXTMA9rQXEZO4xRbQgOev5ak1B/AazIRfJbgY="
#define T_LEG_TRUSTED "legacy vector"
#define T_LEG_L3 "trusted comment: " T_LEG_TRUSTED
#define T_LEG_L4 "s0n1lg3Z85AvCcpBKgELfvJgmAqdRXycZQSDaHGNqRbH3fXz+kl+UQOWE7bcdVChM2I4gEEM2OqVhhg/WijQAA=="

static const char t_pub[] = T_PUB_L1 "\n" T_PUB_L2 "\n";
static const char t_sec[] = T_SEC_L1 "\n" T_SEC_L2 "\n";
static const char t_sig[] = T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\n";
static const char t_legacy_sig[] = T_SIG_L1 "\n" T_LEG_L2 "\n" T_LEG_L3 "\n" T_LEG_L4 "\n";
static const char t_content[] = "Homeport update 1.0\n";

static const uint8_t t_keynum[MINISIGN_KEYNUM_LEN] = {
	0x99, 0xee, 0xaf, 0x7d, 0xb1, 0xbd, 0x4a, 0x39,
};

/* ---- helpers ----------------------------------------------------------- */

static void
t_hash(const void *msg, size_t len, uint8_t out[MINISIGN_HASH_LEN])
{
	assert_int_equal(crypto_generichash(out, MINISIGN_HASH_LEN, msg, len, NULL, 0), 0);
}

static void
t_load_pub(struct minisign_pubkey *pub)
{
	const char *why = NULL;

	assert_int_equal(minisign_pubkey_parse(t_pub, strlen(t_pub), pub, &why), 0);
}

static void
t_load_sec(struct minisign_seckey *sec)
{
	const char *why = NULL;

	assert_int_equal(minisign_seckey_parse(t_sec, strlen(t_sec), sec, &why), 0);
}

static void
t_load_sig(const char *text, struct minisign_sig *sig)
{
	const char *why = NULL;

	if (minisign_sig_parse(text, strlen(text), sig, &why) != 0)
		fail_msg("signature refused: %s", why);
}

/* Lines joined, each followed by eol, into out. Returns the length. */
static size_t
t_lines(char *out, size_t cap, const char *const *lines, size_t n, const char *eol)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(out + o, cap - o, "%s%s", lines[i], eol);
		assert_true(k >= 0 && (size_t)k < cap - o);
		o += (size_t)k;
	}
	return o;
}

/* Base64 of a blob into out (a NUL-terminated line). */
static void
t_b64(const uint8_t *blob, size_t len, char *out, size_t cap)
{
	assert_true(cap >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
	sodium_bin2base64(out, cap, blob, len, sodium_base64_VARIANT_ORIGINAL);
}

static size_t
t_unb64(const char *text, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(sodium_base642bin(out, cap, text, len, NULL, &n, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	return n;
}

/* The secret key file's blob, decoded. */
static void
t_sec_blob(const char *b64line, uint8_t blob[T_SEC_BLOB])
{
	assert_int_equal(t_unb64(b64line, strlen(b64line), blob, T_SEC_BLOB), T_SEC_BLOB);
}

/* A secret key file with the given blob and minisign's comment line. */
static size_t
t_sec_file(const uint8_t blob[T_SEC_BLOB], char *out, size_t cap)
{
	char b64[T_B64_MAX];
	const char *lines[2] = { T_SEC_L1, b64 };

	t_b64(blob, T_SEC_BLOB, b64, sizeof(b64));
	return t_lines(out, cap, lines, 2, "\n");
}

/* ---- the real files ----------------------------------------------------- */

static void
test_minisign_parse_real_files(void **state)
{
	struct minisign_pubkey pub, derived;
	struct minisign_seckey sec;
	struct minisign_sig sig;
	uint8_t blob[42];

	(void)state;
	t_load_pub(&pub);
	assert_memory_equal(pub.keynum, t_keynum, MINISIGN_KEYNUM_LEN);
	assert_int_equal(t_unb64(T_PUB_L2, strlen(T_PUB_L2), blob, sizeof(blob)), 42);
	assert_memory_equal(pub.pk, blob + 10, MINISIGN_PK_LEN);

	t_load_sec(&sec);
	assert_memory_equal(sec.keynum, t_keynum, MINISIGN_KEYNUM_LEN);
	/* libsodium's layout: seed || public key. */
	assert_memory_equal(sec.sk + 32, pub.pk, MINISIGN_PK_LEN);
	minisign_seckey_public(&sec, &derived);
	assert_memory_equal(&derived, &pub, sizeof(pub));

	t_load_sig(t_sig, &sig);
	assert_int_equal(sig.prehashed, 1);
	assert_memory_equal(sig.keynum, t_keynum, MINISIGN_KEYNUM_LEN);
	assert_string_equal(sig.trusted, T_SIG_TRUSTED);

	t_load_sig(t_legacy_sig, &sig);
	assert_int_equal(sig.prehashed, 0);
	assert_memory_equal(sig.keynum, t_keynum, MINISIGN_KEYNUM_LEN);
	assert_string_equal(sig.trusted, T_LEG_TRUSTED);
	sodium_memzero(&sec, sizeof(sec));
}

static void
test_minisign_keyid(void **state)
{
	static const struct {
		uint8_t keynum[MINISIGN_KEYNUM_LEN];
		const char *id;
	} cases[] = {
		{ { 0x99, 0xee, 0xaf, 0x7d, 0xb1, 0xbd, 0x4a, 0x39 }, T_KEYID },
		{ { 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 }, "0123456789ABCDEF" },
		{ { 0x01, 0, 0, 0, 0, 0, 0, 0 }, "0000000000000001" },
		{ { 0, 0, 0, 0, 0, 0, 0, 0x80 }, "8000000000000000" },
		{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, "FFFFFFFFFFFFFFFF" },
	};
	struct minisign_pubkey pub;
	char id[17];
	const char *in_comment;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(id, 'x', sizeof(id));
		minisign_keyid(cases[i].keynum, id);
		assert_string_equal(id, cases[i].id);
	}
	/* The id minisign wrote in the public key's comment line. */
	t_load_pub(&pub);
	minisign_keyid(pub.keynum, id);
	in_comment = strstr(t_pub, "minisign public key ");
	assert_non_null(in_comment);
	in_comment += strlen("minisign public key ");
	assert_int_equal(strlen(id), 16);
	assert_memory_equal(id, in_comment, 16);
	assert_int_equal(in_comment[16], '\n');
}

static void
test_minisign_verify_real(void **state)
{
	struct minisign_pubkey pub;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN];
	const char *why = NULL;

	(void)state;
	t_load_pub(&pub);
	t_load_sig(t_sig, &sig);
	t_hash(t_content, strlen(t_content), hash);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), 0);
	assert_null(why);
	/* The whole message does not stand in for the hash of a prehashed signature. */
	assert_int_equal(minisign_verify(&pub, &sig, NULL, (const uint8_t *)t_content,
					 strlen(t_content), &why), -1);
	assert_string_equal(why, "signature verification failed");
}

static void
test_minisign_verify_changed_content(void **state)
{
	struct minisign_pubkey pub;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN];
	char content[sizeof(t_content)];
	const char *why;

	(void)state;
	t_load_pub(&pub);
	t_load_sig(t_sig, &sig);
	for (size_t i = 0; i < strlen(t_content); i++) {
		memcpy(content, t_content, sizeof(content));
		content[i] ^= 0x01;
		t_hash(content, strlen(t_content), hash);
		why = NULL;
		assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
		assert_string_equal(why, "signature verification failed");
	}
	/* One byte more or less. */
	t_hash(t_content, strlen(t_content) - 1, hash);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
	t_hash(t_content, strlen(t_content) + 1, hash);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
}

static void
test_minisign_verify_changed_comments(void **state)
{
	static const char *const trusted_lines[] = {
		"trusted comment: timestamp:1795854416\tfile:file\thashed",
		"trusted comment: timestamp:1795854415\tfile:file",
		"trusted comment: timestamp:1795854415\tfile:file\thashed ",
		"trusted comment: timestamp:1795854415 file:file hashed",
		"trusted comment: ",
	};
	struct minisign_pubkey pub;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN];
	char text[T_TEXT_MAX];
	const char *why;

	(void)state;
	t_load_pub(&pub);
	t_hash(t_content, strlen(t_content), hash);
	for (size_t i = 0; i < sizeof(trusted_lines) / sizeof(trusted_lines[0]); i++) {
		const char *lines[4] = { T_SIG_L1, T_SIG_L2, trusted_lines[i], T_SIG_L4 };
		t_lines(text, sizeof(text), lines, 4, "\n");
		t_load_sig(text, &sig);
		why = NULL;
		assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
		assert_string_equal(why, "comment signature verification failed");
	}
	/* A changed global signature. */
	t_load_sig(t_sig, &sig);
	sig.global_sig[17] ^= 0x40;
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
	assert_string_equal(why, "comment signature verification failed");
	/* The untrusted comment is what its name says: not covered. */
	{
		const char *lines[4] = { "untrusted comment: anything at all", T_SIG_L2, T_SIG_L3,
					 T_SIG_L4 };
		t_lines(text, sizeof(text), lines, 4, "\n");
		t_load_sig(text, &sig);
		assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), 0);
	}
}

static void
test_minisign_verify_other_key(void **state)
{
	struct minisign_pubkey pub, other_pub;
	struct minisign_seckey other_sec;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN];
	const char *why = NULL;

	(void)state;
	t_load_pub(&pub);
	t_hash(t_content, strlen(t_content), hash);
	minisign_keypair(&other_pub, &other_sec);
	assert_memory_not_equal(other_pub.keynum, pub.keynum, MINISIGN_KEYNUM_LEN);
	assert_int_equal(minisign_sign(&other_sec, hash, T_SIG_TRUSTED, &sig), 0);
	assert_int_equal(minisign_verify(&other_pub, &sig, hash, NULL, 0, &why), 0);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
	assert_string_equal(why, "signature was made with a different key (key ids differ)");

	/* The same key id on another key is no help: the signature still fails. */
	memcpy(other_sec.keynum, pub.keynum, MINISIGN_KEYNUM_LEN);
	assert_int_equal(minisign_sign(&other_sec, hash, T_SIG_TRUSTED, &sig), 0);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), -1);
	assert_string_equal(why, "signature verification failed");

	/* And the real signature does not verify under the other key. */
	t_load_sig(t_sig, &sig);
	assert_int_equal(minisign_verify(&other_pub, &sig, hash, NULL, 0, &why), -1);
	assert_string_equal(why, "signature was made with a different key (key ids differ)");
	sodium_memzero(&other_sec, sizeof(other_sec));
}

static void
test_minisign_sign_reproduces_minisign(void **state)
{
	struct minisign_pubkey pub;
	struct minisign_seckey sec;
	struct minisign_sig sig, real;
	uint8_t hash[MINISIGN_HASH_LEN];
	char text[T_TEXT_MAX];
	int n;

	(void)state;
	t_load_pub(&pub);
	t_load_sec(&sec);
	t_load_sig(t_sig, &real);
	t_hash(t_content, strlen(t_content), hash);
	assert_int_equal(minisign_sign(&sec, hash, T_SIG_TRUSTED, &sig), 0);
	assert_int_equal(sig.prehashed, 1);
	assert_memory_equal(sig.keynum, real.keynum, MINISIGN_KEYNUM_LEN);
	assert_memory_equal(sig.sig, real.sig, MINISIGN_SIG_LEN);
	assert_memory_equal(sig.global_sig, real.global_sig, MINISIGN_SIG_LEN);

	n = minisign_sig_format(&sig, "signature from minisign secret key", text, sizeof(text));
	assert_int_equal(n, (int)strlen(t_sig));
	assert_string_equal(text, t_sig);

	n = minisign_pubkey_format(&pub, text, sizeof(text));
	assert_int_equal(n, (int)strlen(t_pub));
	assert_string_equal(text, t_pub);
	sodium_memzero(&sec, sizeof(sec));
}

static void
test_minisign_legacy(void **state)
{
	struct minisign_pubkey pub;
	struct minisign_seckey sec;
	struct minisign_sig real, made;
	uint8_t hash[MINISIGN_HASH_LEN], global[MINISIGN_SIG_LEN + sizeof(T_LEG_TRUSTED)];
	char text[T_TEXT_MAX], changed[sizeof(t_content)];
	const char *why = NULL;

	(void)state;
	t_load_pub(&pub);
	t_load_sec(&sec);
	t_load_sig(t_legacy_sig, &real);
	assert_int_equal(real.prehashed, 0);
	assert_int_equal(minisign_verify(&pub, &real, NULL, (const uint8_t *)t_content,
					 strlen(t_content), &why), 0);
	/* A legacy signature needs the message; the hash is not enough. */
	t_hash(t_content, strlen(t_content), hash);
	assert_int_equal(minisign_verify(&pub, &real, hash, NULL, 0, &why), -1);
	assert_string_equal(why, "signature verification failed");
	memcpy(changed, t_content, sizeof(changed));
	changed[0] = 'h';
	assert_int_equal(minisign_verify(&pub, &real, NULL, (const uint8_t *)changed,
					 strlen(changed), &why), -1);
	assert_string_equal(why, "signature verification failed");

	/* Made here: a signature over the message, the global one over sig || comment. */
	memset(&made, 0, sizeof(made));
	made.prehashed = 0;
	memcpy(made.keynum, sec.keynum, MINISIGN_KEYNUM_LEN);
	crypto_sign_detached(made.sig, NULL, (const uint8_t *)t_content, strlen(t_content), sec.sk);
	memcpy(made.trusted, T_LEG_TRUSTED, sizeof(T_LEG_TRUSTED));
	memcpy(global, made.sig, MINISIGN_SIG_LEN);
	memcpy(global + MINISIGN_SIG_LEN, T_LEG_TRUSTED, strlen(T_LEG_TRUSTED));
	crypto_sign_detached(made.global_sig, NULL, global,
			     MINISIGN_SIG_LEN + strlen(T_LEG_TRUSTED), sec.sk);
	assert_int_equal(minisign_verify(&pub, &made, NULL, (const uint8_t *)t_content,
					 strlen(t_content), &why), 0);
	/* ... and it is minisign's, byte for byte, through our formatter. */
	assert_int_equal(minisign_sig_format(&made, "signature from minisign secret key", text,
					     sizeof(text)), (int)strlen(t_legacy_sig));
	assert_string_equal(text, t_legacy_sig);
	/* A changed trusted comment breaks the global signature here too. */
	made.trusted[0] = 'L';
	assert_int_equal(minisign_verify(&pub, &made, NULL, (const uint8_t *)t_content,
					 strlen(t_content), &why), -1);
	assert_string_equal(why, "comment signature verification failed");
	sodium_memzero(&sec, sizeof(sec));
}

/* ---- secret keys ------------------------------------------------------- */

static void
test_minisign_seckey_format_round_trip(void **state)
{
	struct minisign_seckey sec, back;
	struct minisign_pubkey pub, gen_pub;
	uint8_t blob[T_SEC_BLOB], want[32], hashed[2 + MINISIGN_KEYNUM_LEN + MINISIGN_SK_LEN];
	static const uint8_t zero[32 + 8 + 8];
	char text[T_TEXT_MAX];
	const char *why = NULL, *nl;
	int n;

	(void)state;
	t_load_sec(&sec);
	n = minisign_seckey_format(&sec, text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal(strlen(text), (size_t)n);
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_memory_equal(text, "untrusted comment: minisign secret key (unencrypted)\n",
			    (size_t)(nl - text) + 1);
	assert_int_equal(text[n - 1], '\n');
	assert_int_equal(t_unb64(nl + 1, strlen(nl + 1) - 1, blob, sizeof(blob)), T_SEC_BLOB);
	assert_memory_equal(blob, "Ed\0\0B2", 6);
	assert_memory_equal(blob + 6, zero, sizeof(zero));
	assert_memory_equal(blob + 54, sec.keynum, MINISIGN_KEYNUM_LEN);
	assert_memory_equal(blob + 62, sec.sk, MINISIGN_SK_LEN);
	/* The checksum: BLAKE2b-256 of "Ed" || keynum || sk, computed in one go here. */
	memcpy(hashed, "Ed", 2);
	memcpy(hashed + 2, sec.keynum, MINISIGN_KEYNUM_LEN);
	memcpy(hashed + 2 + MINISIGN_KEYNUM_LEN, sec.sk, MINISIGN_SK_LEN);
	assert_int_equal(crypto_generichash(want, sizeof(want), hashed, sizeof(hashed), NULL, 0), 0);
	assert_memory_equal(blob + T_SEC_CHK_AT, want, 32);

	assert_int_equal(minisign_seckey_parse(text, (size_t)n, &back, &why), 0);
	assert_memory_equal(&back, &sec, sizeof(sec));

	/* A fresh key pair survives the trip and still signs for its public key. */
	minisign_keypair(&gen_pub, &sec);
	n = minisign_seckey_format(&sec, text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal(minisign_seckey_parse(text, (size_t)n, &back, &why), 0);
	assert_memory_equal(&back, &sec, sizeof(sec));
	minisign_seckey_public(&back, &pub);
	assert_memory_equal(&pub, &gen_pub, sizeof(pub));
	n = minisign_pubkey_format(&gen_pub, text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal(minisign_pubkey_parse(text, (size_t)n, &pub, &why), 0);
	assert_memory_equal(&pub, &gen_pub, sizeof(pub));

	/* Too small a buffer. */
	assert_int_equal(minisign_seckey_format(&sec, text, 100), -1);
	sodium_memzero(&sec, sizeof(sec));
	sodium_memzero(&back, sizeof(back));
	sodium_memzero(hashed, sizeof(hashed));
}

static void
test_minisign_seckey_checksum(void **state)
{
	struct minisign_seckey sec, back;
	uint8_t blob[T_SEC_BLOB];
	char text[T_TEXT_MAX], b64[T_B64_MAX];
	const char *why, *line2;
	size_t len;
	int n;

	(void)state;
	/* minisign -W leaves the checksum zero: accepted. */
	t_sec_blob(T_SEC_L2, blob);
	for (size_t i = T_SEC_CHK_AT; i < T_SEC_BLOB; i++)
		assert_int_equal(blob[i], 0);
	t_load_sec(&sec);

	/* Ours carries the right one: accepted. Then each wrong one: refused. */
	n = minisign_seckey_format(&sec, text, sizeof(text));
	assert_true(n > 0);
	line2 = strchr(text, '\n') + 1;
	assert_int_equal(t_unb64(line2, strlen(line2) - 1, blob, sizeof(blob)), T_SEC_BLOB);
	for (size_t i = T_SEC_CHK_AT; i < T_SEC_BLOB; i += 7) {
		blob[i] ^= 0x01;
		len = t_sec_file(blob, text, sizeof(text));
		why = NULL;
		memset(&back, 0xAA, sizeof(back));
		assert_int_equal(minisign_seckey_parse(text, len, &back, &why), -1);
		assert_string_equal(why, "secret key checksum mismatch (corrupt key file)");
		/* Nothing of the key is left in the output. */
		for (size_t k = 0; k < sizeof(back.sk); k++)
			assert_int_equal(back.sk[k], 0);
		blob[i] ^= 0x01;
	}
	len = t_sec_file(blob, text, sizeof(text));
	assert_int_equal(minisign_seckey_parse(text, len, &back, &why), 0);
	assert_memory_equal(&back, &sec, sizeof(sec));

	/* A right checksum over a changed key: refused. */
	blob[70] ^= 0x80;
	len = t_sec_file(blob, text, sizeof(text));
	assert_int_equal(minisign_seckey_parse(text, len, &back, &why), -1);
	assert_string_equal(why, "secret key checksum mismatch (corrupt key file)");

	/* All zero again: accepted (minisign -W). */
	blob[70] ^= 0x80;
	memset(blob + T_SEC_CHK_AT, 0, 32);
	t_b64(blob, T_SEC_BLOB, b64, sizeof(b64));
	assert_string_equal(b64, T_SEC_L2);
	sodium_memzero(&sec, sizeof(sec));
	sodium_memzero(&back, sizeof(back));
	sodium_memzero(blob, sizeof(blob));
}

static void
test_minisign_seckey_encrypted_and_algorithms(void **state)
{
	static const struct {
		size_t at;
		const char *bytes;
		const char *why;
	} cases[] = {
		{ 2, "Sc", "secret key is encrypted; Homeport reads unencrypted keys (minisign -G -W)" },
		{ 2, "\0c", "secret key is encrypted; Homeport reads unencrypted keys (minisign -G -W)" },
		{ 0, "ED", "unsupported secret key algorithm (want Ed with B2 checksum)" },
		{ 4, "B3", "unsupported secret key algorithm (want Ed with B2 checksum)" },
	};
	struct minisign_seckey out;
	uint8_t blob[T_SEC_BLOB];
	char text[T_TEXT_MAX];
	const char *why;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_sec_blob(T_SEC_L2, blob);
		memcpy(blob + cases[i].at, cases[i].bytes, 2);
		len = t_sec_file(blob, text, sizeof(text));
		why = NULL;
		assert_int_equal(minisign_seckey_parse(text, len, &out, &why), -1);
		assert_string_equal(why, cases[i].why);
	}
	sodium_memzero(blob, sizeof(blob));
}

/* ---- shapes of files ------------------------------------------------------ */

enum t_kind { T_PUB, T_SEC, T_SIG };

static int
t_parse(enum t_kind kind, const char *text, size_t len, const char **why)
{
	struct minisign_pubkey pub;
	struct minisign_seckey sec;
	struct minisign_sig sig;
	int rc = -1;

	switch (kind) {
	case T_PUB:
		rc = minisign_pubkey_parse(text, len, &pub, why);
		break;
	case T_SEC:
		rc = minisign_seckey_parse(text, len, &sec, why);
		sodium_memzero(&sec, sizeof(sec));
		break;
	case T_SIG:
		rc = minisign_sig_parse(text, len, &sig, why);
		break;
	}
	return rc;
}

static void
test_minisign_truncated_files(void **state)
{
	static const struct {
		enum t_kind kind;
		const char *text;
	} files[] = {
		{ T_PUB, t_pub }, { T_SEC, t_sec }, { T_SIG, t_sig }, { T_SIG, t_legacy_sig },
	};
	const char *why;

	(void)state;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len = strlen(files[f].text);
		/* Every cut refused, except the one that drops only the final newline. */
		for (size_t cut = 0; cut < len - 1; cut++) {
			why = NULL;
			if (t_parse(files[f].kind, files[f].text, cut, &why) != -1)
				fail_msg("file %zu cut at %zu accepted", f, cut);
			assert_non_null(why);
		}
		assert_int_equal(t_parse(files[f].kind, files[f].text, len - 1, &why), 0);
		assert_int_equal(t_parse(files[f].kind, files[f].text, len, &why), 0);
	}
}

struct t_shape_case {
	enum t_kind kind;
	const char *text;
	const char *why;	/* NULL: accepted */
};

#define T_PUB_WHY_LINES "public key file must be a comment line and a base64 line"
#define T_PUB_WHY_COMMENT "public key file must start with 'untrusted comment: '"
#define T_PUB_WHY_B64 "public key is not 42 bytes of base64"
#define T_SEC_WHY_LINES "secret key file must be a comment line and a base64 line"
#define T_SEC_WHY_COMMENT "secret key file must start with 'untrusted comment: '"
#define T_SEC_WHY_B64 "secret key is not 158 bytes of base64"
#define T_SIG_WHY_LINES "signature file must have four lines"
#define T_SIG_WHY_COMMENT "signature file must start with 'untrusted comment: '"
#define T_SIG_WHY_B64 "signature is not 74 bytes of base64"
#define T_SIG_WHY_TRUSTED "third line must be 'trusted comment: ...' (at most 1024 bytes)"
#define T_SIG_WHY_GLOBAL "global signature is not 64 bytes of base64"

static const struct t_shape_case t_shape_cases[] = {
	/* CRLF, a missing final newline, trailing empty lines: accepted. */
	{ T_PUB, T_PUB_L1 "\r\n" T_PUB_L2 "\r\n", NULL },
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2, NULL },
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2 "\n\n\r\n\n", NULL },
	{ T_SEC, T_SEC_L1 "\r\n" T_SEC_L2 "\r\n", NULL },
	{ T_SEC, T_SEC_L1 "\n" T_SEC_L2 "\n\n", NULL },
	{ T_SIG, T_SIG_L1 "\r\n" T_SIG_L2 "\r\n" T_SIG_L3 "\r\n" T_SIG_L4 "\r\n", NULL },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\n\n\n", NULL },
	{ T_PUB, "untrusted comment: \n" T_PUB_L2 "\n", NULL },

	/* Missing or misspelt comment prefix. */
	{ T_PUB, "untrusted comment:minisign public key\n" T_PUB_L2 "\n", T_PUB_WHY_COMMENT },
	{ T_PUB, "comment: minisign public key\n" T_PUB_L2 "\n", T_PUB_WHY_COMMENT },
	{ T_PUB, "Untrusted comment: minisign public key\n" T_PUB_L2 "\n", T_PUB_WHY_COMMENT },
	{ T_PUB, " untrusted comment: x\n" T_PUB_L2 "\n", T_PUB_WHY_COMMENT },
	{ T_PUB, T_PUB_L2 "\n", T_PUB_WHY_LINES },
	{ T_SEC, "trusted comment: x\n" T_SEC_L2 "\n", T_SEC_WHY_COMMENT },
	{ T_SIG, "trusted comment: x\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\n", T_SIG_WHY_COMMENT },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\nuntrusted comment: " T_SIG_TRUSTED "\n" T_SIG_L4 "\n",
	  T_SIG_WHY_TRUSTED },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_TRUSTED "\n" T_SIG_L4 "\n", T_SIG_WHY_TRUSTED },

	/* Base64 of the wrong length, or not base64. */
	{ T_PUB, T_PUB_L1 "\nRWSZ7q99sb1KOeSAeE4Te2TStEiQeNxngsktI6Y/kIiEuk1oZuJT\n", T_PUB_WHY_B64 },
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2 "AAAA\n", T_PUB_WHY_B64 },
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2 " \n", T_PUB_WHY_B64 },
	{ T_PUB, T_PUB_L1 "\nRWSZ7q99sb1KOeSAeE4Te2TStEiQeNxngsktI6Y/kIiEuk1oZuJTruh\n", T_PUB_WHY_B64 },
	{ T_PUB, T_PUB_L1 "\nRWSZ7q99sb1KOeSAeE4Te2TStEiQeNxngsktI6Y_kIiEuk1oZuJTruhb\n", T_PUB_WHY_B64 },
	{ T_PUB, T_PUB_L1 "\n" T_SIG_L4 "\n", T_PUB_WHY_B64 },
	{ T_SEC, T_SEC_L1 "\n" T_PUB_L2 "\n", T_SEC_WHY_B64 },
	{ T_SIG, T_SIG_L1 "\n" T_PUB_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\n", T_SIG_WHY_B64 },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L2 "\n", T_SIG_WHY_GLOBAL },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n\n", T_SIG_WHY_GLOBAL },

	/* Wrong algorithm bytes. */
	{ T_PUB, T_PUB_L1 "\nRUSZ7q99sb1KOeSAeE4Te2TStEiQeNxngsktI6Y/kIiEuk1oZuJTruhb\n",
	  "unsupported public key algorithm (want Ed)" },
	{ T_SIG, T_SIG_L1 "\nRVSZ7q99sb1KOVzz9Ptcr7jMQeJ7AEx2aoDbT18VUmpmkWY5ihU0iSEybp6/J05jrLypxdNcyaUMduT3b7s/nJpxID214M//pQk=\n"
		 T_SIG_L3 "\n" T_SIG_L4 "\n", "unsupported signature algorithm (want ED or Ed)" },

	/* Extra non-empty lines, empty lines in between, NUL bytes. */
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2 "\nextra\n", T_PUB_WHY_LINES },
	{ T_PUB, T_PUB_L1 "\n" T_PUB_L2 "\n\n \n", T_PUB_WHY_LINES },
	{ T_PUB, T_PUB_L1 "\n\n" T_PUB_L2 "\n", T_PUB_WHY_LINES },
	{ T_PUB, "\n" T_PUB_L1 "\n" T_PUB_L2 "\n", T_PUB_WHY_LINES },
	{ T_SEC, T_SEC_L1 "\n" T_SEC_L2 "\n" T_SEC_L2 "\n", T_SEC_WHY_LINES },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\n" T_SIG_L3 "\n", T_SIG_WHY_LINES },
	{ T_SIG, T_SIG_L1 "\n" T_SIG_L2 "\n" T_SIG_L3 "\n" T_SIG_L4 "\nx", T_SIG_WHY_LINES },
	{ T_PUB, "", T_PUB_WHY_LINES },
	{ T_SIG, "", T_SIG_WHY_LINES },
	/* Lines separated by a lone CR are one line. */
	{ T_PUB, T_PUB_L1 "\r" T_PUB_L2 "\r", T_PUB_WHY_LINES },
};

static void
test_minisign_file_shapes(void **state)
{
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(t_shape_cases) / sizeof(t_shape_cases[0]); i++) {
		const struct t_shape_case *c = &t_shape_cases[i];
		why = NULL;
		int rc = t_parse(c->kind, c->text, strlen(c->text), &why);
		if (c->why == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, why);
		if (c->why != NULL && (rc != -1 || why == NULL || strcmp(why, c->why) != 0))
			fail_msg("case %zu: rc %d why '%s', want '%s'", i, rc, why ? why : "(null)",
				 c->why);
	}
}

static void
test_minisign_crlf_same_result(void **state)
{
	static const char *const lines[4] = { T_SIG_L1, T_SIG_L2, T_SIG_L3, T_SIG_L4 };
	struct minisign_sig lf, crlf;
	struct minisign_pubkey pub;
	uint8_t hash[MINISIGN_HASH_LEN];
	char text[T_TEXT_MAX];
	const char *why = NULL;

	(void)state;
	t_load_sig(t_sig, &lf);
	t_lines(text, sizeof(text), lines, 4, "\r\n");
	t_load_sig(text, &crlf);
	/* The CR is not part of the trusted comment, so the signature still holds. */
	assert_memory_equal(&lf, &crlf, sizeof(lf));
	t_load_pub(&pub);
	t_hash(t_content, strlen(t_content), hash);
	assert_int_equal(minisign_verify(&pub, &crlf, hash, NULL, 0, &why), 0);
}

/* A signature file with the given trusted comment text. */
static size_t
t_sig_with_trusted(const char *trusted, char *out, size_t cap)
{
	char line[MINISIGN_COMMENT_MAX + 64];
	const char *lines[4] = { T_SIG_L1, T_SIG_L2, line, T_SIG_L4 };
	int n = snprintf(line, sizeof(line), "trusted comment: %s", trusted);

	assert_true(n > 0 && (size_t)n < sizeof(line));
	return t_lines(out, cap, lines, 4, "\n");
}

static void
test_minisign_nul_and_size_limits(void **state)
{
	static const char nul_pub[] = T_PUB_L1 "\n" T_PUB_L2 "\n\0";
	char text[T_TEXT_MAX], comment[MINISIGN_COMMENT_MAX + 2];
	struct minisign_sig sig;
	const char *why;
	size_t len;

	(void)state;
	/* A NUL anywhere, even after the last line. */
	assert_int_equal(t_parse(T_PUB, nul_pub, sizeof(nul_pub) - 1, &why), -1);
	assert_string_equal(why, T_PUB_WHY_LINES);

	/* Trailing empty lines are fine, but not beyond MINISIGN_FILE_MAX bytes. */
	len = (size_t)snprintf(text, sizeof(text), "%s", t_pub);
	memset(text + len, '\n', MINISIGN_FILE_MAX - len);
	assert_int_equal(t_parse(T_PUB, text, MINISIGN_FILE_MAX, &why), 0);
	text[MINISIGN_FILE_MAX] = '\n';
	assert_int_equal(t_parse(T_PUB, text, MINISIGN_FILE_MAX + 1, &why), -1);
	assert_string_equal(why, T_PUB_WHY_LINES);

	/* Comments of MINISIGN_COMMENT_MAX bytes pass, one more does not. */
	memset(comment, 'c', sizeof(comment));
	comment[MINISIGN_COMMENT_MAX] = '\0';
	snprintf(text, sizeof(text), "untrusted comment: %s\n%s\n", comment, T_PUB_L2);
	assert_int_equal(t_parse(T_PUB, text, strlen(text), &why), 0);
	len = t_sig_with_trusted(comment, text, sizeof(text));
	assert_int_equal(minisign_sig_parse(text, len, &sig, &why), 0);
	assert_string_equal(sig.trusted, comment);

	comment[MINISIGN_COMMENT_MAX] = 'c';
	comment[MINISIGN_COMMENT_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "untrusted comment: %s\n%s\n", comment, T_PUB_L2);
	assert_int_equal(t_parse(T_PUB, text, strlen(text), &why), -1);
	assert_string_equal(why, T_PUB_WHY_COMMENT);
	len = t_sig_with_trusted(comment, text, sizeof(text));
	assert_int_equal(minisign_sig_parse(text, len, &sig, &why), -1);
	assert_string_equal(why, T_SIG_WHY_TRUSTED);
}

static void
test_minisign_pubkey_parse_b64(void **state)
{
	struct minisign_pubkey pub, from_file;
	const char *why = NULL;

	(void)state;
	/* The string minisign -G prints for "minisign -Vm <file> -P ...". */
	assert_int_equal(minisign_pubkey_parse_b64(T_PUB_L2, strlen(T_PUB_L2), &pub, &why), 0);
	t_load_pub(&from_file);
	assert_memory_equal(&pub, &from_file, sizeof(pub));
	assert_int_equal(minisign_pubkey_parse_b64(T_PUB_L2, strlen(T_PUB_L2) - 4, &pub, &why), -1);
	assert_string_equal(why, T_PUB_WHY_B64);
	assert_int_equal(minisign_pubkey_parse_b64(T_PUB_L2 "\n", strlen(T_PUB_L2) + 1, &pub, &why), -1);
	assert_string_equal(why, T_PUB_WHY_B64);
	assert_int_equal(minisign_pubkey_parse_b64(T_SIG_L2, strlen(T_SIG_L2), &pub, &why), -1);
	assert_string_equal(why, T_PUB_WHY_B64);
}

static void
test_minisign_format_and_sign_limits(void **state)
{
	struct minisign_seckey sec;
	struct minisign_pubkey pub;
	struct minisign_sig sig, back;
	uint8_t hash[MINISIGN_HASH_LEN];
	char text[T_TEXT_MAX], comment[MINISIGN_COMMENT_MAX + 2];
	const char *why = NULL;
	int n;

	(void)state;
	t_load_sec(&sec);
	t_load_pub(&pub);
	t_hash(t_content, strlen(t_content), hash);

	/* Trusted comments: one line, at most MINISIGN_COMMENT_MAX bytes. */
	assert_int_equal(minisign_sign(&sec, hash, "two\nlines", &sig), -1);
	assert_int_equal(minisign_sign(&sec, hash, "carriage\rreturn", &sig), -1);
	memset(comment, 'c', sizeof(comment));
	comment[MINISIGN_COMMENT_MAX + 1] = '\0';
	assert_int_equal(minisign_sign(&sec, hash, comment, &sig), -1);
	comment[MINISIGN_COMMENT_MAX] = '\0';
	assert_int_equal(minisign_sign(&sec, hash, comment, &sig), 0);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), 0);
	n = minisign_sig_format(&sig, "long one", text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal(minisign_sig_parse(text, (size_t)n, &back, &why), 0);
	assert_memory_equal(&back, &sig, sizeof(sig));
	assert_int_equal(minisign_sign(&sec, hash, "", &sig), 0);
	assert_int_equal(minisign_verify(&pub, &sig, hash, NULL, 0, &why), 0);

	/* Untrusted comment: one line too; and the buffer must hold it all. */
	assert_int_equal(minisign_sign(&sec, hash, T_SIG_TRUSTED, &sig), 0);
	assert_int_equal(minisign_sig_format(&sig, "a\nb", text, sizeof(text)), -1);
	assert_int_equal(minisign_sig_format(&sig, "a\rb", text, sizeof(text)), -1);
	n = minisign_sig_format(&sig, "signature from minisign secret key", text, sizeof(text));
	assert_int_equal(n, (int)strlen(t_sig));
	assert_int_equal(minisign_sig_format(&sig, "signature from minisign secret key", text,
					     (size_t)n), -1);
	assert_int_equal(minisign_sig_format(&sig, "signature from minisign secret key", text,
					     (size_t)n + 1), n);
	assert_string_equal(text, t_sig);
	assert_int_equal(minisign_pubkey_format(&pub, text, strlen(t_pub)), -1);
	assert_int_equal(minisign_pubkey_format(&pub, text, strlen(t_pub) + 1), (int)strlen(t_pub));
	sodium_memzero(&sec, sizeof(sec));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minisign_parse_real_files),
		cmocka_unit_test(test_minisign_keyid),
		cmocka_unit_test(test_minisign_verify_real),
		cmocka_unit_test(test_minisign_verify_changed_content),
		cmocka_unit_test(test_minisign_verify_changed_comments),
		cmocka_unit_test(test_minisign_verify_other_key),
		cmocka_unit_test(test_minisign_sign_reproduces_minisign),
		cmocka_unit_test(test_minisign_legacy),
		cmocka_unit_test(test_minisign_seckey_format_round_trip),
		cmocka_unit_test(test_minisign_seckey_checksum),
		cmocka_unit_test(test_minisign_seckey_encrypted_and_algorithms),
		cmocka_unit_test(test_minisign_truncated_files),
		cmocka_unit_test(test_minisign_file_shapes),
		cmocka_unit_test(test_minisign_crlf_same_result),
		cmocka_unit_test(test_minisign_nul_and_size_limits),
		cmocka_unit_test(test_minisign_pubkey_parse_b64),
		cmocka_unit_test(test_minisign_format_and_sign_limits),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("minisign", tests, NULL, NULL);
}
