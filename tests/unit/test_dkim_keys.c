/*
 * Unit tests for home/dkim_keys: which key files in a directory sign for
 * which domain. DOMAIN.SELECTOR.key files, per domain and algorithm the
 * newest; other names ignored; a file that is no DKIM key skipped; a
 * missing directory is no keys, an unreadable one an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <sodium.h>

#include "../../home/dkim.h"
#include "dkimkey.h"
#include "pemkey.h"
#include "testutil.h"

#define T_PATH_MAX 4096

/* A fresh key of alg at dir/name, its mtime set to mtime. */
static void
t_key(const char *dir, const char *name, enum dkimkey_alg alg, time_t mtime)
{
	char path[T_PATH_MAX], err[256];
	struct timeval tv[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	EVP_PKEY *k = dkimkey_generate(alg, err, sizeof(err));

	assert_non_null(k);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(pemkey_save(k, path, 0, err, sizeof(err)), 0);
	assert_int_equal(utimes(path, tv), 0);
	EVP_PKEY_free(k);
}

static void
t_file(const char *dir, const char *name, const char *text)
{
	char path[T_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(testutil_write_file(path, text, strlen(text), 0600), 0);
}

static void
test_dkim_keys_choice(void **state)
{
	char dir[T_PATH_MAX], err[256];
	struct dkim_key found[4];
	struct dkim_keys *ks;
	enum dkimkey_alg alg;

	(void)state;
	assert_int_equal(testutil_mkdtemp(dir, sizeof(dir), "dkimkeys"), 0);
	t_key(dir, "example.test.ed25519.key", DKIMKEY_ED25519, 1000);
	t_key(dir, "example.test.rsa.key", DKIMKEY_RSA, 1000);
	t_key(dir, "example.test.ed2027.key", DKIMKEY_ED25519, 2000);	/* rotated: signs */
	t_key(dir, "other.test.old.key", DKIMKEY_ED25519, 3000);
	t_key(dir, "mail.other.test.s1.key", DKIMKEY_RSA, 1000);	/* domain mail.other.test */
	t_file(dir, "broken.test.s1.key", "not a key\n");		/* skipped */
	t_file(dir, "README", "x\n");					/* not a key name */
	t_key(dir, "nodomain.key", DKIMKEY_ED25519, 5000);		/* no selector */
	t_key(dir, "example.test.bad_sel.key", DKIMKEY_ED25519, 9000);	/* not a DNS name */
	t_key(dir, ".example.test.hidden.key", DKIMKEY_ED25519, 9000);
	t_key(dir, "example.test.ed2099.key.pending", DKIMKEY_ED25519, 9000);	/* homeport dkim rotate */
	t_key(dir, "example.test.old.key.retired", DKIMKEY_ED25519, 9000);	/* and activate */

	ks = dkim_keys_load(dir, err, sizeof(err));
	assert_non_null(ks);
	assert_int_equal(dkim_keys_count(ks), 4);

	assert_int_equal(dkim_keys_find(ks, "EXAMPLE.test", found, 4), 2);
	assert_string_equal(found[0].selector, "ed2027");
	assert_int_equal(dkimkey_key_alg(found[0].key, &alg, err, sizeof(err)), 0);
	assert_int_equal(alg, DKIMKEY_ED25519);
	assert_string_equal(found[1].selector, "rsa");
	assert_int_equal(dkimkey_key_alg(found[1].key, &alg, err, sizeof(err)), 0);
	assert_int_equal(alg, DKIMKEY_RSA);
	/* max is honoured. */
	assert_int_equal(dkim_keys_find(ks, "example.test", found, 1), 1);
	assert_string_equal(found[0].selector, "ed2027");

	assert_int_equal(dkim_keys_find(ks, "other.test", found, 4), 1);
	assert_string_equal(found[0].selector, "old");
	assert_int_equal(dkim_keys_find(ks, "mail.other.test", found, 4), 1);
	assert_string_equal(found[0].selector, "s1");
	assert_int_equal(dkim_keys_find(ks, "broken.test", found, 4), 0);
	assert_int_equal(dkim_keys_find(ks, "test", found, 4), 0);
	dkim_keys_free(&ks);
	assert_null(ks);
	dkim_keys_free(&ks);
	assert_int_equal(testutil_rmtree(dir), 0);
}

static void
test_dkim_keys_no_dir(void **state)
{
	char dir[T_PATH_MAX], path[T_PATH_MAX + 16], err[256] = "";
	struct dkim_key found[2];
	struct dkim_keys *ks;

	(void)state;
	assert_int_equal(testutil_mkdtemp(dir, sizeof(dir), "dkimkeys"), 0);
	snprintf(path, sizeof(path), "%s/missing", dir);
	ks = dkim_keys_load(path, err, sizeof(err));
	assert_non_null(ks);
	assert_int_equal(dkim_keys_count(ks), 0);
	assert_int_equal(dkim_keys_find(ks, "example.test", found, 2), 0);
	dkim_keys_free(&ks);
	/* A file where the directory should be is an error, with its name. */
	t_file(dir, "missing", "x");
	assert_null(dkim_keys_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_int_equal(testutil_rmtree(dir), 0);
}

static void
test_dkim_keys_names(void **state)
{
	char domain[DNSNAME_MAX + 1], sel[DNSNAME_MAX + 1];
	enum dkim_key_state st;

	(void)state;
	assert_int_equal(dkim_keys_name_parse("Example.test.ed2027.key.pending", domain, sel, &st), 0);
	assert_string_equal(domain, "Example.test");
	assert_string_equal(sel, "ed2027");
	assert_int_equal(st, DKIM_KEY_PENDING);
	assert_int_equal(dkim_keys_name_parse("a.test.rsa.key.retired", domain, sel, &st), 0);
	assert_int_equal(st, DKIM_KEY_RETIRED);
	assert_int_equal(dkim_keys_name_parse("a.test.rsa.key", domain, sel, &st), 0);
	assert_int_equal(st, DKIM_KEY_ACTIVE);
	assert_string_equal(dkim_keys_suffix(DKIM_KEY_PENDING), ".key.pending");
	assert_int_equal(dkim_keys_name_parse("nodomain.key", domain, sel, &st), -1);
	assert_int_equal(dkim_keys_name_parse(".key", domain, sel, &st), -1);
	assert_int_equal(dkim_keys_name_parse("a.test.bad_sel.key", domain, sel, &st), -1);
	assert_int_equal(dkim_keys_name_parse("a.test.sel.key.old", domain, sel, &st), -1);
	assert_int_equal(dkim_keys_name_parse("README", domain, sel, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dkim_keys_choice),
		cmocka_unit_test(test_dkim_keys_no_dir),
		cmocka_unit_test(test_dkim_keys_names),
	};
	if (sodium_init() < 0)	/* pemkey keeps key bytes in sodium_malloc()ed memory */
		return 1;
	return cmocka_run_group_tests_name("dkim_keys", tests, NULL, NULL);
}
