#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "dnsname.h"
#include "edge.h"
#include "log.h"
#include "num.h"

#define EDGE_CONNS_MAX 1000000
#define EDGE_TIMEOUT_MAX (24LL * 3600 * 1000)
#define EDGE_HANDSHAKE_TIMEOUT_MAX (10LL * 60 * 1000)

static const char *const edge_log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const edge_modes[] = { "sni", "starttls", "passthrough", "http", NULL };
static const char *const edge_preambles[] = { "smtp", "imap", NULL };
static const char *const edge_proxy_versions[] = { "v2", "v1", "none", NULL };

#define MAIN_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct edge_main_conf, f), __VA_ARGS__ }
static const struct conf_key edge_main_keys[] = {
	MAIN_KEY("name", CONF_STRING, name, .flags = CONF_REQUIRED),
	MAIN_KEY("log_level", CONF_ENUM, log_level, .words = edge_log_levels),
	MAIN_KEY("user", CONF_STRING, user),
	MAIN_KEY("state_dir", CONF_STRING, state_dir),
	MAIN_KEY("metrics", CONF_ADDR_LIST, metrics, .flags = CONF_PORT_REQUIRED),
	MAIN_KEY("max_connections", CONF_INT, max_connections, .min = 1, .max = EDGE_CONNS_MAX),
	MAIN_KEY("max_per_source", CONF_INT, max_per_source, .min = 1, .max = EDGE_CONNS_MAX),
	MAIN_KEY("rate_per_source", CONF_INT, rate_per_source, .min = 0, .max = EDGE_CONNS_MAX),
	{ .name = NULL },
};

#define LISTENER_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct edge_listener_conf, f), __VA_ARGS__ }
static const struct conf_key edge_listener_keys[] = {
	LISTENER_KEY("address", CONF_ADDR_LIST, address, .flags = CONF_REQUIRED | CONF_PORT_REQUIRED),
	LISTENER_KEY("mode", CONF_ENUM, mode, .words = edge_modes, .flags = CONF_REQUIRED),
	LISTENER_KEY("preamble", CONF_ENUM, preamble, .words = edge_preambles),
	LISTENER_KEY("default_tenant", CONF_STRING, default_tenant),
	LISTENER_KEY("tenant_port", CONF_INT, tenant_port, .min = 1, .max = 65535),
	LISTENER_KEY("handshake_timeout", CONF_DURATION, handshake_timeout, .min = 1000, .max = EDGE_HANDSHAKE_TIMEOUT_MAX),
	LISTENER_KEY("idle_timeout", CONF_DURATION, idle_timeout, .min = 1000, .max = EDGE_TIMEOUT_MAX),
	{ .name = NULL },
};

#define TENANT_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct edge_tenant_conf, f), __VA_ARGS__ }
static const struct conf_key edge_tenant_keys[] = {
	TENANT_KEY("hostnames", CONF_STRING_LIST, hostnames),
	TENANT_KEY("tunnel_address", CONF_ADDR_LIST, tunnel_address, .flags = CONF_REQUIRED),
	TENANT_KEY("public_addresses", CONF_ADDR_LIST, public_addresses),
	TENANT_KEY("proxy", CONF_ENUM, proxy, .words = edge_proxy_versions),
	TENANT_KEY("max_connections", CONF_INT, max_connections, .min = 1, .max = EDGE_CONNS_MAX),
	TENANT_KEY("egress_source", CONF_ADDR_LIST, egress_source),
	{ .name = NULL },
};

