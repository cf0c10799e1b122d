/*
 * home.h: homeportd's and homeport's internal interfaces, by file.
 */
#ifndef HOMEPORT_HOME_H
#define HOMEPORT_HOME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "conf.h"
#include "httphead.h"

#define HOME_CONF_DEFAULT "/etc/homeport/homeportd.conf"
#define HOME_STATE_DIR_DEFAULT "/var/lib/homeport"
#define HOME_PATH_MAX 4096
#define HOME_INDEX_SLICE_MS 10		/* indexing done at once, at most, before the loop serves others */
#define HOME_INDEX_BUSY_MS 5		/* while sessions are busy, how often to look again */
#define HOME_INDEX_IDLE_MS 1000		/* how often to look for bodies to index */
#define HOME_INDEX_RETRY_MS 60000	/* after a failure */

/* ---- home_conf.c: homeportd.conf ---- */

enum home_listener_mode {
	HOME_LISTENER_SMTP,		/* MX, port 25, STARTTLS offered */
	HOME_LISTENER_SUBMISSION,	/* port 587, STARTTLS required before AUTH */
	HOME_LISTENER_SUBMISSIONS,	/* port 465, implicit TLS */
	HOME_LISTENER_IMAP,		/* port 143, STARTTLS required before LOGIN */
	HOME_LISTENER_IMAPS,		/* port 993, implicit TLS */
	HOME_LISTENER_HTTPS,		/* port 443: the MTA-STS policy (web_session.c) */
	HOME_LISTENER_HTTP,		/* port 80: every request redirected to https */
};

struct home_main_conf {
	char *hostname;		/* the name this home answers as (EHLO, banner, certificate) */
	char *state_dir;	/* mail.db and keys/ live here */
	int log_level;		/* enum log_level */
	char *user;		/* service user the daemon runs as once ports are bound */
};

struct home_tls_conf {
	char *certificate;	/* PEM chain; default STATE_DIR/keys/tls.crt */
	char *key;		/* PEM key, mode 0600; default STATE_DIR/keys/tls.key */
};

struct home_listener_conf {
	char *name;			/* the [listener NAME] label */
	struct conf_addr_list address;	/* where to listen, with ports */
	int mode;			/* enum home_listener_mode */
	int proxy;			/* a PROXY v2 header is required first */
	struct conf_cidr_list proxy_from; /* who may send that header (the edges) */
	int64_t max_connections;
	int64_t max_per_source;
	int64_t idle_timeout;		/* ms */
	int64_t proxy_timeout;		/* ms for the PROXY header to arrive whole */
};

/* [smtp]: the SMTP server's limits, for every SMTP listener. */
struct home_smtp_conf {
	int64_t message_size_max;	/* bytes of a message (SIZE), checked as it streams */
	int64_t max_recipients;		/* accepted RCPTs per message */
	int64_t max_errors;		/* client errors per session, then 421 and close */
	int64_t command_timeout;	/* ms waiting for a command (RFC 5321 4.5.3.2: 5 min) */
	int64_t data_timeout;		/* ms between bytes during DATA/BDAT (RFC: 3 min per block) */
	int64_t shutdown_grace;		/* ms SIGTERM lets sessions in DATA finish */
};

/* [imap]: the IMAP server's limits, for every IMAP listener. */
struct home_imap_conf {
	int64_t autologout;		/* ms a logged-in client may be silent (RFC 9051 5.4: >= 30 min) */
	int64_t max_errors;		/* BAD answers per session, then BYE and close */
};

/* [auth]: failed logins (SMTP AUTH now, IMAP LOGIN later), throttle.c. */
struct home_auth_conf {
	int64_t fail_delay;		/* ms before the reply to the first failure; doubles per failure */
	int64_t fail_delay_max;		/* ms, the most one reply is held */
	int64_t lockout_failures;	/* failures within lockout_time that lock the source or account */
	int64_t lockout_time;		/* ms: the window failures count in, and the lockout */
};

enum home_transport {
	HOME_TRANSPORT_DIRECT,		/* connect to the MX from this host */
	HOME_TRANSPORT_EDGE,		/* through an edge's SOCKS5 egress ([outbound] egress) */
};

/* [outbound]: the queue and how mail leaves (queue.c, smtp_client.c). */
struct home_outbound_conf {
	int transport;			/* enum home_transport */
	struct conf_addr_list egress;	/* edges' SOCKS5 egresses with ports, tried in order (transport = edge) */
	char *dns_forward;		/* ask this DNS server ("ADDR" or "ADDR@PORT"); unset: recurse */
	char *dns_trust_anchor;		/* DNSSEC trust anchors (zone-file DS/DNSKEY); unset: the root's */
	char *tls_ca_file;		/* CAs trusted for MTA-STS (policy fetch, MX certificates); unset: the system's */
	int64_t retry_min;		/* ms after the first failed attempt; doubles after each */
	int64_t retry_max;		/* ms: the longest wait between attempts */
	int64_t expire;			/* ms a message may wait before it bounces */
	int64_t max_deliveries;		/* connections out at once */
	int64_t max_per_domain;		/* of them to one destination domain */
	int64_t connect_timeout;	/* ms for a TCP connection (and the egress's answer) */
};

enum home_mtasts_mode {
	HOME_MTASTS_ENFORCE,		/* published once the certificate is valid for every MX host */
	HOME_MTASTS_TESTING,		/* the same, in testing mode: senders report, deliver anyway */
	HOME_MTASTS_OFF,		/* nothing published */
};

/* [mta_sts]: the MTA-STS policy this home publishes for its domains (mtasts_own.c). */
struct home_mtasts_conf {
	int mode;			/* enum home_mtasts_mode */
	int64_t max_age;		/* ms senders may keep the policy */
};

struct home_conf {
	struct conf *conf;		/* owns everything below */
	struct home_main_conf *main;
	struct home_tls_conf *tls;
	struct home_smtp_conf *smtp;
	struct home_imap_conf *imap;
	struct home_auth_conf *auth;
	struct home_outbound_conf *outbound;
	struct home_mtasts_conf *mta_sts;
	size_t nlisteners;
	char cert_path[HOME_PATH_MAX];	/* tls->certificate or its default */
	char key_path[HOME_PATH_MAX];	/* tls->key or its default */
};

/*
 * Load and check homeportd.conf. Returns 0 and fills *hc (release with
 * home_conf_free()), or -1 with the exact error in err.
 */
int home_conf_load(const char *path, struct home_conf *hc, char *err, size_t errcap);

/* Listener i (0 <= i < hc->nlisteners). */
struct home_listener_conf *home_conf_listener(const struct home_conf *hc, size_t i);

void home_conf_free(struct home_conf *hc);

/* The store's file, STATE_DIR/mail.db, into out[0..cap). Returns 0, or -1 if it does not fit. */
int home_store_path(const char *state_dir, char *out, size_t cap);

/* ---- throttle.c: failed logins per source and per account (pure) ---- */

#define THROTTLE_KEY_MAX 384		/* a key ("ip:...", "user:local@domain") with its NUL */
#define THROTTLE_ENTRIES_MAX 16384	/* keys remembered; the least recently failed goes first */
#define THROTTLE_BUCKETS 1024

struct throttle_conf {
	int64_t delay_ms;		/* the reply to the first failure waits this long */
	int64_t delay_max_ms;		/* each further failure doubles it, up to this */
	unsigned lockout_failures;	/* this many failures within lockout_ms lock the key */
	int64_t lockout_ms;		/* the window failures count in, and how long a lock lasts */
};

/* What one failure means for its key. */
struct throttle_verdict {
	unsigned failures;		/* within the window, this one included */
	int64_t delay_ms;		/* hold the reply this long */
	int locked;			/* this failure locked the key */
	int64_t locked_ms;		/* the key is locked this much longer (0: not locked) */
};

struct throttle;

/*
 * A table of keys that failed to log in, with at most max_entries keys
 * (0: THROTTLE_ENTRIES_MAX); when it is full, the key whose last failure
 * is oldest is forgotten. Times are milliseconds on any clock that never
 * goes back, passed in by the caller: no clock, I/O or globals here.
 * Returns the table (throttle_free()), or NULL when out of memory.
 */
struct throttle *throttle_new(const struct throttle_conf *conf, size_t max_entries);

/* New limits (reload); what was counted stays. */
void throttle_set_conf(struct throttle *t, const struct throttle_conf *conf);

/* Returns how many ms key stays locked (> 0), or 0 when it may try. */
int64_t throttle_check(struct throttle *t, const char *key, int64_t now_ms);

/*
 * Count a failure of key at now_ms and fill *v_r: failures older than
 * the window are forgotten first; the delay is delay_ms doubled per
 * earlier failure, at most delay_max_ms; the lockout_failures-th failure
 * locks the key for lockout_ms. A key longer than THROTTLE_KEY_MAX - 1
 * is cut. Out of memory: counted as a first failure, nothing remembered.
 */
void throttle_fail(struct throttle *t, const char *key, int64_t now_ms, struct throttle_verdict *v_r);

/* A successful login: forget key (a lock stays until it runs out). */
void throttle_success(struct throttle *t, const char *key, int64_t now_ms);

/* Keys remembered now. */
size_t throttle_count(const struct throttle *t);

/* Free *tp (accepts NULL) and clear it. */
void throttle_free(struct throttle **tp);

/* ---- password.c: account passwords, Argon2id through libsodium ---- */

#define PASSWORD_HASH_MAX 128	/* crypto_pwhash_STRBYTES: the encoded hash, with its NUL */
#define PASSWORD_MAX 1024	/* the longest password taken, in octets */
#define PASSWORD_GENERATED_LEN 20 /* characters of a generated password */

