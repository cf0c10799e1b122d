/*
 * dnsq: shared/dns's lookups from the command line, each result one JSON
 * object on a line of stdout, for tests/integration/test_dns.py to read.
 *
 *   dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] mx DOMAIN...
 *   dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] tlsa HOST PORT
 *   dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] txt LABEL|- DOMAIN...
 *
 * Several DOMAINs are looked up at once, each by a thread of its own on
 * one struct dns (as homeportd's delivery threads do), and printed in the
 * order given; several TXT names in one dns_txt_names call (as the edge's
 * require_txt does), "ms" then being the call's. Exit status: 0 when every lookup ran (whatever its
 * status), 1 when the resolver could not start, 2 for bad arguments (a
 * name that is not a host name included).
 *
 *   mx:   {"domain", "status", "null_mx", "implicit", "secure", "ms",
 *          "hosts": [{"name", "preference", "status", "secure", "addrs": [...]}], "err"}
 *   tlsa: {"host", "port", "status", "secure", "ms",
 *          "records": [{"usage", "selector", "mtype", "data" (hex)}], "err"}
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "addr.h"
#include "hex.h"
#include "num.h"

#define DNSQ_ERR_MAX 512
#define DNSQ_DOMAINS_MAX 64

struct dnsq_job {
	struct dns *d;
	const char *domain;
	struct dns_mx r;
	int rc;
	int64_t ms;		/* how long the call took */
	pthread_t thread;
};

static int
dnsq_usage(void)
{
	fprintf(stderr, "usage: dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] mx DOMAIN...\n"
			"       dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] tlsa HOST PORT\n"
			"       dnsq [-f FORWARD] [-a ANCHORFILE] [-t TIMEOUT_MS] txt LABEL|- DOMAIN...\n");
	return 2;
}

static int64_t
dnsq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* s as a JSON string: quotes, backslashes and every byte outside printable ASCII escaped. */
static void
dnsq_json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static const char *
dnsq_bool(int v)
{
	return v ? "true" : "false";
}

static void
dnsq_print_mx(const struct dnsq_job *j)
{
	const struct dns_mx *r = &j->r;
	char text[ADDR_TEXT_MAX];

	printf("{\"domain\":");
	dnsq_json_str(j->domain);
	printf(",\"status\":\"%s\",\"null_mx\":%s,\"implicit\":%s,\"secure\":%s,\"ms\":%lld,\"hosts\":[",
	       dns_status_name(r->status), dnsq_bool(r->null_mx), dnsq_bool(r->implicit),
	       dnsq_bool(r->secure), (long long)j->ms);
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct dns_host *h = &r->hosts[i];

		printf("%s{\"name\":", i > 0 ? "," : "");
		dnsq_json_str(h->name);
		printf(",\"preference\":%u,\"status\":\"%s\",\"secure\":%s,\"addrs\":[", h->preference,
		       dns_status_name(h->status), dnsq_bool(h->secure));
		for (size_t k = 0; k < h->naddrs; k++) {
			printf("%s", k > 0 ? "," : "");
			dnsq_json_str(addr_format(&h->addrs[k], text, sizeof(text)));
		}
		printf("]}");
	}
	printf("],\"err\":");
	dnsq_json_str(r->err);
	printf("}\n");
}

static void *
dnsq_mx_thread(void *arg)
{
	struct dnsq_job *j = arg;
	int64_t t0 = dnsq_now_ms();

	j->rc = dns_mx(j->d, j->domain, &j->r);
	j->ms = dnsq_now_ms() - t0;
	return NULL;
}

