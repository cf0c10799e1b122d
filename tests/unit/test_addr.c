/*
 * Unit tests for shared/addr: address text under each port rule, formatting
 * and round trips, equality across IPv4 and IPv4-mapped IPv6, prefixes
 * (parse, format, match) at and between byte boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

#define N ADDR_PORT_NONE
#define O ADDR_PORT_OPTIONAL
#define R ADDR_PORT_REQUIRED

struct addr_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	enum addr_port rule;
	int rc;
	int family;		/* addr_family() */
	uint16_t port;
	const char *formatted;	/* addr_format() */
};

static const struct addr_case addr_cases[] = {
	/* IPv4, with and without port, under each rule. */
	{ "192.0.2.1", 0, N, 0, AF_INET, 0, "192.0.2.1" },
	{ "192.0.2.1", 0, O, 0, AF_INET, 0, "192.0.2.1" },
	{ "192.0.2.1", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:25", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.1:25", 0, O, 0, AF_INET, 25, "192.0.2.1:25" },
	{ "192.0.2.1:25", 0, R, 0, AF_INET, 25, "192.0.2.1:25" },
	{ "192.0.2.1:1", 0, R, 0, AF_INET, 1, "192.0.2.1:1" },
	{ "192.0.2.1:65535", 0, R, 0, AF_INET, 65535, "192.0.2.1:65535" },
	{ "0.0.0.0:25", 0, R, 0, AF_INET, 25, "0.0.0.0:25" },
	{ "255.255.255.255", 0, N, 0, AF_INET, 0, "255.255.255.255" },
	/* Bad ports. */
	{ "192.0.2.1:0", 0, O, -1, 0, 0, NULL },
	{ "192.0.2.1:0", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:65536", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:99999999999999999999", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:", 0, O, -1, 0, 0, NULL },
	{ "192.0.2.1:", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:2a", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:smtp", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:-25", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:+25", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1: 25", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:25 ", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1 :25", 0, R, -1, 0, 0, NULL },
	{ "192.0.2.1:0x19", 0, R, -1, 0, 0, NULL },
	/* Bad IPv4. */
	{ "", 0, N, -1, 0, 0, NULL },
	{ "", 0, O, -1, 0, 0, NULL },
	{ ":25", 0, R, -1, 0, 0, NULL },
	{ "192.0.2", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.256", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.01", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.1.5", 0, N, -1, 0, 0, NULL },
	{ "0x7f.0.0.1", 0, N, -1, 0, 0, NULL },
	{ "3221225985", 0, N, -1, 0, 0, NULL },
	{ " 192.0.2.1", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.1 ", 0, N, -1, 0, 0, NULL },
	{ "192.0.2.1\n", 0, N, -1, 0, 0, NULL },
	{ "example.com", 0, N, -1, 0, 0, NULL },
	{ "example.com:25", 0, R, -1, 0, 0, NULL },
	{ "localhost", 0, N, -1, 0, 0, NULL },
	/* Brackets are for IPv6 only. */
	{ "[192.0.2.1]", 0, N, -1, 0, 0, NULL },
	{ "[192.0.2.1]:25", 0, R, -1, 0, 0, NULL },
	/* A NUL ends nothing: all len bytes are the address. */
	{ "192.0.2.1\0", 10, N, -1, 0, 0, NULL },
	{ "192.0.2.1\0junk", 14, N, -1, 0, 0, NULL },
	{ "192.0.2.1:25\0", 13, R, -1, 0, 0, NULL },
	{ "[2001:db8::1\0]:25", 17, R, -1, 0, 0, NULL },
	{ "2001:db8::1\0:25", 15, N, -1, 0, 0, NULL },
	/* Only len bytes count. */
	{ "192.0.2.1:25", 9, N, 0, AF_INET, 0, "192.0.2.1" },
	/* IPv6 without brackets never has a port. */
	{ "2001:db8::1", 0, N, 0, AF_INET6, 0, "2001:db8::1" },
	{ "2001:db8::1", 0, O, 0, AF_INET6, 0, "2001:db8::1" },
	{ "2001:db8::1", 0, R, -1, 0, 0, NULL },
	{ "2001:db8::1:25", 0, O, 0, AF_INET6, 0, "2001:db8::1:25" },
	{ "2001:db8::1:25", 0, R, -1, 0, 0, NULL },
	{ "::1", 0, N, 0, AF_INET6, 0, "::1" },
	{ "::", 0, N, 0, AF_INET6, 0, "::" },
	{ "2001:DB8::A", 0, N, 0, AF_INET6, 0, "2001:db8::a" },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001", 0, N, 0, AF_INET6, 0, "2001:db8::1" },
	/* Brackets, with and without port. */
	{ "[2001:db8::1]", 0, N, 0, AF_INET6, 0, "2001:db8::1" },
	{ "[2001:db8::1]", 0, O, 0, AF_INET6, 0, "2001:db8::1" },
	{ "[2001:db8::1]", 0, R, -1, 0, 0, NULL },
	{ "[2001:db8::1]:25", 0, N, -1, 0, 0, NULL },
	{ "[2001:db8::1]:25", 0, O, 0, AF_INET6, 25, "[2001:db8::1]:25" },
	{ "[2001:db8::1]:25", 0, R, 0, AF_INET6, 25, "[2001:db8::1]:25" },
	{ "[2001:db8::1]:65535", 0, R, 0, AF_INET6, 65535, "[2001:db8::1]:65535" },
	{ "[::]:587", 0, R, 0, AF_INET6, 587, "[::]:587" },
	{ "[2001:db8::1]:0", 0, R, -1, 0, 0, NULL },
	{ "[2001:db8::1]:65536", 0, R, -1, 0, 0, NULL },
	{ "[2001:db8::1]:", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1]:x", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1]25", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1] :25", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1]::25", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1", 0, O, -1, 0, 0, NULL },
	{ "2001:db8::1]", 0, O, -1, 0, 0, NULL },
	{ "2001:db8::1]:25", 0, O, -1, 0, 0, NULL },
	{ "[2001:db8::1]]:25", 0, O, -1, 0, 0, NULL },
	{ "[[2001:db8::1]]", 0, O, -1, 0, 0, NULL },
	{ "[]", 0, O, -1, 0, 0, NULL },
	{ "[]:25", 0, O, -1, 0, 0, NULL },
	{ "[", 0, O, -1, 0, 0, NULL },
	/* Bad IPv6. */
	{ "2001:db8::g", 0, N, -1, 0, 0, NULL },
	{ "2001:db8:::1", 0, N, -1, 0, 0, NULL },
	{ "2001:db8::1::2", 0, N, -1, 0, 0, NULL },
	{ "1:2:3:4:5:6:7:8:9", 0, N, -1, 0, 0, NULL },
	{ "fe80::1%eth0", 0, N, -1, 0, 0, NULL },
	{ "[fe80::1%eth0]:25", 0, R, -1, 0, 0, NULL },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000:0000:0000:0000", 0, N, -1, 0, 0, NULL },
	/* IPv4-mapped IPv6: an IPv4 peer on a dual-stack socket. */
	{ "::ffff:192.0.2.1", 0, N, 0, AF_INET, 0, "192.0.2.1" },
	{ "[::ffff:192.0.2.1]:25", 0, R, 0, AF_INET, 25, "192.0.2.1:25" },
	{ "::ffff:c000:201", 0, N, 0, AF_INET, 0, "192.0.2.1" },
	/* IPv4-compatible (deprecated) is plain IPv6. */
	{ "::192.0.2.1", 0, N, 0, AF_INET6, 0, "::192.0.2.1" },
};

static void
test_addr_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		char out[ADDR_TEXT_MAX];
		struct addr a, back;
		int rc = addr_parse(c->text, len, c->rule, &a);

		if (rc != c->rc)
			fail_msg("case %zu '%s' rule %d: rc %d, want %d", i, c->text, c->rule, rc, c->rc);
		if (rc != 0)
			continue;
		if (addr_family(&a) != c->family)
			fail_msg("'%s': family %d, want %d", c->text, addr_family(&a), c->family);
		if (addr_port(&a) != c->port)
			fail_msg("'%s': port %u, want %u", c->text, addr_port(&a), c->port);
		addr_format(&a, out, sizeof(out));
		if (strcmp(out, c->formatted) != 0)
			fail_msg("'%s': formatted \"%s\", want \"%s\"", c->text, out, c->formatted);
		/* The formatted text reads back as the same address. */
		if (addr_parse(out, strlen(out), ADDR_PORT_OPTIONAL, &back) != 0)
			fail_msg("'%s': \"%s\" does not parse back", c->text, out);
		if (!addr_equal(&a, &back) || !addr_equal(&back, &a))
			fail_msg("'%s': \"%s\" parses back as another address", c->text, out);
	}
}

static void
t_addr(const char *text, struct addr *a_r)
{
	if (addr_parse(text, strlen(text), ADDR_PORT_OPTIONAL, a_r) != 0)
		fail_msg("'%s' does not parse", text);
}

static void
test_addr_sockaddr(void **state)
{
	struct addr a;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(25) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(993) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	uint8_t b[16];
	char out[ADDR_TEXT_MAX];

	(void)state;
	t_addr("192.0.2.1:25", &a);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	sin = (const struct sockaddr_in *)&a.ss;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(sin->sin_port, htons(25));
	assert_int_equal(sin->sin_addr.s_addr, htonl(0xc0000201));
	assert_int_equal(addr_ip_bytes(&a, b), 4);
	assert_memory_equal(b, "\xc0\x00\x02\x01", 4);

	t_addr("[2001:db8::1]:993", &a);
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	sin6 = (const struct sockaddr_in6 *)&a.ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(sin6->sin6_port, htons(993));
	assert_int_equal(addr_ip_bytes(&a, b), 16);
	assert_memory_equal(b, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);

	/* Mapped: the sockaddr stays IPv6, the bytes are IPv4. */
	t_addr("::ffff:192.0.2.1", &a);
	assert_int_equal(a.ss.ss_family, AF_INET6);
	assert_int_equal(addr_family(&a), AF_INET);
	assert_int_equal(addr_ip_bytes(&a, b), 4);
	assert_memory_equal(b, "\xc0\x00\x02\x01", 4);

	/* From the kernel's sockaddrs. */
	inet_pton(AF_INET, "198.51.100.25", &in4.sin_addr);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&in4, sizeof(in4), &a), 0);
	assert_string_equal(addr_format(&a, out, sizeof(out)), "198.51.100.25:25");
	inet_pton(AF_INET6, "2001:db8:77::2", &in6.sin6_addr);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), 0);
	assert_string_equal(addr_format(&a, out, sizeof(out)), "[2001:db8:77::2]:993");
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&un, sizeof(un), &a), -1);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&in4, sizeof(in4) - 1, &a), -1);
	assert_int_equal(addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6) - 1, &a), -1);
}

