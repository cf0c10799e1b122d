/*
 * smtp_parse: one SMTP command line, as a server receives it.
 *
 * RFC 5321 4.1 (commands, paths, parameters), RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 3030 BDAT and BINARYMIME, RFC 3461 DSN, RFC 4954 AUTH and
 * RFC 6531 SMTPUTF8. Syntax only: which command is allowed when, and what
 * an address may be, is the session's. No I/O, no logging, no globals but
 * constant tables; every read goes through a bounds-checked cursor.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "cursor.h"
#include "dnsname.h"
#include "home.h"
#include "num.h"
#include "utf8.h"

#define SMTP_PARSE_BDAT_DIGITS_MAX 19	/* a chunk size must fit in int64_t */
#define SMTP_PARSE_IPV6_TEXT_MAX 45	/* INET6_ADDRSTRLEN without its NUL */
#define SMTP_PARSE_IPV4_PARTS 4
#define SMTP_PARSE_SNUM_DIGITS_MAX 3
#define SMTP_PARSE_SNUM_MAX 255

/* A verb and the reply to its malformed arguments. A table ends with word NULL. */
struct smtp_parse_verb {
	const char *word;		/* upper case */
	int verb;			/* enum smtp_verb */
	struct smtp_reply syntax;	/* SMTP_PARSE_E_SYNTAX */
};

