/*
 * Unit tests for shared/wg_netlink against the kernel's WireGuard
 * generic-netlink layout: include/uapi/linux/wireguard.h's comment, and
 * drivers/net/wireguard/netlink.c for what its dump really writes
 * (get_peer(), get_allowedips(), wg_get_device_dump()).
 *
 * Requests are built and taken apart again with libmnl: header, command,
 * every attribute's type, size and value, nothing else, NLA_F_NESTED on
 * every nest (the kernel's nla_parse_nested() refuses a nest without it),
 * and every cap too small. Replies are made here the way the kernel lays
 * them out (device attributes, then peers; a dump split over messages
 * repeats a peer's public key with the rest of its allowed IPs) and parsed:
 * every field, and every malformed case with its exact reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include <sodium.h>

#include "addr.h"
#include "nl.h"
#include "wg.h"
#include "wg_netlink.h"

#define T_FAMILY 0x1d		/* what the controller would have said */
#define T_OTHER_FAMILY 0x2a7
#define T_BUF 16384
#define T_CANARY 16
#define T_GENL_HDRLEN (MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr)))

/* Keys from test_wg_uapi's wireguard-go capture: the edge, the home, a third peer. */
#define T_EDGE_PRIV "a87a8cc9b173fc16ebf6a554a94acf81811c9a338632801679d2227349a6407d"
#define T_EDGE_PUB "b48c635fe139ae46cea41f800e77f96e33a017cd85f12a7f64dd5c7933b30428"
#define T_HOME_PUB "1699618e5d9d92a4fadd9b09b90dd06102c84f3d767f714429ce41108f05040e"
#define T_NOBODY_PUB "e5c17517e5d1a37a7873264a6d6dbe0f522642bcfbf94a74653956eadfa52230"

/* ---- helpers -------------------------------------------------------------- */

struct t_ip {
	int family;
	const char *net;
	unsigned mask;
};

static void
t_key(const char *hex, uint8_t out[WG_KEY_LEN])
{
	size_t n = 0;

	assert_int_equal(sodium_hex2bin(out, WG_KEY_LEN, hex, strlen(hex), NULL, &n, NULL), 0);
	assert_int_equal(n, WG_KEY_LEN);
}

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
t_cidr(struct cidr *c, const struct t_ip *ip)
{
	memset(c, 0, sizeof(*c));
	c->family = ip->family;
	c->prefix = ip->mask;
	assert_int_equal(inet_pton(ip->family, ip->net, c->net), 1);
}

/*
 * The attributes in payload[0..len) tile it exactly: each one whole, none
 * cut short, nothing after the last (libmnl's own walk stops silently).
 */
static void
t_assert_tiled(const void *payload, size_t len)
{
	const uint8_t *p = payload;
	size_t at = 0;

	while (at < len) {
		const struct nlattr *a = (const struct nlattr *)(p + at);

		assert_true(len - at >= sizeof(*a));
		assert_true(a->nla_len >= sizeof(*a) && a->nla_len <= len - at);
		at += MNL_ALIGN(a->nla_len);
	}
	assert_int_equal(at, len);
}

static void
t_assert_nest(const struct nlattr *a)
{
	assert_true(a->nla_type & NLA_F_NESTED);
	assert_int_equal(mnl_attr_validate(a, MNL_TYPE_NESTED), 0);
	t_assert_tiled(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
}

static void
t_assert_not_nest(const struct nlattr *a)
{
	assert_false(a->nla_type & NLA_F_NESTED);
}

/* ---- requests, taken apart ------------------------------------------------- */

struct t_ip_seen {
	int n_family, n_addr, n_mask;
	uint16_t family;
	uint8_t addr[16];
	size_t addr_len;
	uint8_t mask;
};

struct t_peer_seen {
	int n_key, n_flags, n_endpoint, n_keepalive, n_ips;
	uint8_t key[WG_KEY_LEN];
	uint32_t flags;
	uint8_t endpoint[sizeof(struct sockaddr_in6)];
	size_t endpoint_len;
	uint16_t keepalive;
	size_t nips;
	struct t_ip_seen ips[WG_ALLOWED_IPS_MAX];
};

struct t_req_seen {
	int n_ifname, n_private_key, n_listen_port, n_peers;
	char ifname[IFNAMSIZ];
	uint8_t private_key[WG_KEY_LEN];
	uint16_t listen_port;
	size_t npeers;
	struct t_peer_seen peer;
};

static int
t_on_req_ip_attr(const struct nlattr *a, void *data)
{
	struct t_ip_seen *ip = data;
	size_t len = mnl_attr_get_payload_len(a);

	t_assert_not_nest(a);
	switch (mnl_attr_get_type(a)) {
	case WGALLOWEDIP_A_FAMILY:
		assert_int_equal(len, sizeof(uint16_t));
		ip->family = mnl_attr_get_u16(a);
		ip->n_family++;
		break;
	case WGALLOWEDIP_A_IPADDR:
		assert_true(len == 4 || len == 16);
		memcpy(ip->addr, mnl_attr_get_payload(a), len);
		ip->addr_len = len;
		ip->n_addr++;
		break;
	case WGALLOWEDIP_A_CIDR_MASK:
		assert_int_equal(len, sizeof(uint8_t));
		ip->mask = mnl_attr_get_u8(a);
		ip->n_mask++;
		break;
	default:
		fail_msg("allowed IP attribute %u", mnl_attr_get_type(a));
	}
	return MNL_CB_OK;
}

static int
t_on_req_ip(const struct nlattr *a, void *data)
{
	struct t_peer_seen *peer = data;
	struct t_ip_seen *ip;

	t_assert_nest(a);
	assert_true(peer->nips < WG_ALLOWED_IPS_MAX);
	ip = &peer->ips[peer->nips++];
	assert_int_equal(mnl_attr_parse_nested(a, t_on_req_ip_attr, ip), MNL_CB_OK);
	assert_int_equal(ip->n_family, 1);
	assert_int_equal(ip->n_addr, 1);
	assert_int_equal(ip->n_mask, 1);
	return MNL_CB_OK;
}

static int
t_on_req_peer_attr(const struct nlattr *a, void *data)
{
	struct t_peer_seen *peer = data;
	size_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case WGPEER_A_PUBLIC_KEY:
		t_assert_not_nest(a);
		assert_int_equal(len, WG_KEY_LEN);
		memcpy(peer->key, mnl_attr_get_payload(a), WG_KEY_LEN);
		peer->n_key++;
		break;
	case WGPEER_A_FLAGS:
		t_assert_not_nest(a);
		assert_int_equal(len, sizeof(uint32_t));
		peer->flags = mnl_attr_get_u32(a);
		peer->n_flags++;
		break;
	case WGPEER_A_ENDPOINT:
		t_assert_not_nest(a);
		assert_true(len == sizeof(struct sockaddr_in) || len == sizeof(struct sockaddr_in6));
		memcpy(peer->endpoint, mnl_attr_get_payload(a), len);
		peer->endpoint_len = len;
		peer->n_endpoint++;
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		t_assert_not_nest(a);
		assert_int_equal(len, sizeof(uint16_t));
		peer->keepalive = mnl_attr_get_u16(a);
		peer->n_keepalive++;
		break;
	case WGPEER_A_ALLOWEDIPS:
		t_assert_nest(a);
		assert_int_equal(mnl_attr_parse_nested(a, t_on_req_ip, peer), MNL_CB_OK);
		peer->n_ips++;
		break;
	default:
		fail_msg("peer attribute %u", mnl_attr_get_type(a));
	}
	return MNL_CB_OK;
}

