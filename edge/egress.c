/*
 * egress: the SOCKS5 listener through which tenants send mail out.
 *
 * It listens on the edge's tunnel addresses only. A connection is a
 * tenant's when its source is that tenant's tunnel address (WireGuard's
 * allowed-ips make that address proof of the tenant's key); anyone else is
 * closed at once. The tenant may ask for CONNECT to an IP address on an
 * allowed port (25 by default) that is not forbidden: not loopback,
 * link-local, private or otherwise special (socks5_forbidden_destination),
 * not an address of this host, not a tunnel address, not in [egress] deny.
 * Per tenant, at most max_per_tenant connections are open and
 * rate_per_tenant opened per minute. The connection leaves from the
 * tenant's egress_source address when it has one. Each egress is logged
 * with tenant, destination, bytes and duration, never content.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "edge.h"
#include "log.h"
#include "socks5.h"

struct egress_socket {
	struct edge *e;
	struct ev_listener *l;
};

enum egress_state {
	EGRESS_GREETING,	/* waiting for the method list */
	EGRESS_REQUEST,		/* waiting for the CONNECT request */
	EGRESS_CONNECTING,	/* to the destination */
	EGRESS_PIPE,		/* bytes both ways */
	EGRESS_CLOSING,		/* sending a refusal, then closing */
};

struct egress {
	struct egress *next, *prev;	/* in e->egresses */
	struct edge *e;
	struct route_table *routes;	/* a reference */
	const struct route_tenant *tenant;	/* in routes */
	struct metrics_cell *cell;	/* (tenant, "egress") */
	struct ev_slot *slot;
	enum egress_state state;
	char sid[LOG_SID_LEN];
	struct addr peer, dst;
	struct bufferevent *client, *remote;
	struct event *deadline;
	struct pipe *pipe;
	int counted;			/* holds one of the tenant's egress slots */
	uint64_t out, in;		/* bytes tenant -> remote, remote -> tenant */
	int64_t start;			/* ev_monotonic_ms() at accept */
	const char *end;
};

static void
egress_free(struct egress *g)
{
	char peer[ADDR_TEXT_MAX], dst[ADDR_TEXT_MAX];

	log_info(g->sid, "egress", "tenant=%s peer=%s dst=%s out=%llu in=%llu ms=%lld end=%s",
		 g->tenant != NULL ? g->tenant->name : "-", addr_format(&g->peer, peer, sizeof(peer)),
		 g->dst.len != 0 ? addr_format(&g->dst, dst, sizeof(dst)) : "-",
		 (unsigned long long)g->out, (unsigned long long)g->in,
		 (long long)(ev_monotonic_ms() - g->start),
		 g->end != NULL ? g->end : "closed");
	if (g->counted)
		g->tenant->stats->egress_active--;
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		g->e->egresses = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	pipe_free(&g->pipe);
	if (g->client != NULL)
		bufferevent_free(g->client);
	if (g->remote != NULL)
		bufferevent_free(g->remote);
	if (g->deadline != NULL)
		event_free(g->deadline);
	ev_slot_release(&g->slot);
	route_table_unref(&g->routes);
	free(g);
}

static void
egress_on_closing_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	egress_free(arg);
}

static void
egress_on_closing_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	egress_free(arg);
}

/* Send a SOCKS reply with code, then close. The caller returns at once. */
static void
egress_refuse(struct egress *g, uint8_t code, const char *end)
{
	uint8_t reply[SOCKS5_REPLY_MAX];
	size_t n = socks5_encode_reply(code, NULL, reply);

	metrics_add(g->cell, METRICS_EGRESS_REFUSED, 1);
	g->end = end;
	if (g->remote != NULL) {
		bufferevent_free(g->remote);
		g->remote = NULL;
	}
	g->state = EGRESS_CLOSING;
	bufferevent_disable(g->client, EV_READ);
	bufferevent_setwatermark(g->client, EV_WRITE, 0, 0);
	bufferevent_setcb(g->client, NULL, egress_on_closing_write, egress_on_closing_event, g);
	bufferevent_write(g->client, reply, n);
	bufferevent_enable(g->client, EV_WRITE);
}

/* Is a one of this host's own addresses (any interface)? */
static int
egress_is_local(const struct addr *a)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs) != 0)
		return 1;	/* cannot tell: refuse */
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		struct addr local;

		if (i->ifa_addr == NULL ||
		    addr_from_sockaddr(i->ifa_addr, i->ifa_addr->sa_family == AF_INET6
							     ? sizeof(struct sockaddr_in6)
							     : sizeof(struct sockaddr_in),
				       &local) != 0)
			continue;
		addr_set_port(&local, addr_port(a));
		found = addr_equal(&local, a);
	}
	freeifaddrs(ifs);
	return found;
}

