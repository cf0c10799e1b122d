/*
 * smtp_client: one delivery attempt (see smtp_client.h). Blocking code on
 * a worker thread: every wait is a poll() with a deadline, in slices so
 * that a stopping daemon is noticed within SC_SLICE_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "dkim.h"
#include "dns.h"
#include "ev.h"
#include "mtasts.h"
#include "smtp_client.h"
#include "smtp_reply.h"
#include "socks5.h"
#include "tls.h"

#define SC_SLICE_MS 500			/* how often a wait looks at env->stopping */
#define SC_LINE_MAX 1100		/* a command we send: "RCPT TO:<" 320 bytes ">" and parameters */
#define SC_CHUNK STORE_CHUNK_MAX	/* body bytes read from the store at a time */
#define SC_ERR_MAX 512

/* How far a connection got: a failure before the transaction lets the next host try. */
enum sc_outcome {
	SC_DONE,		/* the transaction ran: the recipients have their results */
	SC_NEXT,		/* this host failed before the transaction: try the next one */
	SC_STOP,		/* stop trying hosts: the results are set (a bounce for all, or stopping) */
	SC_PLAIN,		/* opportunistic TLS failed its handshake: this address again, without */
};

/* One connection to one address. */
struct sc_conn {
	struct smtp_client_job *job;
	int fd;
	SSL *ssl;
	const char *host;		/* the MX host name */
	char addr_text[ADDR_TEXT_MAX];
	uint8_t in[SMTP_CLIENT_IN_MAX];
	size_t inlen;
	char err[SC_ERR_MAX];		/* why the connection failed */
	char tls_desc[128];		/* "version=... cipher=..." once TLS is up */
	int dane;			/* TLSA records apply to this host */
	int sts;			/* the domain's MTA-STS policy (enforce) applies to this host */
	int plain;			/* no STARTTLS on this connection (after a failed handshake) */
	int64_t deadline;
};

/* What an attempt knows about the message. */
struct sc_message {
	struct store *st;
	char sigs[SMTP_CLIENT_DKIM_MAX * DKIM_SIGNATURE_MAX];	/* DKIM-Signature fields, CRLF each */
	size_t sigs_len;
	uint64_t size;			/* bytes of the stored body */
	int eightbit;			/* a byte >= 0x80 in it */
	int utf8_envelope;		/* an address that needs SMTPUTF8 */
};

/* ---- results ------------------------------------------------------------ */

