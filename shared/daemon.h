/*
 * daemon: the start every Homeport daemon shares: its command line
 * (-c FILE, --check, -h/--help) and libsodium's initialisation.
 */
#ifndef HOMEPORT_DAEMON_H
#define HOMEPORT_DAEMON_H

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

#endif
