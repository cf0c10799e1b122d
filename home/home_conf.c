#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dnsname.h"
#include "home.h"
#include "log.h"

#define HOME_CONNS_MAX 100000
#define HOME_TIMEOUT_MAX (24LL * 3600 * 1000)
#define HOME_SMTP_TIMEOUT_MAX (60LL * 60 * 1000)	/* an hour: RFC 5321's longest is 10 min */
#define HOME_PROXY_TIMEOUT_MAX (60LL * 1000)
#define HOME_MESSAGE_MIN 1024
#define HOME_RECIPIENTS_MAX 1000		/* STORE_RCPT_MAX */
#define HOME_ERRORS_MAX 1000
#define HOME_LOCKOUT_FAILURES_MAX 1000
#define HOME_EXPIRE_MAX (60LL * 24 * 3600 * 1000)	/* 60 days */
#define HOME_DELIVERIES_MAX 1000
#define HOME_MTASTS_MAX_AGE_MIN (24LL * 3600 * 1000)		/* a day */
#define HOME_MTASTS_MAX_AGE_MAX (31557600LL * 1000)		/* RFC 8461 3.2: a year */
#define HOME_MTASTS_MAX_AGE_DEFAULT (7LL * 24 * 3600 * 1000)	/* a week */

static const char *const home_log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const home_transports[] = { "direct", "edge", NULL };
static const char *const home_listener_modes[] = {
	"smtp", "submission", "submissions", "imap", "imaps", "https", "http", NULL
};

#define MAIN_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_main_conf, f), __VA_ARGS__ }
static const struct conf_key home_main_keys[] = {
	MAIN_KEY("hostname", CONF_STRING, hostname, .flags = CONF_REQUIRED),
	MAIN_KEY("state_dir", CONF_STRING, state_dir),
	MAIN_KEY("log_level", CONF_ENUM, log_level, .words = home_log_levels),
	MAIN_KEY("user", CONF_STRING, user),
	{ .name = NULL },
};

static const struct conf_key home_tls_keys[] = {
	{ .name = "certificate", .type = CONF_STRING, .offset = offsetof(struct home_tls_conf, certificate) },
	{ .name = "key", .type = CONF_STRING, .offset = offsetof(struct home_tls_conf, key) },
	{ .name = NULL },
};

#define LISTENER_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_listener_conf, f), __VA_ARGS__ }
static const struct conf_key home_listener_keys[] = {
	LISTENER_KEY("address", CONF_ADDR_LIST, address, .flags = CONF_REQUIRED | CONF_PORT_REQUIRED),
	LISTENER_KEY("mode", CONF_ENUM, mode, .words = home_listener_modes, .flags = CONF_REQUIRED),
	LISTENER_KEY("proxy", CONF_BOOL, proxy),
	LISTENER_KEY("proxy_from", CONF_CIDR_LIST, proxy_from),
	LISTENER_KEY("max_connections", CONF_INT, max_connections, .min = 1, .max = HOME_CONNS_MAX),
	LISTENER_KEY("max_per_source", CONF_INT, max_per_source, .min = 1, .max = HOME_CONNS_MAX),
	LISTENER_KEY("idle_timeout", CONF_DURATION, idle_timeout, .min = 1000, .max = HOME_TIMEOUT_MAX),
	LISTENER_KEY("proxy_timeout", CONF_DURATION, proxy_timeout, .min = 100,
		     .max = HOME_PROXY_TIMEOUT_MAX),
	{ .name = NULL },
};

#define SMTP_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_smtp_conf, f), __VA_ARGS__ }
static const struct conf_key home_smtp_keys[] = {
	SMTP_KEY("message_size_max", CONF_SIZE, message_size_max, .min = HOME_MESSAGE_MIN,
		 .max = STORE_BODY_MAX / 2),
	SMTP_KEY("max_recipients", CONF_INT, max_recipients, .min = 1, .max = HOME_RECIPIENTS_MAX),
	SMTP_KEY("max_errors", CONF_INT, max_errors, .min = 1, .max = HOME_ERRORS_MAX),
	SMTP_KEY("command_timeout", CONF_DURATION, command_timeout, .min = 1000,
		 .max = HOME_SMTP_TIMEOUT_MAX),
	SMTP_KEY("data_timeout", CONF_DURATION, data_timeout, .min = 1000, .max = HOME_SMTP_TIMEOUT_MAX),
	SMTP_KEY("shutdown_grace", CONF_DURATION, shutdown_grace, .min = 0, .max = HOME_SMTP_TIMEOUT_MAX),
	{ .name = NULL },
};

