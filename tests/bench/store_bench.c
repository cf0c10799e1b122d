/*
 * store_bench: the store's own costs, in one process, without SMTP.
 *
 *   store_bench deliver DIR MESSAGES SIZE
 *   store_bench search DIR MESSAGES SIZE
 *
 * deliver: a fresh DIR/mail.db with one user; MESSAGES messages of about
 * SIZE bytes (a plain-text mail: a header, then lines of words drawn from
 * a fixed vocabulary by a fixed generator, so every run delivers the same
 * bytes), each written in SMTP_SESSION_DATA_STEP pieces and committed
 * (synchronous=FULL: every commit waits for an fsync). Prints one line:
 * wall seconds, CPU seconds (user + system) and both per message.
 *
 * search: the same deliveries into one INBOX, one message in a hundred
 * with the word BENCH_PLANTED in its body; then each search of
 * bench_searches BENCH_SEARCH_RUNS times: the first run's time, the
 * median and the largest of the rest, and how many UIDs it found.
 *
 * Not a test: nothing here passes or fails on time (TESTING.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"

#include "../../home/home.h"

#define BENCH_PIECE 8192		/* what an SMTP session hands the store at a time */
#define BENCH_MSG_MAX (1024 * 1024)
#define BENCH_PLANTED "zebrafish"	/* in one body of BENCH_PLANT_EVERY */
#define BENCH_PLANT_EVERY 100
#define BENCH_SEARCH_RUNS 21

static const struct {
	int field;
	const char *needle;
	const char *what;
} bench_searches[] = {
	{ STORE_SEARCH_BODY, BENCH_PLANTED, "body, 1% match" },
	{ STORE_SEARCH_TEXT, BENCH_PLANTED, "text, 1% match" },
	{ STORE_SEARCH_SUBJECT, "invoice", "subject, 1/16 match" },
	{ STORE_SEARCH_FROM, "sender7@", "from, 1/97 match" },
	{ STORE_SEARCH_BODY, "xylophone", "body, no match" },
	{ STORE_SEARCH_BODY, "the", "body, every message" },
	{ STORE_SEARCH_BODY, "M\xc3\xbcller str", "body, non-ASCII phrase" },
	{ STORE_SEARCH_BODY, "zq", "body, 2 chars (LIKE), no match" },
	{ STORE_SEARCH_SUBJECT, "nu", "subject, 2 chars (LIKE), all" },
};

static const char *const bench_words[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be",
	"by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but",
	"have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her",
	"has", "there", "been", "if", "more", "when", "will", "would", "who", "so", "no",
	"meeting", "report", "budget", "invoice", "schedule", "project", "review", "update",
	"tomorrow", "morning", "attached", "please", "thanks", "regards", "question", "team",
	"Müller", "Straße", "café", "naïve", "déjà", "résumé", "Ærø", "Łódź",
};

static uint64_t bench_rng = 0x2545f4914f6cdd1dULL;

static uint32_t
bench_rand(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (uint32_t)(bench_rng >> 11);
}

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
bench_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Append a word; returns the new length (never past cap). */
static size_t
bench_put(char *out, size_t len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (len + n > cap)
		return len;
	memcpy(out + len, s, n);
	return len + n;
}

/*
 * Message i of about size bytes into out[0..cap): a plain-text mail whose
 * body is lines of vocabulary words; planted (may be NULL) goes into the
 * middle of the body. Returns its length.
 */
static size_t
bench_message(char *out, size_t cap, unsigned i, size_t size, const char *planted)
{
	char head[512];
	size_t len, line = 0;
	int n;

	n = snprintf(head, sizeof(head),
		     "From: Sender %u <sender%u@remote.test>\r\n"
		     "To: Bench <bench@bench.test>\r\n"
		     "Subject: %s %s number %u\r\n"
		     "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
		     "Message-ID: <%u.bench@remote.test>\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Transfer-Encoding: 8bit\r\n\r\n",
		     i % 97, i % 97, bench_words[bench_rand() % 48], bench_words[48 + bench_rand() % 16],
		     i, i);
	if (n < 0 || (size_t)n >= sizeof(head) || (size_t)n >= cap)
		abort();
	memcpy(out, head, (size_t)n);
	len = (size_t)n;
	while (len + 40 < size && len + 40 < cap) {
		const char *w = bench_words[bench_rand() % (sizeof(bench_words) / sizeof(bench_words[0]))];

		if (planted != NULL && len >= size / 2) {
			w = planted;
			planted = NULL;
		}
		len = bench_put(out, len, cap, w);
		line += strlen(w) + 1;
		if (line > 70) {
			len = bench_put(out, len, cap, "\r\n");
			line = 0;
		} else {
			len = bench_put(out, len, cap, " ");
		}
	}
	return bench_put(out, len, cap, "\r\n");
}

static void
bench_die(const char *what, const struct store_err *err)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, err->msg);
	exit(1);
}

/* A fresh store in dir with one user; returns it and the user's id. */
static struct store *
bench_store(const char *dir, int64_t *user_r)
{
	char path[HOME_PATH_MAX];
	struct store_err err;
	struct store *st;

	if (home_store_path(dir, path, sizeof(path)) != 0) {
		fprintf(stderr, "store_bench: path too long\n");
		exit(1);
	}
	st = store_open(path, STORE_OPEN_RECOVER, &err);
	if (st == NULL)
		bench_die("open", &err);
	if (store_domain_add(st, "bench.test", &err) != 0 ||
	    store_user_add(st, "bench@bench.test", "", 0, user_r, &err) != 0)
		bench_die("account (use an empty directory)", &err);
	return st;
}

