/*
 * smtp_reply: one SMTP reply as a client receives it (smtp_reply.h).
 *
 * Two passes over the bytes: the first frames the reply line by line and
 * refuses it at the first byte that shows it malformed; only when the
 * reply is complete does the second fill the result (text, enhanced
 * status, EHLO keywords), over lines already known to be well formed.
 */
#include "smtp_reply.h"

#include <string.h>

#include "cursor.h"

#define SMTP_REPLY_CODE_LEN 3
#define SMTP_REPLY_SIZE_DIGITS_MAX 20	/* UINT64_MAX has 20 digits (RFC 1870 size-value) */
#define SMTP_REPLY_STATUS_PART_MAX 3	/* digits of an RFC 3463 subject or detail */
#define SMTP_REPLY_CUT "..."

/* One framed line. */
struct smtp_reply_line {
	struct cursor text;	/* after the code and its separator, without the line end */
	int more;		/* the separator was '-': another line follows */
};

/* An EHLO keyword and its bit. */
struct smtp_reply_ext {
	const char *word;	/* upper case */
	unsigned bit;		/* enum smtp_ext */
};

static const struct smtp_reply_ext smtp_reply_exts[] = {
	{ "STARTTLS", SMTP_EXT_STARTTLS },
	{ "PIPELINING", SMTP_EXT_PIPELINING },
	{ "SIZE", SMTP_EXT_SIZE },
	{ "8BITMIME", SMTP_EXT_8BITMIME },
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	{ "CHUNKING", SMTP_EXT_CHUNKING },
	{ "DSN", SMTP_EXT_DSN },
};

static int
smtp_reply_is_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

/* Whether b may be the code's digit number i (0, 1, 2): 2..5, 0..5, 0..9. */
static int
smtp_reply_code_digit(size_t i, uint8_t b)
{
	static const uint8_t high[SMTP_REPLY_CODE_LEN] = { '5', '5', '9' };
	static const uint8_t low[SMTP_REPLY_CODE_LEN] = { '2', '0', '0' };

	return b >= low[i] && b <= high[i];
}

/*
 * Frame the line at the start of *c, the nth of its reply (0 for the
 * first); code is the first line's three digits, or NULL when this is the
 * first. Returns 1 with *l_r set and *c advanced past the line, 0 when the
 * line needs more bytes, -1 with *err_r. The checks go in the order of the
 * bytes they look at, so that an error is found as soon as its byte is in.
 */
static int
smtp_reply_line(struct cursor *c, const uint8_t *code, unsigned nth, struct smtp_reply_line *l_r,
		const char **err_r)
{
	struct cursor line = *c, head = *c;
	size_t window, line_len, text_start, text_end;
	const uint8_t *lf;
	uint8_t b, sep;
	const char *err;

	for (size_t i = 0; i < SMTP_REPLY_CODE_LEN; i++) {
		if (cursor_u8(&head, &b) != 0)
			return 0;
		if (!smtp_reply_code_digit(i, b)) {
			err = "bad reply code";
			goto fail;
		}
		if (code != NULL && b != code[i]) {
			err = "reply code differs between lines";
			goto fail;
		}
	}
	if (cursor_u8(&head, &sep) != 0)
		return 0;
	l_r->more = 0;
	switch (sep) {
	case ' ':
	case '\n':
		break;
	case '-':
		if (nth + 1 >= SMTP_REPLY_LINES_MAX) {
			err = "too many reply lines";
			goto fail;
		}
		l_r->more = 1;
		break;
	case '\r':
		if (cursor_u8(&head, &b) != 0)
			return 0;
		if (b != '\n') {
			err = "bad separator after reply code";
			goto fail;
		}
		break;
	default:
		err = "bad separator after reply code";
		goto fail;
	}

	/* The LF, looked for from the separator on and only within the line's maximum. */
	window = c->left < SMTP_REPLY_LINE_MAX ? c->left : SMTP_REPLY_LINE_MAX;
	lf = memchr(c->p + SMTP_REPLY_CODE_LEN, '\n', window - SMTP_REPLY_CODE_LEN);
	if (lf == NULL) {
		if (c->left >= SMTP_REPLY_LINE_MAX) {
			err = "reply line too long";
			goto fail;
		}
		return 0;
	}
	line_len = (size_t)(lf - c->p) + 1;
	/* The text: from after the separator up to the LF, or to a CR just before it. */
	text_end = line_len - 1;
	if (text_end > SMTP_REPLY_CODE_LEN && c->p[text_end - 1] == '\r')
		text_end--;
	text_start = SMTP_REPLY_CODE_LEN + 1;
	if (text_end < text_start)
		text_end = text_start = SMTP_REPLY_CODE_LEN;	/* "DDD" CRLF: no text */
	(void)cursor_skip(&line, text_start);
	(void)cursor_sub(&line, text_end - text_start, &l_r->text);
	(void)cursor_skip(c, line_len);
	return 1;
fail:
	*err_r = err;
	return -1;
}

