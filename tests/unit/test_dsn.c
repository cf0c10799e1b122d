/*
 * Unit tests for home/dsn: delivery status notifications.
 *
 * One report is compared byte for byte with the message RFC 3464, RFC
 * 6522 and RFC 5322 call for (written out below by hand); every other
 * report is taken apart by means that do not use dsn.c: its lines (CRLF
 * only, at most 998 bytes), its parts split at the boundary the top
 * Content-Type names, the report's field groups, and the tree the
 * project's MIME parser (home/mime.h) finds. Then: folding of a long
 * Diagnostic-Code, RFC 6533's global types when an address or the header
 * section is not ASCII, the header section cut at DSN_HEADERS_MAX on a
 * field boundary, a boundary the copied header lines cannot hold, the
 * original Message-ID as In-Reply-To, and every refused input with its
 * exact message. tests/integration/test_dsn.py reads reports with Python's
 * email package as well.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/dsn.h"
#include "../../home/mime.h"

#define T_ERR_MAX 512
#define T_PARTS_MAX 8
#define T_VALUE_MAX 4096
#define T_BIG_MAX (512 * 1024)

/* Fixed times, their dates worked out with Python's email.utils.formatdate. */
#define T_ARRIVAL INT64_C(1772445600)	/* Mon, 02 Mar 2026 10:00:00 */
#define T_NOW INT64_C(1772532000)	/* Tue, 03 Mar 2026 10:00:00 */
#define T_TRIED INT64_C(1772531892)	/* Tue, 03 Mar 2026 09:58:12 */
#define T_UNTIL INT64_C(1772877600)	/* Sat, 07 Mar 2026 10:00:00 */

#define T_HEADERS "From: Alice <alice@alice.test>\r\n" \
		  "To: bob@peer.test\r\n" \
		  "Subject: Lunch on Friday?\r\n" \
		  "Message-ID: <lunch.42@alice.test>\r\n"

/* ---- helpers --------------------------------------------------------------- */

/* A report and what the helpers found in it. */
struct t_dsn {
	char *p;
	size_t len;
	char boundary[128];
	struct {
		const char *head;	/* the part's header block, its empty line not included */
		size_t head_len;
		const char *body;	/* its body: up to the CRLF before the next delimiter */
		size_t body_len;
	} part[T_PARTS_MAX];
	size_t nparts;
};

/* The base input: one recipient refused by its MX; headers T_HEADERS. */
static void
t_info(struct dsn_info *in, struct dsn_rcpt *r)
{
	memset(in, 0, sizeof(*in));
	memset(r, 0, sizeof(*r));
	r->address = "bob@peer.test";
	r->action = DSN_FAILED;
	r->status = "5.1.1";
	r->remote_mta = "mx.peer.test";
	r->diagnostic = "550 5.1.1 <bob@peer.test>: User unknown";
	r->last_attempt = T_TRIED;
	in->reporting_mta = "mail.alice.test";
	in->sender = "alice@alice.test";
	in->arrival = T_ARRIVAL;
	in->now = T_NOW;
	in->unique = "dsn-test.1";
	in->headers = (const uint8_t *)T_HEADERS;
	in->headers_len = strlen(T_HEADERS);
	in->rcpts = r;
	in->nrcpts = 1;
}

