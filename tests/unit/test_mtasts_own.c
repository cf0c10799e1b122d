/*
 * Unit tests for home/mtasts_own (the MTA-STS policy the home publishes)
 * and keys/tlsident's tlsident_verify, which decides whether one may be
 * published:
 * - the policy's exact text, read back by the parser the outbound side
 *   uses on other domains' policies, and its id (a 32-digit hex SHA-256
 *   prefix: one known value, and a change whenever any field changes);
 * - nothing published when the mode is off, with no MX host, or when the
 *   certificate is not valid, each with its reason;
 * - the MX hosts: relay mode's host names without the policy hosts, and
 *   [home] hostname in direct mode;
 * - all of it together (mtasts_own_load): the chain homeportd serves
 *   rather than the file, untrusted or off, relay mode without an MX;
 * - tlsident_verify against real certificates made with selfcert: a
 *   self-signed one trusted as its own CA passes for its names and fails
 *   for another name; against another CA, or with no CA file, it fails
 *   with OpenSSL's reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "selfcert.h"
#include "testutil.h"
#include "tlsident.h"

#include "../../home/home.h"
#include "../../home/mtasts.h"
#include "../../home/relay.h"

static const char *const t_mx[] = { "mail.example.test", "mx2.example.test" };

static void
test_own_policy(void **state)
{
	struct mtasts_own o, again;
	struct mtasts_policy parsed;
	const char *err = NULL;

	(void)state;
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 2, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_ENFORCE);
	assert_string_equal(o.why, "");
	assert_string_equal(o.text, "version: STSv1\nmode: enforce\nmax_age: 604800\n"
				    "mx: mail.example.test\nmx: mx2.example.test\n");
	assert_int_equal(o.len, strlen(o.text));
	/* sha256 of the text above, its first 16 bytes (printf '...' | sha256sum | cut -c1-32). */
	assert_string_equal(o.id, "6839091ea74d8e7c853d703c121e42b0");
	assert_int_equal(mtasts_parse_policy((const uint8_t *)o.text, o.len, &parsed, &err), 0);
	assert_int_equal(parsed.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(parsed.max_age, 604800);
	assert_int_equal(parsed.nmx, 2);
	assert_string_equal(parsed.mx[1], "mx2.example.test");

	/* Any change changes the id. */
	mtasts_own_build(HOME_MTASTS_TESTING, 604800, t_mx, 2, NULL, &again);
	assert_int_equal(again.mode, MTASTS_MODE_TESTING);
	assert_non_null(strstr(again.text, "\nmode: testing\n"));
	assert_string_not_equal(again.id, o.id);
	mtasts_own_build(HOME_MTASTS_ENFORCE, 86400, t_mx, 2, NULL, &again);
	assert_string_not_equal(again.id, o.id);
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 1, NULL, &again);
	assert_string_not_equal(again.id, o.id);
	/* The same inputs, the same id. */
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 2, NULL, &again);
	assert_string_equal(again.id, o.id);
	/* max_age is capped at RFC 8461's year. */
	mtasts_own_build(HOME_MTASTS_ENFORCE, 2LL * MTASTS_MAX_AGE_MAX, t_mx, 1, NULL, &again);
	assert_int_equal(again.policy.max_age, MTASTS_MAX_AGE_MAX);
}

