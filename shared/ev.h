/*
 * ev: libevent glue shared by home and edge.
 *
 *  - listening sockets, and listeners that cap connections in total and
 *    per source (an IPv4 address, or an IPv6 /64) against a quota that
 *    several listeners may share, handing each accepted connection a slot
 *    that the connection gives back when it ends;
 *  - a capped line reader: a line longer than its cap is an error, never a
 *    bigger buffer;
 *  - read/write timeouts on a bufferevent and an idle timer that any
 *    activity pushes back.
 */
#ifndef HOMEPORT_EV_H
#define HOMEPORT_EV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"

#define EV_LISTEN_BACKLOG 1024
#define EV_SOURCE_BUCKETS 1024		/* hash buckets for per-source counts */
#define EV_RATE_SLOTS 4096		/* sources whose connection rate is followed at once */
#define EV_ACCEPT_PAUSE_MS 1000		/* pause after accept() fails (EMFILE) */

/*
 * Open a listening TCP socket on a (non-blocking, close-on-exec,
 * SO_REUSEADDR; IPv6 sockets are IPv6-only). Returns the fd, or -1 with a
 * message in err[0..errcap).
 */
int ev_listen_socket(const struct addr *a, char *err, size_t errcap);

struct ev_listener;
struct ev_quota;
struct ev_slot;

struct ev_listener_limits {
	unsigned max_conns;		/* open connections counted by the quota; 0 = no cap */
	unsigned max_per_source;	/* per IPv4 address or IPv6 /64; 0 = no cap */
	unsigned rate_per_source;	/* new connections per source per rate window; 0 = no cap */
	int64_t rate_window_ms;		/* that window (0: a minute) */
};

enum ev_refusal {
	EV_REFUSE_TOTAL,	/* max_conns reached */
	EV_REFUSE_SOURCE,	/* max_per_source reached (checked after max_conns) */
	EV_REFUSE_RATE,		/* rate_per_source reached (checked last) */
	EV_REFUSE_MEMORY,	/* out of memory (ev_quota_take() only; a listener just closes) */
};

/*
 * A quota counts the connections of the listeners that share it, in total
 * and per source, against its limits. The rate per source is counted in
 * fixed windows, in a table of EV_RATE_SLOTS slots indexed by a seeded
 * hash of the source: two sources that meet in one slot take it from each
 * other, which resets the count. So a flood from more sources than slots
 * may get past the rate (the total and per-source caps still hold), but
 * a source is never refused for another's connections, and the table's
 * memory is fixed (allocated when a rate is first set). Returns a quota with one reference
 * (the caller's), or NULL when out of memory. Listeners and the slots they
 * hand out hold references of their own, so the quota lives until the last
 * of them is gone.
 */
struct ev_quota *ev_quota_new(const struct ev_listener_limits *limits);

/* New limits (a reload); connections over them stay, new ones are refused. */
void ev_quota_set_limits(struct ev_quota *q, const struct ev_listener_limits *limits);

/* Connections holding a slot of q; those from the source (IPv4 address, IPv6 /64) of peer. */
unsigned ev_quota_active(const struct ev_quota *q);
unsigned ev_quota_active_from(const struct ev_quota *q, const struct addr *peer);

/*
 * Take a slot of q for a connection from peer, as a listener does at
 * accept; for connections whose source is known only later (the client
 * named by a PROXY header). Returns the slot (ev_slot_release()), or NULL
 * with *why_r saying which cap was reached, or EV_REFUSE_MEMORY.
 */
struct ev_slot *ev_quota_take(struct ev_quota *q, const struct addr *peer, enum ev_refusal *why_r);

/* The reason's name in logs: "max_connections", "max_per_source", "rate_per_source", "out_of_memory". */
const char *ev_refusal_name(enum ev_refusal why);

/* Drop a reference (accepts NULL; clears *qp). */
void ev_quota_unref(struct ev_quota **qp);

/*
 * An accepted connection: fd (non-blocking) and slot now belong to the
 * callee, which must call ev_slot_release(&slot) exactly once when the
 * connection ends.
 */
