/*
 * server: homeportd's mail listeners (SMTP, submission, IMAP) and their
 * connections, the thin I/O layer around the sessions (smtp_session,
 * imap_session), which it drives through one table of operations each.
 *
 *   accept -> PROXY (proxy = yes: the header, from proxy_from only)
 *          -> HANDSHAKE (465 and 993, or the edge answered STARTTLS: TLS first)
 *          -> SESSION (bytes to the session, its replies back)
 *          -> CLOSING (the last reply goes out, then close)
 *
 * A connection is a socket bufferevent; TLS is an OpenSSL filter on top
 * of it, so STARTTLS keeps the socket and the replies already queued.
 * Backpressure: the session takes input only while its output has room,
 * and what waits for the client is capped at SERVER_OUT_HIGH, past which
 * reading stops until the client has read; a session with work of its own
 * (a long FETCH, news for IDLE) is pumped the same way. One timer per
 * connection: the PROXY header's, a command's, DATA's, whichever applies.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "ev.h"
#include "home.h"
#include "log.h"
#include "mtasts.h"
#include "proxyv2.h"
#include "tls.h"
#include "worker.h"

#define SERVER_NAME_MAX 64
#define SERVER_CLOSE_POLL_MS 20	/* closing with TLS: how often to look whether all went out */
#define SERVER_STATS_MAX 1024	/* a session's part of its log line */
#define SERVER_ADDRS_LOG_MAX 512	/* a reloaded listener's addresses in its log line */

struct server;
struct conn;

/* What the server does with one protocol's sessions (smtp_session, imap_session). */
struct proto {
	const char *busy;	/* the answer when too many connect (plain text ports only) */
	int edge_proto;		/* PROXYV2_PROTO_* the edge may have answered STARTTLS for; -1: none */
	void *(*open)(struct server *srv, struct conn *c);
	void (*greet)(void *s);
	void (*tls_started)(void *s, const char *version, const char *cipher);
	size_t (*feed)(void *s, const uint8_t *in, size_t len, int64_t now_ms);
	int (*pending)(void *s);		/* work to do without input */
	int (*action)(const void *s);
	const struct password_check *(*check)(const void *s);
	void (*verified)(void *s, const struct password_check *c, int64_t now_ms);
	int64_t (*delay)(void *s);
	const uint8_t *(*output)(const void *s, size_t *len_r);
	void (*consume)(void *s, size_t n);
	int64_t (*timeout_ms)(const struct server *srv, const struct conn *c);
	void (*timeout)(void *s);
	int (*shutdown)(void *s);
	void (*stats)(const void *s, char *out, size_t cap);	/* its fields of the session log line */
	void (*free)(void *sp);			/* takes a pointer to the session pointer */
};

enum conn_state {
	CONN_PROXY,		/* waiting for the PROXY header */
	CONN_HANDSHAKE,		/* TLS handshake */
	CONN_SESSION,		/* the session runs */
	CONN_CLOSING,		/* sending the last reply */
};

/*
 * A listener's settings, copied so that a reload can free the
 * configuration. Counted: the server holds one reference while the
 * listener is configured, each connection one until it ends, so a reload
 * can close a listener's sockets while its connections go on.
 */
struct listener {
	struct server *srv;
	unsigned refs;
	char name[SERVER_NAME_MAX];
	int mode;
	int proxy;
	struct cidr *proxy_from;
	size_t nproxy_from;
	int64_t proxy_timeout;
	int64_t idle_timeout;
	struct ev_quota *quota;		/* connections, and per socket peer without PROXY */
	struct ev_quota *clients;	/* with PROXY: per client named in the header */
	struct ev_listener **evl;	/* one per address */
	size_t nevl;
	struct addr *addrs;		/* the configured addresses, evl's in order */
	int64_t max_connections;	/* as configured, to bind it again (a reload that failed) */
	int64_t max_per_source;
};

struct conn {
	struct conn *next, *prev;
	struct server *srv;
	struct listener *l;
	struct ev_slot *slot;
	struct ev_slot *client_slot;	/* counted behind PROXY */
	struct bufferevent *bev;	/* the socket */
	struct bufferevent *tls;	/* the TLS filter on it, or NULL */
	struct event *timer;		/* PROXY, command or DATA timeout */
	struct event *hold;		/* a reply held back (failed login) */
	const struct proto *proto;
	void *s;			/* the session */
	struct login_job *job;		/* a password check in the workers */
	struct addr peer;		/* the socket's */
	struct addr client;		/* from PROXY, else the peer */
	int state;			/* enum conn_state */
	int implicit_tls;		/* greet after the handshake */
	int64_t start;
	int64_t close_deadline;
	const char *end;
	char tls_desc[128];
	char sid[LOG_SID_LEN];
	char edge_sid[2 * LOG_SID_LEN + 8];	/* the edge's log id (PROXY unique id), escaped; "" if none */
};

/* A login's password check, run by a worker; it outlives its connection if need be. */
struct login_job {
	struct worker_job base;		/* first: the pool hands this back */
	struct conn *conn;		/* NULL once the connection is gone */
	struct password_check check;
};

struct server {
	struct event_base *base;
	struct worker_pool *workers;
	struct store *st;
	struct tls_server *tls;
	struct throttle *th;
	char hostname[DNSNAME_MAX + 1];
	struct home_smtp_conf smtp;
	struct home_imap_conf imap;
	struct event *wake;		/* the store changed: IMAP sessions have news */
	struct listener **listeners;	/* those bound, in the configuration's order */
	size_t nlisteners;
	struct conn *conns;
	unsigned active;
	int stopping;
	struct event *grace;
	char dummy_hash[PASSWORD_HASH_MAX];
	struct mtasts_own sts;		/* the MTA-STS policy the web listeners serve */
};

static void conn_process(struct conn *c);

/* ---- the protocols: each session's interface as a struct proto ---- */

