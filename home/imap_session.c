/*
 * imap_session: one IMAP session (RFC 3501, RFC 9051 by ENABLE), a state
 * machine over the store without I/O. Bytes in (imap_session_feed), bytes
 * out (imap_session_output); the caller (server.c) owns the socket, TLS,
 * timers and the worker that checks passwords. This file reads the input,
 * keeps the states and answers the commands that need no mailbox; the
 * others live beside it (imap_int.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "b64.h"
#include "imap_int.h"
#include "log.h"

#define IMS_OUT_INITIAL 4096

/* ---- output ---- */

static int
ims_out_reserve(struct imap_session *s, size_t more)
{
	size_t need, cap;
	uint8_t *p;

	if (s->outoff > 0 && (s->outoff == s->outlen || s->outoff > s->outcap / 2)) {
		memmove(s->out, s->out + s->outoff, s->outlen - s->outoff);
		s->outlen -= s->outoff;
		s->outoff = 0;
	}
	need = s->outlen + more;
	if (need <= s->outcap)
		return 0;
	if (need > IMS_OUT_HARD_MAX)
		return -1;
	for (cap = s->outcap > 0 ? s->outcap : IMS_OUT_INITIAL; cap < need; cap *= 2)
		;
	if ((p = realloc(s->out, cap)) == NULL)
		return -1;
	s->out = p;
	s->outcap = cap;
	return 0;
}

/* The output cannot hold more: the session ends. */
static void
ims_out_overflow(struct imap_session *s)
{
	static const char bye[] = "\r\n* BYE Answer too large, closing\r\n";

	log_warn(s->sid, "imap_output", "result=overflow held=%zu", s->outlen - s->outoff);
	if (s->outcap - s->outlen >= sizeof(bye) - 1) {
		memcpy(s->out + s->outlen, bye, sizeof(bye) - 1);
		s->outlen += sizeof(bye) - 1;
	}
	s->state = IMS_LOGOUT;
	s->action = SESSION_CLOSE;
}

int
ims_out_raw(struct imap_session *s, const void *p, size_t len)
{
	if (ims_out_reserve(s, len) != 0) {
		ims_out_overflow(s);
		return -1;
	}
	memcpy(s->out + s->outlen, p, len);
	s->outlen += len;
	return 0;
}

uint8_t *
ims_out_space(struct imap_session *s, size_t n)
{
	if (ims_out_reserve(s, n) != 0) {
		ims_out_overflow(s);
		return NULL;
	}
	return s->out + s->outlen;
}

void
ims_out_commit(struct imap_session *s, size_t n)
{
	s->outlen += n;
}

static int ims_vout(struct imap_session *s, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static int
ims_vout(struct imap_session *s, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || ims_out_reserve(s, (size_t)n + 1) != 0) {
		ims_out_overflow(s);
		return -1;
	}
	vsnprintf((char *)s->out + s->outlen, (size_t)n + 1, fmt, ap);
	s->outlen += (size_t)n;
	return 0;
}

int
ims_out(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ims_vout(s, fmt, ap);
	va_end(ap);
	return rc;
}

int
ims_out_string(struct imap_session *s, const char *str, size_t len)
{
	int quoted = len < 1024;

	for (size_t i = 0; i < len && quoted; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			quoted = 0;
	}
	if (!quoted) {
		if (ims_out(s, "{%zu}\r\n", len) != 0)
			return -1;
		return ims_out_raw(s, str, len);
	}
	if (ims_out_raw(s, "\"", 1) != 0)
		return -1;
	for (size_t i = 0, run = 0; i <= len; i++) {
		if (i == len || str[i] == '"' || str[i] == '\\') {
			if (ims_out_raw(s, str + run, i - run) != 0)
				return -1;
			if (i < len && ims_out_raw(s, "\\", 1) != 0)
				return -1;
			run = i;
		}
	}
	return ims_out_raw(s, "\"", 1);
}

size_t
ims_out_room(const struct imap_session *s)
{
	size_t held = s->outlen - s->outoff;

	return held < IMAP_SESSION_OUT_LOW ? IMAP_SESSION_OUT_LOW - held : 0;
}

