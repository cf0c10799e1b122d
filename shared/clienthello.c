#include "clienthello.h"

#include <string.h>

#include "cursor.h"

/* TLS wire constants (RFC 8446 5.1, 4; RFC 6066 3). */
#define CLIENTHELLO_RECORD_HANDSHAKE 22
#define CLIENTHELLO_RECORD_ALERT 21
#define CLIENTHELLO_VERSION_MAJOR 3
#define CLIENTHELLO_RECORD_MAX 16384	/* TLSPlaintext.length */
#define CLIENTHELLO_HEADER_LEN 4	/* handshake type and 24-bit length */
#define CLIENTHELLO_TYPE 1		/* HandshakeType client_hello */
#define CLIENTHELLO_RANDOM_LEN 32
#define CLIENTHELLO_SESSION_ID_MAX 32
#define CLIENTHELLO_EXT_SERVER_NAME 0
#define CLIENTHELLO_NAME_HOST 0		/* NameType host_name */
#define CLIENTHELLO_ALERT_FATAL 2
#define CLIENTHELLO_ALERT_UNRECOGNIZED_NAME 112

/*
 * Record version 3.3 (TLS 1.2), as TLS 1.3 servers write every record; all
 * the TLS versions our profile speaks accept it.
 */
const uint8_t clienthello_alert_unrecognized_name[CLIENTHELLO_ALERT_LEN] = {
	CLIENTHELLO_RECORD_ALERT, CLIENTHELLO_VERSION_MAJOR, 3,
	0, 2,
	CLIENTHELLO_ALERT_FATAL, CLIENTHELLO_ALERT_UNRECOGNIZED_NAME,
};

static enum clienthello_status
clienthello_invalid(struct clienthello *ch_r, const char *why)
{
	ch_r->sni[0] = '\0';
	ch_r->sni_len = 0;
	ch_r->error = why;
	return CLIENTHELLO_INVALID;
}

/*
 * After more of the message arrived in msg[0..have): check its type and,
 * once the 4-byte header is there, its length, and set *need_r to the
 * whole message's size. Returns 0, or -1 with *why_r.
 */
static int
clienthello_header(const uint8_t *msg, size_t have, size_t *need_r, const char **why_r)
{
	struct cursor h = cursor_init(msg, have);
	uint32_t body_len;
	uint8_t type;

	if (cursor_u8(&h, &type) != 0)
		return 0;
	if (type != CLIENTHELLO_TYPE)
		return *why_r = "handshake message is not a ClientHello", -1;
	if (cursor_u24be(&h, &body_len) != 0)
		return 0;
	if (body_len > CLIENTHELLO_MAX - CLIENTHELLO_HEADER_LEN)
		return *why_r = "ClientHello longer than CLIENTHELLO_MAX", -1;
	*need_r = CLIENTHELLO_HEADER_LEN + body_len;
	return 0;
}

/*
 * Reassemble the handshake message from the records in the first
 * CLIENTHELLO_WIRE_MAX bytes of in[0..len) into msg[0..CLIENTHELLO_MAX).
 * Bytes after the end of the message are not looked at. Returns 1 with
 * *msg_len_r when the message is complete, 0 when more bytes are needed,
 * -1 with *why_r when the bytes cannot begin a ClientHello.
 */
static int
clienthello_gather(const uint8_t *in, size_t len, uint8_t *msg, size_t *msg_len_r,
		   const char **why_r)
{
	struct cursor wire = cursor_init(in, len < CLIENTHELLO_WIRE_MAX ? len : CLIENTHELLO_WIRE_MAX);
	size_t have = 0, need = CLIENTHELLO_HEADER_LEN;

	for (;;) {
		struct cursor rec;
		uint16_t rec_len;
		uint8_t type, major, minor;

		if (cursor_u8(&wire, &type) != 0)
			break;
		if (type != CLIENTHELLO_RECORD_HANDSHAKE)
			return *why_r = "not a TLS handshake record", -1;
		if (cursor_u8(&wire, &major) != 0)
			break;
		if (major != CLIENTHELLO_VERSION_MAJOR)
			return *why_r = "record version is not TLS", -1;
		if (cursor_u8(&wire, &minor) != 0 || cursor_u16be(&wire, &rec_len) != 0)
			break;
		if (rec_len == 0 || rec_len > CLIENTHELLO_RECORD_MAX)
			return *why_r = "record length out of range", -1;
		/* The record, or as much of it as has arrived. */
		if (cursor_sub(&wire, rec_len < wire.left ? rec_len : wire.left, &rec) != 0)
			break;
		while (rec.left > 0 && have < need) {
			size_t n = need - have < rec.left ? need - have : rec.left;

			if (cursor_copy(&rec, &msg[have], n) != 0)
				return *why_r = "internal error", -1;
			have += n;
			if (clienthello_header(msg, have, &need, why_r) != 0)
				return -1;
		}
		if (have == need) {
			*msg_len_r = have;
			return 1;
		}
	}
	if (len > CLIENTHELLO_WIRE_MAX)
		return *why_r = "no complete ClientHello in CLIENTHELLO_WIRE_MAX bytes", -1;
	return 0;
}

