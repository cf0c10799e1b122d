/*
 * httphead: the Host of the first HTTP/1.x request head on a connection,
 * which is all the edge needs to route port 80 (ACME HTTP-01 challenges
 * and redirects to HTTPS) to a home, and where its method and target are,
 * which the home's web listeners answer (home/web_session.c). The edge forwards the bytes unchanged;
 * this parser only decides where they go, and refuses anything that two
 * HTTP implementations might read differently.
 *
 * The accepted grammar (RFC 9112, strictly):
 *   head         = request-line *( header-field CRLF ) CRLF
 *   request-line = method SP request-target SP ( "HTTP/1.0" / "HTTP/1.1" ) CRLF
 *   method       = 1*tchar
 *   target       = 1*( %x21-7E )
 *   header-field = 1*tchar ":" *( SP / HTAB / %x21-7E / %x80-FF )
 * No obs-fold (a line starting with SP or HTAB), no bare LF or CR, no empty
 * line before the request line, no whitespace before a colon. Exactly one
 * Host header, whose value, without leading and trailing SP and HTAB, is a
 * host name that passes dnsname_check() and optionally ":port", port 1 to
 * 65535 in digits. IP addresses (dotted, bracketed IPv6, or any name whose
 * last label is a number, as browsers read "127.1") are refused: we route by
 * name only.
 */
#ifndef HOMEPORT_HTTPHEAD_H
#define HOMEPORT_HTTPHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "dnsname.h"

#define HTTPHEAD_MAX 8192		/* request line + headers + blank line */

enum httphead_status {
	HTTPHEAD_MORE = 0,		/* a valid start of a head: read more */
	HTTPHEAD_HOST = 1,		/* a complete head; *h_r is filled */
	HTTPHEAD_INVALID = -1,		/* not a head we route; h_r->error says why */
};

struct httphead {
	char host[DNSNAME_MAX + 1];	/* lowercased host name, port removed, NUL-terminated */
	uint16_t port;			/* from Host, 0 if none */
	size_t head_len;		/* bytes up to and including the blank line */
	size_t method_len;		/* the method is in[0..method_len) */
	size_t target_off, target_len;	/* the request target is in[target_off..+target_len) */
	const char *error;		/* static text for HTTPHEAD_INVALID */
};

/*
 * Parse the request head at in[0..len), the first bytes of a connection
 * (bytes after the head, a body or a pipelined request, are not looked
 * at). Returns HTTPHEAD_HOST with *h_r filled; HTTPHEAD_MORE if in[0..len)
 * is a valid start of a head and shorter than HTTPHEAD_MAX; HTTPHEAD_INVALID
 * with h_r->error set as soon as the bytes cannot start a valid head, or
 * when HTTPHEAD_MAX bytes hold no complete head. Every field of *h_r other
 * than error is unspecified unless HTTPHEAD_HOST. Pure.
 */
enum httphead_status httphead_parse(const uint8_t *in, size_t len, struct httphead *h_r);

/*
 * Complete responses, headers and body, NUL-terminated, that the edge sends
 * before closing when it cannot route the request:
 *   misdirected  421: no home has that host name;
 *   bad_request  400: HTTPHEAD_INVALID;
 *   unavailable  503, with Retry-After: 60: the home is not connected.
 * Each has Content-Length and Connection: close.
 */
extern const char httphead_reply_misdirected[];
extern const char httphead_reply_bad_request[];
extern const char httphead_reply_unavailable[];

#endif
