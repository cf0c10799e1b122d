/*
 * cli_dkim: rotating a domain's DKIM keys (docs/outbound.md, "DKIM").
 *
 *   homeport dkim list [DOMAIN]
 *   homeport dkim rotate DOMAIN       new keys, not signing yet: publish their records
 *   homeport dkim activate DOMAIN     they sign (after a restart); the old ones retire
 *   homeport dkim remove DOMAIN SELECTOR   a retired (or pending) key goes
 *
 * The keys are STATE_DIR/keys/dkim/DOMAIN.SELECTOR.key (signing: homeportd
 * reads these, dkim_keys.c), .key.pending (made, its record to be
 * published first) and .key.retired (no longer signing; its record stays
 * published until mail signed with it is old). A rotation is thus:
 * rotate, publish the new records, wait for their TTL, activate, restart
 * homeportd, and a week later remove the retired keys and their records.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "cli.h"
#include "dkim.h"
#include "dkimkey.h"
#include "dnsname.h"
#include "home.h"
#include "pemkey.h"

#define CLI_DKIM_KEYS_MAX 64		/* key files of one state directory listed */
#define CLI_DKIM_RETIRED_DAYS 7		/* how long a retired key's record stays published */

static const char *const cli_dkim_states[] = {
	[DKIM_KEY_ACTIVE] = "active", [DKIM_KEY_PENDING] = "pending", [DKIM_KEY_RETIRED] = "retired",
};

struct cli_dkim_file {
	char domain[DNSNAME_MAX + 1];
	char selector[DNSNAME_MAX + 1];
	enum dkim_key_state state;
	int64_t mtime;
};

struct cli_dkim {
	char dir[HOME_PATH_MAX];
	struct cli_dkim_file files[CLI_DKIM_KEYS_MAX];
	size_t n;
};

