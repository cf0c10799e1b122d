/*
 * dkim: DKIM signing (RFC 6376) with Ed25519-SHA256 (RFC 8463) and
 * RSA-SHA256, relaxed/relaxed canonicalization.
 *
 * The canonicalizers are byte-at-a-time state machines (the body's takes
 * runs of ordinary bytes at once), so where a call stops never matters.
 * The body is never kept: its canonical form goes straight into SHA-256.
 * The header section is kept, canonical, up to DKIM_HEADER_MAX, since the
 * fields to sign are chosen by name once it is complete.
 *
 * Signing (RFC 6376 3.7): SHA-256 over the chosen canonical fields in h=
 * order, each name taking its last instance not yet taken (5.4.2), then
 * the canonical DKIM-Signature field itself with an empty b= value and no
 * CRLF; keys/dkimkey signs that digest (Ed25519 over the 32 bytes as
 * RFC 8463 says, RSA as PKCS#1 v1.5).
 */
#include "dkim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "dkimkey.h"
#include "dnsname.h"

#define DKIM_WSP(c) ((c) == ' ' || (c) == '\t')
#define DKIM_NO_NAME UINT32_MAX	/* a field's name_len before its colon */
#define DKIM_WORD_MAX (DNSNAME_MAX + 8)	/* "d=" DOMAIN ";" and the like */
#define DKIM_SHA256_LEN 32

/* 32 CRLFs: held-back empty lines are written in runs of these. */
#define DKIM_CRLF4 "\r\n\r\n\r\n\r\n"
#define DKIM_CRLF16 DKIM_CRLF4 DKIM_CRLF4 DKIM_CRLF4 DKIM_CRLF4
static const char dkim_crlfs[] = DKIM_CRLF16 DKIM_CRLF16;

/*
 * The header fields signed, RFC 6376 5.4.1's recommendation with the
 * MIME fields: those that make what the reader sees. Not signed: trace
 * fields (Received, Return-Path) that relays add, and Bcc.
 */
static const char *const dkim_signed_names[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
	"mime-version", "content-type", "content-transfer-encoding", "content-id",
	"content-description", "in-reply-to", "references",
	"resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-message-id",
	"list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe",
	"list-post", "list-owner", "list-archive",
};

/* ---- body ---------------------------------------------------------------- */

static void
dkim_body_out(struct dkim_body *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	b->out(b->arg, p, n);
	b->len += n;
}

/* Text on the current line: what was held back before it, then the bytes. */
static void
dkim_body_text(struct dkim_body *b, const uint8_t *p, size_t n)
{
	if (!b->line) {
		/* The empty lines held back were not the body's last after all. */
		while (b->empty > 0) {
			uint64_t k = b->empty < (sizeof(dkim_crlfs) - 1) / 2 ? b->empty :
									     (sizeof(dkim_crlfs) - 1) / 2;

			dkim_body_out(b, dkim_crlfs, (size_t)k * 2);
			b->empty -= k;
		}
		b->line = 1;
	}
	if (b->wsp) {
		/* A run of WSP inside a line is one SP (also at the line's start). */
		dkim_body_out(b, " ", 1);
		b->wsp = 0;
	}
	dkim_body_out(b, p, n);
}

void
dkim_body_init(struct dkim_body *b, void (*out)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	memset(b, 0, sizeof(*b));
	b->out = out;
	b->arg = arg;
}

void
dkim_body_feed(struct dkim_body *b, const uint8_t *in, size_t len)
{
	size_t i = 0;

	if (b->done)
		return;
	while (i < len) {
		uint8_t c = in[i];
		size_t j;

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				/* A line's end: its trailing WSP dropped; an empty line waits. */
				i++;
				b->wsp = 0;
				if (b->line) {
					dkim_body_out(b, "\r\n", 2);
					b->line = 0;
				} else {
					b->empty++;
				}
				continue;
			}
			/* A CR without LF is text; c is looked at again. */
			b->bare = 1;
			dkim_body_text(b, (const uint8_t *)"\r", 1);
			continue;
		}
		if (DKIM_WSP(c)) {
			b->wsp = 1;
			i++;
			continue;
		}
		if (c == '\r') {
			b->cr = 1;
			i++;
			continue;
		}
		/* A run of text: neither WSP nor CR. */
		for (j = i; j < len && !DKIM_WSP(in[j]) && in[j] != '\r'; j++) {
			if (in[j] == '\n')
				b->bare = 1;
		}
		dkim_body_text(b, in + i, j - i);
		i = j;
	}
}

