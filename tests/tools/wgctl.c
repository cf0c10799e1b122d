/*
 * wgctl: a thin command line over shared/wg and shared/netif, so the
 * network test bench builds its tunnels with Homeport's own WireGuard
 * control rather than wg(8) and ip(8). Runs in the caller's network
 * namespace (the bench uses "ip netns exec NS wgctl ...").
 *
 *   wgctl create IF [LOGFILE]          print "pid=N" (wireguard-go's PID, 0 for a kernel link)
 *   wgctl destroy IF [PID]
 *   wgctl set IF [private-key FILE] [listen-port N]
 *   wgctl peer IF PUBKEY [endpoint ADDR:PORT] [allowed-ips CIDR,...] [keepalive SECONDS]
 *   wgctl remove IF PUBKEY
 *   wgctl addr IF ADDR/PREFIX
 *   wgctl up IF
 *   wgctl show IF                      key=value lines
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "addr.h"
#include "b64.h"
#include "keyfile.h"
#include "netif.h"
#include "num.h"
#include "wg.h"
#include "wgkey.h"

#define WGCTL_ERR_MAX 512

static int
wgctl_usage(void)
{
	fprintf(stderr, "usage: wgctl create|destroy|set|peer|remove|addr|up|show IF ...\n");
	return 2;
}

static int
wgctl_fail(const char *err)
{
	fprintf(stderr, "wgctl: %s\n", err);
	return 1;
}

static int
wgctl_key_arg(const char *text, uint8_t key[WG_KEY_LEN])
{
	return wgkey_parse(text, strlen(text), key);
}

static int
wgctl_show(const char *ifname)
{
	char err[WGCTL_ERR_MAX], key[WGKEY_TEXT_SIZE], text[ADDR_TEXT_MAX];
	struct wg_device dev;

	if (wg_get(ifname, &dev, err, sizeof(err)) != 0)
		return wgctl_fail(err);
	wgkey_format(dev.public_key, key);
	printf("interface=%s\npublic_key=%s\nlisten_port=%u\npeers=%zu\n", ifname,
	       dev.has_private_key ? key : "(none)", (unsigned)dev.listen_port, dev.npeers);
	for (size_t i = 0; i < dev.npeers; i++) {
		const struct wg_peer *p = &dev.peers[i];
		wgkey_format(p->public_key, key);
		printf("peer=%s\n", key);
		printf("  endpoint=%s\n", p->endpoint.len ? addr_format(&p->endpoint, text, sizeof(text))
							  : "(none)");
		for (size_t j = 0; j < p->n_allowed_ips; j++)
			printf("  allowed_ip=%s\n", cidr_format(&p->allowed_ips[j], text, sizeof(text)));
		printf("  keepalive=%u\n  last_handshake=%lld\n  rx_bytes=%llu\n  tx_bytes=%llu\n",
		       (unsigned)p->keepalive, (long long)p->last_handshake_sec,
		       (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes);
	}
	wg_device_clear(&dev);
	return 0;
}

static int
wgctl_set(const char *ifname, int argc, char **argv)
{
	char err[WGCTL_ERR_MAX], text[KEYFILE_MAX];
	uint8_t priv[WG_KEY_LEN];
	int64_t port = -1;
	int have_key = 0, rc;
	size_t len;

	for (int i = 0; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "private-key") == 0) {
			if (keyfile_read(argv[i + 1], 1, (uint8_t *)text, sizeof(text) - 1, &len, err,
					 sizeof(err)) != 0)
				return wgctl_fail(err);
			if (wgkey_parse(text, len, priv) != 0)
				return wgctl_fail("private key file is not a WireGuard key");
			sodium_memzero(text, sizeof(text));
			have_key = 1;
		} else if (strcmp(argv[i], "listen-port") == 0) {
			if (num_parse_str(argv[i + 1], 0, 65535, &port) != 0)
				return wgctl_fail("listen-port must be 0..65535");
		} else {
			return wgctl_usage();
		}
	}
	if (argc % 2 != 0)
		return wgctl_usage();
	rc = wg_set_device(ifname, have_key ? priv : NULL, (int)port, err, sizeof(err));
	sodium_memzero(priv, sizeof(priv));
	return rc == 0 ? 0 : wgctl_fail(err);
}

static int
wgctl_peer(const char *ifname, int argc, char **argv)
{
	char err[WGCTL_ERR_MAX];
	struct wg_peer peer;
	int64_t n;

	memset(&peer, 0, sizeof(peer));
	if (argc < 1 || argc % 2 != 1 || wgctl_key_arg(argv[0], peer.public_key) != 0)
		return wgctl_usage();
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "endpoint") == 0) {
			if (addr_parse(v, strlen(v), ADDR_PORT_REQUIRED, &peer.endpoint) != 0)
				return wgctl_fail("endpoint must be ADDR:PORT");
		} else if (strcmp(argv[i], "keepalive") == 0) {
			if (num_parse_str(v, 0, 65535, &n) != 0)
				return wgctl_fail("keepalive must be 0..65535");
			peer.keepalive = (uint16_t)n;
		} else if (strcmp(argv[i], "allowed-ips") == 0) {
			const char *p = v;
			while (*p != '\0') {
				size_t len = strcspn(p, ",");
				if (peer.n_allowed_ips == WG_ALLOWED_IPS_MAX ||
				    cidr_parse(p, len, &peer.allowed_ips[peer.n_allowed_ips]) != 0)
					return wgctl_fail("allowed-ips must be CIDR,CIDR,...");
				peer.n_allowed_ips++;
				p += len + (p[len] == ',');
			}
		} else {
			return wgctl_usage();
		}
	}
	return wg_set_peer(ifname, &peer, err, sizeof(err)) == 0 ? 0 : wgctl_fail(err);
}

static int
wgctl_addr(const char *ifname, const char *arg)
{
	char err[WGCTL_ERR_MAX];
	const char *slash = strchr(arg, '/');
	struct addr a;
	int64_t prefix;

	if (slash == NULL || addr_parse(arg, (size_t)(slash - arg), ADDR_PORT_NONE, &a) != 0 ||
	    num_parse_str(slash + 1, 0, 128, &prefix) != 0)
		return wgctl_fail("address must be ADDR/PREFIX");
	return netif_addr_add(ifname, &a, (unsigned)prefix, err, sizeof(err)) == 0 ? 0
										       : wgctl_fail(err);
}

int
main(int argc, char **argv)
{
	char err[WGCTL_ERR_MAX];
	const char *cmd, *ifname;
	uint8_t key[WG_KEY_LEN];
	int64_t pid = 0;
	pid_t go_pid;

	if (argc < 3)
		return wgctl_usage();
	if (sodium_init() < 0)
		return wgctl_fail("libsodium failed to start");
	cmd = argv[1];
	ifname = argv[2];
	if (strcmp(cmd, "create") == 0 && (argc == 3 || argc == 4)) {
		int log_fd = argc == 4 ? open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
		if (argc == 4 && log_fd < 0)
			return wgctl_fail("cannot open the log file");
		if (wg_create(ifname, log_fd, &go_pid, err, sizeof(err)) != 0)
			return wgctl_fail(err);
		printf("pid=%ld\n", (long)go_pid);
		return 0;
	}
	if (strcmp(cmd, "destroy") == 0 && (argc == 3 || argc == 4)) {
		if (argc == 4 && num_parse_str(argv[3], 1, INT32_MAX, &pid) != 0)
			return wgctl_usage();
		return wg_destroy(ifname, (pid_t)pid, err, sizeof(err)) == 0 ? 0 : wgctl_fail(err);
	}
	if (strcmp(cmd, "set") == 0)
		return wgctl_set(ifname, argc - 3, argv + 3);
	if (strcmp(cmd, "peer") == 0)
		return wgctl_peer(ifname, argc - 3, argv + 3);
	if (strcmp(cmd, "remove") == 0 && argc == 4) {
		if (wgctl_key_arg(argv[3], key) != 0)
			return wgctl_usage();
		return wg_remove_peer(ifname, key, err, sizeof(err)) == 0 ? 0 : wgctl_fail(err);
	}
	if (strcmp(cmd, "addr") == 0 && argc == 4)
		return wgctl_addr(ifname, argv[3]);
	if (strcmp(cmd, "up") == 0 && argc == 3)
		return netif_link_up(ifname, err, sizeof(err)) == 0 ? 0 : wgctl_fail(err);
	if (strcmp(cmd, "show") == 0 && argc == 3)
		return wgctl_show(ifname);
	return wgctl_usage();
}
