/*
 * home.h: homeportd's and homeport's internal interfaces, by file.
 */
#ifndef HOMEPORT_HOME_H
#define HOMEPORT_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define HOME_CONF_DEFAULT "/etc/homeport/homeportd.conf"
#define HOME_STATE_DIR_DEFAULT "/var/lib/homeport"
#define HOME_PATH_MAX 4096

/* ---- home_conf.c: homeportd.conf ---- */

enum home_listener_mode {
	HOME_LISTENER_SMTP,		/* MX, port 25, STARTTLS offered */
	HOME_LISTENER_SUBMISSION,	/* port 587, STARTTLS required before AUTH */
	HOME_LISTENER_SUBMISSIONS,	/* port 465, implicit TLS */
	HOME_LISTENER_IMAP,		/* port 143, STARTTLS required before LOGIN */
	HOME_LISTENER_IMAPS,		/* port 993, implicit TLS */
};

struct home_main_conf {
	char *hostname;		/* the name this home answers as (EHLO, banner, certificate) */
	char *state_dir;	/* mail.db and keys/ live here */
	int log_level;		/* enum log_level */
	char *user;		/* service user the daemon runs as once ports are bound */
};

struct home_tls_conf {
	char *certificate;	/* PEM chain; default STATE_DIR/keys/tls.crt */
	char *key;		/* PEM key, mode 0600; default STATE_DIR/keys/tls.key */
};

struct home_listener_conf {
	char *name;			/* the [listener NAME] label */
	struct conf_addr_list address;	/* where to listen, with ports */
	int mode;			/* enum home_listener_mode */
	int proxy;			/* a PROXY v2 header is required first */
	struct conf_cidr_list proxy_from; /* who may send that header (the edges) */
	int64_t max_connections;
	int64_t max_per_source;
	int64_t idle_timeout;		/* ms */
};

struct home_conf {
	struct conf *conf;		/* owns everything below */
	struct home_main_conf *main;
	struct home_tls_conf *tls;
	size_t nlisteners;
	char cert_path[HOME_PATH_MAX];	/* tls->certificate or its default */
	char key_path[HOME_PATH_MAX];	/* tls->key or its default */
};

/*
 * Load and check homeportd.conf. Returns 0 and fills *hc (release with
 * home_conf_free()), or -1 with the exact error in err.
 */
int home_conf_load(const char *path, struct home_conf *hc, char *err, size_t errcap);

/* Listener i (0 <= i < hc->nlisteners). */
struct home_listener_conf *home_conf_listener(const struct home_conf *hc, size_t i);

void home_conf_free(struct home_conf *hc);

#endif