static const struct smtp_parse_verb smtp_parse_verbs[] = {
	{ "EHLO", SMTP_VERB_EHLO, { 501, "5.5.4", "Syntax: EHLO hostname" } },
	{ "HELO", SMTP_VERB_HELO, { 501, "5.5.4", "Syntax: HELO hostname" } },
	{ "MAIL", SMTP_VERB_MAIL, { 501, "5.5.4", "Syntax: MAIL FROM:<address>" } },
	{ "RCPT", SMTP_VERB_RCPT, { 501, "5.5.4", "Syntax: RCPT TO:<address>" } },
	{ "DATA", SMTP_VERB_DATA, { 501, "5.5.4", "Syntax: DATA" } },
	{ "BDAT", SMTP_VERB_BDAT, { 501, "5.5.4", "Syntax: BDAT size [LAST]" } },
	{ "RSET", SMTP_VERB_RSET, { 501, "5.5.4", "Syntax: RSET" } },
	{ "NOOP", SMTP_VERB_NOOP, { 501, "5.5.4", "Syntax: NOOP [string]" } },
	{ "QUIT", SMTP_VERB_QUIT, { 501, "5.5.4", "Syntax: QUIT" } },
	{ "VRFY", SMTP_VERB_VRFY, { 501, "5.5.4", "Syntax: VRFY address" } },
	{ "EXPN", SMTP_VERB_EXPN, { 501, "5.5.4", "Syntax: EXPN list" } },
	{ "HELP", SMTP_VERB_HELP, { 501, "5.5.4", "Syntax: HELP [topic]" } },
	{ "STARTTLS", SMTP_VERB_STARTTLS, { 501, "5.5.4", "Syntax: STARTTLS" } },
	{ "AUTH", SMTP_VERB_AUTH, { 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]" } },
	{ NULL, SMTP_VERB_UNKNOWN, { 0, NULL, NULL } },
};

/* Indexed by enum smtp_parse_error; SMTP_PARSE_E_SYNTAX is the verb's own. */
static const struct smtp_reply smtp_parse_replies[] = {
	[SMTP_PARSE_E_TOO_LONG] = { 500, "5.5.6", "Line too long" },
	[SMTP_PARSE_E_BAD_CHAR] = { 500, "5.5.2", "Syntax error, NUL, CR or LF in command" },
	[SMTP_PARSE_E_UNKNOWN] = { 500, "5.5.2", "Syntax error, command unrecognized" },
	[SMTP_PARSE_E_SENDER] = { 501, "5.1.7", "Bad sender address syntax" },
	[SMTP_PARSE_E_RECIPIENT] = { 501, "5.1.3", "Bad recipient address syntax" },
	[SMTP_PARSE_E_PARAM_UNKNOWN] = { 555, "5.5.4", "Unsupported parameter" },
	[SMTP_PARSE_E_PARAM_VALUE] = { 501, "5.5.4", "Invalid parameter value" },
	[SMTP_PARSE_E_PARAM_DUP] = { 501, "5.5.4", "Duplicate parameter" },
	[SMTP_PARSE_E_BASE64] = { 501, "5.5.2", "Cannot decode base64 initial response" },
};

/* A word of a closed set and what it means. A table ends with word NULL. */
struct smtp_parse_word {
	const char *word;	/* upper case */
	int value;
};

static const struct smtp_parse_word smtp_parse_bodies[] = {
	{ "7BIT", SMTP_BODY_7BIT },
	{ "8BITMIME", SMTP_BODY_8BITMIME },
	{ "BINARYMIME", SMTP_BODY_BINARYMIME },
	{ NULL, 0 },
};

static const struct smtp_parse_word smtp_parse_rets[] = {
	{ "FULL", SMTP_RET_FULL },
	{ "HDRS", SMTP_RET_HDRS },
	{ NULL, 0 },
};

static const struct smtp_parse_word smtp_parse_notifies[] = {
	{ "NEVER", SMTP_NOTIFY_NEVER },
	{ "SUCCESS", SMTP_NOTIFY_SUCCESS },
	{ "FAILURE", SMTP_NOTIFY_FAILURE },
	{ "DELAY", SMTP_NOTIFY_DELAY },
	{ NULL, 0 },
};

/* ---- bytes ---- */

/* The next byte, or -1 at the end. */
static int
smtp_parse_peek(const struct cursor *c)
{
	return c->left > 0 ? c->p[0] : -1;
}

/* Take the next byte if it is b. Returns 1 if it was. */
static int
smtp_parse_eat(struct cursor *c, uint8_t b)
{
	if (c->left == 0 || c->p[0] != b)
		return 0;
	(void)cursor_skip(c, 1);
	return 1;
}

static uint8_t
smtp_parse_upper(uint8_t b)
{
	return b >= 'a' && b <= 'z' ? (uint8_t)(b - ('a' - 'A')) : b;
}

static int
smtp_parse_alnum(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
}

static int
smtp_parse_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

/* atext (RFC 5321 4.1.2, RFC 5322 3.2.3). */
static int
smtp_parse_atext(uint8_t b)
{
	return smtp_parse_alnum(b) || (b != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", b) != NULL);
}

/* 1 if span equals word (upper case) without regard to ASCII case. */
static int
smtp_parse_word_is(const struct cursor *span, const char *word)
{
	size_t n = strlen(word);

	if (span->left != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (smtp_parse_upper(span->p[i]) != (uint8_t)word[i])
			return 0;
	}
	return 1;
}

/* Take word (upper case) if the next bytes are it in any case. Returns 1 if they were. */
static int
smtp_parse_eat_word(struct cursor *c, const char *word)
{
	struct cursor head;

	if (c->left < strlen(word))
		return 0;
	head = cursor_init(c->p, strlen(word));
	if (!smtp_parse_word_is(&head, word))
		return 0;
	(void)cursor_skip(c, head.left);
	return 1;
}

/* Take the bytes up to the first stop byte (or the end) as *span_r. */
static void
smtp_parse_until(struct cursor *c, uint8_t stop1, uint8_t stop2, struct cursor *span_r)
{
	size_t n = 0;

	while (n < c->left && c->p[n] != stop1 && c->p[n] != stop2)
		n++;
	*span_r = cursor_init(c->p, 0);
	(void)cursor_sub(c, n, span_r);
}

static void
smtp_parse_skip_spaces(struct cursor *c)
{
	while (smtp_parse_eat(c, ' '))
		;
}

/* 1 if span is 1 or more bytes of printable ASCII and well-formed UTF-8. */
static int
smtp_parse_text_ok(const struct cursor *span)
{
	size_t i = 0;

	if (span->left == 0)
		return 0;
	while (i < span->left) {
		uint8_t b = span->p[i];

		if (b >= 0x20 && b <= 0x7e) {
			i++;
			continue;
		}
		size_t k = utf8_printable_len(span->p + i, span->left - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Append n bytes to out[0..cap) at *len and terminate it. Returns -1 (out unchanged) if they do not fit. */
static int
smtp_parse_put(char *out, size_t cap, size_t *len, const void *src, size_t n)
{
	if (cap == 0 || n >= cap - *len)
		return -1;
	memcpy(out + *len, src, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* Copy span into out[0..cap) as a C string. Returns -1 if it does not fit. */
static int
smtp_parse_copy(const struct cursor *span, char *out, size_t cap, size_t *len_r)
{
	size_t n = 0;

	if (smtp_parse_put(out, cap, &n, span->p, span->left) != 0)
		return -1;
	if (len_r != NULL)
		*len_r = n;
	return 0;
}

/* ---- domains ---- */

/*
 * The inside of an address literal, s[0..n) between "[" and "]": a dotted
 * quad (RFC 5321 4.1.3 IPv4-address-literal) or "IPv6:" and an IPv6
 * address. General literals (other tags) are refused. Fills addr_r[16]
 * (zero beyond the 4 bytes of IPv4) and *family_r. Returns 0 or -1.
 */
static int
smtp_parse_literal(const uint8_t *s, size_t n, uint8_t addr_r[16], int *family_r)
{
	struct cursor c = cursor_init(s, n);

	memset(addr_r, 0, 16);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '[' || s[i] == '\\')
			return -1;
	}
	if (smtp_parse_eat_word(&c, "IPV6:")) {
		char text[SMTP_PARSE_IPV6_TEXT_MAX + 1];

		if (smtp_parse_copy(&c, text, sizeof(text), NULL) != 0 ||
		    inet_pton(AF_INET6, text, addr_r) != 1)
			return -1;
		*family_r = AF_INET6;
		return 0;
	}
	for (int part = 0; part < SMTP_PARSE_IPV4_PARTS; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0 && !smtp_parse_eat(&c, '.'))
			return -1;
		while (c.left > 0 && smtp_parse_digit(c.p[0])) {
			if (++digits > SMTP_PARSE_SNUM_DIGITS_MAX)
				return -1;
			v = v * 10 + (unsigned)(c.p[0] - '0');
			(void)cursor_skip(&c, 1);
		}
		if (digits == 0 || v > SMTP_PARSE_SNUM_MAX)
			return -1;
		addr_r[part] = (uint8_t)v;
	}
	if (c.left != 0)
		return -1;
	*family_r = AF_INET;
	return 0;
}

/*
 * A host name s[0..n): dnsname_check() when it is ASCII; with UTF-8 (only
 * if utf8_ok), the same rules with well-formed non-ASCII characters as
 * letters (U-labels), and *utf8_r set. A last label of digits only is no
 * host name (RFC 3696 2): an address without its brackets is refused.
 * Returns 0 or -1.
 */
static int
smtp_parse_hostname(const uint8_t *s, size_t n, int utf8_ok, int *utf8_r)
{
	size_t i, label = 0, last = 0;
	int non_ascii = 0, numeric = 1;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			non_ascii = 1;
	}
	if (!non_ascii) {
		if (dnsname_check((const char *)s, n, 0) != 0)
			return -1;
	} else {
		if (!utf8_ok || n == 0 || n > DNSNAME_MAX)
			return -1;
		for (i = 0; i < n; i++) {
			size_t k = 1;

			if (s[i] == '.') {
				if (label == 0 || s[i - 1] == '-')
					return -1;
				label = 0;
				continue;
			}
			if (s[i] >= 0x80)
				k = utf8_printable_len(s + i, n - i);
			else if (!smtp_parse_alnum(s[i]) && !(s[i] == '-' && label > 0))
				return -1;
			if (k == 0 || (label += k) > DNSNAME_LABEL_MAX)
				return -1;
			i += k - 1;
		}
		if (label == 0 || s[n - 1] == '-')
			return -1;
		*utf8_r = 1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.')
			last = i + 1;
	}
	for (i = last; i < n; i++) {
		if (!smtp_parse_digit(s[i]))
			numeric = 0;
	}
	return numeric ? -1 : 0;
}

/*
 * A Domain or an address-literal at c (RFC 5321 4.1.2), copied as sent
 * into out[0..cap). Sets *literal_r, and *utf8_r for a U-label (only if
 * utf8_ok). Returns 0 past it, or -1.
 */
static int
smtp_parse_domain(struct cursor *c, int utf8_ok, char *out, size_t cap, size_t *len_r, int *literal_r,
		  int *utf8_r)
{
	struct cursor span;
	size_t n = 0;

	if (smtp_parse_peek(c) == '[') {
		uint8_t addr[16];
		int family;

		while (n < c->left && c->p[n] != ']')
			n++;
		if (n == c->left)
			return -1;
		n++;
		if (smtp_parse_literal(c->p + 1, n - 2, addr, &family) != 0)
			return -1;
		*literal_r = 1;
	} else {
		while (n < c->left && (smtp_parse_alnum(c->p[n]) || c->p[n] == '-' || c->p[n] == '.' ||
				       c->p[n] >= 0x80))
			n++;
		if (smtp_parse_hostname(c->p, n, utf8_ok, utf8_r) != 0)
			return -1;
		*literal_r = 0;
	}
	if (cursor_sub(c, n, &span) != 0)
		return -1;
	return smtp_parse_copy(&span, out, cap, len_r);
}

/* ---- paths ---- */

/*
 * A Dot-string at c (atoms of atext or UTF-8 characters, joined by single
 * dots), appended to out[0..cap) unless out is NULL. Returns 0 past it,
 * with *utf8_r set if it held UTF-8, or -1.
 */
static int
smtp_parse_dot_string(struct cursor *c, char *out, size_t cap, size_t *len, int *utf8_r)
{
	size_t atom = 0;

	for (;;) {
		int b = smtp_parse_peek(c);
		size_t k = 1;

		if (b == '.') {
			if (atom == 0)
				return -1;
			atom = 0;
		} else if (b >= 0x80) {
			k = utf8_printable_len(c->p, c->left);
			if (k == 0)
				return -1;
			*utf8_r = 1;
			atom += k;
		} else if (b >= 0 && smtp_parse_atext((uint8_t)b)) {
			atom++;
		} else {
			break;
		}
		if (out != NULL && smtp_parse_put(out, cap, len, c->p, k) != 0)
			return -1;
		(void)cursor_skip(c, k);
	}
	return atom > 0 ? 0 : -1;
}

/*
 * A Quoted-string at c (RFC 5321 4.1.2 with RFC 6531's UTF-8), its content
 * without the quotes and backslashes appended to out[0..cap). Returns 0
 * past it, with *utf8_r set if it held UTF-8, or -1; empty is -1.
 */
static int
smtp_parse_quoted(struct cursor *c, char *out, size_t cap, size_t *len, int *utf8_r)
{
	if (!smtp_parse_eat(c, '"'))
		return -1;
	for (;;) {
		int b = smtp_parse_peek(c);
		size_t k = 1;

		if (b < 0)
			return -1;
		if (b == '"')
			break;
		if (b == '\\') {
			/* quoted-pairSMTP: a backslash and one printable ASCII byte. */
			(void)cursor_skip(c, 1);
			b = smtp_parse_peek(c);
			if (b < 0x20 || b > 0x7e)
				return -1;
		} else if (b >= 0x80) {
			k = utf8_printable_len(c->p, c->left);
			if (k == 0)
				return -1;
			*utf8_r = 1;
		} else if (b < 0x20 || b == 0x7f) {
			return -1;
		}
		if (smtp_parse_put(out, cap, len, c->p, k) != 0)
			return -1;
		(void)cursor_skip(c, k);
	}
	(void)cursor_skip(c, 1);
	return *len > 0 ? 0 : -1;
}

/* Mailbox (RFC 5321 4.1.2): Local-part "@" ( Domain / address-literal ). Returns 0 past it, or -1. */
static int
smtp_parse_mailbox(struct cursor *c, struct smtp_path *p)
{
	size_t before = c->left;
	int rc;

	p->local[0] = '\0';
	p->local_len = 0;
	if (smtp_parse_peek(c) == '"') {
		p->quoted = 1;
		rc = smtp_parse_quoted(c, p->local, sizeof(p->local), &p->local_len, &p->utf8);
	} else {
		rc = smtp_parse_dot_string(c, p->local, sizeof(p->local), &p->local_len, &p->utf8);
	}
	/* The limit is on the local part as sent, quotes and backslashes included. */
	if (rc != 0 || before - c->left > SMTP_LOCAL_MAX || !smtp_parse_eat(c, '@'))
		return -1;
	return smtp_parse_domain(c, 1, p->domain, sizeof(p->domain), &p->domain_len, &p->literal, &p->utf8);
}

/*
 * A Reverse-path (MAIL: "<>" allowed) or Forward-path (RCPT: "<Postmaster>"
 * allowed) at c: "<" [ A-d-l ":" ] Mailbox ">", at most SMTP_PATH_MAX
 * bytes. Returns 0 past it, or -1.
 */
static int
smtp_parse_path(struct cursor *c, int verb, struct smtp_path *p)
{
	size_t before = c->left;

	memset(p, 0, sizeof(*p));
	if (!smtp_parse_eat(c, '<'))
		return -1;
	if (verb == SMTP_VERB_MAIL && smtp_parse_eat(c, '>')) {
		p->null = 1;
		return 0;
	}
	if (smtp_parse_peek(c) == '@') {
		/* A source route: checked, then dropped (RFC 5321 4.1.2, C); obsolete, so ASCII only. */
		for (;;) {
			char hop[SMTP_DOMAIN_MAX + 1];
			size_t hlen;
			int literal, utf8 = 0;

			if (!smtp_parse_eat(c, '@') ||
			    smtp_parse_domain(c, 0, hop, sizeof(hop), &hlen, &literal, &utf8) != 0)
				return -1;
			if (smtp_parse_eat(c, ','))
				continue;
			if (smtp_parse_eat(c, ':'))
				break;
			return -1;
		}
		p->route = 1;
	}
	if (verb == SMTP_VERB_RCPT && !p->route) {
		/* RFC 5321 4.1.1.3: "<Postmaster>", in any case, without a domain. */
		struct cursor at = *c, name;

		if (smtp_parse_eat_word(c, "POSTMASTER>")) {
			if (cursor_sub(&at, strlen("POSTMASTER"), &name) != 0 ||
			    smtp_parse_copy(&name, p->local, sizeof(p->local), &p->local_len) != 0)
				return -1;
			p->postmaster = 1;
			return 0;
		}
	}
	if (smtp_parse_mailbox(c, p) != 0 || !smtp_parse_eat(c, '>') || before - c->left > SMTP_PATH_MAX)
		return -1;
	return 0;
}

/* ---- MAIL and RCPT parameters ---- */

/* xtext (RFC 3461 4): "!".."~" but "+" and "=", or "+" and two upper-case hex digits; 1 to max bytes. */
static int
smtp_parse_xtext_ok(const struct cursor *v, size_t max)
{
	if (v->left == 0 || v->left > max)
		return 0;
	for (size_t i = 0; i < v->left; i++) {
		uint8_t b = v->p[i];

		if (b == '+') {
			for (size_t j = 1; j <= 2; j++) {
				uint8_t h = i + j < v->left ? v->p[i + j] : 0;

				if (!smtp_parse_digit(h) && !(h >= 'A' && h <= 'F'))
					return 0;
			}
			i += 2;
		} else if (b < 0x21 || b > 0x7e || b == '=') {
			return 0;
		}
	}
	return 1;
}

/* The value of word (any case) in table, or -1. */
static int
smtp_parse_lookup(const struct smtp_parse_word *table, const struct cursor *w)
{
	for (const struct smtp_parse_word *t = table; t->word != NULL; t++) {
		if (smtp_parse_word_is(w, t->word))
			return t->value;
	}
	return -1;
}

/* SIZE=1*20DIGIT (RFC 1870); more than int64_t holds is INT64_MAX, over any limit. */
static enum smtp_parse_error
smtp_parse_p_size(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	int64_t n;

	if (!has_value || v->left == 0 || v->left > SMTP_SIZE_DIGITS_MAX)
		return SMTP_PARSE_E_PARAM_VALUE;
	for (size_t i = 0; i < v->left; i++) {
		if (!smtp_parse_digit(v->p[i]))
			return SMTP_PARSE_E_PARAM_VALUE;
	}
	if (num_parse_i64((const char *)v->p, v->left, 0, INT64_MAX, &n) != 0)
		n = INT64_MAX;
	cmd->size = n;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_p_body(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	int body = has_value ? smtp_parse_lookup(smtp_parse_bodies, v) : -1;

	if (body < 0)
		return SMTP_PARSE_E_PARAM_VALUE;
	cmd->body = body;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_p_smtputf8(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	(void)v;
	if (has_value)
		return SMTP_PARSE_E_PARAM_VALUE;
	cmd->smtputf8 = 1;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_p_auth(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	if (!has_value || !smtp_parse_xtext_ok(v, SMTP_AUTH_PARAM_MAX) ||
	    smtp_parse_copy(v, cmd->auth, sizeof(cmd->auth), NULL) != 0)
		return SMTP_PARSE_E_PARAM_VALUE;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_p_ret(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	int ret = has_value ? smtp_parse_lookup(smtp_parse_rets, v) : -1;

	if (ret < 0)
		return SMTP_PARSE_E_PARAM_VALUE;
	cmd->ret = ret;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_p_envid(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	if (!has_value || !smtp_parse_xtext_ok(v, SMTP_ENVID_MAX) ||
	    smtp_parse_copy(v, cmd->envid, sizeof(cmd->envid), NULL) != 0)
		return SMTP_PARSE_E_PARAM_VALUE;
	return SMTP_PARSE_OK;
}

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ), each at most once. */
static enum smtp_parse_error
smtp_parse_p_notify(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	struct cursor list = *v, item;
	unsigned bits = 0;

	if (!has_value)
		return SMTP_PARSE_E_PARAM_VALUE;
	for (;;) {
		int bit;

		smtp_parse_until(&list, ',', ',', &item);
		bit = smtp_parse_lookup(smtp_parse_notifies, &item);
		if (bit < 0 || (bits & (unsigned)bit))
			return SMTP_PARSE_E_PARAM_VALUE;
		bits |= (unsigned)bit;
		if (!smtp_parse_eat(&list, ','))
			break;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return SMTP_PARSE_E_PARAM_VALUE;
	cmd->notify = bits;
	return SMTP_PARSE_OK;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 4.2), addr-type an atom such as "rfc822" or "utf-8". */
static enum smtp_parse_error
smtp_parse_p_orcpt(struct smtp_command *cmd, const struct cursor *v, int has_value)
{
	struct cursor rest, type;

	if (!has_value || v->left > SMTP_ORCPT_MAX)
		return SMTP_PARSE_E_PARAM_VALUE;
	rest = *v;
	smtp_parse_until(&rest, ';', ';', &type);
	if (type.left == 0 || !smtp_parse_eat(&rest, ';') || !smtp_parse_xtext_ok(&rest, SMTP_ORCPT_MAX))
		return SMTP_PARSE_E_PARAM_VALUE;
	for (size_t i = 0; i < type.left; i++) {
		if (!smtp_parse_atext(type.p[i]))
			return SMTP_PARSE_E_PARAM_VALUE;
	}
	if (smtp_parse_copy(v, cmd->orcpt, sizeof(cmd->orcpt), NULL) != 0)
		return SMTP_PARSE_E_PARAM_VALUE;
	return SMTP_PARSE_OK;
}

/* A parameter of MAIL or RCPT. Its index in the table is its bit in "seen". */
struct smtp_parse_param {
	const char *keyword;	/* upper case */
	int verb;		/* SMTP_VERB_MAIL or SMTP_VERB_RCPT */
	enum smtp_parse_error (*set)(struct smtp_command *cmd, const struct cursor *v, int has_value);
};

static const struct smtp_parse_param smtp_parse_params_table[] = {
	{ "SIZE", SMTP_VERB_MAIL, smtp_parse_p_size },
	{ "BODY", SMTP_VERB_MAIL, smtp_parse_p_body },
	{ "SMTPUTF8", SMTP_VERB_MAIL, smtp_parse_p_smtputf8 },
	{ "AUTH", SMTP_VERB_MAIL, smtp_parse_p_auth },
	{ "RET", SMTP_VERB_MAIL, smtp_parse_p_ret },
	{ "ENVID", SMTP_VERB_MAIL, smtp_parse_p_envid },
	{ "NOTIFY", SMTP_VERB_RCPT, smtp_parse_p_notify },
	{ "ORCPT", SMTP_VERB_RCPT, smtp_parse_p_orcpt },
	{ NULL, SMTP_VERB_UNKNOWN, NULL },
};

/*
 * What follows a path: *( SP esmtp-keyword [ "=" esmtp-value ] ), keywords
 * in any case, one or more spaces between. Unknown ones are refused
 * (RFC 5321 4.1.1.11), and so is a second of any.
 */
static enum smtp_parse_error
smtp_parse_params(struct cursor *c, struct smtp_command *cmd)
{
	unsigned seen = 0;

	while (c->left > 0) {
		const struct smtp_parse_param *pp;
		struct cursor kw, value = cursor_init(NULL, 0);
		int has_value = 0;
		enum smtp_parse_error err;
		unsigned bit;

		if (!smtp_parse_eat(c, ' '))
			return SMTP_PARSE_E_SYNTAX;
		smtp_parse_skip_spaces(c);
		smtp_parse_until(c, ' ', '=', &kw);
		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (kw.left == 0 || !smtp_parse_alnum(kw.p[0]))
			return SMTP_PARSE_E_SYNTAX;
		for (size_t i = 1; i < kw.left; i++) {
			if (!smtp_parse_alnum(kw.p[i]) && kw.p[i] != '-')
				return SMTP_PARSE_E_SYNTAX;
		}
		if (smtp_parse_eat(c, '=')) {
			has_value = 1;
			smtp_parse_until(c, ' ', ' ', &value);
		}
		for (pp = smtp_parse_params_table; pp->keyword != NULL; pp++) {
			if (pp->verb == cmd->verb && smtp_parse_word_is(&kw, pp->keyword))
				break;
		}
		if (pp->keyword == NULL)
			return SMTP_PARSE_E_PARAM_UNKNOWN;
		bit = 1u << (unsigned)(pp - smtp_parse_params_table);
		if (seen & bit)
			return SMTP_PARSE_E_PARAM_DUP;
		seen |= bit;
		err = pp->set(cmd, &value, has_value);
		if (err != SMTP_PARSE_OK)
			return err;
	}
	return SMTP_PARSE_OK;
}

/* ---- commands ---- */

/* MAIL FROM:<path> [params] or RCPT TO:<path> [params]; a space after the colon is tolerated. */
static enum smtp_parse_error
smtp_parse_mail_rcpt(struct cursor *c, struct smtp_command *cmd)
{
	int mail = cmd->verb == SMTP_VERB_MAIL;

	if (!smtp_parse_eat_word(c, mail ? "FROM:" : "TO:"))
		return SMTP_PARSE_E_SYNTAX;
	smtp_parse_skip_spaces(c);
	if (smtp_parse_peek(c) != '<')
		return SMTP_PARSE_E_SYNTAX;
	if (smtp_parse_path(c, cmd->verb, &cmd->path) != 0)
		return mail ? SMTP_PARSE_E_SENDER : SMTP_PARSE_E_RECIPIENT;
	return smtp_parse_params(c, cmd);
}

/* EHLO and HELO: a host name or an address literal, ASCII, and nothing else. */
static enum smtp_parse_error
smtp_parse_helo(struct cursor *c, struct smtp_command *cmd)
{
	int utf8 = 0;

	if (c->left == 0 || smtp_parse_domain(c, 0, cmd->helo, sizeof(cmd->helo), &cmd->helo_len,
					      &cmd->helo_literal, &utf8) != 0 || c->left != 0)
		return SMTP_PARSE_E_SYNTAX;
	return SMTP_PARSE_OK;
}

/* BDAT chunk-size [ SP "LAST" ] (RFC 3030 2). */
static enum smtp_parse_error
smtp_parse_bdat(struct cursor *c, struct smtp_command *cmd)
{
	struct cursor digits;

	smtp_parse_until(c, ' ', ' ', &digits);
	if (digits.left == 0 || digits.left > SMTP_PARSE_BDAT_DIGITS_MAX)
		return SMTP_PARSE_E_SYNTAX;
	for (size_t i = 0; i < digits.left; i++) {
		if (!smtp_parse_digit(digits.p[i]))
			return SMTP_PARSE_E_SYNTAX;
	}
	if (num_parse_i64((const char *)digits.p, digits.left, 0, INT64_MAX, &cmd->bdat_size) != 0)
		return SMTP_PARSE_E_SYNTAX;
	if (c->left > 0) {
		smtp_parse_skip_spaces(c);
		if (!smtp_parse_eat_word(c, "LAST") || c->left != 0)
			return SMTP_PARSE_E_SYNTAX;
		cmd->bdat_last = 1;
	}
	return SMTP_PARSE_OK;
}

/* base64 (RFC 4648 4) with its padding: syntax only, the session decodes. */
static int
smtp_parse_base64_ok(const struct cursor *v)
{
	size_t pad = 0;

	if (v->left == 0 || v->left % 4 != 0)
		return 0;
	for (size_t i = 0; i < v->left; i++) {
		uint8_t b = v->p[i];

		if (b == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !(smtp_parse_alnum(b) || b == '+' || b == '/'))
			return 0;
	}
	return pad <= 2;
}

/* AUTH mechanism [ SP initial-response ] (RFC 4954 4); "=" is an empty response. */
static enum smtp_parse_error
smtp_parse_auth(struct cursor *c, struct smtp_command *cmd)
{
	struct cursor mech;

	smtp_parse_until(c, ' ', ' ', &mech);
	/* SASL mechanism names (RFC 4422 3.1): 1 to 20 of A-Z 0-9 - _, here in any case. */
	if (mech.left == 0 || mech.left > SMTP_MECH_MAX)
		return SMTP_PARSE_E_SYNTAX;
	for (size_t i = 0; i < mech.left; i++) {
		uint8_t b = smtp_parse_upper(mech.p[i]);

		if (!smtp_parse_alnum(b) && b != '-' && b != '_')
			return SMTP_PARSE_E_SYNTAX;
		cmd->mech[i] = (char)b;
	}
	cmd->mech[mech.left] = '\0';
	if (c->left == 0)
		return SMTP_PARSE_OK;
	smtp_parse_skip_spaces(c);
	cmd->has_initial = 1;
	if (c->left == 1 && c->p[0] == '=')
		return SMTP_PARSE_OK;
	if (!smtp_parse_base64_ok(c))
		return SMTP_PARSE_E_BASE64;
	if (smtp_parse_copy(c, cmd->initial, sizeof(cmd->initial), &cmd->initial_len) != 0)
		return SMTP_PARSE_E_SYNTAX;
	return SMTP_PARSE_OK;
}

/* The argument of VRFY, EXPN or HELP: printable text, kept as it is. */
static enum smtp_parse_error
smtp_parse_arg(struct cursor *c, struct smtp_command *cmd, int required)
{
	if (c->left == 0)
		return required ? SMTP_PARSE_E_SYNTAX : SMTP_PARSE_OK;
	if (!smtp_parse_text_ok(c) || smtp_parse_copy(c, cmd->arg, sizeof(cmd->arg), &cmd->arg_len) != 0)
		return SMTP_PARSE_E_SYNTAX;
	return SMTP_PARSE_OK;
}

static enum smtp_parse_error
smtp_parse_verb_args(struct cursor *c, struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		return smtp_parse_helo(c, cmd);
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return smtp_parse_mail_rcpt(c, cmd);
	case SMTP_VERB_BDAT:
		return smtp_parse_bdat(c, cmd);
	case SMTP_VERB_AUTH:
		return smtp_parse_auth(c, cmd);
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		return smtp_parse_arg(c, cmd, 1);
	case SMTP_VERB_HELP:
		return smtp_parse_arg(c, cmd, 0);
	case SMTP_VERB_NOOP:
		/* RFC 5321 4.1.1.9: an argument is ignored. */
		return SMTP_PARSE_OK;
	default:
		/* DATA, RSET, QUIT, STARTTLS take none. */
		return c->left == 0 ? SMTP_PARSE_OK : SMTP_PARSE_E_SYNTAX;
	}
}

int
smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r)
{
	const struct smtp_parse_verb *v = NULL;
	enum smtp_parse_error err;
	struct cursor c, word;
	int verb;

	memset(cmd_r, 0, sizeof(*cmd_r));
	cmd_r->size = -1;
	if (len > SMTP_COMMAND_MAX - 2) {
		err = SMTP_PARSE_E_TOO_LONG;
		goto fail;
	}
	if (len > 0 && (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL ||
			memchr(line, '\n', len) != NULL)) {
		err = SMTP_PARSE_E_BAD_CHAR;
		goto fail;
	}
	while (len > 0 && line[len - 1] == ' ')
		len--;
	c = cursor_init(line, len);
	smtp_parse_until(&c, ' ', ' ', &word);
	for (v = smtp_parse_verbs; v->word != NULL; v++) {
		if (smtp_parse_word_is(&word, v->word))
			break;
	}
	if (v->word == NULL) {
		err = SMTP_PARSE_E_UNKNOWN;
		goto fail;
	}
	cmd_r->verb = v->verb;
	smtp_parse_skip_spaces(&c);
	err = smtp_parse_verb_args(&c, cmd_r);
	if (err != SMTP_PARSE_OK)
		goto fail;
	return 0;

fail:
	/* Nothing half-parsed is left behind (an AUTH response is a secret). */
	verb = cmd_r->verb;
	memset(cmd_r, 0, sizeof(*cmd_r));
	cmd_r->size = -1;
	cmd_r->verb = verb;
	cmd_r->error = err;
	cmd_r->reply = err == SMTP_PARSE_E_SYNTAX && v != NULL ? &v->syntax : &smtp_parse_replies[err];
	return -1;
}

int
smtp_parse_address(const char *s, size_t len, struct smtp_path *path_r)
{
	struct cursor c = cursor_init(s, len);

	memset(path_r, 0, sizeof(*path_r));
	if (len > SMTP_PATH_MAX - 2 || smtp_parse_mailbox(&c, path_r) != 0 || c.left != 0) {
		memset(path_r, 0, sizeof(*path_r));
		return -1;
	}
	return 0;
}

/* 1 if s[0..n) is a Dot-string, which needs no quotes. */
static int
smtp_parse_is_dot_string(const char *s, size_t n)
{
	struct cursor c = cursor_init(s, n);
	int utf8 = 0;

	return smtp_parse_dot_string(&c, NULL, 0, NULL, &utf8) == 0 && c.left == 0;
}

int
smtp_parse_path_format(const struct smtp_path *p, char *out, size_t cap)
{
	size_t o = 0;

	if (smtp_parse_put(out, cap, &o, "<", 1) != 0)
		return -1;
	if (!p->null) {
		if (p->postmaster || smtp_parse_is_dot_string(p->local, p->local_len)) {
			if (smtp_parse_put(out, cap, &o, p->local, p->local_len) != 0)
				return -1;
		} else {
			if (smtp_parse_put(out, cap, &o, "\"", 1) != 0)
				return -1;
			for (size_t i = 0; i < p->local_len; i++) {
				if ((p->local[i] == '"' || p->local[i] == '\\') &&
				    smtp_parse_put(out, cap, &o, "\\", 1) != 0)
					return -1;
				if (smtp_parse_put(out, cap, &o, &p->local[i], 1) != 0)
					return -1;
			}
			if (smtp_parse_put(out, cap, &o, "\"", 1) != 0)
				return -1;
		}
		if (!p->postmaster && (smtp_parse_put(out, cap, &o, "@", 1) != 0 ||
				       smtp_parse_put(out, cap, &o, p->domain, p->domain_len) != 0))
			return -1;
	}
	if (smtp_parse_put(out, cap, &o, ">", 1) != 0)
		return -1;
	return (int)o;
}

int
smtp_parse_domain_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	uint8_t aaddr[16], baddr[16];
	int alit = alen >= 2 && a[0] == '[' && a[alen - 1] == ']';
	int blit = blen >= 2 && b[0] == '[' && b[blen - 1] == ']';
	int afam, bfam;

	if (alit != blit)
		return 0;
	if (!alit)
		return dnsname_equal(a, alen, b, blen);
	if (smtp_parse_literal((const uint8_t *)a + 1, alen - 2, aaddr, &afam) != 0 ||
	    smtp_parse_literal((const uint8_t *)b + 1, blen - 2, baddr, &bfam) != 0)
		return 0;
	return afam == bfam && memcmp(aaddr, baddr, sizeof(aaddr)) == 0;
}