static int
t_starts(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

/* p[0..len) holds s. */
static int
t_has(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= len; i++) {
		if (memcmp(p + i, s, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * Build the report of in (which must succeed) and take it apart: every
 * line ends in CRLF and has at most 998 bytes before it, the top header
 * names a boundary, the first line starting with "--" boundary opens the
 * first part, and each part runs to the CRLF before the next delimiter;
 * the last delimiter closes, and only CRLF follows it. No other line
 * starts with "--" boundary.
 */
static void
t_build(const struct dsn_info *in, struct t_dsn *d)
{
	char err[T_ERR_MAX] = "";
	const char *b, *q;
	size_t blen, at, line = 0;

	memset(d, 0, sizeof(*d));
	if (dsn_build(in, &d->p, &d->len, err, sizeof(err)) != 0)
		fail_msg("dsn_build: %s", err);
	assert_non_null(d->p);
	assert_int_equal(strlen(d->p), d->len);

	/* Lines: CRLF only, within RFC 5322's 998. */
	for (size_t i = 0; i < d->len; i++) {
		if (d->p[i] == '\r') {
			assert_true(i + 1 < d->len && d->p[i + 1] == '\n');
			assert_true(i - line <= 998);
			i++;
			line = i + 1;
		} else {
			assert_true(d->p[i] != '\n');
		}
	}
	assert_int_equal(line, d->len);

	/* The boundary from the top Content-Type (folded before "boundary="). */
	b = strstr(d->p, "\r\n boundary=\"");
	assert_non_null(b);
	assert_true(b < strstr(d->p, "\r\n\r\n"));
	b += strlen("\r\n boundary=\"");
	q = strchr(b, '"');
	assert_non_null(q);
	blen = (size_t)(q - b);
	assert_true(blen >= 1 && blen <= 70 && blen < sizeof(d->boundary));
	memcpy(d->boundary, b, blen);
	/* "=_" (see dsn.c) and the caller's token are in it. */
	assert_true(t_starts(d->boundary, blen, "=_"));
	assert_true(t_has(d->boundary, blen, in->unique));

	/* Split at the delimiters: lines that are "--" boundary (and "--" at the end). */
	at = 0;
	for (;;) {
		const char *l = d->p + at, *eol = strstr(l, "\r\n");
		size_t n;

		assert_non_null(eol);
		n = (size_t)(eol - l);
		if (n >= 2 + blen && memcmp(l, "--", 2) == 0 && memcmp(l + 2, d->boundary, blen) == 0) {
			const char *rest = l + 2 + blen;

			if (d->nparts > 0) {
				/* The part before ends at the CRLF before this line. */
				size_t i = d->nparts - 1;

				assert_true(l - 2 >= d->part[i].body);
				d->part[i].body_len = (size_t)(l - 2 - d->part[i].body);
			}
			if (n == 2 + blen + 2 && memcmp(rest, "--", 2) == 0) {
				assert_int_equal(at + n + 2, d->len);
				break;
			}
			/* Nothing may follow a delimiter but the line end. */
			assert_int_equal(n, 2 + blen);
			assert_true(d->nparts < T_PARTS_MAX);
			d->part[d->nparts].head = eol + 2;
			q = strstr(eol + 2, "\r\n\r\n");
			assert_non_null(q);
			d->part[d->nparts].head_len = (size_t)(q + 2 - (eol + 2));
			d->part[d->nparts].body = q + 4;
			d->nparts++;
			at = (size_t)(q + 4 - d->p);
			continue;
		}
		at += n + 2;
	}
}

static void
t_free(struct t_dsn *d)
{
	free(d->p);
	memset(d, 0, sizeof(*d));
}

/*
 * The value of the first field called name in block[0..len) (whole
 * lines), unfolded (CRLFs removed), without the blank after the colon;
 * NULL if there is none. The caller frees it.
 */
static char *
t_field(const char *block, size_t len, const char *name)
{
	size_t nlen = strlen(name), at = 0;

	while (at < len) {
		const char *l = block + at;
		const char *eol = memchr(l, '\r', len - at);

		assert_non_null(eol);
		if ((size_t)(eol - l) > nlen && memcmp(l, name, nlen) == 0 && l[nlen] == ':') {
			char *v = malloc(len + 1);
			size_t n = 0;
			const char *s = l + nlen + 1;

			assert_non_null(v);
			if (*s == ' ')
				s++;
			for (;;) {
				memcpy(v + n, s, (size_t)(eol - s));
				n += (size_t)(eol - s);
				s = eol + 2;
				if (s >= block + len || (*s != ' ' && *s != '\t'))
					break;
				eol = memchr(s, '\r', len - (size_t)(s - block));
				assert_non_null(eol);
			}
			v[n] = '\0';
			return v;
		}
		at = (size_t)(eol - block) + 2;
	}
	return NULL;
}

static void
t_expect_field(const char *block, size_t len, const char *name, const char *want)
{
	char *v = t_field(block, len, name);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s: want none, got \"%s\"", name, v);
		return;
	}
	if (v == NULL)
		fail_msg("%s: missing (want \"%s\")", name, want);
	if (strcmp(v, want) != 0)
		fail_msg("%s: want \"%s\", got \"%s\"", name, want, v);
	free(v);
}

/* The top header block of d. */
static size_t
t_top_len(const struct t_dsn *d)
{
	return (size_t)(strstr(d->p, "\r\n\r\n") + 2 - d->p);
}

/*
 * The field groups of a delivery-status body (separated by empty lines):
 * starts[i], lens[i]. Returns how many.
 */
static size_t
t_groups(const char *body, size_t len, const char **starts, size_t *lens, size_t cap)
{
	size_t n = 0, at = 0;

	while (at < len) {
		const char *g = body + at;
		const char *end = NULL;

		for (size_t i = at; i + 4 <= len; i++) {
			if (memcmp(body + i, "\r\n\r\n", 4) == 0) {
				end = body + i + 2;
				break;
			}
		}
		if (end == NULL)
			end = body + len;
		assert_true(n < cap);
		starts[n] = g;
		lens[n] = (size_t)(end - g);
		n++;
		at = (size_t)(end - body) + 2;
	}
	return n;
}

/* The names of the fields of a group, in order, "|"-separated, into out. */
static void
t_names(const char *g, size_t len, char *out, size_t cap)
{
	size_t at = 0, n = 0;

	out[0] = '\0';
	while (at < len) {
		const char *l = g + at;
		const char *eol = memchr(l, '\r', len - at);
		const char *colon;

		assert_non_null(eol);
		if (*l != ' ') {
			colon = memchr(l, ':', (size_t)(eol - l));
			assert_non_null(colon);
			n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n > 0 ? "|" : "", (int)(colon - l), l);
			assert_true(n < cap);
		}
		at = (size_t)(eol - g) + 2;
	}
}

/* The string s of a MIME table, as a C string into out. */
static const char *
t_mstr(const struct mime *m, struct mime_str s, char *out, size_t cap)
{
	size_t n;
	const uint8_t *p = mime_str_get(m, s, &n);

	if (p == NULL)
		return "(nil)";
	assert_true(n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

/* Entity i of m is type/subtype. */
static void
t_expect_type(const struct mime *m, uint32_t i, const char *type, const char *subtype)
{
	char a[128], b[128];

	assert_true(i < m->nparts);
	assert_string_equal(t_mstr(m, m->parts[i].type, a, sizeof(a)), type);
	assert_string_equal(t_mstr(m, m->parts[i].subtype, b, sizeof(b)), subtype);
}

/* Parameter name of entity i of m, or "(none)". */
static const char *
t_mparam(const struct mime *m, uint32_t i, const char *name, char *out, size_t cap)
{
	char nb[128];

	for (uint32_t k = 0; k < m->parts[i].param_count; k++) {
		const struct mime_param *pa = &m->params[m->parts[i].param_first + k];

		if (strcmp(t_mstr(m, pa->name, nb, sizeof(nb)), name) == 0)
			return t_mstr(m, pa->value, out, cap);
	}
	return "(none)";
}

/* ---- the whole report, byte for byte ------------------------------------------ */

static void
test_dsn_exact(void **state)
{
	static const char want[] =
		/* RFC 5322 header: the sender is To, RFC 3834's Auto-Submitted, the
		   original Message-ID answered; RFC 6522's multipart/report. */
		"From: \"Mail Delivery System\" <MAILER-DAEMON@mail.alice.test>\r\n"
		"To: <alice@alice.test>\r\n"
		"Subject: Undelivered Mail Returned to Sender\r\n"
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\n"
		"Message-ID: <dsn-test.1@mail.alice.test>\r\n"
		"In-Reply-To: <lunch.42@alice.test>\r\n"
		"References: <lunch.42@alice.test>\r\n"
		"Auto-Submitted: auto-replied\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=delivery-status;\r\n"
		" boundary=\"=_dsn-test.1_0000\"\r\n"
		"\r\n"
		/* For people. */
		"--=_dsn-test.1_0000\r\n"
		"Content-Description: Notification\r\n"
		"Content-Type: text/plain; charset=us-ascii\r\n"
		"\r\n"
		"This is the mail system at mail.alice.test.\r\n"
		"\r\n"
		"Your message could not be delivered to one or more of its recipients.\r\n"
		"It was received on Mon, 02 Mar 2026 10:00:00 +0000.\r\n"
		"Its header is attached below the report.\r\n"
		"\r\n"
		"<bob@peer.test>: the message could not be delivered.\r\n"
		"    The mail server mx.peer.test answered:\r\n"
		"    550 5.1.1 <bob@peer.test>: User unknown\r\n"
		"    Last attempt: Tue, 03 Mar 2026 09:58:12 +0000.\r\n"
		"\r\n"
		/* RFC 3464 2.2 per-message fields, an empty line, 2.3 per-recipient fields. */
		"--=_dsn-test.1_0000\r\n"
		"Content-Description: Delivery report\r\n"
		"Content-Type: message/delivery-status\r\n"
		"\r\n"
		"Reporting-MTA: dns; mail.alice.test\r\n"
		"Arrival-Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
		"\r\n"
		"Final-Recipient: rfc822; bob@peer.test\r\n"
		"Action: failed\r\n"
		"Status: 5.1.1\r\n"
		"Remote-MTA: dns; mx.peer.test\r\n"
		"Diagnostic-Code: smtp; 550 5.1.1 <bob@peer.test>: User unknown\r\n"
		"Last-Attempt-Date: Tue, 03 Mar 2026 09:58:12 +0000\r\n"
		"\r\n"
		/* RFC 6522 4: the header section as it was. */
		"--=_dsn-test.1_0000\r\n"
		"Content-Description: Undelivered message header\r\n"
		"Content-Type: text/rfc822-headers\r\n"
		"\r\n"
		T_HEADERS
		"\r\n"
		"--=_dsn-test.1_0000--\r\n";
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d, again;

	(void)state;
	t_info(&in, &r);
	t_build(&in, &d);
	assert_string_equal(d.p, want);
	assert_int_equal(d.len, sizeof(want) - 1);
	assert_int_equal(d.nparts, 3);
	/* The same input, the same bytes. */
	t_build(&in, &again);
	assert_int_equal(again.len, d.len);
	assert_memory_equal(again.p, d.p, d.len);
	t_free(&again);
	t_free(&d);
}

/* ---- structure ------------------------------------------------------------------ */

/* The report as the project's MIME parser sees it: the tree and the parts' bytes. */
static void
test_dsn_mime_tree(void **state)
{
	struct dsn_info in;
	struct dsn_rcpt r[2];
	struct t_dsn d;
	struct mime *m = NULL;
	char v[256];

	(void)state;
	t_info(&in, &r[0]);
	r[1] = r[0];
	r[1].address = "carol@peer.test";
	r[1].action = DSN_DELAYED;
	r[1].status = NULL;
	r[1].remote_mta = NULL;
	r[1].diagnostic = NULL;
	r[1].reason = "connection refused";
	in.nrcpts = 2;
	in.retry_until = T_UNTIL;
	t_build(&in, &d);
	assert_int_equal(mime_parse(d.p, d.len, NULL, &m), 0);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->nparts, 4);
	assert_true(m->parts[0].flags & MIME_PART_MULTIPART);
	t_expect_type(m, 0, "multipart", "report");
	assert_int_equal(m->parts[0].children, 3);
	assert_string_equal(t_mparam(m, 0, "report-type", v, sizeof(v)), "delivery-status");
	assert_string_equal(t_mparam(m, 0, "boundary", v, sizeof(v)), d.boundary);
	t_expect_type(m, 1, "text", "plain");
	assert_string_equal(t_mparam(m, 1, "charset", v, sizeof(v)), "us-ascii");
	t_expect_type(m, 2, "message", "delivery-status");
	t_expect_type(m, 3, "text", "rfc822-headers");
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(m->parts[i].parent, 0);
		assert_int_equal(m->parts[i].number, i);
		assert_int_equal(m->parts[i].flags & MIME_PART_MALFORMED, 0);
		/* The parser's bodies are the bytes split at the boundary here. */
		assert_int_equal(m->parts[i].body_size, d.part[i - 1].body_len);
		assert_ptr_equal(d.p + m->parts[i].body_offset, d.part[i - 1].body);
		assert_string_equal(t_mstr(m, m->parts[i].encoding, v, sizeof(v)), "(nil)");
	}
	/* The third part is the header section as given. */
	assert_int_equal(d.part[2].body_len, strlen(T_HEADERS));
	assert_memory_equal(d.part[2].body, T_HEADERS, strlen(T_HEADERS));
	mime_free(&m);
	t_free(&d);

	/* Without a header section there are two parts. */
	in.headers = NULL;
	in.headers_len = 0;
	t_build(&in, &d);
	assert_int_equal(d.nparts, 2);
	assert_false(t_has(d.p, d.len, "attached"));
	assert_false(t_has(d.p, d.len, "In-Reply-To"));
	assert_int_equal(mime_parse(d.p, d.len, NULL, &m), 0);
	assert_int_equal(m->nparts, 3);
	assert_int_equal(m->parts[0].children, 2);
	t_expect_type(m, 1, "text", "plain");
	t_expect_type(m, 2, "message", "delivery-status");
	mime_free(&m);
	t_free(&d);
}

/* Top fields, and the report's field groups for failed and delayed recipients. */
static void
test_dsn_fields(void **state)
{
	struct dsn_info in;
	struct dsn_rcpt r[4];
	struct t_dsn d;
	const char *g[8];
	size_t glen[8], top;
	char names[512];

	(void)state;
	t_info(&in, &r[0]);
	r[1] = (struct dsn_rcpt){ .address = "carol@peer.test", .action = DSN_DELAYED,
				  .reason = "connection refused", .last_attempt = T_TRIED };
	r[2] = (struct dsn_rcpt){ .address = "dave@peer.test", .action = DSN_FAILED, .status = "",
				  .reason = "no MX for peer.test" };
	r[3] = (struct dsn_rcpt){ .address = "erin@peer.test", .action = DSN_DELAYED,
				  .status = "4.4.7", .remote_mta = "mx2.peer.test",
				  .diagnostic = "451 4.3.0 try again later" };
	in.nrcpts = 4;
	in.retry_until = T_UNTIL;
	t_build(&in, &d);
	top = t_top_len(&d);
	t_expect_field(d.p, top, "From", "\"Mail Delivery System\" <MAILER-DAEMON@mail.alice.test>");
	t_expect_field(d.p, top, "To", "<alice@alice.test>");
	t_expect_field(d.p, top, "Subject", "Undelivered Mail Returned to Sender");
	t_expect_field(d.p, top, "Date", "Tue, 03 Mar 2026 10:00:00 +0000");
	t_expect_field(d.p, top, "Message-ID", "<dsn-test.1@mail.alice.test>");
	t_expect_field(d.p, top, "Auto-Submitted", "auto-replied");
	t_expect_field(d.p, top, "MIME-Version", "1.0");
	t_expect_field(d.p, top, "Content-Type",
		       "multipart/report; report-type=delivery-status; boundary=\"=_dsn-test.1_0000\"");
	t_expect_field(d.p, top, "Content-Transfer-Encoding", NULL);
	assert_int_equal(d.nparts, 3);
	t_expect_field(d.part[0].head, d.part[0].head_len, "Content-Type", "text/plain; charset=us-ascii");
	t_expect_field(d.part[1].head, d.part[1].head_len, "Content-Type", "message/delivery-status");
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Type", "text/rfc822-headers");

	/* Per-message fields, then one group per recipient, in order. */
	assert_int_equal(t_groups(d.part[1].body, d.part[1].body_len, g, glen, 8), 5);
	t_names(g[0], glen[0], names, sizeof(names));
	assert_string_equal(names, "Reporting-MTA|Arrival-Date");
	t_expect_field(g[0], glen[0], "Reporting-MTA", "dns; mail.alice.test");
	t_expect_field(g[0], glen[0], "Arrival-Date", "Mon, 02 Mar 2026 10:00:00 +0000");

	t_names(g[1], glen[1], names, sizeof(names));
	assert_string_equal(names, "Final-Recipient|Action|Status|Remote-MTA|Diagnostic-Code|"
				   "Last-Attempt-Date");
	t_expect_field(g[1], glen[1], "Final-Recipient", "rfc822; bob@peer.test");
	t_expect_field(g[1], glen[1], "Action", "failed");
	t_expect_field(g[1], glen[1], "Status", "5.1.1");
	t_expect_field(g[1], glen[1], "Remote-MTA", "dns; mx.peer.test");
	t_expect_field(g[1], glen[1], "Diagnostic-Code", "smtp; 550 5.1.1 <bob@peer.test>: User unknown");
	t_expect_field(g[1], glen[1], "Last-Attempt-Date", "Tue, 03 Mar 2026 09:58:12 +0000");

	/* Delayed, no MX reached: the default status, when we give up. */
	t_names(g[2], glen[2], names, sizeof(names));
	assert_string_equal(names, "Final-Recipient|Action|Status|Last-Attempt-Date|Will-Retry-Until");
	t_expect_field(g[2], glen[2], "Action", "delayed");
	t_expect_field(g[2], glen[2], "Status", "4.0.0");
	t_expect_field(g[2], glen[2], "Will-Retry-Until", "Sat, 07 Mar 2026 10:00:00 +0000");

	/* Failed, never tried: "" is the default status too; no dates, no retry. */
	t_names(g[3], glen[3], names, sizeof(names));
	assert_string_equal(names, "Final-Recipient|Action|Status");
	t_expect_field(g[3], glen[3], "Status", "5.0.0");

	t_names(g[4], glen[4], names, sizeof(names));
	assert_string_equal(names, "Final-Recipient|Action|Status|Remote-MTA|Diagnostic-Code|"
				   "Will-Retry-Until");
	t_expect_field(g[4], glen[4], "Status", "4.4.7");
	t_expect_field(g[4], glen[4], "Diagnostic-Code", "smtp; 451 4.3.0 try again later");

	/* For people: one paragraph per recipient with what we know. */
	assert_true(t_has(d.part[0].body, d.part[0].body_len,
			  "\r\n\r\n<carol@peer.test>: not delivered yet.\r\n"
			  "    Still trying until Sat, 07 Mar 2026 10:00:00 +0000.\r\n"
			  "    Reason: connection refused\r\n"
			  "    Last attempt: Tue, 03 Mar 2026 09:58:12 +0000.\r\n"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len,
			  "\r\n\r\n<dave@peer.test>: the message could not be delivered.\r\n"
			  "    Reason: no MX for peer.test\r\n"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len,
			  "\r\n\r\n<erin@peer.test>: not delivered yet.\r\n"
			  "    Still trying until Sat, 07 Mar 2026 10:00:00 +0000.\r\n"
			  "    The mail server mx2.peer.test answered:\r\n"
			  "    451 4.3.0 try again later\r\n"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len,
			  "For some others it has not been delivered yet"));
	t_free(&d);

	/* All delayed: the other subject, the warning, no retry date when there is none. */
	in.rcpts = &r[1];
	in.nrcpts = 1;
	in.retry_until = 0;
	in.arrival = 0;
	t_build(&in, &d);
	top = t_top_len(&d);
	t_expect_field(d.p, top, "Subject", "Delayed Mail (still being retried)");
	assert_true(t_has(d.part[0].body, d.part[0].body_len, "This is a warning only"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len, "    Still trying.\r\n"));
	assert_false(t_has(d.part[0].body, d.part[0].body_len, "received on"));
	assert_false(t_has(d.p, d.len, "Will-Retry-Until"));
	assert_false(t_has(d.p, d.len, "Arrival-Date"));
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Description", "Delayed message header");
	t_free(&d);

	/* Remote-MTA may be an address literal. */
	in.rcpts = r;
	r[0].remote_mta = "[IPv6:2001:db8::25]";
	t_build(&in, &d);
	assert_true(t_has(d.part[1].body, d.part[1].body_len, "\r\nRemote-MTA: dns; [IPv6:2001:db8::25]\r\n"));
	t_free(&d);
	r[0].remote_mta = "[192.0.2.25]";
	t_build(&in, &d);
	assert_true(t_has(d.part[1].body, d.part[1].body_len, "\r\nRemote-MTA: dns; [192.0.2.25]\r\n"));
	t_free(&d);
}

/* Every line the report writes itself stays within 78 columns where words allow. */
static void
test_dsn_line_lengths(void **state)
{
	static const char diag[] =
		"550-5.7.1 The user or domain that you are sending to (or from) has a policy that "
		"prohibited the mail that you sent. Please contact your domain administrator for "
		"further information. 550 5.7.1 https://support.peer.test/mail/answer/policy-rejections "
		"- peer.test";
	struct dsn_info in;
	struct dsn_rcpt r[2];
	struct t_dsn d;
	size_t line = 0;

	(void)state;
	t_info(&in, &r[0]);
	r[0].diagnostic = diag;
	r[0].remote_mta = "mx-with-a-rather-long-name.eu-west.mail-hosting.peer.test";
	r[1] = r[0];
	r[1].address = "someone.with.a.long.address@subdomain.of.a.long.domain.peer.test";
	r[1].diagnostic = NULL;
	r[1].reason = "gave up after 5 days: connection to mx-with-a-rather-long-name.eu-west."
		      "mail-hosting.peer.test refused, and so was every other MX of peer.test";
	in.nrcpts = 2;
	t_build(&in, &d);
	/*
	 * Everything before the copied header section (whose lines are the
	 * caller's), but Final-Recipient: never folded, so that readers of
	 * one line at a time find the address (Postfix does not fold it either).
	 */
	for (size_t i = 0; d.p + i < d.part[2].body; i++) {
		if (d.p[i] == '\r') {
			if (i - line > DSN_LINE_MAX && !t_starts(d.p + line, i - line, "Final-Recipient: "))
				fail_msg("line of %zu columns: %.*s", i - line, (int)(i - line), d.p + line);
			line = i + 2;
		}
	}
	t_free(&d);
}

/* ---- Diagnostic-Code --------------------------------------------------------------- */

static void
test_dsn_fold(void **state)
{
	char diag[DSN_TEXT_MAX + 200], want[DSN_TEXT_MAX + 300], *v;
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d;
	const char *l, *end;
	size_t n = 0, lines = 0;

	(void)state;
	/* 300 bytes of words, two blanks in one place. */
	while (n < 300)
		n += (size_t)snprintf(diag + n, sizeof(diag) - n, "word%zu ", n);
	diag[n - 1] = '\0';
	memcpy(diag + 20, "  ", 2);
	t_info(&in, &r);
	r.diagnostic = diag;
	t_build(&in, &d);
	l = strstr(d.part[1].body, "Diagnostic-Code: smtp; ");
	assert_non_null(l);
	/* Folded: every line within 78, each continuation starting with a blank. */
	for (;;) {
		end = strstr(l, "\r\n");
		assert_true(end - l <= DSN_LINE_MAX);
		assert_true(end - l > 1);
		lines++;
		l = end + 2;
		if (*l != ' ')
			break;
	}
	assert_true(lines >= 4);
	assert_true(t_starts(l, 18, "Last-Attempt-Date:"));
	/* Unfolding gives the text back, blanks and all. */
	snprintf(want, sizeof(want), "smtp; %s", diag);
	t_expect_field(d.part[1].body, d.part[1].body_len, "Diagnostic-Code", want);
	t_free(&d);

	/* Blanks around it go; a word too long for a line stays whole. */
	memset(diag, 'x', 200);
	memcpy(diag, "  550 ", 6);
	memcpy(diag + 200, " end  ", 7);
	t_build(&in, &d);
	v = t_field(d.part[1].body, d.part[1].body_len, "Diagnostic-Code");
	assert_non_null(v);
	assert_int_equal(strlen(v), strlen("smtp; 550 ") + 194 + strlen(" end"));
	assert_true(t_starts(v, strlen(v), "smtp; 550 xxx"));
	assert_true(t_has(d.part[1].body, d.part[1].body_len, "xxx\r\n end\r\n"));
	free(v);
	t_free(&d);

	/* Longer than DSN_TEXT_MAX: cut there. */
	memset(diag, 'y', sizeof(diag) - 1);
	diag[sizeof(diag) - 1] = '\0';
	for (size_t i = 10; i < sizeof(diag) - 1; i += 10)
		diag[i] = ' ';
	t_build(&in, &d);
	v = t_field(d.part[1].body, d.part[1].body_len, "Diagnostic-Code");
	assert_non_null(v);
	assert_int_equal(strlen(v), strlen("smtp; ") + DSN_TEXT_MAX);
	assert_memory_equal(v + 6, diag, DSN_TEXT_MAX);
	free(v);
	t_free(&d);

	/* Only blanks: no diagnostic at all. */
	r.diagnostic = "   ";
	t_build(&in, &d);
	assert_false(t_has(d.p, d.len, "Diagnostic-Code"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len, "The last mail server tried was mx.peer.test."));
	t_free(&d);
}

/* ---- RFC 6533 ------------------------------------------------------------------------ */

static void
test_dsn_utf8(void **state)
{
	static const char hdr8[] = "From: J\xc3\xbcrgen <j@alice.test>\r\n"
				   "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n";
	struct dsn_info in;
	struct dsn_rcpt r[2];
	struct t_dsn d;
	struct mime *m = NULL;
	size_t top;
	char v[256];

	(void)state;
	/* A UTF-8 recipient: every part global, the text part UTF-8. */
	t_info(&in, &r[0]);
	r[1] = r[0];
	r[0].address = "j\xc3\xbcrgen+a=b\\c@b\xc3\xbc" "cher.test";
	in.nrcpts = 2;
	t_build(&in, &d);
	top = t_top_len(&d);
	t_expect_field(d.p, top, "Content-Type", "multipart/report; report-type=global-delivery-status; "
						 "boundary=\"=_dsn-test.1_0000\"");
	t_expect_field(d.p, top, "Content-Transfer-Encoding", "8bit");
	t_expect_field(d.part[0].head, d.part[0].head_len, "Content-Type", "text/plain; charset=utf-8");
	t_expect_field(d.part[0].head, d.part[0].head_len, "Content-Transfer-Encoding", "8bit");
	t_expect_field(d.part[1].head, d.part[1].head_len, "Content-Type", "message/global-delivery-status");
	t_expect_field(d.part[1].head, d.part[1].head_len, "Content-Transfer-Encoding", "8bit");
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Type", "message/global-headers");
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Transfer-Encoding", "8bit");
	/* utf-8-addr-unitext: "+", "=" and "\" as \x{XX}, the rest as it is; ASCII stays rfc822. */
	assert_true(t_has(d.part[1].body, d.part[1].body_len,
			  "\r\nFinal-Recipient: utf-8; j\xc3\xbcrgen\\x{2B}a\\x{3D}b\\x{5C}c@b\xc3\xbc"
			  "cher.test\r\n"));
	assert_true(t_has(d.part[1].body, d.part[1].body_len, "\r\nFinal-Recipient: rfc822; bob@peer.test\r\n"));
	assert_true(t_has(d.part[0].body, d.part[0].body_len,
			  "\r\n<j\xc3\xbcrgen+a=b\\c@b\xc3\xbc" "cher.test>: the message could not be delivered.\r\n"));
	assert_int_equal(mime_parse(d.p, d.len, NULL, &m), 0);
	assert_int_equal(m->parts[0].children, 3);
	t_expect_type(m, 0, "multipart", "report");
	assert_string_equal(t_mparam(m, 0, "report-type", v, sizeof(v)), "global-delivery-status");
	t_expect_type(m, 1, "text", "plain");
	assert_string_equal(t_mparam(m, 1, "charset", v, sizeof(v)), "utf-8");
	assert_string_equal(t_mstr(m, m->parts[1].encoding, v, sizeof(v)), "8bit");
	t_expect_type(m, 2, "message", "global-delivery-status");
	t_expect_type(m, 3, "message", "global-headers");
	mime_free(&m);
	t_free(&d);

	/* A space in a UTF-8 address ("quoted local part") is \x{20}. */
	r[0].address = "\"j\xc3\xbc rgen\"@peer.test";
	t_build(&in, &d);
	assert_true(t_has(d.part[1].body, d.part[1].body_len,
			  "\r\nFinal-Recipient: utf-8; \"j\xc3\xbc\\x{20}rgen\"@peer.test\r\n"));
	t_free(&d);

	/* Only the header section is UTF-8: global report and headers, ASCII text and addresses. */
	t_info(&in, &r[0]);
	in.headers = (const uint8_t *)hdr8;
	in.headers_len = strlen(hdr8);
	t_build(&in, &d);
	t_expect_field(d.part[0].head, d.part[0].head_len, "Content-Type", "text/plain; charset=us-ascii");
	t_expect_field(d.part[0].head, d.part[0].head_len, "Content-Transfer-Encoding", NULL);
	t_expect_field(d.part[1].head, d.part[1].head_len, "Content-Type", "message/global-delivery-status");
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Type", "message/global-headers");
	assert_true(t_has(d.part[1].body, d.part[1].body_len, "\r\nFinal-Recipient: rfc822; bob@peer.test\r\n"));
	assert_int_equal(d.part[2].body_len, strlen(hdr8));
	assert_memory_equal(d.part[2].body, hdr8, strlen(hdr8));
	t_free(&d);

	/* UTF-8 past the empty line does not count; a UTF-8 sender is only the To field's. */
	in.headers = (const uint8_t *)"From: J\r\n\r\nX: \xc3\xbc\r\n";
	in.headers_len = strlen((const char *)in.headers);
	in.sender = "j\xc3\xbcrgen@alice.test";
	t_build(&in, &d);
	t_expect_field(d.p, t_top_len(&d), "To", "<j\xc3\xbcrgen@alice.test>");
	t_expect_field(d.part[1].head, d.part[1].head_len, "Content-Type", "message/delivery-status");
	t_expect_field(d.part[2].head, d.part[2].head_len, "Content-Type", "text/rfc822-headers");
	assert_int_equal(d.part[2].body_len, strlen("From: J\r\n"));
	assert_memory_equal(d.part[2].body, "From: J\r\n", strlen("From: J\r\n"));
	t_free(&d);
	/* A header section without its last line end gets one. */
	in.headers = (const uint8_t *)"From: J";
	in.headers_len = strlen("From: J");
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, strlen("From: J\r\n"));
	assert_memory_equal(d.part[2].body, "From: J\r\n", strlen("From: J\r\n"));
	t_free(&d);
}

