/*
 * imap_search: SEARCH and UID SEARCH with every criterion of RFC 3501 and
 * RFC 9051, MODSEQ (RFC 7162) and ESEARCH's RETURN options (RFC 4731).
 * The criteria become a small tree, evaluated per message of the view
 * over the store's rows; text criteria are answered by the store's
 * full-text index as a set of UIDs, once per criterion, before the walk
 * (HEADER of a field the index has no column for: the index narrows, the
 * message's header decides).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_int.h"
#include "mime.h"

#define ISR_NODES_MAX 256	/* criteria in one SEARCH */
#define ISR_SCAN_CHUNK (64 * 1024)

enum isr_op {
	ISR_ALL,
	ISR_AND,		/* children kids[0..nkids) */
	ISR_OR,			/* kids[0], kids[1] */
	ISR_NOT,		/* kids[0] */
	ISR_FLAG,		/* has flag */
	ISR_NOFLAG,		/* has not flag */
	ISR_KEYWORD,
	ISR_UNKEYWORD,
	ISR_LARGER,
	ISR_SMALLER,
	ISR_BEFORE,		/* internal date, by day */
	ISR_ON,
	ISR_SINCE,
	ISR_SENTBEFORE,		/* Date: header, by day */
	ISR_SENTON,
	ISR_SENTSINCE,
	ISR_SEQ,		/* a sequence set: mark[] over the view */
	ISR_UIDSET,		/* a UID set: mark[] over the view */
	ISR_TEXT,		/* a text criterion: uids[] from the store or a scan */
	ISR_MODSEQ,
	ISR_NONE,		/* matches nothing (NEW, RECENT: nothing is recent) */
};

enum isr_field {
	ISR_F_TEXT,
	ISR_F_BODY,
	ISR_F_HEADER,		/* any header field named name */
};

struct isr_node {
	int op;
	unsigned flag;
	const char *str;	/* KEYWORD, text: the argument (NUL-terminated in the parser) */
	size_t len;
	const char *name;	/* HEADER's field name */
	size_t namelen;
	int field;		/* enum isr_field */
	int64_t num;		/* LARGER, SMALLER, MODSEQ; dates as a day number */
	uint8_t *mark;		/* SEQ, UIDSET: one byte per view index */
	uint32_t *uids;		/* TEXT: matching UIDs (or candidates), ascending, from the store's index */
	size_t nuids;
	int verify;		/* TEXT: uids are candidates; read the message to be sure (HEADER of any field) */
	size_t kids[ISR_NODES_MAX];
	size_t nkids;
};

struct isr {
	struct imap_session *s;
	struct isr_node *nodes;
	size_t n;
	const struct imap_arg *args;
	size_t nargs, at;
	uint64_t maxmodseq;	/* the MODSEQ criterion's answer */
	int has_modseq;
};

/* ---- dates ---- */

