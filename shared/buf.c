#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct buf *
buf_new(size_t cap)
{
	struct buf *b;

	if (cap == 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->data = malloc(cap);
	if (b->data == NULL) {
		free(b);
		return NULL;
	}
	b->cap = cap;
	return b;
}

void
buf_free(struct buf **bp)
{
	struct buf *b = *bp;

	if (b == NULL)
		return;
	sodium_memzero(b->data, b->cap);
	free(b->data);
	free(b);
	*bp = NULL;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (len > b->cap - b->len)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

size_t
buf_room(const struct buf *b)
{
	return b->cap - b->len;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	/* The tail the bytes moved out of may have held a secret. */
	sodium_memzero(b->data + b->len, n);
}

void
buf_reset(struct buf *b)
{
	sodium_memzero(b->data, b->len);
	b->len = 0;
}
