/*
 * queue: the runner of the outbound queue, on homeportd's loop.
 *
 * Every QUEUE_SCAN_MS it reads the entries that are due (store_queue_due),
 * groups them into attempts (one body, one sender, one recipient domain,
 * at most SMTP_CLIENT_RCPTS_MAX recipients), and hands each attempt to a
 * delivery thread (smtp_client.c) while [outbound] max_deliveries and
 * max_per_domain allow. When an attempt is back, each recipient's entry
 * is removed (sent, bounced) or deferred: the wait doubles from retry_min
 * up to retry_max, and an entry older than expire bounces with its last
 * error. A bounce puts a delivery status notification (dsn.c) into the
 * sender's INBOX, when the sender is one of our users.
 *
 * Entries leave the queue only here, after the remote answer: a crash in
 * between sends the message again (at least once, never lost).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "dkim.h"
#include "dns.h"
#include "dsn.h"
#include "ev.h"
#include "home.h"
#include "log.h"
#include "mtasts.h"
#include "smtp_client.h"
#include "tls.h"
#include "worker.h"

#define QUEUE_SCAN_MS 1000		/* how often the queue is read for due entries */
#define QUEUE_SCAN_MAX 1000		/* entries read per scan */
#define QUEUE_RESOLVE_MAX 64		/* users a bounce's sender may resolve to */

/*
 * How attempts leave: [outbound] transport and egress as the last start
 * or reload read them. Attempts keep the route they started with; it is
 * freed when the last of them is back and a reload replaced it. Counted
 * on the loop only (delivery threads just read it).
 */
struct queue_route {
	unsigned refs;			/* the queue's while current, one per attempt */
	int transport;			/* enum home_transport */
	size_t negress;
	struct addr egress[];
};

struct queue_job {
	struct worker_job base;		/* first: the pool hands it back */
	struct queue *q;
	struct queue_route *route;	/* a reference, NULL for a bounce without an attempt */
	struct queue_job *next;		/* in q->running */
	int attempts[SMTP_CLIENT_RCPTS_MAX];	/* each entry's attempts before this one */
	int64_t created[SMTP_CLIENT_RCPTS_MAX];
	struct smtp_client_job cj;
};

struct queue {
	struct event_base *base;
	struct store *st;
	struct home_outbound_conf conf;	/* a copy (without egress: route has it) */
	struct queue_route *route;	/* for attempts that start now */
	char hostname[DNSNAME_MAX + 1];
	char store_path[HOME_PATH_MAX];
	struct smtp_client_env env;
	struct dns *dns;
	SSL_CTX *tls, *tls_verify;
	struct mtasts_cache *sts;
	char *ca_file;
	int curl;			/* mtasts_global_init() ran */
	struct worker_pool *pool;
	struct event *timer;
	struct queue_job *running;
	size_t nrunning;
	int stopping;
};

/* ---- routes ---------------------------------------------------------------- */

/* The route of oc ([outbound] transport and egress), with one reference; NULL when out of memory. */
static struct queue_route *
queue_route_new(const struct home_outbound_conf *oc)
{
	struct queue_route *r = calloc(1, sizeof(*r) + oc->egress.n * sizeof(r->egress[0]));

	if (r == NULL)
		return NULL;
	r->refs = 1;
	r->transport = oc->transport;
	r->negress = oc->egress.n;
	if (oc->egress.n > 0)
		memcpy(r->egress, oc->egress.v, oc->egress.n * sizeof(r->egress[0]));
	return r;
}

/* Whether r goes out as oc says. */
static int
queue_route_same(const struct queue_route *r, const struct home_outbound_conf *oc)
{
	if (r->transport != oc->transport || r->negress != oc->egress.n)
		return 0;
	for (size_t i = 0; i < r->negress; i++) {
		if (!addr_equal(&r->egress[i], &oc->egress.v[i]))
			return 0;
	}
	return 1;
}

/* Drop a reference (accepts NULL; clears *rp). */
static void
queue_route_unref(struct queue_route **rp)
{
	struct queue_route *r = *rp;

	*rp = NULL;
	if (r != NULL && --r->refs == 0)
		free(r);
}

static void
queue_job_free(struct queue_job *j)
{
	queue_route_unref(&j->route);
	free(j);
}

/* ---- what runs ----------------------------------------------------------- */

static int
queue_in_flight(const struct queue *q, int64_t id)
{
	for (const struct queue_job *j = q->running; j != NULL; j = j->next)
		for (size_t i = 0; i < j->cj.nrcpts; i++)
			if (j->cj.rcpts[i].queue_id == id)
				return 1;
	return 0;
}

