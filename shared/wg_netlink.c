#include "wg_netlink.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/wireguard.h>

#include "nl.h"

/* ---- builders (pure) ---- */

static struct nlmsghdr *
wg_netlink_header(void *buf, size_t cap, uint16_t family, uint8_t cmd, uint16_t flags,
		  const char *ifname)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	if (cap < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)) || strlen(ifname) >= IFNAMSIZ)
		return NULL;
	/* libmnl 1.0.4 leaves attribute padding as it finds it: no stale bytes to the kernel. */
	memset(buf, 0, cap);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	if (!mnl_attr_put_strz_check(nlh, cap, WGDEVICE_A_IFNAME, ifname))
		return NULL;
	return nlh;
}

struct nlmsghdr *
wg_netlink_build_get(void *buf, size_t cap, uint16_t family, const char *ifname)
{
	return wg_netlink_header(buf, cap, family, WG_CMD_GET_DEVICE, NLM_F_DUMP, ifname);
}

struct nlmsghdr *
wg_netlink_build_set_device(void *buf, size_t cap, uint16_t family, const char *ifname,
			    const uint8_t *private_key, int listen_port)
{
	struct nlmsghdr *nlh = wg_netlink_header(buf, cap, family, WG_CMD_SET_DEVICE, 0, ifname);

	if (nlh == NULL)
		return NULL;
	if (private_key != NULL &&
	    !mnl_attr_put_check(nlh, cap, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, private_key))
		return NULL;
	if (listen_port >= 0 &&
	    !mnl_attr_put_u16_check(nlh, cap, WGDEVICE_A_LISTEN_PORT, (uint16_t)listen_port))
		return NULL;
	return nlh;
}

/* Open WGDEVICE_A_PEERS and one peer nest holding its public key and flags. */
static int
wg_netlink_open_peer(struct nlmsghdr *nlh, size_t cap, const uint8_t *public_key, uint32_t flags,
		     struct nlattr **peers_r, struct nlattr **peer_r)
{
	*peers_r = mnl_attr_nest_start_check(nlh, cap, WGDEVICE_A_PEERS);
	if (*peers_r == NULL)
		return -1;
	*peer_r = mnl_attr_nest_start_check(nlh, cap, 0);
	if (*peer_r == NULL ||
	    !mnl_attr_put_check(nlh, cap, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, public_key) ||
	    !mnl_attr_put_u32_check(nlh, cap, WGPEER_A_FLAGS, flags))
		return -1;
	return 0;
}

struct nlmsghdr *
wg_netlink_build_set_peer(void *buf, size_t cap, uint16_t family, const char *ifname,
			  const struct wg_peer *peer)
{
	struct nlmsghdr *nlh = wg_netlink_header(buf, cap, family, WG_CMD_SET_DEVICE, 0, ifname);
	struct nlattr *peers, *p, *ips, *ip;

	if (nlh == NULL ||
	    wg_netlink_open_peer(nlh, cap, peer->public_key, WGPEER_F_REPLACE_ALLOWEDIPS, &peers,
				 &p) != 0)
		return NULL;
	if (peer->endpoint.len != 0 &&
	    !mnl_attr_put_check(nlh, cap, WGPEER_A_ENDPOINT, peer->endpoint.len, &peer->endpoint.ss))
		return NULL;
	if (!mnl_attr_put_u16_check(nlh, cap, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, peer->keepalive))
		return NULL;
	ips = mnl_attr_nest_start_check(nlh, cap, WGPEER_A_ALLOWEDIPS);
	if (ips == NULL)
		return NULL;
	for (size_t i = 0; i < peer->n_allowed_ips && i < WG_ALLOWED_IPS_MAX; i++) {
		const struct cidr *c = &peer->allowed_ips[i];
		ip = mnl_attr_nest_start_check(nlh, cap, 0);
		if (ip == NULL ||
		    !mnl_attr_put_u16_check(nlh, cap, WGALLOWEDIP_A_FAMILY, (uint16_t)c->family) ||
		    !mnl_attr_put_check(nlh, cap, WGALLOWEDIP_A_IPADDR, c->family == AF_INET ? 4 : 16,
					c->net) ||
		    !mnl_attr_put_u8_check(nlh, cap, WGALLOWEDIP_A_CIDR_MASK, (uint8_t)c->prefix))
			return NULL;
		mnl_attr_nest_end(nlh, ip);
	}
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, p);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

