/*
 * Unit tests for home/password: Argon2id hashes that verify only their own
 * password, refuse empty and overlong ones, know when they are out of date,
 * and generated passwords drawn from the stated alphabet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "../../home/home.h"

static void
test_password_round_trip(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(password_hash("correct horse", 13, hash), 0);
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_int_equal(password_verify(hash, "correct horse", 13), 1);
	assert_int_equal(password_verify(hash, "correct hors", 12), 0);
	assert_int_equal(password_verify(hash, "correct horsf", 13), 0);
	assert_int_equal(password_needs_rehash(hash), 0);
}

static void
test_password_salted(void **state)
{
	char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(password_hash("same", 4, a), 0);
	assert_int_equal(password_hash("same", 4, b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(password_verify(b, "same", 4), 1);
}

static void
test_password_any_bytes(void **state)
{
	static const char pw[] = "nul\0inside";
	char hash[PASSWORD_HASH_MAX];

	(void)state;
	assert_int_equal(password_hash(pw, sizeof(pw) - 1, hash), 0);
	assert_int_equal(password_verify(hash, pw, sizeof(pw) - 1), 1);
	/* Up to the NUL is another password. */
	assert_int_equal(password_verify(hash, pw, 3), 0);
}

static void
test_password_limits(void **state)
{
	static char longest[PASSWORD_MAX + 1];
	char hash[PASSWORD_HASH_MAX];

	(void)state;
	memset(longest, 'x', sizeof(longest));
	assert_int_equal(password_hash("", 0, hash), -1);
	assert_int_equal(password_hash(longest, PASSWORD_MAX + 1, hash), -1);
	assert_int_equal(password_hash(longest, PASSWORD_MAX, hash), 0);
	assert_int_equal(password_verify(hash, longest, PASSWORD_MAX), 1);
	assert_int_equal(password_verify(hash, longest, PASSWORD_MAX + 1), 0);
	assert_int_equal(password_verify(hash, "", 0), 0);
}

static void
test_password_foreign_hashes(void **state)
{
	char old[PASSWORD_HASH_MAX], garbage[PASSWORD_HASH_MAX];

	(void)state;
	/* Argon2id at weaker parameters: it verifies, and wants a new hash. */
	assert_int_equal(crypto_pwhash_str_alg(old, "pw", 2, crypto_pwhash_OPSLIMIT_MIN,
					       crypto_pwhash_MEMLIMIT_MIN,
					       crypto_pwhash_ALG_ARGON2ID13), 0);
	assert_int_equal(password_verify(old, "pw", 2), 1);
	assert_int_equal(password_needs_rehash(old), 1);
	/* Not a hash at all: never matches, and needs replacing. */
	memset(garbage, 'A', sizeof(garbage));
	assert_int_equal(password_verify(garbage, "pw", 2), 0);
	garbage[sizeof(garbage) - 1] = '\0';
	assert_int_equal(password_verify(garbage, "pw", 2), 0);
	assert_int_equal(password_needs_rehash(garbage), 1);
}

static void
test_password_generate(void **state)
{
	char a[PASSWORD_GENERATED_LEN + 1], b[PASSWORD_GENERATED_LEN + 1];

	(void)state;
	password_generate(a);
	password_generate(b);
	assert_int_equal(strlen(a), PASSWORD_GENERATED_LEN);
	assert_string_not_equal(a, b);
	for (size_t i = 0; i < PASSWORD_GENERATED_LEN; i++)
		assert_null(strchr("0O1lI", a[i]));
	assert_int_equal(strspn(a, "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
			 PASSWORD_GENERATED_LEN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_round_trip),
		cmocka_unit_test(test_password_salted),
		cmocka_unit_test(test_password_any_bytes),
		cmocka_unit_test(test_password_limits),
		cmocka_unit_test(test_password_foreign_hashes),
		cmocka_unit_test(test_password_generate),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
