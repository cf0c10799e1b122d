/*
 * mime_iconv: the charsets mime_word.c does not know (ISO-8859-2,
 * KOI8-R, Shift_JIS, ISO-2022-JP, GB18030, UTF-16, ...), to UTF-8 through
 * glibc's iconv(3), as a mime_word_charset_fn.
 *
 * Not pure, which is why it is a file of its own: the first use of a
 * charset makes glibc load its converter (a gconv module) from disk.
 * Charset names come from messages, so only names of letters, digits and
 * "-_.:" up to MIME_ICONV_NAME_MAX bytes reach iconv_open() (no "/": no
 * "//TRANSLIT" suffixes, nothing that looks like a path).
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

#define MIME_ICONV_NAME_MAX 40		/* bytes of a charset name given to iconv_open() */

static const uint8_t mime_iconv_fffd[3] = { 0xef, 0xbf, 0xbd };

struct mime_iconv {
	iconv_t cd;				/* from charset to UTF-8; (iconv_t)-1: none */
	char charset[MIME_ICONV_NAME_MAX + 1];	/* the last charset asked for; "" none */
};

int
mime_iconv_new(struct mime_iconv **c_r)
{
	struct mime_iconv *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	c->cd = (iconv_t)-1;
	*c_r = c;
	return 0;
}

void
mime_iconv_free(struct mime_iconv **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	if ((*cp)->cd != (iconv_t)-1)
		iconv_close((*cp)->cd);
	free(*cp);
	*cp = NULL;
}

/* 1 if name may go to iconv_open(). */
static int
mime_iconv_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MIME_ICONV_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return 0;
	}
	return 1;
}

/* The descriptor for charset: the one kept if it is the same, else a new one. */
static iconv_t
mime_iconv_open(struct mime_iconv *c, const char *charset)
{
	if (strcmp(c->charset, charset) == 0)
		return c->cd;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	c->cd = iconv_open("UTF-8", charset);
	/* Remembered either way: an unknown charset is not looked up again and again. */
	memcpy(c->charset, charset, strlen(charset) + 1);
	return c->cd;
}

int
mime_iconv_convert(void *ctx, const char *charset, const uint8_t *in, size_t len, struct buf *out)
{
	struct mime_iconv *c = ctx;
	char *ip = (char *)(uintptr_t)in, *op;
	size_t ileft = len, oleft;
	iconv_t cd;

	if (!mime_iconv_name_ok(charset) || (cd = mime_iconv_open(c, charset)) == (iconv_t)-1)
		return 1;
	iconv(cd, NULL, NULL, NULL, NULL);
	op = (char *)out->data + out->len;
	oleft = out->cap - out->len;
	while (ileft > 0) {
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		int e = errno;

		out->len = out->cap - oleft;
		if (r != (size_t)-1)
			continue;
		if (e == E2BIG)
			return -1;
		/* EILSEQ: a byte that is no character; EINVAL: a character cut at the end. */
		if (buf_append(out, mime_iconv_fffd, sizeof(mime_iconv_fffd)) != 0)
			return -1;
		op += sizeof(mime_iconv_fffd);
		oleft -= sizeof(mime_iconv_fffd);
		if (e != EILSEQ)
			break;
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* A stateful charset's way back to its initial state (nothing, for UTF-8 out). */
	if (iconv(cd, NULL, NULL, &op, &oleft) == (size_t)-1)
		return -1;
	out->len = out->cap - oleft;
	return 0;
}
