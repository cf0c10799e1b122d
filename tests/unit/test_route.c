/*
 * Unit tests for edge/route (the tenant a connection goes to),
 * edge/metrics (counters kept by name across reloads) and edge/fallback
 * (sources whose TLS was cut).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "addr.h"
#include "../../edge/edge.h"

#define T_ERR_MAX 1024

static const char t_conf[] =
	"[edge]\n"
	"name = relay.example.test\n"
	"[listener mx]\n"
	"address = 203.0.113.1:25\n"
	"mode = starttls\n"
	"default_tenant = carol\n"
	"[tenant alice]\n"
	"hostnames = mail.alice.test, *.alice.test, *.deep.alice.test\n"
	"tunnel_address = 192.0.2.2, 2001:db8:77::2\n"
	"[tenant bob]\n"
	"hostnames = Mail.Bob.Test, *.mail.alice.test\n"
	"tunnel_address = 192.0.2.3\n"
	"public_addresses = 203.0.113.10, 2001:db8:e::10\n"
	"proxy = v1\n"
	"max_connections = 7\n"
	"[tenant carol]\n"
	"tunnel_address = 192.0.2.4\n";

struct t_state {
	struct metrics *m;
	struct route_table *rt;
};

static int
t_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));
	struct edge_conf ec;
	char err[T_ERR_MAX];

	if (s == NULL)
		return -1;
	s->m = metrics_new();
	if (s->m == NULL || edge_conf_load_buffer("t.conf", t_conf, strlen(t_conf), &ec, err,
						    sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	s->rt = route_table_new(&ec, NULL, 0, s->m);
	if (s->rt == NULL || ec.conf != NULL)
		return -1;
	*state = s;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;

	route_table_unref(&s->rt);
	assert_null(s->rt);
	metrics_free(&s->m);
	assert_null(s->m);
	free(s);
	return 0;
}

static struct addr
t_addr(const char *text)
{
	struct addr a;

	assert_int_equal(addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, &a), 0);
	return a;
}

struct t_route_case {
	const char *name;	/* SNI, or NULL */
	const char *dst;	/* the address connected to, or NULL */
	const char *dflt;	/* the listener's default tenant, or NULL */
	const char *tenant;	/* expected, or NULL for no route */
	enum route_by by;
};

static const struct t_route_case t_route_cases[] = {
	/* exact names, any case */
	{ "mail.alice.test", NULL, NULL, "alice", ROUTE_BY_NAME },
	{ "MAIL.ALICE.TEST", NULL, NULL, "alice", ROUTE_BY_NAME },
	{ "mail.bob.test", NULL, NULL, "bob", ROUTE_BY_NAME },
	/* suffixes: the longest wins, and a suffix never matches its own apex */
	{ "webmail.alice.test", NULL, NULL, "alice", ROUTE_BY_SUFFIX },
	{ "a.b.c.alice.test", NULL, NULL, "alice", ROUTE_BY_SUFFIX },
	{ "x.mail.alice.test", NULL, NULL, "bob", ROUTE_BY_SUFFIX },
	{ "x.deep.alice.test", NULL, NULL, "alice", ROUTE_BY_SUFFIX },
	{ "alice.test", NULL, NULL, NULL, ROUTE_BY_NONE },
	{ "xalice.test", NULL, NULL, NULL, ROUTE_BY_NONE },
	/* a name beats the address, the address beats the default */
	{ "mail.alice.test", "203.0.113.10:25", "carol", "alice", ROUTE_BY_NAME },
	{ "unknown.test", "203.0.113.10:25", "carol", "bob", ROUTE_BY_ADDRESS },
	{ NULL, "[2001:db8:e::10]:465", "carol", "bob", ROUTE_BY_ADDRESS },
	{ NULL, "203.0.113.1:25", "carol", "carol", ROUTE_BY_DEFAULT },
	{ "", "203.0.113.1:25", "carol", "carol", ROUTE_BY_DEFAULT },
	/* nothing fits */
	{ NULL, "203.0.113.1:25", NULL, NULL, ROUTE_BY_NONE },
	{ "unknown.test", NULL, "nosuchtenant", NULL, ROUTE_BY_NONE },
	{ NULL, NULL, NULL, NULL, ROUTE_BY_NONE },
};

static void
test_route_find(void **state)
{
	struct t_state *s = *state;

	for (size_t i = 0; i < sizeof(t_route_cases) / sizeof(t_route_cases[0]); i++) {
		const struct t_route_case *c = &t_route_cases[i];
		struct addr dst;
		enum route_by by = ROUTE_BY_NAME;
		const struct route_tenant *t;

		if (c->dst != NULL)
			dst = t_addr(c->dst);
		t = route_find(s->rt, c->name, c->dst != NULL ? &dst : NULL, c->dflt, &by);
		if (c->tenant == NULL) {
			if (t != NULL)
				fail_msg("case %zu (%s): routed to %s", i, c->name ? c->name : "-", t->name);
		} else if (t == NULL || strcmp(t->name, c->tenant) != 0) {
			fail_msg("case %zu (%s): got %s, want %s", i, c->name ? c->name : "-",
				 t ? t->name : "none", c->tenant);
		}
		if (by != c->by)
			fail_msg("case %zu: by %s, want %s", i, route_by_text(by), route_by_text(c->by));
	}
}

