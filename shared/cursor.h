/*
 * cursor: a bounds-checked reader over bytes from the network.
 *
 * Every read checks the bytes left first and fails without moving when
 * there are not enough; a length field read from the wire is used only
 * through cursor_sub(), which checks it against what is left. Parsers take
 * a cursor by value or pointer and never do pointer arithmetic themselves.
 */
#ifndef HOMEPORT_CURSOR_H
#define HOMEPORT_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cursor {
	const uint8_t *p;	/* next byte; borrowed, not owned */
	size_t left;		/* bytes from p to the end */
};

static inline struct cursor
cursor_init(const void *data, size_t len)
{
	struct cursor c = { .p = data, .left = len };
	return c;
}

/* Each reader returns 0 and advances, or -1 and leaves the cursor as it was. */

static inline int
cursor_u8(struct cursor *c, uint8_t *v_r)
{
	if (c->left < 1)
		return -1;
	*v_r = c->p[0];
	c->p += 1;
	c->left -= 1;
	return 0;
}

static inline int
cursor_u16be(struct cursor *c, uint16_t *v_r)
{
	if (c->left < 2)
		return -1;
	*v_r = (uint16_t)((uint16_t)c->p[0] << 8 | c->p[1]);
	c->p += 2;
	c->left -= 2;
	return 0;
}

static inline int
cursor_u24be(struct cursor *c, uint32_t *v_r)
{
	if (c->left < 3)
		return -1;
	*v_r = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
	c->p += 3;
	c->left -= 3;
	return 0;
}

static inline int
cursor_u32be(struct cursor *c, uint32_t *v_r)
{
	if (c->left < 4)
		return -1;
	*v_r = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	       (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return 0;
}

static inline int
cursor_u64be(struct cursor *c, uint64_t *v_r)
{
	uint64_t v = 0;

	if (c->left < 8)
		return -1;
	for (int i = 0; i < 8; i++)
		v = v << 8 | c->p[i];
	*v_r = v;
	c->p += 8;
	c->left -= 8;
	return 0;
}

static inline int
cursor_u64le(struct cursor *c, uint64_t *v_r)
{
	uint64_t v = 0;

	if (c->left < 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | c->p[i];
	*v_r = v;
	c->p += 8;
	c->left -= 8;
	return 0;
}

/* Copy n bytes out. */
static inline int
cursor_copy(struct cursor *c, void *out, size_t n)
{
	if (c->left < n)
		return -1;
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

/* Skip n bytes. */
static inline int
cursor_skip(struct cursor *c, size_t n)
{
	if (c->left < n)
		return -1;
	c->p += n;
	c->left -= n;
	return 0;
}

/* Take the next n bytes as a cursor of their own and skip them here. */
static inline int
cursor_sub(struct cursor *c, size_t n, struct cursor *sub_r)
{
	if (c->left < n)
		return -1;
	sub_r->p = c->p;
	sub_r->left = n;
	c->p += n;
	c->left -= n;
	return 0;
}

#endif
