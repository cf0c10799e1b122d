/*
 * Fuzz target: HTTP request heads (httphead_parse), the input whole and by
 * prefixes. A head that parses ends in its blank line within the input and
 * HTTPHEAD_MAX, parses the same on its own, and needs more one byte short;
 * its host is a lowercase name that passes dnsname_check, and its method
 * and target are the request line's first two words. Need-more only
 * below HTTPHEAD_MAX; every refusal says why. A prefix is never further
 * along than the whole: need-more, or the same verdict (the same head, or
 * the same reason for refusing it).
 */
#include <stdint.h>
#include <string.h>

#include "dnsname.h"
#include "fuzz.h"
#include "httphead.h"

#define FUZZ_HTTPHEAD_PREFIXES 8	/* prefixes tried per input, besides size - 1 */

static void
fuzz_host_check(const uint8_t *data, size_t size, const struct httphead *h)
{
	size_t n = strnlen(h->host, sizeof(h->host));
	struct httphead again;

	if (h->head_len > size || h->head_len > HTTPHEAD_MAX || h->head_len < 4 ||
	    memcmp(data + h->head_len - 4, "\r\n\r\n", 4) != 0)
		__builtin_trap();
	if (n == 0 || n > DNSNAME_MAX || dnsname_check(h->host, n, 0) != 0)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (h->host[i] >= 'A' && h->host[i] <= 'Z')
			__builtin_trap();
	}
	if (httphead_parse(data, h->head_len, &again) != HTTPHEAD_HOST ||
	    strcmp(again.host, h->host) != 0 || again.port != h->port ||
	    again.head_len != h->head_len || again.method_len != h->method_len ||
	    again.target_off != h->target_off || again.target_len != h->target_len)
		__builtin_trap();
	/* The method and the target lie in the request line, in that order, one space apart. */
	if (h->method_len == 0 || h->target_len == 0 || h->target_off != h->method_len + 1 ||
	    data[h->method_len] != ' ' || h->target_off + h->target_len >= h->head_len ||
	    data[h->target_off + h->target_len] != ' ')
		__builtin_trap();
	if (httphead_parse(data, h->head_len - 1, &again) != HTTPHEAD_MORE)
		__builtin_trap();
}

/* Prefix k against the whole input's verdict. */
static void
fuzz_prefix(const uint8_t *data, size_t k, enum httphead_status st, const struct httphead *h)
{
	struct httphead p;
	enum httphead_status k_st = httphead_parse(data, k, &p);

	if (k_st == HTTPHEAD_MORE)
		return;
	if (k_st != st)
		__builtin_trap();
	if (st == HTTPHEAD_HOST && (p.head_len != h->head_len || strcmp(p.host, h->host) != 0 ||
				    p.port != h->port))
		__builtin_trap();
	if (st == HTTPHEAD_INVALID && strcmp(p.error, h->error) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httphead h;
	enum httphead_status st = httphead_parse(data, size, &h);

	switch (st) {
	case HTTPHEAD_HOST:
		fuzz_host_check(data, size, &h);
		break;
	case HTTPHEAD_MORE:
		if (size >= HTTPHEAD_MAX)
			__builtin_trap();
		break;
	case HTTPHEAD_INVALID:
		if (h.error == NULL || h.error[0] == '\0')
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
	if (size == 0)
		return 0;
	fuzz_prefix(data, size - 1, st, &h);
	for (size_t i = 1; i < FUZZ_HTTPHEAD_PREFIXES; i++)
		fuzz_prefix(data, size * i / FUZZ_HTTPHEAD_PREFIXES, st, &h);
	return 0;
}
