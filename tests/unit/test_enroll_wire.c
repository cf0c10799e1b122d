/*
 * Unit tests for shared/enroll_wire: the enrollment token, request,
 * response and framing. Tokens and plaintexts are also assembled here byte
 * by byte from the layout in the header and docs/wire.md (with the check
 * and the MAC computed here with libsodium), so that the code is held to
 * the documented format and not only to itself. Every refusal is asserted
 * with its exact message; every prefix of a valid message is refused; the
 * framing is fed whole and one byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "addr.h"
#include "dns.h"
#include "enroll_wire.h"

#define T_NOW 1700000000	/* 2023-11-14, a timestamp for requests */
#define T_BUF_MAX 8192

/* ---- helpers ------------------------------------------------------------- */

/* Bytes assembled by hand, the way the documentation lays them out. */
struct t_buf {
	uint8_t b[T_BUF_MAX];
	size_t n;
};

static void
t_add(struct t_buf *t, const void *p, size_t n)
{
	assert_true(t->n + n <= sizeof(t->b));
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void
t_u8(struct t_buf *t, unsigned v)
{
	uint8_t b = (uint8_t)v;

	t_add(t, &b, 1);
}

static void
t_u16(struct t_buf *t, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	t_add(t, b, 2);
}

static void
t_u64(struct t_buf *t, uint64_t v)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	t_add(t, b, 8);
}

static void
t_str(struct t_buf *t, const char *s)
{
	t_add(t, s, strlen(s));
}

/* A length byte, then the name. */
static void
t_name(struct t_buf *t, const char *s)
{
	t_u8(t, (unsigned)strlen(s));
	t_str(t, s);
}

static void
t_fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static struct addr
t_addr(const char *s)
{
	struct addr a;

	assert_int_equal(addr_parse(s, strlen(s), ADDR_PORT_OPTIONAL, &a), 0);
	return a;
}

/* ---- token --------------------------------------------------------------- */

static const uint8_t t_v4[4] = { 203, 0, 113, 1 };
static const uint8_t t_v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 };

/*
 * A token binary by hand: version, box_pk 0x01.., family, addr, port 7443,
 * invite_id 0x40.., secret 0x80..; no check yet.
 */
static void
t_token_bin(struct t_buf *t, unsigned version, unsigned family, const uint8_t *addr, size_t n,
	    unsigned port)
{
	uint8_t b[32];

	t->n = 0;
	t_u8(t, version);
	t_fill(b, 32, 0x01);
	t_add(t, b, 32);
	t_u8(t, family);
	t_add(t, addr, n);
	t_u16(t, port);
	t_fill(b, 16, 0x40);
	t_add(t, b, 16);
	t_fill(b, 32, 0x80);
	t_add(t, b, 32);
}

/* Append the check: the first 4 bytes of BLAKE2b-256 of everything so far. */
static void
t_token_check(struct t_buf *t)
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), t->b, t->n, NULL, 0);
	t_add(t, h, 4);
}

/* "hpe1-" and base64url without padding into out. */
static void
t_token_text(const struct t_buf *t, char *out, size_t cap)
{
	assert_true(cap > 5);
	memcpy(out, "hpe1-", 5);
	sodium_bin2base64(out + 5, cap - 5, t->b, t->n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
t_token_refused(const char *text, size_t len, const char *want)
{
	struct enroll_token tok;
	const char *err = NULL;

	memset(&tok, 0xaa, sizeof(tok));
	if (enroll_token_parse(text, len, &tok, &err) != -1)
		fail_msg("accepted %.*s", (int)len, text);
	assert_non_null(err);
	if (want != NULL && strcmp(err, want) != 0)
		fail_msg("\"%.*s\": %s, want %s", (int)len, text, err, want);
	/* Nothing of a refused token is left behind, the secret least of all. */
	assert_true(sodium_is_zero((const unsigned char *)&tok, sizeof(tok)));
}

/* The documented bytes parse, and the struct encodes back to the same text. */
static void
test_enroll_token_documented_bytes(void **state)
{
	char text[256], back[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token tok;
	const char *err = NULL;
	uint8_t b[32];
	struct t_buf t;

	(void)state;
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	t_token_check(&t);
	assert_int_equal(t.n, 92);
	t_token_text(&t, text, sizeof(text));
	assert_int_equal(strlen(text), 128);
	assert_int_equal(enroll_token_parse(text, strlen(text), &tok, &err), 0);
	t_fill(b, 32, 0x01);
	assert_memory_equal(tok.box_pk, b, 32);
	{
		struct addr want = t_addr("203.0.113.1:7443");
		assert_true(addr_equal(&tok.control, &want));
		assert_int_equal(tok.control.ss.ss_family, AF_INET);
	}
	t_fill(b, 16, 0x40);
	assert_memory_equal(tok.invite_id, b, 16);
	t_fill(b, 32, 0x80);
	assert_memory_equal(tok.secret, b, 32);
	assert_int_equal(enroll_token_encode(&tok, back, sizeof(back)), 128);
	assert_string_equal(back, text);

	t_token_bin(&t, 1, 6, t_v6, 16, 7443);
	t_token_check(&t);
	assert_int_equal(t.n, ENROLL_TOKEN_BIN_MAX);
	t_token_text(&t, text, sizeof(text));
	assert_int_equal(strlen(text), ENROLL_TOKEN_TEXT_MAX);
	assert_int_equal(enroll_token_parse(text, strlen(text), &tok, &err), 0);
	{
		struct addr want = t_addr("[2001:db8::1]:7443");
		assert_true(addr_equal(&tok.control, &want));
		assert_int_equal(tok.control.ss.ss_family, AF_INET6);
	}
	assert_int_equal(enroll_token_encode(&tok, back, sizeof(back)), ENROLL_TOKEN_TEXT_MAX);
	assert_string_equal(back, text);
	sodium_memzero(&tok, sizeof(tok));
}

static void
test_enroll_token_round_trip(void **state)
{
	static const char *const endpoints[] = {
		"203.0.113.1:7443", "[2001:db8::7]:1", "198.51.100.25:65535",
		"[::ffff:192.0.2.1]:7443",	/* written as IPv4 */
	};
	char text[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token tok, back;
	const char *err = NULL;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		randombytes_buf(tok.box_pk, sizeof(tok.box_pk));
		randombytes_buf(tok.invite_id, sizeof(tok.invite_id));
		randombytes_buf(tok.secret, sizeof(tok.secret));
		tok.control = t_addr(endpoints[i]);
		n = enroll_token_encode(&tok, text, sizeof(text));
		assert_int_equal(n, addr_family(&tok.control) == AF_INET ? 128 : 144);
		assert_int_equal((size_t)n, strlen(text));
		assert_memory_equal(text, "hpe1-", 5);
		assert_null(strpbrk(text + 5, "+/="));
		assert_int_equal(enroll_token_parse(text, (size_t)n, &back, &err), 0);
		assert_memory_equal(back.box_pk, tok.box_pk, 32);
		assert_memory_equal(back.invite_id, tok.invite_id, 16);
		assert_memory_equal(back.secret, tok.secret, 32);
		assert_true(addr_equal(&back.control, &tok.control));
		/* Exactly the room for the text and its NUL. */
		assert_int_equal(enroll_token_encode(&tok, text, (size_t)n), -1);
		assert_int_equal(enroll_token_encode(&tok, text, (size_t)n + 1), n);
		assert_int_equal(enroll_token_encode(&tok, text, 4), -1);
	}
	sodium_memzero(&tok, sizeof(tok));
	sodium_memzero(&back, sizeof(back));
}

static void
test_enroll_token_encode_refusals(void **state)
{
	char text[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token tok;

	(void)state;
	memset(&tok, 0, sizeof(tok));
	t_fill(tok.box_pk, 32, 1);
	tok.control = t_addr("203.0.113.1:7443");
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), 128);
	tok.control = t_addr("203.0.113.1");		/* port 0 */
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), -1);
	tok.control = t_addr("0.0.0.0:7443");
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), -1);
	tok.control = t_addr("[::]:7443");
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), -1);
	memset(&tok.control, 0, sizeof(tok.control));
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), -1);
	tok.control = t_addr("203.0.113.1:7443");
	memset(tok.box_pk, 0, sizeof(tok.box_pk));
	assert_int_equal(enroll_token_encode(&tok, text, sizeof(text)), -1);
}