/* ---- the copied header section ------------------------------------------------------------- */

/* Headers of fields of 100 bytes with CRLF ("X-Fill-NNNNN: xxx...") until total bytes. */
static size_t
t_fill(char *buf, size_t cap, size_t total, const char *eol)
{
	size_t n = 0, k = 0;

	while (n < total) {
		size_t want = total - n < 100 ? total - n : 100;
		int w = snprintf(buf + n, cap - n, "X-Fill-%05zu: ", k++);
		size_t el = strlen(eol);

		assert_true(w > 0 && want >= (size_t)w + el);
		memset(buf + n + (size_t)w, 'x', want - (size_t)w - el);
		memcpy(buf + n + want - el, eol, el);
		n += want;
	}
	buf[n] = '\0';
	return n;
}

static void
test_dsn_headers_cut(void **state)
{
	char *h = malloc(T_BIG_MAX);
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d;
	size_t n;

	(void)state;
	assert_non_null(h);
	t_info(&in, &r);
	in.headers = (const uint8_t *)h;

	/* Exactly DSN_HEADERS_MAX: all of it. */
	n = t_fill(h, T_BIG_MAX, DSN_HEADERS_MAX, "\r\n");
	in.headers_len = n;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, DSN_HEADERS_MAX);
	assert_memory_equal(d.part[2].body, h, DSN_HEADERS_MAX);
	t_free(&d);

	/* One byte more, in the last field: that field goes, whole. */
	n = t_fill(h, T_BIG_MAX, DSN_HEADERS_MAX - 100, "\r\n");
	memcpy(h + n, "X-Last: ", 8);
	memset(h + n + 8, 'L', 91);
	memcpy(h + n + 99, "\r\n", 2);
	in.headers_len = n + 101;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, n);
	assert_memory_equal(d.part[2].body, h, n);
	t_free(&d);

	/* A folded field across the cap goes with all its lines; the fields after it too. */
	n = t_fill(h, T_BIG_MAX, DSN_HEADERS_MAX - 200, "\r\n");
	memcpy(h + n, "Received: from a\r\n\tby b\r\n", 25);
	memset(h + n + 25, ' ', 200);
	memcpy(h + n + 225, "x\r\nSubject: after\r\n", 19);
	in.headers_len = n + 244;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, n);
	assert_false(t_has(d.part[2].body, d.part[2].body_len, "Received:"));
	t_free(&d);
	/* ... and stays when it fits, with its continuation lines. */
	n = t_fill(h, T_BIG_MAX, DSN_HEADERS_MAX - 300, "\r\n");
	memcpy(h + n, "Received: from a\r\n\tby b\r\n", 25);
	memset(h + n + 25, ' ', 200);
	memcpy(h + n + 225, "x\r\nSubject: after\r\n", 19);
	in.headers_len = n + 244;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, n + 244);
	assert_memory_equal(d.part[2].body, h, n + 244);
	t_free(&d);

	/*
	 * Bare LFs become CRLFs, and the cap counts the CRLFs written: 654
	 * fields of 100 bytes with LF fit, 648 of 101 with CRLF do.
	 */
	n = t_fill(h, T_BIG_MAX, 65400, "\n");
	assert_true(n <= DSN_HEADERS_MAX);
	in.headers_len = n;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, 648 * 101);
	for (size_t i = 0; i < 648; i++) {
		assert_memory_equal(d.part[2].body + i * 101, h + i * 100, 99);
		assert_memory_equal(d.part[2].body + i * 101 + 99, "\r\n", 2);
	}
	t_free(&d);

	/* A bare CR ends a line too; an empty line ends the section. */
	in.headers = (const uint8_t *)"A: 1\rB: 2\nC: 3\r\n\r\nD: 4\r\n";
	in.headers_len = strlen((const char *)in.headers);
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, strlen("A: 1\r\nB: 2\r\nC: 3\r\n"));
	assert_memory_equal(d.part[2].body, "A: 1\r\nB: 2\r\nC: 3\r\n", d.part[2].body_len);
	t_free(&d);
	in.headers = (const uint8_t *)"\r\nA: 1\r\n";
	in.headers_len = strlen((const char *)in.headers);
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, 0);
	t_free(&d);

	/*
	 * A NUL, or a line over 998 bytes, ends the copy before its field
	 * (7bit and 8bit text hold neither); a line of 998 is fine.
	 */
	memcpy(h, "A: 1\r\nB: 2\r\n x\0y\r\nC: 3\r\n", 24);
	in.headers = (const uint8_t *)h;
	in.headers_len = 24;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, 6);
	assert_memory_equal(d.part[2].body, "A: 1\r\n", 6);
	t_free(&d);
	memcpy(h, "A: 1\r\nB: ", 9);
	memset(h + 9, 'b', 998 - 3);
	memcpy(h + 9 + 995, "\r\nC: 3\r\n", 9);
	in.headers_len = 9 + 995 + 8;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, in.headers_len);
	t_free(&d);
	memset(h + 9, 'b', 996);
	memcpy(h + 9 + 996, "\r\nC: 3\r\n", 9);
	in.headers_len = 9 + 996 + 8;
	t_build(&in, &d);
	assert_int_equal(d.part[2].body_len, 6);
	t_free(&d);

	/* One field longer than the cap: nothing is copied, the part is there, empty. */
	memcpy(h, "Subject: ", 9);
	memset(h + 9, 'z', DSN_HEADERS_MAX);
	in.headers = (const uint8_t *)h;
	in.headers_len = DSN_HEADERS_MAX + 9;
	t_build(&in, &d);
	assert_int_equal(d.nparts, 3);
	assert_int_equal(d.part[2].body_len, 0);
	t_free(&d);
	free(h);
}

