/*
 * Unit tests for shared/wg_uapi (WireGuard's cross-platform userspace
 * interface) and the wg_device helpers of shared/wg.
 *
 * The get replies below are real: wireguard-go 0.0.20220316 (Debian) in two
 * throwaway network namespaces joined by a veth (198.51.100.1 and
 * 198.51.100.25), each "wireguard-go -f IF", configured with wg set, a
 * handshake started by the persistent keepalive; then "get=1\n\n" was sent
 * to /var/run/wireguard/IF.sock and the answer read up to its empty line.
 * The edge side has two peers:
 *   the home side: endpoint 198.51.100.25:51821, keepalive 25, after one
 *                  handshake (92 bytes in, 180 out);
 *   nobody:        endpoint [2001:db8::c]:4500, a preshared key, never
 *                  answered (148 bytes of handshake initiations out).
 * The same wireguard-go answered refused set requests with "errno=-22\n\n"
 * (it writes the negated errno). The keys are throwaway.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "addr.h"
#include "wg.h"
#include "wg_uapi.h"

#define T_ERR_MAX 256
#define T_TEXT_MAX 16384
#define T_CANARY 16

/* ---- the captured replies ------------------------------------------------ */

/* The edge side (wga...); wg pubkey of its key: tIxjX+E5rkbOpB+ADnf5bjOgF82F8Sp/ZN1ceTOzBCg= */
#define T_EDGE_PRIV "a87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a6407d"
#define T_EDGE_PUB "b48c635fe139ae46cea41f800e77f96e33a017cd85f12a7f64dd5c7933b30428"
/* The home side (wgb...): Fplhjl2dkqT63ZsJuQ3QYQLITz12f3FEKc5BEI8FBA4= */
#define T_HOME_PRIV "208c657107abead8fdf1b24235ad69cf682d899c08c86fb5736c2eb699c45453"
#define T_HOME_PUB "1699618e5d9d92a4fadd9b09b90dd06102c84f3d767f714429ce41108f05040e"
/* The peer that never answered: 5cF1F+XRo3p4cyZKbW2+D1ImQrz7+Up0ZTlW6t+lIjA= */
#define T_NOBODY_PUB "e5c17517e5d1a37a7873264a6d6dbe0f522642bcfbf94a74653956eadfa52230"

static const char t_reply_edge[] =
	"private_key=" T_EDGE_PRIV "\n"
	"listen_port=51820\n"
	"fwmark=42\n"
	"public_key=" T_HOME_PUB "\n"
	"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
	"protocol_version=1\n"
	"endpoint=198.51.100.25:51821\n"
	"last_handshake_time_sec=1795857871\n"
	"last_handshake_time_nsec=715080360\n"
	"tx_bytes=180\n"
	"rx_bytes=92\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=192.0.2.2/32\n"
	"allowed_ip=2001:db8:77::2/128\n"
	"allowed_ip=198.51.100.128/25\n"
	"public_key=" T_NOBODY_PUB "\n"
	"preshared_key=1010e012915e79f63ffb8f7b1306ebf3151fc3327f2ebb5492317ed44e63680d\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::c]:4500\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=148\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=203.0.113.0/24\n"
	"allowed_ip=2001:db8:1::/48\n"
	"allowed_ip=192.0.2.128/25\n"
	"allowed_ip=2001:db8:2::/64\n"
	"errno=0\n"
	"\n";

static const char t_reply_home[] =
	"private_key=" T_HOME_PRIV "\n"
	"listen_port=51821\n"
	"public_key=" T_EDGE_PUB "\n"
	"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
	"protocol_version=1\n"
	"endpoint=198.51.100.1:51820\n"
	"last_handshake_time_sec=1795857871\n"
	"last_handshake_time_nsec=715238602\n"
	"tx_bytes=92\n"
	"rx_bytes=180\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=192.0.2.1/32\n"
	"allowed_ip=2001:db8:77::1/128\n"
	"errno=0\n"
	"\n";

/* ---- helpers -------------------------------------------------------------- */

struct t_cidr {
	int family;
	const char *net;
	unsigned prefix;
};

static void
t_key(const char *hex, uint8_t out[WG_KEY_LEN])
{
	size_t n = 0;

	assert_int_equal(sodium_hex2bin(out, WG_KEY_LEN, hex, strlen(hex), NULL, &n, NULL), 0);
	assert_int_equal(n, WG_KEY_LEN);
}

static void
t_assert_key(const uint8_t got[WG_KEY_LEN], const char *hex)
{
	char text[2 * WG_KEY_LEN + 1];

	sodium_bin2hex(text, sizeof(text), got, WG_KEY_LEN);
	assert_string_equal(text, hex);
}

static int
t_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

/* An endpoint made by hand, as the kernel's sockaddr. */
static void
t_endpoint(struct addr *a, int family, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
		a->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		a->len = sizeof(*sin6);
	}
}

static void
t_assert_endpoint(const struct addr *got, int family, const char *ip, uint16_t port)
{
	struct addr want;

	t_endpoint(&want, family, ip, port);
	assert_int_equal(got->len, want.len);
	assert_int_equal(got->ss.ss_family, family);
	assert_memory_equal(&got->ss, &want.ss, want.len);
}

static void
t_cidr(struct cidr *c, const struct t_cidr *t)
{
	memset(c, 0, sizeof(*c));
	c->family = t->family;
	c->prefix = t->prefix;
	assert_int_equal(inet_pton(t->family, t->net, c->net), 1);
}

