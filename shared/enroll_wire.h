/*
 * enroll_wire: the enrollment wire format, how a home joins an edge.
 *
 * The operator runs `homeport-edge invite`, which prints a token; the
 * owner runs `homeport relay join TOKEN`, which sends a sealed request to
 * the edge's control port (TCP); the edge checks it and answers with what
 * the home needs to bring up its WireGuard tunnel. This module is only the
 * formats and their crypto (libsodium): no I/O, no globals, no logging.
 * The edge (edge/control.c) and the home (home/relay_mode.c) both use it.
 * docs/wire.md, "Enrollment", says the same with the reasons.
 *
 * Integers are big-endian. Lengths below are in bytes.
 *
 * Token: one line of text, "hpe1-" then the binary below in base64url
 * (RFC 4648 section 5) without padding. Whitespace around it is ignored.
 *   version      1   1 (ENROLL_TOKEN_VERSION)
 *   box_pk      32   the edge's X25519 public key; requests are sealed to it
 *   family       1   4 or 6
 *   addr      4|16   the control endpoint's address: not unspecified, and
 *                    an IPv4 address is always family 4 (never IPv4-mapped)
 *   port         2   the control endpoint's TCP port, 1..65535
 *   invite_id   16   names the invite at the edge
 *   secret      32   the invite's secret: keys the request's MAC
 *   check        4   the first 4 bytes of BLAKE2b-256 (unkeyed) of every
 *                    byte before it, to catch copy errors
 * 92 bytes (123 characters, 128 with the prefix) for IPv4, 104 bytes (139,
 * 144) for IPv6. Every future version also ends in the check, so a damaged
 * token is told apart from a newer one.
 *
 * Messages on the control port, each way, are framed by a 2-byte length
 * (1..ENROLL_MSG_MAX) and are libsodium sealed boxes (crypto_box_seal:
 * an ephemeral X25519 key, XSalsa20-Poly1305), ENROLL_SEAL_OVERHEAD bytes
 * longer than their plaintext.
 *
 * Request plaintext (home to edge, sealed to the token's box_pk):
 *   magic        4   "HPRQ"
 *   version      1   1 (ENROLL_VERSION)
 *   invite_id   16   from the token
 *   timestamp    8   Unix seconds, 0..2^63-1
 *   nonce       16   random, for replay detection
 *   home_wg_pk  32   the home's WireGuard public key, not all zero
 *   reply_pk    32   a fresh X25519 public key the response is sealed to,
 *                    not all zero
 *   nhost        1   0..ENROLL_HOSTS_MAX
 *   per host:  1+n   n (1..253), then the name: a host name (dnsname_check),
 *                    lower case, no name twice, at most
 *                    ENROLL_HOSTS_TEXT_MAX name bytes in all
 *   mac         32   keyed BLAKE2b-256 (crypto_generichash, key = the
 *                    token's secret) of every byte before it
 *
 * Response plaintext (edge to home, sealed to the request's reply_pk):
 *   magic        4   "HPRS"
 *   version      1   1 (ENROLL_VERSION)
 *   nonce       16   the request's nonce, echoed
 *   status       1   0 OK, 1 refused, 2 try later (enum enroll_status)
 *   msglen       1   0..255; at least 1 unless the status is OK
 *   message msglen   for the home's user, bytes 0x20..0x7E
 *   and only when the status is OK:
 *   tenant     1+n   n (1..63), then the tenant's name: a-z, 0-9 and '-',
 *                    not starting or ending with '-'
 *   edge_wg_pk  32   the edge's WireGuard public key, not all zero
 *   wg endpoint  1+(4|16)+2   family, address, UDP port: as in the token
 *   tunnel_v4  4+1   the home's tunnel IPv4 address and prefix length
 *                    (1..32); all five bytes zero: no IPv4 in the tunnel
 *   tunnel_v6 16+1   the same for IPv6 (prefix 1..128)
 *   edge_v4      4   the edge's tunnel IPv4 address: all zero exactly when
 *                    tunnel_v4 is, else not zero and not tunnel_v4's
 *   edge_v6     16   the same for IPv6
 *   egress_port  2   the edge's SOCKS5 egress on edge_v4/edge_v6; 0: none
 *   nhost        1   then the hosts as in the request: the names the edge
 *                    routes to this home
 * At least one of tunnel_v4 and tunnel_v6 is present. IPv6 tunnel
 * addresses are never IPv4-mapped.
 *
 * Parsers check every length before reading, refuse trailing bytes and
 * anything not in the one canonical form above, so that a message that
 * parses encodes back to the same bytes; encoders refuse what the parsers
 * refuse. Plaintexts are wiped before a function returns.
 */
