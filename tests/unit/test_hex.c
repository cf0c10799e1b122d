/*
 * Unit tests for shared/hex: the RFC 4648 section 10 base16 vectors both
 * ways (we write lowercase, read either case), every byte value, exact
 * capacities, and strict decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "hex.h"

#define T_OUT_MAX 64

struct hex_vector {
	const char *bin;
	size_t len;
	const char *text;
};

#define V(b, t) { b, sizeof(b) - 1, t }
static const struct hex_vector hex_vectors[] = {
	/* RFC 4648, section 10, in lowercase. */
	V("", ""),
	V("f", "66"),
	V("fo", "666f"),
	V("foo", "666f6f"),
	V("foob", "666f6f62"),
	V("fooba", "666f6f6261"),
	V("foobar", "666f6f626172"),
	V("\x00", "00"),
	V("\xde\xad\xbe\xef", "deadbeef"),
	V("\x01\x23\x45\x67\x89\xab\xcd\xef", "0123456789abcdef"),
	V("\xff\x00\x7f\x80", "ff007f80"),
};

static void
test_hex_encode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hex_vectors) / sizeof(hex_vectors[0]); i++) {
		const struct hex_vector *v = &hex_vectors[i];
		size_t need = HEX_ENCODED_SIZE(v->len);
		char out[T_OUT_MAX];

		assert_int_equal(need, strlen(v->text) + 1);
		memset(out, 'Z', sizeof(out));
		if (hex_encode(v->bin, v->len, out, need) != (int)strlen(v->text))
			fail_msg("\"%s\": wrong length", v->text);
		assert_string_equal(out, v->text);
		assert_int_equal(out[need], 'Z');
		memset(out, 'Z', sizeof(out));
		if (hex_encode(v->bin, v->len, out, need - 1) != -1)
			fail_msg("\"%s\": encoded into %zu bytes", v->text, need - 1);
		assert_int_equal(out[need - 1], 'Z');
	}
	/* A length whose encoding would not fit in size_t. */
	{
		char out[4];
		assert_int_equal(hex_encode("x", SIZE_MAX / 2 + 1, out, sizeof(out)), -1);
	}
}

static void
test_hex_decode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hex_vectors) / sizeof(hex_vectors[0]); i++) {
		const struct hex_vector *v = &hex_vectors[i];
		char upper[T_OUT_MAX];
		uint8_t out[T_OUT_MAX];
		size_t tlen = strlen(v->text), n = 999;

		memset(out, 0xaa, sizeof(out));
		if (hex_decode(v->text, tlen, out, v->len, &n) != 0)
			fail_msg("\"%s\" did not decode into %zu bytes", v->text, v->len);
		assert_int_equal(n, v->len);
		assert_memory_equal(out, v->bin, v->len);
		assert_int_equal(out[v->len], 0xaa);
		if (v->len > 0 && hex_decode(v->text, tlen, out, v->len - 1, &n) != -1)
			fail_msg("\"%s\" decoded into %zu bytes", v->text, v->len - 1);
		/* Uppercase, as the RFC writes it, decodes the same. */
		for (size_t k = 0; k <= tlen; k++)
			upper[k] = v->text[k] >= 'a' && v->text[k] <= 'f' ? (char)(v->text[k] - 32)
									 : v->text[k];
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(hex_decode(upper, tlen, out, sizeof(out), &n), 0);
		assert_int_equal(n, v->len);
		assert_memory_equal(out, v->bin, v->len);
	}
}

static void
test_hex_all_bytes(void **state)
{
	uint8_t in[256], back[256];
	char text[HEX_ENCODED_SIZE(256)];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_int_equal(hex_encode(in, sizeof(in), text, sizeof(text)), 512);
	for (size_t i = 0; i < sizeof(in); i++) {
		char want[3];
		want[0] = "0123456789abcdef"[i >> 4];
		want[1] = "0123456789abcdef"[i & 15];
		want[2] = '\0';
		if (memcmp(text + 2 * i, want, 2) != 0)
			fail_msg("byte %zu: \"%.2s\"", i, text + 2 * i);
	}
	assert_int_equal(hex_decode(text, 512, back, sizeof(back), &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(back, in, 256);
	/* Mixed case. */
	assert_int_equal(hex_decode("aBcDeF", 6, back, sizeof(back), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(back, "\xab\xcd\xef", 3);
	/* Only len characters count. */
	assert_int_equal(hex_decode("abcdXY", 4, back, sizeof(back), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(back, "\xab\xcd", 2);
	assert_int_equal(hex_decode("", 0, back, 0, &n), 0);
	assert_int_equal(n, 0);
}

struct hex_bad {
	const char *text;
	size_t len;
	size_t cap;
	const char *why;
};

#define BAD(s, cap, why) { s, sizeof(s) - 1, cap, why }
static const struct hex_bad hex_bad[] = {
	BAD("0", 16, "odd length"),
	BAD("abc", 16, "odd length"),
	BAD("0g", 16, "not a hex digit"),
	BAD("g0", 16, "not a hex digit"),
	BAD("zz", 16, "not a hex digit"),
	BAD("0G", 16, "not a hex digit"),
	BAD(" 00", 16, "leading space"),
	BAD("00 ", 16, "trailing space"),
	BAD("00 11", 16, "inner space"),
	BAD("0 01", 16, "inner space"),
	BAD("00\n", 16, "trailing newline"),
	BAD("0x00", 16, "0x prefix"),
	BAD("00:11", 16, "separator"),
	BAD("00-11", 16, "separator"),
	BAD("+1", 16, "sign"),
	BAD("-1", 16, "sign"),
	BAD("0\0", 16, "NUL"),
	BAD("\xc3\xa9", 16, "high bytes"),
	BAD("@0", 16, "just below 'A'"),
	BAD("`0", 16, "just below 'a'"),
	BAD("/0", 16, "just below '0'"),
	BAD(":0", 16, "just above '9'"),
	BAD("0011", 1, "output larger than cap"),
	BAD("00", 0, "output larger than cap"),
	BAD("deadbeef", 3, "output larger than cap"),
};

static void
test_hex_decode_strict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hex_bad) / sizeof(hex_bad[0]); i++) {
		const struct hex_bad *b = &hex_bad[i];
		uint8_t out[T_OUT_MAX];
		size_t n = 999;

		if (hex_decode(b->text, b->len, out, b->cap, &n) != -1)
			fail_msg("case %zu (%s) decoded", i, b->why);
		if (n != 999)
			fail_msg("case %zu (%s): length set on failure", i, b->why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_encode_vectors),
		cmocka_unit_test(test_hex_decode_vectors),
		cmocka_unit_test(test_hex_all_bytes),
		cmocka_unit_test(test_hex_decode_strict),
	};
	return cmocka_run_group_tests_name("hex", tests, NULL, NULL);
}
