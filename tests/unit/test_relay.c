/*
 * Unit tests for home/relay_state.c and home/relay_mode.c: relay.conf
 * read, refused with its line, written and read back; and what relay mode
 * does to a loaded homeportd.conf (listeners onto the tunnel, PROXY from
 * the edges only, mail out through the edges' egress in preference order).
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

#include "../../home/home.h"
#include "../../home/relay.h"
#include "testutil.h"

#define T_ERR_MAX 1024

/* Two edges; the second joined first in preference (5 < 10). */
static const char t_two[] =
	"[relay]\n"
	"mode = on\n"
	"interface = hp-test0\n"
	"\n"
	"[edge edge1]\n"
	"public_key = YI6J0Mw0/wJvAVXb0Ox6Qf0SqxRScg6Pe9BXi3vkIn0=\n"
	"endpoint = 203.0.113.1:51820\n"
	"public_address = 203.0.113.1\n"
	"tenant = example\n"
	"address = 192.0.2.2/24, 2001:db8:77::2/64\n"
	"edge_address = 192.0.2.1, 2001:db8:77::1\n"
	"egress_port = 1080\n"
	"hostnames = mail.example.test\n"
	"preference = 10\n"
	"\n"
	"[edge edge2]\n"
	"public_key = 8Cu9dzDLSU8/pt5sM1iGOGk1flHUTIYaA8iYHeFGv0g=\n"
	"endpoint = 203.0.113.2:51820\n"
	"tenant = example\n"
	"address = 198.51.100.202/28\n"
	"edge_address = 198.51.100.193\n"
	"egress_port = 1081\n"
	"hostnames = mx2.example.test\n"
	"preference = 5\n";

