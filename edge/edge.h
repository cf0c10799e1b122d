/*
 * edge.h: homeport-edge's internal interfaces, by file.
 */
#ifndef HOMEPORT_EDGE_H
#define HOMEPORT_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "addr.h"
#include "conf.h"
#include "ev.h"

struct evbuffer;

struct metrics;
struct metrics_tenant;
struct tenants;
struct tenants_tenant;
struct wg_device;
struct wg_peer;

#define EDGE_CONF_DEFAULT "/etc/homeport/edge.conf"
#define EDGE_STATE_DIR_DEFAULT "/var/lib/homeport-edge"
#define EDGE_TENANTS_FILE "tenants.db"
#define EDGE_INVITE_TTL_MAX (30LL * 24 * 3600 * 1000)	/* 30 days */
#define EDGE_IFNAME_DEFAULT "homeport0"	/* [enroll] interface */
#define EDGE_IFNAME_MAX 15		/* an interface name's bytes (IFNAMSIZ - 1) */
#define EDGE_TENANT_CONNS_DEFAULT 1000	/* a tenant's max_connections unless its [tenant] says */

/* ---- edge_conf.c: edge.conf ---- */

enum edge_listener_mode {
	EDGE_LISTENER_SNI,		/* read the ClientHello, route on its server name */
	EDGE_LISTENER_STARTTLS,		/* speak SMTP/IMAP up to STARTTLS, then as sni */
	EDGE_LISTENER_PASSTHROUGH,	/* forward to the address's or default tenant */
	EDGE_LISTENER_HTTP,		/* route on the Host header */
};

enum edge_preamble {
	EDGE_PREAMBLE_SMTP,
	EDGE_PREAMBLE_IMAP,
};

enum edge_proxy_version {
	EDGE_PROXY_V2,
	EDGE_PROXY_V1,
	EDGE_PROXY_NONE,
};

struct edge_main_conf {
	char *name;			/* the edge's host name (SMTP banner) */
	int log_level;			/* enum log_level */
	char *user;			/* unprivileged user after binding ports */
	char *state_dir;		/* tenants.db and the edge's keys live here */
	struct conf_addr_list metrics;	/* where Prometheus text metrics are served; empty: nowhere */
	int64_t max_connections;	/* over all listeners */
	int64_t max_per_source;		/* per IPv4 address / IPv6 /64 */
	int64_t rate_per_source;	/* new connections per source per minute; 0: no cap */
};

struct edge_listener_conf {
	char *name;			/* [listener NAME] */
	struct conf_addr_list address;	/* with ports */
	int mode;			/* enum edge_listener_mode */
	int preamble;			/* enum edge_preamble, for starttls */
	char *default_tenant;		/* NULL: none */
	int64_t tenant_port;		/* port at the tenant; 0: the listener's own */
	int64_t handshake_timeout;	/* ms from accept to routed */
	int64_t idle_timeout;		/* ms */
};

struct edge_tenant_conf {
	char *name;				/* [tenant NAME] */
	struct conf_string_list hostnames;	/* exact or "*.suffix" */
	struct conf_addr_list tunnel_address;	/* inside WireGuard, no port */
	struct conf_addr_list public_addresses;	/* edge addresses owned by this tenant */
	int proxy;				/* enum edge_proxy_version */
	int64_t max_connections;
	struct conf_addr_list egress_source;	/* the tenant's outbound addresses; empty: the system's choice */
};

#define EGRESS_PORTS_MAX 16

struct edge_egress_conf {
	struct conf_addr_list address;		/* the SOCKS5 listener: the edge's tunnel addresses */
	struct conf_string_list ports;		/* destination ports allowed, as written */
	uint16_t port[EGRESS_PORTS_MAX];	/* ... as numbers (filled by the check) */
	size_t nports;
	struct conf_cidr_list deny;		/* further networks never connected to */
	int64_t max_per_tenant;			/* open egress connections per tenant */
	int64_t rate_per_tenant;		/* new egress connections per tenant per minute */
	int64_t connect_timeout;		/* ms */
	int64_t idle_timeout;			/* ms */
};

/* [enroll]: homes join this edge (relay mode). */
struct edge_enroll_conf {
	struct conf_addr_list control;		/* TCP where homes send enrollment requests */
	struct addr endpoint;			/* the WireGuard endpoint homes are told to use */
	struct conf_cidr_list tunnel;		/* tunnel address pools: one IPv4, at most one IPv6 */
	int64_t invite_ttl;			/* ms an invite is valid by default */
	int require_txt;			/* host names proven by a _homeport TXT record */
	char *dns_forward;			/* require_txt's DNS server, "ADDR" or "ADDR@PORT"; NULL: recurse from the root */
	char *dns_trust_anchor;			/* DNSSEC trust anchors (a file); NULL: the root's */
	char *interface;			/* the WireGuard interface the edge keeps (EDGE_IFNAME_MAX) */
};

struct edge_conf {
	struct conf *conf;	/* owns everything below */
	struct edge_main_conf *main;
	struct edge_egress_conf *egress;	/* NULL: no egress (no [egress] address) */
	struct edge_enroll_conf *enroll;	/* NULL: no enrollment (no [enroll] control) */
	size_t nlisteners;
	size_t ntenants;
};