static size_t
queue_domain_count(const struct queue *q, const char *domain)
{
	size_t n = 0;

	for (const struct queue_job *j = q->running; j != NULL; j = j->next)
		n += strcasecmp(j->cj.domain, domain) == 0;
	return n;
}

/* The domain of an address (after its last '@'), or NULL. */
static const char *
queue_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* The wait after a failed attempt, the attempts before it being attempts. */
static int64_t
queue_backoff_ms(const struct home_outbound_conf *c, int attempts)
{
	int64_t ms = c->retry_min;

	for (int i = 0; i < attempts && ms < c->retry_max; i++)
		ms *= 2;
	return ms < c->retry_max ? ms : c->retry_max;
}

/* ---- bounces ------------------------------------------------------------- */

/*
 * r waited age seconds, longer than expire: it fails for good with 4.4.7
 * ("delivery time expired", RFC 3463; a failed action may carry a 4.x.x
 * status, RFC 3464 2.3.4) and our words, the last error in them.
 */
static void
queue_give_up(struct smtp_client_rcpt *r, int64_t age, const char *last)
{
	char text[SMTP_CLIENT_TEXT_MAX];

	if (age >= 2 * 86400)
		snprintf(text, sizeof(text), "gave up after %lld days; the last attempt: %s",
			 (long long)(age / 86400), last);
	else if (age >= 2 * 3600)
		snprintf(text, sizeof(text), "gave up after %lld hours; the last attempt: %s",
			 (long long)(age / 3600), last);
	else
		snprintf(text, sizeof(text), "gave up after %lld seconds; the last attempt: %s",
			 (long long)age, last);
	snprintf(r->text, sizeof(r->text), "%s", text);
	snprintf(r->status, sizeof(r->status), "4.4.7");
	r->result = SMTP_CLIENT_BOUNCE;
	r->remote = 0;
}

/* The original message's header section (without its empty line), malloc()ed. */
static uint8_t *
queue_headers(struct queue *q, int64_t body_id, size_t *len_r)
{
	uint8_t *buf = malloc(DSN_HEADERS_MAX + 4);
	struct store_err err;
	size_t n = 0;

	*len_r = 0;
	if (buf == NULL ||
	    store_body_read(q->st, body_id, 0, buf, DSN_HEADERS_MAX + 4, &n, &err) != 0) {
		free(buf);
		return NULL;
	}
	for (size_t i = 0; i + 3 < n; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			*len_r = i + 2;
			return buf;
		}
	}
	*len_r = n < DSN_HEADERS_MAX ? n : DSN_HEADERS_MAX;	/* no body, or a long header: dsn.c cuts */
	return buf;
}

/*
 * Tell the sender of job's message that rcpts[0..n) failed for good: a DSN
 * into the INBOX of the users the sender's address delivers to. A null
 * sender (a bounce itself) or one that is not ours gets nothing: logged.
 */
