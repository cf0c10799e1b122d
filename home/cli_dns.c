/*
 * cli_dns: `homeport dns`, every DNS record the owner must publish for the
 * home, in zone-file syntax, ready to paste (or load: the bench loads
 * exactly this output into Knot).
 *
 *   homeport dns [--address ADDR]...
 *
 * Per local domain its MX, SPF naming the addresses mail leaves from,
 * DMARC, the DKIM keys' records (active, pending and retired: see
 * cli_dkim.c), SRV records for mail clients (RFC 6186, RFC 8314) and
 * MTA-STS (the _mta-sts TXT record and the policy host, when homeportd
 * publishes a policy: mtasts_own.c); and
 * per mail host, its A/AAAA (its own name, never a CNAME, so that
 * validating senders find its TLSA and send SNI) and its TLSA record
 * (DANE-EE, SPKI, SHA-256: RFC 7672 3.1.1) for port 25: the home's key,
 * which the edges never hold; and, once the home has a WireGuard key
 * (STATE_DIR/keys/wg.key, relay mode), its _homeport TXT record, which
 * edges with require_txt ask for (docs/wire.md).
 *
 * Direct mode: one mail host, the home's host name, at --address, else
 * the public addresses the smtp listeners are bound to. Relay mode
 * (relay.conf): the host names each edge routes to this home, at that
 * edge's public address, with the edge's MX preference; mail leaves from
 * the edges, so SPF names them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "cli.h"
#include "dkimkey.h"
#include "dnsname.h"
#include "hex.h"
#include "enroll_wire.h"
#include "home.h"
#include "mtasts.h"
#include "relay.h"
#include "socks5.h"
#include "tlsident.h"
#include "wgkey.h"

#define CLI_DNS_TTL 3600
#define CLI_DNS_ADDRS_MAX 8
#define CLI_DNS_TXT_CHUNK 255		/* a TXT character-string's most bytes (RFC 1035 3.3) */
#define CLI_DNS_OWNER_WIDTH 40

/* A name MX records point at, and where it is. */
struct cli_dns_host {
	const char *name;
	int64_t preference;
	struct addr addrs[CLI_DNS_ADDRS_MAX];
	size_t naddrs;
};

#define CLI_DNS_HOSTS_MAX (RELAY_EDGES_MAX * ENROLL_HOSTS_MAX)

struct cli_dns {
	struct home_conf hc;
	struct relay_state relay;
	struct addr addrs[CLI_DNS_ADDRS_MAX];	/* every address mail comes to and leaves from */
	size_t naddrs;
	struct cli_dns_host hosts[CLI_DNS_HOSTS_MAX];
	size_t nhosts;
	int ports[HOME_LISTENER_HTTP + 1];	/* per enum home_listener_mode: its port, 0 when not configured */
	struct mtasts_own sts;			/* the policy homeportd serves */
	struct tls_identity chain;		/* [tls] certificate, read once; cert NULL if it cannot be */
	char chain_err[CONF_ERROR_MAX];
	/* Relay mode: the policy hosts (mta-sts.DOMAIN) the edges route here, at their addresses. */
	struct cli_dns_host policy_hosts[CLI_DNS_HOSTS_MAX];
	size_t npolicy_hosts;
};

/* One record line: owner padded, TTL, class, type, data. */
static void
cli_dns_rr(const char *owner, const char *type, const char *data, const char *comment)
{
	char name[2 * DNSNAME_MAX + 32];

	snprintf(name, sizeof(name), "%s.", owner);
	printf("%-*s %d IN %-5s %s%s%s\n", CLI_DNS_OWNER_WIDTH, name, CLI_DNS_TTL, type, data,
	       comment != NULL ? " ; " : "", comment != NULL ? comment : "");
}

/* A TXT record, its text cut into quoted strings of at most 255 bytes. */
static void
cli_dns_txt(const char *owner, const char *text, const char *comment)
{
	char data[2 * DKIMKEY_RECORD_MAX];
	size_t len = strlen(text), o = 0;

	for (size_t i = 0; i < len && o + CLI_DNS_TXT_CHUNK + 4 < sizeof(data); i += CLI_DNS_TXT_CHUNK) {
		size_t n = len - i < CLI_DNS_TXT_CHUNK ? len - i : CLI_DNS_TXT_CHUNK;
		o += (size_t)snprintf(data + o, sizeof(data) - o, "%s\"%.*s\"", i > 0 ? " " : "", (int)n,
				      text + i);
	}
	cli_dns_rr(owner, "TXT", data, comment);
}

