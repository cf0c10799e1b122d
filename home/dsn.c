/*
 * dsn: delivery status notifications (RFC 3464) as multipart/report
 * messages (RFC 6522), internationalized where they must be (RFC 6533).
 *
 * dsn_build() checks every input first, then decides what needs all of
 * them (the global types or not, where the header section is cut, the
 * boundary, the In-Reply-To), and then runs one writer twice: a first pass
 * that only counts bytes, and a second into a buffer of exactly that size.
 * So the buffer's size is fixed before a byte is written, and there is no
 * estimate of the longest report to get wrong.
 *
 * The boundary is "=_" UNIQUE "_" XXXX (four hex digits). A delimiter is a
 * line that starts with "--" and the boundary (RFC 2046 5.1.1: also as the
 * prefix of a longer line), so no line of any part may start that way:
 * - Every line we write ourselves starts with a letter, "<", a space, or
 *   is empty: header and report fields start with their names, folded
 *   lines with a space, the text part's lines with its fixed words, a
 *   recipient's "<" or the indent of a wrapped line. None starts with
 *   "-". (The "=_" is the customary guard besides: it cannot occur in
 *   quoted-printable or base64 text, so no encoded body could hold it.)
 * - The copied header section is the caller's bytes, and any line may
 *   start with anything. Its lines that start with "--=_" UNIQUE "_" and
 *   four hex digits (compared loosely: dsn_plan_boundary) each rule out
 *   one value of XXXX, and the smallest value left is taken. At most
 *   DSN_HEADERS_MAX / 3 lines are copied (each has a byte and a CRLF), far
 *   fewer than the 65536 values, so one is always left.
 *
 * Folding (RFC 5322 2.2.3) only ever puts a CRLF before a space that was
 * there, so unfolding gives back exactly the text we were given. Only the
 * Diagnostic-Code is folded; Final-Recipient is one line however long (at
 * most DSN_ADDRESS_UNITEXT_MAX bytes of address), so that bounce readers
 * that take a line at a time find the address, as they do in Postfix's.
 */
#include "dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "dnsname.h"
#include "utf8.h"

#define DSN_WSP(c) ((c) == ' ' || (c) == '\t')
#define DSN_OCTETS_MAX 998		/* bytes of a line before its CRLF (RFC 5322 2.1.1) */
#define DSN_INDENT "    "		/* the further lines of a paragraph of the text part */
#define DSN_INDENT_LEN 4
#define DSN_DATE_SIZE 64		/* "Mon, 02 Mar 2026 10:00:00 +0000" and its NUL, with room */
#define DSN_NAME_SIZE 48		/* "rcpts[999].remote_mta" and its NUL */
#define DSN_SUFFIX_DIGITS 4		/* hex digits that end the boundary */
#define DSN_SUFFIX_VALUES 0x10000	/* their values */
#define DSN_PREFIX_SIZE (4 + DSN_UNIQUE_MAX + 2)	/* "--=_" UNIQUE "_" and its NUL */
#define DSN_BOUNDARY_SIZE (2 + DSN_UNIQUE_MAX + 1 + DSN_SUFFIX_DIGITS + 1)
#define DSN_SENTENCE_SIZE (DSN_ADDRESS_MAX + DSN_TEXT_MAX + 128)	/* one of the text part */
#define DSN_MSGID_SIZE (DSN_MSGID_MAX + 64)	/* a Message-ID value with blanks around it */

_Static_assert(DSN_HEADERS_MAX / 3 < DSN_SUFFIX_VALUES, "a boundary value is always left");
_Static_assert(2 + DSN_UNIQUE_MAX + 1 + DSN_SUFFIX_DIGITS <= 70,
	       "RFC 2046: a boundary has 1 to 70 characters");

/* The writer: counts bytes while p is NULL, else writes them at p + len. */
struct dsn_out {
	char *p;
	size_t len;
};

/* A paragraph of the text part, wrapped at DSN_LINE_MAX columns. */
struct dsn_para {
	struct dsn_out *o;
	size_t col;	/* columns on the current line */
	size_t base;	/* columns of its indent: no word on it yet while col == base */
};

/* What dsn_build() decides from all of the input before it writes. */
struct dsn_plan {
	const struct dsn_info *in;
	int any_failed;
	int any_delayed;
	int global;		/* RFC 6533's types: an address or the header section is not ASCII */
	int text8;		/* the text part holds UTF-8 (an address) */
	size_t hdr_len;		/* in->headers[0..hdr_len) is copied */
	char msgid[DSN_MSGID_SIZE];	/* the original Message-ID for In-Reply-To; "" if none */
	char boundary[DSN_BOUNDARY_SIZE];
};

