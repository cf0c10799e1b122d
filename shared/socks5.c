#include "socks5.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cursor.h"

#define SOCKS5_VERSION 5
#define SOCKS5_METHOD_NOAUTH 0x00
#define SOCKS5_METHOD_NONE 0xff
#define SOCKS5_CMD_CONNECT 1
#define SOCKS5_ATYP_IPV4 1
#define SOCKS5_ATYP_DOMAIN 3
#define SOCKS5_ATYP_IPV6 4
#define SOCKS5_IPV4_LEN 4
#define SOCKS5_IPV6_LEN 16

/* An address prefix over 4 (IPv4) or 16 (IPv6) network-order bytes. */
struct socks5_prefix {
	uint8_t net[SOCKS5_IPV6_LEN];	/* host bits zero */
	unsigned bits;
};

/* An IPv6 prefix whose addresses carry an IPv4 address at v4_offset. */
struct socks5_embed {
	struct socks5_prefix prefix;
	size_t v4_offset;
};

static const struct socks5_prefix socks5_forbidden_v4[] = {
	{ { 0 }, 8 },			/* this network, unspecified */
	{ { 10 }, 8 },			/* RFC 1918 */
	{ { 100, 64 }, 10 },		/* RFC 6598 shared address space */
	{ { 127 }, 8 },			/* loopback */
	{ { 169, 254 }, 16 },		/* link-local */
	{ { 172, 16 }, 12 },		/* RFC 1918 */
	{ { 192, 168 }, 16 },		/* RFC 1918 */
	{ { 224 }, 4 },			/* multicast */
	{ { 240 }, 4 },			/* reserved, broadcast */
};

static const struct socks5_prefix socks5_forbidden_v6[] = {
	{ { 0 }, 128 },					/* unspecified */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128 },	/* loopback */
	{ { 0x01, 0x00 }, 64 },				/* RFC 6666 discard-only */
	{ { 0xfc }, 7 },				/* unique local */
	{ { 0xfe, 0x80 }, 10 },				/* link-local */
	{ { 0xfe, 0xc0 }, 10 },				/* site-local */
	{ { 0xff }, 8 },				/* multicast */
};

/* IPv4-mapped addresses never get here: addr_ip_bytes() reduces them to IPv4. */
static const struct socks5_embed socks5_embeds[] = {
	{ { { 0 }, 96 }, 12 },				/* IPv4-compatible */
	{ { { 0x00, 0x64, 0xff, 0x9b }, 96 }, 12 },	/* NAT64 */
	{ { { 0x20, 0x02 }, 16 }, 2 },			/* 6to4 */
};

int
socks5_parse_greeting(const uint8_t *in, size_t len, int *noauth_r, const char **err_r)
{
	struct cursor c = cursor_init(in, len), methods;
	uint8_t ver, n, method;
	const char *err;

	*noauth_r = 0;
	if (cursor_u8(&c, &ver) != 0)
		return 0;
	if (ver != SOCKS5_VERSION) {
		err = "not SOCKS version 5";
		goto fail;
	}
	if (cursor_u8(&c, &n) != 0)
		return 0;
	if (n == 0) {
		err = "no methods offered";
		goto fail;
	}
	if (cursor_sub(&c, n, &methods) != 0)
		return 0;
	while (cursor_u8(&methods, &method) == 0) {
		if (method == SOCKS5_METHOD_NOAUTH)
			*noauth_r = 1;
	}
	return (int)(len - c.left);
fail:
	*err_r = err;
	return -1;
}

void
socks5_method_reply(int noauth, uint8_t out[2])
{
	out[0] = SOCKS5_VERSION;
	out[1] = noauth ? SOCKS5_METHOD_NOAUTH : SOCKS5_METHOD_NONE;
}

/* Set *a_r to the n-byte (4 or 16) address ip and port. */
static void
socks5_addr_set(struct addr *a_r, const uint8_t *ip, size_t n, uint16_t port)
{
	memset(a_r, 0, sizeof(*a_r));
	if (n == SOCKS5_IPV4_LEN) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a_r->ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip, SOCKS5_IPV4_LEN);
		a_r->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a_r->ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip, SOCKS5_IPV6_LEN);
		a_r->len = sizeof(*sin6);
	}
	addr_set_port(a_r, port);
}

