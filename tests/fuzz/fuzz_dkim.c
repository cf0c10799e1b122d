/*
 * Fuzz target: home/dkim's canonicalizers and signer, fed whole, split at
 * positions the input chooses, and one byte at a time.
 *
 * Input: byte 0: bits 0-3 the number of split positions k; bit 4 a small
 * header cap (DKIM_FUZZ_SMALL_MAX bytes), bit 5 few fields
 * (DKIM_FUZZ_SMALL_FIELDS); then k positions of 2 bytes each (big-endian,
 * modulo the message's length + 1); the rest is the message.
 *
 * Checks:
 * - body: all three feedings give the same bytes and flag; the bytes are
 *   what a plain whole-buffer reference (lines at CRLF, WSP runs to SP,
 *   trailing WSP and trailing empty lines dropped, a CRLF added) gives;
 *   the flag is set exactly when a CR or LF is outside a CRLF; canonical
 *   output canonicalizes to itself.
 * - header: the same across feedings (status, bytes taken, bytes, fields,
 *   flags, error); against a reference that splits the section into lines
 *   and unfolds them: the same fields, bytes and flags; the caps hold.
 * - the signer: body hash, author domain and signatures (Ed25519, made
 *   once) the same across feedings; bh= the reference body's SHA-256;
 *   the fields written are DKIM-Signature fields, lines within
 *   DKIM_LINE_MAX unless a domain is too long for it, and taking the field
 *   back (b= ignored) gives the same signature.
 * - dkim_from_domain on the message: a lowercase host name or -1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../home/dkim.h"
#include "b64.h"
#include "dnsname.h"
#include "fuzz.h"

#define FUZZ_DKIM_SPLITS_MASK 0x0f
#define FUZZ_DKIM_SMALL_MAX_BIT 0x10
#define FUZZ_DKIM_FEW_FIELDS_BIT 0x20
#define DKIM_FUZZ_SMALL_MAX 64
#define DKIM_FUZZ_SMALL_FIELDS 3
#define FUZZ_DKIM_RUNS 3
#define FUZZ_DKIM_SIGS_MAX (2 * DKIM_SIGNATURE_MAX)

#define WSP(c) ((c) == ' ' || (c) == '\t')

static void
fuzz_check(int ok)
{
	if (!ok)
		__builtin_trap();
}

/* ---- a growing byte string (the fuzzer's own, no caps) ---- */

struct fuzz_str {
	uint8_t *p;
	size_t len, cap;
};

static void
fuzz_put(struct fuzz_str *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = (s->len + n) * 2 + 16;
		uint8_t *q = realloc(s->p, cap);

		if (q == NULL)
			abort();
		s->p = q;
		s->cap = cap;
	}
	if (n > 0)
		memcpy(s->p + s->len, p, n);
	s->len += n;
}

static void
fuzz_sink(void *arg, const uint8_t *p, size_t n)
{
	fuzz_check(n > 0);
	fuzz_put(arg, p, n);
}

/* ---- body ---- */

/* in[0..len) through the body canonicalizer: whole (ncuts 0), at cuts, or one byte at a time (bytes). */
static int
fuzz_body(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts, int bytes, struct fuzz_str *out)
{
	struct dkim_body b;
	size_t from = 0;

	out->len = 0;
	dkim_body_init(&b, fuzz_sink, out);
	if (bytes) {
		for (size_t i = 0; i < len; i++)
			dkim_body_feed(&b, in + i, 1);
	} else {
		for (size_t i = 0; i <= ncuts; i++) {
			size_t to = i < ncuts ? cuts[i] : len;

			dkim_body_feed(&b, in + from, to - from);
			from = to;
		}
	}
	dkim_body_finish(&b);
	fuzz_check(b.len == out->len);
	return b.bare;
}

/* The reference: whole lines, as RFC 6376 3.4.4 reads them (CRLF pairs taken left to right). */
static void
fuzz_body_ref(const uint8_t *in, size_t len, struct fuzz_str *out)
{
	size_t start = 0, keep = 0;

	out->len = 0;
	for (size_t i = 0; i <= len; i++) {
		int crlf = i + 1 < len && in[i] == '\r' && in[i + 1] == '\n';
		size_t before = out->len;
		int wsp = 0;

		if (i < len && !crlf)
			continue;
		/* One line in[start..i): runs of WSP to one SP, none at the end. */
		for (size_t j = start; j < i; j++) {
			if (WSP(in[j])) {
				wsp = 1;
				continue;
			}
			if (wsp)
				fuzz_put(out, " ", 1);
			wsp = 0;
			fuzz_put(out, in + j, 1);
		}
		/* A line with text ends in CRLF, the last one too; the body ends after the last of them. */
		if (out->len > before) {
			fuzz_put(out, "\r\n", 2);
			keep = out->len;
		} else if (i < len) {
			fuzz_put(out, "\r\n", 2);
		}
		start = i + 2;
		i++;
	}
	out->len = keep;
}