/* Why dst may not be reached, or NULL. */
static const char *
egress_forbidden(const struct egress *g, const struct addr *dst)
{
	const struct edge_conf *ec = route_table_conf(g->routes);
	const struct edge_egress_conf *cfg = ec->egress;
	int port_ok = 0;

	for (size_t i = 0; i < cfg->nports; i++)
		port_ok |= cfg->port[i] == addr_port(dst);
	if (!port_ok)
		return "port_not_allowed";
	if (socks5_forbidden_destination(dst))
		return "special_address";
	if (cidr_list_match(cfg->deny.v, cfg->deny.n, dst))
		return "denied_network";
	if (route_find_tunnel(g->routes, dst) != NULL ||
	    (ec->enroll != NULL && cidr_list_match(ec->enroll->tunnel.v, ec->enroll->tunnel.n, dst)))
		return "tunnel_address";
	if (egress_is_local(dst))
		return "edge_address";
	return NULL;
}

/* The tenant's rate: at most rate_per_tenant new connections per minute. */
static int
egress_rate_ok(const struct egress *g, int64_t rate)
{
	struct metrics_tenant *st = g->tenant->stats;
	int64_t minute = ev_monotonic_ms() / 60000;

	if (st->egress_window != minute) {
		st->egress_window = minute;
		st->egress_in_window = 0;
	}
	if (st->egress_in_window >= rate)
		return 0;
	st->egress_in_window++;
	return 1;
}

static void
egress_on_pipe_done(void *arg, const char *end, uint64_t client_read, uint64_t remote_read)
{
	struct egress *g = arg;

	g->pipe = NULL;
	g->out = client_read;
	g->in = remote_read;
	g->end = strcmp(end, "error_a") == 0 ? "tenant_error"
	       : strcmp(end, "error_b") == 0 ? "remote_error"
					     : end;
	egress_free(g);
}

/*
 * Take the sockets out of the handshake's bufferevents into a pipe, which
 * writes the SOCKS reply towards the tenant first (after anything the
 * client's bufferevent had not written yet). Returns 0, or -1 when out of
 * memory (both sockets closed then; the bufferevents are left to free).
 */
static int
egress_pipe(struct egress *g, const uint8_t *reply, size_t n)
{
	const struct edge_egress_conf *cfg = route_table_conf(g->routes)->egress;
	struct evbuffer *unsent = bufferevent_get_output(g->client);
	struct evbuffer *early = bufferevent_get_input(g->remote);
	struct evbuffer *pending = bufferevent_get_input(g->client);
	int fd_client = bufferevent_getfd(g->client), fd_remote = bufferevent_getfd(g->remote);
	struct iovec to_client[3], to_remote[1];

	to_client[0].iov_len = evbuffer_get_length(unsent);
	to_client[0].iov_base = evbuffer_pullup(unsent, -1);
	to_client[1].iov_base = (void *)reply;
	to_client[1].iov_len = n;
	to_client[2].iov_len = evbuffer_get_length(early);
	to_client[2].iov_base = evbuffer_pullup(early, -1);
	to_remote[0].iov_len = evbuffer_get_length(pending);
	to_remote[0].iov_base = evbuffer_pullup(pending, -1);
	/* The bufferevents stop watching the sockets; the pipe's events take over. */
	bufferevent_setfd(g->client, -1);
	bufferevent_setfd(g->remote, -1);
	g->pipe = pipe_new(g->e->base, fd_client, NULL, g);
	if (g->pipe == NULL) {
		close(fd_client);
		close(fd_remote);
		return -1;
	}
	if (pipe_attach(g->pipe, fd_remote) != 0) {
		close(fd_remote);
		pipe_free(&g->pipe);
		return -1;
	}
	if (pipe_start(g->pipe, to_client, 3, to_remote, 1, cfg->idle_timeout, egress_on_pipe_done) != 0) {
		pipe_free(&g->pipe);
		return -1;
	}
	bufferevent_free(g->client);
	bufferevent_free(g->remote);
	g->client = NULL;
	g->remote = NULL;
	return 0;
}

