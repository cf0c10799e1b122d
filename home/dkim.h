/*
 * dkim: DKIM signatures (RFC 6376) for mail leaving the home: one
 * Ed25519-SHA256 (RFC 8463) and one RSA-SHA256 signature per message,
 * relaxed/relaxed, the recommended header fields (RFC 6376 5.4.1) with From
 * oversigned, d= the author's domain, no l=. See docs/dkim.md.
 *
 * Two layers:
 * - The canonicalizers (dkim_body_*, dkim_header_*) are pure, incremental
 *   state machines: fed any pieces, they give the same bytes as fed whole.
 *   No I/O, no globals, no allocation.
 * - The signer (struct dkim) feeds a message through them as it streams,
 *   hashes the canonical body with SHA-256 as it goes (OpenSSL EVP), keeps
 *   the canonical header section (at most DKIM_HEADER_MAX bytes of it), and
 *   at the end writes the DKIM-Signature fields. The private-key operation
 *   itself is keys/dkimkey's (dkimkey_sign: OpenSSL EVP), over the SHA-256
 *   of the header data.
 *
 * A message the signer refuses (enum dkim_err) is still the caller's to
 * send, unsigned; the reason is for its log.
 */
#ifndef HOMEPORT_DKIM_H
#define HOMEPORT_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "dnsname.h"

#define DKIM_HEADER_MAX (128 * 1024)	/* a header section signed, its empty line included */
#define DKIM_HEADER_FIELDS_MAX 1024	/* fields in a header section signed */
#define DKIM_SIGN_FIELDS_MAX 64		/* names in h=, the oversigned From included */
#define DKIM_SIGNATURE_MAX 4096		/* one DKIM-Signature field written, its CRLF included */
#define DKIM_LINE_MAX 78		/* columns of a line written, where possible (RFC 5322 2.1.1) */
#define DKIM_BH_SIZE 45			/* base64 of a SHA-256 digest, with its NUL */

/* Why the signer refused a message or a key. Each has a message for the log too. */
enum dkim_err {
	DKIM_OK = 0,
	DKIM_ERR_NO_FROM,	/* no From field */
	DKIM_ERR_FROM_TWICE,	/* more than one From field */
	DKIM_ERR_FROM_DOMAIN,	/* From holds no single address with a host-name domain */
	DKIM_ERR_HEADER_MAX,	/* the header section is longer than DKIM_HEADER_MAX */
	DKIM_ERR_FIELDS_MAX,	/* more than DKIM_HEADER_FIELDS_MAX header fields */
	DKIM_ERR_MALFORMED,	/* a header line that is neither a field nor its continuation */
	DKIM_ERR_BARE_EOL,	/* a CR or LF that is not part of a CRLF */
	DKIM_ERR_KEY,		/* a key that is not Ed25519 or RSA >= 1024 bits, a bad selector */
	DKIM_ERR_FIELD,		/* dkim_sign_field: not one DKIM-Signature field with one b= tag */
	DKIM_ERR_SPACE,		/* the output buffer is too small */
	DKIM_ERR_CRYPTO,	/* OpenSSL failed (out of memory) */
};

/* ---- relaxed body canonicalization (RFC 6376 3.4.4): pure, incremental ---- */

/*
 * Lines end at CRLF only; a lone CR or LF is an ordinary byte (and sets
 * bare: the signer refuses such a message, since verifiers disagree on
 * it). What is held back between calls is counts and flags, never body
 * bytes: a run of whitespace (one pending SP), a CR (perhaps a CRLF's),
 * and the empty lines not yet known to be followed by text. A last line
 * without CRLF gets one; whitespace-only lines count as empty; an empty
 * body canonicalizes to nothing.
 */
struct dkim_body {
	void (*out)(void *arg, const uint8_t *p, size_t n);	/* receives the canonical bytes */
	void *arg;
	uint64_t empty;		/* empty lines held back */
	uint64_t len;		/* canonical bytes given to out so far */
	uint8_t wsp;		/* a run of SP/HTAB held back */
	uint8_t cr;		/* a CR held back */
	uint8_t line;		/* the current line has text */
	uint8_t bare;		/* a CR or LF outside a CRLF was seen */
	uint8_t done;		/* dkim_body_finish has run */
};