/*
 * Copied lines that start like the boundary rule its values out (any case;
 * "-" and any byte, as home/mime.c matches); the lines stay as they were.
 */
static void
test_dsn_boundary(void **state)
{
	static const char hdr[] = "X-A: 1\r\n"
				  "--=_dsn-test.1_0000\r\n"
				  "--=_DSN-TEST.1_0001--\r\n"
				  "-x=_dsn-test.1_0002 trailing\r\n"
				  "--=_dsn-test.1_000\r\n"
				  "--=_dsn-test.1_00x3\r\n"
				  "x-=_dsn-test.1_0003\r\n"
				  "X-B: 2\r\n";
	char *h = malloc(T_BIG_MAX);
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d;
	struct mime *m = NULL;
	size_t n = 0, copied;

	(void)state;
	assert_non_null(h);
	t_info(&in, &r);
	in.headers = (const uint8_t *)hdr;
	in.headers_len = strlen(hdr);
	t_build(&in, &d);
	assert_string_equal(d.boundary, "=_dsn-test.1_0003");
	assert_int_equal(d.nparts, 3);
	assert_int_equal(d.part[2].body_len, strlen(hdr));
	assert_memory_equal(d.part[2].body, hdr, strlen(hdr));
	assert_int_equal(mime_parse(d.p, d.len, NULL, &m), 0);
	assert_int_equal(m->parts[0].children, 3);
	assert_int_equal(m->parts[3].body_size, strlen(hdr));
	mime_free(&m);
	t_free(&d);

	/* As many such lines as fit: the first value after them. */
	in.unique = "u";
	while (n + 12 < T_BIG_MAX) {
		snprintf(h + n, 13, "--=_u_%04zx\r\n", (n / 12) & 0xffff);
		n += 12;
	}
	in.headers = (const uint8_t *)h;
	in.headers_len = n;
	t_build(&in, &d);
	copied = DSN_HEADERS_MAX / 12;
	assert_int_equal(d.part[2].body_len, copied * 12);
	snprintf(h, T_BIG_MAX, "=_u_%04zx", copied);
	assert_string_equal(d.boundary, h);
	t_free(&d);
	free(h);
}