/* Bare exactly when a CR or LF is outside the CRLF pairs (pairs taken left to right). */
static int
fuzz_bare_ref(const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			i++;
			continue;
		}
		if (in[i] == '\r' || in[i] == '\n')
			return 1;
	}
	return 0;
}

static void
fuzz_check_body(const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts)
{
	struct fuzz_str a = { 0 }, b = { 0 }, c = { 0 }, r = { 0 }, again = { 0 };
	int ba = fuzz_body(msg, len, NULL, 0, 0, &a);
	int bb = fuzz_body(msg, len, cuts, ncuts, 0, &b);
	int bc = fuzz_body(msg, len, NULL, 0, 1, &c);

	fuzz_check(ba == bb && ba == bc);
	fuzz_check(a.len == b.len && a.len == c.len);
	fuzz_check(a.len == 0 || (memcmp(a.p, b.p, a.len) == 0 && memcmp(a.p, c.p, a.len) == 0));
	fuzz_body_ref(msg, len, &r);
	fuzz_check(ba == fuzz_bare_ref(msg, len));
	fuzz_check(r.len == a.len && (a.len == 0 || memcmp(r.p, a.p, a.len) == 0));
	/* Canonical output is its own canonical form (a lone CR may pair with the CRLF added). */
	if (!ba) {
		fuzz_check(fuzz_body(a.p, a.len, NULL, 0, 0, &again) == 0);
		fuzz_check(again.len == a.len && (a.len == 0 || memcmp(again.p, a.p, a.len) == 0));
	}
	free(a.p);
	free(b.p);
	free(c.p);
	free(r.p);
	free(again.p);
}

/* ---- header ---- */

struct fuzz_hrun {
	struct dkim_header h;
	uint8_t *buf;
	struct dkim_field *fields;
	int status;
	size_t used;
	int finish;
};

static void
fuzz_header(struct fuzz_hrun *r, const uint8_t *in, size_t len, size_t max, size_t fmax, const size_t *cuts,
	    size_t ncuts, int bytes)
{
	size_t from = 0, n = bytes ? len : ncuts;

	dkim_header_init(&r->h, r->buf, max, r->fields, fmax);
	r->status = 0;
	r->used = 0;
	for (size_t i = 0; i <= n && r->status == 0; i++) {
		size_t to = bytes ? (i < len ? i + 1 : len) : (i < ncuts ? cuts[i] : len), used = (size_t)-1;

		if (to < from)
			to = from;
		r->status = dkim_header_feed(&r->h, in + from, to - from, &used);
		fuzz_check(used <= to - from);
		fuzz_check(r->status != 0 || used == to - from);
		r->used += used;
		from = to;
	}
	r->finish = dkim_header_finish(&r->h);
	/* Failing is for good; at the end only a field the end opens (a lone CR) can fail. */
	fuzz_check(r->status >= 0 || r->finish == -1);
	fuzz_check(r->finish == 0 || r->status < 0 || r->h.err == DKIM_ERR_FIELDS_MAX);
}

static void
fuzz_header_same(const struct fuzz_hrun *a, const struct fuzz_hrun *b)
{
	fuzz_check(a->status == b->status && a->finish == b->finish && a->used == b->used && a->h.len == b->h.len &&
		   a->h.nfields == b->h.nfields && a->h.bare == b->h.bare && a->h.malformed == b->h.malformed &&
		   a->h.err == b->h.err && a->h.raw == b->h.raw);
	fuzz_check(a->h.len == 0 || memcmp(a->buf, b->buf, a->h.len) == 0);
	fuzz_check(a->h.nfields == 0 || memcmp(a->fields, b->fields, a->h.nfields * sizeof(a->fields[0])) == 0);
}

