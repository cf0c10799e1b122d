/*
 * Fuzz target: the client side of SOCKS5, what a server sends back
 * (socks5_parse_method_reply, socks5_parse_reply), the input whole and by
 * prefixes, and a reply after a method selection as a server that does
 * not wait sends them. The method selection is accepted exactly when it
 * is 05 00; a reply that parses is no longer than the input, has the
 * length its address type says, the REP byte as its code, and a bound
 * address that, written back by socks5_encode_reply, reads back the same
 * (byte for byte but for IPv4-mapped IPv6, which is written as IPv4);
 * every shorter prefix needs more; a refusal names a known error, holds
 * for every longer input and leaves code and address at their defaults.
 * A CONNECT request built from the input's bytes reads back as the same
 * destination on the server side. Every REP code has words.
 */
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "fuzz.h"
#include "socks5.h"

#define FUZZ_SOCKS5_REPLY_LONGEST (7 + 255)	/* ATYP 3 with a 255-byte name */
#define FUZZ_SOCKS5_CONNECT_INPUT 19		/* family, 16 address bytes, port */

static const char *const fuzz_socks5_errors[] = {
	"not SOCKS version 5",
	"no acceptable method",
	"server chose a method not offered",
	"reserved byte not 0",
	"address type not supported",
	"domain name length 0",
};

static void
fuzz_socks5_known_error(const char *err)
{
	for (size_t i = 0; i < sizeof(fuzz_socks5_errors) / sizeof(fuzz_socks5_errors[0]); i++) {
		if (err != NULL && strcmp(err, fuzz_socks5_errors[i]) == 0)
			return;
	}
	__builtin_trap();
}

/* Returns the method selection's length, or 0. */
static size_t
fuzz_method(const uint8_t *data, size_t size)
{
	const char *err = NULL, *k_err;
	int rc = socks5_parse_method_reply(data, size, &err);
	int want = size == 0 || (size == 1 && data[0] == 5) ? 0
		 : size >= 2 && data[0] == 5 && data[1] == 0 ? 2 : -1;

	if (rc != want)
		__builtin_trap();
	if (rc < 0)
		fuzz_socks5_known_error(err);
	for (size_t k = 0; k < size && k < 2; k++) {
		int k_rc;

		k_err = NULL;
		k_rc = socks5_parse_method_reply(data, k, &k_err);
		if (k_rc > 0 || (k_rc < 0 && (rc >= 0 || strcmp(k_err, err) != 0)))
			__builtin_trap();
	}
	return rc > 0 ? (size_t)rc : 0;
}

/* The bound address of a parsed reply is the reply's bytes. */
static void
fuzz_reply_bound(const uint8_t *data, int rc, uint8_t code, const struct addr *bound)
{
	uint8_t out[SOCKS5_REPLY_MAX], back_code;
	struct addr back, zero;
	const char *err;
	size_t n;

	memset(&zero, 0, sizeof(zero));
	if (data[3] == 3) {
		if (memcmp(bound, &zero, sizeof(zero)) != 0)
			__builtin_trap();
		return;
	}
	if (addr_port(bound) != (uint16_t)(data[rc - 2] << 8 | data[rc - 1]))
		__builtin_trap();
	n = socks5_encode_reply(code, bound, out);
	if (socks5_parse_reply(out, n, &back_code, &back, &err) != (int)n || back_code != code ||
	    !addr_equal(&back, bound))
		__builtin_trap();
	/* Byte for byte, unless an IPv4-mapped address came as ATYP 4 and went back as ATYP 1. */
	if (!(data[3] == 4 && n == 10) && (n != (size_t)rc || memcmp(out, data, n) != 0))
		__builtin_trap();
}

static void
fuzz_reply(const uint8_t *data, size_t size)
{
	const char *err = NULL, *k_err;
	uint8_t code = 0xee, k_code;
	struct addr bound, k_bound, zero;
	int rc = socks5_parse_reply(data, size, &code, &bound, &err);
	size_t max = size < FUZZ_SOCKS5_REPLY_LONGEST + 1 ? size : FUZZ_SOCKS5_REPLY_LONGEST + 1;

	memset(&zero, 0, sizeof(zero));
	if (rc > 0) {
		size_t want = data[3] == 1 ? 10 : data[3] == 4 ? 22
			    : data[3] == 3 ? 7 + (size_t)data[4] : 0;

		if ((size_t)rc > size || (size_t)rc != want || data[0] != 5 || data[2] != 0 ||
		    code != data[1] || (data[3] == 3 && data[4] == 0))
			__builtin_trap();
		fuzz_reply_bound(data, rc, code, &bound);
	} else {
		if (code != SOCKS5_FAILURE || memcmp(&bound, &zero, sizeof(zero)) != 0)
			__builtin_trap();
		if (rc == 0 && size >= FUZZ_SOCKS5_REPLY_LONGEST)
			__builtin_trap();
		if (rc < 0)
			fuzz_socks5_known_error(err);
	}
	for (size_t k = 0; k < max; k++) {
		int k_rc;

		k_err = NULL;
		k_rc = socks5_parse_reply(data, k, &k_code, &k_bound, &k_err);
		if ((k_rc > 0 && (k_rc != rc || k_code != code)) ||
		    (k_rc < 0 && (rc >= 0 || strcmp(k_err, err) != 0)) ||
		    (rc > 0 && k < (size_t)rc && k_rc != 0))
			__builtin_trap();
	}
}

/* A destination from the input's bytes: its CONNECT reads back the same, as request and as reply. */
static void
fuzz_connect(const uint8_t *data)
{
	uint8_t out[SOCKS5_REQUEST_MAX], code;
	uint16_t port = (uint16_t)(data[17] << 8 | data[18]);
	struct socks5_request r;
	struct addr dst, bound;
	const char *err;
	size_t n;

	memset(&dst, 0, sizeof(dst));
	if (data[0] & 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&dst.ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, data + 1, 4);
		dst.len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dst.ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, data + 1, 16);
		dst.len = sizeof(*sin6);
	}
	addr_set_port(&dst, port);
	n = socks5_encode_connect(&dst, out);
	if (port == 0) {
		if (n != 0)
			__builtin_trap();
		return;
	}
	if ((n != 10 && n != 22) || (n == 10) != (addr_family(&dst) == AF_INET))
		__builtin_trap();
	if (socks5_parse_request(out, n, &r, &code, &err) != (int)n || code != SOCKS5_OK ||
	    r.cmd != 1 || !addr_equal(&r.dst, &dst))
		__builtin_trap();
	/* A request has a reply's layout, CMD where REP is. */
	if (socks5_parse_reply(out, n, &code, &bound, &err) != (int)n || code != 1 ||
	    !addr_equal(&bound, &dst))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t greeting[SOCKS5_CLIENT_GREETING_LEN];
	size_t m;

	m = fuzz_method(data, size);
	fuzz_reply(data, size);
	if (m > 0)
		fuzz_reply(data + m, size - m);
	if (size >= FUZZ_SOCKS5_CONNECT_INPUT)
		fuzz_connect(data);
	if (size >= 1) {
		const char *text = socks5_reply_text(data[0]);

		if (text == NULL || text[0] == '\0')
			__builtin_trap();
	}
	socks5_client_greeting(greeting);
	if (memcmp(greeting, "\x05\x01\x00", sizeof(greeting)) != 0)
		__builtin_trap();
	return 0;
}
