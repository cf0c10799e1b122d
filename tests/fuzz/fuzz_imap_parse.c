/*
 * Fuzz target: imap_parse_feed() on the input as a client's byte stream.
 *
 * The first byte chooses the parser (small or default limits, LITERAL-,
 * bare LF) and the second what the caller decides at each LITERAL and
 * CONTINUE event; the rest is the stream. It is fed whole, one byte at a
 * time, and in chunks whose sizes come from the input: the three must give
 * the same events (the same commands, trees, errors, and the same streamed
 * bytes in the same order).
 *
 * Checks on every event: bytes taken never past the input, and all of it
 * on MORE; streamed data inside the input; tags, names, messages and every
 * argument as the header promises (NUL-terminated, no NUL but in literal8,
 * atom bytes, numbers, NIL, UTF-8 in quoted strings, list counts, depth
 * and argument limits, literal sizes within their limits); nothing after
 * FATAL. Every atom goes through imap_parse_seqset() and
 * imap_parse_section() (a section parses only in an atom flagged as one;
 * fields point into it). Every complete command is written back in wire
 * form and parsed again by a fresh parser: the same tag, command and tree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../home/imap_parse.h"
#include "fuzz.h"
#include "utf8.h"

#define FUZZ_IMAP_WRITE_MAX (512 * 1024)
#define FUZZ_IMAP_SEQ_MAX 8

static const struct imap_parse_limits fuzz_imap_small = {
	.line_max = 48,
	.literal_max = 24,
	.command_max = 96,
	.stream_max = 40,
	.literal_minus_max = 8,
	.skip_max = 200,
	.depth_max = 4,
	.args_max = 12,
	.tag_max = 6,
};

/* What one run saw, to compare the runs. */
struct fuzz_imap_run {
	uint64_t hash;		/* FNV-1a over the events */
	unsigned events;
	unsigned decisions;	/* LITERAL and CONTINUE events so far */
	int fatal;
};

struct fuzz_imap_cfg {
	struct imap_parse_limits limits;
	unsigned flags;
	uint8_t decide;		/* bit k % 8: refuse the k-th decision */
	uint8_t undecided;	/* at LITERAL, leave it to the next feed */
	int small;		/* limits are fuzz_imap_small */
};

static uint8_t fuzz_imap_wire[FUZZ_IMAP_WRITE_MAX];
static struct imap_parse *fuzz_imap_again[2];	/* round trips: default limits, small ones */

static void
fuzz_imap_mix(uint64_t *h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 1099511628211ull;
	}
}

static void
fuzz_imap_mix_u64(uint64_t *h, uint64_t v)
{
	fuzz_imap_mix(h, &v, sizeof(v));
}

static int
fuzz_imap_tag_char(uint8_t b)
{
	return b > 0x20 && b < 0x7f && !strchr("(){%*\"\\+", b);
}