static void
t_assert_cidrs(const struct wg_peer *p, const struct t_cidr *want, size_t n)
{
	assert_int_equal(p->n_allowed_ips, n);
	for (size_t i = 0; i < n; i++) {
		const struct cidr *c = &p->allowed_ips[i];
		struct cidr w;

		t_cidr(&w, &want[i]);
		if (c->family != w.family || c->prefix != w.prefix || memcmp(c->net, w.net, 16) != 0)
			fail_msg("allowed IP %zu: family %d prefix %u, want %s/%u", i, c->family,
				 c->prefix, want[i].net, want[i].prefix);
	}
}

/* Parse len bytes of text from an exact-size heap copy (ASan sees reads past the end). */
static int
t_parse(const char *text, size_t len, struct wg_device *dev, char *err, size_t errcap)
{
	char *copy = malloc(len);
	int rc;

	assert_true(copy != NULL || len == 0);
	if (len > 0)
		memcpy(copy, text, len);
	memset(dev, 0, sizeof(*dev));
	memset(err, 0, errcap);
	rc = wg_uapi_parse_get(copy, len, dev, err, errcap);
	free(copy);
	return rc;
}

static void
t_parse_ok(const char *text, size_t len, struct wg_device *dev)
{
	char err[T_ERR_MAX];

	if (t_parse(text, len, dev, err, sizeof(err)) != 0)
		fail_msg("refused: %s\n--\n%.*s--", err, (int)len, text);
}

/* The reply must be refused with exactly want. */
static void
t_parse_fails(const char *text, size_t len, const char *want)
{
	struct wg_device dev;
	char err[T_ERR_MAX];
	int rc = t_parse(text, len, &dev, err, sizeof(err));

	wg_device_clear(&dev);
	if (rc != -1)
		fail_msg("accepted (rc %d), want '%s'\n--\n%.*s--", rc, want, (int)len, text);
	if (strcmp(err, want) != 0)
		fail_msg("error '%s', want '%s'\n--\n%.*s--", err, want, (int)len, text);
}

/* A request made into a reply: its final empty line becomes "errno=0\n\n". */
static size_t
t_request_as_reply(const char *req, int req_len, char *out, size_t cap)
{
	int n;

	assert_true(req_len >= 2 && req[req_len - 1] == '\n' && req[req_len - 2] == '\n');
	n = snprintf(out, cap, "%.*serrno=0\n\n", req_len - 1, req);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void
t_assert_same_peer(const struct wg_peer *got, const struct wg_peer *want)
{
	assert_memory_equal(got->public_key, want->public_key, WG_KEY_LEN);
	assert_int_equal(got->endpoint.len, want->endpoint.len);
	if (want->endpoint.len != 0)
		assert_true(addr_equal(&got->endpoint, &want->endpoint));
	assert_int_equal(got->keepalive, want->keepalive);
	assert_int_equal(got->n_allowed_ips, want->n_allowed_ips);
	for (size_t i = 0; i < want->n_allowed_ips; i++) {
		assert_int_equal(got->allowed_ips[i].family, want->allowed_ips[i].family);
		assert_int_equal(got->allowed_ips[i].prefix, want->allowed_ips[i].prefix);
		assert_memory_equal(got->allowed_ips[i].net, want->allowed_ips[i].net, 16);
	}
}

/* ---- the real replies ------------------------------------------------------ */

static const struct t_cidr t_edge_peer0_ips[] = {
	{ AF_INET, "192.0.2.2", 32 },
	{ AF_INET6, "2001:db8:77::2", 128 },
	{ AF_INET, "198.51.100.128", 25 },
};

static const struct t_cidr t_edge_peer1_ips[] = {
	{ AF_INET, "203.0.113.0", 24 },
	{ AF_INET6, "2001:db8:1::", 48 },
	{ AF_INET, "192.0.2.128", 25 },
	{ AF_INET6, "2001:db8:2::", 64 },
};

static const struct t_cidr t_home_peer0_ips[] = {
	{ AF_INET, "192.0.2.1", 32 },
	{ AF_INET6, "2001:db8:77::1", 128 },
};

static void
test_wg_uapi_parse_real_edge(void **state)
{
	struct wg_device dev;
	const struct wg_peer *p;

	(void)state;
	t_parse_ok(t_reply_edge, strlen(t_reply_edge), &dev);
	assert_int_equal(dev.has_private_key, 1);
	t_assert_key(dev.private_key, T_EDGE_PRIV);
	/* Derived, and equal to what wg pubkey says. */
	t_assert_key(dev.public_key, T_EDGE_PUB);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 42);
	assert_string_equal(dev.name, "");
	assert_int_equal(dev.npeers, 2);
	assert_true(dev.peers_cap >= dev.npeers);

	p = &dev.peers[0];
	t_assert_key(p->public_key, T_HOME_PUB);
	t_assert_endpoint(&p->endpoint, AF_INET, "198.51.100.25", 51821);
	assert_int_equal(p->keepalive, 25);
	t_assert_cidrs(p, t_edge_peer0_ips, 3);
	assert_int_equal(p->last_handshake_sec, 1795857871);
	assert_int_equal(p->rx_bytes, 92);
	assert_int_equal(p->tx_bytes, 180);

	p = &dev.peers[1];
	t_assert_key(p->public_key, T_NOBODY_PUB);
	t_assert_endpoint(&p->endpoint, AF_INET6, "2001:db8::c", 4500);
	assert_int_equal(p->keepalive, 0);
	t_assert_cidrs(p, t_edge_peer1_ips, 4);
	assert_int_equal(p->last_handshake_sec, 0);
	assert_int_equal(p->rx_bytes, 0);
	assert_int_equal(p->tx_bytes, 148);
	wg_device_clear(&dev);
}

