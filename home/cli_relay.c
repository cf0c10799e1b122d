/*
 * cli_relay: homeport relay join|status|on|off|key (docs/home.md "Relay mode").
 *
 * join takes an edge operator's one-time token: it makes the home's
 * WireGuard key if there is none, enrolls with the edge's control port
 * (enroll_client.c), records the edge in STATE_DIR/relay.conf with relay
 * mode on, and brings the tunnel up. It asks the edge for the host names
 * given, else for [home] hostname and each local domain's MTA-STS policy
 * host (mta-sts.DOMAIN: senders fetch the policy through the edge too). on and off switch the mode in
 * that file and the tunnel's peers. Each of join, on, off and leave then
 * tells the running homeportd (STATE_DIR/homeportd.pid) to reload: it
 * moves its listeners at once, lets sessions in progress finish, and the
 * queue stays as it is; without one running, the change applies at its
 * next start. key prints
 * the home's WireGuard public key (making it, as join would) and the
 * _homeport TXT records that edges with require_txt ask for, so that the
 * owner can publish them before joining.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "daemon.h"
#include "dnsname.h"
#include "enroll_client.h"
#include "ev.h"
#include "home.h"
#include "mtasts.h"
#include "relay.h"
#include "wgkey.h"

#define CLI_RELAY_HANDSHAKE_WAIT_MS 5000	/* join: how long to wait for the first handshake */
#define CLI_RELAY_PROBE_MS 2000			/* status: connecting to an edge's egress */

static int
cli_relay_usage(FILE *to, int rc)
{
	fprintf(to, "usage: homeport [-c FILE] relay join TOKEN [--hostname HOST]... [--name NAME]\n"
		    "                  [--interface IFNAME] [--public-address ADDR]\n"
		    "       homeport [-c FILE] relay status\n"
		    "       homeport [-c FILE] relay on|off\n"
		    "       homeport [-c FILE] relay leave NAME\n"
		    "       homeport [-c FILE] relay key [--hostname HOST]...\n");
	return rc;
}

/* The edges' records, in the file's order, but skip, and with extra at the end (either may be NULL). */
static int
cli_relay_write(const char *state_dir, int mode, const char *interface, const struct relay_state *rs,
		const struct relay_edge *extra, const struct relay_edge *skip)
{
	const struct relay_edge *edges[RELAY_EDGES_MAX + 1];
	struct relay_state check;
	size_t n = 0;
	char err[CONF_ERROR_MAX], *text;
	int rc;

	for (size_t i = 0; i < rs->nedges; i++) {
		if (relay_state_edge(rs, i) != skip)
			edges[n++] = relay_state_edge(rs, i);
	}
	if (extra != NULL)
		edges[n++] = extra;
	if ((text = relay_state_format(mode, interface, edges, n)) == NULL)
		return cli_fail("relay", "out of memory");
	/* Read back before it replaces the file: what homeportd would refuse is not written. */
	rc = relay_state_load_buffer(RELAY_FILE, text, strlen(text), &check, err, sizeof(err));
	relay_state_free(&check);
	if (rc == 0)
		rc = relay_state_save(state_dir, text, err, sizeof(err));
	free(text);
	return rc == 0 ? CLI_OK : cli_fail("relay", "%s", err);
}

/*
 * relay.conf changed: SIGHUP to the homeportd that runs (its PID file,
 * its name checked in /proc), and say what happens. Returns CLI_OK, or
 * CLI_FAIL when one runs but cannot be told (not allowed to signal it).
 */