/*
 * Hash password (len octets, any bytes) with Argon2id at today's
 * parameters into out (PASSWORD_HASH_MAX bytes). Needs sodium_init().
 * Returns 0, or -1 when the password is empty or too long, or memory for
 * the hash could not be had.
 */
int password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX]);

/* Returns 1 if password matches hash, else 0 (a malformed hash never matches). */
int password_verify(const char *hash, const char *password, size_t len);

/* Returns 1 if hash was made with other parameters than password_hash uses today. */
int password_needs_rehash(const char *hash);

/*
 * A new random password of PASSWORD_GENERATED_LEN characters from an
 * alphabet without look-alikes (no 0/O, 1/l/I), NUL-terminated, into out
 * (at least PASSWORD_GENERATED_LEN + 1 bytes).
 */
void password_generate(char *out);

/* A password check to run away from the event loop (worker threads). */
struct password_check {
	char hash[PASSWORD_HASH_MAX];		/* in: the stored hash ("" never matches) */
	char password[PASSWORD_MAX + 1];	/* in: the password given, cut at PASSWORD_MAX + 1 */
	size_t len;				/* in: its octets (over PASSWORD_MAX never matches) */
	int ok;					/* out: it matched */
	char rehash[PASSWORD_HASH_MAX];		/* out: matched, and hash has old parameters: a new hash; else "" */
};

/* Run c: password_verify(), then password_hash() if a rehash is due. Safe on any thread. */
void password_check_run(struct password_check *c);

/* ---- smtp_parse.c: one SMTP command line (pure) ---- */

#define SMTP_COMMAND_MAX 1000	/* a command line, CRLF included (RFC 5321 4.5.3.1.4) */
#define SMTP_LOCAL_MAX 64	/* a local part, octets as sent (4.5.3.1.1) */
#define SMTP_DOMAIN_MAX 255	/* a domain (4.5.3.1.2); host names stop at DNSNAME_MAX */
#define SMTP_PATH_MAX 256	/* a path with its "<" ">" and source route (4.5.3.1.3) */
#define SMTP_ENVID_MAX 100	/* MAIL ENVID= xtext (RFC 3461 4.4) */
#define SMTP_ORCPT_MAX 500	/* RCPT ORCPT= addr-type ";" xtext (RFC 3461 4.2) */
#define SMTP_AUTH_PARAM_MAX 500	/* MAIL AUTH= xtext (RFC 4954 5) */
#define SMTP_MECH_MAX 20	/* a SASL mechanism name (RFC 4422 3.1) */
#define SMTP_SIZE_DIGITS_MAX 20	/* digits of SIZE= (RFC 1870 size-value) */

enum smtp_verb {
	SMTP_VERB_UNKNOWN,	/* not a command we know, or not looked at */
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

/* Why a line was refused; each has one reply (struct smtp_command's reply). */
enum smtp_parse_error {
	SMTP_PARSE_OK,
	SMTP_PARSE_E_TOO_LONG,		/* 500 5.5.6: over SMTP_COMMAND_MAX - 2 bytes */
	SMTP_PARSE_E_BAD_CHAR,		/* 500 5.5.2: a NUL, CR or LF in the line */
	SMTP_PARSE_E_UNKNOWN,		/* 500 5.5.2: not a verb we know */
	SMTP_PARSE_E_SYNTAX,		/* 501 5.5.4: "Syntax: " and the verb's usage */
	SMTP_PARSE_E_SENDER,		/* 501 5.1.7: MAIL's path is not a valid address */
	SMTP_PARSE_E_RECIPIENT,		/* 501 5.1.3: RCPT's path is not a valid address */
	SMTP_PARSE_E_PARAM_UNKNOWN,	/* 555 5.5.4: a parameter MAIL or RCPT does not have */
	SMTP_PARSE_E_PARAM_VALUE,	/* 501 5.5.4: a known parameter with a bad value */
	SMTP_PARSE_E_PARAM_DUP,		/* 501 5.5.4: a parameter given twice */
	SMTP_PARSE_E_BASE64,		/* 501 5.5.2: AUTH's initial response is not base64 */
};

/* A reply as the session sends it: "CODE ENHANCED TEXT\r\n". */
struct smtp_reply {
	int code;		/* 500, 501 or 555 */
	const char *enhanced;	/* RFC 3463 status, e.g. "5.5.4" */
	const char *text;	/* printable ASCII */
};

/*
 * A reverse- or forward-path. Strings are NUL-terminated and hold no NUL,
 * CR, LF or other control character; non-ASCII bytes only as well-formed
 * UTF-8 (then utf8 is set).
 */
struct smtp_path {
	char local[SMTP_LOCAL_MAX + 1];	/* canonical: unquoted, escapes removed; "" for <> */
	char domain[SMTP_DOMAIN_MAX + 1]; /* as sent, case kept; "[...]" for a literal; "" for <>, <Postmaster> */
	size_t local_len;
	size_t domain_len;
	int null;		/* "<>" (MAIL only) */
	int postmaster;		/* "<Postmaster>", any case, no domain (RCPT only); local as sent */
	int quoted;		/* the local part was a quoted-string */
	int literal;		/* the domain is an address literal [IPv4] or [IPv6:...] */
	int route;		/* a source route "@a,@b:" (ASCII) was given; it was checked and dropped */
	int utf8;		/* UTF-8 in local or domain: the session requires SMTPUTF8 on MAIL */
};

enum smtp_body {
	SMTP_BODY_NONE,		/* no BODY= */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,	/* RFC 6152 */
	SMTP_BODY_BINARYMIME,	/* RFC 3030 */
};

enum smtp_ret {
	SMTP_RET_NONE,		/* no RET= */
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* RCPT NOTIFY= (RFC 3461 4.1); 0: not given. NEVER comes alone. */
#define SMTP_NOTIFY_NEVER 0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY 0x08

/*
 * One parsed command. Only the fields of its verb are filled; the others
 * are zero ("" for strings). Every string is NUL-terminated, and each
 * *_len is its strlen().
 */
struct smtp_command {
	int verb;			/* enum smtp_verb */

	/* MAIL, RCPT */
	struct smtp_path path;

	/* MAIL parameters */
	int64_t size;			/* SIZE=; -1 if not given; INT64_MAX for anything larger */
	int body;			/* enum smtp_body */
	int smtputf8;			/* SMTPUTF8 (RFC 6531) */
	int ret;			/* enum smtp_ret */
	char envid[SMTP_ENVID_MAX + 1];	/* ENVID= xtext as sent (checked, not decoded); "": none */
	char auth[SMTP_AUTH_PARAM_MAX + 1]; /* AUTH= xtext as sent (checked, not decoded); "": none */

	/* RCPT parameters */
	unsigned notify;		/* SMTP_NOTIFY_* */
	char orcpt[SMTP_ORCPT_MAX + 1];	/* ORCPT= "type;xtext" as sent (checked, not decoded); "": none */

	/* EHLO, HELO */
	char helo[SMTP_DOMAIN_MAX + 1];	/* a host name or an address literal, as sent */
	size_t helo_len;
	int helo_literal;

	/* BDAT */
	int64_t bdat_size;		/* 0..INT64_MAX */
	int bdat_last;

	/* AUTH */
	char mech[SMTP_MECH_MAX + 1];	/* upper case */
	int has_initial;		/* an initial response was given ("=" gives an empty one) */
	char initial[SMTP_COMMAND_MAX];	/* base64 as sent, checked, not decoded: a secret, wipe it */
	size_t initial_len;

	/* VRFY, EXPN, HELP (optional for HELP; NOOP's argument is ignored) */
	char arg[SMTP_COMMAND_MAX];	/* printable ASCII or UTF-8 */
	size_t arg_len;

	/* When smtp_parse_command() returned -1 */
	int error;			/* enum smtp_parse_error; SMTP_PARSE_OK on success */
	const struct smtp_reply *reply;	/* static, never NULL on error; NULL on success */
};

/*
 * Parse one command line, line[0..len) without its CRLF: verbs in any
 * case, arguments per RFC 5321 4.1 and the extensions' grammars, trailing
 * spaces ignored; no policy (which commands are allowed when, which
 * parameters were announced, whether UTF-8 needs SMTPUTF8 is the
 * session's). Pure.
 * Returns 0 with *cmd_r filled, or -1 with cmd_r->error, cmd_r->reply and,
 * where the verb was recognised, cmd_r->verb.
 * A BDAT refused with -1 leaves the chunk's length unknown: close then.
 */
int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r);

/*
 * Parse s[0..len) as a bare mailbox "local@domain" (no "<>", no route,
 * no Postmaster without a domain) with the same rules as a path in
 * MAIL/RCPT, e.g. an address from configuration or an AUTH identity.
 * Returns 0 with *path_r filled (null, postmaster, route 0), or -1.
 */
int smtp_parse_address(const char *s, size_t len, struct smtp_path *path_r);

/*
 * Write p as a path, "<local@domain>" ("<>", "<Postmaster>"), into
 * out[0..cap) with a NUL: the local part as a dot-string, or quoted when
 * it is not one; no source route. Parsing the result gives p again (but
 * quoted and route). Returns the length, or -1 if cap is too small.
 */
int smtp_parse_path_format(const struct smtp_path *p, char *out, size_t cap);

/*
 * Returns 1 if two domains as parse results hold them are the same: host
 * names without regard to ASCII case (UTF-8 bytes compared as they are),
 * address literals by the address they stand for. Else 0.
 */
int smtp_parse_domain_equal(const char *a, size_t alen, const char *b, size_t blen);

/* ---- smtp_data.c: the DATA decoder, safe against SMTP smuggling (pure) ---- */

#define SMTP_DATA_LINE_MAX 1000	/* a text line, CRLF in, a stuffed dot not (RFC 5321 4.5.3.1.6) */

enum smtp_data_status {
	SMTP_DATA_MORE = 0,	/* all of the input was taken: feed what comes next */
	SMTP_DATA_END = 1,	/* CRLF "." CRLF seen: what follows it was not taken */
};

/*
 * Decoder state for one message, initialised by smtp_data_init(). Only
 * CRLF "." CRLF ends a message (the DATA line's CRLF counts as the first
 * CRLF); anything else that looks like an end, bare CR or LF anywhere, a
 * NUL or an overlong line makes the message bad, and it goes on to the
 * real end. A bad message must be refused whole: its bytes are not
 * guaranteed to be what was sent.
 */
struct smtp_data {
	int state;		/* where in a line the decoder is (internal) */
	size_t line_len;	/* octets of the current line so far, after unstuffing */
	uint64_t size;		/* octets written to out so far: the message's size */
	int end;		/* CRLF "." CRLF was seen */
	int bare_lf;		/* an LF not after a CR */
	int bare_cr;		/* a CR not before an LF */
	int nul;		/* a NUL byte */
	int too_long;		/* a line longer than SMTP_DATA_LINE_MAX */
};

void smtp_data_init(struct smtp_data *d);

/*
 * Decode in[0..len): remove dot-stuffing and write the message's bytes to
 * out, which has room for len bytes (never more is written); the CRLF
 * before the terminating "." is the message's last line end. Input may be
 * split anywhere between calls. Sets *out_len_r to the bytes written and
 * *used_r to the bytes taken (len, or up to the end of CRLF "." CRLF).
 * Returns SMTP_DATA_END once the message is complete (and again, taking
 * nothing, on every later call), else SMTP_DATA_MORE. Pure.
 */
enum smtp_data_status smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len, uint8_t *out,
				     size_t *out_len_r, size_t *used_r);