/* Each side's peer key is the other side's derived public key. */
static void
test_wg_uapi_parse_real_home(void **state)
{
	struct wg_device edge, home;
	const struct wg_peer *p;

	(void)state;
	t_parse_ok(t_reply_edge, strlen(t_reply_edge), &edge);
	t_parse_ok(t_reply_home, strlen(t_reply_home), &home);
	assert_int_equal(home.has_private_key, 1);
	t_assert_key(home.private_key, T_HOME_PRIV);
	assert_memory_equal(home.public_key, edge.peers[0].public_key, WG_KEY_LEN);
	assert_int_equal(home.listen_port, 51821);
	assert_int_equal(home.fwmark, 0);
	assert_int_equal(home.npeers, 1);
	p = &home.peers[0];
	assert_memory_equal(p->public_key, edge.public_key, WG_KEY_LEN);
	t_assert_endpoint(&p->endpoint, AF_INET, "198.51.100.1", 51820);
	assert_int_equal(p->keepalive, 0);
	t_assert_cidrs(p, t_home_peer0_ips, 2);
	assert_int_equal(p->last_handshake_sec, 1795857871);
	/* The two counters mirror each other. */
	assert_int_equal(p->rx_bytes, edge.peers[0].tx_bytes);
	assert_int_equal(p->tx_bytes, edge.peers[0].rx_bytes);
	wg_device_clear(&edge);
	wg_device_clear(&home);
}

/* Every proper prefix of a reply fails on its framing: never success, never a crash. */
static void
test_wg_uapi_parse_every_truncation(void **state)
{
	static const char *const replies[] = { t_reply_edge, t_reply_home };

	(void)state;
	for (size_t r = 0; r < sizeof(replies) / sizeof(replies[0]); r++) {
		const char *text = replies[r];
		size_t full = strlen(text);
		unsigned lines = 0;
		struct wg_device dev;

		for (size_t len = 0; len < full; len++) {
			char want[T_ERR_MAX];

			int at_line_end = len == 0 || text[len - 1] == '\n';

			if (len > 0 && text[len - 1] == '\n')
				lines++;
			snprintf(want, sizeof(want), "wireguard UAPI reply, line %u: %s", lines + 1,
				 at_line_end ? "reply ends without an empty line" : "unterminated line");
			t_parse_fails(text, len, want);
		}
		t_parse_ok(text, full, &dev);
		wg_device_clear(&dev);
	}
}

/* ---- malformed replies ----------------------------------------------------- */

#define T_E(line, why) "wireguard UAPI reply, line " #line ": " why
#define T_K T_HOME_PUB
#define T_PEER "public_key=" T_K "\n"
#define T_END "errno=0\n\n"

struct t_bad {
	const char *text;
	const char *err;
};

static const struct t_bad t_bad_replies[] = {
	/* Framing. */
	{ "", T_E(1, "reply ends without an empty line") },
	{ "errno=0\n", T_E(2, "reply ends without an empty line") },
	{ "listen_port=1\n", T_E(2, "reply ends without an empty line") },
	{ "errno=0", T_E(1, "unterminated line") },
	{ "listen_port=1\nerrno=0", T_E(2, "unterminated line") },
	{ "\n", T_E(1, "reply without errno") },
	{ "listen_port=1\n\n", T_E(2, "reply without errno") },
	{ T_PEER "allowed_ip=192.0.2.0/24\n\n", T_E(3, "reply without errno") },
	{ "errno=0\n\nx", T_E(2, "text after the end of the reply") },
	{ "errno=0\n\n\n", T_E(2, "text after the end of the reply") },
	{ "errno=0\n\nerrno=0\n\n", T_E(2, "text after the end of the reply") },
	{ "errno=0\nlisten_port=1\n\n", T_E(2, "errno must be the last key") },
	{ "errno=0\nerrno=0\n\n", T_E(2, "errno must be the last key") },
	{ "errno=0\n" T_PEER "\n", T_E(2, "errno must be the last key") },
	{ "errno=0\r\n\r\n", T_E(1, "bad errno") },
	/* errno. */
	{ "errno=\n\n", T_E(1, "bad errno") },
	{ "errno=x\n\n", T_E(1, "bad errno") },
	{ "errno=0x16\n\n", T_E(1, "bad errno") },
	{ "errno=+22\n\n", T_E(1, "bad errno") },
	{ "errno=--22\n\n", T_E(1, "bad errno") },
	{ "errno=2147483648\n\n", T_E(1, "bad errno") },
	{ "errno=-2147483648\n\n", T_E(1, "bad errno") },
	{ "errno=22\n\n", "wireguard: errno=22 (Invalid argument)" },
	/* wireguard-go writes the negated errno. */
	{ "errno=-22\n\n", "wireguard: errno=22 (Invalid argument)" },
	{ "listen_port=51820\nerrno=-98\n\n", "wireguard: errno=98 (Address already in use)" },
	{ T_PEER "errno=5\n\n", "wireguard: errno=5 (Input/output error)" },
	/* Lines. */
	{ "listen_port\n" T_END, T_E(1, "expected key=value") },
	{ "=1\n" T_END, T_E(1, "expected key=value") },
	{ " \n" T_END, T_E(1, "expected key=value") },
	{ "listen_port=1\n=\n" T_END, T_E(2, "expected key=value") },
	/* Keys: 63 and 65 digits, a non-hex digit, a separator, empty. */
	{ "private_key=a87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a6407\n" T_END,
	  T_E(1, "bad private_key") },
	{ "private_key=a87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a6407d0\n" T_END,
	  T_E(1, "bad private_key") },
	{ "private_key=g87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a6407d\n" T_END,
	  T_E(1, "bad private_key") },
	{ "private_key=a87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a640:d\n" T_END,
	  T_E(1, "bad private_key") },
	{ "private_key=\n" T_END, T_E(1, "bad private_key") },
	{ "public_key=1699618e5d9d92a4fadd9b09b90dd06102c84f3d767f714429ce41108f05040\n" T_END,
	  T_E(1, "bad public_key") },
	{ "listen_port=1\n"
	  "public_key=1699618e5d9d92a4fadd9b09b90dd06102c84f3d767f714429ce41108f0504 e\n" T_END,
	  T_E(2, "bad public_key") },
	/* Numbers: the type's range, decimal digits only. */
	{ "listen_port=65536\n" T_END, T_E(1, "bad listen_port") },
	{ "listen_port=-1\n" T_END, T_E(1, "bad listen_port") },
	{ "listen_port=\n" T_END, T_E(1, "bad listen_port") },
	{ "listen_port= 1\n" T_END, T_E(1, "bad listen_port") },
	{ "listen_port=0x10\n" T_END, T_E(1, "bad listen_port") },
	{ "fwmark=4294967296\n" T_END, T_E(1, "bad fwmark") },
	{ "fwmark=0x2a\n" T_END, T_E(1, "bad fwmark") },
	{ T_PEER "persistent_keepalive_interval=65536\n" T_END,
	  T_E(2, "bad persistent_keepalive_interval") },
	{ T_PEER "rx_bytes=-1\n" T_END, T_E(2, "bad rx_bytes") },
	{ T_PEER "tx_bytes=1e3\n" T_END, T_E(2, "bad tx_bytes") },
	/* Beyond int64: refused rather than wrapped (see wg_uapi_u64). */
	{ T_PEER "rx_bytes=9223372036854775808\n" T_END, T_E(2, "bad rx_bytes") },
	{ T_PEER "last_handshake_time_sec=-1\n" T_END, T_E(2, "bad last_handshake_time_sec") },
	/* Endpoints: a port is required, 1..65535, brackets for IPv6. */
	{ T_PEER "endpoint=198.51.100.1\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=198.51.100.1:0\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=198.51.100.1:65536\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=[2001:db8::1]\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=2001:db8::1:4500\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=[198.51.100.1]:4500\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=host.example:4500\n" T_END, T_E(2, "bad endpoint") },
	{ T_PEER "endpoint=\n" T_END, T_E(2, "bad endpoint") },
	/* Allowed IPs: host bits zero, prefix in range. */
	{ T_PEER "allowed_ip=192.0.2.1/24\n" T_END, T_E(2, "bad allowed_ip") },
	{ T_PEER "allowed_ip=192.0.2.0/33\n" T_END, T_E(2, "bad allowed_ip") },
	{ T_PEER "allowed_ip=2001:db8::/129\n" T_END, T_E(2, "bad allowed_ip") },
	{ T_PEER "allowed_ip=192.0.2.0/\n" T_END, T_E(2, "bad allowed_ip") },
	{ T_PEER "allowed_ip=\n" T_END, T_E(2, "bad allowed_ip") },
	{ T_PEER "allowed_ip=192.0.2.0/24\nallowed_ip=::ffff:192.0.2.0/120\n" T_END,
	  T_E(3, "bad allowed_ip") },
};

