/*
 * homeport-edge: the stateless relay.
 *
 * What runs today: configuration (with --check) and the daemon's loop with
 * reload on SIGHUP and a clean stop on SIGTERM. Listeners and routing
 * attach to this loop as they land.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include "daemon.h"
#include "edge.h"
#include "log.h"
#include "sig.h"

struct edged {
	const char *conf_path;
	struct edge_conf conf;
};

static void
edged_reload(void *arg)
{
	struct edged *d = arg;
	struct edge_conf fresh;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX];

	if (edge_conf_load(d->conf_path, &fresh, err, sizeof(err)) != 0) {
		log_error(NULL, "reload", "result=failed keeping=old error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		return;
	}
	edge_conf_free(&d->conf);
	d->conf = fresh;
	log_set_level((enum log_level)d->conf.main->log_level);
	log_info(NULL, "reload", "result=ok listeners=%zu tenants=%zu", d->conf.nlisteners,
		 d->conf.ntenants);
}

int
main(int argc, char **argv)
{
	struct edged d = { 0 };
	struct daemon_opts opts;
	struct sig_handlers *sigs = NULL;
	struct event_base *base = NULL;
	char err[CONF_ERROR_MAX];
	int rc = daemon_start(argc, argv, "homeport-edge", EDGE_CONF_DEFAULT, &opts);

	if (rc >= 0)
		return rc;
	rc = 1;
	d.conf_path = opts.conf_path;
	if (edge_conf_load(d.conf_path, &d.conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport-edge: %s\n", err);
		return 1;
	}
	if (opts.check) {
		printf("configuration OK\n");
		edge_conf_free(&d.conf);
		return 0;
	}
	log_init("homeport-edge", (enum log_level)d.conf.main->log_level, stderr);
	base = event_base_new();
	if (base == NULL || (sigs = sig_setup(base, edged_reload, NULL, &d)) == NULL) {
		log_error(NULL, "start", "result=failed error=\"cannot set up the event loop\"");
		goto out;
	}
	log_info(NULL, "start", "result=ok name=%s listeners=%zu tenants=%zu pid=%ld",
		 d.conf.main->name, d.conf.nlisteners, d.conf.ntenants, (long)getpid());
	event_base_dispatch(base);
	log_info(NULL, "stop", "result=ok");
	rc = 0;
out:
	sig_free(&sigs);
	if (base != NULL)
		event_base_free(base);
	edge_conf_free(&d.conf);
	return rc;
}