/*
 * The calls every session has, as functions over void * (P is smtp or
 * imap): the struct proto tables below point at these.
 */
#define SESSION_OPS(P)									\
	static void P##_op_greet(void *s) { P##_session_greet(s); }			\
	static void P##_op_tls_started(void *s, const char *v, const char *c)		\
	{ P##_session_tls_started(s, v, c); }						\
	static size_t P##_op_feed(void *s, const uint8_t *in, size_t len, int64_t now)	\
	{ return P##_session_feed(s, in, len, now); }					\
	static int P##_op_action(const void *s) { return P##_session_action(s); }	\
	static const struct password_check *P##_op_check(const void *s)			\
	{ return P##_session_check(s); }						\
	static void P##_op_verified(void *s, const struct password_check *c, int64_t now) \
	{ P##_session_verified(s, c, now); }						\
	static int64_t P##_op_delay(void *s) { return P##_session_delay(s); }		\
	static const uint8_t *P##_op_output(const void *s, size_t *len_r)		\
	{ return P##_session_output(s, len_r); }					\
	static void P##_op_consume(void *s, size_t n) { P##_session_output_consume(s, n); } \
	static void P##_op_timeout(void *s) { P##_session_timeout(s); }			\
	static int P##_op_shutdown(void *s) { return P##_session_shutdown(s); }		\
	static void P##_op_free(void *sp) { P##_session_free(sp); }

#define SESSION_OPS_INIT(P)								\
	.greet = P##_op_greet, .tls_started = P##_op_tls_started, .feed = P##_op_feed,	\
	.action = P##_op_action, .check = P##_op_check, .verified = P##_op_verified,	\
	.delay = P##_op_delay, .output = P##_op_output, .consume = P##_op_consume,	\
	.timeout = P##_op_timeout, .shutdown = P##_op_shutdown, .free = P##_op_free

SESSION_OPS(smtp)
SESSION_OPS(imap)

static void *
smtp_open(struct server *srv, struct conn *c)
{
	struct smtp_session_params p = {
		.hostname = srv->hostname,
		.mode = c->l->mode,
		.tls_offered = srv->tls != NULL,
		.size_max = srv->smtp.message_size_max,
		.max_recipients = (unsigned)srv->smtp.max_recipients,
		.max_errors = (unsigned)srv->smtp.max_errors,
		.peer = &c->client,
		.sid = c->sid,
		.dummy_hash = srv->dummy_hash,
	};

	return smtp_session_new(&p, srv->st, srv->th);
}

static int64_t
smtp_timeout_ms(const struct server *srv, const struct conn *c)
{
	int64_t ms = srv->smtp.command_timeout;

	if (smtp_session_in_data(c->s))
		return srv->smtp.data_timeout;
	return c->l->idle_timeout < ms ? c->l->idle_timeout : ms;
}

static void
smtp_stats(const void *s, char *out, size_t cap)
{
	struct smtp_session_stats st;
	char esc[2 * SMTP_DOMAIN_MAX + 8];

	smtp_session_stats(s, &st);
	snprintf(out, cap, "helo=\"%s\" user=\"%s\" messages=%u refused=%u errors=%u",
		 log_escape(st.helo, strlen(st.helo), esc, sizeof(esc)), st.user, st.messages, st.refused,
		 st.errors);
}

static int
smtp_pending(void *s)
{
	(void)s;
	return 0;
}

static const struct proto smtp_proto = {
	.busy = "421 4.7.0 Too many connections, try again later\r\n",
	.edge_proto = PROXYV2_PROTO_SMTP,
	.open = smtp_open,
	.pending = smtp_pending,
	.timeout_ms = smtp_timeout_ms,
	.stats = smtp_stats,
	SESSION_OPS_INIT(smtp),
};

static void *
imap_open(struct server *srv, struct conn *c)
{
	struct imap_session_params p = {
		.hostname = srv->hostname,
		.tls_offered = srv->tls != NULL,
		.append_max = srv->smtp.message_size_max,
		.max_errors = (unsigned)srv->imap.max_errors,
		.peer = &c->client,
		.sid = c->sid,
		.dummy_hash = srv->dummy_hash,
	};

	return imap_session_new(&p, srv->st, srv->th);
}

/* Before login, the listener's idle_timeout; after, [imap] autologout (RFC 9051 5.4: 30 min at least). */
static int64_t
imap_timeout_ms(const struct server *srv, const struct conn *c)
{
	return imap_session_logged_in(c->s) ? srv->imap.autologout : c->l->idle_timeout;
}

static void
imap_stats(const void *s, char *out, size_t cap)
{
	struct imap_session_stats st;

	imap_session_stats(s, &st);
	snprintf(out, cap, "user=\"%s\" commands=%u errors=%u", st.user, st.commands, st.errors);
}

static int
imap_op_pending(void *s)
{
	return imap_session_pending(s);
}

static const struct proto imap_proto = {
	.busy = "* BYE Too many connections, try again later\r\n",
	.edge_proto = -1,
	.open = imap_open,
	.pending = imap_op_pending,
	.timeout_ms = imap_timeout_ms,
	.stats = imap_stats,
	SESSION_OPS_INIT(imap),
};

/* ---- web: one request per connection (web_session.c) ---- */

static int
web_is_domain(void *arg, const char *domain)
{
	struct server *srv = arg;
	struct store_err err;
	char esc[2 * sizeof(err.msg)];
	int local = 0;

	if (srv->st == NULL)
		return -1;
	if (store_domain_is_local(srv->st, domain, &local, &err) != 0) {
		log_warn(NULL, "web", "result=unavailable domain=%s error=\"%s\"", domain,
			 log_escape(err.msg, strlen(err.msg), esc, sizeof(esc)));
		return -1;
	}
	return local;
}

static void *
web_open(struct server *srv, struct conn *c)
{
	struct web_site site = {
		.https = c->l->mode == HOME_LISTENER_HTTPS,
		.sts = &srv->sts,
		.is_domain = web_is_domain,
		.arg = srv,
	};

	return web_session_new(&site);
}

SESSION_OPS(web)

static int
web_pending(void *s)
{
	(void)s;
	return 0;
}

/* The listener's idle_timeout, but the whole head within WEB_HEAD_DEADLINE_MS of the connection. */
static int64_t
web_timeout_ms(const struct server *srv, const struct conn *c)
{
	int64_t left = c->start + WEB_HEAD_DEADLINE_MS - ev_monotonic_ms();

	(void)srv;
	if (left < 1)
		left = 1;
	return left < c->l->idle_timeout ? left : c->l->idle_timeout;
}

static void
web_stats(const void *s, char *out, size_t cap)
{
	web_session_stats(s, out, cap);
}

static const struct proto web_proto = {
	.busy = httphead_reply_unavailable,
	.edge_proto = -1,
	.open = web_open,
	.pending = web_pending,
	.timeout_ms = web_timeout_ms,
	.stats = web_stats,
	SESSION_OPS_INIT(web),
};

static const struct proto *
listener_proto(const struct listener *l)
{
	switch (l->mode) {
	case HOME_LISTENER_IMAP:
	case HOME_LISTENER_IMAPS:
		return &imap_proto;
	case HOME_LISTENER_HTTPS:
	case HOME_LISTENER_HTTP:
		return &web_proto;
	default:
		return &smtp_proto;
	}
}

static void server_on_wake(evutil_socket_t fd, short what, void *arg);
static void conn_readcb(struct bufferevent *bev, void *arg);
static void conn_writecb(struct bufferevent *bev, void *arg);
static void conn_eventcb(struct bufferevent *bev, short what, void *arg);

/* ---- connections ---- */

static struct bufferevent *
conn_top(const struct conn *c)
{
	return c->tls != NULL ? c->tls : c->bev;
}

static const char *
conn_mode_name(int mode)
{
	switch (mode) {
	case HOME_LISTENER_SUBMISSION:
		return "submission";
	case HOME_LISTENER_SUBMISSIONS:
		return "submissions";
	case HOME_LISTENER_IMAP:
		return "imap";
	case HOME_LISTENER_IMAPS:
		return "imaps";
	case HOME_LISTENER_HTTPS:
		return "https";
	case HOME_LISTENER_HTTP:
		return "http";
	default:
		return "smtp";
	}
}

/* Whether a listener of mode starts with a TLS handshake. */
static int
mode_implicit_tls(int mode)
{
	return mode == HOME_LISTENER_SUBMISSIONS || mode == HOME_LISTENER_IMAPS || mode == HOME_LISTENER_HTTPS;
}

/* Stop accepting: the sockets close, the connections go on. */
static void
listener_close(struct listener *l)
{
	for (size_t a = 0; a < l->nevl; a++)
		ev_listener_free(&l->evl[a]);
}

/* Drop a reference (accepts NULL; clears *lp); the last one frees the listener. */
static void
listener_unref(struct listener **lp)
{
	struct listener *l = *lp;

	*lp = NULL;
	if (l == NULL || --l->refs > 0)
		return;
	listener_close(l);
	free(l->evl);
	free(l->addrs);
	free(l->proxy_from);
	ev_quota_unref(&l->quota);
	ev_quota_unref(&l->clients);
	free(l);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	char peer[ADDR_TEXT_MAX], client[ADDR_TEXT_MAX], stats[SERVER_STATS_MAX];

	stats[0] = '\0';
	if (c->s != NULL)
		c->proto->stats(c->s, stats, sizeof(stats));
	log_info(c->sid, "session", "listener=%s mode=%s peer=%s client=%s%s%s%s tls=%s%s%s %s ms=%lld end=%s",
		 c->l->name, conn_mode_name(c->l->mode), addr_format(&c->peer, peer, sizeof(peer)),
		 addr_format(&c->client, client, sizeof(client)), c->edge_sid[0] != '\0' ? " edge_sid=\"" : "",
		 c->edge_sid, c->edge_sid[0] != '\0' ? "\"" : "", c->tls_desc[0] != '\0' ? "yes" : "no",
		 c->tls_desc[0] != '\0' ? " " : "", c->tls_desc, stats,
		 (long long)(ev_monotonic_ms() - c->start), c->end != NULL ? c->end : "closed");
	if (c->job != NULL)
		c->job->conn = NULL;
	if (c->s != NULL)
		c->proto->free(&c->s);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->hold != NULL)
		event_free(c->hold);
	if (c->tls != NULL)
		bufferevent_free(c->tls);	/* and the socket's bufferevent under it */
	else if (c->bev != NULL)
		bufferevent_free(c->bev);
	ev_slot_release(&c->client_slot);
	ev_slot_release(&c->slot);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->active--;
	listener_unref(&c->l);
	free(c);
	if (srv->stopping && srv->active == 0)
		event_base_loopexit(srv->base, NULL);
}

/* (Re)arm the connection's timer for what it waits for now. */
static void
conn_arm(struct conn *c)
{
	struct server *srv = c->srv;
	int64_t ms;
	struct timeval tv;

	if (c->state == CONN_PROXY || c->s == NULL)
		ms = c->l->proxy_timeout;
	else
		ms = c->proto->timeout_ms(srv, c);
	tv = ev_timeval_ms(ms);
	evtimer_add(c->timer, &tv);
}

/*
 * CLOSING: free the connection once everything queued reached the socket
 * (with TLS, the filter's output and then the socket bufferevent's, which
 * the filter owns: polled every SERVER_CLOSE_POLL_MS), or at the
 * deadline. Returns 1 if c was freed.
 */
static int
conn_closing_check(struct conn *c)
{
	struct timeval tv = ev_timeval_ms(SERVER_CLOSE_POLL_MS);

	if (evbuffer_get_length(bufferevent_get_output(conn_top(c))) == 0 &&
	    (c->tls == NULL || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)) {
		conn_free(c);
		return 1;
	}
	if (ev_monotonic_ms() >= c->close_deadline) {
		c->end = "close_timeout";
		conn_free(c);
		return 1;
	}
	if (c->tls != NULL)
		evtimer_add(c->timer, &tv);
	return 0;
}

/* Close once what is queued has gone out. */
static void
conn_close(struct conn *c, const char *end)
{
	struct bufferevent *top = conn_top(c);
	struct timeval tv = ev_timeval_ms(c->srv->smtp.command_timeout);

	if (c->end == NULL)
		c->end = end;
	c->state = CONN_CLOSING;
	c->close_deadline = ev_monotonic_ms() + c->srv->smtp.command_timeout;
	bufferevent_disable(top, EV_READ);
	bufferevent_setwatermark(top, EV_WRITE, 0, 0);
	bufferevent_enable(top, EV_WRITE);
	evtimer_add(c->timer, &tv);
	(void)conn_closing_check(c);
}

/* Move the session's replies to the socket, up to SERVER_OUT_HIGH. Returns 1 if all went. */
static int
conn_flush(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(conn_top(c));
	size_t n, have = evbuffer_get_length(out);
	const uint8_t *p = c->proto->output(c->s, &n);

	if (n == 0)
		return 1;
	if (have >= SERVER_OUT_HIGH)
		return 0;
	if (n > SERVER_OUT_HIGH - have)
		n = SERVER_OUT_HIGH - have;
	if (evbuffer_add(out, p, n) != 0)
		return 0;
	c->proto->consume(c->s, n);
	c->proto->output(c->s, &n);
	return n == 0;
}

static void
conn_on_hold(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	bufferevent_enable(conn_top(c), EV_READ);
	conn_process(c);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == CONN_CLOSING) {
		(void)conn_closing_check(c);
		return;
	}
	if (c->state != CONN_SESSION || c->s == NULL) {
		c->end = c->state == CONN_PROXY ? "proxy_timeout" : "timeout";
		conn_free(c);
		return;
	}
	log_info(c->sid, "timeout", "mode=%s", conn_mode_name(c->l->mode));
	c->proto->timeout(c->s);
	conn_flush(c);
	conn_close(c, "timeout");
}

static void
conn_tls_start(struct conn *c)
{
	SSL *ssl = SSL_new(tls_server_ctx(c->srv->tls));
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int pending;

	if (ssl == NULL) {
		c->end = "tls_error";
		conn_free(c);
		return;
	}
	pending = evbuffer_get_length(in) > 0;
	c->tls = bufferevent_openssl_filter_new(c->srv->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (c->tls == NULL) {
		SSL_free(ssl);
		c->end = "tls_error";
		conn_free(c);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls, 1);
	bufferevent_setcb(c->tls, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_enable(c->tls, EV_READ | EV_WRITE);
	c->state = CONN_HANDSHAKE;
	conn_arm(c);
	/* Bytes already read (the ClientHello behind a PROXY header) would wait for more. */
	if (pending)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
}

static void
conn_tls_done(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	const char *version = ssl != NULL ? SSL_get_version(ssl) : "unknown";
	const char *cipher = ssl != NULL && SSL_get_current_cipher(ssl) != NULL ?
			     SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)) : "unknown";

	snprintf(c->tls_desc, sizeof(c->tls_desc), "tls_version=%s tls_cipher=%s", version, cipher);
	log_debug(c->sid, "tls", "%s", c->tls_desc);
	c->proto->tls_started(c->s, version, cipher);
	if (c->implicit_tls) {
		c->implicit_tls = 0;
		c->proto->greet(c->s);
	}
	c->state = CONN_SESSION;
	conn_process(c);
}

/* Make the session; TLS first or the greeting. Returns 0, or -1 (c freed). */
static int
conn_session(struct conn *c, int edge_starttls)
{
	c->s = c->proto->open(c->srv, c);
	if (c->s == NULL) {
		c->end = "out_of_memory";
		conn_free(c);
		return -1;
	}
	if (edge_starttls || mode_implicit_tls(c->l->mode)) {
		c->implicit_tls = !edge_starttls;
		conn_tls_start(c);
		return 0;
	}
	c->proto->greet(c->s);
	c->state = CONN_SESSION;
	conn_process(c);
	return 0;
}

/* PROXY: decode the header from the socket's input. */
static void
conn_proxy(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in);
	size_t look = have < PROXYV2_DECODE_MAX ? have : PROXYV2_DECODE_MAX;
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)look);
	struct proxyv2 h;
	const char *why = NULL;
	char client[ADDR_TEXT_MAX];
	enum ev_refusal refusal;
	int n, edge_starttls;

	if (p == NULL && look > 0) {
		c->end = "out_of_memory";
		conn_free(c);
		return;
	}
	n = proxyv2_decode(p, look, &h, &why);
	if (n == 0)
		return;
	if (n < 0) {
		log_warn(c->sid, "proxy", "result=refused listener=%s error=\"%s\"", c->l->name, why);
		c->end = "bad_proxy_header";
		conn_free(c);
		return;
	}
	evbuffer_drain(in, (size_t)n);
	if (h.command == PROXYV2_PROXY && h.have_addrs)
		c->client = h.src;
	if (h.unique_id_len > 0)
		log_escape(h.unique_id, h.unique_id_len, c->edge_sid, sizeof(c->edge_sid));
	edge_starttls = h.homeport.present && (h.homeport.flags & PROXYV2_HP_STARTTLS) &&
			(int)h.homeport.proto == c->proto->edge_proto;
	if (h.homeport.present && (h.homeport.flags & PROXYV2_HP_STARTTLS) && !edge_starttls) {
		log_warn(c->sid, "proxy", "result=refused listener=%s error=\"STARTTLS for another protocol\"",
			 c->l->name);
		c->end = "bad_proxy_header";
		conn_free(c);
		return;
	}
	if (edge_starttls && c->srv->tls == NULL) {
		c->end = "no_tls";
		conn_free(c);
		return;
	}
	c->client_slot = ev_quota_take(c->l->clients, &c->client, &refusal);
	if (c->client_slot == NULL) {
		const char *reason = ev_refusal_name(refusal);

		log_info(c->sid, "refuse", "listener=%s client=%s reason=%s", c->l->name,
			 addr_format(&c->client, client, sizeof(client)), reason);
		c->end = reason;
		if (!edge_starttls && !mode_implicit_tls(c->l->mode)) {
			bufferevent_write(c->bev, c->proto->busy, strlen(c->proto->busy));
			conn_close(c, reason);
			return;
		}
		conn_free(c);
		return;
	}
	log_debug(c->sid, "proxy", "client=%s edge_starttls=%d", addr_format(&c->client, client,
									     sizeof(client)),
		  edge_starttls);
	conn_session(c, edge_starttls);
}

