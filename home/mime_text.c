/*
 * mime_text: the text of a message as IMAP SEARCH matches it, for the
 * store's full-text index.
 *
 * From the MIME table (mime.c) and the message's bytes, read through the
 * caller's reader:
 * - Subject, From, To, Cc, Bcc: the root message's first such field,
 *   unfolded, RFC 2047 words decoded (mime_word.c);
 * - the header: the root message's header block, one unfolded field per
 *   line, encoded words decoded;
 * - the body: every leaf of type text in document order (a part without a
 *   Content-Type is text/plain), base64 and quoted-printable undone, its
 *   charset converted to UTF-8, and the header of every message inside a
 *   message/rfc822 part (as for the root's header); a newline between
 *   pieces. Other parts (images, applications, multipart preambles and
 *   epilogues) are skipped unread. HTML stays as it is.
 *
 * Every output is valid UTF-8 without NUL (a NUL becomes a space) or CR
 * (dropped), capped at a character boundary (MIME_TEXT_*_MAX). Text is
 * converted in windows of MIME_TEXT_WINDOW bytes cut after the last LF
 * (a byte no ASCII-compatible charset uses inside a character), so a
 * converter sees whole lines. Memory: the windows, a scratch buffer and
 * the outputs, whatever the message's size. Nothing in a message is an
 * error.
 *
 * No I/O (the reader is the caller's), no globals, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include "mime.h"

#define MIME_TEXT_WINDOW (16 * 1024)	/* decoded bytes converted at a time */
#define MIME_TEXT_READ (16 * 1024)	/* message bytes read at a time */
#define MIME_TEXT_LINE_MAX (8 * 1024)	/* bytes of an unfolded field decoded at a time */
#define MIME_TEXT_SCRATCH (4 * MIME_TEXT_WINDOW) /* UTF-8 of one window: 4 bytes per byte at most */
#define MIME_TEXT_CHARSET_MAX 64	/* bytes of a charset name */
#define MIME_TEXT_OUT_MIN 256		/* first allocation of an output */

struct mime_text_ctx {
	const struct mime *m;
	mime_text_read_fn *read;
	void *read_ctx;
	mime_word_charset_fn *conv;
	void *conv_ctx;
	struct mime_text *t;
	int full[MIME_TEXT_FIELDS];	/* the output reached its cap */
	struct buf *scratch;		/* one conversion's UTF-8 */

	/* the part being decoded */
	int out;			/* enum mime_text_field it goes to */
	struct mime_decoder dec;	/* its transfer encoding undone */
	int wide;			/* UTF-16/32: cut windows at multiples of 4 only */
	char charset[MIME_TEXT_CHARSET_MAX + 1];
	size_t wlen;			/* bytes in win */

	/* a header being unfolded */
	size_t llen;			/* bytes in line */
	int eol;			/* a line end was seen and not yet placed */

	uint8_t rbuf[MIME_TEXT_READ];
	uint8_t dbuf[MIME_TEXT_READ + 2]; /* one read's decoded bytes: at most 2 more than read */
	uint8_t win[MIME_TEXT_WINDOW];
	uint8_t line[MIME_TEXT_LINE_MAX];
};

static const size_t mime_text_caps[MIME_TEXT_FIELDS] = {
	[MIME_TEXT_SUBJECT] = MIME_TEXT_FIELD_MAX,
	[MIME_TEXT_FROM] = MIME_TEXT_FIELD_MAX,
	[MIME_TEXT_TO] = MIME_TEXT_FIELD_MAX,
	[MIME_TEXT_CC] = MIME_TEXT_FIELD_MAX,
	[MIME_TEXT_BCC] = MIME_TEXT_FIELD_MAX,
	[MIME_TEXT_HEADER] = MIME_TEXT_HEADER_MAX,
	[MIME_TEXT_BODY] = MIME_TEXT_BODY_MAX,
};

void
mime_text_free(struct mime_text **tp)
{
	struct mime_text *t;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	for (int f = 0; f < MIME_TEXT_FIELDS; f++)
		free(t->text[f]);
	free(t);
	*tp = NULL;
}

/* Make room for n more bytes and the NUL in output f (n within its cap). */
static int
mime_text_room(struct mime_text *t, int f, size_t n)
{
	size_t need = t->len[f] + n + 1, cap = t->alloc[f];
	char *p;

	if (need <= cap)
		return 0;
	while (cap < need)
		cap = cap < MIME_TEXT_OUT_MIN ? MIME_TEXT_OUT_MIN : cap * 2;
	if (cap > mime_text_caps[f] + 1)
		cap = mime_text_caps[f] + 1;
	p = realloc(t->text[f], cap);
	if (p == NULL)
		return -1;
	t->text[f] = p;
	t->alloc[f] = cap;
	return 0;
}