static int
t_on_req_peer(const struct nlattr *a, void *data)
{
	struct t_req_seen *seen = data;

	t_assert_nest(a);
	seen->npeers++;
	assert_int_equal(mnl_attr_parse_nested(a, t_on_req_peer_attr, &seen->peer), MNL_CB_OK);
	return MNL_CB_OK;
}

static int
t_on_req_attr(const struct nlattr *a, void *data)
{
	struct t_req_seen *seen = data;
	size_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case WGDEVICE_A_IFNAME:
		t_assert_not_nest(a);
		/* NLA_NUL_STRING, at most IFNAMSIZ - 1 characters. */
		assert_true(len >= 1 && len <= IFNAMSIZ);
		assert_int_equal(((const char *)mnl_attr_get_payload(a))[len - 1], '\0');
		assert_int_equal(strlen(mnl_attr_get_str(a)), len - 1);
		memcpy(seen->ifname, mnl_attr_get_payload(a), len);
		seen->n_ifname++;
		break;
	case WGDEVICE_A_PRIVATE_KEY:
		t_assert_not_nest(a);
		assert_int_equal(len, WG_KEY_LEN);
		memcpy(seen->private_key, mnl_attr_get_payload(a), WG_KEY_LEN);
		seen->n_private_key++;
		break;
	case WGDEVICE_A_LISTEN_PORT:
		t_assert_not_nest(a);
		assert_int_equal(len, sizeof(uint16_t));
		seen->listen_port = mnl_attr_get_u16(a);
		seen->n_listen_port++;
		break;
	case WGDEVICE_A_PEERS:
		t_assert_nest(a);
		assert_int_equal(mnl_attr_parse_nested(a, t_on_req_peer, seen), MNL_CB_OK);
		seen->n_peers++;
		break;
	default:
		fail_msg("device attribute %u", mnl_attr_get_type(a));
	}
	return MNL_CB_OK;
}

static void
t_decode(const struct nlmsghdr *nlh, size_t cap, uint16_t family, uint16_t flags, uint8_t cmd,
	 struct t_req_seen *seen)
{
	const struct genlmsghdr *genl;

	memset(seen, 0, sizeof(*seen));
	assert_true(nlh->nlmsg_len >= T_GENL_HDRLEN && nlh->nlmsg_len <= cap);
	assert_int_equal(nlh->nlmsg_type, family);
	assert_int_equal(nlh->nlmsg_flags, flags);
	genl = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(genl->cmd, cmd);
	assert_int_equal(genl->version, WG_GENL_VERSION);
	assert_int_equal(genl->reserved, 0);
	t_assert_tiled(mnl_nlmsg_get_payload_offset(nlh, sizeof(*genl)),
		       nlh->nlmsg_len - T_GENL_HDRLEN);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*genl), t_on_req_attr, seen), MNL_CB_OK);
	/* Every request names its device, once. */
	assert_int_equal(seen->n_ifname, 1);
}

#define T_SET_FLAGS (NLM_F_REQUEST | NLM_F_ACK)

static void
t_assert_endpoint_bytes(const struct t_peer_seen *p, int family, const char *ip, uint16_t port)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(family, ip, want), 1);
	if (family == AF_INET) {
		struct sockaddr_in sin;
		assert_int_equal(p->endpoint_len, sizeof(sin));
		memcpy(&sin, p->endpoint, sizeof(sin));
		assert_int_equal(sin.sin_family, AF_INET);
		/* Network order, as in any sockaddr. */
		assert_int_equal(p->endpoint[2], port >> 8);
		assert_int_equal(p->endpoint[3], port & 0xff);
		assert_memory_equal(&sin.sin_addr, want, 4);
	} else {
		struct sockaddr_in6 sin6;
		assert_int_equal(p->endpoint_len, sizeof(sin6));
		memcpy(&sin6, p->endpoint, sizeof(sin6));
		assert_int_equal(sin6.sin6_family, AF_INET6);
		assert_int_equal(p->endpoint[2], port >> 8);
		assert_int_equal(p->endpoint[3], port & 0xff);
		assert_memory_equal(&sin6.sin6_addr, want, 16);
		assert_int_equal(sin6.sin6_flowinfo, 0);
		assert_int_equal(sin6.sin6_scope_id, 0);
	}
}

static void
t_assert_ips_seen(const struct t_peer_seen *p, const struct t_ip *want, size_t n)
{
	assert_int_equal(p->n_ips, 1);
	assert_int_equal(p->nips, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t net[16];
		size_t len = want[i].family == AF_INET ? 4 : 16;

		assert_int_equal(inet_pton(want[i].family, want[i].net, net), 1);
		assert_int_equal(p->ips[i].family, want[i].family);
		assert_int_equal(p->ips[i].addr_len, len);
		assert_memory_equal(p->ips[i].addr, net, len);
		assert_int_equal(p->ips[i].mask, want[i].mask);
	}
}

static const struct t_ip t_ips_a[] = {
	{ AF_INET, "192.0.2.2", 32 },
	{ AF_INET6, "2001:db8:77::2", 128 },
	{ AF_INET, "198.51.100.128", 25 },
	{ AF_INET6, "2001:db8:1::", 48 },
};

static void
t_peer(struct wg_peer *p, const char *key_hex, int family, const char *ip, uint16_t port,
       uint16_t keepalive, const struct t_ip *ips, size_t n)
{
	memset(p, 0, sizeof(*p));
	t_key(key_hex, p->public_key);
	if (family != 0)
		t_endpoint(&p->endpoint, family, ip, port);
	p->keepalive = keepalive;
	for (size_t i = 0; i < n; i++)
		t_cidr(&p->allowed_ips[i], &ips[i]);
	p->n_allowed_ips = n;
}

/* The most allowed IPs a peer has, all IPv6. */
static void
t_peer_full(struct wg_peer *p, struct t_ip *ips)
{
	static char nets[WG_ALLOWED_IPS_MAX][INET6_ADDRSTRLEN];

	for (size_t i = 0; i < WG_ALLOWED_IPS_MAX; i++) {
		snprintf(nets[i], sizeof(nets[i]), "2001:db8:%zx::", i + 1);
		ips[i].family = AF_INET6;
		ips[i].net = nets[i];
		ips[i].mask = 48;
	}
	t_peer(p, T_NOBODY_PUB, AF_INET6, "2001:db8:ffff::1", 65535, 65535, ips, WG_ALLOWED_IPS_MAX);
}

