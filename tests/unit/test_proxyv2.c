/*
 * Unit tests for shared/proxyv2: the PROXY protocol header.
 *
 * Round trips for IPv4, IPv6, IPv4-mapped, LOCAL and AF_UNSPEC with every
 * TLV; one IPv4 header's bytes written out by hand from the spec; every
 * decode fed whole, one byte at a time (0 until the last byte), and with
 * bytes after it; a table of malformed headers, each with the message it
 * must fail with; encode failures; the largest header we build against
 * PROXYV2_MAX; v1 lines; and headers captured from a real HAProxy.
 *
 * The HAProxy captures (T_HAPROXY_*) were made once, by hand, with
 * HAProxy 2.6.12-1+deb12u4 (Debian 12) run in the foreground (haproxy -db -f
 * h.cfg, stopped afterwards by its PID) with this private configuration:
 *
 *     defaults
 *         mode tcp
 *         unique-id-format %{+X}o\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
 *     frontend fe
 *         bind 127.0.0.1:47101
 *         bind [::1]:47101
 *         tcp-request inspect-delay 5s
 *         tcp-request content accept if { req.ssl_hello_type 1 }
 *         default_backend be
 *     frontend fe_tls
 *         bind 127.0.0.1:47103 ssl crt /tmp/ppcap/crt.pem
 *         bind [::1]:47103 ssl crt /tmp/ppcap/crt.pem
 *         default_backend be
 *     frontend fe_tls2
 *         bind 127.0.0.1:47104 ssl crt /tmp/ppcap/crt.pem
 *         default_backend be2
 *     backend be
 *         server s 127.0.0.1:47102 send-proxy-v2 proxy-v2-options authority,unique-id
 *     backend be2
 *         server s 127.0.0.1:47102 send-proxy-v2 proxy-v2-options ssl,crc32c,authority,unique-id
 *     backend be_chk
 *         server s 127.0.0.1:47105 send-proxy-v2 check check-send-proxy inter 60s
 *
 * (plus timeouts), crt.pem a throwaway self-signed P-256 certificate. A
 * Python backend listening on 127.0.0.1:47102 (and one on 47105) saved the
 * first bytes of each connection; only the PROXY header (16 + its length
 * field) is kept below. The clients were "openssl s_client -connect ADDR
 * -servername NAME". HAProxy 2.6 sends PP2_TYPE_AUTHORITY only from the SNI
 * of a connection it terminated TLS on itself (in tcp mode req.ssl_sni does
 * not feed it), hence the ssl frontends; the plain tcp frontend's header
 * (fe over IPv6) carries the unique id alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dnsname.h"
#include "proxyv2.h"

#define T_BUF_MAX (PROXYV2_DECODE_MAX + 64)

/* The 12-byte signature, as a literal to build headers from. */
#define T_SIG "\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"
/* An IPv4 address block: 192.0.2.1:54321 -> 198.51.100.25:25. */
#define T_A4 "\xc0\x00\x02\x01\xc6\x33\x64\x19\xd4\x31\x00\x19"
/* An IPv6 address block: [2001:db8::1]:54321 -> [2001:db8:77::2]:25. */
#define T_A6 "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" \
	"\x20\x01\x0d\xb8\x00\x77\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02" \
	"\xd4\x31\x00\x19"
/* The same, both addresses IPv4-mapped: [::ffff:192.0.2.1] -> [::ffff:198.51.100.25]. */
#define T_A6_MAPPED "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01" \
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc6\x33\x64\x19" \
	"\xd4\x31\x00\x19"

/* ---- helpers -------------------------------------------------------------- */

static void
t_addr(const char *text, struct addr *a_r)
{
	if (addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, a_r) != 0)
		fail_msg("'%s' does not parse", text);
}

/* Write ver_cmd, fam and body after the signature, with the length field. Returns the length. */
static size_t
t_header(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t body_len)
{
	assert_true(16 + body_len <= T_BUF_MAX);
	memcpy(out, T_SIG, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(body_len >> 8);
	out[15] = (uint8_t)body_len;
	if (body_len > 0)
		memcpy(out + 16, body, body_len);
	return 16 + body_len;
}

/* Append a TLV at out[*len]. */
static void
t_tlv(uint8_t *out, size_t *len, uint8_t type, const void *value, size_t value_len)
{
	assert_true(*len + 3 + value_len <= T_BUF_MAX);
	out[*len] = type;
	out[*len + 1] = (uint8_t)(value_len >> 8);
	out[*len + 2] = (uint8_t)value_len;
	if (value_len > 0)
		memcpy(out + *len + 3, value, value_len);
	*len += 3 + value_len;
}

/* Decode in[0..n) from an exact-size copy, so that ASan sees any read past n. */
static int
t_decode_n(const uint8_t *in, size_t n, struct proxyv2 *h_r, const char **err_r)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, in, n);
	rc = proxyv2_decode(copy, n, h_r, err_r);
	free(copy);
	return rc;
}

/*
 * A good header of len bytes: every shorter prefix needs more (0), the
 * whole decodes to len, and so it does with bytes after it.
 */
static void
t_decode_good(const uint8_t *in, size_t len, struct proxyv2 *h_r)
{
	uint8_t more[T_BUF_MAX + 8];
	const char *err = NULL;
	struct proxyv2 again;

	for (size_t i = 0; i < len; i++) {
		int rc = t_decode_n(in, i, h_r, &err);
		if (rc != 0)
			fail_msg("prefix of %zu of %zu bytes: %d (%s), want 0", i, len, rc,
				 rc < 0 ? err : "");
	}
	err = NULL;
	if (t_decode_n(in, len, h_r, &err) != (int)len)
		fail_msg("%zu bytes do not decode: %s", len, err ? err : "need more");
	/* The payload after the header is not the decoder's. */
	memcpy(more, in, len);
	memcpy(more + len, "EHLO x\r\n", 8);
	assert_int_equal(t_decode_n(more, len + 8, &again, &err), (int)len);
}

/*
 * A bad header: -1 with err fed whole; fed one byte at a time, 0 and then
 * -1 (with the same err) from some prefix on. Returns that prefix length.
 */