/* ---- the result ---- */

/* Text built into a fixed buffer; what does not fit is counted as cut. */
struct smtp_reply_text {
	char *out;		/* SMTP_REPLY_TEXT_MAX bytes */
	size_t n;
	int cut;
};

static void
smtp_reply_text_put(struct smtp_reply_text *t, uint8_t b)
{
	if (t->n >= SMTP_REPLY_TEXT_MAX - 1) {
		t->cut = 1;
		return;
	}
	t->out[t->n++] = b >= 0x20 && b <= 0x7e ? (char)b : '?';
}

static void
smtp_reply_text_span(struct smtp_reply_text *t, struct cursor span)
{
	uint8_t b;

	while (!t->cut && cursor_u8(&span, &b) == 0)
		smtp_reply_text_put(t, b);
}

static void
smtp_reply_text_end(struct smtp_reply_text *t)
{
	size_t cut_len = sizeof(SMTP_REPLY_CUT) - 1;

	if (t->cut)
		memcpy(t->out + t->n - cut_len, SMTP_REPLY_CUT, cut_len);
	t->out[t->n] = '\0';
}

/* Take 1 to max digits of *c into out[*n..]. Returns 0, or -1 when there are none or more. */
static int
smtp_reply_status_part(struct cursor *c, char *out, size_t *n)
{
	size_t digits = 0;

	while (c->left > 0 && smtp_reply_is_digit(c->p[0])) {
		if (++digits > SMTP_REPLY_STATUS_PART_MAX)
			return -1;
		out[(*n)++] = (char)c->p[0];
		(void)cursor_skip(c, 1);
	}
	return digits > 0 ? 0 : -1;
}

/* Take byte b from *c into out[*n]. Returns 0, or -1 when the next byte is not b. */
static int
smtp_reply_status_byte(struct cursor *c, uint8_t b, char *out, size_t *n)
{
	if (c->left == 0 || c->p[0] != b)
		return -1;
	out[(*n)++] = (char)b;
	(void)cursor_skip(c, 1);
	return 0;
}

/*
 * The enhanced status code at the start of text into status_r, if there
 * is one of class klass (the code's first digit); else status_r is "".
 */
static void
smtp_reply_status(struct cursor text, uint8_t klass, char status_r[SMTP_REPLY_STATUS_MAX])
{
	char s[SMTP_REPLY_STATUS_MAX];
	size_t n = 0;

	status_r[0] = '\0';
	if (klass != '2' && klass != '4' && klass != '5')
		return;
	/* At most "D.DDD.DDD": 9 bytes, which fit. */
	if (smtp_reply_status_byte(&text, klass, s, &n) != 0 ||
	    smtp_reply_status_byte(&text, '.', s, &n) != 0 ||
	    smtp_reply_status_part(&text, s, &n) != 0 ||
	    smtp_reply_status_byte(&text, '.', s, &n) != 0 ||
	    smtp_reply_status_part(&text, s, &n) != 0)
		return;
	if (text.left > 0 && text.p[0] != ' ')
		return;
	s[n] = '\0';
	memcpy(status_r, s, n + 1);
}