/* A 253-byte name that is not configured, and one over the limit. */
static void
test_route_long_names(void **state)
{
	struct t_state *s = *state;
	char name[300];
	enum route_by by;

	memset(name, 'a', sizeof(name));
	memcpy(name + 253 - strlen(".alice.test"), ".alice.test", strlen(".alice.test") + 1);
	assert_int_equal(strlen(name), 253);
	assert_non_null(route_find(s->rt, name, NULL, NULL, &by));
	assert_int_equal(by, ROUTE_BY_SUFFIX);
	memset(name, 'a', sizeof(name));
	memcpy(name + 254 - strlen(".alice.test"), ".alice.test", strlen(".alice.test") + 1);
	assert_null(route_find(s->rt, name, NULL, NULL, &by));
	assert_int_equal(by, ROUTE_BY_NONE);
}

static void
test_route_tenant_fields(void **state)
{
	struct t_state *s = *state;
	enum route_by by;
	const struct route_tenant *a = route_find(s->rt, "mail.alice.test", NULL, NULL, &by);
	const struct route_tenant *b = route_find(s->rt, "mail.bob.test", NULL, NULL, &by);
	char text[ADDR_TEXT_MAX];

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->ntunnel, 2);
	assert_string_equal(addr_format(&a->tunnel[1], text, sizeof(text)), "2001:db8:77::2");
	assert_int_equal(a->proxy, EDGE_PROXY_V2);
	assert_int_equal(a->max_connections, 1000);
	assert_int_equal(b->proxy, EDGE_PROXY_V1);
	assert_int_equal(b->max_connections, 7);
	assert_ptr_equal(a->stats, metrics_tenant(s->m, "alice"));
	assert_ptr_not_equal(a->stats, b->stats);
}

/* Counts live by name: a new table (a reload) finds the same tenant state. */
static void
test_route_reload_keeps_tenant_state(void **state)
{
	struct t_state *s = *state;
	struct edge_conf ec;
	char err[T_ERR_MAX];
	enum route_by by;
	const struct route_tenant *before = route_find(s->rt, "mail.alice.test", NULL, NULL, &by);
	struct route_table *old = route_table_ref(s->rt), *fresh;

	before->stats->active = 3;
	assert_int_equal(edge_conf_load_buffer("t.conf", t_conf, strlen(t_conf), &ec, err, sizeof(err)), 0);
	fresh = route_table_new(&ec, NULL, 0, s->m);
	assert_non_null(fresh);
	route_table_unref(&s->rt);
	s->rt = fresh;
	assert_int_equal(route_find(fresh, "mail.alice.test", NULL, NULL, &by)->stats->active, 3);
	/* The old table lives while a connection holds it. */
	assert_string_equal(route_find(old, "mail.alice.test", NULL, NULL, &by)->name, "alice");
	route_table_unref(&old);
	before = NULL;
	route_find(fresh, "mail.alice.test", NULL, NULL, &by)->stats->active = 0;
}

/* ---- tenants.db rows beside the [tenant] sections ------------------------- */

/* A row as tenants.db gives it: id, name, key byte, tunnel addresses, hosts, suspended. */
static struct tenants_tenant
t_row(int64_t id, const char *name, uint8_t key, const char *v4, const char *v6, const char *hosts,
      int suspended)
{
	struct tenants_tenant x;

	memset(&x, 0, sizeof(x));
	x.id = id;
	snprintf(x.name, sizeof(x.name), "%s", name);
	memset(x.wg_key, key, sizeof(x.wg_key));
	x.tunnel_v4 = t_addr(v4);
	if (v6 != NULL)
		x.tunnel_v6 = t_addr(v6);
	snprintf(x.hostnames, sizeof(x.hostnames), "%s", hosts);
	x.suspended = suspended;
	return x;
}

/* Does one of the table's warnings contain text? */
static int
t_warned(const struct route_table *rt, const char *text)
{
	size_t n = route_table_nwarnings(rt, NULL);

	for (size_t i = 0; i < n; i++) {
		if (strstr(route_table_warning(rt, i), text) != NULL)
			return 1;
	}
	return 0;
}

