/*
 * edge_init: setting up an edge and inviting homes (docs/edge.md).
 *
 *   homeport-edge [-c FILE] init --name NAME --endpoint ADDR:PORT --tunnel CIDR[,CIDR6]
 *                               [--control ADDR:PORT] [--state-dir DIR]
 *   homeport-edge [-c FILE] invite [--hostname HOST]... [--expires DURATION]
 *
 * init writes the configuration (never over an existing one), makes the
 * state directory with the edge's WireGuard key (keys/wg.key) and its
 * enrollment key (keys/enroll.key: the X25519 key requests are sealed
 * to), and creates tenants.db. invite keeps a one-time invite in
 * tenants.db and prints its token for the home's owner.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "dnsname.h"
#include "edge.h"
#include "enroll_wire.h"
#include "keyfile.h"
#include "socks5.h"
#include "wgkey.h"

#define EDGE_INIT_CONF_MAX 4096
#define EDGE_INIT_HOSTS_MAX 16		/* --hostname given to one invite */
#define EDGE_CONTROL_PORT_DEFAULT 51821	/* TCP, beside WireGuard's UDP 51820 */
#define EDGE_EGRESS_PORT 1080
#define EDGE_INIT_PATH_MAX 4096

static int
edge_init_fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
edge_init_fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "homeport-edge: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int
edge_init_usage(FILE *to, int status)
{
	fprintf(to, "usage: homeport-edge [-c FILE] init --name NAME --endpoint ADDR:PORT "
		    "--tunnel CIDR[,CIDR6] [--control ADDR:PORT] [--state-dir DIR]\n"
		    "       homeport-edge [-c FILE] invite [--hostname HOST]... [--expires DURATION]\n");
	return status;
}

