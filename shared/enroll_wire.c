#include "enroll_wire.h"

#include <string.h>

#include <sodium.h>

#include "cursor.h"

#define ENROLL_B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define ENROLL_PREFIX_LEN (sizeof(ENROLL_TOKEN_PREFIX) - 1)
/* The token binary: version, box_pk, family, port, invite_id, secret, check; then the address. */
#define ENROLL_TOKEN_FIXED_LEN \
	(1 + ENROLL_KEY_LEN + 1 + 2 + ENROLL_INVITE_ID_LEN + ENROLL_SECRET_LEN + ENROLL_TOKEN_CHECK_LEN)
#define ENROLL_TOKEN_FAMILY_AT (1 + ENROLL_KEY_LEN)

_Static_assert(ENROLL_SEAL_OVERHEAD == crypto_box_SEALBYTES, "seal overhead");
_Static_assert(ENROLL_KEY_LEN == crypto_box_PUBLICKEYBYTES, "box key length");
_Static_assert(ENROLL_MAC_LEN == crypto_generichash_BYTES, "MAC length");
_Static_assert(ENROLL_SECRET_LEN >= crypto_generichash_KEYBYTES_MIN &&
	       ENROLL_SECRET_LEN <= crypto_generichash_KEYBYTES_MAX, "MAC key length");
_Static_assert(ENROLL_TOKEN_BIN_MAX == ENROLL_TOKEN_FIXED_LEN + 16, "token binary length");
_Static_assert(ENROLL_TOKEN_TEXT_MAX ==
	       ENROLL_PREFIX_LEN + sodium_base64_ENCODED_LEN(ENROLL_TOKEN_BIN_MAX, ENROLL_B64_VARIANT) - 1,
	       "token text length");
_Static_assert(ENROLL_REQUEST_PLAIN_MAX + ENROLL_SEAL_OVERHEAD <= ENROLL_MSG_MAX, "request fits");
_Static_assert(ENROLL_RESPONSE_PLAIN_MAX + ENROLL_SEAL_OVERHEAD <= ENROLL_MSG_MAX, "response fits");
_Static_assert(ENROLL_MSG_MAX <= 0xffff, "frame length field");
_Static_assert(ENROLL_TXT_LEN == sizeof(ENROLL_TXT_PREFIX) - 1 +
	       sodium_base64_ENCODED_LEN(crypto_generichash_BYTES, ENROLL_B64_VARIANT) - 1, "TXT text length");
_Static_assert(ENROLL_TXT_HOST_MAX + sizeof(ENROLL_TXT_LABEL) == DNSNAME_MAX, "TXT owner length");
_Static_assert(ENROLL_HOSTS_MAX <= 255 && ENROLL_MESSAGE_MAX <= 255 && DNSNAME_MAX <= 255,
	       "one-byte counts");

static const uint8_t enroll_request_magic[4] = { 'H', 'P', 'R', 'Q' };
static const uint8_t enroll_response_magic[4] = { 'H', 'P', 'R', 'S' };
static const uint8_t enroll_v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ---- writing ------------------------------------------------------------- */

/* A writer into out[0..cap) whose first overflow sticks: check full once at the end. */
struct enroll_out {
	uint8_t *p;
	size_t cap;
	size_t len;
	int full;
};

static void
enroll_put(struct enroll_out *o, const void *b, size_t n)
{
	if (o->full || o->cap - o->len < n) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, b, n);
	o->len += n;
}

static void
enroll_put_u8(struct enroll_out *o, unsigned v)
{
	uint8_t b = (uint8_t)v;

	enroll_put(o, &b, 1);
}

static void
enroll_put_u16(struct enroll_out *o, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	enroll_put(o, b, sizeof(b));
}

static void
enroll_put_u64(struct enroll_out *o, uint64_t v)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
	enroll_put(o, b, sizeof(b));
}

/* ---- checks that parsers and encoders share -------------------------------- */

/* Bytes of an address (4 or 16, IPv4-mapped as 4), 0 for no address. */
static size_t
enroll_ip(const struct addr *a, uint8_t b[16])
{
	if (a->len == 0)
		return 0;
	return addr_ip_bytes(a, b);
}

/* An endpoint a token or a response may carry: IPv4 or IPv6, specified, with a port. */
static int
enroll_endpoint_ok(const struct addr *a)
{
	uint8_t b[16];
	size_t n = enroll_ip(a, b);

	return n != 0 && !sodium_is_zero(b, n) && addr_port(a) != 0;
}