static void
egress_on_connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct egress *g = arg;
	uint8_t reply[SOCKS5_REPLY_MAX];
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addr bound;
	size_t n;

	if (!(what & BEV_EVENT_CONNECTED)) {
		int err = EVUTIL_SOCKET_ERROR();
		uint8_t code = (what & BEV_EVENT_TIMEOUT) ? SOCKS5_TTL_EXPIRED
			     : err == ECONNREFUSED	 ? SOCKS5_REFUSED
			     : err == ENETUNREACH	 ? SOCKS5_NET_UNREACHABLE
						 : SOCKS5_HOST_UNREACHABLE;
		egress_refuse(g, code, (what & BEV_EVENT_TIMEOUT) ? "connect_timeout" : "connect_failed");
		return;
	}
	memset(&bound, 0, sizeof(bound));
	if (getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &sslen) == 0)
		addr_from_sockaddr((struct sockaddr *)&ss, sslen, &bound);
	n = socks5_encode_reply(SOCKS5_OK, bound.len != 0 ? &bound : NULL, reply);
	/* Piped, the egress keeps no handshake timer. */
	event_free(g->deadline);
	g->deadline = NULL;
	if (egress_pipe(g, reply, n) != 0) {
		g->end = "out_of_memory";
		egress_free(g);
		return;
	}
	g->state = EGRESS_PIPE;
	metrics_add(g->cell, METRICS_EGRESS, 1);
}

/* A socket for dst, bound to the tenant's source address of the same family. */
static int
egress_socket(const struct egress *g, const struct addr *dst)
{
	int fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	for (size_t i = 0; i < g->tenant->negress_source; i++) {
		const struct addr *src = &g->tenant->egress_source[i];

		if (src->ss.ss_family != dst->ss.ss_family)
			continue;
		if (bind(fd, (const struct sockaddr *)&src->ss, src->len) != 0) {
			close(fd);
			return -1;
		}
		break;
	}
	return fd;
}

static void
egress_connect(struct egress *g, const struct socks5_request *req)
{
	const struct edge_egress_conf *cfg = route_table_conf(g->routes)->egress;
	struct timeval tv = ev_timeval_ms(cfg->connect_timeout);
	const char *why;
	int fd;

	if (req->is_domain) {
		/* The home resolves (with DNSSEC) and asks for an address. */
		egress_refuse(g, SOCKS5_ATYP_UNSUPPORTED, "domain_name");
		return;
	}
	g->dst = req->dst;
	if ((why = egress_forbidden(g, &g->dst)) != NULL) {
		egress_refuse(g, SOCKS5_NOT_ALLOWED, why);
		return;
	}
	if (g->tenant->stats->egress_active >= cfg->max_per_tenant) {
		egress_refuse(g, SOCKS5_NOT_ALLOWED, "max_per_tenant");
		return;
	}
	if (!egress_rate_ok(g, cfg->rate_per_tenant)) {
		egress_refuse(g, SOCKS5_NOT_ALLOWED, "rate_per_tenant");
		return;
	}
	g->tenant->stats->egress_active++;
	g->counted = 1;
	fd = egress_socket(g, &g->dst);
	if (fd < 0) {
		log_warn(g->sid, "egress_socket", "result=failed error=\"%s\"", strerror(errno));
		egress_refuse(g, SOCKS5_FAILURE, "source_address");
		return;
	}
	edge_nodelay(fd);
	g->remote = bufferevent_socket_new(g->e->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (g->remote == NULL) {
		close(fd);
		egress_refuse(g, SOCKS5_FAILURE, "out_of_memory");
		return;
	}
	g->state = EGRESS_CONNECTING;
	bufferevent_disable(g->client, EV_READ);
	bufferevent_setcb(g->remote, NULL, NULL, egress_on_connect_event, g);
	bufferevent_set_timeouts(g->remote, NULL, &tv);
	if (bufferevent_socket_connect(g->remote, (struct sockaddr *)&g->dst.ss, (int)g->dst.len) != 0)
		egress_refuse(g, SOCKS5_HOST_UNREACHABLE, "connect_failed");
}

static void
egress_on_read(struct bufferevent *bev, void *arg)
{
	struct egress *g = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const uint8_t *p = evbuffer_pullup(in, -1);
	const char *why = NULL;
	int n;

	if (g->state == EGRESS_GREETING) {
		int noauth = 0;
		uint8_t method[2];

		n = socks5_parse_greeting(p, len, &noauth, &why);
		if (n == 0)
			return;
		if (n < 0 || !noauth) {
			g->end = n < 0 ? "bad_greeting" : "no_acceptable_method";
			socks5_method_reply(0, method);
			metrics_add(g->cell, METRICS_EGRESS_REFUSED, 1);
			bufferevent_write(bev, method, sizeof(method));
			g->state = EGRESS_CLOSING;
			bufferevent_disable(bev, EV_READ);
			bufferevent_setcb(bev, NULL, egress_on_closing_write, egress_on_closing_event, g);
			return;
		}
		socks5_method_reply(1, method);
		bufferevent_write(bev, method, sizeof(method));
		evbuffer_drain(in, (size_t)n);
		g->state = EGRESS_REQUEST;
		len = evbuffer_get_length(in);
		p = evbuffer_pullup(in, -1);
	}
	if (g->state == EGRESS_REQUEST && len > 0) {
		struct socks5_request req;
		uint8_t code = SOCKS5_OK;

		n = socks5_parse_request(p, len, &req, &code, &why);
		if (n == 0)
			return;
		if (n < 0) {
			egress_refuse(g, code, "bad_request");
			return;
		}
		evbuffer_drain(in, (size_t)n);
		if (evbuffer_get_length(in) > 0) {
			/* Data before our reply: not how a SOCKS client behaves. */
			egress_refuse(g, SOCKS5_FAILURE, "bytes_before_reply");
			return;
		}
		egress_connect(g, &req);
	}
}

static void
egress_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct egress *g = arg;

	(void)bev;
	g->end = (what & BEV_EVENT_EOF) ? "tenant_closed_early" : "tenant_error";
	egress_free(g);
}

