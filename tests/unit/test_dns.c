/*
 * Unit tests for shared/dns: the record-data decoders as tables of good and
 * bad rdata with the exact reason for each refusal (names with escapes or
 * odd bytes, compression pointers, other label types, lengths at and past
 * each limit), every prefix of a good record refused, and each input read
 * from an exact-size copy so that ASan (make test SAN=1) sees any read past
 * it; the MX host choice (null MX, order, ties shuffled by the random
 * source given, one entry per name, DNS_MX_MAX); the resolver's refusals
 * at start (forward addresses, anchor files, timeouts) and of its
 * arguments; and deadlines, against a UDP socket on 127.0.0.1 that takes
 * queries and never answers, from one thread and from several at once.
 * The lookups themselves, against a real server with DNSSEC, are
 * tests/integration/test_dns.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "addr.h"
#include "dnsname.h"
#include "testutil.h"

/* A byte string and its length, NULs included. */
#define B(s) (const uint8_t *)(s), sizeof(s) - 1

#define T_ERR_MAX 512
#define T_THREADS 8
#define T_TIMEOUT_MS 300

/* A copy of p[0..len) in memory of exactly len bytes (ASan sees reads past it). */
static uint8_t *
t_exact(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	assert_non_null(q);
	if (len > 0)
		memcpy(q, p, len);
	return q;
}

/* ---- MX rdata ----------------------------------------------------------------- */

struct mx_case {
	const uint8_t *bytes;
	size_t len;
	int rc;
	unsigned pref;
	const char *text;	/* the name (rc 0) or the reason (rc -1) */
};

#define T_WHY_SHORT "an MX record shorter than its preference"
#define T_WHY_PAST "the name runs past the record"
#define T_WHY_POINTER "a compression pointer in the name"
#define T_WHY_TYPE "an unknown label type in the name"
#define T_WHY_BYTE "the name is not a host name (a byte other than a letter, digit or hyphen)"
#define T_WHY_HOST "the name is not a host name"
#define T_WHY_AFTER "bytes after the MX record's name"

static const struct mx_case mx_cases[] = {
	{ B("\x00\x0a\x02mx\x07" "example\x04test\x00"), 0, 10, "mx.example.test" },
	{ B("\x00\x05\x02MX\x07" "Example\x04TEST\x00"), 0, 5, "mx.example.test" },
	{ B("\x00\x00\x00"), 0, 0, "" },		/* the root: RFC 7505's null MX */
	{ B("\x00\x07\x00"), 0, 7, "" },		/* the root at another preference (the caller decides) */
	{ B("\xff\xff\x01" "a\x00"), 0, 65535, "a" },
	{ B("\x00\x01\x05" "a-b-c\x02" "1x\x00"), 0, 1, "a-b-c.1x" },
	{ B(""), -1, 0, T_WHY_SHORT },
	{ B("\x00"), -1, 0, T_WHY_SHORT },
	{ B("\x00\x0a"), -1, 0, T_WHY_PAST },
	{ B("\x00\x0a\x02mx"), -1, 0, T_WHY_PAST },	/* no root label */
	{ B("\x00\x0a\x05mx\x00"), -1, 0, T_WHY_PAST },	/* a label longer than what is left */
	{ B("\x00\x0a\xc0\x0c"), -1, 0, T_WHY_POINTER },
	{ B("\x00\x0a\x02mx\xc0\x0c"), -1, 0, T_WHY_POINTER },
	{ B("\x00\x0a\xff\xff"), -1, 0, T_WHY_POINTER },
	{ B("\x00\x0a\x41" "a\x00"), -1, 0, T_WHY_TYPE },	/* 0x40: extended label (RFC 6891) */
	{ B("\x00\x0a\x80\x00"), -1, 0, T_WHY_TYPE },
	{ B("\x00\x0a\x03" "a.b\x04test\x00"), -1, 0, T_WHY_BYTE },	/* a dot inside a label */
	{ B("\x00\x0a\x03" "a b\x00"), -1, 0, T_WHY_BYTE },
	{ B("\x00\x0a\x03" "a\\b\x00"), -1, 0, T_WHY_BYTE },
	{ B("\x00\x0a\x03" "a\x00" "b\x00"), -1, 0, T_WHY_BYTE },
	{ B("\x00\x0a\x03" "a_b\x00"), -1, 0, T_WHY_BYTE },
	{ B("\x00\x0a\x02\xc3\xa9\x00"), -1, 0, T_WHY_BYTE },	/* UTF-8, not an A-label */
	{ B("\x00\x0a\x01\x7f\x00"), -1, 0, T_WHY_BYTE },
	{ B("\x00\x0a\x02-a\x00"), -1, 0, T_WHY_HOST },
	{ B("\x00\x0a\x02" "a-\x04test\x00"), -1, 0, T_WHY_HOST },
	{ B("\x00\x0a\x01" "a\x00\x00"), -1, 0, T_WHY_AFTER },
	{ B("\x00\x00\x00\x01" "a\x00"), -1, 0, T_WHY_AFTER },
};

