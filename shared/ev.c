#include "ev.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "log.h"

/* Family byte, then the IPv4 address or the IPv6 /64. */
#define EV_SOURCE_KEY_LEN 9

struct ev_source {
	struct ev_source *next;
	uint8_t key[EV_SOURCE_KEY_LEN];
	unsigned count;
};

/* One source's new connections in the current window. */
struct ev_rate_slot {
	uint8_t key[EV_SOURCE_KEY_LEN];
	unsigned n;
	int64_t start;			/* ms, when the window began */
};

/* Connection counts shared by the listeners that use it. */
struct ev_quota {
	unsigned refs;			/* the creator's, each listener's, each slot's */
	struct ev_listener_limits limits;
	unsigned active;
	uint32_t seed;
	struct ev_source *buckets[EV_SOURCE_BUCKETS];
	struct ev_rate_slot *rates;	/* EV_RATE_SLOTS, once a rate was set */
};

struct ev_listener {
	struct evconnlistener *lev;
	struct event *resume;		/* re-enables accepting after a pause */
	const char *name;
	struct ev_quota *q;		/* a reference */
	ev_accept_fn on_accept;
	ev_refuse_fn on_refuse;
	void *arg;
	struct addr bound;
};

struct ev_slot {
	struct ev_quota *q;		/* a reference */
	struct ev_source *src;
};

