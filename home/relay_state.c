/*
 * relay_state: STATE_DIR/relay.conf, what this home knows of the edges it
 * joined (relay.h). Written by `homeport relay`, never by hand, but in
 * the configuration syntax so that it reads like the rest and errors name
 * their line:
 *
 *   [relay]
 *   mode = on
 *   interface = homeport0
 *
 *   [edge edge1]
 *   public_key = ...            the edge's WireGuard key
 *   endpoint = 203.0.113.1:51820
 *   public_address = 203.0.113.1
 *   tenant = example
 *   address = 192.0.2.2/24, 2001:db8:77::2/64
 *   edge_address = 192.0.2.1, 2001:db8:77::1
 *   egress_port = 1080
 *   hostnames = mail.example.org
 *   preference = 10
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsname.h"
#include "home.h"
#include "keyfile.h"
#include "num.h"
#include "relay.h"
#include "wgkey.h"

static const char *const relay_modes[] = { "off", "on", NULL };

#define MAIN_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct relay_main_conf, f), __VA_ARGS__ }
static const struct conf_key relay_main_keys[] = {
	MAIN_KEY("mode", CONF_ENUM, mode, .words = relay_modes),
	MAIN_KEY("interface", CONF_STRING, interface),
	{ .name = NULL },
};

#define EDGE_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct relay_edge, f), __VA_ARGS__ }
static const struct conf_key relay_edge_keys[] = {
	EDGE_KEY("public_key", CONF_STRING, public_key, .flags = CONF_REQUIRED),
	EDGE_KEY("endpoint", CONF_ADDR, endpoint, .flags = CONF_REQUIRED | CONF_PORT_REQUIRED),
	EDGE_KEY("public_address", CONF_ADDR, public_address),
	EDGE_KEY("tenant", CONF_STRING, tenant, .flags = CONF_REQUIRED),
	EDGE_KEY("address", CONF_STRING_LIST, address, .flags = CONF_REQUIRED),
	EDGE_KEY("edge_address", CONF_ADDR_LIST, edge_address, .flags = CONF_REQUIRED),
	EDGE_KEY("egress_port", CONF_INT, egress_port, .min = 0, .max = 65535),
	EDGE_KEY("hostnames", CONF_STRING_LIST, hostnames, .flags = CONF_REQUIRED),
	EDGE_KEY("preference", CONF_INT, preference, .min = 0, .max = 65535),
	{ .name = NULL },
};

static void
relay_main_defaults(void *block)
{
	struct relay_main_conf *m = block;

	m->mode = RELAY_MODE_ON;
	m->interface = RELAY_INTERFACE_DEFAULT;
}

static void
relay_edge_defaults(void *block)
{
	struct relay_edge *e = block;

	e->preference = RELAY_PREFERENCE_STEP;
}

static const struct conf_section relay_sections[] = {
	{ .name = "relay", .keys = relay_main_keys, .block_size = sizeof(struct relay_main_conf), .init = relay_main_defaults },
	{ .name = "edge", .flags = CONF_SECTION_LABELLED, .keys = relay_edge_keys, .block_size = sizeof(struct relay_edge), .init = relay_edge_defaults, .label_offset = offsetof(struct relay_edge, name) },
	{ .name = NULL },
};

struct relay_edge *
relay_state_edge(const struct relay_state *rs, size_t i)
{
	return conf_block(rs->conf, "edge", i);
}

struct relay_edge *
relay_state_find(const struct relay_state *rs, const char *name)
{
	for (size_t i = 0; i < rs->nedges; i++) {
		struct relay_edge *e = relay_state_edge(rs, i);
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

int
relay_state_active(const struct relay_state *rs)
{
	return rs->main != NULL && rs->main->mode == RELAY_MODE_ON && rs->nedges > 0;
}

/* "ADDR/PREFIX": an interface address, host bits kept. Returns 0 or -1. */
static int
relay_parse_address(const char *s, struct wg_address *a_r)
{
	const char *slash = strrchr(s, '/');
	int64_t prefix;

	if (slash == NULL || addr_parse(s, (size_t)(slash - s), ADDR_PORT_NONE, &a_r->addr) != 0 ||
	    num_parse_i64(slash + 1, strlen(slash + 1), 0, addr_family(&a_r->addr) == AF_INET ? 32 : 128,
			  &prefix) != 0)
		return -1;
	a_r->prefix = (unsigned)prefix;
	return 0;
}

/*
 * One interface carries every edge's tunnel, and WireGuard picks the peer
 * by the edge's own address: two edges with the same address, or the
 * same address given to us by two edges, would send one edge's traffic to
 * the other. (Overlapping pools as such do no harm.) Edge i against every
 * earlier edge. Returns 0, or -1 with err naming both.
 */
static int
relay_check_clash(const struct relay_state *rs, size_t i, char *err, size_t errcap)
{
	const struct relay_edge *e = relay_state_edge(rs, i);
	char text[ADDR_TEXT_MAX];

	for (size_t j = 0; j < i; j++) {
		const struct relay_edge *o = relay_state_edge(rs, j);

		for (size_t a = 0; a < e->edge_address.n; a++) {
			for (size_t b = 0; b < o->edge_address.n; b++) {
				if (addr_equal(&e->edge_address.v[a], &o->edge_address.v[b]))
					return conf_fail(rs->conf, e, "edge_address", err, errcap,
							 "%s is [edge %s]'s address too: the two edges' "
							 "tunnel pools clash (one of them must use another)",
							 addr_format(&e->edge_address.v[a], text, sizeof(text)),
							 o->name);
			}
		}
		for (size_t a = 0; a < e->ntunnel; a++) {
			for (size_t b = 0; b < o->ntunnel; b++) {
				if (addr_equal(&e->tunnel[a].addr, &o->tunnel[b].addr))
					return conf_fail(rs->conf, e, "address", err, errcap,
							 "'%s' is ours from [edge %s] too: the two edges' tunnel "
							 "pools clash (one of them must use another)",
							 e->address.v[a], o->name);
			}
		}
	}
	return 0;
}

