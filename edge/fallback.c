/*
 * fallback: a small memory of the sources whose TLS the edge had to cut
 * after answering STARTTLS, so their plaintext retry gets a 421 (see
 * edge.h). Open addressing without probing: each source has one slot,
 * chosen by a seeded hash, so memory is fixed and lookups are O(1).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "edge.h"

#define FALLBACK_KEY_LEN 9	/* family byte, then the IPv4 address or the IPv6 /64 */

struct fallback_slot {
	uint8_t key[FALLBACK_KEY_LEN];
	int64_t when;		/* monotonic ms; 0 = empty */
};

struct fallback {
	uint32_t seed;
	struct fallback_slot slots[FALLBACK_SLOTS];
};

struct fallback *
fallback_new(void)
{
	struct fallback *f = calloc(1, sizeof(*f));

	if (f != NULL && getrandom(&f->seed, sizeof(f->seed), 0) != sizeof(f->seed))
		f->seed = (uint32_t)(uintptr_t)f;
	return f;
}

void
fallback_free(struct fallback **fp)
{
	free(*fp);
	*fp = NULL;
}

static struct fallback_slot *
fallback_slot(const struct fallback *f, const struct addr *src, uint8_t key[FALLBACK_KEY_LEN])
{
	uint8_t ip[16];
	size_t n = addr_ip_bytes(src, ip);
	uint32_t h = 2166136261u ^ f->seed;

	memset(key, 0, FALLBACK_KEY_LEN);
	key[0] = n == 4 ? 4 : 6;
	memcpy(key + 1, ip, n == 4 ? 4 : 8);
	for (size_t i = 0; i < FALLBACK_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return (struct fallback_slot *)&f->slots[h % FALLBACK_SLOTS];
}

void
fallback_note(struct fallback *f, const struct addr *src, int64_t now_ms)
{
	uint8_t key[FALLBACK_KEY_LEN];
	struct fallback_slot *s = fallback_slot(f, src, key);

	memcpy(s->key, key, sizeof(key));
	s->when = now_ms > 0 ? now_ms : 1;
}

int
fallback_recent(const struct fallback *f, const struct addr *src, int64_t now_ms)
{
	uint8_t key[FALLBACK_KEY_LEN];
	const struct fallback_slot *s = fallback_slot(f, src, key);

	return s->when != 0 && memcmp(s->key, key, sizeof(key)) == 0 &&
	       now_ms - s->when <= FALLBACK_WINDOW_MS;
}
