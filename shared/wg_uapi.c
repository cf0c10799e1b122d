#include "wg_uapi.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "hex.h"
#include "num.h"

/* ---- parsing (pure) ---- */

static int
wg_uapi_key(const char *v, size_t len, uint8_t out[WG_KEY_LEN])
{
	size_t n;

	return len == 2 * WG_KEY_LEN && hex_decode(v, len, out, WG_KEY_LEN, &n) == 0 &&
	       n == WG_KEY_LEN ? 0 : -1;
}

static int
wg_uapi_u64(const char *v, size_t len, uint64_t max, uint64_t *out)
{
	int64_t x;

	/* Counters fit int64 in practice; larger is treated as malformed. */
	if (num_parse_i64(v, len, 0, max > INT64_MAX ? INT64_MAX : (int64_t)max, &x) != 0)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

/* errno=N: wireguard-go writes the negated errno (errno=-22); either sign means errno |N|. */
static int
wg_uapi_errno(const char *v, size_t len, int *errno_r)
{
	int64_t x;

	if (num_parse_i64(v, len, -INT32_MAX, INT32_MAX, &x) != 0)
		return -1;
	*errno_r = (int)(x < 0 ? -x : x);
	return 0;
}

static int
wg_uapi_is(const char *key, size_t key_len, const char *word)
{
	return strlen(word) == key_len && memcmp(key, word, key_len) == 0;
}

/* Apply one key=value of a get reply. Returns 0, 1 for "errno" (n in *errno_r), or -1. */
static int
wg_uapi_apply(struct wg_device *dev, struct wg_peer **peer, const char *k, size_t klen,
	      const char *v, size_t vlen, int *errno_r, const char **why)
{
	uint64_t n;
	struct wg_peer *p = *peer;

	if (wg_uapi_is(k, klen, "errno")) {
		if (wg_uapi_errno(v, vlen, errno_r) != 0)
			return *why = "bad errno", -1;
		return 1;
	}
	if (wg_uapi_is(k, klen, "public_key")) {
		p = wg_device_add_peer(dev);
		if (p == NULL)
			return *why = "too many peers", -1;
		if (wg_uapi_key(v, vlen, p->public_key) != 0)
			return *why = "bad public_key", -1;
		*peer = p;
		return 0;
	}
	if (p == NULL) {
		/* Device keys come before the first peer. */
		if (wg_uapi_is(k, klen, "private_key")) {
			if (wg_uapi_key(v, vlen, dev->private_key) != 0)
				return *why = "bad private_key", -1;
			dev->has_private_key = 1;
		} else if (wg_uapi_is(k, klen, "listen_port")) {
			if (wg_uapi_u64(v, vlen, UINT16_MAX, &n) != 0)
				return *why = "bad listen_port", -1;
			dev->listen_port = (uint16_t)n;
		} else if (wg_uapi_is(k, klen, "fwmark")) {
			if (wg_uapi_u64(v, vlen, UINT32_MAX, &n) != 0)
				return *why = "bad fwmark", -1;
			dev->fwmark = (uint32_t)n;
		} else if (!wg_uapi_is(k, klen, "protocol_version")) {
			/* Unknown device keys are skipped, so newer servers still work. */
		}
		return 0;
	}
	if (wg_uapi_is(k, klen, "endpoint")) {
		if (addr_parse(v, vlen, ADDR_PORT_REQUIRED, &p->endpoint) != 0)
			return *why = "bad endpoint", -1;
	} else if (wg_uapi_is(k, klen, "allowed_ip")) {
		if (p->n_allowed_ips == WG_ALLOWED_IPS_MAX)
			return *why = "too many allowed_ip", -1;
		if (cidr_parse(v, vlen, &p->allowed_ips[p->n_allowed_ips]) != 0)
			return *why = "bad allowed_ip", -1;
		p->n_allowed_ips++;
	} else if (wg_uapi_is(k, klen, "persistent_keepalive_interval")) {
		if (wg_uapi_u64(v, vlen, UINT16_MAX, &n) != 0)
			return *why = "bad persistent_keepalive_interval", -1;
		p->keepalive = (uint16_t)n;
	} else if (wg_uapi_is(k, klen, "rx_bytes")) {
		if (wg_uapi_u64(v, vlen, UINT64_MAX, &p->rx_bytes) != 0)
			return *why = "bad rx_bytes", -1;
	} else if (wg_uapi_is(k, klen, "tx_bytes")) {
		if (wg_uapi_u64(v, vlen, UINT64_MAX, &p->tx_bytes) != 0)
			return *why = "bad tx_bytes", -1;
	} else if (wg_uapi_is(k, klen, "last_handshake_time_sec")) {
		if (wg_uapi_u64(v, vlen, INT64_MAX, &n) != 0)
			return *why = "bad last_handshake_time_sec", -1;
		p->last_handshake_sec = (int64_t)n;
	}
	/* preshared_key, last_handshake_time_nsec, protocol_version and unknown keys: skipped. */
	return 0;
}

int
wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev, char *err, size_t errcap)
{
	struct wg_peer *peer = NULL;
	const char *why = NULL;
	size_t pos = 0;
	unsigned line = 0;
	int err_no = -1;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		const char *l = text + pos, *eq;
		size_t l_len;
		int rc;

		line++;
		if (nl == NULL) {
			why = "unterminated line";
			goto fail;
		}
		l_len = (size_t)(nl - l);
		pos += l_len + 1;
		if (l_len == 0) {
			/* The empty line ends the reply; nothing may follow, errno must precede. */
			if (pos != len) {
				why = "text after the end of the reply";
				goto fail;
			}
			if (err_no < 0) {
				why = "reply without errno";
				goto fail;
			}
			if (err_no != 0) {
				snprintf(err, errcap, "wireguard: errno=%d (%s)", err_no, strerror(err_no));
				return -1;
			}
			if (dev->has_private_key)
				crypto_scalarmult_base(dev->public_key, dev->private_key);
			return 0;
		}
		if (l_len > WG_UAPI_LINE_MAX || (eq = memchr(l, '=', l_len)) == NULL || eq == l) {
			why = "expected key=value";
			goto fail;
		}
		if (err_no >= 0) {
			why = "errno must be the last key";
			goto fail;
		}
		rc = wg_uapi_apply(dev, &peer, l, (size_t)(eq - l), eq + 1, l_len - (size_t)(eq - l) - 1,
				   &err_no, &why);
		if (rc < 0)
			goto fail;
	}
	why = "reply ends without an empty line";
	line++;
