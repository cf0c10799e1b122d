#include "proxyv2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"

/* The fixed part: signature, version and command, family, length. */
#define PROXYV2_SIG_LEN 12
#define PROXYV2_FIXED_LEN 16
#define PROXYV2_VERSION 2
#define PROXYV2_ADDR_INET_LEN 12	/* two IPv4 addresses, two ports */
#define PROXYV2_ADDR_INET6_LEN 36	/* two IPv6 addresses, two ports */
#define PROXYV2_TLV_HEADER_LEN 3	/* type, length (16 bits) */
#define PROXYV2_HP_FIXED_LEN 3		/* Homeport TLV: version, flags, proto */
#define PROXYV2_HP_KNOWN_FLAGS PROXYV2_HP_STARTTLS

/* Byte 14: the address family (high nibble) and the transport (low). */
#define PROXYV2_FAM_UNSPEC 0x00
#define PROXYV2_FAM_TCP4 0x11
#define PROXYV2_FAM_TCP6 0x21

/* TLV types of the spec's that we read or write. */
#define PROXYV2_TYPE_AUTHORITY 0x02
#define PROXYV2_TYPE_UNIQUE_ID 0x05

static const uint8_t proxyv2_sig[PROXYV2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* An EHLO name as the Homeport TLV carries it: 0..200 bytes of 0x21..0x7e. */
static int
proxyv2_ehlo_check(const uint8_t *s, size_t len)
{
	if (len > PROXYV2_EHLO_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			return -1;
	}
	return 0;
}

/* ---- encoding ---- */

/* The address bytes of a and b, which must be of one family. Returns 4, 16, or 0. */
static size_t
proxyv2_addr_pair(const struct addr *a, const struct addr *b, uint8_t a_ip[16], uint8_t b_ip[16])
{
	size_t na, nb;

	if ((a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6) ||
	    (b->ss.ss_family != AF_INET && b->ss.ss_family != AF_INET6))
		return 0;
	na = addr_ip_bytes(a, a_ip);
	nb = addr_ip_bytes(b, b_ip);
	if (na != nb)
		return 0;
	return na;
}

static uint8_t *
proxyv2_put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *
proxyv2_put(uint8_t *p, const void *data, size_t len)
{
	if (len > 0)
		memcpy(p, data, len);
	return p + len;
}

static uint8_t *
proxyv2_put_tlv_header(uint8_t *p, uint8_t type, size_t len)
{
	*p++ = type;
	return proxyv2_put_u16(p, len);
}

/* Check every field of a PROXY command and work out the lengths. Returns 0 or -1. */
static int
proxyv2_encode_lengths(const struct proxyv2 *h, uint8_t src_ip[16], uint8_t dst_ip[16],
		       size_t *ip_len_r, size_t *authority_len_r, size_t *ehlo_len_r)
{
	const struct proxyv2_homeport *hp = &h->homeport;

	*ip_len_r = 0;
	if (h->have_addrs) {
		*ip_len_r = proxyv2_addr_pair(&h->src, &h->dst, src_ip, dst_ip);
		if (*ip_len_r == 0)
			return -1;
	}
	*authority_len_r = strnlen(h->authority, sizeof(h->authority));
	if (*authority_len_r == sizeof(h->authority))
		return -1;
	if (*authority_len_r > 0 && dnsname_check(h->authority, *authority_len_r, 0) != 0)
		return -1;
	if (h->unique_id_len > PROXYV2_UNIQUE_ID_MAX)
		return -1;
	*ehlo_len_r = 0;
	if (hp->present) {
		if ((hp->flags & ~PROXYV2_HP_KNOWN_FLAGS) != 0 || hp->proto > PROXYV2_PROTO_IMAP)
			return -1;
		*ehlo_len_r = strnlen(hp->ehlo, sizeof(hp->ehlo));
		if (*ehlo_len_r == sizeof(hp->ehlo) ||
		    proxyv2_ehlo_check((const uint8_t *)hp->ehlo, *ehlo_len_r) != 0)
			return -1;
	}
	return 0;
}

int
proxyv2_encode(const struct proxyv2 *h, uint8_t *out, size_t cap)
{
	uint8_t src_ip[16], dst_ip[16], fam = PROXYV2_FAM_UNSPEC;
	size_t ip_len = 0, authority_len = 0, ehlo_len = 0, len = PROXYV2_FIXED_LEN;
	uint8_t *p = out;

	if (h->command == PROXYV2_LOCAL) {
		if (h->have_addrs || h->authority[0] != '\0' || h->unique_id_len != 0 ||
		    h->homeport.present)
			return -1;
	} else if (h->command == PROXYV2_PROXY) {
		if (proxyv2_encode_lengths(h, src_ip, dst_ip, &ip_len, &authority_len, &ehlo_len) != 0)
			return -1;
		if (ip_len == 4) {
			fam = PROXYV2_FAM_TCP4;
			len += PROXYV2_ADDR_INET_LEN;
		} else if (ip_len == 16) {
			fam = PROXYV2_FAM_TCP6;
			len += PROXYV2_ADDR_INET6_LEN;
		}
		if (authority_len > 0)
			len += PROXYV2_TLV_HEADER_LEN + authority_len;
		if (h->unique_id_len > 0)
			len += PROXYV2_TLV_HEADER_LEN + h->unique_id_len;
		if (h->homeport.present)
			len += PROXYV2_TLV_HEADER_LEN + PROXYV2_HP_FIXED_LEN + ehlo_len;
	} else {
		return -1;
	}
	if (len > PROXYV2_MAX || len > cap)
		return -1;

	p = proxyv2_put(p, proxyv2_sig, sizeof(proxyv2_sig));
	*p++ = (uint8_t)(PROXYV2_VERSION << 4 | h->command);
	*p++ = fam;
	p = proxyv2_put_u16(p, len - PROXYV2_FIXED_LEN);
	if (ip_len > 0) {
		p = proxyv2_put(p, src_ip, ip_len);
		p = proxyv2_put(p, dst_ip, ip_len);
		p = proxyv2_put_u16(p, addr_port(&h->src));
		p = proxyv2_put_u16(p, addr_port(&h->dst));
	}
	if (authority_len > 0) {
		p = proxyv2_put_tlv_header(p, PROXYV2_TYPE_AUTHORITY, authority_len);
		p = proxyv2_put(p, h->authority, authority_len);
	}
	if (h->unique_id_len > 0) {
		p = proxyv2_put_tlv_header(p, PROXYV2_TYPE_UNIQUE_ID, h->unique_id_len);
		p = proxyv2_put(p, h->unique_id, h->unique_id_len);
	}
	if (h->homeport.present) {
		p = proxyv2_put_tlv_header(p, PROXYV2_TLV_HOMEPORT, PROXYV2_HP_FIXED_LEN + ehlo_len);
		*p++ = PROXYV2_HOMEPORT_VERSION;
		*p++ = h->homeport.flags;
		*p++ = h->homeport.proto;
		p = proxyv2_put(p, h->homeport.ehlo, ehlo_len);
	}
	return (int)(p - out);
}

/* ---- decoding ---- */

/* Make *a_r from ip_len (4 or 16) address bytes and a port. */
static void
proxyv2_addr_make(const uint8_t *ip, size_t ip_len, uint16_t port, struct addr *a_r)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (ip_len == 4) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, ip, 4);
		addr_from_sockaddr((const struct sockaddr *)&sin, sizeof(sin), a_r);
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, ip, 16);
		addr_from_sockaddr((const struct sockaddr *)&sin6, sizeof(sin6), a_r);
	}
	addr_set_port(a_r, port);
}

