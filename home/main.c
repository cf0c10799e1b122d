/*
 * homeportd: the home mail server.
 *
 * Start-up, in this order: configuration (with --check), the TLS identity
 * (read as root: the key is 0600), the SMTP listeners (bound as root:
 * ports under 1024), the DKIM keys (read as root too), then privileges
 * dropped to [home] user, then the store opened (so that mail.db, its WAL
 * and its shared memory belong to the service user), then the outbound
 * queue's runner (resolver, delivery threads: queue.c), then STATE_DIR/homeportd.pid,
 * then the loop. SIGHUP reloads the configuration with relay.conf (the
 * listeners that moved are rebuilt, their sessions in progress finish;
 * deliveries that start later leave by the new [outbound] transport)
 * and the TLS identity (now read as the service user: it must be able to
 * read the key then); `homeport relay on|off` sends it. SIGTERM stops
 * accepting and starts no delivery, lets sessions in the middle of a
 * message finish within [smtp] shutdown_grace, cuts the rest, and removes
 * the PID file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "daemon.h"
#include "dkim.h"
#include "dnsname.h"
#include "ev.h"
#include "home.h"
#include "log.h"
#include "mtasts.h"
#include "relay.h"
#include "sig.h"
#include "tls.h"
#include "tlsident.h"

struct homed {
	const char *conf_path;
	struct home_conf conf;
	struct tls_server *tls;
	struct event_base *base;
	struct server *srv;
	struct store *st;
	struct event *indexer;		/* the text index, behind deliveries */
	struct queue *queue;		/* outbound deliveries */
	struct dkim_keys *dkim;		/* read as root, like the TLS key */
	struct relay_state relay;	/* STATE_DIR/relay.conf: the edges, relay mode on or off */
	struct tls_identity served;	/* the certificate chain in use (no key): MTA-STS checks it */
	struct stat relay_seen;		/* relay.conf when it was read at start (st_ino 0: none) */
	char pid_path[HOME_PATH_MAX];	/* STATE_DIR/homeportd.pid once written, else "" */
};

/*
 * homeportd.conf as relay mode changes it (relay_mode.c): read
 * STATE_DIR/relay.conf into *rs and apply it to *hc. Returns 0, or -1
 * with err set.
 */
static int
homed_load_relay(struct home_conf *hc, struct relay_state *rs, char *err, size_t errcap)
{
	if (relay_state_load(hc->main->state_dir, rs, err, errcap) != 0)
		return -1;
	return relay_apply(hc, rs, err, errcap);
}

/* STATE_DIR/relay.conf's inode, size and times into *st (zeroed when there is none). */
static void
homed_relay_stat(const char *state_dir, struct stat *st)
{
	char path[HOME_PATH_MAX];

	memset(st, 0, sizeof(*st));
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, RELAY_FILE) < (int)sizeof(path) &&
	    stat(path, st) != 0)
		memset(st, 0, sizeof(*st));
}

/* Relay mode: the tunnel to the edges up before the listeners bind to its addresses. */
static int
homed_tunnel_up(struct homed *d, char *err, size_t errcap)
{
	const char *ifname;
	pid_t go_pid = 0;

	if (d->relay.nedges > 0 && !relay_state_active(&d->relay)) {
		/* Relay off: the edges must not reach listeners that no longer expect them. */
		if (geteuid() == 0 && relay_tunnel_down(&d->relay, err, errcap) != 0)
			return -1;
		log_info(NULL, "relay", "result=ok mode=off interface=%s edges=%zu", d->relay.main->interface,
			 d->relay.nedges);
		return 0;
	}
	if (!relay_state_active(&d->relay))
		return 0;
	ifname = d->relay.main->interface;
	if (geteuid() != 0) {
		log_warn(NULL, "relay", "tunnel=not_checked interface=%s why=\"not root: the tunnel must "
			 "already be up\"", ifname);
		return 0;
	}
	if (relay_tunnel_up(d->conf.main->state_dir, &d->relay, &go_pid, err, errcap) != 0)
		return -1;
	log_info(NULL, "relay", "result=ok mode=on interface=%s edges=%zu go_pid=%ld", ifname,
		 d->relay.nedges, (long)go_pid);
	return 0;
}

