/*
 * pipe: two sockets, and the bytes between them, for the relay (client <->
 * tenant) and the egress (tenant <-> remote MX).
 *
 * A pipe starts with one socket, a, whose readiness goes to its owner's
 * I/O function: the owner's handshake reads and writes through
 * pipe_recv() and pipe_send(). The owner attaches b once it has opened it
 * (a connect in progress is fine), and pipe_start() makes the pipe carry
 * bytes both ways by itself until both directions are done, a side fails,
 * or nothing moved for idle_ms.
 *
 * Events: each socket has a persistent read event, added once and kept
 * while the side may send (not after its EOF, not while backpressure holds
 * it), and a write event added only while a write could not take
 * everything. A read costs no epoll_ctl, and neither does a write the
 * socket takes at once, which is nearly every write. Level-triggered: a
 * read that stops early (at a turn's end, or with EOF or a reset right
 * behind the data) is reported again by the next epoll_wait, so no read
 * is spent just to see EAGAIN.
 *
 * Copying: a direction (from -> to) reads at most PIPE_READ_MAX bytes at a
 * time into one scratch buffer shared by all pipes and writes them to the
 * other side at once. Only what that write could not take is kept, in a
 * buffer of the direction's own that is freed as soon as it is written
 * out: an idle pipe holds no data buffer. While PIPE_BUFFER_MAX bytes
 * wait for a side, the other side is not read (backpressure) until half
 * of them are written.
 *
 * Splicing: once a read fills PIPE_READ_MAX (a bulk transfer), that
 * direction moves its bytes with splice(2) through a kernel pipe of
 * PIPE_SPLICE_MAX bytes instead: socket -> pipe -> socket, no copy to or
 * from user space. The kernel pipe is taken from a small pool while bytes
 * are in it and given back when it is empty; while it holds bytes the
 * other side did not take, the sending side is not read. Without a
 * kernel pipe (descriptors or memory short) the direction copies.
 *
 * An EOF on one side becomes a shutdown of the other side's write half
 * once all that was read before it is written (half-close); when that
 * ends the pipe, the close that follows sends the FIN instead. A
 * direction moves at most PIPE_TURN_MAX bytes per event, then other
 * connections go first. splice(2) into a socket whose peer is gone raises
 * SIGPIPE: the daemon ignores it (sig_setup()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "edge.h"

#define PIPE_BUFFER_MIN 4096		/* the first allocation of a direction's buffer */
#define PIPE_SPLICE_MAX (256 * 1024)	/* a kernel pipe's size: bytes one splice moves */
#define PIPE_POOL_MAX 16		/* empty kernel pipes kept for reuse */

enum pipe_event {
	PIPE_EV_A_READ,
	PIPE_EV_A_WRITE,
	PIPE_EV_B_READ,
	PIPE_EV_B_WRITE,
	PIPE_EV_IDLE,		/* the idle timer */
	PIPE_EVENTS,
};

struct pipe_end {
	int fd;			/* -1: none */
	uint8_t *buf;		/* bytes to write to this side, buf[off..off+len); NULL when none */
	uint32_t off, len, cap;
	int kp[2];		/* a kernel pipe holding kplen bytes for this side; -1: none */
	uint32_t kplen;
	uint64_t read;		/* bytes read from this side since the start */
	unsigned splice : 1;	/* bytes for this side go through a kernel pipe */
	unsigned reading : 1;	/* its read event is added */
	unsigned writing : 1;	/* its write event is added */
	unsigned paused : 1;	/* not read: backpressure, or the owner's choice */
	unsigned eof : 1;	/* its read half ended */
	unsigned shut : 1;	/* its write half is shut */
};

struct pipe {
	struct pipe_end side[2];	/* by enum pipe_side */
	struct event_base *base;
	pipe_io_fn io;		/* before pipe_start(); may be NULL */
	pipe_done_fn done;	/* after */
	void *arg;
	int64_t idle_ms;	/* 0: no idle timeout */
	int64_t last;		/* ev_monotonic_ms() when a byte last moved */
	unsigned started : 1;
	unsigned moved : 1;	/* a byte moved since last was set */
	/* PIPE_EVENTS struct events follow, event_get_struct_event_size() each */
};

/* One read's worth, shared: a pipe keeps only what a write did not take. */
static uint8_t pipe_scratch[PIPE_READ_MAX];

