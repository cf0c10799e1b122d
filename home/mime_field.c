/*
 * mime_field: the structured MIME header fields BODYSTRUCTURE shows.
 *
 * RFC 2045 5.1 (Content-Type: type "/" subtype *(";" parameter), tokens
 * and tspecials), RFC 2183 (Content-Disposition), RFC 3282
 * (Content-Language), RFC 2231 3 (parameter continuations). Comments and
 * blanks are allowed between the tokens of a structured field (RFC 5322
 * CFWS). Lenient where senders are sloppy, strict where a wrong answer
 * would mislead: a type that is not token "/" token is no type at all.
 *
 * Values are unfolded already (no CR or LF); a CR or LF is a blank here.
 * No I/O, no globals, no allocation.
 */
#include <string.h>

#include "mime.h"

static int
mime_field_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A token byte: US-ASCII, no space, no control, no tspecial (RFC 2045 5.1). */
static int
mime_field_tchar(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static uint8_t
mime_field_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

int
mime_field_is(const uint8_t *a, size_t alen, const char *word)
{
	size_t n = strlen(word);

	if (alen != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (mime_field_lower(a[i]) != (uint8_t)word[i])
			return 0;
	}
	return 1;
}

/* Skip blanks and comments (nested, with quoted pairs) from v[*i]; an unclosed comment ends v. */
static void
mime_field_cfws(const uint8_t *v, size_t len, size_t *i)
{
	while (*i < len) {
		if (mime_field_blank(v[*i])) {
			(*i)++;
		} else if (v[*i] == '(') {
			size_t depth = 0;

			for (; *i < len; (*i)++) {
				if (v[*i] == '\\' && *i + 1 < len) {
					(*i)++;
				} else if (v[*i] == '(') {
					depth++;
				} else if (v[*i] == ')') {
					if (--depth == 0) {
						(*i)++;
						break;
					}
				}
			}
		} else {
			return;
		}
	}
}

/* A token at v[*i] into *tok_r. Returns 0, or -1 when there is none. */
static int
mime_field_tok(const uint8_t *v, size_t len, size_t *i, struct mime_span *tok_r)
{
	size_t s = *i;

	while (*i < len && mime_field_tchar(v[*i]))
		(*i)++;
	if (*i == s)
		return -1;
	tok_r->p = v + s;
	tok_r->len = *i - s;
	return 0;
}

int
mime_field_type(const uint8_t *v, size_t len, struct mime_span *type_r, struct mime_span *subtype_r,
		struct mime_span *rest_r)
{
	size_t i = 0;

	mime_field_cfws(v, len, &i);
	if (mime_field_tok(v, len, &i, type_r) != 0)
		return -1;
	mime_field_cfws(v, len, &i);
	if (i >= len || v[i] != '/')
		return -1;
	i++;
	mime_field_cfws(v, len, &i);
	if (mime_field_tok(v, len, &i, subtype_r) != 0)
		return -1;
	rest_r->p = v + i;
	rest_r->len = len - i;
	return 0;
}

int
mime_field_token(const uint8_t *v, size_t len, struct mime_span *token_r, struct mime_span *rest_r)
{
	size_t i = 0;

	mime_field_cfws(v, len, &i);
	if (mime_field_tok(v, len, &i, token_r) != 0)
		return -1;
	rest_r->p = v + i;
	rest_r->len = len - i;
	return 0;
}

size_t
mime_field_params(uint8_t *v, size_t len, struct mime_field_param *out, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		struct mime_span name, value;

		mime_field_cfws(v, len, &i);
		if (i >= len)
			break;
		if (v[i] != ';') {
			/* Junk between parameters: on to the next ";". */
			const uint8_t *semi = memchr(v + i, ';', len - i);

			if (semi == NULL)
				break;
			i = (size_t)(semi - v);
		}
		i++;
		mime_field_cfws(v, len, &i);
		if (mime_field_tok(v, len, &i, &name) != 0)
			continue;
		mime_field_cfws(v, len, &i);
		if (i >= len || v[i] != '=')
			continue;
		i++;
		mime_field_cfws(v, len, &i);
		if (i < len && v[i] == '"') {
			/* A quoted string, unquoted in place where it starts: it only gets shorter. */
			size_t q = i, w = i;

			for (i++; i < len && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < len)
					i++;
				v[w++] = v[i];
			}
			if (i < len)
				i++;
			value.p = v + q;
			value.len = w - q;
		} else {
			/* Unquoted: to the next ";" or comment, trailing blanks off (filename=my file.pdf). */
			size_t s = i, e;

			while (i < len && v[i] != ';' && v[i] != '(' && v[i] != '"')
				i++;
			e = i;
			while (e > s && mime_field_blank(v[e - 1]))
				e--;
			value.p = v + s;
			value.len = e - s;
		}
		if (n < cap) {
			out[n].name = name;
			out[n].value = value;
			n++;
		}
	}
	return n;
}

