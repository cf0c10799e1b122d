"""homeportd's SMTP server on loopback, with real clients: Python's
smtplib, swaks, and raw sockets where the bytes themselves are the test
(smuggling, PROXY headers, pipelining).

One homeportd (tests/integration/homed.py) serves the module:

    mx      smtp        127.0.0.1, STARTTLS offered
    edge    smtp        proxy = yes from 127.0.0.1 only (the edge)
    sub     submission  587-like: STARTTLS, then AUTH
    subs    submissions 465-like: implicit TLS

with example.test (alice, bob with a quota, an alias team) and
other.example (carol). What homeportd accepted is read back from mail.db.
"""
import socket
import smtplib
import ssl
import subprocess
import threading
import time

import pytest

from homed import Home, proxy_header, tls_context

DOMAIN = "example.test"
ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@other.example"
BOB_QUOTA = 20000
SIZE_MAX = 100 * 1024


@pytest.fixture(scope="module")
def home(bindir, tmp_path_factory):
    h = Home(bindir.parent, tmp_path_factory.mktemp("home"), hostname="mx.home.test",
             smtp={"message_size_max": SIZE_MAX, "max_recipients": 5, "max_errors": 8},
             auth={"fail_delay": "100ms", "fail_delay_max": "200ms", "lockout_failures": 3,
                   "lockout_time": "10m"})
    h.listener("mx", "smtp")
    h.listener("edge", "smtp", proxy_from="127.0.0.1", max_per_source=2)
    h.listener("sub", "submission")
    h.listener("subs", "submissions")
    h.start()
    try:
        h.add_domain(DOMAIN)
        h.add_domain("other.example")
        h.passwords = {ALICE: h.add_user(ALICE), BOB: h.add_user(BOB, quota=BOB_QUOTA),
                       CAROL: h.add_user(CAROL), "dave@example.test": h.add_user("dave@example.test")}
        h.add_alias("team@example.test", ALICE, BOB)
        yield h
    finally:
        status = h.stop()
        assert status == 0, h.tail()


def count(home, user):
    return len(home.messages(user))


class Raw:
    """SMTP over a socket (or a TLS object with sendall/recv), byte-exact."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    @classmethod
    def connect(cls, port, host="127.0.0.1", source=None, greet=True):
        s = socket.create_connection((host, port), timeout=10, source_address=source)
        r = cls(s)
        if greet:
            assert r.reply()[0] == 220
        return r

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """One reply, all its lines: (code, b"text\\n...")."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; so far %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self):
        """True once the server closed (EOF) with nothing more to read."""
        try:
            self.sock.settimeout(5)
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()


# ---- MX ----------------------------------------------------------------------

def test_deliver_with_smtplib(home):
    before = count(home, ALICE)
    with smtplib.SMTP("127.0.0.1", home.port("mx"), local_hostname="client.peer.test", timeout=10) as s:
        code, caps = s.ehlo()
        assert code == 250
        for cap in (b"PIPELINING", b"SIZE 102400", b"8BITMIME", b"SMTPUTF8", b"ENHANCEDSTATUSCODES",
                    b"STARTTLS", b"CHUNKING"):
            assert cap in caps
        assert b"AUTH" not in caps
        refused = s.sendmail("sender@peer.test", [ALICE], b"Subject: plain\r\n\r\nHello\r\n..dot\r\n")
        assert refused == {}
    msgs = home.messages(ALICE)
    assert len(msgs) == before + 1
    body = msgs[-1].body
    assert body.startswith(b"Return-Path: <sender@peer.test>\r\nReceived: from client.peer.test "
                           b"([127.0.0.1])\r\n\tby mx.home.test (Homeport) with ESMTP id ")
    assert body.endswith(b"\r\nSubject: plain\r\n\r\nHello\r\n..dot\r\n")   # smtplib stuffs, we unstuff
    home.wait_for(r"event=message result=accepted .*rcpts=1")