static void
test_route_with_db(void **state)
{
	struct t_state *s = *state;
	/* In tenants_list()'s order (by name); precedence is by id, the order of enrollment. */
	const struct tenants_tenant rows[] = {
		t_row(9, "aaron", 0xaa, "192.0.2.20", NULL, "frank.test,aaron.test", 0),
		t_row(2, "alice", 0xa1, "192.0.2.12", NULL, "alice.other.test", 0),
		t_row(1, "dave", 0xd1, "192.0.2.10", "2001:db8:77::10", "mail.dave.test,Dave.Test", 0),
		t_row(3, "erin", 0xe1, "192.0.2.11", NULL, "mail.erin.test", 1),
		t_row(4, "frank", 0xf1, "192.0.2.13", NULL, "mail.dave.test,mail.alice.test,frank.test", 0),
		t_row(5, "gina", 0x91, "192.0.2.2", NULL, "gina.test", 0),
		t_row(6, "hank", 0x81, "192.0.2.14", NULL, "*.hank.test,hank.test", 0),
	};
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);
	struct route_table *rt = route_table_rebuild(s->rt, rows, nrows, s->m), *fewer;
	const struct route_tenant *t;
	enum route_by by;
	char text[ADDR_TEXT_MAX];
	struct addr a;
	uint8_t key[TENANTS_KEY_LEN];

	assert_non_null(rt);
	/* One configuration, shared by both tables. */
	assert_ptr_equal(route_table_conf(rt), route_table_conf(s->rt));
	/* alice (a [tenant]'s name) and gina (a [tenant]'s tunnel address) are left out. */
	assert_int_equal(route_table_ntenants(rt), 3 + nrows - 2);
	t = route_find(rt, "mail.dave.test", NULL, NULL, &by);
	assert_non_null(t);
	assert_string_equal(t->name, "dave");
	assert_int_equal(by, ROUTE_BY_NAME);
	memset(key, 0xd1, sizeof(key));
	assert_non_null(t->wg_key);
	assert_memory_equal(t->wg_key, key, sizeof(key));
	assert_int_equal(t->ntunnel, 2);
	assert_string_equal(addr_format(&t->tunnel[1], text, sizeof(text)), "2001:db8:77::10");
	assert_int_equal(t->proxy, EDGE_PROXY_V2);
	assert_int_equal(t->max_connections, EDGE_TENANT_CONNS_DEFAULT);
	assert_int_equal(t->suspended, 0);
	assert_ptr_equal(t->stats, metrics_tenant(s->m, "dave"));
	assert_string_equal(route_find(rt, "DAVE.test", NULL, NULL, &by)->name, "dave");
	/* A [tenant] keeps its name: no tenants.db key on it. */
	t = route_find(rt, "mail.alice.test", NULL, NULL, &by);
	assert_string_equal(t->name, "alice");
	assert_null(t->wg_key);
	assert_null(route_find(rt, "alice.other.test", NULL, NULL, &by));
	assert_true(t_warned(rt, "tenants.db tenant alice has the name of a [tenant] section"));
	/* The first claimant keeps a name: a [tenant], then the earlier enrollment (by id, not by name). */
	assert_string_equal(route_find(rt, "frank.test", NULL, NULL, &by)->name, "frank");
	assert_string_equal(route_find(rt, "aaron.test", NULL, NULL, &by)->name, "aaron");
	assert_true(t_warned(rt, "host name mail.dave.test of tenant frank is already tenant dave's"));
	assert_true(t_warned(rt, "host name mail.alice.test of tenant frank is already tenant alice's"));
	assert_true(t_warned(rt, "host name frank.test of tenant aaron is already tenant frank's"));
	/* A wildcard is no name a home enrolls with. */
	assert_null(route_find(rt, "x.hank.test", NULL, NULL, &by));
	assert_string_equal(route_find(rt, "hank.test", NULL, NULL, &by)->name, "hank");
	assert_true(t_warned(rt, "tenants.db tenant hank has a host name that is not one"));
	/* gina's address is alice's: the [tenant] has it, for routing and for the egress. */
	assert_null(route_find(rt, "gina.test", NULL, NULL, &by));
	assert_true(t_warned(rt, "tenants.db tenant gina has tunnel address 192.0.2.2 of tenant alice"));
	a = t_addr("192.0.2.2");
	assert_string_equal(route_find_tunnel(rt, &a)->name, "alice");
	assert_int_equal(route_table_nwarnings(rt, NULL), 6);
	/* A suspended home is still found, marked: it gets words, not "no route". */
	t = route_find(rt, "mail.erin.test", NULL, NULL, &by);
	assert_non_null(t);
	assert_int_equal(t->suspended, 1);
	/* Tunnel addresses (the egress): active homes only. */
	a = t_addr("192.0.2.10:1080");
	assert_string_equal(route_find_tunnel(rt, &a)->name, "dave");
	a = t_addr("[2001:db8:77::10]:1080");
	assert_string_equal(route_find_tunnel(rt, &a)->name, "dave");
	a = t_addr("192.0.2.11");
	assert_null(route_find_tunnel(rt, &a));
	a = t_addr("192.0.2.99");
	assert_null(route_find_tunnel(rt, &a));
	/* A home that enrolled can be a listener's default. */
	t = route_find(rt, NULL, NULL, "dave", &by);
	assert_string_equal(t->name, "dave");
	assert_int_equal(by, ROUTE_BY_DEFAULT);

	/* aaron, alice and dave removed from tenants.db: a rebuilt table has no dave, and his
	 * name goes to the next claimant; the old table, which connections hold, is unchanged. */
	fewer = route_table_rebuild(rt, rows + 3, nrows - 3, s->m);
	assert_non_null(fewer);
	assert_string_equal(route_find(fewer, "mail.dave.test", NULL, NULL, &by)->name, "frank");
	assert_null(route_find(fewer, "aaron.test", NULL, NULL, &by));
	assert_null(route_find(fewer, NULL, NULL, "dave", &by));
	assert_string_equal(route_find(rt, "mail.dave.test", NULL, NULL, &by)->name, "dave");
	assert_false(t_warned(fewer, "mail.dave.test"));
	route_table_unref(&fewer);
	route_table_unref(&rt);
}

