/*
 * Unit tests for home/home_conf: homeportd.conf files written to a
 * temporary directory and loaded with home_conf_load(). Every typed value
 * and default is checked, and every cross-field error with its exact
 * message and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"
#include "log.h"

#include "../../home/home.h"
#include "testutil.h"

#define T_ERR_MAX 1024
#define T_TEXT_MAX 8192

static int
t_setup(void **state)
{
	*state = testutil_tmpdir_new("home_conf", "homeportd.conf");
	return *state != NULL ? 0 : -1;
}

/* Write text as the config file and load it; fail the test if it is refused. */
static void
t_load_ok(struct testutil_tmpdir *s, const char *text, struct home_conf *hc)
{
	char err[T_ERR_MAX];

	assert_int_equal(testutil_write_file(s->path, text, strlen(text), 0644), 0);
	err[0] = '\0';
	if (home_conf_load(s->path, hc, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static char *
t_addr(const struct addr *a, char *out, size_t cap)
{
	return addr_format(a, out, cap);
}

/* ---- valid files -------------------------------------------------------- */

static const char t_full[] =
	"# homeportd.conf: every key\n"
	"[home]\n"
	"hostname = mail.example.test\n"
	"state_dir = /srv/homeport   # not the default\n"
	"log_level = debug\n"
	"user = mailer\n"
	"\n"
	"[tls]\n"
	"certificate = /etc/homeport/tls/chain.pem\n"
	"key = /etc/homeport/tls/key.pem\n"
	"\n"
	"[smtp]\n"
	"message_size_max = 20M\n"
	"max_recipients = 50\n"
	"max_errors = 5\n"
	"command_timeout = 90s\n"
	"data_timeout = 4m\n"
	"shutdown_grace = 3s\n"
	"\n"
	"[auth]\n"
	"fail_delay = 500ms\n"
	"fail_delay_max = 10s\n"
	"lockout_failures = 7\n"
	"lockout_time = 1h\n"
	"\n"
	"[listener mx]\n"
	"address = 192.0.2.130:25, [2001:db8:77::2]:25\n"
	"mode = smtp\n"
	"proxy = yes\n"
	"proxy_from = 192.0.2.1, 2001:db8:77::/64\n"
	"max_connections = 500\n"
	"max_per_source = 10\n"
	"idle_timeout = 2m\n"
	"proxy_timeout = 2500ms\n"
	"\n"
	"[listener submission]\n"
	"address = 192.0.2.130:587\n"
	"mode = submission\n"
	"proxy = no\n"
	"idle_timeout = 1500ms\n"
	"\n"
	"[listener submissions]\n"
	"address = 192.0.2.130:465\n"
	"mode = submissions\n"
	"max_connections = 100000\n"
	"max_per_source = 100000\n"
	"idle_timeout = 1d\n"
	"\n"
	"[listener imap]\n"
	"address = 192.0.2.130:143\n"
	"mode = imap\n"
	"idle_timeout = 30s\n"
	"\n"
	"[listener imaps]\n"
	"address = [::ffff:192.0.2.131]:993, 192.0.2.130:993\n"
	"mode = imaps\n"
	"idle_timeout = 1h\n";

static void
test_home_conf_full(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;
	struct home_listener_conf *l;
	char a[ADDR_TEXT_MAX], c[ADDR_TEXT_MAX];

	t_load_ok(s, t_full, &hc);
	assert_non_null(hc.conf);
	assert_string_equal(hc.main->hostname, "mail.example.test");
	assert_string_equal(hc.main->state_dir, "/srv/homeport");
	assert_int_equal(hc.main->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(hc.main->user, "mailer");
	assert_string_equal(hc.tls->certificate, "/etc/homeport/tls/chain.pem");
	assert_string_equal(hc.tls->key, "/etc/homeport/tls/key.pem");
	assert_string_equal(hc.cert_path, "/etc/homeport/tls/chain.pem");
	assert_string_equal(hc.key_path, "/etc/homeport/tls/key.pem");
	assert_int_equal(hc.nlisteners, 5);

	l = home_conf_listener(&hc, 0);
	assert_non_null(l);
	assert_string_equal(l->name, "mx");
	assert_int_equal(l->address.n, 2);
	assert_string_equal(t_addr(&l->address.v[0], a, sizeof(a)), "192.0.2.130:25");
	assert_string_equal(t_addr(&l->address.v[1], a, sizeof(a)), "[2001:db8:77::2]:25");
	assert_int_equal(l->mode, HOME_LISTENER_SMTP);
	assert_int_equal(l->proxy, 1);
	assert_int_equal(l->proxy_from.n, 2);
	assert_string_equal(cidr_format(&l->proxy_from.v[0], c, sizeof(c)), "192.0.2.1/32");
	assert_string_equal(cidr_format(&l->proxy_from.v[1], c, sizeof(c)), "2001:db8:77::/64");
	assert_int_equal(l->max_connections, 500);
	assert_int_equal(l->max_per_source, 10);
	assert_int_equal(l->idle_timeout, 120000);
	assert_int_equal(l->proxy_timeout, 2500);
	assert_int_equal(hc.smtp->message_size_max, 20 * 1024 * 1024);
	assert_int_equal(hc.smtp->max_recipients, 50);
	assert_int_equal(hc.smtp->max_errors, 5);
	assert_int_equal(hc.smtp->command_timeout, 90000);
	assert_int_equal(hc.smtp->data_timeout, 240000);
	assert_int_equal(hc.smtp->shutdown_grace, 3000);
	assert_int_equal(hc.auth->fail_delay, 500);
	assert_int_equal(hc.auth->fail_delay_max, 10000);
	assert_int_equal(hc.auth->lockout_failures, 7);
	assert_int_equal(hc.auth->lockout_time, 3600000);

	l = home_conf_listener(&hc, 1);
	assert_string_equal(l->name, "submission");
	assert_int_equal(l->mode, HOME_LISTENER_SUBMISSION);
	assert_int_equal(l->proxy, 0);
	assert_int_equal(l->proxy_from.n, 0);
	assert_int_equal(l->max_connections, 1000);
	assert_int_equal(l->max_per_source, 20);
	assert_int_equal(l->idle_timeout, 1500);

	l = home_conf_listener(&hc, 2);
	assert_string_equal(l->name, "submissions");
	assert_int_equal(l->mode, HOME_LISTENER_SUBMISSIONS);
	assert_int_equal(l->max_connections, 100000);
	assert_int_equal(l->max_per_source, 100000);
	assert_int_equal(l->idle_timeout, 86400000);

	l = home_conf_listener(&hc, 3);
	assert_string_equal(l->name, "imap");
	assert_int_equal(l->mode, HOME_LISTENER_IMAP);
	assert_int_equal(l->idle_timeout, 30000);

	l = home_conf_listener(&hc, 4);
	assert_string_equal(l->name, "imaps");
	assert_int_equal(l->mode, HOME_LISTENER_IMAPS);
	assert_int_equal(l->address.n, 2);
	assert_int_equal(addr_port(&l->address.v[0]), 993);
	assert_int_equal(addr_family(&l->address.v[0]), AF_INET);
	assert_int_equal(l->idle_timeout, 3600000);

	assert_null(home_conf_listener(&hc, 5));
	home_conf_free(&hc);
	assert_null(hc.conf);
	assert_null(hc.main);
	/* Freeing twice is harmless. */
	home_conf_free(&hc);
}

static void
test_home_conf_defaults(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;
	struct home_listener_conf *l;

	t_load_ok(s, "[home]\nhostname = mail.example.test\n", &hc);
	assert_string_equal(hc.main->hostname, "mail.example.test");
	assert_string_equal(hc.main->state_dir, "/var/lib/homeport");
	assert_string_equal(hc.main->state_dir, HOME_STATE_DIR_DEFAULT);
	assert_int_equal(hc.main->log_level, LOG_LEVEL_INFO);
	assert_string_equal(hc.main->user, "homeport");
	assert_non_null(hc.tls);
	assert_null(hc.tls->certificate);
	assert_null(hc.tls->key);
	assert_string_equal(hc.cert_path, "/var/lib/homeport/keys/tls.crt");
	assert_string_equal(hc.key_path, "/var/lib/homeport/keys/tls.key");
	assert_int_equal(hc.nlisteners, 0);
	assert_null(home_conf_listener(&hc, 0));
	/* [smtp] and [auth] absent: their defaults (docs/home.md). */
	assert_non_null(hc.smtp);
	assert_int_equal(hc.smtp->message_size_max, 50 * 1024 * 1024);
	assert_int_equal(hc.smtp->max_recipients, 100);
	assert_int_equal(hc.smtp->max_errors, 10);
	assert_int_equal(hc.smtp->command_timeout, 120000);
	assert_int_equal(hc.smtp->data_timeout, 120000);
	assert_int_equal(hc.smtp->shutdown_grace, 10000);
	assert_non_null(hc.auth);
	assert_int_equal(hc.auth->fail_delay, 1000);
	assert_int_equal(hc.auth->fail_delay_max, 16000);
	assert_int_equal(hc.auth->lockout_failures, 10);
	assert_int_equal(hc.auth->lockout_time, 900000);
	/* [outbound] absent: direct, retries from 5 min doubling to 4 h, 5 days. */
	assert_non_null(hc.outbound);
	assert_int_equal(hc.outbound->transport, HOME_TRANSPORT_DIRECT);
	assert_int_equal(hc.outbound->egress.n, 0);
	assert_null(hc.outbound->dns_forward);
	assert_null(hc.outbound->dns_trust_anchor);
	assert_int_equal(hc.outbound->retry_min, 300000);
	assert_int_equal(hc.outbound->retry_max, 14400000);
	assert_int_equal(hc.outbound->expire, 432000000);
	assert_int_equal(hc.outbound->max_deliveries, 8);
	assert_int_equal(hc.outbound->max_per_domain, 2);
	assert_int_equal(hc.outbound->connect_timeout, 30000);
	/* [mta_sts] absent: enforce (once the certificate allows), a week. */
	assert_non_null(hc.mta_sts);
	assert_int_equal(hc.mta_sts->mode, HOME_MTASTS_ENFORCE);
	assert_int_equal(hc.mta_sts->max_age, 7 * 86400000LL);
	home_conf_free(&hc);

	/* [mta_sts] and the web listeners. */
	t_load_ok(s,
		  "[home]\n"
		  "hostname = mail.example.test\n"
		  "[mta_sts]\n"
		  "mode = testing\n"
		  "max_age = 30d\n"
		  "[listener web]\n"
		  "address = 192.0.2.130:443\n"
		  "mode = https\n"
		  "[listener redirect]\n"
		  "address = 192.0.2.130:80\n"
		  "mode = http\n", &hc);
	assert_int_equal(hc.mta_sts->mode, HOME_MTASTS_TESTING);
	assert_int_equal(hc.mta_sts->max_age, 30 * 86400000LL);
	assert_int_equal(home_conf_listener(&hc, 0)->mode, HOME_LISTENER_HTTPS);
	assert_int_equal(home_conf_listener(&hc, 1)->mode, HOME_LISTENER_HTTP);
	home_conf_free(&hc);

	/* Relay mode's outbound. */
	t_load_ok(s,
		  "[home]\n"
		  "hostname = mail.example.test\n"
		  "[outbound]\n"
		  "transport = edge\n"
		  "egress = 192.0.2.1:1080\n"
		  "dns_forward = 198.51.100.53\n"
		  "expire = 2d\n", &hc);
	assert_int_equal(hc.outbound->transport, HOME_TRANSPORT_EDGE);
	assert_int_equal(hc.outbound->egress.n, 1);
	assert_int_equal(addr_port(&hc.outbound->egress.v[0]), 1080);
	assert_string_equal(hc.outbound->dns_forward, "198.51.100.53");
	assert_int_equal(hc.outbound->expire, 2 * 86400000LL);
	home_conf_free(&hc);

	/* A listener with only what it must have. */
	t_load_ok(s,
		  "[home]\n"
		  "hostname = mail.example.test\n"
		  "[listener mx]\n"
		  "address = 192.0.2.130:25\n"
		  "mode = smtp\n", &hc);
	assert_int_equal(hc.nlisteners, 1);
	l = home_conf_listener(&hc, 0);
	assert_string_equal(l->name, "mx");
	assert_int_equal(l->proxy, 0);
	assert_int_equal(l->proxy_from.n, 0);
	assert_null(l->proxy_from.v);
	assert_int_equal(l->max_connections, 1000);
	assert_int_equal(l->max_per_source, 20);
	assert_int_equal(l->idle_timeout, 300000);
	assert_int_equal(l->proxy_timeout, 5000);
	home_conf_free(&hc);
}

static void
test_home_conf_key_paths(void **state)
{
	static const struct {
		const char *text;
		const char *cert, *key;
	} cases[] = {
		{ "[home]\nhostname = h.example.test\nstate_dir = /srv/hp\n",
		  "/srv/hp/keys/tls.crt", "/srv/hp/keys/tls.key" },
		{ "[home]\nhostname = h.example.test\nstate_dir = /\n",
		  "//keys/tls.crt", "//keys/tls.key" },
		{ "[home]\nhostname = h.example.test\nstate_dir = /srv/hp\n"
		  "[tls]\ncertificate = /etc/chain.pem\n",
		  "/etc/chain.pem", "/srv/hp/keys/tls.key" },
		{ "[home]\nhostname = h.example.test\n[tls]\nkey = /etc/key.pem\n",
		  "/var/lib/homeport/keys/tls.crt", "/etc/key.pem" },
		{ "[tls]\ncertificate = relative.pem\nkey = k.pem\n[home]\nhostname = h.example.test\n",
		  "relative.pem", "k.pem" },
	};
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_load_ok(s, cases[i].text, &hc);
		assert_string_equal(hc.cert_path, cases[i].cert);
		assert_string_equal(hc.key_path, cases[i].key);
		home_conf_free(&hc);
	}
}

static void
test_home_conf_accepted_edges(void **state)
{
	static const char *const texts[] = {
		/* max_per_source equal to max_connections. */
		("[home]\nhostname = mail.example.test\n"
		 "[listener a]\naddress = 192.0.2.1:25\nmode = smtp\n"
		 "max_connections = 7\nmax_per_source = 7\n"),
		/* Same address, other port; same port, other address. */
		("[home]\nhostname = mail.example.test\n"
		 "[listener a]\naddress = 192.0.2.1:25\nmode = smtp\n"
		 "[listener b]\naddress = 192.0.2.1:587, 192.0.2.2:25\nmode = submission\n"),
		/* CRLF line endings, comments, blank lines, odd spacing. */
		("; comment\r\n[home]\r\n  hostname=mail.example.test  \r\n\r\n"
		 "[listener a]  # the MX\r\naddress =192.0.2.1:25\r\nmode= smtp\r\n"),
		/* Upper case host name, digits and hyphens. */
		"[home]\nhostname = MX-1.Example.TEST\n",
		/* No newline at the end. */
		"[home]\nhostname = mail.example.test",
	};
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		t_load_ok(s, texts[i], &hc);
		home_conf_free(&hc);
	}
}

/* ---- errors --------------------------------------------------------------- */

struct t_error_case {
	const char *text;
	const char *want;	/* the message after the file name */
};

#define T_HOME "[home]\nhostname = mail.example.test\n"	/* two lines */

static const struct t_error_case t_error_cases[] = {
	/* [smtp], [auth] and proxy_timeout: ranges and the one cross-key check. */
	{ T_HOME "[smtp]\nmessage_size_max = 1000\n",
	  ":4: [smtp] message_size_max: expected a size like 64K or 50M, from 1024 to 134217728 bytes, not \"1000\"" },
	{ T_HOME "[smtp]\nmessage_size_max = 129M\n",
	  ":4: [smtp] message_size_max: expected a size like 64K or 50M, from 1024 to 134217728 bytes, not \"129M\"" },
	{ T_HOME "[smtp]\nmax_recipients = 0\n", ":4: [smtp] max_recipients: expected a whole number from 1 to 1000, not \"0\"" },
	{ T_HOME "[smtp]\nmax_recipients = 1001\n",
	  ":4: [smtp] max_recipients: expected a whole number from 1 to 1000, not \"1001\"" },
	{ T_HOME "[smtp]\nmax_errors = 0\n", 
	  ":4: [smtp] max_errors: expected a whole number from 1 to 1000, not \"0\"" },
	{ T_HOME "[smtp]\ncommand_timeout = 999ms\n",
	  ":4: [smtp] command_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), from 1000ms to 3600000ms, not \"999ms\"" },
	{ T_HOME "[smtp]\ndata_timeout = 2h\n",
	  ":4: [smtp] data_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), from 1000ms to 3600000ms, not \"2h\"" },
	{ T_HOME "[smtp]\nsize = 5M\n", ":4: [smtp] size: unknown key" },
	{ T_HOME "[auth]\nfail_delay = 2s\nfail_delay_max = 1s\n",
	  ":5: [auth] fail_delay_max: shorter than fail_delay (2000 ms)" },
	{ T_HOME "[auth]\nfail_delay = 20s\n",
	  ":3: [auth] fail_delay_max: shorter than fail_delay (20000 ms)" },
	{ T_HOME "[auth]\nlockout_failures = 0\n",
	  ":4: [auth] lockout_failures: expected a whole number from 1 to 1000, not \"0\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nproxy_timeout = 2m\n",
	  ":6: [listener mx] proxy_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), from 100ms to 60000ms, not \"2m\"" },
	/* Cross-field checks of home_conf.c. */
	{ "[home]\nhostname = mail_server.example.test\n",
	  ":2: [home] hostname: not a host name (letters, digits, '-' and dots; like mail.example.com)" },
	{ "# x\n\n[home]\nstate_dir = /srv\nhostname = mail.example.test.\n",
	  ":5: [home] hostname: not a host name (letters, digits, '-' and dots; like mail.example.com)" },
	{ "[home]\nhostname = *.example.test\n",
	  ":2: [home] hostname: not a host name (letters, digits, '-' and dots; like mail.example.com)" },
	{ "[home]\nhostname = -mail.example.test\n",
	  ":2: [home] hostname: not a host name (letters, digits, '-' and dots; like mail.example.com)" },
	{ "[home]\nhostname = mail.example.test\nstate_dir = var/lib/homeport\n",
	  ":3: [home] state_dir: must be an absolute path" },
	{ "[home]\nstate_dir = ./state\nhostname = mail.example.test\n",
	  ":2: [home] state_dir: must be an absolute path" },
	{ T_HOME "\n[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nproxy = yes\n",
	  ":7: [listener mx] proxy: proxy = yes needs proxy_from (the edges' tunnel addresses)" },
	{ T_HOME "[listener mx]\nproxy_from =\nproxy = on\naddress = 192.0.2.130:25\nmode = smtp\n",
	  ":5: [listener mx] proxy: proxy = yes needs proxy_from (the edges' tunnel addresses)" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nproxy_from = 192.0.2.1\n",
	  ":6: [listener mx] proxy_from: set only with proxy = yes" },
	{ T_HOME "[listener mx]\nproxy_from = 192.0.2.1\nproxy = false\naddress = 192.0.2.130:25\nmode = smtp\n",
	  ":4: [listener mx] proxy_from: set only with proxy = yes" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\n"
	  "max_connections = 5\nmax_per_source = 6\n",
	  ":7: [listener mx] max_per_source: 6 is larger than max_connections (5)" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nmax_per_source = 1001\n",
	  ":6: [listener mx] max_per_source: 1001 is larger than max_connections (1000)" },
	/* Only max_connections set, below the default max_per_source: the header line. */
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nmax_connections = 10\n",
	  ":3: [listener mx] max_per_source: 20 is larger than max_connections (10)" },
	{ T_HOME "[listener a]\naddress = 192.0.2.130:25, 192.0.2.130:587\nmode = smtp\n"
	  "[listener b]\naddress = [2001:db8::1]:587, 192.0.2.130:587\nmode = submission\n",
	  ":7: [listener b] address: also used by [listener a]" },
	{ T_HOME "[listener a]\naddress = 192.0.2.130:25\nmode = smtp\n"
	  "[listener b]\naddress = 192.0.2.131:25\nmode = smtp\n"
	  "[listener c]\nmode = smtp\naddress = [::ffff:192.0.2.131]:25\n",
	  ":11: [listener c] address: also used by [listener b]" },
	{ T_HOME "[listener a]\naddress = [2001:db8::1]:25\nmode = smtp\n"
	  "[listener b]\naddress = [2001:DB8:0::1]:25\nmode = smtp\n",
	  ":7: [listener b] address: also used by [listener a]" },
	/* The same address twice in one listener: bind() would fail at start-up. */
	{ T_HOME "[listener a]\naddress = 192.0.2.130:25, 192.0.2.131:25, 192.0.2.130:25\nmode = smtp\n",
	  ":4: [listener a] address: 192.0.2.130:25 listed twice" },

	/* The schema: required sections and keys, types and limits. */
	{ "", ": missing section [home]" },
	{ "[tls]\nkey = /k\n", ": missing section [home]" },
	{ "[home]\nstate_dir = /srv\n", ":1: [home]: missing required key 'hostname'" },
	{ "[home]\nhostname =\n", ":2: [home] hostname: expected a non-empty value, not \"\"" },
	{ T_HOME "[listener mx]\nmode = smtp\n", ":3: [listener mx]: missing required key 'address'" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\n", ":3: [listener mx]: missing required key 'mode'" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = pop3\n",
	  ":5: [listener mx] mode: expected one of smtp, submission, submissions, imap, imaps, https, http, not \"pop3\"" },
	{ T_HOME "[mta_sts]\nmode = on\n",
	  ":4: [mta_sts] mode: expected one of enforce, testing, off, not \"on\"" },
	{ T_HOME "[mta_sts]\nmax_age = 1h\n",
	  ":4: [mta_sts] max_age: expected a duration like 30s or 5m (ms, s, m, h, d), from 86400000ms to "
	  "31557600000ms, not \"1h\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130\nmode = smtp\n",
	  ":4: [listener mx] address: expected a comma-separated list of addresses with port, "
	  "like 192.0.2.1:25 or [2001:db8::1]:25, not \"192.0.2.130\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nidle_timeout = 999ms\n",
	  ":6: [listener mx] idle_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), "
	  "from 1000ms to 86400000ms, not \"999ms\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nidle_timeout = 25h\n",
	  ":6: [listener mx] idle_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), "
	  "from 1000ms to 86400000ms, not \"25h\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nidle_timeout = 300\n",
	  ":6: [listener mx] idle_timeout: expected a duration like 30s or 5m (ms, s, m, h, d), "
	  "from 1000ms to 86400000ms, not \"300\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nmax_connections = 0\n",
	  ":6: [listener mx] max_connections: expected a whole number from 1 to 100000, not \"0\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nmax_per_source = 100001\n",
	  ":6: [listener mx] max_per_source: expected a whole number from 1 to 100000, not \"100001\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nproxy = 1\n",
	  ":6: [listener mx] proxy: expected yes or no, not \"1\"" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\nproxy = yes\nproxy_from = 192.0.2.1/24\n",
	  ":7: [listener mx] proxy_from: expected a comma-separated list of prefixes like "
	  "192.0.2.0/24 or 2001:db8::/32 (host bits zero), not \"192.0.2.1/24\"" },
	{ "[home]\nhostname = mail.example.test\nlog_level = verbose\n",
	  ":3: [home] log_level: expected one of error, warn, info, debug, not \"verbose\"" },
	{ T_HOME "[tls]\ncert = /etc/c.pem\n", ":4: [tls] cert: unknown key" },
	{ T_HOME "[listener]\n", ":3: section [listener] needs a name: [listener NAME]" },
	{ T_HOME "[tls x]\n", ":3: section [tls] takes no name" },
	{ T_HOME "[listener mx]\naddress = 192.0.2.130:25\nmode = smtp\n[listener mx]\n",
	  ":6: section [listener mx] appears twice (first at line 3)" },
	{ T_HOME "[home]\n", ":3: section [home] appears twice (first at line 1)" },
	{ T_HOME "[edge]\n", ":3: unknown section [edge]" },
	{ T_HOME "[outbound]\ntransport = socks\n",
	  ":4: [outbound] transport: expected one of direct, edge, not \"socks\"" },
	{ T_HOME "[outbound]\ntransport = edge\n",
	  ":4: [outbound] transport: transport = edge needs egress (the edge's SOCKS5 address:port)" },
	{ T_HOME "[outbound]\negress = 192.0.2.1\n",
	  ":4: [outbound] egress: expected a comma-separated list of addresses with port, like 192.0.2.1:25 or [2001:db8::1]:25, "
	  "not \"192.0.2.1\"" },
	{ T_HOME "[outbound]\nretry_min = 1h\nretry_max = 5m\n",
	  ":5: [outbound] retry_max: shorter than retry_min (3600000 ms)" },
	{ T_HOME "[outbound]\nmax_deliveries = 2\nmax_per_domain = 3\n",
	  ":5: [outbound] max_per_domain: 3 is larger than max_deliveries (2)" },
	{ "hostname = mail.example.test\n[home]\n", ":1: hostname: key outside of any section" },
	{ "[home]\nhostname = a.example.test\nhostname = b.example.test\n",
	  ":3: [home] hostname: set twice (first at line 2)" },
};

static void
test_home_conf_errors(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;
	char err[T_ERR_MAX], want[T_ERR_MAX];

	for (size_t i = 0; i < sizeof(t_error_cases) / sizeof(t_error_cases[0]); i++) {
		const struct t_error_case *c = &t_error_cases[i];
		assert_int_equal(testutil_write_file(s->path, c->text, strlen(c->text), 0644), 0);
		snprintf(want, sizeof(want), "%s%s", s->path, c->want);
		memset(&hc, 0xAA, sizeof(hc));
		err[0] = '\0';
		int rc = home_conf_load(s->path, &hc, err, sizeof(err));
		if (rc != -1)
			fail_msg("case %zu accepted:\n%s", i, c->text);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err, want);
		/* Nothing is left for the caller to free. */
		assert_null(hc.conf);
		assert_null(hc.main);
		assert_null(hc.tls);
		assert_int_equal(hc.nlisteners, 0);
	}
}