/* Empty kernel pipes, [read end, write end]: a splice needs one only while bytes are in it. */
static int pipe_pool[PIPE_POOL_MAX][2];
static size_t pipe_npool;

static size_t
pipe_head_size(void)
{
	/* The struct events that follow stay aligned as malloc aligns. */
	return (sizeof(struct pipe) + 15) & ~(size_t)15;
}

static struct event *
pipe_ev(const struct pipe *p, enum pipe_event i)
{
	return (struct event *)((char *)p + pipe_head_size() + (size_t)i * event_get_struct_event_size());
}

static struct event *
pipe_ev_read(const struct pipe *p, enum pipe_side s)
{
	return pipe_ev(p, s == PIPE_A ? PIPE_EV_A_READ : PIPE_EV_B_READ);
}

static struct event *
pipe_ev_write(const struct pipe *p, enum pipe_side s)
{
	return pipe_ev(p, s == PIPE_A ? PIPE_EV_A_WRITE : PIPE_EV_B_WRITE);
}

static enum pipe_side
pipe_which(const struct pipe *p, const struct pipe_end *s)
{
	return s == &p->side[PIPE_A] ? PIPE_A : PIPE_B;
}

static const char *
pipe_error_of(const struct pipe *p, const struct pipe_end *s)
{
	return pipe_which(p, s) == PIPE_A ? "error_a" : "error_b";
}

/* Watch side s for reading when it may send and nothing holds it back; else not. */
static void
pipe_watch_read(struct pipe *p, struct pipe_end *s)
{
	int want = s->fd >= 0 && !s->eof && !s->paused;

	if (want == (int)s->reading)
		return;
	if (want ? event_add(pipe_ev_read(p, pipe_which(p, s)), NULL) == 0
		 : event_del(pipe_ev_read(p, pipe_which(p, s))) == 0)
		s->reading = (unsigned)want;
}

/* Watch side s for writing while bytes wait for it; else not. */
static void
pipe_watch_write(struct pipe *p, struct pipe_end *s, int want)
{
	if (want == (int)s->writing)
		return;
	if (want ? event_add(pipe_ev_write(p, pipe_which(p, s)), NULL) == 0
		 : event_del(pipe_ev_write(p, pipe_which(p, s))) == 0)
		s->writing = (unsigned)want;
}

/* A kernel pipe for s: from the pool, or a new one. Returns 0 or -1. */
static int
pipe_kp_get(struct pipe_end *s)
{
	if (s->kp[0] >= 0)
		return 0;
	if (pipe_npool > 0) {
		pipe_npool--;
		s->kp[0] = pipe_pool[pipe_npool][0];
		s->kp[1] = pipe_pool[pipe_npool][1];
		return 0;
	}
	if (pipe2(s->kp, O_NONBLOCK | O_CLOEXEC) != 0) {
		s->kp[0] = s->kp[1] = -1;
		return -1;
	}
	/* Best effort: past the user's pipe quota it stays smaller, and works. */
	fcntl(s->kp[0], F_SETPIPE_SZ, PIPE_SPLICE_MAX);
	return 0;
}

/* Give s's kernel pipe back: to the pool when empty, else closed with its bytes. */
static void
pipe_kp_put(struct pipe_end *s)
{
	if (s->kp[0] < 0)
		return;
	if (s->kplen == 0 && pipe_npool < PIPE_POOL_MAX) {
		pipe_pool[pipe_npool][0] = s->kp[0];
		pipe_pool[pipe_npool][1] = s->kp[1];
		pipe_npool++;
	} else {
		close(s->kp[0]);
		close(s->kp[1]);
	}
	s->kp[0] = s->kp[1] = -1;
	s->kplen = 0;
}

/* Forget side s (its socket is closed or not ours), dropping what waited for it. */
static void
pipe_end_clear(struct pipe_end *s)
{
	free(s->buf);
	pipe_kp_put(s);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->kp[0] = s->kp[1] = -1;
}

/* Stop watching and close side i (if open). */
static void
pipe_end_close(struct pipe *p, enum pipe_side i)
{
	struct pipe_end *s = &p->side[i];

	if (s->fd >= 0) {
		event_del(pipe_ev_read(p, i));
		event_del(pipe_ev_write(p, i));
		close(s->fd);
	}
	pipe_end_clear(s);
}

static void
pipe_destroy(struct pipe *p)
{
	pipe_end_close(p, PIPE_A);
	pipe_end_close(p, PIPE_B);
	if (p->started)
		event_del(pipe_ev(p, PIPE_EV_IDLE));
	free(p);
}

