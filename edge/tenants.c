/*
 * tenants: the edge's tenants.db, the only SQL on the edge. It holds the
 * homes that enrolled (name, WireGuard key, tunnel addresses, host names,
 * state) and the one-time invites they enrolled with. No mail, nothing a
 * restart could lose: the edge stays stateless for mail (DESIGN.md).
 *
 * An enrollment is one transaction (tenants_enroll): the invite is taken
 * (unused and unexpired, checked again inside the transaction, so two
 * requests racing for one invite get one tenant), the next free tunnel
 * addresses of the pool are given, the tenant is added. synchronous=FULL:
 * an answer the home acted on is never forgotten.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsname.h"
#include "edge.h"

#define TENANTS_BUSY_TIMEOUT 5000	/* ms another connection may hold the file */
#define TENANTS_SCHEMA_VERSION 1

struct tenants {
	sqlite3 *db;
};

static const char tenants_schema[] =
	"CREATE TABLE tenants (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  wg_key BLOB NOT NULL UNIQUE CHECK (length(wg_key) = 32),\n"
	"  tunnel_v4 TEXT NOT NULL UNIQUE,\n"
	"  tunnel_v6 TEXT UNIQUE,\n"
	"  hostnames TEXT NOT NULL,\n"
	"  suspended INTEGER NOT NULL DEFAULT 0,\n"
	"  created INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE invites (\n"
	"  id BLOB PRIMARY KEY CHECK (length(id) = 16),\n"
	"  secret BLOB NOT NULL CHECK (length(secret) = 32),\n"
	"  hostnames TEXT NOT NULL,\n"
	"  created INTEGER NOT NULL,\n"
	"  expires INTEGER NOT NULL,\n"
	"  used INTEGER NOT NULL DEFAULT 0,\n"
	"  tenant_id INTEGER REFERENCES tenants(id) ON DELETE SET NULL\n"
	");\n"
	"PRAGMA user_version = 1;\n";

