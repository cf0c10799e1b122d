/*
 * Unit tests for shared/sig: real signals (raise) delivered through the
 * event loop. Every loop run has a guard timer (T_WAIT_MS) that breaks it
 * and fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "sig.h"

#define T_WAIT_MS 2000		/* longest wait for a signal to be handled */
#define T_RAISE_MS 10		/* when the timer raises the signal, inside the loop */

struct t_sig {
	struct event_base *base;
	int reloads;
	int stops;
	int wrong_arg;
	int expired;		/* the guard fired */
	int raise_sig;		/* raised by the timer */
};

static void
t_on_reload(void *arg)
{
	struct t_sig *t = arg;

	if (t->base == NULL) {
		t->wrong_arg++;
		return;
	}
	t->reloads++;
}

static void
t_on_stop(void *arg)
{
	struct t_sig *t = arg;

	if (t->base == NULL) {
		t->wrong_arg++;
		return;
	}
	t->stops++;
}

static void
t_on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct t_sig *t = arg;

	(void)fd;
	(void)what;
	t->expired = 1;
	event_base_loopbreak(t->base);
}

static void
t_on_raise(evutil_socket_t fd, short what, void *arg)
{
	struct t_sig *t = arg;

	(void)fd;
	(void)what;
	raise(t->raise_sig);
}

/* Run the loop until the reload count reaches want. Returns 0, or -1 after ms. */
static int
t_wait_reloads_ms(struct t_sig *t, int want, int64_t ms)
{
	struct timeval tv = ev_timeval_ms(ms);
	struct event *guard = evtimer_new(t->base, t_on_guard, t);

	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	t->expired = 0;
	while (t->reloads < want && !t->expired)
		assert_int_not_equal(event_base_loop(t->base, EVLOOP_ONCE), -1);
	event_free(guard);
	return t->reloads >= want ? 0 : -1;
}

static int
t_wait_reloads(struct t_sig *t, int want)
{
	return t_wait_reloads_ms(t, want, T_WAIT_MS);
}

/*
 * event_base_dispatch with a timer that raises sig once the loop runs.
 * Returns 0 when the loop ended by itself, -1 when the guard broke it.
 */
static int
t_dispatch_raising(struct t_sig *t, int sig)
{
	struct timeval guard_tv = ev_timeval_ms(T_WAIT_MS), raise_tv = ev_timeval_ms(T_RAISE_MS);
	struct event *guard = evtimer_new(t->base, t_on_guard, t);
	struct event *raiser = evtimer_new(t->base, t_on_raise, t);

	assert_non_null(guard);
	assert_non_null(raiser);
	t->raise_sig = sig;
	t->expired = 0;
	assert_int_equal(evtimer_add(guard, &guard_tv), 0);
	assert_int_equal(evtimer_add(raiser, &raise_tv), 0);
	assert_int_equal(event_base_dispatch(t->base), 0);
	event_free(raiser);
	event_free(guard);
	return t->expired ? -1 : 0;
}

static int
t_setup(void **state)
{
	static struct t_sig t;

	memset(&t, 0, sizeof(t));
	t.base = event_base_new();
	if (t.base == NULL)
		return -1;
	log_init("test_sig", LOG_LEVEL_WARN, NULL);
	*state = &t;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_sig *t = *state;

	event_base_free(t->base);
	t->base = NULL;
	return 0;
}

/* The handler installed for sig right now. */
static void (*t_disposition(int sig))(int)
{
	struct sigaction sa;

	assert_int_equal(sigaction(sig, NULL, &sa), 0);
	return sa.sa_handler;
}

static void
test_hup_reloads(void **state)
{
	struct t_sig *t = *state;
	struct sig_handlers *h = sig_setup(t->base, t_on_reload, t_on_stop, t);

	assert_non_null(h);
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(t_wait_reloads(t, 1), 0);
	assert_int_equal(t->reloads, 1);

	/* Once for each SIGHUP, and the loop goes on. */
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(t_wait_reloads(t, 3), 0);
	assert_int_equal(t->reloads, 3);
	assert_int_equal(t->stops, 0);
	assert_int_equal(t->wrong_arg, 0);
	assert_int_equal(event_base_got_exit(t->base), 0);

	sig_free(&h);
	assert_null(h);
	sig_free(&h);	/* NULL is accepted */
}

