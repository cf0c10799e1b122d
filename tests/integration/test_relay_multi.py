"""Relay mode with more than one of each, on the bench:

- two homes behind one edge: alice.test's home in `home` (behind the
  CGNAT) and example.test's in `home2` (198.51.100.120), both enrolled on
  `edge`; the edge routes by SNI (mail.alice.test, mail.example.test) and,
  on an address of its own for example.test (203.0.113.3, a listener whose
  default tenant is that home), by the address connected to;
- alice.test's home joined to two edges, `edge` (MX 10, mail.alice.test)
  and `edge2` (203.0.113.2, MX 20, mx2.alice.test): with the first edge
  down, mail still comes in through the second, and goes out through it.

example.test's records are the bench's own (MX mail.example.test, A
203.0.113.1); alice.test's are what `homeport dns` prints.
"""
import re
import secrets

import pytest

import peers
from peers import wait
from https_peer import TestCA
from relaybench import (DOMAIN, HOSTNAME, POLICY_HOST, USER, Edge, homeport, join, load_dns,
                        new_home, postfix_for_relay, run_all, send_from_peer, stored,
                        take_tunnel_addresses)

PASSWORD = "multi-password"
B_DOMAIN = "example.test"
B_HOSTNAME = "mail.example.test"
B_USER = f"carol@{B_DOMAIN}"
B_ADDRESS = "203.0.113.3"             # edge's address of example.test's own
POOL2 = "192.0.2.64/26,2001:db8:78::/64"
MX2 = "mx2.alice.test"


class Multi:
    def __init__(self, bench, bindir):
        self.bench, self.bindir = bench, bindir
        self.knot = peers.knot(bench)
        self.postfix = peers.postfix(bench)
        self.client = bench.host("client")
        self.edges, self.homes, self.go_pids, self.drop = [], [], [], []
        self.postfix_on = False

    def up(self, tmp):
        take_tunnel_addresses(self.bench)
        edge_host = self.bench.host("edge")
        vedge = edge_host.ifname("vedg")
        edge_host.run("ip", "addr", "add", f"{B_ADDRESS}/24", "dev", vedge)
        self.edge = Edge(self.bench, self.bindir, "edge", extra_conf=(
            f"\n[listener smtp-example]\naddress = {B_ADDRESS}:25\nmode = passthrough\n"
            "default_tenant = mail-example-test\n")).start()
        self.edges.append(self.edge)
        self.edge2 = Edge(self.bench, self.bindir, "edge2", pool=POOL2).start()
        self.edges.append(self.edge2)
        # Both homes' certificates from the bench's WebPKI: both publish MTA-STS.
        self.ca = TestCA(tmp / "webpki", "Homeport bench WebPKI")
        # alice.test: joined to both edges, one host name on each (and its
        # policy host on the first).
        a = new_home(self.bench, self.bindir, "home", tmp / "alice", HOSTNAME, DOMAIN, ca=self.ca,
                     extra_names=[MX2])
        self.homes.append(a)
        ifa = a.host.ifname("hph")
        self.join_a1, pid = join(self.bench, a, self.edge.invite(HOSTNAME, POLICY_HOST), ifa)
        self.go_pids.append(pid)
        self.join_a2, pid = join(self.bench, a, self.edge2.invite(MX2), ifa, "--hostname", MX2)
        self.go_pids.append(pid)
        a.start()
        a.add_user(USER, password=PASSWORD)
        # example.test: joined to the first edge.
        b = new_home(self.bench, self.bindir, "home2", tmp / "example", B_HOSTNAME, B_DOMAIN,
                     ca=self.ca)
        self.homes.append(b)
        # An invite for the mail host only, as operators made them before MTA-STS.
        self.join_b, pid = join(self.bench, b, self.edge.invite(B_HOSTNAME), b.host.ifname("hpb"))
        self.go_pids.append(pid)
        b.start()
        b.add_user(B_USER, password=PASSWORD)
        self.a, self.b = a, b
        peers.use_knot(self.client)
        self.dns = homeport(a, "dns").stdout
        self.drop = load_dns(self.knot, self.dns)
        postfix_for_relay(self.postfix, True)
        self.postfix_on = True
        return self

    def down(self):
        edge_host = self.bench.host("edge")
        run_all("multi down", (
            *(home.stop for home in self.homes),
            *(edge.stop for edge in self.edges),
            lambda: self.drop and self.knot.update(DOMAIN, *self.drop),
            lambda: self.postfix_on and postfix_for_relay(self.postfix, False),
            *(lambda pid=pid: self.bench.stop_pid(pid) for pid in self.go_pids if pid),
            *(edge.remove_interface for edge in self.edges),
            lambda: edge_host.run("ip", "addr", "del", f"{B_ADDRESS}/24", "dev",
                                  edge_host.ifname("vedg"), check=False)))