int64_t
ev_monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int
ev_connect_until(const struct addr *a, int64_t deadline)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int soerr = 0, r, saved;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	do {
		int64_t left = deadline - ev_monotonic_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		r = poll(&p, 1, (int)left);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		goto fail;
	if (soerr == 0)
		return fd;
	errno = soerr;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

struct timeval
ev_timeval_ms(int64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

int
ev_listen_socket(const struct addr *a, char *err, size_t errcap)
{
	char text[ADDR_TEXT_MAX];
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		goto fail;
	if (listen(fd, EV_LISTEN_BACKLOG) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errcap, "cannot listen on %s: %s", addr_format(a, text, sizeof(text)),
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void
ev_source_key(const struct addr *peer, uint8_t key[EV_SOURCE_KEY_LEN])
{
	uint8_t ip[16];
	size_t n = addr_ip_bytes(peer, ip);

	memset(key, 0, EV_SOURCE_KEY_LEN);
	key[0] = n == 4 ? 4 : 6;
	memcpy(key + 1, ip, n == 4 ? 4 : 8);
}

/* FNV-1a, seeded per quota so a client cannot aim at one bucket or slot. */
static uint32_t
ev_source_hash(const struct ev_quota *q, const uint8_t key[EV_SOURCE_KEY_LEN])
{
	uint32_t h = 2166136261u ^ q->seed;

	for (size_t i = 0; i < EV_SOURCE_KEY_LEN; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h;
}

static size_t
ev_source_bucket(const struct ev_quota *q, const uint8_t key[EV_SOURCE_KEY_LEN])
{
	return ev_source_hash(q, key) % EV_SOURCE_BUCKETS;
}

/*
 * Count a new connection of key against the rate; 0 if it may come, -1
 * when the source used up its window. Without a rate, or without memory
 * for the table, nothing is counted.
 */
static int
ev_rate_take(struct ev_quota *q, const uint8_t key[EV_SOURCE_KEY_LEN])
{
	int64_t window = q->limits.rate_window_ms > 0 ? q->limits.rate_window_ms : 60 * 1000;
	int64_t now = ev_monotonic_ms();
	struct ev_rate_slot *r;

	if (q->limits.rate_per_source == 0)
		return 0;
	if (q->rates == NULL && (q->rates = calloc(EV_RATE_SLOTS, sizeof(*q->rates))) == NULL)
		return 0;
	r = &q->rates[(ev_source_hash(q, key) >> 10) % EV_RATE_SLOTS];
	if (memcmp(r->key, key, EV_SOURCE_KEY_LEN) != 0 || now - r->start >= window) {
		memcpy(r->key, key, EV_SOURCE_KEY_LEN);
		r->start = now;
		r->n = 0;
	}
	if (r->n >= q->limits.rate_per_source)
		return -1;
	r->n++;
	return 0;
}

static struct ev_source *
ev_source_find(const struct ev_quota *q, const uint8_t key[EV_SOURCE_KEY_LEN])
{
	struct ev_source *s = q->buckets[ev_source_bucket(q, key)];

	while (s != NULL && memcmp(s->key, key, EV_SOURCE_KEY_LEN) != 0)
		s = s->next;
	return s;
}

const char *
ev_refusal_name(enum ev_refusal why)
{
	switch (why) {
	case EV_REFUSE_TOTAL:
		return "max_connections";
	case EV_REFUSE_SOURCE:
		return "max_per_source";
	case EV_REFUSE_RATE:
		return "rate_per_source";
	case EV_REFUSE_MEMORY:
		break;
	}
	return "out_of_memory";
}

static void
ev_refuse(struct ev_listener *l, int fd, const struct addr *peer, enum ev_refusal why)
{
	char text[ADDR_TEXT_MAX];

	log_info(NULL, "refuse", "listener=%s peer=%s reason=%s", l->name,
		 addr_format(peer, text, sizeof(text)), ev_refusal_name(why));
	if (l->on_refuse != NULL)
		l->on_refuse(fd, peer, why, l->arg);
	else
		close(fd);
}

struct ev_slot *
ev_quota_take(struct ev_quota *q, const struct addr *peer, enum ev_refusal *why_r)
{
	uint8_t key[EV_SOURCE_KEY_LEN];
	struct ev_source *src;
	struct ev_slot *slot;

	if (q->limits.max_conns != 0 && q->active >= q->limits.max_conns) {
		*why_r = EV_REFUSE_TOTAL;
		return NULL;
	}
	ev_source_key(peer, key);
	src = ev_source_find(q, key);
	if (src != NULL && q->limits.max_per_source != 0 && src->count >= q->limits.max_per_source) {
		*why_r = EV_REFUSE_SOURCE;
		return NULL;
	}
	if (ev_rate_take(q, key) != 0) {
		*why_r = EV_REFUSE_RATE;
		return NULL;
	}
	*why_r = EV_REFUSE_MEMORY;
	slot = calloc(1, sizeof(*slot));
	if (src == NULL && slot != NULL) {
		src = calloc(1, sizeof(*src));
		if (src != NULL) {
			size_t b = ev_source_bucket(q, key);
			memcpy(src->key, key, sizeof(src->key));
			src->next = q->buckets[b];
			q->buckets[b] = src;
		}
	}
	if (slot == NULL || src == NULL) {
		free(slot);
		return NULL;
	}
	src->count++;
	q->active++;
	q->refs++;
	slot->q = q;
	slot->src = src;
	return slot;
}

static void
ev_on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
	     void *arg)
{
	struct ev_listener *l = arg;
	struct ev_slot *slot;
	enum ev_refusal why;
	struct addr peer;

	(void)lev;
	if (addr_from_sockaddr(sa, (socklen_t)salen, &peer) != 0) {
		close(fd);
		return;
	}
	slot = ev_quota_take(l->q, &peer, &why);
	if (slot == NULL && why == EV_REFUSE_MEMORY) {
		/* Out of memory costs this connection only. */
		close(fd);
		return;
	}
	if (slot == NULL) {
		ev_refuse(l, fd, &peer, why);
		return;
	}
	l->on_accept(fd, &peer, slot, l->arg);
}

static void
ev_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ev_listener *l = arg;

	(void)fd;
	(void)what;
	if (l->lev != NULL)
		evconnlistener_enable(l->lev);
}

static void
ev_on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct ev_listener *l = arg;
	struct timeval tv = ev_timeval_ms(EV_ACCEPT_PAUSE_MS);
	int e = EVUTIL_SOCKET_ERROR();

	/* Out of descriptors: stop accepting for a moment instead of spinning. */
	log_warn(NULL, "accept_error", "listener=%s error=\"%s\" pause_ms=%d", l->name,
		 strerror(e), EV_ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
}

struct ev_quota *
ev_quota_new(const struct ev_listener_limits *limits)
{
	struct ev_quota *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->refs = 1;
	q->limits = *limits;
	if (getrandom(&q->seed, sizeof(q->seed), 0) != sizeof(q->seed))
		q->seed = (uint32_t)(uintptr_t)q;
	return q;
}

void
ev_quota_set_limits(struct ev_quota *q, const struct ev_listener_limits *limits)
{
	q->limits = *limits;
}

unsigned
ev_quota_active(const struct ev_quota *q)
{
	return q->active;
}

unsigned
ev_quota_active_from(const struct ev_quota *q, const struct addr *peer)
{
	uint8_t key[EV_SOURCE_KEY_LEN];
	struct ev_source *s;

	ev_source_key(peer, key);
	s = ev_source_find(q, key);
	return s != NULL ? s->count : 0;
}

void
ev_quota_unref(struct ev_quota **qp)
{
	struct ev_quota *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	if (--q->refs > 0)
		return;
	for (size_t b = 0; b < EV_SOURCE_BUCKETS; b++) {
		while (q->buckets[b] != NULL) {
			struct ev_source *next = q->buckets[b]->next;
			free(q->buckets[b]);
			q->buckets[b] = next;
		}
	}
	free(q->rates);
	free(q);
}

struct ev_listener *
ev_listener_new(struct event_base *base, int fd, const char *name, struct ev_quota *q,
		ev_accept_fn on_accept, ev_refuse_fn on_refuse, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct ev_listener *l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		goto fail;
	l->name = name;
	l->on_accept = on_accept;
	l->on_refuse = on_refuse;
	l->arg = arg;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		addr_from_sockaddr((struct sockaddr *)&ss, sslen, &l->bound);
	l->resume = evtimer_new(base, ev_on_resume, l);
	if (l->resume == NULL)
		goto fail;
	/* Backlog 0: the socket is already listening. */
	l->lev = evconnlistener_new(base, ev_on_accept, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		goto fail;
	evconnlistener_set_error_cb(l->lev, ev_on_accept_error);
	q->refs++;
	l->q = q;
	return l;
fail:
	close(fd);
	if (l != NULL && l->resume != NULL)
		event_free(l->resume);
	free(l);
	return NULL;
}

int
ev_listener_address(const struct ev_listener *l, struct addr *a_r)
{
	*a_r = l->bound;
	return l->bound.len != 0 ? 0 : -1;
}

unsigned
ev_listener_active(const struct ev_listener *l)
{
	return ev_quota_active(l->q);
}

unsigned
ev_listener_active_from(const struct ev_listener *l, const struct addr *peer)
{
	return ev_quota_active_from(l->q, peer);
}

void
ev_listener_free(struct ev_listener **lp)
{
	struct ev_listener *l = *lp;

	if (l == NULL)
		return;
	*lp = NULL;
	evconnlistener_free(l->lev);
	event_free(l->resume);
	ev_quota_unref(&l->q);
	free(l);
}

void
ev_slot_release(struct ev_slot **slotp)
{
	struct ev_slot *slot = *slotp;
	struct ev_quota *q;

	if (slot == NULL)
		return;
	*slotp = NULL;
	q = slot->q;
	if (--slot->src->count == 0) {
		struct ev_source **pp = &q->buckets[ev_source_bucket(q, slot->src->key)];
		while (*pp != slot->src)
			pp = &(*pp)->next;
		*pp = slot->src->next;
		free(slot->src);
	}
	free(slot);
	q->active--;
	ev_quota_unref(&q);
}

/* The byte at pos of in (pos < length). Returns it, or -1. */
static int
ev_byte_at(struct evbuffer *in, size_t pos)
{
	struct evbuffer_ptr at;
	unsigned char c;

	if (evbuffer_ptr_set(in, &at, pos, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_copyout_from(in, &at, &c, 1) != 1)
		return -1;
	return c;
}

enum ev_line_status
ev_read_line(struct evbuffer *in, size_t max, char *out, struct ev_line *line_r)
{
	size_t have = evbuffer_get_length(in);
	size_t look = have < max + 2 ? have : max + 2;
	struct evbuffer_ptr end, nl;
	size_t len;
	int bare_lf = 1;

	/* Search only the bytes that could still belong to an acceptable line. */
	if (evbuffer_ptr_set(in, &end, look, EVBUFFER_PTR_SET) != 0)
		return EV_LINE_TOO_LONG;
	nl = evbuffer_search_range(in, "\n", 1, NULL, &end);
	if (nl.pos < 0) {
		if (have >= max + 2)
			return EV_LINE_TOO_LONG;
		/* max + 1 bytes can still make a line only if the last is a CR. */
		if (have == max + 1 && ev_byte_at(in, max) != '\r')
			return EV_LINE_TOO_LONG;
		return EV_LINE_MORE;
	}
	len = (size_t)nl.pos;
	if (len > 0 && ev_byte_at(in, len - 1) == '\r') {
		bare_lf = 0;
		len--;
	}
	if (len > max)
		return EV_LINE_TOO_LONG;
	evbuffer_remove(in, out, len);
	out[len] = '\0';
	evbuffer_drain(in, (size_t)nl.pos + 1 - len);
	line_r->len = len;
	line_r->bare_lf = bare_lf;
	return EV_LINE_OK;
}

void
ev_set_timeouts(struct bufferevent *bev, const struct ev_timeouts *t)
{
	struct timeval r = ev_timeval_ms(t->read_ms), w = ev_timeval_ms(t->write_ms);

	bufferevent_set_timeouts(bev, t->read_ms > 0 ? &r : NULL, t->write_ms > 0 ? &w : NULL);
}

struct ev_idle {
	struct event *ev;
	int64_t ms;
	void (*fn)(void *arg);
	void *arg;
};

static void
ev_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct ev_idle *idle = arg;

	(void)fd;
	(void)what;
	idle->fn(idle->arg);
}

struct ev_idle *
ev_idle_new(struct event_base *base, int64_t ms, void (*fn)(void *arg), void *arg)
{
	struct ev_idle *idle = calloc(1, sizeof(*idle));

	if (idle == NULL)
		return NULL;
	idle->ev = evtimer_new(base, ev_on_idle, idle);
	if (idle->ev == NULL) {
		free(idle);
		return NULL;
	}
	idle->ms = ms;
	idle->fn = fn;
	idle->arg = arg;
	ev_idle_touch(idle);
	return idle;
}

void
ev_idle_touch(struct ev_idle *idle)
{
	struct timeval tv = ev_timeval_ms(idle->ms);

	evtimer_add(idle->ev, &tv);
}

void
ev_idle_free(struct ev_idle **idlep)
{
	struct ev_idle *idle = *idlep;

	if (idle == NULL)
		return;
	event_free(idle->ev);
	free(idle);
	*idlep = NULL;
}
