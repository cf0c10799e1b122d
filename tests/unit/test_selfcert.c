/*
 * Unit tests for keys/selfcert and keys/tlsident: the bootstrap
 * certificate's key, names, extensions, validity and signature, checked
 * with OpenSSL's own accessors; saving it and loading it back as a TLS
 * identity, with a mismatched key, loose permissions and a chain file.
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
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "dnsname.h"
#include "selfcert.h"
#include "tlsident.h"
#include "testutil.h"

#define T_PATH_MAX 256
#define T_ERR_MAX 1024
#define T_PEM_MAX 16384
#define T_DAYS 90
#define T_SLACK_SECONDS 60	/* clock movement allowed while a test runs */

static const char *const t_names[] = { "mail.example.test", "imap.example.test" };

struct t_state {
	char dir[T_PATH_MAX];
};

static int
t_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	if (testutil_mkdtemp(s->dir, sizeof(s->dir), "selfcert") != 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;
	int rc = testutil_rmtree(s->dir);

	free(s);
	return rc;
}

static void
t_join(char *out, const char *dir, const char *leaf)
{
	int n = snprintf(out, T_PATH_MAX, "%s/%s", dir, leaf);

	assert_true(n > 0 && n < T_PATH_MAX);
}

static void
t_generate(const char *const *names, size_t n, unsigned days, struct tls_identity *id)
{
	char err[T_ERR_MAX];

	if (selfcert_generate(names, n, days, id, err, sizeof(err)) != 0)
		fail_msg("selfcert_generate: %s", err);
}

/* Seconds from now to t (negative when t is past). */
static long long
t_seconds_from_now(const ASN1_TIME *t)
{
	int days, secs;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
	return (long long)days * 86400 + secs;
}

/* Append the PEM of cert to a file. */
static void
t_append_pem(const char *path, X509 *cert)
{
	BIO *b = BIO_new_file(path, "a");

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, cert), 1);
	BIO_free(b);
}

/* ---- selfcert_generate ------------------------------------------------ */

static void
test_selfcert_key_and_names(void **state)
{
	struct tls_identity id;
	GENERAL_NAMES *san;
	char cn[DNSNAME_MAX + 1], group[64];
	size_t glen = 0;

	(void)state;
	t_generate(t_names, 2, T_DAYS, &id);
	assert_non_null(id.cert);
	assert_non_null(id.key);

	/* ECDSA P-256, and the certificate carries that key. */
	assert_int_equal(EVP_PKEY_is_a(id.key, "EC"), 1);
	assert_int_equal(EVP_PKEY_get_group_name(id.key, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(EVP_PKEY_get_bits(id.key), 256);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(id.cert), id.key), 1);
	assert_int_equal(X509_check_private_key(id.cert, id.key), 1);

	/* CN is the first name; issuer is the subject. */
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(id.cert), NID_commonName,
						   cn, sizeof(cn)), (int)strlen(t_names[0]));
	assert_string_equal(cn, t_names[0]);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(id.cert)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(id.cert),
				       X509_get_issuer_name(id.cert)), 0);

	/* subjectAltName: exactly both names, as DNS names, in order. */
	san = X509_get_ext_d2i(id.cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 2);
	for (int i = 0; i < 2; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
		assert_int_equal(gn->type, GEN_DNS);
		assert_int_equal(ASN1_STRING_length(gn->d.dNSName), (int)strlen(t_names[i]));
		assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), t_names[i],
				    strlen(t_names[i]));
	}
	GENERAL_NAMES_free(san);
	/* Both names match as host names; others do not. */
	assert_int_equal(X509_check_host(id.cert, "imap.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(id.cert, "MAIL.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(id.cert, "smtp.example.test", 0, 0, NULL), 0);
	tls_identity_clear(&id);
	assert_null(id.cert);
	assert_null(id.key);
}

