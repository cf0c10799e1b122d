/*
 * imap_parse: IMAP commands as a server receives them (RFC 3501, RFC 9051,
 * RFC 7888 LITERAL+/LITERAL-, RFC 3516 literal8, RFC 5182 "$"), read
 * incrementally: the caller feeds bytes as they arrive and gets one event
 * at a time (a complete command, a continuation request to send, a
 * refused command). Syntax only: a tag, a known command name (with UID)
 * and its arguments as a tree of atoms, numbers, NIL, strings, literals
 * and lists; which arguments a command takes is the session's. The
 * parser allocates once, when it is made, and never again; no I/O, no
 * logging, no globals but constant tables. docs/imap.md has the whole
 * story: grammar covered, limits, literals, errors and resynchronisation.
 *
 * A header of its own, as mime.h and dkim.h are: a self-contained part
 * with many types, included only by the files that use it.
 */
#ifndef HOMEPORT_IMAP_PARSE_H
#define HOMEPORT_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* ---- limits (struct imap_parse_limits; these are the defaults) ---- */

#define IMAP_PARSE_LINE_MAX (64 * 1024)		/* a command's bytes outside literals, all its lines, CRLFs in */
#define IMAP_PARSE_LITERAL_MAX (64 * 1024)	/* one literal the parser keeps (a name, a password, a string) */
#define IMAP_PARSE_COMMAND_MAX (128 * 1024)	/* a command as held: bytes outside literals plus kept literals */
#define IMAP_PARSE_STREAM_MAX (50 * 1024 * 1024)	/* one streamed literal (APPEND's message) */
#define IMAP_PARSE_LITERAL_MINUS_MAX 4096	/* a non-synchronizing literal under LITERAL- (RFC 7888) */
#define IMAP_PARSE_SKIP_MAX (50 * 1024 * 1024)	/* bytes of a refused command discarded before giving up */
#define IMAP_PARSE_DEPTH_MAX 32			/* lists inside lists */
#define IMAP_PARSE_ARGS_MAX 1024		/* arguments of one command, every list and list item counted */
#define IMAP_PARSE_TAG_MAX 64			/* a tag */

/* What imap_parse_new() refuses above: so that its one allocation cannot overflow. */
#define IMAP_PARSE_HELD_CEILING (256 * 1024 * 1024)	/* line_max, literal_max, command_max */
#define IMAP_PARSE_COUNT_CEILING (1024 * 1024)		/* args_max, depth_max */

/* The sizes of struct imap_parse_section (imap_parse_section()). */
#define IMAP_PARSE_SECTION_PARTS_MAX 32		/* numbers in a section-part "1.2.3" */
#define IMAP_PARSE_SECTION_FIELDS_MAX 128	/* names in HEADER.FIELDS (...) */

/*
 * Every limit of a parser, fixed when it is made. Sizes are octets. See
 * docs/imap.md for what each one answers when it is passed.
 */
struct imap_parse_limits {
	size_t line_max;		/* IMAP_PARSE_LINE_MAX */
	size_t literal_max;		/* IMAP_PARSE_LITERAL_MAX */
	size_t command_max;		/* IMAP_PARSE_COMMAND_MAX, >= line_max and >= literal_max */
	uint64_t stream_max;		/* IMAP_PARSE_STREAM_MAX */
	uint64_t literal_minus_max;	/* IMAP_PARSE_LITERAL_MINUS_MAX */
	uint64_t skip_max;		/* IMAP_PARSE_SKIP_MAX, >= command_max */
	size_t depth_max;		/* IMAP_PARSE_DEPTH_MAX, >= 1 */
	size_t args_max;		/* IMAP_PARSE_ARGS_MAX, >= 1 */
	size_t tag_max;			/* IMAP_PARSE_TAG_MAX, 1 .. line_max - 8 */
};

/* The defaults above. */
void imap_parse_limits_default(struct imap_parse_limits *l_r);

/* Flags of a parser (imap_parse_new(), imap_parse_set_flags()). */
#define IMAP_PARSE_LITERAL_MINUS 0x01	/* LITERAL- in force: {N+} only up to literal_minus_max; else LITERAL+ */
#define IMAP_PARSE_BARE_LF 0x02		/* a bare LF ends a line as CRLF does; else it is refused */

/* ---- commands ---- */

