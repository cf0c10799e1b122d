/*
 * store_sts: the MTA-STS policies the SMTP client has seen, in mail.db
 * (table mta_sts, schema v4). The delivery threads keep a cache in memory
 * (mtasts_cache); this is what survives a restart, so that a domain's
 * enforce policy still holds while an attacker blocks its fetch (RFC 8461
 * 5.1, 10.2). Each delivery thread reaches it through its own connection.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "dnsname.h"
#include "home.h"
#include "store_int.h"

/* A domain in lower case into out[DNSNAME_MAX + 1]. Returns 0, or -1 (not a host name). */
static int
store_sts_domain(const char *domain, char *out, struct store_err *err)
{
	size_t n = strnlen(domain, DNSNAME_MAX + 1);

	if (n > DNSNAME_MAX || dnsname_check(domain, n, 0) != 0)
		return store_fail(err, STORE_E_INVALID, "not a domain name");
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] - 'A' + 'a' : domain[i]);
	return 0;
}

int
store_sts_get(struct store *st, const char *domain, int64_t now, struct store_sts *s_r,
	      struct store_err *err)
{
	static const char sql[] = "SELECT id, fetched, expires, policy FROM mta_sts"
				  " WHERE domain = ?1 AND expires > ?2";
	char name[DNSNAME_MAX + 1];
	sqlite3_stmt *s;
	int rc;

	if (store_sts_domain(domain, name, err) != 0)
		return -1;
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 2, now)) != SQLITE_OK) {
		sqlite3_reset(s);
		return store_sqlite_fail(st, err, rc, "bind");
	}
	rc = store_step(st, s, "read MTA-STS policy", err);
	if (rc == SQLITE_ROW) {
		memset(s_r, 0, sizeof(*s_r));
		s_r->fetched = sqlite3_column_int64(s, 1);
		s_r->expires = sqlite3_column_int64(s, 2);
		rc = store_column_text(s, 0, s_r->id, sizeof(s_r->id), err) == 0 &&
				     store_column_text(s, 3, s_r->policy, sizeof(s_r->policy), err) == 0
			     ? 0
			     : -1;
	} else if (rc >= 0) {
		rc = store_fail(err, STORE_E_NOTFOUND, "no MTA-STS policy kept for %s", name);
	}
	sqlite3_reset(s);
	return rc;
}

int
store_sts_put(struct store *st, const char *domain, const struct store_sts *in,
	      struct store_err *err)
{
	static const char put[] = "INSERT OR REPLACE INTO mta_sts (domain, id, fetched, expires, policy)"
				  " VALUES (?1, ?2, ?3, ?4, ?5)";
	static const char gone[] = "DELETE FROM mta_sts WHERE expires <= ?1";
	char name[DNSNAME_MAX + 1];
	size_t idlen = strnlen(in->id, sizeof(in->id));
	sqlite3_stmt *s;
	int rc;

	if (store_sts_domain(domain, name, err) != 0)
		return -1;
	if (idlen == 0 || idlen >= sizeof(in->id) || strnlen(in->policy, sizeof(in->policy)) >= sizeof(in->policy))
		return store_fail(err, STORE_E_INVALID, "bad MTA-STS id or policy");
	for (size_t i = 0; i < idlen; i++) {
		char c = in->id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return store_fail(err, STORE_E_INVALID, "bad MTA-STS id");
	}
	if (store_begin(st, STORE_SYNC_NORMAL, err) != 0)
		return -1;
	if ((s = store_stmt(st, gone, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, in->fetched)) != SQLITE_OK) {
		sqlite3_reset(s);
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	rc = store_step(st, s, "forget expired MTA-STS policies", err);
	sqlite3_reset(s);
	if (rc < 0 || (s = store_stmt(st, put, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 2, in->id, (int)idlen, SQLITE_TRANSIENT)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 3, in->fetched)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(s, 4, in->expires)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(s, 5, in->policy, -1, SQLITE_TRANSIENT)) != SQLITE_OK) {
		sqlite3_reset(s);
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	rc = store_step(st, s, "keep MTA-STS policy", err);
	sqlite3_reset(s);
	if (rc < 0)
		goto fail;
	return store_commit(st, err);
fail:
	store_rollback(st);
	return -1;
}