/* One field's raw, unfolded text, canonicalized onto out; sets *malformed_r for a bad name. */
static void
fuzz_field_ref(const uint8_t *p, size_t n, struct fuzz_str *out, int *malformed_r)
{
	size_t colon = n, before = out->len;
	int wsp = 0, started = 0;

	for (size_t j = 0; j < n; j++) {
		if (p[j] == ':') {
			colon = j;
			break;
		}
	}
	/* The name: WSP runs to SP, none at the end; lowercased; printable ASCII only. */
	for (size_t j = 0; j < colon; j++) {
		uint8_t c = p[j];

		if (WSP(c)) {
			wsp = 1;
			continue;
		}
		if (wsp) {
			fuzz_put(out, " ", 1);
			*malformed_r = 1;
		}
		wsp = 0;
		if (c < 0x21 || c > 0x7e)
			*malformed_r = 1;
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		fuzz_put(out, &c, 1);
	}
	if (colon == n || out->len == before)
		*malformed_r = 1;
	if (colon < n) {
		/* The value: no WSP at either end, runs to SP. */
		fuzz_put(out, ":", 1);
		wsp = 0;
		for (size_t j = colon + 1; j < n; j++) {
			if (WSP(p[j])) {
				wsp = started;
				continue;
			}
			if (wsp)
				fuzz_put(out, " ", 1);
			wsp = 0;
			started = 1;
			fuzz_put(out, p + j, 1);
		}
	}
	fuzz_put(out, "\r\n", 2);
}

struct fuzz_href {
	size_t end;		/* bytes of the section, its empty line included */
	size_t nfields;
	int ended;		/* an empty line ended it */
	int malformed;
};

/* The reference: the section cut into lines at CRLF pairs, continuations joined, each field canonicalized. */
static void
fuzz_header_ref(const uint8_t *in, size_t len, struct fuzz_str *out, struct fuzz_href *r)
{
	struct fuzz_str raw = { 0 };
	size_t pos = 0;
	int open = 0;

	memset(r, 0, sizeof(*r));
	out->len = 0;
	r->end = len;
	while (pos < len) {
		size_t eol = pos;
		int complete;

		while (eol < len && !(in[eol] == '\r' && eol + 1 < len && in[eol + 1] == '\n'))
			eol++;
		complete = eol < len;
		if (complete && eol == pos) {
			r->end = eol + 2;
			r->ended = 1;
			break;
		}
		if (open && WSP(in[pos])) {
			/* A continuation; one before the name's colon is malformed. */
			if (raw.len == 0 || memchr(raw.p, ':', raw.len) == NULL)
				r->malformed = 1;
		} else {
			if (open) {
				fuzz_field_ref(raw.p, raw.len, out, &r->malformed);
				r->nfields++;
			}
			raw.len = 0;
			open = 1;
			if (WSP(in[pos]))
				r->malformed = 1;	/* a continuation of nothing */
		}
		fuzz_put(&raw, in + pos, eol - pos);
		pos = complete ? eol + 2 : len;
	}
	if (open) {
		fuzz_field_ref(raw.p, raw.len, out, &r->malformed);
		r->nfields++;
	}
	free(raw.p);
}

static void
fuzz_check_header(const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts, int small, int few)
{
	size_t max = small ? DKIM_FUZZ_SMALL_MAX : len + 8, fmax = few ? DKIM_FUZZ_SMALL_FIELDS : len + 8;
	struct fuzz_hrun runs[FUZZ_DKIM_RUNS];
	struct fuzz_str ref = { 0 };
	struct fuzz_href hr;

	for (int i = 0; i < FUZZ_DKIM_RUNS; i++) {
		runs[i].buf = malloc(DKIM_HEADER_BUF(max));
		runs[i].fields = malloc(fmax * sizeof(struct dkim_field));
		if (runs[i].buf == NULL || runs[i].fields == NULL)
			abort();
	}
	fuzz_header(&runs[0], msg, len, max, fmax, NULL, 0, 0);
	fuzz_header(&runs[1], msg, len, max, fmax, cuts, ncuts, 0);
	fuzz_header(&runs[2], msg, len, max, fmax, NULL, 0, 1);
	fuzz_header_same(&runs[0], &runs[1]);
	fuzz_header_same(&runs[0], &runs[2]);

	fuzz_header_ref(msg, len, &ref, &hr);
	if (hr.end <= max && hr.nfields <= fmax) {
		const struct fuzz_hrun *r = &runs[0];

		fuzz_check(r->status == hr.ended && r->finish == 0);
		fuzz_check(r->used == hr.end);
		fuzz_check(r->h.len == ref.len && (ref.len == 0 || memcmp(r->buf, ref.p, ref.len) == 0));
		fuzz_check(r->h.nfields == hr.nfields);
		fuzz_check(r->h.malformed == hr.malformed);
		fuzz_check(r->h.bare == fuzz_bare_ref(msg, hr.end));
		/* Fields tile the buffer, each ending in CRLF. */
		for (size_t i = 0, off = 0; i < r->h.nfields; i++) {
			fuzz_check(r->fields[i].off == off && r->fields[i].len >= 2 &&
				   r->fields[i].name_len <= r->fields[i].len - 2);
			fuzz_check(memcmp(r->buf + off + r->fields[i].len - 2, "\r\n", 2) == 0);
			off += r->fields[i].len;
			fuzz_check(i + 1 < r->h.nfields || off == r->h.len);
		}
	} else {
		const struct fuzz_hrun *r = &runs[0];

		fuzz_check(r->status == -1 || r->finish == -1);
		fuzz_check((r->h.err == DKIM_ERR_HEADER_MAX && hr.end > max && r->used == max) ||
			   (r->h.err == DKIM_ERR_FIELDS_MAX && hr.nfields > fmax && r->h.nfields == fmax));
	}
	for (int i = 0; i < FUZZ_DKIM_RUNS; i++) {
		free(runs[i].buf);
		free(runs[i].fields);
	}
	free(ref.p);
}