static void
login_job_run(struct worker_job *j)
{
	struct login_job *job = (struct login_job *)j;

	password_check_run(&job->check);
}

/* Back on the loop: the session answers the login and goes on. */
static void
login_job_done(struct worker_job *j)
{
	struct login_job *job = (struct login_job *)j;
	struct conn *c = job->conn;

	if (c != NULL) {
		c->job = NULL;
		c->proto->verified(c->s, j->ran ? &job->check : NULL, ev_monotonic_ms());
	}
	sodium_memzero(&job->check, sizeof(job->check));
	free(job);
	if (c != NULL)
		conn_process(c);
}

/*
 * Hand the session's password check to the workers. Returns 0, or -1 when
 * they cannot take it (busy, out of memory): the session answered 454.
 */
static int
conn_verify(struct conn *c)
{
	const struct password_check *check = c->proto->check(c->s);
	struct login_job *job = calloc(1, sizeof(*job));

	if (job != NULL && check != NULL) {
		job->base.run = login_job_run;
		job->base.done = login_job_done;
		job->conn = c;
		job->check = *check;
		if (worker_pool_submit(c->srv->workers, &job->base) == 0) {
			c->job = job;
			return 0;
		}
		sodium_memzero(&job->check, sizeof(job->check));
	}
	free(job);
	c->proto->verified(c->s, NULL, ev_monotonic_ms());
	return -1;
}

