/*
 * Fuzz target: the minisign file parsers (public key, secret key,
 * signature, bare base64 public key). Each input is tried as every kind;
 * a parsed result must format back into a file that parses the same.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "minisign.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *why = NULL;
	struct minisign_pubkey pub, pub2;
	struct minisign_seckey sec, sec2;
	struct minisign_sig sig, sig2;
	char out[MINISIGN_FILE_MAX];

	if (minisign_pubkey_parse(text, size, &pub, &why) == 0) {
		if (minisign_pubkey_format(&pub, out, sizeof(out)) < 0 ||
		    minisign_pubkey_parse(out, strlen(out), &pub2, &why) != 0 ||
		    memcmp(&pub, &pub2, sizeof(pub)) != 0)
			__builtin_trap();
	} else if (why == NULL) {
		__builtin_trap();
	}
	minisign_pubkey_parse_b64(text, size, &pub, &why);
	if (minisign_seckey_parse(text, size, &sec, &why) == 0) {
		if (minisign_seckey_format(&sec, out, sizeof(out)) < 0 ||
		    minisign_seckey_parse(out, strlen(out), &sec2, &why) != 0 ||
		    memcmp(&sec, &sec2, sizeof(sec)) != 0)
			__builtin_trap();
	}
	if (minisign_sig_parse(text, size, &sig, &why) == 0) {
		/* A trusted comment with a CR cannot be written back; that is the formatter's refusal. */
		if (minisign_sig_format(&sig, "fuzz", out, sizeof(out)) >= 0 &&
		    (minisign_sig_parse(out, strlen(out), &sig2, &why) != 0 ||
		     memcmp(&sig, &sig2, sizeof(sig)) != 0))
			__builtin_trap();
	}
	return 0;
}
