/*
 * Unit tests for home/mime_decode: base64 and quoted-printable undone,
 * fed whole and one byte at a time (the same bytes must come out), the
 * lenient cases, and the transfer encoding read from a parsed part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../home/mime.h"

/* Decode in with cte, whole and byte by byte; both must give want. */
static void
t_decode(int cte, const char *in, const char *want, size_t want_len)
{
	size_t n = strlen(in), o = 0;
	uint8_t *out = malloc(n + 3);
	struct mime_decoder d;

	assert_non_null(out);
	mime_decoder_init(&d, cte);
	o = mime_decoder_feed(&d, (const uint8_t *)in, n, out);
	o += mime_decoder_end(&d, out + o);
	assert_int_equal(o, want_len);
	assert_memory_equal(out, want, want_len);
	mime_decoder_init(&d, cte);
	o = 0;
	for (size_t i = 0; i < n; i++)
		o += mime_decoder_feed(&d, (const uint8_t *)in + i, 1, out + o);
	o += mime_decoder_end(&d, out + o);
	assert_int_equal(o, want_len);
	assert_memory_equal(out, want, want_len);
	free(out);
}

static void
test_mime_decode_base64(void **state)
{
	(void)state;
	t_decode(MIME_CTE_BASE64, "SGVsbG8sIHdvcmxkIQ==", "Hello, world!", 13);
	t_decode(MIME_CTE_BASE64, "SGVs\r\nbG8s\r\n IHdv cmxk\r\nIQ==\r\n", "Hello, world!", 13);
	t_decode(MIME_CTE_BASE64, "AAECAw==", "\0\1\2\3", 4);
	/* Not of the alphabet: skipped. */
	t_decode(MIME_CTE_BASE64, "S*G!V@s#bG8", "Hello", 5);
	/* "=" restarts: what follows is a fresh quantum. */
	t_decode(MIME_CTE_BASE64, "SGk=SGk=", "HiHi", 4);
	t_decode(MIME_CTE_BASE64, "", "", 0);
}

static void
test_mime_decode_quoted_printable(void **state)
{
	(void)state;
	t_decode(MIME_CTE_QP, "caf=C3=A9 =3D ok", "caf\xc3\xa9 = ok", 10);
	/* Soft line breaks, CRLF and LF. */
	t_decode(MIME_CTE_QP, "long li=\r\nne and=\nmore", "long line andmore", 17);
	/* Lower-case hex is taken too. */
	t_decode(MIME_CTE_QP, "=c3=a9", "\xc3\xa9", 2);
	/* Broken escapes stay as written. */
	t_decode(MIME_CTE_QP, "a=ZZb", "a=ZZb", 5);
	t_decode(MIME_CTE_QP, "a=4Zb", "a=4Zb", 5);
	t_decode(MIME_CTE_QP, "x==41", "x=A", 3);
	/* Unfinished at the end: given back as written. */
	t_decode(MIME_CTE_QP, "end=", "end=", 4);
	t_decode(MIME_CTE_QP, "end=4", "end=4", 5);
}

static void
test_mime_decode_identity_and_cte(void **state)
{
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Transfer-Encoding: BASE64\r\n\r\nAA==\r\n"
		"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=41\r\n"
		"--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n"
		"--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9\r\n"
		"--b\r\n\r\nplain\r\n--b--\r\n";
	struct mime *m = NULL;

	(void)state;
	t_decode(MIME_CTE_IDENTITY, "as =41 is", "as =41 is", 9);
	t_decode(MIME_CTE_UNKNOWN, "begin 644", "begin 644", 9);
	assert_int_equal(mime_parse(msg, sizeof(msg) - 1, NULL, &m), 0);
	assert_int_equal(m->nparts, 6);
	assert_int_equal(mime_cte(m, &m->parts[1]), MIME_CTE_BASE64);
	assert_int_equal(mime_cte(m, &m->parts[2]), MIME_CTE_QP);
	assert_int_equal(mime_cte(m, &m->parts[3]), MIME_CTE_UNKNOWN);
	assert_int_equal(mime_cte(m, &m->parts[4]), MIME_CTE_IDENTITY);
	assert_int_equal(mime_cte(m, &m->parts[5]), MIME_CTE_IDENTITY);
	mime_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_decode_base64),
		cmocka_unit_test(test_mime_decode_quoted_printable),
		cmocka_unit_test(test_mime_decode_identity_and_cte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