static void
test_wg_uapi_parse_bad_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_bad_replies) / sizeof(t_bad_replies[0]); i++)
		t_parse_fails(t_bad_replies[i].text, strlen(t_bad_replies[i].text),
			      t_bad_replies[i].err);
}

/* A key=value line may be WG_UAPI_LINE_MAX bytes long, not one more. */
static void
test_wg_uapi_parse_line_max(void **state)
{
	char text[T_TEXT_MAX];
	struct wg_device dev;
	size_t n;

	(void)state;
	for (size_t line = WG_UAPI_LINE_MAX - 1; line <= WG_UAPI_LINE_MAX + 1; line++) {
		/* An unknown key, which is skipped when the line is accepted. */
		memcpy(text, "x_future=", 9);
		memset(text + 9, 'v', line - 9);
		n = line;
		memcpy(text + n, "\n" T_END, sizeof("\n" T_END) - 1);
		n += sizeof("\n" T_END) - 1;
		if (line <= WG_UAPI_LINE_MAX) {
			t_parse_ok(text, n, &dev);
			assert_int_equal(dev.npeers, 0);
			wg_device_clear(&dev);
		} else {
			t_parse_fails(text, n, T_E(1, "expected key=value"));
		}
	}
}

/* WG_ALLOWED_IPS_MAX allowed IPs per peer, and no more. */
static void
test_wg_uapi_parse_allowed_ips_max(void **state)
{
	char text[T_TEXT_MAX], want[T_ERR_MAX];
	struct wg_device dev;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = 0;
		int k;

		k = snprintf(text, sizeof(text), "%s", T_PEER);
		n += (size_t)k;
		for (int i = 0; i < WG_ALLOWED_IPS_MAX + extra; i++) {
			k = snprintf(text + n, sizeof(text) - n, "allowed_ip=2001:db8:%x::/48\n", i);
			assert_true(k > 0 && (size_t)k < sizeof(text) - n);
			n += (size_t)k;
		}
		k = snprintf(text + n, sizeof(text) - n, "%s", T_END);
		n += (size_t)k;
		if (extra == 0) {
			t_parse_ok(text, n, &dev);
			assert_int_equal(dev.npeers, 1);
			assert_int_equal(dev.peers[0].n_allowed_ips, WG_ALLOWED_IPS_MAX);
			assert_int_equal(dev.peers[0].allowed_ips[WG_ALLOWED_IPS_MAX - 1].net[5],
					 WG_ALLOWED_IPS_MAX - 1);
			wg_device_clear(&dev);
		} else {
			/* The peer's line, then the allowed IPs: the one too many is line 2 + MAX. */
			snprintf(want, sizeof(want), "wireguard UAPI reply, line %d: too many allowed_ip",
				 2 + WG_ALLOWED_IPS_MAX);
			t_parse_fails(text, n, want);
		}
	}
}