void
cli_dns_homeport_txt(const char *host, const uint8_t pk[32])
{
	char owner[DNSNAME_MAX + 1], text[ENROLL_TXT_LEN + 1];

	if (enroll_txt_owner(host, owner, sizeof(owner)) < 0) {
		printf("; (no _homeport TXT for %s: the name is longer than %d bytes)\n", host, ENROLL_TXT_HOST_MAX);
		return;
	}
	enroll_txt_text(pk, text);
	cli_dns_txt(owner, text, "the home's WireGuard key, for edges with require_txt");
}

/*
 * The home's WireGuard public key into pk, when it has one. Returns 1,
 * 0 (no key: direct mode, never joined), or -1 (unreadable: err).
 */
static int
cli_dns_wg_public(const char *state_dir, uint8_t pk[32], char *err, size_t errcap)
{
	char path[HOME_PATH_MAX];
	uint8_t priv[WGKEY_LEN];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", state_dir, RELAY_KEY_FILE);
	if (access(path, F_OK) != 0)
		return 0;
	rc = wgkey_load(path, 0, priv, err, errcap) == 0 && wgkey_public(priv, pk) == 0 ? 1 : -1;
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

static void
cli_dns_dkim(void *arg, const char *owner, const char *text, const char *state)
{
	(void)arg;
	cli_dns_txt(owner, text, state);
}

/* TLSA 3 1 1 of cert: the SHA-256 of its public key. Returns 0, or -1. */
static int
cli_dns_tlsa(X509 *cert, char hexout[HEX_ENCODED_SIZE(32)])
{
	unsigned char *der = NULL, digest[32];
	unsigned int dlen = 0;
	int len, rc = -1;

	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) <= 0)
		goto out;
	if (EVP_Digest(der, (size_t)len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
		goto out;
	rc = hex_encode(digest, 32, hexout, HEX_ENCODED_SIZE(32)) < 0 ? -1 : 0;
out:
	OPENSSL_free(der);
	return rc;
}

/* Add a to list[*n] unless it is there or the list is full. */
static void
cli_dns_add_addr(struct addr *list, size_t *n, const struct addr *a)
{
	for (size_t k = 0; k < *n; k++) {
		if (addr_equal(&list[k], a))
			return;
	}
	if (*n < CLI_DNS_ADDRS_MAX)
		list[(*n)++] = *a;
}

/* The entry for name in hosts[0..*n), added with preference when new; NULL when full. */
static struct cli_dns_host *
cli_dns_host_entry(struct cli_dns_host *hosts, size_t *n, const char *name, int64_t preference)
{
	for (size_t k = 0; k < *n; k++) {
		if (dnsname_equal(hosts[k].name, strlen(hosts[k].name), name, strlen(name)))
			return &hosts[k];
	}
	if (*n == CLI_DNS_HOSTS_MAX)
		return NULL;
	hosts[*n].name = name;
	hosts[*n].preference = preference;
	return &hosts[(*n)++];
}

/*
 * Relay mode's mail hosts: every host name an edge routes here, at that
 * edge's public address; the policy hosts (mta-sts.DOMAIN) apart, which
 * are no MX.
 */
static void
cli_dns_relay_hosts(struct cli_dns *d)
{
	for (size_t i = 0; i < d->relay.nedges; i++) {
		const struct relay_edge *e = relay_state_edge(&d->relay, i);

		cli_dns_add_addr(d->addrs, &d->naddrs, &e->public_address);
		for (size_t h = 0; h < e->hostnames.n; h++) {
			const char *name = e->hostnames.v[h];
			struct cli_dns_host *host =
				mtasts_own_is_policy_host(name)
					? cli_dns_host_entry(d->policy_hosts, &d->npolicy_hosts, name, e->preference)
					: cli_dns_host_entry(d->hosts, &d->nhosts, name, e->preference);

			if (host == NULL)
				continue;
			if (e->preference < host->preference)
				host->preference = e->preference;
			cli_dns_add_addr(host->addrs, &host->naddrs, &e->public_address);
		}
	}
}

/* The listeners' ports; and, when collect, the smtp listeners' public addresses. */
static void
cli_dns_listeners(struct cli_dns *d, int collect)
{
	for (size_t i = 0; i < d->hc.nlisteners; i++) {
		const struct home_listener_conf *l = home_conf_listener(&d->hc, i);
		if (l->mode >= 0 && (size_t)l->mode < sizeof(d->ports) / sizeof(d->ports[0]) && l->address.n > 0)
			d->ports[l->mode] = addr_port(&l->address.v[0]);
		for (size_t a = 0; collect && l->mode == HOME_LISTENER_SMTP && a < l->address.n; a++) {
			struct addr ip = l->address.v[a];
			addr_set_port(&ip, 0);
			if (!socks5_forbidden_destination(&ip))
				cli_dns_add_addr(d->addrs, &d->naddrs, &ip);
		}
	}
}

/* Is name one of d's mail hosts? */
static int
cli_dns_has_host(const struct cli_dns *d, const char *name)
{
	for (size_t i = 0; i < d->nhosts; i++) {
		if (dnsname_equal(d->hosts[i].name, strlen(d->hosts[i].name), name, strlen(name)))
			return 1;
	}
	return 0;
}

/*
 * MTA-STS for domain: the _mta-sts TXT record naming the policy's id, and
 * the policy host mta-sts.DOMAIN where senders fetch it over HTTPS: the
 * edges' addresses that route it (relay mode), else the home's. Only when
 * homeportd publishes a policy, it can be fetched (an https listener, an
 * edge that routes the name), and the certificate is valid for the name;
 * else a comment says what is missing.
 */
static void
cli_dns_mtasts(const struct cli_dns *d, const char *domain)
{
	char host[DNSNAME_MAX + 1], owner[DNSNAME_MAX + 16], text[64], why[MTASTS_OWN_WHY_MAX], ip[ADDR_TEXT_MAX];
	const struct addr *addrs = d->addrs;
	const char *name = host;
	size_t naddrs = d->naddrs;

	if (d->sts.mode == MTASTS_MODE_NONE) {
		printf("; MTA-STS: not published: %s\n", d->sts.why);
		return;
	}
	if (mtasts_policy_host(domain, host, sizeof(host)) != 0) {
		printf("; MTA-STS: not published: the name %s%s is too long\n", MTASTS_HOST_PREFIX, domain);
		return;
	}
	if (d->ports[HOME_LISTENER_HTTPS] == 0) {
		printf("; MTA-STS: not published: no https listener serves the policy\n");
		return;
	}
	if (relay_state_active(&d->relay)) {
		const struct cli_dns_host *p = NULL;

		for (size_t i = 0; i < d->npolicy_hosts && p == NULL; i++) {
			if (dnsname_equal(d->policy_hosts[i].name, strlen(d->policy_hosts[i].name), host, strlen(host)))
				p = &d->policy_hosts[i];
		}
		if (p == NULL) {
			printf("; MTA-STS: not published: no edge routes %s (join with an invite that "
			       "lists it)\n", host);
			return;
		}
		addrs = p->addrs;
		naddrs = p->naddrs;
		name = p->name;
	}
	if (d->chain.cert == NULL) {
		printf("; MTA-STS: not published: %s\n", d->chain_err);
		return;
	}
	if (tlsident_verify_identity(&d->chain, d->hc.cert_path, d->hc.outbound->tls_ca_file, &name, 1, why,
				     sizeof(why)) != 0) {
		printf("; MTA-STS: not published: %s\n", why);
		return;
	}
	printf("; MTA-STS: the policy homeportd serves once it has (re)started or reloaded (SIGHUP) with\n"
	       "; this configuration and certificate: its log says event=mta_sts ... id=%s\n", d->sts.id);
	snprintf(owner, sizeof(owner), "_mta-sts.%s", domain);
	snprintf(text, sizeof(text), "v=STSv1; id=%s", d->sts.id);
	cli_dns_txt(owner, text, d->sts.mode == MTASTS_MODE_ENFORCE ? "MTA-STS: enforce" : "MTA-STS: testing");
	for (size_t i = 0; i < naddrs; i++)
		cli_dns_rr(host, addr_family(&addrs[i]) == AF_INET ? "A" : "AAAA",
			   addr_format(&addrs[i], ip, sizeof(ip)), i == 0 ? "the MTA-STS policy's host" : NULL);
}

static void
cli_dns_domain(const struct cli_dns *d, const char *domain)
{
	const char *host = d->hosts[0].name;
	char spf[512], data[DNSNAME_MAX + 32], owner[DNSNAME_MAX + 32], ip[ADDR_TEXT_MAX];
	size_t o;
	static const struct { int mode; const char *service; } srv[] = {
		{ HOME_LISTENER_SUBMISSIONS, "_submissions" }, { HOME_LISTENER_SUBMISSION, "_submission" },
		{ HOME_LISTENER_IMAPS, "_imaps" }, { HOME_LISTENER_IMAP, "_imap" },
	};

	printf("\n; ---- %s\n", domain);
	/* Clients are sent to the home's own name when it is a mail host, else to the first. */
	for (size_t i = 0; i < d->nhosts; i++) {
		if (dnsname_equal(d->hosts[i].name, strlen(d->hosts[i].name), d->hc.main->hostname,
				  strlen(d->hc.main->hostname)))
			host = d->hosts[i].name;
		snprintf(data, sizeof(data), "%lld %s.", (long long)d->hosts[i].preference, d->hosts[i].name);
		cli_dns_rr(domain, "MX", data, NULL);
	}
	o = (size_t)snprintf(spf, sizeof(spf), "v=spf1");
	for (size_t i = 0; i < d->naddrs && o < sizeof(spf); i++)
		o += (size_t)snprintf(spf + o, sizeof(spf) - o, " %s:%s",
				      addr_family(&d->addrs[i]) == AF_INET ? "ip4" : "ip6",
				      addr_format(&d->addrs[i], ip, sizeof(ip)));
	if (o < sizeof(spf))
		snprintf(spf + o, sizeof(spf) - o, " -all");
	cli_dns_txt(domain, spf, relay_state_active(&d->relay) ? "SPF: mail leaves through the edges"
								: "SPF: only the home sends for this domain");
	snprintf(owner, sizeof(owner), "_dmarc.%s", domain);
	cli_dns_txt(owner, "v=DMARC1; p=quarantine; adkim=s; aspf=s", NULL);
	if (cli_dkim_records(d->hc.main->state_dir, domain, cli_dns_dkim, NULL) != CLI_OK)
		printf("; (the DKIM keys could not be read: run as root)\n");
	for (size_t i = 0; i < sizeof(srv) / sizeof(srv[0]); i++) {
		int port = d->ports[srv[i].mode];
		snprintf(owner, sizeof(owner), "%s._tcp.%s", srv[i].service, domain);
		if (port > 0)
			snprintf(data, sizeof(data), "0 1 %d %s.", port, host);
		else
			snprintf(data, sizeof(data), "0 0 0 .");	/* RFC 6186 4: not offered */
		cli_dns_rr(owner, "SRV", data, NULL);
	}
	cli_dns_mtasts(d, domain);
}

static int
cli_dns_usage(FILE *to, int status)
{
	fprintf(to, "usage: homeport [-c FILE] dns [--address ADDR]...\n");
	return status;
}

int
cli_dns_main(const char *conf_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_dns *d = calloc(1, sizeof(*d));
	char cerr[CONF_ERROR_MAX], path[HOME_PATH_MAX], tlsa[HEX_ENCODED_SIZE(32)], ip[ADDR_TEXT_MAX];
	struct store_domain *domains = NULL;
	struct store *st = NULL;
	struct store_err err;
	size_t ndomains = 0;
	uint8_t wg_pk[32];
	int opt, rc = CLI_FAIL, loaded = 0, wg = 0, tlsa_ok;

	if (d == NULL)
		return cli_fail("dns", "out of memory");
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			rc = cli_dns_usage(stdout, CLI_OK);
			goto out;
		}
		if (opt != 'a' || d->naddrs == CLI_DNS_ADDRS_MAX ||
		    addr_parse(optarg, strlen(optarg), ADDR_PORT_NONE, &d->addrs[d->naddrs]) != 0 ||
		    socks5_forbidden_destination(&d->addrs[d->naddrs])) {
			if (opt == 'a')
				fprintf(stderr, "homeport: dns: '%s' is not a public IP address\n", optarg);
			rc = cli_dns_usage(stderr, CLI_USAGE);
			goto out;
		}
		d->naddrs++;
	}
	if (optind != argc) {
		rc = cli_dns_usage(stderr, CLI_USAGE);
		goto out;
	}
	if (sodium_init() < 0) {	/* the key files are read into sodium_malloc()ed memory */
		rc = cli_fail("dns", "libsodium failed to start");
		goto out;
	}
	if (home_conf_load(conf_path, &d->hc, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		goto out;
	}
	loaded = 1;
	if (relay_state_load(d->hc.main->state_dir, &d->relay, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		goto out;
	}
	if (relay_state_active(&d->relay) && d->naddrs > 0) {
		rc = cli_fail("dns", "relay mode: the addresses are the edges' (homeport relay status); "
			      "--address is for direct mode");
		goto out;
	}
	cli_dns_listeners(d, d->naddrs == 0 && !relay_state_active(&d->relay));
	if (relay_state_active(&d->relay)) {
		cli_dns_relay_hosts(d);
		if (d->nhosts == 0) {
			rc = cli_fail("dns", "relay mode: no edge routes a mail host to this home "
				      "(homeport relay status)");
			goto out;
		}
	} else {
		d->hosts[0].name = d->hc.main->hostname;
		d->hosts[0].preference = RELAY_PREFERENCE_STEP;
		memcpy(d->hosts[0].addrs, d->addrs, sizeof(d->addrs));
		d->hosts[0].naddrs = d->naddrs;
		d->nhosts = 1;
	}
	if (d->naddrs == 0) {
		rc = cli_fail("dns", "no public address: the smtp listeners are bound to none; give "
			      "--address ADDR (the address mail reaches this home at)");
		goto out;
	}
	if (home_store_path(d->hc.main->state_dir, path, sizeof(path)) != 0 ||
	    (st = store_open(path, 0, &err)) == NULL) {
		rc = cli_fail("dns", "cannot open the store in %s", d->hc.main->state_dir);
		goto out;
	}
	if (store_domain_list(st, &domains, &ndomains, &err) != 0) {
		rc = cli_fail("dns", "%s", err.msg);
		goto out;
	}
	if (tlsident_load_chain(d->hc.cert_path, &d->chain, d->chain_err, sizeof(d->chain_err)) != 0)
		tls_identity_clear(&d->chain);
	mtasts_own_load(&d->hc, &d->relay, d->chain.cert != NULL ? &d->chain : NULL, &d->sts);
	tlsa_ok = d->chain.cert != NULL && cli_dns_tlsa(d->chain.cert, tlsa) == 0;
	wg = cli_dns_wg_public(d->hc.main->state_dir, wg_pk, cerr, sizeof(cerr));
	printf("; homeport dns: what to publish for %s (%s)\n", d->hc.main->hostname,
	       relay_state_active(&d->relay) ? "relay mode" : "direct mode");
	for (size_t i = 0; i < ndomains; i++)
		cli_dns_domain(d, domains[i].name);
	for (size_t h = 0; h < d->nhosts; h++) {
		const struct cli_dns_host *host = &d->hosts[h];

		printf("\n; ---- the mail host %s\n", host->name);
		for (size_t i = 0; i < host->naddrs; i++)
			cli_dns_rr(host->name, addr_family(&host->addrs[i]) == AF_INET ? "A" : "AAAA",
				   addr_format(&host->addrs[i], ip, sizeof(ip)), NULL);
		if (tlsa_ok) {
			char owner[DNSNAME_MAX + 16], data[96];
			snprintf(owner, sizeof(owner), "_25._tcp.%s", host->name);
			snprintf(data, sizeof(data), "3 1 1 %s", tlsa);
			cli_dns_rr(owner, "TLSA", data, "DANE-EE: keep the key when the certificate is renewed");
		} else {
			printf("; (no TLSA: cannot read the certificate %s)\n", d->hc.cert_path);
		}
		if (wg > 0)
			cli_dns_homeport_txt(host->name, wg_pk);
	}
	/* Relay mode: the MTA-STS policy hosts the edges route here need theirs as well. */
	for (size_t h = 0; wg > 0 && h < d->npolicy_hosts; h++) {
		printf("\n; ---- the MTA-STS policy host %s\n", d->policy_hosts[h].name);
		cli_dns_homeport_txt(d->policy_hosts[h].name, wg_pk);
	}
	/* Relay mode: the home's own name too, the one homeport relay join asks for by default. */
	if (wg > 0 && !cli_dns_has_host(d, d->hc.main->hostname)) {
		printf("\n; ---- the home's host name %s\n", d->hc.main->hostname);
		cli_dns_homeport_txt(d->hc.main->hostname, wg_pk);
	}
	if (wg < 0)
		printf("\n; (no _homeport TXT: %s; run as root)\n", cerr);
	rc = CLI_OK;
out:
	free(domains);
	store_close(&st);
	tls_identity_clear(&d->chain);
	relay_state_free(&d->relay);
	if (loaded)
		home_conf_free(&d->hc);
	free(d);
	return rc;
}
