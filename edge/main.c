/*
 * homeport-edge: the stateless relay.
 *
 * What runs today: configuration (with --check) and the daemon's loop with
 * reload on SIGHUP and a clean stop on SIGTERM. Listeners and routing
 * attach to this loop as they land.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "edge.h"
#include "log.h"
#include "sig.h"

struct edged {
	const char *conf_path;
	struct edge_conf conf;
};

static void
edged_usage(FILE *to)
{
	fprintf(to, "usage: homeport-edge [-c FILE] [--check]\n"
		    "  -c FILE    configuration (default " EDGE_CONF_DEFAULT ")\n"
		    "  --check    check the configuration, print \"configuration OK\" or the error\n");
}

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
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct edged d = { .conf_path = EDGE_CONF_DEFAULT };
	struct sig_handlers *sigs = NULL;
	struct event_base *base = NULL;
	char err[CONF_ERROR_MAX];
	int opt, check = 0, rc = 1;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.conf_path = optarg; break;
		case 'C': check = 1; break;
		case 'h': edged_usage(stdout); return 0;
		default: edged_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		edged_usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "homeport-edge: libsodium failed to start\n");
		return 1;
	}
	if (edge_conf_load(d.conf_path, &d.conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport-edge: %s\n", err);
		return 1;
	}
	if (check) {
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