/* Start a body; out(arg, bytes, n) is called with each piece of canonical output. */
void dkim_body_init(struct dkim_body *b, void (*out)(void *arg, const uint8_t *p, size_t n), void *arg);

/* Canonicalize in[0..len): calls out with what can be decided already. */
void dkim_body_feed(struct dkim_body *b, const uint8_t *in, size_t len);

/* The body's end: the last line's CRLF if it had none; trailing empty lines dropped. */
void dkim_body_finish(struct dkim_body *b);

/* ---- relaxed header canonicalization (RFC 6376 3.4.2): pure, incremental ---- */

/* One field of a canonical header section: buf[off..off+len), name first. */
struct dkim_field {
	uint32_t off;
	uint32_t name_len;	/* the lowercased name, before ':' (the whole field if none) */
	uint32_t len;		/* "name:value" CRLF */
};

/* Bytes of buf that dkim_header_init needs for a section of at most max bytes. */
#define DKIM_HEADER_BUF(max) ((max) + 2)

/*
 * A header section canonicalized as it arrives, into a caller's buffer,
 * field by field: name lowercased, unfolded, WSP runs to one SP, WSP
 * around the colon and at the end of the value removed, CRLF after each
 * field. The section ends at its empty line (not written) or at
 * dkim_header_finish (a message without body).
 */
struct dkim_header {
	uint8_t *buf;		/* DKIM_HEADER_BUF(max) bytes, the caller's */
	size_t len;		/* canonical bytes in buf */
	size_t max;		/* raw bytes allowed, the empty line included */
	size_t raw;		/* raw bytes taken */
	struct dkim_field *fields;	/* the caller's array of fields_max */
	size_t fields_max;
	size_t nfields;		/* complete fields */
	enum dkim_err err;	/* set with -1: DKIM_ERR_HEADER_MAX or DKIM_ERR_FIELDS_MAX */
	uint8_t state;		/* internal */
	uint8_t prev;		/* internal: the state a CR interrupted */
	uint8_t wsp;		/* a run of WSP held back */
	uint8_t started;	/* the value has text */
	uint8_t open;		/* a field is open (may be continued) */
	uint8_t bare;		/* a CR or LF outside a CRLF was seen */
	uint8_t malformed;	/* a line that is not "name:", a bad name byte, a continuation first */
};

/* Start a section into buf (DKIM_HEADER_BUF(max) bytes) and fields[0..fields_max). */
void dkim_header_init(struct dkim_header *h, uint8_t *buf, size_t max, struct dkim_field *fields,
		      size_t fields_max);

/*
 * Canonicalize in[0..len). Returns 1 when the section's empty line was
 * taken (*used_r: the bytes up to and including it; the body follows),
 * 0 when all of in was taken and the section goes on, -1 (for good, err
 * set) when it passed max bytes or fields_max fields.
 */
int dkim_header_feed(struct dkim_header *h, const uint8_t *in, size_t len, size_t *used_r);

/*
 * The message ended inside the header section (no body): close the last
 * field. Returns 0, or -1 if the section had already failed. Calling it
 * after the section's end does nothing.
 */
int dkim_header_finish(struct dkim_header *h);

/* ---- the From domain (pure) ---- */

/*
 * The domain of the one address in a From value (canonical or raw: CFWS,
 * comments, quoted strings, display names, obsolete routes understood),
 * lowercased into out[0..cap) with a NUL. Refused: no address, several
 * (a comma, a group), an unclosed quote, comment or angle, a domain that is
 * not a host name (a literal, non-ASCII). Returns 0 or -1.
 */
int dkim_from_domain(const uint8_t *value, size_t len, char *out, size_t cap);

/* ---- the signer ---- */

struct dkim;

/* A signing key: Ed25519 or RSA (>= 1024 bits), with its selector. Borrowed. */
struct dkim_key {
	EVP_PKEY *key;
	const char *selector;
};

/* A signer for one message (about 150 KiB). Returns NULL when out of memory. */
struct dkim *dkim_new(void);

/* Free *dp (NULL accepted) and set it to NULL. */
void dkim_free(struct dkim **dp);

