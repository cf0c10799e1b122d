/*
 * cli_init: "homeport init", a new home from nothing (docs/accounts.md).
 *
 * Order: refuse if the configuration or any key is already there; write
 * the configuration (created, never replaced) and read it back with
 * home_conf_load(), so what was written is what homeportd will check;
 * then the state directory (0750), keys/ (0700), the bootstrap TLS
 * certificate and key, the DKIM keys and mail.db with the domain. Each
 * file and directory made is remembered, and a failure removes them all
 * again: init either finishes or leaves things as they were.
 */
#include <errno.h>
#include <netinet/in.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "cli.h"
#include "dkimkey.h"
#include "dnsname.h"
#include "home.h"
#include "keyfile.h"
#include "pemkey.h"
#include "selfcert.h"

#define CLI_INIT_ERR_MAX 1024
#define CLI_INIT_STATE_MODE 0750	/* mail.db lives here: the service user and its group */
#define CLI_INIT_DIR_MODE 0755		/* parents made on the way, and the config's directory */
#define CLI_INIT_CONF_MODE 0644		/* no secrets in it */

struct cli_init {
	const char *conf_path;
	const char *domain_arg, *hostname_arg, *state_arg;
	char state_dir[HOME_PATH_MAX];		/* absolute, without a trailing '/' */
	char domain[DNSNAME_MAX + 1];		/* lower case */
	char hostname[DNSNAME_MAX + 1];
	char cert[HOME_PATH_MAX];		/* [tls] certificate and key */
	char key[HOME_PATH_MAX];
	char keys_dir[HOME_PATH_MAX];
	char dkim_dir[HOME_PATH_MAX];
	char dkim_ed25519[HOME_PATH_MAX];
	char dkim_rsa[HOME_PATH_MAX];
	char db[HOME_PATH_MAX];
	struct home_conf hc;			/* the configuration written, read back */
	int hc_loaded;
	int unowned;				/* root, and [home] user does not exist */
	/* What this run made, to remove on failure (directories with rmdir). */
	char undo[CLI_INIT_UNDO_MAX][HOME_PATH_MAX];
	int undo_dir[CLI_INIT_UNDO_MAX];
	size_t nundo;
};

/* "homeport: init: ..." */
#define cli_init_fail(...) cli_fail("init", __VA_ARGS__)

static int
cli_init_usage(FILE *to, const char *msg, int status)
{
	if (msg != NULL)
		fprintf(stderr, "homeport: init: %s\n", msg);
	fprintf(to, "usage: homeport [-c FILE] init --domain DOMAIN [--hostname HOST] "
		    "[--state-dir DIR]\n"
		    "  -c FILE       the configuration to write (default " HOME_CONF_DEFAULT ")\n"
		    "  --hostname    this home's host name (default mail.DOMAIN)\n"
		    "  --state-dir   where mail.db and keys/ go (default " HOME_STATE_DIR_DEFAULT ")\n");
	return status;
}

/* ---- undo ----------------------------------------------------------------- */

/* Remember that path was made (a directory if dir). Returns 0, or -1 (printed). */
static int
cli_init_made(struct cli_init *in, const char *path, int dir)
{
	int n;

	if (in->nundo == CLI_INIT_UNDO_MAX) {
		cli_init_fail("more than %d files and directories to make", CLI_INIT_UNDO_MAX);
		return -1;
	}
	n = snprintf(in->undo[in->nundo], HOME_PATH_MAX, "%s", path);
	if (n < 0 || n >= HOME_PATH_MAX) {
		cli_init_fail("%s: path too long", path);
		return -1;
	}
	in->undo_dir[in->nundo++] = dir;
	return 0;
}

/* Remove what this run made, newest first. */
static void
cli_init_undo(struct cli_init *in)
{
	while (in->nundo > 0) {
		const char *p = in->undo[--in->nundo];
		if ((in->undo_dir[in->nundo] ? rmdir(p) : unlink(p)) != 0 && errno != ENOENT)
			fprintf(stderr, "homeport: init: could not remove %s: %s\n", p, strerror(errno));
	}
}

/* ---- arguments ------------------------------------------------------------ */

static int
cli_init_parse(struct cli_init *in, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	optind = 0;	/* glibc: start over, skipping argv[0] */
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': in->domain_arg = optarg; break;
		case 'H': in->hostname_arg = optarg; break;
		case 's': in->state_arg = optarg; break;
		case 'h': return cli_init_usage(stdout, NULL, -1);
		case ':': return cli_init_usage(stderr, "an option needs a value", CLI_USAGE);
		default: return cli_init_usage(stderr, "unknown option", CLI_USAGE);
		}
	}
	if (optind != argc)
		return cli_init_usage(stderr, "unexpected arguments", CLI_USAGE);
	if (in->domain_arg == NULL)
		return cli_init_usage(stderr, "--domain is required", CLI_USAGE);
	return CLI_OK;
}

