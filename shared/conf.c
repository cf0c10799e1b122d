#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "num.h"

/* Room for a value quoted in an error message. */
#define CONF_QUOTE_MAX 80

struct conf_mem {
	struct conf_mem *next;
	alignas(max_align_t) unsigned char data[];
};

struct conf_blockrec {
	const struct conf_section *sec;
	void *data;
	char *label;		/* NULL for unlabelled sections */
	unsigned line;		/* of the [header]; 0 when the section is absent */
	unsigned *key_lines;	/* per key of sec->keys: where it was set, 0 if not */
};

struct conf {
	char *file;
	struct conf_mem *mem;
	struct conf_blockrec *blocks;
	size_t nblocks;
	size_t blocks_cap;
};

/* ---- the pure line parser ---- */

static int
conf_is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int
conf_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Labels name tenants, listeners, domains: "alice", "mx-v6", "example.test". */
static int
conf_is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '@' || c == '*' || c == '+';
}

static enum conf_line_kind
conf_line_error(struct conf_line *out, const char *why)
{
	out->kind = CONF_LINE_ERROR;
	out->error = why;
	return out->kind;
}

/* Length of the text before an inline comment (a '#' after a space or tab). */
static size_t
conf_strip_comment(const char *s, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (s[i] == '#' && conf_is_space(s[i - 1]))
			return i;
	}
	return len;
}

static void
conf_trim(const char **s, size_t *len)
{
	while (*len > 0 && conf_is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && conf_is_space((*s)[*len - 1]))
		(*len)--;
}

static enum conf_line_kind
conf_parse_section(const char *s, size_t len, struct conf_line *out)
{
	const char *close = memchr(s, ']', len);
	const char *rest;
	size_t rest_len, i = 0;
	const char *in;
	size_t in_len;

	if (close == NULL)
		return conf_line_error(out, "section header without ']'");
	rest = close + 1;
	rest_len = len - (size_t)(rest - s);
	conf_trim(&rest, &rest_len);
	if (rest_len > 0 && rest[0] != '#' && rest[0] != ';')
		return conf_line_error(out, "text after section header");
	in = s + 1;
	in_len = (size_t)(close - in);
	conf_trim(&in, &in_len);
	while (i < in_len && conf_is_name_char(in[i]))
		i++;
	if (i == 0)
		return conf_line_error(out, "section name must be lowercase letters, digits or '_'");
	if (i > CONF_NAME_MAX)
		return conf_line_error(out, "section name too long");
	out->name = in;
	out->name_len = i;
	if (i == in_len) {
		out->kind = CONF_LINE_SECTION;
		return out->kind;
	}
	if (!conf_is_space(in[i]))
		return conf_line_error(out, "section name must be lowercase letters, digits or '_'");
	while (i < in_len && conf_is_space(in[i]))
		i++;
	out->label = in + i;
	while (i < in_len && conf_is_label_char(in[i]))
		i++;
	out->label_len = (size_t)(in + i - out->label);
	if (i != in_len)
		return conf_line_error(out, "section label must be letters, digits or . _ - @ * +");
	if (out->label_len > CONF_NAME_MAX)
		return conf_line_error(out, "section label too long");
	out->kind = CONF_LINE_SECTION;
	return out->kind;
}

enum conf_line_kind
conf_parse_line(const char *line, size_t len, struct conf_line *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > CONF_LINE_MAX)
		return conf_line_error(out, "line too long");
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)line[k];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return conf_line_error(out, "control character in line");
	}
	conf_trim(&line, &len);
	if (len == 0 || line[0] == '#' || line[0] == ';') {
		out->kind = CONF_LINE_BLANK;
		return out->kind;
	}
	if (line[0] == '[')
		return conf_parse_section(line, len, out);

	while (i < len && conf_is_name_char(line[i]))
		i++;
	if (i == 0)
		return conf_line_error(out, "expected 'key = value' (keys are lowercase letters, digits or '_')");
	if (i > CONF_NAME_MAX)
		return conf_line_error(out, "key too long");
	out->name = line;
	out->name_len = i;
	while (i < len && conf_is_space(line[i]))
		i++;
	if (i == len || line[i] != '=')
		return conf_line_error(out, "expected 'key = value'");
	i++;
	out->value = line + i;
	out->value_len = len - i;
	out->value_len = conf_strip_comment(out->value, out->value_len);
	conf_trim(&out->value, &out->value_len);
	out->kind = CONF_LINE_PAIR;
	return out->kind;
}