enum imap_cmd {
	IMAP_CMD_NONE,		/* not (yet) known */
	IMAP_CMD_APPEND,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_CHECK,
	IMAP_CMD_CLOSE,
	IMAP_CMD_COPY,		/* and UID COPY */
	IMAP_CMD_CREATE,
	IMAP_CMD_DELETE,
	IMAP_CMD_ENABLE,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_EXPUNGE,	/* and UID EXPUNGE */
	IMAP_CMD_FETCH,		/* and UID FETCH */
	IMAP_CMD_GETQUOTA,
	IMAP_CMD_GETQUOTAROOT,
	IMAP_CMD_ID,
	IMAP_CMD_IDLE,
	IMAP_CMD_LIST,
	IMAP_CMD_LOGIN,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_LSUB,
	IMAP_CMD_MOVE,		/* and UID MOVE */
	IMAP_CMD_NAMESPACE,
	IMAP_CMD_NOOP,
	IMAP_CMD_RENAME,
	IMAP_CMD_SEARCH,	/* and UID SEARCH */
	IMAP_CMD_SELECT,
	IMAP_CMD_SETQUOTA,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_STATUS,
	IMAP_CMD_STORE,		/* and UID STORE */
	IMAP_CMD_SUBSCRIBE,
	IMAP_CMD_UNSELECT,
	IMAP_CMD_UNSUBSCRIBE,
};

/* ---- arguments ---- */

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* 1*ATOM-CHAR, and "%", "*", "\", "]" (flags, sets, patterns, FETCH items) */
	IMAP_ARG_NUMBER,	/* an atom of digits whose value is at most INT64_MAX (number64); num */
	IMAP_ARG_NIL,		/* the atom NIL in any case; str is as sent */
	IMAP_ARG_STRING,	/* a quoted string, unescaped */
	IMAP_ARG_LITERAL,	/* {N}, {N+}, ~{N} or ~{N+}; num is N */
	IMAP_ARG_LIST,		/* ( ... ): list[0..count) */
};

#define IMAP_ARG_NONSYNC 0x01	/* LITERAL: non-synchronizing, {N+} */
#define IMAP_ARG_BINARY 0x02	/* LITERAL: literal8, ~{N}: may hold NUL */
#define IMAP_ARG_STREAMED 0x04	/* LITERAL: handed to the caller as IMAP_PARSE_DATA, not kept: str "", len 0 */
#define IMAP_ARG_SECTION 0x08	/* ATOM: BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
				 * BINARY.SIZE[...], perhaps with <partial>: see imap_parse_section() */
#define IMAP_ARG_8BIT 0x10	/* STRING, kept LITERAL: holds bytes over 0x7f (in a STRING: well-formed UTF-8) */

/*
 * One argument. Strings live in the parser and stay valid until the next
 * imap_parse_feed() given bytes after the command's IMAP_PARSE_COMMAND or
 * IMAP_PARSE_ERROR (or the parser is freed). Every str is NUL-terminated
 * at str[len]; only a BINARY literal may hold a NUL before it.
 */
struct imap_arg {
	int type;			/* enum imap_arg_type */
	unsigned flags;			/* IMAP_ARG_* */
	const char *str;		/* ATOM, NUMBER, NIL: as sent; STRING, LITERAL: the content; LIST: NULL */
	size_t len;
	uint64_t num;			/* NUMBER: its value; LITERAL: its announced size; else 0 */
	const struct imap_arg *list;	/* LIST: its items (NULL when empty) */
	size_t count;
};

/* ---- the parser ---- */

enum imap_parse_status {
	IMAP_PARSE_MORE,	/* all the input was taken: feed more when it comes */
	IMAP_PARSE_COMMAND,	/* a complete command: imap_parse_result() */
	IMAP_PARSE_CONTINUE,	/* a synchronizing literal is accepted: send "+ ..." now (or refuse it) */
	IMAP_PARSE_LITERAL,	/* a literal to stream (APPEND's message) is announced: accept or refuse it */
	IMAP_PARSE_DATA,	/* result->data[0..data_len) are the next bytes of the streamed literal */
	IMAP_PARSE_ERROR,	/* the command is refused: answer BAD (NO for TOOBIG if you like); the
				 * parser discards the rest of it by itself */
	IMAP_PARSE_FATAL,	/* the stream cannot be resynchronised: send BYE and close; every later
				 * call answers FATAL again */
};