static int
dnsq_mx(struct dns *d, char **domains, int n)
{
	struct dnsq_job *jobs = calloc((size_t)n, sizeof(*jobs));
	int rc = 0, started = 0;

	if (jobs == NULL) {
		fprintf(stderr, "dnsq: out of memory\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		jobs[i].d = d;
		jobs[i].domain = domains[i];
	}
	if (n == 1) {
		dnsq_mx_thread(&jobs[0]);
	} else {
		for (; started < n; started++) {
			if (pthread_create(&jobs[started].thread, NULL, dnsq_mx_thread, &jobs[started]) != 0) {
				fprintf(stderr, "dnsq: cannot start a thread\n");
				rc = 1;
				break;
			}
		}
		for (int i = 0; i < started; i++)
			pthread_join(jobs[i].thread, NULL);
		if (rc != 0)
			goto done;
	}
	for (int i = 0; i < n; i++) {
		if (jobs[i].rc != 0) {
			fprintf(stderr, "dnsq: %s: %s\n", jobs[i].domain, jobs[i].r.err);
			rc = 2;
			continue;
		}
		dnsq_print_mx(&jobs[i]);
	}
done:
	free(jobs);
	return rc;
}

static int
dnsq_tlsa(struct dns *d, const char *host, const char *port_text)
{
	char hex[HEX_ENCODED_SIZE(DNS_TLSA_DATA_MAX)];
	struct dns_tlsa *r = malloc(sizeof(*r));
	int64_t port, t0;
	int rc = 0;

	if (r == NULL) {
		fprintf(stderr, "dnsq: out of memory\n");
		return 1;
	}
	if (num_parse_str(port_text, 0, 65535, &port) != 0) {
		free(r);
		return dnsq_usage();
	}
	t0 = dnsq_now_ms();
	if (dns_tlsa(d, host, (uint16_t)port, r) != 0) {
		fprintf(stderr, "dnsq: %s: %s\n", host, r->err);
		rc = 2;
		goto done;
	}
	printf("{\"host\":");
	dnsq_json_str(host);
	printf(",\"port\":%lld,\"status\":\"%s\",\"secure\":%s,\"ms\":%lld,\"records\":[", (long long)port,
	       dns_status_name(r->status), dnsq_bool(r->secure), (long long)(dnsq_now_ms() - t0));
	for (size_t i = 0; i < r->n; i++) {
		if (hex_encode(r->rr[i].data, r->rr[i].len, hex, sizeof(hex)) < 0)
			hex[0] = '\0';
		printf("%s{\"usage\":%u,\"selector\":%u,\"mtype\":%u,\"data\":\"%s\"}", i > 0 ? "," : "",
		       r->rr[i].usage, r->rr[i].selector, r->rr[i].mtype, hex);
	}
	printf("],\"err\":");
	dnsq_json_str(r->err);
	printf("}\n");
done:
	free(r);
	return rc;
}

/*
 * txt LABEL DOMAIN... ("-" for no label), all in one dns_txt_names call:
 * per DOMAIN, the records as JSON strings, bytes outside ASCII escaped.
 */
static int
dnsq_txt(struct dns *d, const char *label, char **domains, size_t n)
{
	struct dns_txt *r = calloc(n, sizeof(*r));
	char text[DNS_TXT_LEN_MAX + 1];
	int64_t t0, ms;
	int rc = 0;

	if (r == NULL) {
		fprintf(stderr, "dnsq: out of memory\n");
		return 1;
	}
	t0 = dnsq_now_ms();
	if (dns_txt_names(d, strcmp(label, "-") == 0 ? NULL : label, (const char *const *)domains, n, r) != 0) {
		for (size_t k = 0; k < n; k++)
			fprintf(stderr, "dnsq: %s: %s\n", domains[k], r[k].err);
		rc = 2;
		goto done;
	}
	ms = dnsq_now_ms() - t0;
	for (size_t k = 0; k < n; k++) {
		printf("{\"domain\":");
		dnsq_json_str(domains[k]);
		printf(",\"status\":\"%s\",\"secure\":%s,\"ms\":%lld,\"records\":[",
		       dns_status_name(r[k].status), dnsq_bool(r[k].secure), (long long)ms);
		for (size_t i = 0; i < r[k].n; i++) {
			const struct dns_txt_rr *rr = &r[k].rr[i];

			for (size_t b = 0; b < rr->len; b++)
				text[b] = rr->data[b] >= 0x20 && rr->data[b] < 0x7f ? (char)rr->data[b] : '?';
			text[rr->len] = '\0';
			printf("%s", i > 0 ? "," : "");
			dnsq_json_str(text);
		}
		printf("],\"err\":");
		dnsq_json_str(r[k].err);
		printf("}\n");
	}
done:
	free(r);
	return rc;
}

int
main(int argc, char **argv)
{
	struct dns_conf conf = { 0 };
	char err[DNSQ_ERR_MAX];
	struct dns *d;
	int opt, rc, nargs;

	while ((opt = getopt(argc, argv, "f:a:t:")) != -1) {
		switch (opt) {
		case 'f':
			conf.forward = optarg;
			break;
		case 'a':
			conf.trust_anchor_file = optarg;
			break;
		case 't':
			if (num_parse_str(optarg, 1, DNS_TIMEOUT_MAX, &conf.timeout_ms) != 0)
				return dnsq_usage();
			break;
		default:
			return dnsq_usage();
		}
	}
	nargs = argc - optind;
	if (nargs < 2)
		return dnsq_usage();
	if (strcmp(argv[optind], "mx") == 0) {
		if (nargs - 1 > DNSQ_DOMAINS_MAX)
			return dnsq_usage();
	} else if (strcmp(argv[optind], "txt") == 0) {
		if (nargs < 3 || nargs - 2 > DNS_TXT_NAMES_MAX)
			return dnsq_usage();
	} else if (strcmp(argv[optind], "tlsa") != 0 || nargs != 3) {
		return dnsq_usage();
	}
	d = dns_new(&conf, err, sizeof(err));
	if (d == NULL) {
		fprintf(stderr, "dnsq: %s\n", err);
		return 1;
	}
	if (strcmp(argv[optind], "mx") == 0)
		rc = dnsq_mx(d, argv + optind + 1, nargs - 1);
	else if (strcmp(argv[optind], "txt") == 0)
		rc = dnsq_txt(d, argv[optind + 1], argv + optind + 2, (size_t)nargs - 2);
	else
		rc = dnsq_tlsa(d, argv[optind + 1], argv[optind + 2]);
	dns_free(&d);
	return rc;
}