/* Days since 1970-01-01 of a civil date. */
static int64_t
isr_days(int64_t y, int m, int d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
isr_month(const char *p)
{
	static const char *const mon[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec" };

	for (int i = 0; i < 12; i++) {
		if (strncasecmp(p, mon[i], 3) == 0)
			return i + 1;
	}
	return 0;
}

/* An IMAP date "1-Feb-1994" as a day number. Returns 0, or -1. */
static int
isr_date_arg(const char *s, size_t len, int64_t *day_r)
{
	char buf[32];
	int d, y, m;
	char mon[4];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (sscanf(buf, "%2d-%3[A-Za-z]-%4d", &d, mon, &y) != 3 || (m = isr_month(mon)) == 0 || d < 1 || d > 31)
		return -1;
	*day_r = isr_days(y, m, d);
	return 0;
}

/* The day of an RFC 5322 Date value ("Tue, 1 Jul 2003 10:52:37 +0200"), in its own zone. */
static int
isr_date_header(const uint8_t *v, size_t len, int64_t *day_r)
{
	char buf[128], mon[4];
	const char *p = buf;
	int d, y, m;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (strchr(buf, ',') != NULL)
		p = strchr(buf, ',') + 1;
	if (sscanf(p, " %2d %3[A-Za-z] %4d", &d, mon, &y) != 3 || (m = isr_month(mon)) == 0)
		return -1;
	if (y < 50)
		y += 2000;
	else if (y < 1000)
		y += 1900;
	*day_r = isr_days(y, m, d);
	return 0;
}

/* ---- parsing the criteria ---- */

static int isr_parse_key(struct isr *q, size_t *node_r);

static int
isr_node(struct isr *q, int op, size_t *node_r)
{
	if (q->n == ISR_NODES_MAX)
		return -1;
	memset(&q->nodes[q->n], 0, sizeof(q->nodes[q->n]));
	q->nodes[q->n].op = op;
	*node_r = q->n++;
	return 0;
}

static const struct imap_arg *
isr_next(struct isr *q)
{
	return q->at < q->nargs ? &q->args[q->at++] : NULL;
}

/* The string argument of a criterion into node k. */
static int
isr_string(struct isr *q, size_t k)
{
	const struct imap_arg *a = isr_next(q);

	if (a == NULL || imap_parse_arg_astring(a, &q->nodes[k].str, &q->nodes[k].len) != 0)
		return -1;
	return 0;
}

static int
isr_mark_set(struct isr *q, size_t k, const struct imap_arg *a, int uid)
{
	size_t *idx = NULL, n = 0;
	struct isr_node *node = &q->nodes[k];

	if (ims_view_set(q->s, a, uid, &idx, &n) != 0)
		return -1;
	node->mark = calloc(q->s->view.n > 0 ? q->s->view.n : 1, 1);
	if (node->mark == NULL) {
		free(idx);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		node->mark[idx[i]] = 1;
	free(idx);
	return 0;
}

static int
isr_list(struct isr *q, const struct imap_arg *list, size_t count, size_t *node_r)
{
	const struct imap_arg *save = q->args;
	size_t savelen = q->nargs, saveat = q->at, k;

	if (isr_node(q, ISR_AND, &k) != 0)
		return -1;
	q->args = list;
	q->nargs = count;
	q->at = 0;
	while (q->at < q->nargs) {
		size_t kid;

		if (isr_parse_key(q, &kid) != 0 || q->nodes[k].nkids == ISR_NODES_MAX)
			return -1;
		q->nodes[k].kids[q->nodes[k].nkids++] = kid;
	}
	q->args = save;
	q->nargs = savelen;
	q->at = saveat;
	*node_r = k;
	return count > 0 ? 0 : -1;
}

static int
isr_parse_key(struct isr *q, size_t *node_r)
{
	static const struct {
		const char *word;
		int op;
		unsigned flag;
	} flags[] = {
		{ "ANSWERED", ISR_FLAG, STORE_FLAG_ANSWERED }, { "DELETED", ISR_FLAG, STORE_FLAG_DELETED },
		{ "DRAFT", ISR_FLAG, STORE_FLAG_DRAFT }, { "FLAGGED", ISR_FLAG, STORE_FLAG_FLAGGED },
		{ "SEEN", ISR_FLAG, STORE_FLAG_SEEN }, { "OLD", ISR_ALL, 0 },
		{ "UNANSWERED", ISR_NOFLAG, STORE_FLAG_ANSWERED }, { "UNDELETED", ISR_NOFLAG, STORE_FLAG_DELETED },
		{ "UNDRAFT", ISR_NOFLAG, STORE_FLAG_DRAFT }, { "UNFLAGGED", ISR_NOFLAG, STORE_FLAG_FLAGGED },
		{ "UNSEEN", ISR_NOFLAG, STORE_FLAG_SEEN }, { "ALL", ISR_ALL, 0 },
		{ "NEW", ISR_NONE, 0 }, { "RECENT", ISR_NONE, 0 },
	};
	static const struct {
		const char *word;
		int op;
	} dates[] = {
		{ "BEFORE", ISR_BEFORE }, { "ON", ISR_ON }, { "SINCE", ISR_SINCE },
		{ "SENTBEFORE", ISR_SENTBEFORE }, { "SENTON", ISR_SENTON }, { "SENTSINCE", ISR_SENTSINCE },
	};
	static const struct {
		const char *word;
		const char *header;	/* NULL: TEXT or BODY */
		int field;
	} texts[] = {
		{ "TEXT", NULL, ISR_F_TEXT }, { "BODY", NULL, ISR_F_BODY }, { "SUBJECT", "Subject", ISR_F_HEADER },
		{ "FROM", "From", ISR_F_HEADER }, { "TO", "To", ISR_F_HEADER }, { "CC", "Cc", ISR_F_HEADER },
		{ "BCC", "Bcc", ISR_F_HEADER },
	};
	const struct imap_arg *a = isr_next(q);
	size_t k;
	uint64_t v;

	if (a == NULL)
		return -1;
	if (a->type == IMAP_ARG_LIST)
		return isr_list(q, a->list, a->count, node_r);
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER)
		return -1;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (imap_parse_arg_is(a, flags[i].word)) {
			if (isr_node(q, flags[i].op, node_r) != 0)
				return -1;
			q->nodes[*node_r].flag = flags[i].flag;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (imap_parse_arg_is(a, dates[i].word)) {
			const struct imap_arg *d = isr_next(q);
			const char *str;
			size_t len;

			if (d == NULL || imap_parse_arg_astring(d, &str, &len) != 0 ||
			    isr_node(q, dates[i].op, node_r) != 0)
				return -1;
			return isr_date_arg(str, len, &q->nodes[*node_r].num);
		}
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (imap_parse_arg_is(a, texts[i].word)) {
			if (isr_node(q, ISR_TEXT, &k) != 0 || isr_string(q, k) != 0)
				return -1;
			q->nodes[k].field = texts[i].field;
			q->nodes[k].name = texts[i].header;
			q->nodes[k].namelen = texts[i].header != NULL ? strlen(texts[i].header) : 0;
			*node_r = k;
			return 0;
		}
	}
	if (imap_parse_arg_is(a, "HEADER")) {
		const struct imap_arg *f = isr_next(q);

		if (f == NULL || isr_node(q, ISR_TEXT, &k) != 0 ||
		    imap_parse_arg_astring(f, &q->nodes[k].name, &q->nodes[k].namelen) != 0 || isr_string(q, k) != 0)
			return -1;
		q->nodes[k].field = ISR_F_HEADER;
		*node_r = k;
		return 0;
	}
	if (imap_parse_arg_is(a, "KEYWORD") || imap_parse_arg_is(a, "UNKEYWORD")) {
		int op = imap_parse_arg_is(a, "KEYWORD") ? ISR_KEYWORD : ISR_UNKEYWORD;

		if (isr_node(q, op, &k) != 0 || isr_string(q, k) != 0)
			return -1;
		*node_r = k;
		return 0;
	}
	if (imap_parse_arg_is(a, "LARGER") || imap_parse_arg_is(a, "SMALLER") || imap_parse_arg_is(a, "MODSEQ")) {
		int op = imap_parse_arg_is(a, "LARGER") ? ISR_LARGER : imap_parse_arg_is(a, "SMALLER") ? ISR_SMALLER
												  : ISR_MODSEQ;
		const struct imap_arg *n = isr_next(q);

		if (op == ISR_MODSEQ && n != NULL && n->type == IMAP_ARG_STRING) {
			/* MODSEQ "/flags/\\Seen" all|priv|shared: the entry is ignored (one MODSEQ per message) */
			if (isr_next(q) == NULL)
				return -1;
			n = isr_next(q);
		}
		if (n == NULL || imap_parse_arg_number(n, INT64_MAX, &v) != 0 || isr_node(q, op, &k) != 0)
			return -1;
		q->nodes[k].num = (int64_t)v;
		if (op == ISR_MODSEQ) {
			q->has_modseq = 1;
			q->s->enabled |= IMS_EN_CONDSTORE;
		}
		*node_r = k;
		return 0;
	}
	if (imap_parse_arg_is(a, "NOT")) {
		size_t kid;

		if (isr_node(q, ISR_NOT, &k) != 0 || isr_parse_key(q, &kid) != 0)
			return -1;
		q->nodes[k].kids[0] = kid;
		q->nodes[k].nkids = 1;
		*node_r = k;
		return 0;
	}
	if (imap_parse_arg_is(a, "OR")) {
		size_t k1, k2;

		if (isr_node(q, ISR_OR, &k) != 0 || isr_parse_key(q, &k1) != 0 || isr_parse_key(q, &k2) != 0)
			return -1;
		q->nodes[k].kids[0] = k1;
		q->nodes[k].kids[1] = k2;
		q->nodes[k].nkids = 2;
		*node_r = k;
		return 0;
	}
	if (imap_parse_arg_is(a, "UID")) {
		const struct imap_arg *set = isr_next(q);

		if (set == NULL || isr_node(q, ISR_UIDSET, &k) != 0 || isr_mark_set(q, k, set, 1) != 0)
			return -1;
		*node_r = k;
		return 0;
	}
	/* A sequence set. */
	if (isr_node(q, ISR_SEQ, &k) != 0 || isr_mark_set(q, k, a, 0) != 0)
		return -1;
	*node_r = k;
	return 0;
}

/* ---- text ---- */

/* Whether needle[0..nl) occurs in hay[0..hl), ASCII letters matched without regard to case. */
static int
isr_contains(const uint8_t *hay, size_t hl, const char *needle, size_t nl)
{
	if (nl == 0)
		return 1;
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t j = 0;

		while (j < nl && (hay[i + j] | (uint8_t)((hay[i + j] >= 'A' && hay[i + j] <= 'Z') << 5)) ==
					 ((uint8_t)needle[j] | (uint8_t)((needle[j] >= 'A' && needle[j] <= 'Z') << 5)))
			j++;
		if (j == nl)
			return 1;
	}
	return 0;
}

/* HEADER name contains s: each field of that name in header[0..len), unfolded as it is. */
static int
isr_header_match(const uint8_t *h, size_t len, const struct isr_node *n)
{
	for (size_t i = 0; i < len;) {
		size_t e = i;

		while (e < len && !(h[e] == '\n' && (e + 1 >= len || (h[e + 1] != ' ' && h[e + 1] != '\t'))))
			e++;
		if (e - i > n->namelen && h[i + n->namelen] == ':' &&
		    strncasecmp((const char *)h + i, n->name, n->namelen) == 0 &&
		    isr_contains(h + i + n->namelen + 1, e - i - n->namelen - 1, n->str, n->len))
			return 1;
		i = e + 1;
	}
	return 0;
}

/*
 * Whether message m's header has a field n->name that contains n->str:
 * the header's bytes (its size from the MIME table) read from the store.
 * Used for HEADER of a field the index has no column of its own for, on
 * the index's candidates.
 */
static int
isr_scan(struct imap_session *s, const struct store_message *m, const struct isr_node *n, int *match_r)
{
	struct store_err err;
	struct mime *mime = NULL;
	uint8_t *buf;
	size_t got = 0, len;

	*match_r = 0;
	if (store_body_mime(s->st, m->body_id, &mime, &err) != 0)
		return -1;
	len = (size_t)mime->parts[0].header_size;
	mime_free(&mime);
	if ((buf = malloc(len + 1)) == NULL)
		return -1;
	while (got < len) {
		size_t r;

		if (store_body_read(s->st, m->body_id, (int64_t)got, buf + got, len - got, &r, &err) != 0) {
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		got += r;
	}
	*match_r = isr_header_match(buf, got, n);
	free(buf);
	return 0;
}

/* The Date header's day of m, or -1 when it has none. */
static int64_t
isr_sent_day(struct imap_session *s, const struct store_message *m)
{
	struct store_err err;
	uint8_t buf[4096];
	size_t got = 0;
	int64_t day;

	if (store_body_read(s->st, m->body_id, 0, buf, sizeof(buf) - 1, &got, &err) != 0)
		return -1;
	for (size_t i = 0; i + 5 < got; i++) {
		if ((i == 0 || buf[i - 1] == '\n') && strncasecmp((const char *)buf + i, "Date:", 5) == 0) {
			size_t e = i + 5;

			while (e < got && buf[e] != '\n')
				e++;
			if (isr_date_header(buf + i + 5, e - i - 5, &day) == 0)
				return day;
			return -1;
		}
		if (buf[i] == '\n' && (buf[i + 1] == '\n' || buf[i + 1] == '\r'))
			break;
	}
	return -1;
}

/* The store's field for a text node, and whether its answer is only a candidate set. */
static int
isr_store_field(const struct isr_node *n, int *verify_r)
{
	static const struct {
		const char *name;
		int field;
	} named[] = {
		{ "Subject", STORE_SEARCH_SUBJECT }, { "From", STORE_SEARCH_FROM }, { "To", STORE_SEARCH_TO },
		{ "Cc", STORE_SEARCH_CC }, { "Bcc", STORE_SEARCH_BCC },
	};

	*verify_r = 0;
	if (n->field == ISR_F_TEXT)
		return STORE_SEARCH_TEXT;
	if (n->field == ISR_F_BODY)
		return STORE_SEARCH_BODY;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (n->namelen == strlen(named[i].name) && strncasecmp(n->name, named[i].name, n->namelen) == 0)
			return named[i].field;
	}
	*verify_r = 1;
	return STORE_SEARCH_HEADER;
}

/* Ask the store's full-text index for every text node's UIDs, once, before the walk. */
static int
isr_text_lookups(struct isr *q, struct store_err *err)
{
	for (size_t k = 0; k < q->n; k++) {
		struct isr_node *n = &q->nodes[k];
		int field;

		if (n->op != ISR_TEXT)
			continue;
		field = isr_store_field(n, &n->verify);
		if (store_search_text(q->s->st, q->s->view.id, field, n->str, n->len, &n->uids, &n->nuids, err) != 0)
			return -1;
	}
	return 0;
}

static int
isr_uid_in(const struct isr_node *n, uint32_t uid)
{
	size_t k = ims_uid_lower(n->uids, n->nuids, uid);

	return k < n->nuids && n->uids[k] == uid;
}

/* ---- evaluation ---- */

static int
isr_eval(struct isr *q, size_t k, size_t idx, const struct store_message *m)
{
	struct isr_node *n = &q->nodes[k];
	int64_t day, sent;
	int match;

	switch (n->op) {
	case ISR_ALL:
		return 1;
	case ISR_NONE:
		return 0;
	case ISR_AND:
		for (size_t i = 0; i < n->nkids; i++) {
			if (!isr_eval(q, n->kids[i], idx, m))
				return 0;
		}
		return 1;
	case ISR_OR:
		return isr_eval(q, n->kids[0], idx, m) || isr_eval(q, n->kids[1], idx, m);
	case ISR_NOT:
		return !isr_eval(q, n->kids[0], idx, m);
	case ISR_FLAG:
		return (m->flags & n->flag) != 0;
	case ISR_NOFLAG:
		return (m->flags & n->flag) == 0;
	case ISR_KEYWORD:
	case ISR_UNKEYWORD: {
		const char *p = m->keywords;
		int has = 0;

		while (*p != '\0' && !has) {
			size_t l = strcspn(p, " ");

			has = l == n->len && strncasecmp(p, n->str, l) == 0;
			p += l;
			p += *p == ' ';
		}
		return n->op == ISR_KEYWORD ? has : !has;
	}
	case ISR_LARGER:
		return m->size > n->num;
	case ISR_SMALLER:
		return m->size < n->num;
	case ISR_MODSEQ:
		if (m->modseq < (uint64_t)n->num)
			return 0;
		return 1;
	case ISR_BEFORE:
	case ISR_ON:
	case ISR_SINCE:
		day = m->internal_date >= 0 ? m->internal_date / 86400 : (m->internal_date - 86399) / 86400;
		return n->op == ISR_BEFORE ? day < n->num : n->op == ISR_ON ? day == n->num : day >= n->num;
	case ISR_SENTBEFORE:
	case ISR_SENTON:
	case ISR_SENTSINCE:
		if ((sent = isr_sent_day(q->s, m)) < 0)
			return 0;
		return n->op == ISR_SENTBEFORE ? sent < n->num : n->op == ISR_SENTON ? sent == n->num : sent >= n->num;
	case ISR_SEQ:
	case ISR_UIDSET:
		return n->mark[idx];
	case ISR_TEXT:
		if (!isr_uid_in(n, m->uid))
			return 0;
		return !n->verify || (isr_scan(q->s, m, n, &match) == 0 && match);
	default:
		return 0;
	}
}

/* ---- the answer ---- */

#define RET_MIN 0x01
#define RET_MAX 0x02
#define RET_ALL 0x04
#define RET_COUNT 0x08

static void
isr_free(struct isr *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->nodes[i].mark);
		free(q->nodes[i].uids);
	}
	free(q->nodes);
}

