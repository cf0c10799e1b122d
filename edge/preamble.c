/*
 * preamble: the SMTP and IMAP the edge speaks itself, up to STARTTLS.
 *
 * Just enough of each protocol for a client to reach STARTTLS (RFC 3207,
 * RFC 3501 6.2.1); everything that needs the home (mail, login) is refused
 * until then. Lines in, replies out: no I/O, no logging, no globals. Every
 * reply is at most PREAMBLE_REPLY_MAX bytes, since the only variable parts
 * are the edge's name (at most DNSNAME_MAX bytes printed) and a checked
 * IMAP tag (at most PREAMBLE_TAG_MAX bytes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dnsname.h"
#include "edge.h"

/* A piece of a command line: borrowed from the input, not NUL-terminated. */
struct preamble_span {
	const uint8_t *p;
	size_t len;
};

/* A command word and what it means; a table ends with word NULL. */
struct preamble_verb {
	const char *word;	/* upper case */
	int verb;		/* enum preamble_smtp_verb or preamble_imap_verb */
};

enum preamble_smtp_verb {
	PREAMBLE_SMTP_UNKNOWN,
	PREAMBLE_SMTP_EHLO,
	PREAMBLE_SMTP_HELO,
	PREAMBLE_SMTP_STARTTLS,
	PREAMBLE_SMTP_NOOP,
	PREAMBLE_SMTP_RSET,
	PREAMBLE_SMTP_HELP,
	PREAMBLE_SMTP_QUIT,
	PREAMBLE_SMTP_NEEDS_TLS,	/* a real command, refused in plaintext */
};

static const struct preamble_verb preamble_smtp_verbs[] = {
	{ "EHLO", PREAMBLE_SMTP_EHLO },
	{ "HELO", PREAMBLE_SMTP_HELO },
	{ "STARTTLS", PREAMBLE_SMTP_STARTTLS },
	{ "NOOP", PREAMBLE_SMTP_NOOP },
	{ "RSET", PREAMBLE_SMTP_RSET },
	{ "HELP", PREAMBLE_SMTP_HELP },
	{ "QUIT", PREAMBLE_SMTP_QUIT },
	{ "MAIL", PREAMBLE_SMTP_NEEDS_TLS },
	{ "RCPT", PREAMBLE_SMTP_NEEDS_TLS },
	{ "DATA", PREAMBLE_SMTP_NEEDS_TLS },
	{ "BDAT", PREAMBLE_SMTP_NEEDS_TLS },
	{ "AUTH", PREAMBLE_SMTP_NEEDS_TLS },
	{ "VRFY", PREAMBLE_SMTP_NEEDS_TLS },
	{ "EXPN", PREAMBLE_SMTP_NEEDS_TLS },
	{ "ETRN", PREAMBLE_SMTP_NEEDS_TLS },
	{ "TURN", PREAMBLE_SMTP_NEEDS_TLS },
	{ NULL, PREAMBLE_SMTP_UNKNOWN },
};

enum preamble_imap_verb {
	PREAMBLE_IMAP_UNKNOWN,
	PREAMBLE_IMAP_CAPABILITY,
	PREAMBLE_IMAP_NOOP,
	PREAMBLE_IMAP_LOGOUT,
	PREAMBLE_IMAP_STARTTLS,
	PREAMBLE_IMAP_LOGIN,		/* LOGIN and AUTHENTICATE: NO until TLS */
};

static const struct preamble_verb preamble_imap_verbs[] = {
	{ "CAPABILITY", PREAMBLE_IMAP_CAPABILITY },
	{ "NOOP", PREAMBLE_IMAP_NOOP },
	{ "LOGOUT", PREAMBLE_IMAP_LOGOUT },
	{ "STARTTLS", PREAMBLE_IMAP_STARTTLS },
	{ "LOGIN", PREAMBLE_IMAP_LOGIN },
	{ "AUTHENTICATE", PREAMBLE_IMAP_LOGIN },
	{ NULL, PREAMBLE_IMAP_UNKNOWN },
};

