/*
 * num: bounded integer parsing, the only way we turn text into numbers
 * (atoi and friends are banned: they cannot report an error).
 */
#ifndef HOMEPORT_NUM_H
#define HOMEPORT_NUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse len bytes of s (not necessarily NUL-terminated) as a decimal
 * integer: an optional '-' then 1 to 19 digits, nothing else.
 * Returns 0 and sets *v_r when the value is in [min, max], else -1.
 */
int num_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *v_r);

/* num_parse_i64 over a NUL-terminated string. */
int num_parse_str(const char *s, int64_t min, int64_t max, int64_t *v_r);

#endif
