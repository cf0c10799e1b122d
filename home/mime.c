/*
 * mime: the MIME structure of a message, computed as it streams in.
 *
 * RFC 2045 and RFC 2046 (entities, multipart, message/rfc822), RFC 5322
 * (header fields, unfolding), RFC 2231 (parameter continuations), with the
 * IMAP view of RFC 3501 7.4.2 and 6.4.5 (what BODYSTRUCTURE, ENVELOPE and
 * BODY[section] need). The message comes in pieces cut anywhere; the
 * parser keeps one line's first bytes (to recognise a boundary), one
 * header field (to parse it when it is complete) and the stack of open
 * entities, whatever the message's size. A line ends at LF; a CR before it
 * belongs to the line end.
 *
 * Nothing in a message is an error: what is malformed degrades as
 * docs/mime.md says (an invalid Content-Type is text/plain, a multipart
 * whose boundary never comes has no parts, a part that never ends ends
 * with the message, limits make leaves). Offsets are the stored bytes'.
 *
 * No I/O, no globals, no logging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

#define MIME_NAME_MAX 32	/* bytes of a field name looked at (the longest we want is 25) */
#define MIME_SCRATCH_EXTRA 256	/* scratch past header_max: RFC 2231 names gain a "*" each */

/* What an open entity is doing. */
enum mime_state {
	MIME_S_HEADER,		/* in its header */
	MIME_S_BODY,		/* in the body of a leaf (or of an unusable multipart or RFC822 part) */
	MIME_S_PREAMBLE,	/* a multipart before its first boundary */
	MIME_S_PARTS,		/* a multipart with a part open */
	MIME_S_EPILOGUE,	/* a multipart after its close delimiter */
	MIME_S_MESSAGE,		/* an RFC822 part with its message open */
};

/* Header fields we keep; the envelope ones only in a message's header. */
enum mime_fid {
	MIME_FID_NONE = -1,
	MIME_FID_CT = 0,	/* Content-Type */
	MIME_FID_CTE,		/* Content-Transfer-Encoding */
	MIME_FID_CID,
	MIME_FID_CDESC,
	MIME_FID_CDISP,
	MIME_FID_CLANG,
	MIME_FID_CLOC,
	MIME_FID_CMD5,
	MIME_FID_ENV,		/* + enum mime_env_field */
	MIME_FID_COUNT = MIME_FID_ENV + MIME_ENV_FIELDS,
};

static const char *const mime_fid_names[MIME_FID_COUNT] = {
	[MIME_FID_CT] = "content-type",
	[MIME_FID_CTE] = "content-transfer-encoding",
	[MIME_FID_CID] = "content-id",
	[MIME_FID_CDESC] = "content-description",
	[MIME_FID_CDISP] = "content-disposition",
	[MIME_FID_CLANG] = "content-language",
	[MIME_FID_CLOC] = "content-location",
	[MIME_FID_CMD5] = "content-md5",
	[MIME_FID_ENV + MIME_ENV_DATE] = "date",
	[MIME_FID_ENV + MIME_ENV_SUBJECT] = "subject",
	[MIME_FID_ENV + MIME_ENV_FROM] = "from",
	[MIME_FID_ENV + MIME_ENV_SENDER] = "sender",
	[MIME_FID_ENV + MIME_ENV_REPLY_TO] = "reply-to",
	[MIME_FID_ENV + MIME_ENV_TO] = "to",
	[MIME_FID_ENV + MIME_ENV_CC] = "cc",
	[MIME_FID_ENV + MIME_ENV_BCC] = "bcc",
	[MIME_FID_ENV + MIME_ENV_IN_REPLY_TO] = "in-reply-to",
	[MIME_FID_ENV + MIME_ENV_MESSAGE_ID] = "message-id",
};

/* Where a header line is. */
enum mime_hl {
	MIME_HL_NAME,		/* before the colon */
	MIME_HL_VALUE,		/* a field we keep */
	MIME_HL_SKIP,		/* a field we do not keep, or a line that is no field */
};

/* What a Content-Type says, whether or not its strings could be kept. */
enum mime_ct {
	MIME_CT_NONE,		/* none, or invalid: text/plain */
	MIME_CT_OTHER,
	MIME_CT_MULTIPART,
	MIME_CT_DIGEST,		/* multipart/digest */
	MIME_CT_RFC822,		/* message/rfc822 */
};