/* dir/keys/leaf into out. Returns 0, or -1 if too long. */
static int
edge_key_path(char *out, size_t cap, const char *state_dir, const char *leaf)
{
	int n = snprintf(out, cap, "%s/keys/%s", state_dir, leaf);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- init ------------------------------------------------------------------ */

int
edge_init_main(const char *conf_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "tunnel", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'C' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *endpoint = NULL, *tunnel = NULL, *control = NULL;
	const char *state = EDGE_STATE_DIR_DEFAULT;
	char conf[EDGE_INIT_CONF_MAX], path[EDGE_INIT_PATH_MAX], err[CONF_ERROR_MAX];
	char ctl[ADDR_TEXT_MAX + 8], egress[ADDR_TEXT_MAX], ip[ADDR_TEXT_MAX], wgtext[WGKEY_TEXT_SIZE];
	uint8_t wg[WGKEY_LEN], wgpub[WGKEY_LEN], box_pk[crypto_box_PUBLICKEYBYTES];
	uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	char sk_text[B64_ENCODED_SIZE(crypto_box_SECRETKEYBYTES)];
	struct edge_conf ec;
	struct tenants *t = NULL;
	struct addr ep, egress_addr;
	struct stat sb;
	uint16_t ctl_port;
	int opt, n, rc = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': name = optarg; break;
		case 'e': endpoint = optarg; break;
		case 't': tunnel = optarg; break;
		case 'C': control = optarg; break;
		case 's': state = optarg; break;
		case 'h': return edge_init_usage(stdout, 0);
		default: return edge_init_usage(stderr, 2);
		}
	}
	if (optind != argc || name == NULL || endpoint == NULL || tunnel == NULL)
		return edge_init_usage(stderr, 2);
	if (addr_parse(endpoint, strlen(endpoint), ADDR_PORT_REQUIRED, &ep) != 0 ||
	    socks5_forbidden_destination(&ep))
		return edge_init_fail("init", "--endpoint %s: expected ADDR:PORT (the public "
				      "address homes reach WireGuard at, like 203.0.113.1:51820)", endpoint);
	if (control == NULL) {
		struct addr c = ep;
		addr_set_port(&c, EDGE_CONTROL_PORT_DEFAULT);
		addr_format(&c, ctl, sizeof(ctl));
		ctl_port = EDGE_CONTROL_PORT_DEFAULT;
	} else {
		struct addr c;
		/* It goes into every token: a public address homes can reach, not 0.0.0.0. */
		if (addr_parse(control, strlen(control), ADDR_PORT_REQUIRED, &c) != 0 ||
		    socks5_forbidden_destination(&c))
			return edge_init_fail("init", "--control %s: expected the public ADDR:PORT homes "
					      "reach the enrollment port at", control);
		snprintf(ctl, sizeof(ctl), "%s", control);
		ctl_port = addr_port(&c);
	}
	if (stat(conf_path, &sb) == 0)
		return edge_init_fail("init", "%s exists: init never replaces a configuration", conf_path);
	/* The edge's tunnel address: the first host of the IPv4 pool, checked by the loader below. */
	{
		struct cidr pool;
		const char *comma = strchr(tunnel, ',');
		size_t len = comma != NULL ? (size_t)(comma - tunnel) : strlen(tunnel);
		if (cidr_parse(tunnel, len, &pool) != 0 || pool.family != AF_INET ||
		    tenants_pool_host(&pool, 1, &egress_addr) != 0)
			return edge_init_fail("init", "--tunnel %s: expected an IPv4 prefix first, like "
					      "192.0.2.0/24,2001:db8:77::/64", tunnel);
		addr_format(&egress_addr, ip, sizeof(ip));
		snprintf(egress, sizeof(egress), "%s", ip);
	}
	addr_format(&ep, ip, sizeof(ip));
	{
		struct addr pub = ep;
		addr_set_port(&pub, 0);
		addr_format(&pub, ip, sizeof(ip));
	}
	/* Build the listener lines with the address in its right form (brackets for IPv6). */
	{
		char a[ADDR_TEXT_MAX + 2];
		snprintf(a, sizeof(a), addr_family(&ep) == AF_INET6 ? "[%s]" : "%s", ip);
		n = snprintf(conf, sizeof(conf),
			     "# homeport-edge configuration, written by homeport-edge init (docs/edge.md).\n"
			     "[edge]\nname = %s\nstate_dir = %s\n\n"
			     "[enroll]\ncontrol = %s\nendpoint = %s\ntunnel = %s\n\n"
			     "[egress]\naddress = %s:%d\n\n"
			     "[listener smtp]\naddress = %s:25\nmode = starttls\n\n"
			     "[listener submission]\naddress = %s:587\nmode = starttls\n\n"
			     "[listener submissions]\naddress = %s:465\nmode = sni\n\n"
			     "[listener imaps]\naddress = %s:993\nmode = sni\n\n"
			     "[listener https]\naddress = %s:443\nmode = sni\n\n"
			     "[listener http]\naddress = %s:80\nmode = http\n",
			     name, state, ctl, endpoint, tunnel, egress, EDGE_EGRESS_PORT, a, a, a, a, a, a);
	}
	if (n < 0 || (size_t)n >= sizeof(conf))
		return edge_init_fail("init", "arguments too long");
	/* Check what would be written before anything is made. */
	if (edge_conf_load_buffer(conf_path, conf, (size_t)n, &ec, err, sizeof(err)) != 0)
		return edge_init_fail("init", "%s", err);
	edge_conf_free(&ec);
	if (mkdir(state, 0700) != 0 && errno != EEXIST)
		return edge_init_fail("init", "cannot make %s: %s", state, strerror(errno));
	if (edge_key_path(path, sizeof(path), state, "") != 0 || (mkdir(path, 0700) != 0 && errno != EEXIST))
		return edge_init_fail("init", "cannot make %s/keys: %s", state, strerror(errno));
	wgkey_generate(wg);
	wgkey_format(wg, wgtext);
	if (wgkey_public(wg, wgpub) != 0 || edge_key_path(path, sizeof(path), state, "wg.key") != 0 ||
	    keyfile_create(path, wgtext, strlen(wgtext), 0600, err, sizeof(err)) != 0) {
		rc = edge_init_fail("init", "%s", err);
		goto out;
	}
	crypto_box_keypair(box_pk, box_sk);
	if (b64_encode(box_sk, sizeof(box_sk), sk_text, sizeof(sk_text)) < 0 ||
	    edge_key_path(path, sizeof(path), state, "enroll.key") != 0 ||
	    keyfile_create(path, sk_text, strlen(sk_text), 0600, err, sizeof(err)) != 0) {
		rc = edge_init_fail("init", "%s", err);
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", state, EDGE_TENANTS_FILE);
	if (n < 0 || (size_t)n >= sizeof(path) || (t = tenants_open(path, err, sizeof(err))) == NULL) {
		rc = edge_init_fail("init", "%s", err);
		goto out;
	}
	if (keyfile_create(conf_path, conf, strlen(conf), 0644, err, sizeof(err)) != 0) {
		rc = edge_init_fail("init", "%s", err);
		goto out;
	}
	wgkey_format(wgpub, wgtext);
	printf("homeport-edge is set up as %s.\n\n  configuration  %s\n  state          %s\n"
	       "  WireGuard key  %s (public)\n  enrollment     %s (TCP)\n\nNext:\n"
	       "  - open UDP %u, and TCP %u, 25, 465, 587, 993, 443 and 80, in the firewall\n"
	       "  - invite a home:  homeport-edge -c %s invite --hostname mail.example.org\n",
	       name, conf_path, state, wgtext, ctl, (unsigned)addr_port(&ep), (unsigned)ctl_port, conf_path);
	rc = 0;
out:
	sodium_memzero(wg, sizeof(wg));
	sodium_memzero(box_sk, sizeof(box_sk));
	sodium_memzero(sk_text, sizeof(sk_text));
	tenants_close(&t);
	return rc;
}

