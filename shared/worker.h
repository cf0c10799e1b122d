/*
 * worker: slow work (a password hash: 0.1 s of CPU and 64 MiB) done on
 * threads of its own, so that the event loop keeps serving every other
 * connection meanwhile. The job's result comes back on the loop.
 *
 * A job is the caller's memory, usually the first member of a larger
 * struct. run() may touch nothing but the job; done() runs on the loop
 * thread, exactly once per submitted job, and may free it. A caller that
 * no longer wants the result (its connection closed) cannot take the job
 * back: it marks it in its own struct, and done() frees it.
 */
#ifndef HOMEPORT_WORKER_H
#define HOMEPORT_WORKER_H

#include <stddef.h>

struct event_base;
struct worker_job;

typedef void (*worker_fn)(struct worker_job *job);

struct worker_job {
	worker_fn run;			/* on a worker thread */
	worker_fn done;			/* on the loop, after run (or without it, see worker_pool_free) */
	int ran;			/* set before done: 1 if run was called */
	struct worker_job *next;	/* the pool's */
};

struct worker_pool;

/*
 * Start threads (at least 1) that run jobs, at most queue_max waiting at
 * once (0: no bound). Returns the pool, or NULL with the reason in err.
 */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned threads, unsigned queue_max,
				    char *err, size_t errcap);

/* Queue job (run and done set). Returns 0, or -1 when queue_max jobs wait already. */
int worker_pool_submit(struct worker_pool *p, struct worker_job *job);

/* Jobs submitted whose done() has not run yet. */
unsigned worker_pool_pending(const struct worker_pool *p);

/*
 * Stop the threads (a job being run is finished first), then call done()
 * of every job not yet done, in order, with ran = 0 for those never run.
 * Accepts NULL; clears *pp.
 */
void worker_pool_free(struct worker_pool **pp);

#endif
