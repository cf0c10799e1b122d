/*
 * bench_client: the load client of `make bench-edge`.
 *
 *   bench_client throughput ADDR PORT BYTES
 *   bench_client connect    ADDR PORT TOTAL CONCURRENCY
 *   bench_client latency    ADDR PORT ROUND_TRIPS SIZE
 *   bench_client hold       ADDR PORT TOTAL CONCURRENCY
 *
 * Every connection sends the canned ClientHello (bench_hello.h) and one
 * command byte for bench_backend ('S', 'C' or 'E'), in one write, and
 * reads the backend's first byte: the PROXY header it saw ('2', '1',
 * '0'), so every figure is of connections that reached the backend. No
 * TLS follows: after the ClientHello come raw bytes, so neither end does
 * any crypto and the figures are the relay's cost.
 *
 *   throughput  one connection; BYTES in 256 KiB writes, then a half-close;
 *               the backend's byte count ends the clock
 *   connect     TOTAL connections, CONCURRENCY at a time: connect, send,
 *               read the backend's byte, close
 *   latency     one connection; ROUND_TRIPS echoes of SIZE bytes (after
 *               LATENCY_WARMUP unmeasured ones); p50 and p99
 *   hold        opens TOTAL connections as `connect` does and keeps them
 *               open until stdin reaches EOF (the runner reads the relay's
 *               memory meanwhile)
 *
 * Prints one line of key=value results on stdout. Bounded: every mode
 * ends after CLIENT_TIMEOUT seconds at the latest (SIGALRM).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_hello.h"

#define CLIENT_TIMEOUT 300		/* seconds any mode may take */
#define CLIENT_CHUNK (256 * 1024)	/* one throughput write */
#define CLIENT_CONNS_MAX 100000		/* connections in connect or hold */
#define CLIENT_CONCURRENCY_MAX 1000
#define CLIENT_ROUND_TRIPS_MAX 10000000
#define CLIENT_ECHO_MAX 65536		/* a latency message */
#define CLIENT_BYTES_MAX (1ULL << 40)
#define CLIENT_EVENTS_MAX 256
#define LATENCY_WARMUP 1000		/* round trips before measuring */

static uint8_t client_first[sizeof(bench_hello) + 1];	/* ClientHello + command */
static struct sockaddr_in client_to;

static double
client_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A decimal number in [min, max]; exits on anything else. */
static unsigned long long
client_number(const char *s, unsigned long long min, unsigned long long max, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_client: %s must be %llu..%llu\n", what, min, max);
		exit(2);
	}
	return v;
}

static void
client_prepare(char cmd)
{
	memcpy(client_first, bench_hello, sizeof(bench_hello));
	client_first[sizeof(bench_hello)] = (uint8_t)cmd;
}

static int
client_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
client_read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A blocking connection that sent the head; the backend's header kind in *kind_r. */
static int
client_open_blocking(char cmd, char *kind_r)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	client_prepare(cmd);
	if (fd < 0 || connect(fd, (struct sockaddr *)&client_to, sizeof(client_to)) != 0) {
		fprintf(stderr, "bench_client: connect: %s\n", strerror(errno));
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (client_write_all(fd, client_first, sizeof(client_first)) != 0 ||
	    client_read_all(fd, (uint8_t *)kind_r, 1) != 0) {
		fprintf(stderr, "bench_client: no answer from the backend\n");
		exit(1);
	}
	return fd;
}

static int
client_throughput(unsigned long long bytes)
{
	static uint8_t chunk[CLIENT_CHUNK];
	uint8_t be[8];
	unsigned long long left = bytes, got = 0;
	char kind;
	int fd = client_open_blocking('S', &kind);
	double t0 = client_now(), t1;

	while (left > 0) {
		size_t n = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);

		if (client_write_all(fd, chunk, n) != 0) {
			fprintf(stderr, "bench_client: write: %s\n", strerror(errno));
			return 1;
		}
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	if (client_read_all(fd, be, sizeof(be)) != 0) {
		fprintf(stderr, "bench_client: no byte count from the backend\n");
		return 1;
	}
	t1 = client_now();
	close(fd);
	for (int i = 0; i < 8; i++)
		got = got << 8 | be[i];
	if (got != bytes) {
		fprintf(stderr, "bench_client: backend counted %llu of %llu bytes\n", got, bytes);
		return 1;
	}
	printf("throughput bytes=%llu seconds=%.6f kind=%c\n", bytes, t1 - t0, kind);
	return 0;
}

