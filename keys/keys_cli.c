#include "keys_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dkimkey.h"
#include "keyfile.h"
#include "log.h"
#include "minisign.h"
#include "num.h"
#include "pemkey.h"
#include "selfcert.h"
#include "wgkey.h"

#define KEYS_CLI_ERR_MAX 512
#define KEYS_CLI_STDIN_MAX 1024			/* a WireGuard key and some whitespace */
#define KEYS_CLI_LEGACY_MAX (1024L * 1024 * 1024)	/* files checked against legacy "Ed" signatures */
#define KEYS_CLI_READ_CHUNK 65536

enum { KEYS_OK = 0, KEYS_FAIL = 1, KEYS_USAGE = 2 };

static int
keys_usage(const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "homeport keys: %s\n", msg);
	fprintf(stderr,
		"usage: homeport keys wg-genkey\n"
		"       homeport keys wg-pubkey < PRIVATE\n"
		"       homeport keys sign-genkey -p PUBFILE -s SECFILE [-f]\n"
		"       homeport keys sign -s SECFILE [-x SIGFILE] [-t TRUSTED] [-c UNTRUSTED] FILE\n"
		"       homeport keys verify (-p PUBFILE | -P PUBKEY) [-x SIGFILE] [-q] FILE\n"
		"       homeport keys dkim-genkey -a ed25519|rsa -o FILE\n"
		"       homeport keys dkim-record FILE\n"
		"       homeport keys selfcert -c CERTFILE -k KEYFILE [-d DAYS] [-f] HOST...\n");
	return KEYS_USAGE;
}

static int
keys_fail(const char *msg)
{
	fprintf(stderr, "homeport keys: %s\n", msg);
	return KEYS_FAIL;
}

/* Read a small file (key, signature) that may be secret. */
static int
keys_read_small(const char *path, int secret, char *buf, size_t cap, size_t *len_r, char *err,
		size_t errcap)
{
	return keyfile_read(path, secret, (uint8_t *)buf, cap, len_r, err, errcap);
}

static int
keys_wg_genkey(void)
{
	uint8_t priv[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];
	struct stat st;

	/* As wg(8): a private key written to a file others can read deserves a warning. */
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
		fprintf(stderr, "Warning: writing to world accessible file.\n"
				"Consider setting the umask to 077 and trying again.\n");
	wgkey_generate(priv);
	wgkey_format(priv, text);
	printf("%s\n", text);
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(text, sizeof(text));
	return fflush(stdout) == 0 ? KEYS_OK : keys_fail("cannot write the key");
}