/*
 * Append valid UTF-8 s[0..n) to output f: CR dropped, NUL made a space;
 * past the cap, cut before the character that does not fit and mark the
 * output full. Returns 0, or -1 when out of memory.
 */
static int
mime_text_put(struct mime_text_ctx *c, int f, const uint8_t *s, size_t n)
{
	struct mime_text *t = c->t;
	size_t room = mime_text_caps[f] - t->len[f], i;
	char *base, *o, *end;

	if (c->full[f])
		return 0;
	if (mime_text_room(t, f, n < room ? n : room) != 0)
		return -1;
	base = o = t->text[f] + t->len[f];
	end = base + room;
	for (i = 0; i < n; i++) {
		if (s[i] == '\r')
			continue;
		if (o == end)
			break;
		*o++ = s[i] == '\0' ? ' ' : (char)s[i];
	}
	if (i < n) {
		/* s[i] did not fit: take back the start of its character, if it is inside one. */
		if ((s[i] & 0xc0) == 0x80) {
			while (o > base && ((uint8_t)o[-1] & 0xc0) == 0x80)
				o--;
			if (o > base)
				o--;
		}
		c->full[f] = 1;
		t->flags |= MIME_TEXT_F_CUT;
	}
	*o = '\0';
	t->len[f] = (size_t)(o - t->text[f]);
	return 0;
}

/* A newline between two pieces of output f (none at its start). */
static int
mime_text_sep(struct mime_text_ctx *c, int f)
{
	if (c->t->len[f] == 0 || c->t->text[f][c->t->len[f] - 1] == '\n')
		return 0;
	return mime_text_put(c, f, (const uint8_t *)"\n", 1);
}

/* ---- header fields ---- */

/* Decode the encoded words of line[0..llen) into output f. */
static int
mime_text_line_flush(struct mime_text_ctx *c, int f)
{
	int rc;

	if (c->llen == 0)
		return 0;
	c->scratch->len = 0;
	rc = mime_word_decode(c->line, c->llen, c->scratch, c->conv, c->conv_ctx);
	c->llen = 0;
	if (rc != 0)
		return 0;	/* more than the scratch holds (a converter that grows 4-fold): dropped */
	return mime_text_put(c, f, c->scratch->data, c->scratch->len);
}

/* The field being unfolded ended: decode it and end its line. */
static int
mime_text_field_end(struct mime_text_ctx *c, int f)
{
	int had = c->llen > 0;

	if (mime_text_line_flush(c, f) != 0)
		return -1;
	return had ? mime_text_put(c, f, (const uint8_t *)"\n", 1) : 0;
}

/*
 * Header bytes s[0..n) into output f, unfolding as they come: a line
 * end followed by a blank continues the field, any other ends it. CRs
 * are dropped. A field longer than MIME_TEXT_LINE_MAX is decoded in
 * pieces (an encoded word cut there stays as written).
 */
static int
mime_text_header_bytes(struct mime_text_ctx *c, int f, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = s[i];

		if (b == '\r')
			continue;
		if (b == '\n') {
			if (c->eol && mime_text_field_end(c, f) != 0)
				return -1;
			c->eol = 1;
			continue;
		}
		if (c->eol) {
			c->eol = 0;
			if (b != ' ' && b != '\t' && mime_text_field_end(c, f) != 0)
				return -1;
		}
		if (c->llen == sizeof(c->line) && mime_text_line_flush(c, f) != 0)
			return -1;
		c->line[c->llen++] = b;
	}
	return 0;
}

/* ---- body decoding ---- */

/* Convert win[0..n) from the part's charset into its output; keep the rest. */
static int
mime_text_convert(struct mime_text_ctx *c, size_t n)
{
	int rc;

	c->scratch->len = 0;
	rc = mime_word_decode_charset(c->charset, c->win, n, c->scratch, c->conv, c->conv_ctx);
	if (rc != 0) {
		/* Nobody knows the charset (or it grew past 4 bytes a byte): UTF-8 where valid. */
		c->scratch->len = 0;
		if (mime_word_decode_charset("utf-8", c->win, n, c->scratch, NULL, NULL) != 0)
			return -1;
	}
	memmove(c->win, c->win + n, c->wlen - n);
	c->wlen -= n;
	return mime_text_put(c, c->out, c->scratch->data, c->scratch->len);
}