void
dkim_body_finish(struct dkim_body *b)
{
	if (b->done)
		return;
	if (b->cr) {
		b->cr = 0;
		b->bare = 1;
		dkim_body_text(b, (const uint8_t *)"\r", 1);
	}
	/* "If the body is non-empty but does not end with a CRLF, a CRLF is added." */
	if (b->line) {
		dkim_body_out(b, "\r\n", 2);
		b->line = 0;
	}
	/* Empty lines at the end are ignored (3.4.4); so is trailing WSP. */
	b->wsp = 0;
	b->empty = 0;
	b->done = 1;
}

/* ---- header ------------------------------------------------------------- */

enum dkim_header_state {
	DKIM_H_LINE,		/* at a line's start: a field, a continuation or the empty line */
	DKIM_H_NAME,		/* in a field's name */
	DKIM_H_VALUE,		/* after its colon */
	DKIM_H_CR,		/* a CR in a name or value (prev says which): LF ends the line */
	DKIM_H_EMPTY_CR,	/* a CR at a line's start: LF ends the section */
	DKIM_H_DONE,
	DKIM_H_FAILED,
};

void
dkim_header_init(struct dkim_header *h, uint8_t *buf, size_t max, struct dkim_field *fields,
		 size_t fields_max)
{
	memset(h, 0, sizeof(*h));
	h->buf = buf;
	h->max = max;
	h->fields = fields;
	h->fields_max = fields_max;
	h->state = DKIM_H_LINE;
}

/* Canonical bytes never pass raw bytes + 2 (a last field's CRLF added), so buf cannot overflow. */
static void
dkim_header_emit(struct dkim_header *h, uint8_t c)
{
	if (h->len < DKIM_HEADER_BUF(h->max))
		h->buf[h->len++] = c;
}

static int
dkim_header_open(struct dkim_header *h)
{
	struct dkim_field *f;

	if (h->nfields == h->fields_max) {
		h->err = DKIM_ERR_FIELDS_MAX;
		return -1;
	}
	f = &h->fields[h->nfields];
	f->off = (uint32_t)h->len;
	f->name_len = DKIM_NO_NAME;
	f->len = 0;
	h->open = 1;
	h->wsp = 0;
	h->started = 0;
	return 0;
}

/* The field's end: WSP held back at the value's end is dropped, CRLF written. */
static void
dkim_header_close(struct dkim_header *h)
{
	struct dkim_field *f = &h->fields[h->nfields];

	dkim_header_emit(h, '\r');
	dkim_header_emit(h, '\n');
	f->len = (uint32_t)(h->len - f->off);
	if (f->name_len == DKIM_NO_NAME) {
		/* No colon: not a field. */
		h->malformed = 1;
		f->name_len = f->len - 2;
	}
	h->nfields++;
	h->open = 0;
	h->wsp = 0;
}

/* A byte of a name (RFC 5322 ftext: printable ASCII but the colon), lowercased. */
static void
dkim_header_name_byte(struct dkim_header *h, uint8_t c)
{
	if (c < 0x21 || c > 0x7e)
		h->malformed = 1;
	if (c == '\n')
		h->bare = 1;
	if (h->wsp) {
		/* WSP inside a name. */
		h->malformed = 1;
		dkim_header_emit(h, ' ');
		h->wsp = 0;
	}
	dkim_header_emit(h, c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c);
}

static void
dkim_header_value_byte(struct dkim_header *h, uint8_t c)
{
	if (c == '\n')
		h->bare = 1;
	if (h->wsp) {
		dkim_header_emit(h, ' ');
		h->wsp = 0;
	}
	dkim_header_emit(h, c);
	h->started = 1;
}

