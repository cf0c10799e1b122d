"""Postfix as a real sending MTA delivering to homeportd, on loopback.

A private Postfix (tests/integration/mta.py: its own configuration, queue
and log under the test's directory) takes messages from smtplib and
relays them to homeportd's MX listener on 127.0.0.1, choosing the way by
the envelope sender:

    plain@peer.test   Postfix's smtp client with TLS off
    tls@peer.test     Postfix's smtp client with STARTTLS required
                      (smtp_tls_security_level = encrypt)

Each message carries a unique tag. It must arrive exactly once in each of
its recipients' INBOX in mail.db and nowhere else, with its bytes intact
(8-bit too), and Postfix's log must say status=sent for every recipient,
with the TLS session logged for the STARTTLS route, and leave nothing in
its queue."""
import re
import secrets
import smtplib
import time

import pytest

import mta

DOMAIN = "alice.test"
USERS = ("alice", "bob", "carol")
OTHER_DOMAIN = "bob.test"          # a second local domain
OTHER_USERS = ("dave",)
DELIVERY_TIMEOUT = 60               # s for Postfix to hand everything over


@pytest.fixture
def home(bindir, tmp_path):
    h = mta.start_home(tmp_path / "home", bindir,
                       {DOMAIN: USERS, OTHER_DOMAIN: OTHER_USERS})
    yield h
    h.stop()


@pytest.fixture
def postfix(home, tmp_path):
    tmp_path.chmod(0o755)       # Postfix drops to its own user and must reach its directory
    nexthop = f"[{mta.HOST}]:{home.port}"
    pf = mta.Postfix(tmp_path / "postfix", mta.free_port(), hostname="mx.peer.test",
                     routes={"plain@peer.test": f"plain:{nexthop}",
                             "tls@peer.test": f"tls:{nexthop}"})
    yield pf
    pf.stop()


def inject(pf, sender, rcpts, body, eightbit=False):
    """Give one message to Postfix by SMTP; returns its queue id."""
    with smtplib.SMTP(mta.HOST, pf.port, local_hostname="client.peer.test", timeout=30) as s:
        code, _ = s.ehlo()
        assert code == 250
        opts = ["BODY=8BITMIME"] if eightbit else []
        s.mail(sender, opts)
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = s.data(body)
        assert code == 250, (code, text)
    m = re.search(rb"queued as ([0-9A-F]+)", text)
    assert m, text
    return m.group(1).decode()


def message(tag, sender, rcpts, subject, text):
    head = (f"From: <{sender}>\r\nTo: {', '.join('<%s>' % r for r in rcpts)}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{tag}@peer.test>\r\nX-Tag: {tag}\r\n")
    return head.encode() + b"\r\n" + text


def wait_sent(pf, qid, rcpts):
    """The log lines saying status=sent for each of qid's recipients."""
    lines = {}
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        log = pf.log()
        for r in rcpts:
            m = re.search(rf"^.* {qid}: to=<{re.escape(r)}>, .*status=(\w+).*$", log, re.M)
            if m and m.group(1) == "sent":
                lines[r] = m.group(0)
        if len(lines) == len(rcpts):
            return lines
        pf.flush()
        time.sleep(0.5)
    pytest.fail(f"Postfix did not send {qid} to all of {rcpts} within {DELIVERY_TIMEOUT} s; "
                f"queue: {pf.queue()}\nlog:\n{pf.log()[-4000:]}")


