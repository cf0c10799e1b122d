/*
 * smtp_session: one SMTP session (RFC 5321) as a state machine over the
 * pure parsers: command lines through smtp_parse, message bytes through
 * smtp_data, the store for recipients and messages, the throttle for
 * logins. Bytes in, replies out; the caller (server.c) owns the
 * socket, TLS and the timers.
 *
 *   greeting -> CMD <-> AUTH_* (SASL lines)
 *               CMD  -> DATA (until CRLF "." CRLF) -> CMD
 *               CMD  -> BDAT (a counted chunk) -> CMD
 *
 * Replies come in the order of the commands however many are pipelined
 * (RFC 2920); a step never starts unless SMTP_SESSION_REPLY_MAX bytes of
 * output are free, so the output stays bounded however fast a client
 * sends. A message streams to the store as it arrives: memory per session
 * is fixed (the store keeps at most STORE_CHUNK_MAX of a body).
 *
 * Listener modes:
 *   smtp         (MX) mail for our domains only; no AUTH.
 *   submission   AUTH after STARTTLS, then mail from the user's own
 *                addresses to anyone: local recipients at once, remote
 *                ones into the queue. Date and Message-ID are added when
 *                missing.
 *   submissions  the same, with TLS from the first byte.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "b64.h"
#include "dnsname.h"
#include "home.h"
#include "log.h"

#define SS_HELO_TEXT_MAX (2 * SMTP_DOMAIN_MAX + 8)	/* an escaped EHLO name for logs */
#define SS_TLS_TEXT_MAX 64
#define SS_PEER_TEXT_MAX 64
#define SS_SASL_MAX (SMTP_SESSION_SASL_LINE_MAX / 4 * 3)	/* decoded SASL response */
#define SS_DATE_MAX 64
#define SS_MSGID_RANDOM 8		/* random bytes in a Message-ID we add */

enum ss_state {
	SS_CMD,			/* waiting for a command line */
	SS_DATA,		/* after 354: message bytes until CRLF "." CRLF */
	SS_BDAT,		/* a BDAT chunk's bytes */
	SS_AUTH_PLAIN,		/* after "334 ": the PLAIN response */
	SS_AUTH_LOGIN_USER,	/* after "334 VXNlcm5hbWU6" */
	SS_AUTH_LOGIN_PASS,	/* after "334 UGFzc3dvcmQ6" */
};

/* Where the header scanner is (submission: are Date and Message-ID there?). */
enum ss_hdr_state {
	SS_HDR_BOL,		/* at the start of a header line */
	SS_HDR_NAME,		/* in a field name (held back until its colon) */
	SS_HDR_LINE,		/* in the rest of a field */
	SS_HDR_BLANK,		/* a CR at the start of a line: the empty line? */
	SS_HDR_DONE,		/* past the header section */
};

#define SS_HDR_HAS_DATE 0x01
#define SS_HDR_HAS_MSGID 0x02

struct smtp_session {
	/* From the parameters. */
	char hostname[DNSNAME_MAX + 1];
	int mode;
	int tls_offered;
	int64_t size_max;
	unsigned max_recipients, max_errors;
	int have_peer;
	struct addr peer;
	struct login_peer lpeer;		/* the client's text and throttle key */
	char sid[LOG_SID_LEN];
	const char *dummy_hash;
	struct store *st;
	struct throttle *th;

	/* Output and what the caller must do. */
	uint8_t out[SMTP_SESSION_OUT_MAX];
	size_t outlen;
	int action;
	int64_t delay_ms;
	int64_t now_ms;
	int stopping;

	/* Input lines. */
	int state;
	char line[SMTP_SESSION_SASL_LINE_MAX + 2];
	size_t linelen;
	int line_over;

	/* The session. */
	int greeted, esmtp;
	char helo[SMTP_DOMAIN_MAX + 1];
	int tls;
	char tls_version[SS_TLS_TEXT_MAX], tls_cipher[SS_TLS_TEXT_MAX];
	int64_t user_id;			/* 0: not logged in */
	char user[STORE_ADDRESS_MAX];
	char login_name[SS_SASL_MAX + 1];	/* AUTH LOGIN: the user name, until the password */
	size_t login_name_len;
	struct login login;			/* a login waiting for its password check (SESSION_VERIFY) */
	unsigned errors, messages, refused;

	/* The mail transaction. */
	int in_mail;
	struct smtp_path from;
	char from_path[SMTP_PATH_MAX + 1];	/* "<local@domain>" or "<>" */
	char from_text[STORE_ADDRESS_MAX];	/* for the store: "local@domain", "" for <> */
	int64_t declared_size;			/* SIZE=, -1 */
	int smtputf8;
	unsigned nrcpt;
	char first_rcpt[SMTP_PATH_MAX + 1];
	struct store_delivery *d;
	int64_t ids[STORE_RESOLVE_MAX];

	/* The message being received. */
	int in_message;			/* DATA answered 354, or a first BDAT taken */
	struct smtp_data dec;
	uint64_t size;			/* bytes of the message, as the client sent them */
	int too_big;
	int store_failed;
	struct store_err serr;
	int bdat_bad;			/* BDAT: bare CR or LF, or NUL */
	int bdat_cr;			/* BDAT: the last byte was a CR */
	int64_t bdat_left;
	int bdat_last;
	const char *bdat_refusal;	/* a refused BDAT's reply, sent once its bytes are read */
	int hdr_state;
	unsigned hdr_seen;
	char hdr_name[SMTP_SESSION_FIELD_NAME_MAX];
	size_t hdr_namelen;
	char msg_id[SS_PEER_TEXT_MAX];	/* "<sid>.<n>", for the 250 and the logs */
	uint8_t scratch[SMTP_SESSION_DATA_STEP];
	uint8_t staged[SMTP_SESSION_DATA_STEP + SMTP_SESSION_FIELD_NAME_MAX + SMTP_SESSION_TRACE_MAX];
	size_t stagedlen;
};

/* ---- output ---- */

