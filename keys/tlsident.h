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

#endif