static void
queue_bounce(struct queue *q, const struct smtp_client_job *cj, const struct smtp_client_rcpt *const *rcpts,
	     size_t n)
{
	struct dsn_rcpt *dr = calloc(n, sizeof(*dr));
	int64_t ids[QUEUE_RESOLVE_MAX];
	char local[STORE_ADDRESS_MAX], unique[64], err[256];
	const char *domain = queue_domain_of(cj->mail_from);
	struct store_delivery *d = NULL;
	struct store_err serr;
	uint8_t *headers = NULL;
	char *msg = NULL;
	size_t nids = 0, hlen = 0, mlen = 0;
	int64_t now = (int64_t)time(NULL);

	if (dr == NULL)
		goto fail_msg;
	if (cj->mail_from[0] == '\0' || domain == NULL) {
		log_info(cj->sid, "bounce", "result=dropped reason=\"null sender\" rcpts=%zu", n);
		goto out;
	}
	snprintf(local, sizeof(local), "%.*s", (int)(domain - 1 - cj->mail_from), cj->mail_from);
	if (store_resolve(q->st, local, domain, ids, QUEUE_RESOLVE_MAX, &nids, &serr) != 0 || nids == 0) {
		log_warn(cj->sid, "bounce", "result=dropped reason=\"sender is not a local user\" rcpts=%zu",
			 n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct smtp_client_rcpt *r = rcpts[i];
		dr[i] = (struct dsn_rcpt){
			.address = r->address,
			.action = DSN_FAILED,
			.status = r->status,
			.remote_mta = r->remote && cj->mx[0] != '\0' ? cj->mx : NULL,
			.diagnostic = r->remote ? r->text : NULL,
			.reason = r->remote ? NULL : r->text,
			.last_attempt = now,
		};
	}
	snprintf(unique, sizeof(unique), "dsn.%lld.%08x", (long long)now, randombytes_random());
	headers = queue_headers(q, cj->body_id, &hlen);
	struct dsn_info info = {
		.reporting_mta = q->hostname,
		.sender = cj->mail_from,
		.arrival = cj->arrival,
		.now = now,
		.unique = unique,
		.headers = headers,
		.headers_len = hlen,
		.rcpts = dr,
		.nrcpts = n,
	};
	if (dsn_build(&info, &msg, &mlen, err, sizeof(err)) != 0) {
		log_error(cj->sid, "bounce", "result=failed error=\"%s\"", err);
		goto out;
	}
	if ((d = store_delivery_begin(q->st, "", &serr)) == NULL)
		goto fail_store;
	for (size_t i = 0; i < nids; i++)
		if (store_delivery_add_user(d, ids[i], &serr) != 0)
			goto fail_store;
	if (store_delivery_write(d, msg, mlen, &serr) != 0 || store_delivery_commit(d, now, &serr) != 0)
		goto fail_store;
	log_info(cj->sid, "bounce", "result=ok to=\"%s\" rcpts=%zu dsn_body_id=%lld", local, n,
		 (long long)store_delivery_body_id(d));
	goto out;
fail_store:
	log_error(cj->sid, "bounce", "result=failed error=\"%s\"", serr.msg);
	goto out;
fail_msg:
	log_error(cj->sid, "bounce", "result=failed error=\"out of memory\"");
out:
	store_delivery_free(&d);
	free(msg);
	free(headers);
	free(dr);
}

/* ---- attempts ------------------------------------------------------------ */

static void
queue_job_run(struct worker_job *w)
{
	struct queue_job *j = (struct queue_job *)w;

	smtp_client_deliver(&j->cj);
}

static void
queue_unlink(struct queue *q, struct queue_job *j)
{
	for (struct queue_job **p = &q->running; *p != NULL; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			q->nrunning--;
			return;
		}
	}
}

/*
 * An attempt is back: the bounces' DSN first, then every entry removed or
 * deferred in one transaction. In that order a crash in between sends a
 * DSN twice rather than never.
 */
static void
queue_job_done(struct worker_job *w)
{
	struct queue_job *j = (struct queue_job *)w;
	struct queue *q = j->q;
	struct smtp_client_job *cj = &j->cj;
	const struct smtp_client_rcpt *bounced[SMTP_CLIENT_RCPTS_MAX];
	struct store_queue_outcome out[SMTP_CLIENT_RCPTS_MAX];
	int64_t now = (int64_t)time(NULL);
	struct store_err err;
	size_t nb = 0, n = 0;

	queue_unlink(q, j);
	if (!w->ran) {
		queue_job_free(j);	/* stopped before it ran: the entries wait in the queue */
		return;
	}
	for (size_t i = 0; i < cj->nrcpts; i++) {
		struct smtp_client_rcpt *r = &cj->rcpts[i];
		int expired = r->result == SMTP_CLIENT_DEFER &&
			      (now - j->created[i]) * 1000 >= q->conf.expire;
		if (expired)
			queue_give_up(r, now - j->created[i], r->text);
		if (r->result == SMTP_CLIENT_DEFER && q->stopping)
			continue;	/* cut short by the stop: due again at the next start */
		out[n] = (struct store_queue_outcome){ .id = r->queue_id, .remove = 1 };
		if (r->result == SMTP_CLIENT_DEFER) {
			int64_t wait = queue_backoff_ms(&q->conf, j->attempts[i]);
			out[n].remove = 0;
			out[n].next_attempt = now + (wait + 999) / 1000;
			out[n].error = r->text;
		} else if (r->result == SMTP_CLIENT_BOUNCE) {
			bounced[nb++] = r;
		}
		n++;
	}
	if (nb > 0)
		queue_bounce(q, cj, bounced, nb);
	if (store_queue_settle(q->st, out, n, &err) != 0)
		log_error(cj->sid, "queue", "result=failed entries=%zu error=\"%s\"", n, err.msg);
	queue_job_free(j);
}