static void ss_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one reply (fmt without its CRLF). Every caller stays far below the room a step has. */
static void
ss_reply(struct smtp_session *s, const char *fmt, ...)
{
	size_t room = sizeof(s->out) - s->outlen;
	va_list ap;
	int n;

	if (room < 3)
		return;
	va_start(ap, fmt);
	n = vsnprintf((char *)s->out + s->outlen, room - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room - 2)
		n = (int)(room - 3);	/* cut: still one line */
	s->outlen += (size_t)n;
	s->out[s->outlen++] = '\r';
	s->out[s->outlen++] = '\n';
}

/* The client made a mistake; the one too many ends the session. */
static void
ss_error(struct smtp_session *s)
{
	s->errors++;
	if (s->errors >= s->max_errors && s->action == SESSION_GO) {
		ss_reply(s, "421 4.7.0 %s Too many errors, closing connection", s->hostname);
		s->action = SESSION_CLOSE;
		log_info(s->sid, "smtp_errors", "errors=%u action=close", s->errors);
	}
}

/* ---- the transaction ---- */

static void
ss_reset(struct smtp_session *s)
{
	store_delivery_free(&s->d);
	s->in_mail = 0;
	s->nrcpt = 0;
	s->declared_size = -1;
	s->smtputf8 = 0;
	s->in_message = 0;
	s->bdat_refusal = NULL;
	s->first_rcpt[0] = '\0';
	s->from_path[0] = '\0';
	s->from_text[0] = '\0';
	memset(&s->from, 0, sizeof(s->from));
}

/* An address as the store and queue keep it: "local@domain", the local part quoted if need be. */
static int
ss_address_text(const struct smtp_path *p, char *path, size_t pathcap, char *text, size_t textcap)
{
	int n = smtp_parse_path_format(p, path, pathcap);

	if (n < 2 || (size_t)n - 2 >= textcap)
		return -1;
	memcpy(text, path + 1, (size_t)n - 2);
	text[n - 2] = '\0';
	return 0;
}

/* The reply to a failed store call. */
static void
ss_store_reply(struct smtp_session *s, const struct store_err *err)
{
	switch (err->code) {
	case STORE_E_FULL:
		ss_reply(s, "452 4.3.1 Insufficient system storage, try again later");
		break;
	case STORE_E_QUOTA:
		ss_reply(s, "452 4.2.2 Mailbox full, try again later");
		break;
	case STORE_E_TOOBIG:
		ss_reply(s, "552 5.3.4 Message too big");
		break;
	default:
		ss_reply(s, "451 4.3.0 Local error in processing, try again later");
		break;
	}
}

static void
ss_log_store(const struct smtp_session *s, const char *what, const struct store_err *err)
{
	log_error(s->sid, "store_error", "during=%s code=%d kind=%s error=\"%s\"", what, err->code,
		  store_err_kind_name(err->kind), err->msg);
}

/* ---- EHLO, HELO ---- */

static void
ss_helo(struct smtp_session *s, const struct smtp_command *c)
{
	ss_reset(s);
	memcpy(s->helo, c->helo, c->helo_len + 1);
	s->greeted = 1;
	s->esmtp = c->verb == SMTP_VERB_EHLO;
	if (!s->esmtp) {
		ss_reply(s, "250 %s", s->hostname);
		return;
	}
	ss_reply(s, "250-%s Hello %s", s->hostname, s->lpeer.ip);
	ss_reply(s, "250-PIPELINING");
	ss_reply(s, "250-SIZE %lld", (long long)s->size_max);
	ss_reply(s, "250-8BITMIME");
	ss_reply(s, "250-SMTPUTF8");
	ss_reply(s, "250-ENHANCEDSTATUSCODES");
	ss_reply(s, "250-CHUNKING");
	if (s->tls_offered && !s->tls && s->mode != HOME_LISTENER_SUBMISSIONS)
		ss_reply(s, "250-STARTTLS");
	if (s->mode != HOME_LISTENER_SMTP && s->tls && s->user_id == 0)
		ss_reply(s, "250-AUTH PLAIN LOGIN");
	ss_reply(s, "250 HELP");
}

/* ---- AUTH ---- */

static void
ss_login_env(const struct smtp_session *s, struct login_env *env)
{
	env->st = s->st;
	env->th = s->th;
	env->peer = &s->lpeer;
	env->sid = s->sid;
	env->dummy_hash = s->dummy_hash;
}

/*
 * A login: the lookup and the throttle here; the password check itself
 * (0.1 s of Argon2id) is the caller's to run off the loop
 * (SESSION_VERIFY), and ss_login_finish() answers once it is done.
 */
static void
ss_login(struct smtp_session *s, const char *name, size_t namelen, const char *pass, size_t passlen)
{
	struct login_env env;

	ss_login_env(s, &env);
	switch (login_begin(&s->login, &env, name, namelen, pass, passlen, s->now_ms)) {
	case LOGIN_CHECK:
		s->action = SESSION_VERIFY;
		break;
	case LOGIN_LOCKED:
		ss_reply(s, "454 4.7.0 Too many failed logins, try again later");
		ss_error(s);
		break;
	default:
		ss_reply(s, "454 4.7.0 Temporary authentication failure, try again later");
		break;
	}
}

/* The check is done (c), or could not be run (NULL): answer 235, 535 (held back) or 454. */
static void
ss_login_finish(struct smtp_session *s, const struct password_check *c)
{
	struct login_env env;

	ss_login_env(s, &env);
	switch (login_end(&s->login, &env, c, s->now_ms, &s->delay_ms)) {
	case LOGIN_OK:
		s->user_id = s->login.user_id;
		memcpy(s->user, s->login.address, sizeof(s->user));
		ss_reply(s, "235 2.7.0 Authentication successful");
		break;
	case LOGIN_FAILED:
		ss_reply(s, "535 5.7.8 Authentication credentials invalid");
		ss_error(s);
		break;
	default:
		ss_reply(s, "454 4.7.0 Temporary authentication failure, try again later");
		break;
	}
}

/*
 * Decode a SASL response (base64; "=" is the empty initial response).
 * Returns 0 with the bytes in out[0..*len_r), or -1 after answering 501.
 */
