"""homeport-edge on the network bench, between real peers.

The edge runs in `edge` (listeners on 203.0.113.1, the egress on the
tunnel address 192.0.2.1:1080) and reaches its tenant alice at the home's
tunnel address 192.0.2.2 through the WireGuard tunnel. Clients run in
`client` (198.51.100.100); the sending MTA is the bench's Postfix in `peer`
(198.51.100.25), which finds alice.test's MX (mail.alice.test, A 203.0.113.1)
in the bench's Knot. Behind the edge, in `home`, bound to 192.0.2.2:

    peers.dovecot        IMAPS on 993, haproxy = yes (PROXY header from 192.0.2.1 only)
    peers.home_postfix   SMTP on 25, smtpd_upstream_proxy_protocol = haproxy
    smtp-backend         SMTP on 25 (this file, run as a script): reads the PROXY
                         v2 header and its Homeport TLV, starts TLS at once as
                         the home does after the edge answered STARTTLS, then
                         takes whole mail transactions and stores each message

Each test starts its own edge (the listener layout differs: 25 is
passthrough in one test and starttls in others) and stops it by PID,
expecting exit status 0. Helpers that must run inside a namespace are this
file run as a script: `python3 test_edge_peers.py COMMAND ...` (main() at
the end). Every wait is bounded.
"""
import json
import os
import pathlib
import re
import resource
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

import peers
from daemon import Daemon

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"
SELF = str(pathlib.Path(__file__).resolve())

EDGE = "203.0.113.1"
CLIENT = "198.51.100.100"
PEER = "198.51.100.25"
HOME = "192.0.2.2"
EDGE_TUNNEL = "192.0.2.1"
DOMAIN = "alice.test"
MX = "mail.alice.test"
EDGE_NAME = "relay.edge.test"
EGRESS_PORT = 1080
IDLE_PORT = 995             # an sni listener with a long handshake_timeout
HANDSHAKE_TIMEOUT = 3       # seconds, on the other listeners

EDGE_HEAD = f"""\
[edge]
name = {EDGE_NAME}
user = nobody
log_level = info
max_connections = 30000
max_per_source = 20000
rate_per_source = 0
"""

ALICE = f"""
[tenant alice]
hostnames = {MX}, {DOMAIN}
tunnel_address = {HOME}
"""


