/*
 * Fuzz target: the web listeners' answers (home/web_session). The first
 * byte picks the listener (bit 0: https or http), how the rest is fed
 * (bits 1-4: chunk size 1..15, or whole when 0) and whether the store
 * answers (bit 5); the rest is the request.
 * Fed in chunks or whole, the session answers exactly once and the same,
 * web_respond's answer to the whole input. Every answer is one complete
 * response: "HTTP/1.1 NNN ", header lines ending in CRLF without a bare CR
 * or LF (a Location header cannot be split), a blank line, and a body
 * exactly as long as Content-Length says (none for HEAD).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../home/home.h"
#include "../../home/mtasts.h"


static int
fuzz_is_domain(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "example.test") == 0;
}

static int
fuzz_store_down(void *arg, const char *domain)
{
	(void)arg;
	(void)domain;
	return -1;
}

/* The response out[0..len) is well-formed; a 200 is the policy, sts_len bytes. */
static void
fuzz_check_response(const char *out, size_t len, int head, size_t sts_len)
{
	const char *end = memmem(out, len, "\r\n\r\n", 4), *cl;
	size_t head_len, body_len;

	if (len < 13 || memcmp(out, "HTTP/1.1 ", 9) != 0 || end == NULL)
		__builtin_trap();
	for (size_t i = 9; i < 12; i++) {
		if (out[i] < '0' || out[i] > '9')
			__builtin_trap();
	}
	head_len = (size_t)(end - out) + 4;
	for (size_t i = 0; i < head_len; i++) {
		if ((out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) ||
		    (out[i] == '\r' && (i + 1 == head_len || out[i + 1] != '\n')))
			__builtin_trap();
	}
	cl = memmem(out, head_len, "\r\nContent-Length: ", 18);
	if (cl == NULL)
		__builtin_trap();
	body_len = strtoul(cl + 18, NULL, 10);
	if (len - head_len != (head ? 0 : body_len))
		__builtin_trap();
	/* The policy's answer carries the policy's length, HEAD included. */
	if (memcmp(out + 9, "200", 3) == 0 && body_len != sts_len)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mx[] = { "mail.example.test" };
	static struct mtasts_own sts;
	struct web_site site = { .sts = &sts, .is_domain = fuzz_is_domain };
	static char want[WEB_SESSION_OUT_MAX];
	struct web_session *s;
	struct httphead h;
	enum httphead_status st;
	size_t chunk, want_len, got_len, off = 0;
	const uint8_t *got;
	int status = 0;

	if (size < 1)
		return 0;
	if (sts.len == 0)
		mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, mx, 1, NULL, &sts);
	site.https = data[0] & 1;
	chunk = (data[0] >> 1) & 15;
	if (data[0] & 32)
		site.is_domain = fuzz_store_down;
	data++;
	size--;
	st = httphead_parse(data, size, &h);
	if ((s = web_session_new(&site)) == NULL)
		return 0;
	while (off < size && web_session_action(s) == SESSION_GO) {
		size_t n = chunk == 0 || size - off < chunk ? size - off : chunk;
		size_t took = web_session_feed(s, data + off, n, 0);

		if (took == 0 || took > n)
			__builtin_trap();
		off += took;
	}
	got = web_session_output(s, &got_len);
	if (st == HTTPHEAD_MORE) {
		if (web_session_action(s) != SESSION_GO || got_len != 0)
			__builtin_trap();
	} else {
		want_len = web_respond(&site, data, st, &h, want, sizeof(want), &status);
		if (web_session_action(s) != SESSION_CLOSE || got_len != want_len || want_len == 0 ||
		    memcmp(got, want, want_len) != 0)
			__builtin_trap();
		fuzz_check_response(want, want_len,
				    st == HTTPHEAD_HOST && h.method_len == 4 && memcmp(data, "HEAD", 4) == 0 &&
					    status != 400 && site.https,
				    sts.len);
		if (status != atoi(want + 9))
			__builtin_trap();
	}
	web_session_free(&s);
	return 0;
}