static int
client_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
client_latency(unsigned long long rounds, size_t size)
{
	static uint8_t out[CLIENT_ECHO_MAX], in[CLIENT_ECHO_MAX];
	double *us = calloc(rounds, sizeof(*us));
	char kind;
	int fd = client_open_blocking('E', &kind);

	if (us == NULL)
		return 1;
	for (size_t i = 0; i < size; i++)
		out[i] = (uint8_t)i;
	for (unsigned long long i = 0; i < LATENCY_WARMUP + rounds; i++) {
		double t0 = client_now();

		out[0] = (uint8_t)i;
		if (client_write_all(fd, out, size) != 0 || client_read_all(fd, in, size) != 0 ||
		    memcmp(in, out, size) != 0) {
			fprintf(stderr, "bench_client: echo %llu failed\n", i);
			return 1;
		}
		if (i >= LATENCY_WARMUP)
			us[i - LATENCY_WARMUP] = (client_now() - t0) * 1e6;
	}
	close(fd);
	qsort(us, rounds, sizeof(*us), client_cmp_double);
	printf("latency n=%llu size=%zu p50_us=%.2f p99_us=%.2f max_us=%.2f kind=%c\n", rounds, size,
	       us[rounds * 50 / 100], us[rounds * 99 / 100], us[rounds - 1], kind);
	free(us);
	return 0;
}

/* ---- many connections: connect and hold ---- */

enum conn_state {
	CONN_CONNECTING,	/* until writable */
	CONN_ANSWER,		/* the head is sent: waiting for the backend's byte */
	CONN_HELD,		/* hold: answered, kept open */
};

struct conn {
	int fd;
	enum conn_state state;
};

struct conn_run {
	int epfd;
	int hold;		/* keep answered connections open */
	unsigned long long total, started, answered, errors;
	char kind;		/* the first answer; '?' when answers differ */
	int *held;		/* hold: the fds kept open */
};

