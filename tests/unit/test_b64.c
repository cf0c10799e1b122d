/*
 * Unit tests for shared/b64: the RFC 4648 section 10 vectors both ways,
 * every byte value round trip, exact capacities, and strict decoding
 * (padding required, no whitespace or other characters, canonical bits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "b64.h"

#define T_OUT_MAX 512

struct b64_vector {
	const char *bin;
	const char *text;
};

/* RFC 4648, section 10. */
static const struct b64_vector b64_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_b64_encode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const struct b64_vector *v = &b64_vectors[i];
		size_t len = strlen(v->bin), need = B64_ENCODED_SIZE(len);
		char out[T_OUT_MAX];

		assert_int_equal(need, strlen(v->text) + 1);
		/* Exactly enough room. */
		memset(out, 'Z', sizeof(out));
		if (b64_encode(v->bin, len, out, need) != (int)strlen(v->text))
			fail_msg("\"%s\": wrong length", v->bin);
		assert_string_equal(out, v->text);
		assert_int_equal(out[need], 'Z');
		/* One byte less. */
		memset(out, 'Z', sizeof(out));
		if (b64_encode(v->bin, len, out, need - 1) != -1)
			fail_msg("\"%s\": encoded into %zu bytes", v->bin, need - 1);
		assert_int_equal(out[need - 1], 'Z');
	}
}

static void
test_b64_decode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		const struct b64_vector *v = &b64_vectors[i];
		size_t want = strlen(v->bin), n = 999;
		uint8_t out[T_OUT_MAX];

		memset(out, 0xaa, sizeof(out));
		if (b64_decode(v->text, strlen(v->text), out, want, &n) != 0)
			fail_msg("\"%s\" did not decode into %zu bytes", v->text, want);
		assert_int_equal(n, want);
		assert_memory_equal(out, v->bin, want);
		assert_int_equal(out[want], 0xaa);
		/* One byte less room than the result. */
		if (want > 0 && b64_decode(v->text, strlen(v->text), out, want - 1, &n) != -1)
			fail_msg("\"%s\" decoded into %zu bytes", v->text, want - 1);
	}
}

static void
test_b64_all_bytes(void **state)
{
	uint8_t in[256], back[256];
	char text[B64_ENCODED_SIZE(256)];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(255 - i);
	/* Every length, so every padding state meets every byte. */
	for (size_t len = 0; len <= sizeof(in); len++) {
		int w = b64_encode(in, len, text, sizeof(text));
		if (w != (int)B64_ENCODED_SIZE(len) - 1 || strlen(text) != (size_t)w)
			fail_msg("len %zu: encoded length %d", len, w);
		if (b64_decode(text, (size_t)w, back, sizeof(back), &n) != 0 || n != len ||
		    memcmp(back, in, len) != 0)
			fail_msg("len %zu: no round trip", len);
	}
	/* The whole alphabet, once each, in order: 00 10 83 ... f3 df bf. */
	{
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		char again[B64_ENCODED_SIZE(48)];
		assert_int_equal(b64_decode(alphabet, 64, back, sizeof(back), &n), 0);
		assert_int_equal(n, 48);
		assert_int_equal(back[0], 0x00);
		assert_int_equal(back[1], 0x10);
		assert_int_equal(back[2], 0x83);
		assert_int_equal(back[45], 0xf3);
		assert_int_equal(back[46], 0xdf);
		assert_int_equal(back[47], 0xbf);
		assert_int_equal(b64_encode(back, 48, again, sizeof(again)), 64);
		assert_string_equal(again, alphabet);
	}
}

