/*
 * web_session: one HTTP/1.1 request on a web listener, a state machine
 * without I/O like smtp_session and imap_session (server.c does the
 * sockets, TLS and PROXY).
 *
 * What the home serves on the web so far is its MTA-STS policy (RFC 8461
 * 3.3): https://mta-sts.DOMAIN/.well-known/mta-sts.txt for each local
 * DOMAIN, from the https listener. The http listener sends every request
 * to the same URL over https (301). One request per connection: the answer
 * says Connection: close and the session ends with it.
 *
 * web_respond() is the whole decision and is pure; the session only
 * gathers the head (at most HTTPHEAD_MAX bytes, parsed by shared/httphead)
 * and holds the answer until the server has sent it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "home.h"
#include "httphead.h"
#include "mtasts.h"


struct web_session {
	struct web_site site;
	uint8_t in[HTTPHEAD_MAX];
	size_t in_len;
	char out[WEB_SESSION_OUT_MAX];
	size_t out_len, out_off;
	int done;			/* answered: close once the answer is out */
	int status;			/* the answer's status code, 0 before */
	char host[DNSNAME_MAX + 1];	/* from the request, "" if none */
	char method[WEB_METHOD_LOG_MAX + 1];
};

/* Is in[0..len) the text s? */
static int
web_is(const uint8_t *in, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(in, s, len) == 0;
}

/* A fixed response (shared/httphead's) into out; its length, or 0 if it does not fit. */
static size_t
web_copy(char *out, size_t cap, const char *response)
{
	size_t len = strlen(response);

	if (len >= cap)
		return 0;
	memcpy(out, response, len);
	return len;
}

/* A complete response with a text/plain body (none for HEAD); its length, or 0 if it does not fit. */
static size_t
web_text(char *out, size_t cap, const char *status, const char *extra, const char *body, size_t body_len,
	 int head_only)
{
	int n = snprintf(out, cap,
			 "HTTP/1.1 %s\r\n"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n"
			 "%s"
			 "Connection: close\r\n"
			 "\r\n",
			 status, body_len, extra);

	if (n < 0 || (size_t)n >= cap || (!head_only && body_len > cap - (size_t)n))
		return 0;
	if (!head_only) {
		memcpy(out + n, body, body_len);
		n += (int)body_len;
	}
	return (size_t)n;
}

/* Is host mta-sts.DOMAIN of a local DOMAIN? 1, 0, or -1 when the store cannot tell. */
static int
web_policy_host(const struct web_site *site, const char *host)
{
	size_t n = strlen(MTASTS_HOST_PREFIX);

	if (strncmp(host, MTASTS_HOST_PREFIX, n) != 0 || host[n] == '\0')
		return 0;
	return site->is_domain(site->arg, host + n);
}

size_t
web_respond(const struct web_site *site, const uint8_t *in, enum httphead_status st, const struct httphead *h,
	    char *out, size_t cap, int *status_r)
{
	static const char not_found[] = "Not Found\n", not_allowed[] = "Method Not Allowed\n",
			  unavailable[] = "Service Unavailable\n";
	const uint8_t *method = in, *target = in + h->target_off;
	const struct mtasts_own *sts = site->sts;
	char location[sizeof("Location: https://\r\n") + DNSNAME_MAX + HTTPHEAD_MAX];
	int get, head, ours = 0;

	if (st != HTTPHEAD_HOST) {
		*status_r = 400;
		return web_copy(out, cap, httphead_reply_bad_request);
	}
	get = web_is(method, h->method_len, "GET");
	head = web_is(method, h->method_len, "HEAD");
	if (!site->https) {
		/* The target is visible ASCII without spaces (httphead): safe in a header as it is. */
		snprintf(location, sizeof(location), "Location: https://%s%.*s\r\n", h->host, (int)h->target_len,
			 (const char *)target);
		*status_r = 301;
		return web_text(out, cap, "301 Moved Permanently", location, "", 0, 0);
	}
	if (!get && !head) {
		*status_r = 405;
		return web_text(out, cap, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", not_allowed,
				sizeof(not_allowed) - 1, 0);
	}
	if (sts != NULL && sts->mode != MTASTS_MODE_NONE && web_is(target, h->target_len, MTASTS_URL_PATH))
		ours = web_policy_host(site, h->host);
	if (ours < 0) {
		*status_r = 503;	/* shared/httphead's answer, but HEAD gets no body */
		return web_text(out, cap, "503 Service Unavailable", "Retry-After: 60\r\n", unavailable,
				sizeof(unavailable) - 1, head);
	}
	if (ours > 0) {
		*status_r = 200;
		return web_text(out, cap, "200 OK", "Cache-Control: max-age=300\r\n", sts->text, sts->len, head);
	}
	*status_r = 404;
	return web_text(out, cap, "404 Not Found", "", not_found, sizeof(not_found) - 1, head);
}

