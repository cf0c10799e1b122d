#include "httphead.h"

#include <string.h>

#define HTTPHEAD_PORT_DIGITS_MAX 5	/* "65535" */

const char httphead_reply_misdirected[] =
	"HTTP/1.1 421 Misdirected Request\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 20\r\n"
	"Connection: close\r\n"
	"\r\n"
	"Misdirected Request\n";

const char httphead_reply_bad_request[] =
	"HTTP/1.1 400 Bad Request\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 12\r\n"
	"Connection: close\r\n"
	"\r\n"
	"Bad Request\n";

const char httphead_reply_unavailable[] =
	"HTTP/1.1 503 Service Unavailable\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 20\r\n"
	"Retry-After: 60\r\n"
	"Connection: close\r\n"
	"\r\n"
	"Service Unavailable\n";

/* Where the parser is, at each byte. */
enum httphead_state {
	HTTPHEAD_S_METHOD,	/* in the method */
	HTTPHEAD_S_TARGET,	/* in the request target */
	HTTPHEAD_S_VERSION,	/* in "HTTP/1.x" and its CR */
	HTTPHEAD_S_LINE_LF,	/* after the CR that ends a line */
	HTTPHEAD_S_LINE,	/* at the start of a header line, or of the blank line */
	HTTPHEAD_S_NAME,	/* in a header name */
	HTTPHEAD_S_VALUE,	/* in a header value, up to its CR */
	HTTPHEAD_S_END_LF,	/* after the CR of the blank line */
};

static const char httphead_version[] = "HTTP/1.";

