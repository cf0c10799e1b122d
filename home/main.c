/*
 * homeportd: the home mail server.
 *
 * What runs today: configuration (with --check), the TLS identity, and the
 * daemon's loop with reload on SIGHUP and a clean stop on SIGTERM. The mail
 * protocols attach to this loop as they land.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "home.h"
#include "log.h"
#include "sig.h"
#include "tls.h"
#include "tlsident.h"

struct homed {
	const char *conf_path;
	struct home_conf conf;
	struct tls_server *tls;
	struct event_base *base;
};

/* Load the TLS identity named by conf into s (new server or reload). */
static int
homed_load_tls(const struct home_conf *hc, struct tls_server **s, char *err, size_t errcap)
{
	struct tls_identity id;
	int rc;

	if (tlsident_load(hc->cert_path, hc->key_path, &id, err, errcap) != 0)
		return -1;
	if (*s == NULL) {
		*s = tls_server_new(&id, err, errcap);
		rc = *s != NULL ? 0 : -1;
	} else {
		rc = tls_server_set_identity(*s, &id, err, errcap);
	}
	tls_identity_clear(&id);
	return rc;
}

static void
homed_reload(void *arg)
{
	struct homed *d = arg;
	struct home_conf fresh;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX];

	if (home_conf_load(d->conf_path, &fresh, err, sizeof(err)) != 0) {
		log_error(NULL, "reload", "result=failed keeping=old error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		return;
	}
	if (homed_load_tls(&fresh, &d->tls, err, sizeof(err)) != 0) {
		log_error(NULL, "reload", "result=failed keeping=old error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		home_conf_free(&fresh);
		return;
	}
	home_conf_free(&d->conf);
	d->conf = fresh;
	log_set_level((enum log_level)d->conf.main->log_level);
	log_info(NULL, "reload", "result=ok hostname=%s listeners=%zu", d->conf.main->hostname,
		 d->conf.nlisteners);
}

int
main(int argc, char **argv)
{
	struct homed d = { 0 };
	struct daemon_opts opts;
	struct sig_handlers *sigs = NULL;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX], desc[128];
	int rc = daemon_start(argc, argv, "homeportd", HOME_CONF_DEFAULT, &opts);

	if (rc >= 0)
		return rc;
	rc = 1;
	d.conf_path = opts.conf_path;
	if (home_conf_load(d.conf_path, &d.conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeportd: %s\n", err);
		return 1;
	}
	if (opts.check) {
		printf("configuration OK\n");
		home_conf_free(&d.conf);
		return 0;
	}
	log_init("homeportd", (enum log_level)d.conf.main->log_level, stderr);
	if (homed_load_tls(&d.conf, &d.tls, err, sizeof(err)) != 0) {
		log_error(NULL, "start", "result=failed error=\"%s\" hint=\"homeport init creates a "
			  "bootstrap certificate; or set [tls] certificate and key\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	d.base = event_base_new();
	if (d.base == NULL || (sigs = sig_setup(d.base, homed_reload, NULL, &d)) == NULL) {
		log_error(NULL, "start", "result=failed error=\"cannot set up the event loop\"");
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(SSL_CTX_get0_certificate(tls_server_ctx(d.tls))),
			  desc, sizeof(desc));
	log_info(NULL, "start", "result=ok hostname=%s listeners=%zu certificate=\"%s\" pid=%ld",
		 d.conf.main->hostname, d.conf.nlisteners, log_escape(desc, strlen(desc), esc, sizeof(esc)),
		 (long)getpid());
	event_base_dispatch(d.base);
	log_info(NULL, "stop", "result=ok");
	rc = 0;
out:
	sig_free(&sigs);
	if (d.base != NULL)
		event_base_free(d.base);
	tls_server_free(&d.tls);
	home_conf_free(&d.conf);
	return rc;
}
