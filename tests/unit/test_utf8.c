/* Unit tests for shared/utf8: which bytes make one printable non-ASCII character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "utf8.h"

static void
test_utf8_printable_len(void **state)
{
	static const struct {
		const char *bytes;
		size_t want;
	} cases[] = {
		{ "\xc2\xa0", 2 },		/* U+00A0, the first one taken */
		{ "\xc3\xa9t\xc3\xa9", 2 },	/* é, then more */
		{ "\xe2\x82\xac", 3 },		/* € */
		{ "\xf0\x9f\x93\xa8", 4 },	/* 📨 */
		{ "\xf4\x8f\xbf\xbf", 4 },	/* U+10FFFF */
		{ "a", 0 },			/* ASCII is not this function's */
		{ "\xc2\x85", 0 },		/* C1 control NEL */
		{ "\xc0\xaf", 0 },		/* overlong '/' */
		{ "\xe0\x80\xaf", 0 },		/* overlong */
		{ "\xed\xa0\x80", 0 },		/* a surrogate */
		{ "\xf4\x90\x80\x80", 0 },	/* past U+10FFFF */
		{ "\xe2\x82", 0 },		/* cut short */
		{ "\xe2\x28\xac", 0 },		/* a bad continuation */
		{ "\x80", 0 },			/* a continuation alone */
		{ "\xff", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *p = (const uint8_t *)cases[i].bytes;
		size_t got = utf8_printable_len(p, strlen(cases[i].bytes));

		if (got != cases[i].want)
			fail_msg("case %zu: %zu, want %zu", i, got, cases[i].want);
	}
	assert_int_equal(utf8_printable_len(NULL, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_printable_len),
	};
	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