/*
 * The address block: c holds exactly ip_len * 2 + 4 bytes. Returns 0, or
 * -1 for an IPv4-mapped address beside a plain IPv6 one: no socket reports
 * such a pair, and it would leave src and dst of different families.
 */
static int
proxyv2_decode_addrs(struct cursor c, size_t ip_len, struct proxyv2 *h, const char **err_r)
{
	uint8_t src[16], dst[16];
	uint16_t sport, dport;

	/* The caller sized c; these reads cannot fail. */
	if (cursor_copy(&c, src, ip_len) != 0 || cursor_copy(&c, dst, ip_len) != 0 ||
	    cursor_u16be(&c, &sport) != 0 || cursor_u16be(&c, &dport) != 0) {
		*err_r = "PROXY v2: address block too short for its family";
		return -1;
	}
	proxyv2_addr_make(src, ip_len, sport, &h->src);
	proxyv2_addr_make(dst, ip_len, dport, &h->dst);
	if (addr_family(&h->src) != addr_family(&h->dst)) {
		*err_r = "PROXY v2: IPv4-mapped and plain IPv6 addresses mixed";
		return -1;
	}
	h->have_addrs = 1;
	return 0;
}

/*
 * Check a known TLV's length as soon as its header is in, before its
 * value arrives. seen: the known TLVs met so far, one bit each.
 */
