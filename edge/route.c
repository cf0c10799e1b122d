/*
 * route: the edge's choice of tenant for one connection.
 *
 * A route table is an immutable snapshot of the tenants, built from two
 * sources: the [tenant] sections of the configuration and the homes that
 * enrolled (tenants.db rows). It is built again when either changes (a
 * reload, an enrollment, the operator's tenant command); connections hold
 * a reference, so a new table is swapped in while existing connections
 * finish on the one they started with. Tables built from one configuration
 * share it (struct route_conf, counted).
 *
 * The configuration is authoritative: a tenants.db tenant whose name or
 * tunnel address is a [tenant]'s is left out, and a host name already
 * routed (by a [tenant], or by a home that enrolled earlier) stays with
 * its first owner. Each such conflict becomes a warning the caller logs.
 *
 * Names are kept lower-cased in two sorted arrays (exact names, and the
 * suffixes of "*.suffix" names) and looked up by binary search.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"
#include "edge.h"

struct route_name {
	char *name;		/* lower case; for suffixes without the "*." */
	size_t tenant;		/* index into tenants: also the claim's precedence */
};

/* The configuration, shared by every table built from it. */
struct route_conf {
	unsigned refs;
	struct edge_conf ec;
};

/* What the table keeps of a tenants.db row. */
struct route_db {
	char name[TENANTS_NAME_MAX + 1];
	uint8_t wg_key[TENANTS_KEY_LEN];
	struct addr tunnel[2];
};

struct route_table {
	unsigned refs;
	struct route_conf *conf;
	struct route_tenant *tenants;	/* the [tenant] sections (nconf), then tenants.db's */
	size_t ntenants, nconf;
	struct route_db *db;
	size_t ndb;
	struct route_name *exact, *suffix;
	size_t nexact, nsuffix;
	char warnings[ROUTE_WARNINGS_MAX][ROUTE_WARNING_LEN];
	size_t nwarnings;		/* kept: at most ROUTE_WARNINGS_MAX */
	size_t warnings_lost;		/* beyond those */
};

static int
route_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct route_name *)a)->name, ((const struct route_name *)b)->name);
}

