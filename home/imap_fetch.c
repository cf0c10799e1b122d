/*
 * imap_fetch: FETCH and UID FETCH (RFC 9051 6.4.5, RFC 7162 CHANGEDSINCE).
 * The items are parsed once; then the answer is made message by message,
 * pausing whenever the output is full and going on when the client has
 * read (imap_session_pending), so a FETCH of every body of a large
 * mailbox holds one chunk of one body at a time. The structure of each
 * message (ENVELOPE, BODYSTRUCTURE, the offsets of sections) comes from
 * the MIME table kept in the store; the bytes from the store's body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "imap_int.h"
#include "log.h"
#include "mime.h"

#define IMF_ITEMS_MAX 64		/* items of one FETCH */
#define IMF_CHUNK (64 * 1024)		/* body bytes copied per step */
#define IMF_SCRATCH (4 * 1024 * 1024)	/* an ENVELOPE or BODYSTRUCTURE as text */
#define IMF_HEADER_MAX (8 * 1024 * 1024)	/* header bytes read to pick fields from */
#define IMF_BINARY_MAX (16 * 1024 * 1024)	/* a part BINARY decodes (in memory); larger: NIL */

enum imf_kind {
	IMF_FLAGS,
	IMF_UID,
	IMF_INTERNALDATE,
	IMF_SIZE,
	IMF_ENVELOPE,
	IMF_BODYSTRUCTURE,
	IMF_BODY,		/* BODY without a section: the non-extensible structure */
	IMF_MODSEQ,
	IMF_SECTION,		/* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	IMF_BINARY,		/* BINARY[...], BINARY.PEEK[...] (RFC 3516) */
	IMF_BINARY_SIZE,	/* BINARY.SIZE[...] */
};

struct imf_item {
	int kind;
	int peek;
	struct imap_parse_section sec;
	char name[128];		/* as the answer names it: "BODY[HEADER]", "RFC822.SIZE" */
	char fields[4096];	/* HEADER.FIELDS names, NUL-separated, for when the argument is gone */
	size_t nfields;
};

struct ims_fetch {
	struct imf_item items[IMF_ITEMS_MAX];
	size_t nitems;
	uint64_t changedsince;
	int vanished;			/* VANISHED (EARLIER) first */
	size_t *idx;			/* view indexes */
	size_t n, pos;
	struct store_message *rows;
	size_t nrows, row;
	int in_msg;			/* "* n FETCH (" written */
	size_t item;			/* next item of the current message */
	struct mime *mime;		/* the current message's structure, or NULL */
	int64_t lit_body;		/* a literal being copied from this body */
	uint64_t lit_off, lit_left;
	struct buf *scratch;
};

void
ims_fetch_free(struct ims_fetch **fp)
{
	struct ims_fetch *f = *fp;

	if (f == NULL)
		return;
	free(f->idx);
	store_message_list_free(&f->rows, f->nrows);
	mime_free(&f->mime);
	buf_free(&f->scratch);
	free(f);
	*fp = NULL;
}

/* ---- the items ---- */