static void
test_addr_port(void **state)
{
	struct addr a;
	char out[ADDR_TEXT_MAX];

	(void)state;
	t_addr("192.0.2.1", &a);
	assert_int_equal(addr_port(&a), 0);
	addr_set_port(&a, 465);
	assert_int_equal(addr_port(&a), 465);
	assert_string_equal(addr_format(&a, out, sizeof(out)), "192.0.2.1:465");
	addr_set_port(&a, 0);
	assert_string_equal(addr_format(&a, out, sizeof(out)), "192.0.2.1");

	t_addr("2001:db8::1", &a);
	addr_set_port(&a, 65535);
	assert_int_equal(addr_port(&a), 65535);
	assert_string_equal(addr_format(&a, out, sizeof(out)), "[2001:db8::1]:65535");
}

static void
test_addr_format_cap(void **state)
{
	static const char *const texts[] = {
		"192.0.2.1", "192.0.2.1:25", "[2001:db8::1]:25",
		"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535",
	};
	char out[ADDR_TEXT_MAX + 8];
	struct addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);

		t_addr(texts[i], &a);
		assert_true(len + 1 <= ADDR_TEXT_MAX);
		/* Exactly enough. */
		memset(out, 'Z', sizeof(out));
		assert_ptr_equal(addr_format(&a, out, len + 1), out);
		assert_string_equal(out, texts[i]);
		/* One short: "?", nothing past cap. */
		memset(out, 'Z', sizeof(out));
		assert_ptr_equal(addr_format(&a, out, len), out);
		assert_string_equal(out, "?");
		assert_int_equal(out[len], 'Z');
		memset(out, 'Z', sizeof(out));
		addr_format(&a, out, 2);
		assert_string_equal(out, "?");
		assert_int_equal(out[2], 'Z');
	}
	/* The longest IPv6 text with a port fits ADDR_TEXT_MAX. */
	t_addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", &a);
	assert_string_equal(addr_format(&a, out, ADDR_TEXT_MAX),
			    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

struct equal_case {
	const char *a, *b;
	int equal;
};

static const struct equal_case equal_cases[] = {
	{ "192.0.2.1", "192.0.2.1", 1 },
	{ "192.0.2.1:25", "192.0.2.1:25", 1 },
	{ "192.0.2.1:25", "192.0.2.1:26", 0 },
	{ "192.0.2.1:25", "192.0.2.1", 0 },
	{ "192.0.2.1", "192.0.2.2", 0 },
	{ "192.0.2.1", "::ffff:192.0.2.1", 1 },
	{ "192.0.2.1:25", "[::ffff:192.0.2.1]:25", 1 },
	{ "192.0.2.1:25", "[::ffff:192.0.2.1]:587", 0 },
	{ "192.0.2.1", "::ffff:192.0.2.2", 0 },
	{ "192.0.2.1", "::192.0.2.1", 0 },
	{ "192.0.2.1", "2001:db8::c000:201", 0 },
	{ "127.0.0.1", "::1", 0 },
	{ "0.0.0.0", "::", 0 },
	{ "2001:db8::1", "2001:0db8:0:0::1", 1 },
	{ "[2001:db8::1]:25", "[2001:db8::1]:25", 1 },
	{ "[2001:db8::1]:25", "[2001:db8::1]:26", 0 },
	{ "2001:db8::1", "2001:db8::2", 0 },
	{ "::ffff:192.0.2.1", "::ffff:192.0.2.1", 1 },
};

static void
test_addr_equal(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(equal_cases) / sizeof(equal_cases[0]); i++) {
		const struct equal_case *c = &equal_cases[i];
		struct addr a, b;

		t_addr(c->a, &a);
		t_addr(c->b, &b);
		if (addr_equal(&a, &b) != c->equal || addr_equal(&b, &a) != c->equal)
			fail_msg("'%s' vs '%s': want %d", c->a, c->b, c->equal);
	}
}