static void
test_selfcert_extensions(void **state)
{
	struct tls_identity id;
	BASIC_CONSTRAINTS *bc;
	EXTENDED_KEY_USAGE *eku;
	int crit = -1;

	(void)state;
	t_generate(t_names, 2, T_DAYS, &id);
	assert_int_equal(X509_get_version(id.cert), X509_VERSION_3);

	bc = X509_get_ext_d2i(id.cert, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(bc->ca, 0);
	assert_null(bc->pathlen);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);

	eku = X509_get_ext_d2i(id.cert, NID_ext_key_usage, &crit, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);

	assert_int_equal(X509_get_extension_flags(id.cert) & EXFLAG_CA, 0);
	assert_int_equal(X509_get_extended_key_usage(id.cert), XKU_SSL_SERVER);
	assert_int_equal(X509_get_key_usage(id.cert), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_purpose(id.cert, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(X509_check_purpose(id.cert, X509_PURPOSE_SSL_CLIENT, 0), 0);
	assert_int_equal(X509_check_ca(id.cert), 0);
	tls_identity_clear(&id);
}

static void
test_selfcert_validity_and_signature(void **state)
{
	struct tls_identity id, other;
	const ASN1_INTEGER *serial;
	BIGNUM *a, *b;
	long long before, after;

	(void)state;
	t_generate(t_names, 2, T_DAYS, &id);
	before = t_seconds_from_now(X509_get0_notBefore(id.cert));
	after = t_seconds_from_now(X509_get0_notAfter(id.cert));
	/* Valid from a few minutes ago (clock skew) to T_DAYS days from now. */
	assert_true(before <= 0 && before >= -300 - T_SLACK_SECONDS);
	assert_true(after <= (long long)T_DAYS * 86400 &&
		    after >= (long long)T_DAYS * 86400 - T_SLACK_SECONDS);
	assert_int_equal(X509_cmp_current_time(X509_get0_notBefore(id.cert)), -1);
	assert_int_equal(X509_cmp_current_time(X509_get0_notAfter(id.cert)), 1);

	/* Self-signed: its own key verifies it, another key does not. */
	assert_int_equal(X509_verify(id.cert, id.key), 1);
	assert_int_equal(X509_verify(id.cert, X509_get0_pubkey(id.cert)), 1);
	assert_int_equal(X509_get_signature_nid(id.cert), NID_ecdsa_with_SHA256);
	t_generate(t_names, 1, SELFCERT_DAYS_MAX, &other);
	assert_int_equal(X509_verify(id.cert, other.key), 0);
	assert_int_equal(X509_check_private_key(id.cert, other.key), 0);
	ERR_clear_error();
	after = t_seconds_from_now(X509_get0_notAfter(other.cert));
	assert_true(after <= (long long)SELFCERT_DAYS_MAX * 86400 &&
		    after >= (long long)SELFCERT_DAYS_MAX * 86400 - T_SLACK_SECONDS);

	/* Serial numbers: positive, and different each time. */
	serial = X509_get0_serialNumber(id.cert);
	a = ASN1_INTEGER_to_BN(serial, NULL);
	b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(other.cert), NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(BN_is_negative(a), 0);
	assert_int_equal(BN_is_zero(a), 0);
	assert_true(BN_num_bits(a) <= 127);
	assert_int_not_equal(BN_cmp(a, b), 0);
	BN_free(a);
	BN_free(b);
	tls_identity_clear(&id);
	tls_identity_clear(&other);
}

static void
test_selfcert_one_day(void **state)
{
	static const char *const one[] = { "home.example.test" };
	struct tls_identity id;
	long long after;
	GENERAL_NAMES *san;

	(void)state;
	t_generate(one, 1, 1, &id);
	after = t_seconds_from_now(X509_get0_notAfter(id.cert));
	assert_true(after <= 86400 && after >= 86400 - T_SLACK_SECONDS);
	san = X509_get_ext_d2i(id.cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	GENERAL_NAMES_free(san);
	tls_identity_clear(&id);
}

static void
test_selfcert_refuses_bad_input(void **state)
{
	static const char *const bad_names[] = {
		"", "-mail.example.test", "mail-.example.test", "mail_1.example.test",
		"mail..example.test", "mail.example.test.", ".example.test", "mail example.test",
		"mail.example.test,DNS:evil.test", "m\xc3\xa4il.example.test", "*",
		"a.*.example.test",
	};
	const char *names[SELFCERT_NAMES_MAX + 1];
	char err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity id;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		/* The bad name second: every name is checked, not just the first. */
		const char *pair[2] = { "mail.example.test", bad_names[i] };
		memset(&id, 0xAA, sizeof(id));
		err[0] = '\0';
		if (selfcert_generate(pair, 2, T_DAYS, &id, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bad_names[i]);
		snprintf(want, sizeof(want), "not a host name: %s", bad_names[i]);
		assert_string_equal(err, want);
		assert_null(id.cert);
		assert_null(id.key);
		assert_null(id.chain);
	}

	names[0] = "mail.example.test";
	assert_int_equal(selfcert_generate(names, 0, T_DAYS, &id, err, sizeof(err)), -1);
	assert_string_equal(err, "need 1 to 32 host names");
	for (size_t i = 0; i < SELFCERT_NAMES_MAX + 1; i++)
		names[i] = "mail.example.test";
	assert_int_equal(selfcert_generate(names, SELFCERT_NAMES_MAX + 1, T_DAYS, &id, err,
					   sizeof(err)), -1);
	assert_string_equal(err, "need 1 to 32 host names");
	assert_null(id.cert);

	assert_int_equal(selfcert_generate(t_names, 2, 0, &id, err, sizeof(err)), -1);
	assert_string_equal(err, "validity must be 1 to 3650 days");
	assert_int_equal(selfcert_generate(t_names, 2, SELFCERT_DAYS_MAX + 1, &id, err,
					   sizeof(err)), -1);
	assert_string_equal(err, "validity must be 1 to 3650 days");
	assert_null(id.cert);
	assert_null(id.key);
}

static void
test_selfcert_many_long_names(void **state)
{
	/*
	 * SELFCERT_NAMES_MAX names all fit, those after the first of
	 * DNSNAME_MAX bytes each (the first is the CN, at most 64 bytes).
	 */
	static char names_buf[SELFCERT_NAMES_MAX][DNSNAME_MAX + 1];
	const char *names[SELFCERT_NAMES_MAX];
	struct tls_identity id;
	GENERAL_NAMES *san;

	(void)state;
	names[0] = "mail.example.test";
	for (size_t i = 1; i < SELFCERT_NAMES_MAX; i++) {
		/* Three labels of 63, then a unique one of 61: 253 bytes. */
		char *p = names_buf[i];
		memset(p, 'a', DNSNAME_MAX);
		p[63] = p[127] = p[191] = '.';
		p[192] = 'n';
		p[193] = (char)('0' + i / 10);
		p[194] = (char)('0' + i % 10);
		p[DNSNAME_MAX] = '\0';
		assert_int_equal(strlen(p), DNSNAME_MAX);
		assert_int_equal(dnsname_check(p, DNSNAME_MAX, 0), 0);
		names[i] = p;
	}
	t_generate(names, SELFCERT_NAMES_MAX, T_DAYS, &id);
	san = X509_get_ext_d2i(id.cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), SELFCERT_NAMES_MAX);
	for (int i = 0; i < SELFCERT_NAMES_MAX; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
		assert_int_equal(gn->type, GEN_DNS);
		assert_int_equal(ASN1_STRING_length(gn->d.dNSName), (int)strlen(names[i]));
		assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName), names[i],
				    strlen(names[i]));
	}
	GENERAL_NAMES_free(san);
	tls_identity_clear(&id);
}