/* Returns 1 if the message must be refused: bare CR or LF, NUL, or an overlong line. Else 0. */
int smtp_data_bad(const struct smtp_data *d);

/*
 * The encoder, for the SMTP client: a message as stored (CRLF lines) to
 * DATA's form: a "." at the start of a line doubled (RFC 5321 4.5.2), and
 * at the end a CRLF if the last line had none, then "." CRLF.
 */
struct smtp_data_stuff {
	int bol;		/* the next byte starts a line */
	int cr;			/* the last byte was a CR */
	uint64_t size;		/* message bytes taken so far */
};

#define SMTP_DATA_STUFF_END_MAX 5	/* CRLF "." CRLF */

void smtp_data_stuff_init(struct smtp_data_stuff *s);

/* Stuff in[0..len) into out, which has room for 2 * len bytes. Returns the bytes written. Pure. */
size_t smtp_data_stuff_feed(struct smtp_data_stuff *s, const uint8_t *in, size_t len, uint8_t *out);

/* The end of the message into out. Returns the bytes written (3 to 5). Pure. */
size_t smtp_data_stuff_end(struct smtp_data_stuff *s, uint8_t out[SMTP_DATA_STUFF_END_MAX]);

/* ---- imap_names.c: mailbox names as IMAP clients write them (pure) ---- */

/*
 * Modified UTF-7 (RFC 3501 5.1.3, IMAP4rev1 clients) in[0..len) to UTF-8
 * in out[0..cap), NUL-terminated. Refused: bytes outside printable ASCII,
 * an unterminated or malformed shift, a lone surrogate, a shifted
 * character that needed no shift. Returns 0, or -1 (also when out is too
 * small).
 */
int imap_mutf7_decode(const char *in, size_t len, char *out, size_t cap);

/*
 * UTF-8 (a NUL-terminated name, as the store keeps it) to modified UTF-7
 * in out[0..cap). Returns 0, or -1 (not UTF-8, a control character, or
 * out too small).
 */
int imap_mutf7_encode(const char *utf8, char *out, size_t cap);

/*
 * 1 if name matches the LIST pattern: '*' matches any run of characters,
 * '%' any run without delim, everything else itself (exact octets: the
 * caller has written INBOX as INBOX in both). Else 0.
 */
int imap_list_match(const char *pattern, const char *name, char delim);

/* ---- what a session (smtp_session, imap_session) asks of server.c ---- */

enum session_action {
	SESSION_GO,		/* feed more when it comes */
	SESSION_VERIFY,		/* run the session's password check off the loop, then hand it back */
	SESSION_STARTTLS,	/* send the output, then start TLS; bytes after STARTTLS were dropped */
	SESSION_CLOSE,		/* send the output, then close */
};

/* ---- web_session.c: one HTTP request on a web listener, a state machine without I/O ---- */

#define WEB_SESSION_OUT_MAX (HTTPHEAD_MAX + 16 * 1024)	/* the answer: a redirect or the policy */
#define WEB_METHOD_LOG_MAX 16				/* bytes of the method kept for the log */
#define WEB_HEAD_DEADLINE_MS 30000			/* the whole request head must arrive within this */

struct mtasts_own;

/* What a web listener serves. */
struct web_site {
	int https;			/* 1: the https listener; 0: http, which redirects to https */
	const struct mtasts_own *sts;	/* the home's MTA-STS policy, read when answering (a reload may change it) */
	/* 1 if domain is a local domain, 0 if not, -1 if that cannot be told now (503). */
	int (*is_domain)(void *arg, const char *domain);
	void *arg;
};

struct web_session;

/*
 * The complete answer to one request head: st and *h as httphead_parse()
 * returned them for in (HTTPHEAD_HOST or HTTPHEAD_INVALID). On https: GET
 * or HEAD of /.well-known/mta-sts.txt at mta-sts.DOMAIN, DOMAIN local and
 * a policy published: 200 text/plain with the policy; the store not
 * answering: 503; another method: 405; anything else: 404. On http: 301
 * to https://HOST/TARGET. A bad head: 400. Writes out[0..cap) and the status into *status_r; returns
 * the length, 0 if it does not fit. Pure but for site->is_domain.
 */
size_t web_respond(const struct web_site *site, const uint8_t *in, enum httphead_status st,
		   const struct httphead *h, char *out, size_t cap, int *status_r);

/* A session for one connection (site copied; its pointers must outlive it). NULL: out of memory. */
struct web_session *web_session_new(const struct web_site *site);
void web_session_free(struct web_session **sp);

/* HTTP has no greeting and nothing changes with TLS: both do nothing (server.c calls every session's). */
void web_session_greet(struct web_session *s);
void web_session_tls_started(struct web_session *s, const char *version, const char *cipher);

/* Take bytes of the request; returns how many were taken (all of them once answered). */
size_t web_session_feed(struct web_session *s, const uint8_t *in, size_t len, int64_t now_ms);

/* SESSION_GO until the head is in, then SESSION_CLOSE: send the answer and close. */
int web_session_action(const struct web_session *s);
const uint8_t *web_session_output(const struct web_session *s, size_t *len_r);
void web_session_output_consume(struct web_session *s, size_t n);

/* No logins on the web yet: no check (NULL), nothing verified, no delay. */
const struct password_check *web_session_check(const struct web_session *s);
void web_session_verified(struct web_session *s, const struct password_check *c, int64_t now_ms);
int64_t web_session_delay(struct web_session *s);

/* No complete head in time, or the server stops: close without an answer (shutdown returns 1). */
void web_session_timeout(struct web_session *s);
int web_session_shutdown(struct web_session *s);

/* Its fields of the session log line: method, host, status. */
void web_session_stats(const struct web_session *s, char *out, size_t cap);

/* ---- smtp_session.c: one SMTP session, a state machine without I/O ---- */

#define SMTP_SESSION_OUT_MAX (16 * 1024)	/* replies not yet taken by the caller */
#define SMTP_SESSION_REPLY_MAX 1024		/* what one step may add (EHLO's reply, an error and a 421) */
#define SMTP_SESSION_SASL_LINE_MAX 4096		/* an AUTH response line without CRLF (RFC 4954 4: >= 12288 is a SHOULD) */
#define SMTP_SESSION_DATA_STEP 8192		/* DATA/BDAT bytes handled per step */
#define SMTP_SESSION_FIELD_NAME_MAX 64		/* a header field name looked at (Date, Message-ID) */
#define SMTP_SESSION_TRACE_MAX 2048		/* Return-Path, Received, and the added Date and Message-ID */

struct smtp_session_params {
	const char *hostname;		/* ours (banner, EHLO, Received); copied */
	int mode;			/* HOME_LISTENER_SMTP, _SUBMISSION or _SUBMISSIONS */
	int tls_offered;		/* STARTTLS may be offered (there is a TLS context) */
	int64_t size_max;		/* SIZE: bytes of a message */
	unsigned max_recipients;	/* per message */
	unsigned max_errors;		/* per session: the next one gets 421 and the end */
	const struct addr *peer;	/* the client, from PROXY when there was one; NULL: unknown */
	const char *sid;		/* the log session id; copied */
	const char *dummy_hash;		/* verified against when a login names nobody (same cost); may be NULL */
};

struct smtp_session_stats {
	unsigned messages;		/* accepted (250 after the end of the message) */
	unsigned refused;		/* refused after the end of the message */
	unsigned errors;		/* client errors */
	int tls;			/* TLS is on */
	const char *helo;		/* the last EHLO/HELO name, "" if none */
	const char *user;		/* the authenticated address, "" if none */
};

struct smtp_session;
struct store;
struct throttle;

