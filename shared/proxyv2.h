/*
 * proxyv2: the PROXY protocol header the edge puts in front of every
 * relayed connection, so the home sees the client's address (HAProxy's
 * proxy-protocol.txt, versions 1 and 2). docs/wire.md describes the bytes.
 *
 * Version 2 carries TCP over IPv4 or IPv6 (or no addresses at all), and
 * three TLVs: PP2_TYPE_AUTHORITY (the client's SNI), PP2_TYPE_UNIQUE_ID,
 * and our own PROXYV2_TLV_HOMEPORT (what the edge already did on the
 * connection). Version 1 is written only, for backends that know nothing
 * newer; Homeport itself reads only version 2.
 *
 * All three functions are pure: no I/O, no globals, no allocation.
 */
#ifndef HOMEPORT_PROXYV2_H
#define HOMEPORT_PROXYV2_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dnsname.h"

#define PROXYV2_MAX 536			/* the largest header we send (the spec's minimum a receiver must accept) */
#define PROXYV2_DECODE_MAX 4096		/* the largest header we accept */
#define PROXYV2_UNIQUE_ID_MAX 128	/* PP2_TYPE_UNIQUE_ID, spec maximum */
#define PROXYV2_EHLO_MAX 200		/* the client's EHLO name in the Homeport TLV */
#define PROXYV2_TLV_HOMEPORT 0xE0	/* our TLV, in the spec's custom range */
#define PROXYV2_HOMEPORT_VERSION 1	/* byte 0 of the Homeport TLV; another value is refused */
#define PROXYV2_HP_STARTTLS 0x01	/* flag: the edge already answered STARTTLS */
#define PROXYV1_MAX 108			/* spec maximum of a v1 line, CRLF (and a NUL) included */

/* The low four bits of byte 13. */
enum proxyv2_command {
	PROXYV2_LOCAL = 0,	/* the edge's own connection (a health check): no addresses, no TLVs */
	PROXYV2_PROXY = 1,	/* relayed on behalf of the client in src */
};

/* What the client was speaking when the edge handed the connection on. */
enum proxyv2_proto {
	PROXYV2_PROTO_NONE = 0,	/* not said (sni and passthrough listeners) */
	PROXYV2_PROTO_SMTP = 1,
	PROXYV2_PROTO_IMAP = 2,
};

/* The Homeport TLV: version, flags, proto, then the EHLO name. */
struct proxyv2_homeport {
	int present;			/* the TLV was (to be) sent */
	uint8_t flags;			/* PROXYV2_HP_*; other bits are refused */
	uint8_t proto;			/* enum proxyv2_proto; other values are refused */
	char ehlo[PROXYV2_EHLO_MAX + 1];	/* NUL-terminated; "" = none; bytes 0x21..0x7e only */
};

/*
 * One header. For PROXYV2_LOCAL every field but command is zero: on
 * decoding, LOCAL's address block and TLVs are discarded unread, as the
 * spec says; on encoding, any of them set is an error.
 */
struct proxyv2 {
	enum proxyv2_command command;
	int have_addrs;			/* 0: LOCAL, or PROXY with AF_UNSPEC */
	struct addr src, dst;		/* TCP over IPv4 or IPv6, with ports; same family */
	char authority[DNSNAME_MAX + 1];	/* PP2_TYPE_AUTHORITY (the SNI); "" = none */
	uint8_t unique_id[PROXYV2_UNIQUE_ID_MAX];	/* PP2_TYPE_UNIQUE_ID */
	size_t unique_id_len;		/* 0 = none */
	struct proxyv2_homeport homeport;
};

/*
 * Encode h into out[0..cap). Returns the header length (> 0), or -1 if a
 * field is invalid (authority fails dnsname_check, ehlo too long or not
 * printable, unknown Homeport flags or proto, families differ or are not
 * IPv4/IPv6, unique id too long, LOCAL with anything else set) or the
 * header would be longer than cap or PROXYV2_MAX. IPv4-mapped IPv6
 * addresses (a dual-stack socket's IPv4 peers) are sent as IPv4. TLVs go
 * out in the order authority, unique id, Homeport, each only when set.
 * Never sends PP2_TYPE_SSL. Pure; out is undefined after -1.
 */
int proxyv2_encode(const struct proxyv2 *h, uint8_t *out, size_t cap);

/*
 * Decode a v2 header at the start of in[0..len). Returns its length (> 0,
 * the bytes to skip) and fills *h_r; 0 when more bytes are needed; -1 when
 * it is not a valid v2 header, with *err_r set to a static message. *h_r
 * is written only when > 0 is returned.
 *
 * Accepted: version 2; LOCAL (whatever follows byte 16 is skipped), or
 * PROXY with AF_UNSPEC, TCP over IPv4 or TCP over IPv6 (UDP and AF_UNIX are
 * refused: we only carry TCP); an address block at least as long as the
 * family needs (IPv6 addresses both IPv4-mapped or neither: decoded
 * addresses are always of one family as addr_family() sees them); TLVs
 * that exactly fill the rest. Unknown TLVs are skipped; PP2_TYPE_SSL and
 * the CRC32C TLV are ignored (not checked). A known TLV with a bad value
 * is an error: an authority that is not a host name, a
 * unique id over PROXYV2_UNIQUE_ID_MAX, a malformed Homeport TLV (shorter
 * than 3 bytes, an unknown version, flags or proto, an EHLO name over
 * PROXYV2_EHLO_MAX or with a byte outside 0x21..0x7e), and any of the three
 * twice. An empty unique id reads as none. A header longer than
 * PROXYV2_DECODE_MAX is an error.
 *
 * Returns 0 only while the bytes so far are a valid prefix: the 12-byte
 * signature is checked as it arrives (non-PROXY bytes fail fast), the rest
 * of the 16-byte fixed part as soon as it is in, each TLV's type and length
 * as soon as its 3 bytes are, and its value once complete. Pure.
 */
int proxyv2_decode(const uint8_t *in, size_t len, struct proxyv2 *h_r, const char **err_r);

/*
 * Write a v1 line "PROXY TCP4|TCP6 src dst sport dport\r\n" (for legacy
 * backends) and a NUL into out[0..cap). IPv4-mapped addresses count as
 * IPv4. Returns the line's length without the NUL (at most 104; cap =
 * PROXYV1_MAX always fits), or -1 (families differ or are not IPv4/IPv6,
 * or cap too small for the line and its NUL). Pure.
 */
int proxyv1_encode(const struct addr *src, const struct addr *dst, char *out, size_t cap);

#endif
