/*
 * mtasts: MTA Strict Transport Security (RFC 8461) for the outbound SMTP
 * client. When a destination domain has no DANE, its MTA-STS policy in
 * enforce mode makes TLS with a certificate valid for the MX host (WebPKI)
 * mandatory and restricts the MX hosts to the policy's patterns. See
 * docs/outbound.md, "MTA-STS".
 *
 * Three layers:
 * - Parsers (mtasts_parse_txt, mtasts_parse_policy) and the MX matcher are
 *   pure functions: no I/O, no globals, no allocation. Fuzzed.
 * - mtasts_fetch() gets a policy over HTTPS with libcurl, blocking, one
 *   easy handle per call: several delivery threads may fetch at once once
 *   mtasts_global_init() has run.
 * - struct mtasts_cache keeps fetched policies in memory for the queue
 *   runner, behind a mutex of its own.
 *
 * What the caller does (RFC 8461 5.1): look up the TXT record at
 * _mta-sts.DOMAIN with the validating resolver; keep the records for which
 * mtasts_txt_is_sts() holds, and if there is exactly one, parse its id. A
 * cached policy with that id is used as it is (mtasts_cache_get); else the
 * policy is fetched and cached under the id. When the TXT record is missing
 * or the fetch fails, a cached policy that has not expired is still used
 * (mtasts_cache_get_any).
 */
#ifndef HOMEPORT_MTASTS_H
#define HOMEPORT_MTASTS_H

#include <stddef.h>
#include <stdint.h>

#include "dnsname.h"

#define MTASTS_POLICY_MAX (64 * 1024)	/* bytes of a policy body (RFC 8461 3.3 suggests 64 KiB) */
#define MTASTS_MX_MAX 32		/* mx: lines kept; a policy with more is refused */
#define MTASTS_ID_MAX 32		/* id= value: 1*32 alnum */
#define MTASTS_MAX_AGE_MAX 31557600	/* RFC 8461 3.2: at most one year */
#define MTASTS_FETCH_TIMEOUT_DEFAULT 60000	/* ms, for a timeout_ms <= 0 */
#define MTASTS_CACHE_MAX 1024		/* domains a cache holds; the least recently used goes */
#define MTASTS_HOST_PREFIX "mta-sts."	/* the policy host of DOMAIN is mta-sts.DOMAIN (RFC 8461 3.3) */
#define MTASTS_URL_PATH "/.well-known/mta-sts.txt"	/* and the policy's path there */
#define MTASTS_ERR_MAX 512		/* an err buffer for mtasts_fetch that never cuts a message */

enum mtasts_mode { MTASTS_MODE_NONE, MTASTS_MODE_TESTING, MTASTS_MODE_ENFORCE };

struct mtasts_policy {
	enum mtasts_mode mode;
	uint32_t max_age;		/* seconds, at most MTASTS_MAX_AGE_MAX */
	size_t nmx;			/* 0 only when mode is MTASTS_MODE_NONE */
	char mx[MTASTS_MX_MAX][DNSNAME_MAX + 1];	/* lower case, "*.example.net" allowed */
};

/* ---- parsers: pure ---- */

/*
 * 1 if the TXT record in[0..len) (its strings concatenated without spaces)
 * starts with "v=STSv1" and a field delimiter, i.e. is meant to be an
 * MTA-STS record: RFC 8461 3.1 discards the others before it counts the
 * records. 0 otherwise. Pure.
 */
int mtasts_txt_is_sts(const uint8_t *in, size_t len);

/*
 * The TXT record at _mta-sts.DOMAIN ("v=STSv1; id=20160831085700Z;"), its
 * strings concatenated: the RFC 8461 3.1 grammar, strictly (v=STSv1 first,
 * fields separated by *WSP ";" *WSP, one optional ";" and *WSP at the end,
 * extensions name=value allowed and ignored). A field named "id" must be
 * 1 to MTASTS_ID_MAX letters and digits; the first id counts, later ones
 * are ignored (RFC 8461 3.2). Returns 0 with the id, NUL-terminated, in
 * id[0..MTASTS_ID_MAX], or -1 with *err_r pointing at static text (id
 * unspecified). Pure.
 */