/* One open entity. */
struct mime_level {
	uint32_t part;		/* its entry */
	uint32_t state;		/* enum mime_state */
	uint64_t body_lfs;	/* LF bytes of the message before its body */
	uint32_t kept;		/* string bytes kept for it (at most header_max) */
	uint32_t seen;		/* bit per enum mime_fid: the first of each field wins */
	uint32_t blen;		/* its boundary's length; 0: none usable */
	uint32_t ct;		/* enum mime_ct */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime *m;
	uint64_t kept;			/* bytes of strings and records kept (kept_max) */
	struct mime_level *lv;		/* the open entities, root first */
	uint32_t nlv, lv_cap;
	uint8_t *bounds;		/* boundary of lv[i] at bounds[i * boundary_max] */
	uint32_t usable;		/* open multiparts with a boundary, not in their epilogue */
	int nomore;			/* a limit was reached: no more structure */
	int failed;			/* out of memory */
	int done;			/* finished */
	/* the current line */
	uint64_t line_start;		/* offset of its first byte */
	uint64_t line_len;		/* its bytes so far, without the LF */
	uint64_t lfs;			/* LF bytes before it */
	uint8_t prev_eol;		/* bytes of the previous line's end: 0 (none), 1 LF, 2 CRLF */
	int last_cr;			/* its last byte so far is CR */
	int dash;			/* it starts with '-': it may be a boundary */
	uint8_t *pre;			/* its first bytes, when dash */
	size_t pre_len, pre_cap;	/* pre_cap = boundary_max + 4: "--" boundary "--" */
	/* the current header field */
	int hl;				/* enum mime_hl */
	uint8_t name[MIME_NAME_MAX];
	size_t name_len;		/* MIME_NAME_MAX + 1: too long to be ours */
	int field;			/* enum mime_fid */
	uint8_t *fbuf;			/* its unfolded value, header_max bytes */
	size_t flen;
	int fcut;			/* it was longer than fbuf */
	uint8_t *scratch;		/* RFC 2231 and address building */
	size_t scratch_cap;
	struct mime_level *cur;		/* the level a field belongs to, during emit callbacks */
	int doing;			/* the field being kept, during emit callbacks */
	uint32_t *count_r;		/* the count an emit callback adds to */
};

/* ---- the table ---- */

void
mime_limits_default(struct mime_limits *lim)
{
	lim->depth_max = MIME_DEPTH_MAX;
	lim->parts_max = MIME_PARTS_MAX;
	lim->header_max = MIME_HEADER_MAX;
	lim->boundary_max = MIME_BOUNDARY_MAX;
	lim->kept_max = MIME_KEPT_MAX;
}

void
mime_free(struct mime **mp)
{
	struct mime *m;

	if (mp == NULL || *mp == NULL)
		return;
	m = *mp;
	free(m->parts);
	free(m->params);
	free(m->addrs);
	free(m->envs);
	free(m->text);
	free(m);
	*mp = NULL;
}

const uint8_t *
mime_str_get(const struct mime *m, struct mime_str s, size_t *len_r)
{
	if (s.off == MIME_NONE) {
		*len_r = 0;
		return NULL;
	}
	*len_r = s.len;
	/* An empty string may come before the text has any bytes at all: present all the same. */
	return m->text != NULL ? m->text + s.off : (const uint8_t *)"";
}

