/*
 * Unit tests for edge/edge_conf: edge.conf files written to a temporary
 * directory and loaded with edge_conf_load(). Every typed value and
 * default is checked, and every cross-field error with its exact message
 * and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"
#include "log.h"

#include "../../edge/edge.h"
#include "testutil.h"

#define T_ERR_MAX 1024

static int
t_setup(void **state)
{
	*state = testutil_tmpdir_new("edge_conf", "edge.conf");
	return *state != NULL ? 0 : -1;
}

static void
t_load_ok(struct testutil_tmpdir *s, const char *text, struct edge_conf *ec)
{
	char err[T_ERR_MAX];

	assert_int_equal(testutil_write_file(s->path, text, strlen(text), 0644), 0);
	err[0] = '\0';
	if (edge_conf_load(s->path, ec, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

/* ---- valid files -------------------------------------------------------- */

static const char t_full[] =
	"# edge.conf: every key\n"
	"[edge]\n"
	"name = relay.example.net\n"
	"log_level = warn\n"
	"user = edge\n"
	"max_connections = 5000\n"
	"max_per_source = 50\n"
	"rate_per_source = 0\n"
	"\n"
	"[listener smtp]\n"
	"address = 203.0.113.1:25\n"
	"mode = starttls\n"
	"preamble = smtp\n"
	"default_tenant = alice\n"
	"idle_timeout = 30s\n"
	"\n"
	"[listener imap]\n"
	"address = 203.0.113.1:143, [2001:db8::1]:143\n"
	"mode = starttls\n"
	"preamble = imap\n"
	"\n"
	"[listener https]\n"
	"address = 203.0.113.1:443\n"
	"mode = sni\n"
	"\n"
	"[listener web]\n"
	"address = 203.0.113.1:80\n"
	"mode = http\n"
	"default_tenant = bob\n"
	"\n"
	"[listener direct]\n"
	"address = 203.0.113.10:993\n"
	"mode = passthrough\n"
	"idle_timeout = 24h\n"
	"\n"
	"[tenant alice]\n"
	"hostnames = mail.alice.test, *.alice.test, alice.test\n"
	"tunnel_address = 192.0.2.2, 2001:db8:77::2\n"
	"public_addresses = 203.0.113.10, 2001:db8::10\n"
	"proxy = v1\n"
	"max_connections = 300\n"
	"\n"
	"[tenant bob]\n"
	"tunnel_address = 192.0.2.6\n"
	"\n"
	"[tenant carol]\n"
	"hostnames = *.carol.test\n"
	"tunnel_address = 192.0.2.10\n"
	"proxy = none\n";

