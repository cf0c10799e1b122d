/*
 * homeport: the home owner's command.
 *
 *   homeport [-c FILE] --check     check homeportd.conf
 *   homeport [-c FILE] init ...    a new home (cli_init.c)
 *   homeport [-c FILE] domain|user|alias ...   accounts (cli_accounts.c)
 *   homeport keys ...              key management (keys/keys_cli.c)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "home.h"
#include "keys_cli.h"
#include "log.h"

static int
cli_usage(FILE *to, int status)
{
	fprintf(to, "usage: homeport [-c FILE] --check\n"
		    "       homeport [-c FILE] init --domain DOMAIN [--hostname HOST] [--state-dir DIR]\n"
		    "       homeport [-c FILE] domain add|list|remove ...\n"
		    "       homeport [-c FILE] user add|list|remove|passwd|quota ...\n"
		    "       homeport [-c FILE] alias add|list|remove ...\n"
		    "       homeport [-c FILE] queue list|show|retry|delete ...\n"
		    "       homeport [-c FILE] dkim list|rotate|activate|remove ...\n"
		    "       homeport [-c FILE] dns [--address ADDR]...\n"
		    "       homeport [-c FILE] relay join|status|on|off|key ...\n"
		    "       homeport keys SUBCOMMAND ...   (homeport keys: list them)\n"
		    "  (homeport COMMAND --help: the command's usage)\n"
		    "  -c FILE    homeportd configuration (default " HOME_CONF_DEFAULT ")\n");
	return status;
}

static int
cli_check(const char *path)
{
	struct home_conf hc;
	char err[CONF_ERROR_MAX];

	if (home_conf_load(path, &hc, err, sizeof(err)) != 0) {
		fprintf(stderr, "homeport: %s\n", err);
		return 1;
	}
	printf("configuration OK\n");
	home_conf_free(&hc);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = HOME_CONF_DEFAULT;
	int opt, check = 0;

	/* The store's own info lines (a migration) are not for the person typing. */
	log_init("homeport", LOG_LEVEL_WARN, stderr);

	/* '+': stop at the command, whose own options follow it. */
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 'C': check = 1; break;
		case 'h': return cli_usage(stdout, 0);
		default: return cli_usage(stderr, 2);
		}
	}
	if (check)
		return optind == argc ? cli_check(conf_path) : cli_usage(stderr, 2);
	if (optind == argc)
		return cli_usage(stderr, 2);
	if (strcmp(argv[optind], "keys") == 0)
		return keys_cli_main(argc - optind, argv + optind);
	if (strcmp(argv[optind], "dns") == 0)
		return cli_dns_main(conf_path, argc - optind, argv + optind);
	if (strcmp(argv[optind], "relay") == 0)
		return cli_relay_main(conf_path, argc - optind, argv + optind);
	if (strcmp(argv[optind], "dkim") == 0)
		return cli_dkim_main(conf_path, argc - optind, argv + optind);
	if (strcmp(argv[optind], "init") == 0)
		return cli_init_main(conf_path, argc - optind, argv + optind);
	if (strcmp(argv[optind], "domain") == 0 || strcmp(argv[optind], "user") == 0 ||
	    strcmp(argv[optind], "alias") == 0 || strcmp(argv[optind], "queue") == 0)
		return cli_accounts_main(conf_path, argc - optind, argv + optind);
	fprintf(stderr, "homeport: unknown command '%s'\n", argv[optind]);
	return cli_usage(stderr, 2);
}
