"""DKIM signatures made by home/dkim (through tests/tools/dkimsign), verified
by a verifier nobody here wrote: Debian's python3-dkim (dkimpy), with its
DNS answered by a stub that serves the TXT records `homeport keys
dkim-genkey` printed for our keys.

Each message is signed with Ed25519-SHA256 and RSA-SHA256 and both
signatures are checked; tampered copies must fail.
"""
import re
import subprocess

import dkim
import pytest

DOMAIN = "example.test"
ED_SELECTOR = "ed2026"
RSA_SELECTOR = "rsa2026"


@pytest.fixture(scope="module")
def dkim_keys(bindir, tmp_path_factory):
    """Our two keys and the DNS that publishes their records."""
    d = tmp_path_factory.mktemp("dkim")
    records = {}
    paths = {}
    for alg, selector in (("ed25519", ED_SELECTOR), ("rsa", RSA_SELECTOR)):
        path = d / f"{alg}.key"
        r = subprocess.run([str(bindir / "homeport"), "keys", "dkim-genkey", "-a", alg, "-o", str(path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        record = r.stdout.strip()
        assert record.startswith(f"v=DKIM1; k={alg}; p=")
        again = subprocess.run([str(bindir / "homeport"), "keys", "dkim-record", str(path)],
                               capture_output=True, text=True, timeout=60)
        assert again.stdout.strip() == record
        records[f"{selector}._domainkey.{DOMAIN}.".encode()] = record.encode()
        paths[alg] = path
    return paths, records


@pytest.fixture
def sign(tooldir, dkim_keys):
    """Sign a message (bytes) with both keys; returns the signed message."""
    paths, _ = dkim_keys

    def _sign(message, *args, expect_ok=True):
        r = subprocess.run([str(tooldir / "dkimsign"), *args, f"{paths['ed25519']}:{ED_SELECTOR}",
                            f"{paths['rsa']}:{RSA_SELECTOR}"], input=message, capture_output=True,
                           timeout=60)
        if expect_ok:
            assert r.returncode == 0, r.stderr.decode()
            return r.stdout
        return r

    return _sign


@pytest.fixture
def verify(dkim_keys):
    """dkimpy's verdict on signature idx (0: Ed25519, 1: RSA) of a message."""
    _, records = dkim_keys
    queried = []

    def dnsfunc(name, timeout=5):
        queried.append(name)
        return records.get(name)

    def _verify(message, idx):
        d = dkim.DKIM(message)
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            return False
        # It checked the key we meant, under the algorithm we meant.
        want = (ED_SELECTOR, b"ed25519-sha256") if idx == 0 else (RSA_SELECTOR, b"rsa-sha256")
        assert queried[-1] == f"{want[0]}._domainkey.{DOMAIN}.".encode()
        assert d.signature_fields[b"a"] == want[1]
        return ok

    return _verify


def crlf(text):
    return text.replace("\n", "\r\n").encode()


def header_fields(signed):
    """The DKIM-Signature fields on top of a signed message, as lines."""
    head = signed.split(b"\r\nFrom:", 1)[0] + b"\r\n"
    return head.split(b"\r\n")[:-1]


BASIC = crlf("""From: Joe SixPack <joe@example.test>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700
Message-ID: <20030712040037.46341.5F8J@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hi.

We lost the game.  Are you hungry yet?

Joe.
""")


def eight_bit():
    body = "Grüße aus Köln — ½ € ✓\n".encode() + b"latin-1 \xe9t\xe9 \xff\xfe\r\n" + bytes(range(0x80, 0x100)) + b"\r\n"
    head = crlf("""From: =?utf-8?q?J=C3=B6rg?= <joerg@example.test>
To: a@example.net
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

""")
    return head + body.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


def long_header():
    words = " ".join(f"word{i}" for i in range(400))
    subject, line = [], "Subject:"
    for w in words.split():
        if len(line) + 1 + len(w) > 76:
            subject.append(line)
            line = ""
        line += " " + w
    subject.append(line)
    refs = "References:" + "".join(f"\n <{i}.thread@example.test>" for i in range(60))
    unfolded = "X-Long: " + "y" * 900
    return crlf("From: joe@example.test\nTo: a@example.net\n" + "\n".join(subject) + "\n" + refs + "\n"
                + unfolded + "\nDate: Fri, 11 Jul 2003 21:00:37 -0700\n\nbody\n")


def many_recipients():
    to = "To: " + ",\n ".join(f"Person {i} <p{i}@r{i % 7}.example.net>" for i in range(300))
    cc = "Cc: " + ",\n\t".join(f"c{i}@example.org" for i in range(200))
    return crlf(f"From: joe@example.test\n{to}\n{cc}\nSubject: to many\n\nhello all\n")


NO_FINAL_CRLF = crlf("From: joe@example.test\nTo: a@example.net\nSubject: no CRLF\n\nfirst line\n") + \
    b"the last line has no CRLF"

MESSAGES = {
    "basic": BASIC,
    "8bit-body": eight_bit(),
    "long-header": long_header(),
    "many-recipients": many_recipients(),
    "no-final-crlf": NO_FINAL_CRLF,
    "empty-body": crlf("From: joe@example.test\nSubject: nothing\n\n"),
    "header-only": b"From: joe@example.test\r\nSubject: no body at all",
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_dkimpy_verifies_both_signatures(sign, verify, name):
    signed = sign(MESSAGES[name])
    assert signed.endswith(MESSAGES[name])
    assert verify(signed, 0) is True
    assert verify(signed, 1) is True
    lines = header_fields(signed)
    assert sum(1 for line in lines if line.startswith(b"DKIM-Signature: ")) == 2
    assert all(len(line) <= 78 for line in lines), lines
    assert all(line.startswith((b"DKIM-Signature: ", b" ")) for line in lines)


def test_fields_signed(sign, verify):
    """h= lists the recommended fields present, From once more than it occurs."""
    signed = sign(BASIC)
    for idx in (0, 1):
        sig, include, _ = dkim.DKIM(signed).verify_headerprep(idx)
        assert include == [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                           b"content-type", b"from"]
        assert b"l" not in sig
        assert sig[b"d"] == DOMAIN.encode()
        assert sig[b"c"] == b"relaxed/relaxed"


@pytest.mark.parametrize("chunk", ["1", "2", "7", "100"])
def test_pieces_sign_the_same(sign, chunk):
    """Fed in pieces of any size, the signer writes the same fields (both algorithms are deterministic)."""
    for message in (BASIC, long_header(), NO_FINAL_CRLF):
        whole = sign(message, "-t", "1700000000")
        assert sign(message, "-t", "1700000000", "-c", chunk) == whole


def test_relaxed_survives_whitespace(sign, verify):
    """What relaxed canonicalization forgives: WSP runs, trailing WSP, trailing empty lines, refolding, name case."""
    signed = sign(BASIC)
    changed = signed.replace(b"We lost the game.  Are", b"We  lost \t the game. Are")
    changed = changed.replace(b"Joe.\r\n", b"Joe.   \r\n\r\n\r\n")
    changed = changed.replace(b"Subject: Is dinner ready?", b"SUBJECT:   Is dinner\r\n\tready?  ")
    for idx in (0, 1):
        assert verify(changed, idx) is True


TAMPERINGS = {
    "body-word": lambda m: m.replace(b"hungry", b"angry!"),
    "body-line-added": lambda m: m + b"P.S. send money\r\n",
    "body-empty-line-inside": lambda m: m.replace(b"Hi.\r\n", b"Hi.\r\n\r\n"),
    "subject": lambda m: m.replace(b"Is dinner ready?", b"Is lunch ready?"),
    "to": lambda m: m.replace(b"suzie@shopping", b"eve@shopping"),
    "second-from-on-top": lambda m: m.replace(b"From: Joe", b"From: Eve <eve@example.test>\r\nFrom: Joe", 1),
    "second-from-below": lambda m: m.replace(b"\r\n\r\nHi.", b"\r\nFrom: eve@example.test\r\n\r\nHi.", 1),
    "signature-char": lambda m: re.sub(rb"(\r\n b=)(.)", lambda x: x[1] + (b"B" if x[2] != b"B" else b"C"), m),
    "timestamp": lambda m: re.sub(rb"([; ]t=)1", rb"\g<1>0", m),
    "canonicalization-tag": lambda m: m.replace(b"c=relaxed/relaxed", b"c=relaxed/simple"),
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_tampered_copy_fails(sign, verify, how):
    signed = sign(BASIC)
    assert verify(signed, 0) and verify(signed, 1)
    tampered = TAMPERINGS[how](signed)
    assert tampered != signed
    assert verify(tampered, 0) is False
    assert verify(tampered, 1) is False


@pytest.mark.parametrize("message,code", [
    (crlf("To: a@example.net\nSubject: no author\n\nx\n"), "no-from"),
    (crlf("From: a@example.test\nFrom: b@example.test\n\nx\n"), "from-twice"),
    (crlf("From: a@example.test, b@example.test\n\nx\n"), "from-domain"),
    (crlf("From: undisclosed:;\n\nx\n"), "from-domain"),
    (b"From: a@example.test\r\nSubject: " + b"x" * (128 * 1024) + b"\r\n\r\nx\r\n", "header-max"),
    (b"From: a@example.test\nSubject: bare LF\n\nx\n", "bare-eol"),
], ids=["no-from", "from-twice", "two-addresses", "group", "header-max", "bare-lf"])
def test_refused_with_a_reason(sign, message, code):
    r = sign(message, expect_ok=False)
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.decode().startswith(f"dkimsign: {code}: ")
