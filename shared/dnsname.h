/*
 * dnsname: checks on host names before they are used as keys or printed:
 * TLS SNI, EHLO arguments, configured host names.
 */
#ifndef HOMEPORT_DNSNAME_H
#define HOMEPORT_DNSNAME_H

#include <stddef.h>

#define DNSNAME_MAX 253		/* text form, without a trailing dot */
#define DNSNAME_LABEL_MAX 63

/* dnsname_check() flags */
#define DNSNAME_WILDCARD 0x01	/* allow "*." as the first label */

/*
 * Returns 0 if s[0..len) is a host name: 1 to DNSNAME_MAX bytes of
 * dot-separated labels, each 1 to 63 letters, digits or hyphens, not
 * starting or ending with a hyphen; no trailing dot. Pure.
 * Returns -1 otherwise.
 */
int dnsname_check(const char *s, size_t len, unsigned flags);

/*
 * Compare host names without regard to ASCII case. Returns 1 if equal.
 */
int dnsname_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
