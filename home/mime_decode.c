/*
 * mime_decode: undoing a part's Content-Transfer-Encoding (RFC 2045 6),
 * streamed: for the full-text index (mime_text.c) and for FETCH BINARY
 * (RFC 3516). Pure.
 */
#include <string.h>

#include "mime.h"

/* Quoted-printable decoder states. */
enum mime_decode_qp {
	MIME_DECODE_QP_TEXT,
	MIME_DECODE_QP_EQ,		/* after "=" */
	MIME_DECODE_QP_HEX,		/* after "=" and one hex digit */
	MIME_DECODE_QP_CR,		/* after "=" CR */
};

static int
mime_decode_is(const struct mime *m, struct mime_str s, const char *word)
{
	size_t len;
	const uint8_t *p = mime_str_get(m, s, &len);

	return p != NULL && mime_field_is(p, len, word);
}

int
mime_cte(const struct mime *m, const struct mime_part *p)
{
	static const char *const identity[] = { "7bit", "8bit", "binary" };

	if (p->encoding.off == MIME_NONE)
		return MIME_CTE_IDENTITY;
	if (mime_decode_is(m, p->encoding, "base64"))
		return MIME_CTE_BASE64;
	if (mime_decode_is(m, p->encoding, "quoted-printable"))
		return MIME_CTE_QP;
	for (size_t i = 0; i < sizeof(identity) / sizeof(identity[0]); i++) {
		if (mime_decode_is(m, p->encoding, identity[i]))
			return MIME_CTE_IDENTITY;
	}
	return MIME_CTE_UNKNOWN;
}

void
mime_decoder_init(struct mime_decoder *d, int cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
	d->qp_state = MIME_DECODE_QP_TEXT;
}

int
mime_hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
mime_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t
mime_decoder_feed(struct mime_decoder *c, const uint8_t *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	switch (c->cte) {
	case MIME_CTE_BASE64:
		for (size_t i = 0; i < n; i++) {
			int v = mime_b64_value(s[i]);

			if (s[i] == '=') {
				c->b64_acc = 0;
				c->b64_bits = 0;
				continue;
			}
			if (v < 0)
				continue;
			c->b64_acc = (c->b64_acc << 6 | (uint32_t)v) & 0xffffff;
			c->b64_bits += 6;
			if (c->b64_bits >= 8) {
				c->b64_bits -= 8;
				out[o++] = (uint8_t)(c->b64_acc >> c->b64_bits);
			}
		}
		return o;
	case MIME_CTE_QP:
		for (size_t i = 0; i < n; i++) {
			uint8_t b = s[i];
			int h;

			switch (c->qp_state) {
			case MIME_DECODE_QP_TEXT:
				if (b == '=')
					c->qp_state = MIME_DECODE_QP_EQ;
				else
					out[o++] = b;
				break;
			case MIME_DECODE_QP_EQ:
				if ((h = mime_hex_value(b)) >= 0) {
					c->qp_hex = h;
					c->qp_state = MIME_DECODE_QP_HEX;
				} else if (b == '\r') {
					c->qp_state = MIME_DECODE_QP_CR;
				} else if (b == '\n') {
					c->qp_state = MIME_DECODE_QP_TEXT;	/* soft line break */
				} else if (b == '=') {
					out[o++] = '=';			/* stays in EQ */
				} else {
					out[o++] = '=';
					out[o++] = b;
					c->qp_state = MIME_DECODE_QP_TEXT;
				}
				break;
			case MIME_DECODE_QP_HEX:
				if ((h = mime_hex_value(b)) >= 0) {
					out[o++] = (uint8_t)(c->qp_hex << 4 | h);
					c->qp_state = MIME_DECODE_QP_TEXT;
				} else {
					/* "=X" and b: all three as written (b may start an "=" again) */
					out[o++] = '=';
					out[o++] = (uint8_t)(c->qp_hex < 10 ? '0' + c->qp_hex : 'A' + c->qp_hex - 10);
					if (b == '=') {
						c->qp_state = MIME_DECODE_QP_EQ;
					} else {
						out[o++] = b;
						c->qp_state = MIME_DECODE_QP_TEXT;
					}
				}
				break;
			case MIME_DECODE_QP_CR:
				c->qp_state = MIME_DECODE_QP_TEXT;
				if (b == '\n')
					break;				/* soft line break */
				out[o++] = '=';
				if (b == '=')
					c->qp_state = MIME_DECODE_QP_EQ;
				else
					out[o++] = b;
				break;
			}
		}
		return o;
	default:
		memcpy(out, s, n);
		return n;
	}
}

size_t
mime_decoder_end(struct mime_decoder *c, uint8_t *out)
{
	size_t o = 0;

	if (c->cte != MIME_CTE_QP)
		return 0;
	if (c->qp_state == MIME_DECODE_QP_EQ || c->qp_state == MIME_DECODE_QP_CR) {
		out[o++] = '=';
	} else if (c->qp_state == MIME_DECODE_QP_HEX) {
		out[o++] = '=';
		out[o++] = (uint8_t)(c->qp_hex < 10 ? '0' + c->qp_hex : 'A' + c->qp_hex - 10);
	}
	c->qp_state = MIME_DECODE_QP_TEXT;
	return o;
}