/* Entries that waited longer than expire bounce without another attempt. */
static int
queue_expired(struct queue *q, const struct store_queue_entry *e, int64_t now)
{
	struct queue_job *j;
	const struct smtp_client_rcpt *r;
	struct store_err err;

	if ((now - e->created) * 1000 < q->conf.expire)
		return 0;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return 0;
	log_sid_new(j->cj.sid);
	j->cj.body_id = e->body_id;
	j->cj.arrival = e->created;
	snprintf(j->cj.mail_from, sizeof(j->cj.mail_from), "%s", e->mail_from);
	j->cj.nrcpts = 1;
	j->cj.rcpts[0].queue_id = e->id;
	snprintf(j->cj.rcpts[0].address, sizeof(j->cj.rcpts[0].address), "%s", e->rcpt);
	queue_give_up(&j->cj.rcpts[0], now - e->created,
		      e->last_error[0] != '\0' ? e->last_error : "never tried");
	r = &j->cj.rcpts[0];
	log_info(j->cj.sid, "deliver", "queue_id=%lld result=bounced reply=\"%s\"", (long long)e->id,
		 r->text);
	queue_bounce(q, &j->cj, &r, 1);
	if (store_queue_remove(q->st, e->id, &err) != 0)
		log_error(j->cj.sid, "queue", "queue_id=%lld result=failed error=\"%s\"", (long long)e->id,
			  err.msg);
	free(j);
	return 1;
}

/* Put entry e into an attempt: one being built for its body, sender and domain, or a new one. */
static struct queue_job *
queue_place(struct queue *q, struct queue_job **building, const struct store_queue_entry *e,
	    size_t *nbuilding)
{
	const char *domain = queue_domain_of(e->rcpt);
	struct queue_job *j;

	if (domain == NULL || strlen(domain) > DNSNAME_MAX)
		return NULL;
	for (j = *building; j != NULL; j = j->next) {
		if (j->cj.body_id == e->body_id && strcmp(j->cj.mail_from, e->mail_from) == 0 &&
		    strcasecmp(j->cj.domain, domain) == 0 && j->cj.nrcpts < SMTP_CLIENT_RCPTS_MAX)
			return j;
	}
	if (q->nrunning + *nbuilding >= (size_t)q->conf.max_deliveries)
		return NULL;
	size_t same = queue_domain_count(q, domain);
	for (j = *building; j != NULL; j = j->next)
		same += strcasecmp(j->cj.domain, domain) == 0;
	if (same >= (size_t)q->conf.max_per_domain)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->q = q;
	j->base.run = queue_job_run;
	j->base.done = queue_job_done;
	j->cj.env = &q->env;
	j->route = q->route;
	j->route->refs++;
	j->cj.transport = j->route->transport;
	j->cj.egress = j->route->egress;
	j->cj.negress = j->route->negress;
	log_sid_new(j->cj.sid);
	j->cj.body_id = e->body_id;
	j->cj.arrival = e->created;
	snprintf(j->cj.mail_from, sizeof(j->cj.mail_from), "%s", e->mail_from);
	snprintf(j->cj.domain, sizeof(j->cj.domain), "%s", domain);
	j->next = *building;
	*building = j;
	(*nbuilding)++;
	return j;
}

static void
queue_scan(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	struct store_queue_entry *due = NULL;
	struct queue_job *building = NULL, *j, *next;
	struct store_err err;
	struct timeval tv = ev_timeval_ms(QUEUE_SCAN_MS);
	int64_t now = (int64_t)time(NULL);
	size_t n = 0, nbuilding = 0;

	(void)fd;
	(void)what;
	if (q->stopping)
		return;
	if (q->nrunning < (size_t)q->conf.max_deliveries &&
	    store_queue_due(q->st, now, QUEUE_SCAN_MAX, &due, &n, &err) != 0)
		log_error(NULL, "queue", "result=failed error=\"%s\"", err.msg);
	for (size_t i = 0; i < n; i++) {
		const struct store_queue_entry *e = &due[i];
		if (queue_in_flight(q, e->id) || queue_expired(q, e, now))
			continue;
		if ((j = queue_place(q, &building, e, &nbuilding)) == NULL)
			continue;
		struct smtp_client_rcpt *r = &j->cj.rcpts[j->cj.nrcpts];
		r->queue_id = e->id;
		snprintf(r->address, sizeof(r->address), "%s", e->rcpt);
		j->attempts[j->cj.nrcpts] = e->attempts;
		j->created[j->cj.nrcpts] = e->created;
		j->cj.nrcpts++;
	}
	free(due);
	for (j = building; j != NULL; j = next) {
		next = j->next;
		j->next = q->running;
		q->running = j;
		q->nrunning++;
		log_info(j->cj.sid, "deliver", "result=started body_id=%lld domain=%s rcpts=%zu",
			 (long long)j->cj.body_id, j->cj.domain, j->cj.nrcpts);
		if (worker_pool_submit(q->pool, &j->base) != 0) {
			queue_unlink(q, j);
			queue_job_free(j);
		}
	}
	evtimer_add(q->timer, &tv);
}

