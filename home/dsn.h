/*
 * dsn: delivery status notifications (RFC 3464) for mail that leaves the
 * home and cannot be delivered. When outbound delivery fails for good (a
 * 5xx, or the retries ran out) or is late, homeportd puts a report into the
 * sender's INBOX (the sender is one of our own users); dsn_build() writes
 * that report, the caller stores it. See docs/outbound.md, "Delivery
 * status notifications".
 *
 * The report is a multipart/report (RFC 6522) of three parts: a text/plain
 * explanation for people, the machine-readable message/delivery-status,
 * and the original message's header section as text/rfc822-headers. When
 * a recipient's address or the header section is not ASCII, the parts are
 * RFC 6533's message/global-delivery-status and message/global-headers.
 *
 * Pure: no I/O, no globals, no logging. The one allocation is the result.
 */
#ifndef HOMEPORT_DSN_H
#define HOMEPORT_DSN_H

#include <stddef.h>
#include <stdint.h>

#define DSN_RCPTS_MAX 1000		/* recipients in one report */
#define DSN_HEADERS_MAX (64 * 1024)	/* bytes of the original header section copied into the
					   report (as written, CRLFs included); longer is cut
					   at a field boundary */
#define DSN_ADDRESS_MAX 256		/* bytes of an address (RFC 5321 4.5.3.1.3: a path) */
#define DSN_ADDRESS_UNITEXT_MAX 900	/* bytes of a UTF-8 address in RFC 6533's unitext form
					   (SP + = \ take six): its line stays within 998 */
#define DSN_TEXT_MAX 900		/* bytes of a diagnostic or a reason kept; longer is cut
					   (an SMTP reply line is at most 512) */
#define DSN_UNIQUE_MAX 56		/* bytes of the unique token (the boundary holds it and
					   stays within 70 characters and its line within 78) */
#define DSN_MSGID_MAX 512		/* bytes of the original Message-ID taken for In-Reply-To */
#define DSN_LINE_MAX 78			/* columns of a line written, where words allow it (a
					   Final-Recipient is never folded) */
#define DSN_TIME_MAX INT64_C(253402300799) /* 9999-12-31 23:59:59 UTC: a date has four year digits */

/* What happened to a recipient: RFC 3464 2.3.3's Action. */
enum dsn_action {
	DSN_FAILED,	/* given up: a 5xx, or the retries ran out */
	DSN_DELAYED,	/* not delivered yet, still being tried */
};

/* One recipient the report is about. Strings are NUL-terminated. */
struct dsn_rcpt {
	const char *address;		/* the final recipient, local@domain as it is written in a
					   header (may be UTF-8); 1..DSN_ADDRESS_MAX bytes */
	enum dsn_action action;
	const char *status;		/* RFC 3463 "5.1.1"; NULL or "" -> "5.0.0" (failed) /
					   "4.0.0" (delayed). Failed takes class 5 or 4 (retries
					   ran out: RFC 3463 2), delayed class 4 only */
	const char *remote_mta;		/* host name of the MX that answered, or an address
					   literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"); NULL if
					   none was reached */
	const char *diagnostic;		/* that MX's answer as one line of printable ASCII
					   ("550 5.1.1 <bob@peer.test>: User unknown"), NULL if none */
	const char *reason;		/* our own words when there is no remote answer, printable
					   ASCII ("no MX for peer.test", "gave up after 5 days:
					   connection refused"), NULL if none */
	int64_t last_attempt;		/* Unix seconds, 0 if never tried */
};

/* The report's input. Times are Unix seconds in 0..DSN_TIME_MAX. */
struct dsn_info {
	const char *reporting_mta;	/* our host name (mail.alice.test) */
	const char *sender;		/* the original envelope sender = the report's To: (never
					   empty: nobody reports to the null reverse-path) */
	int64_t arrival;		/* when the original message was received; 0: unknown */
	int64_t now;			/* the report's Date: */
	int64_t retry_until;		/* for DSN_DELAYED: when we will give up; 0 if not relevant */
	const char *unique;		/* a token unique to this report, 1..DSN_UNIQUE_MAX bytes of
					   [A-Za-z0-9.-], dots only between other characters: the
					   Message-ID's left side and part of the MIME boundary */
	const uint8_t *headers;		/* the original message's header section (up to, without,
					   its empty line), or NULL: the report has no third part */
	size_t headers_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;			/* 1..DSN_RCPTS_MAX */
};

/*
 * The report as a complete RFC 5322 message with CRLF line ends: a
 * multipart/report; report-type=delivery-status (RFC 6522) with a
 * text/plain part for people, a message/delivery-status part (RFC 3464),
 * and the original header section as text/rfc822-headers; with RFC 6533's
 * global types (and report-type=global-delivery-status) when an address
 * or the header section is not ASCII.
 *
 * The header section is copied as given, bare CRs and LFs made CRLFs, up
 * to its first empty line and at most DSN_HEADERS_MAX bytes of whole
 * fields; a field with a NUL or a line over 998 bytes ends it too (text
 * parts hold neither; SMTP never stores them). Its first Message-ID, if
 * well-formed, becomes the report's In-Reply-To and References (RFC 3834).
 *
 * Writes into a buffer it allocates: *out_r (free(); NUL-terminated, the
 * NUL not counted) of *len_r bytes. The same input always gives the same
 * bytes. Returns 0, or -1 with a message in err[0..errcap) (err may be
 * NULL): bad input (no recipients, a string with CR, LF or another
 * control byte, a bad host name, status, time or unique token), or out of
 * memory; *out_r and *len_r are then untouched.
 */
int dsn_build(const struct dsn_info *in, char **out_r, size_t *len_r, char *err, size_t errcap);

#endif