static const char *const dsn_days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const dsn_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int __attribute__((format(printf, 3, 4)))
dsn_fail(char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errcap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- small pieces ---------------------------------------------------------- */

static int
dsn_is_ascii(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x80)
			return 0;
	}
	return 1;
}

static uint8_t
dsn_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

static int
dsn_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = dsn_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * t (0..DSN_TIME_MAX) as an RFC 5322 date-time in UTC into out. Names
 * from our own tables: strftime's would follow the locale. Returns 0, or
 * -1 when the C library cannot break t down.
 */
static int
dsn_date(int64_t t, char out[DSN_DATE_SIZE])
{
	time_t tt = (time_t)t;
	struct tm tm;

	out[0] = '\0';
	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL)
		return -1;
	if (tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	snprintf(out, DSN_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d +0000", dsn_days[tm.tm_wday],
		 tm.tm_mday, dsn_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	return 0;
}

/*
 * A diagnostic or a reason as it is written: blanks around it dropped,
 * cut at DSN_TEXT_MAX bytes (all ASCII, so anywhere is a character's
 * end). Returns its start and *len_r, or NULL when there is no text.
 */
static const char *
dsn_text(const char *s, size_t *len_r)
{
	size_t n;

	if (s == NULL)
		return NULL;
	while (*s == ' ')
		s++;
	n = strnlen(s, DSN_TEXT_MAX);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	*len_r = n;
	return n > 0 ? s : NULL;
}

/* The status written for r: its own, or the default of its action. */
static const char *
dsn_status(const struct dsn_rcpt *r)
{
	if (r->status != NULL && r->status[0] != '\0')
		return r->status;
	return r->action == DSN_FAILED ? "5.0.0" : "4.0.0";
}

/* Bytes of s[0..n) in RFC 6533's utf-8-addr-unitext: SP, "+", "=" and "\" as \x{XX}. */
static int
dsn_unitext_special(uint8_t c)
{
	return c == ' ' || c == '+' || c == '=' || c == '\\';
}

static size_t
dsn_unitext_len(const char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += dsn_unitext_special((uint8_t)s[i]) ? 6 : 1;
	return len;
}

/*
 * The line at p[*pos..len): *end_r is where its text ends, before its
 * line end (CRLF, a bare LF or a bare CR, or none at the very end); *pos
 * moves past the line end.
 */
static void
dsn_line(const uint8_t *p, size_t len, size_t *pos, size_t *end_r)
{
	size_t i = *pos;

	while (i < len && p[i] != '\r' && p[i] != '\n')
		i++;
	*end_r = i;
	if (i < len && p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
		i += 2;
	else if (i < len)
		i++;
	*pos = i;
}

/* ---- checks of the input --------------------------------------------------- */

/*
 * s[0..n) is printable ASCII, or with utf8 also UTF-8 characters from
 * U+00A0 on (no C1 controls). Returns 0, or -1 with err "NAME: ...".
 */
static int
dsn_check_chars(const char *name, const char *s, size_t n, int utf8, char *err, size_t errcap)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = (uint8_t)s[i];
		size_t k;

		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return dsn_fail(err, errcap, "%s: control byte 0x%02x at offset %zu", name, c, i);
		if (!utf8)
			return dsn_fail(err, errcap, "%s: non-ASCII byte 0x%02x at offset %zu", name, c, i);
		k = utf8_printable_len((const uint8_t *)s + i, n - i);
		if (k == 0)
			return dsn_fail(err, errcap, "%s: not UTF-8, or a C1 control, at offset %zu", name, i);
		i += k;
	}
	return 0;
}

/* An address: local@domain, 1..DSN_ADDRESS_MAX bytes, printable, maybe UTF-8. */
static int
dsn_check_address(const char *name, const char *s, char *err, size_t errcap)
{
	const char *at;
	size_t n;

	if (s == NULL || s[0] == '\0')
		return dsn_fail(err, errcap, "%s: empty", name);
	n = strnlen(s, DSN_ADDRESS_MAX + 1);
	if (n > DSN_ADDRESS_MAX)
		return dsn_fail(err, errcap, "%s: longer than %d bytes", name, DSN_ADDRESS_MAX);
	if (dsn_check_chars(name, s, n, 1, err, errcap) != 0)
		return -1;
	at = strrchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0')
		return dsn_fail(err, errcap, "%s: not local@domain", name);
	return 0;
}

