/*
 * selfcert: a self-signed bootstrap certificate (ECDSA P-256) for a home's
 * host names, so TLS works from the first start until a real certificate
 * (ACME) replaces it.
 */
#ifndef HOMEPORT_SELFCERT_H
#define HOMEPORT_SELFCERT_H

#include <stddef.h>

#include "tls.h"

#define SELFCERT_NAMES_MAX 32
#define SELFCERT_DAYS_DEFAULT 825
#define SELFCERT_DAYS_MAX 3650
#define SELFCERT_CN_MAX 64	/* X.509 ub-common-name: longest first name */

/*
 * Make a key and a certificate for names[0..n) (1..SELFCERT_NAMES_MAX valid
 * host names; the first, at most SELFCERT_CN_MAX bytes, is the subject CN;
 * all go into subjectAltName),
 * valid from now for days. Fills *id (release with tls_identity_clear()).
 * Returns 0, or -1 with err set.
 */
int selfcert_generate(const char *const *names, size_t n, unsigned days, struct tls_identity *id,
		      char *err, size_t errcap);

/*
 * Write the certificate (0644) and key (0600) atomically. With replace 0,
 * existing files are an error. Returns 0, or -1 with err set.
 */
int selfcert_save(const struct tls_identity *id, const char *cert_path, const char *key_path,
		  int replace, char *err, size_t errcap);

#endif