/* ---- the arena ---- */

void *
conf_alloc(struct conf *c, size_t size)
{
	struct conf_mem *m;

	if (size > SIZE_MAX - sizeof(*m))
		return NULL;
	m = calloc(1, sizeof(*m) + size);
	if (m == NULL)
		return NULL;
	m->next = c->mem;
	c->mem = m;
	return m->data;
}

static char *
conf_strndup(struct conf *c, const char *s, size_t len)
{
	char *p = conf_alloc(c, len + 1);

	if (p != NULL)
		memcpy(p, s, len);
	return p;
}

void
conf_free(struct conf **cp)
{
	struct conf *c = *cp;

	if (c == NULL)
		return;
	while (c->mem != NULL) {
		struct conf_mem *next = c->mem->next;
		free(c->mem);
		c->mem = next;
	}
	free(c->blocks);
	free(c);
	*cp = NULL;
}

/* ---- typed values ---- */

static int
conf_parse_scaled(const char *v, size_t len, const struct conf_key *k,
		  const char *const *units, const int64_t *mults, int unit_required,
		  int64_t *out)
{
	size_t digits = 0;
	int64_t mult = 1, n;
	size_t i;

	while (digits < len && v[digits] >= '0' && v[digits] <= '9')
		digits++;
	if (digits == 0)
		return -1;
	if (digits == len) {
		if (unit_required)
			return -1;
	} else {
		for (i = 0; units[i] != NULL; i++) {
			if (strlen(units[i]) == len - digits &&
			    memcmp(units[i], v + digits, len - digits) == 0)
				break;
		}
		if (units[i] == NULL)
			return -1;
		mult = mults[i];
	}
	if (num_parse_i64(v, digits, 0, INT64_MAX / mult, &n) != 0)
		return -1;
	n *= mult;
	if (n < k->min || n > k->max)
		return -1;
	*out = n;
	return 0;
}

static const char *const conf_duration_units[] = { "ms", "s", "m", "h", "d", NULL };
static const int64_t conf_duration_mults[] = { 1, 1000, 60000, 3600000, 86400000 };
static const char *const conf_size_units[] = { "K", "k", "M", "m", "G", "g", NULL };
static const int64_t conf_size_mults[] = { 1024, 1024, 1048576, 1048576, 1073741824, 1073741824 };

int
conf_parse_size(const char *v, size_t len, int64_t min, int64_t max, int64_t *v_r)
{
	const struct conf_key k = { .name = NULL, .type = CONF_SIZE, .min = min, .max = max };

	return conf_parse_scaled(v, len, &k, conf_size_units, conf_size_mults, 0, v_r);
}

int
conf_parse_duration(const char *v, size_t len, int64_t min, int64_t max, int64_t *v_r)
{
	const struct conf_key k = { .name = NULL, .type = CONF_DURATION, .min = min, .max = max };

	/* As in a file: a unit is required (a bare number could be seconds or ms). */
	return conf_parse_scaled(v, len, &k, conf_duration_units, conf_duration_mults, 1, v_r);
}

static int
conf_parse_bool(const char *v, size_t len, int *out)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strlen(yes[i]) == len && memcmp(v, yes[i], len) == 0) {
			*out = 1;
			return 0;
		}
		if (strlen(no[i]) == len && memcmp(v, no[i], len) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static enum addr_port
conf_port_rule(const struct conf_key *k)
{
	if (k->flags & CONF_PORT_REQUIRED)
		return ADDR_PORT_REQUIRED;
	if (k->flags & CONF_PORT_OPTIONAL)
		return ADDR_PORT_OPTIONAL;
	return ADDR_PORT_NONE;
}

/*
 * Split a list value at commas into items[] (pointers into v).
 * Returns the count, or -1 for an empty item or too many items.
 */
static int
conf_split_list(const char *v, size_t len, const char **items, size_t *lens, size_t max)
{
	size_t n = 0, start = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		const char *item = v + start;
		size_t item_len = i - start;
		conf_trim(&item, &item_len);
		if (item_len == 0 || n == max)
			return -1;
		items[n] = item;
		lens[n] = item_len;
		n++;
		start = i + 1;
	}
	return (int)n;
}

