/*
 * imap_parse: IMAP commands as a server receives them, fed incrementally.
 *
 * A byte-at-a-time state machine: everything it knows between calls is in
 * struct imap_parse, so input may be cut anywhere. Bytes outside literals
 * go through imap_parse_step(); literal bytes are copied (kept literals)
 * or handed out (streamed ones) in bulk. A refused command is discarded up
 * to its end: the next LF outside a literal, where a line that ends in
 * "{N+}" announces N bytes to discard first (RFC 7888: the client sends
 * them whatever we answer) and one that ends in "{N}" ends the command (the
 * client waits for a "+" that never comes). To know that whatever state
 * the error left, a tracker follows the end of every line (imap_parse_tail).
 *
 * The arguments are built as nodes in the order they come (children
 * linked), then laid out breadth-first into struct imap_arg arrays, so
 * that each list's items are one array. Strings live in one arena, made
 * with the parser and wiped when the next command starts.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cursor.h"
#include "imap_parse.h"
#include "utf8.h"

#define IMAP_PARSE_NAME_MAX 16		/* the longest command name we know is shorter */

enum imap_parse_state {
	ST_TAG,			/* a command's first byte lands here */
	ST_NAME_SP,		/* spaces before the command name (after the tag or UID) */
	ST_NAME,		/* the command name */
	ST_BEFORE,		/* after a space or "(": a token, ")", spaces or the line's end */
	ST_AFTER,		/* after a token: a space, ")" or the line's end */
	ST_CR,			/* CR: LF must follow */
	ST_ATOM,
	ST_TILDE,		/* "~": literal8 if "{" follows, else an atom */
	ST_SECTION,		/* inside the brackets of BODY[...] */
	ST_SECTION_QUOTED,	/* a quoted string inside them */
	ST_SECTION_QUOTED_ESC,
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_LIT_OPEN,		/* after "{": digits */
	ST_LIT_DIGITS,
	ST_LIT_PLUS,		/* after "+": "}" */
	ST_LIT_CLOSE,		/* after "}": CRLF */
	ST_LIT_CR,
	ST_LIT_DATA,		/* a kept literal's bytes */
	ST_LIT_DECIDE,		/* a streamed literal announced: accept or refuse */
	ST_LIT_CONTINUE,	/* accepted, synchronizing: IMAP_PARSE_CONTINUE comes next */
	ST_LIT_STREAM,		/* a streamed literal's bytes */
	ST_SKIP,		/* a refused command's bytes outside literals */
	ST_SKIP_LIT,		/* a refused command's non-synchronizing literal */
	ST_FATAL,
};

/* What imap_parse_step() did with a byte. */
enum imap_parse_step {
	STEP_TAKE,		/* took it */
	STEP_REDO,		/* did not take it and changed state: look at it again */
	STEP_EVENT,		/* took it, and p->event is ready */
	STEP_ERROR,		/* did not take it: the command is refused (p->res.error) */
};

/* The end of the line so far, as imap_parse_tail() sees it. */
enum imap_parse_tail {
	TAIL_NONE,
	TAIL_OPEN,		/* "{" */
	TAIL_DIGITS,		/* "{" 1*DIGIT */
	TAIL_PLUS,		/* "{" 1*DIGIT "+" */
	TAIL_CLOSE,		/* ... "}" */
	TAIL_CR,		/* ... "}" CR */
};

#define IMAP_PARSE_T_UID 0x01		/* may follow UID */
#define IMAP_PARSE_T_STREAM 0x02	/* literals but a first argument are streamed (APPEND's messages) */

struct imap_parse_verb {
	const char *word;	/* upper case */
	int cmd;		/* enum imap_cmd */
	unsigned tflags;	/* IMAP_PARSE_T_* */
};

static const struct imap_parse_verb imap_parse_verbs[] = {
	{ "APPEND", IMAP_CMD_APPEND, IMAP_PARSE_T_STREAM },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, 0 },
	{ "CAPABILITY", IMAP_CMD_CAPABILITY, 0 },
	{ "CHECK", IMAP_CMD_CHECK, 0 },
	{ "CLOSE", IMAP_CMD_CLOSE, 0 },
	{ "COPY", IMAP_CMD_COPY, IMAP_PARSE_T_UID },
	{ "CREATE", IMAP_CMD_CREATE, 0 },
	{ "DELETE", IMAP_CMD_DELETE, 0 },
	{ "ENABLE", IMAP_CMD_ENABLE, 0 },
	{ "EXAMINE", IMAP_CMD_EXAMINE, 0 },
	{ "EXPUNGE", IMAP_CMD_EXPUNGE, IMAP_PARSE_T_UID },
	{ "FETCH", IMAP_CMD_FETCH, IMAP_PARSE_T_UID },
	{ "GETQUOTA", IMAP_CMD_GETQUOTA, 0 },
	{ "GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT, 0 },
	{ "ID", IMAP_CMD_ID, 0 },
	{ "IDLE", IMAP_CMD_IDLE, 0 },
	{ "LIST", IMAP_CMD_LIST, 0 },
	{ "LOGIN", IMAP_CMD_LOGIN, 0 },
	{ "LOGOUT", IMAP_CMD_LOGOUT, 0 },
	{ "LSUB", IMAP_CMD_LSUB, 0 },
	{ "MOVE", IMAP_CMD_MOVE, IMAP_PARSE_T_UID },
	{ "NAMESPACE", IMAP_CMD_NAMESPACE, 0 },
	{ "NOOP", IMAP_CMD_NOOP, 0 },
	{ "RENAME", IMAP_CMD_RENAME, 0 },
	{ "SEARCH", IMAP_CMD_SEARCH, IMAP_PARSE_T_UID },
	{ "SELECT", IMAP_CMD_SELECT, 0 },
	{ "SETQUOTA", IMAP_CMD_SETQUOTA, 0 },
	{ "STARTTLS", IMAP_CMD_STARTTLS, 0 },
	{ "STATUS", IMAP_CMD_STATUS, 0 },
	{ "STORE", IMAP_CMD_STORE, IMAP_PARSE_T_UID },
	{ "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, 0 },
	{ "UNSELECT", IMAP_CMD_UNSELECT, 0 },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, 0 },
	{ NULL, IMAP_CMD_NONE, 0 },
};

/* The FETCH items whose "[" opens a section that may hold spaces, lists and quoted strings. */
static const char *const imap_parse_section_items[] = {
	[IMAP_SECTION_BODY] = "BODY",
	[IMAP_SECTION_BODY_PEEK] = "BODY.PEEK",
	[IMAP_SECTION_BINARY] = "BINARY",
	[IMAP_SECTION_BINARY_PEEK] = "BINARY.PEEK",
	[IMAP_SECTION_BINARY_SIZE] = "BINARY.SIZE",
};
#define IMAP_PARSE_SECTION_ITEMS (sizeof(imap_parse_section_items) / sizeof(imap_parse_section_items[0]))

