/*
 * Unit tests for edge/tenants: tenants.db on disk. Invites are taken once
 * and only before they expire; tunnel addresses come from the pool in
 * order, skip the edge's own, and come back when a tenant goes; a refused
 * enrollment changes nothing; tenants persist across opens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../../edge/edge.h"
#include "testutil.h"

#define T_NOW 1800000000LL

struct t_state {
	char dir[4096];
	char path[4200];
	struct tenants *t;
	struct tenants_pool pool;
};

static int
t_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));
	char err[256];

	assert_non_null(s);
	assert_int_equal(testutil_mkdtemp(s->dir, sizeof(s->dir), "tenants"), 0);
	snprintf(s->path, sizeof(s->path), "%s/tenants.db", s->dir);
	s->t = tenants_open(s->path, err, sizeof(err));
	assert_non_null(s->t);
	assert_int_equal(cidr_parse("192.0.2.0/25", 12, &s->pool.v4), 0);
	assert_int_equal(cidr_parse("2001:db8:77::/64", 16, &s->pool.v6), 0);
	s->pool.has_v6 = 1;
	*state = s;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;

	tenants_close(&s->t);
	testutil_rmtree(s->dir);
	free(s);
	return 0;
}

/* An id (or key) for tag: tag's two bytes first, then its low byte. */
static void
t_tag(uint8_t *out, size_t n, int tag)
{
	memset(out, tag & 0xff, n);
	out[0] = (uint8_t)(tag >> 8);
	out[1] = (uint8_t)tag;
}

static void
t_invite(struct t_state *s, int tag, int64_t expires)
{
	struct tenants_invite inv = { .created = T_NOW, .expires = expires };
	char err[256];

	t_tag(inv.id, sizeof(inv.id), tag);
	memset(inv.secret, (tag & 0xff) ^ 0x5a, sizeof(inv.secret));
	snprintf(inv.hostnames, sizeof(inv.hostnames), "mail.h%u.test", tag);
	assert_int_equal(tenants_invite_add(s->t, &inv, err, sizeof(err)), 0);
}

/* Enroll name with key byte k through invite tag: the result code; x filled. */
static int
t_enroll(struct t_state *s, int tag, const char *name, int k, int64_t now, struct tenants_tenant *x)
{
	uint8_t id[TENANTS_INVITE_ID_LEN];
	char err[256];

	memset(x, 0, sizeof(*x));
	t_tag(id, sizeof(id), tag);
	snprintf(x->name, sizeof(x->name), "%s", name);
	t_tag(x->wg_key, sizeof(x->wg_key), k);
	snprintf(x->hostnames, sizeof(x->hostnames), "mail.%s.test", name);
	return tenants_enroll(s->t, id, now, &s->pool, x, err, sizeof(err));
}

static void
t_addr_is(const struct addr *a, const char *want)
{
	char text[ADDR_TEXT_MAX];

	assert_string_equal(addr_format(a, text, sizeof(text)), want);
}

static void
test_tenants_enroll(void **state)
{
	struct t_state *s = *state;
	struct tenants_invite inv;
	struct tenants_tenant x, y;
	uint8_t id[TENANTS_INVITE_ID_LEN];
	char err[256];

	t_invite(s, 1, T_NOW + 3600);
	t_invite(s, 2, T_NOW + 3600);
	t_invite(s, 3, T_NOW - 1);		/* expired */
	t_tag(id, sizeof(id), 1);
	assert_int_equal(tenants_invite_get(s->t, id, &inv, err, sizeof(err)), 0);
	assert_int_equal(inv.used, 0);
	assert_string_equal(inv.hostnames, "mail.h1.test");
	assert_int_equal(inv.secret[0], 1 ^ 0x5a);

	assert_int_equal(t_enroll(s, 1, "alice", 0xa1, T_NOW, &x), 0);
	t_addr_is(&x.tunnel_v4, "192.0.2.2");
	t_addr_is(&x.tunnel_v6, "2001:db8:77::2");
	assert_true(x.id > 0);
	assert_int_equal(tenants_invite_get(s->t, id, &inv, err, sizeof(err)), 0);
	assert_int_equal(inv.used, T_NOW);
	/* Used once: never again. Expired or unknown: refused. */
	assert_int_equal(t_enroll(s, 1, "mallory", 0xee, T_NOW, &y), 1);
	assert_int_equal(t_enroll(s, 3, "mallory", 0xee, T_NOW, &y), 1);
	assert_int_equal(t_enroll(s, 9, "mallory", 0xee, T_NOW, &y), 1);
	/* The same key or name again is refused, and the invite is not spent. */
	assert_int_equal(t_enroll(s, 2, "bob", 0xa1, T_NOW, &y), 1);
	assert_int_equal(t_enroll(s, 2, "alice", 0xb2, T_NOW, &y), 1);
	assert_int_equal(t_enroll(s, 2, "bob", 0xb2, T_NOW, &y), 0);
	t_addr_is(&y.tunnel_v4, "192.0.2.3");
	t_addr_is(&y.tunnel_v6, "2001:db8:77::3");
	t_tag(id, sizeof(id), 9);
	assert_int_equal(tenants_invite_get(s->t, id, &inv, err, sizeof(err)), 1);
}

