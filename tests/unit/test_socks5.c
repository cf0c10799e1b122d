/*
 * Unit tests for shared/socks5: method greetings and requests, whole and
 * one byte at a time, with the exact reply code for each refusal; the
 * method and request replies; the egress's forbidden destinations, at the
 * edges of every range and in every IPv6 form that embeds IPv4. The client
 * side: its greeting, the server's method choice and reply read whole and
 * one byte at a time with the exact error for each refusal, its CONNECT
 * requests against curl's, and each side read back by the other.
 *
 * The curl bytes are real: curl 7.88.1 (Debian 12) against a small Python
 * listener on 127.0.0.1 that recorded the greeting, answered 05 00 ("no
 * authentication"), recorded the request and closed (curl then failed):
 *   curl --socks5 127.0.0.1:PORT http://192.0.2.10:25/
 *   curl --socks5-hostname 127.0.0.1:PORT http://mx.example.test:25/
 *   curl --socks5 127.0.0.1:PORT 'http://[2001:db8::25]:25/'
 * curl offers methods 00 (none) and 01 (GSSAPI). PySocks was not installed,
 * so there is no capture from a Python client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "dnsname.h"
#include "socks5.h"

/* A byte string and its length, NULs included. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1
/* A case that never decides: every prefix needs more. */
#define T_NEVER SIZE_MAX

#define T_CURL_GREETING "\x05\x02\x00\x01"
#define T_CURL_REQUEST_V4 "\x05\x01\x00\x01\xc0\x00\x02\x0a\x00\x19"
#define T_CURL_REQUEST_DOMAIN "\x05\x01\x00\x03\x0f" "mx.example.test" "\x00\x19"
#define T_CURL_REQUEST_V6 \
	"\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x25\x00\x19"

/* ---- greeting ------------------------------------------------------------ */

struct greeting_case {
	const uint8_t *bytes;
	size_t len;
	size_t at;		/* prefixes shorter than this need more; from here on, rc */
	int rc;
	int noauth;
};

static const struct greeting_case greeting_cases[] = {
	{ B(T_CURL_GREETING), 4, 4, 1 },
	{ B("\x05\x01\x00"), 3, 3, 1 },
	{ B("\x05\x01\x02"), 3, 3, 0 },			/* username/password only */
	{ B("\x05\x01\x01"), 3, 3, 0 },			/* GSSAPI only */
	{ B("\x05\x03\x02\x01\x00"), 5, 5, 1 },
	{ B("\x05\x02\xff\x80"), 4, 4, 0 },
	/* The client's next message may follow; it is not part of the greeting. */
	{ B(T_CURL_GREETING T_CURL_REQUEST_V4), 4, 4, 1 },
	{ B("\x05\x01\x00\x05"), 3, 3, 1 },
	/* Need more. */
	{ B(""), T_NEVER, 0, 0 },
	{ B("\x05"), T_NEVER, 0, 0 },
	{ B("\x05\x02\x00"), T_NEVER, 0, 0 },
	{ B("\x05\xff\x00\x01\x02"), T_NEVER, 0, 0 },
	/* Not SOCKS5: refused at the first byte. */
	{ B("\x04\x01\x00\x19\xc0\x00\x02\x0a\x00"), 1, -1, 0 },	/* SOCKS4 CONNECT */
	{ B("\x00\x01\x00"), 1, -1, 0 },
	{ B("\x06\x01\x00"), 1, -1, 0 },
	{ B("GET / HTTP/1.1\r\n"), 1, -1, 0 },
	{ B("\x16\x03\x01\x02\x00"), 1, -1, 0 },			/* TLS */
	/* No methods at all. */
	{ B("\x05\x00"), 2, -1, 0 },
	{ B("\x05\x00\x00"), 2, -1, 0 },
};

static void
test_socks5_greeting_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(greeting_cases) / sizeof(greeting_cases[0]); i++) {
		const struct greeting_case *c = &greeting_cases[i];

		/* Every prefix, the whole input last: one byte at a time. */
		for (size_t k = 0; k <= c->len; k++) {
			int want = k < c->at ? 0 : c->rc, noauth = -1, rc;
			const char *err = NULL;

			rc = socks5_parse_greeting(c->bytes, k, &noauth, &err);
			if (rc != want)
				fail_msg("greeting %zu, %zu of %zu bytes: rc %d, want %d", i, k, c->len,
					 rc, want);
			if (rc > 0 && noauth != c->noauth)
				fail_msg("greeting %zu: noauth %d, want %d", i, noauth, c->noauth);
			if (rc < 0 && (err == NULL || err[0] == '\0'))
				fail_msg("greeting %zu: refused without a reason", i);
		}
	}
}

/* All 255 methods, with 0x00 last. */
static void
test_socks5_greeting_max(void **state)
{
	uint8_t g[SOCKS5_GREETING_MAX + 1];
	const char *err = NULL;
	int noauth = -1;

	(void)state;
	g[0] = 5;
	g[1] = 255;
	for (size_t i = 2; i < SOCKS5_GREETING_MAX; i++)
		g[i] = (uint8_t)(SOCKS5_GREETING_MAX - 1 - i);
	g[SOCKS5_GREETING_MAX] = 5;
	assert_int_equal(socks5_parse_greeting(g, SOCKS5_GREETING_MAX - 1, &noauth, &err), 0);
	assert_int_equal(socks5_parse_greeting(g, SOCKS5_GREETING_MAX, &noauth, &err),
			 SOCKS5_GREETING_MAX);
	assert_int_equal(noauth, 1);
	assert_int_equal(socks5_parse_greeting(g, sizeof(g), &noauth, &err), SOCKS5_GREETING_MAX);
	g[SOCKS5_GREETING_MAX - 1] = 0x03;
	assert_int_equal(socks5_parse_greeting(g, SOCKS5_GREETING_MAX, &noauth, &err),
			 SOCKS5_GREETING_MAX);
	assert_int_equal(noauth, 0);
}