/* One raw byte. Returns 1 at the section's end, -1 on failure (err set), else 0. */
static int
dkim_header_byte(struct dkim_header *h, uint8_t c)
{
	for (;;) {
		switch (h->state) {
		case DKIM_H_LINE:
			if (DKIM_WSP(c)) {
				if (!h->open) {
					/* A continuation of nothing: the first line starts with WSP. */
					h->malformed = 1;
					if (dkim_header_open(h) != 0)
						return -1;
					h->state = DKIM_H_NAME;
					h->wsp = 1;
					return 0;
				}
				/* Unfold: the CRLF before WSP goes, the WSP stays (3.4.2). */
				h->state = h->prev;
				if (h->state == DKIM_H_NAME)
					h->malformed = 1;
				if (h->state == DKIM_H_NAME || h->started)
					h->wsp = 1;
				return 0;
			}
			if (h->open)
				dkim_header_close(h);
			if (c == '\r') {
				h->state = DKIM_H_EMPTY_CR;
				return 0;
			}
			if (dkim_header_open(h) != 0)
				return -1;
			h->state = DKIM_H_NAME;
			continue;
		case DKIM_H_NAME:
			if (c == ':') {
				struct dkim_field *f = &h->fields[h->nfields];

				/* WSP before the colon is dropped. */
				f->name_len = (uint32_t)(h->len - f->off);
				if (f->name_len == 0)
					h->malformed = 1;
				dkim_header_emit(h, ':');
				h->wsp = 0;
				h->started = 0;
				h->state = DKIM_H_VALUE;
			} else if (DKIM_WSP(c)) {
				h->wsp = 1;
			} else if (c == '\r') {
				h->prev = DKIM_H_NAME;
				h->state = DKIM_H_CR;
			} else {
				dkim_header_name_byte(h, c);
			}
			return 0;
		case DKIM_H_VALUE:
			if (DKIM_WSP(c)) {
				/* WSP after the colon is dropped; a run inside the value is one SP. */
				if (h->started)
					h->wsp = 1;
			} else if (c == '\r') {
				h->prev = DKIM_H_VALUE;
				h->state = DKIM_H_CR;
			} else {
				dkim_header_value_byte(h, c);
			}
			return 0;
		case DKIM_H_CR:
			if (c == '\n') {
				/* The line's end; whether the field goes on, the next line says. */
				h->state = DKIM_H_LINE;
				return 0;
			}
			/* A bare CR is text; c is looked at again. */
			h->bare = 1;
			h->state = h->prev;
			if (h->prev == DKIM_H_NAME)
				dkim_header_name_byte(h, '\r');
			else
				dkim_header_value_byte(h, '\r');
			continue;
		case DKIM_H_EMPTY_CR:
			if (c == '\n') {
				h->state = DKIM_H_DONE;
				return 1;
			}
			/* A bare CR starting a line: a (malformed) field's first byte. */
			h->bare = 1;
			if (dkim_header_open(h) != 0)
				return -1;
			h->state = DKIM_H_NAME;
			dkim_header_name_byte(h, '\r');
			continue;
		default:
			return h->state == DKIM_H_DONE ? 1 : -1;
		}
	}
}

int
dkim_header_feed(struct dkim_header *h, const uint8_t *in, size_t len, size_t *used_r)
{
	*used_r = 0;
	if (h->state == DKIM_H_FAILED)
		return -1;
	if (h->state == DKIM_H_DONE)
		return 1;
	for (size_t i = 0; i < len; i++) {
		int r;

		if (h->raw == h->max) {
			h->err = DKIM_ERR_HEADER_MAX;
			h->state = DKIM_H_FAILED;
			*used_r = i;
			return -1;
		}
		h->raw++;
		r = dkim_header_byte(h, in[i]);
		if (r != 0) {
			if (r < 0)
				h->state = DKIM_H_FAILED;
			*used_r = i + 1;
			return r;
		}
	}
	*used_r = len;
	return 0;
}