int
ims_out_flags(struct imap_session *s, unsigned flags, const char *keywords)
{
	static const char *const names[] = { "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft" };
	const char *sep = "";

	if (ims_out_raw(s, "(", 1) != 0)
		return -1;
	for (unsigned i = 0; i < 5; i++) {
		if (flags & (1u << i)) {
			if (ims_out(s, "%s%s", sep, names[i]) != 0)
				return -1;
			sep = " ";
		}
	}
	if (keywords != NULL && keywords[0] != '\0' && ims_out(s, "%s%s", sep, keywords) != 0)
		return -1;
	return ims_out_raw(s, ")", 1);
}

int
ims_flags_arg(const struct imap_arg *a, unsigned *flags_r, char kw[STORE_KEYWORDS_MAX])
{
	static const char *const names[] = { "\\SEEN", "\\ANSWERED", "\\FLAGGED", "\\DELETED", "\\DRAFT" };
	const struct imap_arg *items = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t n = a->type == IMAP_ARG_LIST ? a->count : 1, o = 0;

	*flags_r = 0;
	kw[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *f = &items[i];
		unsigned bit = 0;

		if (f->type != IMAP_ARG_ATOM)
			return -1;
		for (unsigned k = 0; k < 5; k++) {
			if (imap_parse_arg_is(f, names[k]))
				bit = 1u << k;
		}
		if (bit != 0) {
			*flags_r |= bit;
			continue;
		}
		if (imap_parse_arg_is(f, "\\RECENT"))
			continue;
		if (f->str[0] == '\\' || strpbrk(f->str, "%*]") != NULL)
			return -1;	/* a system flag we do not know, or not an atom */
		if (o + f->len + 2 > STORE_KEYWORDS_MAX)
			return -1;
		if (o > 0)
			kw[o++] = ' ';
		memcpy(kw + o, f->str, f->len);
		o += f->len;
		kw[o] = '\0';
	}
	return 0;
}

/* A set of numbers as ranges "1:3,7", NUL-terminated (free()), or NULL. */
char *
ims_set_text(const uint32_t *v, size_t n)
{
	char *out = malloc(n * 22 + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (j > i)
			o += (size_t)sprintf(out + o, "%s%u:%u", i > 0 ? "," : "", v[i], v[j]);
		else
			o += (size_t)sprintf(out + o, "%s%u", i > 0 ? "," : "", v[i]);
		i = j + 1;
	}
	return out;
}

/* ---- tagged answers ---- */

/* Whether the current command may be followed by EXPUNGE (RFC 9051 7.5.1). */
static int
ims_expunges_ok(const struct imap_session *s)
{
	const struct imap_parse_command *c = imap_parse_result(s->p);

	if (c->cmd == IMAP_CMD_FETCH || c->cmd == IMAP_CMD_STORE || c->cmd == IMAP_CMD_SEARCH)
		return c->uid;
	return 1;
}

static void ims_tagged(struct imap_session *s, const char *status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
ims_tagged(struct imap_session *s, const char *status, const char *fmt, va_list ap)
{
	if (s->state == IMS_SELECTED)
		(void)ims_view_sync(s, ims_expunges_ok(s));
	if (ims_out(s, "%s %s ", s->tag[0] != '\0' ? s->tag : "*", status) == 0 && ims_vout(s, fmt, ap) == 0)
		(void)ims_out_raw(s, "\r\n", 2);
	s->commands++;
}

void
ims_ok(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ims_tagged(s, "OK", fmt, ap);
	va_end(ap);
}

void
ims_no(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ims_tagged(s, "NO", fmt, ap);
	va_end(ap);
}

static void
ims_error(struct imap_session *s)
{
	if (++s->errors >= s->max_errors) {
		log_info(s->sid, "imap_errors", "errors=%u result=closing", s->errors);
		(void)ims_out(s, "* BYE Too many errors\r\n");
		s->state = IMS_LOGOUT;
		s->action = SESSION_CLOSE;
	}
}

void
ims_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ims_tagged(s, "BAD", fmt, ap);
	va_end(ap);
	ims_error(s);
}

