/*
 * conf: the configuration reader of every Homeport program.
 *
 * The file is line-oriented:
 *
 *     # a comment (also after a value, when preceded by a space: "25  # MX")
 *     [edge]                      a section
 *     name = relay.example.net    key = value
 *     [tenant alice]              a labelled section; one block per label
 *     hostnames = mail.alice.test, *.alice.test
 *
 * Each program describes what it accepts with tables (struct conf_section,
 * struct conf_key); the loader checks every line against them, converts each
 * value to its type and stores it at the key's offset inside a block (a
 * struct of the program's, allocated and zeroed by the loader, then given
 * defaults by the section's init function). Errors name the file, the line,
 * the section and the key.
 *
 * conf_parse_line() and conf_load_buffer() are pure (no I/O, no globals);
 * the fuzz target drives them. Everything the loader allocates (blocks,
 * strings, lists) belongs to the struct conf and is released by conf_free().
 */
#ifndef HOMEPORT_CONF_H
#define HOMEPORT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define CONF_LINE_MAX 4096		/* bytes in one line, without the newline */
#define CONF_FILE_MAX (1024 * 1024)	/* bytes in one file */
#define CONF_LIST_MAX 256		/* items in one list value */
#define CONF_NAME_MAX 64		/* bytes in a key, section name or label */
#define CONF_ERROR_MAX 512		/* a useful size for error buffers */

enum conf_type {
	CONF_STRING,		/* char *: non-empty; tab is the only control character allowed */
	CONF_INT,		/* int64_t in [min, max] */
	CONF_BOOL,		/* int 0/1: yes/no, true/false, on/off */
	CONF_DURATION,		/* int64_t milliseconds: 250ms 30s 5m 2h 1d; in [min, max] ms */
	CONF_SIZE,		/* int64_t bytes: 1000, 64K, 50M, 2G (powers of 1024); in [min, max] */
	CONF_ENUM,		/* int: index of the value in words[] */
	CONF_ADDR,		/* struct addr; port rule from flags */
	CONF_ADDR_LIST,		/* struct conf_addr_list; port rule from flags */
	CONF_CIDR_LIST,		/* struct conf_cidr_list */
	CONF_STRING_LIST,	/* struct conf_string_list */
};

/* List values are comma-separated; an empty value is an empty list. */
struct conf_addr_list {
	struct addr *v;
	size_t n;
};

struct conf_cidr_list {
	struct cidr *v;
	size_t n;
};

struct conf_string_list {
	char **v;
	size_t n;
};

/* conf_key.flags */
#define CONF_REQUIRED		0x01	/* the key must be set in every block */
#define CONF_PORT_REQUIRED	0x02	/* CONF_ADDR*: "ip:port" */
#define CONF_PORT_OPTIONAL	0x04	/* CONF_ADDR*: port may be left out (then 0) */
					/* neither: a port is an error */

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;			/* of the value inside the block */
	int64_t min, max;		/* CONF_INT, CONF_DURATION, CONF_SIZE */
	const char *const *words;	/* CONF_ENUM: NULL-terminated */
	unsigned flags;
};

/* conf_section.flags */
#define CONF_SECTION_LABELLED	0x01	/* written [name label]; any number of blocks */
#define CONF_SECTION_REQUIRED	0x02	/* must appear at least once */
					/* (an unlabelled section with a CONF_REQUIRED key
					 * is in effect required too) */

struct conf_section {
	const char *name;
	unsigned flags;
	const struct conf_key *keys;	/* terminated by a key with name NULL */
	size_t block_size;		/* sizeof the program's struct */
	void (*init)(void *block);	/* defaults; may be NULL */
	size_t label_offset;		/* labelled: where to store the label (char *) */
};

/* One line, as conf_parse_line() sees it. Pointers point into the line. */
enum conf_line_kind {
	CONF_LINE_BLANK,	/* empty or a comment */
	CONF_LINE_SECTION,	/* name, optional label */
	CONF_LINE_PAIR,		/* name = value */
	CONF_LINE_ERROR,	/* error says why */
};

struct conf_line {
	enum conf_line_kind kind;
	const char *name;
	size_t name_len;
	const char *label;	/* NULL when there is none */
	size_t label_len;
	const char *value;	/* trimmed; may be empty */
	size_t value_len;
	const char *error;	/* static text */
};

struct conf;

/*
 * Split one line (without its newline; a trailing CR is ignored).
 * Pure. Returns the kind, also stored in out->kind.
 */
enum conf_line_kind conf_parse_line(const char *line, size_t len, struct conf_line *out);

/*
 * Parse v[0..len) as a CONF_SIZE value does: digits and an optional unit
 * K, M or G (powers of 1024, either case), nothing else ("500M", "2G",
 * "0"). Pure. Returns 0 and sets *v_r when the bytes are in [min, max],
 * else -1 (*v_r untouched).
 */
int conf_parse_size(const char *v, size_t len, int64_t min, int64_t max, int64_t *v_r);

/* A duration as in a file ("90s", "24h", "7d": a unit required) in ms within [min, max]. 0 or -1. Pure. */
int conf_parse_duration(const char *v, size_t len, int64_t min, int64_t max, int64_t *v_r);

/*
 * Parse a whole file image against sections[] (terminated by a section with
 * name NULL). file is used in error messages only. Returns the
 * configuration (free with conf_free()), or NULL with a message in
 * err[0..errcap) such as "edge.conf:12: [listener smtp] mode: expected one
 * of sni, starttls, passthrough, http".
 */
struct conf *conf_load_buffer(const struct conf_section *sections, const char *file,
			      const char *data, size_t len, char *err, size_t errcap);

/* Read path (at most CONF_FILE_MAX bytes) and conf_load_buffer() it. */
struct conf *conf_load_file(const struct conf_section *sections, const char *path,
			    char *err, size_t errcap);

/* Number of blocks of a section: 1 for an unlabelled one (defaults if absent). */
size_t conf_count(const struct conf *c, const char *section);

/* Block i of a section, or NULL. Owned by c. */
void *conf_block(const struct conf *c, const char *section, size_t i);

/*
 * For checks across keys after loading: format "FILE:LINE: [section label]
 * key: " + the message into err, naming the line where key was set in
 * block (or the section's header line when key is NULL or unset).
 * Returns -1, so a validator can "return conf_fail(...)".
 */
int conf_fail(const struct conf *c, const void *block, const char *key, char *err,
	      size_t errcap, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Free *cp and everything it owns (blocks, strings, lists); set *cp to NULL. */
/*
 * size zeroed bytes owned by c, freed by conf_free(): for a program that
 * completes a loaded configuration (homeportd's relay mode). NULL when
 * out of memory.
 */
void *conf_alloc(struct conf *c, size_t size);

void conf_free(struct conf **cp);

#endif
