/*
 * pipe: bytes both ways between two connected bufferevents, for the relay
 * (client <-> tenant) and the egress (tenant <-> remote MX).
 *
 * Backpressure: when PIPE_BUFFER_MAX bytes wait to be written to a slow
 * side, the other side is not read until half of them are gone, so a fast
 * sender costs at most that much memory. Half-close: an EOF on one side
 * becomes a shutdown of the other side's write half once what was queued
 * for it is written; the pipe ends when both directions are done, on an
 * error on either side, or after idle_ms without a byte either way.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "edge.h"

struct pipe_side {
	struct bufferevent *bev;
	uint64_t read;		/* bytes read from this side */
	int eof;		/* its read half ended */
	int shut;		/* its write half is shut */
};

struct pipe {
	struct pipe_side side[2];
	struct ev_idle *idle;
	pipe_done_fn done;
	void *arg;
};

static struct pipe_side *
pipe_side_of(struct pipe *p, const struct bufferevent *bev)
{
	return p->side[0].bev == bev ? &p->side[0] : &p->side[1];
}

static struct pipe_side *
pipe_other(struct pipe *p, const struct pipe_side *s)
{
	return s == &p->side[0] ? &p->side[1] : &p->side[0];
}

static void
pipe_destroy(struct pipe *p)
{
	for (int i = 0; i < 2; i++) {
		if (p->side[i].bev != NULL)
			bufferevent_free(p->side[i].bev);
	}
	ev_idle_free(&p->idle);
	free(p);
}

/* The end: free everything, then tell the owner (which may free itself). */
static void
pipe_finish(struct pipe *p, const char *end)
{
	pipe_done_fn done = p->done;
	void *arg = p->arg;
	uint64_t a_read = p->side[0].read, b_read = p->side[1].read;

	pipe_destroy(p);
	done(arg, end, a_read, b_read);
}

/* Shut the write half of to once nothing is queued for it. */
static void
pipe_shut_when_flushed(struct pipe_side *to)
{
	if (to->shut)
		return;
	if (evbuffer_get_length(bufferevent_get_output(to->bev)) > 0) {
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		return;
	}
	shutdown(bufferevent_getfd(to->bev), SHUT_WR);
	to->shut = 1;
}

static int
pipe_all_done(const struct pipe *p)
{
	return p->side[0].eof && p->side[1].eof && p->side[0].shut && p->side[1].shut;
}

static void
pipe_on_read(struct bufferevent *bev, void *arg)
{
	struct pipe *p = arg;
	struct pipe_side *from = pipe_side_of(p, bev), *to = pipe_other(p, from);
	struct evbuffer *in = bufferevent_get_input(from->bev), *out = bufferevent_get_output(to->bev);

	from->read += evbuffer_get_length(in);
	evbuffer_add_buffer(out, in);
	ev_idle_touch(p->idle);
	if (evbuffer_get_length(out) >= PIPE_BUFFER_MAX) {
		bufferevent_disable(from->bev, EV_READ);
		bufferevent_setwatermark(to->bev, EV_WRITE, PIPE_BUFFER_MAX / 2, 0);
	}
}

/* Written down to the low watermark: resume the reader, or finish a half-close. */
static void
pipe_on_write(struct bufferevent *bev, void *arg)
{
	struct pipe *p = arg;
	struct pipe_side *to = pipe_side_of(p, bev), *from = pipe_other(p, to);

	ev_idle_touch(p->idle);
	if (from->eof) {
		pipe_shut_when_flushed(to);
		if (pipe_all_done(p))
			pipe_finish(p, "closed");
		return;
	}
	if (!(bufferevent_get_enabled(from->bev) & EV_READ)) {
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		bufferevent_enable(from->bev, EV_READ);
	}
}

static void
pipe_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pipe *p = arg;
	struct pipe_side *from = pipe_side_of(p, bev), *to = pipe_other(p, from);

	if (!(what & BEV_EVENT_EOF)) {
		pipe_finish(p, (what & BEV_EVENT_TIMEOUT) ? "write_timeout"
			       : from == &p->side[0]	  ? "error_a"
							  : "error_b");
		return;
	}
	from->eof = 1;
	pipe_on_read(bev, p);
	pipe_shut_when_flushed(to);
	if (pipe_all_done(p))
		pipe_finish(p, "closed");
}

static void
pipe_on_idle(void *arg)
{
	pipe_finish(arg, "idle_timeout");
}

static void
pipe_nodelay(struct bufferevent *bev)
{
	int one = 1;

	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct pipe *
pipe_new(struct event_base *base, struct bufferevent *a, struct bufferevent *b, int64_t idle_ms,
	 pipe_done_fn done, void *arg)
{
	struct pipe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->idle = ev_idle_new(base, idle_ms, pipe_on_idle, p);
	if (p->idle == NULL) {
		free(p);
		return NULL;
	}
	p->side[0].bev = a;
	p->side[1].bev = b;
	p->done = done;
	p->arg = arg;
	for (int i = 0; i < 2; i++) {
		struct bufferevent *bev = p->side[i].bev;

		pipe_nodelay(bev);
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setwatermark(bev, EV_READ, 0, PIPE_BUFFER_MAX);
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_setcb(bev, pipe_on_read, pipe_on_write, pipe_on_event, p);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
	/* Bytes already read on either side go over now. */
	for (int i = 0; i < 2; i++) {
		if (evbuffer_get_length(bufferevent_get_input(p->side[i].bev)) > 0)
			pipe_on_read(p->side[i].bev, p);
	}
	return p;
}

void
pipe_free(struct pipe **pp)
{
	if (*pp == NULL)
		return;
	pipe_destroy(*pp);
	*pp = NULL;
}