/* If the session wants its output held (a failed login), hold it and stop reading. Returns 1 if so. */
static int
hold_back(struct conn *c)
{
	int64_t delay = c->proto->delay(c->s);
	struct timeval tv;

	if (delay <= 0)
		return 0;
	tv = ev_timeval_ms(delay);
	bufferevent_disable(conn_top(c), EV_READ);
	evtimer_add(c->hold, &tv);
	conn_arm(c);
	return 1;
}

/* Feed the session what has arrived, send its replies, do what it asks. */
static void
conn_process(struct conn *c)
{
	struct bufferevent *top = conn_top(c);
	struct evbuffer *in = bufferevent_get_input(top);

	if (c->state != CONN_SESSION || evtimer_pending(c->hold, NULL))
		return;
	if (hold_back(c))
		return;		/* a login's check failed: its answer waits */
	for (;;) {
		struct evbuffer_iovec v;
		size_t took = 0;

		if (!conn_flush(c)) {
			/* The client does not read: stop reading until it does. */
			bufferevent_disable(top, EV_READ);
			bufferevent_setwatermark(top, EV_WRITE, SERVER_OUT_HIGH / 2, 0);
			return;
		}
		if (c->proto->action(c->s) != SESSION_GO)
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			size_t before, after;

			/* No input: a session with work of its own (a long FETCH, news) goes on. */
			if (!c->proto->pending(c->s))
				break;
			c->proto->output(c->s, &before);
			c->proto->feed(c->s, NULL, 0, ev_monotonic_ms());
			c->proto->output(c->s, &after);
			if (after == before && c->proto->action(c->s) == SESSION_GO)
				break;	/* nothing came of it */
			continue;
		}
		took = c->proto->feed(c->s, v.iov_base, v.iov_len, ev_monotonic_ms());
		evbuffer_drain(in, took);
		if (hold_back(c))
			return;
		if (took == 0 && c->proto->action(c->s) == SESSION_GO)
			continue;	/* output full: flush, then again */
	}
	switch (c->proto->action(c->s)) {
	case SESSION_VERIFY:
		if (c->job != NULL || conn_verify(c) == 0) {
			bufferevent_disable(top, EV_READ);
			return;
		}
		conn_process(c);	/* answered 454 at once */
		return;
	case SESSION_STARTTLS:
		if (c->tls != NULL || c->srv->tls == NULL) {
			conn_close(c, "tls_error");
			return;
		}
		if (evbuffer_get_length(in) > 0) {
			log_warn(c->sid, "starttls_injection", "dropped=%zu", evbuffer_get_length(in));
			evbuffer_drain(in, evbuffer_get_length(in));
		}
		conn_tls_start(c);
		return;
	case SESSION_CLOSE:
		conn_close(c, "closed");
		return;
	default:
		break;
	}
	bufferevent_setwatermark(top, EV_WRITE, 0, 0);
	bufferevent_enable(top, EV_READ);
	conn_arm(c);
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	switch (c->state) {
	case CONN_PROXY:
		conn_proxy(c);
		break;
	case CONN_SESSION:
		conn_arm(c);
		conn_process(c);
		break;
	case CONN_CLOSING:
		evbuffer_drain(bufferevent_get_input(conn_top(c)),
			       evbuffer_get_length(bufferevent_get_input(conn_top(c))));
		break;
	default:
		break;
	}
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_CLOSING) {
		(void)conn_closing_check(c);
		return;
	}
	if (c->state == CONN_SESSION)
		conn_process(c);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_HANDSHAKE)
			conn_tls_done(c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		c->end = c->end != NULL ? c->end : c->state == CONN_HANDSHAKE ? "tls_eof" : "eof";
	else
		c->end = c->end != NULL ? c->end : c->state == CONN_HANDSHAKE ? "tls_error" : "error";
	conn_free(c);
}

