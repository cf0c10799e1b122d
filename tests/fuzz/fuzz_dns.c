/*
 * Fuzz target: shared/dns's decoders of record data from the network.
 *
 * The input is taken whole as MX, A, AAAA and TLSA rdata, and then as a
 * list of records (each a length byte and that many bytes) for the MX
 * host choice. Checked: an MX name that decodes is "" or a host name and
 * encodes back, in lower case, to exactly the input's bytes after the
 * preference; an address decodes exactly when its length is right; a TLSA
 * record's data is the input's after three bytes, 1 to DNS_TLSA_DATA_MAX
 * long, digests of their length; the hosts chosen are sorted by
 * preference, each a host name once, each at the lowest preference its
 * records give it, at most DNS_MX_MAX, a null MX only as the only record,
 * and the reason text printable and terminated.
 */
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "dns.h"
#include "addr.h"
#include "dnsname.h"
#include "fuzz.h"

#define FUZZ_DNS_RECORDS_MAX 64

static void
fuzz_check_err(const char *err, size_t cap)
{
	size_t n = strnlen(err, cap);

	if (n == cap)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (err[i] < 0x20 || err[i] >= 0x7f)
			__builtin_trap();
	}
}

static char
fuzz_lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* The text name, back to wire format, matches p[0..len) up to letter case. */
static void
fuzz_mx_round_trip(const uint8_t *p, size_t len, const char *name)
{
	size_t at = 0, n = strlen(name);

	for (size_t i = 0; i < n;) {
		size_t k = i;

		while (k < n && name[k] != '.')
			k++;
		if (at >= len || p[at] != k - i)
			__builtin_trap();
		at++;
		for (size_t j = i; j < k; j++, at++) {
			if (at >= len || fuzz_lower(p[at]) != name[j])
				__builtin_trap();
		}
		i = k + 1;
	}
	if (at + 1 != len || p[at] != 0)
		__builtin_trap();
}

static void
fuzz_mx(const uint8_t *data, size_t size)
{
	char name[DNSNAME_MAX + 1];
	const char *why = NULL;
	unsigned pref = 0;
	int rc = dns_rdata_mx(data, size, &pref, name, sizeof(name), &why);

	if (rc != 0) {
		if (rc != -1 || why == NULL || why[0] == '\0')
			__builtin_trap();
		return;
	}
	if (size < 3 || pref != ((unsigned)data[0] << 8 | data[1]))
		__builtin_trap();
	if (name[0] != '\0' && dnsname_check(name, strlen(name), 0) != 0)
		__builtin_trap();
	fuzz_mx_round_trip(data + 2, size - 2, name);
}

static void
fuzz_addr(const uint8_t *data, size_t size)
{
	uint8_t back[16];
	const char *why = NULL;
	struct addr a;
	int rc4 = dns_rdata_addr(data, size, AF_INET, &a, &why);

	if ((rc4 == 0) != (size == 4))
		__builtin_trap();
	if (rc4 == 0 && (addr_ip_bytes(&a, back) != 4 || memcmp(back, data, 4) != 0 || addr_port(&a) != 0))
		__builtin_trap();
	if (dns_rdata_addr(data, size, AF_INET6, &a, &why) == 0) {
		if (size != 16 || addr_port(&a) != 0)
			__builtin_trap();
	} else if (size == 16) {
		__builtin_trap();
	}
}

static void
fuzz_tlsa(const uint8_t *data, size_t size)
{
	struct dns_tlsa_rr rr;
	const char *why = NULL;

	if (dns_rdata_tlsa(data, size, &rr, &why) != 0) {
		if (why == NULL || (size > 3 && size - 3 <= DNS_TLSA_DATA_MAX &&
				    !(data[2] == 1 && size - 3 != 32) && !(data[2] == 2 && size - 3 != 64)))
			__builtin_trap();
		return;
	}
	if (size < 4 || rr.len != size - 3 || rr.len > DNS_TLSA_DATA_MAX || rr.usage != data[0] ||
	    rr.selector != data[1] || rr.mtype != data[2] || memcmp(rr.data, data + 3, rr.len) != 0 ||
	    (rr.mtype == 1 && rr.len != 32) || (rr.mtype == 2 && rr.len != 64))
		__builtin_trap();
}

