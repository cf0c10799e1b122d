#include "sig.h"

#include <signal.h>
#include <stdlib.h>

#include "log.h"

struct sig_handlers {
	struct event_base *base;
	struct event *hup, *term, *intr;
	void (*on_reload)(void *arg);
	void (*on_stop)(void *arg);
	void *arg;
};

static void
sig_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct sig_handlers *h = arg;

	(void)sig;
	(void)what;
	log_info(NULL, "signal", "signal=HUP action=reload");
	h->on_reload(h->arg);
}

static void
sig_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct sig_handlers *h = arg;

	(void)what;
	log_info(NULL, "signal", "signal=%s action=stop", sig == SIGTERM ? "TERM" : "INT");
	if (h->on_stop != NULL)
		h->on_stop(h->arg);
	event_base_loopexit(h->base, NULL);
}

struct sig_handlers *
sig_setup(struct event_base *base, void (*on_reload)(void *arg), void (*on_stop)(void *arg),
	  void *arg)
{
	struct sig_handlers *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->on_reload = on_reload;
	h->on_stop = on_stop;
	h->arg = arg;
	signal(SIGPIPE, SIG_IGN);
	h->hup = evsignal_new(base, SIGHUP, sig_on_hup, h);
	h->term = evsignal_new(base, SIGTERM, sig_on_stop, h);
	h->intr = evsignal_new(base, SIGINT, sig_on_stop, h);
	if (h->hup == NULL || h->term == NULL || h->intr == NULL ||
	    evsignal_add(h->hup, NULL) != 0 || evsignal_add(h->term, NULL) != 0 ||
	    evsignal_add(h->intr, NULL) != 0) {
		sig_free(&h);
		return NULL;
	}
	return h;
}

void
sig_free(struct sig_handlers **hp)
{
	struct sig_handlers *h = *hp;

	if (h == NULL)
		return;
	if (h->hup != NULL)
		event_free(h->hup);
	if (h->term != NULL)
		event_free(h->term);
	if (h->intr != NULL)
		event_free(h->intr);
	free(h);
	*hp = NULL;
}
