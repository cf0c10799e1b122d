"""The bench's real peers (tests/integration/peers.py) do what later tests
rely on: Knot answers for the test zones and takes signed updates, Postfix
receives for peer.test and sends by MX found in Knot, the SMTP sink stores
what it is given, and a capture in a namespace sees the SMTP dialogue."""
import json
import re
import secrets
import time

import pytest

import peers
from netns import namespace_pids


@pytest.fixture
def knot(bench):
    return peers.knot(bench)


@pytest.fixture
def postfix(bench):
    return peers.postfix(bench)


@pytest.fixture
def sink(bench):
    return peers.smtp_sink(bench)


def message(sender, rcpt, subject, marker):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{marker}@client.example.test>\r\n\r\n"
            f"body marker {marker}\r\n.leading dot stays\r\n")


def test_knot_serves_the_test_zones(knot):
    assert knot.query("peer.test", "MX") == ["10 mx.peer.test."]
    assert knot.query("mx.peer.test", "A") == [peers.PEER_ADDR]
    assert knot.query("example.test", "MX", tcp=True) == ["10 mail.example.test."]
    assert knot.query("edge.test", "A") == [peers.EDGE_ADDR]
    # The sink's domain has an MX and no address of its own: only an MX
    # lookup can find the client host.
    assert knot.query(peers.SINK_DOMAIN, "MX") == [f"10 {peers.SINK_MX}."]
    assert knot.query(peers.SINK_DOMAIN, "A") == []
    assert knot.query(peers.SINK_MX, "A") == [peers.CLIENT_ADDR]
    # Authoritative only: names outside its zones are refused.
    assert knot.query("www.example.org", "A", check=False) is None


def test_postfix_delivers_by_mx_found_in_knot(bench, knot, postfix, sink):
    client = bench.host("client")
    marker = secrets.token_hex(8)
    rcpt = f"someone@{peers.SINK_DOMAIN}"
    # The client (in mynetworks) submits mail for a foreign domain to Postfix...
    r = peers.smtp_send(client, peers.PEER_ADDR, 25, "alice@peer.test", [rcpt],
                        message("alice@peer.test", rcpt, "by MX", marker))
    assert json.loads(r.stdout) == {"refused": {}}
    # ...which relays it to the sink, the MX of sink.example.test.
    got = sink.wait_for(marker, timeout=30)
    assert got.envelope["client"] == peers.PEER_ADDR
    assert got.envelope["helo"] == peers.PEER_HOSTNAME
    assert got.envelope["mail_from"] == "alice@peer.test"
    assert got.envelope["rcpt_to"] == [rcpt]
    assert f"body marker {marker}\r\n.leading dot stays\r\n".encode() in got.data
    assert re.search(rb"^Received: from client\.example\.test \(unknown \[198\.51\.100\.100\]\)"
                     rb"\r\n\tby mx\.peer\.test", got.data, re.M), got.data
    line = postfix.wait_log(
        rf"to=<{re.escape(rcpt)}>, relay={re.escape(peers.SINK_MX)}"
        rf"\[198\.51\.100\.100\]:25, .*status=sent", timeout=30)
    assert "250 2.0.0 Ok: queued as" in postfix.log()[line.start():].splitlines()[0]


def test_postfix_receives_for_peer_test(bench, postfix):
    client = bench.host("client")
    marker = secrets.token_hex(8)
    r = peers.smtp_send(client, peers.PEER_ADDR, 25, "bob@example.test", ["carol@peer.test"],
                        message("bob@example.test", "carol@peer.test", "for peer.test", marker))
    assert json.loads(r.stdout) == {"refused": {}}
    path, data = postfix.wait_delivered("carol", marker, timeout=30)
    assert path.parent.name == "new"
    assert path.is_relative_to(bench.dir)
    assert b"Delivered-To: carol@peer.test\n" in data
    assert b"Return-Path: <bob@example.test>\n" in data
    assert f"body marker {marker}\n.leading dot stays\n".encode() in data
    postfix.wait_log(r"to=<carol@peer\.test>, relay=virtual, .*status=sent \(delivered to maildir\)")


def test_postfix_relays_only_for_its_networks(bench, postfix):
    """From outside 198.51.100.0/24 (the edge), Postfix takes mail for
    peer.test but does not relay to other domains."""
    edge = bench.host("edge")
    marker = secrets.token_hex(8)
    r = peers.smtp_send(edge, peers.PEER_ADDR, 25, "eve@edge.test", [f"x@{peers.SINK_DOMAIN}"],
                        message("eve@edge.test", "x", "relay?", marker), helo="edge.test",
                        check=False)
    assert r.returncode != 0
    assert "Relay access denied" in r.stderr, r.stderr
    r = peers.smtp_send(edge, peers.PEER_ADDR, 25, "eve@edge.test", ["dave@peer.test"],
                        message("eve@edge.test", "dave@peer.test", "inbound", marker),
                        helo="edge.test")
    assert postfix.wait_delivered("dave", marker)