static void
test_edge_conf_full(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;
	struct edge_listener_conf *l;
	struct edge_tenant_conf *t;
	char a[ADDR_TEXT_MAX];

	t_load_ok(s, t_full, &ec);
	assert_string_equal(ec.main->name, "relay.example.net");
	assert_int_equal(ec.main->log_level, LOG_LEVEL_WARN);
	assert_string_equal(ec.main->user, "edge");
	assert_int_equal(ec.main->max_connections, 5000);
	assert_int_equal(ec.main->max_per_source, 50);
	assert_int_equal(ec.main->rate_per_source, 0);
	assert_int_equal(ec.nlisteners, 5);
	assert_int_equal(ec.ntenants, 3);

	l = edge_conf_listener(&ec, 0);
	assert_string_equal(l->name, "smtp");
	assert_int_equal(l->address.n, 1);
	assert_string_equal(addr_format(&l->address.v[0], a, sizeof(a)), "203.0.113.1:25");
	assert_int_equal(l->mode, EDGE_LISTENER_STARTTLS);
	assert_int_equal(l->preamble, EDGE_PREAMBLE_SMTP);
	assert_string_equal(l->default_tenant, "alice");
	assert_int_equal(l->idle_timeout, 30000);

	l = edge_conf_listener(&ec, 1);
	assert_string_equal(l->name, "imap");
	assert_int_equal(l->address.n, 2);
	assert_string_equal(addr_format(&l->address.v[1], a, sizeof(a)), "[2001:db8::1]:143");
	assert_int_equal(l->mode, EDGE_LISTENER_STARTTLS);
	assert_int_equal(l->preamble, EDGE_PREAMBLE_IMAP);
	assert_null(l->default_tenant);
	assert_int_equal(l->idle_timeout, 600000);

	l = edge_conf_listener(&ec, 2);
	assert_string_equal(l->name, "https");
	assert_int_equal(l->mode, EDGE_LISTENER_SNI);
	assert_int_equal(l->preamble, EDGE_PREAMBLE_SMTP);

	l = edge_conf_listener(&ec, 3);
	assert_string_equal(l->name, "web");
	assert_int_equal(l->mode, EDGE_LISTENER_HTTP);
	assert_string_equal(l->default_tenant, "bob");

	l = edge_conf_listener(&ec, 4);
	assert_string_equal(l->name, "direct");
	assert_int_equal(l->mode, EDGE_LISTENER_PASSTHROUGH);
	assert_int_equal(l->idle_timeout, 86400000);
	assert_null(edge_conf_listener(&ec, 5));

	t = edge_conf_tenant(&ec, 0);
	assert_string_equal(t->name, "alice");
	assert_int_equal(t->hostnames.n, 3);
	assert_string_equal(t->hostnames.v[0], "mail.alice.test");
	assert_string_equal(t->hostnames.v[1], "*.alice.test");
	assert_string_equal(t->hostnames.v[2], "alice.test");
	assert_int_equal(t->tunnel_address.n, 2);
	assert_string_equal(addr_format(&t->tunnel_address.v[0], a, sizeof(a)), "192.0.2.2");
	assert_string_equal(addr_format(&t->tunnel_address.v[1], a, sizeof(a)), "2001:db8:77::2");
	assert_int_equal(addr_port(&t->tunnel_address.v[0]), 0);
	assert_int_equal(t->public_addresses.n, 2);
	assert_string_equal(addr_format(&t->public_addresses.v[0], a, sizeof(a)), "203.0.113.10");
	assert_string_equal(addr_format(&t->public_addresses.v[1], a, sizeof(a)), "2001:db8::10");
	assert_int_equal(t->proxy, EDGE_PROXY_V1);
	assert_int_equal(t->max_connections, 300);

	t = edge_conf_tenant(&ec, 1);
	assert_string_equal(t->name, "bob");
	assert_int_equal(t->hostnames.n, 0);
	assert_int_equal(t->tunnel_address.n, 1);
	assert_int_equal(t->public_addresses.n, 0);
	assert_int_equal(t->proxy, EDGE_PROXY_V2);
	assert_int_equal(t->max_connections, 1000);

	t = edge_conf_tenant(&ec, 2);
	assert_string_equal(t->name, "carol");
	assert_int_equal(t->proxy, EDGE_PROXY_NONE);
	assert_null(edge_conf_tenant(&ec, 3));

	/* Lookup by name: exact, case-sensitive. */
	assert_ptr_equal(edge_conf_find_tenant(&ec, "alice"), edge_conf_tenant(&ec, 0));
	assert_ptr_equal(edge_conf_find_tenant(&ec, "carol"), edge_conf_tenant(&ec, 2));
	assert_null(edge_conf_find_tenant(&ec, "dave"));
	assert_null(edge_conf_find_tenant(&ec, "Alice"));
	assert_null(edge_conf_find_tenant(&ec, "alic"));
	assert_null(edge_conf_find_tenant(&ec, ""));

	edge_conf_free(&ec);
	assert_null(ec.conf);
	assert_null(ec.main);
	edge_conf_free(&ec);
}

