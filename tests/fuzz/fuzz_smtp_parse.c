/*
 * Fuzz target: smtp_parse_command() on the input as one command line, and
 * smtp_parse_address() on it as a bare address.
 *
 * Checks: a refusal carries a reply and leaves nothing else behind; a
 * success has every string NUL-terminated within its field and its maximum,
 * each length its strlen(), no control byte, non-ASCII only where utf8 says
 * so, only the fields of its verb set; a parsed path written back with
 * smtp_parse_path_format() parses again to the same address, and so does
 * its bare form with smtp_parse_address(); parsing is repeatable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../home/home.h"
#include "fuzz.h"

#define FUZZ_SMTP_LINE_MAX (SMTP_COMMAND_MAX + 32)

static struct smtp_command fuzz_cmd, fuzz_again;

/* s is a C string within its field of cap bytes, of length len, at most max. */
static void
fuzz_smtp_str(const char *s, size_t cap, size_t len, size_t max)
{
	size_t n = strnlen(s, cap);

	if (n == cap || n != len || n > max)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		uint8_t b = (uint8_t)s[i];

		if (b < 0x20 || b == 0x7f)
			__builtin_trap();
	}
}

/* s holds only printable ASCII. */
static void
fuzz_smtp_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((uint8_t)*s < 0x21 || (uint8_t)*s > 0x7e)
			__builtin_trap();
	}
}

static int
fuzz_smtp_has_8bit(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((uint8_t)*s >= 0x80)
			return 1;
	}
	return 0;
}

static void
fuzz_smtp_path(const struct smtp_path *p)
{
	fuzz_smtp_str(p->local, sizeof(p->local), p->local_len, SMTP_LOCAL_MAX);
	fuzz_smtp_str(p->domain, sizeof(p->domain), p->domain_len, SMTP_DOMAIN_MAX);
	if (p->null) {
		if (p->local_len != 0 || p->domain_len != 0 || p->postmaster || p->quoted || p->literal ||
		    p->route || p->utf8)
			__builtin_trap();
		return;
	}
	if (p->postmaster) {
		if (p->domain_len != 0 || p->local_len != 10 || strcasecmp(p->local, "postmaster") != 0)
			__builtin_trap();
		return;
	}
	if (p->local_len == 0 || p->domain_len == 0 || p->domain[p->domain_len - 1] == '.')
		__builtin_trap();
	if (p->literal != (p->domain[0] == '[' && p->domain[p->domain_len - 1] == ']'))
		__builtin_trap();
	if (!p->utf8 && (fuzz_smtp_has_8bit(p->local) || fuzz_smtp_has_8bit(p->domain)))
		__builtin_trap();
	if (!smtp_parse_domain_equal(p->domain, p->domain_len, p->domain, p->domain_len))
		__builtin_trap();
}

/* Two parses of the same address agree (quoted and route may differ). */
static void
fuzz_smtp_same(const struct smtp_path *a, const struct smtp_path *b)
{
	if (strcmp(a->local, b->local) != 0 || strcmp(a->domain, b->domain) != 0 || a->null != b->null ||
	    a->postmaster != b->postmaster || a->literal != b->literal || a->utf8 != b->utf8)
		__builtin_trap();
}

/* Written back as a path and as a bare address, the path parses again to itself. */
static void
fuzz_smtp_round_trip(int verb, const struct smtp_path *p)
{
	char path[SMTP_PATH_MAX + 1], line[FUZZ_SMTP_LINE_MAX];
	struct smtp_path bare;
	int n, m;

	n = smtp_parse_path_format(p, path, sizeof(path));
	if (n < 2 || (size_t)n != strlen(path) || (size_t)n > SMTP_PATH_MAX)
		__builtin_trap();
	/* One byte less does not fit. */
	if (smtp_parse_path_format(p, line, (size_t)n) != -1)
		__builtin_trap();
	m = snprintf(line, sizeof(line), "%s%s", verb == SMTP_VERB_MAIL ? "MAIL FROM:" : "RCPT TO:", path);
	if (m < 0 || (size_t)m >= sizeof(line))
		__builtin_trap();
	if (smtp_parse_command(line, (size_t)m, &fuzz_again) != 0 || fuzz_again.verb != verb ||
	    fuzz_again.path.route)
		__builtin_trap();
	fuzz_smtp_same(p, &fuzz_again.path);
	if (p->null || p->postmaster)
		return;
	/* The bare form: the path without its brackets. */
	if (smtp_parse_address(path + 1, (size_t)n - 2, &bare) != 0)
		__builtin_trap();
	fuzz_smtp_same(p, &bare);
}