static void
test_selfcert_first_name_is_cn(void **state)
{
	/* A valid host name longer than X.509 allows a CN to be. */
	char name[DNSNAME_MAX + 1], cn[DNSNAME_MAX + 1], err[T_ERR_MAX], want[T_ERR_MAX];
	const char *names[2];
	struct tls_identity id;

	(void)state;
	/* 64 bytes: "aaa...a.example.test" */
	memset(name, 'a', sizeof(name));
	memcpy(name + SELFCERT_CN_MAX - 13, ".example.test", 14);
	assert_int_equal(strlen(name), SELFCERT_CN_MAX);
	assert_int_equal(dnsname_check(name, strlen(name), 0), 0);
	names[0] = name;
	names[1] = "mail.example.test";
	t_generate(names, 2, T_DAYS, &id);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(id.cert), NID_commonName,
						   cn, sizeof(cn)), SELFCERT_CN_MAX);
	assert_string_equal(cn, name);
	tls_identity_clear(&id);

	/* 65 bytes first: a clear refusal, not an OpenSSL error. */
	memset(name, 'a', sizeof(name));
	memcpy(name + SELFCERT_CN_MAX + 1 - 13, ".example.test", 14);
	assert_int_equal(strlen(name), SELFCERT_CN_MAX + 1);
	assert_int_equal(dnsname_check(name, strlen(name), 0), 0);
	err[0] = '\0';
	assert_int_equal(selfcert_generate(names, 2, T_DAYS, &id, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "first host name is longer than 64 bytes, too long for the "
		 "certificate's CN; list a shorter name first: %s", name);
	assert_string_equal(err, want);
	assert_null(id.cert);
	assert_null(id.key);

	/* The same name second is fine. */
	names[1] = name;
	names[0] = "mail.example.test";
	t_generate(names, 2, T_DAYS, &id);
	assert_int_equal(X509_check_host(id.cert, name, strlen(name), 0, NULL), 1);
	tls_identity_clear(&id);
}

