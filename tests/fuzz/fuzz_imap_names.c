/*
 * Fuzz target: imap_names. The input is a modified UTF-7 name: decoded,
 * and when that succeeds, encoded again and decoded again, which must
 * give the same UTF-8 (one name, one meaning). Then the input split at
 * its first NUL is a LIST pattern and a name: imap_list_match() must agree
 * with a plain recursive matcher (inputs are short enough for it).
 */
#include <stdint.h>
#include <string.h>

#include "../../home/home.h"
#include "fuzz.h"

#define FUZZ_NAMES_MAX 512
#define FUZZ_MATCH_MAX 48

static int
fuzz_match_slow(const char *p, const char *n, char delim)
{
	if (*p == '\0')
		return *n == '\0';
	if (*p == '*' || *p == '%') {
		for (const char *k = n;; k++) {
			if (fuzz_match_slow(p + 1, k, delim))
				return 1;
			if (*k == '\0' || (*p == '%' && *k == delim))
				return 0;
		}
	}
	return *p == *n && fuzz_match_slow(p + 1, n + 1, delim);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char utf8[FUZZ_NAMES_MAX], mutf7[3 * FUZZ_NAMES_MAX], again[FUZZ_NAMES_MAX];
	char pattern[FUZZ_MATCH_MAX + 1], name[FUZZ_MATCH_MAX + 1];
	const uint8_t *nul;
	size_t plen, nlen;

	if (size > FUZZ_NAMES_MAX / 4)
		return 0;
	if (imap_mutf7_decode((const char *)data, size, utf8, sizeof(utf8)) == 0) {
		if (imap_mutf7_encode(utf8, mutf7, sizeof(mutf7)) != 0 ||
		    imap_mutf7_decode(mutf7, strlen(mutf7), again, sizeof(again)) != 0 ||
		    strcmp(utf8, again) != 0)
			__builtin_trap();
	}

	nul = memchr(data, '\0', size);
	if (nul == NULL)
		return 0;
	plen = (size_t)(nul - data);
	nlen = size - plen - 1;
	if (plen > FUZZ_MATCH_MAX || nlen > FUZZ_MATCH_MAX)
		return 0;
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	memcpy(name, nul + 1, nlen);
	name[nlen] = '\0';
	if (strlen(name) != nlen)
		return 0;
	if (imap_list_match(pattern, name, '/') != fuzz_match_slow(pattern, name, '/'))
		__builtin_trap();
	return 0;
}
