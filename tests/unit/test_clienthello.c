/*
 * Unit tests for shared/clienthello: real ClientHellos captured from
 * OpenSSL, curl, Python, Chromium and Postfix (tests/unit/data/clienthello,
 * made as its README says), each fed whole, one byte at a time and framed
 * again into many small records; a table of assembled inputs at every check
 * of the record layer, the ClientHello and the server_name extension; and
 * the two limits, CLIENTHELLO_MAX and CLIENTHELLO_WIRE_MAX, at and past
 * the edge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "dnsname.h"
#include "hex.h"
#include "num.h"

#define T_DATA_DIR "tests/unit/data/clienthello/"
#define T_PATH_MAX 256
#define T_HEX_MAX (4 * CLIENTHELLO_WIRE_MAX)	/* characters of a capture file */
#define T_WIRE_CAP (2 * CLIENTHELLO_WIRE_MAX)	/* bytes of any input a test makes */
#define T_SRC_MAX 512				/* an assembler source built at run time */
#define T_DEPTH_MAX 8				/* nested {K ... } blocks */
#define T_PREFIX_ALL 4096			/* inputs up to this: every prefix is parsed */
#define T_PREFIX_STEP 61			/* longer ones: the ends, and every 61st */
#define T_RECORD_HEADER 5

/* ---- helpers ----------------------------------------------------------- */