static void
test_enroll_token_whitespace(void **state)
{
	char text[256], padded[300];
	struct enroll_token tok;
	const char *err = NULL;
	struct t_buf t;
	int n;

	(void)state;
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	n = snprintf(padded, sizeof(padded), "  \t%s\r\n", text);
	assert_int_equal(enroll_token_parse(padded, (size_t)n, &tok, &err), 0);
	n = snprintf(padded, sizeof(padded), "\n\n%s \n", text);
	assert_int_equal(enroll_token_parse(padded, (size_t)n, &tok, &err), 0);
	/* Inside the token, a space or a line break is damage. */
	n = snprintf(padded, sizeof(padded), "%.40s\n%s", text, text + 40);
	t_token_refused(padded, (size_t)n, "token damaged (not base64url)");
	n = snprintf(padded, sizeof(padded), "hpe1- %s", text + 5);
	t_token_refused(padded, (size_t)n, "token damaged (not base64url)");
	t_token_refused(" \t\r\n", 4, "not a Homeport token");
	/* Other white space is not taken for padding. */
	n = snprintf(padded, sizeof(padded), "\v%s", text);
	t_token_refused(padded, (size_t)n, "not a Homeport token");
}

static void
test_enroll_token_refusals(void **state)
{
	char text[256], bad[2 * 256];
	struct t_buf t;
	size_t len;

	(void)state;
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	len = strlen(text);

	/* Not ours at all. */
	t_token_refused("", 0, "not a Homeport token");
	t_token_refused("hpe1", 4, "not a Homeport token");
	t_token_refused("https://example.test/", 21, "not a Homeport token");
	memcpy(bad, text, len + 1);
	bad[3] = '2';
	t_token_refused(bad, len, "not a Homeport token");
	memcpy(bad, "HPE1-", 5);
	t_token_refused(bad, len, "not a Homeport token");

	/* Not base64url: standard base64's characters, padding, bytes past ASCII. */
	memcpy(bad, text, len + 1);
	bad[20] = '+';
	t_token_refused(bad, len, "token damaged (not base64url)");
	bad[20] = '/';
	t_token_refused(bad, len, "token damaged (not base64url)");
	bad[20] = (char)0xc3;
	t_token_refused(bad, len, "token damaged (not base64url)");
	bad[20] = '\0';
	t_token_refused(bad, len, "token damaged (not base64url)");
	snprintf(bad, sizeof(bad), "%s=", text);
	t_token_refused(bad, len + 1, "token damaged (not base64url)");
	/* 123 characters: the last holds 2 bits that no encoder sets. */
	memcpy(bad, text, len + 1);
	bad[len - 1] = bad[len - 1] == 'B' ? 'C' : 'B';
	t_token_refused(bad, len, "token damaged (not base64url)");

	/* Too long for any token: pasted twice. */
	snprintf(bad, sizeof(bad), "%s%s", text, text + 5);
	t_token_refused(bad, strlen(bad), "token damaged (too long)");
	t_token_refused("hpe1-", 5, "token damaged (too short)");
	t_token_refused("hpe1-AAAAAA", 11, "token damaged (too short)");

	/* Every prefix: cut while copying. */
	for (size_t k = 0; k < len; k++) {
		struct enroll_token tok;
		const char *err = NULL;

		t_token_refused(text, k, k < 5 ? "not a Homeport token" : NULL);
		assert_int_equal(enroll_token_parse(text, k, &tok, &err), -1);
		if (k >= 5 && strncmp(err, "token damaged (", 15) != 0)
			fail_msg("%zu characters: %s", k, err);
	}
	/* A character more (a byte more, then), or two (a length base64 never has). */
	snprintf(bad, sizeof(bad), "%sA", text);
	t_token_refused(bad, len + 1, "token damaged (check failed)");
	snprintf(bad, sizeof(bad), "%sAA", text);
	t_token_refused(bad, len + 2, "token damaged (not base64url)");
}

/* Any changed byte of the binary is caught by the check. */
static void
test_enroll_token_flipped(void **state)
{
	char text[256];
	struct t_buf t, f;

	(void)state;
	t_token_bin(&t, 1, 6, t_v6, 16, 7443);
	t_token_check(&t);
	for (size_t i = 0; i < t.n; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			f = t;
			f.b[i] ^= (uint8_t)(1u << bit);
			t_token_text(&f, text, sizeof(text));
			t_token_refused(text, strlen(text), "token damaged (check failed)");
		}
	}
	/* And in the text: each character replaced by another of the alphabet. */
	t_token_text(&t, text, sizeof(text));
	for (size_t i = 5; i + 1 < strlen(text); i++) {
		char keep = text[i];

		text[i] = keep == 'x' ? 'y' : 'x';
		t_token_refused(text, strlen(text), "token damaged (check failed)");
		text[i] = keep;
	}
}

