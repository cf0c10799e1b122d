/*
 * mtasts: the pure part: the TXT record and policy parsers of RFC 8461 3.1
 * and 3.2, and MX matching (4.1). Fetching is in mtasts_fetch.c, the cache
 * in mtasts_cache.c.
 */
#include "mtasts.h"

#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "num.h"

#define MTASTS_NAME_MAX 32		/* a field name: 1 + 31 characters */
#define MTASTS_MAX_AGE_DIGITS 10	/* 1*10(DIGIT) */

static const char mtasts_txt_version[] = "v=STSv1";

/* Which of the policy's once-only fields were seen. */
#define MTASTS_SEEN_VERSION 0x01
#define MTASTS_SEEN_MODE 0x02
#define MTASTS_SEEN_MAX_AGE 0x04

static int
mtasts_alnum(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int
mtasts_wsp(uint8_t ch)
{
	return ch == ' ' || ch == '\t';
}

static void
mtasts_skip_wsp(struct cursor *c)
{
	while (c->left > 0 && mtasts_wsp(c->p[0]))
		cursor_skip(c, 1);
}

/*
 * A field name, (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."), at
 * c: its length, with c moved past it, or 0 (c unmoved) when there is none
 * or it is longer than MTASTS_NAME_MAX.
 */
static size_t
mtasts_name(struct cursor *c)
{
	size_t n = 0;

	if (c->left == 0 || !mtasts_alnum(c->p[0]))
		return 0;
	while (n < c->left && (mtasts_alnum(c->p[n]) || c->p[n] == '_' || c->p[n] == '-' || c->p[n] == '.'))
		n++;
	if (n > MTASTS_NAME_MAX)
		return 0;
	cursor_skip(c, n);
	return n;
}

static int
mtasts_name_is(const uint8_t *name, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(name, want, n) == 0;
}

/* ---- the TXT record (RFC 8461 3.1) ---- */

/* sts-ext-value: %x21-3A / %x3C / %x3E-7E (no "=", ";", SP or controls). */
static int
mtasts_txt_value_char(uint8_t ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != '=' && ch != ';';
}

int
mtasts_txt_is_sts(const uint8_t *in, size_t len)
{
	struct cursor c = cursor_init(in, len);
	size_t vlen = sizeof(mtasts_txt_version) - 1;

	if (len < vlen || memcmp(in, mtasts_txt_version, vlen) != 0)
		return 0;
	cursor_skip(&c, vlen);
	mtasts_skip_wsp(&c);
	return c.left > 0 && c.p[0] == ';';
}

int
mtasts_parse_txt(const uint8_t *in, size_t len, char *id, const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	size_t vlen = sizeof(mtasts_txt_version) - 1;
	int have_id = 0;

	if (len < vlen || memcmp(in, mtasts_txt_version, vlen) != 0) {
		*err_r = "does not start with v=STSv1";
		return -1;
	}
	cursor_skip(&c, vlen);
	/* After the version and after each field: the end, or a delimiter. */
	while (c.left > 0) {
		const uint8_t *name, *value;
		size_t nlen, vn = 0;

		mtasts_skip_wsp(&c);
		if (c.left == 0 || c.p[0] != ';') {
			*err_r = "';' expected between fields";
			return -1;
		}
		cursor_skip(&c, 1);
		mtasts_skip_wsp(&c);
		if (c.left == 0)
			break;	/* the optional last delimiter */
		name = c.p;
		nlen = mtasts_name(&c);
		if (nlen == 0) {
			*err_r = "bad field name";
			return -1;
		}
		if (c.left == 0 || c.p[0] != '=') {
			*err_r = "'=' expected after a field name";
			return -1;
		}
		cursor_skip(&c, 1);
		value = c.p;
		while (vn < c.left && mtasts_txt_value_char(c.p[vn]))
			vn++;
		if (vn == 0) {
			*err_r = "empty field value";
			return -1;
		}
		cursor_skip(&c, vn);
		if (!mtasts_name_is(name, nlen, "id"))
			continue;	/* an extension */
		if (vn > MTASTS_ID_MAX) {
			*err_r = "id longer than 32 characters";
			return -1;
		}
		for (size_t i = 0; i < vn; i++) {
			if (!mtasts_alnum(value[i])) {
				*err_r = "id has characters other than letters and digits";
				return -1;
			}
		}
		if (!have_id) {
			memcpy(id, value, vn);
			id[vn] = '\0';
			have_id = 1;
		}
	}
	if (!have_id) {
		*err_r = "id missing";
		return -1;
	}
	return 0;
}

/* ---- the policy (RFC 8461 3.2) ---- */

/*
 * The length (2 to 4) of a UTF-8 character (RFC 3629 UTF8-2, UTF8-3,
 * UTF8-4: no overlong form, surrogate or code point past U+10FFFF) at
 * p[0..left), or 0.
 */
static size_t
mtasts_utf8_len(const uint8_t *p, size_t left)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n;

	if (left < 2)
		return 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return n;
}