void
ims_search(struct imap_session *s, const struct imap_parse_command *c)
{
	struct isr q = { .s = s, .args = c->args, .nargs = c->nargs };
	struct store_message *rows = NULL;
	struct store_err err;
	size_t nrows = 0, root, nres = 0, r = 0;
	uint32_t *res = NULL;
	unsigned ret = 0;
	int esearch = 0;

	q.nodes = malloc(ISR_NODES_MAX * sizeof(*q.nodes));
	if (q.nodes == NULL) {
		ims_no(s, "[SERVERBUG] Out of memory");
		return;
	}
	if (q.at < q.nargs && imap_parse_arg_is(&q.args[q.at], "RETURN")) {
		const struct imap_arg *opts = q.at + 1 < q.nargs ? &q.args[q.at + 1] : NULL;

		if (opts == NULL || opts->type != IMAP_ARG_LIST)
			goto bad;
		esearch = 1;
		for (size_t i = 0; i < opts->count; i++) {
			const struct imap_arg *o = &opts->list[i];

			ret |= imap_parse_arg_is(o, "MIN") ? RET_MIN : imap_parse_arg_is(o, "MAX") ? RET_MAX :
			       imap_parse_arg_is(o, "ALL") ? RET_ALL : imap_parse_arg_is(o, "COUNT") ? RET_COUNT : 0x100;
		}
		if (ret & 0x100)
			goto bad;
		if (ret == 0)
			ret = RET_ALL;
		q.at += 2;
	}
	if (q.at < q.nargs && imap_parse_arg_is(&q.args[q.at], "CHARSET")) {
		const char *cs;
		size_t len;

		if (q.at + 1 >= q.nargs || imap_parse_arg_astring(&q.args[q.at + 1], &cs, &len) != 0)
			goto bad;
		if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
			isr_free(&q);
			ims_no(s, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return;
		}
		q.at += 2;
	}
	if (q.at >= q.nargs || isr_list(&q, q.args + q.at, q.nargs - q.at, &root) != 0)
		goto bad;
	if (isr_text_lookups(&q, &err) != 0 || store_message_list(s->st, s->view.id, &rows, &nrows, &err) != 0) {
		isr_free(&q);
		if (err.code == STORE_E_INVALID)
			ims_bad(s, "Bad SEARCH string: %s", err.msg);
		else
			ims_store_failed(s, "search", &err);
		return;
	}
	res = malloc((s->view.n > 0 ? s->view.n : 1) * sizeof(*res));
	if (res == NULL) {
		store_message_list_free(&rows, nrows);
		isr_free(&q);
		ims_no(s, "[SERVERBUG] Out of memory");
		return;
	}
	for (size_t i = 0; i < s->view.n; i++) {
		uint32_t uid = s->view.uids[i];

		while (r < nrows && rows[r].uid < uid)
			r++;
		if (r >= nrows || rows[r].uid != uid)
			continue;	/* expunged meanwhile */
		if (isr_eval(&q, root, i, &rows[r])) {
			res[nres++] = c->uid ? uid : (uint32_t)(i + 1);
			if (rows[r].modseq > q.maxmodseq)
				q.maxmodseq = rows[r].modseq;
		}
	}
	if (esearch) {
		(void)ims_out(s, "* ESEARCH (TAG ");
		(void)ims_out_string(s, s->tag, strlen(s->tag));
		(void)ims_out(s, ")%s", c->uid ? " UID" : "");
		if (ret & RET_MIN && nres > 0)
			(void)ims_out(s, " MIN %u", res[0]);
		if (ret & RET_MAX && nres > 0)
			(void)ims_out(s, " MAX %u", res[nres - 1]);
		if (ret & RET_COUNT)
			(void)ims_out(s, " COUNT %zu", nres);
		if (ret & RET_ALL && nres > 0) {
			char *set = ims_set_text(res, nres);

			(void)ims_out(s, " ALL %s", set != NULL ? set : "");
			free(set);
		}
		if (q.has_modseq && nres > 0)
			(void)ims_out(s, " MODSEQ %llu", (unsigned long long)q.maxmodseq);
		(void)ims_out_raw(s, "\r\n", 2);
	} else {
		(void)ims_out(s, "* SEARCH");
		for (size_t i = 0; i < nres; i++)
			(void)ims_out(s, " %u", res[i]);
		if (q.has_modseq && nres > 0)
			(void)ims_out(s, " (MODSEQ %llu)", (unsigned long long)q.maxmodseq);
		(void)ims_out_raw(s, "\r\n", 2);
	}
	free(res);
	store_message_list_free(&rows, nrows);
	isr_free(&q);
	ims_ok(s, "%sSEARCH completed", c->uid ? "UID " : "");
	return;
bad:
	isr_free(&q);
	ims_bad(s, "Bad SEARCH criteria");
}