/* ---- invite ---------------------------------------------------------------- */

int
edge_key_read(const char *state_dir, const char *leaf, uint8_t *text, size_t cap, size_t *len_r,
	      char *err, size_t errcap)
{
	char path[EDGE_INIT_PATH_MAX];

	if (edge_key_path(path, sizeof(path), state_dir, leaf) != 0) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	if (keyfile_read(path, 1, text, cap, len_r, err, errcap) != 0)
		return -1;
	while (*len_r > 0 && (text[*len_r - 1] == '\n' || text[*len_r - 1] == '\r'))
		(*len_r)--;
	return 0;
}

int
edge_enroll_key(const char *state_dir, uint8_t pk[EDGE_ENROLL_KEY_LEN], uint8_t sk[EDGE_ENROLL_KEY_LEN],
		char *err, size_t errcap)
{
	uint8_t text[B64_ENCODED_SIZE(crypto_box_SECRETKEYBYTES) + 8];
	size_t len = 0, klen = 0;
	int rc = -1;

	if (edge_key_read(state_dir, "enroll.key", text, sizeof(text), &len, err, errcap) != 0)
		return -1;
	if (b64_decode((const char *)text, len, sk, crypto_box_SECRETKEYBYTES, &klen) != 0 ||
	    klen != crypto_box_SECRETKEYBYTES || crypto_scalarmult_base(pk, sk) != 0)
		snprintf(err, errcap, "%s/keys/enroll.key: not an enrollment key", state_dir);
	else
		rc = 0;
	sodium_memzero(text, sizeof(text));
	return rc;
}

