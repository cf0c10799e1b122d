/*
 * listener: the edge's listening sockets. Each address of each [listener]
 * gets a socket, bound at start-up while the edge still has the privilege
 * to bind low ports, and an ev_listener that applies the connection caps
 * before a relay takes the connection over.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge.h"
#include "log.h"

struct edge_socket {
	struct edge *e;
	char *lname;			/* the [listener NAME]; owned */
	struct addr addr;		/* as configured */
	int wildcard;			/* addr is 0.0.0.0 or ::: ask each socket where it was reached */
	struct ev_listener *l;
};

const struct edge_listener_conf *
edge_listener_find(const struct edge *e, const char *name)
{
	const struct edge_conf *ec = route_table_conf(e->routes);

	for (size_t i = 0; i < ec->nlisteners; i++) {
		const struct edge_listener_conf *lc = edge_conf_listener(ec, i);
		if (strcmp(lc->name, name) == 0)
			return lc;
	}
	return NULL;
}

/* Over a cap: a protocol that speaks first gets its 421 (or BYE), then the close. */
static void
edge_on_refuse(int fd, const struct addr *peer, enum ev_refusal why, void *arg)
{
	struct edge_socket *s = arg;
	const struct edge_listener_conf *lc = edge_listener_find(s->e, s->lname);
	uint8_t bytes[PREAMBLE_REPLY_MAX];
	struct buf out = { .data = bytes, .len = 0, .cap = sizeof(bytes) };

	(void)peer;
	(void)why;
	metrics_add(metrics_cell(s->e->metrics, "", s->lname), METRICS_REFUSED, 1);
	if (lc != NULL && (lc->mode == EDGE_LISTENER_STARTTLS || lc->mode == EDGE_LISTENER_PASSTHROUGH)) {
		struct preamble p;

		preamble_init(&p, lc->preamble, route_table_conf(s->e->routes)->main->name);
		/* One short write to a fresh socket: it fits its send buffer. */
		if (preamble_refuse(&p, PREAMBLE_REFUSE_BUSY, &out) == 0 &&
		    write(fd, out.data, out.len) < 0)
			log_debug(NULL, "refuse", "listener=%s error=write_failed", s->lname);
	}
	close(fd);
}

static void
edge_on_accept(int fd, const struct addr *peer, struct ev_slot *slot, void *arg)
{
	struct edge_socket *s = arg;
	struct edge *e = s->e;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addr local;

	/* Address routing needs the address the client reached: the one
	 * bound, or, on a wildcard, the socket's own. */
	if (!s->wildcard)
		local = s->addr;
	else if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0 ||
		 addr_from_sockaddr((struct sockaddr *)&ss, sslen, &local) != 0) {
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	if (e->stopping) {
		ev_slot_release(&slot);
		edge_on_refuse(fd, peer, EV_REFUSE_TOTAL, s);
		return;
	}
	relay_start(e, s->lname, fd, peer, &local, slot);
}

static struct ev_listener_limits
edge_limits(const struct edge *e)
{
	const struct edge_main_conf *m = route_table_conf(e->routes)->main;
	struct ev_listener_limits limits = {
		.max_conns = (unsigned)m->max_connections,
		.max_per_source = (unsigned)m->max_per_source,
		.rate_per_source = (unsigned)m->rate_per_source,
		.rate_window_ms = 60 * 1000,
	};

	return limits;
}

void
edge_listeners_set_limits(struct edge *e)
{
	struct ev_listener_limits limits = edge_limits(e);

	ev_quota_set_limits(e->quota, &limits);
}

/* Is a 0.0.0.0 or :: (or has no port, which a listener never has)? */
static int
edge_addr_is_wildcard(const struct addr *a)
{
	uint8_t ip[16];
	size_t n = addr_ip_bytes(a, ip);

	for (size_t i = 0; i < n; i++) {
		if (ip[i] != 0)
			return addr_port(a) == 0;
	}
	return 1;
}

void
edge_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
edge_listeners_open(struct edge *e, char *err, size_t errcap)
{
	const struct edge_conf *ec = route_table_conf(e->routes);
	struct ev_listener_limits limits = edge_limits(e);
	size_t n = 0;

	for (size_t i = 0; i < ec->nlisteners; i++)
		n += edge_conf_listener(ec, i)->address.n;
	e->sockets = calloc(n + 1, sizeof(*e->sockets));
	e->quota = ev_quota_new(&limits);
	if (e->sockets == NULL || e->quota == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < ec->nlisteners; i++) {
		const struct edge_listener_conf *lc = edge_conf_listener(ec, i);
		for (size_t a = 0; a < lc->address.n; a++) {
			struct edge_socket *s = &e->sockets[e->nsockets];
			int fd = ev_listen_socket(&lc->address.v[a], err, errcap);

			if (fd < 0)
				goto fail;
			/* Accepted sockets inherit it: relays write what they read at once. */
			edge_nodelay(fd);
			s->e = e;
			s->addr = lc->address.v[a];
			s->wildcard = edge_addr_is_wildcard(&s->addr);
			s->lname = strdup(lc->name);
			if (s->lname == NULL) {
				close(fd);
				snprintf(err, errcap, "out of memory");
				goto fail;
			}
			e->nsockets++;
			s->l = ev_listener_new(e->base, fd, s->lname, e->quota, edge_on_accept,
					       edge_on_refuse, s);
			if (s->l == NULL) {
				snprintf(err, errcap, "out of memory");
				goto fail;
			}
		}
	}
	return 0;
fail:
	edge_listeners_close(e);
	return -1;
}

void
edge_listeners_close(struct edge *e)
{
	for (size_t i = 0; i < e->nsockets; i++) {
		ev_listener_free(&e->sockets[i].l);
		free(e->sockets[i].lname);
	}
	free(e->sockets);
	e->sockets = NULL;
	e->nsockets = 0;
	ev_quota_unref(&e->quota);
}

int
edge_listeners_same(const struct edge *e, const struct edge_conf *ec, char *err, size_t errcap)
{
	size_t n = 0;

	for (size_t i = 0; i < ec->nlisteners; i++) {
		const struct edge_listener_conf *lc = edge_conf_listener(ec, i);
		for (size_t a = 0; a < lc->address.n; a++, n++) {
			if (n >= e->nsockets || strcmp(e->sockets[n].lname, lc->name) != 0 ||
			    !addr_equal(&e->sockets[n].addr, &lc->address.v[a])) {
				snprintf(err, errcap, "[listener %s] addresses changed: a restart is needed "
					 "(ports are bound before privileges are dropped)", lc->name);
				return -1;
			}
		}
	}
	if (n != e->nsockets) {
		snprintf(err, errcap, "listeners removed: a restart is needed");
		return -1;
	}
	return 0;
}