static int
cli_relay_reload(const struct home_conf *hc)
{
	char path[HOME_PATH_MAX], err[CONF_ERROR_MAX];
	uid_t uid = geteuid();
	pid_t pid = 0;
	int r;

	if (pidfile_path(hc->main->state_dir, path, sizeof(path)) != 0)
		return cli_fail("relay", "state_dir too long");
	/* Started as root, homeportd runs as [home] user; else as whoever started it, as we do. */
	if (uid == 0 && daemon_user_uid(hc->main->user, &uid, err, sizeof(err)) != 0)
		return cli_fail("relay", "%s: cannot tell homeportd to reload; send it SIGHUP or restart it", err);
	r = pidfile_signal(path, "homeportd", uid, SIGHUP, &pid);
	if (r > 0) {
		printf("homeportd (pid %ld) reloaded: listeners move now; sessions in progress finish\n", (long)pid);
		return CLI_OK;
	}
	if (r < 0)
		return cli_fail("relay", "cannot tell homeportd to reload (%s): send it SIGHUP or restart it",
				strerror(errno));
	printf("homeportd is not running: the change applies at its next start\n");
	return CLI_OK;
}

/* The MTA-STS policy hosts of the local domains, mta-sts.DOMAIN, read from the store. */
struct cli_relay_policy_hosts {
	char name[ENROLL_HOSTS_MAX][DNSNAME_MAX + 1];
	size_t n;
};

/* A new edge's record from the edge's answer (its strings in store[]). */
struct cli_relay_new {
	struct relay_edge e;
	char name[CONF_NAME_MAX + 1];
	char key[WGKEY_TEXT_SIZE];
	char tenant[ENROLL_TENANT_MAX + 1];
	char addr_text[2][ADDR_TEXT_MAX + 8];
	char *addr_v[2];
	struct addr edge_addr[2];
	char *host_v[ENROLL_HOSTS_MAX];
	struct cli_relay_policy_hosts policy_hosts;	/* the default host names point here */
};

static void
cli_relay_record(struct cli_relay_new *nw, const struct enroll_response *rs, size_t position)
{
	const struct {
		const struct addr *home;
		unsigned prefix;
		const struct addr *edge;
	} fam[2] = {
		{ &rs->tunnel_v4, rs->tunnel_v4_prefix, &rs->edge_v4 },
		{ &rs->tunnel_v6, rs->tunnel_v6_prefix, &rs->edge_v6 },
	};
	char a[ADDR_TEXT_MAX];

	wgkey_format(rs->edge_wg_pk, nw->key);
	snprintf(nw->tenant, sizeof(nw->tenant), "%s", rs->tenant);
	nw->e.name = nw->name;
	nw->e.public_key = nw->key;
	nw->e.endpoint = rs->wg_endpoint;
	nw->e.tenant = nw->tenant;
	nw->e.egress_port = rs->egress_port;
	nw->e.preference = (int64_t)(position + 1) * RELAY_PREFERENCE_STEP;
	nw->e.address.v = nw->addr_v;
	nw->e.edge_address.v = nw->edge_addr;
	for (size_t f = 0; f < 2; f++) {
		if (fam[f].home->len == 0)
			continue;
		snprintf(nw->addr_text[nw->e.address.n], sizeof(nw->addr_text[0]), "%s/%u",
			 addr_format(fam[f].home, a, sizeof(a)), fam[f].prefix);
		nw->addr_v[nw->e.address.n] = nw->addr_text[nw->e.address.n];
		nw->e.address.n++;
		if (fam[f].edge->len > 0)
			nw->edge_addr[nw->e.edge_address.n++] = *fam[f].edge;
	}
	for (size_t i = 0; i < rs->nhost; i++)
		nw->host_v[i] = (char *)rs->host[i];
	nw->e.hostnames.v = nw->host_v;
	nw->e.hostnames.n = rs->nhost;
}

/* Wait until the edge's peer has a handshake. Returns its age in seconds, or -1. */
static int64_t
cli_relay_handshake(const char *ifname, const uint8_t key[WG_KEY_LEN], int wait_ms,
		    struct wg_peer *peer_r, char *err, size_t errcap)
{
	for (int waited = 0;; waited += 100) {
		struct wg_device dev;
		int64_t age = -1;

		if (wg_get(ifname, &dev, err, errcap) != 0)
			return -1;
		for (size_t p = 0; p < dev.npeers; p++) {
			if (sodium_memcmp(dev.peers[p].public_key, key, WG_KEY_LEN) != 0)
				continue;
			*peer_r = dev.peers[p];
			if (dev.peers[p].last_handshake_sec > 0)
				age = (int64_t)time(NULL) - dev.peers[p].last_handshake_sec;
		}
		wg_device_clear(&dev);
		if (age >= 0 || waited >= wait_ms) {
			if (age < 0)
				snprintf(err, errcap, "no handshake with the edge yet");
			return age;
		}
		usleep(100 * 1000);
	}
}