/*
 * Load and check edge.conf. Returns 0 and fills *ec (release with
 * edge_conf_free()), or -1 with the exact error in err.
 */
int edge_conf_load(const char *path, struct edge_conf *ec, char *err, size_t errcap);

/* The same from text[0..len) in memory; name is used in errors. Pure. */
int edge_conf_load_buffer(const char *name, const char *text, size_t len, struct edge_conf *ec,
			  char *err, size_t errcap);

struct edge_listener_conf *edge_conf_listener(const struct edge_conf *ec, size_t i);
struct edge_tenant_conf *edge_conf_tenant(const struct edge_conf *ec, size_t i);

/* The tenant called name, or NULL. */
struct edge_tenant_conf *edge_conf_find_tenant(const struct edge_conf *ec, const char *name);

void edge_conf_free(struct edge_conf *ec);

/* ---- metrics.c: counters, and their Prometheus text form ---- */

#define METRICS_BUCKETS 1024

enum metrics_counter {
	METRICS_ACCEPTED,		/* connections accepted (tenant "") */
	METRICS_REFUSED,		/* refused: caps, no route, bad input, timeouts */
	METRICS_ROUTED_NAME,		/* routed by exact server name */
	METRICS_ROUTED_SUFFIX,		/* routed by "*.suffix" */
	METRICS_ROUTED_ADDRESS,		/* routed by the address connected to */
	METRICS_ROUTED_DEFAULT,		/* routed to the listener's default tenant */
	METRICS_TENANT_DOWN,		/* the tenant could not be reached */
	METRICS_BYTES_FROM_CLIENT,	/* bytes relayed client -> tenant */
	METRICS_BYTES_TO_CLIENT,	/* bytes relayed tenant -> client */
	METRICS_EGRESS,			/* egress connections opened */
	METRICS_EGRESS_REFUSED,		/* egress requests refused */
	METRICS_COUNTERS,
};

/* One row of counters: a (tenant, listener) pair; tenant "" = none yet. */
struct metrics_cell {
	uint64_t v[METRICS_COUNTERS];
};

/* Per tenant: what its caps need, kept across reloads. */
struct metrics_tenant {
	unsigned active;		/* open connections to the tenant */
	int stale;			/* tenants.db: no WireGuard handshake lately (tunnel.c): answered as down */
	unsigned egress_active;		/* open egress connections of the tenant */
	int64_t egress_window;		/* the minute (monotonic ms / 60000) being counted */
	unsigned egress_in_window;	/* egress connections opened in it */
};

/* Returns a registry (free with metrics_free()) or NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics **mp);

/* The cell for (tenant, listener), made on first use; NULL when out of memory. Names are copied. */
struct metrics_cell *metrics_cell(struct metrics *m, const char *tenant, const char *listener);

/* The tenant's state, made on first use; NULL when out of memory. */
struct metrics_tenant *metrics_tenant(struct metrics *m, const char *tenant);

/* Count up. cell may be NULL (out of memory earlier): nothing is counted. */
static inline void
metrics_add(struct metrics_cell *cell, enum metrics_counter c, uint64_t n)
{
	if (cell != NULL)
		cell->v[c] += n;
}

/* Append every counter and gauge in Prometheus text format 0.0.4. Returns 0 or -1. */
int metrics_format(const struct metrics *m, struct evbuffer *out);

/* ---- route.c: which tenant a connection goes to ---- */

enum route_by {
	ROUTE_BY_NONE,		/* no tenant: refuse */
	ROUTE_BY_NAME,		/* the exact server name (SNI or Host) */
	ROUTE_BY_SUFFIX,	/* a "*.suffix" host name */
	ROUTE_BY_ADDRESS,	/* the edge address the client connected to */
	ROUTE_BY_DEFAULT,	/* the listener's default tenant */
};

struct route_tenant {
	const char *name;			/* borrowed from the table (or its configuration) */
	const struct addr *tunnel;		/* tunnel addresses, port 0 */
	size_t ntunnel;
	int proxy;				/* enum edge_proxy_version */
	unsigned max_connections;
	struct metrics_tenant *stats;		/* counters that outlive reloads */
	const struct addr *egress_source;	/* outbound addresses, port 0 */
	size_t negress_source;
	const uint8_t *wg_key;			/* a home from tenants.db: its WireGuard key; NULL: a [tenant] */
	int suspended;				/* tenants.db: suspended by the operator, refused */
};

#define ROUTE_WARNINGS_MAX 16		/* conflicts a table keeps words for (the rest are counted) */
#define ROUTE_WARNING_LEN 200

struct route_table;

/*
 * Build a routing snapshot from ec, which the table takes over (ec is
 * cleared), and the tenants.db rows db[0..ndb) (copied; NULL, 0: none).
 * The [tenant] sections win: a row with the name or a tunnel address of
 * one is left out, a host name goes to its first claimant (the sections,
 * then the rows by id), and each conflict is a warning
 * (route_table_warning()). Rows get proxy v2 and
 * EDGE_TENANT_CONNS_DEFAULT connections; suspended rows are kept, marked.
 * Returns the table with one reference, or NULL when out of memory (ec is
 * freed then).
 */
