/*
 * Unit tests for home/mtasts: the TXT record and policy parsers as tables
 * of good inputs (with every field of the result) and bad ones (with the
 * exact reason), RFC 8461's own examples first; every policy again with
 * CRLF for LF, and every prefix of it parsed from an exact heap copy; the
 * size and count limits at and one past each; MX matching with the
 * wildcard's edges; the cache's expiry, id change, replacement and LRU
 * eviction; the cache used from several threads at once, every policy read
 * checked against the one put under its id (a torn copy shows). The fetch
 * is tested against nginx in tests/integration/test_mtasts.py; here only
 * what it refuses before any I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

#include "../../home/mtasts.h"

/* A string literal as (bytes, length): it may hold a NUL. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1

#define ENFORCE MTASTS_MODE_ENFORCE
#define TESTING MTASTS_MODE_TESTING
#define NONE MTASTS_MODE_NONE

#define T_ID33 "abcdefghijklmnopqrstuvwxyz0123456"
#define T_ID32 "abcdefghijklmnopqrstuvwxyz012345"
#define T_NAME33 "n23456789012345678901234567890123"
#define T_NAME32 "n2345678901234567890123456789012"

/* An exact heap copy of in[0..len), so ASan sees any read past its end. Free it. */
static uint8_t *
t_copy(const uint8_t *in, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, in, len);
	return p;
}

/* ---- TXT records ---------------------------------------------------------- */

struct txt_case {
	const uint8_t *bytes;
	size_t len;
	const char *id;		/* the id parsed, or NULL: refused */
	const char *err;	/* the reason when refused */
	int is_sts;		/* mtasts_txt_is_sts */
};

#define T_NOT_STS "does not start with v=STSv1"
#define T_DELIM "';' expected between fields"
#define T_NO_ID "id missing"

static const struct txt_case txt_cases[] = {
	/* RFC 8461 3.1's example. */
	{ B("v=STSv1; id=20160831085700Z;"), "20160831085700Z", NULL, 1 },
	{ B("v=STSv1; id=20160831085700Z"), "20160831085700Z", NULL, 1 },
	{ B("v=STSv1;id=1"), "1", NULL, 1 },
	{ B("v=STSv1 ;\tid=abc \t; \t"), "abc", NULL, 1 },
	{ B("v=STSv1; id=" T_ID32 ";"), T_ID32, NULL, 1 },
	/* Extensions, before and after the id: ignored. */
	{ B("v=STSv1; ext=foo; id=abc;"), "abc", NULL, 1 },
	{ B("v=STSv1; id=abc; foo.bar-x_y=!:<>~\"; z=1"), "abc", NULL, 1 },
	{ B("v=STSv1; " T_NAME32 "=x; id=abc"), "abc", NULL, 1 },
	{ B("v=STSv1; ID=x-y; id=abc"), "abc", NULL, 1 },
	/* The first id counts (RFC 8461 3.2: later duplicates are ignored). */
	{ B("v=STSv1; id=first; id=second;"), "first", NULL, 1 },
	/* Not an STSv1 record at all. */
	{ B(""), NULL, T_NOT_STS, 0 },
	{ B("v=STSv2; id=1"), NULL, T_NOT_STS, 0 },
	{ B("V=STSv1; id=1"), NULL, T_NOT_STS, 0 },
	{ B("v=stsv1; id=1"), NULL, T_NOT_STS, 0 },
	{ B(" v=STSv1; id=1"), NULL, T_NOT_STS, 0 },
	{ B("id=1; v=STSv1"), NULL, T_NOT_STS, 0 },
	{ B("v=spf1 -all"), NULL, T_NOT_STS, 0 },
	/* No id. */
	{ B("v=STSv1"), NULL, T_NO_ID, 0 },
	{ B("v=STSv1;"), NULL, T_NO_ID, 1 },
	{ B("v=STSv1; "), NULL, T_NO_ID, 1 },
	{ B("v=STSv1; foo=bar;"), NULL, T_NO_ID, 1 },
	/* Delimiters. */
	{ B("v=STSv1 id=1"), NULL, T_DELIM, 0 },
	{ B("v=STSv1v; id=1"), NULL, T_DELIM, 0 },
	{ B("v=STSv1; id=1 "), NULL, T_DELIM, 1 },
	{ B("v=STSv1; id=1 x"), NULL, T_DELIM, 1 },
	{ B("v=STSv1; id=a=b"), NULL, T_DELIM, 1 },
	{ B("v=STSv1; id=1\0"), NULL, T_DELIM, 1 },
	{ B("v=STSv1; id=1\r\n"), NULL, T_DELIM, 1 },
	{ B("v=STSv1,id=1"), NULL, T_DELIM, 0 },
	{ B("v=STSv1;; id=1"), NULL, "bad field name", 1 },
	{ B("v=STSv1; _x=1; id=1"), NULL, "bad field name", 1 },
	{ B("v=STSv1; " T_NAME33 "=x; id=1"), NULL, "bad field name", 1 },
	{ B("v=STSv1; id"), NULL, "'=' expected after a field name", 1 },
	{ B("v=STSv1; id =1"), NULL, "'=' expected after a field name", 1 },
	{ B("v=STSv1; id="), NULL, "empty field value", 1 },
	{ B("v=STSv1; id=;"), NULL, "empty field value", 1 },
	{ B("v=STSv1; id= 1"), NULL, "empty field value", 1 },
	{ B("v=STSv1; id=caf\xc3\xa9"), NULL, T_DELIM, 1 },	/* the value stops at non-ASCII */
	/* A bad id is refused, not taken for an extension. */
	{ B("v=STSv1; id=abc-def"), NULL, "id has characters other than letters and digits", 1 },
	{ B("v=STSv1; id=" T_ID33), NULL, "id longer than 32 characters", 1 },
	{ B("v=STSv1; id=ok; id=" T_ID33), NULL, "id longer than 32 characters", 1 },
};

