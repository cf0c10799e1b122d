/*
 * Unit tests for keys/dkimkey and keys/pemkey: key generation, the exact
 * DNS TXT record for each key type (checked against OpenSSL's own encoding
 * of the public key), and PEM files on disk (round trip, no accidental
 * overwrite, refused loose permissions, refused garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "dkimkey.h"
#include "pemkey.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_ERR_MAX 1024
#define T_PEM_MAX 8192

struct t_state {
	char dir[T_PATH_MAX];
	EVP_PKEY *ed25519;
	EVP_PKEY *rsa;
};

/* Keys are made once for the group (RSA takes a while); each test gets a fresh directory. */
static int
t_group_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));
	char err[T_ERR_MAX];

	if (s == NULL)
		return -1;
	s->ed25519 = dkimkey_generate(DKIMKEY_ED25519, err, sizeof(err));
	s->rsa = dkimkey_generate(DKIMKEY_RSA, err, sizeof(err));
	if (s->ed25519 == NULL || s->rsa == NULL)
		return -1;
	*state = s;
	return 0;
}

static int
t_group_teardown(void **state)
{
	struct t_state *s = *state;

	EVP_PKEY_free(s->ed25519);
	EVP_PKEY_free(s->rsa);
	free(s);
	return 0;
}

static int
t_setup(void **state)
{
	struct t_state *s = *state;

	return testutil_mkdtemp(s->dir, sizeof(s->dir), "dkimkey");
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;

	return testutil_rmtree(s->dir);
}

static void
t_join(char *out, const char *dir, const char *leaf)
{
	int n = snprintf(out, T_PATH_MAX, "%s/%s", dir, leaf);

	assert_true(n > 0 && n < T_PATH_MAX);
}

static size_t
t_slurp(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, out, cap - 1);
	assert_true(n >= 0 && (size_t)n < cap - 1);
	out[n] = '\0';
	close(fd);
	return (size_t)n;
}

/* OpenSSL's base64 (not ours) of der, for the expected record. */
static void
t_openssl_b64(const unsigned char *der, size_t len, char *out, size_t cap)
{
	assert_true(cap >= 4 * ((len + 2) / 3) + 1);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, der, (int)len),
			 (int)(4 * ((len + 2) / 3)));
}

/* ---- dkimkey ---------------------------------------------------------- */

static void
test_dkimkey_alg_parse(void **state)
{
	static const struct {
		const char *word;
		int rc;
		enum dkimkey_alg alg;
	} cases[] = {
		{ "ed25519", 0, DKIMKEY_ED25519 },
		{ "rsa", 0, DKIMKEY_RSA },
		{ "Ed25519", -1, 0 }, { "RSA", -1, 0 }, { "ed25519 ", -1, 0 }, { " rsa", -1, 0 },
		{ "rsa2048", -1, 0 }, { "ed448", -1, 0 }, { "", -1, 0 }, { "ed", -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dkimkey_alg alg = (enum dkimkey_alg)99;
		int rc = dkimkey_alg_parse(cases[i].word, &alg);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].word, rc, cases[i].rc);
		if (rc == 0 && alg != cases[i].alg)
			fail_msg("'%s': alg %d, want %d", cases[i].word, (int)alg, (int)cases[i].alg);
	}
}

static void
test_dkimkey_generate(void **state)
{
	struct t_state *s = *state;
	char err[T_ERR_MAX];
	EVP_PKEY *again;

	assert_int_equal(EVP_PKEY_is_a(s->ed25519, "ED25519"), 1);
	assert_int_equal(EVP_PKEY_is_a(s->rsa, "RSA"), 1);
	assert_int_equal(EVP_PKEY_get_bits(s->rsa), DKIMKEY_RSA_BITS);
	/* Private keys, and a new one each time. */
	again = dkimkey_generate(DKIMKEY_ED25519, err, sizeof(err));
	assert_non_null(again);
	assert_int_equal(EVP_PKEY_eq(again, s->ed25519), 0);
	{
		unsigned char priv[64];
		size_t len = sizeof(priv);
		assert_int_equal(EVP_PKEY_get_raw_private_key(again, priv, &len), 1);
		assert_int_equal(len, 32);
	}
	EVP_PKEY_free(again);
}