/* Room for one more of n elements of size sz in *arr (capacity *cap). Returns 0 or -1. */
static int
mime_grow(void **arr, uint32_t *cap, uint32_t n, size_t sz)
{
	uint32_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	if (*cap >= UINT32_MAX / 2)
		return -1;
	ncap = *cap == 0 ? 8 : *cap * 2;
	p = realloc(*arr, (size_t)ncap * sz);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- keeping strings within the limits ---- */

/*
 * Keep s[0..len) for the level's part as *str_r. Returns 0 when kept, 1
 * when a limit dropped it (*str_r absent), -1 when out of memory.
 */
static int
mime_keep(struct mime_parser *p, struct mime_level *lv, const uint8_t *s, size_t len,
	  struct mime_str *str_r)
{
	struct mime *m = p->m;

	str_r->off = MIME_NONE;
	str_r->len = 0;
	if (len > p->lim.header_max - lv->kept || len > p->lim.kept_max - p->kept) {
		m->flags |= MIME_F_LIMIT;
		return 1;
	}
	if (m->textlen + len > m->text_cap) {
		size_t ncap = m->text_cap == 0 ? 256 : m->text_cap;
		uint8_t *t;

		while (ncap < m->textlen + len)
			ncap *= 2;
		t = realloc(m->text, ncap);
		if (t == NULL)
			return -1;
		m->text = t;
		m->text_cap = (uint32_t)ncap;
	}
	if (len > 0)
		memcpy(m->text + m->textlen, s, len);
	str_r->off = m->textlen;
	str_r->len = (uint32_t)len;
	m->textlen += (uint32_t)len;
	lv->kept += (uint32_t)len;
	p->kept += len;
	return 0;
}

/* Charge a record of sz bytes to the message. Returns 0, or 1 when that would pass kept_max. */
static int
mime_charge(struct mime_parser *p, size_t sz)
{
	if (sz > p->lim.kept_max - p->kept) {
		p->m->flags |= MIME_F_LIMIT;
		return 1;
	}
	p->kept += sz;
	return 0;
}

/* ---- entities ---- */

static struct mime_part *
mime_lv_part(struct mime_parser *p, const struct mime_level *lv)
{
	return &p->m->parts[lv->part];
}

static uint8_t *
mime_lv_boundary(struct mime_parser *p, uint32_t i)
{
	return p->bounds + (size_t)i * p->lim.boundary_max;
}

/*
 * A new entity at offset off, child of the innermost level (or the root),
 * pushed as a level in its header. Returns 0, 1 when parts_max is reached
 * (nothing made, no more structure from now on), or -1.
 */
static int
mime_push(struct mime_parser *p, uint64_t off, uint32_t flags)
{
	struct mime *m = p->m;
	struct mime_part *part;
	struct mime_level *lv;
	uint32_t parent = p->nlv > 0 ? p->lv[p->nlv - 1].part : MIME_NONE;

	if (m->nparts >= p->lim.parts_max) {
		p->nomore = 1;
		m->flags |= MIME_F_LIMIT;
		return 1;
	}
	if (mime_grow((void **)&m->parts, &m->parts_cap, m->nparts, sizeof(*m->parts)) != 0)
		return -1;
	if (p->nlv >= p->lv_cap) {
		uint32_t ncap = p->lv_cap * 2;
		struct mime_level *nl = realloc(p->lv, (size_t)ncap * sizeof(*nl));
		uint8_t *nb;

		if (nl == NULL)
			return -1;
		p->lv = nl;
		nb = realloc(p->bounds, (size_t)ncap * p->lim.boundary_max);
		if (nb == NULL)
			return -1;
		p->bounds = nb;
		p->lv_cap = ncap;
	}
	if (flags & MIME_PART_MESSAGE) {
		struct mime_envelope *env;

		if (mime_grow((void **)&m->envs, &m->envs_cap, m->nenvs, sizeof(*m->envs)) != 0)
			return -1;
		env = &m->envs[m->nenvs];
		for (int f = 0; f < MIME_ENV_FIELDS; f++) {
			env->field[f].off = MIME_NONE;
			env->field[f].len = 0;
			env->addr_first[f] = 0;
			env->addr_count[f] = 0;
		}
	}
	part = &m->parts[m->nparts];
	memset(part, 0, sizeof(*part));
	part->parent = parent;
	part->subtree = 1;
	part->flags = flags;
	part->envelope = (flags & MIME_PART_MESSAGE) ? m->nenvs++ : MIME_NONE;
	part->header_offset = off;
	part->body_offset = off;
	part->type.off = part->subtype.off = part->id.off = part->description.off = MIME_NONE;
	part->encoding.off = part->md5.off = part->disposition.off = part->location.off = MIME_NONE;
	if (parent != MIME_NONE) {
		struct mime_part *pp = &m->parts[parent];

		pp->children++;
		part->number = pp->children;
		part->depth = pp->depth + 1;
	}
	lv = &p->lv[p->nlv++];
	memset(lv, 0, sizeof(*lv));
	lv->part = m->nparts++;
	lv->state = MIME_S_HEADER;
	return 0;
}

/*
 * Set the MULTIPART and RFC822 flags from what the Content-Type said (or
 * its absence in a multipart/digest: message/rfc822).
 */
static void
mime_classify(struct mime_parser *p, struct mime_level *lv)
{
	struct mime_part *part = mime_lv_part(p, lv);

	if (lv->ct == MIME_CT_MULTIPART || lv->ct == MIME_CT_DIGEST)
		part->flags |= MIME_PART_MULTIPART;
	else if (lv->ct == MIME_CT_RFC822)
		part->flags |= MIME_PART_RFC822;
	else if (!(lv->seen & (1u << MIME_FID_CT)) && lv > p->lv && lv[-1].ct == MIME_CT_DIGEST)
		part->flags |= MIME_PART_RFC822;	/* RFC 2046 5.1.5 */
}

/* The header of the innermost level ended at the start of body_off, all LFs before it counted in lfs. */
static int
mime_header_end(struct mime_parser *p, uint64_t body_off, uint64_t lfs)
{
	struct mime_level *lv = &p->lv[p->nlv - 1];
	struct mime_part *part = mime_lv_part(p, lv);
	int rc;

	part->body_offset = body_off;
	part->header_size = body_off - part->header_offset;
	lv->body_lfs = lfs;
	lv->state = MIME_S_BODY;
	mime_classify(p, lv);
	if (part->flags & MIME_PART_MULTIPART) {
		if (lv->blen == 0) {
			part->flags |= MIME_PART_MALFORMED;
		} else if (part->depth + 1 >= p->lim.depth_max) {
			p->m->flags |= MIME_F_LIMIT;
		} else if (!p->nomore) {
			lv->state = MIME_S_PREAMBLE;
			p->usable++;
		}
	} else if (part->flags & MIME_PART_RFC822) {
		if (part->depth + 1 >= p->lim.depth_max) {
			p->m->flags |= MIME_F_LIMIT;
		} else if (!p->nomore) {
			uint32_t k = p->nlv - 1;

			/* Pushing may move the levels and parts: lv and part are stale after it. */
			rc = mime_push(p, body_off, MIME_PART_MESSAGE);
			if (rc < 0)
				return -1;
			if (rc == 0)
				p->lv[k].state = MIME_S_MESSAGE;
		}
	}
	return 0;
}

/* ---- header fields ---- */

/* Which field name[0..len) is, or MIME_FID_NONE. */
static int
mime_field_id(const uint8_t *name, size_t len, int message)
{
	/* "Subject : x" (RFC 5322 4.5, obsolete): blanks before the colon. */
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	for (int f = 0; f < MIME_FID_COUNT; f++) {
		if (f >= MIME_FID_ENV && !message)
			break;
		if (mime_field_is(name, len, mime_fid_names[f]))
			return f;
	}
	return MIME_FID_NONE;
}

/* emit callback for parameters: keep name and value in the current level's part. */
static int
mime_param_emit(void *ctx, struct mime_span name, struct mime_span value)
{
	struct mime_parser *p = ctx;
	struct mime *m = p->m;
	struct mime_param prm;
	int rc;

	if (name.p != NULL && p->doing == MIME_FID_CT && p->cur->blen == 0 &&
	    mime_field_is(name.p, name.len, "boundary") && value.len > 0) {
		if (value.len <= p->lim.boundary_max) {
			memcpy(mime_lv_boundary(p, (uint32_t)(p->cur - p->lv)), value.p, value.len);
			p->cur->blen = (uint32_t)value.len;
		}
	}
	if (mime_charge(p, sizeof(prm)) != 0)
		return 0;
	prm.name.off = MIME_NONE;
	prm.name.len = 0;
	if (name.p != NULL && (rc = mime_keep(p, p->cur, name.p, name.len, &prm.name)) != 0)
		return rc < 0 ? -1 : 0;
	if ((rc = mime_keep(p, p->cur, value.p, value.len, &prm.value)) != 0)
		return rc < 0 ? -1 : 0;
	if (mime_grow((void **)&m->params, &m->params_cap, m->nparams, sizeof(prm)) != 0)
		return -1;
	m->params[m->nparams++] = prm;
	(*p->count_r)++;
	return 0;
}

/* Parameters in v[0..len) (rewritten in place) into the part, first at *first_r, counted in *count_r. */
static int
mime_params(struct mime_parser *p, uint8_t *v, size_t len, uint32_t *first_r, uint32_t *count_r)
{
	struct mime_field_param prm[MIME_PARAMS_MAX];
	size_t n = mime_field_params(v, len, prm, MIME_PARAMS_MAX);

	*first_r = p->m->nparams;
	*count_r = 0;
	p->count_r = count_r;
	return mime_field_rfc2231(prm, n, p->scratch, p->scratch_cap, mime_param_emit, p);
}

/* emit callback for addresses: keep one in the current envelope. */
static int
mime_addr_emit(void *ctx, const struct mime_addr_item *it)
{
	struct mime_parser *p = ctx;
	struct mime *m = p->m;
	struct mime_addr a;
	const struct mime_span *src[4] = { &it->name, &it->route, &it->mailbox, &it->host };
	struct mime_str *dst[4] = { &a.name, &a.route, &a.mailbox, &a.host };

	if (mime_charge(p, sizeof(a)) != 0)
		return 0;
	a.kind = (uint32_t)it->kind;
	for (int i = 0; i < 4; i++) {
		dst[i]->off = MIME_NONE;
		dst[i]->len = 0;
		if (src[i]->p != NULL) {
			int rc = mime_keep(p, p->cur, src[i]->p, src[i]->len, dst[i]);

			if (rc < 0)
				return -1;
			/* A group's start or end may not go while the other stays: keep it without strings. */
			if (rc > 0 && it->kind == MIME_ADDR_MAILBOX)
				return 0;
		}
	}
	if (mime_grow((void **)&m->addrs, &m->addrs_cap, m->naddrs, sizeof(a)) != 0)
		return -1;
	m->addrs[m->naddrs++] = a;
	(*p->count_r)++;
	return 0;
}

/* The field in fbuf is complete: keep what it says. */
static int
mime_field_done(struct mime_parser *p)
{
	struct mime_level *lv = &p->lv[p->nlv - 1];
	struct mime_part *part = mime_lv_part(p, lv);
	uint8_t *v = p->fbuf;
	size_t len = p->flen;
	struct mime_span a, b, rest;
	int f = p->field, rc = 0;

	p->field = MIME_FID_NONE;
	if (f == MIME_FID_NONE)
		return 0;
	if (p->fcut)
		p->m->flags |= MIME_F_LIMIT;
	if (lv->seen & (1u << f))
		return 0;
	lv->seen |= 1u << f;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	p->cur = lv;
	p->doing = f;
	switch (f) {
	case MIME_FID_CT:
		if (mime_field_type(v, len, &a, &b, &rest) != 0) {
			part->flags |= MIME_PART_MALFORMED;
			break;
		}
		/* The structure must not depend on whether the strings fit. */
		if (mime_field_is(a.p, a.len, "multipart"))
			lv->ct = mime_field_is(b.p, b.len, "digest") ? MIME_CT_DIGEST : MIME_CT_MULTIPART;
		else if (mime_field_is(a.p, a.len, "message") && mime_field_is(b.p, b.len, "rfc822"))
			lv->ct = MIME_CT_RFC822;
		else
			lv->ct = MIME_CT_OTHER;
		if ((rc = mime_keep(p, lv, a.p, a.len, &part->type)) != 0 ||
		    (rc = mime_keep(p, lv, b.p, b.len, &part->subtype)) != 0) {
			/* Both or neither. */
			part->type.off = part->subtype.off = MIME_NONE;
			if (rc < 0)
				break;
		}
		/* Always: the boundary is among them. */
		rc = mime_params(p, (uint8_t *)rest.p, rest.len, &part->param_first, &part->param_count);
		break;
	case MIME_FID_CDISP:
		if (mime_field_token(v, len, &a, &rest) != 0)
			break;
		if ((rc = mime_keep(p, lv, a.p, a.len, &part->disposition)) != 0)
			break;
		rc = mime_params(p, (uint8_t *)rest.p, rest.len, &part->dparam_first, &part->dparam_count);
		break;
	case MIME_FID_CTE:
		if (mime_field_token(v, len, &a, &rest) != 0) {
			part->flags |= MIME_PART_MALFORMED;
			break;
		}
		rc = mime_keep(p, lv, a.p, a.len, &part->encoding);
		break;
	case MIME_FID_CLANG: {
		struct mime_span tags[MIME_PARAMS_MAX];
		size_t n = mime_field_languages(v, len, tags, MIME_PARAMS_MAX);
		struct mime_span none = { NULL, 0 };

		part->lang_first = p->m->nparams;
		part->lang_count = 0;
		p->count_r = &part->lang_count;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = mime_param_emit(p, none, tags[i]);
		break;
	}
	case MIME_FID_CID:
		rc = mime_keep(p, lv, v, len, &part->id);
		break;
	case MIME_FID_CDESC:
		rc = mime_keep(p, lv, v, len, &part->description);
		break;
	case MIME_FID_CLOC:
		rc = mime_keep(p, lv, v, len, &part->location);
		break;
	case MIME_FID_CMD5:
		rc = mime_keep(p, lv, v, len, &part->md5);
		break;
	default: {
		struct mime_envelope *env = &p->m->envs[part->envelope];
		int e = f - MIME_FID_ENV;

		rc = mime_keep(p, lv, v, len, &env->field[e]);
		if (rc != 0 || e < MIME_ENV_FROM || e > MIME_ENV_BCC)
			break;
		env->addr_first[e] = p->m->naddrs;
		env->addr_count[e] = 0;
		p->count_r = &env->addr_count[e];
		if (mime_addr_parse(v, len, p->scratch, p->scratch_cap, mime_addr_emit, p) < 0)
			rc = -1;
		break;
	}
	}
	return rc < 0 ? -1 : 0;
}

/* Bytes s[0..n) of a header line (no LF); first: they start the line. */
static int
mime_header_bytes(struct mime_parser *p, const uint8_t *s, size_t n, int first)
{
	size_t i = 0;

	if (first) {
		if (s[0] == ' ' || s[0] == '\t') {
			/* A continuation: unfolding keeps the blank. */
			p->hl = p->field != MIME_FID_NONE ? MIME_HL_VALUE : MIME_HL_SKIP;
		} else {
			if (mime_field_done(p) != 0)
				return -1;
			p->hl = MIME_HL_NAME;
			p->name_len = 0;
		}
	}
	while (i < n) {
		switch (p->hl) {
		case MIME_HL_NAME: {
			const uint8_t *colon = memchr(s + i, ':', n - i);
			size_t k = colon != NULL ? (size_t)(colon - (s + i)) : n - i;

			if (p->name_len + k <= MIME_NAME_MAX) {
				memcpy(p->name + p->name_len, s + i, k);
				p->name_len += k;
			} else {
				p->name_len = MIME_NAME_MAX + 1;
			}
			i += k;
			if (colon == NULL)
				break;
			i++;
			p->field = p->name_len <= MIME_NAME_MAX ?
				mime_field_id(p->name, p->name_len,
					      (p->m->parts[p->lv[p->nlv - 1].part].flags & MIME_PART_MESSAGE) != 0) :
				MIME_FID_NONE;
			p->hl = p->field != MIME_FID_NONE ? MIME_HL_VALUE : MIME_HL_SKIP;
			p->flen = 0;
			p->fcut = 0;
			break;
		}
		case MIME_HL_VALUE:
			/* Unfolded: CR and LF go; so do NULs, which no IMAP string can carry. */
			for (; i < n; i++) {
				if (s[i] == '\r' || s[i] == '\0')
					continue;
				/* Blanks before the value are not part of it (RFC 5322 2.2, unfolding aside). */
				if (p->flen == 0 && (s[i] == ' ' || s[i] == '\t'))
					continue;
				if (p->flen < p->lim.header_max)
					p->fbuf[p->flen++] = s[i];
				else
					p->fcut = 1;
			}
			break;
		default:
			i = n;
			break;
		}
	}
	return 0;
}

/* ---- lines and boundaries ---- */

/*
 * Close the innermost level at a boundary line starting at off with the
 * previous line's end of pe bytes before it (that line end belongs to the
 * boundary), or at the end of the message (pe 0).
 */
static int
mime_pop(struct mime_parser *p, uint64_t off, uint8_t pe)
{
	struct mime_level *lv = &p->lv[p->nlv - 1];
	struct mime_part *part = mime_lv_part(p, lv);

	switch (lv->state) {
	case MIME_S_HEADER:
		/* No empty line: the header is all there is. */
		if (mime_field_done(p) != 0)
			return -1;
		part->header_size = off - part->header_offset;
		part->body_offset = off;
		part->body_size = 0;
		part->body_lines = 0;
		part->flags |= MIME_PART_MALFORMED;
		mime_classify(p, lv);
		break;
	case MIME_S_PREAMBLE:
		/* The boundary never came. */
		part->flags |= MIME_PART_MALFORMED;
		p->usable--;
		goto body;
	case MIME_S_PARTS:
		/* No close delimiter. */
		part->flags |= MIME_PART_MALFORMED;
		p->usable--;
		goto body;
	default:
	body:
		if (pe > 0 && off >= part->body_offset + pe) {
			part->body_size = off - pe - part->body_offset;
			part->body_lines = p->lfs - 1 - lv->body_lfs;
		} else if (pe > 0) {
			/* The line end before the boundary is the header's empty line: no body. */
			part->body_size = 0;
			part->body_lines = 0;
		} else {
			part->body_size = off - part->body_offset;
			part->body_lines = p->lfs - lv->body_lfs;
		}
		break;
	}
	part->subtree = p->m->nparts - lv->part;
	p->nlv--;
	return 0;
}

/* The level whose boundary the current line is, or -1; *close_r: it is the close delimiter. */
static int64_t
mime_boundary_match(struct mime_parser *p, size_t content_len, int *close_r)
{
	size_t have = p->pre_len < content_len ? p->pre_len : content_len;

	for (uint32_t i = p->nlv; i-- > 0;) {
		const struct mime_level *lv = &p->lv[i];

		if (lv->blen == 0 || (lv->state != MIME_S_PREAMBLE && lv->state != MIME_S_PARTS))
			continue;
		/* "--" and the boundary (p->dash only says the first byte is '-'). */
		if (have < 2 + (size_t)lv->blen || p->pre[1] != '-' ||
		    memcmp(p->pre + 2, mime_lv_boundary(p, i), lv->blen) != 0)
			continue;
		*close_r = have >= 4 + (size_t)lv->blen && p->pre[2 + lv->blen] == '-' &&
			   p->pre[3 + lv->blen] == '-';
		return i;
	}
	return -1;
}

/* The current line is the boundary of level k: close what is inside it, open the next part. */
static int
mime_boundary(struct mime_parser *p, uint32_t k, int close, uint64_t next)
{
	uint64_t off = p->line_start;

	while (p->nlv > k + 1) {
		if (mime_pop(p, off, p->prev_eol) != 0)
			return -1;
	}
	if (close) {
		p->lv[k].state = MIME_S_EPILOGUE;
		p->usable--;
		return 0;
	}
	p->lv[k].state = MIME_S_PARTS;
	return mime_push(p, next, 0) < 0 ? -1 : 0;
}

/* The current line ended: with its LF (lf), or at the end of the message. */
static int
mime_line_end(struct mime_parser *p, int lf)
{
	struct mime_level *lv = &p->lv[p->nlv - 1];
	size_t content_len = p->line_len - (lf && p->last_cr ? 1 : 0);
	uint64_t next = p->line_start + p->line_len + (lf ? 1 : 0);
	int handled = 0;

	if (p->dash && p->usable > 0 && !p->nomore) {
		int close = 0;
		int64_t k = mime_boundary_match(p, content_len, &close);

		if (k >= 0 && !close && p->m->nparts >= p->lim.parts_max) {
			/* No room for the part: from here on, all is the open part's body. */
			p->nomore = 1;
			p->m->flags |= MIME_F_LIMIT;
		} else if (k >= 0) {
			if (mime_boundary(p, (uint32_t)k, close, next) != 0)
				return -1;
			handled = 1;
		}
	}
	if (!handled && lv->state == MIME_S_HEADER && content_len == 0) {
		if (mime_field_done(p) != 0 || mime_header_end(p, next, p->lfs + (lf ? 1 : 0)) != 0)
			return -1;
	}
	if (lf)
		p->lfs++;
	/*
	 * A boundary line keeps its own line end: a boundary right after it
	 * takes none from what it closes (RFC 2046's "[CRLF epilogue]"; Dovecot
	 * reads it so too).
	 */
	p->prev_eol = lf && !handled ? (p->last_cr ? 2 : 1) : 0;
	p->line_start = next;
	p->line_len = 0;
	p->pre_len = 0;
	p->last_cr = 0;
	p->dash = 0;
	return 0;
}

/* Bytes s[0..n) (n > 0, no LF) of the current line. */
static int
mime_line_bytes(struct mime_parser *p, const uint8_t *s, size_t n)
{
	int first = p->line_len == 0;

	if (first)
		p->dash = s[0] == '-';
	if (p->dash && p->pre_len < p->pre_cap) {
		size_t k = n < p->pre_cap - p->pre_len ? n : p->pre_cap - p->pre_len;

		memcpy(p->pre + p->pre_len, s, k);
		p->pre_len += k;
	}
	p->line_len += n;
	p->last_cr = s[n - 1] == '\r';
	if (p->lv[p->nlv - 1].state == MIME_S_HEADER)
		return mime_header_bytes(p, s, n, first);
	return 0;
}

/* ---- the API ---- */

int
mime_parser_new(const struct mime_limits *lim, struct mime_parser **p_r)
{
	struct mime_parser *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	if (lim != NULL)
		p->lim = *lim;
	else
		mime_limits_default(&p->lim);
	if (p->lim.depth_max < 1 || p->lim.depth_max > MIME_LIMIT_DEPTH_MAX || p->lim.parts_max < 1 ||
	    p->lim.header_max < MIME_LIMIT_HEADER_MIN || p->lim.header_max > UINT32_MAX / 4 ||
	    p->lim.boundary_max < 1 || p->lim.boundary_max > MIME_LIMIT_BOUNDARY_MAX ||
	    p->lim.kept_max < p->lim.header_max)
		goto fail;
	p->m = calloc(1, sizeof(*p->m));
	p->lv_cap = 4;
	p->lv = calloc(p->lv_cap, sizeof(*p->lv));
	p->bounds = malloc((size_t)p->lv_cap * p->lim.boundary_max);
	p->pre_cap = p->lim.boundary_max + 4;
	p->pre = malloc(p->pre_cap);
	p->fbuf = malloc(p->lim.header_max);
	p->scratch_cap = (size_t)p->lim.header_max + MIME_SCRATCH_EXTRA;
	p->scratch = malloc(p->scratch_cap);
	if (p->m == NULL || p->lv == NULL || p->bounds == NULL || p->pre == NULL || p->fbuf == NULL ||
	    p->scratch == NULL)
		goto fail;
	p->field = MIME_FID_NONE;
	if (mime_push(p, 0, MIME_PART_MESSAGE) != 0)
		goto fail;
	*p_r = p;
	return 0;
fail:
	mime_parser_free(&p);
	return -1;
}

void
mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p;

	if (pp == NULL || *pp == NULL)
		return;
	p = *pp;
	mime_free(&p->m);
	free(p->lv);
	free(p->bounds);
	free(p->pre);
	free(p->fbuf);
	free(p->scratch);
	free(p);
	*pp = NULL;
}