typedef void (*ev_accept_fn)(int fd, const struct addr *peer, struct ev_slot *slot, void *arg);

/*
 * A connection over a cap: fd belongs to the callee, which may write a short
 * reply (SMTP's 421) and must close it. With no refuse function the
 * listener closes it.
 */
typedef void (*ev_refuse_fn)(int fd, const struct addr *peer, enum ev_refusal why, void *arg);

/*
 * Accept on the listening socket fd (which the listener takes over, even on
 * failure), counting connections against q (the listener takes a
 * reference). name is used in logs (borrowed; must outlive the listener).
 * Returns the listener, or NULL when out of memory.
 */
struct ev_listener *ev_listener_new(struct event_base *base, int fd, const char *name,
				    struct ev_quota *q, ev_accept_fn on_accept,
				    ev_refuse_fn on_refuse, void *arg);

/* The address the listener is bound to (its port when bound to port 0). */
int ev_listener_address(const struct ev_listener *l, struct addr *a_r);

/* ev_quota_active() and ev_quota_active_from() of the listener's quota. */
unsigned ev_listener_active(const struct ev_listener *l);
unsigned ev_listener_active_from(const struct ev_listener *l, const struct addr *peer);

/*
 * Stop listening, close the socket and free the listener. Its slots stay
 * valid (they belong to the quota), so connections may outlive their
 * listener and its event base. Accepts NULL; clears *lp.
 */
void ev_listener_free(struct ev_listener **lp);

/* Give a slot back (accepts NULL; clears *slotp). */
void ev_slot_release(struct ev_slot **slotp);

/* Result of ev_read_line(). */
enum ev_line_status {
	EV_LINE_OK = 1,		/* a line was taken from the buffer */
	EV_LINE_MORE = 0,	/* no complete line yet */
	EV_LINE_TOO_LONG = -1,	/* more than max bytes before the newline */
};

struct ev_line {
	size_t len;		/* bytes before CRLF or LF */
	int bare_lf;		/* the line ended in LF without CR */
};

/*
 * Take one line from in into out[0..max] (NUL-terminated, terminator
 * removed). out must hold max + 1 bytes. A line may contain NUL bytes;
 * use line_r->len. EV_LINE_TOO_LONG comes as soon as the buffered bytes
 * cannot start a line of at most max bytes; nothing is taken then, and the
 * caller answers with a protocol error and closes. *line_r is set only for
 * EV_LINE_OK. Looks at no more than max + 2 bytes of in.
 */
enum ev_line_status ev_read_line(struct evbuffer *in, size_t max, char *out, struct ev_line *line_r);

struct ev_timeouts {
	int64_t read_ms;	/* no bytes read for this long: BEV_EVENT_TIMEOUT|READING; 0 = none */
	int64_t write_ms;	/* a write stuck for this long: BEV_EVENT_TIMEOUT|WRITING; 0 = none */
};

/* Set the timeouts on bev. */
void ev_set_timeouts(struct bufferevent *bev, const struct ev_timeouts *t);

struct ev_idle;

/*
 * A timer that fires fn(arg) once after ms without ev_idle_touch().
 * Returns the timer (free with ev_idle_free()) or NULL when out of memory.
 */
struct ev_idle *ev_idle_new(struct event_base *base, int64_t ms, void (*fn)(void *arg), void *arg);

/* Push the deadline back to now + ms; after the timer fired, arm it again. */
void ev_idle_touch(struct ev_idle *idle);

/* Stop and free (accepts NULL; clears *idlep). */
void ev_idle_free(struct ev_idle **idlep);

/* Milliseconds on the monotonic clock (for ages and rate windows). */
int64_t ev_monotonic_ms(void);

/*
 * Outside the loop (commands, tools): a TCP connection to a, made by
 * deadline (ev_monotonic_ms()), waiting in poll(). Returns the socket
 * (non-blocking, close-on-exec), or -1 with errno (ETIMEDOUT at the
 * deadline).
 */
int ev_connect_until(const struct addr *a, int64_t deadline);

/* A struct timeval of ms milliseconds. */
struct timeval ev_timeval_ms(int64_t ms);

#endif
