/*
 * Unit tests for shared/log: escaping of peer bytes (log_escape), the line
 * format of log_event (captured with open_memstream), level filtering,
 * flattening of newlines, the LOG_LINE_MAX cut, level names and session ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define T_PROG "test-prog"
#define T_TS_LEN 20		/* "2026-11-28T07:49:35Z" */
#define T_ESC_MAX 1024
#define T_SIDS 2000

/* ---- log_escape ---- */

struct escape_case {
	const char *in;
	size_t len;
	size_t cap;
	const char *out;
};

#define ESC(s, cap, out) { s, sizeof(s) - 1, cap, out }
static const struct escape_case escape_cases[] = {
	ESC("", 4, ""),
	ESC("plain text 123", 64, "plain text 123"),
	ESC(" !#$%&'()*+,-./:;<=>?@[]^_`{|}~", 64, " !#$%&'()*+,-./:;<=>?@[]^_`{|}~"),
	ESC("a\"b", 64, "a\\\"b"),
	ESC("a\\b", 64, "a\\\\b"),
	ESC("\"\\", 64, "\\\"\\\\"),
	ESC("a\nb", 64, "a\\x0ab"),
	ESC("\r\n", 64, "\\x0d\\x0a"),
	ESC("\t", 64, "\\x09"),
	ESC("\x01\x1f\x7f", 64, "\\x01\\x1f\\x7f"),
	ESC("\x80\xff\xc3\xa9", 64, "\\x80\\xff\\xc3\\xa9"),
	ESC("a\0b", 64, "a\\x00b"),
	ESC("key=value sid=forged", 64, "key=value sid=forged"),
	/* Exactly fits: text and NUL. */
	ESC("abc", 4, "abc"),
	ESC("abcdefgh", 9, "abcdefgh"),
	ESC("a\"", 4, "a\\\""),
	ESC("\n", 5, "\\x0a"),
	/* One byte short: cut and marked, never half an escape. */
	ESC("abcd", 4, "..."),
	ESC("abcdefgh", 8, "abcd..."),
	ESC("abcdefgh", 5, "a..."),
	ESC("\n", 4, "..."),
	ESC("\n\n", 8, "\\x0a..."),
	ESC("\n\n", 9, "\\x0a\\x0a"),
	ESC("ab\n", 7, "ab\\x0a"),
	ESC("ab\n", 6, "ab..."),
	ESC("ab\"cdef", 9, "ab\\\"cdef"),
	ESC("ab\"cdef", 8, "ab\\\"..."),
	ESC("ab\"cdef", 7, "ab..."),
};

static void
test_log_escape_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *c = &escape_cases[i];
		char out[T_ESC_MAX];
		char *r;

		memset(out, 'Z', sizeof(out));
		r = log_escape(c->in, c->len, out, c->cap);
		if (r != out)
			fail_msg("case %zu: returned %p, not out", i, (void *)r);
		if (strcmp(out, c->out) != 0)
			fail_msg("case %zu (cap %zu): got \"%s\", want \"%s\"", i, c->cap, out, c->out);
		if (out[c->cap] != 'Z')
			fail_msg("case %zu: wrote past cap", i);
	}
}

/* Escaped width of one byte. */
static size_t
t_escape_width(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	return c >= 0x20 && c < 0x7f ? 1 : 4;
}

