/*
 * Fuzz target: the enrollment wire format's pure parsers. Each input is
 * tried as a token (text), a request plaintext, a response plaintext and a
 * frame. Whatever parses encodes back to the same bytes (the token to the
 * same text without the white space around it), and no proper prefix of a
 * parsed plaintext parses; a refusal has a reason and leaves the output
 * zeroed; a request's MAC checks exactly when it is the keyed hash of the
 * bytes before it, so checking the fields as they encode is checking what
 * was sent. A frame is accepted, refused or waited on as its length field
 * says, and writes back the same. Then the input's bytes are made into a
 * token, which must encode and parse back whenever its endpoint is usable.
 * Last, the input's lines are TXT records at a _homeport name: the
 * matcher must say what the documented rule says for a fixed key; the
 * record text made for a key from the input's bytes must be found for
 * that key only; the input as a host name gets an owner name exactly when
 * it is a host name short enough.
 * ASan (libFuzzer's exact-size input) catches any read past the end.
 */
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "addr.h"
#include "dnsname.h"
#include "enroll_wire.h"
#include "fuzz.h"

static const uint8_t fuzz_secret[ENROLL_SECRET_LEN] = "fuzz enroll_wire secret 32 bytes";

static int
fuzz_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
fuzz_token(const uint8_t *data, size_t size)
{
	char out[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token t, back;
	const char *err = NULL;
	size_t start = 0, end = size;
	int n;

	if (enroll_token_parse((const char *)data, size, &t, &err) != 0) {
		if (err == NULL || !sodium_is_zero((const unsigned char *)&t, sizeof(t)))
			__builtin_trap();
		return;
	}
	while (start < end && fuzz_space(data[start]))
		start++;
	while (end > start && fuzz_space(data[end - 1]))
		end--;
	n = enroll_token_encode(&t, out, sizeof(out));
	if (n < 0 || (size_t)n != end - start || memcmp(out, data + start, (size_t)n) != 0)
		__builtin_trap();
	if (enroll_token_parse(out, (size_t)n, &back, &err) != 0 || memcmp(&back, &t, sizeof(t)) != 0)
		__builtin_trap();
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
	static uint8_t out[ENROLL_MSG_MAX];
	static struct enroll_request rq, k_rq;
	const char *err = NULL;
	uint8_t mac[ENROLL_MAC_LEN];
	size_t n;
	int want;

	if (enroll_request_parse_plain(data, size, &rq, &err) != 0) {
		if (err == NULL || !sodium_is_zero((const unsigned char *)&rq, sizeof(rq)))
			__builtin_trap();
		return;
	}
	if (size > ENROLL_REQUEST_PLAIN_MAX || size < ENROLL_MAC_LEN ||
	    enroll_request_encode_plain(&rq, out, sizeof(out), &n) != 0 || n != size ||
	    memcmp(out, data, size) != 0 || memcmp(rq.mac, data + size - ENROLL_MAC_LEN, ENROLL_MAC_LEN) != 0)
		__builtin_trap();
	crypto_generichash(mac, sizeof(mac), data, size - ENROLL_MAC_LEN, fuzz_secret,
			   sizeof(fuzz_secret));
	want = memcmp(mac, rq.mac, sizeof(mac)) == 0 ? 0 : -1;
	if (enroll_request_verify(&rq, fuzz_secret, rq.timestamp, 0, &err) != want)
		__builtin_trap();
	for (size_t k = 0; k < size; k++) {
		if (enroll_request_parse_plain(data, k, &k_rq, &err) != -1)
			__builtin_trap();
	}
}

static void
fuzz_response(const uint8_t *data, size_t size)
{
	static uint8_t out[ENROLL_MSG_MAX];
	static struct enroll_response rs, k_rs;
	const char *err = NULL;
	size_t n;

	if (enroll_response_parse_plain(data, size, &rs, &err) != 0) {
		if (err == NULL || !sodium_is_zero((const unsigned char *)&rs, sizeof(rs)))
			__builtin_trap();
		return;
	}
	if (size > ENROLL_RESPONSE_PLAIN_MAX ||
	    enroll_response_encode_plain(&rs, out, sizeof(out), &n) != 0 || n != size ||
	    memcmp(out, data, size) != 0)
		__builtin_trap();
	if (rs.status != ENROLL_OK && (rs.tenant[0] != '\0' || rs.nhost != 0 || rs.wg_endpoint.len != 0))
		__builtin_trap();
	for (size_t k = 0; k < size; k++) {
		if (enroll_response_parse_plain(data, k, &k_rs, &err) != -1)
			__builtin_trap();
	}
}

static void
fuzz_frame(const uint8_t *data, size_t size)
{
	static uint8_t out[ENROLL_FRAME_MAX];
	const uint8_t *msg;
	size_t msglen, field = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
	int rc = enroll_frame_parse(data, size, &msg, &msglen);

	if (size < 2) {
		if (rc != 0)
			__builtin_trap();
		return;
	}
	if (field == 0 || field > ENROLL_MSG_MAX) {
		if (rc != -1)
			__builtin_trap();
		return;
	}
	if (size < 2 + field) {
		if (rc != 0 || msg != NULL)
			__builtin_trap();
		return;
	}
	if (rc != (int)(2 + field) || msg != data + 2 || msglen != field ||
	    enroll_frame_write(msg, msglen, out, sizeof(out)) != rc ||
	    memcmp(out, data, (size_t)rc) != 0)
		__builtin_trap();
	for (size_t k = 2; k < (size_t)rc; k++) {
		if (enroll_frame_parse(data, k, &msg, &msglen) != 0)
			__builtin_trap();
	}
}

/* The input's bytes as a token's fields: encoded, it must parse back the same. */
static void
fuzz_token_from_bytes(const uint8_t *data, size_t size)
{
	char out[ENROLL_TOKEN_TEXT_MAX + 1];
	struct enroll_token t, back;
	const char *err = NULL;
	uint8_t ip[16];
	size_t n;
	int len, usable;

	if (size < 32 + 16 + 32 + 1 + 16 + 2)
		return;
	memset(&t, 0, sizeof(t));
	memcpy(t.box_pk, data, 32);
	memcpy(t.invite_id, data + 32, 16);
	memcpy(t.secret, data + 48, 32);
	if (data[80] & 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t.control.ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, data + 81, 16);
		t.control.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t.control.ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, data + 81, 4);
		t.control.len = sizeof(*sin);
	}
	addr_set_port(&t.control, (uint16_t)(data[97] << 8 | data[98]));
	n = addr_ip_bytes(&t.control, ip);
	usable = !sodium_is_zero(t.box_pk, 32) && !sodium_is_zero(ip, n) && addr_port(&t.control) != 0;
	len = enroll_token_encode(&t, out, sizeof(out));
	if ((len > 0) != usable)
		__builtin_trap();
	if (len < 0)
		return;
	if ((size_t)len != strlen(out) || len != (n == 4 ? 128 : ENROLL_TOKEN_TEXT_MAX) ||
	    enroll_token_parse(out, (size_t)len, &back, &err) != 0 ||
	    memcmp(back.box_pk, t.box_pk, 32) != 0 || memcmp(back.invite_id, t.invite_id, 16) != 0 ||
	    memcmp(back.secret, t.secret, 32) != 0 || !addr_equal(&back.control, &t.control))
		__builtin_trap();
}

