/*
 * Unit tests for edge/control: one enrollment request in, one sealed
 * answer out, against a real tenants.db. A home built here (the request
 * sealed with enroll_wire, the answer opened with its reply key) enrolls
 * once; a replay, a wrong secret, an unknown invite, a skewed clock, a
 * host name outside the invite and an expired invite are refused with
 * words for the owner, and only a good request spends the invite.
 *
 * require_txt runs against a table of TXT records (the lookup is
 * injected): a missing record, another key's, a failed or bogus lookup
 * refuse without spending the invite and name the record to publish;
 * the record published, the same token enrolls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../edge/edge.h"
#include "enroll_wire.h"
#include "testutil.h"

#define T_NOW 1800000000LL
#define T_CAP (ENROLL_MSG_MAX + 64)

struct t_state {
	char dir[4096];
	char path[4200];
	struct tenants *t;
	struct control_ctx ctx;
	uint8_t reply_pk[32], reply_sk[32];
	int enrolled;		/* control_answer's *enrolled_r for the last t_enroll() */
	char log[512];		/* control_answer's log line for the last t_enroll() */
	/* require_txt: the records the fake lookup answers with, and what it was asked */
	const struct t_zone *zone;
	size_t nzone;
	unsigned lookups;
	char asked[512];
};

/* One name in the fake DNS: its lookup status and TXT records (joined text). */
struct t_zone {
	const char *name;		/* "_homeport.HOST" */
	enum dns_status status;
	const char *rec[4];		/* NULL-terminated */
};

/* The edge's lookup, from s->zone: names not in it are NXDOMAIN. */
static int
t_lookup(void *arg, const char *const *hosts, size_t n, struct dns_txt *r)
{
	struct t_state *s = arg;

	s->lookups++;
	s->asked[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char name[DNSNAME_MAX + 1];

		snprintf(s->asked + strlen(s->asked), sizeof(s->asked) - strlen(s->asked), "%s%s", i ? "," : "",
			 hosts[i]);
		memset(&r[i], 0, sizeof(r[i]));
		r[i].status = DNS_NXDOMAIN;
		snprintf(r[i].err, sizeof(r[i].err), "%s", "fake: no such name");
		snprintf(name, sizeof(name), "%s.%s", ENROLL_TXT_LABEL, hosts[i]);
		for (size_t z = 0; z < s->nzone; z++) {
			if (strcmp(s->zone[z].name, name) != 0)
				continue;
			r[i].status = s->zone[z].status;
			snprintf(r[i].err, sizeof(r[i].err), "fake: %s", dns_status_name(s->zone[z].status));
			for (size_t k = 0; s->zone[z].rec[k] != NULL; k++) {
				r[i].rr[k].len = strlen(s->zone[z].rec[k]);
				memcpy(r[i].rr[k].data, s->zone[z].rec[k], r[i].rr[k].len);
				r[i].n++;
			}
		}
	}
	return 0;
}

static int
t_setup(void **state)
{
	struct t_state *s = calloc(1, sizeof(*s));
	char err[256];

	assert_non_null(s);
	assert_int_equal(testutil_mkdtemp(s->dir, sizeof(s->dir), "control"), 0);
	snprintf(s->path, sizeof(s->path), "%s/tenants.db", s->dir);
	assert_non_null(s->t = tenants_open(s->path, err, sizeof(err)));
	crypto_box_keypair(s->ctx.box_pk, s->ctx.box_sk);
	memset(s->ctx.edge_wg_pk, 0xe9, sizeof(s->ctx.edge_wg_pk));
	assert_int_equal(addr_parse("203.0.113.1:51820", 17, ADDR_PORT_REQUIRED, &s->ctx.wg_endpoint), 0);
	assert_int_equal(cidr_parse("192.0.2.0/25", 12, &s->ctx.pool.v4), 0);
	assert_int_equal(cidr_parse("2001:db8:77::/64", 16, &s->ctx.pool.v6), 0);
	s->ctx.pool.has_v6 = 1;
	s->ctx.egress_port = 1080;
	crypto_box_keypair(s->reply_pk, s->reply_sk);
	*state = s;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_state *s = *state;

	tenants_close(&s->t);
	testutil_rmtree(s->dir);
	free(s);
	return 0;
}

