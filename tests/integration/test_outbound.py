"""Outbound delivery on the bench, against real peers.

homeportd runs in `home`, behind the ISP's CGNAT that drops TCP port 25,
so that mail can leave only through homeport-edge's SOCKS5 egress
(192.0.2.1:1080 in the tunnel). It finds MX records in the bench's Knot
and delivers to Postfix in `peer` (MX of peer.test), which offers STARTTLS
and logs its TLS sessions. A user submits with Python's smtplib on the
home's submission port; the received file is checked with python3-dkim.

Postfix answers RCPT TO reject-* with 550 and defer-* with 451
(peers.PEER_RCPT_ACCESS). Retries are made fast here ([outbound]
retry_min 1s); `homeport queue retry` makes an entry due at once.
"""
import email
import email.policy
import hashlib
import json
import re
import secrets
import sqlite3
import subprocess
import time

import dkim
import pytest

import peers
from peers import wait
from daemon import Daemon
from homed import Home

PY = "/usr/bin/python3"
HOME = "192.0.2.2"
EDGE = "203.0.113.1"
EDGE_TUNNEL = "192.0.2.1"
EGRESS_PORT = 1080
DOMAIN = "alice.test"
HOSTNAME = "mail.alice.test"
USER = f"alice@{DOMAIN}"
PASSWORD = "outbound-password"
SUBMISSION_PORT = 587
DELIVERY_TIMEOUT = 60

EDGE_CONF = f"""\
[edge]
name = relay.edge.test
user = nobody
log_level = info

[egress]
address = {EDGE_TUNNEL}:{EGRESS_PORT}

[tenant alice]
hostnames = {HOSTNAME}, {DOMAIN}
tunnel_address = {HOME}
"""


@pytest.fixture(scope="module")
def edge(bench, bindir, tmp_path_factory):
    bench.tunnel()
    host = bench.host("edge")
    d = bench.dir / "outbound-edge"
    d.mkdir(mode=0o755)
    conf = d / "edge.conf"
    conf.write_text(EDGE_CONF)
    conf.chmod(0o644)
    e = Daemon(["ip", "netns", "exec", host.ns, bindir / "homeport-edge", "-c", conf])
    e.wait_for(r"event=start result=ok")
    yield e
    assert e.stop() == 0, "\n".join(e.lines[-30:])


@pytest.fixture
def postfix(bench):
    """The peer's Postfix (a new one after a test stopped it)."""
    return peers.postfix(bench)


def trust_anchors(bench, d):
    """The bench's DNSSEC trust anchors (Knot's signed zones) in a file under d."""
    anchors = d / "trust-anchors"
    anchors.write_text(peers.knot(bench).trust_anchors())
    anchors.chmod(0o644)
    return anchors


@pytest.fixture(scope="module")
def home(bench, bindir, edge, tmp_path_factory):
    """homeportd in `home`: submission on 127.0.0.1, DKIM keys for alice.test,
    outbound through the edge; its DKIM records, for dkimpy, in .records."""
    host = bench.host("home")
    d = tmp_path_factory.mktemp("home")
    anchors = trust_anchors(bench, d)
    h = Home(bindir.parent, d, hostname=HOSTNAME, log_level="debug",
             prefix=["ip", "netns", "exec", host.ns],
             sections={"outbound": {"transport": "edge", "egress": f"{EDGE_TUNNEL}:{EGRESS_PORT}",
                                    "dns_forward": peers.DNS_ADDR, "dns_trust_anchor": anchors,
                                    "retry_min": "1s", "retry_max": "2s",
                                    "connect_timeout": "5s"}})
    h.listener("submission", "submission", host="127.0.0.1", port=SUBMISSION_PORT)
    keydir = h.state_dir / "keys" / "dkim"     # root's, 0700, as homeport init makes it
    keydir.mkdir(mode=0o700)
    h.records = {}
    for selector in ("ed25519", "rsa"):
        path = keydir / f"{DOMAIN}.{selector}.key"
        r = subprocess.run([str(h.cli), "keys", "dkim-genkey", "-a", selector, "-o", str(path)],
                           capture_output=True, text=True, timeout=60, check=True)
        h.records[f"{selector}._domainkey.{DOMAIN}.".encode()] = r.stdout.strip().encode()
    h.start()
    h.add_domain(DOMAIN)
    h.add_user(USER, password=PASSWORD)
    h.host = host
    yield h
    h.stop()


