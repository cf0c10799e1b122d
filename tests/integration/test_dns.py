"""shared/dns, the real libunbound (through tests/tools/dnsq) against the
bench's real Knot (tests/integration/peers.py): MX, address and TLSA
lookups with their DNSSEC status.

dnsq runs in the `client` namespace and forwards every query to Knot at
198.51.100.53. peer.test is signed by Knot; no parent holds its DS, so the
trust anchor is the DS of its KSK, taken from Knot's key database
(Knot.trust_anchors()) and written to a file for `dnsq -a`. example.test
is unsigned: without an anchor above it, libunbound calls its answers
insecure.

Each test adds the records it needs under fresh random names, so tests do
not see each other's. The last tests stop Knot (peers.knot() starts a new
one, with new keys, for whoever asks next).
"""
import json
import re
import secrets

import pytest

import peers

TIMEOUT_MS = 4000
# What a lookup may take beyond its deadline: thread wake-ups and exit, not another try.
DEADLINE_SLACK_MS = 1000


@pytest.fixture
def knot(bench):
    return peers.knot(bench)


@pytest.fixture
def client(bench):
    return bench.host("client")


def write_anchor(bench, text):
    path = bench.dir / f"anchor-{secrets.token_hex(4)}.key"
    path.write_text(text)
    return path


@pytest.fixture
def anchor(bench, knot):
    """A trust-anchor file with the DS records of this Knot's signed zones."""
    return write_anchor(bench, knot.trust_anchors())


@pytest.fixture
def dnsq(client, tooldir):
    """Run dnsq in the client namespace against Knot; returns its JSON
    objects (one per domain, in order), or the CompletedProcess (raw=True)."""
    tool = tooldir / "dnsq"
    if not tool.is_file():
        pytest.fail(f"{tool} is missing: run make test (it builds the test tools)")

    def _dnsq(*args, anchor=None, forward=peers.DNS_ADDR, timeout_ms=TIMEOUT_MS, raw=False):
        cmd = [tool, "-f", forward, "-t", str(timeout_ms)]
        if anchor is not None:
            cmd += ["-a", anchor]
        r = client.run(*cmd, *args, check=False, timeout=timeout_ms / 1000 + 30)
        if raw:
            return r
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    return _dnsq