static int
relay_check_edge(const struct relay_state *rs, struct relay_edge *e, char *err, size_t errcap)
{
	for (size_t i = 0; i < e->address.n; i++) {
		if (e->ntunnel == 2 || relay_parse_address(e->address.v[i], &e->tunnel[e->ntunnel]) != 0)
			return conf_fail(rs->conf, e, "address", err, errcap,
					 "'%s': expected at most two ADDRESS/PREFIX, one per family",
					 e->address.v[i]);
		e->ntunnel++;
	}
	if (wgkey_parse(e->public_key, strlen(e->public_key), e->key) != 0)
		return conf_fail(rs->conf, e, "public_key", err, errcap, "not a WireGuard key");
	for (size_t i = 0; i < e->hostnames.n; i++) {
		if (dnsname_check(e->hostnames.v[i], strlen(e->hostnames.v[i]), 0) != 0)
			return conf_fail(rs->conf, e, "hostnames", err, errcap, "'%s' is not a host name",
					 e->hostnames.v[i]);
	}
	return 0;
}

static int
relay_state_take(struct conf *c, struct relay_state *rs, char *err, size_t errcap)
{
	memset(rs, 0, sizeof(*rs));
	if (c == NULL)
		return -1;
	rs->conf = c;
	rs->main = conf_block(c, "relay", 0);
	rs->nedges = conf_count(c, "edge");
	if (rs->nedges > RELAY_EDGES_MAX) {
		conf_fail(c, relay_state_edge(rs, RELAY_EDGES_MAX), NULL, err, errcap,
			  "at most %d edges", RELAY_EDGES_MAX);
		goto fail;
	}
	if (strlen(rs->main->interface) >= IFNAMSIZ) {
		conf_fail(c, rs->main, "interface", err, errcap, "at most %d characters",
			  IFNAMSIZ - 1);
		goto fail;
	}
	for (size_t i = 0; i < rs->nedges; i++) {
		if (relay_check_edge(rs, relay_state_edge(rs, i), err, errcap) != 0 ||
		    relay_check_clash(rs, i, err, errcap) != 0)
			goto fail;
	}
	return 0;
fail:
	relay_state_free(rs);
	return -1;
}

int
relay_state_load_buffer(const char *name, const char *text, size_t len, struct relay_state *rs,
			char *err, size_t errcap)
{
	return relay_state_take(conf_load_buffer(relay_sections, name, text, len, err, errcap), rs, err,
				errcap);
}

static int
relay_state_path(const char *state_dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", state_dir, RELAY_FILE);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
relay_state_load(const char *state_dir, struct relay_state *rs, char *err, size_t errcap)
{
	char path[HOME_PATH_MAX];

	memset(rs, 0, sizeof(*rs));
	if (relay_state_path(state_dir, path, sizeof(path)) != 0) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	return relay_state_take(conf_load_file(relay_sections, path, err, errcap), rs, err, errcap);
}

void
relay_state_free(struct relay_state *rs)
{
	conf_free(&rs->conf);
	memset(rs, 0, sizeof(*rs));
}

/* Append "key = v1, v2". */
static void
relay_format_list(FILE *f, const char *key, const struct conf_string_list *l)
{
	fprintf(f, "%s = ", key);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s%s", i > 0 ? ", " : "", l->v[i]);
	fputc('\n', f);
}

char *
relay_state_format(int mode, const char *interface, const struct relay_edge *const *edges,
		   size_t nedges)
{
	char *text = NULL, a[ADDR_TEXT_MAX];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "# relay.conf: the edges this home joined, written by 'homeport relay'.\n"
		   "# Change it with homeport relay join|on|off (docs/home.md \"Relay mode\").\n\n"
		   "[relay]\nmode = %s\ninterface = %s\n",
		relay_modes[mode], interface);
	for (size_t i = 0; i < nedges; i++) {
		const struct relay_edge *e = edges[i];

		fprintf(f, "\n[edge %s]\npublic_key = %s\nendpoint = %s\n", e->name, e->public_key,
			addr_format(&e->endpoint, a, sizeof(a)));
		if (e->public_address.len > 0)
			fprintf(f, "public_address = %s\n", addr_format(&e->public_address, a, sizeof(a)));
		fprintf(f, "tenant = %s\n", e->tenant);
		relay_format_list(f, "address", &e->address);
		fprintf(f, "edge_address = ");
		for (size_t k = 0; k < e->edge_address.n; k++)
			fprintf(f, "%s%s", k > 0 ? ", " : "", addr_format(&e->edge_address.v[k], a, sizeof(a)));
		fprintf(f, "\negress_port = %lld\n", (long long)e->egress_port);
		relay_format_list(f, "hostnames", &e->hostnames);
		fprintf(f, "preference = %lld\n", (long long)e->preference);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int
relay_state_save(const char *state_dir, const char *text, char *err, size_t errcap)
{
	char path[HOME_PATH_MAX];

	if (relay_state_path(state_dir, path, sizeof(path)) != 0) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	return keyfile_write(path, text, strlen(text), 0644, err, errcap);
}