int
dkim_header_finish(struct dkim_header *h)
{
	switch (h->state) {
	case DKIM_H_FAILED:
		return -1;
	case DKIM_H_DONE:
		return 0;
	case DKIM_H_CR:
		/* The message ends in a CR: a bare one. */
		h->bare = 1;
		h->state = h->prev;
		if (h->prev == DKIM_H_NAME)
			dkim_header_name_byte(h, '\r');
		else
			dkim_header_value_byte(h, '\r');
		break;
	case DKIM_H_EMPTY_CR:
		h->bare = 1;
		if (dkim_header_open(h) != 0) {
			h->state = DKIM_H_FAILED;
			return -1;
		}
		dkim_header_name_byte(h, '\r');
		break;
	default:
		break;
	}
	if (h->open)
		dkim_header_close(h);
	h->state = DKIM_H_DONE;
	return 0;
}

/* ---- From ---------------------------------------------------------------- */

int
dkim_from_domain(const uint8_t *v, size_t len, char *out, size_t cap)
{
	size_t at = SIZE_MAX, lt = SIZE_MAX, gt = SIZE_MAX, end, n = 0, i;
	unsigned ats = 0;
	int depth = 0, quote = 0, local = 0, local_at = 0, gap = 0;

	/* Find the address: inside <> if there is one, else the whole value. */
	for (i = 0; i < len; i++) {
		uint8_t c = v[i];

		if (quote) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quote = 0;
			continue;
		}
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (DKIM_WSP(c) || c == '\r' || c == '\n')
			continue;
		if (gt != SIZE_MAX && c != '(')
			return -1;	/* only comments after the address */
		switch (c) {
		case '"':
			quote = 1;
			local = 1;
			break;
		case '(':
			depth = 1;
			break;
		case '<':
			if (lt != SIZE_MAX)
				return -1;
			lt = i;
			at = SIZE_MAX;
			ats = 0;
			local = 0;
			break;
		case '>':
			if (lt == SIZE_MAX)
				return -1;
			gt = i;
			break;
		case ':':
			/* Outside <>: a group (RFC 6854); inside: the end of an obsolete route. */
			if (lt == SIZE_MAX)
				return -1;
			at = SIZE_MAX;
			ats = 0;
			local = 0;
			break;
		case ',':
			/* Outside <>: several addresses; inside: between obsolete routes. */
			if (lt == SIZE_MAX)
				return -1;
			break;
		case ';':
			return -1;
		case '@':
			at = i;
			ats++;
			local_at = local;
			break;
		default:
			local = 1;
			break;
		}
	}
	if (quote || depth > 0 || (lt != SIZE_MAX && gt == SIZE_MAX) || at == SIZE_MAX || ats != 1 ||
	    !local_at)
		return -1;
	end = lt != SIZE_MAX ? gt : len;

	/* The domain: after the '@', comments and surrounding spaces dropped. */
	for (i = at + 1; i < end; i++) {
		uint8_t c = v[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (DKIM_WSP(c) || c == '\r' || c == '\n') {
			gap = n > 0;
			continue;
		}
		if (gap || n + 1 >= cap)
			return -1;
		out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : (char)c;
	}
	if (n == 0 || dnsname_check(out, n, 0) != 0)
		return -1;
	out[n] = '\0';
	return 0;
}

/* ---- the signer ---------------------------------------------------------- */

struct dkim {
	struct dkim_header hdr;
	struct dkim_body body;
	EVP_MD_CTX *bh;			/* SHA-256 of the canonical body */
	uint8_t bh_digest[DKIM_SHA256_LEN];
	int in_body;			/* the header section has ended */
	int ended;			/* the message has ended */
	int crypto_failed;
	char domain[DNSNAME_MAX + 1];	/* the author's, once checked */
	struct dkim_field fields[DKIM_HEADER_FIELDS_MAX];
	uint8_t hbuf[DKIM_HEADER_BUF(DKIM_HEADER_MAX)];
};

__attribute__((format(printf, 5, 6))) static int
dkim_fail(enum dkim_err *code_r, enum dkim_err code, char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	*code_r = code;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
	return -1;
}

static void
dkim_body_sink(void *arg, const uint8_t *p, size_t n)
{
	struct dkim *d = arg;

	if (EVP_DigestUpdate(d->bh, p, n) != 1)
		d->crypto_failed = 1;
}