static int
imf_add(struct ims_fetch *f, int kind, const char *name)
{
	struct imf_item *it;

	for (size_t i = 0; i < f->nitems; i++) {
		if (f->items[i].kind == kind && kind != IMF_SECTION && kind != IMF_BINARY && kind != IMF_BINARY_SIZE)
			return 0;
	}
	if (f->nitems == IMF_ITEMS_MAX)
		return -1;
	it = &f->items[f->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	snprintf(it->name, sizeof(it->name), "%s", name);
	return 0;
}

/* A section item (BODY[...], BINARY[...] and the RFC822 forms). */
static int
imf_add_section(struct ims_fetch *f, const struct imap_parse_section *sec, const char *name)
{
	struct imf_item *it;
	int kind = sec->item == IMAP_SECTION_BINARY_SIZE ? IMF_BINARY_SIZE :
		   sec->item == IMAP_SECTION_BINARY || sec->item == IMAP_SECTION_BINARY_PEEK ? IMF_BINARY : IMF_SECTION;
	size_t o = 0;

	if (imf_add(f, kind, name) != 0)
		return -1;
	it = &f->items[f->nitems - 1];
	it->sec = *sec;
	it->peek = sec->item == IMAP_SECTION_BODY_PEEK || sec->item == IMAP_SECTION_BINARY_PEEK ||
		   sec->item == IMAP_SECTION_BINARY_SIZE;
	for (size_t i = 0; i < sec->nfields; i++) {
		if (o + sec->fields[i].len + 1 > sizeof(it->fields))
			return -1;
		memcpy(it->fields + o, sec->fields[i].s, sec->fields[i].len);
		o += sec->fields[i].len;
		it->fields[o++] = '\0';
	}
	it->nfields = sec->nfields;
	return 0;
}

/* The answer's name of a section item: "BODY[1.HEADER.FIELDS (FROM)]<0>", "BINARY.SIZE[2]" (no PEEK, no length). */
static void
imf_section_name(const char *arg, size_t len, const struct imap_parse_section *sec, char *out, size_t cap)
{
	const char *open = memchr(arg, '[', len);
	const char *close = open != NULL ? memchr(open, ']', len - (size_t)(open - arg)) : NULL;
	const char *item = sec->item == IMAP_SECTION_BINARY_SIZE ? "BINARY.SIZE" :
			   sec->item == IMAP_SECTION_BINARY || sec->item == IMAP_SECTION_BINARY_PEEK ? "BINARY" : "BODY";
	int n;

	if (open == NULL || close == NULL) {
		snprintf(out, cap, "%s[]", item);
		return;
	}
	n = snprintf(out, cap, "%s%.*s", item, (int)(close - open + 1), open);
	if (sec->partial && n > 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, "<%llu>", (unsigned long long)sec->offset);
}

static int
imf_item_arg(struct ims_fetch *f, const struct imap_arg *a)
{
	static const struct {
		const char *word;
		int kind;
	} simple[] = {
		{ "FLAGS", IMF_FLAGS }, { "UID", IMF_UID }, { "INTERNALDATE", IMF_INTERNALDATE },
		{ "RFC822.SIZE", IMF_SIZE }, { "ENVELOPE", IMF_ENVELOPE },
		{ "BODYSTRUCTURE", IMF_BODYSTRUCTURE }, { "BODY", IMF_BODY }, { "MODSEQ", IMF_MODSEQ },
	};
	struct imap_parse_section sec;
	char name[128];

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	if (a->flags & IMAP_ARG_SECTION) {
		if (imap_parse_section(a->str, a->len, &sec) != 0)
			return -1;
		imf_section_name(a->str, a->len, &sec, name, sizeof(name));
		return imf_add_section(f, &sec, name);
	}
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (imap_parse_arg_is(a, simple[i].word))
			return imf_add(f, simple[i].kind, simple[i].word);
	}
	memset(&sec, 0, sizeof(sec));
	sec.item = IMAP_SECTION_BODY;
	if (imap_parse_arg_is(a, "RFC822"))
		return imf_add_section(f, &sec, "RFC822");
	if (imap_parse_arg_is(a, "RFC822.TEXT")) {
		sec.text = IMAP_SECTION_TEXT;
		return imf_add_section(f, &sec, "RFC822.TEXT");
	}
	if (imap_parse_arg_is(a, "RFC822.HEADER")) {
		sec.item = IMAP_SECTION_BODY_PEEK;
		sec.text = IMAP_SECTION_HEADER;
		return imf_add_section(f, &sec, "RFC822.HEADER");
	}
	if (imap_parse_arg_is(a, "ALL") || imap_parse_arg_is(a, "FAST") || imap_parse_arg_is(a, "FULL")) {
		int full = imap_parse_arg_is(a, "FULL"), all = imap_parse_arg_is(a, "ALL");

		if (imf_add(f, IMF_FLAGS, "FLAGS") != 0 || imf_add(f, IMF_INTERNALDATE, "INTERNALDATE") != 0 ||
		    imf_add(f, IMF_SIZE, "RFC822.SIZE") != 0)
			return -1;
		if ((all || full) && imf_add(f, IMF_ENVELOPE, "ENVELOPE") != 0)
			return -1;
		return full ? imf_add(f, IMF_BODY, "BODY") : 0;
	}
	return -1;
}