static void
test_mtasts_txt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		uint8_t *in = t_copy(c->bytes, c->len);
		char id[MTASTS_ID_MAX + 1];
		const char *err = NULL;
		int rc = mtasts_parse_txt(in, c->len, id, &err);

		if (c->id != NULL && (rc != 0 || strcmp(id, c->id) != 0))
			fail_msg("txt %zu: rc %d (%s), id '%s', want '%s'", i, rc, rc ? err : "",
				 rc ? "" : id, c->id);
		if (c->id == NULL && (rc != -1 || err == NULL || strcmp(err, c->err) != 0))
			fail_msg("txt %zu: rc %d, err '%s', want '%s'", i, rc, err ? err : "(none)", c->err);
		if (mtasts_txt_is_sts(in, c->len) != c->is_sts)
			fail_msg("txt %zu: is_sts %d, want %d", i, !c->is_sts, c->is_sts);
		/* Every prefix parses safely; a shorter record is never a different id. */
		for (size_t k = 0; k < c->len; k++) {
			uint8_t *pre = t_copy(c->bytes, k);
			char kid[MTASTS_ID_MAX + 1];

			if (mtasts_parse_txt(pre, k, kid, &err) == 0 && rc == 0 &&
			    strncmp(kid, id, strlen(kid)) != 0)
				fail_msg("txt %zu: prefix %zu gives id '%s'", i, k, kid);
			free(pre);
		}
		free(in);
	}
}

/* ---- policies ------------------------------------------------------------- */

struct policy_case {
	const uint8_t *bytes;
	size_t len;
	const char *err;	/* NULL: parses into the fields below */
	enum mtasts_mode mode;
	uint32_t max_age;
	const char *mx;		/* the patterns, space-separated */
};

#define T_RFC_POLICY \
	"version: STSv1\n" \
	"mode: enforce\n" \
	"mx: mail.example.com\n" \
	"mx: *.example.net\n" \
	"mx: backupmx.example.com\n" \
	"max_age: 604800\n"
#define T_RFC_MX "mail.example.com *.example.net backupmx.example.com"
#define T_HEAD "version: STSv1\nmode: enforce\nmax_age: 86400\n"
#define T_MX4 "mx: a.test\nmx: b.test\nmx: c.test\nmx: d.test\n"
#define T_MX16 T_MX4 T_MX4 T_MX4 T_MX4
#define T_MX4_TEXT "a.test b.test c.test d.test"
#define T_MX16_TEXT T_MX4_TEXT " " T_MX4_TEXT " " T_MX4_TEXT " " T_MX4_TEXT

#define T_BAD_MX "mx is not a host name or *.host name"
#define T_BAD_NAME "bad field name"
#define T_COLON "':' expected after a field name"
#define T_BAD_CHAR "bad character in a field value"
#define T_EMPTY_LINE "empty line"
#define T_DIGITS "max_age is not 1 to 10 digits"