def listener(name, port, mode, **keys):
    lines = [f"\n[listener {name}]", f"address = {EDGE}:{port}", f"mode = {mode}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


# Open files for the edge: as many as this process may give (raising the
# hard limit needs CAP_SYS_RESOURCE, which a container may not have).
NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
IDLE_CONNECTIONS = 10000


class BenchEdge:
    """homeport-edge in the `edge` namespace, its file limit raised to the
    hard limit, enough for 10,000 connections (prlimit execs it: the PID is
    the edge's)."""

    count = 0

    def __init__(self, bench, bindir, conf_text):
        bench.tunnel()
        self.host = bench.host("edge")
        BenchEdge.count += 1
        # Read again on SIGHUP as user nobody: a 0755 directory, a 0644 file.
        self.dir = bench.dir / f"edge-{BenchEdge.count}"
        self.dir.mkdir(mode=0o755)
        self.dir.chmod(0o755)
        self.conf = self.dir / "edge.conf"
        self.write(conf_text)
        self.d = Daemon(["ip", "netns", "exec", self.host.ns, "prlimit",
                         f"--nofile={NOFILE}:{NOFILE}", bindir / "homeport-edge", "-c",
                         self.conf])
        self.d.wait_for(r"event=start result=ok")

    @property
    def pid(self):
        return self.d.proc.pid

    def write(self, text):
        self.conf.write_text(text)
        self.conf.chmod(0o644)

    def reload(self, text):
        self.write(text)
        m = self.d.mark()
        self.d.signal(signal.SIGHUP)
        line = self.d.wait_for(r"event=reload ", start=m)
        assert "result=ok" in line, line

    def relay_line(self, pattern, timeout=10, start=0):
        return self.d.wait_for(r"event=relay .*" + pattern, timeout=timeout, start=start)

    def relay_line_of(self, port, timeout=10):
        """The relay line of the client connection from 198.51.100.100:port."""
        return self.relay_line(rf"peer={re.escape(CLIENT)}:{port} ", timeout=timeout)

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        return self.d.stop(timeout=20)


@pytest.fixture(scope="module", autouse=True)
def whole_bench(bench):
    """Every host these tests use, built before their traffic starts."""
    for name in ("peer", "dns", "client"):
        bench.host(name)
    bench.tunnel()
    yield


@pytest.fixture
def start_edge(bench, bindir):
    """start_edge(conf_text) -> BenchEdge; each one stopped by PID at the
    end of the test, which must find it exiting 0."""
    started = []

    def _start(conf_text):
        started.append(BenchEdge(bench, bindir, conf_text))
        return started[-1]

    yield _start
    for e in started:
        status = e.stop()
        assert status == 0, "\n".join(e.d.lines[-30:])


@pytest.fixture
def dovecot(bench):
    return peers.dovecot(bench)


@pytest.fixture
def home_postfix(bench):
    """The home's Postfix for one test: stopped afterwards, so that
    192.0.2.2:25 is free for the smtp-backend of later tests."""
    pf = peers.home_postfix(bench)
    yield pf
    pf.stop()


class SmtpBackend:
    """This file's smtp-backend, in `home` on 192.0.2.2:25."""

    def __init__(self, bench):
        bench.tunnel()
        self.host = bench.host("home")
        self.dir = bench.dir / f"smtp-backend-{secrets.token_hex(3)}"
        self.dir.mkdir(mode=0o700)
        cert, key = peers.home_cert(bench)
        self.log = self.dir / "backend.log"
        assert not peers.listening(self.host, "tcp", HOME, 25), "192.0.2.2:25 is taken"
        self.process = self.host.popen(PY, SELF, "smtp-backend", HOME, 25, self.dir, cert, key,
                                       name="smtp-backend", log=self.log)
        peers._wait("smtp-backend ready", lambda: "ready" in self.log.read_text(), 10,
                    self.process)

    def connections(self):
        """One dict per finished connection: the PROXY header as read,
        the EHLO names, the messages (text) and any error."""
        out = []
        for p in sorted(self.dir.glob("conn-*.json")):
            out.append(json.loads(p.read_text()))
        return out

    def wait_message(self, marker, timeout=30):
        """(connection record, message text) of the message containing marker."""
        def find():
            for c in self.connections():
                for m in c["messages"]:
                    if marker in m["data"]:
                        return c, m
            return None
        return peers._wait(f"message {marker} at the smtp-backend", find, timeout,
                           self.process, interval=0.2)

    def errors(self):
        return [c["error"] for c in self.connections() if c["error"]]

    def stop(self):
        return self.process.stop()


@pytest.fixture
def smtp_backend(bench):
    b = SmtpBackend(bench)
    yield b
    b.stop()
    assert b.errors() == [], b.errors()


class Sender:
    """The peer's Postfix as the sending MTA towards alice.test, through
    the edge: opportunistic TLS, with the SNI setting under test."""

    def __init__(self, bench):
        self.pf = peers.postfix(bench)
        self.knot = peers.knot(bench)
        self.client = bench.host("client")
        self.knot.add_record(DOMAIN, "MX", f"10 {MX}.")
        self.knot.add_record(MX, "A", EDGE)
        assert self.knot.query(DOMAIN, "MX") == [f"10 {MX}."]
        self.sent = []          # queue ids of what this test sent

    def configure(self, servername):
        """smtp_tls_security_level = may and smtp_tls_servername =
        servername (None: unset, no SNI); then a reload."""
        self.pf.postconf("-e", "smtp_tls_security_level=may", "smtp_tls_loglevel=1")
        if servername is None:
            self.pf.postconf("-X", "smtp_tls_servername")
        else:
            self.pf.postconf("-e", f"smtp_tls_servername={servername}")
        self.reload()

    def reload(self):
        before = self.pf.log().count(" reload -- ")
        self.pf.postfix("reload")
        peers._wait("postfix reloaded", lambda: self.pf.log().count(" reload -- ") > before,
                    15, self.pf.process)

    def send(self, marker, rcpt=f"bob@{DOMAIN}"):
        """Submit a message with marker in its body (from the client, in
        the peer's mynetworks); returns its queue id."""
        body = (f"From: <carol@peer.test>\r\nTo: <{rcpt}>\r\nSubject: via the edge\r\n"
                f"Message-ID: <{marker}@client.example.test>\r\n\r\n"
                + f"body marker {marker}\r\n" * 3)
        peers.smtp_send(self.client, PEER, 25, "carol@peer.test", [rcpt], body)
        m = self.pf.wait_log(rf"(\w+): message-id=<{marker}@client\.example\.test>")
        self.sent.append(m.group(1))
        return m.group(1)

    def lines(self, qid):
        return [line for line in self.pf.log().splitlines() if f" {qid}: " in line]

    def statuses(self, qid):
        """The delivery status lines (sent, deferred or bounced) of qid so far."""
        return re.findall(rf".* {qid}: to=<[^>]*>, relay=.*status=(?:sent|deferred|bounced).*",
                          self.pf.log())

    def wait_status(self, qid, n=1, timeout=30):
        """The n-th delivery status line of qid."""
        try:
            return peers._wait(f"delivery attempt {n} of {qid}",
                               lambda: self.statuses(qid)[n - 1:n], timeout, self.pf.process,
                               interval=0.2)[0]
        except (RuntimeError, TimeoutError) as e:
            raise AssertionError(f"{e}\n" + "\n".join(self.lines(qid))) from None

    def wait_status_where(self, qid, what, accept, timeout=30):
        """The first delivery status line of qid for which accept(line) is true."""
        try:
            return peers._wait(f"{what} of {qid}",
                               lambda: [x for x in self.statuses(qid) if accept(x)][:1],
                               timeout, self.pf.process, interval=0.2)[0]
        except (RuntimeError, TimeoutError) as e:
            raise AssertionError(f"{e}\n" + "\n".join(self.lines(qid))) from None

    def cleanup(self):
        """Nothing left queued for alice.test (it would be retried during
        later tests), and the peer's TLS settings back as they were."""
        for q in self.pf.queue():
            if q["queue_id"] in self.sent or any(
                    r["address"].endswith(f"@{DOMAIN}") for r in q["recipients"]):
                self.pf.host.run("/usr/sbin/postsuper", "-c", self.pf.etc, "-d", q["queue_id"],
                                 check=False)
        self.pf.postconf("-X", "smtp_tls_security_level", "smtp_tls_loglevel",
                         "smtp_tls_servername")
        self.reload()


@pytest.fixture
def sender(bench):
    s = Sender(bench)
    yield s
    s.cleanup()


def imaps_fetch(bench, dovecot, marker, port=993, sni=MX):
    """Log in with imaplib from `client` through the edge, select INBOX and
    fetch the message containing marker: the helper's JSON result."""
    r = bench.host("client").run(PY, SELF, "imaps", EDGE, port, sni, dovecot.cert,
                                 dovecot.user, dovecot.password, marker, timeout=40)
    return json.loads(r.stdout)


def put_message(dovecot, marker):
    text = (f"From: <carol@peer.test>\nTo: <alice@{DOMAIN}>\nSubject: fetch me\n"
            f"Message-ID: <{marker}@peer.test>\n\n" + f"body marker {marker}\n" * 3)
    dovecot.deliver(text.encode())
    return text


def start_helper(bench, host_name, *args, stdin=subprocess.DEVNULL):
    """This file as a script in a namespace, in the background: (Process, log path)."""
    log = bench.dir / f"helper-{args[0]}-{secrets.token_hex(3)}.log"
    proc = bench.host(host_name).popen(PY, SELF, *args, name=f"helper:{args[0]}", log=log,
                                       stdin=stdin)
    return proc, log


def helper_result(proc, log, timeout=30):
    """The last JSON line the helper printed, once it has exited."""
    try:
        proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise AssertionError(f"helper still running after {timeout} s:\n{log.read_text()}")
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.startswith("{")]
    assert proc.popen.returncode == 0 and lines, text
    return json.loads(lines[-1])