int
mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const uint8_t *s = data;
	size_t i = 0;

	if (p->failed || p->done)
		return -1;
	while (i < len) {
		const uint8_t *lf = memchr(s + i, '\n', len - i);
		size_t end = lf != NULL ? (size_t)(lf - s) : len;

		if (end > i && mime_line_bytes(p, s + i, end - i) != 0)
			goto fail;
		if (lf == NULL)
			break;
		if (mime_line_end(p, 1) != 0)
			goto fail;
		i = end + 1;
	}
	return 0;
fail:
	p->failed = 1;
	return -1;
}

int
mime_parser_finish(struct mime_parser *p, struct mime **m_r)
{
	uint64_t end;

	if (p->failed || p->done)
		return -1;
	p->done = 1;
	if (p->line_len > 0 && mime_line_end(p, 0) != 0)
		return -1;
	end = p->line_start;
	while (p->nlv > 0) {
		if (mime_pop(p, end, 0) != 0)
			return -1;
	}
	p->m->size = end;
	p->m->lines = p->lfs;
	for (uint32_t i = 0; i < p->m->nparts; i++) {
		if (p->m->parts[i].flags & MIME_PART_MALFORMED)
			p->m->flags |= MIME_F_MALFORMED;
	}
	*m_r = p->m;
	p->m = NULL;
	return 0;
}