/*
 * An argument while it is built. Node 0 is the command itself, a list
 * whose children are the arguments. Indexes, not pointers: -1 is none.
 */
struct imap_parse_node {
	uint8_t type;		/* enum imap_arg_type */
	uint8_t flags;		/* IMAP_ARG_* */
	uint32_t off;		/* str: arena + off */
	uint32_t len;
	uint64_t num;
	int32_t first;		/* LIST: first child */
	int32_t last;		/* LIST: last child */
	int32_t next;		/* the next sibling */
	uint32_t count;		/* LIST: children */
};

struct imap_parse {
	struct imap_parse_limits lim;
	unsigned flags_next;		/* IMAP_PARSE_*, from the next command on */
	unsigned flags;			/* IMAP_PARSE_*, for this command */
	int state;			/* enum imap_parse_state */
	int fresh;			/* the next byte begins a command */
	int refusable;			/* the last event was LITERAL or CONTINUE */
	int event;			/* enum imap_parse_status, for STEP_EVENT */

	/* Storage, allocated with the parser. */
	uint8_t *arena;			/* strings, each NUL-terminated */
	size_t arena_cap;
	size_t arena_len;
	struct imap_parse_node *nodes;	/* args_max + 1 */
	size_t nnodes;
	struct imap_arg *out;		/* args_max: the layout */
	uint32_t *bfs;			/* args_max: node of each out[] */
	int32_t *stack;			/* depth_max: the open lists */
	size_t depth;
	int32_t cur;			/* the token being read */

	/* The command. */
	size_t line_bytes;		/* outside literals */
	size_t held;			/* outside literals, and kept literals */
	unsigned tflags;		/* IMAP_PARSE_T_* */
	char name[IMAP_PARSE_NAME_MAX + 1];
	size_t name_len;

	/* The literal being announced or read. */
	uint64_t lit_n;			/* saturates at UINT64_MAX */
	int lit_plus;
	int lit_binary;
	uint64_t lit_left;

	/* The end of the current line (enum imap_parse_tail), for resynchronising. */
	int tail;
	uint64_t tail_n;
	int tail_plus;

	/* Discarding a refused command. */
	uint64_t skipped;
	uint64_t skip_left;

	struct imap_parse_command res;
};

/* ---- bytes ---- */

static uint8_t
imap_parse_upper(uint8_t b)
{
	return b >= 'a' && b <= 'z' ? (uint8_t)(b - ('a' - 'A')) : b;
}

static int
imap_parse_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

static int
imap_parse_alpha(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

/* What the lexer takes into an atom: CHAR but CTL, SP and ( ) { " (wildcards, "\" and "]" included). */
static int
imap_parse_atom_char(uint8_t b)
{
	return b > 0x20 && b < 0x7f && b != '(' && b != ')' && b != '{' && b != '"';
}

/* ASTRING-CHAR (RFC 9051): an atom char but "%", "*" and "\". */
static int
imap_parse_astring_char(uint8_t b)
{
	return imap_parse_atom_char(b) && b != '%' && b != '*' && b != '\\';
}

/* A tag's char: ASTRING-CHAR but "+". */
static int
imap_parse_tag_char(uint8_t b)
{
	return imap_parse_astring_char(b) && b != '+';
}

/* 1 if s[0..n) is word (upper case) in any case. */
static int
imap_parse_word_is(const uint8_t *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (imap_parse_upper(s[i]) != (uint8_t)word[i])
			return 0;
	}
	return 1;
}

