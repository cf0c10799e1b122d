/*
 * Unit tests for shared/buf (fixed-capacity byte buffer) and shared/cursor.h
 * (bounds-checked reader): every read at its exact boundary, and a failed
 * read or append leaves everything as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "cursor.h"

#define T_CAP 16

/* ---- buf ---- */

static void
test_buf_new(void **state)
{
	struct buf *b;

	(void)state;
	assert_null(buf_new(0));
	b = buf_new(T_CAP);
	assert_non_null(b);
	assert_non_null(b->data);
	assert_int_equal(b->cap, T_CAP);
	assert_int_equal(b->len, 0);
	assert_int_equal(buf_room(b), T_CAP);
	buf_free(&b);
	assert_null(b);
	/* NULL is fine, twice. */
	buf_free(&b);
	assert_null(b);

	b = buf_new(1);
	assert_non_null(b);
	assert_int_equal(buf_append(b, "x", 1), 0);
	assert_int_equal(buf_append(b, "y", 1), -1);
	assert_int_equal(b->len, 1);
	assert_int_equal(b->data[0], 'x');
	buf_free(&b);
}

static void
test_buf_append_to_cap(void **state)
{
	const char text[] = "0123456789abcdefXYZ";
	struct buf *b = buf_new(T_CAP);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_append(b, text, 10), 0);
	assert_int_equal(b->len, 10);
	assert_int_equal(buf_room(b), T_CAP - 10);
	/* Nothing is always fine, even when full. */
	assert_int_equal(buf_append(b, text, 0), 0);
	assert_int_equal(b->len, 10);
	/* Up to the cap exactly. */
	assert_int_equal(buf_append(b, text + 10, T_CAP - 10), 0);
	assert_int_equal(b->len, T_CAP);
	assert_int_equal(buf_room(b), 0);
	assert_memory_equal(b->data, text, T_CAP);
	assert_int_equal(buf_append(b, text, 0), 0);
	assert_int_equal(b->len, T_CAP);
	buf_free(&b);
}

static void
test_buf_append_past_cap(void **state)
{
	const char text[] = "0123456789abcdefXYZ";
	uint8_t before[T_CAP];
	struct buf *b = buf_new(T_CAP);

	(void)state;
	assert_non_null(b);
	/* Larger than the whole buffer. */
	assert_int_equal(buf_append(b, text, T_CAP + 1), -1);
	assert_int_equal(b->len, 0);

	assert_int_equal(buf_append(b, text, 10), 0);
	memcpy(before, b->data, T_CAP);
	/* One byte too many: refused, buffer as it was. */
	assert_int_equal(buf_append(b, "ABCDEFG", T_CAP - 10 + 1), -1);
	assert_int_equal(b->len, 10);
	assert_int_equal(b->cap, T_CAP);
	assert_memory_equal(b->data, before, T_CAP);
	/* A length that would wrap len + n around. */
	assert_int_equal(buf_append(b, text, SIZE_MAX), -1);
	assert_int_equal(buf_append(b, text, SIZE_MAX - 9), -1);
	assert_int_equal(b->len, 10);
	assert_memory_equal(b->data, before, T_CAP);
	/* Still usable up to the cap. */
	assert_int_equal(buf_append(b, "ABCDEF", 6), 0);
	assert_int_equal(b->len, T_CAP);
	assert_memory_equal(b->data, "0123456789ABCDEF", T_CAP);
	assert_int_equal(buf_append(b, "!", 1), -1);
	assert_int_equal(b->len, T_CAP);
	buf_free(&b);
}