/* The next SP-delimited word of *c, after any SPs; *c is left after it. */
static struct cursor
smtp_reply_word(struct cursor *c)
{
	struct cursor w;
	size_t n = 0;

	while (c->left > 0 && c->p[0] == ' ')
		(void)cursor_skip(c, 1);
	while (n < c->left && c->p[n] != ' ')
		n++;
	(void)cursor_sub(c, n, &w);
	return w;
}

/* 1 if w equals word (upper case) without regard to ASCII case. */
static int
smtp_reply_word_is(struct cursor w, const char *word)
{
	size_t n = strlen(word);

	if (w.left != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = w.p[i];

		if (b >= 'a' && b <= 'z')
			b = (uint8_t)(b - ('a' - 'A'));
		if (b != (uint8_t)word[i])
			return 0;
	}
	return 1;
}

/* SIZE's number: 1 to 20 digits that fit in 64 bits. Returns 0, or -1 (*v_r unchanged). */
static int
smtp_reply_size(struct cursor w, uint64_t *v_r)
{
	uint64_t v = 0;
	uint8_t b;

	if (w.left == 0 || w.left > SMTP_REPLY_SIZE_DIGITS_MAX)
		return -1;
	while (cursor_u8(&w, &b) == 0) {
		if (!smtp_reply_is_digit(b))
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(b - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(b - '0');
	}
	*v_r = v;
	return 0;
}

/* One line after the first, as an EHLO keyword and its parameters. */
static void
smtp_reply_keyword(struct cursor text, struct smtp_reply_parsed *r)
{
	struct cursor word = smtp_reply_word(&text);

	for (size_t i = 0; i < sizeof(smtp_reply_exts) / sizeof(smtp_reply_exts[0]); i++) {
		if (!smtp_reply_word_is(word, smtp_reply_exts[i].word))
			continue;
		r->ext |= smtp_reply_exts[i].bit;
		if (smtp_reply_exts[i].bit == SMTP_EXT_SIZE) {
			r->size_max = 0;
			(void)smtp_reply_size(smtp_reply_word(&text), &r->size_max);
		}
		return;
	}
}

/* Fill *r from the complete, well-formed reply at in[0..len). */
static void
smtp_reply_fill(const uint8_t *in, size_t len, struct smtp_reply_parsed *r)
{
	struct cursor c = cursor_init(in, len);
	struct smtp_reply_text t = { .out = r->text };
	struct smtp_reply_line l;
	const char *err;

	r->code = (in[0] - '0') * 100 + (in[1] - '0') * 10 + (in[2] - '0');
	for (size_t i = 0; i < SMTP_REPLY_CODE_LEN; i++)
		smtp_reply_text_put(&t, in[i]);
	do {
		if (smtp_reply_line(&c, r->nlines == 0 ? NULL : in, r->nlines, &l, &err) != 1)
			break;	/* cannot happen: the reply was framed already */
		if (r->nlines == 0)
			smtp_reply_status(l.text, in[0], r->status);
		else
			smtp_reply_keyword(l.text, r);
		if (l.text.left > 0) {
			smtp_reply_text_put(&t, ' ');
			smtp_reply_text_span(&t, l.text);
		}
		r->nlines++;
	} while (l.more);
	smtp_reply_text_end(&t);
}

int
smtp_reply_parse(const uint8_t *in, size_t len, struct smtp_reply_parsed *r_r, const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	struct smtp_reply_line l;
	unsigned nth = 0;
	int rc;

	memset(r_r, 0, sizeof(*r_r));
	do {
		rc = smtp_reply_line(&c, nth == 0 ? NULL : in, nth, &l, err_r);
		if (rc != 1)
			return rc;
		nth++;
	} while (l.more);
	smtp_reply_fill(in, len - c.left, r_r);
	return (int)(len - c.left);
}