/* Deliver msg[0..len) to user in BENCH_PIECE pieces. */
static void
bench_deliver(struct store *st, int64_t user, const char *msg, size_t len)
{
	struct store_err err;
	struct store_delivery *d = store_delivery_begin(st, "sender@remote.test", &err);

	if (d == NULL)
		bench_die("begin", &err);
	if (store_delivery_add_user(d, user, &err) != 0)
		bench_die("add user", &err);
	for (size_t off = 0; off < len; off += BENCH_PIECE) {
		size_t n = len - off < BENCH_PIECE ? len - off : BENCH_PIECE;

		if (store_delivery_write(d, msg + off, n, &err) != 0)
			bench_die("write", &err);
	}
	if (store_delivery_commit(d, 1672653600, &err) != 0)
		bench_die("commit", &err);
	store_delivery_free(&d);
}

static int
bench_cmd_deliver(const char *dir, unsigned messages, size_t size)
{
	char *msg = malloc(BENCH_MSG_MAX);
	struct store *st;
	int64_t user;
	double t0, c0, wall, cpu;

	if (msg == NULL || size > BENCH_MSG_MAX - 512)
		return 1;
	st = bench_store(dir, &user);
	t0 = bench_now();
	c0 = bench_cpu();
	for (unsigned i = 0; i < messages; i++) {
		size_t len = bench_message(msg, BENCH_MSG_MAX, i, size, NULL);

		bench_deliver(st, user, msg, len);
	}
	wall = bench_now() - t0;
	cpu = bench_cpu() - c0;
	printf("deliver messages=%u size=%zu wall_s=%.3f cpu_s=%.3f wall_ms_per_msg=%.3f "
	       "cpu_ms_per_msg=%.3f\n",
	       messages, size, wall, cpu, 1000 * wall / messages, 1000 * cpu / messages);
	store_close(&st);
	free(msg);
	return 0;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
bench_cmd_search(const char *dir, unsigned messages, size_t size)
{
	char *msg = malloc(BENCH_MSG_MAX);
	struct store_mailbox inbox;
	struct store_err err;
	struct store *st;
	int64_t user;
	double t0, wall, times[BENCH_SEARCH_RUNS];

	if (msg == NULL || size > BENCH_MSG_MAX - 512)
		return 1;
	st = bench_store(dir, &user);
	t0 = bench_now();
	for (unsigned i = 0; i < messages; i++) {
		size_t len = bench_message(msg, BENCH_MSG_MAX, i, size,
					   i % BENCH_PLANT_EVERY == 7 ? BENCH_PLANTED : NULL);

		bench_deliver(st, user, msg, len);
	}
	wall = bench_now() - t0;
	if (store_mailbox_get(st, user, "INBOX", &inbox, &err) != 0)
		bench_die("inbox", &err);
	printf("search messages=%u size=%zu deliveries_s=%.1f\n", messages, size, wall);
	for (size_t k = 0; k < sizeof(bench_searches) / sizeof(bench_searches[0]); k++) {
		size_t found = 0;

		for (int r = 0; r < BENCH_SEARCH_RUNS; r++) {
			uint32_t *uids = NULL;
			size_t n = 0;

			t0 = bench_now();
			if (store_search_text(st, inbox.id, bench_searches[k].field, bench_searches[k].needle,
					      strlen(bench_searches[k].needle), &uids, &n, &err) != 0)
				bench_die("search", &err);
			times[r] = 1000 * (bench_now() - t0);
			found = n;
			free(uids);
		}
		printf("  %-34s first_ms=%7.2f", bench_searches[k].what, times[0]);
		qsort(times + 1, BENCH_SEARCH_RUNS - 1, sizeof(times[0]), bench_cmp_double);
		printf(" median_ms=%7.2f max_ms=%7.2f found=%zu\n", times[BENCH_SEARCH_RUNS / 2],
		       times[BENCH_SEARCH_RUNS - 1], found);
	}
	store_close(&st);
	free(msg);
	return 0;
}

static int
bench_usage(void)
{
	fprintf(stderr, "usage: store_bench deliver|search DIR MESSAGES SIZE\n");
	return 2;
}

int
main(int argc, char **argv)
{
	unsigned long messages;
	unsigned long size;
	char *end;

	log_init("store_bench", LOG_LEVEL_ERROR, NULL);
	if (argc != 5 || (strcmp(argv[1], "deliver") != 0 && strcmp(argv[1], "search") != 0))
		return bench_usage();
	messages = strtoul(argv[3], &end, 10);
	if (*end != '\0' || messages == 0 || messages > 10000000)
		return bench_usage();
	size = strtoul(argv[4], &end, 10);
	if (*end != '\0' || size == 0)
		return bench_usage();
	if (strcmp(argv[1], "search") == 0)
		return bench_cmd_search(argv[2], (unsigned)messages, size);
	return bench_cmd_deliver(argv[2], (unsigned)messages, size);
}