/* Why a command was refused (result->error). */
enum imap_parse_error {
	IMAP_PARSE_OK,
	IMAP_PARSE_E_EMPTY,		/* an empty line */
	IMAP_PARSE_E_TAG,		/* no tag, a bad byte in it, or longer than tag_max: tag unknown */
	IMAP_PARSE_E_COMMAND,		/* no command name, not one we know, or UID before one that takes none */
	IMAP_PARSE_E_SYNTAX,		/* the arguments do not tokenise: a missing space, ")" too many, "(" left open ... */
	IMAP_PARSE_E_BAD_CHAR,		/* a control, NUL or 8-bit byte outside a string, or CR without LF */
	IMAP_PARSE_E_BARE_LF,		/* LF without CR (unless IMAP_PARSE_BARE_LF) */
	IMAP_PARSE_E_NUL,		/* NUL in a quoted string or in a literal other than literal8 */
	IMAP_PARSE_E_QUOTED,		/* a quoted string unterminated, with a bad escape or bad UTF-8 */
	IMAP_PARSE_E_LITERAL,		/* a malformed literal announcement: "{x}", "{}", "{5-}", "{5}x" ... */
	IMAP_PARSE_E_LITERAL_TOO_BIG,	/* over literal_max, stream_max, or literal_minus_max for {N+} (TOOBIG) */
	IMAP_PARSE_E_LINE_TOO_LONG,	/* more than line_max bytes outside literals */
	IMAP_PARSE_E_COMMAND_TOO_BIG,	/* more than command_max held */
	IMAP_PARSE_E_DEPTH,		/* lists nested deeper than depth_max */
	IMAP_PARSE_E_ARGS,		/* more than args_max arguments */
	IMAP_PARSE_E_DISCARD,		/* FATAL: more than skip_max bytes would have to be discarded */
};

/*
 * The current command, as far as the last event tells (pointers valid as
 * struct imap_arg's are).
 */
struct imap_parse_command {
	const char *tag;		/* NUL-terminated; "" if unknown (answer "* BAD") */
	size_t tag_len;
	int cmd;			/* enum imap_cmd; IMAP_CMD_NONE if not known */
	const char *name;		/* its name in upper case, without UID (static); "" if not known */
	int uid;			/* the command came after UID */
	const struct imap_arg *args;	/* COMMAND: the arguments; LITERAL (and the CONTINUE and DATA of
					 * that literal): those so far; ERROR, FATAL: NULL */
	size_t nargs;
	uint64_t bytes;			/* octets of the command so far: lines and literals */
	int error;			/* ERROR, FATAL: enum imap_parse_error; else IMAP_PARSE_OK */
	const char *message;		/* ERROR, FATAL: static, printable ASCII; else NULL */
	uint64_t literal_size;		/* LITERAL, CONTINUE: the literal announced */
	int literal_sync;		/* LITERAL, CONTINUE: the client waits for "+" */
	int literal_binary;		/* LITERAL, CONTINUE: literal8 */
	const uint8_t *data;		/* DATA: in the caller's input */
	size_t data_len;
};

struct imap_parse;

/*
 * Make a parser with limits (NULL: the defaults) and IMAP_PARSE_* flags.
 * It allocates about command_max + 100 * args_max bytes, now and never
 * again. Refused (-1, nothing made): line_max, command_max, skip_max,
 * depth_max, args_max or tag_max 0, a limit above its ceiling or out of
 * the relations struct imap_parse_limits states; out of memory.
 * Returns 0 with *p_r the caller's (imap_parse_free()), or -1.
 */
int imap_parse_new(const struct imap_parse_limits *limits, unsigned flags, struct imap_parse **p_r);

/* Wipe and free *pp if not NULL, and set *pp to NULL. */
void imap_parse_free(struct imap_parse **pp);

/* Set the IMAP_PARSE_* flags from the next command on (e.g. after login, when capabilities change). */
void imap_parse_set_flags(struct imap_parse *p, unsigned flags);

/*
 * Feed in[0..len), which may be cut anywhere: fed whole or one byte at a
 * time, the same events come (IMAP_PARSE_DATA in other chunks). Takes
 * bytes up to and including the one that completes an event, never past
 * it; sets *used_r to how many (0 is possible, with an event). Call again
 * with the rest after each event but IMAP_PARSE_MORE, which means all of
 * in was taken. After IMAP_PARSE_LITERAL, decide first
 * (imap_parse_literal_accept() or _refuse()); a feed without a decision
 * refuses. Pure: reads in, writes only the parser.
 * Returns the event; imap_parse_result() tells more.
 */
