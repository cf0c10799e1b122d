/*
 * Unit tests for shared/tls: the profile, server identity and reload, client
 * verification, tls_describe and tls_error. Every identity is made here
 * (throwaway keys, certificates built with OpenSSL); the two ends talk over
 * a BIO pair in memory, stepped in turn for a bounded number of rounds.
 *
 * Where a peer is refused, the same peer is first shown to work against an
 * open (anything goes) context with the same identity, so the refusal is the
 * profile's doing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define T_ERR_MAX 512		/* error message buffers */
#define T_STEPS_MAX 64		/* handshake rounds before giving up */
#define T_DESC_MAX 128		/* tls_describe output */

/* ---- identities ------------------------------------------------------- */

enum t_key {
	T_KEY_EC,
	T_KEY_RSA,
};

static EVP_PKEY *
t_key(enum t_key kind)
{
	EVP_PKEY *k = kind == T_KEY_EC ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
				       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

	assert_non_null(k);
	return k;
}

/*
 * A certificate for key's public half named cn, signed by issuer_key under
 * issuer (NULL, NULL: self-signed). ca adds basicConstraints CA:TRUE.
 */
static X509 *
t_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
								: name), 1);
	if (ca) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
							  "critical,CA:TRUE");
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

/* A self-signed identity. */
static void
t_identity(struct tls_identity *id, const char *cn, enum t_key kind)
{
	memset(id, 0, sizeof(*id));
	id->key = t_key(kind);
	id->cert = t_cert(cn, id->key, NULL, NULL, 0);
}

/* Shared by the tests: made once (RSA keys are slow to make). */
struct t_ids {
	struct tls_identity ec1, ec2, rsa;
};

static int
t_group_setup(void **state)
{
	struct t_ids *ids = calloc(1, sizeof(*ids));

	if (ids == NULL)
		return -1;
	t_identity(&ids->ec1, "one.test", T_KEY_EC);
	t_identity(&ids->ec2, "two.test", T_KEY_EC);
	t_identity(&ids->rsa, "rsa.test", T_KEY_RSA);
	*state = ids;
	return 0;
}

static int
t_group_teardown(void **state)
{
	struct t_ids *ids = *state;

	tls_identity_clear(&ids->ec1);
	tls_identity_clear(&ids->ec2);
	tls_identity_clear(&ids->rsa);
	free(ids);
	return 0;
}

static struct tls_server *
t_server(const struct tls_identity *id)
{
	char err[T_ERR_MAX] = "";
	struct tls_server *s = tls_server_new(id, err, sizeof(err));

	if (s == NULL)
		fail_msg("tls_server_new: %s", err);
	return s;
}

static SSL_CTX *
t_client_ctx(const char *ca_file, int verify)
{
	char err[T_ERR_MAX] = "";
	SSL_CTX *ctx = tls_client_ctx_new(ca_file, verify, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("tls_client_ctx_new: %s", err);
	return ctx;
}

/* An open context: every version from TLS 1.0, every authenticated cipher, security level 0. */
static SSL_CTX *
t_open_ctx(int server, const struct tls_identity *id)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	assert_non_null(ctx);
	SSL_CTX_set_security_level(ctx, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, 0), 1);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, "ALL:!aNULL:@SECLEVEL=0"), 1);
	assert_int_equal(SSL_CTX_set_dh_auto(ctx, 1), 1);
	if (id != NULL) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, id->cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, id->key), 1);
	}
	return ctx;
}

/* ---- handshakes over a BIO pair --------------------------------------- */

enum t_side {
	T_SIDE_NONE,
	T_SIDE_CLIENT,
	T_SIDE_SERVER,
};

struct t_conn {
	SSL *c, *s;
	enum t_side failed;	/* the side that failed first */
	int reason;		/* ERR_GET_REASON of its first error */
};

/* One step of ssl's handshake. Returns 1 done, 0 wants more, -1 failed (recorded). */
static int
t_step(struct t_conn *t, SSL *ssl, enum t_side side)
{
	int rc, e;

	if (SSL_is_init_finished(ssl))
		return 1;
	rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	t->failed = side;
	t->reason = ERR_GET_REASON(ERR_peek_error());
	ERR_clear_error();
	return -1;
}

/* Make both ends (c, s not NULL: set up already) and handshake. Returns 0 or -1. */
static int
t_handshake_ssl(struct t_conn *t, SSL *c, SSL *s)
{
	BIO *bc = NULL, *bs = NULL;

	t->c = c;
	t->s = s;
	t->failed = T_SIDE_NONE;
	t->reason = 0;
	assert_non_null(t->c);
	assert_non_null(t->s);
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(t->c, bc, bc);
	SSL_set_bio(t->s, bs, bs);
	SSL_set_connect_state(t->c);
	SSL_set_accept_state(t->s);
	ERR_clear_error();
	for (int i = 0; i < T_STEPS_MAX; i++) {
		int dc = t_step(t, t->c, T_SIDE_CLIENT);
		int ds = dc < 0 ? 0 : t_step(t, t->s, T_SIDE_SERVER);
		if (dc < 0 || ds < 0)
			return -1;
		if (dc == 1 && ds == 1)
			return 0;
	}
	fail_msg("handshake did not finish in %d rounds", T_STEPS_MAX);
	return -1;
}