/* WG_PEERS_MAX peers, and no more. */
static void
test_wg_uapi_parse_peers_max(void **state)
{
	size_t line = sizeof(T_PEER) - 1, cap = (WG_PEERS_MAX + 1) * line + sizeof(T_END);
	char *text = malloc(cap), want[T_ERR_MAX];
	struct wg_device dev;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < WG_PEERS_MAX + 1; i++)
		memcpy(text + i * line, T_PEER, line);
	memcpy(text + WG_PEERS_MAX * line, T_END, sizeof(T_END) - 1);
	t_parse_ok(text, WG_PEERS_MAX * line + sizeof(T_END) - 1, &dev);
	assert_int_equal(dev.npeers, WG_PEERS_MAX);
	t_assert_key(dev.peers[WG_PEERS_MAX - 1].public_key, T_K);
	wg_device_clear(&dev);

	memcpy(text + WG_PEERS_MAX * line, T_PEER, line);
	memcpy(text + (WG_PEERS_MAX + 1) * line, T_END, sizeof(T_END) - 1);
	snprintf(want, sizeof(want), "wireguard UAPI reply, line %d: too many peers", WG_PEERS_MAX + 1);
	t_parse_fails(text, (WG_PEERS_MAX + 1) * line + sizeof(T_END) - 1, want);
	free(text);
}

/* Keys this parser does not use are skipped, known or not, wherever they are. */
static void
test_wg_uapi_parse_skipped_keys(void **state)
{
	static const char text[] =
		"protocol_version=1\n"
		"x_future_device_key=anything at all\n"
		"listen_port=51820\n"
		"public_key=" T_K "\n"
		"preshared_key=not checked\n"
		"protocol_version=2\n"
		"last_handshake_time_nsec=not checked either\n"
		"x_future_peer_key=1\n"
		"replace_allowed_ips=true\n"
		"allowed_ip=192.0.2.0/24\n"
		"errno=0\n"
		"\n";
	struct wg_device dev;

	(void)state;
	t_parse_ok(text, sizeof(text) - 1, &dev);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.has_private_key, 0);
	assert_true(t_all_zero(dev.public_key, WG_KEY_LEN));
	assert_int_equal(dev.npeers, 1);
	t_assert_key(dev.peers[0].public_key, T_K);
	assert_int_equal(dev.peers[0].n_allowed_ips, 1);
	wg_device_clear(&dev);
}

/*
 * Where a key stands decides what it is: peer keys before the first
 * public_key, and device keys after it, are skipped without being checked
 * (as wg(8)'s own UAPI reader does). wireguard-go never writes either.
 */
static void
test_wg_uapi_parse_keys_out_of_place(void **state)
{
	static const char before[] =
		"endpoint=198.51.100.9:1\n"
		"allowed_ip=192.0.2.0/24\n"
		"persistent_keepalive_interval=25\n"
		"rx_bytes=7\n"
		"last_handshake_time_sec=99\n"
		"endpoint=not even an address\n"
		"errno=0\n"
		"\n";
	static const char after[] =
		"public_key=" T_K "\n"
		"private_key=" T_EDGE_PRIV "\n"
		"listen_port=99999\n"
		"fwmark=7\n"
		"errno=0\n"
		"\n";
	struct wg_device dev;

	(void)state;
	t_parse_ok(before, sizeof(before) - 1, &dev);
	assert_int_equal(dev.npeers, 0);
	assert_null(dev.peers);
	assert_int_equal(dev.listen_port, 0);
	wg_device_clear(&dev);

	t_parse_ok(after, sizeof(after) - 1, &dev);
	assert_int_equal(dev.npeers, 1);
	assert_int_equal(dev.has_private_key, 0);
	assert_true(t_all_zero(dev.private_key, WG_KEY_LEN));
	assert_int_equal(dev.listen_port, 0);
	assert_int_equal(dev.fwmark, 0);
	wg_device_clear(&dev);
}

/* The limits of each number, accepted. */
static void
test_wg_uapi_parse_number_limits(void **state)
{
	static const char text[] =
		"listen_port=65535\n"
		"fwmark=4294967295\n"
		"public_key=" T_K "\n"
		"persistent_keepalive_interval=65535\n"
		"rx_bytes=9223372036854775807\n"
		"tx_bytes=0\n"
		"last_handshake_time_sec=9223372036854775807\n"
		"endpoint=198.51.100.1:65535\n"
		"errno=0\n"
		"\n";
	struct wg_device dev;

	(void)state;
	t_parse_ok(text, sizeof(text) - 1, &dev);
	assert_int_equal(dev.listen_port, 65535);
	assert_int_equal(dev.fwmark, UINT32_MAX);
	assert_int_equal(dev.peers[0].keepalive, 65535);
	assert_int_equal(dev.peers[0].rx_bytes, INT64_MAX);
	assert_int_equal(dev.peers[0].tx_bytes, 0);
	assert_int_equal(dev.peers[0].last_handshake_sec, INT64_MAX);
	t_assert_endpoint(&dev.peers[0].endpoint, AF_INET, "198.51.100.1", 65535);
	wg_device_clear(&dev);
}

/* The error message is cut to errcap, NUL-terminated. */
static void
test_wg_uapi_parse_small_errcap(void **state)
{
	static const char text[] = "listen_port=65536\nerrno=0\n\n";
	struct wg_device dev;
	char err[12];

	(void)state;
	assert_int_equal(t_parse(text, sizeof(text) - 1, &dev, err, sizeof(err)), -1);
	assert_string_equal(err, "wireguard U");
	wg_device_clear(&dev);
}

/* ---- set replies --------------------------------------------------------- */

struct t_errno_case {
	const char *text;
	size_t len;	/* 0: strlen */
	int rc;
	int err_no;
};

