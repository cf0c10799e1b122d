/*
 * Unit tests for home/web_session: the answers of the https listener (the
 * MTA-STS policy for a local domain's mta-sts host, 404 for anything
 * else, 405 for methods other than GET and HEAD) and of the http listener
 * (301 to https), each checked as a whole response; a bad head gets 400;
 * a head fed one byte at a time is answered once, when its blank line
 * arrives; bytes after it are taken and ignored; a head that never ends is
 * refused at HTTPHEAD_MAX; a timeout closes without an answer; the policy
 * is the one in force when the head is complete (a reload may change it
 * while the head arrives); the store not answering is a 503.
 *
 * The policy request is curl's own (curl 7.88.1, recorded as in
 * test_httphead.c): curl https://mta-sts.example.test/.well-known/mta-sts.txt
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/home.h"
#include "../../home/mtasts.h"

#define T_POLICY "version: STSv1\nmode: enforce\nmax_age: 604800\nmx: mail.example.test\n"

#define T_CURL_POLICY \
	"GET /.well-known/mta-sts.txt HTTP/1.1\r\n" \
	"Host: mta-sts.example.test\r\n" \
	"User-Agent: curl/7.88.1\r\n" \
	"Accept: */*\r\n" \
	"\r\n"

static int
t_is_domain(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "example.test") == 0;
}

static int
t_store_down(void *arg, const char *domain)
{
	(void)arg;
	(void)domain;
	return -1;
}

static const char *const t_mx[] = { "mail.example.test", "mx2.example.test" };
static struct mtasts_own t_sts;		/* T_POLICY: made by t_setup */
static struct web_site t_https = { .https = 1, .sts = &t_sts, .is_domain = t_is_domain };

static int
t_setup(void **state)
{
	(void)state;
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 1, NULL, &t_sts);
	return strcmp(t_sts.text, T_POLICY) == 0 ? 0 : -1;
}

/* Feed head whole to a new session on site; the answer, NUL-terminated, into out. */
static void
t_answer(const struct web_site *site, const char *head, char *out, size_t cap)
{
	struct web_session *s = web_session_new(site);
	const uint8_t *o;
	size_t len;

	assert_non_null(s);
	assert_int_equal(web_session_action(s), SESSION_GO);
	assert_int_equal(web_session_feed(s, (const uint8_t *)head, strlen(head), 0), strlen(head));
	assert_int_equal(web_session_action(s), SESSION_CLOSE);
	o = web_session_output(s, &len);
	assert_true(len < cap);
	memcpy(out, o, len);
	out[len] = '\0';
	web_session_output_consume(s, len);
	web_session_output(s, &len);
	assert_int_equal(len, 0);
	web_session_free(&s);
	assert_null(s);
}

static void
test_web_policy(void **state)
{
	char out[WEB_SESSION_OUT_MAX + 1];

	(void)state;
	t_answer(&t_https, T_CURL_POLICY, out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 67\r\n"
				 "Cache-Control: max-age=300\r\n"
				 "Connection: close\r\n"
				 "\r\n" T_POLICY);
	assert_int_equal(strlen(T_POLICY), 67);

	/* HEAD: the same head, no body. */
	t_answer(&t_https, "HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: MTA-STS.Example.Test:443\r\n\r\n",
		 out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 200 OK\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 67\r\n"
				 "Cache-Control: max-age=300\r\n"
				 "Connection: close\r\n"
				 "\r\n");
}