/* Well-formed (the check matches) but not a token this program takes. */
static void
test_enroll_token_content_refusals(void **state)
{
	static const uint8_t zero[16] = { 0 };
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	char text[256];
	struct t_buf t;

	(void)state;
	t_token_bin(&t, 2, 4, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text),
			"token version not supported (made by a newer homeport-edge: update homeport)");
	t_token_bin(&t, 0, 4, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token version 0 not supported");
	/* A newer version may be laid out otherwise: the version is read before the rest. */
	t.n = 0;
	t_u8(&t, 7);
	t_str(&t, "anything at all");
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text),
			"token version not supported (made by a newer homeport-edge: update homeport)");

	t_token_bin(&t, 1, 5, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unknown address family");
	t_token_bin(&t, 1, 0, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unknown address family");
	t_token_bin(&t, 1, 6, t_v4, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token length does not match its address family");
	t_token_bin(&t, 1, 4, t_v6, 16, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token length does not match its address family");
	/* A byte more or less than the layout, with a check that matches. */
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	t_u8(&t, 0);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token length does not match its address family");
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	t.n--;
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token length does not match its address family");
	t.n = 0;
	t_u8(&t, 1);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token length does not match its address family");

	t_token_bin(&t, 1, 4, zero, 4, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unusable control address");
	t_token_bin(&t, 1, 6, zero, 16, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unusable control address");
	t_token_bin(&t, 1, 6, mapped, 16, 7443);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unusable control address");
	t_token_bin(&t, 1, 4, t_v4, 4, 0);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has control port 0");
	t_token_bin(&t, 1, 4, t_v4, 4, 7443);
	memset(t.b + 1, 0, 32);
	t_token_check(&t);
	t_token_text(&t, text, sizeof(text));
	t_token_refused(text, strlen(text), "token has an unusable edge key");
}

/* ---- request ------------------------------------------------------------- */

static const uint8_t t_secret[ENROLL_SECRET_LEN] = {
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
};

static void
t_request(struct enroll_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	t_fill(rq->invite_id, sizeof(rq->invite_id), 0x40);
	rq->timestamp = T_NOW;
	t_fill(rq->nonce, sizeof(rq->nonce), 0x10);
	t_fill(rq->home_wg_pk, sizeof(rq->home_wg_pk), 0x20);
	t_fill(rq->reply_pk, sizeof(rq->reply_pk), 0x60);
	rq->nhost = 2;
	memcpy(rq->host[0], "mail.example.test", sizeof("mail.example.test"));
	memcpy(rq->host[1], "example.test", sizeof("example.test"));
}

/* The request of t_request() up to its hosts, by hand. */
static void
t_request_head(struct t_buf *t, unsigned version, uint64_t ts)
{
	uint8_t b[32];

	t->n = 0;
	t_str(t, "HPRQ");
	t_u8(t, version);
	t_fill(b, 16, 0x40);
	t_add(t, b, 16);
	t_u64(t, ts);
	t_fill(b, 16, 0x10);
	t_add(t, b, 16);
	t_fill(b, 32, 0x20);
	t_add(t, b, 32);
	t_fill(b, 32, 0x60);
	t_add(t, b, 32);
}

/* The MAC: keyed BLAKE2b-256 of everything so far, key = t_secret. */
static void
t_request_mac(struct t_buf *t)
{
	uint8_t mac[32];

	crypto_generichash(mac, sizeof(mac), t->b, t->n, t_secret, sizeof(t_secret));
	t_add(t, mac, sizeof(mac));
}

static void
t_request_equal(const struct enroll_request *a, const struct enroll_request *b)
{
	assert_memory_equal(a->invite_id, b->invite_id, sizeof(a->invite_id));
	assert_int_equal(a->timestamp, b->timestamp);
	assert_memory_equal(a->nonce, b->nonce, sizeof(a->nonce));
	assert_memory_equal(a->home_wg_pk, b->home_wg_pk, sizeof(a->home_wg_pk));
	assert_memory_equal(a->reply_pk, b->reply_pk, sizeof(a->reply_pk));
	assert_int_equal(a->nhost, b->nhost);
	for (size_t i = 0; i < a->nhost; i++)
		assert_string_equal(a->host[i], b->host[i]);
}

static void
t_plain_refused(const uint8_t *p, size_t n, const char *want)
{
	struct enroll_request rq;
	const char *err = NULL;

	memset(&rq, 0xaa, sizeof(rq));
	if (enroll_request_parse_plain(p, n, &rq, &err) != -1)
		fail_msg("request of %zu bytes accepted, want \"%s\"", n, want);
	assert_non_null(err);
	if (want != NULL && strcmp(err, want) != 0)
		fail_msg("request of %zu bytes: \"%s\", want \"%s\"", n, err, want);
	assert_true(sodium_is_zero((const unsigned char *)&rq, sizeof(rq)));
}

/* The documented bytes parse, encode back to themselves, and verify with the documented MAC. */
static void
test_enroll_request_documented_bytes(void **state)
{
	struct enroll_request rq, want;
	uint8_t out[ENROLL_REQUEST_PLAIN_MAX];
	const char *err = NULL;
	struct t_buf t;
	size_t n;

	(void)state;
	t_request(&want);
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 2);
	t_name(&t, "mail.example.test");
	t_name(&t, "example.test");
	t_request_mac(&t);
	assert_int_equal(t.n, 4 + 1 + 16 + 8 + 16 + 32 + 32 + 1 + 18 + 13 + 32);
	assert_int_equal(enroll_request_parse_plain(t.b, t.n, &rq, &err), 0);
	t_request_equal(&rq, &want);
	assert_memory_equal(rq.mac, t.b + t.n - 32, 32);
	assert_int_equal(enroll_request_encode_plain(&rq, out, sizeof(out), &n), 0);
	assert_int_equal(n, t.n);
	assert_memory_equal(out, t.b, n);
	assert_int_equal(enroll_request_verify(&rq, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), 0);

	/* No hosts at all is a request too. */
	t_request_head(&t, 1, 0);
	t_u8(&t, 0);
	t_request_mac(&t);
	assert_int_equal(t.n, ENROLL_REQUEST_PLAIN_MAX - ENROLL_HOSTS_MAX - ENROLL_HOSTS_TEXT_MAX);
	assert_int_equal(enroll_request_parse_plain(t.b, t.n, &rq, &err), 0);
	assert_int_equal(rq.nhost, 0);
	assert_int_equal(rq.timestamp, 0);
	assert_int_equal(enroll_request_verify(&rq, t_secret, 0, 0, &err), 0);
}

static void
test_enroll_request_round_trip(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], sealed[ENROLL_MSG_MAX], plain[ENROLL_MSG_MAX];
	struct enroll_request rq, back;
	const char *err = NULL;
	size_t n, pn;

	(void)state;
	crypto_box_keypair(pk, sk);
	t_request(&rq);
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_request_open(sealed, n, pk, sk, &back, &err), 0);
	t_request_equal(&back, &rq);
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), 0);
	/* The sealed box is the plaintext plus 48 bytes. */
	memcpy(rq.mac, back.mac, sizeof(rq.mac));
	assert_int_equal(enroll_request_encode_plain(&rq, plain, sizeof(plain), &pn), 0);
	assert_int_equal(n, pn + ENROLL_SEAL_OVERHEAD);
	/* Each seal is different (a fresh ephemeral key); both open the same. */
	{
		uint8_t again[ENROLL_MSG_MAX];
		size_t n2;

		assert_int_equal(enroll_request_seal(&rq, t_secret, pk, again, sizeof(again), &n2), 0);
		assert_int_equal(n2, n);
		assert_memory_not_equal(again, sealed, n);
	}
	/* Exactly the room it needs. */
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, n - 1, &n), -1);
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, n, &n), 0);

	/* The largest request fits a frame. */
	t_request(&rq);
	rq.nhost = ENROLL_HOSTS_MAX;
	for (size_t i = 0; i < rq.nhost; i++) {
		memset(rq.host[i], 'a', ENROLL_HOSTS_TEXT_MAX / ENROLL_HOSTS_MAX);
		rq.host[i][ENROLL_HOSTS_TEXT_MAX / ENROLL_HOSTS_MAX] = '\0';
		rq.host[i][0] = (char)('a' + i);
		rq.host[i][60] = '.';
		rq.host[i][120] = '.';
	}
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(n, ENROLL_REQUEST_PLAIN_MAX + ENROLL_SEAL_OVERHEAD);
	assert_int_equal(enroll_request_open(sealed, n, pk, sk, &back, &err), 0);
	t_request_equal(&back, &rq);
	sodium_memzero(sk, sizeof(sk));
}

static void
test_enroll_request_open_refusals(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], pk2[ENROLL_KEY_LEN], sk2[ENROLL_KEY_LEN];
	uint8_t sealed[ENROLL_MSG_MAX + 1];
	struct enroll_request rq, back;
	const char *err = NULL;
	size_t n;

	(void)state;
	crypto_box_keypair(pk, sk);
	crypto_box_keypair(pk2, sk2);
	t_request(&rq);
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, sizeof(sealed), &n), 0);
	/* Another edge's key. */
	assert_int_equal(enroll_request_open(sealed, n, pk2, sk2, &back, &err), -1);
	assert_string_equal(err, "cannot decrypt request");
	assert_true(sodium_is_zero((const unsigned char *)&back, sizeof(back)));
	/* Any byte changed. */
	for (size_t i = 0; i < n; i++) {
		sealed[i] ^= 0x01;
		err = NULL;
		assert_int_equal(enroll_request_open(sealed, n, pk, sk, &back, &err), -1);
		assert_string_equal(err, "cannot decrypt request");
		sealed[i] ^= 0x01;
	}
	/* Cut, lengthened, too short to be a box, too long to be a message. */
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(enroll_request_open(sealed, k, pk, sk, &back, &err), -1);
		assert_string_equal(err, "cannot decrypt request");
	}
	sealed[n] = 0;
	assert_int_equal(enroll_request_open(sealed, n + 1, pk, sk, &back, &err), -1);
	memset(sealed, 0, sizeof(sealed));
	assert_int_equal(enroll_request_open(sealed, ENROLL_MSG_MAX + 1, pk, sk, &back, &err), -1);
	assert_string_equal(err, "cannot decrypt request");
	/* Sealed correctly, but not a request: the parser's refusal comes through. */
	{
		static const uint8_t junk[] = "HPRS not a request";

		assert_int_equal(crypto_box_seal(sealed, junk, sizeof(junk) - 1, pk), 0);
		assert_int_equal(enroll_request_open(sealed, sizeof(junk) - 1 + 48, pk, sk, &back,
						     &err), -1);
		assert_string_equal(err, "not an enrollment request");
	}
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk2, sizeof(sk2));
}

static void
test_enroll_request_verify_refusals(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], sealed[ENROLL_MSG_MAX], other[32];
	struct enroll_request rq, back, changed;
	const char *err = NULL;
	size_t n;

	(void)state;
	crypto_box_keypair(pk, sk);
	t_request(&rq);
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_request_open(sealed, n, pk, sk, &back, &err), 0);

	/* Another invite's secret; one bit off. */
	randombytes_buf(other, sizeof(other));
	assert_int_equal(enroll_request_verify(&back, other, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "wrong invite secret");
	memcpy(other, t_secret, sizeof(other));
	other[31] ^= 0x80;
	assert_int_equal(enroll_request_verify(&back, other, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "wrong invite secret");

	/* The MAC covers every field the edge will use. */
	changed = back;
	changed.timestamp++;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "wrong invite secret");
	changed = back;
	changed.host[1][0] = 'f';
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.nhost = 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.home_wg_pk[0] ^= 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.invite_id[15] ^= 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.reply_pk[7] ^= 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.nonce[3] ^= 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	changed = back;
	changed.mac[0] ^= 1;
	assert_int_equal(enroll_request_verify(&changed, t_secret, T_NOW, ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "wrong invite secret");

	/* The clock: the skew either way passes, a second more does not. */
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW + ENROLL_SKEW_MAX,
					       ENROLL_SKEW_MAX, &err), 0);
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW - ENROLL_SKEW_MAX,
					       ENROLL_SKEW_MAX, &err), 0);
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW + ENROLL_SKEW_MAX + 1,
					       ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "request time too far from the edge's clock");
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW - ENROLL_SKEW_MAX - 1,
					       ENROLL_SKEW_MAX, &err), -1);
	assert_string_equal(err, "request time too far from the edge's clock");
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW, 0, &err), 0);
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW + 1, 0, &err), -1);
	assert_int_equal(enroll_request_verify(&back, t_secret, T_NOW, -1, &err), -1);
	/* Clocks at the ends of the range: no overflow (UBSan would say). */
	assert_int_equal(enroll_request_verify(&back, t_secret, INT64_MIN, INT64_MAX, &err), -1);
	assert_int_equal(enroll_request_verify(&back, t_secret, INT64_MAX, INT64_MAX, &err), 0);
	rq.timestamp = INT64_MAX;
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_request_open(sealed, n, pk, sk, &back, &err), 0);
	assert_int_equal(back.timestamp, INT64_MAX);
	assert_int_equal(enroll_request_verify(&back, t_secret, INT64_MIN, INT64_MAX, &err), -1);
	assert_int_equal(enroll_request_verify(&back, t_secret, -1, INT64_MAX, &err), -1);
	assert_int_equal(enroll_request_verify(&back, t_secret, 0, INT64_MAX, &err), 0);
	sodium_memzero(sk, sizeof(sk));
}