/* FETCH modifiers: (CHANGEDSINCE n [VANISHED]). */
static int
imf_modifiers(struct imap_session *s, struct ims_fetch *f, const struct imap_arg *a, int uid)
{
	uint64_t v;

	if (a->type != IMAP_ARG_LIST || a->count < 2 || a->count > 3 ||
	    !imap_parse_arg_is(&a->list[0], "CHANGEDSINCE") || imap_parse_arg_number(&a->list[1], INT64_MAX, &v) != 0)
		return -1;
	if (a->count == 3) {
		/* VANISHED: only with UID FETCH once QRESYNC is on (RFC 7162 3.2.6). */
		if (!imap_parse_arg_is(&a->list[2], "VANISHED") || !uid || !(s->enabled & IMS_EN_QRESYNC))
			return -1;
		f->vanished = 1;
	}
	f->changedsince = v;
	s->enabled |= IMS_EN_CONDSTORE;
	return imf_add(f, IMF_MODSEQ, "MODSEQ");
}

/* ---- one message ---- */


/* The current message's structure: from the store, parsed once at delivery. */
static int
imf_mime(struct imap_session *s, struct ims_fetch *f, const struct store_message *m)
{
	struct store_err err;

	if (f->mime != NULL)
		return 0;
	if (store_body_mime(s->st, m->body_id, &f->mime, &err) != 0) {
		log_error(s->sid, "store_error", "during=fetch code=%d kind=%s error=\"%s\"", err.code,
			  store_err_kind_name(err.kind), err.msg);
		return -1;
	}
	return 0;
}

