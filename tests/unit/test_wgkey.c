/*
 * Unit tests for keys/wgkey: X25519 public keys against RFC 7748 and a
 * pair made by wg(8), clamping of generated keys, and the strict base64
 * text form (canonical spelling only, trailing whitespace only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "wgkey.h"

#define T_GENERATE_ROUNDS 256

/* RFC 7748 section 6.1. */
static const char t_alice_priv_hex[] =
	"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char t_alice_pub_hex[] =
	"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char t_bob_priv_hex[] =
	"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char t_bob_pub_hex[] =
	"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

/* The same keys in wg(8)'s text form (base64 of the bytes above). */
static const char t_alice_priv_text[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char t_alice_pub_text[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
static const char t_bob_pub_text[] = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";

/* Made once with: wg genkey | tee /dev/stderr | wg pubkey (wireguard-tools v1.0.20210914). */
static const char t_wg_priv_text[] = "8LU9eExk+1y5G+x+gyuzGO5t3guHlXRVVGl7DVoQREc=";
static const char t_wg_pub_text[] = "+SIaO/VHR8vN8wOhzDbD7OyZax/GTwtd48AF/iyH8m8=";

static void
t_hex(const char *hex, uint8_t out[WGKEY_LEN])
{
	size_t n = 0;

	assert_int_equal(sodium_hex2bin(out, WGKEY_LEN, hex, strlen(hex), NULL, &n, NULL), 0);
	assert_int_equal(n, WGKEY_LEN);
}

static void
test_wgkey_rfc7748_vectors(void **state)
{
	static const struct {
		const char *priv, *pub;
	} cases[] = {
		{ t_alice_priv_hex, t_alice_pub_hex },
		{ t_bob_priv_hex, t_bob_pub_hex },
	};
	uint8_t priv[WGKEY_LEN], pub[WGKEY_LEN], want[WGKEY_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_hex(cases[i].priv, priv);
		t_hex(cases[i].pub, want);
		memset(pub, 0, sizeof(pub));
		assert_int_equal(wgkey_public(priv, pub), 0);
		assert_memory_equal(pub, want, WGKEY_LEN);
	}
}

static void
test_wgkey_text_of_rfc_vectors(void **state)
{
	uint8_t key[WGKEY_LEN], pub[WGKEY_LEN], want[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];

	(void)state;
	t_hex(t_alice_priv_hex, want);
	wgkey_format(want, text);
	assert_string_equal(text, t_alice_priv_text);
	assert_int_equal(wgkey_parse(t_alice_priv_text, strlen(t_alice_priv_text), key), 0);
	assert_memory_equal(key, want, WGKEY_LEN);

	assert_int_equal(wgkey_public(key, pub), 0);
	wgkey_format(pub, text);
	assert_string_equal(text, t_alice_pub_text);

	t_hex(t_bob_priv_hex, key);
	assert_int_equal(wgkey_public(key, pub), 0);
	wgkey_format(pub, text);
	assert_string_equal(text, t_bob_pub_text);
}

static void
test_wgkey_agrees_with_wg(void **state)
{
	uint8_t priv[WGKEY_LEN], pub[WGKEY_LEN], wg_pub[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];

	(void)state;
	assert_int_equal(wgkey_parse(t_wg_priv_text, strlen(t_wg_priv_text), priv), 0);
	assert_int_equal(wgkey_public(priv, pub), 0);
	wgkey_format(pub, text);
	assert_string_equal(text, t_wg_pub_text);
	assert_int_equal(wgkey_parse(t_wg_pub_text, strlen(t_wg_pub_text), wg_pub), 0);
	assert_memory_equal(pub, wg_pub, WGKEY_LEN);
	/* wg genkey stores its keys clamped, as we do. */
	assert_int_equal(priv[0] & 7, 0);
	assert_int_equal(priv[31] & 0xc0, 0x40);
	wgkey_format(priv, text);
	assert_string_equal(text, t_wg_priv_text);
}

static void
test_wgkey_generate_clamped(void **state)
{
	uint8_t prev[WGKEY_LEN], priv[WGKEY_LEN], pub[WGKEY_LEN], again[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];
	unsigned low_seen = 0, high_seen = 0;

	(void)state;
	memset(prev, 0, sizeof(prev));
	for (int i = 0; i < T_GENERATE_ROUNDS; i++) {
		memset(priv, 0xff, sizeof(priv));
		wgkey_generate(priv);
		if ((priv[0] & 7) != 0)
			fail_msg("round %d: low bits of byte 0 set: %02x", i, priv[0]);
		if ((priv[31] & 0x80) != 0 || (priv[31] & 0x40) == 0)
			fail_msg("round %d: byte 31 not clamped: %02x", i, priv[31]);
		/* The other bits are random: each value shows up over the rounds. */
		low_seen |= priv[0];
		high_seen |= priv[31];
		assert_memory_not_equal(priv, prev, WGKEY_LEN);
		memcpy(prev, priv, sizeof(prev));
		assert_int_equal(wgkey_public(priv, pub), 0);
		/* Its text form reads back as the same key. */
		wgkey_format(priv, text);
		assert_int_equal(strlen(text), WGKEY_TEXT_LEN);
		assert_int_equal(wgkey_parse(text, strlen(text), again), 0);
		assert_memory_equal(again, priv, WGKEY_LEN);
	}
	assert_int_equal(low_seen, 0xf8);
	assert_int_equal(high_seen, 0x7f);
}

static void
test_wgkey_format_parse_round_trip(void **state)
{
	uint8_t key[WGKEY_LEN], back[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];

	(void)state;
	/* Edge patterns and random bytes (not clamped: public keys are any bytes). */
	for (int i = 0; i < 64; i++) {
		if (i == 0)
			memset(key, 0, sizeof(key));
		else if (i == 1)
			memset(key, 0xff, sizeof(key));
		else
			randombytes_buf(key, sizeof(key));
		memset(text, 'x', sizeof(text));
		wgkey_format(key, text);
		assert_int_equal(text[WGKEY_TEXT_LEN], '\0');
		assert_int_equal(text[WGKEY_TEXT_LEN - 1], '=');
		assert_int_equal(wgkey_parse(text, WGKEY_TEXT_LEN, back), 0);
		assert_memory_equal(back, key, WGKEY_LEN);
	}
	wgkey_format((const uint8_t[WGKEY_LEN]){ 0 }, text);
	assert_string_equal(text, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

struct t_parse_case {
	const char *text;
	int rc;
};

/* Alice's public key and spellings of it, good and bad. */
static const struct t_parse_case t_parse_cases[] = {
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", 0 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n", 0 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\r\n", 0 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo= \t \n\n", 0 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\v\f", 0 },
	/* 43 characters: no padding, or one character short. */
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo", -1 },
	{ "SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", -1 },
	/* 45 characters. */
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo==", -1 },
	{ "AhSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=x", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo= x", -1 },
	/* Leading whitespace is not trailing whitespace. */
	{ " hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", -1 },
	/* Missing '=' (44 data characters). */
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA", -1 },
	/* Bad characters: URL-safe alphabet, punctuation, space inside. */
	{ "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2-Og0mOBr066SpjqqbTmo=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2!Og0mOBr066SpjqqbTmo=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2 Og0mOBr066SpjqqbTmo=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbT=o=", -1 },
	/*
	 * Non-canonical: the final data character carries two unused low
	 * bits; 'o' (40) is canonical, 'p' (41), 'q' (42), 'r' (43) are not.
	 */
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmq=", -1 },
	{ "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmr=", -1 },
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", -1 },
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=", 0 },
	{ "", -1 },
};

static void
test_wgkey_parse_table(void **state)
{
	uint8_t key[WGKEY_LEN], want[WGKEY_LEN], zero[WGKEY_LEN] = { 0 };

	(void)state;
	t_hex(t_alice_pub_hex, want);
	for (size_t i = 0; i < sizeof(t_parse_cases) / sizeof(t_parse_cases[0]); i++) {
		const struct t_parse_case *c = &t_parse_cases[i];
		memset(key, 0xAA, sizeof(key));
		int rc = wgkey_parse(c->text, strlen(c->text), key);
		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d", c->text, rc, c->rc);
		if (rc != 0 && memcmp(key, zero, WGKEY_LEN) != 0)
			fail_msg("'%s': key not wiped on failure", c->text);
		if (rc == 0 && c->text[0] == 'h' && memcmp(key, want, WGKEY_LEN) != 0)
			fail_msg("'%s': wrong key", c->text);
	}
}

static void
test_wgkey_parse_length_is_the_limit(void **state)
{
	/* A valid key followed by junk that len excludes: only len counts. */
	static const char text[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=garbage";
	uint8_t key[WGKEY_LEN], want[WGKEY_LEN];

	(void)state;
	t_hex(t_alice_pub_hex, want);
	assert_int_equal(wgkey_parse(text, WGKEY_TEXT_LEN, key), 0);
	assert_memory_equal(key, want, WGKEY_LEN);
	assert_int_equal(wgkey_parse(text, WGKEY_TEXT_LEN + 1, key), -1);
	/* Every shorter prefix is refused. */
	for (size_t len = 0; len < WGKEY_TEXT_LEN; len++)
		assert_int_equal(wgkey_parse(text, len, key), -1);
	/* A NUL is not whitespace. */
	assert_int_equal(wgkey_parse("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\0", 45, key), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wgkey_rfc7748_vectors),
		cmocka_unit_test(test_wgkey_text_of_rfc_vectors),
		cmocka_unit_test(test_wgkey_agrees_with_wg),
		cmocka_unit_test(test_wgkey_generate_clamped),
		cmocka_unit_test(test_wgkey_format_parse_round_trip),
		cmocka_unit_test(test_wgkey_parse_table),
		cmocka_unit_test(test_wgkey_parse_length_is_the_limit),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("wgkey", tests, NULL, NULL);
}