/* An atom's text and the helpers over it. */
static void
fuzz_imap_atom(const struct imap_arg *a)
{
	struct imap_parse_seq seq[FUZZ_IMAP_SEQ_MAX];
	struct imap_parse_section sec;
	const char *s;
	size_t len;
	int saved, n, all_astring = 1;

	if (a->len == 0)
		__builtin_trap();
	for (size_t i = 0; i < a->len; i++) {
		uint8_t b = (uint8_t)a->str[i];

		if (a->flags & IMAP_ARG_SECTION) {
			if (b < 0x20 || b > 0x7e)
				__builtin_trap();
		} else if (b <= 0x20 || b >= 0x7f || strchr("(){\"", b)) {
			__builtin_trap();
		}
		if (b <= 0x20 || b >= 0x7f || strchr("(){\"%*\\", b))
			all_astring = 0;
	}
	if ((imap_parse_arg_astring(a, &s, &len) == 0) != all_astring)
		__builtin_trap();
	if (a->type == IMAP_ARG_NIL && !imap_parse_arg_is(a, "NIL"))
		__builtin_trap();
	if (a->type == IMAP_ARG_NUMBER) {
		uint64_t v = 0;

		if (a->num > INT64_MAX || imap_parse_arg_number(a, a->num, &v) != 0 || v != a->num)
			__builtin_trap();
		for (size_t i = 0; i < a->len; i++) {
			if (a->str[i] < '0' || a->str[i] > '9')
				__builtin_trap();
		}
	}
	n = imap_parse_seqset(a->str, a->len, seq, FUZZ_IMAP_SEQ_MAX, &saved);
	if (n < -1 || (n == 0 && !saved))
		__builtin_trap();
	for (int i = 0; i < n && i < FUZZ_IMAP_SEQ_MAX; i++) {
		/* 0 is "*" only where the text has one. */
		if ((seq[i].first == IMAP_PARSE_SEQ_STAR || seq[i].last == IMAP_PARSE_SEQ_STAR) &&
		    memchr(a->str, '*', a->len) == NULL)
			__builtin_trap();
	}
	if (imap_parse_section(a->str, a->len, &sec) == 0) {
		if (!(a->flags & IMAP_ARG_SECTION) || sec.nparts > IMAP_PARSE_SECTION_PARTS_MAX ||
		    sec.nfields > IMAP_PARSE_SECTION_FIELDS_MAX || (sec.partial && sec.length == 0))
			__builtin_trap();
		if (sec.nfields > 0 && sec.text != IMAP_SECTION_HEADER_FIELDS &&
		    sec.text != IMAP_SECTION_HEADER_FIELDS_NOT)
			__builtin_trap();
		for (size_t i = 0; i < sec.nparts; i++) {
			if (sec.part[i] == 0)
				__builtin_trap();
		}
		for (size_t i = 0; i < sec.nfields; i++) {
			if (sec.fields[i].len == 0 || sec.fields[i].s < a->str ||
			    sec.fields[i].s + sec.fields[i].len > a->str + a->len ||
			    memchr(sec.fields[i].s, ':', sec.fields[i].len) != NULL)
				__builtin_trap();
		}
	} else if (sec.nparts != 0 || sec.nfields != 0 || sec.partial) {
		__builtin_trap();
	}
}

/* Check a and hash it; count the arguments. */
static void
fuzz_imap_arg(const struct imap_arg *a, size_t depth, const struct fuzz_imap_cfg *cfg, uint64_t *h, size_t *count)
{
	const char *s;
	size_t len;

	(*count)++;
	fuzz_imap_mix_u64(h, (uint64_t)a->type << 32 | a->flags);
	if (a->type == IMAP_ARG_LIST) {
		if (a->str != NULL || a->len != 0 || (a->count == 0) != (a->list == NULL) || depth >= cfg->limits.depth_max ||
		    a->flags != 0)
			__builtin_trap();
		fuzz_imap_mix_u64(h, a->count);
		for (size_t i = 0; i < a->count; i++)
			fuzz_imap_arg(&a->list[i], depth + 1, cfg, h, count);
		fuzz_imap_mix_u64(h, 0xffff);
		return;
	}
	if (a->str == NULL || a->str[a->len] != '\0' || a->list != NULL || a->count != 0)
		__builtin_trap();
	if (!(a->flags & IMAP_ARG_BINARY) && memchr(a->str, '\0', a->len) != NULL)
		__builtin_trap();
	fuzz_imap_mix_u64(h, a->len);
	fuzz_imap_mix_u64(h, a->num);
	fuzz_imap_mix(h, a->str, a->len);
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NUMBER:
	case IMAP_ARG_NIL:
		if ((a->flags & ~(unsigned)IMAP_ARG_SECTION) != 0 || (a->type != IMAP_ARG_NUMBER && a->num != 0))
			__builtin_trap();
		fuzz_imap_atom(a);
		break;
	case IMAP_ARG_STRING: {
		int high = 0;

		if ((a->flags & ~(unsigned)IMAP_ARG_8BIT) != 0 || a->num != 0)
			__builtin_trap();
		for (size_t i = 0; i < a->len;) {
			size_t k = 1;

			if ((uint8_t)a->str[i] >= 0x80) {
				high = 1;
				k = utf8_printable_len((const uint8_t *)a->str + i, a->len - i);
				if (k == 0)
					__builtin_trap();
			} else if (a->str[i] == '\r' || a->str[i] == '\n') {
				__builtin_trap();
			}
			i += k;
		}
		if (high != !!(a->flags & IMAP_ARG_8BIT) || imap_parse_arg_astring(a, &s, &len) != 0 || s != a->str)
			__builtin_trap();
		break;
	}
	case IMAP_ARG_LITERAL:
		if (a->flags & ~(unsigned)(IMAP_ARG_NONSYNC | IMAP_ARG_BINARY | IMAP_ARG_STREAMED | IMAP_ARG_8BIT))
			__builtin_trap();
		if (a->flags & IMAP_ARG_STREAMED) {
			if (a->len != 0 || (a->flags & IMAP_ARG_8BIT) || a->num > cfg->limits.stream_max)
				__builtin_trap();
		} else {
			int high = 0;

			for (size_t i = 0; i < a->len; i++)
				high |= (uint8_t)a->str[i] >= 0x80;
			if (a->len != a->num || a->num > cfg->limits.literal_max || high != !!(a->flags & IMAP_ARG_8BIT))
				__builtin_trap();
		}
		if ((a->flags & IMAP_ARG_NONSYNC) && (cfg->flags & IMAP_PARSE_LITERAL_MINUS) &&
		    a->num > cfg->limits.literal_minus_max)
			__builtin_trap();
		if ((imap_parse_arg_astring(a, &s, &len) == 0) != !(a->flags & (IMAP_ARG_BINARY | IMAP_ARG_STREAMED)))
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
}

