/*
 * mime_imap: BODYSTRUCTURE, BODY and ENVELOPE as FETCH sends them, from
 * the table alone (RFC 3501 7.4.2 and 9 "body", "envelope"; RFC 9051
 * 7.5.2 is the same for these).
 *
 * Strings are quoted when every byte is a 7-bit TEXT-CHAR, literals
 * otherwise (8-bit names and subjects); absent is NIL. Where the message
 * leaves a gap the grammar does not allow, the answer is Dovecot's, so
 * that clients see what they already handle: text/plain; charset=us-ascii
 * and 7bit by default, one empty text/plain part in a multipart without
 * parts, MISSING_MAILBOX and MISSING_DOMAIN for what an address lacks.
 *
 * No I/O, no globals.
 */
#include <stdio.h>
#include <string.h>

#include "mime.h"

#define MIME_IMAP_EMPTY_BODY \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define MIME_IMAP_EMPTY_BODY_EXT \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
#define MIME_IMAP_EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

static int
mime_imap_put(struct buf *out, const char *s)
{
	return buf_append(out, s, strlen(s));
}

static int
mime_imap_u64(struct buf *out, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	if (n < 0 || (size_t)n >= sizeof(num))
		return -1;
	return buf_append(out, num, (size_t)n);
}

int
mime_imap_string(struct buf *out, const uint8_t *s, size_t len)
{
	int quoted = 1;
	char head[32];
	int n;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			return -1;
		if (s[i] >= 0x80 || s[i] == '\r' || s[i] == '\n')
			quoted = 0;
	}
	if (!quoted) {
		n = snprintf(head, sizeof(head), "{%zu}\r\n", len);
		if (n < 0 || (size_t)n >= sizeof(head) || buf_append(out, head, (size_t)n) != 0)
			return -1;
		return buf_append(out, s, len);
	}
	if (buf_append(out, "\"", 1) != 0)
		return -1;
	for (size_t i = 0; i < len;) {
		size_t run = i;

		while (run < len && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i && buf_append(out, s + i, run - i) != 0)
			return -1;
		if (run < len && (buf_append(out, "\\", 1) != 0 || buf_append(out, s + run, 1) != 0))
			return -1;
		i = run < len ? run + 1 : run;
	}
	return buf_append(out, "\"", 1);
}

/* A string of the table, or NIL. */
static int
mime_imap_nstring(struct buf *out, const struct mime *m, struct mime_str s)
{
	size_t len;
	const uint8_t *p = mime_str_get(m, s, &len);

	return p == NULL ? mime_imap_put(out, "NIL") : mime_imap_string(out, p, len);
}

/* A string of the table, or dflt when absent. */
static int
mime_imap_or(struct buf *out, const struct mime *m, struct mime_str s, const char *dflt)
{
	size_t len;
	const uint8_t *p = mime_str_get(m, s, &len);

	if (p == NULL) {
		p = (const uint8_t *)dflt;
		len = strlen(dflt);
	}
	return mime_imap_string(out, p, len);
}

static int
mime_imap_str_is(const struct mime *m, struct mime_str s, const char *word)
{
	size_t len;
	const uint8_t *p = mime_str_get(m, s, &len);

	return p != NULL && mime_field_is(p, len, word);
}

/* ("name" "value" ...) with ("charset" "us-ascii") added when charset_default and none; or NIL. */
static int
mime_imap_params(struct buf *out, const struct mime *m, uint32_t first, uint32_t count,
		 int charset_default)
{
	int any = 0;

	for (uint32_t k = 0; k < count; k++) {
		const struct mime_param *prm = &m->params[first + k];

		if (mime_imap_str_is(m, prm->name, "charset"))
			charset_default = 0;
		if (mime_imap_put(out, any ? " " : "(") != 0 || mime_imap_or(out, m, prm->name, "") != 0 ||
		    mime_imap_put(out, " ") != 0 || mime_imap_or(out, m, prm->value, "") != 0)
			return -1;
		any = 1;
	}
	if (charset_default) {
		if (mime_imap_put(out, any ? " " : "(") != 0 || mime_imap_put(out, "\"charset\" \"us-ascii\"") != 0)
			return -1;
		any = 1;
	}
	return mime_imap_put(out, any ? ")" : "NIL");
}