static void
test_socks5_method_reply(void **state)
{
	uint8_t out[2];

	(void)state;
	socks5_method_reply(1, out);
	assert_memory_equal(out, "\x05\x00", 2);
	socks5_method_reply(0, out);
	assert_memory_equal(out, "\x05\xff", 2);
}

/* ---- request ------------------------------------------------------------- */

struct request_case {
	const uint8_t *bytes;
	size_t len;
	size_t at;		/* prefixes shorter than this need more; from here on, rc */
	int rc;
	uint8_t code;
	const char *dst;	/* "ip:port" for ATYP 1 and 4, the name for ATYP 3, or NULL */
	uint16_t port;
};

#define OK SOCKS5_OK
#define FAIL SOCKS5_FAILURE
#define CMD SOCKS5_CMD_UNSUPPORTED
#define ATYP SOCKS5_ATYP_UNSUPPORTED

static const struct request_case request_cases[] = {
	/* curl, each address type. */
	{ B(T_CURL_REQUEST_V4), 10, 10, OK, "192.0.2.10:25", 25 },
	{ B(T_CURL_REQUEST_DOMAIN), 22, 22, OK, "mx.example.test", 25 },
	{ B(T_CURL_REQUEST_V6), 22, 22, OK, "[2001:db8::25]:25", 25 },
	/* The stream may follow at once; it is not part of the request. */
	{ B(T_CURL_REQUEST_V4 "EHLO"), 10, 10, OK, "192.0.2.10:25", 25 },
	{ B(T_CURL_REQUEST_DOMAIN "\x05"), 22, 22, OK, "mx.example.test", 25 },
	/* Ports at the ends of the range, names as sent. */
	{ B("\x05\x01\x00\x01\xcb\x00\x71\x01\xff\xff"), 10, 10, OK, "203.0.113.1:65535", 65535 },
	{ B("\x05\x01\x00\x01\xcb\x00\x71\x01\x00\x01"), 10, 10, OK, "203.0.113.1:1", 1 },
	{ B("\x05\x01\x00\x03\x0f" "MX.Example.TEST" "\x02\x4b"), 22, 22, OK, "MX.Example.TEST", 587 },
	{ B("\x05\x01\x00\x03\x01" "a" "\x00\x19"), 8, 8, OK, "a", 25 },
	/* Names are only checked for syntax; the caller checks what they resolve to. */
	{ B("\x05\x01\x00\x03\x09" "localhost" "\x00\x19"), 16, 16, OK, "localhost", 25 },
	{ B("\x05\x01\x00\x03\x09" "127.0.0.1" "\x00\x19"), 16, 16, OK, "127.0.0.1", 25 },
	/* Forbidden addresses parse: policy is socks5_forbidden_destination(). */
	{ B("\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x19"), 10, 10, OK, "127.0.0.1:25", 25 },
	/* IPv4-mapped IPv6 is the IPv4 address. */
	{ B("\x05\x01\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01"
	    "\x00\x19"), 22, 22, OK, "192.0.2.1:25", 25 },
	/* Need more. */
	{ B(""), T_NEVER, 0, OK, NULL, 0 },
	{ B("\x05\x01\x00\x01\xc0\x00\x02\x0a\x00"), T_NEVER, 0, OK, NULL, 0 },
	{ B("\x05\x01\x00\x03\x0f" "mx.example"), T_NEVER, 0, OK, NULL, 0 },
	{ B("\x05\x01\x00\x04\x20\x01\x0d\xb8"), T_NEVER, 0, OK, NULL, 0 },
	{ B("\x05\x02\x00\x01\xc0\x00\x02"), T_NEVER, 0, OK, NULL, 0 },
	/* Malformed: refused at the byte that shows it. */
	{ B("\x04\x01\x00\x19\xc0\x00\x02\x0a" "user\0"), 1, -1, FAIL, NULL, 0 },
	{ B("\x00\x01\x00\x01\xc0\x00\x02\x0a\x00\x19"), 1, -1, FAIL, NULL, 0 },
	{ B("CONNECT 192.0.2.10:25 HTTP/1.1\r\n"), 1, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x01\x01\xc0\x00\x02\x0a\x00\x19"), 3, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\xff\x01\xc0\x00\x02\x0a\x00\x19"), 3, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x00\x00\x19"), 5, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\xfe"), 5, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\xff"), 5, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x01\xc0\x00\x02\x0a\x00\x00"), 10, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x0c" "example.test" "\x00\x00"), 19, -1, FAIL, NULL, 0 },
	/* Names that fail dnsname_check: refused once the name is in. */
	{ B("\x05\x01\x00\x03\x0d" "example.test." "\x00\x19"), 18, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x04" "a..b" "\x00\x19"), 9, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x06" "-a.com" "\x00\x19"), 11, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x07" "a_b.com" "\x00\x19"), 12, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x07" "a b.com" "\x00\x19"), 12, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x07" "a\0b.com" "\x00\x19"), 12, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x09" "*.example" "\x00\x19"), 14, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x0b" "[2001:db8::" "\x00\x19"), 16, -1, FAIL, NULL, 0 },
	{ B("\x05\x01\x00\x03\x05" "caf\xc3\xa9" "\x00\x19"), 10, -1, FAIL, NULL, 0 },
	/* Unknown address types: refused at the ATYP byte. */
	{ B("\x05\x01\x00\x00\xc0\x00\x02\x0a\x00\x19"), 4, -1, ATYP, NULL, 0 },
	{ B("\x05\x01\x00\x02\xc0\x00\x02\x0a\x00\x19"), 4, -1, ATYP, NULL, 0 },
	{ B("\x05\x01\x00\x05"), 4, -1, ATYP, NULL, 0 },
	{ B("\x05\x01\x00\xff"), 4, -1, ATYP, NULL, 0 },
	/* Other commands: refused once the request is complete. */
	{ B("\x05\x02\x00\x01\xc0\x00\x02\x0a\x00\x19"), 10, -1, CMD, "192.0.2.10:25", 25 },
	{ B("\x05\x03\x00\x01\x00\x00\x00\x00\x04\x00"), 10, -1, CMD, "0.0.0.0:1024", 1024 },
	{ B("\x05\x00\x00\x03\x0f" "mx.example.test" "\x00\x19"), 22, -1, CMD, "mx.example.test", 25 },
	{ B("\x05\x09\x00\x01\xc0\x00\x02\x0a\x00\x19"), 10, -1, CMD, "192.0.2.10:25", 25 },
	{ B("\x05\xff\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x25"
	    "\x00\x19"), 22, -1, CMD, "[2001:db8::25]:25", 25 },
	/* Malformed beats an unsupported command. */
	{ B("\x05\x02\x01\x01\xc0\x00\x02\x0a\x00\x19"), 3, -1, FAIL, NULL, 0 },
	{ B("\x05\x02\x00\x07\xc0\x00\x02\x0a\x00\x19"), 4, -1, ATYP, NULL, 0 },
	{ B("\x05\x02\x00\x03\x02" "a." "\x00\x19"), 7, -1, FAIL, NULL, 0 },
	{ B("\x05\x03\x00\x01\xc0\x00\x02\x0a\x00\x00"), 10, -1, FAIL, NULL, 0 },
};

