/*
 * control: the edge's answer to one enrollment request (docs/wire.md,
 * "Enrollment"). control_answer() takes the request's sealed bytes and
 * gives the sealed response's: open it with the edge's enrollment key,
 * find the invite its id names, check the MAC with the invite's secret and
 * the clock, check the host names against the invite's, enroll the home
 * in tenants.db (which takes the invite: single use) and say what the home
 * needs to bring its tunnel up.
 *
 * Around it, the control port: a TCP listener on [enroll] control, one
 * framed request and one framed answer per connection. After an
 * enrollment the home's WireGuard peer and routes are added
 * (tunnel_sync()) before the answer leaves, so the home's first handshake
 * finds its peer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "edge.h"
#include "enroll_wire.h"
#include "log.h"
#include "wgkey.h"

/* Is host one of the invite's comma-separated names ("" allows any)? */
static int
control_host_allowed(const char *allowed, const char *host)
{
	size_t hl = strlen(host);

	if (allowed[0] == '\0')
		return 1;
	for (const char *p = allowed; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == hl && strncasecmp(p, host, n) == 0)
			return 1;
		p += n + (end != NULL ? 1 : 0);
	}
	return 0;
}

/* The tenant's name from its first host name: dots become '-', at most TENANTS_NAME_MAX. */
static void
control_tenant_name(const char *host, char out[TENANTS_NAME_MAX + 1])
{
	size_t n = 0;

	for (; host[n] != '\0' && n < TENANTS_NAME_MAX; n++)
		out[n] = host[n] == '.' ? '-' : host[n];
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
}

/* A refusal (or "try later") for the home, sealed to its reply key. */
static int
control_refuse(const struct enroll_request *rq, uint8_t status, const char *why, uint8_t *out,
	       size_t cap, size_t *len_r)
{
	struct enroll_response rs = { .status = status };

	memcpy(rs.nonce, rq->nonce, sizeof(rs.nonce));
	snprintf(rs.message, sizeof(rs.message), "%s", why);
	return enroll_response_seal(&rs, rq->reply_pk, out, cap, len_r);
}

int
control_answer(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len,
	       int64_t now, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap,
	       int *enrolled_r)
{
	struct enroll_request rq;
	struct enroll_response rs;
	struct tenants_invite inv;
	struct tenants_tenant x;
	const char *why = NULL;
	char err[256], hosts[TENANTS_HOSTNAMES_MAX];
	size_t used = 0;
	int rc;

	*len_r = 0;
	*enrolled_r = 0;
	if (enroll_request_open(req, len, ctx->box_pk, ctx->box_sk, &rq, &why) != 0) {
		/* Not sealed to us, or not a request: nobody to answer to. */
		snprintf(log, logcap, "result=dropped reason=\"%s\"", why);
		return -1;
	}
	rc = tenants_invite_get(t, rq.invite_id, &inv, err, sizeof(err));
	if (rc < 0) {
		snprintf(log, logcap, "result=try_later reason=\"%s\"", err);
		return control_refuse(&rq, ENROLL_TRY_LATER, "the edge cannot enroll now, try later", out, cap,
				      len_r);
	}
	/*
	 * An unknown invite and a wrong MAC get the same answer: the answer
	 * must not tell which invite ids exist.
	 */
	if (rc > 0 || enroll_request_verify(&rq, inv.secret, now, ENROLL_SKEW_MAX, &why) != 0) {
		sodium_memzero(&inv, sizeof(inv));
		snprintf(log, logcap, "result=refused reason=\"%s\"",
			 rc > 0 ? "unknown invite" : why);
		return control_refuse(&rq, ENROLL_REFUSED,
				      rc == 0 && strstr(why, "clock") != NULL
					      ? "the home's clock is off by more than 5 minutes"
					      : "invite unknown, or the token does not match it",
				      out, cap, len_r);
	}
	sodium_memzero(inv.secret, sizeof(inv.secret));
	if (inv.used != 0 || inv.expires <= now) {
		snprintf(log, logcap, "result=refused reason=\"invite %s\"", inv.used ? "used" : "expired");
		return control_refuse(&rq, ENROLL_REFUSED,
				      inv.used ? "invite already used" : "invite expired", out, cap, len_r);
	}
	if (rq.nhost == 0) {
		snprintf(log, logcap, "result=refused reason=\"no host names\"");
		return control_refuse(&rq, ENROLL_REFUSED, "the request names no host", out, cap, len_r);
	}
	for (size_t i = 0; i < rq.nhost; i++) {
		int n;
		if (!control_host_allowed(inv.hostnames, rq.host[i])) {
			char msg[ENROLL_MESSAGE_MAX + 1];
			snprintf(msg, sizeof(msg), "host name %s is not in the invite", rq.host[i]);
			snprintf(log, logcap, "result=refused reason=\"%s\"", msg);
			return control_refuse(&rq, ENROLL_REFUSED, msg, out, cap, len_r);
		}
		n = snprintf(hosts + used, sizeof(hosts) - used, "%s%s", i > 0 ? "," : "", rq.host[i]);
		used += n > 0 && (size_t)n < sizeof(hosts) - used ? (size_t)n : 0;
	}
	memset(&x, 0, sizeof(x));
	control_tenant_name(rq.host[0], x.name);
	memcpy(x.wg_key, rq.home_wg_pk, sizeof(x.wg_key));
	snprintf(x.hostnames, sizeof(x.hostnames), "%s", hosts);
	rc = tenants_enroll(t, rq.invite_id, now, &ctx->pool, &x, err, sizeof(err));
	if (rc != 0) {
		snprintf(log, logcap, "result=%s reason=\"%s\"", rc < 0 || rc == 2 ? "try_later" : "refused",
			 err);
		return control_refuse(&rq, rc == 1 ? ENROLL_REFUSED : ENROLL_TRY_LATER,
				      rc == 1 ? err : "the edge cannot enroll now, try later", out, cap, len_r);
	}
	memset(&rs, 0, sizeof(rs));
	memcpy(rs.nonce, rq.nonce, sizeof(rs.nonce));
	rs.status = ENROLL_OK;
	snprintf(rs.message, sizeof(rs.message), "welcome");
	snprintf(rs.tenant, sizeof(rs.tenant), "%s", x.name);
	memcpy(rs.edge_wg_pk, ctx->edge_wg_pk, sizeof(rs.edge_wg_pk));
	rs.wg_endpoint = ctx->wg_endpoint;
	rs.tunnel_v4 = x.tunnel_v4;
	rs.tunnel_v4_prefix = (uint8_t)ctx->pool.v4.prefix;
	if (ctx->pool.has_v6) {
		rs.tunnel_v6 = x.tunnel_v6;
		rs.tunnel_v6_prefix = (uint8_t)ctx->pool.v6.prefix;
		(void)tenants_pool_host(&ctx->pool.v6, 1, &rs.edge_v6);
	}
	(void)tenants_pool_host(&ctx->pool.v4, 1, &rs.edge_v4);
	rs.egress_port = ctx->egress_port;
	rs.nhost = rq.nhost;
	memcpy(rs.host, rq.host, sizeof(rs.host));
	snprintf(log, logcap, "result=enrolled tenant=%s hosts=\"%s\"", x.name, hosts);
	*enrolled_r = 1;
	return enroll_response_seal(&rs, rq.reply_pk, out, cap, len_r);
}

