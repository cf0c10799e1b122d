/*
 * worker: a queue of jobs under one mutex, threads that take from it, and
 * a pipe that wakes the loop when a job is finished. Finished jobs wait in
 * a second list until the loop's callback takes them all at once.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

#define WORKER_THREADS_MAX 16

struct worker_list {
	struct worker_job *head, *tail;
	unsigned n;
};

struct worker_pool {
	pthread_mutex_t mu;
	pthread_cond_t wake;		/* a job was queued, or stop */
	struct worker_list todo;	/* under mu */
	struct worker_list finished;	/* under mu */
	int stop;			/* under mu */
	unsigned queue_max;
	unsigned pending;		/* submitted, done() not yet called; loop thread only */
	pthread_t threads[WORKER_THREADS_MAX];
	unsigned nthreads;
	int pipe_r, pipe_w;		/* a byte per wake-up, non-blocking both ends */
	struct event *ev;
};

static void
worker_list_push(struct worker_list *l, struct worker_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	l->n++;
}

static struct worker_job *
worker_list_pop(struct worker_list *l)
{
	struct worker_job *job = l->head;

	if (job != NULL) {
		l->head = job->next;
		if (l->head == NULL)
			l->tail = NULL;
		l->n--;
		job->next = NULL;
	}
	return job;
}

static void *
worker_main(void *arg)
{
	struct worker_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct worker_job *job;
		char one = 1;

		while (!p->stop && p->todo.head == NULL)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		job = worker_list_pop(&p->todo);
		pthread_mutex_unlock(&p->mu);
		job->run(job);
		job->ran = 1;
		pthread_mutex_lock(&p->mu);
		worker_list_push(&p->finished, job);
		/* Full pipe: the loop has wake-ups enough to come and take it. */
		if (write(p->pipe_w, &one, 1) < 0 && errno != EAGAIN)
			log_error(NULL, "worker", "error=\"cannot wake the loop: %s\"", strerror(errno));
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Call done() of every finished job, in order. */
static void
worker_deliver(struct worker_pool *p)
{
	struct worker_list ready;
	struct worker_job *job;

	pthread_mutex_lock(&p->mu);
	ready = p->finished;
	memset(&p->finished, 0, sizeof(p->finished));
	pthread_mutex_unlock(&p->mu);
	while ((job = worker_list_pop(&ready)) != NULL) {
		p->pending--;
		job->done(job);
	}
}

static void
worker_on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	worker_deliver(arg);
}

struct worker_pool *
worker_pool_new(struct event_base *base, unsigned threads, unsigned queue_max, char *err, size_t errcap)
{
	struct worker_pool *p = calloc(1, sizeof(*p));
	int fds[2] = { -1, -1 };

	if (p == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	p->pipe_r = p->pipe_w = -1;
	p->queue_max = queue_max;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errcap, "cannot make the workers' pipe: %s", strerror(errno));
		goto fail;
	}
	p->pipe_r = fds[0];
	p->pipe_w = fds[1];
	p->ev = event_new(base, p->pipe_r, EV_READ | EV_PERSIST, worker_on_wake, p);
	if (p->ev == NULL || event_add(p->ev, NULL) != 0) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	if (threads == 0)
		threads = 1;
	if (threads > WORKER_THREADS_MAX)
		threads = WORKER_THREADS_MAX;
	for (; p->nthreads < threads; p->nthreads++) {
		int rc = pthread_create(&p->threads[p->nthreads], NULL, worker_main, p);

		if (rc != 0) {
			snprintf(err, errcap, "cannot start a worker thread: %s", strerror(rc));
			goto fail;
		}
	}
	return p;
fail:
	worker_pool_free(&p);
	return NULL;
}

int
worker_pool_submit(struct worker_pool *p, struct worker_job *job)
{
	pthread_mutex_lock(&p->mu);
	if (p->queue_max != 0 && p->todo.n >= p->queue_max) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	job->ran = 0;
	worker_list_push(&p->todo, job);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);
	p->pending++;
	return 0;
}

unsigned
worker_pool_pending(const struct worker_pool *p)
{
	return p->pending;
}

void
worker_pool_free(struct worker_pool **pp)
{
	struct worker_pool *p = *pp;
	struct worker_job *job;

	if (p == NULL)
		return;
	*pp = NULL;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	worker_deliver(p);
	while ((job = worker_list_pop(&p->todo)) != NULL) {
		job->ran = 0;
		job->done(job);
	}
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->pipe_r >= 0) {
		close(p->pipe_r);
		close(p->pipe_w);
	}
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