/* The parsed request is what the case says. */
static void
t_request_check(size_t i, const struct request_case *c, const struct socks5_request *r)
{
	struct addr want;

	if (r->cmd != c->bytes[1])
		fail_msg("request %zu: cmd %u, want %u", i, r->cmd, c->bytes[1]);
	if (r->port != c->port)
		fail_msg("request %zu: port %u, want %u", i, r->port, c->port);
	if (c->bytes[3] == 3) {
		if (!r->is_domain || strcmp(r->domain, c->dst) != 0 || r->dst.len != 0)
			fail_msg("request %zu: domain %d '%s', want '%s'", i, r->is_domain, r->domain,
				 c->dst);
		return;
	}
	if (addr_parse(c->dst, strlen(c->dst), ADDR_PORT_REQUIRED, &want) != 0)
		fail_msg("request %zu: bad test address %s", i, c->dst);
	if (r->is_domain || r->domain[0] != '\0' || !addr_equal(&r->dst, &want)) {
		char got[ADDR_TEXT_MAX];
		fail_msg("request %zu: dst %s, want %s", i, addr_format(&r->dst, got, sizeof(got)),
			 c->dst);
	}
}

static void
test_socks5_request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(request_cases) / sizeof(request_cases[0]); i++) {
		const struct request_case *c = &request_cases[i];

		for (size_t k = 0; k <= c->len; k++) {
			int want = k < c->at ? 0 : c->rc;
			uint8_t want_code = k < c->at ? SOCKS5_OK : c->code;
			struct socks5_request r;
			uint8_t code = 0xee;
			const char *err = NULL;
			int rc = socks5_parse_request(c->bytes, k, &r, &code, &err);

			if (rc != want || code != want_code)
				fail_msg("request %zu, %zu of %zu bytes: rc %d code %u, want %d code %u",
					 i, k, c->len, rc, code, want, want_code);
			if (rc < 0 && (err == NULL || err[0] == '\0'))
				fail_msg("request %zu: refused without a reason", i);
			if (rc > 0 || (rc < 0 && code == SOCKS5_CMD_UNSUPPORTED))
				t_request_check(i, c, &r);
		}
	}
}

/* Names of 253 bytes (DNSNAME_MAX) pass; 254 and 255 never do. */
static void
test_socks5_request_name_max(void **state)
{
	uint8_t req[SOCKS5_REQUEST_MAX];
	struct socks5_request r;
	uint8_t code;
	const char *err;

	(void)state;
	for (size_t n = DNSNAME_MAX; n <= 255; n++) {
		size_t len = 5 + n + 2;

		memcpy(req, "\x05\x01\x00\x03", 4);
		req[4] = (uint8_t)n;
		/* Labels of 63 "a"s, dot-separated. */
		for (size_t j = 0; j < n; j++)
			req[5 + j] = (j + 1) % 64 == 0 ? '.' : 'a';
		req[5 + n] = 0;
		req[6 + n] = 25;
		if (n == DNSNAME_MAX) {
			assert_int_equal(socks5_parse_request(req, len, &r, &code, &err), (int)len);
			assert_int_equal(strlen(r.domain), DNSNAME_MAX);
			assert_int_equal(dnsname_check(r.domain, DNSNAME_MAX, 0), 0);
			assert_memory_equal(r.domain, req + 5, DNSNAME_MAX);
		} else {
			assert_int_equal(socks5_parse_request(req, 5, &r, &code, &err), -1);
			assert_int_equal(code, SOCKS5_FAILURE);
			assert_int_equal(socks5_parse_request(req, len, &r, &code, &err), -1);
			assert_int_equal(code, SOCKS5_FAILURE);
		}
	}
	/* The longest request there is. */
	assert_int_equal(5 + 255 + 2, SOCKS5_REQUEST_MAX);
}

/* What a client that does not wait for the method reply sends at once. */
static void
test_socks5_pipelined_session(void **state)
{
	static const uint8_t stream[] = T_CURL_GREETING T_CURL_REQUEST_DOMAIN;
	struct socks5_request r;
	uint8_t method[2], code;
	const char *err;
	int noauth, g, q;

	(void)state;
	g = socks5_parse_greeting(stream, sizeof(stream) - 1, &noauth, &err);
	assert_int_equal(g, 4);
	assert_int_equal(noauth, 1);
	socks5_method_reply(noauth, method);
	assert_memory_equal(method, "\x05\x00", 2);
	q = socks5_parse_request(stream + g, sizeof(stream) - 1 - (size_t)g, &r, &code, &err);
	assert_int_equal(q, 22);
	assert_int_equal((size_t)(g + q), sizeof(stream) - 1);
	assert_int_equal(code, SOCKS5_OK);
	assert_int_equal(r.cmd, 1);
	assert_true(r.is_domain);
	assert_string_equal(r.domain, "mx.example.test");
	assert_int_equal(r.port, 25);
}