/* Check the arguments of r and hash them. */
static void
fuzz_imap_args(const struct imap_parse_command *r, const struct fuzz_imap_cfg *cfg, uint64_t *h)
{
	size_t count = 0;

	if ((r->nargs == 0) != (r->args == NULL))
		__builtin_trap();
	fuzz_imap_mix_u64(h, r->nargs);
	for (size_t i = 0; i < r->nargs; i++)
		fuzz_imap_arg(&r->args[i], 0, cfg, h, &count);
	if (count > cfg->limits.args_max)
		__builtin_trap();
}

/* Append to the wire buffer. Returns -1 when it is full. */
static int
fuzz_imap_put(size_t *o, const void *s, size_t n)
{
	if (n > sizeof(fuzz_imap_wire) - *o)
		return -1;
	memcpy(fuzz_imap_wire + *o, s, n);
	*o += n;
	return 0;
}

/* a in wire form: quoted strings escaped, literals announced as they were. */
static int
fuzz_imap_write_arg(const struct imap_arg *a, size_t *o)
{
	char head[32];
	int n;

	switch (a->type) {
	case IMAP_ARG_LIST:
		if (fuzz_imap_put(o, "(", 1) != 0)
			return -1;
		for (size_t i = 0; i < a->count; i++) {
			if ((i > 0 && fuzz_imap_put(o, " ", 1) != 0) || fuzz_imap_write_arg(&a->list[i], o) != 0)
				return -1;
		}
		return fuzz_imap_put(o, ")", 1);
	case IMAP_ARG_STRING:
		if (fuzz_imap_put(o, "\"", 1) != 0)
			return -1;
		for (size_t i = 0; i < a->len; i++) {
			if ((a->str[i] == '"' || a->str[i] == '\\') && fuzz_imap_put(o, "\\", 1) != 0)
				return -1;
			if (fuzz_imap_put(o, &a->str[i], 1) != 0)
				return -1;
		}
		return fuzz_imap_put(o, "\"", 1);
	case IMAP_ARG_LITERAL:
		n = snprintf(head, sizeof(head), "%s{%llu%s}\r\n", a->flags & IMAP_ARG_BINARY ? "~" : "",
			     (unsigned long long)a->num, a->flags & IMAP_ARG_NONSYNC ? "+" : "");
		if (n < 0 || (size_t)n >= sizeof(head) || fuzz_imap_put(o, head, (size_t)n) != 0)
			return -1;
		return fuzz_imap_put(o, a->str, a->len);
	default:
		return fuzz_imap_put(o, a->str, a->len);
	}
}

/* 1 if a is or holds a streamed literal. */
static int
fuzz_imap_streamed(const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_LITERAL)
		return (a->flags & IMAP_ARG_STREAMED) != 0;
	for (size_t i = 0; i < a->count; i++) {
		if (fuzz_imap_streamed(&a->list[i]))
			return 1;
	}
	return 0;
}

/*
 * Write r back as a client would send it, parse it with a fresh parser
 * with room enough, and require the same command. Streamed literals' bytes
 * are not kept: commands with one are left out.
 */
