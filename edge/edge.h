/*
 * edge.h: homeport-edge's internal interfaces, by file.
 */
#ifndef HOMEPORT_EDGE_H
#define HOMEPORT_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define EDGE_CONF_DEFAULT "/etc/homeport/edge.conf"

/* ---- edge_conf.c: edge.conf ---- */

enum edge_listener_mode {
	EDGE_LISTENER_SNI,		/* read the ClientHello, route on its server name */
	EDGE_LISTENER_STARTTLS,		/* speak SMTP/IMAP up to STARTTLS, then as sni */
	EDGE_LISTENER_PASSTHROUGH,	/* forward to the address's or default tenant */
	EDGE_LISTENER_HTTP,		/* route on the Host header */
};

enum edge_preamble {
	EDGE_PREAMBLE_SMTP,
	EDGE_PREAMBLE_IMAP,
};

enum edge_proxy_version {
	EDGE_PROXY_V2,
	EDGE_PROXY_V1,
	EDGE_PROXY_NONE,
};

struct edge_main_conf {
	char *name;			/* the edge's host name (SMTP banner) */
	int log_level;			/* enum log_level */
	char *user;			/* unprivileged user after binding ports */
	int64_t max_connections;	/* over all listeners */
	int64_t max_per_source;		/* per IPv4 address / IPv6 /64 */
};

struct edge_listener_conf {
	char *name;			/* [listener NAME] */
	struct conf_addr_list address;	/* with ports */
	int mode;			/* enum edge_listener_mode */
	int preamble;			/* enum edge_preamble, for starttls */
	char *default_tenant;		/* NULL: none */
	int64_t idle_timeout;		/* ms */
};

struct edge_tenant_conf {
	char *name;				/* [tenant NAME] */
	struct conf_string_list hostnames;	/* exact or "*.suffix" */
	struct conf_addr_list tunnel_address;	/* inside WireGuard, no port */
	struct conf_addr_list public_addresses;	/* edge addresses owned by this tenant */
	int proxy;				/* enum edge_proxy_version */
	int64_t max_connections;
};

struct edge_conf {
	struct conf *conf;	/* owns everything below */
	struct edge_main_conf *main;
	size_t nlisteners;
	size_t ntenants;
};

/*
 * Load and check edge.conf. Returns 0 and fills *ec (release with
 * edge_conf_free()), or -1 with the exact error in err.
 */
int edge_conf_load(const char *path, struct edge_conf *ec, char *err, size_t errcap);

struct edge_listener_conf *edge_conf_listener(const struct edge_conf *ec, size_t i);
struct edge_tenant_conf *edge_conf_tenant(const struct edge_conf *ec, size_t i);

/* The tenant called name, or NULL. */
struct edge_tenant_conf *edge_conf_find_tenant(const struct edge_conf *ec, const char *name);

void edge_conf_free(struct edge_conf *ec);

#endif