#define EGRESS_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct edge_egress_conf, f), __VA_ARGS__ }
static const struct conf_key edge_egress_keys[] = {
	EGRESS_KEY("address", CONF_ADDR_LIST, address, .flags = CONF_PORT_REQUIRED),
	EGRESS_KEY("ports", CONF_STRING_LIST, ports),
	EGRESS_KEY("deny", CONF_CIDR_LIST, deny),
	EGRESS_KEY("max_per_tenant", CONF_INT, max_per_tenant, .min = 1, .max = EDGE_CONNS_MAX),
	EGRESS_KEY("rate_per_tenant", CONF_INT, rate_per_tenant, .min = 1, .max = EDGE_CONNS_MAX),
	EGRESS_KEY("connect_timeout", CONF_DURATION, connect_timeout, .min = 1000, .max = EDGE_HANDSHAKE_TIMEOUT_MAX),
	EGRESS_KEY("idle_timeout", CONF_DURATION, idle_timeout, .min = 1000, .max = EDGE_TIMEOUT_MAX),
	{ .name = NULL },
};

static void
edge_main_defaults(void *block)
{
	struct edge_main_conf *m = block;

	m->log_level = LOG_LEVEL_INFO;
	m->user = "homeport-edge";
	m->state_dir = EDGE_STATE_DIR_DEFAULT;
	m->max_connections = 20000;
	m->max_per_source = 100;
	m->rate_per_source = 300;
}

static void
edge_listener_defaults(void *block)
{
	struct edge_listener_conf *l = block;

	l->preamble = EDGE_PREAMBLE_SMTP;
	l->handshake_timeout = 30 * 1000;
	l->idle_timeout = 10 * 60 * 1000;
}

static void
edge_tenant_defaults(void *block)
{
	struct edge_tenant_conf *t = block;

	t->proxy = EDGE_PROXY_V2;
	t->max_connections = EDGE_TENANT_CONNS_DEFAULT;
}

static void
edge_egress_defaults(void *block)
{
	struct edge_egress_conf *g = block;

	g->max_per_tenant = 20;
	g->rate_per_tenant = 120;
	g->connect_timeout = 30 * 1000;
	g->idle_timeout = 10 * 60 * 1000;
}

#define ENROLL_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct edge_enroll_conf, f), __VA_ARGS__ }
static const struct conf_key edge_enroll_keys[] = {
	ENROLL_KEY("control", CONF_ADDR_LIST, control, .flags = CONF_PORT_REQUIRED),
	ENROLL_KEY("endpoint", CONF_ADDR, endpoint, .flags = CONF_PORT_REQUIRED),
	ENROLL_KEY("tunnel", CONF_CIDR_LIST, tunnel),
	ENROLL_KEY("invite_ttl", CONF_DURATION, invite_ttl, .min = 60 * 1000, .max = EDGE_INVITE_TTL_MAX),
	ENROLL_KEY("require_txt", CONF_BOOL, require_txt),
	ENROLL_KEY("dns_forward", CONF_STRING, dns_forward),
	ENROLL_KEY("dns_trust_anchor", CONF_STRING, dns_trust_anchor),
	ENROLL_KEY("interface", CONF_STRING, interface),
	{ .name = NULL },
};

static void
edge_enroll_defaults(void *block)
{
	struct edge_enroll_conf *c = block;

	c->invite_ttl = 24LL * 3600 * 1000;
	c->interface = EDGE_IFNAME_DEFAULT;
}

static const struct conf_section edge_sections[] = {
	{ .name = "edge", .flags = CONF_SECTION_REQUIRED, .keys = edge_main_keys, .block_size = sizeof(struct edge_main_conf), .init = edge_main_defaults, .label_offset = 0 },
	{ .name = "listener", .flags = CONF_SECTION_LABELLED, .keys = edge_listener_keys, .block_size = sizeof(struct edge_listener_conf), .init = edge_listener_defaults, .label_offset = offsetof(struct edge_listener_conf, name) },
	{ .name = "enroll", .keys = edge_enroll_keys, .block_size = sizeof(struct edge_enroll_conf), .init = edge_enroll_defaults, .label_offset = 0 },
	{ .name = "egress", .keys = edge_egress_keys, .block_size = sizeof(struct edge_egress_conf), .init = edge_egress_defaults, .label_offset = 0 },
	{ .name = "tenant", .flags = CONF_SECTION_LABELLED, .keys = edge_tenant_keys, .block_size = sizeof(struct edge_tenant_conf), .init = edge_tenant_defaults, .label_offset = offsetof(struct edge_tenant_conf, name) },
	{ .name = NULL },
};

