/*
 * Fuzz target: the MTA-STS TXT record and policy parsers (home/mtasts.c),
 * both on every input. A TXT record that parses starts like one
 * (mtasts_txt_is_sts), has an id of 1 to 32 letters and digits, and the
 * id's canonical record gives the same id. A policy that parses is within
 * every limit (size, mode, max_age, mx count, mx names lower case and
 * valid), matches each of its own patterns (and a one-label instance of
 * each wildcard) through mtasts_mx_match, and written out canonically
 * parses to the same policy; an input without CR parses exactly the same
 * with every LF made a CRLF. Every refusal has a reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"
#include "fuzz.h"

#include "../../home/mtasts.h"

/* The canonical text of a policy: its fields, then its mx lines. */
#define FUZZ_MTASTS_TEXT_MAX (128 + MTASTS_MX_MAX * (DNSNAME_MAX + 8))

static void
fuzz_txt(const uint8_t *data, size_t size)
{
	char id[MTASTS_ID_MAX + 1], again[MTASTS_ID_MAX + 1], canon[64 + MTASTS_ID_MAX];
	const char *err = NULL;
	size_t n;
	int len;

	if (mtasts_parse_txt(data, size, id, &err) != 0) {
		if (err == NULL || err[0] == '\0')
			__builtin_trap();
		return;
	}
	if (!mtasts_txt_is_sts(data, size))
		__builtin_trap();
	n = strnlen(id, sizeof(id));
	if (n == 0 || n > MTASTS_ID_MAX)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
			__builtin_trap();
	}
	len = snprintf(canon, sizeof(canon), "v=STSv1; id=%s;", id);
	if (len < 0 || (size_t)len >= sizeof(canon) ||
	    mtasts_parse_txt((const uint8_t *)canon, (size_t)len, again, &err) != 0 ||
	    strcmp(again, id) != 0)
		__builtin_trap();
}

static void
fuzz_policy_limits(const struct mtasts_policy *p, size_t size)
{
	if (size == 0 || size > MTASTS_POLICY_MAX || p->max_age > MTASTS_MAX_AGE_MAX ||
	    p->nmx > MTASTS_MX_MAX || (p->nmx == 0 && p->mode != MTASTS_MODE_NONE) ||
	    (p->mode != MTASTS_MODE_NONE && p->mode != MTASTS_MODE_TESTING &&
	     p->mode != MTASTS_MODE_ENFORCE))
		__builtin_trap();
	for (size_t i = 0; i < p->nmx; i++) {
		const char *mx = p->mx[i];
		size_t n = strnlen(mx, DNSNAME_MAX + 1);
		char host[DNSNAME_MAX + 2];

		if (n > DNSNAME_MAX || dnsname_check(mx, n, DNSNAME_WILDCARD) != 0)
			__builtin_trap();
		for (size_t k = 0; k < n; k++) {
			if (mx[k] >= 'A' && mx[k] <= 'Z')
				__builtin_trap();
		}
		if (mx[0] != '*') {
			/* The pattern itself, upper case, with the root's dot. */
			for (size_t k = 0; k < n; k++)
				host[k] = mx[k] >= 'a' && mx[k] <= 'z' ? (char)(mx[k] - ('a' - 'A')) : mx[k];
			host[n] = '.';
			host[n + 1] = '\0';
			if (!mtasts_mx_match(p, mx) || !mtasts_mx_match(p, host))
				__builtin_trap();
		} else if (n < DNSNAME_MAX) {
			/* "*.rest" matches "x.rest". */
			memcpy(host, mx, n + 1);
			host[0] = 'x';
			if (!mtasts_mx_match(p, host))
				__builtin_trap();
		}
	}
}

/* p written out canonically and parsed again gives p. */
static void
fuzz_policy_round_trip(const struct mtasts_policy *p)
{
	static const char *const modes[] = { "none", "testing", "enforce" };
	char *text = malloc(FUZZ_MTASTS_TEXT_MAX);
	struct mtasts_policy back;
	const char *err = NULL;
	size_t n = 0;
	int len;

	if (text == NULL)
		return;
	len = snprintf(text, FUZZ_MTASTS_TEXT_MAX, "version: STSv1\nmode: %s\nmax_age: %u\n",
		       modes[p->mode], (unsigned)p->max_age);
	if (len < 0)
		__builtin_trap();
	n = (size_t)len;
	for (size_t i = 0; i < p->nmx; i++) {
		len = snprintf(text + n, FUZZ_MTASTS_TEXT_MAX - n, "mx: %s\n", p->mx[i]);
		if (len < 0 || (size_t)len >= FUZZ_MTASTS_TEXT_MAX - n)
			__builtin_trap();
		n += (size_t)len;
	}
	if (mtasts_parse_policy((const uint8_t *)text, n, &back, &err) != 0 ||
	    memcmp(&back, p, sizeof(back)) != 0)
		__builtin_trap();
	free(text);
}

/* Without any CR in the input, CRLF line ends give the same answer. */
static void
fuzz_policy_crlf(const uint8_t *data, size_t size, int rc, const char *err, const struct mtasts_policy *p)
{
	struct mtasts_policy q;
	const char *qerr = NULL;
	uint8_t *crlf;
	size_t n = 0;
	int qrc;

	if (memchr(data, '\r', size) != NULL)
		return;
	crlf = calloc(2 * size + 1, 1);
	if (crlf == NULL)
		return;
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = data[i];
	}
	qrc = mtasts_parse_policy(crlf, n, &q, &qerr);
	/* CRs add bytes: only an input near the size limit may differ, by being too large. */
	if (n > MTASTS_POLICY_MAX && size <= MTASTS_POLICY_MAX) {
		free(crlf);
		return;
	}
	if (qrc != rc || (rc == 0 && memcmp(&q, p, sizeof(q)) != 0) || (rc != 0 && strcmp(qerr, err) != 0))
		__builtin_trap();
	free(crlf);
}

static void
fuzz_policy(const uint8_t *data, size_t size)
{
	struct mtasts_policy *p = malloc(sizeof(*p));
	const char *err = NULL;
	int rc;

	if (p == NULL)
		return;
	rc = mtasts_parse_policy(data, size, p, &err);
	if (rc != 0 && (rc != -1 || err == NULL || err[0] == '\0'))
		__builtin_trap();
	if (rc == 0) {
		fuzz_policy_limits(p, size);
		fuzz_policy_round_trip(p);
	}
	fuzz_policy_crlf(data, size, rc, err, p);
	free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_txt(data, size);
	fuzz_policy(data, size);
	return 0;
}