static void
test_edge_conf_defaults(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;
	struct edge_listener_conf *l;
	struct edge_tenant_conf *t;

	t_load_ok(s, "[edge]\nname = relay.example.net\n", &ec);
	assert_string_equal(ec.main->name, "relay.example.net");
	assert_int_equal(ec.main->log_level, LOG_LEVEL_INFO);
	assert_string_equal(ec.main->user, "homeport-edge");
	assert_int_equal(ec.main->max_connections, 20000);
	assert_int_equal(ec.main->max_per_source, 100);
	assert_int_equal(ec.main->rate_per_source, 300);
	assert_int_equal(ec.nlisteners, 0);
	assert_int_equal(ec.ntenants, 0);
	assert_null(edge_conf_find_tenant(&ec, "alice"));
	edge_conf_free(&ec);

	t_load_ok(s,
		  "[edge]\nname = relay.example.net\n"
		  "[listener l]\naddress = 203.0.113.1:25\nmode = sni\n"
		  "[tenant t]\ntunnel_address = 192.0.2.2\n", &ec);
	l = edge_conf_listener(&ec, 0);
	assert_string_equal(l->name, "l");
	assert_int_equal(l->preamble, EDGE_PREAMBLE_SMTP);
	assert_null(l->default_tenant);
	assert_int_equal(l->idle_timeout, 600000);
	t = edge_conf_tenant(&ec, 0);
	assert_string_equal(t->name, "t");
	assert_int_equal(t->hostnames.n, 0);
	assert_int_equal(t->public_addresses.n, 0);
	assert_int_equal(t->proxy, EDGE_PROXY_V2);
	assert_int_equal(t->max_connections, 1000);
	edge_conf_free(&ec);
}

static void
test_edge_conf_accepted_edges(void **state)
{
	static const char *const texts[] = {
		/* Wildcards, and a wildcard next to a name it covers, in another tenant. */
		("[edge]\nname = relay.example.net\n"
		 "[tenant a]\nhostnames = *.alice.test\ntunnel_address = 192.0.2.2\n"
		 "[tenant b]\nhostnames = mail.alice.test, *.mail.alice.test\ntunnel_address = 192.0.2.6\n"),
		/* Single-label names, digits, hyphens, upper case. */
		("[edge]\nname = RELAY-1.example.net\n"
		 "[tenant a]\nhostnames = localhost, MX-2.Alice.test, 1.2.3.test\ntunnel_address = 192.0.2.2\n"),
		/* An empty list. */
		"[edge]\nname = relay.example.net\n[tenant a]\nhostnames =\ntunnel_address = 192.0.2.2\n",
		/* Same address on other ports, same port on other addresses. */
		("[edge]\nname = relay.example.net\n"
		 "[listener a]\naddress = 203.0.113.1:25, [2001:db8::1]:25\nmode = starttls\n"
		 "[listener b]\naddress = 203.0.113.1:587, 203.0.113.2:25, [2001:db8::2]:25\nmode = starttls\n"),
		/* max_per_source equal to max_connections. */
		"[edge]\nname = relay.example.net\nmax_connections = 9\nmax_per_source = 9\n",
	};
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		t_load_ok(s, texts[i], &ec);
		edge_conf_free(&ec);
	}
	/* The wildcard is kept as written. */
	t_load_ok(s, texts[0], &ec);
	assert_string_equal(edge_conf_tenant(&ec, 0)->hostnames.v[0], "*.alice.test");
	assert_string_equal(edge_conf_tenant(&ec, 1)->hostnames.v[1], "*.mail.alice.test");
	edge_conf_free(&ec);
}

