/*
 * cli.h: the homeport command's subcommands, by file; home/cli.c parses
 * the global options (-c FILE) and dispatches. Every *_main takes the
 * configuration path and the arguments from the command word on
 * (argv[0] is "domain", "user", "alias" or "init"), writes results to
 * stdout and one line per error to stderr, and returns the process's exit
 * status (enum cli_status).
 */
#ifndef HOMEPORT_CLI_H
#define HOMEPORT_CLI_H

#include <stddef.h>
#include <stdint.h>

enum cli_status {
	CLI_OK = 0,
	CLI_FAIL = 1,		/* the command could not be done; nothing was changed */
	CLI_USAGE = 2,		/* bad arguments */
};

/* "homeport: WHAT: message" on stderr, one line. Returns CLI_FAIL. */
int cli_fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- cli_accounts.c: domain, user and alias (docs/accounts.md) ---- */

#define CLI_ACCOUNTS_ARGS_MAX 64	/* words after the subcommand (alias add ALIAS USER...) */
#define CLI_ACCOUNTS_SIZE_TEXT_MAX 32	/* a size as printed: "500M", "123456789", "unlimited" */

/*
 * homeport domain add|list|remove, user add|list|remove|passwd|quota,
 * alias add|list|remove. Opens STATE_DIR/mail.db of the configuration at
 * conf_path (never with STORE_OPEN_RECOVER: homeportd may be running).
 * Returns CLI_OK, CLI_FAIL or CLI_USAGE.
 */
int cli_accounts_main(const char *conf_path, int argc, char **argv);

/* ---- cli_init.c: homeport init (docs/accounts.md) ---- */

#define CLI_INIT_CONF_MAX 4096		/* the homeportd.conf init writes */
#define CLI_INIT_UNDO_MAX 32		/* files and directories init may create */

/*
 * homeport init --domain D [--hostname H] [--state-dir DIR]: write
 * conf_path, make the state and keys directories, a self-signed TLS
 * certificate, DKIM keys and mail.db with D. Refuses to replace any
 * existing configuration or key; on failure removes what it made.
 * Returns CLI_OK, CLI_FAIL or CLI_USAGE.
 */
int cli_init_main(const char *conf_path, int argc, char **argv);

/* ---- cli_dkim.c: DKIM key rotation (docs/outbound.md) ---- */

/*
 * homeport dkim list [DOMAIN], rotate DOMAIN, activate DOMAIN, remove
 * DOMAIN SELECTOR, on STATE_DIR/keys/dkim of the configuration at
 * conf_path. Returns CLI_OK, CLI_FAIL or CLI_USAGE.
 */
int cli_dkim_main(const char *conf_path, int argc, char **argv);

/* Called with each DKIM key's record: owner name (no final dot), TXT text, "active"|"pending"|"retired". */
typedef void (*cli_dkim_emit_fn)(void *arg, const char *owner, const char *text, const char *state);

/*
 * The TXT records of domain's DKIM keys in STATE_DIR/keys/dkim (active,
 * then pending, then retired), each given to emit. Returns CLI_OK, or
 * CLI_FAIL (printed) when a key cannot be read.
 */
int cli_dkim_records(const char *state_dir, const char *domain, cli_dkim_emit_fn emit, void *arg);

/* ---- cli_dns.c: homeport dns (docs/home.md) ---- */

/*
 * homeport dns [--address ADDR]...: every DNS record the owner publishes
 * for the local domains, in zone-file syntax. Returns CLI_OK, CLI_FAIL or
 * CLI_USAGE.
 */
int cli_dns_main(const char *conf_path, int argc, char **argv);

/*
 * The _homeport TXT record of host for the home's WireGuard public key
 * pk (docs/wire.md "Host-name ownership"), as one zone-file line on
 * stdout: what an edge with require_txt looks for.
 */
void cli_dns_homeport_txt(const char *host, const uint8_t pk[32]);

/* ---- cli_relay.c: relay mode (docs/home.md "Relay mode") ---- */

/*
 * homeport relay join TOKEN [--hostname H]... [--name N] [--interface IF]
 * [--public-address A], relay status, relay on|off, relay leave NAME,
 * relay key [--hostname H]... (the home's WireGuard public key and its
 * _homeport TXT records, the key made when there is none): the edges in
 * STATE_DIR/relay.conf and the tunnel to them. Returns CLI_OK, CLI_FAIL
 * (status: an edge is not reachable) or CLI_USAGE.
 */
int cli_relay_main(const char *conf_path, int argc, char **argv);

#endif