struct edge_listener_conf *
edge_conf_listener(const struct edge_conf *ec, size_t i)
{
	return conf_block(ec->conf, "listener", i);
}

struct edge_tenant_conf *
edge_conf_tenant(const struct edge_conf *ec, size_t i)
{
	return conf_block(ec->conf, "tenant", i);
}

struct edge_tenant_conf *
edge_conf_find_tenant(const struct edge_conf *ec, const char *name)
{
	for (size_t i = 0; i < ec->ntenants; i++) {
		struct edge_tenant_conf *t = edge_conf_tenant(ec, i);
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

/* Host names valid, and each claimed by one tenant only. */
static int
edge_conf_check_tenant(const struct edge_conf *ec, size_t i, char *err, size_t errcap)
{
	struct edge_tenant_conf *t = edge_conf_tenant(ec, i);

	for (size_t h = 0; h < t->hostnames.n; h++) {
		const char *name = t->hostnames.v[h];
		if (dnsname_check(name, strlen(name), DNSNAME_WILDCARD) != 0)
			return conf_fail(ec->conf, t, "hostnames", err, errcap,
					 "'%s' is not a host name or *.suffix", name);
		for (size_t j = 0; j <= i; j++) {
			struct edge_tenant_conf *o = edge_conf_tenant(ec, j);
			for (size_t k = 0; k < (j == i ? h : o->hostnames.n); k++) {
				if (!dnsname_equal(name, strlen(name), o->hostnames.v[k],
						   strlen(o->hostnames.v[k])))
					continue;
				if (o == t)
					return conf_fail(ec->conf, t, "hostnames", err, errcap,
							 "'%s' listed twice", name);
				return conf_fail(ec->conf, t, "hostnames", err, errcap,
						 "'%s' is also claimed by [tenant %s]", name, o->name);
			}
		}
	}
	return 0;
}

/* Each tunnel address and each public address belongs to one tenant only. */
static int
edge_conf_check_tenant_addresses(const struct edge_conf *ec, size_t i, char *err, size_t errcap)
{
	struct edge_tenant_conf *t = edge_conf_tenant(ec, i);
	const struct {
		const char *key;
		size_t offset;
	} lists[] = {
		{ "tunnel_address", offsetof(struct edge_tenant_conf, tunnel_address) },
		{ "public_addresses", offsetof(struct edge_tenant_conf, public_addresses) },
	};
	char text[ADDR_TEXT_MAX];

	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		const struct conf_addr_list *mine =
			(const void *)((const char *)t + lists[k].offset);
		for (size_t a = 0; a < mine->n; a++) {
			for (size_t j = 0; j <= i; j++) {
				const struct edge_tenant_conf *o = edge_conf_tenant(ec, j);
				const struct conf_addr_list *theirs =
					(const void *)((const char *)o + lists[k].offset);
				for (size_t b = 0; b < (j == i ? a : theirs->n); b++) {
					if (!addr_equal(&mine->v[a], &theirs->v[b]))
						continue;
					addr_format(&mine->v[a], text, sizeof(text));
					if (o == t)
						return conf_fail(ec->conf, t, lists[k].key, err, errcap,
								 "%s listed twice", text);
					return conf_fail(ec->conf, t, lists[k].key, err, errcap,
							 "%s also belongs to [tenant %s]", text, o->name);
				}
			}
		}
	}
	return 0;
}

/* No address listened on twice, in one listener or two: bind() would fail. */
static int
edge_conf_check_listener(const struct edge_conf *ec, size_t i, char *err, size_t errcap)
{
	struct edge_listener_conf *l = edge_conf_listener(ec, i);
	char text[ADDR_TEXT_MAX];

	for (size_t a = 0; a < l->address.n; a++) {
		for (size_t b = 0; b < a; b++) {
			if (addr_equal(&l->address.v[a], &l->address.v[b]))
				return conf_fail(ec->conf, l, "address", err, errcap, "%s listed twice",
						 addr_format(&l->address.v[a], text, sizeof(text)));
		}
		for (size_t j = 0; j < i; j++) {
			struct edge_listener_conf *o = edge_conf_listener(ec, j);
			for (size_t b = 0; b < o->address.n; b++) {
				if (addr_equal(&l->address.v[a], &o->address.v[b]))
					return conf_fail(ec->conf, l, "address", err, errcap,
							 "also used by [listener %s]", o->name);
			}
		}
	}
	return 0;
}

/* Ports as numbers, 25 when none are given. */
static int
edge_conf_check_egress(const struct edge_conf *ec, char *err, size_t errcap)
{
	struct edge_egress_conf *g = ec->egress;

	if (g == NULL)
		return 0;
	if (g->ports.n > EGRESS_PORTS_MAX)
		return conf_fail(ec->conf, g, "ports", err, errcap, "at most %d ports",
				 EGRESS_PORTS_MAX);
	for (size_t i = 0; i < g->ports.n; i++) {
		int64_t port;

		if (num_parse_i64(g->ports.v[i], strlen(g->ports.v[i]), 1, 65535, &port) != 0)
			return conf_fail(ec->conf, g, "ports", err, errcap,
					 "'%s' is not a port (1..65535)", g->ports.v[i]);
		g->port[g->nports++] = (uint16_t)port;
	}
	if (g->nports == 0)
		g->port[g->nports++] = 25;
	return 0;
}

/*
 * An interface name the kernel and wireguard-go (its socket file's name)
 * both take: 1..EDGE_IFNAME_MAX of letters, digits, '.', '-', '_', not "."
 * or "..". Returns 0 or -1.
 */
static int
edge_conf_ifname_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > EDGE_IFNAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '_'))
			return -1;
	}
	return 0;
}

