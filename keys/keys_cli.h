/*
 * keys_cli: the "homeport keys ..." subcommands.
 *
 *   wg-genkey                      print a new WireGuard private key (as wg genkey)
 *   wg-pubkey                      read a private key on stdin, print its public key
 *   sign-genkey -p PUB -s SEC [-f] make a minisign key pair (secret unencrypted)
 *   sign -s SEC [-x SIG] [-t TRUSTED] [-c UNTRUSTED] FILE
 *   verify (-p PUB | -P KEY) [-x SIG] [-q] FILE
 *   dkim-genkey -a ed25519|rsa -o FILE   make a DKIM key, print its TXT record
 *   dkim-record FILE               print the TXT record of a DKIM key
 *   selfcert -c CERT -k KEY [-d DAYS] [-f] HOST...
 *
 * minisign's own flags are accepted where they overlap (-m FILE for the
 * file to sign or verify).
 */
#ifndef HOMEPORT_KEYS_CLI_H
#define HOMEPORT_KEYS_CLI_H

/*
 * Run one subcommand; argv[0] is "keys". Writes results to stdout and
 * errors to stderr. Returns the process exit status (0 success, 1 failure
 * or an invalid signature, 2 usage error).
 */
int keys_cli_main(int argc, char **argv);

#endif