static void
t_mx_case(const struct mx_case *c)
{
	uint8_t *p = t_exact(c->bytes, c->len);
	char name[DNSNAME_MAX + 1];
	const char *why = NULL;
	unsigned pref = 12345;
	int rc = dns_rdata_mx(p, c->len, &pref, name, sizeof(name), &why);

	assert_int_equal(rc, c->rc);
	if (rc == 0) {
		assert_int_equal(pref, c->pref);
		assert_string_equal(name, c->text);
	} else {
		assert_non_null(why);
		assert_string_equal(why, c->text);
		assert_int_equal(pref, 12345);
	}
	free(p);
}

static void
test_dns_rdata_mx_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mx_cases) / sizeof(mx_cases[0]); i++) {
		print_message("mx case %zu\n", i);
		t_mx_case(&mx_cases[i]);
	}
}

/* Every proper prefix of a good record is refused, and so is the record with one byte more. */
static void
test_dns_rdata_mx_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mx_cases) / sizeof(mx_cases[0]); i++) {
		const struct mx_case *c = &mx_cases[i];
		char name[DNSNAME_MAX + 1];
		const char *why;
		unsigned pref;
		uint8_t *p;

		if (c->rc != 0)
			continue;
		for (size_t k = 0; k < c->len; k++) {
			p = t_exact(c->bytes, k);
			assert_int_equal(dns_rdata_mx(p, k, &pref, name, sizeof(name), &why), -1);
			free(p);
		}
		p = malloc(c->len + 1);
		assert_non_null(p);
		memcpy(p, c->bytes, c->len);
		p[c->len] = 'x';
		assert_int_equal(dns_rdata_mx(p, c->len + 1, &pref, name, sizeof(name), &why), -1);
		assert_string_equal(why, T_WHY_AFTER);
		free(p);
	}
}

/* MX rdata for pref and labels of the given lengths (all 'a' to 'z' in turn); returns its length. */
static size_t
t_mx_build(uint8_t *out, size_t cap, unsigned pref, const size_t *labels, size_t nlabels)
{
	size_t at = 2;

	out[0] = (uint8_t)(pref >> 8);
	out[1] = (uint8_t)pref;
	for (size_t i = 0; i < nlabels; i++) {
		assert_true(at + 1 + labels[i] < cap);
		out[at++] = (uint8_t)labels[i];
		for (size_t k = 0; k < labels[i]; k++)
			out[at++] = (uint8_t)('a' + (k + i) % 26);
	}
	assert_true(at < cap);
	out[at++] = 0;
	return at;
}

/* 255 bytes on the wire (253 in text) is the longest name; one more byte is refused. */
static void
test_dns_rdata_mx_name_max(void **state)
{
	static const size_t longest[] = { 63, 63, 63, 61 }, longer[] = { 63, 63, 63, 62 },
			    label64[] = { 64 };
	uint8_t buf[600], *p;
	char name[DNSNAME_MAX + 1];
	const char *why = NULL;
	unsigned pref;
	size_t len;

	(void)state;
	len = t_mx_build(buf, sizeof(buf), 1, longest, 4);
	assert_int_equal(len, 2 + 255);
	p = t_exact(buf, len);
	assert_int_equal(dns_rdata_mx(p, len, &pref, name, sizeof(name), &why), 0);
	assert_int_equal(strlen(name), DNSNAME_MAX);
	assert_int_equal(dnsname_check(name, strlen(name), 0), 0);
	/* The same name does not fit a smaller buffer. */
	assert_int_equal(dns_rdata_mx(p, len, &pref, name, DNSNAME_MAX, &why), -1);
	assert_string_equal(why, "the name is too long");
	assert_int_equal(dns_rdata_mx(p, len, &pref, name, 0, &why), -1);
	free(p);

	len = t_mx_build(buf, sizeof(buf), 1, longer, 4);
	p = t_exact(buf, len);
	assert_int_equal(dns_rdata_mx(p, len, &pref, name, sizeof(name), &why), -1);
	assert_string_equal(why, "the name is longer than 255 bytes");
	free(p);

	/* A 64-byte label's length byte is 0x40: another label type, not a long label. */
	len = t_mx_build(buf, sizeof(buf), 1, label64, 1);
	p = t_exact(buf, len);
	assert_int_equal(dns_rdata_mx(p, len, &pref, name, sizeof(name), &why), -1);
	assert_string_equal(why, T_WHY_TYPE);
	free(p);
}

/* ---- A, AAAA ------------------------------------------------------------------ */