/* The original Message-ID: In-Reply-To and References when it is one plain msg-id. */
static void
test_dsn_msgid(void **state)
{
	static const struct {
		const char *headers;
		const char *want;	/* NULL: none */
	} cases[] = {
		{ "Message-ID: <a.b@c.test>\r\n", "<a.b@c.test>" },
		{ "From: x@y\r\nmessage-id  :   <a@b>   \r\nSubject: s\r\n", "<a@b>" },
		{ "Message-ID:\r\n <folded@b>\r\n", "<folded@b>" },
		{ "Message-ID: <first@b>\r\nMessage-ID: <second@b>\r\n", "<first@b>" },
		{ "Message-ID: <a@b> (comment)\r\n", NULL },
		{ "Message-ID: <a b@c>\r\n", NULL },
		{ "Message-ID: <a@b><c@d>\r\n", NULL },
		{ "Message-ID: <\xc3\xa4@b>\r\n", NULL },
		{ "Message-ID: a@b\r\n", NULL },
		{ "Message-ID: <>\r\n", NULL },
		{ "Message-ID: <a@b>\r\nX: 1\r\n Message-ID: <c@d>\r\n", "<a@b>" },
		{ "X-Message-ID: <a@b>\r\nMessage-IDs: <c@d>\r\n", NULL },
		{ "Subject: x\r\n\r\nMessage-ID: <after@empty>\r\n", NULL },
	};
	char big[DSN_MSGID_MAX + 64];
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d;

	(void)state;
	t_info(&in, &r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in.headers = (const uint8_t *)cases[i].headers;
		in.headers_len = strlen(cases[i].headers);
		t_build(&in, &d);
		t_expect_field(d.p, t_top_len(&d), "In-Reply-To", cases[i].want);
		t_expect_field(d.p, t_top_len(&d), "References", cases[i].want);
		t_free(&d);
	}
	/* DSN_MSGID_MAX bytes are taken, one more is not. */
	memset(big, 'm', sizeof(big));
	memcpy(big, "Message-ID: <", 13);
	memcpy(big + 13 + DSN_MSGID_MAX - 2, ">\r\n", 4);
	in.headers = (const uint8_t *)big;
	in.headers_len = strlen(big);
	t_build(&in, &d);
	assert_true(t_starts(strstr(d.p, "In-Reply-To: ") + 13 + DSN_MSGID_MAX - 1, 3, ">\r\n"));
	t_free(&d);
	memset(big, 'm', sizeof(big));
	memcpy(big, "Message-ID: <", 13);
	memcpy(big + 13 + DSN_MSGID_MAX - 1, ">\r\n", 4);
	in.headers_len = strlen(big);
	t_build(&in, &d);
	assert_false(t_has(d.p, d.len, "In-Reply-To"));
	t_free(&d);
}

