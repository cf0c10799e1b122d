/*
 * Unit tests for shared/conf: the line parser (every kind of line and every
 * error), and the loader against a test schema that uses every conf_type:
 * values, defaults, labels, every error with its exact message and line,
 * the limits (line, file, list), comments, CRLF, NUL bytes, conf_fail,
 * conf_count and conf_block, and conf_load_file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"
#include "testutil.h"

#define T_FILE "test.conf"
#define T_TEXT_MAX 16384
#define T_RENDER_MAX 16384
#define T_MIB (1024LL * 1024)
#define T_GIB (1024LL * 1024 * 1024)
#define T_DAY_MS (24LL * 3600 * 1000)

/* ---- the test schema ---- */

struct tc_main {
	char *name;
	int64_t count;
	int enabled;
	int64_t timeout;
	int64_t limit;
	int mode;
	struct addr bind;
	struct addr peer;
	struct addr opt;
	struct conf_addr_list listen;
	struct conf_addr_list relays;
	struct conf_cidr_list allow;
	struct conf_string_list names;
};

struct tc_extra {
	char *note;
	int64_t weight;
};

struct tc_tenant {
	int64_t quota;
	char *owner;
	char *label;		/* not first, to prove label_offset is used */
	struct conf_string_list hostnames;
	int spam;
};

struct tc_route {
	char *label;		/* at offset 0 */
	struct addr via;
};

static const char *const tc_modes[] = { "sni", "starttls", "passthrough", "http", NULL };

#define MAIN_KEY(n, t, f, ...) \
	{ .name = n, .type = t, .offset = offsetof(struct tc_main, f), __VA_ARGS__ }
static const struct conf_key tc_main_keys[] = {
	MAIN_KEY("name", CONF_STRING, name, .flags = CONF_REQUIRED),
	MAIN_KEY("count", CONF_INT, count, .min = -5, .max = 100),
	MAIN_KEY("enabled", CONF_BOOL, enabled),
	MAIN_KEY("timeout", CONF_DURATION, timeout, .min = 1000, .max = T_DAY_MS),
	MAIN_KEY("limit", CONF_SIZE, limit, .min = 1, .max = T_GIB),
	MAIN_KEY("mode", CONF_ENUM, mode, .words = tc_modes),
	MAIN_KEY("bind", CONF_ADDR, bind),
	MAIN_KEY("peer", CONF_ADDR, peer, .flags = CONF_PORT_REQUIRED),
	MAIN_KEY("opt", CONF_ADDR, opt, .flags = CONF_PORT_OPTIONAL),
	MAIN_KEY("listen", CONF_ADDR_LIST, listen, .flags = CONF_PORT_REQUIRED),
	MAIN_KEY("relays", CONF_ADDR_LIST, relays),
	MAIN_KEY("allow", CONF_CIDR_LIST, allow),
	MAIN_KEY("names", CONF_STRING_LIST, names),
	{ .name = NULL },
};

static const struct conf_key tc_extra_keys[] = {
	{ .name = "note", .type = CONF_STRING, .offset = offsetof(struct tc_extra, note) },
	{ .name = "weight", .type = CONF_INT, .offset = offsetof(struct tc_extra, weight),
	  .min = 0, .max = 10 },
	{ .name = NULL },
};

#define TENANT_KEY(n, t, f, ...) \
	{ .name = n, .type = t, .offset = offsetof(struct tc_tenant, f), __VA_ARGS__ }
static const struct conf_key tc_tenant_keys[] = {
	TENANT_KEY("owner", CONF_STRING, owner, .flags = CONF_REQUIRED),
	TENANT_KEY("quota", CONF_SIZE, quota, .min = 0, .max = INT64_MAX),
	TENANT_KEY("hostnames", CONF_STRING_LIST, hostnames),
	TENANT_KEY("spam", CONF_BOOL, spam),
	{ .name = NULL },
};

static const struct conf_key tc_route_keys[] = {
	{ .name = "via", .type = CONF_ADDR, .offset = offsetof(struct tc_route, via),
	  .flags = CONF_PORT_OPTIONAL },
	{ .name = NULL },
};

static void
tc_main_defaults(void *block)
{
	struct tc_main *m = block;

	m->count = 7;
	m->enabled = 1;
	m->timeout = 30000;
	m->limit = T_MIB;
	m->mode = 2;
	addr_parse("127.0.0.1", 9, ADDR_PORT_NONE, &m->bind);
}

static void
tc_tenant_defaults(void *block)
{
	struct tc_tenant *t = block;

	t->quota = 10 * T_MIB;
	t->spam = 1;
}

static const struct conf_section tc_sections[] = {
	{ .name = "main", .flags = CONF_SECTION_REQUIRED, .keys = tc_main_keys,
	  .block_size = sizeof(struct tc_main), .init = tc_main_defaults },
	{ .name = "extra", .flags = 0, .keys = tc_extra_keys,
	  .block_size = sizeof(struct tc_extra), .init = NULL },
	{ .name = "tenant", .flags = CONF_SECTION_LABELLED, .keys = tc_tenant_keys,
	  .block_size = sizeof(struct tc_tenant), .init = tc_tenant_defaults,
	  .label_offset = offsetof(struct tc_tenant, label) },
	{ .name = "route", .flags = CONF_SECTION_LABELLED, .keys = tc_route_keys,
	  .block_size = sizeof(struct tc_route), .init = NULL,
	  .label_offset = offsetof(struct tc_route, label) },
	{ .name = NULL },
};

/* A schema whose labelled section is required. */
static const struct conf_section tc_sections_need_tenant[] = {
	{ .name = "tenant", .flags = CONF_SECTION_LABELLED | CONF_SECTION_REQUIRED,
	  .keys = tc_tenant_keys, .block_size = sizeof(struct tc_tenant),
	  .label_offset = offsetof(struct tc_tenant, label) },
	{ .name = NULL },
};

/* An optional unlabelled section with a required key. */
struct tc_opt {
	char *k;
};

static const struct conf_key tc_opt_keys[] = {
	{ .name = "k", .type = CONF_STRING, .offset = offsetof(struct tc_opt, k),
	  .flags = CONF_REQUIRED },
	{ .name = NULL },
};

static const struct conf_section tc_sections_opt[] = {
	{ .name = "opt", .keys = tc_opt_keys, .block_size = sizeof(struct tc_opt) },
	{ .name = NULL },
};

/* ---- helpers ---- */

static struct conf *
t_load_schema(const struct conf_section *sections, const char *text, size_t len, char *err)
{
	memset(err, 'Z', CONF_ERROR_MAX);
	return conf_load_buffer(sections, T_FILE, text, len, err, CONF_ERROR_MAX);
}

static struct conf *
t_load_len(const char *text, size_t len)
{
	char err[CONF_ERROR_MAX];
	struct conf *c = t_load_schema(tc_sections, text, len, err);

	if (c == NULL)
		fail_msg("did not load: %s\n--\n%.*s--", err, (int)len, text);
	return c;
}

static struct conf *
t_load(const char *text)
{
	return t_load_len(text, strlen(text));
}

/* Loading text against sections must fail with exactly want. */
static void
t_fail_schema(const struct conf_section *sections, const char *text, size_t len,
	      const char *want)
{
	char err[CONF_ERROR_MAX];
	struct conf *c = t_load_schema(sections, text, len, err);

	if (c != NULL) {
		conf_free(&c);
		fail_msg("loaded, want error \"%s\"\n--\n%.*s--", want, (int)len, text);
	}
	if (strcmp(err, want) != 0)
		fail_msg("error\n  \"%s\"\nwant\n  \"%s\"", err, want);
}

static void
t_fail(const char *text, const char *want)
{
	t_fail_schema(tc_sections, text, strlen(text), want);
}

static const struct conf_key *
t_key(const char *name)
{
	for (size_t i = 0; tc_main_keys[i].name != NULL; i++) {
		if (strcmp(tc_main_keys[i].name, name) == 0)
			return &tc_main_keys[i];
	}
	fail_msg("no key %s", name);
	return NULL;
}

/* Append to out[0..cap) at *o. */
static void
t_put(char *out, size_t cap, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
t_put(char *out, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *o)
		fail_msg("render buffer too small");
	*o += (size_t)n;
}