/* ---- reply --------------------------------------------------------------- */

static void
t_addr(const char *text, struct addr *a_r)
{
	if (addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, a_r) != 0)
		fail_msg("bad test address %s", text);
}

static void
test_socks5_encode_reply(void **state)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	struct addr a;

	(void)state;
	assert_int_equal(socks5_encode_reply(SOCKS5_OK, NULL, out), 10);
	assert_memory_equal(out, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	assert_int_equal(socks5_encode_reply(SOCKS5_NOT_ALLOWED, NULL, out), 10);
	assert_memory_equal(out, "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", 10);

	t_addr("198.51.100.1:40000", &a);
	assert_int_equal(socks5_encode_reply(SOCKS5_OK, &a, out), 10);
	assert_memory_equal(out, "\x05\x00\x00\x01\xc6\x33\x64\x01\x9c\x40", 10);

	t_addr("[2001:db8::1]:1080", &a);
	assert_int_equal(socks5_encode_reply(SOCKS5_HOST_UNREACHABLE, &a, out), SOCKS5_REPLY_MAX);
	assert_memory_equal(out, "\x05\x04\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00"
				 "\x00\x00\x00\x01\x04\x38", SOCKS5_REPLY_MAX);

	/* IPv4-mapped: as IPv4. */
	t_addr("[::ffff:192.0.2.7]:25", &a);
	assert_int_equal(socks5_encode_reply(SOCKS5_REFUSED, &a, out), 10);
	assert_memory_equal(out, "\x05\x05\x00\x01\xc0\x00\x02\x07\x00\x19", 10);

	/* Neither IPv4 nor IPv6: as NULL. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(socks5_encode_reply(SOCKS5_FAILURE, &a, out), 10);
	assert_memory_equal(out, "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	a.ss.ss_family = AF_UNIX;
	assert_int_equal(socks5_encode_reply(SOCKS5_FAILURE, &a, out), 10);
	assert_memory_equal(out, "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 10);
}

/* A reply has a request's layout: with REP 1 it reads back as CONNECT to the bound address. */
static void
test_socks5_reply_round_trip(void **state)
{
	static const char *const bound[] = {
		"192.0.2.1:25", "203.0.113.254:65535", "[2001:db8::25]:587", "[::]:1",
		"0.0.0.0:1",
	};
	uint8_t out[SOCKS5_REPLY_MAX], code;
	struct socks5_request r;
	const char *err;
	struct addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
		size_t n;

		t_addr(bound[i], &a);
		n = socks5_encode_reply(1, &a, out);
		if (socks5_parse_request(out, n, &r, &code, &err) != (int)n || r.is_domain ||
		    !addr_equal(&r.dst, &a) || r.port != addr_port(&a))
			fail_msg("%s: does not read back", bound[i]);
	}
}

/* ---- forbidden destinations ---------------------------------------------- */

struct forbidden_case {
	const char *addr;
	int forbidden;
};

