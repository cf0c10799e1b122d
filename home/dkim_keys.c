/*
 * dkim_keys: the DKIM signing keys homeportd signs outbound mail with,
 * read once at start-up from STATE_DIR/keys/dkim/.
 *
 * A key file is DOMAIN.SELECTOR.key (PKCS#8 PEM, as `homeport init` and
 * `homeport keys dkim-genkey` write them): `homeport init` makes
 * DOMAIN.ed25519.key and DOMAIN.rsa.key, so their selectors are
 * "ed25519" and "rsa". A selector has no dot, so the name splits at its
 * last dot before ".key". Per domain and algorithm the newest file
 * (mtime) signs: a rotation adds a file under a new selector, and the old
 * one stays (and stays published) until the owner removes it, when mail
 * signed with it is old. A file that cannot be read or is no DKIM key is
 * reported and skipped: mail still leaves, signed with the others.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dkim.h"
#include "dkimkey.h"
#include "dnsname.h"
#include "home.h"
#include "log.h"
#include "pemkey.h"


struct dkim_keys_entry {
	char domain[DNSNAME_MAX + 1];
	char selector[DNSNAME_MAX + 1];
	enum dkimkey_alg alg;
	int64_t mtime;
	EVP_PKEY *key;
};

struct dkim_keys {
	struct dkim_keys_entry *v;
	size_t n;
};

static const char *const dkim_keys_suffixes[] = {
	[DKIM_KEY_ACTIVE] = ".key", [DKIM_KEY_PENDING] = ".key.pending", [DKIM_KEY_RETIRED] = ".key.retired",
};

const char *
dkim_keys_suffix(enum dkim_key_state state)
{
	return dkim_keys_suffixes[state];
}

int
dkim_keys_name_parse(const char *name, char domain[DNSNAME_MAX + 1], char selector[DNSNAME_MAX + 1],
		     enum dkim_key_state *state_r)
{
	size_t len = strlen(name);

	/* Longest suffix first: ".key" also ends nothing else, but say it plainly. */
	for (int s = DKIM_KEY_RETIRED; s >= DKIM_KEY_ACTIVE; s--) {
		size_t sl = strlen(dkim_keys_suffixes[s]), stem;
		const char *dot;
		if (len <= sl || strcmp(name + len - sl, dkim_keys_suffixes[s]) != 0)
			continue;
		stem = len - sl;
		for (dot = name + stem; dot > name && dot[-1] != '.'; dot--)
			;
		if (dot <= name + 1 || (size_t)(dot - 1 - name) > DNSNAME_MAX ||
		    (size_t)(name + stem - dot) > DNSNAME_MAX)
			return -1;
		memcpy(domain, name, (size_t)(dot - 1 - name));
		domain[dot - 1 - name] = '\0';
		memcpy(selector, dot, (size_t)(name + stem - dot));
		selector[name + stem - dot] = '\0';
		if (dnsname_check(domain, strlen(domain), 0) != 0 ||
		    dnsname_check(selector, strlen(selector), 0) != 0)
			return -1;
		*state_r = (enum dkim_key_state)s;
		return 0;
	}
	return -1;
}

/* Keep e in ks unless a newer key of its domain and algorithm is there. Takes e->key. */
static int
dkim_keys_keep(struct dkim_keys *ks, struct dkim_keys_entry *e)
{
	void *grown;

	for (size_t i = 0; i < ks->n; i++) {
		struct dkim_keys_entry *o = &ks->v[i];
		if (strcmp(o->domain, e->domain) != 0 || o->alg != e->alg)
			continue;
		if (o->mtime > e->mtime ||
		    (o->mtime == e->mtime && strcmp(o->selector, e->selector) > 0)) {
			EVP_PKEY_free(e->key);
		} else {
			EVP_PKEY_free(o->key);
			*o = *e;
		}
		return 0;
	}
	if ((grown = realloc(ks->v, (ks->n + 1) * sizeof(*ks->v))) == NULL) {
		EVP_PKEY_free(e->key);
		return -1;
	}
	ks->v = grown;
	ks->v[ks->n++] = *e;
	return 0;
}

struct dkim_keys *
dkim_keys_load(const char *dir, char *err, size_t errcap)
{
	struct dkim_keys *ks = calloc(1, sizeof(*ks));
	char path[HOME_PATH_MAX], why[256], esc[2 * HOME_PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *dh = NULL;

	if (ks == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if ((dh = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return ks;	/* no keys: mail leaves unsigned, and the log says so per message */
		snprintf(err, errcap, "cannot read %s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(dh)) != NULL) {
		struct dkim_keys_entry e = { 0 };
		int n;

		enum dkim_key_state state;
		if (de->d_name[0] == '.' ||
		    dkim_keys_name_parse(de->d_name, e.domain, e.selector, &state) != 0 ||
		    state != DKIM_KEY_ACTIVE)
			continue;	/* pending and retired keys do not sign */
		for (char *p = e.domain; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		e.mtime = (int64_t)sb.st_mtime;
		if ((e.key = pemkey_load(path, why, sizeof(why))) == NULL ||
		    dkimkey_key_alg(e.key, &e.alg, why, sizeof(why)) != 0) {
			log_warn(NULL, "dkim_keys", "file=\"%s\" result=skipped error=\"%s\"",
				 log_escape(path, strlen(path), esc, sizeof(esc)), why);
			EVP_PKEY_free(e.key);
			continue;
		}
		if (dkim_keys_keep(ks, &e) != 0) {
			snprintf(err, errcap, "out of memory");
			goto fail;
		}
	}
	closedir(dh);
	return ks;
fail:
	if (dh != NULL)
		closedir(dh);
	dkim_keys_free(&ks);
	return NULL;
}

size_t
dkim_keys_find(const struct dkim_keys *ks, const char *domain, struct dkim_key *out, size_t max)
{
	size_t n = 0;

	/* Ed25519 first (RFC 8463 suggests it alongside RSA; order does not matter to verifiers). */
	for (int alg = DKIMKEY_ED25519; alg <= DKIMKEY_RSA; alg++) {
		for (size_t i = 0; ks != NULL && i < ks->n && n < max; i++) {
			if ((int)ks->v[i].alg == alg && strcasecmp(ks->v[i].domain, domain) == 0)
				out[n++] = (struct dkim_key){ .key = ks->v[i].key,
							      .selector = ks->v[i].selector };
		}
	}
	return n;
}

size_t
dkim_keys_count(const struct dkim_keys *ks)
{
	return ks != NULL ? ks->n : 0;
}

void
dkim_keys_free(struct dkim_keys **ksp)
{
	struct dkim_keys *ks = *ksp;

	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->v[i].key);
	free(ks->v);
	free(ks);
	*ksp = NULL;
}