static void
fuzz_imap_round_trip(const struct imap_parse_command *r, const struct fuzz_imap_cfg *cfg, uint64_t want)
{
	const struct imap_parse_command *again;
	struct imap_parse_limits l;
	struct imap_parse *p;
	size_t o = 0, off = 0;
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < r->nargs; i++) {
		if (fuzz_imap_streamed(&r->args[i]))
			return;
	}
	if (fuzz_imap_put(&o, r->tag, r->tag_len) != 0 || fuzz_imap_put(&o, " ", 1) != 0 ||
	    (r->uid && fuzz_imap_put(&o, "UID ", 4) != 0) || fuzz_imap_put(&o, r->name, strlen(r->name)) != 0)
		return;
	for (size_t i = 0; i < r->nargs; i++) {
		if (fuzz_imap_put(&o, " ", 1) != 0 || fuzz_imap_write_arg(&r->args[i], &o) != 0)
			return;
	}
	if (fuzz_imap_put(&o, "\r\n", 2) != 0)
		return;
	/* One parser per kind of limits, kept from input to input: it starts each command afresh. */
	p = fuzz_imap_again[cfg->small];
	if (p == NULL) {
		imap_parse_limits_default(&l);
		l.depth_max = cfg->limits.depth_max;
		l.args_max = cfg->limits.args_max;
		if (imap_parse_new(&l, 0, &p) != 0)
			__builtin_trap();
		fuzz_imap_again[cfg->small] = p;
	}
	again = imap_parse_result(p);
	for (;;) {
		size_t used;
		enum imap_parse_status st = imap_parse_feed(p, fuzz_imap_wire + off, o - off, &used);

		off += used;
		if (st == IMAP_PARSE_CONTINUE)
			continue;
		if (st != IMAP_PARSE_COMMAND || off != o)
			__builtin_trap();
		break;
	}
	if (again->tag_len != r->tag_len || memcmp(again->tag, r->tag, r->tag_len) != 0 || again->cmd != r->cmd ||
	    again->uid != r->uid)
		__builtin_trap();
	fuzz_imap_args(again, cfg, &h);
	if (h != want)
		__builtin_trap();
}

static void
fuzz_imap_message(const char *m)
{
	if (m == NULL || *m == '\0')
		__builtin_trap();
	for (; *m != '\0'; m++) {
		if (*m < 0x20 || *m > 0x7e)
			__builtin_trap();
	}
}

/* Check one event, hash it into run, and decide what it asks. */
static void
fuzz_imap_event(struct imap_parse *p, enum imap_parse_status st, const struct fuzz_imap_cfg *cfg,
		struct fuzz_imap_run *run)
{
	const struct imap_parse_command *r = imap_parse_result(p);
	uint64_t tree;
	int refuse;

	if (st == IMAP_PARSE_MORE)
		return;
	if (st == IMAP_PARSE_DATA) {
		/* Only the bytes: their chunks differ from run to run. */
		if (r->data == NULL || r->data_len == 0)
			__builtin_trap();
		fuzz_imap_mix(&run->hash, r->data, r->data_len);
		return;
	}
	run->events++;
	fuzz_imap_mix_u64(&run->hash, 0x1000 + (uint64_t)st);
	if (r->tag == NULL || strlen(r->tag) != r->tag_len || r->tag_len > cfg->limits.tag_max || r->name == NULL ||
	    (r->cmd == IMAP_CMD_NONE) != (r->name[0] == '\0'))
		__builtin_trap();
	for (size_t i = 0; i < r->tag_len; i++) {
		if (!fuzz_imap_tag_char((uint8_t)r->tag[i]))
			__builtin_trap();
	}
	fuzz_imap_mix(&run->hash, r->tag, r->tag_len + 1);
	fuzz_imap_mix_u64(&run->hash, (uint64_t)r->cmd << 1 | (uint64_t)r->uid);
	switch (st) {
	case IMAP_PARSE_COMMAND:
		if (r->error != IMAP_PARSE_OK || r->message != NULL || r->tag_len == 0 || r->cmd == IMAP_CMD_NONE)
			__builtin_trap();
		tree = 14695981039346656037ull;
		fuzz_imap_args(r, cfg, &tree);
		fuzz_imap_mix_u64(&run->hash, tree);
		fuzz_imap_round_trip(r, cfg, tree);
		return;
	case IMAP_PARSE_CONTINUE:
	case IMAP_PARSE_LITERAL:
		if (r->cmd == IMAP_CMD_NONE || r->error != IMAP_PARSE_OK)
			__builtin_trap();
		fuzz_imap_mix_u64(&run->hash, r->literal_size << 2 | (uint64_t)r->literal_sync << 1 |
					      (uint64_t)r->literal_binary);
		refuse = cfg->decide >> (run->decisions++ % 8) & 1;
		if (st == IMAP_PARSE_CONTINUE) {
			if (!r->literal_sync || imap_parse_literal_accept(p) != -1)
				__builtin_trap();
			if (refuse && imap_parse_literal_refuse(p) != 0)
				__builtin_trap();
			return;
		}
		if (r->cmd != IMAP_CMD_APPEND || r->literal_size > cfg->limits.stream_max || r->nargs == 0)
			__builtin_trap();
		tree = 14695981039346656037ull;
		fuzz_imap_args(r, cfg, &tree);
		fuzz_imap_mix_u64(&run->hash, tree);
		if (cfg->undecided)
			return;
		if ((refuse ? imap_parse_literal_refuse(p) : imap_parse_literal_accept(p)) != 0)
			__builtin_trap();
		if (imap_parse_literal_accept(p) != -1)
			__builtin_trap();
		return;
	case IMAP_PARSE_ERROR:
	case IMAP_PARSE_FATAL:
		if (r->error <= IMAP_PARSE_OK || r->error > IMAP_PARSE_E_DISCARD || r->args != NULL || r->nargs != 0)
			__builtin_trap();
		if ((st == IMAP_PARSE_FATAL) != (r->error == IMAP_PARSE_E_DISCARD))
			__builtin_trap();
		if (r->error == IMAP_PARSE_E_TAG && r->tag_len != 0)
			__builtin_trap();
		fuzz_imap_message(r->message);
		fuzz_imap_mix_u64(&run->hash, (uint64_t)r->error);
		if (imap_parse_literal_accept(p) != -1 || imap_parse_literal_refuse(p) != -1)
			__builtin_trap();
		if (st == IMAP_PARSE_FATAL)
			run->fatal = 1;
		return;
	default:
		__builtin_trap();
	}
}

