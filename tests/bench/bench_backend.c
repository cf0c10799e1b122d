/*
 * bench_backend: the home behind the relays in `make bench-edge`.
 *
 *   bench_backend ADDR NPORTS LIFETIME_S
 *
 * Listens on NPORTS ephemeral ports of ADDR (one per relay, so that their
 * connections never share a 4-tuple space), prints "ready PORT..." and
 * serves until killed or LIFETIME_S seconds have passed. One thread, epoll.
 *
 * Each connection starts with an optional PROXY header (v2, v1 or none:
 * whatever the relay sends), then one TLS record (the client's canned
 * ClientHello), then one command byte. The backend answers at once with
 * one byte naming the header it saw ('2', '1' or '0'), then:
 *
 *   'C'  discards what comes and closes on EOF (connection rate, idle holds)
 *   'E'  echoes every byte until EOF (latency)
 *   'S'  discards what comes and on EOF writes the count (8 bytes, big
 *        endian) and closes (throughput)
 *
 * Discarding uses recv(MSG_TRUNC): no copy to user space, so the backend
 * costs as little as a TCP endpoint can.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKEND_PORTS_MAX 8
#define BACKEND_HEAD_MAX 4096		/* PROXY header + ClientHello record + command */
#define BACKEND_PROXYV1_MAX 107		/* a v1 line, CRLF included */
#define BACKEND_PROXYV2_FIXED 16	/* signature, version/command, family, length */
#define BACKEND_TLS_RECORD_HEAD 5
#define BACKEND_ECHO_MAX (64 * 1024)	/* bytes read before they are echoed */
#define BACKEND_SINK_MAX (4 * 1024 * 1024)	/* one recv(MSG_TRUNC) */
#define BACKEND_EVENTS_MAX 256
#define BACKEND_BACKLOG 4096
#define BACKEND_LIFETIME_MAX 86400

static const uint8_t backend_v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

enum backend_state {
	BACKEND_HEAD,	/* PROXY header, ClientHello, command */
	BACKEND_SINK,	/* 'C' */
	BACKEND_COUNT,	/* 'S' */
	BACKEND_ECHO,	/* 'E' */
};

/* The first member of what epoll data points to: a listener or a connection. */
struct backend_item {
	int is_listener;
};

struct backend_listener {
	struct backend_item item;	/* is_listener = 1 */
	int fd;
};

struct backend_conn {
	struct backend_item item;	/* is_listener = 0 */
	int fd;
	enum backend_state state;
	uint64_t count;			/* 'S': bytes after the command */
	size_t headlen;
	uint8_t *buf;			/* BACKEND_HEAD: the head; BACKEND_ECHO: bytes to echo */
	size_t off, len;		/* BACKEND_ECHO: buf[off..len) is still to be written */
};

static int backend_epfd = -1;
static uint8_t backend_sink_buf[BACKEND_SINK_MAX];

/*
 * The head: returns bytes used (PROXY header, record and command) and
 * sets *kind_r and *cmd_r; 0 when more bytes are needed; -1 when the
 * bytes cannot be a head.
 */
static long
backend_head_parse(const uint8_t *p, size_t n, char *kind_r, char *cmd_r)
{
	size_t at = 0, rec;

	if (n == 0)
		return 0;
	if (p[0] == backend_v2_sig[0]) {
		size_t len;

		if (n < BACKEND_PROXYV2_FIXED)
			return 0;
		if (memcmp(p, backend_v2_sig, sizeof(backend_v2_sig)) != 0 || (p[12] >> 4) != 2)
			return -1;
		len = (size_t)p[14] << 8 | p[15];
		if (BACKEND_PROXYV2_FIXED + len > BACKEND_HEAD_MAX / 2)
			return -1;
		at = BACKEND_PROXYV2_FIXED + len;
		*kind_r = '2';
	} else if (p[0] == 'P') {
		size_t i;

		for (i = 0; i + 1 < n && i + 1 < BACKEND_PROXYV1_MAX; i++) {
			if (p[i] == '\r' && p[i + 1] == '\n')
				break;
		}
		if (i + 1 >= n)
			return n >= BACKEND_PROXYV1_MAX ? -1 : 0;
		if (i + 1 >= BACKEND_PROXYV1_MAX || n < 6 || memcmp(p, "PROXY ", 6) != 0)
			return -1;
		at = i + 2;
		*kind_r = '1';
	} else {
		*kind_r = '0';
	}
	if (n < at + BACKEND_TLS_RECORD_HEAD)
		return 0;
	if (p[at] != 0x16)
		return -1;
	rec = (size_t)p[at + 3] << 8 | p[at + 4];
	if (at + BACKEND_TLS_RECORD_HEAD + rec + 1 > BACKEND_HEAD_MAX)
		return -1;
	at += BACKEND_TLS_RECORD_HEAD + rec;
	if (n < at + 1)
		return 0;
	*cmd_r = (char)p[at];
	return (long)(at + 1);
}

static void
backend_close(struct backend_conn *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

static int
backend_watch(struct backend_conn *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(backend_epfd, op, c->fd, &ev);
}

/* Write what is left of the echo buffer. Returns 0, or -1 (close). */
static int
backend_echo_flush(struct backend_conn *c)
{
	while (c->off < c->len) {
		ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);

		if (w < 0 && errno == EAGAIN)
			return backend_watch(c, EPOLL_CTL_MOD, EPOLLOUT);
		if (w <= 0)
			return -1;
		c->off += (size_t)w;
	}
	c->off = c->len = 0;
	return backend_watch(c, EPOLL_CTL_MOD, EPOLLIN);
}

