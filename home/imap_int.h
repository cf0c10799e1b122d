/*
 * imap_int.h: what the IMAP session's files share, and nothing else may
 * include. The session is one struct; each file does one part of it:
 *
 *   imap_session.c  input, output, states, login, the commands of no mailbox
 *   imap_mailbox.c  LIST, LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS, quotas
 *   imap_view.c     the selected mailbox: SELECT, sequence numbers, news from the store
 *   imap_fetch.c    FETCH, streamed, as long as it takes
 *   imap_search.c   SEARCH criteria and ESEARCH
 *   imap_message.c  STORE, COPY, MOVE, EXPUNGE, APPEND
 */
#ifndef HOMEPORT_IMAP_INT_H
#define HOMEPORT_IMAP_INT_H

#include <stdarg.h>

#include "home.h"
#include "dnsname.h"
#include "imap_parse.h"
#include "log.h"

#define IMS_OUT_HARD_MAX (16 * 1024 * 1024)	/* output held, whatever the answer: past it, BYE */
#define IMS_LINE_MAX (IMAP_SESSION_SASL_MAX + 2)	/* an AUTHENTICATE or IDLE line we read ourselves */
#define IMS_SEQ_MAX 4096			/* elements of one sequence set */

enum ims_state {
	IMS_NOT_AUTH,		/* before login */
	IMS_AUTH,		/* logged in, no mailbox selected */
	IMS_SELECTED,
	IMS_LOGOUT,		/* BYE sent */
};

/* What reads the input now, besides the command parser. */
enum ims_reader {
	IMS_READ_COMMANDS,	/* imap_parse */
	IMS_READ_SASL,		/* an AUTHENTICATE response line */
	IMS_READ_IDLE,		/* "DONE" */
};

/* ENABLE'd extensions */
#define IMS_EN_CONDSTORE 0x01
#define IMS_EN_QRESYNC 0x02
#define IMS_EN_REV2 0x04
#define IMS_EN_UTF8 0x08

/* The selected mailbox as this session sees it: sequence number i + 1 is uids[i]. */
struct ims_view {
	int64_t id;
	char name[STORE_MAILBOX_NAME_MAX];
	int readonly;			/* EXAMINE */
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t n, cap;
	uint64_t modseq;		/* changes up to this were told */
	uint64_t own_modseq;		/* the MODSEQ of this session's last flag change, told already */
	int news;			/* the store said it changed */
	int gone;			/* deleted or renamed away under us */
};

struct ims_fetch;	/* a FETCH under way (imap_fetch.c) */

struct imap_session {
	/* From the parameters. */
	char hostname[DNSNAME_MAX + 1];
	int tls_offered;
	int64_t append_max;
	unsigned max_errors;
	struct login_peer lpeer;
	char sid[LOG_SID_LEN];
	const char *dummy_hash;
	struct store *st;
	struct throttle *th;

	/* Output, and what the caller must do. */
	uint8_t *out;
	size_t outoff, outlen, outcap;	/* bytes out[outoff..outlen) wait */
	int action;
	int64_t delay_ms;
	int64_t now_ms;

	/* Input. */
	struct imap_parse *p;
	int reader;			/* enum ims_reader */
	char line[IMS_LINE_MAX];	/* IMS_READ_SASL, IMS_READ_IDLE */
	size_t linelen;
	int line_over;
	char tag[IMAP_PARSE_TAG_MAX + 1];	/* the command being answered */
	int uid;			/* it came with UID */

	/* The session. */
	int state;			/* enum ims_state */
	int tls;
	unsigned enabled;		/* IMS_EN_* */
	int64_t user_id;
	char user[STORE_ADDRESS_MAX];
	struct login login;		/* waiting for its check (SESSION_VERIFY) */
	unsigned commands, errors;
	struct ims_view view;		/* IMS_SELECTED */
	struct ims_fetch *fetch;	/* a FETCH under way, or NULL */

	/* APPEND under way. */
	struct store_delivery *append;
	int append_failed;		/* a store error: the rest is read and dropped */
	int64_t append_date;		/* its internal date */
	struct store_err append_err;
};

/* ---- imap_session.c ---- */