/*
 * A session for one connection. st and th are borrowed and must outlive
 * it; the rest of p is copied. Nothing is sent yet: call
 * smtp_session_greet() for the 220 (at once for port 25 and 587, after
 * the handshake for 465; never when the edge answered STARTTLS already).
 * Returns the session (smtp_session_free()), or NULL when out of memory.
 */
struct smtp_session *smtp_session_new(const struct smtp_session_params *p, struct store *st,
				      struct throttle *th);

/* Queue the 220 greeting. */
void smtp_session_greet(struct smtp_session *s);

/*
 * TLS is on (after STARTTLS, implicit TLS, or the edge's STARTTLS):
 * version and cipher are for the Received header and logs (copied). The
 * session starts afresh as RFC 3207 4.2 says: no EHLO, no mail, no login.
 */
void smtp_session_tls_started(struct smtp_session *s, const char *version, const char *cipher);

/*
 * Take client bytes in[0..len) at now_ms (a clock that never goes back,
 * for the login throttle). Returns how many were taken: fewer than len
 * when the output is full (take the output, then feed the rest), when a
 * reply is to be held (smtp_session_delay()), or when the action is no
 * longer SESSION_GO. With SESSION_STARTTLS everything after
 * the STARTTLS line counts as taken and was dropped (a client must wait
 * for the 220: bytes sent before it are an injection, CVE-2011-0411).
 */
size_t smtp_session_feed(struct smtp_session *s, const uint8_t *in, size_t len, int64_t now_ms);

/* What the caller must do now: enum session_action. */
int smtp_session_action(const struct smtp_session *s);

/*
 * With SESSION_VERIFY: the password check a login waits for (the
 * stored hash and the password given). Copy it, run password_check_run()
 * on the copy off the loop, and hand the result to
 * smtp_session_verified(). NULL in any other state.
 */
const struct password_check *smtp_session_check(const struct smtp_session *s);

/*
 * The check's result (c), or NULL when it could not be run (the workers
 * are busy: 454, try again). The session answers the login and goes on
 * (SESSION_GO); its copy of the password is wiped.
 */
void smtp_session_verified(struct smtp_session *s, const struct password_check *c, int64_t now_ms);

/*
 * How many ms to hold the output before sending it (a failed login),
 * then 0 until the next failure. Feed nothing meanwhile.
 */
int64_t smtp_session_delay(struct smtp_session *s);

/* The replies waiting to be sent: *len_r bytes at the returned pointer. */
const uint8_t *smtp_session_output(const struct smtp_session *s, size_t *len_r);

/* n bytes of the output were sent. */
void smtp_session_output_consume(struct smtp_session *s, size_t n);

/* 1 while a message's bytes are arriving (DATA, or a BDAT chunk): the data timeout applies. */
int smtp_session_in_data(const struct smtp_session *s);

/* The client was silent too long: 421, then SESSION_CLOSE. */
void smtp_session_timeout(struct smtp_session *s);

/*
 * The server is stopping: a session between messages gets 421 and
 * SESSION_CLOSE now (returns 1); one receiving a message finishes it
 * and then gets them (returns 0).
 */
int smtp_session_shutdown(struct smtp_session *s);

void smtp_session_stats(const struct smtp_session *s, struct smtp_session_stats *st_r);

/* Free *sp (accepts NULL) and clear it; a message not yet acknowledged is dropped. */
void smtp_session_free(struct smtp_session **sp);

/* ---- imap_session.c: one IMAP session, a state machine over the store, without I/O ---- */

#define IMAP_SESSION_OUT_MAX (256 * 1024)	/* output held before the caller takes it */
#define IMAP_SESSION_OUT_LOW (192 * 1024)	/* a long answer (FETCH) pauses when less room is left */
#define IMAP_SESSION_SASL_MAX 8192		/* an AUTHENTICATE response line, base64 */

struct imap_session_params {
	const char *hostname;		/* ours (greeting); copied */
	int tls_offered;		/* STARTTLS may be offered (there is a TLS context) */
	int64_t append_max;		/* APPENDLIMIT: bytes of one APPENDed message */
	unsigned max_errors;		/* BAD answers, then BYE and the end */
	const struct addr *peer;	/* the client, from PROXY when there was one; NULL: unknown */
	const char *sid;		/* the log session id; copied */
	const char *dummy_hash;		/* verified against when a login names nobody; may be NULL */
};

struct imap_session_stats {
	unsigned commands;		/* tagged commands answered */
	unsigned errors;		/* BAD answers */
	const char *user;		/* the logged-in address, "" if none */
};

struct imap_session;

/*
 * A session for one connection; st and th are borrowed and must outlive
 * it. Greet with imap_session_greet() (after the handshake on 993).
 * Returns the session (imap_session_free()), or NULL when out of memory.
 */
struct imap_session *imap_session_new(const struct imap_session_params *p, struct store *st,
				      struct throttle *th);

/* Queue the "* OK" greeting with the capabilities. */
void imap_session_greet(struct imap_session *s);

/* TLS is on (STARTTLS or implicit): version and cipher for the log (copied). */
void imap_session_tls_started(struct imap_session *s, const char *version, const char *cipher);

/*
 * Take client bytes in[0..len) at now_ms. Returns how many were taken:
 * fewer when the output is full, a reply is to be held
 * (imap_session_delay()), or the action is no longer SESSION_GO. With
 * len 0, work the session has of its own goes on (imap_session_pending()).
 */
size_t imap_session_feed(struct imap_session *s, const uint8_t *in, size_t len, int64_t now_ms);

/* 1 if the session has output to make without input: a long answer under way, or news to tell. */
int imap_session_pending(const struct imap_session *s);

/* What the caller must do now: enum session_action. */
int imap_session_action(const struct imap_session *s);

/* With SESSION_VERIFY: the login's password check (see smtp_session_check()). */
const struct password_check *imap_session_check(const struct imap_session *s);

/* Its result, or NULL when it could not be run; the session answers the login. */
void imap_session_verified(struct imap_session *s, const struct password_check *c, int64_t now_ms);

/* Ms to hold the output (a failed login), then 0 until the next failure. */
int64_t imap_session_delay(struct imap_session *s);

/* The output waiting to be sent. */
const uint8_t *imap_session_output(const struct imap_session *s, size_t *len_r);

/* n bytes of it were sent. */
void imap_session_output_consume(struct imap_session *s, size_t n);

/* 1 once a user logged in (the autologout timer applies, not the listener's). */
int imap_session_logged_in(const struct imap_session *s);

/* The client was silent too long: BYE, then SESSION_CLOSE. */
void imap_session_timeout(struct imap_session *s);

/* The server is stopping: BYE and SESSION_CLOSE (an APPEND under way is dropped). Returns 1. */
int imap_session_shutdown(struct imap_session *s);

/*
 * The store changed mailbox_id (0: any). Returns 1 if it concerns this
 * session (its selected mailbox): it has news (imap_session_pending())
 * for IDLE, or for its next command. Must not call the store.
 */
int imap_session_changed(struct imap_session *s, int64_t mailbox_id);

void imap_session_stats(const struct imap_session *s, struct imap_session_stats *st_r);

/* Free *sp (accepts NULL) and clear it. */
void imap_session_free(struct imap_session **sp);

/* ---- server.c: the SMTP, submission and IMAP listeners and connections (libevent) ---- */

#define SERVER_OUT_HIGH (64 * 1024)	/* bytes queued to a client before its input waits */
#define SERVER_CHECK_THREADS 1	/* threads for password checks (64 MiB each while checking) */
#define SERVER_CHECK_QUEUE 64	/* checks waiting for them; one more: 454, try again */

struct server;
struct tls_server;
struct event_base;

/*
 * Bind every listener of hc (smtp, submission, submissions, imap, imaps).
 * Binding happens here, before privileges are dropped; nothing is
 * accepted until the loop runs, and nothing may be before
 * server_set_store(). tls (borrowed, may be replaced in place by a
 * reload) serves STARTTLS and port 465. Returns the server, or NULL with
 * the reason in err.
 */
struct server *server_new(struct event_base *base, const struct home_conf *hc,
				    struct tls_server *tls, char *err, size_t errcap);

/*
 * The store sessions deliver into and read (borrowed; must outlive the
 * server's sessions). The server becomes its change listener
 * (store_set_notify), to wake IMAP sessions.
 */
void server_set_store(struct server *srv, struct store *st);

/* The MTA-STS policy the https listeners serve from now on (copied): mtasts_own_load(). */
struct mtasts_own;
void server_set_mtasts(struct server *srv, const struct mtasts_own *sts);

/*
 * A reload: new [home] hostname, [smtp], [imap], [auth] and per-listener
 * limits for listeners of the same name, whose sockets stay as they are.
 * A listener removed, or whose addresses, mode or proxy setting changed,
 * stops accepting at once (its sockets closed before any new one is
 * bound, so a new listener may take its address); its connections go on
 * to their end. Then the changed and new ones bind (event=reload
 * result=moved|added); one that cannot is logged (result=failed): a moved
 * one is bound again at its old addresses (kept=old_address), a new one
 * is left out; a later reload tries again. While the server stops, only
 * the settings change: nothing is bound. Returns how many listeners
 * failed; never fails as a whole.
 */
unsigned server_reload(struct server *srv, const struct home_conf *hc);

/*
 * Stop accepting; sessions between messages get 421 (IMAP: BYE) and
 * close, those receiving a message may finish it within [smtp]
 * shutdown_grace; then
 * the rest are cut. The loop exits (event_base_loopexit) once none is
 * left. Returns the sessions still open.
 */
unsigned server_stop(struct server *srv);

/* Open connections. */
unsigned server_active(const struct server *srv);

/* 1 while some session has answers on their way or work of its own (a long FETCH): background work waits. */
int server_busy(const struct server *srv);