/* ---- the control port ------------------------------------------------------ */

struct control_conn;

struct control_server {
	struct edge *e;
	struct control_ctx ctx;
	struct ev_listener *l[CONTROL_LISTENERS_MAX];
	size_t nl;
	struct control_conn *conns;	/* open connections, closed by control_close() */
};

struct control_conn {
	struct control_conn *next, *prev;	/* in srv->conns */
	struct control_server *srv;
	struct bufferevent *bev;
	struct ev_slot *slot;
	struct event *deadline;
	char peer[ADDR_TEXT_MAX];
	int answered;			/* the answer is queued: close once it is written */
};

static void
control_conn_free(struct control_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	ev_slot_release(&c->slot);
	free(c);
}

static void
control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in), mlen = 0, alen = 0;
	uint8_t out[ENROLL_FRAME_MAX];
	const uint8_t *msg = NULL, *p;
	char line[512];
	int rc, enrolled = 0;

	if (c->answered)
		return;
	if (n > ENROLL_FRAME_MAX)
		n = ENROLL_FRAME_MAX;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
		control_conn_free(c);
		return;
	}
	rc = enroll_frame_parse(p, n, &msg, &mlen);
	if (rc == 0)
		return;		/* more bytes: the deadline bounds the wait */
	if (rc < 0) {
		log_info(NULL, "enroll", "peer=%s result=dropped reason=\"bad frame\"", c->peer);
		control_conn_free(c);
		return;
	}
	if (control_answer(c->srv->e->tenants, &c->srv->ctx, msg, mlen, (int64_t)time(NULL),
			   out + ENROLL_FRAME_HEADER_LEN, sizeof(out) - ENROLL_FRAME_HEADER_LEN, &alen, line,
			   sizeof(line), &enrolled) != 0 ||
	    (rc = enroll_frame_write(out + ENROLL_FRAME_HEADER_LEN, alen, out, sizeof(out))) < 0) {
		log_info(NULL, "enroll", "peer=%s %s", c->peer, line);
		control_conn_free(c);
		return;
	}
	log_info(NULL, "enroll", "peer=%s %s", c->peer, line);
	/*
	 * The peer before the answer: the home brings its tunnel up as soon as
	 * it reads it. Should this fail, the home is enrolled all the same and
	 * the next poll tries again (tunnel.c).
	 */
	if (enrolled && c->srv->e->tunnel != NULL)
		tunnel_sync(c->srv->e, NULL);
	c->answered = 1;
	bufferevent_disable(bev, EV_READ);
	if (bufferevent_write(bev, out, (size_t)rc) != 0)
		control_conn_free(c);
}