static void
egress_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct egress *g = arg;

	(void)fd;
	(void)what;
	if (g->state == EGRESS_GREETING || g->state == EGRESS_REQUEST) {
		g->end = "handshake_timeout";
		egress_free(g);
	}
}

static void
egress_on_accept(int fd, const struct addr *peer, struct ev_slot *slot, void *arg)
{
	struct egress_socket *s = arg;
	struct edge *e = s->e;
	const struct route_tenant *t = route_find_tunnel(e->routes, peer);
	struct timeval tv = ev_timeval_ms(EGRESS_HANDSHAKE_TIMEOUT);
	struct egress *g;
	char text[ADDR_TEXT_MAX];

	if (t == NULL || route_table_conf(e->routes)->egress == NULL || e->stopping) {
		log_warn(NULL, "egress", "result=refused peer=%s reason=%s",
			 addr_format(peer, text, sizeof(text)), t == NULL ? "not_a_tenant" : "stopping");
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	g->e = e;
	g->routes = route_table_ref(e->routes);
	g->tenant = t;
	g->slot = slot;
	g->peer = *peer;
	g->start = ev_monotonic_ms();
	log_sid_new(g->sid);
	g->cell = metrics_cell(e->metrics, t->name, "egress");
	g->next = e->egresses;
	if (e->egresses != NULL)
		e->egresses->prev = g;
	e->egresses = g;
	g->client = bufferevent_socket_new(e->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	g->deadline = evtimer_new(e->base, egress_on_deadline, g);
	if (g->client == NULL || g->deadline == NULL) {
		if (g->client == NULL)
			close(fd);
		g->end = "out_of_memory";
		egress_free(g);
		return;
	}
	evtimer_add(g->deadline, &tv);
	bufferevent_setwatermark(g->client, EV_READ, 0, SOCKS5_GREETING_MAX + SOCKS5_REQUEST_MAX);
	bufferevent_setcb(g->client, egress_on_read, NULL, egress_on_event, g);
	bufferevent_enable(g->client, EV_READ | EV_WRITE);
}

int
egress_open(struct edge *e, char *err, size_t errcap)
{
	const struct edge_conf *ec = route_table_conf(e->routes);
	/* Tenants' egress caps are their own; this quota counts the total only. */
	struct ev_listener_limits limits = { .max_conns = (unsigned)ec->main->max_connections };
	struct ev_quota *q = NULL;
	int rc = -1;

	if (ec->egress == NULL)
		return 0;
	e->egress_sockets = calloc(ec->egress->address.n + 1, sizeof(*e->egress_sockets));
	q = ev_quota_new(&limits);
	if (e->egress_sockets == NULL || q == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ec->egress->address.n; i++) {
		struct egress_socket *s = &e->egress_sockets[e->negress_sockets];
		int fd = ev_listen_socket(&ec->egress->address.v[i], err, errcap);

		if (fd < 0)
			goto out;
		edge_nodelay(fd);	/* inherited by accepted sockets, for the pipe */
		s->e = e;
		s->l = ev_listener_new(e->base, fd, "egress", q, egress_on_accept, NULL, s);
		if (s->l == NULL) {
			snprintf(err, errcap, "out of memory");
			goto out;
		}
		e->negress_sockets++;
	}
	rc = 0;
out:
	ev_quota_unref(&q);
	return rc;
}

void
egress_close(struct edge *e)
{
	for (size_t i = 0; i < e->negress_sockets; i++)
		ev_listener_free(&e->egress_sockets[i].l);
	free(e->egress_sockets);
	e->egress_sockets = NULL;
	e->negress_sockets = 0;
}

void
egress_close_all(struct edge *e)
{
	while (e->egresses != NULL) {
		e->egresses->end = "shutdown";
		egress_free(e->egresses);
	}
}
