/* Unit tests for shared/num: bounded decimal parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "num.h"

struct num_case {
	const char *text;
	int64_t min, max;
	int rc;
	int64_t value;
};

static const struct num_case num_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "11", 0, 10, -1, 0 },
	{ "-1", -5, 5, 0, -1 },
	{ "-6", -5, 5, -1, 0 },
	{ "007", 0, 10, 0, 7 },
	{ "", 0, 10, -1, 0 },
	{ "-", -10, 10, -1, 0 },
	{ "+1", 0, 10, -1, 0 },
	{ " 1", 0, 10, -1, 0 },
	{ "1 ", 0, 10, -1, 0 },
	{ "1a", 0, 10, -1, 0 },
	{ "0x10", 0, 100, -1, 0 },
	{ "9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX },
	{ "9223372036854775808", INT64_MIN, INT64_MAX, -1, 0 },
	{ "-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN },
	{ "-9223372036854775809", INT64_MIN, INT64_MAX, -1, 0 },
	{ "99999999999999999999", INT64_MIN, INT64_MAX, -1, 0 },
	{ "65535", 1, 65535, 0, 65535 },
	{ "65536", 1, 65535, -1, 0 },
};

static void
test_num_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct num_case *c = &num_cases[i];
		int64_t v = 12345;
		int rc = num_parse_str(c->text, c->min, c->max, &v);
		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d", c->text, rc, c->rc);
		if (rc == 0 && v != c->value)
			fail_msg("'%s': value %lld, want %lld", c->text, (long long)v, (long long)c->value);
		if (rc != 0 && v != 12345)
			fail_msg("'%s': output written on failure", c->text);
	}
}

static void
test_num_not_nul_terminated(void **state)
{
	const char text[] = { '4', '2', '7' };
	int64_t v;

	(void)state;
	/* Only the first two bytes count. */
	assert_int_equal(num_parse_i64(text, 2, 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(num_parse_i64(text, 0, 0, 100, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_num_table),
		cmocka_unit_test(test_num_not_nul_terminated),
	};
	return cmocka_run_group_tests_name("num", tests, NULL, NULL);
}