/* Feed in[0..len) in chunks: whole (mode 0), bytes (1) or sizes drawn from seed (2). */
static void
fuzz_imap_run(const struct fuzz_imap_cfg *cfg, const uint8_t *in, size_t len, int mode, uint32_t seed,
	      struct fuzz_imap_run *run)
{
	struct imap_parse *p = NULL;
	size_t off = 0;

	memset(run, 0, sizeof(*run));
	run->hash = 14695981039346656037ull;
	if (imap_parse_new(&cfg->limits, cfg->flags, &p) != 0)
		__builtin_trap();
	while (off < len && !run->fatal) {
		size_t chunk = len - off, pos = 0;

		if (mode == 1) {
			chunk = 1;
		} else if (mode == 2) {
			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 16) % 300;
		}
		if (chunk > len - off)
			chunk = len - off;
		for (;;) {
			size_t used = SIZE_MAX;
			enum imap_parse_status st = imap_parse_feed(p, in + off + pos, chunk - pos, &used);
			const struct imap_parse_command *r = imap_parse_result(p);

			if (used > chunk - pos)
				__builtin_trap();
			if (st == IMAP_PARSE_DATA &&
			    (r->data < in + off + pos || r->data + r->data_len != in + off + pos + used))
				__builtin_trap();
			pos += used;
			fuzz_imap_event(p, st, cfg, run);
			if (st == IMAP_PARSE_FATAL) {
				/* And so it stays. */
				if (imap_parse_feed(p, in, len, &used) != IMAP_PARSE_FATAL || used != 0)
					__builtin_trap();
				break;
			}
			if (st == IMAP_PARSE_MORE) {
				if (pos != chunk)
					__builtin_trap();
				break;
			}
		}
		off += chunk;
	}
	imap_parse_free(&p);
	if (p != NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_imap_run whole, bytes, chunks;
	struct fuzz_imap_cfg cfg;
	uint32_t seed = 1;

	if (size < 2)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.small = data[0] & 0x01;
	if (cfg.small)
		cfg.limits = fuzz_imap_small;
	else
		imap_parse_limits_default(&cfg.limits);
	cfg.flags = (data[0] & 0x02 ? IMAP_PARSE_LITERAL_MINUS : 0) | (data[0] & 0x04 ? IMAP_PARSE_BARE_LF : 0);
	cfg.undecided = (data[0] & 0x08) != 0;
	cfg.decide = data[1];
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	fuzz_imap_run(&cfg, data + 2, size - 2, 0, 0, &whole);
	fuzz_imap_run(&cfg, data + 2, size - 2, 1, 0, &bytes);
	fuzz_imap_run(&cfg, data + 2, size - 2, 2, seed, &chunks);
	if (whole.hash != bytes.hash || whole.events != bytes.events || whole.fatal != bytes.fatal ||
	    whole.hash != chunks.hash || whole.events != chunks.events || whole.fatal != chunks.fatal)
		__builtin_trap();
	return 0;
}
