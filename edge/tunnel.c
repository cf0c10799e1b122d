/*
 * tunnel: the edge's WireGuard interface, and its peers following
 * tenants.db (docs/edge.md, "WireGuard").
 *
 * At start, as root, tunnel_open() brings [enroll] interface to the state
 * the configuration describes (wg_ensure(): an interface left by an
 * earlier run is kept with its peers and its wireguard-go, so a restart,
 * even after SIGKILL, breaks no tunnel) and hands wireguard-go's UAPI
 * socket to the service user, who keeps CAP_NET_ADMIN for the kernel's.
 *
 * From then on the peers are exactly the homes in tenants.db that are not
 * suspended, changed one peer at a time (never the whole list: other homes'
 * tunnels are not disturbed), and the route table is built from the same
 * rows. tunnel_sync() does both, at start, after each enrollment (before
 * the answer leaves), on a reload, and when tenants.db's data_version says
 * another process (the operator's tenant command) changed it: looked at
 * every TUNNEL_POLL_MS on the daemon's open connection. Every
 * TUNNEL_CHECK_MS the peers' last handshakes are read; a home whose tunnel
 * is stale (tunnel_stale()) is answered as down without a connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "daemon.h"
#include "edge.h"
#include "log.h"
#include "num.h"
#include "wg.h"
#include "wgkey.h"

#define TUNNEL_PATH_MAX 4096

struct tunnel {
	struct edge *e;
	char ifname[EDGE_IFNAME_MAX + 1];
	struct event *poll;		/* every TUNNEL_POLL_MS: tenants.db's data_version */
	struct event *check;		/* every TUNNEL_CHECK_MS: the handshakes */
	int64_t data_version;		/* as of the last sync */
	int dirty;			/* the last sync did not finish: the next poll syncs */
	int read_failed;		/* the last read of the device failed (logged once) */
	int db_failed;			/* the last data_version failed (logged once) */
};

int
tunnel_stale(int64_t last_handshake, int64_t now)
{
	return last_handshake <= 0 || now - last_handshake > TUNNEL_STALE_AFTER;
}

/* ---- the peers a tenants.db wants ------------------------------------------ */

void
tunnel_peer_of(const struct tenants_tenant *x, struct wg_peer *p_r)
{
	memset(p_r, 0, sizeof(*p_r));
	memcpy(p_r->public_key, x->wg_key, WG_KEY_LEN);
	cidr_of_host(&x->tunnel_v4, &p_r->allowed_ips[p_r->n_allowed_ips++]);
	if (x->tunnel_v6.len != 0)
		cidr_of_host(&x->tunnel_v6, &p_r->allowed_ips[p_r->n_allowed_ips++]);
}

static int
tunnel_cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->net, b->net, a->family == AF_INET ? 4 : 16) == 0;
}

/* Has have exactly want's allowed IPs (in any order)? */
static int
tunnel_peer_same(const struct wg_peer *want, const struct wg_peer *have)
{
	if (want->n_allowed_ips != have->n_allowed_ips)
		return 0;
	for (size_t i = 0; i < want->n_allowed_ips; i++) {
		int found = 0;
		for (size_t k = 0; k < have->n_allowed_ips && !found; k++)
			found = tunnel_cidr_equal(&want->allowed_ips[i], &have->allowed_ips[k]);
		if (!found)
			return 0;
	}
	return 1;
}

static int
tunnel_key_cmp(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, WG_KEY_LEN);
}

static int
tunnel_peer_cmp(const void *a, const void *b)
{
	return memcmp((*(const struct wg_peer *const *)a)->public_key,
		      (*(const struct wg_peer *const *)b)->public_key, WG_KEY_LEN);
}

/* dev's peers sorted by key (free()), or NULL when out of memory. */
static const struct wg_peer **
tunnel_peers_sorted(const struct wg_device *dev)
{
	const struct wg_peer **v = calloc(dev->npeers + 1, sizeof(*v));

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < dev->npeers; i++)
		v[i] = &dev->peers[i];
	qsort(v, dev->npeers, sizeof(*v), tunnel_peer_cmp);
	return v;
}