static void
test_dns_rdata_addr(void **state)
{
	static const uint8_t v4[5] = { 198, 51, 100, 25, 9 };
	static const uint8_t v6[17] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25, 9 };
	char text[ADDR_TEXT_MAX];
	const char *why = NULL;
	struct addr a;
	uint8_t *p;

	(void)state;
	p = t_exact(v4, 4);
	assert_int_equal(dns_rdata_addr(p, 4, AF_INET, &a, &why), 0);
	assert_string_equal(addr_format(&a, text, sizeof(text)), "198.51.100.25");
	assert_int_equal(addr_family(&a), AF_INET);
	assert_int_equal(addr_port(&a), 0);
	assert_int_equal(dns_rdata_addr(p, 3, AF_INET, &a, &why), -1);
	assert_string_equal(why, "an A record that is not 4 bytes");
	assert_int_equal(dns_rdata_addr(p, 4, AF_INET6, &a, &why), -1);
	assert_string_equal(why, "an AAAA record that is not 16 bytes");
	free(p);
	p = t_exact(v4, 5);
	assert_int_equal(dns_rdata_addr(p, 5, AF_INET, &a, &why), -1);
	free(p);

	p = t_exact(v6, 16);
	assert_int_equal(dns_rdata_addr(p, 16, AF_INET6, &a, &why), 0);
	assert_string_equal(addr_format(&a, text, sizeof(text)), "2001:db8::25");
	assert_int_equal(addr_port(&a), 0);
	assert_int_equal(dns_rdata_addr(p, 15, AF_INET6, &a, &why), -1);
	assert_int_equal(dns_rdata_addr(p, 16, AF_INET, &a, &why), -1);
	assert_int_equal(dns_rdata_addr(p, 16, AF_UNIX, &a, &why), -1);
	assert_string_equal(why, "not an address family");
	free(p);
	p = t_exact(v6, 17);
	assert_int_equal(dns_rdata_addr(p, 17, AF_INET6, &a, &why), -1);
	free(p);
	assert_int_equal(dns_rdata_addr(NULL, 0, AF_INET, &a, &why), -1);
}

/* ---- TLSA ----------------------------------------------------------------------- */

static void
t_tlsa(uint8_t usage, uint8_t selector, uint8_t mtype, size_t dlen, int rc, const char *why_want)
{
	uint8_t buf[3 + 300], *p;
	struct dns_tlsa_rr rr;
	const char *why = NULL;

	assert_true(dlen <= 300);
	buf[0] = usage;
	buf[1] = selector;
	buf[2] = mtype;
	for (size_t i = 0; i < dlen; i++)
		buf[3 + i] = (uint8_t)(i * 7 + 1);
	p = t_exact(buf, 3 + dlen);
	assert_int_equal(dns_rdata_tlsa(p, 3 + dlen, &rr, &why), rc);
	if (rc == 0) {
		assert_int_equal(rr.usage, usage);
		assert_int_equal(rr.selector, selector);
		assert_int_equal(rr.mtype, mtype);
		assert_int_equal(rr.len, dlen);
		assert_memory_equal(rr.data, buf + 3, dlen);
	} else {
		assert_string_equal(why, why_want);
	}
	free(p);
}

static void
test_dns_rdata_txt(void **state)
{
	struct dns_txt_rr rr;
	const char *why = NULL;
	uint8_t big[2 * 256 * 5];
	size_t n = 0;

	(void)state;
	assert_int_equal(dns_rdata_txt(B("\x0e" "v=STSv1; id=1;"), &rr, &why), 0);
	assert_int_equal(rr.len, 14);
	assert_memory_equal(rr.data, "v=STSv1; id=1;", 14);
	/* Several strings are joined with nothing between them (RFC 7208 3.3). */
	assert_int_equal(dns_rdata_txt(B("\x03" "v=s" "\x04" "pf1 "), &rr, &why), 0);
	assert_int_equal(rr.len, 7);
	assert_memory_equal(rr.data, "v=spf1 ", 7);
	/* Any byte, NUL included, is kept as it is. */
	assert_int_equal(dns_rdata_txt(B("\x02\x00\xff"), &rr, &why), 0);
	assert_int_equal(rr.len, 2);
	assert_int_equal(dns_rdata_txt(B("\x05" "abc"), &rr, &why), -1);
	assert_string_equal(why, "a TXT string longer than its record");
	assert_int_equal(dns_rdata_txt(NULL, 0, &rr, &why), -1);
	assert_string_equal(why, "a TXT record without a string");
	/* 1024 bytes fit; one more does not. */
	for (int i = 0; i < 4; i++) {
		big[n++] = 255;
		memset(big + n, 'a', 255);
		n += 255;
	}
	big[n++] = 4;
	memset(big + n, 'b', 4);
	n += 4;
	assert_int_equal(dns_rdata_txt(big, n, &rr, &why), 0);
	assert_int_equal(rr.len, DNS_TXT_LEN_MAX);
	big[n - 5] = 5;
	big[n++] = 'b';
	assert_int_equal(dns_rdata_txt(big, n, &rr, &why), -1);
	assert_string_equal(why, "a TXT record longer than 1024 bytes");
}

