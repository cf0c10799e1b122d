/*
 * cli_accounts: the home owner's account commands, on mail.db through the
 * store (docs/accounts.md).
 *
 *   homeport domain add|remove DOMAIN, domain list
 *   homeport user add ADDRESS [--quota SIZE] [--password-stdin]
 *   homeport user list [DOMAIN], user remove ADDRESS
 *   homeport user passwd ADDRESS [--password-stdin], user quota ADDRESS SIZE
 *   homeport alias add ALIAS USER..., alias list [DOMAIN], alias remove ALIAS [USER]
 *   homeport queue list, queue show ID, queue retry [ID], queue delete ID (docs/outbound.md)
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "conf.h"
#include "dnsname.h"
#include "home.h"
#include "num.h"

/* Which options a subcommand takes. */
#define CLI_OPT_QUOTA 0x01
#define CLI_OPT_PASSWORD_STDIN 0x02

/* One parsed command line. */
struct cli_args {
	const char *what;			/* "user add": error messages start with it */
	const char *pos[CLI_ACCOUNTS_ARGS_MAX];	/* the words that are not options, in order */
	size_t npos;
	int64_t size;				/* --quota SIZE or the SIZE word; 0 if none */
	int password_stdin;			/* --password-stdin */
};

struct cli_accounts_cmd {
	const char *group;			/* "domain", "user", "alias" */
	const char *name;			/* "add", ... */
	const char *usage;			/* what follows "homeport GROUP NAME" */
	size_t min, max;			/* words after NAME */
	unsigned opts;				/* CLI_OPT_* */
	int size_word;				/* pos[] index of a SIZE, or -1 */
	int (*fn)(struct store *st, const struct cli_args *a);
};

int
cli_fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "homeport: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

/* "homeport: user add: ..." */
#define cli_accounts_fail(a, ...) cli_fail((a)->what, __VA_ARGS__)

static int
cli_accounts_store_fail(const struct cli_args *a, const struct store_err *err)
{
	return cli_accounts_fail(a, "%s", err->msg);
}

/* ---- sizes ---------------------------------------------------------------- */

/* SIZE of a quota: "500M", "2G", "0" (no limit). Returns 0, or -1. */
static int
cli_accounts_size_parse(const char *text, int64_t *v_r)
{
	return conf_parse_size(text, strlen(text), 0, INT64_MAX, v_r);
}

/* Bytes in the largest unit that divides them exactly ("2G", "1000"): it parses back. */
static const char *
cli_accounts_size_format(int64_t v, char out[CLI_ACCOUNTS_SIZE_TEXT_MAX])
{
	static const struct {
		const char *unit;
		int64_t mult;
	} units[] = { { "G", 1024LL * 1024 * 1024 }, { "M", 1024LL * 1024 }, { "K", 1024 } };

	for (size_t i = 0; v != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
		if (v % units[i].mult == 0) {
			snprintf(out, CLI_ACCOUNTS_SIZE_TEXT_MAX, "%lld%s",
				 (long long)(v / units[i].mult), units[i].unit);
			return out;
		}
	}
	snprintf(out, CLI_ACCOUNTS_SIZE_TEXT_MAX, "%lld", (long long)v);
	return out;
}

static const char *
cli_accounts_quota_format(int64_t quota, char out[CLI_ACCOUNTS_SIZE_TEXT_MAX])
{
	if (quota == 0) {
		snprintf(out, CLI_ACCOUNTS_SIZE_TEXT_MAX, "unlimited");
		return out;
	}
	return cli_accounts_size_format(quota, out);
}

/* ---- passwords ------------------------------------------------------------ */

/*
 * One line of stdin into pw (PASSWORD_MAX + 1 bytes) without its newline,
 * read a byte at a time so that no copy stays in a stdio buffer and
 * nothing after the line is taken. Returns 0 with *len_r set, or CLI_FAIL
 * (printed).
 */