struct route_table *route_table_new(struct edge_conf *ec, const struct tenants_tenant *db, size_t ndb,
				    struct metrics *m);

/*
 * A new snapshot with rt's configuration (shared, not copied) and the rows
 * db[0..ndb) instead of rt's: after tenants.db changed. Returns it with one
 * reference, or NULL when out of memory (rt is untouched either way).
 */
struct route_table *route_table_rebuild(const struct route_table *rt, const struct tenants_tenant *db,
					size_t ndb, struct metrics *m);

/* Every tenant of the table, [tenant] sections first: i < route_table_ntenants(), else NULL. */
size_t route_table_ntenants(const struct route_table *rt);
const struct route_tenant *route_table_tenant(const struct route_table *rt, size_t i);

/*
 * The conflicts met while building: route_table_nwarnings() kept (and in
 * *lost_r, may be NULL, how many more there were), each one line of text.
 */
size_t route_table_nwarnings(const struct route_table *rt, size_t *lost_r);
const char *route_table_warning(const struct route_table *rt, size_t i);

/* Take a reference; connections hold one while they live. Returns rt. */
struct route_table *route_table_ref(struct route_table *rt);

/* Drop a reference (accepts NULL; clears *rtp); the last one frees the table. */
void route_table_unref(struct route_table **rtp);

/* The configuration the table was built from. */
const struct edge_conf *route_table_conf(const struct route_table *rt);

/*
 * Choose the tenant for a connection, in order: the exact server name, the
 * longest "*.suffix" name, the tenant owning the local address dst (port
 * ignored), the tenant called default_tenant. name may be NULL (no SNI);
 * it is compared without regard to case. Returns the tenant and sets
 * *by_r, or returns NULL with *by_r = ROUTE_BY_NONE. A suspended tenant
 * is returned too: the caller refuses it, with words saying so.
 */
const struct route_tenant *route_find(const struct route_table *rt, const char *name,
				      const struct addr *dst, const char *default_tenant,
				      enum route_by *by_r);

/* The tenant whose tunnel address is a (port ignored): the egress's client. NULL if none or suspended. */
const struct route_tenant *route_find_tunnel(const struct route_table *rt, const struct addr *a);

/* "name", "suffix", "address", "default" or "none". */
const char *route_by_text(enum route_by by);

/* ---- listener.c: the listening sockets and the daemon's runtime ---- */

struct edge_socket;
struct relay;
struct egress;
struct egress_socket;

struct edge {
	struct event_base *base;
	struct route_table *routes;	/* the current snapshot; one reference */
	struct metrics *metrics;
	struct edge_socket *sockets;	/* one per listener address */
	size_t nsockets;
	struct ev_quota *quota;		/* caps over all listener sockets */
	struct relay *relays;		/* live connections */
	struct egress_socket *egress_sockets;	/* the SOCKS5 listeners */
	size_t negress_sockets;
	struct egress *egresses;	/* live egress connections */
	unsigned active;		/* live connections over all listeners */
	struct fallback *fallback;	/* sources whose TLS was cut */
	struct control_server *control;	/* the enrollment port, NULL without [enroll] control */
	struct tenants *tenants;	/* tenants.db, open with [enroll] (opened as root, kept) */
	struct tunnel *tunnel;		/* the WireGuard interface, with [enroll] */
	int stopping;			/* SIGTERM: no new connections */
};

/*
 * Bind every listener address of the current routes (before privileges are
 * dropped). Returns 0, or -1 with the reason in err (nothing stays open).
 */
int edge_listeners_open(struct edge *e, char *err, size_t errcap);

/* Close every listening socket; call after relay_close_all() (an ev_listener borrows its name until its last slot returns). */
void edge_listeners_close(struct edge *e);

/*
 * A reload may change modes, tenants and limits, not which addresses are
 * bound (they were bound with privileges the edge has dropped). Returns 0
 * if ec listens on exactly the running sockets, else -1 with the reason.
 */
int edge_listeners_same(const struct edge *e, const struct edge_conf *ec, char *err, size_t errcap);

/* Apply the current routes' [edge] caps to the listeners (after a reload). */
void edge_listeners_set_limits(struct edge *e);

/* Set TCP_NODELAY on a TCP socket (best effort: a failure costs latency only). */
void edge_nodelay(int fd);

/* The listener's configuration in the current routes, by name; NULL if gone. */
const struct edge_listener_conf *edge_listener_find(const struct edge *e, const char *name);

/* ---- pipe.c: two sockets, then bytes both ways between them ---- */

#define PIPE_BUFFER_MAX (256 * 1024)	/* bytes queued towards one side before reading the other stops */
#define PIPE_READ_MAX (64 * 1024)	/* one read */
#define PIPE_TURN_MAX (4 * PIPE_READ_MAX)	/* bytes one direction moves per event before others go */

enum pipe_side {
	PIPE_A,		/* the socket the pipe was made with (a client) */
	PIPE_B,		/* the one attached later (a tenant, a remote) */
};

struct pipe;

