/*
 * Fuzz target: the configuration reader (conf_load_buffer, and through it
 * conf_parse_line and every typed value parser: addresses, prefixes,
 * durations, sizes, enums, lists) with a schema that uses every type.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

struct fuzz_conf_block {
	char *label;
	char *str;
	int64_t num, dur, size;
	int flag, word;
	struct addr one;
	struct conf_addr_list addrs, addrs_port;
	struct conf_cidr_list nets;
	struct conf_string_list words;
};

static const char *const fuzz_conf_words[] = { "sni", "starttls", "passthrough", "http", NULL };

#define K(n, t, f, ...) { .name = n, .type = t, .offset = offsetof(struct fuzz_conf_block, f), __VA_ARGS__ }
static const struct conf_key fuzz_conf_keys[] = {
	K("str", CONF_STRING, str, .flags = 0),
	K("num", CONF_INT, num, .min = -100, .max = 100000),
	K("dur", CONF_DURATION, dur, .min = 0, .max = INT64_MAX),
	K("size", CONF_SIZE, size, .min = 0, .max = INT64_MAX),
	K("flag", CONF_BOOL, flag, .flags = 0),
	K("word", CONF_ENUM, word, .words = fuzz_conf_words),
	K("one", CONF_ADDR, one, .flags = CONF_PORT_OPTIONAL),
	K("addrs", CONF_ADDR_LIST, addrs, .flags = 0),
	K("listen", CONF_ADDR_LIST, addrs_port, .flags = CONF_PORT_REQUIRED),
	K("nets", CONF_CIDR_LIST, nets, .flags = 0),
	K("words", CONF_STRING_LIST, words, .flags = 0),
	{ .name = NULL },
};

static const struct conf_section fuzz_conf_sections[] = {
	{ .name = "main", .keys = fuzz_conf_keys, .block_size = sizeof(struct fuzz_conf_block) },
	{ .name = "item", .flags = CONF_SECTION_LABELLED, .keys = fuzz_conf_keys,
	  .block_size = sizeof(struct fuzz_conf_block),
	  .label_offset = offsetof(struct fuzz_conf_block, label) },
	{ .name = NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERROR_MAX];
	struct conf *c;

	c = conf_load_buffer(fuzz_conf_sections, "fuzz.conf", (const char *)data, size, err,
			     sizeof(err));
	if (c == NULL) {
		/* Every failure explains itself. */
		if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
			__builtin_trap();
		return 0;
	}
	for (size_t i = 0; i < conf_count(c, "item"); i++) {
		struct fuzz_conf_block *b = conf_block(c, "item", i);
		if (b == NULL || b->label == NULL)
			__builtin_trap();
		conf_fail(c, b, "str", err, sizeof(err), "checked %zu", i);
	}
	conf_free(&c);
	return 0;
}