/* ---- the signer ---- */

struct fuzz_srun {
	char bh[DKIM_BH_SIZE];
	char domain[DNSNAME_MAX + 1];
	char sigs[FUZZ_DKIM_SIGS_MAX];
	size_t siglen;
	int bh_rc, dom_rc, sign_rc;
	enum dkim_err dom_code, sign_code;
};

static EVP_PKEY *fuzz_key;

/* The value of tag in field, unfolded, into out. Returns its length. */
static size_t
fuzz_tag(const char *field, const char *tag, char *out, size_t cap)
{
	const char *p = strstr(field, tag);
	size_t n = 0;

	fuzz_check(p != NULL);
	for (p += strlen(tag); *p != '\0' && *p != ';'; p++) {
		if (*p == '\r' && p[1] == '\n' && p[2] != ' ')
			break;
		if (*p != '\r' && *p != '\n' && *p != ' ') {
			fuzz_check(n + 1 < cap);
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return n;
}

static void
fuzz_sign(struct fuzz_srun *r, const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts, int bytes)
{
	struct dkim_key key = { fuzz_key, "fuzz" };
	struct dkim *d = dkim_new();
	char err[256];
	enum dkim_err code;
	size_t from = 0;

	if (d == NULL)
		abort();
	if (bytes) {
		for (size_t i = 0; i < len; i++)
			dkim_feed(d, msg + i, 1);
	} else {
		for (size_t i = 0; i <= ncuts; i++) {
			size_t to = i < ncuts ? cuts[i] : len;

			dkim_feed(d, msg + from, to - from);
			from = to;
		}
	}
	memset(r, 0, sizeof(*r));
	r->bh_rc = dkim_body_hash(d, r->bh, &code, err, sizeof(err));
	r->dom_rc = dkim_author_domain(d, r->domain, sizeof(r->domain), &r->dom_code, err, sizeof(err));
	r->sign_rc = dkim_sign(d, &key, 1, 1700000000, r->sigs, sizeof(r->sigs), &r->siglen, &r->sign_code, err,
			       sizeof(err));
	fuzz_check(r->dom_rc == r->sign_rc && (r->dom_rc == 0 || r->dom_code == r->sign_code));
	fuzz_check(r->sign_rc == 0 || r->sigs[0] == '\0');
	if (r->sign_rc == 0 && !bytes) {
		/* Taking the field back, as a verifier does (b= value ignored), gives the same signature. */
		char h[DKIM_SIGNATURE_MAX], b[200], again[200];
		const char *names[DKIM_SIGN_FIELDS_MAX];
		size_t nnames = 0;

		fuzz_check(strncmp(r->sigs, "DKIM-Signature: v=1; a=ed25519-sha256;", 38) == 0);
		fuzz_check(r->siglen == strlen(r->sigs));
		fuzz_tag(r->sigs, " h=", h, sizeof(h));
		for (char *p = h; p != NULL;) {
			char *colon = strchr(p, ':');

			fuzz_check(nnames < DKIM_SIGN_FIELDS_MAX);
			names[nnames++] = p;
			if (colon != NULL)
				*colon++ = '\0';
			p = colon;
		}
		fuzz_check(nnames >= 2 && strcmp(names[0], "from") == 0 && strcmp(names[nnames - 1], "from") == 0);
		fuzz_tag(r->sigs, "\r\n b=", b, sizeof(b));
		fuzz_check(strlen(b) == 88);
		fuzz_check(dkim_sign_field(d, fuzz_key, names, nnames, r->sigs, r->siglen, again, sizeof(again),
					   &code, err, sizeof(err)) == 0);
		fuzz_check(strcmp(again, b) == 0);
	}
	dkim_free(&d);
}

/* bh= is the SHA-256 of the reference canonical body after the reference section's end. */
static void
fuzz_check_bh(const uint8_t *msg, size_t len, const struct fuzz_srun *r)
{
	struct fuzz_str ref = { 0 }, body = { 0 };
	struct fuzz_href hr;
	uint8_t md[32];
	unsigned int mdlen = 0;
	char want[DKIM_BH_SIZE];

	fuzz_header_ref(msg, len, &ref, &hr);
	if (hr.end > DKIM_HEADER_MAX || hr.nfields > DKIM_HEADER_FIELDS_MAX) {
		fuzz_check(r->bh_rc == -1);
		goto out;
	}
	fuzz_body_ref(msg + hr.end, len - hr.end, &body);
	fuzz_check(EVP_Digest(body.len > 0 ? body.p : (const uint8_t *)"", body.len, md, &mdlen, EVP_sha256(),
			      NULL) == 1);
	fuzz_check(b64_encode(md, sizeof(md), want, sizeof(want)) == DKIM_BH_SIZE - 1);
	fuzz_check(r->bh_rc == 0 && strcmp(r->bh, want) == 0);
out:
	free(ref.p);
	free(body.p);
}

static void
fuzz_check_lines(const char *s, size_t len, size_t domain_len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r') {
			fuzz_check(i + 1 < len && s[i + 1] == '\n');
			fuzz_check(col <= DKIM_LINE_MAX || domain_len + 4 > DKIM_LINE_MAX);
			fuzz_check(i + 2 == len || s[i + 2] == ' ');
			col = 0;
			i++;
			continue;
		}
		fuzz_check(s[i] != '\n');
		col++;
	}
	fuzz_check(col == 0);
}