static void
sc_set(struct smtp_client_rcpt *r, int result, int remote, const char *status, const char *text)
{
	r->result = result;
	r->remote = remote;
	snprintf(r->status, sizeof(r->status), "%s", status != NULL ? status : "");
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* Every recipient gets the same result. */
static void
sc_set_all(struct smtp_client_job *job, int result, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
sc_set_all(struct smtp_client_job *job, int result, const char *status, const char *fmt, ...)
{
	char text[SMTP_CLIENT_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < job->nrcpts; i++)
		sc_set(&job->rcpts[i], result, 0, status, text);
}

/* A reply's result for a recipient: 2xx (not final), 4xx defer, 5xx bounce. */
static void
sc_set_reply(struct smtp_client_rcpt *r, const struct smtp_reply_parsed *reply)
{
	int result = reply->code >= 500 ? SMTP_CLIENT_BOUNCE
		   : reply->code >= 400 ? SMTP_CLIENT_DEFER : SMTP_CLIENT_SENT;

	sc_set(r, result, 1, reply->status, reply->text);
}

/* ---- waiting ------------------------------------------------------------ */

static int
sc_fail(struct sc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
sc_fail(struct sc_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Wait until fd is ready for events or the deadline. Returns 0, or -1 (c->err set). */
static int
sc_wait(struct sc_conn *c, short events)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = events };
		int64_t left = c->deadline - ev_monotonic_ms();
		int n;

		if (atomic_load(&c->job->env->stopping))
			return sc_fail(c, "homeportd is stopping");
		if (left <= 0)
			return sc_fail(c, "timed out");
		n = poll(&p, 1, (int)(left < SC_SLICE_MS ? left : SC_SLICE_MS));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return sc_fail(c, "poll: %s", strerror(errno));
	}
}

/* Wait as SSL asks after a call that returned rc. Returns 0 to call again, or -1. */
static int
sc_ssl_wait(struct sc_conn *c, int rc, const char *what)
{
	char why[256];

	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return sc_wait(c, POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return sc_wait(c, POLLOUT);
	case SSL_ERROR_ZERO_RETURN:
		return sc_fail(c, "connection closed during %s", what);
	case SSL_ERROR_SYSCALL:
		return sc_fail(c, "connection lost during %s", what);
	default:
		tls_error(why, sizeof(why), what);
		return sc_fail(c, "%s", why);
	}
}

/* Write p[0..n) within timeout_ms. Returns 0, or -1. */
static int
sc_write(struct sc_conn *c, const void *p, size_t n, int64_t timeout_ms)
{
	const uint8_t *b = p;

	c->deadline = ev_monotonic_ms() + timeout_ms;
	while (n > 0) {
		ssize_t w;
		if (c->ssl != NULL) {
			size_t done = 0;
			int rc = SSL_write_ex(c->ssl, b, n, &done);
			if (rc <= 0) {
				if (sc_ssl_wait(c, rc, "TLS write") != 0)
					return -1;
				continue;
			}
			w = (ssize_t)done;
		} else {
			w = send(c->fd, b, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					if (sc_wait(c, POLLOUT) != 0)
						return -1;
					continue;
				}
				return sc_fail(c, "write: %s", strerror(errno));
			}
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read what is there (at least one byte) into c->in. Returns 0, or -1. */
static int
sc_read_some(struct sc_conn *c)
{
	size_t room = sizeof(c->in) - c->inlen;

	if (room == 0)
		return sc_fail(c, "reply longer than %d bytes", SMTP_CLIENT_IN_MAX);
	for (;;) {
		ssize_t r;
		if (c->ssl != NULL) {
			size_t done = 0;
			int rc = SSL_read_ex(c->ssl, c->in + c->inlen, room, &done);
			if (rc <= 0) {
				if (sc_ssl_wait(c, rc, "TLS read") != 0)
					return -1;
				continue;
			}
			r = (ssize_t)done;
		} else {
			r = recv(c->fd, c->in + c->inlen, room, 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					if (sc_wait(c, POLLIN) != 0)
						return -1;
					continue;
				}
				return sc_fail(c, "read: %s", strerror(errno));
			}
			if (r == 0)
				return sc_fail(c, "connection closed by the server");
		}
		c->inlen += (size_t)r;
		return 0;
	}
}

/* Consume n bytes of c->in. */
static void
sc_consume(struct sc_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

/* Read one reply within timeout_ms. Returns 0, or -1. */
static int
sc_reply(struct sc_conn *c, struct smtp_reply_parsed *r, int64_t timeout_ms)
{
	const char *why = NULL;
	int n;

	c->deadline = ev_monotonic_ms() + timeout_ms;
	for (;;) {
		n = smtp_reply_parse(c->in, c->inlen, r, &why);
		if (n > 0) {
			sc_consume(c, (size_t)n);
			return 0;
		}
		if (n < 0)
			return sc_fail(c, "bad reply: %s", why);
		if (sc_read_some(c) != 0)
			return -1;
	}
}

/* Send one command line (fmt without CRLF). Returns 0, or -1. */
static int
sc_command(struct sc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
sc_command(struct sc_conn *c, const char *fmt, ...)
{
	char line[SC_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return sc_fail(c, "command too long");
	memcpy(line + n, "\r\n", 2);
	return sc_write(c, line, (size_t)n + 2, SMTP_CLIENT_COMMAND_TIMEOUT);
}

/* ---- connecting ----------------------------------------------------------- */

/* A non-blocking TCP connection to a within env->connect_timeout. Returns 0, or -1. */
static int
sc_tcp(struct sc_conn *c, const struct addr *a)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	c->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return sc_fail(c, "socket: %s", strerror(errno));
	c->deadline = ev_monotonic_ms() + c->job->env->connect_timeout;
	if (connect(c->fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		if (errno != EINPROGRESS)
			return sc_fail(c, "connect: %s", strerror(errno));
		if (sc_wait(c, POLLOUT) != 0)
			return sc_fail(c, "connect: timed out");
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			soerr = errno;
		if (soerr != 0)
			return sc_fail(c, "connect: %s", strerror(soerr));
	}
	return 0;
}

/* Read until parse(in) decides. Returns its length (>0), or -1. */
static int
sc_socks_read(struct sc_conn *c, int (*parse)(struct sc_conn *c, const char **why), const char *what)
{
	const char *why = NULL;
	int n;

	for (;;) {
		if ((n = parse(c, &why)) > 0)
			return n;
		if (n < 0)
			return sc_fail(c, "edge egress: %s: %s", what, why);
		if (sc_read_some(c) != 0)
			return -1;
	}
}

static int
sc_socks_method(struct sc_conn *c, const char **why)
{
	return socks5_parse_method_reply(c->in, c->inlen, why);
}

static int
sc_socks_reply(struct sc_conn *c, const char **why)
{
	struct addr bound;
	uint8_t code = 0;
	int n = socks5_parse_reply(c->in, c->inlen, &code, &bound, why);

	if (n > 0 && code != SOCKS5_OK) {
		*why = socks5_reply_text(code);
		return -1;
	}
	return n;
}

/* Connect to dst, directly or through the edge's egress. Returns 0, or -1. */
static int
sc_connect(struct sc_conn *c, const struct addr *dst)
{
	const struct smtp_client_env *env = c->job->env;
	const struct smtp_client_job *job = c->job;
	uint8_t req[SOCKS5_REQUEST_MAX];
	size_t len;
	int n;

	if (job->transport != HOME_TRANSPORT_EDGE)
		return sc_tcp(c, dst);
	/* The first edge that answers (relay mode with several edges: MX 10 first). */
	for (size_t i = 0;; i++) {
		char e[ADDR_TEXT_MAX];
		char why[SC_ERR_MAX];
		if (sc_tcp(c, &job->egress[i]) == 0)
			break;
		snprintf(why, sizeof(why), "%s", c->err);
		sc_fail(c, "edge egress %s: %s", addr_format(&job->egress[i], e, sizeof(e)), why);
		if (i + 1 == job->negress)
			return -1;
	}
	socks5_client_greeting(req);
	c->deadline = ev_monotonic_ms() + env->connect_timeout;
	if (sc_write(c, req, SOCKS5_CLIENT_GREETING_LEN, env->connect_timeout) != 0)
		return -1;
	if ((n = sc_socks_read(c, sc_socks_method, "method")) < 0)
		return -1;
	sc_consume(c, (size_t)n);
	if ((len = socks5_encode_connect(dst, req)) == 0)
		return sc_fail(c, "edge egress: address family not supported");
	if (sc_write(c, req, len, env->connect_timeout) != 0)
		return -1;
	/* The connection to the MX is made by the edge: it answers within its own connect timeout. */
	c->deadline = ev_monotonic_ms() + env->connect_timeout;
	if ((n = sc_socks_read(c, sc_socks_reply, "connect")) < 0)
		return -1;
	sc_consume(c, (size_t)n);	/* the SMTP greeting may follow in the same read */
	return 0;
}

/* ---- TLS -------------------------------------------------------------- */

/*
 * DANE (RFC 7672): the TLSA records of a host whose MX and address answers
 * were DNSSEC-secure. Returns 1 when secure records apply (TLS becomes
 * mandatory and the certificate must match), 0 when there are none
 * (opportunistic TLS), -1 when the lookup failed (this host is not used).
 */
static int
sc_tlsa(struct sc_conn *c, int mx_secure, const struct dns_host *h, struct dns_tlsa *t)
{
	if (!mx_secure || !h->secure)
		return 0;
	dns_tlsa(c->job->env->dns, h->name, SMTP_CLIENT_PORT, t);
	switch (t->status) {
	case DNS_OK:
		return t->secure && t->n > 0 ? 1 : 0;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return 0;
	default:
		sc_fail(c, "DANE: TLSA lookup for %s failed: %s", h->name, t->err);
		return -1;
	}
}

/* STARTTLS's handshake, with the TLSA records when t != NULL. Returns 0, or -1. */
static int
sc_tls(struct sc_conn *c, const struct dns_tlsa *t)
{
	size_t usable = 0;
	long verify;
	int rc;

	if (c->inlen != 0)
		return sc_fail(c, "bytes after the answer to STARTTLS (a man in the middle?)");
	if ((c->ssl = SSL_new(c->sts ? c->job->env->tls_verify : c->job->env->tls)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set_tlsext_host_name(c->ssl, c->host) != 1)
		return sc_fail(c, "%s", tls_error(c->err, sizeof(c->err), "TLS setup"));
	if (c->sts) {
		/* MTA-STS (RFC 8461 4.2): a chain to a trusted CA, valid for the MX host's name. */
		if (SSL_set1_host(c->ssl, c->host) != 1)
			return sc_fail(c, "%s", tls_error(c->err, sizeof(c->err), "TLS setup"));
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	} else if (t != NULL) {
		if (SSL_dane_enable(c->ssl, c->host) <= 0)
			return sc_fail(c, "%s", tls_error(c->err, sizeof(c->err), "DANE setup"));
		for (size_t i = 0; i < t->n; i++) {
			const struct dns_tlsa_rr *r = &t->rr[i];
			/* RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP. */
			if (r->usage < 2)
				continue;
			if (SSL_dane_tlsa_add(c->ssl, r->usage, r->selector, r->mtype, r->data, r->len) > 0)
				usable++;
		}
		ERR_clear_error();
		/* No usable record: TLS is still mandatory, without authentication (RFC 7672 2.2). */
		SSL_set_verify(c->ssl, usable > 0 ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
		c->dane = usable > 0;
	} else {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	c->deadline = ev_monotonic_ms() + SMTP_CLIENT_TLS_TIMEOUT;
	while ((rc = SSL_connect(c->ssl)) != 1) {
		if (sc_ssl_wait(c, rc, "TLS handshake") != 0) {
			verify = SSL_get_verify_result(c->ssl);
			if (c->sts && verify != X509_V_OK) {
				char why[SC_ERR_MAX];
				snprintf(why, sizeof(why), "%s", X509_verify_cert_error_string(verify));
				return sc_fail(c, "MTA-STS: %s's certificate is not valid for it (%s)",
					       c->host, why);
			}
			if (c->dane && verify != X509_V_OK) {
				char why[SC_ERR_MAX];
				snprintf(why, sizeof(why), "%s", X509_verify_cert_error_string(verify));
				return sc_fail(c, "DANE: %s's certificate matches no TLSA record (%s)",
					       c->host, why);
			}
			return -1;
		}
	}
	tls_describe(c->ssl, c->tls_desc, sizeof(c->tls_desc));
	return 0;
}

/* ---- the message ---------------------------------------------------------- */

static int
sc_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * Read the body once: its size, whether it has 8-bit bytes, and its DKIM
 * signatures (when the author's domain has keys). Returns 0, or -1 when
 * the body cannot be read (err set): the attempt is deferred.
 */
static int
sc_prepare(struct smtp_client_job *job, struct sc_message *m, char *err, size_t errcap)
{
	struct dkim_key keys[SMTP_CLIENT_DKIM_MAX];
	char domain[DNSNAME_MAX + 1], why[256];
	uint8_t *chunk = malloc(SC_CHUNK);
	struct dkim *d = dkim_new();
	enum dkim_err code;
	struct store_err serr;
	size_t n, nkeys;
	int rc = -1;

	if (chunk == NULL || d == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	for (;;) {
		if (store_body_read(m->st, job->body_id, (int64_t)m->size, chunk, SC_CHUNK, &n, &serr) != 0) {
			snprintf(err, errcap, "cannot read the message: %s", serr.msg);
			goto out;
		}
		if (n == 0)
			break;
		for (size_t i = 0; i < n && !m->eightbit; i++)
			m->eightbit = chunk[i] >= 0x80;
		dkim_feed(d, chunk, n);
		m->size += n;
	}
	rc = 0;
	if (dkim_author_domain(d, domain, sizeof(domain), &code, why, sizeof(why)) != 0) {
		log_warn(job->sid, "dkim", "result=unsigned error=\"%s\"", why);
		goto out;
	}
	if ((nkeys = dkim_keys_find(job->env->keys, domain, keys, SMTP_CLIENT_DKIM_MAX)) == 0) {
		log_warn(job->sid, "dkim", "result=unsigned domain=%s error=\"no key for the domain\"",
			 domain);
		goto out;
	}
	if (dkim_sign(d, keys, nkeys, (uint64_t)time(NULL), m->sigs, sizeof(m->sigs), &m->sigs_len,
		      &code, why, sizeof(why)) != 0) {
		m->sigs_len = 0;
		log_warn(job->sid, "dkim", "result=unsigned domain=%s error=\"%s\"", domain, why);
		goto out;
	}
	log_debug(job->sid, "dkim", "result=signed domain=%s keys=%zu", domain, nkeys);
out:
	dkim_free(&d);
	free(chunk);
	return rc;
}

/* Send the signatures and the body, dot-stuffed, and the final dot. Returns 0, or -1. */
static int
sc_send_body(struct sc_conn *c, struct sc_message *m)
{
	struct smtp_data_stuff stuff;
	uint8_t *chunk = malloc(SC_CHUNK), *out = malloc(2 * SC_CHUNK);
	uint8_t end[SMTP_DATA_STUFF_END_MAX];
	struct store_err serr;
	int64_t off = 0;
	size_t n;
	int rc = -1;

	if (chunk == NULL || out == NULL) {
		sc_fail(c, "out of memory");
		goto out;
	}
	smtp_data_stuff_init(&stuff);
	if (m->sigs_len > 0 &&
	    sc_write(c, out, smtp_data_stuff_feed(&stuff, (const uint8_t *)m->sigs, m->sigs_len, out),
		     SMTP_CLIENT_BLOCK_TIMEOUT) != 0)
		goto out;
	for (;;) {
		if (store_body_read(m->st, c->job->body_id, off, chunk, SC_CHUNK, &n, &serr) != 0) {
			sc_fail(c, "cannot read the message: %s", serr.msg);
			goto out;
		}
		if (n == 0)
			break;
		off += (int64_t)n;
		if (sc_write(c, out, smtp_data_stuff_feed(&stuff, chunk, n, out),
			     SMTP_CLIENT_BLOCK_TIMEOUT) != 0)
			goto out;
	}
	rc = sc_write(c, end, smtp_data_stuff_end(&stuff, end), SMTP_CLIENT_BLOCK_TIMEOUT);
out:
	free(chunk);
	free(out);
	return rc;
}

/* ---- the session ---------------------------------------------------------- */

/* A reply before the transaction that is not the one wanted: the host fails. */
static enum sc_outcome
sc_refused(struct sc_conn *c, const char *what, const struct smtp_reply_parsed *r)
{
	sc_fail(c, "%s: %s", what, r->text);
	return SC_NEXT;
}

/* The end of a session: QUIT, its answer briefly awaited. */
static void
sc_quit(struct sc_conn *c)
{
	struct smtp_reply_parsed r;

	if (sc_command(c, "QUIT") == 0)
		(void)sc_reply(c, &r, SMTP_CLIENT_QUIT_TIMEOUT);
}

/*
 * MAIL, the RCPTs, DATA, the message, per RFC 2920 when pipelining: all
 * commands up to DATA at once, then their answers in order.
 */
static enum sc_outcome
sc_transaction(struct sc_conn *c, struct sc_message *m, const struct smtp_reply_parsed *ehlo)
{
	struct smtp_client_job *job = c->job;
	int pipelining = (ehlo->ext & SMTP_EXT_PIPELINING) != 0;
	char params[128] = "";
	struct smtp_reply_parsed r, mail;
	size_t accepted = 0;
	int n;

	/* Each part is short: params always has room. */
	n = (ehlo->ext & SMTP_EXT_SIZE)
		    ? snprintf(params, sizeof(params), " SIZE=%llu",
			       (unsigned long long)(m->size + m->sigs_len))
		    : 0;
	if (m->eightbit && (ehlo->ext & SMTP_EXT_8BITMIME))
		n += snprintf(params + n, sizeof(params) - (size_t)n, " BODY=8BITMIME");
	if (m->utf8_envelope)
		snprintf(params + n, sizeof(params) - (size_t)n, " SMTPUTF8");

	if (sc_command(c, "MAIL FROM:<%s>%s", job->mail_from, params) != 0)
		return SC_NEXT;
	if (!pipelining && sc_reply(c, &mail, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
		return SC_NEXT;
	if (!pipelining && mail.code / 100 != 2)
		goto mail_refused;
	for (size_t i = 0; i < job->nrcpts; i++) {
		struct smtp_client_rcpt *rc = &job->rcpts[i];
		if (sc_command(c, "RCPT TO:<%s>", rc->address) != 0)
			return SC_NEXT;
		if (pipelining)
			continue;
		if (sc_reply(c, &r, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
			return SC_NEXT;
		sc_set_reply(rc, &r);
		accepted += r.code / 100 == 2;
	}
	if (pipelining) {
		if (sc_command(c, "DATA") != 0 || sc_reply(c, &mail, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
			return SC_NEXT;
		for (size_t i = 0; i < job->nrcpts; i++) {
			if (sc_reply(c, &r, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
				return SC_NEXT;
			sc_set_reply(&job->rcpts[i], &r);
			accepted += r.code / 100 == 2;
		}
		if (sc_reply(c, &r, SMTP_CLIENT_DATA_TIMEOUT) != 0)
			return SC_NEXT;
		if (mail.code / 100 != 2)
			goto mail_refused;
	} else if (accepted > 0) {
		if (sc_command(c, "DATA") != 0 || sc_reply(c, &r, SMTP_CLIENT_DATA_TIMEOUT) != 0)
			return SC_NEXT;
	}
	snprintf(job->mx, sizeof(job->mx), "%s", c->host);
	if (accepted == 0) {
		sc_quit(c);
		return SC_DONE;
	}
	if (r.code != 354) {
		for (size_t i = 0; i < job->nrcpts; i++)
			if (job->rcpts[i].result == SMTP_CLIENT_SENT)
				sc_set_reply(&job->rcpts[i], &r);
		sc_quit(c);
		return SC_DONE;
	}
	if (sc_send_body(c, m) != 0 || sc_reply(c, &r, SMTP_CLIENT_FINAL_TIMEOUT) != 0) {
		/* Lost after DATA: nothing is known; try again later (RFC 5321 6.1 allows a duplicate). */
		for (size_t i = 0; i < job->nrcpts; i++)
			if (job->rcpts[i].result == SMTP_CLIENT_SENT)
				sc_set(&job->rcpts[i], SMTP_CLIENT_DEFER, 0, "4.4.2", c->err);
		return SC_DONE;
	}
	for (size_t i = 0; i < job->nrcpts; i++)
		if (job->rcpts[i].result == SMTP_CLIENT_SENT)
			sc_set_reply(&job->rcpts[i], &r);
	sc_quit(c);
	return SC_DONE;
mail_refused:
	snprintf(job->mx, sizeof(job->mx), "%s", c->host);
	for (size_t i = 0; i < job->nrcpts; i++)
		sc_set_reply(&job->rcpts[i], &mail);
	sc_quit(c);
	return SC_DONE;
}

/* One session with one address of host h. */
static enum sc_outcome
sc_session(struct sc_conn *c, struct sc_message *m, int mx_secure, int sts, const struct dns_host *h,
	   const struct addr *dst)
{
	struct smtp_client_job *job = c->job;
	struct dns_tlsa *tlsa = NULL;
	struct smtp_reply_parsed r;
	enum sc_outcome out = SC_NEXT;
	int dane;

	if ((tlsa = calloc(1, sizeof(*tlsa))) == NULL) {
		sc_fail(c, "out of memory");
		return SC_NEXT;
	}
	if ((dane = sc_tlsa(c, mx_secure, h, tlsa)) < 0)
		goto done;
	c->sts = sts && !dane;		/* DANE, where it applies, wins (RFC 8461 2) */
	if (sc_connect(c, dst) != 0)
		goto done;
	if (sc_reply(c, &r, SMTP_CLIENT_GREETING_TIMEOUT) != 0)
		goto done;
	if (r.code != 220) {
		out = sc_refused(c, "greeting", &r);
		goto done;
	}
	if (sc_command(c, "EHLO %s", job->env->hostname) != 0 ||
	    sc_reply(c, &r, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
		goto done;
	if (r.code != 250) {
		out = sc_refused(c, "EHLO", &r);
		goto done;
	}
	if ((r.ext & SMTP_EXT_STARTTLS) && !c->plain) {
		if (sc_command(c, "STARTTLS") != 0 || sc_reply(c, &r, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
			goto done;
		if (r.code != 220) {
			if (dane || c->sts) {
				out = sc_refused(c, dane ? "DANE: STARTTLS refused" : "MTA-STS: STARTTLS refused",
						 &r);
				goto done;
			}
			/* Opportunistic: the session goes on without TLS. */
			log_info(job->sid, "deliver", "mx=%s tls=refused reply=\"%s\"", c->host, r.text);
		} else {
			if (sc_tls(c, dane ? tlsa : NULL) != 0) {
				/*
				 * Opportunistic TLS whose handshake failed (an old or broken
				 * server): RFC 7435 lets the message go in the clear, on a
				 * new connection; DANE and MTA-STS never do.
				 */
				if (!dane && !c->sts && c->ssl != NULL && c->inlen == 0)
					out = SC_PLAIN;
				goto done;
			}
			if (sc_command(c, "EHLO %s", job->env->hostname) != 0 ||
			    sc_reply(c, &r, SMTP_CLIENT_COMMAND_TIMEOUT) != 0)
				goto done;
			if (r.code != 250) {
				out = sc_refused(c, "EHLO after STARTTLS", &r);
				goto done;
			}
		}
	} else if (dane) {
		sc_fail(c, "DANE: %s publishes TLSA records but does not offer STARTTLS", c->host);
		goto done;
	} else if (c->sts) {
		sc_fail(c, "MTA-STS: %s does not offer STARTTLS, which %s's policy requires", c->host,
			job->domain);
		goto done;
	}
	if (m->utf8_envelope && !(r.ext & SMTP_EXT_SMTPUTF8)) {
		sc_set_all(job, SMTP_CLIENT_BOUNCE, "5.6.7",
			   "%s does not support SMTPUTF8, which this message's addresses need", c->host);
		snprintf(job->mx, sizeof(job->mx), "%s", c->host);
		sc_quit(c);
		out = SC_STOP;
		goto done;
	}
	if (r.size_max > 0 && m->size + m->sigs_len > r.size_max) {
		sc_set_all(job, SMTP_CLIENT_BOUNCE, "5.3.4",
			   "the message (%llu bytes) is larger than %s accepts (%llu bytes)",
			   (unsigned long long)(m->size + m->sigs_len), c->host,
			   (unsigned long long)r.size_max);
		snprintf(job->mx, sizeof(job->mx), "%s", c->host);
		sc_quit(c);
		out = SC_STOP;
		goto done;
	}
	out = sc_transaction(c, m, &r);
done:
	free(tlsa);
	return out;
}

static void
sc_close(struct sc_conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->inlen = 0;
	c->dane = 0;
	c->sts = 0;
	c->tls_desc[0] = '\0';
	c->err[0] = '\0';
}

/* The log line of one recipient's result. */
static void
sc_log_results(struct smtp_client_job *job, const struct sc_conn *c)
{
	static const char *const words[] = { "sent", "deferred", "bounced" };
	char esc[2 * SMTP_CLIENT_TEXT_MAX], to[2 * STORE_ADDRESS_MAX];

	for (size_t i = 0; i < job->nrcpts; i++) {
		const struct smtp_client_rcpt *r = &job->rcpts[i];
		log_info(job->sid, "deliver", "queue_id=%lld to=\"%s\" result=%s mx=%s tls=\"%s\" "
			 "dane=%s mta_sts=%s reply=\"%s\"", (long long)r->queue_id,
			 log_escape(r->address, strlen(r->address), to, sizeof(to)), words[r->result],
			 job->mx[0] != '\0' ? job->mx : "none",
			 c != NULL && c->tls_desc[0] != '\0' ? c->tls_desc : "none",
			 c != NULL && c->dane ? "verified" : "no",
			 c != NULL && c->sts ? "verified" : "no",
			 log_escape(r->text, strlen(r->text), esc, sizeof(esc)));
	}
}

/*
 * The policy mail.db keeps for job's domain (under id, or any id when id
 * is NULL), unexpired: 1 with *p (and back in the memory cache), else 0.
 */
static int
sc_sts_kept(struct smtp_client_job *job, struct store *st, const char *id, int64_t now,
	    struct mtasts_policy *p)
{
	struct store_sts *k = malloc(sizeof(*k));
	struct store_err serr;
	const char *why = NULL;
	int have = 0;

	if (k == NULL || store_sts_get(st, job->domain, now, k, &serr) != 0 ||
	    (id != NULL && strcmp(k->id, id) != 0))
		goto out;
	if (mtasts_parse_policy((const uint8_t *)k->policy, strlen(k->policy), p, &why) != 0) {
		log_warn(job->sid, "mta_sts", "domain=%s result=kept_unreadable error=\"%s\"", job->domain,
			 why);
		goto out;
	}
	(void)mtasts_cache_put(job->env->sts_cache, job->domain, k->id, k->fetched, p);
	have = 1;
out:
	free(k);
	return have;
}

/* A fetched policy into mail.db, for the next start. */
static void
sc_sts_keep(struct smtp_client_job *job, struct store *st, const char *id, int64_t now,
	    const struct mtasts_policy *p)
{
	struct store_sts *k = calloc(1, sizeof(*k));
	struct store_err serr;

	if (k == NULL)
		return;
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->fetched = now;
	k->expires = now + p->max_age;
	if (mtasts_format_policy(p, k->policy, sizeof(k->policy)) < 0 ||
	    store_sts_put(st, job->domain, k, &serr) != 0)
		log_warn(job->sid, "mta_sts", "domain=%s result=not_kept", job->domain);
	free(k);
}

/*
 * The destination's MTA-STS policy (RFC 8461 5.1): the TXT record's id,
 * the policy of that id known already (in memory, else in mail.db) or a
 * fresh fetch (pinned to the address our validating resolver gave for
 * mta-sts.DOMAIN), else a known policy that has not expired. Returns 1
 * with *p when it is in enforce mode, else 0 (no policy, testing or none:
 * delivered as without one, and logged).
 */
static int
sc_sts_policy(struct smtp_client_job *job, struct store *st, struct mtasts_policy *p)
{
	static const char *const modes[] = { "none", "testing", "enforce" };
	const struct smtp_client_env *env = job->env;
	struct dns_txt *txt = malloc(sizeof(*txt));
	struct dns_host *h = malloc(sizeof(*h));
	char id[MTASTS_ID_MAX + 1], err[MTASTS_ERR_MAX], esc[2 * MTASTS_ERR_MAX];
	char host[DNSNAME_MAX + 16], pin[DNSNAME_MAX + ADDR_TEXT_MAX + 32], ip[ADDR_TEXT_MAX];
	const struct dns_txt_rr *rr = NULL;
	int64_t now = (int64_t)time(NULL);
	const char *why = NULL;
	size_t nsts = 0;
	int have = 0;

	if (txt == NULL || h == NULL || env->sts_cache == NULL)
		goto out;
	dns_txt(env->dns, "_mta-sts", job->domain, txt);
	for (size_t i = 0; txt->status == DNS_OK && i < txt->n; i++) {
		if (mtasts_txt_is_sts(txt->rr[i].data, txt->rr[i].len)) {
			rr = &txt->rr[i];
			nsts++;
		}
	}
	if (nsts != 1 || mtasts_parse_txt(rr->data, rr->len, id, &why) != 0) {
		/* No (valid) record: a policy seen before still holds until it expires. */
		have = mtasts_cache_get_any(env->sts_cache, job->domain, now, p) ||
		       sc_sts_kept(job, st, NULL, now, p);
		goto out;
	}
	if ((have = mtasts_cache_get(env->sts_cache, job->domain, id, now, p) ||
		    sc_sts_kept(job, st, id, now, p)) != 0)
		goto out;
	pin[0] = '\0';
	snprintf(err, sizeof(err), "mta-sts.%s is not a host name", job->domain);
	if (mtasts_policy_host(job->domain, host, sizeof(host)) == 0 &&
	    dns_addrs(env->dns, host, h, err, sizeof(err)) == 0 && h->naddrs > 0) {
		addr_format(&h->addrs[0], ip, sizeof(ip));
		snprintf(pin, sizeof(pin), addr_family(&h->addrs[0]) == AF_INET6 ? "%s:443:[%s]" : "%s:443:%s",
			 host, ip);
	}
	if (pin[0] == '\0') {
		log_warn(job->sid, "mta_sts", "domain=%s result=unreachable error=\"%s\"", job->domain,
			 log_escape(err, strlen(err), esc, sizeof(esc)));
	} else if (mtasts_fetch(job->domain, env->ca_file, pin, 0, p, err, sizeof(err)) == 0) {
		have = 1;
		if (mtasts_cache_put(env->sts_cache, job->domain, id, now, p) != 0)
			log_warn(job->sid, "mta_sts", "domain=%s result=not_cached", job->domain);
		sc_sts_keep(job, st, id, now, p);
		log_info(job->sid, "mta_sts", "domain=%s result=fetched id=%s mode=%s max_age=%u mx=%zu",
			 job->domain, id, modes[p->mode], p->max_age, p->nmx);
		goto out;
	} else {
		log_warn(job->sid, "mta_sts", "domain=%s result=fetch_failed error=\"%s\"", job->domain,
			 log_escape(err, strlen(err), esc, sizeof(esc)));
	}
	have = mtasts_cache_get_any(env->sts_cache, job->domain, now, p) ||
	       sc_sts_kept(job, st, NULL, now, p);
out:
	free(txt);
	free(h);
	if (!have)
		return 0;
	if (p->mode == MTASTS_MODE_TESTING)
		log_info(job->sid, "mta_sts", "domain=%s mode=testing result=not_enforced", job->domain);
	return p->mode == MTASTS_MODE_ENFORCE;
}

void
smtp_client_deliver(struct smtp_client_job *job)
{
	struct sc_message m = { 0 };
	struct sc_conn *c = calloc(1, sizeof(*c));
	struct dns_mx *mx = calloc(1, sizeof(*mx));
	struct store_err serr;
	char err[SC_ERR_MAX + DNSNAME_MAX + ADDR_TEXT_MAX + 8], esc[2 * SC_ERR_MAX];
	enum sc_outcome out = SC_NEXT;
	struct mtasts_policy policy;
	int sts;

	job->mx[0] = '\0';
	if (c == NULL || mx == NULL) {
		sc_set_all(job, SMTP_CLIENT_DEFER, "4.3.0", "out of memory");
		goto out;
	}
	c->job = job;
	c->fd = -1;
	m.utf8_envelope = sc_has_8bit(job->mail_from);
	for (size_t i = 0; i < job->nrcpts; i++)
		m.utf8_envelope |= sc_has_8bit(job->rcpts[i].address);
	if ((m.st = store_open(job->env->store_path, 0, &serr)) == NULL) {
		sc_set_all(job, SMTP_CLIENT_DEFER, "4.3.0", "cannot open the store: %s", serr.msg);
		goto out;
	}
	if (sc_prepare(job, &m, err, sizeof(err)) != 0) {
		sc_set_all(job, SMTP_CLIENT_DEFER, "4.3.0", "%s", err);
		goto out;
	}
	dns_mx(job->env->dns, job->domain, mx);
	if (mx->status == DNS_NXDOMAIN) {
		sc_set_all(job, SMTP_CLIENT_BOUNCE, "5.1.2", "the domain %s does not exist (DNS: %s)",
			   job->domain, mx->err);
		goto out;
	}
	if (mx->null_mx) {
		sc_set_all(job, SMTP_CLIENT_BOUNCE, "5.1.10",
			   "the domain %s accepts no mail (null MX, RFC 7505)", job->domain);
		goto out;
	}
	if (mx->status != DNS_OK) {
		sc_set_all(job, SMTP_CLIENT_DEFER, "4.4.3", "DNS lookup of %s failed: %s", job->domain,
			   mx->err);
		goto out;
	}
	if ((sts = sc_sts_policy(job, m.st, &policy)) != 0)
		snprintf(err, sizeof(err), "MTA-STS: no MX host of %s matches its policy", job->domain);
	else
		snprintf(err, sizeof(err), "no address for any MX host of %s", job->domain);
	for (size_t h = 0; h < mx->nhosts && out == SC_NEXT; h++) {
		const struct dns_host *host = &mx->hosts[h];
		if (sts && !mtasts_mx_match(&policy, host->name)) {
			log_info(job->sid, "deliver", "result=next_host mx=%s error=\"MTA-STS: not in %s's "
				 "policy\"", host->name, job->domain);
			continue;
		}
		if (host->naddrs == 0)
			continue;
		for (size_t a = 0; a < host->naddrs && out == SC_NEXT; a++) {
			struct addr dst = host->addrs[a];
			addr_set_port(&dst, job->env->port);
			c->host = host->name;
			addr_format(&dst, c->addr_text, sizeof(c->addr_text));
			out = sc_session(c, &m, mx->secure, sts, host, &dst);
			if (out == SC_PLAIN) {
				log_info(job->sid, "deliver", "result=retry_without_tls mx=%s error=\"%s\"",
					 host->name, log_escape(c->err, strlen(c->err), esc, sizeof(esc)));
				sc_close(c);
				c->plain = 1;
				out = sc_session(c, &m, mx->secure, sts, host, &dst);
				c->plain = 0;
			}
			if (out == SC_NEXT) {
				snprintf(err, sizeof(err), "%s[%s]: %s", host->name, c->addr_text, c->err);
				log_info(job->sid, "deliver", "result=next_host mx=%s error=\"%s\"",
					 host->name, log_escape(c->err, strlen(c->err), esc, sizeof(esc)));
			}
			if (out != SC_DONE && out != SC_STOP)
				sc_close(c);
			if (atomic_load(&job->env->stopping))
				break;
		}
	}
	if (out == SC_NEXT)
		sc_set_all(job, SMTP_CLIENT_DEFER, "4.4.1", "%s", err);
out:
	sc_log_results(job, c);
	if (c != NULL)
		sc_close(c);
	store_close(&m.st);
	free(mx);
	free(c);
}