int
mime_parse(const void *data, size_t len, const struct mime_limits *lim, struct mime **m_r)
{
	struct mime_parser *p = NULL;
	int rc = -1;

	if (mime_parser_new(lim, &p) != 0)
		return -1;
	if (mime_parser_feed(p, data, len) == 0 && mime_parser_finish(p, m_r) == 0)
		rc = 0;
	mime_parser_free(&p);
	return rc;
}

/* ---- sections ---- */

int64_t
mime_find(const struct mime *m, const char *section, size_t len)
{
	uint32_t cur = 0;
	int addressed = 0;
	size_t i = 0;

	if (len == 0)
		return -1;
	while (i < len) {
		uint64_t x = 0;
		size_t start = i;

		while (i < len && section[i] >= '0' && section[i] <= '9') {
			x = x * 10 + (uint64_t)(section[i] - '0');
			if (x > UINT32_MAX)
				return -1;
			i++;
		}
		/* nz-number (RFC 3501 9): no leading zero; a dot only between numbers. */
		if (i == start || section[start] == '0' || (i < len && (section[i] != '.' || i + 1 == len)))
			return -1;
		if (i < len)
			i++;
		for (;;) {
			const struct mime_part *pt = &m->parts[cur];
			uint32_t c;

			if (pt->flags & MIME_PART_MULTIPART) {
				/* Its parts (none when it is unusable: BODYSTRUCTURE shows an empty one). */
				if (x > pt->children)
					return -1;
				c = cur + 1;
				for (uint64_t k = 1; k < x; k++)
					c += m->parts[c].subtree;
				cur = c;
				addressed = 1;
				break;
			}
			if (!addressed) {
				/* A message that is not multipart: its body is part 1. */
				if (x != 1)
					return -1;
				addressed = 1;
				break;
			}
			if ((pt->flags & MIME_PART_RFC822) && pt->children == 1) {
				/* An RFC822 part's parts are its message's. */
				cur++;
				addressed = 0;
				continue;
			}
			return -1;
		}
	}
	if (!addressed)
		return -1;
	return cur;
}