/* The value of key k in block, as text: numbers in decimal, lists joined. */
static void
t_render(const void *block, const struct conf_key *k, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)block + k->offset;
	char one[ADDR_TEXT_MAX];
	size_t o = 0;

	out[0] = '\0';
	switch (k->type) {
	case CONF_STRING: {
		const char *s;
		memcpy(&s, p, sizeof(s));
		t_put(out, cap, &o, "%s", s ? s : "(null)");
		break;
	}
	case CONF_INT:
	case CONF_DURATION:
	case CONF_SIZE: {
		int64_t v;
		memcpy(&v, p, sizeof(v));
		t_put(out, cap, &o, "%lld", (long long)v);
		break;
	}
	case CONF_BOOL:
	case CONF_ENUM: {
		int v;
		memcpy(&v, p, sizeof(v));
		t_put(out, cap, &o, "%d", v);
		break;
	}
	case CONF_ADDR: {
		struct addr a;
		memcpy(&a, p, sizeof(a));
		t_put(out, cap, &o, "%s", a.len ? addr_format(&a, one, sizeof(one)) : "(none)");
		break;
	}
	case CONF_ADDR_LIST: {
		struct conf_addr_list l;
		memcpy(&l, p, sizeof(l));
		for (size_t i = 0; i < l.n; i++)
			t_put(out, cap, &o, "%s%s", i ? "," : "", addr_format(&l.v[i], one, sizeof(one)));
		break;
	}
	case CONF_CIDR_LIST: {
		struct conf_cidr_list l;
		memcpy(&l, p, sizeof(l));
		for (size_t i = 0; i < l.n; i++)
			t_put(out, cap, &o, "%s%s", i ? "," : "", cidr_format(&l.v[i], one, sizeof(one)));
		break;
	}
	case CONF_STRING_LIST: {
		struct conf_string_list l;
		memcpy(&l, p, sizeof(l));
		for (size_t i = 0; i < l.n; i++)
			t_put(out, cap, &o, "%s%s", i ? "|" : "", l.v[i]);
		break;
	}
	}
}