static const struct policy_case policy_cases[] = {
	/* RFC 8461 3.2's example; without its last LF; fields in another order. */
	{ B(T_RFC_POLICY), NULL, ENFORCE, 604800, T_RFC_MX },
	{ B("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
	    "mx: backupmx.example.com\nmax_age: 604800"), NULL, ENFORCE, 604800, T_RFC_MX },
	{ B("max_age: 604800\nmx: mail.example.com\nmode: enforce\nmx: *.example.net\n"
	    "mx: backupmx.example.com\nversion: STSv1\n"), NULL, ENFORCE, 604800, T_RFC_MX },
	/* CRLF, and CRLF and LF mixed. */
	{ B("version: STSv1\r\nmode: testing\r\nmx: mx.peer.test\r\nmax_age: 86400\r\n"), NULL, TESTING,
	  86400, "mx.peer.test" },
	{ B("version: STSv1\r\nmode: testing\nmx: mx.peer.test\r\nmax_age: 86400"), NULL, TESTING, 86400,
	  "mx.peer.test" },
	/* mode none needs no mx; mx lines it has are kept. */
	{ B("version: STSv1\nmode: none\nmax_age: 0\n"), NULL, NONE, 0, "" },
	{ B("version: STSv1\nmode: none\nmax_age: 1\nmx: mx.peer.test\n"), NULL, NONE, 1, "mx.peer.test" },
	/* Whitespace: none after ':', tabs, trailing blanks. */
	{ B("version:STSv1\nmode:\tenforce\t \nmx:  MX.Peer.TEST  \nmax_age: 86400 \n"), NULL, ENFORCE,
	  86400, "mx.peer.test" },
	/* max_age at its edges. */
	{ B(T_HEAD "max_age: 31557600\nmx: a.test\n"), NULL, ENFORCE, 86400, "a.test" },
	{ B("version: STSv1\nmode: enforce\nmax_age: 31557600\nmx: a.test\n"), NULL, ENFORCE,
	  MTASTS_MAX_AGE_MAX, "a.test" },
	{ B("version: STSv1\nmode: enforce\nmax_age: 0000000007\nmx: a.test\n"), NULL, ENFORCE, 7, "a.test" },
	/* Unknown fields are ignored, whatever their value's characters. */
	{ B(T_HEAD "mx: a.test\nfoo: bar  baz!\nx-y_z.1: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\n"
	    T_NAME32 ": 1\nVersion: STSv2\nMode: bogus\nMX: -\n"), NULL, ENFORCE, 86400, "a.test" },
	/* Once-only fields: the first counts, later ones are only well-formed. */
	{ B(T_HEAD "mode: none\nversion: STSv9\nmax_age: 99999999999 s\nmx: a.test\n"), NULL, ENFORCE,
	  86400, "a.test" },
	/* Wildcards and the most mx lines kept. */
	{ B(T_HEAD "mx: *.a.test\nmx: *.B.test\n"), NULL, ENFORCE, 86400, "*.a.test *.b.test" },
	{ B(T_HEAD T_MX16 T_MX16), NULL, ENFORCE, 86400, T_MX16_TEXT " " T_MX16_TEXT },

	/* Required fields. */
	{ B(""), "empty", 0, 0, NULL },
	{ B("mode: enforce\nmx: a.test\nmax_age: 1\n"), "version missing", 0, 0, NULL },
	{ B("version: STSv1\nmx: a.test\nmax_age: 1\n"), "mode missing", 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\n"), "max_age missing", 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmax_age: 1\n"), "mx missing", 0, 0, NULL },
	{ B("version: STSv1\nmode: testing\nmax_age: 1\n"), "mx missing", 0, 0, NULL },
	/* Field names are case-sensitive (RFC 8461: %s"version" ...). */
	{ B("Version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n"), "version missing", 0, 0, NULL },
	/* Bad values of known fields. */
	{ B("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n"), "version is not STSv1", 0, 0, NULL },
	{ B("version: stsv1\nmode: enforce\nmx: a.test\nmax_age: 1\n"), "version is not STSv1", 0, 0, NULL },
	{ B("version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 1\n"), "mode is not enforce, testing or none",
	  0, 0, NULL },
	{ B("version: STSv1\nmode: enforce now\nmx: a.test\nmax_age: 1\n"),
	  "mode is not enforce, testing or none", 0, 0, NULL },
	{ B("version: STSv1\nmode: report\nmx: a.test\nmax_age: 1\n"), "mode is not enforce, testing or none",
	  0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n"),
	  "max_age over one year (31557600 s)", 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 9999999999\n"),
	  "max_age over one year (31557600 s)", 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 00000000001\n"), T_DIGITS, 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n"), T_DIGITS, 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: +1\n"), T_DIGITS, 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1 day\n"), T_DIGITS, 0, 0, NULL },
	{ B("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 0x10\n"), T_DIGITS, 0, 0, NULL },
	/* Bad mx names. */
	{ B(T_HEAD "mx: mail.example.com.\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: mail..example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: -mail.example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: mail_1.example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: mail example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: *\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: *.\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: **.example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: *example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: a.*.example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: *.*.example.com\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: [192.0.2.1]\n"), T_BAD_MX, 0, 0, NULL },
	{ B(T_HEAD "mx: caf\xc3\xa9.example\n"), T_BAD_MX, 0, 0, NULL },
	/* One mx more than kept. */
	{ B(T_HEAD T_MX16 T_MX16 "mx: e.test\n"), "more mx lines than kept (32)", 0, 0, NULL },
	/* Lines: empty ones, bare CR, garbage, what follows the last field. */
	{ B("\n"), T_EMPTY_LINE, 0, 0, NULL },
	{ B("\r\n"), T_EMPTY_LINE, 0, 0, NULL },
	{ B(T_RFC_POLICY "\n"), T_EMPTY_LINE, 0, 0, NULL },
	{ B(T_RFC_POLICY "\r\n"), T_EMPTY_LINE, 0, 0, NULL },
	{ B("version: STSv1\n\nmode: enforce\nmx: a.test\nmax_age: 1\n"), T_EMPTY_LINE, 0, 0, NULL },
	{ B(T_RFC_POLICY "garbage"), T_COLON, 0, 0, NULL },
	{ B(T_RFC_POLICY "<html>"), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY "\0"), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY " "), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY " x: y\n"), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY "_x: y\n"), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY T_NAME33 ": y\n"), T_BAD_NAME, 0, 0, NULL },
	{ B(T_RFC_POLICY "\r"), T_BAD_NAME, 0, 0, NULL },
	{ B("version: STSv1\rmode: enforce\nmx: a.test\nmax_age: 1\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B("version: STSv1\r\r\nmode: enforce\nmx: a.test\nmax_age: 1\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B(T_HEAD "mx: a.test\r"), T_BAD_CHAR, 0, 0, NULL },
	{ B("mode : enforce\n"), T_COLON, 0, 0, NULL },
	{ B("mode= enforce\n"), T_COLON, 0, 0, NULL },
	{ B("mode\n"), T_COLON, 0, 0, NULL },
	{ B(T_HEAD "mx:\n"), "empty field value", 0, 0, NULL },
	{ B(T_HEAD "foo: \t \n"), "empty field value", 0, 0, NULL },
	/* Characters inside values: a tab, controls, bad UTF-8. */
	{ B(T_HEAD "mx: a.test\nfoo: a\tb\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B(T_HEAD "mx: a.test\nfoo: a\x01" "b\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B(T_HEAD "mx: a.test\nfoo: a\x7f" "b\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B(T_HEAD "mx: a.test\nfoo: a\0b\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B(T_HEAD "mx: a.test\nfoo: \xc0\xaf\n"), T_BAD_CHAR, 0, 0, NULL },		/* overlong */
	{ B(T_HEAD "mx: a.test\nfoo: \xed\xa0\x80\n"), T_BAD_CHAR, 0, 0, NULL },	/* surrogate */
	{ B(T_HEAD "mx: a.test\nfoo: \xf4\x90\x80\x80\n"), T_BAD_CHAR, 0, 0, NULL },	/* > U+10FFFF */
	{ B(T_HEAD "mx: a.test\nfoo: \xe2\x82\n"), T_BAD_CHAR, 0, 0, NULL },		/* cut short */
	{ B(T_HEAD "mx: a.test\nfoo: \x80\n"), T_BAD_CHAR, 0, 0, NULL },
	{ B("\xef\xbb\xbf" T_RFC_POLICY), T_BAD_NAME, 0, 0, NULL },			/* a BOM */
};

/* The policy is what the case says. */
static void
t_policy_check(const char *what, size_t i, const struct policy_case *c, const struct mtasts_policy *p)
{
	char got[MTASTS_MX_MAX * (DNSNAME_MAX + 1) + 1];
	size_t n = 0;

	got[0] = '\0';
	for (size_t k = 0; k < p->nmx; k++)
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", k ? " " : "", p->mx[k]);
	if (p->mode != c->mode || p->max_age != c->max_age || strcmp(got, c->mx) != 0)
		fail_msg("%s %zu: mode %d max_age %u mx '%s', want %d %u '%s'", what, i, p->mode, p->max_age,
			 got, c->mode, c->max_age, c->mx);
}

/* in with every LF that is not already part of a CRLF made a CRLF, into a heap buffer; *len_r its length. */
static uint8_t *
t_crlf(const uint8_t *in, size_t len, size_t *len_r)
{
	uint8_t *out = malloc(2 * len + 1);
	size_t n = 0;

	assert_non_null(out);
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = in[i];
	}
	*len_r = n;
	return out;
}

static void
test_mtasts_policy_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		const struct policy_case *c = &policy_cases[i];
		uint8_t *in = t_copy(c->bytes, c->len), *crlf;
		struct mtasts_policy p;
		const char *err = NULL;
		size_t crlf_len;
		int rc = mtasts_parse_policy(in, c->len, &p, &err);

		if (c->err == NULL && rc != 0)
			fail_msg("policy %zu: refused: %s", i, err);
		if (c->err == NULL)
			t_policy_check("policy", i, c, &p);
		if (c->err != NULL && (rc != -1 || err == NULL || strcmp(err, c->err) != 0))
			fail_msg("policy %zu: rc %d, err '%s', want '%s'", i, rc, rc ? err : "(none)", c->err);
		/* The same with CRLF line ends: the same answer. */
		crlf = t_crlf(in, c->len, &crlf_len);
		rc = mtasts_parse_policy(crlf, crlf_len, &p, &err);
		if (c->err == NULL && rc != 0)
			fail_msg("policy %zu with CRLF: refused: %s", i, err);
		if (c->err == NULL)
			t_policy_check("policy with CRLF", i, c, &p);
		if (c->err != NULL && (rc != -1 || strcmp(err, c->err) != 0))
			fail_msg("policy %zu with CRLF: rc %d, err '%s', want '%s'", i, rc, rc ? err : "", c->err);
		free(crlf);
		/* Every prefix, from a copy of exactly its length: parsed safely, reason given. */
		for (size_t k = 0; k < c->len; k++) {
			uint8_t *pre = t_copy(c->bytes, k);

			err = NULL;
			if (mtasts_parse_policy(pre, k, &p, &err) != 0 && (err == NULL || err[0] == '\0'))
				fail_msg("policy %zu: prefix %zu refused without a reason", i, k);
			free(pre);
		}
		free(in);
	}
}

