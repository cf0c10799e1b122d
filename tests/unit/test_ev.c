/*
 * Unit tests for shared/ev: listening sockets, the capped listener (real
 * client sockets on loopback), the capped line reader, bufferevent timeouts
 * and the idle timer. Every wait runs the event loop against a guard timer
 * (T_WAIT_MS) and fails when the guard fires first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "ev.h"
#include "log.h"

/* After ev.h: it needs event2/bufferevent.h first. Read timeouts back from the struct. */
#include <event2/bufferevent_struct.h>

#define T_WAIT_MS 2000		/* longest wait for an expected callback */
#define T_CONNS_MAX 16		/* connections one test makes */
#define T_IO_MAX 256		/* bytes a test client reads */

/* ---- libevent's memory ------------------------------------------------ */

/*
 * libevent allocates through these: freed blocks are overwritten first, so
 * a use of libevent memory after it was freed (libevent itself is not built
 * with ASan) reads garbage and crashes instead of passing quietly.
 */
static void *
t_malloc(size_t n)
{
	return malloc(n);
}

static void *
t_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

/* Through a volatile pointer: a plain memset before free() is a dead store to the compiler. */
static void *(*volatile t_memset)(void *, int, size_t) = memset;

static void
t_free(void *p)
{
	if (p != NULL)
		t_memset(p, 0xa5, malloc_usable_size(p));
	free(p);
}

/* ---- waiting on the loop ---------------------------------------------- */

static void
t_on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/*
 * Run base until *counter >= want, or T_WAIT_MS passed. Returns 0 when the
 * count was reached, -1 on the guard.
 */
static int
t_wait(struct event_base *base, const int *counter, int want)
{
	struct timeval tv = ev_timeval_ms(T_WAIT_MS);
	struct event *guard;
	int expired = 0;

	guard = evtimer_new(base, t_on_guard, &expired);
	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	while (*counter < want && !expired)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(guard);
	return *counter >= want ? 0 : -1;
}

/* Run base for ms (callbacks that should not happen get their chance). */
static void
t_run_for(struct event_base *base, int64_t ms)
{
	struct timeval tv = ev_timeval_ms(ms);
	struct event *guard;
	int expired = 0;

	guard = evtimer_new(base, t_on_guard, &expired);
	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	while (!expired)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(guard);
}

/* ---- listener fixture ------------------------------------------------- */

struct t_listener {
	struct event_base *base;
	struct ev_listener *l;
	struct addr bound;
	FILE *log;

	int accepted;
	int acc_fd[T_CONNS_MAX];
	struct addr acc_peer[T_CONNS_MAX];
	struct ev_slot *acc_slot[T_CONNS_MAX];

	int refused;
	int refuse_write_failed;
	enum ev_refusal why[T_CONNS_MAX];
	struct addr ref_peer[T_CONNS_MAX];

	int nclients;
	int clients[T_CONNS_MAX];
};

static void
t_on_accept(int fd, const struct addr *peer, struct ev_slot *slot, void *arg)
{
	struct t_listener *t = arg;

	if (t->accepted >= T_CONNS_MAX) {
		close(fd);
		ev_slot_release(&slot);
		return;
	}
	t->acc_fd[t->accepted] = fd;
	t->acc_peer[t->accepted] = *peer;
	t->acc_slot[t->accepted] = slot;
	t->accepted++;
}

#define T_REFUSE_REPLY "421 busy\r\n"

static void
t_on_refuse(int fd, const struct addr *peer, enum ev_refusal why, void *arg)
{
	struct t_listener *t = arg;

	if (t->refused < T_CONNS_MAX) {
		t->why[t->refused] = why;
		t->ref_peer[t->refused] = *peer;
	}
	t->refused++;
	if (write(fd, T_REFUSE_REPLY, strlen(T_REFUSE_REPLY)) != (ssize_t)strlen(T_REFUSE_REPLY))
		t->refuse_write_failed++;
	close(fd);
}

static int
t_setup(void **state)
{
	struct t_listener *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->base = event_base_new();
	t->log = tmpfile();
	if (t->base == NULL || t->log == NULL)
		return -1;
	for (int i = 0; i < T_CONNS_MAX; i++)
		t->acc_fd[i] = t->clients[i] = -1;
	log_init("test_ev", LOG_LEVEL_INFO, t->log);
	*state = t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_listener *t = *state;

	log_init("test_ev", LOG_LEVEL_INFO, NULL);
	for (int i = 0; i < T_CONNS_MAX; i++) {
		if (t->acc_fd[i] >= 0)
			close(t->acc_fd[i]);
		ev_slot_release(&t->acc_slot[i]);
		if (t->clients[i] >= 0)
			close(t->clients[i]);
	}
	ev_listener_free(&t->l);
	if (t->base != NULL)
		event_base_free(t->base);
	fclose(t->log);
	free(t);
	return 0;
}

static void
t_parse(const char *text, struct addr *a_r)
{
	assert_int_equal(addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, a_r), 0);
}

/* Listen on text (port 0) with limits; learns the bound address. */
static void
t_listen(struct t_listener *t, const char *text, unsigned max_conns, unsigned max_per_source,
	 int with_refuse)
{
	struct ev_listener_limits lim = { .max_conns = max_conns, .max_per_source = max_per_source };
	struct ev_quota *q;
	char err[256] = "";
	struct addr a;
	int fd;

	t_parse(text, &a);
	fd = ev_listen_socket(&a, err, sizeof(err));
	if (fd < 0)
		fail_msg("ev_listen_socket(%s): %s", text, err);
	q = ev_quota_new(&lim);
	assert_non_null(q);
	t->l = ev_listener_new(t->base, fd, "test", q, t_on_accept,
			       with_refuse ? t_on_refuse : NULL, t);
	ev_quota_unref(&q);	/* the listener and its slots hold it now */
	assert_null(q);
	assert_non_null(t->l);
	assert_int_equal(ev_listener_address(t->l, &t->bound), 0);
	assert_int_not_equal(addr_port(&t->bound), 0);
}

/* A blocking client socket connected to to, bound to from (NULL: any). Returns fd or -1. */
static int
t_connect_raw(const struct addr *to, const char *from)
{
	int fd = socket(to->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (from != NULL) {
		struct addr src;
		t_parse(from, &src);
		if (bind(fd, (const struct sockaddr *)&src.ss, src.len) != 0)
			goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&to->ss, to->len) != 0)
		goto fail;
	return fd;
fail:
	{
		int e = errno;
		close(fd);
		errno = e;
	}
	return -1;
}