def test_postfix_delivers_to_homeportd(home, postfix):
    run = secrets.token_hex(4)
    utf8 = "Grüße aus Köln, ½ € — 8-bit body\r\n".encode()
    cases = [
        # name, sender, recipients, body text, 8-bit
        ("plain", "plain@peer.test", [f"alice@{DOMAIN}"], b"plain text, no TLS\r\n", False),
        ("starttls", "tls@peer.test", [f"bob@{DOMAIN}"], b"over STARTTLS\r\n", False),
        ("several", "plain@peer.test",
         [f"alice@{DOMAIN}", f"bob@{DOMAIN}", f"carol@{DOMAIN}", f"dave@{OTHER_DOMAIN}"],
         b"one message, four recipients in two domains\r\n", False),
        ("several-tls", "tls@peer.test", [f"carol@{DOMAIN}", f"dave@{OTHER_DOMAIN}"],
         b"two recipients over STARTTLS\r\n", False),
        ("8bit", "plain@peer.test", [f"carol@{DOMAIN}"], utf8, True),
        ("8bit-tls", "tls@peer.test", [f"alice@{DOMAIN}"], utf8, True),
    ]
    sent = {}
    for name, sender, rcpts, text, eightbit in cases:
        tag = f"{name}-{run}"
        body = message(tag, sender, rcpts, f"test {name}", text)
        qid = inject(postfix, sender, rcpts, body, eightbit)
        sent[tag] = (name, sender, rcpts, body, qid)

    log_lines = {}
    for tag, (name, sender, rcpts, body, qid) in sent.items():
        log_lines[tag] = wait_sent(postfix, qid, rcpts)
        for r, line in log_lines[tag].items():
            assert f"relay=127.0.0.1[127.0.0.1]:{home.port}" in line, line
            route = "tls" if sender.startswith("tls@") else "plain"
            assert f"postfix/{route}/smtp[" in line, line
    assert postfix.queue() == [], "Postfix still holds messages"

    log = postfix.log()
    # The STARTTLS route really used TLS (each of its deliveries by an smtp
    # process that set up a TLS session with homeportd); the plain one never did.
    for tag, (name, sender, rcpts, body, qid) in sent.items():
        if sender.startswith("tls@"):
            for line in log_lines[tag].values():
                pid = re.search(r"postfix/tls/smtp\[(\d+)\]", line).group(1)
                assert re.search(rf"postfix/tls/smtp\[{pid}\]: \w+ TLS connection established "
                                 rf"to 127\.0\.0\.1\[127\.0\.0\.1\]:{home.port}: TLSv1\.[23]", log), line
    assert re.search(rf"postfix/tls/smtp\[\d+\]: (Anonymous|Untrusted|Trusted|Verified) TLS "
                     rf"connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{home.port}: TLSv1\.[23]",
                     log), log[-3000:]
    assert not re.search(r"postfix/plain/smtp\[\d+\]: .*TLS connection established", log)

    # Each tag exactly once in each recipient's INBOX, nowhere else, bytes intact.
    stored = mta.store_messages(home.db_path)
    everyone = [f"{u}@{DOMAIN}" for u in USERS] + [f"{u}@{OTHER_DOMAIN}" for u in OTHER_USERS]
    for tag, (name, sender, rcpts, body, qid) in sent.items():
        found = [m for m in stored if f"X-Tag: {tag}\r\n".encode() in m["body"]]
        where = sorted((m["address"], m["mailbox"]) for m in found)
        assert where == sorted((r, "INBOX") for r in rcpts), (name, where)
        for m in found:
            # What Postfix sent ends the stored message: homeportd only
            # prepends trace headers (Return-Path, Received); Postfix adds
            # Date (none given) and keeps the rest byte for byte.
            assert m["body"].endswith(b"\r\n\r\n" + body.split(b"\r\n\r\n", 1)[1]), name
            head = m["body"].split(b"\r\n\r\n", 1)[0]
            assert f"X-Tag: {tag}".encode() in head
            assert m["size"] == len(m["body"])
        # One body shared by the recipients of one message.
        assert len({m["body_id"] for m in found}) == 1, name
    assert len(stored) == sum(len(v[2]) for v in sent.values()), "unexpected extra messages"
    assert {m["address"] for m in stored} <= set(everyone)


def test_received_header_names_tls(home, postfix):
    """homeportd's Received header says whether the session used TLS (and
    which version), as the issue asks: over the STARTTLS route it names the
    TLS version, over the plain route it does not."""
    run = secrets.token_hex(4)
    tags = {}
    for route in ("plain", "tls"):
        tag = f"received-{route}-{run}"
        sender = f"{route}@peer.test"
        rcpts = [f"alice@{DOMAIN}"]
        qid = inject(postfix, sender, rcpts, message(tag, sender, rcpts, "trace", b"x\r\n"))
        wait_sent(postfix, qid, rcpts)
        tags[route] = tag
    stored = mta.store_messages(home.db_path)
    for route, tag in tags.items():
        (m,) = [m for m in stored if f"X-Tag: {tag}\r\n".encode() in m["body"]]
        head = m["body"].split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        # The first Received header (unfolded) is homeportd's.
        received = re.search(r"^Received:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)
        assert received, head
        text = re.sub(r"\r\n[ \t]+", " ", received.group(1))
        assert "127.0.0.1" in text, text
        if route == "tls":
            assert re.search(r"TLSv?1\.[23]", text), text
        else:
            assert not re.search(r"TLSv?1\.", text), text