/* Every prefix of a valid plaintext is refused, and so is a byte more. */
static void
test_enroll_request_truncations(void **state)
{
	struct t_buf t;

	(void)state;
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 2);
	t_name(&t, "mail.example.test");
	t_name(&t, "example.test");
	t_request_mac(&t);
	for (size_t k = 0; k < t.n; k++)
		t_plain_refused(t.b, k, "message truncated");
	t_u8(&t, 0);
	t_plain_refused(t.b, t.n, "trailing bytes after the request");
}

static void
test_enroll_request_plain_refusals(void **state)
{
	char name[300];
	struct t_buf t;

	(void)state;
	t_request_head(&t, 1, T_NOW);
	t.b[3] = 'S';
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "not an enrollment request");
	t_plain_refused(t.b, 4, "not an enrollment request");

	t_request_head(&t, 2, T_NOW);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "request version not supported");
	t_request_head(&t, 0, T_NOW);
	t_plain_refused(t.b, t.n, "request version not supported");

	t_request_head(&t, 1, (uint64_t)INT64_MAX + 1);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "request timestamp out of range");
	t_request_head(&t, 1, UINT64_MAX);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "request timestamp out of range");

	t_request_head(&t, 1, T_NOW);
	memset(t.b + 4 + 1 + 16 + 8 + 16, 0, 32);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "home WireGuard key is zero");
	t_request_head(&t, 1, T_NOW);
	memset(t.b + 4 + 1 + 16 + 8 + 16 + 32, 0, 32);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "reply key is zero");

	/* Hosts. */
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, ENROLL_HOSTS_MAX + 1);
	t_plain_refused(t.b, t.n, "too many host names");
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 255);
	t_plain_refused(t.b, t.n, "too many host names");
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 1);
	t_u8(&t, 0);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "bad host name length");
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 1);
	t_u8(&t, 254);
	memset(name, 'a', 254);
	t_add(&t, name, 254);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "bad host name length");

	static const char *const bad_names[] = {
		"example.test.", ".example.test", "a..b", "-a.test", "a-.test", "under_score.test",
		"sp ace.test", "*.example.test", "a\0b.test",
	};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		size_t n = i == 8 ? 8 : strlen(bad_names[i]);

		t_request_head(&t, 1, T_NOW);
		t_u8(&t, 1);
		t_u8(&t, (unsigned)n);
		t_add(&t, bad_names[i], n);
		t_request_mac(&t);
		t_plain_refused(t.b, t.n, "bad host name");
	}
	/* A label of 64. */
	memset(name, 'a', 64);
	memcpy(name + 64, ".test", 6);
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 1);
	t_name(&t, name);
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "bad host name");

	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 1);
	t_name(&t, "Mail.Example.Test");
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "host name not in lower case");
	t_request_head(&t, 1, T_NOW);
	t_u8(&t, 3);
	t_name(&t, "mail.example.test");
	t_name(&t, "example.test");
	t_name(&t, "mail.example.test");
	t_request_mac(&t);
	t_plain_refused(t.b, t.n, "host name given twice");

	/* Names of 253 bytes: eight fit ENROLL_HOSTS_TEXT_MAX (2024), nine do not (2277). */
	for (unsigned count = 8; count <= 9; count++) {
		t_request_head(&t, 1, T_NOW);
		t_u8(&t, count);
		for (unsigned i = 0; i < count; i++) {
			memset(name, 'a', 253);
			name[253] = '\0';
			for (size_t dot = 63; dot < 253; dot += 64)
				name[dot] = '.';
			name[0] = (char)('a' + i);
			t_name(&t, name);
		}
		t_request_mac(&t);
		if (count == 8) {
			struct enroll_request rq;
			const char *err = NULL;

			assert_int_equal(enroll_request_parse_plain(t.b, t.n, &rq, &err), 0);
			assert_int_equal(rq.nhost, 8);
			assert_int_equal(strlen(rq.host[7]), 253);
		} else {
			t_plain_refused(t.b, t.n, "host names too long together");
		}
	}
}

/* The encoder and the seal refuse what the parser would. */
static void
test_enroll_request_encode_refusals(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], out[ENROLL_MSG_MAX];
	struct enroll_request rq;
	size_t n;

	(void)state;
	crypto_box_keypair(pk, sk);
	t_request(&rq);
	assert_int_equal(enroll_request_encode_plain(&rq, out, sizeof(out), &n), 0);
	assert_int_equal(enroll_request_encode_plain(&rq, out, n - 1, &n), -1);

	rq.timestamp = -1;
	assert_int_equal(enroll_request_encode_plain(&rq, out, sizeof(out), &n), -1);
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	memset(rq.home_wg_pk, 0, sizeof(rq.home_wg_pk));
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	memset(rq.reply_pk, 0, sizeof(rq.reply_pk));
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	rq.nhost = ENROLL_HOSTS_MAX + 1;
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	rq.host[0][0] = 'M';
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	memcpy(rq.host[1], rq.host[0], sizeof(rq.host[0]));
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	rq.host[1][0] = '\0';
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	t_request(&rq);
	memset(rq.host[0], 'a', sizeof(rq.host[0]));	/* no NUL */
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	/* An edge key that is no key. */
	t_request(&rq);
	memset(pk, 0, sizeof(pk));
	assert_int_equal(enroll_request_seal(&rq, t_secret, pk, out, sizeof(out), &n), -1);
	sodium_memzero(sk, sizeof(sk));
}

/* ---- response ------------------------------------------------------------ */

static void
t_response(struct enroll_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	t_fill(rs->nonce, sizeof(rs->nonce), 0x10);
	rs->status = ENROLL_OK;
	memcpy(rs->message, "welcome", sizeof("welcome"));
	memcpy(rs->tenant, "alice", sizeof("alice"));
	t_fill(rs->edge_wg_pk, sizeof(rs->edge_wg_pk), 0xa0);
	rs->wg_endpoint = t_addr("203.0.113.1:51820");
	rs->tunnel_v4 = t_addr("192.0.2.2");
	rs->tunnel_v4_prefix = 24;
	rs->tunnel_v6 = t_addr("2001:db8:77::2");
	rs->tunnel_v6_prefix = 64;
	rs->edge_v4 = t_addr("192.0.2.1");
	rs->edge_v6 = t_addr("2001:db8:77::1");
	rs->egress_port = 1080;
	rs->nhost = 2;
	memcpy(rs->host[0], "mail.example.test", sizeof("mail.example.test"));
	memcpy(rs->host[1], "example.test", sizeof("example.test"));
}

static void
t_response_equal(const struct enroll_response *a, const struct enroll_response *b)
{
	assert_memory_equal(a->nonce, b->nonce, sizeof(a->nonce));
	assert_int_equal(a->status, b->status);
	assert_string_equal(a->message, b->message);
	assert_string_equal(a->tenant, b->tenant);
	assert_memory_equal(a->edge_wg_pk, b->edge_wg_pk, sizeof(a->edge_wg_pk));
	assert_int_equal(a->wg_endpoint.len, b->wg_endpoint.len);
	if (a->wg_endpoint.len != 0)
		assert_true(addr_equal(&a->wg_endpoint, &b->wg_endpoint));
	assert_int_equal(a->tunnel_v4.len != 0, b->tunnel_v4.len != 0);
	if (a->tunnel_v4.len != 0) {
		assert_true(addr_equal(&a->tunnel_v4, &b->tunnel_v4));
		assert_true(addr_equal(&a->edge_v4, &b->edge_v4));
	}
	assert_int_equal(a->tunnel_v6.len != 0, b->tunnel_v6.len != 0);
	if (a->tunnel_v6.len != 0) {
		assert_true(addr_equal(&a->tunnel_v6, &b->tunnel_v6));
		assert_true(addr_equal(&a->edge_v6, &b->edge_v6));
	}
	assert_int_equal(a->tunnel_v4_prefix, b->tunnel_v4_prefix);
	assert_int_equal(a->tunnel_v6_prefix, b->tunnel_v6_prefix);
	assert_int_equal(a->egress_port, b->egress_port);
	assert_int_equal(a->nhost, b->nhost);
	for (size_t i = 0; i < a->nhost; i++)
		assert_string_equal(a->host[i], b->host[i]);
}