/* Connect a client to the listener (kept in t->clients). Returns its index. */
static int
t_client(struct t_listener *t, const char *from)
{
	int fd;

	assert_true(t->nclients < T_CONNS_MAX);
	fd = t_connect_raw(&t->bound, from);
	if (fd < 0)
		fail_msg("connect from %s: %s", from ? from : "any", strerror(errno));
	t->clients[t->nclients] = fd;
	return t->nclients++;
}

/* The client's own address, as the listener should report it. */
static void
t_client_addr(const struct t_listener *t, int c, struct addr *a_r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(t->clients[c], (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, len, a_r), 0);
}

/* Connect from `from` and wait until it is accepted. Returns the client index. */
static int
t_client_accepted(struct t_listener *t, const char *from)
{
	int want = t->accepted + 1, refused = t->refused, c = t_client(t, from);
	struct addr ca;

	assert_int_equal(t_wait(t->base, &t->accepted, want), 0);
	assert_int_equal(t->refused, refused);
	t_client_addr(t, c, &ca);
	assert_int_equal(addr_equal(&t->acc_peer[want - 1], &ca), 1);
	return c;
}

/* Connect from `from` and wait until it is refused with why. Returns the client index. */
static int
t_client_refused(struct t_listener *t, const char *from, enum ev_refusal why)
{
	int want = t->refused + 1, accepted = t->accepted, c = t_client(t, from);
	struct addr ca;

	assert_int_equal(t_wait(t->base, &t->refused, want), 0);
	assert_int_equal(t->refuse_write_failed, 0);
	assert_int_equal(t->accepted, accepted);
	assert_int_equal(t->why[want - 1], why);
	t_client_addr(t, c, &ca);
	assert_int_equal(addr_equal(&t->ref_peer[want - 1], &ca), 1);
	return c;
}

/* Close accepted connection i and give its slot back. */
static void
t_release(struct t_listener *t, int i)
{
	assert_non_null(t->acc_slot[i]);
	close(t->acc_fd[i]);
	t->acc_fd[i] = -1;
	ev_slot_release(&t->acc_slot[i]);
	assert_null(t->acc_slot[i]);
}

/* Read exactly n bytes that are on their way to fd (bounded by T_WAIT_MS). */
static void
t_read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, T_WAIT_MS) != 1)
			fail_msg("no data on fd %d", fd);
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			fail_msg("read on fd %d: %zd", fd, r);
		got += (size_t)r;
	}
}

/* What a client receives until the server closes. */
struct t_reader {
	char buf[T_IO_MAX];
	size_t len;
	int eof;
};

static void
t_on_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct t_reader *r = arg;
	ssize_t n;

	(void)what;
	n = read(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n > 0)
		r->len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		r->eof = 1;
}

/* Run the loop until client c sees the server close; its bytes in r. */
static void
t_client_until_eof(struct t_listener *t, int c, struct t_reader *r)
{
	struct event *e;

	memset(r, 0, sizeof(*r));
	assert_int_equal(evutil_make_socket_nonblocking(t->clients[c]), 0);
	e = event_new(t->base, t->clients[c], EV_READ | EV_PERSIST, t_on_client_read, r);
	assert_non_null(e);
	assert_int_equal(event_add(e, NULL), 0);
	assert_int_equal(t_wait(t->base, &r->eof, 1), 0);
	event_free(e);
	r->buf[r->len] = '\0';
}

/* Lines of the log so far that contain want. */
static int
t_log_count(struct t_listener *t, const char *want)
{
	char line[LOG_LINE_MAX];
	int found = 0;

	fflush(t->log);
	rewind(t->log);
	while (fgets(line, sizeof(line), t->log) != NULL)
		found += strstr(line, want) != NULL;
	fseek(t->log, 0, SEEK_END);
	return found;
}

/* The log so far holds a line containing want. */
static void
t_log_has(struct t_listener *t, const char *want)
{
	if (t_log_count(t, want) == 0)
		fail_msg("no log line with \"%s\"", want);
}

static int
t_have_ipv6_loopback(void)
{
	struct addr a;
	int fd, ok;

	t_parse("::1", &a);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = bind(fd, (const struct sockaddr *)&a.ss, a.len) == 0;
	close(fd);
	return ok;
}

/* ---- ev_timeval_ms, ev_listen_socket ---------------------------------- */

static void
test_timeval_ms(void **state)
{
	static const struct {
		int64_t ms;
		long sec, usec;
	} cases[] = {
		{ 0, 0, 0 }, { 1, 0, 1000 }, { 999, 0, 999000 }, { 1000, 1, 0 },
		{ 1500, 1, 500000 }, { 300000, 300, 0 }, { 86400001, 86400, 1000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct timeval tv = ev_timeval_ms(cases[i].ms);
		if (tv.tv_sec != cases[i].sec || tv.tv_usec != cases[i].usec)
			fail_msg("%lld ms: {%ld, %ld}, want {%ld, %ld}", (long long)cases[i].ms,
				 (long)tv.tv_sec, (long)tv.tv_usec, cases[i].sec, cases[i].usec);
	}
}

static void
test_listen_socket(void **state)
{
	char err[256] = "", want[256];
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct addr a, bound;
	int fd, fd2, v = 0;
	socklen_t vlen = sizeof(v);

	(void)state;
	t_parse("127.0.0.1", &a);
	fd = ev_listen_socket(&a, err, sizeof(err));
	assert_true(fd >= 0);
	assert_true((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &vlen), 0);
	assert_int_equal(v, 1);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vlen), 0);
	assert_int_equal(v, 1);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sslen), 0);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&ss, sslen, &bound), 0);
	assert_int_not_equal(addr_port(&bound), 0);

	/* The same port again: an error naming the address and the reason. */
	fd2 = ev_listen_socket(&bound, err, sizeof(err));
	assert_int_equal(fd2, -1);
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%u: %s",
		 (unsigned)addr_port(&bound), strerror(EADDRINUSE));
	assert_string_equal(err, want);
	close(fd);

	if (!t_have_ipv6_loopback()) {
		print_message("no IPv6 loopback (::1): IPv6-only check skipped\n");
		return;
	}
	/*
	 * The wildcard: Linux makes a socket bound to a specific IPv6 address
	 * IPv6-only by itself. Closed at once, no traffic.
	 */
	t_parse("::", &a);
	fd = ev_listen_socket(&a, err, sizeof(err));
	assert_true(fd >= 0);
	v = 0;
	assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vlen), 0);
	assert_int_equal(v, 1);
	close(fd);
}