/*
 * Add the home's default host names to list[0..*n): [home] hostname and
 * each local domain's policy host, so that the edge also routes the
 * MTA-STS policy's requests here (names too long for DNS are left out).
 */
static void
cli_relay_default_hosts(const struct home_conf *hc, struct cli_relay_policy_hosts *ph, const char **list,
			size_t *n, size_t cap)
{
	char path[HOME_PATH_MAX];
	struct store_domain *domains = NULL;
	struct store *st = NULL;
	struct store_err err;
	size_t ndomains = 0;

	dnsname_list_add(list, n, cap, hc->main->hostname);
	ph->n = 0;
	if (home_store_path(hc->main->state_dir, path, sizeof(path)) != 0 ||
	    (st = store_open(path, 0, &err)) == NULL || store_domain_list(st, &domains, &ndomains, &err) != 0) {
		fprintf(stderr, "homeport: relay: cannot read the local domains: without their "
			"mta-sts host names\n");
		ndomains = 0;
	}
	for (size_t i = 0; i < ndomains && ph->n < ENROLL_HOSTS_MAX; i++) {
		if (mtasts_policy_host(domains[i].name, ph->name[ph->n], sizeof(ph->name[0])) == 0) {
			dnsname_list_add(list, n, cap, ph->name[ph->n]);
			ph->n++;
		}
	}
	if (*n == cap && ndomains + 1 > cap)
		fprintf(stderr, "homeport: relay: more than %zu host names: only the first %zu domains' "
			"mta-sts names are asked for (join with --hostname to choose)\n", cap, cap - 1);
	free(domains);
	store_close(&st);
}

/*
 * One enrollment exchange for hosts[0..nhosts) with the token: a fresh
 * timestamp, nonce and reply key each time (rq->home_wg_pk is set).
 * Returns 0 with the edge's answer in *ans, or -1 with err set.
 */
static int
cli_relay_enroll(const struct enroll_token *tok, struct enroll_request *rq, const char *const *hosts,
		 size_t nhosts, struct enroll_response *ans, char *err, size_t errcap)
{
	uint8_t reply_sk[crypto_box_SECRETKEYBYTES];
	int rc;

	memcpy(rq->invite_id, tok->invite_id, sizeof(rq->invite_id));
	rq->timestamp = (int64_t)time(NULL);
	randombytes_buf(rq->nonce, sizeof(rq->nonce));
	crypto_box_keypair(rq->reply_pk, reply_sk);
	rq->nhost = nhosts;
	for (size_t i = 0; i < nhosts; i++)
		snprintf(rq->host[i], sizeof(rq->host[i]), "%s", hosts[i]);
	rc = enroll_exchange(tok, rq, reply_sk, ENROLL_CLIENT_TIMEOUT_MS, ans, err, errcap);
	sodium_memzero(reply_sk, sizeof(reply_sk));
	return rc;
}

/* Is msg the edge's refusal of a policy host: "host name mta-sts.... is not in the invite"? */
static int
cli_relay_policy_host_refused(const char *msg)
{
	static const char head[] = "host name ", tail[] = " is not in the invite";
	size_t len = strlen(msg);

	return strncmp(msg, head, sizeof(head) - 1) == 0 && mtasts_own_is_policy_host(msg + sizeof(head) - 1) &&
	       len > sizeof(head) - 1 + sizeof(tail) - 1 &&
	       strcmp(msg + len - (sizeof(tail) - 1), tail) == 0;
}