static int
keys_wg_pubkey(void)
{
	char in[KEYS_CLI_STDIN_MAX];
	uint8_t priv[WGKEY_LEN], pub[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];
	size_t len = fread(in, 1, sizeof(in), stdin);
	int rc = KEYS_FAIL;

	if (ferror(stdin)) {
		keys_fail("cannot read the private key from stdin");
	} else if (len == sizeof(in) || wgkey_parse(in, len, priv) != 0) {
		keys_fail("stdin is not a WireGuard private key (44 base64 characters)");
	} else if (wgkey_public(priv, pub) != 0) {
		keys_fail("invalid private key");
	} else {
		wgkey_format(pub, text);
		printf("%s\n", text);
		rc = KEYS_OK;
	}
	sodium_memzero(in, sizeof(in));
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

static int
keys_sign_genkey(int argc, char **argv)
{
	const char *pub_path = NULL, *sec_path = NULL;
	struct minisign_pubkey pub;
	struct minisign_seckey *sec;
	char pub_text[MINISIGN_FILE_MAX], *sec_text;
	char err[KEYS_CLI_ERR_MAX];
	int force = 0, opt, rc = KEYS_FAIL;

	while ((opt = getopt(argc, argv, "p:s:fGW")) != -1) {
		switch (opt) {
		case 'p': pub_path = optarg; break;
		case 's': sec_path = optarg; break;
		case 'f': force = 1; break;
		case 'G': case 'W': break;	/* minisign's -G (generate) and -W (no password) */
		default: return keys_usage(NULL);
		}
	}
	if (pub_path == NULL || sec_path == NULL || optind != argc)
		return keys_usage("sign-genkey needs -p PUBFILE and -s SECFILE");

	sec = sodium_malloc(sizeof(*sec));
	sec_text = sodium_malloc(MINISIGN_FILE_MAX);
	if (sec == NULL || sec_text == NULL) {
		keys_fail("out of memory");
		goto out;
	}
	minisign_keypair(&pub, sec);
	if (minisign_seckey_format(sec, sec_text, MINISIGN_FILE_MAX) < 0 ||
	    minisign_pubkey_format(&pub, pub_text, sizeof(pub_text)) < 0) {
		keys_fail("cannot format the key pair");
		goto out;
	}
	/* Secret first: a public key without its secret would be useless. */
	if (keyfile_store(sec_path, sec_text, strlen(sec_text), 0600, force, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport keys: %s%s\n", err, force ? "" : " (add -f to overwrite)");
		goto out;
	}
	if (keyfile_store(pub_path, pub_text, strlen(pub_text), 0644, force, err, sizeof(err)) != 0) {
		/* Leave nothing half made: a new secret without its public key goes. */
		if (!force)
			unlink(sec_path);
		fprintf(stderr, "homeport keys: %s%s\n", err, force ? "" : " (add -f to overwrite)");
		goto out;
	}
	printf("The secret key was saved as %s - Keep it secret!\n"
	       "The public key was saved as %s - That one can be public.\n\n"
	       "Files signed using this key pair can be verified with the following command:\n\n"
	       "homeport keys verify -p %s FILE\n", sec_path, pub_path, pub_path);
	rc = KEYS_OK;
out:
	sodium_free(sec);
	sodium_free(sec_text);
	return rc;
}

/*
 * BLAKE2b-512 of a file; with whole_r, also keep the whole file in memory
 * (legacy signatures sign the file itself). Returns 0 or -1 with err set.
 */
static int
keys_hash_file(const char *path, uint8_t hash[MINISIGN_HASH_LEN], uint8_t **whole_r,
	       size_t *whole_len_r, char *err, size_t errcap)
{
	crypto_generichash_state st;
	uint8_t *chunk = NULL, *whole = NULL;
	size_t whole_len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	chunk = malloc(KEYS_CLI_READ_CHUNK);
	if (chunk == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	crypto_generichash_init(&st, NULL, 0, MINISIGN_HASH_LEN);
	for (;;) {
		ssize_t n = read(fd, chunk, KEYS_CLI_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&st, chunk, (size_t)n);
		if (whole_r != NULL) {
			uint8_t *grown;
			if (whole_len + (size_t)n > (size_t)KEYS_CLI_LEGACY_MAX) {
				snprintf(err, errcap, "%s: too large for a legacy signature", path);
				goto out;
			}
			grown = realloc(whole, whole_len + (size_t)n);
			if (grown == NULL) {
				snprintf(err, errcap, "out of memory");
				goto out;
			}
			whole = grown;
			memcpy(whole + whole_len, chunk, (size_t)n);
			whole_len += (size_t)n;
		}
	}
	crypto_generichash_final(&st, hash, MINISIGN_HASH_LEN);
	if (whole_r != NULL) {
		*whole_r = whole;
		*whole_len_r = whole_len;
		whole = NULL;
	}
	rc = 0;
out:
	free(whole);
	free(chunk);
	close(fd);
	return rc;
}

static int
keys_sign(int argc, char **argv)
{
	const char *sec_path = NULL, *sig_path = NULL, *file = NULL;
	const char *trusted = NULL, *untrusted = "signature from homeport secret key";
	char sig_default[PATH_MAX], tc[MINISIGN_COMMENT_MAX + 1], base[PATH_MAX];
	char err[KEYS_CLI_ERR_MAX], *sec_text = NULL;
	char sig_text[MINISIGN_FILE_MAX];
	struct minisign_seckey *sec = NULL;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN];
	const char *why;
	size_t len;
	int opt, rc = KEYS_FAIL;

	while ((opt = getopt(argc, argv, "s:x:t:c:m:SH")) != -1) {
		switch (opt) {
		case 's': sec_path = optarg; break;
		case 'x': sig_path = optarg; break;
		case 't': trusted = optarg; break;
		case 'c': untrusted = optarg; break;
		case 'm': file = optarg; break;
		case 'S': case 'H': break;	/* minisign's -S (sign) and -H (prehash, always on) */
		default: return keys_usage(NULL);
		}
	}
	if (file == NULL && optind == argc - 1)
		file = argv[optind++];
	if (sec_path == NULL || file == NULL || optind != argc)
		return keys_usage("sign needs -s SECFILE and one FILE");
	if (sig_path == NULL) {
		if (snprintf(sig_default, sizeof(sig_default), "%s.minisig", file) >= (int)sizeof(sig_default))
			return keys_fail("file name too long");
		sig_path = sig_default;
	}
	if (trusted == NULL) {
		snprintf(base, sizeof(base), "%s", file);
		snprintf(tc, sizeof(tc), "timestamp:%lld\tfile:%s\thashed", (long long)time(NULL),
			 basename(base));
		trusted = tc;
	}

	sec = sodium_malloc(sizeof(*sec));
	sec_text = sodium_malloc(MINISIGN_FILE_MAX);
	if (sec == NULL || sec_text == NULL) {
		keys_fail("out of memory");
		goto out;
	}
	if (keys_read_small(sec_path, 1, sec_text, MINISIGN_FILE_MAX, &len, err, sizeof(err)) != 0) {
		keys_fail(err);
		goto out;
	}
	if (minisign_seckey_parse(sec_text, len, sec, &why) != 0) {
		fprintf(stderr, "homeport keys: %s: %s\n", sec_path, why);
		goto out;
	}
	if (keys_hash_file(file, hash, NULL, NULL, err, sizeof(err)) != 0) {
		keys_fail(err);
		goto out;
	}
	if (minisign_sign(sec, hash, trusted, &sig) != 0 ||
	    minisign_sig_format(&sig, untrusted, sig_text, sizeof(sig_text)) < 0) {
		keys_fail("comments must be one line of at most 1024 bytes");
		goto out;
	}
	if (keyfile_write(sig_path, sig_text, strlen(sig_text), 0644, err, sizeof(err)) != 0) {
		keys_fail(err);
		goto out;
	}
	rc = KEYS_OK;
out:
	sodium_free(sec);
	sodium_free(sec_text);
	return rc;
}

static int
keys_verify(int argc, char **argv)
{
	const char *pub_path = NULL, *pub_b64 = NULL, *sig_path = NULL, *file = NULL;
	char sig_default[PATH_MAX], err[KEYS_CLI_ERR_MAX], text[MINISIGN_FILE_MAX];
	char shown[MINISIGN_COMMENT_MAX * 4 + 4];
	struct minisign_pubkey pub;
	struct minisign_sig sig;
	uint8_t hash[MINISIGN_HASH_LEN], *whole = NULL;
	size_t len, whole_len = 0;
	const char *why;
	int opt, quiet = 0, rc = KEYS_FAIL;

	while ((opt = getopt(argc, argv, "p:P:x:m:qVQ")) != -1) {
		switch (opt) {
		case 'p': pub_path = optarg; break;
		case 'P': pub_b64 = optarg; break;
		case 'x': sig_path = optarg; break;
		case 'm': file = optarg; break;
		case 'q': quiet = 1; break;
		case 'V': case 'Q': break;	/* minisign's -V (verify) */
		default: return keys_usage(NULL);
		}
	}
	if (file == NULL && optind == argc - 1)
		file = argv[optind++];
	if ((pub_path == NULL) == (pub_b64 == NULL) || file == NULL || optind != argc)
		return keys_usage("verify needs one of -p PUBFILE or -P PUBKEY, and one FILE");
	if (sig_path == NULL) {
		if (snprintf(sig_default, sizeof(sig_default), "%s.minisig", file) >= (int)sizeof(sig_default))
			return keys_fail("file name too long");
		sig_path = sig_default;
	}
	if (pub_b64 != NULL) {
		if (minisign_pubkey_parse_b64(pub_b64, strlen(pub_b64), &pub, &why) != 0) {
			fprintf(stderr, "homeport keys: -P: %s\n", why);
			return KEYS_FAIL;
		}
	} else {
		if (keys_read_small(pub_path, 0, text, sizeof(text), &len, err, sizeof(err)) != 0)
			return keys_fail(err);
		if (minisign_pubkey_parse(text, len, &pub, &why) != 0) {
			fprintf(stderr, "homeport keys: %s: %s\n", pub_path, why);
			return KEYS_FAIL;
		}
	}
	if (keys_read_small(sig_path, 0, text, sizeof(text), &len, err, sizeof(err)) != 0)
		return keys_fail(err);
	if (minisign_sig_parse(text, len, &sig, &why) != 0) {
		fprintf(stderr, "homeport keys: %s: %s\n", sig_path, why);
		return KEYS_FAIL;
	}
	if (keys_hash_file(file, hash, sig.prehashed ? NULL : &whole, &whole_len, err, sizeof(err)) != 0)
		return keys_fail(err);
	if (minisign_verify(&pub, &sig, hash, whole, whole_len, &why) != 0) {
		fprintf(stderr, "homeport keys: %s: %s\n", file, why);
		goto out;
	}
	if (!quiet)
		printf("Signature and comment signature verified\nTrusted comment: %s\n",
		       log_escape(sig.trusted, strlen(sig.trusted), shown, sizeof(shown)));
	rc = KEYS_OK;
out:
	free(whole);
	return rc;
}

static int
keys_print_dkim_record(EVP_PKEY *key)
{
	char record[DKIMKEY_RECORD_MAX], err[KEYS_CLI_ERR_MAX];

	if (dkimkey_record(key, record, sizeof(record), err, sizeof(err)) < 0)
		return keys_fail(err);
	printf("%s\n", record);
	return KEYS_OK;
}

static int
keys_dkim_genkey(int argc, char **argv)
{
	const char *alg_word = NULL, *out = NULL;
	char err[KEYS_CLI_ERR_MAX];
	enum dkimkey_alg alg;
	EVP_PKEY *key;
	int opt, rc;

	while ((opt = getopt(argc, argv, "a:o:")) != -1) {
		switch (opt) {
		case 'a': alg_word = optarg; break;
		case 'o': out = optarg; break;
		default: return keys_usage(NULL);
		}
	}
	if (alg_word == NULL || out == NULL || optind != argc)
		return keys_usage("dkim-genkey needs -a ed25519|rsa and -o FILE");
	if (dkimkey_alg_parse(alg_word, &alg) != 0)
		return keys_usage("-a must be ed25519 or rsa");
	key = dkimkey_generate(alg, err, sizeof(err));
	if (key == NULL)
		return keys_fail(err);
	if (pemkey_save(key, out, 0, err, sizeof(err)) != 0)
		rc = keys_fail(err);
	else
		rc = keys_print_dkim_record(key);
	EVP_PKEY_free(key);
	return rc;
}

static int
keys_dkim_record(int argc, char **argv)
{
	char err[KEYS_CLI_ERR_MAX];
	EVP_PKEY *key;
	int rc;

	if (argc != 2)
		return keys_usage("dkim-record needs one FILE");
	key = pemkey_load(argv[1], err, sizeof(err));
	if (key == NULL)
		return keys_fail(err);
	rc = keys_print_dkim_record(key);
	EVP_PKEY_free(key);
	return rc;
}

static int
keys_selfcert(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	char err[KEYS_CLI_ERR_MAX];
	struct tls_identity id;
	int64_t days = SELFCERT_DAYS_DEFAULT;
	int opt, force = 0, rc = KEYS_FAIL;

	while ((opt = getopt(argc, argv, "c:k:d:f")) != -1) {
		switch (opt) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'f': force = 1; break;
		case 'd':
			if (num_parse_str(optarg, 1, SELFCERT_DAYS_MAX, &days) != 0)
				return keys_usage("-d DAYS must be 1 to 3650");
			break;
		default: return keys_usage(NULL);
		}
	}
	if (cert == NULL || key == NULL || optind == argc)
		return keys_usage("selfcert needs -c CERTFILE, -k KEYFILE and at least one HOST");
	if (selfcert_generate((const char *const *)argv + optind, (size_t)(argc - optind),
			      (unsigned)days, &id, err, sizeof(err)) != 0)
		return keys_fail(err);
	if (selfcert_save(&id, cert, key, force, err, sizeof(err)) != 0)
		fprintf(stderr, "homeport keys: %s%s\n", err, force ? "" : " (add -f to overwrite)");
	else
		rc = KEYS_OK;
	tls_identity_clear(&id);
	return rc;
}

int
keys_cli_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "sign-genkey", keys_sign_genkey },
		{ "sign", keys_sign },
		{ "verify", keys_verify },
		{ "dkim-genkey", keys_dkim_genkey },
		{ "dkim-record", keys_dkim_record },
		{ "selfcert", keys_selfcert },
	};

	if (argc < 2)
		return keys_usage(NULL);
	if (sodium_init() < 0)
		return keys_fail("libsodium failed to start");
	if (strcmp(argv[1], "wg-genkey") == 0)
		return argc == 2 ? keys_wg_genkey() : keys_usage("wg-genkey takes no arguments");
	if (strcmp(argv[1], "wg-pubkey") == 0)
		return argc == 2 ? keys_wg_pubkey() : keys_usage("wg-pubkey takes no arguments");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			optind = 0;	/* glibc: start over, skipping argv[0] */
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	return keys_usage("unknown subcommand");
}
