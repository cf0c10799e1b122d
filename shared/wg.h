/*
 * wg: WireGuard control, for the edge (one peer per tenant) and the home
 * (one peer per edge).
 *
 * Two backends, chosen per interface the way wg(8) chooses: the userspace
 * implementation's UAPI socket (WG_UAPI_DIR/IFNAME.sock, see wg_uapi.h)
 * when it exists, else the kernel's generic-netlink family (wg_netlink.h).
 * Peers are added, updated and removed one at a time; nothing here ever
 * replaces a device's whole peer list, so the other tenants' tunnels are
 * never disturbed.
 *
 * Interfaces are made by wg_create(): a kernel link of kind "wireguard"
 * where the module exists, else a wireguard-go process (foreground, a
 * child of the caller) whose socket we wait for. Addresses and link state
 * are netif's (rtnetlink).
 */
#ifndef HOMEPORT_WG_H
#define HOMEPORT_WG_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define WG_KEY_LEN 32
#define WG_ALLOWED_IPS_MAX 32		/* per peer, set or read */
#define WG_PEERS_MAX 16384		/* peers read from one device */
#define WG_UAPI_DIR "/var/run/wireguard"
#define WG_CREATE_TIMEOUT_MS 5000	/* for wireguard-go's socket to appear */
#define WG_GO_PROGRAM "wireguard-go"

struct wg_peer {
	uint8_t public_key[WG_KEY_LEN];
	struct addr endpoint;		/* endpoint.len 0: none */
	uint16_t keepalive;		/* persistent keepalive in seconds; 0: off */
	struct cidr allowed_ips[WG_ALLOWED_IPS_MAX];
	size_t n_allowed_ips;
	/* Read from the device; ignored when setting. */
	int64_t last_handshake_sec;	/* Unix time; 0: never */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
};

struct wg_device {
	char name[IFNAMSIZ];
	int has_private_key;
	uint8_t private_key[WG_KEY_LEN];	/* wiped by wg_device_clear() */
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	struct wg_peer *peers;			/* owned; npeers entries */
	size_t npeers;
	size_t peers_cap;
};

enum wg_backend {
	WG_BACKEND_UAPI,
	WG_BACKEND_NETLINK,
};

/* Which backend controls ifname: UAPI if its socket exists, else netlink. */
enum wg_backend wg_backend_of(const char *ifname);

/*
 * Read the device: keys, port, peers with endpoints, allowed IPs, last
 * handshake and byte counts. Fills *dev (release with wg_device_clear()).
 * Returns 0, or -1 with err set.
 */
int wg_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap);

/*
 * Set the private key (NULL: keep) and the listen port (-1: keep, 0:
 * random). Returns 0, or -1 with err set.
 */
int wg_set_device(const char *ifname, const uint8_t *private_key, int listen_port, char *err,
		  size_t errcap);

/*
 * Add a peer, or update it if its public key is known: its allowed IPs
 * become exactly peer->allowed_ips, its keepalive peer->keepalive, its
 * endpoint peer->endpoint when set. Other peers are untouched.
 * Returns 0, or -1 with err set.
 */
int wg_set_peer(const char *ifname, const struct wg_peer *peer, char *err, size_t errcap);

/* Remove one peer (absent: no error). Returns 0, or -1 with err set. */
int wg_remove_peer(const char *ifname, const uint8_t public_key[WG_KEY_LEN], char *err,
		   size_t errcap);

/*
 * Make a WireGuard interface: a kernel link where the module exists
 * (*go_pid_r = 0), else start "wireguard-go -f IFNAME" as a child of this
 * process, its output to log_fd (-1: /dev/null), and wait for its UAPI
 * socket (*go_pid_r = its PID; stop it with wg_destroy()).
 * Returns 0, or -1 with err set.
 */
int wg_create(const char *ifname, int log_fd, pid_t *go_pid_r, char *err, size_t errcap);

/*
 * Remove the interface; with go_pid > 0 also stop that wireguard-go
 * process (SIGTERM, waited for). Returns 0, or -1 with err set.
 */
int wg_destroy(const char *ifname, pid_t go_pid, char *err, size_t errcap);

/* An interface's own address: host bits kept, unlike a struct cidr. */
struct wg_address {
	struct addr addr;
	unsigned prefix;
};

/* What wg_ensure() makes sure of. */
struct wg_interface {
	const char *ifname;
	const uint8_t *private_key;		/* WG_KEY_LEN bytes */
	int listen_port;			/* 0: random; -1: keep (a new interface: random) */
	const struct wg_address *addresses;	/* the interface's own addresses */
	size_t naddresses;
	int log_fd;				/* for wireguard-go's output; -1: /dev/null */
	uid_t socket_owner;			/* UAPI socket made for this user; (uid_t)-1: root's */
};

/*
 * Bring the interface to the state *wi describes, keeping what is already
 * right: made as wg_create() does when absent (*go_pid_r then names a
 * wireguard-go started here, else 0), its key and port set, its addresses
 * added (those present kept), the link up. Peers are not touched. The
 * interface outlives the caller: it is the host's network configuration,
 * and a restarted daemon finds its tunnels unbroken.
 *
 * With a socket_owner, a wireguard-go started here gets its UAPI socket
 * made for it, already that user's (WG_UAPI_FD): wireguard-go exits when
 * its socket file's attributes change, so a chown afterwards would stop
 * it. An existing interface whose socket is not that user's is refused.
 * Returns 0, or -1 with err set.
 */
int wg_ensure(const struct wg_interface *wi, pid_t *go_pid_r, char *err, size_t errcap);

/* Add a peer slot to dev (for the parsers). Returns it zeroed, or NULL at WG_PEERS_MAX or OOM. */
struct wg_peer *wg_device_add_peer(struct wg_device *dev);

/* Free the peers and wipe the private key. */
void wg_device_clear(struct wg_device *dev);

#endif