@pytest.fixture(scope="module")
def multi(bench, bindir, tmp_path_factory):
    m = Multi(bench, bindir)
    try:
        yield m.up(tmp_path_factory.mktemp("multi"))
    finally:
        m.down()


def test_each_home_gets_only_its_own_mail(multi):
    to_a, to_b = secrets.token_hex(16), secrets.token_hex(16)
    send_from_peer(multi, to_a, rcpt=USER)
    send_from_peer(multi, to_b, rcpt=B_USER)
    wait("alice's message at alice's home", lambda: stored(multi.a, to_a))
    wait("carol's message at carol's home", lambda: stored(multi.b, to_b, user=B_USER))
    for home in (multi.a, multi.b):
        bodies = b"".join(m.body for m in home.messages())
        assert (to_a.encode() in bodies) == (home is multi.a), home.hostname
        assert (to_b.encode() in bodies) == (home is multi.b), home.hostname
    # One line per connection, when it ends (Postfix may keep it open a while).
    multi.edge.daemon.wait_for(r"event=relay .*tenant=mail-alice-test by=name", timeout=30)
    multi.edge.daemon.wait_for(r"event=relay .*tenant=mail-example-test by=name", timeout=30)


def test_an_address_of_its_own_routes_without_a_name(multi):
    """Plain SMTP to 203.0.113.3:25 (no TLS, so no SNI): the listener's
    default tenant, example.test's home, and only it."""
    marker = secrets.token_hex(16)
    msg = f"From: <x@peer.test>\r\nTo: <{B_USER}>\r\nSubject: by address\r\n\r\n{marker}\r\n"
    peers.smtp_send(multi.client, B_ADDRESS, 25, "x@peer.test", [B_USER], msg)
    assert stored(multi.b, marker, user=B_USER)
    assert not any(marker.encode() in m.body for m in multi.a.messages())
    multi.edge.daemon.wait_for(r"event=relay listener=smtp-example .*tenant=mail-example-test "
                               r"by=default", timeout=30)


def test_an_invite_without_the_policy_host(multi):
    """example.test's invite lists mail.example.test only: join asked for
    mta-sts.example.test too, was refused, and joined without it, saying
    so; homeport dns then says why no MTA-STS record."""
    assert "the invite does not list the MTA-STS policy hosts (host name mta-sts.example.test is not " \
           "in the invite); joining without them" in multi.join_b, multi.join_b
    assert "joined edge1 as tenant mail-example-test" in multi.join_b, multi.join_b
    conf = (multi.b.state_dir / "relay.conf").read_text()
    assert f"hostnames = {B_HOSTNAME}\n" in conf, conf
    dns = homeport(multi.b, "dns").stdout
    assert "_mta-sts" not in dns, dns
    assert f"; MTA-STS: not published: no edge routes mta-sts.{B_DOMAIN}" in dns, dns


def test_the_dns_has_both_edges(multi):
    assert re.search(rf"IN MX\s+10 {re.escape(HOSTNAME)}\.", multi.dns), multi.dns
    assert re.search(rf"IN MX\s+20 {re.escape(MX2)}\.", multi.dns), multi.dns
    assert re.search(rf"^{re.escape(MX2)}\.\s+\d+ IN A\s+203\.0\.113\.2$", multi.dns, re.M), multi.dns
    assert "v=spf1 ip4:203.0.113.1 ip4:203.0.113.2 -all" in multi.dns, multi.dns
    status = homeport(multi.a, "relay", "status")
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("(live)") == 2, status.stdout