#define FUZZ_TXT_RECORDS 8

/* The documented rule, written out again: exactly the text, else anything "homeport-key...". */
static enum enroll_txt_match
fuzz_txt_rule(const char *want, const uint8_t *const *rec, const size_t *len, size_t n)
{
	enum enroll_txt_match got = ENROLL_TXT_NONE;

	for (size_t i = 0; i < n; i++) {
		if (len[i] == strlen(want) && memcmp(rec[i], want, len[i]) == 0)
			return ENROLL_TXT_FOUND;
		if (len[i] >= 12 && memcmp(rec[i], "homeport-key", 12) == 0)
			got = ENROLL_TXT_OTHER;
	}
	return got;
}

static void
fuzz_txt(const uint8_t *data, size_t size)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const uint8_t *rec[FUZZ_TXT_RECORDS];
	size_t len[FUZZ_TXT_RECORDS], n = 0, start = 0;
	uint8_t key[ENROLL_KEY_LEN], other[ENROLL_KEY_LEN];
	char want[ENROLL_TXT_LEN + 1], host[DNSNAME_MAX + 2], owner[DNSNAME_MAX + 1];
	const uint8_t *one;
	size_t one_len = ENROLL_TXT_LEN, hlen;
	int olen;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i + 1);
	for (size_t i = 0; i <= size && n < FUZZ_TXT_RECORDS; i++) {
		if (i == size || data[i] == '\n') {
			rec[n] = data + start;
			len[n++] = i - start;
			start = i + 1;
		}
	}
	enroll_txt_text(key, want);
	if (enroll_txt_match(key, rec, len, n) != fuzz_txt_rule(want, rec, len, n))
		__builtin_trap();
	/* A key from the input: its text has the form, and names that key only. */
	if (size >= ENROLL_KEY_LEN) {
		memcpy(key, data, sizeof(key));
		memcpy(other, key, sizeof(other));
		other[data[0] % sizeof(other)] ^= 1;
		enroll_txt_text(key, want);
		if (strlen(want) != ENROLL_TXT_LEN || memcmp(want, ENROLL_TXT_PREFIX, 14) != 0)
			__builtin_trap();
		for (size_t i = 14; i < ENROLL_TXT_LEN; i++) {
			if (strchr(alphabet, want[i]) == NULL)
				__builtin_trap();
		}
		one = (const uint8_t *)want;
		if (enroll_txt_match(key, &one, &one_len, 1) != ENROLL_TXT_FOUND ||
		    enroll_txt_match(other, &one, &one_len, 1) != ENROLL_TXT_OTHER)
			__builtin_trap();
	}
	/* The input as a host name. */
	hlen = size < sizeof(host) - 1 ? size : sizeof(host) - 1;
	memcpy(host, data, hlen);
	host[hlen] = '\0';
	olen = enroll_txt_owner(host, owner, sizeof(owner));
	if (olen >= 0 ? (strlen(host) > ENROLL_TXT_HOST_MAX || dnsname_check(host, strlen(host), 0) != 0 ||
			 (size_t)olen != 10 + strlen(host) || memcmp(owner, "_homeport.", 10) != 0 ||
			 strcmp(owner + 10, host) != 0)
		      : (strlen(host) <= ENROLL_TXT_HOST_MAX && dnsname_check(host, strlen(host), 0) == 0))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		if (sodium_init() < 0)
			__builtin_trap();
		ready = 1;
	}
	fuzz_token(data, size);
	fuzz_request(data, size);
	fuzz_response(data, size);
	fuzz_frame(data, size);
	fuzz_token_from_bytes(data, size);
	fuzz_txt(data, size);
	return 0;
}