/* The server_name extension's body: the first entry of its list, a host name. */
static enum clienthello_status
clienthello_server_name(struct cursor ext, struct clienthello *ch_r)
{
	struct cursor name;
	uint16_t list_len, name_len;
	uint8_t type;

	if (ext.left == 0)
		return clienthello_invalid(ch_r, "empty server_name extension");
	if (cursor_u16be(&ext, &list_len) != 0 || list_len != ext.left)
		return clienthello_invalid(ch_r, "server_name list length does not match its extension");
	if (cursor_u8(&ext, &type) != 0)
		return clienthello_invalid(ch_r, "empty server_name list");
	if (type != CLIENTHELLO_NAME_HOST)
		return clienthello_invalid(ch_r, "server name type is not host_name");
	if (cursor_u16be(&ext, &name_len) != 0 || cursor_sub(&ext, name_len, &name) != 0)
		return clienthello_invalid(ch_r, "server name overruns its list");
	if (dnsname_check((const char *)name.p, name.left, 0) != 0)
		return clienthello_invalid(ch_r, "bad server name (not a host name)");
	ch_r->sni_len = name.left;
	if (cursor_copy(&name, ch_r->sni, ch_r->sni_len) != 0)
		return clienthello_invalid(ch_r, "internal error");
	ch_r->sni[ch_r->sni_len] = '\0';
	return CLIENTHELLO_SNI;
}

/* The ClientHello after its 4-byte header (RFC 8446 4.1.2). */
static enum clienthello_status
clienthello_body(struct cursor body, struct clienthello *ch_r)
{
	enum clienthello_status rc;
	uint16_t version, n16;
	uint8_t n8;
	int seen_sni = 0;

	if (cursor_u16be(&body, &version) != 0 || cursor_skip(&body, CLIENTHELLO_RANDOM_LEN) != 0)
		return clienthello_invalid(ch_r, "ClientHello truncated");
	if (version >> 8 != CLIENTHELLO_VERSION_MAJOR)
		return clienthello_invalid(ch_r, "ClientHello version is not TLS");
	if (cursor_u8(&body, &n8) != 0 || n8 > CLIENTHELLO_SESSION_ID_MAX ||
	    cursor_skip(&body, n8) != 0)
		return clienthello_invalid(ch_r, "bad session id");
	if (cursor_u16be(&body, &n16) != 0 || n16 < 2 || n16 % 2 != 0 || cursor_skip(&body, n16) != 0)
		return clienthello_invalid(ch_r, "bad cipher suites");
	if (cursor_u8(&body, &n8) != 0 || n8 < 1 || cursor_skip(&body, n8) != 0)
		return clienthello_invalid(ch_r, "bad compression methods");
	if (body.left == 0)
		return CLIENTHELLO_NO_SNI;
	if (cursor_u16be(&body, &n16) != 0 || n16 != body.left)
		return clienthello_invalid(ch_r, "extensions length does not match the ClientHello");
	while (body.left > 0) {
		struct cursor ext;
		uint16_t type, ext_len;

		if (cursor_u16be(&body, &type) != 0 || cursor_u16be(&body, &ext_len) != 0 ||
		    cursor_sub(&body, ext_len, &ext) != 0)
			return clienthello_invalid(ch_r, "extension overruns the ClientHello");
		if (type != CLIENTHELLO_EXT_SERVER_NAME)
			continue;
		if (seen_sni)
			return clienthello_invalid(ch_r, "duplicate server_name extension");
		seen_sni = 1;
		rc = clienthello_server_name(ext, ch_r);
		if (rc != CLIENTHELLO_SNI)
			return rc;
	}
	return seen_sni ? CLIENTHELLO_SNI : CLIENTHELLO_NO_SNI;
}

enum clienthello_status
clienthello_parse(const uint8_t *in, size_t len, struct clienthello *ch_r)
{
	uint8_t msg[CLIENTHELLO_MAX];
	struct cursor body;
	const char *why = NULL;
	size_t msg_len = 0;
	int rc;

	memset(ch_r, 0, sizeof(*ch_r));
	rc = clienthello_gather(in, len, msg, &msg_len, &why);
	if (rc < 0)
		return clienthello_invalid(ch_r, why);
	if (rc == 0)
		return CLIENTHELLO_MORE;
	body = cursor_init(msg, msg_len);
	if (cursor_skip(&body, CLIENTHELLO_HEADER_LEN) != 0)
		return clienthello_invalid(ch_r, "internal error");
	return clienthello_body(body, ch_r);
}
