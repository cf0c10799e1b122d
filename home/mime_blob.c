/*
 * mime_blob: the table as bytes for the store, and back.
 *
 * "HPMIME" and a version byte, then unsigned LEB128 numbers (canonical:
 * no needless 0x80 bytes), the strings' bytes, and the records
 * (docs/mime.md, "The blob"). A string is 0 when absent, else off + 1 and
 * its length. Offsets of a part's body are not stored: body_offset is
 * header_offset + header_size.
 *
 * Reading trusts nothing: the store hands back what it was given, but a
 * damaged row must be refused, not followed. Every count is checked
 * against the bytes left before anything is allocated, every string
 * against the text, every index against its array, every offset against
 * the message's size, and the tree against itself (preorder, subtree
 * sizes, parents, numbers, depth, which parts are messages), so FETCH can
 * walk it without checks of its own.
 *
 * No I/O, no globals.
 */
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "mime.h"

#define MIME_BLOB_MAGIC "HPMIME"
#define MIME_BLOB_MAGIC_LEN 6
#define MIME_BLOB_VARINT_MAX 10	/* bytes of a 64-bit LEB128 number */
#define MIME_BLOB_FLAGS (MIME_F_MALFORMED | MIME_F_LIMIT)
#define MIME_BLOB_PART_FLAGS (MIME_PART_MULTIPART | MIME_PART_RFC822 | MIME_PART_MESSAGE | \
			      MIME_PART_MALFORMED)

/* ---- writing ---- */

struct mime_blob_out {
	uint8_t *p;
	size_t len, cap;
	int failed;
};