void
ims_store_failed(struct imap_session *s, const char *during, const struct store_err *err)
{
	log_error(s->sid, "store_error", "during=%s code=%d kind=%s error=\"%s\"", during, err->code,
		  store_err_kind_name(err->kind), err->msg);
	if (err->code == STORE_E_QUOTA)
		ims_no(s, "[OVERQUOTA] Over quota");
	else if (err->kind == STORE_ERR_TEMPORARY)
		ims_no(s, "[UNAVAILABLE] Temporary failure, try again later");
	else
		ims_no(s, "[SERVERBUG] %s failed", during);
}

/* ---- mailbox names ---- */

int
ims_mailbox_arg(struct imap_session *s, const struct imap_arg *a, char out[STORE_MAILBOX_NAME_MAX])
{
	char utf8[STORE_MAILBOX_NAME_MAX];
	const char *str;
	size_t len;
	struct store_err err;

	if (imap_parse_arg_astring(a, &str, &len) != 0 || len == 0 || len >= STORE_MAILBOX_NAME_MAX)
		return -1;
	if (s->enabled & IMS_EN_UTF8 || (a->flags & IMAP_ARG_8BIT)) {
		memcpy(utf8, str, len + 1);
	} else if (imap_mutf7_decode(str, len, utf8, sizeof(utf8)) != 0) {
		return -1;
	}
	return store_mailbox_name(utf8, out, &err);
}

int
ims_out_mailbox(struct imap_session *s, const char *name)
{
	char text[STORE_MAILBOX_NAME_MAX * 3];

	if (s->enabled & IMS_EN_UTF8 || imap_mutf7_encode(name, text, sizeof(text)) != 0)
		return ims_out_string(s, name, strlen(name));
	return ims_out_string(s, text, strlen(text));
}

/* ---- capabilities ---- */

static void
ims_capabilities(struct imap_session *s, char *out, size_t cap)
{
	int plain_ok = s->tls;

	if (s->state == IMS_NOT_AUTH) {
		snprintf(out, cap, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE%s%s",
			 s->tls_offered && !s->tls ? " STARTTLS" : "",
			 plain_ok ? " AUTH=PLAIN" : " LOGINDISABLED");
		return;
	}
	snprintf(out, cap, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS "
		 "MOVE SPECIAL-USE CHILDREN LIST-EXTENDED LIST-STATUS CONDSTORE QRESYNC QUOTA QUOTA=RES-STORAGE "
		 "APPENDLIMIT=%lld STATUS=SIZE ESEARCH UTF8=ACCEPT BINARY", (long long)s->append_max);
}

static void
ims_capability(struct imap_session *s)
{
	char caps[512];

	ims_capabilities(s, caps, sizeof(caps));
	(void)ims_out(s, "* CAPABILITY %s\r\n", caps);
	ims_ok(s, "CAPABILITY completed");
}

/* ---- login ---- */

static void
ims_login_env(const struct imap_session *s, struct login_env *env)
{
	env->st = s->st;
	env->th = s->th;
	env->peer = &s->lpeer;
	env->sid = s->sid;
	env->dummy_hash = s->dummy_hash;
}

static void
ims_login_start(struct imap_session *s, const char *name, size_t namelen, const char *pass, size_t passlen)
{
	struct login_env env;

	ims_login_env(s, &env);
	switch (login_begin(&s->login, &env, name, namelen, pass, passlen, s->now_ms)) {
	case LOGIN_CHECK:
		s->action = SESSION_VERIFY;
		break;
	case LOGIN_LOCKED:
		ims_no(s, "[UNAVAILABLE] Too many failed logins, try again later");
		break;
	default:
		ims_no(s, "[UNAVAILABLE] Temporary authentication failure, try again later");
		break;
	}
}

