/*
 * relay: one client connection through the edge, from accept to close.
 *
 *   starttls:    GREETING -> PREAMBLE -(STARTTLS)-> HELLO -> CONNECTING -> PIPE
 *   sni:         HELLO -> CONNECTING -> PIPE
 *   http:        HEAD -> CONNECTING -> PIPE
 *   passthrough: CONNECTING -> PIPE
 *
 * Until it is routed a connection has one deadline (handshake_timeout) and
 * a cap on what it may send (a line, a ClientHello, a request head); bytes
 * read so far are kept and forwarded, after the PROXY header, in the
 * tenant connection's first write. Then a pipe (pipe.c) carries bytes
 * both ways. The edge never looks at bytes after the ClientHello.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clienthello.h"
#include "edge.h"
#include "httphead.h"
#include "log.h"
#include "proxyv2.h"

enum relay_state {
	RELAY_PREAMBLE,		/* starttls: speaking SMTP/IMAP up to STARTTLS */
	RELAY_HELLO,		/* reading the TLS ClientHello */
	RELAY_HEAD,		/* http: reading the request head */
	RELAY_CONNECTING,	/* to the tenant */
	RELAY_PIPE,		/* bytes both ways */
	RELAY_CLOSING,		/* sending a last reply, then closing */
};

struct relay {
	struct relay *next, *prev;	/* in e->relays */
	struct edge *e;
	struct route_table *routes;	/* a reference: the snapshot this connection uses */
	const struct edge_listener_conf *lc;	/* in routes */
	const struct route_tenant *tenant;	/* in routes; NULL until routed */
	enum route_by by;
	struct metrics_cell *cell;	/* ("", listener) until routed, then (tenant, listener) */
	struct ev_slot *slot;
	enum relay_state state;
	char sid[LOG_SID_LEN];
	struct addr peer, local;
	struct bufferevent *client, *backend;
	struct event *deadline;		/* handshake_timeout; in CLOSING the close timeout */
	struct pipe *pipe;		/* in PIPE: owns client and backend */
	struct preamble *pre;		/* starttls only */
	struct buf *out;		/* starttls only: the preamble's replies */
	char name[DNSNAME_MAX + 1];	/* the SNI or Host; "" if none */
	size_t tunnel_next;		/* the tenant address to try next */
	int counted;			/* holds one of the tenant's connections */
	int client_eof;			/* CLOSING: the client's read half ended */
	int client_shut;		/* CLOSING: our write half is shut */
	uint64_t from_client, to_client;
	int64_t start;			/* ev_monotonic_ms() at accept */
	const char *end;		/* why the connection ended */
};

static void relay_on_closing_read(struct bufferevent *bev, void *arg);
static void relay_on_closing_write(struct bufferevent *bev, void *arg);
static void relay_on_closing_event(struct bufferevent *bev, short what, void *arg);

static void
relay_free(struct relay *r)
{
	char peer[ADDR_TEXT_MAX], esc[2 * DNSNAME_MAX + 8];

	log_info(r->sid, "relay", "listener=%s peer=%s tenant=%s by=%s name=\"%s\" from_client=%llu "
		 "to_client=%llu ms=%lld end=%s",
		 r->lc->name, addr_format(&r->peer, peer, sizeof(peer)),
		 r->tenant != NULL ? r->tenant->name : "-", route_by_text(r->by),
		 log_escape(r->name, strlen(r->name), esc, sizeof(esc)),
		 (unsigned long long)r->from_client, (unsigned long long)r->to_client,
		 (long long)(ev_monotonic_ms() - r->start), r->end != NULL ? r->end : "closed");
	metrics_add(r->cell, METRICS_BYTES_FROM_CLIENT, r->from_client);
	metrics_add(r->cell, METRICS_BYTES_TO_CLIENT, r->to_client);
	if (r->counted)
		r->tenant->stats->active--;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->e->relays = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->e->active--;
	if (r->client != NULL)
		bufferevent_free(r->client);
	if (r->backend != NULL)
		bufferevent_free(r->backend);
	if (r->deadline != NULL)
		event_free(r->deadline);
	pipe_free(&r->pipe);
	free(r->pre);
	buf_free(&r->out);
	ev_slot_release(&r->slot);
	route_table_unref(&r->routes);
	free(r);
}

/*
 * Refused before routing, or failed: count it and end with why. After
 * STARTTLS was answered, remember the source: its plaintext retry must get
 * a 421, not the 530 that would bounce its mail (fallback.c).
 */