/* A host name, or with literal an address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
static int
dsn_check_host(const char *name, const char *s, int literal, char *err, size_t errcap)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return dsn_fail(err, errcap, "%s: empty", name);
	n = strnlen(s, DNSNAME_MAX + 1);
	if (n <= DNSNAME_MAX && dnsname_check(s, n, 0) == 0)
		return 0;
	if (literal && n > 2 && s[0] == '[' && s[n - 1] == ']') {
		const char *ip = s + 1;
		size_t iplen = n - 2;
		int v6 = iplen > 5 && memcmp(ip, "IPv6:", 5) == 0;
		struct addr a;

		if (v6) {
			ip += 5;
			iplen -= 5;
		}
		if ((memchr(ip, ':', iplen) != NULL) == v6 && addr_parse(ip, iplen, ADDR_PORT_NONE, &a) == 0)
			return 0;
	}
	return dsn_fail(err, errcap, literal ? "%s: not a host name or an address literal" :
					       "%s: not a host name", name);
}

/* RFC 3463: class "." subject "." detail, 1 to 3 digits each; class 5 or 4 for failed, 4 for delayed. */
static int
dsn_check_status(const char *name, const struct dsn_rcpt *r, char *err, size_t errcap)
{
	const char *s = dsn_status(r);
	size_t i = 1;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		goto bad;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;

		if (s[i++] != '.')
			goto bad;
		while (s[i] >= '0' && s[i] <= '9' && digits < 4) {
			i++;
			digits++;
		}
		if (digits < 1 || digits > 3)
			goto bad;
	}
	if (s[i] != '\0')
		goto bad;
	if (r->action == DSN_FAILED && s[0] == '2')
		return dsn_fail(err, errcap, "%s: %s is success, the action failed", name, s);
	if (r->action == DSN_DELAYED && s[0] != '4')
		return dsn_fail(err, errcap, "%s: %s with the action delayed (needs class 4)", name, s);
	return 0;
bad:
	return dsn_fail(err, errcap, "%s: not a status code (class.subject.detail)", name);
}

static int
dsn_check_time(const char *name, int64_t t, char *err, size_t errcap)
{
	char date[DSN_DATE_SIZE];

	if (t < 0 || t > DSN_TIME_MAX || dsn_date(t, date) != 0)
		return dsn_fail(err, errcap, "%s: %lld is out of range (0 to %lld)", name, (long long)t,
				(long long)DSN_TIME_MAX);
	return 0;
}

/* 1..DSN_UNIQUE_MAX bytes of [A-Za-z0-9.-], dots only between other bytes (a dot-atom). */
static int
dsn_check_unique(const char *s, char *err, size_t errcap)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return dsn_fail(err, errcap, "unique: empty");
	n = strnlen(s, DSN_UNIQUE_MAX + 1);
	if (n > DSN_UNIQUE_MAX)
		return dsn_fail(err, errcap, "unique: longer than %d bytes", DSN_UNIQUE_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			continue;
		if (c != '.')
			return dsn_fail(err, errcap, "unique: byte 0x%02x at offset %zu (only A-Z a-z 0-9 . -)",
					(uint8_t)c, i);
		if (i == 0 || i == n - 1 || s[i - 1] == '.')
			return dsn_fail(err, errcap, "unique: a dot at its start, its end or after a dot");
	}
	return 0;
}

static int
dsn_check_rcpt(size_t i, const struct dsn_rcpt *r, char *err, size_t errcap)
{
	char name[DSN_NAME_SIZE];
	const char *s;
	size_t n;

	snprintf(name, sizeof(name), "rcpts[%zu].action", i);
	if (r->action != DSN_FAILED && r->action != DSN_DELAYED)
		return dsn_fail(err, errcap, "%s: neither DSN_FAILED nor DSN_DELAYED", name);
	snprintf(name, sizeof(name), "rcpts[%zu].address", i);
	if (dsn_check_address(name, r->address, err, errcap) != 0)
		return -1;
	n = strlen(r->address);
	if (!dsn_is_ascii((const uint8_t *)r->address, n) &&
	    dsn_unitext_len(r->address, n) > DSN_ADDRESS_UNITEXT_MAX)
		return dsn_fail(err, errcap, "%s: longer than %d bytes in RFC 6533's form", name,
				DSN_ADDRESS_UNITEXT_MAX);
	snprintf(name, sizeof(name), "rcpts[%zu].status", i);
	if (dsn_check_status(name, r, err, errcap) != 0)
		return -1;
	snprintf(name, sizeof(name), "rcpts[%zu].remote_mta", i);
	if (r->remote_mta != NULL && dsn_check_host(name, r->remote_mta, 1, err, errcap) != 0)
		return -1;
	/* Whole strings are checked, also what DSN_TEXT_MAX cuts off. */
	snprintf(name, sizeof(name), "rcpts[%zu].diagnostic", i);
	s = r->diagnostic;
	if (s != NULL && dsn_check_chars(name, s, strlen(s), 0, err, errcap) != 0)
		return -1;
	snprintf(name, sizeof(name), "rcpts[%zu].reason", i);
	s = r->reason;
	if (s != NULL && dsn_check_chars(name, s, strlen(s), 0, err, errcap) != 0)
		return -1;
	snprintf(name, sizeof(name), "rcpts[%zu].last_attempt", i);
	return dsn_check_time(name, r->last_attempt, err, errcap);
}

