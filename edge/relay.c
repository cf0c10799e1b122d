/*
 * relay: one client connection through the edge, from accept to close.
 *
 *   starttls:    GREETING -> PREAMBLE -(STARTTLS)-> HELLO -> CONNECTING -> PIPE
 *   sni:         HELLO -> CONNECTING -> PIPE
 *   http:        HEAD -> CONNECTING -> PIPE
 *   passthrough: CONNECTING -> PIPE
 *
 * From accept on, the client's socket is side a of a pipe (pipe.c), which
 * hands its readiness to this file until the connection is routed and the
 * tenant's socket (side b) connected; then the pipe carries bytes both ways
 * by itself. The edge never looks at bytes after the ClientHello.
 *
 * Until it is piped a connection has a handshake part (struct relay_hs):
 * one deadline (handshake_timeout, then each connect's timeout, or the
 * close timeout), a cap on what it may send (a line, a ClientHello, a
 * request head) and the bytes read so far, which go to the tenant after
 * the PROXY header, in the tenant connection's first write (bytes the
 * client sends while the tenant is connecting go with them, up to
 * RELAY_EARLY_MAX). That write also tells whether the connect is done: it
 * is tried at once and again each time the socket is writable. Piped, the
 * connection keeps only what its log line and metrics need.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "clienthello.h"
#include "edge.h"
#include "httphead.h"
#include "log.h"
#include "proxyv2.h"

#define RELAY_IN_MIN 2048	/* the first allocation for the client's handshake bytes */
#define RELAY_DRAIN_MAX 4096	/* one read of bytes dropped while closing */

enum relay_state {
	RELAY_PREAMBLE,		/* starttls: speaking SMTP/IMAP up to STARTTLS */
	RELAY_HELLO,		/* reading the TLS ClientHello */
	RELAY_HEAD,		/* http: reading the request head */
	RELAY_CONNECTING,	/* to the tenant */
	RELAY_PIPE,		/* bytes both ways */
	RELAY_CLOSING,		/* sending a last reply, then closing */
};

/* A peer address, as small as the kernel gives it. */
union relay_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* What a connection needs until it is piped; freed then. */
struct relay_hs {
	struct event *deadline;		/* handshake_timeout; connect timeout; close timeout */
	struct addr local;		/* the address the client connected to */
	struct preamble *pre;		/* starttls only */
	uint8_t *in;			/* the client's bytes (since STARTTLS), in[0..inlen) */
	size_t inlen, incap;
	uint8_t *out;			/* replies the client's socket did not take yet, RELAY_OUT_MAX */
	size_t outlen;
	size_t tunnel_next;		/* the tenant address to try next */
	unsigned client_failed : 1;	/* a write to the client failed */
	unsigned client_eof : 1;	/* CLOSING: the client's read half ended */
	unsigned client_shut : 1;	/* CLOSING: our write half is shut */
};

struct relay {
	struct relay *next, *prev;	/* in e->relays */
	struct edge *e;
	struct route_table *routes;	/* a reference: the snapshot this connection uses */
	const struct edge_listener_conf *lc;	/* in routes */
	const struct route_tenant *tenant;	/* in routes; NULL until routed */
	struct metrics_cell *cell;	/* ("", listener) until routed, then (tenant, listener) */
	struct ev_slot *slot;
	struct pipe *pipe;		/* side a: the client; side b: the tenant */
	struct relay_hs *hs;		/* NULL once piped */
	char *name;			/* the SNI or Host, NULL if none */
	const char *end;		/* why the connection ended */
	int64_t start;			/* ev_monotonic_ms() at accept */
	uint64_t from_client, to_client;
	union relay_sockaddr peer;
	char sid[LOG_SID_LEN];
	uint8_t state;			/* enum relay_state */
	uint8_t by;			/* enum route_by */
	uint8_t counted;		/* holds one of the tenant's connections */
};

static void relay_closing(struct relay *r);
static void relay_connect_next(struct relay *r);

static void
relay_peer(const struct relay *r, struct addr *a_r)
{
	socklen_t len = r->peer.sa.sa_family == AF_INET6 ? sizeof(r->peer.in6) : sizeof(r->peer.in);

	if (addr_from_sockaddr(&r->peer.sa, len, a_r) != 0)
		memset(a_r, 0, sizeof(*a_r));
}

