/*
 * imap_mailbox: the commands on mailboxes as a whole: LIST (RFC 9051 with
 * LIST-EXTENDED, SPECIAL-USE, CHILDREN, LIST-STATUS), LSUB, CREATE,
 * DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS (and STATUS=SIZE), and
 * the quota commands (RFC 9208, one root per user).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_int.h"

/* LIST's selection and return options */
#define LO_SUBSCRIBED 0x01	/* only subscribed names */
#define LO_SPECIAL_USE 0x02	/* only special-use mailboxes */
#define LO_RECURSIVE 0x04
#define LO_RET_SUBSCRIBED 0x10
#define LO_RET_CHILDREN 0x20
#define LO_RET_SPECIAL_USE 0x40
#define LO_RET_STATUS 0x80
#define LO_LSUB 0x100

/* One name LIST may answer with. */
struct lentry {
	char name[STORE_MAILBOX_NAME_MAX];
	const struct store_mailbox *mb;	/* NULL: does not exist (a parent, or only subscribed) */
	int subscribed;
	int children;
};

struct lset {
	struct lentry *v;
	size_t n, cap;
};

static struct lentry *
lset_find(struct lset *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (strcmp(ls->v[i].name, name) == 0)
			return &ls->v[i];
	}
	return NULL;
}

static struct lentry *
lset_add(struct lset *ls, const char *name)
{
	struct lentry *e = lset_find(ls, name);

	if (e != NULL)
		return e;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap > 0 ? ls->cap * 2 : 16;
		struct lentry *p = realloc(ls->v, cap * sizeof(*p));

		if (p == NULL)
			return NULL;
		ls->v = p;
		ls->cap = cap;
	}
	e = &ls->v[ls->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	return e;
}

/* Every parent of each name is in the set (not existing unless it does); children are marked. */
static int
lset_parents(struct lset *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		char parent[STORE_MAILBOX_NAME_MAX];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", ls->v[i].name);
		while ((slash = strrchr(parent, STORE_MAILBOX_DELIM)) != NULL) {
			struct lentry *e;

			*slash = '\0';
			if ((e = lset_add(ls, parent)) == NULL)
				return -1;
			e->children = 1;
		}
	}
	return 0;
}

static int
lentry_cmp(const void *a, const void *b)
{
	const struct lentry *x = a, *y = b;
	int xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	return xi != yi ? yi - xi : strcmp(x->name, y->name);
}

/* The pattern as the store's names are written: UTF-8, INBOX in upper case. */
static int
list_pattern(struct imap_session *s, const char *ref, size_t reflen, const char *pat, size_t patlen,
	     char out[STORE_MAILBOX_NAME_MAX * 2])
{
	char joined[STORE_MAILBOX_NAME_MAX * 2];
	int n;

	if (patlen > 0 && pat[0] == STORE_MAILBOX_DELIM)
		reflen = 0;	/* an absolute pattern ignores the reference */
	n = snprintf(joined, sizeof(joined), "%.*s%.*s", (int)reflen, ref, (int)patlen, pat);
	if (n < 0 || (size_t)n >= sizeof(joined))
		return -1;
	if (s->enabled & IMS_EN_UTF8)
		snprintf(out, STORE_MAILBOX_NAME_MAX * 2, "%s", joined);
	else if (imap_mutf7_decode(joined, (size_t)n, out, STORE_MAILBOX_NAME_MAX * 2) != 0)
		return -1;
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == STORE_MAILBOX_DELIM))
		memcpy(out, "INBOX", 5);
	return 0;
}