def test_one_home_sends_to_the_other_under_mta_sts(multi):
    """example.test's home sends to alice.test (no DANE: its zone is not
    signed): its MTA-STS client finds _mta-sts.alice.test in Knot, fetches
    the policy through the edge (SNI mta-sts.alice.test on 443), trusting
    the bench's WebPKI, and delivers in enforce mode through its egress,
    the certificate checked for the MX host the policy lists. (The edge's
    egress does not connect to the edge's own address, so MX 10 is
    refused and the message goes in through MX 20, edge2.)"""
    marker = secrets.token_hex(16)
    msg = f"From: <{B_USER}>\r\nTo: <{USER}>\r\nSubject: home to home\r\n\r\n{marker}\r\n"
    mark = multi.b.mark()
    peers.smtp_send(multi.client, B_HOSTNAME, 587, B_USER, [USER], msg, login=(B_USER, PASSWORD),
                    timeout=30)
    wait("the message at alice's home", lambda: stored(multi.a, marker))
    multi.b.wait_for(rf"event=mta_sts domain={re.escape(DOMAIN)} result=fetched id=[0-9a-f]{{32}} "
                     r"mode=enforce max_age=604800 mx=2", start=mark)
    multi.b.wait_for(rf'event=deliver .*to="{re.escape(USER)}" result=sent mx={re.escape(MX2)} '
                     r'.*mta_sts=verified', start=mark)


def test_with_the_first_edge_down_mail_goes_through_the_second(multi):
    multi.edge.stop()
    try:
        marker = secrets.token_hex(16)
        qid = send_from_peer(multi, marker)
        wait("the message through the second edge", lambda: stored(multi.a, marker))
        multi.postfix.wait_log(rf"{qid}: to=<{re.escape(USER)}>, relay={re.escape(MX2)}"
                               r"\[203\.0\.113\.2\]:25.*status=sent")
        # Out through the second edge's egress, the first not answering.
        out = secrets.token_hex(16)
        msg = (f"From: <{USER}>\r\nTo: <bob@peer.test>\r\nSubject: via edge2\r\n\r\n{out}\r\n")
        mark = len(multi.postfix.log())
        # Submission through the second edge too (SNI mx2.alice.test).
        peers.smtp_send(multi.client, MX2, 587, USER, ["bob@peer.test"], msg,
                        login=(USER, PASSWORD), timeout=30)
        multi.postfix.wait_delivered("bob", out, timeout=60)
        log = multi.postfix.log()[mark:]
        assert re.search(r"connect from unknown\[203\.0\.113\.2\]", log), log[-2000:]
        assert not re.search(r"connect from unknown\[203\.0\.113\.1\]", log), log[-2000:]
    finally:
        multi.edge.start()


def test_leaving_an_edge(multi):
    """relay leave: the record and the peer go; the DNS no longer names it."""
    conf = multi.a.state_dir / "relay.conf"
    ifname = multi.a.host.ifname("hph")
    peers_before = multi.a.host.run("wg", "show", ifname, "peers").stdout.split()
    assert len(peers_before) == 2, peers_before

    def on_edge2_tunnel():
        """homeportd's listening sockets on its tunnel address from edge2 (POOL2's 192.0.2.64/26)."""
        out = multi.a.host.run("ss", "-Hltn").stdout.split()
        return [a for a in out if re.fullmatch(r"192\.0\.2\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7]):\d+", a)]
    assert on_edge2_tunnel()
    pid, mark = multi.a.proc.pid, multi.a.mark()
    r = homeport(multi.a, "relay", "leave", "edge2")
    assert "left edge2 (tenant mx2-alice-test there)" in r.stdout, r.stdout
    # The running homeportd reloaded: it no longer listens for that edge.
    assert f"homeportd (pid {pid}) reloaded" in r.stdout, r.stdout
    multi.a.wait_for(r"event=reload result=ok", start=mark)
    assert multi.a.proc.pid == pid and not on_edge2_tunnel(), on_edge2_tunnel()
    assert "homeport-edge tenant remove mx2-alice-test" in r.stdout, r.stdout
    assert "[edge edge2]" not in conf.read_text() and "[edge edge1]" in conf.read_text()
    assert len(multi.a.host.run("wg", "show", ifname, "peers").stdout.split()) == 1
    dns = homeport(multi.a, "dns").stdout
    assert MX2 not in dns and re.search(rf"IN MX\s+10 {re.escape(HOSTNAME)}\.", dns), dns
    r = homeport(multi.a, "relay", "leave", "edge2", check=False)
    assert r.returncode == 1 and "no edge called edge2" in r.stderr, r.stderr
