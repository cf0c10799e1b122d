/*
 * dns: the DNS lookups of outbound mail, through libunbound, validating
 * (DNSSEC): a mail domain's MX hosts with their addresses (RFC 5321 5.1,
 * RFC 7505's null MX) and the TLSA records of a host's port (RFC 6698,
 * RFC 7672), each with its DNSSEC status; and TXT records, which the
 * home's MTA-STS and the edge's require_txt (docs/edge.md) read. See
 * docs/dns.md.
 *
 * Two layers:
 * - The decoders of the record data libunbound hands back (dns_rdata_*)
 *   and the choice of MX hosts from it (dns_mx_records) are pure: bytes
 *   from the network in, checked values out. No I/O, no globals.
 * - The resolver (struct dns) asks libunbound and waits, with a deadline,
 *   for its answers. Its calls block; several threads may call them at
 *   once on one struct dns.
 */
#ifndef HOMEPORT_DNS_H
#define HOMEPORT_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dnsname.h"

#define DNS_MX_MAX 16		/* MX hosts kept, lowest preference first */
#define DNS_ADDRS_MAX 8		/* addresses kept per host (A then AAAA) */
#define DNS_TLSA_MAX 8		/* TLSA records kept */
/* a TLSA association (SHA-512 is 64 bytes; longer, full certs/keys, are skipped) */
#define DNS_TLSA_DATA_MAX 64
#define DNS_ERR_MAX 256		/* the plain-words reason in a result, with its NUL */
#define DNS_TIMEOUT_DEFAULT 30000	/* ms one dns_mx or dns_tlsa call may take when the configuration says 0 */
#define DNS_TIMEOUT_MAX 600000		/* ms, the longest timeout accepted */
#define DNS_STOP_SLICE_MS 250		/* a waiting lookup notices dns_stop() within this */
#define DNS_FORWARD_MAX (ADDR_TEXT_MAX + 8)	/* "ADDR@PORT" */
#define DNS_ROOT_ANCHOR_DEFAULT "/usr/share/dns/root.key"	/* Debian's dns-root-data */

struct dns_conf {
	/* "ADDR" or "ADDR@PORT": send every query to this resolver/server; NULL: recurse from the root */
	const char *forward;
	/* DS or DNSKEY records in zone-file syntax (ub_ctx_add_ta_file); NULL: the root's, DNS_ROOT_ANCHOR_DEFAULT */
	const char *trust_anchor_file;
	/* the most one dns_mx or dns_tlsa call takes, all its queries together; 0: DNS_TIMEOUT_DEFAULT */
	int64_t timeout_ms;
	/*
	 * 1: keep no answer, positive or negative: every lookup asks again.
	 * For rare lookups of records that someone is about to change (the
	 * edge's require_txt: an owner publishes, then retries at once).
	 * 0: libunbound's cache (TTLs up to a day).
	 */
	int no_cache;
};

enum dns_status {
	DNS_OK,			/* answered (records in the result) */
	DNS_NXDOMAIN,		/* the name does not exist: permanent */
	DNS_NODATA,		/* the name exists, no records of the type */
	DNS_TEMPFAIL,		/* SERVFAIL, timeout, network: try again later */
	DNS_BOGUS,		/* DNSSEC validation failed: try again later, never use the answer */
};

struct dns_host {
	char name[DNSNAME_MAX + 1];	/* lower case, no trailing dot (shared/dnsname.h) */
	unsigned preference;
	enum dns_status status;		/* of its address lookups (OK if at least one address) */
	int secure;			/* its A and AAAA answers were both DNSSEC-secure */
	size_t naddrs;
	struct addr addrs[DNS_ADDRS_MAX];	/* port 0 (shared/addr.h) */
};

/*
 * A destination. status is DNS_OK when mail can go somewhere: null_mx
 * (nowhere, bounce), or at least one host with status DNS_OK. Otherwise:
 * NXDOMAIN (the domain does not exist), NODATA (it exists, and no MX host
 * or, implicit, the domain itself has an address), TEMPFAIL or BOGUS (of
 * the MX lookup, or of the hosts when none has an address); a domain whose
 * MX records name no usable host is TEMPFAIL, as Postfix has it.
 */