static int
list_options(const struct imap_arg *a, unsigned *opts, int ret, const struct imap_arg **status_r)
{
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];

		if (!ret && imap_parse_arg_is(o, "SUBSCRIBED"))
			*opts |= LO_SUBSCRIBED | LO_RET_SUBSCRIBED;
		else if (!ret && imap_parse_arg_is(o, "SPECIAL-USE"))
			*opts |= LO_SPECIAL_USE | LO_RET_SPECIAL_USE;
		else if (!ret && (imap_parse_arg_is(o, "RECURSIVEMATCH") || imap_parse_arg_is(o, "REMOTE")))
			*opts |= imap_parse_arg_is(o, "RECURSIVEMATCH") ? LO_RECURSIVE : 0;
		else if (ret && imap_parse_arg_is(o, "SUBSCRIBED"))
			*opts |= LO_RET_SUBSCRIBED;
		else if (ret && imap_parse_arg_is(o, "CHILDREN"))
			*opts |= LO_RET_CHILDREN;
		else if (ret && imap_parse_arg_is(o, "SPECIAL-USE"))
			*opts |= LO_RET_SPECIAL_USE;
		else if (ret && imap_parse_arg_is(o, "STATUS") && i + 1 < a->count &&
			 a->list[i + 1].type == IMAP_ARG_LIST)
			*opts |= LO_RET_STATUS, *status_r = &a->list[++i];
		else
			return -1;
	}
	return 0;
}

static void
list_line(struct imap_session *s, const struct lentry *e, unsigned opts, const struct imap_arg *status)
{
	const char *sep = "";

	(void)ims_out(s, "* %s (", opts & LO_LSUB ? "LSUB" : "LIST");
	if (e->mb == NULL) {
		(void)ims_out(s, "%s", opts & (LO_SUBSCRIBED | LO_LSUB) && !e->children ? "\\NonExistent" :
				      "\\Noselect");
		sep = " ";
	}
	if (!(opts & LO_LSUB)) {
		(void)ims_out(s, "%s%s", sep, e->children ? "\\HasChildren" : "\\HasNoChildren");
		sep = " ";
	}
	if (e->subscribed && opts & LO_RET_SUBSCRIBED) {
		(void)ims_out(s, "%s\\Subscribed", sep);
		sep = " ";
	}
	if (e->mb != NULL && e->mb->special_use[0] != '\0' && !(opts & LO_LSUB))
		(void)ims_out(s, "%s%s", sep, e->mb->special_use);
	(void)ims_out(s, ") \"%c\" ", STORE_MAILBOX_DELIM);
	(void)ims_out_mailbox(s, e->name);
	(void)ims_out_raw(s, "\r\n", 2);
	if (status != NULL && e->mb != NULL) {
		(void)ims_out(s, "* STATUS ");
		(void)ims_out_mailbox(s, e->name);
		(void)ims_out_raw(s, " ", 1);
		(void)ims_status_items(s, e->mb, status);
		(void)ims_out_raw(s, "\r\n", 2);
	}
}