static void
t_invite(struct t_state *s, uint8_t tag, const char *hosts, int64_t expires)
{
	struct tenants_invite inv = { .created = T_NOW, .expires = expires };
	char err[256];

	memset(inv.id, tag, sizeof(inv.id));
	memset(inv.secret, tag ^ 0x33, sizeof(inv.secret));
	snprintf(inv.hostnames, sizeof(inv.hostnames), "%s", hosts);
	assert_int_equal(tenants_invite_add(s->t, &inv, err, sizeof(err)), 0);
}

/*
 * The home: a request for invite tag (with its secret, or secret_tag's),
 * hosts, time at; the edge answers at T_NOW; the answer opened. Returns
 * control_answer's result; *rs the opened answer.
 */
static int
t_enroll(struct t_state *s, uint8_t tag, uint8_t secret_tag, int64_t at, uint8_t key,
	 const char *const *hosts, size_t nhost, struct enroll_response *rs)
{
	struct enroll_request rq = { .timestamp = at, .nhost = nhost };
	uint8_t secret[32], req[T_CAP], ans[T_CAP];
	size_t rlen = 0, alen = 0;
	const char *why = NULL;
	char log[512];
	int rc;

	memset(rq.invite_id, tag, sizeof(rq.invite_id));
	memset(secret, secret_tag ^ 0x33, sizeof(secret));
	randombytes_buf(rq.nonce, sizeof(rq.nonce));
	memset(rq.home_wg_pk, key, sizeof(rq.home_wg_pk));
	memcpy(rq.reply_pk, s->reply_pk, sizeof(rq.reply_pk));
	for (size_t i = 0; i < nhost; i++)
		snprintf(rq.host[i], sizeof(rq.host[i]), "%s", hosts[i]);
	assert_int_equal(enroll_request_seal(&rq, secret, s->ctx.box_pk, req, sizeof(req), &rlen), 0);
	s->enrolled = -1;
	rc = control_answer(s->t, &s->ctx, req, rlen, T_NOW, ans, sizeof(ans), &alen, log, sizeof(log),
			    &s->enrolled);
	snprintf(s->log, sizeof(s->log), "%s", log);
	if (rc != 0)
		return rc;
	assert_non_null(strstr(log, "result="));
	assert_int_equal(enroll_response_open(ans, alen, s->reply_pk, s->reply_sk, rs, &why), 0);
	assert_memory_equal(rs->nonce, rq.nonce, sizeof(rq.nonce));
	return 0;
}

static void
t_addr_is(const struct addr *a, const char *want)
{
	char text[ADDR_TEXT_MAX];

	assert_string_equal(addr_format(a, text, sizeof(text)), want);
}

static void
test_control_enrolls_once(void **state)
{
	struct t_state *s = *state;
	static const char *const hosts[] = { "mail.alice.test", "alice.test" };
	struct enroll_response rs;
	struct tenants_tenant x;
	char err[256];

	t_invite(s, 1, "mail.alice.test,alice.test", T_NOW + 3600);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW - 30, 0xa1, hosts, 2, &rs), 0);
	assert_int_equal(rs.status, ENROLL_OK);
	assert_int_equal(s->enrolled, 1);	/* the caller adds the peer and routes */
	assert_string_equal(rs.tenant, "mail-alice-test");
	assert_memory_equal(rs.edge_wg_pk, s->ctx.edge_wg_pk, 32);
	t_addr_is(&rs.wg_endpoint, "203.0.113.1:51820");
	t_addr_is(&rs.tunnel_v4, "192.0.2.2");
	assert_int_equal(rs.tunnel_v4_prefix, 25);
	t_addr_is(&rs.tunnel_v6, "2001:db8:77::2");
	assert_int_equal(rs.tunnel_v6_prefix, 64);
	t_addr_is(&rs.edge_v4, "192.0.2.1");
	t_addr_is(&rs.edge_v6, "2001:db8:77::1");
	assert_int_equal(rs.egress_port, 1080);
	assert_int_equal(rs.nhost, 2);
	assert_string_equal(rs.host[1], "alice.test");
	assert_int_equal(tenants_get(s->t, "mail-alice-test", &x, err, sizeof(err)), 0);
	assert_int_equal(x.wg_key[0], 0xa1);
	assert_string_equal(x.hostnames, "mail.alice.test,alice.test");
	/* The same request again (a replay, or a second home with the token): refused. */
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa2, hosts, 2, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_int_equal(s->enrolled, 0);
	assert_string_equal(rs.message, "invite already used");
}