/*
 * Before pipe_start(): side is readable (EV_READ: bytes, EOF or an error
 * wait; reported until read, level-triggered) or, while watched for
 * writing, writable (EV_WRITE). The owner reads and writes with
 * pipe_recv() and pipe_send(), and may free the pipe.
 */
typedef void (*pipe_io_fn)(void *arg, enum pipe_side side, short what);

/*
 * Called once when a started pipe ends, after it closed both sockets and
 * freed itself: end says why ("closed" when both directions finished,
 * "idle_timeout", "error_a", "error_b", "out_of_memory"); a_read and
 * b_read are the bytes read from each side after the start.
 */
typedef void (*pipe_done_fn)(void *arg, const char *end, uint64_t a_read, uint64_t b_read);

/*
 * A pipe with socket fd_a (connected, non-blocking) as side a, which the
 * pipe takes over and watches for reading until its EOF; io (may be NULL)
 * gets its readiness. Returns the pipe, or NULL when out of memory (fd_a
 * stays the caller's then).
 */
struct pipe *pipe_new(struct event_base *base, int fd_a, pipe_io_fn io, void *arg);

/*
 * Make fd_b (non-blocking; connected or connecting) side b, watched as
 * side a is. Both sockets should have TCP_NODELAY: the pipe writes what
 * it reads at once. Returns 0, or -1 (fd_b stays the caller's) when b is
 * already attached, the pipe started, or out of memory.
 */
int pipe_attach(struct pipe *p, int fd_b);

/* Before the start: close side b (a failed connect), so that another may be attached. */
void pipe_detach(struct pipe *p);

/* The socket of side (-1: none). Shutting it down is the caller's business; closing it is not. */
int pipe_fd(const struct pipe *p, enum pipe_side side);

/* Before the start: stop (hold != 0) or resume watching side for reading. pipe_start() resumes. */
void pipe_hold(struct pipe *p, enum pipe_side side, int hold);

/*
 * Read at most cap bytes from side. Returns the bytes read, 0 at EOF (the
 * side is no longer watched for reading then), or -1 with errno (EAGAIN:
 * nothing now). Before the start only.
 */
ssize_t pipe_recv(struct pipe *p, enum pipe_side side, void *buf, size_t cap);

/*
 * Write iov[0..n) to side, as much as its socket takes now. Returns the
 * bytes written, or -1 with errno: EAGAIN when it took nothing (also while
 * a connect is in progress; a connect that failed gives its error). While
 * a write comes back short or with EAGAIN, side is watched for writing
 * (EV_WRITE to io); a write that takes everything ends that. Before the
 * start only.
 */
ssize_t pipe_send(struct pipe *p, enum pipe_side side, const struct iovec *iov, int n);

/*
 * From now on the pipe carries bytes both ways by itself (reads of
 * PIPE_READ_MAX, splice(2) for bulk transfers, which needs SIGPIPE
 * ignored): to_a[0..na) and to_b[0..nb) (copied; at most PIPE_BUFFER_MAX
 * each) are written to a and b first, and after idle_ms without a byte
 * moving either way (0: never) the pipe ends. Side b must be attached.
 * Returns 0, or -1 (the pipe unchanged, still the owner's) when out of
 * memory. Never calls done before it returns. Side a's EOF seen by the
 * owner is passed on as a half-close.
 */
int pipe_start(struct pipe *p, const struct iovec *to_a, int na, const struct iovec *to_b, int nb,
	       int64_t idle_ms, pipe_done_fn done);

/* Close both sockets and free the pipe, without calling done (accepts NULL; clears *pp). */
void pipe_free(struct pipe **pp);

/* ---- relay.c: one client connection, from accept to close ---- */

#define RELAY_CONNECT_TIMEOUT 10000	/* ms to connect to a tenant */
#define RELAY_CLOSE_TIMEOUT 5000	/* ms to flush a last reply before closing */
#define RELAY_OUT_MAX 4096		/* replies the client has not read yet */
#define RELAY_EARLY_MAX (32 * 1024)	/* the client's bytes held while the tenant is connecting */

/*
 * Take over an accepted connection on listener lname (borrowed name, kept
 * by the socket): fd and slot now belong to the relay. local is the
 * address the client connected to.
 */
void relay_start(struct edge *e, const char *lname, int fd, const struct addr *peer,
		 const struct addr *local, struct ev_slot *slot);

/* Close every connection now (shutdown). */
void relay_close_all(struct edge *e);

/* ---- egress.c: SOCKS5 CONNECT for tenants' outbound mail ---- */

#define EGRESS_HANDSHAKE_TIMEOUT 10000	/* ms for the greeting and the request */

/*
 * Open the [egress] listeners (if any) on e. Returns 0, or -1 with err.
 * They are closed by egress_close(), after egress_close_all().
 */
int egress_open(struct edge *e, char *err, size_t errcap);
void egress_close(struct edge *e);

/* Close every egress connection now (shutdown). */
void egress_close_all(struct edge *e);

/* ---- fallback.c: sources whose TLS the edge had to cut ---- */