static size_t
t_decode_bad(const char *what, const uint8_t *in, size_t len, const char *want_err)
{
	struct proxyv2 h;
	const char *err = NULL;
	size_t fail_at = 0;

	memset(&h, 0x5a, sizeof(h));
	if (t_decode_n(in, len, &h, &err) != -1)
		fail_msg("%s: accepted (want \"%s\")", what, want_err);
	if (err == NULL || strcmp(err, want_err) != 0)
		fail_msg("%s: error \"%s\", want \"%s\"", what, err ? err : "(none)", want_err);
	/* Untouched on failure. */
	for (size_t i = 0; i < sizeof(h); i++)
		assert_int_equal(((const uint8_t *)&h)[i], 0x5a);
	for (size_t i = 0; i <= len; i++) {
		int rc;

		err = NULL;
		rc = t_decode_n(in, i, &h, &err);
		if (rc > 0)
			fail_msg("%s: prefix of %zu bytes decodes", what, i);
		if (fail_at == 0 && rc == -1)
			fail_at = i;
		if (fail_at != 0 && rc != -1)
			fail_msg("%s: prefix of %zu bytes: 0 after -1 at %zu", what, i, fail_at);
		if (rc == -1 && strcmp(err, want_err) != 0)
			fail_msg("%s: prefix of %zu bytes: \"%s\", want \"%s\"", what, i, err, want_err);
	}
	return fail_at;
}

/* Field by field; addresses with addr_equal (an IPv4-mapped address equals its IPv4). */
static void
t_assert_same(const struct proxyv2 *a, const struct proxyv2 *b)
{
	assert_int_equal(a->command, b->command);
	assert_int_equal(a->have_addrs, b->have_addrs);
	if (a->have_addrs) {
		assert_int_equal(addr_family(&a->src), addr_family(&b->src));
		assert_true(addr_equal(&a->src, &b->src));
		assert_true(addr_equal(&a->dst, &b->dst));
	}
	assert_string_equal(a->authority, b->authority);
	assert_int_equal(a->unique_id_len, b->unique_id_len);
	assert_memory_equal(a->unique_id, b->unique_id, a->unique_id_len);
	assert_int_equal(a->homeport.present, b->homeport.present);
	if (a->homeport.present) {
		assert_int_equal(a->homeport.flags, b->homeport.flags);
		assert_int_equal(a->homeport.proto, b->homeport.proto);
		assert_string_equal(a->homeport.ehlo, b->homeport.ehlo);
	}
}

/* A PROXY header from text addresses (NULL: none). */
static void
t_make(struct proxyv2 *h, const char *src, const char *dst)
{
	memset(h, 0, sizeof(*h));
	h->command = PROXYV2_PROXY;
	if (src != NULL) {
		h->have_addrs = 1;
		t_addr(src, &h->src);
		t_addr(dst, &h->dst);
	}
}

static void
t_set_homeport(struct proxyv2 *h, uint8_t flags, uint8_t proto, const char *ehlo)
{
	h->homeport.present = 1;
	h->homeport.flags = flags;
	h->homeport.proto = proto;
	assert_true(strlen(ehlo) <= PROXYV2_EHLO_MAX);
	memcpy(h->homeport.ehlo, ehlo, strlen(ehlo) + 1);
}

static void
t_set_authority(struct proxyv2 *h, const char *name)
{
	assert_true(strlen(name) <= DNSNAME_MAX);
	memcpy(h->authority, name, strlen(name) + 1);
}

/* A host name of exactly len bytes: labels of 63 "a" joined by dots. */
static void
t_long_name(char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (i % 64 == 63) ? '.' : 'a';
	out[len] = '\0';
	if (out[len - 1] == '.')
		out[len - 1] = 'b';
	assert_int_equal(dnsname_check(out, len, 0), 0);
}

/* ---- exact bytes ------------------------------------------------------------ */

/*
 * Written out by hand from proxy-protocol.txt section 2.2 and docs/wire.md,
 * not produced by the encoder.
 */
static const uint8_t t_ipv4_bytes[] = {
	/* signature */
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21,			/* version 2, PROXY */
	0x11,			/* AF_INET, STREAM */
	0x00, 0x3b,		/* 59 bytes follow: 12 + 20 + 7 + 20 */
	0xc0, 0x00, 0x02, 0x01,	/* src 192.0.2.1 */
	0xc6, 0x33, 0x64, 0x19,	/* dst 198.51.100.25 */
	0xd4, 0x31,		/* sport 54321 */
	0x00, 0x19,		/* dport 25 */
	/* PP2_TYPE_AUTHORITY, 17: "mail.example.test" */
	0x02, 0x00, 0x11,
	'm', 'a', 'i', 'l', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 't', 'e', 's', 't',
	/* PP2_TYPE_UNIQUE_ID, 4 */
	0x05, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
	/* Homeport, 17: version 1, STARTTLS, SMTP, "client.example" */
	0xe0, 0x00, 0x11, 0x01, 0x01, 0x01,
	'c', 'l', 'i', 'e', 'n', 't', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
};

static void
test_encode_exact_ipv4(void **state)
{
	struct proxyv2 h, back;
	uint8_t out[PROXYV2_MAX];
	int n;

	(void)state;
	t_make(&h, "192.0.2.1:54321", "198.51.100.25:25");
	t_set_authority(&h, "mail.example.test");
	memcpy(h.unique_id, "\xde\xad\xbe\xef", 4);
	h.unique_id_len = 4;
	t_set_homeport(&h, PROXYV2_HP_STARTTLS, PROXYV2_PROTO_SMTP, "client.example");
	n = proxyv2_encode(&h, out, sizeof(out));
	assert_int_equal(n, sizeof(t_ipv4_bytes));
	assert_memory_equal(out, t_ipv4_bytes, sizeof(t_ipv4_bytes));

	t_decode_good(t_ipv4_bytes, sizeof(t_ipv4_bytes), &back);
	t_assert_same(&h, &back);
	assert_int_equal(addr_family(&back.src), AF_INET);
	assert_int_equal(addr_port(&back.src), 54321);
	assert_int_equal(addr_port(&back.dst), 25);

	/* The bare fixed part and addresses of the same connection. */
	t_make(&h, "192.0.2.1:54321", "198.51.100.25:25");
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 28);
	assert_memory_equal(out, T_SIG "\x21\x11\x00\x0c" T_A4, 28);
	/* LOCAL: sixteen bytes. */
	memset(&h, 0, sizeof(h));
	h.command = PROXYV2_LOCAL;
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 16);
	assert_memory_equal(out, T_SIG "\x20\x00\x00\x00", 16);
	/* PROXY without addresses: AF_UNSPEC. */
	t_make(&h, NULL, NULL);
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 16);
	assert_memory_equal(out, T_SIG "\x21\x00\x00\x00", 16);
	/* IPv6, and a Homeport TLV with no EHLO name. */
	t_make(&h, "[2001:db8::1]:54321", "[2001:db8:77::2]:25");
	t_set_homeport(&h, 0, PROXYV2_PROTO_IMAP, "");
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 16 + 36 + 6);
	assert_memory_equal(out, T_SIG "\x21\x21\x00\x2a" T_A6 "\xe0\x00\x03\x01\x00\x02", 58);
}

/* ---- round trips ------------------------------------------------------------ */

