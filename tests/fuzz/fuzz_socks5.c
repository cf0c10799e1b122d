/*
 * Fuzz target: SOCKS5 greetings and requests (socks5_parse_greeting,
 * socks5_parse_request), the input whole and by prefixes, and a request
 * after a greeting as a client that does not wait sends them. A message
 * that parses is no longer than the input or the protocol maximum, and
 * every shorter prefix of it needs more; a refusal holds for every longer
 * input; a parsed domain passes dnsname_check; a parsed address, sent back
 * as a reply, reads back the same; socks5_forbidden_destination gives an
 * IPv4 address and its IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms
 * the same verdict.
 */
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "dnsname.h"
#include "fuzz.h"
#include "socks5.h"

#define FUZZ_SOCKS5_REQUEST_MIN 8	/* a 1-byte domain name */

static void
fuzz_greeting_check(const uint8_t *data, size_t size, int rc, int noauth, const char *err)
{
	if (rc > 0 && ((size_t)rc > size || rc > SOCKS5_GREETING_MAX || rc < 3 ||
		       rc != 2 + data[1] || (noauth != 0 && noauth != 1)))
		__builtin_trap();
	if (rc == 0 && size >= SOCKS5_GREETING_MAX)
		__builtin_trap();
	if (rc < 0 && (err == NULL || err[0] == '\0'))
		__builtin_trap();
}

/* Returns the greeting's length, or 0. */
static size_t
fuzz_greeting(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	int noauth = -1, rc = socks5_parse_greeting(data, size, &noauth, &err);
	size_t max = size < SOCKS5_GREETING_MAX ? size : SOCKS5_GREETING_MAX;
	uint8_t reply[2];

	fuzz_greeting_check(data, size, rc, noauth, err);
	if (rc > 0) {
		socks5_method_reply(noauth, reply);
		if (reply[0] != 5 || reply[1] != (noauth ? 0x00 : 0xff))
			__builtin_trap();
	}
	for (size_t k = 0; k < max; k++) {
		int k_noauth = -1, k_rc = socks5_parse_greeting(data, k, &k_noauth, &err);

		if ((k_rc > 0 && (k_rc != rc || k_noauth != noauth)) || (k_rc < 0 && rc >= 0) ||
		    (rc > 0 && k < (size_t)rc && k_rc != 0))
			__builtin_trap();
	}
	return rc > 0 ? (size_t)rc : 0;
}

/* The verdict for a and for v4 (the IPv4 form of a) agree. */
static void
fuzz_forbidden_same(const struct addr *a, int v4_verdict)
{
	int f = socks5_forbidden_destination(a);

	if (f != v4_verdict)
		__builtin_trap();
}

static void
fuzz_set_v6(struct addr *a_r, const uint8_t b[16])
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a_r->ss;

	memset(a_r, 0, sizeof(*a_r));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, b, 16);
	a_r->len = sizeof(*sin6);
}

/* An IPv4 address in its IPv6 forms gets the IPv4 verdict. */
static void
fuzz_forbidden_forms(const uint8_t v4[4])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	struct sockaddr_in *sin;
	uint8_t b[16];
	struct addr a;
	int verdict;

	memset(&a, 0, sizeof(a));
	sin = (struct sockaddr_in *)&a.ss;
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, v4, 4);
	a.len = sizeof(*sin);
	verdict = socks5_forbidden_destination(&a);
	if (verdict != 0 && verdict != 1)
		__builtin_trap();

	memcpy(b, mapped, 12);
	memcpy(b + 12, v4, 4);
	fuzz_set_v6(&a, b);
	fuzz_forbidden_same(&a, verdict);

	memcpy(b, nat64, 12);
	fuzz_set_v6(&a, b);
	fuzz_forbidden_same(&a, verdict);

	memset(b, 0, 12);
	fuzz_set_v6(&a, b);
	fuzz_forbidden_same(&a, verdict);

	memset(b, 0, sizeof(b));
	b[0] = 0x20;
	b[1] = 0x02;
	memcpy(b + 2, v4, 4);
	b[15] = 1;
	fuzz_set_v6(&a, b);
	fuzz_forbidden_same(&a, verdict);
}

