/*
 * Unit tests for shared/httphead: request heads, each fed whole and one byte
 * at a time, with the exact status, host, port and head length, or the
 * exact byte at which a bad head is refused and why; where the method and
 * the target are; the HTTPHEAD_MAX limit
 * and the longest host name; the fixed replies.
 *
 * The curl and Python heads are real: each client talked to a small Python
 * listener on 127.0.0.1 that recorded everything up to the blank line (and
 * what followed in the same read) and answered 204:
 *   curl 7.88.1:   curl --connect-to example.test:80:127.0.0.1:PORT
 *                    http://example.test/.well-known/acme-challenge/TOKEN
 *                  curl --connect-to example.test:8080:127.0.0.1:PORT
 *                    http://EXAMPLE.test:8080/
 *   Python 3.11.2: http.client.HTTPConnection('127.0.0.1', PORT), then
 *                    request('GET', '/', headers={'Host': 'example.test'})
 *                    request('POST', '/submit?x=1', body=b'a=b',
 *                      headers={'Host': 'example.test', 'Content-Type': ...})
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dnsname.h"
#include "httphead.h"
#include "num.h"

#define T_HEAD_MAX (HTTPHEAD_MAX + 64)

#define T_CURL_ACME \
	"GET /.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0 HTTP/1.1\r\n" \
	"Host: example.test\r\n" \
	"User-Agent: curl/7.88.1\r\n" \
	"Accept: */*\r\n" \
	"\r\n"
#define T_CURL_PORT \
	"GET / HTTP/1.1\r\n" \
	"Host: EXAMPLE.test:8080\r\n" \
	"User-Agent: curl/7.88.1\r\n" \
	"Accept: */*\r\n" \
	"\r\n"
#define T_PYTHON_GET \
	"GET / HTTP/1.1\r\n" \
	"Accept-Encoding: identity\r\n" \
	"Host: example.test\r\n" \
	"\r\n"
#define T_PYTHON_POST \
	"POST /submit?x=1 HTTP/1.1\r\n" \
	"Accept-Encoding: identity\r\n" \
	"Content-Length: 3\r\n" \
	"Host: example.test\r\n" \
	"Content-Type: application/x-www-form-urlencoded\r\n" \
	"\r\n"
#define T_PYTHON_POST_BODY "a=b"

/* A request line and what precedes the Host header in most cases. */
#define RL "GET / HTTP/1.1\r\n"
#define H RL "Host: "

#define HOST HTTPHEAD_HOST
#define MORE HTTPHEAD_MORE
#define BAD HTTPHEAD_INVALID

/*
 * ok, then rest. HOST: ok is the head, rest follows it (a body, the next
 * request). BAD: ok is the longest prefix that still needs more, and the
 * first byte of rest is refused. MORE: ok is all of it, rest is "".
 */
struct head_case {
	const char *ok;
	const char *rest;
	size_t rest_len;	/* 0: strlen(rest) */
	enum httphead_status status;
	const char *host;	/* HOST: the host; BAD: the error */
	uint16_t port;
};

