/*
 * enroll_client: the home's side of one enrollment on the network
 * (docs/wire.md "Enrollment"): seal the request, send it framed to the
 * token's control address, read the framed answer, open it and check it
 * answers this request. Blocking, under one deadline: used by
 * `homeport relay join` and by the tests' enrollq.
 */
#ifndef HOMEPORT_ENROLL_CLIENT_H
#define HOMEPORT_ENROLL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "enroll_wire.h"

#define ENROLL_CLIENT_TIMEOUT_MS 15000

/*
 * Ask tok's edge to take rq (reply_sk: the secret half of rq->reply_pk).
 * Returns 0 with the edge's answer in *rs_r, whatever its status; -1 with
 * err set when no valid answer came (unreachable, timeout, not ours).
 */
int enroll_exchange(const struct enroll_token *tok, const struct enroll_request *rq,
		    const uint8_t reply_sk[ENROLL_KEY_LEN], int timeout_ms,
		    struct enroll_response *rs_r, char *err, size_t errcap);

#endif