/* The peer with key in v[0..n) (sorted by tunnel_peers_sorted()), or NULL. */
static const struct wg_peer *
tunnel_peer_find(const struct wg_peer *const *v, size_t n, const uint8_t *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(key, v[mid]->public_key, WG_KEY_LEN);

		if (c == 0)
			return v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
tunnel_plan(const struct wg_device *dev, const struct tenants_tenant *rows, size_t n, size_t *set_r,
	    size_t *nset_r, size_t *remove_r, size_t *nremove_r)
{
	const struct wg_peer **have = tunnel_peers_sorted(dev);
	const uint8_t **want = calloc(n + 1, sizeof(*want));
	size_t nwant = 0;
	int rc = -1;

	*nset_r = *nremove_r = 0;
	if (have == NULL || want == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct wg_peer *h;
		struct wg_peer p;

		if (rows[i].suspended)
			continue;
		want[nwant++] = rows[i].wg_key;
		h = tunnel_peer_find(have, dev->npeers, rows[i].wg_key);
		tunnel_peer_of(&rows[i], &p);
		if (h == NULL || !tunnel_peer_same(&p, h))
			set_r[(*nset_r)++] = i;
	}
	qsort(want, nwant, sizeof(*want), tunnel_key_cmp);
	for (size_t i = 0; i < dev->npeers; i++) {
		const uint8_t *key = dev->peers[i].public_key;

		if (bsearch(&key, want, nwant, sizeof(*want), tunnel_key_cmp) == NULL)
			remove_r[(*nremove_r)++] = i;
	}
	rc = 0;
out:
	free(have);
	free(want);
	return rc;
}

/* ---- keeping the device in step ------------------------------------------- */

/* The row with key (suspended or not), or NULL. */
static const struct tenants_tenant *
tunnel_row_of(const struct tenants_tenant *rows, size_t n, const uint8_t *key)
{
	for (size_t i = 0; i < n; i++) {
		if (memcmp(rows[i].wg_key, key, WG_KEY_LEN) == 0)
			return &rows[i];
	}
	return NULL;
}

/* Set and remove peers as tunnel_plan() says. Returns how many changes failed, or -1. */
static int
tunnel_apply(struct tunnel *t, const struct wg_device *dev, const struct tenants_tenant *rows, size_t n)
{
	size_t *set = calloc(n + 1, sizeof(*set)), *remove = calloc(dev->npeers + 1, sizeof(*remove));
	size_t nset = 0, nremove = 0;
	char err[512], key[WGKEY_TEXT_SIZE];
	int failed = -1;

	if (set == NULL || remove == NULL ||
	    tunnel_plan(dev, rows, n, set, &nset, remove, &nremove) != 0) {
		log_error(NULL, "peer", "result=failed error=\"out of memory\"");
		goto out;
	}
	failed = 0;
	/* Removals first: a key whose addresses moved to another row frees them. */
	for (size_t i = 0; i < nremove; i++) {
		const uint8_t *pk = dev->peers[remove[i]].public_key;
		const struct tenants_tenant *x = tunnel_row_of(rows, n, pk);

		wgkey_format(pk, key);
		if (wg_remove_peer(t->ifname, pk, err, sizeof(err)) != 0) {
			log_error(NULL, "peer", "action=remove result=failed tenant=%s key=%s error=\"%s\"",
				  x != NULL ? x->name : "-", key, err);
			failed++;
			continue;
		}
		log_info(NULL, "peer", "action=remove tenant=%s key=%s reason=%s", x != NULL ? x->name : "-", key,
			 x != NULL ? "suspended" : "not_enrolled");
	}
	for (size_t i = 0; i < nset; i++) {
		const struct tenants_tenant *x = &rows[set[i]];
		int known = 0;
		struct wg_peer p;

		for (size_t k = 0; k < dev->npeers && !known; k++)
			known = memcmp(dev->peers[k].public_key, x->wg_key, WG_KEY_LEN) == 0;
		tunnel_peer_of(x, &p);
		wgkey_format(x->wg_key, key);
		if (wg_set_peer(t->ifname, &p, err, sizeof(err)) != 0) {
			log_error(NULL, "peer", "action=%s result=failed tenant=%s key=%s error=\"%s\"",
				  known ? "update" : "add", x->name, key, err);
			failed++;
			continue;
		}
		log_info(NULL, "peer", "action=%s tenant=%s key=%s", known ? "update" : "add", x->name, key);
	}
out:
	free(set);
	free(remove);
	return failed;
}

/* Read the handshakes and mark each enrolled home stale or live; log the changes. */
static void
tunnel_check(struct edge *e)
{
	struct tunnel *t = e->tunnel;
	struct wg_device dev;
	const struct wg_peer **peers;
	char err[512];
	int64_t now = (int64_t)time(NULL);

	if (wg_get(t->ifname, &dev, err, sizeof(err)) != 0) {
		if (!t->read_failed)
			log_error(NULL, "wireguard", "result=failed ifname=%s error=\"%s\"", t->ifname, err);
		t->read_failed = 1;
		return;
	}
	if (t->read_failed)
		log_info(NULL, "wireguard", "result=ok ifname=%s read=again", t->ifname);
	t->read_failed = 0;
	if ((peers = tunnel_peers_sorted(&dev)) == NULL) {
		wg_device_clear(&dev);
		return;
	}
	for (size_t i = 0; i < route_table_ntenants(e->routes); i++) {
		const struct route_tenant *rt = route_table_tenant(e->routes, i);
		const struct wg_peer *p;
		int64_t hs;
		int stale;

		if (rt->wg_key == NULL || rt->suspended)
			continue;
		p = tunnel_peer_find(peers, dev.npeers, rt->wg_key);
		hs = p != NULL ? p->last_handshake_sec : 0;
		stale = tunnel_stale(hs, now);
		if (stale == rt->stats->stale)
			continue;
		rt->stats->stale = stale;
		if (hs > 0)
			log_info(NULL, "tenant", "state=%s tenant=%s handshake_age=%lld", stale ? "stale" : "live",
				 rt->name, (long long)(now - hs));
		else
			log_info(NULL, "tenant", "state=%s tenant=%s handshake_age=never", stale ? "stale" : "live",
				 rt->name);
	}
	free(peers);
	wg_device_clear(&dev);
}

static void
tunnel_log_warnings(const struct route_table *rt)
{
	size_t lost = 0, n = route_table_nwarnings(rt, &lost);

	for (size_t i = 0; i < n; i++)
		log_warn(NULL, "routes", "warning=\"%s\"", route_table_warning(rt, i));
	if (lost > 0)
		log_warn(NULL, "routes", "warning=\"%zu more conflicts\"", lost);
}

int
tunnel_sync(struct edge *e, struct edge_conf *fresh)
{
	struct tunnel *t = e->tunnel;
	struct tenants_tenant *rows = NULL;
	struct wg_device dev;
	struct route_table *rt;
	size_t n = 0;
	char err[512];
	int rc = -1, failed = 0;

	memset(&dev, 0, sizeof(dev));
	if (tenants_list(e->tenants, &rows, &n, err, sizeof(err)) != 0) {
		log_error(NULL, "tenants", "result=failed error=\"%s\"", err);
		goto out;
	}
	if (wg_get(t->ifname, &dev, err, sizeof(err)) != 0) {
		/* Once per failure streak: the next poll tries again, every second. */
		if (!t->read_failed)
			log_error(NULL, "wireguard", "result=failed ifname=%s error=\"%s\"", t->ifname, err);
		t->read_failed = 1;
		goto out;
	}
	if ((failed = tunnel_apply(t, &dev, rows, n)) < 0)
		goto out;
	rt = fresh != NULL ? route_table_new(fresh, rows, n, e->metrics)
			   : route_table_rebuild(e->routes, rows, n, e->metrics);
	if (rt == NULL) {
		log_error(NULL, "routes", "result=failed error=\"out of memory\"");
		goto out;
	}
	route_table_unref(&e->routes);
	e->routes = rt;
	tunnel_log_warnings(rt);
	tunnel_check(e);
	rc = 0;
out:
	if (fresh != NULL && fresh->conf != NULL)
		edge_conf_free(fresh);
	wg_device_clear(&dev);
	free(rows);
	t->dirty = rc != 0 || failed > 0;
	return rc;
}

/* ---- timers ---------------------------------------------------------------- */

static void
tunnel_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct edge *e = arg;
	struct tunnel *t = e->tunnel;
	char err[512];
	int64_t v;

	(void)fd;
	(void)what;
	if (tenants_data_version(e->tenants, &v, err, sizeof(err)) != 0) {
		if (!t->db_failed)
			log_error(NULL, "tenants", "result=failed error=\"%s\"", err);
		t->db_failed = 1;
		return;
	}
	t->db_failed = 0;
	if (v == t->data_version && !t->dirty)
		return;
	t->data_version = v;
	tunnel_sync(e, NULL);
}