struct dkim *
dkim_new(void)
{
	struct dkim *d = malloc(sizeof(*d));

	if (d == NULL)
		return NULL;
	dkim_header_init(&d->hdr, d->hbuf, DKIM_HEADER_MAX, d->fields, DKIM_HEADER_FIELDS_MAX);
	dkim_body_init(&d->body, dkim_body_sink, d);
	d->in_body = 0;
	d->ended = 0;
	d->crypto_failed = 0;
	d->domain[0] = '\0';
	d->bh = EVP_MD_CTX_new();
	if (d->bh == NULL || EVP_DigestInit_ex(d->bh, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(d->bh);
		free(d);
		return NULL;
	}
	return d;
}

void
dkim_free(struct dkim **dp)
{
	if (*dp == NULL)
		return;
	EVP_MD_CTX_free((*dp)->bh);
	free(*dp);
	*dp = NULL;
}

void
dkim_feed(struct dkim *d, const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t used;

	if (d->ended)
		return;
	if (!d->in_body) {
		int r = dkim_header_feed(&d->hdr, in, n, &used);

		if (r <= 0)
			return;	/* more header to come, or failed for good */
		d->in_body = 1;
		in += used;
		n -= used;
	}
	dkim_body_feed(&d->body, in, n);
}

static void
dkim_end(struct dkim *d)
{
	unsigned int len = 0;

	if (d->ended)
		return;
	d->ended = 1;
	if (!d->in_body && dkim_header_finish(&d->hdr) != 0)
		return;
	dkim_body_finish(&d->body);
	if (EVP_DigestFinal_ex(d->bh, d->bh_digest, &len) != 1 || len != sizeof(d->bh_digest))
		d->crypto_failed = 1;
}

static int
dkim_field_is(const struct dkim *d, const struct dkim_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && memcmp(d->hbuf + f->off, name, n) == 0;
}

/* End the message and check that it can be signed; finds the author's domain. */
static int
dkim_check(struct dkim *d, enum dkim_err *code_r, char *err, size_t errcap)
{
	const struct dkim_field *from = NULL;
	unsigned nfrom = 0;

	dkim_end(d);
	if (d->hdr.state == DKIM_H_FAILED) {
		if (d->hdr.err == DKIM_ERR_FIELDS_MAX)
			return dkim_fail(code_r, DKIM_ERR_FIELDS_MAX, err, errcap,
					 "more than %d header fields", DKIM_HEADER_FIELDS_MAX);
		return dkim_fail(code_r, DKIM_ERR_HEADER_MAX, err, errcap,
				 "header section longer than %d bytes", DKIM_HEADER_MAX);
	}
	if (d->crypto_failed)
		return dkim_fail(code_r, DKIM_ERR_CRYPTO, err, errcap, "SHA-256 failed");
	if (d->hdr.bare || d->body.bare)
		return dkim_fail(code_r, DKIM_ERR_BARE_EOL, err, errcap,
				 "a CR or LF outside CRLF in the %s", d->hdr.bare ? "header" : "body");
	if (d->hdr.malformed)
		return dkim_fail(code_r, DKIM_ERR_MALFORMED, err, errcap,
				 "a header line that is not a field");
	for (size_t i = 0; i < d->hdr.nfields; i++) {
		if (dkim_field_is(d, &d->fields[i], "from")) {
			from = &d->fields[i];
			nfrom++;
		}
	}
	if (nfrom == 0)
		return dkim_fail(code_r, DKIM_ERR_NO_FROM, err, errcap, "no From field");
	if (nfrom > 1)
		return dkim_fail(code_r, DKIM_ERR_FROM_TWICE, err, errcap, "%u From fields", nfrom);
	/* The value: after "from:", before the CRLF. */
	if (dkim_from_domain(d->hbuf + from->off + from->name_len + 1, from->len - from->name_len - 3,
			     d->domain, sizeof(d->domain)) != 0)
		return dkim_fail(code_r, DKIM_ERR_FROM_DOMAIN, err, errcap,
				 "no single address with a host-name domain in From");
	return 0;
}

int
dkim_author_domain(struct dkim *d, char *out, size_t cap, enum dkim_err *code_r, char *err,
		   size_t errcap)
{
	if (dkim_check(d, code_r, err, errcap) != 0)
		return -1;
	if (snprintf(out, cap, "%s", d->domain) >= (int)cap)
		return dkim_fail(code_r, DKIM_ERR_SPACE, err, errcap, "domain longer than %zu bytes", cap);
	return 0;
}

int
dkim_body_hash(struct dkim *d, char out[DKIM_BH_SIZE], enum dkim_err *code_r, char *err, size_t errcap)
{
	dkim_end(d);
	if (d->hdr.state == DKIM_H_FAILED || d->crypto_failed)
		return dkim_fail(code_r, d->crypto_failed ? DKIM_ERR_CRYPTO : d->hdr.err, err, errcap,
				 "no body hash: the header section failed");
	b64_encode(d->bh_digest, sizeof(d->bh_digest), out, DKIM_BH_SIZE);
	return 0;
}

/*
 * field[0..len) with the value of its one b= tag removed (RFC 6376 3.5:
 * tag=value pairs separated by ';', FWS around them), into out.
 */
static int
dkim_strip_b(const char *field, size_t len, char *out, size_t cap, size_t *out_len_r)
{
	const char *colon = memchr(field, ':', len);
	size_t i, b_eq = 0, b_end = 0;
	int found = 0;

	if (colon == NULL)
		return -1;
	for (i = (size_t)(colon - field) + 1; i < len;) {
		size_t end = i, name, name_end, eq;

		while (end < len && field[end] != ';')
			end++;
		name = i;
		while (name < end && (DKIM_WSP(field[name]) || field[name] == '\r' || field[name] == '\n'))
			name++;
		name_end = name;
		while (name_end < end && field[name_end] != '=' && !DKIM_WSP(field[name_end]) &&
		       field[name_end] != '\r' && field[name_end] != '\n')
			name_end++;
		eq = name_end;
		while (eq < end && (DKIM_WSP(field[eq]) || field[eq] == '\r' || field[eq] == '\n'))
			eq++;
		if (name_end - name == 1 && field[name] == 'b' && eq < end && field[eq] == '=') {
			if (found)
				return -1;
			found = 1;
			b_eq = eq + 1;
			b_end = end;
		}
		i = end + 1;
	}
	if (!found || b_eq + (len - b_end) > cap)
		return -1;
	memcpy(out, field, b_eq);
	memcpy(out + b_eq, field + b_end, len - b_end);
	*out_len_r = b_eq + (len - b_end);
	return 0;
}

/* The field (canonical) that the k-th of names[] takes: its last instance not yet taken. */
static const struct dkim_field *
dkim_select(const struct dkim *d, const char *const *names, size_t k)
{
	size_t n = strlen(names[k]), skip = 0;

	for (size_t j = 0; j < k; j++) {
		if (strcasecmp(names[j], names[k]) == 0)
			skip++;
	}
	for (size_t i = d->hdr.nfields; i-- > 0;) {
		const struct dkim_field *f = &d->fields[i];

		if (f->name_len == n && strncasecmp((const char *)d->hbuf + f->off, names[k], n) == 0) {
			if (skip == 0)
				return f;
			skip--;
		}
	}
	return NULL;
}

/* Sign names[] and field (its b= value ignored) with key; the signature, base64, into b64. */
static int
dkim_sign_core(struct dkim *d, EVP_PKEY *key, const char *const *names, size_t nnames, const char *field,
	       size_t len, char *b64, size_t cap, enum dkim_err *code_r, char *err, size_t errcap)
{
	char stripped[DKIM_SIGNATURE_MAX];
	uint8_t canon[DKIM_HEADER_BUF(DKIM_SIGNATURE_MAX)], digest[DKIM_SHA256_LEN];
	uint8_t sig[DKIMKEY_SIG_MAX];
	struct dkim_field sf[2];
	struct dkim_header h;
	EVP_MD_CTX *md = NULL;
	size_t slen, used, siglen;
	unsigned int dlen = 0;
	char why[256];
	int rc = -1;

	if (len > sizeof(stripped) || dkim_strip_b(field, len, stripped, sizeof(stripped), &slen) != 0)
		return dkim_fail(code_r, DKIM_ERR_FIELD, err, errcap,
				 "not a DKIM-Signature field with one b= tag");
	dkim_header_init(&h, canon, DKIM_SIGNATURE_MAX, sf, 1);
	if (dkim_header_feed(&h, (const uint8_t *)stripped, slen, &used) != 0 || dkim_header_finish(&h) != 0 ||
	    h.nfields != 1 || h.bare || h.malformed || sf[0].name_len != strlen("dkim-signature") ||
	    memcmp(canon, "dkim-signature", sf[0].name_len) != 0)
		return dkim_fail(code_r, DKIM_ERR_FIELD, err, errcap, "not one DKIM-Signature field");
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		dkim_fail(code_r, DKIM_ERR_CRYPTO, err, errcap, "SHA-256 failed");
		goto fail;
	}
	for (size_t k = 0; k < nnames; k++) {
		const struct dkim_field *f = dkim_select(d, names, k);

		if (f != NULL && EVP_DigestUpdate(md, d->hbuf + f->off, f->len) != 1) {
			dkim_fail(code_r, DKIM_ERR_CRYPTO, err, errcap, "SHA-256 failed");
			goto fail;
		}
	}
	/* The signature's own field last, without its CRLF (3.7). */
	if (EVP_DigestUpdate(md, canon, sf[0].len - 2) != 1 || EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
	    dlen != sizeof(digest)) {
		dkim_fail(code_r, DKIM_ERR_CRYPTO, err, errcap, "SHA-256 failed");
		goto fail;
	}
	if (dkimkey_sign(key, digest, sig, sizeof(sig), &siglen, why, sizeof(why)) != 0) {
		dkim_fail(code_r, DKIM_ERR_CRYPTO, err, errcap, "%s", why);
		goto fail;
	}
	if (b64_encode(sig, siglen, b64, cap) < 0) {
		dkim_fail(code_r, DKIM_ERR_SPACE, err, errcap, "signature longer than %zu bytes", cap);
		goto fail;
	}
	rc = 0;
fail:
	EVP_MD_CTX_free(md);
	return rc;
}

