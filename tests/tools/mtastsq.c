/*
 * mtastsq: fetches a domain's MTA-STS policy with home/mtasts's
 * mtasts_fetch, for the integration tests that serve policies with nginx.
 *
 *   mtastsq [-c CAFILE] [-r HOST:443:ADDR] [-t MS] DOMAIN
 *
 * -c: the CAs to trust (default: the system's store). -r: pin
 * mta-sts.DOMAIN to an address (curl's CURLOPT_RESOLVE). -t: the whole
 * fetch's timeout in milliseconds (default MTASTS_FETCH_TIMEOUT_DEFAULT).
 *
 * Prints one line of JSON on stdout:
 *   {"domain":"peer.test","mode":"enforce","max_age":86400,"mx":["mx.peer.test"]}   exit 0
 *   {"domain":"peer.test","error":"mta-sts.peer.test: HTTP 404"}                     exit 1
 * Exit 2: usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "num.h"

#include "../../home/mtasts.h"

#define MTASTSQ_TIMEOUT_MAX 3600000	/* ms */

static const char *const mtastsq_modes[] = {
	[MTASTS_MODE_NONE] = "none",
	[MTASTS_MODE_TESTING] = "testing",
	[MTASTS_MODE_ENFORCE] = "enforce",
};

static int
mtastsq_usage(void)
{
	fprintf(stderr, "usage: mtastsq [-c CAFILE] [-r HOST:443:ADDR] [-t MS] DOMAIN\n");
	return 2;
}

/* s as a JSON string: quotes, backslashes and controls escaped. */
static void
mtastsq_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

int
main(int argc, char **argv)
{
	const char *ca_file = NULL, *resolve = NULL;
	char err[MTASTS_ERR_MAX];
	struct mtasts_policy *p;
	int64_t timeout = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "c:r:t:")) != -1) {
		switch (opt) {
		case 'c':
			ca_file = optarg;
			break;
		case 'r':
			resolve = optarg;
			break;
		case 't':
			if (num_parse_str(optarg, 1, MTASTSQ_TIMEOUT_MAX, &timeout) != 0)
				return mtastsq_usage();
			break;
		default:
			return mtastsq_usage();
		}
	}
	if (optind != argc - 1)
		return mtastsq_usage();
	p = malloc(sizeof(*p));
	if (p == NULL || mtasts_global_init() != 0) {
		fprintf(stderr, "mtastsq: cannot start (memory, libcurl)\n");
		free(p);
		return 1;
	}
	rc = mtasts_fetch(argv[optind], ca_file, resolve, timeout, p, err, sizeof(err));
	printf("{\"domain\":");
	mtastsq_json_string(argv[optind]);
	if (rc == 0) {
		printf(",\"mode\":\"%s\",\"max_age\":%u,\"mx\":[", mtastsq_modes[p->mode], (unsigned)p->max_age);
		for (size_t i = 0; i < p->nmx; i++) {
			if (i > 0)
				putchar(',');
			mtastsq_json_string(p->mx[i]);
		}
		printf("]}\n");
	} else {
		printf(",\"error\":");
		mtastsq_json_string(err);
		printf("}\n");
	}
	mtasts_global_cleanup();
	free(p);
	return rc == 0 ? 0 : 1;
}