static void
tunnel_on_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tunnel_check(arg);
}

/* ---- start and stop -------------------------------------------------------- */

/* STATE_DIR/TUNNEL_GO_PID into path. Returns 0, or -1 if too long. */
static int
tunnel_pid_path(const char *state_dir, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s", state_dir, TUNNEL_GO_PID);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Note the PID of the wireguard-go started for the interface (best effort: it is for logs). */
static void
tunnel_pid_write(const char *state_dir, pid_t pid)
{
	char path[TUNNEL_PATH_MAX], text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)pid), fd;

	if (tunnel_pid_path(state_dir, path, sizeof(path)) != 0 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return;
	if (write(fd, text, (size_t)n) != n)
		log_warn(NULL, "wireguard", "result=pid_not_noted path=%s", path);
	close(fd);
}

/*
 * The wireguard-go an earlier run started for ifname, from the PID it
 * noted, if that process still runs "wireguard-go -f IFNAME"; else 0.
 */
static pid_t
tunnel_pid_read(const char *state_dir, const char *ifname)
{
	char path[TUNNEL_PATH_MAX], text[32], want[64], cmd[64];
	ssize_t n;
	int64_t pid;
	int fd, wn;

	if (tunnel_pid_path(state_dir, path, sizeof(path)) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 1 || text[n - 1] != '\n' || num_parse_i64(text, (size_t)n - 1, 1, INT32_MAX, &pid) != 0)
		return 0;
	/* /proc/PID/cmdline: the arguments, each ended by a NUL. */
	wn = snprintf(want, sizeof(want), "%s%c-f%c%s", WG_GO_PROGRAM, '\0', '\0', ifname);
	if (wn < 0 || (size_t)wn >= sizeof(want) ||
	    snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, cmd, sizeof(cmd));
	close(fd);
	return n == wn + 1 && memcmp(cmd, want, (size_t)wn + 1) == 0 ? (pid_t)pid : 0;
}