/* --state-dir, absolute, without trailing slashes, into in->state_dir. */
static int
cli_init_state_dir(struct cli_init *in)
{
	const char *arg = in->state_arg != NULL ? in->state_arg : HOME_STATE_DIR_DEFAULT;
	size_t len = strlen(arg);

	while (len > 1 && arg[len - 1] == '/')
		len--;
	if (arg[0] != '/' || len < 2)
		return cli_init_usage(stderr, "--state-dir must be an absolute path (not /)",
				      CLI_USAGE);
	if (len >= sizeof(in->state_dir))
		return cli_init_usage(stderr, "--state-dir is too long", CLI_USAGE);
	memcpy(in->state_dir, arg, len);
	in->state_dir[len] = '\0';
	return CLI_OK;
}

/* Check the names and the directory, lower-case the domain. */
static int
cli_init_names(struct cli_init *in)
{
	size_t len = strlen(in->domain_arg);
	int n;

	if (dnsname_check(in->domain_arg, len, 0) != 0)
		return cli_init_usage(stderr, "--domain: not a domain name (like example.org)",
				      CLI_USAGE);
	for (size_t i = 0; i <= len; i++)
		in->domain[i] = in->domain_arg[i] >= 'A' && in->domain_arg[i] <= 'Z'
					? (char)(in->domain_arg[i] - 'A' + 'a') : in->domain_arg[i];
	if (in->hostname_arg != NULL)
		n = snprintf(in->hostname, sizeof(in->hostname), "%s", in->hostname_arg);
	else
		n = snprintf(in->hostname, sizeof(in->hostname), "mail.%s", in->domain);
	if (n < 0 || (size_t)n >= sizeof(in->hostname) ||
	    dnsname_check(in->hostname, strlen(in->hostname), 0) != 0)
		return cli_init_usage(stderr, "--hostname: not a host name (like mail.example.org)",
				      CLI_USAGE);
	if (strlen(in->hostname) > SELFCERT_CN_MAX)
		return cli_init_usage(stderr, "--hostname: longer than 64 characters, too long for "
				      "a certificate's name", CLI_USAGE);
	return cli_init_state_dir(in);
}