enum imap_parse_status imap_parse_feed(struct imap_parse *p, const uint8_t *in, size_t len, size_t *used_r);

/* The command of the last event. Never NULL; owned by the parser. */
const struct imap_parse_command *imap_parse_result(const struct imap_parse *p);

/*
 * Right after IMAP_PARSE_LITERAL: take the literal. The next feed answers
 * IMAP_PARSE_CONTINUE first if it is synchronizing, then its bytes come as
 * IMAP_PARSE_DATA. Returns 0, or -1 if no literal awaits a decision.
 */
int imap_parse_literal_accept(struct imap_parse *p);

/*
 * Right after IMAP_PARSE_LITERAL or IMAP_PARSE_CONTINUE: refuse the
 * literal and with it the command; the caller answers it (NO or BAD, e.g.
 * [TOOBIG], [TRYCREATE]). A synchronizing literal is never sent, so the
 * next byte starts a command; a non-synchronizing one is read and
 * discarded with the rest of its command (past skip_max: FATAL).
 * Returns 0, or -1 if nothing can be refused now.
 */
int imap_parse_literal_refuse(struct imap_parse *p);

/* ---- helpers over arguments (pure) ---- */

/* 1 if a is an ATOM (NUMBER, NIL) equal to word (upper case) in any case, else 0. */
int imap_parse_arg_is(const struct imap_arg *a, const char *word);

/*
 * An astring (RFC 9051): an atom of ASTRING-CHARs (no "%", "*", "\"), a
 * quoted string or a kept literal (not literal8). Returns 0 with *s_r,
 * *len_r (the argument's own NUL-terminated storage), or -1.
 */
int imap_parse_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r);

/* A NUMBER of at most max. Returns 0 with *v_r, or -1. */
int imap_parse_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *v_r);

/* One element of a sequence set: first..last as sent (unordered); "*" is IMAP_PARSE_SEQ_STAR. */
#define IMAP_PARSE_SEQ_STAR 0
struct imap_parse_seq {
	uint32_t first;
	uint32_t last;		/* == first for a single number */
};

/*
 * Parse s[0..len) as a sequence-set (RFC 9051: nz-number, "*", ranges
 * "a:b", joined by ","; RFC 5182 "$" as any element, which sets *saved_r).
 * Writes at most cap elements ("$" is not one) to out.
 * Returns how many elements there are (more than cap: only cap written),
 * or -1 if s is not a sequence set.
 */
int imap_parse_seqset(const char *s, size_t len, struct imap_parse_seq *out, size_t cap, int *saved_r);

enum imap_section_item {
	IMAP_SECTION_BODY,
	IMAP_SECTION_BODY_PEEK,
	IMAP_SECTION_BINARY,
	IMAP_SECTION_BINARY_PEEK,
	IMAP_SECTION_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SECTION_ALL,		/* "BODY[]", "BODY[1.2]": the whole message or part */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,		/* only after a part number */
};

/* A header field name in a section: s[0..len) within the string parsed, not NUL-terminated. */
struct imap_parse_span {
	const char *s;
	size_t len;
};

struct imap_parse_section {
	int item;			/* enum imap_section_item */
	uint32_t part[IMAP_PARSE_SECTION_PARTS_MAX];	/* section-part, nz-numbers */
	size_t nparts;			/* 0: the message itself */
	int text;			/* enum imap_section_text; BINARY*: IMAP_SECTION_ALL */
	struct imap_parse_span fields[IMAP_PARSE_SECTION_FIELDS_MAX];	/* HEADER.FIELDS[.NOT] */
	size_t nfields;
	int partial;			/* "<offset.length>" given (never with BINARY.SIZE) */
	uint64_t offset;		/* number64 */
	uint64_t length;		/* nz-number64 */
};

/*
 * Parse an IMAP_ARG_SECTION atom s[0..len), e.g.
 * BODY.PEEK[1.2.HEADER.FIELDS (From "To")]<0.100>, per RFC 9051 fetch-att
 * (section, section-binary, partial); keywords in any case, header field
 * names as atoms or quoted strings of field-name characters (RFC 5322
 * ftext; a name that would need a "\" escape is refused). Fields point
 * into s. Returns 0 with *sec_r filled, or -1.
 */
int imap_parse_section(const char *s, size_t len, struct imap_parse_section *sec_r);

#endif
