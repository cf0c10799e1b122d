/*
 * home.h: homeportd's and homeport's internal interfaces, by file.
 */
#ifndef HOMEPORT_HOME_H
#define HOMEPORT_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define HOME_CONF_DEFAULT "/etc/homeport/homeportd.conf"
#define HOME_STATE_DIR_DEFAULT "/var/lib/homeport"
#define HOME_PATH_MAX 4096

/* ---- home_conf.c: homeportd.conf ---- */

enum home_listener_mode {
	HOME_LISTENER_SMTP,		/* MX, port 25, STARTTLS offered */
	HOME_LISTENER_SUBMISSION,	/* port 587, STARTTLS required before AUTH */
	HOME_LISTENER_SUBMISSIONS,	/* port 465, implicit TLS */
	HOME_LISTENER_IMAP,		/* port 143, STARTTLS required before LOGIN */
	HOME_LISTENER_IMAPS,		/* port 993, implicit TLS */
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
};

struct home_conf {
	struct conf *conf;		/* owns everything below */
	struct home_main_conf *main;
	struct home_tls_conf *tls;
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

#endif