static int
cli_accounts_read_password(const struct cli_args *a, char *pw, size_t *len_r)
{
	size_t len = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cli_accounts_fail(a, "cannot read the password from stdin: %s",
						 strerror(errno));
		if (n == 0 || c == '\n')
			break;
		if (c == '\0')
			return cli_accounts_fail(a, "the password on stdin contains a NUL byte");
		if (len == PASSWORD_MAX)
			return cli_accounts_fail(a, "the password on stdin is longer than %d octets",
						 PASSWORD_MAX);
		pw[len++] = c;
	}
	if (len == 0)
		return cli_accounts_fail(a, "empty password on stdin");
	pw[len] = '\0';
	*len_r = len;
	return 0;
}

/*
 * The new password's hash: from stdin with --password-stdin, else a new
 * generated one that is copied to generated (PASSWORD_GENERATED_LEN + 1
 * bytes) for printing. Returns 0, or CLI_FAIL (printed).
 */
static int
cli_accounts_new_hash(const struct cli_args *a, char hash[PASSWORD_HASH_MAX], char *generated)
{
	char pw[PASSWORD_MAX + 1];
	size_t len = 0;
	int rc = CLI_FAIL;

	generated[0] = '\0';
	if (a->password_stdin) {
		if (cli_accounts_read_password(a, pw, &len) != 0)
			goto out;
	} else {
		password_generate(generated);
		len = strlen(generated);
		memcpy(pw, generated, len + 1);
	}
	if (password_hash(pw, len, hash) != 0) {
		cli_accounts_fail(a, "cannot hash the password (out of memory)");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

/* Show a generated password, the only time anyone sees it. */
static void
cli_accounts_show_password(const char *address, const char *generated)
{
	if (generated[0] == '\0')
		return;
	printf("password: %s\n"
	       "(shown this once: only its hash is kept; 'homeport user passwd %s' makes a new one)\n",
	       generated, address);
}

/* ---- checks --------------------------------------------------------------- */

/*
 * A valid domain name that is not ours: say how to add it. Anything else
 * (ours, or not a name at all, which the store reports) passes.
 * Returns 0, or CLI_FAIL (printed).
 */
static int
cli_accounts_need_domain(struct store *st, const struct cli_args *a, const char *domain)
{
	struct store_err err;
	int local = 0;

	if (dnsname_check(domain, strlen(domain), 0) != 0)
		return 0;
	if (store_domain_is_local(st, domain, &local, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	if (!local)
		return cli_accounts_fail(a, "domain %s is not local; run 'homeport domain add %s' first",
					 domain, domain);
	return 0;
}

/* The domain of an address ("" if it has no '@'). */
static const char *
cli_accounts_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

/* ---- domain --------------------------------------------------------------- */

static int
cli_domain_add(struct store *st, const struct cli_args *a)
{
	struct store_err err;

	if (store_domain_add(st, a->pos[0], &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("domain %s added\n", a->pos[0]);
	return CLI_OK;
}

static int
cli_domain_list(struct store *st, const struct cli_args *a)
{
	struct store_domain *list = NULL;
	struct store_err err;
	size_t n = 0;

	if (store_domain_list(st, &list, &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", list[i].name);
	free(list);
	return CLI_OK;
}

static int
cli_domain_remove(struct store *st, const struct cli_args *a)
{
	struct store_err err;

	if (store_domain_remove(st, a->pos[0], &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("domain %s removed, with its aliases\n", a->pos[0]);
	return CLI_OK;
}

/* ---- user ----------------------------------------------------------------- */

static int
cli_user_add(struct store *st, const struct cli_args *a)
{
	char hash[PASSWORD_HASH_MAX], generated[PASSWORD_GENERATED_LEN + 1];
	char text[CLI_ACCOUNTS_SIZE_TEXT_MAX];
	struct store_err err;
	int rc = CLI_FAIL;

	if (cli_accounts_need_domain(st, a, cli_accounts_domain_of(a->pos[0])) != 0)
		return CLI_FAIL;
	if (cli_accounts_new_hash(a, hash, generated) != 0)
		goto out;
	if (store_user_add(st, a->pos[0], hash, a->size, NULL, &err) != 0) {
		cli_accounts_store_fail(a, &err);
		goto out;
	}
	printf("user %s added, quota %s\n", a->pos[0], cli_accounts_quota_format(a->size, text));
	cli_accounts_show_password(a->pos[0], generated);
	rc = CLI_OK;
out:
	sodium_memzero(generated, sizeof(generated));
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

static int
cli_user_list(struct store *st, const struct cli_args *a)
{
	const char *domain = a->npos > 0 ? a->pos[0] : NULL;
	char quota[CLI_ACCOUNTS_SIZE_TEXT_MAX], used[CLI_ACCOUNTS_SIZE_TEXT_MAX];
	struct store_user *list = NULL;
	struct store_err err;
	size_t n = 0;

	if (domain != NULL && cli_accounts_need_domain(st, a, domain) != 0)
		return CLI_FAIL;
	if (store_user_list(st, domain, &list, &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	for (size_t i = 0; i < n; i++)
		printf("%s quota=%s used=%s\n", list[i].address,
		       cli_accounts_quota_format(list[i].quota, quota),
		       cli_accounts_size_format(list[i].used, used));
	free(list);
	return CLI_OK;
}

static int
cli_user_remove(struct store *st, const struct cli_args *a)
{
	struct store_err err;

	if (store_user_remove(st, a->pos[0], &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("user %s removed, with its mailboxes and messages\n", a->pos[0]);
	return CLI_OK;
}

static int
cli_user_passwd(struct store *st, const struct cli_args *a)
{
	char hash[PASSWORD_HASH_MAX], generated[PASSWORD_GENERATED_LEN + 1];
	struct store_user u;
	struct store_err err = { .code = STORE_OK };
	int rc = CLI_FAIL;

	/* Before reading or making a password: there must be someone to give it to. */
	if (store_user_get(st, a->pos[0], &u, &err) != 0 && err.code == STORE_E_NOTFOUND)
		return cli_accounts_fail(a, "no user %s", a->pos[0]);
	if (err.code != STORE_OK)
		return cli_accounts_store_fail(a, &err);
	sodium_memzero(&u, sizeof(u));
	if (cli_accounts_new_hash(a, hash, generated) != 0)
		goto out;
	if (store_user_set_password(st, a->pos[0], hash, &err) != 0) {
		cli_accounts_store_fail(a, &err);
		goto out;
	}
	printf("password of %s changed\n", a->pos[0]);
	cli_accounts_show_password(a->pos[0], generated);
	rc = CLI_OK;
out:
	sodium_memzero(generated, sizeof(generated));
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

static int
cli_user_quota(struct store *st, const struct cli_args *a)
{
	char text[CLI_ACCOUNTS_SIZE_TEXT_MAX];
	struct store_err err;

	if (store_user_set_quota(st, a->pos[0], a->size, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("quota of %s set to %s\n", a->pos[0], cli_accounts_quota_format(a->size, text));
	return CLI_OK;
}

/* ---- alias ---------------------------------------------------------------- */

/* Take back the first n users added to alias by this command (all or nothing). */
static void
cli_alias_undo(struct store *st, const struct cli_args *a, size_t n)
{
	struct store_err err;

	for (size_t i = n; i > 0; i--) {
		if (store_alias_remove(st, a->pos[0], a->pos[i], &err) != 0)
			fprintf(stderr, "homeport: %s: could not take back %s -> %s: %s\n", a->what,
				a->pos[0], a->pos[i], err.msg);
	}
}

static int
cli_alias_add(struct store *st, const struct cli_args *a)
{
	struct store_err err;

	if (cli_accounts_need_domain(st, a, cli_accounts_domain_of(a->pos[0])) != 0)
		return CLI_FAIL;
	for (size_t i = 1; i < a->npos; i++) {
		if (store_alias_add(st, a->pos[0], a->pos[i], &err) != 0) {
			cli_accounts_store_fail(a, &err);
			cli_alias_undo(st, a, i - 1);
			return CLI_FAIL;
		}
	}
	for (size_t i = 1; i < a->npos; i++)
		printf("alias %s -> %s added\n", a->pos[0], a->pos[i]);
	return CLI_OK;
}

static int
cli_alias_list(struct store *st, const struct cli_args *a)
{
	const char *domain = a->npos > 0 ? a->pos[0] : NULL;
	struct store_alias *list = NULL;
	struct store_err err;
	size_t n = 0;

	if (domain != NULL && cli_accounts_need_domain(st, a, domain) != 0)
		return CLI_FAIL;
	if (store_alias_list(st, domain, &list, &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	for (size_t i = 0; i < n; i++)
		printf("%s -> %s\n", list[i].alias, list[i].user);
	free(list);
	return CLI_OK;
}

static int
cli_alias_remove(struct store *st, const struct cli_args *a)
{
	const char *user = a->npos > 1 ? a->pos[1] : NULL;
	struct store_err err;

	if (store_alias_remove(st, a->pos[0], user, &err) == 0) {
		if (user != NULL)
			printf("alias %s -> %s removed\n", a->pos[0], user);
		else
			printf("alias %s removed\n", a->pos[0]);
		return CLI_OK;
	}
	if (err.code != STORE_E_NOTFOUND)
		return cli_accounts_store_fail(a, &err);
	if (user != NULL)
		return cli_accounts_fail(a, "alias %s does not deliver to %s", a->pos[0], user);
	return cli_accounts_fail(a, "no alias %s", a->pos[0]);
}

/* ---- dispatch ------------------------------------------------------------- */

/* ---- queue ---------------------------------------------------------------- */

#define CLI_QUEUE_TIME_MAX 32

/* Unix seconds as "2026-11-29 10:00:00 UTC". */
static const char *
cli_queue_time(int64_t t, char out[CLI_QUEUE_TIME_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, CLI_QUEUE_TIME_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, CLI_QUEUE_TIME_MAX, "%lld", (long long)t);
	return out;
}

/* The queue entry id in word. Returns 0, or CLI_USAGE (printed). */
static int
cli_queue_id(const struct cli_args *a, const char *word, int64_t *id_r)
{
	if (num_parse_str(word, 1, INT64_MAX, id_r) != 0) {
		fprintf(stderr, "homeport: %s: '%s' is not a queue id (homeport queue list shows them)\n",
			a->what, word);
		return CLI_USAGE;
	}
	return CLI_OK;
}

static int
cli_queue_list(struct store *st, const struct cli_args *a)
{
	struct store_queue_entry *list = NULL;
	char queued[CLI_QUEUE_TIME_MAX], next[CLI_QUEUE_TIME_MAX];
	struct store_err err;
	size_t n = 0;

	if (store_queue_list(st, &list, &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	if (n == 0)
		printf("the queue is empty\n");
	for (size_t i = 0; i < n; i++) {
		const struct store_queue_entry *q = &list[i];
		printf("%lld  <%s> -> <%s>  queued %s  attempts %d  next %s\n", (long long)q->id,
		       q->mail_from, q->rcpt, cli_queue_time(q->created, queued), q->attempts,
		       cli_queue_time(q->next_attempt, next));
		if (q->last_error[0] != '\0')
			printf("      last error: %s\n", q->last_error);
	}
	free(list);
	return CLI_OK;
}

static int
cli_queue_show(struct store *st, const struct cli_args *a)
{
	char queued[CLI_QUEUE_TIME_MAX], next[CLI_QUEUE_TIME_MAX];
	struct store_queue_entry q;
	struct store_err err;
	uint8_t head[4096];
	size_t n = 0, end;
	int64_t id;
	int rc;

	if ((rc = cli_queue_id(a, a->pos[0], &id)) != CLI_OK)
		return rc;
	if (store_queue_get(st, id, &q, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("id: %lld\nfrom: <%s>\nto: <%s>\nqueued: %s\nattempts: %d\nnext attempt: %s\n"
	       "last error: %s\nbody: %lld\n", (long long)q.id, q.mail_from, q.rcpt,
	       cli_queue_time(q.created, queued), q.attempts, cli_queue_time(q.next_attempt, next),
	       q.last_error[0] != '\0' ? q.last_error : "(none yet)", (long long)q.body_id);
	/* The header section's start, as stored: enough to know the message. */
	if (store_body_read(st, q.body_id, 0, head, sizeof(head), &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	for (end = 0; end + 3 < n && memcmp(head + end, "\r\n\r\n", 4) != 0; end++)
		;
	printf("\n");
	for (size_t i = 0; i < (end + 3 < n ? end + 2 : n); i++) {
		uint8_t b = head[i];
		if (b == '\r')
			continue;
		putchar(b == '\n' || b == '\t' || (b >= 0x20 && b != 0x7f) ? b : '?');
	}
	return CLI_OK;
}

static int
cli_queue_retry(struct store *st, const struct cli_args *a)
{
	struct store_err err;
	int64_t id = 0;
	size_t n = 0;
	int rc;

	if (a->npos > 0 && (rc = cli_queue_id(a, a->pos[0], &id)) != CLI_OK)
		return rc;
	if (store_queue_retry(st, id, (int64_t)time(NULL), &n, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("%zu queue %s due now (homeportd tries within a second)\n", n,
	       n == 1 ? "entry is" : "entries are");
	return CLI_OK;
}

static int
cli_queue_delete(struct store *st, const struct cli_args *a)
{
	struct store_err err;
	int64_t id;
	int rc;

	if ((rc = cli_queue_id(a, a->pos[0], &id)) != CLI_OK)
		return rc;
	if (store_queue_remove(st, id, &err) != 0)
		return cli_accounts_store_fail(a, &err);
	printf("queue entry %lld deleted: it will not be delivered, and no bounce is sent\n",
	       (long long)id);
	return CLI_OK;
}

static const struct cli_accounts_cmd cli_accounts_cmds[] = {
	{ "domain", "add", "DOMAIN", 1, 1, 0, -1, cli_domain_add },
	{ "domain", "list", "", 0, 0, 0, -1, cli_domain_list },
	{ "domain", "remove", "DOMAIN", 1, 1, 0, -1, cli_domain_remove },
	{ "user", "add", "ADDRESS [--quota SIZE] [--password-stdin]", 1, 1,
	  CLI_OPT_QUOTA | CLI_OPT_PASSWORD_STDIN, -1, cli_user_add },
	{ "user", "list", "[DOMAIN]", 0, 1, 0, -1, cli_user_list },
	{ "user", "remove", "ADDRESS", 1, 1, 0, -1, cli_user_remove },
	{ "user", "passwd", "ADDRESS [--password-stdin]", 1, 1, CLI_OPT_PASSWORD_STDIN, -1,
	  cli_user_passwd },
	{ "user", "quota", "ADDRESS SIZE", 2, 2, 0, 1, cli_user_quota },
	{ "alias", "add", "ALIAS USER...", 2, CLI_ACCOUNTS_ARGS_MAX, 0, -1, cli_alias_add },
	{ "alias", "list", "[DOMAIN]", 0, 1, 0, -1, cli_alias_list },
	{ "alias", "remove", "ALIAS [USER]", 1, 2, 0, -1, cli_alias_remove },
	{ "queue", "list", "", 0, 0, 0, -1, cli_queue_list },
	{ "queue", "show", "ID", 1, 1, 0, -1, cli_queue_show },
	{ "queue", "retry", "[ID]", 0, 1, 0, -1, cli_queue_retry },
	{ "queue", "delete", "ID", 1, 1, 0, -1, cli_queue_delete },
};

#define CLI_ACCOUNTS_NCMDS (sizeof(cli_accounts_cmds) / sizeof(cli_accounts_cmds[0]))

/* The usage of group's subcommands (all of them when name is NULL) on to. */
static void
cli_accounts_usage(FILE *to, const char *group, const char *name)
{
	const char *lead = "usage:";

	for (size_t i = 0; i < CLI_ACCOUNTS_NCMDS; i++) {
		const struct cli_accounts_cmd *c = &cli_accounts_cmds[i];
		if (strcmp(c->group, group) != 0 || (name != NULL && strcmp(c->name, name) != 0))
			continue;
		fprintf(to, "%-6s homeport [-c FILE] %s %s%s%s\n", lead, c->group, c->name,
			c->usage[0] != '\0' ? " " : "", c->usage);
		lead = "";
	}
}

static int
cli_accounts_usage_error(const struct cli_accounts_cmd *c, const char *what, const char *msg)
{
	fprintf(stderr, "homeport: %s: %s\n", what, msg);
	cli_accounts_usage(stderr, c->group, c->name);
	return CLI_USAGE;
}

/* A SIZE argument (--quota, or user quota's word) into a->size. */
static int
cli_accounts_size_arg(const struct cli_accounts_cmd *c, struct cli_args *a, const char *text)
{
	char msg[CONF_ERROR_MAX];

	if (cli_accounts_size_parse(text, &a->size) == 0)
		return CLI_OK;
	snprintf(msg, sizeof(msg), "bad size '%s' (like 500M or 2G; 0: unlimited)", text);
	return cli_accounts_usage_error(c, a->what, msg);
}

/* An option getopt_long() returned that is not --help or a word. */
static int
cli_accounts_option(const struct cli_accounts_cmd *c, struct cli_args *a, int opt,
		    const char *word)
{
	char msg[CONF_ERROR_MAX];

	if (opt == 'q' && (c->opts & CLI_OPT_QUOTA))
		return cli_accounts_size_arg(c, a, optarg);
	if (opt == 'p' && (c->opts & CLI_OPT_PASSWORD_STDIN)) {
		a->password_stdin = 1;
		return CLI_OK;
	}
	/* A known option this subcommand does not take: word may be its value. */
	if (opt == 'q' || opt == 'p')
		word = opt == 'q' ? "--quota" : "--password-stdin";
	snprintf(msg, sizeof(msg), opt == ':' ? "option '%s' needs a value" : "unknown option '%s'",
		 word);
	return cli_accounts_usage_error(c, a->what, msg);
}

static int
cli_accounts_word(const struct cli_accounts_cmd *c, struct cli_args *a, const char *word)
{
	if (a->npos == CLI_ACCOUNTS_ARGS_MAX)
		return cli_accounts_usage_error(c, a->what, "too many arguments");
	a->pos[a->npos++] = word;
	return CLI_OK;
}

/*
 * Parse the words after "GROUP NAME" (argv[0] is NAME) into *a: options
 * anywhere, in any order (whatever POSIXLY_CORRECT says), "--" ends them.
 * Returns CLI_OK, CLI_USAGE (printed), or -1 for --help (usage printed
 * on stdout).
 */
static int
cli_accounts_parse(const struct cli_accounts_cmd *c, int argc, char **argv, struct cli_args *a)
{
	static const struct option longopts[] = {
		{ "quota", required_argument, NULL, 'q' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = CLI_OK;

	opterr = 0;
	optind = 0;	/* glibc: start over, skipping argv[0] */
	/* '-': words come back as option 1, in order; ':': a missing value is ':'. */
	while (rc == CLI_OK && (opt = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
		if (opt == 1)
			rc = cli_accounts_word(c, a, optarg);
		else if (opt == 'h') {
			cli_accounts_usage(stdout, c->group, c->name);
			return -1;
		} else
			rc = cli_accounts_option(c, a, opt, argv[optind - 1]);
	}
	for (; rc == CLI_OK && optind < argc; optind++)
		rc = cli_accounts_word(c, a, argv[optind]);
	if (rc != CLI_OK)
		return rc;
	if (a->npos < c->min || a->npos > c->max)
		return cli_accounts_usage_error(c, a->what, a->npos < c->min ? "missing arguments"
									     : "too many arguments");
	if (c->size_word >= 0)
		return cli_accounts_size_arg(c, a, a->pos[c->size_word]);
	return CLI_OK;
}

/* Open mail.db of the configuration at conf_path. Returns 0, or CLI_FAIL (printed). */
static int
cli_accounts_open(const char *conf_path, const struct cli_args *a, struct store **st_r)
{
	char cerr[CONF_ERROR_MAX], path[HOME_PATH_MAX];
	struct home_conf hc;
	struct store_err err;
	struct stat sb;
	int rc = CLI_FAIL;

	if (home_conf_load(conf_path, &hc, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "homeport: %s\n", cerr);
		return CLI_FAIL;
	}
	if (home_store_path(hc.main->state_dir, path, sizeof(path)) != 0) {
		cli_accounts_fail(a, "state_dir %s is too long", hc.main->state_dir);
		goto out;
	}
	if (stat(hc.main->state_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		cli_accounts_fail(a, "state directory %s does not exist (state_dir in %s; "
			"'homeport init' makes it)", hc.main->state_dir, conf_path);
		goto out;
	}
	*st_r = store_open(path, 0, &err);
	if (*st_r == NULL) {
		cli_accounts_fail(a, "cannot open the store %s: %s", path, err.msg);
		goto out;
	}
	rc = CLI_OK;
out:
	home_conf_free(&hc);
	return rc;
}

static const struct cli_accounts_cmd *
cli_accounts_find(const char *group, const char *name)
{
	for (size_t i = 0; i < CLI_ACCOUNTS_NCMDS; i++) {
		if (strcmp(cli_accounts_cmds[i].group, group) == 0 &&
		    strcmp(cli_accounts_cmds[i].name, name) == 0)
			return &cli_accounts_cmds[i];
	}
	return NULL;
}

/* argv: NAME and what follows it. */
static int
cli_accounts_run(const char *conf_path, const struct cli_accounts_cmd *c, int argc, char **argv)
{
	char what[32];
	struct cli_args a = { .what = what };
	struct store *st = NULL;
	int rc;

	snprintf(what, sizeof(what), "%s %s", c->group, c->name);
	rc = cli_accounts_parse(c, argc, argv, &a);
	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (sodium_init() < 0)
		return cli_accounts_fail(&a, "libsodium failed to start");
	if (cli_accounts_open(conf_path, &a, &st) != CLI_OK)
		return CLI_FAIL;
	rc = c->fn(st, &a);
	store_close(&st);
	if (fflush(stdout) != 0)
		return cli_accounts_fail(&a, "cannot write to stdout");
	return rc;
}

int
cli_accounts_main(const char *conf_path, int argc, char **argv)
{
	const struct cli_accounts_cmd *c;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		cli_accounts_usage(stdout, argv[0], NULL);
		return CLI_OK;
	}
	if (argc < 2) {
		fprintf(stderr, "homeport: %s: missing subcommand\n", argv[0]);
		cli_accounts_usage(stderr, argv[0], NULL);
		return CLI_USAGE;
	}
	c = cli_accounts_find(argv[0], argv[1]);
	if (c == NULL) {
		fprintf(stderr, "homeport: %s: unknown subcommand '%s'\n", argv[0], argv[1]);
		cli_accounts_usage(stderr, argv[0], NULL);
		return CLI_USAGE;
	}
	return cli_accounts_run(conf_path, c, argc - 1, argv + 1);
}
