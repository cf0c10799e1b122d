/*
 * Fuzz target: the PROXY v2 header (proxyv2_decode, proxyv2_encode,
 * proxyv1_encode). Invariants:
 *   - a decoded header is 16..PROXYV2_DECODE_MAX bytes and no longer than
 *     the input; it decodes alone to the same length, and one byte short of
 *     it needs more (0);
 *   - an input that needs more is also a valid prefix one byte shorter;
 *   - what was decoded encodes again whenever it fits PROXYV2_MAX, to the
 *     length worked out here, and that decodes to the same fields; encoding
 *     that again gives the same bytes;
 *   - decoded addresses always make a v1 line.
 */
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"
#include "proxyv2.h"

/* What proxyv2_encode() should produce for h: the sum of its parts. */
static size_t
fuzz_encoded_len(const struct proxyv2 *h)
{
	size_t n = 16;

	if (h->command == PROXYV2_LOCAL)
		return n;
	if (h->have_addrs)
		n += addr_family(&h->src) == AF_INET ? 12 : 36;
	if (h->authority[0] != '\0')
		n += 3 + strlen(h->authority);
	if (h->unique_id_len > 0)
		n += 3 + h->unique_id_len;
	if (h->homeport.present)
		n += 3 + 3 + strlen(h->homeport.ehlo);
	return n;
}

static int
fuzz_same(const struct proxyv2 *a, const struct proxyv2 *b)
{
	if (a->command != b->command || a->have_addrs != b->have_addrs)
		return 0;
	if (a->have_addrs &&
	    (addr_family(&a->src) != addr_family(&b->src) || !addr_equal(&a->src, &b->src) ||
	     !addr_equal(&a->dst, &b->dst)))
		return 0;
	if (strcmp(a->authority, b->authority) != 0 || a->unique_id_len != b->unique_id_len ||
	    memcmp(a->unique_id, b->unique_id, a->unique_id_len) != 0)
		return 0;
	if (a->homeport.present != b->homeport.present)
		return 0;
	if (a->homeport.present &&
	    (a->homeport.flags != b->homeport.flags || a->homeport.proto != b->homeport.proto ||
	     strcmp(a->homeport.ehlo, b->homeport.ehlo) != 0))
		return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proxyv2 h, back, again;
	static uint8_t out[PROXYV2_MAX], out2[PROXYV2_MAX];
	char line[PROXYV1_MAX];
	const char *err = NULL;
	size_t want;
	int rc, n;

	rc = proxyv2_decode(data, size, &h, &err);
	if (rc == -1) {
		if (err == NULL)
			__builtin_trap();
		return 0;
	}
	if (rc == 0) {
		if (size > 0 && proxyv2_decode(data, size - 1, &back, &err) != 0)
			__builtin_trap();
		return 0;
	}
	if (rc < 16 || (size_t)rc > size || rc > PROXYV2_DECODE_MAX)
		__builtin_trap();
	if (proxyv2_decode(data, (size_t)rc, &back, &err) != rc || !fuzz_same(&h, &back))
		__builtin_trap();
	if (proxyv2_decode(data, (size_t)rc - 1, &back, &err) != 0)
		__builtin_trap();

	if (h.have_addrs && proxyv1_encode(&h.src, &h.dst, line, sizeof(line)) <= 0)
		__builtin_trap();

	want = fuzz_encoded_len(&h);
	n = proxyv2_encode(&h, out, sizeof(out));
	if (want > PROXYV2_MAX) {
		if (n != -1)
			__builtin_trap();
		return 0;
	}
	if (n < 0 || (size_t)n != want)
		__builtin_trap();
	if (proxyv2_decode(out, (size_t)n, &again, &err) != n || !fuzz_same(&h, &again))
		__builtin_trap();
	if (proxyv2_encode(&again, out2, sizeof(out2)) != n || memcmp(out, out2, (size_t)n) != 0)
		__builtin_trap();
	return 0;
}
