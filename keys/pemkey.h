/*
 * pemkey: OpenSSL private keys (DKIM, TLS) as PKCS#8 PEM files, through
 * keyfile's atomic writes and permission checks. PEM parsing is OpenSSL's.
 */
#ifndef HOMEPORT_PEMKEY_H
#define HOMEPORT_PEMKEY_H

#include <stddef.h>

#include <openssl/evp.h>

/*
 * Write key to path (mode 0600, atomically). With replace 0, an existing
 * file is an error (keys are never overwritten by accident).
 * Returns 0, or -1 with err set.
 */
int pemkey_save(EVP_PKEY *key, const char *path, int replace, char *err, size_t errcap);

/*
 * Read a private key file (refusing loose permissions, see keyfile).
 * Needs sodium_init() to have run (the file is read into sodium_malloc).
 * Returns the key (caller frees with EVP_PKEY_free) or NULL with err set.
 */
EVP_PKEY *pemkey_load(const char *path, char *err, size_t errcap);

/*
 * Parse PEM text already in memory. Encrypted keys are refused (never a
 * passphrase prompt). Returns the key or NULL with err set.
 */
EVP_PKEY *pemkey_parse(const void *pem, size_t len, char *err, size_t errcap);

#endif