/*
 * sts-policy-ext-value with its surrounding WSP already taken off: it
 * starts and ends with a visible character; inside, SP, visible ASCII and
 * UTF-8. Returns 0 or -1.
 */
static int
mtasts_policy_value_ok(const uint8_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t u;

		if ((v[i] >= 0x21 && v[i] <= 0x7e) || v[i] == ' ') {
			i++;
			continue;
		}
		u = mtasts_utf8_len(v + i, n - i);
		if (u == 0)
			return -1;
		i += u;
	}
	return 0;
}

static int
mtasts_value_is(const uint8_t *v, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(v, want, n) == 0;
}

static int
mtasts_policy_mode(const uint8_t *v, size_t n, struct mtasts_policy *p_r)
{
	if (mtasts_value_is(v, n, "enforce"))
		p_r->mode = MTASTS_MODE_ENFORCE;
	else if (mtasts_value_is(v, n, "testing"))
		p_r->mode = MTASTS_MODE_TESTING;
	else if (mtasts_value_is(v, n, "none"))
		p_r->mode = MTASTS_MODE_NONE;
	else
		return -1;
	return 0;
}

static int
mtasts_policy_max_age(const uint8_t *v, size_t n, struct mtasts_policy *p_r, const char **err_r)
{
	int64_t age;

	if (n == 0 || n > MTASTS_MAX_AGE_DIGITS) {
		*err_r = "max_age is not 1 to 10 digits";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			*err_r = "max_age is not 1 to 10 digits";
			return -1;
		}
	}
	if (num_parse_i64((const char *)v, n, 0, MTASTS_MAX_AGE_MAX, &age) != 0) {
		*err_r = "max_age over one year (31557600 s)";
		return -1;
	}
	p_r->max_age = (uint32_t)age;
	return 0;
}

static int
mtasts_policy_mx(const uint8_t *v, size_t n, struct mtasts_policy *p_r, const char **err_r)
{
	char *mx;

	if (dnsname_check((const char *)v, n, DNSNAME_WILDCARD) != 0) {
		*err_r = "mx is not a host name or *.host name";
		return -1;
	}
	if (p_r->nmx == MTASTS_MX_MAX) {
		*err_r = "more mx lines than kept (32)";
		return -1;
	}
	/* dnsname_check bounds n by DNSNAME_MAX. */
	mx = p_r->mx[p_r->nmx++];
	for (size_t i = 0; i < n; i++)
		mx[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] + ('a' - 'A')) : (char)v[i];
	mx[n] = '\0';
	return 0;
}

/*
 * One line of a policy, its terminator taken off: name ":" *WSP value
 * *WSP. Known fields are checked and kept; once-only ones after their
 * first are only checked for form, like unknown ones.
 */
static int
mtasts_policy_line(const uint8_t *line, size_t len, unsigned *seen, struct mtasts_policy *p_r,
		   const char **err_r)
{
	struct cursor c = cursor_init(line, len);
	const uint8_t *name = line, *v;
	size_t nlen, n;

	if (len == 0) {
		*err_r = "empty line";
		return -1;
	}
	nlen = mtasts_name(&c);
	if (nlen == 0) {
		*err_r = "bad field name";
		return -1;
	}
	if (c.left == 0 || c.p[0] != ':') {
		*err_r = "':' expected after a field name";
		return -1;
	}
	cursor_skip(&c, 1);
	mtasts_skip_wsp(&c);
	v = c.p;
	n = c.left;
	while (n > 0 && mtasts_wsp(v[n - 1]))
		n--;
	if (n == 0) {
		*err_r = "empty field value";
		return -1;
	}
	if (mtasts_policy_value_ok(v, n) != 0) {
		*err_r = "bad character in a field value";
		return -1;
	}
	if (mtasts_name_is(name, nlen, "mx"))
		return mtasts_policy_mx(v, n, p_r, err_r);
	if (mtasts_name_is(name, nlen, "version") && !(*seen & MTASTS_SEEN_VERSION)) {
		*seen |= MTASTS_SEEN_VERSION;
		if (!mtasts_value_is(v, n, "STSv1")) {
			*err_r = "version is not STSv1";
			return -1;
		}
	} else if (mtasts_name_is(name, nlen, "mode") && !(*seen & MTASTS_SEEN_MODE)) {
		*seen |= MTASTS_SEEN_MODE;
		if (mtasts_policy_mode(v, n, p_r) != 0) {
			*err_r = "mode is not enforce, testing or none";
			return -1;
		}
	} else if (mtasts_name_is(name, nlen, "max_age") && !(*seen & MTASTS_SEEN_MAX_AGE)) {
		*seen |= MTASTS_SEEN_MAX_AGE;
		return mtasts_policy_max_age(v, n, p_r, err_r);
	}
	return 0;
}