static void
server_refuse(int fd, const struct addr *peer, enum ev_refusal why, void *arg)
{
	struct listener *l = arg;
	const char *busy = listener_proto(l)->busy;

	(void)peer;
	(void)why;
	if (!l->proxy && !mode_implicit_tls(l->mode)) {
		ssize_t n = send(fd, busy, strlen(busy), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	close(fd);
}

static void
server_accept(int fd, const struct addr *peer, struct ev_slot *slot, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	char text[ADDR_TEXT_MAX];
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	c->srv = srv;
	c->l = l;
	l->refs++;
	c->proto = listener_proto(l);
	c->slot = slot;
	c->peer = *peer;
	c->client = *peer;
	c->start = ev_monotonic_ms();
	log_sid_new(c->sid);
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->active++;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(srv->base, conn_on_timer, c);
	c->hold = evtimer_new(srv->base, conn_on_hold, c);
	if (c->bev == NULL || c->timer == NULL || c->hold == NULL) {
		if (c->bev == NULL)
			close(fd);
		c->end = "out_of_memory";
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug(c->sid, "accept", "listener=%s peer=%s", l->name, addr_format(peer, text, sizeof(text)));
	if (l->proxy) {
		if (!cidr_list_match(l->proxy_from, l->nproxy_from, peer)) {
			log_warn(c->sid, "proxy", "result=refused listener=%s peer=%s "
				 "error=\"not in proxy_from\"", l->name, text);
			c->end = "proxy_not_allowed";
			conn_free(c);
			return;
		}
		c->state = CONN_PROXY;
		conn_arm(c);
		return;
	}
	conn_session(c, 0);
}

/* ---- the server ---- */

/*
 * The socket quota counts connections, and per source without PROXY.
 * Behind PROXY the socket's peer is the edge: clients are counted in the
 * second quota once the header named them.
 */
static void
server_limits(const struct home_listener_conf *lc, struct ev_listener_limits *lim,
	      struct ev_listener_limits *clients)
{
	/* Whole structs: no rate cap here (a field left out was read uninitialised). */
	*lim = (struct ev_listener_limits){ .max_conns = (unsigned)lc->max_connections,
					    .max_per_source = lc->proxy ? 0 : (unsigned)lc->max_per_source };
	*clients = (struct ev_listener_limits){ .max_per_source = (unsigned)lc->max_per_source };
}

static void
server_throttle_conf(const struct home_conf *hc, struct throttle_conf *tc)
{
	tc->delay_ms = hc->auth->fail_delay;
	tc->delay_max_ms = hc->auth->fail_delay_max;
	tc->lockout_failures = (unsigned)hc->auth->lockout_failures;
	tc->lockout_ms = hc->auth->lockout_time;
}

static void
server_take_conf(struct server *srv, const struct home_conf *hc)
{
	snprintf(srv->hostname, sizeof(srv->hostname), "%s", hc->main->hostname);
	srv->smtp = *hc->smtp;
	srv->imap = *hc->imap;
}

/*
 * A listener for lc, its sockets bound, holding one reference (the
 * caller's). Returns it, or NULL with err set: nothing stays bound then.
 */
static struct listener *
server_listener(struct server *srv, const struct home_listener_conf *lc, char *err, size_t errcap)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct ev_listener_limits lim, clients;

	if (l == NULL)
		goto nomem;
	l->refs = 1;
	l->srv = srv;
	l->max_connections = lc->max_connections;
	l->max_per_source = lc->max_per_source;
	snprintf(l->name, sizeof(l->name), "%s", lc->name);
	l->mode = lc->mode;
	l->proxy = lc->proxy;
	l->proxy_timeout = lc->proxy_timeout;
	l->idle_timeout = lc->idle_timeout;
	if (lc->proxy_from.n > 0) {
		l->proxy_from = calloc(lc->proxy_from.n, sizeof(*l->proxy_from));
		if (l->proxy_from == NULL)
			goto nomem;
		memcpy(l->proxy_from, lc->proxy_from.v, lc->proxy_from.n * sizeof(*l->proxy_from));
		l->nproxy_from = lc->proxy_from.n;
	}
	server_limits(lc, &lim, &clients);
	l->quota = ev_quota_new(&lim);
	l->clients = ev_quota_new(&clients);
	l->evl = calloc(lc->address.n, sizeof(*l->evl));
	l->addrs = calloc(lc->address.n, sizeof(*l->addrs));
	if (l->quota == NULL || l->clients == NULL || l->evl == NULL || l->addrs == NULL)
		goto nomem;
	memcpy(l->addrs, lc->address.v, lc->address.n * sizeof(*l->addrs));
	for (size_t a = 0; a < lc->address.n; a++) {
		int fd = ev_listen_socket(&lc->address.v[a], err, errcap);
		char text[ADDR_TEXT_MAX];
		struct addr bound;

		if (fd < 0)
			goto fail;
		l->evl[a] = ev_listener_new(srv->base, fd, l->name, l->quota, server_accept,
					    server_refuse, l);
		if (l->evl[a] == NULL)
			goto nomem;
		l->nevl++;
		if (ev_listener_address(l->evl[a], &bound) != 0)
			bound = lc->address.v[a];
		log_info(NULL, "listen", "listener=%s mode=%s address=%s proxy=%s", l->name,
			 conn_mode_name(l->mode), addr_format(&bound, text, sizeof(text)), l->proxy ? "yes" : "no");
	}
	return l;
nomem:
	snprintf(err, errcap, "[listener %s]: out of memory", lc->name);
fail:
	listener_unref(&l);
	return NULL;
}

struct server *
server_new(struct event_base *base, const struct home_conf *hc, struct tls_server *tls,
		char *err, size_t errcap)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct throttle_conf tc;
	uint8_t rnd[32];

	if (srv == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	srv->base = base;
	srv->tls = tls;
	server_take_conf(srv, hc);
	server_throttle_conf(hc, &tc);
	srv->th = throttle_new(&tc, 0);
	srv->listeners = calloc(hc->nlisteners > 0 ? hc->nlisteners : 1, sizeof(*srv->listeners));
	srv->workers = worker_pool_new(base, SERVER_CHECK_THREADS, SERVER_CHECK_QUEUE, err, errcap);
	if (srv->workers == NULL)
		goto fail;
	srv->wake = event_new(base, -1, 0, server_on_wake, srv);
	randombytes_buf(rnd, sizeof(rnd));
	if (srv->th == NULL || srv->listeners == NULL || srv->wake == NULL ||
	    password_hash((const char *)rnd, sizeof(rnd), srv->dummy_hash) != 0) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < hc->nlisteners; i++) {
		struct listener *l = server_listener(srv, home_conf_listener(hc, i), err, errcap);

		if (l == NULL)
			goto fail;
		srv->listeners[srv->nlisteners++] = l;
	}
	return srv;
fail:
	server_free(&srv);
	return NULL;
}

/* The store committed a change to mailbox_id (0: any): IMAP sessions look, once the call is over. */
static void
server_store_changed(void *arg, int64_t mailbox_id)
{
	struct server *srv = arg;
	int any = 0;

	for (struct conn *c = srv->conns; c != NULL; c = c->next) {
		if (c->proto == &imap_proto && c->s != NULL && imap_session_changed(c->s, mailbox_id))
			any = 1;
	}
	if (any)
		event_active(srv->wake, EV_TIMEOUT, 0);
}

/* After the change: the sessions that have news send it (IDLE, or at their next command). */
static void
server_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_SESSION && c->s != NULL && c->proto->pending(c->s))
			conn_process(c);
	}
}