#define IMAP_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_imap_conf, f), __VA_ARGS__ }
static const struct conf_key home_imap_keys[] = {
	IMAP_KEY("autologout", CONF_DURATION, autologout, .min = 30 * 60 * 1000, .max = HOME_TIMEOUT_MAX),
	IMAP_KEY("max_errors", CONF_INT, max_errors, .min = 1, .max = HOME_ERRORS_MAX),
	{ .name = NULL },
};

#define AUTH_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_auth_conf, f), __VA_ARGS__ }
static const struct conf_key home_auth_keys[] = {
	AUTH_KEY("fail_delay", CONF_DURATION, fail_delay, .min = 0, .max = HOME_PROXY_TIMEOUT_MAX),
	AUTH_KEY("fail_delay_max", CONF_DURATION, fail_delay_max, .min = 0, .max = HOME_PROXY_TIMEOUT_MAX),
	AUTH_KEY("lockout_failures", CONF_INT, lockout_failures, .min = 1,
		 .max = HOME_LOCKOUT_FAILURES_MAX),
	AUTH_KEY("lockout_time", CONF_DURATION, lockout_time, .min = 1000, .max = HOME_TIMEOUT_MAX),
	{ .name = NULL },
};

#define OUT_KEY(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct home_outbound_conf, f), __VA_ARGS__ }
static const struct conf_key home_outbound_keys[] = {
	OUT_KEY("transport", CONF_ENUM, transport, .words = home_transports),
	OUT_KEY("egress", CONF_ADDR_LIST, egress, .flags = CONF_PORT_REQUIRED),
	OUT_KEY("dns_forward", CONF_STRING, dns_forward),
	OUT_KEY("dns_trust_anchor", CONF_STRING, dns_trust_anchor),
	OUT_KEY("tls_ca_file", CONF_STRING, tls_ca_file),
	OUT_KEY("retry_min", CONF_DURATION, retry_min, .min = 1000, .max = HOME_TIMEOUT_MAX),
	OUT_KEY("retry_max", CONF_DURATION, retry_max, .min = 1000, .max = HOME_TIMEOUT_MAX),
	OUT_KEY("expire", CONF_DURATION, expire, .min = 1000, .max = HOME_EXPIRE_MAX),
	OUT_KEY("max_deliveries", CONF_INT, max_deliveries, .min = 1, .max = HOME_DELIVERIES_MAX),
	OUT_KEY("max_per_domain", CONF_INT, max_per_domain, .min = 1, .max = HOME_DELIVERIES_MAX),
	OUT_KEY("connect_timeout", CONF_DURATION, connect_timeout, .min = 1000,
		.max = HOME_SMTP_TIMEOUT_MAX),
	{ .name = NULL },
};

static const char *const home_mtasts_modes[] = { "enforce", "testing", "off", NULL };

static const struct conf_key home_mtasts_keys[] = {
	{ .name = "mode", .type = CONF_ENUM, .offset = offsetof(struct home_mtasts_conf, mode),
	  .words = home_mtasts_modes },
	{ .name = "max_age", .type = CONF_DURATION, .offset = offsetof(struct home_mtasts_conf, max_age),
	  .min = HOME_MTASTS_MAX_AGE_MIN, .max = HOME_MTASTS_MAX_AGE_MAX },
	{ .name = NULL },
};

static void
home_main_defaults(void *block)
{
	struct home_main_conf *m = block;

	m->state_dir = HOME_STATE_DIR_DEFAULT;
	m->log_level = LOG_LEVEL_INFO;
	m->user = "homeport";
}

static void
home_listener_defaults(void *block)
{
	struct home_listener_conf *l = block;

	l->max_connections = 1000;
	l->max_per_source = 20;
	l->idle_timeout = 5 * 60 * 1000;
	l->proxy_timeout = 5 * 1000;
}

