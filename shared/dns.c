/*
 * dns: MX, address and TLSA lookups for outbound mail on libunbound,
 * validating.
 *
 * Threads. libunbound(3): "The functions are thread-safe, and a context
 * can be used in a threaded (as well as in a non-threaded) environment."
 * So one ub_ctx serves every delivery thread. It runs asynchronously with
 * a background thread of its own (ub_ctx_async(ctx, 1): a thread, not the
 * default forked process, which would not belong in a threaded daemon):
 * a caller hands its queries over with ub_resolve_async and waits. Whoever
 * waits first becomes the reader: it polls libunbound's answer descriptor
 * (ub_fd) and runs ub_process, which calls the callback of every answer
 * that has arrived, its own and the other threads'; the others sleep on a
 * condition variable until their answers are in or their deadline passes,
 * and one of them takes over reading when the reader leaves.
 *
 * Deadlines. Blocking ub_resolve has no timeout: against a server that
 * refuses or does not answer it takes libunbound's own retries, tens of
 * seconds to minutes (infra-cache-max-rtt is 120 s). Here every call has
 * one deadline (the configured timeout) for all its queries; what has not
 * been answered by then is cancelled (ub_cancel) and counts as TEMPFAIL.
 * ub_cancel(3) warns that a query "already being delivered" cannot be
 * cancelled and its callback may still come: then we wait for that
 * callback, which another thread's ub_process is about to make, before
 * the query's memory goes away.
 *
 * Record data arrives from libunbound as wire-format rdata (ub_result's
 * data[i], len[i]); the dns_rdata_* decoders and dns_mx_records are pure
 * and are fuzzed (tests/fuzz/fuzz_dns.c).
 */
#include "dns.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sodium.h>
#include <unbound.h>

#include "cursor.h"
#include "num.h"

#define DNS_WIRE_NAME_MAX 255	/* a name on the wire, its length bytes and root label included */
#define DNS_CLASS_IN 1
#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52
#define DNS_TYPE_TXT 16
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_REASON_MAX 160	/* one lookup's reason, before it goes into a result's err */
#define DNS_SHA256_LEN 32
#define DNS_SHA512_LEN 64

/*
 * A name no local zone has: removing it changes nothing, but makes
 * libunbound finalize its configuration first (see dns_new).
 */
#define DNS_FINALIZE_ZONE "homeport-finalize.invalid."

/* ---- record data (pure) ------------------------------------------------------ */

static int
dns_ldh(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * An uncompressed wire-format name at the cursor, into name[0..cap) in
 * text, lower case, without a trailing dot ("" for the root). Each label
 * byte must be a letter, digit or hyphen, so that no label hides a dot
 * or anything an escape would have to show; dnsname_check does the rest.
 */
static int
dns_wire_name(struct cursor *c, char *name, size_t cap, const char **why_r)
{
	size_t out = 0, wire = 1;
	uint8_t n;

	if (cap == 0) {
		*why_r = "no room for the name";
		return -1;
	}
	for (;;) {
		if (cursor_u8(c, &n) != 0) {
			*why_r = "the name runs past the record";
			return -1;
		}
		if (n == 0)
			break;
		if ((n & 0xc0) == 0xc0) {
			*why_r = "a compression pointer in the name";
			return -1;
		}
		if ((n & 0xc0) != 0) {
			*why_r = "an unknown label type in the name";
			return -1;
		}
		wire += 1 + (size_t)n;
		if (wire > DNS_WIRE_NAME_MAX) {
			*why_r = "the name is longer than 255 bytes";
			return -1;
		}
		if (c->left < n) {
			*why_r = "the name runs past the record";
			return -1;
		}
		/* the label, a dot before it unless first, and the NUL */
		if ((out > 0) + (size_t)n + 1 > cap - out) {
			*why_r = "the name is too long";
			return -1;
		}
		if (out > 0)
			name[out++] = '.';
		for (uint8_t i = 0; i < n; i++) {
			uint8_t b = c->p[i];

			if (!dns_ldh(b)) {
				*why_r = "the name is not a host name (a byte other than a letter, digit or hyphen)";
				return -1;
			}
			name[out++] = (char)(b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b);
		}
		(void)cursor_skip(c, n);
	}
	name[out] = '\0';
	if (out > 0 && dnsname_check(name, out, 0) != 0) {
		*why_r = "the name is not a host name";
		return -1;
	}
	return 0;
}

int
dns_rdata_mx(const uint8_t *p, size_t len, unsigned *pref_r, char *name, size_t cap,
	     const char **why_r)
{
	struct cursor c = cursor_init(p, len);
	uint16_t pref;

	if (cursor_u16be(&c, &pref) != 0) {
		*why_r = "an MX record shorter than its preference";
		return -1;
	}
	if (dns_wire_name(&c, name, cap, why_r) != 0)
		return -1;
	if (c.left != 0) {
		*why_r = "bytes after the MX record's name";
		return -1;
	}
	*pref_r = pref;
	return 0;
}

int
dns_rdata_addr(const uint8_t *p, size_t len, int family, struct addr *a_r, const char **why_r)
{
	memset(a_r, 0, sizeof(*a_r));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a_r->ss;

		if (len != 4) {
			*why_r = "an A record that is not 4 bytes";
			return -1;
		}
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, p, 4);
		a_r->len = sizeof(*sin);
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a_r->ss;

		if (len != 16) {
			*why_r = "an AAAA record that is not 16 bytes";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, p, 16);
		a_r->len = sizeof(*sin6);
		return 0;
	}
	*why_r = "not an address family";
	return -1;
}

