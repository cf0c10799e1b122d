#include "enroll_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "ev.h"

/* Move len bytes to (write_side) or from fd before deadline. Returns 0, or -1 with errno. */
static int
enroll_client_io(int fd, int write_side, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = write_side ? POLLOUT : POLLIN };
		int64_t left = deadline - ev_monotonic_ms();
		ssize_t n;
		int r;

		if (left <= 0 || (r = poll(&p, 1, (int)left)) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = write_side ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
			       : recv(fd, buf + done, len - done, 0);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int
enroll_exchange(const struct enroll_token *tok, const struct enroll_request *rq,
		const uint8_t reply_sk[ENROLL_KEY_LEN], int timeout_ms, struct enroll_response *rs_r,
		char *err, size_t errcap)
{
	uint8_t frame[ENROLL_FRAME_MAX];
	char where[ADDR_TEXT_MAX];
	int64_t deadline = ev_monotonic_ms() + timeout_ms;
	const char *why = NULL;
	size_t len = 0, mlen;
	int fd, n;

	addr_format(&tok->control, where, sizeof(where));
	if (enroll_request_seal(rq, tok->secret, tok->box_pk, frame + ENROLL_FRAME_HEADER_LEN,
				sizeof(frame) - ENROLL_FRAME_HEADER_LEN, &len) != 0 ||
	    (n = enroll_frame_write(frame + ENROLL_FRAME_HEADER_LEN, len, frame, sizeof(frame))) < 0) {
		snprintf(err, errcap, "cannot seal the request");
		return -1;
	}
	if ((fd = ev_connect_until(&tok->control, deadline)) < 0) {
		snprintf(err, errcap, "cannot reach the edge's control port %s: %s", where, strerror(errno));
		return -1;
	}
	if (enroll_client_io(fd, 1, frame, (size_t)n, deadline) != 0) {
		snprintf(err, errcap, "cannot send to %s: %s", where, strerror(errno));
		goto fail;
	}
	/* The length first, then exactly that much. */
	if (enroll_client_io(fd, 0, frame, ENROLL_FRAME_HEADER_LEN, deadline) != 0) {
		snprintf(err, errcap, "no answer from %s: %s", where, strerror(errno));
		goto fail;
	}
	mlen = ((size_t)frame[0] << 8) | frame[1];
	if (mlen == 0 || mlen > ENROLL_MSG_MAX) {
		snprintf(err, errcap, "%s answered with a frame of %zu bytes", where, mlen);
		goto fail;
	}
	if (enroll_client_io(fd, 0, frame + ENROLL_FRAME_HEADER_LEN, mlen, deadline) != 0) {
		snprintf(err, errcap, "the answer from %s was cut: %s", where, strerror(errno));
		goto fail;
	}
	close(fd);
	if (enroll_response_open(frame + ENROLL_FRAME_HEADER_LEN, mlen, rq->reply_pk, reply_sk, rs_r,
				 &why) != 0) {
		snprintf(err, errcap, "the answer from %s does not open: %s", where, why);
		return -1;
	}
	if (sodium_memcmp(rs_r->nonce, rq->nonce, sizeof(rq->nonce)) != 0) {
		snprintf(err, errcap, "the answer from %s is not for this request", where);
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}