/* Describe what the key expects, for an error message. */
static void
conf_expected(const struct conf_key *k, char *out, size_t cap)
{
	size_t o;

	switch (k->type) {
	case CONF_STRING:
		snprintf(out, cap, "expected a non-empty value");
		break;
	case CONF_INT:
		snprintf(out, cap, "expected a whole number from %lld to %lld",
			 (long long)k->min, (long long)k->max);
		break;
	case CONF_BOOL:
		snprintf(out, cap, "expected yes or no");
		break;
	case CONF_DURATION:
		snprintf(out, cap, "expected a duration like 30s or 5m (ms, s, m, h, d), from %lldms to %lldms",
			 (long long)k->min, (long long)k->max);
		break;
	case CONF_SIZE:
		snprintf(out, cap, "expected a size like 64K or 50M, from %lld to %lld bytes",
			 (long long)k->min, (long long)k->max);
		break;
	case CONF_ENUM:
		o = (size_t)snprintf(out, cap, "expected one of");
		for (size_t i = 0; k->words[i] != NULL && o < cap; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s %s", i ? "," : "", k->words[i]);
		break;
	case CONF_ADDR:
	case CONF_ADDR_LIST:
		snprintf(out, cap, "expected %s%s",
			 k->type == CONF_ADDR ? "an address" : "a comma-separated list of addresses",
			 (k->flags & CONF_PORT_REQUIRED) ? " with port, like 192.0.2.1:25 or [2001:db8::1]:25"
			 : (k->flags & CONF_PORT_OPTIONAL) ? " like 192.0.2.1 or 192.0.2.1:25"
			 : " without port, like 192.0.2.1 or 2001:db8::1");
		break;
	case CONF_CIDR_LIST:
		snprintf(out, cap, "expected a comma-separated list of prefixes like 192.0.2.0/24 or 2001:db8::/32 (host bits zero)");
		break;
	case CONF_STRING_LIST:
		snprintf(out, cap, "expected a comma-separated list without empty items");
		break;
	}
}

/* Parse v into the block at k->offset. Returns 0 or -1. */
static int
conf_store_value(struct conf *c, const struct conf_key *k, const char *v, size_t len, void *block)
{
	unsigned char *dst = (unsigned char *)block + k->offset;
	const char *items[CONF_LIST_MAX];
	size_t lens[CONF_LIST_MAX];
	int n;

	switch (k->type) {
	case CONF_STRING: {
		char *s;
		if (len == 0 || (s = conf_strndup(c, v, len)) == NULL)
			return -1;
		memcpy(dst, &s, sizeof(s));
		return 0;
	}
	case CONF_INT: {
		int64_t x;
		if (num_parse_i64(v, len, k->min, k->max, &x) != 0)
			return -1;
		memcpy(dst, &x, sizeof(x));
		return 0;
	}
	case CONF_BOOL: {
		int b;
		if (conf_parse_bool(v, len, &b) != 0)
			return -1;
		memcpy(dst, &b, sizeof(b));
		return 0;
	}
	case CONF_DURATION:
	case CONF_SIZE: {
		int64_t x;
		int dur = k->type == CONF_DURATION;
		if (conf_parse_scaled(v, len, k, dur ? conf_duration_units : conf_size_units,
				      dur ? conf_duration_mults : conf_size_mults, dur, &x) != 0)
			return -1;
		memcpy(dst, &x, sizeof(x));
		return 0;
	}
	case CONF_ENUM:
		for (int i = 0; k->words[i] != NULL; i++) {
			if (strlen(k->words[i]) == len && memcmp(k->words[i], v, len) == 0) {
				memcpy(dst, &i, sizeof(i));
				return 0;
			}
		}
		return -1;
	case CONF_ADDR: {
		struct addr a;
		if (addr_parse(v, len, conf_port_rule(k), &a) != 0)
			return -1;
		memcpy(dst, &a, sizeof(a));
		return 0;
	}
	case CONF_ADDR_LIST: {
		struct conf_addr_list l = { 0 };
		if ((n = conf_split_list(v, len, items, lens, CONF_LIST_MAX)) < 0)
			return -1;
		if (n > 0 && (l.v = conf_alloc(c, (size_t)n * sizeof(*l.v))) == NULL)
			return -1;
		for (l.n = 0; l.n < (size_t)n; l.n++) {
			if (addr_parse(items[l.n], lens[l.n], conf_port_rule(k), &l.v[l.n]) != 0)
				return -1;
		}
		memcpy(dst, &l, sizeof(l));
		return 0;
	}
	case CONF_CIDR_LIST: {
		struct conf_cidr_list l = { 0 };
		if ((n = conf_split_list(v, len, items, lens, CONF_LIST_MAX)) < 0)
			return -1;
		if (n > 0 && (l.v = conf_alloc(c, (size_t)n * sizeof(*l.v))) == NULL)
			return -1;
		for (l.n = 0; l.n < (size_t)n; l.n++) {
			if (cidr_parse(items[l.n], lens[l.n], &l.v[l.n]) != 0)
				return -1;
		}
		memcpy(dst, &l, sizeof(l));
		return 0;
	}
	case CONF_STRING_LIST: {
		struct conf_string_list l = { 0 };
		if ((n = conf_split_list(v, len, items, lens, CONF_LIST_MAX)) < 0)
			return -1;
		if (n > 0 && (l.v = conf_alloc(c, (size_t)n * sizeof(*l.v))) == NULL)
			return -1;
		for (l.n = 0; l.n < (size_t)n; l.n++) {
			if ((l.v[l.n] = conf_strndup(c, items[l.n], lens[l.n])) == NULL)
				return -1;
		}
		memcpy(dst, &l, sizeof(l));
		return 0;
	}
	}
	return -1;
}

/* ---- blocks ---- */

static size_t
conf_key_count(const struct conf_section *sec)
{
	size_t n = 0;

	while (sec->keys[n].name != NULL)
		n++;
	return n;
}

static struct conf_blockrec *
conf_add_block(struct conf *c, const struct conf_section *sec, const char *label,
	       size_t label_len, unsigned line)
{
	struct conf_blockrec *r;

	if (c->nblocks == c->blocks_cap) {
		size_t cap = c->blocks_cap ? c->blocks_cap * 2 : 8;
		struct conf_blockrec *nb = reallocarray(c->blocks, cap, sizeof(*nb));
		if (nb == NULL)
			return NULL;
		c->blocks = nb;
		c->blocks_cap = cap;
	}
	r = &c->blocks[c->nblocks];
	memset(r, 0, sizeof(*r));
	r->sec = sec;
	r->line = line;
	r->data = conf_alloc(c, sec->block_size);
	r->key_lines = conf_alloc(c, (conf_key_count(sec) + 1) * sizeof(*r->key_lines));
	if (r->data == NULL || r->key_lines == NULL)
		return NULL;
	if (sec->init != NULL)
		sec->init(r->data);
	if (label != NULL) {
		r->label = conf_strndup(c, label, label_len);
		if (r->label == NULL)
			return NULL;
		memcpy((unsigned char *)r->data + sec->label_offset, &r->label, sizeof(r->label));
	}
	c->nblocks++;
	return r;
}

static const struct conf_section *
conf_find_section(const struct conf_section *sections, const char *name, size_t len)
{
	for (size_t i = 0; sections[i].name != NULL; i++) {
		if (strlen(sections[i].name) == len && memcmp(sections[i].name, name, len) == 0)
			return &sections[i];
	}
	return NULL;
}

static struct conf_blockrec *
conf_find_block(const struct conf *c, const struct conf_section *sec, const char *label,
		size_t label_len)
{
	for (size_t i = 0; i < c->nblocks; i++) {
		struct conf_blockrec *r = &c->blocks[i];
		if (r->sec != sec)
			continue;
		if (label == NULL)
			return r;
		if (r->label != NULL && strlen(r->label) == label_len &&
		    memcmp(r->label, label, label_len) == 0)
			return r;
	}
	return NULL;
}

/* "[name]" or "[name label]" for messages. */
static void
conf_block_title(const struct conf_blockrec *r, char *out, size_t cap)
{
	snprintf(out, cap, "[%s%s%s]", r->sec->name, r->label ? " " : "", r->label ? r->label : "");
}

/* ---- loading ---- */

struct conf_loader {
	struct conf *c;
	const struct conf_section *sections;
	struct conf_blockrec *cur;
	unsigned line;
	char *err;
	size_t errcap;
};

static int
conf_loader_fail(struct conf_loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
conf_loader_fail(struct conf_loader *ld, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ld->err, ld->errcap, "%s:%u: ", ld->c->file, ld->line);

	if (n >= 0 && (size_t)n < ld->errcap) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->errcap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
conf_on_section(struct conf_loader *ld, const struct conf_line *l)
{
	char name[CONF_NAME_MAX + 1], label[CONF_NAME_MAX + 1];
	const struct conf_section *sec;
	struct conf_blockrec *r;

	memcpy(name, l->name, l->name_len);
	name[l->name_len] = '\0';
	if (l->label) {
		memcpy(label, l->label, l->label_len);
		label[l->label_len] = '\0';
	}
	sec = conf_find_section(ld->sections, l->name, l->name_len);
	if (sec == NULL)
		return conf_loader_fail(ld, "unknown section [%s]", name);
	if (sec->flags & CONF_SECTION_LABELLED) {
		if (l->label == NULL)
			return conf_loader_fail(ld, "section [%s] needs a name: [%s NAME]", name, name);
		r = conf_find_block(ld->c, sec, l->label, l->label_len);
		if (r != NULL)
			return conf_loader_fail(ld, "section [%s %s] appears twice (first at line %u)",
						name, label, r->line);
		r = conf_add_block(ld->c, sec, l->label, l->label_len, ld->line);
		if (r == NULL)
			return conf_loader_fail(ld, "out of memory");
	} else {
		if (l->label != NULL)
			return conf_loader_fail(ld, "section [%s] takes no name", name);
		r = conf_find_block(ld->c, sec, NULL, 0);
		if (r->line != 0)
			return conf_loader_fail(ld, "section [%s] appears twice (first at line %u)",
						name, r->line);
		r->line = ld->line;
	}
	ld->cur = r;
	return 0;
}

static int
conf_on_pair(struct conf_loader *ld, const struct conf_line *l)
{
	char key[CONF_NAME_MAX + 1], title[2 * CONF_NAME_MAX + 4];
	char quoted[CONF_QUOTE_MAX], expected[256];
	const struct conf_key *keys;
	size_t i;

	memcpy(key, l->name, l->name_len);
	key[l->name_len] = '\0';
	if (ld->cur == NULL)
		return conf_loader_fail(ld, "%s: key outside of any section", key);
	conf_block_title(ld->cur, title, sizeof(title));
	keys = ld->cur->sec->keys;
	for (i = 0; keys[i].name != NULL; i++) {
		if (strcmp(keys[i].name, key) == 0)
			break;
	}
	if (keys[i].name == NULL)
		return conf_loader_fail(ld, "%s %s: unknown key", title, key);
	if (ld->cur->key_lines[i] != 0)
		return conf_loader_fail(ld, "%s %s: set twice (first at line %u)", title, key,
					ld->cur->key_lines[i]);
	if (conf_store_value(ld->c, &keys[i], l->value, l->value_len, ld->cur->data) != 0) {
		conf_expected(&keys[i], expected, sizeof(expected));
		log_escape(l->value, l->value_len, quoted, sizeof(quoted));
		return conf_loader_fail(ld, "%s %s: %s, not \"%s\"", title, key, expected, quoted);
	}
	ld->cur->key_lines[i] = ld->line;
	return 0;
}

/* Every required section present, every required key set. */
static int
conf_check_required(struct conf_loader *ld)
{
	char title[2 * CONF_NAME_MAX + 4];

	for (size_t s = 0; ld->sections[s].name != NULL; s++) {
		const struct conf_section *sec = &ld->sections[s];
		struct conf_blockrec *r = conf_find_block(ld->c, sec, NULL, 0);
		if ((sec->flags & CONF_SECTION_REQUIRED) && (r == NULL || r->line == 0)) {
			snprintf(ld->err, ld->errcap, "%s: missing section [%s%s]", ld->c->file,
				 sec->name, (sec->flags & CONF_SECTION_LABELLED) ? " NAME" : "");
			return -1;
		}
	}
	for (size_t b = 0; b < ld->c->nblocks; b++) {
		struct conf_blockrec *r = &ld->c->blocks[b];
		for (size_t i = 0; r->sec->keys[i].name != NULL; i++) {
			if (!(r->sec->keys[i].flags & CONF_REQUIRED) || r->key_lines[i] != 0)
				continue;
			conf_block_title(r, title, sizeof(title));
			if (r->line == 0) {
				snprintf(ld->err, ld->errcap, "%s: missing section %s (it needs %s)",
					 ld->c->file, title, r->sec->keys[i].name);
			} else {
				ld->line = r->line;
				conf_loader_fail(ld, "%s: missing required key '%s'", title,
						 r->sec->keys[i].name);
			}
			return -1;
		}
	}
	return 0;
}

struct conf *
conf_load_buffer(const struct conf_section *sections, const char *file, const char *data,
		 size_t len, char *err, size_t errcap)
{
	struct conf_loader ld = { .sections = sections, .err = err, .errcap = errcap };
	struct conf_line l;
	size_t pos = 0;

	ld.c = calloc(1, sizeof(*ld.c));
	if (ld.c == NULL) {
		snprintf(err, errcap, "%s: out of memory", file);
		return NULL;
	}
	ld.c->file = conf_strndup(ld.c, file, strlen(file));
	if (ld.c->file == NULL) {
		snprintf(err, errcap, "%s: out of memory", file);
		goto fail;
	}
	if (len > CONF_FILE_MAX) {
		snprintf(err, errcap, "%s: file larger than %d bytes", file, CONF_FILE_MAX);
		goto fail;
	}
	for (size_t s = 0; sections[s].name != NULL; s++) {
		if (!(sections[s].flags & CONF_SECTION_LABELLED) &&
		    conf_add_block(ld.c, &sections[s], NULL, 0, 0) == NULL) {
			snprintf(err, errcap, "%s: out of memory", file);
			goto fail;
		}
	}
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (data + pos)) : len - pos;

		ld.line++;
		switch (conf_parse_line(data + pos, line_len, &l)) {
		case CONF_LINE_BLANK:
			break;
		case CONF_LINE_ERROR:
			conf_loader_fail(&ld, "%s", l.error);
			goto fail;
		case CONF_LINE_SECTION:
			if (conf_on_section(&ld, &l) != 0)
				goto fail;
			break;
		case CONF_LINE_PAIR:
			if (conf_on_pair(&ld, &l) != 0)
				goto fail;
			break;
		}
		pos += line_len + (nl ? 1 : 0);
	}
	if (conf_check_required(&ld) != 0)
		goto fail;
	return ld.c;
fail:
	conf_free(&ld.c);
	return NULL;
}