static int
dsn_check(const struct dsn_info *in, char *err, size_t errcap)
{
	if (dsn_check_host("reporting_mta", in->reporting_mta, 0, err, errcap) != 0 ||
	    dsn_check_address("sender", in->sender, err, errcap) != 0 ||
	    dsn_check_unique(in->unique, err, errcap) != 0 ||
	    dsn_check_time("now", in->now, err, errcap) != 0 ||
	    dsn_check_time("arrival", in->arrival, err, errcap) != 0 ||
	    dsn_check_time("retry_until", in->retry_until, err, errcap) != 0)
		return -1;
	if (in->headers == NULL && in->headers_len > 0)
		return dsn_fail(err, errcap, "headers: NULL with headers_len %zu", in->headers_len);
	if (in->nrcpts == 0)
		return dsn_fail(err, errcap, "no recipients");
	if (in->nrcpts > DSN_RCPTS_MAX)
		return dsn_fail(err, errcap, "%zu recipients, more than %d", in->nrcpts, DSN_RCPTS_MAX);
	if (in->rcpts == NULL)
		return dsn_fail(err, errcap, "rcpts: NULL with nrcpts %zu", in->nrcpts);
	for (size_t i = 0; i < in->nrcpts; i++) {
		if (dsn_check_rcpt(i, &in->rcpts[i], err, errcap) != 0)
			return -1;
	}
	return 0;
}

/* ---- the plan ---------------------------------------------------------------- */

/*
 * How many bytes of the header section h[0..len) are copied: whole fields
 * (a line and the lines after it that start with a blank) up to its first
 * empty line, as many as fit into DSN_HEADERS_MAX bytes once every line
 * ends in CRLF, and none from the first field with a NUL or a line longer
 * than DSN_OCTETS_MAX on: the part is 7bit or 8bit text (RFC 2045 2.7,
 * 2.8), which has neither. (Our store holds no such message: SMTP refuses
 * them.)
 */
static size_t
dsn_headers_cut(const uint8_t *h, size_t len)
{
	size_t pos = 0, kept = 0, kept_out = 0, field_out = 0, field_end = 0;

	while (pos < len) {
		size_t start = pos, end;

		dsn_line(h, len, &pos, &end);
		if (end == start)
			break;
		if (!DSN_WSP(h[start]) && field_out > 0) {
			/* A field starts, so the one before is whole. */
			if (kept_out + field_out > DSN_HEADERS_MAX)
				return kept;
			kept_out += field_out;
			kept = field_end;
			field_out = 0;
		}
		if (end - start > DSN_OCTETS_MAX || memchr(h + start, 0, end - start) != NULL)
			return kept;
		field_out += end - start + 2;
		field_end = pos;
	}
	if (field_out > 0 && kept_out + field_out <= DSN_HEADERS_MAX)
		kept = field_end;
	return kept;
}

/* 1 if the line h[start..end) starts a field named name (lower case) without regard to case. */
static int
dsn_field_is(const uint8_t *h, size_t start, size_t end, const char *name, size_t *value_r)
{
	size_t n = strlen(name), i;

	if (end - start < n)
		return 0;
	for (i = 0; i < n; i++) {
		if (dsn_lower(h[start + i]) != (uint8_t)name[i])
			return 0;
	}
	i += start;
	while (i < end && DSN_WSP(h[i]))
		i++;
	if (i == end || h[i] != ':')
		return 0;
	*value_r = i + 1;
	return 1;
}

