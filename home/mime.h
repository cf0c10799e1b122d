/*
 * mime.h: the MIME structure of a message as IMAP needs it (BODYSTRUCTURE,
 * ENVELOPE, BODY[section] offsets), computed once while the message streams
 * in at delivery, kept in the store as a blob, and written out by FETCH
 * without reading the message again. docs/mime.md says why it is our own
 * parser and not GMime, and how malformed MIME degrades.
 *
 *   mime.c        mime_parser_*, mime_find, mime_section: the streaming parser
 *   mime_field.c  mime_field_*: Content-Type, parameters (RFC 2045, RFC 2231)
 *   mime_addr.c   mime_addr_*: RFC 5322 address lists
 *   mime_word.c   mime_word_*: RFC 2047 encoded words, RFC 2231 values, to UTF-8
 *   mime_blob.c   mime_blob_*: the table as a versioned blob and back
 *   mime_decode.c mime_decoder_*: a part's transfer encoding undone, streamed
 *   mime_text.c   mime_text_*: the decoded text of a message, for SEARCH
 *   mime_iconv.c  mime_iconv_*: other charsets through iconv(3) (the one file that is not pure)
 *   mime_imap.c   mime_imap_*: BODYSTRUCTURE, BODY and ENVELOPE as IMAP text
 *
 * All of it but mime_iconv.c is pure: bytes in, bytes out, no I/O, no
 * globals, no logging.
 */
#ifndef HOMEPORT_MIME_H
#define HOMEPORT_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- limits (docs/LIMITS.md); a parser is made with its own, these are the defaults ---- */

#define MIME_DEPTH_MAX 100		/* multiparts and messages nested in each other */
#define MIME_PARTS_MAX 10000		/* entries of the table (Dovecot's default too) */
#define MIME_HEADER_MAX (64 * 1024)	/* bytes of one header field kept, and kept for one part */
#define MIME_BOUNDARY_MAX 200		/* bytes of a boundary (RFC 2046 says 70) */
#define MIME_KEPT_MAX (1024 * 1024)	/* bytes of strings, parameters and addresses of one message */
#define MIME_PARAMS_MAX 64		/* parameters of one Content-Type or Content-Disposition */
#define MIME_LIMIT_DEPTH_MAX 1000	/* the most depth_max a parser or a blob may have */
#define MIME_LIMIT_BOUNDARY_MAX 1000	/* the most boundary_max a parser may have */
#define MIME_LIMIT_HEADER_MIN 64	/* the least header_max a parser may have */
#define MIME_BLOB_MAX (64 * 1024 * 1024) /* bytes of a blob mime_blob_read() takes */

#define MIME_NONE UINT32_MAX		/* no index, no string */

struct mime_limits {
	uint32_t depth_max;	/* 1..MIME_LIMIT_DEPTH_MAX: deeper multiparts and messages are leaves */
	uint32_t parts_max;	/* >= 1: once reached, the rest of the message is the open part's body */
	uint32_t header_max;	/* >= MIME_LIMIT_HEADER_MIN: a longer field is cut; a part keeps
				   no more string bytes than this */
	uint32_t boundary_max;	/* 1..MIME_LIMIT_BOUNDARY_MAX: a longer boundary makes the
				   multipart unusable */
	uint32_t kept_max;	/* >= header_max: bytes of strings and records of the message;
				   past it, strings are dropped (NIL) */
};

/* ---- the result: a flat table of the message's entities, in document order ---- */

/* Bytes text[off..off + len) of the table; off == MIME_NONE: absent (IMAP NIL). */
struct mime_str {
	uint32_t off;
	uint32_t len;
};

/* A parameter (name absent for a Content-Language tag). */
struct mime_param {
	struct mime_str name;	/* as written; RFC 2231 continuations joined: "title" or "title*" */
	struct mime_str value;	/* unquoted; an extended value stays charset'lang'%XX */
};

enum mime_addr_kind {
	MIME_ADDR_MAILBOX = 0,	/* name route mailbox host; mailbox or host absent when missing */
	MIME_ADDR_GROUP = 1,	/* the start of a group: its name in mailbox */
	MIME_ADDR_GROUP_END = 2,/* the end of the group: no strings */
};

