/*
 * mtasts_cache: fetched MTA-STS policies in memory (RFC 8461 5.1), for the
 * queue runner and its delivery threads: one mutex around everything. A
 * fixed table of MTASTS_CACHE_MAX entry pointers, searched linearly (a
 * lookup per delivery attempt, at most 1024 short compares); entries are
 * allocated as domains arrive and reused when the table is full.
 */
#include "mtasts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mtasts_cache_entry {
	char domain[DNSNAME_MAX + 1];	/* lower case */
	char id[MTASTS_ID_MAX + 1];
	int64_t expires;		/* Unix seconds: unusable from then on */
	uint64_t used;			/* the cache's clock when last put or got */
	struct mtasts_policy policy;
};

struct mtasts_cache {
	pthread_mutex_t lock;
	uint64_t clock;			/* ticks at every put and hit: LRU order */
	size_t n;
	struct mtasts_cache_entry *e[MTASTS_CACHE_MAX];
};

struct mtasts_cache *
mtasts_cache_new(void)
{
	struct mtasts_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
mtasts_cache_free(struct mtasts_cache **cp)
{
	struct mtasts_cache *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}

/* Called with the lock held. The entry of domain, or NULL. */
static struct mtasts_cache_entry *
mtasts_cache_find(struct mtasts_cache *c, const char *domain)
{
	size_t n = strnlen(domain, DNSNAME_MAX + 1);

	for (size_t i = 0; i < c->n; i++) {
		if (dnsname_equal(c->e[i]->domain, strlen(c->e[i]->domain), domain, n))
			return c->e[i];
	}
	return NULL;
}

/* Called with the lock held: the live entry of domain (any id when id is NULL), marked used. */
static int
mtasts_cache_lookup(struct mtasts_cache *c, const char *domain, const char *id, int64_t now,
		    struct mtasts_policy *p_r)
{
	struct mtasts_cache_entry *e = mtasts_cache_find(c, domain);

	if (e == NULL || now >= e->expires || (id != NULL && strcmp(e->id, id) != 0))
		return 0;
	e->used = ++c->clock;
	memcpy(p_r, &e->policy, sizeof(*p_r));
	return 1;
}

int
mtasts_cache_get(struct mtasts_cache *c, const char *domain, const char *id, int64_t now,
		 struct mtasts_policy *p_r)
{
	int hit;

	pthread_mutex_lock(&c->lock);
	hit = mtasts_cache_lookup(c, domain, id, now, p_r);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

int
mtasts_cache_get_any(struct mtasts_cache *c, const char *domain, int64_t now, struct mtasts_policy *p_r)
{
	int hit;

	pthread_mutex_lock(&c->lock);
	hit = mtasts_cache_lookup(c, domain, NULL, now, p_r);
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static int
mtasts_cache_id_ok(const char *id)
{
	size_t n = strnlen(id, MTASTS_ID_MAX + 1);

	if (n == 0 || n > MTASTS_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9')))
			return 0;
	}
	return 1;
}

/* Called with the lock held and the table full: an expired entry, else the least recently used. */
static struct mtasts_cache_entry *
mtasts_cache_victim(struct mtasts_cache *c, int64_t now)
{
	struct mtasts_cache_entry *v = c->e[0];

	for (size_t i = 1; i < c->n; i++) {
		struct mtasts_cache_entry *e = c->e[i];
		int e_dead = now >= e->expires, v_dead = now >= v->expires;

		if ((e_dead && !v_dead) || (e_dead == v_dead && e->used < v->used))
			v = e;
	}
	return v;
}

int
mtasts_cache_put(struct mtasts_cache *c, const char *domain, const char *id, int64_t now,
		 const struct mtasts_policy *p)
{
	size_t dlen = strnlen(domain, DNSNAME_MAX + 1);
	struct mtasts_cache_entry *e;
	int ret = -1;

	if (dnsname_check(domain, dlen, 0) != 0 || !mtasts_cache_id_ok(id))
		return -1;
	pthread_mutex_lock(&c->lock);
	e = mtasts_cache_find(c, domain);
	if (e == NULL && c->n < MTASTS_CACHE_MAX) {
		e = malloc(sizeof(*e));
		if (e == NULL)
			goto fail;
		c->e[c->n++] = e;
	} else if (e == NULL) {
		e = mtasts_cache_victim(c, now);
	}
	for (size_t i = 0; i < dlen; i++)
		e->domain[i] = domain[i] >= 'A' && domain[i] <= 'Z' ? (char)(domain[i] + ('a' - 'A')) : domain[i];
	e->domain[dlen] = '\0';
	memcpy(e->id, id, strlen(id) + 1);
	e->expires = now > INT64_MAX - (int64_t)p->max_age ? INT64_MAX : now + (int64_t)p->max_age;
	e->used = ++c->clock;
	memcpy(&e->policy, p, sizeof(*p));
	ret = 0;
fail:
	pthread_mutex_unlock(&c->lock);
	return ret;
}
