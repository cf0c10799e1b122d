"""[enroll] require_txt on the bench: an edge that enrolls a host name only
when its _homeport TXT record holds the home's key, looked up in the bench's
Knot (the edge's dns_forward), with the product's commands throughout.

- the owner joins with nothing published: refused, the exact record named,
  the invite not spent;
- a record for another key: refused the same way;
- the owner publishes what `homeport relay key` prints (loaded into Knot as
  printed) and runs the same join again: enrolled, the edge logs the proof;
- `homeport dns` prints the same record.
"""
import re

import pytest

import peers
from relaybench import (DOMAIN, HOSTNAME, POLICY_HOST, Edge, homeport, join, load_dns, new_home, run, run_all,
                        take_tunnel_addresses)

OWNER = f"_homeport.{HOSTNAME}"
# Another home's record (the key of the bytes 1..32: docs/wire.md).
OTHER = "homeport-key1=RB7cVs68jihdAiZ6plCBnxWt17Bu-bQbJpASjc5lWSQ"


class Txt:
    """An edge with require_txt asking Knot, a home (not started: joining
    needs no homeportd) and one invite for mail.alice.test."""

    def __init__(self, bench, bindir, d):
        self.bench = bench
        self.knot = peers.knot(bench)
        self.edge = self.home = None
        self.go_pid = 0
        self.published = False
        take_tunnel_addresses(bench)
        anchors = d / "edge-anchors"
        anchors.write_text(self.knot.trust_anchors())
        anchors.chmod(0o644)
        self.edge = Edge(bench, bindir)
        conf = self.edge.conf.read_text()
        self.edge.conf.write_text(conf.replace(
            "[enroll]\n", f"[enroll]\nrequire_txt = yes\ndns_forward = {peers.DNS_ADDR}\n"
                          f"dns_trust_anchor = {anchors}\n", 1))
        self.edge.start()
        self.home = new_home(bench, bindir, "home", d / "home", HOSTNAME, DOMAIN)
        self.ifname = self.home.host.ifname("hpt")
        self.token = self.edge.invite(HOSTNAME, POLICY_HOST)

    def join(self, check=True):
        if not check:
            return homeport(self.home, "relay", "join", self.token, "--interface", self.ifname, check=False)
        out, self.go_pid = join(self.bench, self.home, self.token, self.ifname)
        return out

    def publish(self, text):
        self.published = True
        return load_dns(self.knot, text)

    def down(self):
        run_all("require_txt down", (
            lambda: self.edge and self.edge.stop(),
            lambda: self.published and self.knot.update(DOMAIN, f"update delete {OWNER}. TXT"),
            lambda: self.go_pid and self.bench.stop_pid(self.go_pid),
            lambda: self.edge and self.edge.remove_interface()))


@pytest.fixture(scope="module")
def txt(bench, bindir, tmp_path_factory):
    t = None
    try:
        t = Txt(bench, bindir, tmp_path_factory.mktemp("relay-txt"))
        yield t
    finally:
        if t is not None:
            t.down()


def refusal(r):
    """The record the edge asked for in a refused join: (owner, text)."""
    assert r.returncode == 1, (r.stdout, r.stderr)
    m = re.search(r'the edge refused: publish (\S+) TXT "([^"]+)"', r.stderr)
    assert m, r.stderr
    return m.group(1), m.group(2)


def test_require_txt_join_publish_join(txt):
    # `homeport relay key` makes the key and prints the record, before any join.
    key = homeport(txt.home, "relay", "key").stdout
    m = re.search(r"^; the home's WireGuard public key: (\S{44})$", key, re.M)
    assert m, key
    records = re.findall(rf'^{re.escape(OWNER)}\.\s+\d+ IN TXT\s+"(homeport-key1=[A-Za-z0-9_-]{{43}})"', key, re.M)
    assert len(records) == 1, key
    (record,) = records
    # The policy host's too: join asks for it by default (senders fetch MTA-STS through the edge).
    assert re.search(rf'^_homeport\.{re.escape(POLICY_HOST)}\.\s+\d+ IN TXT\s+"{re.escape(record)}"', key,
                     re.M), key

    # Nothing published: refused, the very record named, and told the token still works.
    r = txt.join(check=False)
    assert refusal(r) == (OWNER, record)
    assert "the token is not used up" in r.stderr, r.stderr
    txt.edge.daemon.wait_for(rf'event=enroll .*result=refused reason="no _homeport TXT for {re.escape(HOSTNAME)} '
                             r'and more"')
    assert txt.edge.cmd("tenant", "list").stdout.strip() == "no tenants"
    assert not (txt.home.state_dir / "relay.conf").exists()

    # Another key's record: refused the same way.
    txt.publish(f'{OWNER}. 60 IN TXT "{OTHER}"\n')
    assert txt.knot.query(OWNER, "TXT") == [f'"{OTHER}"']
    r = txt.join(check=False)
    assert refusal(r) == (OWNER, record)
    txt.edge.daemon.wait_for(r'event=enroll .*result=refused reason="_homeport TXT for another key')

    # What relay key printed, loaded as printed (the other record replaced): the same token enrolls.
    txt.publish(key)
    assert txt.knot.query(OWNER, "TXT") == [f'"{record}"']
    out = txt.join()
    assert "joined edge1 as tenant mail-alice-test" in out, out
    txt.edge.daemon.wait_for(rf'event=enroll .*result=enrolled tenant=mail-alice-test '
                                rf'hosts="{re.escape(HOSTNAME)},{re.escape(POLICY_HOST)}" txt=proven')
    assert f"active 192.0.2.2 {HOSTNAME}" in txt.edge.cmd("tenant", "list").stdout

    # homeport dns, in relay mode now, prints the same record with the others.
    dns = homeport(txt.home, "dns").stdout
    assert re.search(rf'^{re.escape(OWNER)}\.\s+\d+ IN TXT\s+"{re.escape(record)}"', dns, re.M), dns


def test_require_txt_is_checked_by_edge_conf(txt):
    """--check takes the keys; a bad dns_forward is the line that is wrong."""
    r = txt.edge.cmd("--check", check=False)
    assert r.returncode == 0 and "configuration OK" in r.stdout, (r.stdout, r.stderr)
    bad = txt.edge.dir / "bad.conf"
    bad.write_text(txt.edge.conf.read_text().replace(f"dns_forward = {peers.DNS_ADDR}",
                                                     "dns_forward = ns.alice.test"))
    r = run([txt.edge.exe, "-c", bad, "--check"], check=False)
    assert r.returncode == 1 and "[enroll] dns_forward: not an address or ADDR@PORT" in r.stderr, r.stderr