struct dns_mx {
	enum dns_status status;		/* of the destination as a whole */
	int null_mx;			/* RFC 7505: the only MX is "0 ." -> bounce */
	int implicit;			/* no MX records: the domain itself is the host (RFC 5321 5.1) */
	int secure;			/* the MX RRset (implicit: the domain's addresses) was secure */
	size_t nhosts;
	struct dns_host hosts[DNS_MX_MAX];	/* by preference; equal preferences in random order (RFC 5321 5.1) */
	char err[DNS_ERR_MAX];		/* why, when status is not OK or a host failed, in plain words */
};

struct dns_tlsa_rr {
	uint8_t usage, selector, mtype;	/* RFC 6698 2.1: certificate usage, selector, matching type */
	size_t len;			/* bytes of data, 1 to DNS_TLSA_DATA_MAX */
	uint8_t data[DNS_TLSA_DATA_MAX];	/* the certificate association data */
};

/*
 * The TLSA RRset of a port. status DNS_OK with n == 0: records exist but
 * none was kept (malformed, or longer than DNS_TLSA_DATA_MAX): RFC 7672
 * 2.2 calls that "TLSA records, none usable", which is not NODATA.
 */
struct dns_tlsa {
	enum dns_status status;
	int secure;			/* the answer (records or their absence) was DNSSEC-secure */
	size_t n;
	struct dns_tlsa_rr rr[DNS_TLSA_MAX];	/* in the order of the answer */
	char err[DNS_ERR_MAX];		/* why, when status is not OK or records were skipped */
};

#define DNS_TXT_MAX 8		/* TXT records kept */
#define DNS_TXT_NAMES_MAX 16	/* names one dns_txt_names call looks up together */
#define DNS_TXT_LEN_MAX 1024	/* bytes of one TXT record's text, its strings joined */

/* One TXT record: its character-strings joined (RFC 7208 3.3, RFC 8461 3.1). */
struct dns_txt_rr {
	size_t len;
	uint8_t data[DNS_TXT_LEN_MAX];	/* not NUL-terminated: a TXT record may hold any byte */
};

struct dns_txt {
	enum dns_status status;
	int secure;
	size_t n;
	struct dns_txt_rr rr[DNS_TXT_MAX];	/* in the order of the answer */
	char err[DNS_ERR_MAX];
};

/* ---- record data (pure) ---- */

/*
 * MX rdata (RFC 1035 3.3.9) in p[0..len): a 16-bit preference, then an
 * uncompressed wire-format name that ends exactly at len. The name, in
 * text, lower case and without a trailing dot, goes into name[0..cap)
 * with a NUL: "" for the root name (RFC 7505's null MX), otherwise it
 * must pass dnsname_check (so escapes, dots or odd bytes inside labels,
 * underscores are refused). Refused as well: compression pointers and
 * other label types, a name longer than 255 bytes on the wire or than
 * cap - 1 in text. Returns 0 with *pref_r set, or -1 with *why_r (static
 * text).
 */
int dns_rdata_mx(const uint8_t *p, size_t len, unsigned *pref_r, char *name, size_t cap,
		 const char **why_r);

/*
 * A (family AF_INET: exactly 4 bytes) or AAAA (AF_INET6: exactly 16)
 * rdata into *a_r, port 0. Returns 0, or -1 with *why_r.
 */
int dns_rdata_addr(const uint8_t *p, size_t len, int family, struct addr *a_r, const char **why_r);

/*
 * TLSA rdata (RFC 6698 2.1): usage, selector, matching type, then the
 * association data, at least one byte and at most DNS_TLSA_DATA_MAX;
 * matching type 1 (SHA2-256) must carry 32 bytes, 2 (SHA2-512) 64.
 * Unknown usages, selectors and matching types are kept: whether they
 * are usable is for the caller (RFC 7672 3.1). Returns 0, or -1 with
 * *why_r.
 */
int dns_rdata_tlsa(const uint8_t *p, size_t len, struct dns_tlsa_rr *rr_r, const char **why_r);

/*
 * TXT rdata (RFC 1035 3.3.14): one or more character-strings, each a
 * length byte and that many bytes, ending exactly at len; joined into
 * *rr_r (at most DNS_TXT_LEN_MAX bytes). Returns 0, or -1 with *why_r.
 */
int dns_rdata_txt(const uint8_t *p, size_t len, struct dns_txt_rr *rr_r, const char **why_r);