static void
relay_hs_free(struct relay_hs **hsp)
{
	struct relay_hs *hs = *hsp;

	if (hs == NULL)
		return;
	if (hs->deadline != NULL)
		event_free(hs->deadline);
	free(hs->pre);
	free(hs->in);
	free(hs->out);
	free(hs);
	*hsp = NULL;
}

/* The connection's one line, unless the level leaves it out (then nothing is formatted). */
static void
relay_log(const struct relay *r)
{
	char peer[ADDR_TEXT_MAX], esc[2 * DNSNAME_MAX + 8];
	struct addr a;

	if (route_table_conf(r->e->routes)->main->log_level < LOG_LEVEL_INFO)
		return;
	relay_peer(r, &a);
	log_info(r->sid, "relay", "listener=%s peer=%s tenant=%s by=%s name=\"%s\" from_client=%llu "
		 "to_client=%llu ms=%lld end=%s",
		 r->lc->name, addr_format(&a, peer, sizeof(peer)),
		 r->tenant != NULL ? r->tenant->name : "-", route_by_text(r->by),
		 r->name != NULL ? log_escape(r->name, strlen(r->name), esc, sizeof(esc)) : "",
		 (unsigned long long)r->from_client, (unsigned long long)r->to_client,
		 (long long)(ev_monotonic_ms() - r->start), r->end != NULL ? r->end : "closed");
}

static void
relay_free(struct relay *r)
{
	relay_log(r);
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
	pipe_free(&r->pipe);
	relay_hs_free(&r->hs);
	free(r->name);
	ev_slot_release(&r->slot);
	route_table_unref(&r->routes);
	free(r);
}

/*
 * Refused before routing, or failed: count it and end with why. After
 * STARTTLS was answered, remember the source: its plaintext retry must get
 * a 421 that closes, not a 451 for each command (fallback.c).
 */
static void
relay_refused(struct relay *r, const char *why)
{
	metrics_add(r->cell, METRICS_REFUSED, 1);
	r->end = why;
	if (r->hs->pre != NULL && r->state != RELAY_PREAMBLE && r->e->fallback != NULL) {
		struct addr a;

		relay_peer(r, &a);
		fallback_note(r->e->fallback, &a, ev_monotonic_ms());
	}
}

/* The client closed or failed before it was routed. */
static void
relay_client_gone(struct relay *r, const char *end)
{
	r->end = end;
	metrics_add(r->cell, METRICS_REFUSED, 1);
	relay_free(r);
}

/* (Re)arm the handshake part's one timer. */
static void
relay_deadline(struct relay *r, int64_t ms)
{
	struct timeval tv = ev_timeval_ms(ms);

	evtimer_add(r->hs->deadline, &tv);
}

/*
 * Send bytes to the client; what its socket does not take now waits in
 * hs->out. Returns 0, or -1 when the client's socket failed (or, which the
 * callers' caps rule out, out would overflow).
 */
static int
relay_reply(struct relay *r, const void *data, size_t len)
{
	struct relay_hs *hs = r->hs;

	r->to_client += len;
	if (hs->outlen == 0 && len > 0) {
		struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
		ssize_t n = pipe_send(r->pipe, PIPE_A, &iov, 1);

		if (n < 0 && errno != EAGAIN)
			goto fail;
		if (n > 0) {
			data = (const uint8_t *)data + n;
			len -= (size_t)n;
		}
	}
	if (len == 0)
		return 0;
	if (hs->out == NULL && (hs->out = malloc(RELAY_OUT_MAX)) == NULL)
		goto fail;
	if (len > RELAY_OUT_MAX - hs->outlen)
		goto fail;
	memcpy(hs->out + hs->outlen, data, len);
	hs->outlen += len;
	return 0;
fail:
	hs->client_failed = 1;
	return -1;
}

