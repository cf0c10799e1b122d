#include "daemon.h"

#include <getopt.h>
#include <stdio.h>

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
