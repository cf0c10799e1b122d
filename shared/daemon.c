#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include <sodium.h>

static void
daemon_usage(FILE *to, const char *prog, const char *default_conf)
{
	fprintf(to, "usage: %s [-c FILE] [--check]\n"
		    "  -c FILE    configuration (default %s)\n"
		    "  --check    check the configuration, print \"configuration OK\" or the error\n",
		prog, default_conf);
}

int
daemon_start(int argc, char **argv, const char *prog, const char *default_conf,
	     struct daemon_opts *opts)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opts->conf_path = default_conf;
	opts->check = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts->conf_path = optarg;
			break;
		case 'C':
			opts->check = 1;
			break;
		case 'h':
			daemon_usage(stdout, prog, default_conf);
			return 0;
		default:
			daemon_usage(stderr, prog, default_conf);
			return 2;
		}
	}
	if (optind != argc) {
		daemon_usage(stderr, prog, default_conf);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to start\n", prog);
		return 1;
	}
	return -1;
}

static struct passwd *
daemon_user(const char *user, char *err, size_t errcap)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL)
		snprintf(err, errcap, "cannot run as user %s: %s", user,
			 errno != 0 ? strerror(errno) : "no such user");
	return pw;
}

int
daemon_user_uid(const char *user, uid_t *uid_r, char *err, size_t errcap)
{
	struct passwd *pw = daemon_user(user, err, errcap);

	if (pw == NULL)
		return -1;
	*uid_r = pw->pw_uid;
	return 0;
}

/* Permitted and effective: the capabilities of keep (DAEMON_KEEP_*) alone; inheritable: nothing. */
static int
daemon_keep_caps(unsigned keep)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	uint32_t set = 0;

	if (keep & DAEMON_KEEP_NET_ADMIN)
		set |= 1U << CAP_NET_ADMIN;
	if (keep & DAEMON_KEEP_NET_BIND_SERVICE)
		set |= 1U << CAP_NET_BIND_SERVICE;
	data[0].permitted = data[0].effective = set;
	return (int)syscall(SYS_capset, &hdr, data);
}

int
daemon_drop_privileges(const char *user, unsigned keep, char *err, size_t errcap)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = daemon_user(user, err, errcap)) == NULL)
		return -1;
	if (pw->pw_uid == 0) {
		snprintf(err, errcap, "user %s is root: choose an unprivileged user", user);
		return -1;
	}
	/* Keep the permitted set across setuid() only long enough to narrow it. */
	if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
		snprintf(err, errcap, "cannot keep capabilities: %s", strerror(errno));
		return -1;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		snprintf(err, errcap, "cannot become user %s: %s", user, strerror(errno));
		return -1;
	}
	if (keep != 0 && (daemon_keep_caps(keep) != 0 || prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0)) {
		snprintf(err, errcap, "cannot keep capabilities as user %s: %s", user, strerror(errno));
		return -1;
	}
	/* Make sure there is no way back. */
	if (setuid(0) == 0) {
		snprintf(err, errcap, "cannot become user %s: root could be regained", user);
		return -1;
	}
	return 0;
}