enum enroll_endpoint_err {
	ENROLL_EP_OK,
	ENROLL_EP_SHORT,	/* input ends inside it */
	ENROLL_EP_FAMILY,	/* not 4 or 6 */
	ENROLL_EP_ADDR,		/* unspecified, or IPv4-mapped IPv6 */
	ENROLL_EP_PORT,		/* port 0 */
};

/* family(1) addr(4|16) port(2) into *a_r. */
static enum enroll_endpoint_err
enroll_get_endpoint(struct cursor *c, struct addr *a_r)
{
	uint8_t family, b[16];
	uint16_t port;
	size_t n;

	if (cursor_u8(c, &family) != 0)
		return ENROLL_EP_SHORT;
	if (family != 4 && family != 6)
		return ENROLL_EP_FAMILY;
	n = family == 4 ? 4 : 16;
	if (cursor_copy(c, b, n) != 0 || cursor_u16be(c, &port) != 0)
		return ENROLL_EP_SHORT;
	if (sodium_is_zero(b, n) ||
	    (n == 16 && memcmp(b, enroll_v4mapped_prefix, sizeof(enroll_v4mapped_prefix)) == 0))
		return ENROLL_EP_ADDR;
	if (port == 0)
		return ENROLL_EP_PORT;
	(void)addr_from_bytes(b, n, port, a_r);
	return ENROLL_EP_OK;
}

/* Write an endpoint that passed enroll_endpoint_ok. */
static void
enroll_put_endpoint(struct enroll_out *o, const struct addr *a)
{
	uint8_t b[16];
	size_t n = enroll_ip(a, b);

	enroll_put_u8(o, n == 4 ? 4 : 6);
	enroll_put(o, b, n);
	enroll_put_u16(o, addr_port(a));
}

static int
enroll_has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 1;
	}
	return 0;
}