struct web_session *
web_session_new(const struct web_site *site)
{
	struct web_session *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->site = *site;
	return s;
}

void
web_session_free(struct web_session **sp)
{
	free(*sp);
	*sp = NULL;
}

void
web_session_greet(struct web_session *s)
{
	(void)s;	/* HTTP: the client speaks first */
}

void
web_session_tls_started(struct web_session *s, const char *version, const char *cipher)
{
	(void)s;
	(void)version;
	(void)cipher;
}

size_t
web_session_feed(struct web_session *s, const uint8_t *in, size_t len, int64_t now_ms)
{
	struct httphead h;
	enum httphead_status st;
	size_t took;

	(void)now_ms;
	if (s->done)
		return len;	/* a body or a second request: not read, the connection closes */
	took = len < sizeof(s->in) - s->in_len ? len : sizeof(s->in) - s->in_len;
	if (took > 0)
		memcpy(s->in + s->in_len, in, took);
	s->in_len += took;
	st = httphead_parse(s->in, s->in_len, &h);
	if (st == HTTPHEAD_MORE)
		return took;
	if (st == HTTPHEAD_HOST) {
		snprintf(s->host, sizeof(s->host), "%s", h.host);
		snprintf(s->method, sizeof(s->method), "%.*s", (int)h.method_len, (const char *)s->in);
	}
	s->out_len = web_respond(&s->site, s->in, st, &h, s->out, sizeof(s->out), &s->status);
	s->done = 1;
	return took;
}

int
web_session_action(const struct web_session *s)
{
	return s->done ? SESSION_CLOSE : SESSION_GO;
}

const uint8_t *
web_session_output(const struct web_session *s, size_t *len_r)
{
	*len_r = s->out_len - s->out_off;
	return (const uint8_t *)s->out + s->out_off;
}

void
web_session_output_consume(struct web_session *s, size_t n)
{
	s->out_off += n < s->out_len - s->out_off ? n : s->out_len - s->out_off;
}

const struct password_check *
web_session_check(const struct web_session *s)
{
	(void)s;
	return NULL;	/* no logins on the web listeners yet */
}

void
web_session_verified(struct web_session *s, const struct password_check *c, int64_t now_ms)
{
	(void)s;
	(void)c;
	(void)now_ms;
}

int64_t
web_session_delay(struct web_session *s)
{
	(void)s;
	return 0;
}

void
web_session_timeout(struct web_session *s)
{
	s->done = 1;	/* no answer: a client that sent no head in time gets none */
}

int
web_session_shutdown(struct web_session *s)
{
	s->done = 1;	/* a request not yet complete gets no answer */
	return 1;
}

void
web_session_stats(const struct web_session *s, char *out, size_t cap)
{
	snprintf(out, cap, "method=%s host=\"%s\" status=%d", s->method[0] != '\0' ? s->method : "-",
		 s->host, s->status);
}