static int
cli_relay_join(const struct home_conf *hc, const struct relay_state *rs, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ "name", required_argument, NULL, 'n' },
		{ "interface", required_argument, NULL, 'i' },
		{ "public-address", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hosts[ENROLL_HOSTS_MAX], *name = NULL, *ifname = NULL, *public = NULL;
	struct cli_relay_new *nw = NULL;
	struct enroll_token tok;
	struct enroll_request rq = { 0 };
	struct enroll_response ans;
	struct relay_state again;
	uint8_t key[WG_KEY_LEN];
	char err[CONF_ERROR_MAX], path[HOME_PATH_MAX], a[ADDR_TEXT_MAX];
	const char *why = NULL;
	size_t nhosts = 0;
	pid_t go_pid = 0;
	struct wg_peer peer;
	int64_t age;
	int opt, rc = CLI_FAIL, defaulted;

	/* 0, not 1: homeport's own "+" (options before the command) is forgotten, so options may follow TOKEN. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'H') {
			if (nhosts == ENROLL_HOSTS_MAX || dnsname_check(optarg, strlen(optarg), 0) != 0)
				return cli_fail("relay", "--hostname %s: not a host name (at most %d)", optarg,
						ENROLL_HOSTS_MAX);
			hosts[nhosts++] = optarg;
		} else if (opt == 'n') {
			name = optarg;
		} else if (opt == 'i') {
			ifname = optarg;
		} else if (opt == 'p') {
			public = optarg;
		} else {
			return cli_relay_usage(stderr, CLI_USAGE);
		}
	}
	if (optind + 1 != argc)
		return cli_relay_usage(stderr, CLI_USAGE);
	if (enroll_token_parse(argv[optind], strlen(argv[optind]), &tok, &why) != 0)
		return cli_fail("relay", "the token: %s (copy it whole from homeport-edge invite)", why);
	if (rs->nedges == RELAY_EDGES_MAX)
		return cli_fail("relay", "already %d edges", RELAY_EDGES_MAX);
	if ((nw = calloc(1, sizeof(*nw))) == NULL)
		return cli_fail("relay", "out of memory");
	defaulted = nhosts == 0;
	if (defaulted)
		cli_relay_default_hosts(hc, &nw->policy_hosts, hosts, &nhosts, ENROLL_HOSTS_MAX);
	if (name != NULL)
		snprintf(nw->name, sizeof(nw->name), "%s", name);
	else
		snprintf(nw->name, sizeof(nw->name), "edge%zu", rs->nedges + 1);
	if (relay_state_find(rs, nw->name) != NULL) {
		rc = cli_fail("relay", "an edge called %s is already joined", nw->name);
		goto out;
	}
	if (public != NULL && addr_parse(public, strlen(public), ADDR_PORT_NONE, &nw->e.public_address) != 0) {
		rc = cli_fail("relay", "--public-address %s: not an address", public);
		goto out;
	}
	/* The home's WireGuard key: one for every edge, made on the first join. */
	snprintf(path, sizeof(path), "%s/%s", hc->main->state_dir, RELAY_KEY_FILE);
	if (wgkey_load(path, 1, key, err, sizeof(err)) != 0 || wgkey_public(key, rq.home_wg_pk) != 0) {
		rc = cli_fail("relay", "%s", err);
		goto out;
	}
	sodium_memzero(key, sizeof(key));
	if (cli_relay_enroll(&tok, &rq, hosts, nhosts, &ans, err, sizeof(err)) != 0) {
		rc = cli_fail("relay", "%s", err);
		goto out;
	}
	if (defaulted && ans.status == ENROLL_REFUSED && cli_relay_policy_host_refused(ans.message)) {
		/* An invite that lists the mail host only: join with it, without MTA-STS through this edge. */
		size_t kept = 0;

		for (size_t i = 0; i < nhosts; i++) {
			if (!mtasts_own_is_policy_host(hosts[i]))
				hosts[kept++] = hosts[i];
		}
		fprintf(stderr, "homeport: relay: the invite does not list the MTA-STS policy hosts (%s); joining "
			"without them: senders will not find the policy through this edge (join again with an "
			"invite that lists mta-sts.DOMAIN to have it)\n", ans.message);
		nhosts = kept;
		if (cli_relay_enroll(&tok, &rq, hosts, nhosts, &ans, err, sizeof(err)) != 0) {
			rc = cli_fail("relay", "%s", err);
			goto out;
		}
	}
	if (ans.status != ENROLL_OK) {
		rc = cli_fail("relay", "the edge %s: %s", ans.status == ENROLL_TRY_LATER ? "says try later" : "refused",
			      ans.message);
		/* A refusal leaves the invite unused: the owner fixes what it says and joins again. */
		if (strncmp(ans.message, "publish ", 8) == 0)
			fprintf(stderr, "homeport: relay: once the record is published (homeport relay key prints "
				"all of them), run the same homeport relay join again: the token is not used up\n");
		goto out;
	}
	cli_relay_record(nw, &ans, rs->nedges);
	if (nw->e.public_address.len == 0) {
		/* Where senders reach the edge: its WireGuard address unless told otherwise. */
		nw->e.public_address = ans.wg_endpoint;
		addr_set_port(&nw->e.public_address, 0);
	}
	if ((rc = cli_relay_write(hc->main->state_dir, RELAY_MODE_ON,
				  ifname != NULL ? ifname
				  : rs->main != NULL ? rs->main->interface
						     : RELAY_INTERFACE_DEFAULT,
				  rs, &nw->e, NULL)) != CLI_OK) {
		/* The edge enrolled us; nothing was recorded here. */
		fprintf(stderr, "homeport: relay: not joined; ask the edge's operator to run: homeport-edge "
			"tenant remove %s\n", nw->tenant);
		goto out;
	}
	printf("joined %s as tenant %s: tunnel %s", nw->name, nw->tenant, nw->addr_text[0]);
	if (nw->e.address.n > 1)
		printf(", %s", nw->addr_text[1]);
	printf("; edge %s, WireGuard %s\n", addr_format(&nw->edge_addr[0], path, sizeof(path)),
	       addr_format(&ans.wg_endpoint, a, sizeof(a)));
	/* The file as written is what homeportd will read: read it back, and bring the tunnel up. */
	if (relay_state_load(hc->main->state_dir, &again, err, sizeof(err)) != 0 ||
	    relay_tunnel_up(hc->main->state_dir, &again, &go_pid, err, sizeof(err)) != 0) {
		rc = cli_fail("relay", "the edge is recorded, but the tunnel is not up: %s", err);
		relay_state_free(&again);
		goto out;
	}
	if (go_pid > 0)
		printf("tunnel %s up (wireguard-go pid %ld)\n", again.main->interface, (long)go_pid);
	else
		printf("tunnel %s up\n", again.main->interface);
	age = cli_relay_handshake(again.main->interface, relay_state_find(&again, nw->name)->key,
				  CLI_RELAY_HANDSHAKE_WAIT_MS, &peer, err, sizeof(err));
	if (age >= 0)
		printf("handshake with %s: %llds ago\n", nw->name, (long long)age);
	else
		printf("handshake with %s: none yet (%s); see homeport relay status\n", nw->name, err);
	relay_state_free(&again);
	/* homeportd listens on the tunnel now, behind the edge. */
	rc = cli_relay_reload(hc);
	printf("\nnext:\n  - publish the records homeport relay status and homeport dns print\n");
out:
	sodium_memzero(&tok, sizeof(tok));
	free(nw);
	return rc;
}