def label(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def host_view(h):
    """A host without what is not the point of a comparison."""
    return {k: h[k] for k in ("name", "preference", "status", "secure", "addrs")}


# ---------------------------------------------------------------- MX

def test_signed_mx_is_secure_with_the_hosts_address(dnsq, anchor):
    (r,) = dnsq("mx", peers.PEER_DOMAIN, anchor=anchor)
    assert r["status"] == "OK", r
    assert (r["secure"], r["implicit"], r["null_mx"]) == (True, False, False), r
    assert [host_view(h) for h in r["hosts"]] == [
        {"name": peers.PEER_HOSTNAME, "preference": 10, "status": "OK", "secure": True,
         "addrs": [peers.PEER_ADDR]}]
    assert r["err"] == ""


def test_unsigned_zone_is_insecure(dnsq, anchor):
    (r, sink) = dnsq("mx", "example.test", peers.SINK_DOMAIN, anchor=anchor)
    assert r["status"] == "OK", r
    assert (r["secure"], r["implicit"]) == (False, False), r
    assert [host_view(h) for h in r["hosts"]] == [
        {"name": "mail.example.test", "preference": 10, "status": "OK", "secure": False,
         "addrs": [peers.EDGE_ADDR]}]
    # MX only, the host's name in the same zone.
    assert sink["status"] == "OK", sink
    assert [host_view(h) for h in sink["hosts"]] == [
        {"name": peers.SINK_MX, "preference": 10, "status": "OK", "secure": False,
         "addrs": [peers.CLIENT_ADDR]}]


def test_hosts_by_preference_each_with_its_addresses(knot, dnsq, anchor):
    domain = f"{label('multi')}.peer.test"
    a, b, gone = (f"{label(x)}.peer.test" for x in ("a", "b", "gone"))
    knot.add_record(domain, "MX", f"30 {gone}.")
    knot.add_record(domain, "MX", f"20 {b}.")
    knot.add_record(domain, "MX", f"10 {a}.")
    knot.add_record(a, "A", "198.51.100.71")
    knot.add_record(a, "A", "198.51.100.72")
    knot.add_record(a, "AAAA", "2001:db8::71")
    knot.add_record(b, "AAAA", "2001:db8::72")
    (r,) = dnsq("mx", domain.upper(), anchor=anchor)
    assert (r["status"], r["secure"], r["implicit"]) == ("OK", True, False), r
    hosts = [host_view(h) for h in r["hosts"]]
    assert [h["name"] for h in hosts] == [a, b, gone]
    assert [h["preference"] for h in hosts] == [10, 20, 30]
    # A before AAAA; the order of the two A records is the server's.
    assert sorted(hosts[0]["addrs"][:2]) == ["198.51.100.71", "198.51.100.72"]
    assert hosts[0]["addrs"][2:] == ["2001:db8::71"]
    assert hosts[1]["addrs"] == ["2001:db8::72"]
    assert (hosts[0]["status"], hosts[0]["secure"]) == ("OK", True)
    # A host that does not exist: its own status, and the destination still OK.
    assert hosts[2] == {"name": gone, "preference": 30, "status": "NXDOMAIN", "secure": True,
                        "addrs": []}
    assert f"{gone} A: no such name (NXDOMAIN)" in r["err"], r["err"]


def test_no_host_with_an_address(knot, dnsq, anchor):
    domain = f"{label('dead')}.peer.test"
    gone = f"{label('gone')}.peer.test"
    knot.add_record(domain, "MX", f"10 {gone}.")
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert r["status"] == "NODATA", r
    assert r["secure"] is True
    assert [(h["name"], h["status"], h["addrs"]) for h in r["hosts"]] == [(gone, "NXDOMAIN", [])]
    assert f"{domain}: no MX host has an address" in r["err"], r["err"]


@pytest.mark.parametrize("zone,secure", [("peer.test", True), ("example.test", False)])
def test_implicit_mx_is_the_domain_itself(knot, dnsq, anchor, zone, secure):
    domain = f"{label('implicit')}.{zone}"
    knot.add_record(domain, "A", "198.51.100.77")
    knot.add_record(domain, "AAAA", "2001:db8::77")
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert (r["status"], r["implicit"], r["null_mx"], r["secure"]) == ("OK", True, False, secure), r
    assert [host_view(h) for h in r["hosts"]] == [
        {"name": domain, "preference": 0, "status": "OK", "secure": secure,
         "addrs": ["198.51.100.77", "2001:db8::77"]}]


def test_implicit_mx_without_address_is_nodata(knot, dnsq, anchor):
    # The name exists (a TXT record), with neither MX nor address.
    domain = f"{label('bare')}.peer.test"
    knot.add_record(domain, "TXT", '"no mail here"')
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert (r["status"], r["implicit"], r["secure"]) == ("NODATA", True, True), r
    assert [(h["name"], h["status"]) for h in r["hosts"]] == [(domain, "NODATA")]
    assert f"{domain} A: no records of the type" in r["err"], r["err"]


@pytest.mark.parametrize("zone,secure", [("example.test", False), ("peer.test", True)])
def test_null_mx(knot, dnsq, anchor, zone, secure):
    domain = f"{label('nullmx')}.{zone}"
    knot.set_record(domain, "MX", "0 .")
    assert knot.query(domain, "MX") == ["0 ."]
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert (r["status"], r["null_mx"], r["implicit"], r["secure"]) == ("OK", True, False, secure), r
    assert r["hosts"] == []


@pytest.mark.parametrize("zone,secure", [("peer.test", True), ("example.test", False)])
def test_nxdomain_is_permanent(dnsq, anchor, zone, secure):
    domain = f"{label('nope')}.{zone}"
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert (r["status"], r["secure"], r["hosts"]) == ("NXDOMAIN", secure, []), r
    assert r["err"] == f"{domain} MX: no such name (NXDOMAIN)"


def test_cname_mx_target_and_cname_domain_are_followed(knot, dnsq, anchor):
    domain = f"{label('cn')}.peer.test"
    alias = f"{label('alias')}.peer.test"
    knot.add_record(domain, "MX", f"10 {alias}.")
    knot.add_record(alias, "CNAME", f"{peers.PEER_HOSTNAME}.")
    # A mail domain that is itself an alias of peer.test.
    aliased = f"{label('dom')}.peer.test"
    knot.add_record(aliased, "CNAME", f"{peers.PEER_DOMAIN}.")
    (r, via) = dnsq("mx", domain, aliased, anchor=anchor)
    assert (r["status"], r["secure"]) == ("OK", True), r
    assert [host_view(h) for h in r["hosts"]] == [
        {"name": alias, "preference": 10, "status": "OK", "secure": True,
         "addrs": [peers.PEER_ADDR]}]
    assert (via["status"], via["secure"], via["implicit"]) == ("OK", True, False), via
    assert [(h["name"], h["addrs"]) for h in via["hosts"]] == [(peers.PEER_HOSTNAME, [peers.PEER_ADDR])]


def test_bad_mx_target_is_skipped(knot, dnsq, anchor):
    # An underscore is fine in DNS, not in a host name: that MX is unusable.
    domain = f"{label('odd')}.example.test"
    knot.add_record(domain, "MX", "10 bad_host.example.test.")
    knot.add_record(domain, "MX", "20 mail.example.test.")
    (r,) = dnsq("mx", domain, anchor=anchor)
    assert r["status"] == "OK", r
    assert [h["name"] for h in r["hosts"]] == ["mail.example.test"]
    assert "1 of 2 MX records skipped: the name is not a host name" in r["err"], r["err"]
    only = f"{label('odd')}.example.test"
    knot.add_record(only, "MX", "10 bad_host.example.test.")
    (r,) = dnsq("mx", only, anchor=anchor)
    assert (r["status"], r["hosts"]) == ("TEMPFAIL", []), r
    assert "no MX record names a usable host" in r["err"], r["err"]


def test_several_threads_at_once_get_their_own_answers(knot, dnsq, anchor):
    """One dnsq, one struct dns, a thread per domain: each answer is the
    one that domain gets alone."""
    nullmx = f"{label('nullmx')}.peer.test"
    knot.set_record(nullmx, "MX", "0 .")
    implicit = f"{label('implicit')}.example.test"
    knot.add_record(implicit, "A", "198.51.100.78")
    domains = [peers.PEER_DOMAIN, "example.test", peers.SINK_DOMAIN, nullmx, implicit,
               f"{label('nope')}.peer.test", f"{label('nope')}.example.test", "edge.test"] * 2
    together = dnsq("mx", *domains, anchor=anchor)
    alone = [dnsq("mx", d, anchor=anchor)[0] for d in domains[:8]] * 2
    assert len(together) == len(domains)

    def key(r):
        return (r["domain"], r["status"], r["secure"], r["null_mx"], r["implicit"],
                [host_view(h) for h in r["hosts"]])

    assert [key(r) for r in together] == [key(r) for r in alone]
    assert [r["status"] for r in together[:8]] == ["OK", "OK", "OK", "OK", "OK", "NXDOMAIN",
                                                   "NXDOMAIN", "OK"]


def test_not_a_host_name_is_refused(dnsq, anchor):
    r = dnsq("mx", "bad_name.example.test", anchor=anchor, raw=True)
    assert r.returncode == 2
    assert "the mail domain is not a host name" in r.stderr
    assert r.stdout == ""


# ---------------------------------------------------------------- TLSA

def test_tlsa_signed_and_seen_secure(knot, dnsq, anchor):
    digest = secrets.token_hex(32)
    name = f"_25._tcp.{peers.PEER_HOSTNAME}"
    knot.set_record(name, "TLSA", f"3 1 1 {digest}")
    # A whole certificate (mtype 0, 300 bytes) beside it: more than is kept.
    knot.add_record(name, "TLSA", f"3 0 0 {secrets.token_hex(300)}")
    (r,) = dnsq("tlsa", peers.PEER_HOSTNAME, "25", anchor=anchor)
    assert (r["status"], r["secure"]) == ("OK", True), r
    assert r["records"] == [{"usage": 3, "selector": 1, "mtype": 1, "data": digest}]
    assert "1 of 2 TLSA records skipped: a TLSA record with more than 64 bytes" in r["err"], r["err"]
    # Another port: no such name, and provably so.
    (r,) = dnsq("tlsa", peers.PEER_HOSTNAME, "465", anchor=anchor)
    assert (r["status"], r["secure"], r["records"]) == ("NXDOMAIN", True, []), r


def test_txt_signed_joined_and_missing(knot, dnsq, anchor):
    sid = secrets.token_hex(8)
    knot.set_record(f"_mta-sts.{peers.PEER_DOMAIN}", "TXT", f'"v=STSv1; " "id={sid};"')
    (r,) = dnsq("txt", "_mta-sts", peers.PEER_DOMAIN, anchor=anchor)
    assert (r["status"], r["secure"]) == ("OK", True), r
    assert r["records"] == [f"v=STSv1; id={sid};"], r
    (r,) = dnsq("txt", "_mta-sts", "example.test", anchor=anchor)
    assert (r["status"], r["secure"], r["records"]) == ("NXDOMAIN", False, []), r
    # Several names in one call (dns_txt_names, the edge's require_txt): each its own answer.
    r = dnsq("txt", "_mta-sts", "example.test", peers.PEER_DOMAIN, anchor=anchor)
    assert [(x["domain"], x["status"], x["records"]) for x in r] == [
        ("example.test", "NXDOMAIN", []), (peers.PEER_DOMAIN, "OK", [f"v=STSv1; id={sid};"])], r
    knot.delete_record(f"_mta-sts.{peers.PEER_DOMAIN}", "TXT")
    for bad in ("a b", "x..y", ".x", "a" * 64):
        r = dnsq("txt", bad, peers.PEER_DOMAIN, raw=True)
        assert r.returncode == 2 and "not a host name" in r.stderr, (bad, r.stderr)


def test_tlsa_in_an_unsigned_zone_is_insecure(knot, dnsq, anchor):
    host = f"{label('tlsa')}.example.test"
    digest = secrets.token_hex(32)
    knot.add_record(f"_25._tcp.{host}", "TLSA", f"3 1 1 {digest}")
    (r,) = dnsq("tlsa", host, "25", anchor=anchor)
    assert (r["status"], r["secure"]) == ("OK", False), r
    assert r["records"] == [{"usage": 3, "selector": 1, "mtype": 1, "data": digest}]
    (r,) = dnsq("tlsa", "mail.example.test", "25", anchor=anchor)
    assert (r["status"], r["secure"]) == ("NXDOMAIN", False), r


# ---------------------------------------------------------------- DNSSEC failures

def wrong_ds(anchor_text):
    """The anchor's DS with the same key tag and algorithm and another digest:
    no DNSKEY of the zone matches it."""
    line = anchor_text.splitlines()[0]
    m = re.fullmatch(r"(\S+)\s+DS\s+(\d+)\s+(\d+)\s+2\s+([0-9A-Fa-f]{64})", line.strip())
    assert m, line
    digest = secrets.token_hex(32)
    assert digest.upper() != m.group(4).upper()
    return f"{m.group(1)} DS {m.group(2)} {m.group(3)} 2 {digest}\n"


def test_wrong_trust_anchor_is_bogus(knot, bench, dnsq):
    anchor = write_anchor(bench, wrong_ds(knot.trust_anchors()))
    name = f"_25._tcp.{peers.PEER_HOSTNAME}"
    knot.set_record(name, "TLSA", f"3 1 1 {secrets.token_hex(32)}")
    (r,) = dnsq("mx", peers.PEER_DOMAIN, anchor=anchor)
    assert (r["status"], r["secure"], r["hosts"]) == ("BOGUS", False, []), r
    assert r["err"].startswith(f"{peers.PEER_DOMAIN} MX: DNSSEC validation failed"), r["err"]
    (t,) = dnsq("tlsa", peers.PEER_HOSTNAME, "25", anchor=anchor)
    assert (t["status"], t["secure"], t["records"]) == ("BOGUS", False, []), t
    # The unsigned zone is outside the anchor: still answered, insecure.
    (u,) = dnsq("mx", "example.test", anchor=anchor)
    assert (u["status"], u["secure"]) == ("OK", False), u


def test_anchor_for_an_unsigned_zone_makes_its_answers_bogus(bench, dnsq, knot):
    """An anchor says example.test is signed; its answers carry no signatures."""
    anchor = write_anchor(bench, wrong_ds(knot.trust_anchors()).replace(
        f"{peers.PEER_DOMAIN}.", "example.test.", 1))
    (r,) = dnsq("mx", "example.test", anchor=anchor)
    assert (r["status"], r["secure"]) == ("BOGUS", False), r
    assert "DNSSEC validation failed" in r["err"], r["err"]


def test_root_anchor_alone_trusts_nothing_here(dnsq):
    """With the default anchor (the root's, dns-root-data) and a server that
    has no root zone, nothing can be validated: BOGUS, never insecure."""
    (r,) = dnsq("mx", "example.test")
    assert (r["status"], r["secure"], r["hosts"]) == ("BOGUS", False, []), r


# ---------------------------------------------------------------- the server gone

def test_silent_server_is_tempfail_by_the_deadline(bench, knot, dnsq, anchor):
    """Knot runs, but its host drops every DNS packet: no answer at all."""
    dns_host = bench.host("dns")
    table = f"hpdnsq{secrets.token_hex(3)}"
    dns_host.run("nft", "-f", "-", input=f"""
table inet {table} {{
    chain input {{
        type filter hook input priority 0;
        udp dport 53 drop
        tcp dport 53 drop
    }}
}}
""")
    try:
        timeout = 2500
        (r,) = dnsq("mx", f"{label('quiet')}.peer.test", anchor=anchor, timeout_ms=timeout)
        assert (r["status"], r["hosts"]) == ("TEMPFAIL", []), r
        assert r["err"].endswith(f"MX: no answer within {timeout} ms"), r["err"]
        assert timeout <= r["ms"] < timeout + DEADLINE_SLACK_MS, r
        (t,) = dnsq("tlsa", peers.PEER_HOSTNAME, "25", anchor=anchor, timeout_ms=timeout)
        assert t["status"] == "TEMPFAIL", t
        assert t["ms"] < timeout + DEADLINE_SLACK_MS, t
        # Three TXT names in one call share the one deadline, not one each.
        names = [f"{label('quiet')}.peer.test" for _ in range(3)]
        r = dnsq("txt", "_homeport", *names, anchor=anchor, timeout_ms=timeout)
        assert [x["status"] for x in r] == ["TEMPFAIL"] * 3, r
        assert all(x["err"].endswith(f"TXT: no answer within {timeout} ms") for x in r), r
        assert timeout <= r[0]["ms"] < timeout + DEADLINE_SLACK_MS, r
    finally:
        dns_host.run("nft", "delete", "table", "inet", table)
    (r,) = dnsq("mx", peers.PEER_DOMAIN, anchor=anchor)
    assert (r["status"], r["secure"]) == ("OK", True), r


def test_stopped_server_is_tempfail_within_the_timeout(bench, knot, dnsq, anchor):
    knot.stop()
    try:
        timeout = 2500
        (r,) = dnsq("mx", peers.PEER_DOMAIN, anchor=anchor, timeout_ms=timeout)
        assert (r["status"], r["secure"], r["hosts"]) == ("TEMPFAIL", False, []), r
        assert r["err"].startswith(f"{peers.PEER_DOMAIN} MX: "), r["err"]
        assert r["ms"] < timeout + DEADLINE_SLACK_MS, r
    finally:
        # The next user gets a new Knot (with new keys).
        peers.knot(bench)