struct nlmsghdr *
wg_netlink_build_remove_peer(void *buf, size_t cap, uint16_t family, const char *ifname,
			     const uint8_t public_key[WG_KEY_LEN])
{
	struct nlmsghdr *nlh = wg_netlink_header(buf, cap, family, WG_CMD_SET_DEVICE, 0, ifname);
	struct nlattr *peers, *p;

	if (nlh == NULL ||
	    wg_netlink_open_peer(nlh, cap, public_key, WGPEER_F_REMOVE_ME, &peers, &p) != 0)
		return NULL;
	mnl_attr_nest_end(nlh, p);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

/* ---- the reply parser (pure) ---- */

struct wg_netlink_parse {
	struct wg_device *dev;
	struct wg_peer peer;		/* the peer being read */
	struct cidr ip;			/* the allowed IP being read */
	int ip_family;
	int ip_has_addr;
	int ip_has_mask;
	const char *why;
};

static int
wg_netlink_fail(struct wg_netlink_parse *ps, const char *why)
{
	ps->why = why;
	return MNL_CB_ERROR;
}

/*
 * Run cb on each attribute of payload[0..len), like mnl_attr_parse_payload(),
 * except that bytes which are not a whole attribute are an error: libmnl
 * stops at a truncated attribute without a word.
 */
static int
wg_netlink_walk(const void *payload, size_t len, mnl_attr_cb_t cb, struct wg_netlink_parse *ps)
{
	const uint8_t *p = payload;
	size_t at = 0;

	while (at < len) {
		const struct nlattr *attr = (const struct nlattr *)(p + at);

		if (!mnl_attr_ok(attr, len - at > INT_MAX ? INT_MAX : (int)(len - at)))
			return wg_netlink_fail(ps, "truncated attribute");
		if (cb(attr, ps) <= MNL_CB_STOP)
			return MNL_CB_ERROR;
		at += MNL_ALIGN(attr->nla_len);
	}
	return MNL_CB_OK;
}

static int
wg_netlink_walk_nested(const struct nlattr *nest, mnl_attr_cb_t cb, struct wg_netlink_parse *ps)
{
	return wg_netlink_walk(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), cb, ps);
}

static int
wg_netlink_on_ip_attr(const struct nlattr *attr, void *data)
{
	struct wg_netlink_parse *ps = data;
	uint16_t len = mnl_attr_get_payload_len(attr);

	switch (mnl_attr_get_type(attr)) {
	case WGALLOWEDIP_A_FAMILY:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return wg_netlink_fail(ps, "bad allowed IP family");
		ps->ip_family = mnl_attr_get_u16(attr);
		break;
	case WGALLOWEDIP_A_IPADDR:
		if (len != 4 && len != 16)
			return wg_netlink_fail(ps, "bad allowed IP address length");
		memcpy(ps->ip.net, mnl_attr_get_payload(attr), len);
		ps->ip.family = len == 4 ? AF_INET : AF_INET6;
		ps->ip_has_addr = 1;
		break;
	case WGALLOWEDIP_A_CIDR_MASK:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
			return wg_netlink_fail(ps, "bad allowed IP mask");
		ps->ip.prefix = mnl_attr_get_u8(attr);
		ps->ip_has_mask = 1;
		break;
	}
	return MNL_CB_OK;
}