/* snprintf into a path buffer. Returns 0, or -1 if it does not fit. */
static int cli_init_path(char out[HOME_PATH_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
cli_init_path(char out[HOME_PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, HOME_PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= HOME_PATH_MAX ? -1 : 0;
}

/* The paths of everything init makes under the state directory. */
static int
cli_init_paths(struct cli_init *in)
{
	const char *sd = in->state_dir;

	if (cli_init_path(in->cert, "%s/keys/tls.crt", sd) != 0 ||
	    cli_init_path(in->key, "%s/keys/tls.key", sd) != 0 ||
	    cli_init_path(in->keys_dir, "%s/keys", sd) != 0 ||
	    cli_init_path(in->dkim_dir, "%s/keys/dkim", sd) != 0 ||
	    cli_init_path(in->dkim_ed25519, "%s/keys/dkim/%s.ed25519.key", sd, in->domain) != 0 ||
	    cli_init_path(in->dkim_rsa, "%s/keys/dkim/%s.rsa.key", sd, in->domain) != 0 ||
	    home_store_path(sd, in->db, sizeof(in->db)) != 0)
		return cli_init_fail("--state-dir %s: too long", sd);
	return 0;
}

/* ---- files ---------------------------------------------------------------- */

/* Refuse when path exists: nothing of an earlier home is ever replaced. */
static int
cli_init_absent(const char *path, const char *what)
{
	struct stat sb;

	if (lstat(path, &sb) == 0)
		return cli_init_fail("%s %s exists; refusing to overwrite it (move it away to start "
				     "afresh)", what, path);
	if (errno != ENOENT)
		return cli_init_fail("%s: %s", path, strerror(errno));
	return 0;
}

/* Make directory path with mode, and its missing parents (0755). */
static int
cli_init_mkdirs(struct cli_init *in, const char *path, mode_t mode)
{
	char p[HOME_PATH_MAX];
	struct stat sb;
	size_t len;

	if (cli_init_path(p, "%s", path) != 0)
		return cli_init_fail("%s: path too long", path);
	len = strlen(p);
	for (size_t i = 1; i <= len; i++) {
		int last = i == len;
		if (!last && p[i] != '/')
			continue;
		p[i] = '\0';
		if (stat(p, &sb) == 0) {
			if (!S_ISDIR(sb.st_mode))
				return cli_init_fail("%s: not a directory", p);
		} else {
			if (mkdir(p, last ? mode : CLI_INIT_DIR_MODE) != 0)
				return cli_init_fail("cannot create %s: %s", p, strerror(errno));
			if (cli_init_made(in, p, 1) != 0)
				return CLI_FAIL;
			/* mkdir's mode went through the umask; this one does not. */
			if (last && chmod(p, mode) != 0)
				return cli_init_fail("cannot chmod %s: %s", p, strerror(errno));
		}
		if (!last)
			p[i] = '/';
	}
	return 0;
}

/* The directory part of path ("." if none), into out. */
static void
cli_init_dirname(const char *path, char out[HOME_PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);

	if (len == 0)
		snprintf(out, HOME_PATH_MAX, ".");
	else
		snprintf(out, HOME_PATH_MAX, "%.*s", (int)len, path);
}

/*
 * Can this machine listen on IPv6? A kernel booted without it (or with it
 * switched off) would refuse "[::]" and homeportd would not start.
 */
static int
cli_init_has_ipv6(void)
{
	struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, (const struct sockaddr *)&any, sizeof(any)) == 0;
	close(fd);
	return ok;
}

/* The configuration's text, into out[0..CLI_INIT_CONF_MAX). */
static int
cli_init_conf_text(const struct cli_init *in, char *out)
{
	int v6 = cli_init_has_ipv6();
	int n = snprintf(out, CLI_INIT_CONF_MAX,
		"# homeportd.conf, written by 'homeport init --domain %s'.\n"
		"# Every key is described in docs/home.md. After a change, check with:\n"
		"#   homeportd -c %s --check\n"
		"\n"
		"[home]\n"
		"hostname = %s\n"
		"state_dir = %s\n"
		"log_level = info\n"
		"user = homeport\n"
		"\n"
		"[tls]\n"
		"# Self-signed by homeport init until a real certificate replaces it.\n"
		"certificate = %s\n"
		"key = %s\n"
		"\n"
		"# Direct mode: this machine receives mail itself on every address.\n"
		"# Behind an edge (homeport relay join TOKEN), relay mode moves these\n"
		"# listeners onto the tunnel, their ports kept, PROXY v2 from the edges only.\n"
		"[listener mx]\n"
		"address = 0.0.0.0:25%s\n"
		"mode = smtp\n"
		"\n"
		"[listener submission]\n"
		"address = 0.0.0.0:587%s\n"
		"mode = submission\n"
		"\n"
		"[listener submissions]\n"
		"address = 0.0.0.0:465%s\n"
		"mode = submissions\n"
		"\n"
		"[listener imaps]\n"
		"address = 0.0.0.0:993%s\n"
		"mode = imaps\n"
		"\n"
		"# The web: the MTA-STS policy at https://mta-sts.DOMAIN/ (published once\n"
		"# the certificate is a real one: see homeport dns); port 80 redirects there.\n"
		"[listener https]\n"
		"address = 0.0.0.0:443%s\n"
		"mode = https\n"
		"\n"
		"[listener http]\n"
		"address = 0.0.0.0:80%s\n"
		"mode = http\n",
		in->domain, in->conf_path, in->hostname, in->state_dir, in->cert, in->key,
		v6 ? ", [::]:25" : "", v6 ? ", [::]:587" : "", v6 ? ", [::]:465" : "", v6 ? ", [::]:993" : "",
		v6 ? ", [::]:443" : "", v6 ? ", [::]:80" : "");

	if (n < 0 || n >= CLI_INIT_CONF_MAX)
		return cli_init_fail("the configuration does not fit in %d bytes", CLI_INIT_CONF_MAX);
	return 0;
}

/* Write the configuration (created, never replaced) and read it back. */
static int
cli_init_conf(struct cli_init *in)
{
	char text[CLI_INIT_CONF_MAX], dir[HOME_PATH_MAX], err[CLI_INIT_ERR_MAX];

	if (cli_init_conf_text(in, text) != 0)
		return CLI_FAIL;
	cli_init_dirname(in->conf_path, dir);
	if (cli_init_mkdirs(in, dir, CLI_INIT_DIR_MODE) != 0)
		return CLI_FAIL;
	if (keyfile_create(in->conf_path, text, strlen(text), CLI_INIT_CONF_MODE, err,
			   sizeof(err)) != 0)
		return cli_init_fail("%s", err);
	if (cli_init_made(in, in->conf_path, 0) != 0)
		return CLI_FAIL;
	if (home_conf_load(in->conf_path, &in->hc, err, sizeof(err)) != 0)
		return cli_init_fail("the configuration written does not load: %s", err);
	in->hc_loaded = 1;
	/* A path the file cannot hold as it is (a " #", spaces at an end) comes back changed. */
	if (strcmp(in->hc.main->state_dir, in->state_dir) != 0 ||
	    strcmp(in->hc.cert_path, in->cert) != 0 || strcmp(in->hc.key_path, in->key) != 0)
		return cli_init_fail("--state-dir '%s' cannot be written in a configuration file",
				     in->state_dir);
	return 0;
}

/* Nothing init would write may exist yet. */
static int
cli_init_check_absent(const struct cli_init *in)
{
	if (cli_init_absent(in->conf_path, "configuration") != 0 ||
	    cli_init_absent(in->cert, "certificate") != 0 ||
	    cli_init_absent(in->key, "key") != 0 ||
	    cli_init_absent(in->dkim_ed25519, "DKIM key") != 0 ||
	    cli_init_absent(in->dkim_rsa, "DKIM key") != 0)
		return CLI_FAIL;
	return 0;
}

/* A keys directory (0700, not writable by others), remembered if made here. */
static int
cli_init_keydir(struct cli_init *in, const char *dir)
{
	char err[CLI_INIT_ERR_MAX];
	struct stat sb;
	int existed = lstat(dir, &sb) == 0;

	if (keyfile_mkdir(dir, (uid_t)-1, (gid_t)-1, err, sizeof(err)) != 0)
		return cli_init_fail("%s", err);
	return existed ? 0 : cli_init_made(in, dir, 1);
}

static int
cli_init_dirs(struct cli_init *in)
{
	if (cli_init_mkdirs(in, in->state_dir, CLI_INIT_STATE_MODE) != 0 ||
	    cli_init_keydir(in, in->keys_dir) != 0 || cli_init_keydir(in, in->dkim_dir) != 0)
		return CLI_FAIL;
	return 0;
}

/* The bootstrap certificate, for the host name and the domain. */
static int
cli_init_tls(struct cli_init *in)
{
	const char *names[2] = { in->hostname, in->domain };
	size_t n = strcmp(in->hostname, in->domain) == 0 ? 1 : 2;
	char err[CLI_INIT_ERR_MAX];
	struct tls_identity id;
	int rc = CLI_FAIL;

	if (selfcert_generate(names, n, SELFCERT_DAYS_DEFAULT, &id, err, sizeof(err)) != 0)
		return cli_init_fail("certificate: %s", err);
	if (selfcert_save(&id, in->cert, in->key, 0, err, sizeof(err)) != 0) {
		cli_init_fail("certificate: %s", err);
		goto out;
	}
	if (cli_init_made(in, in->key, 0) != 0 || cli_init_made(in, in->cert, 0) != 0)
		goto out;
	rc = 0;
out:
	tls_identity_clear(&id);
	return rc;
}

static int
cli_init_dkim_key(struct cli_init *in, enum dkimkey_alg alg, const char *path)
{
	char err[CLI_INIT_ERR_MAX];
	EVP_PKEY *key = dkimkey_generate(alg, err, sizeof(err));
	int rc = CLI_FAIL;

	if (key == NULL)
		return cli_init_fail("DKIM key: %s", err);
	if (pemkey_save(key, path, 0, err, sizeof(err)) != 0)
		cli_init_fail("DKIM key: %s", err);
	else
		rc = cli_init_made(in, path, 0);
	EVP_PKEY_free(key);
	return rc;
}

/* mail.db with the domain; an existing mail.db is kept, and the domain added if missing. */
static int
cli_init_store(struct cli_init *in)
{
	static const char *const sidecars[] = { "-wal", "-shm" };
	char side[HOME_PATH_MAX];
	struct store_err err;
	struct store *st;
	struct stat sb;
	int rc = CLI_FAIL;

	if (lstat(in->db, &sb) != 0) {
		/* Made here: the file and what SQLite puts beside it go on failure. */
		if (cli_init_made(in, in->db, 0) != 0)
			return CLI_FAIL;
		for (size_t i = 0; i < 2; i++) {
			if (cli_init_path(side, "%s%s", in->db, sidecars[i]) != 0 ||
			    cli_init_made(in, side, 0) != 0)
				return cli_init_fail("%s: path too long", in->db);
		}
	}
	st = store_open(in->db, 0, &err);
	if (st == NULL)
		return cli_init_fail("cannot open the store %s: %s", in->db, err.msg);
	if (store_domain_add(st, in->domain, &err) != 0 && err.code != STORE_E_EXISTS)
		cli_init_fail("domain add %s: %s", in->domain, err.msg);
	else
		rc = 0;
	store_close(&st);
	return rc;
}

/* Was path made by this run? */
static int
cli_init_was_made(const struct cli_init *in, const char *path)
{
	for (size_t i = 0; i < in->nundo; i++) {
		if (strcmp(in->undo[i], path) == 0)
			return 1;
	}
	return 0;
}

/*
 * As root: the state directory and mail.db go to [home] user, whom
 * homeportd becomes once its ports are bound (only if made here: an
 * existing directory keeps its owner). keys/ stays root's: the TLS key is
 * read before privileges are dropped.
 */
static int
cli_init_owner(struct cli_init *in)
{
	const char *paths[2] = { in->state_dir, in->db };
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam(in->hc.main->user);
	if (pw == NULL) {
		in->unowned = 1;
		return 0;
	}
	for (size_t i = 0; i < 2; i++) {
		if (cli_init_was_made(in, paths[i]) && chown(paths[i], pw->pw_uid, pw->pw_gid) != 0)
			return cli_init_fail("cannot give %s to %s: %s", paths[i], pw->pw_name,
					     strerror(errno));
	}
	return 0;
}

/* What was made, and what to do next. */
static void
cli_init_report(const struct cli_init *in)
{
	char c[HOME_PATH_MAX + 8] = "";	/* " -c FILE" unless FILE is the default */

	if (strcmp(in->conf_path, HOME_CONF_DEFAULT) != 0)
		snprintf(c, sizeof(c), " -c %s", in->conf_path);

	printf("Homeport is set up for %s (host name %s).\n\n"
	       "  configuration  %s\n"
	       "  mail store     %s\n"
	       "  TLS            %s (self-signed)\n"
	       "                 %s\n"
	       "  DKIM keys      %s\n"
	       "                 %s\n\n"
	       "Next:\n",
	       in->domain, in->hostname, in->conf_path, in->db, in->cert, in->key,
	       in->dkim_ed25519, in->dkim_rsa);
	if (in->unowned)
		printf("  - create the service user homeportd runs as, and give it the state:\n"
		       "      adduser --system --group --no-create-home %s\n"
		       "      chown %s: %s %s\n",
		       in->hc.main->user, in->hc.main->user, in->state_dir, in->db);
	printf("  - add a user (its password is printed once):\n"
	       "      homeport%s user add you@%s\n"
	       "  - start the server:\n"
	       "      homeportd%s\n"
	       "  - DNS: publish the records (MX, SPF, DKIM, DMARC, TLSA, SRV) that\n"
	       "      homeport%s dns --address YOUR_PUBLIC_ADDRESS\n"
	       "    prints.\n",
	       c, in->domain, c, c);
}

static int
cli_init_run(struct cli_init *in)
{
	if (cli_init_paths(in) != 0 || cli_init_check_absent(in) != 0)
		return CLI_FAIL;
	if (sodium_init() < 0)
		return cli_init_fail("libsodium failed to start");
	if (cli_init_conf(in) != 0 || cli_init_dirs(in) != 0 || cli_init_tls(in) != 0 ||
	    cli_init_dkim_key(in, DKIMKEY_ED25519, in->dkim_ed25519) != 0 ||
	    cli_init_dkim_key(in, DKIMKEY_RSA, in->dkim_rsa) != 0 ||
	    cli_init_store(in) != 0 || cli_init_owner(in) != 0) {
		cli_init_undo(in);
		return CLI_FAIL;
	}
	cli_init_report(in);
	return fflush(stdout) == 0 ? CLI_OK : cli_init_fail("cannot write to stdout");
}

int
cli_init_main(const char *conf_path, int argc, char **argv)
{
	struct cli_init *in = calloc(1, sizeof(*in));
	int rc;

	if (in == NULL)
		return cli_init_fail("out of memory");
	in->conf_path = conf_path;
	rc = cli_init_parse(in, argc, argv);
	if (rc == CLI_OK)
		rc = cli_init_names(in);
	if (rc == CLI_OK)
		rc = cli_init_run(in);
	if (in->hc_loaded)
		home_conf_free(&in->hc);
	free(in);
	return rc < 0 ? CLI_OK : rc;
}