static const struct t_errno_case t_errno_cases[] = {
	{ "errno=0\n\n", 0, 0, 0 },
	{ "errno=22\n\n", 0, 0, 22 },
	/* wireguard-go's refusals, as captured: the negated errno. */
	{ "errno=-22\n\n", 0, 0, 22 },
	{ "errno=-98\n\n", 0, 0, 98 },
	{ "errno=007\n\n", 0, 0, 7 },
	{ "errno=2147483647\n\n", 0, 0, INT32_MAX },
	{ "errno=-2147483647\n\n", 0, 0, INT32_MAX },
	{ "errno=2147483648\n\n", 0, -1, 0 },
	{ "errno=-2147483648\n\n", 0, -1, 0 },
	{ "errno=\n\n", 0, -1, 0 },
	{ "errno=-\n\n", 0, -1, 0 },
	{ "errno=+1\n\n", 0, -1, 0 },
	{ "errno=1x\n\n", 0, -1, 0 },
	{ "errno= 0\n\n", 0, -1, 0 },
	{ "errno=0 \n\n", 0, -1, 0 },
	{ "errno=0\n", 0, -1, 0 },
	{ "errno=22\n", 0, -1, 0 },
	{ "errno=0\r\n", 0, -1, 0 },
	{ "errno=0", 0, -1, 0 },
	{ "errno=0\n\n\n", 0, -1, 0 },
	{ "errno=0\n\nerrno=0\n\n", 0, -1, 0 },
	{ "errno=1\n2\n\n", 0, -1, 0 },
	{ "errno=0\r\n\r\n", 0, -1, 0 },
	{ "Errno=0\n\n", 0, -1, 0 },
	{ "errno:0\n\n", 0, -1, 0 },
	{ " errno=0\n\n", 0, -1, 0 },
	{ "listen_port=1\nerrno=0\n\n", 0, -1, 0 },
	{ "\n\n", 0, -1, 0 },
	{ "\n", 0, -1, 0 },
	{ "", 0, -1, 0 },
	{ "errno=0\0\n\n", 10, -1, 0 },
};

static void
test_wg_uapi_parse_errno_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_errno_cases) / sizeof(t_errno_cases[0]); i++) {
		const struct t_errno_case *c = &t_errno_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		char *copy = malloc(len);
		int err_no = -12345, rc;

		assert_true(copy != NULL || len == 0);
		if (len > 0)
			memcpy(copy, c->text, len);
		rc = wg_uapi_parse_errno(copy, len, &err_no);
		free(copy);
		if (rc != c->rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, c->rc);
		if (rc == 0 && err_no != c->err_no)
			fail_msg("case %zu: errno %d, want %d", i, err_no, c->err_no);
		if (rc != 0 && err_no != -12345)
			fail_msg("case %zu: errno written on failure", i);
	}
}

/* ---- formatters ------------------------------------------------------------ */

struct t_fmt {
	const char *name;
	int kind;			/* 0 set_device, 1 set_peer, 2 remove_peer */
	const uint8_t *key;		/* set_device's private key, remove_peer's public key */
	int port;
	const struct wg_peer *peer;
	const char *want;
};

static int
t_format(const struct t_fmt *f, char *out, size_t cap)
{
	switch (f->kind) {
	case 0:
		return wg_uapi_format_set_device(f->key, f->port, out, cap);
	case 1:
		return wg_uapi_format_set_peer(f->peer, out, cap);
	default:
		return wg_uapi_format_remove_peer(f->key, out, cap);
	}
}

static void
t_peer_edge0(struct wg_peer *p)
{
	memset(p, 0, sizeof(*p));
	t_key(T_HOME_PUB, p->public_key);
	t_endpoint(&p->endpoint, AF_INET, "198.51.100.25", 51821);
	p->keepalive = 25;
	for (size_t i = 0; i < 3; i++)
		t_cidr(&p->allowed_ips[i], &t_edge_peer0_ips[i]);
	p->n_allowed_ips = 3;
	/* Read-only fields: never written. */
	p->rx_bytes = 1;
	p->tx_bytes = 2;
	p->last_handshake_sec = 3;
}

static void
t_peer_edge1(struct wg_peer *p)
{
	memset(p, 0, sizeof(*p));
	t_key(T_NOBODY_PUB, p->public_key);
	t_endpoint(&p->endpoint, AF_INET6, "2001:db8::c", 4500);
	for (size_t i = 0; i < 4; i++)
		t_cidr(&p->allowed_ips[i], &t_edge_peer1_ips[i]);
	p->n_allowed_ips = 4;
}