/* Digits s[0..n) as a number of at most max. Returns 0 with *v_r, or -1. */
static int
imap_parse_digits(const uint8_t *s, size_t n, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (!imap_parse_digit(s[i]))
			return -1;
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* ---- storage ---- */

static int
imap_parse_put(struct imap_parse *p, uint8_t b)
{
	if (p->arena_len >= p->arena_cap)
		return -1;
	p->arena[p->arena_len++] = b;
	return 0;
}

/* A new node of type in the open list. Returns its index, or -1 past args_max. */
static int32_t
imap_parse_node_add(struct imap_parse *p, int type)
{
	struct imap_parse_node *n, *parent;
	int32_t idx;

	if (p->nnodes > p->lim.args_max)
		return -1;
	idx = (int32_t)p->nnodes++;
	n = &p->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->off = (uint32_t)p->arena_len;
	n->first = n->last = n->next = -1;
	parent = &p->nodes[p->depth > 0 ? p->stack[p->depth - 1] : 0];
	if (parent->last >= 0)
		p->nodes[parent->last].next = idx;
	else
		parent->first = idx;
	parent->last = idx;
	parent->count++;
	return idx;
}

/* End the current token's string with its NUL. */
static int
imap_parse_str_done(struct imap_parse *p)
{
	struct imap_parse_node *n = &p->nodes[p->cur];

	n->len = (uint32_t)(p->arena_len - n->off);
	return imap_parse_put(p, '\0');
}

/*
 * Lay the nodes out breadth-first into p->out, so that the arguments are
 * out[0..nargs) and each list's items are consecutive.
 */
static void
imap_parse_layout(struct imap_parse *p)
{
	size_t n = 0;

	for (int32_t c = p->nodes[0].first; c >= 0; c = p->nodes[c].next)
		p->bfs[n++] = (uint32_t)c;
	p->res.nargs = n;
	p->res.args = n > 0 ? p->out : NULL;
	for (size_t q = 0; q < n; q++) {
		const struct imap_parse_node *nd = &p->nodes[p->bfs[q]];
		struct imap_arg *a = &p->out[q];

		a->type = nd->type;
		a->flags = nd->flags;
		a->num = nd->num;
		a->list = NULL;
		a->count = 0;
		if (nd->type == IMAP_ARG_LIST) {
			a->str = NULL;
			a->len = 0;
			a->count = nd->count;
			if (nd->count > 0)
				a->list = &p->out[n];
			for (int32_t c = nd->first; c >= 0; c = p->nodes[c].next)
				p->bfs[n++] = (uint32_t)c;
		} else {
			a->str = (const char *)p->arena + nd->off;
			a->len = nd->len;
		}
	}
}

/* ---- commands ---- */

/* Start a command: forget the last one, wiping its bytes (a password may be among them). */
static void
imap_parse_begin(struct imap_parse *p)
{
	sodium_memzero(p->arena, p->arena_len);
	p->arena_len = 0;
	memset(&p->nodes[0], 0, sizeof(p->nodes[0]));
	p->nodes[0].type = IMAP_ARG_LIST;
	p->nodes[0].first = p->nodes[0].last = p->nodes[0].next = -1;
	p->nnodes = 1;
	p->depth = 0;
	p->cur = -1;
	p->line_bytes = 0;
	p->held = 0;
	p->tflags = 0;
	p->name_len = 0;
	p->lit_n = 0;
	p->lit_plus = p->lit_binary = 0;
	p->lit_left = 0;
	p->tail = TAIL_NONE;
	p->tail_n = 0;
	p->tail_plus = 0;
	p->skipped = 0;
	p->skip_left = 0;
	p->flags = p->flags_next;
	memset(&p->res, 0, sizeof(p->res));
	p->res.tag = "";
	p->res.name = "";
	p->state = ST_TAG;
	p->fresh = 0;
}

/* Refuse the command: the event is ERROR, and its bytes are discarded from the one not taken. */
static enum imap_parse_step
imap_parse_fail(struct imap_parse *p, int error, const char *message)
{
	p->res.error = error;
	p->res.message = message;
	p->res.args = NULL;
	p->res.nargs = 0;
	p->res.literal_size = 0;
	p->res.literal_sync = p->res.literal_binary = 0;
	p->state = ST_SKIP;
	p->skipped = 0;
	return STEP_ERROR;
}

/* The same, and the tag is not one. */
static enum imap_parse_step
imap_parse_fail_tag(struct imap_parse *p, const char *message)
{
	p->res.tag = "";
	p->res.tag_len = 0;
	return imap_parse_fail(p, IMAP_PARSE_E_TAG, message);
}

/* The line that ends here ends the command. */
static enum imap_parse_step
imap_parse_eol(struct imap_parse *p, int bare)
{
	if (bare && !(p->flags & IMAP_PARSE_BARE_LF))
		return imap_parse_fail(p, IMAP_PARSE_E_BARE_LF, "LF without CR");
	if (p->depth > 0)
		return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Unclosed list");
	imap_parse_layout(p);
	p->res.literal_size = 0;
	p->res.literal_sync = p->res.literal_binary = 0;
	p->fresh = 1;
	p->event = IMAP_PARSE_COMMAND;
	return STEP_EVENT;
}

/* The tag is complete. */
static enum imap_parse_step
imap_parse_tag_done(struct imap_parse *p)
{
	size_t n = p->arena_len;

	if (imap_parse_put(p, '\0') != 0)
		return imap_parse_fail_tag(p, "Command too big");
	p->res.tag = (const char *)p->arena;
	p->res.tag_len = n;
	return STEP_TAKE;
}

static enum imap_parse_step
imap_parse_st_tag(struct imap_parse *p, uint8_t b)
{
	if (imap_parse_tag_char(b)) {
		if (p->arena_len >= p->lim.tag_max)
			return imap_parse_fail_tag(p, "Tag too long");
		if (imap_parse_put(p, b) != 0)
			return imap_parse_fail_tag(p, "Command too big");
		return STEP_TAKE;
	}
	if (b == ' ') {
		if (p->arena_len == 0)
			return imap_parse_fail_tag(p, "Missing tag");
		if (imap_parse_tag_done(p) != STEP_TAKE)
			return STEP_ERROR;
		p->state = ST_NAME_SP;
		return STEP_TAKE;
	}
	if (b == '\r' || b == '\n') {
		if (p->arena_len == 0)
			return imap_parse_fail(p, IMAP_PARSE_E_EMPTY, "Empty command line");
		if (imap_parse_tag_done(p) != STEP_TAKE)
			return STEP_ERROR;
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Missing command");
	}
	return imap_parse_fail_tag(p, "Invalid character in tag");
}

/* The command name ends at b: look it up. */
static enum imap_parse_step
imap_parse_name_done(struct imap_parse *p, uint8_t b)
{
	const struct imap_parse_verb *v;

	if (!p->res.uid && imap_parse_word_is((const uint8_t *)p->name, p->name_len, "UID")) {
		if (b != ' ')
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "UID needs a command");
		p->res.uid = 1;
		p->name_len = 0;
		p->state = ST_NAME_SP;
		return STEP_TAKE;
	}
	for (v = imap_parse_verbs; v->word != NULL; v++) {
		if (imap_parse_word_is((const uint8_t *)p->name, p->name_len, v->word))
			break;
	}
	if (v->word == NULL)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Unknown command");
	if (p->res.uid && !(v->tflags & IMAP_PARSE_T_UID))
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Command cannot follow UID");
	p->res.cmd = v->cmd;
	p->res.name = v->word;
	p->tflags = v->tflags;
	p->state = ST_AFTER;
	return STEP_REDO;
}

static enum imap_parse_step
imap_parse_st_name(struct imap_parse *p, uint8_t b)
{
	if (imap_parse_alpha(b)) {
		if (p->name_len >= IMAP_PARSE_NAME_MAX)
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Unknown command");
		p->name[p->name_len++] = (char)imap_parse_upper(b);
		return STEP_TAKE;
	}
	if (b == ' ' || b == '\r' || b == '\n')
		return imap_parse_name_done(p, b);
	return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Unknown command");
}

/* A byte that cannot be anywhere outside a string. */
static enum imap_parse_step
imap_parse_bad_byte(struct imap_parse *p, uint8_t b)
{
	if (b == '\0')
		return imap_parse_fail(p, IMAP_PARSE_E_BAD_CHAR, "NUL in command");
	if (b >= 0x80)
		return imap_parse_fail(p, IMAP_PARSE_E_BAD_CHAR, "8-bit byte outside a string");
	return imap_parse_fail(p, IMAP_PARSE_E_BAD_CHAR, "Control character in command");
}

static enum imap_parse_step
imap_parse_open_list(struct imap_parse *p)
{
	int32_t idx;

	if (p->depth >= p->lim.depth_max)
		return imap_parse_fail(p, IMAP_PARSE_E_DEPTH, "Lists nested too deep");
	idx = imap_parse_node_add(p, IMAP_ARG_LIST);
	if (idx < 0)
		return imap_parse_fail(p, IMAP_PARSE_E_ARGS, "Too many arguments");
	p->stack[p->depth++] = idx;
	p->state = ST_BEFORE;
	return STEP_TAKE;
}

static enum imap_parse_step
imap_parse_close_list(struct imap_parse *p)
{
	if (p->depth == 0)
		return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Unexpected )");
	p->depth--;
	p->state = ST_AFTER;
	return STEP_TAKE;
}

/* A token begins: its node. */
static enum imap_parse_step
imap_parse_token(struct imap_parse *p, int type, int state)
{
	p->cur = imap_parse_node_add(p, type);
	if (p->cur < 0)
		return imap_parse_fail(p, IMAP_PARSE_E_ARGS, "Too many arguments");
	p->state = state;
	return STEP_TAKE;
}

/* "{" (binary: "~{"): a literal's size follows. */
static enum imap_parse_step
imap_parse_lit_open(struct imap_parse *p, int binary)
{
	p->lit_n = 0;
	p->lit_plus = 0;
	p->lit_binary = binary;
	p->state = ST_LIT_OPEN;
	return STEP_TAKE;
}

