/*
 * Fuzz target: smtp_reply_parse() on the input as what a server sent.
 *
 * Checks: a reply that parses is no longer than the input, ends in LF,
 * has as many lines as LFs, each within SMTP_REPLY_LINE_MAX and starting
 * with the same code; its text is NUL-terminated, printable ASCII, and
 * equals the lines joined and escaped here by a second, naive writer (cut
 * to end in "..." when too long); its status is one that the first line
 * starts with, and is there exactly when the first line starts with one;
 * its EHLO keywords and SIZE number are what a second reading of lines 2..
 * finds (the number compared as text, not as arithmetic). An input that
 * needs more is within the line and line-count limits. Every checked
 * prefix of a reply needs more; a refusal names one of the known errors,
 * and every checked prefix of it needs more or gives the same refusal; the
 * input with more bytes after it gives the same answer; parsing is
 * repeatable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../home/smtp_reply.h"
#include "fuzz.h"

#define FUZZ_REPLY_TEXT_ROOM (SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX + 16)
#define FUZZ_REPLY_PREFIX_STRIDES 32	/* prefixes checked at even steps through the input */
#define FUZZ_REPLY_LF_NEAR 12		/* prefixes around the first and last so many line ends */
#define FUZZ_REPLY_UINT64_MAX_TEXT "18446744073709551615"

static const char *const fuzz_reply_errors[] = {
	"bad reply code",
	"reply code differs between lines",
	"bad separator after reply code",
	"too many reply lines",
	"reply line too long",
};

static const struct {
	const char *word;
	unsigned bit;
} fuzz_reply_exts[] = {
	{ "STARTTLS", SMTP_EXT_STARTTLS },
	{ "PIPELINING", SMTP_EXT_PIPELINING },
	{ "SIZE", SMTP_EXT_SIZE },
	{ "8BITMIME", SMTP_EXT_8BITMIME },
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	{ "CHUNKING", SMTP_EXT_CHUNKING },
	{ "DSN", SMTP_EXT_DSN },
};

static struct smtp_reply_parsed fuzz_r, fuzz_again;
static char fuzz_text[FUZZ_REPLY_TEXT_ROOM];
static size_t fuzz_lf[SMTP_REPLY_LINES_MAX + 1];	/* where the input's first LFs are */

static void
fuzz_reply_known_error(const char *err)
{
	for (size_t i = 0; i < sizeof(fuzz_reply_errors) / sizeof(fuzz_reply_errors[0]); i++) {
		if (err != NULL && strcmp(err, fuzz_reply_errors[i]) == 0)
			return;
	}
	__builtin_trap();
}

/* A line's text: after "DDD" and its separator, without LF and a CR before it. */
static void
fuzz_reply_line_text(const uint8_t *line, size_t len_with_lf, const uint8_t **t_r, size_t *n_r)
{
	size_t end = len_with_lf - 1;

	if (end > 3 && line[end - 1] == '\r')
		end--;
	*t_r = line + 4;
	*n_r = end >= 4 ? end - 4 : 0;
}

/* The first word of t[0..n) after SPs, and what follows it. */
static void
fuzz_reply_word(const uint8_t **t, size_t *n, const uint8_t **w_r, size_t *wn_r)
{
	while (*n > 0 && **t == ' ') {
		(*t)++;
		(*n)--;
	}
	*w_r = *t;
	*wn_r = 0;
	while (*n > 0 && **t != ' ') {
		(*t)++;
		(*n)--;
		(*wn_r)++;
	}
}

/* Is t[0..n) a status code of class klass, then nothing or SP? Returns its length or 0. */
static size_t
fuzz_reply_status_len(const uint8_t *t, size_t n, uint8_t klass)
{
	size_t i = 0, digits;

	if (klass != '2' && klass != '4' && klass != '5')
		return 0;
	if (n < 1 || t[0] != klass)
		return 0;
	i = 1;
	for (int part = 0; part < 2; part++) {
		if (i >= n || t[i] != '.')
			return 0;
		i++;
		for (digits = 0; i < n && t[i] >= '0' && t[i] <= '9'; digits++)
			i++;
		if (digits < 1 || digits > 3)
			return 0;
	}
	return i == n || t[i] == ' ' ? i : 0;
}