static const struct forbidden_case forbidden_cases[] = {
	/* 0.0.0.0/8 */
	{ "0.0.0.0", 1 },
	{ "0.1.2.3", 1 },
	{ "0.255.255.255", 1 },
	{ "1.0.0.0", 0 },
	/* 10.0.0.0/8 */
	{ "9.255.255.255", 0 },
	{ "10.0.0.0", 1 },
	{ "10.20.30.40", 1 },
	{ "10.255.255.255", 1 },
	{ "11.0.0.0", 0 },
	/* 100.64.0.0/10 */
	{ "100.63.255.255", 0 },
	{ "100.64.0.0", 1 },
	{ "100.100.100.100", 1 },
	{ "100.127.255.255", 1 },
	{ "100.128.0.0", 0 },
	/* 127.0.0.0/8 */
	{ "126.255.255.255", 0 },
	{ "127.0.0.1", 1 },
	{ "127.0.0.53", 1 },
	{ "127.255.255.255", 1 },
	{ "128.0.0.0", 0 },
	/* 169.254.0.0/16 */
	{ "169.253.255.255", 0 },
	{ "169.254.0.0", 1 },
	{ "169.254.169.254", 1 },
	{ "169.254.255.255", 1 },
	{ "169.255.0.0", 0 },
	/* 172.16.0.0/12 */
	{ "172.15.255.255", 0 },
	{ "172.16.0.0", 1 },
	{ "172.20.1.1", 1 },
	{ "172.31.255.255", 1 },
	{ "172.32.0.0", 0 },
	/* 192.168.0.0/16 */
	{ "192.167.255.255", 0 },
	{ "192.168.0.0", 1 },
	{ "192.168.1.1", 1 },
	{ "192.168.255.255", 1 },
	{ "192.169.0.0", 0 },
	/* 224.0.0.0/4, 240.0.0.0/4 */
	{ "223.255.255.255", 0 },
	{ "224.0.0.0", 1 },
	{ "224.0.0.251", 1 },
	{ "239.255.255.255", 1 },
	{ "240.0.0.0", 1 },
	{ "255.255.255.254", 1 },
	{ "255.255.255.255", 1 },
	/* Documentation (the bench) and public addresses. */
	{ "192.0.2.0", 0 },
	{ "192.0.2.1", 0 },
	{ "192.0.2.255", 0 },
	{ "198.51.100.25", 0 },
	{ "203.0.113.50", 0 },
	{ "8.8.8.8", 0 },
	{ "1.1.1.1", 0 },
	{ "100.0.0.1", 0 },
	{ "172.217.0.1", 0 },
	{ "192.0.0.1", 0 },
	{ "223.1.2.3", 0 },
	/* The port does not matter. */
	{ "127.0.0.1:25", 1 },
	{ "192.0.2.1:25", 0 },
	{ "[::1]:25", 1 },
	{ "[2001:db8::1]:25", 0 },
	/* IPv6: unspecified, loopback. */
	{ "::", 1 },
	{ "::1", 1 },
	/* 100::/64 */
	{ "100::", 1 },
	{ "100::ffff:ffff:ffff:ffff", 1 },
	{ "100:0:0:1::", 0 },
	{ "ff::ffff", 0 },
	/* fc00::/7 */
	{ "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "fc00::", 1 },
	{ "fd12:3456:789a::1", 1 },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "fe00::", 0 },
	{ "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	/* fe80::/10, fec0::/10 */
	{ "fe80::", 1 },
	{ "fe80::1", 1 },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "fec0::1", 1 },
	{ "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	/* ff00::/8 */
	{ "ff00::", 1 },
	{ "ff02::1", 1 },
	{ "ff05::1:3", 1 },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	/* Allowed IPv6. */
	{ "2001:db8::", 0 },
	{ "2001:db8::25", 0 },
	{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "2001:4860:4860::8888", 0 },
	{ "2a00:1450:4001::1b", 0 },
	{ "::2:0:0", 0 },
	/* IPv4-mapped. */
	{ "::ffff:127.0.0.1", 1 },
	{ "::ffff:0.0.0.0", 1 },
	{ "::ffff:10.1.2.3", 1 },
	{ "::ffff:100.64.0.1", 1 },
	{ "::ffff:169.254.169.254", 1 },
	{ "::ffff:172.16.0.1", 1 },
	{ "::ffff:192.168.0.1", 1 },
	{ "::ffff:224.0.0.1", 1 },
	{ "::ffff:255.255.255.255", 1 },
	{ "::ffff:7f00:1", 1 },
	{ "::ffff:192.0.2.1", 0 },
	{ "::ffff:8.8.8.8", 0 },
	/* IPv4-compatible (::/96): ::2 is 0.0.0.2. */
	{ "::2", 1 },
	{ "::127.0.0.1", 1 },
	{ "::10.0.0.1", 1 },
	{ "::192.168.1.1", 1 },
	{ "::192.0.2.1", 0 },
	{ "::8.8.8.8", 0 },
	/* NAT64 64:ff9b::/96 */
	{ "64:ff9b::127.0.0.1", 1 },
	{ "64:ff9b::10.0.0.1", 1 },
	{ "64:ff9b::a9fe:a9fe", 1 },
	{ "64:ff9b::", 1 },
	{ "64:ff9b::192.0.2.33", 0 },
	{ "64:ff9b::8.8.8.8", 0 },
	{ "64:ff9b:0:0:1::7f00:1", 0 },
	/* 6to4 2002::/16: the IPv4 address follows the prefix. */
	{ "2002:7f00:1::", 1 },
	{ "2002:7f00:1::1", 1 },
	{ "2002:a00:1:1::1", 1 },
	{ "2002:c0a8:101::", 1 },
	{ "2002:a9fe:a9fe::", 1 },
	{ "2002:6440:1::", 1 },
	{ "2002::", 1 },
	{ "2002:c000:201::1", 0 },
	{ "2002:808:808::", 0 },
	{ "2003:7f00:1::", 0 },
};

static void
test_socks5_forbidden_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forbidden_cases) / sizeof(forbidden_cases[0]); i++) {
		const struct forbidden_case *c = &forbidden_cases[i];
		struct addr a;

		t_addr(c->addr, &a);
		if (socks5_forbidden_destination(&a) != c->forbidden)
			fail_msg("%s: want %d", c->addr, c->forbidden);
	}
}

/* Every IPv4 verdict holds for its IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms. */
static void
test_socks5_forbidden_embedded(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forbidden_cases) / sizeof(forbidden_cases[0]); i++) {
		static const char *const prefixes[] = { "::ffff:", "::", "64:ff9b::" };
		const struct forbidden_case *c = &forbidden_cases[i];
		char text[ADDR_TEXT_MAX];
		uint8_t b[16];
		struct addr a;

		if (strchr(c->addr, ':') != NULL)
			continue;
		for (size_t f = 0; f < sizeof(prefixes) / sizeof(prefixes[0]); f++) {
			snprintf(text, sizeof(text), "%s%s", prefixes[f], c->addr);
			t_addr(text, &a);
			if (socks5_forbidden_destination(&a) != c->forbidden)
				fail_msg("%s: want %d", text, c->forbidden);
		}
		t_addr(c->addr, &a);
		assert_int_equal(addr_ip_bytes(&a, b), 4);
		snprintf(text, sizeof(text), "2002:%x:%x::1", (unsigned)(b[0] << 8 | b[1]),
			 (unsigned)(b[2] << 8 | b[3]));
		t_addr(text, &a);
		if (socks5_forbidden_destination(&a) != c->forbidden)
			fail_msg("%s: want %d", text, c->forbidden);
	}
}

/* What is neither IPv4 nor IPv6 is never a destination. */
static void
test_socks5_forbidden_other(void **state)
{
	struct addr a;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(socks5_forbidden_destination(&a), 1);
	a.ss.ss_family = AF_UNIX;
	a.len = sizeof(a.ss);
	assert_int_equal(socks5_forbidden_destination(&a), 1);
}

/* ---- the client side ------------------------------------------------------ */

#define E_VERSION "not SOCKS version 5"

static void
test_socks5_client_greeting(void **state)
{
	uint8_t out[SOCKS5_CLIENT_GREETING_LEN];
	const char *err = NULL;
	int noauth = -1;

	(void)state;
	socks5_client_greeting(out);
	assert_memory_equal(out, "\x05\x01\x00", SOCKS5_CLIENT_GREETING_LEN);
	/* The server side takes it, with "no authentication" offered. */
	assert_int_equal(socks5_parse_greeting(out, sizeof(out), &noauth, &err), SOCKS5_CLIENT_GREETING_LEN);
	assert_int_equal(noauth, 1);
}

struct method_case {
	const uint8_t *bytes;
	size_t len;
	size_t at;		/* prefixes shorter than this need more; from here on, rc */
	int rc;
	const char *err;	/* when -1 */
};