/*
 * The value of the first Message-ID field of h[0..len), unfolded, blanks
 * around it dropped, into pl->msgid: if it is one "<" id ">" of printable
 * ASCII without blanks or more angle brackets, at most DSN_MSGID_MAX
 * bytes. Anything else (comments, 8-bit, several ids) leaves it "".
 */
static void
dsn_plan_msgid(struct dsn_plan *pl, const uint8_t *h, size_t len)
{
	char v[DSN_MSGID_SIZE];
	size_t pos = 0, n = 0;
	int found = 0;

	pl->msgid[0] = '\0';
	while (pos < len) {
		size_t start = pos, end, from;

		dsn_line(h, len, &pos, &end);
		if (found) {
			if (end == start || !DSN_WSP(h[start]))
				break;
			from = start;
		} else if (dsn_field_is(h, start, end, "message-id", &from)) {
			found = 1;
		} else {
			continue;
		}
		for (size_t i = from; i < end; i++) {
			if (n == 0 && DSN_WSP(h[i]))
				continue;
			if (n == sizeof(v))
				return;
			v[n++] = (char)h[i];
		}
	}
	while (n > 0 && DSN_WSP(v[n - 1]))
		n--;
	if (n < 3 || n > DSN_MSGID_MAX || v[0] != '<' || v[n - 1] != '>')
		return;
	for (size_t i = 1; i < n - 1; i++) {
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '<' || v[i] == '>')
			return;
	}
	memcpy(pl->msgid, v, n);
	pl->msgid[n] = '\0';
}

/*
 * The boundary: "=_" UNIQUE "_" and the smallest four hex digits no copied
 * line starts with. A line rules its value out when it starts with "-",
 * any byte and "=_" UNIQUE "_" XXXX, without regard to case: wider than
 * RFC 2046 asks, for readers that match loosely. (Our own home/mime.c
 * checks only the first "-" of a delimiter line.)
 */
static void
dsn_plan_boundary(struct dsn_plan *pl, const uint8_t *h, size_t len)
{
	uint8_t taken[DSN_SUFFIX_VALUES / 8];
	char prefix[DSN_PREFIX_SIZE];
	size_t pos = 0, plen;
	unsigned v;

	memset(taken, 0, sizeof(taken));
	snprintf(prefix, sizeof(prefix), "--=_%s_", pl->in->unique);
	plen = strlen(prefix);
	while (pos < len) {
		size_t start = pos, end, i;
		unsigned x = 0;

		dsn_line(h, len, &pos, &end);
		if (end - start < plen + DSN_SUFFIX_DIGITS)
			continue;
		if (h[start] != '-')
			continue;
		for (i = 2; i < plen && dsn_lower(h[start + i]) == dsn_lower((uint8_t)prefix[i]); i++)
			;
		if (i < plen)
			continue;
		for (i = 0; i < DSN_SUFFIX_DIGITS && dsn_hex(h[start + plen + i]) >= 0; i++)
			x = x << 4 | (unsigned)dsn_hex(h[start + plen + i]);
		if (i == DSN_SUFFIX_DIGITS)
			taken[x / 8] |= (uint8_t)(1u << (x % 8));
	}
	/* Fewer lines than values (the comment at the top): the loop ends before DSN_SUFFIX_VALUES. */
	for (v = 0; v < DSN_SUFFIX_VALUES - 1 && (taken[v / 8] & (1u << (v % 8))) != 0; v++)
		;
	snprintf(pl->boundary, sizeof(pl->boundary), "=_%s_%04x", pl->in->unique, v);
}

static void
dsn_plan(const struct dsn_info *in, struct dsn_plan *pl)
{
	int addr8 = 0, hdr8 = 0;

	memset(pl, 0, sizeof(*pl));
	pl->in = in;
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];

		if (r->action == DSN_FAILED)
			pl->any_failed = 1;
		else
			pl->any_delayed = 1;
		if (!dsn_is_ascii((const uint8_t *)r->address, strlen(r->address)))
			addr8 = 1;
	}
	if (in->headers != NULL) {
		pl->hdr_len = dsn_headers_cut(in->headers, in->headers_len);
		hdr8 = !dsn_is_ascii(in->headers, pl->hdr_len);
		dsn_plan_msgid(pl, in->headers, pl->hdr_len);
	}
	pl->global = addr8 || hdr8;
	pl->text8 = addr8;
	dsn_plan_boundary(pl, in->headers, pl->hdr_len);
}

/* ---- the writer -------------------------------------------------------------- */

