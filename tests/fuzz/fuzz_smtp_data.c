/*
 * Fuzz target: smtp_data_feed(), a message after DATA fed whole, split at
 * positions the input chooses, and one byte at a time.
 *
 * Input: byte 0: bits 0-3 the number of split positions k, bit 7 whether
 * the message is followed by a CRLF "." CRLF of ours (so that most runs
 * reach an end); then k positions of 2 bytes each (big-endian, modulo the
 * message's length + 1); the rest is the message.
 *
 * Checks: every call writes at most what it takes and nothing past its
 * output buffer (exactly the chunk's size); all three feedings give the
 * same bytes, status, size and flags; the end comes exactly after the
 * first CRLF "." CRLF (the DATA line's CRLF counting as the first CRLF),
 * and nowhere else; each flag is set exactly when a simple scan of the
 * bytes taken finds its reason; a message free of bare CR and LF decodes to
 * what a simple line-by-line unstuffing gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../home/home.h"
#include "fuzz.h"

#define FUZZ_DATA_SPLITS_MASK 0x0f
#define FUZZ_DATA_TERMINATE 0x80
#define FUZZ_DATA_END "\r\n.\r\n"
#define FUZZ_DATA_END_LEN 5

struct fuzz_data_run {
	uint8_t *chunk;		/* one call's output buffer: its last n bytes for n bytes in */
	size_t chunkcap;
	uint8_t *out;		/* every byte written, in order */
	size_t outlen;
	size_t used;
	enum smtp_data_status status;
	struct smtp_data d;
};

/* One call on in[0..n), into the last n bytes of the chunk buffer: ASan sees a byte more. */
static void
fuzz_data_call(struct fuzz_data_run *r, const uint8_t *in, size_t n)
{
	uint8_t *out = r->chunk + (r->chunkcap - n);
	size_t olen = (size_t)-1, used = (size_t)-1;
	uint64_t before = r->d.size;

	r->status = smtp_data_feed(&r->d, in, n, out, &olen, &used);
	if (r->status != SMTP_DATA_MORE && r->status != SMTP_DATA_END)
		__builtin_trap();
	if (used > n || olen > used || (r->status == SMTP_DATA_MORE && used != n))
		__builtin_trap();
	if (r->d.size != before + olen || r->d.end != (r->status == SMTP_DATA_END))
		__builtin_trap();
	memcpy(r->out + r->outlen, out, olen);
	r->outlen += olen;
	r->used += used;
}

static void
fuzz_data_start(struct fuzz_data_run *r)
{
	r->outlen = 0;
	r->used = 0;
	r->status = SMTP_DATA_MORE;
	smtp_data_init(&r->d);
}

/* Feed msg in chunks ending at cuts[0..ncuts) (ascending), then the rest. */
static void
fuzz_data_run(struct fuzz_data_run *r, const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts)
{
	size_t from = 0;

	fuzz_data_start(r);
	for (size_t i = 0; i <= ncuts && r->status == SMTP_DATA_MORE; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		fuzz_data_call(r, msg + from, to - from);
		from = to;
	}
	if (r->status == SMTP_DATA_END) {
		size_t olen = 1, used = 1;
		uint8_t spare[1];

		/* After the end nothing more is taken. */
		if (smtp_data_feed(&r->d, msg + r->used, len - r->used > 0 ? 1 : 0, spare, &olen, &used) !=
		    SMTP_DATA_END || olen != 0 || used != 0)
			__builtin_trap();
	}
}

static void
fuzz_data_same(const struct fuzz_data_run *a, const struct fuzz_data_run *b)
{
	if (a->outlen != b->outlen || memcmp(a->out, b->out, a->outlen) != 0 || a->used != b->used ||
	    a->status != b->status || a->d.size != b->d.size || a->d.bare_lf != b->d.bare_lf ||
	    a->d.bare_cr != b->d.bare_cr || a->d.nul != b->d.nul || a->d.too_long != b->d.too_long ||
	    a->d.end != b->d.end)
		__builtin_trap();
}

/* Where the first CRLF "." CRLF ends in msg, the DATA line's CRLF before it; 0 if nowhere. */
static size_t
fuzz_data_first_end(const uint8_t *msg, size_t len)
{
	for (size_t i = 0; i + 3 <= len; i++) {
		int crlf_before = i == 0 || (i >= 2 && msg[i - 2] == '\r' && msg[i - 1] == '\n');

		if (crlf_before && memcmp(msg + i, ".\r\n", 3) == 0)
			return i + 3;
	}
	return 0;
}

