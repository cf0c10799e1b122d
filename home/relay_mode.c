/*
 * relay_mode: what relay mode changes in homeportd (relay.h): where it
 * listens, whom it takes PROXY headers from, how mail leaves, and the
 * WireGuard tunnel that carries all of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "home.h"
#include "relay.h"
#include "wgkey.h"

/* The edges in preference order (stable: the file's order breaks ties). */
static void
relay_sorted(const struct relay_state *rs, const struct relay_edge **out)
{
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);
		size_t j = i;

		while (j > 0 && out[j - 1]->preference > e->preference) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = e;
	}
}

/* One listener onto every tunnel address, each of its ports kept; PROXY from the edges only. */
static int
relay_move_listener(struct home_conf *hc, const struct relay_state *rs,
		    struct home_listener_conf *lc, size_t ntunnel, size_t nedge_addrs)
{
	struct addr *to = conf_alloc(hc->conf, ntunnel * lc->address.n * sizeof(*to));
	struct cidr *from = conf_alloc(hc->conf, nedge_addrs * sizeof(*from));
	size_t n = 0, nfrom = 0;

	if (to == NULL || from == NULL)
		return -1;
	for (size_t p = 0; p < lc->address.n; p++) {
		uint16_t port = addr_port(&lc->address.v[p]);
		int dup = 0;

		for (size_t q = 0; q < p; q++)
			dup |= addr_port(&lc->address.v[q]) == port;
		if (dup)
			continue;
		for (size_t i = 0; i < rs->nedges; i++) {
			const struct relay_edge *e = relay_state_edge(rs, i);
			for (size_t k = 0; k < e->ntunnel; k++) {
				to[n] = e->tunnel[k].addr;
				addr_set_port(&to[n++], port);
			}
		}
	}
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);
		for (size_t k = 0; k < e->edge_address.n; k++)
			cidr_of_host(&e->edge_address.v[k], &from[nfrom++]);
	}
	lc->address.v = to;
	lc->address.n = n;
	lc->proxy = 1;
	lc->proxy_from.v = from;
	lc->proxy_from.n = nfrom;
	return 0;
}

int
relay_apply(struct home_conf *hc, const struct relay_state *rs, char *err, size_t errcap)
{
	const struct relay_edge *sorted[RELAY_EDGES_MAX];
	size_t ntunnel = 0, nedge_addrs = 0, negress = 0;
	struct addr *egress;

	if (!relay_state_active(rs))
		return 0;
	for (size_t i = 0; i < rs->nedges; i++) {
		ntunnel += relay_state_edge(rs, i)->ntunnel;
		nedge_addrs += relay_state_edge(rs, i)->edge_address.n;
	}
	for (size_t i = 0; i < hc->nlisteners; i++) {
		if (relay_move_listener(hc, rs, home_conf_listener(hc, i), ntunnel, nedge_addrs) != 0)
			goto oom;
	}
	/* Out through the edges' egress, the most preferred first. */
	relay_sorted(rs, sorted);
	if ((egress = conf_alloc(hc->conf, rs->nedges * sizeof(*egress))) == NULL)
		goto oom;
	for (size_t i = 0; i < rs->nedges; i++) {
		if (sorted[i]->egress_port == 0 || sorted[i]->edge_address.n == 0)
			continue;
		egress[negress] = sorted[i]->edge_address.v[0];
		addr_set_port(&egress[negress++], (uint16_t)sorted[i]->egress_port);
	}
	if (negress > 0) {
		hc->outbound->transport = HOME_TRANSPORT_EDGE;
		hc->outbound->egress.v = egress;
		hc->outbound->egress.n = negress;
	}
	return 0;
oom:
	snprintf(err, errcap, "out of memory");
	return -1;
}

/* Remove the interface's peers that are no edge of ours (keep_edges) or all of them. */
static int
relay_prune_peers(const struct relay_state *rs, int keep_edges, char *err, size_t errcap)
{
	struct wg_device dev;
	int rc = 0;

	if (wg_get(rs->main->interface, &dev, err, errcap) != 0)
		return -1;
	for (size_t p = 0; p < dev.npeers && rc == 0; p++) {
		int ours = 0;

		for (size_t i = 0; keep_edges && i < rs->nedges; i++)
			ours |= sodium_memcmp(dev.peers[p].public_key, relay_state_edge(rs, i)->key,
					      WG_KEY_LEN) == 0;
		if (!ours)
			rc = wg_remove_peer(rs->main->interface, dev.peers[p].public_key, err, errcap);
	}
	wg_device_clear(&dev);
	return rc;
}

int
relay_tunnel_down(const struct relay_state *rs, char *err, size_t errcap)
{
	if (rs->main == NULL || if_nametoindex(rs->main->interface) == 0)
		return 0;
	return relay_prune_peers(rs, 0, err, errcap);
}

int
relay_tunnel_up(const char *state_dir, const struct relay_state *rs, pid_t *go_pid_r, char *err,
		size_t errcap)
{
	struct wg_address addrs[2 * RELAY_EDGES_MAX];
	uint8_t key[WG_KEY_LEN];
	char path[HOME_PATH_MAX];
	struct wg_interface wi = { .ifname = rs->main->interface, .private_key = key,
				   .listen_port = -1, .addresses = addrs, .log_fd = -1,
				   .socket_owner = (uid_t)-1 };
	int rc = -1, n;

	*go_pid_r = 0;
	n = snprintf(path, sizeof(path), "%s/%s", state_dir, RELAY_KEY_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	if (wgkey_load(path, 0, key, err, errcap) != 0)
		return -1;
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);
		for (size_t k = 0; k < e->ntunnel; k++)
			addrs[wi.naddresses++] = e->tunnel[k];
	}
	n = snprintf(path, sizeof(path), "%s/wireguard-go.log", state_dir);
	if (n > 0 && (size_t)n < sizeof(path))
		wi.log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (wg_ensure(&wi, go_pid_r, err, errcap) != 0)
		goto out;
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);
		struct wg_peer peer = { .endpoint = e->endpoint, .keepalive = RELAY_KEEPALIVE_SEC };

		memcpy(peer.public_key, e->key, WG_KEY_LEN);
		for (size_t k = 0; k < e->edge_address.n && k < WG_ALLOWED_IPS_MAX; k++)
			cidr_of_host(&e->edge_address.v[k], &peer.allowed_ips[peer.n_allowed_ips++]);
		if (wg_set_peer(rs->main->interface, &peer, err, errcap) != 0)
			goto out;
	}
	rc = relay_prune_peers(rs, 1, err, errcap);
out:
	if (wi.log_fd >= 0)
		close(wi.log_fd);
	sodium_memzero(key, sizeof(key));
	return rc;
}