static void
dsn_put(struct dsn_out *o, const void *s, size_t n)
{
	if (o->p != NULL)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
dsn_puts(struct dsn_out *o, const char *s)
{
	dsn_put(o, s, strlen(s));
}

static void
dsn_put_date(struct dsn_out *o, const char *field, int64_t t)
{
	char date[DSN_DATE_SIZE];

	dsn_date(t, date);
	dsn_puts(o, field);
	dsn_puts(o, date);
	dsn_puts(o, "\r\n");
}

/* Columns of s[0..n): its characters (UTF-8 continuation bytes take none). */
static size_t
dsn_cols(const char *s, size_t n)
{
	size_t cols = 0;

	for (size_t i = 0; i < n; i++) {
		if (((uint8_t)s[i] & 0xc0) != 0x80)
			cols++;
	}
	return cols;
}

/* Go on on a new line of the paragraph, indented. */
static void
dsn_para_line(struct dsn_para *pa)
{
	dsn_puts(pa->o, "\r\n" DSN_INDENT);
	pa->col = pa->base = DSN_INDENT_LEN;
}

/* The words of s[0..n) (split at spaces), wrapped: a word that does not fit starts a line. */
static void
dsn_para_words(struct dsn_para *pa, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j, w;

		while (i < n && s[i] == ' ')
			i++;
		for (j = i; j < n && s[j] != ' '; j++)
			;
		if (j == i)
			break;
		w = dsn_cols(s + i, j - i);
		if (pa->col > pa->base) {
			if (pa->col + 1 + w > DSN_LINE_MAX) {
				dsn_para_line(pa);
			} else {
				dsn_puts(pa->o, " ");
				pa->col++;
			}
		}
		dsn_put(pa->o, s + i, j - i);
		pa->col += w;
		i = j;
	}
}

static void __attribute__((format(printf, 2, 3)))
dsn_para_printf(struct dsn_para *pa, const char *fmt, ...)
{
	char s[DSN_SENTENCE_SIZE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	/* Inputs are bounded (DSN_ADDRESS_MAX, DSN_TEXT_MAX), so this never cuts. */
	if (n < 0)
		return;
	dsn_para_words(pa, s, (size_t)n < sizeof(s) ? (size_t)n : sizeof(s) - 1);
}

/* The text part: what happened, for people, one paragraph per recipient. */
static void
dsn_write_text(const struct dsn_plan *pl, struct dsn_out *o)
{
	const struct dsn_info *in = pl->in;
	struct dsn_para pa = { o, 0, 0 };
	char date[DSN_DATE_SIZE];

	dsn_para_printf(&pa, "This is the mail system at %s.", in->reporting_mta);
	dsn_puts(o, "\r\n\r\n");
	if (pl->any_failed) {
		dsn_puts(o, "Your message could not be delivered to one or more of its recipients.\r\n");
		if (pl->any_delayed)
			dsn_puts(o, "For some others it has not been delivered yet: the mail system keeps\r\n"
				    "trying, and you will hear again if it gives up.\r\n");
	} else {
		dsn_puts(o, "Your message has not been delivered yet to one or more of its recipients.\r\n"
			    "This is a warning only: the mail system keeps trying, and you will hear\r\n"
			    "again if it gives up. You do not need to send the message again.\r\n");
	}
	if (in->arrival != 0) {
		dsn_date(in->arrival, date);
		dsn_puts(o, "It was received on ");
		dsn_puts(o, date);
		dsn_puts(o, ".\r\n");
	}
	if (in->headers != NULL)
		dsn_puts(o, "Its header is attached below the report.\r\n");
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		size_t dlen = 0, rlen = 0;
		const char *diag = dsn_text(r->diagnostic, &dlen);
		const char *reason = dsn_text(r->reason, &rlen);

		dsn_puts(o, "\r\n");
		pa.col = pa.base = 0;
		if (r->action == DSN_FAILED) {
			dsn_para_printf(&pa, "<%s>: the message could not be delivered.", r->address);
		} else {
			dsn_para_printf(&pa, "<%s>: not delivered yet.", r->address);
			dsn_para_line(&pa);
			if (in->retry_until != 0) {
				dsn_date(in->retry_until, date);
				dsn_para_printf(&pa, "Still trying until %s.", date);
			} else {
				dsn_para_printf(&pa, "Still trying.");
			}
		}
		if (r->remote_mta != NULL) {
			dsn_para_line(&pa);
			if (diag != NULL)
				dsn_para_printf(&pa, "The mail server %s answered:", r->remote_mta);
			else
				dsn_para_printf(&pa, "The last mail server tried was %s.", r->remote_mta);
		} else if (diag != NULL) {
			dsn_para_line(&pa);
			dsn_para_printf(&pa, "The mail server answered:");
		}
		if (diag != NULL) {
			dsn_para_line(&pa);
			dsn_para_words(&pa, diag, dlen);
		}
		if (reason != NULL) {
			dsn_para_line(&pa);
			dsn_para_printf(&pa, "Reason: %.*s", (int)rlen, reason);
		}
		if (r->last_attempt != 0) {
			dsn_date(r->last_attempt, date);
			dsn_para_line(&pa);
			dsn_para_printf(&pa, "Last attempt: %s.", date);
		}
		dsn_puts(o, "\r\n");
	}
}