static void
test_wg_netlink_build_get(void **state)
{
	static const char *const names[] = { "wg0", "hpwgt0123456789" };
	uint64_t buf[T_BUF / 8];
	struct t_req_seen seen;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct nlmsghdr *nlh = wg_netlink_build_get(buf, sizeof(buf), T_FAMILY, names[i]);

		assert_ptr_equal(nlh, buf);
		t_decode(nlh, sizeof(buf), T_FAMILY, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP,
			 WG_CMD_GET_DEVICE, &seen);
		assert_string_equal(seen.ifname, names[i]);
		assert_int_equal(seen.n_private_key + seen.n_listen_port + seen.n_peers, 0);
	}
	/* The family id is whatever the caller passes. */
	assert_non_null(wg_netlink_build_get(buf, sizeof(buf), T_OTHER_FAMILY, "wg0"));
	t_decode((struct nlmsghdr *)buf, sizeof(buf), T_OTHER_FAMILY,
		 NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, WG_CMD_GET_DEVICE, &seen);
}

static void
test_wg_netlink_build_set_device(void **state)
{
	uint64_t buf[T_BUF / 8];
	uint8_t priv[WG_KEY_LEN];
	struct t_req_seen seen;
	struct nlmsghdr *nlh;

	(void)state;
	t_key(T_EDGE_PRIV, priv);

	nlh = wg_netlink_build_set_device(buf, sizeof(buf), T_FAMILY, "wgedge", priv, 51820);
	assert_non_null(nlh);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_string_equal(seen.ifname, "wgedge");
	assert_int_equal(seen.n_private_key, 1);
	assert_memory_equal(seen.private_key, priv, WG_KEY_LEN);
	assert_int_equal(seen.n_listen_port, 1);
	assert_int_equal(seen.listen_port, 51820);
	assert_int_equal(seen.n_peers, 0);

	/* Keep both: only the name. */
	nlh = wg_netlink_build_set_device(buf, sizeof(buf), T_FAMILY, "wgedge", NULL, -1);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.n_private_key + seen.n_listen_port + seen.n_peers, 0);

	/* Port 0: random, and sent. */
	nlh = wg_netlink_build_set_device(buf, sizeof(buf), T_FAMILY, "wgedge", NULL, 0);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.n_private_key, 0);
	assert_int_equal(seen.n_listen_port, 1);
	assert_int_equal(seen.listen_port, 0);

	nlh = wg_netlink_build_set_device(buf, sizeof(buf), T_FAMILY, "wgedge", priv, -1);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.n_private_key, 1);
	assert_int_equal(seen.n_listen_port, 0);

	nlh = wg_netlink_build_set_device(buf, sizeof(buf), T_FAMILY, "wgedge", NULL, 65535);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.listen_port, 65535);
}

static void
test_wg_netlink_build_set_peer(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct t_ip full_ips[WG_ALLOWED_IPS_MAX];
	struct t_req_seen seen;
	struct nlmsghdr *nlh;
	struct wg_peer p;

	(void)state;
	/* IPv4 endpoint. */
	t_peer(&p, T_HOME_PUB, AF_INET, "198.51.100.25", 51821, 25, t_ips_a, 3);
	p.rx_bytes = 1;		/* read-only fields: never sent */
	p.last_handshake_sec = 2;
	nlh = wg_netlink_build_set_peer(buf, sizeof(buf), T_FAMILY, "wgedge", &p);
	assert_non_null(nlh);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.n_private_key + seen.n_listen_port, 0);
	assert_int_equal(seen.n_peers, 1);
	assert_int_equal(seen.npeers, 1);
	assert_int_equal(seen.peer.n_key, 1);
	assert_memory_equal(seen.peer.key, p.public_key, WG_KEY_LEN);
	assert_int_equal(seen.peer.n_flags, 1);
	assert_int_equal(seen.peer.flags, WGPEER_F_REPLACE_ALLOWEDIPS);
	assert_int_equal(seen.peer.n_endpoint, 1);
	t_assert_endpoint_bytes(&seen.peer, AF_INET, "198.51.100.25", 51821);
	assert_int_equal(seen.peer.n_keepalive, 1);
	assert_int_equal(seen.peer.keepalive, 25);
	t_assert_ips_seen(&seen.peer, t_ips_a, 3);

	/* IPv6 endpoint, keepalive off (sent as 0). */
	t_peer(&p, T_NOBODY_PUB, AF_INET6, "2001:db8::c", 4500, 0, t_ips_a + 1, 3);
	nlh = wg_netlink_build_set_peer(buf, sizeof(buf), T_FAMILY, "wgedge", &p);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	t_assert_endpoint_bytes(&seen.peer, AF_INET6, "2001:db8::c", 4500);
	assert_int_equal(seen.peer.n_keepalive, 1);
	assert_int_equal(seen.peer.keepalive, 0);
	t_assert_ips_seen(&seen.peer, t_ips_a + 1, 3);

	/* No endpoint; no allowed IPs, which with REPLACE_ALLOWEDIPS removes them all. */
	t_peer(&p, T_HOME_PUB, 0, NULL, 0, 0, NULL, 0);
	nlh = wg_netlink_build_set_peer(buf, sizeof(buf), T_FAMILY, "wgedge", &p);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_int_equal(seen.peer.n_endpoint, 0);
	assert_int_equal(seen.peer.flags, WGPEER_F_REPLACE_ALLOWEDIPS);
	t_assert_ips_seen(&seen.peer, NULL, 0);

	/* WG_ALLOWED_IPS_MAX of them. */
	t_peer_full(&p, full_ips);
	nlh = wg_netlink_build_set_peer(buf, sizeof(buf), T_FAMILY, "wgedge", &p);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	t_assert_endpoint_bytes(&seen.peer, AF_INET6, "2001:db8:ffff::1", 65535);
	assert_int_equal(seen.peer.keepalive, 65535);
	t_assert_ips_seen(&seen.peer, full_ips, WG_ALLOWED_IPS_MAX);
	/* And the largest request fits the I/O functions' buffer. */
	assert_true(nlh->nlmsg_len <= MNL_SOCKET_BUFFER_SIZE);
}

static void
test_wg_netlink_build_remove_peer(void **state)
{
	uint64_t buf[T_BUF / 8];
	uint8_t key[WG_KEY_LEN];
	struct t_req_seen seen;
	struct nlmsghdr *nlh;

	(void)state;
	t_key(T_HOME_PUB, key);
	nlh = wg_netlink_build_remove_peer(buf, sizeof(buf), T_FAMILY, "wgedge", key);
	assert_non_null(nlh);
	t_decode(nlh, sizeof(buf), T_FAMILY, T_SET_FLAGS, WG_CMD_SET_DEVICE, &seen);
	assert_string_equal(seen.ifname, "wgedge");
	assert_int_equal(seen.n_private_key + seen.n_listen_port, 0);
	assert_int_equal(seen.n_peers, 1);
	assert_int_equal(seen.npeers, 1);
	assert_int_equal(seen.peer.n_key, 1);
	assert_memory_equal(seen.peer.key, key, WG_KEY_LEN);
	assert_int_equal(seen.peer.n_flags, 1);
	assert_int_equal(seen.peer.flags, WGPEER_F_REMOVE_ME);
	assert_int_equal(seen.peer.n_endpoint + seen.peer.n_keepalive + seen.peer.n_ips, 0);
}