/* The end: free everything, then tell the owner (which may free itself). */
static void
pipe_finish(struct pipe *p, const char *end)
{
	pipe_done_fn done = p->done;
	void *arg = p->arg;
	uint64_t a_read = p->side[PIPE_A].read, b_read = p->side[PIPE_B].read;

	pipe_destroy(p);
	done(arg, end, a_read, b_read);
}

/* A read result n (recv or splice) of s: at EOF, s is no longer watched for reading. */
static ssize_t
pipe_end_read_result(struct pipe *p, struct pipe_end *s, ssize_t n)
{
	if (n == 0) {
		s->eof = 1;
		pipe_watch_read(p, s);
	}
	return n;
}

static ssize_t
pipe_end_recv(struct pipe *p, struct pipe_end *s, void *buf, size_t cap)
{
	ssize_t n;

	do
		n = recv(s->fd, buf, cap, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return pipe_end_read_result(p, s, n);
}

/* send(); 0 when the socket takes nothing now, -1 on an error. */
static ssize_t
pipe_end_send(struct pipe_end *s, const void *buf, size_t len)
{
	ssize_t w;

	do
		w = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return w;
}

/* Room for want more bytes at the end of s's buffer, which grows up to PIPE_BUFFER_MAX. */
static int
pipe_end_room(struct pipe_end *s, size_t want)
{
	size_t cap;
	uint8_t *buf;

	if (s->cap - s->off - s->len >= want)
		return 0;
	if (s->len + want > PIPE_BUFFER_MAX)
		return -1;
	if (s->off > 0) {
		memmove(s->buf, s->buf + s->off, s->len);
		s->off = 0;
		if (s->cap - s->len >= want)
			return 0;
	}
	cap = s->cap != 0 ? s->cap : PIPE_BUFFER_MIN;
	while (cap < s->len + want)
		cap *= 2;
	if (cap > PIPE_BUFFER_MAX)
		cap = PIPE_BUFFER_MAX;
	buf = realloc(s->buf, cap);
	if (buf == NULL)
		return -1;
	s->buf = buf;
	s->cap = (uint32_t)cap;
	return 0;
}

/* Keep len bytes for s. Returns 0, or -1 (nothing kept) when out of memory or over the cap. */
static int
pipe_end_keep(struct pipe_end *s, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (pipe_end_room(s, len) != 0)
		return -1;
	memcpy(s->buf + s->off + s->len, data, len);
	s->len += (uint32_t)len;
	return 0;
}

/*
 * Write what waits for s: its buffer (freed once empty), or its kernel
 * pipe (never both hold bytes). Returns 0, or -1 on an error.
 */
static int
pipe_end_flush(struct pipe *p, struct pipe_end *s)
{
	ssize_t n;

	if (s->len > 0) {
		n = pipe_end_send(s, s->buf + s->off, s->len);
		if (n < 0)
			return -1;
		s->off += (uint32_t)n;
		s->len -= (uint32_t)n;
		if (s->len == 0) {
			free(s->buf);
			s->buf = NULL;
			s->off = s->cap = 0;
		}
	} else if (s->kplen > 0) {
		do
			n = splice(s->kp[0], NULL, s->fd, NULL, s->kplen, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n < 0)
			n = 0;
		s->kplen -= (uint32_t)n;
	} else {
		return 0;
	}
	if (n > 0)
		p->moved = 1;
	return 0;
}

/*
 * After bytes moved towards to (or from ended): watch to for writing while
 * bytes wait for it, hold from back while too many do, and shut to's
 * write half once from ended and all is written.
 */
static void
pipe_settle(struct pipe *p, struct pipe_end *from, struct pipe_end *to)
{
	pipe_watch_write(p, to, to->len > 0 || to->kplen > 0);
	if (to->len >= PIPE_BUFFER_MAX || to->kplen > 0)
		from->paused = 1;
	else if (to->len <= PIPE_BUFFER_MAX / 2)
		from->paused = 0;
	if (to->kplen == 0)
		pipe_kp_put(to);
	pipe_watch_read(p, from);
	if (from->eof && to->len == 0 && to->kplen == 0 && !to->shut) {
		/* When this ends the pipe, the close right after sends the FIN. */
		if (!(p->started && to->eof && from->shut))
			shutdown(to->fd, SHUT_WR);
		to->shut = 1;
	}
}

/* from is readable: move its bytes to the other side. Returns NULL, or why the pipe must end. */
static const char *
pipe_move(struct pipe *p, struct pipe_end *from, struct pipe_end *to)
{
	size_t turn = 0;
	ssize_t n = 0, w;

	while (!from->eof && to->len < PIPE_BUFFER_MAX && to->kplen == 0 && turn < PIPE_TURN_MAX) {
		size_t want;

		if (to->len == 0 && to->splice && pipe_kp_get(to) == 0) {
			/* Bulk: socket -> kernel pipe -> socket. */
			want = PIPE_SPLICE_MAX;
			do
				n = splice(from->fd, NULL, to->kp[1], NULL, want,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			while (n < 0 && errno == EINTR);
			if (pipe_end_read_result(p, from, n) <= 0)
				break;
			to->kplen = (uint32_t)n;
			if (pipe_end_flush(p, to) != 0)
				return pipe_error_of(p, to);
		} else if (to->len == 0) {
			/* The usual case: read, and write at once. */
			want = sizeof(pipe_scratch);
			n = pipe_end_recv(p, from, pipe_scratch, want);
			if (n <= 0)
				break;
			w = pipe_end_send(to, pipe_scratch, (size_t)n);
			if (w < 0)
				return pipe_error_of(p, to);
			if (w < n && pipe_end_keep(to, pipe_scratch + w, (size_t)(n - w)) != 0)
				return "out_of_memory";
			if ((size_t)n == want)
				to->splice = 1;
		} else {
			/* to is slow: add to what waits for it, up to the cap. */
			want = PIPE_BUFFER_MAX - to->len;
			if (want > PIPE_READ_MAX)
				want = PIPE_READ_MAX;
			if (pipe_end_room(to, want) != 0)
				return "out_of_memory";
			n = pipe_end_recv(p, from, to->buf + to->off + to->len, want);
			if (n <= 0)
				break;
			to->len += (uint32_t)n;
		}
		from->read += (uint64_t)n;
		turn += (size_t)n;
		p->moved = 1;
		if ((size_t)n < want)
			break;	/* likely drained; if not, epoll says so again */
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return pipe_error_of(p, from);
	pipe_settle(p, from, to);
	return NULL;
}

static void
pipe_note_moved(struct pipe *p)
{
	if (p->moved) {
		p->moved = 0;
		p->last = ev_monotonic_ms();
	}
}

static int
pipe_all_done(const struct pipe *p)
{
	return p->side[PIPE_A].eof && p->side[PIPE_B].eof && p->side[PIPE_A].shut &&
	       p->side[PIPE_B].shut;
}

static void
pipe_on_read(struct pipe *p, enum pipe_side i)
{
	const char *end;

	if (!p->started) {
		if (p->io != NULL)
			p->io(p->arg, i, EV_READ);
		return;
	}
	end = pipe_move(p, &p->side[i], &p->side[!i]);
	if (end == NULL && pipe_all_done(p))
		end = "closed";
	if (end != NULL) {
		pipe_finish(p, end);
		return;
	}
	pipe_note_moved(p);
}

static void
pipe_on_write(struct pipe *p, enum pipe_side i)
{
	struct pipe_end *to = &p->side[i], *from = &p->side[!i];

	if (!p->started) {
		if (p->io != NULL)
			p->io(p->arg, i, EV_WRITE);
		return;
	}
	if (pipe_end_flush(p, to) != 0) {
		pipe_finish(p, pipe_error_of(p, to));
		return;
	}
	pipe_settle(p, from, to);
	if (pipe_all_done(p)) {
		pipe_finish(p, "closed");
		return;
	}
	pipe_note_moved(p);
}

static void
pipe_on_a_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pipe_on_read(arg, PIPE_A);
}

static void
pipe_on_a_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pipe_on_write(arg, PIPE_A);
}

static void
pipe_on_b_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pipe_on_read(arg, PIPE_B);
}

