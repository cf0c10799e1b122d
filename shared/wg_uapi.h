/*
 * wg_uapi: WireGuard's cross-platform userspace interface (wireguard-go).
 *
 * A Unix socket at WG_UAPI_DIR/IFNAME.sock speaks lines of "key=value":
 * a request is "get=1" or "set=1" and its keys, ended by an empty line; the
 * reply is the device's keys (for get) and "errno=N", ended by an empty
 * line. Keys are lowercase hex. The parsers and formatters here are pure;
 * wg_uapi_get() and wg_uapi_set() do the socket I/O.
 */
#ifndef HOMEPORT_WG_UAPI_H
#define HOMEPORT_WG_UAPI_H

#include <stddef.h>
#include <stdint.h>

#include "wg.h"

#define WG_UAPI_REPLY_MAX (8 * 1024 * 1024)	/* a get reply with WG_PEERS_MAX peers fits */
#define WG_UAPI_REQUEST_MAX 8192		/* one device or one peer */
#define WG_UAPI_LINE_MAX 256			/* one key=value line */
#define WG_UAPI_TIMEOUT_MS 5000

/*
 * Parse a get reply (text[0..len), everything up to and including the empty
 * line) into *dev, which must be zeroed or cleared. The device's public key
 * is derived from its private key. Returns 0 when the reply is complete and
 * says errno=0; -1 with err set for a malformed reply (naming the line) or
 * a nonzero errno. On -1, *dev may hold part of the reply: clear it.
 */
int wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev, char *err,
		      size_t errcap);

/*
 * Parse a set reply: exactly "errno=N\n\n". wireguard-go writes the
 * negated errno (errno=-22 for EINVAL): *errno_r is |N|, in both parsers.
 * Returns 0 and sets *errno_r, or -1 if the reply is malformed.
 */
int wg_uapi_parse_errno(const char *text, size_t len, int *errno_r);

/*
 * Requests, written with a NUL into out[0..cap). Return the length, or -1
 * if cap is too small (set_device then wipes out[0..cap): it may have
 * held part of the key). set_device: private_key NULL keeps the key,
 * listen_port -1 keeps the port. set_peer: adds or updates the peer,
 * replacing its allowed IPs. remove_peer: removes it.
 */
int wg_uapi_format_set_device(const uint8_t *private_key, int listen_port, char *out, size_t cap);
int wg_uapi_format_set_peer(const struct wg_peer *peer, char *out, size_t cap);
int wg_uapi_format_remove_peer(const uint8_t public_key[WG_KEY_LEN], char *out, size_t cap);

/* Socket I/O: read the device, or send a set request. Return 0, or -1 with err set. */
int wg_uapi_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap);
int wg_uapi_set(const char *ifname, const char *request, char *err, size_t errcap);

#endif
