/*
 * Fuzz target: home/dsn's report from bytes it does not control: the
 * original header section (anything a user's message held), the remote
 * MX's answer, a recipient's address, the unique token.
 *
 * Input: byte 0 flags (bit 0: the recipient delayed, bit 1: a remote MTA,
 * bit 2: no header section, bit 3: a second, ASCII recipient); then
 * NUL-separated fields: address, diagnostic, reason, unique; the rest,
 * NULs and all, is the header section.
 *
 * Checks, when dsn_build takes the input: the report is the same twice;
 * only CRLF line ends, lines within 998 bytes; the boundary the top
 * Content-Type names opens exactly the parts there should be and closes
 * once at the end, and no other line starts with it; the project's MIME
 * parser finds a multipart/report with those parts and nothing repaired;
 * the third part is at most DSN_HEADERS_MAX bytes. When it refuses: a
 * message, and nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/dsn.h"
#include "../../home/mime.h"
#include "fuzz.h"

#define FUZZ_DSN_DELAYED 0x01
#define FUZZ_DSN_REMOTE 0x02
#define FUZZ_DSN_NO_HEADERS 0x04
#define FUZZ_DSN_TWO 0x08
#define FUZZ_DSN_FIELDS 4
#define FUZZ_DSN_FIELD_MAX 2048
#define FUZZ_DSN_ERR_MAX 256

static void
fuzz_check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* The next NUL-terminated field of data[*at..size) into out (cut at FUZZ_DSN_FIELD_MAX). */
static void
fuzz_dsn_field(const uint8_t *data, size_t size, size_t *at, char *out)
{
	size_t n = 0;

	while (*at < size && data[*at] != 0) {
		if (n < FUZZ_DSN_FIELD_MAX)
			out[n++] = (char)data[*at];
		(*at)++;
	}
	if (*at < size)
		(*at)++;
	out[n] = '\0';
}

/* The report's structure, by plain string search. */
static void
fuzz_dsn_lines(const char *p, size_t len, size_t nparts)
{
	const char *b = strstr(p, "\r\n boundary=\""), *q;
	size_t blen, line = 0, opens = 0, closes = 0;

	fuzz_check(b != NULL);
	b += strlen("\r\n boundary=\"");
	q = strchr(b, '"');
	fuzz_check(q != NULL);
	blen = (size_t)(q - b);
	fuzz_check(blen >= 1 && blen <= 70);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n')
			__builtin_trap();
		if (p[i] != '\r')
			continue;
		fuzz_check(i + 1 < len && p[i + 1] == '\n');
		fuzz_check(i - line <= 998);
		if (i - line >= 2 + blen && p[line] == '-' && p[line + 1] == '-' &&
		    memcmp(p + line + 2, b, blen) == 0) {
			if (i - line == 2 + blen) {
				opens++;
			} else {
				fuzz_check(i - line == 4 + blen && memcmp(p + line + 2 + blen, "--", 2) == 0);
				fuzz_check(i + 2 == len);
				closes++;
			}
		}
		i++;
		line = i + 1;
	}
	fuzz_check(line == len);
	fuzz_check(opens == nparts && closes == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char fields[FUZZ_DSN_FIELDS][FUZZ_DSN_FIELD_MAX + 1];
	struct dsn_rcpt r[2];
	struct dsn_info in;
	struct mime *m = NULL;
	char err[FUZZ_DSN_ERR_MAX] = "";
	char *out = NULL, *again = NULL;
	size_t len = 0, alen = 0, at = 1, nparts;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	for (size_t i = 0; i < FUZZ_DSN_FIELDS; i++)
		fuzz_dsn_field(data, size, &at, fields[i]);
	memset(r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	r[0].address = fields[0];
	r[0].action = (flags & FUZZ_DSN_DELAYED) ? DSN_DELAYED : DSN_FAILED;
	r[0].remote_mta = (flags & FUZZ_DSN_REMOTE) ? "mx.peer.test" : NULL;
	r[0].diagnostic = fields[1];
	r[0].reason = fields[2];
	r[0].last_attempt = 1772531892;
	r[1].address = "bob@peer.test";
	r[1].action = DSN_FAILED;
	in.reporting_mta = "mail.alice.test";
	in.sender = "alice@alice.test";
	in.arrival = 1772445600;
	in.now = 1772532000;
	in.retry_until = 1772877600;
	in.unique = fields[3];
	if (!(flags & FUZZ_DSN_NO_HEADERS)) {
		in.headers = data + at;
		in.headers_len = size - at;
	}
	in.rcpts = r;
	in.nrcpts = (flags & FUZZ_DSN_TWO) ? 2 : 1;

	if (dsn_build(&in, &out, &len, err, sizeof(err)) != 0) {
		fuzz_check(out == NULL && err[0] != '\0');
		return 0;
	}
	fuzz_check(dsn_build(&in, &again, &alen, err, sizeof(err)) == 0);
	fuzz_check(alen == len && memcmp(out, again, len) == 0);
	fuzz_check(strlen(out) == len);
	nparts = in.headers != NULL ? 3 : 2;
	fuzz_dsn_lines(out, len, nparts);

	fuzz_check(mime_parse(out, len, NULL, &m) == 0);
	fuzz_check(m->nparts == nparts + 1 && m->parts[0].children == nparts);
	fuzz_check((m->flags & MIME_F_MALFORMED) == 0);
	if (nparts == 3)
		fuzz_check(m->parts[3].body_size <= DSN_HEADERS_MAX);
	mime_free(&m);
	free(again);
	free(out);
	return 0;
}