/* A field's value s[0..n) after col columns, folded before a space where a line would pass DSN_LINE_MAX. */
static void
dsn_put_folded(struct dsn_out *o, size_t col, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		/* A token: the spaces before a word, and the word. */
		while (j < n && s[j] == ' ')
			j++;
		while (j < n && s[j] != ' ')
			j++;
		if (i > 0 && col + (j - i) > DSN_LINE_MAX) {
			dsn_puts(o, "\r\n");
			col = 0;
		}
		dsn_put(o, s + i, j - i);
		col += j - i;
		i = j;
	}
	dsn_puts(o, "\r\n");
}

/* The address as a Final-Recipient value: rfc822 when ASCII, else utf-8 in unitext form. */
static void
dsn_put_recipient(struct dsn_out *o, const char *a)
{
	size_t n = strlen(a);

	if (dsn_is_ascii((const uint8_t *)a, n)) {
		dsn_puts(o, "Final-Recipient: rfc822; ");
		dsn_put(o, a, n);
	} else {
		dsn_puts(o, "Final-Recipient: utf-8; ");
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)a[i];
			char esc[8];

			if (dsn_unitext_special(c)) {
				snprintf(esc, sizeof(esc), "\\x{%02X}", c);
				dsn_put(o, esc, 6);
			} else {
				dsn_put(o, &a[i], 1);
			}
		}
	}
	dsn_puts(o, "\r\n");
}

/* The message/delivery-status body (RFC 3464 2.2, 2.3). */
static void
dsn_write_status(const struct dsn_plan *pl, struct dsn_out *o)
{
	const struct dsn_info *in = pl->in;

	dsn_puts(o, "Reporting-MTA: dns; ");
	dsn_puts(o, in->reporting_mta);
	dsn_puts(o, "\r\n");
	if (in->arrival != 0)
		dsn_put_date(o, "Arrival-Date: ", in->arrival);
	for (size_t i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		size_t dlen = 0;
		const char *diag = dsn_text(r->diagnostic, &dlen);

		dsn_puts(o, "\r\n");
		dsn_put_recipient(o, r->address);
		dsn_puts(o, r->action == DSN_FAILED ? "Action: failed\r\n" : "Action: delayed\r\n");
		dsn_puts(o, "Status: ");
		dsn_puts(o, dsn_status(r));
		dsn_puts(o, "\r\n");
		if (r->remote_mta != NULL) {
			dsn_puts(o, "Remote-MTA: dns; ");
			dsn_puts(o, r->remote_mta);
			dsn_puts(o, "\r\n");
		}
		if (diag != NULL) {
			dsn_puts(o, "Diagnostic-Code: smtp; ");
			dsn_put_folded(o, strlen("Diagnostic-Code: smtp; "), diag, dlen);
		}
		if (r->last_attempt != 0)
			dsn_put_date(o, "Last-Attempt-Date: ", r->last_attempt);
		if (r->action == DSN_DELAYED && in->retry_until != 0)
			dsn_put_date(o, "Will-Retry-Until: ", in->retry_until);
	}
}

/* The copied header section: its lines, each ending in CRLF. */
static void
dsn_write_headers(const struct dsn_plan *pl, struct dsn_out *o)
{
	const uint8_t *h = pl->in->headers;
	size_t pos = 0;

	while (pos < pl->hdr_len) {
		size_t start = pos, end;

		dsn_line(h, pl->hdr_len, &pos, &end);
		dsn_put(o, h + start, end - start);
		dsn_puts(o, "\r\n");
	}
}

static void
dsn_put_delimiter(const struct dsn_plan *pl, struct dsn_out *o, const char *before)
{
	dsn_puts(o, before);
	dsn_puts(o, "--");
	dsn_puts(o, pl->boundary);
}