static void
test_metrics_format(void **state)
{
	struct t_state *s = *state;
	struct evbuffer *out = evbuffer_new();
	struct metrics_cell *c = metrics_cell(s->m, "alice", "mx");
	char *text;
	size_t len;

	assert_non_null(out);
	assert_ptr_equal(c, metrics_cell(s->m, "alice", "mx"));
	assert_ptr_not_equal(c, metrics_cell(s->m, "alice", "imaps"));
	assert_ptr_not_equal(c, metrics_cell(s->m, "", "mx"));
	metrics_add(c, METRICS_ROUTED_NAME, 2);
	metrics_add(c, METRICS_BYTES_TO_CLIENT, 12345678901ULL);
	metrics_add(NULL, METRICS_ROUTED_NAME, 1);
	metrics_tenant(s->m, "bob")->active = 4;
	assert_int_equal(metrics_format(s->m, out), 0);
	len = evbuffer_get_length(out);
	text = calloc(1, len + 1);
	assert_non_null(text);
	evbuffer_remove(out, text, len);
	assert_non_null(strstr(text, "# TYPE homeport_edge_routed_name_total counter\n"));
	assert_non_null(strstr(text, "homeport_edge_routed_name_total{tenant=\"alice\",listener=\"mx\"} 2\n"));
	assert_non_null(strstr(text, "homeport_edge_routed_name_total{tenant=\"alice\",listener=\"imaps\"} 0\n"));
	assert_non_null(strstr(text, "homeport_edge_bytes_to_client_total{tenant=\"alice\",listener=\"mx\"} 12345678901\n"));
	assert_non_null(strstr(text, "homeport_edge_tenant_connections{tenant=\"bob\"} 4\n"));
	/* Every line is a comment or "name{labels} value". */
	for (char *line = text, *end; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		assert_non_null(end);
		*end = '\0';
		if (line[0] != '#' && (strchr(line, '}') == NULL || strchr(line, ' ') == NULL))
			fail_msg("bad line: %s", line);
	}
	metrics_tenant(s->m, "bob")->active = 0;
	free(text);
	evbuffer_free(out);
}

/* The fallback memory: per IPv4 address or IPv6 /64, for a window. */
static void
test_fallback(void **state)
{
	struct fallback *f = fallback_new();
	struct addr a = t_addr("198.51.100.7:40000"), a2 = t_addr("198.51.100.8:1");
	struct addr v6 = t_addr("[2001:db8:1:2::5]:25"), v6same = t_addr("2001:db8:1:2:ffff::1");
	struct addr v6other = t_addr("2001:db8:1:3::5");

	(void)state;
	assert_non_null(f);
	assert_int_equal(fallback_recent(f, &a, 1000), 0);
	fallback_note(f, &a, 1000);
	fallback_note(f, &v6, 1000);
	assert_int_equal(fallback_recent(f, &a, 1000), 1);
	assert_int_equal(fallback_recent(f, &a, 1000 + FALLBACK_WINDOW_MS), 1);
	assert_int_equal(fallback_recent(f, &a, 1001 + FALLBACK_WINDOW_MS), 0);
	assert_int_equal(fallback_recent(f, &a2, 1000), 0);
	assert_int_equal(fallback_recent(f, &v6same, 2000), 1);
	assert_int_equal(fallback_recent(f, &v6other, 2000), 0);
	fallback_free(&f);
	assert_null(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_find, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_route_long_names, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_route_tenant_fields, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_route_reload_keeps_tenant_state, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_route_with_db, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_format, t_setup, t_teardown),
		cmocka_unit_test(test_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