#ifndef HOMEPORT_ENROLL_WIRE_H
#define HOMEPORT_ENROLL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dnsname.h"

#define ENROLL_KEY_LEN 32		/* X25519 / WireGuard public key */
#define ENROLL_INVITE_ID_LEN 16
#define ENROLL_SECRET_LEN 32
#define ENROLL_NONCE_LEN 16
#define ENROLL_MAC_LEN 32
#define ENROLL_TOKEN_CHECK_LEN 4

#define ENROLL_TOKEN_PREFIX "hpe1-"
#define ENROLL_TOKEN_VERSION 1
#define ENROLL_VERSION 1		/* of the request and the response */

/* The longest token binary (IPv6) and its text with the prefix, without a NUL. */
#define ENROLL_TOKEN_BIN_MAX 104
#define ENROLL_TOKEN_TEXT_MAX 144

#define ENROLL_MSG_MAX 4096		/* a sealed message between the 2-byte lengths */
#define ENROLL_FRAME_HEADER_LEN 2
#define ENROLL_FRAME_MAX (ENROLL_FRAME_HEADER_LEN + ENROLL_MSG_MAX)
#define ENROLL_SEAL_OVERHEAD 48		/* crypto_box_SEALBYTES */

#define ENROLL_HOSTS_MAX 16		/* host names in a request or a response */
#define ENROLL_HOSTS_TEXT_MAX 2048	/* their name bytes together */
#define ENROLL_MESSAGE_MAX 255		/* the response's text for the user */
#define ENROLL_TENANT_MAX 63		/* a tenant's name */

/* The largest plaintexts; both fit ENROLL_MSG_MAX once sealed. */
#define ENROLL_REQUEST_PLAIN_MAX \
	(4 + 1 + ENROLL_INVITE_ID_LEN + 8 + ENROLL_NONCE_LEN + 2 * ENROLL_KEY_LEN + 1 + \
	 ENROLL_HOSTS_MAX + ENROLL_HOSTS_TEXT_MAX + ENROLL_MAC_LEN)
#define ENROLL_RESPONSE_PLAIN_MAX \
	(4 + 1 + ENROLL_NONCE_LEN + 1 + 1 + ENROLL_MESSAGE_MAX + 1 + ENROLL_TENANT_MAX + \
	 ENROLL_KEY_LEN + (1 + 16 + 2) + (4 + 1) + (16 + 1) + 4 + 16 + 2 + 1 + \
	 ENROLL_HOSTS_MAX + ENROLL_HOSTS_TEXT_MAX)

/*
 * The clock difference between home and edge that the edge accepts
 * (enroll_request_verify's skew_max): Kerberos's five minutes.
 */
#define ENROLL_SKEW_MAX 300

/* An invite as its token carries it. */
struct enroll_token {
	uint8_t box_pk[ENROLL_KEY_LEN];
	struct addr control;			/* the edge's control endpoint, with its port */
	uint8_t invite_id[ENROLL_INVITE_ID_LEN];
	uint8_t secret[ENROLL_SECRET_LEN];	/* wipe with sodium_memzero after use */
};

