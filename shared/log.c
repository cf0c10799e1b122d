#include "log.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *log_prog = "homeport";
static enum log_level log_min = LOG_LEVEL_INFO;
static FILE *log_stream;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void
log_init(const char *prog, enum log_level level, FILE *stream)
{
	log_prog = prog;
	log_min = level;
	log_stream = stream;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *word, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(word, log_level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return "unknown";
	return log_level_names[level];
}

/*
 * Replace control characters (a stray newline in a field) in place. If the
 * result does not fit in cap (newlines become two characters), cut it
 * between two characters of the result and end it in " ...".
 */
static size_t
log_flatten(char *line, size_t len, size_t cap)
{
	char tmp[LOG_LINE_MAX];
	size_t need = len, o = 0;

	if (cap > sizeof(tmp))
		cap = sizeof(tmp);
	for (size_t i = 0; i < len; i++)
		need += line[i] == '\n';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		size_t n = c == '\n' ? 2 : 1;

		/* All of it fits with the NUL, or keep room for " ..." and the NUL. */
		if (need >= cap && o + n + 5 > cap)
			break;
		if (c == '\n') {
			tmp[o++] = '\\';
			tmp[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			tmp[o++] = '?';
		} else {
			tmp[o++] = (char)c;
		}
	}
	if (need >= cap) {
		memcpy(tmp + o, " ...", 4);
		o += 4;
	}
	memcpy(line, tmp, o);
	line[o] = '\0';
	return o;
}

void
log_eventv(enum log_level level, const char *sid, const char *event,
	   const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	char ts[32];
	struct tm tm;
	time_t now;
	int n;
	size_t len;

	if (level > log_min)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

	n = snprintf(line, sizeof(line), "ts=%s prog=%s level=%s%s%s event=%s",
		     ts, log_prog, log_level_name(level), sid ? " sid=" : "",
		     sid ? sid : "", event);
	len = n < 0 ? 0 : (size_t)n;
	if (len < sizeof(line) - 1 && fmt != NULL) {
		line[len++] = ' ';
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len >= sizeof(line)) {
		/* Cut, and say so, rather than lose the event. */
		len = sizeof(line) - 1;
		memcpy(line + len - 4, " ...", 4);
	}
	len = log_flatten(line, len, sizeof(line));
	fprintf(log_stream ? log_stream : stderr, "%s\n", line);
	fflush(log_stream ? log_stream : stderr);
}

void
log_event(enum log_level level, const char *sid, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_eventv(level, sid, event, fmt, ap);
	va_end(ap);
}

/* Characters log_escape() writes for byte c. */
static size_t
log_escape_width(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	return c >= 0x20 && c < 0x7f ? 1 : 4;
}

char *
log_escape(const void *bytes, size_t len, char *out, size_t cap)
{
	static const char hexdig[] = "0123456789abcdef";
	const unsigned char *p = bytes;
	size_t need = 0, o = 0;

	/* Does all of it fit? (Stop counting once it cannot.) */
	for (size_t i = 0; i < len && need < cap; i++)
		need += log_escape_width(p[i]);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		char enc[4];
		size_t n;

		if (c == '"' || c == '\\') {
			enc[0] = '\\';
			enc[1] = (char)c;
			n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			enc[0] = (char)c;
			n = 1;
		} else {
			enc[0] = '\\';
			enc[1] = 'x';
			enc[2] = hexdig[c >> 4];
			enc[3] = hexdig[c & 15];
			n = 4;
		}
		/*
		 * When it does not all fit, keep room for "..." and the NUL so
		 * that the cut can always be marked; o + 4 <= cap holds on entry.
		 */
		if (need >= cap && o + n + 4 > cap) {
			memcpy(out + o, "...", 4);
			return out;
		}
		memcpy(out + o, enc, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

void
log_sid_new(char sid[LOG_SID_LEN])
{
	static uint32_t tag;
	static uint32_t counter;
	static int seeded;

	if (!seeded) {
		if (getrandom(&tag, sizeof(tag), 0) != sizeof(tag))
			tag = (uint32_t)time(NULL);
		seeded = 1;
	}
	counter++;
	snprintf(sid, LOG_SID_LEN, "%04x%08x", (unsigned)(tag & 0xffff), (unsigned)counter);
}