struct conf *
conf_load_file(const struct conf_section *sections, const char *path, char *err, size_t errcap)
{
	struct conf *c = NULL;
	char *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	/* One byte more than allowed, to tell "too large" from "exactly at the cap". */
	data = malloc(CONF_FILE_MAX + 1);
	if (data == NULL) {
		snprintf(err, errcap, "%s: out of memory", path);
		goto out;
	}
	while (len < CONF_FILE_MAX + 1) {
		n = read(fd, data + len, CONF_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	c = conf_load_buffer(sections, path, data, len, err, errcap);
out:
	free(data);
	close(fd);
	return c;
}

size_t
conf_count(const struct conf *c, const char *section)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nblocks; i++) {
		if (strcmp(c->blocks[i].sec->name, section) == 0)
			n++;
	}
	return n;
}

void *
conf_block(const struct conf *c, const char *section, size_t i)
{
	for (size_t b = 0; b < c->nblocks; b++) {
		if (strcmp(c->blocks[b].sec->name, section) != 0)
			continue;
		if (i == 0)
			return c->blocks[b].data;
		i--;
	}
	return NULL;
}

int
conf_fail(const struct conf *c, const void *block, const char *key, char *err, size_t errcap,
	  const char *fmt, ...)
{
	const struct conf_blockrec *r = NULL;
	char title[2 * CONF_NAME_MAX + 4];
	unsigned line = 0;
	va_list ap;
	int n;

	for (size_t b = 0; b < c->nblocks; b++) {
		if (c->blocks[b].data == block)
			r = &c->blocks[b];
	}
	if (r == NULL) {
		n = snprintf(err, errcap, "%s: ", c->file);
	} else {
		line = r->line;
		for (size_t i = 0; key != NULL && r->sec->keys[i].name != NULL; i++) {
			if (strcmp(r->sec->keys[i].name, key) == 0 && r->key_lines[i] != 0)
				line = r->key_lines[i];
		}
		conf_block_title(r, title, sizeof(title));
		if (line != 0)
			n = snprintf(err, errcap, "%s:%u: %s%s%s: ", c->file, line, title,
				     key ? " " : "", key ? key : "");
		else
			n = snprintf(err, errcap, "%s: %s%s%s: ", c->file, title, key ? " " : "",
				     key ? key : "");
	}
	if (n >= 0 && (size_t)n < errcap) {
		va_start(ap, fmt);
		vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}
