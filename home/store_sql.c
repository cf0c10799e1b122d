/*
 * store_sql: mail.db's schema, as an ordered list of migrations. Script i
 * turns version i into version i + 1; store.c runs each one in its own
 * transaction together with "PRAGMA user_version = i + 1", so a file is
 * always at exactly one version. A released script is never edited: a
 * change is a new script at the end. docs/store.md explains the tables.
 */
#include "home.h"

/* Version 1: accounts, mailboxes, messages, bodies, the queue. */
static const char store_sql_v1[] =
	/* Settings and counters of the store itself. */
	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY,\n"
	"  value INTEGER NOT NULL\n"
	");\n"
	/* The last UIDVALIDITY handed out; each mailbox gets a larger one. */
	"INSERT INTO meta (key, value) VALUES ('uidvalidity', 0);\n"

	"CREATE TABLE domains (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE,\n"		/* lower case */
	"  created INTEGER NOT NULL\n"
	");\n"

	"CREATE TABLE users (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id),\n"
	"  local TEXT NOT NULL,\n"			/* compared octet for octet */
	"  password_hash TEXT NOT NULL,\n"
	"  quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),\n"
	"  used_bytes INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),\n"
	"  created INTEGER NOT NULL,\n"
	"  UNIQUE (domain_id, local)\n"
	");\n"

	/* local '' is the domain's catch-all. One row per (alias, user). */
	"CREATE TABLE aliases (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,\n"
	"  local TEXT NOT NULL,\n"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  UNIQUE (domain_id, local, user_id)\n"
	");\n"
	"CREATE INDEX aliases_user ON aliases (user_id);\n"

	"CREATE TABLE mailboxes (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  special_use TEXT,\n"			/* RFC 6154: '\\Sent', ...; NULL: none */
	"  uidvalidity INTEGER NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),\n"
	"  uidnext INTEGER NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967295),\n"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,\n"
	"  UNIQUE (user_id, name)\n"
	");\n"
	"CREATE UNIQUE INDEX mailboxes_special_use ON mailboxes (user_id, special_use)\n"
	"  WHERE special_use IS NOT NULL;\n"

	/*
	 * A body is stored once however many messages and queue entries
	 * refer to it. pending = 1 while it is being received: nothing
	 * refers to it yet, and store_open() deletes such leftovers.
	 */
	"CREATE TABLE bodies (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  size INTEGER NOT NULL DEFAULT 0,\n"
	"  pending INTEGER NOT NULL DEFAULT 1 CHECK (pending IN (0, 1)),\n"
	"  created INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX bodies_pending ON bodies (pending) WHERE pending = 1;\n"

	/* A body's bytes [start, start + length(data)), in order. */
	"CREATE TABLE body_chunks (\n"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,\n"
	"  start INTEGER NOT NULL,\n"
	"  data BLOB NOT NULL,\n"
	"  PRIMARY KEY (body_id, start)\n"
	");\n"

	"CREATE TABLE messages (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
	"  uid INTEGER NOT NULL,\n"
	"  modseq INTEGER NOT NULL,\n"
	"  internal_date INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  flags INTEGER NOT NULL DEFAULT 0,\n"
	"  keywords TEXT NOT NULL DEFAULT '',\n"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id),\n"
	"  UNIQUE (mailbox_id, uid)\n"
	");\n"
	"CREATE INDEX messages_body ON messages (body_id);\n"

	/* One row per remote recipient of a submitted message. */
	"CREATE TABLE queue (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id),\n"
	"  mail_from TEXT NOT NULL,\n"
	"  rcpt TEXT NOT NULL,\n"
	"  created INTEGER NOT NULL,\n"
	"  next_attempt INTEGER NOT NULL,\n"
	"  attempts INTEGER NOT NULL DEFAULT 0,\n"
	"  last_error TEXT NOT NULL DEFAULT ''\n"
	");\n"
	"CREATE INDEX queue_body ON queue (body_id);\n"
	"CREATE INDEX queue_next ON queue (next_attempt);\n"

	/*
	 * Bookkeeping that must hold however a message goes (expunge, user
	 * removal's cascade): the owner's usage drops, and a body nothing
	 * refers to any more is deleted with its chunks.
	 */
	"CREATE TRIGGER messages_deleted AFTER DELETE ON messages BEGIN\n"
	"  UPDATE users SET used_bytes = used_bytes - OLD.size\n"
	"    WHERE id = (SELECT user_id FROM mailboxes WHERE id = OLD.mailbox_id);\n"
	"  DELETE FROM bodies WHERE id = OLD.body_id AND pending = 0\n"
	"    AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)\n"
	"    AND NOT EXISTS (SELECT 1 FROM queue WHERE body_id = OLD.body_id);\n"
	"END;\n"
	"CREATE TRIGGER queue_deleted AFTER DELETE ON queue BEGIN\n"
	"  DELETE FROM bodies WHERE id = OLD.body_id AND pending = 0\n"
	"    AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = OLD.body_id)\n"
	"    AND NOT EXISTS (SELECT 1 FROM queue WHERE body_id = OLD.body_id);\n"
	"END;\n";