static void
test_buf_consume(void **state)
{
	struct buf *b = buf_new(T_CAP);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_append(b, "hello world", 11), 0);
	buf_consume(b, 0);
	assert_int_equal(b->len, 11);
	assert_memory_equal(b->data, "hello world", 11);

	buf_consume(b, 6);
	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "world", 5);
	assert_int_equal(buf_room(b), T_CAP - 5);

	/* The freed room can be used again, up to the cap. */
	assert_int_equal(buf_append(b, "0123456789a", 11), 0);
	assert_int_equal(b->len, T_CAP);
	assert_memory_equal(b->data, "world0123456789a", T_CAP);
	assert_int_equal(buf_append(b, "x", 1), -1);

	/* Exactly everything. */
	buf_consume(b, T_CAP);
	assert_int_equal(b->len, 0);
	assert_int_equal(buf_room(b), T_CAP);

	/* More than there is empties it. */
	assert_int_equal(buf_append(b, "abc", 3), 0);
	buf_consume(b, 4);
	assert_int_equal(b->len, 0);
	assert_int_equal(buf_append(b, "abc", 3), 0);
	buf_consume(b, SIZE_MAX);
	assert_int_equal(b->len, 0);
	/* Consuming an empty buffer. */
	buf_consume(b, 1);
	assert_int_equal(b->len, 0);
	buf_free(&b);
}

static void
test_buf_reset(void **state)
{
	static const uint8_t zero[T_CAP];
	struct buf *b = buf_new(T_CAP);

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_append(b, "secret-bytes-16!", T_CAP), 0);
	buf_reset(b);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->cap, T_CAP);
	assert_int_equal(buf_room(b), T_CAP);
	/* Wiped, not just forgotten. */
	assert_memory_equal(b->data, zero, T_CAP);
	/* And usable to the cap again. */
	assert_int_equal(buf_append(b, "0123456789abcdef", T_CAP), 0);
	assert_int_equal(buf_append(b, "x", 1), -1);
	assert_memory_equal(b->data, "0123456789abcdef", T_CAP);
	buf_free(&b);
}

/* ---- cursor ---- */

static const uint8_t t_bytes[] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xfe, 0x80,
};

enum t_reader { T_U8, T_U16BE, T_U24BE, T_U32BE, T_U64LE };

struct reader_case {
	enum t_reader r;
	const char *name;
	size_t width;
	size_t offset;		/* into t_bytes */
	uint64_t value;
};

static const struct reader_case reader_cases[] = {
	{ T_U8, "u8", 1, 0, 0x01 },
	{ T_U8, "u8", 1, 8, 0xff },
	{ T_U16BE, "u16be", 2, 0, 0x0102 },
	{ T_U16BE, "u16be", 2, 8, 0xfffe },
	{ T_U24BE, "u24be", 3, 0, 0x010203 },
	{ T_U24BE, "u24be", 3, 8, 0xfffe80 },
	{ T_U32BE, "u32be", 4, 0, 0x01020304 },
	{ T_U32BE, "u32be", 4, 7, 0x08fffe80 },
	{ T_U64LE, "u64le", 8, 0, 0x0807060504030201ULL },
	{ T_U64LE, "u64le", 8, 3, 0x80feff0807060504ULL },
};

/* Run one reader; the value, widened, in *v_r (untouched on failure). */
static int
t_read(struct cursor *c, enum t_reader r, uint64_t *v_r)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	int rc = -1;

	switch (r) {
	case T_U8:
		v8 = 0xaa;
		if ((rc = cursor_u8(c, &v8)) == 0)
			*v_r = v8;
		else if (v8 != 0xaa)
			fail_msg("u8 wrote its output on failure");
		break;
	case T_U16BE:
		v16 = 0xaaaa;
		if ((rc = cursor_u16be(c, &v16)) == 0)
			*v_r = v16;
		else if (v16 != 0xaaaa)
			fail_msg("u16be wrote its output on failure");
		break;
	case T_U24BE:
	case T_U32BE:
		v32 = 0xaaaaaaaa;
		rc = r == T_U24BE ? cursor_u24be(c, &v32) : cursor_u32be(c, &v32);
		if (rc == 0)
			*v_r = v32;
		else if (v32 != 0xaaaaaaaa)
			fail_msg("u24be/u32be wrote its output on failure");
		break;
	case T_U64LE:
		v64 = 0xaaaaaaaaaaaaaaaaULL;
		if ((rc = cursor_u64le(c, &v64)) == 0)
			*v_r = v64;
		else if (v64 != 0xaaaaaaaaaaaaaaaaULL)
			fail_msg("u64le wrote its output on failure");
		break;
	}
	return rc;
}