/* A parsed address, as the bound address of a reply, reads back as a request. */
static void
fuzz_reply_round_trip(const struct socks5_request *r)
{
	uint8_t out[SOCKS5_REPLY_MAX], code;
	struct socks5_request back;
	const char *err;
	size_t n = socks5_encode_reply(1, &r->dst, out);
	int family = addr_family(&r->dst);

	if (out[0] != 5 || out[1] != 1 || out[2] != 0)
		__builtin_trap();
	if (!(family == AF_INET && n == 10 && out[3] == 1) &&
	    !(family == AF_INET6 && n == SOCKS5_REPLY_MAX && out[3] == 4))
		__builtin_trap();
	if (socks5_parse_request(out, n, &back, &code, &err) != (int)n || back.is_domain ||
	    !addr_equal(&back.dst, &r->dst) || back.port != r->port)
		__builtin_trap();
}

static void
fuzz_request_check(const uint8_t *data, size_t size, int rc, uint8_t code, const char *err,
		   const struct socks5_request *r)
{
	if (rc > 0) {
		if ((size_t)rc > size || rc > SOCKS5_REQUEST_MAX || rc < FUZZ_SOCKS5_REQUEST_MIN ||
		    code != SOCKS5_OK || r->cmd != 1 || r->port == 0)
			__builtin_trap();
		if (r->is_domain) {
			size_t n = strnlen(r->domain, sizeof(r->domain));

			if (n == 0 || n > DNSNAME_MAX || dnsname_check(r->domain, n, 0) != 0 ||
			    (size_t)rc != 7 + n || memcmp(r->domain, data + 5, n) != 0 ||
			    r->dst.len != 0)
				__builtin_trap();
		} else {
			int family = addr_family(&r->dst), verdict;

			if ((family != AF_INET && family != AF_INET6) || addr_port(&r->dst) != r->port ||
			    r->domain[0] != '\0')
				__builtin_trap();
			fuzz_reply_round_trip(r);
			verdict = socks5_forbidden_destination(&r->dst);
			if (verdict != 0 && verdict != 1)
				__builtin_trap();
		}
	} else if (rc == 0) {
		if (size >= SOCKS5_REQUEST_MAX || code != SOCKS5_OK)
			__builtin_trap();
	} else {
		if (err == NULL || err[0] == '\0')
			__builtin_trap();
		if (code != SOCKS5_FAILURE && code != SOCKS5_CMD_UNSUPPORTED &&
		    code != SOCKS5_ATYP_UNSUPPORTED)
			__builtin_trap();
		if (code == SOCKS5_CMD_UNSUPPORTED && (r->cmd == 1 || r->port == 0))
			__builtin_trap();
	}
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
	struct socks5_request r, k_r;
	const char *err = NULL;
	uint8_t code = 0xee, k_code;
	int rc = socks5_parse_request(data, size, &r, &code, &err);
	size_t max = size < SOCKS5_REQUEST_MAX ? size : SOCKS5_REQUEST_MAX;

	fuzz_request_check(data, size, rc, code, err, &r);
	for (size_t k = 0; k < max; k++) {
		int k_rc = socks5_parse_request(data, k, &k_r, &k_code, &err);

		if ((k_rc > 0 && k_rc != rc) || (k_rc < 0 && (rc >= 0 || k_code != code)) ||
		    (rc > 0 && k < (size_t)rc && k_rc != 0))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	size_t g;

	g = fuzz_greeting(data, size);
	fuzz_request(data, size);
	if (g > 0)
		fuzz_request(data + g, size - g);
	if (size >= 4)
		fuzz_forbidden_forms(data);
	if (size >= 1 && (socks5_encode_reply(data[0], NULL, out) != 10 || out[1] != data[0] ||
			  memcmp(out + 3, "\x01\x00\x00\x00\x00\x00\x00", 7) != 0))
		__builtin_trap();
	return 0;
}