struct rt_case {
	const char *src, *dst;	/* NULL: no addresses */
	const char *authority;	/* NULL: none */
	size_t unique_id_len;	/* filled with 0xa5 ^ i */
	int homeport;
	uint8_t flags, proto;
	const char *ehlo;
	int local;
	int family;		/* of the decoded addresses */
};

static const struct rt_case rt_cases[] = {
	{ "192.0.2.1:54321", "198.51.100.25:25", NULL, 0, 0, 0, 0, NULL, 0, AF_INET },
	{ "192.0.2.1:1", "198.51.100.25:65535", "mail.example.test", 0, 0, 0, 0, NULL, 0, AF_INET },
	{ "0.0.0.0", "255.255.255.255", NULL, 0, 0, 0, 0, NULL, 0, AF_INET },
	{ "[2001:db8::1]:54321", "[2001:db8:77::2]:993", NULL, 0, 0, 0, 0, NULL, 0, AF_INET6 },
	{ "[2001:db8::1]:54321", "[2001:db8:77::2]:993", "imap.example.test", 16, 1, 0,
	  PROXYV2_PROTO_IMAP, "", 0, AF_INET6 },
	{ "[::]:1", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:2", NULL, 1, 0, 0, 0, NULL, 0, AF_INET6 },
	/* A dual-stack socket's IPv4 peer goes out as IPv4. */
	{ "[::ffff:192.0.2.1]:54321", "[::ffff:198.51.100.25]:25", NULL, 0, 1,
	  PROXYV2_HP_STARTTLS, PROXYV2_PROTO_SMTP, "[192.0.2.1]", 0, AF_INET },
	{ "[::ffff:192.0.2.1]:54321", "198.51.100.25:25", NULL, 0, 0, 0, 0, NULL, 0, AF_INET },
	/* AF_UNSPEC, with and without TLVs. */
	{ NULL, NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 },
	{ NULL, NULL, "x.example", 128, 1, 0, PROXYV2_PROTO_NONE, "a", 0, 0 },
	/* Every TLV alone, then together. */
	{ "192.0.2.1:25", "198.51.100.25:25", "a", 0, 0, 0, 0, NULL, 0, AF_INET },
	{ "192.0.2.1:25", "198.51.100.25:25", NULL, 128, 0, 0, 0, NULL, 0, AF_INET },
	{ "192.0.2.1:25", "198.51.100.25:25", NULL, 0, 1, 0, 0, "", 0, AF_INET },
	{ "192.0.2.1:25", "198.51.100.25:25", NULL, 0, 1, PROXYV2_HP_STARTTLS, PROXYV2_PROTO_SMTP,
	  "!~{}|client_with.odd/bytes", 0, AF_INET },
	{ "192.0.2.1:25", "198.51.100.25:25", "MAIL.Example.TEST", 7, 1, PROXYV2_HP_STARTTLS,
	  PROXYV2_PROTO_IMAP, "client.example", 0, AF_INET },
	/* LOCAL. */
	{ NULL, NULL, NULL, 0, 0, 0, 0, NULL, 1, 0 },
};

static void
t_round_trip(size_t i, const struct proxyv2 *h, int family)
{
	uint8_t out[PROXYV2_MAX];
	struct proxyv2 back;
	int n = proxyv2_encode(h, out, sizeof(out));

	if (n <= 0)
		fail_msg("round trip %zu: encode %d", i, n);
	t_decode_good(out, (size_t)n, &back);
	t_assert_same(h, &back);
	if (back.have_addrs) {
		assert_int_equal(back.src.ss.ss_family, family);
		assert_int_equal(back.dst.ss.ss_family, family);
	}
	/* Exactly n bytes of room are enough; one less is not. */
	assert_int_equal(proxyv2_encode(h, out, (size_t)n), n);
	assert_int_equal(proxyv2_encode(h, out, (size_t)n - 1), -1);
}

static void
test_round_trip_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++) {
		const struct rt_case *c = &rt_cases[i];
		struct proxyv2 h;

		t_make(&h, c->src, c->dst);
		if (c->local)
			h.command = PROXYV2_LOCAL;
		if (c->authority != NULL)
			t_set_authority(&h, c->authority);
		for (size_t j = 0; j < c->unique_id_len; j++)
			h.unique_id[j] = (uint8_t)(0xa5 ^ j);
		h.unique_id_len = c->unique_id_len;
		if (c->homeport)
			t_set_homeport(&h, c->flags, c->proto, c->ehlo);
		t_round_trip(i, &h, c->family);
	}
}

/* The largest header we build: IPv6, a 253-byte authority, a 16-byte unique id, a 200-byte EHLO. */
static void
test_largest_header(void **state)
{
	struct proxyv2 h, back;
	uint8_t out[PROXYV2_MAX + 200];
	char name[DNSNAME_MAX + 1], ehlo[PROXYV2_EHLO_MAX + 1];
	size_t want = 16 + 36 + (3 + DNSNAME_MAX) + (3 + 16) + (3 + 3 + PROXYV2_EHLO_MAX);

	(void)state;
	assert_true(want <= PROXYV2_MAX);
	t_make(&h, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	       "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
	t_long_name(name, DNSNAME_MAX);
	t_set_authority(&h, name);
	memset(h.unique_id, 0xff, 16);
	h.unique_id_len = 16;
	memset(ehlo, '~', PROXYV2_EHLO_MAX);
	ehlo[PROXYV2_EHLO_MAX] = '\0';
	t_set_homeport(&h, PROXYV2_HP_STARTTLS, PROXYV2_PROTO_SMTP, ehlo);
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), (int)want);
	t_decode_good(out, want, &back);
	t_assert_same(&h, &back);

	/* A longer unique id would pass PROXYV2_MAX: refused whatever the room. */
	h.unique_id_len = 16 + (PROXYV2_MAX - want) + 1;
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), -1);
	h.unique_id_len = 16 + (PROXYV2_MAX - want);
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), PROXYV2_MAX);
}

/* ---- decoding: accepted oddities -------------------------------------------- */