/* The extension data shared by both kinds: SP disposition SP language SP location. */
static int
mime_imap_ext(struct buf *out, const struct mime *m, const struct mime_part *pt)
{
	if (mime_imap_put(out, " ") != 0)
		return -1;
	if (pt->disposition.off == MIME_NONE) {
		if (mime_imap_put(out, "NIL") != 0)
			return -1;
	} else if (mime_imap_put(out, "(") != 0 || mime_imap_nstring(out, m, pt->disposition) != 0 ||
		   mime_imap_put(out, " ") != 0 ||
		   mime_imap_params(out, m, pt->dparam_first, pt->dparam_count, 0) != 0 ||
		   mime_imap_put(out, ")") != 0) {
		return -1;
	}
	if (mime_imap_put(out, " ") != 0)
		return -1;
	if (pt->lang_count == 0) {
		if (mime_imap_put(out, "NIL") != 0)
			return -1;
	} else {
		for (uint32_t k = 0; k < pt->lang_count; k++) {
			if (mime_imap_put(out, k == 0 ? "(" : " ") != 0 ||
			    mime_imap_or(out, m, m->params[pt->lang_first + k].value, "") != 0)
				return -1;
		}
		if (mime_imap_put(out, ")") != 0)
			return -1;
	}
	if (mime_imap_put(out, " ") != 0)
		return -1;
	return mime_imap_nstring(out, m, pt->location);
}

/* One address list, or NIL. */
static int
mime_imap_addrs(struct buf *out, const struct mime *m, uint32_t first, uint32_t count)
{
	if (count == 0)
		return mime_imap_put(out, "NIL");
	if (mime_imap_put(out, "(") != 0)
		return -1;
	for (uint32_t k = 0; k < count; k++) {
		const struct mime_addr *a = &m->addrs[first + k];
		int rc;

		switch (a->kind) {
		case MIME_ADDR_GROUP:
			rc = mime_imap_put(out, "(NIL NIL ") != 0 || mime_imap_or(out, m, a->mailbox, "") != 0 ||
			     mime_imap_put(out, " NIL)") != 0;
			break;
		case MIME_ADDR_GROUP_END:
			rc = mime_imap_put(out, "(NIL NIL NIL NIL)");
			break;
		default:
			rc = mime_imap_put(out, "(") != 0 || mime_imap_nstring(out, m, a->name) != 0 ||
			     mime_imap_put(out, " ") != 0 || mime_imap_nstring(out, m, a->route) != 0 ||
			     mime_imap_put(out, " ") != 0 ||
			     mime_imap_or(out, m, a->mailbox, "MISSING_MAILBOX") != 0 ||
			     mime_imap_put(out, " ") != 0 || mime_imap_or(out, m, a->host, "MISSING_DOMAIN") != 0 ||
			     mime_imap_put(out, ")") != 0;
			break;
		}
		if (rc != 0)
			return -1;
	}
	return mime_imap_put(out, ")");
}

int
mime_imap_envelope(const struct mime *m, uint32_t i, struct buf *out)
{
	const struct mime_envelope *env;

	if (i >= m->nparts || m->parts[i].envelope == MIME_NONE || m->parts[i].envelope >= m->nenvs)
		return -1;
	env = &m->envs[m->parts[i].envelope];
	if (mime_imap_put(out, "(") != 0)
		return -1;
	for (int f = 0; f < MIME_ENV_FIELDS; f++) {
		int src = f;

		if (f > 0 && mime_imap_put(out, " ") != 0)
			return -1;
		if (f < MIME_ENV_FROM || f > MIME_ENV_BCC) {
			if (mime_imap_nstring(out, m, env->field[f]) != 0)
				return -1;
			continue;
		}
		/* RFC 3501 7.4.2: Sender and Reply-To absent or empty are From. */
		if ((f == MIME_ENV_SENDER || f == MIME_ENV_REPLY_TO) && env->addr_count[f] == 0)
			src = MIME_ENV_FROM;
		if (mime_imap_addrs(out, m, env->addr_first[src], env->addr_count[src]) != 0)
			return -1;
	}
	return mime_imap_put(out, ")");
}