/* [enroll]: the interface the edge keeps, and a default tenant that enrolled. */
static void
test_edge_conf_enroll(void **state)
{
	static const char enroll[] = "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\n";
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;
	char text[1024];

	snprintf(text, sizeof(text), "[edge]\nname = relay.example.net\n%s", enroll);
	t_load_ok(s, text, &ec);
	assert_non_null(ec.enroll);
	assert_string_equal(ec.enroll->interface, "homeport0");
	edge_conf_free(&ec);
	/* Fifteen bytes, the kernel's most; the characters wireguard-go's socket name takes. */
	snprintf(text, sizeof(text), "[edge]\nname = relay.example.net\n%sinterface = hp-edge_0.12345\n", enroll);
	t_load_ok(s, text, &ec);
	assert_string_equal(ec.enroll->interface, "hp-edge_0.12345");
	edge_conf_free(&ec);
	/* With [enroll], a default tenant may be a home in tenants.db, named as it names it. */
	snprintf(text, sizeof(text), "[edge]\nname = relay.example.net\n%s"
		 "[listener mx]\naddress = 203.0.113.1:25\nmode = passthrough\ndefault_tenant = mail-alice-test\n",
		 enroll);
	t_load_ok(s, text, &ec);
	assert_string_equal(edge_conf_listener(&ec, 0)->default_tenant, "mail-alice-test");
	assert_int_equal(ec.enroll->require_txt, 0);
	assert_null(ec.enroll->dns_forward);
	assert_null(ec.enroll->dns_trust_anchor);
	edge_conf_free(&ec);
	/* require_txt with the DNS it asks. */
	snprintf(text, sizeof(text), "[edge]\nname = relay.example.net\n%srequire_txt = yes\n"
		 "dns_forward = 198.51.100.53@5353\ndns_trust_anchor = /etc/homeport/anchors\n", enroll);
	t_load_ok(s, text, &ec);
	assert_int_equal(ec.enroll->require_txt, 1);
	assert_string_equal(ec.enroll->dns_forward, "198.51.100.53@5353");
	assert_string_equal(ec.enroll->dns_trust_anchor, "/etc/homeport/anchors");
	edge_conf_free(&ec);
	snprintf(text, sizeof(text), "[edge]\nname = relay.example.net\n%sdns_forward = 2001:db8::53\n", enroll);
	t_load_ok(s, text, &ec);
	assert_string_equal(ec.enroll->dns_forward, "2001:db8::53");
	edge_conf_free(&ec);
}

/* ---- errors --------------------------------------------------------------- */

struct t_error_case {
	const char *text;
	const char *want;	/* the message after the file name */
};

#define T_EDGE "[edge]\nname = relay.example.net\n"	/* two lines */
#define T_ALICE "[tenant alice]\nhostnames = mail.alice.test, *.alice.test\ntunnel_address = 192.0.2.2\n"