/* Where the fields of t_response_bytes() begin. */
struct t_layout {
	size_t status, message, tenant, wg_pk, endpoint, tun4, tun6, edge4, edge6, egress, nhost;
};

/* t_response() by hand, noting where each field begins. */
static void
t_response_bytes(struct t_buf *t, struct t_layout *l)
{
	static const uint8_t v4[4] = { 203, 0, 113, 1 }, tun4[4] = { 192, 0, 2, 2 },
			     edge4[4] = { 192, 0, 2, 1 };
	static const uint8_t tun6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	static const uint8_t edge6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t b[32];

	t->n = 0;
	t_str(t, "HPRS");
	t_u8(t, 1);
	t_fill(b, 16, 0x10);
	t_add(t, b, 16);
	l->status = t->n;
	t_u8(t, ENROLL_OK);
	l->message = t->n;
	t_name(t, "welcome");
	l->tenant = t->n;
	t_name(t, "alice");
	l->wg_pk = t->n;
	t_fill(b, 32, 0xa0);
	t_add(t, b, 32);
	l->endpoint = t->n;
	t_u8(t, 4);
	t_add(t, v4, 4);
	t_u16(t, 51820);
	l->tun4 = t->n;
	t_add(t, tun4, 4);
	t_u8(t, 24);
	l->tun6 = t->n;
	t_add(t, tun6, 16);
	t_u8(t, 64);
	l->edge4 = t->n;
	t_add(t, edge4, 4);
	l->edge6 = t->n;
	t_add(t, edge6, 16);
	l->egress = t->n;
	t_u16(t, 1080);
	l->nhost = t->n;
	t_u8(t, 2);
	t_name(t, "mail.example.test");
	t_name(t, "example.test");
}

static void
t_resp_refused(const uint8_t *p, size_t n, const char *want)
{
	struct enroll_response rs;
	const char *err = NULL;

	memset(&rs, 0xaa, sizeof(rs));
	if (enroll_response_parse_plain(p, n, &rs, &err) != -1)
		fail_msg("response of %zu bytes accepted, want \"%s\"", n, want);
	assert_non_null(err);
	if (want != NULL && strcmp(err, want) != 0)
		fail_msg("response of %zu bytes: \"%s\", want \"%s\"", n, err, want);
	assert_true(sodium_is_zero((const unsigned char *)&rs, sizeof(rs)));
}

static void
test_enroll_response_documented_bytes(void **state)
{
	struct enroll_response rs, want;
	uint8_t out[ENROLL_RESPONSE_PLAIN_MAX];
	const char *err = NULL;
	struct t_layout l;
	struct t_buf t;
	size_t n;

	(void)state;
	t_response(&want);
	t_response_bytes(&t, &l);
	assert_int_equal(enroll_response_parse_plain(t.b, t.n, &rs, &err), 0);
	t_response_equal(&rs, &want);
	assert_int_equal(rs.tunnel_v4.ss.ss_family, AF_INET);
	assert_int_equal(rs.tunnel_v6.ss.ss_family, AF_INET6);
	assert_int_equal(addr_port(&rs.tunnel_v4), 0);
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), 0);
	assert_int_equal(n, t.n);
	assert_memory_equal(out, t.b, n);

	/* A refusal: the message, nothing after it. */
	t.n = l.status;
	t_u8(&t, ENROLL_REFUSED);
	t_name(&t, "invite already used");
	assert_int_equal(enroll_response_parse_plain(t.b, t.n, &rs, &err), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, "invite already used");
	assert_string_equal(rs.tenant, "");
	assert_int_equal(rs.nhost, 0);
	assert_int_equal(rs.wg_endpoint.len, 0);
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), 0);
	assert_int_equal(n, t.n);
	assert_memory_equal(out, t.b, n);
}

static void
test_enroll_response_round_trip(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], sealed[ENROLL_MSG_MAX];
	struct enroll_response rs, back;
	const char *err = NULL;
	size_t n;

	(void)state;
	crypto_box_keypair(pk, sk);
	t_response(&rs);
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	t_response_equal(&back, &rs);
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, n - 1, &n), -1);

	/* IPv4 only, an IPv6 endpoint, no egress, no hosts, an empty message. */
	t_response(&rs);
	memset(&rs.tunnel_v6, 0, sizeof(rs.tunnel_v6));
	memset(&rs.edge_v6, 0, sizeof(rs.edge_v6));
	rs.tunnel_v6_prefix = 0;
	rs.wg_endpoint = t_addr("[2001:db8::1]:51820");
	rs.egress_port = 0;
	rs.nhost = 0;
	rs.message[0] = '\0';
	rs.tunnel_v4_prefix = 32;
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	t_response_equal(&back, &rs);
	assert_int_equal(back.tunnel_v6.len, 0);

	/* IPv6 only, prefix 128. */
	t_response(&rs);
	memset(&rs.tunnel_v4, 0, sizeof(rs.tunnel_v4));
	memset(&rs.edge_v4, 0, sizeof(rs.edge_v4));
	rs.tunnel_v4_prefix = 0;
	rs.tunnel_v6_prefix = 128;
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	t_response_equal(&back, &rs);
	assert_int_equal(back.tunnel_v4.len, 0);

	/* Refused and try later carry a message and nothing else (the rest is ignored). */
	t_response(&rs);
	rs.status = ENROLL_REFUSED;
	memcpy(rs.message, "invite expired", sizeof("invite expired"));
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(n, 4 + 1 + 16 + 1 + 1 + 14 + ENROLL_SEAL_OVERHEAD);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	assert_int_equal(back.status, ENROLL_REFUSED);
	assert_string_equal(back.message, "invite expired");
	assert_memory_equal(back.nonce, rs.nonce, sizeof(rs.nonce));
	assert_string_equal(back.tenant, "");
	assert_int_equal(back.nhost, 0);
	rs.status = ENROLL_TRY_LATER;
	memset(rs.message, 'x', ENROLL_MESSAGE_MAX);
	rs.message[ENROLL_MESSAGE_MAX] = '\0';
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	assert_int_equal(back.status, ENROLL_TRY_LATER);
	assert_int_equal(strlen(back.message), ENROLL_MESSAGE_MAX);

	/* The largest response fits a frame. */
	t_response(&rs);
	memset(rs.message, '~', ENROLL_MESSAGE_MAX);
	rs.message[ENROLL_MESSAGE_MAX] = '\0';
	memset(rs.tenant, 'z', ENROLL_TENANT_MAX);
	rs.tenant[ENROLL_TENANT_MAX] = '\0';
	rs.wg_endpoint = t_addr("[2001:db8::1]:51820");
	rs.nhost = ENROLL_HOSTS_MAX;
	for (size_t i = 0; i < rs.nhost; i++) {
		memset(rs.host[i], 'h', ENROLL_HOSTS_TEXT_MAX / ENROLL_HOSTS_MAX);
		rs.host[i][ENROLL_HOSTS_TEXT_MAX / ENROLL_HOSTS_MAX] = '\0';
		rs.host[i][1] = (char)('a' + i);
		rs.host[i][62] = '.';
		rs.host[i][120] = '.';
	}
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(n, ENROLL_RESPONSE_PLAIN_MAX + ENROLL_SEAL_OVERHEAD);
	assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), 0);
	t_response_equal(&back, &rs);
	sodium_memzero(sk, sizeof(sk));
}