/*
 * After STARTTLS the edge can refuse only by closing or with a TLS alert
 * (no tenant, tenant down). Postfix then retries in plaintext, where the
 * 530 for MAIL would bounce the mail. The edge remembers such sources (per
 * IPv4 address or IPv6 /64) for FALLBACK_WINDOW_MS so that their plaintext
 * MAIL gets a 421 instead. A fixed table: a new entry may overwrite an old
 * one, which costs only that sender a 530 instead of a 421.
 */
#define FALLBACK_SLOTS 4096
#define FALLBACK_WINDOW_MS (2 * 3600 * 1000LL)

struct fallback;

/* Returns a table (free with fallback_free()) or NULL when out of memory. */
struct fallback *fallback_new(void);
void fallback_free(struct fallback **fp);

/* Remember src at now_ms (monotonic). */
void fallback_note(struct fallback *f, const struct addr *src, int64_t now_ms);

/* 1 if src was noted within FALLBACK_WINDOW_MS before now_ms, else 0. */
int fallback_recent(const struct fallback *f, const struct addr *src, int64_t now_ms);

/* ---- preamble.c: SMTP and IMAP spoken up to STARTTLS (pure) ---- */

#include "buf.h"

#define PREAMBLE_LINE_MAX 512		/* one command line, CRLF included (RFC 5321 4.5.3.1.4) */
#define PREAMBLE_COMMANDS_MAX 20	/* commands in one session, then 421 / BYE */
#define PREAMBLE_ERRORS_MAX 5		/* refused or unknown commands, then 421 / BYE */
#define PREAMBLE_EHLO_MAX 200		/* an EHLO/HELO argument (fits the PROXY v2 TLV) */
#define PREAMBLE_REPLY_MAX 512		/* room one reply needs in the output buffer */
#define PREAMBLE_TAG_MAX 64		/* an IMAP tag */

enum preamble_status {
	PREAMBLE_MORE = 0,	/* send what was appended to out, then read more */
	PREAMBLE_STARTTLS = 1,	/* send out; the client's TLS ClientHello comes next */
	PREAMBLE_CLOSE = -1,	/* send out, then close */
};

/* Why a connection is refused before or instead of its session (preamble_refuse()). */
enum preamble_refusal {
	PREAMBLE_REFUSE_BUSY,		/* a connection cap: 421 4.3.2 / BYE */
	PREAMBLE_REFUSE_TIMEOUT,	/* the client was too slow: 421 4.4.2 / BYE */
	PREAMBLE_REFUSE_TENANT_DOWN,	/* the home is unreachable: 421 4.4.2 / BYE */
	PREAMBLE_REFUSE_NO_ROUTE,	/* no tenant for this connection: 421 4.3.0 / BYE */
	PREAMBLE_REFUSE_SHUTDOWN,	/* the edge is stopping: 421 4.3.2 / BYE */
	PREAMBLE_REFUSE_SUSPENDED,	/* the operator suspended the tenant: 421 4.4.2 / BYE */
};

struct preamble {
	int proto;			/* enum edge_preamble */
	const char *name;		/* the edge's host name; borrowed */
	unsigned commands;		/* commands seen */
	unsigned errors;		/* commands refused */
	int greeted;			/* SMTP: EHLO or HELO seen */
	int esmtp;			/* SMTP: the greeting was EHLO */
	char helo[PREAMBLE_EHLO_MAX + 1];	/* SMTP: the EHLO/HELO argument, checked printable */
	int tls_failed_recently;	/* SMTP: set by the caller; MAIL etc. get 421, not 530 */
};

/*
 * Start a session for proto (enum edge_preamble). name (not NULL) is
 * borrowed and must outlive p; replies print at most its first DNSNAME_MAX
 * (253) bytes, so every reply fits PREAMBLE_REPLY_MAX.
 */
void preamble_init(struct preamble *p, int proto, const char *name);

/*
 * Append the greeting (SMTP 220, IMAP "* OK [CAPABILITY ...]") to out.
 * Returns 0, or -1 when out has no room (out unchanged).
 */
int preamble_greeting(const struct preamble *p, struct buf *out);

/*
 * Append the reply refusing a client that sent bytes before the greeting
 * (SMTP 554 5.5.1, IMAP "* BYE"); the caller then closes. Returns 0 or -1 (no room).
 */
int preamble_refuse_early(const struct preamble *p, struct buf *out);

/*
 * Append the reply for a refusal in plaintext (see enum preamble_refusal);
 * the caller then closes. Returns 0 or -1 (no room).
 */
int preamble_refuse(const struct preamble *p, enum preamble_refusal why, struct buf *out);

/*
 * Take complete command lines from in[0..len), appending one reply per line
 * to out. Stops after STARTTLS, after a reply that closes, or when out has
 * less than PREAMBLE_REPLY_MAX bytes of room. *used_r is set to the bytes
 * taken; the caller keeps the rest (an incomplete line) for the next call.
 * A line longer than PREAMBLE_LINE_MAX, bytes after the STARTTLS line (the
 * CVE-2011-0411 class), too many commands or errors: an error reply and
 * PREAMBLE_CLOSE. Pure: no I/O, no logging.
 *
 * An overlong line is refused once PREAMBLE_LINE_MAX bytes have come without
 * a LF, so the caller never holds more than that. The line after the
 * PREAMBLE_COMMANDS_MAX-th command, or after the PREAMBLE_ERRORS_MAX-th
 * refusal, gets the 421 / BYE instead of its reply. out->cap must be at
 * least PREAMBLE_REPLY_MAX; on PREAMBLE_MORE with less room than that left,
 * lines may remain: send out, then call again before reading more. On
 * PREAMBLE_CLOSE the caller drops whatever input is left.
 */