static void
test_decode_accepted(void **state)
{
	uint8_t in[T_BUF_MAX], body[T_BUF_MAX], out[PROXYV2_MAX];
	size_t n, blen;
	struct proxyv2 h;
	struct addr a;
	char name[DNSNAME_MAX + 1];

	(void)state;
	/* LOCAL: whatever follows is discarded, family included. */
	n = t_header(in, 0x20, 0x11, T_A4, 12);
	t_decode_good(in, n, &h);
	assert_int_equal(h.command, PROXYV2_LOCAL);
	assert_int_equal(h.have_addrs, 0);
	blen = 0;
	t_tlv(body, &blen, 0x02, "not a name!", 11);
	t_tlv(body, &blen, PROXYV2_TLV_HOMEPORT, "\x09", 1);
	n = t_header(in, 0x20, 0x31, body, blen);
	t_decode_good(in, n, &h);
	assert_int_equal(h.command, PROXYV2_LOCAL);
	assert_string_equal(h.authority, "");
	assert_int_equal(h.homeport.present, 0);
	n = t_header(in, 0x20, 0xff, "\x01\x02", 2);
	t_decode_good(in, n, &h);

	/* An address block longer than the family needs: TLVs follow it. */
	blen = 0;
	memcpy(body, T_A4, 12);
	blen = 12;
	t_tlv(body, &blen, 0x02, "mail.example.test", 17);
	n = t_header(in, 0x21, 0x11, body, blen);
	t_decode_good(in, n, &h);
	assert_int_equal(h.have_addrs, 1);
	assert_string_equal(h.authority, "mail.example.test");

	/* IPv6 with both addresses IPv4-mapped (a dual-stack sender): IPv4 to us. */
	n = t_header(in, 0x21, 0x21, T_A6_MAPPED, 36);
	t_decode_good(in, n, &h);
	assert_int_equal(addr_family(&h.src), AF_INET);
	assert_int_equal(addr_family(&h.dst), AF_INET);
	t_addr("192.0.2.1:54321", &a);
	assert_true(addr_equal(&h.src, &a));
	t_addr("198.51.100.25:25", &a);
	assert_true(addr_equal(&h.dst, &a));
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 28);
	assert_memory_equal(out, T_SIG "\x21\x11\x00\x0c" T_A4, 28);

	/* Unknown and ignored TLVs are skipped, wherever they are. */
	memcpy(body, T_A6, 36);
	blen = 36;
	t_tlv(body, &blen, 0x01, "smtp", 4);				/* ALPN */
	t_tlv(body, &blen, 0x03, "\x12\x34\x56\x78", 4);		/* CRC32C, wrong: not checked */
	t_tlv(body, &blen, 0x04, "", 0);				/* NOOP */
	t_tlv(body, &blen, 0x20, "\x01\x00\x00\x00\x00\x21\x00\x03TLS", 11);	/* SSL */
	t_tlv(body, &blen, 0x30, "netns", 5);				/* NETNS */
	t_tlv(body, &blen, PROXYV2_TLV_HOMEPORT, "\x01\x01\x01" "c.example", 12);
	t_tlv(body, &blen, 0xe1, "\x00\xff", 2);			/* custom, not ours */
	t_tlv(body, &blen, 0xee, "", 0);
	t_tlv(body, &blen, 0xff, "\x09\x0a", 2);
	t_tlv(body, &blen, 0x05, "id", 2);
	n = t_header(in, 0x21, 0x21, body, blen);
	t_decode_good(in, n, &h);
	assert_int_equal(h.command, PROXYV2_PROXY);
	assert_int_equal(addr_family(&h.src), AF_INET6);
	assert_int_equal(h.homeport.present, 1);
	assert_int_equal(h.homeport.flags, PROXYV2_HP_STARTTLS);
	assert_int_equal(h.homeport.proto, PROXYV2_PROTO_SMTP);
	assert_string_equal(h.homeport.ehlo, "c.example");
	assert_int_equal(h.unique_id_len, 2);
	assert_memory_equal(h.unique_id, "id", 2);

	/* An empty unique id reads as none. */
	blen = 0;
	t_tlv(body, &blen, 0x05, "", 0);
	n = t_header(in, 0x21, 0x00, body, blen);
	t_decode_good(in, n, &h);
	assert_int_equal(h.have_addrs, 0);
	assert_int_equal(h.unique_id_len, 0);

	/* The limits themselves. */
	blen = 0;
	t_long_name(name, DNSNAME_MAX);
	t_tlv(body, &blen, 0x02, name, DNSNAME_MAX);
	memset(body + 600, 0x00, PROXYV2_UNIQUE_ID_MAX);
	t_tlv(body, &blen, 0x05, body + 600, PROXYV2_UNIQUE_ID_MAX);
	n = t_header(in, 0x21, 0x00, body, blen);
	t_decode_good(in, n, &h);
	assert_string_equal(h.authority, name);
	assert_int_equal(h.unique_id_len, PROXYV2_UNIQUE_ID_MAX);

	/* A header of exactly PROXYV2_DECODE_MAX bytes, padded with NOOP. */
	memcpy(body, T_A4, 12);
	blen = 12;
	t_tlv(body, &blen, 0x04, in, PROXYV2_DECODE_MAX - 16 - 12 - 3);
	n = t_header(in, 0x21, 0x11, body, blen);
	assert_int_equal(n, PROXYV2_DECODE_MAX);
	t_decode_good(in, n, &h);
	assert_int_equal(addr_port(&h.dst), 25);
}

/* ---- decoding: malformed headers --------------------------------------------- */

struct bad_case {
	const char *what;
	const char *bytes;
	size_t len;
	const char *err;
	size_t fail_at;		/* the prefix length that first fails; 0: not checked */
};

#define B(s) s, sizeof(s) - 1

#define E_SIG "PROXY v2: bad signature"
#define E_VER "PROXY v2: version is not 2"
#define E_CMD "PROXY v2: unknown command"
#define E_FAM "PROXY v2: family or protocol other than TCP over IPv4 or IPv6"
#define E_BIG "PROXY v2: header longer than 4096 bytes"
#define E_SHORT "PROXY v2: address block too short for its family"
#define E_MIX "PROXY v2: IPv4-mapped and plain IPv6 addresses mixed"
#define E_TLV_HDR "PROXY v2: TLV header overruns the header"
#define E_TLV "PROXY v2: TLV overruns the header"
#define E_AUTH_LEN "PROXY v2: authority TLV length out of range"
#define E_AUTH "PROXY v2: authority TLV is not a host name"
#define E_UID "PROXY v2: unique id TLV longer than 128 bytes"
#define E_HP_LEN "PROXY v2: Homeport TLV length out of range"
#define E_HP_VER "PROXY v2: Homeport TLV of an unknown version"
#define E_HP_FLAGS "PROXY v2: Homeport TLV with unknown flags"
#define E_HP_PROTO "PROXY v2: Homeport TLV with an unknown protocol"
#define E_HP_EHLO "PROXY v2: Homeport TLV with a bad EHLO name"
#define E_DUP "PROXY v2: TLV repeated"