static int
t_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read a capture: hex digits, any whitespace between them. Returns its length. */
static size_t
t_load(const char *name, uint8_t *out, size_t cap)
{
	static char text[T_HEX_MAX], digits[T_HEX_MAX];
	char path[T_PATH_MAX];
	size_t n, nd = 0, len = 0;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s%s", T_DATA_DIR, name) >= (int)sizeof(path))
		fail_msg("path too long: %s", name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: %s (run from the repository root)", path, strerror(errno));
	n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (n == sizeof(text))
		fail_msg("%s: larger than %d characters", path, T_HEX_MAX);
	for (size_t i = 0; i < n; i++) {
		if (t_hexval(text[i]) >= 0)
			digits[nd++] = text[i];
		else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
			fail_msg("%s: character 0x%02x at %zu is not hex", path, (unsigned char)text[i], i);
	}
	if (hex_decode(digits, nd, out, cap, &len) != 0)
		fail_msg("%s: odd number of hex digits, or too long", path);
	return len;
}

/*
 * Assemble bytes from text: pairs of hex digits; 'text' for its ASCII
 * bytes; %N,XX for N bytes XX; {K ... } for a block preceded by its length
 * in K (1 to 3) bytes, big-endian. Spaces separate nothing and are ignored.
 * Returns the length.
 */
static size_t
t_asm(const char *src, uint8_t *out, size_t cap)
{
	size_t open_at[T_DEPTH_MAX], open_k[T_DEPTH_MAX], depth = 0, o = 0;
	const char *s = src;

	while (*s != '\0') {
		if (*s == ' ') {
			s++;
		} else if (*s == '{') {
			if (depth == T_DEPTH_MAX || s[1] < '1' || s[1] > '3')
				fail_msg("asm: bad '{' at %zu in %s", (size_t)(s - src), src);
			open_k[depth] = (size_t)(s[1] - '0');
			open_at[depth++] = o;
			o += (size_t)(s[1] - '0');
			s += 2;
		} else if (*s == '}') {
			size_t k, n;

			if (depth == 0)
				fail_msg("asm: '}' without '{' in %s", src);
			k = open_k[--depth];
			n = o - open_at[depth] - k;
			if (n >= (size_t)1 << (8 * k))
				fail_msg("asm: block of %zu bytes does not fit %zu length bytes", n, k);
			for (size_t i = 0; i < k; i++)
				out[open_at[depth] + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
			s++;
		} else if (*s == '\'') {
			for (s++; *s != '\'' && *s != '\0'; s++) {
				if (o == cap)
					fail_msg("asm: output over %zu bytes", cap);
				out[o++] = (uint8_t)*s;
			}
			if (*s++ != '\'')
				fail_msg("asm: unterminated text in %s", src);
		} else if (*s == '%') {
			const char *comma = strchr(s, ',');
			int64_t count = 0;
			int hi, lo;

			if (comma == NULL || num_parse_i64(s + 1, (size_t)(comma - s - 1), 0,
							   T_WIRE_CAP, &count) != 0)
				fail_msg("asm: bad %%N,XX in %s", src);
			hi = t_hexval(comma[1]);
			lo = hi < 0 ? -1 : t_hexval(comma[2]);
			if (lo < 0 || cap - o < (size_t)count)
				fail_msg("asm: bad %%N,XX in %s", src);
			memset(&out[o], hi << 4 | lo, (size_t)count);
			o += (size_t)count;
			s = comma + 3;
		} else {
			int hi = t_hexval(s[0]), lo = hi < 0 ? -1 : t_hexval(s[1]);

			if (lo < 0)
				fail_msg("asm: bad character '%c' at %zu in %s", *s, (size_t)(s - src), src);
			if (o == cap)
				fail_msg("asm: output over %zu bytes", cap);
			out[o++] = (uint8_t)(hi << 4 | lo);
			s += 2;
		}
		if (o > cap)
			fail_msg("asm: output over %zu bytes", cap);
	}
	if (depth != 0)
		fail_msg("asm: '{' without '}' in %s", src);
	return o;
}

/*
 * Take the handshake bytes out of the records of in[0..len) and frame them
 * again as records of 1, 2, ..., max_rec, 1, 2, ... bytes with the first
 * record's version. Returns the new length.
 */
static size_t
t_reframe(const uint8_t *in, size_t len, size_t max_rec, uint8_t *out, size_t cap)
{
	static uint8_t payload[T_WIRE_CAP];
	size_t plen = 0, o = 0, size = 1;

	for (size_t i = 0; i < len;) {
		size_t rlen;

		assert_true(len - i >= T_RECORD_HEADER);
		assert_int_equal(in[i], 22);
		rlen = (size_t)in[i + 3] << 8 | in[i + 4];
		assert_true(len - i - T_RECORD_HEADER >= rlen);
		memcpy(&payload[plen], &in[i + T_RECORD_HEADER], rlen);
		plen += rlen;
		i += T_RECORD_HEADER + rlen;
	}
	for (size_t p = 0; p < plen;) {
		size_t n = size < plen - p ? size : plen - p;

		assert_true(cap - o >= T_RECORD_HEADER + n);
		out[o] = 22;
		out[o + 1] = in[1];
		out[o + 2] = in[2];
		out[o + 3] = (uint8_t)(n >> 8);
		out[o + 4] = (uint8_t)n;
		memcpy(&out[o + T_RECORD_HEADER], &payload[p], n);
		o += T_RECORD_HEADER + n;
		p += n;
		size = size % max_rec + 1;
	}
	return o;
}

/* What every answer must satisfy, whatever the input. */
static void
t_check_one(const char *what, size_t n, enum clienthello_status st, const struct clienthello *ch)
{
	switch (st) {
	case CLIENTHELLO_SNI:
		if (ch->error != NULL || ch->sni_len != strlen(ch->sni) ||
		    dnsname_check(ch->sni, ch->sni_len, 0) != 0)
			fail_msg("%s, %zu bytes: SNI '%s' (%zu) error %s", what, n, ch->sni, ch->sni_len,
				 ch->error ? ch->error : "NULL");
		break;
	case CLIENTHELLO_MORE:
	case CLIENTHELLO_NO_SNI:
		if (ch->error != NULL || ch->sni_len != 0 || ch->sni[0] != '\0')
			fail_msg("%s, %zu bytes: status %d with sni or error set", what, n, st);
		break;
	case CLIENTHELLO_INVALID:
		if (ch->error == NULL || ch->sni_len != 0 || ch->sni[0] != '\0')
			fail_msg("%s, %zu bytes: INVALID without error, or with sni", what, n);
		break;
	default:
		fail_msg("%s, %zu bytes: status %d", what, n, st);
	}
}

/* Parse in[0..n) from a copy of exactly n bytes, so ASan sees reads past n. */
static enum clienthello_status
t_parse(const uint8_t *in, size_t n, struct clienthello *ch)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum clienthello_status st;

	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, in, n);
	st = clienthello_parse(copy, n, ch);
	free(copy);
	return st;
}

/*
 * Parse in[0..len) and its prefixes (all of them up to T_PREFIX_ALL bytes,
 * else a sample): MORE, then one answer that no further byte changes, and
 * that answer is want (with want_sni, and an error containing want_error,
 * when not NULL).
 */