static void
test_b64_decode_exact_len(void **state)
{
	uint8_t out[16];
	size_t n;

	(void)state;
	/* Only len characters count, the text need not end there. */
	assert_int_equal(b64_decode("Zm9vYmFy", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "foo", 3);
	assert_int_equal(b64_decode("Zm9vYmFy", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* cap 0 is fine for nothing, not for something. */
	assert_int_equal(b64_decode("", 0, out, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(b64_decode("Zg==", 4, out, 0, &n), -1);
}

struct b64_bad {
	const char *text;
	size_t len;
	const char *why;
};

#define BAD(s, why) { s, sizeof(s) - 1, why }
static const struct b64_bad b64_bad[] = {
	BAD("Zg", "missing padding"),
	BAD("Zg=", "short padding"),
	BAD("Zm8", "missing padding"),
	BAD("Zm9vYg", "missing padding"),
	BAD("Zm9vYg=", "short padding"),
	BAD("Z", "one character"),
	BAD("Zm9vY", "length not a multiple of 4"),
	BAD("Zg===", "too much padding"),
	BAD("Zm8==", "too much padding"),
	BAD("Zm9v=", "padding after a full group"),
	BAD("Zm9v====", "a group of padding"),
	BAD("====", "only padding"),
	BAD("Z===", "six bits"),
	BAD("Zg=A", "data after padding"),
	BAD("Zg==Zg==", "padding in the middle"),
	BAD("Zg==\n", "trailing newline"),
	BAD("Zm9v\n", "trailing newline"),
	BAD("Zm9v\r\n", "trailing CRLF"),
	BAD(" Zg==", "leading space"),
	BAD("Zg== ", "trailing space"),
	BAD("Zm 9v", "inner space"),
	BAD("Zm9v Zm9v", "inner space"),
	BAD("Zm\n9v", "inner newline"),
	BAD("Zm\t9v", "inner tab"),
	BAD("Zm-v", "URL-safe alphabet"),
	BAD("Zm_v", "URL-safe alphabet"),
	BAD("Zm9v!A==", "not in the alphabet"),
	BAD("Zm.v", "not in the alphabet"),
	BAD("Zm\0v", "NUL"),
	BAD("Zm9\xc3", "high byte"),
	BAD("Zh==", "non-zero bits after the last byte"),
	BAD("Zm9=", "non-zero bits after the last byte"),
};

static void
test_b64_decode_strict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_bad) / sizeof(b64_bad[0]); i++) {
		const struct b64_bad *b = &b64_bad[i];
		uint8_t out[T_OUT_MAX];
		size_t n = 999;

		if (b64_decode(b->text, b->len, out, sizeof(out), &n) != -1)
			fail_msg("case %zu (%s) decoded", i, b->why);
		if (n != 999)
			fail_msg("case %zu (%s): length set on failure", i, b->why);
	}
}

/* Every byte outside the alphabet, in every position of a group. */
static void
test_b64_decode_every_bad_byte(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t accepted = 0;

	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		if (b != 0 && memchr(alphabet, (int)b, sizeof(alphabet) - 1) != NULL)
			continue;
		for (size_t pos = 0; pos < 8; pos++) {
			char text[] = "Zm9vYmFy";
			uint8_t out[8];
			size_t n = 999;

			text[pos] = (char)b;
			if (b64_decode(text, 8, out, sizeof(out), &n) != -1) {
				if (accepted++ < 5)
					print_error("byte 0x%02x at %zu accepted\n", b, pos);
			}
		}
	}
	/* '=' is refused in the middle; at the end "Zm9vYmF=" has bits left. */
	assert_int_equal(accepted, 0);
	/* The same bytes in a group that is otherwise valid padding. */
	for (unsigned b = 0x80; b < 256; b++) {
		char text[] = "Zg==";
		uint8_t out[4];
		size_t n;

		text[1] = (char)b;
		if (b64_decode(text, 4, out, sizeof(out), &n) != -1)
			fail_msg("byte 0x%02x before padding accepted", b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_encode_vectors),
		cmocka_unit_test(test_b64_decode_vectors),
		cmocka_unit_test(test_b64_all_bytes),
		cmocka_unit_test(test_b64_decode_exact_len),
		cmocka_unit_test(test_b64_decode_strict),
		cmocka_unit_test(test_b64_decode_every_bad_byte),
	};
	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
