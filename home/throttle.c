/*
 * throttle: failed logins, counted per key (a source address, an
 * account), answered with a growing delay and, past a number of failures
 * in a window, a lockout.
 *
 * A bounded table: at most max_entries keys in hash chains, and a list in
 * the order of their last failure so that the oldest can make room. Time
 * comes from the caller; nothing here reads a clock or writes a log, so
 * the tests drive it through hours in microseconds.
 */
#include <stdlib.h>
#include <string.h>

#include "home.h"

struct throttle_entry {
	struct throttle_entry *hnext;		/* in its bucket */
	struct throttle_entry *older, *newer;	/* by last failure */
	unsigned failures;			/* within the window */
	int64_t first;				/* the window's first failure */
	int64_t last;				/* the latest failure */
	int64_t locked_until;			/* 0: not locked */
	char key[THROTTLE_KEY_MAX];
};

struct throttle {
	struct throttle_conf conf;
	size_t max, count;
	struct throttle_entry *oldest, *newest;
	struct throttle_entry *buckets[THROTTLE_BUCKETS];
};

static size_t
throttle_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h % THROTTLE_BUCKETS;
}

/* key as stored: cut to THROTTLE_KEY_MAX - 1 bytes. */
static void
throttle_key(const char *key, char out[THROTTLE_KEY_MAX])
{
	size_t n = strnlen(key, THROTTLE_KEY_MAX - 1);

	memcpy(out, key, n);
	out[n] = '\0';
}

static struct throttle_entry *
throttle_find(const struct throttle *t, const char *key)
{
	struct throttle_entry *e = t->buckets[throttle_hash(key)];

	while (e != NULL && strcmp(e->key, key) != 0)
		e = e->hnext;
	return e;
}

static void
throttle_unlink(struct throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **pp = &t->buckets[throttle_hash(e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	t->count--;
}

/* Put e at the newest end of the list. */
static void
throttle_touch(struct throttle *t, struct throttle_entry *e)
{
	if (t->newest == e)
		return;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	e->older = t->newest;
	e->newer = NULL;
	t->newest->newer = e;
	t->newest = e;
}

/* A key whose window has passed and which is not locked counts for nothing. */
static int
throttle_expired(const struct throttle *t, const struct throttle_entry *e, int64_t now)
{
	return e->locked_until <= now && now - e->first >= t->conf.lockout_ms;
}

struct throttle *
throttle_new(const struct throttle_conf *conf, size_t max_entries)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->conf = *conf;
	t->max = max_entries == 0 || max_entries > THROTTLE_ENTRIES_MAX ? THROTTLE_ENTRIES_MAX
									: max_entries;
	return t;
}

void
throttle_set_conf(struct throttle *t, const struct throttle_conf *conf)
{
	t->conf = *conf;
}

int64_t
throttle_check(struct throttle *t, const char *key, int64_t now_ms)
{
	char k[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	throttle_key(key, k);
	e = throttle_find(t, k);
	if (e == NULL || e->locked_until <= now_ms)
		return 0;
	return e->locked_until - now_ms;
}

void
throttle_fail(struct throttle *t, const char *key, int64_t now_ms, struct throttle_verdict *v_r)
{
	char k[THROTTLE_KEY_MAX];
	struct throttle_entry *e;
	int64_t delay;

	memset(v_r, 0, sizeof(*v_r));
	throttle_key(key, k);
	e = throttle_find(t, k);
	if (e != NULL && throttle_expired(t, e, now_ms)) {
		e->failures = 0;
		e->locked_until = 0;
	}
	if (e == NULL) {
		if (t->count >= t->max) {
			e = t->oldest;
			throttle_unlink(t, e);
		} else {
			e = malloc(sizeof(*e));
		}
		if (e != NULL) {
			memset(e, 0, sizeof(*e));
			memcpy(e->key, k, sizeof(k));
			e->hnext = t->buckets[throttle_hash(k)];
			t->buckets[throttle_hash(k)] = e;
			e->older = t->newest;
			if (t->newest != NULL)
				t->newest->newer = e;
			else
				t->oldest = e;
			t->newest = e;
			t->count++;
		}
	}
	if (e == NULL) {
		v_r->failures = 1;
		v_r->delay_ms = t->conf.delay_ms;
		return;
	}
	if (e->failures == 0)
		e->first = now_ms;
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last = now_ms;
	throttle_touch(t, e);
	/* delay_ms << (failures - 1), without overflowing on the way to the cap. */
	delay = t->conf.delay_ms;
	for (unsigned i = 1; i < e->failures && delay < t->conf.delay_max_ms; i++)
		delay *= 2;
	if (delay > t->conf.delay_max_ms)
		delay = t->conf.delay_max_ms;
	v_r->failures = e->failures;
	v_r->delay_ms = delay;
	if (t->conf.lockout_failures > 0 && e->failures >= t->conf.lockout_failures &&
	    e->locked_until <= now_ms) {
		e->locked_until = now_ms + t->conf.lockout_ms;
		/* The lock's own window: once it runs out the key starts afresh. */
		e->first = now_ms;
		v_r->locked = 1;
	}
	if (e->locked_until > now_ms)
		v_r->locked_ms = e->locked_until - now_ms;
}

void
throttle_success(struct throttle *t, const char *key, int64_t now_ms)
{
	char k[THROTTLE_KEY_MAX];
	struct throttle_entry *e;

	throttle_key(key, k);
	e = throttle_find(t, k);
	if (e == NULL || e->locked_until > now_ms)
		return;
	throttle_unlink(t, e);
	free(e);
}

size_t
throttle_count(const struct throttle *t)
{
	return t->count;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;

	if (t == NULL)
		return;
	while (t->oldest != NULL) {
		struct throttle_entry *e = t->oldest;

		t->oldest = e->newer;
		free(e);
	}
	free(t);
	*tp = NULL;
}