/*
 * Write the token's text with a NUL into out[0..cap). An IPv4-mapped
 * control address is written as IPv4. Returns the length without the NUL
 * (at most ENROLL_TOKEN_TEXT_MAX), or -1 (out unspecified) when cap is too
 * small, box_pk is all zero or the control endpoint is not one a token
 * may carry (unspecified address, port 0, neither IPv4 nor IPv6). Pure.
 */
int enroll_token_encode(const struct enroll_token *t, char *out, size_t cap);

/*
 * Parse the token in text[0..len), ignoring spaces, tabs, CRs and LFs
 * around it (people paste it). Returns 0 with *t_r filled, or -1 with
 * *t_r zeroed and *err_r set to static text for the user:
 *   "not a Homeport token"                   no "hpe1-" prefix
 *   "token damaged (too long)"               longer than any token
 *   "token damaged (not base64url)"          a character outside the
 *                                            alphabet, or a length or
 *                                            last character no encoder
 *                                            writes
 *   "token damaged (too short)"              too few bytes for a check
 *   "token damaged (check failed)"           the check does not match:
 *                                            changed, cut or lengthened
 *   "token version 0 not supported",
 *   "token version not supported (made by a newer homeport-edge: update homeport)"
 *   "token has an unknown address family"    family not 4 or 6
 *   "token length does not match its address family"
 *   "token has an unusable control address"  unspecified, or IPv4-mapped IPv6
 *   "token has control port 0"
 *   "token has an unusable edge key"         box_pk all zero
 * Pure.
 */
int enroll_token_parse(const char *text, size_t len, struct enroll_token *t_r, const char **err_r);

/* ---- the request (home to edge) ---------------------------------------- */

struct enroll_request {
	uint8_t invite_id[ENROLL_INVITE_ID_LEN];
	int64_t timestamp;			/* Unix seconds, >= 0 */
	uint8_t nonce[ENROLL_NONCE_LEN];	/* the caller's randombytes_buf() */
	uint8_t home_wg_pk[ENROLL_KEY_LEN];
	uint8_t reply_pk[ENROLL_KEY_LEN];	/* fresh per request; its secret stays home */
	size_t nhost;
	char host[ENROLL_HOSTS_MAX][DNSNAME_MAX + 1];	/* NUL-terminated, lower case */
	/*
	 * The MAC as read by enroll_request_open/_parse_plain, for
	 * enroll_request_verify. Written as it is by
	 * enroll_request_encode_plain; enroll_request_seal computes its own.
	 */
	uint8_t mac[ENROLL_MAC_LEN];
};

/*
 * Seal the request for the edge: its plaintext with the MAC keyed by the
 * token's secret, in a sealed box to edge_box_pk, into out[0..cap); sets
 * *len_r. The caller fills every field but mac. Returns 0, or -1 when a
 * field breaks a rule of the format (a host name that is not lower case,
 * a negative timestamp, ...), cap is too small, or edge_box_pk is not a
 * usable key. Uses libsodium's random numbers for the ephemeral key.
 */
int enroll_request_seal(const struct enroll_request *rq, const uint8_t secret[ENROLL_SECRET_LEN],
			const uint8_t edge_box_pk[ENROLL_KEY_LEN], uint8_t *out, size_t cap,
			size_t *len_r);

/*
 * Open a sealed request in[0..len) with the edge's key pair and parse it
 * into *rq_r, mac included. Does NOT check the MAC: the caller looks up the
 * invite by rq_r->invite_id, then calls enroll_request_verify() with its
 * secret. Returns 0, or -1 with *err_r set to static text ("cannot
 * decrypt request", or a refusal of enroll_request_parse_plain) and *rq_r
 * zeroed.
 */
int enroll_request_open(const uint8_t *in, size_t len, const uint8_t box_pk[ENROLL_KEY_LEN],
			const uint8_t box_sk[ENROLL_KEY_LEN], struct enroll_request *rq_r,
			const char **err_r);