/* The port listener i of the server is bound to (for tests with port 0). */
int server_listener_address(const struct server *srv, size_t i, struct addr *a_r);

/* Close every connection and listener, free *srvp (accepts NULL) and clear it. */
void server_free(struct server **srvp);

/* ---- store.c, store_sql.c, store_text.c: mail.db, the only code that speaks SQL (docs/store.md) ---- */

#define STORE_FILE "mail.db"		/* in the state directory */
#define STORE_SCHEMA_VERSION 5		/* PRAGMA user_version after the last migration */
#define STORE_DEDUP_WINDOW (5LL * 24 * 3600)	/* s a delivered message is remembered, against retries */
#define STORE_BUSY_TIMEOUT 5000		/* ms to wait for another process's write lock */
#define STORE_WAL_LIMIT (64 * 1024 * 1024) /* bytes the WAL is cut back to after a checkpoint */
#define STORE_CHUNK_MAX (64 * 1024)	/* bytes of a body in one row (and in RAM per delivery) */
#define STORE_BODY_MAX (256LL * 1024 * 1024) /* the largest body a delivery takes */
#define STORE_RCPT_MAX 1000		/* recipients of one delivery, local and remote */
#define STORE_RESOLVE_MAX 1000		/* users one address can deliver to */
#define STORE_LOCAL_MAX 64		/* octets of a local part */
#define STORE_DOMAIN_MAX 253		/* octets of a domain (a host name, A-labels) */
#define STORE_ADDRESS_MAX 320		/* an address as text, with its NUL */
#define STORE_HASH_MAX 256		/* a password hash string, with its NUL */
#define STORE_MAILBOX_NAME_MAX 256	/* a mailbox name, with its NUL */
#define STORE_SPECIAL_USE_MAX 16	/* "\Archive" and the others, with the NUL */
#define STORE_KEYWORDS_MAX 1024		/* a message's keywords as text, with the NUL */
#define STORE_ERR_MSG_MAX 256
#define STORE_QUEUE_ERROR_MAX 512	/* a queue entry's last error, with its NUL */
#define STORE_STMTS_MAX 160		/* prepared statements kept per connection */
#define STORE_SEARCH_NEEDLE_MAX (64 * 1024) /* bytes of a SEARCH string */

/* store_open() flags */
#define STORE_OPEN_RECOVER 0x01	/* remove pending bodies left by a crash: homeportd only */

/* What went wrong. The first group is TEMPORARY, the second PERMANENT. */
enum store_err_code {
	STORE_OK = 0,
	STORE_E_IO,		/* I/O error: SMTP 451 4.3.0 */
	STORE_E_FULL,		/* disk full: SMTP 452 4.3.1 */
	STORE_E_BUSY,		/* another process held the lock for STORE_BUSY_TIMEOUT */
	STORE_E_NOMEM,		/* out of memory */
	STORE_E_QUOTA,		/* a recipient's quota would be exceeded: SMTP 452 4.2.2 */
	STORE_E_CORRUPT,	/* mail.db is damaged: an operator must look (451 meanwhile) */
	STORE_E_INTERNAL,	/* any other local failure (a bug): 451 4.3.0 */
	STORE_E_EXISTS,		/* the name or address is taken */
	STORE_E_NOTFOUND,	/* no such domain, user, alias, mailbox, message or body */
	STORE_E_INUSE,		/* a domain that still has users */
	STORE_E_INVALID,	/* a malformed name, address, flag, or a bad call */
	STORE_E_TOOBIG,		/* a body over STORE_BODY_MAX: SMTP 552 5.3.4 */
	STORE_E_SCHEMA,		/* mail.db was written by a newer Homeport */
};

enum store_err_kind {
	STORE_ERR_NONE = 0,
	STORE_ERR_TEMPORARY,	/* try again later: nothing was changed */
	STORE_ERR_PERMANENT,	/* the request itself cannot succeed: nothing was changed */
};

/*
 * Every store function that can fail takes a struct store_err, owned by
 * the caller, and fills it when it returns -1 (it is not touched on
 * success). A failed call changes nothing in mail.db.
 */
struct store_err {
	int code;			/* enum store_err_code */
	int kind;			/* enum store_err_kind */
	char msg[STORE_ERR_MSG_MAX];	/* one line for the log, no peer bytes */
};

/* IMAP system flags (messages.flags); \Recent is per session, not stored. */
#define STORE_FLAG_SEEN 0x01
#define STORE_FLAG_ANSWERED 0x02
#define STORE_FLAG_FLAGGED 0x04
#define STORE_FLAG_DELETED 0x08
#define STORE_FLAG_DRAFT 0x10
#define STORE_FLAGS_ALL 0x1f

#define STORE_CHANGED_MAX 1024		/* mailboxes one transaction reports by id (more: 0, "any") */

struct store;			/* one connection to mail.db */
struct mime;			/* mime.h: a message's MIME structure */

/*
 * Told, after a commit, of each mailbox the transaction changed (a
 * message delivered, copied, moved, expunged, its flags; the mailbox
 * deleted), once per mailbox; mailbox_id 0 means "any of them" (more than
 * STORE_CHANGED_MAX). Runs inside the store call that committed: it must
 * not call the store; note and act later.
 */
typedef void (*store_notify_fn)(void *arg, int64_t mailbox_id);
struct store_delivery;		/* one message being received */

struct store_domain {
	int64_t id;
	char name[STORE_DOMAIN_MAX + 1];	/* lower case */
};

struct store_user {
	int64_t id;
	char address[STORE_ADDRESS_MAX];	/* local@domain */
	char password_hash[STORE_HASH_MAX];	/* as stored; "" from store_user_list() */
	int64_t quota;				/* bytes; 0: no limit */
	int64_t used;				/* bytes of its messages */
};

struct store_alias {
	char alias[STORE_ADDRESS_MAX];		/* local@domain, or @domain: the catch-all */
	char user[STORE_ADDRESS_MAX];		/* the user it delivers to */
};

struct store_mailbox {
	int64_t id;
	int64_t user_id;
	char name[STORE_MAILBOX_NAME_MAX];	/* "INBOX", "Sent", ... */
	char special_use[STORE_SPECIAL_USE_MAX]; /* RFC 6154 attribute ("\Sent"), or "" */
	uint32_t uidvalidity;
	uint32_t uidnext;			/* never goes down, even after expunges */
	uint64_t highestmodseq;
	uint32_t messages;			/* how many it holds now */
};

struct store_message {
	int64_t id;
	uint32_t uid;
	uint64_t modseq;
	int64_t internal_date;		/* Unix seconds */
	int64_t size;			/* octets of the body */
	unsigned flags;			/* STORE_FLAG_* */
	char *keywords;			/* space-separated atoms, "" for none; owned by the list */
	int64_t body_id;		/* for store_body_read() */
};

struct store_queue_entry {
	int64_t id;
	int64_t body_id;
	char mail_from[STORE_ADDRESS_MAX];	/* the envelope sender; "" for <> */
	char rcpt[STORE_ADDRESS_MAX];		/* one remote recipient */
	int64_t created;			/* Unix seconds */
	int64_t next_attempt;			/* Unix seconds */
	int attempts;
	char last_error[STORE_QUEUE_ERROR_MAX];	/* why the last attempt failed, "" before one */
};

/* "temporary", "permanent" or "none". */
const char *store_err_kind_name(int kind);

/*
 * Open path (normally STATE_DIR/mail.db), creating it if missing: WAL
 * journal, synchronous=FULL, foreign keys on, STORE_BUSY_TIMEOUT. Applies
 * every migration the file lacks, each in its own transaction; refuses a
 * file whose schema is newer than STORE_SCHEMA_VERSION (STORE_E_SCHEMA,
 * the file untouched). With STORE_OPEN_RECOVER, deletes the pending
 * bodies an earlier run left behind: only the one process that delivers
 * (homeportd) may pass it, never the homeport command beside it.
 * Returns the store (release with store_close()), or NULL with err set.
 */
struct store *store_open(const char *path, int flags, struct store_err *err);

/*
 * Close the connection (NULL is fine) and clear *stp. Every delivery of
 * this store must have been freed before.
 */
void store_close(struct store **stp);

/* Who is told of changed mailboxes (store_notify_fn); fn NULL: nobody. */
void store_set_notify(struct store *st, store_notify_fn fn, void *arg);

/*
 * PRAGMA integrity_check, then PRAGMA foreign_key_check. Returns 0 if the
 * first answers "ok" and the second finds nothing, else -1 with err set
 * (STORE_E_CORRUPT and the first complaint, or the error that stopped it).
 */
int store_integrity_check(struct store *st, struct store_err *err);

/*
 * Domains. Names are host names of at most STORE_DOMAIN_MAX octets,
 * matched without regard to ASCII case and stored in lower case.
 * add: 0, or -1 (STORE_E_INVALID, STORE_E_EXISTS, temporary).
 * remove: also removes the domain's aliases and catch-all; refused with
 * STORE_E_INUSE while users remain. 0, or -1.
 * list: *list_r is an array of *n_r domains by name, the caller free()s
 * it (NULL when empty). 0, or -1.
 * is_local: *local_r 1 if name is one of ours, else 0. 0, or -1.
 */
int store_domain_add(struct store *st, const char *name, struct store_err *err);
int store_domain_remove(struct store *st, const char *name, struct store_err *err);
int store_domain_list(struct store *st, struct store_domain **list_r, size_t *n_r,
		      struct store_err *err);
int store_domain_is_local(struct store *st, const char *name, int *local_r, struct store_err *err);