static void
ims_login_finish(struct imap_session *s, const struct password_check *c)
{
	struct login_env env;
	char caps[512];

	ims_login_env(s, &env);
	switch (login_end(&s->login, &env, c, s->now_ms, &s->delay_ms)) {
	case LOGIN_OK:
		s->user_id = s->login.user_id;
		memcpy(s->user, s->login.address, sizeof(s->user));
		s->state = IMS_AUTH;
		ims_capabilities(s, caps, sizeof(caps));
		ims_ok(s, "[CAPABILITY %s] Logged in", caps);
		break;
	case LOGIN_FAILED:
		ims_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
		break;
	default:
		ims_no(s, "[UNAVAILABLE] Temporary authentication failure, try again later");
		break;
	}
}

static void
ims_login(struct imap_session *s, const struct imap_parse_command *c)
{
	const char *user, *pass;
	size_t ulen, plen;

	if (!s->tls) {
		ims_no(s, "[PRIVACYREQUIRED] LOGIN only after STARTTLS");
		return;
	}
	if (c->nargs != 2 || imap_parse_arg_astring(&c->args[0], &user, &ulen) != 0 ||
	    imap_parse_arg_astring(&c->args[1], &pass, &plen) != 0) {
		ims_bad(s, "Usage: LOGIN user password");
		return;
	}
	ims_login_start(s, user, ulen, pass, plen);
}

/* An AUTHENTICATE PLAIN response, base64 text[0..len) ("=": empty). */
static void
ims_sasl_plain(struct imap_session *s, const char *text, size_t len)
{
	uint8_t buf[IMAP_SESSION_SASL_MAX];
	struct login_plain pl;
	size_t n = 0;

	if (!(len == 1 && text[0] == '=') && (len == 0 || b64_decode(text, len, buf, sizeof(buf), &n) != 0)) {
		ims_bad(s, "Cannot decode the response");
	} else if (login_plain_split(buf, n, &pl) != 0) {
		ims_bad(s, "Malformed PLAIN response");
	} else if (pl.other_authz) {
		ims_no(s, "[AUTHORIZATIONFAILED] Authorization identity not allowed");
	} else {
		ims_login_start(s, pl.authc, pl.authc_len, pl.pass, pl.pass_len);
	}
	sodium_memzero(buf, sizeof(buf));
}