static int
ss_sasl_decode(struct smtp_session *s, const char *text, size_t len, uint8_t *out, size_t cap,
	       size_t *len_r)
{
	if (len == 1 && text[0] == '=') {
		*len_r = 0;
		return 0;
	}
	if (len == 0 || b64_decode(text, len, out, cap, len_r) != 0) {
		ss_reply(s, "501 5.5.2 Cannot decode the response");
		ss_error(s);
		return -1;
	}
	return 0;
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static void
ss_auth_plain(struct smtp_session *s, const char *text, size_t len)
{
	uint8_t buf[SS_SASL_MAX];
	size_t n;
	struct login_plain pl;

	s->state = SS_CMD;
	if (ss_sasl_decode(s, text, len, buf, sizeof(buf), &n) != 0)
		goto out;
	if (login_plain_split(buf, n, &pl) != 0) {
		ss_reply(s, "501 5.5.2 Malformed PLAIN response");
		ss_error(s);
		goto out;
	}
	if (pl.other_authz) {
		ss_reply(s, "535 5.7.8 Authorization identity not allowed");
		ss_error(s);
		goto out;
	}
	ss_login(s, pl.authc, pl.authc_len, pl.pass, pl.pass_len);
out:
	sodium_memzero(buf, sizeof(buf));
}

static void
ss_auth_login_user(struct smtp_session *s, const char *text, size_t len)
{
	uint8_t buf[SS_SASL_MAX];
	size_t n;

	if (ss_sasl_decode(s, text, len, buf, sizeof(buf), &n) != 0) {
		s->state = SS_CMD;
		return;
	}
	memcpy(s->login_name, buf, n);
	s->login_name_len = n;
	s->state = SS_AUTH_LOGIN_PASS;
	ss_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
}

static void
ss_auth_login_pass(struct smtp_session *s, const char *text, size_t len)
{
	uint8_t buf[SS_SASL_MAX];
	size_t n;

	s->state = SS_CMD;
	if (ss_sasl_decode(s, text, len, buf, sizeof(buf), &n) == 0)
		ss_login(s, s->login_name, s->login_name_len, (const char *)buf, n);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(s->login_name, sizeof(s->login_name));
	s->login_name_len = 0;
}

static void
ss_auth(struct smtp_session *s, const struct smtp_command *c)
{
	if (s->mode == HOME_LISTENER_SMTP) {
		ss_reply(s, "502 5.5.1 AUTH not available on this port; use submission");
		ss_error(s);
		return;
	}
	if (!s->tls) {
		ss_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		ss_error(s);
		return;
	}
	if (!s->esmtp) {
		ss_reply(s, "503 5.5.1 Send EHLO first");
		ss_error(s);
		return;
	}
	if (s->user_id != 0) {
		ss_reply(s, "503 5.5.1 Already authenticated");
		ss_error(s);
		return;
	}
	if (s->in_mail) {
		ss_reply(s, "503 5.5.1 AUTH not allowed during a mail transaction");
		ss_error(s);
		return;
	}
	if (strcmp(c->mech, "PLAIN") == 0) {
		if (c->has_initial) {
			ss_auth_plain(s, c->initial, c->initial_len);
		} else {
			s->state = SS_AUTH_PLAIN;
			ss_reply(s, "334 ");
		}
	} else if (strcmp(c->mech, "LOGIN") == 0) {
		if (c->has_initial) {
			ss_auth_login_user(s, c->initial, c->initial_len);
		} else {
			s->state = SS_AUTH_LOGIN_USER;
			ss_reply(s, "334 VXNlcm5hbWU6");	/* "Username:" */
		}
	} else {
		ss_reply(s, "504 5.5.4 Unrecognized authentication type");
		ss_error(s);
	}
}

/* A line while a SASL exchange is under way. */
static void
ss_sasl_line(struct smtp_session *s, const char *text, size_t len)
{
	if (len == 1 && text[0] == '*') {
		s->state = SS_CMD;
		sodium_memzero(s->login_name, sizeof(s->login_name));
		s->login_name_len = 0;
		ss_reply(s, "501 5.0.0 Authentication cancelled");
		ss_error(s);
		return;
	}
	switch (s->state) {
	case SS_AUTH_PLAIN:
		ss_auth_plain(s, text, len);
		break;
	case SS_AUTH_LOGIN_USER:
		ss_auth_login_user(s, text, len);
		break;
	default:
		ss_auth_login_pass(s, text, len);
		break;
	}
}

/* ---- MAIL, RCPT ---- */

/* Whether the user logged in may send as this path: an address that delivers to them. */
static int
ss_owns(struct smtp_session *s, const struct smtp_path *p, int *owns_r)
{
	struct store_err err;
	size_t n;

	*owns_r = 0;
	if (p->null || p->literal)
		return 0;
	if (store_resolve(s->st, p->local, p->domain, s->ids, STORE_RESOLVE_MAX, &n, &err) != 0) {
		ss_log_store(s, "mail_from", &err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s->ids[i] == s->user_id)
			*owns_r = 1;
	}
	return 0;
}

static void
ss_mail(struct smtp_session *s, const struct smtp_command *c)
{
	int owns;

	if (!s->greeted) {
		ss_reply(s, "503 5.5.1 Send EHLO or HELO first");
		ss_error(s);
		return;
	}
	if (s->in_mail) {
		ss_reply(s, "503 5.5.1 Nested MAIL command");
		ss_error(s);
		return;
	}
	if (s->mode != HOME_LISTENER_SMTP && s->user_id == 0) {
		if (!s->tls)
			ss_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		else
			ss_reply(s, "530 5.7.0 Authentication required");
		ss_error(s);
		return;
	}
	if (c->path.utf8 && !c->smtputf8) {
		ss_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		ss_error(s);
		return;
	}
	if (c->body == SMTP_BODY_BINARYMIME) {
		ss_reply(s, "555 5.5.4 BODY=BINARYMIME is not supported");
		ss_error(s);
		return;
	}
	if (c->size > s->size_max) {
		ss_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size (%lld)",
			 (long long)s->size_max);
		ss_error(s);
		return;
	}
	if (ss_address_text(&c->path, s->from_path, sizeof(s->from_path), s->from_text,
			    sizeof(s->from_text)) != 0) {
		ss_reply(s, "553 5.1.7 Sender address too long");
		ss_error(s);
		return;
	}
	if (s->mode != HOME_LISTENER_SMTP) {
		if (ss_owns(s, &c->path, &owns) != 0) {
			ss_reply(s, "451 4.3.0 Local error in processing, try again later");
			return;
		}
		if (!owns) {
			char esc[2 * SMTP_PATH_MAX];

			log_warn(s->sid, "mail_from", "result=refused from=\"%s\" user=\"%s\" "
				 "reason=not_owned", log_escape(s->from_path, strlen(s->from_path), esc,
								sizeof(esc)), s->user);
			ss_reply(s, "553 5.7.1 Sender address not owned by %s", s->user);
			ss_error(s);
			s->from_path[0] = s->from_text[0] = '\0';
			return;
		}
	}
	s->from = c->path;
	s->declared_size = c->size;
	s->smtputf8 = c->smtputf8;
	s->in_mail = 1;
	ss_reply(s, "250 2.1.0 OK");
}