def wait_after(what, text, start, pattern, timeout=15):
    """The first match of pattern in text()[start:] (a log read again and
    again), waiting for it: logs of peers shared by the session are only
    searched from a mark taken before the action."""
    rx = re.compile(pattern)
    try:
        return peers._wait(what, lambda: rx.search(text()[start:]), timeout, interval=0.2)
    except TimeoutError as e:
        raise AssertionError(f"{e}: /{pattern}/ in\n{text()[start:][-3000:]}") from None


def half_marker_in(data, marker):
    """True if marker, or either half of it, is in data: a plaintext copy
    cut by a segment boundary still leaves one half whole."""
    m = marker.encode()
    return any(part in data for part in (m, m[:len(m) // 2], m[len(m) // 2:]))


# ---------------------------------------------------------------- 1. Dovecot, IMAPS

def test_dovecot_behind_the_edge_sees_the_real_client(bench, start_edge, dovecot):
    edge = start_edge(EDGE_HEAD + listener("imaps", 993, "sni") + ALICE)
    mark = len(dovecot.log())
    marker = secrets.token_hex(16)
    text = put_message(dovecot, marker)
    got = imaps_fetch(bench, dovecot, marker)
    assert got["login"].startswith("OK") and got["select"] == "OK", got
    assert got["message"].replace("\r\n", "\n") == text
    line = edge.relay_line_of(got["port"])
    assert "tenant=alice by=name" in line and f'name="{MX}"' in line, line
    # curl's IMAP fetches the same message by UID, through the edge.
    r = bench.host("client").run(
        "curl", "-sS", "--max-time", "20", "--resolve", f"{MX}:993:{EDGE}", "--cacert",
        dovecot.cert, "--user", f"{dovecot.user}:{dovecot.password}",
        f"imaps://{MX}/INBOX;UID={got['uid']}", timeout=30)
    assert r.stdout.replace("\r\n", "\n") == text
    # Dovecot took the client's address from the PROXY header: both logins
    # come from 198.51.100.100 (not the edge's tunnel address) to 203.0.113.1.
    login = (rf"imap-login: Info: Login: user=<{dovecot.user}>, method=PLAIN, "
             rf"rip={re.escape(CLIENT)}, lip={re.escape(EDGE)}, .*TLS")
    wait_after("imaplib's and curl's logins", dovecot.log, mark, rf"{login}(.|\n)*{login}")
    assert f"rip={EDGE_TUNNEL}" not in dovecot.log()


# ---------------------------------------------------------------- 2. Postfix, passthrough

def test_postfix_behind_a_passthrough_listener_logs_the_real_client(bench, start_edge,
                                                                      home_postfix):
    alice = ALICE + f"public_addresses = {EDGE}\n"
    edge = start_edge(EDGE_HEAD + listener("mx", 25, "passthrough") + alice)
    client = bench.host("client")
    marker = secrets.token_hex(16)
    # Plaintext SMTP: the capture inside the tunnel must show the marker (the
    # control for test_the_edge_carries_no_plaintext).
    cap = peers.capture(bench, bench.host("edge"), bench.tunnel()["ifname"]["edge"])
    r = client.run("swaks", "--server", EDGE, "--port", "25", "--helo", "client.example.test",
                   "--from", "carol@example.test", "--to", f"bob@{DOMAIN}",
                   "--header", "Subject: through the edge", "--body", f"body marker {marker}",
                   "--timeout", "15", check=False, timeout=40)
    assert half_marker_in(cap.stop().read_bytes(), marker)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"<- +220 {re.escape(MX)} ESMTP", r.stdout), r.stdout
    path, data = home_postfix.wait_delivered("bob", marker)
    assert re.search(rb"^Received: from client\.example\.test \(unknown \[198\.51\.100\.100\]\)",
                     data, re.M), data
    home_postfix.wait_log(r"postfix/smtpd\[\d+\]: connect from unknown\[198\.51\.100\.100\]")
    home_postfix.wait_log(r"client=unknown\[198\.51\.100\.100\]")
    line = edge.relay_line(rf"listener=mx peer={re.escape(CLIENT)}:\d+ tenant=alice by=address")
    assert "end=" in line
    # The home relays for nobody outside its mynetworks: not for the client.
    r = client.run("swaks", "--server", EDGE, "--port", "25", "--helo", "client.example.test",
                   "--from", "carol@example.test", "--to", "dave@peer.test",
                   "--timeout", "15", check=False, timeout=40)
    assert r.returncode != 0 and "Relay access denied" in r.stdout, r.stdout
    home_postfix.wait_log(r"reject: RCPT from unknown\[198\.51\.100\.100\]: [45]54 [45]\.7\.1 "
                          r"<dave@peer\.test>: Relay access denied")
    assert not re.search(rf"(connect from|client=)\S*\[{re.escape(EDGE_TUNNEL)}\]",
                         home_postfix.log())


# ---------------------------------------------------------------- 3. starttls on port 25

def test_postfix_sends_through_a_starttls_listener_routed_by_sni(bench, start_edge, sender,
                                                                  smtp_backend):
    edge = start_edge(EDGE_HEAD + listener("mx", 25, "starttls") + ALICE)
    # hostname: the MX name; nexthop: the next-hop domain, for MX delivery
    # the recipient's domain (postconf(5)). The tenant owns both names.
    for servername, sni in (("hostname", MX), ("nexthop", DOMAIN)):
        sender.configure(servername)
        marker = secrets.token_hex(16)
        m, mark = edge.d.mark(), len(sender.pf.log())
        qid = sender.send(marker)
        status = sender.wait_status(qid)
        assert "status=sent (250 2.0.0 Ok: queued as" in status, sender.lines(qid)
        assert f"relay={MX}[{EDGE}]:25" in status, status
        conn, msg = smtp_backend.wait_message(marker)
        assert conn["proxy"]["version"] == 2
        assert conn["proxy"]["src"][0] == PEER and conn["proxy"]["dst"] == [EDGE, 25]
        assert conn["proxy"]["authority"] == sni
        # The Homeport TLV: version 1, STARTTLS already answered, SMTP, and
        # the EHLO name the sender gave the edge.
        assert conn["proxy"]["homeport"] == [1, 1, 1, peers.PEER_HOSTNAME]
        assert conn["ehlo"] == [peers.PEER_HOSTNAME]    # again, inside TLS
        assert msg["mail_from"] == "carol@peer.test" and msg["rcpt_to"] == [f"bob@{DOMAIN}"]
        line = edge.relay_line(rf"listener=mx peer={re.escape(PEER)}:\d+ tenant=alice by=name "
                               rf'name="{re.escape(sni)}"', start=m)
        assert "end=" in line
        wait_after("the sender's TLS", sender.pf.log, mark,
                   rf"TLS connection established to {re.escape(MX)}\[{re.escape(EDGE)}\]:25")


def test_postfix_without_sni_goes_to_the_default_tenant_or_stays_queued(
        bench, start_edge, sender, smtp_backend):
    conf = EDGE_HEAD + listener("mx", 25, "starttls", default_tenant="alice") + ALICE
    edge = start_edge(conf)
    sender.configure(None)          # Postfix's default: no SNI
    marker = secrets.token_hex(16)
    qid = sender.send(marker)
    assert "status=sent (250 2.0.0 Ok" in sender.wait_status(qid), sender.lines(qid)
    conn, _ = smtp_backend.wait_message(marker)
    assert conn["proxy"]["authority"] is None
    assert conn["proxy"]["homeport"] == [1, 1, 1, peers.PEER_HOSTNAME]
    edge.relay_line(rf"listener=mx peer={re.escape(PEER)}:\d+ tenant=alice by=default")

    # Neither SNI, nor an address a tenant owns, nor a default tenant: the
    # edge must refuse, and the mail must stay queued (4xx), never bounce.
    edge.reload(EDGE_HEAD + listener("mx", 25, "starttls") + ALICE)
    m, mark = edge.d.mark(), len(sender.pf.log())
    marker = secrets.token_hex(16)
    qid = sender.send(marker)
    # First attempt: the edge answers STARTTLS, finds no route in the
    # ClientHello and sends the alert unrecognized_name; Postfix defers.
    first = sender.wait_status(qid, 1)
    assert "status=deferred (Cannot start TLS: handshake failure)" in first, sender.lines(qid)
    assert "dsn=4.7.5" in first, first
    wait_after("the sender's TLS failure", sender.pf.log, mark,
               r"SSL routines::tlsv1 unrecognized name.*SSL alert number 112")
    edge.relay_line(rf"listener=mx peer={re.escape(PEER)}:\d+ tenant=- by=none .*end=no_route",
                    start=m)
    # When the handshake fails again, Postfix (smtp(8), opportunistic TLS)
    # goes on without TLS, but only in a delivery attempt that starts at
    # least minimal_backoff_time (5 s on the bench) after the message
    # arrived, in whole seconds (PREACTIVE_DELAY in Postfix's smtp.h). Its
    # queue manager takes a deferred message back when its time stamp is at
    # most 1 s ahead (qmgr_active_feed()), so the next attempt may start 4 s
    # in, try TLS once more and be deferred like the first; which one it is
    # depends on the phase of the deferred-queue scans. So: wait for the
    # attempt in which Postfix spoke plaintext and got a reply from the edge,
    # whichever it is. That session must get a 4xx for MAIL (the edge
    # remembers the source whose TLS it cut), never a 5xx that would bounce
    # it; every attempt before it failed in TLS and stayed deferred.
    m = edge.d.mark()
    plain = sender.wait_status_where(qid, "the attempt past TLS",
                                     lambda x: "Cannot start TLS" not in x)
    lines = sender.lines(qid)
    assert not [x for x in lines if "status=bounced" in x or re.search(r"said: 5\d\d ", x)], lines
    statuses = sender.statuses(qid)
    before = statuses[:statuses.index(plain)]
    assert before and all("dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)" in x
                          for x in before), lines
    assert "status=deferred" in plain, lines
    assert (f"said: 421 4.7.0 {EDGE_NAME} TLS failed on your last attempt, try again later "
            "(in reply to MAIL FROM command)") in plain, lines
    edge.relay_line(rf"listener=mx peer={re.escape(PEER)}:\d+ tenant=- by=none .*end=no_route",
                    start=m)
    edge.relay_line(rf"listener=mx peer={re.escape(PEER)}:\d+ tenant=- by=none .*"
                    rf"end=preamble_closed", start=m)
    queued = [q for q in sender.pf.queue() if q["queue_id"] == qid]
    assert len(queued) == 1 and queued[0]["queue_name"] == "deferred", queued
    reason = queued[0]["recipients"][0]["delay_reason"]
    assert "421 4.7.0" in reason, reason
    assert not any(marker in msg["data"] for c in smtp_backend.connections()
                   for msg in c["messages"])


# ---------------------------------------------------------------- 4. no plaintext at the edge

def test_the_edge_carries_no_plaintext(bench, start_edge, sender, smtp_backend, dovecot):
    edge = start_edge(EDGE_HEAD + listener("imaps", 993, "sni") + listener("mx", 25, "starttls")
                      + ALICE)
    sender.configure("hostname")
    ehost = bench.host("edge")
    ifaces = peers.interfaces(ehost)
    wg = bench.tunnel()["ifname"]["edge"]
    assert wg in ifaces and len(ifaces) == 2, ifaces
    caps = {i: peers.capture(bench, ehost, i) for i in ifaces}
    imap_marker, smtp_marker = secrets.token_hex(16), secrets.token_hex(16)
    text = put_message(dovecot, imap_marker)
    got = imaps_fetch(bench, dovecot, imap_marker)
    qid = sender.send(smtp_marker)
    assert "status=sent" in sender.wait_status(qid), sender.lines(qid)
    _, msg = smtp_backend.wait_message(smtp_marker)
    pcaps = {i: c.stop() for i, c in caps.items()}
    # Both markers reached the far end...
    assert got["message"].replace("\r\n", "\n") == text
    assert smtp_marker in msg["data"]
    # ...and the captures saw both sessions: inside the tunnel the PROXY
    # headers (the real clients, the SNI as authority) in front of TLS to
    # the home; on the public side the plaintext SMTP up to STARTTLS, then
    # both ClientHellos.
    headers = peers.tshark_fields(pcaps[wg], "proxy.v2.magic", "ip.dst", "tcp.dstport",
                                  "proxy.src.ipv4", "proxy.v2.tlv.value",
                                  options=["tcp.try_heuristic_first:TRUE"])
    seen = {(dst, port, src, vals.split(",")[0]) for dst, port, src, vals in headers}
    authority = MX.encode().hex()
    assert {(HOME, "993", CLIENT, authority), (HOME, "25", PEER, authority)} <= seen, headers
    pub = [i for i in ifaces if i != wg][0]
    cmds = peers.tshark_fields(pcaps[pub], "smtp.req", "ip.src", "smtp.command_line")
    assert any(src == PEER and line.startswith("STARTTLS") for src, line in cmds), cmds
    hellos = peers.tshark_fields(pcaps[pub], "tls.handshake.type == 1", "ip.src", "tcp.dstport",
                                 "tls.handshake.extensions_server_name")
    assert {(CLIENT, "993", MX), (PEER, "25", MX)} <= set(hellos), hellos
    for i, path in pcaps.items():
        data = path.read_bytes()
        for marker in (imap_marker, smtp_marker):
            assert not half_marker_in(data, marker), f"{marker} in plaintext on {i} ({path})"
    edge.relay_line(r"listener=imaps .*tenant=alice by=name")


# ---------------------------------------------------------------- 5. hostile input

HOSTILE_CONF = (EDGE_HEAD
                + listener("imaps", 993, "sni", handshake_timeout=f"{HANDSHAKE_TIMEOUT}s")
                + listener("idle", IDLE_PORT, "sni", tenant_port=993, handshake_timeout="60s")
                + listener("mx", 25, "starttls", handshake_timeout=f"{HANDSHAKE_TIMEOUT}s")
                + f"\n[egress]\naddress = {EDGE_TUNNEL}:{EGRESS_PORT}\n"
                + ALICE)


def test_hostile_clients_cost_only_their_own_connection(bench, start_edge, dovecot,
                                                         smtp_backend):
    edge = start_edge(HOSTILE_CONF)
    hostile = {}
    for kind, port in (("garbage", 993), ("garbage-record", 993), ("truncated", 993),
                       ("oversized", 993), ("oversized-records", 993), ("slow", 993),
                       ("unknown-sni", 993), ("pipelined", 25)):
        hostile[kind] = start_helper(bench, "client", "hostile", kind, EDGE, port)
    # While they are at it, well-behaved clients on other connections succeed.
    marker = secrets.token_hex(16)
    text = put_message(dovecot, marker)
    got = imaps_fetch(bench, dovecot, marker)
    assert got["message"].replace("\r\n", "\n") == text
    smtp_marker = secrets.token_hex(16)
    r = bench.host("client").run(PY, SELF, "smtp-starttls", EDGE, 25, MX, dovecot.cert,
                                 smtp_marker, timeout=40)
    good = json.loads(r.stdout)
    assert good["starttls"] == 220 and good["data"][0] == 250, good
    assert good["ehlo2"][1].startswith(f"{MX} hello good.client.test"), good
    conn, _ = smtp_backend.wait_message(smtp_marker)
    assert conn["proxy"]["homeport"] == [1, 1, 1, "good.client.test"]
    res = {k: helper_result(*v) for k, v in hostile.items()}

    # Garbage, a garbage TLS record, ClientHellos of over 20 KiB (one that
    # says it is longer than 16 KiB; one whose 1-byte records do not complete
    # it within the 20 KiB the edge reads): closed with nothing said, never
    # routed.
    for kind, end, why in (("garbage", "clienthello_invalid", "not a TLS handshake record"),
                           ("garbage-record", "clienthello_invalid", "bad session id"),
                           ("oversized", "clienthello_invalid",
                            "ClientHello longer than CLIENTHELLO_MAX"),
                           ("oversized-records", "clienthello_too_large", None)):
        r = res[kind]
        assert r["received"] == "" and r["end"] in ("eof", "reset"), (kind, r)
        line = edge.relay_line_of(r["port"])
        assert "tenant=- by=none" in line and f"end={end}" in line, (kind, line)
        if why:
            sid = re.search(r"sid=(\S+)", line).group(1)
            assert f'sid={sid} event=clienthello result=invalid error="{why}"' in \
                "\n".join(edge.d.lines), (kind, why)
    assert res["oversized"]["sent"] > 20 * 1024, res["oversized"]
    assert res["oversized-records"]["sent"] > 20 * 1024, res["oversized-records"]
    # A truncated ClientHello and one byte a second: closed at handshake_timeout.
    for kind in ("truncated", "slow"):
        r = res[kind]
        assert r["received"] == "" and r["end"] == "eof", (kind, r)
        assert HANDSHAKE_TIMEOUT - 0.5 < r["seconds"] < HANDSHAKE_TIMEOUT + 5, (kind, r)
        line = edge.relay_line_of(r["port"])
        assert "tenant=- by=none" in line and "end=handshake_timeout" in line, (kind, line)
    assert res["slow"]["sent"] < 10, res["slow"]
    # A name no tenant has: the TLS alert unrecognized_name.
    assert "UNRECOGNIZED_NAME" in res["unknown-sni"]["error"], res["unknown-sni"]
    line = edge.relay_line_of(res["unknown-sni"]["port"])
    assert 'by=none name="mail.nobody.test"' in line and "end=no_route" in line, line
    # Commands pipelined after STARTTLS: 554 and a close, no 220.
    out = res["pipelined"]["received"]
    assert out.endswith("554 5.5.0 Error: bytes sent after STARTTLS\r\n"), out
    assert "220 2.0.0" not in out and res["pipelined"]["end"] == "eof", out
    line = edge.relay_line_of(res["pipelined"]["port"])
    assert "listener=mx" in line and "tenant=- by=none" in line, line


def test_ten_thousand_idle_connections_do_not_starve_others(bench, start_edge, dovecot):
    n = IDLE_CONNECTIONS
    assert NOFILE == resource.RLIM_INFINITY or NOFILE >= n + 1024, \
        f"the hard limit on open files ({NOFILE}) is too low for {n} connections"
    edge = start_edge(HOSTILE_CONF)
    fds_before = edge.fds()
    proc, log = start_helper(bench, "client", "idle", EDGE, IDLE_PORT, n, stdin=subprocess.PIPE)
    try:
        opened = peers._wait("idle connections open",
                             lambda: re.search(r'\{"open": \d+.*', log.read_text()), 60, proc)
        assert json.loads(opened.group(0))["open"] == n, log.read_text()
        # The edge accepted them all (one descriptor each), and holds them.
        peers._wait("the edge holding them", lambda: edge.fds() >= fds_before + n, 30)
        # Meanwhile a client gets its mail, on the same listener and another one.
        for port in (993, IDLE_PORT):
            marker = secrets.token_hex(16)
            text = put_message(dovecot, marker)
            got = imaps_fetch(bench, dovecot, marker, port=port)
            assert got["message"].replace("\r\n", "\n") == text, port
    finally:
        proc.popen.stdin.close()             # the helper closes its connections
    res = helper_result(proc, log, timeout=60)
    assert res["closed_by_edge"] == 0, res
    peers._wait("the edge letting them go", lambda: edge.fds() < fds_before + 10, 30)
    edge.relay_line(r"listener=idle .*end=client_closed_early")


def test_egress_refuses_forbidden_destinations_and_reaches_the_peer(bench, start_edge):
    pf = peers.postfix(bench)
    edge = start_edge(HOSTILE_CONF)
    cases = [(PEER, 80, 2, "port_not_allowed"), ("127.0.0.1", 25, 2, "special_address"),
             (EDGE_TUNNEL, 25, 2, "edge_address"), (EDGE, 25, 2, "edge_address"),
             (HOME, 25, 2, "tunnel_address")]
    for dst, port, code, reason in cases:
        m = edge.d.mark()
        r = bench.host("home").run(PY, SELF, "socks", EDGE_TUNNEL, EGRESS_PORT, HOME, dst, port,
                                   timeout=30)
        got = json.loads(r.stdout)
        assert got["method"] == "0500" and got["rep"] == code, (dst, port, got)
        line = edge.d.wait_for(r"event=egress tenant=alice ", start=m)
        assert f"end={reason}" in line, line
    # A permitted CONNECT reaches the peer's Postfix, which sees the edge's
    # public address as the client.
    m, mark = edge.d.mark(), len(pf.log())
    r = bench.host("home").run(PY, SELF, "socks", EDGE_TUNNEL, EGRESS_PORT, HOME, PEER, 25,
                               timeout=30)
    got = json.loads(r.stdout)
    assert got["rep"] == 0, got
    assert got["banner"] == f"220 {peers.PEER_HOSTNAME} ESMTP", got
    assert got["quit"].startswith("221 "), got
    wait_after("the peer's smtpd", pf.log, mark,
               rf"postfix/smtpd\[\d+\]: connect from unknown\[{re.escape(EDGE)}\]")
    line = edge.d.wait_for(rf"event=egress tenant=alice .*dst={re.escape(PEER)}:25 ", start=m)
    assert "end=" in line and "end=port_not_allowed" not in line, line


# ================================================================ helpers, run as scripts

def _json_out(obj):
    print(json.dumps(obj), flush=True)


def cmd_imaps(a):
    """imaps ADDR PORT SNI CAFILE USER PASSWORD MARKER: log in, select INBOX,
    find and fetch the message with MARKER in its body."""
    import imaplib

    addr, port, sni, cafile, user, password, marker = a
    ctx = ssl.create_default_context(cafile=cafile)

    class ImapsTo(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout):
            sock = socket.create_connection((addr, self.port), timeout)
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)

    m = ImapsTo(sni, int(port), ssl_context=ctx, timeout=15)
    out = {"port": m.sock.getsockname()[1]}
    typ, data = m.login(user, password)
    out["login"] = f"{typ} {data[0].decode()}"
    typ, _ = m.select("INBOX")
    out["select"] = typ
    typ, data = m.uid("SEARCH", None, "BODY", marker)
    uids = data[0].split()
    assert typ == "OK" and len(uids) == 1, (typ, data)
    out["uid"] = int(uids[0])
    typ, data = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
    out["message"] = data[0][1].decode()
    m.logout()
    _json_out(out)


def _recv_all(sock, deadline):
    """Everything until the peer closes: (bytes, 'eof'|'reset'|'timeout')."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def client_hello(sni):
    """The bytes of a real ClientHello (OpenSSL's, through Python) for sni."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def oversized_hello(sni, pad):
    """A real ClientHello for sni with a padding extension (type 21) of pad
    bytes added, cut into TLS records of at most 16 KiB."""
    rec = client_hello(sni)
    assert rec[0] == 0x16 and rec[5] == 0x01
    hello = rec[9:9 + int.from_bytes(rec[6:9], "big")]
    p = 2 + 32
    p += 1 + hello[p]                                   # session id
    p += 2 + int.from_bytes(hello[p:p + 2], "big")      # cipher suites
    p += 1 + hello[p]                                   # compression methods
    exts = hello[p + 2:]
    exts = (21).to_bytes(2, "big") + pad.to_bytes(2, "big") + b"\x00" * pad + exts
    hello = hello[:p] + len(exts).to_bytes(2, "big") + exts
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    out = b""
    for i in range(0, len(hs), 16384):
        frag = hs[i:i + 16384]
        out += b"\x16\x03\x01" + len(frag).to_bytes(2, "big") + frag
    return out


def _records(data):
    """Offsets of the TLS records in data."""
    i = 0
    while i < len(data):
        yield i
        i += 5 + int.from_bytes(data[i + 3:i + 5], "big")


def cmd_hostile(a):
    """hostile KIND ADDR PORT: one misbehaving client; prints what came back."""
    kind, addr, port = a[0], a[1], int(a[2])
    out = {"kind": kind, "sent": 0}
    start = time.monotonic()
    deadline = start + 20
    s = socket.create_connection((addr, port), timeout=10)
    out["port"] = s.getsockname()[1]
    received, end = b"", None

    def send(data):
        try:
            s.sendall(data)
            out["sent"] += len(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    if kind == "garbage":
        send(b"\x80\x00GARBAGE" + os.urandom(1000))
    elif kind == "garbage-record":
        # A handshake record holding a ClientHello of random bytes, but for
        # its version (TLS 1.2) and a session id length over 32.
        body = bytearray(os.urandom(508))
        body[0:2] = b"\x03\x03"
        body[34] = 0xFF
        send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc" + bytes(body))
    elif kind == "truncated":
        hello = client_hello("mail.alice.test")
        send(hello[:len(hello) // 2])                   # and then nothing, no EOF
    elif kind == "oversized":
        send(oversized_hello("mail.alice.test", 21000))
    elif kind == "oversized-records":
        # 4 KiB of ClientHello, one byte per record: 24 KiB on the wire.
        hello = oversized_hello("mail.alice.test", 4096 - 600)
        hs = b"".join(hello[i + 5:i + 5 + int.from_bytes(hello[i + 3:i + 5], "big")]
                      for i in _records(hello))
        send(b"".join(b"\x16\x03\x01\x00\x01" + hs[i:i + 1] for i in range(len(hs))))
    elif kind == "slow":
        for b in client_hello("mail.alice.test"):
            if not send(bytes([b])):
                end = "reset"
                break
            r, _, _ = select.select([s], [], [], 1.0)
            if r:
                break
            if time.monotonic() > deadline:
                break
    elif kind == "unknown-sni":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.wrap_socket(s, server_hostname="mail.nobody.test")
            out["error"] = "handshake succeeded"
        except (ssl.SSLError, OSError) as e:
            out["error"] = str(e)
        out["seconds"] = time.monotonic() - start
        _json_out(out)
        return
    elif kind == "pipelined":
        f = s.makefile("rb")
        received += f.readline()                        # the greeting
        send(b"EHLO hostile.example.test\r\n")
        while True:
            line = f.readline()
            received += line
            if not line or line[3:4] == b" ":
                break
        send(b"STARTTLS\r\nMAIL FROM:<a@hostile.example.test>\r\n")
    else:
        raise SystemExit(f"unknown kind {kind}")
    if end is None:
        more, end = _recv_all(s, deadline)
        received += more
    out["seconds"] = time.monotonic() - start
    out["received"] = received.decode("latin-1")
    out["end"] = end
    s.close()
    _json_out(out)


def cmd_idle(a):
    """idle ADDR PORT N: open N connections and send nothing on them; hold
    them until stdin closes (at most 120 s), then report how many the other
    side had closed meanwhile."""
    addr, port, n = a[0], int(a[1]), int(a[2])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = n + 1024 if hard == resource.RLIM_INFINITY else min(n + 1024, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    socks = []
    start = time.monotonic()
    for _ in range(n):
        s = socket.create_connection((addr, port), timeout=10)
        socks.append(s)
        if time.monotonic() - start > 60:
            break
    _json_out({"open": len(socks), "seconds": round(time.monotonic() - start, 2)})
    select.select([sys.stdin], [], [], 120)
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    closed = len(poller.poll(0))            # readable: EOF or reset (nothing is ever sent)
    for s in socks:
        s.close()
    _json_out({"open": len(socks), "closed_by_edge": closed})


def _read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def cmd_socks(a):
    """socks PROXY PORT SOURCE DST DPORT: SOCKS5 CONNECT from SOURCE; on
    success read the SMTP banner and say QUIT."""
    proxy, pport, source, dst, dport = a[0], int(a[1]), a[2], a[3], int(a[4])
    s = socket.socket()
    s.settimeout(15)
    s.bind((source, 0))
    s.connect((proxy, pport))
    s.sendall(b"\x05\x01\x00")
    out = {"method": _read_exact(s, 2).hex()}
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(dst) + dport.to_bytes(2, "big"))
    reply = _read_exact(s, 10)
    out["reply"] = reply.hex()
    out["rep"] = reply[1] if len(reply) > 1 else None
    if out["rep"] == 0:
        f = s.makefile("rwb")
        out["banner"] = f.readline().decode().rstrip("\r\n")
        f.write(b"QUIT\r\n")
        f.flush()
        out["quit"] = f.readline().decode().rstrip("\r\n")
    else:
        rest, end = _recv_all(s, time.monotonic() + 10)
        out["after"], out["end"] = rest.hex(), end
    s.close()
    _json_out(out)


def cmd_smtp_starttls(a):
    """smtp-starttls ADDR PORT SNI CAFILE MARKER: a well-behaved SMTP client
    of a starttls listener: EHLO, STARTTLS with SNI, EHLO, one message."""
    import smtplib

    addr, port, sni, cafile, marker = a[0], int(a[1]), a[2], a[3], a[4]
    s = smtplib.SMTP(addr, port, local_hostname="good.client.test", timeout=15)
    out = {"ehlo1": s.ehlo()[0]}
    s._host = sni                     # smtplib sends as SNI the host it was given
    out["starttls"] = s.starttls(context=ssl.create_default_context(cafile=cafile))[0]
    code, msg = s.ehlo()
    out["ehlo2"] = [code, msg.decode()]
    out["mail"] = s.mail("carol@client.example.test")[0]
    out["rcpt"] = s.rcpt(f"bob@{DOMAIN}")[0]
    out["data"] = list(s.data(f"Subject: good\r\n\r\nbody marker {marker}\r\n".encode()))
    out["data"][1] = out["data"][1].decode()
    s.quit()
    _json_out(out)


def cmd_smtp_backend(a):
    """smtp-backend ADDR PORT DIR CERT KEY: the home's SMTP after the edge's
    STARTTLS. Per connection: read the PROXY header (edgepeer.read_proxy),
    TLS at once, then SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT);
    write DIR/conn-N.json when the connection ends."""
    sys.path.insert(0, str(HERE))
    from edgepeer import read_proxy

    addr, port, outdir, cert, key = a[0], int(a[1]), pathlib.Path(a[2]), a[3], a[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server((addr, port), backlog=128)
    seq = {"n": 0}
    lock = threading.Lock()
    name = MX
    data_max = 10 << 20

    def serve(conn, peer, n):
        rec = {"peer": list(peer), "proxy": None, "ehlo": [], "messages": [], "error": None}
        conn.settimeout(30)
        try:
            h = read_proxy(conn)
            rec["proxy"] = {"version": h.version, "command": h.command, "src": h.src,
                            "dst": h.dst, "authority": h.authority if h.version == 2 else None,
                            "unique_id": (h.unique_id or b"").decode() if h.version == 2 else None,
                            "homeport": h.homeport if h.version == 2 else None}
            tls = ctx.wrap_socket(conn, server_side=True)
            f = tls.makefile("rwb")
            mail_from, rcpts = None, []

            def reply(text):
                f.write(text.encode() + b"\r\n")
                f.flush()

            while True:
                line = f.readline(1001)
                if not line:
                    break
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb, _, arg = cmd.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    rec["ehlo"].append(arg.strip())
                    mail_from, rcpts = None, []
                    reply(f"250-{name} hello {arg.strip()}\r\n250-SIZE {data_max}\r\n"
                          f"250 8BITMIME")
                elif verb == "MAIL":
                    m = re.match(r"(?i)FROM:\s*<([^>]*)>", arg)
                    if not m:
                        reply("501 5.5.4 syntax")
                        continue
                    mail_from, rcpts = m.group(1), []
                    reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"(?i)TO:\s*<([^>]+)>", arg)
                    if mail_from is None or not m:
                        reply("503 5.5.1 MAIL first")
                        continue
                    rcpts.append(m.group(1))
                    reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not rcpts:
                        reply("503 5.5.1 RCPT first")
                        continue
                    reply("354 End data with <CR><LF>.<CR><LF>")
                    body, size = [], 0
                    while True:
                        dl = f.readline(1001)
                        if not dl:
                            raise EOFError("EOF in DATA")
                        if dl in (b".\r\n", b".\n"):
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        size += len(dl)
                        if size > data_max:
                            raise ValueError("message too big")
                        body.append(dl)
                    rec["messages"].append({"mail_from": mail_from, "rcpt_to": rcpts,
                                            "data": b"".join(body).decode("utf-8", "replace")})
                    mail_from, rcpts = None, []
                    reply(f"250 2.0.0 Ok: queued as {n}-{len(rec['messages'])}")
                elif verb in ("RSET", "NOOP"):
                    if verb == "RSET":
                        mail_from, rcpts = None, []
                    reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    reply("221 2.0.0 Bye")
                    break
                else:
                    reply("502 5.5.2 not implemented")
            try:
                tls.unwrap()
            except (ssl.SSLError, OSError):
                pass
        except Exception as e:  # recorded for the test to report
            rec["error"] = repr(e)
        finally:
            conn.close()
            tmp = outdir / f".conn-{n:05d}.tmp"
            tmp.write_text(json.dumps(rec))
            tmp.rename(outdir / f"conn-{n:05d}.json")

    print("ready", flush=True)
    while True:
        conn, peer = lsock.accept()
        with lock:
            seq["n"] += 1
            n = seq["n"]
        threading.Thread(target=serve, args=(conn, peer, n), daemon=True).start()


def main():
    commands = {"imaps": cmd_imaps, "hostile": cmd_hostile, "idle": cmd_idle,
                "socks": cmd_socks, "smtp-starttls": cmd_smtp_starttls,
                "smtp-backend": cmd_smtp_backend}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}} ARGS...")
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