/* The longest request: an IPv6 endpoint and WG_ALLOWED_IPS_MAX long IPv6 prefixes. */
static void
t_peer_longest(struct wg_peer *p)
{
	memset(p, 0, sizeof(*p));
	t_key(T_EDGE_PUB, p->public_key);
	t_endpoint(&p->endpoint, AF_INET6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	p->keepalive = 65535;
	for (size_t i = 0; i < WG_ALLOWED_IPS_MAX; i++) {
		struct cidr *c = &p->allowed_ips[i];
		c->family = AF_INET6;
		c->prefix = 128;
		assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ff00", c->net), 1);
		c->net[15] = (uint8_t)(0xa0 + i);
	}
	p->n_allowed_ips = WG_ALLOWED_IPS_MAX;
}

#define T_SET_PEER_EDGE0 \
	"set=1\n" \
	"public_key=" T_HOME_PUB "\n" \
	"replace_allowed_ips=true\n" \
	"persistent_keepalive_interval=25\n" \
	"endpoint=198.51.100.25:51821\n" \
	"allowed_ip=192.0.2.2/32\n" \
	"allowed_ip=2001:db8:77::2/128\n" \
	"allowed_ip=198.51.100.128/25\n" \
	"\n"

#define T_SET_PEER_EDGE1 \
	"set=1\n" \
	"public_key=" T_NOBODY_PUB "\n" \
	"replace_allowed_ips=true\n" \
	"persistent_keepalive_interval=0\n" \
	"endpoint=[2001:db8::c]:4500\n" \
	"allowed_ip=203.0.113.0/24\n" \
	"allowed_ip=2001:db8:1::/48\n" \
	"allowed_ip=192.0.2.128/25\n" \
	"allowed_ip=2001:db8:2::/64\n" \
	"\n"

/* No endpoint, no allowed IPs: all of them go. */
#define T_SET_PEER_BARE \
	"set=1\n" \
	"public_key=" T_HOME_PUB "\n" \
	"replace_allowed_ips=true\n" \
	"persistent_keepalive_interval=0\n" \
	"\n"

/* Runs each formatter with every cap from 0 to its length + 1. */
static void
test_wg_uapi_format_exact(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct wg_peer p0, p1, bare;

	(void)state;
	t_key(T_EDGE_PRIV, priv);
	t_key(T_HOME_PUB, pub);
	t_peer_edge0(&p0);
	t_peer_edge1(&p1);
	memset(&bare, 0, sizeof(bare));
	memcpy(bare.public_key, pub, WG_KEY_LEN);

	const struct t_fmt fmts[] = {
		{ "device key+port", 0, priv, 51820, NULL,
		  "set=1\nprivate_key=" T_EDGE_PRIV "\nlisten_port=51820\n\n" },
		{ "device key", 0, priv, -1, NULL, "set=1\nprivate_key=" T_EDGE_PRIV "\n\n" },
		{ "device port 0", 0, NULL, 0, NULL, "set=1\nlisten_port=0\n\n" },
		{ "device port max", 0, NULL, 65535, NULL, "set=1\nlisten_port=65535\n\n" },
		{ "device nothing", 0, NULL, -1, NULL, "set=1\n\n" },
		{ "peer IPv4", 1, NULL, 0, &p0, T_SET_PEER_EDGE0 },
		{ "peer IPv6", 1, NULL, 0, &p1, T_SET_PEER_EDGE1 },
		{ "peer bare", 1, NULL, 0, &bare, T_SET_PEER_BARE },
		{ "remove", 2, pub, 0, NULL,
		  "set=1\npublic_key=" T_HOME_PUB "\nremove=true\n\n" },
	};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		const struct t_fmt *f = &fmts[i];
		size_t full = strlen(f->want);

		for (size_t cap = 0; cap <= full + 1; cap++) {
			/* Exactly cap bytes for ASan; then cap bytes and a canary for everyone else. */
			char *out = malloc(cap), *guarded = malloc(cap + T_CANARY);
			int rc;

			assert_true(out != NULL || cap == 0);
			assert_non_null(guarded);
			memset(guarded, 0x5a, cap + T_CANARY);
			rc = t_format(f, out, cap);
			if (rc != t_format(f, guarded, cap))
				fail_msg("%s, cap %zu: different results", f->name, cap);
			for (size_t k = cap; k < cap + T_CANARY; k++) {
				if ((uint8_t)guarded[k] != 0x5a)
					fail_msg("%s, cap %zu: byte %zu written", f->name, cap, k);
			}
			if (cap <= full) {
				if (rc != -1)
					fail_msg("%s, cap %zu of %zu: rc %d, want -1", f->name, cap, full + 1, rc);
				/* A request cut short may have held part of the private key. */
				if (f->kind == 0 && f->key != NULL && !t_all_zero(out, cap))
					fail_msg("%s, cap %zu: output not wiped", f->name, cap);
			} else {
				if (rc != (int)full)
					fail_msg("%s, cap %zu: rc %d, want %zu", f->name, cap, rc, full);
				assert_string_equal(out, f->want);
			}
			free(out);
			free(guarded);
		}
	}
}

/* Formatted requests stay within WG_UAPI_REQUEST_MAX, the buffer wg_set_peer gives them. */
static void
test_wg_uapi_format_longest(void **state)
{
	char out[WG_UAPI_REQUEST_MAX], reply[WG_UAPI_REQUEST_MAX + 16];
	struct wg_peer p;
	struct wg_device dev;
	int rc;

	(void)state;
	t_peer_longest(&p);
	rc = wg_uapi_format_set_peer(&p, out, sizeof(out));
	assert_true(rc > 0 && rc < WG_UAPI_REQUEST_MAX);
	assert_non_null(strstr(out, "endpoint=[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535\n"));
	assert_non_null(strstr(out, "allowed_ip=2001:db8:ffff:ffff:ffff:ffff:ffff:ffbf/128\n\n"));
	t_parse_ok(reply, t_request_as_reply(out, rc, reply, sizeof(reply)), &dev);
	assert_int_equal(dev.npeers, 1);
	t_assert_same_peer(&dev.peers[0], &p);
	wg_device_clear(&dev);
}

/* ---- round trips --------------------------------------------------------- */

/* A set_peer request read back as a reply gives the same peer. */
static void
test_wg_uapi_round_trip_peer(void **state)
{
	struct wg_peer peers[3];
	char out[WG_UAPI_REQUEST_MAX], reply[WG_UAPI_REQUEST_MAX + 16];
	struct wg_device dev;

	(void)state;
	t_peer_edge0(&peers[0]);
	t_peer_edge1(&peers[1]);
	memset(&peers[2], 0, sizeof(peers[2]));
	t_key(T_EDGE_PUB, peers[2].public_key);
	for (size_t i = 0; i < 3; i++) {
		int rc = wg_uapi_format_set_peer(&peers[i], out, sizeof(out));

		assert_true(rc > 0);
		t_parse_ok(reply, t_request_as_reply(out, rc, reply, sizeof(reply)), &dev);
		assert_int_equal(dev.npeers, 1);
		t_assert_same_peer(&dev.peers[0], &peers[i]);
		assert_int_equal(dev.peers[0].rx_bytes, 0);
		wg_device_clear(&dev);
	}
}