int
socks5_parse_request(const uint8_t *in, size_t len, struct socks5_request *r_r,
		     uint8_t *code_r, const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	uint8_t ver, rsv, atyp, name_len, ip[SOCKS5_IPV6_LEN];
	size_t ip_len = 0;
	uint8_t code = SOCKS5_FAILURE;
	const char *err;

	*code_r = SOCKS5_OK;
	memset(r_r, 0, sizeof(*r_r));
	if (cursor_u8(&c, &ver) != 0)
		return 0;
	if (ver != SOCKS5_VERSION) {
		err = "not SOCKS version 5";
		goto fail;
	}
	if (cursor_u8(&c, &r_r->cmd) != 0 || cursor_u8(&c, &rsv) != 0)
		return 0;
	if (rsv != 0) {
		err = "reserved byte not 0";
		goto fail;
	}
	if (cursor_u8(&c, &atyp) != 0)
		return 0;
	switch (atyp) {
	case SOCKS5_ATYP_IPV4:
		ip_len = SOCKS5_IPV4_LEN;
		break;
	case SOCKS5_ATYP_IPV6:
		ip_len = SOCKS5_IPV6_LEN;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (cursor_u8(&c, &name_len) != 0)
			return 0;
		if (name_len == 0 || name_len > DNSNAME_MAX) {
			err = "domain name length out of range";
			goto fail;
		}
		if (cursor_copy(&c, r_r->domain, name_len) != 0)
			return 0;
		r_r->domain[name_len] = '\0';
		if (dnsname_check(r_r->domain, name_len, 0) != 0) {
			err = "bad domain name";
			goto fail;
		}
		r_r->is_domain = 1;
		break;
	default:
		code = SOCKS5_ATYP_UNSUPPORTED;
		err = "address type not supported";
		goto fail;
	}
	if (ip_len != 0 && cursor_copy(&c, ip, ip_len) != 0)
		return 0;
	if (cursor_u16be(&c, &r_r->port) != 0)
		return 0;
	if (r_r->port == 0) {
		err = "port 0";
		goto fail;
	}
	if (ip_len != 0)
		socks5_addr_set(&r_r->dst, ip, ip_len, r_r->port);
	if (r_r->cmd != SOCKS5_CMD_CONNECT) {
		code = SOCKS5_CMD_UNSUPPORTED;
		err = "command not supported";
		goto fail;
	}
	return (int)(len - c.left);
fail:
	*code_r = code;
	*err_r = err;
	return -1;
}

size_t
socks5_encode_reply(uint8_t code, const struct addr *bound, uint8_t out[SOCKS5_REPLY_MAX])
{
	uint8_t ip[SOCKS5_IPV6_LEN];
	size_t n = 0;
	uint16_t port = 0;

	if (bound != NULL)
		n = addr_ip_bytes(bound, ip);
	if (n == SOCKS5_IPV4_LEN || n == SOCKS5_IPV6_LEN) {
		port = addr_port(bound);
	} else {
		n = SOCKS5_IPV4_LEN;
		memset(ip, 0, n);
	}
	out[0] = SOCKS5_VERSION;
	out[1] = code;
	out[2] = 0;
	out[3] = n == SOCKS5_IPV4_LEN ? SOCKS5_ATYP_IPV4 : SOCKS5_ATYP_IPV6;
	memcpy(out + 4, ip, n);
	out[4 + n] = (uint8_t)(port >> 8);
	out[5 + n] = (uint8_t)(port & 0xff);
	return 6 + n;
}