/* Write what waits in hs->out. Returns 0, or -1 when the client's socket failed. */
static int
relay_flush(struct relay *r)
{
	struct relay_hs *hs = r->hs;
	struct iovec iov = { .iov_base = hs->out, .iov_len = hs->outlen };
	ssize_t n;

	if (hs->outlen == 0)
		return 0;
	n = pipe_send(r->pipe, PIPE_A, &iov, 1);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0) {
		hs->client_failed = 1;
		return -1;
	}
	hs->outlen -= (size_t)n;
	memmove(hs->out, hs->out + n, hs->outlen);
	if (hs->outlen == 0) {
		free(hs->out);
		hs->out = NULL;
	}
	return 0;
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
	pipe_detach(r->pipe);
	pipe_hold(r->pipe, PIPE_A, 0);	/* read to the client's EOF, whatever held it */
	r->state = RELAY_CLOSING;
	r->hs->inlen = 0;
	relay_deadline(r, RELAY_CLOSE_TIMEOUT);
	if (r->hs->client_failed) {
		relay_free(r);
		return;
	}
	relay_closing(r);
}

/* CLOSING: write the last reply, shut our half, drop what comes until the client's EOF. */
static void
relay_closing(struct relay *r)
{
	struct relay_hs *hs = r->hs;
	uint8_t junk[RELAY_DRAIN_MAX];

	if (relay_flush(r) != 0) {
		relay_free(r);
		return;
	}
	if (hs->outlen == 0 && !hs->client_shut) {
		shutdown(pipe_fd(r->pipe, PIPE_A), SHUT_WR);
		hs->client_shut = 1;
	}
	while (!hs->client_eof) {
		ssize_t n = pipe_recv(r->pipe, PIPE_A, junk, sizeof(junk));

		if (n == (ssize_t)sizeof(junk))
			continue;
		if (n > 0)
			break;
		if (n == 0) {
			hs->client_eof = 1;	/* it may still read: finish the reply */
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		relay_free(r);
		return;
	}
	if (hs->client_eof && hs->outlen == 0)
		relay_free(r);
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
	relay_refused(r, end);
	if (relay_speaks_plaintext(r)) {
		uint8_t bytes[PREAMBLE_REPLY_MAX];
		struct buf b = { .data = bytes, .len = 0, .cap = sizeof(bytes) };
		struct preamble p;

		preamble_init(&p, r->lc->preamble, route_table_conf(r->routes)->main->name);
		if (preamble_refuse(&p, why, &b) == 0)
			relay_reply(r, b.data, b.len);
	} else if (r->lc->mode == EDGE_LISTENER_HTTP) {
		const char *reply = why == PREAMBLE_REFUSE_NO_ROUTE ? httphead_reply_misdirected
								    : httphead_reply_unavailable;
		relay_reply(r, reply, strlen(reply));
	} else if (why == PREAMBLE_REFUSE_NO_ROUTE) {
		relay_reply(r, clienthello_alert_unrecognized_name, CLIENTHELLO_ALERT_LEN);
	}
	relay_close_after_flush(r);
}

/* The PROXY header this tenant wants, into out. Returns its length (0: none), or -1. */
static int
relay_proxy_header(const struct relay *r, uint8_t *out, size_t cap)
{
	struct proxyv2 h;
	struct addr peer;

	relay_peer(r, &peer);
	switch (r->tenant->proxy) {
	case EDGE_PROXY_NONE:
		return 0;
	case EDGE_PROXY_V1:
		return proxyv1_encode(&peer, &r->hs->local, (char *)out, cap);
	default:
		break;
	}
	memset(&h, 0, sizeof(h));
	h.command = PROXYV2_PROXY;
	h.have_addrs = 1;
	h.src = peer;
	h.dst = r->hs->local;
	if (r->name != NULL && strlen(r->name) < sizeof(h.authority))
		memcpy(h.authority, r->name, strlen(r->name) + 1);
	memcpy(h.unique_id, r->sid, LOG_SID_LEN - 1);
	h.unique_id_len = LOG_SID_LEN - 1;
	if (r->hs->pre != NULL) {
		h.homeport.present = 1;
		h.homeport.flags = PROXYV2_HP_STARTTLS;
		h.homeport.proto = r->lc->preamble == EDGE_PREAMBLE_IMAP ? PROXYV2_PROTO_IMAP
									 : PROXYV2_PROTO_SMTP;
		memcpy(h.homeport.ehlo, r->hs->pre->helo, sizeof(h.homeport.ehlo));
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

/*
 * The first write reached the tenant (sent of the bytes in iov[0..n)):
 * the rest goes to the pipe, and the handshake part goes.
 */
static void
relay_connected(struct relay *r, const struct iovec *iov, int n, size_t sent)
{
	struct iovec rest[2];
	int nrest = 0;

	for (int i = 0; i < n && nrest < 2; i++) {
		if (sent >= iov[i].iov_len) {
			sent -= iov[i].iov_len;
			continue;
		}
		rest[nrest].iov_base = (uint8_t *)iov[i].iov_base + sent;
		rest[nrest].iov_len = iov[i].iov_len - sent;
		nrest++;
		sent = 0;
	}
	if (pipe_start(r->pipe, NULL, 0, rest, nrest, r->lc->idle_timeout, relay_on_pipe_done) != 0) {
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	r->from_client += r->hs->inlen;
	relay_hs_free(&r->hs);
	r->state = RELAY_PIPE;
}

/* The tenant address to try at index i, with the port to connect to. */
static void
relay_tenant_addr(const struct relay *r, size_t i, struct addr *a_r)
{
	*a_r = r->tenant->tunnel[i];
	addr_set_port(a_r, r->lc->tenant_port != 0 ? (uint16_t)r->lc->tenant_port
						    : addr_port(&r->hs->local));
}

/* This tenant address failed: try the next. */
static void
relay_connect_failed(struct relay *r, const char *error)
{
	char text[ADDR_TEXT_MAX];
	struct addr a;

	relay_tenant_addr(r, r->hs->tunnel_next - 1, &a);
	log_warn(r->sid, "tenant_connect", "result=failed tenant=%s address=%s error=\"%s\"",
		 r->tenant->name, addr_format(&a, text, sizeof(text)), error);
	pipe_detach(r->pipe);
	relay_connect_next(r);
}

/*
 * CONNECTING: the PROXY header and what the client sent so far, in one
 * write. EAGAIN means the connect is still in progress; an error, that it
 * failed.
 */
static void
relay_send_first(struct relay *r)
{
	uint8_t hdr[PROXYV2_MAX];
	int n = relay_proxy_header(r, hdr, sizeof(hdr));
	struct iovec iov[2];
	ssize_t sent;

	if (n < 0) {
		log_error(r->sid, "proxy_header", "result=failed tenant=%s", r->tenant->name);
		relay_refuse(r, PREAMBLE_REFUSE_TENANT_DOWN, "proxy_header");
		return;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = r->hs->in;
	iov[1].iov_len = r->hs->inlen;
	sent = pipe_send(r->pipe, PIPE_B, iov, 2);
	if (sent < 0 && errno == EAGAIN)
		return;		/* connecting: EV_WRITE comes */
	if (sent < 0) {
		relay_connect_failed(r, strerror(errno));
		return;
	}
	relay_connected(r, iov, 2, (size_t)sent);
}

/* Try the tenant's next tunnel address; none left: the tenant is down. */
static void
relay_connect_next(struct relay *r)
{
	struct relay_hs *hs = r->hs;

	evtimer_del(hs->deadline);
	while (hs->tunnel_next < r->tenant->ntunnel) {
		struct addr a;
		int fd;

		relay_tenant_addr(r, hs->tunnel_next++, &a);
		fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			log_warn(r->sid, "tenant_socket", "result=failed error=\"%s\"", strerror(errno));
			break;
		}
		edge_nodelay(fd);
		if (connect(fd, (struct sockaddr *)&a.ss, a.len) != 0 && errno != EINPROGRESS) {
			char text[ADDR_TEXT_MAX];

			log_warn(r->sid, "tenant_connect", "result=failed tenant=%s address=%s error=\"%s\"",
				 r->tenant->name, addr_format(&a, text, sizeof(text)), strerror(errno));
			close(fd);
			continue;
		}
		if (pipe_attach(r->pipe, fd) != 0) {
			close(fd);
			break;
		}
		relay_deadline(r, RELAY_CONNECT_TIMEOUT);
		relay_send_first(r);
		return;
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

/* Choose the tenant for name[0..len) (NULL: none), then connect to it. */
static void
relay_route(struct relay *r, const char *name, size_t len)
{
	const struct route_tenant *t;
	enum route_by by;

	if (name != NULL) {
		if ((r->name = malloc(len + 1)) == NULL) {
			r->end = "out_of_memory";
			relay_free(r);
			return;
		}
		memcpy(r->name, name, len);
		r->name[len] = '\0';
	}
	t = route_find(r->routes, r->name, &r->hs->local, r->lc->default_tenant, &by);
	r->by = (uint8_t)by;
	if (t == NULL) {
		relay_refuse(r, PREAMBLE_REFUSE_NO_ROUTE, "no_route");
		return;
	}
	r->tenant = t;
	/*
	 * A suspended home, or one whose tunnel is stale (tunnel.c), gets the
	 * refusal at once: waiting RELAY_CONNECT_TIMEOUT for a tunnel known to
	 * be dead would only hold the sender.
	 */
	if (t->suspended || t->stats->stale) {
		r->cell = metrics_cell(r->e->metrics, t->name, r->lc->name);
		if (t->suspended) {
			relay_refuse(r, PREAMBLE_REFUSE_SUSPENDED, "tenant_suspended");
		} else {
			metrics_add(r->cell, METRICS_TENANT_DOWN, 1);
			relay_refuse(r, PREAMBLE_REFUSE_TENANT_DOWN, "tenant_stale");
		}
		return;
	}
	if (t->stats->active >= t->max_connections) {
		relay_refuse(r, PREAMBLE_REFUSE_BUSY, "tenant_max_connections");
		return;
	}
	t->stats->active++;
	r->counted = 1;
	r->cell = metrics_cell(r->e->metrics, t->name, r->lc->name);
	metrics_add(r->cell, relay_routed_counter[by], 1);
	r->state = RELAY_CONNECTING;
	relay_connect_next(r);
}

/* Parse the ClientHello read so far. Returns 1 if more is needed, else 0 (r may be gone). */
static int
relay_read_hello(struct relay *r)
{
	struct clienthello ch;
	size_t len = r->hs->inlen < CLIENTHELLO_WIRE_MAX ? r->hs->inlen : CLIENTHELLO_WIRE_MAX;

	switch (clienthello_parse(r->hs->in, len, &ch)) {
	case CLIENTHELLO_MORE:
		if (len < CLIENTHELLO_WIRE_MAX)
			return 1;
		relay_refused(r, "clienthello_too_large");
		relay_close_after_flush(r);
		return 0;
	case CLIENTHELLO_INVALID:
		log_info(r->sid, "clienthello", "result=invalid error=\"%s\"", ch.error);
		relay_refused(r, "clienthello_invalid");
		relay_close_after_flush(r);
		return 0;
	case CLIENTHELLO_SNI:
		relay_route(r, ch.sni, ch.sni_len);
		return 0;
	case CLIENTHELLO_NO_SNI:
		break;
	}
	relay_route(r, NULL, 0);
	return 0;
}

/* Parse the request head read so far. Returns 1 if more is needed, else 0 (r may be gone). */
static int
relay_read_head(struct relay *r)
{
	struct httphead h;
	size_t len = r->hs->inlen < HTTPHEAD_MAX ? r->hs->inlen : HTTPHEAD_MAX;
	enum httphead_status st = httphead_parse(r->hs->in, len, &h);

	if (st == HTTPHEAD_MORE && len < HTTPHEAD_MAX)
		return 1;
	if (st != HTTPHEAD_HOST) {
		/* Invalid, or a head that does not fit. */
		relay_refused(r, "http_head_invalid");
		relay_reply(r, httphead_reply_bad_request, strlen(httphead_reply_bad_request));
		relay_close_after_flush(r);
		return 0;
	}
	relay_route(r, h.host, strlen(h.host));
	return 0;
}

/*
 * Answer complete command lines until STARTTLS, a close, no more lines, or
 * replies the client has not read yet. Returns 1 if more is needed, else 0
 * (r may be gone).
 */
static int
relay_read_preamble(struct relay *r)
{
	struct relay_hs *hs = r->hs;
	enum preamble_status st;
	size_t used;

	if (hs->outlen > 0)
		return 1;	/* the client reads its replies first */
	do {
		uint8_t bytes[RELAY_OUT_MAX];
		struct buf out = { .data = bytes, .len = 0, .cap = sizeof(bytes) };

		st = preamble_feed(hs->pre, hs->in, hs->inlen, &used, &out);
		r->from_client += used;
		hs->inlen -= used;
		memmove(hs->in, hs->in + used, hs->inlen);
		if (relay_reply(r, out.data, out.len) != 0) {
			relay_client_gone(r, "client_error");
			return 0;
		}
	} while (st == PREAMBLE_MORE && used > 0 && hs->outlen == 0);
	/* Replies the client does not read: read no more from it until it does. */
	pipe_hold(r->pipe, PIPE_A, hs->outlen > 0);
	if (st == PREAMBLE_CLOSE) {
		r->end = "preamble_closed";
		relay_close_after_flush(r);
		return 0;
	}
	if (st == PREAMBLE_STARTTLS) {
		/* From here on count what crosses the tunnel: the tenant never saw the preamble. */
		r->from_client = 0;
		r->to_client = 0;
		r->state = RELAY_HELLO;
		if (hs->inlen > 0)
			return relay_read_hello(r);
	}
	return 1;
}

/* Look at what the client sent, by state. Returns 1 if more is needed, else 0 (r may be gone). */
static int
relay_parse(struct relay *r)
{
	switch (r->state) {
	case RELAY_PREAMBLE:
		return relay_read_preamble(r);
	case RELAY_HELLO:
		return relay_read_hello(r);
	case RELAY_HEAD:
		return relay_read_head(r);
	default:
		return 0;
	}
}

/* What the client may send in this state before it is routed (or connected). */
static size_t
relay_in_max(const struct relay *r)
{
	switch (r->state) {
	case RELAY_PREAMBLE:
		return PREAMBLE_LINE_MAX * 4;
	case RELAY_HELLO:
		return CLIENTHELLO_WIRE_MAX;
	case RELAY_HEAD:
		return HTTPHEAD_MAX;
	default:
		return RELAY_EARLY_MAX;
	}
}

/* Room for more of the client's bytes, up to max. */
static int
relay_in_room(struct relay_hs *hs, size_t max)
{
	size_t cap = hs->incap != 0 ? hs->incap : RELAY_IN_MIN;
	uint8_t *in;

	if (hs->inlen < hs->incap)
		return 0;
	while (cap <= hs->inlen)
		cap *= 2;
	if (cap > max)
		cap = max;
	if ((in = realloc(hs->in, cap)) == NULL)
		return -1;
	hs->in = in;
	hs->incap = cap;
	return 0;
}

/*
 * Before the tenant is connected: read what the client sent, up to the
 * state's cap, and look at it. Called when the client's socket is
 * readable, and once at the start (a client usually sends at once).
 */
static void
relay_read(struct relay *r)
{
	struct relay_hs *hs = r->hs;
	size_t max = relay_in_max(r);
	int eof = 0;

	while (hs->inlen < max) {
		size_t room;
		ssize_t n;

		if (relay_in_room(hs, max) != 0) {
			relay_client_gone(r, "out_of_memory");
			return;
		}
		room = hs->incap - hs->inlen;
		n = pipe_recv(r->pipe, PIPE_A, hs->in + hs->inlen, room);
		if (n > 0) {
			hs->inlen += (size_t)n;
			if ((size_t)n < room)
				break;	/* likely all there is; if not, the socket stays readable */
			continue;
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		relay_client_gone(r, "client_error");
		return;
	}
	if (r->state == RELAY_CONNECTING) {
		/* Kept for the tenant; past the cap, the client waits. */
		pipe_hold(r->pipe, PIPE_A, hs->inlen >= max);
		return;
	}
	/* Bytes before an EOF count: a client may send and half-close. */
	if (relay_parse(r) && eof)
		relay_client_gone(r, "client_closed_early");
}

static void
relay_on_io(void *arg, enum pipe_side side, short what)
{
	struct relay *r = arg;

	if (side == PIPE_B) {
		if (r->state == RELAY_CONNECTING)
			relay_send_first(r);
		return;
	}
	switch (r->state) {
	case RELAY_PREAMBLE:
	case RELAY_HELLO:
	case RELAY_HEAD:
	case RELAY_CONNECTING:
		if (what & EV_WRITE) {
			if (relay_flush(r) != 0) {
				relay_client_gone(r, "client_error");
				return;
			}
			if (r->hs->outlen == 0 && r->state != RELAY_CONNECTING) {
				/* Read again, and answer the lines that waited. */
				pipe_hold(r->pipe, PIPE_A, 0);
				relay_parse(r);
			}
			return;
		}
		relay_read(r);
		return;
	case RELAY_CLOSING:
		relay_closing(r);
		return;
	default:
		return;
	}
}

static void
relay_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)fd;
	(void)what;
	switch (r->state) {
	case RELAY_CLOSING:
		relay_free(r);
		return;
	case RELAY_CONNECTING:
		relay_connect_failed(r, "timeout");
		return;
	default:
		log_info(r->sid, "timeout", "state=handshake listener=%s", r->lc->name);
		relay_refuse(r, PREAMBLE_REFUSE_TIMEOUT, "handshake_timeout");
		return;
	}
}

/* ---- start ---- */

/* A client that talks before the greeting is not a mail server. */
static int
relay_spoke_early(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* starttls: the greeting, unless the client spoke first. */
static void
relay_greet(struct relay *r, int fd)
{
	struct relay_hs *hs = r->hs;
	uint8_t bytes[PREAMBLE_REPLY_MAX];
	struct buf out = { .data = bytes, .len = 0, .cap = sizeof(bytes) };
	struct addr peer;

	hs->pre = malloc(sizeof(*hs->pre));
	if (hs->pre == NULL) {
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	preamble_init(hs->pre, r->lc->preamble, route_table_conf(r->routes)->main->name);
	relay_peer(r, &peer);
	hs->pre->tls_failed_recently = r->e->fallback != NULL &&
				       fallback_recent(r->e->fallback, &peer, ev_monotonic_ms());
	r->state = RELAY_PREAMBLE;
	if (relay_spoke_early(fd)) {
		relay_refused(r, "spoke_early");
		preamble_refuse_early(hs->pre, &out);
		relay_reply(r, out.data, out.len);
		relay_close_after_flush(r);
		return;
	}
	preamble_greeting(hs->pre, &out);
	if (relay_reply(r, out.data, out.len) != 0)
		relay_client_gone(r, "client_error");
}

void
relay_start(struct edge *e, const char *lname, int fd, const struct addr *peer,
	    const struct addr *local, struct ev_slot *slot)
{
	const struct edge_listener_conf *lc = edge_listener_find(e, lname);
	struct relay *r = NULL;
	struct timeval tv;

	if (lc == NULL || peer->len > sizeof(r->peer) || (r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->e = e;
	r->routes = route_table_ref(e->routes);
	r->lc = lc;
	r->slot = slot;
	memcpy(&r->peer, &peer->ss, peer->len);
	r->start = ev_monotonic_ms();
	log_sid_new(r->sid);
	r->cell = metrics_cell(e->metrics, "", lc->name);
	metrics_add(r->cell, METRICS_ACCEPTED, 1);
	r->next = e->relays;
	if (e->relays != NULL)
		e->relays->prev = r;
	e->relays = r;
	e->active++;
	r->hs = calloc(1, sizeof(*r->hs));
	if (r->hs == NULL || (r->hs->deadline = evtimer_new(e->base, relay_on_deadline, r)) == NULL) {
		close(fd);
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	r->hs->local = *local;
	r->pipe = pipe_new(e->base, fd, relay_on_io, r);
	if (r->pipe == NULL) {
		close(fd);
		r->end = "out_of_memory";
		relay_free(r);
		return;
	}
	tv = ev_timeval_ms(lc->handshake_timeout);
	evtimer_add(r->hs->deadline, &tv);
	switch (lc->mode) {
	case EDGE_LISTENER_STARTTLS:
		relay_greet(r, fd);
		return;
	case EDGE_LISTENER_SNI:
		r->state = RELAY_HELLO;
		relay_read(r);
		return;
	case EDGE_LISTENER_HTTP:
		r->state = RELAY_HEAD;
		relay_read(r);
		return;
	default:
		/* passthrough: the tenant speaks first. */
		relay_route(r, NULL, 0);
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
