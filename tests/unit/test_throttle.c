/*
 * Unit tests for home/throttle: failed logins per key, with time passed
 * in. The delay sequence, the lockout and its end, the window forgetting
 * old failures, keys independent of each other, success forgetting a key,
 * the table's bound and which key it gives up first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../home/home.h"

#define T_MIN (60 * 1000)

static const struct throttle_conf t_conf = {
	.delay_ms = 1000,
	.delay_max_ms = 8000,
	.lockout_failures = 5,
	.lockout_ms = 15 * T_MIN,
};

static void
test_throttle_delays_then_lockout(void **state)
{
	static const int64_t want[] = { 1000, 2000, 4000, 8000, 8000 };
	struct throttle *t = throttle_new(&t_conf, 0);
	struct throttle_verdict v;
	int64_t now = 1000000;

	(void)state;
	assert_non_null(t);
	assert_int_equal(throttle_check(t, "ip:198.51.100.7", now), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(throttle_check(t, "ip:198.51.100.7", now), 0);
		throttle_fail(t, "ip:198.51.100.7", now, &v);
		assert_int_equal(v.failures, i + 1);
		assert_int_equal(v.delay_ms, want[i]);
		assert_int_equal(v.locked, i == 4);
		assert_int_equal(v.locked_ms, i == 4 ? 15 * T_MIN : 0);
		now += 10 * 1000;
	}
	/* Locked: for the rest of the 15 minutes from the fifth failure. */
	assert_int_equal(throttle_check(t, "ip:198.51.100.7", now), 15 * T_MIN - 10 * 1000);
	assert_int_equal(throttle_check(t, "ip:198.51.100.8", now), 0);
	/* A failure while locked (another key's attempt counted here) does not lock again. */
	throttle_fail(t, "ip:198.51.100.7", now, &v);
	assert_int_equal(v.locked, 0);
	assert_true(v.locked_ms > 0);
	/* A success does not lift a lock. */
	throttle_success(t, "ip:198.51.100.7", now);
	assert_true(throttle_check(t, "ip:198.51.100.7", now) > 0);
	/* The lock ends; the next failure starts afresh. */
	now += 15 * T_MIN;
	assert_int_equal(throttle_check(t, "ip:198.51.100.7", now), 0);
	throttle_fail(t, "ip:198.51.100.7", now, &v);
	assert_int_equal(v.failures, 1);
	assert_int_equal(v.delay_ms, 1000);
	assert_int_equal(v.locked, 0);
	throttle_free(&t);
	assert_null(t);
	throttle_free(&t);
}

static void
test_throttle_window(void **state)
{
	struct throttle *t = throttle_new(&t_conf, 0);
	struct throttle_verdict v;
	int64_t now = 5;

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		throttle_fail(t, "user:alice@example.test", now + i, &v);
	assert_int_equal(v.failures, 4);
	/* Four failures, then quiet for the window: the fifth counts as the first. */
	now += 15 * T_MIN + 3;
	throttle_fail(t, "user:alice@example.test", now, &v);
	assert_int_equal(v.failures, 1);
	assert_int_equal(v.locked, 0);
	/* Just inside the window, they add up. */
	for (unsigned i = 0; i < 3; i++)
		throttle_fail(t, "user:alice@example.test", now + 15 * T_MIN - 1, &v);
	assert_int_equal(v.failures, 4);
	throttle_fail(t, "user:alice@example.test", now + 15 * T_MIN - 1, &v);
	assert_int_equal(v.locked, 1);
	throttle_free(&t);
}

static void
test_throttle_success_forgets(void **state)
{
	struct throttle *t = throttle_new(&t_conf, 0);
	struct throttle_verdict v;

	(void)state;
	throttle_fail(t, "user:alice@example.test", 0, &v);
	throttle_fail(t, "user:alice@example.test", 1, &v);
	throttle_fail(t, "user:bob@example.test", 1, &v);
	assert_int_equal(throttle_count(t), 2);
	throttle_success(t, "user:alice@example.test", 2);
	assert_int_equal(throttle_count(t), 1);
	throttle_fail(t, "user:alice@example.test", 3, &v);
	assert_int_equal(v.failures, 1);
	/* Bob's count was not touched. */
	throttle_fail(t, "user:bob@example.test", 3, &v);
	assert_int_equal(v.failures, 2);
	/* Forgetting a key that is not there is fine. */
	throttle_success(t, "user:carol@example.test", 4);
	throttle_free(&t);
}

static void
test_throttle_bounded(void **state)
{
	struct throttle *t = throttle_new(&t_conf, 3);
	struct throttle_verdict v;
	char key[32];

	(void)state;
	throttle_fail(t, "a", 0, &v);
	throttle_fail(t, "b", 1, &v);
	throttle_fail(t, "c", 2, &v);
	throttle_fail(t, "a", 3, &v);	/* a is now the newest, b the oldest */
	throttle_fail(t, "d", 4, &v);	/* b goes */
	assert_int_equal(throttle_count(t), 3);
	throttle_fail(t, "a", 5, &v);
	assert_int_equal(v.failures, 3);
	throttle_fail(t, "b", 6, &v);	/* b starts again, c goes */
	assert_int_equal(v.failures, 1);
	throttle_fail(t, "d", 7, &v);
	assert_int_equal(v.failures, 2);
	throttle_fail(t, "c", 8, &v);
	assert_int_equal(v.failures, 1);
	/* Many keys: the count never passes the bound. */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "ip:192.0.2.%d", i);
		throttle_fail(t, key, 10 + i, &v);
		assert_true(throttle_count(t) <= 3);
	}
	throttle_free(&t);
}

static void
test_throttle_long_key(void **state)
{
	struct throttle *t = throttle_new(&t_conf, 0);
	struct throttle_verdict v;
	char a[THROTTLE_KEY_MAX + 20], b[THROTTLE_KEY_MAX + 20];

	(void)state;
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 2] = 'y';		/* differs only after the cut */
	throttle_fail(t, a, 0, &v);
	throttle_fail(t, b, 0, &v);
	assert_int_equal(v.failures, 2);
	assert_int_equal(throttle_count(t), 1);
	throttle_free(&t);
}

static void
test_throttle_no_lockout(void **state)
{
	struct throttle_conf c = t_conf;
	struct throttle *t;
	struct throttle_verdict v;

	(void)state;
	c.lockout_failures = 0;
	t = throttle_new(&c, 0);
	for (int i = 0; i < 100; i++) {
		throttle_fail(t, "k", i, &v);
		assert_int_equal(v.locked, 0);
	}
	assert_int_equal(v.delay_ms, 8000);
	assert_int_equal(throttle_check(t, "k", 100), 0);
	/* A reload's new limits apply to what was counted. */
	c.lockout_failures = 101;
	throttle_set_conf(t, &c);
	throttle_fail(t, "k", 100, &v);
	assert_int_equal(v.locked, 1);
	throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_delays_then_lockout),
		cmocka_unit_test(test_throttle_window),
		cmocka_unit_test(test_throttle_success_forgets),
		cmocka_unit_test(test_throttle_bounded),
		cmocka_unit_test(test_throttle_long_key),
		cmocka_unit_test(test_throttle_no_lockout),
	};
	return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