enum preamble_status preamble_feed(struct preamble *p, const uint8_t *in, size_t len,
				   size_t *used_r, struct buf *out);

/* ---- tenants.c: tenants.db, the homes that enrolled and their invites ---- */

#define TENANTS_NAME_MAX 63		/* a tenant's name: [a-z0-9-], not at either end */
#define TENANTS_KEY_LEN 32		/* a home's WireGuard public key */
#define TENANTS_INVITE_ID_LEN 16
#define TENANTS_SECRET_LEN 32
#define TENANTS_HOSTNAMES_MAX 4096	/* host names as kept, comma-separated, with the NUL */
#define TENANTS_POOL_SEARCH_MAX 65536	/* tunnel addresses tried per allocation */

struct tenants;

struct tenants_invite {
	uint8_t id[TENANTS_INVITE_ID_LEN];
	uint8_t secret[TENANTS_SECRET_LEN];
	char hostnames[TENANTS_HOSTNAMES_MAX];	/* the names the invite allows, comma-separated; "": any */
	int64_t created, expires;		/* Unix seconds */
	int64_t used;				/* Unix seconds it was taken, 0: not yet */
};

struct tenants_tenant {
	int64_t id;
	char name[TENANTS_NAME_MAX + 1];
	uint8_t wg_key[TENANTS_KEY_LEN];	/* the home's WireGuard public key */
	struct addr tunnel_v4, tunnel_v6;	/* its tunnel addresses; v6 len 0 when none */
	char hostnames[TENANTS_HOSTNAMES_MAX];	/* comma-separated */
	int suspended;
	int64_t created;
};

/* Where tenants' tunnel addresses come from (the edge's own is the first host of each). */
struct tenants_pool {
	struct cidr v4;
	struct cidr v6;
	int has_v6;
};

/*
 * Open (creating it, schema included) path. WAL, synchronous=FULL.
 * Returns it (tenants_close()), or NULL with err set (a newer schema too).
 */
struct tenants *tenants_open(const char *path, char *err, size_t errcap);
void tenants_close(struct tenants **tp);

/* Keep a new invite. Returns 0, or -1 with err. */
int tenants_invite_add(struct tenants *t, const struct tenants_invite *inv, char *err, size_t errcap);

/* The invite with id (used or not, expired or not). Returns 0, 1 (none), or -1 with err. */
int tenants_invite_get(struct tenants *t, const uint8_t id[TENANTS_INVITE_ID_LEN],
		       struct tenants_invite *inv_r, char *err, size_t errcap);

/*
 * Enroll: in one transaction take invite id (unused, unexpired at now:
 * else 1), give x the next free tunnel addresses of pool (full: 2), and
 * add x (its name, wg_key and hostnames set by the caller; the same name
 * or key again: 1). Returns 0 with x's id and addresses set, 1 or 2
 * (refused, err says why, nothing changed), or -1.
 */
int tenants_enroll(struct tenants *t, const uint8_t id[TENANTS_INVITE_ID_LEN], int64_t now,
		   const struct tenants_pool *pool, struct tenants_tenant *x, char *err, size_t errcap);

/* All tenants by name into *list_r (free()). Returns 0, or -1 with err. */
int tenants_list(struct tenants *t, struct tenants_tenant **list_r, size_t *n_r, char *err, size_t errcap);

/* One tenant. Returns 0, 1 (none), or -1. */
int tenants_get(struct tenants *t, const char *name, struct tenants_tenant *x_r, char *err, size_t errcap);

/*
 * SQLite's PRAGMA data_version on t's connection into *v_r: it changes
 * when another connection (another process: homeport-edge tenant ...)
 * commits a change, not for t's own. Returns 0, or -1 with err.
 */
int tenants_data_version(struct tenants *t, int64_t *v_r, char *err, size_t errcap);

/* Suspend (1) or resume (0); remove. Returns 0, 1 (no such tenant), or -1. */
int tenants_suspend(struct tenants *t, const char *name, int suspended, char *err, size_t errcap);
int tenants_remove(struct tenants *t, const char *name, char *err, size_t errcap);

/* Host number h of pool (0 is the network) into *a_r. Returns 0, or -1 past the pool. Pure. */
int tenants_pool_host(const struct cidr *pool, uint64_t h, struct addr *a_r);

/* 0 if name is a tenant name ([a-z0-9-], 1..63, no '-' at either end), else -1. Pure. */
int tenants_name_check(const char *name);

/* ---- edge_init.c: homeport-edge init and invite ---- */

#define EDGE_ENROLL_KEY_LEN 32		/* X25519, either half */

/*
 * homeport-edge [-c FILE] init ... and invite ... (argv[0] the command
 * word). Return 0, 1 (failed, one line on stderr) or 2 (usage).
 */