static enum imap_parse_step
imap_parse_st_between(struct imap_parse *p, uint8_t b)
{
	switch (b) {
	case ' ':
		/* One space is the grammar; more are tolerated. */
		p->state = ST_BEFORE;
		return STEP_TAKE;
	case ')':
		return imap_parse_close_list(p);
	case '\r':
		p->state = ST_CR;
		return STEP_TAKE;
	case '\n':
		return imap_parse_eol(p, 1);
	default:
		break;
	}
	if (p->state == ST_AFTER) {
		if (imap_parse_atom_char(b) || b == '(' || b == '{' || b == '"')
			return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Missing space between arguments");
		return imap_parse_bad_byte(p, b);
	}
	switch (b) {
	case '(':
		return imap_parse_open_list(p);
	case '"':
		return imap_parse_token(p, IMAP_ARG_STRING, ST_QUOTED);
	case '{':
		return imap_parse_lit_open(p, 0);
	case '~':
		p->state = ST_TILDE;
		return STEP_TAKE;
	default:
		break;
	}
	if (imap_parse_atom_char(b)) {
		if (imap_parse_token(p, IMAP_ARG_ATOM, ST_ATOM) != STEP_TAKE)
			return STEP_ERROR;
		return STEP_REDO;
	}
	return imap_parse_bad_byte(p, b);
}

/* An atom is complete: NIL, a number64, or an atom. */
static enum imap_parse_step
imap_parse_atom_done(struct imap_parse *p)
{
	struct imap_parse_node *n;
	const uint8_t *s;
	uint64_t v;

	if (imap_parse_str_done(p) != 0)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	n = &p->nodes[p->cur];
	s = p->arena + n->off;
	if (imap_parse_word_is(s, n->len, "NIL")) {
		n->type = IMAP_ARG_NIL;
	} else if (imap_parse_digits(s, n->len, INT64_MAX, &v) == 0) {
		n->type = IMAP_ARG_NUMBER;
		n->num = v;
	}
	p->state = ST_AFTER;
	return STEP_REDO;
}

/* 1 if the atom read so far is a FETCH item whose "[" opens a section. */
static int
imap_parse_section_prefix(const struct imap_parse *p)
{
	const struct imap_parse_node *n = &p->nodes[p->cur];

	if (n->flags & IMAP_ARG_SECTION)
		return 0;
	for (size_t i = 0; i < IMAP_PARSE_SECTION_ITEMS; i++) {
		if (imap_parse_word_is(p->arena + n->off, p->arena_len - n->off, imap_parse_section_items[i]))
			return 1;
	}
	return 0;
}

static enum imap_parse_step
imap_parse_st_atom(struct imap_parse *p, uint8_t b)
{
	if (imap_parse_atom_char(b)) {
		if (b == '[' && imap_parse_section_prefix(p)) {
			p->nodes[p->cur].flags |= IMAP_ARG_SECTION;
			p->state = ST_SECTION;
		}
		if (imap_parse_put(p, b) != 0)
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
		return STEP_TAKE;
	}
	if (b == ' ' || b == ')' || b == '\r' || b == '\n')
		return imap_parse_atom_done(p);
	if (b == '(' || b == '{' || b == '"')
		return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Missing space after atom");
	return imap_parse_bad_byte(p, b);
}

/* "~": the start of literal8, or an atom that begins with "~". */
static enum imap_parse_step
imap_parse_st_tilde(struct imap_parse *p, uint8_t b)
{
	if (b == '{')
		return imap_parse_lit_open(p, 1);
	if (imap_parse_token(p, IMAP_ARG_ATOM, ST_ATOM) != STEP_TAKE)
		return STEP_ERROR;
	if (imap_parse_put(p, '~') != 0)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	return STEP_REDO;
}

/* Inside BODY[...]: kept as sent, for imap_parse_section(). */
static enum imap_parse_step
imap_parse_st_section(struct imap_parse *p, uint8_t b)
{
	switch (p->state) {
	case ST_SECTION:
		if (b == ']')
			p->state = ST_ATOM;
		else if (b == '"')
			p->state = ST_SECTION_QUOTED;
		else if (b == '[')
			return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "[ inside a section");
		else if (b == '{')
			return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Literal inside a section");
		else if (b == '\r' || b == '\n')
			return imap_parse_fail(p, IMAP_PARSE_E_SYNTAX, "Unterminated section");
		else if (b != ' ' && !(b > 0x20 && b < 0x7f))
			return imap_parse_bad_byte(p, b);
		break;
	case ST_SECTION_QUOTED:
		if (b == '"')
			p->state = ST_SECTION;
		else if (b == '\\')
			p->state = ST_SECTION_QUOTED_ESC;
		else if (b == '\r' || b == '\n')
			return imap_parse_fail(p, IMAP_PARSE_E_QUOTED, "Unterminated quoted string");
		else if (b == '\0')
			return imap_parse_fail(p, IMAP_PARSE_E_NUL, "NUL in a quoted string");
		else if (b < 0x20 || b >= 0x7f)
			return imap_parse_bad_byte(p, b);
		break;
	default: /* ST_SECTION_QUOTED_ESC */
		if (b != '"' && b != '\\')
			return imap_parse_fail(p, IMAP_PARSE_E_QUOTED, "Invalid escape in a quoted string");
		p->state = ST_SECTION_QUOTED;
		break;
	}
	if (imap_parse_put(p, b) != 0)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	return STEP_TAKE;
}

/* A quoted string is complete: its 8-bit bytes must be UTF-8 (RFC 9051 QUOTED-CHAR). */
static enum imap_parse_step
imap_parse_quoted_done(struct imap_parse *p)
{
	struct imap_parse_node *n = &p->nodes[p->cur];
	const uint8_t *s = p->arena + n->off;
	size_t len = p->arena_len - n->off;

	if (n->flags & IMAP_ARG_8BIT) {
		for (size_t i = 0; i < len;) {
			size_t k = 1;

			if (s[i] >= 0x80 && (k = utf8_printable_len(s + i, len - i)) == 0)
				return imap_parse_fail(p, IMAP_PARSE_E_QUOTED, "Invalid UTF-8 in a quoted string");
			i += k;
		}
	}
	if (imap_parse_str_done(p) != 0)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	p->state = ST_AFTER;
	return STEP_TAKE;
}

/* A quoted string: TEXT-CHAR (no NUL, CR, LF), "\" only before "\" or DQUOTE. */
static enum imap_parse_step
imap_parse_st_quoted(struct imap_parse *p, uint8_t b)
{
	if (p->state == ST_QUOTED_ESC) {
		if (b != '"' && b != '\\')
			return imap_parse_fail(p, IMAP_PARSE_E_QUOTED, "Invalid escape in a quoted string");
		p->state = ST_QUOTED;
	} else if (b == '"') {
		return imap_parse_quoted_done(p);
	} else if (b == '\\') {
		p->state = ST_QUOTED_ESC;
		return STEP_TAKE;
	} else if (b == '\0') {
		return imap_parse_fail(p, IMAP_PARSE_E_NUL, "NUL in a quoted string");
	} else if (b == '\r' || b == '\n') {
		return imap_parse_fail(p, IMAP_PARSE_E_QUOTED, "Unterminated quoted string");
	} else if (b >= 0x80) {
		p->nodes[p->cur].flags |= IMAP_ARG_8BIT;
	}
	if (imap_parse_put(p, b) != 0)
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	return STEP_TAKE;
}