/*
 * relay key [--hostname HOST]...: the home's WireGuard public key (made
 * now if there is none, as join does) and the _homeport TXT record of
 * each host name: those given, else the home's host name and every host
 * name an edge routes here.
 */
static int
cli_relay_key(const struct home_conf *hc, const struct relay_state *rs, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hosts[ENROLL_HOSTS_MAX * (RELAY_EDGES_MAX + 1)];
	char err[CONF_ERROR_MAX], path[HOME_PATH_MAX], text[WGKEY_TEXT_SIZE];
	uint8_t key[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct cli_relay_policy_hosts ph;
	size_t n = 0, given = 0;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'H')
			return cli_relay_usage(stderr, CLI_USAGE);
		if (dnsname_check(optarg, strlen(optarg), 0) != 0)
			return cli_fail("relay", "--hostname %s: not a host name", optarg);
		dnsname_list_add(hosts, &n, ENROLL_HOSTS_MAX, optarg);
		given++;
	}
	if (optind != argc)
		return cli_relay_usage(stderr, CLI_USAGE);
	if (given == 0) {
		cli_relay_default_hosts(hc, &ph, hosts, &n, sizeof(hosts) / sizeof(hosts[0]));
		for (size_t i = 0; i < rs->nedges; i++) {
			const struct relay_edge *e = relay_state_edge(rs, i);

			for (size_t h = 0; h < e->hostnames.n; h++)
				dnsname_list_add(hosts, &n, sizeof(hosts) / sizeof(hosts[0]), e->hostnames.v[h]);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", hc->main->state_dir, RELAY_KEY_FILE);
	rc = wgkey_load(path, 1, key, err, sizeof(err)) == 0 && wgkey_public(key, pub) == 0 ? 0 : -1;
	sodium_memzero(key, sizeof(key));
	if (rc != 0)
		return cli_fail("relay", "%s", err);
	wgkey_format(pub, text);
	printf("; the home's WireGuard public key: %s\n"
	       "; edges with require_txt enroll a host name only with this record at _homeport.NAME:\n", text);
	for (size_t i = 0; i < n; i++)
		cli_dns_homeport_txt(hosts[i], pub);
	return CLI_OK;
}

/* Can we open a TCP connection to a within the probe time? Returns 0, or an errno. */
static int
cli_relay_probe(const struct addr *a)
{
	int fd = ev_connect_until(a, ev_monotonic_ms() + CLI_RELAY_PROBE_MS);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int
cli_relay_status(const struct relay_state *rs)
{
	char err[CONF_ERROR_MAX], a[ADDR_TEXT_MAX];
	int bad = 0;

	if (rs->nedges == 0) {
		printf("mode: direct (no edge joined; homeport relay join TOKEN)\n");
		return CLI_OK;
	}
	printf("mode: %s\ninterface: %s\n", rs->main->mode == RELAY_MODE_ON ? "relay" : "direct (relay off)",
	       rs->main->interface);
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);
		struct wg_peer peer = { 0 };
		int64_t age = cli_relay_handshake(rs->main->interface, e->key, 0, &peer, err, sizeof(err));
		int live = age >= 0 && age <= RELAY_STALE_SEC;

		printf("\nedge %s (MX preference %lld)\n  tenant: %s\n  endpoint: %s\n", e->name,
		       (long long)e->preference, e->tenant, addr_format(&e->endpoint, a, sizeof(a)));
		if (age >= 0)
			printf("  handshake: %llds ago (%s)\n", (long long)age, live ? "live" : "stale");
		else
			printf("  handshake: none\n");
		printf("  bytes: %llu received, %llu sent\n", (unsigned long long)peer.rx_bytes,
		       (unsigned long long)peer.tx_bytes);
		if (e->egress_port > 0 && e->edge_address.n > 0) {
			struct addr eg = e->edge_address.v[0];
			int r;

			addr_set_port(&eg, (uint16_t)e->egress_port);
			r = cli_relay_probe(&eg);
			printf("  egress %s: %s\n", addr_format(&eg, a, sizeof(a)), r == 0 ? "reachable" : strerror(r));
			live = live && r == 0;
		}
		if (!live)
			printf("  last error: %s\n", age < 0 ? err : "the tunnel is stale");
		bad |= !live;
	}
	return bad ? CLI_FAIL : CLI_OK;
}