static const struct method_case method_cases[] = {
	{ B("\x05\x00"), 2, 2, NULL },
	/* The server's next message may follow; it is not part of this one. */
	{ B("\x05\x00\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x19"), 2, 2, NULL },
	/* Need more. */
	{ B(""), T_NEVER, 0, NULL },
	{ B("\x05"), T_NEVER, 0, NULL },
	/* No method we offered. */
	{ B("\x05\xff"), 2, -1, "no acceptable method" },
	{ B("\x05\x01"), 2, -1, "server chose a method not offered" },
	{ B("\x05\x02"), 2, -1, "server chose a method not offered" },
	{ B("\x05\x80\x00"), 2, -1, "server chose a method not offered" },
	{ B("\x05\xfe"), 2, -1, "server chose a method not offered" },
	/* Not SOCKS5: refused at the first byte. */
	{ B("\x04\x00"), 1, -1, E_VERSION },
	{ B("\x00\x5a\x00\x19\xc0\x00\x02\x0a"), 1, -1, E_VERSION },	/* a SOCKS4 reply */
	{ B("\x01\x00"), 1, -1, E_VERSION },	/* a username/password status */
	{ B("HTTP/1.1 400 Bad Request\r\n"), 1, -1, E_VERSION },
	{ B("220 mx.example.test ESMTP\r\n"), 1, -1, E_VERSION },
};

static void
test_socks5_method_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(method_cases) / sizeof(method_cases[0]); i++) {
		const struct method_case *c = &method_cases[i];

		for (size_t k = 0; k <= c->len; k++) {
			int want = k < c->at ? 0 : c->rc, rc;
			const char *err = NULL;

			rc = socks5_parse_method_reply(c->bytes, k, &err);
			if (rc != want)
				fail_msg("method reply %zu, %zu of %zu bytes: rc %d, want %d", i, k, c->len,
					 rc, want);
			if (rc < 0 && (err == NULL || strcmp(err, c->err) != 0))
				fail_msg("method reply %zu: '%s', want '%s'", i, err ? err : "(null)",
					 c->err);
		}
	}
}

/* What the server side writes, the client side reads. */
static void
test_socks5_method_reply_round_trip(void **state)
{
	uint8_t out[2];
	const char *err = NULL;

	(void)state;
	socks5_method_reply(1, out);
	assert_int_equal(socks5_parse_method_reply(out, sizeof(out), &err), 2);
	socks5_method_reply(0, out);
	assert_int_equal(socks5_parse_method_reply(out, sizeof(out), &err), -1);
	assert_string_equal(err, "no acceptable method");
}

/* The requests curl sends are the ones we send. */
static void
test_socks5_encode_connect(void **state)
{
	static const struct {
		const char *dst;
		const uint8_t *want;
		size_t len;
	} cases[] = {
		{ "192.0.2.10:25", B(T_CURL_REQUEST_V4) },
		{ "[2001:db8::25]:25", B(T_CURL_REQUEST_V6) },
		/* IPv4-mapped: as IPv4. */
		{ "[::ffff:192.0.2.10]:25", B(T_CURL_REQUEST_V4) },
		{ "203.0.113.1:65535", B("\x05\x01\x00\x01\xcb\x00\x71\x01\xff\xff") },
		{ "203.0.113.1:1", B("\x05\x01\x00\x01\xcb\x00\x71\x01\x00\x01") },
		{ "[2001:db8:77::1]:587", B("\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x77\x00\x00\x00\x00"
					     "\x00\x00\x00\x00\x00\x01\x02\x4b") },
	};
	uint8_t out[SOCKS5_REQUEST_MAX], code;
	struct socks5_request r;
	const char *err;
	struct addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;

		t_addr(cases[i].dst, &a);
		n = socks5_encode_connect(&a, out);
		if (n != cases[i].len || memcmp(out, cases[i].want, n) != 0)
			fail_msg("%s: %zu bytes, want %zu", cases[i].dst, n, cases[i].len);
		/* The server side reads back the same destination. */
		if (socks5_parse_request(out, n, &r, &code, &err) != (int)n || code != SOCKS5_OK ||
		    r.cmd != 1 || r.is_domain || !addr_equal(&r.dst, &a) || r.port != addr_port(&a))
			fail_msg("%s: does not read back", cases[i].dst);
	}
}