static const struct t_error_case t_error_cases[] = {
	/* Cross-field checks of edge_conf.c. */
	{ "[edge]\nname = relay_1.example.net\n",
	  ":2: [edge] name: not a host name (like relay.example.net)" },
	{ "[edge]\nuser = e\nname = relay.example.net.\n",
	  ":3: [edge] name: not a host name (like relay.example.net)" },
	{ "[edge]\nname = *.example.net\n",
	  ":2: [edge] name: not a host name (like relay.example.net)" },
	{ T_EDGE "max_connections = 10\nmax_per_source = 11\n",
	  ":4: [edge] max_per_source: 11 is larger than max_connections (10)" },
	{ T_EDGE "max_connections = 99\n",
	  ":1: [edge] max_per_source: 100 is larger than max_connections (99)" },
	{ T_EDGE T_ALICE "[listener smtp]\naddress = 203.0.113.1:25\nmode = starttls\ndefault_tenant = carol\n",
	  ":9: [listener smtp] default_tenant: no [tenant carol] in this file" },
	{ T_EDGE "[listener smtp]\ndefault_tenant = alice\naddress = 203.0.113.1:25\nmode = starttls\n",
	  ":4: [listener smtp] default_tenant: no [tenant alice] in this file" },
	{ T_EDGE T_ALICE "[listener smtp]\naddress = 203.0.113.1:25\nmode = starttls\ndefault_tenant = Alice\n",
	  ":9: [listener smtp] default_tenant: no [tenant Alice] in this file" },
	/* A host name claimed twice: exactly, in another case, as the same wildcard. */
	{ T_EDGE T_ALICE "[tenant bob]\nhostnames = mail.bob.test, mail.alice.test\ntunnel_address = 192.0.2.6\n",
	  ":7: [tenant bob] hostnames: 'mail.alice.test' is also claimed by [tenant alice]" },
	{ T_EDGE T_ALICE "[tenant bob]\ntunnel_address = 192.0.2.6\nhostnames = MAIL.Alice.TEST\n",
	  ":8: [tenant bob] hostnames: 'MAIL.Alice.TEST' is also claimed by [tenant alice]" },
	{ T_EDGE T_ALICE "[tenant bob]\ntunnel_address = 192.0.2.6\nhostnames = *.ALICE.test\n",
	  ":8: [tenant bob] hostnames: '*.ALICE.test' is also claimed by [tenant alice]" },
	{ T_EDGE T_ALICE "[tenant bob]\ntunnel_address = 192.0.2.6\n"
	  "[tenant carol]\ntunnel_address = 192.0.2.10\nhostnames = x.test, *.alice.test\n",
	  ":10: [tenant carol] hostnames: '*.alice.test' is also claimed by [tenant alice]" },
	/* Tunnel and public addresses belong to one tenant each. */
	{ T_EDGE T_ALICE "[tenant bob]\ntunnel_address = 192.0.2.2\n",
	  ":7: [tenant bob] tunnel_address: 192.0.2.2 also belongs to [tenant alice]" },
	{ T_EDGE "[tenant a]\ntunnel_address = 192.0.2.2, 2001:db8::2, 192.0.2.2\n",
	  ":4: [tenant a] tunnel_address: 192.0.2.2 listed twice" },
	{ T_EDGE T_ALICE "[tenant bob]\ntunnel_address = 192.0.2.3\npublic_addresses = 203.0.113.10\n"
	  "[tenant carol]\ntunnel_address = 192.0.2.4\npublic_addresses = 203.0.113.10\n",
	  ":11: [tenant carol] public_addresses: 203.0.113.10 also belongs to [tenant bob]" },
	/* Twice within one tenant. */
	{ T_EDGE "[tenant alice]\nhostnames = a.alice.test, b.alice.test, A.alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: 'A.alice.test' listed twice" },
	/* Invalid host names. */
	{ T_EDGE "[tenant alice]\nhostnames = mail_1.alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: 'mail_1.alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = ok.alice.test, alice.test.\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: 'alice.test.' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = *\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: '*' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = *.\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: '*.' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = mail.*.alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: 'mail.*.alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = *.*.alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: '*.*.alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = *alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: '*alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = -mail.alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: '-mail.alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = mail alice.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: 'mail alice.test' is not a host name or *.suffix" },
	{ T_EDGE "[tenant alice]\nhostnames = a.test,,b.test\ntunnel_address = 192.0.2.2\n",
	  ":4: [tenant alice] hostnames: expected a comma-separated list without empty items, not \"a.test,,b.test\"" },

	/* [enroll]: one IPv4 pool, at most one IPv6, each big enough; an endpoint. */
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 2001:db8:77::/64\n",
	  ":5: [enroll] tunnel: needs an IPv4 prefix (like 192.0.2.0/24, 2001:db8:77::/64)" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25, 198.51.100.0/24\n",
	  ":5: [enroll] tunnel: one IPv4 and at most one IPv6 prefix" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/31\n",
	  ":5: [enroll] tunnel: a prefix too small for the edge and a home (at most /30 or /126)" },
	{ T_EDGE "[enroll]\ntunnel = 192.0.2.0/25\n",
	  ":3: [enroll] endpoint: needs the WireGuard endpoint homes connect to (like 203.0.113.1:51820)" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ninterface = homeport-edge-wg0\n",
	  ":6: [enroll] interface: 'homeport-edge-wg0' is not an interface name (1 to 15 letters, digits, "
	  "'.', '-', '_')" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ninterface = wg/0\n",
	  ":6: [enroll] interface: 'wg/0' is not an interface name (1 to 15 letters, digits, '.', '-', '_')" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ninterface = ..\n",
	  ":6: [enroll] interface: '..' is not an interface name (1 to 15 letters, digits, '.', '-', '_')" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ndns_forward = ns.example.net\n",
	  ":6: [enroll] dns_forward: not an address or ADDR@PORT (like 198.51.100.53 or 198.51.100.53@5353)" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ndns_forward = 198.51.100.53@0\n",
	  ":6: [enroll] dns_forward: not an address or ADDR@PORT (like 198.51.100.53 or 198.51.100.53@5353)" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ndns_forward = 198.51.100.53:53\n",
	  ":6: [enroll] dns_forward: not an address or ADDR@PORT (like 198.51.100.53 or 198.51.100.53@5353)" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ndns_trust_anchor = anchors.key\n",
	  ":6: [enroll] dns_trust_anchor: must be an absolute path" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\ninterface = wg 0\n",
	  ":6: [enroll] interface: 'wg 0' is not an interface name (1 to 15 letters, digits, '.', '-', '_')" },
	/* A default tenant that is no [tenant], and (with [enroll]) no tenants.db name either. */
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1:51820\ntunnel = 192.0.2.0/25\n"
	  "[listener mx]\naddress = 203.0.113.1:25\nmode = passthrough\ndefault_tenant = Mail_Alice\n",
	  ":9: [listener mx] default_tenant: no [tenant Mail_Alice] in this file, nor a tenants.db name" },
	{ T_EDGE "[enroll]\nendpoint = 203.0.113.1\ntunnel = 192.0.2.0/25\n",
	  ":4: [enroll] endpoint: expected an address with port, like 192.0.2.1:25 or [2001:db8::1]:25, not \"203.0.113.1\"" },

	/* An address used by two listeners, or twice by one (docs/config.md). */
	{ T_EDGE "[listener a]\naddress = 203.0.113.1:25, 203.0.113.1:587\nmode = starttls\n"
	  "[listener b]\naddress = [2001:db8::1]:587, 203.0.113.1:587\nmode = starttls\n",
	  ":7: [listener b] address: also used by [listener a]" },
	{ T_EDGE "[listener a]\naddress = 203.0.113.1:443\nmode = sni\n"
	  "[listener b]\naddress = 203.0.113.2:443\nmode = sni\n"
	  "[listener c]\nmode = http\naddress = [::ffff:203.0.113.2]:443\n",
	  ":11: [listener c] address: also used by [listener b]" },
	{ T_EDGE "[listener a]\naddress = 203.0.113.1:25, 203.0.113.2:25, 203.0.113.1:25\nmode = sni\n",
	  ":4: [listener a] address: 203.0.113.1:25 listed twice" },

	/* Missing tunnel_address, and other schema errors. */
	{ T_EDGE "[tenant alice]\nhostnames = mail.alice.test\n",
	  ":3: [tenant alice]: missing required key 'tunnel_address'" },
	{ T_EDGE T_ALICE "\n[tenant bob]\nproxy = v1\n",
	  ":7: [tenant bob]: missing required key 'tunnel_address'" },
	{ T_EDGE "[tenant alice]\ntunnel_address = 192.0.2.2:51820\n",
	  ":4: [tenant alice] tunnel_address: expected a comma-separated list of addresses "
	  "without port, like 192.0.2.1 or 2001:db8::1, not \"192.0.2.2:51820\"" },
	{ T_EDGE "[tenant alice]\ntunnel_address = 192.0.2.2\nproxy = v3\n",
	  ":5: [tenant alice] proxy: expected one of v2, v1, none, not \"v3\"" },
	{ T_EDGE "[tenant alice]\ntunnel_address = 192.0.2.2\nmax_connections = 1000001\n",
	  ":5: [tenant alice] max_connections: expected a whole number from 1 to 1000000, not \"1000001\"" },
	{ "[listener smtp]\naddress = 203.0.113.1:25\nmode = sni\n", ": missing section [edge]" },
	{ "[edge]\nlog_level = info\n", ":1: [edge]: missing required key 'name'" },
	{ T_EDGE "log_level = trace\n",
	  ":3: [edge] log_level: expected one of error, warn, info, debug, not \"trace\"" },
	{ T_EDGE "[listener smtp]\naddress = 203.0.113.1:25\nmode = proxy\n",
	  ":5: [listener smtp] mode: expected one of sni, starttls, passthrough, http, not \"proxy\"" },
	{ T_EDGE "[listener smtp]\naddress = 203.0.113.1:25\nmode = starttls\npreamble = pop3\n",
	  ":6: [listener smtp] preamble: expected one of smtp, imap, not \"pop3\"" },
	{ T_EDGE "[listener smtp]\naddress = 203.0.113.1\nmode = sni\n",
	  ":4: [listener smtp] address: expected a comma-separated list of addresses with port, "
	  "like 192.0.2.1:25 or [2001:db8::1]:25, not \"203.0.113.1\"" },
	{ T_EDGE "[listener smtp]\nmode = sni\n", ":3: [listener smtp]: missing required key 'address'" },
	{ T_EDGE "[listener smtp]\naddress = 203.0.113.1:25\nmode = sni\nidle_timeout = 0s\n",
	  ":6: [listener smtp] idle_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), "
	  "from 1000ms to 86400000ms, not \"0s\"" },
	{ T_EDGE "max_connections = 1000001\n",
	  ":3: [edge] max_connections: expected a whole number from 1 to 1000000, not \"1000001\"" },
	{ T_EDGE "[tenant]\n", ":3: section [tenant] needs a name: [tenant NAME]" },
	{ T_EDGE T_ALICE "[tenant alice]\n", ":6: section [tenant alice] appears twice (first at line 3)" },
	{ T_EDGE "[tenant alice]\ntunnel_address = 192.0.2.2\nhostname = a.test\n",
	  ":5: [tenant alice] hostname: unknown key" },
};

