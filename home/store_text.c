/*
 * store_text: what IMAP reads instead of a message's bytes: each body's
 * MIME structure (a blob in bodies.mime, mime_blob.c) and its text
 * (mime_text.c) in body_text, an FTS5 table with the trigram tokenizer,
 * searched by substring. Part of the store (store_int.h): the same rules
 * as store.c.
 *
 * A delivery computes both and writes them in its commit (store.c). Bodies
 * stored before schema v3 get them here: the structure when FETCH first
 * asks (store_body_mime()), the text by the backfill at a recovering open
 * or, for one mailbox, before it is searched.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "home.h"
#include "log.h"
#include "mime.h"
#include "store_int.h"

#define STORE_TEXT_TRIGRAM 3	/* characters a needle needs for the index */

/* ---- the index rows ---------------------------------------------------- */

int
store_text_insert(struct store *st, int64_t body_id, const struct mime_text *t, struct store_err *err)
{
	/* OR REPLACE: a row left by a body deleted outside the store must not block a new one. */
	static const char sql[] =
		"INSERT OR REPLACE INTO body_text (rowid, subject, \"from\", \"to\", cc, bcc, header, body)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	static const int cols[MIME_TEXT_FIELDS] = {
		[MIME_TEXT_SUBJECT] = 2, [MIME_TEXT_FROM] = 3, [MIME_TEXT_TO] = 4, [MIME_TEXT_CC] = 5,
		[MIME_TEXT_BCC] = 6, [MIME_TEXT_HEADER] = 7, [MIME_TEXT_BODY] = 8,
	};
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	for (int f = 0; f < MIME_TEXT_FIELDS; f++) {
		if ((rc = sqlite3_bind_text(s, cols[f], t->text[f], (int)t->len[f], SQLITE_STATIC)) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
	}
	if (store_step(st, s, "index text", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

int
store_text_purge(struct store *st, struct store_err *err)
{
	static const char next[] = "SELECT body_id FROM body_text_gone LIMIT 1";
	static const char text[] = "DELETE FROM body_text WHERE rowid = ?1";
	static const char gone[] = "DELETE FROM body_text_gone WHERE body_id = ?1";
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	for (;;) {
		if ((s = store_stmt(st, next, err)) == NULL)
			return -1;
		rc = store_step(st, s, "purge text", err);
		if (rc < 0)
			return -1;
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			return 0;
		}
		id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		for (int i = 0; i < 2; i++) {
			if ((s = store_stmt(st, i == 0 ? text : gone, err)) == NULL)
				return -1;
			if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK)
				return store_sqlite_fail(st, err, rc, "bind");
			if (store_step(st, s, "purge text", err) < 0)
				return -1;
			sqlite3_reset(s);
		}
	}
}

/* ---- reading a committed body --------------------------------------------- */

struct store_text_reader {
	struct store *st;
	int64_t body_id;
	int64_t size;
	struct store_err err;
};

static int
store_text_read(void *ctx, uint64_t offset, uint8_t *buf, size_t cap, size_t *len_r)
{
	struct store_text_reader *r = ctx;

	if (offset >= (uint64_t)r->size) {
		*len_r = 0;
		return 0;
	}
	return store_body_chunks(r->st, r->body_id, (int64_t)offset, r->size, buf, cap, len_r, &r->err);
}

/*
 * Parse body_id (size bytes) from its chunks, streamed (inside a read
 * transaction). Returns 0 and *m_r, or -1.
 */
static int
store_text_parse(struct store *st, int64_t body_id, int64_t size, struct mime **m_r, struct store_err *err)
{
	static const char sql[] = "SELECT data FROM body_chunks WHERE body_id = ?1 ORDER BY start";
	struct mime_parser *p = NULL;
	sqlite3_stmt *s;
	int64_t fed = 0;
	int rc;

	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if (mime_parser_new(NULL, &p) != 0)
		return store_fail(err, STORE_E_NOMEM, "out of memory (MIME parser)");
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	while ((rc = store_step(st, s, "body chunks", err)) == SQLITE_ROW) {
		const void *data = sqlite3_column_blob(s, 0);
		int64_t n = sqlite3_column_bytes(s, 0);

		if (n > size - fed)
			n = size - fed;
		if (data != NULL && n > 0 && mime_parser_feed(p, data, (size_t)n) != 0) {
			store_fail(err, STORE_E_NOMEM, "out of memory (MIME structure)");
			goto fail;
		}
		fed += n;
	}
	if (rc < 0)
		goto fail;
	sqlite3_reset(s);
	if (fed != size) {
		store_fail(err, STORE_E_CORRUPT, "body %lld has %lld of its %lld bytes", (long long)body_id,
			   (long long)fed, (long long)size);
		goto fail;
	}
	if (mime_parser_finish(p, m_r) != 0) {
		store_fail(err, STORE_E_NOMEM, "out of memory (MIME structure)");
		goto fail;
	}
	mime_parser_free(&p);
	return 0;
fail:
	sqlite3_reset(s);
	mime_parser_free(&p);
	return -1;
}

/*
 * In a read transaction: body_id's size, whether it is indexed, and its
 * MIME table: from the blob if it reads, else parsed now (*parsed_r = 1:
 * the blob is worth saving). Returns 1 with *m_r, 0 when there is no such
 * committed body, or -1.
 */
static int
store_text_table(struct store *st, int64_t body_id, int64_t *size_r, int *indexed_r, struct mime **m_r,
		 int *parsed_r, struct store_err *err)
{
	static const char sql[] = "SELECT size, indexed, mime FROM bodies WHERE id = ?1 AND pending = 0";
	sqlite3_stmt *s = store_stmt(st, sql, err);
	const void *blob;
	int rc, had_blob;

	*parsed_r = 0;
	if (s == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	rc = store_step(st, s, "body", err);
	if (rc < 0)
		return -1;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return 0;
	}
	*size_r = sqlite3_column_int64(s, 0);
	*indexed_r = sqlite3_column_int(s, 1) != 0;
	blob = sqlite3_column_blob(s, 2);
	had_blob = blob != NULL;
	rc = blob != NULL ? mime_blob_read(blob, (size_t)sqlite3_column_bytes(s, 2), m_r) : -1;
	sqlite3_reset(s);
	if (rc == 0)
		return 1;
	if (had_blob)
		log_warn(NULL, "store_mime", "body=%lld blob=unreadable action=parse", (long long)body_id);
	if (store_text_parse(st, body_id, *size_r, m_r, err) != 0)
		return -1;
	*parsed_r = 1;
	return 1;
}

/* Run a statement bound to (?1 body_id, ?2 blob or NULL). */
static int
store_text_run_blob(struct store *st, const char *sql, int64_t body_id, const uint8_t *blob, size_t len,
		    const char *what, struct store_err *err)
{
	sqlite3_stmt *s = store_stmt(st, sql, err);
	int rc;

	if (s == NULL)
		return -1;
	if (len > INT32_MAX)
		return store_fail(err, STORE_E_TOOBIG, "MIME structure of %zu bytes", len);
	if ((rc = sqlite3_bind_int64(s, 1, body_id)) != SQLITE_OK ||
	    (rc = blob != NULL ? sqlite3_bind_blob(s, 2, blob, (int)len, SQLITE_STATIC)
			       : sqlite3_bind_null(s, 2)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, what);
	if (store_step(st, s, what, err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

/* Open a read transaction (one snapshot for a body's rows). */
static int
store_text_read_begin(struct store *st, struct store_err *err)
{
	static const char sql[] = "BEGIN";
	sqlite3_stmt *s;

	if (!sqlite3_get_autocommit(st->db))
		store_rollback(st);
	if ((s = store_stmt(st, sql, err)) == NULL)
		return -1;
	if (store_step(st, s, "begin", err) < 0)
		return -1;
	sqlite3_reset(s);
	return 0;
}

/* ---- the MIME structure ------------------------------------------------- */

int
store_body_mime(struct store *st, int64_t body_id, struct mime **m_r, struct store_err *err)
{
	static const char save[] = "UPDATE bodies SET mime = ?2 WHERE id = ?1 AND pending = 0";
	struct store_err serr;
	struct mime *m = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	int64_t size;
	int indexed, parsed, rc, saved = 0;

	if (store_text_read_begin(st, err) != 0)
		return -1;
	rc = store_text_table(st, body_id, &size, &indexed, &m, &parsed, err);
	store_rollback(st);	/* the read transaction */
	if (rc < 0)
		return -1;
	if (rc == 0)
		return store_fail(err, STORE_E_NOTFOUND, "no body %lld", (long long)body_id);
	if (parsed) {
		/*
		 * Kept for next time; not durable on purpose (a lost blob is
		 * parsed again), and a failure here does not fail the caller.
		 */
		if (mime_blob_write(m, &blob, &len) != 0) {
			store_fail(&serr, STORE_E_NOMEM, "out of memory");
		} else if (store_begin(st, STORE_SYNC_NORMAL, &serr) == 0) {
			if (store_text_run_blob(st, save, body_id, blob, len, "save mime", &serr) != 0)
				store_rollback(st);
			else
				saved = store_commit(st, &serr) == 0;
		}
		if (!saved)
			log_warn(NULL, "store_mime", "body=%lld result=not_saved error=\"%s\"", (long long)body_id,
				 serr.msg);
		free(blob);
	}
	*m_r = m;
	return 0;
}

/* ---- the text index -------------------------------------------------------- */

/*
 * Index one committed body that is not yet: its MIME blob (when it had
 * none that reads) and its body_text row, in one short transaction that
 * needs no fsync (lost, it is done again). Nothing to do is 0 too.
 */
static int
store_text_index_body(struct store *st, int64_t body_id, struct store_err *err)
{
	static const char mark[] =
		"UPDATE bodies SET indexed = 1, mime = coalesce(?2, mime)"
		" WHERE id = ?1 AND pending = 0 AND indexed = 0";
	struct store_text_reader r = { .st = st, .body_id = body_id, .err = { .code = STORE_OK } };
	struct mime_text *text = NULL;
	struct mime *m = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	int indexed = 0, parsed = 0, rc;

	if (store_text_read_begin(st, err) != 0)
		return -1;
	rc = store_text_table(st, body_id, &r.size, &indexed, &m, &parsed, err);
	if (rc > 0 && !indexed &&
	    mime_text_extract(m, store_text_read, &r, mime_iconv_convert, st->iconv, &text) != 0) {
		if (r.err.code != STORE_OK)
			*err = r.err;
		else
			store_fail(err, STORE_E_NOMEM, "out of memory (text)");
		rc = -1;
	}
	store_rollback(st);	/* the read transaction */
	if (rc <= 0 || indexed)
		goto out;
	rc = -1;
	if (parsed && mime_blob_write(m, &blob, &len) != 0) {
		store_fail(err, STORE_E_NOMEM, "out of memory");
		goto out;
	}
	if (store_begin(st, STORE_SYNC_NORMAL, err) != 0)
		goto out;
	if (store_text_run_blob(st, mark, body_id, blob, len, "index body", err) != 0 ||
	    (sqlite3_changes(st->db) == 1 && store_text_insert(st, body_id, text, err) != 0)) {
		store_rollback(st);
		goto out;
	}
	rc = store_commit(st, err);
out:
	mime_text_free(&text);
	mime_free(&m);
	free(blob);
	return rc < 0 ? -1 : 0;
}

int
store_text_backfill(struct store *st, size_t max, size_t *done_r, size_t *left_r, struct store_err *err)
{
	static const char next[] =
		"SELECT id FROM bodies WHERE pending = 0 AND indexed = 0 AND id > ?1 ORDER BY id LIMIT 1";
	static const char left[] = "SELECT count(*) FROM bodies WHERE pending = 0 AND indexed = 0";
	sqlite3_stmt *s;
	int64_t id = 0;
	size_t done = 0;
	int rc;

	while (done < max) {
		if ((s = store_stmt(st, next, err)) == NULL)
			return -1;
		if ((rc = sqlite3_bind_int64(s, 1, id)) != SQLITE_OK)
			return store_sqlite_fail(st, err, rc, "bind");
		rc = store_step(st, s, "backfill", err);
		if (rc < 0)
			return -1;
		if (rc != SQLITE_ROW) {
			sqlite3_reset(s);
			break;
		}
		id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (store_text_index_body(st, id, err) != 0)
			return -1;
		done++;
	}
	if (done_r != NULL)
		*done_r = done;
	if (left_r == NULL)
		return 0;
	if ((s = store_stmt(st, left, err)) == NULL)
		return -1;
	rc = store_step(st, s, "backfill", err);
	if (rc < 0)
		return -1;
	*left_r = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return 0;
}

/* Index the bodies of mailbox_id that are not yet, if any body anywhere is not. */
static int
store_text_catch_up(struct store *st, int64_t mailbox_id, struct store_err *err)
{
	static const char any[] = "SELECT 1 FROM bodies WHERE pending = 0 AND indexed = 0 LIMIT 1";
	static const char mine[] =
		"SELECT DISTINCT b.id FROM messages m JOIN bodies b ON b.id = m.body_id"
		" WHERE m.mailbox_id = ?1 AND b.pending = 0 AND b.indexed = 0";
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	void *grown;
	int rc;

	if ((s = store_stmt(st, any, err)) == NULL)
		return -1;
	rc = store_step(st, s, "unindexed", err);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return rc < 0 ? -1 : 0;
	if ((s = store_stmt(st, mine, err)) == NULL)
		return -1;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK)
		return store_sqlite_fail(st, err, rc, "bind");
	while ((rc = store_step(st, s, "unindexed", err)) == SQLITE_ROW) {
		if ((grown = store_list_grow(ids, &cap, n, sizeof(*ids), err)) == NULL) {
			rc = -1;
			break;
		}
		ids = grown;
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
		if (store_text_index_body(st, ids[i], err) != 0)
			rc = -1;
	}
	free(ids);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- search ---------------------------------------------------------------- */

#define STORE_SEARCH_SELECT \
	"SELECT m.uid FROM messages m JOIN body_text t ON t.rowid = m.body_id WHERE m.mailbox_id = ?1 AND "
#define STORE_SEARCH_LIKE(col) "+t." col " LIKE ?2 ESCAPE '\\'"

/*
 * Per field: its FTS5 column filter, and the statement for needles too
 * short for trigrams (the unary + keeps LIKE away from FTS5, which would
 * scan every body of every user for it).
 */
static const struct {
	const char *filter;
	const char *like;
} store_search_fields[STORE_SEARCH_FIELDS] = {
	[STORE_SEARCH_TEXT] = { "{header body}", STORE_SEARCH_SELECT "(" STORE_SEARCH_LIKE("header") " OR "
				STORE_SEARCH_LIKE("body") ") ORDER BY m.uid" },
	[STORE_SEARCH_BODY] = { "{body}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("body") " ORDER BY m.uid" },
	[STORE_SEARCH_SUBJECT] = { "{subject}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("subject") " ORDER BY m.uid" },
	[STORE_SEARCH_FROM] = { "{from}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("\"from\"") " ORDER BY m.uid" },
	[STORE_SEARCH_TO] = { "{to}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("\"to\"") " ORDER BY m.uid" },
	[STORE_SEARCH_CC] = { "{cc}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("cc") " ORDER BY m.uid" },
	[STORE_SEARCH_BCC] = { "{bcc}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("bcc") " ORDER BY m.uid" },
	[STORE_SEARCH_HEADER] = { "{header}", STORE_SEARCH_SELECT STORE_SEARCH_LIKE("header") " ORDER BY m.uid" },
};

/*
 * Check needle[0..len): UTF-8, no NUL. Copy it into out (len + 1 bytes)
 * without CRs (the index holds none). Returns its characters, or -1.
 */
static int64_t
store_search_needle(const char *needle, size_t len, char *out, size_t *out_len_r)
{
	const uint8_t *p = (const uint8_t *)needle;
	int64_t chars = 0;
	size_t o = 0, i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t k = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3
			   : c >= 0xf0 && c < 0xf5 ? 4 : 0;
		uint32_t cp;

		if (k == 0 || i + k > len || c == 0)
			return -1;
		cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
		for (size_t j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return -1;
		if (c != '\r') {
			memcpy(out + o, p + i, k);
			o += k;
			chars++;
		}
		i += k;
	}
	out[o] = '\0';
	*out_len_r = o;
	return chars;
}

/* The FTS5 query: the field's column filter and the needle as one quoted phrase. */
static char *
store_search_match(const char *filter, const char *needle, size_t len)
{
	size_t flen = strlen(filter), o = 0;
	char *q = malloc(flen + 5 + 2 * len + 2);

	if (q == NULL)
		return NULL;
	memcpy(q, filter, flen);
	o = flen;
	memcpy(q + o, " : \"", 4);
	o += 4;
	for (size_t i = 0; i < len; i++) {
		if (needle[i] == '"')
			q[o++] = '"';
		q[o++] = needle[i];
	}
	q[o++] = '"';
	q[o] = '\0';
	return q;
}

/* LIKE's pattern: %needle% with %, _ and \ escaped by \. */
static char *
store_search_like(const char *needle, size_t len)
{
	char *q = malloc(2 * len + 3);
	size_t o = 0;

	if (q == NULL)
		return NULL;
	q[o++] = '%';
	for (size_t i = 0; i < len; i++) {
		if (needle[i] == '%' || needle[i] == '_' || needle[i] == '\\')
			q[o++] = '\\';
		q[o++] = needle[i];
	}
	q[o++] = '%';
	q[o] = '\0';
	return q;
}

int
store_search_text(struct store *st, int64_t mailbox_id, int field, const char *needle, size_t len,
		  uint32_t **uids_r, size_t *n_r, struct store_err *err)
{
	static const char all[] = "SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid";
	static const char match[] =
		"SELECT uid FROM messages WHERE mailbox_id = ?1"
		" AND body_id IN (SELECT rowid FROM body_text WHERE body_text MATCH ?2) ORDER BY uid";
	uint32_t *list = NULL;
	size_t n = 0, cap = 0, clen = 0;
	char *clean = NULL, *arg = NULL;
	const char *sql;
	sqlite3_stmt *s;
	int64_t chars;
	void *grown;
	int rc;

	if (field < 0 || field >= STORE_SEARCH_FIELDS)
		return store_fail(err, STORE_E_INVALID, "no search field %d", field);
	if (len > STORE_SEARCH_NEEDLE_MAX)
		return store_fail(err, STORE_E_INVALID, "search string longer than %d bytes",
				  STORE_SEARCH_NEEDLE_MAX);
	if ((clean = malloc(len + 1)) == NULL)
		return store_fail(err, STORE_E_NOMEM, "out of memory");
	if ((chars = store_search_needle(needle, len, clean, &clen)) < 0) {
		store_fail(err, STORE_E_INVALID, "search string is not UTF-8 or holds a NUL");
		goto fail;
	}
	if (store_text_catch_up(st, mailbox_id, err) != 0)
		goto fail;
	if (clen == 0) {
		sql = all;
	} else if (chars >= STORE_TEXT_TRIGRAM) {
		sql = match;
		arg = store_search_match(store_search_fields[field].filter, clean, clen);
	} else {
		sql = store_search_fields[field].like;
		arg = store_search_like(clean, clen);
	}
	if (clen > 0 && arg == NULL) {
		store_fail(err, STORE_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((s = store_stmt(st, sql, err)) == NULL)
		goto fail;
	if ((rc = sqlite3_bind_int64(s, 1, mailbox_id)) != SQLITE_OK ||
	    (arg != NULL && (rc = sqlite3_bind_text(s, 2, arg, -1, SQLITE_STATIC)) != SQLITE_OK)) {
		store_sqlite_fail(st, err, rc, "bind");
		goto fail;
	}
	while ((rc = store_step(st, s, "search", err)) == SQLITE_ROW) {
		if ((grown = store_list_grow(list, &cap, n, sizeof(*list), err)) == NULL) {
			sqlite3_reset(s);
			goto fail;
		}
		list = grown;
		list[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc < 0)
		goto fail;
	free(clean);
	free(arg);
	*uids_r = list;
	*n_r = n;
	return 0;
fail:
	free(clean);
	free(arg);
	free(list);
	return -1;
}