static void
test_dns_rdata_tlsa(void **state)
{
	static const char *const none = "a TLSA record without association data";
	static const char *const big = "a TLSA record with more than 64 bytes of data (a whole certificate or key)";
	static const char *const digest = "a TLSA digest of the wrong length for its matching type";
	const char *why = NULL;
	struct dns_tlsa_rr rr;

	(void)state;
	t_tlsa(3, 1, 1, 32, 0, NULL);		/* DANE-EE SPKI SHA2-256: RFC 7672's usual */
	t_tlsa(2, 0, 2, 64, 0, NULL);		/* DANE-TA Cert SHA2-512 */
	t_tlsa(3, 1, 0, 64, 0, NULL);		/* a whole key that fits */
	t_tlsa(3, 1, 0, 1, 0, NULL);
	t_tlsa(255, 255, 7, 5, 0, NULL);	/* unknown values are the caller's to judge */
	t_tlsa(3, 1, 1, 31, -1, digest);
	t_tlsa(3, 1, 1, 33, -1, digest);
	t_tlsa(3, 1, 2, 32, -1, digest);
	t_tlsa(3, 1, 2, 63, -1, digest);
	t_tlsa(3, 1, 0, 65, -1, big);
	t_tlsa(3, 0, 0, 294, -1, big);		/* a certificate */
	t_tlsa(3, 1, 2, 65, -1, big);
	t_tlsa(3, 1, 1, 0, -1, none);
	assert_int_equal(dns_rdata_tlsa(B("\x03\x01"), &rr, &why), -1);
	assert_string_equal(why, none);
	assert_int_equal(dns_rdata_tlsa(NULL, 0, &rr, &why), -1);
}

/* ---- the MX host choice ---------------------------------------------------------- */

/* The random source: successive values from t_keys (cycled); counts calls. */
static const uint32_t *t_keys;
static size_t t_nkeys, t_calls;

static uint32_t
t_uniform(uint32_t upper)
{
	uint32_t v = t_keys[t_calls++ % t_nkeys];

	assert_true(upper > 0);
	return v % upper;
}

static void
t_uniform_set(const uint32_t *keys, size_t n)
{
	t_keys = keys;
	t_nkeys = n;
	t_calls = 0;
}

/* n records given as (bytes, length) pairs, into libunbound's shapes. */
struct t_records {
	char *data[64];
	int len[64];
	size_t n;
};

static void
t_records_add(struct t_records *rs, const uint8_t *p, size_t len)
{
	assert_true(rs->n < 64);
	rs->data[rs->n] = (char *)t_exact(p, len);
	rs->len[rs->n] = (int)len;
	rs->n++;
}

/* MX rdata of pref and a name in text (built through labels). */
static void
t_records_mx(struct t_records *rs, unsigned pref, const char *name)
{
	uint8_t buf[300];
	size_t at = 2, n = strlen(name);

	buf[0] = (uint8_t)(pref >> 8);
	buf[1] = (uint8_t)pref;
	for (size_t i = 0; i < n;) {
		size_t k = i;

		while (k < n && name[k] != '.')
			k++;
		buf[at++] = (uint8_t)(k - i);
		memcpy(buf + at, name + i, k - i);
		at += k - i;
		i = k + 1;
	}
	buf[at++] = 0;
	t_records_add(rs, buf, at);
}

static void
t_records_free(struct t_records *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->data[i]);
	rs->n = 0;
}

static int
t_mx_records(struct t_records *rs, struct dns_mx *r)
{
	memset(r, 0x5a, sizeof(*r));
	return dns_mx_records(rs->data, rs->len, rs->n, t_uniform, r);
}