/* The MTA-STS policy to serve, from the configuration, relay.conf and the certificate: logged. */
static void
homed_mtasts(struct homed *d)
{
	struct mtasts_own *sts = malloc(sizeof(*sts));
	char esc[2 * MTASTS_OWN_WHY_MAX];

	if (sts == NULL)
		return;
	mtasts_own_load(&d->conf, &d->relay, &d->served, sts);
	if (sts->mode == MTASTS_MODE_NONE)
		log_info(NULL, "mta_sts", "result=none why=\"%s\"", log_escape(sts->why, strlen(sts->why), esc,
										  sizeof(esc)));
	else
		log_info(NULL, "mta_sts", "result=published mode=%s id=%s mx=%zu",
			 sts->mode == MTASTS_MODE_ENFORCE ? "enforce" : "testing", sts->id, sts->policy.nmx);
	server_set_mtasts(d->srv, sts);
	free(sts);
}

/* STATE_DIR/keys/dkim/'s signing keys (0600, root's after homeport init). */
static int
homed_load_dkim(struct homed *d, char *err, size_t errcap)
{
	char dir[HOME_PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/keys/dkim", d->conf.main->state_dir);

	if (n < 0 || (size_t)n >= sizeof(dir)) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	d->dkim = dkim_keys_load(dir, err, errcap);
	return d->dkim != NULL ? 0 : -1;
}

/*
 * Load the TLS identity named by conf into s (new server or reload); its
 * chain then replaces *served.
 */
static int
homed_load_tls(const struct home_conf *hc, struct tls_server **s, struct tls_identity *served, char *err,
	       size_t errcap)
{
	struct tls_identity id;
	int rc;

	if (tlsident_load(hc->cert_path, hc->key_path, &id, err, errcap) != 0)
		return -1;
	if (*s == NULL) {
		*s = tls_server_new(&id, err, errcap);
		rc = *s != NULL ? 0 : -1;
	} else {
		rc = tls_server_set_identity(*s, &id, err, errcap);
	}
	if (rc == 0) {
		tls_identity_clear(served);
		served->cert = id.cert;
		served->chain = id.chain;
		id.cert = NULL;
		id.chain = NULL;
	}
	tls_identity_clear(&id);
	return rc;
}

/*
 * Run as the service user from here on. Not started as root: nothing to
 * do (tests, development). Started as root, [home] user must be an
 * existing account other than root: homeportd never handles mail as root.
 * It keeps CAP_NET_BIND_SERVICE alone: a reload (relay on or off) binds
 * ports 25, 465, 587, 993, 443 and 80 again on other addresses.
 */
static int
homed_drop(const struct home_conf *hc, char *err, size_t errcap)
{
	if (geteuid() != 0)
		return 0;
	return daemon_drop_privileges(hc->main->user, DAEMON_KEEP_NET_BIND_SERVICE, err, errcap);
}

/* Open STATE_DIR/mail.db (creating it), removing bodies a crash left pending. */
static int
homed_open_store(struct homed *d, char *err, size_t errcap)
{
	char path[HOME_PATH_MAX];
	struct store_err serr;
	int n;

	if (home_store_path(d->conf.main->state_dir, path, sizeof(path)) != 0) {
		snprintf(err, errcap, "state_dir too long");
		return -1;
	}
	d->st = store_open(path, STORE_OPEN_RECOVER, &serr);
	if (d->st == NULL) {
		n = snprintf(err, errcap, "cannot open the store %s: %s (the state directory must "
			     "exist and be writable by the service user)", path, serr.msg);
		if (n < 0 || (size_t)n >= errcap)
			snprintf(err, errcap, "cannot open the store: %s", serr.msg);
		return -1;
	}
	return 0;
}

/*
 * The full-text index runs behind deliveries (an acknowledgement does not
 * wait for it), and only while no session has an answer on its way:
 * HOME_INDEX_SLICE_MS of indexing at a time, between which the loop
 * serves sessions; again at once while bodies wait, else every
 * HOME_INDEX_IDLE_MS. A SEARCH indexes what its mailbox still lacks
 * first, so answers never miss a message.
 */
static void
homed_index(evutil_socket_t fd, short what, void *arg)
{
	struct homed *d = arg;
	int64_t start = ev_monotonic_ms(), next = HOME_INDEX_IDLE_MS;
	size_t done = 0, n = 0, left = 0;
	struct store_err err;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (server_busy(d->srv)) {
		/* Sessions first: a client waiting for an answer does not wait for the index. */
		tv = ev_timeval_ms(HOME_INDEX_BUSY_MS);
		evtimer_add(d->indexer, &tv);
		return;
	}
	do {
		if (store_text_backfill(d->st, 1, &n, &left, &err) != 0) {
			log_warn(NULL, "store_index", "result=failed done=%zu retry_ms=%d error=\"%s\"", done,
				 HOME_INDEX_RETRY_MS, err.msg);
			next = HOME_INDEX_RETRY_MS;
			left = 0;
			break;
		}
		done += n;
	} while (left > 0 && n > 0 && ev_monotonic_ms() - start < HOME_INDEX_SLICE_MS);
	if (left > 0)
		next = 0;	/* more at once, after the loop has looked for I/O */
	if (done > 0)
		log_debug(NULL, "store_index", "done=%zu left=%zu ms=%lld", done, left,
			  (long long)(ev_monotonic_ms() - start));
	tv = ev_timeval_ms(next);
	evtimer_add(d->indexer, &tv);
}

static void
homed_reload(void *arg)
{
	struct homed *d = arg;
	struct home_conf fresh;
	struct relay_state relay;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX];
	unsigned failed;

	if (home_conf_load(d->conf_path, &fresh, err, sizeof(err)) == 0 &&
	    homed_load_relay(&fresh, &relay, err, sizeof(err)) != 0)
		home_conf_free(&fresh);
	if (fresh.conf == NULL) {
		log_error(NULL, "reload", "result=failed keeping=old error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		return;
	}
	/*
	 * After the privileges were dropped the key (0600, root's) may be out
	 * of reach: the configuration still changes, the certificate stays.
	 */
	if (homed_load_tls(&fresh, &d->tls, &d->served, err, sizeof(err)) != 0)
		log_warn(NULL, "reload", "tls=kept_old error=\"%s\" hint=\"restart homeportd to load "
			 "a new certificate\"", log_escape(err, strlen(err), esc, sizeof(esc)));
	failed = server_reload(d->srv, &fresh);
	queue_reload(d->queue, &fresh);
	home_conf_free(&d->conf);
	d->conf = fresh;
	relay_state_free(&d->relay);
	d->relay = relay;
	homed_mtasts(d);
	log_set_level((enum log_level)d->conf.main->log_level);
	if (failed > 0)
		log_error(NULL, "reload", "result=partial hostname=%s listeners=%zu failed=%u", d->conf.main->hostname,
			  d->conf.nlisteners, failed);
	else
		log_info(NULL, "reload", "result=ok hostname=%s listeners=%zu", d->conf.main->hostname,
			 d->conf.nlisteners);
}

int
main(int argc, char **argv)
{
	struct homed d = { 0 };
	struct daemon_opts opts;
	struct sig_handlers *sigs = NULL;
	char err[CONF_ERROR_MAX], esc[2 * CONF_ERROR_MAX], desc[128];
	int rc = daemon_start(argc, argv, "homeportd", HOME_CONF_DEFAULT, &opts);

	if (rc >= 0)
		return rc;
	d.conf_path = opts.conf_path;
	rc = home_conf_load(d.conf_path, &d.conf, err, sizeof(err));
	if (rc == 0) {
		/* Before it is read: a change from now on shows (see the PID file below). */
		homed_relay_stat(d.conf.main->state_dir, &d.relay_seen);
		rc = homed_load_relay(&d.conf, &d.relay, err, sizeof(err));
	}
	if (rc != 0) {
		fprintf(stderr, "homeportd: %s\n", err);
		home_conf_free(&d.conf);
		return 1;
	}
	rc = 1;		/* until it has run */
	if (opts.check) {
		printf("configuration OK%s\n", relay_state_active(&d.relay) ? " (relay mode)" : "");
		relay_state_free(&d.relay);
		home_conf_free(&d.conf);
		return 0;
	}
	log_init("homeportd", (enum log_level)d.conf.main->log_level, stderr);
	if (homed_load_tls(&d.conf, &d.tls, &d.served, err, sizeof(err)) != 0) {
		log_error(NULL, "start", "result=failed error=\"%s\" hint=\"homeport init creates a "
			  "bootstrap certificate; or set [tls] certificate and key\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	d.base = event_base_new();
	if (d.base == NULL || (sigs = sig_setup(d.base, homed_reload, NULL, &d)) == NULL) {
		log_error(NULL, "start", "result=failed error=\"cannot set up the event loop\"");
		goto out;
	}
	if (homed_tunnel_up(&d, err, sizeof(err)) != 0) {
		log_error(NULL, "start", "result=failed error=\"%s\" hint=\"homeport relay status\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	d.srv = server_new(d.base, &d.conf, d.tls, err, sizeof(err));
	if (d.srv == NULL) {
		log_error(NULL, "start", "result=failed error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	if (homed_load_dkim(&d, err, sizeof(err)) != 0 || homed_drop(&d.conf, err, sizeof(err)) != 0 ||
	    homed_open_store(&d, err, sizeof(err)) != 0) {
		log_error(NULL, "start", "result=failed error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	server_set_store(d.srv, d.st);
	homed_mtasts(&d);
	if ((d.indexer = evtimer_new(d.base, homed_index, &d)) == NULL) {
		log_error(NULL, "start", "result=failed error=\"out of memory\"");
		goto out;
	}
	homed_index(-1, 0, &d);
	if ((d.queue = queue_new(d.base, &d.conf, d.st, d.dkim, err, sizeof(err))) == NULL) {
		log_error(NULL, "start", "result=failed error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	/* Up: the commands that change relay mode find it here, and tell it to reload. */
	if (pidfile_path(d.conf.main->state_dir, d.pid_path, sizeof(d.pid_path)) != 0) {
		snprintf(err, sizeof(err), "state_dir too long");
		d.pid_path[0] = '\0';
	} else if (pidfile_write(d.pid_path, err, sizeof(err)) != 0) {
		d.pid_path[0] = '\0';	/* not ours to remove */
	}
	if (d.pid_path[0] == '\0') {
		log_error(NULL, "start", "result=failed error=\"%s\"",
			  log_escape(err, strlen(err), esc, sizeof(esc)));
		goto out;
	}
	{
		/* homeport relay changed relay.conf before it could find us: take the change now. */
		struct stat now;

		homed_relay_stat(d.conf.main->state_dir, &now);
		if (now.st_ino != d.relay_seen.st_ino || now.st_size != d.relay_seen.st_size ||
		    now.st_mtim.tv_sec != d.relay_seen.st_mtim.tv_sec ||
		    now.st_mtim.tv_nsec != d.relay_seen.st_mtim.tv_nsec) {
			log_info(NULL, "start", "relay=changed_while_starting action=reload");
			homed_reload(&d);
		}
	}
	X509_NAME_oneline(X509_get_subject_name(SSL_CTX_get0_certificate(tls_server_ctx(d.tls))),
			  desc, sizeof(desc));
	log_info(NULL, "start", "result=ok hostname=%s listeners=%zu certificate=\"%s\" uid=%ld pid=%ld",
		 d.conf.main->hostname, d.conf.nlisteners, log_escape(desc, strlen(desc), esc, sizeof(esc)),
		 (long)geteuid(), (long)getpid());
	event_base_dispatch(d.base);
	/* SIGTERM: no new deliveries out; let sessions finish their message, then go. */
	queue_stop(d.queue);
	if (server_stop(d.srv) > 0)
		event_base_dispatch(d.base);
	log_info(NULL, "stop", "result=ok");
	rc = 0;
out:
	if (d.pid_path[0] != '\0')
		pidfile_remove(d.pid_path);
	if (d.indexer != NULL)
		event_free(d.indexer);
	server_free(&d.srv);
	queue_free(&d.queue);
	dkim_keys_free(&d.dkim);
	store_close(&d.st);
	sig_free(&sigs);
	if (d.base != NULL)
		event_base_free(d.base);
	tls_server_free(&d.tls);
	tls_identity_clear(&d.served);
	relay_state_free(&d.relay);
	home_conf_free(&d.conf);
	return rc;
}