/*
 * Check an opened request: its MAC against the invite's secret (in
 * constant time, over the request's fields as they encode), then its
 * timestamp, which must lie within skew_max (>= 0) seconds of now. Returns 0,
 * or -1 with *err_r set to static text: "wrong invite secret",
 * "request time too far from the edge's clock". Replays, by
 * (invite_id, nonce), are the caller's to catch. Pure.
 */
int enroll_request_verify(const struct enroll_request *rq, const uint8_t secret[ENROLL_SECRET_LEN],
			  int64_t now, int64_t skew_max, const char **err_r);

/*
 * The request's plaintext, without the crypto: exposed so that tests and
 * fuzzers reach the parser directly.
 *
 * enroll_request_encode_plain writes it, rq->mac as it is, into
 * out[0..cap) and sets *len_r. Returns 0, or -1 as enroll_request_seal.
 *
 * enroll_request_parse_plain parses in[0..len), which must be exactly one
 * plaintext. Returns 0 with *rq_r filled, or -1 with *rq_r zeroed and
 * *err_r set to static text. Both pure.
 */
int enroll_request_encode_plain(const struct enroll_request *rq, uint8_t *out, size_t cap,
				size_t *len_r);
int enroll_request_parse_plain(const uint8_t *in, size_t len, struct enroll_request *rq_r,
			       const char **err_r);

/* ---- the response (edge to home) --------------------------------------- */

enum enroll_status {
	ENROLL_OK = 0,
	ENROLL_REFUSED = 1,	/* for good: the invite is unknown, used or expired */
	ENROLL_TRY_LATER = 2,	/* the edge cannot now (busy, out of addresses) */
};

struct enroll_response {
	uint8_t nonce[ENROLL_NONCE_LEN];	/* the request's; the home compares it */
	uint8_t status;				/* enum enroll_status */
	char message[ENROLL_MESSAGE_MAX + 1];	/* NUL-terminated, printable ASCII */
	/* The rest only with ENROLL_OK: encoders ignore it otherwise, parsers zero it. */
	char tenant[ENROLL_TENANT_MAX + 1];	/* NUL-terminated */
	uint8_t edge_wg_pk[ENROLL_KEY_LEN];
	struct addr wg_endpoint;		/* the edge's WireGuard UDP endpoint */
	/*
	 * Tunnel addresses: len 0 for a family the tunnel does not carry (then
	 * the prefix is 0 too); port 0. The home's with their prefix lengths.
	 */
	struct addr tunnel_v4;
	uint8_t tunnel_v4_prefix;
	struct addr tunnel_v6;
	uint8_t tunnel_v6_prefix;
	struct addr edge_v4;
	struct addr edge_v6;
	uint16_t egress_port;			/* 0: no egress for this home */
	size_t nhost;
	char host[ENROLL_HOSTS_MAX][DNSNAME_MAX + 1];	/* NUL-terminated, lower case */
};

/*
 * Seal the response to the request's reply_pk into out[0..cap) and set
 * *len_r. Returns 0, or -1 when a field breaks a rule of the format, cap
 * is too small or reply_pk is not a usable key.
 */
int enroll_response_seal(const struct enroll_response *rs, const uint8_t reply_pk[ENROLL_KEY_LEN],
			 uint8_t *out, size_t cap, size_t *len_r);

/*
 * Open a sealed response in[0..len) with the home's reply key pair and
 * parse it into *rs_r. The caller then checks that rs_r->nonce is its
 * request's. Returns 0, or -1 with *err_r set to static text ("cannot
 * decrypt response", or a refusal of enroll_response_parse_plain) and
 * *rs_r zeroed.
 */
int enroll_response_open(const uint8_t *in, size_t len, const uint8_t reply_pk[ENROLL_KEY_LEN],
			 const uint8_t reply_sk[ENROLL_KEY_LEN], struct enroll_response *rs_r,
			 const char **err_r);

