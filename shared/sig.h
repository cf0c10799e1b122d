/*
 * sig: the signals every Homeport daemon handles, on its event loop:
 * SIGHUP reloads, SIGTERM and SIGINT stop the loop, SIGPIPE is ignored
 * (a peer that goes away is an ordinary write error).
 */
#ifndef HOMEPORT_SIG_H
#define HOMEPORT_SIG_H

#include <event2/event.h>

struct sig_handlers;

/*
 * Install the handlers on base. on_reload(arg) (not NULL) runs for each
 * SIGHUP; on_stop(arg), if not NULL, runs on SIGTERM/SIGINT, after which
 * event_base_dispatch() returns once the current callbacks finish.
 * SIGPIPE is ignored from here on (also after sig_free()).
 * Returns the handlers (free with sig_free()) or NULL.
 */
struct sig_handlers *sig_setup(struct event_base *base, void (*on_reload)(void *arg),
			       void (*on_stop)(void *arg), void *arg);

/* Remove and free (accepts NULL; clears *hp). */
void sig_free(struct sig_handlers **hp);

#endif
