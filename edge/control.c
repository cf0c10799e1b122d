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

#include "dns.h"
#include "edge.h"
#include "enroll_wire.h"
#include "log.h"
#include "wgkey.h"
#include "worker.h"

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

void
control_request_free(struct control_request **crp)
{
	if (crp == NULL || *crp == NULL)
		return;
	free(*crp);
	*crp = NULL;
}

int
control_begin(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len, int64_t now,
	      struct control_request **cr_r, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap)
{
	struct control_request *cr = NULL;
	struct enroll_request rq;
	struct tenants_invite inv;
	const char *why = NULL;
	char err[256], owner[DNSNAME_MAX + 1];
	size_t used = 0;
	int rc;

	*cr_r = NULL;
	*len_r = 0;
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
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		snprintf(log, logcap, "result=try_later reason=\"out of memory\"");
		return control_refuse(&rq, ENROLL_TRY_LATER, "the edge cannot enroll now, try later", out, cap,
				      len_r);
	}
	for (size_t i = 0; i < rq.nhost; i++) {
		char msg[ENROLL_MESSAGE_MAX + 1];
		int n;

		if (!control_host_allowed(inv.hostnames, rq.host[i]))
			snprintf(msg, sizeof(msg), "host name %s is not in the invite", rq.host[i]);
		else if (ctx->require_txt && enroll_txt_owner(rq.host[i], owner, sizeof(owner)) < 0)
			snprintf(msg, sizeof(msg), "a host name is too long for its _homeport TXT record "
				 "(more than %d bytes)", ENROLL_TXT_HOST_MAX);
		else
			msg[0] = '\0';
		if (msg[0] != '\0') {
			control_request_free(&cr);
			snprintf(log, logcap, "result=refused reason=\"%s\"", msg);
			return control_refuse(&rq, ENROLL_REFUSED, msg, out, cap, len_r);
		}
		n = snprintf(cr->hosts + used, sizeof(cr->hosts) - used, "%s%s", i > 0 ? "," : "", rq.host[i]);
		used += n > 0 && (size_t)n < sizeof(cr->hosts) - used ? (size_t)n : 0;
		cr->txt[i] = CONTROL_TXT_FAILED;	/* until looked up */
	}
	snprintf(cr->txt_err, sizeof(cr->txt_err), "not looked up");
	cr->rq = rq;
	*cr_r = cr;
	return 1;
}