static const struct head_case head_cases[] = {
	/* Real clients. */
	{ T_CURL_ACME, "", 0, HOST, "example.test", 0 },
	{ T_CURL_PORT, "", 0, HOST, "example.test", 8080 },
	{ T_PYTHON_GET, "", 0, HOST, "example.test", 0 },
	{ T_PYTHON_POST, T_PYTHON_POST_BODY, 0, HOST, "example.test", 0 },
	/* What follows the head is not looked at. */
	{ T_CURL_ACME, T_CURL_ACME, 0, HOST, "example.test", 0 },
	{ T_PYTHON_GET, "\0\x01\xff garbage\n", 13, HOST, "example.test", 0 },
	/* Versions, methods, targets. */
	{ "GET / HTTP/1.0\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ "HEAD /x HTTP/1.1\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ "OPTIONS * HTTP/1.1\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ "GET http://example.test/a?b=c#d HTTP/1.1\r\nHost: example.test\r\n\r\n", "", 0, HOST,
	  "example.test", 0 },
	{ "X!#$%&'*+-.^_`|~9 / HTTP/1.1\r\nHost: example.test\r\n\r\n", "", 0, HOST,
	  "example.test", 0 },
	{ "GET /%7e~!$&'()*+,;=:@[]{}\"<>\\^`| HTTP/1.1\r\nHost: example.test\r\n\r\n", "", 0,
	  HOST, "example.test", 0 },
	/* Header names in any case; other headers in any order. */
	{ RL "HOST: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "hOsT: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "X-Host: a\r\nHosts: b\r\nHost: example.test\r\nHos: c\r\n\r\n", "", 0, HOST,
	  "example.test", 0 },
	/* Values: empty, obs-text, HTAB, anything printable. */
	{ RL "X-Empty:\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "X-Name: caf\xc3\xa9\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "X-A: \tb\t c \r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "Cookie: a=b; c=\"d e\"\r\nHost: example.test\r\n\r\n", "", 0, HOST, "example.test",
	  0 },
	/* Host: OWS, case, ports, names. */
	{ H "example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "Host:example.test\r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ RL "Host: \t example.test \t \r\n\r\n", "", 0, HOST, "example.test", 0 },
	{ H "Mail.EXAMPLE.Test\r\n\r\n", "", 0, HOST, "mail.example.test", 0 },
	{ H "example.test:80\r\n\r\n", "", 0, HOST, "example.test", 80 },
	{ H "example.test:1\r\n\r\n", "", 0, HOST, "example.test", 1 },
	{ H "example.test:65535\r\n\r\n", "", 0, HOST, "example.test", 65535 },
	{ H "example.test:00080\r\n\r\n", "", 0, HOST, "example.test", 80 },
	{ H "example.test:8080 \r\n\r\n", "", 0, HOST, "example.test", 8080 },
	{ H "localhost\r\n\r\n", "", 0, HOST, "localhost", 0 },
	{ H "xn--bcher-kva.example\r\n\r\n", "", 0, HOST, "xn--bcher-kva.example", 0 },
	{ H "192.0.2.1.example\r\n\r\n", "", 0, HOST, "192.0.2.1.example", 0 },
	{ H "a.1b\r\n\r\n", "", 0, HOST, "a.1b", 0 },
	{ H "a.0xg\r\n\r\n", "", 0, HOST, "a.0xg", 0 },
	{ H "0x7f.example\r\n\r\n", "", 0, HOST, "0x7f.example", 0 },

	/* Need more. */
	{ "", "", 0, MORE, NULL, 0 },
	{ "G", "", 0, MORE, NULL, 0 },
	{ "GET / HTTP/1.", "", 0, MORE, NULL, 0 },
	{ RL, "", 0, MORE, NULL, 0 },
	{ H "exa", "", 0, MORE, NULL, 0 },
	{ H "example.test\r\n", "", 0, MORE, NULL, 0 },
	{ H "example.test\r\n\r", "", 0, MORE, NULL, 0 },
	{ RL "Accept: */*\r\n\r", "", 0, MORE, NULL, 0 },

	/* The request line. */
	{ "", "\r\n" RL "Host: example.test\r\n\r\n", 0, BAD, "bad method", 0 },
	{ "", " GET / HTTP/1.1\r\n", 0, BAD, "bad method", 0 },
	{ "", "\x16\x03\x01\x02\x00\x01", 0, BAD, "bad method", 0 },
	{ "", "\0GET", 4, BAD, "bad method", 0 },
	{ "GET", "\t/ HTTP/1.1\r\n", 0, BAD, "bad method", 0 },
	{ "GET", "\r\n", 0, BAD, "bad method", 0 },
	{ "G", "(ET / HTTP/1.1\r\n", 0, BAD, "bad method", 0 },
	{ "GET ", " / HTTP/1.1\r\n", 0, BAD, "bad request target", 0 },
	{ "GET ", "\r\n", 0, BAD, "bad request target", 0 },
	{ "GET /", "\r\n", 0, BAD, "bad request target", 0 },
	{ "GET /a", "\x7f HTTP/1.1\r\n", 0, BAD, "bad request target", 0 },
	{ "GET /caf", "\xc3\xa9 HTTP/1.1\r\n", 0, BAD, "bad request target", 0 },
	{ "GET /a", "\tb HTTP/1.1\r\n", 0, BAD, "bad request target", 0 },
	{ "GET /a", "\0 HTTP/1.1\r\n", 12, BAD, "bad request target", 0 },
	{ "GET / ", " HTTP/1.1\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / ", "http/1.1\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/", "2.0\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/", "2\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/1.", "2\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/1.", "\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/1.1", "1\r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/1.1", " \r\n", 0, BAD, "bad HTTP version", 0 },
	{ "GET / HTTP/1.1", "\n", 0, BAD, "bare LF", 0 },
	{ "GET / HTTP/1.1\r", "Host: example.test\r\n\r\n", 0, BAD, "CR without LF", 0 },
	{ "GET / HTTP/1.1\r", "\r\n", 0, BAD, "CR without LF", 0 },

	/* Header lines. */
	{ RL, " Host: example.test\r\n\r\n", 0, BAD, "folded or indented header line", 0 },
	{ RL "Host: example.test\r\n", "\tX: y\r\n\r\n", 0, BAD,
	  "folded or indented header line", 0 },
	{ RL "Host: example.test\r\nX-A: b\r\n", " c\r\n\r\n", 0, BAD,
	  "folded or indented header line", 0 },
	{ RL "Host", " : example.test\r\n\r\n", 0, BAD, "bad header name", 0 },
	{ RL "Host", "\t: example.test\r\n\r\n", 0, BAD, "bad header name", 0 },
	{ RL, ":x\r\n", 0, BAD, "bad header name", 0 },
	{ RL "X", "(y): z\r\n", 0, BAD, "bad header name", 0 },
	{ RL "X-A", "\r\n", 0, BAD, "bad header name", 0 },
	{ RL "X-A", "\0: b\r\n", 6, BAD, "bad header name", 0 },
	{ RL, "\xc3\xa9: b\r\n", 0, BAD, "bad header name", 0 },
	{ RL, "\n", 0, BAD, "bare LF", 0 },
	{ RL "Host: example.test\r\n", "\n", 0, BAD, "bare LF", 0 },
	{ RL "Host: example.test", "\n\r\n", 0, BAD, "bare LF", 0 },
	{ RL "X-A: b", "\nHost: example.test\r\n\r\n", 0, BAD, "bare LF", 0 },
	{ RL "Host: example.test\r", "X: y\r\n\r\n", 0, BAD, "CR without LF", 0 },
	{ RL "X-A: b\r", "c\r\n", 0, BAD, "CR without LF", 0 },
	{ RL "Host: example.test\r\n\r", "\r\n", 0, BAD, "CR without LF", 0 },
	{ RL "X-A: b", "\x01\r\n", 0, BAD, "control character in header value", 0 },
	{ RL "X-A: b", "\x7f\r\n", 0, BAD, "control character in header value", 0 },
	{ RL "X-A: b", "\x1b[0m\r\n", 0, BAD, "control character in header value", 0 },
	{ RL "X-A: b", "\0c\r\n", 4, BAD, "control character in header value", 0 },
	{ H "example.test", "\0\r\n", 3, BAD, "control character in header value", 0 },

	/* One Host, no more, no less. */
	{ RL "Accept: */*\r\n\r", "\n", 0, BAD, "no Host", 0 },
	{ RL "\r", "\n", 0, BAD, "no Host", 0 },
	{ RL "Host: a.test\r\nHost", ": a.test\r\n\r\n", 0, BAD, "more than one Host", 0 },
	{ RL "Host: a.test\r\nX: y\r\nhOST", ": b.test\r\n\r\n", 0, BAD, "more than one Host", 0 },
	{ RL "Host: a.test\r\nHost", ":\r\n\r\n", 0, BAD, "more than one Host", 0 },

	/* The Host value. */
	{ H, "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ RL "Host:", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "  \t", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "exa mple.test", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example.test.", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example..test", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "-example.test", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example-.test", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "a23456789012345678901234567890123456789012345678901234567890abcd.test", "\r\n\r\n",
	  0, BAD, "bad Host", 0 },
	{ H ":80", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example.test", "/\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "exa", "_mple.test\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "user", "@example.test\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example.test", ",other.test\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "", "*.example.test\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "caf", "\xc3\xa9.test\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "example.test", "%2e\r\n\r\n", 0, BAD, "bad Host", 0 },
	/* IP addresses: we route by name. */
	{ H, "[2001:db8::1]\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H, "[::1]:80\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "::1", "\r\n\r\n", 0, BAD, "bad Host", 0 },
	{ H "192.0.2.1", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "192.0.2.1:80", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "127.0.0.1:8080", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "127.1", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "2130706433", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "0x7f.0x1", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "0X7F000001", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "example.0x", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "example.123", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	{ H "999.999.999.999", "\r\n\r\n", 0, BAD, "IP address in Host", 0 },
	/* Ports. */
	{ H "example.test:", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:0", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:00000", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:65536", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:99999", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:000080", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:80:80", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test: 80", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:8a", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:-1", "\r\n\r\n", 0, BAD, "bad port in Host", 0 },
	{ H "example.test:", "+80\r\n\r\n", 0, BAD, "bad Host", 0 },
};

/* Feed prefix k of case i (ok + rest) and check the verdict. */
static void
t_head_prefix(size_t i, const struct head_case *c, const uint8_t *in, size_t k)
{
	size_t ok_len = strlen(c->ok);
	enum httphead_status want = MORE, got;
	struct httphead h;

	if (c->status == HOST && k >= ok_len)
		want = HOST;
	else if (c->status == BAD && k > ok_len)
		want = BAD;
	got = httphead_parse(in, k, &h);
	if (got != want)
		fail_msg("case %zu, %zu bytes: status %d (%s), want %d\n--\n%.*s--", i, k, got,
			 got == BAD ? h.error : "", want, (int)k, (const char *)in);
	if (got == HOST && (strcmp(h.host, c->host) != 0 || h.port != c->port ||
			    h.head_len != ok_len))
		fail_msg("case %zu: host '%s' port %u head_len %zu, want '%s' %u %zu", i, h.host,
			 h.port, h.head_len, c->host, c->port, ok_len);
	if (got == BAD && (h.error == NULL || strcmp(h.error, c->host) != 0))
		fail_msg("case %zu, %zu bytes: error '%s', want '%s'", i, k,
			 h.error != NULL ? h.error : "(null)", c->host);
}

static void
test_httphead_table(void **state)
{
	static uint8_t in[T_HEAD_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
		const struct head_case *c = &head_cases[i];
		size_t ok_len = strlen(c->ok);
		size_t rest_len = c->rest_len != 0 ? c->rest_len : strlen(c->rest);

		assert_true(ok_len + rest_len <= sizeof(in));
		memcpy(in, c->ok, ok_len);
		memcpy(in + ok_len, c->rest, rest_len);
		if (c->status == BAD && rest_len == 0)
			fail_msg("case %zu: nothing to refuse", i);
		/* Every prefix, the whole input last: one byte at a time. */
		for (size_t k = 0; k <= ok_len + rest_len; k++)
			t_head_prefix(i, c, in, k);
	}
}

/* Build "GET / HTTP/1.1\r\nHost: example.test\r\nX: aaa...\r\n\r\n" of exactly len bytes. */
static void
t_head_of_len(uint8_t *out, size_t len)
{
	static const char start[] = H "example.test\r\nX: ";
	size_t pad = len - (sizeof(start) - 1) - 4;

	memcpy(out, start, sizeof(start) - 1);
	memset(out + sizeof(start) - 1, 'a', pad);
	memcpy(out + len - 4, "\r\n\r\n", 4);
}

static void
test_httphead_max(void **state)
{
	static uint8_t in[T_HEAD_MAX];
	struct httphead h;

	(void)state;
	/* A head of HTTPHEAD_MAX bytes fits, with or without bytes after it. */
	t_head_of_len(in, HTTPHEAD_MAX);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX - 1, &h), MORE);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX, &h), HOST);
	assert_int_equal(h.head_len, HTTPHEAD_MAX);
	assert_string_equal(h.host, "example.test");
	memset(in + HTTPHEAD_MAX, 'x', sizeof(in) - HTTPHEAD_MAX);
	assert_int_equal(httphead_parse(in, sizeof(in), &h), HOST);
	assert_int_equal(h.head_len, HTTPHEAD_MAX);

	/* One byte more does not: refused once HTTPHEAD_MAX bytes are in. */
	t_head_of_len(in, HTTPHEAD_MAX + 1);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX - 1, &h), MORE);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX, &h), BAD);
	assert_string_equal(h.error, "head too long");
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX + 1, &h), BAD);
	assert_string_equal(h.error, "head too long");

	/* Nor does a request line that never ends. */
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', sizeof(in) - 5);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX - 1, &h), MORE);
	assert_int_equal(httphead_parse(in, HTTPHEAD_MAX, &h), BAD);
	assert_string_equal(h.error, "head too long");
	assert_int_equal(httphead_parse(in, sizeof(in), &h), BAD);
}