/* One address: what an IMAP address structure holds (RFC 3501 7.4.2). */
struct mime_addr {
	uint32_t kind;		/* enum mime_addr_kind */
	struct mime_str name;	/* display name, quotes removed, words joined by one space */
	struct mime_str route;	/* obsolete source route "@a,@b" */
	struct mime_str mailbox;/* local part, quotes removed, or the group's name */
	struct mime_str host;	/* domain, or [literal] */
};

/* The ENVELOPE fields, in IMAP's order. */
enum mime_env_field {
	MIME_ENV_DATE,
	MIME_ENV_SUBJECT,
	MIME_ENV_FROM,
	MIME_ENV_SENDER,
	MIME_ENV_REPLY_TO,
	MIME_ENV_TO,
	MIME_ENV_CC,
	MIME_ENV_BCC,
	MIME_ENV_IN_REPLY_TO,
	MIME_ENV_MESSAGE_ID,
	MIME_ENV_FIELDS,
};

struct mime_envelope {
	struct mime_str field[MIME_ENV_FIELDS];	/* first such field, unfolded, leading blanks
						   removed; encoded words left as they are */
	uint32_t addr_first[MIME_ENV_FIELDS];	/* address fields: m->addrs[first..first + count) */
	uint32_t addr_count[MIME_ENV_FIELDS];
};

/* struct mime_part flags */
#define MIME_PART_MULTIPART 0x01	/* a multipart: children are its parts (none: unusable) */
#define MIME_PART_RFC822 0x02		/* message/rfc822: its one child is the message (none: not parsed) */
#define MIME_PART_MESSAGE 0x04		/* a message (the root, or an RFC822 part's child): envelope */
#define MIME_PART_MALFORMED 0x08	/* something here was repaired (docs/mime.md) */

/*
 * One entity: a header and a body. The root is entry 0; every entity's
 * subtree follows it (children in order), so the first child of i is
 * i + 1 and the next sibling of c is c + parts[c].subtree.
 */
struct mime_part {
	uint32_t parent;	/* MIME_NONE for the root */
	uint32_t subtree;	/* entries from this one to the end of its subtree, itself included */
	uint32_t children;
	uint32_t number;	/* 1-based position among the parent's children */
	uint32_t depth;		/* 0 for the root */
	uint32_t flags;		/* MIME_PART_* */
	uint32_t envelope;	/* index into m->envs for a MESSAGE, else MIME_NONE */
	uint64_t header_offset;	/* bytes from the start of the message */
	uint64_t header_size;	/* with the empty line that ends it */
	uint64_t body_offset;	/* header_offset + header_size */
	uint64_t body_size;	/* up to the line end before the next boundary, or the end */
	uint64_t body_lines;	/* LF bytes in the body */
	struct mime_str type;	/* Content-Type as written; absent: text/plain (also when invalid) */
	struct mime_str subtype;
	uint32_t param_first, param_count;	/* Content-Type parameters in m->params */
	struct mime_str id;		/* Content-ID */
	struct mime_str description;	/* Content-Description */
	struct mime_str encoding;	/* Content-Transfer-Encoding token; absent: 7bit */
	struct mime_str md5;		/* Content-MD5 */
	struct mime_str disposition;	/* Content-Disposition token */
	uint32_t dparam_first, dparam_count;	/* its parameters */
	uint32_t lang_first, lang_count;	/* Content-Language tags (params without a name) */
	struct mime_str location;	/* Content-Location */
};

/* struct mime flags: what the message did to the parser (for the log) */
#define MIME_F_MALFORMED 0x01	/* some entity was repaired */
#define MIME_F_LIMIT 0x02	/* a limit cut the structure or dropped strings */

struct mime {
	uint64_t size;			/* bytes of the message */
	uint64_t lines;			/* LF bytes of the message */
	uint32_t flags;			/* MIME_F_* */
	struct mime_part *parts;	/* nparts >= 1 */
	uint32_t nparts;
	struct mime_param *params;
	uint32_t nparams;
	struct mime_addr *addrs;
	uint32_t naddrs;
	struct mime_envelope *envs;
	uint32_t nenvs;
	uint8_t *text;			/* every string; none holds NUL, CR or LF */
	uint32_t textlen;
	/* capacities of the arrays above (internal) */
	uint32_t parts_cap, params_cap, addrs_cap, envs_cap, text_cap;
};