static void
mime_blob_bytes(struct mime_blob_out *o, const void *s, size_t n)
{
	if (o->failed)
		return;
	if (n > o->cap - o->len) {
		size_t ncap = o->cap == 0 ? 1024 : o->cap;
		uint8_t *np;

		while (ncap - o->len < n)
			ncap *= 2;
		np = realloc(o->p, ncap);
		if (np == NULL) {
			o->failed = 1;
			return;
		}
		o->p = np;
		o->cap = ncap;
	}
	if (n > 0)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
mime_blob_num(struct mime_blob_out *o, uint64_t v)
{
	uint8_t b[MIME_BLOB_VARINT_MAX];
	size_t n = 0;

	do {
		b[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			b[n] |= 0x80;
		n++;
	} while (v != 0);
	mime_blob_bytes(o, b, n);
}

static void
mime_blob_str(struct mime_blob_out *o, struct mime_str s)
{
	if (s.off == MIME_NONE) {
		mime_blob_num(o, 0);
		return;
	}
	mime_blob_num(o, (uint64_t)s.off + 1);
	mime_blob_num(o, s.len);
}

/* An index that may be MIME_NONE, as index + 1. */
static void
mime_blob_idx(struct mime_blob_out *o, uint32_t i)
{
	mime_blob_num(o, i == MIME_NONE ? 0 : (uint64_t)i + 1);
}

int
mime_blob_write(const struct mime *m, uint8_t **blob_r, size_t *len_r)
{
	struct mime_blob_out o = { NULL, 0, 0, 0 };

	mime_blob_bytes(&o, MIME_BLOB_MAGIC, MIME_BLOB_MAGIC_LEN);
	mime_blob_num(&o, MIME_BLOB_VERSION);
	mime_blob_num(&o, m->size);
	mime_blob_num(&o, m->lines);
	mime_blob_num(&o, m->flags);
	mime_blob_num(&o, m->nparts);
	mime_blob_num(&o, m->nparams);
	mime_blob_num(&o, m->naddrs);
	mime_blob_num(&o, m->nenvs);
	mime_blob_num(&o, m->textlen);
	mime_blob_bytes(&o, m->text, m->textlen);
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct mime_part *pt = &m->parts[i];

		mime_blob_idx(&o, pt->parent);
		mime_blob_num(&o, pt->subtree);
		mime_blob_num(&o, pt->children);
		mime_blob_num(&o, pt->number);
		mime_blob_num(&o, pt->depth);
		mime_blob_num(&o, pt->flags);
		mime_blob_idx(&o, pt->envelope);
		mime_blob_num(&o, pt->header_offset);
		mime_blob_num(&o, pt->header_size);
		mime_blob_num(&o, pt->body_size);
		mime_blob_num(&o, pt->body_lines);
		mime_blob_str(&o, pt->type);
		mime_blob_str(&o, pt->subtype);
		mime_blob_num(&o, pt->param_first);
		mime_blob_num(&o, pt->param_count);
		mime_blob_str(&o, pt->id);
		mime_blob_str(&o, pt->description);
		mime_blob_str(&o, pt->encoding);
		mime_blob_str(&o, pt->md5);
		mime_blob_str(&o, pt->disposition);
		mime_blob_num(&o, pt->dparam_first);
		mime_blob_num(&o, pt->dparam_count);
		mime_blob_num(&o, pt->lang_first);
		mime_blob_num(&o, pt->lang_count);
		mime_blob_str(&o, pt->location);
	}
	for (uint32_t i = 0; i < m->nparams; i++) {
		mime_blob_str(&o, m->params[i].name);
		mime_blob_str(&o, m->params[i].value);
	}
	for (uint32_t i = 0; i < m->naddrs; i++) {
		mime_blob_num(&o, m->addrs[i].kind);
		mime_blob_str(&o, m->addrs[i].name);
		mime_blob_str(&o, m->addrs[i].route);
		mime_blob_str(&o, m->addrs[i].mailbox);
		mime_blob_str(&o, m->addrs[i].host);
	}
	for (uint32_t i = 0; i < m->nenvs; i++) {
		for (int f = 0; f < MIME_ENV_FIELDS; f++) {
			mime_blob_str(&o, m->envs[i].field[f]);
			mime_blob_num(&o, m->envs[i].addr_first[f]);
			mime_blob_num(&o, m->envs[i].addr_count[f]);
		}
	}
	if (o.failed) {
		free(o.p);
		return -1;
	}
	*blob_r = o.p;
	*len_r = o.len;
	return 0;
}

/* ---- reading ---- */

struct mime_blob_in {
	struct cursor c;
	const struct mime *m;
	int bad;
};

/* A canonical LEB128 number of at most max; sets bad (and returns 0) when it is not one. */
static uint64_t
mime_blob_get(struct mime_blob_in *in, uint64_t max)
{
	uint64_t v = 0;
	uint8_t b = 0x80;

	for (unsigned shift = 0; (b & 0x80) && !in->bad; shift += 7) {
		if (cursor_u8(&in->c, &b) != 0 || shift > 63 || (shift == 63 && (b & 0x7e)) ||
		    (shift > 0 && b == 0))
			in->bad = 1;
		else
			v |= (uint64_t)(b & 0x7f) << shift;
	}
	if (in->bad || v > max) {
		in->bad = 1;
		return 0;
	}
	return v;
}

static uint32_t
mime_blob_get32(struct mime_blob_in *in, uint32_t max)
{
	return (uint32_t)mime_blob_get(in, max);
}

static struct mime_str
mime_blob_get_str(struct mime_blob_in *in)
{
	struct mime_str s = { MIME_NONE, 0 };
	uint64_t off = mime_blob_get(in, in->m->textlen + 1ull);

	if (off == 0)
		return s;
	s.off = (uint32_t)(off - 1);
	s.len = mime_blob_get32(in, in->m->textlen - s.off);
	return s;
}

/* An index below n, or MIME_NONE, as written by mime_blob_idx(). */
static uint32_t
mime_blob_get_idx(struct mime_blob_in *in, uint32_t n)
{
	uint64_t v = mime_blob_get(in, n);

	return v == 0 ? MIME_NONE : (uint32_t)(v - 1);
}

/* 1 if first + count stays within n. */
static int
mime_blob_range(uint32_t first, uint32_t count, uint32_t n)
{
	return first <= n && count <= n - first;
}

/* The tree, offsets and references of a table read back. Returns 0 or -1. */
static int
mime_blob_check(const struct mime *m)
{
	uint32_t *stack = NULL, *nchild = NULL;
	uint32_t depth = 0;
	int rc = -1;

	if (m->nparts == 0 || m->parts[0].subtree != m->nparts || m->parts[0].parent != MIME_NONE ||
	    !(m->parts[0].flags & MIME_PART_MESSAGE))
		return -1;
	stack = malloc((size_t)(MIME_LIMIT_DEPTH_MAX + 1) * sizeof(*stack));
	nchild = calloc(m->nparts, sizeof(*nchild));
	if (stack == NULL || nchild == NULL)
		goto fail;
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct mime_part *pt = &m->parts[i];
		uint32_t parent;
		int message;

		/* Close the subtrees that end before i; the innermost left is the parent. */
		while (depth > 0 && i >= stack[depth - 1] + m->parts[stack[depth - 1]].subtree)
			depth--;
		parent = depth > 0 ? stack[depth - 1] : MIME_NONE;
		if (i > 0 && parent == MIME_NONE)
			goto fail;
		if (pt->parent != parent || pt->subtree == 0 || pt->subtree > m->nparts - i ||
		    (parent != MIME_NONE && i + pt->subtree > parent + m->parts[parent].subtree) ||
		    pt->depth != depth || depth > MIME_LIMIT_DEPTH_MAX)
			goto fail;
		if (parent != MIME_NONE && pt->number != ++nchild[parent])
			goto fail;
		if (parent == MIME_NONE && pt->number != 0)
			goto fail;
		if ((pt->flags & ~(uint32_t)MIME_BLOB_PART_FLAGS) != 0 ||
		    ((pt->flags & MIME_PART_MULTIPART) && (pt->flags & MIME_PART_RFC822)))
			goto fail;
		/* A message is the root or an RFC822 part's one child; only messages have envelopes. */
		message = parent == MIME_NONE || (m->parts[parent].flags & MIME_PART_RFC822);
		if (message != ((pt->flags & MIME_PART_MESSAGE) != 0) ||
		    message != (pt->envelope != MIME_NONE))
			goto fail;
		if (parent != MIME_NONE && !(m->parts[parent].flags & (MIME_PART_MULTIPART | MIME_PART_RFC822)))
			goto fail;
		if ((pt->flags & MIME_PART_RFC822) && (pt->children > 1 ||
		    (pt->subtree > 1 && m->parts[i + 1].subtree != pt->subtree - 1)))
			goto fail;
		/* Offsets within the message (overflow-safe). */
		if (pt->header_offset > m->size || pt->header_size > m->size - pt->header_offset ||
		    pt->body_offset != pt->header_offset + pt->header_size ||
		    pt->body_size > m->size - pt->body_offset || pt->body_lines > m->lines)
			goto fail;
		if (!mime_blob_range(pt->param_first, pt->param_count, m->nparams) ||
		    !mime_blob_range(pt->dparam_first, pt->dparam_count, m->nparams) ||
		    !mime_blob_range(pt->lang_first, pt->lang_count, m->nparams))
			goto fail;
		/* Type and subtype: both or neither. */
		if ((pt->type.off == MIME_NONE) != (pt->subtype.off == MIME_NONE))
			goto fail;
		if (depth >= MIME_LIMIT_DEPTH_MAX + 1)
			goto fail;
		stack[depth++] = i;
	}
	for (uint32_t i = 0; i < m->nparts; i++) {
		if (m->parts[i].children != nchild[i])
			goto fail;
	}
	for (uint32_t i = 0; i < m->naddrs; i++) {
		if (m->addrs[i].kind > MIME_ADDR_GROUP_END)
			goto fail;
	}
	for (uint32_t i = 0; i < m->nenvs; i++) {
		for (int f = 0; f < MIME_ENV_FIELDS; f++) {
			if (!mime_blob_range(m->envs[i].addr_first[f], m->envs[i].addr_count[f], m->naddrs))
				goto fail;
		}
	}
	rc = 0;
fail:
	free(stack);
	free(nchild);
	return rc;
}