int
edge_invite_main(const char *conf_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hostname", required_argument, NULL, 'H' },
		{ "expires", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hosts[EDGE_INIT_HOSTS_MAX];
	char err[CONF_ERROR_MAX], path[EDGE_INIT_PATH_MAX], token[ENROLL_TOKEN_TEXT_MAX + 1];
	uint8_t sk[crypto_box_SECRETKEYBYTES];
	struct tenants_invite inv = { 0 };
	struct enroll_token tok = { 0 };
	struct edge_conf ec;
	struct tenants *t = NULL;
	size_t nhosts = 0, used = 0;
	int64_t ttl = -1;
	int opt, n, rc = 1, loaded = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'H') {
			if (nhosts == EDGE_INIT_HOSTS_MAX || dnsname_check(optarg, strlen(optarg), 0) != 0)
				return edge_init_fail("invite", "--hostname %s: not a host name (at most %d)",
						      optarg, EDGE_INIT_HOSTS_MAX);
			hosts[nhosts++] = optarg;
		} else if (opt == 'x') {
			if (conf_parse_duration(optarg, strlen(optarg), 60 * 1000, EDGE_INVITE_TTL_MAX, &ttl) != 0)
				return edge_init_fail("invite", "--expires %s: a duration from 1m to 30d, like 24h",
						      optarg);
		} else if (opt == 'h') {
			return edge_init_usage(stdout, 0);
		} else {
			return edge_init_usage(stderr, 2);
		}
	}
	if (optind != argc)
		return edge_init_usage(stderr, 2);
	if (sodium_init() < 0)
		return edge_init_fail("invite", "libsodium failed to start");
	if (edge_conf_load(conf_path, &ec, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport-edge: %s\n", err);
		return 1;
	}
	loaded = 1;
	if (ec.enroll == NULL || ec.enroll->control.n == 0) {
		rc = edge_init_fail("invite", "%s has no [enroll] control address: homes could not "
				    "reach this edge", conf_path);
		goto out;
	}
	if (edge_enroll_key(ec.main->state_dir, tok.box_pk, sk, err, sizeof(err)) != 0) {
		rc = edge_init_fail("invite", "%s", err);
		goto out;
	}
	tok.control = ec.enroll->control.v[0];
	randombytes_buf(inv.id, sizeof(inv.id));
	randombytes_buf(inv.secret, sizeof(inv.secret));
	memcpy(tok.invite_id, inv.id, sizeof(inv.id));
	memcpy(tok.secret, inv.secret, sizeof(inv.secret));
	inv.created = (int64_t)time(NULL);
	inv.expires = inv.created + (ttl >= 0 ? ttl : ec.enroll->invite_ttl) / 1000;
	for (size_t i = 0; i < nhosts; i++) {
		n = snprintf(inv.hostnames + used, sizeof(inv.hostnames) - used, "%s%s", i > 0 ? "," : "",
			     hosts[i]);
		if (n < 0 || (size_t)n >= sizeof(inv.hostnames) - used) {
			rc = edge_init_fail("invite", "too many host names");
			goto out;
		}
		used += (size_t)n;
	}
	if (enroll_token_encode(&tok, token, sizeof(token)) < 0) {
		rc = edge_init_fail("invite", "the control address cannot go into a token");
		goto out;
	}
	n = snprintf(path, sizeof(path), "%s/%s", ec.main->state_dir, EDGE_TENANTS_FILE);
	if (n < 0 || (size_t)n >= sizeof(path) || (t = tenants_open(path, err, sizeof(err))) == NULL ||
	    tenants_invite_add(t, &inv, err, sizeof(err)) != 0) {
		rc = edge_init_fail("invite", "%s", err);
		goto out;
	}
	printf("%s\n", token);
	fprintf(stderr, "One home may join with this token until it expires (%lld hours); "
		"on the home: homeport relay join TOKEN\n", (long long)((inv.expires - inv.created) / 3600));
	rc = 0;
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(&inv, sizeof(inv));
	sodium_memzero(&tok, sizeof(tok));
	sodium_memzero(token, sizeof(token));
	tenants_close(&t);
	if (loaded)
		edge_conf_free(&ec);
	return rc;
}