static void
test_log_escape_every_cap(void **state)
{
	uint8_t in[300];
	char full[T_ESC_MAX], out[T_ESC_MAX], prefix[T_ESC_MAX];
	size_t full_len;

	(void)state;
	/* Printables, escapes of 2 and of 4 characters, mixed. */
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	log_escape(in, sizeof(in), full, sizeof(full));
	full_len = strlen(full);
	assert_true(full_len > sizeof(in));
	assert_null(strstr(full, "..."));

	for (size_t cap = 4; cap <= full_len + 2; cap++) {
		size_t kept, k, width;

		memset(out, 'Z', sizeof(out));
		log_escape(in, sizeof(in), out, cap);
		if (out[cap] != 'Z')
			fail_msg("cap %zu: canary overwritten", cap);
		if (memchr(out, '\0', cap) == NULL)
			fail_msg("cap %zu: no NUL inside cap", cap);
		if (full_len < cap) {
			if (strcmp(out, full) != 0)
				fail_msg("cap %zu: fits but got \"%s\"", cap, out);
			continue;
		}
		kept = strlen(out);
		if (kept < 3 || strcmp(out + kept - 3, "...") != 0)
			fail_msg("cap %zu: cut without \"...\": \"%s\"", cap, out);
		kept -= 3;
		/* What is kept is the escape of a whole number of input bytes... */
		for (k = 0, width = 0; k < sizeof(in) && width < kept; k++)
			width += t_escape_width(in[k]);
		if (width != kept)
			fail_msg("cap %zu: cut inside an escape (%zu)", cap, kept);
		log_escape(in, k, prefix, sizeof(prefix));
		if (strlen(prefix) != kept || memcmp(prefix, out, kept) != 0)
			fail_msg("cap %zu: kept text is not a prefix of the escape", cap);
		/* ...and as many as fit with the marker. */
		if (kept + t_escape_width(in[k]) + 4 <= cap)
			fail_msg("cap %zu: cut too early at %zu", cap, kept);
	}
}

/* ---- log_event ---- */

struct capture {
	FILE *f;
	char *buf;
	size_t size;
};

static void
cap_open(struct capture *c, enum log_level level)
{
	c->buf = NULL;
	c->size = 0;
	c->f = open_memstream(&c->buf, &c->size);
	assert_non_null(c->f);
	log_init(T_PROG, level, c->f);
}

/* Close the stream; c->buf then holds everything written. */
static void
cap_close(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	c->f = NULL;
	log_init("homeport", LOG_LEVEL_INFO, NULL);
}

static void
cap_free(struct capture *c)
{
	free(c->buf);
	c->buf = NULL;
}

static void
t_now_ts(char out[T_TS_LEN + 1])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	assert_int_equal(strftime(out, T_TS_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm), T_TS_LEN);
}

/*
 * line is "ts=<T_TS_LEN chars> rest": check the stamp lies in [lo, hi]
 * (same format, so text order is time order) and rest equals want.
 */
static void
t_check_line(const char *line, size_t len, const char *lo, const char *hi, const char *want)
{
	char ts[T_TS_LEN + 1];

	if (len < 3 + T_TS_LEN || memcmp(line, "ts=", 3) != 0)
		fail_msg("no ts= field: \"%.*s\"", (int)len, line);
	memcpy(ts, line + 3, T_TS_LEN);
	ts[T_TS_LEN] = '\0';
	/* "YYYY-MM-DDTHH:MM:SSZ": digits where the pattern has '9'. */
	for (size_t i = 0; i < T_TS_LEN; i++) {
		char pat = "9999-99-99T99:99:99Z"[i];
		if (pat == '9' ? (ts[i] < '0' || ts[i] > '9') : ts[i] != pat)
			fail_msg("bad timestamp \"%s\"", ts);
	}
	if (strcmp(ts, lo) < 0 || strcmp(ts, hi) > 0)
		fail_msg("timestamp %s not within [%s, %s]", ts, lo, hi);
	if (len - 3 - T_TS_LEN != strlen(want) || memcmp(line + 3 + T_TS_LEN, want, strlen(want)) != 0)
		fail_msg("got  \"%.*s\"\nwant \"%s\"", (int)(len - 3 - T_TS_LEN),
			 line + 3 + T_TS_LEN, want);
}

/* Count the lines in buf, which must end in a newline (or be empty). */
static size_t
t_count_lines(const char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += buf[i] == '\n';
	if (size > 0 && buf[size - 1] != '\n')
		fail_msg("output does not end in a newline");
	return n;
}