int
mime_blob_read(const uint8_t *blob, size_t len, struct mime **m_r)
{
	struct mime_blob_in in;
	struct mime *m;
	uint64_t left;

	if (len > MIME_BLOB_MAX || len < MIME_BLOB_MAGIC_LEN || memcmp(blob, MIME_BLOB_MAGIC, MIME_BLOB_MAGIC_LEN) != 0)
		return -1;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -1;
	in.c = cursor_init(blob + MIME_BLOB_MAGIC_LEN, len - MIME_BLOB_MAGIC_LEN);
	in.m = m;
	in.bad = 0;
	if (mime_blob_get(&in, MIME_BLOB_VERSION) != MIME_BLOB_VERSION)
		goto fail;
	m->size = mime_blob_get(&in, UINT64_MAX);
	m->lines = mime_blob_get(&in, m->size);
	m->flags = mime_blob_get32(&in, MIME_BLOB_FLAGS);
	/* Every record takes at least a byte: a count past the bytes left is a lie. */
	left = in.c.left;
	m->nparts = mime_blob_get32(&in, (uint32_t)(left < UINT32_MAX ? left : UINT32_MAX));
	m->nparams = mime_blob_get32(&in, (uint32_t)(left < UINT32_MAX ? left : UINT32_MAX));
	m->naddrs = mime_blob_get32(&in, (uint32_t)(left < UINT32_MAX ? left : UINT32_MAX));
	m->nenvs = mime_blob_get32(&in, (uint32_t)(left < UINT32_MAX ? left : UINT32_MAX));
	m->textlen = mime_blob_get32(&in, (uint32_t)(left < UINT32_MAX ? left : UINT32_MAX));
	if (in.bad || m->nparts == 0)
		goto fail;
	m->parts = calloc(m->nparts, sizeof(*m->parts));
	m->params = calloc(m->nparams > 0 ? m->nparams : 1, sizeof(*m->params));
	m->addrs = calloc(m->naddrs > 0 ? m->naddrs : 1, sizeof(*m->addrs));
	m->envs = calloc(m->nenvs > 0 ? m->nenvs : 1, sizeof(*m->envs));
	m->text = malloc(m->textlen > 0 ? m->textlen : 1);
	if (m->parts == NULL || m->params == NULL || m->addrs == NULL || m->envs == NULL || m->text == NULL)
		goto fail;
	m->parts_cap = m->nparts;
	m->params_cap = m->nparams;
	m->addrs_cap = m->naddrs;
	m->envs_cap = m->nenvs;
	m->text_cap = m->textlen;
	if (cursor_copy(&in.c, m->text, m->textlen) != 0)
		goto fail;
	/* No string may hold what an IMAP string cannot (the parser never keeps these). */
	for (uint32_t i = 0; i < m->textlen; i++) {
		if (m->text[i] == '\0' || m->text[i] == '\r' || m->text[i] == '\n')
			goto fail;
	}
	for (uint32_t i = 0; i < m->nparts && !in.bad; i++) {
		struct mime_part *pt = &m->parts[i];

		pt->parent = mime_blob_get_idx(&in, m->nparts);
		pt->subtree = mime_blob_get32(&in, m->nparts);
		pt->children = mime_blob_get32(&in, m->nparts);
		pt->number = mime_blob_get32(&in, m->nparts);
		pt->depth = mime_blob_get32(&in, MIME_LIMIT_DEPTH_MAX);
		pt->flags = mime_blob_get32(&in, MIME_BLOB_PART_FLAGS);
		pt->envelope = mime_blob_get_idx(&in, m->nenvs);
		pt->header_offset = mime_blob_get(&in, m->size);
		pt->header_size = mime_blob_get(&in, m->size);
		pt->body_offset = pt->header_offset + pt->header_size;
		pt->body_size = mime_blob_get(&in, m->size);
		pt->body_lines = mime_blob_get(&in, m->lines);
		pt->type = mime_blob_get_str(&in);
		pt->subtype = mime_blob_get_str(&in);
		pt->param_first = mime_blob_get32(&in, m->nparams);
		pt->param_count = mime_blob_get32(&in, m->nparams);
		pt->id = mime_blob_get_str(&in);
		pt->description = mime_blob_get_str(&in);
		pt->encoding = mime_blob_get_str(&in);
		pt->md5 = mime_blob_get_str(&in);
		pt->disposition = mime_blob_get_str(&in);
		pt->dparam_first = mime_blob_get32(&in, m->nparams);
		pt->dparam_count = mime_blob_get32(&in, m->nparams);
		pt->lang_first = mime_blob_get32(&in, m->nparams);
		pt->lang_count = mime_blob_get32(&in, m->nparams);
		pt->location = mime_blob_get_str(&in);
	}
	for (uint32_t i = 0; i < m->nparams && !in.bad; i++) {
		m->params[i].name = mime_blob_get_str(&in);
		m->params[i].value = mime_blob_get_str(&in);
	}
	for (uint32_t i = 0; i < m->naddrs && !in.bad; i++) {
		m->addrs[i].kind = mime_blob_get32(&in, MIME_ADDR_GROUP_END);
		m->addrs[i].name = mime_blob_get_str(&in);
		m->addrs[i].route = mime_blob_get_str(&in);
		m->addrs[i].mailbox = mime_blob_get_str(&in);
		m->addrs[i].host = mime_blob_get_str(&in);
	}
	for (uint32_t i = 0; i < m->nenvs && !in.bad; i++) {
		for (int f = 0; f < MIME_ENV_FIELDS; f++) {
			m->envs[i].field[f] = mime_blob_get_str(&in);
			m->envs[i].addr_first[f] = mime_blob_get32(&in, m->naddrs);
			m->envs[i].addr_count[f] = mime_blob_get32(&in, m->naddrs);
		}
	}
	if (in.bad || in.c.left != 0 || mime_blob_check(m) != 0)
		goto fail;
	*m_r = m;
	return 0;
fail:
	mime_free(&m);
	return -1;
}