def swaks_tls():
    """swaks speaks TLS only with Net::SSLeay (Debian libnet-ssleay-perl)."""
    if subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"], capture_output=True).returncode != 0:
        pytest.skip("swaks has no TLS: install libnet-ssleay-perl")


def test_deliver_with_swaks(home):
    before = count(home, ALICE)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{home.port('mx')}", "--to", "team@example.test",
                        "--from", "swaks@peer.test", "--helo", "swaks.peer.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert count(home, ALICE) == before + 1


def test_deliver_with_swaks_over_starttls(home):
    swaks_tls()
    before = count(home, ALICE)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{home.port('mx')}", "--tls", "--to", ALICE,
                        "--from", "swaks@peer.test", "--helo", "swaks.peer.test",
                        "--header", "Subject: via swaks"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = home.messages(ALICE)
    assert len(msgs) == before + 1
    assert b"with ESMTPS id" in msgs[-1].body
    assert b"(using TLSv1.3 with cipher " in msgs[-1].body
    assert b"Subject: via swaks" in msgs[-1].body


def test_several_recipients_share_one_body(home):
    before = {u: count(home, u) for u in (ALICE, BOB, CAROL)}
    with smtplib.SMTP("127.0.0.1", home.port("mx"), timeout=10) as s:
        assert s.sendmail("s@peer.test", ["team@example.test", ALICE, CAROL],
                          b"Subject: all\r\n\r\nx\r\n") == {}
    bodies = set()
    for u in (ALICE, BOB, CAROL):
        msgs = home.messages(u)
        assert len(msgs) == before[u] + 1       # alice once, though named twice
        bodies.add(msgs[-1].body_id)
    assert len(bodies) == 1


def test_unknown_user_and_relay_refused(home):
    r = Raw.connect(home.port("mx"))
    assert r.cmd("EHLO c.peer.test")[0] == 250
    assert r.cmd("MAIL FROM:<s@peer.test>")[0] == 250
    code, text = r.cmd("RCPT TO:<nobody@example.test>")
    assert (code, text[:9]) == (550, b"550 5.1.1")
    code, text = r.cmd("RCPT TO:<someone@elsewhere.test>")
    assert (code, text[:9]) == (554, b"554 5.7.1")
    assert r.cmd("QUIT")[0] == 221
    r.close()


@pytest.mark.parametrize("rcpt,want", [
    ("<victim%elsewhere.test@example.test>", b"550 5.1.1"),      # percent hack
    ("<@example.test:victim@elsewhere.test>", b"554 5.7.1"),     # source route
    ("<@example.test,@mx.home.test:victim@elsewhere.test>", b"554 5.7.1"),
    ("<\"victim@elsewhere.test\"@example.test>", b"550 5.1.1"),  # quoted local part with @
    ("<elsewhere.test!victim@example.test>", b"550 5.1.1"),      # bang path
    ("<victim@[192.0.2.1]>", b"554 5.7.1"),                      # address literals
    ("<victim@[127.0.0.1]>", b"554 5.7.1"),
    ("<victim@[IPv6:2001:db8::1]>", b"554 5.7.1"),
    ("<victim@elsewhere.test.>", b"501 5.1.3"),                  # trailing dots
    ("<alice@example.test.>", b"501 5.1.3"),
    ("<victim@ELSEWHERE.test>", b"554 5.7.1"),
])
def test_open_relay_tricks_refused(home, rcpt, want):
    before = len(home.queue()), count(home, ALICE)
    r = Raw.connect(home.port("mx"))
    r.cmd("EHLO c.peer.test")
    assert r.cmd("MAIL FROM:<s@peer.test>")[0] == 250
    code, text = r.cmd(f"RCPT TO:{rcpt}")
    assert text[:9] == want, text
    assert r.cmd("DATA")[0] in (503, 554)        # no recipient: nothing to send to
    r.close()
    assert (len(home.queue()), count(home, ALICE)) == before