/* One allowed IP nest: complete, consistent, host bits zero. */
static int
wg_netlink_on_ip(const struct nlattr *attr, void *data)
{
	struct wg_netlink_parse *ps = data;
	struct wg_peer *p = &ps->peer;
	unsigned max;

	memset(&ps->ip, 0, sizeof(ps->ip));
	ps->ip_family = 0;
	ps->ip_has_addr = ps->ip_has_mask = 0;
	if (wg_netlink_walk_nested(attr, wg_netlink_on_ip_attr, ps) < 0)
		return MNL_CB_ERROR;
	if (!ps->ip_has_addr || !ps->ip_has_mask || ps->ip_family != ps->ip.family)
		return wg_netlink_fail(ps, "incomplete allowed IP");
	max = ps->ip.family == AF_INET ? 32 : 128;
	if (ps->ip.prefix > max)
		return wg_netlink_fail(ps, "allowed IP mask too long");
	for (unsigned bit = ps->ip.prefix; bit < max; bit++)
		ps->ip.net[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	if (p->n_allowed_ips == WG_ALLOWED_IPS_MAX)
		return wg_netlink_fail(ps, "too many allowed IPs");
	p->allowed_ips[p->n_allowed_ips++] = ps->ip;
	return MNL_CB_OK;
}

static int
wg_netlink_on_peer_attr(const struct nlattr *attr, void *data)
{
	struct wg_netlink_parse *ps = data;
	struct wg_peer *p = &ps->peer;
	uint16_t len = mnl_attr_get_payload_len(attr);
	struct addr a;

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_PUBLIC_KEY:
		if (len != WG_KEY_LEN)
			return wg_netlink_fail(ps, "bad peer public key");
		memcpy(p->public_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		break;
	case WGPEER_A_ENDPOINT:
		if (len < sizeof(struct sockaddr) ||
		    addr_from_sockaddr(mnl_attr_get_payload(attr), len, &a) != 0)
			return wg_netlink_fail(ps, "bad peer endpoint");
		p->endpoint = a;
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return wg_netlink_fail(ps, "bad keepalive");
		p->keepalive = mnl_attr_get_u16(attr);
		break;
	case WGPEER_A_LAST_HANDSHAKE_TIME: {
		int64_t ts[2];	/* struct __kernel_timespec: tv_sec, tv_nsec */
		if (len != sizeof(ts))
			return wg_netlink_fail(ps, "bad last handshake time");
		memcpy(ts, mnl_attr_get_payload(attr), sizeof(ts));
		p->last_handshake_sec = ts[0];
		break;
	}
	case WGPEER_A_RX_BYTES:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
			return wg_netlink_fail(ps, "bad rx bytes");
		p->rx_bytes = mnl_attr_get_u64(attr);
		break;
	case WGPEER_A_TX_BYTES:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
			return wg_netlink_fail(ps, "bad tx bytes");
		p->tx_bytes = mnl_attr_get_u64(attr);
		break;
	case WGPEER_A_ALLOWEDIPS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
		    wg_netlink_walk_nested(attr, wg_netlink_on_ip, ps) < 0)
			return ps->why ? MNL_CB_ERROR : wg_netlink_fail(ps, "bad allowed IPs");
		break;
	}
	return MNL_CB_OK;
}

/* One peer nest; a repeat of the last peer's key continues that peer. */
static int
wg_netlink_on_peer(const struct nlattr *attr, void *data)
{
	static const uint8_t zero[WG_KEY_LEN];
	struct wg_netlink_parse *ps = data;
	struct wg_device *dev = ps->dev;
	struct wg_peer *last = dev->npeers ? &dev->peers[dev->npeers - 1] : NULL;
	struct wg_peer *slot;

	memset(&ps->peer, 0, sizeof(ps->peer));
	if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
	    wg_netlink_walk_nested(attr, wg_netlink_on_peer_attr, ps) < 0)
		return ps->why ? MNL_CB_ERROR : wg_netlink_fail(ps, "bad peer");
	if (memcmp(ps->peer.public_key, zero, WG_KEY_LEN) == 0)
		return wg_netlink_fail(ps, "peer without public key");
	if (last != NULL && memcmp(last->public_key, ps->peer.public_key, WG_KEY_LEN) == 0) {
		if (last->n_allowed_ips + ps->peer.n_allowed_ips > WG_ALLOWED_IPS_MAX)
			return wg_netlink_fail(ps, "too many allowed IPs");
		memcpy(&last->allowed_ips[last->n_allowed_ips], ps->peer.allowed_ips,
		       ps->peer.n_allowed_ips * sizeof(struct cidr));
		last->n_allowed_ips += ps->peer.n_allowed_ips;
		return MNL_CB_OK;
	}
	slot = wg_device_add_peer(dev);
	if (slot == NULL)
		return wg_netlink_fail(ps, "too many peers");
	*slot = ps->peer;
	return MNL_CB_OK;
}

static int
wg_netlink_on_device_attr(const struct nlattr *attr, void *data)
{
	struct wg_netlink_parse *ps = data;
	struct wg_device *dev = ps->dev;
	uint16_t len = mnl_attr_get_payload_len(attr);

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 || len > IFNAMSIZ)
			return wg_netlink_fail(ps, "bad interface name");
		snprintf(dev->name, sizeof(dev->name), "%s", mnl_attr_get_str(attr));
		break;
	case WGDEVICE_A_PRIVATE_KEY:
		if (len != WG_KEY_LEN)
			return wg_netlink_fail(ps, "bad private key");
		memcpy(dev->private_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		dev->has_private_key = 1;
		break;
	case WGDEVICE_A_PUBLIC_KEY:
		if (len != WG_KEY_LEN)
			return wg_netlink_fail(ps, "bad public key");
		memcpy(dev->public_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		break;
	case WGDEVICE_A_LISTEN_PORT:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return wg_netlink_fail(ps, "bad listen port");
		dev->listen_port = mnl_attr_get_u16(attr);
		break;
	case WGDEVICE_A_FWMARK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return wg_netlink_fail(ps, "bad fwmark");
		dev->fwmark = mnl_attr_get_u32(attr);
		break;
	case WGDEVICE_A_PEERS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
		    wg_netlink_walk_nested(attr, wg_netlink_on_peer, ps) < 0)
			return ps->why ? MNL_CB_ERROR : wg_netlink_fail(ps, "bad peers");
		break;
	}
	return MNL_CB_OK;
}

