/*
 * smtp_client: one delivery attempt of one message to the recipients it
 * has at one domain (RFC 5321), as a delivery agent in the manner of
 * Postfix's smtp(8): sequential, blocking code with a deadline on every
 * read and write, run on a thread of its own (queue.c's pool), so that
 * the event loop never waits for a remote server.
 *
 * The attempt: MX lookup (dns.c, validating), DKIM signatures over the
 * stored body (dkim.c, dkim_keys.c), then for each MX host by preference
 * and each of its addresses: a TCP connection, directly or through the
 * edge's SOCKS5 egress; EHLO; STARTTLS when offered (required, and the
 * certificate checked against DNSSEC-secure TLSA records, when the host
 * has them: DANE, RFC 7672; else required and checked against trusted CAs
 * for the MX name when the domain's MTA-STS policy enforces it, RFC 8461,
 * which also limits the MX hosts); MAIL, the RCPTs and DATA, pipelined when the
 * server offers PIPELINING; the signatures and the body, dot-stuffed. A
 * host that cannot be reached or fails before the transaction gives way to
 * the next; a transaction's answers are final for this attempt.
 *
 * It reads the body through a store connection of its own and writes
 * nothing: each recipient's result goes back to the queue runner, which
 * updates the queue on the loop.
 */
#ifndef HOMEPORT_SMTP_CLIENT_H
#define HOMEPORT_SMTP_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "dnsname.h"
#include "home.h"
#include "log.h"

#define SMTP_CLIENT_RCPTS_MAX 100	/* recipients in one transaction (RFC 5321 4.5.3.1.8: at least 100) */
#define SMTP_CLIENT_TEXT_MAX 1024	/* a recipient's result text, with its NUL */
#define SMTP_CLIENT_IN_MAX (64 * 1024)	/* bytes of replies buffered: a longer reply is an error */
#define SMTP_CLIENT_PORT 25
/* RFC 5321 4.5.3.2's timeouts, in ms */
#define SMTP_CLIENT_GREETING_TIMEOUT (5 * 60 * 1000)
#define SMTP_CLIENT_COMMAND_TIMEOUT (5 * 60 * 1000)	/* EHLO, STARTTLS, MAIL, RCPT, QUIT */
#define SMTP_CLIENT_DATA_TIMEOUT (2 * 60 * 1000)	/* the answer to DATA */
#define SMTP_CLIENT_BLOCK_TIMEOUT (3 * 60 * 1000)	/* each write of the message */
#define SMTP_CLIENT_FINAL_TIMEOUT (10 * 60 * 1000)	/* the answer after the final dot */
#define SMTP_CLIENT_TLS_TIMEOUT (60 * 1000)		/* the TLS handshake */
#define SMTP_CLIENT_QUIT_TIMEOUT (5 * 1000)		/* we wait this little for QUIT's answer */
#define SMTP_CLIENT_DKIM_MAX 4		/* signatures per message (one per algorithm today) */

enum smtp_client_result {
	SMTP_CLIENT_SENT,	/* the server took it (2xx after the final dot) */
	SMTP_CLIENT_DEFER,	/* try again later */
	SMTP_CLIENT_BOUNCE,	/* failed for good: a DSN to the sender */
};

struct smtp_client_rcpt {
	int64_t queue_id;
	char address[STORE_ADDRESS_MAX];
	/* the attempt's result */
	int result;			/* enum smtp_client_result */
	int remote;			/* text is the remote server's answer, not our words */
	char status[16];		/* RFC 3463 status ("5.1.1"), "" if unknown */
	char text[SMTP_CLIENT_TEXT_MAX];	/* the answer or the reason, printable ASCII */
};

/* What every attempt shares; read-only while attempts run. */
struct smtp_client_env {
	const char *store_path;		/* mail.db, opened per attempt */
	const char *hostname;		/* EHLO name */
	struct dns *dns;
	SSL_CTX *tls;			/* client context, DANE enabled, no CA check (opportunistic) */
	SSL_CTX *tls_verify;		/* client context checking chains against ca_file (MTA-STS) */
	const char *ca_file;		/* CAs for MTA-STS, NULL: the system's */
	struct mtasts_cache *sts_cache;	/* MTA-STS policies seen (thread-safe) */
	const struct dkim_keys *keys;
	uint16_t port;			/* SMTP_CLIENT_PORT; tests may change it */
	int64_t connect_timeout;	/* ms */
	atomic_int stopping;		/* set by the loop: give up waiting, defer */
};

/* One attempt: one body, one sender, one domain's recipients. */
struct mtasts_cache;

struct smtp_client_job {
	const struct smtp_client_env *env;
	char sid[LOG_SID_LEN];		/* for the log (log_sid_new on the loop) */
	int64_t body_id;
	int64_t arrival;		/* Unix seconds: when the message was queued */
	char mail_from[STORE_ADDRESS_MAX];
	char domain[DNSNAME_MAX + 1];
	/* How it leaves, fixed when the attempt starts (a reload changes later ones only). */
	int transport;			/* enum home_transport */
	const struct addr *egress;	/* transport = edge: the edges' egresses, first that answers (borrowed) */
	size_t negress;
	size_t nrcpts;
	struct smtp_client_rcpt rcpts[SMTP_CLIENT_RCPTS_MAX];
	char mx[DNSNAME_MAX + 1];	/* the host that answered the transaction, "" if none */
};

/*
 * Run the attempt (blocking; on a worker thread). Sets every recipient's
 * result. Never fails as a whole: what goes wrong is in the results.
 */
void smtp_client_deliver(struct smtp_client_job *job);

#endif