static void
test_tenants_manage(void **state)
{
	struct t_state *s = *state;
	struct tenants_tenant x, *list = NULL;
	char err[256];
	size_t n = 0;

	t_invite(s, 1, T_NOW + 60);
	t_invite(s, 2, T_NOW + 60);
	t_invite(s, 3, T_NOW + 60);
	assert_int_equal(t_enroll(s, 1, "zed", 1, T_NOW, &x), 0);
	assert_int_equal(t_enroll(s, 2, "amy", 2, T_NOW, &x), 0);
	assert_int_equal(tenants_list(s->t, &list, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "amy");
	assert_string_equal(list[1].name, "zed");
	assert_int_equal(list[0].wg_key[1], 2);
	assert_string_equal(list[0].hostnames, "mail.amy.test");
	free(list);

	assert_int_equal(tenants_suspend(s->t, "zed", 1, err, sizeof(err)), 0);
	assert_int_equal(tenants_get(s->t, "zed", &x, err, sizeof(err)), 0);
	assert_int_equal(x.suspended, 1);
	assert_int_equal(tenants_suspend(s->t, "zed", 0, err, sizeof(err)), 0);
	assert_int_equal(tenants_get(s->t, "zed", &x, err, sizeof(err)), 0);
	assert_int_equal(x.suspended, 0);
	assert_int_equal(tenants_suspend(s->t, "nobody", 1, err, sizeof(err)), 1);
	assert_int_equal(tenants_get(s->t, "nobody", &x, err, sizeof(err)), 1);

	/* A removed tenant's addresses are given again. */
	assert_int_equal(tenants_remove(s->t, "zed", err, sizeof(err)), 0);
	assert_int_equal(tenants_remove(s->t, "zed", err, sizeof(err)), 1);
	assert_int_equal(t_enroll(s, 3, "kim", 3, T_NOW, &x), 0);
	t_addr_is(&x.tunnel_v4, "192.0.2.2");

	/* Kept on disk. */
	tenants_close(&s->t);
	s->t = tenants_open(s->path, err, sizeof(err));
	assert_non_null(s->t);
	assert_int_equal(tenants_get(s->t, "kim", &x, err, sizeof(err)), 0);
	t_addr_is(&x.tunnel_v6, "2001:db8:77::2");
}

static void
test_tenants_pool_full(void **state)
{
	struct t_state *s = *state;
	struct tenants_tenant x;

	/* A /30: the edge .1, one home .2, .3 is the broadcast. */
	assert_int_equal(cidr_parse("198.51.100.0/30", 15, &s->pool.v4), 0);
	s->pool.has_v6 = 0;
	t_invite(s, 1, T_NOW + 60);
	t_invite(s, 2, T_NOW + 60);
	assert_int_equal(t_enroll(s, 1, "one", 1, T_NOW, &x), 0);
	t_addr_is(&x.tunnel_v4, "198.51.100.2");
	assert_int_equal(x.tunnel_v6.len, 0);
	assert_int_equal(t_enroll(s, 2, "two", 2, T_NOW, &x), 2);
	/* A /24 holds 253 homes (.2 to .254). */
	assert_int_equal(cidr_parse("192.0.2.0/24", 12, &s->pool.v4), 0);
	for (int i = 0; i < 254; i++) {
		char name[16];
		t_invite(s, 1000 + i, T_NOW + 60);
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(t_enroll(s, 1000 + i, name, 1000 + i, T_NOW, &x), i < 253 ? 0 : 2);
		if (i == 252)
			t_addr_is(&x.tunnel_v4, "192.0.2.254");
	}
}

/* Host numbers past a byte carry into the next; past the pool they are refused. */
static void
test_tenants_pool_host(void **state)
{
	struct cidr pool;
	struct addr a;

	(void)state;
	assert_int_equal(cidr_parse("2001:db8::/32", 13, &pool), 0);
	assert_int_equal(tenants_pool_host(&pool, 255, &a), 0);
	t_addr_is(&a, "2001:db8::ff");
	assert_int_equal(tenants_pool_host(&pool, 256, &a), 0);
	t_addr_is(&a, "2001:db8::100");
	assert_int_equal(tenants_pool_host(&pool, 0x10001, &a), 0);
	t_addr_is(&a, "2001:db8::1:1");
	assert_int_equal(cidr_parse("198.51.100.0/24", 15, &pool), 0);
	assert_int_equal(tenants_pool_host(&pool, 255, &a), 0);
	t_addr_is(&a, "198.51.100.255");
	assert_int_equal(tenants_pool_host(&pool, 256, &a), -1);
	assert_int_equal(cidr_parse("198.51.100.128/25", 17, &pool), 0);
	assert_int_equal(tenants_pool_host(&pool, 2, &a), 0);
	t_addr_is(&a, "198.51.100.130");
}

static void
test_tenants_names_and_schema(void **state)
{
	struct t_state *s = *state;
	sqlite3 *db;
	char err[256];

	assert_int_equal(tenants_name_check("alice"), 0);
	assert_int_equal(tenants_name_check("a-1"), 0);
	assert_int_equal(tenants_name_check(""), -1);
	assert_int_equal(tenants_name_check("-a"), -1);
	assert_int_equal(tenants_name_check("a-"), -1);
	assert_int_equal(tenants_name_check("Alice"), -1);
	assert_int_equal(tenants_name_check("a.b"), -1);
	tenants_close(&s->t);
	assert_int_equal(sqlite3_open(s->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(tenants_open(s->path, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tenants_enroll, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tenants_manage, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tenants_pool_full, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tenants_names_and_schema, t_setup, t_teardown),
		cmocka_unit_test(test_tenants_pool_host),
	};
	return cmocka_run_group_tests_name("tenants", tests, NULL, NULL);
}
