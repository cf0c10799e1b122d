/*
 * smtp_data: the message after DATA, dot-stuffing removed, its end found
 * the one way RFC 5321 4.1.1.4 allows: CRLF "." CRLF.
 *
 * SMTP smuggling (2023) hides a second message behind an end marker that
 * one server takes for the end and the next does not: "\n.\n", "\n.\r\n",
 * "\r.\r", "\r\n.\n", "\r\n.\r". Here nothing but CRLF "." CRLF ends a
 * message, and a bare CR or LF anywhere marks it bad, so a session that
 * refuses bad messages whole lets no look-alike through either way: the
 * bytes after a false end stay in the refused message.
 *
 * A byte-at-a-time state machine: where a call stops does not matter, and
 * every input byte writes at most one output byte. No I/O, no globals.
 */
#include <string.h>

#include "home.h"

enum smtp_data_state {
	SMTP_DATA_S_BOL,	/* at the start of a line: after CRLF, or the DATA line's */
	SMTP_DATA_S_DOT,	/* CRLF "." */
	SMTP_DATA_S_DOT_CR,	/* CRLF "." CR */
	SMTP_DATA_S_TEXT,	/* inside a line */
	SMTP_DATA_S_CR,		/* inside a line, after a CR (already written) */
	SMTP_DATA_S_DONE,	/* after CRLF "." CRLF */
};

void
smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DATA_S_BOL;
}

/* One byte of a line (not its CRLF's LF): flag it, count it, write it. */
static void
smtp_data_text(struct smtp_data *d, uint8_t b, uint8_t *out, size_t *o)
{
	out[(*o)++] = b;
	d->state = SMTP_DATA_S_TEXT;
	switch (b) {
	case '\r':
		/* Whether it is a bare CR, the next byte tells. */
		d->state = SMTP_DATA_S_CR;
		return;
	case '\n':
		d->bare_lf = 1;
		d->line_len = 0;
		return;
	case '\0':
		d->nul = 1;
		break;
	default:
		break;
	}
	/* Counted up to one past the limit, so it cannot wrap. */
	if (d->line_len < SMTP_DATA_LINE_MAX - 1)
		d->line_len++;
	if (d->line_len > SMTP_DATA_LINE_MAX - 2)
		d->too_long = 1;
}

enum smtp_data_status
smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len_r,
	       size_t *used_r)
{
	size_t i = 0, o = 0;

	while (i < len && d->state != SMTP_DATA_S_DONE) {
		uint8_t b = in[i++];

		switch (d->state) {
		case SMTP_DATA_S_BOL:
			if (b == '.')
				d->state = SMTP_DATA_S_DOT;
			else
				smtp_data_text(d, b, out, &o);
			break;
		case SMTP_DATA_S_DOT:
			/* The stuffed dot is dropped: ".." is ".", ".x" is "x" (RFC 5321 4.5.2). */
			if (b == '\r')
				d->state = SMTP_DATA_S_DOT_CR;
			else
				smtp_data_text(d, b, out, &o);
			break;
		case SMTP_DATA_S_DOT_CR:
			if (b == '\n') {
				d->state = SMTP_DATA_S_DONE;
				d->end = 1;
				break;
			}
			/* CRLF "." CR and no LF: a bare CR, dropped with the dot, so out never outgrows in. */
			d->bare_cr = 1;
			smtp_data_text(d, b, out, &o);
			break;
		case SMTP_DATA_S_CR:
			if (b == '\n') {
				out[o++] = b;
				d->line_len = 0;
				d->state = SMTP_DATA_S_BOL;
				break;
			}
			d->bare_cr = 1;
			smtp_data_text(d, b, out, &o);
			break;
		default:
			smtp_data_text(d, b, out, &o);
			break;
		}
	}
	d->size += o;
	*out_len_r = o;
	*used_r = i;
	return d->state == SMTP_DATA_S_DONE ? SMTP_DATA_END : SMTP_DATA_MORE;
}

int
smtp_data_bad(const struct smtp_data *d)
{
	return d->bare_lf || d->bare_cr || d->nul || d->too_long;
}

/* ---- the encoder: stored message to DATA --------------------------------- */

void
smtp_data_stuff_init(struct smtp_data_stuff *s)
{
	s->bol = 1;	/* the DATA command's CRLF ends the line before the message */
	s->cr = 0;
	s->size = 0;
}

size_t
smtp_data_stuff_feed(struct smtp_data_stuff *s, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t b = in[i];
		if (s->bol && b == '.')
			out[o++] = '.';
		out[o++] = b;
		/* A line starts after LF: the store holds CRLF lines only, so after CRLF. */
		s->bol = b == '\n';
		s->cr = b == '\r';
	}
	s->size += len;
	return o;
}

size_t
smtp_data_stuff_end(struct smtp_data_stuff *s, uint8_t out[SMTP_DATA_STUFF_END_MAX])
{
	size_t o = 0;

	if (!s->bol) {
		/* A last line without its line end; a lone CR there becomes CRLF. */
		if (!s->cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	s->bol = 1;
	s->cr = 0;
	return o;
}