/* <Postmaster>: postmaster at our host name, or at a domain above it. Returns 0 with *n_r, or -1. */
static int
ss_resolve_postmaster(struct smtp_session *s, size_t *n_r, struct store_err *err)
{
	const char *d = s->hostname;

	for (;;) {
		if (store_resolve(s->st, "postmaster", d, s->ids, STORE_RESOLVE_MAX, n_r, err) != 0)
			return -1;
		if (*n_r > 0 || (d = strchr(d, '.')) == NULL)
			return 0;
		d++;
		if (strchr(d, '.') == NULL)
			return 0;	/* never a top-level domain */
	}
}

/*
 * Refuse a local recipient that cannot take the message now (452 4.2.2)
 * or ever (552 5.2.2, the declared size is over its quota). Returns 1 if
 * refused (answered), 0 if fine, -1 on a store error (answered).
 */
static int
ss_quota_refused(struct smtp_session *s, size_t n)
{
	struct store_err err;

	for (size_t i = 0; i < n; i++) {
		struct store_user u;
		int64_t need = s->declared_size > 0 ? s->declared_size : 0;

		if (store_user_get_id(s->st, s->ids[i], &u, &err) != 0) {
			ss_log_store(s, "quota", &err);
			ss_store_reply(s, &err);
			return -1;
		}
		sodium_memzero(u.password_hash, sizeof(u.password_hash));
		if (u.quota <= 0)
			continue;
		if (need > u.quota) {
			ss_reply(s, "552 5.2.2 Mailbox full: the message is larger than the quota");
			return 1;
		}
		if (u.used + need > u.quota || (need == 0 && u.used >= u.quota)) {
			ss_reply(s, "452 4.2.2 Mailbox full, try again later");
			return 1;
		}
	}
	return 0;
}

/* The delivery, made at the first accepted recipient. Returns 0, or -1 (answered). */
static int
ss_delivery(struct smtp_session *s)
{
	struct store_err err;

	if (s->d != NULL)
		return 0;
	s->d = store_delivery_begin(s->st, s->from_text, &err);
	if (s->d == NULL) {
		ss_log_store(s, "delivery_begin", &err);
		ss_store_reply(s, &err);
		return -1;
	}
	return 0;
}