static void
ims_authenticate(struct imap_session *s, const struct imap_parse_command *c)
{
	const char *initial;
	size_t len;

	if (c->nargs < 1 || c->nargs > 2 || c->args[0].type != IMAP_ARG_ATOM) {
		ims_bad(s, "Usage: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (!imap_parse_arg_is(&c->args[0], "PLAIN")) {
		ims_no(s, "Unsupported authentication mechanism");
		return;
	}
	if (!s->tls) {
		ims_no(s, "[PRIVACYREQUIRED] AUTHENTICATE only after STARTTLS");
		return;
	}
	if (c->nargs == 2) {
		if (imap_parse_arg_astring(&c->args[1], &initial, &len) != 0) {
			ims_bad(s, "Bad initial response");
			return;
		}
		ims_sasl_plain(s, initial, len);
		return;
	}
	s->reader = IMS_READ_SASL;
	s->linelen = 0;
	s->line_over = 0;
	(void)ims_out(s, "+ \r\n");
}

/* ---- commands of any state ---- */

static void
ims_id(struct imap_session *s, const struct imap_parse_command *c)
{
	if (c->nargs != 1 || (c->args[0].type != IMAP_ARG_LIST && c->args[0].type != IMAP_ARG_NIL)) {
		ims_bad(s, "Usage: ID (params) or ID NIL");
		return;
	}
	(void)ims_out(s, "* ID (\"name\" \"Homeport\")\r\n");
	ims_ok(s, "ID completed");
}

static void
ims_enable(struct imap_session *s, const struct imap_parse_command *c)
{
	char done[128] = "";

	if (c->nargs == 0) {
		ims_bad(s, "Usage: ENABLE capability ...");
		return;
	}
	for (size_t i = 0; i < c->nargs; i++) {
		const struct imap_arg *a = &c->args[i];
		unsigned bit = imap_parse_arg_is(a, "CONDSTORE") ? IMS_EN_CONDSTORE :
			       imap_parse_arg_is(a, "QRESYNC") ? IMS_EN_QRESYNC :
			       imap_parse_arg_is(a, "IMAP4REV2") ? IMS_EN_REV2 :
			       imap_parse_arg_is(a, "UTF8=ACCEPT") ? IMS_EN_UTF8 : 0;

		if (bit == 0 || (s->enabled & bit))
			continue;
		s->enabled |= bit | (bit == IMS_EN_QRESYNC ? IMS_EN_CONDSTORE : 0);
		snprintf(done + strlen(done), sizeof(done) - strlen(done), " %s",
			 bit == IMS_EN_CONDSTORE ? "CONDSTORE" : bit == IMS_EN_QRESYNC ? "QRESYNC" :
			 bit == IMS_EN_REV2 ? "IMAP4rev2" : "UTF8=ACCEPT");
	}
	(void)ims_out(s, "* ENABLED%s\r\n", done);
	ims_ok(s, "ENABLE completed");
}

static void
ims_namespace(struct imap_session *s)
{
	(void)ims_out(s, "* NAMESPACE ((\"\" \"%c\")) NIL NIL\r\n", STORE_MAILBOX_DELIM);
	ims_ok(s, "NAMESPACE completed");
}

static void
ims_logout(struct imap_session *s)
{
	(void)ims_out(s, "* BYE Logging out\r\n");
	if (s->state == IMS_SELECTED)
		ims_view_close(s);
	s->state = IMS_LOGOUT;
	if (ims_out(s, "%s OK LOGOUT completed\r\n", s->tag) == 0)
		s->commands++;
	s->action = SESSION_CLOSE;
}

static void
ims_noop(struct imap_session *s)
{
	if (s->state == IMS_SELECTED)
		s->view.news = 1;	/* look, in case another process changed it */
	ims_ok(s, "%s completed", imap_parse_result(s->p)->name);
}

static void
ims_idle(struct imap_session *s)
{
	s->reader = IMS_READ_IDLE;
	s->linelen = 0;
	s->line_over = 0;
	if (s->state == IMS_SELECTED) {
		s->view.news = 1;
		(void)ims_view_sync(s, 1);
	}
	(void)ims_out(s, "+ idling\r\n");
}

/* The states each command is allowed in: bit 1 << enum ims_state. */
#define IMS_ANY ((1u << IMS_NOT_AUTH) | (1u << IMS_AUTH) | (1u << IMS_SELECTED))
#define IMS_NA (1u << IMS_NOT_AUTH)
#define IMS_AU ((1u << IMS_AUTH) | (1u << IMS_SELECTED))
#define IMS_SE (1u << IMS_SELECTED)

static unsigned
ims_allowed(int cmd)
{
	switch (cmd) {
	case IMAP_CMD_CAPABILITY:
	case IMAP_CMD_NOOP:
	case IMAP_CMD_LOGOUT:
	case IMAP_CMD_ID:
		return IMS_ANY;
	case IMAP_CMD_STARTTLS:
	case IMAP_CMD_LOGIN:
	case IMAP_CMD_AUTHENTICATE:
		return IMS_NA;
	case IMAP_CMD_CHECK:
	case IMAP_CMD_CLOSE:
	case IMAP_CMD_UNSELECT:
	case IMAP_CMD_EXPUNGE:
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_FETCH:
	case IMAP_CMD_STORE:
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		return IMS_SE;
	default:
		return IMS_AU;
	}
}

static void
ims_dispatch(struct imap_session *s, const struct imap_parse_command *c)
{
	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->uid = c->uid;
	if (!(ims_allowed(c->cmd) & (1u << s->state))) {
		if (s->state == IMS_NOT_AUTH)
			ims_no(s, "Log in first");
		else if (ims_allowed(c->cmd) == IMS_SE)
			ims_bad(s, "No mailbox selected");
		else
			ims_bad(s, "Already logged in");
		return;
	}
	switch (c->cmd) {
	case IMAP_CMD_CAPABILITY:
		ims_capability(s);
		break;
	case IMAP_CMD_NOOP:
	case IMAP_CMD_CHECK:
		ims_noop(s);
		break;
	case IMAP_CMD_LOGOUT:
		ims_logout(s);
		break;
	case IMAP_CMD_ID:
		ims_id(s, c);
		break;
	case IMAP_CMD_STARTTLS:
		if (!s->tls_offered || s->tls) {
			ims_bad(s, "STARTTLS not available");
			break;
		}
		ims_ok(s, "Begin TLS negotiation now");
		s->action = SESSION_STARTTLS;
		break;
	case IMAP_CMD_LOGIN:
		ims_login(s, c);
		break;
	case IMAP_CMD_AUTHENTICATE:
		ims_authenticate(s, c);
		break;
	case IMAP_CMD_ENABLE:
		ims_enable(s, c);
		break;
	case IMAP_CMD_NAMESPACE:
		ims_namespace(s);
		break;
	case IMAP_CMD_IDLE:
		ims_idle(s);
		break;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		ims_select(s, c, c->cmd == IMAP_CMD_EXAMINE);
		break;
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		ims_list(s, c);
		break;
	case IMAP_CMD_CREATE:
		ims_create(s, c);
		break;
	case IMAP_CMD_DELETE:
		ims_delete(s, c);
		break;
	case IMAP_CMD_RENAME:
		ims_rename(s, c);
		break;
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		ims_subscribe(s, c, c->cmd == IMAP_CMD_SUBSCRIBE);
		break;
	case IMAP_CMD_STATUS:
		ims_status(s, c);
		break;
	case IMAP_CMD_GETQUOTA:
	case IMAP_CMD_GETQUOTAROOT:
	case IMAP_CMD_SETQUOTA:
		ims_quota(s, c);
		break;
	case IMAP_CMD_APPEND:
		ims_append_done(s, c);
		break;
	case IMAP_CMD_CLOSE:
		ims_close(s);
		break;
	case IMAP_CMD_UNSELECT:
		ims_view_close(s);
		ims_ok(s, "UNSELECT completed");
		break;
	case IMAP_CMD_EXPUNGE:
		ims_expunge(s, c);
		break;
	case IMAP_CMD_SEARCH:
		ims_search(s, c);
		break;
	case IMAP_CMD_FETCH:
		ims_fetch_start(s, c);
		break;
	case IMAP_CMD_STORE:
		ims_store(s, c);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		ims_copy(s, c, c->cmd == IMAP_CMD_MOVE);
		break;
	default:
		ims_bad(s, "Command not supported");
		break;
	}
}

/* ---- input ---- */

/* A parser event other than a command. */
static void
ims_parse_event(struct imap_session *s, int ev, const struct imap_parse_command *c)
{
	switch (ev) {
	case IMAP_PARSE_CONTINUE:
		if ((c->cmd == IMAP_CMD_LOGIN || c->cmd == IMAP_CMD_AUTHENTICATE) && !s->tls) {
			imap_parse_literal_refuse(s->p);
			snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
			ims_no(s, "[PRIVACYREQUIRED] Log in only after STARTTLS");
			break;
		}
		(void)ims_out(s, "+ Ready for literal data\r\n");
		break;
	case IMAP_PARSE_LITERAL:
		snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
		ims_append_literal(s, c);
		break;
	case IMAP_PARSE_DATA:
		ims_append_data(s, c->data, c->data_len);
		break;
	case IMAP_PARSE_ERROR:
		if (c->cmd == IMAP_CMD_APPEND)
			ims_append_abort(s);
		snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
		if (c->error == IMAP_PARSE_E_LITERAL_TOO_BIG && c->cmd == IMAP_CMD_APPEND)
			ims_no(s, "[TOOBIG] %s", c->message);
		else
			ims_bad(s, "%s", c->message);
		break;
	case IMAP_PARSE_FATAL:
		ims_append_abort(s);
		(void)ims_out(s, "* BYE %s\r\n", c->message);
		s->state = IMS_LOGOUT;
		s->action = SESSION_CLOSE;
		break;
	default:
		break;
	}
}

/* A line of our own reader: AUTHENTICATE's response or IDLE's DONE. */
static void
ims_own_line(struct imap_session *s)
{
	int reader = s->reader;

	s->reader = IMS_READ_COMMANDS;
	if (reader == IMS_READ_IDLE) {
		if (!s->line_over && s->linelen == 4 && strncasecmp(s->line, "DONE", 4) == 0)
			ims_ok(s, "IDLE terminated");
		else
			ims_bad(s, "Expected DONE");
		return;
	}
	if (s->line_over)
		ims_bad(s, "Response too long");
	else if (s->linelen == 1 && s->line[0] == '*')
		ims_bad(s, "Authentication cancelled");
	else
		ims_sasl_plain(s, s->line, s->linelen);
	sodium_memzero(s->line, sizeof(s->line));
}

/* Bytes for our own reader, up to and including the line's LF. Returns how many were taken. */
static size_t
ims_own_feed(struct imap_session *s, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n') {
			if (s->linelen > 0 && s->line[s->linelen - 1] == '\r')
				s->linelen--;
			s->line[s->linelen] = '\0';
			ims_own_line(s);
			s->linelen = 0;
			s->line_over = 0;
			return i + 1;
		}
		if (s->linelen + 1 < sizeof(s->line))
			s->line[s->linelen++] = (char)in[i];
		else
			s->line_over = 1;
	}
	return len;
}