/* wg_ensure() with what the configuration says. Returns 0, or -1 with err. */
static int
tunnel_ensure(struct tunnel *t, const struct edge_conf *ec, char *err, size_t errcap)
{
	const struct edge_enroll_conf *en = ec->enroll;
	struct wg_address own[2];
	struct wg_interface wi = { .ifname = t->ifname, .log_fd = -1, .socket_owner = (uid_t)-1 };
	uint8_t text[128], priv[WG_KEY_LEN];
	char path[TUNNEL_PATH_MAX];
	size_t len = 0, nown = 0;
	pid_t go_pid = 0;
	int n, rc = -1, created;

	if (edge_key_read(ec->main->state_dir, "wg.key", text, sizeof(text), &len, err, errcap) != 0)
		return -1;
	if (wgkey_parse((const char *)text, len, priv) != 0) {
		snprintf(err, errcap, "%s/keys/wg.key: not a WireGuard key", ec->main->state_dir);
		goto out;
	}
	/* The edge's own address in each pool: its first host, which enrollment never gives a home. */
	for (size_t i = 0; i < en->tunnel.n && nown < 2; i++) {
		if (tenants_pool_host(&en->tunnel.v[i], 1, &own[nown].addr) != 0) {
			snprintf(err, errcap, "[enroll] tunnel: a pool without a host address");
			goto out;
		}
		own[nown++].prefix = en->tunnel.v[i].prefix;
	}
	n = snprintf(path, sizeof(path), "%s/%s", ec->main->state_dir, TUNNEL_GO_LOG);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "state_dir too long");
		goto out;
	}
	if ((wi.log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* The service user talks to wireguard-go's socket once root is gone. */
	if (geteuid() == 0 && daemon_user_uid(ec->main->user, &wi.socket_owner, err, errcap) != 0)
		goto out;
	wi.private_key = priv;
	wi.listen_port = addr_port(&en->endpoint);
	wi.addresses = own;
	wi.naddresses = nown;
	if (wg_ensure(&wi, &go_pid, err, errcap) != 0)
		goto out;
	created = go_pid > 0;
	if (created)
		tunnel_pid_write(ec->main->state_dir, go_pid);
	else if (wg_backend_of(t->ifname) == WG_BACKEND_UAPI)
		go_pid = tunnel_pid_read(ec->main->state_dir, t->ifname);
	log_info(NULL, "wireguard", "result=ok ifname=%s backend=%s go_pid=%ld created=%s port=%d",
		 t->ifname, wg_backend_of(t->ifname) == WG_BACKEND_UAPI ? "uapi" : "netlink", (long)go_pid,
		 created ? "yes" : "no", wi.listen_port);
	rc = 0;
out:
	if (wi.log_fd >= 0)
		close(wi.log_fd);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

int
tunnel_open(struct edge *e, char *err, size_t errcap)
{
	const struct edge_conf *ec = route_table_conf(e->routes);
	struct timeval poll_tv = ev_timeval_ms(TUNNEL_POLL_MS), check_tv = ev_timeval_ms(TUNNEL_CHECK_MS);
	char path[TUNNEL_PATH_MAX];
	struct tunnel *t;
	int n;

	if (ec->enroll == NULL)
		return 0;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	e->tunnel = t;
	t->e = e;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ec->enroll->interface);
	/* tenants.db is 0600: opened as root and kept (control.c enrolls through it too). */
	n = snprintf(path, sizeof(path), "%s/%s", ec->main->state_dir, EDGE_TENANTS_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	if ((e->tenants = tenants_open(path, err, errcap)) == NULL ||
	    tenants_data_version(e->tenants, &t->data_version, err, errcap) != 0 ||
	    tunnel_ensure(t, ec, err, errcap) != 0)
		return -1;
	if (tunnel_sync(e, NULL) != 0) {
		snprintf(err, errcap, "%s: cannot make the peers and routes follow tenants.db (logged)", t->ifname);
		return -1;
	}
	t->poll = event_new(e->base, -1, EV_PERSIST, tunnel_on_poll, e);
	t->check = event_new(e->base, -1, EV_PERSIST, tunnel_on_check, e);
	if (t->poll == NULL || t->check == NULL || event_add(t->poll, &poll_tv) != 0 ||
	    event_add(t->check, &check_tv) != 0) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	return 0;
}

void
tunnel_close(struct edge *e)
{
	struct tunnel *t = e->tunnel;

	if (t != NULL) {
		if (t->poll != NULL)
			event_free(t->poll);
		if (t->check != NULL)
			event_free(t->check);
		free(t);
		e->tunnel = NULL;
	}
	tenants_close(&e->tenants);
}

int
tunnel_same(const struct edge *e, const struct edge_conf *ec, char *err, size_t errcap)
{
	const struct edge_enroll_conf *now = route_table_conf(e->routes)->enroll, *next = ec->enroll;
	int same;

	if (now == NULL && next == NULL)
		return 0;
	if (now == NULL || next == NULL) {
		snprintf(err, errcap, "[enroll] %s: a restart is needed (the WireGuard interface is set up "
			 "as root)", now == NULL ? "added" : "removed");
		return -1;
	}
	same = strcmp(now->interface, next->interface) == 0 && addr_equal(&now->endpoint, &next->endpoint) &&
	       now->tunnel.n == next->tunnel.n;
	for (size_t i = 0; same && i < now->tunnel.n; i++)
		same = tunnel_cidr_equal(&now->tunnel.v[i], &next->tunnel.v[i]);
	if (!same) {
		snprintf(err, errcap, "[enroll] interface, endpoint or tunnel changed: a restart is needed "
			 "(the WireGuard interface is set up as root)");
		return -1;
	}
	return 0;
}
