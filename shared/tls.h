/*
 * tls: OpenSSL 3 contexts with Homeport's one TLS profile.
 *
 * Profile (server and client): TLS 1.2 and 1.3 only; TLS 1.2 limited to
 * ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (forward secrecy,
 * AEAD; "ECDHE+AESGCM:ECDHE+CHACHA20"), TLS 1.3 with OpenSSL's default
 * suites; groups X25519, P-256, P-384; no compression; no renegotiation;
 * the server picks the cipher.
 *
 * A server's certificate and key arrive as a struct tls_identity, loaded
 * from files by keys/tlsident (all private-key files are read by keys/).
 * tls_server_set_identity() swaps in a new context without disturbing
 * sessions already running: each SSL keeps a reference to the context it
 * was made from.
 */
#ifndef HOMEPORT_TLS_H
#define HOMEPORT_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_identity {
	X509 *cert;		/* leaf certificate */
	STACK_OF(X509) *chain;	/* intermediates, may be NULL */
	EVP_PKEY *key;		/* private key matching cert */
};

/* Release what an identity holds (each member may be NULL) and zero it. */
void tls_identity_clear(struct tls_identity *id);

struct tls_server;

/*
 * A server with id installed (tls_server_new copies its own references;
 * the caller still owns id). Returns NULL with err set when the key does
 * not match the certificate or OpenSSL fails.
 */
struct tls_server *tls_server_new(const struct tls_identity *id, char *err, size_t errcap);

/*
 * Replace the server's identity (reload). On failure the old one stays and
 * -1 is returned with err set; 0 on success.
 */
int tls_server_set_identity(struct tls_server *s, const struct tls_identity *id, char *err,
			    size_t errcap);

/* The current context, for SSL_new(). Borrowed: valid until the next set or free. */
SSL_CTX *tls_server_ctx(const struct tls_server *s);

/* Free *sp (accepts NULL) and clear it. */
void tls_server_free(struct tls_server **sp);

/*
 * A client context with the profile. ca_file NULL uses the system's trust
 * store. verify 0 turns certificate verification off (opportunistic SMTP).
 * verify 1 checks the chain only: the caller names the expected host per
 * connection (SSL_set1_host) or the check accepts any trusted certificate.
 * Returns the context (free with SSL_CTX_free) or NULL with err set.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_file, int verify, char *err, size_t errcap);

/*
 * Write "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384" for a session
 * that finished its handshake into out[0..cap). Returns out.
 */
char *tls_describe(const SSL *ssl, char *out, size_t cap);

/* Append OpenSSL's error queue (emptying it) to a message. Returns err. */
char *tls_error(char *err, size_t errcap, const char *what);

#endif