static void
test_web_not_found(void **state)
{
	static const char *const heads[] = {
		/* not a local domain */
		"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.other.test\r\n\r\n",
		/* not the policy host */
		"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: example.test\r\n\r\n",
		"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mail.example.test\r\n\r\n",
		"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: www.mta-sts.example.test\r\n\r\n",
		/* another path, a query, a longer path */
		"GET / HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n",
		"GET /.well-known/mta-sts.txt?x=1 HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n",
		"GET /.well-known/mta-sts.txt/ HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n",
		"GET /.well-known/MTA-STS.txt HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n",
	};
	char out[WEB_SESSION_OUT_MAX + 1];
	struct web_site none = t_https;

	(void)state;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		t_answer(&t_https, heads[i], out, sizeof(out));
		if (strcmp(out, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
				"Connection: close\r\n\r\nNot Found\n") != 0)
			fail_msg("%s -> %s", heads[i], out);
	}
	/* No policy published: the policy URL itself is not found. */
	none.sts = NULL;
	t_answer(&none, T_CURL_POLICY, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	{
		struct mtasts_own off;

		mtasts_own_build(HOME_MTASTS_OFF, 604800, t_mx, 1, NULL, &off);
		none.sts = &off;
		t_answer(&none, T_CURL_POLICY, out, sizeof(out));
	}
	assert_true(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
}

static void
test_web_method(void **state)
{
	char out[WEB_SESSION_OUT_MAX + 1];

	(void)state;
	t_answer(&t_https, "POST /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.test\r\n"
		 "Content-Length: 3\r\n\r\nabc", out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 405 Method Not Allowed\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 19\r\n"
				 "Allow: GET, HEAD\r\n"
				 "Connection: close\r\n"
				 "\r\n"
				 "Method Not Allowed\n");
	/* Methods are case-sensitive (RFC 9110 9.1). */
	t_answer(&t_https, "get /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n", out,
		 sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
}

static void
test_web_redirect(void **state)
{
	struct web_site http = t_https;
	char out[WEB_SESSION_OUT_MAX + 1];

	(void)state;
	http.https = 0;
	t_answer(&http, "GET /.well-known/mta-sts.txt?a=b HTTP/1.1\r\nHost: Mail.Example.Test:80\r\n\r\n", out,
		 sizeof(out));
	assert_string_equal(out, "HTTP/1.1 301 Moved Permanently\r\n"
				 "Content-Type: text/plain\r\n"
				 "Content-Length: 0\r\n"
				 "Location: https://mail.example.test/.well-known/mta-sts.txt?a=b\r\n"
				 "Connection: close\r\n"
				 "\r\n");
	/* Any method, any host name. */
	t_answer(&http, "DELETE * HTTP/1.0\r\nHost: other.test\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "\r\nLocation: https://other.test*\r\n"));
}

static void
test_web_bad_head(void **state)
{
	static const char *const heads[] = {
		"GET / HTTP/1.1\r\n\r\n",					/* no Host */
		"GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n",			/* an address */
		"GET / HTTP/1.1\nHost: a.test\n\n",				/* bare LF */
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",			/* TLS on the http port */
		"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",	/* two Hosts */
	};
	struct web_site http = t_https;
	char out[WEB_SESSION_OUT_MAX + 1];

	(void)state;
	http.https = 0;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		t_answer(&t_https, heads[i], out, sizeof(out));
		assert_string_equal(out, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
					 "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
		t_answer(&http, heads[i], out, sizeof(out));
		assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
	}
}

/* Byte by byte: no answer before the blank line; everything after it is taken and ignored. */
static void
test_web_bytewise(void **state)
{
	static const char head[] = T_CURL_POLICY "GET / HTTP/1.1\r\n";
	struct web_session *s = web_session_new(&t_https);
	size_t len, head_len = sizeof(T_CURL_POLICY) - 1;
	char stats[256];

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(head) - 1; i++) {
		assert_int_equal(web_session_feed(s, (const uint8_t *)head + i, 1, 0), 1);
		web_session_output(s, &len);
		assert_int_equal(web_session_action(s), i + 1 < head_len ? SESSION_GO : SESSION_CLOSE);
		assert_true(i + 1 < head_len ? len == 0 : len > 0);
	}
	web_session_stats(s, stats, sizeof(stats));
	assert_string_equal(stats, "method=GET host=\"mta-sts.example.test\" status=200");
	web_session_free(&s);
}

/* A head that never ends: taken up to HTTPHEAD_MAX, then 400. */
static void
test_web_too_long(void **state)
{
	static char big[HTTPHEAD_MAX + 100];
	struct web_session *s = web_session_new(&t_https);
	const uint8_t *o;
	size_t len;

	(void)state;
	assert_non_null(s);
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', sizeof(big) - 5);
	assert_int_equal(web_session_feed(s, (const uint8_t *)big, HTTPHEAD_MAX - 1, 0), HTTPHEAD_MAX - 1);
	assert_int_equal(web_session_action(s), SESSION_GO);
	assert_int_equal(web_session_feed(s, (const uint8_t *)big, 100, 0), 1);
	assert_int_equal(web_session_action(s), SESSION_CLOSE);
	o = web_session_output(s, &len);
	assert_true(len > 13 && memcmp(o, "HTTP/1.1 400 ", 13) == 0);
	assert_int_equal(web_session_feed(s, (const uint8_t *)big, 99, 0), 99);
	web_session_free(&s);
}

static void
test_web_timeout(void **state)
{
	struct web_session *s = web_session_new(&t_https);
	size_t len;
	char stats[256];

	(void)state;
	assert_non_null(s);
	assert_int_equal(web_session_feed(s, (const uint8_t *)"GET / HT", 8, 0), 8);
	web_session_timeout(s);
	assert_int_equal(web_session_action(s), SESSION_CLOSE);
	web_session_output(s, &len);
	assert_int_equal(len, 0);
	web_session_stats(s, stats, sizeof(stats));
	assert_string_equal(stats, "method=- host=\"\" status=0");
	assert_null(web_session_check(s));
	assert_int_equal(web_session_delay(s), 0);
	web_session_free(&s);
}

/* The policy changes (SIGHUP) while the head arrives: the answer is whole, and the new one. */
static void
test_web_reload(void **state)
{
	struct mtasts_own sts = t_sts;
	struct web_site site = t_https;
	struct web_session *s;
	const uint8_t *o;
	size_t len, half = 20;

	(void)state;
	site.sts = &sts;
	s = web_session_new(&site);
	assert_non_null(s);
	assert_int_equal(web_session_feed(s, (const uint8_t *)T_CURL_POLICY, half, 0), half);
	mtasts_own_build(HOME_MTASTS_ENFORCE, 604800, t_mx, 2, NULL, &sts);
	web_session_feed(s, (const uint8_t *)T_CURL_POLICY + half, sizeof(T_CURL_POLICY) - 1 - half, 0);
	o = web_session_output(s, &len);
	assert_true(len > sts.len);
	assert_memory_equal(o + len - sts.len, sts.text, sts.len);
	assert_non_null(strstr(sts.text, "mx: mx2.example.test\n"));
	web_session_free(&s);

	/* Withdrawn meanwhile: 404, not a policy of the old length. */
	sts = t_sts;
	s = web_session_new(&site);
	assert_non_null(s);
	web_session_feed(s, (const uint8_t *)T_CURL_POLICY, half, 0);
	mtasts_own_build(HOME_MTASTS_OFF, 604800, t_mx, 2, NULL, &sts);
	web_session_feed(s, (const uint8_t *)T_CURL_POLICY + half, sizeof(T_CURL_POLICY) - 1 - half, 0);
	o = web_session_output(s, &len);
	assert_true(len > 22 && memcmp(o, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	web_session_free(&s);
}

/* The store cannot say whether the domain is ours: try later, not "no policy". */
static void
test_web_store_down(void **state)
{
	struct web_site site = t_https;
	char out[WEB_SESSION_OUT_MAX + 1];

	(void)state;
	site.is_domain = t_store_down;
	t_answer(&site, T_CURL_POLICY, out, sizeof(out));
	assert_string_equal(out, httphead_reply_unavailable);
	/* Requests that need no lookup are answered as before. */
	t_answer(&site, "GET / HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n", out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 404 ", 13) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_web_policy),
		cmocka_unit_test(test_web_not_found),
		cmocka_unit_test(test_web_method),
		cmocka_unit_test(test_web_redirect),
		cmocka_unit_test(test_web_bad_head),
		cmocka_unit_test(test_web_bytewise),
		cmocka_unit_test(test_web_too_long),
		cmocka_unit_test(test_web_timeout),
		cmocka_unit_test(test_web_reload),
		cmocka_unit_test(test_web_store_down),
	};
	return cmocka_run_group_tests_name("web_session", tests, t_setup, NULL);
}
