/*
 * socks5: SOCKS version 5 (RFC 1928) for outbound SMTP from homes: the
 * server side as the edge's egress, and the client side for the home's
 * SMTP client that connects out through it. CONNECT only, and no
 * authentication method besides "no authentication required" (0x00).
 *
 * A session is: the client's method greeting, the server's method reply;
 * the client's request, the server's reply; then, after a successful
 * reply, the raw stream. The parsers and the encoders are pure; the I/O
 * layer feeds the parsers what it has read so far and sends what the
 * encoders write.
 *
 * Wire formats (lengths in bytes):
 *   greeting  VER=5 (1) NMETHODS (1, 1..255) METHODS (NMETHODS)
 *   method    VER=5 (1) METHOD (1)
 *   request   VER=5 (1) CMD (1) RSV=0 (1) ATYP (1) DST.ADDR DST.PORT (2)
 *   reply     VER=5 (1) REP (1) RSV=0 (1) ATYP (1) BND.ADDR BND.PORT (2)
 * where ATYP 1 is an IPv4 address (4), ATYP 3 a domain name (a length byte,
 * then 1..255 bytes) and ATYP 4 an IPv6 address (16). Ports and addresses
 * are in network order.
 */
#ifndef HOMEPORT_SOCKS5_H
#define HOMEPORT_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dnsname.h"

#define SOCKS5_GREETING_MAX 257		/* VER NMETHODS METHODS[255] */
#define SOCKS5_REQUEST_MAX 262		/* VER CMD RSV ATYP DOMAIN(1+255) PORT */
#define SOCKS5_REPLY_MAX 22		/* with an IPv6 bound address */
#define SOCKS5_CLIENT_GREETING_LEN 3	/* VER NMETHODS=1 METHOD=0x00 */

/* The REP field of a reply (RFC 1928 section 6). */
enum socks5_reply_code {
	SOCKS5_OK = 0,			/* succeeded */
	SOCKS5_FAILURE = 1,		/* general SOCKS server failure */
	SOCKS5_NOT_ALLOWED = 2,		/* connection not allowed by ruleset */
	SOCKS5_NET_UNREACHABLE = 3,	/* network unreachable */
	SOCKS5_HOST_UNREACHABLE = 4,	/* host unreachable */
	SOCKS5_REFUSED = 5,		/* connection refused */
	SOCKS5_TTL_EXPIRED = 6,		/* TTL expired */
	SOCKS5_CMD_UNSUPPORTED = 7,	/* command not supported */
	SOCKS5_ATYP_UNSUPPORTED = 8,	/* address type not supported */
};

/*
 * Parse the method greeting at in[0..len). Returns its length (>0: the
 * bytes after it are the client's next message), 0 if in[0..len) is a
 * valid start of a greeting that needs more bytes, or -1 if it is not a
 * SOCKS5 greeting (a version other than 5, or no methods), with *err_r set
 * to static text. On >0, *noauth_r is 1 if method 0x00 ("no authentication
 * required") is offered, else 0. Pure.
 */
int socks5_parse_greeting(const uint8_t *in, size_t len, int *noauth_r, const char **err_r);

/*
 * Write the 2-byte method selection reply to out: method 0x00 if noauth,
 * else 0xFF (no acceptable method; the client closes).
 */
void socks5_method_reply(int noauth, uint8_t out[2]);

/* A parsed request. */
struct socks5_request {
	uint8_t cmd;			/* 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE */
	int is_domain;			/* ATYP 3 */
	struct addr dst;		/* ATYP 1 or 4, with the port; zeroed for ATYP 3 */
	char domain[DNSNAME_MAX + 1];	/* ATYP 3, checked with dnsname_check, NUL-terminated */
	uint16_t port;			/* DST.PORT, 1..65535 */
};

/*
 * Parse a request at in[0..len) into *r_r. Returns its length (>0) for a
 * CONNECT request, 0 if in[0..len) is a valid start of a request that needs
 * more bytes, or -1 with *err_r set to static text and *code_r to the reply
 * code to send before closing:
 *   SOCKS5_FAILURE           malformed: version not 5, RSV not 0, a domain
 *                            of length 0 or one that fails dnsname_check,
 *                            port 0;
 *   SOCKS5_ATYP_UNSUPPORTED  an ATYP other than 1, 3 and 4 (as soon as the
 *                            ATYP byte is in);
 *   SOCKS5_CMD_UNSUPPORTED   a complete, well-formed request whose command
 *                            is not CONNECT (BIND, UDP ASSOCIATE, unknown).
 * On >0 and on -1 with SOCKS5_CMD_UNSUPPORTED, *r_r holds the request (for
 * the log); otherwise it is unspecified. *code_r is SOCKS5_OK unless -1.
 *
 * A domain name is only checked for syntax: "localhost" and "127.0.0.1"
 * pass. The caller resolves it and must check every address it would
 * connect to with socks5_forbidden_destination(). Pure.
 */