static void
relay_refused(struct relay *r, const char *why)
{
	metrics_add(r->cell, METRICS_REFUSED, 1);
	r->end = why;
	if (r->pre != NULL && r->state != RELAY_PREAMBLE && r->e->fallback != NULL)
		fallback_note(r->e->fallback, &r->peer, ev_monotonic_ms());
}

/*
 * Send what is queued to the client, then close. Until the client has
 * read it, what it still sends is read and dropped: closing a socket with
 * unread bytes would send a reset, which can destroy the reply in flight.
 * After RELAY_CLOSE_TIMEOUT the connection goes regardless. The caller
 * must return at once: the relay may be gone.
 */
static void
relay_close_after_flush(struct relay *r)
{
	struct timeval tv = ev_timeval_ms(RELAY_CLOSE_TIMEOUT);

	if (r->backend != NULL) {
		bufferevent_free(r->backend);
		r->backend = NULL;
	}
	r->state = RELAY_CLOSING;
	event_del(r->deadline);
	evtimer_add(r->deadline, &tv);
	evbuffer_drain(bufferevent_get_input(r->client), evbuffer_get_length(bufferevent_get_input(r->client)));
	bufferevent_setwatermark(r->client, EV_READ, 0, 0);
	bufferevent_setwatermark(r->client, EV_WRITE, 0, 0);
	bufferevent_setcb(r->client, relay_on_closing_read, relay_on_closing_write,
			  relay_on_closing_event, r);
	bufferevent_enable(r->client, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(r->client)) == 0)
		relay_on_closing_write(r->client, r);
}

/* Does this listener's protocol speak first in plaintext (SMTP/IMAP replies)? */
static int
relay_speaks_plaintext(const struct relay *r)
{
	if (r->lc->mode == EDGE_LISTENER_PASSTHROUGH)
		return 1;
	return r->lc->mode == EDGE_LISTENER_STARTTLS && r->state == RELAY_PREAMBLE;
}

/*
 * End a connection that cannot go on, with the reply its protocol and state
 * call for: SMTP/IMAP in plaintext get 421/BYE (never a 5xx: the sender
 * keeps the mail), HTTP gets a status line, TLS gets an unrecognized_name
 * alert when no tenant has the name, and a plain close otherwise.
 */
static void
relay_refuse(struct relay *r, enum preamble_refusal why, const char *end)
{
	struct evbuffer *out = bufferevent_get_output(r->client);

	relay_refused(r, end);
	if (relay_speaks_plaintext(r)) {
		uint8_t bytes[PREAMBLE_REPLY_MAX];
		struct buf b = { .data = bytes, .len = 0, .cap = sizeof(bytes) };
		struct preamble p;

		preamble_init(&p, r->lc->preamble, route_table_conf(r->routes)->main->name);
		if (preamble_refuse(&p, why, &b) == 0)
			evbuffer_add(out, b.data, b.len);
	} else if (r->lc->mode == EDGE_LISTENER_HTTP) {
		const char *reply = why == PREAMBLE_REFUSE_NO_ROUTE ? httphead_reply_misdirected
								    : httphead_reply_unavailable;
		evbuffer_add(out, reply, strlen(reply));
	} else if (why == PREAMBLE_REFUSE_NO_ROUTE) {
		evbuffer_add(out, clienthello_alert_unrecognized_name, CLIENTHELLO_ALERT_LEN);
	}
	relay_close_after_flush(r);
}

/* The PROXY header this tenant wants, into out. Returns its length (0: none), or -1. */
static int
relay_proxy_header(const struct relay *r, uint8_t *out, size_t cap)
{
	struct proxyv2 h;

	switch (r->tenant->proxy) {
	case EDGE_PROXY_NONE:
		return 0;
	case EDGE_PROXY_V1:
		return proxyv1_encode(&r->peer, &r->local, (char *)out, cap);
	default:
		break;
	}
	memset(&h, 0, sizeof(h));
	h.command = PROXYV2_PROXY;
	h.have_addrs = 1;
	h.src = r->peer;
	h.dst = r->local;
	memcpy(h.authority, r->name, sizeof(h.authority));
	memcpy(h.unique_id, r->sid, LOG_SID_LEN - 1);
	h.unique_id_len = LOG_SID_LEN - 1;
	if (r->pre != NULL) {
		h.homeport.present = 1;
		h.homeport.flags = PROXYV2_HP_STARTTLS;
		h.homeport.proto = r->lc->preamble == EDGE_PREAMBLE_IMAP ? PROXYV2_PROTO_IMAP
									 : PROXYV2_PROTO_SMTP;
		memcpy(h.homeport.ehlo, r->pre->helo, sizeof(h.homeport.ehlo));
	}
	return proxyv2_encode(&h, out, cap);
}

