/*
 * Unit tests for shared/worker: jobs run off the loop thread, their done()
 * comes back on it once each, in order; a bounded queue refuses; freeing
 * the pool finishes the job being run and hands back the others unrun.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "worker.h"

#define T_JOBS 50

struct t_job {
	struct worker_job base;
	int id;
	pthread_t ran_on;
	int done_calls;
	int *order;		/* done() writes its id at order[(*next)++] */
	int *next;
	struct event_base *loop;
	int stop_after;		/* loopbreak once this many are done */
};

/* A gate the "slow" jobs wait at until the test opens it. */
static pthread_mutex_t t_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t t_gate_cv = PTHREAD_COND_INITIALIZER;
static int t_gate_open;
static int t_gate_waiting;

static void
t_run(struct worker_job *j)
{
	struct t_job *job = (struct t_job *)j;

	job->ran_on = pthread_self();
}

static void
t_run_gated(struct worker_job *j)
{
	pthread_mutex_lock(&t_gate_mu);
	t_gate_waiting++;
	pthread_cond_broadcast(&t_gate_cv);
	while (!t_gate_open)
		pthread_cond_wait(&t_gate_cv, &t_gate_mu);
	pthread_mutex_unlock(&t_gate_mu);
	t_run(j);
}

static void
t_done(struct worker_job *j)
{
	struct t_job *job = (struct t_job *)j;

	job->done_calls++;
	job->order[(*job->next)++] = job->id;
	if (job->loop != NULL && *job->next == job->stop_after)
		event_base_loopbreak(job->loop);
}

static void
t_gate(int open)
{
	pthread_mutex_lock(&t_gate_mu);
	t_gate_open = open;
	if (!open)
		t_gate_waiting = 0;
	pthread_cond_broadcast(&t_gate_cv);
	pthread_mutex_unlock(&t_gate_mu);
}

/* Wait until a gated job sits at the gate (it was taken from the queue). */
static void
t_gate_wait_for_one(void)
{
	pthread_mutex_lock(&t_gate_mu);
	while (t_gate_waiting == 0)
		pthread_cond_wait(&t_gate_cv, &t_gate_mu);
	pthread_mutex_unlock(&t_gate_mu);
}

static void
test_worker_runs_off_the_loop_and_returns_in_order(void **state)
{
	struct event_base *base = event_base_new();
	struct t_job jobs[T_JOBS];
	int order[T_JOBS], next = 0;
	char err[128];
	struct worker_pool *p;

	(void)state;
	assert_non_null(base);
	p = worker_pool_new(base, 1, 0, err, sizeof(err));
	assert_non_null(p);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < T_JOBS; i++) {
		jobs[i] = (struct t_job){ .base = { .run = t_run, .done = t_done }, .id = i, .order = order,
					  .next = &next, .loop = base, .stop_after = T_JOBS };
		assert_int_equal(worker_pool_submit(p, &jobs[i].base), 0);
	}
	assert_int_equal(worker_pool_pending(p), T_JOBS);
	/* Nothing is delivered before the loop runs. */
	assert_int_equal(next, 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(next, T_JOBS);
	assert_int_equal(worker_pool_pending(p), 0);
	for (int i = 0; i < T_JOBS; i++) {
		assert_int_equal(order[i], i);		/* one thread: in submission order */
		assert_int_equal(jobs[i].done_calls, 1);
		assert_int_equal(jobs[i].base.ran, 1);
		assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
	}
	worker_pool_free(&p);
	assert_null(p);
	worker_pool_free(&p);
	event_base_free(base);
}

static void
test_worker_queue_bound_and_free_with_jobs_left(void **state)
{
	struct event_base *base = event_base_new();
	struct t_job jobs[4], extra;
	int order[8], next = 0;
	char err[128];
	struct worker_pool *p;

	(void)state;
	assert_non_null(base);
	t_gate(0);
	p = worker_pool_new(base, 1, 2, err, sizeof(err));
	assert_non_null(p);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 4; i++)
		jobs[i] = (struct t_job){ .base = { .run = t_run_gated, .done = t_done }, .id = i,
					  .order = order, .next = &next };
	/* The first is taken by the thread and holds it; two more fill the queue. */
	assert_int_equal(worker_pool_submit(p, &jobs[0].base), 0);
	t_gate_wait_for_one();
	assert_int_equal(worker_pool_submit(p, &jobs[1].base), 0);
	assert_int_equal(worker_pool_submit(p, &jobs[2].base), 0);
	extra = jobs[3];
	assert_int_equal(worker_pool_submit(p, &extra.base), -1);
	assert_int_equal(worker_pool_pending(p), 3);
	/* Freeing: the running job finishes (the gate opens meanwhile), the others come back unrun. */
	t_gate(1);
	worker_pool_free(&p);
	assert_int_equal(next, 3);
	assert_int_equal(order[0], 0);
	assert_int_equal(jobs[0].base.ran, 1);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(jobs[i].done_calls, 1);
		/* Unrun, or run if the thread got to it before it saw the stop. */
		assert_true(jobs[i].base.ran == 0 || jobs[i].base.ran == 1);
	}
	assert_int_equal(extra.done_calls, 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_runs_off_the_loop_and_returns_in_order),
		cmocka_unit_test(test_worker_queue_bound_and_free_with_jobs_left),
	};
	return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}