static void
t_check_main(const struct tc_main *m, const char *key, const char *want)
{
	char got[T_RENDER_MAX];

	t_render(m, t_key(key), got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("[main] %s = \"%s\", want \"%s\"", key, got, want);
}

/* ---- conf_parse_line ---- */

struct line_case {
	const char *line;
	size_t len;		/* 0: strlen(line) */
	enum conf_line_kind kind;
	const char *name;	/* name, or error text for CONF_LINE_ERROR */
	const char *label;	/* NULL: none */
	const char *value;
};

#define E_NAME "section name must be lowercase letters, digits or '_'"
#define E_LABEL "section label must be letters, digits or . _ - @ * +"
#define E_KEY "expected 'key = value' (keys are lowercase letters, digits or '_')"
#define E_PAIR "expected 'key = value'"
#define E_CTRL "control character in line"

static const struct line_case line_cases[] = {
	/* Blank lines and comments. */
	{ "", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "   ", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ " \t ", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "\r", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "# comment", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "#", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "   # indented = comment", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "; comment", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "\t;[main]", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	{ "# comment\r", 0, CONF_LINE_BLANK, NULL, NULL, NULL },
	/* Sections. */
	{ "[main]", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "  [main]  ", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[ main ]", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[main]\r", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[main] # comment", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[main]# comment", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[main] ; comment", 0, CONF_LINE_SECTION, "main", NULL, NULL },
	{ "[s_2]", 0, CONF_LINE_SECTION, "s_2", NULL, NULL },
	{ "[tenant alice]", 0, CONF_LINE_SECTION, "tenant", "alice", NULL },
	{ "[tenant \t alice]", 0, CONF_LINE_SECTION, "tenant", "alice", NULL },
	{ "[ tenant alice ]", 0, CONF_LINE_SECTION, "tenant", "alice", NULL },
	{ "[tenant ]", 0, CONF_LINE_SECTION, "tenant", NULL, NULL },
	{ "[tenant Alice.Example-1_x@y*+z]", 0, CONF_LINE_SECTION, "tenant",
	  "Alice.Example-1_x@y*+z", NULL },
	{ "[tenant *.example.test]", 0, CONF_LINE_SECTION, "tenant", "*.example.test", NULL },
	{ "[main", 0, CONF_LINE_ERROR, "section header without ']'", NULL, NULL },
	{ "[", 0, CONF_LINE_ERROR, "section header without ']'", NULL, NULL },
	{ "[main] x", 0, CONF_LINE_ERROR, "text after section header", NULL, NULL },
	{ "[main]]", 0, CONF_LINE_ERROR, "text after section header", NULL, NULL },
	{ "[main][extra]", 0, CONF_LINE_ERROR, "text after section header", NULL, NULL },
	{ "[]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[ ]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[Main]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[-main]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[ma-in]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[main.x]", 0, CONF_LINE_ERROR, E_NAME, NULL, NULL },
	{ "[tenant alice bob]", 0, CONF_LINE_ERROR, E_LABEL, NULL, NULL },
	{ "[tenant al/ice]", 0, CONF_LINE_ERROR, E_LABEL, NULL, NULL },
	{ "[tenant al\"ice]", 0, CONF_LINE_ERROR, E_LABEL, NULL, NULL },
	{ "[tenant #x]", 0, CONF_LINE_ERROR, E_LABEL, NULL, NULL },
	{ "[tenant caf\xc3\xa9]", 0, CONF_LINE_ERROR, E_LABEL, NULL, NULL },
	/* Pairs. */
	{ "key = value", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key=value", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "  key  =  value  ", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key\t=\tvalue\t", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = two  words", 0, CONF_LINE_PAIR, "key", NULL, "two  words" },
	{ "key = a\tb", 0, CONF_LINE_PAIR, "key", NULL, "a\tb" },
	{ "key =", 0, CONF_LINE_PAIR, "key", NULL, "" },
	{ "key =   ", 0, CONF_LINE_PAIR, "key", NULL, "" },
	{ "key = a = b", 0, CONF_LINE_PAIR, "key", NULL, "a = b" },
	{ "key = value # comment", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = value\t# comment", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = value #", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = value#not", 0, CONF_LINE_PAIR, "key", NULL, "value#not" },
	{ "key = # only a comment", 0, CONF_LINE_PAIR, "key", NULL, "" },
	{ "key = a # b # c", 0, CONF_LINE_PAIR, "key", NULL, "a" },
	{ "key = a ; b", 0, CONF_LINE_PAIR, "key", NULL, "a ; b" },
	{ "key = value\r", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = value # c\r", 0, CONF_LINE_PAIR, "key", NULL, "value" },
	{ "key = caf\xc3\xa9", 0, CONF_LINE_PAIR, "key", NULL, "caf\xc3\xa9" },
	{ "key_2 = [x]", 0, CONF_LINE_PAIR, "key_2", NULL, "[x]" },
	{ "2key = v", 0, CONF_LINE_PAIR, "2key", NULL, "v" },
	{ "Key = v", 0, CONF_LINE_ERROR, E_KEY, NULL, NULL },
	{ "= v", 0, CONF_LINE_ERROR, E_KEY, NULL, NULL },
	{ "-key = v", 0, CONF_LINE_ERROR, E_KEY, NULL, NULL },
	{ "\"key\" = v", 0, CONF_LINE_ERROR, E_KEY, NULL, NULL },
	{ "key", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	{ "key value", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	{ "key: value", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	{ "key-x = v", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	{ "kEy = v", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	{ "key # = v", 0, CONF_LINE_ERROR, E_PAIR, NULL, NULL },
	/* Control characters, anywhere, even in comments; tab is fine. */
	{ "key = a\0b", 9, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "\0", 1, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "# a\0b", 5, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\x01", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\x1b[0m", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\x7f", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\rb", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\r\r", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "[main]\x0b", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	{ "key = a\n", 0, CONF_LINE_ERROR, E_CTRL, NULL, NULL },
	/* Only len bytes count. */
	{ "key = value", 9, CONF_LINE_PAIR, "key", NULL, "val" },
	{ "[main]junk", 6, CONF_LINE_SECTION, "main", NULL, NULL },
};

static void
t_check_span(size_t i, const char *what, const char *p, size_t len, const char *want)
{
	if (want == NULL) {
		if (p != NULL)
			fail_msg("case %zu: %s \"%.*s\", want none", i, what, (int)len, p);
		return;
	}
	if (p == NULL || len != strlen(want) || memcmp(p, want, len) != 0)
		fail_msg("case %zu: %s \"%.*s\", want \"%s\"", i, what, p ? (int)len : 6,
			 p ? p : "(null)", want);
}

static void
test_conf_parse_line_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct conf_line l;
		enum conf_line_kind kind;

		memset(&l, 0xa5, sizeof(l));
		kind = conf_parse_line(c->line, len, &l);
		if (kind != c->kind || l.kind != kind)
			fail_msg("case %zu '%s': kind %d (stored %d), want %d", i, c->line, kind,
				 l.kind, c->kind);
		switch (kind) {
		case CONF_LINE_BLANK:
			break;
		case CONF_LINE_ERROR:
			if (l.error == NULL || strcmp(l.error, c->name) != 0)
				fail_msg("case %zu '%s': error \"%s\", want \"%s\"", i, c->line,
					 l.error ? l.error : "(null)", c->name);
			break;
		case CONF_LINE_SECTION:
			t_check_span(i, "name", l.name, l.name_len, c->name);
			t_check_span(i, "label", l.label, l.label_len, c->label);
			break;
		case CONF_LINE_PAIR:
			t_check_span(i, "name", l.name, l.name_len, c->name);
			t_check_span(i, "value", l.value, l.value_len, c->value);
			if (l.label != NULL)
				fail_msg("case %zu: a pair with a label", i);
			/* Pointers point into the line. */
			if (l.value < c->line || l.value + l.value_len > c->line + len)
				fail_msg("case %zu: value outside the line", i);
			break;
		}
	}
}

/* A name, label or key of n bytes: at CONF_NAME_MAX fine, one more too long. */
static void
test_conf_parse_line_lengths(void **state)
{
	char *line = malloc(CONF_LINE_MAX + 16);
	char name[CONF_NAME_MAX + 2];
	struct conf_line l;

	(void)state;
	assert_non_null(line);
	memset(name, 'n', sizeof(name));

	/* Section names. */
	snprintf(line, CONF_LINE_MAX, "[%.*s]", CONF_NAME_MAX, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_SECTION);
	assert_int_equal(l.name_len, CONF_NAME_MAX);
	snprintf(line, CONF_LINE_MAX, "[%.*s]", CONF_NAME_MAX + 1, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_ERROR);
	assert_string_equal(l.error, "section name too long");

	/* Labels. */
	snprintf(line, CONF_LINE_MAX, "[s %.*s]", CONF_NAME_MAX, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_SECTION);
	assert_int_equal(l.label_len, CONF_NAME_MAX);
	snprintf(line, CONF_LINE_MAX, "[s %.*s]", CONF_NAME_MAX + 1, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_ERROR);
	assert_string_equal(l.error, "section label too long");

	/* Keys. */
	snprintf(line, CONF_LINE_MAX, "%.*s = v", CONF_NAME_MAX, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_PAIR);
	assert_int_equal(l.name_len, CONF_NAME_MAX);
	snprintf(line, CONF_LINE_MAX, "%.*s = v", CONF_NAME_MAX + 1, name);
	assert_int_equal(conf_parse_line(line, strlen(line), &l), CONF_LINE_ERROR);
	assert_string_equal(l.error, "key too long");

	/* The line: CONF_LINE_MAX bytes fine (and a CR on top), one more too long. */
	memset(line, 'v', CONF_LINE_MAX + 2);
	memcpy(line, "k = ", 4);
	assert_int_equal(conf_parse_line(line, CONF_LINE_MAX, &l), CONF_LINE_PAIR);
	assert_int_equal(l.value_len, CONF_LINE_MAX - 4);
	line[CONF_LINE_MAX] = '\r';
	assert_int_equal(conf_parse_line(line, CONF_LINE_MAX + 1, &l), CONF_LINE_PAIR);
	assert_int_equal(l.value_len, CONF_LINE_MAX - 4);
	line[CONF_LINE_MAX] = 'v';
	assert_int_equal(conf_parse_line(line, CONF_LINE_MAX + 1, &l), CONF_LINE_ERROR);
	assert_string_equal(l.error, "line too long");
	/* Even when it is a comment. */
	line[0] = '#';
	assert_int_equal(conf_parse_line(line, CONF_LINE_MAX + 1, &l), CONF_LINE_ERROR);
	assert_string_equal(l.error, "line too long");
	assert_int_equal(conf_parse_line(line, CONF_LINE_MAX, &l), CONF_LINE_BLANK);
	free(line);
}

/* ---- loading: every value ---- */

static const char t_full[] =
	"# test configuration\n"
	"[main]\n"
	"name = relay.example.test\n"
	"count = -5\n"
	"enabled = no\n"
	"timeout = 5m\n"
	"limit = 64K\n"
	"mode = http\n"
	"bind = 2001:db8::1\n"
	"peer = [2001:db8::2]:587\n"
	"opt = 192.0.2.9\n"
	"listen = 192.0.2.1:25, [2001:db8::1]:25\n"
	"relays = 198.51.100.1,2001:db8::3\n"
	"allow = 192.0.2.0/24, 2001:db8::/32, 198.51.100.7\n"
	"names = a.test, *.b.test ,c\n"
	"\n"
	"[extra]\n"
	"note = hello  world   # trailing comment\n"
	"weight = 3\n"
	"\n"
	"[tenant alice]\n"
	"owner = Alice Example\n"
	"quota = 50M\n"
	"hostnames = mail.alice.test, *.alice.test\n"
	"spam = off\n"
	"\n"
	"[tenant bob]\n"
	"owner = bob\n"
	"\n"
	"[route r1.example]\n"
	"via = [2001:db8::99]:2525\n"
	"[route r2]\n";

/* Everything t_full sets, checked exactly. */
static void
t_check_full(const struct conf *c)
{
	const struct tc_main *m = conf_block(c, "main", 0);
	const struct tc_extra *x = conf_block(c, "extra", 0);
	const struct tc_tenant *alice, *bob;
	const struct tc_route *r1, *r2;
	char out[ADDR_TEXT_MAX];

	assert_non_null(m);
	t_check_main(m, "name", "relay.example.test");
	t_check_main(m, "count", "-5");
	t_check_main(m, "enabled", "0");
	t_check_main(m, "timeout", "300000");
	t_check_main(m, "limit", "65536");
	t_check_main(m, "mode", "3");
	t_check_main(m, "bind", "2001:db8::1");
	t_check_main(m, "peer", "[2001:db8::2]:587");
	t_check_main(m, "opt", "192.0.2.9");
	t_check_main(m, "listen", "192.0.2.1:25,[2001:db8::1]:25");
	t_check_main(m, "relays", "198.51.100.1,2001:db8::3");
	t_check_main(m, "allow", "192.0.2.0/24,2001:db8::/32,198.51.100.7/32");
	t_check_main(m, "names", "a.test|*.b.test|c");

	assert_non_null(x);
	assert_string_equal(x->note, "hello  world");
	assert_int_equal(x->weight, 3);

	assert_int_equal(conf_count(c, "main"), 1);
	assert_int_equal(conf_count(c, "extra"), 1);
	assert_int_equal(conf_count(c, "tenant"), 2);
	assert_int_equal(conf_count(c, "route"), 2);

	/* Blocks in file order; labels at label_offset; init ran for each. */
	alice = conf_block(c, "tenant", 0);
	bob = conf_block(c, "tenant", 1);
	assert_non_null(alice);
	assert_non_null(bob);
	assert_null(conf_block(c, "tenant", 2));
	assert_string_equal(alice->label, "alice");
	assert_string_equal(alice->owner, "Alice Example");
	assert_int_equal(alice->quota, 50 * T_MIB);
	assert_int_equal(alice->hostnames.n, 2);
	assert_string_equal(alice->hostnames.v[0], "mail.alice.test");
	assert_string_equal(alice->hostnames.v[1], "*.alice.test");
	assert_int_equal(alice->spam, 0);
	assert_string_equal(bob->label, "bob");
	assert_string_equal(bob->owner, "bob");
	assert_int_equal(bob->quota, 10 * T_MIB);
	assert_int_equal(bob->hostnames.n, 0);
	assert_null(bob->hostnames.v);
	assert_int_equal(bob->spam, 1);

	r1 = conf_block(c, "route", 0);
	r2 = conf_block(c, "route", 1);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_string_equal(r1->label, "r1.example");
	assert_string_equal(addr_format(&r1->via, out, sizeof(out)), "[2001:db8::99]:2525");
	assert_string_equal(r2->label, "r2");
	assert_int_equal(r2->via.len, 0);
}

static void
test_conf_load_full(void **state)
{
	struct conf *c;

	(void)state;
	c = t_load(t_full);
	t_check_full(c);
	conf_free(&c);
	assert_null(c);
	conf_free(&c);
	assert_null(c);
}

static void
test_conf_defaults(void **state)
{
	struct conf *c;
	const struct tc_main *m;
	const struct tc_extra *x;

	(void)state;
	c = t_load("[main]\nname = n\n");
	m = conf_block(c, "main", 0);
	assert_non_null(m);
	/* From init. */
	t_check_main(m, "count", "7");
	t_check_main(m, "enabled", "1");
	t_check_main(m, "timeout", "30000");
	t_check_main(m, "limit", "1048576");
	t_check_main(m, "mode", "2");
	t_check_main(m, "bind", "127.0.0.1");
	/* Not in init: zero. */
	t_check_main(m, "peer", "(none)");
	t_check_main(m, "listen", "");
	assert_null(m->listen.v);
	assert_int_equal(m->allow.n, 0);
	assert_int_equal(m->names.n, 0);

	/* An absent unlabelled section still has one block, zeroed (no init). */
	assert_int_equal(conf_count(c, "extra"), 1);
	x = conf_block(c, "extra", 0);
	assert_non_null(x);
	assert_null(x->note);
	assert_int_equal(x->weight, 0);
	assert_null(conf_block(c, "extra", 1));

	/* An absent labelled section has none. */
	assert_int_equal(conf_count(c, "tenant"), 0);
	assert_null(conf_block(c, "tenant", 0));
	/* Unknown names. */
	assert_int_equal(conf_count(c, "nosuch"), 0);
	assert_null(conf_block(c, "nosuch", 0));
	conf_free(&c);

	/* Setting a key to its default's value, or another, replaces it. */
	c = t_load("[main]\nname = n\ncount = 7\nenabled = off\nbind = 192.0.2.1\n");
	m = conf_block(c, "main", 0);
	t_check_main(m, "count", "7");
	t_check_main(m, "enabled", "0");
	t_check_main(m, "bind", "192.0.2.1");
	conf_free(&c);
}

/* ---- loading: every type, good and bad values ---- */

struct value_case {
	const char *key;
	const char *value;
	const char *want;	/* rendered, or NULL for an error */
};

static const struct value_case value_cases[] = {
	{ "name", "x", "x" },
	{ "name", "two words", "two words" },
	{ "name", "a#b", "a#b" },
	{ "name", "a\tb", "a\tb" },
	{ "name", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "name", "", NULL },
	{ "count", "0", "0" },
	{ "count", "100", "100" },
	{ "count", "-5", "-5" },
	{ "count", "007", "7" },
	{ "count", "101", NULL },
	{ "count", "-6", NULL },
	{ "count", "1.5", NULL },
	{ "count", "0x10", NULL },
	{ "count", "+5", NULL },
	{ "count", "5 5", NULL },
	{ "count", "five", NULL },
	{ "count", "", NULL },
	{ "count", "99999999999999999999", NULL },
	{ "enabled", "yes", "1" },
	{ "enabled", "true", "1" },
	{ "enabled", "on", "1" },
	{ "enabled", "no", "0" },
	{ "enabled", "false", "0" },
	{ "enabled", "off", "0" },
	{ "enabled", "Yes", NULL },
	{ "enabled", "TRUE", NULL },
	{ "enabled", "1", NULL },
	{ "enabled", "0", NULL },
	{ "enabled", "y", NULL },
	{ "enabled", "yess", NULL },
	{ "enabled", "", NULL },
	{ "timeout", "1s", "1000" },
	{ "timeout", "1000ms", "1000" },
	{ "timeout", "250000ms", "250000" },
	{ "timeout", "30s", "30000" },
	{ "timeout", "5m", "300000" },
	{ "timeout", "2h", "7200000" },
	{ "timeout", "1d", "86400000" },
	{ "timeout", "86400s", "86400000" },
	{ "timeout", "1440m", "86400000" },
	{ "timeout", "86400001ms", NULL },
	{ "timeout", "2d", NULL },
	{ "timeout", "25h", NULL },
	{ "timeout", "999ms", NULL },
	{ "timeout", "0s", NULL },
	{ "timeout", "30", NULL },
	{ "timeout", "5000", NULL },
	{ "timeout", "30S", NULL },
	{ "timeout", "30 s", NULL },
	{ "timeout", "30sec", NULL },
	{ "timeout", "1.5s", NULL },
	{ "timeout", "-1s", NULL },
	{ "timeout", "s", NULL },
	{ "timeout", "", NULL },
	{ "timeout", "1m30s", NULL },
	{ "timeout", "106751991168d", NULL },
	{ "timeout", "99999999999999999999ms", NULL },
	{ "limit", "1", "1" },
	{ "limit", "1000", "1000" },
	{ "limit", "64K", "65536" },
	{ "limit", "64k", "65536" },
	{ "limit", "50M", "52428800" },
	{ "limit", "50m", "52428800" },
	{ "limit", "1G", "1073741824" },
	{ "limit", "1g", "1073741824" },
	{ "limit", "1048576K", "1073741824" },
	{ "limit", "1073741824", "1073741824" },
	{ "limit", "1073741825", NULL },
	{ "limit", "1048577K", NULL },
	{ "limit", "2G", NULL },
	{ "limit", "0", NULL },
	{ "limit", "0K", NULL },
	{ "limit", "64KB", NULL },
	{ "limit", "64KiB", NULL },
	{ "limit", "64 K", NULL },
	{ "limit", "K", NULL },
	{ "limit", "1.5M", NULL },
	{ "limit", "-1", NULL },
	{ "limit", "1T", NULL },
	{ "limit", "8589934592G", NULL },
	{ "mode", "sni", "0" },
	{ "mode", "starttls", "1" },
	{ "mode", "passthrough", "2" },
	{ "mode", "http", "3" },
	{ "mode", "SNI", NULL },
	{ "mode", "sn", NULL },
	{ "mode", "sniff", NULL },
	{ "mode", "sni,http", NULL },
	{ "mode", "", NULL },
	{ "bind", "192.0.2.1", "192.0.2.1" },
	{ "bind", "2001:db8::1", "2001:db8::1" },
	{ "bind", "[2001:db8::1]", "2001:db8::1" },
	{ "bind", "192.0.2.1:25", NULL },
	{ "bind", "[2001:db8::1]:25", NULL },
	{ "bind", "example.test", NULL },
	{ "bind", "", NULL },
	{ "peer", "192.0.2.1:25", "192.0.2.1:25" },
	{ "peer", "[2001:db8::1]:25", "[2001:db8::1]:25" },
	{ "peer", "192.0.2.1", NULL },
	{ "peer", "2001:db8::1", NULL },
	{ "peer", "192.0.2.1:0", NULL },
	{ "peer", "192.0.2.1:65536", NULL },
	{ "opt", "192.0.2.1", "192.0.2.1" },
	{ "opt", "192.0.2.1:25", "192.0.2.1:25" },
	{ "opt", "[2001:db8::1]:25", "[2001:db8::1]:25" },
	{ "opt", "2001:db8::1", "2001:db8::1" },
	{ "opt", "192.0.2.1:", NULL },
	{ "opt", "192.0.2.1, 192.0.2.2", NULL },
	{ "listen", "192.0.2.1:25", "192.0.2.1:25" },
	{ "listen", "192.0.2.1:25 , [2001:db8::1]:587", "192.0.2.1:25,[2001:db8::1]:587" },
	{ "listen", "192.0.2.1:25,192.0.2.1:25", "192.0.2.1:25,192.0.2.1:25" },
	{ "listen", "", "" },
	{ "listen", "192.0.2.1:25,", NULL },
	{ "listen", ",192.0.2.1:25", NULL },
	{ "listen", "192.0.2.1:25,,192.0.2.2:25", NULL },
	{ "listen", "192.0.2.1:25, ,192.0.2.2:25", NULL },
	{ "listen", ",", NULL },
	{ "listen", "192.0.2.1:25, 192.0.2.2", NULL },
	{ "listen", "192.0.2.1:25; 192.0.2.2:25", NULL },
	{ "relays", "198.51.100.1 , 2001:db8::3", "198.51.100.1,2001:db8::3" },
	{ "relays", "198.51.100.1:25", NULL },
	{ "relays", "198.51.100.1 198.51.100.2", NULL },
	{ "allow", "192.0.2.0/24", "192.0.2.0/24" },
	{ "allow", "192.0.2.0/24,2001:db8::/32, 198.51.100.7",
	  "192.0.2.0/24,2001:db8::/32,198.51.100.7/32" },
	{ "allow", "", "" },
	{ "allow", "192.0.2.1/24", NULL },
	{ "allow", "192.0.2.0/24,,2001:db8::/32", NULL },
	{ "allow", "192.0.2.0/024", NULL },
	{ "allow", "::ffff:192.0.2.0/120", NULL },
	{ "allow", "192.0.2.0/24,", NULL },
	{ "names", "a", "a" },
	{ "names", "a.test, *.b.test ,c", "a.test|*.b.test|c" },
	{ "names", "a b, c", "a b|c" },
	{ "names", "a,a", "a|a" },
	{ "names", "", "" },
	{ "names", "a,,b", NULL },
	{ "names", "a,", NULL },
	{ "names", ",a", NULL },
	{ "names", "a, ,b", NULL },
};

/* What the loader says a key expects. */
static const struct {
	const char *key;
	const char *expected;
} expected_texts[] = {
	{ "name", "expected a non-empty value" },
	{ "count", "expected a whole number from -5 to 100" },
	{ "enabled", "expected yes or no" },
	{ "timeout", "expected a duration like 30s or 5m (ms, s, m, h, d), from 1000ms to 86400000ms" },
	{ "limit", "expected a size like 64K or 50M, from 1 to 1073741824 bytes" },
	{ "mode", "expected one of sni, starttls, passthrough, http" },
	{ "bind", "expected an address without port, like 192.0.2.1 or 2001:db8::1" },
	{ "peer", "expected an address with port, like 192.0.2.1:25 or [2001:db8::1]:25" },
	{ "opt", "expected an address like 192.0.2.1 or 192.0.2.1:25" },
	{ "listen", "expected a comma-separated list of addresses with port, like 192.0.2.1:25 or [2001:db8::1]:25" },
	{ "relays", "expected a comma-separated list of addresses without port, like 192.0.2.1 or 2001:db8::1" },
	{ "allow", "expected a comma-separated list of prefixes like 192.0.2.0/24 or 2001:db8::/32 (host bits zero)" },
	{ "names", "expected a comma-separated list without empty items" },
};

static const char *
t_expected(const char *key)
{
	for (size_t i = 0; i < sizeof(expected_texts) / sizeof(expected_texts[0]); i++) {
		if (strcmp(expected_texts[i].key, key) == 0)
			return expected_texts[i].expected;
	}
	fail_msg("no expected text for %s", key);
	return NULL;
}

static void
test_conf_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		const struct value_case *v = &value_cases[i];
		int is_name = strcmp(v->key, "name") == 0;
		char text[T_TEXT_MAX], want[T_TEXT_MAX];
		struct conf *c;

		if (is_name)
			snprintf(text, sizeof(text), "[main]\nname = %s\n", v->value);
		else
			snprintf(text, sizeof(text), "[main]\nname = n\n%s = %s\n", v->key, v->value);
		if (v->want == NULL) {
			/* The value has nothing to escape, so it is quoted as it is. */
			assert_null(strpbrk(v->value, "\"\\\t"));
			snprintf(want, sizeof(want), T_FILE ":%d: [main] %s: %s, not \"%s\"",
				 is_name ? 2 : 3, v->key, t_expected(v->key), v->value);
			t_fail(text, want);
			continue;
		}
		c = t_load(text);
		t_check_main(conf_block(c, "main", 0), v->key, v->want);
		conf_free(&c);
	}
}

static void
test_conf_value_quoting(void **state)
{
	char text[T_TEXT_MAX], want[T_TEXT_MAX], value[CONF_LINE_MAX];

	(void)state;
	/* Quotes, backslashes and tabs are escaped in the message. */
	t_fail("[main]\nname = n\nmode = \"sni\"\n",
	       T_FILE ":3: [main] mode: expected one of sni, starttls, passthrough, http, "
	       "not \"\\\"sni\\\"\"");
	t_fail("[main]\nname = n\ncount = 1\\2\n",
	       T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"1\\\\2\"");
	t_fail("[main]\nname = n\ncount = 1\t2\n",
	       T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"1\\x092\"");
	t_fail("[main]\nname = n\ncount = caf\xc3\xa9\n",
	       T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"caf\\xc3\\xa9\"");
	/* The quoted value is trimmed and without its comment. */
	t_fail("[main]\nname = n\ncount =   200   # too many\n",
	       T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"200\"");

	/* A long value is quoted whole while it fits (79 bytes)... */
	memset(value, 'x', 79);
	value[79] = '\0';
	snprintf(text, sizeof(text), "[main]\nname = n\nmode = %s\n", value);
	snprintf(want, sizeof(want),
		 T_FILE ":3: [main] mode: expected one of sni, starttls, passthrough, http, not \"%s\"",
		 value);
	t_fail(text, want);
	/* ...and cut, marked, from 80 bytes on. */
	for (size_t len = 80; len < 4000; len += 1000) {
		memset(value, 'x', len);
		value[len] = '\0';
		snprintf(text, sizeof(text), "[main]\nname = n\nmode = %s\n", value);
		snprintf(want, sizeof(want),
			 T_FILE ":3: [main] mode: expected one of sni, starttls, passthrough, http, "
			 "not \"%.76s...\"", value);
		t_fail(text, want);
	}
}

/* Items in the list value of key k in block. */
static size_t
t_list_len(const void *block, const struct conf_key *k)
{
	const unsigned char *p = (const unsigned char *)block + k->offset;
	struct conf_addr_list al;
	struct conf_cidr_list cl;
	struct conf_string_list sl;

	switch (k->type) {
	case CONF_ADDR_LIST:
		memcpy(&al, p, sizeof(al));
		return al.n;
	case CONF_CIDR_LIST:
		memcpy(&cl, p, sizeof(cl));
		return cl.n;
	case CONF_STRING_LIST:
		memcpy(&sl, p, sizeof(sl));
		return sl.n;
	default:
		fail_msg("%s is not a list", k->name);
	}
	return 0;
}

/* Item i (from 1) of a list of the type of key. */
static int
t_list_item(const char *key, char *out, size_t cap, unsigned i)
{
	if (strcmp(key, "listen") == 0)
		return snprintf(out, cap, "192.0.2.1:%u", i);
	if (strcmp(key, "names") == 0)
		return snprintf(out, cap, "n%u", i);
	/* relays, allow */
	return snprintf(out, cap, "2001:db8::%x", i);
}

/* A list of n items as a [main] line of key. */
static char *
t_list_file(const char *key, size_t n)
{
	char *text = malloc(T_TEXT_MAX);
	size_t o = 0;

	assert_non_null(text);
	o = (size_t)snprintf(text, T_TEXT_MAX, "[main]\nname = n\n%s = ", key);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			text[o++] = ',';
		o += (size_t)t_list_item(key, text + o, T_TEXT_MAX - o, (unsigned)(i + 1));
	}
	o += (size_t)snprintf(text + o, T_TEXT_MAX - o, "\n");
	assert_true(o < T_TEXT_MAX);
	return text;
}

static void
test_conf_list_limits(void **state)
{
	static const char *const lists[] = { "listen", "relays", "allow", "names" };

	(void)state;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		char want[T_TEXT_MAX];
		char *text;
		struct conf *c;
		const struct tc_main *m;
		const struct conf_key *k = t_key(lists[i]);
		size_t n;

		/* CONF_LIST_MAX items: all there, in order. */
		text = t_list_file(lists[i], CONF_LIST_MAX);
		assert_true(strlen(strchr(text + 15, '\n') + 1) <= CONF_LINE_MAX);
		c = t_load(text);
		m = conf_block(c, "main", 0);
		n = t_list_len(m, k);
		if (n != CONF_LIST_MAX)
			fail_msg("%s: %zu items", lists[i], n);
		conf_free(&c);
		free(text);

		/* One more: refused, with the usual message. */
		text = t_list_file(lists[i], CONF_LIST_MAX + 1);
		snprintf(want, sizeof(want), T_FILE ":3: [main] %s: %s, not \"%.76s...\"",
			 lists[i], t_expected(lists[i]), strchr(text + 15, '=') + 2);
		t_fail(text, want);
		free(text);
	}
}

/* ---- loading: structure errors ---- */

struct error_case {
	const char *text;
	const char *want;
};

static const struct error_case error_cases[] = {
	{ "[main]\nname = x\n[nope]\n", T_FILE ":3: unknown section [nope]" },
	{ "[nope]\n", T_FILE ":1: unknown section [nope]" },
	{ "[main]\nname = x\nbogus = 1\n", T_FILE ":3: [main] bogus: unknown key" },
	{ "[main]\nname = x\n[tenant alice]\nowner = a\nbogus = 1\n",
	  T_FILE ":5: [tenant alice] bogus: unknown key" },
	/* Keys belong to the section they are in. */
	{ "[main]\nname = x\n[extra]\nname = y\n", T_FILE ":4: [extra] name: unknown key" },
	{ "[main]\nname = x\n[route r]\nowner = y\n", T_FILE ":4: [route r] owner: unknown key" },
	{ "name = x\n[main]\n", T_FILE ":1: name: key outside of any section" },
	{ "# comment\n\n  \nname = x\n", T_FILE ":4: name: key outside of any section" },
	{ "[main]\nname = x\ncount = 1\n\ncount = 2\n",
	  T_FILE ":5: [main] count: set twice (first at line 3)" },
	{ "[main]\nname = x\ncount = 1\ncount = 1\n",
	  T_FILE ":4: [main] count: set twice (first at line 3)" },
	{ "[main]\nname = x\nname = x\n", T_FILE ":3: [main] name: set twice (first at line 2)" },
	{ "[main]\nname = x\n[tenant a]\nowner = o\nquota = 1K\nowner = p\n",
	  T_FILE ":6: [tenant a] owner: set twice (first at line 4)" },
	/* A bad value leaves the key unset: the error is the value's. */
	{ "[main]\nname = x\ncount = 200\ncount = 2\n",
	  T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"200\"" },
	{ "[main]\nname = x\n[tenant a]\nowner = o\n[tenant b]\nowner = o\n[tenant a]\n",
	  T_FILE ":7: section [tenant a] appears twice (first at line 3)" },
	{ "[main]\nname = x\n[extra]\n[extra]\n",
	  T_FILE ":4: section [extra] appears twice (first at line 3)" },
	{ "[main]\nname = x\n\n[main]\n", T_FILE ":4: section [main] appears twice (first at line 1)" },
	{ "[main]\nname = x\n[tenant]\n",
	  T_FILE ":3: section [tenant] needs a name: [tenant NAME]" },
	{ "[main x]\n", T_FILE ":1: section [main] takes no name" },
	{ "[main]\ncount = 1\n", T_FILE ":1: [main]: missing required key 'name'" },
	{ "\n\n[main]\n", T_FILE ":3: [main]: missing required key 'name'" },
	{ "[main]\nname = x\n\n[tenant bob]\nquota = 1K\n",
	  T_FILE ":4: [tenant bob]: missing required key 'owner'" },
	{ "[main]\nname = x\n[tenant a]\nowner = o\n[tenant b]\n",
	  T_FILE ":5: [tenant b]: missing required key 'owner'" },
	{ "", T_FILE ": missing section [main]" },
	{ "\n", T_FILE ": missing section [main]" },
	{ "# only\n[extra]\nnote = n\n", T_FILE ": missing section [main]" },
	/* Line errors name the line. */
	{ "[main]\nname = x\n\njunk\n", T_FILE ":4: expected 'key = value'" },
	{ "[main\n", T_FILE ":1: section header without ']'" },
	{ "[Main]\n", T_FILE ":1: section name must be lowercase letters, digits or '_'" },
	{ "[main]\nname = x\n[tenant a b]\n",
	  T_FILE ":3: section label must be letters, digits or . _ - @ * +" },
	{ "[main]\nName = x\n",
	  T_FILE ":2: expected 'key = value' (keys are lowercase letters, digits or '_')" },
	/* The first error wins, even before a missing key. */
	{ "[main]\n[nope]\n", T_FILE ":2: unknown section [nope]" },
	/* CR ends a line only before LF. */
	{ "[main]\rname = x\r\n", T_FILE ":1: control character in line" },
	{ "[main]\nname = a\rb\n", T_FILE ":2: control character in line" },
	{ "[main]\nname = x\x1b[1m\n", T_FILE ":2: control character in line" },
	{ "[main]\nname = x\x7f\n", T_FILE ":2: control character in line" },
	/* CRLF everywhere: same lines, same messages, no CR in the quote. */
	{ "[main]\r\nname = x\r\nbogus = 1\r\n", T_FILE ":3: [main] bogus: unknown key" },
	{ "[main]\r\nname = x\r\ncount = 200\r\n",
	  T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"200\"" },
	{ "[main]\r\n\r\ncount = 1\r\n", T_FILE ":1: [main]: missing required key 'name'" },
	/* Inline comments. */
	{ "[main]\nname = x\ncount = 5# five\n",
	  T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"5# five\"" },
	{ "[main]\nname = # nothing\n", T_FILE ":2: [main] name: expected a non-empty value, not \"\"" },
	/* No final newline: the last line still counts, with its number. */
	{ "[main]\nname = x\nbogus = 1", T_FILE ":3: [main] bogus: unknown key" },
	{ "[main]\nname = x\ncount = 101", T_FILE ":3: [main] count: expected a whole number from -5 to 100, not \"101\"" },
	{ "[main]", T_FILE ":1: [main]: missing required key 'name'" },
};

static void
test_conf_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		t_fail(error_cases[i].text, error_cases[i].want);
}

static void
test_conf_required_sections(void **state)
{
	static const char tenant_ok[] = "[tenant a]\nowner = o\n";
	static const char opt_ok[] = "[opt]\nk = v\n";
	char err[CONF_ERROR_MAX];
	struct conf *c;

	(void)state;
	/* A required labelled section: at least one block. */
	t_fail_schema(tc_sections_need_tenant, "", 0, T_FILE ": missing section [tenant NAME]");
	t_fail_schema(tc_sections_need_tenant, "# x\n", 4, T_FILE ": missing section [tenant NAME]");
	c = t_load_schema(tc_sections_need_tenant, tenant_ok, sizeof(tenant_ok) - 1, err);
	assert_non_null(c);
	assert_int_equal(conf_count(c, "tenant"), 1);
	conf_free(&c);

	/* An optional section with a required key: absent means the key is missing. */
	t_fail_schema(tc_sections_opt, "", 0, T_FILE ": missing section [opt] (it needs k)");
	t_fail_schema(tc_sections_opt, "[opt]\n", 6, T_FILE ":1: [opt]: missing required key 'k'");
	c = t_load_schema(tc_sections_opt, opt_ok, sizeof(opt_ok) - 1, err);
	assert_non_null(c);
	assert_string_equal(((struct tc_opt *)conf_block(c, "opt", 0))->k, "v");
	conf_free(&c);
}

static void
test_conf_labels(void **state)
{
	char text[T_TEXT_MAX], label[CONF_NAME_MAX + 2];
	struct conf *c;
	const struct tc_route *r;

	(void)state;
	/* The same label in two sections, the same key in two blocks: fine. */
	c = t_load("[main]\nname = n\n[tenant a]\nowner = o1\n[route a]\n[tenant b]\nowner = o2\n");
	assert_int_equal(conf_count(c, "tenant"), 2);
	assert_int_equal(conf_count(c, "route"), 1);
	assert_string_equal(((struct tc_tenant *)conf_block(c, "tenant", 0))->owner, "o1");
	assert_string_equal(((struct tc_tenant *)conf_block(c, "tenant", 1))->owner, "o2");
	assert_string_equal(((struct tc_route *)conf_block(c, "route", 0))->label, "a");
	conf_free(&c);

	/* Labels of every allowed character, and of CONF_NAME_MAX bytes. */
	memset(label, 'L', sizeof(label));
	label[CONF_NAME_MAX] = '\0';
	snprintf(text, sizeof(text), "[main]\nname = n\n[route %s]\n[route mx-v6.example@x*+_1]\n", label);
	c = t_load(text);
	r = conf_block(c, "route", 0);
	assert_string_equal(r->label, label);
	r = conf_block(c, "route", 1);
	assert_string_equal(r->label, "mx-v6.example@x*+_1");
	conf_free(&c);

	label[CONF_NAME_MAX] = 'L';
	label[CONF_NAME_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "[main]\nname = n\n[route %s]\n", label);
	t_fail(text, T_FILE ":3: section label too long");
}

/* Many blocks: the block table grows while keys are being stored. */
static void
test_conf_many_blocks(void **state)
{
	char *text = malloc(T_TEXT_MAX * 4);
	size_t o;
	struct conf *c;

	(void)state;
	assert_non_null(text);
	o = (size_t)snprintf(text, T_TEXT_MAX, "[main]\nname = n\n");
	for (unsigned i = 0; i < 200; i++) {
		o += (size_t)snprintf(text + o, T_TEXT_MAX * 4 - o,
				      "[tenant t%u]\nquota = %uK\nowner = o%u\n", i, i, i);
		if (i % 3 == 0)
			o += (size_t)snprintf(text + o, T_TEXT_MAX * 4 - o, "[route r%u]\n", i);
	}
	c = t_load(text);
	assert_int_equal(conf_count(c, "tenant"), 200);
	assert_int_equal(conf_count(c, "route"), 67);
	for (unsigned i = 0; i < 200; i++) {
		const struct tc_tenant *t = conf_block(c, "tenant", i);
		char want[32];

		assert_non_null(t);
		snprintf(want, sizeof(want), "t%u", i);
		assert_string_equal(t->label, want);
		snprintf(want, sizeof(want), "o%u", i);
		assert_string_equal(t->owner, want);
		assert_int_equal(t->quota, (int64_t)i * 1024);
		assert_int_equal(t->spam, 1);
	}
	assert_string_equal(((struct tc_route *)conf_block(c, "route", 66))->label, "r198");
	conf_free(&c);

	/* A duplicate far down still finds the first. */
	snprintf(text + o, T_TEXT_MAX * 4 - o, "[tenant t7]\n");
	/* 2 lines of [main], 3 per tenant, 1 per route (t0, t3, t6 before t7). */
	t_fail(text, T_FILE ":670: section [tenant t7] appears twice (first at line 27)");
	free(text);
}

/* ---- loading: limits, line endings, comments ---- */

static void
test_conf_line_max(void **state)
{
	char *text = malloc(2 * CONF_LINE_MAX);
	size_t head = strlen("[main]\nname = "), value = CONF_LINE_MAX - strlen("name = ");
	struct conf *c;
	const struct tc_main *m;

	(void)state;
	assert_non_null(text);
	/* A line of exactly CONF_LINE_MAX bytes. */
	memcpy(text, "[main]\nname = ", head);
	memset(text + head, 'v', value);
	text[head + value] = '\n';
	c = t_load_len(text, head + value + 1);
	m = conf_block(c, "main", 0);
	assert_int_equal(strlen(m->name), value);
	conf_free(&c);
	/* The same with CRLF. */
	text[head + value] = '\r';
	text[head + value + 1] = '\n';
	c = t_load_len(text, head + value + 2);
	m = conf_block(c, "main", 0);
	assert_int_equal(strlen(m->name), value);
	conf_free(&c);
	/* One byte more. */
	text[head + value] = 'v';
	text[head + value + 1] = '\n';
	text[head + value + 2] = '\0';
	t_fail(text, T_FILE ":2: line too long");
	/* A long comment is as long a line. */
	text[7] = '#';
	t_fail(text, T_FILE ":2: line too long");
	free(text);
}

static void
test_conf_file_max(void **state)
{
	static const char head[] = "[main]\nname = n\ncount = 42\n";
	char *text = malloc(CONF_FILE_MAX + 2);
	char err[CONF_ERROR_MAX];
	size_t o;
	struct conf *c;

	(void)state;
	assert_non_null(text);
	/* Exactly CONF_FILE_MAX bytes: head, then comment lines. */
	memcpy(text, head, sizeof(head) - 1);
	for (o = sizeof(head) - 1; o < CONF_FILE_MAX; o++)
		text[o] = (o % 100 == 99) ? '\n' : '#';
	text[CONF_FILE_MAX - 1] = '\n';
	c = t_load_len(text, CONF_FILE_MAX);
	assert_int_equal(((struct tc_main *)conf_block(c, "main", 0))->count, 42);
	conf_free(&c);
	/* One more byte. */
	text[CONF_FILE_MAX] = '\n';
	c = t_load_schema(tc_sections, text, CONF_FILE_MAX + 1, err);
	assert_null(c);
	assert_string_equal(err, T_FILE ": file larger than 1048576 bytes");
	free(text);
}

static void
test_conf_nul_byte(void **state)
{
	static const char t1[] = "[main]\nname = a\0b\n";
	static const char t2[] = "# a\0\n[main]\nname = x\n";
	static const char t3[] = "[main]\nname = x\n\0";
	static const char t4[] = "[main]\0\nname = x\n";

	(void)state;
	t_fail_schema(tc_sections, t1, sizeof(t1) - 1, T_FILE ":2: control character in line");
	t_fail_schema(tc_sections, t2, sizeof(t2) - 1, T_FILE ":1: control character in line");
	t_fail_schema(tc_sections, t3, sizeof(t3) - 1, T_FILE ":3: control character in line");
	t_fail_schema(tc_sections, t4, sizeof(t4) - 1, T_FILE ":1: control character in line");
}

/* Replace every "\n" of text with "\r\n". */
static char *
t_crlf(const char *text)
{
	char *out = malloc(2 * strlen(text) + 1);
	size_t o = 0;

	assert_non_null(out);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n')
			out[o++] = '\r';
		out[o++] = *p;
	}
	out[o] = '\0';
	return out;
}

static void
test_conf_line_endings(void **state)
{
	char *crlf = t_crlf(t_full);
	struct conf *c;

	(void)state;
	/* CRLF: the same configuration. */
	c = t_load(crlf);
	t_check_full(c);
	conf_free(&c);
	/* Without the final newline: the same configuration. */
	c = t_load_len(t_full, sizeof(t_full) - 2);
	t_check_full(c);
	conf_free(&c);
	c = t_load_len(crlf, strlen(crlf) - 2);
	t_check_full(c);
	conf_free(&c);
	/* ...also when the last line is a key. */
	c = t_load_len("[main]\nname = n\ncount = 9\n", 25);
	assert_int_equal(((struct tc_main *)conf_block(c, "main", 0))->count, 9);
	conf_free(&c);
	c = t_load_len("[main]\r\nname = n\r\ncount = 9\r\n", 27);
	assert_int_equal(((struct tc_main *)conf_block(c, "main", 0))->count, 9);
	conf_free(&c);
	/* A lone CR at the very end is a CRLF without its LF. */
	c = t_load_len("[main]\r\nname = n\r\ncount = 9\r\n", 28);
	assert_int_equal(((struct tc_main *)conf_block(c, "main", 0))->count, 9);
	conf_free(&c);
	free(crlf);
}

static void
test_conf_comments(void **state)
{
	struct conf *c;
	const struct tc_main *m;

	(void)state;
	c = t_load("# head\n"
		   "; also a comment\n"
		   "[main] # the main section\n"
		   "   # indented\n"
		   "name = a#b # not part of it\n"
		   "count = 5 # five\n"
		   "mode = sni\t# tab before the hash\n"
		   "names = x, y # , z\n"
		   "listen = 192.0.2.1:25 #, 192.0.2.2:25\n"
		   "[tenant t] ; comment\n"
		   "owner = o;p\n");
	m = conf_block(c, "main", 0);
	t_check_main(m, "name", "a#b");
	t_check_main(m, "count", "5");
	t_check_main(m, "mode", "0");
	t_check_main(m, "names", "x|y");
	t_check_main(m, "listen", "192.0.2.1:25");
	assert_string_equal(((struct tc_tenant *)conf_block(c, "tenant", 0))->owner, "o;p");
	conf_free(&c);
}

/* ---- conf_fail ---- */

static const char t_fail_text[] =
	"[main]\n"		/* 1 */
	"name = n\n"		/* 2 */
	"\n"			/* 3 */
	"count = 5\n"		/* 4 */
	"[tenant alice]\n"	/* 5 */
	"owner = o\n"		/* 6 */
	"quota = 1M\n";		/* 7 */

static void
test_conf_fail(void **state)
{
	char err[CONF_ERROR_MAX];
	struct conf *c;
	void *m, *t, *x;
	int other;

	(void)state;
	c = t_load(t_fail_text);
	m = conf_block(c, "main", 0);
	t = conf_block(c, "tenant", 0);
	x = conf_block(c, "extra", 0);

	/* At the line where the key was set. */
	assert_int_equal(conf_fail(c, m, "count", err, sizeof(err), "too big (%d)", 5), -1);
	assert_string_equal(err, T_FILE ":4: [main] count: too big (5)");
	assert_int_equal(conf_fail(c, t, "quota", err, sizeof(err), "over %s", "limit"), -1);
	assert_string_equal(err, T_FILE ":7: [tenant alice] quota: over limit");
	/* A key left at its default: the section's header line. */
	assert_int_equal(conf_fail(c, m, "limit", err, sizeof(err), "msg"), -1);
	assert_string_equal(err, T_FILE ":1: [main] limit: msg");
	assert_int_equal(conf_fail(c, t, "spam", err, sizeof(err), "msg"), -1);
	assert_string_equal(err, T_FILE ":5: [tenant alice] spam: msg");
	/* No key. */
	assert_int_equal(conf_fail(c, t, NULL, err, sizeof(err), "whole block"), -1);
	assert_string_equal(err, T_FILE ":5: [tenant alice]: whole block");
	/* A section not in the file: no line. */
	assert_int_equal(conf_fail(c, x, "note", err, sizeof(err), "needed"), -1);
	assert_string_equal(err, T_FILE ": [extra] note: needed");
	assert_int_equal(conf_fail(c, x, NULL, err, sizeof(err), "needed"), -1);
	assert_string_equal(err, T_FILE ": [extra]: needed");
	/* A block that is not c's. */
	assert_int_equal(conf_fail(c, &other, "count", err, sizeof(err), "lost"), -1);
	assert_string_equal(err, T_FILE ": lost");

	/* A small buffer: cut, NUL-terminated, nothing written past it. */
	memset(err, 'Z', sizeof(err));
	assert_int_equal(conf_fail(c, m, "count", err, 12, "too big"), -1);
	assert_string_equal(err, T_FILE ":4");
	assert_int_equal(err[12], 'Z');
	memset(err, 'Z', sizeof(err));
	assert_int_equal(conf_fail(c, m, "count", err, 25, "too big"), -1);
	assert_string_equal(err, T_FILE ":4: [main] coun");
	assert_int_equal(err[25], 'Z');
	conf_free(&c);
}

static void
test_conf_error_buffer(void **state)
{
	static const char text[] = "[main]\nname = x\nbogus = 1\n";
	char err[CONF_ERROR_MAX];
	struct conf *c;

	(void)state;
	/* Cut to fit, NUL-terminated, nothing past errcap. */
	memset(err, 'Z', sizeof(err));
	c = conf_load_buffer(tc_sections, T_FILE, text, sizeof(text) - 1, err, 10);
	assert_null(c);
	assert_string_equal(err, "test.conf");
	assert_int_equal(err[10], 'Z');
	memset(err, 'Z', sizeof(err));
	c = conf_load_buffer(tc_sections, T_FILE, text, sizeof(text) - 1, err, 20);
	assert_null(c);
	assert_string_equal(err, "test.conf:3: [main]");
	assert_int_equal(err[20], 'Z');
	memset(err, 'Z', sizeof(err));
	c = conf_load_buffer(tc_sections, T_FILE, "", 0, err, 8);
	assert_null(c);
	assert_string_equal(err, "test.co");
	assert_int_equal(err[8], 'Z');
	/* The file name is the caller's. */
	c = conf_load_buffer(tc_sections, "/etc/homeport/other.conf", text, sizeof(text) - 1, err,
			     sizeof(err));
	assert_null(c);
	assert_string_equal(err, "/etc/homeport/other.conf:3: [main] bogus: unknown key");
}

/* ---- conf_load_file ---- */

/* A temporary directory for test_conf_load_file, removed even when it fails. */
static int
t_dir_setup(void **state)
{
	*state = testutil_tmpdir_new("conf", "t.conf");
	return *state != NULL ? 0 : -1;
}

static void
test_conf_load_file(void **state)
{
	struct testutil_tmpdir *d = *state;
	const char *path = d->path;
	char missing[TESTUTIL_DIR_MAX + 16], err[CONF_ERROR_MAX], want[3 * TESTUTIL_DIR_MAX];
	char *big;
	struct conf *c;

	snprintf(missing, sizeof(missing), "%s/none.conf", d->dir);

	assert_int_equal(testutil_write_file(path, t_full, sizeof(t_full) - 1, 0600), 0);
	c = conf_load_file(tc_sections, path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	t_check_full(c);
	/* Messages name the path. */
	conf_fail(c, conf_block(c, "main", 0), "count", err, sizeof(err), "x");
	snprintf(want, sizeof(want), "%s:4: [main] count: x", path);
	assert_string_equal(err, want);
	conf_free(&c);

	assert_int_equal(testutil_write_file(path, "[main]\nname = x\nbogus = 1\n", 26, 0600), 0);
	assert_null(conf_load_file(tc_sections, path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: [main] bogus: unknown key", path);
	assert_string_equal(err, want);

	assert_null(conf_load_file(tc_sections, missing, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
	assert_string_equal(err, want);

	/* Larger than CONF_FILE_MAX on disk. */
	big = malloc(CONF_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', CONF_FILE_MAX + 1);
	memcpy(big, "[main]\nname = n\n", 16);
	assert_int_equal(testutil_write_file(path, big, CONF_FILE_MAX, 0600), 0);
	c = conf_load_file(tc_sections, path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(&c);
	assert_int_equal(testutil_write_file(path, big, CONF_FILE_MAX + 1, 0600), 0);
	assert_null(conf_load_file(tc_sections, path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: file larger than 1048576 bytes", path);
	assert_string_equal(err, want);
	free(big);
}

/* conf_parse_size: the CONF_SIZE rules outside a file (homeport user quota). */
static void
test_conf_parse_size(void **state)
{
	static const struct {
		const char *text;
		int64_t min, max;
		int rc;
		int64_t want;
	} cases[] = {
		{ "0", 0, INT64_MAX, 0, 0 },
		{ "1000", 0, INT64_MAX, 0, 1000 },
		{ "64K", 0, INT64_MAX, 0, 64 * 1024 },
		{ "64k", 0, INT64_MAX, 0, 64 * 1024 },
		{ "500M", 0, INT64_MAX, 0, 500 * T_MIB },
		{ "2G", 0, INT64_MAX, 0, 2 * T_GIB },
		{ "2g", 0, INT64_MAX, 0, 2 * T_GIB },
		{ "8589934591G", 0, INT64_MAX, 0, 8589934591LL * T_GIB },
		{ "8589934592G", 0, INT64_MAX, -1, 0 },		/* 2^63: overflows */
		{ "9223372036854775807", 0, INT64_MAX, 0, INT64_MAX },
		{ "9223372036854775808", 0, INT64_MAX, -1, 0 },
		{ "", 0, INT64_MAX, -1, 0 },
		{ "M", 0, INT64_MAX, -1, 0 },
		{ "-1", 0, INT64_MAX, -1, 0 },
		{ "1.5G", 0, INT64_MAX, -1, 0 },
		{ "2GB", 0, INT64_MAX, -1, 0 },
		{ "2T", 0, INT64_MAX, -1, 0 },
		{ " 2G", 0, INT64_MAX, -1, 0 },
		{ "2G ", 0, INT64_MAX, -1, 0 },
		{ "0x10", 0, INT64_MAX, -1, 0 },
		{ "1K", 1025, INT64_MAX, -1, 0 },		/* under min */
		{ "1M", 0, 1024, -1, 0 },			/* over max */
		{ "1K", 1024, 1024, 0, 1024 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		int rc = conf_parse_size(cases[i].text, strlen(cases[i].text), cases[i].min,
					 cases[i].max, &v);
		if (rc != cases[i].rc)
			fail_msg("'%s': returned %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].want)
			fail_msg("'%s': %lld, want %lld", cases[i].text, (long long)v,
				 (long long)cases[i].want);
		if (rc != 0 && v != -42)
			fail_msg("'%s': the result was touched on failure", cases[i].text);
	}
	/* The length counts, not a NUL: "2G" out of "2Gx". */
	int64_t v = 0;
	assert_int_equal(conf_parse_size("2Gx", 2, 0, INT64_MAX, &v), 0);
	assert_int_equal(v, 2 * T_GIB);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_parse_line_table),
		cmocka_unit_test(test_conf_parse_line_lengths),
		cmocka_unit_test(test_conf_load_full),
		cmocka_unit_test(test_conf_defaults),
		cmocka_unit_test(test_conf_values),
		cmocka_unit_test(test_conf_value_quoting),
		cmocka_unit_test(test_conf_list_limits),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_required_sections),
		cmocka_unit_test(test_conf_labels),
		cmocka_unit_test(test_conf_many_blocks),
		cmocka_unit_test(test_conf_line_max),
		cmocka_unit_test(test_conf_file_max),
		cmocka_unit_test(test_conf_nul_byte),
		cmocka_unit_test(test_conf_line_endings),
		cmocka_unit_test(test_conf_comments),
		cmocka_unit_test(test_conf_fail),
		cmocka_unit_test(test_conf_error_buffer),
		cmocka_unit_test(test_conf_parse_size),
		cmocka_unit_test_setup_teardown(test_conf_load_file, t_dir_setup,
						testutil_tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