/*
 * The MX hosts of an answer's n rdata (data[i], len[i] as libunbound's
 * ub_result has them) into r: null_mx when the only record is "0 ."
 * (nhosts 0); otherwise the records that decode and name a host, by
 * preference, each name once (at its lowest preference), at most
 * DNS_MX_MAX of them, equal preferences shuffled with uniform(k) (a
 * random number below k: libsodium's randombytes_uniform; tests pass
 * their own). The hosts' addresses are left empty (naddrs 0, status
 * DNS_NODATA). Records skipped are counted in r->err. Returns 0 when
 * there is a null MX or at least one host, -1 (r->err says why) when no
 * record names a usable host. Touches only r's null_mx, nhosts, hosts
 * and err.
 */
int dns_mx_records(char *const *data, const int *len, size_t n, uint32_t (*uniform)(uint32_t),
		   struct dns_mx *r);

/*
 * Whether fwd is what dns_conf's forward takes: "ADDR" or "ADDR@PORT"
 * (port 1..65535), at most DNS_FORWARD_MAX bytes. For configuration
 * checks. Returns 0, or -1 with err. Pure.
 */
int dns_forward_check(const char *fwd, char *err, size_t errcap);

/* "OK", "NXDOMAIN", "NODATA", "TEMPFAIL", "BOGUS" (static text). */
const char *dns_status_name(enum dns_status s);

/* ---- the resolver ---- */

struct dns;

/*
 * A resolver: one libunbound context with its background thread (started
 * at the first lookup), validating against the trust anchors of c, which
 * are read here (a missing or malformed file fails now, not at every
 * lookup). Returns NULL with err[0..errcap) on failure (bad forward
 * address, unreadable or rejected anchor file, timeout out of range, out
 * of memory). c is not kept.
 */
struct dns *dns_new(const struct dns_conf *c, char *err, size_t errcap);

/*
 * Free *dp (NULL accepted) and set it to NULL. No call may be running on
 * it; lookups libunbound still has going are dropped.
 */
void dns_free(struct dns **dp);

/*
 * TXT records at LABEL.DOMAIN (label: labels of [A-Za-z0-9_-] such as
 * "_mta-sts" or "ed25519._domainkey", or NULL for DOMAIN itself), with the
 * answer's DNSSEC status. Records that do not decode or are longer than
 * DNS_TXT_LEN_MAX are skipped (said in err). Returns 0 (see r->status), or
 * -1 when domain is not a host name or label not such labels.
 */
int dns_txt(struct dns *d, const char *label, const char *domain, struct dns_txt *r);

/*
 * dns_txt for LABEL.DOMAIN of each of domains[0..n) (n at most
 * DNS_TXT_NAMES_MAX) into r[0..n), the queries sent together and waited
 * for under one deadline (the configured timeout) for all of them: what
 * is not answered by then is DNS_TEMPFAIL. Blocks; thread-safe. Returns 0
 * (see each r[i].status), or -1 when n is too large or a domain or label
 * is not a name (nothing is looked up; r[i].err says which).
 */
int dns_txt_names(struct dns *d, const char *label, const char *const *domains, size_t n,
		  struct dns_txt *r);

/*
 * End every lookup in progress within DNS_STOP_SLICE_MS, and every later
 * one at once, as not answered (DNS_TEMPFAIL): the daemon is stopping and
 * its delivery threads must not wait out their timeouts. Thread-safe.
 */
void dns_stop(struct dns *d);

/*
 * MX lookup for a mail domain with the A/AAAA of each host: CNAMEs
 * followed (libunbound does), MX targets looked up, the implicit MX
 * fallback when the MX answer is NODATA, null MX detected, NXDOMAIN
 * permanent. domain is a host name as dnsname_check takes it (any case,
 * no trailing dot). Blocks for at most the configured timeout. Returns 0
 * (see r->status) or -1 only when domain is not a host name (err in
 * r->err). Thread-safe.
 */
int dns_mx(struct dns *d, const char *domain, struct dns_mx *r);

/*
 * The A and AAAA records of host into *h (its name, addresses, status,
 * secure: as an MX host's), with reasons appended to err. For names that
 * are not MX hosts, such as MTA-STS's mta-sts.DOMAIN. Returns 0 (see
 * h->status), or -1 when host is not a host name.
 */
int dns_addrs(struct dns *d, const char *host, struct dns_host *h, char *err, size_t errcap);

/*
 * TLSA at _PORT._tcp.HOST (RFC 6698/7672), with its DNSSEC status.
 * Blocks for at most the configured timeout. Returns 0 (see r->status),
 * or -1 (r->err) for a host that is not a host name, port 0, or a TLSA
 * name longer than DNSNAME_MAX. Thread-safe.
 */
int dns_tlsa(struct dns *d, const char *host, uint16_t port, struct dns_tlsa *r);

#endif