/* Whether the session may read its next input now. */
static int
ims_can_read(const struct imap_session *s)
{
	return s->action == SESSION_GO && s->delay_ms == 0 && s->fetch == NULL &&
	       ims_out_room(s) > IMAP_SESSION_OUT_LOW / 4;
}

size_t
imap_session_feed(struct imap_session *s, const uint8_t *in, size_t len, int64_t now_ms)
{
	size_t off = 0;

	s->now_ms = now_ms;
	if (s->fetch != NULL && s->action == SESSION_GO && ims_fetch_step(s)) {
		ims_fetch_free(&s->fetch);
		ims_ok(s, "%sFETCH completed", s->uid ? "UID " : "");
	}
	if (len == 0 && s->reader == IMS_READ_IDLE && s->state == IMS_SELECTED && s->view.news)
		(void)ims_view_sync(s, 1);
	while (off < len && ims_can_read(s)) {
		const struct imap_parse_command *c;
		size_t used = 0;
		int ev;

		if (s->reader != IMS_READ_COMMANDS) {
			off += ims_own_feed(s, in + off, len - off);
			continue;
		}
		ev = imap_parse_feed(s->p, in + off, len - off, &used);
		off += used;
		c = imap_parse_result(s->p);
		if (ev == IMAP_PARSE_COMMAND)
			ims_dispatch(s, c);
		else
			ims_parse_event(s, ev, c);
		if (s->action == SESSION_STARTTLS && off < len) {
			log_warn(s->sid, "starttls_injection", "dropped=%zu", len - off);
			off = len;
		}
	}
	return off;
}

