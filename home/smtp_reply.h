/*
 * smtp_reply: one SMTP reply as the home's SMTP client receives it
 * (RFC 5321 4.2, 4.1.1.1 for EHLO's keywords, RFC 3463 and RFC 2034 for
 * enhanced status codes). Framing and syntax only: what a code means
 * after which command is the client's. Pure: no I/O, no logging, no
 * globals but constant tables; every read is bounds-checked.
 *
 * A reply is one or more lines, each the same three-digit code, then
 * '-' on every line but the last, SP (or nothing) on the last:
 *   250-mx.example.test
 *   250-SIZE 10240000
 *   250 STARTTLS
 * A line ends at CRLF or at a bare LF (some servers send those). A CR
 * anywhere else, a NUL or any other byte outside printable ASCII is
 * accepted as text: the reply's meaning is its code, and refusing a 250
 * over its wording would turn a delivery into a retry. Such bytes never
 * reach a log or a DSN: the text kept is printable ASCII only.
 *
 * A header of its own, as imap_parse.h and mime.h are: home.h already has
 * a struct smtp_reply (the server's replies), so the parsed reply here is
 * struct smtp_reply_parsed.
 */
#ifndef HOMEPORT_SMTP_REPLY_H
#define HOMEPORT_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_LINE_MAX 2048	/* one reply line with its CRLF; RFC 5321 says 512, servers exceed it */
#define SMTP_REPLY_LINES_MAX 200	/* lines in one reply (EHLO lists) */
#define SMTP_REPLY_TEXT_MAX 1024	/* text kept of one reply, with its NUL */
#define SMTP_REPLY_STATUS_MAX 16	/* an enhanced status code "5.1.1" with its NUL */

enum smtp_ext {			/* EHLO keywords (RFC 5321 4.1.1.1), bits of smtp_reply_parsed.ext */
	SMTP_EXT_STARTTLS = 1 << 0,	/* RFC 3207 */
	SMTP_EXT_PIPELINING = 1 << 1,	/* RFC 2920 */
	SMTP_EXT_SIZE = 1 << 2,		/* RFC 1870 */
	SMTP_EXT_8BITMIME = 1 << 3,	/* RFC 6152 */
	SMTP_EXT_SMTPUTF8 = 1 << 4,	/* RFC 6531 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 5,	/* RFC 2034 */
	SMTP_EXT_CHUNKING = 1 << 6,	/* RFC 3030 */
	SMTP_EXT_DSN = 1 << 7,		/* RFC 3461 */
};

/* A parsed reply; every string NUL-terminated. */
struct smtp_reply_parsed {
	int code;			/* 200..559, its second digit 0..5 */
	/*
	 * The RFC 3463 code class.subject.detail (1 to 3 digits each) that
	 * starts the first line's text, followed by SP or the line's end, when
	 * its class is 2, 4 or 5 and equals the code's first digit; else "".
	 */
	char status[SMTP_REPLY_STATUS_MAX];
	/*
	 * For logs and DSN Diagnostic-Code fields: the code, then each line's
	 * text (what follows the code and its separator) after one SP, lines
	 * with no text skipped: "550 5.1.1 <u@example.test>: Recipient address
	 * rejected". Every byte outside 0x20..0x7E is '?'. Longer than
	 * SMTP_REPLY_TEXT_MAX - 1 characters: cut to that, its last three "...".
	 */
	char text[SMTP_REPLY_TEXT_MAX];
	unsigned nlines;		/* 1..SMTP_REPLY_LINES_MAX */
	/*
	 * Lines 2.. read as EHLO keywords (meaningful only in a 250 reply to
	 * EHLO): a line's first word (words are separated by SPs) is its
	 * keyword, without regard to ASCII case, the next word its first
	 * parameter; unknown keywords are ignored. enum smtp_ext bits.
	 */
	unsigned ext;
	/*
	 * SIZE's parameter: 1 to 20 decimal digits that fit in 64 bits, else
	 * (none, not a number, overflow) 0, as when there is no SIZE line. 0
	 * also means "no fixed maximum" (RFC 1870). The last SIZE line counts.
	 */
	uint64_t size_max;
};

/*
 * Parse the one reply at the start of in[0..len). Returns its length in
 * bytes (>0; the bytes after it belong to the next reply) and fills *r_r;
 * 0 when in[0..len) is a valid start of a reply that needs more bytes; -1
 * when it is malformed, with *err_r set to static text:
 *   "bad reply code"            a line not starting with three digits, the
 *                               first 2..5, the second 0..5
 *   "reply code differs between lines"
 *   "bad separator after reply code"
 *                               the code not followed by SP, '-', CRLF or LF
 *   "too many reply lines"      a line SMTP_REPLY_LINES_MAX with '-'
 *   "reply line too long"       no LF within the first SMTP_REPLY_LINE_MAX
 *                               bytes of a line (its CRLF or LF included)
 * An error is found at the first byte that shows it, so every prefix of a
 * complete reply returns 0 and every input longer than a refused one is
 * refused too, with the same text. On 0 and -1, *r_r is zeroed. A reply
 * is at most SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX bytes: a caller
 * whose buffer holds that much always gets a decision. Pure.
 */
int smtp_reply_parse(const uint8_t *in, size_t len, struct smtp_reply_parsed *r_r,
		     const char **err_r);

#endif