/* Append formatted text to the output. Returns 0, or -1 (past IMS_OUT_HARD_MAX: BYE follows). */
int ims_out(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append bytes as they are. */
int ims_out_raw(struct imap_session *s, const void *p, size_t len);

/* Room for n more bytes at the returned place (NULL: too much, BYE follows); then ims_out_commit() what was written. */
uint8_t *ims_out_space(struct imap_session *s, size_t n);
void ims_out_commit(struct imap_session *s, size_t n);

/* Append s[0..len) as an IMAP string: quoted when it can be, else a literal. */
int ims_out_string(struct imap_session *s, const char *str, size_t len);

/* Room left before a long answer pauses (IMAP_SESSION_OUT_LOW). */
size_t ims_out_room(const struct imap_session *s);

/* The tagged answer "TAG OK|NO|BAD text" to the current command. BAD counts as an error. */
void ims_ok(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ims_no(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ims_bad(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A store failure for the current command: NO [UNAVAILABLE] (temporary) or NO [SERVERBUG], logged. */
void ims_store_failed(struct imap_session *s, const char *during, const struct store_err *err);

/* The mailbox argument a (astring, modified UTF-7 unless UTF8=ACCEPT) as the store names it. Returns 0 or -1. */
int ims_mailbox_arg(struct imap_session *s, const struct imap_arg *a, char out[STORE_MAILBOX_NAME_MAX]);

/* A store name as the client writes it (modified UTF-7 unless UTF8=ACCEPT), as an IMAP string. */
int ims_out_mailbox(struct imap_session *s, const char *name);

/* Ascending numbers v[0..n) as a set of ranges "1:3,7" (free()), or NULL when out of memory. */
char *ims_set_text(const uint32_t *v, size_t n);

/* Flags as "(\Seen $Label)". */
int ims_out_flags(struct imap_session *s, unsigned flags, const char *keywords);

/*
 * A flag list (a LIST of flags, or one flag) into STORE_FLAG_* bits and a
 * keyword string. \Recent is accepted and ignored. Returns 0, or -1.
 */
int ims_flags_arg(const struct imap_arg *a, unsigned *flags_r, char kw[STORE_KEYWORDS_MAX]);

/* ---- imap_mailbox.c ---- */

void ims_list(struct imap_session *s, const struct imap_parse_command *c);
void ims_create(struct imap_session *s, const struct imap_parse_command *c);
void ims_delete(struct imap_session *s, const struct imap_parse_command *c);
void ims_rename(struct imap_session *s, const struct imap_parse_command *c);
void ims_subscribe(struct imap_session *s, const struct imap_parse_command *c, int on);
void ims_status(struct imap_session *s, const struct imap_parse_command *c);
void ims_quota(struct imap_session *s, const struct imap_parse_command *c);

/* STATUS items of mb ("(MESSAGES 3 UIDNEXT 9)") for STATUS and LIST-STATUS. Returns 0, or -1 (bad items). */
int ims_status_items(struct imap_session *s, const struct store_mailbox *mb, const struct imap_arg *items);

/* ---- imap_view.c ---- */

void ims_select(struct imap_session *s, const struct imap_parse_command *c, int readonly);

/* Leave the selected mailbox (CLOSE, UNSELECT, another SELECT, LOGOUT). */
void ims_view_close(struct imap_session *s);

/*
 * Tell the client what changed in the selected mailbox: new messages
 * (EXISTS), flags (FETCH), and, when expunges may be told (not during
 * FETCH, STORE, SEARCH), EXPUNGE or VANISHED. Returns 0, or -1 (store).
 */
int ims_view_sync(struct imap_session *s, int expunges_ok);

/*
 * The sequence set (or UID set when uid) in arg, as ascending indexes
 * into the view, into *idx_r (free()). UIDs not in the view are left
 * out; "*" is the last. Returns 0, or -1 (syntax, or out of memory).
 */
int ims_view_set(struct imap_session *s, const struct imap_arg *arg, int uid, size_t **idx_r, size_t *n_r);

/*
 * QRESYNC: VANISHED (EARLIER) for what was expunged since modseq (within
 * the UID set known, when not NULL), then, with fetch, FETCH of what
 * changed since. Returns 0, 1 (known is not a UID set), or -1 (store).
 */
int ims_view_catch_up(struct imap_session *s, uint64_t modseq, const struct imap_arg *known, int fetch);

/* The first index of the ascending v[0..n) whose UID is >= uid (n if none). */
size_t ims_uid_lower(const uint32_t *v, size_t n, uint32_t uid);

/* The index of uid in the view, or -1. */
int64_t ims_view_find(const struct ims_view *v, uint32_t uid);

/* ---- imap_fetch.c ---- */

/* Start a FETCH (answered over as many imap_fetch_step() calls as it needs). */
void ims_fetch_start(struct imap_session *s, const struct imap_parse_command *c);

/* Go on with the FETCH under way until the output is full. Returns 1 when it is over. */
int ims_fetch_step(struct imap_session *s);

void ims_fetch_free(struct ims_fetch **fp);

/* ---- imap_search.c ---- */

void ims_search(struct imap_session *s, const struct imap_parse_command *c);

/* ---- imap_message.c ---- */

void ims_store(struct imap_session *s, const struct imap_parse_command *c);
void ims_copy(struct imap_session *s, const struct imap_parse_command *c, int move);
void ims_expunge(struct imap_session *s, const struct imap_parse_command *c);
void ims_close(struct imap_session *s);

/* APPEND: the literal announced (accept or refuse), its bytes, the command complete. */
void ims_append_literal(struct imap_session *s, const struct imap_parse_command *c);
void ims_append_data(struct imap_session *s, const uint8_t *p, size_t n);
void ims_append_done(struct imap_session *s, const struct imap_parse_command *c);
void ims_append_abort(struct imap_session *s);

#endif