void
server_set_mtasts(struct server *srv, const struct mtasts_own *sts)
{
	srv->sts = *sts;
}

void
server_set_store(struct server *srv, struct store *st)
{
	srv->st = st;
	store_set_notify(st, server_store_changed, srv);
}

/* Whether a listener's configuration still matches what was bound. */
static int
server_same_listener(const struct listener *l, const struct home_listener_conf *lc)
{
	if (lc->mode != l->mode || lc->proxy != l->proxy || lc->address.n != l->nevl)
		return 0;
	for (size_t a = 0; a < l->nevl; a++) {
		if (!addr_equal(&l->addrs[a], &lc->address.v[a]))
			return 0;	/* relay on or off moved it */
	}
	return 1;
}

/* The index of the listener called name in v[0..n), or n. */
static size_t
server_find(struct listener *const *v, size_t n, const char *name)
{
	size_t i = 0;

	while (i < n && (v[i] == NULL || strcmp(v[i]->name, name) != 0))
		i++;
	return i;
}

/* [listener name] of hc, or NULL. */
static const struct home_listener_conf *
server_conf_find(const struct home_conf *hc, const char *name)
{
	for (size_t i = 0; i < hc->nlisteners; i++) {
		if (strcmp(home_conf_listener(hc, i)->name, name) == 0)
			return home_conf_listener(hc, i);
	}
	return NULL;
}