/* ---- caps and names -------------------------------------------------------- */

struct t_build {
	const char *name;
	int kind;		/* 0 get, 1 set_device, 2 set_peer, 3 remove_peer */
	const uint8_t *key;
	int port;
	const struct wg_peer *peer;
};

static struct nlmsghdr *
t_build(const struct t_build *b, void *buf, size_t cap, const char *ifname)
{
	switch (b->kind) {
	case 0:
		return wg_netlink_build_get(buf, cap, T_FAMILY, ifname);
	case 1:
		return wg_netlink_build_set_device(buf, cap, T_FAMILY, ifname, b->key, b->port);
	case 2:
		return wg_netlink_build_set_peer(buf, cap, T_FAMILY, ifname, b->peer);
	default:
		return wg_netlink_build_remove_peer(buf, cap, T_FAMILY, ifname, b->key);
	}
}

/* Every cap below the message's size gives NULL, without a byte written past it. */
static void
test_wg_netlink_build_caps(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct t_ip full_ips[WG_ALLOWED_IPS_MAX];
	struct wg_peer p4, p6, bare, full;
	uint64_t ref[T_BUF / 8];

	(void)state;
	t_key(T_EDGE_PRIV, priv);
	t_key(T_HOME_PUB, pub);
	t_peer(&p4, T_HOME_PUB, AF_INET, "198.51.100.25", 51821, 25, t_ips_a, 3);
	t_peer(&p6, T_NOBODY_PUB, AF_INET6, "2001:db8::c", 4500, 0, t_ips_a, 4);
	t_peer(&bare, T_HOME_PUB, 0, NULL, 0, 0, NULL, 0);
	t_peer_full(&full, full_ips);

	const struct t_build builds[] = {
		{ "get", 0, NULL, 0, NULL },
		{ "set_device key+port", 1, priv, 51820, NULL },
		{ "set_device key", 1, priv, -1, NULL },
		{ "set_device port", 1, NULL, 1, NULL },
		{ "set_device nothing", 1, NULL, -1, NULL },
		{ "set_peer IPv4", 2, NULL, 0, &p4 },
		{ "set_peer IPv6", 2, NULL, 0, &p6 },
		{ "set_peer bare", 2, NULL, 0, &bare },
		{ "set_peer full", 2, NULL, 0, &full },
		{ "remove_peer", 3, pub, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		const struct t_build *b = &builds[i];
		struct nlmsghdr *nlh;
		size_t need;

		memset(ref, 0, sizeof(ref));
		nlh = t_build(b, ref, sizeof(ref), "hpwgt0123456789");

		assert_non_null(nlh);
		need = nlh->nlmsg_len;
		for (size_t cap = 0; cap <= need; cap++) {
			/* Exactly cap bytes for ASan; then cap bytes and a canary for everyone else. */
			void *out = malloc(cap), *guarded = malloc(cap + T_CANARY);
			struct nlmsghdr *got, *got_guarded;

			assert_true(out != NULL || cap == 0);
			assert_non_null(guarded);
			/* Stale bytes, which must not show through the attributes' padding. */
			if (cap > 0)
				memset(out, 0x5a, cap);
			memset(guarded, 0x5a, cap + T_CANARY);
			got = t_build(b, out, cap, "hpwgt0123456789");
			got_guarded = t_build(b, guarded, cap, "hpwgt0123456789");
			for (size_t k = cap; k < cap + T_CANARY; k++) {
				if (((uint8_t *)guarded)[k] != 0x5a)
					fail_msg("%s, cap %zu: byte %zu written", b->name, cap, k);
			}
			if (cap < need) {
				if (got != NULL || got_guarded != NULL)
					fail_msg("%s: built in %zu bytes of %zu", b->name, cap, need);
			} else {
				assert_ptr_equal(got, out);
				assert_ptr_equal(got_guarded, guarded);
				assert_memory_equal(out, ref, need);
			}
			free(out);
			free(guarded);
		}
	}
}

/* Interface names: IFNAMSIZ - 1 characters at most, for every builder. */
static void
test_wg_netlink_build_ifname(void **state)
{
	uint8_t key[WG_KEY_LEN];
	uint64_t buf[T_BUF / 8];
	struct wg_peer p;
	struct t_req_seen seen;

	(void)state;
	t_key(T_HOME_PUB, key);
	t_peer(&p, T_HOME_PUB, AF_INET, "198.51.100.25", 51821, 25, t_ips_a, 3);
	const struct t_build builds[] = {
		{ "get", 0, NULL, 0, NULL },
		{ "set_device", 1, key, 51820, NULL },
		{ "set_peer", 2, NULL, 0, &p },
		{ "remove_peer", 3, key, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		struct nlmsghdr *nlh = t_build(&builds[i], buf, sizeof(buf), "hpwgt0123456789");

		assert_non_null(nlh);
		t_decode(nlh, sizeof(buf), T_FAMILY, builds[i].kind == 0 ? T_SET_FLAGS | NLM_F_DUMP
									: T_SET_FLAGS,
			 builds[i].kind == 0 ? WG_CMD_GET_DEVICE : WG_CMD_SET_DEVICE, &seen);
		assert_string_equal(seen.ifname, "hpwgt0123456789");
		if (t_build(&builds[i], buf, sizeof(buf), "hpwgt0123456789a") != NULL)
			fail_msg("%s: 16-character name accepted", builds[i].name);
		if (t_build(&builds[i], buf, sizeof(buf), "hpwgt0123456789abcdefghij") != NULL)
			fail_msg("%s: 25-character name accepted", builds[i].name);
	}
}

/* ---- fake kernel replies ------------------------------------------------- */

struct t_fake_peer {
	const char *key;
	int64_t handshake_sec, handshake_nsec;
	uint16_t keepalive;
	uint64_t tx, rx;
	int ep_family;			/* 0: no endpoint */
	const char *ep_ip;
	uint16_t ep_port;
	const struct t_ip *ips;
	size_t nips;
};

static struct nlmsghdr *
t_reply_start(void *buf)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	memset(buf, 0, T_BUF);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = T_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = 1795857871;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

/* The device attributes of a dump's first message, in wg_get_device_dump()'s order. */
static void
t_put_device(struct nlmsghdr *nlh, const char *ifname, const char *priv_hex, const char *pub_hex,
	     uint16_t port, uint32_t fwmark)
{
	uint8_t key[WG_KEY_LEN];

	mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, port);
	mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, fwmark);
	mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 7);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	if (priv_hex != NULL) {
		t_key(priv_hex, key);
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, key);
		t_key(pub_hex, key);
		mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, WG_KEY_LEN, key);
	}
}

