"""`homeport dns`: the records a home's owner publishes, checked as text and
then loaded, exactly as printed, into the bench's Knot, where a resolver
(our dns.c through dnsq) and a DKIM verifier nobody here wrote (python3-dkim,
its DNS answered from Knot by kdig) find what they need."""
import hashlib
import json
import re
import subprocess

import pytest

import peers
from relaybench import dns_records, load_dns, verify_dkim

DOMAIN = "alice.test"
HOST = "mail.alice.test"
ADDR4, ADDR6 = "198.51.100.10", "2001:db8::10"


@pytest.fixture
def home(run, tmp_path):
    conf, state = tmp_path / "homeportd.conf", tmp_path / "state"
    r = run("homeport", "-c", conf, "init", "--domain", DOMAIN, "--state-dir", state)
    assert r.returncode == 0, r.stderr

    def homeport(*args):
        return run("homeport", "-c", conf, *args)

    homeport.state = state
    return homeport


def txt_text(data):
    """A TXT record's strings, joined (as a resolver hands them over)."""
    return "".join(re.findall(r'"([^"]*)"', data))


def spki_sha256(cert):
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_every_record_for_direct_mode(home):
    r = home("dns", "--address", ADDR4, "--address", ADDR6)
    assert r.returncode == 0, r.stderr
    rrs = dns_records(r.stdout)
    by = {}
    for owner, ttl, rtype, data in rrs:
        assert ttl == 3600
        by.setdefault((owner, rtype), []).append(data)
    assert by[(DOMAIN, "MX")] == [f"10 {HOST}."]
    assert [txt_text(d) for d in by[(DOMAIN, "TXT")]] == [f"v=spf1 ip4:{ADDR4} ip6:{ADDR6} -all"]
    assert [txt_text(d) for d in by[(f"_dmarc.{DOMAIN}", "TXT")]] == [
        "v=DMARC1; p=quarantine; adkim=s; aspf=s"]
    keys = home.state / "keys" / "dkim"
    for sel in ("ed25519", "rsa"):
        (data,) = by[(f"{sel}._domainkey.{DOMAIN}", "TXT")]
        want = home("keys", "dkim-record", keys / f"{DOMAIN}.{sel}.key").stdout.strip()
        assert txt_text(data) == want
        assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', data))
    assert by[(f"_submissions._tcp.{DOMAIN}", "SRV")] == [f"0 1 465 {HOST}."]
    assert by[(f"_submission._tcp.{DOMAIN}", "SRV")] == [f"0 1 587 {HOST}."]
    assert by[(f"_imaps._tcp.{DOMAIN}", "SRV")] == [f"0 1 993 {HOST}."]
    assert by[(f"_imap._tcp.{DOMAIN}", "SRV")] == ["0 0 0 ."]        # not offered (RFC 6186)
    assert by[(HOST, "A")] == [ADDR4] and by[(HOST, "AAAA")] == [ADDR6]
    assert by[(f"_25._tcp.{HOST}", "TLSA")] == [
        f"3 1 1 {spki_sha256(home.state / 'keys' / 'tls.crt')}"]
    assert (HOST, "CNAME") not in by
    # Pending and retired DKIM keys are published too: rotate, and both appear.
    assert home("dkim", "rotate", DOMAIN).returncode == 0
    rrs = dns_records(home("dns", "--address", ADDR4).stdout)
    dkim_owners = [o for o, _t, rtype, _d in rrs if o.endswith(f"._domainkey.{DOMAIN}")]
    assert len(dkim_owners) == 4, dkim_owners


def test_refusals(home):
    # init binds to 0.0.0.0: no public address to publish without --address.
    r = home("dns")
    assert r.returncode == 1 and "no public address" in r.stderr and r.stdout == ""
    for bad in ("10.0.0.1", "127.0.0.1", "not-an-address", "fe80::1"):
        r = home("dns", "--address", bad)
        assert r.returncode == 2 and f"'{bad}' is not a public IP address" in r.stderr, r.stderr
    assert home("dns", "extra").returncode == 2


def test_loaded_into_knot_it_serves_mail(bench, home, tooldir, tmp_path):
    """The output, as it is, into Knot's alice.test zone; then the MX, the
    address, the TLSA and a DKIM signature check out through DNS."""
    knot = peers.knot(bench)
    # Published as the owner would: these RRsets replace what other tests left in alice.test.
    drop = load_dns(knot, home("dns", "--address", ADDR4).stdout, DOMAIN)
    try:
        check_served(bench, home, tooldir, tmp_path, knot)
    finally:
        knot.update(DOMAIN, *drop)


def check_served(bench, home, tooldir, tmp_path, knot):
    dnsq = tooldir / "dnsq"
    client = bench.host("client")
    anchors = tmp_path / "anchors"
    anchors.write_text(knot.trust_anchors())

    def q(*args):
        r = client.run(dnsq, "-f", peers.DNS_ADDR, "-a", anchors, *args, check=False, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.splitlines()[0])

    mx = q("mx", DOMAIN)
    assert mx["status"] == "OK" and [h["name"] for h in mx["hosts"]] == [HOST], mx
    assert mx["hosts"][0]["addrs"] == [ADDR4], mx
    tlsa = q("tlsa", HOST, "25")
    assert tlsa["records"] == [{"usage": 3, "selector": 1, "mtype": 1,
                                "data": spki_sha256(home.state / "keys" / "tls.crt")}], tlsa
    txt = q("txt", "ed25519._domainkey", DOMAIN)
    assert txt["records"] and txt["records"][0].startswith("v=DKIM1; k=ed25519; p="), txt
    # A message signed with the home's keys verifies against what Knot serves.
    keys = home.state / "keys" / "dkim"
    msg = (f"From: Alice <alice@{DOMAIN}>\r\nTo: <bob@peer.test>\r\nSubject: dns\r\n"
           f"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n").encode()
    signed = subprocess.run([str(tooldir / "dkimsign"), f"{keys / (DOMAIN + '.ed25519.key')}:ed25519",
                             f"{keys / (DOMAIN + '.rsa.key')}:rsa"], input=msg,
                            capture_output=True, check=True, timeout=60).stdout
    assert verify_dkim(knot, signed) == [b"ed25519-sha256", b"rsa-sha256"]