static void
control_on_write(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_conn_free(c);
}

static void
control_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	control_conn_free(arg);
}

static void
control_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct control_conn *c = arg;

	(void)fd;
	(void)what;
	log_info(NULL, "enroll", "peer=%s result=dropped reason=\"timeout\"", c->peer);
	control_conn_free(c);
}

static void
control_on_accept(int fd, const struct addr *peer, struct ev_slot *slot, void *arg)
{
	struct control_server *srv = arg;
	struct control_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = ev_timeval_ms(CONTROL_TIMEOUT_MS);

	if (c == NULL) {
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	c->srv = srv;
	c->slot = slot;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	addr_format(peer, c->peer, sizeof(c->peer));
	c->bev = bufferevent_socket_new(srv->e->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(srv->e->base, control_on_deadline, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev == NULL)
			close(fd);
		control_conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, control_on_read, control_on_write, control_on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, ENROLL_FRAME_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evtimer_add(c->deadline, &tv);
}

/* The edge's WireGuard public key from STATE_DIR/keys/wg.key. */
static int
control_wg_public(const char *state_dir, uint8_t pub[32], char *err, size_t errcap)
{
	uint8_t text[128], priv[32];
	size_t len = 0;
	int rc = -1;

	if (edge_key_read(state_dir, "wg.key", text, sizeof(text), &len, err, errcap) != 0)
		return -1;
	if (wgkey_parse((const char *)text, len, priv) != 0 || wgkey_public(priv, pub) != 0)
		snprintf(err, errcap, "%s/keys/wg.key: not a WireGuard key", state_dir);
	else
		rc = 0;
	sodium_memzero(text, sizeof(text));
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

int
control_open(struct edge *e, char *err, size_t errcap)
{
	const struct edge_conf *ec = route_table_conf(e->routes);
	struct ev_listener_limits limits = { .max_conns = CONTROL_CONNS_MAX };
	struct control_server *srv;
	struct ev_quota *q = NULL;
	int rc = -1;

	if (ec->enroll == NULL || ec->enroll->control.n == 0)
		return 0;
	if (e->tenants == NULL) {
		snprintf(err, errcap, "tenants.db is not open");
		return -1;
	}
	if (ec->enroll->control.n > CONTROL_LISTENERS_MAX) {
		snprintf(err, errcap, "[enroll] control: at most %d addresses", CONTROL_LISTENERS_MAX);
		return -1;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL || (q = ev_quota_new(&limits)) == NULL) {
		free(srv);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	srv->e = e;
	e->control = srv;
	/* Read as root, before privileges drop: the keys and tenants.db are 0600. */
	if (edge_enroll_key(ec->main->state_dir, srv->ctx.box_pk, srv->ctx.box_sk, err, errcap) != 0 ||
	    control_wg_public(ec->main->state_dir, srv->ctx.edge_wg_pk, err, errcap) != 0)
		goto out;
	srv->ctx.wg_endpoint = ec->enroll->endpoint;
	for (size_t i = 0; i < ec->enroll->tunnel.n; i++) {
		if (ec->enroll->tunnel.v[i].family == AF_INET) {
			srv->ctx.pool.v4 = ec->enroll->tunnel.v[i];
		} else {
			srv->ctx.pool.v6 = ec->enroll->tunnel.v[i];
			srv->ctx.pool.has_v6 = 1;
		}
	}
	srv->ctx.egress_port = ec->egress != NULL ? addr_port(&ec->egress->address.v[0]) : 0;
	for (size_t i = 0; i < ec->enroll->control.n; i++) {
		int fd = ev_listen_socket(&ec->enroll->control.v[i], err, errcap);
		if (fd < 0)
			goto out;
		if ((srv->l[srv->nl] = ev_listener_new(e->base, fd, "control", q, control_on_accept, NULL, srv)) ==
		    NULL) {
			snprintf(err, errcap, "out of memory");
			goto out;
		}
		srv->nl++;
	}
	rc = 0;
out:
	ev_quota_unref(&q);
	return rc;
}

void
control_close(struct edge *e)
{
	struct control_server *srv = e->control;

	if (srv == NULL)
		return;
	while (srv->conns != NULL)
		control_conn_free(srv->conns);
	for (size_t i = 0; i < srv->nl; i++)
		ev_listener_free(&srv->l[i]);
	sodium_memzero(&srv->ctx, sizeof(srv->ctx));
	free(srv);
	e->control = NULL;
}
