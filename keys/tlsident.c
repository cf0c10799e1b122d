#include "tlsident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyfile.h"
#include "pemkey.h"

/* Certificates in a chain file beyond the leaf. */
#define TLSIDENT_CHAIN_MAX 8

static int
tlsident_read_chain(const char *path, struct tls_identity *id, char *err, size_t errcap)
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
	if (tlsident_read_chain(cert_path, id, err, errcap) != 0)
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