/* ---- mime.c: the streaming parser ---- */

struct mime_parser;

/* The default limits (the *_MAX above). */
void mime_limits_default(struct mime_limits *lim);

/*
 * A parser for one message, with lim (NULL: the defaults; copied).
 * Memory: about lim->header_max + depth_max * boundary_max bytes of state,
 * and the table, which parts_max and kept_max bound, whatever the message.
 * Returns 0 and *p_r (release with mime_parser_free()), or -1: out of
 * memory or limits out of range.
 */
int mime_parser_new(const struct mime_limits *lim, struct mime_parser **p_r);

/*
 * Take data[0..len), the next bytes of the message, cut anywhere: the
 * result is the same whatever the pieces. All of it is always taken (no
 * "need more": the parser keeps what it needs), and nothing in the
 * message is an error (docs/mime.md: how malformed MIME degrades).
 * Returns 0, or -1 when out of memory or after finish (the parser can
 * then only be freed).
 */
int mime_parser_feed(struct mime_parser *p, const void *data, size_t len);

/*
 * The message ended: close every open entity there and hand the table
 * over. Returns 0 and *m_r (the caller's: mime_free()), or -1 when out of
 * memory. The parser can only be freed afterwards.
 */
int mime_parser_finish(struct mime_parser *p, struct mime **m_r);

/* Free *pp (NULL is fine) and set it to NULL. */
void mime_parser_free(struct mime_parser **pp);

/* Free *mp (NULL is fine) and set it to NULL. */
void mime_free(struct mime **mp);

/* One message, whole: new, feed, finish. Returns 0 and *m_r, or -1 (out of memory). */
int mime_parse(const void *data, size_t len, const struct mime_limits *lim, struct mime **m_r);

/*
 * The entity an IMAP section part number names ("1", "2.1.3"; digits and
 * dots only, no HEADER/TEXT/MIME), as RFC 3501 6.4.5 numbers them: a
 * non-multipart message's body is part 1; an RFC822 part's parts are its
 * message's. BODY[s] is that entity's body, BODY[s.MIME] its header,
 * BODY[s.HEADER] and BODY[s.TEXT] its child's header and body when it is
 * an RFC822 part. Returns the index, or -1 when there is no such part.
 */
int64_t mime_find(const struct mime *m, const char *section, size_t len);

/*
 * The part number of entity i ("" for a multipart root, "1" for a
 * non-multipart root; an RFC822 part's multipart message has the RFC822
 * part's number) into out[0..cap), NUL-terminated. Returns its length, or
 * -1 when it does not fit or i is out of range.
 */
int mime_section(const struct mime *m, uint32_t i, char *out, size_t cap);

/* The bytes of s (not NUL-terminated), or NULL when absent; *len_r its length. */
const uint8_t *mime_str_get(const struct mime *m, struct mime_str s, size_t *len_r);

/* ---- mime_field.c: structured MIME header fields (pure) ---- */

/* A span of some bytes; p == NULL: absent. */
struct mime_span {
	const uint8_t *p;
	size_t len;
};

struct mime_field_param {
	struct mime_span name;
	struct mime_span value;
};

/*
 * Content-Type value v[0..len) (unfolded): type "/" subtype, comments and
 * blanks allowed around the tokens. Sets *type_r, *subtype_r and *rest_r
 * (the bytes after the subtype: the parameters). Returns 0, or -1 when the
 * value is not type/subtype (RFC 2045 5.2: then it is text/plain).
 */
int mime_field_type(const uint8_t *v, size_t len, struct mime_span *type_r,
		    struct mime_span *subtype_r, struct mime_span *rest_r);

/*
 * A single token (Content-Disposition's type, Content-Transfer-Encoding)
 * at the start of v[0..len), comments and blanks around it allowed. Sets
 * *token_r and *rest_r (the bytes after it). Returns 0, or -1 when there
 * is none.
 */
int mime_field_token(const uint8_t *v, size_t len, struct mime_span *token_r,
		     struct mime_span *rest_r);

