/*
 * mtasts_fetch: an MTA-STS policy over HTTPS (RFC 8461 3.3) with libcurl.
 * One easy handle per call and nothing shared, so delivery threads may
 * fetch at once; the policy bytes go to mtasts_parse_policy.
 */
#include "mtasts.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define MTASTS_URL_MAX (sizeof("https://") + DNSNAME_MAX + sizeof(MTASTS_URL_PATH))
#define MTASTS_QUOTE_MAX 160		/* bytes of curl's or the server's text quoted in an error */
#define MTASTS_USER_AGENT "homeport-mtasts"

/* The body as it arrives: at most MTASTS_POLICY_MAX bytes, then the transfer stops. */
struct mtasts_body {
	uint8_t *buf;		/* MTASTS_POLICY_MAX bytes, owned */
	size_t len;
	int too_big;		/* more was offered; the write callback refused it */
};

int
mtasts_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
mtasts_global_cleanup(void)
{
	curl_global_cleanup();
}

__attribute__((format(printf, 3, 4))) static void
mtasts_err(char *err, size_t errcap, const char *fmt, ...)
{
	va_list ap;

	if (errcap == 0)
		return;
	va_start(ap, fmt);
	/* A message cut to errcap is still a message. */
	(void)vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* src (curl's error text, a header value) as printable ASCII, at most MTASTS_QUOTE_MAX bytes. */
static void
mtasts_quote(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; src != NULL && src[n] != '\0' && n + 1 < cap && n < MTASTS_QUOTE_MAX; n++)
		dst[n] = src[n] >= 0x20 && src[n] < 0x7f ? src[n] : '?';
	/* curl's messages may end in a newline, now a '?'. */
	while (n > 0 && dst[n - 1] == '?' && src[n - 1] == '\n')
		n--;
	dst[n] = '\0';
}

static size_t
mtasts_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mtasts_body *b = arg;
	size_t n = size * nmemb;	/* size is always 1 */

	if (n > MTASTS_POLICY_MAX - b->len) {
		b->too_big = 1;
		return 0;	/* anything but n: CURLE_WRITE_ERROR, the transfer stops */
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	return n;
}

/* "text/plain", any case, alone or followed by parameters. 1 if so. */
static int
mtasts_content_type_ok(const char *ct)
{
	static const char want[] = "text/plain";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static int
mtasts_setup(CURL *h, const char *url, const char *ca_file, struct curl_slist *pins, long timeout_ms,
	     struct mtasts_body *body, char *curl_err)
{
	if (curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 0L) != CURLE_OK ||
	    /* Threads: no SIGALRM for resolver timeouts. */
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    /* Never a proxy from the environment (https_proxy, ALL_PROXY). */
	    curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, MTASTS_USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mtasts_write) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, body) != CURLE_OK)
		return -1;
	/* Only the given CAs: no CA directory built into libcurl beside them. */
	if (ca_file != NULL && (curl_easy_setopt(h, CURLOPT_CAINFO, ca_file) != CURLE_OK ||
				curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL) != CURLE_OK))
		return -1;
	if (pins != NULL && curl_easy_setopt(h, CURLOPT_RESOLVE, pins) != CURLE_OK)
		return -1;
	return 0;
}

/* What a finished transfer (or one stopped for its size) gave: the checks of RFC 8461 3.3. */
static int
mtasts_result(CURL *h, const char *host, const struct mtasts_body *body, struct mtasts_policy *p_r,
	      char *err, size_t errcap)
{
	char quoted[MTASTS_QUOTE_MAX + 1];
	const char *perr = NULL;
	char *ct = NULL;
	long code = 0;

	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
		mtasts_err(err, errcap, "%s: HTTP %ld%s", host, code,
			   code >= 300 && code < 400 ? " (a redirect, not followed)" : "");
		return -1;
	}
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || !mtasts_content_type_ok(ct)) {
		mtasts_quote(quoted, sizeof(quoted), ct);
		mtasts_err(err, errcap, "%s: Content-Type \"%s\", not text/plain", host, quoted);
		return -1;
	}
	if (body->too_big) {
		mtasts_err(err, errcap, "%s: policy larger than %d bytes", host, MTASTS_POLICY_MAX);
		return -1;
	}
	if (mtasts_parse_policy(body->buf, body->len, p_r, &perr) != 0) {
		mtasts_err(err, errcap, "%s: policy: %s", host, perr);
		return -1;
	}
	return 0;
}

static void
mtasts_curl_failed(CURLcode rc, const char *host, const char *curl_err, long timeout_ms, char *err,
		   size_t errcap)
{
	char quoted[MTASTS_QUOTE_MAX + 1];

	mtasts_quote(quoted, sizeof(quoted), curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		mtasts_err(err, errcap, "%s: timed out after %ld ms", host, timeout_ms);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		mtasts_err(err, errcap, "%s: certificate not valid: %s", host, quoted);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		mtasts_err(err, errcap, "%s: CA file: %s", host, quoted);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		mtasts_err(err, errcap, "%s: no address: %s", host, quoted);
		break;
	default:
		mtasts_err(err, errcap, "%s: %s", host, quoted);
		break;
	}
}

int
mtasts_fetch(const char *domain, const char *ca_file, const char *resolve, int64_t timeout_ms,
	     struct mtasts_policy *p_r, char *err, size_t errcap)
{
	char host[DNSNAME_MAX + 1], url[MTASTS_URL_MAX], curl_err[CURL_ERROR_SIZE];
	struct mtasts_body body = { 0 };
	struct curl_slist *pins = NULL;
	size_t hlen;
	long timeout = timeout_ms <= 0 ? MTASTS_FETCH_TIMEOUT_DEFAULT :
		       timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms;
	CURL *h = NULL;
	CURLcode rc;
	int ret = -1;

	curl_err[0] = '\0';
	if (mtasts_policy_host(domain, host, sizeof(host)) != 0) {
		mtasts_err(err, errcap, "mta-sts.DOMAIN: not a host name");
		return -1;
	}
	hlen = strlen(host);
	if (snprintf(url, sizeof(url), "https://%s" MTASTS_URL_PATH, host) >= (int)sizeof(url)) {
		mtasts_err(err, errcap, "%s: URL too long", host);
		return -1;
	}
	if (resolve != NULL && (strncasecmp(resolve, host, hlen) != 0 ||
				strncmp(resolve + hlen, ":443:", 5) != 0 || resolve[hlen + 5] == '\0')) {
		mtasts_err(err, errcap, "%s: the resolve pin is not for this host and port 443", host);
		return -1;
	}
	body.buf = malloc(MTASTS_POLICY_MAX);
	if (body.buf == NULL) {
		mtasts_err(err, errcap, "%s: out of memory", host);
		goto fail;
	}
	if (resolve != NULL && (pins = curl_slist_append(NULL, resolve)) == NULL) {
		mtasts_err(err, errcap, "%s: out of memory", host);
		goto fail;
	}
	h = curl_easy_init();
	if (h == NULL || mtasts_setup(h, url, ca_file, pins, timeout, &body, curl_err) != 0) {
		mtasts_err(err, errcap, "%s: libcurl set-up failed (out of memory?)", host);
		goto fail;
	}
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && body.too_big))
		ret = mtasts_result(h, host, &body, p_r, err, errcap);
	else
		mtasts_curl_failed(rc, host, curl_err, timeout, err, errcap);
fail:
	curl_easy_cleanup(h);
	curl_slist_free_all(pins);
	free(body.buf);
	return ret;
}
