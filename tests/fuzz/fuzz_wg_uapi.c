/*
 * Fuzz target: WireGuard UAPI replies (wg_uapi_parse_get, wg_uapi_parse_errno).
 * A get reply that parses must be framed as one (ending in its empty line),
 * within the limits, with sane addresses; each of its peers, formatted as a
 * set_peer request and read back, must be the same peer. A set reply that
 * parses is "errno=N\n\n" with N >= 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include "addr.h"
#include "fuzz.h"
#include "wg.h"
#include "wg_uapi.h"

#define FUZZ_WG_UAPI_ROUND_TRIPS 8	/* peers read back per input */

static void
fuzz_check_peer(const struct wg_peer *p)
{
	if (p->n_allowed_ips > WG_ALLOWED_IPS_MAX)
		__builtin_trap();
	if (p->endpoint.len != 0 && p->endpoint.len != sizeof(struct sockaddr_in) &&
	    p->endpoint.len != sizeof(struct sockaddr_in6))
		__builtin_trap();
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		const struct cidr *c = &p->allowed_ips[i];
		if (!(c->family == AF_INET && c->prefix <= 32) &&
		    !(c->family == AF_INET6 && c->prefix <= 128))
			__builtin_trap();
	}
}

/* The peer, as a set_peer request turned into a reply, reads back the same. */
static void
fuzz_round_trip(const struct wg_peer *p)
{
	char req[WG_UAPI_REQUEST_MAX], reply[WG_UAPI_REQUEST_MAX + 16], err[256];
	struct wg_device dev;
	const struct wg_peer *q;
	int n = wg_uapi_format_set_peer(p, req, sizeof(req)), m;

	if (n < 2)
		__builtin_trap();
	m = snprintf(reply, sizeof(reply), "%.*serrno=0\n\n", n - 1, req);
	if (m < 0 || (size_t)m >= sizeof(reply))
		__builtin_trap();
	memset(&dev, 0, sizeof(dev));
	if (wg_uapi_parse_get(reply, (size_t)m, &dev, err, sizeof(err)) != 0 || dev.npeers != 1)
		__builtin_trap();
	q = &dev.peers[0];
	if (memcmp(q->public_key, p->public_key, WG_KEY_LEN) != 0 || q->keepalive != p->keepalive ||
	    q->n_allowed_ips != p->n_allowed_ips || (q->endpoint.len == 0) != (p->endpoint.len == 0) ||
	    (p->endpoint.len != 0 && !addr_equal(&q->endpoint, &p->endpoint)) ||
	    memcmp(q->allowed_ips, p->allowed_ips, p->n_allowed_ips * sizeof(struct cidr)) != 0)
		__builtin_trap();
	wg_device_clear(&dev);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct wg_device dev;
	char err[256];
	int err_no = -1;

	memset(&dev, 0, sizeof(dev));
	err[0] = '\0';
	if (wg_uapi_parse_get(text, size, &dev, err, sizeof(err)) == 0) {
		if (size < 2 || text[size - 1] != '\n' || text[size - 2] != '\n')
			__builtin_trap();
		if (dev.npeers > WG_PEERS_MAX || dev.npeers > dev.peers_cap)
			__builtin_trap();
		for (size_t i = 0; i < dev.npeers; i++) {
			fuzz_check_peer(&dev.peers[i]);
			if (i < FUZZ_WG_UAPI_ROUND_TRIPS)
				fuzz_round_trip(&dev.peers[i]);
		}
	} else if (err[0] == '\0') {
		/* Every refusal says why. */
		__builtin_trap();
	}
	wg_device_clear(&dev);

	if (wg_uapi_parse_errno(text, size, &err_no) == 0 &&
	    (err_no < 0 || size < 9 || memcmp(text, "errno=", 6) != 0 || text[size - 1] != '\n' ||
	     text[size - 2] != '\n'))
		__builtin_trap();
	return 0;
}