static void
test_dns_mx_records_null(void **state)
{
	static const uint32_t keys[] = { 1 };
	struct t_records rs = { .n = 0 };
	struct dns_mx *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	t_uniform_set(keys, 1);
	t_records_add(&rs, B("\x00\x00\x00"));
	assert_int_equal(t_mx_records(&rs, r), 0);
	assert_int_equal(r->null_mx, 1);
	assert_int_equal(r->nhosts, 0);
	assert_string_equal(r->err, "");
	t_records_free(&rs);

	/* "." at another preference is no null MX, and names no host. */
	t_records_add(&rs, B("\x00\x0a\x00"));
	assert_int_equal(t_mx_records(&rs, r), -1);
	assert_int_equal(r->null_mx, 0);
	assert_int_equal(r->nhosts, 0);
	assert_string_equal(r->err, "1 of 1 MX records skipped: a null MX whose preference is not 0; "
				    "no MX record names a usable host");
	t_records_free(&rs);

	/* A null MX beside other records: those are used, the "." is skipped. */
	t_records_add(&rs, B("\x00\x00\x00"));
	t_records_mx(&rs, 20, "mx.example.test");
	assert_int_equal(t_mx_records(&rs, r), 0);
	assert_int_equal(r->null_mx, 0);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "mx.example.test");
	assert_int_equal(r->hosts[0].preference, 20);
	assert_string_equal(r->err, "1 of 2 MX records skipped: a null MX (\".\") beside other MX records");
	t_records_free(&rs);

	/* No records at all. */
	assert_int_equal(t_mx_records(&rs, r), -1);
	assert_string_equal(r->err, "no MX records");
	free(r);
}

static void
test_dns_mx_records_order(void **state)
{
	static const uint32_t keys[] = { 7 };
	struct t_records rs = { .n = 0 };
	struct dns_mx *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	t_uniform_set(keys, 1);
	t_records_mx(&rs, 30, "c.example.test");
	t_records_mx(&rs, 10, "A.Example.Test");
	t_records_mx(&rs, 20, "b.example.test");
	t_records_mx(&rs, 40, "a.example.test");	/* a again, worse: the 10 stays */
	t_records_mx(&rs, 5, "b.example.test");	/* b again, better: 5 replaces 20 */
	assert_int_equal(t_mx_records(&rs, r), 0);
	assert_int_equal(r->nhosts, 3);
	assert_string_equal(r->hosts[0].name, "b.example.test");
	assert_int_equal(r->hosts[0].preference, 5);
	assert_string_equal(r->hosts[1].name, "a.example.test");
	assert_int_equal(r->hosts[1].preference, 10);
	assert_string_equal(r->hosts[2].name, "c.example.test");
	assert_int_equal(r->hosts[2].preference, 30);
	for (size_t i = 0; i < r->nhosts; i++) {
		assert_int_equal(r->hosts[i].naddrs, 0);
		assert_int_equal(r->hosts[i].status, DNS_NODATA);
		assert_int_equal(r->hosts[i].secure, 0);
	}
	assert_string_equal(r->err, "");
	assert_int_equal(t_calls, 5);
	t_records_free(&rs);
	free(r);
}

/* Equal preferences come in the order of the random keys drawn for them. */
static void
test_dns_mx_records_ties(void **state)
{
	static const uint32_t up[] = { 1, 2, 3, 4 }, down[] = { 4, 3, 2, 1 }, mixed[] = { 3, 1, 4, 2 };
	static const struct {
		const uint32_t *keys;
		const char *order[4];
	} cases[] = {
		{ up, { "w.test", "x.test", "y.test", "z.test" } },
		{ down, { "z.test", "y.test", "x.test", "w.test" } },
		{ mixed, { "x.test", "z.test", "w.test", "y.test" } },
	};
	struct dns_mx *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct t_records rs = { .n = 0 };

		t_uniform_set(cases[c].keys, 4);
		t_records_mx(&rs, 10, "w.test");
		t_records_mx(&rs, 10, "x.test");
		t_records_mx(&rs, 10, "y.test");
		t_records_mx(&rs, 10, "z.test");
		t_records_mx(&rs, 0, "first.test");	/* key 1, 2, 4 or 3 again: alone at 0 anyway */
		assert_int_equal(t_mx_records(&rs, r), 0);
		assert_int_equal(r->nhosts, 5);
		assert_string_equal(r->hosts[0].name, "first.test");
		for (size_t i = 0; i < 4; i++)
			assert_string_equal(r->hosts[1 + i].name, cases[c].order[i]);
		t_records_free(&rs);
	}
	free(r);
}

/* More hosts than DNS_MX_MAX: the lowest preferences are kept, whatever the order given. */
static void
test_dns_mx_records_max(void **state)
{
	static const uint32_t keys[] = { 9, 2, 7, 4, 1 };
	struct t_records rs = { .n = 0 };
	struct dns_mx *r = malloc(sizeof(*r));
	char name[32];
	char err[DNS_ERR_MAX];

	(void)state;
	assert_non_null(r);
	t_uniform_set(keys, 5);
	for (unsigned i = DNS_MX_MAX + 4; i >= 1; i--) {
		snprintf(name, sizeof(name), "mx%u.example.test", i);
		t_records_mx(&rs, i, name);
	}
	assert_int_equal(t_mx_records(&rs, r), 0);
	assert_int_equal(r->nhosts, DNS_MX_MAX);
	for (unsigned i = 0; i < DNS_MX_MAX; i++) {
		snprintf(name, sizeof(name), "mx%u.example.test", i + 1);
		assert_string_equal(r->hosts[i].name, name);
		assert_int_equal(r->hosts[i].preference, i + 1);
	}
	snprintf(err, sizeof(err), "4 MX hosts past the %d kept", DNS_MX_MAX);
	assert_string_equal(r->err, err);
	t_records_free(&rs);
	free(r);
}