/* Bytes after the head, already read: count, drop or echo them. */
static int
backend_start(struct backend_conn *c, char kind, char cmd, size_t used)
{
	size_t rest = c->headlen - used;

	if (write(c->fd, &kind, 1) != 1)
		return -1;
	switch (cmd) {
	case 'C':
		c->state = BACKEND_SINK;
		free(c->buf);
		c->buf = NULL;
		return 0;
	case 'S':
		c->state = BACKEND_COUNT;
		c->count = rest;
		free(c->buf);
		c->buf = NULL;
		return 0;
	case 'E': {
		uint8_t *echo = realloc(c->buf, BACKEND_ECHO_MAX);

		if (echo == NULL)
			return -1;
		c->buf = echo;
		c->state = BACKEND_ECHO;
		memmove(c->buf, c->buf + used, rest);
		c->off = 0;
		c->len = rest;
		return backend_echo_flush(c);
	}
	default:
		return -1;
	}
}

/* Readable (or writable, for an echo). Returns 0, or -1 to close. */
static int
backend_on_conn(struct backend_conn *c, uint32_t events)
{
	ssize_t r;

	switch (c->state) {
	case BACKEND_HEAD: {
		char kind = '0', cmd = 0;
		long used;

		r = read(c->fd, c->buf + c->headlen, BACKEND_HEAD_MAX - c->headlen);
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return -1;
		c->headlen += (size_t)r;
		used = backend_head_parse(c->buf, c->headlen, &kind, &cmd);
		if (used < 0 || (used == 0 && c->headlen == BACKEND_HEAD_MAX))
			return -1;
		return used == 0 ? 0 : backend_start(c, kind, cmd, (size_t)used);
	}
	case BACKEND_SINK:
	case BACKEND_COUNT:
		r = recv(c->fd, backend_sink_buf, sizeof(backend_sink_buf), MSG_TRUNC);
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r > 0) {
			c->count += (uint64_t)r;
			return 0;
		}
		if (r == 0 && c->state == BACKEND_COUNT) {
			uint8_t be[8];

			for (int i = 0; i < 8; i++)
				be[i] = (uint8_t)(c->count >> (56 - 8 * i));
			if (write(c->fd, be, sizeof(be)) != (ssize_t)sizeof(be))
				fprintf(stderr, "bench_backend: count not written\n");
		}
		return -1;
	case BACKEND_ECHO:
		if (events & EPOLLOUT)
			return backend_echo_flush(c);
		r = read(c->fd, c->buf, BACKEND_ECHO_MAX);
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return -1;
		c->off = 0;
		c->len = (size_t)r;
		return backend_echo_flush(c);
	}
	return -1;
}

static void
backend_on_accept(struct backend_listener *l)
{
	for (;;) {
		int one = 1, fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct backend_conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED)
				fprintf(stderr, "bench_backend: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL || (c->buf = malloc(BACKEND_HEAD_MAX)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = BACKEND_HEAD;
		if (backend_watch(c, EPOLL_CTL_ADD, EPOLLIN) != 0)
			backend_close(c);
	}
}

static int
backend_listen(const char *host, struct backend_listener *l, unsigned *port_r)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	int one = 1;

	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "bench_backend: bad IPv4 address %s\n", host);
		return -1;
	}
	l->item.is_listener = 1;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(l->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(l->fd, BACKEND_BACKLOG) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&sin, &len) != 0 ||
	    epoll_ctl(backend_epfd, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
		fprintf(stderr, "bench_backend: listen on %s: %s\n", host, strerror(errno));
		return -1;
	}
	*port_r = ntohs(sin.sin_port);
	return 0;
}

/* A decimal number in [min, max], or -1. */
static long
backend_number(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

int
main(int argc, char **argv)
{
	struct backend_listener listeners[BACKEND_PORTS_MAX];
	struct epoll_event events[BACKEND_EVENTS_MAX];
	long nports, lifetime;

	if (argc != 4 || (nports = backend_number(argv[2], 1, BACKEND_PORTS_MAX)) < 0 ||
	    (lifetime = backend_number(argv[3], 1, BACKEND_LIFETIME_MAX)) < 0) {
		fprintf(stderr, "usage: bench_backend ADDR NPORTS(1..%d) LIFETIME_S\n", BACKEND_PORTS_MAX);
		return 2;
	}
	/* Bounded: gone after its lifetime even if nobody stops it. */
	alarm((unsigned)lifetime);
	signal(SIGPIPE, SIG_IGN);
	backend_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (backend_epfd < 0)
		return 1;
	printf("ready");
	for (long i = 0; i < nports; i++) {
		unsigned port;

		if (backend_listen(argv[1], &listeners[i], &port) != 0)
			return 1;
		printf(" %u", port);
	}
	printf("\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(backend_epfd, events, BACKEND_EVENTS_MAX, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		for (int i = 0; i < n; i++) {
			struct backend_item *it = events[i].data.ptr;

			if (it->is_listener) {
				backend_on_accept((struct backend_listener *)it);
				continue;
			}
			if (backend_on_conn((struct backend_conn *)it, events[i].events) != 0)
				backend_close((struct backend_conn *)it);
		}
	}
}