static void
test_log_event_format(void **state)
{
	struct capture c;
	char lo[T_TS_LEN + 1], hi[T_TS_LEN + 1];
	const char *line2;

	(void)state;
	t_now_ts(lo);
	cap_open(&c, LOG_LEVEL_INFO);
	log_event(LOG_LEVEL_INFO, "5f3a09c10001", "accept", "peer=%s port=%d", "198.51.100.25",
		  40112);
	log_event(LOG_LEVEL_ERROR, NULL, "start", NULL);
	cap_close(&c);
	t_now_ts(hi);

	assert_int_equal(t_count_lines(c.buf, c.size), 2);
	line2 = strchr(c.buf, '\n') + 1;
	t_check_line(c.buf, (size_t)(line2 - 1 - c.buf), lo, hi,
		     " prog=" T_PROG " level=info sid=5f3a09c10001 event=accept"
		     " peer=198.51.100.25 port=40112");
	/* No sid, no fields: no sid= and no trailing space. */
	t_check_line(line2, strlen(line2) - 1, lo, hi, " prog=" T_PROG " level=error event=start");
	cap_free(&c);
}

static void
test_log_event_macros(void **state)
{
	struct capture c;
	char lo[T_TS_LEN + 1], hi[T_TS_LEN + 1];
	const char *want[] = {
		" prog=" T_PROG " level=error sid=s1 event=e1 n=1",
		" prog=" T_PROG " level=warn sid=s2 event=e2 n=2",
		" prog=" T_PROG " level=info sid=s3 event=e3 n=3",
		" prog=" T_PROG " level=debug sid=s4 event=e4 n=4",
	};
	const char *p;

	(void)state;
	t_now_ts(lo);
	cap_open(&c, LOG_LEVEL_DEBUG);
	log_error("s1", "e1", "n=%d", 1);
	log_warn("s2", "e2", "n=%d", 2);
	log_info("s3", "e3", "n=%d", 3);
	log_debug("s4", "e4", "n=%d", 4);
	cap_close(&c);
	t_now_ts(hi);

	assert_int_equal(t_count_lines(c.buf, c.size), 4);
	p = c.buf;
	for (size_t i = 0; i < 4; i++) {
		const char *nl = strchr(p, '\n');
		t_check_line(p, (size_t)(nl - p), lo, hi, want[i]);
		p = nl + 1;
	}
	cap_free(&c);
}

/* One event at each level, with the minimum at min: which ones are written. */
static unsigned
t_levels_written(enum log_level min, int use_set_level)
{
	struct capture c;
	unsigned mask = 0;
	const enum log_level all[] = {
		LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG
	};

	cap_open(&c, use_set_level ? LOG_LEVEL_ERROR : min);
	if (use_set_level)
		log_set_level(min);
	for (size_t i = 0; i < 4; i++)
		log_event(all[i], NULL, "ev", "lvl=%s", log_level_name(all[i]));
	cap_close(&c);
	for (size_t i = 0; i < 4; i++) {
		char field[32];
		snprintf(field, sizeof(field), " lvl=%s\n", log_level_name(all[i]));
		if (c.buf != NULL && strstr(c.buf, field) != NULL)
			mask |= 1u << i;
	}
	if (t_count_lines(c.buf, c.size) != (size_t)__builtin_popcount(mask))
		fail_msg("unexpected lines: \"%s\"", c.buf);
	cap_free(&c);
	return mask;
}

static void
test_log_event_level_filter(void **state)
{
	(void)state;
	for (int set = 0; set <= 1; set++) {
		assert_int_equal(t_levels_written(LOG_LEVEL_ERROR, set), 0x1);
		assert_int_equal(t_levels_written(LOG_LEVEL_WARN, set), 0x3);
		assert_int_equal(t_levels_written(LOG_LEVEL_INFO, set), 0x7);
		assert_int_equal(t_levels_written(LOG_LEVEL_DEBUG, set), 0xf);
	}
}