/* No port, or no address: nothing written. */
static void
test_socks5_encode_connect_refused(void **state)
{
	uint8_t out[SOCKS5_REQUEST_MAX], untouched[SOCKS5_REQUEST_MAX];
	struct addr a;

	(void)state;
	memset(out, 0xa5, sizeof(out));
	memset(untouched, 0xa5, sizeof(untouched));
	t_addr("192.0.2.10", &a);
	assert_int_equal(socks5_encode_connect(&a, out), 0);
	t_addr("2001:db8::25", &a);
	assert_int_equal(socks5_encode_connect(&a, out), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(socks5_encode_connect(&a, out), 0);
	a.ss.ss_family = AF_UNIX;
	a.len = sizeof(a.ss);
	assert_int_equal(socks5_encode_connect(&a, out), 0);
	assert_memory_equal(out, untouched, sizeof(out));
}

struct reply_case {
	const uint8_t *bytes;
	size_t len;
	size_t at;		/* prefixes shorter than this need more; from here on, rc */
	int rc;
	uint8_t code;		/* when > 0 */
	const char *bound;	/* when > 0: "ip:port", or NULL for ATYP 3 */
	const char *err;	/* when -1 */
};

static const struct reply_case reply_cases[] = {
	/* Each address type. */
	{ B("\x05\x00\x00\x01\xc6\x33\x64\x01\x9c\x40"), 10, 10, 0, "198.51.100.1:40000", NULL },
	{ B("\x05\x04\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x04\x38"),
	  22, 22, 4, "[2001:db8::1]:1080", NULL },
	{ B("\x05\x00\x00\x03\x0f" "mx.example.test" "\x00\x19"), 22, 22, 0, NULL, NULL },
	/* The stream may follow at once; it is not part of the reply. */
	{ B("\x05\x00\x00\x01\xc0\x00\x02\x01\x00\x19" "220 mx.example.test ESMTP\r\n"), 10, 10, 0,
	  "192.0.2.1:25", NULL },
	{ B("\x05\x00\x00\x03\x01" "a" "\x00\x19" "220"), 8, 8, 0, NULL, NULL },
	/* What our egress sends when it knows no bound address; port 0 is allowed. */
	{ B("\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"), 10, 10, 0, "0.0.0.0", NULL },
	/* IPv4-mapped, as IPv4. */
	{ B("\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x07\x00\x19"),
	  22, 22, 0, "192.0.2.7:25", NULL },
	/* A name is skipped, whatever it holds. */
	{ B("\x05\x00\x00\x03\x03" "\0\xff." "\x00\x00"), 10, 10, 0, NULL, NULL },
	/* Refusals still parse: the caller reads the code. */
	{ B("\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00"), 10, 10, 1, "0.0.0.0", NULL },
	{ B("\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00"), 10, 10, 2, "0.0.0.0", NULL },
	{ B("\x05\x05\x00\x01\xc0\x00\x02\x07\x00\x19"), 10, 10, 5, "192.0.2.7:25", NULL },
	{ B("\x05\x08\x00\x03\x01" "x" "\x00\x01"), 8, 8, 8, NULL, NULL },
	{ B("\x05\xff\x00\x01\x00\x00\x00\x00\x00\x00"), 10, 10, 0xff, "0.0.0.0", NULL },
	/* Need more. */
	{ B(""), T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05"), T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05\x00\x00"), T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05\x00\x00\x01\xc0\x00\x02\x01\x00"), T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05\x00\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"),
	  T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05\x00\x00\x03"), T_NEVER, 0, 0, NULL, NULL },
	{ B("\x05\x00\x00\x03\x0f" "mx.example.test" "\x00"), T_NEVER, 0, 0, NULL, NULL },
	/* Malformed: refused at the byte that shows it. */
	{ B("\x04\x00\x00\x01\x00\x00\x00\x00\x00\x00"), 1, -1, 0, NULL, E_VERSION },
	{ B("\x00\x5a\x00\x19\xc0\x00\x02\x0a"), 1, -1, 0, NULL, E_VERSION },	/* SOCKS4 granted */
	{ B("HTTP/1.1 200 Connection established\r\n"), 1, -1, 0, NULL, E_VERSION },
	{ B("\x05\x00\x01\x01\xc0\x00\x02\x01\x00\x19"), 3, -1, 0, NULL, "reserved byte not 0" },
	{ B("\x05\x00\xff\x01\xc0\x00\x02\x01\x00\x19"), 3, -1, 0, NULL, "reserved byte not 0" },
	{ B("\x05\x00\x00\x00\xc0\x00\x02\x01\x00\x19"), 4, -1, 0, NULL, "address type not supported" },
	{ B("\x05\x00\x00\x02\xc0\x00\x02\x01\x00\x19"), 4, -1, 0, NULL, "address type not supported" },
	{ B("\x05\x00\x00\x05"), 4, -1, 0, NULL, "address type not supported" },
	{ B("\x05\x00\x00\xff"), 4, -1, 0, NULL, "address type not supported" },
	{ B("\x05\x00\x00\x03\x00\x00\x19"), 5, -1, 0, NULL, "domain name length 0" },
	/* Version first, then RSV, then ATYP. */
	{ B("\x06\x00\x01\x02"), 1, -1, 0, NULL, E_VERSION },
	{ B("\x05\x00\x01\x02"), 3, -1, 0, NULL, "reserved byte not 0" },
};

static void
test_socks5_parse_reply_table(void **state)
{
	static const struct addr zero;

	(void)state;
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];

		for (size_t k = 0; k <= c->len; k++) {
			int want = k < c->at ? 0 : c->rc, rc;
			const char *err = NULL;
			uint8_t code = 0xee;
			struct addr bound, want_bound;

			memset(&bound, 0xa5, sizeof(bound));
			rc = socks5_parse_reply(c->bytes, k, &code, &bound, &err);
			if (rc != want)
				fail_msg("reply %zu, %zu of %zu bytes: rc %d, want %d", i, k, c->len, rc,
					 want);
			if (rc < 0 && (err == NULL || strcmp(err, c->err) != 0))
				fail_msg("reply %zu: '%s', want '%s'", i, err ? err : "(null)", c->err);
			if (rc <= 0) {
				if (code != SOCKS5_FAILURE || memcmp(&bound, &zero, sizeof(bound)) != 0)
					fail_msg("reply %zu, %zu bytes: code %u or bound address left set", i,
						 k, code);
				continue;
			}
			if (code != c->code)
				fail_msg("reply %zu: code %u, want %u", i, code, c->code);
			if (c->bound == NULL) {
				if (memcmp(&bound, &zero, sizeof(bound)) != 0)
					fail_msg("reply %zu: a bound address for a name", i);
				continue;
			}
			t_addr(c->bound, &want_bound);
			if (!addr_equal(&bound, &want_bound)) {
				char got[ADDR_TEXT_MAX];
				fail_msg("reply %zu: bound %s, want %s", i,
					 addr_format(&bound, got, sizeof(got)), c->bound);
			}
		}
	}
}

/* The longest reply: a 255-byte name. */
static void
test_socks5_parse_reply_name_max(void **state)
{
	uint8_t in[7 + 255 + 1];
	struct addr bound;
	const char *err;
	uint8_t code;

	(void)state;
	memcpy(in, "\x05\x00\x00\x03\xff", 5);
	memset(in + 5, 'a', 255);
	in[260] = 0;
	in[261] = 25;
	in[262] = 'x';
	assert_int_equal(socks5_parse_reply(in, 261, &code, &bound, &err), 0);
	assert_int_equal(socks5_parse_reply(in, 262, &code, &bound, &err), 262);
	assert_int_equal(socks5_parse_reply(in, sizeof(in), &code, &bound, &err), 262);
	assert_int_equal(code, SOCKS5_OK);
	assert_int_equal(bound.len, 0);
}

