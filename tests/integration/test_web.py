"""The home's web listeners in direct mode, with curl as the client: the
MTA-STS policy served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt
once the certificate is valid (a test CA's, named by [outbound]
tls_ca_file), the id `homeport dns` prints matching the policy served,
port 80 redirecting to https, and nothing published with the bootstrap
self-signed certificate. On loopback; curl resolves the names with
--resolve, so no DNS is involved."""
import hashlib
import re
import shutil
import subprocess

import pytest

from homed import Home
from https_peer import TestCA

DOMAIN = "example.test"
POLICY_HOST = f"mta-sts.{DOMAIN}"
HOSTNAME = "mx.home.test"
PUBLIC = "192.0.2.10"        # what homeport dns is told mail reaches the home at


def curl(home, listener, url_host, path, *args, ca=None, scheme="https"):
    """curl against the home's listener, url_host resolved to it: (status, headers, body)."""
    port = home.port(listener)
    cmd = ["curl", "-sS", "--max-time", "10", "-D", "-", "--resolve", f"{url_host}:{port}:127.0.0.1",
           *args, f"{scheme}://{url_host}:{port}{path}"]
    if ca is not None:
        cmd[1:1] = ["--cacert", str(ca)]
    r = subprocess.run(cmd, capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca", "Homeport test CA")


def make_home(build, d, ca=None, sections=None):
    """A home with mx, https and http listeners on loopback; with ca, its
    certificate issued by ca for the mail host and the policy host."""
    sections = dict(sections or {})
    if ca is not None:
        sections.setdefault("outbound", {})["tls_ca_file"] = ca.cert
    home = Home(build, d, hostname=HOSTNAME, sections=sections)
    if ca is not None:
        cert, key = ca.issue("home", [HOSTNAME, POLICY_HOST])
        shutil.copy(cert, home.state_dir / "keys" / "tls.crt")
        shutil.copy(key, home.state_dir / "keys" / "tls.key")
        (home.state_dir / "keys" / "tls.key").chmod(0o600)
    home.listener("mx", "smtp")
    home.listener("https", "https")
    home.listener("http", "http")
    return home


def dns(home):
    home.write_conf()
    return subprocess.run([str(home.cli), "-c", str(home.conf_path), "dns", "--address", PUBLIC],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def test_policy_served_and_published(bindir, tmp_path, ca):
    home = make_home(bindir.parent, tmp_path / "home", ca)
    home.add_domain(DOMAIN)
    home.start()
    try:
        line = home.wait_for(r"event=mta_sts result=published")
        m = re.search(r"mode=enforce id=([0-9a-f]{32}) mx=1", line)
        assert m, line
        served_id = m.group(1)

        status, headers, body = curl(home, "https", POLICY_HOST, "/.well-known/mta-sts.txt", ca=ca.cert)
        assert status == 200
        assert headers["content-type"] == "text/plain"
        assert body == (b"version: STSv1\nmode: enforce\nmax_age: 604800\n"
                        b"mx: " + HOSTNAME.encode() + b"\n")
        assert int(headers["content-length"]) == len(body)
        # The id is the policy's: what DNS says changes exactly when the policy does.
        assert hashlib.sha256(body).hexdigest()[:32] == served_id
        home.wait_for(r'event=session .*method=GET host="mta-sts\.example\.test" status=200')

        out = dns(home)
        assert re.search(rf'^_mta-sts\.{re.escape(DOMAIN)}\.\s+\d+ IN TXT\s+"v=STSv1; id={served_id}"',
                         out, re.M), out
        assert re.search(rf"^{re.escape(POLICY_HOST)}\.\s+\d+ IN A\s+{PUBLIC}\b", out, re.M), out

        # Another domain's policy host, another path, another method: not the policy.
        status, _, _ = curl(home, "https", "mta-sts.other.test", "/.well-known/mta-sts.txt", "-k")
        assert status == 404
        status, _, _ = curl(home, "https", POLICY_HOST, "/", ca=ca.cert)
        assert status == 404
        status, headers, _ = curl(home, "https", POLICY_HOST, "/.well-known/mta-sts.txt", "-X", "PUT",
                                  ca=ca.cert)
        assert status == 405 and headers["allow"] == "GET, HEAD"

        # Port 80: every request to https, the target kept.
        status, headers, body = curl(home, "http", POLICY_HOST, "/.well-known/mta-sts.txt?x=1",
                                     scheme="http")
        assert status == 301
        assert headers["location"] == f"https://{POLICY_HOST}/.well-known/mta-sts.txt?x=1"
        assert body == b""
    finally:
        home.stop()


def test_testing_mode_and_reload(bindir, tmp_path, ca):
    """[mta_sts] mode = testing is served as such; SIGHUP with mode = off
    takes the policy away (404) and homeport dns stops printing it."""
    home = make_home(bindir.parent, tmp_path / "home", ca, sections={"mta_sts": {"mode": "testing",
                                                                          "max_age": "30d"}})
    home.add_domain(DOMAIN)
    home.start()
    try:
        home.wait_for(r"event=mta_sts result=published mode=testing")
        status, _, body = curl(home, "https", POLICY_HOST, "/.well-known/mta-sts.txt", ca=ca.cert)
        assert status == 200
        assert b"\nmode: testing\nmax_age: 2592000\n" in body
        want = hashlib.sha256(body).hexdigest()[:32]
        assert re.search(rf'^_mta-sts\.{re.escape(DOMAIN)}\.\s+\d+ IN TXT\s+"v=STSv1; id={want}"', dns(home),
                         re.M)

        mark = home.mark()
        home.sections["mta_sts"]["mode"] = "off"
        home.write_conf()
        home.signal(1)
        home.wait_for(r'event=mta_sts result=none why="\[mta_sts\] mode = off"', start=mark)
        status, _, _ = curl(home, "https", POLICY_HOST, "/.well-known/mta-sts.txt", ca=ca.cert)
        assert status == 404
        out = dns(home)
        assert "_mta-sts" not in out
        assert "; MTA-STS: not published: [mta_sts] mode = off" in out
    finally:
        home.stop()


def test_self_signed_publishes_nothing(bindir, tmp_path):
    """The bootstrap certificate: senders under enforce would refuse the
    home's MX, so no policy: 404, and homeport dns says why."""
    home = make_home(bindir.parent, tmp_path / "home")
    home.add_domain(DOMAIN)
    home.start()
    try:
        line = home.wait_for(r"event=mta_sts result=none")
        assert "self-signed certificate" in line, line
        status, _, _ = curl(home, "https", POLICY_HOST, "/.well-known/mta-sts.txt", "-k")
        assert status == 404
        out = dns(home)
        assert "_mta-sts" not in out
        assert re.search(r"^; MTA-STS: not published: .*self-signed certificate", out, re.M), out
    finally:
        home.stop()