/* RFC 9110 tchar: the characters of a method or a header name. */
static int
httphead_tchar(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* A character that may appear in a Host value we accept: name, port, OWS. */
static int
httphead_host_char(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == ':' || ch == ' ' || ch == '\t';
}

static uint8_t
httphead_lower(uint8_t ch)
{
	return ch >= 'A' && ch <= 'Z' ? (uint8_t)(ch + ('a' - 'A')) : ch;
}

static int
httphead_is_host(const uint8_t *name, size_t len)
{
	static const char host[] = "host";

	if (len != sizeof(host) - 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (httphead_lower(name[i]) != (uint8_t)host[i])
			return 0;
	}
	return 1;
}

/*
 * Returns 1 if the last label of the host name s[0..len) is a number
 * (decimal, or "0x" and hex digits), which a URL parser reads as an IPv4
 * address: "192.0.2.1", "127.1", "2130706433", "0x7f.1". Else 0.
 */
static int
httphead_numeric_name(const char *s, size_t len)
{
	size_t start = len, i;
	int hex = 0;

	while (start > 0 && s[start - 1] != '.')
		start--;
	i = start;
	if (len - start >= 2 && s[start] == '0' && (s[start + 1] == 'x' || s[start + 1] == 'X')) {
		hex = 1;
		i += 2;
	}
	for (; i < len; i++) {
		uint8_t ch = (uint8_t)s[i];
		int digit = ch >= '0' && ch <= '9';
		int hexletter = (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
		if (!digit && !(hex && hexletter))
			return 0;
	}
	return 1;
}

/*
 * Check the Host value v[0..len) and fill h_r->host and h_r->port.
 * Returns 0, or -1 with *err_r set.
 */
static int
httphead_host(const uint8_t *v, size_t len, struct httphead *h_r, const char **err_r)
{
	const uint8_t *colon;
	size_t name_len;
	unsigned port = 0;

	while (len > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	colon = memchr(v, ':', len);
	name_len = colon != NULL ? (size_t)(colon - v) : len;
	if (dnsname_check((const char *)v, name_len, 0) != 0) {
		*err_r = "bad Host";
		return -1;
	}
	if (httphead_numeric_name((const char *)v, name_len)) {
		*err_r = "IP address in Host";
		return -1;
	}
	if (colon != NULL) {
		size_t digits = len - name_len - 1;
		if (digits == 0 || digits > HTTPHEAD_PORT_DIGITS_MAX) {
			*err_r = "bad port in Host";
			return -1;
		}
		for (size_t i = name_len + 1; i < len; i++) {
			if (v[i] < '0' || v[i] > '9') {
				*err_r = "bad port in Host";
				return -1;
			}
			port = port * 10 + (unsigned)(v[i] - '0');
		}
		if (port < 1 || port > UINT16_MAX) {
			*err_r = "bad port in Host";
			return -1;
		}
	}
	for (size_t i = 0; i < name_len; i++)
		h_r->host[i] = (char)httphead_lower(v[i]);
	h_r->host[name_len] = '\0';
	h_r->port = (uint16_t)port;
	return 0;
}

enum httphead_status
httphead_parse(const uint8_t *in, size_t len, struct httphead *h_r)
{
	enum httphead_state state = HTTPHEAD_S_METHOD;
	size_t n = len < HTTPHEAD_MAX ? len : HTTPHEAD_MAX;
	size_t start = 0;	/* where the current method, target, version, name or value began */
	int in_host = 0, seen_host = 0;
	const char *err;

	memset(h_r, 0, sizeof(*h_r));
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];

		switch (state) {
		case HTTPHEAD_S_METHOD:
			if (ch == ' ' && i > start) {
				state = HTTPHEAD_S_TARGET;
				h_r->method_len = i;
				start = i + 1;
			} else if (!httphead_tchar(ch)) {
				err = "bad method";
				goto fail;
			}
			break;
		case HTTPHEAD_S_TARGET:
			if (ch == ' ' && i > start) {
				state = HTTPHEAD_S_VERSION;
				h_r->target_off = start;
				h_r->target_len = i - start;
				start = i + 1;
			} else if (ch <= ' ' || ch >= 0x7f) {
				err = "bad request target";
				goto fail;
			}
			break;
		case HTTPHEAD_S_VERSION:
			if (i - start < sizeof(httphead_version) - 1) {
				if (ch != (uint8_t)httphead_version[i - start]) {
					err = "bad HTTP version";
					goto fail;
				}
			} else if (i - start == sizeof(httphead_version) - 1) {
				if (ch != '0' && ch != '1') {
					err = "bad HTTP version";
					goto fail;
				}
			} else if (ch == '\r') {
				state = HTTPHEAD_S_LINE_LF;
			} else {
				err = ch == '\n' ? "bare LF" : "bad HTTP version";
				goto fail;
			}
			break;
		case HTTPHEAD_S_LINE_LF:
			if (ch != '\n') {
				err = "CR without LF";
				goto fail;
			}
			state = HTTPHEAD_S_LINE;
			break;
		case HTTPHEAD_S_LINE:
			if (ch == '\r') {
				state = HTTPHEAD_S_END_LF;
			} else if (ch == ' ' || ch == '\t') {
				err = "folded or indented header line";
				goto fail;
			} else if (httphead_tchar(ch)) {
				state = HTTPHEAD_S_NAME;
				start = i;
			} else {
				err = ch == '\n' ? "bare LF" : "bad header name";
				goto fail;
			}
			break;
		case HTTPHEAD_S_NAME:
			if (ch == ':') {
				in_host = httphead_is_host(in + start, i - start);
				if (in_host && seen_host) {
					err = "more than one Host";
					goto fail;
				}
				seen_host |= in_host;
				state = HTTPHEAD_S_VALUE;
				start = i + 1;
			} else if (!httphead_tchar(ch)) {
				err = "bad header name";
				goto fail;
			}
			break;
		case HTTPHEAD_S_VALUE:
			if (ch == '\r') {
				if (in_host && httphead_host(in + start, i - start, h_r, &err) != 0)
					goto fail;
				state = HTTPHEAD_S_LINE_LF;
			} else if (ch == '\n') {
				err = "bare LF";
				goto fail;
			} else if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
				err = "control character in header value";
				goto fail;
			} else if (in_host && !httphead_host_char(ch)) {
				err = ch == '[' ? "IP address in Host" : "bad Host";
				goto fail;
			}
			break;
		case HTTPHEAD_S_END_LF:
			if (ch != '\n') {
				err = "CR without LF";
				goto fail;
			}
			if (!seen_host) {
				err = "no Host";
				goto fail;
			}
			h_r->head_len = i + 1;
			return HTTPHEAD_HOST;
		}
	}
	if (n == HTTPHEAD_MAX) {
		err = "head too long";
		goto fail;
	}
	return HTTPHEAD_MORE;
fail:
	h_r->error = err;
	return HTTPHEAD_INVALID;
}