int edge_init_main(const char *conf_path, int argc, char **argv);
int edge_invite_main(const char *conf_path, int argc, char **argv);

/*
 * The enrollment key pair from STATE_DIR/keys/enroll.key (base64 of the
 * X25519 secret, 0600): requests are sealed to pk. Returns 0, or -1 with
 * err. The caller wipes sk.
 */
/*
 * A key file STATE_DIR/keys/leaf (0600, checked as a secret) into
 * text[0..cap), its final line end dropped (*len_r). Returns 0, or -1 with err.
 */
int edge_key_read(const char *state_dir, const char *leaf, uint8_t *text, size_t cap, size_t *len_r,
		  char *err, size_t errcap);

int edge_enroll_key(const char *state_dir, uint8_t pk[EDGE_ENROLL_KEY_LEN], uint8_t sk[EDGE_ENROLL_KEY_LEN],
		    char *err, size_t errcap);

/* ---- control.c: answering an enrollment request ---- */

#include "dns.h"
#include "enroll_wire.h"

/*
 * How require_txt looks up records: the TXT records at "_homeport." each
 * of hosts[0..n) into r[0..n), under one deadline (dns_txt_names(): the
 * edge passes its resolver as arg; tests pass a table). Called on a
 * worker thread. Returns 0 (see each r[i].status), or -1 when nothing
 * could be looked up (r[0].err says why).
 */
typedef int (*control_txt_fn)(void *arg, const char *const *hosts, size_t n, struct dns_txt *r);

/* What the edge tells and uses when it enrolls a home. */
struct control_ctx {
	uint8_t box_pk[EDGE_ENROLL_KEY_LEN];	/* the enrollment key (edge_enroll_key) */
	uint8_t box_sk[EDGE_ENROLL_KEY_LEN];
	uint8_t edge_wg_pk[32];			/* the edge's WireGuard public key */
	struct addr wg_endpoint;		/* [enroll] endpoint */
	struct tenants_pool pool;		/* [enroll] tunnel */
	uint16_t egress_port;			/* [egress]'s port, 0: none */
	int require_txt;			/* [enroll] require_txt: host names proven by DNS */
	control_txt_fn txt_lookup;		/* with require_txt: how the records are looked up */
	void *txt_arg;				/* ... and its argument */
};

/* What a host name's _homeport TXT records said (control_lookup). */
enum control_txt {
	CONTROL_TXT_FAILED,	/* not looked up, or the lookup failed (no answer, SERVFAIL, bogus) */
	CONTROL_TXT_MISSING,	/* no such name, no TXT records, or none of the homeport-key form */
	CONTROL_TXT_OTHER,	/* a homeport-key record, but not for this home's key */
	CONTROL_TXT_FOUND,	/* the record for this home's key */
};

/* A request that passed every check but the TXT records (control_begin). */
struct control_request {
	struct enroll_request rq;
	char hosts[TENANTS_HOSTNAMES_MAX];	/* its host names, comma-separated */
	enum control_txt txt[ENROLL_HOSTS_MAX];	/* per rq.host[i] */
	char txt_err[DNS_ERR_MAX + 16];		/* the first lookup failure, for the log */
};

/*
 * An enrollment in three steps, so that the DNS lookups of require_txt
 * can run on a worker thread while the loop serves everyone else:
 *
 * control_begin(): open the sealed request req[0..len) at now, find the
 * invite, verify (MAC with its secret, clock within ENROLL_SKEW_MAX),
 * check the host names against the invite's (and, with require_txt, that
 * each has room for its _homeport name). Returns 1 with *cr_r (free with
 * control_request_free()) when it passed; 0 with a refusal sealed into
 * out[0..cap) (*len_r) and nothing in *cr_r; -1 when there is no one to
 * answer (not sealed to us, not a request: drop it). Changes nothing.
 *
 * control_lookup(): with require_txt, look up and judge the _homeport
 * records of every host name of cr (ctx->txt_lookup; blocks for at most
 * its deadline). Touches only cr: safe on a worker thread.
 *
 * control_finish(): with require_txt, refuse unless every host name's
 * record holds the home's key (ENROLL_REFUSED naming the record to
 * publish) or when a lookup failed (ENROLL_TRY_LATER); otherwise enroll
 * at now (tenants_enroll(): takes the invite) and seal the answer. A
 * refusal never spends the invite. *enrolled_r is 1 when a home was
 * enrolled (tenants.db changed), else 0. Returns 0 (an answer in out).
 *
 * log gets one key=value line for the edge's log in each step that
 * answers. Refusals carry words for the home's owner; an unknown invite
 * and a wrong secret get the same words.
 */
int control_begin(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len, int64_t now,
		  struct control_request **cr_r, uint8_t *out, size_t cap, size_t *len_r, char *log,
		  size_t logcap);
void control_lookup(const struct control_ctx *ctx, struct control_request *cr);
int control_finish(struct tenants *t, const struct control_ctx *ctx, const struct control_request *cr,
		   int64_t now, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap,
		   int *enrolled_r);
void control_request_free(struct control_request **crp);