/* One allowed IP, as get_allowedips() writes it: mask, family, address. */
static void
t_put_ip(struct nlmsghdr *nlh, const struct t_ip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, 0);
	uint8_t net[16];

	assert_int_equal(inet_pton(ip->family, ip->net, net), 1);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, (uint8_t)ip->mask);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, (uint16_t)ip->family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, ip->family == AF_INET ? 4 : 16, net);
	mnl_attr_nest_end(nlh, nest);
}

static void
t_put_ips(struct nlmsghdr *nlh, const struct t_ip *ips, size_t from, size_t to)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);

	for (size_t i = from; i < to; i++)
		t_put_ip(nlh, &ips[i]);
	mnl_attr_nest_end(nlh, nest);
}

/*
 * One peer as get_peer() writes it: public key, preshared key, last
 * handshake, keepalive, tx, rx, protocol version, endpoint, and its allowed
 * IPs [from, to). With pad, a WGPEER_A_UNSPEC pad before the counters, as
 * nla_put_u64_64bit() adds on some machines.
 */
static void
t_put_peer(struct nlmsghdr *nlh, const struct t_fake_peer *p, size_t from, size_t to, int pad)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, 0);
	struct __kernel_timespec ts = { .tv_sec = p->handshake_sec, .tv_nsec = p->handshake_nsec };
	uint8_t key[WG_KEY_LEN], psk[WG_KEY_LEN] = { 0 };
	struct addr ep;

	t_key(p->key, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, psk);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->keepalive);
	if (pad)
		mnl_attr_put(nlh, WGPEER_A_UNSPEC, 0, psk);
	mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, p->tx);
	mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, p->rx);
	mnl_attr_put_u32(nlh, WGPEER_A_PROTOCOL_VERSION, 1);
	if (p->ep_family != 0) {
		t_endpoint(&ep, p->ep_family, p->ep_ip, p->ep_port);
		mnl_attr_put(nlh, WGPEER_A_ENDPOINT, ep.len, &ep.ss);
	}
	if (to > from)
		t_put_ips(nlh, p->ips, from, to);
	mnl_attr_nest_end(nlh, nest);
}

/* A later message's first peer: only the public key and more allowed IPs. */
static void
t_put_peer_more(struct nlmsghdr *nlh, const struct t_fake_peer *p, size_t from, size_t to)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, 0);
	uint8_t key[WG_KEY_LEN];

	t_key(p->key, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	t_put_ips(nlh, p->ips, from, to);
	mnl_attr_nest_end(nlh, nest);
}

/* Parse from an exact-size heap copy, so ASan sees reads past the message. */
static int
t_parse(const struct nlmsghdr *nlh, struct wg_device *dev, const char **why)
{
	size_t len = MNL_ALIGN(nlh->nlmsg_len);
	void *copy = malloc(len);
	int rc;

	assert_non_null(copy);
	memcpy(copy, nlh, len);
	*why = NULL;
	rc = wg_netlink_parse_device(copy, dev, why);
	free(copy);
	return rc;
}

static void
t_parse_ok(const struct nlmsghdr *nlh, struct wg_device *dev)
{
	const char *why;

	if (t_parse(nlh, dev, &why) != 0)
		fail_msg("refused: %s", why);
}

static void
t_assert_peer(const struct wg_peer *got, const struct t_fake_peer *want)
{
	uint8_t key[WG_KEY_LEN];
	struct addr ep;

	t_key(want->key, key);
	assert_memory_equal(got->public_key, key, WG_KEY_LEN);
	if (want->ep_family == 0) {
		assert_int_equal(got->endpoint.len, 0);
	} else {
		t_endpoint(&ep, want->ep_family, want->ep_ip, want->ep_port);
		assert_int_equal(got->endpoint.len, ep.len);
		assert_memory_equal(&got->endpoint.ss, &ep.ss, ep.len);
	}
	assert_int_equal(got->keepalive, want->keepalive);
	assert_int_equal(got->last_handshake_sec, want->handshake_sec);
	assert_int_equal(got->rx_bytes, want->rx);
	assert_int_equal(got->tx_bytes, want->tx);
	assert_int_equal(got->n_allowed_ips, want->nips);
	for (size_t i = 0; i < want->nips; i++) {
		struct cidr c;

		t_cidr(&c, &want->ips[i]);
		if (got->allowed_ips[i].family != c.family || got->allowed_ips[i].prefix != c.prefix ||
		    memcmp(got->allowed_ips[i].net, c.net, 16) != 0)
			fail_msg("allowed IP %zu differs from %s/%u", i, want->ips[i].net,
				 want->ips[i].mask);
	}
}

static const struct t_ip t_ips_b[] = {
	{ AF_INET, "203.0.113.0", 24 },
	{ AF_INET6, "2001:db8:1::", 48 },
	{ AF_INET, "192.0.2.128", 25 },
	{ AF_INET6, "2001:db8:2::", 64 },
};

static const struct t_fake_peer t_fake_home = {
	.key = T_HOME_PUB, .handshake_sec = 1795857871, .handshake_nsec = 715080360,
	.keepalive = 25, .tx = 180, .rx = 92, .ep_family = AF_INET, .ep_ip = "198.51.100.25",
	.ep_port = 51821, .ips = t_ips_a, .nips = 3,
};

static const struct t_fake_peer t_fake_nobody = {
	.key = T_NOBODY_PUB, .tx = 1ULL << 40, .rx = UINT64_MAX, .ep_family = AF_INET6,
	.ep_ip = "2001:db8::c", .ep_port = 4500, .ips = t_ips_b, .nips = 4,
};

static void
test_wg_netlink_parse_device(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct nlmsghdr *nlh = t_reply_start(buf);
	struct nlattr *peers;
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];

	(void)state;
	t_put_device(nlh, "wgedge0", T_EDGE_PRIV, T_EDGE_PUB, 51820, 42);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer(nlh, &t_fake_home, 0, 3, 1);
	t_put_peer(nlh, &t_fake_nobody, 0, 4, 0);
	mnl_attr_nest_end(nlh, peers);

	memset(&dev, 0, sizeof(dev));
	t_parse_ok(nlh, &dev);
	assert_string_equal(dev.name, "wgedge0");
	assert_int_equal(dev.has_private_key, 1);
	t_key(T_EDGE_PRIV, key);
	assert_memory_equal(dev.private_key, key, WG_KEY_LEN);
	t_key(T_EDGE_PUB, key);
	assert_memory_equal(dev.public_key, key, WG_KEY_LEN);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 42);
	assert_int_equal(dev.npeers, 2);
	t_assert_peer(&dev.peers[0], &t_fake_home);
	t_assert_peer(&dev.peers[1], &t_fake_nobody);
	wg_device_clear(&dev);
}

/* No identity, no peers: the kernel then writes neither keys nor WGDEVICE_A_PEERS. */
static void
test_wg_netlink_parse_device_bare(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct nlmsghdr *nlh = t_reply_start(buf);
	struct wg_device dev;

	(void)state;
	t_put_device(nlh, "hpwgt0123456789", NULL, NULL, 0, 0);
	memset(&dev, 0, sizeof(dev));
	t_parse_ok(nlh, &dev);
	assert_string_equal(dev.name, "hpwgt0123456789");
	assert_int_equal(dev.has_private_key, 0);
	assert_int_equal(dev.listen_port, 0);
	assert_int_equal(dev.npeers, 0);
	assert_null(dev.peers);
	wg_device_clear(&dev);
}