static int
proxyv2_tlv_length(uint8_t type, uint16_t len, unsigned *seen, const char **err_r)
{
	unsigned bit;

	switch (type) {
	case PROXYV2_TYPE_AUTHORITY:
		if (len == 0 || len > DNSNAME_MAX) {
			*err_r = "PROXY v2: authority TLV length out of range";
			return -1;
		}
		bit = 0x01;
		break;
	case PROXYV2_TYPE_UNIQUE_ID:
		if (len > PROXYV2_UNIQUE_ID_MAX) {
			*err_r = "PROXY v2: unique id TLV longer than 128 bytes";
			return -1;
		}
		bit = 0x02;
		break;
	case PROXYV2_TLV_HOMEPORT:
		if (len < PROXYV2_HP_FIXED_LEN || len > PROXYV2_HP_FIXED_LEN + PROXYV2_EHLO_MAX) {
			*err_r = "PROXY v2: Homeport TLV length out of range";
			return -1;
		}
		bit = 0x04;
		break;
	default:
		return 0;
	}
	if (*seen & bit) {
		*err_r = "PROXY v2: TLV repeated";
		return -1;
	}
	*seen |= bit;
	return 0;
}

/* A known TLV's value, whole in v (its length already checked). Unknown ones are skipped. */
static int
proxyv2_tlv_value(uint8_t type, struct cursor v, struct proxyv2 *h, const char **err_r)
{
	struct proxyv2_homeport *hp = &h->homeport;
	uint8_t version;
	size_t n = v.left;

	switch (type) {
	case PROXYV2_TYPE_AUTHORITY:
		if (dnsname_check((const char *)v.p, n, 0) != 0) {
			*err_r = "PROXY v2: authority TLV is not a host name";
			return -1;
		}
		/* dnsname_check() bounds n by DNSNAME_MAX. */
		cursor_copy(&v, h->authority, n);
		h->authority[n] = '\0';
		return 0;
	case PROXYV2_TYPE_UNIQUE_ID:
		if (n > PROXYV2_UNIQUE_ID_MAX) {
			*err_r = "PROXY v2: unique id TLV longer than 128 bytes";
			return -1;
		}
		cursor_copy(&v, h->unique_id, n);
		h->unique_id_len = n;
		return 0;
	case PROXYV2_TLV_HOMEPORT:
		if (cursor_u8(&v, &version) != 0 || cursor_u8(&v, &hp->flags) != 0 ||
		    cursor_u8(&v, &hp->proto) != 0) {
			*err_r = "PROXY v2: Homeport TLV too short";
			return -1;
		}
		if (version != PROXYV2_HOMEPORT_VERSION) {
			*err_r = "PROXY v2: Homeport TLV of an unknown version";
			return -1;
		}
		if ((hp->flags & ~PROXYV2_HP_KNOWN_FLAGS) != 0) {
			*err_r = "PROXY v2: Homeport TLV with unknown flags";
			return -1;
		}
		if (hp->proto > PROXYV2_PROTO_IMAP) {
			*err_r = "PROXY v2: Homeport TLV with an unknown protocol";
			return -1;
		}
		if (proxyv2_ehlo_check(v.p, v.left) != 0) {
			*err_r = "PROXY v2: Homeport TLV with a bad EHLO name";
			return -1;
		}
		/* proxyv2_ehlo_check() bounds it by PROXYV2_EHLO_MAX. */
		n = v.left;
		cursor_copy(&v, hp->ehlo, n);
		hp->ehlo[n] = '\0';
		hp->present = 1;
		return 0;
	default:
		/* PP2_TYPE_SSL, PP2_TYPE_CRC32C, ALPN, NOOP, NETNS, custom: not ours to read. */
		return 0;
	}
}

/*
 * The TLVs: area bytes of them declared, of which c holds the first
 * c.left. Returns 1 when all are in and good, 0 when the bytes so far are
 * good but more are needed, -1 on error.
 */
static int
proxyv2_decode_tlvs(struct cursor c, size_t area, struct proxyv2 *h, const char **err_r)
{
	unsigned seen = 0;
	uint8_t type;
	uint16_t len;
	struct cursor v;

	while (area > 0) {
		if (area < PROXYV2_TLV_HEADER_LEN) {
			*err_r = "PROXY v2: TLV header overruns the header";
			return -1;
		}
		if (cursor_u8(&c, &type) != 0 || cursor_u16be(&c, &len) != 0)
			return 0;
		area -= PROXYV2_TLV_HEADER_LEN;
		if (len > area) {
			*err_r = "PROXY v2: TLV overruns the header";
			return -1;
		}
		if (proxyv2_tlv_length(type, len, &seen, err_r) != 0)
			return -1;
		if (cursor_sub(&c, len, &v) != 0)
			return 0;
		if (proxyv2_tlv_value(type, v, h, err_r) != 0)
			return -1;
		area -= len;
	}
	return 1;
}