/* Host names of DNSNAME_MAX bytes pass, with a port too; one byte longer does not. */
static void
test_httphead_name_max(void **state)
{
	char name[DNSNAME_MAX + 2], lower[DNSNAME_MAX + 2], head[512];
	struct httphead h;
	int n;

	(void)state;
	for (size_t j = 0; j < sizeof(name) - 1; j++) {
		name[j] = (j + 1) % 64 == 0 ? '.' : (j % 2 ? 'A' : 'b');
		lower[j] = name[j] == 'A' ? 'a' : name[j];
	}
	name[DNSNAME_MAX] = '\0';
	lower[DNSNAME_MAX] = '\0';
	assert_int_equal(dnsname_check(name, DNSNAME_MAX, 0), 0);
	n = snprintf(head, sizeof(head), H "%s:65535\r\n\r\n", name);
	assert_true(n > 0 && (size_t)n < sizeof(head));
	assert_int_equal(httphead_parse((const uint8_t *)head, (size_t)n, &h), HOST);
	assert_string_equal(h.host, lower);
	assert_int_equal(h.port, 65535);
	assert_int_equal(h.head_len, (size_t)n);

	name[DNSNAME_MAX] = 'b';
	name[DNSNAME_MAX + 1] = '\0';
	n = snprintf(head, sizeof(head), H "%s\r\n\r\n", name);
	assert_true(n > 0 && (size_t)n < sizeof(head));
	assert_int_equal(httphead_parse((const uint8_t *)head, (size_t)n, &h), BAD);
	assert_string_equal(h.error, "bad Host");
}