/*
 * A dump split over three messages: the first ends inside the home peer's
 * allowed IPs; the second (wg_get_device_dump(): only WGDEVICE_A_PEERS)
 * repeats its key with the rest, then starts the next peer; the third (the
 * header's way: WGDEVICE_A_IFNAME and WGDEVICE_A_PEERS) continues that one.
 */
static void
test_wg_netlink_parse_split_dump(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct nlmsghdr *nlh;
	struct nlattr *peers;
	struct wg_device dev;

	(void)state;
	memset(&dev, 0, sizeof(dev));
	nlh = t_reply_start(buf);
	t_put_device(nlh, "wgedge0", T_EDGE_PRIV, T_EDGE_PUB, 51820, 0);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer(nlh, &t_fake_home, 0, 1, 0);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);
	assert_int_equal(dev.npeers, 1);
	assert_int_equal(dev.peers[0].n_allowed_ips, 1);

	nlh = t_reply_start(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer_more(nlh, &t_fake_home, 1, 3);
	t_put_peer(nlh, &t_fake_nobody, 0, 1, 0);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);

	nlh = t_reply_start(buf);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wgedge0");
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer_more(nlh, &t_fake_nobody, 1, 3);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);

	nlh = t_reply_start(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer_more(nlh, &t_fake_nobody, 3, 4);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);

	/* Coalesced: two peers, their other fields from their first message. */
	assert_string_equal(dev.name, "wgedge0");
	assert_int_equal(dev.has_private_key, 1);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.npeers, 2);
	t_assert_peer(&dev.peers[0], &t_fake_home);
	t_assert_peer(&dev.peers[1], &t_fake_nobody);
	wg_device_clear(&dev);
}

/* Continuations add up to WG_ALLOWED_IPS_MAX, and no more. */
static void
test_wg_netlink_parse_split_max(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct t_ip ips[WG_ALLOWED_IPS_MAX];
	struct t_fake_peer fp = t_fake_nobody;
	struct nlmsghdr *nlh;
	struct nlattr *peers;
	struct wg_device dev;
	struct wg_peer unused;
	const char *why;

	(void)state;
	t_peer_full(&unused, ips);
	fp.ips = ips;
	fp.nips = WG_ALLOWED_IPS_MAX;
	memset(&dev, 0, sizeof(dev));
	nlh = t_reply_start(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer(nlh, &fp, 0, WG_ALLOWED_IPS_MAX - 2, 0);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);

	nlh = t_reply_start(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer_more(nlh, &fp, WG_ALLOWED_IPS_MAX - 2, WG_ALLOWED_IPS_MAX);
	mnl_attr_nest_end(nlh, peers);
	t_parse_ok(nlh, &dev);
	t_assert_peer(&dev.peers[0], &fp);

	/* One more, in a third message. */
	nlh = t_reply_start(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer_more(nlh, &fp, 0, 1);
	mnl_attr_nest_end(nlh, peers);
	assert_int_equal(t_parse(nlh, &dev, &why), -1);
	assert_string_equal(why, "too many allowed IPs");
	wg_device_clear(&dev);
}

/* The kernel masks host bits itself; should it not, they are cleared here. */
static void
test_wg_netlink_parse_host_bits(void **state)
{
	static const struct t_ip sent[] = {
		{ AF_INET, "192.0.2.77", 24 },
		{ AF_INET6, "2001:db8:ffff::1", 32 },
		{ AF_INET, "198.51.100.255", 0 },
	};
	static const struct t_ip want[] = {
		{ AF_INET, "192.0.2.0", 24 },
		{ AF_INET6, "2001:db8::", 32 },
		{ AF_INET, "0.0.0.0", 0 },
	};
	uint64_t buf[T_BUF / 8];
	struct t_fake_peer fp = t_fake_home;
	struct nlmsghdr *nlh = t_reply_start(buf);
	struct nlattr *peers;
	struct wg_device dev;

	(void)state;
	fp.ips = sent;
	fp.nips = 3;
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_put_peer(nlh, &fp, 0, 3, 0);
	mnl_attr_nest_end(nlh, peers);
	memset(&dev, 0, sizeof(dev));
	t_parse_ok(nlh, &dev);
	fp.ips = want;
	t_assert_peer(&dev.peers[0], &fp);
	wg_device_clear(&dev);
}

/* What set_peer builds reads back as the same peer (the layouts share their attributes). */
static void
test_wg_netlink_round_trip(void **state)
{
	uint64_t buf[T_BUF / 8];
	struct t_ip full_ips[WG_ALLOWED_IPS_MAX];
	struct wg_peer peers[3];
	struct wg_device dev;

	(void)state;
	t_peer(&peers[0], T_HOME_PUB, AF_INET, "198.51.100.25", 51821, 25, t_ips_a, 4);
	t_peer(&peers[1], T_HOME_PUB, 0, NULL, 0, 0, NULL, 0);
	t_peer_full(&peers[2], full_ips);
	for (size_t i = 0; i < 3; i++) {
		struct nlmsghdr *nlh = wg_netlink_build_set_peer(buf, sizeof(buf), T_FAMILY, "wgedge",
								 &peers[i]);
		const struct wg_peer *p;

		assert_non_null(nlh);
		memset(&dev, 0, sizeof(dev));
		t_parse_ok(nlh, &dev);
		assert_string_equal(dev.name, "wgedge");
		assert_int_equal(dev.npeers, 1);
		p = &dev.peers[0];
		assert_memory_equal(p->public_key, peers[i].public_key, WG_KEY_LEN);
		assert_int_equal(p->endpoint.len, peers[i].endpoint.len);
		assert_memory_equal(&p->endpoint.ss, &peers[i].endpoint.ss, peers[i].endpoint.len);
		assert_int_equal(p->keepalive, peers[i].keepalive);
		assert_int_equal(p->n_allowed_ips, peers[i].n_allowed_ips);
		assert_memory_equal(p->allowed_ips, peers[i].allowed_ips,
				    peers[i].n_allowed_ips * sizeof(struct cidr));
		wg_device_clear(&dev);
	}
}

/* ---- malformed replies ----------------------------------------------------- */

static struct nlattr *t_bad_peers, *t_bad_peer, *t_bad_ips, *t_bad_ip;

/* Open PEERS, one peer with a good key, its ALLOWEDIPS and one allowed IP. */
static void
t_open_ip(struct nlmsghdr *nlh)
{
	uint8_t key[WG_KEY_LEN];

	t_key(T_HOME_PUB, key);
	t_bad_peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_bad_peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	t_bad_ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	t_bad_ip = mnl_attr_nest_start(nlh, 0);
}

static void
t_close_ip(struct nlmsghdr *nlh)
{
	mnl_attr_nest_end(nlh, t_bad_ip);
	mnl_attr_nest_end(nlh, t_bad_ips);
	mnl_attr_nest_end(nlh, t_bad_peer);
	mnl_attr_nest_end(nlh, t_bad_peers);
}

/* Open PEERS and one peer, nothing in it yet. */
static void
t_open_peer(struct nlmsghdr *nlh)
{
	t_bad_peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	t_bad_peer = mnl_attr_nest_start(nlh, 0);
}

static void
t_close_peer(struct nlmsghdr *nlh)
{
	mnl_attr_nest_end(nlh, t_bad_peer);
	mnl_attr_nest_end(nlh, t_bad_peers);
}

static void
t_put_good_key(struct nlmsghdr *nlh)
{
	uint8_t key[WG_KEY_LEN];

	t_key(T_HOME_PUB, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
}

/* An attribute header claiming claimed bytes, followed by only real payload bytes. */
static void
t_put_truncated(struct nlmsghdr *nlh, uint16_t type, uint16_t claimed, size_t real)
{
	struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);

	a->nla_type = type;
	a->nla_len = claimed;
	memset(mnl_attr_get_payload(a), 0xab, real);
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*a) + real);
}