/* A policy of exactly len bytes: the RFC's example, then "pad: xxx...\n" lines. */
static uint8_t *
t_padded_policy(size_t len)
{
	static const char line_head[] = "pad: ";
	size_t head = sizeof(T_RFC_POLICY) - 1, n = head;
	uint8_t *p = malloc(len);

	assert_non_null(p);
	assert_true(len > head + sizeof(line_head) + 1);
	memcpy(p, T_RFC_POLICY, head);
	while (n < len) {
		size_t left = len - n, take = left > 1000 ? 1000 : left;

		/* Never leave less than a whole line ("pad: x\n", 7 bytes) behind. */
		if (left - take > 0 && left - take < 7)
			take = left - 7;
		memcpy(p + n, line_head, sizeof(line_head) - 1);
		memset(p + n + sizeof(line_head) - 1, 'x', take - sizeof(line_head));
		p[n + take - 1] = '\n';
		n += take;
	}
	return p;
}

static void
test_mtasts_policy_size(void **state)
{
	struct mtasts_policy p;
	const char *err = NULL;
	uint8_t *in;

	(void)state;
	in = t_padded_policy(MTASTS_POLICY_MAX);
	assert_int_equal(mtasts_parse_policy(in, MTASTS_POLICY_MAX, &p, &err), 0);
	assert_int_equal(p.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(p.nmx, 3);
	free(in);
	in = t_padded_policy(MTASTS_POLICY_MAX + 1);
	assert_int_equal(mtasts_parse_policy(in, MTASTS_POLICY_MAX + 1, &p, &err), -1);
	assert_string_equal(err, "larger than 64 KiB");
	free(in);
}

/* The longest mx pattern: "*." and a 251-byte name, DNSNAME_MAX in all. */
static void
test_mtasts_policy_mx_longest(void **state)
{
	char text[1024], name[DNSNAME_MAX + 2];
	struct mtasts_policy p;
	const char *err = NULL;
	int n;

	(void)state;
	/* "*." then four labels of 62 bytes: 2 + 4 * 62 + 3 dots = 253. */
	memset(name, 'a', sizeof(name));
	name[0] = '*';
	name[1] = '.';
	name[2 + 62] = '.';
	name[2 + 62 + 1 + 62] = '.';
	name[2 + 62 + 1 + 62 + 1 + 62] = '.';
	name[DNSNAME_MAX] = '\0';
	assert_int_equal(dnsname_check(name, DNSNAME_MAX, DNSNAME_WILDCARD), 0);
	n = snprintf(text, sizeof(text), T_HEAD "mx: %s\n", name);
	assert_int_equal(mtasts_parse_policy((const uint8_t *)text, (size_t)n, &p, &err), 0);
	assert_string_equal(p.mx[0], name);
	/* One byte more is not a host name. */
	name[DNSNAME_MAX] = 'a';
	name[DNSNAME_MAX + 1] = '\0';
	n = snprintf(text, sizeof(text), T_HEAD "mx: %s\n", name);
	assert_int_equal(mtasts_parse_policy((const uint8_t *)text, (size_t)n, &p, &err), -1);
	assert_string_equal(err, T_BAD_MX);
}

/* ---- MX matching ---------------------------------------------------------- */

struct match_case {
	const char *host;
	int match;
};

static const struct match_case match_cases[] = {
	{ "mail.example.com", 1 },
	{ "MAIL.Example.COM", 1 },
	{ "mail.example.com.", 1 },	/* as DNS gives it */
	{ "mail.example.com..", 0 },
	{ "mail.example.co", 0 },
	{ "mail.example.comm", 0 },
	{ "mail.example.org", 0 },
	{ "a.mail.example.com", 0 },	/* an exact pattern matches only itself */
	/* "*.example.net": exactly one label more. */
	{ "mx1.example.net", 1 },
	{ "MX1.EXAMPLE.NET.", 1 },
	{ "x.example.net", 1 },
	{ "example.net", 0 },
	{ "a.b.example.net", 0 },
	{ "notexample.net", 0 },
	{ ".example.net", 0 },
	{ "*.example.net", 0 },
	{ "a.example.net.x", 0 },
	/* "*.example.com" (next pattern): not example.com itself nor two labels down. */
	{ "example.com", 0 },
	{ "a.b.example.com", 0 },
	{ "backup.example.com", 1 },
	{ "xmail.example.com", 1 },
	{ "", 0 },
	{ ".", 0 },
	{ "mail example.com", 0 },
};

static void
test_mtasts_mx_match(void **state)
{
	struct mtasts_policy p;
	const char *err = NULL;

	(void)state;
	assert_int_equal(mtasts_parse_policy(B(T_HEAD "mx: mail.example.com\nmx: *.example.net\n"
						"mx: *.example.com\n"), &p, &err), 0);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		if (mtasts_mx_match(&p, match_cases[i].host) != match_cases[i].match)
			fail_msg("match '%s': %d, want %d", match_cases[i].host, !match_cases[i].match,
				 match_cases[i].match);
	}
	/* No patterns: nothing matches (mode none). */
	assert_int_equal(mtasts_parse_policy(B("version: STSv1\nmode: none\nmax_age: 1\n"), &p, &err), 0);
	assert_int_equal(mtasts_mx_match(&p, "mail.example.com"), 0);
}