void
control_lookup(const struct control_ctx *ctx, struct control_request *cr)
{
	const char *hosts[ENROLL_HOSTS_MAX] = { NULL };
	struct dns_txt *r = calloc(cr->rq.nhost, sizeof(*r));
	size_t n = cr->rq.nhost;

	if (r == NULL) {
		snprintf(cr->txt_err, sizeof(cr->txt_err), "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		hosts[i] = cr->rq.host[i];
	cr->txt_err[0] = '\0';
	if (ctx->txt_lookup(ctx->txt_arg, hosts, n, r) != 0) {
		snprintf(cr->txt_err, sizeof(cr->txt_err), "%s", r[0].err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *rec[DNS_TXT_MAX];
		size_t len[DNS_TXT_MAX];

		switch (r[i].status) {
		case DNS_OK:
			for (size_t k = 0; k < r[i].n; k++) {
				rec[k] = r[i].rr[k].data;
				len[k] = r[i].rr[k].len;
			}
			switch (enroll_txt_match(cr->rq.home_wg_pk, rec, len, r[i].n)) {
			case ENROLL_TXT_FOUND:
				cr->txt[i] = CONTROL_TXT_FOUND;
				break;
			case ENROLL_TXT_OTHER:
				cr->txt[i] = CONTROL_TXT_OTHER;
				break;
			case ENROLL_TXT_NONE:
				cr->txt[i] = CONTROL_TXT_MISSING;
				break;
			}
			break;
		case DNS_NXDOMAIN:
		case DNS_NODATA:
			cr->txt[i] = CONTROL_TXT_MISSING;
			break;
		case DNS_TEMPFAIL:
		case DNS_BOGUS:
			cr->txt[i] = CONTROL_TXT_FAILED;
			if (cr->txt_err[0] == '\0')
				snprintf(cr->txt_err, sizeof(cr->txt_err), "%s (%s)", r[i].err,
					 dns_status_name(r[i].status));
			break;
		}
	}
out:
	free(r);
}

/*
 * The words for the owner when host names lack their record: the exact
 * record of the first, and how many more; shorter words when a long name
 * leaves no room for them.
 */
static void
control_txt_message(const struct control_request *cr, size_t first, size_t missing, char *msg, size_t cap)
{
	char owner[DNSNAME_MAX + 1], text[ENROLL_TXT_LEN + 1];
	int n;

	(void)enroll_txt_owner(cr->rq.host[first], owner, sizeof(owner));
	enroll_txt_text(cr->rq.home_wg_pk, text);
	n = snprintf(msg, cap, "publish %s TXT \"%s\"", owner, text);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(msg, cap, "publish the _homeport TXT records that homeport relay key prints");
		return;
	}
	if (missing > 1) {
		char more[96];
		int m = snprintf(more, sizeof(more), ", and %zu more (homeport relay key prints them all)",
				 missing - 1);

		/* Only whole: the exact record above is what matters. */
		if (m > 0 && (size_t)n + (size_t)m < cap)
			memcpy(msg + n, more, (size_t)m + 1);
	}
}

int
control_finish(struct tenants *t, const struct control_ctx *ctx, const struct control_request *cr, int64_t now,
	       uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap, int *enrolled_r)
{
	const struct enroll_request *rq = &cr->rq;
	struct enroll_response rs;
	struct tenants_tenant x;
	char err[256];
	int rc;

	*len_r = 0;
	*enrolled_r = 0;
	if (ctx->require_txt) {
		size_t missing = 0, first = 0, failed = 0;

		for (size_t i = 0; i < rq->nhost; i++) {
			if (cr->txt[i] == CONTROL_TXT_FAILED)
				failed++;
			else if (cr->txt[i] != CONTROL_TXT_FOUND && missing++ == 0)
				first = i;
		}
		if (missing > 0) {
			char msg[ENROLL_MESSAGE_MAX + 1];

			control_txt_message(cr, first, missing, msg, sizeof(msg));
			snprintf(log, logcap, "result=refused reason=\"%s for %s%s\"",
				 cr->txt[first] == CONTROL_TXT_OTHER ? "_homeport TXT for another key"
								     : "no _homeport TXT",
				 rq->host[first], missing > 1 ? " and more" : "");
			return control_refuse(rq, ENROLL_REFUSED, msg, out, cap, len_r);
		}
		if (failed > 0) {
			snprintf(log, logcap, "result=try_later reason=\"_homeport TXT lookup: %s\"", cr->txt_err);
			return control_refuse(rq, ENROLL_TRY_LATER,
					      "the edge could not look up the _homeport TXT records, try later",
					      out, cap, len_r);
		}
	}
	memset(&x, 0, sizeof(x));
	control_tenant_name(rq->host[0], x.name);
	memcpy(x.wg_key, rq->home_wg_pk, sizeof(x.wg_key));
	snprintf(x.hostnames, sizeof(x.hostnames), "%s", cr->hosts);
	rc = tenants_enroll(t, rq->invite_id, now, &ctx->pool, &x, err, sizeof(err));
	if (rc != 0) {
		snprintf(log, logcap, "result=%s reason=\"%s\"", rc < 0 || rc == 2 ? "try_later" : "refused",
			 err);
		return control_refuse(rq, rc == 1 ? ENROLL_REFUSED : ENROLL_TRY_LATER,
				      rc == 1 ? err : "the edge cannot enroll now, try later", out, cap, len_r);
	}
	memset(&rs, 0, sizeof(rs));
	memcpy(rs.nonce, rq->nonce, sizeof(rs.nonce));
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
	rs.nhost = rq->nhost;
	memcpy(rs.host, rq->host, sizeof(rs.host));
	snprintf(log, logcap, "result=enrolled tenant=%s hosts=\"%s\"%s", x.name, cr->hosts,
		 ctx->require_txt ? " txt=proven" : "");
	*enrolled_r = 1;
	return enroll_response_seal(&rs, rq->reply_pk, out, cap, len_r);
}

int
control_answer(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len,
	       int64_t now, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap,
	       int *enrolled_r)
{
	struct control_request *cr = NULL;
	int rc;

	*enrolled_r = 0;
	rc = control_begin(t, ctx, req, len, now, &cr, out, cap, len_r, log, logcap);
	if (rc != 1)
		return rc;
	if (ctx->require_txt)
		control_lookup(ctx, cr);
	rc = control_finish(t, ctx, cr, now, out, cap, len_r, log, logcap, enrolled_r);
	control_request_free(&cr);
	return rc;
}

/* ---- the control port ------------------------------------------------------ */

struct control_conn;

struct control_server {
	struct edge *e;
	struct control_ctx ctx;
	struct ev_listener *l[CONTROL_LISTENERS_MAX];
	size_t nl;
	struct control_conn *conns;	/* open connections, closed by control_close() */
	struct dns *dns;		/* require_txt: the resolver (NULL without) */
	struct worker_pool *pool;	/* require_txt: where the lookups run */
};

/* A request's TXT lookups on a worker thread. */
struct control_job {
	struct worker_job job;		/* first: the pool hands this back */
	struct control_conn *conn;	/* NULL once the connection is gone: the result is dropped */
	const struct control_ctx *ctx;
	struct control_request *cr;
	int64_t until_ms;		/* monotonic: after this nobody waits for the result */
};

struct control_conn {
	struct control_conn *next, *prev;	/* in srv->conns */
	struct control_server *srv;
	struct bufferevent *bev;
	struct ev_slot *slot;
	struct event *deadline;
	struct control_job *job;	/* the lookups in progress, or NULL */
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
	if (c->job != NULL)
		c->job->conn = NULL;	/* its done() frees it; the invite is not spent */
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	ev_slot_release(&c->slot);
	free(c);
}

static int64_t
control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frame the sealed answer at out + ENROLL_FRAME_HEADER_LEN (alen bytes; rc of the step) and send it. */
static void
control_send(struct control_conn *c, int rc, uint8_t *out, size_t alen, const char *line, int enrolled)
{
	log_info(NULL, "enroll", "peer=%s %s", c->peer, line);
	if (rc != 0 || (rc = enroll_frame_write(out + ENROLL_FRAME_HEADER_LEN, alen, out, ENROLL_FRAME_MAX)) < 0) {
		control_conn_free(c);
		return;
	}
	/*
	 * The peer before the answer: the home brings its tunnel up as soon as
	 * it reads it. Should this fail, the home is enrolled all the same and
	 * the next poll tries again (tunnel.c).
	 */
	if (enrolled && c->srv->e->tunnel != NULL)
		tunnel_sync(c->srv->e, NULL);
	c->answered = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (bufferevent_write(c->bev, out, (size_t)rc) != 0)
		control_conn_free(c);
}

/* Enroll (or refuse) cr now, and answer. */
static void
control_reply(struct control_conn *c, const struct control_request *cr)
{
	uint8_t out[ENROLL_FRAME_MAX];
	size_t alen = 0;
	char line[512];
	int enrolled = 0;
	int rc = control_finish(c->srv->e->tenants, &c->srv->ctx, cr, (int64_t)time(NULL),
				out + ENROLL_FRAME_HEADER_LEN, sizeof(out) - ENROLL_FRAME_HEADER_LEN, &alen, line,
				sizeof(line), &enrolled);

	control_send(c, rc, out, alen, line, enrolled);
}

static void
control_job_run(struct worker_job *wj)
{
	struct control_job *j = (struct control_job *)wj;

	/* Waited in the queue past the connection's deadline: nobody wants it. */
	if (control_now_ms() < j->until_ms)
		control_lookup(j->ctx, j->cr);
}

static void
control_job_done(struct worker_job *wj)
{
	struct control_job *j = (struct control_job *)wj;
	struct control_conn *c = j->conn;

	if (c != NULL) {
		c->job = NULL;
		if (wj->ran)
			control_reply(c, j->cr);
		else
			control_conn_free(c);	/* stopping */
	}
	control_request_free(&j->cr);
	free(j);
}

/* Hand cr's lookups to a worker (taking cr). Returns 0, or -1 (cr still the caller's). */
static int
control_lookup_start(struct control_conn *c, struct control_request *cr)
{
	struct control_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->job.run = control_job_run;
	j->job.done = control_job_done;
	j->conn = c;
	j->ctx = &c->srv->ctx;
	j->cr = cr;
	j->until_ms = control_now_ms() + CONTROL_TIMEOUT_MS;
	if (worker_pool_submit(c->srv->pool, &j->job) != 0) {
		free(j);
		return -1;
	}
	c->job = j;
	bufferevent_disable(c->bev, EV_READ);
	return 0;
}

static void
control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in), mlen = 0, alen = 0;
	struct control_request *cr = NULL;
	uint8_t out[ENROLL_FRAME_MAX];
	const uint8_t *msg = NULL, *p;
	char line[512];
	int rc;

	if (c->answered || c->job != NULL)
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
	rc = control_begin(c->srv->e->tenants, &c->srv->ctx, msg, mlen, (int64_t)time(NULL), &cr,
			   out + ENROLL_FRAME_HEADER_LEN, sizeof(out) - ENROLL_FRAME_HEADER_LEN, &alen, line,
			   sizeof(line));
	if (rc != 1) {
		control_send(c, rc, out, alen, line, 0);
		return;
	}
	if (!c->srv->ctx.require_txt) {
		control_reply(c, cr);
	} else if (control_lookup_start(c, cr) == 0) {
		return;		/* control_job_done() answers */
	} else {
		snprintf(line, sizeof(line), "result=try_later reason=\"too many lookups at once\"");
		rc = control_refuse(&cr->rq, ENROLL_TRY_LATER, "the edge is busy, try later",
				    out + ENROLL_FRAME_HEADER_LEN, sizeof(out) - ENROLL_FRAME_HEADER_LEN, &alen);
		control_send(c, rc, out, alen, line, 0);
	}
	control_request_free(&cr);
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

/* The edge's resolver: dns_txt_names() for "_homeport" names. */
static int
control_txt_dns(void *arg, const char *const *hosts, size_t n, struct dns_txt *r)
{
	return dns_txt_names(arg, ENROLL_TXT_LABEL, hosts, n, r);
}

/* require_txt: the resolver ([enroll] dns_forward, dns_trust_anchor) and the threads that wait for it. */
static int
control_txt_open(struct control_server *srv, const struct edge_enroll_conf *en, char *err, size_t errcap)
{
	struct dns_conf dc = { .forward = en->dns_forward, .trust_anchor_file = en->dns_trust_anchor,
			       .timeout_ms = CONTROL_TXT_TIMEOUT_MS, .no_cache = 1 };
	char derr[256];

	if ((srv->dns = dns_new(&dc, derr, sizeof(derr))) == NULL) {
		snprintf(err, errcap, "[enroll] require_txt: %s", derr);
		return -1;
	}
	if ((srv->pool = worker_pool_new(srv->e->base, CONTROL_TXT_THREADS, CONTROL_CONNS_MAX, err, errcap)) ==
	    NULL)
		return -1;
	srv->ctx.require_txt = 1;
	srv->ctx.txt_lookup = control_txt_dns;
	srv->ctx.txt_arg = srv->dns;
	return 0;
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
	if (ec->enroll->require_txt && control_txt_open(srv, ec->enroll, err, errcap) != 0)
		goto out;
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
	/* Lookups in progress end at once; then every job's done() frees it. */
	if (srv->dns != NULL)
		dns_stop(srv->dns);
	worker_pool_free(&srv->pool);
	dns_free(&srv->dns);
	for (size_t i = 0; i < srv->nl; i++)
		ev_listener_free(&srv->l[i]);
	sodium_memzero(&srv->ctx, sizeof(srv->ctx));
	free(srv);
	e->control = NULL;
}
