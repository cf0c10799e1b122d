/*
 * tlsident: load a TLS identity (certificate chain and private key) from
 * PEM files for shared/tls. The key file must pass keyfile's checks.
 */
#ifndef HOMEPORT_TLSIDENT_H
#define HOMEPORT_TLSIDENT_H

#include <stddef.h>

#include "tls.h"

/*
 * cert_path holds the leaf certificate first, then any intermediates.
 * Fills *id (release with tls_identity_clear()). Returns 0, or -1 with err
 * set (unreadable files, a broken certificate anywhere in the chain file,
 * loose key permissions, key not matching).
 */
int tlsident_load(const char *cert_path, const char *key_path, struct tls_identity *id,
		  char *err, size_t errcap);

/*
 * The certificate chain alone (id->key stays NULL): as tlsident_load,
 * for readers that need no key (homeport dns). *id must be zeroed before;
 * release with tls_identity_clear(). Returns 0, or -1 with err set.
 */
int tlsident_load_chain(const char *path, struct tls_identity *id, char *err, size_t errcap);

/*
 * Would a client that trusts ca_file (PEM; NULL: the system's CAs) accept
 * the chain in cert_path, now, from a server named each of names[0..n)?
 * The chain must lead to a trusted CA, every certificate in its validity
 * period, the leaf fit for a TLS server and valid for each name (RFC 6125,
 * wildcards in the leftmost label). With n = 0 only the chain is checked:
 * give every name the certificate must serve. Returns 0, or -1 with err
 * saying what fails (the file, the chain's error, or the first name not
 * covered).
 */
int tlsident_verify(const char *cert_path, const char *ca_file, const char *const *names, size_t n, char *err,
		    size_t errcap);

/* The same for a chain already loaded (id->key unused), named what in err. */
int tlsident_verify_identity(const struct tls_identity *id, const char *what, const char *ca_file,
			     const char *const *names, size_t n, char *err, size_t errcap);

#endif