/* ---- fetch: what it refuses before any I/O --------------------------------- */

static void
test_mtasts_fetch_refuses(void **state)
{
	char err[MTASTS_ERR_MAX], long_name[DNSNAME_MAX + 1];
	struct mtasts_policy p;

	(void)state;
	assert_int_equal(mtasts_fetch("bad..domain", NULL, NULL, 1000, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "mta-sts.DOMAIN: not a host name");
	assert_int_equal(mtasts_fetch("*.peer.test", NULL, NULL, 1000, &p, err, sizeof(err)), -1);
	/* A domain too long for "mta-sts." in front of it. */
	memset(long_name, 'a', sizeof(long_name));
	for (size_t i = 63; i < DNSNAME_MAX; i += 64)
		long_name[i] = '.';
	long_name[DNSNAME_MAX - 4] = '\0';
	assert_int_equal(dnsname_check(long_name, strlen(long_name), 0), 0);
	assert_int_equal(mtasts_fetch(long_name, NULL, NULL, 1000, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "mta-sts.DOMAIN: not a host name");
	/* A pin that curl would take for another name or port. */
	assert_int_equal(mtasts_fetch("peer.test", NULL, "mta-sts.other.test:443:192.0.2.1", 1000, &p, err,
				      sizeof(err)), -1);
	assert_string_equal(err, "mta-sts.peer.test: the resolve pin is not for this host and port 443");
	assert_int_equal(mtasts_fetch("peer.test", NULL, "mta-sts.peer.test:8443:192.0.2.1", 1000, &p, err,
				      sizeof(err)), -1);
	assert_int_equal(mtasts_fetch("peer.test", NULL, "mta-sts.peer.test:443:", 1000, &p, err,
				      sizeof(err)), -1);
	assert_int_equal(mtasts_fetch("Peer.Test", NULL, "mta-sts.peer.test.x:443:192.0.2.1", 1000, &p, err,
				      sizeof(err)), -1);
	/* The longest message before any I/O fits MTASTS_ERR_MAX (a 245-byte domain). */
	long_name[DNSNAME_MAX - 8] = '\0';
	assert_int_equal(mtasts_fetch(long_name, NULL, "x", 1000, &p, err, sizeof(err)), -1);
	assert_true(strlen(err) < sizeof(err) - 1);
	assert_non_null(strstr(err, "the resolve pin is not for this host and port 443"));
	/* A small err buffer gets the message cut, terminated. */
	assert_int_equal(mtasts_fetch("bad..domain", NULL, NULL, 1000, &p, err, 8), -1);
	assert_string_equal(err, "mta-sts");
}

/* ---- the cache ------------------------------------------------------------ */

/* A policy that tells which generation made it: max_age 1000 + gen, mx "m<j>-<gen>.example". */
static void
t_policy_for(unsigned gen, struct mtasts_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = (enum mtasts_mode)(gen % 3);
	p->max_age = 1000 + gen;
	p->nmx = 1 + gen % MTASTS_MX_MAX;
	for (size_t j = 0; j < p->nmx; j++)
		snprintf(p->mx[j], sizeof(p->mx[j]), "m%zu-%u.example", j, gen);
}

static void
t_domain(char *out, size_t cap, unsigned k)
{
	snprintf(out, cap, "d%u.example", k);
}

static void
test_mtasts_cache_expiry_and_id(void **state)
{
	struct mtasts_cache *c = mtasts_cache_new();
	struct mtasts_policy p, got;

	(void)state;
	assert_non_null(c);
	t_policy_for(7, &p);			/* max_age 1007 */
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id1", 100, &got), 0);
	assert_int_equal(mtasts_cache_get_any(c, "peer.test", 100, &got), 0);
	assert_int_equal(mtasts_cache_put(c, "peer.test", "id1", 100, &p), 0);
	/* Same id, not expired: the policy, any case of the domain. */
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id1", 100, &got), 1);
	assert_memory_equal(&got, &p, sizeof(p));
	assert_int_equal(mtasts_cache_get(c, "PEER.Test", "id1", 1106, &got), 1);
	/* Expired at fetched + max_age. */
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id1", 1107, &got), 0);
	assert_int_equal(mtasts_cache_get_any(c, "peer.test", 1107, &got), 0);
	/* Another id: not this policy; but kept for when the fetch fails. */
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id2", 200, &got), 0);
	assert_int_equal(mtasts_cache_get(c, "peer.test", "ID1", 200, &got), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(mtasts_cache_get_any(c, "peer.test", 200, &got), 1);
	assert_memory_equal(&got, &p, sizeof(p));
	assert_int_equal(mtasts_cache_get(c, "other.test", "id1", 200, &got), 0);
	/* A new id replaces the old one, with its own expiry. */
	t_policy_for(8, &p);			/* max_age 1008 */
	assert_int_equal(mtasts_cache_put(c, "Peer.TEST", "id2", 2000, &p), 0);
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id1", 2000, &got), 0);
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id2", 3007, &got), 1);
	assert_memory_equal(&got, &p, sizeof(p));
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id2", 3008, &got), 0);
	/* max_age 0: never usable. */
	p.max_age = 0;
	assert_int_equal(mtasts_cache_put(c, "zero.test", "z", 50, &p), 0);
	assert_int_equal(mtasts_cache_get_any(c, "zero.test", 50, &got), 0);
	/* Refused keys: the cache is unchanged. */
	assert_int_equal(mtasts_cache_put(c, "bad..test", "id", 0, &p), -1);
	assert_int_equal(mtasts_cache_put(c, "peer.test", "", 0, &p), -1);
	assert_int_equal(mtasts_cache_put(c, "peer.test", "id-3", 0, &p), -1);
	assert_int_equal(mtasts_cache_put(c, "peer.test", T_ID33, 0, &p), -1);
	assert_int_equal(mtasts_cache_get(c, "peer.test", "id2", 3000, &got), 1);
	assert_int_equal(mtasts_cache_put(c, "peer.test", T_ID32, 0, &p), 0);
	mtasts_cache_free(&c);
	assert_null(c);
	mtasts_cache_free(&c);
	mtasts_cache_free(NULL);
}

static void
test_mtasts_cache_lru(void **state)
{
	struct mtasts_cache *c = mtasts_cache_new();
	struct mtasts_policy p, got;
	char d[64];

	(void)state;
	assert_non_null(c);
	t_policy_for(4000, &p);			/* max_age 5000 */
	for (unsigned k = 0; k < MTASTS_CACHE_MAX; k++) {
		t_domain(d, sizeof(d), k);
		assert_int_equal(mtasts_cache_put(c, d, "a", k, &p), 0);
	}
	/* d0 is used again (an expired look does not count); d1 is now the least recently used. */
	assert_int_equal(mtasts_cache_get(c, "d0.example", "a", 6000, &got), 0);
	assert_int_equal(mtasts_cache_get(c, "d0.example", "a", 1000, &got), 1);
	assert_int_equal(mtasts_cache_put(c, "new.example", "a", 1000, &p), 0);
	assert_int_equal(mtasts_cache_get_any(c, "d1.example", 1000, &got), 0);
	assert_int_equal(mtasts_cache_get_any(c, "d0.example", 1000, &got), 1);
	assert_int_equal(mtasts_cache_get_any(c, "d2.example", 1000, &got), 1);
	assert_int_equal(mtasts_cache_get_any(c, "new.example", 1000, &got), 1);
	/* Putting a domain held already takes no room. */
	assert_int_equal(mtasts_cache_put(c, "d2.example", "b", 1000, &p), 0);
	for (unsigned k = 3; k < MTASTS_CACHE_MAX; k++) {
		t_domain(d, sizeof(d), k);
		assert_int_equal(mtasts_cache_get_any(c, d, 1000, &got), 1);
	}
	/* Least recently used now: d0, new.example, d2. */
	p.max_age = 10;
	assert_int_equal(mtasts_cache_put(c, "short.example", "a", 1000, &p), 0);
	assert_int_equal(mtasts_cache_get_any(c, "d0.example", 1000, &got), 0);
	assert_int_equal(mtasts_cache_get_any(c, "short.example", 1005, &got), 1);
	/* At 1010 short.example has expired: it goes, not new.example (least recently used). */
	assert_int_equal(mtasts_cache_put(c, "later.example", "a", 1010, &p), 0);
	assert_int_equal(mtasts_cache_get_any(c, "short.example", 1005, &got), 0);
	assert_int_equal(mtasts_cache_get_any(c, "new.example", 1010, &got), 1);
	assert_int_equal(mtasts_cache_get_any(c, "d2.example", 1010, &got), 1);
	assert_int_equal(mtasts_cache_get_any(c, "later.example", 1010, &got), 1);
	mtasts_cache_free(&c);
}

/* ---- the cache from several threads --------------------------------------- */

#define T_THREADS 8
#define T_OPS 20000
#define T_GENS 1000

struct t_worker {
	struct mtasts_cache *c;
	unsigned seed;
	unsigned domains;	/* how many domains the threads share */
	unsigned hits, bad;
};

static unsigned
t_rand(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A policy read back must be the one put under its id, whole. */
static void *
t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	struct mtasts_policy p, want;
	char d[64], id[16];

	for (unsigned i = 0; i < T_OPS; i++) {
		unsigned r = t_rand(&w->seed), gen = (r >> 8) % T_GENS;

		t_domain(d, sizeof(d), (r >> 20) % w->domains);
		snprintf(id, sizeof(id), "g%u", gen);
		switch (r % 4) {
		case 0:
			t_policy_for(gen, &p);
			if (mtasts_cache_put(w->c, d, id, 0, &p) != 0)
				w->bad++;
			break;
		case 1:
			if (mtasts_cache_get(w->c, d, id, 500, &p)) {
				t_policy_for(gen, &want);
				w->hits++;
				if (memcmp(&p, &want, sizeof(p)) != 0)
					w->bad++;
			}
			break;
		default:
			if (mtasts_cache_get_any(w->c, d, 500, &p)) {
				w->hits++;
				if (p.max_age < 1000 || p.max_age >= 1000 + T_GENS) {
					w->bad++;
					break;
				}
				t_policy_for(p.max_age - 1000, &want);
				if (memcmp(&p, &want, sizeof(p)) != 0)
					w->bad++;
			}
			break;
		}
	}
	return NULL;
}

static void
t_threads(unsigned domains)
{
	struct t_worker w[T_THREADS];
	pthread_t th[T_THREADS];
	struct mtasts_cache *c = mtasts_cache_new();
	unsigned hits = 0;

	assert_non_null(c);
	for (unsigned i = 0; i < T_THREADS; i++) {
		w[i] = (struct t_worker){ .c = c, .seed = 2463534242u + 7919u * i, .domains = domains };
		assert_int_equal(pthread_create(&th[i], NULL, t_worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < T_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].bad != 0)
			fail_msg("thread %u: %u wrong answers", i, w[i].bad);
		hits += w[i].hits;
	}
	/* The threads met: gets found what others put. */
	assert_true(hits > T_OPS);
	mtasts_cache_free(&c);
}

/* Few domains: every operation contends. */
static void
test_mtasts_cache_threads(void **state)
{
	(void)state;
	t_threads(16);
}

/* More domains than the cache holds: evictions under contention. */
static void
test_mtasts_cache_threads_evicting(void **state)
{
	(void)state;
	t_threads(MTASTS_CACHE_MAX + MTASTS_CACHE_MAX / 2);
}

/* What is kept in the store reads back as the same policy; a short buffer is refused. */
static void
test_mtasts_format_round_trip(void **state)
{
	static const char *const texts[] = {
		"version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: *.example.net\nmax_age: 86400\n",
		"version: STSv1\nmode: testing\nmx: MX.Example.Com\nmax_age: 31557600\n",
		"version: STSv1\nmode: none\nmax_age: 1\n",
	};
	struct mtasts_policy p, back;
	char out[MTASTS_FORMAT_MAX];
	const char *err = NULL;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(mtasts_parse_policy((const uint8_t *)texts[i], strlen(texts[i]), &p, &err), 0);
		n = mtasts_format_policy(&p, out, sizeof(out));
		assert_true(n > 0);
		assert_int_equal((size_t)n, strlen(out));
		memset(&back, 0x5a, sizeof(back));
		assert_int_equal(mtasts_parse_policy((const uint8_t *)out, (size_t)n, &back, &err), 0);
		assert_int_equal(back.mode, p.mode);
		assert_int_equal(back.max_age, p.max_age);
		assert_int_equal(back.nmx, p.nmx);
		for (size_t k = 0; k < p.nmx; k++)
			assert_string_equal(back.mx[k], p.mx[k]);
		assert_int_equal(mtasts_format_policy(&p, out, (size_t)n), -1);	/* no room for the NUL */
	}
	/* The largest policy fits MTASTS_FORMAT_MAX. */
	p.mode = MTASTS_MODE_ENFORCE;
	p.max_age = MTASTS_MAX_AGE_MAX;
	p.nmx = MTASTS_MX_MAX;
	for (size_t k = 0; k < p.nmx; k++) {
		memset(p.mx[k], 'a', DNSNAME_MAX);
		for (size_t d = 63; d < DNSNAME_MAX; d += 64)
			p.mx[k][d] = '.';
		p.mx[k][DNSNAME_MAX] = '\0';
	}
	assert_true(mtasts_format_policy(&p, out, sizeof(out)) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mtasts_txt_table),
		cmocka_unit_test(test_mtasts_policy_table),
		cmocka_unit_test(test_mtasts_policy_size),
		cmocka_unit_test(test_mtasts_policy_mx_longest),
		cmocka_unit_test(test_mtasts_mx_match),
		cmocka_unit_test(test_mtasts_format_round_trip),
		cmocka_unit_test(test_mtasts_fetch_refuses),
		cmocka_unit_test(test_mtasts_cache_expiry_and_id),
		cmocka_unit_test(test_mtasts_cache_lru),
		cmocka_unit_test(test_mtasts_cache_threads),
		cmocka_unit_test(test_mtasts_cache_threads_evicting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