static const struct bad_case bad_cases[] = {
	/* Not PROXY at all: fails at the first byte that differs. */
	{ "SMTP", B("EHLO client.example\r\n"), E_SIG, 1 },
	{ "v1", B("PROXY TCP4 192.0.2.1 198.51.100.25 54321 25\r\n"), E_SIG, 1 },
	{ "TLS", B("\x16\x03\x01\x00\xa5"), E_SIG, 1 },
	{ "CRLF", B("\r\n\r\nQUIT\r\n"), E_SIG, 5 },
	/* Version. */
	{ "version 1", B(T_SIG "\x11\x11\x00\x0c" T_A4), E_VER, 13 },
	{ "version 0", B(T_SIG "\x01\x11\x00\x0c" T_A4), E_VER, 13 },
	{ "version 3", B(T_SIG "\x31\x11\x00\x0c" T_A4), E_VER, 13 },
	{ "version 15", B(T_SIG "\xf1\x11\x00\x0c" T_A4), E_VER, 13 },
	/* Command. */
	{ "command 2", B(T_SIG "\x22\x11\x00\x0c" T_A4), E_CMD, 13 },
	{ "command 15", B(T_SIG "\x2f\x11\x00\x0c" T_A4), E_CMD, 13 },
	/* Family and protocol: only TCP over IPv4/IPv6, or nothing. */
	{ "UDP4", B(T_SIG "\x21\x12\x00\x0c" T_A4), E_FAM, 14 },
	{ "UDP6", B(T_SIG "\x21\x22\x00\x24" T_A6), E_FAM, 14 },
	{ "UNIX stream", B(T_SIG "\x21\x31\x00\x00"), E_FAM, 14 },
	{ "UNIX dgram", B(T_SIG "\x21\x32\x00\x00"), E_FAM, 14 },
	{ "INET unspec", B(T_SIG "\x21\x10\x00\x0c" T_A4), E_FAM, 14 },
	{ "INET6 unspec", B(T_SIG "\x21\x20\x00\x24" T_A6), E_FAM, 14 },
	{ "UNSPEC stream", B(T_SIG "\x21\x01\x00\x00"), E_FAM, 14 },
	{ "UNSPEC dgram", B(T_SIG "\x21\x02\x00\x00"), E_FAM, 14 },
	{ "family 4", B(T_SIG "\x21\x41\x00\x0c" T_A4), E_FAM, 14 },
	{ "transport 3", B(T_SIG "\x21\x13\x00\x0c" T_A4), E_FAM, 14 },
	{ "family 0xff", B(T_SIG "\x21\xff\x00\x00"), E_FAM, 14 },
	/* The address block. */
	{ "TCP4 0", B(T_SIG "\x21\x11\x00\x00"), E_SHORT, 16 },
	{ "TCP4 11", B(T_SIG "\x21\x11\x00\x0b" "\xc0\x00\x02\x01\xc6\x33\x64\x19\xd4\x31\x00"),
	  E_SHORT, 16 },
	{ "TCP6 12", B(T_SIG "\x21\x21\x00\x0c" T_A4), E_SHORT, 16 },
	{ "TCP6 35", B(T_SIG "\x21\x21\x00\x23" T_A6), E_SHORT, 16 },
	/* One IPv4-mapped address beside a plain IPv6 one. */
	{ "mapped src", B(T_SIG "\x21\x21\x00\x24"
			  "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01"
			  "\x20\x01\x0d\xb8\x00\x77\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
			  "\xd4\x31\x00\x19"), E_MIX, 52 },
	{ "mapped dst", B(T_SIG "\x21\x21\x00\x24"
			  "\x20\x01\x0d\xb8\x00\x77\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
			  "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01"
			  "\xd4\x31\x00\x19"), E_MIX, 52 },
	/* Too long: refused as soon as the length field is in. */
	{ "4097", B(T_SIG "\x21\x11\x0f\xf1" T_A4), E_BIG, 16 },
	{ "65535", B(T_SIG "\x21\x00\xff\xff"), E_BIG, 16 },
	{ "LOCAL 4097", B(T_SIG "\x20\x00\x0f\xf1"), E_BIG, 16 },
	/* TLV framing. */
	{ "1 byte after addrs", B(T_SIG "\x21\x11\x00\x0d" T_A4 "\x04"), E_TLV_HDR, 16 },
	{ "2 bytes after addrs", B(T_SIG "\x21\x11\x00\x0e" T_A4 "\x04\x00"), E_TLV_HDR, 16 },
	{ "TLV 1 over", B(T_SIG "\x21\x11\x00\x11" T_A4 "\x04\x00\x03" "ab"), E_TLV, 31 },
	{ "TLV 65535", B(T_SIG "\x21\x11\x00\x11" T_A4 "\x04\xff\xff" "ab"), E_TLV, 31 },
	{ "second TLV over", B(T_SIG "\x21\x00\x00\x08" "\x04\x00\x00" "\xe1\x00\x03" "ab"), E_TLV, 22 },
	{ "TLV header cut", B(T_SIG "\x21\x00\x00\x05" "\x04\x00\x00" "\x04\x00"), E_TLV_HDR, 19 },
	/* Authority: a host name, 1..253 bytes. */
	{ "authority empty", B(T_SIG "\x21\x00\x00\x03" "\x02\x00\x00"), E_AUTH_LEN, 19 },
	{ "authority space", B(T_SIG "\x21\x00\x00\x0a" "\x02\x00\x07" "mail ex"), E_AUTH, 26 },
	{ "authority dot", B(T_SIG "\x21\x00\x00\x0a" "\x02\x00\x07" "mail.x."), E_AUTH, 26 },
	{ "authority _", B(T_SIG "\x21\x00\x00\x0a" "\x02\x00\x07" "_dmar.x"), E_AUTH, 26 },
	{ "authority NUL", B(T_SIG "\x21\x00\x00\x0a" "\x02\x00\x07" "mail\0ex"), E_AUTH, 26 },
	{ "authority UTF-8", B(T_SIG "\x21\x00\x00\x09" "\x02\x00\x06" "b\xc3\xbc" "che"), E_AUTH, 25 },
	{ "authority hyphen", B(T_SIG "\x21\x00\x00\x05" "\x02\x00\x02" "-a"), E_AUTH, 21 },
	{ "authority 254", B(T_SIG "\x21\x00\x01\x01" "\x02\x00\xfe"), E_AUTH_LEN, 19 },
	{ "authority twice", B(T_SIG "\x21\x00\x00\x08" "\x02\x00\x01" "a" "\x02\x00\x01" "b"), E_DUP, 23 },
	/* Unique id: up to 128. */
	{ "unique id 129", B(T_SIG "\x21\x00\x00\x84" "\x05\x00\x81"), E_UID, 19 },
	{ "unique id twice", B(T_SIG "\x21\x00\x00\x08" "\x05\x00\x01" "a" "\x05\x00\x01" "b"), E_DUP, 23 },
	/* Homeport. */
	{ "hp empty", B(T_SIG "\x21\x00\x00\x03" "\xe0\x00\x00"), E_HP_LEN, 19 },
	{ "hp 1", B(T_SIG "\x21\x00\x00\x04" "\xe0\x00\x01" "\x01"), E_HP_LEN, 19 },
	{ "hp 2", B(T_SIG "\x21\x00\x00\x05" "\xe0\x00\x02" "\x01\x00"), E_HP_LEN, 19 },
	{ "hp 204", B(T_SIG "\x21\x00\x00\xcf" "\xe0\x00\xcc"), E_HP_LEN, 19 },
	{ "hp version 0", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x00\x00\x00"), E_HP_VER, 22 },
	{ "hp version 2", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x02\x00\x00"), E_HP_VER, 22 },
	{ "hp version 255", B(T_SIG "\x21\x00\x00\x07" "\xe0\x00\x04" "\xff\x00\x00" "a"), E_HP_VER, 23 },
	{ "hp flag 2", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x01\x02\x00"), E_HP_FLAGS, 22 },
	{ "hp flag 0x80", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x01\x81\x01"), E_HP_FLAGS, 22 },
	{ "hp proto 3", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x01\x00\x03"), E_HP_PROTO, 22 },
	{ "hp proto 255", B(T_SIG "\x21\x00\x00\x06" "\xe0\x00\x03" "\x01\x01\xff"), E_HP_PROTO, 22 },
	{ "hp ehlo space", B(T_SIG "\x21\x00\x00\x09" "\xe0\x00\x06" "\x01\x00\x01" "a b"), E_HP_EHLO, 25 },
	{ "hp ehlo tab", B(T_SIG "\x21\x00\x00\x09" "\xe0\x00\x06" "\x01\x00\x01" "a\tb"), E_HP_EHLO, 25 },
	{ "hp ehlo CR", B(T_SIG "\x21\x00\x00\x08" "\xe0\x00\x05" "\x01\x00\x01" "a\r"), E_HP_EHLO, 24 },
	{ "hp ehlo NUL", B(T_SIG "\x21\x00\x00\x08" "\xe0\x00\x05" "\x01\x00\x01" "\0a"), E_HP_EHLO, 24 },
	{ "hp ehlo 0x01", B(T_SIG "\x21\x00\x00\x07" "\xe0\x00\x04" "\x01\x00\x01" "\x01"), E_HP_EHLO, 23 },
	{ "hp ehlo DEL", B(T_SIG "\x21\x00\x00\x07" "\xe0\x00\x04" "\x01\x00\x01" "\x7f"), E_HP_EHLO, 23 },
	{ "hp ehlo 0x80", B(T_SIG "\x21\x00\x00\x07" "\xe0\x00\x04" "\x01\x00\x01" "\x80"), E_HP_EHLO, 23 },
	{ "hp twice", B(T_SIG "\x21\x00\x00\x0c" "\xe0\x00\x03" "\x01\x00\x00" "\xe0\x00\x03" "\x01\x00\x00"),
	  E_DUP, 25 },
	/* A bad TLV fails the header with addresses too. */
	{ "hp after addrs", B(T_SIG "\x21\x11\x00\x12" T_A4 "\xe0\x00\x03" "\x07\x00\x00"), E_HP_VER, 34 },
	{ "hp after v6", B(T_SIG "\x21\x21\x00\x2a" T_A6 "\xe0\x00\x03" "\x01\x00\x09"), E_HP_PROTO, 58 },
};

static void
test_decode_bad_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t at;

		at = t_decode_bad(c->what, (const uint8_t *)c->bytes, c->len, c->err);
		if (c->fail_at != 0 && at != c->fail_at)
			fail_msg("%s: fails at %zu bytes, want %zu", c->what, at, c->fail_at);
	}
}

/* A valid header with each of the 12 signature bytes changed: refused at that byte. */
static void
test_decode_bad_signature(void **state)
{
	uint8_t in[64];

	(void)state;
	for (size_t i = 0; i < 12; i++) {
		for (unsigned x = 1; x < 256; x <<= 1) {
			memcpy(in, T_SIG "\x21\x11\x00\x0c" T_A4, 28);
			in[i] ^= (uint8_t)x;
			if (t_decode_bad("signature", in, 28, E_SIG) != i + 1)
				fail_msg("signature byte %zu ^ %#x not refused at once", i, x);
		}
	}
}

/* Lengths built in code: too long for a literal. */
static void
test_decode_bad_long(void **state)
{
	uint8_t in[T_BUF_MAX], body[T_BUF_MAX];
	char name[DNSNAME_MAX + 2];
	size_t blen, n;

	(void)state;
	/* A 254-byte name in the authority. */
	t_long_name(name, DNSNAME_MAX);
	name[DNSNAME_MAX] = 'c';
	blen = 0;
	t_tlv(body, &blen, 0x02, name, DNSNAME_MAX + 1);
	n = t_header(in, 0x21, 0x00, body, blen);
	assert_int_equal(t_decode_bad("authority 254", in, n, E_AUTH_LEN), 19);
	/* A label of 64. */
	memset(name, 'a', 64);
	blen = 0;
	t_tlv(body, &blen, 0x02, name, 64);
	n = t_header(in, 0x21, 0x00, body, blen);
	t_decode_bad("label 64", in, n, E_AUTH);
	/* A 201-byte EHLO name. */
	blen = 0;
	memcpy(body + 1000, "\x01\x00\x01", 3);
	memset(body + 1003, 'e', PROXYV2_EHLO_MAX + 1);
	t_tlv(body, &blen, PROXYV2_TLV_HOMEPORT, body + 1000, 3 + PROXYV2_EHLO_MAX + 1);
	n = t_header(in, 0x21, 0x00, body, blen);
	t_decode_bad("ehlo 201", in, n, E_HP_LEN);
	/* A 129-byte unique id. */
	blen = 0;
	t_tlv(body, &blen, 0x05, body + 1000, PROXYV2_UNIQUE_ID_MAX + 1);
	n = t_header(in, 0x21, 0x00, body, blen);
	t_decode_bad("unique id 129", in, n, E_UID);
	/* PROXYV2_DECODE_MAX + 1 bytes of valid content. */
	memcpy(body, T_A4, 12);
	blen = 12;
	t_tlv(body, &blen, 0x04, in, PROXYV2_DECODE_MAX - 16 - 12 - 3 + 1);
	n = t_header(in, 0x21, 0x11, body, blen);
	assert_int_equal(n, PROXYV2_DECODE_MAX + 1);
	assert_int_equal(t_decode_bad("4097 bytes", in, n, E_BIG), 16);
}

/* ---- encoding failures -------------------------------------------------------- */

static void
t_encode_fails(const struct proxyv2 *h, const char *what)
{
	uint8_t out[PROXYV2_MAX + 64];

	if (proxyv2_encode(h, out, sizeof(out)) != -1)
		fail_msg("encode accepted: %s", what);
}

static void
test_encode_bad(void **state)
{
	static const char *const bad_names[] = {
		"mail example", "mail.example.", ".mail", "a..b", "-a.test", "a-.test", "_x.test",
		"b\303\274cher.test", "*.example.test",
	};
	static const char *const bad_ehlo[] = {
		"a b", " ", "a\tb", "a\r\n", "\x7f", "\x80", "\x01", "caf\xc3\xa9",
	};
	struct proxyv2 h;
	uint8_t out[PROXYV2_MAX];
	struct sockaddr_in *sin;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
		memcpy(h.authority, bad_names[i], strlen(bad_names[i]) + 1);
		t_encode_fails(&h, bad_names[i]);
	}
	/* Not NUL-terminated. */
	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	memset(h.authority, 'a', sizeof(h.authority));
	t_encode_fails(&h, "authority unterminated");

	for (size_t i = 0; i < sizeof(bad_ehlo) / sizeof(bad_ehlo[0]); i++) {
		t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
		t_set_homeport(&h, 0, 0, bad_ehlo[i]);
		t_encode_fails(&h, "bad ehlo");
	}
	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	h.homeport.present = 1;
	memset(h.homeport.ehlo, 'e', sizeof(h.homeport.ehlo));
	t_encode_fails(&h, "ehlo unterminated (201 bytes)");
	/* The same name with the TLV off is not looked at. */
	h.homeport.present = 0;
	assert_int_equal(proxyv2_encode(&h, out, sizeof(out)), 28);

	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	t_set_homeport(&h, 0x02, PROXYV2_PROTO_SMTP, "x");
	t_encode_fails(&h, "unknown flag");
	t_set_homeport(&h, PROXYV2_HP_STARTTLS, 3, "x");
	t_encode_fails(&h, "unknown proto");

	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	h.unique_id_len = PROXYV2_UNIQUE_ID_MAX + 1;
	t_encode_fails(&h, "unique id 129");

	/* Families. */
	t_make(&h, "192.0.2.1:25", "[2001:db8::1]:25");
	t_encode_fails(&h, "IPv4 to IPv6");
	t_make(&h, "[2001:db8::1]:25", "198.51.100.25:25");
	t_encode_fails(&h, "IPv6 to IPv4");
	t_make(&h, "[::ffff:192.0.2.1]:25", "[2001:db8::1]:25");
	t_encode_fails(&h, "mapped to IPv6");
	t_make(&h, NULL, NULL);
	h.have_addrs = 1;
	t_encode_fails(&h, "no family");
	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	sin = (struct sockaddr_in *)&h.dst.ss;
	sin->sin_family = AF_UNIX;
	t_encode_fails(&h, "AF_UNIX");

	/* LOCAL carries nothing. */
	t_make(&h, "192.0.2.1:25", "198.51.100.25:25");
	h.command = PROXYV2_LOCAL;
	t_encode_fails(&h, "LOCAL with addresses");
	t_make(&h, NULL, NULL);
	h.command = PROXYV2_LOCAL;
	t_set_authority(&h, "a.test");
	t_encode_fails(&h, "LOCAL with authority");
	t_make(&h, NULL, NULL);
	h.command = PROXYV2_LOCAL;
	h.unique_id_len = 1;
	t_encode_fails(&h, "LOCAL with unique id");
	t_make(&h, NULL, NULL);
	h.command = PROXYV2_LOCAL;
	t_set_homeport(&h, 0, 0, "");
	t_encode_fails(&h, "LOCAL with Homeport");
	t_make(&h, NULL, NULL);
	h.command = (enum proxyv2_command)2;
	t_encode_fails(&h, "command 2");

	/* Room: every cap short of the header fails. */
	t_make(&h, "192.0.2.1:54321", "198.51.100.25:25");
	t_set_authority(&h, "mail.example.test");
	for (size_t cap = 0; cap < 28 + 20; cap++)
		assert_int_equal(proxyv2_encode(&h, out, cap), -1);
	assert_int_equal(proxyv2_encode(&h, out, 28 + 20), 28 + 20);
}

/* ---- version 1 ------------------------------------------------------------------ */

static void
test_v1(void **state)
{
	struct addr src, dst;
	char out[PROXYV1_MAX + 8];
	const char *want;
	size_t n;

	(void)state;
	t_addr("192.0.2.1:54321", &src);
	t_addr("198.51.100.25:25", &dst);
	want = "PROXY TCP4 192.0.2.1 198.51.100.25 54321 25\r\n";
	assert_int_equal(proxyv1_encode(&src, &dst, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);

	t_addr("[2001:db8::1]:54321", &src);
	t_addr("[2001:db8:77::2]:993", &dst);
	want = "PROXY TCP6 2001:db8::1 2001:db8:77::2 54321 993\r\n";
	assert_int_equal(proxyv1_encode(&src, &dst, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);

	/* Mapped addresses are IPv4. */
	t_addr("[::ffff:192.0.2.1]:54321", &src);
	t_addr("198.51.100.25:25", &dst);
	want = "PROXY TCP4 192.0.2.1 198.51.100.25 54321 25\r\n";
	assert_int_equal(proxyv1_encode(&src, &dst, out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);

	/* The longest line fits PROXYV1_MAX with its NUL; a byte less does not. */
	t_addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", &src);
	t_addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535", &dst);
	want = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
	n = strlen(want);
	assert_true(n < PROXYV1_MAX);
	assert_int_equal(proxyv1_encode(&src, &dst, out, PROXYV1_MAX), (int)n);
	assert_string_equal(out, want);
	assert_int_equal(proxyv1_encode(&src, &dst, out, n + 1), (int)n);
	assert_int_equal(proxyv1_encode(&src, &dst, out, n), -1);
	assert_int_equal(proxyv1_encode(&src, &dst, out, 0), -1);

	/* Families. */
	t_addr("192.0.2.1:25", &src);
	t_addr("[2001:db8::1]:25", &dst);
	assert_int_equal(proxyv1_encode(&src, &dst, out, sizeof(out)), -1);
	assert_int_equal(proxyv1_encode(&dst, &src, out, sizeof(out)), -1);
	memset(&dst, 0, sizeof(dst));
	assert_int_equal(proxyv1_encode(&src, &dst, out, sizeof(out)), -1);
}

/* ---- HAProxy interop (captured as the comment at the top says) -------------------- */

/* fe_tls, IPv4: openssl s_client -connect 127.0.0.1:47103 -servername mail.example.test */
static const uint8_t t_haproxy_ipv4[] =
	"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x11\x00\x51"
	"\x7f\x00\x00\x01\x7f\x00\x00\x01\xa3\x0c\xb7\xff\x02\x00\x11\x6d"
	"\x61\x69\x6c\x2e\x65\x78\x61\x6d\x70\x6c\x65\x2e\x74\x65\x73\x74"
	"\x05\x00\x2e\x37\x46\x30\x30\x30\x30\x30\x31\x3a\x41\x33\x30\x43"
	"\x5f\x37\x46\x30\x30\x30\x30\x30\x31\x3a\x42\x37\x46\x46\x5f\x36"
	"\x42\x30\x41\x46\x31\x34\x34\x5f\x30\x30\x30\x30\x3a\x30\x37\x37"
	"\x45";

/* fe_tls, IPv6: openssl s_client -connect [::1]:47103 -servername mx.example.org */
static const uint8_t t_haproxy_ipv6[] =
	"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x21\x00\x96"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\xbd\xa4\xb7\xff\x02\x00\x0e\x6d\x78\x2e\x65\x78\x61\x6d\x70\x6c"
	"\x65\x2e\x6f\x72\x67\x05\x00\x5e\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x31\x3a\x42\x44\x41\x34\x5f\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x31\x3a\x42"
	"\x37\x46\x46\x5f\x36\x42\x30\x41\x46\x31\x34\x35\x5f\x30\x30\x30"
	"\x31\x3a\x30\x37\x37\x45";

/* fe (tcp mode, no TLS end), IPv6: openssl s_client -connect [::1]:47101 -servername ... */
static const uint8_t t_haproxy_ipv6_tcp[] =
	"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x21\x00\x85"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\x9a\x06\xb7\xfd\x05\x00\x5e\x30\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x31\x3a\x39\x41\x30\x36\x5f\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30"
	"\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x30\x31\x3a\x42\x37"
	"\x46\x44\x5f\x36\x42\x30\x41\x46\x31\x34\x35\x5f\x30\x30\x30\x32"
	"\x3a\x30\x37\x37\x45";

/*
 * fe_tls2 (be2: ssl,crc32c,authority,unique-id), IPv4: openssl s_client
 * -connect 127.0.0.1:47104 -servername mail.example.test. Carries
 * PP2_TYPE_CRC32C and PP2_TYPE_SSL (client 0x01, verify 0, version
 * "TLSv1.3"), which we skip.
 */
static const uint8_t t_haproxy_ssl[] =
	"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x11\x00\x6a"
	"\x7f\x00\x00\x01\x7f\x00\x00\x01\xaf\x2a\xb8\x00\x03\x00\x04\x3f"
	"\x11\x7e\x74\x02\x00\x11\x6d\x61\x69\x6c\x2e\x65\x78\x61\x6d\x70"
	"\x6c\x65\x2e\x74\x65\x73\x74\x05\x00\x2e\x37\x46\x30\x30\x30\x30"
	"\x30\x31\x3a\x41\x46\x32\x41\x5f\x37\x46\x30\x30\x30\x30\x30\x31"
	"\x3a\x42\x38\x30\x30\x5f\x36\x42\x30\x41\x46\x31\x34\x45\x5f\x30"
	"\x30\x30\x30\x3a\x30\x37\x44\x44\x20\x00\x0f\x01\x00\x00\x00\x00"
	"\x21\x00\x07\x54\x4c\x53\x76\x31\x2e\x33";

/* be_chk's health check (check-send-proxy): LOCAL, AF_UNSPEC, nothing after. */
static const uint8_t t_haproxy_check[] =
	"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x20\x00\x00\x00";

static void
t_check_haproxy(const uint8_t *in, size_t len, const char *src, const char *dst,
		const char *authority, const char *unique_id)
{
	struct proxyv2 h, back;
	struct addr a;
	uint8_t out[PROXYV2_MAX];
	int n;

	t_decode_good(in, len, &h);
	assert_int_equal(h.command, PROXYV2_PROXY);
	assert_int_equal(h.have_addrs, 1);
	t_addr(src, &a);
	assert_true(addr_equal(&h.src, &a));
	t_addr(dst, &a);
	assert_true(addr_equal(&h.dst, &a));
	assert_string_equal(h.authority, authority);
	assert_int_equal(h.unique_id_len, strlen(unique_id));
	assert_memory_equal(h.unique_id, unique_id, strlen(unique_id));
	assert_int_equal(h.homeport.present, 0);
	/* What we would send for the same connection reads back the same. */
	n = proxyv2_encode(&h, out, sizeof(out));
	assert_true(n > 0);
	t_decode_good(out, (size_t)n, &back);
	t_assert_same(&h, &back);
}

static void
test_haproxy_interop(void **state)
{
	struct proxyv2 h;

	(void)state;
	t_check_haproxy(t_haproxy_ipv4, sizeof(t_haproxy_ipv4) - 1, "127.0.0.1:41740",
			"127.0.0.1:47103", "mail.example.test",
			"7F000001:A30C_7F000001:B7FF_6B0AF144_0000:077E");
	t_check_haproxy(t_haproxy_ipv6, sizeof(t_haproxy_ipv6) - 1, "[::1]:48548", "[::1]:47103",
			"mx.example.org",
			"00000000000000000000000000000001:BDA4_"
			"00000000000000000000000000000001:B7FF_6B0AF145_0001:077E");
	t_check_haproxy(t_haproxy_ipv6_tcp, sizeof(t_haproxy_ipv6_tcp) - 1, "[::1]:39430",
			"[::1]:47101", "",
			"00000000000000000000000000000001:9A06_"
			"00000000000000000000000000000001:B7FD_6B0AF145_0002:077E");
	t_check_haproxy(t_haproxy_ssl, sizeof(t_haproxy_ssl) - 1, "127.0.0.1:44842",
			"127.0.0.1:47104", "mail.example.test",
			"7F000001:AF2A_7F000001:B800_6B0AF14E_0000:07DD");

	t_decode_good(t_haproxy_check, sizeof(t_haproxy_check) - 1, &h);
	assert_int_equal(h.command, PROXYV2_LOCAL);
	assert_int_equal(h.have_addrs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_exact_ipv4),
		cmocka_unit_test(test_round_trip_table),
		cmocka_unit_test(test_largest_header),
		cmocka_unit_test(test_decode_accepted),
		cmocka_unit_test(test_decode_bad_table),
		cmocka_unit_test(test_decode_bad_signature),
		cmocka_unit_test(test_decode_bad_long),
		cmocka_unit_test(test_encode_bad),
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_haproxy_interop),
	};
	return cmocka_run_group_tests_name("proxyv2", tests, NULL, NULL);
}