static void
imf_date(struct imap_session *s, int64_t t)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	(void)ims_out(s, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
		      tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A MIME structure item through the scratch buffer. */
static int
imf_structure(struct imap_session *s, struct ims_fetch *f, int kind)
{
	int rc;

	if (f->scratch == NULL && (f->scratch = buf_new(IMF_SCRATCH)) == NULL)
		return -1;
	buf_reset(f->scratch);
	rc = kind == IMF_ENVELOPE ? mime_imap_envelope(f->mime, 0, f->scratch)
				  : mime_imap_bodystructure(f->mime, 0, kind == IMF_BODYSTRUCTURE, f->scratch);
	if (rc != 0)
		return -1;
	return ims_out_raw(s, f->scratch->data, f->scratch->len);
}

/*
 * The bytes a section names, as [*off_r, *off_r + *len_r) of the message;
 * or -1 when there is no such part (answered as NIL... an empty string).
 */
static int
imf_section_range(const struct mime *m, const struct imap_parse_section *sec, uint64_t *off_r, uint64_t *len_r,
		  int *header_r)
{
	char num[IMAP_PARSE_SECTION_PARTS_MAX * 11];
	size_t o = 0;
	int64_t i = 0;
	const struct mime_part *p;

	*header_r = 0;
	for (size_t k = 0; k < sec->nparts; k++)
		o += (size_t)snprintf(num + o, sizeof(num) - o, "%s%u", k > 0 ? "." : "", sec->part[k]);
	if (sec->nparts > 0 && (i = mime_find(m, num, o)) < 0)
		return -1;
	p = &m->parts[i];
	if (sec->nparts > 0 && (sec->text == IMAP_SECTION_HEADER || sec->text == IMAP_SECTION_TEXT ||
				sec->text == IMAP_SECTION_HEADER_FIELDS || sec->text == IMAP_SECTION_HEADER_FIELDS_NOT)) {
		if (!(p->flags & MIME_PART_RFC822) || p->children == 0)
			return -1;
		p = &m->parts[i + 1];	/* the message inside */
	}
	switch (sec->text) {
	case IMAP_SECTION_ALL:
		if (sec->nparts == 0) {
			*off_r = 0;
			*len_r = m->size;
		} else {
			*off_r = p->body_offset;
			*len_r = p->body_size;
		}
		return 0;
	case IMAP_SECTION_TEXT:
		*off_r = p->body_offset;
		*len_r = p->body_size;
		return 0;
	case IMAP_SECTION_MIME:
		*off_r = p->header_offset;
		*len_r = p->header_size;
		return 0;
	default:
		*off_r = p->header_offset;
		*len_r = p->header_size;
		*header_r = sec->text == IMAP_SECTION_HEADER_FIELDS || sec->text == IMAP_SECTION_HEADER_FIELDS_NOT;
		return 0;
	}
}

static int
imf_field_listed(const struct imf_item *it, const char *name, size_t len)
{
	const char *p = it->fields;

	for (size_t i = 0; i < it->nfields; i++) {
		size_t l = strlen(p);

		if (l == len && strncasecmp(p, name, len) == 0)
			return 1;
		p += l + 1;
	}
	return 0;
}

/* HEADER.FIELDS (NOT): the header's lines of the fields listed (or not), then the empty line. */
static int
imf_header_fields(struct imap_session *s, const struct imf_item *it, int64_t body_id, uint64_t off,
		  uint64_t len)
{
	struct store_err err;
	uint8_t *hdr, *res;
	size_t got = 0, n = 0, keep = 0;
	int not = it->sec.text == IMAP_SECTION_HEADER_FIELDS_NOT;

	if (len > IMF_HEADER_MAX)
		len = IMF_HEADER_MAX;
	hdr = malloc(len + 1);
	res = malloc(len + 3);
	if (hdr == NULL || res == NULL)
		goto fail;
	while (got < len) {
		size_t r;

		if (store_body_read(s->st, body_id, (int64_t)(off + got), hdr + got, len - got, &r, &err) != 0)
			goto fail;
		if (r == 0)
			break;
		got += r;
	}
	for (size_t i = 0; i < got;) {
		size_t e = i;

		while (e < got && hdr[e] != '\n')
			e++;
		e += e < got;
		if (hdr[i] == ' ' || hdr[i] == '\t') {
			/* a continuation keeps its field's verdict */
		} else if (hdr[i] == '\r' || hdr[i] == '\n') {
			keep = 0;	/* the empty line: written below */
		} else {
			const uint8_t *colon = memchr(hdr + i, ':', e - i);
			size_t nl = colon != NULL ? (size_t)(colon - (hdr + i)) : 0;

			while (nl > 0 && (hdr[i + nl - 1] == ' ' || hdr[i + nl - 1] == '\t'))
				nl--;
			keep = colon != NULL && imf_field_listed(it, (const char *)hdr + i, nl) != not;
		}
		if (keep) {
			memcpy(res + n, hdr + i, e - i);
			n += e - i;
		}
		i = e;
	}
	memcpy(res + n, "\r\n", 2);
	n += 2;
	{
		uint64_t o = it->sec.partial ? it->sec.offset : 0, l = n;

		o = o < n ? o : n;
		l = it->sec.partial && it->sec.length < n - o ? it->sec.length : n - o;
		(void)ims_out(s, "%s {%llu}\r\n", it->name, (unsigned long long)l);
		(void)ims_out_raw(s, res + o, (size_t)l);
	}
	free(hdr);
	free(res);
	return 0;
fail:
	free(hdr);
	free(res);
	return -1;
}

/*
 * BINARY[part] (RFC 3516): the part's bytes with their transfer encoding
 * undone, decoded in memory when they fit (IMF_BINARY_MAX), as a literal8
 * when they hold a NUL; BINARY.SIZE: how many. NIL for a part that is not
 * there, a multipart, an encoding we cannot undo, or too large.
 */
static int
imf_binary(struct imap_session *s, struct ims_fetch *f, const struct imf_item *it, const struct store_message *m)
{
	char num[IMAP_PARSE_SECTION_PARTS_MAX * 11];
	const struct mime_part *p = NULL;
	struct mime_decoder dec;
	struct store_err err;
	uint8_t *in = NULL, *out = NULL;
	uint64_t off, left, o = 0, len;
	size_t k = 0;
	int64_t i;
	int rc = 0;

	if (imf_mime(s, f, m) != 0)
		return -1;
	for (size_t j = 0; j < it->sec.nparts; j++)
		k += (size_t)snprintf(num + k, sizeof(num) - k, "%s%u", j > 0 ? "." : "", it->sec.part[j]);
	if (it->sec.nparts == 0) {
		mime_decoder_init(&dec, MIME_CTE_IDENTITY);	/* the whole message, as it is */
		off = 0;
		left = (uint64_t)m->size;
	} else if ((i = mime_find(f->mime, num, k)) >= 0 && !((p = &f->mime->parts[i])->flags & MIME_PART_MULTIPART) &&
		   mime_cte(f->mime, p) != MIME_CTE_UNKNOWN) {
		mime_decoder_init(&dec, mime_cte(f->mime, p));
		off = p->body_offset;
		left = p->body_size;
	} else {
		return ims_out(s, "%s NIL", it->name);
	}
	if (left > IMF_BINARY_MAX)
		return ims_out(s, "%s NIL", it->name);
	in = malloc(IMF_CHUNK);
	out = malloc((size_t)left + 2);
	if (in == NULL || out == NULL) {
		rc = -1;
		goto out;
	}
	while (left > 0) {
		size_t got = 0, want = left < IMF_CHUNK ? (size_t)left : IMF_CHUNK;

		if (store_body_read(s->st, m->body_id, (int64_t)off, in, want, &got, &err) != 0) {
			rc = -1;
			goto out;
		}
		if (got == 0)
			break;
		o += mime_decoder_feed(&dec, in, got, out + o);
		off += got;
		left -= got;
	}
	o += mime_decoder_end(&dec, out + o);
	if (it->kind == IMF_BINARY_SIZE) {
		rc = ims_out(s, "%s %llu", it->name, (unsigned long long)o);
		goto out;
	}
	off = it->sec.partial ? (it->sec.offset < o ? it->sec.offset : o) : 0;
	len = it->sec.partial && it->sec.length < o - off ? it->sec.length : o - off;
	rc = ims_out(s, "%s %s{%llu}\r\n", it->name, memchr(out + off, '\0', (size_t)len) != NULL ? "~" : "",
		     (unsigned long long)len);
	if (rc == 0)
		rc = ims_out_raw(s, out + off, (size_t)len);
out:
	free(in);
	free(out);
	return rc;
}

/* Write one item of message m. A section's bytes may be left to copy (f->lit_left). */
static int
imf_item(struct imap_session *s, struct ims_fetch *f, const struct imf_item *it, const struct store_message *m)
{
	uint64_t off, len;
	int header;

	switch (it->kind) {
	case IMF_FLAGS:
		(void)ims_out(s, "FLAGS ");
		return ims_out_flags(s, m->flags, m->keywords);
	case IMF_UID:
		return ims_out(s, "UID %u", m->uid);
	case IMF_INTERNALDATE:
		(void)ims_out(s, "INTERNALDATE ");
		imf_date(s, m->internal_date);
		return 0;
	case IMF_SIZE:
		return ims_out(s, "RFC822.SIZE %lld", (long long)m->size);
	case IMF_MODSEQ:
		return ims_out(s, "MODSEQ (%llu)", (unsigned long long)m->modseq);
	case IMF_ENVELOPE:
	case IMF_BODYSTRUCTURE:
	case IMF_BODY:
		if (imf_mime(s, f, m) != 0)
			return -1;
		(void)ims_out(s, "%s ", it->name);
		return imf_structure(s, f, it->kind);
	case IMF_BINARY:
	case IMF_BINARY_SIZE:
		return imf_binary(s, f, it, m);
	default:
		break;
	}
	if (it->sec.nparts == 0 && it->sec.text == IMAP_SECTION_ALL) {
		/* The whole message: no structure needed. */
		off = 0;
		len = (uint64_t)m->size;
		header = 0;
	} else {
		if (imf_mime(s, f, m) != 0)
			return -1;
		if (imf_section_range(f->mime, &it->sec, &off, &len, &header) != 0)
			return ims_out(s, "%s \"\"", it->name);
	}
	if (header)
		return imf_header_fields(s, it, m->body_id, off, len);
	if (it->sec.partial) {
		uint64_t o = it->sec.offset < len ? it->sec.offset : len;

		off += o;
		len -= o;
		if (it->sec.length < len)
			len = it->sec.length;
	}
	f->lit_body = m->body_id;
	f->lit_off = off;
	f->lit_left = len;
	return ims_out(s, "%s {%llu}\r\n", it->name, (unsigned long long)len);
}

/* Copy the next piece of the literal under way. Returns 0, or -1 (store). */
static int
imf_copy(struct imap_session *s, struct ims_fetch *f)
{
	size_t want = f->lit_left < IMF_CHUNK ? (size_t)f->lit_left : IMF_CHUNK, got = 0;
	uint8_t *p = ims_out_space(s, want);
	struct store_err err;

	if (p == NULL)
		return -1;
	if (store_body_read(s->st, f->lit_body, (int64_t)f->lit_off, p, want, &got, &err) != 0) {
		log_error(s->sid, "store_error", "during=fetch code=%d error=\"%s\"", err.code, err.msg);
		return -1;
	}
	if (got == 0) {
		/* The body is shorter than its table says: pad, so the literal stays whole. */
		memset(p, ' ', want);
		got = want;
	}
	ims_out_commit(s, got);
	f->lit_off += got;
	f->lit_left -= got;
	return 0;
}

/* The store row of the current view index, or NULL (expunged meanwhile, or not changed since). */
static const struct store_message *
imf_row(struct imap_session *s, struct ims_fetch *f)
{
	uint32_t uid = s->view.uids[f->idx[f->pos]];

	while (f->row < f->nrows && f->rows[f->row].uid < uid)
		f->row++;
	if (f->row < f->nrows && f->rows[f->row].uid == uid)
		return &f->rows[f->row];
	return NULL;
}

int
ims_fetch_step(struct imap_session *s)
{
	struct ims_fetch *f = s->fetch;

	while (f->pos < f->n && s->action == SESSION_GO) {
		const struct store_message *m;

		if (ims_out_room(s) == 0)
			return 0;
		if (f->lit_left > 0) {
			if (imf_copy(s, f) != 0)
				goto fail;
			continue;
		}
		m = imf_row(s, f);
		if (m == NULL || (f->changedsince > 0 && m->modseq <= f->changedsince)) {
			f->pos++;
			continue;
		}
		if (!f->in_msg) {
			(void)ims_out(s, "* %zu FETCH (", f->idx[f->pos] + 1);
			f->in_msg = 1;
			f->item = 0;
			mime_free(&f->mime);
		}
		if (f->item < f->nitems) {
			if (f->item > 0)
				(void)ims_out_raw(s, " ", 1);
			if (imf_item(s, f, &f->items[f->item], m) != 0)
				goto fail;
			f->item++;
			continue;
		}
		(void)ims_out_raw(s, ")\r\n", 3);
		f->in_msg = 0;
		f->pos++;
	}
	return 1;
fail:
	/* Mid-answer the stream cannot be repaired: end the session rather than send a broken one. */
	(void)ims_out(s, ")\r\n* BYE Internal error reading a message\r\n");
	s->state = IMS_LOGOUT;
	s->action = SESSION_CLOSE;
	return 1;
}

/* ---- the command ---- */

/* Set \Seen on the messages a non-PEEK body item reads. */
static int
imf_mark_seen(struct imap_session *s, struct ims_fetch *f)
{
	struct store_flags_update u = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN, .keywords = "" };
	struct store_flags_result res;
	struct store_err err;
	uint32_t *uids;
	int rc;

	if (s->view.readonly || f->n == 0)
		return 0;
	for (size_t i = 0; i < f->nitems; i++) {
		if ((f->items[i].kind == IMF_SECTION || f->items[i].kind == IMF_BINARY) && !f->items[i].peek)
			goto mark;
	}
	return 0;
mark:
	if (imf_add(f, IMF_FLAGS, "FLAGS") != 0 || (uids = malloc(f->n * sizeof(*uids))) == NULL)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		uids[i] = s->view.uids[f->idx[i]];
	rc = store_message_update_flags(s->st, s->view.id, uids, f->n, &u, &res, &err);
	free(uids);
	if (rc == 0 && res.modseq != 0)
		s->view.own_modseq = res.modseq;	/* the answer carries the FLAGS */
	return rc;
}