/*
 * Add the user "local@domain" (domain already added; local part 1 to
 * STORE_LOCAL_MAX octets, no '@', no space or control character, kept
 * exactly, case included) with a password hash string stored as given
 * (hashing is the caller's) and a quota in bytes (0: none). Creates its
 * mailboxes INBOX, Sent, Drafts, Junk, Trash and Archive with their
 * special-use attributes, in the same transaction. The address must not
 * be an alias. Sets *id_r if not NULL. Returns 0, or -1
 * (STORE_E_INVALID, STORE_E_NOTFOUND for the domain, STORE_E_EXISTS).
 */
int store_user_add(struct store *st, const char *address, const char *password_hash,
		   int64_t quota, int64_t *id_r, struct store_err *err);

/*
 * Remove a user with its mailboxes, messages and alias entries; bodies
 * nobody else refers to go too. Returns 0, or -1 (STORE_E_NOTFOUND).
 */
int store_user_remove(struct store *st, const char *address, struct store_err *err);

/* Fill *u for address (or for id). Returns 0, or -1 (STORE_E_NOTFOUND). */
int store_user_get(struct store *st, const char *address, struct store_user *u,
		   struct store_err *err);
int store_user_get_id(struct store *st, int64_t id, struct store_user *u, struct store_err *err);

/*
 * The users of domain (NULL: all), ordered by address, without password
 * hashes. *list_r: caller free()s it (NULL when empty). Returns 0, or -1.
 */
int store_user_list(struct store *st, const char *domain, struct store_user **list_r,
		    size_t *n_r, struct store_err *err);

/* Replace a user's password hash or quota. Returns 0, or -1 (STORE_E_NOTFOUND). */
int store_user_set_password(struct store *st, const char *address, const char *password_hash,
			    struct store_err *err);
int store_user_set_quota(struct store *st, const char *address, int64_t quota,
			 struct store_err *err);

/*
 * Aliases. alias is "local@domain", or "@domain" for the domain's
 * catch-all; its domain must be ours, its address no user's. It delivers
 * to user (an existing user, in any of our domains); one alias may have
 * several users, added one at a time.
 * add: 0, or -1 (STORE_E_INVALID, STORE_E_NOTFOUND, STORE_E_EXISTS).
 * remove: user NULL removes every user of the alias. 0, or -1
 * (STORE_E_NOTFOUND if nothing matched).
 * list: every alias of domain (NULL: all), one entry per user, ordered;
 * *list_r: caller free()s it (NULL when empty). 0, or -1.
 */
int store_alias_add(struct store *st, const char *alias, const char *user, struct store_err *err);
int store_alias_remove(struct store *st, const char *alias, const char *user,
		       struct store_err *err);
int store_alias_list(struct store *st, const char *domain, struct store_alias **list_r,
		     size_t *n_r, struct store_err *err);

/*
 * The users a recipient local@domain delivers to: the user with exactly
 * that local part if there is one; else the alias's users; else the
 * domain's catch-all's users; else none. The domain is matched without
 * regard to ASCII case; the local part octet for octet, as the session
 * gives it (unquoted, escapes removed). Writes up to cap ids, ascending,
 * to ids and their number to *n_r (0: not ours, or no such user).
 * Returns 0, or -1 (STORE_E_INTERNAL if more than cap).
 */
int store_resolve(struct store *st, const char *local, const char *domain, int64_t *ids,
		  size_t cap, size_t *n_r, struct store_err *err);

/*
 * A user's mailboxes by name; *list_r: caller free()s it. Returns 0, or
 * -1 (STORE_E_NOTFOUND if the user has none: no such user).
 */
int store_mailbox_list(struct store *st, int64_t user_id, struct store_mailbox **list_r,
		       size_t *n_r, struct store_err *err);

/* Fill *mb for the user's mailbox name. Returns 0, or -1 (STORE_E_NOTFOUND). */
int store_mailbox_get(struct store *st, int64_t user_id, const char *name,
		      struct store_mailbox *mb, struct store_err *err);

/*
 * A mailbox's messages by UID. *list_r (NULL when empty) and its keywords
 * belong to the caller: release with store_message_list_free(). Returns
 * 0, or -1.
 */
int store_message_list(struct store *st, int64_t mailbox_id, struct store_message **list_r,
		       size_t *n_r, struct store_err *err);

/* Free a list from store_message_list() (NULL is fine) and clear *list. */
void store_message_list_free(struct store_message **list, size_t n);

/*
 * The messages of a mailbox with first_uid <= UID <= last_uid and a
 * MODSEQ above since_modseq (0: all), by UID; released as
 * store_message_list()'s. Returns 0, or -1.
 */
int store_message_range(struct store *st, int64_t mailbox_id, uint32_t first_uid, uint32_t last_uid,
			uint64_t since_modseq, struct store_message **list_r, size_t *n_r,
			struct store_err *err);

/* Fill *mb for mailbox_id. Returns 0, or -1 (STORE_E_NOTFOUND). */
int store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *mb,
			 struct store_err *err);

/* What STATUS counts of a mailbox. */
struct store_mailbox_counts {
	uint64_t unseen;	/* messages without \Seen */
	uint64_t deleted;	/* with \Deleted */
	uint64_t size;		/* octets of all its messages */
};

/* Count mailbox_id's messages. Returns 0, or -1. */
int store_mailbox_count(struct store *st, int64_t mailbox_id, struct store_mailbox_counts *c_r,
			struct store_err *err);

enum store_flags_op {
	STORE_FLAGS_SET,	/* the flags and keywords become these */
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
};

/* A change of flags for several messages (IMAP STORE). */
struct store_flags_update {
	int op;				/* enum store_flags_op */
	unsigned flags;			/* STORE_FLAG_* */
	const char *keywords;		/* space-separated atoms ("" none), matched without regard to case */
	uint64_t unchangedsince;	/* CONDSTORE: leave a message whose MODSEQ is above this; 0: none */
	int always;			/* a new MODSEQ even when nothing changes */
	uint32_t *failed;		/* the UIDs left by unchangedsince, up to failed_cap */
	size_t failed_cap;
};

struct store_flags_result {
	uint64_t modseq;	/* the one new MODSEQ of every changed message; 0: none changed */
	size_t found;		/* UIDs that exist */
	size_t changed;
	size_t nfailed;		/* left by unchangedsince (more than failed_cap: only those written) */
};

/*
 * Apply u to the messages of uids[0..n) that exist, in one transaction:
 * the ones whose flags or keywords change get one new MODSEQ. Returns 0
 * with *res, or -1 (STORE_E_INVALID: unknown flags, a bad keyword, too
 * many keywords).
 */
int store_message_update_flags(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
			       const struct store_flags_update *u, struct store_flags_result *res,
			       struct store_err *err);

/*
 * Set a message's flags (STORE_FLAG_*) and keywords (space-separated IMAP
 * atoms, "" for none, under STORE_KEYWORDS_MAX): it gets the mailbox's
 * next MODSEQ, written to *modseq_r if not NULL. Returns 0, or -1
 * (STORE_E_INVALID, STORE_E_NOTFOUND).
 */
int store_message_set_flags(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned flags,
			    const char *keywords, uint64_t *modseq_r, struct store_err *err);

/*
 * Expunge one message: its row goes, the user's usage drops by its size,
 * the mailbox's HIGHESTMODSEQ goes up, its body goes if nothing else
 * refers to it. Its UID is never given again. Returns 0, or -1
 * (STORE_E_NOTFOUND).
 */
int store_message_expunge(struct store *st, int64_t mailbox_id, uint32_t uid,
			  struct store_err *err);

/* ---- store_mailbox.c: IMAP's mailbox operations ---- */

#define STORE_MAILBOX_DELIM '/'		/* the hierarchy delimiter */
#define STORE_MAILBOX_DEPTH_MAX 32	/* levels of a mailbox name */

/*
 * Check a mailbox name and write its stored form into out: "INBOX" in
 * any case (alone or as the first level) becomes "INBOX"; the rest is
 * kept. Refused (STORE_E_INVALID): empty, not UTF-8, control characters,
 * '%' or '*', an empty level ("a//b", "/a", "a/"), more than
 * STORE_MAILBOX_DEPTH_MAX levels, too long. Pure. Returns 0 or -1.
 */
int store_mailbox_name(const char *name, char out[STORE_MAILBOX_NAME_MAX], struct store_err *err);

/*
 * A new empty mailbox with a new UIDVALIDITY (not subscribed). Returns 0
 * and fills *mb_r (may be NULL), or -1 (STORE_E_INVALID, STORE_E_EXISTS,
 * STORE_E_NOTFOUND: no such user).
 */
int store_mailbox_create(struct store *st, int64_t user_id, const char *name,
			 struct store_mailbox *mb_r, struct store_err *err);

/*
 * Delete a mailbox with its messages (usage drops, bodies nothing else
 * holds go). Mailboxes below it stay; subscriptions stay (RFC 9051
 * 6.3.5, 6.3.7). INBOX cannot be deleted (STORE_E_INVALID). Returns 0,
 * or -1 (STORE_E_NOTFOUND).
 */
int store_mailbox_delete(struct store *st, int64_t user_id, const char *name, struct store_err *err);

/*
 * Rename from and every mailbox below it to to (keeping UIDVALIDITY,
 * UIDs and special use); subscriptions follow. Renaming INBOX moves its
 * messages into a new mailbox to, and INBOX stays, empty (RFC 9051
 * 6.3.6). Returns 0, or -1 (STORE_E_NOTFOUND, STORE_E_EXISTS when to or
 * a new name below it is taken, STORE_E_INVALID for to below from).
 */
int store_mailbox_rename(struct store *st, int64_t user_id, const char *from, const char *to,
			 struct store_err *err);