/* ---- the interface ---- */

struct imap_session *
imap_session_new(const struct imap_session_params *p, struct store *st, struct throttle *th)
{
	struct imap_session *s = calloc(1, sizeof(*s));
	struct imap_parse_limits lim;

	if (s == NULL)
		return NULL;
	imap_parse_limits_default(&lim);
	if (p->append_max > 0 && (uint64_t)p->append_max < lim.stream_max)
		lim.stream_max = (uint64_t)p->append_max;
	if (imap_parse_new(&lim, 0, &s->p) != 0) {
		free(s);
		return NULL;
	}
	snprintf(s->hostname, sizeof(s->hostname), "%s", p->hostname);
	s->tls_offered = p->tls_offered;
	s->append_max = p->append_max > 0 ? p->append_max : (int64_t)lim.stream_max;
	s->max_errors = p->max_errors > 0 ? p->max_errors : 1;
	snprintf(s->sid, sizeof(s->sid), "%s", p->sid != NULL ? p->sid : "");
	s->dummy_hash = p->dummy_hash;
	s->st = st;
	s->th = th;
	login_peer_init(&s->lpeer, p->peer);
	return s;
}

void
imap_session_greet(struct imap_session *s)
{
	char caps[512];

	ims_capabilities(s, caps, sizeof(caps));
	(void)ims_out(s, "* OK [CAPABILITY %s] %s Homeport IMAP ready\r\n", caps, s->hostname);
}

