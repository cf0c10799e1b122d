/*
 * Unit tests for home/imap_names: modified UTF-7 both ways (RFC 3501
 * 5.1.3's examples and what Thunderbird and Outlook send), refusals, and
 * LIST pattern matching (RFC 9051 6.3.9's rules).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "../../home/home.h"

#define T_OUT_MAX 512

static void
test_imap_mutf7_both_ways(void **state)
{
	static const struct {
		const char *mutf7, *utf8;
	} cases[] = {
		{ "INBOX", "INBOX" },
		{ "Sent Items", "Sent Items" },
		{ "&-", "&" },
		{ "Tom &- Jerry", "Tom & Jerry" },
		/* RFC 3501 5.1.3: "~peter/mail/台北/日本語" */
		{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "Entw&APw-rfe", "Entw\xc3\xbc" "rfe" },			/* Entwürfe */
		{ "Gel&APY-schte Elemente", "Gel\xc3\xb6schte Elemente" },	/* Gelöschte */
		{ "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb"
		  "\xd0\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5" },			/* Отправленные */
		{ "&2D3cqA-", "\xf0\x9f\x92\xa8" },				/* U+1F4A8: a surrogate pair */
		{ "a&AOk-b&AOk-c", "a\xc3\xa9" "b\xc3\xa9" "c" },
	};
	char out[T_OUT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (imap_mutf7_decode(cases[i].mutf7, strlen(cases[i].mutf7), out, sizeof(out)) != 0 ||
		    strcmp(out, cases[i].utf8) != 0)
			fail_msg("decode '%s'", cases[i].mutf7);
		if (imap_mutf7_encode(cases[i].utf8, out, sizeof(out)) != 0 || strcmp(out, cases[i].mutf7) != 0)
			fail_msg("encode case %zu: got '%s', want '%s'", i, out, cases[i].mutf7);
	}
}

static void
test_imap_mutf7_refused(void **state)
{
	static const char *const bad[] = {
		"&",			/* unterminated */
		"&AOk",			/* unterminated */
		"&AOk/-",		/* '/' is not modified base64 */
		"&AGE-",		/* "a" shifted: must not be */
		"&2D0-",		/* a lone high surrogate */
		"&3Kg-",		/* a lone low surrogate */
		"&AOkA-",		/* bits left over */
		"&AO-",			/* half a character */
		"caf\xc3\xa9",		/* raw 8-bit */
		"tab\there",
		"&2D3cqNg9-",		/* a pair, then a lone high surrogate */
		"&AAw-",		/* U+000C, a control character, shifted */
		"&AIU-",		/* U+0085, a C1 control */
	};
	char out[T_OUT_MAX], small[4];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (imap_mutf7_decode(bad[i], strlen(bad[i]), out, sizeof(out)) == 0)
			fail_msg("'%s' accepted as '%s'", bad[i], out);
	}
	/* Too small an output: refused, never cut. */
	assert_int_equal(imap_mutf7_decode("INBOX", 5, small, sizeof(small)), -1);
	assert_int_equal(imap_mutf7_encode("Entw\xc3\xbc" "rfe", small, sizeof(small)), -1);
	assert_int_equal(imap_mutf7_encode("bad\x01", out, sizeof(out)), -1);
	assert_int_equal(imap_mutf7_encode("caf\xe9", out, sizeof(out)), -1);
}

static void
test_imap_list_match(void **state)
{
	static const struct {
		const char *pattern, *name;
		int match;
	} cases[] = {
		{ "*", "INBOX", 1 },
		{ "*", "Work/2026/Q4", 1 },
		{ "%", "Work", 1 },
		{ "%", "Work/2026", 0 },
		{ "Work/%", "Work/2026", 1 },
		{ "Work/%", "Work/2026/Q4", 0 },
		{ "Work/*", "Work/2026/Q4", 1 },
		{ "Work/*", "Work", 0 },
		{ "Work*", "Work", 1 },
		{ "Work%", "Workshop", 1 },
		{ "Work%", "Work/2026", 0 },
		{ "*/Q4", "Work/2026/Q4", 1 },
		{ "%/Q4", "Work/2026/Q4", 0 },
		{ "%/%/Q4", "Work/2026/Q4", 1 },
		{ "W%k", "Work", 1 },
		{ "W%k", "Wo/rk", 0 },
		{ "*k*k*", "Kickback", 1 },
		{ "INBOX", "INBOX", 1 },
		{ "INBOX", "INBOX/Receipts", 0 },
		{ "", "", 1 },
		{ "", "INBOX", 0 },
		{ "%", "", 1 },
		{ "a*%b", "axxb", 1 },
		{ "a%*b", "ax/xb", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (imap_list_match(cases[i].pattern, cases[i].name, '/') != cases[i].match)
			fail_msg("'%s' against '%s': want %d", cases[i].pattern, cases[i].name, cases[i].match);
	}
}

/* Many wildcards against a long name that almost matches: still quick (no exponential backtracking). */
static void
test_imap_list_match_worst_case(void **state)
{
	char pattern[STORE_MAILBOX_NAME_MAX], name[STORE_MAILBOX_NAME_MAX];

	(void)state;
	memset(pattern, 0, sizeof(pattern));
	for (size_t i = 0; i + 2 < 200; i += 2)
		memcpy(pattern + i, "*a", 2);
	strcat(pattern, "b");
	memset(name, 'a', 250);
	name[250] = '\0';
	assert_int_equal(imap_list_match(pattern, name, '/'), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_mutf7_both_ways),
		cmocka_unit_test(test_imap_mutf7_refused),
		cmocka_unit_test(test_imap_list_match),
		cmocka_unit_test(test_imap_list_match_worst_case),
	};
	return cmocka_run_group_tests_name("imap_names", tests, NULL, NULL);
}
