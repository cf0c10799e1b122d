#include "netif.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "nl.h"

/* The request header shared by all link messages. */
static struct nlmsghdr *
netif_link_msg(char *buf, uint16_t type, uint16_t flags, unsigned index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	return nlh;
}

static int
netif_index(const char *ifname, char *err, size_t errcap)
{
	unsigned index = if_nametoindex(ifname);

	if (index == 0)
		snprintf(err, errcap, "%s: no such interface", ifname);
	return (int)index;
}

int
netif_link_add(const char *ifname, const char *kind, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlmsghdr *nlh;
	struct nlattr *info;

	if (strlen(ifname) >= IFNAMSIZ) {
		snprintf(err, errcap, "%s: interface name longer than %d bytes", ifname, IFNAMSIZ - 1);
		errno = EINVAL;
		return -1;
	}
	nlh = netif_link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	mnl_attr_nest_end(nlh, info);
	snprintf(what, sizeof(what), "%s: cannot create %s link", ifname, kind);
	return nl_talk(NETLINK_ROUTE, nlh, NULL, NULL, what, err, errcap);
}

int
netif_link_del(const char *ifname, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	int index = netif_index(ifname, err, errcap);

	if (index == 0) {
		errno = ENODEV;
		return -1;
	}
	snprintf(what, sizeof(what), "%s: cannot delete link", ifname);
	return nl_talk(NETLINK_ROUTE, netif_link_msg(buf, RTM_DELLINK, 0, (unsigned)index), NULL,
		       NULL, what, err, errcap);
}

int
netif_link_up(const char *ifname, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int index = netif_index(ifname, err, errcap);

	if (index == 0) {
		errno = ENODEV;
		return -1;
	}
	nlh = netif_link_msg(buf, RTM_NEWLINK, 0, (unsigned)index);
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	snprintf(what, sizeof(what), "%s: cannot set link up", ifname);
	return nl_talk(NETLINK_ROUTE, nlh, NULL, NULL, what, err, errcap);
}

int
netif_addr_add(const char *ifname, const struct addr *a, unsigned prefix, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[96], text[ADDR_TEXT_MAX];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	uint8_t ip[16];
	size_t n = addr_ip_bytes(a, ip);
	int index = netif_index(ifname, err, errcap);

	if (index == 0) {
		errno = ENODEV;
		return -1;
	}
	if (prefix > (n == 4 ? 32u : 128u)) {
		snprintf(err, errcap, "%s: prefix /%u too long", ifname, prefix);
		errno = EINVAL;
		return -1;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = n == 4 ? AF_INET : AF_INET6;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	/* IPv4 wants both the local and the (peer) address; IPv6 the address. */
	mnl_attr_put(nlh, IFA_LOCAL, n, ip);
	mnl_attr_put(nlh, IFA_ADDRESS, n, ip);
	snprintf(what, sizeof(what), "%s: cannot add address %s/%u", ifname,
		 addr_format(a, text, sizeof(text)), prefix);
	return nl_talk(NETLINK_ROUTE, nlh, NULL, NULL, what, err, errcap);
}