static int
t_handshake(struct t_conn *t, SSL_CTX *cctx, SSL_CTX *sctx)
{
	return t_handshake_ssl(t, SSL_new(cctx), SSL_new(sctx));
}

static void
t_conn_free(struct t_conn *t)
{
	SSL_free(t->c);
	SSL_free(t->s);
	t->c = t->s = NULL;
}

/* Send msg from one end, read it at the other. */
static void
t_send(SSL *from, SSL *to, const char *msg)
{
	char buf[256];
	int n = (int)strlen(msg);

	assert_true((size_t)n < sizeof(buf));
	assert_int_equal(SSL_write(from, msg, n), n);
	assert_int_equal(SSL_read(to, buf, sizeof(buf)), n);
	assert_memory_equal(buf, msg, (size_t)n);
}

/* The certificate the client saw is id's. */
static void
t_peer_is(const struct t_conn *t, const struct tls_identity *id)
{
	X509 *peer = SSL_get0_peer_certificate(t->c);

	assert_non_null(peer);
	assert_int_equal(X509_cmp(peer, id->cert), 0);
}

/* A temporary PEM file holding cert. Returns its path in path[0..cap). */
static void
t_pem_file(X509 *cert, char *path, size_t cap)
{
	FILE *f;
	int fd;

	assert_true(snprintf(path, cap, "/tmp/test_tls_ca.XXXXXX") < (int)cap);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
}

/* ---- TLS 1.3 and tls_describe ----------------------------------------- */

static void
test_tls13(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *cctx = t_client_ctx(NULL, 0);
	char desc[T_DESC_MAX];
	struct t_conn t;

	assert_int_equal(t_handshake(&t, cctx, tls_server_ctx(s)), 0);
	assert_int_equal(SSL_version(t.c), TLS1_3_VERSION);
	assert_int_equal(SSL_version(t.s), TLS1_3_VERSION);
	/* The server picks: its first TLS 1.3 suite. */
	assert_string_equal(tls_describe(t.s, desc, sizeof(desc)),
			    "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384");
	assert_string_equal(tls_describe(t.c, desc, sizeof(desc)),
			    "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384");
	assert_int_equal(SSL_get_negotiated_group(t.s), NID_X25519);
	assert_null(SSL_get_current_compression(t.s));
	t_peer_is(&t, &ids->ec1);
	t_send(t.c, t.s, "EHLO client.test");
	t_send(t.s, t.c, "250 ok");

	/* Cut to the buffer, NUL-terminated, and returns out. */
	memset(desc, 'X', sizeof(desc));
	assert_ptr_equal(tls_describe(t.s, desc, 10), desc);
	assert_string_equal(desc, "version=T");
	assert_int_equal(desc[10], 'X');

	t_conn_free(&t);
	SSL_CTX_free(cctx);
	tls_server_free(&s);
	assert_null(s);
	tls_server_free(&s);	/* NULL is accepted */
}

static void
test_tls13_server_picks_suite(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *cctx = t_client_ctx(NULL, 0);
	char desc[T_DESC_MAX];
	struct t_conn t;
	SSL *c = SSL_new(cctx);

	/* The client's order does not matter: the server's does. */
	assert_non_null(c);
	assert_int_equal(SSL_set_ciphersuites(c, "TLS_CHACHA20_POLY1305_SHA256:"
						 "TLS_AES_256_GCM_SHA384"), 1);
	assert_int_equal(t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))), 0);
	assert_string_equal(tls_describe(t.s, desc, sizeof(desc)),
			    "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384");
	t_conn_free(&t);

	/* Only one suite offered: that one. */
	c = SSL_new(cctx);
	assert_non_null(c);
	assert_int_equal(SSL_set_ciphersuites(c, "TLS_CHACHA20_POLY1305_SHA256"), 1);
	assert_int_equal(t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))), 0);
	assert_string_equal(tls_describe(t.c, desc, sizeof(desc)),
			    "version=TLSv1.3 cipher=TLS_CHACHA20_POLY1305_SHA256");
	t_conn_free(&t);
	SSL_CTX_free(cctx);
	tls_server_free(&s);
}

/* ---- TLS 1.2: ECDHE with AEAD only ------------------------------------ */