static void
test_term_stops(void **state)
{
	struct t_sig *t = *state;
	struct sig_handlers *h = sig_setup(t->base, t_on_reload, t_on_stop, t);

	assert_non_null(h);
	/* Raised while the loop runs: on_stop, then dispatch returns. */
	assert_int_equal(t_dispatch_raising(t, SIGTERM), 0);
	assert_int_equal(t->stops, 1);
	assert_int_equal(event_base_got_exit(t->base), 1);
	assert_int_equal(t->reloads, 0);
	assert_int_equal(t->wrong_arg, 0);
	sig_free(&h);
}

static void
test_int_stops(void **state)
{
	struct t_sig *t = *state;
	struct sig_handlers *h = sig_setup(t->base, t_on_reload, t_on_stop, t);

	assert_non_null(h);
	assert_int_equal(t_dispatch_raising(t, SIGINT), 0);
	assert_int_equal(t->stops, 1);
	assert_int_equal(event_base_got_exit(t->base), 1);
	assert_int_equal(t->reloads, 0);

	/* A second run: the handlers are still there. */
	assert_int_equal(t_dispatch_raising(t, SIGTERM), 0);
	assert_int_equal(t->stops, 2);
	sig_free(&h);
}

static void
test_stop_without_on_stop(void **state)
{
	struct t_sig *t = *state;
	struct sig_handlers *h = sig_setup(t->base, t_on_reload, NULL, t);

	assert_non_null(h);
	assert_int_equal(t_dispatch_raising(t, SIGTERM), 0);
	assert_int_equal(event_base_got_exit(t->base), 1);
	assert_int_equal(t->stops, 0);
	assert_int_equal(t_dispatch_raising(t, SIGINT), 0);
	assert_int_equal(event_base_got_exit(t->base), 1);
	sig_free(&h);
}

static void
test_pipe_ignored(void **state)
{
	struct t_sig *t = *state;
	struct sig_handlers *h = sig_setup(t->base, t_on_reload, t_on_stop, t);
	int sv[2];

	assert_non_null(h);
	assert_ptr_equal(t_disposition(SIGPIPE), SIG_IGN);
	/* A peer gone is an ordinary write error, not the end of the process. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(write(sv[0], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	sig_free(&h);
}

static void
test_free_restores(void **state)
{
	struct t_sig *t = *state;
	struct sigaction ign = { .sa_handler = SIG_IGN }, dfl = { .sa_handler = SIG_DFL };
	void (*term_before)(int) = t_disposition(SIGTERM), (*int_before)(int) = t_disposition(SIGINT);
	struct sig_handlers *h;

	/* Ignored before: the handlers take over, and give it back. */
	assert_int_equal(sigaction(SIGHUP, &ign, NULL), 0);
	h = sig_setup(t->base, t_on_reload, t_on_stop, t);
	assert_non_null(h);
	assert_ptr_not_equal(t_disposition(SIGHUP), SIG_IGN);
	assert_ptr_not_equal(t_disposition(SIGTERM), term_before);
	sig_free(&h);
	assert_null(h);
	assert_ptr_equal(t_disposition(SIGHUP), SIG_IGN);
	assert_ptr_equal(t_disposition(SIGTERM), term_before);
	assert_ptr_equal(t_disposition(SIGINT), int_before);

	/* A SIGHUP now reaches no handler of ours (and is ignored). */
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(t_wait_reloads_ms(t, 1, 100), -1);
	assert_int_equal(t->reloads, 0);
	assert_int_equal(sigaction(SIGHUP, &dfl, NULL), 0);

	/* Set up again on the same base: works as the first time. */
	h = sig_setup(t->base, t_on_reload, t_on_stop, t);
	assert_non_null(h);
	assert_int_equal(raise(SIGHUP), 0);
	assert_int_equal(t_wait_reloads(t, 1), 0);
	sig_free(&h);
	assert_ptr_equal(t_disposition(SIGHUP), SIG_DFL);
}

#define T_SIG(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T_SIG(test_hup_reloads),
		T_SIG(test_term_stops),
		T_SIG(test_int_stops),
		T_SIG(test_stop_without_on_stop),
		T_SIG(test_pipe_ignored),
		T_SIG(test_free_restores),
	};
	return cmocka_run_group_tests_name("sig", tests, NULL, NULL);
}