static void
ss_rcpt(struct smtp_session *s, const struct smtp_command *c)
{
	const struct smtp_path *p = &c->path;
	char path[SMTP_PATH_MAX + 1], text[STORE_ADDRESS_MAX], esc[2 * SMTP_PATH_MAX];
	struct store_err err;
	size_t n = 0;
	int local = 0, rc;

	if (!s->in_mail) {
		ss_reply(s, "503 5.5.1 Need MAIL before RCPT");
		ss_error(s);
		return;
	}
	if (s->nrcpt >= s->max_recipients) {
		ss_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (p->utf8 && !s->smtputf8) {
		ss_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		ss_error(s);
		return;
	}
	if (ss_address_text(p, path, sizeof(path), text, sizeof(text)) != 0) {
		ss_reply(s, "553 5.1.3 Recipient address too long");
		ss_error(s);
		return;
	}
	log_escape(path, strlen(path), esc, sizeof(esc));
	if (p->postmaster) {
		rc = ss_resolve_postmaster(s, &n, &err);
		local = 1;
	} else if (p->literal) {
		rc = 0;		/* an address literal is never one of ours */
	} else {
		rc = store_domain_is_local(s->st, p->domain, &local, &err);
		if (rc == 0 && local)
			rc = store_resolve(s->st, p->local, p->domain, s->ids, STORE_RESOLVE_MAX, &n, &err);
	}
	if (rc != 0) {
		ss_log_store(s, "rcpt", &err);
		ss_store_reply(s, &err);
		return;
	}
	if (local) {
		if (n == 0) {
			log_info(s->sid, "rcpt", "result=refused to=\"%s\" reason=unknown_user", esc);
			ss_reply(s, "550 5.1.1 %s: no such user here", path);
			ss_error(s);
			return;
		}
		if (ss_quota_refused(s, n) != 0) {
			log_info(s->sid, "rcpt", "result=refused to=\"%s\" reason=quota", esc);
			return;
		}
		if (ss_delivery(s) != 0)
			return;
		for (size_t i = 0; i < n; i++) {
			if (store_delivery_add_user(s->d, s->ids[i], &err) != 0) {
				ss_reply(s, "452 4.5.3 Too many recipients");
				return;
			}
		}
	} else if (s->user_id != 0) {
		if (ss_delivery(s) != 0)
			return;
		if (store_delivery_add_remote(s->d, text, &err) != 0) {
			ss_reply(s, "452 4.5.3 Too many recipients");
			return;
		}
	} else {
		log_info(s->sid, "rcpt", "result=refused to=\"%s\" reason=relay", esc);
		ss_reply(s, "554 5.7.1 %s: Relay access denied", path);
		ss_error(s);
		return;
	}
	if (s->nrcpt++ == 0)
		memcpy(s->first_rcpt, path, strlen(path) + 1);
	ss_reply(s, "250 2.1.5 OK");
}

/* ---- the message ---- */

/* RFC 5322 date-time, UTC. */
static void
ss_date(char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	if (strftime(out, cap, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		snprintf(out, cap, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* Give the store n bytes of the message (unless it is already lost). */
static void
ss_store_write(struct smtp_session *s, const void *p, size_t n)
{
	if (s->d == NULL || n == 0)
		return;
	if (store_delivery_write(s->d, p, n, &s->serr) != 0) {
		ss_log_store(s, "write", &s->serr);
		s->store_failed = 1;
		store_delivery_free(&s->d);
	}
}

/* The staged bytes to the store. */
static void
ss_flush_staged(struct smtp_session *s)
{
	ss_store_write(s, s->staged, s->stagedlen);
	s->stagedlen = 0;
}

static void
ss_stage(struct smtp_session *s, const void *p, size_t n)
{
	if (n > sizeof(s->staged) - s->stagedlen)
		ss_flush_staged(s);
	if (n > sizeof(s->staged)) {
		ss_store_write(s, p, n);
		return;
	}
	memcpy(s->staged + s->stagedlen, p, n);
	s->stagedlen += n;
}

/* Submission: the Date and Message-ID the header section lacks, staged. */
static void
ss_add_missing(struct smtp_session *s)
{
	char text[SMTP_SESSION_TRACE_MAX], date[SS_DATE_MAX], hex[2 * SS_MSGID_RANDOM + 1];
	uint8_t rnd[SS_MSGID_RANDOM];
	int n = 0, k;

	if (s->mode == HOME_LISTENER_SMTP)
		return;
	if (!(s->hdr_seen & SS_HDR_HAS_DATE)) {
		ss_date(date, sizeof(date));
		k = snprintf(text + n, sizeof(text) - (size_t)n, "Date: %s\r\n", date);
		n += k > 0 ? k : 0;
	}
	if (!(s->hdr_seen & SS_HDR_HAS_MSGID)) {
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		k = snprintf(text + n, sizeof(text) - (size_t)n, "Message-ID: <%s.%s@%s>\r\n", hex,
			     s->msg_id, s->hostname);
		n += k > 0 ? k : 0;
	}
	if (n > 0 && (size_t)n < sizeof(text))
		ss_stage(s, text, (size_t)n);
	s->hdr_seen |= SS_HDR_HAS_DATE | SS_HDR_HAS_MSGID;
}

/* A field name held back: is it Date or Message-ID? */
static void
ss_hdr_name_done(struct smtp_session *s)
{
	if (s->hdr_namelen == 4 && strncasecmp(s->hdr_name, "Date", 4) == 0)
		s->hdr_seen |= SS_HDR_HAS_DATE;
	if (s->hdr_namelen == 10 && strncasecmp(s->hdr_name, "Message-ID", 10) == 0)
		s->hdr_seen |= SS_HDR_HAS_MSGID;
}

/* The header section ended before the line held back: add what is missing, then that line. */
static void
ss_hdr_end(struct smtp_session *s)
{
	ss_add_missing(s);
	ss_stage(s, s->hdr_name, s->hdr_namelen);
	s->hdr_namelen = 0;
	s->hdr_state = SS_HDR_DONE;
}

/* 1 for a byte of a field name (RFC 5322 ftext). */
static int
ss_ftext(uint8_t b)
{
	return b >= 33 && b <= 126 && b != ':';
}

/*
 * Message bytes to the store. On submission they pass a scanner that
 * finds the end of the header section (where missing Date and
 * Message-ID go) and whether those fields are there; a line start is held
 * back until it is known to be a field.
 */
static void
ss_body(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (s->mode == HOME_LISTENER_SMTP || s->hdr_state == SS_HDR_DONE) {
		ss_stage(s, p, n);
		ss_flush_staged(s);
		return;
	}
	while (i < n) {
		uint8_t b = p[i];

		switch (s->hdr_state) {
		case SS_HDR_BOL:
			if (b == '\r') {
				s->hdr_name[0] = '\r';
				s->hdr_namelen = 1;
				s->hdr_state = SS_HDR_BLANK;
			} else if (b == ' ' || b == '\t') {
				ss_stage(s, &b, 1);
				s->hdr_state = SS_HDR_LINE;
			} else if (ss_ftext(b)) {
				s->hdr_name[0] = (char)b;
				s->hdr_namelen = 1;
				s->hdr_state = SS_HDR_NAME;
			} else {
				ss_hdr_end(s);
				continue;
			}
			i++;
			break;
		case SS_HDR_BLANK:
			if (b == '\n') {
				ss_hdr_end(s);	/* the empty line follows what we add */
				continue;
			}
			ss_stage(s, s->hdr_name, s->hdr_namelen);	/* a bare CR: refused anyway */
			s->hdr_namelen = 0;
			s->hdr_state = SS_HDR_LINE;
			break;
		case SS_HDR_NAME:
			if (b == ':') {
				ss_hdr_name_done(s);
				ss_stage(s, s->hdr_name, s->hdr_namelen);
				s->hdr_namelen = 0;
				s->hdr_state = SS_HDR_LINE;
				break;	/* the colon goes with the line */
			}
			if (ss_ftext(b) && s->hdr_namelen < sizeof(s->hdr_name)) {
				s->hdr_name[s->hdr_namelen++] = (char)b;
				i++;
				break;
			}
			ss_hdr_end(s);	/* not a field: the body starts here */
			continue;
		case SS_HDR_LINE: {
			const uint8_t *lf = memchr(p + i, '\n', n - i);
			size_t k = lf != NULL ? (size_t)(lf - (p + i)) + 1 : n - i;

			ss_stage(s, p + i, k);
			i += k;
			if (lf != NULL)
				s->hdr_state = SS_HDR_BOL;
			break;
		}
		default:
			ss_stage(s, p + i, n - i);
			i = n;
			break;
		}
	}
	ss_flush_staged(s);
}

/* Return-Path and Received, the message's first bytes (RFC 5321 4.4). */
static void
ss_trace(struct smtp_session *s)
{
	char text[SMTP_SESSION_TRACE_MAX], date[SS_DATE_MAX], tls[3 * SS_TLS_TEXT_MAX];
	const char *with;
	int n;

	ss_date(date, sizeof(date));
	if (s->user_id != 0)
		with = s->tls ? "ESMTPSA" : "ESMTPA";
	else if (s->esmtp)
		with = s->tls ? "ESMTPS" : "ESMTP";
	else
		with = s->tls ? "SMTPS" : "SMTP";
	tls[0] = '\0';
	if (s->tls)
		snprintf(tls, sizeof(tls), "\r\n\t(using %s with cipher %s)", s->tls_version,
			 s->tls_cipher);
	n = snprintf(text, sizeof(text),
		     "Return-Path: %s\r\n"
		     "Received: from %s (%s%s%s)\r\n"
		     "\tby %s (Homeport) with %s id %s%s%s%s;\r\n"
		     "\t%s\r\n",
		     s->from_path, s->helo[0] != '\0' ? s->helo : "unknown",
		     s->have_peer ? "[" : "", s->have_peer ? s->lpeer.ip : "unknown",
		     s->have_peer ? "]" : "", s->hostname, with, s->msg_id, tls,
		     s->nrcpt == 1 ? "\r\n\tfor " : "", s->nrcpt == 1 ? s->first_rcpt : "", date);
	if (n > 0 && (size_t)n < sizeof(text))
		ss_stage(s, text, (size_t)n);
	ss_flush_staged(s);
}

/* DATA's 354, or the first BDAT: the message starts. */
static void
ss_message_start(struct smtp_session *s)
{
	s->in_message = 1;
	snprintf(s->msg_id, sizeof(s->msg_id), "%s.%u", s->sid, s->messages + s->refused + 1);
	smtp_data_init(&s->dec);
	s->size = 0;
	s->too_big = 0;
	s->store_failed = 0;
	s->bdat_bad = 0;
	s->bdat_cr = 0;
	s->stagedlen = 0;
	s->hdr_state = SS_HDR_BOL;
	s->hdr_seen = 0;
	s->hdr_namelen = 0;
	memset(&s->serr, 0, sizeof(s->serr));
	ss_trace(s);
	/* The client's bytes start here: a retry of them is not delivered twice. */
	ss_flush_staged(s);
	if (s->d != NULL)
		store_delivery_content(s->d);
}

/* Why a message is refused for its bytes, or NULL. */
static const char *
ss_bad_reason(const struct smtp_session *s)
{
	if (s->dec.bare_lf)
		return "bare LF in message; lines must end in CRLF";
	if (s->dec.bare_cr)
		return "bare CR in message; lines must end in CRLF";
	if (s->dec.nul)
		return "NUL byte in message";
	if (s->dec.too_long)
		return "line longer than 1000 octets in message";
	if (s->bdat_bad)
		return "bare CR, bare LF or NUL in message";
	return NULL;
}

/* The whole message is in: store it and answer, or refuse it. */
static void
ss_message_end(struct smtp_session *s)
{
	const char *bad = ss_bad_reason(s);
	const char *result = "accepted";
	char esc[2 * SMTP_PATH_MAX];
	struct store_err err;
	int64_t body = 0;

	if (bad != NULL) {
		ss_reply(s, "550 5.6.0 Message refused: %s", bad);
		result = "refused";
	} else if (s->too_big) {
		ss_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size (%lld)",
			 (long long)s->size_max);
		result = "refused";
	} else if (s->store_failed || s->d == NULL) {
		ss_store_reply(s, &s->serr);
		result = "failed";
	} else {
		if (s->hdr_state != SS_HDR_DONE && s->mode != HOME_LISTENER_SMTP) {
			/* No empty line: the whole message was header fields. */
			ss_hdr_end(s);
			ss_flush_staged(s);
		}
		if (s->d != NULL && store_delivery_commit(s->d, (int64_t)time(NULL), &err) == 0) {
			body = store_delivery_body_id(s->d);
			ss_reply(s, "250 2.0.0 OK id=%s", s->msg_id);
		} else {
			if (s->d != NULL)
				s->serr = err;
			ss_log_store(s, "commit", &s->serr);
			ss_store_reply(s, &s->serr);
			result = "failed";
		}
	}
	if (strcmp(result, "accepted") == 0)
		s->messages++;
	else
		s->refused++;
	log_info(s->sid, "message", "result=%s id=%s from=\"%s\" rcpts=%u size=%llu body=%lld "
		 "duplicates=%zu%s%s%s",
		 result, s->msg_id, log_escape(s->from_path, strlen(s->from_path), esc, sizeof(esc)),
		 s->nrcpt, (unsigned long long)s->size, (long long)body,
		 s->d != NULL && strcmp(result, "accepted") == 0 ? store_delivery_duplicates(s->d) : 0,
		 bad != NULL ? " reason=\"" : "", bad != NULL ? bad : "", bad != NULL ? "\"" : "");
	ss_reset(s);
	s->state = SS_CMD;
	if (s->stopping && s->action == SESSION_GO) {
		ss_reply(s, "421 4.3.2 %s Shutting down, try again later", s->hostname);
		s->action = SESSION_CLOSE;
	}
}

/* Count decoded bytes; past the limit the message is dropped but read to its end. */
static void
ss_count(struct smtp_session *s, size_t n)
{
	s->size += n;
	if (!s->too_big && s->size > (uint64_t)s->size_max) {
		s->too_big = 1;
		store_delivery_free(&s->d);
	}
}

/* DATA: up to one step of bytes. Returns how many were taken. */
static size_t
ss_data_step(struct smtp_session *s, const uint8_t *in, size_t len)
{
	size_t n = len < sizeof(s->scratch) ? len : sizeof(s->scratch), olen, used;
	enum smtp_data_status st = smtp_data_feed(&s->dec, in, n, s->scratch, &olen, &used);

	ss_count(s, olen);
	if (smtp_data_bad(&s->dec))
		store_delivery_free(&s->d);	/* refused whatever follows: keep nothing */
	else if (!s->too_big)
		ss_body(s, s->scratch, olen);
	if (st == SMTP_DATA_END)
		ss_message_end(s);
	return used;
}

static void
ss_data(struct smtp_session *s)
{
	if (!s->in_mail) {
		ss_reply(s, "503 5.5.1 Need MAIL command");
		ss_error(s);
		return;
	}
	if (s->nrcpt == 0) {
		ss_reply(s, "554 5.5.1 No valid recipients");
		ss_error(s);
		return;
	}
	if (s->in_message) {
		ss_reply(s, "503 5.5.1 DATA after BDAT");
		ss_error(s);
		return;
	}
	ss_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	ss_message_start(s);
	s->state = SS_DATA;
}

/* BDAT: a chunk's bytes, as they are (RFC 3030). */
static size_t
ss_bdat_step(struct smtp_session *s, const uint8_t *in, size_t len)
{
	size_t n = len;

	if ((int64_t)n > s->bdat_left)
		n = (size_t)s->bdat_left;
	if (n > SMTP_SESSION_DATA_STEP)
		n = SMTP_SESSION_DATA_STEP;
	s->bdat_left -= (int64_t)n;
	if (s->bdat_refusal == NULL) {
		/* The same rule as DATA: only CRLF ends a line, no NUL. */
		for (size_t i = 0; i < n && !s->bdat_bad; i++) {
			uint8_t b = in[i];

			if ((b == '\n' && !s->bdat_cr) || (s->bdat_cr && b != '\n') || b == '\0')
				s->bdat_bad = 1;
			s->bdat_cr = b == '\r';
		}
		ss_count(s, n);
		if (s->bdat_bad)
			store_delivery_free(&s->d);
		else if (!s->too_big)
			ss_body(s, in, n);
	}
	if (s->bdat_left > 0)
		return n;
	s->state = SS_CMD;
	if (s->bdat_refusal != NULL) {
		ss_reply(s, "%s", s->bdat_refusal);
		s->bdat_refusal = NULL;
		ss_error(s);
		return n;
	}
	if (s->bdat_last) {
		if (s->bdat_cr)
			s->bdat_bad = 1;	/* a CR at the very end has no LF */
		ss_message_end(s);
	} else {
		ss_reply(s, "250 2.0.0 %lld octets received", (long long)s->size);
	}
	return n;
}

static void
ss_bdat(struct smtp_session *s, const struct smtp_command *c)
{
	s->bdat_left = c->bdat_size;
	s->bdat_last = c->bdat_last;
	s->state = SS_BDAT;
	if (!s->in_mail)
		s->bdat_refusal = "503 5.5.1 Need MAIL command";
	else if (s->nrcpt == 0)
		s->bdat_refusal = "554 5.5.1 No valid recipients";
	else if (!s->in_message)
		ss_message_start(s);
	if (s->bdat_left == 0)
		(void)ss_bdat_step(s, NULL, 0);
}

/* ---- the other commands ---- */

static void
ss_starttls(struct smtp_session *s)
{
	if (!s->tls_offered || s->mode == HOME_LISTENER_SUBMISSIONS) {
		ss_reply(s, "502 5.5.1 STARTTLS not available");
		ss_error(s);
		return;
	}
	if (s->tls) {
		ss_reply(s, "503 5.5.1 TLS already active");
		ss_error(s);
		return;
	}
	ss_reset(s);
	ss_reply(s, "220 2.0.0 Ready to start TLS");
	s->action = SESSION_STARTTLS;
}

static void
ss_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_command *c = malloc(sizeof(*c));

	if (c == NULL) {
		ss_reply(s, "421 4.3.0 %s Out of memory, closing connection", s->hostname);
		s->action = SESSION_CLOSE;
		return;
	}
	if (smtp_parse_command(line, len, c) != 0) {
		ss_reply(s, "%d %s %s", c->reply->code, c->reply->enhanced, c->reply->text);
		if (c->verb == SMTP_VERB_BDAT) {
			/* Its chunk's length is unknown: nothing after it can be read as commands. */
			ss_reply(s, "421 4.5.0 %s Cannot continue after a malformed BDAT", s->hostname);
			s->action = SESSION_CLOSE;
		} else {
			ss_error(s);
		}
		goto out;
	}
	switch (c->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		ss_helo(s, c);
		break;
	case SMTP_VERB_MAIL:
		ss_mail(s, c);
		break;
	case SMTP_VERB_RCPT:
		ss_rcpt(s, c);
		break;
	case SMTP_VERB_DATA:
		ss_data(s);
		break;
	case SMTP_VERB_BDAT:
		ss_bdat(s, c);
		break;
	case SMTP_VERB_RSET:
		ss_reset(s);
		ss_reply(s, "250 2.0.0 OK");
		break;
	case SMTP_VERB_NOOP:
		ss_reply(s, "250 2.0.0 OK");
		break;
	case SMTP_VERB_QUIT:
		ss_reply(s, "221 2.0.0 %s Bye", s->hostname);
		s->action = SESSION_CLOSE;
		break;
	case SMTP_VERB_VRFY:
		ss_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		ss_reply(s, "502 5.5.1 EXPN not available");
		ss_error(s);
		break;
	case SMTP_VERB_HELP:
		ss_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY "
			 "HELP STARTTLS AUTH");
		break;
	case SMTP_VERB_STARTTLS:
		ss_starttls(s);
		break;
	case SMTP_VERB_AUTH:
		ss_auth(s, c);
		break;
	default:
		ss_reply(s, "500 5.5.2 Syntax error, command unrecognized");
		ss_error(s);
		break;
	}
out:
	sodium_memzero(c->initial, sizeof(c->initial));
	free(c);
}

/* A line is complete (raw: without its LF, a CR still at its end if it had one). */
static void
ss_line(struct smtp_session *s)
{
	char *line = s->line;
	size_t len = s->linelen;
	int sasl = s->state != SS_CMD;
	int over = s->line_over, bare_lf = len == 0 || line[len - 1] != '\r';

	s->linelen = 0;
	s->line_over = 0;
	if (!bare_lf)
		len--;
	if (over || bare_lf) {
		if (sasl) {
			s->state = SS_CMD;
			sodium_memzero(s->login_name, sizeof(s->login_name));
			s->login_name_len = 0;
		}
		if (over)
			ss_reply(s, "500 5.5.2 Line too long");
		else
			ss_reply(s, "500 5.5.2 Syntax error, line must end in CRLF");
		ss_error(s);
		sodium_memzero(s->line, sizeof(s->line));
		return;
	}
	line[len] = '\0';
	if (sasl)
		ss_sasl_line(s, line, len);
	else
		ss_command(s, line, len);
	if (sasl)
		sodium_memzero(s->line, sizeof(s->line));
}

/* Command or SASL bytes: gather a line. Returns how many were taken. */
static size_t
ss_line_step(struct smtp_session *s, const uint8_t *in, size_t len)
{
	/* The most a line may hold before its LF: the text, and its CR. */
	size_t max = (s->state == SS_CMD ? SMTP_COMMAND_MAX - 2 : SMTP_SESSION_SASL_LINE_MAX) + 1;
	const uint8_t *lf = memchr(in, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - in) : len;

	if (!s->line_over) {
		if (n > max - s->linelen) {
			s->line_over = 1;
		} else {
			memcpy(s->line + s->linelen, in, n);
			s->linelen += n;
		}
	}
	if (lf == NULL)
		return len;
	ss_line(s);
	return n + 1;
}

/* ---- the interface ---- */

struct smtp_session *
smtp_session_new(const struct smtp_session_params *p, struct store *st, struct throttle *th)
{
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	snprintf(s->hostname, sizeof(s->hostname), "%s", p->hostname);
	s->mode = p->mode;
	s->tls_offered = p->tls_offered;
	s->size_max = p->size_max;
	s->max_recipients = p->max_recipients;
	s->max_errors = p->max_errors > 0 ? p->max_errors : 1;
	snprintf(s->sid, sizeof(s->sid), "%s", p->sid != NULL ? p->sid : "");
	s->dummy_hash = p->dummy_hash;
	s->st = st;
	s->th = th;
	s->declared_size = -1;
	login_peer_init(&s->lpeer, p->peer);
	if (p->peer != NULL) {
		s->have_peer = 1;
		s->peer = *p->peer;
	}
	return s;
}

void
smtp_session_greet(struct smtp_session *s)
{
	ss_reply(s, "220 %s ESMTP Homeport", s->hostname);
}

void
smtp_session_tls_started(struct smtp_session *s, const char *version, const char *cipher)
{
	ss_reset(s);
	s->tls = 1;
	s->greeted = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->user_id = 0;
	s->user[0] = '\0';
	s->state = SS_CMD;
	s->linelen = 0;
	s->line_over = 0;
	if (s->action == SESSION_STARTTLS)
		s->action = SESSION_GO;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s", version);
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s", cipher);
}

size_t
smtp_session_feed(struct smtp_session *s, const uint8_t *in, size_t len, int64_t now_ms)
{
	size_t off = 0;

	s->now_ms = now_ms;
	while (off < len && s->action == SESSION_GO && s->delay_ms == 0 &&
	       sizeof(s->out) - s->outlen >= SMTP_SESSION_REPLY_MAX) {
		switch (s->state) {
		case SS_DATA:
			off += ss_data_step(s, in + off, len - off);
			break;
		case SS_BDAT:
			off += ss_bdat_step(s, in + off, len - off);
			break;
		default:
			off += ss_line_step(s, in + off, len - off);
			break;
		}
	}
	if (s->action == SESSION_STARTTLS && off < len) {
		log_warn(s->sid, "starttls_injection", "dropped=%zu", len - off);
		off = len;
	}
	return off;
}

int
smtp_session_action(const struct smtp_session *s)
{
	return s->action;
}

const struct password_check *
smtp_session_check(const struct smtp_session *s)
{
	return s->action == SESSION_VERIFY ? &s->login.check : NULL;
}

void
smtp_session_verified(struct smtp_session *s, const struct password_check *c, int64_t now_ms)
{
	if (s->action != SESSION_VERIFY)
		return;
	s->now_ms = now_ms;
	s->action = SESSION_GO;
	ss_login_finish(s, c);
	sodium_memzero(&s->login, sizeof(s->login));
}

int64_t
smtp_session_delay(struct smtp_session *s)
{
	int64_t d = s->delay_ms;

	s->delay_ms = 0;
	return d;
}

const uint8_t *
smtp_session_output(const struct smtp_session *s, size_t *len_r)
{
	*len_r = s->outlen;
	return s->out;
}

void
smtp_session_output_consume(struct smtp_session *s, size_t n)
{
	if (n >= s->outlen) {
		s->outlen = 0;
		return;
	}
	memmove(s->out, s->out + n, s->outlen - n);
	s->outlen -= n;
}

int
smtp_session_in_data(const struct smtp_session *s)
{
	return s->state == SS_DATA || s->state == SS_BDAT;
}

void
smtp_session_timeout(struct smtp_session *s)
{
	ss_reset(s);
	s->outlen = 0;	/* what was not sent by now will not be */
	ss_reply(s, "421 4.4.2 %s Timeout, closing connection", s->hostname);
	s->action = SESSION_CLOSE;
}

int
smtp_session_shutdown(struct smtp_session *s)
{
	s->stopping = 1;
	if (s->action == SESSION_VERIFY) {
		/* A login in the middle of its check: the result is not waited for. */
		sodium_memzero(&s->login, sizeof(s->login));
		s->action = SESSION_GO;
	}
	if (s->action != SESSION_GO)
		return 1;
	if (smtp_session_in_data(s))
		return 0;
	ss_reset(s);
	ss_reply(s, "421 4.3.2 %s Shutting down, try again later", s->hostname);
	s->action = SESSION_CLOSE;
	return 1;
}

void
smtp_session_stats(const struct smtp_session *s, struct smtp_session_stats *st_r)
{
	st_r->messages = s->messages;
	st_r->refused = s->refused;
	st_r->errors = s->errors;
	st_r->tls = s->tls;
	st_r->helo = s->helo;
	st_r->user = s->user;
}

void
smtp_session_free(struct smtp_session **sp)
{
	struct smtp_session *s = *sp;

	if (s == NULL)
		return;
	store_delivery_free(&s->d);
	sodium_memzero(s, sizeof(*s));
	free(s);
	*sp = NULL;
}
