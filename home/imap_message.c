/*
 * imap_message: the commands that change messages: STORE (with
 * UNCHANGEDSINCE, RFC 7162), COPY and MOVE (RFC 6851) with COPYUID
 * (UIDPLUS, RFC 4315), EXPUNGE and UID EXPUNGE, CLOSE, and APPEND with
 * its message streamed into the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* An IMAP date-time "17-Jul-1996 02:44:25 -0700" as Unix seconds. Returns 0, or -1. */
static int
imm_date_time(const char *str, size_t len, int64_t *t_r)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char buf[40], m[4], sign;
	int d, y, hh, mm, ss, zone, month = -1;
	struct tm tm;
	time_t t;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, str, len);
	buf[len] = '\0';
	if (sscanf(buf, " %2d-%3s-%4d %2d:%2d:%2d %c%4d", &d, m, &y, &hh, &mm, &ss, &sign, &zone) != 8 ||
	    (sign != '+' && sign != '-'))
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strcasecmp(m, mon[i]) == 0)
			month = i;
	}
	if (month < 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = month;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*t_r = (int64_t)t - (sign == '-' ? -1 : 1) * ((zone / 100) * 3600 + (zone % 100) * 60);
	return 0;
}

/* Refuse the announced message: the client sends none of it (or it is skipped), and gets why. */
static void
imm_append_refuse(struct imap_session *s, const char *why)
{
	imap_parse_literal_refuse(s->p);
	store_delivery_free(&s->append);
	ims_no(s, "%s", why);
}

void
ims_append_literal(struct imap_session *s, const struct imap_parse_command *c)
{
	char name[STORE_MAILBOX_NAME_MAX], kw[STORE_KEYWORDS_MAX] = "";
	struct store_mailbox mb;
	struct store_user u;
	struct store_err err;
	unsigned flags = 0;
	size_t at = 1, n = c->nargs;

	if (s->state != IMS_AUTH && s->state != IMS_SELECTED) {
		imm_append_refuse(s, "Log in first");
		return;
	}
	if (s->append != NULL) {
		imm_append_refuse(s, "[CANNOT] One message per APPEND (no MULTIAPPEND)");
		return;
	}
	/* The arguments before the message, which is the last one so far. */
	if (n > 0 && c->args[n - 1].type == IMAP_ARG_LITERAL)
		n--;
	s->append_date = time(NULL);
	if (n < 1 || ims_mailbox_arg(s, &c->args[0], name) != 0 ||
	    (n > at && c->args[at].type == IMAP_ARG_LIST && ims_flags_arg(&c->args[at++], &flags, kw) != 0) ||
	    (n > at && (c->args[at].type != IMAP_ARG_STRING ||
			imm_date_time(c->args[at].str, c->args[at].len, &s->append_date) != 0)) ||
	    n > at + 1) {
		imap_parse_literal_refuse(s->p);
		ims_bad(s, "Usage: APPEND mailbox [(flags)] [\"date-time\"] {size}");
		return;
	}
	if (store_mailbox_get(s->st, s->user_id, name, &mb, &err) != 0) {
		imm_append_refuse(s, err.code == STORE_E_NOTFOUND ? "[TRYCREATE] No such mailbox"
								   : "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	if (store_user_get_id(s->st, s->user_id, &u, &err) == 0 && u.quota > 0 &&
	    (uint64_t)u.used + c->literal_size > (uint64_t)u.quota) {
		imm_append_refuse(s, "[OVERQUOTA] Over quota");
		return;
	}
	s->append = store_delivery_begin(s->st, "", &err);
	if (s->append == NULL || store_delivery_add_mailbox(s->append, mb.id, flags, kw, &err) != 0) {
		imm_append_refuse(s, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	s->append_failed = 0;
	imap_parse_literal_accept(s->p);
	{
		size_t used;

		/* A synchronizing literal: the client waits for "+" before it sends a byte. */
		if (imap_parse_feed(s->p, NULL, 0, &used) == IMAP_PARSE_CONTINUE)
			(void)ims_out(s, "+ Ready for the message\r\n");
	}
}

void
ims_append_data(struct imap_session *s, const uint8_t *p, size_t n)
{
	if (s->append == NULL || s->append_failed)
		return;
	if (store_delivery_write(s->append, p, n, &s->append_err) != 0)
		s->append_failed = 1;	/* the rest is read and dropped; the answer says why */
}

void
ims_append_done(struct imap_session *s, const struct imap_parse_command *c)
{
	uint32_t uid, validity;

	(void)c;
	if (s->append == NULL) {
		ims_bad(s, "APPEND without a message");
		return;
	}
	if (s->append_failed || store_delivery_commit(s->append, s->append_date, &s->append_err) != 0) {
		store_delivery_free(&s->append);
		ims_store_failed(s, "append", &s->append_err);
		return;
	}
	uid = store_delivery_uid(s->append);
	validity = store_delivery_uidvalidity(s->append);
	store_delivery_free(&s->append);
	if (s->state == IMS_SELECTED)
		s->view.news = 1;
	ims_ok(s, "[APPENDUID %u %u] APPEND completed", validity, uid);
}

void
ims_append_abort(struct imap_session *s)
{
	store_delivery_free(&s->append);
}