static void
t_check(const char *what, const uint8_t *in, size_t len, enum clienthello_status want,
	const char *want_sni, const char *want_error)
{
	enum clienthello_status st, decided = CLIENTHELLO_MORE;
	struct clienthello ch;

	for (size_t n = 0; n <= len; n++) {
		if (len > T_PREFIX_ALL && n > T_PREFIX_STEP && len - n > T_PREFIX_STEP &&
		    n % T_PREFIX_STEP != 0)
			continue;
		st = t_parse(in, n, &ch);
		t_check_one(what, n, st, &ch);
		if (decided != CLIENTHELLO_MORE && st != decided)
			fail_msg("%s: %zu bytes gave %d after an earlier %d", what, n, st, decided);
		decided = st;
		if (st != CLIENTHELLO_MORE && st != want)
			fail_msg("%s: %zu of %zu bytes gave %d (%s), want %d", what, n, len, st,
				 ch.error ? ch.error : "", want);
		if (st == CLIENTHELLO_SNI && want_sni != NULL && strcmp(ch.sni, want_sni) != 0)
			fail_msg("%s: %zu bytes: sni '%s', want '%s'", what, n, ch.sni, want_sni);
	}
	if (decided != want)
		fail_msg("%s: gave %d, want %d", what, decided, want);
	if (want_error != NULL && strstr(ch.error, want_error) == NULL)
		fail_msg("%s: error '%s' does not say '%s'", what, ch.error, want_error);
}

/* ---- captures ---------------------------------------------------------- */

struct capture {
	const char *file;
	const char *sni;	/* NULL: none sent */
};

static const struct capture captures[] = {
	{ "openssl-s_client.hex", "mail.example.test" },
	{ "openssl-tls1_2.hex", "smtp.example.test" },
	{ "openssl-noservername.hex", NULL },
	{ "curl.hex", "webmail.example.test" },
	{ "python-ssl.hex", "imap.example.test" },
	{ "chromium.hex", "www.example.test" },
	{ "posttls-finger.hex", "mx.example.test" },
};

/* Record sizes for t_reframe: 1 byte each, small, mixed, and one big record. */
static const size_t reframe_sizes[] = { 1, 2, 3, 7, 64, 1000, 16384 };

static void
test_clienthello_captures(void **state)
{
	static uint8_t wire[T_WIRE_CAP], split[T_WIRE_CAP];
	/* Bytes a client may send right after its ClientHello: ChangeCipherSpec, early data. */
	static const char after[] = "14 0303 {2 01 } 17 0303 {2 %40,ee }";

	(void)state;
	for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
		const struct capture *c = &captures[i];
		enum clienthello_status want = c->sni ? CLIENTHELLO_SNI : CLIENTHELLO_NO_SNI;
		size_t len = t_load(c->file, wire, sizeof(wire)), n;
		char what[T_PATH_MAX];

		assert_true(len > T_RECORD_HEADER);
		t_check(c->file, wire, len, want, c->sni, NULL);
		n = t_asm(after, &wire[len], sizeof(wire) - len);
		snprintf(what, sizeof(what), "%s and more records", c->file);
		t_check(what, wire, len + n, want, c->sni, NULL);
		for (size_t k = 0; k < sizeof(reframe_sizes) / sizeof(reframe_sizes[0]); k++) {
			n = t_reframe(wire, len, reframe_sizes[k], split, sizeof(split));
			snprintf(what, sizeof(what), "%s in records of 1..%zu", c->file, reframe_sizes[k]);
			t_check(what, split, n, want, c->sni, NULL);
		}
	}
}

/* ---- assembled inputs -------------------------------------------------- */

#define RANDOM "%32,5a"
#define HELLO_HEAD "0303 " RANDOM " 00 {2 1301 c02f } 01 00"
#define HS(body) "01 {3 " body " }"
#define REC(body) "16 0301 {2 " body " }"
#define CH_EXTS(exts) REC(HS(HELLO_HEAD " {2 " exts " }"))
#define SNI_EXT(name) "0000 {2 {2 00 {2 " name " } } }"
#define NAME(text) "'" text "'"
#define GOOD SNI_EXT(NAME("mail.example.test"))
#define GROUPS "000a {2 {2 001d 0017 } }"
#define PADDING "0015 {2 %16,00 }"
#define N63(c) "%63," c

struct asm_case {
	const char *name;
	const char *src;
	enum clienthello_status status;
	const char *sni;	/* when SNI: the name */
	const char *error;	/* when INVALID: a word the error must contain, or NULL */
};