int mtasts_parse_txt(const uint8_t *in, size_t len, char *id, const char **err_r);

/*
 * A policy body (RFC 8461 3.2 grammar, strictly): lines ending in LF or
 * CRLF (the last one may have none), each "name:" *WSP value *WSP. version
 * (STSv1), mode (testing, enforce, none) and max_age (1 to 10 digits, at
 * most MTASTS_MAX_AGE_MAX) are required, the first of each counts and any
 * later one is ignored; mx lines are host names, "*." allowed as the first
 * label, at least one unless mode is none, at most MTASTS_MX_MAX. Field
 * names are case-sensitive; unknown fields are ignored but must be
 * well-formed (name of 1 to 32 letters, digits, "_", "-", "."; a value of
 * visible ASCII, UTF-8 and inner spaces). No empty lines, no bare CR, no
 * more than MTASTS_POLICY_MAX bytes. Returns 0 with *p_r filled (mx lower
 * case, in the policy's order), or -1 with *err_r pointing at static text
 * (*p_r unspecified). Pure.
 */
int mtasts_parse_policy(const uint8_t *in, size_t len, struct mtasts_policy *p_r, const char **err_r);

/*
 * 1 if host, an MX host name (one trailing dot allowed, any case), matches
 * one of p's mx patterns (RFC 8461 4.1): equal, or for "*.example.com" a
 * name of exactly one more label ("mail.example.com", not "example.com" nor
 * "a.b.example.com"). 0 otherwise, also when host is not a valid host name.
 * Pure.
 */
int mtasts_mx_match(const struct mtasts_policy *p, const char *host);

/*
 * The policy p as text that mtasts_parse_policy() reads back into the
 * same policy ("version: STSv1", mode, max_age, one mx line each; LF),
 * into out[0..cap) with a NUL: how a policy is kept in the store. Returns
 * its length, or -1 when cap is too small (MTASTS_FORMAT_MAX always
 * fits). Pure.
 */
#define MTASTS_FORMAT_MAX (64 + MTASTS_MX_MAX * (DNSNAME_MAX + 6))
int mtasts_format_policy(const struct mtasts_policy *p, char *out, size_t cap);

/*
 * The policy host of domain, mta-sts.DOMAIN in lower case, into
 * out[0..cap) (DNSNAME_MAX + 1 always fits). Returns 0, or -1 when domain
 * is not a host name or the result would be too long for one. Pure.
 */
int mtasts_policy_host(const char *domain, char *out, size_t cap);

/* ---- fetching over HTTPS: blocking ---- */

/*
 * curl_global_init(): call once before any thread calls mtasts_fetch.
 * Returns 0 or -1. mtasts_global_cleanup() once after the last fetch.
 */
int mtasts_global_init(void);
void mtasts_global_cleanup(void);

/*
 * Fetch https://mta-sts.DOMAIN/.well-known/mta-sts.txt with libcurl and
 * parse it into *p_r: HTTPS only, TLS 1.2 or later, the certificate
 * verified for the name mta-sts.DOMAIN against ca_file (only that file's
 * CAs; NULL: the system's store), no proxy, no redirect followed (RFC 8461
 * 3.3), status 200 only, Content-Type text/plain (parameters allowed), at
 * most MTASTS_POLICY_MAX bytes of body (reading stops beyond), all within
 * timeout_ms (<= 0: MTASTS_FETCH_TIMEOUT_DEFAULT).
 *
 * domain: a host name (dnsname_check), not trusted further. resolve: NULL,
 * or a pin "mta-sts.DOMAIN:443:ADDR" for CURLOPT_RESOLVE, so that a caller
 * that looked the address up itself (with the validating resolver), or a
 * test, decides where the connection goes; a pin for another name or port
 * is refused (it would silently do nothing).
 *
 * Returns 0 with *p_r filled, or -1 with a NUL-terminated message in
 * err[0..errcap) that starts with the host name, e.g.
 * "mta-sts.peer.test: HTTP 404", "...: certificate not valid: ...",
 * "...: timed out after 5000 ms", "...: policy: mode missing"; peer bytes
 * in it are reduced to printable ASCII. Blocking; safe from several
 * threads at once (after mtasts_global_init).
 */
