/*
 * buf: a byte buffer whose capacity is fixed when it is made.
 *
 * Every protocol unit we read has a maximum (an SMTP line, a ClientHello, a
 * PROXY header); the buffer that holds it is created with that maximum and
 * an append that would pass it fails instead of growing.
 */
#ifndef HOMEPORT_BUF_H
#define HOMEPORT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;	/* cap bytes, owned by the buf */
	size_t len;	/* bytes in use, data[0..len) */
	size_t cap;	/* fixed at buf_new() */
};

/*
 * Make a buffer that holds at most cap bytes (cap > 0).
 * Returns the buffer (free with buf_free()), or NULL when out of memory.
 */
struct buf *buf_new(size_t cap);

/* Free *bp if not NULL (wiping its bytes) and set *bp to NULL. */
void buf_free(struct buf **bp);

/*
 * Append len bytes. Returns 0, or -1 (buffer unchanged) when the result
 * would be longer than cap.
 */
int buf_append(struct buf *b, const void *data, size_t len);

/* Bytes still free: cap - len. */
size_t buf_room(const struct buf *b);

/* Drop the first n bytes (larger n empties the buffer); freed bytes are wiped. */
void buf_consume(struct buf *b, size_t n);

/* Empty the buffer, wiping what it held. */
void buf_reset(struct buf *b);

#endif