static void
test_tls12(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *cctx = t_client_ctx(NULL, 0);
	const SSL_CIPHER *cipher;
	char desc[T_DESC_MAX];
	struct t_conn t;
	SSL *c = SSL_new(cctx);

	assert_non_null(c);
	assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
	assert_int_equal(t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))), 0);
	assert_int_equal(SSL_version(t.s), TLS1_2_VERSION);
	cipher = SSL_get_current_cipher(t.s);
	assert_non_null(cipher);
	assert_int_equal(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe);
	assert_int_equal(SSL_CIPHER_is_aead(cipher), 1);
	assert_string_equal(tls_describe(t.s, desc, sizeof(desc)),
			    "version=TLSv1.2 cipher=ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_int_equal(SSL_get_negotiated_group(t.s), NID_X25519);
	t_peer_is(&t, &ids->ec1);
	t_send(t.c, t.s, "ping");
	t_send(t.s, t.c, "pong");
	t_conn_free(&t);

	/* With an RSA certificate: ECDHE-RSA. */
	tls_server_free(&s);
	s = t_server(&ids->rsa);
	c = SSL_new(cctx);
	assert_non_null(c);
	assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
	assert_int_equal(t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))), 0);
	assert_string_equal(tls_describe(t.c, desc, sizeof(desc)),
			    "version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384");
	t_conn_free(&t);
	SSL_CTX_free(cctx);
	tls_server_free(&s);
}

/* A cipher suite that needs a pre-shared secret or password. */
static int
t_needs_secret(const SSL_CIPHER *ci)
{
	switch (SSL_CIPHER_get_kx_nid(ci)) {
	case NID_kx_psk:
	case NID_kx_rsa_psk:
	case NID_kx_dhe_psk:
	case NID_kx_ecdhe_psk:
	case NID_kx_srp:
		return 1;
	default:
		return 0;
	}
}

/* AES-GCM or ChaCha20-Poly1305: the AEAD ciphers of the profile (no CCM, no ARIA). */
static int
t_gcm_or_chacha(const SSL_CIPHER *ci)
{
	int nid = SSL_CIPHER_get_cipher_nid(ci);

	return nid == NID_aes_128_gcm || nid == NID_aes_256_gcm || nid == NID_chacha20_poly1305;
}

/*
 * Every TLS 1.2 cipher suite OpenSSL has for the identity's key type, offered
 * alone by an open client to our server and by an open server to our client:
 * accepted if and only if it is ECDHE with AES-GCM or ChaCha20-Poly1305.
 * CCM, CCM8 and ARIA-GCM are AEAD too, but the profile leaves them out.
 */
static void
t_cipher_table(const struct tls_identity *id, int want_auth, int *accepted_r, int *refused_r)
{
	SSL_CTX *open_client = t_open_ctx(0, NULL), *open_server = t_open_ctx(1, id);
	SSL_CTX *our_client = t_client_ctx(NULL, 0);
	struct tls_server *s = t_server(id);
	STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(open_client);

	for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(all, i);
		const char *name = SSL_CIPHER_get_name(ci);
		int want = SSL_CIPHER_get_kx_nid(ci) == NID_kx_ecdhe && t_gcm_or_chacha(ci);
		struct t_conn t;
		SSL *c, *srv;
		int rc;

		/* TLS 1.3 suites have auth "any"; PSK and SRP need more than a certificate. */
		if (SSL_CIPHER_get_auth_nid(ci) != want_auth || t_needs_secret(ci))
			continue;

		/* Control: the open ends agree on it. */
		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_set_cipher_list(c, name), 1);
		rc = t_handshake_ssl(&t, c, SSL_new(open_server));
		if (rc != 0)
			fail_msg("%s: open client and server fail (reason %d)", name, t.reason);
		assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(t.s)), name);
		t_conn_free(&t);

		/* Our server. */
		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_set_cipher_list(c, name), 1);
		rc = t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s)));
		if ((rc == 0) != want)
			fail_msg("%s: our server %s it", name, rc == 0 ? "accepts" : "refuses");
		if (rc == 0) {
			assert_int_equal(SSL_CIPHER_is_aead(ci), 1);
			assert_int_equal(SSL_version(t.s), TLS1_2_VERSION);
			assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(t.s)), name);
		} else {
			assert_int_equal(t.failed, T_SIDE_SERVER);
			assert_int_equal(t.reason, SSL_R_NO_SHARED_CIPHER);
		}
		t_conn_free(&t);

		/* Our client. */
		srv = SSL_new(open_server);
		assert_non_null(srv);
		assert_int_equal(SSL_set_max_proto_version(srv, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_set_cipher_list(srv, name), 1);
		rc = t_handshake_ssl(&t, SSL_new(our_client), srv);
		if ((rc == 0) != want)
			fail_msg("%s: our client %s it", name, rc == 0 ? "accepts" : "refuses");
		if (rc == 0)
			assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(t.c)), name);
		t_conn_free(&t);
		*(want ? accepted_r : refused_r) += 1;
	}
	tls_server_free(&s);
	SSL_CTX_free(our_client);
	SSL_CTX_free(open_server);
	SSL_CTX_free(open_client);
}