static void
test_control_refusals(void **state)
{
	struct t_state *s = *state;
	static const char *const alice[] = { "mail.alice.test" };
	static const char *const other[] = { "mail.alice.test", "mail.bob.test" };
	struct enroll_response rs;
	uint8_t junk[200], ans[T_CAP];
	size_t alen = 0;
	char log[512];
	int enrolled = -1;

	t_invite(s, 2, "mail.alice.test", T_NOW + 3600);
	t_invite(s, 3, "", T_NOW - 1);
	/* Wrong secret and unknown invite: the same words (ids stay secret). */
	assert_int_equal(t_enroll(s, 2, 9, T_NOW, 1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, "invite unknown, or the token does not match it");
	assert_int_equal(t_enroll(s, 7, 7, T_NOW, 1, alice, 1, &rs), 0);
	assert_string_equal(rs.message, "invite unknown, or the token does not match it");
	/* A clock 10 minutes off. */
	assert_int_equal(t_enroll(s, 2, 2, T_NOW - 600, 1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, "the home's clock is off by more than 5 minutes");
	/* A host name the invite does not allow. */
	assert_int_equal(t_enroll(s, 2, 2, T_NOW, 1, other, 2, &rs), 0);
	assert_string_equal(rs.message, "host name mail.bob.test is not in the invite");
	/* Expired. */
	assert_int_equal(t_enroll(s, 3, 3, T_NOW, 1, alice, 1, &rs), 0);
	assert_string_equal(rs.message, "invite expired");
	assert_int_equal(s->enrolled, 0);
	/* None of these spent invite 2. */
	assert_int_equal(t_enroll(s, 2, 2, T_NOW, 1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_OK);
	/* Bytes that are no request sealed to us get no answer. */
	randombytes_buf(junk, sizeof(junk));
	assert_int_equal(control_answer(s->t, &s->ctx, junk, sizeof(junk), T_NOW, ans, sizeof(ans), &alen, log,
					sizeof(log), &enrolled), -1);
	assert_int_equal(alen, 0);
	assert_int_equal(enrolled, 0);
	assert_non_null(strstr(log, "result=dropped"));
}

/* Key 0xa1's record and another home's (computed apart: tests/unit/test_enroll_wire.c). */
#define T_TXT_A1 "homeport-key1=9l7N_H3EFNeBbrO5JISICU4A-2tp5n2gUJy24K8FX6I"
#define T_TXT_OTHER "homeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ"
#define T_PUBLISH_ALICE "publish _homeport.mail.alice.test TXT \"" T_TXT_A1 "\""

static void
t_require_txt(struct t_state *s, const struct t_zone *zone, size_t n)
{
	s->ctx.require_txt = 1;
	s->ctx.txt_lookup = t_lookup;
	s->ctx.txt_arg = s;
	s->zone = zone;
	s->nzone = n;
}

/* Is the invite with tag still unused? */
static int
t_unused(struct t_state *s, uint8_t tag)
{
	struct tenants_invite inv;
	uint8_t id[16];
	char err[256];

	memset(id, tag, sizeof(id));
	assert_int_equal(tenants_invite_get(s->t, id, &inv, err, sizeof(err)), 0);
	return inv.used == 0;
}

static void
test_control_txt_missing_wrong_then_published(void **state)
{
	struct t_state *s = *state;
	static const char *const alice[] = { "mail.alice.test" };
	static const struct t_zone none[] = {
		{ "_homeport.mail.alice.test", DNS_NODATA, { NULL } },
	};
	static const struct t_zone other[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { "v=spf1 -all", T_TXT_OTHER, NULL } },
	};
	static const struct t_zone tempfail[] = {
		{ "_homeport.mail.alice.test", DNS_TEMPFAIL, { NULL } },
	};
	static const struct t_zone bogus[] = {
		{ "_homeport.mail.alice.test", DNS_BOGUS, { T_TXT_A1, NULL } },
	};
	static const struct t_zone published[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { "a note", T_TXT_OTHER, T_TXT_A1, NULL } },
	};
	struct enroll_response rs;
	struct tenants_tenant x;
	char err[256];

	t_invite(s, 1, "mail.alice.test", T_NOW + 3600);
	/* No such name at all. */
	t_require_txt(s, NULL, 0);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, T_PUBLISH_ALICE);
	assert_int_equal(s->enrolled, 0);
	assert_int_equal(s->lookups, 1);
	assert_string_equal(s->asked, "mail.alice.test");
	assert_non_null(strstr(s->log, "reason=\"no _homeport TXT for mail.alice.test\""));
	/* The name, without TXT records. */
	t_require_txt(s, none, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_string_equal(rs.message, T_PUBLISH_ALICE);
	/* Another home's key: the same words, another reason in the log. */
	t_require_txt(s, other, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, T_PUBLISH_ALICE);
	assert_non_null(strstr(s->log, "_homeport TXT for another key for mail.alice.test"));
	/* DNS did not answer, or the answer failed DNSSEC: try later, the reason logged. */
	t_require_txt(s, tempfail, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_TRY_LATER);
	assert_string_equal(rs.message, "the edge could not look up the _homeport TXT records, try later");
	assert_non_null(strstr(s->log, "result=try_later reason=\"_homeport TXT lookup: fake: TEMPFAIL"));
	t_require_txt(s, bogus, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_TRY_LATER);
	assert_non_null(strstr(s->log, "(BOGUS)"));
	/* None of that spent the invite, or made a tenant. */
	assert_true(t_unused(s, 1));
	assert_int_equal(tenants_get(s->t, "mail-alice-test", &x, err, sizeof(err)), 1);
	/* A wrong secret is refused before any lookup: strangers make the edge ask nothing. */
	assert_int_equal(t_enroll(s, 1, 9, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_string_equal(rs.message, "invite unknown, or the token does not match it");
	assert_int_equal(s->lookups, 5);
	/* Published (among other records): the same token enrolls. */
	t_require_txt(s, published, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_OK);
	assert_int_equal(s->enrolled, 1);
	assert_non_null(strstr(s->log, "result=enrolled tenant=mail-alice-test hosts=\"mail.alice.test\" txt=proven"));
	assert_false(t_unused(s, 1));
	/* The record proves the key, not the name alone: another home with it is refused. */
	t_invite(s, 2, "mail.alice.test", T_NOW + 3600);
	assert_int_equal(t_enroll(s, 2, 2, T_NOW, 0xa2, alice, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_non_null(strstr(rs.message, "publish _homeport.mail.alice.test TXT \"homeport-key1="));
	assert_null(strstr(rs.message, T_TXT_A1));
	assert_true(t_unused(s, 2));
}

static void
test_control_txt_every_host_name(void **state)
{
	struct t_state *s = *state;
	static const char *const three[] = { "mail.alice.test", "alice.test", "www.alice.test" };
	static const struct t_zone one[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { T_TXT_A1, NULL } },
	};
	static const struct t_zone two[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { T_TXT_A1, NULL } },
		{ "_homeport.www.alice.test", DNS_OK, { T_TXT_A1, NULL } },
		{ "_homeport.alice.test", DNS_TEMPFAIL, { NULL } },
	};
	static const struct t_zone all[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { T_TXT_A1, NULL } },
		{ "_homeport.alice.test", DNS_OK, { T_TXT_A1, NULL } },
		{ "_homeport.www.alice.test", DNS_OK, { T_TXT_A1, NULL } },
	};
	char longname[DNSNAME_MAX + 1];
	const char *long_host[] = { longname };
	struct enroll_response rs;

	t_invite(s, 1, "", T_NOW + 3600);
	/* Every name of the request is asked, in one call; the first missing one named, the rest counted. */
	t_require_txt(s, one, 1);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, three, 3, &rs), 0);
	assert_string_equal(s->asked, "mail.alice.test,alice.test,www.alice.test");
	assert_int_equal(s->lookups, 1);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, "publish _homeport.alice.test TXT \"" T_TXT_A1
			    "\", and 1 more (homeport relay key prints them all)");
	/* One found, one failed to look up: try later. */
	t_require_txt(s, two, 3);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, three, 3, &rs), 0);
	assert_int_equal(rs.status, ENROLL_TRY_LATER);
	/* A name with no room for "_homeport.": refused without a lookup. */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < 250; i += 64)
		longname[i] = '.';
	longname[250] = '\0';
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, long_host, 1, &rs), 0);
	assert_int_equal(rs.status, ENROLL_REFUSED);
	assert_string_equal(rs.message, "a host name is too long for its _homeport TXT record (more than 243 bytes)");
	assert_int_equal(s->lookups, 2);
	assert_true(t_unused(s, 1));
	/* All three proven. */
	t_require_txt(s, all, 3);
	assert_int_equal(t_enroll(s, 1, 1, T_NOW, 0xa1, three, 3, &rs), 0);
	assert_int_equal(rs.status, ENROLL_OK);
	assert_int_equal(rs.nhost, 3);
}

