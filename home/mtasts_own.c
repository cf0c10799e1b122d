/*
 * mtasts_own: the MTA-STS policy (RFC 8461) the home publishes for its own
 * domains. homeportd serves it on its https listener (web_session.c) and
 * `homeport dns` prints its _mta-sts TXT record (cli_dns.c); both build it
 * here from the same inputs, so the id in DNS is the policy served.
 *
 * A policy in enforce (or testing) mode tells senders to refuse (or report)
 * an MX whose certificate is not valid WebPKI for its name. So one is
 * published only when the home's certificate is valid, for the CAs that
 * [outbound] tls_ca_file names (else the system's), for every MX host: a
 * self-signed bootstrap certificate publishes nothing, and DANE (TLSA)
 * alone protects the home's mail until a real certificate is in place.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "dnsname.h"
#include "hex.h"
#include "home.h"
#include "mtasts.h"
#include "relay.h"
#include "tlsident.h"

#define MTASTS_OWN_ID_BYTES 16

int
mtasts_own_is_policy_host(const char *name)
{
	return strncasecmp(name, MTASTS_HOST_PREFIX, strlen(MTASTS_HOST_PREFIX)) == 0;
}

void
mtasts_own_build(int mode, int64_t max_age_s, const char *const *mx, size_t nmx, const char *untrusted,
		 struct mtasts_own *o)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int len;

	memset(o, 0, sizeof(*o));
	o->mode = MTASTS_MODE_NONE;
	if (mode == HOME_MTASTS_OFF) {
		snprintf(o->why, sizeof(o->why), "[mta_sts] mode = off");
		return;
	}
	if (nmx == 0 || nmx > MTASTS_MX_MAX) {
		snprintf(o->why, sizeof(o->why), nmx == 0 ? "no MX host" : "more than %d MX hosts", MTASTS_MX_MAX);
		return;
	}
	if (untrusted != NULL) {
		snprintf(o->why, sizeof(o->why), "%s", untrusted);
		return;
	}
	o->policy.mode = mode == HOME_MTASTS_TESTING ? MTASTS_MODE_TESTING : MTASTS_MODE_ENFORCE;
	o->policy.max_age = max_age_s > MTASTS_MAX_AGE_MAX ? MTASTS_MAX_AGE_MAX : (uint32_t)max_age_s;
	for (size_t i = 0; i < nmx; i++) {
		if (snprintf(o->policy.mx[i], sizeof(o->policy.mx[i]), "%s", mx[i]) >= (int)sizeof(o->policy.mx[i])) {
			snprintf(o->why, sizeof(o->why), "MX host too long");
			return;
		}
	}
	o->policy.nmx = nmx;
	len = mtasts_format_policy(&o->policy, o->text, sizeof(o->text));
	if (len < 0 || EVP_Digest(o->text, (size_t)len, digest, &dlen, EVP_sha256(), NULL) != 1 ||
	    dlen < MTASTS_OWN_ID_BYTES || hex_encode(digest, MTASTS_OWN_ID_BYTES, o->id, sizeof(o->id)) < 0) {
		memset(o, 0, sizeof(*o));
		snprintf(o->why, sizeof(o->why), "cannot format the policy");
		return;
	}
	o->len = (size_t)len;
	o->mode = o->policy.mode;
}

size_t
mtasts_own_mx(const struct home_conf *hc, const struct relay_state *rs, const char **mx, size_t cap)
{
	size_t n = 0;

	if (!relay_state_active(rs)) {
		if (cap > 0)
			mx[n++] = hc->main->hostname;
		return n;
	}
	for (size_t i = 0; i < rs->nedges; i++) {
		const struct relay_edge *e = relay_state_edge(rs, i);

		for (size_t h = 0; h < e->hostnames.n; h++) {
			if (!mtasts_own_is_policy_host(e->hostnames.v[h]))
				(void)dnsname_list_add(mx, &n, cap, e->hostnames.v[h]);
		}
	}
	return n;
}

void
mtasts_own_load(const struct home_conf *hc, const struct relay_state *rs, const struct tls_identity *cert,
		struct mtasts_own *o)
{
	const char *mx[MTASTS_MX_MAX + 1];
	char err[MTASTS_OWN_WHY_MAX];
	size_t n = mtasts_own_mx(hc, rs, mx, MTASTS_MX_MAX + 1);
	const char *untrusted = NULL;

	if (hc->mta_sts->mode != HOME_MTASTS_OFF && n > 0 && n <= MTASTS_MX_MAX &&
	    (cert != NULL ? tlsident_verify_identity(cert, hc->cert_path, hc->outbound->tls_ca_file, mx, n, err,
						     sizeof(err))
			  : tlsident_verify(hc->cert_path, hc->outbound->tls_ca_file, mx, n, err, sizeof(err))) != 0)
		untrusted = err;
	mtasts_own_build(hc->mta_sts->mode, hc->mta_sts->max_age / 1000, mx, n, untrusted, o);
}
