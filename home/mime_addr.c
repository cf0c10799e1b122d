/*
 * mime_addr: RFC 5322 address lists (3.4 and the obsolete syntax of 4.4)
 * as IMAP's ENVELOPE wants them: per address a display name, a source
 * route, a local part and a domain; groups as a start and an end.
 *
 * The value is read as tokens (atoms, quoted strings, domain literals,
 * comments, dots, specials); what an address is becomes clear at the first
 * of "<" (name-addr), "@" (addr-spec), ":" (a group) or "," / ";" / the
 * end (a lone local part). Never fails on syntax, always makes progress:
 * stray bytes are skipped, what is missing is absent. Display names have
 * quotes and comments removed and words joined by one space ("Jane Q.
 * Roe"); local parts lose blanks, comments and quotes ("john doe"@x is
 * john doe, as Dovecot and c-client give it); a comment after a bare
 * addr-spec is its name, as they do too. Encoded words are not decoded (IMAP sends them as they are).
 *
 * No I/O, no globals, no allocation.
 */
#include <string.h>

#include "mime.h"

enum mime_tok_kind {
	MIME_TOK_END,
	MIME_TOK_ATOM,		/* atext, 8-bit bytes too (RFC 6532) */
	MIME_TOK_QSTR,		/* "...", quotes included */
	MIME_TOK_DLIT,		/* [...], brackets included */
	MIME_TOK_COMMENT,	/* (...), without the outer parentheses */
	MIME_TOK_DOT,
	MIME_TOK_SPECIAL,	/* one byte: < > @ , ; : and anything else */
};

struct mime_tok {
	int kind;
	const uint8_t *p;
	size_t len;
	int closed;		/* a quoted string, literal or comment has its closing byte */
};

struct mime_addr_ctx {
	const uint8_t *v;
	size_t len;
	size_t i;			/* the next byte */
	uint8_t *sc;			/* scratch: the strings of one address */
	size_t cap, used;
	int (*emit)(void *ctx, const struct mime_addr_item *item);
	void *ectx;
	int64_t count;
	int in_group;
};

static int
mime_addr_atext(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * From v[*i] past the byte that closes an open quote, bracket or (nested)
 * comment. Returns 1, or 0 when the end came first.
 */
static int
mime_addr_close(const uint8_t *v, size_t len, size_t *i, uint8_t open, uint8_t close)
{
	size_t depth = 0;

	for (; *i < len; (*i)++) {
		if (v[*i] == '\\' && *i + 1 < len) {
			(*i)++;
		} else if (v[*i] == close && (open == close || depth == 1)) {
			(*i)++;
			return 1;
		} else if (v[*i] == close) {
			depth--;
		} else if (v[*i] == open) {
			depth++;
		}
	}
	return 0;
}

/* The next token from v[*i] (blanks skipped). */
static struct mime_tok
mime_addr_next(const uint8_t *v, size_t len, size_t *i)
{
	struct mime_tok t = { MIME_TOK_END, NULL, 0, 0 };
	size_t s;

	while (*i < len && (v[*i] == ' ' || v[*i] == '\t' || v[*i] == '\r' || v[*i] == '\n'))
		(*i)++;
	if (*i >= len)
		return t;
	s = *i;
	t.p = v + s;
	switch (v[s]) {
	case '(':
		t.closed = mime_addr_close(v, len, i, '(', ')');
		t.kind = MIME_TOK_COMMENT;
		/* Without the parentheses (an unclosed one runs to the end). */
		t.p = v + s + 1;
		t.len = *i - s - 1 - (t.closed ? 1 : 0);
		return t;
	case '"':
		(*i)++;
		t.closed = mime_addr_close(v, len, i, '"', '"');
		t.kind = MIME_TOK_QSTR;
		break;
	case '[':
		t.closed = mime_addr_close(v, len, i, '[', ']');
		t.kind = MIME_TOK_DLIT;
		break;
	case '.':
		(*i)++;
		t.kind = MIME_TOK_DOT;
		break;
	default:
		if (mime_addr_atext(v[s])) {
			while (*i < len && mime_addr_atext(v[*i]))
				(*i)++;
			t.kind = MIME_TOK_ATOM;
		} else {
			(*i)++;
			t.kind = MIME_TOK_SPECIAL;
		}
		break;
	}
	t.len = *i - s;
	return t;
}

static int
mime_addr_is(const struct mime_tok *t, uint8_t c)
{
	return t->kind == MIME_TOK_SPECIAL && t->p[0] == c;
}

/* Append s[0..n) to the scratch (cut at its end: cap >= len makes that impossible). */
static void
mime_addr_put(struct mime_addr_ctx *c, const uint8_t *s, size_t n)
{
	if (n > c->cap - c->used)
		n = c->cap - c->used;
	memcpy(c->sc + c->used, s, n);
	c->used += n;
}

/* Append the inside of a quoted string or comment t[0..n), quoted pairs unescaped. */
static void
mime_addr_unescape(struct mime_addr_ctx *c, const uint8_t *s, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (s[k] == '\\' && k + 1 < n)
			k++;
		mime_addr_put(c, s + k, 1);
	}
}