/* By name, then precedence: the first of equal names is the one that stays. */
static int
route_claim_cmp(const void *a, const void *b)
{
	const struct route_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->tenant < y->tenant ? -1 : x->tenant > y->tenant;
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

static void route_warn(struct route_table *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
route_warn(struct route_table *rt, const char *fmt, ...)
{
	va_list ap;

	if (rt->nwarnings == ROUTE_WARNINGS_MAX) {
		rt->warnings_lost++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(rt->warnings[rt->nwarnings++], ROUTE_WARNING_LEN, fmt, ap);
	va_end(ap);
}

static void
route_conf_unref(struct route_conf **rcp)
{
	struct route_conf *rc = *rcp;

	if (rc == NULL)
		return;
	*rcp = NULL;
	if (--rc->refs == 0) {
		edge_conf_free(&rc->ec);
		free(rc);
	}
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
	free(rt->db);
	route_conf_unref(&rt->conf);
	free(rt);
}

/* Add a claim on name[0..len) for tenant ti. Returns 0 or -1 (out of memory). */
static int
route_claim(struct route_table *rt, const char *name, size_t len, size_t ti)
{
	int wild = len > 2 && name[0] == '*' && name[1] == '.';
	struct route_name *rn = wild ? &rt->suffix[rt->nsuffix] : &rt->exact[rt->nexact];

	rn->name = wild ? route_lower(name + 2, len - 2) : route_lower(name, len);
	if (rn->name == NULL)
		return -1;
	rn->tenant = ti;
	if (wild)
		rt->nsuffix++;
	else
		rt->nexact++;
	return 0;
}

/* Sort v[0..*n) and keep the first claim of each name, warning about the others. */
static void
route_settle(struct route_table *rt, struct route_name *v, size_t *n, const char *prefix)
{
	size_t kept = 0;

	qsort(v, *n, sizeof(*v), route_claim_cmp);
	for (size_t i = 0; i < *n; i++) {
		if (kept > 0 && strcmp(v[kept - 1].name, v[i].name) == 0) {
			route_warn(rt, "host name %s%s of tenant %s is already tenant %s's: ignored", prefix,
				   v[i].name, rt->tenants[v[i].tenant].name, rt->tenants[v[kept - 1].tenant].name);
			free(v[i].name);
			continue;
		}
		v[kept++] = v[i];
	}
	*n = kept;
}

/* The [tenant] section, or tenants.db tenant, that has the tunnel address a; NULL if none. */
static const struct route_tenant *
route_tunnel_owner(const struct route_table *rt, const struct addr *a)
{
	for (size_t i = 0; i < rt->ntenants; i++) {
		for (size_t k = 0; k < rt->tenants[i].ntunnel; k++) {
			if (addr_equal(a, &rt->tenants[i].tunnel[k]))
				return &rt->tenants[i];
		}
	}
	return NULL;
}

/* Add tenants.db row x as a tenant, unless the configuration has its name or an address. */
static int
route_add_db(struct route_table *rt, const struct tenants_tenant *x, struct metrics *m)
{
	struct route_db *d = &rt->db[rt->ndb];
	struct route_tenant *t = &rt->tenants[rt->ntenants];
	size_t ti = rt->ntenants;

	for (size_t i = 0; i < rt->nconf; i++) {
		if (strcmp(rt->tenants[i].name, x->name) == 0) {
			route_warn(rt, "tenants.db tenant %s has the name of a [tenant] section: ignored", x->name);
			return 0;
		}
	}
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", x->name);
	memcpy(d->wg_key, x->wg_key, sizeof(d->wg_key));
	d->tunnel[0] = x->tunnel_v4;
	t->ntunnel = 1;
	if (x->tunnel_v6.len != 0)
		d->tunnel[t->ntunnel++] = x->tunnel_v6;
	for (size_t k = 0; k < t->ntunnel; k++) {
		const struct route_tenant *o = route_tunnel_owner(rt, &d->tunnel[k]);
		char text[ADDR_TEXT_MAX];

		if (o != NULL) {
			route_warn(rt, "tenants.db tenant %s has tunnel address %s of tenant %s: ignored", x->name,
				   addr_format(&d->tunnel[k], text, sizeof(text)), o->name);
			t->ntunnel = 0;
			return 0;
		}
	}
	t->name = d->name;
	t->tunnel = d->tunnel;
	t->proxy = EDGE_PROXY_V2;
	t->max_connections = EDGE_TENANT_CONNS_DEFAULT;
	t->wg_key = d->wg_key;
	t->suspended = x->suspended;
	if ((t->stats = metrics_tenant(m, d->name)) == NULL)
		return -1;
	rt->ndb++;
	rt->ntenants++;
	/* Host names as enrolled: comma-separated, exact names only. */
	for (const char *p = x->hostnames; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > 0 && dnsname_check(p, len, 0) == 0) {
			if (route_claim(rt, p, len, ti) != 0)
				return -1;
		} else if (len > 0) {
			route_warn(rt, "tenants.db tenant %s has a host name that is not one: ignored", x->name);
		}
		p += len + (end != NULL ? 1 : 0);
	}
	return 0;
}

/* Index order of db by id: the home that enrolled first keeps a contested name. */
static int
route_db_order_cmp(const void *a, const void *b)
{
	const struct tenants_tenant *x = *(const struct tenants_tenant *const *)a;
	const struct tenants_tenant *y = *(const struct tenants_tenant *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Fill the tenants and the two name arrays. Returns 0 or -1 (out of memory). */
static int
route_table_fill(struct route_table *rt, const struct tenants_tenant *db, size_t ndb, struct metrics *m)
{
	const struct edge_conf *ec = &rt->conf->ec;
	const struct tenants_tenant **order = NULL;
	size_t nnames = 0;
	int rc = -1;

	for (size_t i = 0; i < ec->ntenants; i++)
		nnames += edge_conf_tenant(ec, i)->hostnames.n;
	for (size_t i = 0; i < ndb; i++) {
		nnames++;
		for (const char *p = db[i].hostnames; *p != '\0'; p++)
			nnames += *p == ',';
	}
	rt->tenants = calloc(ec->ntenants + ndb + 1, sizeof(*rt->tenants));
	rt->db = calloc(ndb + 1, sizeof(*rt->db));
	rt->exact = calloc(nnames + 1, sizeof(*rt->exact));
	rt->suffix = calloc(nnames + 1, sizeof(*rt->suffix));
	order = calloc(ndb + 1, sizeof(*order));
	if (rt->tenants == NULL || rt->db == NULL || rt->exact == NULL || rt->suffix == NULL || order == NULL)
		goto out;
	for (size_t i = 0; i < ec->ntenants; i++) {
		const struct edge_tenant_conf *tc = edge_conf_tenant(ec, i);
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
			goto out;
		for (size_t h = 0; h < tc->hostnames.n; h++) {
			if (route_claim(rt, tc->hostnames.v[h], strlen(tc->hostnames.v[h]), i) != 0)
				goto out;
		}
	}
	rt->nconf = rt->ntenants = ec->ntenants;
	for (size_t i = 0; i < ndb; i++)
		order[i] = &db[i];
	qsort(order, ndb, sizeof(*order), route_db_order_cmp);
	for (size_t i = 0; i < ndb; i++) {
		if (route_add_db(rt, order[i], m) != 0)
			goto out;
	}
	route_settle(rt, rt->exact, &rt->nexact, "");
	route_settle(rt, rt->suffix, &rt->nsuffix, "*.");
	rc = 0;
out:
	free(order);
	return rc;
}

/* A table on conf (a reference taken) with the rows db[0..ndb). NULL when out of memory. */
static struct route_table *
route_table_build(struct route_conf *conf, const struct tenants_tenant *db, size_t ndb, struct metrics *m)
{
	struct route_table *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		return NULL;
	rt->refs = 1;
	rt->conf = conf;
	conf->refs++;
	if (route_table_fill(rt, db, ndb, m) != 0) {
		route_table_free(rt);
		return NULL;
	}
	return rt;
}

struct route_table *
route_table_new(struct edge_conf *ec, const struct tenants_tenant *db, size_t ndb, struct metrics *m)
{
	struct route_conf *conf = calloc(1, sizeof(*conf));
	struct route_table *rt;

	if (conf == NULL) {
		edge_conf_free(ec);
		return NULL;
	}
	conf->refs = 1;
	conf->ec = *ec;
	memset(ec, 0, sizeof(*ec));
	rt = route_table_build(conf, db, ndb, m);
	/* The table holds the configuration now (or nobody does: freed). */
	route_conf_unref(&conf);
	return rt;
}

struct route_table *
route_table_rebuild(const struct route_table *rt, const struct tenants_tenant *db, size_t ndb,
		    struct metrics *m)
{
	return route_table_build(rt->conf, db, ndb, m);
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
	return &rt->conf->ec;
}

size_t
route_table_ntenants(const struct route_table *rt)
{
	return rt->ntenants;
}

const struct route_tenant *
route_table_tenant(const struct route_table *rt, size_t i)
{
	return i < rt->ntenants ? &rt->tenants[i] : NULL;
}

size_t
route_table_nwarnings(const struct route_table *rt, size_t *lost_r)
{
	if (lost_r != NULL)
		*lost_r = rt->warnings_lost;
	return rt->nwarnings;
}

const char *
route_table_warning(const struct route_table *rt, size_t i)
{
	return i < rt->nwarnings ? rt->warnings[i] : NULL;
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
		/* Only [tenant] sections own public addresses. */
		for (size_t i = 0; i < rt->nconf; i++) {
			const struct conf_addr_list *pub =
				&edge_conf_tenant(&rt->conf->ec, i)->public_addresses;
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
	const struct route_tenant *t;

	addr_set_port(&bare, 0);
	t = route_tunnel_owner(rt, &bare);
	return t != NULL && !t->suspended ? t : NULL;
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