void
ims_fetch_start(struct imap_session *s, const struct imap_parse_command *c)
{
	struct ims_fetch *f = calloc(1, sizeof(*f));
	struct store_err err;
	int bad = 0;

	if (f == NULL) {
		ims_no(s, "[SERVERBUG] Out of memory");
		return;
	}
	if (c->nargs < 2 || c->nargs > 3) {
		bad = 1;
	} else if (c->args[1].type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < c->args[1].count && !bad; i++)
			bad = imf_item_arg(f, &c->args[1].list[i]) != 0;
		bad = bad || c->args[1].count == 0;
	} else {
		bad = imf_item_arg(f, &c->args[1]) != 0;
	}
	if (!bad && c->nargs == 3)
		bad = imf_modifiers(s, f, &c->args[2], c->uid) != 0;
	if (!bad && c->uid)
		bad = imf_add(f, IMF_UID, "UID") != 0;
	if (!bad && s->enabled & IMS_EN_CONDSTORE && f->changedsince > 0)
		bad = imf_add(f, IMF_MODSEQ, "MODSEQ") != 0;
	if (bad || ims_view_set(s, &c->args[0], c->uid, &f->idx, &f->n) != 0) {
		ims_fetch_free(&f);
		ims_bad(s, "Bad FETCH arguments");
		return;
	}
	/* UID first, as clients like it. */
	for (size_t i = 1; i < f->nitems; i++) {
		if (f->items[i].kind == IMF_UID) {
			struct imf_item t = f->items[i];

			memmove(&f->items[1], &f->items[0], i * sizeof(t));
			f->items[0] = t;
		}
	}
	if (imf_mark_seen(s, f) != 0 ||
	    (f->n > 0 && store_message_range(s->st, s->view.id, s->view.uids[f->idx[0]],
					     s->view.uids[f->idx[f->n - 1]], 0, &f->rows, &f->nrows, &err) != 0)) {
		ims_fetch_free(&f);
		ims_no(s, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	if (f->vanished && ims_view_catch_up(s, f->changedsince, &c->args[0], 0) < 0) {
		ims_fetch_free(&f);
		ims_no(s, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	s->fetch = f;
	if (ims_fetch_step(s)) {
		ims_fetch_free(&s->fetch);
		ims_ok(s, "%sFETCH completed", c->uid ? "UID " : "");
	}
}