/* A span of the scratch from start to now; absent when empty. */
static struct mime_span
mime_addr_span(struct mime_addr_ctx *c, size_t start)
{
	struct mime_span sp = { NULL, 0 };

	if (c->used > start) {
		sp.p = c->sc + start;
		sp.len = c->used - start;
	}
	return sp;
}

/* The display name of the tokens in v[from..to): words joined by one space. */
static struct mime_span
mime_addr_phrase(struct mime_addr_ctx *c, size_t from, size_t to)
{
	size_t start = c->used, i = from;

	for (;;) {
		struct mime_tok t = mime_addr_next(c->v, to, &i);

		if (t.kind == MIME_TOK_END)
			break;
		if ((t.kind == MIME_TOK_ATOM || t.kind == MIME_TOK_QSTR) && c->used > start)
			mime_addr_put(c, (const uint8_t *)" ", 1);
		if (t.kind == MIME_TOK_ATOM || t.kind == MIME_TOK_DOT) {
			mime_addr_put(c, t.p, t.len);
		} else if (t.kind == MIME_TOK_QSTR) {
			/* Without the quotes (an unclosed one has no closing quote). */
			mime_addr_unescape(c, t.p + 1, t.len - 1 - (t.closed ? 1 : 0));
		}
	}
	return mime_addr_span(c, start);
}

/*
 * The local part of the tokens in v[from..to), without blanks and comments,
 * quoted strings unquoted (as Dovecot and c-client give it; a client quotes
 * it again when it writes the address).
 */
static struct mime_span
mime_addr_local(struct mime_addr_ctx *c, size_t from, size_t to)
{
	size_t start = c->used, i = from;

	for (;;) {
		struct mime_tok t = mime_addr_next(c->v, to, &i);

		if (t.kind == MIME_TOK_END)
			break;
		if (t.kind == MIME_TOK_ATOM || t.kind == MIME_TOK_DOT)
			mime_addr_put(c, t.p, t.len);
		else if (t.kind == MIME_TOK_QSTR)
			mime_addr_unescape(c, t.p + 1, t.len - 1 - (t.closed ? 1 : 0));
	}
	return mime_addr_span(c, start);
}

/*
 * A domain from c->i: atoms, dots and literals up to any other special
 * (not taken). The last comment seen goes to *comment_r.
 */
static struct mime_span
mime_addr_domain(struct mime_addr_ctx *c, struct mime_tok *comment_r)
{
	size_t start = c->used;

	for (;;) {
		size_t at = c->i;
		struct mime_tok t = mime_addr_next(c->v, c->len, &c->i);

		if (t.kind == MIME_TOK_ATOM || t.kind == MIME_TOK_DOT || t.kind == MIME_TOK_DLIT) {
			mime_addr_put(c, t.p, t.len);
		} else if (t.kind == MIME_TOK_COMMENT) {
			*comment_r = t;
		} else {
			c->i = at;
			break;
		}
	}
	return mime_addr_span(c, start);
}

/*
 * Skip to the end of this address: past a ",", or before a ";" or the end
 * (the list loop takes those). The last comment seen goes to *comment_r.
 */
static void
mime_addr_skip(struct mime_addr_ctx *c, struct mime_tok *comment_r)
{
	for (;;) {
		size_t at = c->i;
		struct mime_tok t = mime_addr_next(c->v, c->len, &c->i);

		if (t.kind == MIME_TOK_END || mime_addr_is(&t, ';')) {
			c->i = at;
			return;
		}
		if (mime_addr_is(&t, ','))
			return;
		if (t.kind == MIME_TOK_COMMENT)
			*comment_r = t;
	}
}

static int
mime_addr_emit(struct mime_addr_ctx *c, struct mime_addr_item *it)
{
	if (c->emit(c->ectx, it) != 0)
		return -1;
	c->count++;
	return 0;
}