/* A list of host names as both messages carry it. */
static int
enroll_hosts_ok(const char (*host)[DNSNAME_MAX + 1], size_t nhost, const char **err_r)
{
	size_t total = 0;

	if (nhost > ENROLL_HOSTS_MAX) {
		*err_r = "too many host names";
		return -1;
	}
	for (size_t i = 0; i < nhost; i++) {
		size_t n = strnlen(host[i], DNSNAME_MAX + 1);

		if (n > DNSNAME_MAX || dnsname_check(host[i], n, 0) != 0) {
			*err_r = "bad host name";
			return -1;
		}
		if (enroll_has_upper(host[i], n)) {
			*err_r = "host name not in lower case";
			return -1;
		}
		total += n;
		if (total > ENROLL_HOSTS_TEXT_MAX) {
			*err_r = "host names too long together";
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(host[i], host[j]) == 0) {
				*err_r = "host name given twice";
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Read nhost(1) and the names into host[], checking what the bytes alone
 * show; enroll_hosts_ok() on the result does the rest.
 */
static int
enroll_get_hosts(struct cursor *c, size_t *nhost_r, char (*host)[DNSNAME_MAX + 1],
		 const char **err_r)
{
	uint8_t nhost, n;

	if (cursor_u8(c, &nhost) != 0)
		goto truncated;
	if (nhost > ENROLL_HOSTS_MAX) {
		*err_r = "too many host names";
		return -1;
	}
	for (size_t i = 0; i < nhost; i++) {
		if (cursor_u8(c, &n) != 0)
			goto truncated;
		if (n == 0 || n > DNSNAME_MAX) {
			*err_r = "bad host name length";
			return -1;
		}
		if (cursor_copy(c, host[i], n) != 0)
			goto truncated;
		host[i][n] = '\0';
		/* Here, on the bytes: a NUL would hide what follows it from the checks. */
		if (dnsname_check(host[i], n, 0) != 0) {
			*err_r = "bad host name";
			return -1;
		}
	}
	*nhost_r = nhost;
	return 0;
truncated:
	*err_r = "message truncated";
	return -1;
}

static void
enroll_put_hosts(struct enroll_out *o, const char (*host)[DNSNAME_MAX + 1], size_t nhost)
{
	enroll_put_u8(o, (unsigned)nhost);
	for (size_t i = 0; i < nhost; i++) {
		size_t n = strlen(host[i]);

		enroll_put_u8(o, (unsigned)n);
		enroll_put(o, host[i], n);
	}
}

/* The response's message: printable ASCII. */
static int
enroll_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* A tenant's name: 1..63 of a-z, 0-9, '-', not starting or ending with '-'. */
static int
enroll_tenant_ok(const char *s, size_t n)
{
	if (n == 0 || n > ENROLL_TENANT_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/* ---- token --------------------------------------------------------------- */

static void
enroll_token_check(const uint8_t *bin, size_t n, uint8_t check[ENROLL_TOKEN_CHECK_LEN])
{
	uint8_t h[crypto_generichash_BYTES];

	crypto_generichash(h, sizeof(h), bin, n, NULL, 0);
	memcpy(check, h, ENROLL_TOKEN_CHECK_LEN);
	sodium_memzero(h, sizeof(h));
}

int
enroll_token_encode(const struct enroll_token *t, char *out, size_t cap)
{
	uint8_t bin[ENROLL_TOKEN_BIN_MAX], check[ENROLL_TOKEN_CHECK_LEN];
	struct enroll_out o = { .p = bin, .cap = sizeof(bin) };
	size_t need;
	int rc = -1;

	if (!enroll_endpoint_ok(&t->control) || sodium_is_zero(t->box_pk, sizeof(t->box_pk)))
		goto fail;
	enroll_put_u8(&o, ENROLL_TOKEN_VERSION);
	enroll_put(&o, t->box_pk, sizeof(t->box_pk));
	enroll_put_endpoint(&o, &t->control);
	enroll_put(&o, t->invite_id, sizeof(t->invite_id));
	enroll_put(&o, t->secret, sizeof(t->secret));
	enroll_token_check(bin, o.len, check);
	enroll_put(&o, check, sizeof(check));
	if (o.full)
		goto fail;
	need = ENROLL_PREFIX_LEN + sodium_base64_ENCODED_LEN(o.len, ENROLL_B64_VARIANT);
	if (cap < need)
		goto fail;
	memcpy(out, ENROLL_TOKEN_PREFIX, ENROLL_PREFIX_LEN);
	sodium_bin2base64(out + ENROLL_PREFIX_LEN, cap - ENROLL_PREFIX_LEN, bin, o.len,
			  ENROLL_B64_VARIANT);
	rc = (int)(need - 1);
fail:
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

static int
enroll_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
enroll_token_parse(const char *text, size_t len, struct enroll_token *t_r, const char **err_r)
{
	uint8_t bin[ENROLL_TOKEN_BIN_MAX], check[ENROLL_TOKEN_CHECK_LEN], family, version;
	const char *b64, *end = NULL;
	unsigned char high = 0;
	struct cursor c;
	size_t b64_len, n = 0;
	int rc = -1;

	memset(t_r, 0, sizeof(*t_r));
	while (len > 0 && enroll_space(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && enroll_space(text[len - 1]))
		len--;
	if (len < ENROLL_PREFIX_LEN || memcmp(text, ENROLL_TOKEN_PREFIX, ENROLL_PREFIX_LEN) != 0) {
		*err_r = "not a Homeport token";
		goto fail;
	}
	b64 = text + ENROLL_PREFIX_LEN;
	b64_len = len - ENROLL_PREFIX_LEN;
	if (b64_len > ENROLL_TOKEN_TEXT_MAX - ENROLL_PREFIX_LEN) {
		*err_r = "token damaged (too long)";
		goto fail;
	}
	/* libsodium 1.0.18 takes bytes from 0x80 up for digits (see b64.c); refuse them first. */
	for (size_t i = 0; i < b64_len; i++)
		high |= (unsigned char)b64[i];
	if ((high & 0x80) ||
	    sodium_base642bin(bin, sizeof(bin), b64, b64_len, NULL, &n, &end, ENROLL_B64_VARIANT) != 0 ||
	    end != b64 + b64_len) {
		*err_r = "token damaged (not base64url)";
		goto fail;
	}
	if (n < 1 + ENROLL_TOKEN_CHECK_LEN) {
		*err_r = "token damaged (too short)";
		goto fail;
	}
	enroll_token_check(bin, n - ENROLL_TOKEN_CHECK_LEN, check);
	if (sodium_memcmp(check, bin + n - ENROLL_TOKEN_CHECK_LEN, ENROLL_TOKEN_CHECK_LEN) != 0) {
		*err_r = "token damaged (check failed)";
		goto fail;
	}
	version = bin[0];
	if (version != ENROLL_TOKEN_VERSION) {
		*err_r = version == 0 ? "token version 0 not supported"
				      : "token version not supported (made by a newer homeport-edge: update homeport)";
		goto fail;
	}
	if (n <= ENROLL_TOKEN_FAMILY_AT) {
		*err_r = "token length does not match its address family";
		goto fail;
	}
	family = bin[ENROLL_TOKEN_FAMILY_AT];
	if (family != 4 && family != 6) {
		*err_r = "token has an unknown address family";
		goto fail;
	}
	if (n != ENROLL_TOKEN_FIXED_LEN + (family == 4 ? 4 : 16)) {
		*err_r = "token length does not match its address family";
		goto fail;
	}
	/* The length is right: no read below can run short. */
	c = cursor_init(bin, n - ENROLL_TOKEN_CHECK_LEN);
	(void)cursor_skip(&c, 1);
	(void)cursor_copy(&c, t_r->box_pk, sizeof(t_r->box_pk));
	switch (enroll_get_endpoint(&c, &t_r->control)) {
	case ENROLL_EP_OK:
		break;
	case ENROLL_EP_PORT:
		*err_r = "token has control port 0";
		goto fail;
	default:
		*err_r = "token has an unusable control address";
		goto fail;
	}
	(void)cursor_copy(&c, t_r->invite_id, sizeof(t_r->invite_id));
	(void)cursor_copy(&c, t_r->secret, sizeof(t_r->secret));
	if (sodium_is_zero(t_r->box_pk, sizeof(t_r->box_pk))) {
		*err_r = "token has an unusable edge key";
		goto fail;
	}
	rc = 0;
fail:
	if (rc != 0)
		sodium_memzero(t_r, sizeof(*t_r));
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

/* ---- request ------------------------------------------------------------- */

static int
enroll_request_ok(const struct enroll_request *rq, const char **err_r)
{
	if (rq->timestamp < 0) {
		*err_r = "request timestamp out of range";
		return -1;
	}
	if (sodium_is_zero(rq->home_wg_pk, sizeof(rq->home_wg_pk))) {
		*err_r = "home WireGuard key is zero";
		return -1;
	}
	if (sodium_is_zero(rq->reply_pk, sizeof(rq->reply_pk))) {
		*err_r = "reply key is zero";
		return -1;
	}
	return enroll_hosts_ok(rq->host, rq->nhost, err_r);
}

/* Everything before the MAC. */
static int
enroll_request_put_body(const struct enroll_request *rq, struct enroll_out *o)
{
	const char *err;

	if (enroll_request_ok(rq, &err) != 0)
		return -1;
	enroll_put(o, enroll_request_magic, sizeof(enroll_request_magic));
	enroll_put_u8(o, ENROLL_VERSION);
	enroll_put(o, rq->invite_id, sizeof(rq->invite_id));
	enroll_put_u64(o, (uint64_t)rq->timestamp);
	enroll_put(o, rq->nonce, sizeof(rq->nonce));
	enroll_put(o, rq->home_wg_pk, sizeof(rq->home_wg_pk));
	enroll_put(o, rq->reply_pk, sizeof(rq->reply_pk));
	enroll_put_hosts(o, rq->host, rq->nhost);
	return o->full ? -1 : 0;
}

static void
enroll_request_mac(const uint8_t *body, size_t n, const uint8_t secret[ENROLL_SECRET_LEN],
		   uint8_t mac[ENROLL_MAC_LEN])
{
	crypto_generichash(mac, ENROLL_MAC_LEN, body, n, secret, ENROLL_SECRET_LEN);
}

int
enroll_request_encode_plain(const struct enroll_request *rq, uint8_t *out, size_t cap,
			    size_t *len_r)
{
	struct enroll_out o = { .p = out, .cap = cap };

	if (enroll_request_put_body(rq, &o) != 0)
		return -1;
	enroll_put(&o, rq->mac, sizeof(rq->mac));
	if (o.full)
		return -1;
	*len_r = o.len;
	return 0;
}

int
enroll_request_seal(const struct enroll_request *rq, const uint8_t secret[ENROLL_SECRET_LEN],
		    const uint8_t edge_box_pk[ENROLL_KEY_LEN], uint8_t *out, size_t cap,
		    size_t *len_r)
{
	uint8_t plain[ENROLL_REQUEST_PLAIN_MAX], mac[ENROLL_MAC_LEN];
	struct enroll_out o = { .p = plain, .cap = sizeof(plain) };
	int rc = -1;

	if (enroll_request_put_body(rq, &o) != 0)
		goto fail;
	enroll_request_mac(plain, o.len, secret, mac);
	enroll_put(&o, mac, sizeof(mac));
	if (o.full || cap < o.len + ENROLL_SEAL_OVERHEAD)
		goto fail;
	if (crypto_box_seal(out, plain, o.len, edge_box_pk) != 0)
		goto fail;
	*len_r = o.len + ENROLL_SEAL_OVERHEAD;
	rc = 0;
fail:
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

int
enroll_request_parse_plain(const uint8_t *in, size_t len, struct enroll_request *rq_r,
			   const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	uint8_t magic[sizeof(enroll_request_magic)], version;
	uint64_t ts;

	memset(rq_r, 0, sizeof(*rq_r));
	if (cursor_copy(&c, magic, sizeof(magic)) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (memcmp(magic, enroll_request_magic, sizeof(magic)) != 0) {
		*err_r = "not an enrollment request";
		goto fail;
	}
	if (cursor_u8(&c, &version) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (version != ENROLL_VERSION) {
		*err_r = "request version not supported";
		goto fail;
	}
	if (cursor_copy(&c, rq_r->invite_id, sizeof(rq_r->invite_id)) != 0 ||
	    cursor_u64be(&c, &ts) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (ts > (uint64_t)INT64_MAX) {
		*err_r = "request timestamp out of range";
		goto fail;
	}
	rq_r->timestamp = (int64_t)ts;
	if (cursor_copy(&c, rq_r->nonce, sizeof(rq_r->nonce)) != 0 ||
	    cursor_copy(&c, rq_r->home_wg_pk, sizeof(rq_r->home_wg_pk)) != 0 ||
	    cursor_copy(&c, rq_r->reply_pk, sizeof(rq_r->reply_pk)) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (enroll_get_hosts(&c, &rq_r->nhost, rq_r->host, err_r) != 0)
		goto fail;
	if (cursor_copy(&c, rq_r->mac, sizeof(rq_r->mac)) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (c.left != 0) {
		*err_r = "trailing bytes after the request";
		goto fail;
	}
	if (enroll_request_ok(rq_r, err_r) != 0)
		goto fail;
	return 0;
fail:
	memset(rq_r, 0, sizeof(*rq_r));
	return -1;
}

int
enroll_request_open(const uint8_t *in, size_t len, const uint8_t box_pk[ENROLL_KEY_LEN],
		    const uint8_t box_sk[ENROLL_KEY_LEN], struct enroll_request *rq_r,
		    const char **err_r)
{
	uint8_t plain[ENROLL_MSG_MAX - ENROLL_SEAL_OVERHEAD];
	int rc = -1;

	memset(rq_r, 0, sizeof(*rq_r));
	if (len <= ENROLL_SEAL_OVERHEAD || len > ENROLL_MSG_MAX ||
	    crypto_box_seal_open(plain, in, len, box_pk, box_sk) != 0) {
		*err_r = "cannot decrypt request";
		goto fail;
	}
	rc = enroll_request_parse_plain(plain, len - ENROLL_SEAL_OVERHEAD, rq_r, err_r);
fail:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

int
enroll_request_verify(const struct enroll_request *rq, const uint8_t secret[ENROLL_SECRET_LEN],
		      int64_t now, int64_t skew_max, const char **err_r)
{
	uint8_t body[ENROLL_REQUEST_PLAIN_MAX], mac[ENROLL_MAC_LEN];
	struct enroll_out o = { .p = body, .cap = sizeof(body) };
	uint64_t off;
	int rc = -1;

	/*
	 * The MAC is over the fields as they encode: a parsed request encodes
	 * back to the bytes it came from, so this is what the home sent.
	 */
	if (enroll_request_put_body(rq, &o) != 0) {
		*err_r = "request not valid";
		goto fail;
	}
	enroll_request_mac(body, o.len, secret, mac);
	if (sodium_memcmp(mac, rq->mac, sizeof(mac)) != 0) {
		*err_r = "wrong invite secret";
		goto fail;
	}
	/* Unsigned differences: no overflow whatever the clocks say. */
	off = rq->timestamp >= now ? (uint64_t)rq->timestamp - (uint64_t)now
				   : (uint64_t)now - (uint64_t)rq->timestamp;
	if (skew_max < 0 || off > (uint64_t)skew_max) {
		*err_r = "request time too far from the edge's clock";
		goto fail;
	}
	rc = 0;
fail:
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(body, sizeof(body));
	return rc;
}

/* ---- response ------------------------------------------------------------ */

/*
 * One family of tunnel addresses: the home's (with its prefix) and the
 * edge's, both absent (len 0, prefix 0) or both present. n is 4 or 16.
 * Returns 1 present, 0 absent, -1 broken.
 */
static int
enroll_tunnel_ok(const struct addr *home, uint8_t prefix, const struct addr *edge, size_t n)
{
	uint8_t h[16], e[16];

	if (home->len == 0 && edge->len == 0)
		return prefix == 0 ? 0 : -1;
	if (enroll_ip(home, h) != n || enroll_ip(edge, e) != n || sodium_is_zero(h, n) ||
	    sodium_is_zero(e, n) || memcmp(h, e, n) == 0 || addr_port(home) != 0 ||
	    addr_port(edge) != 0 || prefix == 0 || prefix > n * 8)
		return -1;
	return 1;
}

static int
enroll_response_ok(const struct enroll_response *rs, const char **err_r)
{
	size_t n = strnlen(rs->message, sizeof(rs->message));
	int v4, v6;

	if (rs->status > ENROLL_TRY_LATER) {
		*err_r = "unknown response status";
		return -1;
	}
	if (n > ENROLL_MESSAGE_MAX || !enroll_printable(rs->message, n)) {
		*err_r = "response message not printable";
		return -1;
	}
	if (rs->status != ENROLL_OK && n == 0) {
		*err_r = "refusal without a message";
		return -1;
	}
	if (rs->status != ENROLL_OK)
		return 0;
	if (!enroll_tenant_ok(rs->tenant, strnlen(rs->tenant, sizeof(rs->tenant)))) {
		*err_r = "bad tenant name";
		return -1;
	}
	if (sodium_is_zero(rs->edge_wg_pk, sizeof(rs->edge_wg_pk))) {
		*err_r = "edge WireGuard key is zero";
		return -1;
	}
	if (!enroll_endpoint_ok(&rs->wg_endpoint)) {
		*err_r = "bad WireGuard endpoint";
		return -1;
	}
	v4 = enroll_tunnel_ok(&rs->tunnel_v4, rs->tunnel_v4_prefix, &rs->edge_v4, 4);
	v6 = enroll_tunnel_ok(&rs->tunnel_v6, rs->tunnel_v6_prefix, &rs->edge_v6, 16);
	if (v4 < 0 || v6 < 0) {
		*err_r = "bad tunnel address";
		return -1;
	}
	if (v4 == 0 && v6 == 0) {
		*err_r = "no tunnel address";
		return -1;
	}
	return enroll_hosts_ok(rs->host, rs->nhost, err_r);
}

/* An address of n bytes, or n zero bytes for none. */
static void
enroll_put_tunnel(struct enroll_out *o, const struct addr *a, size_t n)
{
	uint8_t b[16] = { 0 };

	(void)enroll_ip(a, b);
	enroll_put(o, b, n);
}

int
enroll_response_encode_plain(const struct enroll_response *rs, uint8_t *out, size_t cap,
			     size_t *len_r)
{
	struct enroll_out o = { .p = out, .cap = cap };
	const char *err;
	size_t n;

	if (enroll_response_ok(rs, &err) != 0)
		return -1;
	enroll_put(&o, enroll_response_magic, sizeof(enroll_response_magic));
	enroll_put_u8(&o, ENROLL_VERSION);
	enroll_put(&o, rs->nonce, sizeof(rs->nonce));
	enroll_put_u8(&o, rs->status);
	n = strlen(rs->message);
	enroll_put_u8(&o, (unsigned)n);
	enroll_put(&o, rs->message, n);
	if (rs->status == ENROLL_OK) {
		n = strlen(rs->tenant);
		enroll_put_u8(&o, (unsigned)n);
		enroll_put(&o, rs->tenant, n);
		enroll_put(&o, rs->edge_wg_pk, sizeof(rs->edge_wg_pk));
		enroll_put_endpoint(&o, &rs->wg_endpoint);
		enroll_put_tunnel(&o, &rs->tunnel_v4, 4);
		enroll_put_u8(&o, rs->tunnel_v4_prefix);
		enroll_put_tunnel(&o, &rs->tunnel_v6, 16);
		enroll_put_u8(&o, rs->tunnel_v6_prefix);
		enroll_put_tunnel(&o, &rs->edge_v4, 4);
		enroll_put_tunnel(&o, &rs->edge_v6, 16);
		enroll_put_u16(&o, rs->egress_port);
		enroll_put_hosts(&o, rs->host, rs->nhost);
	}
	if (o.full)
		return -1;
	*len_r = o.len;
	return 0;
}

int
enroll_response_seal(const struct enroll_response *rs, const uint8_t reply_pk[ENROLL_KEY_LEN],
		     uint8_t *out, size_t cap, size_t *len_r)
{
	uint8_t plain[ENROLL_RESPONSE_PLAIN_MAX];
	size_t n;
	int rc = -1;

	if (enroll_response_encode_plain(rs, plain, sizeof(plain), &n) != 0 ||
	    cap < n + ENROLL_SEAL_OVERHEAD || crypto_box_seal(out, plain, n, reply_pk) != 0)
		goto fail;
	*len_r = n + ENROLL_SEAL_OVERHEAD;
	rc = 0;
fail:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* n address bytes: all zero is none (len 0), anything else an address. */
static int
enroll_get_tunnel(struct cursor *c, size_t n, struct addr *a_r)
{
	uint8_t b[16];

	if (cursor_copy(c, b, n) != 0)
		return -1;
	if (sodium_is_zero(b, n))
		memset(a_r, 0, sizeof(*a_r));
	else
		(void)addr_from_bytes(b, n, 0, a_r);
	return 0;
}

/* The part of a response that only ENROLL_OK has. */
static int
enroll_response_get_ok(struct cursor *c, struct enroll_response *rs_r, const char **err_r)
{
	uint8_t n;

	if (cursor_u8(c, &n) != 0)
		goto truncated;
	if (n == 0 || n > ENROLL_TENANT_MAX) {
		*err_r = "bad tenant name";
		return -1;
	}
	if (cursor_copy(c, rs_r->tenant, n) != 0)
		goto truncated;
	rs_r->tenant[n] = '\0';
	if (!enroll_tenant_ok(rs_r->tenant, n)) {
		*err_r = "bad tenant name";
		return -1;
	}
	if (cursor_copy(c, rs_r->edge_wg_pk, sizeof(rs_r->edge_wg_pk)) != 0)
		goto truncated;
	switch (enroll_get_endpoint(c, &rs_r->wg_endpoint)) {
	case ENROLL_EP_OK:
		break;
	case ENROLL_EP_SHORT:
		goto truncated;
	default:
		*err_r = "bad WireGuard endpoint";
		return -1;
	}
	if (enroll_get_tunnel(c, 4, &rs_r->tunnel_v4) != 0 ||
	    cursor_u8(c, &rs_r->tunnel_v4_prefix) != 0 ||
	    enroll_get_tunnel(c, 16, &rs_r->tunnel_v6) != 0 ||
	    cursor_u8(c, &rs_r->tunnel_v6_prefix) != 0 ||
	    enroll_get_tunnel(c, 4, &rs_r->edge_v4) != 0 ||
	    enroll_get_tunnel(c, 16, &rs_r->edge_v6) != 0 ||
	    cursor_u16be(c, &rs_r->egress_port) != 0)
		goto truncated;
	return enroll_get_hosts(c, &rs_r->nhost, rs_r->host, err_r);
truncated:
	*err_r = "message truncated";
	return -1;
}

int
enroll_response_parse_plain(const uint8_t *in, size_t len, struct enroll_response *rs_r,
			    const char **err_r)
{
	struct cursor c = cursor_init(in, len);
	uint8_t magic[sizeof(enroll_response_magic)], version, n;

	memset(rs_r, 0, sizeof(*rs_r));
	if (cursor_copy(&c, magic, sizeof(magic)) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (memcmp(magic, enroll_response_magic, sizeof(magic)) != 0) {
		*err_r = "not an enrollment response";
		goto fail;
	}
	if (cursor_u8(&c, &version) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (version != ENROLL_VERSION) {
		*err_r = "response version not supported";
		goto fail;
	}
	if (cursor_copy(&c, rs_r->nonce, sizeof(rs_r->nonce)) != 0 ||
	    cursor_u8(&c, &rs_r->status) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	if (rs_r->status > ENROLL_TRY_LATER) {
		*err_r = "unknown response status";
		goto fail;
	}
	if (cursor_u8(&c, &n) != 0 || cursor_copy(&c, rs_r->message, n) != 0) {
		*err_r = "message truncated";
		goto fail;
	}
	rs_r->message[n] = '\0';
	/* Here, on the bytes: a NUL would hide what follows it from the checks. */
	if (!enroll_printable(rs_r->message, n)) {
		*err_r = "response message not printable";
		goto fail;
	}
	if (rs_r->status == ENROLL_OK && enroll_response_get_ok(&c, rs_r, err_r) != 0)
		goto fail;
	if (c.left != 0) {
		*err_r = "trailing bytes after the response";
		goto fail;
	}
	if (enroll_response_ok(rs_r, err_r) != 0)
		goto fail;
	return 0;
fail:
	memset(rs_r, 0, sizeof(*rs_r));
	return -1;
}

int
enroll_response_open(const uint8_t *in, size_t len, const uint8_t reply_pk[ENROLL_KEY_LEN],
		     const uint8_t reply_sk[ENROLL_KEY_LEN], struct enroll_response *rs_r,
		     const char **err_r)
{
	uint8_t plain[ENROLL_MSG_MAX - ENROLL_SEAL_OVERHEAD];
	int rc = -1;

	memset(rs_r, 0, sizeof(*rs_r));
	if (len <= ENROLL_SEAL_OVERHEAD || len > ENROLL_MSG_MAX ||
	    crypto_box_seal_open(plain, in, len, reply_pk, reply_sk) != 0) {
		*err_r = "cannot decrypt response";
		goto fail;
	}
	rc = enroll_response_parse_plain(plain, len - ENROLL_SEAL_OVERHEAD, rs_r, err_r);
fail:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* ---- framing ------------------------------------------------------------- */

int
enroll_frame_parse(const uint8_t *in, size_t len, const uint8_t **msg_r, size_t *msglen_r)
{
	struct cursor c = cursor_init(in, len);
	uint16_t n;

	*msg_r = NULL;
	*msglen_r = 0;
	if (cursor_u16be(&c, &n) != 0)
		return 0;
	if (n == 0 || n > ENROLL_MSG_MAX)
		return -1;
	if (c.left < n)
		return 0;
	*msg_r = c.p;
	*msglen_r = n;
	return ENROLL_FRAME_HEADER_LEN + n;
}

int
enroll_frame_write(const uint8_t *msg, size_t msglen, uint8_t *out, size_t cap)
{
	if (msglen == 0 || msglen > ENROLL_MSG_MAX || cap < ENROLL_FRAME_HEADER_LEN + msglen)
		return -1;
	memmove(out + ENROLL_FRAME_HEADER_LEN, msg, msglen);
	out[0] = (uint8_t)(msglen >> 8);
	out[1] = (uint8_t)msglen;
	return (int)(ENROLL_FRAME_HEADER_LEN + msglen);
}

/* ---- the _homeport TXT record -------------------------------------------- */

void
enroll_txt_text(const uint8_t pk[ENROLL_KEY_LEN], char out[ENROLL_TXT_LEN + 1])
{
	uint8_t h[crypto_generichash_BYTES];
	size_t plen = sizeof(ENROLL_TXT_PREFIX) - 1;

	crypto_generichash(h, sizeof(h), pk, ENROLL_KEY_LEN, NULL, 0);
	memcpy(out, ENROLL_TXT_PREFIX, plen);
	sodium_bin2base64(out + plen, ENROLL_TXT_LEN + 1 - plen, h, sizeof(h), ENROLL_B64_VARIANT);
}

int
enroll_txt_owner(const char *host, char *out, size_t cap)
{
	size_t n = strnlen(host, DNSNAME_MAX + 1), llen = sizeof(ENROLL_TXT_LABEL) - 1;

	if (n > ENROLL_TXT_HOST_MAX || dnsname_check(host, n, 0) != 0 || cap < llen + 1 + n + 1)
		return -1;
	memcpy(out, ENROLL_TXT_LABEL, llen);
	out[llen] = '.';
	memcpy(out + llen + 1, host, n);
	out[llen + 1 + n] = '\0';
	return (int)(llen + 1 + n);
}

enum enroll_txt_match
enroll_txt_match(const uint8_t pk[ENROLL_KEY_LEN], const uint8_t *const *rec, const size_t *len, size_t n)
{
	char want[ENROLL_TXT_LEN + 1];
	size_t flen = sizeof(ENROLL_TXT_FAMILY) - 1;
	enum enroll_txt_match got = ENROLL_TXT_NONE;

	enroll_txt_text(pk, want);
	for (size_t i = 0; i < n; i++) {
		if (len[i] == ENROLL_TXT_LEN && memcmp(rec[i], want, ENROLL_TXT_LEN) == 0)
			return ENROLL_TXT_FOUND;
		if (len[i] >= flen && memcmp(rec[i], ENROLL_TXT_FAMILY, flen) == 0)
			got = ENROLL_TXT_OTHER;
	}
	return got;
}