/* ---- prefixes ---- */

struct cidr_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	int rc;
	int family;
	unsigned prefix;
	const char *formatted;
};

static const struct cidr_case cidr_cases[] = {
	{ "192.0.2.0/24", 0, 0, AF_INET, 24, "192.0.2.0/24" },
	{ "192.0.2.1/24", 0, -1, 0, 0, NULL },
	{ "192.0.2.128/25", 0, 0, AF_INET, 25, "192.0.2.128/25" },
	{ "192.0.2.64/25", 0, -1, 0, 0, NULL },
	{ "198.51.100.0/23", 0, 0, AF_INET, 23, "198.51.100.0/23" },
	{ "198.51.101.0/23", 0, -1, 0, 0, NULL },
	{ "192.0.2.1", 0, 0, AF_INET, 32, "192.0.2.1/32" },
	{ "192.0.2.1/32", 0, 0, AF_INET, 32, "192.0.2.1/32" },
	{ "192.0.2.0/33", 0, -1, 0, 0, NULL },
	{ "0.0.0.0/0", 0, 0, AF_INET, 0, "0.0.0.0/0" },
	{ "192.0.2.0/0", 0, -1, 0, 0, NULL },
	{ "128.0.0.0/1", 0, 0, AF_INET, 1, "128.0.0.0/1" },
	{ "192.0.0.0/1", 0, -1, 0, 0, NULL },
	{ "255.255.255.254/31", 0, 0, AF_INET, 31, "255.255.255.254/31" },
	{ "255.255.255.255/31", 0, -1, 0, 0, NULL },
	/* Prefix text: digits only, no leading zeros, nothing around. */
	{ "192.0.2.0/024", 0, -1, 0, 0, NULL },
	{ "0.0.0.0/00", 0, -1, 0, 0, NULL },
	{ "192.0.2.1/032", 0, -1, 0, 0, NULL },
	{ "0.0.0.0/-0", 0, -1, 0, 0, NULL },
	{ "0.0.0.0/-00", 0, -1, 0, 0, NULL },
	{ "::/-0", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/-24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/+24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/", 0, -1, 0, 0, NULL },
	{ "/24", 0, -1, 0, 0, NULL },
	{ "/", 0, -1, 0, 0, NULL },
	{ "", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/24/24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0 /24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/ 24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/24 ", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/2x", 0, -1, 0, 0, NULL },
	{ "192.0.2.0/99999999999999999999", 0, -1, 0, 0, NULL },
	{ "192.0.2.0:25/24", 0, -1, 0, 0, NULL },
	{ "192.0.2/24", 0, -1, 0, 0, NULL },
	{ "example.com/24", 0, -1, 0, 0, NULL },
	{ "192.0.2.0\0/24", 13, -1, 0, 0, NULL },
	{ "192.0.2.0/24\0", 13, -1, 0, 0, NULL },
	{ "192.0.2.0/24", 9, 0, AF_INET, 32, "192.0.2.0/32" },
	/* IPv6. */
	{ "2001:db8::/32", 0, 0, AF_INET6, 32, "2001:db8::/32" },
	{ "2001:db8::1/32", 0, -1, 0, 0, NULL },
	{ "2001:db8::1", 0, 0, AF_INET6, 128, "2001:db8::1/128" },
	{ "2001:db8::1/128", 0, 0, AF_INET6, 128, "2001:db8::1/128" },
	{ "2001:db8::/129", 0, -1, 0, 0, NULL },
	{ "2001:db8::/032", 0, -1, 0, 0, NULL },
	{ "::/0", 0, 0, AF_INET6, 0, "::/0" },
	{ "2001:db8:0:8::/61", 0, 0, AF_INET6, 61, "2001:db8:0:8::/61" },
	{ "2001:db8:0:4::/61", 0, -1, 0, 0, NULL },
	{ "2001:db8:0:1::/64", 0, 0, AF_INET6, 64, "2001:db8:0:1::/64" },
	{ "2001:db8::1:0:0:0/64", 0, -1, 0, 0, NULL },
	{ "2001:DB8::/32", 0, 0, AF_INET6, 32, "2001:db8::/32" },
	{ "[2001:db8::]/32", 0, -1, 0, 0, NULL },
	{ "[2001:db8::1]", 0, -1, 0, 0, NULL },
	/* Mapped addresses are refused: they would match IPv4 in surprising ways. */
	{ "::ffff:192.0.2.0/120", 0, -1, 0, 0, NULL },
	{ "::ffff:192.0.2.1", 0, -1, 0, 0, NULL },
	{ "::ffff:0:0/96", 0, -1, 0, 0, NULL },
	/* IPv4-compatible is just IPv6. */
	{ "::192.0.2.0/120", 0, 0, AF_INET6, 120, "::192.0.2.0/120" },
};

static void
test_cidr_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		const struct cidr_case *c = &cidr_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		char out[ADDR_TEXT_MAX];
		struct cidr x, back;
		int rc = cidr_parse(c->text, len, &x);

		if (rc != c->rc)
			fail_msg("case %zu '%s': rc %d, want %d", i, c->text, rc, c->rc);
		if (rc != 0)
			continue;
		if (x.family != c->family || x.prefix != c->prefix)
			fail_msg("'%s': family %d prefix %u", c->text, x.family, x.prefix);
		cidr_format(&x, out, sizeof(out));
		if (strcmp(out, c->formatted) != 0)
			fail_msg("'%s': formatted \"%s\", want \"%s\"", c->text, out, c->formatted);
		/* Round trip. */
		if (cidr_parse(out, strlen(out), &back) != 0 || back.family != x.family ||
		    back.prefix != x.prefix || memcmp(back.net, x.net, sizeof(x.net)) != 0)
			fail_msg("'%s': \"%s\" does not parse back the same", c->text, out);
	}
}

