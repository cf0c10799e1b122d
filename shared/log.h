/*
 * log: one line per event, key=value fields, for every Homeport program.
 *
 *   ts=2026-11-28T07:49:35Z prog=homeport-edge level=info sid=5f3a09c1 \
 *       event=accept peer=198.51.100.25:40112
 *
 * The caller supplies the event name and the remaining fields as a printf
 * format; anything that came from a peer goes through log_escape() first so
 * that a hostile byte can never forge a field or a line.
 */
#ifndef HOMEPORT_LOG_H
#define HOMEPORT_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Longest line log_event() writes; longer field text is cut and marked. */
#define LOG_LINE_MAX 2048
/* A session id: 12 lowercase hex digits and a NUL. */
#define LOG_SID_LEN 13

/*
 * Set the program name (borrowed, must outlive logging), the lowest level
 * written and the stream (borrowed; NULL means stderr).
 */
void log_init(const char *prog, enum log_level level, FILE *stream);

/* Change the level only. */
void log_set_level(enum log_level level);

/*
 * Parse "error", "warn", "info" or "debug".
 * Returns 0 and sets *level_r, or -1 for any other word.
 */
int log_level_parse(const char *word, enum log_level *level_r);

/* The lowercase name of a level ("info"). */
const char *log_level_name(enum log_level level);

/*
 * Write one event line if level is enabled. sid may be NULL (no sid field);
 * event is a fixed word from our code; fmt adds more " key=value" fields and
 * may be NULL. Newlines in the formatted fields are written as "\n".
 */
void log_event(enum log_level level, const char *sid, const char *event,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void log_eventv(enum log_level level, const char *sid, const char *event,
		const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

#define log_error(sid, ev, ...) log_event(LOG_LEVEL_ERROR, sid, ev, __VA_ARGS__)
#define log_warn(sid, ev, ...) log_event(LOG_LEVEL_WARN, sid, ev, __VA_ARGS__)
#define log_info(sid, ev, ...) log_event(LOG_LEVEL_INFO, sid, ev, __VA_ARGS__)
#define log_debug(sid, ev, ...) log_event(LOG_LEVEL_DEBUG, sid, ev, __VA_ARGS__)

/*
 * Escape bytes from a peer for a log field: printable ASCII other than '"'
 * and '\' is copied, everything else becomes \xNN (or \" \\). The result is
 * always NUL-terminated in out[0..cap); if it does not fit it ends in "...".
 * Returns out, so it can be used as a printf argument. cap must be >= 4.
 */
char *log_escape(const void *bytes, size_t len, char *out, size_t cap);

/* Fill sid[LOG_SID_LEN] with a fresh session id, unique in this process. */
void log_sid_new(char sid[LOG_SID_LEN]);

#endif