int
mtasts_parse_policy(const uint8_t *in, size_t len, struct mtasts_policy *p_r, const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	unsigned seen = 0;

	memset(p_r, 0, sizeof(*p_r));
	if (len > MTASTS_POLICY_MAX) {
		*err_r = "larger than 64 KiB";
		return -1;
	}
	if (len == 0) {
		*err_r = "empty";
		return -1;
	}
	while (c.left > 0) {
		const uint8_t *lf = memchr(c.p, '\n', c.left);
		const uint8_t *line = c.p;
		size_t n = lf != NULL ? (size_t)(lf - c.p) : c.left;

		cursor_skip(&c, lf != NULL ? n + 1 : n);
		/* A CRLF's CR; any other CR fails as a character of the line. */
		if (lf != NULL && n > 0 && line[n - 1] == '\r')
			n--;
		if (mtasts_policy_line(line, n, &seen, p_r, err_r) != 0)
			return -1;
	}
	if (!(seen & MTASTS_SEEN_VERSION)) {
		*err_r = "version missing";
		return -1;
	}
	if (!(seen & MTASTS_SEEN_MODE)) {
		*err_r = "mode missing";
		return -1;
	}
	if (!(seen & MTASTS_SEEN_MAX_AGE)) {
		*err_r = "max_age missing";
		return -1;
	}
	if (p_r->nmx == 0 && p_r->mode != MTASTS_MODE_NONE) {
		*err_r = "mx missing";
		return -1;
	}
	return 0;
}

/* ---- MX matching (RFC 8461 4.1) ---- */

int
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t n = strnlen(host, DNSNAME_MAX + 2), nmx = p->nmx;
	const char *dot;

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (dnsname_check(host, n, 0) != 0)
		return 0;
	dot = memchr(host, '.', n);
	if (nmx > MTASTS_MX_MAX)
		nmx = MTASTS_MX_MAX;
	for (size_t i = 0; i < nmx; i++) {
		const char *pat = p->mx[i];
		size_t plen = strnlen(pat, DNSNAME_MAX + 1);

		if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
			/* Exactly one label, the host's first, in place of "*". */
			if (dot != NULL &&
			    dnsname_equal(dot + 1, n - (size_t)(dot + 1 - host), pat + 2, plen - 2))
				return 1;
		} else if (dnsname_equal(host, n, pat, plen)) {
			return 1;
		}
	}
	return 0;
}

int
mtasts_format_policy(const struct mtasts_policy *p, char *out, size_t cap)
{
	static const char *const modes[] = { "none", "testing", "enforce" };
	size_t len;
	int n;

	if ((unsigned)p->mode > MTASTS_MODE_ENFORCE || p->nmx > MTASTS_MX_MAX)
		return -1;
	n = snprintf(out, cap, "version: STSv1\nmode: %s\nmax_age: %u\n", modes[p->mode],
		     (unsigned)p->max_age);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	len = (size_t)n;
	for (size_t i = 0; i < p->nmx; i++) {
		n = snprintf(out + len, cap - len, "mx: %s\n", p->mx[i]);
		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	return (int)len;
}

int
mtasts_policy_host(const char *domain, char *out, size_t cap)
{
	size_t dlen = strnlen(domain, DNSNAME_MAX + 1);
	int n;

	if (dnsname_check(domain, dlen, 0) != 0)
		return -1;
	n = snprintf(out, cap, MTASTS_HOST_PREFIX "%s", domain);
	if (n < 0 || (size_t)n >= cap || dnsname_check(out, (size_t)n, 0) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		out[i] = out[i] >= 'A' && out[i] <= 'Z' ? (char)(out[i] + ('a' - 'A')) : out[i];
	return 0;
}
