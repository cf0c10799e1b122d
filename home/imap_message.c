/*
 * imap_message: the commands that change messages: STORE (with
 * UNCHANGEDSINCE, RFC 7162), COPY and MOVE (RFC 6851) with COPYUID
 * (UIDPLUS, RFC 4315), EXPUNGE and UID EXPUNGE, CLOSE, and APPEND with
 * its message streamed into the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_int.h"
#include "log.h"

/* The UIDs of view indexes idx[0..n), into a new array (free()). */
static uint32_t *
imm_uids(const struct imap_session *s, const size_t *idx, size_t n)
{
	uint32_t *uids = malloc((n > 0 ? n : 1) * sizeof(*uids));

	for (size_t i = 0; uids != NULL && i < n; i++)
		uids[i] = s->view.uids[idx[i]];
	return uids;
}

void
ims_store(struct imap_session *s, const struct imap_parse_command *c)
{
	struct store_flags_update u = { 0 };
	struct store_flags_result res;
	struct store_message *rows = NULL;
	struct store_err err;
	char kw[STORE_KEYWORDS_MAX];
	const struct imap_arg *op;
	size_t *idx = NULL, n = 0, nrows = 0, at = 1, r = 0;
	uint32_t *uids = NULL;
	int silent;

	if (s->view.readonly) {
		ims_no(s, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (c->nargs >= 4 && c->args[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *m = &c->args[1];
		uint64_t v;

		if (m->count != 2 || !imap_parse_arg_is(&m->list[0], "UNCHANGEDSINCE") ||
		    imap_parse_arg_number(&m->list[1], INT64_MAX, &v) != 0)
			goto bad;
		u.unchangedsince = v > 0 ? v : 1;
		s->enabled |= IMS_EN_CONDSTORE;
		at = 2;
	}
	if (c->nargs != at + 2 || c->args[at].type != IMAP_ARG_ATOM)
		goto bad;
	op = &c->args[at];
	silent = op->len > 7 && strcasecmp(op->str + op->len - 7, ".SILENT") == 0;
	if (strncasecmp(op->str, "+FLAGS", 6) == 0 && (op->len == 6 || silent))
		u.op = STORE_FLAGS_ADD;
	else if (strncasecmp(op->str, "-FLAGS", 6) == 0 && (op->len == 6 || silent))
		u.op = STORE_FLAGS_REMOVE;
	else if (strncasecmp(op->str, "FLAGS", 5) == 0 && (op->len == 5 || (silent && op->len == 12)))
		u.op = STORE_FLAGS_SET;
	else
		goto bad;
	if (ims_flags_arg(&c->args[at + 1], &u.flags, kw) != 0)
		goto bad;
	u.keywords = kw;
	if (ims_view_set(s, &c->args[0], c->uid, &idx, &n) != 0)
		goto bad;
	uids = imm_uids(s, idx, n);
	u.failed = malloc((n > 0 ? n : 1) * sizeof(*u.failed));
	u.failed_cap = n;
	if (uids == NULL || u.failed == NULL) {
		ims_no(s, "[SERVERBUG] Out of memory");
		goto out;
	}
	if (store_message_update_flags(s->st, s->view.id, uids, n, &u, &res, &err) != 0) {
		if (err.code == STORE_E_INVALID)
			ims_bad(s, "%s", err.msg);
		else
			ims_store_failed(s, "store", &err);
		goto out;
	}
	if (res.modseq != 0)
		s->view.own_modseq = res.modseq;
	if ((!silent || u.unchangedsince > 0) && n > 0 &&
	    store_message_range(s->st, s->view.id, uids[0], uids[n - 1], 0, &rows, &nrows, &err) != 0) {
		ims_store_failed(s, "store", &err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		while (r < nrows && rows[r].uid < uids[i])
			r++;
		if (r >= nrows || rows[r].uid != uids[i])
			continue;
		/* .SILENT still tells the MODSEQ of what changed (RFC 7162 3.1.3). */
		if (silent && !(u.unchangedsince > 0 && rows[r].modseq == res.modseq && res.modseq != 0))
			continue;
		(void)ims_out(s, "* %zu FETCH (", idx[i] + 1);
		if (c->uid)
			(void)ims_out(s, "UID %u ", uids[i]);
		if (!silent) {
			(void)ims_out(s, "FLAGS ");
			(void)ims_out_flags(s, rows[r].flags, rows[r].keywords);
		}
		if (s->enabled & IMS_EN_CONDSTORE)
			(void)ims_out(s, "%sMODSEQ (%llu)", silent ? "" : " ", (unsigned long long)rows[r].modseq);
		(void)ims_out_raw(s, ")\r\n", 3);
	}
	if (res.nfailed > 0) {
		char tail[64];

		snprintf(tail, sizeof(tail), "%sSTORE completed", c->uid ? "UID " : "");
		s->view.news = 1;
		(void)ims_view_sync(s, 0);
		(void)ims_out(s, "%s OK [MODIFIED ", s->tag);
		if (c->uid) {
			char *set = ims_set_text(u.failed, res.nfailed < n ? res.nfailed : n);

			(void)ims_out(s, "%s", set != NULL ? set : "");
			free(set);
		} else {
			for (size_t i = 0; i < res.nfailed && i < n; i++) {
				int64_t k = ims_view_find(&s->view, u.failed[i]);

				(void)ims_out(s, "%s%lld", i > 0 ? "," : "", (long long)k + 1);
			}
		}
		(void)ims_out(s, "] %s\r\n", tail);
		s->commands++;
		goto out;
	}
	ims_ok(s, "%sSTORE completed", c->uid ? "UID " : "");
	goto out;
bad:
	ims_bad(s, "Usage: STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)");
out:
	store_message_list_free(&rows, nrows);
	free(u.failed);
	free(uids);
	free(idx);
}

void
ims_copy(struct imap_session *s, const struct imap_parse_command *c, int move)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_mailbox to;
	struct store_err err;
	size_t *idx = NULL, n = 0, k = 0;
	uint32_t *uids = NULL, *new_uids = NULL;

	if (c->nargs != 2 || ims_mailbox_arg(s, &c->args[1], name) != 0 ||
	    ims_view_set(s, &c->args[0], c->uid, &idx, &n) != 0) {
		ims_bad(s, "Usage: %s set mailbox", c->name);
		goto out;
	}
	if (move && s->view.readonly) {
		ims_no(s, "[READ-ONLY] Mailbox is read-only");
		goto out;
	}
	if (store_mailbox_get(s->st, s->user_id, name, &to, &err) != 0) {
		if (err.code == STORE_E_NOTFOUND)
			ims_no(s, "[TRYCREATE] No such mailbox");
		else
			ims_store_failed(s, c->name, &err);
		goto out;
	}
	if (n == 0) {
		ims_ok(s, "%s%s completed, nothing to do", c->uid ? "UID " : "", c->name);
		goto out;
	}
	uids = imm_uids(s, idx, n);
	new_uids = calloc(n, sizeof(*new_uids));
	if (uids == NULL || new_uids == NULL) {
		ims_no(s, "[SERVERBUG] Out of memory");
		goto out;
	}
	if (to.id == s->view.id && move) {
		ims_no(s, "[CANNOT] Cannot move a message to its own mailbox");
		goto out;
	}
	if (store_message_copy(s->st, s->view.id, uids, n, to.id, move, new_uids, &err) != 0) {
		ims_store_failed(s, c->name, &err);
		goto out;
	}
	/* COPYUID names only the messages that were still there. */
	for (size_t i = 0; i < n; i++) {
		if (new_uids[i] != 0) {
			uids[k] = uids[i];
			new_uids[k++] = new_uids[i];
		}
	}
	{
		char *from = ims_set_text(uids, k), *dest = ims_set_text(new_uids, k);
		char code[64] = "";

		if (k > 0 && from != NULL && dest != NULL) {
			if (move)
				(void)ims_out(s, "* OK [COPYUID %u %s %s] Moved\r\n", to.uidvalidity, from, dest);
			else
				snprintf(code, sizeof(code), "[COPYUID %u ", to.uidvalidity);
		}
		if (code[0] != '\0')
			ims_ok(s, "%s%s %s] %s%s completed", code, from, dest, c->uid ? "UID " : "", c->name);
		else
			ims_ok(s, "%s%s completed", c->uid ? "UID " : "", c->name);
		free(from);
		free(dest);
	}
out:
	free(new_uids);
	free(uids);
	free(idx);
}

/* Expunge the \Deleted messages of the view (only those in the UID set, when given). */
static int
imm_expunge_deleted(struct imap_session *s, const struct imap_arg *set, struct store_err *err)
{
	struct store_message *rows = NULL;
	size_t nrows = 0, n = 0, *idx = NULL, nidx = 0;
	uint32_t *uids;
	int rc;

	if (set != NULL && ims_view_set(s, set, 1, &idx, &nidx) != 0)
		return 1;
	if (store_message_list(s->st, s->view.id, &rows, &nrows, err) != 0) {
		free(idx);
		return -1;
	}
	uids = malloc((nrows > 0 ? nrows : 1) * sizeof(*uids));
	if (uids == NULL) {
		free(idx);
		store_message_list_free(&rows, nrows);
		err->code = STORE_E_NOMEM;
		err->kind = STORE_ERR_TEMPORARY;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -1;
	}
	for (size_t i = 0, j = 0; i < nrows; i++) {
		if (!(rows[i].flags & STORE_FLAG_DELETED))
			continue;
		if (set != NULL) {
			while (j < nidx && s->view.uids[idx[j]] < rows[i].uid)
				j++;
			if (j >= nidx || s->view.uids[idx[j]] != rows[i].uid)
				continue;
		}
		uids[n++] = rows[i].uid;
	}
	rc = n > 0 ? store_message_expunge_uids(s->st, s->view.id, uids, n, NULL, err) : 0;
	free(uids);
	free(idx);
	store_message_list_free(&rows, nrows);
	return rc;
}

void
ims_expunge(struct imap_session *s, const struct imap_parse_command *c)
{
	struct store_err err;
	int rc;

	if (s->view.readonly) {
		ims_no(s, "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (c->uid != (c->nargs == 1)) {
		ims_bad(s, "Usage: EXPUNGE, or UID EXPUNGE set");
		return;
	}
	rc = imm_expunge_deleted(s, c->uid ? &c->args[0] : NULL, &err);
	if (rc > 0) {
		ims_bad(s, "Bad UID set");
		return;
	}
	if (rc < 0) {
		ims_store_failed(s, "expunge", &err);
		return;
	}
	s->view.news = 1;
	ims_ok(s, "%sEXPUNGE completed", c->uid ? "UID " : "");
}

void
ims_close(struct imap_session *s)
{
	struct store_err err;

	/* CLOSE expunges without telling (RFC 9051 6.4.1). */
	if (!s->view.readonly && imm_expunge_deleted(s, NULL, &err) < 0) {
		ims_store_failed(s, "close", &err);
		return;
	}
	ims_view_close(s);
	ims_ok(s, "CLOSE completed");
}

/* ---- APPEND ---- */

void
ims_append_literal(struct imap_session *s, const struct imap_parse_command *c)
{
	(void)c;
	imap_parse_literal_refuse(s->p);
	ims_no(s, "[CANNOT] APPEND is not available yet");
}

void
ims_append_data(struct imap_session *s, const uint8_t *p, size_t n)
{
	(void)s;
	(void)p;
	(void)n;
}

void
ims_append_done(struct imap_session *s, const struct imap_parse_command *c)
{
	(void)c;
	ims_no(s, "[CANNOT] APPEND is not available yet");
}

void
ims_append_abort(struct imap_session *s)
{
	store_delivery_free(&s->append);
}