/* Only the fields of the command's verb are set. */
static void
fuzz_smtp_fields(const struct smtp_command *c)
{
	int mail = c->verb == SMTP_VERB_MAIL, rcpt = c->verb == SMTP_VERB_RCPT;
	int helo = c->verb == SMTP_VERB_EHLO || c->verb == SMTP_VERB_HELO;
	int arg = c->verb == SMTP_VERB_VRFY || c->verb == SMTP_VERB_EXPN || c->verb == SMTP_VERB_HELP;

	if (!mail && !rcpt && (c->path.local_len != 0 || c->path.domain_len != 0 || c->path.null))
		__builtin_trap();
	if (!mail && (c->size != -1 || c->body != 0 || c->smtputf8 || c->ret != 0 || c->envid[0] != '\0' ||
		      c->auth[0] != '\0'))
		__builtin_trap();
	if (!rcpt && (c->notify != 0 || c->orcpt[0] != '\0' || c->path.postmaster))
		__builtin_trap();
	if (helo != (c->helo_len > 0) || (!helo && c->helo_literal))
		__builtin_trap();
	if (c->verb != SMTP_VERB_BDAT && (c->bdat_size != 0 || c->bdat_last))
		__builtin_trap();
	if ((c->verb == SMTP_VERB_AUTH) != (c->mech[0] != '\0'))
		__builtin_trap();
	if (c->verb != SMTP_VERB_AUTH && (c->has_initial || c->initial_len != 0))
		__builtin_trap();
	if (!c->has_initial && c->initial_len != 0)
		__builtin_trap();
	if (!arg && c->arg_len != 0)
		__builtin_trap();
	if ((c->verb == SMTP_VERB_VRFY || c->verb == SMTP_VERB_EXPN) && c->arg_len == 0)
		__builtin_trap();
}

static void
fuzz_smtp_good(const struct smtp_command *c)
{
	if (c->error != SMTP_PARSE_OK || c->reply != NULL || c->verb <= SMTP_VERB_UNKNOWN ||
	    c->verb > SMTP_VERB_AUTH)
		__builtin_trap();
	if (c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT)
		fuzz_smtp_path(&c->path);
	fuzz_smtp_str(c->envid, sizeof(c->envid), strnlen(c->envid, sizeof(c->envid)), SMTP_ENVID_MAX);
	fuzz_smtp_str(c->auth, sizeof(c->auth), strnlen(c->auth, sizeof(c->auth)), SMTP_AUTH_PARAM_MAX);
	fuzz_smtp_str(c->orcpt, sizeof(c->orcpt), strnlen(c->orcpt, sizeof(c->orcpt)), SMTP_ORCPT_MAX);
	fuzz_smtp_ascii(c->envid);
	fuzz_smtp_ascii(c->auth);
	fuzz_smtp_ascii(c->orcpt);
	fuzz_smtp_str(c->helo, sizeof(c->helo), c->helo_len, SMTP_DOMAIN_MAX);
	fuzz_smtp_ascii(c->helo);
	fuzz_smtp_str(c->mech, sizeof(c->mech), strnlen(c->mech, sizeof(c->mech)), SMTP_MECH_MAX);
	for (const char *m = c->mech; *m != '\0'; m++) {
		if (!((*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') || *m == '-' || *m == '_'))
			__builtin_trap();
	}
	fuzz_smtp_str(c->initial, sizeof(c->initial), c->initial_len, SMTP_COMMAND_MAX - 1);
	if (c->initial_len % 4 != 0)
		__builtin_trap();
	fuzz_smtp_str(c->arg, sizeof(c->arg), c->arg_len, SMTP_COMMAND_MAX - 1);
	if (c->size < -1 || c->bdat_size < 0)
		__builtin_trap();
	if ((c->notify & ~0x0fu) != 0 || ((c->notify & SMTP_NOTIFY_NEVER) && c->notify != SMTP_NOTIFY_NEVER))
		__builtin_trap();
	fuzz_smtp_fields(c);
	if (c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT)
		fuzz_smtp_round_trip(c->verb, &c->path);
}

static void
fuzz_smtp_bad(const struct smtp_command *c)
{
	const struct smtp_reply *r = c->reply;

	if (c->error == SMTP_PARSE_OK || r == NULL || (r->code != 500 && r->code != 501 && r->code != 555))
		__builtin_trap();
	if (strlen(r->enhanced) != 5 || r->enhanced[0] != '5')
		__builtin_trap();
	fuzz_smtp_ascii(r->enhanced);
	for (const char *t = r->text; *t != '\0'; t++) {
		if (*t < 0x20 || *t > 0x7e)
			__builtin_trap();
	}
	/* Nothing half-parsed is left behind. */
	if (c->path.local_len != 0 || c->path.domain_len != 0 || c->helo_len != 0 || c->initial_len != 0 ||
	    c->arg_len != 0 || c->has_initial || c->size != -1 || c->mech[0] != '\0' || c->auth[0] != '\0')
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_path p;
	int rc;

	rc = smtp_parse_command((const char *)data, size, &fuzz_cmd);
	if (rc == 0)
		fuzz_smtp_good(&fuzz_cmd);
	else if (rc == -1)
		fuzz_smtp_bad(&fuzz_cmd);
	else
		__builtin_trap();
	/* The same line, the same answer. */
	if (smtp_parse_command((const char *)data, size, &fuzz_again) != rc || fuzz_again.verb != fuzz_cmd.verb ||
	    fuzz_again.error != fuzz_cmd.error || fuzz_again.reply != fuzz_cmd.reply)
		__builtin_trap();

	rc = smtp_parse_address((const char *)data, size, &p);
	if (rc == 0) {
		fuzz_smtp_path(&p);
		if (p.null || p.postmaster || p.route)
			__builtin_trap();
		fuzz_smtp_round_trip(SMTP_VERB_RCPT, &p);
	} else if (rc != -1 || p.local_len != 0 || p.domain_len != 0) {
		__builtin_trap();
	}
	return 0;
}
