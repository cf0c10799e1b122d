/*
 * Fuzz target: kernel WireGuard dump messages (wg_netlink_parse_device).
 * The input is the attributes after the generic-netlink header; the
 * message around them is built here with a consistent nlmsg_len, as
 * mnl_cb_run would have checked. A message that parses is parsed a second
 * time into the same device, as the next message of a dump would be, which
 * exercises the merging of split peers. Whatever parses must be within the
 * limits, with sane addresses and host bits clear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>

#include "fuzz.h"
#include "wg.h"
#include "wg_netlink.h"

#define FUZZ_WG_NETLINK_MAX 65536	/* attribute bytes per message */

static void
fuzz_check_device(const struct wg_device *dev)
{
	if (dev->npeers > WG_PEERS_MAX || dev->npeers > dev->peers_cap ||
	    memchr(dev->name, '\0', sizeof(dev->name)) == NULL)
		__builtin_trap();
	for (size_t i = 0; i < dev->npeers; i++) {
		const struct wg_peer *p = &dev->peers[i];

		if (p->n_allowed_ips > WG_ALLOWED_IPS_MAX)
			__builtin_trap();
		if (p->endpoint.len != 0 &&
		    !(p->endpoint.len == sizeof(struct sockaddr_in) &&
		      p->endpoint.ss.ss_family == AF_INET) &&
		    !(p->endpoint.len == sizeof(struct sockaddr_in6) &&
		      p->endpoint.ss.ss_family == AF_INET6))
			__builtin_trap();
		for (size_t k = 0; k < p->n_allowed_ips; k++) {
			const struct cidr *c = &p->allowed_ips[k];
			unsigned max = c->family == AF_INET ? 32 : 128;

			if ((c->family != AF_INET && c->family != AF_INET6) || c->prefix > max)
				__builtin_trap();
			for (unsigned bit = c->prefix; bit < 128; bit++) {
				if (c->net[bit / 8] & (0x80 >> (bit % 8)))
					__builtin_trap();
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t hdr = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr));
	struct wg_device dev;
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	const char *why = NULL;
	uint8_t *buf;

	if (size > FUZZ_WG_NETLINK_MAX)
		return 0;
	/* malloc's alignment suits the headers; padding to 4 as libmnl walks to MNL_ALIGN(len). */
	buf = calloc(1, MNL_ALIGN(hdr + size));
	if (buf == NULL)
		return 0;
	nlh = (struct nlmsghdr *)buf;
	nlh->nlmsg_len = (uint32_t)(hdr + size);
	nlh->nlmsg_type = 0x1d;
	nlh->nlmsg_flags = NLM_F_MULTI;
	genl = (struct genlmsghdr *)(buf + MNL_NLMSG_HDRLEN);
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	if (size > 0)
		memcpy(buf + hdr, data, size);

	memset(&dev, 0, sizeof(dev));
	if (wg_netlink_parse_device(nlh, &dev, &why) == 0) {
		fuzz_check_device(&dev);
		why = NULL;
		if (wg_netlink_parse_device(nlh, &dev, &why) == 0)
			fuzz_check_device(&dev);
		else if (why == NULL)
			__builtin_trap();
	} else if (why == NULL) {
		__builtin_trap();
	}
	wg_device_clear(&dev);
	free(buf);
	return 0;
}