/* SIZE's parameter as the number the parser should give, compared as decimal text. */
static void
fuzz_reply_size_check(const uint8_t *p, size_t n, uint64_t got)
{
	char want[32], text[32];
	size_t z = 0;

	if (n == 0 || n > 20) {
		if (got != 0)
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') {
			if (got != 0)
				__builtin_trap();
			return;
		}
	}
	while (z + 1 < n && p[z] == '0')
		z++;
	memcpy(want, p + z, n - z);
	want[n - z] = '\0';
	if (n - z == 20 && strcmp(want, FUZZ_REPLY_UINT64_MAX_TEXT) > 0) {
		if (got != 0)
			__builtin_trap();
		return;
	}
	snprintf(text, sizeof(text), "%llu", (unsigned long long)got);
	if (strcmp(text, want) != 0)
		__builtin_trap();
}

/* Everything about a reply of rc bytes at data. */
static void
fuzz_reply_good(const uint8_t *data, int rc, const struct smtp_reply_parsed *r)
{
	size_t len = (size_t)rc, pos = 0, tn = 0, want_len, n;
	const uint8_t *size_param = NULL;
	size_t size_param_len = 0;
	unsigned lines = 0, ext = 0;
	int saw_size = 0;

	if (data[len - 1] != '\n' ||
	    r->code != (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0'))
		__builtin_trap();
	if (r->code < 200 || r->code > 559 || (r->code / 10) % 10 > 5)
		__builtin_trap();
	memcpy(fuzz_text, data, 3);
	tn = 3;
	while (pos < len) {
		const uint8_t *lf = memchr(data + pos, '\n', len - pos), *t, *w;
		size_t line_len, wn;

		if (lf == NULL)
			__builtin_trap();
		line_len = (size_t)(lf - (data + pos)) + 1;
		if (line_len > SMTP_REPLY_LINE_MAX || line_len < 4 || memcmp(data + pos, data, 3) != 0)
			__builtin_trap();
		/* '-' on every line but the last. */
		if ((data[pos + 3] == '-') != (pos + line_len < len))
			__builtin_trap();
		fuzz_reply_line_text(data + pos, line_len, &t, &n);
		if (lines == 0) {
			size_t sl = fuzz_reply_status_len(t, n, data[0]);

			if (strlen(r->status) != sl || memcmp(r->status, t, sl) != 0)
				__builtin_trap();
		}
		if (n > 0) {
			fuzz_text[tn++] = ' ';
			for (size_t i = 0; i < n; i++)
				fuzz_text[tn++] = t[i] >= 0x20 && t[i] <= 0x7e ? (char)t[i] : '?';
		}
		if (lines > 0) {
			fuzz_reply_word(&t, &n, &w, &wn);
			for (size_t i = 0; i < sizeof(fuzz_reply_exts) / sizeof(fuzz_reply_exts[0]); i++) {
				if (wn == strlen(fuzz_reply_exts[i].word) &&
				    strncasecmp((const char *)w, fuzz_reply_exts[i].word, wn) == 0)
					ext |= fuzz_reply_exts[i].bit;
			}
			if (wn == 4 && strncasecmp((const char *)w, "SIZE", 4) == 0) {
				saw_size = 1;
				fuzz_reply_word(&t, &n, &size_param, &size_param_len);
			}
		}
		lines++;
		pos += line_len;
	}
	if (lines != r->nlines || lines > SMTP_REPLY_LINES_MAX || ext != r->ext)
		__builtin_trap();
	if (saw_size)
		fuzz_reply_size_check(size_param, size_param_len, r->size_max);
	else if (r->size_max != 0)
		__builtin_trap();

	/* The text: printable, terminated, and the naive join, cut when too long. */
	n = strnlen(r->text, sizeof(r->text));
	if (n == sizeof(r->text))
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (r->text[i] < 0x20 || r->text[i] > 0x7e)
			__builtin_trap();
	}
	want_len = tn;
	if (tn > SMTP_REPLY_TEXT_MAX - 1) {
		want_len = SMTP_REPLY_TEXT_MAX - 1;
		memcpy(fuzz_text + want_len - 3, "...", 3);
	}
	if (n != want_len || memcmp(r->text, fuzz_text, n) != 0)
		__builtin_trap();
}

/*
 * Whether to check the prefix of k bytes: the first few, those near the
 * first and the last line ends (where framing decides), and a stride; a
 * bounded number, since each costs a parse of up to the whole input.
 */
static int
fuzz_reply_interesting(const uint8_t *data, size_t size, size_t k, const size_t *lf, size_t nlf)
{
	size_t stride = size / FUZZ_REPLY_PREFIX_STRIDES;

	if (k < 8 || k + 1 == size || (stride > 0 && k % stride == 0))
		return 1;
	for (size_t i = 0; i < nlf; i++) {
		if (i >= FUZZ_REPLY_LF_NEAR && i + FUZZ_REPLY_LF_NEAR < nlf)
			continue;
		if (k + 2 >= lf[i] && k <= lf[i] + 6)
			return 1;
	}
	return data[k] == '\r' && k < 64;
}

/*
 * An input that needs more is within the limits: fewer than
 * SMTP_REPLY_LINES_MAX whole lines, each at most SMTP_REPLY_LINE_MAX
 * bytes, and a last, unfinished line shorter than that.
 */
static void
fuzz_reply_more(const uint8_t *data, size_t size)
{
	size_t start = 0, lines = 0;

	for (size_t i = 0; i < size; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 - start > SMTP_REPLY_LINE_MAX)
			__builtin_trap();
		lines++;
		start = i + 1;
	}
	if (lines >= SMTP_REPLY_LINES_MAX || size - start >= SMTP_REPLY_LINE_MAX)
		__builtin_trap();
}