/*
 * The CRLF (or bare LF) after "{N}": the literal is announced. Its limits
 * are checked now, before any of its bytes.
 */
static enum imap_parse_step
imap_parse_announce(struct imap_parse *p, int bare)
{
	struct imap_parse_node *n;
	uint64_t size = p->lit_n;
	int streamed;

	if (bare && !(p->flags & IMAP_PARSE_BARE_LF))
		return imap_parse_fail(p, IMAP_PARSE_E_BARE_LF, "LF without CR");
	/* APPEND: the mailbox may be a literal; a message always is, and is streamed. */
	streamed = (p->tflags & IMAP_PARSE_T_STREAM) && (p->depth > 0 || p->nodes[0].count > 0);
	if (p->lit_plus && (p->flags & IMAP_PARSE_LITERAL_MINUS) && size > p->lim.literal_minus_max)
		return imap_parse_fail(p, IMAP_PARSE_E_LITERAL_TOO_BIG,
				       "Non-synchronizing literal too big for LITERAL-");
	if (streamed) {
		if (size > p->lim.stream_max)
			return imap_parse_fail(p, IMAP_PARSE_E_LITERAL_TOO_BIG, "Literal too big");
	} else {
		if (size > p->lim.literal_max)
			return imap_parse_fail(p, IMAP_PARSE_E_LITERAL_TOO_BIG, "Literal too big");
		/* This LF is held too (held < command_max: checked before it). */
		if (size > p->lim.command_max - p->held - 1)
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
	}
	p->cur = imap_parse_node_add(p, IMAP_ARG_LITERAL);
	if (p->cur < 0)
		return imap_parse_fail(p, IMAP_PARSE_E_ARGS, "Too many arguments");
	n = &p->nodes[p->cur];
	n->num = size;
	n->flags = (uint8_t)((p->lit_plus ? IMAP_ARG_NONSYNC : 0) | (p->lit_binary ? IMAP_ARG_BINARY : 0) |
			     (streamed ? IMAP_ARG_STREAMED : 0));
	p->lit_left = size;
	p->res.literal_size = size;
	p->res.literal_sync = !p->lit_plus;
	p->res.literal_binary = p->lit_binary;
	if (streamed) {
		if (imap_parse_str_done(p) != 0)
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
		imap_parse_layout(p);
		p->state = ST_LIT_DECIDE;
		p->event = IMAP_PARSE_LITERAL;
		return STEP_EVENT;
	}
	p->state = ST_LIT_DATA;
	if (size == 0) {
		if (imap_parse_str_done(p) != 0)
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
		p->state = ST_AFTER;
	}
	if (p->lit_plus)
		return STEP_TAKE;
	p->event = IMAP_PARSE_CONTINUE;
	return STEP_EVENT;
}

/* "{" number ["+"] "}" CRLF, after "{" or "~{". */
static enum imap_parse_step
imap_parse_st_literal(struct imap_parse *p, uint8_t b)
{
	switch (p->state) {
	case ST_LIT_OPEN:
	case ST_LIT_DIGITS:
		if (imap_parse_digit(b)) {
			unsigned d = (unsigned)(b - '0');

			/* Saturate: too big is too big, however many digits. */
			p->lit_n = p->lit_n > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->lit_n * 10 + d;
			p->state = ST_LIT_DIGITS;
			return STEP_TAKE;
		}
		if (p->state == ST_LIT_DIGITS && (b == '+' || b == '}')) {
			p->lit_plus = b == '+';
			p->state = b == '+' ? ST_LIT_PLUS : ST_LIT_CLOSE;
			return STEP_TAKE;
		}
		break;
	case ST_LIT_PLUS:
		if (b == '}') {
			p->state = ST_LIT_CLOSE;
			return STEP_TAKE;
		}
		break;
	case ST_LIT_CLOSE:
		if (b == '\r') {
			p->state = ST_LIT_CR;
			return STEP_TAKE;
		}
		if (b == '\n')
			return imap_parse_announce(p, 1);
		return imap_parse_fail(p, IMAP_PARSE_E_LITERAL, "A literal's size must end its line");
	default: /* ST_LIT_CR */
		if (b == '\n')
			return imap_parse_announce(p, 0);
		return imap_parse_fail(p, IMAP_PARSE_E_BAD_CHAR, "CR without LF");
	}
	return imap_parse_fail(p, IMAP_PARSE_E_LITERAL, "Invalid literal");
}

/* One byte outside literals. */
static enum imap_parse_step
imap_parse_step(struct imap_parse *p, uint8_t b)
{
	switch (p->state) {
	case ST_TAG:
		return imap_parse_st_tag(p, b);
	case ST_NAME_SP:
		if (b == ' ')
			return STEP_TAKE;
		if (imap_parse_alpha(b)) {
			p->state = ST_NAME;
			return STEP_REDO;
		}
		if (b == '\r' || b == '\n')
			return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Missing command");
		return imap_parse_fail(p, IMAP_PARSE_E_COMMAND, "Unknown command");
	case ST_NAME:
		return imap_parse_st_name(p, b);
	case ST_BEFORE:
	case ST_AFTER:
		return imap_parse_st_between(p, b);
	case ST_CR:
		if (b == '\n')
			return imap_parse_eol(p, 0);
		return imap_parse_fail(p, IMAP_PARSE_E_BAD_CHAR, "CR without LF");
	case ST_ATOM:
		return imap_parse_st_atom(p, b);
	case ST_TILDE:
		return imap_parse_st_tilde(p, b);
	case ST_SECTION:
	case ST_SECTION_QUOTED:
	case ST_SECTION_QUOTED_ESC:
		return imap_parse_st_section(p, b);
	case ST_QUOTED:
	case ST_QUOTED_ESC:
		return imap_parse_st_quoted(p, b);
	default: /* ST_LIT_OPEN .. ST_LIT_CR */
		return imap_parse_st_literal(p, b);
	}
}