static void
test_dns_mx_records_skipped(void **state)
{
	static const uint32_t keys[] = { 1 };
	static const int negative = -1;
	struct t_records rs = { .n = 0 };
	struct dns_mx *r = malloc(sizeof(*r));
	char *one[1] = { NULL };

	(void)state;
	assert_non_null(r);
	t_uniform_set(keys, 1);
	t_records_add(&rs, B("\x00\x0a\xc0\x0c"));
	t_records_mx(&rs, 20, "mx.example.test");
	t_records_add(&rs, B("\x00\x05\x03" "a_b\x00"));
	assert_int_equal(t_mx_records(&rs, r), 0);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "mx.example.test");
	assert_string_equal(r->err, "2 of 3 MX records skipped: " T_WHY_POINTER);
	t_records_free(&rs);

	t_records_add(&rs, B("\x00\x0a\xc0\x0c"));
	t_records_add(&rs, B("\x00"));
	assert_int_equal(t_mx_records(&rs, r), -1);
	assert_int_equal(r->nhosts, 0);
	assert_int_equal(r->null_mx, 0);
	assert_string_equal(r->err, "2 of 2 MX records skipped: " T_WHY_POINTER
				    "; no MX record names a usable host");
	t_records_free(&rs);

	/* A negative length (libunbound's len is an int) is not read at all. */
	memset(r, 0, sizeof(*r));
	assert_int_equal(dns_mx_records(one, &negative, 1, t_uniform, r), -1);
	assert_string_equal(r->err, "1 of 1 MX records skipped: a negative length; "
				    "no MX record names a usable host");
	free(r);
}

static void
test_dns_status_name(void **state)
{
	(void)state;
	assert_string_equal(dns_status_name(DNS_OK), "OK");
	assert_string_equal(dns_status_name(DNS_NXDOMAIN), "NXDOMAIN");
	assert_string_equal(dns_status_name(DNS_NODATA), "NODATA");
	assert_string_equal(dns_status_name(DNS_TEMPFAIL), "TEMPFAIL");
	assert_string_equal(dns_status_name(DNS_BOGUS), "BOGUS");
	assert_string_equal(dns_status_name((enum dns_status)99), "?");
}

/* ---- the resolver: start-up and arguments (no query leaves) --------------------- */

/* The .test bench's kind of anchor: a DS record in zone-file syntax. */
#define T_ANCHOR "peer.test. 3600 IN DS 2371 13 2 " \
	"0011223344556677889900112233445566778899001122334455667788990011\n"

#define T_BAD_ANCHOR "peer.test. IN NOTATYPE 1 2 3\n"

static void
test_dns_new_refusals(void **state)
{
	struct testutil_tmpdir *td = *state;
	static const char *const bad_forwards[] = {
		"", "1.2.3", "192.0.2.53@", "192.0.2.53@0", "192.0.2.53@65536", "192.0.2.53@53x",
		"192.0.2.53@-1", "ns.example.test", "192.0.2.53:53", "@53", "192.0.2.53@53@53",
	};
	struct dns_conf conf = { 0 };
	char err[T_ERR_MAX];
	struct dns *d;

	assert_int_equal(testutil_write_file(td->path, T_ANCHOR, strlen(T_ANCHOR), 0644), 0);
	conf.trust_anchor_file = td->path;
	for (size_t i = 0; i < sizeof(bad_forwards) / sizeof(bad_forwards[0]); i++) {
		conf.forward = bad_forwards[i];
		err[0] = '\0';
		assert_null(dns_new(&conf, err, sizeof(err)));
		assert_non_null(strstr(err, "forward: not an address or ADDR@PORT"));
	}
	conf.forward = "192.0.2.53";
	conf.timeout_ms = -1;
	assert_null(dns_new(&conf, err, sizeof(err)));
	assert_non_null(strstr(err, "timeout"));
	conf.timeout_ms = DNS_TIMEOUT_MAX + 1;
	assert_null(dns_new(&conf, err, sizeof(err)));
	conf.timeout_ms = DNS_TIMEOUT_MAX;
	d = dns_new(&conf, err, sizeof(err));
	assert_non_null(d);
	dns_free(&d);
	assert_null(d);

	/* A file that is not there, and one libunbound cannot read as records. */
	conf.timeout_ms = 0;
	conf.trust_anchor_file = "/nonexistent/homeport-anchor.key";
	assert_null(dns_new(&conf, err, sizeof(err)));
	assert_string_equal(err, "trust anchor file /nonexistent/homeport-anchor.key: No such file or directory");
	assert_int_equal(testutil_write_file(td->path, T_BAD_ANCHOR, strlen(T_BAD_ANCHOR), 0644), 0);
	conf.trust_anchor_file = td->path;
	assert_null(dns_new(&conf, err, sizeof(err)));
	assert_non_null(strstr(err, "libunbound could not start with the trust anchors of"));
	assert_non_null(strstr(err, td->path));
}