static void
test_log_event_one_line(void **state)
{
	struct capture c;
	char lo[T_TS_LEN + 1], hi[T_TS_LEN + 1];

	(void)state;
	t_now_ts(lo);
	cap_open(&c, LOG_LEVEL_INFO);
	log_info("s1", "reject", "reason=\"%s\" end=1", "bad\nevent=forged level=error\n");
	log_info("s1", "cr", "text=%s", "a\rb\tc");
	cap_close(&c);
	t_now_ts(hi);

	assert_int_equal(t_count_lines(c.buf, c.size), 2);
	t_check_line(c.buf, (size_t)(strchr(c.buf, '\n') - c.buf), lo, hi,
		     " prog=" T_PROG " level=info sid=s1 event=reject"
		     " reason=\"bad\\nevent=forged level=error\\n\" end=1");
	/* Other control characters do not reach the stream either. */
	assert_non_null(strstr(c.buf, " event=cr text=a?b?c\n"));
	cap_free(&c);
}

/* Length of the line before the fields: "ts=... event=ev". */
static size_t
t_prefix_len(const char *sid, const char *event)
{
	return 3 + T_TS_LEN + strlen(" prog=" T_PROG " level=info sid=") + strlen(sid) +
	       strlen(" event=") + strlen(event);
}

/* Log one event whose fields are text, return the line without its newline. */
static char *
t_log_fields(const char *text, size_t *len_r)
{
	struct capture c;
	char *nl;

	cap_open(&c, LOG_LEVEL_INFO);
	log_info("s1", "ev", "%s", text);
	cap_close(&c);
	assert_int_equal(t_count_lines(c.buf, c.size), 1);
	nl = strchr(c.buf, '\n');
	*nl = '\0';
	*len_r = (size_t)(nl - c.buf);
	return c.buf;
}

static void
test_log_event_cut(void **state)
{
	size_t prefix = t_prefix_len("s1", "ev") + 1;	/* and the space before the fields */
	size_t room = LOG_LINE_MAX - 1 - prefix;	/* field bytes that fit */
	char *text = malloc(LOG_LINE_MAX * 2);
	char *line;
	size_t len;

	(void)state;
	assert_non_null(text);

	/* Exactly at the limit: written whole. */
	memset(text, 'a', room);
	text[room - 1] = 'Z';
	text[room] = '\0';
	line = t_log_fields(text, &len);
	assert_int_equal(len, LOG_LINE_MAX - 1);
	assert_string_equal(line + prefix, text);
	free(line);

	/* One byte more: cut to the limit and marked. */
	memset(text, 'a', room + 1);
	text[room + 1] = '\0';
	line = t_log_fields(text, &len);
	assert_int_equal(len, LOG_LINE_MAX - 1);
	assert_string_equal(line + len - 4, " ...");
	assert_int_equal(strspn(line + prefix, "a"), room - 4);
	free(line);

	/* Far more. */
	memset(text, 'b', LOG_LINE_MAX * 2 - 1);
	text[LOG_LINE_MAX * 2 - 1] = '\0';
	line = t_log_fields(text, &len);
	assert_int_equal(len, LOG_LINE_MAX - 1);
	assert_string_equal(line + len - 4, " ...");
	free(line);
	free(text);
}

static void
test_log_event_cut_after_flattening(void **state)
{
	size_t prefix = t_prefix_len("s1", "ev") + 1;
	size_t room = LOG_LINE_MAX - 1 - prefix;
	char *text = malloc(LOG_LINE_MAX);
	char *line;
	size_t len, kept;

	(void)state;
	assert_non_null(text);

	/* One newline, and the flattened line is exactly at the limit. */
	memset(text, 'a', room - 1);
	text[0] = '\n';
	text[room - 1] = '\0';
	line = t_log_fields(text, &len);
	assert_int_equal(len, LOG_LINE_MAX - 1);
	assert_memory_equal(line + prefix, "\\na", 3);
	assert_int_equal(line[len - 1], 'a');
	free(line);

	/* One byte more: it fits raw but not flattened, so it is cut and marked. */
	memset(text, 'a', room);
	text[0] = '\n';
	text[room] = '\0';
	line = t_log_fields(text, &len);
	assert_int_equal(len, LOG_LINE_MAX - 1);
	assert_string_equal(line + len - 4, " ...");
	free(line);

	/* Many newlines: cut between two "\n", never inside one, and marked. */
	memset(text, '\n', 1500);
	text[1500] = '\0';
	line = t_log_fields(text, &len);
	assert_true(len <= LOG_LINE_MAX - 1);
	assert_string_equal(line + len - 4, " ...");
	kept = len - 4 - prefix;
	assert_int_equal(kept % 2, 0);
	/* As many as fit with the marker. */
	assert_true(prefix + kept + 2 + 4 > LOG_LINE_MAX - 1);
	for (size_t i = 0; i < kept; i += 2)
		assert_memory_equal(line + prefix + i, "\\n", 2);
	free(line);
	free(text);
}