static const uint8_t t_zero[64];

static void
b_peer_key_31(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 31, t_zero + 1);
	t_close_peer(nlh);
}

static void
b_peer_key_33(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 33, t_zero);
	t_close_peer(nlh);
}

static void
b_private_key_31(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, 31, t_zero);
}

static void
b_public_key_33(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, 33, t_zero);
}

static void
b_ifname_no_nul(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGDEVICE_A_IFNAME, 3, "wg0");
}

static void
b_ifname_long(struct nlmsghdr *nlh)
{
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "hpwgt0123456789a");
}

static void
b_listen_port_short(struct nlmsghdr *nlh)
{
	mnl_attr_put_u8(nlh, WGDEVICE_A_LISTEN_PORT, 1);
}

static void
b_fwmark_short(struct nlmsghdr *nlh)
{
	mnl_attr_put_u16(nlh, WGDEVICE_A_FWMARK, 1);
}

static void
b_ip_v6_family_v4_addr(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_v4_family_v6_addr(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 16, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_unknown_family(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_UNIX);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_addr_5(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 5, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_no_mask(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_no_family(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_no_addr(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	t_close_ip(nlh);
}

static void
b_ip_mask_33(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 33);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_mask_129(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 129);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET6);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 16, t_zero);
	t_close_ip(nlh);
}

static void
b_ip_family_short(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	t_close_ip(nlh);
}

static void
b_ip_mask_empty(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put(nlh, WGALLOWEDIP_A_CIDR_MASK, 0, t_zero);
	t_close_ip(nlh);
}

static void
b_ips_33(struct nlmsghdr *nlh)
{
	struct t_ip ip = { AF_INET, "192.0.2.0", 32 };
	char nets[WG_ALLOWED_IPS_MAX + 1][32];
	struct nlattr *ips;

	t_open_peer(nlh);
	t_put_good_key(nlh);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	for (int i = 0; i <= WG_ALLOWED_IPS_MAX; i++) {
		snprintf(nets[i], sizeof(nets[i]), "192.0.2.%d", i);
		ip.net = nets[i];
		t_put_ip(nlh, &ip);
	}
	mnl_attr_nest_end(nlh, ips);
	t_close_peer(nlh);
}

static void
b_peer_without_key(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	t_put_ips(nlh, t_ips_a, 0, 2);
	t_close_peer(nlh);
}

static void
b_peer_zero_key(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, t_zero);
	t_close_peer(nlh);
}

static void
b_second_peer_without_key(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_nest_end(nlh, t_bad_peer);
	t_bad_peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	t_close_peer(nlh);
}

static void
b_endpoint_short(struct nlmsghdr *nlh)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(1) };

	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, 8, &sin);
	t_close_peer(nlh);
}

static void
b_endpoint_v6_short(struct nlmsghdr *nlh)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(1) };

	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(struct sockaddr_in), &sin6);
	t_close_peer(nlh);
}

static void
b_endpoint_unix(struct nlmsghdr *nlh)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/x" };

	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(struct sockaddr_in6), &sun);
	t_close_peer(nlh);
}

static void
b_handshake_short(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put_u64(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, 1);
	t_close_peer(nlh);
}

static void
b_rx_short(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put_u32(nlh, WGPEER_A_RX_BYTES, 1);
	t_close_peer(nlh);
}

static void
b_tx_short(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put_u32(nlh, WGPEER_A_TX_BYTES, 1);
	t_close_peer(nlh);
}

static void
b_keepalive_short(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put_u8(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 1);
	t_close_peer(nlh);
}

static void
b_peers_not_nested(struct nlmsghdr *nlh)
{
	mnl_attr_put_u16(nlh, WGDEVICE_A_PEERS, 1);
}

static void
b_peer_not_nested(struct nlmsghdr *nlh)
{
	t_bad_peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	mnl_attr_put_u16(nlh, 0, 1);
	mnl_attr_nest_end(nlh, t_bad_peers);
}

static void
b_ips_not_nested(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_put_u16(nlh, WGPEER_A_ALLOWEDIPS, 1);
	t_close_peer(nlh);
}

/* A device attribute claiming more bytes than the message holds. */
static void
b_truncated_device_attr(struct nlmsghdr *nlh)
{
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
	t_put_truncated(nlh, WGDEVICE_A_PEERS | NLA_F_NESTED, 200, 8);
}

/* A peer's allowed IPs claiming more bytes than the peer holds. */
static void
b_truncated_peer_attr(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	t_put_truncated(nlh, WGPEER_A_ALLOWEDIPS | NLA_F_NESTED, 64, 4);
	t_close_peer(nlh);
}

/* Inside an allowed IP, after its attributes: a header claiming 2 bytes, less than itself. */
static void
b_truncated_ip_attr(struct nlmsghdr *nlh)
{
	t_open_ip(nlh);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, t_zero);
	t_put_truncated(nlh, WGALLOWEDIP_A_CIDR_MASK, 2, 0);
	t_close_ip(nlh);
}

/* A second peer cut off inside the peers' nest. */
static void
b_truncated_peer(struct nlmsghdr *nlh)
{
	t_open_peer(nlh);
	t_put_good_key(nlh);
	mnl_attr_nest_end(nlh, t_bad_peer);
	t_put_truncated(nlh, NLA_F_NESTED, 44, 36);
	mnl_attr_nest_end(nlh, t_bad_peers);
}

/* Good attributes, then three bytes that are no attribute. */
static void
b_stray_bytes(struct nlmsghdr *nlh)
{
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
	nlh->nlmsg_len += 3;
}

static void
b_too_short(struct nlmsghdr *nlh)
{
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
}

struct t_bad {
	const char *name;
	void (*build)(struct nlmsghdr *);
	const char *why;
};