@pytest.fixture(scope="module")
def direct_home(bench, bindir, tmp_path_factory):
    """A second homeportd, in `client` (a public address, no port-25 block),
    delivering directly, giving up after 4 seconds."""
    host = bench.host("client")
    d = tmp_path_factory.mktemp("direct")
    h = Home(bindir.parent, d, hostname="mail.direct.test",
             log_level="debug", prefix=["ip", "netns", "exec", host.ns],
             sections={"outbound": {"transport": "direct", "dns_forward": peers.DNS_ADDR,
                                    "dns_trust_anchor": trust_anchors(bench, d), "retry_min": "1s", "retry_max": "1s", "expire": "4s",
                                    "connect_timeout": "5s"}})
    h.listener("submission", "submission", host="127.0.0.1", port=SUBMISSION_PORT)
    h.start()
    h.add_domain("direct.test")
    h.add_user("dora@direct.test", password=PASSWORD)
    h.host = host
    yield h
    h.stop()


def submit(home, rcpts, marker, subject="outbound test", check=True, sender=USER):
    msg = (f"From: <{sender}>\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
           f"\r\nHello from the home. Marker: {marker}\r\n")
    return peers.smtp_send(home.host, "127.0.0.1", SUBMISSION_PORT, sender, rcpts, msg,
                           login=(sender, PASSWORD), check=check, timeout=30)


def cli(home, *args):
    """homeport -c CONF ARGS: the CompletedProcess, whatever its exit status."""
    return subprocess.run([str(home.cli), "-c", str(home.conf_path), *args], capture_output=True,
                          text=True, timeout=60)


def submit_many(home, items):
    """Submit (rcpt, marker) pairs in one authenticated session, one message each."""
    msgs = [(rcpt, f"From: <{USER}>\r\nTo: <{rcpt}>\r\nSubject: many\r\n\r\nMarker: {marker}\r\n")
            for rcpt, marker in items]
    script = (
        "import json, smtplib, ssl, sys\n"
        "a = json.loads(sys.argv[1])\n"
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        "with smtplib.SMTP('127.0.0.1', a['port'], timeout=30) as s:\n"
        "    s.starttls(context=ctx); s.login(a['user'], a['password'])\n"
        "    for rcpt, text in a['msgs']:\n"
        "        s.sendmail(a['user'], [rcpt], text.encode())\n")
    arg = json.dumps({"port": SUBMISSION_PORT, "user": USER, "password": PASSWORD, "msgs": msgs})
    home.host.run(PY, "-c", script, arg, timeout=120)


def queue_rows(home):
    return home.query("SELECT id, rcpt, attempts, last_error FROM queue ORDER BY id")


def dsn_messages(home, user=USER):
    """The DSNs in user's INBOX, parsed."""
    out = []
    for m in home.messages(user):
        msg = email.message_from_bytes(m.body, policy=email.policy.compat32)
        if msg.get_content_type() == "multipart/report":
            out.append(msg)
    return out


def verify_dkim(home, raw):
    """dkimpy's verdict on both signatures of a received message."""
    d = dkim.DKIM(raw)
    sigs = [line for line in raw.split(b"\n") if line.lower().startswith(b"dkim-signature:")]
    assert len(sigs) == 2, raw[:2000]
    algs = []
    for idx in range(2):
        assert d.verify(idx=idx, dnsfunc=lambda name, timeout=5: home.records.get(name)), idx
        algs.append(d.signature_fields[b"a"])
    return sorted(algs)