/* Every reply the server side writes, the client side reads back: code, address and port. */
static void
test_socks5_parse_reply_round_trip(void **state)
{
	static const char *const bound[] = {
		"192.0.2.1:25", "203.0.113.254:65535", "[2001:db8::25]:587", "[::]:1", "0.0.0.0",
		"[::ffff:198.51.100.9]:2525",
	};
	static const uint8_t codes[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x80, 0xff };
	uint8_t out[SOCKS5_REPLY_MAX], code;
	struct addr a, back;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
		for (size_t j = 0; j < sizeof(codes) / sizeof(codes[0]); j++) {
			size_t n;

			t_addr(bound[i], &a);
			n = socks5_encode_reply(codes[j], &a, out);
			if (socks5_parse_reply(out, n, &code, &back, &err) != (int)n || code != codes[j] ||
			    !addr_equal(&back, &a))
				fail_msg("%s, code %u: does not read back", bound[i], codes[j]);
		}
	}
	/* No bound address: 0.0.0.0 port 0. */
	assert_int_equal(socks5_encode_reply(SOCKS5_REFUSED, NULL, out), 10);
	assert_int_equal(socks5_parse_reply(out, 10, &code, &back, &err), 10);
	assert_int_equal(code, SOCKS5_REFUSED);
	t_addr("0.0.0.0", &a);
	assert_true(addr_equal(&back, &a));
}

static void
test_socks5_reply_text(void **state)
{
	static const char *const want[] = {
		"succeeded",
		"general SOCKS server failure",
		"connection not allowed by ruleset",
		"network unreachable",
		"host unreachable",
		"connection refused",
		"TTL expired",
		"command not supported",
		"address type not supported",
	};

	(void)state;
	for (unsigned code = 0; code < 256; code++) {
		const char *text = socks5_reply_text((uint8_t)code);

		assert_non_null(text);
		if (code < sizeof(want) / sizeof(want[0]))
			assert_string_equal(text, want[code]);
		else
			assert_string_equal(text, "unknown reply code");
	}
	assert_string_equal(socks5_reply_text(SOCKS5_NOT_ALLOWED), "connection not allowed by ruleset");
	assert_string_equal(socks5_reply_text(SOCKS5_REFUSED), "connection refused");
}

/* A whole handshake, our client against our server side, as the home and the edge run it. */
static void
test_socks5_client_session(void **state)
{
	uint8_t greeting[SOCKS5_CLIENT_GREETING_LEN], method[2], request[SOCKS5_REQUEST_MAX];
	uint8_t reply[SOCKS5_REPLY_MAX], code;
	struct socks5_request r;
	struct addr dst, bound, back;
	const char *err;
	size_t n;
	int noauth;

	(void)state;
	socks5_client_greeting(greeting);
	assert_int_equal(socks5_parse_greeting(greeting, sizeof(greeting), &noauth, &err), 3);
	socks5_method_reply(noauth, method);
	assert_int_equal(socks5_parse_method_reply(method, sizeof(method), &err), 2);

	t_addr("[2001:db8::25]:25", &dst);
	n = socks5_encode_connect(&dst, request);
	assert_int_equal(n, 22);
	assert_int_equal(socks5_parse_request(request, n, &r, &code, &err), 22);
	assert_true(addr_equal(&r.dst, &dst));
	assert_int_equal(socks5_forbidden_destination(&r.dst), 0);

	t_addr("203.0.113.1:40001", &bound);
	n = socks5_encode_reply(SOCKS5_OK, &bound, reply);
	assert_int_equal(socks5_parse_reply(reply, n, &code, &back, &err), 10);
	assert_int_equal(code, SOCKS5_OK);
	assert_true(addr_equal(&back, &bound));

	/* A forbidden destination: the egress refuses, the client reads why. */
	t_addr("127.0.0.1:25", &dst);
	n = socks5_encode_connect(&dst, request);
	assert_int_equal(socks5_parse_request(request, n, &r, &code, &err), 10);
	assert_int_equal(socks5_forbidden_destination(&r.dst), 1);
	n = socks5_encode_reply(SOCKS5_NOT_ALLOWED, NULL, reply);
	assert_int_equal(socks5_parse_reply(reply, n, &code, &back, &err), 10);
	assert_string_equal(socks5_reply_text(code), "connection not allowed by ruleset");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socks5_greeting_table),
		cmocka_unit_test(test_socks5_greeting_max),
		cmocka_unit_test(test_socks5_method_reply),
		cmocka_unit_test(test_socks5_request_table),
		cmocka_unit_test(test_socks5_request_name_max),
		cmocka_unit_test(test_socks5_pipelined_session),
		cmocka_unit_test(test_socks5_encode_reply),
		cmocka_unit_test(test_socks5_reply_round_trip),
		cmocka_unit_test(test_socks5_forbidden_table),
		cmocka_unit_test(test_socks5_forbidden_embedded),
		cmocka_unit_test(test_socks5_forbidden_other),
		cmocka_unit_test(test_socks5_client_greeting),
		cmocka_unit_test(test_socks5_method_reply_table),
		cmocka_unit_test(test_socks5_method_reply_round_trip),
		cmocka_unit_test(test_socks5_encode_connect),
		cmocka_unit_test(test_socks5_encode_connect_refused),
		cmocka_unit_test(test_socks5_parse_reply_table),
		cmocka_unit_test(test_socks5_parse_reply_name_max),
		cmocka_unit_test(test_socks5_parse_reply_round_trip),
		cmocka_unit_test(test_socks5_reply_text),
		cmocka_unit_test(test_socks5_client_session),
	};
	return cmocka_run_group_tests_name("socks5", tests, NULL, NULL);
}