/* [enroll]: one IPv4 pool and at most one IPv6 pool, each with room for the edge and a home. */
static int
edge_conf_check_enroll(const struct edge_conf *ec, char *err, size_t errcap)
{
	const struct edge_enroll_conf *c = ec->enroll;
	char ferr[128];
	int v4 = 0, v6 = 0;

	if (c->dns_forward != NULL && dns_forward_check(c->dns_forward, ferr, sizeof(ferr)) != 0)
		return conf_fail(ec->conf, c, "dns_forward", err, errcap,
				 "not an address or ADDR@PORT (like 198.51.100.53 or 198.51.100.53@5353)");
	if (c->dns_trust_anchor != NULL && c->dns_trust_anchor[0] != '/')
		return conf_fail(ec->conf, c, "dns_trust_anchor", err, errcap, "must be an absolute path");
	if (edge_conf_ifname_check(c->interface) != 0)
		return conf_fail(ec->conf, c, "interface", err, errcap,
				 "'%s' is not an interface name (1 to %d letters, digits, '.', '-', '_')",
				 c->interface, EDGE_IFNAME_MAX);

	for (size_t i = 0; i < c->tunnel.n; i++) {
		const struct cidr *p = &c->tunnel.v[i];
		int is4 = p->family == AF_INET;
		if ((is4 ? v4++ : v6++) > 0)
			return conf_fail(ec->conf, c, "tunnel", err, errcap,
					 "one IPv4 and at most one IPv6 prefix");
		if (p->prefix > (is4 ? 30u : 126u))
			return conf_fail(ec->conf, c, "tunnel", err, errcap,
					 "a prefix too small for the edge and a home (at most /30 or /126)");
	}
	if (v4 == 0)
		return conf_fail(ec->conf, c, "tunnel", err, errcap,
				 "needs an IPv4 prefix (like 192.0.2.0/24, 2001:db8:77::/64)");
	if (c->endpoint.len == 0)
		return conf_fail(ec->conf, c, "endpoint", err, errcap,
				 "needs the WireGuard endpoint homes connect to (like 203.0.113.1:51820)");
	return 0;
}

