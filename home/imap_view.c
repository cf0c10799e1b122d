/*
 * imap_view: the selected mailbox as one session sees it. Sequence
 * numbers are this session's (RFC 9051 2.3.1.2): they change only when
 * it is told of an expunge. News comes from the store (a change in this
 * mailbox, from any session or delivery) and is told at the points the
 * RFC allows: EXISTS and flag updates after any command, EXPUNGE not
 * during FETCH, STORE or SEARCH.
 */
#include <stdlib.h>
#include <string.h>

#include "imap_int.h"
#include "log.h"

size_t
ims_uid_lower(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t
ims_view_lower(const struct ims_view *v, uint32_t uid)
{
	return ims_uid_lower(v->uids, v->n, uid);
}

int64_t
ims_view_find(const struct ims_view *v, uint32_t uid)
{
	size_t k = ims_view_lower(v, uid);

	return k < v->n && v->uids[k] == uid ? (int64_t)k : -1;
}

static int
ims_view_push(struct ims_view *v, uint32_t uid)
{
	if (v->n == v->cap) {
		size_t cap = v->cap > 0 ? v->cap * 2 : 64;
		uint32_t *p = realloc(v->uids, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		v->uids = p;
		v->cap = cap;
	}
	v->uids[v->n++] = uid;
	return 0;
}

void
ims_view_close(struct imap_session *s)
{
	free(s->view.uids);
	memset(&s->view, 0, sizeof(s->view));
	if (s->state == IMS_SELECTED)
		s->state = IMS_AUTH;
}

int
ims_view_set(struct imap_session *s, const struct imap_arg *arg, int uid, size_t **idx_r, size_t *n_r)
{
	struct ims_view *v = &s->view;
	struct imap_parse_seq *seq;
	uint8_t *mark = NULL;
	size_t *idx = NULL, n = 0;
	int64_t count;
	int saved = 0;

	*idx_r = NULL;
	*n_r = 0;
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NUMBER)
		return -1;
	seq = malloc(IMS_SEQ_MAX * sizeof(*seq));
	if (seq == NULL)
		return -1;
	count = imap_parse_seqset(arg->str, arg->len, seq, IMS_SEQ_MAX, &saved);
	if (count < 0 || count > IMS_SEQ_MAX || saved) {
		free(seq);
		return -1;
	}
	if (v->n == 0) {
		free(seq);
		return 0;
	}
	mark = calloc(v->n, 1);
	idx = malloc(v->n * sizeof(*idx));
	if (mark == NULL || idx == NULL)
		goto fail;
	for (int64_t i = 0; i < count; i++) {
		uint64_t star = uid ? v->uids[v->n - 1] : v->n;
		uint64_t a = seq[i].first == IMAP_PARSE_SEQ_STAR ? star : seq[i].first;
		uint64_t b = seq[i].last == IMAP_PARSE_SEQ_STAR ? star : seq[i].last;
		size_t from, to;

		if (a > b) {
			uint64_t t = a;

			a = b;
			b = t;
		}
		if (uid) {
			from = ims_view_lower(v, (uint32_t)a);
			to = b >= UINT32_MAX ? v->n : ims_view_lower(v, (uint32_t)b + 1);
		} else {
			if (a > v->n)
				continue;	/* the caller answers BAD for a number past the end */
			from = (size_t)a - 1;
			to = b > v->n ? v->n : (size_t)b;
		}
		for (size_t k = from; k < to; k++)
			mark[k] = 1;
	}
	for (size_t k = 0; k < v->n; k++) {
		if (mark[k])
			idx[n++] = k;
	}
	free(mark);
	free(seq);
	*idx_r = idx;
	*n_r = n;
	return 0;
fail:
	free(mark);
	free(idx);
	free(seq);
	return -1;
}

/*
 * Tell EXPUNGE (or, under QRESYNC, one VANISHED) for the view's UIDs in
 * gone[0..n) (ascending), and drop them.
 */
static void
ims_view_expunge(struct imap_session *s, const uint32_t *gone, size_t n)
{
	struct ims_view *v = &s->view;
	uint32_t *told = malloc((n > 0 ? n : 1) * sizeof(*told));
	size_t ntold = 0;

	/* From the last: each number told is right when it is read. */
	for (size_t i = n; i-- > 0;) {
		int64_t k = ims_view_find(v, gone[i]);

		if (k < 0)
			continue;
		if (!(s->enabled & IMS_EN_QRESYNC))
			(void)ims_out(s, "* %lld EXPUNGE\r\n", (long long)k + 1);
		else if (told != NULL)
			told[ntold++] = gone[i];
		memmove(v->uids + k, v->uids + k + 1, (v->n - (size_t)k - 1) * sizeof(*v->uids));
		v->n--;
	}
	if (ntold > 0) {
		char *set;

		for (size_t i = 0; i < ntold / 2; i++) {
			uint32_t t = told[i];

			told[i] = told[ntold - 1 - i];
			told[ntold - 1 - i] = t;
		}
		if ((set = ims_set_text(told, ntold)) != NULL)
			(void)ims_out(s, "* VANISHED %s\r\n", set);
		free(set);
	}
	free(told);
}

/*
 * QRESYNC's catching up (RFC 7162 3.2.5): VANISHED (EARLIER) for the UIDs
 * expunged since modseq (among known when given), then the messages
 * changed since, with their flags.
 */
int
ims_view_catch_up(struct imap_session *s, uint64_t modseq, const struct imap_arg *known, int fetch)
{
	struct ims_view *v = &s->view;
	struct store_message *rows = NULL;
	struct store_err err;
	uint32_t *gone = NULL;
	size_t ngone = 0, nrows = 0, keep = 0;
	struct imap_parse_seq *seq = NULL;
	int64_t nseq = 0;
	int saved = 0;

	if (known != NULL) {
		seq = malloc(IMS_SEQ_MAX * sizeof(*seq));
		if (seq == NULL || known->type != IMAP_ARG_ATOM ||
		    (nseq = imap_parse_seqset(known->str, known->len, seq, IMS_SEQ_MAX, &saved)) < 0 ||
		    nseq > IMS_SEQ_MAX || saved) {
			free(seq);
			return 1;
		}
	}
	if (store_expunged_since(s->st, v->id, modseq, &gone, &ngone, &err) != 0) {
		free(seq);
		return -1;
	}
	for (size_t i = 0; i < ngone; i++) {
		int in = known == NULL;

		for (int64_t k = 0; k < nseq && !in; k++) {
			uint32_t a = seq[k].first, b = seq[k].last;

			if (a == IMAP_PARSE_SEQ_STAR || b == IMAP_PARSE_SEQ_STAR)
				in = 1;
			else
				in = gone[i] >= (a < b ? a : b) && gone[i] <= (a < b ? b : a);
		}
		if (in)
			gone[keep++] = gone[i];
	}
	if (keep > 0) {
		char *set = ims_set_text(gone, keep);

		if (set != NULL)
			(void)ims_out(s, "* VANISHED (EARLIER) %s\r\n", set);
		free(set);
	}
	free(gone);
	free(seq);
	if (!fetch)
		return 0;
	if (store_message_range(s->st, v->id, 1, UINT32_MAX, modseq, &rows, &nrows, &err) != 0)
		return -1;
	for (size_t i = 0; i < nrows; i++) {
		int64_t k = ims_view_find(v, rows[i].uid);

		if (k < 0)
			continue;
		(void)ims_out(s, "* %lld FETCH (UID %u FLAGS ", (long long)k + 1, rows[i].uid);
		(void)ims_out_flags(s, rows[i].flags, rows[i].keywords);
		(void)ims_out(s, " MODSEQ (%llu))\r\n", (unsigned long long)rows[i].modseq);
	}
	store_message_list_free(&rows, nrows);
	return 0;
}

int
ims_view_sync(struct imap_session *s, int expunges_ok)
{
	struct ims_view *v = &s->view;
	struct store_mailbox mb;
	struct store_message *rows = NULL;
	struct store_err err;
	uint32_t *gone = NULL;
	size_t nrows = 0, ngone = 0, before = v->n, pending = 0;
	uint32_t last = v->n > 0 ? v->uids[v->n - 1] : 0;

	if (!v->news || v->gone)
		return 0;
	v->news = 0;
	if (store_mailbox_get_id(s->st, v->id, &mb, &err) != 0) {
		if (err.code != STORE_E_NOTFOUND)
			return -1;
		v->gone = 1;
		(void)ims_out(s, "* BYE The selected mailbox was deleted\r\n");
		s->action = SESSION_CLOSE;
		s->state = IMS_LOGOUT;
		return 0;
	}
	if (mb.highestmodseq <= v->modseq)
		return 0;
	if (store_expunged_since(s->st, v->id, v->modseq, &gone, &ngone, &err) != 0 ||
	    store_message_range(s->st, v->id, 1, UINT32_MAX, v->modseq, &rows, &nrows, &err) != 0) {
		free(gone);
		v->news = 1;
		return -1;
	}
	for (size_t i = 0; i < ngone; i++)
		pending += ims_view_find(v, gone[i]) >= 0;
	if (expunges_ok)
		ims_view_expunge(s, gone, ngone);
	for (size_t i = 0; i < nrows; i++) {
		if (rows[i].uid > last && ims_view_push(v, rows[i].uid) != 0)
			break;
	}
	if (v->n != before || (expunges_ok && pending > 0))
		(void)ims_out(s, "* %zu EXISTS\r\n", v->n);
	for (size_t i = 0; i < nrows; i++) {
		int64_t k;

		if (rows[i].uid > last || rows[i].modseq == v->own_modseq || (k = ims_view_find(v, rows[i].uid)) < 0)
			continue;
		(void)ims_out(s, "* %lld FETCH (UID %u FLAGS ", (long long)k + 1, rows[i].uid);
		(void)ims_out_flags(s, rows[i].flags, rows[i].keywords);
		if (s->enabled & IMS_EN_CONDSTORE)
			(void)ims_out(s, " MODSEQ (%llu)", (unsigned long long)rows[i].modseq);
		(void)ims_out_raw(s, ")\r\n", 3);
	}
	if (expunges_ok || pending == 0)
		v->modseq = mb.highestmodseq;
	else
		v->news = 1;	/* the expunges are told at the next point that allows them */
	store_message_list_free(&rows, nrows);
	free(gone);
	return 0;
}

void
ims_select(struct imap_session *s, const struct imap_parse_command *c, int readonly)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_mailbox mb;
	struct store_message *rows = NULL;
	struct store_err err;
	size_t nrows = 0, unseen = 0;
	uint64_t qr_validity = 0, qr_modseq = 0;
	const struct imap_arg *qr_known = NULL;
	int qresync = 0;

	if (s->state == IMS_SELECTED) {
		ims_view_close(s);
		(void)ims_out(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	if (c->nargs < 1 || ims_mailbox_arg(s, &c->args[0], name) != 0) {
		ims_bad(s, "Usage: %s mailbox", c->name);
		return;
	}
	if (c->nargs == 2 && c->args[1].type == IMAP_ARG_LIST && c->args[1].count == 1 &&
	    imap_parse_arg_is(&c->args[1].list[0], "CONDSTORE")) {
		s->enabled |= IMS_EN_CONDSTORE;
	} else if (c->nargs == 2 && c->args[1].type == IMAP_ARG_LIST && c->args[1].count == 2 &&
		   imap_parse_arg_is(&c->args[1].list[0], "QRESYNC") && s->enabled & IMS_EN_QRESYNC) {
		const struct imap_arg *q = &c->args[1].list[1];

		if (q->type != IMAP_ARG_LIST || q->count < 2 || q->count > 4 ||
		    imap_parse_arg_number(&q->list[0], UINT32_MAX, &qr_validity) != 0 ||
		    imap_parse_arg_number(&q->list[1], INT64_MAX, &qr_modseq) != 0) {
			ims_bad(s, "Bad QRESYNC parameters");
			return;
		}
		qr_known = q->count >= 3 && q->list[2].type != IMAP_ARG_LIST ? &q->list[2] : NULL;
		qresync = 1;
	} else if (c->nargs != 1) {
		ims_bad(s, "Unknown %s parameters", c->name);
		return;
	}
	if (store_mailbox_get(s->st, s->user_id, name, &mb, &err) != 0) {
		if (err.code == STORE_E_NOTFOUND)
			ims_no(s, "[NONEXISTENT] No such mailbox");
		else
			ims_store_failed(s, "select", &err);
		return;
	}
	if (store_message_list(s->st, mb.id, &rows, &nrows, &err) != 0) {
		ims_store_failed(s, "select", &err);
		return;
	}
	memset(&s->view, 0, sizeof(s->view));
	s->view.id = mb.id;
	memcpy(s->view.name, mb.name, sizeof(s->view.name));
	s->view.readonly = readonly;
	s->view.uidvalidity = mb.uidvalidity;
	s->view.modseq = mb.highestmodseq;
	for (size_t i = 0; i < nrows; i++) {
		if (ims_view_push(&s->view, rows[i].uid) != 0) {
			store_message_list_free(&rows, nrows);
			ims_view_close(s);
			ims_no(s, "[SERVERBUG] Out of memory");
			return;
		}
		if (unseen == 0 && !(rows[i].flags & STORE_FLAG_SEEN))
			unseen = i + 1;
	}
	store_message_list_free(&rows, nrows);
	s->state = IMS_SELECTED;
	(void)ims_out(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		      "* OK [PERMANENTFLAGS (%s)] Flags permitted\r\n"
		      "* %zu EXISTS\r\n",
		      readonly ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*", s->view.n);
	if (!(s->enabled & IMS_EN_REV2)) {
		(void)ims_out(s, "* 0 RECENT\r\n");
		if (unseen > 0)
			(void)ims_out(s, "* OK [UNSEEN %zu] First unseen\r\n", unseen);
	}
	(void)ims_out(s, "* OK [UIDVALIDITY %u] UIDs valid\r\n"
		      "* OK [UIDNEXT %u] Predicted next UID\r\n"
		      "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		      mb.uidvalidity, mb.uidnext, (unsigned long long)mb.highestmodseq);
	if (s->enabled & IMS_EN_REV2) {
		(void)ims_out(s, "* LIST () \"%c\" ", STORE_MAILBOX_DELIM);
		(void)ims_out_mailbox(s, mb.name);
		(void)ims_out_raw(s, "\r\n", 2);
	}
	if (qresync && qr_validity == mb.uidvalidity && ims_view_catch_up(s, qr_modseq, qr_known, 1) != 0) {
		ims_view_close(s);
		ims_bad(s, "Bad QRESYNC known UIDs");
		return;
	}
	ims_ok(s, "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE", c->name);
}
