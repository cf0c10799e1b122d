#include "pemkey.h"

#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "keyfile.h"
#include "tls.h"

int
pemkey_save(EVP_PKEY *key, const char *path, int replace, char *err, size_t errcap)
{
	BIO *mem = BIO_new(BIO_s_secmem());
	char *pem = NULL;
	long len;
	int rc = -1;

	if (mem == NULL || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
		tls_error(err, errcap, "cannot encode private key");
		goto out;
	}
	len = BIO_get_mem_data(mem, &pem);
	if (len <= 0) {
		tls_error(err, errcap, "cannot encode private key");
		goto out;
	}
	rc = keyfile_store(path, pem, (size_t)len, 0600, replace, err, errcap);
out:
	BIO_free(mem);	/* secure memory: cleared on free */
	return rc;
}

static int
pemkey_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

EVP_PKEY *
pemkey_parse(const void *pem, size_t len, char *err, size_t errcap)
{
	BIO *mem;
	EVP_PKEY *key = NULL;

	if (len > KEYFILE_MAX) {
		snprintf(err, errcap, "private key larger than %d bytes", KEYFILE_MAX);
		return NULL;
	}
	mem = BIO_new_mem_buf(pem, (int)len);
	if (mem == NULL) {
		tls_error(err, errcap, "out of memory");
		return NULL;
	}
	/* A refusing passphrase callback: never prompt on a terminal. */
	key = PEM_read_bio_PrivateKey(mem, NULL, pemkey_no_passphrase, NULL);
	if (key == NULL)
		tls_error(err, errcap, "not a PEM private key");
	BIO_free(mem);
	return key;
}

EVP_PKEY *
pemkey_load(const char *path, char *err, size_t errcap)
{
	uint8_t *buf;
	char why[256];
	size_t len = 0;
	EVP_PKEY *key = NULL;

	buf = sodium_malloc(KEYFILE_MAX);
	if (buf == NULL) {
		snprintf(err, errcap, "%s: out of memory", path);
		return NULL;
	}
	if (keyfile_read(path, 1, buf, KEYFILE_MAX, &len, err, errcap) == 0) {
		key = pemkey_parse(buf, len, why, sizeof(why));
		if (key == NULL)
			snprintf(err, errcap, "%s: %s", path, why);
	}
	sodium_free(buf);	/* wipes */
	return key;
}