void
ims_list(struct imap_session *s, const struct imap_parse_command *c)
{
	const struct imap_arg *a = c->args, *status = NULL, *pats;
	size_t na = c->nargs, npats;
	unsigned opts = c->cmd == IMAP_CMD_LSUB ? LO_LSUB | LO_SUBSCRIBED | LO_RET_SUBSCRIBED : 0;
	const char *ref;
	size_t reflen;
	struct store_mailbox *mbs = NULL;
	char (*subs)[STORE_MAILBOX_NAME_MAX] = NULL;
	size_t nmbs = 0, nsubs = 0;
	struct lset ls = { 0 };
	struct store_err err;

	if (c->cmd == IMAP_CMD_LIST && na > 0 && a[0].type == IMAP_ARG_LIST) {
		if (list_options(&a[0], &opts, 0, &status) != 0)
			goto bad;
		a++, na--;
	}
	if (c->cmd == IMAP_CMD_LIST && na == 4 && imap_parse_arg_is(&a[2], "RETURN")) {
		if (list_options(&a[3], &opts, 1, &status) != 0)
			goto bad;
		na -= 2;
	}
	if (na != 2 || imap_parse_arg_astring(&a[0], &ref, &reflen) != 0)
		goto bad;
	pats = a[1].type == IMAP_ARG_LIST && c->cmd == IMAP_CMD_LIST ? a[1].list : &a[1];
	npats = a[1].type == IMAP_ARG_LIST && c->cmd == IMAP_CMD_LIST ? a[1].count : 1;
	for (size_t i = 0; i < npats; i++) {
		if (pats[i].type == IMAP_ARG_LIST || pats[i].type == IMAP_ARG_NUMBER)
			continue;
		if (pats[i].type == IMAP_ARG_ATOM || pats[i].type == IMAP_ARG_STRING ||
		    pats[i].type == IMAP_ARG_LITERAL)
			continue;
		goto bad;
	}
	/* LIST "" "": the hierarchy delimiter. */
	if (npats == 1 && pats[0].len == 0 && !(opts & LO_LSUB)) {
		(void)ims_out(s, "* LIST (\\Noselect) \"%c\" \"\"\r\n", STORE_MAILBOX_DELIM);
		ims_ok(s, "LIST completed");
		return;
	}
	if (store_mailbox_list(s->st, s->user_id, &mbs, &nmbs, &err) != 0 ||
	    store_subscription_list(s->st, s->user_id, &subs, &nsubs, &err) != 0) {
		free(mbs);
		ims_store_failed(s, c->name, &err);
		return;
	}
	for (size_t i = 0; i < nmbs; i++) {
		struct lentry *e = lset_add(&ls, mbs[i].name);

		if (e == NULL)
			goto nomem;
		e->mb = &mbs[i];
	}
	for (size_t i = 0; i < nsubs; i++) {
		struct lentry *e = lset_add(&ls, subs[i]);

		if (e == NULL)
			goto nomem;
		e->subscribed = 1;
	}
	if (lset_parents(&ls) != 0)
		goto nomem;
	qsort(ls.v, ls.n, sizeof(*ls.v), lentry_cmp);
	for (size_t i = 0; i < ls.n; i++) {
		const struct lentry *e = &ls.v[i];
		int match = 0;

		for (size_t k = 0; k < npats && !match; k++) {
			char pat[STORE_MAILBOX_NAME_MAX * 2];

			if (list_pattern(s, ref, reflen, pats[k].str, pats[k].len, pat) == 0)
				match = imap_list_match(pat, e->name, STORE_MAILBOX_DELIM);
		}
		if (!match)
			continue;
		if (opts & LO_SUBSCRIBED && !e->subscribed)
			continue;
		if (opts & LO_SPECIAL_USE && (e->mb == NULL || e->mb->special_use[0] == '\0'))
			continue;
		if (!(opts & LO_SUBSCRIBED) && e->mb == NULL && !e->children)
			continue;	/* subscribed only: not a mailbox LIST shows */
		list_line(s, e, opts, status);
	}
	free(ls.v);
	free(mbs);
	free(subs);
	ims_ok(s, "%s completed", c->name);
	return;
nomem:
	free(ls.v);
	free(mbs);
	free(subs);
	ims_no(s, "[SERVERBUG] Out of memory");
	return;
bad:
	ims_bad(s, "Usage: %s reference pattern", c->name);
}

/* The one mailbox-name argument of CREATE, DELETE, (UN)SUBSCRIBE. Returns 0, or -1 (answered BAD). */
static int
one_mailbox(struct imap_session *s, const struct imap_parse_command *c, size_t want,
	    char name[STORE_MAILBOX_NAME_MAX])
{
	if (c->nargs < want || ims_mailbox_arg(s, &c->args[0], name) != 0) {
		ims_bad(s, "Usage: %s mailbox", c->name);
		return -1;
	}
	return 0;
}

void
ims_create(struct imap_session *s, const struct imap_parse_command *c)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_err err;
	size_t len;

	if (c->nargs >= 1 && c->args[0].len > 0 && c->args[0].str != NULL &&
	    c->args[0].str[c->args[0].len - 1] == STORE_MAILBOX_DELIM) {
		/* "CREATE a/": the trailing delimiter only says a will have children. */
		struct imap_arg copy = c->args[0];
		char buf[STORE_MAILBOX_NAME_MAX];

		len = copy.len - 1;
		if (len == 0 || len >= sizeof(buf)) {
			ims_bad(s, "Bad mailbox name");
			return;
		}
		memcpy(buf, copy.str, len);
		buf[len] = '\0';
		copy.str = buf;
		copy.len = len;
		if (ims_mailbox_arg(s, &copy, name) != 0) {
			ims_bad(s, "Bad mailbox name");
			return;
		}
	} else if (one_mailbox(s, c, 1, name) != 0) {
		return;
	}
	if (strcmp(name, "INBOX") == 0) {
		ims_no(s, "[ALREADYEXISTS] INBOX exists");
		return;
	}
	if (store_mailbox_create(s->st, s->user_id, name, NULL, &err) != 0) {
		if (err.code == STORE_E_EXISTS)
			ims_no(s, "[ALREADYEXISTS] Mailbox exists");
		else if (err.code == STORE_E_INVALID)
			ims_no(s, "[CANNOT] %s", err.msg);
		else
			ims_store_failed(s, "create", &err);
		return;
	}
	ims_ok(s, "CREATE completed");
}

