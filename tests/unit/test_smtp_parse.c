/*
 * Unit tests for home/smtp_parse: command lines as data. Good lines with
 * every field of the result (what a row does not name must be empty or
 * zero), bad lines with the exact reply; the paths that decide relaying
 * (percent hack, source routes, quoted "@", bang paths, literals, trailing
 * dots, case) with their exact parse; the length limits at and one past
 * each. Every line is parsed from a heap copy of exactly its length into
 * a result full of garbage, and so is every prefix of it (a line cut
 * anywhere is still parsed safely into a result that holds together).
 * The helpers: smtp_parse_address(), _path_format(), _domain_equal().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

#include "../../home/home.h"

/* A string literal as (bytes, length): it may hold a NUL. */
#define S(x) x, sizeof(x) - 1

#define T_NULL 0x01
#define T_POSTMASTER 0x02
#define T_QUOTED 0x04
#define T_LITERAL 0x08
#define T_ROUTE 0x10
#define T_UTF8 0x20

#define T_GARBAGE 0xa5
#define T_LINE_MAX (SMTP_COMMAND_MAX + 16)
#define T_REPLY_MAX 128

#define X10 "xxxxxxxxxx"
#define X50 X10 X10 X10 X10 X10
#define X100 X50 X50

#define EHLO_SYNTAX "501 5.5.4 Syntax: EHLO hostname"
#define HELO_SYNTAX "501 5.5.4 Syntax: HELO hostname"
#define MAIL_SYNTAX "501 5.5.4 Syntax: MAIL FROM:<address>"
#define RCPT_SYNTAX "501 5.5.4 Syntax: RCPT TO:<address>"
#define BDAT_SYNTAX "501 5.5.4 Syntax: BDAT size [LAST]"
#define AUTH_SYNTAX "501 5.5.4 Syntax: AUTH mechanism [initial-response]"
#define UNKNOWN_R "500 5.5.2 Syntax error, command unrecognized"
#define BAD_CHAR_R "500 5.5.2 Syntax error, NUL, CR or LF in command"
#define TOO_LONG_R "500 5.5.6 Line too long"
#define SENDER_R "501 5.1.7 Bad sender address syntax"
#define RCPT_R "501 5.1.3 Bad recipient address syntax"
#define PARAM_R "555 5.5.4 Unsupported parameter"
#define VALUE_R "501 5.5.4 Invalid parameter value"
#define DUP_R "501 5.5.4 Duplicate parameter"
#define BASE64_R "501 5.5.2 Cannot decode base64 initial response"

#define EHLO SMTP_VERB_EHLO
#define HELO SMTP_VERB_HELO
#define MAIL SMTP_VERB_MAIL
#define RCPT SMTP_VERB_RCPT
#define DATA SMTP_VERB_DATA
#define BDAT SMTP_VERB_BDAT
#define RSET SMTP_VERB_RSET
#define NOOP SMTP_VERB_NOOP
#define QUIT SMTP_VERB_QUIT
#define VRFY SMTP_VERB_VRFY
#define EXPN SMTP_VERB_EXPN
#define HELP SMTP_VERB_HELP
#define STARTTLS SMTP_VERB_STARTTLS
#define AUTH SMTP_VERB_AUTH
#define UNKNOWN SMTP_VERB_UNKNOWN

/* A line that parses, and every field of the result; NULL strings and zeros: empty. */
struct t_good {
	const char *in;
	size_t len;
	int verb;
	const char *local;
	const char *domain;
	unsigned path;		/* T_* */
	int size_given;
	int64_t size;
	int body;
	int smtputf8;
	int ret;
	const char *envid;
	const char *auth;
	unsigned notify;
	const char *orcpt;
	const char *helo;
	int helo_literal;
	int64_t bdat_size;
	int bdat_last;
	const char *mech;
	int has_initial;
	const char *initial;
	const char *arg;
};