int
dns_rdata_tlsa(const uint8_t *p, size_t len, struct dns_tlsa_rr *rr_r, const char **why_r)
{
	struct cursor c = cursor_init(p, len);

	memset(rr_r, 0, sizeof(*rr_r));
	if (cursor_u8(&c, &rr_r->usage) != 0 || cursor_u8(&c, &rr_r->selector) != 0 ||
	    cursor_u8(&c, &rr_r->mtype) != 0 || c.left == 0) {
		*why_r = "a TLSA record without association data";
		return -1;
	}
	if (c.left > DNS_TLSA_DATA_MAX) {
		*why_r = "a TLSA record with more than 64 bytes of data (a whole certificate or key)";
		return -1;
	}
	if ((rr_r->mtype == 1 && c.left != DNS_SHA256_LEN) ||
	    (rr_r->mtype == 2 && c.left != DNS_SHA512_LEN)) {
		*why_r = "a TLSA digest of the wrong length for its matching type";
		return -1;
	}
	rr_r->len = c.left;
	(void)cursor_copy(&c, rr_r->data, rr_r->len);
	return 0;
}

int
dns_rdata_txt(const uint8_t *p, size_t len, struct dns_txt_rr *rr_r, const char **why_r)
{
	struct cursor c = cursor_init(p, len);
	uint8_t n;

	rr_r->len = 0;
	if (len == 0) {
		*why_r = "a TXT record without a string";
		return -1;
	}
	while (c.left > 0) {
		if (cursor_u8(&c, &n) != 0 || c.left < n) {
			*why_r = "a TXT string longer than its record";
			return -1;
		}
		if (n > DNS_TXT_LEN_MAX - rr_r->len) {
			*why_r = "a TXT record longer than 1024 bytes";
			return -1;
		}
		(void)cursor_copy(&c, rr_r->data + rr_r->len, n);
		rr_r->len += n;
	}
	return 0;
}

