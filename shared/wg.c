#include "wg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "netif.h"
#include "wg_netlink.h"
#include "wg_uapi.h"

#define WG_POLL_MS 20			/* while waiting for wireguard-go's socket */
#define WG_GO_STOP_MS 5000		/* for wireguard-go to exit on SIGTERM */
#define WG_GO_UAPI_FD 3			/* where wireguard-go finds a socket made for it (WG_UAPI_FD) */

static int
wg_socket_path(const char *ifname, char *out, size_t cap)
{
	return snprintf(out, cap, "%s/%s.sock", WG_UAPI_DIR, ifname) < (int)cap ? 0 : -1;
}

enum wg_backend
wg_backend_of(const char *ifname)
{
	char path[256];
	struct stat st;

	if (wg_socket_path(ifname, path, sizeof(path)) == 0 && stat(path, &st) == 0 &&
	    S_ISSOCK(st.st_mode))
		return WG_BACKEND_UAPI;
	return WG_BACKEND_NETLINK;
}

int
wg_get(const char *ifname, struct wg_device *dev, char *err, size_t errcap)
{
	int rc;

	memset(dev, 0, sizeof(*dev));
	rc = wg_backend_of(ifname) == WG_BACKEND_UAPI ? wg_uapi_get(ifname, dev, err, errcap)
						      : wg_netlink_get(ifname, dev, err, errcap);
	if (rc != 0)
		wg_device_clear(dev);
	return rc;
}

int
wg_set_device(const char *ifname, const uint8_t *private_key, int listen_port, char *err,
	      size_t errcap)
{
	char req[WG_UAPI_REQUEST_MAX];
	int rc;

	if (listen_port > 65535) {
		snprintf(err, errcap, "%s: listen port %d out of range", ifname, listen_port);
		return -1;
	}
	if (wg_backend_of(ifname) == WG_BACKEND_NETLINK)
		return wg_netlink_set_device(ifname, private_key, listen_port, err, errcap);
	if (wg_uapi_format_set_device(private_key, listen_port, req, sizeof(req)) < 0) {
		snprintf(err, errcap, "%s: request too long", ifname);
		return -1;
	}
	rc = wg_uapi_set(ifname, req, err, errcap);
	sodium_memzero(req, sizeof(req));
	return rc;
}

int
wg_set_peer(const char *ifname, const struct wg_peer *peer, char *err, size_t errcap)
{
	char req[WG_UAPI_REQUEST_MAX];

	if (peer->n_allowed_ips > WG_ALLOWED_IPS_MAX) {
		snprintf(err, errcap, "%s: more than %d allowed IPs", ifname, WG_ALLOWED_IPS_MAX);
		return -1;
	}
	if (wg_backend_of(ifname) == WG_BACKEND_NETLINK)
		return wg_netlink_set_peer(ifname, peer, err, errcap);
	if (wg_uapi_format_set_peer(peer, req, sizeof(req)) < 0) {
		snprintf(err, errcap, "%s: request too long", ifname);
		return -1;
	}
	return wg_uapi_set(ifname, req, err, errcap);
}

int
wg_remove_peer(const char *ifname, const uint8_t public_key[WG_KEY_LEN], char *err, size_t errcap)
{
	char req[WG_UAPI_REQUEST_MAX];

	if (wg_backend_of(ifname) == WG_BACKEND_NETLINK)
		return wg_netlink_remove_peer(ifname, public_key, err, errcap);
	wg_uapi_format_remove_peer(public_key, req, sizeof(req));
	return wg_uapi_set(ifname, req, err, errcap);
}

static void
wg_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * The UAPI socket for ifname, listening, made here for wireguard-go
 * (WG_UAPI_FD) so that it belongs to owner from the start: wireguard-go
 * watches its socket file and takes any change to it, a chown included,
 * for its removal, and exits. Mode 0700 as wireguard-go makes it. A stale
 * file (nobody listening) is replaced. Returns the socket (close-on-exec),
 * or -1 with err.
 */