/* Follow the end of the line: does it end in "{" N ["+"] "}" [CR]? An LF starts a new line. */
static void
imap_parse_tail(struct imap_parse *p, uint8_t b)
{
	if (b == '{') {
		p->tail = TAIL_OPEN;
		p->tail_n = 0;
		p->tail_plus = 0;
	} else if (imap_parse_digit(b) && (p->tail == TAIL_OPEN || p->tail == TAIL_DIGITS)) {
		unsigned d = (unsigned)(b - '0');

		p->tail_n = p->tail_n > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->tail_n * 10 + d;
		p->tail = TAIL_DIGITS;
	} else if (b == '+' && p->tail == TAIL_DIGITS) {
		p->tail_plus = 1;
		p->tail = TAIL_PLUS;
	} else if (b == '}' && (p->tail == TAIL_DIGITS || p->tail == TAIL_PLUS)) {
		p->tail = TAIL_CLOSE;
	} else if (b == '\r' && p->tail == TAIL_CLOSE) {
		p->tail = TAIL_CR;
	} else {
		p->tail = TAIL_NONE;
	}
}

/* Give up on the stream. */
static enum imap_parse_status
imap_parse_fatal(struct imap_parse *p, size_t used, size_t *used_r)
{
	p->state = ST_FATAL;
	p->res.error = IMAP_PARSE_E_DISCARD;
	p->res.message = "Too much to discard";
	p->res.args = NULL;
	p->res.nargs = 0;
	*used_r = used;
	return IMAP_PARSE_FATAL;
}

/* Refuse the literal announced (or accepted and not yet read): the command is over for the caller. */
static void
imap_parse_refuse_now(struct imap_parse *p)
{
	p->refusable = 0;
	if (p->res.literal_sync) {
		/* The client sends nothing more of this command. */
		p->state = ST_TAG;
		p->fresh = 1;
		return;
	}
	p->skip_left = p->lit_left;
	p->skipped = 0;
	p->tail = TAIL_NONE;
	p->state = ST_SKIP_LIT;
}

/*
 * Copy the next bytes of a kept literal. Returns how many were taken and
 * sets *error_r to IMAP_PARSE_OK, or to IMAP_PARSE_E_NUL at a NUL (not
 * taken) in a literal that is not literal8.
 */
static size_t
imap_parse_lit_data(struct imap_parse *p, const uint8_t *in, size_t len, int *error_r)
{
	size_t n = len < p->lit_left ? len : (size_t)p->lit_left;
	const uint8_t *z;

	*error_r = IMAP_PARSE_OK;
	if (!p->lit_binary && (z = memchr(in, '\0', n)) != NULL) {
		n = (size_t)(z - in);
		*error_r = IMAP_PARSE_E_NUL;
	}
	/* announce() made sure it fits (held + size <= command_max < arena_cap); a NUL must follow. */
	if (n >= p->arena_cap - p->arena_len) {
		*error_r = IMAP_PARSE_E_COMMAND_TOO_BIG;
		return 0;
	}
	memcpy(p->arena + p->arena_len, in, n);
	p->arena_len += n;
	for (size_t i = 0; i < n; i++) {
		if (in[i] >= 0x80) {
			p->nodes[p->cur].flags |= IMAP_ARG_8BIT;
			break;
		}
	}
	p->lit_left -= n;
	p->held += n;
	p->res.bytes += n;
	return n;
}

enum imap_parse_status
imap_parse_feed(struct imap_parse *p, const uint8_t *in, size_t len, size_t *used_r)
{
	size_t i = 0;

	*used_r = 0;
	if (p->state == ST_FATAL)
		return IMAP_PARSE_FATAL;
	if (p->state == ST_LIT_DECIDE)
		imap_parse_refuse_now(p);
	p->refusable = 0;
	p->res.data = NULL;
	p->res.data_len = 0;
	/* A literal to discard is refused before a byte of it is read if it cannot be. */
	if (p->state == ST_SKIP_LIT && p->skip_left > p->lim.skip_max - p->skipped)
		return imap_parse_fatal(p, 0, used_r);
	if (p->state == ST_LIT_CONTINUE) {
		p->state = p->lit_left > 0 ? ST_LIT_STREAM : ST_AFTER;
		p->refusable = 1;
		return IMAP_PARSE_CONTINUE;
	}
	while (i < len) {
		enum imap_parse_step r;
		uint8_t b;

		if (p->fresh)
			imap_parse_begin(p);
		switch (p->state) {
		case ST_LIT_DATA: {
			int error;

			i += imap_parse_lit_data(p, in + i, len - i, &error);
			if (error != IMAP_PARSE_OK) {
				imap_parse_fail(p, error, error == IMAP_PARSE_E_NUL ? "NUL in a literal" : "Command too big");
				p->skip_left = p->lit_left;
				p->state = ST_SKIP_LIT;
				*used_r = i;
				return IMAP_PARSE_ERROR;
			}
			if (p->lit_left == 0) {
				if (imap_parse_str_done(p) != 0) {
					imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
					*used_r = i;
					return IMAP_PARSE_ERROR;
				}
				p->state = ST_AFTER;
			}
			continue;
		}
		case ST_LIT_STREAM: {
			size_t n = len - i < p->lit_left ? len - i : (size_t)p->lit_left;
			const uint8_t *z;

			if (!p->lit_binary && (z = memchr(in + i, '\0', n)) != NULL) {
				if (z == in + i) {
					imap_parse_fail(p, IMAP_PARSE_E_NUL, "NUL in a literal");
					p->skip_left = p->lit_left;
					p->state = ST_SKIP_LIT;
					*used_r = i;
					return IMAP_PARSE_ERROR;
				}
				n = (size_t)(z - (in + i));
			}
			p->res.data = in + i;
			p->res.data_len = n;
			p->lit_left -= n;
			p->res.bytes += n;
			if (p->lit_left == 0)
				p->state = ST_AFTER;
			*used_r = i + n;
			return IMAP_PARSE_DATA;
		}
		case ST_SKIP_LIT: {
			size_t n = len - i < p->skip_left ? len - i : (size_t)p->skip_left;

			if (p->skip_left > p->lim.skip_max - p->skipped)
				return imap_parse_fatal(p, i, used_r);
			i += n;
			p->skip_left -= n;
			p->skipped += n;
			p->res.bytes += n;
			if (p->skip_left == 0)
				p->state = ST_SKIP;
			continue;
		}
		case ST_SKIP:
			if (p->skipped >= p->lim.skip_max)
				return imap_parse_fatal(p, i, used_r);
			b = in[i++];
			p->skipped++;
			p->res.bytes++;
			if (b != '\n') {
				imap_parse_tail(p, b);
				continue;
			}
			if ((p->tail == TAIL_CLOSE || p->tail == TAIL_CR) && p->tail_plus) {
				/* "{N+}": its bytes come whatever we answered. */
				p->skip_left = p->tail_n;
				p->state = ST_SKIP_LIT;
				if (p->skip_left > p->lim.skip_max - p->skipped)
					return imap_parse_fatal(p, i, used_r);
			} else {
				/* The end of the command ("{N}": the client waits for "+", and gets our BAD). */
				p->fresh = 1;
			}
			p->tail = TAIL_NONE;
			continue;
		default:
			break;
		}

		/* A byte outside literals. */
		b = in[i];
		if (p->line_bytes >= p->lim.line_max) {
			imap_parse_fail(p, IMAP_PARSE_E_LINE_TOO_LONG, "Command line too long");
			*used_r = i;
			return IMAP_PARSE_ERROR;
		}
		if (p->held >= p->lim.command_max) {
			imap_parse_fail(p, IMAP_PARSE_E_COMMAND_TOO_BIG, "Command too big");
			*used_r = i;
			return IMAP_PARSE_ERROR;
		}
		do {
			r = imap_parse_step(p, b);
		} while (r == STEP_REDO);
		if (r == STEP_ERROR) {
			*used_r = i;
			return IMAP_PARSE_ERROR;
		}
		p->line_bytes++;
		p->held++;
		p->res.bytes++;
		imap_parse_tail(p, b);
		i++;
		if (r == STEP_EVENT) {
			if (p->event == IMAP_PARSE_LITERAL || p->event == IMAP_PARSE_CONTINUE)
				p->refusable = 1;
			*used_r = i;
			return p->event;
		}
	}
	*used_r = i;
	return IMAP_PARSE_MORE;
}