/* The pipe ended: so does the connection. */
static void
relay_on_pipe_done(void *arg, const char *end, uint64_t client_read, uint64_t backend_read)
{
	struct relay *r = arg;

	r->pipe = NULL;
	r->from_client += client_read;
	r->to_client += backend_read;
	r->end = strcmp(end, "error_a") == 0 ? "client_error"
	       : strcmp(end, "error_b") == 0 ? "tenant_error"
					     : end;
	relay_free(r);
}

/* Connected to the tenant: the PROXY header and what the client sent so far, in one write. */
static void
relay_connected(struct relay *r)
{
	uint8_t hdr[PROXYV2_MAX];
	int n = relay_proxy_header(r, hdr, sizeof(hdr));
	struct evbuffer *to_backend = bufferevent_get_output(r->backend);

	if (n < 0) {
		log_error(r->sid, "proxy_header", "result=failed tenant=%s", r->tenant->name);
		relay_refuse(r, PREAMBLE_REFUSE_TENANT_DOWN, "proxy_header");
		return;
	}
	if (n > 0)
		evbuffer_add(to_backend, hdr, (size_t)n);
	r->from_client += evbuffer_get_length(bufferevent_get_input(r->client));
	evbuffer_add_buffer(to_backend, bufferevent_get_input(r->client));
	event_del(r->deadline);
	r->pipe = pipe_new(r->e->base, r->client, r->backend, r->lc->idle_timeout,
			   relay_on_pipe_done, r);
	if (r->pipe == NULL) {
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	r->client = NULL;	/* the pipe's now */
	r->backend = NULL;
	r->state = RELAY_PIPE;
}

static void relay_connect_next(struct relay *r);

static void
relay_on_connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	char text[ADDR_TEXT_MAX];
	struct addr a = r->tenant->tunnel[r->tunnel_next - 1];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		relay_connected(r);
		return;
	}
	addr_set_port(&a, r->lc->tenant_port != 0 ? (uint16_t)r->lc->tenant_port
						   : addr_port(&r->local));
	log_warn(r->sid, "tenant_connect", "result=failed tenant=%s address=%s error=\"%s\"",
		 r->tenant->name, addr_format(&a, text, sizeof(text)),
		 (what & BEV_EVENT_TIMEOUT) ? "timeout"
					    : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	bufferevent_free(r->backend);
	r->backend = NULL;
	relay_connect_next(r);
}

