/*
 * Unit tests for shared/dnsname: host name checks at every limit (label
 * 63/64, name 253/254), hyphens, empty labels, trailing dots, characters
 * outside LDH, the wildcard flag, and case-insensitive comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "dnsname.h"

#define W DNSNAME_WILDCARD
#define T_NAME_MAX 512

struct name_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	unsigned flags;
	int rc;
};

static const struct name_case name_cases[] = {
	{ "a", 0, 0, 0 },
	{ "example", 0, 0, 0 },
	{ "mail.example.test", 0, 0, 0 },
	{ "MAIL.Example.TEST", 0, 0, 0 },
	{ "a-b.c0m", 0, 0, 0 },
	{ "xn--bcher-kva.example", 0, 0, 0 },
	{ "a--b.test", 0, 0, 0 },
	{ "0.test", 0, 0, 0 },
	{ "123abc.test", 0, 0, 0 },
	{ "a.b.c.d.e.f.g", 0, 0, 0 },
	/* Hyphens: not first, not last in any label. */
	{ "-a.test", 0, 0, -1 },
	{ "a-.test", 0, 0, -1 },
	{ "a.-b.test", 0, 0, -1 },
	{ "a.b-.test", 0, 0, -1 },
	{ "a.test-", 0, 0, -1 },
	{ "a.-test", 0, 0, -1 },
	{ "-", 0, 0, -1 },
	{ "a.-", 0, 0, -1 },
	/* Empty labels and dots. */
	{ "", 0, 0, -1 },
	{ ".", 0, 0, -1 },
	{ "..", 0, 0, -1 },
	{ ".a", 0, 0, -1 },
	{ "a..b", 0, 0, -1 },
	{ "a.", 0, 0, -1 },
	{ "example.test.", 0, 0, -1 },
	{ "example.test..", 0, 0, -1 },
	/* Only letters, digits and hyphens. */
	{ "_dmarc.example.test", 0, 0, -1 },
	{ "a_b.test", 0, 0, -1 },
	{ "a b.test", 0, 0, -1 },
	{ " a.test", 0, 0, -1 },
	{ "a.test ", 0, 0, -1 },
	{ "a.test\n", 0, 0, -1 },
	{ "a\tb", 0, 0, -1 },
	{ "a/b", 0, 0, -1 },
	{ "a:25", 0, 0, -1 },
	{ "user@a.test", 0, 0, -1 },
	{ "[192.0.2.1]", 0, 0, -1 },
	{ "b\xc3\xbc" "cher.test", 0, 0, -1 },
	{ "a\0b", 3, 0, -1 },
	{ "a.test\0", 7, 0, -1 },
	/* Only len bytes count. */
	{ "a.test!", 6, 0, 0 },
	{ "a.test", 2, 0, -1 },
	/* Wildcards: only with the flag, only as the whole first label. */
	{ "*.example.test", 0, 0, -1 },
	{ "*.example.test", 0, W, 0 },
	{ "*.test", 0, W, 0 },
	{ "*.a", 0, W, 0 },
	{ "*", 0, W, -1 },
	{ "*.", 0, W, -1 },
	{ "*..test", 0, W, -1 },
	{ "*.-a.test", 0, W, -1 },
	{ "*.test.", 0, W, -1 },
	{ "a.*.test", 0, W, -1 },
	{ "*.*.test", 0, W, -1 },
	{ "**.test", 0, W, -1 },
	{ "*a.test", 0, W, -1 },
	{ "a*.test", 0, W, -1 },
	{ "a.test.*", 0, W, -1 },
	{ ".*.test", 0, W, -1 },
	{ "*-.test", 0, W, -1 },
	/* The flag allows, it does not require. */
	{ "mail.example.test", 0, W, 0 },
};

static void
test_dnsname_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		int rc = dnsname_check(c->text, len, c->flags);

		if (rc != c->rc)
			fail_msg("case %zu '%.*s' flags %u: rc %d, want %d", i, (int)len, c->text,
				 c->flags, rc, c->rc);
	}
}

/* Write labels of the given lengths (letters and a digit), dot-separated. */
static size_t
t_build(char *out, const size_t *labels, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = '.';
		for (size_t k = 0; k < labels[i]; k++)
			out[o++] = k == labels[i] / 2 ? '7' : (char)('a' + (i + k) % 26);
	}
	out[o] = '\0';
	return o;
}

struct length_case {
	size_t labels[8];
	size_t n;
	int rc;
	int rc_wild;		/* with "*." in front and DNSNAME_WILDCARD */
};

static const struct length_case length_cases[] = {
	/* One label at 63 and 64, first, middle and last. */
	{ { 63 }, 1, 0, 0 },
	{ { 64 }, 1, -1, -1 },
	{ { 63, 4 }, 2, 0, 0 },
	{ { 64, 4 }, 2, -1, -1 },
	{ { 4, 63, 4 }, 3, 0, 0 },
	{ { 4, 64, 4 }, 3, -1, -1 },
	{ { 4, 63 }, 2, 0, 0 },
	{ { 4, 64 }, 2, -1, -1 },
	{ { 63, 63, 63 }, 3, 0, 0 },
	/* The whole name: 253 with dots, 254 too long (wildcard adds 2). */
	{ { 63, 63, 63, 61 }, 4, 0, -1 },
	{ { 63, 63, 63, 62 }, 4, -1, -1 },
	{ { 63, 63, 63, 59 }, 4, 0, 0 },
	{ { 63, 63, 63, 60 }, 4, 0, -1 },
	{ { 63, 63, 63, 63 }, 4, -1, -1 },
	{ { 1, 1, 1, 1, 1, 1, 1, 1 }, 8, 0, 0 },
};