static void
test_dkimkey_record_ed25519(void **state)
{
	struct t_state *s = *state;
	unsigned char raw[64];
	size_t raw_len = sizeof(raw);
	char record[DKIMKEY_RECORD_MAX], b64[64], want[DKIMKEY_RECORD_MAX], err[T_ERR_MAX];
	int n;

	assert_int_equal(EVP_PKEY_get_raw_public_key(s->ed25519, raw, &raw_len), 1);
	assert_int_equal(raw_len, 32);
	t_openssl_b64(raw, raw_len, b64, sizeof(b64));
	assert_int_equal(strlen(b64), 44);
	snprintf(want, sizeof(want), "v=DKIM1; k=ed25519; p=%s", b64);

	n = dkimkey_record(s->ed25519, record, sizeof(record), err, sizeof(err));
	assert_int_equal(n, 22 + 44);
	assert_string_equal(record, want);

	/* Exactly the room needed, and one byte less. */
	assert_int_equal(dkimkey_record(s->ed25519, record, (size_t)n + 1, err, sizeof(err)), n);
	assert_string_equal(record, want);
	err[0] = '\0';
	assert_int_equal(dkimkey_record(s->ed25519, record, (size_t)n, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "DKIM record longer than %d bytes", n);
	assert_string_equal(err, want);
}

static void
test_dkimkey_record_rsa(void **state)
{
	struct t_state *s = *state;
	unsigned char der[1024], *p = der, decoded[1024];
	const unsigned char *cp;
	char record[DKIMKEY_RECORD_MAX], b64[512], want[DKIMKEY_RECORD_MAX], err[T_ERR_MAX];
	const char *prefix = "v=DKIM1; k=rsa; p=";
	EVP_PKEY *pub;
	int der_len, n, dec_len;

	der_len = i2d_PUBKEY(s->rsa, NULL);
	assert_true(der_len > 0 && (size_t)der_len <= sizeof(der));
	assert_int_equal(i2d_PUBKEY(s->rsa, &p), der_len);
	assert_int_equal(der_len, 294);
	t_openssl_b64(der, (size_t)der_len, b64, sizeof(b64));
	snprintf(want, sizeof(want), "%s%s", prefix, b64);

	n = dkimkey_record(s->rsa, record, sizeof(record), err, sizeof(err));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(record, want);

	/* The p= value decodes back to a 2048-bit RSA key, the same one. */
	dec_len = EVP_DecodeBlock(decoded, (const unsigned char *)record + strlen(prefix),
				  (int)strlen(record + strlen(prefix)));
	assert_true(dec_len >= der_len);
	cp = decoded;
	pub = d2i_PUBKEY(NULL, &cp, der_len);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_is_a(pub, "RSA"), 1);
	assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
	assert_int_equal(EVP_PKEY_eq(pub, s->rsa), 1);
	EVP_PKEY_free(pub);
}

static void
test_dkimkey_record_other_types(void **state)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char record[DKIMKEY_RECORD_MAX], err[T_ERR_MAX];

	(void)state;
	assert_non_null(ec);
	err[0] = '\0';
	assert_int_equal(dkimkey_record(ec, record, sizeof(record), err, sizeof(err)), -1);
	assert_string_equal(err, "not a DKIM key type (want Ed25519 or RSA)");
	EVP_PKEY_free(ec);
}

/* ---- pemkey ------------------------------------------------------------- */

static void
test_pemkey_save_load_round_trip(void **state)
{
	struct t_state *s = *state;
	EVP_PKEY *keys[2] = { s->ed25519, s->rsa };
	const char *leaves[2] = { "ed25519.key", "rsa.key" };
	char path[T_PATH_MAX], err[T_ERR_MAX], pem[T_PEM_MAX];
	struct stat st;

	for (size_t i = 0; i < 2; i++) {
		t_join(path, s->dir, leaves[i]);
		err[0] = '\0';
		assert_int_equal(pemkey_save(keys[i], path, 0, err, sizeof(err)), 0);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		/* PKCS#8, unencrypted. */
		t_slurp(path, pem, sizeof(pem));
		assert_memory_equal(pem, "-----BEGIN PRIVATE KEY-----\n", 28);
		assert_non_null(strstr(pem, "-----END PRIVATE KEY-----\n"));

		EVP_PKEY *back = pemkey_load(path, err, sizeof(err));
		if (back == NULL)
			fail_msg("%s: %s", leaves[i], err);
		assert_int_equal(EVP_PKEY_eq(back, keys[i]), 1);
		assert_int_not_equal(EVP_PKEY_eq(back, keys[1 - i]), 1);
		/* The record of the loaded key is the record of the original. */
		{
			char a[DKIMKEY_RECORD_MAX], b[DKIMKEY_RECORD_MAX];
			assert_true(dkimkey_record(keys[i], a, sizeof(a), err, sizeof(err)) > 0);
			assert_true(dkimkey_record(back, b, sizeof(b), err, sizeof(err)) > 0);
			assert_string_equal(a, b);
		}
		EVP_PKEY_free(back);
	}
}