static int
cli_dkim_path(const struct cli_dkim *d, const struct cli_dkim_file *f, enum dkim_key_state state,
	      char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s.%s%s", d->dir, f->domain, f->selector, dkim_keys_suffix(state));

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The key files of d->dir. Returns CLI_OK or CLI_FAIL (printed). */
static int
cli_dkim_scan(struct cli_dkim *d)
{
	char path[HOME_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *dh = opendir(d->dir);

	d->n = 0;
	if (dh == NULL) {
		if (errno == ENOENT)
			return CLI_OK;
		return cli_fail("dkim", "cannot read %s: %s", d->dir, strerror(errno));
	}
	while ((de = readdir(dh)) != NULL && d->n < CLI_DKIM_KEYS_MAX) {
		struct cli_dkim_file *f = &d->files[d->n];
		if (de->d_name[0] == '.' || dkim_keys_name_parse(de->d_name, f->domain, f->selector, &f->state) != 0 ||
		    cli_dkim_path(d, f, f->state, path, sizeof(path)) != 0 || stat(path, &sb) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		f->mtime = (int64_t)sb.st_mtime;
		d->n++;
	}
	closedir(dh);
	return CLI_OK;
}

static void
cli_dkim_print_record(const struct cli_dkim *d, const struct cli_dkim_file *f)
{
	char path[HOME_PATH_MAX], record[DKIMKEY_RECORD_MAX], err[256];
	EVP_PKEY *key;

	if (cli_dkim_path(d, f, f->state, path, sizeof(path)) != 0 ||
	    (key = pemkey_load(path, err, sizeof(err))) == NULL) {
		printf("%s._domainkey.%s. TXT (unreadable key)\n", f->selector, f->domain);
		return;
	}
	if (dkimkey_record(key, record, sizeof(record), err, sizeof(err)) < 0)
		printf("%s._domainkey.%s. TXT (%s)\n", f->selector, f->domain, err);
	else
		printf("%s._domainkey.%s. TXT \"%s\"\n", f->selector, f->domain, record);
	EVP_PKEY_free(key);
}

static int
cli_dkim_list(struct cli_dkim *d, const char *domain)
{
	char when[32];

	for (size_t i = 0; i < d->n; i++) {
		const struct cli_dkim_file *f = &d->files[i];
		time_t t = (time_t)f->mtime;
		struct tm tm;
		if (domain != NULL && strcasecmp(f->domain, domain) != 0)
			continue;
		if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d", &tm) == 0)
			snprintf(when, sizeof(when), "?");
		printf("%s %s %s since %s\n", f->domain, f->selector, cli_dkim_states[f->state], when);
	}
	return CLI_OK;
}

/* A selector for a new key of alg made today: "ed20261129", then "ed20261129b"... */
static int
cli_dkim_new_selector(const struct cli_dkim *d, const char *domain, const char *prefix, char *out,
		      size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;
	char day[16];

	if (gmtime_r(&now, &tm) == NULL || strftime(day, sizeof(day), "%Y%m%d", &tm) == 0)
		return -1;
	for (char c = 'a' - 1; c <= 'z'; c++) {
		int taken = 0;
		snprintf(out, cap, c < 'a' ? "%s%s" : "%s%s%c", prefix, day, c);
		for (size_t i = 0; i < d->n; i++)
			taken |= strcasecmp(d->files[i].domain, domain) == 0 &&
				 strcmp(d->files[i].selector, out) == 0;
		if (!taken)
			return 0;
	}
	return -1;
}

static int
cli_dkim_rotate(struct cli_dkim *d, const char *domain)
{
	static const struct { enum dkimkey_alg alg; const char *prefix; } algs[] = {
		{ DKIMKEY_ED25519, "ed" }, { DKIMKEY_RSA, "rsa" },
	};
	struct cli_dkim_file made[2];
	char path[HOME_PATH_MAX], err[256];

	for (size_t i = 0; i < d->n; i++) {
		if (strcasecmp(d->files[i].domain, domain) == 0 && d->files[i].state == DKIM_KEY_PENDING)
			return cli_fail("dkim rotate", "%s already has pending keys (%s): activate or remove "
					"them first", domain, d->files[i].selector);
	}
	if (mkdir(d->dir, 0700) != 0 && errno != EEXIST)
		return cli_fail("dkim rotate", "cannot make %s: %s", d->dir, strerror(errno));
	for (size_t a = 0; a < 2; a++) {
		struct cli_dkim_file *f = &made[a];
		EVP_PKEY *key;
		memset(f, 0, sizeof(*f));
		snprintf(f->domain, sizeof(f->domain), "%s", domain);
		for (char *p = f->domain; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		f->state = DKIM_KEY_PENDING;
		if (cli_dkim_new_selector(d, f->domain, algs[a].prefix, f->selector, sizeof(f->selector)) != 0 ||
		    cli_dkim_path(d, f, DKIM_KEY_PENDING, path, sizeof(path)) != 0)
			return cli_fail("dkim rotate", "no free selector for %s today", domain);
		if ((key = dkimkey_generate(algs[a].alg, err, sizeof(err))) == NULL)
			return cli_fail("dkim rotate", "%s", err);
		if (pemkey_save(key, path, 0, err, sizeof(err)) != 0) {
			EVP_PKEY_free(key);
			return cli_fail("dkim rotate", "%s", err);
		}
		EVP_PKEY_free(key);
	}
	printf("New DKIM keys for %s, not signing yet. Publish these records:\n\n", domain);
	for (size_t a = 0; a < 2; a++)
		cli_dkim_print_record(d, &made[a]);
	printf("\nOnce they are published (and their TTL has passed): homeport dkim activate %s,\n"
	       "then restart homeportd.\n", domain);
	return CLI_OK;
}

static int
cli_dkim_activate(struct cli_dkim *d, const char *domain)
{
	char from[HOME_PATH_MAX], to[HOME_PATH_MAX];
	size_t pending = 0;

	for (size_t i = 0; i < d->n; i++)
		pending += strcasecmp(d->files[i].domain, domain) == 0 && d->files[i].state == DKIM_KEY_PENDING;
	if (pending == 0)
		return cli_fail("dkim activate", "%s has no pending keys (homeport dkim rotate %s makes them)",
				domain, domain);
	/* The old keys retire first: a failure in between leaves no domain without a signing key. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < d->n; i++) {
			struct cli_dkim_file *f = &d->files[i];
			enum dkim_key_state want = pass == 0 ? DKIM_KEY_ACTIVE : DKIM_KEY_PENDING;
			enum dkim_key_state next = pass == 0 ? DKIM_KEY_RETIRED : DKIM_KEY_ACTIVE;
			if (strcasecmp(f->domain, domain) != 0 || f->state != want)
				continue;
			if (cli_dkim_path(d, f, want, from, sizeof(from)) != 0 ||
			    cli_dkim_path(d, f, next, to, sizeof(to)) != 0 || rename(from, to) != 0)
				return cli_fail("dkim activate", "cannot rename %s: %s", from, strerror(errno));
			printf("%s %s: %s\n", f->domain, f->selector, cli_dkim_states[next]);
			f->state = next;
		}
	}
	printf("\nRestart homeportd to sign with the new keys. Keep the retired keys' records\n"
	       "published for %d more days (mail signed with them is still on its way), then:\n"
	       "homeport dkim remove %s SELECTOR, and remove their records.\n",
	       CLI_DKIM_RETIRED_DAYS, domain);
	return CLI_OK;
}

static int
cli_dkim_remove(struct cli_dkim *d, const char *domain, const char *selector)
{
	char path[HOME_PATH_MAX];

	for (size_t i = 0; i < d->n; i++) {
		struct cli_dkim_file *f = &d->files[i];
		if (strcasecmp(f->domain, domain) != 0 || strcmp(f->selector, selector) != 0)
			continue;
		if (f->state == DKIM_KEY_ACTIVE)
			return cli_fail("dkim remove", "%s %s signs mail: rotate and activate first", domain,
					selector);
		if (cli_dkim_path(d, f, f->state, path, sizeof(path)) != 0 || unlink(path) != 0)
			return cli_fail("dkim remove", "cannot remove %s: %s", path, strerror(errno));
		printf("%s %s removed; remove its record %s._domainkey.%s too\n", domain, selector, selector,
		       domain);
		return CLI_OK;
	}
	return cli_fail("dkim remove", "%s has no key %s (homeport dkim list shows them)", domain, selector);
}

int
cli_dkim_records(const char *state_dir, const char *domain, cli_dkim_emit_fn emit, void *arg)
{
	char path[HOME_PATH_MAX], owner[2 * DNSNAME_MAX + 32], record[DKIMKEY_RECORD_MAX], err[256];
	struct cli_dkim *d = calloc(1, sizeof(*d));
	int rc = CLI_FAIL, n;

	if (d == NULL)
		return cli_fail("dkim", "out of memory");
	n = snprintf(d->dir, sizeof(d->dir), "%s/keys/dkim", state_dir);
	if (n < 0 || (size_t)n >= sizeof(d->dir) || cli_dkim_scan(d) != CLI_OK)
		goto out;
	/* Active first, then pending (to be published before they sign), then retired. */
	for (int s = DKIM_KEY_ACTIVE; s <= DKIM_KEY_RETIRED; s++) {
		for (size_t i = 0; i < d->n; i++) {
			const struct cli_dkim_file *f = &d->files[i];
			EVP_PKEY *key;
			if ((int)f->state != s || strcasecmp(f->domain, domain) != 0)
				continue;
			if (cli_dkim_path(d, f, f->state, path, sizeof(path)) != 0 ||
			    (key = pemkey_load(path, err, sizeof(err))) == NULL) {
				cli_fail("dkim", "cannot read %s", path);
				goto out;
			}
			n = dkimkey_record(key, record, sizeof(record), err, sizeof(err));
			EVP_PKEY_free(key);
			if (n < 0) {
				cli_fail("dkim", "%s: %s", path, err);
				goto out;
			}
			snprintf(owner, sizeof(owner), "%s._domainkey.%s", f->selector, f->domain);
			emit(arg, owner, record, cli_dkim_states[f->state]);
		}
	}
	rc = CLI_OK;
out:
	free(d);
	return rc;
}

static int
cli_dkim_usage(FILE *to, int status)
{
	fprintf(to, "usage: homeport [-c FILE] dkim list [DOMAIN]\n"
		    "       homeport [-c FILE] dkim rotate DOMAIN\n"
		    "       homeport [-c FILE] dkim activate DOMAIN\n"
		    "       homeport [-c FILE] dkim remove DOMAIN SELECTOR\n");
	return status;
}

int
cli_dkim_main(const char *conf_path, int argc, char **argv)
{
	struct cli_dkim *d = NULL;
	char cerr[CONF_ERROR_MAX];
	struct home_conf hc;
	const char *cmd = argc >= 2 ? argv[1] : "";
	int rc = CLI_USAGE, n;

	if (argc >= 2 && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0))
		return cli_dkim_usage(stdout, CLI_OK);
	if (!((strcmp(cmd, "list") == 0 && argc <= 3) || (strcmp(cmd, "rotate") == 0 && argc == 3) ||
	      (strcmp(cmd, "activate") == 0 && argc == 3) || (strcmp(cmd, "remove") == 0 && argc == 4)))
		return cli_dkim_usage(stderr, CLI_USAGE);
	if (argc >= 3 && dnsname_check(argv[2], strlen(argv[2]), 0) != 0)
		return cli_fail("dkim", "'%s' is not a domain name", argv[2]);
	if (sodium_init() < 0)
		return cli_fail("dkim", "libsodium failed to start");
	if (home_conf_load(conf_path, &hc, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		return CLI_FAIL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		rc = cli_fail("dkim", "out of memory");
		goto out;
	}
	n = snprintf(d->dir, sizeof(d->dir), "%s/keys/dkim", hc.main->state_dir);
	if (n < 0 || (size_t)n >= sizeof(d->dir)) {
		rc = cli_fail("dkim", "state_dir too long");
		goto out;
	}
	if ((rc = cli_dkim_scan(d)) != CLI_OK)
		goto out;
	if (strcmp(cmd, "list") == 0)
		rc = cli_dkim_list(d, argc == 3 ? argv[2] : NULL);
	else if (strcmp(cmd, "rotate") == 0)
		rc = cli_dkim_rotate(d, argv[2]);
	else if (strcmp(cmd, "activate") == 0)
		rc = cli_dkim_activate(d, argv[2]);
	else
		rc = cli_dkim_remove(d, argv[2], argv[3]);
out:
	free(d);
	home_conf_free(&hc);
	return rc;
}