def test_signed_updates_change_the_zone_and_wrong_keys_do_not(knot):
    name = f"u{secrets.token_hex(4)}.example.test"
    assert knot.query(name, "TXT") == []
    knot.add_record(name, "TXT", '"first"')
    assert knot.query(name, "TXT") == ['"first"']
    knot.set_record(name, "TXT", '"second"')
    assert knot.query(name, "TXT") == ['"second"']
    assert knot.query(name, "TXT", tcp=True) == ['"second"']
    soa = knot.query("example.test", "SOA")[0].split()
    # A key with the right name and the wrong secret: BADSIG; an unknown key:
    # BADKEY; no signature at all: NOTAUTH. None of them changes the zone.
    wrong = peers.Tsig(knot.tsig.name, knot.tsig.algorithm,
                       "c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBzZXJ2ZXIncyBrZXkhIQ==")
    unknown = peers.Tsig("stranger.", knot.tsig.algorithm, knot.tsig.secret)
    for kwargs, status in (({"tsig": wrong}, "BADSIG"), ({"tsig": unknown}, "BADKEY"),
                           ({"sign": False}, "NOTAUTH")):
        r = knot.update("example.test", f"update delete {name}. TXT",
                        f"update add {name}. 60 TXT \"forged\"", check=False, **kwargs)
        assert r.returncode != 0
        assert f"status: {status}" in r.stdout, (status, r.stdout, r.stderr)
    assert knot.query(name, "TXT") == ['"second"']
    assert knot.query("example.test", "SOA")[0].split() == soa
    # The key may update the other two zones as well.
    for zone in ("peer.test", "edge.test"):
        other = f"u{secrets.token_hex(4)}.{zone}"
        knot.add_record(other, "A", "203.0.113.9")
        assert knot.query(other, "A") == ["203.0.113.9"]


def test_capture_in_a_namespace_sees_the_smtp_dialogue(bench, sink):
    client, peer = bench.host("client"), bench.host("peer")
    (iface,) = peers.interfaces(client)
    cap = peers.capture(bench, client, iface, "tcp port 25")
    marker = secrets.token_hex(8)
    helo = f"capture-{marker}.peer.test"
    # From another host, so the session crosses the client's interface.
    peers.smtp_send(peer, peers.CLIENT_ADDR, 25, "x@peer.test", ["y@sink.example.test"],
                    message("x@peer.test", "y@sink.example.test", "captured", marker), helo=helo)
    sink.wait_for(marker)
    pcap = cap.stop()
    # (smtplib sends its commands in lower case)
    commands = [(src, cmd.upper(), param) for src, cmd, param in peers.tshark_fields(
        pcap, "smtp.req", "ip.src", "smtp.req.command", "smtp.req.parameter")]
    assert (peers.PEER_ADDR, "EHLO", helo) in commands, commands
    assert any(c[1] == "DATA" for c in commands), commands
    assert (peers.PEER_ADDR, "QUIT", "") in commands, commands


def test_sink_rejects_what_is_too_long(bench, sink):
    """Bounded input: an overlong command line and an oversized message
    are refused; the session stays usable."""
    script = r"""
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], 25, local_hostname="limits.peer.test", timeout=10)
print(s.docmd("NOOP " + "x" * 600))
print(s.ehlo())
print(s.docmd("MAIL FROM:<a@peer.test> SIZE=999999999"))
print(s.docmd("RCPT TO:<b@example.test>"))
print(s.docmd("MAIL FROM:<a@peer.test>"))
print(s.docmd("RCPT TO:<b@example.test>"))
print(s.docmd("DATA"))
s.send(b"X" * 2000 + b"\r\n.\r\n")
print(s.getreply())
print(s.quit())
"""
    out = bench.host("peer").run(peers.PY, "-c", script, peers.CLIENT_ADDR).stdout.splitlines()
    assert out[0].startswith("(500,"), out
    assert out[1].startswith("(250,") and "SIZE" in out[1], out
    assert out[2].startswith("(552,"), out
    assert out[3].startswith("(503,"), out
    assert out[4].startswith("(250,") and out[5].startswith("(250,"), out
    assert out[6].startswith("(354,"), out
    assert out[7].startswith("(500,") and "too long" in out[7], out
    assert out[8].startswith("(221,"), out
    # A message bigger than the limit is refused and not stored, also when
    # the client did not announce its SIZE.
    small = peers.smtp_sink(bench, port=2526, max_size=4096)
    script = r"""
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], 2526, local_hostname="limits.peer.test", timeout=10)
s.ehlo()
print(s.docmd("MAIL FROM:<a@peer.test>"))
print(s.docmd("RCPT TO:<b@example.test>"))
print(s.docmd("DATA"))
s.send(b"Subject: big\r\n\r\n" + (b"z" * 70 + b"\r\n") * 100 + b".\r\n")
print(s.getreply())
print(s.quit())
"""
    out = bench.host("peer").run(peers.PY, "-c", script, peers.CLIENT_ADDR).stdout.splitlines()
    assert [line[:5] for line in out] == ["(250,", "(250,", "(354,", "(552,", "(221,"], out
    assert small.messages() == []


def test_stopping_the_peers_by_pid_leaves_nothing_running(bench, knot, postfix, sink):
    """Last in this file: each peer is one Process; stopping its PID ends
    everything it started (Postfix's master takes its children with it)."""
    peer, dns, client = bench.host("peer"), bench.host("dns"), bench.host("client")
    pids = peers.postfix_pids(peer)
    assert postfix.process.pid in pids and len(pids) > 1, pids   # master + qmgr, pickup, ...
    postfix.stop()
    knot.stop()
    sink.stop()
    deadline = time.monotonic() + 10
    while peers.postfix_pids(peer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert peers.postfix_pids(peer) == []
    assert knot.process.pid not in namespace_pids(dns.ns)
    assert sink.process.pid not in namespace_pids(client.ns)
    for host, addr, port in ((peer, peers.PEER_ADDR, 25), (dns, peers.DNS_ADDR, 53),
                             (client, peers.CLIENT_ADDR, 25)):
        assert not peers.listening(host, "tcp", addr, port), (host.name, port)
    # Asked again, a peer starts anew.
    assert peers.knot(bench).query("peer.test", "MX") == ["10 mx.peer.test."]