/* Everything after the fixed part of a PROXY command. Returns 1, 0 or -1 as above. */
static int
proxyv2_decode_block(struct cursor c, size_t block, uint8_t fam, struct proxyv2 *h,
		     const char **err_r)
{
	size_t ip_len = 0, addr_len = 0;
	struct cursor a;

	if (fam == PROXYV2_FAM_TCP4) {
		ip_len = 4;
		addr_len = PROXYV2_ADDR_INET_LEN;
	} else if (fam == PROXYV2_FAM_TCP6) {
		ip_len = 16;
		addr_len = PROXYV2_ADDR_INET6_LEN;
	}
	if (block < addr_len) {
		*err_r = "PROXY v2: address block too short for its family";
		return -1;
	}
	if (cursor_sub(&c, addr_len, &a) != 0) {
		/* The addresses are not all in: only the TLVs' framing can be checked. */
		return proxyv2_decode_tlvs(cursor_init(NULL, 0), block - addr_len, h, err_r) < 0 ? -1 : 0;
	}
	if (addr_len > 0 && proxyv2_decode_addrs(a, ip_len, h, err_r) != 0)
		return -1;
	return proxyv2_decode_tlvs(c, block - addr_len, h, err_r);
}

int
proxyv2_decode(const uint8_t *in, size_t len, struct proxyv2 *h_r, const char **err_r)
{
	struct proxyv2 h;
	struct cursor c = cursor_init(in, len), body;
	size_t sig_len = len < PROXYV2_SIG_LEN ? len : PROXYV2_SIG_LEN;
	uint8_t ver_cmd, fam;
	uint16_t block;
	int rc;

	if (len == 0)
		return 0;
	if (memcmp(in, proxyv2_sig, sig_len) != 0) {
		*err_r = "PROXY v2: bad signature";
		return -1;
	}
	if (cursor_skip(&c, PROXYV2_SIG_LEN) != 0 || cursor_u8(&c, &ver_cmd) != 0)
		return 0;
	if (ver_cmd >> 4 != PROXYV2_VERSION) {
		*err_r = "PROXY v2: version is not 2";
		return -1;
	}
	if ((ver_cmd & 0x0f) != PROXYV2_LOCAL && (ver_cmd & 0x0f) != PROXYV2_PROXY) {
		*err_r = "PROXY v2: unknown command";
		return -1;
	}
	if (cursor_u8(&c, &fam) != 0)
		return 0;
	/* LOCAL: the family is ignored, as the spec says. */
	if ((ver_cmd & 0x0f) == PROXYV2_PROXY && fam != PROXYV2_FAM_UNSPEC &&
	    fam != PROXYV2_FAM_TCP4 && fam != PROXYV2_FAM_TCP6) {
		*err_r = "PROXY v2: family or protocol other than TCP over IPv4 or IPv6";
		return -1;
	}
	if (cursor_u16be(&c, &block) != 0)
		return 0;
	if (PROXYV2_FIXED_LEN + (size_t)block > PROXYV2_DECODE_MAX) {
		*err_r = "PROXY v2: header longer than 4096 bytes";
		return -1;
	}
	/* What is in of the block; bytes after the header are not ours. */
	cursor_sub(&c, c.left < block ? c.left : block, &body);

	memset(&h, 0, sizeof(h));
	h.command = (enum proxyv2_command)(ver_cmd & 0x0f);
	if (h.command == PROXYV2_LOCAL)
		rc = body.left == block ? 1 : 0;
	else
		rc = proxyv2_decode_block(body, block, fam, &h, err_r);
	if (rc <= 0)
		return rc;
	*h_r = h;
	return PROXYV2_FIXED_LEN + block;
}

/* ---- version 1 ---- */

int
proxyv1_encode(const struct addr *src, const struct addr *dst, char *out, size_t cap)
{
	uint8_t src_ip[16], dst_ip[16];
	char src_text[INET6_ADDRSTRLEN], dst_text[INET6_ADDRSTRLEN];
	size_t ip_len = proxyv2_addr_pair(src, dst, src_ip, dst_ip);
	int af = ip_len == 4 ? AF_INET : AF_INET6;
	int n;

	if (ip_len == 0)
		return -1;
	if (inet_ntop(af, src_ip, src_text, sizeof(src_text)) == NULL ||
	    inet_ntop(af, dst_ip, dst_text, sizeof(dst_text)) == NULL)
		return -1;
	n = snprintf(out, cap, "PROXY %s %s %s %u %u\r\n", ip_len == 4 ? "TCP4" : "TCP6",
		     src_text, dst_text, (unsigned)addr_port(src), (unsigned)addr_port(dst));
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}
