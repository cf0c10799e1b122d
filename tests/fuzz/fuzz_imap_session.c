/*
 * Fuzz target: a whole IMAP session over a real store. Once per process:
 * a store in a temporary directory with one user (a password hash with
 * Argon2id's smallest parameters, so a login costs microseconds) and a
 * few messages, one of them multipart. Per input: a new session, TLS
 * said to be on, logged in, then the input fed in pieces whose sizes the
 * input's first byte chooses, every output taken, every password check
 * run here as the server's worker would. Whatever the input, the session
 * must neither crash, nor leak, nor read or write out of bounds.
 *
 * The store keeps what inputs change (mailboxes made, messages copied or
 * expunged); the user's quota bounds its growth.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../home/home.h"
#include "fuzz.h"
#include "log.h"

#define FUZZ_USER "fuzz@example.test"
#define FUZZ_PASS "secret"
#define FUZZ_STEPS_MAX 100000

static struct store *fuzz_st;
static struct throttle *fuzz_th;
static char fuzz_dir[64];
static int fuzz_echo;

static void
fuzz_cleanup(void)
{
	char cmd[128];

	store_close(&fuzz_st);
	throttle_free(&fuzz_th);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
	if (fuzz_dir[0] != '\0' && system(cmd) != 0)
		fprintf(stderr, "fuzz_imap_session: could not remove %s\n", fuzz_dir);
}

static void
fuzz_deliver(const char *text)
{
	struct store_err err;
	struct store_user u;
	struct store_delivery *d = store_delivery_begin(fuzz_st, "s@peer.test", &err);

	if (d == NULL || store_user_get(fuzz_st, FUZZ_USER, &u, &err) != 0 ||
	    store_delivery_add_user(d, u.id, &err) != 0 || store_delivery_write(d, text, strlen(text), &err) != 0 ||
	    store_delivery_commit(d, 1700000000, &err) != 0)
		abort();
	store_delivery_free(&d);
}

static void
fuzz_setup(void)
{
	struct throttle_conf tc = { .delay_ms = 0, .delay_max_ms = 0, .lockout_failures = 1000000,
				    .lockout_ms = 1000 };
	char hash[PASSWORD_HASH_MAX], path[128];
	struct store_err err;

	if (sodium_init() < 0)
		abort();
	fuzz_echo = getenv("FUZZ_IMAP_ECHO") != NULL;
	log_init("fuzz_imap_session", LOG_LEVEL_ERROR, fopen("/dev/null", "w"));
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_imap_session.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/mail.db", fuzz_dir);
	if (crypto_pwhash_str_alg(hash, FUZZ_PASS, strlen(FUZZ_PASS), crypto_pwhash_OPSLIMIT_MIN,
				  crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) != 0)
		abort();
	fuzz_st = store_open(path, STORE_OPEN_RECOVER, &err);
	fuzz_th = throttle_new(&tc, 0);
	if (fuzz_st == NULL || fuzz_th == NULL || store_domain_add(fuzz_st, "example.test", &err) != 0 ||
	    store_user_add(fuzz_st, FUZZ_USER, hash, 2 * 1024 * 1024, NULL, &err) != 0)
		abort();
	fuzz_deliver("From: A <a@peer.test>\r\nTo: fuzz@example.test\r\nSubject: one\r\n"
		     "Date: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\nHello there\r\n");
	fuzz_deliver("From: B <b@peer.test>\r\nSubject: =?utf-8?q?two?=\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n"
		     "part one\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nin\r\n--x--\r\n");
	fuzz_deliver("Subject: three\r\n\r\nbody\r\n");
	atexit(fuzz_cleanup);
}

/* Take the output; run a password check the session waits for, as the worker would (no rehash). */
static void
fuzz_drain(struct imap_session *s)
{
	size_t n;
	const uint8_t *out = imap_session_output(s, &n);

	if (n > 0 && out == NULL)
		abort();
	if (fuzz_echo)
		fwrite(out, 1, n, stderr);	/* FUZZ_IMAP_ECHO=1: see what a seed does */
	imap_session_output_consume(s, n);
	if (imap_session_action(s) == SESSION_VERIFY) {
		struct password_check c = *imap_session_check(s);

		c.ok = password_verify(c.hash, c.password, c.len);
		c.rehash[0] = '\0';
		imap_session_verified(s, &c, 0);
		(void)imap_session_delay(s);
	}
	if (imap_session_action(s) == SESSION_STARTTLS)
		imap_session_tls_started(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
}

static void
fuzz_feed(struct imap_session *s, const uint8_t *p, size_t len, size_t piece)
{
	size_t steps = 0;

	while (len > 0 && imap_session_action(s) != SESSION_CLOSE && steps++ < FUZZ_STEPS_MAX) {
		size_t take = len < piece ? len : piece;
		size_t used = imap_session_feed(s, p, take, 0);

		fuzz_drain(s);
		while (imap_session_pending(s) && steps++ < FUZZ_STEPS_MAX) {
			imap_session_feed(s, NULL, 0, 0);
			fuzz_drain(s);
		}
		p += used;
		len -= used;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char login[] = "L LOGIN " FUZZ_USER " " FUZZ_PASS "\r\nS SELECT INBOX\r\n";
	struct imap_session_params p = {
		.hostname = "mx.example.test", .tls_offered = 1,
		.append_max = 1024 * 1024, .max_errors = 1000, .peer = NULL, .sid = "fuzz",
	};
	struct imap_session *s;
	size_t piece;

	if (fuzz_st == NULL)
		fuzz_setup();
	if (size == 0)
		return 0;
	piece = (size_t)(data[0] % 64) + 1;
	s = imap_session_new(&p, fuzz_st, fuzz_th);
	if (s == NULL)
		return 0;
	imap_session_greet(s);
	imap_session_tls_started(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
	fuzz_feed(s, (const uint8_t *)login, sizeof(login) - 1, sizeof(login));
	fuzz_feed(s, data + 1, size - 1, piece);
	imap_session_changed(s, 0);
	fuzz_feed(s, (const uint8_t *)"N NOOP\r\n", 8, 8);
	imap_session_free(&s);
	return 0;
}