/* "<" [route ":"] [local "@" domain] ">" from c->i (after the "<"), with the display name. */
static int
mime_addr_angle(struct mime_addr_ctx *c, struct mime_span name)
{
	struct mime_addr_item it = { MIME_ADDR_MAILBOX, name, { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	struct mime_tok t, comment = { MIME_TOK_END, NULL, 0, 0 };
	size_t i = c->i, local_from, local_to;
	int route = 0;

	/* An obsolete route "@a,@b:" when an "@" comes first and a ":" before the ">". */
	t = mime_addr_next(c->v, c->len, &i);
	if (mime_addr_is(&t, '@')) {
		for (;;) {
			t = mime_addr_next(c->v, c->len, &i);
			if (t.kind == MIME_TOK_END || mime_addr_is(&t, '>'))
				break;
			if (mime_addr_is(&t, ':')) {
				route = 1;
				break;
			}
		}
	}
	if (route) {
		size_t start = c->used;

		for (;;) {
			t = mime_addr_next(c->v, c->len, &c->i);
			if (mime_addr_is(&t, ':'))
				break;
			if (mime_addr_is(&t, '@') || mime_addr_is(&t, ',') || t.kind == MIME_TOK_ATOM ||
			    t.kind == MIME_TOK_DOT || t.kind == MIME_TOK_DLIT)
				mime_addr_put(c, t.p, t.len);
		}
		it.route = mime_addr_span(c, start);
	}
	/* The local part: up to "@", ">" or the end. */
	local_from = c->i;
	for (;;) {
		size_t at = c->i;

		t = mime_addr_next(c->v, c->len, &c->i);
		if (t.kind == MIME_TOK_END || mime_addr_is(&t, '@') || mime_addr_is(&t, '>')) {
			local_to = at;
			break;
		}
	}
	it.mailbox = mime_addr_local(c, local_from, local_to);
	if (mime_addr_is(&t, '@')) {
		it.host = mime_addr_domain(c, &comment);
		/* Up to the ">", whatever is in the way. */
		do {
			t = mime_addr_next(c->v, c->len, &c->i);
		} while (t.kind != MIME_TOK_END && !mime_addr_is(&t, '>'));
	}
	mime_addr_skip(c, &comment);
	return mime_addr_emit(c, &it);
}

int64_t
mime_addr_parse(const uint8_t *v, size_t len, uint8_t *scratch, size_t cap,
		int (*emit)(void *ctx, const struct mime_addr_item *item), void *ctx)
{
	struct mime_addr_ctx c = { v, len, 0, scratch, cap, 0, emit, ctx, 0, 0 };
	struct mime_addr_item none = { MIME_ADDR_GROUP_END, { NULL, 0 }, { NULL, 0 }, { NULL, 0 },
				       { NULL, 0 } };

	if (cap < len)
		return -1;
	for (;;) {
		size_t from = c.i, at;
		struct mime_tok t, comment = { MIME_TOK_END, NULL, 0, 0 };
		int words = 0;

		c.used = 0;
		/* Up to what tells what this address is. */
		for (;;) {
			at = c.i;
			t = mime_addr_next(v, len, &c.i);
			if (t.kind == MIME_TOK_END || mime_addr_is(&t, '<') || mime_addr_is(&t, '@') ||
			    mime_addr_is(&t, ',') || mime_addr_is(&t, ';') ||
			    (mime_addr_is(&t, ':') && !c.in_group))
				break;
			if (t.kind == MIME_TOK_ATOM || t.kind == MIME_TOK_QSTR)
				words = 1;
		}
		if (mime_addr_is(&t, '<')) {
			if (mime_addr_angle(&c, mime_addr_phrase(&c, from, at)) != 0)
				return -1;
			continue;
		}
		if (mime_addr_is(&t, ':')) {
			struct mime_addr_item it = none;

			it.kind = MIME_ADDR_GROUP;
			it.mailbox = mime_addr_phrase(&c, from, at);
			if (mime_addr_emit(&c, &it) != 0)
				return -1;
			c.in_group = 1;
			continue;
		}
		if (mime_addr_is(&t, '@') || words) {
			struct mime_addr_item it = none;

			it.kind = MIME_ADDR_MAILBOX;
			it.mailbox = mime_addr_local(&c, from, at);
			if (mime_addr_is(&t, '@'))
				it.host = mime_addr_domain(&c, &comment);
			else
				c.i = at;	/* the "," ";" or end: taken below */
			mime_addr_skip(&c, &comment);
			if (comment.kind == MIME_TOK_COMMENT && comment.len > 0) {
				size_t start = c.used;

				mime_addr_unescape(&c, comment.p, comment.len);
				it.name = mime_addr_span(&c, start);
			}
			if (mime_addr_emit(&c, &it) != 0)
				return -1;
			continue;
		}
		/* An empty element: ",", ";" or the end. */
		if (mime_addr_is(&t, ';') && c.in_group) {
			c.in_group = 0;
			if (mime_addr_emit(&c, &none) != 0)
				return -1;
		}
		if (t.kind == MIME_TOK_END)
			break;
	}
	if (c.in_group && mime_addr_emit(&c, &none) != 0)
		return -1;
	return c.count;
}
