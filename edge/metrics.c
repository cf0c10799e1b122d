/*
 * metrics: the edge's counters, kept by (tenant, listener) name so that they
 * survive reloads, and printed in Prometheus text format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "edge.h"

struct metrics_row {
	struct metrics_row *next;	/* in the hash bucket */
	struct metrics_row *all;	/* every row, newest first */
	char *tenant;
	char *listener;			/* NULL: a tenant's state row */
	struct metrics_cell cell;
	struct metrics_tenant tenant_state;
};

struct metrics {
	struct metrics_row *buckets[METRICS_BUCKETS];
	struct metrics_row *all;
};

static const struct {
	const char *name;
	const char *help;
} metrics_names[METRICS_COUNTERS] = {
	[METRICS_ACCEPTED] = { "accepted", "Connections accepted" },
	[METRICS_REFUSED] = { "refused", "Connections refused (caps, no route, bad input, timeouts)" },
	[METRICS_ROUTED_NAME] = { "routed_name", "Connections routed by exact server name" },
	[METRICS_ROUTED_SUFFIX] = { "routed_suffix", "Connections routed by a *.suffix name" },
	[METRICS_ROUTED_ADDRESS] = { "routed_address", "Connections routed by the address connected to" },
	[METRICS_ROUTED_DEFAULT] = { "routed_default", "Connections routed to the listener's default tenant" },
	[METRICS_TENANT_DOWN] = { "tenant_down", "Connections whose tenant could not be reached" },
	[METRICS_BYTES_FROM_CLIENT] = { "bytes_from_client", "Bytes relayed from clients to tenants" },
	[METRICS_BYTES_TO_CLIENT] = { "bytes_to_client", "Bytes relayed from tenants to clients" },
	[METRICS_EGRESS] = { "egress", "Egress connections opened" },
	[METRICS_EGRESS_REFUSED] = { "egress_refused", "Egress requests refused" },
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics **mp)
{
	struct metrics *m = *mp;

	if (m == NULL)
		return;
	for (struct metrics_row *r = m->all, *next; r != NULL; r = next) {
		next = r->all;
		free(r->tenant);
		free(r->listener);
		free(r);
	}
	free(m);
	*mp = NULL;
}

/* FNV-1a over both names, with a separator between them. */
static size_t
metrics_hash(const char *tenant, const char *listener)
{
	uint32_t h = 2166136261u;

	for (const char *p = tenant; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (const char *p = listener != NULL ? listener : ""; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % METRICS_BUCKETS;
}

static struct metrics_row *
metrics_row(struct metrics *m, const char *tenant, const char *listener)
{
	size_t h = metrics_hash(tenant, listener);
	struct metrics_row *r;

	for (r = m->buckets[h]; r != NULL; r = r->next) {
		if (strcmp(r->tenant, tenant) != 0)
			continue;
		if (listener == NULL ? r->listener == NULL
				     : r->listener != NULL && strcmp(r->listener, listener) == 0)
			return r;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->tenant = strdup(tenant);
	r->listener = listener != NULL ? strdup(listener) : NULL;
	if (r->tenant == NULL || (listener != NULL && r->listener == NULL)) {
		free(r->tenant);
		free(r->listener);
		free(r);
		return NULL;
	}
	r->next = m->buckets[h];
	m->buckets[h] = r;
	r->all = m->all;
	m->all = r;
	return r;
}

struct metrics_cell *
metrics_cell(struct metrics *m, const char *tenant, const char *listener)
{
	struct metrics_row *r = metrics_row(m, tenant, listener);

	return r != NULL ? &r->cell : NULL;
}

struct metrics_tenant *
metrics_tenant(struct metrics *m, const char *tenant)
{
	struct metrics_row *r = metrics_row(m, tenant, NULL);

	return r != NULL ? &r->tenant_state : NULL;
}

/*
 * Tenant and listener names are configuration section labels: letters,
 * digits and . _ - @ * + only, none of which needs escaping in a label value.
 */
int
metrics_format(const struct metrics *m, struct evbuffer *out)
{
	int rc = 0;

	for (int c = 0; c < METRICS_COUNTERS; c++) {
		rc |= evbuffer_add_printf(out, "# HELP homeport_edge_%s_total %s.\n"
					  "# TYPE homeport_edge_%s_total counter\n",
					  metrics_names[c].name, metrics_names[c].help,
					  metrics_names[c].name) < 0;
		for (const struct metrics_row *r = m->all; r != NULL; r = r->all) {
			if (r->listener == NULL)
				continue;
			rc |= evbuffer_add_printf(out,
						  "homeport_edge_%s_total{tenant=\"%s\",listener=\"%s\"} %llu\n",
						  metrics_names[c].name, r->tenant, r->listener,
						  (unsigned long long)r->cell.v[c]) < 0;
		}
	}
	rc |= evbuffer_add_printf(out, "# HELP homeport_edge_tenant_connections Open connections to each tenant.\n"
				  "# TYPE homeport_edge_tenant_connections gauge\n") < 0;
	for (const struct metrics_row *r = m->all; r != NULL; r = r->all) {
		if (r->listener == NULL)
			rc |= evbuffer_add_printf(out, "homeport_edge_tenant_connections{tenant=\"%s\"} %u\n",
						  r->tenant, r->tenant_state.active) < 0;
	}
	return rc ? -1 : 0;
}
