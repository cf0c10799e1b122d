/*
 * daemon: the start every Homeport daemon shares: its command line
 * (-c FILE, --check, -h/--help) and libsodium's initialisation.
 */
#ifndef HOMEPORT_DAEMON_H
#define HOMEPORT_DAEMON_H

#include <stddef.h>

struct daemon_opts {
	const char *conf_path;	/* -c FILE, else the default; points into argv or static text */
	int check;		/* --check: check the configuration and exit */
};

/*
 * Parse argv for prog (e.g. "homeport-edge") whose configuration is at
 * default_conf unless -c says otherwise, and start libsodium. Returns -1
 * when the daemon should go on, else the exit status to return now: 0
 * after --help, 2 for a usage error (usage printed on stderr), 1 when
 * libsodium fails.
 */
int daemon_start(int argc, char **argv, const char *prog, const char *default_conf,
		 struct daemon_opts *opts);

#include <sys/types.h>

/* The capabilities a daemon may keep after dropping root (daemon_drop_privileges' keep). */
#define DAEMON_KEEP_NET_ADMIN 0x1u		/* CAP_NET_ADMIN: WireGuard peers while running (the edge) */
#define DAEMON_KEEP_NET_BIND_SERVICE 0x2u	/* CAP_NET_BIND_SERVICE: ports under 1024 on reload (homeportd) */

/*
 * When running as root, become user (its uid, gid, and no supplementary
 * groups), for good: done after the listening sockets are bound. The
 * process keeps, permitted and effective, exactly the capabilities named
 * in keep (DAEMON_KEEP_* or'ed; 0: none); every other capability goes,
 * and none is inheritable. Not root: nothing to do. Returns 0, or -1 with
 * the reason in err[0..errcap).
 */
int daemon_drop_privileges(const char *user, unsigned keep, char *err, size_t errcap);

/* The uid of user. Returns 0, or -1 with the reason in err. */
int daemon_user_uid(const char *user, uid_t *uid_r, char *err, size_t errcap);

#endif