/*
 * The window is full (or, with last, the part ended): convert it up to
 * its last LF; else up to its last byte below 0x40 (no multi-byte charset
 * we know has one inside a character); else (a line of nothing but
 * letters beyond ASCII) before a UTF-8 character that may not be whole,
 * which costs a single-byte charset nothing; else all of it. UTF-16 and
 * UTF-32 whole, at a multiple of 4 bytes.
 */
static int
mime_text_window(struct mime_text_ctx *c, int last)
{
	size_t n = c->wlen, k;

	if (!last) {
		const uint8_t *lf = memrchr(c->win, '\n', c->wlen);

		if (c->wide) {
			n -= n % 4;
		} else if (lf != NULL) {
			n = (size_t)(lf - c->win) + 1;
		} else {
			while (n > 0 && c->win[n - 1] >= 0x40)
				n--;
			if (n == 0) {
				/* Back to the lead byte of the last character, if it is one. */
				for (k = c->wlen; k > 0 && c->wlen - k < 4 && (c->win[k - 1] & 0xc0) == 0x80; k--)
					;
				n = k > 0 && c->wlen - k < 4 && c->win[k - 1] >= 0xc0 ? k - 1 : c->wlen;
			}
		}
	}
	return n > 0 ? mime_text_convert(c, n) : 0;
}

/* Decoded bytes s[0..n) into the window, converting as it fills. */
static int
mime_text_win_put(struct mime_text_ctx *c, const uint8_t *s, size_t n)
{
	while (n > 0 && !c->full[c->out]) {
		size_t k = sizeof(c->win) - c->wlen;

		if (k == 0) {
			if (mime_text_window(c, 0) != 0)
				return -1;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(c->win + c->wlen, s, k);
		c->wlen += k;
		s += k;
		n -= k;
	}
	return 0;
}

/* ---- reading ---- */

/*
 * Read the message's bytes [off, off + size) and hand them to the header
 * unfolder (header set) or the body decoder, until they end or the
 * output is full. Returns 0, or -1 (the reader failed, out of memory).
 */
static int
mime_text_stream(struct mime_text_ctx *c, uint64_t off, uint64_t size, int header)
{
	while (size > 0 && !c->full[c->out]) {
		size_t want = size < sizeof(c->rbuf) ? (size_t)size : sizeof(c->rbuf), got = 0, d;

		if (c->read(c->read_ctx, off, c->rbuf, want, &got) != 0)
			return -1;
		if (got == 0 || got > want)
			break;	/* the message is shorter than its table says */
		off += got;
		size -= got;
		if (header) {
			if (mime_text_header_bytes(c, c->out, c->rbuf, got) != 0)
				return -1;
			continue;
		}
		d = mime_decoder_feed(&c->dec, c->rbuf, got, c->dbuf);
		if (mime_text_win_put(c, c->dbuf, d) != 0)
			return -1;
	}
	return 0;
}

/* A header block, unfolded and decoded, into output f. */
static int
mime_text_header(struct mime_text_ctx *c, const struct mime_part *p, int f)
{
	c->out = f;
	c->llen = 0;
	c->eol = 0;
	if (mime_text_sep(c, f) != 0 || mime_text_stream(c, p->header_offset, p->header_size, 1) != 0)
		return -1;
	return mime_text_field_end(c, f);
}

static int
mime_text_lower_is(const struct mime *m, struct mime_str s, const char *word)
{
	size_t len;
	const uint8_t *p = mime_str_get(m, s, &len);

	return p != NULL && mime_field_is(p, len, word);
}

/* The part's charset parameter into c->charset ("" when absent or too long). */
static void
mime_text_charset(struct mime_text_ctx *c, const struct mime_part *p)
{
	const struct mime *m = c->m;

	c->charset[0] = '\0';
	for (uint32_t k = 0; k < p->param_count; k++) {
		const struct mime_param *pa;
		const uint8_t *v;
		size_t len;

		if ((uint64_t)p->param_first + k >= m->nparams)
			break;
		pa = &m->params[p->param_first + k];
		if (!mime_text_lower_is(m, pa->name, "charset"))
			continue;
		v = mime_str_get(m, pa->value, &len);
		if (v != NULL && len <= MIME_TEXT_CHARSET_MAX) {
			memcpy(c->charset, v, len);
			c->charset[len] = '\0';
		}
		return;
	}
}

/* 1 if charset names UTF-16 or UTF-32 (or UCS-2, UCS-4), whose bytes are not ASCII's. */
static int
mime_text_wide(const char *cs)
{
	static const char *const wide[] = { "utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2",
					    "ucs-4", "ucs4" };

	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		size_t n = strlen(wide[i]);

		if (strlen(cs) >= n && mime_field_is((const uint8_t *)cs, n, wide[i]))
			return 1;
	}
	return 0;
}