int
mime_imap_bodystructure(const struct mime *m, uint32_t i, int extended, struct buf *out)
{
	const struct mime_part *pt;
	int text, msg;

	if (i >= m->nparts)
		return -1;
	pt = &m->parts[i];
	if (mime_imap_put(out, "(") != 0)
		return -1;
	if (pt->flags & MIME_PART_MULTIPART) {
		if (pt->children == 0) {
			/* No parts found: Dovecot's one empty part, so the grammar holds. */
			if (mime_imap_put(out, extended ? MIME_IMAP_EMPTY_BODY_EXT : MIME_IMAP_EMPTY_BODY) != 0)
				return -1;
		}
		for (uint32_t c = i + 1, k = 0; k < pt->children; k++, c += m->parts[c].subtree) {
			if (mime_imap_bodystructure(m, c, extended, out) != 0)
				return -1;
		}
		if (mime_imap_put(out, " ") != 0 || mime_imap_or(out, m, pt->subtype, "mixed") != 0)
			return -1;
		if (extended && (mime_imap_put(out, " ") != 0 ||
				 mime_imap_params(out, m, pt->param_first, pt->param_count, 0) != 0 ||
				 mime_imap_ext(out, m, pt) != 0))
			return -1;
		return mime_imap_put(out, ")");
	}

	msg = (pt->flags & MIME_PART_RFC822) ||
	      (mime_imap_str_is(m, pt->type, "message") && mime_imap_str_is(m, pt->subtype, "rfc822"));
	text = pt->type.off == MIME_NONE ? !msg : mime_imap_str_is(m, pt->type, "text");
	if (pt->type.off == MIME_NONE) {
		if (mime_imap_put(out, msg ? "\"message\" \"rfc822\"" : "\"text\" \"plain\"") != 0)
			return -1;
	} else if (mime_imap_nstring(out, m, pt->type) != 0 || mime_imap_put(out, " ") != 0 ||
		   mime_imap_or(out, m, pt->subtype, "") != 0) {
		return -1;
	}
	if (mime_imap_put(out, " ") != 0 || mime_imap_params(out, m, pt->param_first, pt->param_count, text) != 0 ||
	    mime_imap_put(out, " ") != 0 || mime_imap_nstring(out, m, pt->id) != 0 ||
	    mime_imap_put(out, " ") != 0 || mime_imap_nstring(out, m, pt->description) != 0 ||
	    mime_imap_put(out, " ") != 0 || mime_imap_or(out, m, pt->encoding, "7bit") != 0 ||
	    mime_imap_put(out, " ") != 0 || mime_imap_u64(out, pt->body_size) != 0)
		return -1;
	if (msg) {
		int inner = (pt->flags & MIME_PART_RFC822) && pt->children == 1;

		if (mime_imap_put(out, " ") != 0)
			return -1;
		if (inner ? mime_imap_envelope(m, i + 1, out) != 0 :
			    mime_imap_put(out, MIME_IMAP_EMPTY_ENVELOPE) != 0)
			return -1;
		if (mime_imap_put(out, " ") != 0)
			return -1;
		if (inner ? mime_imap_bodystructure(m, i + 1, extended, out) != 0 :
			    mime_imap_put(out, extended ? MIME_IMAP_EMPTY_BODY_EXT : MIME_IMAP_EMPTY_BODY) != 0)
			return -1;
	}
	if ((msg || text) && (mime_imap_put(out, " ") != 0 || mime_imap_u64(out, pt->body_lines) != 0))
		return -1;
	if (extended && (mime_imap_put(out, " ") != 0 || mime_imap_nstring(out, m, pt->md5) != 0 ||
			 mime_imap_ext(out, m, pt) != 0))
		return -1;
	return mime_imap_put(out, ")");
}