static void
test_enroll_response_open_refusals(void **state)
{
	uint8_t pk[ENROLL_KEY_LEN], sk[ENROLL_KEY_LEN], pk2[ENROLL_KEY_LEN], sk2[ENROLL_KEY_LEN];
	uint8_t sealed[ENROLL_MSG_MAX];
	struct enroll_response rs, back;
	const char *err = NULL;
	size_t n;

	(void)state;
	crypto_box_keypair(pk, sk);
	crypto_box_keypair(pk2, sk2);
	t_response(&rs);
	assert_int_equal(enroll_response_seal(&rs, pk, sealed, sizeof(sealed), &n), 0);
	assert_int_equal(enroll_response_open(sealed, n, pk2, sk2, &back, &err), -1);
	assert_string_equal(err, "cannot decrypt response");
	for (size_t i = 0; i < n; i++) {
		sealed[i] ^= 0x80;
		assert_int_equal(enroll_response_open(sealed, n, pk, sk, &back, &err), -1);
		assert_string_equal(err, "cannot decrypt response");
		sealed[i] ^= 0x80;
	}
	assert_int_equal(enroll_response_open(sealed, n - 1, pk, sk, &back, &err), -1);
	assert_int_equal(enroll_response_open(sealed, ENROLL_SEAL_OVERHEAD, pk, sk, &back, &err), -1);
	assert_true(sodium_is_zero((const unsigned char *)&back, sizeof(back)));
	memset(pk2, 0, sizeof(pk2));
	assert_int_equal(enroll_response_seal(&rs, pk2, sealed, sizeof(sealed), &n), -1);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk2, sizeof(sk2));
}

static void
test_enroll_response_plain_refusals(void **state)
{
	struct t_layout l;
	struct t_buf t, b;

	(void)state;
	t_response_bytes(&t, &l);
	for (size_t k = 0; k < t.n; k++)
		t_resp_refused(t.b, k, "message truncated");
	b = t;
	t_u8(&b, 0);
	t_resp_refused(b.b, b.n, "trailing bytes after the response");

	b = t;
	b.b[0] = 'h';
	t_resp_refused(b.b, b.n, "not an enrollment response");
	b = t;
	memcpy(b.b, "HPRQ", 4);
	t_resp_refused(b.b, b.n, "not an enrollment response");
	b = t;
	b.b[4] = 2;
	t_resp_refused(b.b, b.n, "response version not supported");
	b = t;
	b.b[l.status] = 3;
	t_resp_refused(b.b, b.n, "unknown response status");
	b = t;
	b.b[l.status] = 0xff;
	t_resp_refused(b.b, l.status + 1, "unknown response status");

	/* The message. */
	static const uint8_t bad_chars[] = { 0x00, 0x0a, 0x0d, 0x1b, 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < sizeof(bad_chars); i++) {
		b = t;
		b.b[l.message + 3] = bad_chars[i];
		t_resp_refused(b.b, b.n, "response message not printable");
	}
	b.n = l.status;
	t_u8(&b, ENROLL_REFUSED);
	t_u8(&b, 0);
	t_resp_refused(b.b, b.n, "refusal without a message");
	b.n = l.status;
	t_u8(&b, ENROLL_TRY_LATER);
	t_u8(&b, 0);
	t_resp_refused(b.b, b.n, "refusal without a message");
	/* A refusal carries nothing after its message. */
	b.n = l.status;
	t_u8(&b, ENROLL_REFUSED);
	t_name(&b, "invite expired");
	t_name(&b, "alice");
	t_resp_refused(b.b, b.n, "trailing bytes after the response");

	/* The tenant. */
	/* Each in the place of "alice", five bytes. */
	static const char *const bad_tenants[] = { "Alice", "-lice", "alic-", "al_ce", "al.ce",
						   "al ce", "al\0ce" };
	for (size_t i = 0; i < sizeof(bad_tenants) / sizeof(bad_tenants[0]); i++) {
		b = t;
		memcpy(b.b + l.tenant + 1, bad_tenants[i], 5);
		t_resp_refused(b.b, b.n, "bad tenant name");
	}
	b.n = l.tenant;
	t_u8(&b, 0);
	t_resp_refused(b.b, b.n, "bad tenant name");
	b.n = l.tenant;
	t_u8(&b, ENROLL_TENANT_MAX + 1);
	t_resp_refused(b.b, b.n, "bad tenant name");

	/* Keys and endpoint. */
	b = t;
	memset(b.b + l.wg_pk, 0, 32);
	t_resp_refused(b.b, b.n, "edge WireGuard key is zero");
	b = t;
	b.b[l.endpoint] = 5;
	t_resp_refused(b.b, b.n, "bad WireGuard endpoint");
	b = t;
	b.b[l.endpoint] = 6;	/* the IPv4 bytes read as the start of an IPv6 address */
	t_resp_refused(b.b, b.n, NULL);
	b = t;
	memset(b.b + l.endpoint + 1, 0, 4);
	t_resp_refused(b.b, b.n, "bad WireGuard endpoint");
	b = t;
	memset(b.b + l.endpoint + 5, 0, 2);
	t_resp_refused(b.b, b.n, "bad WireGuard endpoint");

	/* Tunnel addresses. */
	b = t;
	b.b[l.tun4 + 4] = 33;
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	b.b[l.tun4 + 4] = 0;
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	b.b[l.tun6 + 16] = 129;
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memset(b.b + l.tun4, 0, 4);		/* prefix 24 left over */
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memset(b.b + l.tun4, 0, 5);		/* the home's IPv4 gone, the edge's still there */
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memset(b.b + l.edge4, 0, 4);		/* the edge's gone */
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memcpy(b.b + l.edge4, b.b + l.tun4, 4);
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memcpy(b.b + l.edge6, b.b + l.tun6, 16);
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memset(b.b + l.tun6, 0, 10);
	b.b[l.tun6 + 10] = 0xff;
	b.b[l.tun6 + 11] = 0xff;		/* ::ffff:0.0.0.2: IPv4-mapped */
	t_resp_refused(b.b, b.n, "bad tunnel address");
	b = t;
	memset(b.b + l.tun4, 0, 5);
	memset(b.b + l.tun6, 0, 17);
	memset(b.b + l.edge4, 0, 20);
	t_resp_refused(b.b, b.n, "no tunnel address");
	/* Either family alone is fine. */
	b = t;
	memset(b.b + l.tun4, 0, 5);
	memset(b.b + l.edge4, 0, 4);
	{
		struct enroll_response rs;
		const char *err = NULL;

		assert_int_equal(enroll_response_parse_plain(b.b, b.n, &rs, &err), 0);
		assert_int_equal(rs.tunnel_v4.len, 0);
		assert_int_equal(rs.edge_v4.len, 0);
		assert_int_equal(rs.tunnel_v4_prefix, 0);
	}

	/* Hosts, as in the request. */
	b = t;
	b.b[l.nhost] = ENROLL_HOSTS_MAX + 1;
	t_resp_refused(b.b, b.n, "too many host names");
	b = t;
	b.b[l.nhost + 1 + 1] = 'M';
	t_resp_refused(b.b, b.n, "host name not in lower case");
	b.n = l.nhost;
	t_u8(&b, 2);
	t_name(&b, "example.test");
	t_name(&b, "example.test");
	t_resp_refused(b.b, b.n, "host name given twice");
}

static void
test_enroll_response_encode_refusals(void **state)
{
	uint8_t out[ENROLL_MSG_MAX];
	struct enroll_response rs;
	size_t n;

	(void)state;
	t_response(&rs);
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), 0);
	assert_int_equal(enroll_response_encode_plain(&rs, out, n - 1, &n), -1);

	t_response(&rs);
	rs.status = 3;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.status = ENROLL_REFUSED;
	rs.message[0] = '\0';
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.message[2] = '\n';
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	memset(rs.message, 'a', sizeof(rs.message));	/* no NUL */
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tenant[0] = 'A';
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tenant[0] = '\0';
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	memset(rs.tenant, 'a', sizeof(rs.tenant));	/* 64, no NUL */
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	memset(rs.edge_wg_pk, 0, sizeof(rs.edge_wg_pk));
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	addr_set_port(&rs.wg_endpoint, 0);
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.wg_endpoint = t_addr("[::]:51820");
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tunnel_v4 = t_addr("192.0.2.2:25");		/* a tunnel address has no port */
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tunnel_v4 = t_addr("2001:db8:77::2");	/* the wrong family for the slot */
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tunnel_v6 = t_addr("::ffff:192.0.2.2");
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.tunnel_v6_prefix = 0;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	memset(&rs.edge_v6, 0, sizeof(rs.edge_v6));
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	memset(&rs.tunnel_v4, 0, sizeof(rs.tunnel_v4));	/* prefix 24 left over */
	memset(&rs.edge_v4, 0, sizeof(rs.edge_v4));
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	rs.tunnel_v4_prefix = 0;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), 0);
	memset(&rs.tunnel_v6, 0, sizeof(rs.tunnel_v6));
	memset(&rs.edge_v6, 0, sizeof(rs.edge_v6));
	rs.tunnel_v6_prefix = 0;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	t_response(&rs);
	rs.nhost = ENROLL_HOSTS_MAX + 1;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), -1);
	/* A refusal ignores what only OK carries. */
	t_response(&rs);
	rs.status = ENROLL_REFUSED;
	rs.tenant[0] = 'A';
	rs.nhost = 99;
	assert_int_equal(enroll_response_encode_plain(&rs, out, sizeof(out), &n), 0);
	assert_int_equal(n, 4 + 1 + 16 + 1 + 1 + strlen("welcome"));
}