int socks5_parse_request(const uint8_t *in, size_t len, struct socks5_request *r_r,
			 uint8_t *code_r, const char **err_r);

/*
 * Write a reply with REP = code and the bound address and port to out.
 * bound NULL, or an address of neither family, writes 0.0.0.0:0; an
 * IPv4-mapped IPv6 address is written as IPv4 (ATYP 1). Returns the length:
 * 10 for IPv4, 22 (SOCKS5_REPLY_MAX) for IPv6.
 */
size_t socks5_encode_reply(uint8_t code, const struct addr *bound, uint8_t out[SOCKS5_REPLY_MAX]);

/*
 * Returns 1 if a is an address the egress must never connect to, 0
 * otherwise. Forbidden:
 *   IPv4  0.0.0.0/8        "this network", with the unspecified address
 *         10.0.0.0/8       private (RFC 1918)
 *         100.64.0.0/10    shared address space, carrier-grade NAT (RFC 6598)
 *         127.0.0.0/8      loopback
 *         169.254.0.0/16   link-local
 *         172.16.0.0/12    private (RFC 1918)
 *         192.168.0.0/16   private (RFC 1918)
 *         224.0.0.0/4      multicast
 *         240.0.0.0/4      reserved, with the broadcast 255.255.255.255
 *   IPv6  ::/128           unspecified
 *         ::1/128          loopback
 *         100::/64         discard-only (RFC 6666)
 *         fc00::/7         unique local (ULA)
 *         fe80::/10        link-local
 *         fec0::/10        site-local (deprecated, private)
 *         ff00::/8         multicast
 *   and these IPv6 forms of a forbidden IPv4 address:
 *         ::ffff:0:0/96    IPv4-mapped (::ffff:127.0.0.1)
 *         ::/96            IPv4-compatible, deprecated (::127.0.0.1)
 *         64:ff9b::/96     NAT64 well-known prefix (RFC 6052)
 *         2002::/16        6to4, the IPv4 address in bits 16..47
 * Anything that is neither IPv4 nor IPv6 is forbidden too. Documentation
 * ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
 * allowed: the test bench uses them. The port is ignored. Pure.
 */
int socks5_forbidden_destination(const struct addr *a);

/* ---- the client side ---- */

/* The greeting a client sends: version 5, one method, 0x00 "no authentication required". */
void socks5_client_greeting(uint8_t out[SOCKS5_CLIENT_GREETING_LEN]);

/*
 * Parse the server's method selection at in[0..len). Returns 2 when it
 * chose 0x00 (the bytes after it are the server's next message), 0 when
 * it needs more bytes, or -1 with *err_r set to static text for a version
 * other than 5 ("not SOCKS version 5", at the first byte) or any other
 * method: 0xFF "no acceptable method", else "server chose a method not
 * offered". Pure.
 */
int socks5_parse_method_reply(const uint8_t *in, size_t len, const char **err_r);

/*
 * Write a CONNECT request for dst (its address and port) to out: ATYP 1
 * for IPv4 and for an IPv4-mapped IPv6 address, ATYP 4 for other IPv6.
 * Returns the length, 10 or 22, or 0 (out untouched) if dst is neither
 * IPv4 nor IPv6 or its port is 0. Pure.
 */
size_t socks5_encode_connect(const struct addr *dst, uint8_t out[SOCKS5_REQUEST_MAX]);

/*
 * Parse the server's reply to a request at in[0..len). Returns its length
 * (>0; 10 for ATYP 1, 22 for ATYP 4, 7 + n for ATYP 3 with n 1..255; the
 * bytes after it are the stream) with *code_r the REP byte and *bound_r
 * the bound address and port for ATYP 1 and 4 (IPv4 and IPv6; port 0 is
 * allowed), zeroed for ATYP 3 (the name is skipped, not checked). Returns
 * 0 when it needs more bytes, or -1 with *err_r set to static text, as
 * soon as the byte that shows it is in: version not 5, RSV not 0, ATYP not
 * 1, 3 or 4, a domain length of 0. A reply with REP other than SOCKS5_OK
 * still returns >0: the caller checks *code_r (socks5_reply_text() says
 * what it means). On 0 and -1, *code_r is SOCKS5_FAILURE and *bound_r is
 * zeroed. Pure.
 */
int socks5_parse_reply(const uint8_t *in, size_t len, uint8_t *code_r, struct addr *bound_r,
		       const char **err_r);

/*
 * The words of RFC 1928 for a REP code ("succeeded", "connection refused",
 * "connection not allowed by ruleset", ...), or "unknown reply code".
 * Static text.
 */
const char *socks5_reply_text(uint8_t code);

#endif