/* ---- refused inputs ------------------------------------------------------------------------ */

enum t_field_id {
	T_REPORTING, T_SENDER, T_UNIQUE, T_ADDRESS, T_STATUS, T_REMOTE, T_DIAG, T_REASON,
};

static void
test_dsn_refused(void **state)
{
	static const struct {
		int field;
		const char *value;
		int action;		/* DSN_FAILED or DSN_DELAYED for the recipient */
		const char *err;
	} cases[] = {
		{ T_REPORTING, "", DSN_FAILED, "reporting_mta: empty" },
		{ T_REPORTING, "mail.alice.test.", DSN_FAILED, "reporting_mta: not a host name" },
		{ T_REPORTING, "mail alice", DSN_FAILED, "reporting_mta: not a host name" },
		{ T_REPORTING, "[192.0.2.1]", DSN_FAILED, "reporting_mta: not a host name" },
		{ T_SENDER, "", DSN_FAILED, "sender: empty" },
		{ T_SENDER, "alice@alice.test\r\nBcc: x@y", DSN_FAILED,
		  "sender: control byte 0x0d at offset 16" },
		{ T_SENDER, "alice", DSN_FAILED, "sender: not local@domain" },
		{ T_SENDER, "@alice.test", DSN_FAILED, "sender: not local@domain" },
		{ T_SENDER, "alice@", DSN_FAILED, "sender: not local@domain" },
		{ T_SENDER, "al\xc3" "ice@alice.test", DSN_FAILED,
		  "sender: not UTF-8, or a C1 control, at offset 2" },
		{ T_SENDER, "al\xc2\x85ice@alice.test", DSN_FAILED,
		  "sender: not UTF-8, or a C1 control, at offset 2" },
		{ T_UNIQUE, "", DSN_FAILED, "unique: empty" },
		{ T_UNIQUE, "a/b", DSN_FAILED, "unique: byte 0x2f at offset 1 (only A-Z a-z 0-9 . -)" },
		{ T_UNIQUE, "a_b", DSN_FAILED, "unique: byte 0x5f at offset 1 (only A-Z a-z 0-9 . -)" },
		{ T_UNIQUE, "a=b", DSN_FAILED, "unique: byte 0x3d at offset 1 (only A-Z a-z 0-9 . -)" },
		{ T_UNIQUE, ".a", DSN_FAILED, "unique: a dot at its start, its end or after a dot" },
		{ T_UNIQUE, "a.", DSN_FAILED, "unique: a dot at its start, its end or after a dot" },
		{ T_UNIQUE, "a..b", DSN_FAILED, "unique: a dot at its start, its end or after a dot" },
		{ T_ADDRESS, "", DSN_FAILED, "rcpts[1].address: empty" },
		{ T_ADDRESS, "bob@peer.test\n", DSN_FAILED, "rcpts[1].address: control byte 0x0a at offset 13" },
		{ T_ADDRESS, "bob\t@peer.test", DSN_FAILED, "rcpts[1].address: control byte 0x09 at offset 3" },
		{ T_ADDRESS, "bob\x7f@peer.test", DSN_FAILED, "rcpts[1].address: control byte 0x7f at offset 3" },
		{ T_ADDRESS, "bob", DSN_FAILED, "rcpts[1].address: not local@domain" },
		{ T_ADDRESS, "b\xed\xa0\x80@peer.test", DSN_FAILED,
		  "rcpts[1].address: not UTF-8, or a C1 control, at offset 1" },
		{ T_STATUS, "5.1", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "5.1.1.1", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "5.1234.1", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "3.1.1", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "5.1.1 ", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "5..1", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "550", DSN_FAILED, "rcpts[1].status: not a status code (class.subject.detail)" },
		{ T_STATUS, "2.0.0", DSN_FAILED, "rcpts[1].status: 2.0.0 is success, the action failed" },
		{ T_STATUS, "5.1.1", DSN_DELAYED, "rcpts[1].status: 5.1.1 with the action delayed (needs class 4)" },
		{ T_STATUS, "2.0.0", DSN_DELAYED, "rcpts[1].status: 2.0.0 with the action delayed (needs class 4)" },
		{ T_REMOTE, "", DSN_FAILED, "rcpts[1].remote_mta: empty" },
		{ T_REMOTE, "mx..peer.test", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_REMOTE, "mx.peer.test\r\n", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_REMOTE, "[2001:db8::1]", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_REMOTE, "[IPv6:192.0.2.1]", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_REMOTE, "[192.0.2.1:25]", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_REMOTE, "[192.0.2.300]", DSN_FAILED,
		  "rcpts[1].remote_mta: not a host name or an address literal" },
		{ T_DIAG, "550 5.1.1 no\r\nBcc: x", DSN_FAILED, "rcpts[1].diagnostic: control byte 0x0d at offset 12" },
		{ T_DIAG, "550 5.1.1 \xc3\xa4", DSN_FAILED, "rcpts[1].diagnostic: non-ASCII byte 0xc3 at offset 10" },
		{ T_DIAG, "550\t5.1.1", DSN_FAILED, "rcpts[1].diagnostic: control byte 0x09 at offset 3" },
		{ T_REASON, "no MX\n", DSN_FAILED, "rcpts[1].reason: control byte 0x0a at offset 5" },
		{ T_REASON, "kein MX f\xc3\xbcr x", DSN_FAILED, "rcpts[1].reason: non-ASCII byte 0xc3 at offset 9" },
	};
	struct dsn_info in;
	struct dsn_rcpt r[2];
	char err[T_ERR_MAX], want[T_ERR_MAX];
	char *out = (char *)&err;
	size_t len = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_info(&in, &r[0]);
		r[1] = r[0];
		r[1].action = cases[i].action;
		r[1].status = r[1].action == DSN_DELAYED ? "4.4.1" : "5.1.1";
		in.nrcpts = 2;
		switch (cases[i].field) {
		case T_REPORTING: in.reporting_mta = cases[i].value; break;
		case T_SENDER: in.sender = cases[i].value; break;
		case T_UNIQUE: in.unique = cases[i].value; break;
		case T_ADDRESS: r[1].address = cases[i].value; break;
		case T_STATUS: r[1].status = cases[i].value; break;
		case T_REMOTE: r[1].remote_mta = cases[i].value; break;
		case T_DIAG: r[1].diagnostic = cases[i].value; break;
		case T_REASON: r[1].reason = cases[i].value; break;
		}
		err[0] = '\0';
		if (dsn_build(&in, &out, &len, err, sizeof(err)) != -1)
			fail_msg("case %zu (%s) was taken", i, cases[i].err);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].err, err);
		assert_ptr_equal(out, (char *)&err);
		assert_int_equal(len, 12345);
	}

	/* NULLs where a string must be. */
	t_info(&in, &r[0]);
	in.sender = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "sender: empty");
	t_info(&in, &r[0]);
	in.unique = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "unique: empty");
	t_info(&in, &r[0]);
	r[0].address = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts[0].address: empty");
	t_info(&in, &r[0]);
	in.reporting_mta = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "reporting_mta: empty");
	/* The recipients, the action, the header section. */
	t_info(&in, &r[0]);
	in.nrcpts = 0;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "no recipients");
	t_info(&in, &r[0]);
	in.rcpts = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts: NULL with nrcpts 1");
	t_info(&in, &r[0]);
	r[0].action = (enum dsn_action)7;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts[0].action: neither DSN_FAILED nor DSN_DELAYED");
	t_info(&in, &r[0]);
	in.headers = NULL;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "headers: NULL with headers_len %zu", strlen(T_HEADERS));
	assert_string_equal(err, want);
	/* No input, no output; err may be NULL. */
	assert_int_equal(dsn_build(NULL, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "no input, or no place for the output");
	t_info(&in, &r[0]);
	assert_int_equal(dsn_build(&in, NULL, &len, err, sizeof(err)), -1);
	assert_int_equal(dsn_build(&in, &out, NULL, NULL, 0), -1);
	in.nrcpts = 0;
	assert_int_equal(dsn_build(&in, &out, &len, NULL, 0), -1);
	/* A short err is cut, still a string. */
	assert_int_equal(dsn_build(&in, &out, &len, err, 5), -1);
	assert_string_equal(err, "no r");
	assert_ptr_equal(out, (char *)&err);
	assert_int_equal(len, 12345);
}