/*
 * on: the file says so, and the tunnel is up at once. off: the file says
 * so, and the edges are taken off the tunnel now, so that they answer
 * senders "try later" while homeportd still listens for them.
 */
static int
cli_relay_switch(const struct home_conf *hc, const struct relay_state *rs, int on)
{
	char err[CONF_ERROR_MAX];
	struct relay_state now;
	pid_t go_pid = 0;
	int rc = cli_relay_write(hc->main->state_dir, on ? RELAY_MODE_ON : RELAY_MODE_OFF,
				 rs->main->interface, rs, NULL, NULL);

	if (rc != CLI_OK)
		return rc;
	if (relay_state_load(hc->main->state_dir, &now, err, sizeof(err)) != 0)
		return cli_fail("relay", "%s", err);
	if (on)
		rc = relay_tunnel_up(hc->main->state_dir, &now, &go_pid, err, sizeof(err));
	else
		rc = relay_tunnel_down(&now, err, sizeof(err));
	relay_state_free(&now);
	if (rc != 0)
		return cli_fail("relay", "relay mode is %s in relay.conf, but the tunnel: %s", on ? "on" : "off",
				err);
	if (go_pid > 0)
		printf("tunnel %s up (wireguard-go pid %ld)\n", rs->main->interface, (long)go_pid);
	printf("relay mode %s: %s; homeportd listens %s (the queue stays)\n", on ? "on" : "off",
	       on ? "the tunnel to the edges is up" : "the edges are off the tunnel and ask senders to retry",
	       on ? "on the tunnel, behind the edges" : "on homeportd.conf's addresses");
	return cli_relay_reload(hc);
}