/* Append words to err[0..cap), "; " between them, cut where it is full, printable ASCII only. */
static void __attribute__((format(printf, 3, 4)))
dns_err_add(char *err, size_t cap, const char *fmt, ...)
{
	char text[DNS_ERR_MAX];
	size_t at = strnlen(err, cap), n;
	va_list ap;

	if (cap == 0 || at + 1 >= cap)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (at > 0) {
		if (cap - at < 4)	/* "; ", one byte, the NUL */
			return;
		memcpy(err + at, "; ", 2);
		at += 2;
	}
	n = strnlen(text, sizeof(text));
	if (n > cap - 1 - at)
		n = cap - 1 - at;
	for (size_t i = 0; i < n; i++)
		err[at + i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	err[at + n] = '\0';
}

/* a is before b: lower preference, then the lower random key. */
static int
dns_mx_before(unsigned apref, uint32_t akey, unsigned bpref, uint32_t bkey)
{
	return apref < bpref || (apref == bpref && akey < bkey);
}

/*
 * Put a host in the kept list (sorted, at most DNS_MX_MAX): a name already
 * there keeps the lower preference; when full, the last goes if the new
 * one comes before it. Returns 1 when a host was left out (the new one or
 * the last), else 0.
 */
static int
dns_mx_keep(struct dns_mx *r, uint32_t keys[DNS_MX_MAX], const char *name, unsigned pref,
	    uint32_t key)
{
	int left_out = 0;
	size_t at;

	for (size_t i = 0; i < r->nhosts; i++) {
		if (strcmp(r->hosts[i].name, name) != 0)
			continue;
		if (r->hosts[i].preference <= pref)
			return 0;
		/* the same host at a lower preference: take it out, put it back below */
		memmove(&r->hosts[i], &r->hosts[i + 1], (r->nhosts - i - 1) * sizeof(r->hosts[0]));
		memmove(&keys[i], &keys[i + 1], (r->nhosts - i - 1) * sizeof(keys[0]));
		r->nhosts--;
		break;
	}
	if (r->nhosts == DNS_MX_MAX) {
		const struct dns_host *last = &r->hosts[DNS_MX_MAX - 1];

		if (!dns_mx_before(pref, key, last->preference, keys[DNS_MX_MAX - 1]))
			return 1;
		r->nhosts--;
		left_out = 1;
	}
	at = r->nhosts;
	while (at > 0 && dns_mx_before(pref, key, r->hosts[at - 1].preference, keys[at - 1]))
		at--;
	memmove(&r->hosts[at + 1], &r->hosts[at], (r->nhosts - at) * sizeof(r->hosts[0]));
	memmove(&keys[at + 1], &keys[at], (r->nhosts - at) * sizeof(keys[0]));
	memset(&r->hosts[at], 0, sizeof(r->hosts[at]));
	memcpy(r->hosts[at].name, name, strlen(name) + 1);
	r->hosts[at].preference = pref;
	r->hosts[at].status = DNS_NODATA;
	keys[at] = key;
	r->nhosts++;
	return left_out;
}

int
dns_mx_records(char *const *data, const int *len, size_t n, uint32_t (*uniform)(uint32_t),
	       struct dns_mx *r)
{
	uint32_t keys[DNS_MX_MAX];
	char name[DNSNAME_MAX + 1];
	const char *why = NULL, *first_why = NULL;
	size_t skipped = 0, dropped = 0;
	unsigned pref;

	r->null_mx = 0;
	r->nhosts = 0;
	r->err[0] = '\0';
	if (n == 0) {
		dns_err_add(r->err, sizeof(r->err), "no MX records");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (len[i] < 0 || dns_rdata_mx((const uint8_t *)data[i], (size_t)len[i], &pref, name,
					       sizeof(name), &why) != 0) {
			skipped++;
			if (first_why == NULL)
				first_why = len[i] < 0 ? "a negative length" : why;
			continue;
		}
		if (name[0] == '\0') {
			if (n == 1 && pref == 0) {
				r->null_mx = 1;
				return 0;
			}
			skipped++;
			if (first_why == NULL)
				first_why = n == 1 ? "a null MX whose preference is not 0" :
						     "a null MX (\".\") beside other MX records";
			continue;
		}
		dropped += (size_t)dns_mx_keep(r, keys, name, pref, uniform(UINT32_MAX));
	}
	if (skipped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu of %zu MX records skipped: %s", skipped, n,
			    first_why);
	if (dropped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu MX hosts past the %d kept", dropped, DNS_MX_MAX);
	if (r->nhosts == 0) {
		dns_err_add(r->err, sizeof(r->err), "no MX record names a usable host");
		return -1;
	}
	return 0;
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "OK";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "NODATA";
	case DNS_TEMPFAIL:
		return "TEMPFAIL";
	case DNS_BOGUS:
		return "BOGUS";
	}
	return "?";
}

/* ---- the resolver ---------------------------------------------------------- */

struct dns {
	struct ub_ctx *ctx;
	int64_t timeout_ms;
	pthread_mutex_t lock;	/* guards what follows and every dns_wait and dns_query state */
	pthread_cond_t cond;	/* an answer came in, or the reader left */
	int reading;		/* a thread is polling ub_fd and running ub_process for everyone */
	int broken;		/* ub_process failed: libunbound's thread is gone, no answer will come */
	int stopping;		/* dns_stop: every wait ends now */
};

/* The queries of one call, waited for together. */
struct dns_wait {
	struct dns *d;
	size_t pending;		/* handed to libunbound and neither answered nor cancelled */
};

enum dns_query_state {
	DNS_Q_NONE,		/* not started */
	DNS_Q_FAILED,		/* ub_resolve_async refused it (err) */
	DNS_Q_PENDING,		/* with libunbound */
	DNS_Q_DONE,		/* the callback came (err, res) */
	DNS_Q_CANCELLED,	/* not answered by the deadline */
};

struct dns_query {
	struct dns_wait *w;
	enum dns_query_state state;
	int id;			/* libunbound's async id */
	int err;		/* libunbound's error code */
	struct ub_result *res;	/* ours: ub_resolve_free */
};

static int64_t
dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called by libunbound inside ub_process, in whichever thread reads. */
static void
dns_callback(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;
	struct dns_wait *w = q->w;
	struct dns *d = w->d;

	pthread_mutex_lock(&d->lock);
	q->err = err;
	q->res = res;
	q->state = DNS_Q_DONE;
	w->pending--;
	pthread_cond_broadcast(&d->cond);
	/* From here the waiter may return: q and w are not touched again. */
	pthread_mutex_unlock(&d->lock);
}

static void
dns_query_start(struct dns_wait *w, struct dns_query *q, const char *name, int type)
{
	struct dns *d = w->d;
	int rc;

	memset(q, 0, sizeof(*q));
	q->w = w;
	/* Counted before it is handed over: its callback may come at once. */
	pthread_mutex_lock(&d->lock);
	q->state = DNS_Q_PENDING;
	w->pending++;
	pthread_mutex_unlock(&d->lock);
	rc = ub_resolve_async(d->ctx, name, type, DNS_CLASS_IN, q, dns_callback, &q->id);
	if (rc != 0) {
		pthread_mutex_lock(&d->lock);
		q->state = DNS_Q_FAILED;
		q->err = rc;
		w->pending--;
		pthread_mutex_unlock(&d->lock);
	}
}

/* Wait until every query of w is answered or the deadline (dns_now_ms) passes. */
static void
dns_wait_all(struct dns_wait *w, int64_t deadline)
{
	struct dns *d = w->d;

	pthread_mutex_lock(&d->lock);
	while (w->pending > 0 && !d->broken && !d->stopping) {
		int64_t left = deadline - dns_now_ms();

		if (left <= 0)
			break;
		if (left > DNS_STOP_SLICE_MS)
			left = DNS_STOP_SLICE_MS;	/* the reader looks at stopping this often */
		if (!d->reading) {
			struct pollfd pfd = { .fd = ub_fd(d->ctx), .events = POLLIN };
			int n, rc = 0, failed;

			d->reading = 1;
			pthread_mutex_unlock(&d->lock);
			n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
			failed = n < 0 && errno != EINTR;
			if (n > 0)
				rc = ub_process(d->ctx);
			pthread_mutex_lock(&d->lock);
			d->reading = 0;
			if (failed || rc != 0)
				d->broken = 1;
			pthread_cond_broadcast(&d->cond);
		} else {
			int64_t until = dns_now_ms() + left;
			struct timespec ts = { .tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000 };

			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* After dns_wait_all: cancel what is still pending; afterwards no callback touches qs. */
static void
dns_wait_end(struct dns_wait *w, struct dns_query *qs, size_t n)
{
	struct dns *d = w->d;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		struct dns_query *q = &qs[i];

		if (q->state != DNS_Q_PENDING)
			continue;
		/*
		 * Lock order: d->lock, then libunbound's own inside ub_cancel;
		 * libunbound calls dns_callback holding none of its locks.
		 */
		if (ub_cancel(d->ctx, q->id) == 0) {
			q->state = DNS_Q_CANCELLED;
			w->pending--;
			continue;
		}
		/* Being delivered by the reader right now: its callback is on the way. */
		while (q->state == DNS_Q_PENDING)
			pthread_cond_wait(&d->cond, &d->lock);
	}
	pthread_mutex_unlock(&d->lock);
}

static void
dns_query_free(struct dns_query *q)
{
	ub_resolve_free(q->res);
	q->res = NULL;
}

static const char *
dns_rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	}
	return "an unexpected rcode";
}

/*
 * What a finished query says: its status, and for anything but DNS_OK a
 * reason in plain words into why[0..DNS_REASON_MAX).
 */
static enum dns_status
dns_answer(const struct dns *d, const struct dns_query *q, char why[DNS_REASON_MAX])
{
	const struct ub_result *res = q->res;

	why[0] = '\0';
	switch (q->state) {
	case DNS_Q_DONE:
		break;
	case DNS_Q_CANCELLED:
		snprintf(why, DNS_REASON_MAX, "no answer within %lld ms", (long long)d->timeout_ms);
		return DNS_TEMPFAIL;
	case DNS_Q_FAILED:
		snprintf(why, DNS_REASON_MAX, "libunbound: %s", ub_strerror(q->err));
		return DNS_TEMPFAIL;
	default:
		snprintf(why, DNS_REASON_MAX, "libunbound's thread stopped answering");
		return DNS_TEMPFAIL;
	}
	if (q->err != 0 || res == NULL) {
		snprintf(why, DNS_REASON_MAX, "libunbound: %s", ub_strerror(q->err));
		return DNS_TEMPFAIL;
	}
	if (res->bogus) {
		snprintf(why, DNS_REASON_MAX, "DNSSEC validation failed: %s",
			 res->why_bogus != NULL ? res->why_bogus : "no reason given");
		return DNS_BOGUS;
	}
	if (res->rcode == DNS_RCODE_NXDOMAIN || res->nxdomain) {
		snprintf(why, DNS_REASON_MAX, "no such name (NXDOMAIN)");
		return DNS_NXDOMAIN;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		snprintf(why, DNS_REASON_MAX, "the server answered %s (%d)", dns_rcode_name(res->rcode),
			 res->rcode);
		return DNS_TEMPFAIL;
	}
	if (!res->havedata) {
		snprintf(why, DNS_REASON_MAX, "no records of the type");
		return DNS_NODATA;
	}
	return DNS_OK;
}

/* The answer was validated as secure (a bogus or missing answer is not). */
static int
dns_secure(const struct dns_query *q)
{
	return q->state == DNS_Q_DONE && q->err == 0 && q->res != NULL && q->res->secure &&
	       !q->res->bogus;
}

static size_t
dns_count(const struct ub_result *res)
{
	size_t n = 0;

	while (res->data != NULL && res->data[n] != NULL)
		n++;
	return n;
}

/* A host's addresses from its A (qa) and AAAA (q6) answers. */
static void
dns_host_fill(const struct dns *d, struct dns_host *h, const struct dns_query *qa,
	      const struct dns_query *q6, char *err, size_t errcap)
{
	const struct dns_query *qs[2] = { qa, q6 };
	static const char *const types[2] = { "A", "AAAA" };
	static const int families[2] = { AF_INET, AF_INET6 };
	enum dns_status st[2];
	char why[2][DNS_REASON_MAX];
	const char *bad = NULL;

	h->naddrs = 0;
	for (int k = 0; k < 2; k++) {
		const struct ub_result *res = qs[k]->res;

		st[k] = dns_answer(d, qs[k], why[k]);
		if (st[k] != DNS_OK)
			continue;
		for (size_t i = 0; i < dns_count(res) && h->naddrs < DNS_ADDRS_MAX; i++) {
			if (res->len[i] < 0 || dns_rdata_addr((const uint8_t *)res->data[i], (size_t)res->len[i],
							      families[k], &h->addrs[h->naddrs], &bad) != 0)
				continue;
			h->naddrs++;
		}
	}
	h->secure = dns_secure(qa) && dns_secure(q6);
	if (h->naddrs > 0)
		h->status = DNS_OK;
	else if (st[0] == DNS_BOGUS || st[1] == DNS_BOGUS)
		h->status = DNS_BOGUS;
	else if (st[0] == DNS_TEMPFAIL || st[1] == DNS_TEMPFAIL)
		h->status = DNS_TEMPFAIL;
	else if (st[0] == DNS_NXDOMAIN && st[1] == DNS_NXDOMAIN)
		h->status = DNS_NXDOMAIN;
	else
		h->status = DNS_NODATA;
	/* Failures worth telling: any that may pass, and every one of a host left without address. */
	for (int k = 0; k < 2; k++) {
		if (st[k] == DNS_BOGUS || st[k] == DNS_TEMPFAIL || (h->naddrs == 0 && st[k] != DNS_OK))
			dns_err_add(err, errcap, "%s %s: %s", h->name, types[k], why[k]);
	}
	if (h->naddrs == 0 && st[0] == DNS_OK && st[1] == DNS_OK && bad != NULL)
		dns_err_add(err, errcap, "%s: %s", h->name, bad);
}

/* A and AAAA of every host of r, all at once, by the deadline. */
static void
dns_mx_addresses(struct dns *d, struct dns_mx *r, int64_t deadline)
{
	struct dns_query qs[2 * DNS_MX_MAX];
	struct dns_wait w = { .d = d, .pending = 0 };

	for (size_t i = 0; i < r->nhosts; i++) {
		dns_query_start(&w, &qs[2 * i], r->hosts[i].name, DNS_TYPE_A);
		dns_query_start(&w, &qs[2 * i + 1], r->hosts[i].name, DNS_TYPE_AAAA);
	}
	dns_wait_all(&w, deadline);
	dns_wait_end(&w, qs, 2 * r->nhosts);
	for (size_t i = 0; i < r->nhosts; i++) {
		dns_host_fill(d, &r->hosts[i], &qs[2 * i], &qs[2 * i + 1], r->err, sizeof(r->err));
		dns_query_free(&qs[2 * i]);
		dns_query_free(&qs[2 * i + 1]);
	}
}

/* The destination's status from its hosts': OK if one has an address. */
static enum dns_status
dns_mx_status(const struct dns_mx *r)
{
	int bogus = 0, tempfail = 0;

	for (size_t i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].status == DNS_OK)
			return DNS_OK;
		bogus |= r->hosts[i].status == DNS_BOGUS;
		tempfail |= r->hosts[i].status == DNS_TEMPFAIL;
	}
	return bogus ? DNS_BOGUS : tempfail ? DNS_TEMPFAIL : DNS_NODATA;
}