/* RFC 2231 3: "name*N" or "name*N*": *base_len_r and *index_r, *ext_r. Returns 1 if it is one, else 0. */
static int
mime_field_section(struct mime_span name, size_t *base_len_r, uint32_t *index_r, int *ext_r)
{
	size_t e = name.len, d;
	uint32_t idx = 0;

	*ext_r = 0;
	if (e > 0 && name.p[e - 1] == '*') {
		*ext_r = 1;
		e--;
	}
	d = e;
	while (d > 0 && name.p[d - 1] >= '0' && name.p[d - 1] <= '9')
		d--;
	/* Digits after a '*', no leading zeros (RFC 2231: "0" or [1-9][0-9]*), at most 4 of them. */
	if (d == e || d < 2 || name.p[d - 1] != '*' || e - d > 4 || (e - d > 1 && name.p[d] == '0'))
		return 0;
	for (size_t i = d; i < e; i++)
		idx = idx * 10 + (uint32_t)(name.p[i] - '0');
	*base_len_r = d - 1;
	*index_r = idx;
	return 1;
}

/* 1 if a[0..n) and b[0..n) are equal without regard to ASCII case. */
static int
mime_field_same(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (mime_field_lower(a[i]) != mime_field_lower(b[i]))
			return 0;
	}
	return 1;
}

int
mime_field_rfc2231(const struct mime_field_param *params, size_t n, uint8_t *scratch, size_t cap,
		   int (*emit)(void *ctx, struct mime_span name, struct mime_span value), void *ctx)
{
	size_t used = 0;

	/* First the plain ones, in order. */
	for (size_t i = 0; i < n; i++) {
		if (memchr(params[i].name.p, '*', params[i].name.len) == NULL &&
		    emit(ctx, params[i].name, params[i].value) != 0)
			return -1;
	}
	/* Then the extended ones ("name*") and the continued ones, joined, in order. */
	for (size_t i = 0; i < n; i++) {
		struct mime_span name, value;
		size_t bl, start = used;
		uint32_t idx, want;
		int ext, any_ext = 0, dup = 0;

		if (memchr(params[i].name.p, '*', params[i].name.len) == NULL)
			continue;
		if (!mime_field_section(params[i].name, &bl, &idx, &ext)) {
			if (emit(ctx, params[i].name, params[i].value) != 0)
				return -1;
			continue;
		}
		/* Done already with an earlier piece of the same name? */
		for (size_t j = 0; j < i && !dup; j++) {
			size_t bl2;
			uint32_t idx2;
			int ext2;

			dup = mime_field_section(params[j].name, &bl2, &idx2, &ext2) && bl2 == bl &&
			      mime_field_same(params[i].name.p, params[j].name.p, bl);
		}
		if (dup)
			continue;
		/* The pieces 0, 1, 2, ... in order; the first missing one ends the value. */
		for (want = 0;; want++) {
			size_t found = n;

			for (size_t j = i; j < n && found == n; j++) {
				size_t bl2;
				uint32_t idx2;
				int ext2;

				if (mime_field_section(params[j].name, &bl2, &idx2, &ext2) && bl2 == bl &&
				    idx2 == want && mime_field_same(params[i].name.p, params[j].name.p, bl)) {
					found = j;
					any_ext |= ext2;
				}
			}
			if (found == n)
				break;
			if (params[found].value.len > cap - used)
				return -1;
			memcpy(scratch + used, params[found].value.p, params[found].value.len);
			used += params[found].value.len;
		}
		if (want == 0)
			continue;	/* no piece 0: RFC 2231 has it start there */
		value.p = scratch + start;
		value.len = used - start;
		if (bl + 1 > cap - used)
			return -1;
		memcpy(scratch + used, params[i].name.p, bl);
		name.p = scratch + used;
		name.len = bl;
		used += bl;
		if (any_ext) {
			scratch[used++] = '*';
			name.len++;
		}
		if (emit(ctx, name, value) != 0)
			return -1;
	}
	return 0;
}

size_t
mime_field_languages(const uint8_t *v, size_t len, struct mime_span *out, size_t cap)
{
	size_t i = 0, n = 0;

	for (;;) {
		struct mime_span tag;

		mime_field_cfws(v, len, &i);
		if (mime_field_tok(v, len, &i, &tag) != 0)
			break;
		if (n < cap)
			out[n++] = tag;
		mime_field_cfws(v, len, &i);
		if (i >= len || v[i] != ',')
			break;
		i++;
	}
	return n;
}