static void
test_home_conf_path_too_long(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;
	static char text[T_TEXT_MAX], dir[HOME_PATH_MAX];
	char err[T_ERR_MAX], want[T_ERR_MAX];
	/* "state_dir = " + the value fills a line of CONF_LINE_MAX bytes. */
	size_t dir_len = CONF_LINE_MAX - strlen("state_dir = ");

	memset(dir, 'd', dir_len);
	dir[0] = '/';
	dir[dir_len] = '\0';
	/* DIR + "/keys/tls.crt" does not fit HOME_PATH_MAX ... */
	assert_true(dir_len + strlen("/keys/tls.crt") >= HOME_PATH_MAX);
	snprintf(text, sizeof(text), "[home]\nhostname = mail.example.test\nstate_dir = %s\n", dir);
	assert_int_equal(testutil_write_file(s->path, text, strlen(text), 0644), 0);
	assert_int_equal(home_conf_load(s->path, &hc, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: [home] state_dir: path too long", s->path);
	assert_string_equal(err, want);

	/* ... but explicit paths do not need it. */
	snprintf(text, sizeof(text), "[home]\nhostname = mail.example.test\nstate_dir = %s\n"
		 "[tls]\ncertificate = /c.pem\nkey = /k.pem\n", dir);
	t_load_ok(s, text, &hc);
	assert_string_equal(hc.cert_path, "/c.pem");
	assert_string_equal(hc.key_path, "/k.pem");
	assert_int_equal(strlen(hc.main->state_dir), dir_len);
	home_conf_free(&hc);
}

static void
test_home_conf_missing_file(void **state)
{
	struct testutil_tmpdir *s = *state;
	struct home_conf hc;
	char err[T_ERR_MAX], want[T_ERR_MAX];

	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", s->path);
	assert_int_equal(home_conf_load(s->path, &hc, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(hc.conf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_setup, testutil_tmpdir_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_home_conf_full),
		T(test_home_conf_defaults),
		T(test_home_conf_key_paths),
		T(test_home_conf_accepted_edges),
		T(test_home_conf_errors),
		T(test_home_conf_path_too_long),
		T(test_home_conf_missing_file),
	};
	return cmocka_run_group_tests_name("home_conf", tests, NULL, NULL);
}
