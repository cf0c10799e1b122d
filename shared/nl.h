/*
 * nl: one netlink request and its answer, over libmnl, for rtnetlink
 * (netif) and generic netlink (wg_netlink).
 */
#ifndef HOMEPORT_NL_H
#define HOMEPORT_NL_H

#include <stddef.h>

#include <libmnl/libmnl.h>

/* Room for one request or one received batch of messages. */
#define NL_BUFFER_SIZE 32768

/*
 * Send req on a new socket of the given bus (NETLINK_ROUTE,
 * NETLINK_GENERIC), setting its sequence number and port, and run cb(msg,
 * data) on each reply message until the kernel's ACK or NLMSG_DONE (cb
 * may be NULL when only the ACK matters; req should then carry
 * NLM_F_ACK). Returns 0, or -1 with errno set to the kernel's error (also
 * the one an NLMSG_DONE carries) and err set to "what: strerror"; EAGAIN
 * means the kernel flagged a dump as changed while it was read: ask again
 * with fresh data.
 */
int nl_talk(int bus, struct nlmsghdr *req, mnl_cb_t cb, void *data, const char *what, char *err,
	    size_t errcap);

/*
 * The generic-netlink family id of name ("wireguard"). Returns 0 and sets
 * *id_r, or -1 with err set (errno ENOENT when the family is absent:
 * no kernel module).
 */
int nl_genl_family(const char *name, uint16_t *id_r, char *err, size_t errcap);

#endif