/*
 * The message's next bytes (header section, empty line, body), in pieces
 * of any size, as RFC 5322 text with CRLF line ends (dot-stuffing already
 * removed). Never fails: a refusal is reported at the end. Bytes given
 * after the end (the first of the calls below) are ignored.
 */
void dkim_feed(struct dkim *d, const void *p, size_t n);

/*
 * The calls below end the message (the first one does) and then read it.
 * Each returns 0, or -1 with *code_r and err[0..errcap) set.
 */

/*
 * The author's domain: of the address in the one From field, lowercased,
 * into out[0..cap). The caller looks its keys up with it.
 */
int dkim_author_domain(struct dkim *d, char *out, size_t cap, enum dkim_err *code_r, char *err,
		       size_t errcap);

/*
 * The DKIM-Signature fields, one per key in the order given, each folded
 * to DKIM_LINE_MAX columns where possible and ending in CRLF, into
 * out[0..cap) with a NUL (*len_r: without it), for the caller to put on
 * top of the message. t is the signing time (t=, seconds since the epoch).
 * The header fields signed: those of the recommended set present (see
 * docs/dkim.md), each as often as it occurs, up to DKIM_SIGN_FIELDS_MAX
 * names, and From once more than it occurs.
 */
int dkim_sign(struct dkim *d, const struct dkim_key *keys, size_t nkeys, uint64_t t, char *out,
	      size_t cap, size_t *len_r, enum dkim_err *code_r, char *err, size_t errcap);

/* bh=: the canonical body's SHA-256, base64, into out. */
int dkim_body_hash(struct dkim *d, char out[DKIM_BH_SIZE], enum dkim_err *code_r, char *err,
		   size_t errcap);

/*
 * The signature over this message's header fields names[0..nnames) (each
 * name taking that field's last instance not yet taken, none if no
 * instance is left: RFC 6376 5.4.2) followed by the DKIM-Signature field
 * field[0..len) ("DKIM-Signature: ..." with or without its CRLF, folded
 * or not), whose b= value is ignored: hashed as if empty (RFC 6376 3.7).
 * Writes the signature, base64, into b64[0..cap) with a NUL. dkim_sign is
 * this over the field it writes; the tests call it with RFC 8463's.
 */
int dkim_sign_field(struct dkim *d, EVP_PKEY *key, const char *const *names, size_t nnames,
		    const char *field, size_t len, char *b64, size_t cap, enum dkim_err *code_r, char *err,
		    size_t errcap);

/* ---- dkim_keys.c: the keys homeportd signs with (STATE_DIR/keys/dkim/) ---- */

struct dkim_keys;

/* A key file's state, from its name's suffix (homeport dkim rotate/activate make them). */
enum dkim_key_state {
	DKIM_KEY_ACTIVE,	/* DOMAIN.SELECTOR.key: signs */
	DKIM_KEY_PENDING,	/* .key.pending: made, its record to be published first */
	DKIM_KEY_RETIRED,	/* .key.retired: signs no more, its record still published */
};

/* The suffix of a key file in state (".key", ".key.pending", ".key.retired"). */
const char *dkim_keys_suffix(enum dkim_key_state state);

/*
 * Split a key file's name "DOMAIN.SELECTOR" + suffix into domain and
 * selector (as written, both DNS names, the selector without dots) and
 * its state. Returns 0, or -1 for any other name. Pure.
 */
int dkim_keys_name_parse(const char *name, char domain[DNSNAME_MAX + 1], char selector[DNSNAME_MAX + 1],
			 enum dkim_key_state *state_r);

/*
 * Read every DOMAIN.SELECTOR.key in dir, keeping per domain and algorithm
 * the newest (mtime): a missing dir is no keys; a file that is no DKIM key
 * is logged and skipped. Returns the keys (dkim_keys_free()), or NULL
 * with err set (dir unreadable, out of memory).
 */
struct dkim_keys *dkim_keys_load(const char *dir, char *err, size_t errcap);

/* The keys that sign for domain (Ed25519 first), at most max, into out. Returns how many. */
size_t dkim_keys_find(const struct dkim_keys *ks, const char *domain, struct dkim_key *out, size_t max);

/* How many keys were loaded (for the start-up log). */
size_t dkim_keys_count(const struct dkim_keys *ks);

void dkim_keys_free(struct dkim_keys **ksp);

#endif
