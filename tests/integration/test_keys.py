"""`homeport keys` against the tools nobody on this team wrote: wg(8),
Debian's minisign, and openssl(1)."""
import base64
import os
import subprocess

import pytest


def sh(*args, input=None):
    return subprocess.run([str(a) for a in args], input=input, capture_output=True, text=True,
                          timeout=60)


def test_wg_pubkey_agrees_with_ours(run):
    for _ in range(5):
        priv = run("homeport", "keys", "wg-genkey")
        assert priv.returncode == 0
        assert len(priv.stdout) == 45 and priv.stdout.endswith("=\n")
        theirs = sh("wg", "pubkey", input=priv.stdout)
        ours = run("homeport", "keys", "wg-pubkey", input=priv.stdout)
        assert theirs.returncode == 0 and ours.returncode == 0
        assert ours.stdout == theirs.stdout


def test_we_accept_wg_genkey(run):
    for _ in range(5):
        priv = sh("wg", "genkey").stdout
        assert run("homeport", "keys", "wg-pubkey", input=priv).stdout == \
            sh("wg", "pubkey", input=priv).stdout


def test_wg_genkey_is_clamped(run):
    raw = base64.b64decode(run("homeport", "keys", "wg-genkey").stdout)
    assert raw[0] & 7 == 0 and raw[31] & 0x80 == 0 and raw[31] & 0x40


@pytest.mark.parametrize("bad", ["", "not a key\n", "A" * 43 + "=x\n", "A" * 44 + "\n"])
def test_wg_pubkey_refuses_garbage(run, bad):
    r = run("homeport", "keys", "wg-pubkey", input=bad)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "not a WireGuard private key" in r.stderr


@pytest.fixture
def signer(run, tmp_path):
    pub, sec = tmp_path / "h.pub", tmp_path / "h.sec"
    r = run("homeport", "keys", "sign-genkey", "-p", pub, "-s", sec)
    assert r.returncode == 0, r.stderr
    assert oct(sec.stat().st_mode & 0o777) == "0o600"
    assert oct(pub.stat().st_mode & 0o777) == "0o644"
    return pub, sec


def test_minisign_verifies_our_signature(run, tmp_path, signer):
    pub, sec = signer
    f = tmp_path / "update.tar"
    f.write_bytes(os.urandom(100000))
    assert run("homeport", "keys", "sign", "-s", sec, f).returncode == 0
    r = sh("minisign", "-V", "-p", pub, "-m", f)
    assert r.returncode == 0, r.stderr
    assert "Signature and comment signature verified" in r.stdout
    assert "file:update.tar\thashed" in r.stdout
    f.write_bytes(f.read_bytes() + b"x")
    r = sh("minisign", "-V", "-p", pub, "-m", f)
    assert r.returncode != 0
    assert "Signature verification failed" in r.stderr


def test_we_verify_minisign_signature(run, tmp_path):
    pub, sec = tmp_path / "m.pub", tmp_path / "m.sec"
    assert sh("minisign", "-G", "-W", "-p", pub, "-s", sec).returncode == 0
    f = tmp_path / "release"
    f.write_bytes(os.urandom(50000))
    assert sh("minisign", "-S", "-s", sec, "-m", f, "-t", "release 1.0").returncode == 0
    r = run("homeport", "keys", "verify", "-p", pub, f)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Signature and comment signature verified\nTrusted comment: release 1.0\n"
    # -P with the bare key, as minisign's -P
    key_b64 = pub.read_text().splitlines()[1]
    assert run("homeport", "keys", "verify", "-P", key_b64, "-q", f).returncode == 0
    f.write_bytes(b"tampered" + f.read_bytes())
    r = run("homeport", "keys", "verify", "-p", pub, f)
    assert r.returncode == 1
    assert "signature verification failed" in r.stderr


def test_we_sign_with_a_minisign_key_and_minisign_signs_with_ours(run, tmp_path, signer):
    # A key pair made by minisign, used by us...
    mpub, msec = tmp_path / "m.pub", tmp_path / "m.sec"
    assert sh("minisign", "-G", "-W", "-p", mpub, "-s", msec).returncode == 0
    f = tmp_path / "a"
    f.write_text("hello\n")
    assert run("homeport", "keys", "sign", "-s", msec, "-x", tmp_path / "a.sig", f).returncode == 0
    assert sh("minisign", "-V", "-p", mpub, "-x", tmp_path / "a.sig", "-m", f).returncode == 0
    # ...and ours used by minisign.
    pub, sec = signer
    assert sh("minisign", "-S", "-s", sec, "-m", f).returncode == 0
    assert run("homeport", "keys", "verify", "-p", pub, f).returncode == 0