void
ims_delete(struct imap_session *s, const struct imap_parse_command *c)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_err err;

	if (one_mailbox(s, c, 1, name) != 0)
		return;
	if (s->state == IMS_SELECTED && strcmp(name, s->view.name) == 0) {
		ims_view_close(s);
		(void)ims_out(s, "* OK [CLOSED] Mailbox closed\r\n");
	}
	if (store_mailbox_delete(s->st, s->user_id, name, &err) != 0) {
		if (err.code == STORE_E_NOTFOUND)
			ims_no(s, "[NONEXISTENT] No such mailbox");
		else if (err.code == STORE_E_INVALID)
			ims_no(s, "[CANNOT] %s", err.msg);
		else
			ims_store_failed(s, "delete", &err);
		return;
	}
	ims_ok(s, "DELETE completed");
}

void
ims_rename(struct imap_session *s, const struct imap_parse_command *c)
{
	char from[STORE_MAILBOX_NAME_MAX], to[STORE_MAILBOX_NAME_MAX];
	struct store_err err;

	if (c->nargs != 2 || ims_mailbox_arg(s, &c->args[0], from) != 0 ||
	    ims_mailbox_arg(s, &c->args[1], to) != 0) {
		ims_bad(s, "Usage: RENAME from to");
		return;
	}
	if (store_mailbox_rename(s->st, s->user_id, from, to, &err) != 0) {
		if (err.code == STORE_E_NOTFOUND)
			ims_no(s, "[NONEXISTENT] No such mailbox");
		else if (err.code == STORE_E_EXISTS)
			ims_no(s, "[ALREADYEXISTS] Mailbox exists");
		else if (err.code == STORE_E_INVALID)
			ims_no(s, "[CANNOT] %s", err.msg);
		else
			ims_store_failed(s, "rename", &err);
		return;
	}
	ims_ok(s, "RENAME completed");
}

void
ims_subscribe(struct imap_session *s, const struct imap_parse_command *c, int on)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_err err;

	if (one_mailbox(s, c, 1, name) != 0)
		return;
	if (store_subscription_set(s->st, s->user_id, name, on, &err) != 0) {
		ims_store_failed(s, c->name, &err);
		return;
	}
	ims_ok(s, "%s completed", c->name);
}