static void
test_cursor_readers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reader_cases) / sizeof(reader_cases[0]); i++) {
		const struct reader_case *k = &reader_cases[i];
		const uint8_t *base = t_bytes + k->offset;

		/* Every length from nothing to one byte more than needed. */
		for (size_t left = 0; left <= k->width + 1 && k->offset + left <= sizeof(t_bytes);
		     left++) {
			struct cursor c = cursor_init(base, left);
			uint64_t v = 0;
			int rc = t_read(&c, k->r, &v);

			if (left < k->width) {
				if (rc != -1)
					fail_msg("%s with %zu left: rc %d", k->name, left, rc);
				if (c.p != base || c.left != left)
					fail_msg("%s with %zu left: cursor moved", k->name, left);
				continue;
			}
			if (rc != 0)
				fail_msg("%s with %zu left: rc %d", k->name, left, rc);
			if (v != k->value)
				fail_msg("%s at %zu: 0x%llx, want 0x%llx", k->name, k->offset,
					 (unsigned long long)v, (unsigned long long)k->value);
			if (c.p != base + k->width || c.left != left - k->width)
				fail_msg("%s with %zu left: advanced wrongly", k->name, left);
		}
	}
}

static void
test_cursor_sequence(void **state)
{
	struct cursor c = cursor_init(t_bytes, sizeof(t_bytes));
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	(void)state;
	assert_int_equal(cursor_u8(&c, &v8), 0);
	assert_int_equal(v8, 0x01);
	assert_int_equal(cursor_u16be(&c, &v16), 0);
	assert_int_equal(v16, 0x0203);
	assert_int_equal(cursor_u24be(&c, &v32), 0);
	assert_int_equal(v32, 0x040506);
	assert_int_equal(cursor_u32be(&c, &v32), 0);
	assert_int_equal(v32, 0x0708fffe);
	assert_int_equal(c.left, 1);
	assert_int_equal(cursor_u16be(&c, &v16), -1);
	assert_int_equal(c.left, 1);
	assert_int_equal(cursor_u8(&c, &v8), 0);
	assert_int_equal(v8, 0x80);
	assert_int_equal(c.left, 0);
	assert_ptr_equal(c.p, t_bytes + sizeof(t_bytes));
	assert_int_equal(cursor_u8(&c, &v8), -1);
	assert_int_equal(cursor_skip(&c, 0), 0);
	assert_int_equal(cursor_copy(&c, &v8, 0), 0);
}