static void
t_load(const char *text, struct relay_state *rs)
{
	char err[T_ERR_MAX] = "";

	if (relay_state_load_buffer("relay.conf", text, strlen(text), rs, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static void
test_relay_state_read(void **state)
{
	struct relay_state rs;
	struct relay_edge *e;
	char a[ADDR_TEXT_MAX];

	(void)state;
	t_load(t_two, &rs);
	assert_true(relay_state_active(&rs));
	assert_string_equal(rs.main->interface, "hp-test0");
	assert_int_equal(rs.nedges, 2);
	e = relay_state_find(&rs, "edge1");
	assert_non_null(e);
	assert_int_equal(e->ntunnel, 2);
	assert_string_equal(addr_format(&e->tunnel[0].addr, a, sizeof(a)), "192.0.2.2");
	assert_int_equal(e->tunnel[0].prefix, 24);
	assert_string_equal(addr_format(&e->tunnel[1].addr, a, sizeof(a)), "2001:db8:77::2");
	assert_int_equal(e->tunnel[1].prefix, 64);
	assert_int_equal(e->key[0], 0x60);	/* 'Y' 'I' decode to 0x60 0x8e */
	assert_int_equal(e->key[1], 0x8e);
	assert_null(relay_state_find(&rs, "edge3"));
	relay_state_free(&rs);

	/* Off, or no edges: not active. */
	t_load("[relay]\nmode = off\n", &rs);
	assert_false(relay_state_active(&rs));
	relay_state_free(&rs);
	t_load("[relay]\nmode = on\n", &rs);
	assert_false(relay_state_active(&rs));
	relay_state_free(&rs);
}

static void
test_relay_state_round_trip(void **state)
{
	struct relay_state rs, back;
	const struct relay_edge *edges[2];
	char *text, *again;

	(void)state;
	t_load(t_two, &rs);
	edges[0] = relay_state_edge(&rs, 0);
	edges[1] = relay_state_edge(&rs, 1);
	text = relay_state_format(RELAY_MODE_OFF, "hp-other", edges, 2);
	assert_non_null(text);
	t_load(text, &back);
	assert_false(relay_state_active(&back));
	assert_string_equal(back.main->interface, "hp-other");
	assert_int_equal(back.nedges, 2);
	assert_int_equal(relay_state_edge(&back, 1)->preference, 5);
	assert_int_equal(relay_state_edge(&back, 1)->egress_port, 1081);
	assert_true(addr_equal(&relay_state_edge(&back, 0)->public_address, &relay_state_edge(&rs, 0)->public_address));
	assert_int_equal(relay_state_edge(&back, 1)->public_address.len, 0);
	assert_memory_equal(relay_state_edge(&back, 0)->key, relay_state_edge(&rs, 0)->key, WG_KEY_LEN);
	/* Written again from what was read back: the same text. */
	edges[0] = relay_state_edge(&back, 0);
	edges[1] = relay_state_edge(&back, 1);
	again = relay_state_format(RELAY_MODE_OFF, "hp-other", edges, 2);
	assert_string_equal(again, text);
	free(again);
	free(text);
	relay_state_free(&back);
	relay_state_free(&rs);
}

/* An edge NAME, our tunnel addresses ADDRS, its address EDGE: seven lines. */
#define T_EDGE(name, addrs, edge)							\
	"[edge " name "]\npublic_key = YI6J0Mw0/wJvAVXb0Ox6Qf0SqxRScg6Pe9BXi3vkIn0=\n"	\
	"endpoint = 203.0.113.1:51820\ntenant = t\naddress = " addrs "\n"		\
	"edge_address = " edge "\nhostnames = a.example\n\n"

static void
test_relay_state_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[relay]\ninterface = much-too-long-name\n",
		  "relay.conf:2: [relay] interface: at most 15 characters" },
		{ "[edge e]\npublic_key = nope\nendpoint = 203.0.113.1:51820\ntenant = t\n"
		  "address = 192.0.2.2/24\nedge_address = 192.0.2.1\nhostnames = a.example\n",
		  "relay.conf:2: [edge e] public_key: not a WireGuard key" },
		{ "[edge e]\npublic_key = YI6J0Mw0/wJvAVXb0Ox6Qf0SqxRScg6Pe9BXi3vkIn0=\n"
		  "endpoint = 203.0.113.1:51820\ntenant = t\naddress = 192.0.2.2/33\n"
		  "edge_address = 192.0.2.1\nhostnames = a.example\n",
		  "relay.conf:5: [edge e] address: '192.0.2.2/33': expected at most two ADDRESS/PREFIX, "
		  "one per family" },
		{ "[edge e]\npublic_key = YI6J0Mw0/wJvAVXb0Ox6Qf0SqxRScg6Pe9BXi3vkIn0=\n"
		  "endpoint = 203.0.113.1:51820\ntenant = t\naddress = 192.0.2.2/24\n"
		  "edge_address = 192.0.2.1\nhostnames = not_a_host!\n",
		  "relay.conf:7: [edge e] hostnames: 'not_a_host!' is not a host name" },
		{ "[edge e]\npublic_key = YI6J0Mw0/wJvAVXb0Ox6Qf0SqxRScg6Pe9BXi3vkIn0=\n"
		  "tenant = t\naddress = 192.0.2.2/24\nedge_address = 192.0.2.1\nhostnames = a.example\n",
		  NULL },	/* no endpoint: the loader's own message */
		/* Two edges with the same address, or giving us the same one. */
		{ T_EDGE("a", "192.0.2.2/24", "192.0.2.1") T_EDGE("b", "192.0.2.130/25", "192.0.2.1"),
		  "relay.conf:14: [edge b] edge_address: 192.0.2.1 is [edge a]'s address too: the two edges' "
		  "tunnel pools clash (one of them must use another)" },
		{ T_EDGE("a", "192.0.2.2/25, 2001:db8:77::2/64", "192.0.2.1")
		  T_EDGE("b", "192.0.2.66/26, 2001:db8:77::2/64", "192.0.2.65"),
		  "relay.conf:13: [edge b] address: '2001:db8:77::2/64' is ours from [edge a] too: the two "
		  "edges' tunnel pools clash (one of them must use another)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relay_state rs;
		char err[T_ERR_MAX] = "";

		if (relay_state_load_buffer("relay.conf", cases[i].text, strlen(cases[i].text), &rs, err,
					    sizeof(err)) == 0)
			fail_msg("case %zu accepted", i);
		if (cases[i].want != NULL && strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err, cases[i].want);
		assert_true(strstr(err, "relay.conf:") == err);
		assert_null(rs.conf);
	}
}

static const char t_home[] =
	"[home]\nhostname = mail.example.test\nstate_dir = /nonexistent\n"
	"[listener mx]\naddress = 0.0.0.0:25, [::]:25\nmode = smtp\n"
	"[listener imaps]\naddress = 0.0.0.0:993\nmode = imaps\n";

static void
t_home_load(struct testutil_tmpdir *s, struct home_conf *hc)
{
	char err[T_ERR_MAX] = "";

	assert_int_equal(testutil_write_file(s->path, t_home, strlen(t_home), 0644), 0);
	if (home_conf_load(s->path, hc, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static int
t_setup(void **state)
{
	*state = testutil_tmpdir_new("relay", "homeportd.conf");
	return *state != NULL ? 0 : -1;
}

static void
test_relay_apply(void **state)
{
	struct home_conf hc;
	struct relay_state rs;
	struct home_listener_conf *mx, *imaps;
	char err[T_ERR_MAX] = "", a[ADDR_TEXT_MAX];
	struct addr probe;

	t_home_load(*state, &hc);
	t_load(t_two, &rs);
	assert_int_equal(relay_apply(&hc, &rs, err, sizeof(err)), 0);
	mx = home_conf_listener(&hc, 0);
	imaps = home_conf_listener(&hc, 1);
	/* One port (25, listed twice), three tunnel addresses. */
	assert_int_equal(mx->address.n, 3);
	assert_string_equal(addr_format(&mx->address.v[0], a, sizeof(a)), "192.0.2.2:25");
	assert_string_equal(addr_format(&mx->address.v[1], a, sizeof(a)), "[2001:db8:77::2]:25");
	assert_string_equal(addr_format(&mx->address.v[2], a, sizeof(a)), "198.51.100.202:25");
	assert_int_equal(imaps->address.n, 3);
	assert_int_equal(addr_port(&imaps->address.v[2]), 993);
	/* PROXY required, and only from the edges' own tunnel addresses. */
	assert_true(mx->proxy);
	assert_int_equal(mx->proxy_from.n, 3);
	assert_int_equal(addr_parse("192.0.2.1", 9, ADDR_PORT_NONE, &probe), 0);
	assert_true(cidr_list_match(mx->proxy_from.v, mx->proxy_from.n, &probe));
	assert_int_equal(addr_parse("192.0.2.2", 9, ADDR_PORT_NONE, &probe), 0);
	assert_false(cidr_list_match(mx->proxy_from.v, mx->proxy_from.n, &probe));
	assert_int_equal(addr_parse("198.51.100.193", 14, ADDR_PORT_NONE, &probe), 0);
	assert_true(cidr_list_match(imaps->proxy_from.v, imaps->proxy_from.n, &probe));
	/* Out through the edges, preference 5 (edge2) before 10 (edge1). */
	assert_int_equal(hc.outbound->transport, HOME_TRANSPORT_EDGE);
	assert_int_equal(hc.outbound->egress.n, 2);
	assert_string_equal(addr_format(&hc.outbound->egress.v[0], a, sizeof(a)), "198.51.100.193:1081");
	assert_string_equal(addr_format(&hc.outbound->egress.v[1], a, sizeof(a)), "192.0.2.1:1080");
	relay_state_free(&rs);
	home_conf_free(&hc);
}

static void
test_relay_apply_off(void **state)
{
	struct home_conf hc;
	struct relay_state rs;
	char err[T_ERR_MAX] = "", *text, a[ADDR_TEXT_MAX];
	const struct relay_edge *edges[2];
	struct relay_state two;

	t_home_load(*state, &hc);
	t_load(t_two, &two);
	edges[0] = relay_state_edge(&two, 0);
	edges[1] = relay_state_edge(&two, 1);
	text = relay_state_format(RELAY_MODE_OFF, "hp-test0", edges, 2);
	t_load(text, &rs);
	assert_int_equal(relay_apply(&hc, &rs, err, sizeof(err)), 0);
	/* Direct mode: homeportd.conf as written. */
	assert_int_equal(home_conf_listener(&hc, 0)->address.n, 2);
	assert_string_equal(addr_format(&home_conf_listener(&hc, 0)->address.v[0], a, sizeof(a)), "0.0.0.0:25");
	assert_false(home_conf_listener(&hc, 0)->proxy);
	assert_int_equal(hc.outbound->transport, HOME_TRANSPORT_DIRECT);
	free(text);
	relay_state_free(&rs);
	relay_state_free(&two);
	home_conf_free(&hc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_state_read),
		cmocka_unit_test(test_relay_state_round_trip),
		cmocka_unit_test(test_relay_state_errors),
		cmocka_unit_test_setup_teardown(test_relay_apply, t_setup, testutil_tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_relay_apply_off, t_setup, testutil_tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
