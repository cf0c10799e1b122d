"""Delivery status notifications made by home/dsn (through tests/tools/dsnmake),
read by a parser nobody here wrote: Python's email package. It must find a
multipart/report with the three parts RFC 6522 and RFC 3464 (or RFC 6533)
call for, no defects anywhere, and in the delivery-status part the fields
dsnmake's fixed inputs put there.
"""
import datetime
import email
import email.parser
import email.policy
import email.utils
import re
import subprocess

import pytest

UTC = datetime.timezone.utc
# dsnmake's fixed inputs (tests/tools/dsnmake.c).
ARRIVAL = datetime.datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
NOW = datetime.datetime(2026, 3, 3, 10, 0, 0, tzinfo=UTC)
TRIED = datetime.datetime(2026, 3, 3, 9, 58, 12, tzinfo=UTC)
UNTIL = datetime.datetime(2026, 3, 7, 10, 0, 0, tzinfo=UTC)
LONG_DIAGNOSTIC = (
    "550-5.7.1 The user or domain that you are sending to (or from) has a policy that "
    "prohibited the mail that you sent. Please contact your domain administrator for "
    "further information. 550 5.7.1 https://support.peer.test/mail/answer/policy-rejections "
    "- peer.test")


@pytest.fixture
def dsnmake(tooldir):
    """The report for a scenario (and, if given, the original header section) as bytes."""

    def _make(scenario, headers=None):
        args = [str(tooldir / "dsnmake")] + (["-H"] if headers is not None else []) + [scenario]
        r = subprocess.run(args, input=headers, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout

    return _make


def parse(raw):
    """The report as Python reads it, with every part free of defects."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    assert msg.get_content_type() == "multipart/report"
    return msg


def unfold(value):
    return re.sub(r"\r?\n", "", str(value))


def groups(part):
    """The field groups of a message/delivery-status part: Python gives one message each."""
    blocks = part.get_payload()
    assert isinstance(blocks, list)
    return [{k: unfold(v) for k, v in b.items()} for b in blocks]


def test_failed(dsnmake):
    raw = dsnmake("failed")
    msg = parse(raw)
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.alice.test"
    assert msg["From"].addresses[0].display_name == "Mail Delivery System"
    assert msg["To"].addresses[0].addr_spec == "alice@alice.test"
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"] == "<dsn-test.1@mail.alice.test>"
    assert msg["In-Reply-To"] == "<lunch.42@alice.test>"
    assert msg["References"] == "<lunch.42@alice.test>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    boundary = msg.get_boundary()
    assert boundary.startswith("=_") and "dsn-test.1" in boundary

    text, status, headers = msg.get_payload()
    assert text.get_content_type() == "text/plain"
    assert text.get_content_charset() == "us-ascii"
    assert "<bob@peer.test>: the message could not be delivered." in text.get_content()
    assert "550 5.1.1 <bob@peer.test>: User unknown" in text.get_content()

    assert status.get_content_type() == "message/delivery-status"
    g = groups(status)
    assert g[0] == {"Reporting-MTA": "dns; mail.alice.test",
                    "Arrival-Date": "Mon, 02 Mar 2026 10:00:00 +0000"}
    assert email.utils.parsedate_to_datetime(g[0]["Arrival-Date"]) == ARRIVAL
    assert g[1:] == [{
        "Final-Recipient": "rfc822; bob@peer.test",
        "Action": "failed",
        "Status": "5.1.1",
        "Remote-MTA": "dns; mx.peer.test",
        "Diagnostic-Code": "smtp; 550 5.1.1 <bob@peer.test>: User unknown",
        "Last-Attempt-Date": "Tue, 03 Mar 2026 09:58:12 +0000",
    }]
    assert email.utils.parsedate_to_datetime(g[1]["Last-Attempt-Date"]) == TRIED

    assert headers.get_content_type() == "text/rfc822-headers"
    original = email.message_from_string(headers.get_payload(), policy=email.policy.default)
    assert original["Subject"] == "Lunch on Friday?"
    assert original["Message-ID"] == "<lunch.42@alice.test>"


def test_delayed(dsnmake):
    msg = parse(dsnmake("delayed"))
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    text, status, _ = msg.get_payload()
    assert "Still trying until Sat, 07 Mar 2026 10:00:00 +0000." in text.get_content()
    g = groups(status)
    assert len(g) == 2
    assert g[1]["Action"] == "delayed"
    assert g[1]["Status"] == "4.4.1"
    assert "Remote-MTA" not in g[1] and "Diagnostic-Code" not in g[1]
    assert email.utils.parsedate_to_datetime(g[1]["Will-Retry-Until"]) == UNTIL


def test_mixed_and_folded(dsnmake):
    raw = dsnmake("mixed")
    msg = parse(raw)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    text, status, _ = msg.get_payload()
    g = groups(status)
    assert [x["Final-Recipient"] for x in g[1:]] == [
        "rfc822; bob@peer.test", "rfc822; carol@peer.test", "rfc822; dave@peer.test",
        "rfc822; erin@nowhere.test"]
    assert [x["Action"] for x in g[1:]] == ["failed", "delayed", "failed", "failed"]
    assert "Will-Retry-Until" in g[2] and "Will-Retry-Until" not in g[1]
    assert "Remote-MTA" not in g[4] and "Diagnostic-Code" not in g[4]
    # The long answer comes back whole once unfolded; it was folded to 78 columns.
    assert g[3]["Diagnostic-Code"] == "smtp; " + LONG_DIAGNOSTIC
    start = raw.index(b"Diagnostic-Code: smtp; 550-5.7.1")
    lines = raw[start:raw.index(b"\r\nLast-Attempt-Date", start)].split(b"\r\n")
    assert len(lines) > 1
    assert all(len(x) <= 78 for x in lines)
    assert all(x.startswith(b" ") for x in lines[1:])
    # People read one paragraph per recipient, lines within 78 columns.
    body = text.get_content()
    for who in ("bob@peer.test", "carol@peer.test", "dave@peer.test", "erin@nowhere.test"):
        assert f"\n<{who}>: " in body.replace("\r\n", "\n")
    assert "Reason: no MX or address for nowhere.test" in body
    assert all(len(x) <= 78 for x in body.splitlines())


def unitext_decode(s):
    """RFC 6533's utf-8-addr-unitext to the address."""
    return re.sub(r"\\x\{([0-9A-F]{2,6})\}", lambda m: chr(int(m.group(1), 16)), s)


def test_utf8_global_types(dsnmake):
    msg = parse(dsnmake("utf8"))
    assert msg.get_param("report-type") == "global-delivery-status"
    text, status, headers = msg.get_payload()
    assert text.get_content_charset() == "utf-8"
    assert text["Content-Transfer-Encoding"] == "8bit"
    assert "<jürgen+news@bücher.test>: the message could not be delivered." in text.get_content()

    # Python knows message/global-delivery-status only as some message/*: the
    # first group comes as header fields, the others as its body.
    assert status.get_content_type() == "message/global-delivery-status"
    first = status.get_payload(0)
    assert first["Reporting-MTA"] == "dns; mail.alice.test"
    rest = first.get_payload(decode=True)
    blocks = [b for b in rest.split(b"\r\n\r\n") if b.strip()]
    assert len(blocks) == 1
    fields = email.parser.HeaderParser(policy=email.policy.default).parsestr(
        blocks[0].decode("utf-8") + "\r\n")
    kind, _, addr = fields["Final-Recipient"].partition("; ")
    assert kind == "utf-8"
    assert "+" not in addr
    assert unitext_decode(addr) == "jürgen+news@bücher.test"
    assert fields["Action"] == "failed"
    assert fields["Diagnostic-Code"] == "smtp; 550 5.1.1 mailbox unavailable"

    assert headers.get_content_type() == "message/global-headers"
    original = headers.get_payload(0)
    assert original["Subject"] == "Grüße aus Zürich"
    # Its address parser keeps the 8-bit bytes as surrogates.
    addr = original["To"].addresses[0].addr_spec
    assert addr.encode("utf-8", "surrogateescape").decode("utf-8") == "jürgen+news@bücher.test"


def test_lookalike_boundary_lines(dsnmake):
    """Header lines that start like our boundary: another boundary is taken,
    and they arrive in the third part as they were."""
    headers = (b"From: Alice <alice@alice.test>\r\n"
               b"--=_dsn-test.1_0000\r\n"
               b"--=_dsn-test.1_0001--\r\n"
               b"Subject: tricky\n")
    msg = parse(dsnmake("failed", headers))
    assert msg.get_boundary() == "=_dsn-test.1_0002"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert parts[2].get_payload() == headers.decode().replace("tricky\n", "tricky\r\n")
    assert "In-Reply-To" not in msg


def test_long_header_section_cut(dsnmake):
    """Over DSN_HEADERS_MAX (64 KiB): whole fields only, the folded one not split."""
    fields = [f"X-Fill-{i:05d}: {'x' * 80}\r\n".encode() for i in range(700)]
    fields[650] = b"Received: from a\r\n\tby b\r\n\tfor <bob@peer.test>\r\n"
    headers = b"".join(fields)
    assert len(headers) > 64 * 1024
    msg = parse(dsnmake("failed", headers))
    copied = msg.get_payload()[2].get_payload().encode()
    assert 0 < len(copied) <= 64 * 1024
    assert headers.startswith(copied)
    assert headers[len(copied):len(copied) + 1] not in (b" ", b"\t")
    assert copied.endswith(b"\r\n")