/*
 * The parameters ";" name "=" value in v[0..len), which is rewritten in
 * place (quoted strings unquoted), into out[0..cap); names and values
 * point into v. Lenient: an unquoted value runs to the next ";" or comment
 * (filename=my file.pdf), a parameter without "=" is skipped. Returns the
 * number of parameters (at most cap; the rest are dropped).
 */
size_t mime_field_params(uint8_t *v, size_t len, struct mime_field_param *out, size_t cap);

/*
 * RFC 2231 continuations: name*0, name*1*, ... of params[0..n) joined, in
 * order of their numbers (the first missing number ends them; without a
 * name*0 there is nothing), into one "name" (no piece extended) or "name*"
 * (some extended; plain pieces are appended as they are) parameter. Calls
 * emit(ctx, name, value) for every resulting parameter: first those
 * without a "*", in order, then the extended and joined ones in the order
 * of their first piece (Dovecot's order). scratch[0..cap) holds joined
 * names and values (the total of all names and values, plus n, is
 * enough). Returns 0, or -1 when emit returned -1 or scratch was too small.
 */
int mime_field_rfc2231(const struct mime_field_param *params, size_t n, uint8_t *scratch,
		       size_t cap, int (*emit)(void *ctx, struct mime_span name, struct mime_span value),
		       void *ctx);

/*
 * Content-Language: the language tags of v[0..len) (a comma-separated
 * list; comments and blanks skipped) into out[0..cap). Returns how many.
 */
size_t mime_field_languages(const uint8_t *v, size_t len, struct mime_span *out, size_t cap);

/* 1 if a[0..alen) equals the NUL-terminated lower-case word without regard to ASCII case. */
int mime_field_is(const uint8_t *a, size_t alen, const char *word);

/* ---- mime_addr.c: RFC 5322 address lists (pure) ---- */

/* One address as mime_addr_parse() finds it: spans into scratch or the input. */
struct mime_addr_item {
	int kind;			/* enum mime_addr_kind */
	struct mime_span name, route, mailbox, host;
};

/*
 * The address list v[0..len) (an unfolded From, To, Cc ... value), the
 * obsolete forms of RFC 5322 4.4 included: groups, routes, comments (a
 * comment after a bare address is its name when it has none), quoted
 * strings, domain literals; encoded words are left as they are. Never
 * fails on syntax: a missing local part or domain is absent, stray bytes
 * are skipped, an unclosed group or angle bracket is closed at the end.
 * Calls emit(ctx, item) per address in order; item's strings are valid
 * during the call. scratch[0..cap) (cap >= len) holds the names built.
 * Returns the number of items, or -1 when emit returned -1 or cap < len.
 */
int64_t mime_addr_parse(const uint8_t *v, size_t len, uint8_t *scratch, size_t cap,
			int (*emit)(void *ctx, const struct mime_addr_item *item), void *ctx);

/* ---- mime_word.c: encoded words to UTF-8, for SEARCH (pure) ---- */

/*
 * A charset converter the caller may supply (e.g. over iconv): convert
 * in[0..len) in charset (NUL-terminated, as written) to UTF-8, appended to
 * out. Returns 0, 1 when it does not know the charset, or -1 when out is
 * full.
 */
typedef int mime_word_charset_fn(void *ctx, const char *charset, const uint8_t *in, size_t len,
				 struct buf *out);

/*
 * Unstructured text v[0..len) (Subject, a display name) with its RFC 2047
 * encoded words decoded, appended to out as UTF-8; the blanks between two
 * adjacent encoded words go. Charsets UTF-8, US-ASCII, ISO-8859-1 and
 * Windows-1252 are known here; others go to conv (may be NULL), and a
 * word nobody can decode stays as written. Invalid UTF-8 (8-bit bytes
 * outside words too) becomes U+FFFD. Returns 0, or -1 when out is full.
 */
int mime_word_decode(const uint8_t *v, size_t len, struct buf *out, mime_word_charset_fn *conv,
		     void *ctx);

/*
 * An RFC 2231 extended parameter value charset'lang'%XX... to UTF-8,
 * appended to out, with the same charsets. A value that is not in that
 * form is appended as it is (made valid UTF-8). Returns 0, or -1 when out
 * is full.
 */