/* Forget one edge: its record goes, and its peer from the tunnel. */
static int
cli_relay_leave(const struct home_conf *hc, const struct relay_state *rs, const char *name)
{
	const struct relay_edge *e = relay_state_find(rs, name);
	char err[CONF_ERROR_MAX];
	int rc;

	if (e == NULL)
		return cli_fail("relay", "no edge called %s (homeport relay status lists them)", name);
	if ((rc = cli_relay_write(hc->main->state_dir, rs->main->mode, rs->main->interface, rs, NULL, e)) !=
	    CLI_OK)
		return rc;
	if (if_nametoindex(rs->main->interface) != 0 &&
	    wg_remove_peer(rs->main->interface, e->key, err, sizeof(err)) != 0)
		return cli_fail("relay", "%s is forgotten, but its peer is still on %s: %s", name,
				rs->main->interface, err);
	printf("left %s (tenant %s there)\n", name, e->tenant);
	/* homeportd stops listening for that edge. */
	rc = cli_relay_reload(hc);
	printf("next:\n"
	       "  - publish homeport dns again (that edge's MX and A go)\n"
	       "  - ask the edge's operator to run: homeport-edge tenant remove %s\n", e->tenant);
	return rc;
}

int
cli_relay_main(const char *conf_path, int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	char cerr[CONF_ERROR_MAX];
	struct home_conf hc;
	struct relay_state rs;
	int rc;

	if (argc >= 2 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0))
		return cli_relay_usage(stdout, CLI_OK);
	if (!(strcmp(cmd, "join") == 0 || strcmp(cmd, "key") == 0 ||
	      (strcmp(cmd, "leave") == 0 && argc == 3) ||
	      ((strcmp(cmd, "status") == 0 || strcmp(cmd, "on") == 0 ||
					     strcmp(cmd, "off") == 0) && argc == 2)))
		return cli_relay_usage(stderr, CLI_USAGE);
	if (sodium_init() < 0)
		return cli_fail("relay", "libsodium failed to start");
	if (home_conf_load(conf_path, &hc, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		return CLI_FAIL;
	}
	if (relay_state_load(hc.main->state_dir, &rs, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		home_conf_free(&hc);
		return CLI_FAIL;
	}
	if (strcmp(cmd, "join") == 0) {
		rc = cli_relay_join(&hc, &rs, argc - 1, argv + 1);
	} else if (strcmp(cmd, "key") == 0) {
		rc = cli_relay_key(&hc, &rs, argc - 1, argv + 1);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cli_relay_status(&rs);
	} else if (rs.nedges == 0) {
		rc = cli_fail("relay", "no edge joined yet: homeport relay join TOKEN");
	} else if (strcmp(cmd, "leave") == 0) {
		rc = cli_relay_leave(&hc, &rs, argv[2]);
	} else {
		int on = strcmp(cmd, "on") == 0;

		rc = cli_relay_switch(&hc, &rs, on);
	}
	relay_state_free(&rs);
	home_conf_free(&hc);
	return rc;
}
