/*
 * clienthello: the server name (SNI) of a TLS ClientHello, read from the
 * first bytes a client sends, so that the edge can route the connection
 * without terminating TLS.
 *
 * The ClientHello may be split over several handshake records and arrive
 * over several reads: the caller keeps every byte it has read (at most
 * CLIENTHELLO_WIRE_MAX are looked at) and parses them all again after each
 * read until the answer is not CLIENTHELLO_MORE. Nothing is consumed: on
 * success the caller forwards all the bytes, including any that follow the
 * ClientHello.
 */
#ifndef HOMEPORT_CLIENTHELLO_H
#define HOMEPORT_CLIENTHELLO_H

#include <stddef.h>
#include <stdint.h>

#include "dnsname.h"

#define CLIENTHELLO_MAX 16384	/* handshake message bytes (4-byte header included) we reassemble */
#define CLIENTHELLO_WIRE_MAX 20480	/* record bytes we read before giving up (headers of many small records included) */

enum clienthello_status {
	CLIENTHELLO_MORE = 0,		/* need more bytes */
	CLIENTHELLO_SNI = 1,		/* a ClientHello with a valid server name: ch_r->sni */
	CLIENTHELLO_NO_SNI = 2,		/* a valid ClientHello without a server_name extension */
	CLIENTHELLO_INVALID = -1,	/* not a TLS ClientHello, malformed, too large, or a bad name: ch_r->error */
};

struct clienthello {
	char sni[DNSNAME_MAX + 1];	/* NUL-terminated host name as sent (checked with dnsname_check) */
	size_t sni_len;
	const char *error;		/* static text for CLIENTHELLO_INVALID, else NULL */
};

/*
 * Parse the first len bytes a client sent (the caller keeps everything it
 * read and calls again with more). Pure: reads in[0..len) and nothing past
 * it, writes only *ch_r, which it clears first (sni "" unless
 * CLIENTHELLO_SNI, error NULL unless CLIENTHELLO_INVALID).
 *
 * Accepts handshake records (type 22, version 3.x, 1 to 16384 bytes)
 * carrying one client_hello message of at most CLIENTHELLO_MAX bytes,
 * complete within the first CLIENTHELLO_WIRE_MAX bytes. The server name is
 * the first entry of the server_name extension, which must be a host_name
 * that passes dnsname_check(name, len, 0); it is given as sent (not folded
 * to lowercase).
 *
 * Returns CLIENTHELLO_MORE while in[0..len) is a valid beginning (a bad
 * record header or message header is refused as soon as its bytes arrive),
 * CLIENTHELLO_SNI or CLIENTHELLO_NO_SNI once the whole message has arrived
 * and is valid, CLIENTHELLO_INVALID otherwise. Once an answer is not
 * CLIENTHELLO_MORE, more bytes do not change it.
 */
enum clienthello_status clienthello_parse(const uint8_t *in, size_t len, struct clienthello *ch_r);

/* A fatal TLS alert record unrecognized_name(112), to send before closing when no route exists. */
#define CLIENTHELLO_ALERT_LEN 7
extern const uint8_t clienthello_alert_unrecognized_name[CLIENTHELLO_ALERT_LEN];

#endif