int
mime_section(const struct mime *m, uint32_t i, char *out, size_t cap)
{
	uint32_t chain[MIME_LIMIT_DEPTH_MAX + 1];
	size_t n = 0, o = 0;

	if (i >= m->nparts || cap == 0)
		return -1;
	for (uint32_t c = i; c != MIME_NONE; c = m->parts[c].parent) {
		if (n >= sizeof(chain) / sizeof(chain[0]))
			return -1;
		chain[n++] = c;
	}
	/* From the root down; each step appends its numbers. */
	while (n-- > 0) {
		const struct mime_part *pt = &m->parts[chain[n]];
		const struct mime_part *pp = pt->parent != MIME_NONE ? &m->parts[pt->parent] : NULL;
		char num[16];
		int k;

		if (pp != NULL && (pp->flags & MIME_PART_MULTIPART)) {
			k = snprintf(num, sizeof(num), "%s%u", o > 0 ? "." : "", pt->number);
		} else if (!(pt->flags & MIME_PART_MULTIPART) && (pt->flags & MIME_PART_MESSAGE)) {
			/* A message's body is its part 1 (the root's, or an RFC822 part's message). */
			k = snprintf(num, sizeof(num), "%s1", o > 0 ? "." : "");
		} else {
			continue;
		}
		if (k < 0 || (size_t)k >= cap - o)
			return -1;
		memcpy(out + o, num, (size_t)k);
		o += (size_t)k;
	}
	out[o] = '\0';
	return (int)o;
}