/* A listener kept by a reload takes the new limits and timeouts. */
static void
server_update_listener(struct listener *l, const struct home_listener_conf *lc)
{
	struct ev_listener_limits lim, clients;
	struct cidr *from = NULL;

	server_limits(lc, &lim, &clients);
	ev_quota_set_limits(l->quota, &lim);
	ev_quota_set_limits(l->clients, &clients);
	l->proxy_timeout = lc->proxy_timeout;
	l->idle_timeout = lc->idle_timeout;
	l->max_connections = lc->max_connections;
	l->max_per_source = lc->max_per_source;
	if (lc->proxy_from.n > 0 && (from = calloc(lc->proxy_from.n, sizeof(*from))) != NULL) {
		memcpy(from, lc->proxy_from.v, lc->proxy_from.n * sizeof(*from));
		free(l->proxy_from);
		l->proxy_from = from;
		l->nproxy_from = lc->proxy_from.n;
	}
}

/* The addresses l is bound to, "a,b", cut short at cap (for the log). */
static void
server_bound_text(const struct listener *l, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t a = 0; a < l->nevl && used < cap; a++) {
		char text[ADDR_TEXT_MAX];
		struct addr bound;
		int n;

		if (ev_listener_address(l->evl[a], &bound) != 0)
			bound = l->addrs[a];
		n = snprintf(out + used, cap - used, "%s%s", a > 0 ? "," : "",
			     addr_format(&bound, text, sizeof(text)));
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * A new listener with old's settings and addresses, bound again: what a
 * reload does when old's new addresses cannot be bound, so that the
 * listener keeps serving where it did. NULL if that fails too.
 */
static struct listener *
server_listener_again(struct server *srv, const struct listener *old, char *err, size_t errcap)
{
	struct home_listener_conf lc = {
		.name = (char *)old->name,
		.address = { .v = old->addrs, .n = old->nevl },
		.mode = old->mode,
		.proxy = old->proxy,
		.proxy_from = { .v = old->proxy_from, .n = old->nproxy_from },
		.max_connections = old->max_connections,
		.max_per_source = old->max_per_source,
		.idle_timeout = old->idle_timeout,
		.proxy_timeout = old->proxy_timeout,
	};

	return server_listener(srv, &lc, err, errcap);
}

unsigned
server_reload(struct server *srv, const struct home_conf *hc)
{
	struct listener **old = srv->listeners, **next;
	size_t nold = srv->nlisteners, n = 0;
	struct throttle_conf tc;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX], where[SERVER_ADDRS_LOG_MAX];
	unsigned failed = 0;

	server_take_conf(srv, hc);
	server_throttle_conf(hc, &tc);
	throttle_set_conf(srv->th, &tc);
	if (srv->stopping) {
		/* SIGHUP during the shutdown grace: nothing may start accepting again. */
		log_warn(NULL, "reload", "listeners=kept_old reason=stopping");
		return 0;
	}
	if ((next = calloc(hc->nlisteners > 0 ? hc->nlisteners : 1, sizeof(*next))) == NULL) {
		log_error(NULL, "reload", "listeners=kept_old error=\"out of memory\"");
		return 1;
	}
	/*
	 * Every listener that goes or changes stops accepting first, so that
	 * its addresses are free for the new ones (0.0.0.0:25 after
	 * 192.0.2.2:25). Its connections keep it until they end.
	 */
	for (size_t j = 0; j < nold; j++) {
		const struct home_listener_conf *lc = server_conf_find(hc, old[j]->name);

		if (lc == NULL || !server_same_listener(old[j], lc))
			listener_close(old[j]);
	}
	for (size_t i = 0; i < hc->nlisteners; i++) {
		const struct home_listener_conf *lc = home_conf_listener(hc, i);
		size_t j = server_find(old, nold, lc->name);
		struct listener *l;

		if (j < nold && server_same_listener(old[j], lc)) {
			server_update_listener(old[j], lc);
			next[n++] = old[j];
			old[j] = NULL;		/* the reference moved to next */
			continue;
		}
		if ((l = server_listener(srv, lc, err, sizeof(err))) == NULL) {
			char again[CONF_ERROR_MAX];

			failed++;
			log_escape(err, strlen(err), esc, sizeof(esc));
			/* Moved, but the new address cannot be bound: keep serving at the old one. */
			if (j < nold && (l = server_listener_again(srv, old[j], again, sizeof(again))) != NULL) {
				log_error(NULL, "reload", "listener=%s result=failed kept=old_address error=\"%s\"",
					  lc->name, esc);
				next[n++] = l;
			} else {
				log_error(NULL, "reload", "listener=%s result=failed error=\"%s\"", lc->name, esc);
			}
			continue;
		}
		server_bound_text(l, where, sizeof(where));
		log_info(NULL, "reload", "listener=%s result=%s address=%s proxy=%s", l->name,
			 j < nold ? "moved" : "added", where, l->proxy ? "yes" : "no");
		next[n++] = l;
	}
	for (size_t j = 0; j < nold; j++) {
		if (old[j] == NULL)
			continue;
		if (server_conf_find(hc, old[j]->name) == NULL)
			log_info(NULL, "reload", "listener=%s result=removed sessions=%u", old[j]->name,
				 old[j]->refs - 1);
		listener_unref(&old[j]);
	}
	free(old);
	srv->listeners = next;
	srv->nlisteners = n;
	return failed;
}