/* Subscribe to name (subscribed = 1) or not; the mailbox need not exist. Returns 0 or -1. */
int store_subscription_set(struct store *st, int64_t user_id, const char *name, int subscribed,
			   struct store_err *err);

/* The names user_id subscribed to, sorted, into *names_r (free()). Returns 0 or -1. */
int store_subscription_list(struct store *st, int64_t user_id, char (**names_r)[STORE_MAILBOX_NAME_MAX],
			    size_t *n_r, struct store_err *err);

/*
 * Expunge the messages of uids[0..n) that exist (the others are
 * skipped): one transaction, one new MODSEQ for all of them, each UID
 * remembered with it for QRESYNC. *modseq_r (may be NULL) gets that
 * MODSEQ, or 0 when none existed. Returns 0 or -1.
 */
int store_message_expunge_uids(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
			       uint64_t *modseq_r, struct store_err *err);

/* UIDs expunged from mailbox_id with a MODSEQ above modseq, ascending, into *uids_r (free()). */
int store_expunged_since(struct store *st, int64_t mailbox_id, uint64_t modseq, uint32_t **uids_r,
			 size_t *n_r, struct store_err *err);

/*
 * Copy (move = 0) or move (move = 1) the messages of uids[0..n) from one
 * mailbox to another of the same user, in one transaction: each gets the
 * target's next UID, in the order given, into new_uids[i] (0 for a UID
 * that does not exist), keeping flags, keywords and internal date; the
 * body is shared, not copied. A copy counts against the quota
 * (STORE_E_QUOTA); a move leaves usage as it is and expunges the source
 * UIDs as store_message_expunge_uids() does. Returns 0 or -1
 * (STORE_E_NOTFOUND for a mailbox, STORE_E_INVALID for two users' or the
 * same mailbox).
 */
int store_message_copy(struct store *st, int64_t from_mailbox, const uint32_t *uids, size_t n,
		       int64_t to_mailbox, int move, uint32_t *new_uids, struct store_err *err);

/*
 * Read up to cap bytes of a committed body from offset into buf; *len_r
 * is how many (0 at or past the end). Returns 0, or -1 (STORE_E_NOTFOUND).
 */
int store_body_read(struct store *st, int64_t body_id, int64_t offset, void *buf, size_t cap,
		    size_t *len_r, struct store_err *err);

/* ---- store_text.c: the MIME structure and the full-text index of bodies ---- */

/* What store_search_text() looks in (IMAP SEARCH keys, RFC 9051 6.4.4). */
enum store_search_field {
	STORE_SEARCH_TEXT,	/* TEXT: the header and the body */
	STORE_SEARCH_BODY,	/* BODY: the text parts (and embedded messages' headers) */
	STORE_SEARCH_SUBJECT,	/* SUBJECT: the decoded Subject */
	STORE_SEARCH_FROM,	/* FROM, TO, CC, BCC: that field, decoded, as text */
	STORE_SEARCH_TO,
	STORE_SEARCH_CC,
	STORE_SEARCH_BCC,
	STORE_SEARCH_HEADER,	/* the whole header block (a first cut for SEARCH HEADER) */
	STORE_SEARCH_FIELDS,
};

/*
 * The MIME structure of a committed body (BODYSTRUCTURE, ENVELOPE,
 * BODY[section] offsets), kept since delivery. A body stored before
 * schema v3 (or whose blob cannot be read) is parsed from its bytes now,
 * streamed, and the blob saved for next time. Returns 0 and *m_r
 * (mime_free()), or -1 (STORE_E_NOTFOUND, STORE_E_NOMEM, ...).
 */
int store_body_mime(struct store *st, int64_t body_id, struct mime **m_r, struct store_err *err);

/*
 * The UIDs of mailbox_id's messages whose field contains needle[0..len)
 * (UTF-8, CRs ignored), ascending, into *uids_r (free(); NULL when none).
 * Case-insensitive substring match (RFC 9051 6.4.4): 3 characters or
 * more through the trigram index (any letter's case); fewer by LIKE on
 * the stored text (ASCII's case only); an empty needle matches every
 * message. Bodies not yet indexed in that mailbox are indexed first.
 * Returns 0, or -1 (STORE_E_INVALID: an unknown field, a needle that is
 * not UTF-8, holds a NUL, or is over STORE_SEARCH_NEEDLE_MAX bytes).
 */
int store_search_text(struct store *st, int64_t mailbox_id, int field, const char *needle, size_t len,
		      uint32_t **uids_r, size_t *n_r, struct store_err *err);

/*
 * Index up to max bodies that are not yet (delivered since, or stored
 * before schema v3), one short transaction each: MIME blob if missing,
 * and text. *done_r gets how many it indexed, *left_r how many are still
 * left (either may be NULL). homeportd runs it behind deliveries
 * (main.c). Returns 0, or -1 (then the body it stopped at stays as it
 * was).
 */
int store_text_backfill(struct store *st, size_t max, size_t *done_r, size_t *left_r,
			struct store_err *err);

/*
 * Receive one message, streamed: begin, add recipients, write the body in
 * pieces of any size, commit, free. The body goes to mail.db in rows of
 * STORE_CHUNK_MAX, each in a short transaction that needs no fsync, while
 * it is still "pending" (no message refers to it); the bytes also go
 * through a MIME parser as they come. The commit is one transaction with
 * synchronous=FULL that makes the body complete with its MIME blob and its
 * row in the text index, gives each local user a message in INBOX (or
 * APPENDs to one mailbox), queues each remote recipient and charges the
 * quotas. Only after store_delivery_commit() returned 0 may the message
 * be acknowledged (SMTP 250, IMAP APPEND's OK).
 *
 * begin: mail_from is the envelope sender ("" for <>), kept for the queue.
 * Returns a delivery (release with store_delivery_free()) or NULL with
 * err set. st is borrowed and must outlive the delivery.
 */
struct store_delivery *store_delivery_begin(struct store *st, const char *mail_from,
					    struct store_err *err);

/*
 * Add a local recipient: a user id from store_resolve(); the same user
 * twice gets one message. Returns 0, or -1 (STORE_E_INVALID past
 * STORE_RCPT_MAX).
 */
int store_delivery_add_user(struct store_delivery *d, int64_t user_id, struct store_err *err);

/*
 * APPEND: the message goes into mailbox_id (any user's), with flags
 * (STORE_FLAG_*) and keywords (as store_message_set_flags()), counted
 * against its user's quota. One mailbox per delivery, and then no users
 * or remote recipients. After the commit, store_delivery_uid() and
 * store_delivery_uidvalidity() give APPENDUID's numbers. Returns 0, or -1
 * (STORE_E_NOTFOUND: no such mailbox; STORE_E_INVALID).
 */
int store_delivery_add_mailbox(struct store_delivery *d, int64_t mailbox_id, unsigned flags,
			       const char *keywords, struct store_err *err);

/*
 * Add a remote recipient, one queue row at commit: rcpt is its address
 * as the SMTP client will send it (copied). The same string twice is
 * kept once. Returns 0, or -1 (STORE_E_INVALID).
 */
int store_delivery_add_remote(struct store_delivery *d, const char *rcpt, struct store_err *err);

/*
 * Append data[0..len) to the body. At most STORE_CHUNK_MAX bytes of it
 * stay in memory, besides the MIME parser's state (its limits bound it).
 * Returns 0, or -1 (temporary errors, STORE_E_TOOBIG); after -1 the
 * delivery can only be freed.
 */
int store_delivery_write(struct store_delivery *d, const void *data, size_t len,
			 struct store_err *err);

/*
 * Commit: one transaction, durable when this returns 0. internal_date is
 * the messages' IMAP internal date (Unix seconds). At least one
 * recipient (or a mailbox) is needed. The text is extracted before the
 * transaction starts (reading the chunks written so far back). Every local recipient must be within quota after
 * adding the body's size, else nothing is delivered (STORE_E_QUOTA,
 * temporary). Returns 0, or -1 (and the delivery can only be freed).
 */
int store_delivery_commit(struct store_delivery *d, int64_t internal_date,
			  struct store_err *err);

/*
 * What follows is the message as the client sent it (after the trace
 * fields the server adds): from here on the content is hashed with the
 * envelope sender, and at the commit, when the message has a Message-ID
 * field, a local user who was given the same within STORE_DEDUP_WINDOW is
 * not given it again (a client retrying a message whose 250 it never
 * heard). Not called, or no Message-ID: no such check.
 */
void store_delivery_content(struct store_delivery *d);

/* After the commit: how many local users were not given the message again. */
size_t store_delivery_duplicates(const struct store_delivery *d);

/* The body's id once committed (for logs: "queued as"), else 0; 0 when every recipient had it. */
int64_t store_delivery_body_id(const struct store_delivery *d);

/* After a committed APPEND: the message's UID and its mailbox's UIDVALIDITY; else 0. */
uint32_t store_delivery_uid(const struct store_delivery *d);
uint32_t store_delivery_uidvalidity(const struct store_delivery *d);

/*
 * Free a delivery (NULL is fine) and clear *dp. One not committed is
 * aborted: its pending body is deleted (if that fails, the next
 * store_open() with STORE_OPEN_RECOVER deletes it).
 */
void store_delivery_free(struct store_delivery **dp);

/* ---- store_queue.c: the outbound queue, one row per remote recipient ---- */

/*
 * list: every entry, oldest first. due: at most max entries whose
 * next_attempt is at or before now, soonest first. *list_r: the caller
 * free()s it (NULL when empty). Returns 0, or -1.
 */
int store_queue_list(struct store *st, struct store_queue_entry **list_r, size_t *n_r,
		     struct store_err *err);