int mtasts_fetch(const char *domain, const char *ca_file, const char *resolve, int64_t timeout_ms,
		 struct mtasts_policy *p_r, char *err, size_t errcap);

/* ---- the policy cache: thread-safe ---- */

struct mtasts_cache;

/* An empty cache. Returns it (free with mtasts_cache_free), or NULL (memory). */
struct mtasts_cache *mtasts_cache_new(void);

/* Free *cp and everything in it and set *cp to NULL; NULL or *cp NULL: nothing. */
void mtasts_cache_free(struct mtasts_cache **cp);

/*
 * The cached policy of domain (any case) when it was cached under id
 * (compared exactly) and has not expired at now (Unix seconds; expired
 * from fetched + max_age on): returns 1 with a copy in *p_r and marks the
 * entry used. Else 0 (*p_r untouched).
 */
int mtasts_cache_get(struct mtasts_cache *c, const char *domain, const char *id, int64_t now,
		     struct mtasts_policy *p_r);

/*
 * As mtasts_cache_get whatever the id: the policy to keep using when the
 * TXT record has gone or the fetch failed (RFC 8461 5.1). Returns 1 with a
 * copy in *p_r, or 0.
 */
int mtasts_cache_get_any(struct mtasts_cache *c, const char *domain, int64_t now, struct mtasts_policy *p_r);

/*
 * Keep a copy of p for domain under id, fetched at now (expires at now +
 * max_age), replacing what domain had. When MTASTS_CACHE_MAX domains are
 * held, an expired entry makes room, else the least recently used (put or
 * got). Returns 0, or -1 when memory runs out or domain (dnsname_check) or
 * id (1 to MTASTS_ID_MAX letters and digits) is not valid; the cache is
 * unchanged then.
 */
int mtasts_cache_put(struct mtasts_cache *c, const char *domain, const char *id, int64_t now,
		     const struct mtasts_policy *p);

/* ---- the home's own policy, for its own domains (mtasts_own.c) ---- */

#define MTASTS_OWN_WHY_MAX 512

struct home_conf;
struct relay_state;

/*
 * What the home publishes: one policy, the same for each of its domains
 * (they share their MX hosts). mode MTASTS_MODE_NONE: nothing is published
 * (no _mta-sts TXT record, the policy URL answers 404), why says why.
 */
struct mtasts_own {
	enum mtasts_mode mode;
	char why[MTASTS_OWN_WHY_MAX];
	struct mtasts_policy policy;
	char text[MTASTS_FORMAT_MAX];		/* the policy body, as served */
	size_t len;
	char id[MTASTS_ID_MAX + 1];		/* for the TXT record: changes whenever text does */
};

/*
 * The policy for mode (enum home_mtasts_mode), max_age_s and the MX hosts
 * mx[0..nmx): NONE with why = untrusted when that is not NULL (the
 * certificate is not valid for them: senders under enforce would refuse
 * the mail), or when mode is off or there is no MX host; else the text
 * (mtasts_format_policy) and its id (the first 16 bytes of its SHA-256, in
 * hex). Pure.
 */
void mtasts_own_build(int mode, int64_t max_age_s, const char *const *mx, size_t nmx, const char *untrusted,
		      struct mtasts_own *o);

/* Is name a policy host (mta-sts.*), which is never an MX host? */
int mtasts_own_is_policy_host(const char *name);

/*
 * The home's MX host names into mx[0..cap): in relay mode each host name
 * an edge routes here but the policy hosts; else [home] hostname. Returns
 * how many (names point into hc and rs).
 */
size_t mtasts_own_mx(const struct home_conf *hc, const struct relay_state *rs, const char **mx, size_t cap);

/*
 * Everything: the MX hosts, the certificate checked against [outbound]
 * tls_ca_file (else the system's CAs) for each of them, then
 * mtasts_own_build with [mta_sts]. The certificate is cert (the chain
 * homeportd serves, loaded as root: keys/ is root's), else read from
 * [tls] certificate.
 */
struct tls_identity;
void mtasts_own_load(const struct home_conf *hc, const struct relay_state *rs, const struct tls_identity *cert,
		     struct mtasts_own *o);

#endif