int
wg_netlink_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev, const char **why_r)
{
	struct wg_netlink_parse ps = { .dev = dev };

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr))) {
		*why_r = "message too short";
		return -1;
	}
	if (wg_netlink_walk(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct genlmsghdr)),
			    nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(struct genlmsghdr)),
			    wg_netlink_on_device_attr, &ps) < 0) {
		*why_r = ps.why ? ps.why : "malformed attributes";
		return -1;
	}
	return 0;
}

/* ---- I/O ---- */

struct wg_netlink_get_ctx {
	struct wg_device *dev;
	const char *why;
};

static int
wg_netlink_on_get(const struct nlmsghdr *nlh, void *data)
{
	struct wg_netlink_get_ctx *ctx = data;

	return wg_netlink_parse_device(nlh, ctx->dev, &ctx->why) == 0 ? MNL_CB_OK : MNL_CB_ERROR;
}

int
wg_netlink_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct wg_netlink_get_ctx ctx = { .dev = dev };
	struct nlmsghdr *nlh;
	uint16_t family;

	if (nl_genl_family(WG_GENL_NAME, &family, err, errcap) != 0)
		return -1;
	nlh = wg_netlink_build_get(buf, sizeof(buf), family, ifname);
	if (nlh == NULL) {
		snprintf(err, errcap, "%s: interface name too long", ifname);
		return -1;
	}
	snprintf(what, sizeof(what), "%s: cannot read wireguard device", ifname);
	/* A dump the kernel flags as changed mid-way (EAGAIN) is read again
	 * from scratch, a few times, as wg(8) does. */
	for (int attempt = 0;; attempt++) {
		wg_device_clear(dev);
		ctx.why = NULL;
		if (nl_talk(NETLINK_GENERIC, nlh, wg_netlink_on_get, &ctx, what, err, errcap) == 0)
			return 0;
		if (errno != EAGAIN || attempt == 3)
			break;
	}
	if (ctx.why != NULL)
		snprintf(err, errcap, "%s: %s", what, ctx.why);
	return -1;
}

static int
wg_netlink_send(const char *ifname, struct nlmsghdr *nlh, char *err, size_t errcap)
{
	char what[64];

	if (nlh == NULL) {
		snprintf(err, errcap, "%s: request does not fit a netlink message", ifname);
		return -1;
	}
	snprintf(what, sizeof(what), "%s: wireguard refused the change", ifname);
	return nl_talk(NETLINK_GENERIC, nlh, NULL, NULL, what, err, errcap);
}

int
wg_netlink_set_device(const char *ifname, const uint8_t *private_key, int listen_port, char *err,
		      size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t family;
	int rc;

	if (nl_genl_family(WG_GENL_NAME, &family, err, errcap) != 0)
		return -1;
	rc = wg_netlink_send(ifname, wg_netlink_build_set_device(buf, sizeof(buf), family, ifname,
								 private_key, listen_port),
			     err, errcap);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int
wg_netlink_set_peer(const char *ifname, const struct wg_peer *peer, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t family;

	if (nl_genl_family(WG_GENL_NAME, &family, err, errcap) != 0)
		return -1;
	return wg_netlink_send(ifname, wg_netlink_build_set_peer(buf, sizeof(buf), family, ifname, peer),
			       err, errcap);
}

int
wg_netlink_remove_peer(const char *ifname, const uint8_t public_key[WG_KEY_LEN], char *err,
		       size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t family;

	if (nl_genl_family(WG_GENL_NAME, &family, err, errcap) != 0)
		return -1;
	return wg_netlink_send(ifname, wg_netlink_build_remove_peer(buf, sizeof(buf), family, ifname,
								     public_key),
			       err, errcap);
}