int store_queue_due(struct store *st, int64_t now, size_t max, struct store_queue_entry **list_r,
		    size_t *n_r, struct store_err *err);

/* One entry by id. Returns 0, or -1 (STORE_E_NOTFOUND). */
int store_queue_get(struct store *st, int64_t id, struct store_queue_entry *q_r, struct store_err *err);

/*
 * An attempt failed for now: count it, keep error (cut to
 * STORE_QUEUE_ERROR_MAX - 1 bytes) and try again at next_attempt.
 * Returns 0, or -1 (STORE_E_NOTFOUND).
 */
int store_queue_defer(struct store *st, int64_t id, int64_t next_attempt, const char *error,
		      struct store_err *err);

/*
 * Try entry id (0: every entry) at now instead of later. *n_r (may be
 * NULL): how many. Returns 0, or -1 (STORE_E_NOTFOUND for an id).
 */
int store_queue_retry(struct store *st, int64_t id, int64_t now, size_t *n_r, struct store_err *err);

/*
 * Remove a queue entry (delivered, bounced, or deleted by the owner); its
 * body goes if nothing else refers to it. Returns 0, or -1 (STORE_E_NOTFOUND).
 */
int store_queue_remove(struct store *st, int64_t id, struct store_err *err);

/* What one attempt did to one entry, for store_queue_settle(). */
struct store_queue_outcome {
	int64_t id;
	int remove;			/* 1: delivered or bounced; 0: deferred */
	int64_t next_attempt;		/* deferred: when to try again */
	const char *error;		/* deferred: why (cut as store_queue_defer's) */
};

/*
 * Every outcome of one attempt in one durable transaction (one fsync, not
 * one per recipient): each entry removed, or deferred as by
 * store_queue_defer(). An entry that is gone already (deleted meanwhile)
 * is skipped. Returns 0, or -1 with nothing changed.
 */
int store_queue_settle(struct store *st, const struct store_queue_outcome *o, size_t n,
		       struct store_err *err);

/* ---- store_sts.c: MTA-STS policies seen, kept across restarts ---- */

#define STORE_STS_ID_MAX 33		/* an MTA-STS id (1 to 32 letters and digits) with its NUL */
#define STORE_STS_POLICY_MAX 16384	/* a policy as kept, with its NUL */

struct store_sts {
	char id[STORE_STS_ID_MAX];
	int64_t fetched;			/* Unix seconds */
	int64_t expires;			/* fetched + max_age */
	char policy[STORE_STS_POLICY_MAX];	/* the policy's text */
};

/*
 * The policy kept for domain (any case) that has not expired at now.
 * Returns 0 with *s_r, or -1 (STORE_E_NOTFOUND: none, or expired).
 */
int store_sts_get(struct store *st, const char *domain, int64_t now, struct store_sts *s_r,
		  struct store_err *err);

/*
 * Keep s for domain, replacing what it had; rows expired before s->fetched
 * go. Returns 0, or -1 (STORE_E_INVALID: a domain or id that is not one,
 * a policy that does not fit).
 */
int store_sts_put(struct store *st, const char *domain, const struct store_sts *s,
		  struct store_err *err);

/* ---- pidfile.c: STATE_DIR/homeportd.pid, for the commands that make homeportd reload ---- */

#define PIDFILE_NAME "homeportd.pid"
#define PIDFILE_TEXT_MAX 32		/* the file's bytes, and /proc/PID/comm's, at most (less one) */
#define PIDFILE_PID_MAX 4194304		/* PID_MAX_LIMIT on 64-bit Linux */
#define PIDFILE_COMM_MAX 15		/* TASK_COMM_LEN - 1: what /proc/PID/comm keeps of a name */

/* STATE_DIR/homeportd.pid into out[0..cap). Returns 0, or -1 if it does not fit. */
int pidfile_path(const char *state_dir, char *out, size_t cap);

/* The PID in text[0..len): digits, maybe one newline. Returns 0 with *pid_r, or -1. */
int pidfile_parse(const char *text, size_t len, pid_t *pid_r);

/* Write this process's PID to path atomically (0644). Returns 0, or -1 with err set. */
int pidfile_write(const char *path, char *err, size_t errcap);

/* Remove path if it names this process (a newer homeportd's file stays). */
void pidfile_remove(const char *path);

/* The PID path names. Returns 0, or -1 (no file, unreadable, not a PID). */
int pidfile_read(const char *path, pid_t *pid_r);

/* 1 if process pid runs and is called comm (/proc/PID/comm, cut to PIDFILE_COMM_MAX), else 0. */
int pidfile_comm_is(pid_t pid, const char *comm);

/* 1 if process pid runs with effective uid uid (/proc/PID/status), else 0. */
#define PIDFILE_STATUS_MAX 4096	/* the start of /proc/PID/status read, Uid: included */
int pidfile_uid_is(pid_t pid, uid_t uid);

/*
 * Send sig to the process path names if it is called comm and runs as
 * uid, through a pidfd (a PID reused meanwhile gets nothing). Returns 1
 * with *pid_r set (sent), 0 when none runs (no file, a stale one, another
 * program or user), or -1 with errno when the signal could not be sent.
 */
int pidfile_signal(const char *path, const char *comm, uid_t uid, int sig, pid_t *pid_r);

/* ---- queue.c: the outbound queue's runner (deliveries: smtp_client.c) ---- */

struct queue;
struct dkim_keys;

/*
 * Start running the queue of st on base with hc's [outbound]: the
 * resolver, the TLS client, the delivery threads, signing with keys
 * (dkim_keys_load(); borrowed, outlives the runner). Returns the runner,
 * or NULL with err set.
 */
struct queue *queue_new(struct event_base *base, const struct home_conf *hc, struct store *st,
			const struct dkim_keys *keys, char *err, size_t errcap);

/* Start no more attempts; running ones give up their waits (their entries stay due). */
void queue_stop(struct queue *q);

/*
 * A reload: [outbound] transport and egress from hc (relay on or off
 * changes them) for attempts that start from now on; those under way go
 * on as they started. Logged when they changed. The rest of [outbound]
 * is read at start only.
 */
void queue_reload(struct queue *q, const struct home_conf *hc);

/* Stop, wait for the delivery threads, free. NULL is fine; clears *qp. Before store_close(). */
void queue_free(struct queue **qp);

/* ---- store_sql.c: the schema, as migrations (docs/store.md) ---- */

/*
 * store_sql_migrations[i] turns a schema of version i into version i + 1;
 * there are STORE_SCHEMA_VERSION of them. Each is one SQL script; the
 * store runs it in a transaction with the new user_version.
 */
extern const char *const store_sql_migrations[STORE_SCHEMA_VERSION];

/* ---- login.c: a login's lookup, throttle and result, for SMTP AUTH and IMAP ---- */

#define LOGIN_PEER_TEXT_MAX 64

/* The client as logins name it: for logs, and its throttle key. */
struct login_peer {
	char ip[LOGIN_PEER_TEXT_MAX];		/* "198.51.100.25", "IPv6:2001:db8::1", or "unknown" */
	char key[LOGIN_PEER_TEXT_MAX + 8];	/* "ip:" and the IPv4 address or the IPv6 /64 */
};

/* Fill *lp for peer (NULL: unknown). */
void login_peer_init(struct login_peer *lp, const struct addr *peer);

/* What a session lends its logins. */
struct login_env {
	struct store *st;
	struct throttle *th;
	const struct login_peer *peer;
	const char *sid;		/* for the log */
	const char *dummy_hash;		/* checked when the name is nobody's (same cost); may be NULL */
};

/* One login between its lookup and its password check's result. */
struct login {
	int found;				/* the name is an account */
	int64_t user_id;
	char address[STORE_ADDRESS_MAX];	/* the account's address, when found */
	char key[THROTTLE_KEY_MAX];		/* the account's throttle key */
	char esc[2 * STORE_ADDRESS_MAX];	/* the name as given, escaped for logs */
	struct password_check check;		/* what the caller runs off the loop */
};

enum login_begin_result {
	LOGIN_CHECK,		/* run l->check (password_check_run) and give it to login_end() */
	LOGIN_TEMPFAIL,		/* the store failed (logged): "try again later" */
	LOGIN_LOCKED,		/* the source or the account is locked (logged): "try again later" */
};

enum login_end_result {
	LOGIN_OK,		/* l->user_id and l->address are the user */
	LOGIN_FAILED,		/* wrong name or password: hold the answer *delay_r ms */
	LOGIN_UNAVAILABLE,	/* the check could not be run: "try again later" */
};

/*
 * Start a login with name[0..namelen) and pass[0..passlen): look the
 * account up, refuse a locked source or account, and fill l->check (a
 * nobody gets the dummy hash, so time does not tell who exists).
 * Returns enum login_begin_result.
 */
int login_begin(struct login *l, const struct login_env *env, const char *name, size_t namelen,
		const char *pass, size_t passlen, int64_t now_ms);

/*
 * The check ran (c) or could not (NULL): count a failure (and the delay
 * its answer waits, *delay_r), or clear the throttle and store a rehash.
 * l->check is wiped. Returns enum login_end_result.
 */
int login_end(struct login *l, const struct login_env *env, const struct password_check *c,
	      int64_t now_ms, int64_t *delay_r);

/* A SASL PLAIN message (RFC 4616): [authzid] NUL authcid NUL passwd, spans into the message. */
struct login_plain {
	const char *authz, *authc, *pass;
	size_t authz_len, authc_len, pass_len;
	int other_authz;	/* an authorization identity other than authcid: refused */
};

/* Split msg[0..n). Returns 0, or -1 when it is not two NULs apart. Pure. */
int login_plain_split(const uint8_t *msg, size_t n, struct login_plain *p_r);

#endif