/* Open one more connection. Returns 0, or -1 when it failed at once (counted). */
static int
conn_start(struct conn_run *run)
{
	struct conn *c = malloc(sizeof(*c));
	struct epoll_event ev = { .events = EPOLLOUT };
	int fd;

	run->started++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c == NULL || fd < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&client_to, sizeof(client_to)) != 0 && errno != EINPROGRESS)
		goto fail;
	c->fd = fd;
	c->state = CONN_CONNECTING;
	ev.data.ptr = c;
	if (epoll_ctl(run->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		goto fail;
	return 0;
fail:
	if (run->errors++ == 0)
		fprintf(stderr, "bench_client: connect: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
	free(c);
	return -1;
}

/* One event on c. Returns 1 when c is finished (closed or held), 0 when it goes on. */
static int
conn_event(struct conn_run *run, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int err = 0;
	socklen_t len = sizeof(err);
	char kind;

	switch (c->state) {
	case CONN_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
			goto fail;
		/* A fresh socket's send buffer takes the whole head. */
		if (write(c->fd, client_first, sizeof(client_first)) != (ssize_t)sizeof(client_first) ||
		    epoll_ctl(run->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
			goto fail;
		c->state = CONN_ANSWER;
		return 0;
	case CONN_ANSWER:
		if (read(c->fd, &kind, 1) != 1)
			goto fail;
		if (run->answered++ == 0)
			run->kind = kind;
		else if (run->kind != kind)
			run->kind = '?';
		if (run->hold) {
			epoll_ctl(run->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			run->held[run->answered - 1] = c->fd;
			c->state = CONN_HELD;
		} else {
			close(c->fd);
		}
		free(c);
		return 1;
	default:
		break;
	}
fail:
	if (run->errors++ == 0)
		fprintf(stderr, "bench_client: connection failed: %s\n",
			err != 0 ? strerror(err) : errno != 0 ? strerror(errno) : "closed");
	close(c->fd);
	free(c);
	return 1;
}

/* Run TOTAL connections, CONCURRENCY at a time. Returns the seconds it took. */
static double
conn_run(struct conn_run *run, unsigned long long concurrency)
{
	struct epoll_event events[CLIENT_EVENTS_MAX];
	unsigned long long open = 0;
	double t0 = client_now();

	while (open < concurrency && run->started < run->total) {
		if (conn_start(run) == 0)
			open++;
	}
	while (open > 0) {
		int n = epoll_wait(run->epfd, events, CLIENT_EVENTS_MAX, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (conn_event(run, events[i].data.ptr) == 0)
				continue;
			open--;
			while (open < concurrency && run->started < run->total) {
				if (conn_start(run) == 0) {
					open++;
					break;
				}
			}
		}
	}
	return client_now() - t0;
}

static int
client_connections(unsigned long long total, unsigned long long concurrency, int hold)
{
	struct conn_run run = { .hold = hold, .total = total, .kind = '-' };
	double seconds;

	run.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (run.epfd < 0)
		return 1;
	if (hold && (run.held = calloc(total, sizeof(*run.held))) == NULL)
		return 1;
	client_prepare('C');
	seconds = conn_run(&run, concurrency);
	printf("%s n=%llu seconds=%.6f errors=%llu kind=%c\n", hold ? "held" : "connect",
	       run.answered, seconds, run.errors, run.kind);
	fflush(stdout);
	if (hold) {
		char c;

		/* Until the runner has read the relay's memory. */
		while (read(STDIN_FILENO, &c, 1) > 0)
			continue;
		for (unsigned long long i = 0; i < run.answered; i++)
			close(run.held[i]);
		free(run.held);
	}
	close(run.epfd);
	return run.errors == 0 ? 0 : 1;
}

static void
client_usage(void)
{
	fprintf(stderr, "usage: bench_client throughput ADDR PORT BYTES\n"
			"       bench_client connect ADDR PORT TOTAL CONCURRENCY\n"
			"       bench_client latency ADDR PORT ROUND_TRIPS SIZE\n"
			"       bench_client hold ADDR PORT TOTAL CONCURRENCY\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *mode;

	if (argc < 5)
		client_usage();
	mode = argv[1];
	alarm(CLIENT_TIMEOUT);
	signal(SIGPIPE, SIG_IGN);
	client_to.sin_family = AF_INET;
	client_to.sin_port = htons((uint16_t)client_number(argv[3], 1, 65535, "PORT"));
	if (inet_pton(AF_INET, argv[2], &client_to.sin_addr) != 1) {
		fprintf(stderr, "bench_client: bad IPv4 address %s\n", argv[2]);
		return 2;
	}
	if (strcmp(mode, "throughput") == 0 && argc == 5)
		return client_throughput(client_number(argv[4], 1, CLIENT_BYTES_MAX, "BYTES"));
	if (strcmp(mode, "latency") == 0 && argc == 6)
		return client_latency(client_number(argv[4], 1, CLIENT_ROUND_TRIPS_MAX, "ROUND_TRIPS"),
				      client_number(argv[5], 1, CLIENT_ECHO_MAX, "SIZE"));
	if ((strcmp(mode, "connect") == 0 || strcmp(mode, "hold") == 0) && argc == 6)
		return client_connections(client_number(argv[4], 1, CLIENT_CONNS_MAX, "TOTAL"),
					  client_number(argv[5], 1, CLIENT_CONCURRENCY_MAX, "CONCURRENCY"),
					  strcmp(mode, "hold") == 0);
	client_usage();
	return 2;
}
