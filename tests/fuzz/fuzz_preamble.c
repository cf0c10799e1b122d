/*
 * Fuzz target: preamble_feed(), a whole SMTP or IMAP session up to
 * STARTTLS, run by a caller with an input buffer of PREAMBLE_LINE_MAX that
 * keeps the unconsumed bytes and sends out after each call.
 *
 * Input: byte 0 picks the protocol (bit 0) and how many bytes the caller
 * reads at a time (bits 1-7: 1 to 127, or 127 for everything it has room
 * for); byte 1 the output buffer's capacity (PREAMBLE_REPLY_MAX plus 8 per
 * step) and the refusal sent if the session is still open at the end; the
 * rest is what the client sends.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "../../edge/edge.h"
#include "fuzz.h"

#define FUZZ_PREAMBLE_NAME "mx.example.net"
#define FUZZ_PREAMBLE_WHOLE 127		/* read step meaning: as much as fits */
#define FUZZ_PREAMBLE_REFUSALS 5	/* enum preamble_refusal values */

/* Everything the edge sends is printable ASCII in CRLF-ended lines. */
static void
fuzz_preamble_check_out(const struct buf *out, size_t from)
{
	if (out->len > out->cap || from > out->len)
		__builtin_trap();
	if (out->len == from)
		return;
	if (out->len - from < 2 || out->data[out->len - 2] != '\r' || out->data[out->len - 1] != '\n')
		__builtin_trap();
	for (size_t i = from; i < out->len; i++) {
		uint8_t c = out->data[i];

		if ((c < 0x20 || c > 0x7e) && c != '\r' && c != '\n')
			__builtin_trap();
		if (c == '\r' && (i + 1 == out->len || out->data[i + 1] != '\n'))
			__builtin_trap();
	}
}

/* The session's state stays within its limits; helo is a checked C string. */
static void
fuzz_preamble_check_state(const struct preamble *p)
{
	size_t n = strnlen(p->helo, sizeof(p->helo));

	if (n == sizeof(p->helo) || n > PREAMBLE_EHLO_MAX)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (p->helo[i] < 0x21 || p->helo[i] > 0x7e)
			__builtin_trap();
	}
	if (p->greeted != (n > 0))
		__builtin_trap();
	if (p->commands > PREAMBLE_COMMANDS_MAX || p->errors > PREAMBLE_ERRORS_MAX)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *pending = NULL, *out = NULL;
	enum preamble_status st = PREAMBLE_MORE;
	struct preamble p;
	size_t step, pos = 2, used;

	if (size < 2)
		return 0;
	step = data[0] >> 1;
	step = step == FUZZ_PREAMBLE_WHOLE ? PREAMBLE_LINE_MAX : step + 1;
	pending = buf_new(PREAMBLE_LINE_MAX);
	out = buf_new(PREAMBLE_REPLY_MAX + (size_t)data[1] * 8);
	if (pending == NULL || out == NULL)
		goto fail;
	preamble_init(&p, data[0] & 1 ? EDGE_PREAMBLE_IMAP : EDGE_PREAMBLE_SMTP, FUZZ_PREAMBLE_NAME);
	if (preamble_greeting(&p, out) != 0)
		__builtin_trap();
	fuzz_preamble_check_out(out, 0);
	buf_reset(out);

	while (st == PREAMBLE_MORE) {
		size_t n = size - pos;

		if (n > step)
			n = step;
		if (n > buf_room(pending))
			n = buf_room(pending);
		/* A full input buffer is an overlong line and was refused. */
		if (n == 0 && pos < size)
			__builtin_trap();
		if (buf_append(pending, data + pos, n) != 0)
			__builtin_trap();
		pos += n;
		/* Call again while lines are taken: out may have been too full for all. */
		do {
			size_t len = pending->len;

			st = preamble_feed(&p, pending->data, len, &used, out);
			if (st != PREAMBLE_MORE && st != PREAMBLE_STARTTLS && st != PREAMBLE_CLOSE)
				__builtin_trap();
			if (used > len)
				__builtin_trap();
			/* Nothing taken from a drained out: an incomplete line under the cap. */
			if (st == PREAMBLE_MORE && used == 0 &&
			    (out->len != 0 || len >= PREAMBLE_LINE_MAX ||
			     (len > 0 && memchr(pending->data, '\n', len) != NULL)))
				__builtin_trap();
			/* STARTTLS only when nothing follows it. */
			if (st == PREAMBLE_STARTTLS && used != len)
				__builtin_trap();
			fuzz_preamble_check_out(out, 0);
			fuzz_preamble_check_state(&p);
			buf_reset(out);
			buf_consume(pending, used);
		} while (st == PREAMBLE_MORE && used > 0);
		if (pos == size)
			break;
	}
	/* Still talking at the end: the caller times the client out. */
	if (st == PREAMBLE_MORE) {
		if (preamble_refuse(&p, (enum preamble_refusal)(data[1] % FUZZ_PREAMBLE_REFUSALS), out) != 0)
			__builtin_trap();
		fuzz_preamble_check_out(out, 0);
	}

fail:
	buf_free(&out);
	buf_free(&pending);
	return 0;
}