static const struct t_good t_good[] = {
	/* EHLO, HELO */
	{ S("EHLO client.example.test"), .verb = EHLO, .helo = "client.example.test" },
	{ S("ehlo Client.EXAMPLE.test"), .verb = EHLO, .helo = "Client.EXAMPLE.test" },
	{ S("EHLO localhost"), .verb = EHLO, .helo = "localhost" },
	{ S("EHLO  mx1.example.test  "), .verb = EHLO, .helo = "mx1.example.test" },
	{ S("EHLO [192.0.2.1]"), .verb = EHLO, .helo = "[192.0.2.1]", .helo_literal = 1 },
	{ S("EHLO [IPv6:2001:db8::1]"), .verb = EHLO, .helo = "[IPv6:2001:db8::1]", .helo_literal = 1 },
	{ S("HELO [ipv6:2001:DB8:0:0:0:0:0:25]"), .verb = HELO, .helo = "[ipv6:2001:DB8:0:0:0:0:0:25]",
	  .helo_literal = 1 },
	{ S("HeLo a-b.c0.test"), .verb = HELO, .helo = "a-b.c0.test" },

	/* MAIL: paths */
	{ S("MAIL FROM:<>"), .verb = MAIL, .path = T_NULL },
	{ S("MAIL FROM:<user@example.test>"), .verb = MAIL, .local = "user", .domain = "example.test" },
	{ S("mail from:<User@Example.TEST>"), .verb = MAIL, .local = "User", .domain = "Example.TEST" },
	{ S("MAIL FROM: <user@example.test>"), .verb = MAIL, .local = "user", .domain = "example.test" },
	{ S("MAIL FROM:<user@example.test>   "), .verb = MAIL, .local = "user", .domain = "example.test" },
	{ S("MAIL FROM:<first.last@example.test>"), .verb = MAIL, .local = "first.last",
	  .domain = "example.test" },
	{ S("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.test>"), .verb = MAIL, .local = "!#$%&'*+-/=?^_`{|}~",
	  .domain = "example.test" },
	{ S("MAIL FROM:<123@example.test>"), .verb = MAIL, .local = "123", .domain = "example.test" },
	{ S("MAIL FROM:<\"a b\"@example.test>"), .verb = MAIL, .local = "a b", .domain = "example.test",
	  .path = T_QUOTED },
	{ S("MAIL FROM:<\"\xe2\x9c\x89\"@example.test>"), .verb = MAIL, .local = "\xe2\x9c\x89",
	  .domain = "example.test", .path = T_QUOTED | T_UTF8 },
	{ S("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.test>"), .verb = MAIL, .local = "j\xc3\xb6rg",
	  .domain = "b\xc3\xbc" "cher.test", .path = T_UTF8 },
	{ S("MAIL FROM:<a@xn--bcher-kva.test>"), .verb = MAIL, .local = "a", .domain = "xn--bcher-kva.test" },
	{ S("MAIL FROM:<\xf0\x9f\x93\xa7@example.test>"), .verb = MAIL, .local = "\xf0\x9f\x93\xa7",
	  .domain = "example.test", .path = T_UTF8 },
	{ S("MAIL FROM:<a@[192.0.2.1]>"), .verb = MAIL, .local = "a", .domain = "[192.0.2.1]",
	  .path = T_LITERAL },
	{ S("MAIL FROM:<@a.test:b@c.test>"), .verb = MAIL, .local = "b", .domain = "c.test",
	  .path = T_ROUTE },

	/* MAIL: parameters */
	{ S("MAIL FROM:<> SIZE=0"), .verb = MAIL, .path = T_NULL, .size_given = 1, .size = 0 },
	{ S("MAIL FROM:<a@b.test> SIZE=10485760 BODY=8BITMIME"), .verb = MAIL, .local = "a",
	  .domain = "b.test", .size_given = 1,
	  .size = 10485760, .body = SMTP_BODY_8BITMIME },
	{ S("MAIL FROM:<a@b.test>  size=00012   body=7bit"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .size_given = 1, .size = 12,
	  .body = SMTP_BODY_7BIT },
	{ S("MAIL FROM:<a@b.test> SIZE=9223372036854775807"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .size_given = 1,
	  .size = INT64_MAX },
	{ S("MAIL FROM:<a@b.test> SIZE=9223372036854775808"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .size_given = 1,
	  .size = INT64_MAX },
	{ S("MAIL FROM:<a@b.test> SIZE=99999999999999999999"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .size_given = 1,
	  .size = INT64_MAX },
	{ S("MAIL FROM:<a@b.test> BODY=BinaryMIME"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .body = SMTP_BODY_BINARYMIME },
	{ S("MAIL FROM:<j\xc3\xb6rg@b.test> SMTPUTF8"), .verb = MAIL, .local = "j\xc3\xb6rg",
	  .domain = "b.test", .path = T_UTF8, .smtputf8 = 1 },
	{ S("MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ314159+2B+3D"), .verb = MAIL, .local = "a",
	  .domain = "b.test", .ret = SMTP_RET_HDRS,
	  .envid = "QQ314159+2B+3D" },
	{ S("MAIL FROM:<a@b.test> ret=full"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .ret = SMTP_RET_FULL },
	{ S("MAIL FROM:<a@b.test> ENVID=" X100), .verb = MAIL, .local = "a", .domain = "b.test",
	  .envid = X100 },
	{ S("MAIL FROM:<a@b.test> AUTH=<>"), .verb = MAIL, .local = "a", .domain = "b.test", .auth = "<>" },
	{ S("MAIL FROM:<a@b.test> AUTH=e+3Dmc2@example.test"), .verb = MAIL, .local = "a", .domain = "b.test",
	  .auth = "e+3Dmc2@example.test" },
	{ S("MAIL FROM:<> SMTPUTF8 BODY=8BITMIME SIZE=1 RET=FULL ENVID=x AUTH=<>"), .verb = MAIL,
	  .path = T_NULL,
	  .size_given = 1, .size = 1, .body = SMTP_BODY_8BITMIME, .smtputf8 = 1, .ret = SMTP_RET_FULL,
	  .envid = "x", .auth = "<>" },

	/* RCPT: the paths that decide relaying, exactly */
	{ S("RCPT TO:<user%other.test@local.test>"), .verb = RCPT, .local = "user%other.test",
	  .domain = "local.test" },
	{ S("RCPT TO:<@a.test:b@c.test>"), .verb = RCPT, .local = "b", .domain = "c.test", .path = T_ROUTE },
	{ S("RCPT TO:<@a.test,@[192.0.2.7],@d.test:b@c.test>"), .verb = RCPT, .local = "b",
	  .domain = "c.test", .path = T_ROUTE },
	{ S("RCPT TO:<\"a@b\"@local.test>"), .verb = RCPT, .local = "a@b", .domain = "local.test",
	  .path = T_QUOTED },
	{ S("RCPT TO:<\"a@b.test\"@local.test>"), .verb = RCPT, .local = "a@b.test", .domain = "local.test",
	  .path = T_QUOTED },
	{ S("RCPT TO:<\"abc\"@local.test>"), .verb = RCPT, .local = "abc", .domain = "local.test",
	  .path = T_QUOTED },
	{ S("RCPT TO:<\"a\\\"b\\\\c\\d e\"@local.test>"), .verb = RCPT, .local = "a\"b\\cd e",
	  .domain = "local.test", .path = T_QUOTED },
	{ S("RCPT TO:<\"a..b.\"@local.test>"), .verb = RCPT, .local = "a..b.", .domain = "local.test",
	  .path = T_QUOTED },
	{ S("RCPT TO:<a!b@local.test>"), .verb = RCPT, .local = "a!b", .domain = "local.test" },
	{ S("RCPT TO:<b.test!a@local.test>"), .verb = RCPT, .local = "b.test!a", .domain = "local.test" },
	{ S("RCPT TO:<a@[192.0.2.1]>"), .verb = RCPT, .local = "a", .domain = "[192.0.2.1]",
	  .path = T_LITERAL },
	{ S("RCPT TO:<a@[001.0.2.255]>"), .verb = RCPT, .local = "a", .domain = "[001.0.2.255]",
	  .path = T_LITERAL },
	{ S("RCPT TO:<a@[IPv6:2001:db8::1]>"), .verb = RCPT, .local = "a", .domain = "[IPv6:2001:db8::1]",
	  .path = T_LITERAL },
	{ S("RCPT TO:<a@[IPv6:::ffff:192.0.2.1]>"), .verb = RCPT, .local = "a",
	  .domain = "[IPv6:::ffff:192.0.2.1]", .path = T_LITERAL },
	{ S("RCPT TO:<Joe@Local.TEST>"), .verb = RCPT, .local = "Joe", .domain = "Local.TEST" },
	{ S("rcpt to:<JOE@LOCAL.TEST>"), .verb = RCPT, .local = "JOE", .domain = "LOCAL.TEST" },
	{ S("RCPT TO:<Postmaster>"), .verb = RCPT, .local = "Postmaster", .domain = NULL,
	  .path = T_POSTMASTER },
	{ S("RCPT TO:<postmaster>"), .verb = RCPT, .local = "postmaster", .domain = NULL,
	  .path = T_POSTMASTER },
	{ S("RCPT TO:<POSTMASTER> NOTIFY=NEVER"), .verb = RCPT, .local = "POSTMASTER", .domain = NULL,
	  .path = T_POSTMASTER,
	  .notify = SMTP_NOTIFY_NEVER },
	{ S("RCPT TO:<postmaster@local.test>"), .verb = RCPT, .local = "postmaster", .domain = "local.test" },
	{ S("RCPT TO:<postmasters@local.test>"), .verb = RCPT, .local = "postmasters",
	  .domain = "local.test" },
	{ S("RCPT TO:<j\xc3\xb6rg@local.test>"), .verb = RCPT, .local = "j\xc3\xb6rg", .domain = "local.test",
	  .path = T_UTF8 },
	{ S("RCPT TO:<a@b.test> NOTIFY=SUCCESS,FAILURE,DELAY"), .verb = RCPT, .local = "a",
	  .domain = "b.test",
	  .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY },
	{ S("RCPT TO:<a@b.test> notify=delay,failure ORCPT=rfc822;Bob@Example.test"), .verb = RCPT,
	  .local = "a", .domain = "b.test",
	  .notify = SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE, .orcpt = "rfc822;Bob@Example.test" },
	{ S("RCPT TO:<a@b.test> ORCPT=utf-8;j\\x{00F6}rg+2B@b.test"), .verb = RCPT, .local = "a",
	  .domain = "b.test",
	  .orcpt = "utf-8;j\\x{00F6}rg+2B@b.test" },

	/* The rest */
	{ S("DATA"), .verb = DATA },
	{ S("data  "), .verb = DATA },
	{ S("RSET"), .verb = RSET },
	{ S("QUIT"), .verb = QUIT },
	{ S("STARTTLS"), .verb = STARTTLS },
	{ S("NOOP"), .verb = NOOP },
	{ S("NOOP whatever \x01\x7f\xff is ignored"), .verb = NOOP },
	{ S("HELP"), .verb = HELP },
	{ S("HELP MAIL"), .verb = HELP, .arg = "MAIL" },
	{ S("VRFY postmaster"), .verb = VRFY, .arg = "postmaster" },
	{ S("VRFY J\xc3\xb6rg <j@b.test>"), .verb = VRFY, .arg = "J\xc3\xb6rg <j@b.test>" },
	{ S("EXPN staff list"), .verb = EXPN, .arg = "staff list" },
	{ S("BDAT 0"), .verb = BDAT },
	{ S("BDAT 1000 LAST"), .verb = BDAT, .bdat_size = 1000, .bdat_last = 1 },
	{ S("bdat 5  last"), .verb = BDAT, .bdat_size = 5, .bdat_last = 1 },
	{ S("BDAT 9223372036854775807"), .verb = BDAT, .bdat_size = INT64_MAX },
	{ S("AUTH PLAIN"), .verb = AUTH, .mech = "PLAIN" },
	{ S("auth plain AGFsaWNlAHNlY3JldA=="), .verb = AUTH, .mech = "PLAIN", .has_initial = 1,
	  .initial = "AGFsaWNlAHNlY3JldA==" },
	{ S("AUTH LOGIN ="), .verb = AUTH, .mech = "LOGIN", .has_initial = 1 },
	{ S("AUTH X-Y_Z9 YWI="), .verb = AUTH, .mech = "X-Y_Z9", .has_initial = 1, .initial = "YWI=" },
	{ S("AUTH SCRAM-SHA-256-PLUS abcd+/9="), .verb = AUTH, .mech = "SCRAM-SHA-256-PLUS", .has_initial = 1,
	  .initial = "abcd+/9=" },
};

/* A line that is refused, and the exact reply. */
struct t_bad {
	const char *in;
	size_t len;
	int verb;		/* as recognised */
	int error;		/* enum smtp_parse_error */
	const char *reply;
};

static const struct t_bad t_bad[] = {
	/* Not a command */
	{ S(""), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("   "), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("XYZZY"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("MAILX FROM:<>"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S(" MAIL FROM:<>"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("MAIL\tFROM:<>"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("GET / HTTP/1.1"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("\xc3\x89HLO x"), UNKNOWN, SMTP_PARSE_E_UNKNOWN, UNKNOWN_R },
	{ S("EHLO\0x.test"), UNKNOWN, SMTP_PARSE_E_BAD_CHAR, BAD_CHAR_R },
	{ S("NOOP\r"), UNKNOWN, SMTP_PARSE_E_BAD_CHAR, BAD_CHAR_R },
	{ S("NOOP\nQUIT"), UNKNOWN, SMTP_PARSE_E_BAD_CHAR, BAD_CHAR_R },
	{ S("MAIL FROM:<a\0@b.test>"), UNKNOWN, SMTP_PARSE_E_BAD_CHAR, BAD_CHAR_R },

	/* EHLO, HELO */
	{ S("EHLO"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO   "), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("HELO"), HELO, SMTP_PARSE_E_SYNTAX, HELO_SYNTAX },
	{ S("EHLO mx.example.test."), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO under_score.test"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO -a.test"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO a..test"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO 192.0.2.1"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("HELO a.b.123"), HELO, SMTP_PARSE_E_SYNTAX, HELO_SYNTAX },
	{ S("EHLO a b"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO b\xc3\xbc" "cher.test"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [192.0.2.256]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [192.0.2]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [192.0.2.1.5]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [1922.0.2.1]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [192.0.2.1"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [IPv6:2001:db8::g]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [IPv6:192.0.2.1]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [2001:db8::1]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [x-tag:content]"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO []"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },
	{ S("EHLO [192.0.2.1]x"), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX },

	/* MAIL, RCPT: the command's shape */
	{ S("MAIL"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL TO:<a@b.test>"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:a@b.test"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM :<a@b.test>"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:<a@b.test>x"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:<a@b.test> =1"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:<a@b.test> -X=1"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("MAIL FROM:<a@b.test> X_Y=1"), MAIL, SMTP_PARSE_E_SYNTAX, MAIL_SYNTAX },
	{ S("RCPT"), RCPT, SMTP_PARSE_E_SYNTAX, RCPT_SYNTAX },
	{ S("RCPT FROM:<a@b.test>"), RCPT, SMTP_PARSE_E_SYNTAX, RCPT_SYNTAX },
	{ S("RCPT TO:a@b.test"), RCPT, SMTP_PARSE_E_SYNTAX, RCPT_SYNTAX },

	/* MAIL, RCPT: the address */
	{ S("MAIL FROM:<a@local.test.>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("RCPT TO:<a@local.test.>"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },
	{ S("MAIL FROM:<a@b.test"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<Postmaster>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<<>>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:< a@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b.test >"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<.a@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a.@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a..b@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a(b)@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b_c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@.b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b-.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@192.0.2.1>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@[192.0.2.1]x>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@[300.0.2.1]>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@[IPv6:2001:db8:::1]>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a\x01\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a\tb\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a\x7f\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a\\\x01\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\"a\\\xc3\xa9\"@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a\x01@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xc3\x28@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xc0\xaf@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xe0\x80\xaf@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xed\xa0\x80@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xf4\x90\x80\x80@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xc2\x85@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<\xff@b.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b.test\xc3>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<a@b\xc3\xbc-.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@a.test,b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@a.test.:b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@:b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@b\xc3\xbc" "cher.test:b@c.test>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("MAIL FROM:<@a.test:>"), MAIL, SMTP_PARSE_E_SENDER, SENDER_R },
	{ S("RCPT TO:<>"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },
	{ S("RCPT TO:<postmaster >"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },
	{ S("RCPT TO:<@a.test:Postmaster>"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },
	{ S("RCPT TO:<post master>"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },
	{ S("RCPT TO:<a%b>"), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R },

	/* MAIL, RCPT: parameters */
	{ S("MAIL FROM:<a@b.test> FOO=1"), MAIL, SMTP_PARSE_E_PARAM_UNKNOWN, PARAM_R },
	{ S("MAIL FROM:<a@b.test> XFOO"), MAIL, SMTP_PARSE_E_PARAM_UNKNOWN, PARAM_R },
	{ S("MAIL FROM:<a@b.test> NOTIFY=NEVER"), MAIL, SMTP_PARSE_E_PARAM_UNKNOWN, PARAM_R },
	{ S("RCPT TO:<a@b.test> SIZE=1"), RCPT, SMTP_PARSE_E_PARAM_UNKNOWN, PARAM_R },
	{ S("RCPT TO:<a@b.test> SMTPUTF8"), RCPT, SMTP_PARSE_E_PARAM_UNKNOWN, PARAM_R },
	{ S("MAIL FROM:<a@b.test> SIZE=1 SIZE=2"), MAIL, SMTP_PARSE_E_PARAM_DUP, DUP_R },
	{ S("MAIL FROM:<a@b.test> size=1 BODY=7BIT Size=1"), MAIL, SMTP_PARSE_E_PARAM_DUP, DUP_R },
	{ S("MAIL FROM:<> SMTPUTF8 SMTPUTF8"), MAIL, SMTP_PARSE_E_PARAM_DUP, DUP_R },
	{ S("RCPT TO:<a@b.test> NOTIFY=NEVER NOTIFY=NEVER"), RCPT, SMTP_PARSE_E_PARAM_DUP, DUP_R },
	{ S("MAIL FROM:<a@b.test> SIZE="), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=-1"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=-0"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=+1"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=1x"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=1=2"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SIZE=123456789012345678901"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> BODY=8BIT"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> BODY"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SMTPUTF8=YES"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> SMTPUTF8="), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> RET=NONE"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=a+2"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=a+2b"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=a+"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=a\x01"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=\xc3\xa9"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> ENVID=" X100 "x"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> AUTH="), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("MAIL FROM:<a@b.test> AUTH"), MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> NOTIFY=SUCCESS,SUCCESS"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> NOTIFY=SUCCESS,"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> NOTIFY="), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> NOTIFY=FOO"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> ORCPT=rfc822"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> ORCPT=;a@b.test"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> ORCPT=rfc822;"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> ORCPT=rfc822;a=b"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },
	{ S("RCPT TO:<a@b.test> ORCPT=rfc(822);a"), RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R },

	/* Commands without arguments */
	{ S("DATA x"), DATA, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: DATA" },
	{ S("RSET x"), RSET, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: RSET" },
	{ S("QUIT now"), QUIT, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: QUIT" },
	{ S("STARTTLS x"), STARTTLS, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: STARTTLS" },

	/* VRFY, EXPN, HELP */
	{ S("VRFY"), VRFY, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: VRFY address" },
	{ S("EXPN"), EXPN, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: EXPN list" },
	{ S("VRFY a\x01" "b"), VRFY, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: VRFY address" },
	{ S("EXPN a\tb"), EXPN, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: EXPN list" },
	{ S("HELP \x7f"), HELP, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: HELP [topic]" },
	{ S("HELP \xc3"), HELP, SMTP_PARSE_E_SYNTAX, "501 5.5.4 Syntax: HELP [topic]" },

	/* BDAT */
	{ S("BDAT"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT x"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT -1"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT +1"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 1x"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 1 FIRST"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 1 LAST x"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 1 LASTX"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 9223372036854775808"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },
	{ S("BDAT 10000000000000000000"), BDAT, SMTP_PARSE_E_SYNTAX, BDAT_SYNTAX },

	/* AUTH */
	{ S("AUTH"), AUTH, SMTP_PARSE_E_SYNTAX, AUTH_SYNTAX },
	{ S("AUTH PL@IN"), AUTH, SMTP_PARSE_E_SYNTAX, AUTH_SYNTAX },
	{ S("AUTH ABCDEFGHIJKLMNOPQRSTU"), AUTH, SMTP_PARSE_E_SYNTAX, AUTH_SYNTAX },
	{ S("AUTH PLAIN AGFsaWNl!"), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN abc"), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN a==="), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN ab=c"), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN ===="), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN YWI= YWI="), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
	{ S("AUTH PLAIN =="), AUTH, SMTP_PARSE_E_BASE64, BASE64_R },
};

/* Structural checks that hold for any result, good or bad. */
static void
t_sane(const struct smtp_command *cmd, int rc)
{
	const struct smtp_path *p = &cmd->path;

	assert_true(rc == 0 || rc == -1);
	assert_true(cmd->verb >= SMTP_VERB_UNKNOWN && cmd->verb <= SMTP_VERB_AUTH);
	assert_int_equal(strnlen(p->local, sizeof(p->local)), p->local_len);
	assert_int_equal(strnlen(p->domain, sizeof(p->domain)), p->domain_len);
	assert_int_equal(strnlen(cmd->helo, sizeof(cmd->helo)), cmd->helo_len);
	assert_int_equal(strnlen(cmd->initial, sizeof(cmd->initial)), cmd->initial_len);
	assert_int_equal(strnlen(cmd->arg, sizeof(cmd->arg)), cmd->arg_len);
	assert_true(p->local_len <= SMTP_LOCAL_MAX && p->domain_len <= SMTP_DOMAIN_MAX);
	assert_true(strnlen(cmd->envid, sizeof(cmd->envid)) <= SMTP_ENVID_MAX);
	assert_true(strnlen(cmd->auth, sizeof(cmd->auth)) <= SMTP_AUTH_PARAM_MAX);
	assert_true(strnlen(cmd->orcpt, sizeof(cmd->orcpt)) <= SMTP_ORCPT_MAX);
	assert_true(strnlen(cmd->mech, sizeof(cmd->mech)) <= SMTP_MECH_MAX);
	if (rc == 0) {
		assert_int_equal(cmd->error, SMTP_PARSE_OK);
		assert_null(cmd->reply);
		assert_true(cmd->verb != SMTP_VERB_UNKNOWN);
	} else {
		assert_int_not_equal(cmd->error, SMTP_PARSE_OK);
		assert_non_null(cmd->reply);
		assert_true(cmd->reply->code == 500 || cmd->reply->code == 501 || cmd->reply->code == 555);
		/* Nothing half-parsed is left behind. */
		assert_int_equal(p->local_len + p->domain_len + cmd->helo_len, 0);
		assert_int_equal(cmd->initial_len + cmd->arg_len, 0);
		assert_int_equal(cmd->has_initial, 0);
		assert_int_equal(cmd->size, -1);
	}
}

/*
 * Parse in[0..len) from a heap copy of exactly len bytes into a result full
 * of garbage, and every prefix of it likewise. Returns what the whole gave.
 */
static int
t_parse(const char *in, size_t len, struct smtp_command *cmd)
{
	int rc = -1;

	for (size_t cut = 0; cut <= len; cut++) {
		char *copy = malloc(cut > 0 ? cut : 1);

		assert_non_null(copy);
		memcpy(copy, in, cut);
		memset(cmd, T_GARBAGE, sizeof(*cmd));
		rc = smtp_parse_command(copy, cut, cmd);
		free(copy);
		t_sane(cmd, rc);
	}
	return rc;
}

static void
t_str(const char *what, const char *line, const char *got, const char *want)
{
	if (want == NULL)
		want = "";
	if (strcmp(got, want) != 0)
		fail_msg("'%s': %s '%s', want '%s'", line, what, got, want);
}

static void
t_int(const char *what, const char *line, int64_t got, int64_t want)
{
	if (got != want)
		fail_msg("'%s': %s %lld, want %lld", line, what, (long long)got, (long long)want);
}

static unsigned
t_path_flags(const struct smtp_path *p)
{
	return (p->null ? T_NULL : 0) | (p->postmaster ? T_POSTMASTER : 0) | (p->quoted ? T_QUOTED : 0) |
	       (p->literal ? T_LITERAL : 0) | (p->route ? T_ROUTE : 0) | (p->utf8 ? T_UTF8 : 0);
}

static void
t_check_good(const struct t_good *t, const struct smtp_command *cmd)
{
	const struct smtp_path *p = &cmd->path;
	unsigned flags = t_path_flags(p);

	t_int("verb", t->in, cmd->verb, t->verb);
	t_str("local", t->in, p->local, t->local);
	t_str("domain", t->in, p->domain, t->domain);
	t_int("path flags", t->in, flags, t->path);
	t_int("size", t->in, cmd->size, t->size_given ? t->size : -1);
	t_int("body", t->in, cmd->body, t->body);
	t_int("smtputf8", t->in, cmd->smtputf8, t->smtputf8);
	t_int("ret", t->in, cmd->ret, t->ret);
	t_str("envid", t->in, cmd->envid, t->envid);
	t_str("auth", t->in, cmd->auth, t->auth);
	t_int("notify", t->in, cmd->notify, t->notify);
	t_str("orcpt", t->in, cmd->orcpt, t->orcpt);
	t_str("helo", t->in, cmd->helo, t->helo);
	t_int("helo_literal", t->in, cmd->helo_literal, t->helo_literal);
	t_int("bdat_size", t->in, cmd->bdat_size, t->bdat_size);
	t_int("bdat_last", t->in, cmd->bdat_last, t->bdat_last);
	t_str("mech", t->in, cmd->mech, t->mech);
	t_int("has_initial", t->in, cmd->has_initial, t->has_initial);
	t_str("initial", t->in, cmd->initial, t->initial);
	t_str("arg", t->in, cmd->arg, t->arg);
}

static void
test_smtp_parse_good(void **state)
{
	static struct smtp_command cmd;

	(void)state;
	for (size_t i = 0; i < sizeof(t_good) / sizeof(t_good[0]); i++) {
		const struct t_good *t = &t_good[i];

		if (t_parse(t->in, t->len, &cmd) != 0)
			fail_msg("'%s': refused: %d %s %s", t->in, cmd.reply->code, cmd.reply->enhanced,
				 cmd.reply->text);
		t_check_good(t, &cmd);
	}
}

static void
t_check_bad(const char *in, size_t len, int verb, int error, const char *reply)
{
	static struct smtp_command cmd;
	char got[T_REPLY_MAX];

	if (t_parse(in, len, &cmd) != -1)
		fail_msg("'%.*s': accepted", (int)len, in);
	snprintf(got, sizeof(got), "%d %s %s", cmd.reply->code, cmd.reply->enhanced, cmd.reply->text);
	if (strcmp(got, reply) != 0)
		fail_msg("'%.*s': reply '%s', want '%s'", (int)len, in, got, reply);
	t_int("error", in, cmd.error, error);
	t_int("verb", in, cmd.verb, verb);
}

static void
test_smtp_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(t_bad) / sizeof(t_bad[0]); i++)
		t_check_bad(t_bad[i].in, t_bad[i].len, t_bad[i].verb, t_bad[i].error, t_bad[i].reply);
}

/* Fill line with prefix, n copies of c, then suffix. Returns the length. */
static size_t
t_build(char *line, size_t cap, const char *prefix, size_t n, char c, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);

	assert_true(pl + n + sl <= cap);
	memcpy(line, prefix, pl);
	memset(line + pl, c, n);
	memcpy(line + pl + n, suffix, sl);
	return pl + n + sl;
}

/* A host name of n bytes: labels of 63 "d" joined by dots, the last one shorter. */
static void
t_hostname(char *out, size_t n)
{
	memset(out, 'd', n);
	for (size_t i = 63; i < n; i += 64)
		out[i] = '.';
	out[n] = '\0';
	assert_true(out[n - 1] != '.');
}

/* Each limit at its maximum and one past it. */
static void
test_smtp_parse_limits(void **state)
{
	static char line[T_LINE_MAX], want[T_LINE_MAX], host[DNSNAME_MAX + 2];
	static struct smtp_command cmd;
	size_t n;

	(void)state;
	/* The line: 998 bytes without CRLF, 1000 with. */
	n = t_build(line, sizeof(line), "NOOP ", SMTP_COMMAND_MAX - 2 - 5, 'x', "");
	assert_int_equal(n, 998);
	assert_int_equal(t_parse(line, n, &cmd), 0);
	n = t_build(line, sizeof(line), "NOOP ", SMTP_COMMAND_MAX - 1 - 5, 'x', "");
	t_check_bad(line, n, UNKNOWN, SMTP_PARSE_E_TOO_LONG, TOO_LONG_R);
	/* Spaces count before they are trimmed. */
	n = t_build(line, sizeof(line), "QUIT", SMTP_COMMAND_MAX - 1 - 4, ' ', "");
	t_check_bad(line, n, UNKNOWN, SMTP_PARSE_E_TOO_LONG, TOO_LONG_R);
	n = t_build(line, sizeof(line), "QUIT", SMTP_COMMAND_MAX - 2 - 4, ' ', "");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(cmd.verb, QUIT);

	/* The local part: 64 octets as sent. */
	n = t_build(line, sizeof(line), "MAIL FROM:<", SMTP_LOCAL_MAX, 'l', "@b.test>");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(cmd.path.local_len, SMTP_LOCAL_MAX);
	n = t_build(line, sizeof(line), "MAIL FROM:<", SMTP_LOCAL_MAX + 1, 'l', "@b.test>");
	t_check_bad(line, n, MAIL, SMTP_PARSE_E_SENDER, SENDER_R);
	/* ... quotes included: 62 inside them is 64. */
	n = t_build(line, sizeof(line), "RCPT TO:<\"", SMTP_LOCAL_MAX - 2, 'q', "\"@b.test>");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(cmd.path.local_len, SMTP_LOCAL_MAX - 2);
	n = t_build(line, sizeof(line), "RCPT TO:<\"", SMTP_LOCAL_MAX - 1, 'q', "\"@b.test>");
	t_check_bad(line, n, RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R);

	/* The domain: a host name of 253 bytes; 254 is not one. */
	t_hostname(host, DNSNAME_MAX);
	snprintf(line, sizeof(line), "EHLO %s", host);
	assert_int_equal(t_parse(line, strlen(line), &cmd), 0);
	assert_int_equal(cmd.helo_len, DNSNAME_MAX);
	t_hostname(host, DNSNAME_MAX + 1);
	snprintf(line, sizeof(line), "EHLO %s", host);
	t_check_bad(line, strlen(line), EHLO, SMTP_PARSE_E_SYNTAX, EHLO_SYNTAX);

	/* The path: 256 bytes with "<" and ">": "<" 1 "@" 252 ">"; 257 is too long. */
	t_hostname(host, SMTP_PATH_MAX - 4);
	snprintf(line, sizeof(line), "RCPT TO:<a@%s>", host);
	assert_int_equal(t_parse(line, strlen(line), &cmd), 0);
	assert_int_equal(cmd.path.domain_len, SMTP_PATH_MAX - 4);
	t_hostname(host, SMTP_PATH_MAX - 3);
	snprintf(line, sizeof(line), "RCPT TO:<a@%s>", host);
	t_check_bad(line, strlen(line), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R);
	/* ... a source route counts. */
	t_hostname(host, SMTP_PATH_MAX - 4 - 8);
	snprintf(line, sizeof(line), "RCPT TO:<@r.test:a@%s>", host);
	assert_int_equal(t_parse(line, strlen(line), &cmd), 0);
	assert_int_equal(cmd.path.route, 1);
	t_hostname(host, SMTP_PATH_MAX - 3 - 8);
	snprintf(line, sizeof(line), "RCPT TO:<@r.test:a@%s>", host);
	t_check_bad(line, strlen(line), RCPT, SMTP_PARSE_E_RECIPIENT, RCPT_R);

	/* ORCPT: 500 bytes. */
	n = t_build(line, sizeof(line), "RCPT TO:<a@b.test> ORCPT=rfc822;", SMTP_ORCPT_MAX - 7, 'o', "");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(strlen(cmd.orcpt), SMTP_ORCPT_MAX);
	n = t_build(line, sizeof(line), "RCPT TO:<a@b.test> ORCPT=rfc822;", SMTP_ORCPT_MAX - 6, 'o', "");
	t_check_bad(line, n, RCPT, SMTP_PARSE_E_PARAM_VALUE, VALUE_R);

	/* AUTH=: 500 bytes. */
	n = t_build(line, sizeof(line), "MAIL FROM:<> AUTH=", SMTP_AUTH_PARAM_MAX, 'u', "");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(strlen(cmd.auth), SMTP_AUTH_PARAM_MAX);
	n = t_build(line, sizeof(line), "MAIL FROM:<> AUTH=", SMTP_AUTH_PARAM_MAX + 1, 'u', "");
	t_check_bad(line, n, MAIL, SMTP_PARSE_E_PARAM_VALUE, VALUE_R);

	/* An AUTH initial response as long as a line allows. */
	n = t_build(line, sizeof(line), "AUTH PLAIN ", 984, 'Q', "");
	assert_int_equal(t_parse(line, n, &cmd), 0);
	assert_int_equal(cmd.initial_len, 984);
	memset(want, 'Q', 984);
	want[984] = '\0';
	assert_string_equal(cmd.initial, want);
}

/* smtp_parse_address(): a bare mailbox, with the path's rules. */
static void
test_smtp_parse_address(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *local;
		const char *domain;
		unsigned flags;
	} t[] = {
		{ "user@example.test", 0, "user", "example.test", 0 },
		{ "User@Example.TEST", 0, "User", "Example.TEST", 0 },
		{ "\"a b\"@example.test", 0, "a b", "example.test", T_QUOTED },
		{ "\"a@b\"@example.test", 0, "a@b", "example.test", T_QUOTED },
		{ "user%other.test@local.test", 0, "user%other.test", "local.test", 0 },
		{ "a@[IPv6:2001:db8::1]", 0, "a", "[IPv6:2001:db8::1]", T_LITERAL },
		{ "j\xc3\xb6rg@b\xc3\xbc" "cher.test", 0, "j\xc3\xb6rg", "b\xc3\xbc" "cher.test", T_UTF8 },
		{ "<user@example.test>", -1, "", "", 0 },
		{ "user@example.test ", -1, "", "", 0 },
		{ "user@example.test.", -1, "", "", 0 },
		{ "postmaster", -1, "", "", 0 },
		{ "", -1, "", "", 0 },
		{ "@a.test:b@c.test", -1, "", "", 0 },
		{ "a@b@c.test", -1, "", "", 0 },
	};
	struct smtp_path p;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned flags;

		memset(&p, T_GARBAGE, sizeof(p));
		if (smtp_parse_address(t[i].in, strlen(t[i].in), &p) != t[i].rc)
			fail_msg("'%s': want %d", t[i].in, t[i].rc);
		flags = t_path_flags(&p);
		t_str("local", t[i].in, p.local, t[i].local);
		t_str("domain", t[i].in, p.domain, t[i].domain);
		t_int("flags", t[i].in, flags, t[i].flags);
		t_int("local_len", t[i].in, (int64_t)p.local_len, (int64_t)strlen(t[i].local));
		t_int("domain_len", t[i].in, (int64_t)p.domain_len, (int64_t)strlen(t[i].domain));
	}
}

/* smtp_parse_path_format(): the path written back, and parsed again to the same. */
static void
test_smtp_parse_path_format(void **state)
{
	static const struct {
		const char *line;
		const char *want;
	} t[] = {
		{ "MAIL FROM:<>", "<>" },
		{ "MAIL FROM:<a@b.test>", "<a@b.test>" },
		{ "MAIL FROM:<User@Example.TEST>", "<User@Example.TEST>" },
		{ "RCPT TO:<Postmaster>", "<Postmaster>" },
		{ "RCPT TO:<\"abc\"@b.test>", "<abc@b.test>" },
		{ "RCPT TO:<\"a\\bc\"@b.test>", "<abc@b.test>" },
		{ "RCPT TO:<\"a b\"@b.test>", "<\"a b\"@b.test>" },
		{ "RCPT TO:<\"a@b\"@b.test>", "<\"a@b\"@b.test>" },
		{ "RCPT TO:<\"a\\\"b\\\\c\"@b.test>", "<\"a\\\"b\\\\c\"@b.test>" },
		{ "RCPT TO:<\"a..b\"@b.test>", "<\"a..b\"@b.test>" },
		{ "RCPT TO:<\".a\"@b.test>", "<\".a\"@b.test>" },
		{ "RCPT TO:<@r.test,@s.test:a@b.test>", "<a@b.test>" },
		{ "RCPT TO:<a@[IPv6:2001:db8::1]>", "<a@[IPv6:2001:db8::1]>" },
		{ "RCPT TO:<j\xc3\xb6rg@b.test>", "<j\xc3\xb6rg@b.test>" },
	};
	static struct smtp_command cmd, again;
	char out[SMTP_PATH_MAX + 1], line[SMTP_PATH_MAX + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].want);
		int verb;

		assert_int_equal(smtp_parse_command(t[i].line, strlen(t[i].line), &cmd), 0);
		verb = cmd.verb;
		/* Exactly the room it needs is enough, one byte less is not. */
		assert_int_equal(smtp_parse_path_format(&cmd.path, out, n + 1), (int)n);
		t_str("formatted", t[i].line, out, t[i].want);
		assert_int_equal(smtp_parse_path_format(&cmd.path, out, n), -1);
		assert_int_equal(smtp_parse_path_format(&cmd.path, out, 0), -1);
		/* Parsed again, the same address. */
		snprintf(line, sizeof(line), "%s%s", verb == MAIL ? "MAIL FROM:" : "RCPT TO:", t[i].want);
		assert_int_equal(smtp_parse_command(line, strlen(line), &again), 0);
		t_str("local again", line, again.path.local, cmd.path.local);
		t_str("domain again", line, again.path.domain, cmd.path.domain);
		assert_int_equal(again.path.null, cmd.path.null);
		assert_int_equal(again.path.postmaster, cmd.path.postmaster);
		assert_int_equal(again.path.literal, cmd.path.literal);
		assert_int_equal(again.path.utf8, cmd.path.utf8);
	}
}

/* smtp_parse_domain_equal(): case-insensitive names, literals by address. */
static void
test_smtp_parse_domain_equal(void **state)
{
	static const struct {
		const char *a;
		size_t alen;
		const char *b;
		size_t blen;
		int want;
	} t[] = {
		{ S("example.test"), S("example.test"), 1 },
		{ S("Example.TEST"), S("example.test"), 1 },
		{ S("LOCAL.test"), S("local.TEST"), 1 },
		{ S("a.test"), S("b.test"), 0 },
		{ S("a.test"), S("a.test."), 0 },
		{ S("a.test"), S("aa.test"), 0 },
		{ S("B\xc3\xbc.test"), S("b\xc3\xbc.test"), 1 },
		{ S("b\xc3\x9c.test"), S("b\xc3\xbc.test"), 0 },
		{ S("[192.0.2.1]"), S("[192.0.2.1]"), 1 },
		{ S("[192.0.2.1]"), S("[192.000.002.001]"), 1 },
		{ S("[192.0.2.1]"), S("[192.0.2.2]"), 0 },
		{ S("[192.0.2.1]"), S("192.0.2.1"), 0 },
		{ S("[IPv6:2001:db8::1]"), S("[ipv6:2001:DB8:0:0::1]"), 1 },
		{ S("[IPv6:2001:db8::1]"), S("[IPv6:2001:db8::2]"), 0 },
		{ S("[IPv6:::ffff:192.0.2.1]"), S("[192.0.2.1]"), 0 },
		{ S("[x]"), S("[x]"), 0 },
		{ S("[IPv6:::1\0x]"), S("[IPv6:::1]"), 0 },
		{ S("[]"), S("[]"), 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *a = t[i].a, *b = t[i].b;

		if (smtp_parse_domain_equal(a, t[i].alen, b, t[i].blen) != t[i].want ||
		    smtp_parse_domain_equal(b, t[i].blen, a, t[i].alen) != t[i].want)
			fail_msg("'%s' vs '%s': want %d", a, b, t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_parse_good),
		cmocka_unit_test(test_smtp_parse_bad),
		cmocka_unit_test(test_smtp_parse_limits),
		cmocka_unit_test(test_smtp_parse_address),
		cmocka_unit_test(test_smtp_parse_path_format),
		cmocka_unit_test(test_smtp_parse_domain_equal),
	};
	return cmocka_run_group_tests_name("smtp_parse", tests, NULL, NULL);
}