static void
test_dns_new_good(void **state)
{
	struct testutil_tmpdir *td = *state;
	static const char *const forwards[] = {
		"192.0.2.53", "192.0.2.53@5353", "2001:db8::53", "2001:db8::53@53", NULL,
	};
	struct dns_conf conf = { 0 };
	char err[T_ERR_MAX];
	struct dns *d;

	assert_int_equal(testutil_write_file(td->path, T_ANCHOR, strlen(T_ANCHOR), 0644), 0);
	for (size_t i = 0; i < sizeof(forwards) / sizeof(forwards[0]); i++) {
		conf.forward = forwards[i];
		conf.trust_anchor_file = td->path;
		d = dns_new(&conf, err, sizeof(err));
		assert_non_null(d);
		dns_free(&d);
		assert_null(d);
	}
	/* The root's anchor from Debian's dns-root-data, the default. */
	conf.forward = NULL;
	conf.trust_anchor_file = NULL;
	d = dns_new(&conf, err, sizeof(err));
	if (d == NULL)
		fail_msg("%s (make deps installs dns-root-data)", err);
	dns_free(&d);
	dns_free(&d);
	dns_free(NULL);
}

static void
test_dns_bad_arguments(void **state)
{
	struct testutil_tmpdir *td = *state;
	static const char *const bad_names[] = {
		"", "a..b", "exa mple.test", "-a.test", "a-.test", "x.test.", ".x.test", "a_b.test",
		"\xc3\xa9.test", "[192.0.2.1]", "192.0.2.1/24",
	};
	struct dns_conf conf = { .forward = "192.0.2.53" };
	struct dns_tlsa *t = malloc(sizeof(*t));
	struct dns_mx *r = malloc(sizeof(*r));
	char err[T_ERR_MAX], longname[DNSNAME_MAX + 2];
	struct dns *d;

	assert_non_null(t);
	assert_non_null(r);
	assert_int_equal(testutil_write_file(td->path, T_ANCHOR, strlen(T_ANCHOR), 0644), 0);
	conf.trust_anchor_file = td->path;
	d = dns_new(&conf, err, sizeof(err));
	assert_non_null(d);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(dns_mx(d, bad_names[i], r), -1);
		assert_string_equal(r->err, "the mail domain is not a host name");
		assert_int_equal(r->status, DNS_TEMPFAIL);
		assert_int_equal(r->nhosts, 0);
		assert_int_equal(dns_tlsa(d, bad_names[i], 25, t), -1);
		assert_string_equal(t->err, "the host is not a host name");
	}
	assert_int_equal(dns_mx(d, NULL, r), -1);
	assert_int_equal(dns_tlsa(d, "mx.example.test", 0, t), -1);
	assert_string_equal(t->err, "port 0");

	/* 254 bytes are no host name; _25._tcp. in front of 250 does not fit in 253. */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < DNSNAME_MAX; i += 64)
		longname[i] = '.';
	longname[DNSNAME_MAX + 1] = '\0';
	assert_int_equal(dns_mx(d, longname, r), -1);
	longname[250] = '\0';
	assert_int_equal(dnsname_check(longname, 250, 0), 0);
	assert_int_equal(dns_tlsa(d, longname, 25, t), -1);
	assert_string_equal(t->err, "the TLSA name is longer than 253 bytes");
	dns_free(&d);
	free(t);
	free(r);
}

/* ---- deadlines: a server that takes queries and never answers -------------------- */

struct t_silent {
	int fd;
	uint16_t port;
};

/* A UDP socket on 127.0.0.1 that nobody reads: queries arrive and go unanswered. */
static void
t_silent_open(struct t_silent *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
}

static struct dns *
t_silent_dns(const struct testutil_tmpdir *td, const struct t_silent *s)
{
	struct dns_conf conf = { .trust_anchor_file = td->path, .timeout_ms = T_TIMEOUT_MS };
	char fwd[64], err[T_ERR_MAX];
	struct dns *d;

	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", (unsigned)s->port);
	conf.forward = fwd;
	assert_int_equal(testutil_write_file(td->path, T_ANCHOR, strlen(T_ANCHOR), 0644), 0);
	d = dns_new(&conf, err, sizeof(err));
	assert_non_null(d);
	return d;
}

static int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Something arrived on the silent socket: the queries really went out. */
static int
t_silent_got_queries(const struct t_silent *s)
{
	uint8_t buf[512];

	return recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
}