static int
wg_uapi_listen(const char *ifname, uid_t owner, char *err, size_t errcap)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t mask;
	int fd = -1, rc;

	if (wg_socket_path(ifname, sun.sun_path, sizeof(sun.sun_path)) != 0) {
		snprintf(err, errcap, "%s: interface name too long", ifname);
		return -1;
	}
	if (mkdir(WG_UAPI_DIR, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errcap, "%s: %s", WG_UAPI_DIR, strerror(errno));
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			break;
		mask = umask(077);
		rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		umask(mask);
		if (rc == 0)
			break;
		if (errno != EADDRINUSE || attempt > 0 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || unlink(sun.sun_path) != 0) {
			snprintf(err, errcap, "%s: %s in use or not usable", ifname, sun.sun_path);
			close(fd);
			return -1;
		}
		close(fd);
		fd = -1;
	}
	if (fd < 0 || (owner != (uid_t)-1 && chown(sun.sun_path, owner, (gid_t)-1) != 0) ||
	    listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errcap, "%s: cannot make %s: %s", ifname, sun.sun_path, strerror(errno));
		if (fd >= 0) {
			unlink(sun.sun_path);
			close(fd);
		}
		return -1;
	}
	return fd;
}

/*
 * Start wireguard-go in the foreground as our child and wait for it. With
 * owner, its UAPI socket is made here (wg_uapi_listen()) and handed to
 * owner, and the wait is for the interface; else wireguard-go makes the
 * socket (root's) and the wait is for the socket.
 */
