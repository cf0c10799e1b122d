/*
 * Fuzz target: the ClientHello reader (clienthello_parse). Every answer is
 * consistent (a server name found passes dnsname_check, error set exactly
 * for INVALID); and for inputs up to FUZZ_PREFIX_MAX bytes each prefix,
 * parsed from a copy of its exact size, answers MORE until one answer that
 * no further byte changes, the same as the whole input's: a prefix that
 * gave SNI or NO_SNI never turns INVALID, nor the reverse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "dnsname.h"
#include "fuzz.h"

#define FUZZ_PREFIX_MAX 1024

static void
fuzz_clienthello_check(enum clienthello_status st, const struct clienthello *ch)
{
	switch (st) {
	case CLIENTHELLO_SNI:
		if (ch->error != NULL || ch->sni_len != strlen(ch->sni) ||
		    dnsname_check(ch->sni, ch->sni_len, 0) != 0)
			__builtin_trap();
		break;
	case CLIENTHELLO_MORE:
	case CLIENTHELLO_NO_SNI:
		if (ch->error != NULL || ch->sni_len != 0 || ch->sni[0] != '\0')
			__builtin_trap();
		break;
	case CLIENTHELLO_INVALID:
		if (ch->error == NULL || ch->error[0] == '\0' || ch->sni_len != 0 || ch->sni[0] != '\0')
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum clienthello_status whole, st, decided = CLIENTHELLO_MORE;
	struct clienthello ch_whole, ch;

	whole = clienthello_parse(data, size, &ch_whole);
	fuzz_clienthello_check(whole, &ch_whole);
	if (size > FUZZ_PREFIX_MAX)
		return 0;
	for (size_t n = 0; n < size; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		if (copy == NULL)
			return 0;
		memcpy(copy, data, n);
		st = clienthello_parse(copy, n, &ch);
		free(copy);
		fuzz_clienthello_check(st, &ch);
		if (decided != CLIENTHELLO_MORE && st != decided)
			__builtin_trap();
		if (st != CLIENTHELLO_MORE && st != whole)
			__builtin_trap();
		if (st == CLIENTHELLO_SNI && strcmp(ch.sni, ch_whole.sni) != 0)
			__builtin_trap();
		decided = st;
	}
	return 0;
}