/* Try the tenant's next tunnel address; none left: the tenant is down. */
static void
relay_connect_next(struct relay *r)
{
	struct timeval tv = ev_timeval_ms(RELAY_CONNECT_TIMEOUT);

	while (r->tunnel_next < r->tenant->ntunnel) {
		struct addr a = r->tenant->tunnel[r->tunnel_next++];

		addr_set_port(&a, r->lc->tenant_port != 0 ? (uint16_t)r->lc->tenant_port
							   : addr_port(&r->local));
		r->backend = bufferevent_socket_new(r->e->base, -1,
						    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		if (r->backend == NULL)
			break;
		bufferevent_setcb(r->backend, NULL, NULL, relay_on_connect_event, r);
		bufferevent_set_timeouts(r->backend, NULL, &tv);
		if (bufferevent_socket_connect(r->backend, (struct sockaddr *)&a.ss, (int)a.len) == 0)
			return;
		bufferevent_free(r->backend);
		r->backend = NULL;
	}
	metrics_add(r->cell, METRICS_TENANT_DOWN, 1);
	relay_refuse(r, PREAMBLE_REFUSE_TENANT_DOWN, "tenant_down");
}

static const enum metrics_counter relay_routed_counter[] = {
	[ROUTE_BY_NAME] = METRICS_ROUTED_NAME,
	[ROUTE_BY_SUFFIX] = METRICS_ROUTED_SUFFIX,
	[ROUTE_BY_ADDRESS] = METRICS_ROUTED_ADDRESS,
	[ROUTE_BY_DEFAULT] = METRICS_ROUTED_DEFAULT,
};

/* Choose the tenant (r->name may be ""), then connect to it. */
static void
relay_route(struct relay *r)
{
	const struct route_tenant *t = route_find(r->routes, r->name[0] != '\0' ? r->name : NULL,
						  &r->local, r->lc->default_tenant, &r->by);

	if (t == NULL) {
		relay_refuse(r, PREAMBLE_REFUSE_NO_ROUTE, "no_route");
		return;
	}
	r->tenant = t;
	if (t->stats->active >= t->max_connections) {
		relay_refuse(r, PREAMBLE_REFUSE_BUSY, "tenant_max_connections");
		return;
	}
	t->stats->active++;
	r->counted = 1;
	r->cell = metrics_cell(r->e->metrics, t->name, r->lc->name);
	metrics_add(r->cell, relay_routed_counter[r->by], 1);
	r->state = RELAY_CONNECTING;
	bufferevent_disable(r->client, EV_READ);
	relay_connect_next(r);
}

/* Bytes of in as one contiguous block, at most max of them. */
static const uint8_t *
relay_peek(struct evbuffer *in, size_t max, size_t *len_r)
{
	size_t n = evbuffer_get_length(in);

	*len_r = n < max ? n : max;
	return evbuffer_pullup(in, (ev_ssize_t)*len_r);
}

static void
relay_read_hello(struct relay *r)
{
	struct clienthello ch;
	size_t len;
	const uint8_t *p = relay_peek(bufferevent_get_input(r->client), CLIENTHELLO_WIRE_MAX, &len);

	switch (clienthello_parse(p, len, &ch)) {
	case CLIENTHELLO_MORE:
		if (len < CLIENTHELLO_WIRE_MAX)
			return;
		relay_refused(r, "clienthello_too_large");
		relay_close_after_flush(r);
		return;
	case CLIENTHELLO_INVALID:
		log_info(r->sid, "clienthello", "result=invalid error=\"%s\"", ch.error);
		relay_refused(r, "clienthello_invalid");
		relay_close_after_flush(r);
		return;
	case CLIENTHELLO_SNI:
		memcpy(r->name, ch.sni, ch.sni_len + 1);
		break;
	case CLIENTHELLO_NO_SNI:
		break;
	}
	relay_route(r);
}

static void
relay_read_head(struct relay *r)
{
	struct httphead h;
	size_t len;
	const uint8_t *p = relay_peek(bufferevent_get_input(r->client), HTTPHEAD_MAX, &len);

	enum httphead_status st = httphead_parse(p, len, &h);

	if (st == HTTPHEAD_MORE && len < HTTPHEAD_MAX)
		return;
	if (st != HTTPHEAD_HOST) {
		/* Invalid, or a head that does not fit. */
		relay_refused(r, "http_head_invalid");
		evbuffer_add(bufferevent_get_output(r->client), httphead_reply_bad_request,
			     strlen(httphead_reply_bad_request));
		relay_close_after_flush(r);
		return;
	}
	memcpy(r->name, h.host, sizeof(r->name));
	relay_route(r);
}

/* Answer complete command lines until STARTTLS, a close, or no more lines. */
static void
relay_read_preamble(struct relay *r)
{
	struct evbuffer *in = bufferevent_get_input(r->client);
	enum preamble_status st;
	size_t len, used;

	do {
		const uint8_t *p = relay_peek(in, PREAMBLE_LINE_MAX * 4, &len);

		st = preamble_feed(r->pre, p, len, &used, r->out);
		r->from_client += used;
		evbuffer_drain(in, used);
		evbuffer_add(bufferevent_get_output(r->client), r->out->data, r->out->len);
		buf_reset(r->out);
	} while (st == PREAMBLE_MORE && used > 0);
	if (st == PREAMBLE_CLOSE) {
		r->end = "preamble_closed";
		relay_close_after_flush(r);
		return;
	}
	if (st == PREAMBLE_STARTTLS) {
		/* Count the preamble's bytes apart: the tenant never sees them. */
		r->from_client = 0;
		r->state = RELAY_HELLO;
		bufferevent_setwatermark(r->client, EV_READ, 0, CLIENTHELLO_WIRE_MAX + 1);
	}
}

static void
relay_on_handshake_read(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	(void)bev;
	switch (r->state) {
	case RELAY_PREAMBLE:
		relay_read_preamble(r);
		if (r->state == RELAY_HELLO &&
		    evbuffer_get_length(bufferevent_get_input(r->client)) > 0)
			relay_read_hello(r);
		return;
	case RELAY_HELLO:
		relay_read_hello(r);
		return;
	case RELAY_HEAD:
		relay_read_head(r);
		return;
	default:
		return;
	}
}

static void
relay_on_handshake_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;

	(void)bev;
	r->end = (what & BEV_EVENT_EOF) ? "client_closed_early" : "client_error";
	metrics_add(r->cell, METRICS_REFUSED, 1);
	relay_free(r);
}

