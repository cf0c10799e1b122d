#include "nl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/genetlink.h>

/* A dump ends with NLMSG_DONE, whose payload is an int: non-zero means
 * the kernel gave up part way and the answer is incomplete. */
static int
nl_on_done(const struct nlmsghdr *nlh, void *data)
{
	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
		int code = *(const int *)mnl_nlmsg_get_payload(nlh);

		if (code != 0) {
			errno = code < 0 ? -code : code;
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_STOP;
}

/* An acknowledgement (error 0) ends the exchange; anything else fails it. */
static int
nl_on_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP;
	errno = e->error < 0 ? -e->error : e->error;
	return MNL_CB_ERROR;
}

int
nl_talk(int bus, struct nlmsghdr *req, mnl_cb_t cb, void *data, const char *what, char *err,
	size_t errcap)
{
	struct mnl_socket *nl;
	char *buf = NULL;
	unsigned int port, seq = (unsigned int)time(NULL);
	int rc = -1, saved = 0;
	ssize_t n;
	mnl_cb_t ctl[NLMSG_DONE + 1] = {[NLMSG_ERROR] = nl_on_error, [NLMSG_DONE] = nl_on_done};

	nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		saved = errno;
		goto out;
	}
	port = mnl_socket_get_portid(nl);
	req->nlmsg_seq = seq;
	buf = malloc(NL_BUFFER_SIZE);
	if (buf == NULL) {
		saved = ENOMEM;
		goto out;
	}
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
		saved = errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, NL_BUFFER_SIZE);
		if (n < 0) {
			saved = errno;
			goto out;
		}
		/* The kernel marks a dump that changed while it was read;
		 * its parts do not belong together, so the caller must ask
		 * again rather than use it. */
		if ((size_t)n >= sizeof(struct nlmsghdr) &&
		    (((struct nlmsghdr *)(void *)buf)->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
			saved = EAGAIN;
			goto out;
		}
		rc = mnl_cb_run2(buf, (size_t)n, seq, port, cb, data, ctl, NLMSG_DONE + 1);
		if (rc < 0) {
			saved = errno;
			rc = -1;
			goto out;
		}
		if (rc == MNL_CB_STOP)
			break;
	}
	rc = 0;
out:
	if (rc != 0) {
		snprintf(err, errcap, "%s: %s", what, strerror(saved));
		errno = saved;
	}
	free(buf);
	if (nl != NULL)
		mnl_socket_close(nl);
	return rc;
}

static int
nl_on_family_attr(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
		*(int *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int
nl_on_family(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), nl_on_family_attr, data) < 0
		       ? MNL_CB_ERROR : MNL_CB_OK;
}

int
nl_genl_family(const char *name, uint16_t *id_r, char *err, size_t errcap)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;
	int id = -1;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
	if (nl_talk(NETLINK_GENERIC, nlh, nl_on_family, &id, "generic netlink family lookup", err,
		    errcap) != 0)
		return -1;
	if (id < 0) {
		snprintf(err, errcap, "generic netlink family %s: no id in the answer", name);
		errno = ENOENT;
		return -1;
	}
	*id_r = (uint16_t)id;
	return 0;
}