def test_tampered_trusted_comment_fails_both_ways(run, tmp_path, signer):
    pub, sec = signer
    f = tmp_path / "a"
    f.write_text("hello\n")
    assert run("homeport", "keys", "sign", "-s", sec, "-t", "version 1", f).returncode == 0
    sig = tmp_path / "a.minisig"
    sig.write_text(sig.read_text().replace("version 1", "version 2"))
    assert run("homeport", "keys", "verify", "-p", pub, f).returncode == 1
    assert sh("minisign", "-V", "-p", pub, "-m", f).returncode != 0


def test_signature_from_another_key_is_refused(run, tmp_path, signer):
    pub, _ = signer
    other_pub, other_sec = tmp_path / "o.pub", tmp_path / "o.sec"
    assert run("homeport", "keys", "sign-genkey", "-p", other_pub, "-s", other_sec).returncode == 0
    f = tmp_path / "a"
    f.write_text("hello\n")
    assert run("homeport", "keys", "sign", "-s", other_sec, f).returncode == 0
    r = run("homeport", "keys", "verify", "-p", pub, f)
    assert r.returncode == 1
    assert "different key" in r.stderr


def test_sign_genkey_never_overwrites_without_force(run, signer):
    pub, sec = signer
    before = sec.read_text()
    r = run("homeport", "keys", "sign-genkey", "-p", pub, "-s", sec)
    assert r.returncode == 1
    assert "already exists" in r.stderr and "-f" in r.stderr
    assert sec.read_text() == before
    assert run("homeport", "keys", "sign-genkey", "-p", pub, "-s", sec, "-f").returncode == 0
    assert sec.read_text() != before


def test_loose_secret_key_is_refused(run, tmp_path, signer):
    pub, sec = signer
    f = tmp_path / "a"
    f.write_text("x")
    sec.chmod(0o644)
    r = run("homeport", "keys", "sign", "-s", sec, f)
    assert r.returncode == 1
    assert f"fix with: chmod 600 {sec}" in r.stderr
    assert not (tmp_path / "a.minisig").exists()


def test_dkim_ed25519_record_matches_key(run, tmp_path):
    key = tmp_path / "ed.pem"
    r = run("homeport", "keys", "dkim-genkey", "-a", "ed25519", "-o", key)
    assert r.returncode == 0, r.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert r.stdout.startswith("v=DKIM1; k=ed25519; p=")
    p = r.stdout.strip().split("p=")[1]
    # The raw 32-byte key is the last 32 bytes of the SubjectPublicKeyInfo.
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert base64.b64decode(p) == der[-32:]
    assert run("homeport", "keys", "dkim-record", key).stdout == r.stdout


def test_dkim_rsa_record_matches_key(run, tmp_path):
    key = tmp_path / "rsa.pem"
    r = run("homeport", "keys", "dkim-genkey", "-a", "rsa", "-o", key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("v=DKIM1; k=rsa; p=")
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert base64.b64decode(r.stdout.strip().split("p=")[1]) == der
    text = subprocess.run(["openssl", "pkey", "-in", key, "-text", "-noout"],
                          capture_output=True, text=True, check=True).stdout
    assert "2048 bit" in text
    # never overwritten
    again = run("homeport", "keys", "dkim-genkey", "-a", "rsa", "-o", key)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_selfcert_is_what_openssl_sees(run, tmp_path):
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    r = run("homeport", "keys", "selfcert", "-c", cert, "-k", key, "-d", "30",
            "mail.example.test", "example.test")
    assert r.returncode == 0, r.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "DNS:mail.example.test, DNS:example.test" in text
    assert "ASN1 OID: prime256v1" in text
    assert "CA:FALSE" in text and "TLS Web Server Authentication" in text
    assert "Subject: CN = mail.example.test" in text
    # openssl agrees the key belongs to the certificate
    m1 = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                        capture_output=True, check=True).stdout
    m2 = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                        capture_output=True, check=True).stdout
    assert m1 == m2
    bad = run("homeport", "keys", "selfcert", "-c", tmp_path / "x.crt", "-k", tmp_path / "x.key",
              "not_a_host")
    assert bad.returncode == 1 and "not a host name" in bad.stderr