static void
home_smtp_defaults(void *block)
{
	struct home_smtp_conf *c = block;

	c->message_size_max = 50LL * 1024 * 1024;
	c->max_recipients = 100;
	c->max_errors = 10;
	c->command_timeout = 2 * 60 * 1000;
	c->data_timeout = 2 * 60 * 1000;
	c->shutdown_grace = 10 * 1000;
}

static void
home_imap_defaults(void *block)
{
	struct home_imap_conf *c = block;

	c->autologout = 30 * 60 * 1000;
	c->max_errors = 20;
}

static void
home_auth_defaults(void *block)
{
	struct home_auth_conf *c = block;

	c->fail_delay = 1000;
	c->fail_delay_max = 16 * 1000;
	c->lockout_failures = 10;
	c->lockout_time = 15 * 60 * 1000;
}

static void
home_outbound_defaults(void *block)
{
	struct home_outbound_conf *c = block;

	c->transport = HOME_TRANSPORT_DIRECT;
	c->retry_min = 5 * 60 * 1000;
	c->retry_max = 4 * 3600 * 1000;
	c->expire = 5LL * 24 * 3600 * 1000;
	c->max_deliveries = 8;
	c->max_per_domain = 2;
	c->connect_timeout = 30 * 1000;
}

static void
home_mtasts_defaults(void *block)
{
	struct home_mtasts_conf *c = block;

	c->mode = HOME_MTASTS_ENFORCE;
	c->max_age = HOME_MTASTS_MAX_AGE_DEFAULT;
}

static const struct conf_section home_sections[] = {
	{ .name = "home", .flags = CONF_SECTION_REQUIRED, .keys = home_main_keys, .block_size = sizeof(struct home_main_conf), .init = home_main_defaults, .label_offset = 0 },
	{ .name = "tls", .flags = 0, .keys = home_tls_keys, .block_size = sizeof(struct home_tls_conf), .init = NULL, .label_offset = 0 },
	{ .name = "smtp", .flags = 0, .keys = home_smtp_keys, .block_size = sizeof(struct home_smtp_conf), .init = home_smtp_defaults, .label_offset = 0 },
	{ .name = "imap", .flags = 0, .keys = home_imap_keys, .block_size = sizeof(struct home_imap_conf), .init = home_imap_defaults, .label_offset = 0 },
	{ .name = "auth", .flags = 0, .keys = home_auth_keys, .block_size = sizeof(struct home_auth_conf), .init = home_auth_defaults, .label_offset = 0 },
	{ .name = "outbound", .flags = 0, .keys = home_outbound_keys, .block_size = sizeof(struct home_outbound_conf), .init = home_outbound_defaults, .label_offset = 0 },
	{ .name = "mta_sts", .flags = 0, .keys = home_mtasts_keys, .block_size = sizeof(struct home_mtasts_conf), .init = home_mtasts_defaults, .label_offset = 0 },
	{ .name = "listener", .flags = CONF_SECTION_LABELLED, .keys = home_listener_keys, .block_size = sizeof(struct home_listener_conf), .init = home_listener_defaults, .label_offset = offsetof(struct home_listener_conf, name) },
	{ .name = NULL },
};

struct home_listener_conf *
home_conf_listener(const struct home_conf *hc, size_t i)
{
	return conf_block(hc->conf, "listener", i);
}