def test_local_domains_any_case(home):
    before = count(home, ALICE)
    with smtplib.SMTP("127.0.0.1", home.port("mx"), timeout=10) as s:
        assert s.sendmail("s@peer.test", ["alice@EXAMPLE.TEST", "alice@Example.Test"],
                          b"Subject: case\r\n\r\nx\r\n") == {}
    assert count(home, ALICE) == before + 1


SMUGGLED = (b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
            b"Subject: SMUGGLED\r\n\r\nwire the money\r\n")


@pytest.mark.parametrize("name,data", [pytest.param(n, d, id=n) for n, d in [
    ("LF.LF", b"x\n.\n" + SMUGGLED),
    ("LF.CRLF", b"x\n.\r\n" + SMUGGLED),
    ("CR.CR", b"x\r.\r" + SMUGGLED),
    ("CRLF.LF", b"x\r\n.\n" + SMUGGLED),
    ("CRLF.CR", b"x\r\n.\r" + SMUGGLED),
    ("bare LF", b"x\ny\r\n"),
    ("bare CR", b"x\ry\r\n"),
    ("bare LF at start", b"\n" + SMUGGLED),
    ("bare CR before CRLF.CRLF", b"x\r"),
    ("NUL", b"x\0y\r\n"),
    ("overlong line", b"y" * 1001 + b"\r\n"),
]])
def test_smuggling_refused(home, name, data):
    before = count(home, ALICE)
    r = Raw.connect(home.port("mx"))
    r.cmd("EHLO c.peer.test")
    assert r.cmd("MAIL FROM:<s@peer.test>")[0] == 250
    assert r.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: first\r\n\r\n" + data + b"\r\n.\r\n")
    code, text = r.reply()
    assert code == 550 and text.startswith(b"550 5.6.0 Message refused: "), text
    # Whatever the client meant to follow, the session is at a command now, and nothing came in.
    assert r.cmd("NOOP")[0] == 250
    r.cmd("QUIT")
    r.close()
    assert count(home, ALICE) == before
    assert not any(b"SMUGGLED" in m.body for m in home.messages())


def test_command_lines(home):
    r = Raw.connect(home.port("mx"))
    assert r.cmd("EHLO c.peer.test")[0] == 250
    r.send(b"NOOP\n")
    assert r.reply()[1][:9] == b"500 5.5.2"
    code, text = r.cmd("NOOP " + "x" * 993)     # 1000 octets with CRLF: the longest
    assert code == 250
    code, text = r.cmd("NOOP " + "x" * 994)     # 1001
    assert text[:9] == b"500 5.5.2", text
    code, text = r.cmd("NOOP " + "x" * 5000)
    assert text[:9] == b"500 5.5.2", text
    assert r.cmd("NOOP")[0] == 250
    r.close()


def test_pipelining_in_order(home):
    before = count(home, ALICE)
    r = Raw.connect(home.port("mx"))
    r.send(b"EHLO c.peer.test\r\nMAIL FROM:<s@peer.test>\r\nRCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: piped\r\n\r\nx\r\n.\r\n"
           b"RSET\r\nNOOP\r\nQUIT\r\n")
    codes = [r.reply()[0] for _ in range(9)]
    assert codes == [250, 250, 550, 250, 354, 250, 250, 250, 221]
    assert r.closed()
    assert count(home, ALICE) == before + 1


