/*
 * homeport-edge: the stateless relay.
 *
 * Start-up: read the configuration; with [enroll], bring the WireGuard
 * interface up and open tenants.db (tunnel.c); bind every listener (and
 * the metrics address) while still privileged, drop to the configured
 * user (keeping CAP_NET_ADMIN with [enroll], for the peers), then run the
 * event loop. SIGHUP loads the file again into a new routing snapshot
 * (connections carry on with theirs); SIGTERM stops.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>

#include "daemon.h"
#include "edge.h"
#include "log.h"
#include "sig.h"

struct edged {
	const char *conf_path;
	struct edge e;
	struct evhttp *http;	/* the metrics endpoint, or NULL */
};

static void
edged_reload(void *arg)
{
	struct edged *d = arg;
	struct edge_conf fresh;
	struct route_table *rt;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX];

	if (edge_conf_load(d->conf_path, &fresh, err, sizeof(err)) != 0 ||
	    edge_listeners_same(&d->e, &fresh, err, sizeof(err)) != 0 ||
	    tunnel_same(&d->e, &fresh, err, sizeof(err)) != 0) {
		if (fresh.conf != NULL)
			edge_conf_free(&fresh);
		log_error(NULL, "reload", "result=failed keeping=old error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		return;
	}
	if (d->e.tunnel != NULL) {
		/* With tenants.db's rows, read again (tunnel_sync frees fresh when it fails). */
		if (tunnel_sync(&d->e, &fresh) != 0) {
			log_error(NULL, "reload", "result=failed keeping=old error=\"tenants.db or the "
				  "WireGuard interface (logged)\"");
			return;
		}
	} else {
		rt = route_table_new(&fresh, NULL, 0, d->e.metrics);
		if (rt == NULL) {
			log_error(NULL, "reload", "result=failed keeping=old error=\"out of memory\"");
			return;
		}
		route_table_unref(&d->e.routes);
		d->e.routes = rt;
	}
	rt = d->e.routes;
	edge_listeners_set_limits(&d->e);
	log_set_level((enum log_level)route_table_conf(rt)->main->log_level);
	log_info(NULL, "reload", "result=ok listeners=%zu tenants=%zu enrolled=%zu", route_table_conf(rt)->nlisteners,
		 route_table_conf(rt)->ntenants, route_table_ntenants(rt) - route_table_conf(rt)->ntenants);
}

static void
edged_stop(void *arg)
{
	struct edged *d = arg;

	d->e.stopping = 1;
}

static void
edged_on_metrics(struct evhttp_request *req, void *arg)
{
	struct edged *d = arg;
	struct evbuffer *body = evbuffer_new();

	if (body == NULL || metrics_format(d->e.metrics, body) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  "text/plain; version=0.0.4");
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	}
	if (body != NULL)
		evbuffer_free(body);
}

/* Serve /metrics on each configured address. Returns 0 or -1 with err. */
static int
edged_metrics_open(struct edged *d, char *err, size_t errcap)
{
	const struct conf_addr_list *where = &route_table_conf(d->e.routes)->main->metrics;

	if (where->n == 0)
		return 0;
	d->http = evhttp_new(d->e.base);
	if (d->http == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET);
	if (evhttp_set_cb(d->http, "/metrics", edged_on_metrics, d) != 0) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < where->n; i++) {
		int fd = ev_listen_socket(&where->v[i], err, errcap);

		if (fd < 0)
			return -1;
		if (evhttp_accept_socket(d->http, fd) != 0) {
			close(fd);
			snprintf(err, errcap, "cannot serve metrics");
			return -1;
		}
	}
	return 0;
}

/*
 * The operator's commands: "homeport-edge [-c FILE] tenant ...". Returns
 * the index of the command word, or 0 when there is none (the daemon).
 */
