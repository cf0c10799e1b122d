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

/*
 * Add name (NUL-terminated, pointed to, not copied) to list[0..*n) unless
 * a name equal to it (dnsname_equal) is there or the list holds cap.
 * Returns 1 if added, else 0.
 */
int dnsname_list_add(const char **list, size_t *n, size_t cap, const char *name);

#endif