int mime_word_decode_2231(const uint8_t *v, size_t len, struct buf *out, mime_word_charset_fn *conv,
			  void *ctx);

/*
 * in[0..len), text in charset (NUL-terminated, as written), appended to
 * out as UTF-8: the charsets mime_word_decode() knows, conv (may be NULL)
 * for the others. Returns 0, 1 when nobody knows the charset, or -1 when
 * out is full; on 1 and -1 nothing was appended.
 */
int mime_word_decode_charset(const char *charset, const uint8_t *in, size_t len, struct buf *out,
			     mime_word_charset_fn *conv, void *ctx);

/* ---- mime_decode.c: a part's Content-Transfer-Encoding undone (pure) ---- */

enum mime_cte {
	MIME_CTE_IDENTITY,	/* 7bit, 8bit, binary, or none given */
	MIME_CTE_BASE64,
	MIME_CTE_QP,		/* quoted-printable */
	MIME_CTE_UNKNOWN,	/* another token: nothing to undo it with (RFC 3516's UNKNOWN-CTE) */
};

/* A decoder's state; the caller's, set by mime_decoder_init(). */
struct mime_decoder {
	int cte;		/* enum mime_cte; UNKNOWN decodes as IDENTITY */
	uint32_t b64_acc;
	int b64_bits;
	int qp_state;
	int qp_hex;		/* the first hex digit's value */
};

/* A hex digit's value (either case), or -1. */
int mime_hex_value(uint8_t c);

/* A base64 character's value (RFC 4648 alphabet), or -1. */
int mime_b64_value(uint8_t c);

/* Entity p's transfer encoding (enum mime_cte). */
int mime_cte(const struct mime *m, const struct mime_part *p);

void mime_decoder_init(struct mime_decoder *d, int cte);

/*
 * Undo the transfer encoding of s[0..n) into out (room for n + 2 bytes:
 * no encoding grows, but quoted-printable may give back up to 2 bytes it
 * held from the call before as written). Lenient: base64 skips what is
 * not in its alphabet and restarts after "="; a quoted-printable "=" not
 * followed by two hex digits or a line end stays as it is. The state
 * carries over from one call to the next. Returns the bytes written.
 */
size_t mime_decoder_feed(struct mime_decoder *d, const uint8_t *s, size_t n, uint8_t *out);

/* The quoted-printable bytes left unfinished at the end, as written (into out, at most 2). */
size_t mime_decoder_end(struct mime_decoder *d, uint8_t *out);

/* ---- mime_text.c: a message's text for the full-text index (pure) ---- */

#define MIME_TEXT_BODY_MAX (1024 * 1024)	/* bytes of body text kept per message */
#define MIME_TEXT_HEADER_MAX (256 * 1024)	/* bytes of header text kept per message */
#define MIME_TEXT_FIELD_MAX (16 * 1024)		/* bytes of Subject, From, To, Cc or Bcc text */

/* What is extracted; each is one column of the store's index. */
enum mime_text_field {
	MIME_TEXT_SUBJECT,	/* the root's first Subject, unfolded, encoded words decoded */
	MIME_TEXT_FROM,		/* the same of From, To, Cc, Bcc (the field as text) */
	MIME_TEXT_TO,
	MIME_TEXT_CC,
	MIME_TEXT_BCC,
	MIME_TEXT_HEADER,	/* the root's header block: one unfolded, decoded field per line */
	MIME_TEXT_BODY,		/* the text parts decoded, and embedded messages' headers */
	MIME_TEXT_FIELDS,
};

/* struct mime_text flags */
#define MIME_TEXT_F_CUT 0x01	/* a cap (MIME_TEXT_*_MAX) cut some text */

struct mime_text {
	char *text[MIME_TEXT_FIELDS];	/* NUL-terminated valid UTF-8 with no NUL or CR; never NULL */
	size_t len[MIME_TEXT_FIELDS];	/* strlen() of each */
	uint32_t flags;			/* MIME_TEXT_F_* */
	size_t alloc[MIME_TEXT_FIELDS];	/* bytes allocated (internal) */
};

/*
 * The caller's reader: up to cap bytes of the message from offset into
 * buf, *len_r how many (fewer is fine; 0: nothing there). Returns 0, or
 * -1 to stop the extraction (the reader keeps its own error).
 */
