/*
 * dkimsign: signs a message with home/dkim, for the integration tests that
 * check our signatures with a verifier we did not write (python3-dkim).
 *
 *   dkimsign [-t TIME] [-c CHUNK] [-s] KEYFILE:SELECTOR... < MESSAGE
 *
 * Writes the DKIM-Signature fields (one per key, in order) followed by the
 * message as read. -t: the t= value (default: now). -c: feed the message
 * to the signer CHUNK bytes at a time (default: all at once). -s: write
 * the signature fields only. Keys are PKCS#8 PEM files, as
 * "homeport keys dkim-genkey" makes them (mode 0600).
 *
 * Exit 0: signed. 1: refused or failed, "dkimsign: CODE: reason" on stderr
 * (CODE as in enum dkim_err, e.g. no-from). 2: usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../../home/dkim.h"
#include "num.h"
#include "pemkey.h"

#define DKIMSIGN_KEYS_MAX 8
#define DKIMSIGN_INPUT_MAX (64 * 1024 * 1024)
#define DKIMSIGN_ERR_MAX 512

static const char *const dkimsign_codes[] = {
	[DKIM_OK] = "ok",
	[DKIM_ERR_NO_FROM] = "no-from",
	[DKIM_ERR_FROM_TWICE] = "from-twice",
	[DKIM_ERR_FROM_DOMAIN] = "from-domain",
	[DKIM_ERR_HEADER_MAX] = "header-max",
	[DKIM_ERR_FIELDS_MAX] = "fields-max",
	[DKIM_ERR_MALFORMED] = "malformed",
	[DKIM_ERR_BARE_EOL] = "bare-eol",
	[DKIM_ERR_KEY] = "key",
	[DKIM_ERR_FIELD] = "field",
	[DKIM_ERR_SPACE] = "space",
	[DKIM_ERR_CRYPTO] = "crypto",
};

static int
dkimsign_usage(void)
{
	fprintf(stderr, "usage: dkimsign [-t TIME] [-c CHUNK] [-s] KEYFILE:SELECTOR... < MESSAGE\n");
	return 2;
}

/* All of stdin into *buf_r (free()). Returns 0 or -1. */
static int
dkimsign_read(uint8_t **buf_r, size_t *len_r)
{
	size_t cap = 64 * 1024, len = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return -1;
	for (;;) {
		size_t n;

		if (len == cap) {
			uint8_t *bigger;

			if (cap >= DKIMSIGN_INPUT_MAX)
				goto fail;
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				goto fail;
			buf = bigger;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - len, stdin);
		len += n;
		if (n == 0) {
			if (ferror(stdin))
				goto fail;
			break;
		}
	}
	*buf_r = buf;
	*len_r = len;
	return 0;
fail:
	free(buf);
	return -1;
}

int
main(int argc, char **argv)
{
	struct dkim_key keys[DKIMSIGN_KEYS_MAX];
	char err[DKIMSIGN_ERR_MAX], out[DKIMSIGN_KEYS_MAX * DKIM_SIGNATURE_MAX];
	uint64_t t = (uint64_t)time(NULL);
	int64_t v, chunk = 0;
	size_t nkeys = 0, len = 0, outlen = 0;
	enum dkim_err code = DKIM_OK;
	struct dkim *d = NULL;
	uint8_t *msg = NULL;
	int opt, only_fields = 0, rc = 1;

	while ((opt = getopt(argc, argv, "t:c:s")) != -1) {
		switch (opt) {
		case 't':
			if (num_parse_str(optarg, 0, INT64_MAX, &v) != 0)
				return dkimsign_usage();
			t = (uint64_t)v;
			break;
		case 'c':
			if (num_parse_str(optarg, 1, INT64_MAX, &chunk) != 0)
				return dkimsign_usage();
			break;
		case 's':
			only_fields = 1;
			break;
		default:
			return dkimsign_usage();
		}
	}
	if (optind == argc || argc - optind > DKIMSIGN_KEYS_MAX)
		return dkimsign_usage();
	if (sodium_init() < 0) {
		fprintf(stderr, "dkimsign: sodium_init failed\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		char *colon = strrchr(argv[i], ':');

		if (colon == NULL)
			return dkimsign_usage();
		*colon = '\0';
		keys[nkeys].selector = colon + 1;
		keys[nkeys].key = pemkey_load(argv[i], err, sizeof(err));
		if (keys[nkeys].key == NULL) {
			fprintf(stderr, "dkimsign: %s\n", err);
			goto out;
		}
		nkeys++;
	}
	if (dkimsign_read(&msg, &len) != 0) {
		fprintf(stderr, "dkimsign: cannot read the message\n");
		goto out;
	}
	d = dkim_new();
	if (d == NULL) {
		fprintf(stderr, "dkimsign: out of memory\n");
		goto out;
	}
	for (size_t at = 0; at < len;) {
		size_t n = chunk == 0 || (uint64_t)chunk > len - at ? len - at : (size_t)chunk;

		dkim_feed(d, msg + at, n);
		at += n;
	}
	if (dkim_sign(d, keys, nkeys, t, out, sizeof(out), &outlen, &code, err, sizeof(err)) != 0) {
		fprintf(stderr, "dkimsign: %s: %s\n", dkimsign_codes[code], err);
		goto out;
	}
	if (fwrite(out, 1, outlen, stdout) != outlen ||
	    (!only_fields && fwrite(msg, 1, len, stdout) != len) || fflush(stdout) != 0) {
		fprintf(stderr, "dkimsign: cannot write\n");
		goto out;
	}
	rc = 0;
out:
	dkim_free(&d);
	free(msg);
	for (size_t i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i].key);
	return rc;
}