static void
test_pemkey_save_no_overwrite(void **state)
{
	struct t_state *s = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX], before[T_PEM_MAX], after[T_PEM_MAX];
	EVP_PKEY *back;

	t_join(path, s->dir, "dkim.key");
	assert_int_equal(pemkey_save(s->ed25519, path, 0, err, sizeof(err)), 0);
	t_slurp(path, before, sizeof(before));

	err[0] = '\0';
	assert_int_equal(pemkey_save(s->rsa, path, 0, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: already exists", path);
	assert_string_equal(err, want);
	t_slurp(path, after, sizeof(after));
	assert_string_equal(after, before);
	back = pemkey_load(path, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_eq(back, s->ed25519), 1);
	EVP_PKEY_free(back);

	/* With replace set, it is replaced. */
	assert_int_equal(pemkey_save(s->rsa, path, 1, err, sizeof(err)), 0);
	back = pemkey_load(path, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_eq(back, s->rsa), 1);
	EVP_PKEY_free(back);
}

static void
test_pemkey_load_refuses_loose_mode(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660 };
	struct t_state *s = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], fix[T_ERR_MAX];
	EVP_PKEY *back;

	t_join(path, s->dir, "dkim.key");
	assert_int_equal(pemkey_save(s->ed25519, path, 0, err, sizeof(err)), 0);
	snprintf(fix, sizeof(fix), "fix with: chmod 600 %s", path);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		err[0] = '\0';
		back = pemkey_load(path, err, sizeof(err));
		if (back != NULL)
			fail_msg("mode %04o accepted", (unsigned)modes[i]);
		if (strstr(err, fix) == NULL)
			fail_msg("mode %04o: '%s'", (unsigned)modes[i], err);
	}
	assert_int_equal(chmod(path, 0400), 0);
	back = pemkey_load(path, err, sizeof(err));
	assert_non_null(back);
	EVP_PKEY_free(back);

	t_join(path, s->dir, "missing.key");
	assert_null(pemkey_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_pemkey_parse(void **state)
{
	struct t_state *s = *state;
	char path[T_PATH_MAX], err[T_ERR_MAX], pem[T_PEM_MAX], pub_pem[T_PEM_MAX];
	size_t len;
	EVP_PKEY *key;
	unsigned char *der = NULL;
	int der_len;

	t_join(path, s->dir, "rsa.key");
	assert_int_equal(pemkey_save(s->rsa, path, 0, err, sizeof(err)), 0);
	len = t_slurp(path, pem, sizeof(pem));

	key = pemkey_parse(pem, len, err, sizeof(err));
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(key, s->rsa), 1);
	EVP_PKEY_free(key);

	/* Garbage, empty, truncated, and a public key where a private one belongs. */
	{
		const char *bad[] = {
			"garbage",
			"",
			"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err[0] = '\0';
			assert_null(pemkey_parse(bad[i], strlen(bad[i]), err, sizeof(err)));
			assert_memory_equal(err, "not a PEM private key", 21);
		}
	}
	assert_null(pemkey_parse(pem, len / 2, err, sizeof(err)));
	assert_memory_equal(err, "not a PEM private key", 21);

	der_len = i2d_PUBKEY(s->rsa, &der);
	assert_true(der_len > 0);
	{
		char b64[1024];
		t_openssl_b64(der, (size_t)der_len, b64, sizeof(b64));
		snprintf(pub_pem, sizeof(pub_pem), "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64);
	}
	OPENSSL_free(der);
	assert_null(pemkey_parse(pub_pem, strlen(pub_pem), err, sizeof(err)));
	assert_memory_equal(err, "not a PEM private key", 21);

	/* Larger than any key file may be. */
	{
		static char big[64 * 1024 + 1];
		memset(big, 'A', sizeof(big));
		assert_null(pemkey_parse(big, sizeof(big), err, sizeof(err)));
		assert_string_equal(err, "private key larger than 65536 bytes");
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dkimkey_alg_parse),
		T(test_dkimkey_generate),
		T(test_dkimkey_record_ed25519),
		T(test_dkimkey_record_rsa),
		T(test_dkimkey_record_other_types),
		T(test_pemkey_save_load_round_trip),
		T(test_pemkey_save_no_overwrite),
		T(test_pemkey_load_refuses_loose_mode),
		T(test_pemkey_parse),
	};

	/* pemkey_load() takes its buffer from sodium_malloc(). */
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("dkimkey", tests, t_group_setup, t_group_teardown);
}