static void
test_tls12_cipher_table(void **state)
{
	struct t_ids *ids = *state;
	int accepted = 0, refused = 0;

	t_cipher_table(&ids->ec1, NID_auth_ecdsa, &accepted, &refused);
	/* ECDHE-ECDSA with AES-128/256-GCM and ChaCha20 */
	assert_int_equal(accepted, 3);
	assert_true(refused >= 4);
	accepted = refused = 0;
	t_cipher_table(&ids->rsa, NID_auth_rsa, &accepted, &refused);
	assert_int_equal(accepted, 3);
	/* plain RSA, DHE-RSA, CBC: many */
	assert_true(refused >= 10);
}

static void
test_tls12_refused_by_name(void **state)
{
	static const char *const refused[] = {
		"AES128-SHA",			/* RSA key exchange, CBC */
		"AES128-GCM-SHA256",		/* RSA key exchange, AEAD */
		"DHE-RSA-AES128-GCM-SHA256",	/* finite-field DHE, AEAD */
		"ECDHE-RSA-AES128-SHA",		/* ECDHE, CBC */
		"ECDHE-RSA-AES128-SHA256",	/* ECDHE, CBC */
	};
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->rsa);
	SSL_CTX *open_client = t_open_ctx(0, NULL), *open_server = t_open_ctx(1, &ids->rsa);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct t_conn t;
		SSL *c;

		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_set_cipher_list(c, refused[i]), 1);
		assert_int_equal(t_handshake_ssl(&t, c, SSL_new(open_server)), 0);
		t_conn_free(&t);

		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_set_cipher_list(c, refused[i]), 1);
		if (t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))) == 0)
			fail_msg("%s accepted", refused[i]);
		assert_int_equal(t.failed, T_SIDE_SERVER);
		assert_int_equal(t.reason, SSL_R_NO_SHARED_CIPHER);
		t_conn_free(&t);
	}
	SSL_CTX_free(open_server);
	SSL_CTX_free(open_client);
	tls_server_free(&s);
}

/* ---- old versions, groups, renegotiation ------------------------------ */

static void
test_old_versions_refused(void **state)
{
	static const int versions[] = { TLS1_VERSION, TLS1_1_VERSION };
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *open_client = t_open_ctx(0, NULL), *open_server = t_open_ctx(1, &ids->ec1);
	SSL_CTX *our_client = t_client_ctx(NULL, 0);

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct t_conn t;
		SSL *c, *srv;

		/* Control: the open ends speak it. */
		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, versions[i]), 1);
		assert_int_equal(t_handshake_ssl(&t, c, SSL_new(open_server)), 0);
		assert_int_equal(SSL_version(t.s), versions[i]);
		t_conn_free(&t);

		/*
		 * Our server: the client offers nothing newer. Security level 0
		 * on the connection, so that OpenSSL's own level (which refuses
		 * the SHA-1 signatures of TLS 1.0 and 1.1) leaves the profile to
		 * do the refusing.
		 */
		c = SSL_new(open_client);
		assert_non_null(c);
		assert_int_equal(SSL_set_max_proto_version(c, versions[i]), 1);
		srv = SSL_new(tls_server_ctx(s));
		assert_non_null(srv);
		SSL_set_security_level(srv, 0);
		assert_int_equal(t_handshake_ssl(&t, c, srv), -1);
		assert_int_equal(t.failed, T_SIDE_SERVER);
		assert_int_equal(t.reason, SSL_R_UNSUPPORTED_PROTOCOL);
		t_conn_free(&t);

		/* Our client: the server offers nothing newer. */
		srv = SSL_new(open_server);
		assert_non_null(srv);
		assert_int_equal(SSL_set_max_proto_version(srv, versions[i]), 1);
		c = SSL_new(our_client);
		assert_non_null(c);
		SSL_set_security_level(c, 0);
		assert_int_equal(t_handshake_ssl(&t, c, srv), -1);
		assert_int_not_equal(t.failed, T_SIDE_NONE);
		t_conn_free(&t);
	}
	SSL_CTX_free(our_client);
	SSL_CTX_free(open_server);
	SSL_CTX_free(open_client);
	tls_server_free(&s);
}