static void
dsn_write(const struct dsn_plan *pl, struct dsn_out *o)
{
	const struct dsn_info *in = pl->in;
	char date[DSN_DATE_SIZE];

	dsn_puts(o, "From: \"Mail Delivery System\" <MAILER-DAEMON@");
	dsn_puts(o, in->reporting_mta);
	dsn_puts(o, ">\r\nTo: <");
	dsn_puts(o, in->sender);
	dsn_puts(o, pl->any_failed ? ">\r\nSubject: Undelivered Mail Returned to Sender\r\n" :
				     ">\r\nSubject: Delayed Mail (still being retried)\r\n");
	dsn_date(in->now, date);
	dsn_puts(o, "Date: ");
	dsn_puts(o, date);
	dsn_puts(o, "\r\nMessage-ID: <");
	dsn_puts(o, in->unique);
	dsn_puts(o, "@");
	dsn_puts(o, in->reporting_mta);
	dsn_puts(o, ">\r\n");
	if (pl->msgid[0] != '\0') {
		dsn_puts(o, "In-Reply-To: ");
		dsn_puts(o, pl->msgid);
		dsn_puts(o, "\r\nReferences: ");
		dsn_puts(o, pl->msgid);
		dsn_puts(o, "\r\n");
	}
	dsn_puts(o, "Auto-Submitted: auto-replied\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: multipart/report; report-type=");
	dsn_puts(o, pl->global ? "global-delivery-status;\r\n" : "delivery-status;\r\n");
	dsn_puts(o, " boundary=\"");
	dsn_puts(o, pl->boundary);
	dsn_puts(o, "\"\r\n");
	if (pl->global)
		dsn_puts(o, "Content-Transfer-Encoding: 8bit\r\n");
	dsn_puts(o, "\r\n");

	dsn_put_delimiter(pl, o, "");
	dsn_puts(o, "\r\nContent-Description: Notification\r\n");
	if (pl->text8)
		dsn_puts(o, "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Transfer-Encoding: 8bit\r\n");
	else
		dsn_puts(o, "Content-Type: text/plain; charset=us-ascii\r\n");
	dsn_puts(o, "\r\n");
	dsn_write_text(pl, o);

	dsn_put_delimiter(pl, o, "\r\n");
	dsn_puts(o, "\r\nContent-Description: Delivery report\r\n");
	/* RFC 6533 6.2, 6.3: the global types are 8bit (unless a 7-bit transport needs more). */
	if (pl->global)
		dsn_puts(o, "Content-Type: message/global-delivery-status\r\n"
			    "Content-Transfer-Encoding: 8bit\r\n");
	else
		dsn_puts(o, "Content-Type: message/delivery-status\r\n");
	dsn_puts(o, "\r\n");
	dsn_write_status(pl, o);

	if (in->headers != NULL) {
		dsn_put_delimiter(pl, o, "\r\n");
		dsn_puts(o, pl->any_failed ? "\r\nContent-Description: Undelivered message header\r\n" :
					     "\r\nContent-Description: Delayed message header\r\n");
		if (pl->global)
			dsn_puts(o, "Content-Type: message/global-headers\r\n"
				    "Content-Transfer-Encoding: 8bit\r\n");
		else
			dsn_puts(o, "Content-Type: text/rfc822-headers\r\n");
		dsn_puts(o, "\r\n");
		dsn_write_headers(pl, o);
	}
	dsn_put_delimiter(pl, o, "\r\n");
	dsn_puts(o, "--\r\n");
}

int
dsn_build(const struct dsn_info *in, char **out_r, size_t *len_r, char *err, size_t errcap)
{
	struct dsn_plan *pl = NULL;
	struct dsn_out o = { NULL, 0 };
	char *buf = NULL;
	size_t counted;

	if (in == NULL || out_r == NULL || len_r == NULL)
		return dsn_fail(err, errcap, "no input, or no place for the output");
	if (dsn_check(in, err, errcap) != 0)
		return -1;
	pl = malloc(sizeof(*pl));
	if (pl == NULL)
		goto oom;
	dsn_plan(in, pl);
	dsn_write(pl, &o);
	counted = o.len;
	buf = malloc(counted + 1);
	if (buf == NULL)
		goto oom;
	o.p = buf;
	o.len = 0;
	dsn_write(pl, &o);
	buf[o.len] = '\0';
	free(pl);
	*out_r = buf;
	*len_r = o.len;
	return 0;
oom:
	free(buf);
	free(pl);
	return dsn_fail(err, errcap, "out of memory");
}
