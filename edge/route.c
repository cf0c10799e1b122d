/*
 * route: the edge's choice of tenant for one connection.
 *
 * A route table is an immutable snapshot of the tenants, built once per
 * configuration load. Connections hold a reference, so a reload swaps in a
 * new table while existing connections finish on the one they started with.
 * Names are kept lower-cased in two sorted arrays (exact names, and the
 * suffixes of "*.suffix" names) and looked up by binary search.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"
#include "edge.h"

struct route_name {
	char *name;		/* lower case; for suffixes without the "*." */
	size_t tenant;		/* index into tenants */
};

struct route_table {
	unsigned refs;
	struct edge_conf conf;		/* owned; tenants borrow from it */
	struct route_tenant *tenants;
	size_t ntenants;
	struct route_name *exact, *suffix;
	size_t nexact, nsuffix;
};

static int
route_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct route_name *)a)->name, ((const struct route_name *)b)->name);
}

static char *
route_lower(const char *s, size_t len)
{
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[len] = '\0';
	return out;
}

static void
route_table_free(struct route_table *rt)
{
	for (size_t i = 0; i < rt->nexact; i++)
		free(rt->exact[i].name);
	for (size_t i = 0; i < rt->nsuffix; i++)
		free(rt->suffix[i].name);
	free(rt->exact);
	free(rt->suffix);
	free(rt->tenants);
	edge_conf_free(&rt->conf);
	free(rt);
}

/* Fill the tenants and the two name arrays. Returns 0 or -1 (out of memory). */
static int
route_table_fill(struct route_table *rt, struct metrics *m)
{
	size_t nnames = 0;

	rt->ntenants = rt->conf.ntenants;
	for (size_t i = 0; i < rt->ntenants; i++)
		nnames += edge_conf_tenant(&rt->conf, i)->hostnames.n;
	rt->tenants = calloc(rt->ntenants + 1, sizeof(*rt->tenants));
	rt->exact = calloc(nnames + 1, sizeof(*rt->exact));
	rt->suffix = calloc(nnames + 1, sizeof(*rt->suffix));
	if (rt->tenants == NULL || rt->exact == NULL || rt->suffix == NULL)
		return -1;
	for (size_t i = 0; i < rt->ntenants; i++) {
		const struct edge_tenant_conf *tc = edge_conf_tenant(&rt->conf, i);
		struct route_tenant *t = &rt->tenants[i];

		t->name = tc->name;
		t->tunnel = tc->tunnel_address.v;
		t->ntunnel = tc->tunnel_address.n;
		t->proxy = tc->proxy;
		t->max_connections = (unsigned)tc->max_connections;
		t->egress_source = tc->egress_source.v;
		t->negress_source = tc->egress_source.n;
		t->stats = metrics_tenant(m, tc->name);
		if (t->stats == NULL)
			return -1;
		for (size_t h = 0; h < tc->hostnames.n; h++) {
			const char *name = tc->hostnames.v[h];
			int wild = name[0] == '*';
			struct route_name *rn = wild ? &rt->suffix[rt->nsuffix] : &rt->exact[rt->nexact];

			rn->name = wild ? route_lower(name + 2, strlen(name) - 2)
					: route_lower(name, strlen(name));
			if (rn->name == NULL)
				return -1;
			rn->tenant = i;
			if (wild)
				rt->nsuffix++;
			else
				rt->nexact++;
		}
	}
	qsort(rt->exact, rt->nexact, sizeof(*rt->exact), route_name_cmp);
	qsort(rt->suffix, rt->nsuffix, sizeof(*rt->suffix), route_name_cmp);
	return 0;
}

struct route_table *
route_table_new(struct edge_conf *ec, struct metrics *m)
{
	struct route_table *rt = calloc(1, sizeof(*rt));

	if (rt == NULL) {
		edge_conf_free(ec);
		return NULL;
	}
	rt->refs = 1;
	rt->conf = *ec;
	memset(ec, 0, sizeof(*ec));
	if (route_table_fill(rt, m) != 0) {
		route_table_free(rt);
		return NULL;
	}
	return rt;
}

struct route_table *
route_table_ref(struct route_table *rt)
{
	rt->refs++;
	return rt;
}

void
route_table_unref(struct route_table **rtp)
{
	struct route_table *rt = *rtp;

	if (rt == NULL)
		return;
	*rtp = NULL;
	if (--rt->refs == 0)
		route_table_free(rt);
}

const struct edge_conf *
route_table_conf(const struct route_table *rt)
{
	return &rt->conf;
}

static const struct route_name *
route_search(const struct route_name *v, size_t n, const char *name)
{
	struct route_name key = { .name = (char *)name };

	return bsearch(&key, v, n, sizeof(*v), route_name_cmp);
}

const struct route_tenant *
route_find(const struct route_table *rt, const char *name, const struct addr *dst,
	   const char *default_tenant, enum route_by *by_r)
{
	char lower[DNSNAME_MAX + 1];
	const struct route_name *rn;
	size_t len = name != NULL ? strlen(name) : 0;

	if (len > 0 && len <= DNSNAME_MAX) {
		for (size_t i = 0; i <= len; i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		if ((rn = route_search(rt->exact, rt->nexact, lower)) != NULL) {
			*by_r = ROUTE_BY_NAME;
			return &rt->tenants[rn->tenant];
		}
		/* The longest suffix first: after each dot, left to right. */
		for (size_t i = 0; i < len; i++) {
			if (lower[i] != '.')
				continue;
			if ((rn = route_search(rt->suffix, rt->nsuffix, lower + i + 1)) != NULL) {
				*by_r = ROUTE_BY_SUFFIX;
				return &rt->tenants[rn->tenant];
			}
		}
	}
	if (dst != NULL) {
		for (size_t i = 0; i < rt->ntenants; i++) {
			const struct conf_addr_list *pub =
				&edge_conf_tenant(&rt->conf, i)->public_addresses;
			for (size_t a = 0; a < pub->n; a++) {
				struct addr bare = *dst;

				addr_set_port(&bare, 0);
				if (addr_equal(&bare, &pub->v[a])) {
					*by_r = ROUTE_BY_ADDRESS;
					return &rt->tenants[i];
				}
			}
		}
	}
	if (default_tenant != NULL) {
		for (size_t i = 0; i < rt->ntenants; i++) {
			if (strcmp(rt->tenants[i].name, default_tenant) == 0) {
				*by_r = ROUTE_BY_DEFAULT;
				return &rt->tenants[i];
			}
		}
	}
	*by_r = ROUTE_BY_NONE;
	return NULL;
}

const struct route_tenant *
route_find_tunnel(const struct route_table *rt, const struct addr *a)
{
	struct addr bare = *a;

	addr_set_port(&bare, 0);
	for (size_t i = 0; i < rt->ntenants; i++) {
		for (size_t k = 0; k < rt->tenants[i].ntunnel; k++) {
			if (addr_equal(&bare, &rt->tenants[i].tunnel[k]))
				return &rt->tenants[i];
		}
	}
	return NULL;
}

const char *
route_by_text(enum route_by by)
{
	switch (by) {
	case ROUTE_BY_NAME:
		return "name";
	case ROUTE_BY_SUFFIX:
		return "suffix";
	case ROUTE_BY_ADDRESS:
		return "address";
	case ROUTE_BY_DEFAULT:
		return "default";
	case ROUTE_BY_NONE:
		break;
	}
	return "none";
}