void
imap_session_tls_started(struct imap_session *s, const char *version, const char *cipher)
{
	(void)version;
	(void)cipher;
	s->tls = 1;
	if (s->action == SESSION_STARTTLS)
		s->action = SESSION_GO;
}

int
imap_session_pending(const struct imap_session *s)
{
	if (s->action != SESSION_GO)
		return 0;
	if (s->fetch != NULL)
		return 1;
	return s->reader == IMS_READ_IDLE && s->state == IMS_SELECTED && s->view.news;
}

int
imap_session_action(const struct imap_session *s)
{
	return s->action;
}

const struct password_check *
imap_session_check(const struct imap_session *s)
{
	return s->action == SESSION_VERIFY ? &s->login.check : NULL;
}

void
imap_session_verified(struct imap_session *s, const struct password_check *c, int64_t now_ms)
{
	if (s->action != SESSION_VERIFY)
		return;
	s->now_ms = now_ms;
	s->action = SESSION_GO;
	ims_login_finish(s, c);
	sodium_memzero(&s->login, sizeof(s->login));
}

int64_t
imap_session_delay(struct imap_session *s)
{
	int64_t d = s->delay_ms;

	s->delay_ms = 0;
	return d;
}

const uint8_t *
imap_session_output(const struct imap_session *s, size_t *len_r)
{
	*len_r = s->outlen - s->outoff;
	return s->out != NULL ? s->out + s->outoff : (const uint8_t *)"";
}

void
imap_session_output_consume(struct imap_session *s, size_t n)
{
	size_t held = s->outlen - s->outoff;

	s->outoff += n < held ? n : held;
	if (s->outoff == s->outlen) {
		s->outoff = s->outlen = 0;
		/* An idle session keeps no large buffer. */
		if (s->outcap > IMS_OUT_INITIAL && s->fetch == NULL) {
			free(s->out);
			s->out = NULL;
			s->outcap = 0;
		}
	}
}

int
imap_session_logged_in(const struct imap_session *s)
{
	return s->user_id != 0;
}

void
imap_session_timeout(struct imap_session *s)
{
	ims_append_abort(s);
	ims_fetch_free(&s->fetch);
	(void)ims_out(s, "* BYE Autologout, idle for too long\r\n");
	s->state = IMS_LOGOUT;
	s->action = SESSION_CLOSE;
}

int
imap_session_shutdown(struct imap_session *s)
{
	if (s->action == SESSION_VERIFY)
		sodium_memzero(&s->login, sizeof(s->login));
	ims_append_abort(s);
	ims_fetch_free(&s->fetch);
	(void)ims_out(s, "* BYE Server shutting down, try again later\r\n");
	s->state = IMS_LOGOUT;
	s->action = SESSION_CLOSE;
	return 1;
}

int
imap_session_changed(struct imap_session *s, int64_t mailbox_id)
{
	if (s->state != IMS_SELECTED || (mailbox_id != 0 && mailbox_id != s->view.id))
		return 0;
	s->view.news = 1;
	return 1;
}

void
imap_session_stats(const struct imap_session *s, struct imap_session_stats *st_r)
{
	st_r->commands = s->commands;
	st_r->errors = s->errors;
	st_r->user = s->user;
}

void
imap_session_free(struct imap_session **sp)
{
	struct imap_session *s = *sp;

	if (s == NULL)
		return;
	ims_append_abort(s);
	ims_fetch_free(&s->fetch);
	ims_view_close(s);
	imap_parse_free(&s->p);
	free(s->out);
	sodium_memzero(s, sizeof(*s));
	free(s);
	*sp = NULL;
}