static void
test_groups(void **state)
{
	static const struct {
		const char *groups;	/* all the other end offers */
		int ok;
		int nid[2];		/* the group used in TLS 1.3, 1.2 */
	} cases[] = {
		{ "X25519", 1, { NID_X25519, NID_X25519 } },
		{ "P-256", 1, { NID_X9_62_prime256v1, NID_X9_62_prime256v1 } },
		{ "P-384", 1, { NID_secp384r1, NID_secp384r1 } },
		{ "P-521", 0, { 0, 0 } },
		{ "X448", 0, { 0, 0 } },
		{ "P-521:P-384", 1, { NID_secp384r1, NID_secp384r1 } },
		/*
		 * TLS 1.3: the group of the client's key share (no extra round
		 * trip); TLS 1.2: the server's first choice.
		 */
		{ "P-384:X25519", 1, { NID_secp384r1, NID_X25519 } },
	};
	struct t_ids *ids = *state;
	SSL_CTX *open_client = t_open_ctx(0, NULL), *our_client = t_client_ctx(NULL, 0);

	for (int v = 0; v < 2; v++) {
		/*
		 * In TLS 1.2 the groups also limit ECDSA certificates: an RSA one
		 * keeps the key exchange the only thing tested.
		 */
		int max = v == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
		const struct tls_identity *id = v == 0 ? &ids->ec1 : &ids->rsa;
		struct tls_server *s = t_server(id);
		SSL_CTX *open_server = t_open_ctx(1, id);

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct t_conn t;
			SSL *c, *srv;

			/* Control. */
			c = SSL_new(open_client);
			assert_non_null(c);
			assert_int_equal(SSL_set_max_proto_version(c, max), 1);
			assert_int_equal(SSL_set1_groups_list(c, cases[i].groups), 1);
			if (t_handshake_ssl(&t, c, SSL_new(open_server)) != 0)
				fail_msg("%s: open ends fail", cases[i].groups);
			t_conn_free(&t);

			/* Our server. */
			c = SSL_new(open_client);
			assert_non_null(c);
			assert_int_equal(SSL_set_max_proto_version(c, max), 1);
			assert_int_equal(SSL_set1_groups_list(c, cases[i].groups), 1);
			if ((t_handshake_ssl(&t, c, SSL_new(tls_server_ctx(s))) == 0) != cases[i].ok)
				fail_msg("%s, version %x: our server %s", cases[i].groups, max,
					 cases[i].ok ? "refuses" : "accepts");
			if (cases[i].ok) {
				assert_int_equal(SSL_version(t.s), max);
				assert_int_equal(SSL_get_negotiated_group(t.s), cases[i].nid[v]);
			} else {
				assert_int_equal(t.failed, T_SIDE_SERVER);
			}
			t_conn_free(&t);

			/* Our client. */
			srv = SSL_new(open_server);
			assert_non_null(srv);
			assert_int_equal(SSL_set_max_proto_version(srv, max), 1);
			assert_int_equal(SSL_set1_groups_list(srv, cases[i].groups), 1);
			if ((t_handshake_ssl(&t, SSL_new(our_client), srv) == 0) != cases[i].ok)
				fail_msg("%s, version %x: our client %s", cases[i].groups, max,
					 cases[i].ok ? "refuses" : "accepts");
			t_conn_free(&t);
		}
		SSL_CTX_free(open_server);
		tls_server_free(&s);
	}
	SSL_CTX_free(our_client);
	SSL_CTX_free(open_client);
}

/* The first error of a side that failed. Returns -1. */
static int
t_failed(struct t_conn *t, enum t_side side)
{
	t->failed = side;
	t->reason = ERR_GET_REASON(ERR_peek_error());
	ERR_clear_error();
	return -1;
}

/* Drive ssl one step: the handshake while in it, else a read. Returns 0, or -1 failed. */
static int
t_pump(struct t_conn *t, SSL *ssl, enum t_side side)
{
	char buf[16];
	int rc, e;

	rc = SSL_in_init(ssl) ? SSL_do_handshake(ssl) : SSL_read(ssl, buf, sizeof(buf));
	if (rc > 0)
		return 0;
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return t_failed(t, side);
}

/* Both ends' own Finished messages changed: a new handshake completed. */
struct t_finished {
	unsigned char c[64], s[64];
	size_t clen, slen;
};

static void
t_finished(const struct t_conn *t, struct t_finished *f)
{
	f->clen = SSL_get_finished(t->c, f->c, sizeof(f->c));
	f->slen = SSL_get_finished(t->s, f->s, sizeof(f->s));
}

/*
 * Renegotiate a TLS 1.2 connection, started by the client or the server; the
 * other end takes part inside SSL_read. Returns 0 when both ends finished a
 * new handshake, -1 when one failed (recorded).
 */
static int
t_renegotiate(struct t_conn *t, enum t_side initiator)
{
	SSL *ini = initiator == T_SIDE_CLIENT ? t->c : t->s;
	SSL *resp = initiator == T_SIDE_CLIENT ? t->s : t->c;
	enum t_side responder = initiator == T_SIDE_CLIENT ? T_SIDE_SERVER : T_SIDE_CLIENT;
	struct t_finished before, now;

	t->failed = T_SIDE_NONE;
	t_finished(t, &before);
	if (SSL_renegotiate(ini) != 1)
		return t_failed(t, initiator);
	if (SSL_do_handshake(ini) <= 0 && !SSL_want_read(ini) && !SSL_want_write(ini))
		return t_failed(t, initiator);
	for (int i = 0; i < T_STEPS_MAX; i++) {
		if (t_pump(t, resp, responder) != 0 || t_pump(t, ini, initiator) != 0)
			return -1;
		t_finished(t, &now);
		if (!SSL_in_init(t->c) && !SSL_in_init(t->s) &&
		    (now.clen != before.clen || memcmp(now.c, before.c, now.clen) != 0) &&
		    (now.slen != before.slen || memcmp(now.s, before.s, now.slen) != 0))
			return 0;
	}
	fail_msg("renegotiation did not finish in %d rounds", T_STEPS_MAX);
	return -1;
}