static void
test_dnsname_lengths(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++) {
		const struct length_case *c = &length_cases[i];
		char name[T_NAME_MAX], wild[T_NAME_MAX + 2];
		size_t len = t_build(name, c->labels, c->n);
		int rc;

		rc = dnsname_check(name, len, 0);
		if (rc != c->rc)
			fail_msg("case %zu (%zu bytes): rc %d, want %d", i, len, rc, c->rc);
		/* Flags change nothing for a name without a wildcard. */
		if (dnsname_check(name, len, W) != c->rc)
			fail_msg("case %zu (%zu bytes) with the flag", i, len);
		wild[0] = '*';
		wild[1] = '.';
		memcpy(wild + 2, name, len + 1);
		rc = dnsname_check(wild, len + 2, W);
		if (rc != c->rc_wild)
			fail_msg("case %zu (*. + %zu bytes): rc %d, want %d", i, len, rc, c->rc_wild);
		if (dnsname_check(wild, len + 2, 0) != -1)
			fail_msg("case %zu: wildcard accepted without the flag", i);
	}
	/* The exact limits, spelled out. */
	{
		size_t l253[] = { 63, 63, 63, 61 };
		char name[T_NAME_MAX];
		assert_int_equal(t_build(name, l253, 4), DNSNAME_MAX);
		assert_int_equal(dnsname_check(name, DNSNAME_MAX, 0), 0);
		/* A trailing dot on a maximal name is still refused. */
		name[DNSNAME_MAX] = '.';
		assert_int_equal(dnsname_check(name, DNSNAME_MAX + 1, 0), -1);
	}
}

struct equal_case {
	const char *a;
	size_t alen;
	const char *b;
	size_t blen;
	int equal;
};

#define EQ(a, b, e) { a, sizeof(a) - 1, b, sizeof(b) - 1, e }
static const struct equal_case equal_cases[] = {
	EQ("example.test", "example.test", 1),
	EQ("Example.TEST", "example.test", 1),
	EQ("MAIL.EXAMPLE.TEST", "mail.example.test", 1),
	EQ("aZ09-.", "Az09-.", 1),
	EQ("", "", 1),
	EQ("example.test", "example.tes", 0),
	EQ("example.test", "example.test.", 0),
	EQ("a", "b", 0),
	EQ("a.test", "a-test", 0),
	/* Only ASCII letters fold: these differ by 0x20 too. */
	EQ("[", "{", 0),
	EQ("@", "`", 0),
	EQ("]", "}", 0),
	EQ("^", "~", 0),
	EQ("\xc9", "\xe9", 0),
	EQ("a\0b", "a\0b", 1),
	EQ("a\0b", "a\0c", 0),
	/* Only alen/blen bytes count. */
	{ "mail.test!", 9, "MAIL.TEST?", 9, 1 },
	{ "mail.test", 9, "MAIL.TEST", 4, 0 },
};

static void
test_dnsname_equal(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(equal_cases) / sizeof(equal_cases[0]); i++) {
		const struct equal_case *c = &equal_cases[i];

		if (dnsname_equal(c->a, c->alen, c->b, c->blen) != c->equal ||
		    dnsname_equal(c->b, c->blen, c->a, c->alen) != c->equal)
			fail_msg("case %zu '%.*s' vs '%.*s': want %d", i, (int)c->alen, c->a,
				 (int)c->blen, c->b, c->equal);
	}
	/* Every pair of bytes: equal exactly when same byte or same letter. */
	for (unsigned x = 0; x < 256; x++) {
		for (unsigned y = 0; y < 256; y++) {
			char a = (char)x, b = (char)y;
			unsigned lx = x >= 'A' && x <= 'Z' ? x + 32 : x;
			unsigned ly = y >= 'A' && y <= 'Z' ? y + 32 : y;
			if (dnsname_equal(&a, 1, &b, 1) != (lx == ly))
				fail_msg("bytes 0x%02x 0x%02x", x, y);
		}
	}
}

/* Added once whatever the case, and never past cap. */
static void
test_dnsname_list_add(void **state)
{
	const char *list[2];
	size_t n = 0;

	(void)state;
	assert_int_equal(dnsname_list_add(list, &n, 2, "mail.example.test"), 1);
	assert_int_equal(dnsname_list_add(list, &n, 2, "MAIL.Example.test"), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dnsname_list_add(list, &n, 2, "mx2.example.test"), 1);
	assert_int_equal(dnsname_list_add(list, &n, 2, "mx3.example.test"), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0], "mail.example.test");
	assert_string_equal(list[1], "mx2.example.test");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dnsname_table),
		cmocka_unit_test(test_dnsname_lengths),
		cmocka_unit_test(test_dnsname_equal),
		cmocka_unit_test(test_dnsname_list_add),
	};
	return cmocka_run_group_tests_name("dnsname", tests, NULL, NULL);
}