def test_size_limit(home):
    before = count(home, ALICE)
    r = Raw.connect(home.port("mx"))
    r.cmd("EHLO c.peer.test")
    code, text = r.cmd(f"MAIL FROM:<s@peer.test> SIZE={SIZE_MAX + 1}")
    assert text[:9] == b"552 5.3.4", text
    # No SIZE given: refused as it streams past the limit, after the whole message.
    assert r.cmd("MAIL FROM:<s@peer.test>")[0] == 250
    assert r.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * (SIZE_MAX // 72 + 100) + b".\r\n")
    assert r.reply()[1][:9] == b"552 5.3.4"
    assert r.cmd("NOOP")[0] == 250
    r.close()
    assert count(home, ALICE) == before
    # smtplib says SIZE by itself: refused at MAIL.
    with smtplib.SMTP("127.0.0.1", home.port("mx"), timeout=30) as s:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("s@peer.test", [ALICE], b"x" * (SIZE_MAX + 10))
        assert e.value.smtp_code == 552


def test_quota_at_rcpt(home):
    r = Raw.connect(home.port("mx"))
    r.cmd("EHLO c.peer.test")
    assert r.cmd(f"MAIL FROM:<s@peer.test> SIZE={BOB_QUOTA + 1}")[0] == 250
    assert r.cmd(f"RCPT TO:<{BOB}>")[1][:9] == b"552 5.2.2"
    r.close()


# ---- submission --------------------------------------------------------------

def test_submission_587(home):
    before_bob, before_q = count(home, BOB), len(home.queue())
    with smtplib.SMTP("127.0.0.1", home.port("sub"), timeout=30) as s:
        code, caps = s.ehlo()
        assert b"AUTH" not in caps
        with pytest.raises(smtplib.SMTPResponseException) as e:
            s.docmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4")
            raise smtplib.SMTPResponseException(*s.docmd("NOOP"))
        code, text = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4")
        assert (code, text[:5]) == (530, b"5.7.0")
        code, text = s.docmd("MAIL", "FROM:<alice@example.test>")
        assert (code, text[:5]) == (530, b"5.7.0")
        s.starttls(context=tls_context())
        code, caps = s.ehlo()
        assert b"AUTH PLAIN LOGIN" in caps
        s.login(ALICE, home.passwords[ALICE])
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(BOB, [BOB], b"Subject: forged\r\n\r\nx\r\n")
        assert e.value.smtp_code == 553 and e.value.smtp_error.startswith(b"5.7.1")
        s.rset()
        assert s.sendmail(ALICE, [BOB, "friend@elsewhere.test", "other@remote.example"],
                          b"Subject: out\r\n\r\nhello\r\n") == {}
    assert count(home, BOB) == before_bob + 1
    body = home.messages(BOB)[-1].body
    assert b"with ESMTPSA id" in body
    assert b"\r\nDate: " in body and b"\r\nMessage-ID: <" in body
    q = home.queue()
    assert len(q) == before_q + 2
    assert {(row[0], row[1]) for row in q[-2:]} == {(ALICE, "friend@elsewhere.test"),
                                                    (ALICE, "other@remote.example")}
    assert q[-1][2] == q[-2][2] == home.messages(BOB)[-1].body_id     # one body for all


def test_submissions_465_login(home):
    before_q = len(home.queue())
    with smtplib.SMTP_SSL("127.0.0.1", home.port("subs"), context=tls_context(), timeout=30) as s:
        s.ehlo()
        s.user, s.password = CAROL, home.passwords[CAROL]
        code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
        assert s.sendmail(CAROL, ["x@elsewhere.test"], b"Subject: s\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                          b"Message-ID: <m@other.example>\r\n\r\nhi\r\n") == {}
    assert home.queue()[-1][:2] == (CAROL, "x@elsewhere.test")
    assert len(home.queue()) == before_q + 1


def test_submission_with_swaks(home):
    swaks_tls()
    before = count(home, ALICE)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{home.port('sub')}", "--tls", "--auth", "PLAIN",
                        "--auth-user", BOB, "--auth-password", home.passwords[BOB], "--from", BOB,
                        "--to", ALICE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert count(home, ALICE) == before + 1


def test_logins_being_checked_do_not_hold_up_other_sessions(home):
    """Password checks (Argon2id, about 0.1 s each) run on a worker thread.
    While eight logins wait their turn there, another session keeps being
    answered: within the wait of the slowest login, dozens of NOOPs come
    back. Were the checks on the event loop, at most one NOOP would slip
    through between two checks (about nine in all)."""
    logins = []                 # (AUTH sent, 235 received)
    errors = []

    def login(i):
        try:
            with smtplib.SMTP_SSL("127.0.0.1", home.port("subs"), context=tls_context(), timeout=30,
                                  source_address=(f"127.0.0.{40 + i}", 0)) as s:
                s.ehlo()
                sent = time.monotonic()
                s.login(ALICE, home.passwords[ALICE])
                logins.append((sent, time.monotonic()))
        except Exception as e:      # reported below, from the test's thread
            errors.append(e)

    other = Raw.connect(home.port("mx"), source=("127.0.0.39", 0))
    assert other.cmd("EHLO other.test")[0] == 250
    threads = [threading.Thread(target=login, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    replies = []
    while any(t.is_alive() for t in threads):
        assert other.cmd("NOOP")[0] == 250
        replies.append(time.monotonic())
    for t in threads:
        t.join()
    other.cmd("QUIT")
    other.close()
    assert not errors, errors
    assert len(logins) == 8
    most = max(sum(1 for r in replies if sent < r < done) for sent, done in logins)
    assert most >= 30, f"only {most} NOOPs answered during the longest login wait"


def test_failed_logins_throttled(home):
    user = "dave@example.test"
    mark = home.mark()
    with smtplib.SMTP_SSL("127.0.0.1", home.port("subs"), context=tls_context(), timeout=30) as s:
        s.ehlo()
        s.user, s.password = user, "wrong password"
        for _ in range(3):      # lockout_failures = 3
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                s.auth("PLAIN", s.auth_plain)
            assert e.value.smtp_code == 535
    home.wait_for(r"event=auth result=failed user=\"dave@example.test\" known=yes", start=mark)
    home.wait_for(r"event=auth_lockout key=ip:127.0.0.1 failures=3", start=mark)
    home.wait_for(r"event=auth_lockout key=\"uid:\d+\" user=\"dave@example.test\"", start=mark)
    # Locked: the right password is refused too, with a temporary code.
    with smtplib.SMTP_SSL("127.0.0.1", home.port("subs"), context=tls_context(), timeout=30) as s:
        s.ehlo()
        s.user, s.password = user, home.passwords[user]
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.auth("PLAIN", s.auth_plain)
        assert e.value.smtp_code == 454
    home.wait_for(r"event=auth result=locked", start=mark)


# ---- PROXY -------------------------------------------------------------------

def test_proxy_without_tlv(home):
    before = count(home, ALICE)
    r = Raw.connect(home.port("edge"), greet=False)
    r.send(proxy_header("198.51.100.77", 40000, unique_id=b"0a1b2c3d4e5f"))
    assert r.reply()[0] == 220
    r.cmd("EHLO mta.peer.test")
    r.cmd("MAIL FROM:<s@peer.test>")
    assert r.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    assert r.cmd("Subject: proxied\r\n\r\nx\r\n.")[0] == 250
    r.cmd("QUIT")
    r.close()
    assert count(home, ALICE) == before + 1
    assert b"Received: from mta.peer.test ([198.51.100.77])" in home.messages(ALICE)[-1].body
    # The edge's log id, to find the same connection in the edge's log.
    home.wait_for(r"event=session listener=edge .*client=198\.51\.100\.77:40000 edge_sid=\"0a1b2c3d4e5f\" ")


class TlsBio:
    """Client TLS over a socket that has already sent other bytes: the
    ClientHello goes out in the same write as the PROXY header."""

    def __init__(self, sock, prefix):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = tls_context().wrap_bio(self.inc, self.out, server_hostname="mx.home.test")
        first = True
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = self.out.read()
                if first:
                    data, first = prefix + data, False
                if data:
                    sock.sendall(data)
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                self.inc.write(chunk)
        if self.out.pending:
            sock.sendall(self.out.read())

    def sendall(self, data):
        self.obj.write(data)
        self.sock.sendall(self.out.read())

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b""
                self.inc.write(chunk)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        self.sock.close()


def test_proxy_with_starttls_tlv(home):
    """The edge answered EHLO and STARTTLS: TLS at once, no greeting, EHLO again."""
    before = count(home, ALICE)
    s = socket.create_connection(("127.0.0.1", home.port("edge")), timeout=10)
    r = Raw(TlsBio(s, proxy_header("203.0.113.9", 41000, ehlo="mta.edge-client.test")))
    code, caps = r.cmd("EHLO mta.edge-client.test")
    assert code == 250 and b"STARTTLS" not in caps
    r.cmd("MAIL FROM:<s@peer.test>")
    assert r.cmd(f"RCPT TO:<{ALICE}>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    assert r.cmd("Subject: via edge\r\n\r\nx\r\n.")[0] == 250
    assert r.cmd("QUIT")[0] == 221
    s.close()
    assert count(home, ALICE) == before + 1
    body = home.messages(ALICE)[-1].body
    assert b"Received: from mta.edge-client.test ([203.0.113.9])" in body
    assert b"with ESMTPS" in body


def test_proxy_refused(home):
    # From an address not in proxy_from: closed, nothing said.
    r = Raw.connect(home.port("edge"), source=("127.0.0.2", 0), greet=False)
    r.send(proxy_header("198.51.100.1", 1234))
    assert r.closed()
    home.wait_for(r"event=proxy result=refused listener=edge peer=127\.0\.0\.2:\d+ error=\"not in proxy_from\"")
    # No header at all: a client talking SMTP directly.
    r = Raw.connect(home.port("edge"), greet=False)
    r.send(b"EHLO direct.test\r\n")
    assert r.closed()
    home.wait_for(r"event=proxy result=refused listener=edge error=")
    # A Homeport TLV of an unknown version.
    r = Raw.connect(home.port("edge"), greet=False)
    h = bytearray(proxy_header("198.51.100.1", 1234, ehlo="x.test"))
    h[28] = 2
    r.send(bytes(h))
    assert r.closed()


def test_proxy_per_client_limit(home):
    """max_per_source counts clients behind the edge, not the edge."""
    conns = []
    try:
        for i in range(2):
            r = Raw.connect(home.port("edge"), greet=False)
            r.send(proxy_header("198.51.100.200", 50000 + i))
            assert r.reply()[0] == 220
            conns.append(r)
        r = Raw.connect(home.port("edge"), greet=False)
        r.send(proxy_header("198.51.100.200", 50009))
        assert r.reply()[1][:9] == b"421 4.7.0"
        r.close()
        r = Raw.connect(home.port("edge"), greet=False)
        r.send(proxy_header("198.51.100.201", 50010))
        assert r.reply()[0] == 220
        conns.append(r)
    finally:
        for c in conns:
            c.close()


def test_reload_and_stop(bindir, tmp_path):
    """SIGHUP keeps serving; SIGTERM lets a message in DATA finish, then stops."""
    import signal
    h = Home(bindir.parent, tmp_path / "home2", smtp={"shutdown_grace": "20s"})
    h.listener("mx", "smtp")
    h.start()
    try:
        h.add_domain(DOMAIN)
        h.add_user(ALICE)
        mark = h.mark()
        h.signal(signal.SIGHUP)
        h.wait_for(r"event=reload result=ok", start=mark)
        idle = Raw.connect(h.port("mx"))
        busy = Raw.connect(h.port("mx"))
        busy.cmd("EHLO c.test")
        busy.cmd("MAIL FROM:<s@peer.test>")
        busy.cmd(f"RCPT TO:<{ALICE}>")
        assert busy.cmd("DATA")[0] == 354
        busy.send(b"Subject: late\r\n\r\nfirst half\r\n")
        time.sleep(0.2)
        h.signal(signal.SIGTERM)
        assert idle.reply()[1][:9] == b"421 4.3.2"
        busy.send(b"second half\r\n.\r\n")
        assert busy.reply()[0] == 250
        assert busy.reply()[1][:9] == b"421 4.3.2"
        assert h.proc.wait(20) == 0
        assert b"second half" in h.messages(ALICE)[-1].body
    finally:
        h.stop()