/* A configured path, or STATE_DIR/keys/LEAF. Returns 0, or -1 if too long. */
static int
home_conf_path(char *out, size_t cap, const char *set, const char *state_dir, const char *leaf)
{
	int n = set != NULL ? snprintf(out, cap, "%s", set)
			    : snprintf(out, cap, "%s/keys/%s", state_dir, leaf);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
home_conf_check(struct home_conf *hc, char *err, size_t errcap)
{
	struct home_main_conf *m = hc->main;

	if (dnsname_check(m->hostname, strlen(m->hostname), 0) != 0)
		return conf_fail(hc->conf, m, "hostname", err, errcap,
				 "not a host name (letters, digits, '-' and dots; like mail.example.com)");
	if (m->state_dir[0] != '/')
		return conf_fail(hc->conf, m, "state_dir", err, errcap, "must be an absolute path");
	if (home_conf_path(hc->cert_path, sizeof(hc->cert_path), hc->tls->certificate,
			   m->state_dir, "tls.crt") != 0 ||
	    home_conf_path(hc->key_path, sizeof(hc->key_path), hc->tls->key, m->state_dir,
			   "tls.key") != 0)
		return conf_fail(hc->conf, m, "state_dir", err, errcap, "path too long");
	if (hc->auth->fail_delay_max < hc->auth->fail_delay)
		return conf_fail(hc->conf, hc->auth, "fail_delay_max", err, errcap,
				 "shorter than fail_delay (%lld ms)", (long long)hc->auth->fail_delay);
	if (hc->outbound->transport == HOME_TRANSPORT_EDGE && hc->outbound->egress.n == 0)
		return conf_fail(hc->conf, hc->outbound, "transport", err, errcap,
				 "transport = edge needs egress (the edge's SOCKS5 address:port)");
	if (hc->outbound->retry_max < hc->outbound->retry_min)
		return conf_fail(hc->conf, hc->outbound, "retry_max", err, errcap,
				 "shorter than retry_min (%lld ms)", (long long)hc->outbound->retry_min);
	if (hc->outbound->max_per_domain > hc->outbound->max_deliveries)
		return conf_fail(hc->conf, hc->outbound, "max_per_domain", err, errcap,
				 "%lld is larger than max_deliveries (%lld)",
				 (long long)hc->outbound->max_per_domain,
				 (long long)hc->outbound->max_deliveries);
	for (size_t i = 0; i < hc->nlisteners; i++) {
		struct home_listener_conf *l = home_conf_listener(hc, i);
		char text[ADDR_TEXT_MAX];
		if (l->proxy && l->proxy_from.n == 0)
			return conf_fail(hc->conf, l, "proxy", err, errcap,
					 "proxy = yes needs proxy_from (the edges' tunnel addresses)");
		if (!l->proxy && l->proxy_from.n != 0)
			return conf_fail(hc->conf, l, "proxy_from", err, errcap,
					 "set only with proxy = yes");
		if (l->max_per_source > l->max_connections)
			return conf_fail(hc->conf, l, "max_per_source", err, errcap,
					 "%lld is larger than max_connections (%lld)",
					 (long long)l->max_per_source, (long long)l->max_connections);
		/* Twice in one listener fails at bind() as surely as in two. */
		for (size_t a = 0; a < l->address.n; a++) {
			for (size_t b = 0; b < a; b++) {
				if (addr_equal(&l->address.v[a], &l->address.v[b]))
					return conf_fail(hc->conf, l, "address", err, errcap,
							 "%s listed twice",
							 addr_format(&l->address.v[a], text,
								     sizeof(text)));
			}
		}
		for (size_t j = 0; j < i; j++) {
			struct home_listener_conf *o = home_conf_listener(hc, j);
			for (size_t a = 0; a < l->address.n; a++) {
				for (size_t b = 0; b < o->address.n; b++) {
					if (addr_equal(&l->address.v[a], &o->address.v[b]))
						return conf_fail(hc->conf, l, "address", err, errcap,
								 "also used by [listener %s]", o->name);
				}
			}
		}
	}
	return 0;
}

int
home_conf_load(const char *path, struct home_conf *hc, char *err, size_t errcap)
{
	memset(hc, 0, sizeof(*hc));
	hc->conf = conf_load_file(home_sections, path, err, errcap);
	if (hc->conf == NULL)
		return -1;
	hc->main = conf_block(hc->conf, "home", 0);
	hc->tls = conf_block(hc->conf, "tls", 0);
	hc->smtp = conf_block(hc->conf, "smtp", 0);
	hc->imap = conf_block(hc->conf, "imap", 0);
	hc->auth = conf_block(hc->conf, "auth", 0);
	hc->outbound = conf_block(hc->conf, "outbound", 0);
	hc->mta_sts = conf_block(hc->conf, "mta_sts", 0);
	hc->nlisteners = conf_count(hc->conf, "listener");
	if (home_conf_check(hc, err, errcap) != 0) {
		home_conf_free(hc);
		return -1;
	}
	return 0;
}

int
home_store_path(const char *state_dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", state_dir, STORE_FILE);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

void
home_conf_free(struct home_conf *hc)
{
	conf_free(&hc->conf);
	memset(hc, 0, sizeof(*hc));
}