/* ---- the listener ----------------------------------------------------- */

static void
test_listener_accept(void **state)
{
	struct t_listener *t = *state;
	struct addr ca;
	char buf[8];
	int c;

	t_listen(t, "127.0.0.1", 0, 0, 1);
	assert_int_equal(addr_family(&t->bound), AF_INET);
	assert_int_equal(ev_listener_active(t->l), 0);

	c = t_client_accepted(t, NULL);
	assert_int_equal(ev_listener_active(t->l), 1);
	t_client_addr(t, c, &ca);
	assert_int_equal(ev_listener_active_from(t->l, &ca), 1);
	/* The accepted fd is non-blocking and connected to the client. */
	assert_true((fcntl(t->acc_fd[0], F_GETFL) & O_NONBLOCK) != 0);
	assert_int_equal(read(t->acc_fd[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(write(t->clients[c], "ping", 4), 4);
	t_read_n(t->acc_fd[0], buf, 4);
	assert_memory_equal(buf, "ping", 4);

	t_release(t, 0);
	assert_int_equal(ev_listener_active(t->l), 0);
	assert_int_equal(ev_listener_active_from(t->l, &ca), 0);
	ev_slot_release(&t->acc_slot[0]);	/* NULL is accepted */
}

static void
test_listener_max_conns(void **state)
{
	struct t_listener *t = *state;
	struct t_reader r;
	struct addr ca;
	char want[128];
	int c;

	t_listen(t, "127.0.0.1", 3, 0, 1);
	for (int i = 0; i < 3; i++) {
		t_client_accepted(t, NULL);
		assert_int_equal(ev_listener_active(t->l), (unsigned)i + 1);
	}

	c = t_client_refused(t, NULL, EV_REFUSE_TOTAL);
	assert_int_equal(t->accepted, 3);
	assert_int_equal(ev_listener_active(t->l), 3);
	/* The refuse function owned the fd: its reply, then the close. */
	t_client_until_eof(t, c, &r);
	assert_string_equal(r.buf, T_REFUSE_REPLY);
	t_client_addr(t, c, &ca);
	snprintf(want, sizeof(want), "event=refuse listener=test peer=127.0.0.1:%u reason=max_connections",
		 (unsigned)addr_port(&ca));
	t_log_has(t, want);

	/* A freed slot lets the next one in, and the cap holds again after it. */
	t_release(t, 1);
	assert_int_equal(ev_listener_active(t->l), 2);
	t_client_accepted(t, NULL);
	assert_int_equal(t->accepted, 4);
	assert_int_equal(ev_listener_active(t->l), 3);
	t_client_refused(t, NULL, EV_REFUSE_TOTAL);
	assert_int_equal(t->refused, 2);
	assert_int_equal(ev_listener_active(t->l), 3);
}

static void
test_listener_max_per_source(void **state)
{
	struct t_listener *t = *state;
	struct addr a;
	char want[128];
	int c;

	t_listen(t, "127.0.0.1", 0, 2, 1);
	t_client_accepted(t, "127.0.0.1");
	t_client_accepted(t, "127.0.0.1");
	c = t_client_refused(t, "127.0.0.1", EV_REFUSE_SOURCE);
	t_client_accepted(t, "127.0.0.2");
	t_client_accepted(t, "127.0.0.2");
	t_client_refused(t, "127.0.0.2", EV_REFUSE_SOURCE);
	t_client_accepted(t, "127.0.0.3");
	assert_int_equal(t->accepted, 5);
	assert_int_equal(t->refused, 2);

	t_client_addr(t, c, &a);
	snprintf(want, sizeof(want), "event=refuse listener=test peer=127.0.0.1:%u reason=max_per_source",
		 (unsigned)addr_port(&a));
	t_log_has(t, want);

	assert_int_equal(ev_listener_active(t->l), 5);
	t_parse("127.0.0.1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	/* The port does not matter, and an IPv4-mapped address is the same source. */
	t_parse("127.0.0.1:4242", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	t_parse("::ffff:127.0.0.1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	t_parse("127.0.0.2", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	t_parse("127.0.0.3", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 1);
	t_parse("127.0.0.4", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);

	/* A slot given back by 127.0.0.1 lets 127.0.0.1 in again. */
	t_release(t, 0);
	t_parse("127.0.0.1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 1);
	assert_int_equal(ev_listener_active(t->l), 4);
	t_client_accepted(t, "127.0.0.1");
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	assert_int_equal(ev_listener_active(t->l), 5);

	/* The last slot of a source gone: it counts 0 and can connect again. */
	t_release(t, 4);
	t_parse("127.0.0.3", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);
	t_client_accepted(t, "127.0.0.3");
	assert_int_equal(ev_listener_active_from(t->l, &a), 1);
	assert_int_equal(t->refused, 2);
}

static void
test_listener_both_caps(void **state)
{
	struct t_listener *t = *state;
	struct addr a;

	t_listen(t, "127.0.0.1", 3, 1, 1);
	t_client_accepted(t, "127.0.0.1");
	t_client_refused(t, "127.0.0.1", EV_REFUSE_SOURCE);
	t_client_accepted(t, "127.0.0.2");
	t_client_accepted(t, "127.0.0.3");
	/* A new source, but the listener is full. */
	t_client_refused(t, "127.0.0.4", EV_REFUSE_TOTAL);
	t_parse("127.0.0.4", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);
	assert_int_equal(ev_listener_active(t->l), 3);
}

static void
test_listener_max_per_source_ipv6(void **state)
{
	struct t_listener *t = *state;
	struct addr a;

	if (!t_have_ipv6_loopback()) {
		print_message("skipped: this host has no IPv6 loopback (::1)\n");
		skip();
	}
	t_listen(t, "::1", 0, 2, 1);
	assert_int_equal(addr_family(&t->bound), AF_INET6);
	t_client_accepted(t, "::1");
	t_client_accepted(t, "::1");
	t_client_refused(t, "::1", EV_REFUSE_SOURCE);
	assert_int_equal(ev_listener_active(t->l), 2);

	t_parse("::1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	/* A source is the /64. */
	t_parse("::2", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	t_parse("::ffff:ffff:ffff:ffff", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 2);
	t_parse("0:0:0:1::1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);
	t_parse("2001:db8::1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);
	t_parse("0.0.0.0", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 0);

	t_release(t, 1);
	t_parse("::1", &a);
	assert_int_equal(ev_listener_active_from(t->l, &a), 1);
	t_client_accepted(t, "::1");
	assert_int_equal(ev_listener_active(t->l), 2);
}

static void
test_listener_refuse_without_callback(void **state)
{
	struct t_listener *t = *state;
	struct t_reader r;
	int c;

	t_listen(t, "127.0.0.1", 1, 0, 0);
	t_client_accepted(t, NULL);
	c = t_client(t, NULL);
	/* The listener closes it: the client reads EOF and nothing else. */
	t_client_until_eof(t, c, &r);
	assert_int_equal(r.len, 0);
	assert_int_equal(t->accepted, 1);
	assert_int_equal(t->refused, 0);
	assert_int_equal(ev_listener_active(t->l), 1);

	/* Per source too. */
	ev_listener_free(&t->l);
	assert_null(t->l);
	t_listen(t, "127.0.0.1", 0, 1, 0);
	t_client_accepted(t, "127.0.0.1");
	c = t_client(t, "127.0.0.1");
	t_client_until_eof(t, c, &r);
	assert_int_equal(r.len, 0);
	assert_int_equal(t->accepted, 2);
	assert_int_equal(ev_listener_active(t->l), 1);
	t_client_accepted(t, "127.0.0.2");
	assert_int_equal(ev_listener_active(t->l), 2);
}

/* Two listeners on one quota count together; new limits apply at once. */
static void
test_quota_shared_by_two_listeners(void **state)
{
	struct t_listener *t = *state;
	struct ev_listener_limits lim = { .max_conns = 0, .max_per_source = 1 };
	struct ev_quota *q = ev_quota_new(&lim);
	struct ev_listener *l2;
	struct addr a, b2;
	char err[256] = "";
	int fd, c;

	assert_non_null(q);
	t_parse("127.0.0.1", &a);
	fd = ev_listen_socket(&a, err, sizeof(err));
	assert_true(fd >= 0);
	t->l = ev_listener_new(t->base, fd, "first", q, t_on_accept, t_on_refuse, t);
	assert_non_null(t->l);
	assert_int_equal(ev_listener_address(t->l, &t->bound), 0);
	fd = ev_listen_socket(&a, err, sizeof(err));
	assert_true(fd >= 0);
	l2 = ev_listener_new(t->base, fd, "second", q, t_on_accept, t_on_refuse, t);
	assert_non_null(l2);
	assert_int_equal(ev_listener_address(l2, &b2), 0);

	t_client_accepted(t, "127.0.0.1");
	/* The same source on the other listener: over the shared cap. */
	c = t_connect_raw(&b2, "127.0.0.1");
	assert_true(c >= 0);
	t->clients[t->nclients++] = c;
	assert_int_equal(t_wait(t->base, &t->refused, 1), 0);
	assert_int_equal(t->why[0], EV_REFUSE_SOURCE);
	assert_int_equal(ev_quota_active(q), 1);
	assert_int_equal(ev_listener_active(l2), 1);

	/* A reload raises the cap: the second listener accepts it now. */
	lim.max_per_source = 2;
	ev_quota_set_limits(q, &lim);
	c = t_connect_raw(&b2, "127.0.0.1");
	assert_true(c >= 0);
	t->clients[t->nclients++] = c;
	assert_int_equal(t_wait(t->base, &t->accepted, 2), 0);
	assert_int_equal(ev_quota_active_from(q, &t->acc_peer[1]), 2);

	/* Both listeners gone: the slots keep the quota and its counts. */
	ev_listener_free(&t->l);
	ev_listener_free(&l2);
	assert_int_equal(ev_quota_active(q), 2);
	t_release(t, 0);
	t_release(t, 1);
	assert_int_equal(ev_quota_active(q), 0);
	ev_quota_unref(&q);
	assert_null(q);
}

static void
test_listener_free_with_slots(void **state)
{
	struct t_listener *t = *state;
	struct addr bound;
	char buf[8];
	int fd;

	t_listen(t, "127.0.0.1", 0, 0, 1);
	t_client_accepted(t, "127.0.0.1");
	t_client_accepted(t, "127.0.0.2");
	bound = t->bound;

	ev_listener_free(&t->l);
	assert_null(t->l);
	ev_listener_free(&t->l);	/* NULL is accepted */

	/* The socket is closed: nobody listens on the port any more. */
	fd = t_connect_raw(&bound, NULL);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, ECONNREFUSED);
	t_run_for(t->base, 50);
	assert_int_equal(t->accepted, 2);
	assert_int_equal(t->refused, 0);

	/* The connections outlive their listener. */
	assert_int_equal(write(t->clients[1], "late", 4), 4);
	t_read_n(t->acc_fd[1], buf, 4);
	assert_memory_equal(buf, "late", 4);

	/* Giving the slots back frees the listener (ASan: no leak, no use after free). */
	t_release(t, 1);
	t_release(t, 0);
}

static void
test_listener_accept_error_pauses(void **state)
{
	struct t_listener *t = *state;
	struct rlimit saved, low;
	char want[128];
	int probe;

	t_listen(t, "127.0.0.1", 0, 0, 1);
	t_client(t, NULL);
	/* No descriptor left for accept(): EMFILE. */
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	t_run_for(t->base, 200);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

	/* One warning, then a pause instead of trying again at once. */
	snprintf(want, sizeof(want), "event=accept_error listener=test error=\"%s\" pause_ms=%d",
		 strerror(EMFILE), EV_ACCEPT_PAUSE_MS);
	assert_int_equal(t_log_count(t, want), 1);
	assert_int_equal(t->accepted, 0);
	/* After the pause the waiting connection is taken. */
	assert_int_equal(t_wait(t->base, &t->accepted, 1), 0);
	assert_int_equal(t_log_count(t, "event=accept_error"), 1);
	assert_int_equal(ev_listener_active(t->l), 1);
}

static void
test_listener_slot_outlives_base(void **state)
{
	struct t_listener *t = *state;

	/*
	 * A connection may end after the listener and the event base are gone
	 * (shutdown): giving its slot back must not touch the base.
	 */
	t_listen(t, "127.0.0.1", 0, 1, 1);
	t_client_accepted(t, "127.0.0.1");
	t_client_accepted(t, "127.0.0.2");
	ev_listener_free(&t->l);
	event_base_free(t->base);
	t->base = NULL;
	t_release(t, 0);
	t_release(t, 1);
}

static void
test_listener_free_idle(void **state)
{
	struct t_listener *t = *state;
	struct addr bound;

	/* No slot held: freed at once, the port closed. */
	t_listen(t, "127.0.0.1", 0, 0, 1);
	t_client_accepted(t, NULL);
	t_release(t, 0);
	bound = t->bound;
	ev_listener_free(&t->l);
	assert_null(t->l);
	assert_int_equal(t_connect_raw(&bound, NULL), -1);
	assert_int_equal(errno, ECONNREFUSED);
}

/* ---- ev_read_line ----------------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1

struct line_case {
	const char *in;
	size_t in_len;
	size_t max;
	enum ev_line_status status;
	const char *out;	/* on EV_LINE_OK */
	size_t out_len;
	int bare_lf;
	size_t left;		/* bytes left in the buffer */
};

static const struct line_case line_cases[] = {
	{ S("HELO x\r\n"), 8, EV_LINE_OK, S("HELO x"), 0, 0 },
	{ S("HELO x\n"), 8, EV_LINE_OK, S("HELO x"), 1, 0 },
	{ S("\r\n"), 8, EV_LINE_OK, S(""), 0, 0 },
	{ S("\n"), 8, EV_LINE_OK, S(""), 1, 0 },
	/* exactly max */
	{ S("12345678\r\n"), 8, EV_LINE_OK, S("12345678"), 0, 0 },
	{ S("12345678\n"), 8, EV_LINE_OK, S("12345678"), 1, 0 },
	{ S("1234567\r\r\n"), 8, EV_LINE_OK, S("1234567\r"), 0, 0 },
	/* max + 1: nothing taken */
	{ S("123456789\r\n"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 11 },
	{ S("123456789\n"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 10 },
	{ S("12345678\r\r\n"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 11 },
	{ S("123456789\r\nok\r\n"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 15 },
	{ S("1234567890123456789012345\r\n"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 27 },
	/* max + 2 bytes and no newline: cannot become a line of max bytes */
	{ S("123456789X"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 10 },
	{ S("123456789\r"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 10 },
	/* no newline yet */
	{ S(""), 8, EV_LINE_MORE, NULL, 0, 0, 0 },
	{ S("HELO"), 8, EV_LINE_MORE, NULL, 0, 0, 4 },
	{ S("\r"), 8, EV_LINE_MORE, NULL, 0, 0, 1 },
	{ S("12345678\r"), 8, EV_LINE_MORE, NULL, 0, 0, 9 },
	/* max + 1 bytes, no newline, last not CR: too long at once */
	{ S("123456789"), 8, EV_LINE_TOO_LONG, NULL, 0, 0, 9 },
	{ S("a"), 0, EV_LINE_TOO_LONG, NULL, 0, 0, 1 },
	/* embedded NUL and CR kept; only the CR right before LF is removed */
	{ S("a\0b\r\n"), 8, EV_LINE_OK, S("a\0b"), 0, 0 },
	{ S("\0\0\n"), 8, EV_LINE_OK, S("\0\0"), 1, 0 },
	{ S("a\rb\r\n"), 8, EV_LINE_OK, S("a\rb"), 0, 0 },
	{ S("a\rb\n"), 8, EV_LINE_OK, S("a\rb"), 1, 0 },
	{ S("a\r\r\n"), 8, EV_LINE_OK, S("a\r"), 0, 0 },
	{ S("\r\r\n"), 8, EV_LINE_OK, S("\r"), 0, 0 },
	{ S("\n\r\n"), 8, EV_LINE_OK, S(""), 1, 2 },
	/* one line taken, the rest left */
	{ S("ab\r\ncd\r\n"), 8, EV_LINE_OK, S("ab"), 0, 4 },
	{ S("ab\ncd"), 8, EV_LINE_OK, S("ab"), 1, 2 },
	{ S("12345678\r\n123456789\r\n"), 8, EV_LINE_OK, S("12345678"), 0, 11 },
	/* max 0: only empty lines */
	{ S("\r\n"), 0, EV_LINE_OK, S(""), 0, 0 },
	{ S("\n"), 0, EV_LINE_OK, S(""), 1, 0 },
	{ S("a\n"), 0, EV_LINE_TOO_LONG, NULL, 0, 0, 2 },
	{ S("\r\r\n"), 0, EV_LINE_TOO_LONG, NULL, 0, 0, 3 },
	{ S("\r"), 0, EV_LINE_MORE, NULL, 0, 0, 1 },
	{ S("ab"), 0, EV_LINE_TOO_LONG, NULL, 0, 0, 2 },
	/* a longer cap, as SMTP uses */
	{ S("MAIL FROM:<a@example.org>\r\n"), 1000, EV_LINE_OK, S("MAIL FROM:<a@example.org>"), 0, 0 },
};

#define LINE_CASES (sizeof(line_cases) / sizeof(line_cases[0]))

/* out holds exactly max + 1 bytes, on the heap, so ASan sees any overrun. */
static enum ev_line_status
t_read_line(struct evbuffer *in, size_t max, char **out_r, struct ev_line *line)
{
	*out_r = malloc(max + 1);
	assert_non_null(*out_r);
	memset(*out_r, 'X', max + 1);
	line->len = 12345;
	line->bare_lf = 7;
	return ev_read_line(in, max, *out_r, line);
}

static void
test_read_line_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < LINE_CASES; i++) {
		const struct line_case *c = &line_cases[i];
		struct evbuffer *in = evbuffer_new();
		struct ev_line line;
		enum ev_line_status st;
		char *out, rest[64];
		size_t left;

		assert_non_null(in);
		assert_int_equal(evbuffer_add(in, c->in, c->in_len), 0);
		st = t_read_line(in, c->max, &out, &line);
		left = evbuffer_get_length(in);
		if (st != c->status)
			fail_msg("case %zu: status %d, want %d", i, st, c->status);
		if (left != c->left)
			fail_msg("case %zu: %zu bytes left, want %zu", i, left, c->left);
		/* What is left is the unread tail of the input. */
		assert_true(left <= sizeof(rest));
		assert_int_equal(evbuffer_copyout(in, rest, left), (ev_ssize_t)left);
		if (memcmp(rest, c->in + c->in_len - left, left) != 0)
			fail_msg("case %zu: wrong bytes left", i);
		if (st == EV_LINE_OK) {
			if (line.len != c->out_len || line.bare_lf != c->bare_lf)
				fail_msg("case %zu: len %zu bare_lf %d, want %zu %d", i, line.len,
					 line.bare_lf, c->out_len, c->bare_lf);
			if (memcmp(out, c->out, c->out_len) != 0 || out[c->out_len] != '\0')
				fail_msg("case %zu: wrong line", i);
		}
		free(out);
		evbuffer_free(in);
	}
}

/* Take every line from in; the lines go to lines (len, then bytes). Returns the last status. */
static enum ev_line_status
t_drain_lines(struct evbuffer *in, size_t max, struct evbuffer *lines)
{
	enum ev_line_status st;

	for (;;) {
		struct ev_line line;
		char *out;

		st = t_read_line(in, max, &out, &line);
		if (st == EV_LINE_OK) {
			uint8_t hdr[2] = { (uint8_t)line.len, (uint8_t)line.bare_lf };
			assert_true(line.len <= max);
			assert_int_equal(out[line.len], '\0');
			evbuffer_add(lines, hdr, sizeof(hdr));
			evbuffer_add(lines, out, line.len);
		}
		free(out);
		if (st != EV_LINE_OK)
			return st;
	}
}

/* Returns 1 if a and b hold the same bytes. */
static int
t_same_bytes(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);

	if (n != evbuffer_get_length(b))
		return 0;
	return n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0;
}

/* Whole, one byte at a time, and in one chain per byte: the same lines and end. */
static void
test_read_line_bytewise(void **state)
{
	(void)state;
	for (size_t i = 0; i < LINE_CASES; i++) {
		const struct line_case *c = &line_cases[i];
		struct evbuffer *whole_in = evbuffer_new(), *whole = evbuffer_new();
		struct evbuffer *byte_in = evbuffer_new(), *bytes = evbuffer_new();
		struct evbuffer *ref_in = evbuffer_new(), *refs = evbuffer_new();
		enum ev_line_status whole_st, byte_st = EV_LINE_MORE, ref_st = EV_LINE_MORE;

		assert_non_null(whole_in);
		assert_non_null(whole);
		assert_non_null(byte_in);
		assert_non_null(bytes);
		assert_non_null(ref_in);
		assert_non_null(refs);
		evbuffer_add(whole_in, c->in, c->in_len);
		whole_st = t_drain_lines(whole_in, c->max, whole);
		for (size_t k = 0; k < c->in_len && byte_st != EV_LINE_TOO_LONG; k++) {
			evbuffer_add(byte_in, c->in + k, 1);
			byte_st = t_drain_lines(byte_in, c->max, bytes);
		}
		for (size_t k = 0; k < c->in_len && ref_st != EV_LINE_TOO_LONG; k++) {
			/* A reference is always a chain of its own. */
			evbuffer_add_reference(ref_in, c->in + k, 1, NULL, NULL);
			ref_st = t_drain_lines(ref_in, c->max, refs);
		}
		if (byte_st != whole_st || ref_st != whole_st)
			fail_msg("case %zu: status whole %d, bytewise %d, chains %d", i, whole_st,
				 byte_st, ref_st);
		if (!t_same_bytes(bytes, whole) || !t_same_bytes(refs, whole))
			fail_msg("case %zu: different lines whole and bytewise", i);
		evbuffer_free(whole_in);
		evbuffer_free(whole);
		evbuffer_free(byte_in);
		evbuffer_free(bytes);
		evbuffer_free(ref_in);
		evbuffer_free(refs);
	}
}

static void
t_expect_line(struct evbuffer *in, size_t max, const char *want, size_t want_len, int bare_lf)
{
	struct ev_line line;
	char *out;

	assert_int_equal(t_read_line(in, max, &out, &line), EV_LINE_OK);
	assert_int_equal(line.len, want_len);
	assert_int_equal(line.bare_lf, bare_lf);
	assert_memory_equal(out, want, want_len);
	assert_int_equal(out[want_len], '\0');
	free(out);
}

static void
t_expect_status(struct evbuffer *in, size_t max, enum ev_line_status want)
{
	struct ev_line line;
	char *out;

	assert_int_equal(t_read_line(in, max, &out, &line), want);
	free(out);
}

static void
test_read_line_pipelined(void **state)
{
	struct evbuffer *in = evbuffer_new();

	(void)state;
	assert_non_null(in);
	evbuffer_add(in, S("EHLO a\r\nMAIL FROM:<>\nRCPT TO:<b>\r\nDA"));
	t_expect_line(in, 16, S("EHLO a"), 0);
	t_expect_line(in, 16, S("MAIL FROM:<>"), 1);
	t_expect_line(in, 16, S("RCPT TO:<b>"), 0);
	t_expect_status(in, 16, EV_LINE_MORE);
	assert_int_equal(evbuffer_get_length(in), 2);
	evbuffer_add(in, S("TA\r"));
	t_expect_status(in, 16, EV_LINE_MORE);
	evbuffer_add(in, S("\n"));
	t_expect_line(in, 16, S("DATA"), 0);
	t_expect_status(in, 16, EV_LINE_MORE);
	assert_int_equal(evbuffer_get_length(in), 0);
	evbuffer_free(in);
}

static void
test_read_line_chunks(void **state)
{
	static const char *const chunks[] = { "HE", "LO wor", "ld\r", "\n", "NEXT\r", "\nTA", "IL" };
	struct evbuffer *in = evbuffer_new();

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < 3; i++) {
		evbuffer_add_reference(in, chunks[i], strlen(chunks[i]), NULL, NULL);
		t_expect_status(in, 10, EV_LINE_MORE);
	}
	for (size_t i = 3; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		evbuffer_add_reference(in, chunks[i], strlen(chunks[i]), NULL, NULL);
	/* The line and its CRLF span chains. */
	assert_true(evbuffer_peek(in, -1, NULL, NULL, 0) >= 5);
	t_expect_line(in, 10, S("HELO world"), 0);
	assert_int_equal(evbuffer_get_length(in), 10);
	t_expect_line(in, 10, S("NEXT"), 0);
	t_expect_status(in, 10, EV_LINE_MORE);
	assert_int_equal(evbuffer_get_length(in), 4);
	evbuffer_free(in);

	/* The same through evbuffer_add, a chunk at a time. */
	in = evbuffer_new();
	assert_non_null(in);
	for (size_t i = 0; i < 3; i++) {
		evbuffer_add(in, chunks[i], strlen(chunks[i]));
		t_expect_status(in, 10, EV_LINE_MORE);
	}
	evbuffer_add(in, chunks[3], strlen(chunks[3]));
	t_expect_line(in, 10, S("HELO world"), 0);
	t_expect_status(in, 10, EV_LINE_MORE);
	evbuffer_free(in);

	/* Too long across chains: nothing taken. */
	in = evbuffer_new();
	assert_non_null(in);
	for (size_t i = 0; i < 4; i++)
		evbuffer_add_reference(in, chunks[i], strlen(chunks[i]), NULL, NULL);
	t_expect_status(in, 9, EV_LINE_TOO_LONG);
	assert_int_equal(evbuffer_get_length(in), 12);
	evbuffer_free(in);
}

static void
test_read_line_large_buffer(void **state)
{
	struct evbuffer *in = evbuffer_new();
	char big[4096];

	(void)state;
	assert_non_null(in);
	/* Much more than max buffered, the newline far away: too long, nothing taken. */
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 64; i++)
		evbuffer_add(in, big, sizeof(big));
	evbuffer_add(in, S("\r\n"));
	t_expect_status(in, 998, EV_LINE_TOO_LONG);
	assert_int_equal(evbuffer_get_length(in), 64 * sizeof(big) + 2);
	evbuffer_free(in);
}

/* ---- timeouts --------------------------------------------------------- */

struct t_bev {
	int events;
	short what;
};

static void
t_on_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct t_bev *b = arg;

	(void)bev;
	if (b->events++ == 0)
		b->what = what;
}

static void
test_timeouts_read(void **state)
{
	struct event_base *base = event_base_new();
	struct ev_timeouts to = { .read_ms = 100, .write_ms = 0 };
	struct bufferevent *bev;
	struct t_bev b = { 0, 0 };
	int sv[2];

	(void)state;
	assert_non_null(base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_setcb(bev, NULL, NULL, t_on_bev_event, &b);
	assert_int_equal(bufferevent_enable(bev, EV_READ | EV_WRITE), 0);
	ev_set_timeouts(bev, &to);

	/* The peer says nothing. */
	assert_int_equal(t_wait(base, &b.events, 1), 0);
	assert_int_equal(b.what, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);

	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(base);
}

static void
test_timeouts_write(void **state)
{
	struct event_base *base = event_base_new();
	struct ev_timeouts to = { .read_ms = 0, .write_ms = 100 };
	struct bufferevent *bev;
	struct t_bev b = { 0, 0 };
	static char block[64 * 1024];
	int sv[2], small = 4096;

	(void)state;
	assert_non_null(base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_setcb(bev, NULL, NULL, t_on_bev_event, &b);
	/* Reading enabled too: with read_ms 0 there is no read timeout to fire first. */
	assert_int_equal(bufferevent_enable(bev, EV_READ | EV_WRITE), 0);
	ev_set_timeouts(bev, &to);

	/* The peer reads nothing; far more than the socket buffers hold. */
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < 64; i++)
		assert_int_equal(bufferevent_write(bev, block, sizeof(block)), 0);
	assert_int_equal(t_wait(base, &b.events, 1), 0);
	assert_int_equal(b.what, BEV_EVENT_TIMEOUT | BEV_EVENT_WRITING);
	assert_true(evbuffer_get_length(bufferevent_get_output(bev)) > 0);

	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(base);
}

static void
test_timeouts_values(void **state)
{
	struct event_base *base = event_base_new();
	struct ev_timeouts to = { .read_ms = 1500, .write_ms = 0 };
	struct bufferevent *bev;

	(void)state;
	assert_non_null(base);
	bev = bufferevent_socket_new(base, -1, 0);
	assert_non_null(bev);
	ev_set_timeouts(bev, &to);
	assert_int_equal(bev->timeout_read.tv_sec, 1);
	assert_int_equal(bev->timeout_read.tv_usec, 500000);
	assert_false(evutil_timerisset(&bev->timeout_write));

	to.read_ms = 0;
	to.write_ms = 250;
	ev_set_timeouts(bev, &to);
	assert_false(evutil_timerisset(&bev->timeout_read));
	assert_int_equal(bev->timeout_write.tv_sec, 0);
	assert_int_equal(bev->timeout_write.tv_usec, 250000);
	bufferevent_free(bev);
	event_base_free(base);
}

/* ---- the idle timer --------------------------------------------------- */

struct t_idle {
	struct ev_idle *idle;
	struct event *toucher;
	int fired;
	int touches;
	int touches_max;
	int touches_at_fire;
};

static void
t_on_idle(void *arg)
{
	struct t_idle *t = arg;

	if (t->fired++ == 0)
		t->touches_at_fire = t->touches;
}

static void
t_on_touch(evutil_socket_t fd, short what, void *arg)
{
	struct t_idle *t = arg;

	(void)fd;
	(void)what;
	if (t->touches >= t->touches_max)
		return;
	ev_idle_touch(t->idle);
	if (++t->touches == t->touches_max)
		event_del(t->toucher);
}

static void
test_idle_fires_once(void **state)
{
	struct event_base *base = event_base_new();
	struct t_idle t = { 0 };

	(void)state;
	assert_non_null(base);
	t.idle = ev_idle_new(base, 50, t_on_idle, &t);
	assert_non_null(t.idle);
	assert_int_equal(t_wait(base, &t.fired, 1), 0);
	/* Once: nothing more while nobody touches it. */
	t_run_for(base, 200);
	assert_int_equal(t.fired, 1);
	ev_idle_free(&t.idle);
	assert_null(t.idle);
	ev_idle_free(&t.idle);	/* NULL is accepted */
	event_base_free(base);
}

static void
test_idle_touch_postpones(void **state)
{
	struct event_base *base = event_base_new();
	struct timeval every = ev_timeval_ms(10);
	struct t_idle t = { .touches_max = 60 };

	(void)state;
	assert_non_null(base);
	/*
	 * 60 touches 10 ms apart span at least 600 ms, more than the idle time
	 * of 400 ms: without the touches it would fire before they end. Only a
	 * stall of the whole process for 390 ms between two touches could
	 * make it fire early.
	 */
	t.idle = ev_idle_new(base, 400, t_on_idle, &t);
	assert_non_null(t.idle);
	t.toucher = event_new(base, -1, EV_PERSIST, t_on_touch, &t);
	assert_non_null(t.toucher);
	assert_int_equal(evtimer_add(t.toucher, &every), 0);

	assert_int_equal(t_wait(base, &t.touches, t.touches_max), 0);
	assert_int_equal(t.fired, 0);
	/* Touches stopped: it fires, once. */
	assert_int_equal(t_wait(base, &t.fired, 1), 0);
	assert_int_equal(t.touches_at_fire, t.touches_max);
	t_run_for(base, 100);
	assert_int_equal(t.fired, 1);

	event_free(t.toucher);
	ev_idle_free(&t.idle);
	event_base_free(base);
}

static void
test_idle_free_pending(void **state)
{
	struct event_base *base = event_base_new();
	struct t_idle t = { 0 };

	(void)state;
	assert_non_null(base);
	t.idle = ev_idle_new(base, 20, t_on_idle, &t);
	assert_non_null(t.idle);
	ev_idle_free(&t.idle);
	assert_null(t.idle);
	t_run_for(base, 100);
	assert_int_equal(t.fired, 0);
	event_base_free(base);
}

/* Slots taken for a source known later (PROXY): the same caps as at accept. */
static void
test_quota_take(void **state)
{
	struct ev_listener_limits lim = { .max_conns = 3, .max_per_source = 2 };
	struct ev_quota *q = ev_quota_new(&lim);
	struct ev_slot *a1, *a2, *a3, *b, *c;
	struct addr a, a64, other, third;
	enum ev_refusal why;

	(void)state;
	assert_non_null(q);
	t_parse("2001:db8:1:2::10", &a);
	t_parse("2001:db8:1:2::99", &a64);	/* the same /64 */
	t_parse("192.0.2.7", &other);
	t_parse("192.0.2.8", &third);
	assert_non_null(a1 = ev_quota_take(q, &a, &why));
	assert_non_null(a2 = ev_quota_take(q, &a64, &why));
	assert_null(a3 = ev_quota_take(q, &a, &why));
	assert_int_equal(why, EV_REFUSE_SOURCE);
	assert_int_equal(ev_quota_active_from(q, &a64), 2);
	assert_non_null(b = ev_quota_take(q, &other, &why));
	assert_null(c = ev_quota_take(q, &third, &why));
	assert_int_equal(why, EV_REFUSE_TOTAL);
	ev_slot_release(&a1);
	assert_null(a1);
	assert_int_equal(ev_quota_active(q), 2);
	assert_non_null(a3 = ev_quota_take(q, &a, &why));
	/* The slots hold the quota: it goes with the last of them. */
	ev_quota_unref(&q);
	ev_slot_release(&a2);
	ev_slot_release(&a3);
	ev_slot_release(&b);
}

/* New connections per source per window, whatever is still open. */
static void
test_quota_rate(void **state)
{
	struct ev_listener_limits lim = { .max_conns = 0, .max_per_source = 0 };
	struct ev_quota *q = ev_quota_new(&lim);
	struct ev_slot *slot;
	struct addr a, b;
	enum ev_refusal why;

	(void)state;
	assert_non_null(q);
	t_parse("192.0.2.7", &a);
	t_parse("192.0.2.8", &b);
	/* No rate yet: as many as asked. */
	for (int i = 0; i < 10; i++) {
		assert_non_null(slot = ev_quota_take(q, &a, &why));
		ev_slot_release(&slot);
	}
	lim.rate_per_source = 2;
	lim.rate_window_ms = 300;
	ev_quota_set_limits(q, &lim);
	for (int i = 0; i < 2; i++) {
		assert_non_null(slot = ev_quota_take(q, &a, &why));
		ev_slot_release(&slot);
	}
	assert_null(ev_quota_take(q, &a, &why));
	assert_int_equal(why, EV_REFUSE_RATE);
	assert_string_equal(ev_refusal_name(why), "rate_per_source");
	assert_int_equal(ev_quota_active(q), 0);	/* a refusal holds nothing */
	assert_non_null(slot = ev_quota_take(q, &b, &why));
	ev_slot_release(&slot);
	/* The next window. */
	usleep(350 * 1000);
	assert_non_null(slot = ev_quota_take(q, &a, &why));
	ev_slot_release(&slot);
	ev_quota_unref(&q);
}

#define T_LISTENER(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

/* ev_connect_until: a listening port connects; a closed one is refused; nothing past the deadline. */
static void
test_connect_until(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
	struct addr a;

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&sin, len, &a), 0);
	fd = ev_connect_until(&a, ev_monotonic_ms() + 2000);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	close(lfd);		/* the port is closed now */
	errno = 0;
	assert_int_equal(ev_connect_until(&a, ev_monotonic_ms() + 2000), -1);
	assert_int_equal(errno, ECONNREFUSED);
	errno = 0;
	assert_int_equal(ev_connect_until(&a, ev_monotonic_ms() - 1), -1);
	assert_true(errno == ECONNREFUSED || errno == ETIMEDOUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeval_ms),
		cmocka_unit_test(test_listen_socket),
		cmocka_unit_test(test_quota_take),
		cmocka_unit_test(test_quota_rate),
		T_LISTENER(test_listener_accept),
		T_LISTENER(test_listener_max_conns),
		T_LISTENER(test_listener_max_per_source),
		T_LISTENER(test_listener_both_caps),
		T_LISTENER(test_listener_max_per_source_ipv6),
		T_LISTENER(test_listener_refuse_without_callback),
		T_LISTENER(test_listener_free_with_slots),
		T_LISTENER(test_listener_accept_error_pauses),
		T_LISTENER(test_listener_slot_outlives_base),
		T_LISTENER(test_listener_free_idle),
		cmocka_unit_test(test_read_line_table),
		cmocka_unit_test(test_read_line_bytewise),
		cmocka_unit_test(test_read_line_pipelined),
		cmocka_unit_test(test_read_line_chunks),
		cmocka_unit_test(test_read_line_large_buffer),
		cmocka_unit_test(test_timeouts_read),
		cmocka_unit_test(test_timeouts_write),
		cmocka_unit_test(test_timeouts_values),
		T_LISTENER(test_quota_shared_by_two_listeners),
		cmocka_unit_test(test_idle_fires_once),
		cmocka_unit_test(test_idle_touch_postpones),
		cmocka_unit_test(test_idle_free_pending),
		cmocka_unit_test(test_connect_until),
	};
	event_set_mem_functions(t_malloc, t_realloc, t_free);
	return cmocka_run_group_tests_name("ev", tests, NULL, NULL);
}