int
dkim_sign_field(struct dkim *d, EVP_PKEY *key, const char *const *names, size_t nnames, const char *field,
		size_t len, char *b64, size_t cap, enum dkim_err *code_r, char *err, size_t errcap)
{
	enum dkimkey_alg alg;
	char why[256];

	if (dkim_check(d, code_r, err, errcap) != 0)
		return -1;
	if (dkimkey_key_alg(key, &alg, why, sizeof(why)) != 0)
		return dkim_fail(code_r, DKIM_ERR_KEY, err, errcap, "%s", why);
	return dkim_sign_core(d, key, names, nnames, field, len, b64, cap, code_r, err, errcap);
}

/* ---- writing a folded field ---------------------------------------------- */

/* Output with the column of the current line; one byte is kept for the NUL. */
struct dkim_out {
	char *p;
	size_t cap;
	size_t len;
	size_t col;
	int full;
};

static void
dkim_put(struct dkim_out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->col += n;
}

static void
dkim_fold(struct dkim_out *o)
{
	dkim_put(o, "\r\n ", 3);
	o->col = 1;
}

/* An unbreakable word after sep (" " or ""), on a new line if it does not fit on this one. */
static void
dkim_word(struct dkim_out *o, const char *sep, const char *s, size_t n)
{
	size_t seplen = strlen(sep);

	if (o->col > 1 && o->col + seplen + n > DKIM_LINE_MAX)
		dkim_fold(o);
	else
		dkim_put(o, sep, seplen);
	dkim_put(o, s, n);
}