/* ---- levels and session ids ---- */

struct level_case {
	const char *word;
	int rc;
	enum log_level level;
};

static const struct level_case level_cases[] = {
	{ "error", 0, LOG_LEVEL_ERROR },
	{ "warn", 0, LOG_LEVEL_WARN },
	{ "info", 0, LOG_LEVEL_INFO },
	{ "debug", 0, LOG_LEVEL_DEBUG },
	{ "", -1, 0 },
	{ "INFO", -1, 0 },
	{ "Info", -1, 0 },
	{ "info ", -1, 0 },
	{ " info", -1, 0 },
	{ "warning", -1, 0 },
	{ "err", -1, 0 },
	{ "debug2", -1, 0 },
	{ "unknown", -1, 0 },
	{ "3", -1, 0 },
};

static void
test_log_level_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(level_cases) / sizeof(level_cases[0]); i++) {
		const struct level_case *c = &level_cases[i];
		enum log_level l = (enum log_level)77;
		int rc = log_level_parse(c->word, &l);

		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d", c->word, rc, c->rc);
		if (rc == 0 && l != c->level)
			fail_msg("'%s': level %d, want %d", c->word, (int)l, (int)c->level);
		if (rc != 0 && l != (enum log_level)77)
			fail_msg("'%s': level written on failure", c->word);
	}
}

static void
test_log_level_name(void **state)
{
	(void)state;
	assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
	assert_string_equal(log_level_name(LOG_LEVEL_INFO), "info");
	assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
	assert_string_equal(log_level_name((enum log_level)4), "unknown");
	/* Every name parses back to its level. */
	for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++) {
		enum log_level back;
		assert_int_equal(log_level_parse(log_level_name((enum log_level)l), &back), 0);
		assert_int_equal(back, l);
	}
}

static int
t_cmp_sid(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_log_sid_new(void **state)
{
	char (*sids)[LOG_SID_LEN] = calloc(T_SIDS, LOG_SID_LEN);

	(void)state;
	assert_non_null(sids);
	for (size_t i = 0; i < T_SIDS; i++) {
		memset(sids[i], 'Z', LOG_SID_LEN);
		log_sid_new(sids[i]);
		assert_int_equal(strlen(sids[i]), LOG_SID_LEN - 1);
		assert_int_equal(strspn(sids[i], "0123456789abcdef"), LOG_SID_LEN - 1);
	}
	qsort(sids, T_SIDS, LOG_SID_LEN, t_cmp_sid);
	for (size_t i = 1; i < T_SIDS; i++) {
		if (strcmp(sids[i - 1], sids[i]) == 0)
			fail_msg("session id %s issued twice", sids[i]);
	}
	free(sids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_escape_table),
		cmocka_unit_test(test_log_escape_every_cap),
		cmocka_unit_test(test_log_event_format),
		cmocka_unit_test(test_log_event_macros),
		cmocka_unit_test(test_log_event_level_filter),
		cmocka_unit_test(test_log_event_one_line),
		cmocka_unit_test(test_log_event_cut),
		cmocka_unit_test(test_log_event_cut_after_flattening),
		cmocka_unit_test(test_log_level_parse),
		cmocka_unit_test(test_log_level_name),
		cmocka_unit_test(test_log_sid_new),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
