#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20"
#define TLS_GROUPS "X25519:P-256:P-384"

struct tls_server {
	SSL_CTX *ctx;
};

char *
tls_error(char *err, size_t errcap, const char *what)
{
	unsigned long e;
	size_t o;
	int n = snprintf(err, errcap, "%s", what);

	o = n < 0 ? 0 : (size_t)n;
	while ((e = ERR_get_error()) != 0) {
		char one[256];
		if (o + 3 >= errcap)
			continue;	/* keep draining the queue */
		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(err + o, errcap - o, ": %s", one);
		o += n < 0 ? 0 : (size_t)n;
	}
	return err;
}

void
tls_identity_clear(struct tls_identity *id)
{
	X509_free(id->cert);
	sk_X509_pop_free(id->chain, X509_free);
	EVP_PKEY_free(id->key);
	memset(id, 0, sizeof(*id));
}

/* The profile shared by both ends. Returns 0 or -1. */
static int
tls_apply_profile(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return -1;
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1)
		return -1;
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

static SSL_CTX *
tls_server_ctx_build(const struct tls_identity *id, char *err, size_t errcap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || tls_apply_profile(ctx) != 0) {
		tls_error(err, errcap, "cannot make a TLS server context");
		goto fail;
	}
	if (id->cert == NULL || id->key == NULL) {
		snprintf(err, errcap, "TLS identity without certificate or key");
		goto fail;
	}
	if (SSL_CTX_use_certificate(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1) {
		tls_error(err, errcap, "cannot install TLS certificate and key");
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errcap, "TLS key does not match certificate");
		goto fail;
	}
	for (int i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++) {
		/* add1: the context takes its own reference. */
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(id->chain, i)) != 1) {
			tls_error(err, errcap, "cannot add TLS chain certificate");
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *
tls_server_new(const struct tls_identity *id, char *err, size_t errcap)
{
	struct tls_server *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	s->ctx = tls_server_ctx_build(id, err, errcap);
	if (s->ctx == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

int
tls_server_set_identity(struct tls_server *s, const struct tls_identity *id, char *err,
			size_t errcap)
{
	SSL_CTX *ctx = tls_server_ctx_build(id, err, errcap);

	if (ctx == NULL)
		return -1;
	SSL_CTX_free(s->ctx);
	s->ctx = ctx;
	return 0;
}

SSL_CTX *
tls_server_ctx(const struct tls_server *s)
{
	return s->ctx;
}

void
tls_server_free(struct tls_server **sp)
{
	if (*sp == NULL)
		return;
	SSL_CTX_free((*sp)->ctx);
	free(*sp);
	*sp = NULL;
}

SSL_CTX *
tls_client_ctx_new(const char *ca_file, int verify, char *err, size_t errcap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || tls_apply_profile(ctx) != 0) {
		tls_error(err, errcap, "cannot make a TLS client context");
		goto fail;
	}
	if (verify) {
		int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
					 : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			tls_error(err, errcap, "cannot load trusted certificates");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

char *
tls_describe(const SSL *ssl, char *out, size_t cap)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	snprintf(out, cap, "version=%s cipher=%s", SSL_get_version(ssl),
		 c != NULL ? SSL_CIPHER_get_name(c) : "none");
	return out;
}