static void
pipe_on_b_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pipe_on_write(arg, PIPE_B);
}

/* The idle timer, pushed back lazily: a busy pipe costs no timer update per read. */
static void
pipe_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct pipe *p = arg;
	int64_t quiet = ev_monotonic_ms() - p->last;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (quiet >= p->idle_ms) {
		pipe_finish(p, "idle_timeout");
		return;
	}
	tv = ev_timeval_ms(p->idle_ms - quiet);
	evtimer_add(pipe_ev(p, PIPE_EV_IDLE), &tv);
}

/* Make fd side i, watched for reading. */
static int
pipe_end_open(struct pipe *p, enum pipe_side i, int fd)
{
	struct pipe_end *s = &p->side[i];

	if (event_assign(pipe_ev_read(p, i), p->base, fd, EV_READ | EV_PERSIST,
			 i == PIPE_A ? pipe_on_a_read : pipe_on_b_read, p) != 0 ||
	    event_assign(pipe_ev_write(p, i), p->base, fd, EV_WRITE | EV_PERSIST,
			 i == PIPE_A ? pipe_on_a_write : pipe_on_b_write, p) != 0)
		return -1;
	pipe_end_clear(s);
	s->fd = fd;
	pipe_watch_read(p, s);
	if (!s->reading) {
		s->fd = -1;
		return -1;
	}
	return 0;
}