static void
test_cidr_format_cap(void **state)
{
	struct cidr x;
	char out[32];

	(void)state;
	assert_int_equal(cidr_parse("198.51.100.0/23", 15, &x), 0);
	memset(out, 'Z', sizeof(out));
	assert_ptr_equal(cidr_format(&x, out, 16), out);
	assert_string_equal(out, "198.51.100.0/23");
	memset(out, 'Z', sizeof(out));
	cidr_format(&x, out, 15);
	assert_string_equal(out, "?");
	assert_int_equal(out[15], 'Z');
}

struct match_case {
	const char *cidr;
	const char *addr;
	int match;
};

static const struct match_case match_cases[] = {
	{ "192.0.2.0/24", "192.0.2.0", 1 },
	{ "192.0.2.0/24", "192.0.2.1", 1 },
	{ "192.0.2.0/24", "192.0.2.255:25", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "192.0.1.255", 0 },
	{ "192.0.2.0/24", "::ffff:192.0.2.7", 1 },
	{ "192.0.2.0/24", "[::ffff:192.0.2.7]:25", 1 },
	{ "192.0.2.0/24", "::ffff:192.0.3.7", 0 },
	{ "192.0.2.0/24", "::192.0.2.7", 0 },
	{ "192.0.2.0/24", "2001:db8::c000:207", 0 },
	/* /23: the boundary is inside the third byte. */
	{ "198.51.100.0/23", "198.51.100.0", 1 },
	{ "198.51.100.0/23", "198.51.101.255", 1 },
	{ "198.51.100.0/23", "198.51.102.0", 0 },
	{ "198.51.100.0/23", "198.51.99.255", 0 },
	{ "198.51.100.0/23", "::ffff:198.51.101.1", 1 },
	{ "198.51.100.0/23", "::ffff:198.51.102.1", 0 },
	{ "192.0.2.0/31", "192.0.2.1", 1 },
	{ "192.0.2.0/31", "192.0.2.2", 0 },
	{ "128.0.0.0/1", "203.0.113.1", 1 },
	{ "128.0.0.0/1", "127.255.255.255", 0 },
	{ "192.0.2.1", "192.0.2.1", 1 },
	{ "192.0.2.1", "192.0.2.0", 0 },
	{ "0.0.0.0/0", "203.0.113.1", 1 },
	{ "0.0.0.0/0", "::ffff:203.0.113.1", 1 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	{ "0.0.0.0/0", "::", 0 },
	/* IPv6. */
	{ "2001:db8::/32", "2001:db8::", 1 },
	{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::/32", "2001:db9::", 0 },
	{ "2001:db8::/32", "2001:db7:ffff::", 0 },
	{ "2001:db8::/32", "192.0.2.1", 0 },
	{ "2001:db8::/32", "::ffff:192.0.2.1", 0 },
	/* /61: the boundary is inside the eighth byte. */
	{ "2001:db8:0:8::/61", "2001:db8:0:8::", 1 },
	{ "2001:db8:0:8::/61", "2001:db8:0:f:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8:0:8::/61", "2001:db8:0:7:ffff:ffff:ffff:ffff", 0 },
	{ "2001:db8:0:8::/61", "2001:db8:0:10::", 0 },
	{ "2001:db8::1", "2001:db8::1", 1 },
	{ "2001:db8::1", "[2001:db8::1]:25", 1 },
	{ "2001:db8::1", "2001:db8::2", 0 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "::", 1 },
	{ "::/0", "192.0.2.1", 0 },
	/* A mapped peer is an IPv4 peer: IPv6 prefixes do not cover it. */
	{ "::/0", "::ffff:192.0.2.1", 0 },
	{ "::192.0.2.0/120", "::ffff:192.0.2.1", 0 },
	{ "::192.0.2.0/120", "::192.0.2.1", 1 },
};

static void
t_cidr(const char *text, struct cidr *c_r)
{
	if (cidr_parse(text, strlen(text), c_r) != 0)
		fail_msg("prefix '%s' does not parse", text);
}

static void
test_cidr_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *m = &match_cases[i];
		struct cidr c;
		struct addr a;

		t_cidr(m->cidr, &c);
		t_addr(m->addr, &a);
		if (cidr_match(&c, &a) != m->match)
			fail_msg("%s in %s: want %d", m->addr, m->cidr, m->match);
	}
}