__attribute__((format(printf, 3, 4))) static void
dkim_wordf(struct dkim_out *o, const char *sep, const char *fmt, ...)
{
	char w[DKIM_WORD_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w, sizeof(w), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(w)) {
		o->full = 1;
		return;
	}
	dkim_word(o, sep, w, (size_t)n);
}

/* Base64 that may break anywhere (FWS inside bh= and b= values is allowed, 3.5). */
static void
dkim_b64(struct dkim_out *o, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = o->col < DKIM_LINE_MAX ? DKIM_LINE_MAX - o->col : 0, take;

		if (room == 0) {
			dkim_fold(o);
			continue;
		}
		take = n < room ? n : room;
		dkim_put(o, s, take);
		s += take;
		n -= take;
	}
}

/*
 * h=: From first (the message has exactly one), then the other fields of
 * the set in the message's order, then From again: the oversigned one,
 * which makes a From added later break the signature (5.4.2, 8.15).
 */
static size_t
dkim_names(const struct dkim *d, const char **names)
{
	size_t n = 0;

	names[n++] = "from";
	for (size_t i = 0; i < d->hdr.nfields && n < DKIM_SIGN_FIELDS_MAX - 1; i++) {
		for (size_t k = 1; k < sizeof(dkim_signed_names) / sizeof(dkim_signed_names[0]); k++) {
			if (dkim_field_is(d, &d->fields[i], dkim_signed_names[k])) {
				names[n++] = dkim_signed_names[k];
				break;
			}
		}
	}
	names[n++] = "from";
	return n;
}