const struct imap_parse_command *
imap_parse_result(const struct imap_parse *p)
{
	return &p->res;
}

int
imap_parse_literal_accept(struct imap_parse *p)
{
	if (p->state != ST_LIT_DECIDE)
		return -1;
	p->refusable = 0;
	if (p->res.literal_sync)
		p->state = ST_LIT_CONTINUE;
	else
		p->state = p->lit_left > 0 ? ST_LIT_STREAM : ST_AFTER;
	return 0;
}

int
imap_parse_literal_refuse(struct imap_parse *p)
{
	if (!p->refusable || p->state == ST_FATAL)
		return -1;
	imap_parse_refuse_now(p);
	return 0;
}

void
imap_parse_set_flags(struct imap_parse *p, unsigned flags)
{
	p->flags_next = flags;
}

void
imap_parse_limits_default(struct imap_parse_limits *l_r)
{
	l_r->line_max = IMAP_PARSE_LINE_MAX;
	l_r->literal_max = IMAP_PARSE_LITERAL_MAX;
	l_r->command_max = IMAP_PARSE_COMMAND_MAX;
	l_r->stream_max = IMAP_PARSE_STREAM_MAX;
	l_r->literal_minus_max = IMAP_PARSE_LITERAL_MINUS_MAX;
	l_r->skip_max = IMAP_PARSE_SKIP_MAX;
	l_r->depth_max = IMAP_PARSE_DEPTH_MAX;
	l_r->args_max = IMAP_PARSE_ARGS_MAX;
	l_r->tag_max = IMAP_PARSE_TAG_MAX;
}

static int
imap_parse_limits_ok(const struct imap_parse_limits *l)
{
	if (l->line_max == 0 || l->command_max > IMAP_PARSE_HELD_CEILING || l->line_max > l->command_max ||
	    l->literal_max > l->command_max || l->skip_max < l->command_max)
		return 0;
	if (l->depth_max == 0 || l->depth_max > IMAP_PARSE_COUNT_CEILING || l->args_max == 0 ||
	    l->args_max > IMAP_PARSE_COUNT_CEILING)
		return 0;
	/* Room for a tag and a command name. */
	if (l->tag_max == 0 || l->line_max < 8 || l->tag_max > l->line_max - 8)
		return 0;
	return 1;
}

int
imap_parse_new(const struct imap_parse_limits *limits, unsigned flags, struct imap_parse **p_r)
{
	struct imap_parse *p = NULL;
	struct imap_parse_limits l;

	if (limits != NULL)
		l = *limits;
	else
		imap_parse_limits_default(&l);
	if (!imap_parse_limits_ok(&l))
		goto fail;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto fail;
	p->lim = l;
	/* Every byte held is stored at most once, with one NUL per string and the tag's. */
	p->arena_cap = l.command_max + l.args_max + 1;
	p->arena = malloc(p->arena_cap);
	/* Written before they are read: no need to clear them. */
	p->nodes = reallocarray(NULL, l.args_max + 1, sizeof(*p->nodes));
	p->out = reallocarray(NULL, l.args_max, sizeof(*p->out));
	p->bfs = reallocarray(NULL, l.args_max, sizeof(*p->bfs));
	p->stack = reallocarray(NULL, l.depth_max, sizeof(*p->stack));
	if (p->arena == NULL || p->nodes == NULL || p->out == NULL || p->bfs == NULL || p->stack == NULL)
		goto fail;
	p->flags_next = p->flags = flags;
	imap_parse_begin(p);
	p->fresh = 1;
	*p_r = p;
	return 0;

fail:
	imap_parse_free(&p);
	return -1;
}

void
imap_parse_free(struct imap_parse **pp)
{
	struct imap_parse *p = *pp;

	if (p == NULL)
		return;
	/* Each command wiped the bytes of the one before: the last one's are left. */
	if (p->arena != NULL)
		sodium_memzero(p->arena, p->arena_len);
	free(p->arena);
	free(p->nodes);
	free(p->out);
	free(p->bfs);
	free(p->stack);
	sodium_memzero(p, sizeof(*p));
	free(p);
	*pp = NULL;
}

/* ---- helpers ---- */

int
imap_parse_arg_is(const struct imap_arg *a, const char *word)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NUMBER && a->type != IMAP_ARG_NIL)
		return 0;
	return imap_parse_word_is((const uint8_t *)a->str, a->len, word);
}

int
imap_parse_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NUMBER:
	case IMAP_ARG_NIL:
		for (size_t i = 0; i < a->len; i++) {
			if (!imap_parse_astring_char((uint8_t)a->str[i]))
				return -1;
		}
		break;
	case IMAP_ARG_STRING:
		break;
	case IMAP_ARG_LITERAL:
		if (a->flags & (IMAP_ARG_BINARY | IMAP_ARG_STREAMED))
			return -1;
		break;
	default:
		return -1;
	}
	*s_r = a->str;
	*len_r = a->len;
	return 0;
}

int
imap_parse_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *v_r)
{
	if (a->type != IMAP_ARG_NUMBER || a->num > max)
		return -1;
	*v_r = a->num;
	return 0;
}

/* seq-number: nz-number (32-bit) or "*". */
static int
imap_parse_seq_number(struct cursor *c, uint32_t *v_r)
{
	size_t n = 0;
	uint64_t v;

	if (c->left > 0 && c->p[0] == '*') {
		(void)cursor_skip(c, 1);
		*v_r = IMAP_PARSE_SEQ_STAR;
		return 0;
	}
	while (n < c->left && imap_parse_digit(c->p[n]))
		n++;
	if (n == 0 || c->p[0] == '0' || imap_parse_digits(c->p, n, UINT32_MAX, &v) != 0)
		return -1;
	(void)cursor_skip(c, n);
	*v_r = (uint32_t)v;
	return 0;
}

