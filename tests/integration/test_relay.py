"""Relay mode end to end on the bench, with the product's own commands
(relaybench.py sets it up as a user would: homeport-edge init and invite,
homeport relay join, homeport dns loaded into Knot).

- the join: the tunnel up, the edge recorded, homeportd on the tunnel only,
  relay status live, a token good once, the DNS naming the edge;
- Postfix in `peer` sends to alice@alice.test: MX -> the edge -> STARTTLS
  routed by SNI -> the tunnel -> homeportd, with the real client address;
  alice reads it over IMAPS through the edge from `client` and replies by
  submission through the edge; homeportd delivers the reply out through the
  edge's egress to Postfix, DKIM-signed; captures on both of the edge's
  interfaces hold no byte of either body. The home's ISP blocks port 25
  throughout (the bench's CGNAT);
- MTA-STS: the records homeport dns prints, the policy fetched by curl
  through the edge (SNI on 443), and Postfix with postfix-mta-sts-resolver
  delivering under it, the home's certificate verified.
"""
import ctypes
import hashlib
import re
import secrets
import socket
import sqlite3

import pytest

import peers
from peers import wait
from daemon import Daemon
from bench import HOME_LAN
from https_peer import system_store
from test_smtp import Raw
from relaybench import (EDGE, EDGE_TUNNEL, HOME_TUNNEL, HOSTNAME, DOMAIN, POLICY_HOST, USER, TIMEOUT,
                        Relay, fetch_policy, homeport, imaps_fetch, send_from_peer, stored,
                        verify_dkim)

PASSWORD = "relay-password"
CLONE_NEWNET = 0x40000000      # setns(2): a network namespace


@pytest.fixture(scope="module")
def relay(bench, bindir, tmp_path_factory):
    r = Relay(bench, bindir)
    try:
        yield r.up(tmp_path_factory.mktemp("relay-home"), PASSWORD)
    finally:
        r.down()


# ---- joining -------------------------------------------------------------------

def test_join_brings_the_tunnel_up_and_records_the_edge(relay):
    assert "joined edge1 as tenant" in relay.join_output, relay.join_output
    assert f"tunnel {HOME_TUNNEL}/25, 2001:db8:77::2/64" in relay.join_output, relay.join_output
    assert re.search(r"handshake with edge1: \d+s ago", relay.join_output), relay.join_output
    conf = (relay.home.state_dir / "relay.conf").read_text()
    assert "mode = on" in conf and f"edge_address = {EDGE_TUNNEL}, 2001:db8:77::1" in conf, conf
    # The edge lists the home as a tenant with the same tunnel address.
    tenants = relay.edge.cmd("tenant", "list").stdout
    assert f"active {HOME_TUNNEL} {HOSTNAME}" in tenants, tenants
    # homeportd listens on the tunnel only, behind the edge.
    line = relay.home.wait_for(r"event=relay result=ok")
    assert f"interface={relay.home_ifname}" in line and "edges=1" in line, line
    listening = relay.home.host.run("ss", "-Hltn").stdout
    assert f"{HOME_TUNNEL}:25 " in listening and "0.0.0.0:25 " not in listening, listening