/* Returns 1 if the leading bits of b match p, else 0. */
static int
socks5_prefix_match(const uint8_t *b, const struct socks5_prefix *p)
{
	unsigned full = p->bits / 8, rest = p->bits % 8;
	uint8_t mask;

	if (memcmp(b, p->net, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (b[full] & mask) == p->net[full];
}

/* Returns 1 if b matches any of list[0..n), else 0. */
static int
socks5_prefix_list_match(const uint8_t *b, const struct socks5_prefix *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (socks5_prefix_match(b, &list[i]))
			return 1;
	}
	return 0;
}

int
socks5_forbidden_destination(const struct addr *a)
{
	uint8_t b[SOCKS5_IPV6_LEN];
	size_t n = addr_ip_bytes(a, b);

	if (n == SOCKS5_IPV4_LEN)
		return socks5_prefix_list_match(b, socks5_forbidden_v4,
						sizeof(socks5_forbidden_v4) / sizeof(socks5_forbidden_v4[0]));
	if (n != SOCKS5_IPV6_LEN)
		return 1;
	if (socks5_prefix_list_match(b, socks5_forbidden_v6,
				     sizeof(socks5_forbidden_v6) / sizeof(socks5_forbidden_v6[0])))
		return 1;
	for (size_t i = 0; i < sizeof(socks5_embeds) / sizeof(socks5_embeds[0]); i++) {
		const struct socks5_embed *e = &socks5_embeds[i];
		if (socks5_prefix_match(b, &e->prefix) &&
		    socks5_prefix_list_match(b + e->v4_offset, socks5_forbidden_v4,
					     sizeof(socks5_forbidden_v4) / sizeof(socks5_forbidden_v4[0])))
			return 1;
	}
	return 0;
}

/* ---- the client side ---- */

static const char *const socks5_reply_texts[] = {
	[SOCKS5_OK] = "succeeded",
	[SOCKS5_FAILURE] = "general SOCKS server failure",
	[SOCKS5_NOT_ALLOWED] = "connection not allowed by ruleset",
	[SOCKS5_NET_UNREACHABLE] = "network unreachable",
	[SOCKS5_HOST_UNREACHABLE] = "host unreachable",
	[SOCKS5_REFUSED] = "connection refused",
	[SOCKS5_TTL_EXPIRED] = "TTL expired",
	[SOCKS5_CMD_UNSUPPORTED] = "command not supported",
	[SOCKS5_ATYP_UNSUPPORTED] = "address type not supported",
};

void
socks5_client_greeting(uint8_t out[SOCKS5_CLIENT_GREETING_LEN])
{
	out[0] = SOCKS5_VERSION;
	out[1] = 1;
	out[2] = SOCKS5_METHOD_NOAUTH;
}

int
socks5_parse_method_reply(const uint8_t *in, size_t len, const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	uint8_t ver, method;
	const char *err;

	if (cursor_u8(&c, &ver) != 0)
		return 0;
	if (ver != SOCKS5_VERSION) {
		err = "not SOCKS version 5";
		goto fail;
	}
	if (cursor_u8(&c, &method) != 0)
		return 0;
	if (method == SOCKS5_METHOD_NONE) {
		err = "no acceptable method";
		goto fail;
	}
	if (method != SOCKS5_METHOD_NOAUTH) {
		err = "server chose a method not offered";
		goto fail;
	}
	return (int)(len - c.left);
fail:
	*err_r = err;
	return -1;
}

size_t
socks5_encode_connect(const struct addr *dst, uint8_t out[SOCKS5_REQUEST_MAX])
{
	uint8_t ip[SOCKS5_IPV6_LEN];
	size_t n = addr_ip_bytes(dst, ip);
	uint16_t port = addr_port(dst);

	if ((n != SOCKS5_IPV4_LEN && n != SOCKS5_IPV6_LEN) || port == 0)
		return 0;
	out[0] = SOCKS5_VERSION;
	out[1] = SOCKS5_CMD_CONNECT;
	out[2] = 0;
	out[3] = n == SOCKS5_IPV4_LEN ? SOCKS5_ATYP_IPV4 : SOCKS5_ATYP_IPV6;
	memcpy(out + 4, ip, n);
	out[4 + n] = (uint8_t)(port >> 8);
	out[5 + n] = (uint8_t)(port & 0xff);
	return 6 + n;
}

int
socks5_parse_reply(const uint8_t *in, size_t len, uint8_t *code_r, struct addr *bound_r,
		   const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	uint8_t ver, rep, rsv, atyp, name_len, ip[SOCKS5_IPV6_LEN];
	size_t ip_len = 0;
	uint16_t port;
	const char *err;

	*code_r = SOCKS5_FAILURE;
	memset(bound_r, 0, sizeof(*bound_r));
	if (cursor_u8(&c, &ver) != 0)
		return 0;
	if (ver != SOCKS5_VERSION) {
		err = "not SOCKS version 5";
		goto fail;
	}
	if (cursor_u8(&c, &rep) != 0 || cursor_u8(&c, &rsv) != 0)
		return 0;
	if (rsv != 0) {
		err = "reserved byte not 0";
		goto fail;
	}
	if (cursor_u8(&c, &atyp) != 0)
		return 0;
	switch (atyp) {
	case SOCKS5_ATYP_IPV4:
		ip_len = SOCKS5_IPV4_LEN;
		break;
	case SOCKS5_ATYP_IPV6:
		ip_len = SOCKS5_IPV6_LEN;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (cursor_u8(&c, &name_len) != 0)
			return 0;
		if (name_len == 0) {
			err = "domain name length 0";
			goto fail;
		}
		if (cursor_skip(&c, name_len) != 0)
			return 0;
		break;
	default:
		err = "address type not supported";
		goto fail;
	}
	if (ip_len != 0 && cursor_copy(&c, ip, ip_len) != 0)
		return 0;
	if (cursor_u16be(&c, &port) != 0)
		return 0;
	if (ip_len != 0)
		socks5_addr_set(bound_r, ip, ip_len, port);
	*code_r = rep;
	return (int)(len - c.left);
fail:
	*err_r = err;
	return -1;
}

const char *
socks5_reply_text(uint8_t code)
{
	if (code < sizeof(socks5_reply_texts) / sizeof(socks5_reply_texts[0]))
		return socks5_reply_texts[code];
	return "unknown reply code";
}