static int
edged_command(int argc, char **argv, const char **conf_r)
{
	*conf_r = EDGE_CONF_DEFAULT;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*conf_r = argv[++i];
			continue;
		}
		if (argv[i][0] == '-')
			return 0;	/* the daemon's options: daemon_start's to judge */
		return strcmp(argv[i], "tenant") == 0 || strcmp(argv[i], "init") == 0 ||
				       strcmp(argv[i], "invite") == 0
			       ? i
			       : 0;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct edged d = { 0 };
	struct daemon_opts opts;
	struct sig_handlers *sigs = NULL;
	struct edge_conf conf;
	char err[CONF_ERROR_MAX];
	const char *cmd_conf;
	int cmd = edged_command(argc, argv, &cmd_conf);
	int rc;

	if (cmd > 0) {
		log_init("homeport-edge", LOG_LEVEL_WARN, stderr);
		if (strcmp(argv[cmd], "init") == 0)
			return sodium_init() < 0 ? 1 : edge_init_main(cmd_conf, argc - cmd, argv + cmd);
		if (strcmp(argv[cmd], "invite") == 0)
			return edge_invite_main(cmd_conf, argc - cmd, argv + cmd);
		return edge_cli_main(cmd_conf, argc - cmd, argv + cmd);
	}
	rc = daemon_start(argc, argv, "homeport-edge", EDGE_CONF_DEFAULT, &opts);

	if (rc >= 0)
		return rc;
	rc = 1;
	d.conf_path = opts.conf_path;
	if (edge_conf_load(d.conf_path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport-edge: %s\n", err);
		return 1;
	}
	if (opts.check) {
		printf("configuration OK\n");
		edge_conf_free(&conf);
		return 0;
	}
	log_init("homeport-edge", (enum log_level)conf.main->log_level, stderr);
	d.e.metrics = metrics_new();
	d.e.fallback = fallback_new();
	d.e.base = event_base_new();
	if (d.e.metrics == NULL || d.e.fallback == NULL || d.e.base == NULL ||
	    (d.e.routes = route_table_new(&conf, NULL, 0, d.e.metrics)) == NULL ||
	    (sigs = sig_setup(d.e.base, edged_reload, edged_stop, &d)) == NULL) {
		log_error(NULL, "start", "result=failed error=\"out of memory\"");
		goto out;
	}
	/* The interface first: wireguard-go, forked here, must inherit no listening socket. */
	if (tunnel_open(&d.e, err, sizeof(err)) != 0 ||
	    edge_listeners_open(&d.e, err, sizeof(err)) != 0 ||
	    egress_open(&d.e, err, sizeof(err)) != 0 ||
	    control_open(&d.e, err, sizeof(err)) != 0 ||
	    edged_metrics_open(&d, err, sizeof(err)) != 0 ||
	    daemon_drop_privileges(route_table_conf(d.e.routes)->main->user,
				   route_table_conf(d.e.routes)->enroll != NULL ? DAEMON_KEEP_NET_ADMIN : 0, err,
				   sizeof(err)) != 0) {
		log_error(NULL, "start", "result=failed error=\"%s\"", err);
		goto out;
	}
	log_info(NULL, "start", "result=ok name=%s listeners=%zu sockets=%zu tenants=%zu pid=%ld enrolled=%zu",
		 route_table_conf(d.e.routes)->main->name, route_table_conf(d.e.routes)->nlisteners,
		 d.e.nsockets, route_table_conf(d.e.routes)->ntenants, (long)getpid(),
		 route_table_ntenants(d.e.routes) - route_table_conf(d.e.routes)->ntenants);
	event_base_dispatch(d.e.base);
	log_info(NULL, "stop", "result=ok connections=%u", d.e.active);
	rc = 0;
out:
	relay_close_all(&d.e);
	egress_close_all(&d.e);
	edge_listeners_close(&d.e);
	egress_close(&d.e);
	control_close(&d.e);
	tunnel_close(&d.e);
	if (d.http != NULL)
		evhttp_free(d.http);
	sig_free(&sigs);
	route_table_unref(&d.e.routes);
	if (d.e.base != NULL)
		event_base_free(d.e.base);
	metrics_free(&d.e.metrics);
	fallback_free(&d.e.fallback);
	if (conf.conf != NULL)
		edge_conf_free(&conf);
	return rc;
}
