/*
 * login: what a login does beside its protocol, the same for SMTP AUTH and
 * IMAP LOGIN/AUTHENTICATE: the account's lookup, the throttle before the
 * password is looked at, the password check handed out to be run off the
 * loop, and the throttle's bookkeeping and a rehash once it ran. The
 * protocol's session only words the answers.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "home.h"
#include "log.h"

void
login_peer_init(struct login_peer *lp, const struct addr *peer)
{
	uint8_t ip[16];
	char text[ADDR_TEXT_MAX];
	size_t n;

	snprintf(lp->ip, sizeof(lp->ip), "unknown");
	snprintf(lp->key, sizeof(lp->key), "ip:unknown");
	if (peer == NULL)
		return;
	n = addr_ip_bytes(peer, ip);
	if (n == 4) {
		inet_ntop(AF_INET, ip, lp->ip, sizeof(lp->ip));
		snprintf(lp->key, sizeof(lp->key), "ip:%s", lp->ip);
	} else if (n == 16) {
		inet_ntop(AF_INET6, ip, text, sizeof(text));
		snprintf(lp->ip, sizeof(lp->ip), "IPv6:%s", text);
		/* One source is a /64, as for connection counts. */
		memset(ip + 8, 0, 8);
		inet_ntop(AF_INET6, ip, text, sizeof(text));
		snprintf(lp->key, sizeof(lp->key), "ip:%s/64", text);
	}
}

/* The throttle key of an account: its id when it exists, else the name as given, lower-cased. */
static void
login_user_key(const char *name, size_t len, int64_t id, char *out, size_t cap)
{
	size_t o;

	if (id != 0) {
		snprintf(out, cap, "uid:%lld", (long long)id);
		return;
	}
	o = (size_t)snprintf(out, cap, "name:");
	for (size_t i = 0; i < len && o + 1 < cap; i++, o++) {
		char c = name[i];

		out[o] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		out[o + 1] = '\0';
	}
}

int
login_begin(struct login *l, const struct login_env *env, const char *name, size_t namelen,
	    const char *pass, size_t passlen, int64_t now_ms)
{
	struct store_user u;
	struct store_err err;
	int64_t locked;

	memset(&u, 0, sizeof(u));
	memset(l, 0, sizeof(*l));
	log_escape(name, namelen, l->esc, sizeof(l->esc));
	if (namelen > 0 && namelen < sizeof(u.address) && memchr(name, '\0', namelen) == NULL) {
		char address[STORE_ADDRESS_MAX];

		memcpy(address, name, namelen);
		address[namelen] = '\0';
		if (store_user_get(env->st, address, &u, &err) == 0) {
			l->found = 1;
		} else if (err.kind == STORE_ERR_TEMPORARY) {
			log_error(env->sid, "store_error", "during=auth code=%d kind=%s error=\"%s\"",
				  err.code, store_err_kind_name(err.kind), err.msg);
			return LOGIN_TEMPFAIL;
		}
	}
	login_user_key(name, namelen, l->found ? u.id : 0, l->key, sizeof(l->key));
	locked = throttle_check(env->th, env->peer->key, now_ms);
	if (locked == 0)
		locked = throttle_check(env->th, l->key, now_ms);
	if (locked > 0) {
		log_warn(env->sid, "auth", "result=locked user=\"%s\" peer=%s locked_ms=%lld", l->esc,
			 env->peer->ip, (long long)locked);
		sodium_memzero(&u, sizeof(u));
		return LOGIN_LOCKED;
	}
	l->user_id = u.id;
	memcpy(l->address, u.address, sizeof(l->address));
	if (l->found)
		memcpy(l->check.hash, u.password_hash, sizeof(l->check.hash));
	else if (env->dummy_hash != NULL)
		snprintf(l->check.hash, sizeof(l->check.hash), "%s", env->dummy_hash);
	else
		l->check.hash[0] = '\0';	/* nothing to compare with: fails at once */
	l->check.len = passlen < sizeof(l->check.password) ? passlen : sizeof(l->check.password);
	memcpy(l->check.password, pass, l->check.len);
	sodium_memzero(&u, sizeof(u));
	return LOGIN_CHECK;
}

int
login_end(struct login *l, const struct login_env *env, const struct password_check *c,
	  int64_t now_ms, int64_t *delay_r)
{
	struct throttle_verdict vs, vu;
	struct store_err err;

	*delay_r = 0;
	sodium_memzero(&l->check, sizeof(l->check));
	if (c == NULL) {
		log_warn(env->sid, "auth", "result=unavailable user=\"%s\" peer=%s", l->esc, env->peer->ip);
		return LOGIN_UNAVAILABLE;
	}
	if (l->found && c->ok) {
		throttle_success(env->th, env->peer->key, now_ms);
		throttle_success(env->th, l->key, now_ms);
		if (c->rehash[0] != '\0') {
			if (store_user_set_password(env->st, l->address, c->rehash, &err) == 0)
				log_info(env->sid, "auth_rehash", "user=\"%s\" result=ok", l->esc);
			else
				log_warn(env->sid, "auth_rehash", "user=\"%s\" result=failed", l->esc);
		}
		log_info(env->sid, "auth", "result=ok user=\"%s\" peer=%s", l->esc, env->peer->ip);
		return LOGIN_OK;
	}
	throttle_fail(env->th, env->peer->key, now_ms, &vs);
	throttle_fail(env->th, l->key, now_ms, &vu);
	*delay_r = vs.delay_ms > vu.delay_ms ? vs.delay_ms : vu.delay_ms;
	log_warn(env->sid, "auth", "result=failed user=\"%s\" known=%s peer=%s failures_source=%u "
		 "failures_user=%u delay_ms=%lld", l->esc, l->found ? "yes" : "no", env->peer->ip,
		 vs.failures, vu.failures, (long long)*delay_r);
	if (vs.locked)
		log_warn(env->sid, "auth_lockout", "key=%s failures=%u locked_ms=%lld", env->peer->key,
			 vs.failures, (long long)vs.locked_ms);
	if (vu.locked)
		log_warn(env->sid, "auth_lockout", "key=\"%s\" user=\"%s\" failures=%u locked_ms=%lld",
			 l->key, l->esc, vu.failures, (long long)vu.locked_ms);
	return LOGIN_FAILED;
}

int
login_plain_split(const uint8_t *msg, size_t n, struct login_plain *p_r)
{
	const uint8_t *nul1 = n > 0 ? memchr(msg, '\0', n) : NULL;
	const uint8_t *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - msg)) : NULL;

	if (nul1 == NULL || nul2 == NULL)
		return -1;
	p_r->authz = (const char *)msg;
	p_r->authz_len = (size_t)(nul1 - msg);
	p_r->authc = (const char *)nul1 + 1;
	p_r->authc_len = (size_t)(nul2 - nul1 - 1);
	p_r->pass = (const char *)nul2 + 1;
	p_r->pass_len = n - (size_t)(nul2 + 1 - msg);
	/* Acting as someone else (an authorization identity of its own) is not offered. */
	p_r->other_authz = p_r->authz_len != 0 &&
			   (p_r->authz_len != p_r->authc_len || memcmp(p_r->authz, p_r->authc, p_r->authz_len) != 0);
	return 0;
}