/* Each reply is a complete response whose Content-Length is its body's. */
static void
t_reply(const char *reply, const char *status_line, const char *extra)
{
	const char *body = strstr(reply, "\r\n\r\n"), *cl;
	int64_t content_length;

	if (strncmp(reply, status_line, strlen(status_line)) != 0 ||
	    reply[strlen(status_line)] != '\r')
		fail_msg("status line: %s", reply);
	assert_non_null(body);
	body += 4;
	assert_non_null(strstr(reply, "\r\nConnection: close\r\n"));
	cl = strstr(reply, "\r\nContent-Length: ");
	assert_non_null(cl);
	assert_true(cl < body);
	cl += strlen("\r\nContent-Length: ");
	assert_int_equal(num_parse_i64(cl, strcspn(cl, "\r"), 0, 1024, &content_length), 0);
	assert_int_equal((size_t)content_length, strlen(body));
	if (extra != NULL) {
		const char *e = strstr(reply, extra);
		assert_non_null(e);
		assert_true(e < body);
	}
}

static void
test_httphead_replies(void **state)
{
	(void)state;
	t_reply(httphead_reply_misdirected, "HTTP/1.1 421 Misdirected Request", NULL);
	t_reply(httphead_reply_bad_request, "HTTP/1.1 400 Bad Request", NULL);
	t_reply(httphead_reply_unavailable, "HTTP/1.1 503 Service Unavailable",
		"\r\nRetry-After: 60\r\n");
}

/* Where the method and the target are, in real clients' heads. */
static void
t_request_line(const char *head, const char *method, const char *target)
{
	struct httphead h;

	assert_int_equal(httphead_parse((const uint8_t *)head, strlen(head), &h), HOST);
	assert_int_equal(h.method_len, strlen(method));
	assert_memory_equal(head, method, h.method_len);
	assert_int_equal(h.target_len, strlen(target));
	assert_memory_equal(head + h.target_off, target, h.target_len);
}

static void
test_httphead_request_line(void **state)
{
	(void)state;
	t_request_line(T_CURL_ACME, "GET", "/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0");
	t_request_line(T_CURL_PORT, "GET", "/");
	t_request_line(T_PYTHON_POST, "POST", "/submit?x=1");
	t_request_line("M-SEARCH * HTTP/1.0\r\nHost: a.test\r\n\r\n", "M-SEARCH", "*");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_httphead_table),
		cmocka_unit_test(test_httphead_max),
		cmocka_unit_test(test_httphead_name_max),
		cmocka_unit_test(test_httphead_replies),
		cmocka_unit_test(test_httphead_request_line),
	};
	return cmocka_run_group_tests_name("httphead", tests, NULL, NULL);
}