/* The response's plaintext, as enroll_request_encode_plain and _parse_plain. Pure. */
int enroll_response_encode_plain(const struct enroll_response *rs, uint8_t *out, size_t cap,
				 size_t *len_r);
int enroll_response_parse_plain(const uint8_t *in, size_t len, struct enroll_response *rs_r,
				const char **err_r);

/* ---- framing on the control port --------------------------------------- */

/*
 * Parse one frame at in[0..len): a 2-byte length n, then n bytes. Returns
 * 2 + n (>0: the bytes consumed) with *msg_r pointing into in at the n
 * bytes and *msglen_r = n; 0 when more bytes are needed; -1 when n is 0 or
 * more than ENROLL_MSG_MAX (known as soon as the 2 bytes are in). Pure.
 */
int enroll_frame_parse(const uint8_t *in, size_t len, const uint8_t **msg_r, size_t *msglen_r);

/*
 * Write msg[0..msglen) as a frame into out[0..cap); msg may lie anywhere in
 * out (sealing straight into out + ENROLL_FRAME_HEADER_LEN saves a copy).
 * Returns the frame's length, 2 + msglen, or -1 (out untouched) when
 * msglen is 0 or more than ENROLL_MSG_MAX or cap is too small. Pure.
 */
int enroll_frame_write(const uint8_t *msg, size_t msglen, uint8_t *out, size_t cap);

/* ---- host-name ownership: the _homeport TXT record ----------------------- */

/*
 * An edge with [enroll] require_txt enrolls a home only if every host name
 * HOST it asks for has a TXT record at _homeport.HOST whose text (its
 * character-strings joined) is exactly
 *
 *   "homeport-key1=" base64url(BLAKE2b-256(home_wg_pk)), no padding
 *
 * 14 + 43 = 57 characters (ENROLL_TXT_LEN). BLAKE2b-256 is unkeyed
 * (crypto_generichash) over the home's 32-byte WireGuard public key; the
 * "1" is the version of this form: another hash would be "homeport-key2=".
 * Other TXT records at the name are ignored.
 */
#define ENROLL_TXT_LABEL "_homeport"
#define ENROLL_TXT_PREFIX "homeport-key1="
#define ENROLL_TXT_FAMILY "homeport-key"	/* what every version's text begins with */
#define ENROLL_TXT_LEN 57			/* the record's text, without a NUL */
/* The longest host name that has a _homeport name (DNSNAME_MAX with "_homeport." in front). */
#define ENROLL_TXT_HOST_MAX (DNSNAME_MAX - 10)

enum enroll_txt_match {
	ENROLL_TXT_NONE,	/* no record of this form at all */
	ENROLL_TXT_OTHER,	/* "homeport-key..." records, none for this key (another home's, or another version) */
	ENROLL_TXT_FOUND,	/* one record is exactly this key's text */
};

/* The record's text for pk, with a NUL, into out. Pure. */
void enroll_txt_text(const uint8_t pk[ENROLL_KEY_LEN], char out[ENROLL_TXT_LEN + 1]);

/*
 * The record's owner name, "_homeport." host, with a NUL into
 * out[0..cap). Returns its length, or -1 (out unspecified) when host is
 * not a host name (dnsname_check), longer than ENROLL_TXT_HOST_MAX, or cap
 * is too small. Pure.
 */
int enroll_txt_owner(const char *host, char *out, size_t cap);

/*
 * Whether the n TXT records at a _homeport name (record i: rec[i][0..len[i]),
 * its character-strings already joined, as shared/dns hands them over;
 * any bytes) hold pk's text: enum enroll_txt_match. A record counts only
 * when it is exactly the text: no white space around it, no other case.
 * Pure.
 */
enum enroll_txt_match enroll_txt_match(const uint8_t pk[ENROLL_KEY_LEN], const uint8_t *const *rec,
				       const size_t *len, size_t n);

#endif
