/*
 * enrollq: a home's side of an enrollment, for the tests of the edge's
 * control port until `homeport relay join` exists.
 *
 *   enrollq TOKEN HOST...
 *
 * Parses the token, seals a request (a fresh WireGuard public key and
 * reply key, now, the host names) to the edge, sends it framed to the
 * token's control address, reads the framed answer and opens it. Prints
 * one JSON object: the status and message, and when enrolled the tenant,
 * the tunnel addresses, the edge's endpoint and egress port. Exit 0 when
 * an answer came (whatever it says), 1 when none did, 2 for usage.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "enroll_client.h"

static void
enrollq_addr(const char *key, const struct addr *a)
{
	char text[ADDR_TEXT_MAX];

	printf(",\"%s\":\"%s\"", key, a->len > 0 ? addr_format(a, text, sizeof(text)) : "");
}

int
main(int argc, char **argv)
{
	struct enroll_token tok;
	struct enroll_request rq = { 0 };
	struct enroll_response rs;
	uint8_t reply_sk[32];
	char err[256];
	const char *why = NULL;

	if (argc < 3 || (size_t)(argc - 2) > ENROLL_HOSTS_MAX) {
		fprintf(stderr, "usage: enrollq TOKEN HOST...\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (enroll_token_parse(argv[1], strlen(argv[1]), &tok, &why) != 0) {
		printf("{\"error\":\"%s\"}\n", why);
		return 1;
	}
	memcpy(rq.invite_id, tok.invite_id, sizeof(rq.invite_id));
	rq.timestamp = (int64_t)time(NULL);
	randombytes_buf(rq.nonce, sizeof(rq.nonce));
	randombytes_buf(rq.home_wg_pk, sizeof(rq.home_wg_pk));
	crypto_box_keypair(rq.reply_pk, reply_sk);
	rq.nhost = (size_t)(argc - 2);
	for (size_t i = 0; i < rq.nhost; i++)
		snprintf(rq.host[i], sizeof(rq.host[i]), "%s", argv[2 + i]);
	if (enroll_exchange(&tok, &rq, reply_sk, ENROLL_CLIENT_TIMEOUT_MS, &rs, err, sizeof(err)) != 0) {
		printf("{\"error\":\"%s\"}\n", err);
		return 1;
	}
	printf("{\"status\":%u,\"message\":\"%s\",\"tenant\":\"%s\"", (unsigned)rs.status, rs.message, rs.tenant);
	enrollq_addr("tunnel_v4", &rs.tunnel_v4);
	enrollq_addr("tunnel_v6", &rs.tunnel_v6);
	enrollq_addr("edge_v4", &rs.edge_v4);
	enrollq_addr("wg_endpoint", &rs.wg_endpoint);
	printf(",\"egress_port\":%u,\"nhost\":%zu}\n", (unsigned)rs.egress_port, rs.nhost);
	sodium_memzero(reply_sk, sizeof(reply_sk));
	return 0;
}