static const struct asm_case asm_cases[] = {
	/* Good: the smallest, the extension among others, names at their limits. */
	{ "minimal", CH_EXTS(GOOD), CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "among others", CH_EXTS(GROUPS GOOD PADDING), CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "case kept", CH_EXTS(SNI_EXT(NAME("MAIL.Example.TEST"))), CLIENTHELLO_SNI,
	  "MAIL.Example.TEST", NULL },
	{ "one label", CH_EXTS(SNI_EXT(NAME("localhost"))), CLIENTHELLO_SNI, "localhost", NULL },
	{ "one letter", CH_EXTS(SNI_EXT(NAME("a"))), CLIENTHELLO_SNI, "a", NULL },
	{ "name of 253", CH_EXTS(SNI_EXT(N63("61") " 2e " N63("62") " 2e " N63("63") " 2e %61,64")),
	  CLIENTHELLO_SNI, NULL, NULL },
	{ "second list entry ignored",
	  CH_EXTS("0000 {2 {2 00 {2 'mail.example.test' } 00 {2 'other.example.test' } } }"),
	  CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "second entry of another type ignored",
	  CH_EXTS("0000 {2 {2 00 {2 'mail.example.test' } 07 {2 'x' } } }"), CLIENTHELLO_SNI,
	  "mail.example.test", NULL },
	{ "session id 32", REC(HS("0303 " RANDOM " {1 %32,11 } {2 1301 } 01 00 {2 " GOOD " }")),
	  CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "three compression methods", REC(HS("0303 " RANDOM " 00 {2 1301 } {1 00 01 40 } {2 " GOOD " }")),
	  CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "TLS 1.0 hello", REC(HS("0301 " RANDOM " 00 {2 002f } 01 00 {2 " GOOD " }")),
	  CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "record version 3.0", "16 0300 {2 " HS(HELLO_HEAD " {2 " GOOD " }") " }", CLIENTHELLO_SNI,
	  "mail.example.test", NULL },
	{ "record version 3.9", "16 0309 {2 " HS(HELLO_HEAD " {2 " GOOD " }") " }", CLIENTHELLO_SNI,
	  "mail.example.test", NULL },
	{ "more in the same record", REC(HS(HELLO_HEAD " {2 " GOOD " }") " 0f {3 %9,01 }"),
	  CLIENTHELLO_SNI, "mail.example.test", NULL },
	{ "an alert after", CH_EXTS(GOOD) " 15 0303 {2 0100 }", CLIENTHELLO_SNI,
	  "mail.example.test", NULL },
	{ "text after", CH_EXTS(GOOD) " 'GET / HTTP/1.1' 0d0a", CLIENTHELLO_SNI,
	  "mail.example.test", NULL },
	{ "no extensions", REC(HS(HELLO_HEAD)), CLIENTHELLO_NO_SNI, NULL, NULL },
	{ "empty extensions", CH_EXTS(""), CLIENTHELLO_NO_SNI, NULL, NULL },
	{ "other extensions only", CH_EXTS(GROUPS PADDING), CLIENTHELLO_NO_SNI, NULL, NULL },
	{ "empty unknown extension", CH_EXTS("fafa 0000"), CLIENTHELLO_NO_SNI, NULL, NULL },
	{ "length CLIENTHELLO_MAX - 4 so far", REC("01 003ffc %100,00"), CLIENTHELLO_MORE, NULL, NULL },
	{ "nothing", "", CLIENTHELLO_MORE, NULL, NULL },

	/* Records other than handshake, and what is not TLS at all. */
	{ "alert record", "15 0303 {2 0228 }", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "application data", "17 0303 {2 %20,ee }", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "change_cipher_spec", "14 0303 {2 01 }", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "heartbeat", "18 0303 {2 01 }", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "SSLv2 hello", "802e 01 0301 0015 0000 0010 %21,00 %16,5a", CLIENTHELLO_INVALID, NULL,
	  "handshake record" },
	{ "HTTP request", "'GET / HTTP/1.1' 0d0a 'Host: mail.example.test' 0d0a 0d0a",
	  CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "SMTP", "'EHLO mail.example.test' 0d0a", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "a zero byte", "00", CLIENTHELLO_INVALID, NULL, "handshake record" },
	{ "alert record second", REC("01 00") " 15 0303 {2 0228 }", CLIENTHELLO_INVALID, NULL,
	  "handshake record" },

	/* Record headers. */
	{ "record major 2", "16 0200 {2 " HS(HELLO_HEAD) " }", CLIENTHELLO_INVALID, NULL, "version" },
	{ "record major 4", "16 0403 {2 " HS(HELLO_HEAD) " }", CLIENTHELLO_INVALID, NULL, "version" },
	{ "record major 0", "16 00", CLIENTHELLO_INVALID, NULL, "version" },
	{ "record length 0", "16 0301 0000", CLIENTHELLO_INVALID, NULL, "record length" },
	{ "record length 16385", "16 0301 4001", CLIENTHELLO_INVALID, NULL, "record length" },
	{ "record length 65535", "16 0301 ffff", CLIENTHELLO_INVALID, NULL, "record length" },
	{ "record length 0 second", REC("01 00") " 16 0301 0000", CLIENTHELLO_INVALID, NULL,
	  "record length" },
	{ "record length 16385 second", REC("01 00") " 16 0301 4001", CLIENTHELLO_INVALID, NULL,
	  "record length" },

	/* The handshake message header. */
	{ "server_hello", REC("02 {3 " HELLO_HEAD " }"), CLIENTHELLO_INVALID, NULL, "not a ClientHello" },
	{ "hello_request", REC("00 000000"), CLIENTHELLO_INVALID, NULL, "not a ClientHello" },
	{ "certificate", REC("0b 000000"), CLIENTHELLO_INVALID, NULL, "not a ClientHello" },
	{ "length CLIENTHELLO_MAX - 3", REC("01 003ffd"), CLIENTHELLO_INVALID, NULL, "CLIENTHELLO_MAX" },
	{ "length 16 MiB - 1", REC("01 ffffff"), CLIENTHELLO_INVALID, NULL, "CLIENTHELLO_MAX" },
	{ "length 0", REC("01 000000"), CLIENTHELLO_INVALID, NULL, "truncated" },

	/* The ClientHello's fixed fields. */
	{ "legacy_version 2.0", REC(HS("0200 " RANDOM " 00 {2 1301 } 01 00")), CLIENTHELLO_INVALID,
	  NULL, "version" },
	{ "random cut", REC(HS("0303 %31,5a")), CLIENTHELLO_INVALID, NULL, "truncated" },
	{ "version cut", REC(HS("03")), CLIENTHELLO_INVALID, NULL, "truncated" },
	{ "session id 33", REC(HS("0303 " RANDOM " {1 %33,11 } {2 1301 } 01 00")),
	  CLIENTHELLO_INVALID, NULL, "session id" },
	{ "session id overruns", REC(HS("0303 " RANDOM " 20 %8,11")), CLIENTHELLO_INVALID, NULL,
	  "session id" },
	{ "session id missing", REC(HS("0303 " RANDOM)), CLIENTHELLO_INVALID, NULL, "session id" },
	{ "cipher suites odd", REC(HS("0303 " RANDOM " 00 {2 1301 13 } 01 00")), CLIENTHELLO_INVALID,
	  NULL, "cipher suites" },
	{ "cipher suites empty", REC(HS("0303 " RANDOM " 00 {2 } 01 00")), CLIENTHELLO_INVALID, NULL,
	  "cipher suites" },
	{ "cipher suites overrun", REC(HS("0303 " RANDOM " 00 0010 1301 01 00")),
	  CLIENTHELLO_INVALID, NULL, "cipher suites" },
	{ "compression methods empty", REC(HS("0303 " RANDOM " 00 {2 1301 } {1 }")),
	  CLIENTHELLO_INVALID, NULL, "compression" },
	{ "compression methods overrun", REC(HS("0303 " RANDOM " 00 {2 1301 } 05 00")),
	  CLIENTHELLO_INVALID, NULL, "compression" },
	{ "compression methods missing", REC(HS("0303 " RANDOM " 00 {2 1301 }")),
	  CLIENTHELLO_INVALID, NULL, "compression" },

	/* The extensions block and each extension's header. */
	{ "extensions length cut", REC(HS(HELLO_HEAD " 00")), CLIENTHELLO_INVALID, NULL, "extensions" },
	{ "extensions longer than the rest", REC(HS(HELLO_HEAD " 0100 " GOOD)), CLIENTHELLO_INVALID,
	  NULL, "extensions" },
	{ "extensions shorter than the rest", REC(HS(HELLO_HEAD " {2 " GOOD " } 00")),
	  CLIENTHELLO_INVALID, NULL, "extensions" },
	{ "extension header cut", CH_EXTS(GOOD " 000a 00"), CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "extension type only", CH_EXTS("000a"), CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "extension overruns", CH_EXTS("000a 0010 0002 001d"), CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "server_name overruns", CH_EXTS("0000 0020 {2 00 {2 'a.test' } }"), CLIENTHELLO_INVALID, NULL,
	  "overruns" },
	{ "overrun after server_name", CH_EXTS(GOOD " 0015 0004 00"), CLIENTHELLO_INVALID, NULL,
	  "overruns" },

	/* The server_name extension. */
	{ "empty server_name", CH_EXTS("0000 0000"), CLIENTHELLO_INVALID, NULL, "empty server_name" },
	{ "list length 1 byte", CH_EXTS("0000 {2 00 }"), CLIENTHELLO_INVALID, NULL, "list length" },
	{ "list length short", CH_EXTS("0000 {2 0005 00 {2 'mail.example.test' } }"),
	  CLIENTHELLO_INVALID, NULL, "list length" },
	{ "list length long", CH_EXTS("0000 {2 0100 00 {2 'mail.example.test' } }"),
	  CLIENTHELLO_INVALID, NULL, "list length" },
	{ "empty list", CH_EXTS("0000 {2 {2 } }"), CLIENTHELLO_INVALID, NULL, "empty server_name list" },
	{ "name overruns the list", CH_EXTS("0000 {2 {2 00 0040 'mail.example.test' } }"),
	  CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "name length cut", CH_EXTS("0000 {2 {2 00 00 } }"), CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "name length missing", CH_EXTS("0000 {2 {2 00 } }"), CLIENTHELLO_INVALID, NULL, "overruns" },
	{ "name_type 1", CH_EXTS("0000 {2 {2 01 {2 'mail.example.test' } } }"), CLIENTHELLO_INVALID,
	  NULL, "host_name" },
	{ "name_type 255", CH_EXTS("0000 {2 {2 ff {2 'mail.example.test' } } }"), CLIENTHELLO_INVALID,
	  NULL, "host_name" },
	{ "duplicate", CH_EXTS(GOOD GOOD), CLIENTHELLO_INVALID, NULL, "duplicate" },
	{ "duplicate apart", CH_EXTS(GOOD GROUPS SNI_EXT(NAME("other.example.test"))),
	  CLIENTHELLO_INVALID, NULL, "duplicate" },
	{ "duplicate empty", CH_EXTS(GOOD " 0000 0000"), CLIENTHELLO_INVALID, NULL, "duplicate" },

	/* Names that are not host names. */
	{ "empty name", CH_EXTS(SNI_EXT("")), CLIENTHELLO_INVALID, NULL, "name" },
	{ "trailing dot", CH_EXTS(SNI_EXT(NAME("mail.example.test."))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "empty label", CH_EXTS(SNI_EXT(NAME("mail..example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "leading dot", CH_EXTS(SNI_EXT(NAME(".example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "only a dot", CH_EXTS(SNI_EXT(NAME("."))), CLIENTHELLO_INVALID, NULL, "bad server name" },
	{ "name of 254", CH_EXTS(SNI_EXT(N63("61") " 2e " N63("62") " 2e " N63("63") " 2e %62,64")),
	  CLIENTHELLO_INVALID, NULL, "bad server name" },
	{ "label of 64", CH_EXTS(SNI_EXT("%64,61 '.example.test'")), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "underscore", CH_EXTS(SNI_EXT(NAME("_smtp.example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "NUL inside", CH_EXTS(SNI_EXT("'mail' 00 '.example.test'")), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "NUL at the end", CH_EXTS(SNI_EXT("'mail.example.test' 00")), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "space", CH_EXTS(SNI_EXT(NAME("mail example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "wildcard", CH_EXTS(SNI_EXT(NAME("*.example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "leading hyphen", CH_EXTS(SNI_EXT(NAME("-mail.example.test"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "UTF-8", CH_EXTS(SNI_EXT("'b' c3bc 'cher.example.test'")), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "port", CH_EXTS(SNI_EXT(NAME("mail.example.test:465"))), CLIENTHELLO_INVALID, NULL,
	  "bad server name" },
	{ "bad name, then more", CH_EXTS(SNI_EXT(NAME("a_b.example.test")) GROUPS), CLIENTHELLO_INVALID,
	  NULL, "bad server name" },
};

static void
test_clienthello_table(void **state)
{
	static uint8_t wire[T_WIRE_CAP], split[T_WIRE_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(asm_cases) / sizeof(asm_cases[0]); i++) {
		const struct asm_case *c = &asm_cases[i];
		size_t len = t_asm(c->src, wire, sizeof(wire));

		t_check(c->name, wire, len, c->status, c->sni, c->error);
	}
	/* Good ones split into records of 1 byte and of a few bytes say the same. */
	for (size_t i = 0; i < sizeof(asm_cases) / sizeof(asm_cases[0]); i++) {
		const struct asm_case *c = &asm_cases[i];
		size_t len;

		if (c->status != CLIENTHELLO_SNI && c->status != CLIENTHELLO_NO_SNI)
			continue;
		if (strstr(c->name, "after") != NULL || strstr(c->name, "same record") != NULL)
			continue;	/* the bytes after are not handshake records */
		len = t_asm(c->src, wire, sizeof(wire));
		for (size_t k = 1; k <= 5; k += 4) {
			size_t n = t_reframe(wire, len, k, split, sizeof(split));
			t_check(c->name, split, n, c->status, c->sni, NULL);
		}
	}
}

/* A ClientHello naming mail.example.test, padded to exactly total bytes of message. */
static size_t
t_padded(size_t total, uint8_t *out, size_t cap)
{
	char src[T_SRC_MAX];
	size_t base;

	snprintf(src, sizeof(src), "%s", REC(HS(HELLO_HEAD " {2 " GOOD " 0015 {2 } }")));
	base = t_asm(src, out, cap) - T_RECORD_HEADER;
	assert_true(total >= base);
	if (snprintf(src, sizeof(src), "%s%zu%s", "16 0301 {2 01 {3 " HELLO_HEAD " {2 " GOOD " 0015 {2 %",
		     total - base, ",00 } } } }") >= (int)sizeof(src))
		fail_msg("source too long");
	/* One record holds at most 16384 bytes: the caller splits bigger ones. */
	return t_asm(src, out, cap);
}

static void
test_clienthello_max(void **state)
{
	static uint8_t wire[T_WIRE_CAP], split[T_WIRE_CAP];
	size_t len, n;

	(void)state;
	/* Exactly CLIENTHELLO_MAX: one full record, or many. */
	len = t_padded(CLIENTHELLO_MAX, wire, sizeof(wire));
	assert_int_equal(len, T_RECORD_HEADER + CLIENTHELLO_MAX);
	t_check("CLIENTHELLO_MAX in one record", wire, len, CLIENTHELLO_SNI, "mail.example.test", NULL);
	n = t_reframe(wire, len, 1000, split, sizeof(split));
	t_check("CLIENTHELLO_MAX in records of 1..1000", split, n, CLIENTHELLO_SNI,
		"mail.example.test", NULL);
	/* One byte more: refused as soon as the header is in, record boundaries or not. */
	len = t_padded(CLIENTHELLO_MAX + 1, wire, sizeof(wire));
	n = t_reframe(wire, len, 1000, split, sizeof(split));
	t_check("CLIENTHELLO_MAX + 1 in records of 1..1000", split, n, CLIENTHELLO_INVALID, NULL,
		"CLIENTHELLO_MAX");
	/* In 1-byte records (its first 200 bytes: all of it would not fit T_WIRE_CAP). */
	wire[3] = 0;
	wire[4] = 200;
	n = t_reframe(wire, T_RECORD_HEADER + 200, 1, split, sizeof(split));
	t_check("CLIENTHELLO_MAX + 1 in 1-byte records", split, n, CLIENTHELLO_INVALID, NULL,
		"CLIENTHELLO_MAX");
	{
		struct clienthello ch;
		assert_int_equal(clienthello_parse(split, 3 * (T_RECORD_HEADER + 1), &ch),
				 CLIENTHELLO_MORE);
		assert_int_equal(clienthello_parse(split, 4 * (T_RECORD_HEADER + 1), &ch),
				 CLIENTHELLO_INVALID);
	}
	/* One record of 16384 bytes is the largest: one that says 16385 is refused. */
	len = t_padded(CLIENTHELLO_MAX, wire, sizeof(wire));
	wire[3] = 0x40;
	wire[4] = 0x01;
	t_check("record of 16385", wire, len, CLIENTHELLO_INVALID, NULL, "record length");
}

static void
test_clienthello_wire_max(void **state)
{
	/* 1-byte records cost 6 bytes of wire per byte of message. */
	const size_t fits = CLIENTHELLO_WIRE_MAX / (T_RECORD_HEADER + 1);
	static uint8_t wire[T_WIRE_CAP], split[T_WIRE_CAP];
	struct clienthello ch;
	size_t len, n;

	(void)state;
	len = t_padded(fits, wire, sizeof(wire));
	n = t_reframe(wire, len, 1, split, sizeof(split));
	assert_true(n <= CLIENTHELLO_WIRE_MAX);
	t_check("largest message in 1-byte records", split, n, CLIENTHELLO_SNI, "mail.example.test",
		NULL);

	len = t_padded(fits + 1, wire, sizeof(wire));
	n = t_reframe(wire, len, 1, split, sizeof(split));
	assert_true(n > CLIENTHELLO_WIRE_MAX);
	t_check("one byte more in 1-byte records", split, n, CLIENTHELLO_INVALID, NULL,
		"CLIENTHELLO_WIRE_MAX");
	/* The edge, exactly: MORE up to CLIENTHELLO_WIRE_MAX bytes, INVALID after. */
	assert_int_equal(clienthello_parse(split, CLIENTHELLO_WIRE_MAX, &ch), CLIENTHELLO_MORE);
	assert_int_equal(clienthello_parse(split, CLIENTHELLO_WIRE_MAX + 1, &ch), CLIENTHELLO_INVALID);
	assert_non_null(strstr(ch.error, "CLIENTHELLO_WIRE_MAX"));

	/* A big message in records of 1..3 bytes passes the limit too. */
	len = t_padded(8000, wire, sizeof(wire));
	n = t_reframe(wire, len, 3, split, sizeof(split));
	t_check("8000 bytes in records of 1..3", split, n, CLIENTHELLO_INVALID, NULL,
		"CLIENTHELLO_WIRE_MAX");
	/* The same message in ordinary records is fine. */
	n = t_reframe(wire, len, 1400, split, sizeof(split));
	t_check("8000 bytes in records of 1..1400", split, n, CLIENTHELLO_SNI, "mail.example.test",
		NULL);
}

/* Answers do not depend on what *ch_r held before. */
static void
test_clienthello_clears(void **state)
{
	static uint8_t wire[T_WIRE_CAP];
	struct clienthello ch;
	size_t len;

	(void)state;
	len = t_asm(CH_EXTS(GOOD), wire, sizeof(wire));
	assert_int_equal(clienthello_parse(wire, len, &ch), CLIENTHELLO_SNI);
	assert_string_equal(ch.sni, "mail.example.test");
	assert_int_equal(ch.sni_len, strlen("mail.example.test"));
	assert_null(ch.error);
	assert_int_equal(clienthello_parse(wire, len - 1, &ch), CLIENTHELLO_MORE);
	assert_string_equal(ch.sni, "");
	assert_int_equal(ch.sni_len, 0);
	assert_int_equal(clienthello_parse(wire, len, &ch), CLIENTHELLO_SNI);
	len = t_asm(CH_EXTS(GOOD GOOD), wire, sizeof(wire));
	assert_int_equal(clienthello_parse(wire, len, &ch), CLIENTHELLO_INVALID);
	assert_string_equal(ch.sni, "");
	assert_int_equal(ch.sni_len, 0);
	assert_non_null(ch.error);
	assert_int_equal(clienthello_parse(NULL, 0, &ch), CLIENTHELLO_MORE);
	assert_null(ch.error);
}

static void
test_clienthello_alert(void **state)
{
	/* alert(21), version 3.3, length 2, fatal(2), unrecognized_name(112) */
	static const uint8_t want[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70 };

	(void)state;
	assert_int_equal(sizeof(want), CLIENTHELLO_ALERT_LEN);
	assert_memory_equal(clienthello_alert_unrecognized_name, want, CLIENTHELLO_ALERT_LEN);
	/* And it is no ClientHello. */
	{
		struct clienthello ch;
		assert_int_equal(clienthello_parse(clienthello_alert_unrecognized_name,
						   CLIENTHELLO_ALERT_LEN, &ch),
				 CLIENTHELLO_INVALID);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clienthello_captures),
		cmocka_unit_test(test_clienthello_table),
		cmocka_unit_test(test_clienthello_max),
		cmocka_unit_test(test_clienthello_wire_max),
		cmocka_unit_test(test_clienthello_clears),
		cmocka_unit_test(test_clienthello_alert),
	};
	return cmocka_run_group_tests_name("clienthello", tests, NULL, NULL);
}