/* The input with extra bytes after it gives the same answer. */
static void
fuzz_reply_longer(const uint8_t *data, size_t size, int rc, const char *err, const char *more,
		  size_t more_len)
{
	uint8_t *buf = malloc(size + more_len);
	const char *e2 = NULL;
	int rc2;

	if (buf == NULL)
		return;
	memcpy(buf, data, size);
	memcpy(buf + size, more, more_len);
	rc2 = smtp_reply_parse(buf, size + more_len, &fuzz_again, &e2);
	free(buf);
	if (rc > 0 && (rc2 != rc || memcmp(&fuzz_again, &fuzz_r, sizeof(fuzz_r)) != 0))
		__builtin_trap();
	if (rc < 0 && (rc2 != -1 || strcmp(e2, err) != 0))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL, *k_err;
	int rc = smtp_reply_parse(data, size, &fuzz_r, &err);
	size_t nlf = 0;

	if (rc < -1 || (rc > 0 && (size_t)rc > size))
		__builtin_trap();
	if (rc < 0)
		fuzz_reply_known_error(err);
	if (rc > 0) {
		fuzz_reply_good(data, rc, &fuzz_r);
		/* Repeatable, and the reply alone is the same reply. */
		if (smtp_reply_parse(data, (size_t)rc, &fuzz_again, &k_err) != rc ||
		    memcmp(&fuzz_again, &fuzz_r, sizeof(fuzz_r)) != 0)
			__builtin_trap();
	}
	if (rc == 0)
		fuzz_reply_more(data, size);

	for (size_t k = 0; k < size; k++) {
		if (data[k] == '\n' && nlf < sizeof(fuzz_lf) / sizeof(fuzz_lf[0]))
			fuzz_lf[nlf++] = k;
	}
	for (size_t k = 0; k < size; k++) {
		int k_rc;

		if (!fuzz_reply_interesting(data, size, k, fuzz_lf, nlf))
			continue;
		k_err = NULL;
		k_rc = smtp_reply_parse(data, k, &fuzz_again, &k_err);
		if (k_rc == 0)
			fuzz_reply_more(data, k);
		if (rc > 0 && k < (size_t)rc && k_rc != 0)
			__builtin_trap();
		if (rc == 0 && k_rc != 0)
			__builtin_trap();
		if (rc < 0 && k_rc != 0 && (k_rc != -1 || strcmp(k_err, err) != 0))
			__builtin_trap();
	}

	fuzz_reply_longer(data, size, rc, err, "\r\n", 2);
	fuzz_reply_longer(data, size, rc, err, "250 x\n", 6);
	return 0;
}