static int
tenants_fail(char *err, size_t errcap, sqlite3 *db, const char *what)
{
	snprintf(err, errcap, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

struct tenants *
tenants_open(const char *path, char *err, size_t errcap)
{
	struct tenants *t = calloc(1, sizeof(*t));
	sqlite3_stmt *s = NULL;
	int version = -1, fd;

	if (t == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	/* Invite secrets live here: the file (and the WAL and shm SQLite makes beside it, with its mode) 0600. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, path);
		goto fail;
	}
	sqlite3_busy_timeout(t->db, TENANTS_BUSY_TIMEOUT);
	if (sqlite3_exec(t->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			 " PRAGMA foreign_keys = ON;", NULL, NULL, NULL) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, path);
		goto fail;
	}
	if (sqlite3_prepare_v2(t->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		tenants_fail(err, errcap, t->db, path);
		goto fail;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (version > TENANTS_SCHEMA_VERSION) {
		snprintf(err, errcap, "%s: schema %d is newer than this homeport-edge (%d)", path, version,
			 TENANTS_SCHEMA_VERSION);
		goto fail;
	}
	if (version == 0 && (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
			     sqlite3_exec(t->db, tenants_schema, NULL, NULL, NULL) != SQLITE_OK ||
			     sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
		tenants_fail(err, errcap, t->db, path);
		sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	return t;
fail:
	sqlite3_finalize(s);
	tenants_close(&t);
	return NULL;
}

void
tenants_close(struct tenants **tp)
{
	struct tenants *t = *tp;

	if (t == NULL)
		return;
	sqlite3_close(t->db);
	free(t);
	*tp = NULL;
}

/* ---- invites ------------------------------------------------------------- */

int
tenants_invite_add(struct tenants *t, const struct tenants_invite *inv, char *err, size_t errcap)
{
	static const char sql[] = "INSERT INTO invites (id, secret, hostnames, created, expires)"
				  " VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(t->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, inv->id, sizeof(inv->id), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 2, inv->secret, sizeof(inv->secret), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, inv->hostnames, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, inv->created) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, inv->expires) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		tenants_fail(err, errcap, t->db, "add invite");
	else
		rc = 0;
	sqlite3_finalize(s);
	return rc;
}

/* Row of (secret, hostnames, created, expires, used) into *inv. */
static int
tenants_invite_row(sqlite3_stmt *s, struct tenants_invite *inv)
{
	const void *secret = sqlite3_column_blob(s, 0);
	const unsigned char *hosts = sqlite3_column_text(s, 1);

	if (secret == NULL || sqlite3_column_bytes(s, 0) != (int)sizeof(inv->secret) || hosts == NULL ||
	    (size_t)sqlite3_column_bytes(s, 1) >= sizeof(inv->hostnames))
		return -1;
	memcpy(inv->secret, secret, sizeof(inv->secret));
	snprintf(inv->hostnames, sizeof(inv->hostnames), "%s", (const char *)hosts);
	inv->created = sqlite3_column_int64(s, 2);
	inv->expires = sqlite3_column_int64(s, 3);
	inv->used = sqlite3_column_int64(s, 4);
	return 0;
}

int
tenants_invite_get(struct tenants *t, const uint8_t id[TENANTS_INVITE_ID_LEN],
		   struct tenants_invite *inv_r, char *err, size_t errcap)
{
	static const char sql[] = "SELECT secret, hostnames, created, expires, used FROM invites WHERE id = ?1";
	sqlite3_stmt *s = NULL;
	int rc = -1, step;

	memset(inv_r, 0, sizeof(*inv_r));
	memcpy(inv_r->id, id, sizeof(inv_r->id));
	if (sqlite3_prepare_v2(t->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, id, TENANTS_INVITE_ID_LEN, SQLITE_STATIC) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, "read invite");
	} else if ((step = sqlite3_step(s)) == SQLITE_DONE) {
		snprintf(err, errcap, "no such invite");
		rc = 1;
	} else if (step != SQLITE_ROW || tenants_invite_row(s, inv_r) != 0) {
		tenants_fail(err, errcap, t->db, "read invite");
	} else {
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* ---- tenants ------------------------------------------------------------- */

#define TENANTS_COLUMNS "id, name, wg_key, tunnel_v4, tunnel_v6, hostnames, suspended, created"

static int
tenants_row(sqlite3_stmt *s, struct tenants_tenant *x)
{
	const void *key = sqlite3_column_blob(s, 2);
	const unsigned char *name = sqlite3_column_text(s, 1), *v4 = sqlite3_column_text(s, 3);
	const unsigned char *v6 = sqlite3_column_text(s, 4), *hosts = sqlite3_column_text(s, 5);

	memset(x, 0, sizeof(*x));
	if (name == NULL || key == NULL || sqlite3_column_bytes(s, 2) != (int)sizeof(x->wg_key) ||
	    v4 == NULL || hosts == NULL)
		return -1;
	x->id = sqlite3_column_int64(s, 0);
	snprintf(x->name, sizeof(x->name), "%s", (const char *)name);
	memcpy(x->wg_key, key, sizeof(x->wg_key));
	if (addr_parse((const char *)v4, strlen((const char *)v4), ADDR_PORT_NONE, &x->tunnel_v4) != 0)
		return -1;
	if (v6 != NULL &&
	    addr_parse((const char *)v6, strlen((const char *)v6), ADDR_PORT_NONE, &x->tunnel_v6) != 0)
		return -1;
	snprintf(x->hostnames, sizeof(x->hostnames), "%s", (const char *)hosts);
	x->suspended = sqlite3_column_int(s, 6) != 0;
	x->created = sqlite3_column_int64(s, 7);
	return 0;
}

int
tenants_list(struct tenants *t, struct tenants_tenant **list_r, size_t *n_r, char *err, size_t errcap)
{
	static const char sql[] = "SELECT " TENANTS_COLUMNS " FROM tenants ORDER BY name";
	struct tenants_tenant *list = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	int step;

	if (sqlite3_prepare_v2(t->db, sql, -1, &s, NULL) != SQLITE_OK)
		goto fail;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t grown = cap == 0 ? 8 : 2 * cap;
			void *p = realloc(list, grown * sizeof(*list));
			if (p == NULL)
				goto fail;
			list = p;
			cap = grown;
		}
		if (tenants_row(s, &list[n]) != 0)
			goto fail;
		n++;
	}
	if (step != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(s);
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	tenants_fail(err, errcap, t->db, "list tenants");
	sqlite3_finalize(s);
	free(list);
	return -1;
}

int
tenants_get(struct tenants *t, const char *name, struct tenants_tenant *x_r, char *err, size_t errcap)
{
	static const char sql[] = "SELECT " TENANTS_COLUMNS " FROM tenants WHERE name = ?1";
	sqlite3_stmt *s = NULL;
	int rc = -1, step;

	if (sqlite3_prepare_v2(t->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, "read tenant");
	} else if ((step = sqlite3_step(s)) == SQLITE_DONE) {
		snprintf(err, errcap, "no tenant %s", name);
		rc = 1;
	} else if (step != SQLITE_ROW || tenants_row(s, x_r) != 0) {
		tenants_fail(err, errcap, t->db, "read tenant");
	} else {
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* One statement with a name (and an int) that must change exactly one row. */
static int
tenants_change(struct tenants *t, const char *sql, const char *name, int value, char *err, size_t errcap)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(t->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (sqlite3_bind_parameter_count(s) > 1 && sqlite3_bind_int(s, 2, value) != SQLITE_OK) ||
	    sqlite3_step(s) != SQLITE_DONE) {
		tenants_fail(err, errcap, t->db, "change tenant");
	} else if (sqlite3_changes(t->db) == 0) {
		snprintf(err, errcap, "no tenant %s", name);
		rc = 1;
	} else {
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

int
tenants_data_version(struct tenants *t, int64_t *v_r, char *err, size_t errcap)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(t->db, "PRAGMA data_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		tenants_fail(err, errcap, t->db, "data_version");
	} else {
		*v_r = sqlite3_column_int64(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

int
tenants_suspend(struct tenants *t, const char *name, int suspended, char *err, size_t errcap)
{
	return tenants_change(t, "UPDATE tenants SET suspended = ?2 WHERE name = ?1", name, suspended != 0,
			      err, errcap);
}

int
tenants_remove(struct tenants *t, const char *name, char *err, size_t errcap)
{
	return tenants_change(t, "DELETE FROM tenants WHERE name = ?1", name, 0, err, errcap);
}

/* ---- enrollment ---------------------------------------------------------- */

/* Is a taken by a tenant (as its v4 or v6 tunnel address)? 1, 0, or -1. */
static int
tenants_addr_taken(struct tenants *t, const char *text)
{
	sqlite3_stmt *s = NULL;
	int rc = -1, step;

	if (sqlite3_prepare_v2(t->db, "SELECT 1 FROM tenants WHERE tunnel_v4 = ?1 OR tunnel_v6 = ?1", -1, &s,
			       NULL) == SQLITE_OK &&
	    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC) == SQLITE_OK) {
		step = sqlite3_step(s);
		rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * The first free host address of pool after the edge's own (the pool's
 * first host address, .1 / ::1) into *a. Returns 0, 1 when the pool is
 * full, or -1.
 */
int
tenants_pool_host(const struct cidr *pool, uint64_t h, struct addr *a_r)
{
	size_t n = pool->family == AF_INET ? 4 : 16;
	unsigned bits = 8 * (unsigned)n - pool->prefix;
	uint64_t v = h;
	unsigned carry = 0;
	uint8_t b[16];

	if (bits < 64 && h >> bits != 0)
		return -1;
	memcpy(b, pool->net, n);
	for (size_t i = n; i-- > 0 && (v > 0 || carry > 0);) {
		unsigned sum = b[i] + (unsigned)(v & 0xff) + carry;
		b[i] = (uint8_t)sum;
		carry = sum >> 8;
		v >>= 8;
	}
	return addr_from_bytes(b, n, 0, a_r);
}

static int
tenants_alloc(struct tenants *t, const struct cidr *pool, struct addr *a)
{
	unsigned bits = (pool->family == AF_INET ? 32 : 128) - pool->prefix;
	uint64_t count = bits >= 63 ? UINT64_MAX : (1ULL << bits);
	char text[ADDR_TEXT_MAX];

	/* Hosts 2 .. count - 2 (IPv4: not the broadcast); a bounded search. */
	for (uint64_t h = 2; h + (pool->family == AF_INET ? 1 : 0) < count && h < TENANTS_POOL_SEARCH_MAX;
	     h++) {
		if (tenants_pool_host(pool, h, a) != 0)
			return -1;
		addr_format(a, text, sizeof(text));
		switch (tenants_addr_taken(t, text)) {
		case 0:
			return 0;
		case 1:
			continue;
		default:
			return -1;
		}
	}
	return 1;
}

int
tenants_enroll(struct tenants *t, const uint8_t id[TENANTS_INVITE_ID_LEN], int64_t now,
	       const struct tenants_pool *pool, struct tenants_tenant *x, char *err, size_t errcap)
{
	static const char take[] = "UPDATE invites SET used = ?2 WHERE id = ?1 AND used = 0 AND expires > ?2";
	static const char add[] = "INSERT INTO tenants (name, wg_key, tunnel_v4, tunnel_v6, hostnames, created)"
				  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	static const char link[] = "UPDATE invites SET tenant_id = ?2 WHERE id = ?1";
	char v4[ADDR_TEXT_MAX], v6[ADDR_TEXT_MAX];
	sqlite3_stmt *s = NULL;
	int rc = -1, got;

	if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return tenants_fail(err, errcap, t->db, "enroll");
	if (sqlite3_prepare_v2(t->db, take, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, id, TENANTS_INVITE_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		tenants_fail(err, errcap, t->db, "enroll");
		goto fail;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (sqlite3_changes(t->db) != 1) {
		snprintf(err, errcap, "invite unknown, already used or expired");
		rc = 1;
		goto fail;
	}
	if ((got = tenants_alloc(t, &pool->v4, &x->tunnel_v4)) != 0 ||
	    (pool->has_v6 && (got = tenants_alloc(t, &pool->v6, &x->tunnel_v6)) != 0)) {
		if (got > 0) {
			snprintf(err, errcap, "the tunnel address pool is full");
			rc = 2;
		} else {
			tenants_fail(err, errcap, t->db, "enroll");
		}
		goto fail;
	}
	addr_format(&x->tunnel_v4, v4, sizeof(v4));
	if (pool->has_v6)
		addr_format(&x->tunnel_v6, v6, sizeof(v6));
	x->created = now;
	if (sqlite3_prepare_v2(t->db, add, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(s, 1, x->name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 2, x->wg_key, sizeof(x->wg_key), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, v4, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (pool->has_v6 ? sqlite3_bind_text(s, 4, v6, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 4)) != SQLITE_OK ||
	    sqlite3_bind_text(s, 5, x->hostnames, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, now) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, "enroll");
		goto fail;
	}
	if (sqlite3_step(s) != SQLITE_DONE) {
		/* The same name or WireGuard key twice is the home's mistake, not ours. */
		int constraint = sqlite3_errcode(t->db) == SQLITE_CONSTRAINT;
		tenants_fail(err, errcap, t->db, constraint ? "already a tenant" : "enroll");
		rc = constraint ? 1 : -1;
		goto fail;
	}
	x->id = sqlite3_last_insert_rowid(t->db);
	sqlite3_finalize(s);
	s = NULL;
	if (sqlite3_prepare_v2(t->db, link, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, id, TENANTS_INVITE_ID_LEN, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, x->id) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE ||
	    sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		tenants_fail(err, errcap, t->db, "enroll");
		goto fail;
	}
	sqlite3_finalize(s);
	return 0;
fail:
	sqlite3_finalize(s);
	sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
tenants_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TENANTS_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return -1;
	return 0;
}