/* ---- framing ------------------------------------------------------------- */

static void
test_enroll_frame_byte_by_byte(void **state)
{
	static const uint8_t frame[] = { 0x00, 0x03, 'a', 'b', 'c', 0x00, 0x01, 'z' };
	const uint8_t *msg;
	size_t msglen;

	(void)state;
	for (size_t k = 0; k < 5; k++) {
		assert_int_equal(enroll_frame_parse(frame, k, &msg, &msglen), 0);
		assert_null(msg);
	}
	assert_int_equal(enroll_frame_parse(frame, 5, &msg, &msglen), 5);
	assert_ptr_equal(msg, frame + 2);
	assert_int_equal(msglen, 3);
	/* The next frame is not part of this one. */
	assert_int_equal(enroll_frame_parse(frame, sizeof(frame), &msg, &msglen), 5);
	assert_int_equal(enroll_frame_parse(frame + 5, 3, &msg, &msglen), 3);
	assert_int_equal(msglen, 1);
	assert_int_equal(msg[0], 'z');

	/* Length 0 and past the maximum: refused as soon as the 2 bytes are in. */
	assert_int_equal(enroll_frame_parse((const uint8_t *)"\x00", 1, &msg, &msglen), 0);
	assert_int_equal(enroll_frame_parse((const uint8_t *)"\x00\x00", 2, &msg, &msglen), -1);
	assert_int_equal(enroll_frame_parse((const uint8_t *)"\x10\x01", 2, &msg, &msglen), -1);
	assert_int_equal(enroll_frame_parse((const uint8_t *)"\xff\xff", 2, &msg, &msglen), -1);
	assert_null(msg);
	assert_int_equal(msglen, 0);
	{
		static uint8_t big[ENROLL_FRAME_MAX + 1];

		big[0] = 0x10;
		big[1] = 0x00;
		assert_int_equal(enroll_frame_parse(big, ENROLL_FRAME_MAX - 1, &msg, &msglen), 0);
		assert_int_equal(enroll_frame_parse(big, ENROLL_FRAME_MAX, &msg, &msglen),
				 ENROLL_FRAME_MAX);
		assert_int_equal(msglen, ENROLL_MSG_MAX);
		assert_int_equal(enroll_frame_parse(big, sizeof(big), &msg, &msglen),
				 ENROLL_FRAME_MAX);
	}
}

static void
test_enroll_frame_write(void **state)
{
	uint8_t out[ENROLL_FRAME_MAX + 1], msg[ENROLL_MSG_MAX + 1];
	const uint8_t *m;
	size_t mlen;

	(void)state;
	assert_int_equal(enroll_frame_write((const uint8_t *)"abc", 3, out, sizeof(out)), 5);
	assert_memory_equal(out, "\x00\x03" "abc", 5);
	assert_int_equal(enroll_frame_write((const uint8_t *)"abc", 3, out, 5), 5);
	assert_int_equal(enroll_frame_write((const uint8_t *)"abc", 3, out, 4), -1);
	assert_int_equal(enroll_frame_write((const uint8_t *)"abc", 0, out, sizeof(out)), -1);
	memset(msg, 'm', sizeof(msg));
	assert_int_equal(enroll_frame_write(msg, ENROLL_MSG_MAX + 1, out, sizeof(out)), -1);
	assert_int_equal(enroll_frame_write(msg, ENROLL_MSG_MAX, out, sizeof(out)), ENROLL_FRAME_MAX);
	assert_memory_equal(out, "\x10\x00", 2);
	assert_int_equal(enroll_frame_parse(out, ENROLL_FRAME_MAX, &m, &mlen), ENROLL_FRAME_MAX);
	assert_memory_equal(m, msg, ENROLL_MSG_MAX);
	/* In place: the message already where the frame wants it, or at its start. */
	memcpy(out + 2, "xyz", 3);
	assert_int_equal(enroll_frame_write(out + 2, 3, out, sizeof(out)), 5);
	assert_memory_equal(out, "\x00\x03" "xyz", 5);
	memcpy(out, "pqrs", 4);
	assert_int_equal(enroll_frame_write(out, 4, out, sizeof(out)), 6);
	assert_memory_equal(out, "\x00\x04" "pqrs", 6);
}

/* The whole exchange as the I/O layers will run it, frames fed a byte at a time. */
static void
test_enroll_exchange(void **state)
{
	uint8_t edge_pk[32], edge_sk[32], reply_pk[32], reply_sk[32];
	uint8_t wire[ENROLL_FRAME_MAX], got[ENROLL_FRAME_MAX];
	char text[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token tok, home_tok;
	struct enroll_request rq, edge_rq;
	struct enroll_response rs, home_rs;
	const uint8_t *msg = NULL;
	const char *err = NULL;
	size_t n, msglen = 0, have;
	int rc, flen;

	(void)state;
	/* The edge makes an invite. */
	crypto_box_keypair(edge_pk, edge_sk);
	memcpy(tok.box_pk, edge_pk, 32);
	tok.control = t_addr("203.0.113.1:7443");
	randombytes_buf(tok.invite_id, sizeof(tok.invite_id));
	randombytes_buf(tok.secret, sizeof(tok.secret));
	assert_true(enroll_token_encode(&tok, text, sizeof(text)) > 0);

	/* The home reads it and sends a request. */
	assert_int_equal(enroll_token_parse(text, strlen(text), &home_tok, &err), 0);
	crypto_box_keypair(reply_pk, reply_sk);
	t_request(&rq);
	memcpy(rq.invite_id, home_tok.invite_id, 16);
	memcpy(rq.reply_pk, reply_pk, 32);
	randombytes_buf(rq.nonce, sizeof(rq.nonce));
	assert_int_equal(enroll_request_seal(&rq, home_tok.secret, home_tok.box_pk, wire + 2,
					     sizeof(wire) - 2, &n), 0);
	flen = enroll_frame_write(wire + 2, n, wire, sizeof(wire));
	assert_int_equal(flen, (int)n + 2);

	/* The edge reads it a byte at a time. */
	for (have = 0, rc = 0; rc == 0 && have < (size_t)flen; have++) {
		got[have] = wire[have];
		rc = enroll_frame_parse(got, have + 1, &msg, &msglen);
	}
	assert_int_equal(rc, flen);
	assert_int_equal(have, (size_t)flen);
	assert_int_equal(enroll_request_open(msg, msglen, edge_pk, edge_sk, &edge_rq, &err), 0);
	assert_memory_equal(edge_rq.invite_id, tok.invite_id, 16);
	assert_int_equal(enroll_request_verify(&edge_rq, tok.secret, T_NOW + 5, ENROLL_SKEW_MAX, &err), 0);

	/* It answers to the reply key, echoing the nonce. */
	t_response(&rs);
	memcpy(rs.nonce, edge_rq.nonce, sizeof(rs.nonce));
	assert_int_equal(enroll_response_seal(&rs, edge_rq.reply_pk, wire + 2, sizeof(wire) - 2, &n), 0);
	flen = enroll_frame_write(wire + 2, n, wire, sizeof(wire));
	for (have = 0, rc = 0; rc == 0 && have < (size_t)flen; have++) {
		got[have] = wire[have];
		rc = enroll_frame_parse(got, have + 1, &msg, &msglen);
	}
	assert_int_equal(rc, flen);
	assert_int_equal(enroll_response_open(msg, msglen, reply_pk, reply_sk, &home_rs, &err), 0);
	assert_memory_equal(home_rs.nonce, rq.nonce, sizeof(rq.nonce));
	t_response_equal(&home_rs, &rs);
	/* Only the home's reply key opens it; not the edge's own. */
	assert_int_equal(enroll_response_open(msg, msglen, edge_pk, edge_sk, &home_rs, &err), -1);
	sodium_memzero(&tok, sizeof(tok));
	sodium_memzero(&home_tok, sizeof(home_tok));
	sodium_memzero(edge_sk, sizeof(edge_sk));
	sodium_memzero(reply_sk, sizeof(reply_sk));
}

/* ---- the _homeport TXT record ---------------------------------------------- */

/* Computed apart from this code: Python's hashlib.blake2b(digest_size=32) and base64.urlsafe_b64encode. */
#define T_TXT_1TO32 "homeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ"
#define T_TXT_A1 "homeport-key1=9l7N_H3EFNeBbrO5JISICU4A-2tp5n2gUJy24K8FX6I"

static void
test_enroll_txt_text(void **state)
{
	uint8_t k[ENROLL_KEY_LEN], a1[ENROLL_KEY_LEN];
	char text[ENROLL_TXT_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i + 1);
	memset(a1, 0xa1, sizeof(a1));
	enroll_txt_text(k, text);
	assert_string_equal(text, T_TXT_1TO32);
	assert_int_equal(strlen(text), ENROLL_TXT_LEN);
	enroll_txt_text(a1, text);
	assert_string_equal(text, T_TXT_A1);
}

static void
test_enroll_txt_owner(void **state)
{
	char out[DNSNAME_MAX + 1], host[DNSNAME_MAX + 2];

	(void)state;
	assert_int_equal(enroll_txt_owner("mail.alice.test", out, sizeof(out)), 25);
	assert_string_equal(out, "_homeport.mail.alice.test");
	/* Room for exactly that, NUL included; one byte less is refused. */
	assert_int_equal(enroll_txt_owner("mail.alice.test", out, 26), 25);
	assert_int_equal(enroll_txt_owner("mail.alice.test", out, 25), -1);
	/* Not host names. */
	assert_int_equal(enroll_txt_owner("", out, sizeof(out)), -1);
	assert_int_equal(enroll_txt_owner("*.alice.test", out, sizeof(out)), -1);
	assert_int_equal(enroll_txt_owner("a..b", out, sizeof(out)), -1);
	assert_int_equal(enroll_txt_owner("a b.test", out, sizeof(out)), -1);
	/* 243 bytes fit in front of "_homeport." (253 in all); 244 do not. */
	memset(host, 'a', sizeof(host));
	for (size_t i = 63; i < 243; i += 64)
		host[i] = '.';
	host[243] = '\0';
	assert_int_equal(enroll_txt_owner(host, out, sizeof(out)), DNSNAME_MAX);
	assert_int_equal(strlen(out), DNSNAME_MAX);
	host[243] = 'a';
	host[244] = '\0';
	assert_int_equal(enroll_txt_owner(host, out, sizeof(out)), -1);
}

/* The records as the rdata in[i] decodes (dns_rdata_txt joins its strings), then matched against pk. */
static enum enroll_txt_match
t_txt_match(const uint8_t pk[ENROLL_KEY_LEN], const struct t_buf *in, size_t n)
{
	static struct dns_txt_rr rr[8];
	const uint8_t *rec[8];
	size_t len[8];
	const char *why = NULL;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(dns_rdata_txt(in[i].b, in[i].n, &rr[i], &why), 0);
		rec[i] = rr[i].data;
		len[i] = rr[i].len;
	}
	return enroll_txt_match(pk, rec, len, n);
}