static void
fuzz_check_signer(const uint8_t *msg, size_t len, const size_t *cuts, size_t ncuts)
{
	static struct fuzz_srun a, b, c;

	fuzz_sign(&a, msg, len, NULL, 0, 0);
	fuzz_sign(&b, msg, len, cuts, ncuts, 0);
	fuzz_sign(&c, msg, len, NULL, 0, 1);
	fuzz_check(memcmp(&a, &b, sizeof(a)) == 0 && memcmp(&a, &c, sizeof(a)) == 0);
	if (a.dom_rc == 0) {
		size_t n = strlen(a.domain);

		fuzz_check(dnsname_check(a.domain, n, 0) == 0);
		for (size_t i = 0; i < n; i++)
			fuzz_check(!(a.domain[i] >= 'A' && a.domain[i] <= 'Z'));
		fuzz_check_lines(a.sigs, a.siglen, n);
	}
	fuzz_check_bh(msg, len, &a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cuts[FUZZ_DKIM_SPLITS_MASK], ncuts, pos, len;
	const uint8_t *msg;
	char domain[DNSNAME_MAX + 1];

	if (fuzz_key == NULL) {
		static const uint8_t seed[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

		fuzz_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
		if (fuzz_key == NULL)
			abort();
	}
	if (size < 1)
		return 0;
	ncuts = data[0] & FUZZ_DKIM_SPLITS_MASK;
	pos = 1 + 2 * ncuts;
	if (pos > size)
		return 0;
	msg = data + pos;
	len = size - pos;
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] = ((size_t)data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (len + 1);
	for (size_t i = 1; i < ncuts; i++) {
		for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}

	fuzz_check_body(msg, len, cuts, ncuts);
	fuzz_check_header(msg, len, cuts, ncuts, data[0] & FUZZ_DKIM_SMALL_MAX_BIT,
			  data[0] & FUZZ_DKIM_FEW_FIELDS_BIT);
	fuzz_check_signer(msg, len, cuts, ncuts);
	if (dkim_from_domain(msg, len, domain, sizeof(domain)) == 0) {
		size_t n = strlen(domain);

		fuzz_check(n > 0 && dnsname_check(domain, n, 0) == 0);
	}
	return 0;
}
