#include "selfcert.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "dnsname.h"
#include "keyfile.h"
#include "pemkey.h"

/* Add one X509v3 extension given in OpenSSL's config syntax. */
static int
selfcert_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

int
selfcert_generate(const char *const *names, size_t n, unsigned days, struct tls_identity *id,
		  char *err, size_t errcap)
{
	char san[SELFCERT_NAMES_MAX * (DNSNAME_MAX + 5)];
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *subject;
	size_t o = 0;

	memset(id, 0, sizeof(*id));
	if (n == 0 || n > SELFCERT_NAMES_MAX) {
		snprintf(err, errcap, "need 1 to %d host names", SELFCERT_NAMES_MAX);
		return -1;
	}
	if (days == 0 || days > SELFCERT_DAYS_MAX) {
		snprintf(err, errcap, "validity must be 1 to %d days", SELFCERT_DAYS_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (dnsname_check(names[i], strlen(names[i]), DNSNAME_WILDCARD) != 0) {
			snprintf(err, errcap, "not a host name: %.*s", DNSNAME_MAX, names[i]);
			return -1;
		}
		/* X.509 caps the CN at 64 bytes; SAN entries may be longer. */
		if (i == 0 && strlen(names[0]) > SELFCERT_CN_MAX) {
			snprintf(err, errcap, "first host name is longer than %d bytes, too long "
				 "for the certificate's CN; list a shorter name first: %s",
				 SELFCERT_CN_MAX, names[0]);
			return -1;
		}
		o += (size_t)snprintf(san + o, sizeof(san) - o, "%sDNS:%s", i ? "," : "", names[i]);
	}
	id->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	id->cert = X509_new();
	if (id->key == NULL || id->cert == NULL)
		goto fail;
	/* A random positive 127-bit serial number. */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(id->cert)) == NULL)
		goto fail;
	if (X509_set_version(id->cert, X509_VERSION_3) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(id->cert), -300) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(id->cert), (long)days * 86400) == NULL ||
	    X509_set_pubkey(id->cert, id->key) != 1)
		goto fail;
	subject = X509_get_subject_name(id->cert);
	if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
				       (const unsigned char *)names[0], -1, -1, 0) != 1 ||
	    X509_set_issuer_name(id->cert, subject) != 1)
		goto fail;
	if (selfcert_ext(id->cert, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    selfcert_ext(id->cert, NID_key_usage, "critical,digitalSignature") != 0 ||
	    selfcert_ext(id->cert, NID_ext_key_usage, "serverAuth") != 0 ||
	    selfcert_ext(id->cert, NID_subject_alt_name, san) != 0 ||
	    selfcert_ext(id->cert, NID_subject_key_identifier, "hash") != 0)
		goto fail;
	if (X509_sign(id->cert, id->key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return 0;
fail:
	tls_error(err, errcap, "cannot make self-signed certificate");
	BN_free(bn);
	tls_identity_clear(id);
	return -1;
}

int
selfcert_save(const struct tls_identity *id, const char *cert_path, const char *key_path,
	      int replace, char *err, size_t errcap)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int rc = -1;

	if (mem == NULL || PEM_write_bio_X509(mem, id->cert) != 1 ||
	    (len = BIO_get_mem_data(mem, &pem)) <= 0) {
		tls_error(err, errcap, "cannot encode certificate");
		goto out;
	}
	if (pemkey_save(id->key, key_path, replace, err, errcap) != 0)
		goto out;
	rc = keyfile_store(cert_path, pem, (size_t)len, 0644, replace, err, errcap);
	/* Without replace the key file is ours alone: no key without its certificate. */
	if (rc != 0 && !replace)
		unlink(key_path);
out:
	BIO_free(mem);
	return rc;
}
