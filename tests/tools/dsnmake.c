/*
 * dsnmake: writes a delivery status notification made by home/dsn for
 * fixed inputs, for the integration test that reads it with a parser we
 * did not write (Python's email package, tests/integration/test_dsn.py).
 *
 *   dsnmake [-H] SCENARIO
 *
 * SCENARIO is one of
 *   failed   bob@peer.test refused by mx.peer.test (550 5.1.1)
 *   delayed  carol@peer.test not reached yet (connection refused), retried until a date
 *   mixed    both, and dave@peer.test whose MX answered with a long line
 *            (folded), and erin@nowhere.test without MX
 *   utf8     jürgen+news@bücher.test refused, a UTF-8 Subject
 * The original header section is the scenario's own, or with -H all of
 * stdin. The times are fixed: received 2026-03-02 10:00:00 UTC, last tried
 * 2026-03-03 09:58:12, the report written 2026-03-03 10:00:00, retried
 * until 2026-03-07 10:00:00; the reporting MTA is mail.alice.test, the
 * sender alice@alice.test, the unique token dsn-test.1.
 *
 * Exit 0: the report on stdout. 1: dsn_build refused, "dsnmake: reason"
 * on stderr. 2: usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../home/dsn.h"

#define DSNMAKE_INPUT_MAX (1024 * 1024)
#define DSNMAKE_ERR_MAX 256
#define DSNMAKE_ARRIVAL INT64_C(1772445600)	/* 2026-03-02 10:00:00 UTC */
#define DSNMAKE_NOW INT64_C(1772532000)		/* 2026-03-03 10:00:00 UTC */
#define DSNMAKE_TRIED INT64_C(1772531892)	/* 2026-03-03 09:58:12 UTC */
#define DSNMAKE_UNTIL INT64_C(1772877600)	/* 2026-03-07 10:00:00 UTC: five days after arrival */

static const char dsnmake_ascii_headers[] =
	"Return-Path: <alice@alice.test>\r\n"
	"From: Alice <alice@alice.test>\r\n"
	"To: bob@peer.test, carol@peer.test\r\n"
	"Subject: Lunch on Friday?\r\n"
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
	"Message-ID: <lunch.42@alice.test>\r\n";

static const char dsnmake_utf8_headers[] =
	"From: Alice <alice@alice.test>\r\n"
	"To: J\xc3\xbcrgen <j\xc3\xbcrgen+news@b\xc3\xbc" "cher.test>\r\n"
	"Subject: Gr\xc3\xbc\xc3\x9f" "e aus Z\xc3\xbcrich\r\n"
	"Message-ID: <gruss.7@alice.test>\r\n";

static const char dsnmake_long_diagnostic[] =
	"550-5.7.1 The user or domain that you are sending to (or from) has a policy that "
	"prohibited the mail that you sent. Please contact your domain administrator for "
	"further information. 550 5.7.1 https://support.peer.test/mail/answer/policy-rejections "
	"- peer.test";

static int
dsnmake_usage(void)
{
	fprintf(stderr, "usage: dsnmake [-H] failed|delayed|mixed|utf8\n");
	return 2;
}

/* All of stdin into *buf_r (free()), at most DSNMAKE_INPUT_MAX bytes. Returns 0 or -1. */
static int
dsnmake_read(uint8_t **buf_r, size_t *len_r)
{
	uint8_t *buf = malloc(DSNMAKE_INPUT_MAX);
	size_t len = 0, n;

	if (buf == NULL)
		return -1;
	while ((n = fread(buf + len, 1, DSNMAKE_INPUT_MAX - len, stdin)) > 0) {
		len += n;
		if (len == DSNMAKE_INPUT_MAX)
			break;
	}
	if (ferror(stdin) || !feof(stdin)) {
		free(buf);
		return -1;
	}
	*buf_r = buf;
	*len_r = len;
	return 0;
}

int
main(int argc, char **argv)
{
	struct dsn_rcpt rcpts[4];
	struct dsn_info in;
	uint8_t *input = NULL;
	char *out = NULL, err[DSNMAKE_ERR_MAX];
	const char *scenario;
	size_t len;
	int c, from_stdin = 0, status = 1;

	while ((c = getopt(argc, argv, "H")) != -1) {
		if (c != 'H')
			return dsnmake_usage();
		from_stdin = 1;
	}
	if (optind != argc - 1)
		return dsnmake_usage();
	scenario = argv[optind];

	memset(rcpts, 0, sizeof(rcpts));
	memset(&in, 0, sizeof(in));
	in.reporting_mta = "mail.alice.test";
	in.sender = "alice@alice.test";
	in.arrival = DSNMAKE_ARRIVAL;
	in.now = DSNMAKE_NOW;
	in.unique = "dsn-test.1";
	in.rcpts = rcpts;
	in.headers = (const uint8_t *)dsnmake_ascii_headers;
	in.headers_len = sizeof(dsnmake_ascii_headers) - 1;

	rcpts[0] = (struct dsn_rcpt){ .address = "bob@peer.test", .action = DSN_FAILED,
				      .status = "5.1.1", .remote_mta = "mx.peer.test",
				      .diagnostic = "550 5.1.1 <bob@peer.test>: User unknown",
				      .last_attempt = DSNMAKE_TRIED };
	rcpts[1] = (struct dsn_rcpt){ .address = "carol@peer.test", .action = DSN_DELAYED,
				      .status = "4.4.1", .reason = "connection refused",
				      .last_attempt = DSNMAKE_TRIED };
	rcpts[2] = (struct dsn_rcpt){ .address = "dave@peer.test", .action = DSN_FAILED,
				      .status = "5.7.1", .remote_mta = "mx2.peer.test",
				      .diagnostic = dsnmake_long_diagnostic,
				      .last_attempt = DSNMAKE_TRIED };
	rcpts[3] = (struct dsn_rcpt){ .address = "erin@nowhere.test", .action = DSN_FAILED,
				      .status = "5.1.2", .reason = "no MX or address for nowhere.test" };
	if (strcmp(scenario, "failed") == 0) {
		in.nrcpts = 1;
	} else if (strcmp(scenario, "delayed") == 0) {
		rcpts[0] = rcpts[1];
		in.nrcpts = 1;
		in.retry_until = DSNMAKE_UNTIL;
	} else if (strcmp(scenario, "mixed") == 0) {
		in.nrcpts = 4;
		in.retry_until = DSNMAKE_UNTIL;
	} else if (strcmp(scenario, "utf8") == 0) {
		rcpts[0].address = "j\xc3\xbcrgen+news@b\xc3\xbc" "cher.test";
		rcpts[0].diagnostic = "550 5.1.1 mailbox unavailable";
		in.nrcpts = 1;
		in.headers = (const uint8_t *)dsnmake_utf8_headers;
		in.headers_len = sizeof(dsnmake_utf8_headers) - 1;
	} else {
		return dsnmake_usage();
	}
	if (from_stdin) {
		if (dsnmake_read(&input, &len) != 0) {
			fprintf(stderr, "dsnmake: cannot read stdin (or longer than %d bytes)\n",
				DSNMAKE_INPUT_MAX);
			return 1;
		}
		in.headers = input;
		in.headers_len = len;
	}
	if (dsn_build(&in, &out, &len, err, sizeof(err)) != 0) {
		fprintf(stderr, "dsnmake: %s\n", err);
		goto fail;
	}
	if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "dsnmake: cannot write stdout\n");
		goto fail;
	}
	status = 0;
fail:
	free(out);
	free(input);
	return status;
}
