#include "num.h"

#include <string.h>

/* 19 digits always fit in int64 except for values above INT64_MAX, checked below. */
#define NUM_DIGITS_MAX 19

int
num_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *v_r)
{
	uint64_t v = 0;
	int neg = 0;
	size_t i = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (len == i || len - i > NUM_DIGITS_MAX)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -1;
		/* -(INT64_MAX + 1) computed without overflow. */
		int64_t sv = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		if (sv < min || sv > max)
			return -1;
		*v_r = sv;
		return 0;
	}
	if (v > (uint64_t)INT64_MAX || (int64_t)v < min || (int64_t)v > max)
		return -1;
	*v_r = (int64_t)v;
	return 0;
}

int
num_parse_str(const char *s, int64_t min, int64_t max, int64_t *v_r)
{
	return num_parse_i64(s, strlen(s), min, max, v_r);
}