/* ---- selfcert_save and tlsident_load ----------------------------------- */

static void
test_selfcert_save_then_load(void **state)
{
	struct t_state *s = *state;
	char cert[T_PATH_MAX], key[T_PATH_MAX], err[T_ERR_MAX];
	struct tls_identity id, loaded;
	struct stat st;

	t_join(cert, s->dir, "tls.crt");
	t_join(key, s->dir, "tls.key");
	t_generate(t_names, 2, T_DAYS, &id);
	if (selfcert_save(&id, cert, key, 0, err, sizeof(err)) != 0)
		fail_msg("selfcert_save: %s", err);
	assert_int_equal(lstat(cert, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(lstat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	if (tlsident_load(cert, key, &loaded, err, sizeof(err)) != 0)
		fail_msg("tlsident_load: %s", err);
	assert_int_equal(X509_cmp(loaded.cert, id.cert), 0);
	assert_int_equal(EVP_PKEY_eq(loaded.key, id.key), 1);
	assert_non_null(loaded.chain);
	assert_int_equal(sk_X509_num(loaded.chain), 0);
	tls_identity_clear(&loaded);

	/* A shared/tls server takes it. */
	{
		struct tls_server *srv;
		assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
		srv = tls_server_new(&loaded, err, sizeof(err));
		assert_non_null(srv);
		tls_server_free(&srv);
		tls_identity_clear(&loaded);
	}

	/* Saving again without replace: refused, files untouched. */
	{
		struct tls_identity other;
		t_generate(t_names, 1, T_DAYS, &other);
		assert_int_equal(selfcert_save(&other, cert, key, 0, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "already exists"));
		assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
		assert_int_equal(X509_cmp(loaded.cert, id.cert), 0);
		tls_identity_clear(&loaded);
		/* With replace: the new pair. */
		assert_int_equal(selfcert_save(&other, cert, key, 1, err, sizeof(err)), 0);
		assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
		assert_int_equal(X509_cmp(loaded.cert, other.cert), 0);
		assert_int_equal(EVP_PKEY_eq(loaded.key, other.key), 1);
		tls_identity_clear(&loaded);
		tls_identity_clear(&other);
	}
	tls_identity_clear(&id);
}

static void
test_selfcert_save_existing_cert_leaves_no_key(void **state)
{
	struct t_state *s = *state;
	char cert[T_PATH_MAX], key[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity id;

	/*
	 * Only the certificate exists: the save fails, and must not leave a
	 * new key behind (a key with no certificate, which would also make
	 * the next attempt fail with "already exists" on the key).
	 */
	t_join(cert, s->dir, "tls.crt");
	t_join(key, s->dir, "tls.key");
	assert_int_equal(testutil_write_file(cert, "not touched\n", 12, 0644), 0);
	t_generate(t_names, 2, T_DAYS, &id);
	assert_int_equal(selfcert_save(&id, cert, key, 0, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: already exists", cert);
	assert_string_equal(err, want);
	assert_int_equal(access(key, F_OK), -1);
	/* Once the certificate is moved away, the same save works. */
	assert_int_equal(unlink(cert), 0);
	assert_int_equal(selfcert_save(&id, cert, key, 0, err, sizeof(err)), 0);
	assert_int_equal(access(key, F_OK), 0);
	tls_identity_clear(&id);
}

static void
test_tlsident_key_mismatch(void **state)
{
	struct t_state *s = *state;
	char cert1[T_PATH_MAX], key1[T_PATH_MAX], cert2[T_PATH_MAX], key2[T_PATH_MAX];
	char err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity a, b, loaded;

	t_join(cert1, s->dir, "a.crt");
	t_join(key1, s->dir, "a.key");
	t_join(cert2, s->dir, "b.crt");
	t_join(key2, s->dir, "b.key");
	t_generate(t_names, 2, T_DAYS, &a);
	t_generate(t_names, 2, T_DAYS, &b);
	assert_int_equal(selfcert_save(&a, cert1, key1, 0, err, sizeof(err)), 0);
	assert_int_equal(selfcert_save(&b, cert2, key2, 0, err, sizeof(err)), 0);

	memset(&loaded, 0xAA, sizeof(loaded));
	err[0] = '\0';
	assert_int_equal(tlsident_load(cert1, key2, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s does not match the certificate in %s", key2, cert1);
	assert_string_equal(err, want);
	assert_null(loaded.cert);
	assert_null(loaded.key);
	assert_null(loaded.chain);

	assert_int_equal(tlsident_load(cert2, key2, &loaded, err, sizeof(err)), 0);
	tls_identity_clear(&loaded);
	tls_identity_clear(&a);
	tls_identity_clear(&b);
}

static void
test_tlsident_chain(void **state)
{
	struct t_state *s = *state;
	char cert[T_PATH_MAX], key[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity leaf, mid[9], loaded;

	t_join(cert, s->dir, "chain.crt");
	t_join(key, s->dir, "leaf.key");
	t_generate(t_names, 2, T_DAYS, &leaf);
	assert_int_equal(selfcert_save(&leaf, cert, key, 0, err, sizeof(err)), 0);
	for (size_t i = 0; i < 9; i++) {
		static const char *const n[] = { "intermediate.example.test" };
		t_generate(n, 1, T_DAYS, &mid[i]);
	}
	/* Leaf + 2 more. */
	t_append_pem(cert, mid[0].cert);
	t_append_pem(cert, mid[1].cert);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
	assert_int_equal(X509_cmp(loaded.cert, leaf.cert), 0);
	assert_int_equal(sk_X509_num(loaded.chain), 2);
	assert_int_equal(X509_cmp(sk_X509_value(loaded.chain, 0), mid[0].cert), 0);
	assert_int_equal(X509_cmp(sk_X509_value(loaded.chain, 1), mid[1].cert), 0);
	tls_identity_clear(&loaded);

	/* Up to 8 chain certificates, not 9. */
	for (size_t i = 2; i < 8; i++)
		t_append_pem(cert, mid[i].cert);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
	assert_int_equal(sk_X509_num(loaded.chain), 8);
	tls_identity_clear(&loaded);
	t_append_pem(cert, mid[8].cert);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: more than 8 chain certificates", cert);
	assert_string_equal(err, want);
	assert_null(loaded.cert);
	assert_null(loaded.chain);

	for (size_t i = 0; i < 9; i++)
		tls_identity_clear(&mid[i]);
	tls_identity_clear(&leaf);
}

static void
test_tlsident_broken_chain_certificate(void **state)
{
	struct t_state *s = *state;
	char cert[T_PATH_MAX], key[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity leaf, mid, loaded;
	int fd;

	t_join(cert, s->dir, "chain.crt");
	t_join(key, s->dir, "leaf.key");
	t_generate(t_names, 2, T_DAYS, &leaf);
	t_generate(t_names, 1, T_DAYS, &mid);
	assert_int_equal(selfcert_save(&leaf, cert, key, 0, err, sizeof(err)), 0);
	t_append_pem(cert, mid.cert);
	/* Text after the last certificate is no certificate, and no error. */
	fd = open(cert, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "# end of chain\n", 15), 15);
	close(fd);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), 0);
	assert_int_equal(sk_X509_num(loaded.chain), 1);
	tls_identity_clear(&loaded);

	/*
	 * A broken intermediate must not vanish silently: clients would get
	 * a chain without it and fail to verify.
	 */
	fd = open(cert, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	{
		static const char broken[] =
			"-----BEGIN CERTIFICATE-----\nMIIBbroken\n-----END CERTIFICATE-----\n";
		assert_int_equal(write(fd, broken, strlen(broken)), (ssize_t)strlen(broken));
	}
	close(fd);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: certificate 3 is not a valid PEM certificate", cert);
	assert_string_equal(err, want);
	assert_null(loaded.cert);
	assert_null(loaded.chain);
	tls_identity_clear(&mid);
	tls_identity_clear(&leaf);
}

static void
test_tlsident_bad_files(void **state)
{
	struct t_state *s = *state;
	char cert[T_PATH_MAX], key[T_PATH_MAX], bad[T_PATH_MAX], err[T_ERR_MAX], want[T_ERR_MAX];
	struct tls_identity id, loaded;

	t_join(cert, s->dir, "tls.crt");
	t_join(key, s->dir, "tls.key");
	t_join(bad, s->dir, "bad.crt");
	t_generate(t_names, 2, T_DAYS, &id);
	assert_int_equal(selfcert_save(&id, cert, key, 0, err, sizeof(err)), 0);

	/* Loose key permissions. */
	assert_int_equal(chmod(key, 0644), 0);
	assert_int_equal(tlsident_load(cert, key, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "chmod 600 %s", key);
	assert_non_null(strstr(err, want));
	assert_null(loaded.cert);
	assert_int_equal(chmod(key, 0600), 0);

	/* No certificate in the file. */
	assert_int_equal(testutil_write_file(bad, "garbage\n", 8, 0644), 0);
	assert_int_equal(tlsident_load(bad, key, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: no PEM certificate", bad);
	assert_string_equal(err, want);

	/* The key file given as the certificate, and the other way round. */
	assert_int_equal(tlsident_load(key, key, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: no PEM certificate", key);
	assert_string_equal(err, want);
	assert_int_equal(tlsident_load(cert, cert, &loaded, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "chmod 600 %s", cert);
	assert_non_null(strstr(err, want));

	/* Missing files. */
	t_join(bad, s->dir, "missing.crt");
	assert_int_equal(tlsident_load(bad, key, &loaded, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_null(loaded.cert);
	tls_identity_clear(&id);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_selfcert_key_and_names),
		T(test_selfcert_extensions),
		T(test_selfcert_validity_and_signature),
		T(test_selfcert_one_day),
		T(test_selfcert_refuses_bad_input),
		T(test_selfcert_many_long_names),
		T(test_selfcert_first_name_is_cn),
		T(test_selfcert_save_then_load),
		T(test_selfcert_save_existing_cert_leaves_no_key),
		T(test_tlsident_key_mismatch),
		T(test_tlsident_chain),
		T(test_tlsident_broken_chain_certificate),
		T(test_tlsident_bad_files),
	};

	/* pemkey_load() takes its buffer from sodium_malloc(). */
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("selfcert", tests, NULL, NULL);
}