/* ---- life ---------------------------------------------------------------- */

struct queue *
queue_new(struct event_base *base, const struct home_conf *hc, struct store *st,
	  const struct dkim_keys *keys, char *err, size_t errcap)
{
	struct queue *q = calloc(1, sizeof(*q));
	struct dns_conf dc;

	if (q == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	q->base = base;
	q->st = st;
	q->conf = *hc->outbound;
	/* The copy must outlive the configuration it came from (a reload frees that). */
	q->conf.egress.v = NULL;
	q->conf.egress.n = 0;
	if ((q->route = queue_route_new(hc->outbound)) == NULL) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	snprintf(q->hostname, sizeof(q->hostname), "%s", hc->main->hostname);
	if (home_store_path(hc->main->state_dir, q->store_path, sizeof(q->store_path)) != 0) {
		snprintf(err, errcap, "state_dir too long");
		goto fail;
	}
	dc = (struct dns_conf){ .forward = hc->outbound->dns_forward,
				.trust_anchor_file = hc->outbound->dns_trust_anchor };
	if ((q->dns = dns_new(&dc, err, errcap)) == NULL)
		goto fail;
	if ((q->tls = tls_client_ctx_new(NULL, 0, err, errcap)) == NULL)
		goto fail;
	if (SSL_CTX_dane_enable(q->tls) <= 0) {
		tls_error(err, errcap, "cannot enable DANE");
		goto fail;
	}
	if (hc->outbound->tls_ca_file != NULL && (q->ca_file = strdup(hc->outbound->tls_ca_file)) == NULL) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	if ((q->tls_verify = tls_client_ctx_new(q->ca_file, 1, err, errcap)) == NULL)
		goto fail;
	/* Before any delivery thread: curl_global_init is not thread-safe. */
	if (mtasts_global_init() != 0) {
		snprintf(err, errcap, "cannot start libcurl");
		goto fail;
	}
	q->curl = 1;
	if ((q->sts = mtasts_cache_new()) == NULL) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	q->env.store_path = q->store_path;
	q->env.hostname = q->hostname;
	q->env.dns = q->dns;
	q->env.tls = q->tls;
	q->env.tls_verify = q->tls_verify;
	q->env.ca_file = q->ca_file;
	q->env.sts_cache = q->sts;
	q->env.keys = keys;
	q->env.port = SMTP_CLIENT_PORT;
	q->env.connect_timeout = q->conf.connect_timeout;
	atomic_init(&q->env.stopping, 0);
	if ((q->pool = worker_pool_new(base, (unsigned)q->conf.max_deliveries, 0, err, errcap)) == NULL)
		goto fail;
	if ((q->timer = evtimer_new(base, queue_scan, q)) == NULL) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	log_info(NULL, "queue", "result=started transport=%s dkim_keys=%zu max_deliveries=%lld",
		 q->conf.transport == HOME_TRANSPORT_EDGE ? "edge" : "direct", dkim_keys_count(keys),
		 (long long)q->conf.max_deliveries);
	queue_scan(-1, 0, q);
	return q;
fail:
	queue_free(&q);
	return NULL;
}

void
queue_reload(struct queue *q, const struct home_conf *hc)
{
	struct queue_route *r;

	if (q == NULL || queue_route_same(q->route, hc->outbound))
		return;
	if ((r = queue_route_new(hc->outbound)) == NULL) {
		log_error(NULL, "reload", "outbound=kept_old error=\"out of memory\"");
		return;
	}
	queue_route_unref(&q->route);	/* attempts under way keep theirs */
	q->route = r;
	q->conf.transport = r->transport;
	log_info(NULL, "reload", "outbound=changed transport=%s egress=%zu",
		 r->transport == HOME_TRANSPORT_EDGE ? "edge" : "direct", r->negress);
}

void
queue_stop(struct queue *q)
{
	if (q == NULL)
		return;
	q->stopping = 1;
	atomic_store(&q->env.stopping, 1);
	if (q->dns != NULL)
		dns_stop(q->dns);
	if (q->timer != NULL)
		evtimer_del(q->timer);
}

void
queue_free(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	queue_stop(q);
	/* Running attempts see stopping within a slice; their done() runs here. */
	worker_pool_free(&q->pool);
	if (q->timer != NULL)
		event_free(q->timer);
	dns_free(&q->dns);
	SSL_CTX_free(q->tls);
	SSL_CTX_free(q->tls_verify);
	mtasts_cache_free(&q->sts);
	if (q->curl)
		mtasts_global_cleanup();
	free(q->ca_file);
	queue_route_unref(&q->route);
	free(q);
	*qp = NULL;
}