def test_status_shows_a_live_edge(relay):
    r = homeport(relay.home, "relay", "status")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mode: relay" in r.stdout and "edge edge1 (MX preference 10)" in r.stdout, r.stdout
    assert re.search(r"handshake: \d+s ago \(live\)", r.stdout), r.stdout
    assert f"egress {EDGE_TUNNEL}:1080: reachable" in r.stdout, r.stdout
    m = re.search(r"bytes: (\d+) received, (\d+) sent", r.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, r.stdout


def test_a_token_works_once(relay):
    r = homeport(relay.home, "relay", "join", relay.token, "--name", "again", check=False)
    assert r.returncode == 1 and "the edge refused" in r.stderr, (r.stdout, r.stderr)
    assert "again" not in (relay.home.state_dir / "relay.conf").read_text()


def test_dns_names_the_edge(relay):
    dns = relay.dns
    assert "(relay mode)" in dns
    assert re.search(rf"^{re.escape(DOMAIN)}\.\s+\d+ IN MX\s+10 {re.escape(HOSTNAME)}\.", dns, re.M), dns
    assert re.search(rf"^{re.escape(HOSTNAME)}\.\s+\d+ IN A\s+{EDGE}$", dns, re.M), dns
    assert f"v=spf1 ip4:{EDGE} -all" in dns, dns
    assert re.search(rf"^_25\._tcp\.{re.escape(HOSTNAME)}\.\s+\d+ IN TLSA\s+3 1 1 [0-9a-f]{{64}}", dns, re.M), dns
    # What Knot now serves is what was printed.
    assert relay.knot.query(DOMAIN, "MX") == [f"10 {HOSTNAME}."]
    assert relay.knot.query(HOSTNAME, "A") == [EDGE]


# ---- MTA-STS ----------------------------------------------------------------------

POLICY = f"version: STSv1\nmode: enforce\nmax_age: 604800\nmx: {HOSTNAME}\n"
RESOLVER_CONF = """\
host: 127.0.0.1
port: 8461
cache:
  type: internal
  options:
    cache_size: 100
default_zone:
  strict_testing: false
  timeout: 10
"""


def test_mta_sts_policy_through_the_edge(relay):
    """The records name the policy and its host (at the edge, not an MX);
    curl in `client` fetches the policy through the edge, TLS verified
    against the bench's WebPKI, and its id is the one in DNS; on port 80
    the home redirects to it."""
    dns = relay.dns
    m = re.search(rf'^_mta-sts\.{re.escape(DOMAIN)}\.\s+\d+ IN TXT\s+"v=STSv1; id=([0-9a-f]{{32}})"', dns, re.M)
    assert m, dns
    assert re.search(rf"^{re.escape(POLICY_HOST)}\.\s+\d+ IN A\s+{EDGE}\b", dns, re.M), dns
    assert not re.search(rf"IN MX\s+\d+ {re.escape(POLICY_HOST)}\.", dns), dns
    # Its _homeport record too, which edges with require_txt ask for.
    assert re.search(rf'^_homeport\.{re.escape(POLICY_HOST)}\.\s+\d+ IN TXT\s+"homeport-key1=', dns, re.M), dns
    assert relay.knot.query(POLICY_HOST, "A") == [EDGE]
    mark = relay.home.mark()
    policy = fetch_policy(relay)
    assert policy == POLICY
    assert hashlib.sha256(policy.encode()).hexdigest()[:32] == m.group(1)
    # Routed by its name on the edge's 443; the home saw curl's own address.
    relay.edge.daemon.wait_for(r"event=relay listener=https .*tenant=mail-alice-test by=name", timeout=30)
    relay.home.wait_for(rf'event=session .*client={re.escape(peers.CLIENT_ADDR)}\b.*'
                        rf'host="{re.escape(POLICY_HOST)}" status=200', start=mark)
    # Port 80 through the edge (routed by Host) to the home's http listener: to https.
    r = relay.client.run("curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                         "%{http_code} %{redirect_url}", f"http://{POLICY_HOST}/.well-known/mta-sts.txt",
                         timeout=30)
    assert r.stdout == f"301 https://{POLICY_HOST}/.well-known/mta-sts.txt", r.stdout


def test_postfix_delivers_under_the_policy(relay, tmp_path):
    """Postfix in `peer` asks postfix-mta-sts-resolver for its TLS policy
    (socketmap): the resolver finds _mta-sts.alice.test in Knot and fetches
    the policy through the edge, trusting the bench's WebPKI; Postfix then
    delivers at level secure and verifies the home's certificate for
    mail.alice.test. Without the policy it would log an untrusted TLS
    connection, not a verified one."""
    peer = relay.postfix.host
    conf = tmp_path / "mta-sts-daemon.yml"
    conf.write_text(RESOLVER_CONF)
    conf.chmod(0o644)
    resolver = None
    with system_store(peer, relay.ca.cert):
        q = peer.run("mta-sts-query", DOMAIN, timeout=60)
        assert "'enforce'" in q.stdout and HOSTNAME in q.stdout, q.stdout + q.stderr
        try:
            resolver = Daemon(["ip", "netns", "exec", peer.ns, "mta-sts-daemon", "-c", conf, "-v", "info"])
            wait("the resolver listening", lambda: "127.0.0.1:8461 " in peer.run("ss", "-Hltn").stdout)
            relay.postfix.postconf("-e", "smtp_tls_policy_maps=socketmap:inet:127.0.0.1:8461:postfix",
                                   f"smtp_tls_CAfile={relay.ca.cert}", "smtp_tls_loglevel=1")
            relay.postfix.postfix("reload")
            marker = secrets.token_hex(16)
            qid = send_from_peer(relay, marker)
            wait("the message in alice's INBOX", lambda: stored(relay.home, marker))
            relay.postfix.wait_log(rf"Verified TLS connection established to {re.escape(HOSTNAME)}"
                                   rf"\[{re.escape(EDGE)}\]:25")
            relay.postfix.wait_log(rf"{qid}: to=<{re.escape(USER)}>, relay={re.escape(HOSTNAME)}"
                                   rf"\[{re.escape(EDGE)}\]:25.*status=sent")
        finally:
            relay.postfix.postconf("-X", "smtp_tls_policy_maps", "smtp_tls_CAfile", "smtp_tls_loglevel")
            relay.postfix.postfix("reload")
            if resolver is not None:
                resolver.stop()


# ---- the demo's flow ------------------------------------------------------------

def test_mail_in_read_and_answered_through_the_edge(bench, relay):
    edge_host = relay.edge.host
    caps = [peers.capture(bench, edge_host, i, "tcp") for i in peers.interfaces(edge_host)]
    marker_in = secrets.token_hex(16)
    qid = send_from_peer(relay, marker_in)
    msgs = wait("the message in alice's INBOX", lambda: stored(relay.home, marker_in))
    assert len(msgs) == 1
    # Postfix delivered with TLS to the edge's address; the home saw Postfix's.
    status = relay.postfix.wait_log(rf"{qid}: to=<{re.escape(USER)}>, relay=[^ ]*\[{EDGE}\]:25.*status=sent")
    assert status
    relay.home.wait_for(rf"event=session .*client={re.escape(peers.PEER_ADDR)}")
    # Read over IMAPS through the edge.
    found = imaps_fetch(relay, marker_in, PASSWORD)
    assert len(found) == 1 and f"body marker {marker_in}" in found[0], found
    # The reply: submission through the edge (STARTTLS, AUTH), out through the egress.
    marker_out = secrets.token_hex(16)
    reply = (f"From: <{USER}>\r\nTo: <bob@peer.test>\r\nSubject: Re: hello\r\n"
             f"In-Reply-To: <{marker_in}@peer.test>\r\n\r\nreply marker {marker_out}\r\n")
    mark = len(relay.postfix.log())
    peers.smtp_send(relay.client, HOSTNAME, 587, USER, ["bob@peer.test"], reply,
                    login=(USER, PASSWORD), timeout=30)
    path, raw = relay.postfix.wait_delivered("bob", marker_out, timeout=TIMEOUT)
    pcaps = [c.stop() for c in caps]
    log = relay.postfix.log()[mark:]
    assert re.search(rf"connect from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]
    assert re.search(rf"TLS connection established from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]
    assert verify_dkim(relay.knot, raw) == [b"ed25519-sha256", b"rsa-sha256"]
    # The edge carried both messages and saw neither body.
    for p in pcaps:
        data = p.read_bytes()
        assert marker_in.encode() not in data and marker_out.encode() not in data, p


# ---- faults ---------------------------------------------------------------------

def delivered_once(relay, markers, timeout=TIMEOUT):
    """Flush Postfix until every marker is in alice's INBOX; then each must be there once."""
    def all_there():
        relay.postfix.flush()
        bodies = [m.body for m in relay.home.messages(USER)]
        return all(any(k.encode() in b for b in bodies) for k in markers)
    try:
        wait("every message in alice's INBOX", all_there, timeout=timeout, interval=1.0)
    except TimeoutError:
        postfix = [x for x in relay.postfix.log().splitlines() if f"<{USER}>" in x]
        raise AssertionError("not all delivered:\n" + "\n".join(
            postfix[-12:] + relay.edge.daemon.lines[-12:] + relay.home.lines[-12:])) from None
    bodies = [m.body for m in relay.home.messages(USER)]
    counts = {k: sum(k.encode() in b for b in bodies) for k in markers}
    twice = {k: n for k, n in counts.items() if n != 1}
    assert not twice, (twice, [line for line in relay.postfix.log().splitlines()
                               if any(k in line for k in twice) or "status=" in line][-40:])


def test_a_suspended_home_gets_421_then_its_mail(relay):
    edge, tenant = relay.edge, relay.edge.tenant()
    mark = edge.daemon.mark()
    edge.cmd("tenant", "suspend", tenant)
    edge.daemon.wait_for(rf"event=peer action=remove tenant={tenant}", start=mark)
    marker = secrets.token_hex(16)
    qid = send_from_peer(relay, marker)
    # The edge cuts the TLS it cannot route (it answered STARTTLS itself);
    # Postfix's next try, in plaintext, hears the 421 (docs/edge.md).
    def said_421():
        relay.postfix.flush()
        return re.search(rf"{qid}: to=<{re.escape(USER)}>.*said: 421 .*status=deferred|"
                         rf"{qid}: to=<{re.escape(USER)}>.*status=deferred.*said: 421 ",
                         relay.postfix.log())
    wait("a 421 for the suspended home", said_421, interval=1.0)
    assert not stored(relay.home, marker)
    mark = edge.daemon.mark()
    edge.cmd("tenant", "resume", tenant)
    edge.daemon.wait_for(rf"event=peer action=(add|update) tenant={tenant}", start=mark)
    delivered_once(relay, [marker])


def test_an_expired_token_is_refused(relay):
    token = relay.edge.invite(HOSTNAME)
    db = sqlite3.connect(relay.edge.state / "tenants.db")
    db.execute("UPDATE invites SET expires = created WHERE used = 0")
    db.commit()
    db.close()
    before = (relay.home.state_dir / "relay.conf").read_text()
    r = homeport(relay.home, "relay", "join", token, "--name", "late", check=False)
    assert r.returncode == 1 and "the edge refused: invite expired" in r.stderr, (r.stdout, r.stderr)
    assert (relay.home.state_dir / "relay.conf").read_text() == before


def test_edge_killed_while_postfix_sends(relay):
    """SIGKILL the edge among ten messages and start it again: Postfix
    retries, every message arrives once."""
    markers = [secrets.token_hex(16) for _ in range(10)]
    for i, marker in enumerate(markers):
        send_from_peer(relay, marker)
        if i == 4:
            relay.edge.kill()
    relay.edge.start()
    line = relay.edge.daemon.wait_for(r"event=wireguard .*result=ok")
    assert "created=no" in line, line      # the interface and its peers survived
    delivered_once(relay, markers)


def test_relay_off_and_on_loses_nothing(relay):
    """Off (the edges taken off the tunnel, homeportd restarted in direct
    mode behind the CGNAT: nothing comes in, port 25 out is blocked), with
    mail arriving and leaving; on again: all of it is delivered, once, and
    nothing bounced meanwhile."""
    home = relay.home
    assert "relay mode off" in homeport(home, "relay", "off").stdout
    home.stop()
    home.start()
    listening = home.host.run("ss", "-Hltn").stdout
    assert "0.0.0.0:25 " in listening and f"{HOME_TUNNEL}:25 " not in listening, (
        listening, home.lines[-20:])
    inbound = secrets.token_hex(16)
    qid = send_from_peer(relay, inbound)
    relay.postfix.wait_log(rf"{qid}: to=<{re.escape(USER)}>.*status=deferred", timeout=TIMEOUT)
    outbound = secrets.token_hex(16)
    msg = (f"From: <{USER}>\r\nTo: <bob@peer.test>\r\nSubject: while off\r\n\r\n"
           f"sent while off {outbound}\r\n")
    peers.smtp_send(home.host, "127.0.0.1", 587, USER, ["bob@peer.test"],
                    msg, login=(USER, PASSWORD), timeout=30)
    home.wait_for(r"event=deliver .*result=deferred")
    assert not stored(home, inbound)
    # On again: the queue went nowhere, and both messages go through.
    assert "relay mode on" in homeport(home, "relay", "on").stdout
    home.stop()
    home.start()
    delivered_once(relay, [inbound])
    relay.postfix.wait_delivered("bob", outbound, timeout=TIMEOUT)
    wait("the home's queue to empty", lambda: home.queue() == [])
    assert not re.search(rf"{qid}: .*status=bounced", relay.postfix.log())


def _connect_in(host, addr, port):
    """A TCP connection from inside host's namespace (this thread enters it
    only to connect): the socket stays usable from here."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as mine, open(f"/var/run/netns/{host.ns}") as there:
        if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into " + host.ns)
        try:
            return socket.create_connection((addr, port), timeout=30)
        finally:
            if libc.setns(mine.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")


def _moved(home, mark, pid):
    """The reload that relay on|off asked for, in the same homeportd: the mx
    listener's log line."""
    line = home.wait_for(r"event=reload listener=mx result=", start=mark, timeout=TIMEOUT)
    home.wait_for(r"event=reload result=ok", start=mark)
    assert home.alive() and home.proc.pid == pid, home.lines[-20:]
    return line


def test_relay_off_and_on_without_a_restart(relay):
    """relay off and on while homeportd runs: each moves its listeners at
    once in the same process (SIGHUP through homeportd.pid) and switches
    how mail leaves. An SMTP session opened on the home's own address
    before relay on delivers its message after the listeners moved to the
    tunnel; mail queued while off leaves through the edge's egress once on.

    Not shown: a session on the tunnel across relay off. relay off takes
    the edges off the tunnel at once (they must not reach the direct
    listeners, which would read their PROXY headers as SMTP), which cuts
    such sessions before their final dot: the sender retries, nothing is
    lost (test_relay_off_and_on_loses_nothing)."""
    home = relay.home
    pid = home.proc.pid
    mark = home.mark()
    out = homeport(home, "relay", "off").stdout
    assert f"homeportd (pid {pid}) reloaded: listeners move now" in out, out
    line = _moved(home, mark, pid)
    assert "result=moved address=0.0.0.0:25" in line and "proxy=no" in line, line
    assert "transport=direct" in home.wait_for(r"event=reload outbound=changed", start=mark)
    listening = home.host.run("ss", "-Hltn").stdout
    assert "0.0.0.0:25 " in listening and f"{HOME_TUNNEL}:25 " not in listening, listening

    # While off: a reply queued (port 25 out is blocked by the CGNAT), and a
    # session on the home's own address, stopped after RCPT.
    outbound = secrets.token_hex(16)
    msg = (f"From: <{USER}>\r\nTo: <bob@peer.test>\r\nSubject: queued while off\r\n\r\n"
           f"queued while off {outbound}\r\n")
    peers.smtp_send(home.host, "127.0.0.1", 587, USER, ["bob@peer.test"], msg, login=(USER, PASSWORD),
                    timeout=30)
    # It tried directly (blocked by the CGNAT), not through the edge's egress, gone from the tunnel.
    line = home.wait_for(r'event=deliver .*to="bob@peer\.test" result=deferred', start=mark, timeout=TIMEOUT)
    assert "edge egress" not in line, line
    session = Raw(_connect_in(home.host, HOME_LAN[0], 25))
    try:
        assert session.reply()[0] == 220
        assert session.cmd("EHLO lan.alice.test")[0] == 250
        assert session.cmd("MAIL FROM:<carol@lan.alice.test>")[0] == 250
        assert session.cmd(f"RCPT TO:<{USER}>")[0] == 250

        mark, pmark = home.mark(), len(relay.postfix.log())
        out = homeport(home, "relay", "on").stdout
        assert f"homeportd (pid {pid}) reloaded" in out, out
        line = _moved(home, mark, pid)
        assert f"result=moved address={HOME_TUNNEL}:25" in line and "proxy=yes" in line, line
        assert "transport=edge" in home.wait_for(r"event=reload outbound=changed", start=mark)
        listening = home.host.run("ss", "-Hltn").stdout
        assert f"{HOME_TUNNEL}:25 " in listening and "0.0.0.0:25 " not in listening, listening

        # The session from before the move finishes its message.
        inbound = secrets.token_hex(16)
        assert session.cmd("DATA")[0] == 354
        assert session.cmd(f"Subject: across relay on\r\n\r\nbody marker {inbound}\r\n.")[0] == 250
        assert session.cmd("QUIT")[0] == 221
        assert session.closed()
    finally:
        session.close()
    assert len(stored(home, inbound)) == 1
    # The queued reply leaves through the edge's egress: Postfix hears it from the edge.
    relay.postfix.wait_delivered("bob", outbound, timeout=TIMEOUT)
    log = relay.postfix.log()[pmark:]
    assert re.search(rf"connect from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]
    home.wait_for(r"event=deliver .*result=sent", start=mark, timeout=TIMEOUT)
    wait("the home's queue to empty", lambda: home.queue() == [])