static const struct t_bad t_bad_msgs[] = {
	{ "peer key 31 bytes", b_peer_key_31, "bad peer public key" },
	{ "peer key 33 bytes", b_peer_key_33, "bad peer public key" },
	{ "private key 31 bytes", b_private_key_31, "bad private key" },
	{ "public key 33 bytes", b_public_key_33, "bad public key" },
	{ "ifname without NUL", b_ifname_no_nul, "bad interface name" },
	{ "ifname 16 characters", b_ifname_long, "bad interface name" },
	{ "listen port 1 byte", b_listen_port_short, "bad listen port" },
	{ "fwmark 2 bytes", b_fwmark_short, "bad fwmark" },
	{ "IPv6 family, 4-byte address", b_ip_v6_family_v4_addr, "incomplete allowed IP" },
	{ "IPv4 family, 16-byte address", b_ip_v4_family_v6_addr, "incomplete allowed IP" },
	{ "AF_UNIX allowed IP", b_ip_unknown_family, "incomplete allowed IP" },
	{ "5-byte address", b_ip_addr_5, "bad allowed IP address length" },
	{ "allowed IP without mask", b_ip_no_mask, "incomplete allowed IP" },
	{ "allowed IP without family", b_ip_no_family, "incomplete allowed IP" },
	{ "allowed IP without address", b_ip_no_addr, "incomplete allowed IP" },
	{ "IPv4 mask 33", b_ip_mask_33, "allowed IP mask too long" },
	{ "IPv6 mask 129", b_ip_mask_129, "allowed IP mask too long" },
	{ "family 1 byte", b_ip_family_short, "bad allowed IP family" },
	{ "mask 0 bytes", b_ip_mask_empty, "bad allowed IP mask" },
	{ "33 allowed IPs", b_ips_33, "too many allowed IPs" },
	{ "peer without key", b_peer_without_key, "peer without public key" },
	{ "peer with zero key", b_peer_zero_key, "peer without public key" },
	{ "second peer without key", b_second_peer_without_key, "peer without public key" },
	{ "endpoint 8 bytes", b_endpoint_short, "bad peer endpoint" },
	{ "IPv6 endpoint 16 bytes", b_endpoint_v6_short, "bad peer endpoint" },
	{ "AF_UNIX endpoint", b_endpoint_unix, "bad peer endpoint" },
	{ "last handshake 8 bytes", b_handshake_short, "bad last handshake time" },
	{ "rx bytes 4 bytes", b_rx_short, "bad rx bytes" },
	{ "tx bytes 4 bytes", b_tx_short, "bad tx bytes" },
	{ "keepalive 1 byte", b_keepalive_short, "bad keepalive" },
	{ "peers not a nest", b_peers_not_nested, "bad peers" },
	{ "peer not a nest", b_peer_not_nested, "bad peer" },
	{ "allowed IPs not a nest", b_ips_not_nested, "bad allowed IPs" },
	{ "truncated device attribute", b_truncated_device_attr, "truncated attribute" },
	{ "truncated peer attribute", b_truncated_peer_attr, "truncated attribute" },
	{ "truncated allowed IP attribute", b_truncated_ip_attr, "truncated attribute" },
	{ "truncated peer", b_truncated_peer, "truncated attribute" },
	{ "stray bytes", b_stray_bytes, "truncated attribute" },
	{ "message too short", b_too_short, "message too short" },
};

static void
test_wg_netlink_parse_bad(void **state)
{
	uint64_t buf[T_BUF / 8];

	(void)state;
	for (size_t i = 0; i < sizeof(t_bad_msgs) / sizeof(t_bad_msgs[0]); i++) {
		const struct t_bad *b = &t_bad_msgs[i];
		struct nlmsghdr *nlh = t_reply_start(buf);
		struct wg_device dev;
		const char *why;
		int rc;

		b->build(nlh);
		memset(&dev, 0, sizeof(dev));
		rc = t_parse(nlh, &dev, &why);
		wg_device_clear(&dev);
		if (rc != -1)
			fail_msg("%s: accepted", b->name);
		if (why == NULL || strcmp(why, b->why) != 0)
			fail_msg("%s: why '%s', want '%s'", b->name, why ? why : "(null)", b->why);
	}
}

/* ---- nl, against the running kernel ------------------------------------- */

/* The controller's own family exists on every kernel; a made-up one on none. */
static void
test_nl_genl_family(void **state)
{
	char err[256];
	uint16_t id = 0;

	(void)state;
	if (nl_genl_family("nlctrl", &id, err, sizeof(err)) != 0)
		fail_msg("nlctrl: %s", err);
	assert_int_equal(id, GENL_ID_CTRL);
	errno = 0;
	id = 12345;
	assert_int_equal(nl_genl_family("hpnosuchfamily", &id, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, "generic netlink family lookup: No such file or directory");
	assert_int_equal(id, 12345);
}

/* Without the kernel module, every netlink operation says so (ENOENT). */
static void
test_wg_netlink_without_module(void **state)
{
	char err[256];
	uint8_t key[WG_KEY_LEN] = { 0 };
	struct wg_device dev;
	struct wg_peer p;
	uint16_t id;

	(void)state;
	if (nl_genl_family(WG_GENL_NAME, &id, err, sizeof(err)) == 0)
		skip();
	memset(&dev, 0, sizeof(dev));
	memset(&p, 0, sizeof(p));
	assert_int_equal(wg_netlink_get("hpwgt0", &dev, err, sizeof(err)), -1);
	assert_string_equal(err, "generic netlink family lookup: No such file or directory");
	assert_int_equal(dev.npeers, 0);
	err[0] = '\0';
	assert_int_equal(wg_netlink_set_device("hpwgt0", key, 1, err, sizeof(err)), -1);
	assert_string_equal(err, "generic netlink family lookup: No such file or directory");
	err[0] = '\0';
	assert_int_equal(wg_netlink_set_peer("hpwgt0", &p, err, sizeof(err)), -1);
	assert_string_equal(err, "generic netlink family lookup: No such file or directory");
	err[0] = '\0';
	assert_int_equal(wg_netlink_remove_peer("hpwgt0", key, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wg_netlink_build_get),
		cmocka_unit_test(test_wg_netlink_build_set_device),
		cmocka_unit_test(test_wg_netlink_build_set_peer),
		cmocka_unit_test(test_wg_netlink_build_remove_peer),
		cmocka_unit_test(test_wg_netlink_build_caps),
		cmocka_unit_test(test_wg_netlink_build_ifname),
		cmocka_unit_test(test_wg_netlink_parse_device),
		cmocka_unit_test(test_wg_netlink_parse_device_bare),
		cmocka_unit_test(test_wg_netlink_parse_split_dump),
		cmocka_unit_test(test_wg_netlink_parse_split_max),
		cmocka_unit_test(test_wg_netlink_parse_host_bits),
		cmocka_unit_test(test_wg_netlink_round_trip),
		cmocka_unit_test(test_wg_netlink_parse_bad),
		cmocka_unit_test(test_nl_genl_family),
		cmocka_unit_test(test_wg_netlink_without_module),
	};
	return cmocka_run_group_tests_name("wg_netlink", tests, NULL, NULL);
}
