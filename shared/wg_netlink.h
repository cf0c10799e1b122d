/*
 * wg_netlink: the kernel's WireGuard generic-netlink API
 * (include/uapi/linux/wireguard.h), for machines with the wireguard module.
 *
 * The builders write one request into a caller's buffer and the parser
 * reads one reply message; both are pure, and unit-tested against the
 * attribute layout the kernel's header documents. The I/O functions run
 * them over nl_talk(). Not yet run against a live kernel module: the
 * machines we test on have none (docs/wireguard.md).
 */
#ifndef HOMEPORT_WG_NETLINK_H
#define HOMEPORT_WG_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "wg.h"

/*
 * Requests, built at the start of buf[0..cap) for the family id. Return
 * the message, or NULL if it does not fit or ifname is too long.
 *   get:          WG_CMD_GET_DEVICE dump of ifname
 *   set_device:   private key (NULL: keep) and listen port (-1: keep)
 *   set_peer:     add or update one peer, replacing its allowed IPs
 *   remove_peer:  WGPEER_F_REMOVE_ME for one peer
 */
struct nlmsghdr *wg_netlink_build_get(void *buf, size_t cap, uint16_t family, const char *ifname);
struct nlmsghdr *wg_netlink_build_set_device(void *buf, size_t cap, uint16_t family,
					     const char *ifname, const uint8_t *private_key,
					     int listen_port);
struct nlmsghdr *wg_netlink_build_set_peer(void *buf, size_t cap, uint16_t family,
					   const char *ifname, const struct wg_peer *peer);
struct nlmsghdr *wg_netlink_build_remove_peer(void *buf, size_t cap, uint16_t family,
					      const char *ifname,
					      const uint8_t public_key[WG_KEY_LEN]);

/*
 * Merge one WG_CMD_GET_DEVICE reply message into *dev. A dump may split a
 * peer's allowed IPs over several messages, repeating only its public key:
 * such a continuation is merged into the last peer. The message must
 * already have passed the netlink layer's length checks (mnl_cb_run does
 * that). Returns 0, or -1 with *why_r set.
 */
int wg_netlink_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev,
			    const char **why_r);

/* I/O: read the device, or set/remove. Return 0, or -1 with err set. */
int wg_netlink_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap);
int wg_netlink_set_device(const char *ifname, const uint8_t *private_key, int listen_port,
			  char *err, size_t errcap);
int wg_netlink_set_peer(const char *ifname, const struct wg_peer *peer, char *err, size_t errcap);
int wg_netlink_remove_peer(const char *ifname, const uint8_t public_key[WG_KEY_LEN], char *err,
			   size_t errcap);

#endif