/*
 * The three steps at once, blocking for the lookups (tests). Returns 0
 * with an answer to send, or -1 when there is none (drop the request).
 */
int control_answer(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len,
		   int64_t now, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap,
		   int *enrolled_r);

#define CONTROL_LISTENERS_MAX 8		/* [enroll] control addresses */
#define CONTROL_CONNS_MAX 64		/* enrollment connections at once */
#define CONTROL_TIMEOUT_MS 10000	/* for a whole request to arrive and its answer to leave */
#define CONTROL_TXT_TIMEOUT_MS 5000	/* require_txt: one request's TXT lookups, all together */
#define CONTROL_TXT_THREADS 2		/* require_txt: requests whose lookups run at once */

/*
 * Listen on [enroll] control (before privileges drop: it reads the
 * enrollment key and the WireGuard key, 0600; after tunnel_open(), whose
 * tenants.db it uses): one framed request and one framed answer per
 * connection, within CONTROL_TIMEOUT_MS. An enrollment adds the home's
 * WireGuard peer and routes (tunnel_sync()) before its answer leaves.
 * Nothing without [enroll] control. Returns 0, or -1 with err
 * (control_close() cleans up either way).
 */
int control_open(struct edge *e, char *err, size_t errcap);

/* Close the listeners and every control connection still open. */
void control_close(struct edge *e);

/* ---- tunnel.c: the edge's WireGuard interface, its peers following tenants.db ---- */

/*
 * A home's tunnel is stale when its peer's last handshake is older than
 * this (WireGuard's REJECT_AFTER_TIME: its session keys are dead), or
 * never happened. A home's keepalive (25 s) keeps a live tunnel
 * handshaking about every 2 minutes.
 */
#define TUNNEL_STALE_AFTER 180		/* s */
#define TUNNEL_POLL_MS 1000		/* tenants.db's data_version looked at */
#define TUNNEL_CHECK_MS 5000		/* the peers' handshakes read */
#define TUNNEL_GO_LOG "wireguard-go.log"	/* in state_dir: wireguard-go's output */
#define TUNNEL_GO_PID "wireguard-go.pid"	/* in state_dir: the wireguard-go the edge started */

struct tunnel;

/*
 * 1 if a tunnel whose peer last handshook at last_handshake (Unix
 * seconds, 0: never) is stale at now, else 0. Pure.
 */
int tunnel_stale(int64_t last_handshake, int64_t now);

/* The peer row x wants: its key, allowed IPs tunnel_v4/32 (and tunnel_v6/128), no endpoint. Pure. */
void tunnel_peer_of(const struct tenants_tenant *x, struct wg_peer *p_r);

/*
 * What makes dev's peers the rows' that are not suspended: the rows whose
 * peer is missing or has other allowed IPs into set_r[0..*nset_r) (room for
 * n), the peers no such row has into remove_r[0..*nremove_r) (room for
 * dev->npeers), as indexes. Returns 0, or -1 when out of memory. Pure.
 */
int tunnel_plan(const struct wg_device *dev, const struct tenants_tenant *rows, size_t n, size_t *set_r,
		size_t *nset_r, size_t *remove_r, size_t *nremove_r);

/*
 * With [enroll], as root, before privileges drop: open tenants.db
 * (e->tenants), bring [enroll] interface up with the edge's key
 * (STATE_DIR/keys/wg.key), the endpoint's port and the edge's address in
 * each tunnel pool (wg_ensure(): an interface that is there, from an
 * earlier run, is kept with its peers; one made here outlives the edge),
 * hand its UAPI socket to the service user, make the peers and routes
 * follow tenants.db (tunnel_sync()), and start the timers that keep them
 * following it and mark stale tunnels. Nothing without [enroll]. Returns
 * 0, or -1 with err (tunnel_close() cleans up either way).
 */
int tunnel_open(struct edge *e, char *err, size_t errcap);

/* Stop the timers and close tenants.db; the interface and its peers stay. */
void tunnel_close(struct edge *e);

/*
 * Read tenants.db; give every tenant that is not suspended its peer (its
 * key, its tunnel addresses as /32 and /128, the endpoint learned from
 * its handshakes) and remove every other peer, one at a time; swap in a
 * route table with the rows, on fresh (taken over; NULL: the current
 * configuration); then read the handshakes. Each change is logged.
 * Returns 0, or -1 (logged; with fresh, it is freed and the routes stay;
 * without, the next poll tries again).
 */
int tunnel_sync(struct edge *e, struct edge_conf *fresh);

/*
 * A reload may not change [enroll] interface, or turn [enroll] on or off
 * (the interface is made as root). Returns 0 if ec keeps them, else -1
 * with the reason.
 */
int tunnel_same(const struct edge *e, const struct edge_conf *ec, char *err, size_t errcap);

/* ---- edge_cli.c: the operator's commands (homeport-edge tenant ...) ---- */

/*
 * homeport-edge [-c FILE] tenant list|show|suspend|resume|remove ...,
 * on STATE_DIR/tenants.db of the configuration at conf_path. argv[0] is
 * the command word. Returns 0, 1 (failed, one line on stderr) or 2 (usage).
 */
int edge_cli_main(const char *conf_path, int argc, char **argv);

#endif