static void
test_edge_conf_errors(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;
	char err[T_ERR_MAX], want[T_ERR_MAX];

	for (size_t i = 0; i < sizeof(t_error_cases) / sizeof(t_error_cases[0]); i++) {
		const struct t_error_case *c = &t_error_cases[i];
		assert_int_equal(testutil_write_file(s->path, c->text, strlen(c->text), 0644), 0);
		snprintf(want, sizeof(want), "%s%s", s->path, c->want);
		memset(&ec, 0xAA, sizeof(ec));
		err[0] = '\0';
		int rc = edge_conf_load(s->path, &ec, err, sizeof(err));
		if (rc != -1)
			fail_msg("case %zu accepted:\n%s", i, c->text);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err, want);
		assert_null(ec.conf);
		assert_null(ec.main);
		assert_int_equal(ec.nlisteners, 0);
		assert_int_equal(ec.ntenants, 0);
	}
}

static void
test_edge_conf_missing_file(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct edge_conf ec;
	char err[T_ERR_MAX], want[T_ERR_MAX];

	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", s->path);
	assert_int_equal(edge_conf_load(s->path, &ec, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(ec.conf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, testutil_tmpdir_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_edge_conf_full),
		T(test_edge_conf_defaults),
		T(test_edge_conf_accepted_edges),
		T(test_edge_conf_enroll),
		T(test_edge_conf_errors),
		T(test_edge_conf_missing_file),
	};
	return cmocka_run_group_tests_name("edge_conf", tests, NULL, NULL);
}
