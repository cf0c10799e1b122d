/*
 * netif: network interfaces through rtnetlink (libmnl), so that Homeport
 * never shells out to ip(8): create and delete links, bring them up, add
 * addresses. Acts in the calling process's network namespace.
 */
#ifndef HOMEPORT_NETIF_H
#define HOMEPORT_NETIF_H

#include <stddef.h>

#include "addr.h"

/*
 * Create a link of the given kind ("wireguard"). Returns 0, or -1 with err
 * set and errno the kernel's (EOPNOTSUPP: the kind's module is missing;
 * EEXIST: the name is taken).
 */
int netif_link_add(const char *ifname, const char *kind, char *err, size_t errcap);

/* Delete a link. Returns 0, or -1 with err and errno set (ENODEV: no such link). */
int netif_link_del(const char *ifname, char *err, size_t errcap);

/* Set a link up. Returns 0, or -1 with err and errno set. */
int netif_link_up(const char *ifname, char *err, size_t errcap);

/*
 * Add (or replace) the address a/prefix on a link, e.g. 192.0.2.2/24 or
 * 2001:db8:77::2/64 (a's port is ignored). Returns 0, or -1 with err and
 * errno set.
 */
int netif_addr_add(const char *ifname, const struct addr *a, unsigned prefix, char *err,
		   size_t errcap);

#endif
