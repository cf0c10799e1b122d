/*
 * edge_cli: the operator's commands on tenants.db (docs/edge.md).
 *
 *   homeport-edge [-c FILE] tenant list
 *   homeport-edge [-c FILE] tenant show NAME
 *   homeport-edge [-c FILE] tenant suspend|resume|remove NAME
 *
 * They work while homeport-edge runs: tenants.db is SQLite in WAL mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "edge.h"

#define EDGE_CLI_TIME_MAX 32

static int
edge_cli_usage(FILE *to, int status)
{
	fprintf(to, "usage: homeport-edge [-c FILE] tenant list\n"
		    "       homeport-edge [-c FILE] tenant show NAME\n"
		    "       homeport-edge [-c FILE] tenant suspend|resume|remove NAME\n");
	return status;
}

static int
edge_cli_fail(const char *what, const char *msg)
{
	fprintf(stderr, "homeport-edge: %s: %s\n", what, msg);
	return 1;
}

static const char *
edge_cli_time(int64_t t, char out[EDGE_CLI_TIME_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, EDGE_CLI_TIME_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, EDGE_CLI_TIME_MAX, "%lld", (long long)t);
	return out;
}

static void
edge_cli_show(const struct tenants_tenant *x)
{
	char v4[ADDR_TEXT_MAX], v6[ADDR_TEXT_MAX], key[B64_ENCODED_SIZE(32)], when[EDGE_CLI_TIME_MAX];

	addr_format(&x->tunnel_v4, v4, sizeof(v4));
	if (x->tunnel_v6.len > 0)
		addr_format(&x->tunnel_v6, v6, sizeof(v6));
	else
		snprintf(v6, sizeof(v6), "none");
	if (b64_encode(x->wg_key, sizeof(x->wg_key), key, sizeof(key)) < 0)
		key[0] = '\0';
	printf("name: %s\nstate: %s\nwireguard key: %s\ntunnel: %s %s\nhost names: %s\nenrolled: %s\n",
	       x->name, x->suspended ? "suspended" : "active", key, v4, v6, x->hostnames,
	       edge_cli_time(x->created, when));
}

int
edge_cli_main(const char *conf_path, int argc, char **argv)
{
	static const char *const verbs[] = { "list", "show", "suspend", "resume", "remove" };
	struct tenants_tenant x, *list = NULL;
	struct edge_conf ec;
	struct tenants *t = NULL;
	char err[CONF_ERROR_MAX], path[4096], what[32];
	const char *verb = argc >= 2 ? argv[1] : "";
	size_t n = 0;
	int known = 0, rc = 1, got;

	if (argc >= 2 && (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0))
		return edge_cli_usage(stdout, 0);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known |= strcmp(verb, verbs[i]) == 0;
	if (strcmp(argv[0], "tenant") != 0 || !known || argc != (strcmp(verb, "list") == 0 ? 2 : 3))
		return edge_cli_usage(stderr, 2);
	snprintf(what, sizeof(what), "tenant %s", verb);
	if (argc == 3 && tenants_name_check(argv[2]) != 0)
		return edge_cli_fail(what, "not a tenant name (a-z, 0-9 and '-')");
	if (edge_conf_load(conf_path, &ec, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport-edge: %s\n", err);
		return 1;
	}
	got = snprintf(path, sizeof(path), "%s/%s", ec.main->state_dir, EDGE_TENANTS_FILE);
	if (got < 0 || (size_t)got >= sizeof(path)) {
		rc = edge_cli_fail(what, "state_dir too long");
		goto out;
	}
	if ((t = tenants_open(path, err, sizeof(err))) == NULL) {
		rc = edge_cli_fail(what, err);
		goto out;
	}
	if (strcmp(verb, "list") == 0) {
		if (tenants_list(t, &list, &n, err, sizeof(err)) != 0) {
			rc = edge_cli_fail(what, err);
			goto out;
		}
		if (n == 0)
			printf("no tenants\n");
		for (size_t i = 0; i < n; i++) {
			char v4[ADDR_TEXT_MAX];
			printf("%s %s %s %s\n", list[i].name, list[i].suspended ? "suspended" : "active",
			       addr_format(&list[i].tunnel_v4, v4, sizeof(v4)), list[i].hostnames);
		}
		rc = 0;
	} else if (strcmp(verb, "show") == 0) {
		if ((got = tenants_get(t, argv[2], &x, err, sizeof(err))) != 0) {
			rc = edge_cli_fail(what, err);
			goto out;
		}
		edge_cli_show(&x);
		rc = 0;
	} else {
		got = strcmp(verb, "remove") == 0 ? tenants_remove(t, argv[2], err, sizeof(err))
						  : tenants_suspend(t, argv[2], strcmp(verb, "suspend") == 0,
								    err, sizeof(err));
		if (got != 0) {
			rc = edge_cli_fail(what, err);
			goto out;
		}
		printf("tenant %s %s\n", argv[2], strcmp(verb, "remove") == 0 ? "removed"
						  : strcmp(verb, "suspend") == 0 ? "suspended" : "resumed");
		rc = 0;
	}
out:
	free(list);
	tenants_close(&t);
	edge_conf_free(&ec);
	return rc;
}