static void
test_cursor_copy_skip(void **state)
{
	/* Not a constant: the compiler would warn about the copy it guards. */
	volatile size_t huge = SIZE_MAX;
	uint8_t out[sizeof(t_bytes) + 1];
	struct cursor c;

	(void)state;
	/* copy: one more than left fails and moves nothing, exactly left works. */
	c = cursor_init(t_bytes, 4);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(cursor_copy(&c, out, 5), -1);
	assert_ptr_equal(c.p, t_bytes);
	assert_int_equal(c.left, 4);
	assert_int_equal(out[0], 0xaa);
	assert_int_equal(cursor_copy(&c, out, huge), -1);
	assert_int_equal(c.left, 4);
	assert_int_equal(cursor_copy(&c, out, 3), 0);
	assert_memory_equal(out, t_bytes, 3);
	assert_int_equal(out[3], 0xaa);
	assert_int_equal(c.left, 1);
	assert_int_equal(cursor_copy(&c, out, 1), 0);
	assert_int_equal(out[0], 0x04);
	assert_int_equal(c.left, 0);
	assert_int_equal(cursor_copy(&c, out, 1), -1);

	/* skip */
	c = cursor_init(t_bytes, sizeof(t_bytes));
	assert_int_equal(cursor_skip(&c, sizeof(t_bytes) + 1), -1);
	assert_ptr_equal(c.p, t_bytes);
	assert_int_equal(c.left, sizeof(t_bytes));
	assert_int_equal(cursor_skip(&c, SIZE_MAX), -1);
	assert_int_equal(cursor_skip(&c, 8), 0);
	assert_ptr_equal(c.p, t_bytes + 8);
	assert_int_equal(c.left, sizeof(t_bytes) - 8);
	assert_int_equal(cursor_skip(&c, sizeof(t_bytes) - 8), 0);
	assert_int_equal(c.left, 0);
	assert_int_equal(cursor_skip(&c, 1), -1);
}

static void
test_cursor_sub(void **state)
{
	/* A length-prefixed record: u16 length, that many bytes, a trailer byte. */
	static const uint8_t rec[] = { 0x00, 0x03, 'a', 'b', 'c', 0x7e };
	struct cursor c = cursor_init(rec, sizeof(rec)), sub, saved;
	uint16_t n;
	uint8_t v8, out[8];

	(void)state;
	assert_int_equal(cursor_u16be(&c, &n), 0);
	assert_int_equal(n, 3);
	saved = c;

	/* A length field larger than what is left: refused, nothing moves. */
	sub.p = NULL;
	sub.left = 12345;
	assert_int_equal(cursor_sub(&c, c.left + 1, &sub), -1);
	assert_ptr_equal(c.p, saved.p);
	assert_int_equal(c.left, saved.left);
	assert_null(sub.p);
	assert_int_equal(sub.left, 12345);
	assert_int_equal(cursor_sub(&c, 0xffff, &sub), -1);
	assert_int_equal(cursor_sub(&c, SIZE_MAX, &sub), -1);
	assert_int_equal(c.left, saved.left);

	/* The declared length: the sub-cursor sees those bytes and no more. */
	assert_int_equal(cursor_sub(&c, n, &sub), 0);
	assert_ptr_equal(sub.p, rec + 2);
	assert_int_equal(sub.left, 3);
	assert_ptr_equal(c.p, rec + 5);
	assert_int_equal(c.left, 1);
	assert_int_equal(cursor_copy(&sub, out, 4), -1);
	assert_int_equal(cursor_u32be(&sub, &(uint32_t){ 0 }), -1);
	assert_int_equal(cursor_copy(&sub, out, 3), 0);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(sub.left, 0);
	assert_int_equal(cursor_u8(&sub, &v8), -1);
	/* The parent carries on after the record. */
	assert_int_equal(cursor_u8(&c, &v8), 0);
	assert_int_equal(v8, 0x7e);

	/* Exactly everything that is left, and nothing. */
	c = cursor_init(rec, sizeof(rec));
	assert_int_equal(cursor_sub(&c, sizeof(rec), &sub), 0);
	assert_int_equal(sub.left, sizeof(rec));
	assert_int_equal(c.left, 0);
	assert_int_equal(cursor_sub(&c, 0, &sub), 0);
	assert_int_equal(sub.left, 0);
	assert_int_equal(cursor_sub(&c, 1, &sub), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_new),
		cmocka_unit_test(test_buf_append_to_cap),
		cmocka_unit_test(test_buf_append_past_cap),
		cmocka_unit_test(test_buf_consume),
		cmocka_unit_test(test_buf_reset),
		cmocka_unit_test(test_cursor_readers),
		cmocka_unit_test(test_cursor_sequence),
		cmocka_unit_test(test_cursor_copy_skip),
		cmocka_unit_test(test_cursor_sub),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
