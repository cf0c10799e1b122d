/*
 * relay: relay mode on the home (docs/home.md "Relay mode").
 *
 * What `homeport relay join` learned from each edge lives in
 * STATE_DIR/relay.conf, written by the homeport command and read by it
 * and by homeportd (relay_state.c). When relay mode is on, homeportd
 * brings the WireGuard tunnel to the edges up before binding, moves its
 * listeners onto the tunnel addresses with a PROXY v2 header required
 * from the edges, and sends mail out through the edges' egress
 * (relay_mode.c). Off, it runs as homeportd.conf says (direct mode).
 */
#ifndef HOMEPORT_RELAY_H
#define HOMEPORT_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "conf.h"
#include "wg.h"

struct home_conf;

#define RELAY_FILE "relay.conf"
#define RELAY_KEY_FILE "keys/wg.key"	/* the home's WireGuard key, under the state directory */
#define RELAY_EDGES_MAX 8
#define RELAY_INTERFACE_DEFAULT "homeport0"
#define RELAY_KEEPALIVE_SEC 25		/* keeps the CGNAT's mapping and the edge's handshake fresh */
#define RELAY_STALE_SEC 180		/* no handshake for this long: the edge is not reachable */
#define RELAY_PREFERENCE_STEP 10	/* MX 10, 20, ... in the order the edges were joined */

enum relay_mode {
	RELAY_MODE_OFF,
	RELAY_MODE_ON,
};

/* [relay] */
struct relay_main_conf {
	int mode;			/* enum relay_mode */
	char *interface;		/* the WireGuard interface to the edges */
};

/* [edge NAME]: one edge this home joined. */
struct relay_edge {
	char *name;
	char *public_key;			/* the edge's WireGuard key, as text */
	struct addr endpoint;			/* its WireGuard UDP endpoint */
	struct addr public_address;		/* where senders reach it: its MX host's A/AAAA, SPF */
	char *tenant;				/* our name at the edge */
	struct conf_string_list address;	/* ours inside the tunnel, ADDR/PREFIX */
	struct conf_addr_list edge_address;	/* the edge's inside the tunnel */
	int64_t egress_port;			/* its SOCKS5 egress on edge_address; 0: none */
	struct conf_string_list hostnames;	/* the host names it routes to us */
	int64_t preference;			/* MX preference */
	/* Filled by the check. */
	uint8_t key[WG_KEY_LEN];
	struct wg_address tunnel[2];
	size_t ntunnel;
};

struct relay_state {
	struct conf *conf;		/* owns everything below; NULL: no file (never joined) */
	struct relay_main_conf *main;	/* NULL without a file */
	size_t nedges;
};

/*
 * Read STATE_DIR/relay.conf. No file is no error: *rs is then empty (no
 * edges, mode off). Returns 0, or -1 with the exact error in err.
 */
int relay_state_load(const char *state_dir, struct relay_state *rs, char *err, size_t errcap);

/* The same from text in memory; name is used in errors. Pure. */
int relay_state_load_buffer(const char *name, const char *text, size_t len, struct relay_state *rs,
			    char *err, size_t errcap);

/* The i-th edge, in the file's order (MX preference order once sorted by join). */
struct relay_edge *relay_state_edge(const struct relay_state *rs, size_t i);

/* The edge called name, or NULL. */
struct relay_edge *relay_state_find(const struct relay_state *rs, const char *name);

/* Relay mode is on and there is an edge to relay through. */
int relay_state_active(const struct relay_state *rs);

void relay_state_free(struct relay_state *rs);

/*
 * The file's text for mode, interface and the edges (extra: one more
 * edge, or NULL). Returns a malloc'd string, or NULL when out of memory.
 */
char *relay_state_format(int mode, const char *interface, const struct relay_edge *const *edges,
			 size_t nedges);

/* Write the text to STATE_DIR/relay.conf atomically (0644). Returns 0, or -1 with err. */
int relay_state_save(const char *state_dir, const char *text, char *err, size_t errcap);

/* ---- relay_mode.c ---- */

/*
 * Relay mode on: every listener moves to the edges' tunnel addresses (its
 * port kept) with PROXY v2 required from the edges' tunnel addresses, and
 * mail leaves through the edges' egress, in preference order. Off:
 * nothing changes. The new values live in hc's own memory.
 * Returns 0, or -1 with err set.
 */
int relay_apply(struct home_conf *hc, const struct relay_state *rs, char *err, size_t errcap);

/*
 * Bring the tunnel to the edges up (wg_ensure): the home's key from
 * STATE_DIR/keys/wg.key, its tunnel addresses, one peer per edge with the
 * edge's endpoint and keepalive. *go_pid_r: a wireguard-go started now,
 * else 0. Returns 0, or -1 with err set.
 */
int relay_tunnel_up(const char *state_dir, const struct relay_state *rs, pid_t *go_pid_r, char *err,
		    size_t errcap);

/*
 * Direct mode: take the edges off the tunnel (their peers removed; the
 * interface and its addresses stay), so that they answer senders "try
 * later" instead of reaching listeners that no longer expect them. No
 * interface: nothing to do. Returns 0, or -1 with err set.
 */
int relay_tunnel_down(const struct relay_state *rs, char *err, size_t errcap);

#endif
