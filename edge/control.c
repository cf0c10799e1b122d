/*
 * control: the edge's answer to one enrollment request (docs/wire.md,
 * "Enrollment"). control_answer() takes the request's sealed bytes and
 * gives the sealed response's: open it with the edge's enrollment key,
 * find the invite its id names, check the MAC with the invite's secret and
 * the clock, check the host names against the invite's, enroll the home
 * in tenants.db (which takes the invite: single use) and say what the home
 * needs to bring its tunnel up.
 *
 * The socket around it (a TCP listener on [enroll] control, one framed
 * request and one framed answer per connection) and adding the WireGuard
 * peer come with the rest of relay mode; this is the part that decides.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "edge.h"
#include "enroll_wire.h"

/* Is host one of the invite's comma-separated names ("" allows any)? */
static int
control_host_allowed(const char *allowed, const char *host)
{
	size_t hl = strlen(host);

	if (allowed[0] == '\0')
		return 1;
	for (const char *p = allowed; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == hl && strncasecmp(p, host, n) == 0)
			return 1;
		p += n + (end != NULL ? 1 : 0);
	}
	return 0;
}

/* The tenant's name from its first host name: dots become '-', at most TENANTS_NAME_MAX. */
static void
control_tenant_name(const char *host, char out[TENANTS_NAME_MAX + 1])
{
	size_t n = 0;

	for (; host[n] != '\0' && n < TENANTS_NAME_MAX; n++)
		out[n] = host[n] == '.' ? '-' : host[n];
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
}

/* A refusal (or "try later") for the home, sealed to its reply key. */
static int
control_refuse(const struct enroll_request *rq, uint8_t status, const char *why, uint8_t *out,
	       size_t cap, size_t *len_r)
{
	struct enroll_response rs = { .status = status };

	memcpy(rs.nonce, rq->nonce, sizeof(rs.nonce));
	snprintf(rs.message, sizeof(rs.message), "%s", why);
	return enroll_response_seal(&rs, rq->reply_pk, out, cap, len_r);
}

int
control_answer(struct tenants *t, const struct control_ctx *ctx, const uint8_t *req, size_t len,
	       int64_t now, uint8_t *out, size_t cap, size_t *len_r, char *log, size_t logcap)
{
	struct enroll_request rq;
	struct enroll_response rs;
	struct tenants_invite inv;
	struct tenants_tenant x;
	const char *why = NULL;
	char err[256], hosts[TENANTS_HOSTNAMES_MAX];
	size_t used = 0;
	int rc;

	*len_r = 0;
	if (enroll_request_open(req, len, ctx->box_pk, ctx->box_sk, &rq, &why) != 0) {
		/* Not sealed to us, or not a request: nobody to answer to. */
		snprintf(log, logcap, "result=dropped reason=\"%s\"", why);
		return -1;
	}
	rc = tenants_invite_get(t, rq.invite_id, &inv, err, sizeof(err));
	if (rc < 0) {
		snprintf(log, logcap, "result=try_later reason=\"%s\"", err);
		return control_refuse(&rq, ENROLL_TRY_LATER, "the edge cannot enroll now, try later", out, cap,
				      len_r);
	}
	/*
	 * An unknown invite and a wrong MAC get the same answer: the answer
	 * must not tell which invite ids exist.
	 */
	if (rc > 0 || enroll_request_verify(&rq, inv.secret, now, ENROLL_SKEW_MAX, &why) != 0) {
		sodium_memzero(&inv, sizeof(inv));
		snprintf(log, logcap, "result=refused reason=\"%s\"",
			 rc > 0 ? "unknown invite" : why);
		return control_refuse(&rq, ENROLL_REFUSED,
				      rc == 0 && strstr(why, "clock") != NULL
					      ? "the home's clock is off by more than 5 minutes"
					      : "invite unknown, or the token does not match it",
				      out, cap, len_r);
	}
	sodium_memzero(inv.secret, sizeof(inv.secret));
	if (inv.used != 0 || inv.expires <= now) {
		snprintf(log, logcap, "result=refused reason=\"invite %s\"", inv.used ? "used" : "expired");
		return control_refuse(&rq, ENROLL_REFUSED,
				      inv.used ? "invite already used" : "invite expired", out, cap, len_r);
	}
	if (rq.nhost == 0) {
		snprintf(log, logcap, "result=refused reason=\"no host names\"");
		return control_refuse(&rq, ENROLL_REFUSED, "the request names no host", out, cap, len_r);
	}
	for (size_t i = 0; i < rq.nhost; i++) {
		int n;
		if (!control_host_allowed(inv.hostnames, rq.host[i])) {
			char msg[ENROLL_MESSAGE_MAX + 1];
			snprintf(msg, sizeof(msg), "host name %s is not in the invite", rq.host[i]);
			snprintf(log, logcap, "result=refused reason=\"%s\"", msg);
			return control_refuse(&rq, ENROLL_REFUSED, msg, out, cap, len_r);
		}
		n = snprintf(hosts + used, sizeof(hosts) - used, "%s%s", i > 0 ? "," : "", rq.host[i]);
		used += n > 0 && (size_t)n < sizeof(hosts) - used ? (size_t)n : 0;
	}
	memset(&x, 0, sizeof(x));
	control_tenant_name(rq.host[0], x.name);
	memcpy(x.wg_key, rq.home_wg_pk, sizeof(x.wg_key));
	snprintf(x.hostnames, sizeof(x.hostnames), "%s", hosts);
	rc = tenants_enroll(t, rq.invite_id, now, &ctx->pool, &x, err, sizeof(err));
	if (rc != 0) {
		snprintf(log, logcap, "result=%s reason=\"%s\"", rc < 0 || rc == 2 ? "try_later" : "refused",
			 err);
		return control_refuse(&rq, rc == 1 ? ENROLL_REFUSED : ENROLL_TRY_LATER,
				      rc == 1 ? err : "the edge cannot enroll now, try later", out, cap, len_r);
	}
	memset(&rs, 0, sizeof(rs));
	memcpy(rs.nonce, rq.nonce, sizeof(rs.nonce));
	rs.status = ENROLL_OK;
	snprintf(rs.message, sizeof(rs.message), "welcome");
	snprintf(rs.tenant, sizeof(rs.tenant), "%s", x.name);
	memcpy(rs.edge_wg_pk, ctx->edge_wg_pk, sizeof(rs.edge_wg_pk));
	rs.wg_endpoint = ctx->wg_endpoint;
	rs.tunnel_v4 = x.tunnel_v4;
	rs.tunnel_v4_prefix = (uint8_t)ctx->pool.v4.prefix;
	if (ctx->pool.has_v6) {
		rs.tunnel_v6 = x.tunnel_v6;
		rs.tunnel_v6_prefix = (uint8_t)ctx->pool.v6.prefix;
		(void)tenants_pool_host(&ctx->pool.v6, 1, &rs.edge_v6);
	}
	(void)tenants_pool_host(&ctx->pool.v4, 1, &rs.edge_v4);
	rs.egress_port = ctx->egress_port;
	rs.nhost = rq.nhost;
	memcpy(rs.host, rq.host, sizeof(rs.host));
	snprintf(log, logcap, "result=enrolled tenant=%s hosts=\"%s\"", x.name, hosts);
	return enroll_response_seal(&rs, rq.reply_pk, out, cap, len_r);
}