static void
relay_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)fd;
	(void)what;
	if (r->state == RELAY_CLOSING) {
		relay_free(r);
		return;
	}
	log_info(r->sid, "timeout", "state=handshake listener=%s", r->lc->name);
	if (r->state == RELAY_CONNECTING) {
		/* The connect timeout ends this one. */
		return;
	}
	relay_refuse(r, PREAMBLE_REFUSE_TIMEOUT, "handshake_timeout");
}

/* CLOSING: drop what the client still sends. */
static void
relay_on_closing_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* CLOSING: the last reply is written: shut our half, wait for the client's EOF. */
static void
relay_on_closing_write(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->client_eof) {
		relay_free(r);
		return;
	}
	if (!r->client_shut) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		r->client_shut = 1;
	}
}

static void
relay_on_closing_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;

	if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		r->client_eof = 1;	/* it may still read: finish the reply */
		return;
	}
	relay_free(r);
}

/* ---- start ---- */

/* A client that talks before the greeting is not a mail server. */
static int
relay_spoke_early(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void
relay_start(struct edge *e, const char *lname, int fd, const struct addr *peer,
	    const struct addr *local, struct ev_slot *slot)
{
	const struct edge_listener_conf *lc = edge_listener_find(e, lname);
	struct relay *r = NULL;
	struct timeval tv;

	if (lc == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->e = e;
	r->routes = route_table_ref(e->routes);
	r->lc = lc;
	r->slot = slot;
	r->peer = *peer;
	r->local = *local;
	r->start = ev_monotonic_ms();
	log_sid_new(r->sid);
	r->cell = metrics_cell(e->metrics, "", lc->name);
	metrics_add(r->cell, METRICS_ACCEPTED, 1);
	r->next = e->relays;
	if (e->relays != NULL)
		e->relays->prev = r;
	e->relays = r;
	e->active++;
	r->client = bufferevent_socket_new(e->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (r->client == NULL) {
		close(fd);
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	r->deadline = evtimer_new(e->base, relay_on_deadline, r);
	if (r->deadline == NULL) {
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	tv = ev_timeval_ms(lc->handshake_timeout);
	evtimer_add(r->deadline, &tv);
	bufferevent_setcb(r->client, relay_on_handshake_read, NULL, relay_on_handshake_event, r);
	switch (lc->mode) {
	case EDGE_LISTENER_STARTTLS:
		r->pre = malloc(sizeof(*r->pre));
		r->out = buf_new(RELAY_OUT_MAX);
		if (r->pre == NULL || r->out == NULL) {
			r->end = "out_of_memory";
			relay_free(r);
			return;
		}
		preamble_init(r->pre, lc->preamble, route_table_conf(r->routes)->main->name);
		r->pre->tls_failed_recently = e->fallback != NULL &&
					      fallback_recent(e->fallback, peer, ev_monotonic_ms());
		r->state = RELAY_PREAMBLE;
		if (relay_spoke_early(fd)) {
			relay_refused(r, "spoke_early");
			preamble_refuse_early(r->pre, r->out);
			evbuffer_add(bufferevent_get_output(r->client), r->out->data, r->out->len);
			relay_close_after_flush(r);
			return;
		}
		preamble_greeting(r->pre, r->out);
		evbuffer_add(bufferevent_get_output(r->client), r->out->data, r->out->len);
		buf_reset(r->out);
		bufferevent_setwatermark(r->client, EV_READ, 0, PREAMBLE_LINE_MAX * 4);
		bufferevent_enable(r->client, EV_READ | EV_WRITE);
		return;
	case EDGE_LISTENER_SNI:
		r->state = RELAY_HELLO;
		bufferevent_setwatermark(r->client, EV_READ, 0, CLIENTHELLO_WIRE_MAX + 1);
		bufferevent_enable(r->client, EV_READ | EV_WRITE);
		return;
	case EDGE_LISTENER_HTTP:
		r->state = RELAY_HEAD;
		bufferevent_setwatermark(r->client, EV_READ, 0, HTTPHEAD_MAX + 1);
		bufferevent_enable(r->client, EV_READ | EV_WRITE);
		return;
	default:
		/* passthrough: the tenant speaks first. */
		bufferevent_enable(r->client, EV_WRITE);
		relay_route(r);
		return;
	}
fail:
	close(fd);
	ev_slot_release(&slot);
}

void
relay_close_all(struct edge *e)
{
	while (e->relays != NULL) {
		e->relays->end = "shutdown";
		relay_free(e->relays);
	}
}