struct pipe *
pipe_new(struct event_base *base, int fd_a, pipe_io_fn io, void *arg)
{
	struct pipe *p = calloc(1, pipe_head_size() + PIPE_EVENTS * event_get_struct_event_size());

	if (p == NULL)
		return NULL;
	p->base = base;
	p->io = io;
	p->arg = arg;
	for (int i = 0; i < 2; i++) {
		p->side[i].kp[0] = p->side[i].kp[1] = -1;
		pipe_end_clear(&p->side[i]);
	}
	if (pipe_end_open(p, PIPE_A, fd_a) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

int
pipe_attach(struct pipe *p, int fd_b)
{
	if (p->started || p->side[PIPE_B].fd >= 0)
		return -1;
	return pipe_end_open(p, PIPE_B, fd_b);
}

void
pipe_detach(struct pipe *p)
{
	if (!p->started)
		pipe_end_close(p, PIPE_B);
}

int
pipe_fd(const struct pipe *p, enum pipe_side side)
{
	return p->side[side].fd;
}

void
pipe_hold(struct pipe *p, enum pipe_side side, int hold)
{
	p->side[side].paused = hold != 0;
	pipe_watch_read(p, &p->side[side]);
}

ssize_t
pipe_recv(struct pipe *p, enum pipe_side side, void *buf, size_t cap)
{
	return pipe_end_recv(p, &p->side[side], buf, cap);
}

ssize_t
pipe_send(struct pipe *p, enum pipe_side side, const struct iovec *iov, int n)
{
	struct pipe_end *s = &p->side[side];
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	size_t want = 0;
	ssize_t w;

	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	do
		w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	pipe_watch_write(p, s, w < 0 ? errno == EAGAIN : (size_t)w < want);
	return w;
}

int
pipe_start(struct pipe *p, const struct iovec *to_a, int na, const struct iovec *to_b, int nb,
	   int64_t idle_ms, pipe_done_fn done)
{
	struct timeval tv;

	if (p->started || p->side[PIPE_B].fd < 0)
		return -1;
	for (int i = 0; i < na; i++) {
		if (pipe_end_keep(&p->side[PIPE_A], to_a[i].iov_base, to_a[i].iov_len) != 0)
			goto fail;
	}
	for (int i = 0; i < nb; i++) {
		if (pipe_end_keep(&p->side[PIPE_B], to_b[i].iov_base, to_b[i].iov_len) != 0)
			goto fail;
	}
	evtimer_assign(pipe_ev(p, PIPE_EV_IDLE), p->base, pipe_on_idle, p);
	if (idle_ms > 0) {
		tv = ev_timeval_ms(idle_ms);
		if (evtimer_add(pipe_ev(p, PIPE_EV_IDLE), &tv) != 0)
			goto fail;
	}
	p->done = done;
	p->idle_ms = idle_ms;
	p->last = ev_monotonic_ms();
	p->started = 1;
	p->side[PIPE_A].paused = p->side[PIPE_B].paused = 0;
	pipe_settle(p, &p->side[PIPE_B], &p->side[PIPE_A]);
	pipe_settle(p, &p->side[PIPE_A], &p->side[PIPE_B]);
	if (pipe_all_done(p))
		event_active(pipe_ev_write(p, PIPE_A), EV_WRITE, 1);	/* ends in this loop iteration */
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		free(p->side[i].buf);
		p->side[i].buf = NULL;
		p->side[i].off = p->side[i].len = p->side[i].cap = 0;
	}
	return -1;
}

void
pipe_free(struct pipe **pp)
{
	if (*pp == NULL)
		return;
	pipe_destroy(*pp);
	*pp = NULL;
}
