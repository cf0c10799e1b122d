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
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "enroll_wire.h"

#define ENROLLQ_TIMEOUT_MS 15000

static int
enrollq_io(int fd, int write_side, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = write_side ? POLLOUT : POLLIN };
		ssize_t n;
		if (poll(&p, 1, ENROLLQ_TIMEOUT_MS) <= 0)
			return -1;
		n = write_side ? send(fd, buf + done, len - done, MSG_NOSIGNAL) : recv(fd, buf + done, len - done, 0);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

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
	uint8_t reply_sk[32], frame[ENROLL_FRAME_MAX], *msg;
	size_t len = 0, mlen;
	const char *why = NULL;
	int fd, n;

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
	if (enroll_request_seal(&rq, tok.secret, tok.box_pk, frame + ENROLL_FRAME_HEADER_LEN,
				sizeof(frame) - ENROLL_FRAME_HEADER_LEN, &len) != 0 ||
	    (n = enroll_frame_write(frame + ENROLL_FRAME_HEADER_LEN, len, frame, sizeof(frame))) < 0) {
		printf("{\"error\":\"cannot seal the request\"}\n");
		return 1;
	}
	fd = socket(tok.control.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&tok.control.ss, tok.control.len) != 0 ||
	    enrollq_io(fd, 1, frame, (size_t)n) != 0) {
		printf("{\"error\":\"cannot send: %s\"}\n", strerror(errno));
		return 1;
	}
	/* The length first, then exactly that much. */
	if (enrollq_io(fd, 0, frame, ENROLL_FRAME_HEADER_LEN) != 0 ||
	    (mlen = ((size_t)frame[0] << 8) | frame[1]) == 0 || mlen > ENROLL_MSG_MAX ||
	    enrollq_io(fd, 0, frame + ENROLL_FRAME_HEADER_LEN, mlen) != 0) {
		printf("{\"error\":\"no answer\"}\n");
		close(fd);
		return 1;
	}
	close(fd);
	msg = frame + ENROLL_FRAME_HEADER_LEN;
	if (enroll_response_open(msg, mlen, rq.reply_pk, reply_sk, &rs, &why) != 0 ||
	    sodium_memcmp(rs.nonce, rq.nonce, sizeof(rq.nonce)) != 0) {
		printf("{\"error\":\"%s\"}\n", why != NULL ? why : "the answer is not for this request");
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