/* One TXT rdata of the character-strings given (NULL-terminated). */
static void
t_rdata(struct t_buf *t, ...)
{
	va_list ap;
	const char *str;

	t->n = 0;
	va_start(ap, t);
	while ((str = va_arg(ap, const char *)) != NULL) {
		t_u8(t, (uint8_t)strlen(str));
		t_add(t, str, strlen(str));
	}
	va_end(ap);
}

static void
test_enroll_txt_match(void **state)
{
	static struct t_buf r[4];
	uint8_t k[ENROLL_KEY_LEN], a1[ENROLL_KEY_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i + 1);
	memset(a1, 0xa1, sizeof(a1));
	/* One string, the whole text. */
	t_rdata(&r[0], T_TXT_1TO32, NULL);
	assert_int_equal(t_txt_match(k, r, 1), ENROLL_TXT_FOUND);
	/* Split into several strings anywhere: joined, the same record. */
	t_rdata(&r[0], "homeport-key1=", "RB7cVs68jihdAiZ6plCBnxWt17Bu", "-bQbJpASjc5lWSQ", NULL);
	assert_int_equal(t_txt_match(k, r, 1), ENROLL_TXT_FOUND);
	t_rdata(&r[0], "h", "omeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWS", "Q", NULL);
	assert_int_equal(t_txt_match(k, r, 1), ENROLL_TXT_FOUND);
	/* Among other records (SPF, a note, another home's key): found wherever it is. */
	t_rdata(&r[0], "v=spf1 -all", NULL);
	t_rdata(&r[1], T_TXT_A1, NULL);
	t_rdata(&r[2], "some note", NULL);
	t_rdata(&r[3], T_TXT_1TO32, NULL);
	assert_int_equal(t_txt_match(k, r, 4), ENROLL_TXT_FOUND);
	assert_int_equal(t_txt_match(a1, r, 4), ENROLL_TXT_FOUND);
	/* Only another key's record: OTHER, for the owner's words. */
	assert_int_equal(t_txt_match(k, r, 3), ENROLL_TXT_OTHER);
	/* Nothing of the form: NONE; no records at all too. */
	assert_int_equal(t_txt_match(k, &r[2], 1), ENROLL_TXT_NONE);
	assert_int_equal(t_txt_match(k, r, 0), ENROLL_TXT_NONE);
	/* Near misses are not the record: a byte more or less, white space, case, padding, version. */
	t_rdata(&r[0], T_TXT_1TO32 " ", NULL);
	t_rdata(&r[1], " " T_TXT_1TO32, NULL);
	t_rdata(&r[2], "homeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWS", NULL);
	t_rdata(&r[3], "HOMEPORT-KEY1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ", NULL);
	assert_int_equal(t_txt_match(k, r, 4), ENROLL_TXT_OTHER);
	t_rdata(&r[0], T_TXT_1TO32 "=", NULL);
	t_rdata(&r[1], "homeport-key2=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ", NULL);
	t_rdata(&r[2], "homeport-key1=rb7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ", NULL);
	t_rdata(&r[3], "homeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu+bQbJpASjc5lWSQ", NULL);
	assert_int_equal(t_txt_match(k, r, 4), ENROLL_TXT_OTHER);
	/* Junk: empty strings, bytes outside ASCII; then the text with a NUL inside (begins like it, is not it). */
	t_rdata(&r[0], "", NULL);
	t_rdata(&r[1], "", "", NULL);
	r[2].n = 0;
	t_u8(&r[2], ENROLL_TXT_LEN);
	t_add(&r[2], T_TXT_1TO32, ENROLL_TXT_LEN);
	r[2].b[1 + 20] = '\0';
	t_rdata(&r[3], "\xff\xfe homeport", NULL);
	assert_int_equal(t_txt_match(k, r, 2), ENROLL_TXT_NONE);
	assert_int_equal(t_txt_match(k, &r[3], 1), ENROLL_TXT_NONE);
	assert_int_equal(t_txt_match(k, r, 4), ENROLL_TXT_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enroll_token_documented_bytes),
		cmocka_unit_test(test_enroll_token_round_trip),
		cmocka_unit_test(test_enroll_token_encode_refusals),
		cmocka_unit_test(test_enroll_token_whitespace),
		cmocka_unit_test(test_enroll_token_refusals),
		cmocka_unit_test(test_enroll_token_flipped),
		cmocka_unit_test(test_enroll_token_content_refusals),
		cmocka_unit_test(test_enroll_request_documented_bytes),
		cmocka_unit_test(test_enroll_request_round_trip),
		cmocka_unit_test(test_enroll_request_open_refusals),
		cmocka_unit_test(test_enroll_request_verify_refusals),
		cmocka_unit_test(test_enroll_request_truncations),
		cmocka_unit_test(test_enroll_request_plain_refusals),
		cmocka_unit_test(test_enroll_request_encode_refusals),
		cmocka_unit_test(test_enroll_response_documented_bytes),
		cmocka_unit_test(test_enroll_response_round_trip),
		cmocka_unit_test(test_enroll_response_open_refusals),
		cmocka_unit_test(test_enroll_response_plain_refusals),
		cmocka_unit_test(test_enroll_response_encode_refusals),
		cmocka_unit_test(test_enroll_frame_byte_by_byte),
		cmocka_unit_test(test_enroll_frame_write),
		cmocka_unit_test(test_enroll_exchange),
		cmocka_unit_test(test_enroll_txt_text),
		cmocka_unit_test(test_enroll_txt_owner),
		cmocka_unit_test(test_enroll_txt_match),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("enroll_wire", tests, NULL, NULL);
}
