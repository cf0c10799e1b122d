/*
 * addr: socket addresses and CIDR prefixes, IPv4 and IPv6, as text in
 * configuration files and logs and as sockaddrs for the kernel.
 *
 * Text forms: "192.0.2.1", "192.0.2.1:25", "2001:db8::1", "[2001:db8::1]:25";
 * prefixes "192.0.2.0/24", "2001:db8::/32", or a bare address (/32, /128).
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a dual-stack socket
 * reports IPv4 peers) matches IPv4 prefixes.
 */
#ifndef HOMEPORT_ADDR_H
#define HOMEPORT_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text form: "[" IPv6 "]:" port, plus the NUL. */
#define ADDR_TEXT_MAX 56

struct addr {
	struct sockaddr_storage ss;	/* AF_INET or AF_INET6 */
	socklen_t len;			/* size of the sockaddr in ss */
};

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t net[16];	/* network bytes, host bits zero; 4 used for IPv4 */
	unsigned prefix;	/* 0..32 or 0..128 */
};

enum addr_port {
	ADDR_PORT_NONE,		/* a port is an error */
	ADDR_PORT_OPTIONAL,	/* no port leaves port 0 */
	ADDR_PORT_REQUIRED,	/* no port is an error */
};

/*
 * Parse len bytes of s as an address. Returns 0 and fills *a_r, or -1.
 * A port, where allowed, is 1..65535.
 */
int addr_parse(const char *s, size_t len, enum addr_port port, struct addr *a_r);

/* Fill *a_r from a sockaddr of the kernel's. Returns 0, or -1 for a family other than IPv4/IPv6. */
int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr *a_r);

/* An address of n bytes (4: IPv4, 16: IPv6) with port into *a_r. Returns 0, or -1 for another n. */
int addr_from_bytes(const uint8_t *b, size_t n, uint16_t port, struct addr *a_r);

/* The port (host order), 0 if none. */
uint16_t addr_port(const struct addr *a);

/* Set the port. */
void addr_set_port(struct addr *a, uint16_t port);

/* AF_INET or AF_INET6, with IPv4-mapped IPv6 reported as AF_INET. */
int addr_family(const struct addr *a);

/*
 * Copy the address bytes (4 or 16, IPv4-mapped reduced to 4) to out[16].
 * Returns the count.
 */
size_t addr_ip_bytes(const struct addr *a, uint8_t out[16]);

/*
 * Write "ip:port" ("[ip]:port" for IPv6; just the ip when the port is 0) into
 * out[0..cap), cap >= 2 (ADDR_TEXT_MAX always fits). Returns out; on a too
 * small buffer, out holds "?".
 */
char *addr_format(const struct addr *a, char *out, size_t cap);

/* Same address and port (IPv4-mapped equal to IPv4). Returns 1 or 0. */
int addr_equal(const struct addr *a, const struct addr *b);

/* Parse "net/prefix" or a bare address. Host bits must be zero. Returns 0 or -1. */
int cidr_parse(const char *s, size_t len, struct cidr *c_r);

/* The network of a alone: /32 or /128 (WireGuard's allowed-ips for one peer address). */
void cidr_of_host(const struct addr *a, struct cidr *c_r);

/* Write "net/prefix" into out[0..cap). Returns out ("?" if cap is too small). */
char *cidr_format(const struct cidr *c, char *out, size_t cap);

/* Returns 1 if a lies within c, else 0. */
int cidr_match(const struct cidr *c, const struct addr *a);

/* Returns 1 if a lies within any of list[0..n), else 0. */
int cidr_list_match(const struct cidr *list, size_t n, const struct addr *a);

#endif