static int
wg_start_go(const char *ifname, int log_fd, uid_t owner, pid_t *pid_r, char *err, size_t errcap)
{
	char path[256];
	pid_t pid;
	int status, uapi = -1;

	if (owner != (uid_t)-1 && (uapi = wg_uapi_listen(ifname, owner, err, errcap)) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		snprintf(err, errcap, "%s: cannot start %s: %s", ifname, WG_GO_PROGRAM, strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		/* Hold none of the caller's pipes: a parent waiting for EOF would hang. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int out = log_fd >= 0 ? log_fd : null;
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
		    dup2(out, STDERR_FILENO) < 0)
			_exit(127);
		if (uapi >= 0) {
			/* dup2 clears close-on-exec, except onto itself. */
			if ((uapi == WG_GO_UAPI_FD ? fcntl(uapi, F_SETFD, 0) : dup2(uapi, WG_GO_UAPI_FD)) < 0 ||
			    setenv("WG_UAPI_FD", "3", 1) != 0)
				_exit(127);
		}
		/* Its own session: the interface outlives a stopped or killed parent. */
		setsid();
		execlp(WG_GO_PROGRAM, WG_GO_PROGRAM, "-f", ifname, (char *)NULL);
		_exit(127);
	}
	if (uapi >= 0) {
		close(uapi);
		uapi = -1;
	}
	for (long waited = 0; waited < WG_CREATE_TIMEOUT_MS; waited += WG_POLL_MS) {
		if (owner != (uid_t)-1 ? if_nametoindex(ifname) != 0 : wg_backend_of(ifname) == WG_BACKEND_UAPI) {
			*pid_r = pid;
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			snprintf(err, errcap, "%s: %s exited (%s %d) before its %s appeared", ifname,
				 WG_GO_PROGRAM, WIFEXITED(status) ? "status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				 owner != (uid_t)-1 ? "interface" : "socket");
			goto fail;
		}
		wg_sleep_ms(WG_POLL_MS);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	snprintf(err, errcap, "%s: %s made no %s within %d ms", ifname, WG_GO_PROGRAM,
		 owner != (uid_t)-1 ? "interface" : "socket", WG_CREATE_TIMEOUT_MS);
fail:
	if (uapi >= 0)
		close(uapi);
	if (owner != (uid_t)-1 && wg_socket_path(ifname, path, sizeof(path)) == 0)
		unlink(path);
	return -1;
}

/* wg_create(), the UAPI socket (if any) belonging to owner ((uid_t)-1: root's). */
static int
wg_create_owned(const char *ifname, int log_fd, uid_t owner, pid_t *go_pid_r, char *err, size_t errcap)
{
	*go_pid_r = 0;
	if (netif_link_add(ifname, "wireguard", err, errcap) == 0)
		return 0;
	/* No kernel module: the userspace implementation. */
	if (errno != EOPNOTSUPP && errno != EAFNOSUPPORT && errno != ENOENT)
		return -1;
	return wg_start_go(ifname, log_fd, owner, go_pid_r, err, errcap);
}

int
wg_create(const char *ifname, int log_fd, pid_t *go_pid_r, char *err, size_t errcap)
{
	return wg_create_owned(ifname, log_fd, (uid_t)-1, go_pid_r, err, errcap);
}

int
wg_destroy(const char *ifname, pid_t go_pid, char *err, size_t errcap)
{
	int status, rc = 0;

	if (go_pid > 0) {
		/* wireguard-go removes its interface and socket when it exits. */
		kill(go_pid, SIGTERM);
		for (long waited = 0;; waited += WG_POLL_MS) {
			pid_t r = waitpid(go_pid, &status, WNOHANG);
			if (r == go_pid)
				break;
			/* Started by another process (wgctl create): gone once kill() finds nothing. */
			if (r < 0 && errno == ECHILD && kill(go_pid, 0) != 0 && errno == ESRCH)
				break;
			if (waited >= WG_GO_STOP_MS) {
				kill(go_pid, SIGKILL);
				waitpid(go_pid, &status, WNOHANG);
				break;
			}
			wg_sleep_ms(WG_POLL_MS);
		}
		return 0;
	}
	if (netif_link_del(ifname, err, errcap) != 0 && errno != ENODEV)
		rc = -1;
	return rc;
}

int
wg_ensure(const struct wg_interface *wi, pid_t *go_pid_r, char *err, size_t errcap)
{
	char path[256];
	struct stat st;

	*go_pid_r = 0;
	if (if_nametoindex(wi->ifname) == 0) {
		if (wg_create_owned(wi->ifname, wi->log_fd, wi->socket_owner, go_pid_r, err, errcap) != 0)
			return -1;
	} else if (wi->socket_owner != (uid_t)-1 && wg_backend_of(wi->ifname) == WG_BACKEND_UAPI &&
		   wg_socket_path(wi->ifname, path, sizeof(path)) == 0 &&
		   (stat(path, &st) != 0 || st.st_uid != wi->socket_owner)) {
		/* Made earlier by someone else: a chown now would make wireguard-go exit. */
		snprintf(err, errcap, "%s: %s does not belong to uid %ld: stop its %s so that it is made again",
			 wi->ifname, path, (long)wi->socket_owner, WG_GO_PROGRAM);
		return -1;
	}
	if (wg_set_device(wi->ifname, wi->private_key, wi->listen_port, err, errcap) != 0)
		return -1;
	for (size_t i = 0; i < wi->naddresses; i++) {
		if (netif_addr_add(wi->ifname, &wi->addresses[i].addr, wi->addresses[i].prefix, err,
				   errcap) != 0 && errno != EEXIST)
			return -1;
	}
	return netif_link_up(wi->ifname, err, errcap);
}

struct wg_peer *
wg_device_add_peer(struct wg_device *dev)
{
	if (dev->npeers == WG_PEERS_MAX)
		return NULL;
	if (dev->npeers == dev->peers_cap) {
		size_t cap = dev->peers_cap ? dev->peers_cap * 2 : 8;
		struct wg_peer *p = reallocarray(dev->peers, cap, sizeof(*p));
		if (p == NULL)
			return NULL;
		dev->peers = p;
		dev->peers_cap = cap;
	}
	memset(&dev->peers[dev->npeers], 0, sizeof(dev->peers[0]));
	return &dev->peers[dev->npeers++];
}

void
wg_device_clear(struct wg_device *dev)
{
	free(dev->peers);
	sodium_memzero(dev, sizeof(*dev));
}