/* A TLS 1.2 connection between a client and a server SSL. */
static void
t_tls12(struct t_conn *t, SSL *c, SSL *s)
{
	assert_non_null(c);
	assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
	assert_int_equal(t_handshake_ssl(t, c, s), 0);
	assert_int_equal(SSL_version(t->c), TLS1_2_VERSION);
}

static void
test_no_renegotiation(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *open_client = t_open_ctx(0, NULL), *open_server = t_open_ctx(1, &ids->ec1);
	SSL_CTX *our_client = t_client_ctx(NULL, 0);
	struct t_conn t;
	SSL *srv;

	/* Controls: open ends renegotiate either way (OpenSSL 3 servers need the option). */
	SSL_CTX_set_options(open_server, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	t_tls12(&t, SSL_new(open_client), SSL_new(open_server));
	if (t_renegotiate(&t, T_SIDE_CLIENT) != 0)
		fail_msg("control: side %d reason %d", t.failed, t.reason);
	assert_int_equal(SSL_total_renegotiations(t.c), 1);
	t_send(t.c, t.s, "renegotiated");
	t_conn_free(&t);
	t_tls12(&t, SSL_new(open_client), SSL_new(open_server));
	if (t_renegotiate(&t, T_SIDE_SERVER) != 0)
		fail_msg("control: side %d reason %d", t.failed, t.reason);
	assert_int_equal(SSL_total_renegotiations(t.s), 1);
	t_conn_free(&t);

	/* Our server says no, even where the connection would allow it. */
	srv = SSL_new(tls_server_ctx(s));
	assert_non_null(srv);
	SSL_set_options(srv, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	t_tls12(&t, SSL_new(open_client), srv);
	assert_int_equal(t_renegotiate(&t, T_SIDE_CLIENT), -1);
	assert_int_equal(t.failed, T_SIDE_CLIENT);
	assert_int_equal(t.reason, SSL_R_NO_RENEGOTIATION);
	assert_int_equal(SSL_total_renegotiations(t.c), 1);	/* attempted, not done */
	t_conn_free(&t);

	/* Our client says no to a server that asks. */
	t_tls12(&t, SSL_new(our_client), SSL_new(open_server));
	assert_int_equal(t_renegotiate(&t, T_SIDE_SERVER), -1);
	assert_int_equal(t.failed, T_SIDE_SERVER);
	assert_int_equal(t.reason, SSL_R_NO_RENEGOTIATION);
	t_conn_free(&t);

	SSL_CTX_free(our_client);
	SSL_CTX_free(open_server);
	SSL_CTX_free(open_client);
	tls_server_free(&s);
}

/* ---- identities: mismatch, ownership, chain --------------------------- */

static void
test_server_new_bad_identity(void **state)
{
	struct t_ids *ids = *state;
	struct tls_identity bad;
	char err[T_ERR_MAX];

	/* EC key of another certificate. */
	bad = (struct tls_identity){ .cert = ids->ec1.cert, .key = ids->ec2.key };
	err[0] = '\0';
	assert_null(tls_server_new(&bad, err, sizeof(err)));
	if (strncmp(err, "cannot install TLS certificate and key: ", 40) != 0 ||
	    strstr(err, "key values mismatch") == NULL)
		fail_msg("err: %s", err);
	assert_int_equal(ERR_peek_error(), 0);

	/* A key of another type. */
	bad = (struct tls_identity){ .cert = ids->ec1.cert, .key = ids->rsa.key };
	err[0] = '\0';
	assert_null(tls_server_new(&bad, err, sizeof(err)));
	if (strncmp(err, "TLS key does not match certificate", 34) != 0)
		fail_msg("err: %s", err);
	assert_int_equal(ERR_peek_error(), 0);

	/* Something missing. */
	bad = (struct tls_identity){ .cert = ids->ec1.cert };
	err[0] = '\0';
	assert_null(tls_server_new(&bad, err, sizeof(err)));
	assert_string_equal(err, "TLS identity without certificate or key");
	bad = (struct tls_identity){ .key = ids->ec1.key };
	err[0] = '\0';
	assert_null(tls_server_new(&bad, err, sizeof(err)));
	assert_string_equal(err, "TLS identity without certificate or key");
}

static void
test_server_keeps_own_references(void **state)
{
	struct t_ids *ids = *state;
	struct tls_identity id;
	struct tls_server *s;
	SSL_CTX *cctx = t_client_ctx(NULL, 0);
	struct t_conn t;
	X509 *copy;

	(void)ids;
	t_identity(&id, "own.test", T_KEY_EC);
	copy = X509_dup(id.cert);
	assert_non_null(copy);
	s = t_server(&id);
	/* The caller still owns id and may drop it at once. */
	tls_identity_clear(&id);
	assert_null(id.cert);
	assert_null(id.key);
	assert_null(id.chain);
	tls_identity_clear(&id);	/* already empty */

	assert_int_equal(t_handshake(&t, cctx, tls_server_ctx(s)), 0);
	assert_int_equal(X509_cmp(SSL_get0_peer_certificate(t.c), copy), 0);
	t_send(t.c, t.s, "hello");
	t_conn_free(&t);
	X509_free(copy);
	SSL_CTX_free(cctx);
	tls_server_free(&s);
}

static void
test_server_chain(void **state)
{
	EVP_PKEY *root_key = t_key(T_KEY_EC), *mid_key = t_key(T_KEY_EC);
	X509 *root = t_cert("Root CA", root_key, NULL, NULL, 1);
	X509 *mid = t_cert("Intermediate CA", mid_key, root, root_key, 1);
	struct tls_identity id = { 0 };
	char ca[64];
	struct tls_server *s;
	SSL_CTX *cctx;
	struct t_conn t;

	(void)state;
	id.key = t_key(T_KEY_EC);
	id.cert = t_cert("leaf.test", id.key, mid, mid_key, 0);
	t_pem_file(root, ca, sizeof(ca));
	cctx = t_client_ctx(ca, 1);
	unlink(ca);	/* read when the context was made */

	/* Without the intermediate the client cannot build a path to the root. */
	s = t_server(&id);
	assert_int_equal(t_handshake(&t, cctx, tls_server_ctx(s)), -1);
	assert_int_equal(t.failed, T_SIDE_CLIENT);
	assert_int_equal(t.reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
	assert_int_equal(SSL_get_verify_result(t.c), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	t_conn_free(&t);
	tls_server_free(&s);

	/* With it, sent by the server. */
	id.chain = sk_X509_new_null();
	assert_non_null(id.chain);
	assert_int_equal(X509_up_ref(mid), 1);
	assert_true(sk_X509_push(id.chain, mid) > 0);
	s = t_server(&id);
	tls_identity_clear(&id);
	assert_int_equal(t_handshake(&t, cctx, tls_server_ctx(s)), 0);
	assert_int_equal(SSL_get_verify_result(t.c), X509_V_OK);
	assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(t.c)), 2);
	assert_int_equal(X509_cmp(sk_X509_value(SSL_get_peer_cert_chain(t.c), 1), mid), 0);
	t_conn_free(&t);

	tls_server_free(&s);
	SSL_CTX_free(cctx);
	X509_free(mid);
	X509_free(root);
	EVP_PKEY_free(mid_key);
	EVP_PKEY_free(root_key);
}

/* ---- reload ----------------------------------------------------------- */

static void
test_reload(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s = t_server(&ids->ec1);
	SSL_CTX *cctx = t_client_ctx(NULL, 0), *before;
	struct tls_identity bad = { .cert = ids->ec1.cert, .key = ids->ec2.key };
	struct t_conn old12, old13, fresh, after_fail;
	char err[T_ERR_MAX] = "";
	SSL *c;

	/* Sessions made before the reload, TLS 1.3 and 1.2. */
	assert_int_equal(t_handshake(&old13, cctx, tls_server_ctx(s)), 0);
	t_peer_is(&old13, &ids->ec1);
	c = SSL_new(cctx);
	assert_non_null(c);
	assert_int_equal(SSL_set_max_proto_version(c, TLS1_2_VERSION), 1);
	assert_int_equal(t_handshake_ssl(&old12, c, SSL_new(tls_server_ctx(s))), 0);

	assert_int_equal(tls_server_set_identity(s, &ids->ec2, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	/* A new handshake gets the new certificate. */
	assert_int_equal(t_handshake(&fresh, cctx, tls_server_ctx(s)), 0);
	t_peer_is(&fresh, &ids->ec2);

	/* The old sessions go on, both ways (their context outlived the reload). */
	for (int i = 0; i < 3; i++) {
		t_send(old13.c, old13.s, "client after reload");
		t_send(old13.s, old13.c, "server after reload");
		t_send(old12.c, old12.s, "client after reload");
		t_send(old12.s, old12.c, "server after reload");
	}
	assert_int_equal(X509_cmp(SSL_get_certificate(old13.s), ids->ec1.cert), 0);

	/* A failing reload: -1, a message, and the second identity still serves. */
	before = tls_server_ctx(s);
	assert_int_equal(tls_server_set_identity(s, &bad, err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
	assert_ptr_equal(tls_server_ctx(s), before);
	assert_int_equal(t_handshake(&after_fail, cctx, tls_server_ctx(s)), 0);
	t_peer_is(&after_fail, &ids->ec2);
	t_send(after_fail.c, after_fail.s, "still here");

	/* Sessions outlive the server itself. */
	tls_server_free(&s);
	t_send(fresh.c, fresh.s, "after free");
	t_send(old12.s, old12.c, "after free");

	t_conn_free(&after_fail);
	t_conn_free(&fresh);
	t_conn_free(&old12);
	t_conn_free(&old13);
	SSL_CTX_free(cctx);
}

/* ---- client verification ---------------------------------------------- */

static void
test_client_verify(void **state)
{
	struct t_ids *ids = *state;
	struct tls_server *s1 = t_server(&ids->ec1), *s2 = t_server(&ids->ec2);
	SSL_CTX *verifying, *system, *opportunistic;
	char ca[64], err[T_ERR_MAX];
	struct t_conn t;

	t_pem_file(ids->ec1.cert, ca, sizeof(ca));
	verifying = t_client_ctx(ca, 1);
	opportunistic = t_client_ctx(ca, 0);
	unlink(ca);	/* read when the contexts were made */
	assert_int_equal(SSL_CTX_get_verify_mode(verifying), SSL_VERIFY_PEER);

	/* The certificate in the CA file: accepted. */
	assert_int_equal(t_handshake(&t, verifying, tls_server_ctx(s1)), 0);
	assert_int_equal(SSL_get_verify_result(t.c), X509_V_OK);
	t_send(t.c, t.s, "verified");
	t_conn_free(&t);

	/* Another certificate: the client refuses. */
	assert_int_equal(t_handshake(&t, verifying, tls_server_ctx(s2)), -1);
	assert_int_equal(t.failed, T_SIDE_CLIENT);
	assert_int_equal(t.reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
	assert_int_equal(SSL_get_verify_result(t.c), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	t_conn_free(&t);

	/* The system's store does not know our throwaway certificate. */
	system = t_client_ctx(NULL, 1);
	assert_int_equal(t_handshake(&t, system, tls_server_ctx(s1)), -1);
	assert_int_equal(t.failed, T_SIDE_CLIENT);
	assert_int_equal(t.reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
	t_conn_free(&t);

	/* verify 0 (opportunistic) takes any certificate. */
	assert_int_equal(SSL_CTX_get_verify_mode(opportunistic), SSL_VERIFY_NONE);
	assert_int_equal(t_handshake(&t, opportunistic, tls_server_ctx(s2)), 0);
	t_peer_is(&t, &ids->ec2);
	t_conn_free(&t);

	/* A CA file that is not there. */
	err[0] = '\0';
	assert_null(tls_client_ctx_new("/nonexistent/test_tls_ca.pem", 1, err, sizeof(err)));
	if (strncmp(err, "cannot load trusted certificates", 32) != 0)
		fail_msg("err: %s", err);
	assert_int_equal(ERR_peek_error(), 0);

	SSL_CTX_free(opportunistic);
	SSL_CTX_free(system);
	SSL_CTX_free(verifying);
	tls_server_free(&s2);
	tls_server_free(&s1);
}

/* ---- tls_error -------------------------------------------------------- */

static void
test_error(void **state)
{
	char err[T_ERR_MAX], small[10];

	(void)state;
	ERR_clear_error();
	assert_string_equal(tls_error(err, sizeof(err), "nothing queued"), "nothing queued");

	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	assert_ptr_equal(tls_error(err, sizeof(err), "handshake"), err);
	assert_string_equal(err, "handshake: error:0A0000C1:SSL routines::no shared cipher"
				 ": error:0A000102:SSL routines::unsupported protocol");
	assert_int_equal(ERR_peek_error(), 0);

	/* Cut to the buffer; the queue is emptied all the same. */
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_RENEGOTIATION);
	assert_string_equal(tls_error(small, sizeof(small), "what"), "what: err");
	assert_int_equal(ERR_peek_error(), 0);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	assert_string_equal(tls_error(small, sizeof(small), "a longer message"), "a longer ");
	assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls13),
		cmocka_unit_test(test_tls13_server_picks_suite),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_tls12_cipher_table),
		cmocka_unit_test(test_tls12_refused_by_name),
		cmocka_unit_test(test_old_versions_refused),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_no_renegotiation),
		cmocka_unit_test(test_server_new_bad_identity),
		cmocka_unit_test(test_server_keeps_own_references),
		cmocka_unit_test(test_server_chain),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_client_verify),
		cmocka_unit_test(test_error),
	};
	return cmocka_run_group_tests_name("tls", tests, t_group_setup, t_group_teardown);
}