static void
server_on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	log_info(NULL, "stop", "cut=%u", srv->active);
	while (srv->conns != NULL) {
		srv->conns->end = "shutdown_cut";
		conn_free(srv->conns);
	}
	event_base_loopexit(srv->base, NULL);
}

unsigned
server_stop(struct server *srv)
{
	struct conn *c, *next;
	struct timeval tv = ev_timeval_ms(srv->smtp.shutdown_grace);

	srv->stopping = 1;
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_close(srv->listeners[i]);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_CLOSING)
			continue;
		if (c->state != CONN_SESSION || c->s == NULL) {
			c->end = "shutdown";
			conn_free(c);
			continue;
		}
		if (c->proto->shutdown(c->s)) {
			conn_flush(c);
			conn_close(c, "shutdown");
		}
	}
	if (srv->active > 0) {
		if (srv->grace != NULL)
			event_free(srv->grace);
		srv->grace = evtimer_new(srv->base, server_on_grace, srv);
		if (srv->grace != NULL)
			evtimer_add(srv->grace, &tv);
	}
	return srv->active;
}

int
server_busy(const struct server *srv)
{
	for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
		if (c->state != CONN_SESSION || c->s == NULL)
			continue;
		if (evbuffer_get_length(bufferevent_get_output(conn_top(c))) > 0 ||
		    (c->tls != NULL && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) ||
		    c->proto->pending(c->s))
			return 1;
	}
	return 0;
}

unsigned
server_active(const struct server *srv)
{
	return srv->active;
}

int
server_listener_address(const struct server *srv, size_t i, struct addr *a_r)
{
	if (i >= srv->nlisteners || srv->listeners[i]->nevl == 0 || srv->listeners[i]->evl[0] == NULL)
		return -1;
	return ev_listener_address(srv->listeners[i]->evl[0], a_r);
}

void
server_free(struct server **srvp)
{
	struct server *srv = *srvp;

	if (srv == NULL)
		return;
	srv->stopping = 0;	/* no loopexit from here */
	while (srv->conns != NULL) {
		srv->conns->end = srv->conns->end != NULL ? srv->conns->end : "shutdown";
		conn_free(srv->conns);
	}
	for (size_t i = 0; i < srv->nlisteners; i++)
		listener_unref(&srv->listeners[i]);
	free(srv->listeners);
	if (srv->grace != NULL)
		event_free(srv->grace);
	if (srv->wake != NULL)
		event_free(srv->wake);
	if (srv->st != NULL)
		store_set_notify(srv->st, NULL, NULL);
	/* After the connections: their checks still in the workers are dropped. */
	worker_pool_free(&srv->workers);
	throttle_free(&srv->th);
	sodium_memzero(srv->dummy_hash, sizeof(srv->dummy_hash));
	free(srv);
	*srvp = NULL;
}
