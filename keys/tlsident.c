#include "tlsident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "keyfile.h"
#include "pemkey.h"

/* Certificates in a chain file beyond the leaf. */
#define TLSIDENT_CHAIN_MAX 8

int
tlsident_load_chain(const char *path, struct tls_identity *id, char *err, size_t errcap)
{
	uint8_t *buf = malloc(KEYFILE_MAX);
	size_t len = 0;
	BIO *mem = NULL;
	X509 *x;
	unsigned long e;
	int rc = -1;

	if (buf == NULL) {
		snprintf(err, errcap, "%s: out of memory", path);
		return -1;
	}
	if (keyfile_read(path, 0, buf, KEYFILE_MAX, &len, err, errcap) != 0)
		goto out;
	mem = BIO_new_mem_buf(buf, (int)len);
	if (mem == NULL)
		goto openssl_fail;
	id->cert = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	if (id->cert == NULL) {
		snprintf(err, errcap, "%s: no PEM certificate", path);
		goto out;
	}
	id->chain = sk_X509_new_null();
	if (id->chain == NULL)
		goto openssl_fail;
	while ((x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(id->chain) == TLSIDENT_CHAIN_MAX || sk_X509_push(id->chain, x) == 0) {
			X509_free(x);
			snprintf(err, errcap, "%s: more than %d chain certificates", path,
				 TLSIDENT_CHAIN_MAX);
			goto out;
		}
	}
	/* The loop ends on "no more PEM", which is not an error, or on a broken certificate. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		ERR_clear_error();
		snprintf(err, errcap, "%s: certificate %d is not a valid PEM certificate", path,
			 sk_X509_num(id->chain) + 2);
		goto out;
	}
	ERR_clear_error();
	rc = 0;
	goto out;
openssl_fail:
	tls_error(err, errcap, "out of memory");
out:
	BIO_free(mem);
	free(buf);
	return rc;
}

int
tlsident_load(const char *cert_path, const char *key_path, struct tls_identity *id, char *err,
	      size_t errcap)
{
	memset(id, 0, sizeof(*id));
	if (tlsident_load_chain(cert_path, id, err, errcap) != 0)
		goto fail;
	id->key = pemkey_load(key_path, err, errcap);
	if (id->key == NULL)
		goto fail;
	if (X509_check_private_key(id->cert, id->key) != 1) {
		ERR_clear_error();
		snprintf(err, errcap, "%s does not match the certificate in %s", key_path, cert_path);
		goto fail;
	}
	return 0;
fail:
	tls_identity_clear(id);
	return -1;
}

/* Check id's chain against store for a TLS server, now. Returns 0, or -1 with err set. */
static int
tlsident_verify_chain(const struct tls_identity *id, X509_STORE *store, const char *cert_path, char *err,
		      size_t errcap)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;

	if (ctx == NULL || X509_STORE_CTX_init(ctx, store, id->cert, id->chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		tls_error(err, errcap, "cannot check the certificate");
	} else if (X509_verify_cert(ctx) != 1) {
		snprintf(err, errcap, "%s: not valid: %s", cert_path,
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	} else {
		rc = 0;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int
tlsident_verify_identity(const struct tls_identity *id, const char *what, const char *ca_file,
			 const char *const *names, size_t n, char *err, size_t errcap)
{
	X509_STORE *store = X509_STORE_new();
	int rc = -1;

	if (store == NULL) {
		tls_error(err, errcap, "out of memory");
		goto out;
	}
	if ((ca_file != NULL ? X509_STORE_load_file(store, ca_file) : X509_STORE_set_default_paths(store)) != 1) {
		ERR_clear_error();
		snprintf(err, errcap, "cannot read the trusted CAs%s%s", ca_file != NULL ? " in " : "",
			 ca_file != NULL ? ca_file : "");
		goto out;
	}
	if (tlsident_verify_chain(id, store, what, err, errcap) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (X509_check_host(id->cert, names[i], 0, 0, NULL) != 1) {
			snprintf(err, errcap, "%s: not valid for %s", what, names[i]);
			goto out;
		}
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_STORE_free(store);
	return rc;
}

int
tlsident_verify(const char *cert_path, const char *ca_file, const char *const *names, size_t n, char *err,
		size_t errcap)
{
	struct tls_identity id = { 0 };
	int rc = -1;

	if (tlsident_load_chain(cert_path, &id, err, errcap) == 0)
		rc = tlsident_verify_identity(&id, cert_path, ca_file, names, n, err, errcap);
	tls_identity_clear(&id);
	return rc;
}