def test_submitted_mail_leaves_signed_encrypted_through_the_edge(bench, home, edge, postfix):
    marker = secrets.token_hex(16)
    mark = len(postfix.log())
    caps = [peers.capture(bench, bench.host("edge"), iface, "tcp") for iface in peers.interfaces(bench.host("edge"))]
    submit(home, ["bob@peer.test"], marker)
    path, raw = postfix.wait_delivered("bob", marker, timeout=DELIVERY_TIMEOUT)
    pcaps = [c.stop() for c in caps]
    log = postfix.log()[mark:]
    # Postfix saw the edge's public address, and a TLS session.
    assert re.search(rf"connect from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]
    assert re.search(rf"TLS connection established from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]
    # Both signatures verify with a verifier nobody here wrote.
    assert verify_dkim(home, raw) == [b"ed25519-sha256", b"rsa-sha256"]
    # Delivered: the queue is empty, and the log says how.
    wait("the queue to empty", lambda: queue_rows(home) == [])
    line = home.wait_for(r"event=deliver .*result=sent")
    assert "mx=mx.peer.test" in line and "tls=\"version=TLSv1." in line, line
    # No byte of the body crossed the edge in the clear.
    for p in pcaps:
        assert marker.encode() not in p.read_bytes(), p


def test_a_550_bounces_with_a_dsn_to_the_sender(home, postfix):
    marker = secrets.token_hex(16)
    before = len(dsn_messages(home))
    submit(home, ["reject-carol@peer.test"], marker)
    dsns = wait("a DSN in the sender's INBOX", lambda: dsn_messages(home)[before:] or None)
    report = dsns[0]
    assert report["To"] == f"<{USER}>" or USER in report["To"]
    parts = [p.get_content_type() for p in report.walk()]
    assert "message/delivery-status" in parts, parts
    status = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert "Final-Recipient: rfc822; reject-carol@peer.test" in text, text
    assert "Action: failed" in text and "Status: 5.1.1" in text, text
    assert re.search(r"Diagnostic-Code: smtp; 550 5\.1\.1", text), text
    assert "Remote-MTA: dns; mx.peer.test" in text, text
    # The original headers come back, so the sender knows which message.
    assert marker not in text
    assert queue_rows(home) == []


def test_one_transaction_gives_each_recipient_its_own_result(home, postfix):
    marker = secrets.token_hex(16)
    before = len(dsn_messages(home))
    mark = home.mark()
    submit(home, ["henry@peer.test", "reject-ivy@peer.test", "defer-jack@peer.test"], marker)
    line = home.wait_for(r"event=deliver result=started .*domain=peer\.test", start=mark)
    assert "rcpts=3" in line, line
    postfix.wait_delivered("henry", marker, timeout=DELIVERY_TIMEOUT)
    dsns = wait("a DSN", lambda: dsn_messages(home)[before:] or None)
    text = next(p for p in dsns[0].walk()
                if p.get_content_type() == "message/delivery-status").as_string()
    assert "reject-ivy@peer.test" in text and "defer-jack" not in text and "henry" not in text
    rows = wait("the deferred one", lambda: [r for r in queue_rows(home) if r[2] >= 1])
    assert [r[1] for r in rows] == ["defer-jack@peer.test"], rows
    assert cli(home, "queue", "delete", str(rows[0][0])).returncode == 0
    assert len(dsn_messages(home)) == before + 1


def test_a_451_is_retried_until_the_peer_takes_it(home, postfix):
    marker = secrets.token_hex(16)
    rule = "/^later-[^@]*@/ 451 4.7.1 not now\n"
    postfix.rcpt_access.write_text(postfix.rcpt_access.read_text() + rule)
    postfix.postfix("reload")
    try:
        submit(home, ["later-dave@peer.test"], marker)
        rows = wait("two deferrals", lambda: [r for r in queue_rows(home) if r[2] >= 2])
        assert "451 4.7.1" in rows[0][3], rows
    finally:
        postfix.rcpt_access.write_text(postfix.rcpt_access.read_text().replace(rule, ""))
        postfix.postfix("reload")
    postfix.wait_delivered("later-dave", marker, timeout=DELIVERY_TIMEOUT)
    wait("the queue to empty", lambda: queue_rows(home) == [])


def test_peer_down_defers_and_delivers_after_it_returns(bench, home, postfix):
    marker = secrets.token_hex(16)
    postfix.stop()
    try:
        submit(home, ["erin@peer.test"], marker)
        rows = wait("a deferral", lambda: [r for r in queue_rows(home) if r[2] >= 1])
        assert "mx.peer.test" in rows[0][3] and "refused" in rows[0][3], rows
        out = cli(home, "queue", "list")
        assert "erin@peer.test" in out.stdout and "last error:" in out.stdout, out.stdout
    finally:
        pf = peers.postfix(bench)
    assert pf.process.alive()
    pf.wait_delivered("erin", marker, timeout=DELIVERY_TIMEOUT)
    wait("the queue to empty", lambda: queue_rows(home) == [])


def test_queue_command_shows_retries_and_deletes(home, postfix):
    marker = secrets.token_hex(16)
    submit(home, ["defer-frank@peer.test"], marker, subject="for the queue command")
    rows = wait("a deferral", lambda: [r for r in queue_rows(home) if r[2] >= 1])
    qid = rows[0][0]
    show = cli(home, "queue", "show", str(qid))
    assert show.returncode == 0, show.stderr
    assert "to: <defer-frank@peer.test>" in show.stdout and "Subject: for the queue command" in show.stdout
    assert "451 4.7.1" in show.stdout, show.stdout
    retry = cli(home, "queue", "retry", str(qid))
    assert retry.returncode == 0 and "1 queue entry is due now" in retry.stdout, retry.stdout
    gone = cli(home, "queue", "delete", str(qid))
    assert gone.returncode == 0, gone.stderr
    assert all(r[0] != qid for r in queue_rows(home))
    again = cli(home, "queue", "delete", str(qid))
    assert again.returncode == 1 and "no queue entry" in again.stderr, again.stderr
    bad = cli(home, "queue", "show", "x1")
    assert bad.returncode == 2, bad.stderr


def test_null_mx_and_missing_domain_bounce_at_once(bench, home, postfix):
    knot = peers.knot(bench)
    knot.set_record("nullmx.example.test", "MX", "0 .")
    before = len(dsn_messages(home))
    submit(home, ["x@nullmx.example.test", "y@nosuch.example.test"], secrets.token_hex(8))
    dsns = wait("two DSNs", lambda: len(dsn_messages(home)) >= before + 2 and dsn_messages(home))
    texts = [next(p for p in m.walk() if p.get_content_type() == "message/delivery-status").as_string()
             for m in dsns[before:]]
    joined = "\n".join(texts)
    assert "Final-Recipient: rfc822; x@nullmx.example.test" in joined and "Status: 5.1.10" in joined
    assert "Final-Recipient: rfc822; y@nosuch.example.test" in joined and "Status: 5.1.2" in joined
    assert queue_rows(home) == []


def spki_sha256(cert):
    """The SHA-256 of a certificate's public key (SubjectPublicKeyInfo, DER): TLSA 3 1 1's data."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_dane_mismatch_defers_and_a_matching_record_delivers(bench, home, postfix):
    knot = peers.knot(bench)
    cert, _ = peers.peer_cert(bench)
    tlsa = "_25._tcp.mx.peer.test"
    wrong = secrets.token_hex(32)
    knot.set_record(tlsa, "TLSA", f"3 1 1 {wrong}", ttl=1)
    # A fresh resolver cache: earlier deliveries cached "no TLSA record".
    home.stop()
    home.start()
    try:
        marker = secrets.token_hex(16)
        caps = [peers.capture(bench, bench.host("edge"), i, "tcp") for i in peers.interfaces(bench.host("edge"))]
        submit(home, ["grace@peer.test"], marker)
        rows = wait("a DANE deferral", lambda: [r for r in queue_rows(home) if r[2] >= 1])
        assert "DANE" in rows[0][3] and "mx.peer.test" in rows[0][3], rows
        pcaps = [c.stop() for c in caps]
        # Neither sent to the wrong key nor in the clear.
        assert not [m for m in postfix.delivered("grace") if marker.encode() in m[1]]
        for p in pcaps:
            assert marker.encode() not in p.read_bytes(), p
        # The right record: delivered, the certificate checked against it.
        mark = home.mark()
        knot.set_record(tlsa, "TLSA", f"3 1 1 {spki_sha256(cert)}", ttl=1)
        time.sleep(1.5)     # the wrong record's TTL
        assert cli(home, "queue", "retry").returncode == 0
        postfix.wait_delivered("grace", marker, timeout=DELIVERY_TIMEOUT)
        line = home.wait_for(r"event=deliver .*to=\"grace@peer.test\" result=sent", start=mark)
        assert "dane=verified" in line, line
    finally:
        knot.delete_record(tlsa, "TLSA")


def test_sigkill_during_deliveries_loses_nothing(home, postfix):
    markers = [secrets.token_hex(12) for _ in range(50)]
    mark = home.mark()
    submit_many(home, [(f"kill{n}@peer.test", m) for n, m in enumerate(markers)])
    home.wait_for(r"event=deliver .*result=sent", start=mark)
    left = len(queue_rows(home))
    home.kill()
    assert left > 0, "every message was delivered before the kill: the test proves nothing"
    home.start()
    for n, marker in enumerate(markers):
        postfix.wait_delivered(f"kill{n}", marker, timeout=DELIVERY_TIMEOUT)
    wait("the queue to empty", lambda: queue_rows(home) == [])


def delivery_status(report):
    return next(p for p in report.walk()
                if p.get_content_type() in ("message/delivery-status",
                                            "message/global-delivery-status")).as_string()


def test_direct_mode_delivers_from_the_home_s_own_address(direct_home, postfix):
    marker = secrets.token_hex(16)
    mark = len(postfix.log())
    submit(direct_home, ["lena@peer.test"], marker, sender="dora@direct.test")
    postfix.wait_delivered("lena", marker, timeout=DELIVERY_TIMEOUT)
    log = postfix.log()[mark:]
    assert re.search(rf"connect from unknown\[{re.escape(peers.CLIENT_ADDR)}\]", log), log[-2000:]
    assert not re.search(rf"connect from unknown\[{re.escape(EDGE)}\]", log), log[-2000:]


def test_expired_entries_bounce_with_the_last_error(direct_home, postfix):
    before = len(dsn_messages(direct_home, "dora@direct.test"))
    submit(direct_home, ["defer-mona@peer.test"], secrets.token_hex(8), sender="dora@direct.test")
    dsns = wait("a DSN after expiry",
                lambda: dsn_messages(direct_home, "dora@direct.test")[before:] or None)
    text = delivery_status(dsns[0])
    assert "Final-Recipient: rfc822; defer-mona@peer.test" in text, text
    assert "Action: failed" in text and "Status: 4.4.7" in text, text
    human = dsns[0].get_payload()[0].get_payload(decode=True).decode()
    assert "gave up after" in human and "451 4.7.1" in human, human
    assert direct_home.query("SELECT count(*) FROM queue")[0][0] == 0


def test_plaintext_when_no_starttls_and_smtputf8_refused_when_missing(bench, home):
    """The sink in `client` (MX of sink.example.test) offers neither
    STARTTLS nor SMTPUTF8: an ASCII message goes in the clear
    (opportunistic TLS), one to a UTF-8 address bounces with 5.6.7."""
    sink = peers.smtp_sink(bench)
    marker = secrets.token_hex(16)
    mark = home.mark()
    submit(home, [f"nina@{peers.SINK_DOMAIN}"], marker)
    sink.wait_for(marker)
    line = home.wait_for(r'event=deliver .*to="nina@sink.example.test" result=sent', start=mark)
    assert 'tls="none"' in line, line
    before = len(dsn_messages(home))
    rcpt = f"jos\u00e9@{peers.SINK_DOMAIN}"
    script = (
        "import json, smtplib, ssl, sys\n"
        "a = json.loads(sys.argv[1])\n"
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        "with smtplib.SMTP('127.0.0.1', a['port'], timeout=30) as s:\n"
        "    s.starttls(context=ctx); s.login(a['user'], a['password'])\n"
        "    s.sendmail(a['user'], [a['rcpt']], a['text'].encode(), mail_options=['SMTPUTF8'])\n")
    text = f"From: <{USER}>\r\nTo: <{rcpt}>\r\nSubject: utf8\r\n\r\nhola\r\n"
    home.host.run(PY, "-c", script, json.dumps({"port": SUBMISSION_PORT, "user": USER,
                                                 "password": PASSWORD, "rcpt": rcpt,
                                                 "text": text}), timeout=60)
    dsns = wait("a DSN for the UTF-8 address", lambda: dsn_messages(home)[before:] or None)
    status = delivery_status(dsns[0])
    assert "Status: 5.6.7" in status, status
    human = dsns[0].get_payload()[0].get_payload(decode=True).decode()
    assert "does not support SMTPUTF8" in human, human
    assert queue_rows(home) == []


def test_next_mx_after_a_refused_connection_and_two_at_a_time_per_domain(bench, home, postfix):
    """peer.test gets a better MX whose port 25 is closed (the DNS host):
    every attempt is refused there and goes on to mx.peer.test. Six
    messages kept failing (451) and made due together run at most
    max_per_domain (2) at a time: counted from the log, in order."""
    knot = peers.knot(bench)
    knot.add_record("peer.test", "MX", "5 mx0.peer.test.", ttl=1)
    knot.set_record("mx0.peer.test", "A", peers.DNS_ADDR, ttl=1)
    restart(home)       # no cached MX RRset
    try:
        marker = secrets.token_hex(16)
        mark = home.mark()
        submit(home, ["quinn@peer.test"], marker)
        postfix.wait_delivered("quinn", marker, timeout=DELIVERY_TIMEOUT)
        line = home.wait_for(r"event=deliver result=next_host mx=mx0\.peer\.test ", start=mark)
        assert "refused" in line, line
        line = home.wait_for(r'event=deliver .*to="quinn@peer.test" result=sent', start=mark)
        assert "mx=mx.peer.test" in line, line
    finally:
        knot.delete_record("mx0.peer.test", "A")
        knot.update("peer.test", "update delete peer.test. MX 5 mx0.peer.test.")
    restart(home)
    submit_many(home, [(f"defer-r{i}@peer.test", secrets.token_hex(8)) for i in range(6)])
    wait("six deferrals", lambda: len([r for r in queue_rows(home) if r[2] >= 1]) == 6)
    mark = home.mark()
    for _ in range(3):
        assert cli(home, "queue", "retry").returncode == 0
        time.sleep(1.5)
    running, most = set(), 0
    for line in home.lines[mark:]:
        m = re.search(r"sid=(\S+) event=deliver (result=started .*domain=peer\.test|.*result=)", line)
        if not m:
            continue
        if "result=started" in line:
            running.add(m.group(1))
            most = max(most, len(running))
        else:
            running.discard(m.group(1))
    assert most == 2, most
    for qid, *_ in queue_rows(home):
        assert cli(home, "queue", "delete", str(qid)).returncode == 0


ODD_ADDR = "198.51.100.54"     # a second address of the `dns` host: the scripted MX
ODD_DOMAIN = "odd.example.test"


@pytest.fixture(scope="module")
def scripted_mx(bench):
    """The scripted MX (scripted_mx.py) on 198.51.100.54:25, MX of odd.example.test."""
    from scripted_mx import ScriptedMx
    host = bench.host("dns")
    if ODD_ADDR not in host.run("ip", "-4", "-o", "addr").stdout:
        host.run("ip", "addr", "add", f"{ODD_ADDR}/24", "dev", peers.interfaces(host)[0])
    knot = peers.knot(bench)
    knot.set_record(f"oddmx.{ODD_DOMAIN}", "A", ODD_ADDR)
    knot.set_record(ODD_DOMAIN, "MX", f"10 oddmx.{ODD_DOMAIN}.")
    mx = ScriptedMx(bench, host, ODD_ADDR)
    yield mx
    mx.stop()


@pytest.mark.parametrize("scenario, error", [
    ("injection", "bytes after the answer to STARTTLS"),
    ("garbage", "bad reply: bad reply code"),
    ("greeting421", "greeting: 421 4.3.2 scripted: busy, try later"),
    ("longline", "bad reply: reply line too long"),
    ("mismatch", "bad reply: reply code differs between lines"),
    ("dropafterdata", "connection closed by the server"),
])
def test_a_misbehaving_server_defers_with_the_reason(home, scripted_mx, scenario, error):
    """Each misbehaviour defers the message with a clear reason; nothing is
    lost, homeportd keeps running."""
    scripted_mx.play(scenario)
    before = len(scripted_mx.connections())
    submit(home, [f"una@{ODD_DOMAIN}"], secrets.token_hex(8))
    rows = wait(f"a deferral ({scenario})", lambda: [r for r in queue_rows(home) if r[2] >= 1])
    assert error in rows[0][3], rows
    assert len(scripted_mx.connections()) > before
    assert home.alive()
    if scenario == "dropafterdata":
        # The message was taken, but no answer came: it will be sent again (never lost).
        assert scripted_mx.connections()[-1]["message"] is not None
    for qid, *_ in queue_rows(home):
        assert cli(home, "queue", "delete", str(qid)).returncode == 0


def test_a_broken_tls_handshake_falls_back_to_plaintext(home, scripted_mx):
    """Opportunistic TLS (no DANE, no MTA-STS) whose handshake fails: the
    message goes again on a new connection without STARTTLS (RFC 7435)."""
    scripted_mx.play("badtls")
    before = len(scripted_mx.connections())
    marker = secrets.token_hex(16)
    mark = home.mark()
    submit(home, [f"xena@{ODD_DOMAIN}"], marker)
    conns = wait("the message at the scripted MX",
                 lambda: [c for c in scripted_mx.connections()[before:] if c.get("message")])
    assert marker in conns[0]["message"]
    tried = scripted_mx.connections()[before:]
    assert "STARTTLS" in tried[0]["commands"] and tried[0]["message"] is None, tried
    assert "STARTTLS" not in conns[0]["commands"], conns
    assert home.wait_for(r"event=deliver result=retry_without_tls mx=oddmx", start=mark)
    line = home.wait_for(r'event=deliver .*to="xena@odd.example.test" result=sent', start=mark)
    assert 'tls="none"' in line, line
    wait("the queue to empty", lambda: queue_rows(home) == [])


def test_a_server_without_pipelining_gets_one_command_at_a_time(home, scripted_mx):
    scripted_mx.play("nopipelining")
    before = len(scripted_mx.connections())
    marker = secrets.token_hex(16)
    submit(home, [f"vera@{ODD_DOMAIN}", f"walt@{ODD_DOMAIN}"], marker)
    conn = wait("the scripted MX's transcript",
                lambda: [c for c in scripted_mx.connections()[before:] if c.get("message")])[0]
    assert marker in conn["message"], conn
    assert conn["commands"][:5] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"], conn
    assert conn["early"] == [False, False, False], conn
    wait("the queue to empty", lambda: queue_rows(home) == [])


def test_dkim_rotation_signs_with_the_new_selector(home, postfix):
    """homeport dkim rotate, activate, restart: mail is signed with the new
    keys only (both still verify against their published records)."""
    r = cli(home, "dkim", "rotate", DOMAIN)
    assert r.returncode == 0, r.stderr
    found = re.findall(r"^(\S+)\._domainkey\.alice\.test\. TXT \"([^\"]+)\"$", r.stdout, re.M)
    assert len(found) == 2, r.stdout
    for sel, record in found:
        home.records[f"{sel}._domainkey.{DOMAIN}.".encode()] = record.encode()
    assert cli(home, "dkim", "activate", DOMAIN).returncode == 0
    restart(home)
    marker = secrets.token_hex(16)
    submit(home, ["sam@peer.test"], marker)
    _path, raw = postfix.wait_delivered("sam", marker, timeout=DELIVERY_TIMEOUT)
    assert verify_dkim(home, raw) == [b"ed25519-sha256", b"rsa-sha256"]
    sels = sorted(m.decode() for m in re.findall(rb"\bs=([a-z0-9]+);", raw))
    assert sels == sorted(sel for sel, _ in found), sels


def restart(home, forget_sts=False, **outbound):
    """Restart homeportd with [outbound] keys changed (None: removed); its
    resolver cache and in-memory MTA-STS policies start empty (and those
    kept in mail.db too with forget_sts)."""
    home.stop()
    if forget_sts:
        db = sqlite3.connect(home.db_path, timeout=10)
        db.execute("DELETE FROM mta_sts")
        db.commit()
        db.close()
    for k, v in outbound.items():
        if v is None:
            home.sections["outbound"].pop(k, None)
        else:
            home.sections["outbound"][k] = v
    home.start()


def test_mta_sts_enforce_limits_hosts_and_checks_certificates(bench, home, postfix, tmp_path):
    """peer.test publishes an MTA-STS policy (nginx in `peer` serves it for
    mta-sts.peer.test, with a certificate from a test CA): in enforce mode
    the MX must be listed and its certificate valid for its name."""
    import https_peer
    knot = peers.knot(bench)
    d = bench.dir / "outbound-mtasts"
    d.mkdir(mode=0o755, exist_ok=True)
    ca = https_peer.TestCA(d / "ca", "Homeport outbound test CA")
    cert, key = ca.issue("mta-sts", ["mta-sts.peer.test"])
    policy = d / "policy.txt"
    policy.write_text("version: STSv1\nmode: enforce\nmx: mx.peer.test\nmax_age: 86400\n")
    policy.chmod(0o644)
    nginx = https_peer.Nginx(bench, bench.host("peer"), peers.PEER_ADDR, [
        ("mta-sts.peer.test", cert, key,
         f"        location = /.well-known/mta-sts.txt {{ default_type text/plain; alias {policy}; }}")],
        name="outbound-nginx")
    # Trusted: the test CA (the policy's host) and the peer's own certificate (its MX).
    trusted = d / "trusted.pem"
    trusted.write_text(ca.cert.read_text() + peers.peer_cert(bench)[0].read_text())
    knot.set_record("mta-sts.peer.test", "A", peers.PEER_ADDR)
    knot.set_record("_mta-sts.peer.test", "TXT", '"v=STSv1; id=one;"', ttl=1)
    try:
        # 1. Enforced, listed, valid: delivered, and the log says it was checked.
        restart(home, tls_ca_file=trusted)
        marker = secrets.token_hex(16)
        mark = home.mark()
        submit(home, ["olga@peer.test"], marker)
        postfix.wait_delivered("olga", marker, timeout=DELIVERY_TIMEOUT)
        assert "result=fetched id=one mode=enforce" in home.wait_for(r"event=mta_sts ", start=mark)
        line = home.wait_for(r'event=deliver .*to="olga@peer.test" result=sent', start=mark)
        assert "mta_sts=verified" in line, line
        assert ("mta-sts.peer.test", "/.well-known/mta-sts.txt", "200") in nginx.requests()
        # 2. A new policy (new id) that lists another MX: nothing is sent, the entry waits.
        policy.write_text("version: STSv1\nmode: enforce\nmx: mx2.peer.test\nmax_age: 86400\n")
        knot.set_record("_mta-sts.peer.test", "TXT", '"v=STSv1; id=two;"', ttl=1)
        time.sleep(1.5)
        marker = secrets.token_hex(16)
        submit(home, ["pia@peer.test"], marker)
        rows = wait("an MTA-STS deferral", lambda: [r for r in queue_rows(home) if r[2] >= 1])
        assert "MTA-STS: no MX host of peer.test matches its policy" in rows[0][3], rows
        assert not [m for m in postfix.delivered("pia") if marker.encode() in m[1]]
        # 3. Listed again, but the MX's certificate is not trusted: deferred with why.
        policy.write_text("version: STSv1\nmode: enforce\nmx: *.peer.test\nmax_age: 86400\n")
        knot.set_record("_mta-sts.peer.test", "TXT", '"v=STSv1; id=three;"', ttl=1)
        only_ca = d / "only-ca.pem"
        only_ca.write_text(ca.cert.read_text())
        restart(home, tls_ca_file=only_ca)
        assert cli(home, "queue", "retry").returncode == 0
        rows = wait("a certificate deferral",
                    lambda: [r for r in queue_rows(home) if "certificate" in r[3]])
        assert "MTA-STS: mx.peer.test's certificate is not valid for it" in rows[0][3], rows
        assert not [m for m in postfix.delivered("pia") if marker.encode() in m[1]]
        # 4. Trusted again: the waiting message goes.
        restart(home, tls_ca_file=trusted)
        assert cli(home, "queue", "retry").returncode == 0
        postfix.wait_delivered("pia", marker, timeout=DELIVERY_TIMEOUT)
        wait("the queue to empty", lambda: queue_rows(home) == [])
        # 5. A restart, a new id, and the policy host down: the policy kept in
        # mail.db (id three, enforce) still holds, so the untrusted MX gets nothing.
        nginx.stop()
        knot.set_record("_mta-sts.peer.test", "TXT", '"v=STSv1; id=four;"', ttl=1)
        time.sleep(1.5)
        restart(home, tls_ca_file=only_ca)
        mark = home.mark()
        marker = secrets.token_hex(16)
        submit(home, ["rita@peer.test"], marker)
        rows = wait("a deferral by the kept policy",
                    lambda: [r for r in queue_rows(home) if "certificate" in r[3]])
        assert "rita@peer.test" == rows[0][1], rows
        assert "result=fetch_failed" in home.wait_for(r"event=mta_sts ", start=mark)
        assert not [m for m in postfix.delivered("rita") if marker.encode() in m[1]]
        assert cli(home, "queue", "delete", str(rows[0][0])).returncode == 0
    finally:
        knot.delete_record("_mta-sts.peer.test", "TXT")
        knot.delete_record("mta-sts.peer.test", "A")
        nginx.stop()
        restart(home, forget_sts=True, tls_ca_file=None)