int
ims_status_items(struct imap_session *s, const struct store_mailbox *mb, const struct imap_arg *items)
{
	struct store_mailbox_counts cnt;
	struct store_err err;
	int counted = 0;
	const char *sep = "";

	if (items->type != IMAP_ARG_LIST || items->count == 0)
		return -1;
	for (size_t i = 0; i < items->count; i++) {
		const struct imap_arg *it = &items->list[i];

		if (!(imap_parse_arg_is(it, "MESSAGES") || imap_parse_arg_is(it, "UIDNEXT") ||
		      imap_parse_arg_is(it, "UIDVALIDITY") || imap_parse_arg_is(it, "UNSEEN") ||
		      imap_parse_arg_is(it, "RECENT") || imap_parse_arg_is(it, "SIZE") ||
		      imap_parse_arg_is(it, "DELETED") || imap_parse_arg_is(it, "HIGHESTMODSEQ")))
			return -1;
	}
	if (ims_out_raw(s, "(", 1) != 0)
		return -1;
	for (size_t i = 0; i < items->count; i++) {
		const struct imap_arg *it = &items->list[i];

		if (!counted && (imap_parse_arg_is(it, "UNSEEN") || imap_parse_arg_is(it, "SIZE") ||
				 imap_parse_arg_is(it, "DELETED"))) {
			if (store_mailbox_count(s->st, mb->id, &cnt, &err) != 0)
				memset(&cnt, 0, sizeof(cnt));
			counted = 1;
		}
		if (imap_parse_arg_is(it, "MESSAGES"))
			(void)ims_out(s, "%sMESSAGES %u", sep, mb->messages);
		else if (imap_parse_arg_is(it, "UIDNEXT"))
			(void)ims_out(s, "%sUIDNEXT %u", sep, mb->uidnext);
		else if (imap_parse_arg_is(it, "UIDVALIDITY"))
			(void)ims_out(s, "%sUIDVALIDITY %u", sep, mb->uidvalidity);
		else if (imap_parse_arg_is(it, "UNSEEN"))
			(void)ims_out(s, "%sUNSEEN %llu", sep, (unsigned long long)cnt.unseen);
		else if (imap_parse_arg_is(it, "RECENT"))
			(void)ims_out(s, "%sRECENT 0", sep);
		else if (imap_parse_arg_is(it, "SIZE"))
			(void)ims_out(s, "%sSIZE %llu", sep, (unsigned long long)cnt.size);
		else if (imap_parse_arg_is(it, "DELETED"))
			(void)ims_out(s, "%sDELETED %llu", sep, (unsigned long long)cnt.deleted);
		else
			(void)ims_out(s, "%sHIGHESTMODSEQ %llu", sep, (unsigned long long)mb->highestmodseq);
		sep = " ";
	}
	return ims_out_raw(s, ")", 1);
}

void
ims_status(struct imap_session *s, const struct imap_parse_command *c)
{
	char name[STORE_MAILBOX_NAME_MAX];
	struct store_mailbox mb;
	struct store_err err;
	size_t mark;

	if (c->nargs != 2 || ims_mailbox_arg(s, &c->args[0], name) != 0 || c->args[1].type != IMAP_ARG_LIST) {
		ims_bad(s, "Usage: STATUS mailbox (items)");
		return;
	}
	if (store_mailbox_get(s->st, s->user_id, name, &mb, &err) != 0) {
		if (err.code == STORE_E_NOTFOUND)
			ims_no(s, "[NONEXISTENT] No such mailbox");
		else
			ims_store_failed(s, "status", &err);
		return;
	}
	mark = s->outlen;
	(void)ims_out(s, "* STATUS ");
	(void)ims_out_mailbox(s, mb.name);
	(void)ims_out_raw(s, " ", 1);
	if (ims_status_items(s, &mb, &c->args[1]) != 0) {
		s->outlen = mark;	/* take the half line back */
		ims_bad(s, "Unknown STATUS item");
		return;
	}
	(void)ims_out_raw(s, "\r\n", 2);
	ims_ok(s, "STATUS completed");
}

void
ims_quota(struct imap_session *s, const struct imap_parse_command *c)
{
	struct store_user u;
	struct store_err err;

	if (c->cmd == IMAP_CMD_SETQUOTA) {
		ims_no(s, "[NOPERM] Quotas are set by the administrator");
		return;
	}
	if (c->nargs != 1) {
		ims_bad(s, "Usage: %s root", c->name);
		return;
	}
	if (store_user_get_id(s->st, s->user_id, &u, &err) != 0) {
		ims_store_failed(s, c->name, &err);
		return;
	}
	if (c->cmd == IMAP_CMD_GETQUOTAROOT) {
		(void)ims_out(s, "* QUOTAROOT ");
		(void)ims_out_string(s, c->args[0].str != NULL ? c->args[0].str : "", c->args[0].len);
		(void)ims_out(s, "%s\r\n", u.quota > 0 ? " \"\"" : "");
	} else if (c->args[0].len != 0) {
		ims_no(s, "[NONEXISTENT] No such quota root");
		return;
	}
	if (u.quota > 0)
		(void)ims_out(s, "* QUOTA \"\" (STORAGE %lld %lld)\r\n", (long long)((u.used + 1023) / 1024),
			      (long long)(u.quota / 1024));
	ims_ok(s, "%s completed", c->name);
}