/* The steps apart, as the control port runs them: nothing is spent before control_finish. */
static void
test_control_steps(void **state)
{
	struct t_state *s = *state;
	static const struct t_zone published[] = {
		{ "_homeport.mail.alice.test", DNS_OK, { T_TXT_A1, NULL } },
	};
	struct enroll_request rq = { .timestamp = T_NOW, .nhost = 1 };
	struct control_request *cr = NULL;
	struct enroll_response rs;
	uint8_t secret[32], req[T_CAP], ans[T_CAP];
	size_t rlen = 0, alen = 0;
	const char *why = NULL;
	char log[512];
	int enrolled = -1;

	t_invite(s, 4, "mail.alice.test", T_NOW + 3600);
	t_require_txt(s, published, 1);
	memset(rq.invite_id, 4, sizeof(rq.invite_id));
	memset(secret, 4 ^ 0x33, sizeof(secret));
	memset(rq.home_wg_pk, 0xa1, sizeof(rq.home_wg_pk));
	memcpy(rq.reply_pk, s->reply_pk, sizeof(rq.reply_pk));
	snprintf(rq.host[0], sizeof(rq.host[0]), "mail.alice.test");
	assert_int_equal(enroll_request_seal(&rq, secret, s->ctx.box_pk, req, sizeof(req), &rlen), 0);
	assert_int_equal(control_begin(s->t, &s->ctx, req, rlen, T_NOW, &cr, ans, sizeof(ans), &alen, log,
				       sizeof(log)), 1);
	assert_non_null(cr);
	assert_int_equal(alen, 0);
	/* Not looked up (a job that never ran): try later, nothing spent. */
	assert_int_equal(control_finish(s->t, &s->ctx, cr, T_NOW, ans, sizeof(ans), &alen, log, sizeof(log),
					&enrolled), 0);
	assert_int_equal(enroll_response_open(ans, alen, s->reply_pk, s->reply_sk, &rs, &why), 0);
	assert_int_equal(rs.status, ENROLL_TRY_LATER);
	assert_int_equal(enrolled, 0);
	assert_true(t_unused(s, 4));
	control_lookup(&s->ctx, cr);
	assert_int_equal(cr->txt[0], CONTROL_TXT_FOUND);
	assert_int_equal(control_finish(s->t, &s->ctx, cr, T_NOW, ans, sizeof(ans), &alen, log, sizeof(log),
					&enrolled), 0);
	assert_int_equal(enroll_response_open(ans, alen, s->reply_pk, s->reply_sk, &rs, &why), 0);
	assert_int_equal(rs.status, ENROLL_OK);
	assert_int_equal(enrolled, 1);
	assert_false(t_unused(s, 4));
	control_request_free(&cr);
	assert_null(cr);
	control_request_free(&cr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_enrolls_once, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_control_refusals, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_control_txt_missing_wrong_then_published, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_control_txt_every_host_name, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_control_steps, t_setup, t_teardown),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