/* Each peer of the real reply, formatted and read back, is the same peer. */
static void
test_wg_uapi_round_trip_real(void **state)
{
	char out[WG_UAPI_REQUEST_MAX], reply[WG_UAPI_REQUEST_MAX + 16];
	struct wg_device edge, one;

	(void)state;
	t_parse_ok(t_reply_edge, strlen(t_reply_edge), &edge);
	for (size_t i = 0; i < edge.npeers; i++) {
		int rc = wg_uapi_format_set_peer(&edge.peers[i], out, sizeof(out));

		assert_true(rc > 0);
		t_parse_ok(reply, t_request_as_reply(out, rc, reply, sizeof(reply)), &one);
		assert_int_equal(one.npeers, 1);
		t_assert_same_peer(&one.peers[0], &edge.peers[i]);
		wg_device_clear(&one);
	}
	wg_device_clear(&edge);
}

/* A set_device request read back: the key, its public key, the port. */
static void
test_wg_uapi_round_trip_device(void **state)
{
	uint8_t priv[WG_KEY_LEN];
	char out[WG_UAPI_REQUEST_MAX], reply[WG_UAPI_REQUEST_MAX + 16];
	struct wg_device dev;
	int rc;

	(void)state;
	t_key(T_HOME_PRIV, priv);
	rc = wg_uapi_format_set_device(priv, 51821, out, sizeof(out));
	assert_true(rc > 0);
	t_parse_ok(reply, t_request_as_reply(out, rc, reply, sizeof(reply)), &dev);
	assert_int_equal(dev.has_private_key, 1);
	assert_memory_equal(dev.private_key, priv, WG_KEY_LEN);
	t_assert_key(dev.public_key, T_HOME_PUB);
	assert_int_equal(dev.listen_port, 51821);
	assert_int_equal(dev.npeers, 0);
	wg_device_clear(&dev);
}

/* ---- wg_device helpers (shared/wg) ---------------------------------------- */

static void
test_wg_device_add_peer(void **state)
{
	struct wg_device dev;

	(void)state;
	memset(&dev, 0, sizeof(dev));
	for (size_t i = 0; i < 40; i++) {
		struct wg_peer *p = wg_device_add_peer(&dev);

		assert_non_null(p);
		assert_ptr_equal(p, &dev.peers[i]);
		assert_int_equal(dev.npeers, i + 1);
		assert_true(dev.peers_cap >= dev.npeers);
		/* Zeroed, even where an earlier slot was dirty. */
		assert_true(t_all_zero(p, sizeof(*p)));
		memset(p, 0xff, sizeof(*p));
		p->public_key[0] = (uint8_t)i;
	}
	/* The earlier peers survive the growth. */
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(dev.peers[i].public_key[0], i);
	wg_device_clear(&dev);
}

static void
test_wg_device_peers_max(void **state)
{
	struct wg_device dev;

	(void)state;
	memset(&dev, 0, sizeof(dev));
	for (size_t i = 0; i < WG_PEERS_MAX; i++) {
		if (wg_device_add_peer(&dev) == NULL)
			fail_msg("peer %zu refused", i);
	}
	assert_null(wg_device_add_peer(&dev));
	assert_int_equal(dev.npeers, WG_PEERS_MAX);
	wg_device_clear(&dev);
}

static void
test_wg_device_clear(void **state)
{
	struct wg_device dev;
	char err[T_ERR_MAX];

	(void)state;
	assert_int_equal(t_parse(t_reply_edge, strlen(t_reply_edge), &dev, err, sizeof(err)), 0);
	snprintf(dev.name, sizeof(dev.name), "wg0");
	wg_device_clear(&dev);
	/* Keys wiped, peers freed (LeakSanitizer would see them), all zero. */
	assert_true(t_all_zero(&dev, sizeof(dev)));
	/* A cleared or zeroed device may be cleared again. */
	wg_device_clear(&dev);
	assert_true(t_all_zero(&dev, sizeof(dev)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wg_uapi_parse_real_edge),
		cmocka_unit_test(test_wg_uapi_parse_real_home),
		cmocka_unit_test(test_wg_uapi_parse_every_truncation),
		cmocka_unit_test(test_wg_uapi_parse_bad_table),
		cmocka_unit_test(test_wg_uapi_parse_line_max),
		cmocka_unit_test(test_wg_uapi_parse_allowed_ips_max),
		cmocka_unit_test(test_wg_uapi_parse_peers_max),
		cmocka_unit_test(test_wg_uapi_parse_skipped_keys),
		cmocka_unit_test(test_wg_uapi_parse_keys_out_of_place),
		cmocka_unit_test(test_wg_uapi_parse_number_limits),
		cmocka_unit_test(test_wg_uapi_parse_small_errcap),
		cmocka_unit_test(test_wg_uapi_parse_errno_table),
		cmocka_unit_test(test_wg_uapi_format_exact),
		cmocka_unit_test(test_wg_uapi_format_longest),
		cmocka_unit_test(test_wg_uapi_round_trip_peer),
		cmocka_unit_test(test_wg_uapi_round_trip_real),
		cmocka_unit_test(test_wg_uapi_round_trip_device),
		cmocka_unit_test(test_wg_device_add_peer),
		cmocka_unit_test(test_wg_device_peers_max),
		cmocka_unit_test(test_wg_device_clear),
	};
	return cmocka_run_group_tests_name("wg_uapi", tests, NULL, NULL);
}