/* Version 2: what IMAP needs besides: subscriptions, and expunged UIDs for QRESYNC. */
static const char store_sql_v2[] =
	/* Names a user subscribed to (RFC 9051 6.3.7): they need not exist. */
	"CREATE TABLE subscriptions (\n"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  PRIMARY KEY (user_id, name)\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO subscriptions (user_id, name) SELECT user_id, name FROM mailboxes;\n"

	/* A UID that was expunged, and the MODSEQ of its expunge (VANISHED). */
	"CREATE TABLE expunged (\n"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
	"  uid INTEGER NOT NULL,\n"
	"  modseq INTEGER NOT NULL,\n"
	"  PRIMARY KEY (mailbox_id, uid)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);\n"
	"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);\n";

/*
 * Version 3: what IMAP's FETCH and SEARCH read instead of the message:
 * each body's MIME structure (mime_blob.c) and its text in an FTS5 index.
 */
static const char store_sql_v3[] =
	/*
	 * indexed = 1 once the body's text is in body_text (at the commit
	 * that completes it; bodies older than v3 by the backfill). mime is
	 * the structure blob, NULL until computed. In this order, so that
	 * reading the small columns never walks the blob's overflow pages.
	 */
	"ALTER TABLE bodies ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0 CHECK (indexed IN (0, 1));\n"
	"ALTER TABLE bodies ADD COLUMN mime BLOB;\n"
	"CREATE INDEX bodies_unindexed ON bodies (id) WHERE pending = 0 AND indexed = 0;\n"

	/*
	 * One row per indexed body, rowid = bodies.id: the decoded text
	 * (mime_text.c) in trigrams, so that any substring of 3 or more
	 * characters is found through the index, without regard to case.
	 */
	"CREATE VIRTUAL TABLE body_text USING fts5 (\n"
	"  subject, \"from\", \"to\", cc, bcc, header, body,\n"
	"  tokenize = 'trigram case_sensitive 0', columnsize = 0\n"
	");\n"

	/*
	 * A trigger may not write an FTS5 table while trusted_schema is off,
	 * so a deleted body leaves its id here and the store removes its
	 * body_text row before the same transaction commits (store_commit()).
	 */
	"CREATE TABLE body_text_gone (\n"
	"  body_id INTEGER PRIMARY KEY\n"
	");\n"
	"CREATE TRIGGER bodies_deleted AFTER DELETE ON bodies WHEN OLD.indexed = 1 BEGIN\n"
	"  INSERT OR IGNORE INTO body_text_gone (body_id) VALUES (OLD.id);\n"
	"END;\n";

static const char store_sql_v4[] =
	/*
	 * MTA-STS policies seen (RFC 8461 5.1), one per destination domain, so
	 * that a restart keeps enforcing what a domain asked for until its
	 * max_age runs out, even when the fetch is blocked then. policy is the
	 * policy as mtasts_format_policy() writes it.
	 */
	"CREATE TABLE mta_sts (\n"
	"  domain TEXT PRIMARY KEY,\n"
	"  id TEXT NOT NULL,\n"
	"  fetched INTEGER NOT NULL,\n"
	"  expires INTEGER NOT NULL,\n"
	"  policy TEXT NOT NULL\n"
	");\n";

static const char store_sql_v5[] =
	/*
	 * Messages each user was given lately, by a digest of the envelope
	 * sender and the bytes the client sent: when a client retries a
	 * message whose 250 it never heard (the connection broke after the
	 * commit), the user does not get it twice. Kept STORE_DEDUP_WINDOW.
	 */
	"CREATE TABLE delivered (\n"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  digest BLOB NOT NULL,\n"
	"  at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (user_id, digest)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX delivered_at ON delivered (at);\n";

const char *const store_sql_migrations[STORE_SCHEMA_VERSION] = {
	store_sql_v1,
	store_sql_v2,
	store_sql_v3,
	store_sql_v4,
	store_sql_v5,
};