/* Indexed by enum preamble_refusal: the enhanced status code and the text. */
static const struct {
	const char *code;
	const char *text;
} preamble_refusals[] = {
	[PREAMBLE_REFUSE_BUSY] = { "4.3.2", "Too busy, try again later" },
	[PREAMBLE_REFUSE_TIMEOUT] = { "4.4.2", "Timeout, closing" },
	[PREAMBLE_REFUSE_TENANT_DOWN] = { "4.4.2", "Destination unreachable, try again later" },
	[PREAMBLE_REFUSE_NO_ROUTE] = { "4.3.0", "No route for this destination, try again later" },
	[PREAMBLE_REFUSE_SHUTDOWN] = { "4.3.2", "Shutting down" },
	[PREAMBLE_REFUSE_SUSPENDED] = { "4.4.2", "Service for this destination is suspended, try again later" },
};

#define PREAMBLE_IMAP_CAPS "IMAP4rev1 STARTTLS LOGINDISABLED"

/* Append one reply; -1 (out unchanged) if it is longer than PREAMBLE_REPLY_MAX or does not fit. */
static int preamble_reply(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
preamble_reply(struct buf *out, const char *fmt, ...)
{
	char line[PREAMBLE_REPLY_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > PREAMBLE_REPLY_MAX)
		return -1;
	return buf_append(out, line, (size_t)n);
}

/*
 * The status after a reply: st, or PREAMBLE_CLOSE when the reply could not
 * be appended (it cannot happen while feed checks the room first).
 */
static enum preamble_status
preamble_after(int rc, enum preamble_status st)
{
	return rc == 0 ? st : PREAMBLE_CLOSE;
}

/* The bytes of the name printed with "%.*s". */
static int
preamble_name_len(const struct preamble *p)
{
	return (int)strnlen(p->name, DNSNAME_MAX);
}

/* Split s at its first space: *word_r before it, *rest_r after it. Returns 1 if there was a space. */
static int
preamble_split(const struct preamble_span *s, struct preamble_span *word_r, struct preamble_span *rest_r)
{
	const uint8_t *sp = s->len > 0 ? memchr(s->p, ' ', s->len) : NULL;

	word_r->p = s->p;
	if (sp == NULL) {
		word_r->len = s->len;
		rest_r->p = s->p + s->len;
		rest_r->len = 0;
		return 0;
	}
	word_r->len = (size_t)(sp - s->p);
	rest_r->p = sp + 1;
	rest_r->len = s->len - word_r->len - 1;
	return 1;
}

/* The verb of table whose word equals w without regard to ASCII case; 0 (unknown) if none. */
static int
preamble_lookup(const struct preamble_verb *table, const struct preamble_span *w)
{
	for (const struct preamble_verb *v = table; v->word != NULL; v++) {
		size_t i, n = strlen(v->word);

		if (w->len != n)
			continue;
		for (i = 0; i < n; i++) {
			uint8_t c = w->p[i];

			if (c >= 'a' && c <= 'z')
				c = (uint8_t)(c - ('a' - 'A'));
			if (c != (uint8_t)v->word[i])
				break;
		}
		if (i == n)
			return v->verb;
	}
	return 0;
}

static int
preamble_has_nul(const struct preamble_span *s)
{
	return s->len > 0 && memchr(s->p, '\0', s->len) != NULL;
}

/* ---- SMTP ---- */

/* EHLO or HELO: the argument is 1 to PREAMBLE_EHLO_MAX bytes of 0x21..0x7e. */
static enum preamble_status
preamble_smtp_helo(struct preamble *p, int esmtp, int has_arg, const struct preamble_span *arg,
		   struct buf *out)
{
	const char *verb = esmtp ? "EHLO" : "HELO";
	int nl = preamble_name_len(p);
	int rc;

	if (!has_arg || arg->len == 0 || arg->len > PREAMBLE_EHLO_MAX)
		goto fail;
	for (size_t i = 0; i < arg->len; i++) {
		if (arg->p[i] < 0x21 || arg->p[i] > 0x7e)
			goto fail;
	}
	memcpy(p->helo, arg->p, arg->len);
	p->helo[arg->len] = '\0';
	p->greeted = 1;
	p->esmtp = esmtp;
	if (esmtp)
		rc = preamble_reply(out, "250-%.*s\r\n250-SIZE\r\n250-8BITMIME\r\n"
				    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n", nl, p->name);
	else
		rc = preamble_reply(out, "250 %.*s\r\n", nl, p->name);
	return preamble_after(rc, PREAMBLE_MORE);

fail:
	/* RFC 5321 4.1.4: a refused EHLO leaves the session as it was. */
	p->errors++;
	return preamble_after(preamble_reply(out, "501 5.5.4 Syntax: %s hostname\r\n", verb),
			      PREAMBLE_MORE);
}

static enum preamble_status
preamble_smtp_starttls(struct preamble *p, int has_arg, int pipelined, struct buf *out)
{
	if (!p->greeted) {
		p->errors++;
		return preamble_after(preamble_reply(out, "503 5.5.1 EHLO first\r\n"), PREAMBLE_MORE);
	}
	if (has_arg) {
		p->errors++;
		return preamble_after(preamble_reply(out, "501 5.5.4 Syntax: STARTTLS\r\n"), PREAMBLE_MORE);
	}
	if (pipelined) {
		/* Whatever follows STARTTLS must be the ClientHello (CVE-2011-0411). */
		p->errors++;
		(void)preamble_reply(out, "554 5.5.0 Error: bytes sent after STARTTLS\r\n");
		return PREAMBLE_CLOSE;
	}
	return preamble_after(preamble_reply(out, "220 2.0.0 Ready to start TLS\r\n"), PREAMBLE_STARTTLS);
}

static enum preamble_status
preamble_smtp_line(struct preamble *p, const struct preamble_span *line, int pipelined, struct buf *out)
{
	struct preamble_span word, arg;
	int has_arg;

	if (preamble_has_nul(line)) {
		p->errors++;
		return preamble_after(preamble_reply(out, "500 5.5.2 NUL byte in command\r\n"), PREAMBLE_MORE);
	}
	has_arg = preamble_split(line, &word, &arg);
	switch (preamble_lookup(preamble_smtp_verbs, &word)) {
	case PREAMBLE_SMTP_EHLO:
		return preamble_smtp_helo(p, 1, has_arg, &arg, out);
	case PREAMBLE_SMTP_HELO:
		return preamble_smtp_helo(p, 0, has_arg, &arg, out);
	case PREAMBLE_SMTP_STARTTLS:
		return preamble_smtp_starttls(p, has_arg, pipelined, out);
	case PREAMBLE_SMTP_NOOP:
	case PREAMBLE_SMTP_RSET:
		return preamble_after(preamble_reply(out, "250 2.0.0 OK\r\n"), PREAMBLE_MORE);
	case PREAMBLE_SMTP_HELP:
		return preamble_after(preamble_reply(out, "214 2.0.0 Homeport edge: EHLO, STARTTLS, "
						     "NOOP, RSET, QUIT\r\n"), PREAMBLE_MORE);
	case PREAMBLE_SMTP_QUIT:
		(void)preamble_reply(out, "221 2.0.0 Bye\r\n");
		return PREAMBLE_CLOSE;
	case PREAMBLE_SMTP_NEEDS_TLS:
		if (p->tls_failed_recently) {
			/* A sender falling back to plaintext after we had to cut
			 * its TLS: a 530 would bounce the mail; keep it queued. */
			(void)preamble_reply(out, "421 4.7.0 %.*s TLS failed on your last attempt, "
					     "try again later\r\n", preamble_name_len(p), p->name);
			return PREAMBLE_CLOSE;
		}
		/*
		 * 451, not RFC 3207's 530: a sender whose TLS failed at the
		 * home (which the edge cannot see) retries here in plaintext,
		 * and a 5xx would bounce its mail. The edge never says 5xx
		 * about mail it could not route (DESIGN.md).
		 */
		p->errors++;
		return preamble_after(preamble_reply(out, "451 4.7.0 Must issue a STARTTLS command first\r\n"),
				      PREAMBLE_MORE);
	default:
		p->errors++;
		return preamble_after(preamble_reply(out, "500 5.5.2 Command not recognized\r\n"),
				      PREAMBLE_MORE);
	}
}

/* ---- IMAP ---- */

/* RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">. */
static int
preamble_imap_tag_ok(const struct preamble_span *tag)
{
	if (tag->len == 0 || tag->len > PREAMBLE_TAG_MAX)
		return 0;
	for (size_t i = 0; i < tag->len; i++) {
		uint8_t c = tag->p[i];

		/* CTL, SP, 8-bit, atom-specials other than resp-specials, and "+". */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\+", c) != NULL)
			return 0;
	}
	return 1;
}

/* 1 if the line ends in a literal: "{" 1*DIGIT ["+"] "}" (RFC 3501 4.3, RFC 7888). */
static int
preamble_imap_literal(const struct preamble_span *line)
{
	size_t i = line->len, digits = 0;

	if (i == 0 || line->p[i - 1] != '}')
		return 0;
	i--;
	if (i > 0 && line->p[i - 1] == '+')
		i--;
	while (i > 0 && line->p[i - 1] >= '0' && line->p[i - 1] <= '9') {
		i--;
		digits++;
	}
	return digits > 0 && i > 0 && line->p[i - 1] == '{';
}

static enum preamble_status
preamble_imap_line(struct preamble *p, const struct preamble_span *line, int pipelined, struct buf *out)
{
	struct preamble_span tag, rest, cmd, arg;
	int nl = preamble_name_len(p);
	int tag_ok, tl, has_arg;
	const char *t;

	preamble_split(line, &tag, &rest);
	tag_ok = preamble_imap_tag_ok(&tag);
	/* Only a checked tag is echoed: at most PREAMBLE_TAG_MAX printable bytes. */
	tl = tag_ok ? (int)tag.len : 1;
	t = tag_ok ? (const char *)tag.p : "*";
	if (preamble_imap_literal(line)) {
		/* The literal's bytes would come next, unannounced, as lines: stop here. */
		p->errors++;
		(void)preamble_reply(out, "%.*s BAD Literals are not allowed before STARTTLS\r\n", tl, t);
		return PREAMBLE_CLOSE;
	}
	if (!tag_ok) {
		p->errors++;
		return preamble_after(preamble_reply(out, "* BAD Invalid tag\r\n"), PREAMBLE_MORE);
	}
	if (preamble_has_nul(line)) {
		p->errors++;
		return preamble_after(preamble_reply(out, "%.*s BAD NUL byte in command\r\n", tl, t),
				      PREAMBLE_MORE);
	}
	has_arg = preamble_split(&rest, &cmd, &arg);
	switch (preamble_lookup(preamble_imap_verbs, &cmd)) {
	case PREAMBLE_IMAP_CAPABILITY:
		return preamble_after(preamble_reply(out, "* CAPABILITY " PREAMBLE_IMAP_CAPS "\r\n"
						     "%.*s OK CAPABILITY completed\r\n", tl, t),
				      PREAMBLE_MORE);
	case PREAMBLE_IMAP_NOOP:
		return preamble_after(preamble_reply(out, "%.*s OK NOOP completed\r\n", tl, t),
				      PREAMBLE_MORE);
	case PREAMBLE_IMAP_LOGOUT:
		(void)preamble_reply(out, "* BYE %.*s logging out\r\n%.*s OK LOGOUT completed\r\n",
				     nl, p->name, tl, t);
		return PREAMBLE_CLOSE;
	case PREAMBLE_IMAP_STARTTLS:
		if (has_arg) {
			p->errors++;
			return preamble_after(preamble_reply(out, "%.*s BAD STARTTLS takes no arguments\r\n",
							     tl, t), PREAMBLE_MORE);
		}
		if (pipelined) {
			/* Whatever follows STARTTLS must be the ClientHello (CVE-2011-0411). */
			p->errors++;
			(void)preamble_reply(out, "* BYE Bytes sent after STARTTLS\r\n");
			return PREAMBLE_CLOSE;
		}
		return preamble_after(preamble_reply(out, "%.*s OK Begin TLS negotiation now\r\n", tl, t),
				      PREAMBLE_STARTTLS);
	case PREAMBLE_IMAP_LOGIN:
		p->errors++;
		return preamble_after(preamble_reply(out, "%.*s NO [PRIVACYREQUIRED] Use STARTTLS first\r\n",
						     tl, t), PREAMBLE_MORE);
	default:
		p->errors++;
		return preamble_after(preamble_reply(out, "%.*s BAD Command not allowed before STARTTLS\r\n",
						     tl, t), PREAMBLE_MORE);
	}
}

/* ---- both ---- */

void
preamble_init(struct preamble *p, int proto, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->proto = proto;
	p->name = name;
}

int
preamble_greeting(const struct preamble *p, struct buf *out)
{
	int nl = preamble_name_len(p);

	if (p->proto == EDGE_PREAMBLE_IMAP)
		return preamble_reply(out, "* OK [CAPABILITY " PREAMBLE_IMAP_CAPS "] %.*s ready\r\n",
				      nl, p->name);
	return preamble_reply(out, "220 %.*s ESMTP Homeport edge\r\n", nl, p->name);
}

int
preamble_refuse_early(const struct preamble *p, struct buf *out)
{
	int nl = preamble_name_len(p);

	if (p->proto == EDGE_PREAMBLE_IMAP)
		return preamble_reply(out, "* BYE %.*s Protocol error: you spoke before the greeting\r\n",
				      nl, p->name);
	return preamble_reply(out, "554 5.5.1 %.*s Protocol error: you spoke before the greeting\r\n",
			      nl, p->name);
}

int
preamble_refuse(const struct preamble *p, enum preamble_refusal why, struct buf *out)
{
	int nl = preamble_name_len(p);

	if ((size_t)why >= sizeof(preamble_refusals) / sizeof(preamble_refusals[0]))
		return -1;
	if (p->proto == EDGE_PREAMBLE_IMAP)
		return preamble_reply(out, "* BYE [UNAVAILABLE] %.*s %s\r\n", nl, p->name,
				      preamble_refusals[why].text);
	return preamble_reply(out, "421 %s %.*s %s\r\n", preamble_refusals[why].code, nl, p->name,
			      preamble_refusals[why].text);
}

/* One complete line, without its CRLF or LF; pipelined: bytes follow it in this input. */
static enum preamble_status
preamble_line(struct preamble *p, const struct preamble_span *line, int pipelined, struct buf *out)
{
	int nl = preamble_name_len(p);

	/* The line after the last one allowed is refused without being looked at. */
	if (p->commands >= PREAMBLE_COMMANDS_MAX || p->errors >= PREAMBLE_ERRORS_MAX) {
		if (p->proto == EDGE_PREAMBLE_IMAP)
			(void)preamble_reply(out, "* BYE %.*s Too many commands\r\n", nl, p->name);
		else
			(void)preamble_reply(out, "421 4.7.0 %.*s Too many commands, closing\r\n",
					     nl, p->name);
		return PREAMBLE_CLOSE;
	}
	p->commands++;
	if (p->proto == EDGE_PREAMBLE_IMAP)
		return preamble_imap_line(p, line, pipelined, out);
	return preamble_smtp_line(p, line, pipelined, out);
}

enum preamble_status
preamble_feed(struct preamble *p, const uint8_t *in, size_t len, size_t *used_r, struct buf *out)
{
	enum preamble_status st = PREAMBLE_MORE;
	size_t off = 0;

	while (st == PREAMBLE_MORE && off < len && buf_room(out) >= PREAMBLE_REPLY_MAX) {
		size_t left = len - off;
		const uint8_t *lf = memchr(in + off, '\n', left < PREAMBLE_LINE_MAX ? left : PREAMBLE_LINE_MAX);
		struct preamble_span line;

		if (lf == NULL) {
			if (left < PREAMBLE_LINE_MAX)
				break;	/* an incomplete line: the caller keeps it */
			/* PREAMBLE_LINE_MAX bytes and no end: over the maximum whatever comes. */
			if (p->proto == EDGE_PREAMBLE_IMAP)
				(void)preamble_reply(out, "* BYE Line too long\r\n");
			else
				(void)preamble_reply(out, "500 5.5.6 Line too long\r\n");
			off = len;
			st = PREAMBLE_CLOSE;
			break;
		}
		line.p = in + off;
		line.len = (size_t)(lf - line.p);
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		off = (size_t)(lf - in) + 1;
		st = preamble_line(p, &line, off < len, out);
	}
	*used_r = off;
	return st;
}