static void
test_own_none(void **state)
{
	const char *many[MTASTS_MX_MAX + 1];
	struct mtasts_own o;

	(void)state;
	mtasts_own_build(HOME_MTASTS_OFF, 604800, t_mx, 2, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_string_equal(o.why, "[mta_sts] mode = off");
	assert_int_equal(o.len, 0);
	assert_string_equal(o.id, "");
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 0, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_string_equal(o.why, "no MX host");
	mtasts_own_build(HOME_MTASTS_TESTING, 604800, t_mx, 2, "tls.crt: not valid: self-signed certificate", &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_string_equal(o.why, "tls.crt: not valid: self-signed certificate");
	for (size_t i = 0; i < MTASTS_MX_MAX + 1; i++)
		many[i] = "mail.example.test";
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, many, MTASTS_MX_MAX + 1, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, many, MTASTS_MX_MAX, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_ENFORCE);
	assert_true(o.len < sizeof(o.text));
}

static void
test_own_mx(void **state)
{
	static const char relay_conf[] =
		"[relay]\nmode = on\n\n"
		"[edge edge1]\npublic_key = 5Rcil6Fh0wYm2xgN4nDnlYq4n1Pe0Z9mUpwnbS2wSwU=\n"
		"endpoint = 203.0.113.1:51820\npublic_address = 203.0.113.1\ntenant = t1\n"
		"address = 192.0.2.2/25\nedge_address = 192.0.2.1\negress_port = 1080\n"
		"hostnames = mail.example.test, MTA-STS.example.test, mta-sts.other.test\npreference = 10\n\n"
		"[edge edge2]\npublic_key = 9Rcil6Fh0wYm2xgN4nDnlYq4n1Pe0Z9mUpwnbS2wSwU=\n"
		"endpoint = 203.0.113.2:51820\npublic_address = 203.0.113.2\ntenant = t2\n"
		"address = 192.0.2.130/25\nedge_address = 192.0.2.129\negress_port = 1080\n"
		"hostnames = mx2.example.test, Mail.Example.Test\npreference = 20\n";
	struct home_main_conf main_conf = { .hostname = "home.example.test" };
	struct home_conf hc = { .main = &main_conf };
	struct relay_state rs = { 0 };
	const char *mx[4];
	char err[256];

	(void)state;
	/* Direct mode (no relay.conf): the home's own name. */
	assert_int_equal(mtasts_own_mx(&hc, &rs, mx, 4), 1);
	assert_string_equal(mx[0], "home.example.test");
	assert_int_equal(mtasts_own_mx(&hc, &rs, mx, 0), 0);

	if (relay_state_load_buffer("relay.conf", relay_conf, sizeof(relay_conf) - 1, &rs, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(mtasts_own_mx(&hc, &rs, mx, 4), 2);
	assert_string_equal(mx[0], "mail.example.test");
	assert_string_equal(mx[1], "mx2.example.test");
	assert_int_equal(mtasts_own_mx(&hc, &rs, mx, 1), 1);
	relay_state_free(&rs);

	assert_true(mtasts_own_is_policy_host("mta-sts.example.test"));
	assert_true(mtasts_own_is_policy_host("MTA-STS.example.test"));
	assert_false(mtasts_own_is_policy_host("mta-sts2.example.test"));
	assert_false(mtasts_own_is_policy_host("mail.mta-sts.example.test"));
}

/* A self-signed certificate for names into DIR/stem.crt (and .key). */
static void
t_cert(const char *dir, const char *stem, const char *const *names, size_t n, char *path, size_t cap)
{
	struct tls_identity id;
	char key[512], err[256];

	snprintf(path, cap, "%s/%s.crt", dir, stem);
	snprintf(key, sizeof(key), "%s/%s.key", dir, stem);
	if (selfcert_generate(names, n, 30, &id, err, sizeof(err)) != 0 ||
	    selfcert_save(&id, path, key, 1, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	tls_identity_clear(&id);
}

static void
test_tlsident_verify(void **state)
{
	static const char *const names[] = { "mail.example.test", "mta-sts.example.test" };
	static const char *const other[] = { "other.test" };
	struct testutil_tmpdir *td = testutil_tmpdir_new("mtasts_own", NULL);
	char cert[600], other_cert[600], err[512];

	(void)state;
	assert_non_null(td);
	t_cert(td->dir, "home", names, 2, cert, sizeof(cert));
	t_cert(td->dir, "other", other, 1, other_cert, sizeof(other_cert));

	/* Trusted as its own CA: valid for each of its names, and for all at once. */
	assert_int_equal(tlsident_verify(cert, cert, names, 2, err, sizeof(err)), 0);
	assert_int_equal(tlsident_verify(cert, cert, names + 1, 1, err, sizeof(err)), 0);
	assert_int_equal(tlsident_verify(cert, cert, NULL, 0, err, sizeof(err)), 0);

	/* Not for a name it does not carry. */
	assert_int_equal(tlsident_verify(cert, cert, other, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid for other.test"));

	/* Not under another CA, nor the system's. */
	assert_int_equal(tlsident_verify(cert, other_cert, names, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": not valid: "));
	assert_int_equal(tlsident_verify(cert, NULL, names, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "self-signed certificate"));

	/* Files that are not there. */
	assert_int_equal(tlsident_verify("/nonexistent/tls.crt", cert, names, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/tls.crt"));
	assert_int_equal(tlsident_verify(cert, "/nonexistent/ca.pem", names, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	assert_int_equal(testutil_tmpdir_free(&td), 0);
}

/* mtasts_own_load: the configuration, relay.conf and the certificate together. */
static void
test_own_load(void **state)
{
	static const char *const names[] = { "home.example.test", "mta-sts.example.test" };
	static const char only_policy[] =
		"[relay]\nmode = on\n\n"
		"[edge edge1]\npublic_key = 5Rcil6Fh0wYm2xgN4nDnlYq4n1Pe0Z9mUpwnbS2wSwU=\n"
		"endpoint = 203.0.113.1:51820\npublic_address = 203.0.113.1\ntenant = t1\n"
		"address = 192.0.2.2/25\nedge_address = 192.0.2.1\negress_port = 1080\n"
		"hostnames = mta-sts.example.test\npreference = 10\n";
	struct testutil_tmpdir *td = testutil_tmpdir_new("mtasts_load", NULL);
	struct home_main_conf main_conf = { .hostname = "home.example.test" };
	struct home_outbound_conf out = { 0 };
	struct home_mtasts_conf sts_conf = { .mode = HOME_MTASTS_ENFORCE, .max_age = 86400000 };
	struct home_conf hc = { .main = &main_conf, .outbound = &out, .mta_sts = &sts_conf };
	struct relay_state direct = { 0 }, rs = { 0 };
	struct tls_identity id = { 0 };
	struct mtasts_own o;
	char cert[600], err[256];

	(void)state;
	assert_non_null(td);
	t_cert(td->dir, "home", names, 2, cert, sizeof(cert));
	out.tls_ca_file = cert;

	/* The certificate from its file, trusted: published for [home] hostname. */
	snprintf(hc.cert_path, sizeof(hc.cert_path), "%s", cert);
	mtasts_own_load(&hc, &direct, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_ENFORCE);
	assert_string_equal(o.text, "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: home.example.test\n");

	/* The chain served wins over the file (which the service user may not read). */
	{
		char key[600];

		snprintf(key, sizeof(key), "%s/home.key", td->dir);
		if (tlsident_load(cert, key, &id, err, sizeof(err)) != 0)
			fail_msg("%s", err);
	}
	snprintf(hc.cert_path, sizeof(hc.cert_path), "%s/nonexistent.crt", td->dir);
	mtasts_own_load(&hc, &direct, NULL, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_non_null(strstr(o.why, "nonexistent.crt"));
	mtasts_own_load(&hc, &direct, &id, &o);
	assert_int_equal(o.mode, MTASTS_MODE_ENFORCE);

	/* Not trusted by the CAs named: nothing, and why. */
	out.tls_ca_file = NULL;
	mtasts_own_load(&hc, &direct, &id, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_non_null(strstr(o.why, "not valid: self-signed certificate"));

	/* Off: no certificate looked at at all. */
	sts_conf.mode = HOME_MTASTS_OFF;
	mtasts_own_load(&hc, &direct, NULL, &o);
	assert_string_equal(o.why, "[mta_sts] mode = off");

	/* Relay mode whose edges route only the policy host: no MX, no policy. */
	sts_conf.mode = HOME_MTASTS_ENFORCE;
	out.tls_ca_file = cert;
	if (relay_state_load_buffer("relay.conf", only_policy, sizeof(only_policy) - 1, &rs, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	mtasts_own_load(&hc, &rs, &id, &o);
	assert_int_equal(o.mode, MTASTS_MODE_NONE);
	assert_string_equal(o.why, "no MX host");
	relay_state_free(&rs);
	tls_identity_clear(&id);
	assert_int_equal(testutil_tmpdir_free(&td), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_policy),
		cmocka_unit_test(test_own_none),
		cmocka_unit_test(test_own_mx),
		cmocka_unit_test(test_tlsident_verify),
		cmocka_unit_test(test_own_load),
	};
	if (sodium_init() < 0)	/* key files are read into sodium_malloc()ed memory */
		return 1;
	return cmocka_run_group_tests_name("mtasts_own", tests, NULL, NULL);
}