/* The flags a simple scan of the bytes taken finds, against the decoder's. */
static void
fuzz_data_flags(const struct fuzz_data_run *r, const uint8_t *msg)
{
	int lf = 0, cr = 0, nul = 0;

	for (size_t i = 0; i < r->used; i++) {
		/* An LF is bare unless a CR is before it; the DATA line's LF is before the first byte. */
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			lf = 1;
		/* A CR is bare once the byte after it is taken and is not LF. */
		if (msg[i] == '\r' && i + 1 < r->used && msg[i + 1] != '\n')
			cr = 1;
		if (msg[i] == '\0')
			nul = 1;
	}
	if (r->d.bare_lf != lf || r->d.bare_cr != cr || r->d.nul != nul)
		__builtin_trap();
}

/*
 * Without bare CR or LF, the message is its lines with one leading dot
 * removed from each (and the end's "." line left out); an unfinished last
 * line likewise, a CR after a lone pending dot not yet written. Checks the
 * output and too_long against that.
 */
static void
fuzz_data_reference(const struct fuzz_data_run *r, const uint8_t *msg)
{
	size_t in = 0, out = 0;
	int too_long = 0;

	if (r->d.bare_lf || r->d.bare_cr)
		return;
	while (in < r->used) {
		size_t end = in, text, emit;
		int complete, dotted = msg[in] == '.';

		while (end < r->used && msg[end] != '\n')
			end++;
		complete = end < r->used;
		if (complete)
			end++;
		/* The end: a "." line taken whole. */
		if (r->status == SMTP_DATA_END && end == r->used)
			break;
		if (dotted)
			in++;
		text = end - in;
		if (complete)
			text -= 2;
		else if (text > 0 && msg[end - 1] == '\r')
			text--;
		if (text > SMTP_DATA_LINE_MAX - 2)
			too_long = 1;
		/* An unfinished ".\r": the CR waits for its LF. */
		emit = !complete && dotted && end - in == 1 && msg[in] == '\r' ? 0 : end - in;
		if (out + emit > r->outlen || memcmp(r->out + out, msg + in, emit) != 0)
			__builtin_trap();
		out += emit;
		in = end;
	}
	if (out != r->outlen || r->d.too_long != too_long)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_data_run whole, split, bytes;
	struct fuzz_data_run *runs[] = { &whole, &split, &bytes };
	size_t cuts[FUZZ_DATA_SPLITS_MASK], ncuts, pos, len, end;
	uint8_t *msg = NULL;

	if (size < 1)
		return 0;
	ncuts = data[0] & FUZZ_DATA_SPLITS_MASK;
	pos = 1 + 2 * ncuts;
	if (pos > size)
		return 0;
	len = size - pos + (data[0] & FUZZ_DATA_TERMINATE ? FUZZ_DATA_END_LEN : 0);
	msg = malloc(len > 0 ? len : 1);
	if (msg == NULL)
		abort();
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct fuzz_data_run *r = runs[i];

		r->chunkcap = len;
		r->chunk = malloc(len > 0 ? len : 1);
		r->out = malloc(len + 1);
		if (r->chunk == NULL || r->out == NULL)
			abort();
	}
	memcpy(msg, data + pos, size - pos);
	if (data[0] & FUZZ_DATA_TERMINATE)
		memcpy(msg + size - pos, FUZZ_DATA_END, FUZZ_DATA_END_LEN);
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = ((size_t)data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (len + 1);
	/* Ascending, for chunk ends. */
	for (size_t i = 1; i < ncuts; i++) {
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}

	fuzz_data_run(&whole, msg, len, NULL, 0);
	fuzz_data_run(&split, msg, len, cuts, ncuts);
	fuzz_data_same(&whole, &split);
	/* One byte at a time. */
	fuzz_data_start(&bytes);
	for (size_t i = 0; i < len && bytes.status == SMTP_DATA_MORE; i++)
		fuzz_data_call(&bytes, msg + i, 1);
	fuzz_data_same(&whole, &bytes);

	/* The end exactly after the first CRLF "." CRLF. */
	end = fuzz_data_first_end(msg, len);
	if ((whole.status == SMTP_DATA_END) != (end > 0) || (end > 0 && whole.used != end))
		__builtin_trap();
	if (whole.outlen > whole.used || whole.d.size != whole.outlen)
		__builtin_trap();
	if (smtp_data_bad(&whole.d) != (whole.d.bare_lf || whole.d.bare_cr || whole.d.nul || whole.d.too_long))
		__builtin_trap();
	fuzz_data_flags(&whole, msg);
	fuzz_data_reference(&whole, msg);

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		free(runs[i]->out);
		free(runs[i]->chunk);
	}
	free(msg);
	return 0;
}