/* A random source from the input: reproducible, and the fuzzer steers the ties. */
/* TXT: the joined strings are exactly the bytes after each length byte, in order. */
static void
fuzz_txt(const uint8_t *data, size_t size)
{
	struct dns_txt_rr rr;
	const char *why = NULL;
	size_t at = 0, got = 0;

	if (dns_rdata_txt(data, size, &rr, &why) != 0) {
		if (why == NULL)
			__builtin_trap();
		return;
	}
	if (size == 0 || rr.len > DNS_TXT_LEN_MAX)
		__builtin_trap();
	while (at < size) {
		size_t n = data[at++];
		if (n > size - at || got + n > rr.len || memcmp(rr.data + got, data + at, n) != 0)
			__builtin_trap();
		at += n;
		got += n;
	}
	if (got != rr.len)
		__builtin_trap();
}

static uint32_t fuzz_state;

static uint32_t
fuzz_uniform(uint32_t upper)
{
	fuzz_state ^= fuzz_state << 13;
	fuzz_state ^= fuzz_state >> 17;
	fuzz_state ^= fuzz_state << 5;
	return upper ? fuzz_state % upper : 0;
}

/* The lowest preference records give name, or -1 when none names it. */
static long
fuzz_best_pref(char *const *rdata, const int *len, size_t n, const char *name)
{
	char other[DNSNAME_MAX + 1];
	const char *why;
	unsigned pref;
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		if (dns_rdata_mx((const uint8_t *)rdata[i], (size_t)len[i], &pref, other, sizeof(other), &why) == 0 &&
		    strcmp(other, name) == 0 && (best < 0 || pref < (unsigned long)best))
			best = pref;
	}
	return best;
}

/* A host left out only when DNS_MX_MAX were kept, none of them at a higher preference. */
static void
fuzz_left_out(char *const *rdata, const int *len, size_t n, const struct dns_mx *r)
{
	char name[DNSNAME_MAX + 1];
	const char *why;
	unsigned pref;
	size_t j;

	for (size_t i = 0; i < n; i++) {
		if (dns_rdata_mx((const uint8_t *)rdata[i], (size_t)len[i], &pref, name, sizeof(name), &why) != 0 ||
		    name[0] == '\0')
			continue;
		for (j = 0; j < r->nhosts && strcmp(r->hosts[j].name, name) != 0; j++)
			;
		if (j < r->nhosts)
			continue;
		if (r->nhosts < DNS_MX_MAX || pref < r->hosts[r->nhosts - 1].preference)
			__builtin_trap();
	}
}

static struct dns_mx fuzz_r;

static void
fuzz_records(const uint8_t *data, size_t size)
{
	char *rdata[FUZZ_DNS_RECORDS_MAX];
	int len[FUZZ_DNS_RECORDS_MAX];
	size_t n = 0, at = 0;
	struct dns_mx *r = &fuzz_r;
	int rc;

	while (at < size && n < FUZZ_DNS_RECORDS_MAX) {
		size_t k = data[at++];

		if (k > size - at)
			k = size - at;
		rdata[n] = (char *)(uintptr_t)(data + at);
		len[n] = (int)k;
		n++;
		at += k;
	}
	fuzz_state = 0x9e3779b9u ^ (uint32_t)size;
	memset(r, 0x5a, sizeof(*r));
	rc = dns_mx_records(rdata, len, n, fuzz_uniform, r);
	fuzz_check_err(r->err, sizeof(r->err));
	if (rc == -1) {
		if (r->nhosts != 0 || r->null_mx != 0 || r->err[0] == '\0')
			__builtin_trap();
		return;
	}
	if (rc != 0 || r->nhosts > DNS_MX_MAX)
		__builtin_trap();
	if (r->null_mx) {
		if (r->nhosts != 0 || n != 1)
			__builtin_trap();
		return;
	}
	if (r->nhosts == 0)
		__builtin_trap();
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct dns_host *h = &r->hosts[i];
		size_t nlen = strnlen(h->name, sizeof(h->name));

		if (nlen == sizeof(h->name) || dnsname_check(h->name, nlen, 0) != 0 || h->naddrs != 0)
			__builtin_trap();
		if (i > 0 && r->hosts[i - 1].preference > h->preference)
			__builtin_trap();
		for (size_t j = 0; j < i; j++) {
			if (strcmp(r->hosts[j].name, h->name) == 0)
				__builtin_trap();
		}
		if (fuzz_best_pref(rdata, len, n, h->name) != (long)h->preference)
			__builtin_trap();
	}
	fuzz_left_out(rdata, len, n, r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_mx(data, size);
	fuzz_addr(data, size);
	fuzz_tlsa(data, size);
	fuzz_txt(data, size);
	fuzz_records(data, size);
	return 0;
}