static void
test_dns_timeout(void **state)
{
	struct testutil_tmpdir *td = *state;
	struct dns_tlsa *t = malloc(sizeof(*t));
	struct dns_mx *r = malloc(sizeof(*r));
	char want[DNS_ERR_MAX];
	struct t_silent s;
	struct dns *d;
	int64_t t0, took;

	assert_non_null(t);
	assert_non_null(r);
	t_silent_open(&s);
	d = t_silent_dns(td, &s);

	t0 = t_now_ms();
	assert_int_equal(dns_mx(d, "peer.test", r), 0);
	took = t_now_ms() - t0;
	assert_int_equal(r->status, DNS_TEMPFAIL);
	assert_int_equal(r->secure, 0);
	assert_int_equal(r->nhosts, 0);
	snprintf(want, sizeof(want), "peer.test MX: no answer within %d ms", T_TIMEOUT_MS);
	assert_string_equal(r->err, want);
	/* Not before the deadline, and not much after it (libunbound would go on for seconds). */
	assert_true(took >= T_TIMEOUT_MS - 5);
	assert_true(took < T_TIMEOUT_MS + 2000);
	assert_true(t_silent_got_queries(&s));

	/* Again on the same resolver: the cancelled query does not get in the way. */
	assert_int_equal(dns_tlsa(d, "mx.peer.test", 25, t), 0);
	assert_int_equal(t->status, DNS_TEMPFAIL);
	snprintf(want, sizeof(want), "_25._tcp.mx.peer.test TLSA: no answer within %d ms", T_TIMEOUT_MS);
	assert_string_equal(t->err, want);
	assert_int_equal(t->n, 0);

	/* Freed with libunbound still trying the cancelled queries. */
	dns_free(&d);
	close(s.fd);
	free(t);
	free(r);
}

struct t_job {
	struct dns *d;
	char domain[64];
	struct dns_mx r;
	int rc;
};

static void *
t_job_run(void *arg)
{
	struct t_job *j = arg;

	j->rc = dns_mx(j->d, j->domain, &j->r);
	return NULL;
}

/* Several threads at once on one resolver: each gets its own answer (here: none) by its deadline. */
static void
test_dns_timeout_threads(void **state)
{
	struct testutil_tmpdir *td = *state;
	struct t_job *jobs = calloc(T_THREADS, sizeof(*jobs));
	pthread_t threads[T_THREADS];
	char want[DNS_ERR_MAX];
	struct t_silent s;
	struct dns *d;
	int64_t t0, took;

	assert_non_null(jobs);
	t_silent_open(&s);
	d = t_silent_dns(td, &s);
	t0 = t_now_ms();
	for (int i = 0; i < T_THREADS; i++) {
		jobs[i].d = d;
		snprintf(jobs[i].domain, sizeof(jobs[i].domain), "d%d.peer.test", i);
		assert_int_equal(pthread_create(&threads[i], NULL, t_job_run, &jobs[i]), 0);
	}
	for (int i = 0; i < T_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	took = t_now_ms() - t0;
	for (int i = 0; i < T_THREADS; i++) {
		assert_int_equal(jobs[i].rc, 0);
		assert_int_equal(jobs[i].r.status, DNS_TEMPFAIL);
		snprintf(want, sizeof(want), "%s MX: no answer within %d ms", jobs[i].domain, T_TIMEOUT_MS);
		assert_string_equal(jobs[i].r.err, want);
	}
	/* They waited side by side, not one after the other. */
	assert_true(took < (int64_t)T_THREADS * T_TIMEOUT_MS);
	dns_free(&d);
	close(s.fd);
	free(jobs);
}

static int
t_setup(void **state)
{
	*state = testutil_tmpdir_new("dns", "anchor.key");
	return *state == NULL ? -1 : 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, testutil_tmpdir_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_rdata_mx_table),
		cmocka_unit_test(test_dns_rdata_mx_prefixes),
		cmocka_unit_test(test_dns_rdata_mx_name_max),
		cmocka_unit_test(test_dns_rdata_addr),
		cmocka_unit_test(test_dns_rdata_tlsa),
		cmocka_unit_test(test_dns_rdata_txt),
		cmocka_unit_test(test_dns_mx_records_null),
		cmocka_unit_test(test_dns_mx_records_order),
		cmocka_unit_test(test_dns_mx_records_ties),
		cmocka_unit_test(test_dns_mx_records_max),
		cmocka_unit_test(test_dns_mx_records_skipped),
		cmocka_unit_test(test_dns_status_name),
		T(test_dns_new_refusals),
		T(test_dns_new_good),
		T(test_dns_bad_arguments),
		T(test_dns_timeout),
		T(test_dns_timeout_threads),
	};
	return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