int
imap_parse_seqset(const char *s, size_t len, struct imap_parse_seq *out, size_t cap, int *saved_r)
{
	struct cursor c = cursor_init(s, len);
	size_t count = 0;
	int saved = 0;

	if (saved_r != NULL)
		*saved_r = 0;
	for (;;) {
		if (c.left > 0 && c.p[0] == '$' && saved_r != NULL) {
			(void)cursor_skip(&c, 1);
			saved = 1;
		} else {
			struct imap_parse_seq e;

			if (imap_parse_seq_number(&c, &e.first) != 0)
				return -1;
			e.last = e.first;
			if (c.left > 0 && c.p[0] == ':') {
				(void)cursor_skip(&c, 1);
				if (imap_parse_seq_number(&c, &e.last) != 0)
					return -1;
			}
			if (count < cap)
				out[count] = e;
			if (++count > INT32_MAX)
				return -1;
		}
		if (c.left == 0)
			break;
		if (c.p[0] != ',')
			return -1;
		(void)cursor_skip(&c, 1);
	}
	if (saved_r != NULL)
		*saved_r = saved;
	return (int)count;
}

/* Take word (upper case) in any case if the cursor is at it. Returns 1 if it was. */
static int
imap_parse_eat_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);

	if (c->left < n || !imap_parse_word_is(c->p, n, word))
		return 0;
	(void)cursor_skip(c, n);
	return 1;
}

static int
imap_parse_eat(struct cursor *c, uint8_t b)
{
	if (c->left == 0 || c->p[0] != b)
		return 0;
	(void)cursor_skip(c, 1);
	return 1;
}

/* A number of at most max at c; nz: no 0 and no leading zero. Returns 0 or -1. */
static int
imap_parse_cursor_number(struct cursor *c, int nz, uint64_t max, uint64_t *v_r)
{
	size_t n = 0;

	while (n < c->left && imap_parse_digit(c->p[n]))
		n++;
	if (n == 0 || (nz && c->p[0] == '0') || imap_parse_digits(c->p, n, max, v_r) != 0)
		return -1;
	(void)cursor_skip(c, n);
	return 0;
}

/* A header field name: an astring of RFC 5322 ftext (printable ASCII but ":"), no escapes. */
static int
imap_parse_field_name(struct cursor *c, struct imap_parse_span *span_r)
{
	size_t n = 0;

	if (imap_parse_eat(c, '"')) {
		while (n < c->left && c->p[n] != '"') {
			if (c->p[n] < 0x21 || c->p[n] > 0x7e || c->p[n] == ':' || c->p[n] == '\\')
				return -1;
			n++;
		}
		if (n == 0 || n == c->left)
			return -1;
		span_r->s = (const char *)c->p;
		span_r->len = n;
		(void)cursor_skip(c, n + 1);
		return 0;
	}
	while (n < c->left && c->p[n] != ' ' && c->p[n] != ')') {
		if (!imap_parse_astring_char(c->p[n]) || c->p[n] == ':')
			return -1;
		n++;
	}
	if (n == 0)
		return -1;
	span_r->s = (const char *)c->p;
	span_r->len = n;
	(void)cursor_skip(c, n);
	return 0;
}

/* section-msgtext or, after a part, section-text: HEADER, HEADER.FIELDS[.NOT] (...), TEXT, MIME. */
static int
imap_parse_section_text(struct cursor *c, struct imap_parse_section *sec)
{
	if (imap_parse_eat_word(c, "HEADER.FIELDS.NOT"))
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
	else if (imap_parse_eat_word(c, "HEADER.FIELDS"))
		sec->text = IMAP_SECTION_HEADER_FIELDS;
	else if (imap_parse_eat_word(c, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (imap_parse_eat_word(c, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (sec->nparts > 0 && imap_parse_eat_word(c, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else
		return -1;
	if (sec->text != IMAP_SECTION_HEADER_FIELDS && sec->text != IMAP_SECTION_HEADER_FIELDS_NOT)
		return 0;
	if (!imap_parse_eat(c, ' ') || !imap_parse_eat(c, '('))
		return -1;
	do {
		if (sec->nfields == IMAP_PARSE_SECTION_FIELDS_MAX ||
		    imap_parse_field_name(c, &sec->fields[sec->nfields]) != 0)
			return -1;
		sec->nfields++;
	} while (imap_parse_eat(c, ' '));
	return imap_parse_eat(c, ')') ? 0 : -1;
}

int
imap_parse_section(const char *s, size_t len, struct imap_parse_section *sec_r)
{
	struct cursor c = cursor_init(s, len);
	size_t n = 0;
	int binary;

	memset(sec_r, 0, sizeof(*sec_r));
	while (n < len && s[n] != '[')
		n++;
	if (n == len)
		goto fail;
	for (sec_r->item = 0; (size_t)sec_r->item < IMAP_PARSE_SECTION_ITEMS; sec_r->item++) {
		if (imap_parse_word_is((const uint8_t *)s, n, imap_parse_section_items[sec_r->item]))
			break;
	}
	if ((size_t)sec_r->item == IMAP_PARSE_SECTION_ITEMS)
		goto fail;
	(void)cursor_skip(&c, n + 1);
	binary = sec_r->item >= IMAP_SECTION_BINARY;
	/* section-part: nz-number *("." nz-number) */
	while (c.left > 0 && imap_parse_digit(c.p[0])) {
		uint64_t v;

		if (sec_r->nparts == IMAP_PARSE_SECTION_PARTS_MAX ||
		    imap_parse_cursor_number(&c, 1, UINT32_MAX, &v) != 0)
			goto fail;
		sec_r->part[sec_r->nparts++] = (uint32_t)v;
		if (c.left < 2 || c.p[0] != '.' || !imap_parse_digit(c.p[1]))
			break;
		(void)cursor_skip(&c, 1);
	}
	if (!binary && c.left > 0 && c.p[0] != ']') {
		if (sec_r->nparts > 0 && !imap_parse_eat(&c, '.'))
			goto fail;
		if (imap_parse_section_text(&c, sec_r) != 0)
			goto fail;
	}
	if (!imap_parse_eat(&c, ']'))
		goto fail;
	if (imap_parse_eat(&c, '<')) {
		if (sec_r->item == IMAP_SECTION_BINARY_SIZE ||
		    imap_parse_cursor_number(&c, 0, INT64_MAX, &sec_r->offset) != 0 || !imap_parse_eat(&c, '.') ||
		    imap_parse_cursor_number(&c, 1, INT64_MAX, &sec_r->length) != 0 || !imap_parse_eat(&c, '>'))
			goto fail;
		sec_r->partial = 1;
	}
	if (c.left != 0)
		goto fail;
	return 0;

fail:
	memset(sec_r, 0, sizeof(*sec_r));
	return -1;
}