/* ---- limits --------------------------------------------------------------------------------- */

static void
test_dsn_limits(void **state)
{
	struct dsn_rcpt *many = calloc(DSN_RCPTS_MAX + 1, sizeof(*many));
	char addr[DSN_ADDRESS_MAX + 2], uniq[DSN_UNIQUE_MAX + 2], err[T_ERR_MAX];
	struct dsn_info in;
	struct dsn_rcpt r;
	struct t_dsn d;
	char *out = NULL;
	size_t len;
	const char *g[DSN_RCPTS_MAX + 2];
	size_t glen[DSN_RCPTS_MAX + 2];

	(void)state;
	assert_non_null(many);
	/* DSN_RCPTS_MAX recipients, not one more. */
	t_info(&in, &r);
	for (size_t i = 0; i <= DSN_RCPTS_MAX; i++)
		many[i] = r;
	in.rcpts = many;
	in.nrcpts = DSN_RCPTS_MAX;
	t_build(&in, &d);
	assert_int_equal(t_groups(d.part[1].body, d.part[1].body_len, g, glen, DSN_RCPTS_MAX + 2),
			 DSN_RCPTS_MAX + 1);
	t_free(&d);
	in.nrcpts = DSN_RCPTS_MAX + 1;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "1001 recipients, more than 1000");
	free(many);

	/* Addresses of DSN_ADDRESS_MAX bytes, not one more. */
	t_info(&in, &r);
	memset(addr, 'a', sizeof(addr));
	memcpy(addr + DSN_ADDRESS_MAX - 10, "@peer.test", 11);
	r.address = addr;
	t_build(&in, &d);
	assert_true(t_has(d.part[1].body, d.part[1].body_len, addr));
	t_free(&d);
	memset(addr, 'a', sizeof(addr));
	memcpy(addr + DSN_ADDRESS_MAX - 9, "@peer.test", 11);
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts[0].address: longer than 256 bytes");
	/* In RFC 6533's form an address may grow sixfold: past DSN_ADDRESS_UNITEXT_MAX it is refused. */
	memset(addr, '+', sizeof(addr));
	memcpy(addr, "\xc3\xa4", 2);
	memcpy(addr + DSN_ADDRESS_MAX - 10, "@peer.test", 11);
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts[0].address: longer than 900 bytes in RFC 6533's form");
	memcpy(addr + 140, "@peer.test", 11);
	t_build(&in, &d);
	t_free(&d);

	/* The unique token: DSN_UNIQUE_MAX bytes; the boundary within 70, its line within 78. */
	t_info(&in, &r);
	memset(uniq, 'U', sizeof(uniq));
	uniq[DSN_UNIQUE_MAX] = '\0';
	in.unique = uniq;
	t_build(&in, &d);
	assert_true(strlen(d.boundary) <= 70);
	assert_true(strstr(d.p, "\r\n boundary=") != NULL);
	assert_true(strlen(" boundary=\"\"") + strlen(d.boundary) <= DSN_LINE_MAX);
	t_free(&d);
	uniq[DSN_UNIQUE_MAX] = 'U';
	uniq[DSN_UNIQUE_MAX + 1] = '\0';
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "unique: longer than 56 bytes");

	/* Times: 0 to DSN_TIME_MAX. */
	t_info(&in, &r);
	in.now = DSN_TIME_MAX;
	in.arrival = 951782400;
	r.last_attempt = 0;
	t_build(&in, &d);
	t_expect_field(d.p, t_top_len(&d), "Date", "Fri, 31 Dec 9999 23:59:59 +0000");
	t_expect_field(d.part[1].body, d.part[1].body_len, "Arrival-Date", "Tue, 29 Feb 2000 00:00:00 +0000");
	assert_false(t_has(d.p, d.len, "Last-Attempt-Date"));
	assert_false(t_has(d.p, d.len, "Last attempt"));
	t_free(&d);
	in.now = 0;
	t_build(&in, &d);
	t_expect_field(d.p, t_top_len(&d), "Date", "Thu, 01 Jan 1970 00:00:00 +0000");
	t_free(&d);
	in.now = DSN_TIME_MAX + 1;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "now: 253402300800 is out of range (0 to 253402300799)");
	in.now = T_NOW;
	in.arrival = -1;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "arrival: -1 is out of range (0 to 253402300799)");
	in.arrival = T_ARRIVAL;
	in.retry_until = INT64_MIN;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "retry_until: -9223372036854775808 is out of range (0 to 253402300799)");
	in.retry_until = 0;
	r.last_attempt = INT64_MAX;
	assert_int_equal(dsn_build(&in, &out, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpts[0].last_attempt: 9223372036854775807 is out of range (0 to 253402300799)");
	assert_null(out);

	/* Status codes at their widest; failed may carry class 4 (retries ran out). */
	t_info(&in, &r);
	r.status = "5.123.456";
	t_build(&in, &d);
	t_expect_field(d.part[1].body, d.part[1].body_len, "Status", "5.123.456");
	t_free(&d);
	r.status = "4.4.7";
	t_build(&in, &d);
	t_expect_field(d.part[1].body, d.part[1].body_len, "Status", "4.4.7");
	t_expect_field(d.part[1].body, d.part[1].body_len, "Action", "failed");
	t_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_exact),
		cmocka_unit_test(test_dsn_mime_tree),
		cmocka_unit_test(test_dsn_fields),
		cmocka_unit_test(test_dsn_line_lengths),
		cmocka_unit_test(test_dsn_fold),
		cmocka_unit_test(test_dsn_utf8),
		cmocka_unit_test(test_dsn_headers_cut),
		cmocka_unit_test(test_dsn_boundary),
		cmocka_unit_test(test_dsn_msgid),
		cmocka_unit_test(test_dsn_refused),
		cmocka_unit_test(test_dsn_limits),
	};
	return cmocka_run_group_tests_name("dsn", tests, NULL, NULL);
}