static int
edge_conf_check(const struct edge_conf *ec, char *err, size_t errcap)
{
	const struct edge_main_conf *m = ec->main;

	if (edge_conf_check_egress(ec, err, errcap) != 0)
		return -1;

	if (dnsname_check(m->name, strlen(m->name), 0) != 0)
		return conf_fail(ec->conf, m, "name", err, errcap,
				 "not a host name (like relay.example.net)");
	if (m->state_dir[0] != '/')
		return conf_fail(ec->conf, m, "state_dir", err, errcap, "must be an absolute path");
	if (ec->enroll != NULL && edge_conf_check_enroll(ec, err, errcap) != 0)
		return -1;
	if (m->max_per_source > m->max_connections)
		return conf_fail(ec->conf, m, "max_per_source", err, errcap,
				 "%lld is larger than max_connections (%lld)",
				 (long long)m->max_per_source, (long long)m->max_connections);
	for (size_t i = 0; i < ec->ntenants; i++) {
		if (edge_conf_check_tenant(ec, i, err, errcap) != 0 ||
		    edge_conf_check_tenant_addresses(ec, i, err, errcap) != 0)
			return -1;
	}
	for (size_t i = 0; i < ec->nlisteners; i++) {
		struct edge_listener_conf *l = edge_conf_listener(ec, i);
		if (edge_conf_check_listener(ec, i, err, errcap) != 0)
			return -1;
		/* With [enroll], a home that enrolled may be the default: named as tenants.db names it. */
		if (l->default_tenant != NULL && edge_conf_find_tenant(ec, l->default_tenant) == NULL &&
		    (ec->enroll == NULL || tenants_name_check(l->default_tenant) != 0))
			return conf_fail(ec->conf, l, "default_tenant", err, errcap,
					 ec->enroll == NULL ? "no [tenant %s] in this file"
							    : "no [tenant %s] in this file, nor a tenants.db name",
					 l->default_tenant);
	}
	return 0;
}

/* Take over c (NULL: loading failed, err is set) and check it. */
static int
edge_conf_take(struct conf *c, struct edge_conf *ec, char *err, size_t errcap)
{
	memset(ec, 0, sizeof(*ec));
	ec->conf = c;
	if (ec->conf == NULL)
		return -1;
	ec->main = conf_block(ec->conf, "edge", 0);
	ec->egress = conf_block(ec->conf, "egress", 0);
	if (ec->egress != NULL && ec->egress->address.n == 0)
		ec->egress = NULL;	/* no address, no egress */
	ec->enroll = conf_block(ec->conf, "enroll", 0);
	if (ec->enroll != NULL && ec->enroll->control.n == 0 && ec->enroll->tunnel.n == 0 &&
	    ec->enroll->endpoint.len == 0)
		ec->enroll = NULL;	/* nothing of [enroll] set: no enrollment */
	ec->nlisteners = conf_count(ec->conf, "listener");
	ec->ntenants = conf_count(ec->conf, "tenant");
	if (edge_conf_check(ec, err, errcap) != 0) {
		edge_conf_free(ec);
		return -1;
	}
	return 0;
}

int
edge_conf_load(const char *path, struct edge_conf *ec, char *err, size_t errcap)
{
	return edge_conf_take(conf_load_file(edge_sections, path, err, errcap), ec, err, errcap);
}

int
edge_conf_load_buffer(const char *name, const char *text, size_t len, struct edge_conf *ec,
		      char *err, size_t errcap)
{
	return edge_conf_take(conf_load_buffer(edge_sections, name, text, len, err, errcap), ec,
			      err, errcap);
}

void
edge_conf_free(struct edge_conf *ec)
{
	conf_free(&ec->conf);
	memset(ec, 0, sizeof(*ec));
}