/* Reference: do the first bits bits of x and y agree? */
static int
t_bits_equal(const uint8_t *x, const uint8_t *y, unsigned bits)
{
	for (unsigned bit = 0; bit < bits; bit++) {
		uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
		if ((x[bit / 8] & mask) != (y[bit / 8] & mask))
			return 0;
	}
	return 1;
}

/*
 * Every prefix length of one family: the network is base with host bits
 * cleared; probes are base with each single bit flipped, and base itself.
 */
static void
t_every_prefix(int family, const char *base_text)
{
	size_t n = family == AF_INET ? 4 : 16;
	unsigned max = (unsigned)n * 8;
	uint8_t base[16];

	assert_int_equal(inet_pton(family, base_text, base), 1);
	for (unsigned p = 0; p <= max; p++) {
		uint8_t net[16];
		char ip[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
		struct cidr c;

		memcpy(net, base, n);
		for (unsigned bit = p; bit < max; bit++)
			net[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		inet_ntop(family, net, ip, sizeof(ip));
		snprintf(text, sizeof(text), "%s/%u", ip, p);
		t_cidr(text, &c);
		if (c.prefix != p || memcmp(c.net, net, n) != 0)
			fail_msg("%s parsed wrongly", text);
		/* With the last host bit set the same prefix is refused. */
		if (p < max) {
			uint8_t host[16];
			char htext[INET6_ADDRSTRLEN + 8];
			struct cidr h;

			memcpy(host, net, n);
			host[n - 1] |= 1;
			inet_ntop(family, host, ip, sizeof(ip));
			snprintf(htext, sizeof(htext), "%s/%u", ip, p);
			if (cidr_parse(htext, strlen(htext), &h) != -1)
				fail_msg("%s accepted", htext);
		}
		for (unsigned flip = 0; flip <= max; flip++) {
			uint8_t probe[16];
			char ptext[INET6_ADDRSTRLEN];
			struct addr a;
			int want;

			memcpy(probe, base, n);
			if (flip < max)
				probe[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
			inet_ntop(family, probe, ptext, sizeof(ptext));
			t_addr(ptext, &a);
			want = t_bits_equal(probe, c.net, p);
			if (cidr_match(&c, &a) != want)
				fail_msg("%s in %s: want %d", ptext, text, want);
			/* The same IPv4 peer seen through a dual-stack socket. */
			if (family == AF_INET) {
				char mapped[INET6_ADDRSTRLEN + 8];
				snprintf(mapped, sizeof(mapped), "::ffff:%s", ptext);
				t_addr(mapped, &a);
				if (cidr_match(&c, &a) != want)
					fail_msg("%s in %s: want %d", mapped, text, want);
			}
		}
	}
}

static void
test_cidr_match_every_prefix(void **state)
{
	(void)state;
	t_every_prefix(AF_INET, "203.0.113.77");
	t_every_prefix(AF_INET6, "2001:db8:a5a5:5a5a:f0f0:0f0f:cccc:3333");
}

static void
test_cidr_list_match(void **state)
{
	struct cidr list[3];
	struct addr a;
	static const struct {
		const char *addr;
		int match;
	} probes[] = {
		{ "192.0.2.5", 1 },
		{ "::ffff:192.0.2.5", 1 },
		{ "[::ffff:192.0.2.5]:25", 1 },
		{ "198.51.100.7", 1 },
		{ "198.51.100.8", 0 },
		{ "2001:db8::5", 1 },
		{ "2001:db9::5", 0 },
		{ "203.0.113.1", 0 },
		{ "::ffff:203.0.113.1", 0 },
	};

	(void)state;
	t_cidr("192.0.2.0/24", &list[0]);
	t_cidr("2001:db8::/32", &list[1]);
	t_cidr("198.51.100.7", &list[2]);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		t_addr(probes[i].addr, &a);
		if (cidr_list_match(list, 3, &a) != probes[i].match)
			fail_msg("%s: want %d", probes[i].addr, probes[i].match);
	}
	/* Only the first n entries count; an empty list matches nothing. */
	t_addr("198.51.100.7", &a);
	assert_int_equal(cidr_list_match(list, 2, &a), 0);
	assert_int_equal(cidr_list_match(list, 0, &a), 0);
	assert_int_equal(cidr_list_match(NULL, 0, &a), 0);
}

static void
test_cidr_of_host(void **state)
{
	struct addr a;
	struct cidr c;
	char out[64];

	(void)state;
	assert_int_equal(addr_parse("192.0.2.7", 9, ADDR_PORT_NONE, &a), 0);
	cidr_of_host(&a, &c);
	assert_string_equal(cidr_format(&c, out, sizeof(out)), "192.0.2.7/32");
	assert_true(cidr_match(&c, &a));
	assert_int_equal(addr_parse("2001:db8:77::2", 14, ADDR_PORT_NONE, &a), 0);
	cidr_of_host(&a, &c);
	assert_string_equal(cidr_format(&c, out, sizeof(out)), "2001:db8:77::2/128");
	assert_int_equal(addr_parse("2001:db8:77::3", 14, ADDR_PORT_NONE, &a), 0);
	assert_false(cidr_match(&c, &a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_table),
		cmocka_unit_test(test_addr_sockaddr),
		cmocka_unit_test(test_addr_port),
		cmocka_unit_test(test_addr_format_cap),
		cmocka_unit_test(test_addr_equal),
		cmocka_unit_test(test_cidr_parse_table),
		cmocka_unit_test(test_cidr_format_cap),
		cmocka_unit_test(test_cidr_match_table),
		cmocka_unit_test(test_cidr_match_every_prefix),
		cmocka_unit_test(test_cidr_list_match),
		cmocka_unit_test(test_cidr_of_host),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