/* A host name as dnsname_check takes it, lowercased into out[DNSNAME_MAX + 1]. */
static int
dns_name_arg(const char *s, char out[DNSNAME_MAX + 1])
{
	size_t n = s != NULL ? strnlen(s, DNSNAME_MAX + 1) : 0;

	if (dnsname_check(s, n, 0) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
	out[n] = '\0';
	return 0;
}

int
dns_mx(struct dns *d, const char *domain, struct dns_mx *r)
{
	char name[DNSNAME_MAX + 1], why[DNS_REASON_MAX];
	struct dns_wait w = { .d = d, .pending = 0 };
	struct dns_query q;
	enum dns_status st;
	int64_t deadline;

	memset(r, 0, sizeof(*r));
	r->status = DNS_TEMPFAIL;
	if (dns_name_arg(domain, name) != 0) {
		dns_err_add(r->err, sizeof(r->err), "the mail domain is not a host name");
		return -1;
	}
	deadline = dns_now_ms() + d->timeout_ms;
	dns_query_start(&w, &q, name, DNS_TYPE_MX);
	dns_wait_all(&w, deadline);
	dns_wait_end(&w, &q, 1);
	st = dns_answer(d, &q, why);
	r->secure = dns_secure(&q);
	switch (st) {
	case DNS_OK:
		if (dns_mx_records(q.res->data, q.res->len, dns_count(q.res), randombytes_uniform, r) != 0) {
			r->status = DNS_TEMPFAIL;
			goto done;
		}
		if (r->null_mx) {
			r->status = DNS_OK;
			goto done;
		}
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX records, the domain itself with preference 0 */
		r->implicit = 1;
		r->nhosts = 1;
		memcpy(r->hosts[0].name, name, sizeof(name));
		r->hosts[0].preference = 0;
		break;
	default:
		r->status = st;
		dns_err_add(r->err, sizeof(r->err), "%s MX: %s", name, why);
		goto done;
	}
	dns_mx_addresses(d, r, deadline);
	if (r->implicit)
		r->secure = r->hosts[0].secure;
	r->status = dns_mx_status(r);
	if (r->status != DNS_OK)
		dns_err_add(r->err, sizeof(r->err), "%s: no %s has an address", name,
			    r->implicit ? "MX record, and the domain itself" : "MX host");
done:
	dns_query_free(&q);
	return 0;
}

int
dns_addrs(struct dns *d, const char *host, struct dns_host *h, char *err, size_t errcap)
{
	struct dns_query qs[2];
	struct dns_wait w = { .d = d, .pending = 0 };
	char name[DNSNAME_MAX + 1];

	memset(h, 0, sizeof(*h));
	h->status = DNS_TEMPFAIL;
	if (errcap > 0)
		err[0] = '\0';
	if (dns_name_arg(host, name) != 0) {
		dns_err_add(err, errcap, "%s", "the host is not a host name");
		return -1;
	}
	memcpy(h->name, name, sizeof(h->name));
	dns_query_start(&w, &qs[0], h->name, DNS_TYPE_A);
	dns_query_start(&w, &qs[1], h->name, DNS_TYPE_AAAA);
	dns_wait_all(&w, dns_now_ms() + d->timeout_ms);
	dns_wait_end(&w, qs, 2);
	dns_host_fill(d, h, &qs[0], &qs[1], err, errcap);
	dns_query_free(&qs[0]);
	dns_query_free(&qs[1]);
	return 0;
}

int
dns_tlsa(struct dns *d, const char *host, uint16_t port, struct dns_tlsa *r)
{
	char name[DNSNAME_MAX + 1], qname[DNSNAME_MAX + 1], why[DNS_REASON_MAX];
	struct dns_wait w = { .d = d, .pending = 0 };
	const char *bad = NULL;
	size_t skipped = 0, dropped = 0, n;
	struct dns_query q;
	int64_t deadline;
	int len;

	memset(r, 0, sizeof(*r));
	r->status = DNS_TEMPFAIL;
	if (dns_name_arg(host, name) != 0 || port == 0) {
		dns_err_add(r->err, sizeof(r->err), "%s", port == 0 ? "port 0" : "the host is not a host name");
		return -1;
	}
	len = snprintf(qname, sizeof(qname), "_%u._tcp.%s", (unsigned)port, name);
	if (len < 0 || (size_t)len >= sizeof(qname)) {
		dns_err_add(r->err, sizeof(r->err), "the TLSA name is longer than %d bytes", DNSNAME_MAX);
		return -1;
	}
	deadline = dns_now_ms() + d->timeout_ms;
	dns_query_start(&w, &q, qname, DNS_TYPE_TLSA);
	dns_wait_all(&w, deadline);
	dns_wait_end(&w, &q, 1);
	r->status = dns_answer(d, &q, why);
	r->secure = dns_secure(&q);
	if (r->status != DNS_OK) {
		dns_err_add(r->err, sizeof(r->err), "%s TLSA: %s", qname, why);
		goto done;
	}
	n = dns_count(q.res);
	for (size_t i = 0; i < n; i++) {
		if (q.res->len[i] < 0 ||
		    dns_rdata_tlsa((const uint8_t *)q.res->data[i], (size_t)q.res->len[i], &r->rr[r->n], &bad) != 0) {
			skipped++;
			continue;
		}
		if (r->n == DNS_TLSA_MAX) {
			dropped++;
			continue;
		}
		r->n++;
	}
	if (skipped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu of %zu TLSA records skipped: %s", skipped, n,
			    bad != NULL ? bad : "a negative length");
	if (dropped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu TLSA records past the %d kept", dropped, DNS_TLSA_MAX);
done:
	dns_query_free(&q);
	return 0;
}

/* Labels in front of a name ("_mta-sts", "sel._domainkey"): 1 to 63 of [A-Za-z0-9_-], dots between. */
static int
dns_label_check(const char *label)
{
	size_t run = 0;

	for (const char *p = label;; p++) {
		if (*p == '.' || *p == '\0') {
			if (run == 0 || run > 63)
				return -1;
			if (*p == '\0')
				return 0;
			run = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			   *p == '_' || *p == '-') {
			run++;
		} else {
			return -1;
		}
	}
}

/* LABEL.DOMAIN (label NULL: DOMAIN) into qname, r->err saying why not. Returns 0, or -1. */
static int
dns_txt_qname(const char *label, const char *domain, char qname[DNSNAME_MAX + 1], struct dns_txt *r)
{
	char name[DNSNAME_MAX + 1];
	int len;

	memset(r, 0, sizeof(*r));
	r->status = DNS_TEMPFAIL;
	if (dns_name_arg(domain, name) != 0 || (label != NULL && dns_label_check(label) != 0)) {
		dns_err_add(r->err, sizeof(r->err), "%s", "the name is not a host name");
		return -1;
	}
	len = label != NULL ? snprintf(qname, DNSNAME_MAX + 1, "%s.%s", label, name)
			    : snprintf(qname, DNSNAME_MAX + 1, "%s", name);
	if (len < 0 || len > DNSNAME_MAX) {
		dns_err_add(r->err, sizeof(r->err), "the TXT name is longer than %d bytes", DNSNAME_MAX);
		return -1;
	}
	return 0;
}

/* The answer of q, a TXT query for qname, into r. */
static void
dns_txt_result(const struct dns *d, const struct dns_query *q, const char *qname, struct dns_txt *r)
{
	char why[DNS_REASON_MAX];
	const char *bad = NULL;
	size_t skipped = 0, dropped = 0, n;

	r->status = dns_answer(d, q, why);
	r->secure = dns_secure(q);
	if (r->status != DNS_OK) {
		dns_err_add(r->err, sizeof(r->err), "%s TXT: %s", qname, why);
		return;
	}
	n = dns_count(q->res);
	for (size_t i = 0; i < n; i++) {
		if (r->n == DNS_TXT_MAX) {
			dropped++;
			continue;
		}
		if (q->res->len[i] < 0 ||
		    dns_rdata_txt((const uint8_t *)q->res->data[i], (size_t)q->res->len[i], &r->rr[r->n], &bad) != 0) {
			skipped++;
			continue;
		}
		r->n++;
	}
	if (skipped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu of %zu TXT records skipped: %s", skipped, n,
			    bad != NULL ? bad : "a negative length");
	if (dropped > 0)
		dns_err_add(r->err, sizeof(r->err), "%zu TXT records past the %d kept", dropped, DNS_TXT_MAX);
}

int
dns_txt(struct dns *d, const char *label, const char *domain, struct dns_txt *r)
{
	return dns_txt_names(d, label, &domain, 1, r);
}

int
dns_txt_names(struct dns *d, const char *label, const char *const *domains, size_t n, struct dns_txt *r)
{
	char qname[DNS_TXT_NAMES_MAX][DNSNAME_MAX + 1];
	struct dns_query q[DNS_TXT_NAMES_MAX];
	struct dns_wait w = { .d = d, .pending = 0 };
	int rc = 0;

	if (n > DNS_TXT_NAMES_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (dns_txt_qname(label, domains[i], qname[i], &r[i]) != 0)
			rc = -1;
	}
	if (rc != 0) {
		/* Nothing asked: the results of the names that were fine say so too. */
		for (size_t i = 0; i < n; i++) {
			if (r[i].err[0] == '\0')
				dns_err_add(r[i].err, sizeof(r[i].err), "%s", "not looked up: another name is bad");
		}
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		dns_query_start(&w, &q[i], qname[i], DNS_TYPE_TXT);
	dns_wait_all(&w, dns_now_ms() + d->timeout_ms);
	dns_wait_end(&w, q, n);
	for (size_t i = 0; i < n; i++) {
		dns_txt_result(d, &q[i], qname[i], &r[i]);
		dns_query_free(&q[i]);
	}
	return 0;
}

int
dns_forward_check(const char *fwd, char *err, size_t errcap)
{
	size_t n = strnlen(fwd, DNS_FORWARD_MAX + 1), alen = n;
	const char *at = memrchr(fwd, '@', n);
	struct addr a;
	int64_t port;

	if (n == 0 || n > DNS_FORWARD_MAX)
		goto fail;
	if (at != NULL) {
		alen = (size_t)(at - fwd);
		if (num_parse_i64(at + 1, n - alen - 1, 1, 65535, &port) != 0)
			goto fail;
	}
	if (addr_parse(fwd, alen, ADDR_PORT_NONE, &a) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errcap, "forward: not an address or ADDR@PORT: %.*s", (int)(n > 64 ? 64 : n), fwd);
	return -1;
}

struct dns *
dns_new(const struct dns_conf *c, char *err, size_t errcap)
{
	const char *anchor = c->trust_anchor_file != NULL ? c->trust_anchor_file : DNS_ROOT_ANCHOR_DEFAULT;
	int64_t timeout = c->timeout_ms == 0 ? DNS_TIMEOUT_DEFAULT : c->timeout_ms;
	int have_mutex = 0, have_cond = 0, rc;
	struct dns *d = NULL;
	pthread_condattr_t ca;
	FILE *f;

	if (timeout < 0 || timeout > DNS_TIMEOUT_MAX) {
		snprintf(err, errcap, "timeout: %lld ms is not within 0 to %d", (long long)c->timeout_ms,
			 DNS_TIMEOUT_MAX);
		goto fail;
	}
	if (c->forward != NULL && dns_forward_check(c->forward, err, errcap) != 0)
		goto fail;
	/* libunbound only logs an unreadable file; say which, and why, here. */
	f = fopen(anchor, "r");
	if (f == NULL) {
		snprintf(err, errcap, "trust anchor file %s: %s", anchor, strerror(errno));
		goto fail;
	}
	fclose(f);
	if (sodium_init() < 0) {
		snprintf(err, errcap, "libsodium failed to start");
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto nomem;
	d->timeout_ms = timeout;
	have_mutex = pthread_mutex_init(&d->lock, NULL) == 0;
	if (!have_mutex || pthread_condattr_init(&ca) != 0)
		goto nomem;
	/* deadlines are on the monotonic clock */
	have_cond = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
		    pthread_cond_init(&d->cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!have_cond)
		goto nomem;
	d->ctx = ub_ctx_create();
	if (d->ctx == NULL)
		goto nomem;
	rc = ub_ctx_async(d->ctx, 1);
	if (rc == 0 && c->forward != NULL)
		rc = ub_ctx_set_fwd(d->ctx, c->forward);
	if (rc == 0)
		rc = ub_ctx_add_ta_file(d->ctx, anchor);
	/* Answers expire as they arrive: each lookup asks again (a TTL of 0 is what unbound caps them to). */
	if (rc == 0 && c->no_cache)
		rc = ub_ctx_set_option(d->ctx, "cache-max-ttl:", "0");
	if (rc == 0 && c->no_cache)
		rc = ub_ctx_set_option(d->ctx, "cache-max-negative-ttl:", "0");
	if (rc != 0) {
		snprintf(err, errcap, "libunbound: %s", ub_strerror(rc));
		goto fail;
	}
	/*
	 * libunbound reads its configuration, the trust anchors with it, when
	 * first used ("finalize"). ub_ctx_zone_remove finalizes before it
	 * looks for the zone, and removing a zone that is not there changes
	 * nothing: so a malformed anchor file is this function's error, not
	 * every lookup's.
	 */
	rc = ub_ctx_zone_remove(d->ctx, DNS_FINALIZE_ZONE);
	if (rc != 0) {
		snprintf(err, errcap, "libunbound could not start with the trust anchors of %s: %s "
			 "(its log says why)", anchor, ub_strerror(rc));
		goto fail;
	}
	/*
	 * libunbound answers names under "test." itself, NXDOMAIN, as RFC 6761
	 * 6.2 asks of caching resolvers by default. Forwarding, the resolver
	 * we forward to is that caching resolver and keeps its own policy for
	 * them (the test bench's server holds test zones), so the local zone
	 * goes; recursing from the root it stays.
	 */
	if (c->forward != NULL && (rc = ub_ctx_zone_remove(d->ctx, "test.")) != 0) {
		snprintf(err, errcap, "libunbound: %s", ub_strerror(rc));
		goto fail;
	}
	return d;
nomem:
	snprintf(err, errcap, "out of memory");
fail:
	if (d != NULL) {
		if (d->ctx != NULL)
			ub_ctx_delete(d->ctx);
		if (have_cond)
			pthread_cond_destroy(&d->cond);
		if (have_mutex)
			pthread_mutex_destroy(&d->lock);
		free(d);
	}
	return NULL;
}

void
dns_stop(struct dns *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void
dns_free(struct dns **dp)
{
	struct dns *d = dp != NULL ? *dp : NULL;

	if (d == NULL)
		return;
	ub_ctx_delete(d->ctx);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*dp = NULL;
}