typedef int mime_text_read_fn(void *ctx, uint64_t offset, uint8_t *buf, size_t cap, size_t *len_r);

/*
 * The text of the message whose table is m (docs/mime.md, "Text for
 * SEARCH"), its bytes read through read: the fields of enum
 * mime_text_field, each capped at a character boundary. Text parts are
 * undone from base64 and quoted-printable and converted to UTF-8 from
 * their charset (mime_word_decode_charset(), conv for what it does not
 * know; unknown charsets are taken as UTF-8, invalid bytes U+FFFD). Only
 * the parts that hold text are read. Memory: about 100 KiB besides the
 * outputs, whatever the message. Nothing in the message is an error.
 * Returns 0 and *t_r (mime_text_free()), or -1: out of memory, or the
 * reader returned -1.
 */
int mime_text_extract(const struct mime *m, mime_text_read_fn *read, void *read_ctx,
		      mime_word_charset_fn *conv, void *conv_ctx, struct mime_text **t_r);

/* Free *tp (NULL is fine) and set it to NULL. */
void mime_text_free(struct mime_text **tp);

/* ---- mime_iconv.c: other charsets through iconv(3) (not pure: glibc loads converters) ---- */

struct mime_iconv;

/* A converter (mime_iconv_free()). Returns 0 and *c_r, or -1 when out of memory. */
int mime_iconv_new(struct mime_iconv **c_r);

/* Free *cp (NULL is fine) and set it to NULL. */
void mime_iconv_free(struct mime_iconv **cp);

/*
 * A mime_word_charset_fn; ctx is a struct mime_iconv, which keeps the
 * last charset's descriptor open. Charset names other than letters,
 * digits and "-_.:" are unknown. Bytes that are no character, and one
 * cut at the end, become U+FFFD. Returns 0, 1 (unknown charset), or -1
 * (out is full; out->len may have moved: the caller restores it, as
 * mime_word_decode_charset() does).
 */
int mime_iconv_convert(void *ctx, const char *charset, const uint8_t *in, size_t len, struct buf *out);

/* ---- mime_blob.c: the table as bytes for the store, and back ---- */

#define MIME_BLOB_VERSION 1

/*
 * m as a compact blob (docs/mime.md, "The blob"): *blob_r (the caller
 * frees it) of *len_r bytes. Returns 0, or -1 when out of memory.
 */
int mime_blob_write(const struct mime *m, uint8_t **blob_r, size_t *len_r);

/*
 * A blob back as a table. Everything is checked (version, every index,
 * string and offset in range, the tree consistent), so a damaged blob is
 * refused rather than trusted. Returns 0 and *m_r (mime_free()), or -1:
 * damaged, another version, or out of memory.
 */
int mime_blob_read(const uint8_t *blob, size_t len, struct mime **m_r);

/* ---- mime_imap.c: the IMAP strings FETCH sends (RFC 3501 7.4.2, RFC 9051 7.5.2) ---- */

/*
 * Append the body structure of entity i: BODYSTRUCTURE with extended != 0,
 * BODY without. Strings are quoted when they can be, literals when not
 * (8-bit bytes), NIL when absent; the defaults (text/plain, charset
 * us-ascii, 7bit) are filled in; a multipart without parts gets Dovecot's
 * one empty text/plain part, an RFC822 part without a message an empty
 * envelope and body. Returns 0, or -1 when out is full.
 */
int mime_imap_bodystructure(const struct mime *m, uint32_t i, int extended, struct buf *out);

/*
 * Append the ENVELOPE of entity i (a MESSAGE: 0, or an RFC822 part's
 * child). Sender and Reply-To are From when absent or empty; an address
 * without a mailbox or host gets Dovecot's MISSING_MAILBOX, MISSING_DOMAIN.
 * Returns 0, or -1 when out is full or i is not a message.
 */
int mime_imap_envelope(const struct mime *m, uint32_t i, struct buf *out);

/* Append s[0..len) as an IMAP string: quoted if it can be, else a literal. Returns 0 or -1 (full). */
int mime_imap_string(struct buf *out, const uint8_t *s, size_t len);

#endif
