/*
 * Unit tests for edge/tunnel's pure parts: when a home's tunnel is stale,
 * and which peers to set and remove so that the device's peers are
 * tenants.db's.
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
#include "wg.h"
#include "../../edge/edge.h"

#define T_NOW 1800000000LL

struct t_stale_case {
	int64_t last_handshake;		/* Unix seconds, 0: never */
	int stale;
};

static const struct t_stale_case t_stale_cases[] = {
	{ 0, 1 },					/* never handshook */
	{ T_NOW, 0 },					/* just now */
	{ T_NOW - 25, 0 },				/* a keepalive ago */
	{ T_NOW - 120, 0 },				/* REKEY_AFTER_TIME: a live tunnel rekeys here */
	{ T_NOW - TUNNEL_STALE_AFTER, 0 },		/* the last second it is trusted */
	{ T_NOW - TUNNEL_STALE_AFTER - 1, 1 },		/* past REJECT_AFTER_TIME: its keys are dead */
	{ T_NOW - 3600, 1 },
	{ T_NOW + 30, 0 },				/* a clock step back: not a reason to refuse mail */
	{ -5, 1 },					/* nonsense from a device reads as never */
};

static void
test_tunnel_stale(void **state)
{
	(void)state;
	assert_int_equal(TUNNEL_STALE_AFTER, 180);
	for (size_t i = 0; i < sizeof(t_stale_cases) / sizeof(t_stale_cases[0]); i++) {
		const struct t_stale_case *c = &t_stale_cases[i];

		if (tunnel_stale(c->last_handshake, T_NOW) != c->stale)
			fail_msg("case %zu (handshake %lld s ago): want %s", i, (long long)(T_NOW - c->last_handshake),
				 c->stale ? "stale" : "live");
	}
}

static struct addr
t_addr(const char *text)
{
	struct addr a;

	assert_int_equal(addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, &a), 0);
	return a;
}

static struct tenants_tenant
t_row(const char *name, uint8_t key, const char *v4, const char *v6, int suspended)
{
	struct tenants_tenant x;

	memset(&x, 0, sizeof(x));
	snprintf(x.name, sizeof(x.name), "%s", name);
	memset(x.wg_key, key, sizeof(x.wg_key));
	x.tunnel_v4 = t_addr(v4);
	if (v6 != NULL)
		x.tunnel_v6 = t_addr(v6);
	x.suspended = suspended;
	return x;
}

/* A peer on the device: key byte, allowed IPs as text. */
static void
t_peer(struct wg_device *dev, uint8_t key, const char *const *allowed, size_t n)
{
	struct wg_peer *p = wg_device_add_peer(dev);

	assert_non_null(p);
	memset(p->public_key, key, sizeof(p->public_key));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cidr_parse(allowed[i], strlen(allowed[i]), &p->allowed_ips[p->n_allowed_ips++]), 0);
	p->last_handshake_sec = T_NOW - 10;
}

static void
test_tunnel_peer_of(void **state)
{
	struct tenants_tenant x = t_row("alice", 0xa1, "192.0.2.2", "2001:db8:77::2", 0);
	struct wg_peer p;
	char text[64];

	(void)state;
	tunnel_peer_of(&x, &p);
	assert_memory_equal(p.public_key, x.wg_key, sizeof(x.wg_key));
	assert_int_equal(p.n_allowed_ips, 2);
	assert_string_equal(cidr_format(&p.allowed_ips[0], text, sizeof(text)), "192.0.2.2/32");
	assert_string_equal(cidr_format(&p.allowed_ips[1], text, sizeof(text)), "2001:db8:77::2/128");
	/* No endpoint: the edge learns the home's (behind its NAT) from its handshakes. */
	assert_int_equal(p.endpoint.len, 0);
	assert_int_equal(p.keepalive, 0);
	x = t_row("bob", 0xb1, "192.0.2.3", NULL, 0);
	tunnel_peer_of(&x, &p);
	assert_int_equal(p.n_allowed_ips, 1);
	assert_string_equal(cidr_format(&p.allowed_ips[0], text, sizeof(text)), "192.0.2.3/32");
}

static void
test_tunnel_plan(void **state)
{
	static const char *const alice[] = { "2001:db8:77::2/128", "192.0.2.2/32" };	/* any order */
	static const char *const bob_old[] = { "192.0.2.9/32" };
	static const char *const erin[] = { "192.0.2.5/32" };
	static const char *const stranger[] = { "192.0.2.7/32" };
	const struct tenants_tenant rows[] = {
		t_row("alice", 0xa1, "192.0.2.2", "2001:db8:77::2", 0),	/* right already: untouched */
		t_row("bob", 0xb1, "192.0.2.3", NULL, 0),		/* other allowed IPs: set */
		t_row("carol", 0xc1, "192.0.2.4", NULL, 0),		/* new: set */
		t_row("erin", 0xe1, "192.0.2.5", NULL, 1),		/* suspended: removed */
		t_row("fred", 0xf1, "192.0.2.6", NULL, 1),		/* suspended, no peer: nothing */
	};
	struct wg_device dev;
	size_t set[8], nset = 99, remove[8], nremove = 99;

	(void)state;
	memset(&dev, 0, sizeof(dev));
	t_peer(&dev, 0x5a, stranger, 1);	/* removed from tenants.db: removed */
	t_peer(&dev, 0xe1, erin, 1);
	t_peer(&dev, 0xb1, bob_old, 1);
	t_peer(&dev, 0xa1, alice, 2);
	assert_int_equal(tunnel_plan(&dev, rows, 5, set, &nset, remove, &nremove), 0);
	assert_int_equal(nset, 2);
	assert_int_equal(set[0], 1);
	assert_int_equal(set[1], 2);
	assert_int_equal(nremove, 2);
	assert_int_equal(remove[0], 0);
	assert_int_equal(remove[1], 1);

	/* An empty tenants.db empties the device; an empty device gets every active row. */
	assert_int_equal(tunnel_plan(&dev, rows, 0, set, &nset, remove, &nremove), 0);
	assert_int_equal(nset, 0);
	assert_int_equal(nremove, 4);
	wg_device_clear(&dev);
	assert_int_equal(tunnel_plan(&dev, rows, 5, set, &nset, remove, &nremove), 0);
	assert_int_equal(nset, 3);
	assert_int_equal(nremove, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tunnel_stale),
		cmocka_unit_test(test_tunnel_peer_of),
		cmocka_unit_test(test_tunnel_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
