#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "num.h"

static const uint8_t addr_v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * Copy len bytes of s into a NUL-terminated tmp[cap]. Returns 0, or -1 if
 * too long or if s holds a NUL (inet_pton would stop there).
 */
static int
addr_copy_text(const char *s, size_t len, char *tmp, size_t cap)
{
	if (len >= cap || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return 0;
}

static int
addr_parse_ip(const char *s, size_t len, struct addr *a_r)
{
	char tmp[INET6_ADDRSTRLEN];
	struct sockaddr_in *sin = (struct sockaddr_in *)&a_r->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a_r->ss;

	memset(a_r, 0, sizeof(*a_r));
	if (addr_copy_text(s, len, tmp, sizeof(tmp)) != 0)
		return -1;
	if (memchr(s, ':', len) == NULL) {
		if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		a_r->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
		return -1;
	sin6->sin6_family = AF_INET6;
	a_r->len = sizeof(*sin6);
	return 0;
}

int
addr_parse(const char *s, size_t len, enum addr_port port, struct addr *a_r)
{
	const char *host = s;
	size_t host_len = len;
	const char *port_text = NULL;
	size_t port_len = 0;
	int64_t port_num;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL)
			return -1;
		host = s + 1;
		host_len = (size_t)(close - host);
		if (close + 1 != s + len) {
			if (close[1] != ':')
				return -1;
			port_text = close + 2;
			port_len = len - (size_t)(port_text - s);
		}
		/* Brackets are for IPv6 only. */
		if (memchr(host, ':', host_len) == NULL)
			return -1;
	} else {
		const char *colon = memchr(s, ':', len);
		/* One colon: IPv4 with a port. More: a bare IPv6 address. */
		if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
			host_len = (size_t)(colon - s);
			port_text = colon + 1;
			port_len = len - host_len - 1;
		}
	}
	if (port_text != NULL && port == ADDR_PORT_NONE)
		return -1;
	if (port_text == NULL && port == ADDR_PORT_REQUIRED)
		return -1;
	if (host_len == 0 || addr_parse_ip(host, host_len, a_r) != 0)
		return -1;
	if (port_text != NULL) {
		if (num_parse_i64(port_text, port_len, 1, 65535, &port_num) != 0)
			return -1;
		addr_set_port(a_r, (uint16_t)port_num);
	}
	return 0;
}

int
addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr *a_r)
{
	memset(a_r, 0, sizeof(*a_r));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(&a_r->ss, sa, sizeof(struct sockaddr_in));
		a_r->len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(&a_r->ss, sa, sizeof(struct sockaddr_in6));
		a_r->len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

int
addr_from_bytes(const uint8_t *b, size_t n, uint16_t port, struct addr *a_r)
{
	memset(a_r, 0, sizeof(*a_r));
	if (n == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a_r->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, b, 4);
		a_r->len = sizeof(*sin);
		return 0;
	}
	if (n == 16) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a_r->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, b, 16);
		a_r->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

uint16_t
addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void
addr_set_port(struct addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

size_t
addr_ip_bytes(const struct addr *a, uint8_t out[16])
{
	if (a->ss.ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
		return 4;
	}
	if (a->ss.ss_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
		if (memcmp(b, addr_v4mapped_prefix, sizeof(addr_v4mapped_prefix)) == 0) {
			memcpy(out, b + 12, 4);
			return 4;
		}
		memcpy(out, b, 16);
		return 16;
	}
	return 0;
}

int
addr_family(const struct addr *a)
{
	uint8_t b[16];

	return addr_ip_bytes(a, b) == 4 ? AF_INET : AF_INET6;
}

char *
addr_format(const struct addr *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	uint8_t b[16];
	size_t n = addr_ip_bytes(a, b);
	uint16_t port = addr_port(a);
	int w;

	if (n == 0 || inet_ntop(n == 4 ? AF_INET : AF_INET6, b, ip, sizeof(ip)) == NULL)
		w = snprintf(out, cap, "?");
	else if (port == 0)
		w = snprintf(out, cap, "%s", ip);
	else if (n == 4)
		w = snprintf(out, cap, "%s:%u", ip, (unsigned)port);
	else
		w = snprintf(out, cap, "[%s]:%u", ip, (unsigned)port);
	if (w < 0 || (size_t)w >= cap) {
		if (cap >= 2)
			memcpy(out, "?", 2);
	}
	return out;
}

int
addr_equal(const struct addr *a, const struct addr *b)
{
	uint8_t x[16], y[16];
	size_t nx = addr_ip_bytes(a, x), ny = addr_ip_bytes(b, y);

	return nx == ny && nx != 0 && memcmp(x, y, nx) == 0 && addr_port(a) == addr_port(b);
}

int
cidr_parse(const char *s, size_t len, struct cidr *c_r)
{
	const char *slash = memchr(s, '/', len);
	size_t ip_len = slash ? (size_t)(slash - s) : len;
	struct addr a;
	int64_t prefix;
	unsigned max;
	size_t n;

	memset(c_r, 0, sizeof(*c_r));
	if (ip_len == 0 || addr_parse_ip(s, ip_len, &a) != 0)
		return -1;
	/* A mapped address in a prefix would match in surprising ways; refuse it. */
	n = addr_ip_bytes(&a, c_r->net);
	if ((n == 4) != (a.ss.ss_family == AF_INET))
		return -1;
	c_r->family = n == 4 ? AF_INET : AF_INET6;
	max = n == 4 ? 32 : 128;
	if (slash != NULL) {
		if (num_parse_i64(slash + 1, len - ip_len - 1, 0, max, &prefix) != 0)
			return -1;
		/* A sign or leading zeros ("/-0", "/024") are not a prefix anyone means. */
		if (slash[1] == '-' || (len - ip_len - 1 > 1 && slash[1] == '0'))
			return -1;
	} else {
		prefix = max;
	}
	c_r->prefix = (unsigned)prefix;
	for (unsigned bit = c_r->prefix; bit < max; bit++) {
		if (c_r->net[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	}
	return 0;
}

void
cidr_of_host(const struct addr *a, struct cidr *c_r)
{
	memset(c_r, 0, sizeof(*c_r));
	c_r->family = addr_family(a);
	c_r->prefix = addr_ip_bytes(a, c_r->net) == 4 ? 32 : 128;
}

char *
cidr_format(const struct cidr *c, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int w;

	if (inet_ntop(c->family, c->net, ip, sizeof(ip)) == NULL)
		w = -1;
	else
		w = snprintf(out, cap, "%s/%u", ip, c->prefix);
	if ((w < 0 || (size_t)w >= cap) && cap >= 2)
		memcpy(out, "?", 2);
	return out;
}

int
cidr_match(const struct cidr *c, const struct addr *a)
{
	uint8_t b[16];
	size_t n = addr_ip_bytes(a, b);
	unsigned full, rest;

	if (n == 0 || (n == 4) != (c->family == AF_INET))
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(b, c->net, full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((b[full] & mask) != c->net[full])
			return 0;
	}
	return 1;
}

int
cidr_list_match(const struct cidr *list, size_t n, const struct addr *a)
{
	for (size_t i = 0; i < n; i++) {
		if (cidr_match(&list[i], a))
			return 1;
	}
	return 0;
}