int
dkim_sign(struct dkim *d, const struct dkim_key *keys, size_t nkeys, uint64_t t, char *out, size_t cap,
	  size_t *len_r, enum dkim_err *code_r, char *err, size_t errcap)
{
	const char *names[DKIM_SIGN_FIELDS_MAX];
	char bh[DKIM_BH_SIZE], b64[B64_ENCODED_SIZE(DKIMKEY_SIG_MAX)], why[256];
	struct dkim_out o = { .p = out, .cap = cap };
	size_t nnames;

	if (cap == 0)
		return dkim_fail(code_r, DKIM_ERR_SPACE, err, errcap, "no room for the signatures");
	out[0] = '\0';
	if (dkim_check(d, code_r, err, errcap) != 0 || dkim_body_hash(d, bh, code_r, err, errcap) != 0)
		return -1;
	nnames = dkim_names(d, names);
	for (size_t k = 0; k < nkeys; k++) {
		enum dkimkey_alg alg;
		size_t start = o.len, sel_len = strlen(keys[k].selector);

		if (dkimkey_key_alg(keys[k].key, &alg, why, sizeof(why)) != 0) {
			dkim_fail(code_r, DKIM_ERR_KEY, err, errcap, "%s", why);
			goto fail;
		}
		if (dnsname_check(keys[k].selector, sel_len, 0) != 0) {
			dkim_fail(code_r, DKIM_ERR_KEY, err, errcap, "selector is not a DNS name");
			goto fail;
		}
		o.col = 0;
		dkim_put(&o, "DKIM-Signature:", strlen("DKIM-Signature:"));
		dkim_word(&o, " ", "v=1;", 4);
		dkim_wordf(&o, " ", "a=%s;", alg == DKIMKEY_ED25519 ? "ed25519-sha256" : "rsa-sha256");
		dkim_word(&o, " ", "c=relaxed/relaxed;", strlen("c=relaxed/relaxed;"));
		dkim_wordf(&o, " ", "d=%s;", d->domain);
		dkim_wordf(&o, " ", "s=%s;", keys[k].selector);
		dkim_wordf(&o, " ", "t=%llu;", (unsigned long long)t);
		for (size_t i = 0; i < nnames; i++)
			dkim_wordf(&o, i == 0 ? " " : "", "%s%s%c", i == 0 ? "h=" : "", names[i],
				   i + 1 < nnames ? ':' : ';');
		dkim_wordf(&o, " ", "bh=%s;", bh);
		/* b= starts a line of its own, its value filling the lines after it. */
		dkim_fold(&o);
		dkim_put(&o, "b=", 2);
		if (o.full)
			break;
		/* Signed as it stands: with b= empty. */
		if (dkim_sign_core(d, keys[k].key, names, nnames, out + start, o.len - start, b64, sizeof(b64),
				   code_r, err, errcap) != 0)
			goto fail;
		dkim_b64(&o, b64, strlen(b64));
		dkim_put(&o, "\r\n", 2);
	}
	if (o.full) {
		dkim_fail(code_r, DKIM_ERR_SPACE, err, errcap, "signatures longer than %zu bytes", cap);
		goto fail;
	}
	out[o.len] = '\0';
	*len_r = o.len;
	return 0;
fail:
	/* Never half a field. */
	out[0] = '\0';
	return -1;
}