fail:
	snprintf(err, errcap, "wireguard UAPI reply, line %u: %s", line, why);
	return -1;
}

int
wg_uapi_parse_errno(const char *text, size_t len, int *errno_r)
{
	static const char prefix[] = "errno=";

	if (len < sizeof(prefix) - 1 + 3 || memcmp(text, prefix, sizeof(prefix) - 1) != 0 ||
	    text[len - 1] != '\n' || text[len - 2] != '\n')
		return -1;
	return wg_uapi_errno(text + sizeof(prefix) - 1, len - 2 - (sizeof(prefix) - 1), errno_r);
}

/* ---- formatting (pure) ---- */

/* Append printf output at *o; -1 once out of room. */
static int wg_uapi_put(char *out, size_t cap, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
wg_uapi_put(char *out, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= cap)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(out + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

int
wg_uapi_format_set_device(const uint8_t *private_key, int listen_port, char *out, size_t cap)
{
	char hex[HEX_ENCODED_SIZE(WG_KEY_LEN)];
	size_t o = 0;
	int rc = -1;

	if (wg_uapi_put(out, cap, &o, "set=1\n") != 0)
		goto out;
	if (private_key != NULL) {
		hex_encode(private_key, WG_KEY_LEN, hex, sizeof(hex));
		if (wg_uapi_put(out, cap, &o, "private_key=%s\n", hex) != 0)
			goto out;
	}
	if (listen_port >= 0 && wg_uapi_put(out, cap, &o, "listen_port=%d\n", listen_port) != 0)
		goto out;
	if (wg_uapi_put(out, cap, &o, "\n") != 0)
		goto out;
	rc = (int)o;
out:
	sodium_memzero(hex, sizeof(hex));
	/* The failed write was cut short past o and may hold part of the key. */
	if (rc < 0 && cap > 0)
		sodium_memzero(out, cap);
	return rc;
}

int
wg_uapi_format_set_peer(const struct wg_peer *peer, char *out, size_t cap)
{
	char hex[HEX_ENCODED_SIZE(WG_KEY_LEN)], text[ADDR_TEXT_MAX];
	size_t o = 0;

	hex_encode(peer->public_key, WG_KEY_LEN, hex, sizeof(hex));
	if (wg_uapi_put(out, cap, &o, "set=1\npublic_key=%s\nreplace_allowed_ips=true\n"
				      "persistent_keepalive_interval=%u\n", hex,
			(unsigned)peer->keepalive) != 0)
		return -1;
	if (peer->endpoint.len != 0 &&
	    wg_uapi_put(out, cap, &o, "endpoint=%s\n",
			addr_format(&peer->endpoint, text, sizeof(text))) != 0)
		return -1;
	for (size_t i = 0; i < peer->n_allowed_ips && i < WG_ALLOWED_IPS_MAX; i++) {
		if (wg_uapi_put(out, cap, &o, "allowed_ip=%s\n",
				cidr_format(&peer->allowed_ips[i], text, sizeof(text))) != 0)
			return -1;
	}
	if (wg_uapi_put(out, cap, &o, "\n") != 0)
		return -1;
	return (int)o;
}

int
wg_uapi_format_remove_peer(const uint8_t public_key[WG_KEY_LEN], char *out, size_t cap)
{
	char hex[HEX_ENCODED_SIZE(WG_KEY_LEN)];
	size_t o = 0;

	hex_encode(public_key, WG_KEY_LEN, hex, sizeof(hex));
	if (wg_uapi_put(out, cap, &o, "set=1\npublic_key=%s\nremove=true\n\n", hex) != 0)
		return -1;
	return (int)o;
}

/* ---- socket I/O ---- */

static int
wg_uapi_connect(const char *ifname, char *err, size_t errcap)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", WG_UAPI_DIR, ifname) >=
	    (int)sizeof(sun.sun_path)) {
		snprintf(err, errcap, "%s: interface name too long", ifname);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errcap, "%s: cannot connect to %s: %s", ifname, sun.sun_path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int64_t
wg_uapi_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Send request, read the reply up to and including its empty line into a
 * malloc'd buffer (caller frees). Returns 0, or -1 with err set.
 */
static int
wg_uapi_exchange(const char *ifname, const char *request, char **reply_r, size_t *len_r, char *err,
		 size_t errcap)
{
	size_t cap = 4096, len = 0, req_len = strlen(request), sent = 0;
	int64_t deadline = wg_uapi_now_ms() + WG_UAPI_TIMEOUT_MS;
	char *buf = NULL;
	int fd, rc = -1;

	fd = wg_uapi_connect(ifname, err, errcap);
	if (fd < 0)
		return -1;
	while (sent < req_len) {
		ssize_t n = send(fd, request + sent, req_len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errcap, "%s: cannot send to wireguard: %s", ifname, strerror(errno));
			goto out;
		}
		sent += (size_t)n;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	/* The reply ends with an empty line: "\n\n" (or a lone "\n"). */
	while (!(len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n') &&
	       !(len == 1 && buf[0] == '\n')) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - wg_uapi_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			snprintf(err, errcap, "%s: wireguard did not answer within %d ms", ifname,
				 WG_UAPI_TIMEOUT_MS);
			goto out;
		}
		if (len == cap) {
			char *grown;
			if (cap >= WG_UAPI_REPLY_MAX) {
				snprintf(err, errcap, "%s: wireguard reply larger than %d bytes", ifname,
					 WG_UAPI_REPLY_MAX);
				goto out;
			}
			grown = realloc(buf, cap * 2);
			if (grown == NULL) {
				snprintf(err, errcap, "out of memory");
				goto out;
			}
			buf = grown;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errcap, "%s: wireguard closed the connection mid-reply%s%s", ifname,
				 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto out;
		}
		len += (size_t)n;
	}
	*reply_r = buf;
	*len_r = len;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	close(fd);
	return rc;
}

int
wg_uapi_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap)
{
	char *reply = NULL;
	size_t len = 0;
	int rc;

	if (wg_uapi_exchange(ifname, "get=1\n\n", &reply, &len, err, errcap) != 0)
		return -1;
	rc = wg_uapi_parse_get(reply, len, dev, err, errcap);
	if (rc == 0)
		snprintf(dev->name, sizeof(dev->name), "%s", ifname);
	sodium_memzero(reply, len);	/* it held the private key */
	free(reply);
	return rc;
}

int
wg_uapi_set(const char *ifname, const char *request, char *err, size_t errcap)
{
	char *reply = NULL;
	size_t len = 0;
	int err_no, rc = -1;

	if (wg_uapi_exchange(ifname, request, &reply, &len, err, errcap) != 0)
		return -1;
	if (wg_uapi_parse_errno(reply, len, &err_no) != 0)
		snprintf(err, errcap, "%s: malformed reply from wireguard", ifname);
	else if (err_no != 0)
		snprintf(err, errcap, "%s: wireguard refused the change: errno=%d (%s)", ifname, err_no,
			 strerror(err_no));
	else
		rc = 0;
	free(reply);
	return rc;
}