/* A text leaf: decoded, converted, into the body. */
static int
mime_text_part(struct mime_text_ctx *c, const struct mime_part *p)
{
	uint8_t tail[2];
	size_t n;

	c->out = MIME_TEXT_BODY;
	mime_decoder_init(&c->dec, mime_cte(c->m, p));
	mime_text_charset(c, p);
	c->wide = mime_text_wide(c->charset);
	c->wlen = 0;
	if (mime_text_sep(c, MIME_TEXT_BODY) != 0 ||
	    mime_text_stream(c, p->body_offset, p->body_size, 0) != 0)
		return -1;
	n = mime_decoder_end(&c->dec, tail);
	if (mime_text_win_put(c, tail, n) != 0)
		return -1;
	if (!c->full[MIME_TEXT_BODY] && mime_text_window(c, 1) != 0)
		return -1;
	c->wlen = 0;
	return 0;
}

/* 1 if entity p is a leaf whose text is indexed: type text, or no (usable) Content-Type. */
static int
mime_text_is_text(const struct mime *m, const struct mime_part *p)
{
	if (p->flags & (MIME_PART_MULTIPART | MIME_PART_RFC822))
		return 0;
	return p->type.off == MIME_NONE || mime_text_lower_is(m, p->type, "text");
}

/* The root envelope's field e, decoded, into output f. */
static int
mime_text_envelope(struct mime_text_ctx *c, int e, int f)
{
	const struct mime *m = c->m;
	const struct mime_part *root = &m->parts[0];
	const uint8_t *v;
	size_t len;

	if (root->envelope == MIME_NONE || root->envelope >= m->nenvs)
		return 0;
	v = mime_str_get(m, m->envs[root->envelope].field[e], &len);
	if (v == NULL)
		return 0;
	/* A third of the cap: what decodes from it fits the scratch and the cap. */
	if (len > MIME_TEXT_FIELD_MAX / 3) {
		len = MIME_TEXT_FIELD_MAX / 3;
		c->t->flags |= MIME_TEXT_F_CUT;
	}
	c->scratch->len = 0;
	if (mime_word_decode(v, len, c->scratch, c->conv, c->conv_ctx) != 0)
		return 0;
	return mime_text_put(c, f, c->scratch->data, c->scratch->len);
}

int
mime_text_extract(const struct mime *m, mime_text_read_fn *read, void *read_ctx,
		  mime_word_charset_fn *conv, void *conv_ctx, struct mime_text **t_r)
{
	static const struct {
		int env, field;
	} fields[] = {
		{ MIME_ENV_SUBJECT, MIME_TEXT_SUBJECT },
		{ MIME_ENV_FROM, MIME_TEXT_FROM },
		{ MIME_ENV_TO, MIME_TEXT_TO },
		{ MIME_ENV_CC, MIME_TEXT_CC },
		{ MIME_ENV_BCC, MIME_TEXT_BCC },
	};
	struct mime_text_ctx *c;
	struct mime_text *t;
	int rc = -1;

	c = calloc(1, sizeof(*c));
	t = calloc(1, sizeof(*t));
	if (c == NULL || t == NULL)
		goto out;
	c->m = m;
	c->read = read;
	c->read_ctx = read_ctx;
	c->conv = conv;
	c->conv_ctx = conv_ctx;
	c->t = t;
	if ((c->scratch = buf_new(MIME_TEXT_SCRATCH)) == NULL)
		goto out;
	for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
		if (mime_text_room(t, f, 0) != 0)
			goto out;
		t->text[f][0] = '\0';
	}
	if (m->nparts == 0) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (mime_text_envelope(c, fields[i].env, fields[i].field) != 0)
			goto out;
	}
	if (mime_text_header(c, &m->parts[0], MIME_TEXT_HEADER) != 0)
		goto out;
	for (uint32_t i = 0; i < m->nparts && !c->full[MIME_TEXT_BODY]; i++) {
		const struct mime_part *p = &m->parts[i];

		if (i > 0 && (p->flags & MIME_PART_MESSAGE) &&
		    mime_text_header(c, p, MIME_TEXT_BODY) != 0)
			goto out;
		if (mime_text_is_text(m, p) && mime_text_part(c, p) != 0)
			goto out;
	}
	rc = 0;
out:
	if (c != NULL)
		buf_free(&c->scratch);
	free(c);
	if (rc == 0)
		*t_r = t;
	else
		mime_text_free(&t);
	return rc;
}
