"""homeport-edge keeps its own WireGuard interface, and its peers and
routes follow tenants.db (docs/edge.md, "WireGuard").

On the bench: the edge runs as root in `edge`, set up by `homeport-edge
init`, and drops to nobody keeping CAP_NET_ADMIN alone. Homes enroll over
the control port from `home` (through the CGNAT) with enrollq; the
operator's `homeport-edge tenant ...` is another process on tenants.db.
A real home-side tunnel (wgctl in `home`) shows a live tenant forwarded.

The edge's interface outlives it on purpose; every test stops the
wireguard-go it made by the PID the edge logs. Tunnel addresses come from
192.0.2.64/26 and 2001:db8:78::/64 and WireGuard listens on UDP 51830,
clear of the bench's own tunnel (192.0.2.0/25, UDP 51820) in the same
namespaces.
"""
import base64
import json
import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from daemon import Daemon
from netns import sh

PY = "/usr/bin/python3"
EDGE = "203.0.113.1"
CLIENT = "198.51.100.100"
WG_PORT = 51830
CONTROL_PORT = 51831
POOL = ("192.0.2.64/26", "2001:db8:78::/64")
EDGE_TUNNEL = ("192.0.2.65", "2001:db8:78::1")
SMTP_PORT = 2525        # passthrough, default_tenant below
TENANT_PORT = 2526      # where the home listens in its tunnel
CAP_NET_ADMIN = 12
NOBODY = 65534
SYNC_TIMEOUT = 10       # s: tenants.db is polled every second, handshakes read every 5 s

CONF = """\
[edge]
name = relay.edge.test
state_dir = {state}
user = nobody

[enroll]
control = {edge}:{control}
endpoint = {edge}:{wg_port}
tunnel = {pool4}, {pool6}
interface = {ifname}

[egress]
address = {tunnel4}:1080

[listener smtp]
address = {edge}:{smtp}
mode = passthrough
default_tenant = {default}
tenant_port = {tenant_port}
handshake_timeout = 30s
"""

# The first line the server sends, as the client in `client` sees it.
BANNER_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(1024)
    if not chunk:
        break
    data += chunk
s.close()
print(data.decode("ascii", "replace").strip())
"""

# The home's SMTP server in its tunnel: reads the edge's PROXY v2 header and
# greets with the client address it names, so the test sees the path.
HOME_SERVER = r"""
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(8)
print("listening", flush=True)

def exactly(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data

while True:
    c, _ = srv.accept()
    try:
        head = exactly(c, 16)
        rest = exactly(c, int.from_bytes(head[14:16], "big"))
        src = socket.inet_ntoa(rest[0:4]) if head[13] == 0x11 else "?"
        c.sendall(b"220 mail.home.test ESMTP home, client " + src.encode() + b"\r\n")
    except (EOFError, OSError):
        pass
    c.close()
"""


def stop_pid(pid, timeout=5.0):
    """Stop a process this test did not fork (wireguard-go) by its PID: SIGTERM, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wgctl(bench, host, *args):
    return bench.wgctl(host, *args).stdout


def show(bench, host, ifname):
    """wgctl show as {"public_key":..., "listen_port":..., "peers": {key: {"allowed": set, "handshake": int}}}."""
    out = {"peers": {}}
    peer = None
    for line in wgctl(bench, host, "show", ifname).splitlines():
        key, _, value = line.strip().partition("=")
        if key == "peer":
            peer = out["peers"].setdefault(value, {"allowed": set(), "handshake": 0})
        elif key == "allowed_ip":
            peer["allowed"].add(value)
        elif key == "last_handshake":
            peer["handshake"] = int(value)
        elif peer is None and key != "peers":
            out[key] = value
    return out


def banner(bench, port=SMTP_PORT):
    """The first line the edge (or the home behind it) sends a client on port."""
    return bench.host("client").run(PY, "-c", BANNER_CLIENT, EDGE, str(port), timeout=40).stdout.strip()


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return fields


def wait_until(what, check, timeout=SYNC_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


class Edge:
    """homeport-edge in `edge`, initialised with homeport-edge init, run as root."""

    def __init__(self, bench, bindir, tag, default_tenant):
        self.bench, self.bindir = bench, bindir
        self.host = bench.host("edge")
        self.ifname = self.host.ifname(tag)
        self.dir = bench.dir / f"wg-{tag}"
        self.dir.mkdir(mode=0o755)
        self.conf = self.dir / "edge.conf"
        self.state = self.dir / "state"
        self.go_pids = set()
        self.d = None
        r = self.cli("init", "--name", "relay.edge.test", "--endpoint", f"{EDGE}:{WG_PORT}",
                     "--tunnel", ",".join(POOL), "--control", f"{EDGE}:{CONTROL_PORT}",
                     "--state-dir", self.state)
        assert r.returncode == 0, r.stderr
        # init's listeners are the real ports; this test needs only its own.
        self.conf.write_text(CONF.format(state=self.state, edge=EDGE, control=CONTROL_PORT, wg_port=WG_PORT,
                                         pool4=POOL[0], pool6=POOL[1], ifname=self.ifname,
                                         tunnel4=EDGE_TUNNEL[0], smtp=SMTP_PORT, default=default_tenant,
                                         tenant_port=TENANT_PORT))
        self.conf.chmod(0o644)
        self.public_key = sh(bindir / "homeport", "keys", "wg-pubkey",
                             input=(self.state / "keys" / "wg.key").read_text()).stdout.strip()

    def cli(self, *args):
        return subprocess.run([str(self.bindir / "homeport-edge"), "-c", str(self.conf), *map(str, args)],
                              capture_output=True, text=True, timeout=60)

    def start(self):
        self.d = Daemon(["ip", "netns", "exec", self.host.ns, self.bindir / "homeport-edge", "-c", self.conf])
        line = self.d.wait_for(r"event=wireguard result=")
        assert "result=ok" in line, "\n".join(self.d.lines)
        go_pid = int(re.search(r"go_pid=(\d+)", line).group(1))
        assert go_pid > 0, line
        if go_pid not in self.go_pids:
            self.go_pids.add(go_pid)
            self.bench.registry.pids.append(go_pid)
        self.d.wait_for(r"event=start result=ok")
        return line, go_pid

    def pid(self):
        return self.d.proc.pid     # ip netns exec execs the edge: the same process

    def show(self):
        return show(self.bench, self.host, self.ifname)

    def db_key(self, tenant):
        db = sqlite3.connect(self.state / "tenants.db")
        try:
            (key,), = db.execute("SELECT wg_key FROM tenants WHERE name = ?", (tenant,))
        finally:
            db.close()
        return base64.b64encode(key).decode()

    def close(self):
        if self.d is not None:
            self.d.stop()
        # The interface outlives the edge: its wireguard-go is stopped here, by PID.
        for pid in self.go_pids:
            stop_pid(pid)


@pytest.fixture
def edges(bench, bindir):
    made = []

    def _make(tag, default_tenant):
        e = Edge(bench, bindir, tag, default_tenant)
        made.append(e)
        return e

    yield _make
    for e in made:
        e.close()


def enroll(bench, tooldir, token, *hosts):
    """enrollq from `home`, through the CGNAT, as `homeport relay join` will."""
    r = bench.host("home").run(str(tooldir / "enrollq"), token, *hosts, check=False, timeout=40)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def test_the_edge_owns_its_interface_and_peers_follow_tenants_db(bench, tooldir, edges):
    edge = edges("wga", "mail-alice-test")
    line, go_pid = edge.start()
    assert f"ifname={edge.ifname} backend=uapi" in line and "created=yes" in line, line

    # The interface: the edge's key and endpoint port, its address in each pool.
    dev = edge.show()
    assert (dev["public_key"], dev["listen_port"], dev["peers"]) == (edge.public_key, str(WG_PORT), {}), dev
    addrs = edge.host.run("ip", "-o", "addr", "show", "dev", edge.ifname).stdout
    assert f"{EDGE_TUNNEL[0]}/26" in addrs and f"{EDGE_TUNNEL[1]}/64" in addrs, addrs
    # wireguard-go's output goes to the state directory, not to the edge's log.
    log = os.stat(edge.state / "wireguard-go.log")
    assert log.st_mode & 0o777 == 0o600 and log.st_size > 0, log

    # Running as nobody with CAP_NET_ADMIN and nothing else.
    st = proc_status(edge.pid())
    assert st["Uid"] == [str(NOBODY)] * 4, st["Uid"]
    assert int(st["CapEff"][0], 16) == 1 << CAP_NET_ADMIN, st["CapEff"]
    assert int(st["CapPrm"][0], 16) == 1 << CAP_NET_ADMIN, st["CapPrm"]

    # An enrollment: the peer is there when the answer is.
    token = edge.cli("invite", "--hostname", "mail.alice.test").stdout.strip()
    got = enroll(bench, tooldir, token, "mail.alice.test")
    assert (got["status"], got["tenant"], got["tunnel_v4"], got["edge_v4"]) == \
        (0, "mail-alice-test", "192.0.2.66", EDGE_TUNNEL[0]), got
    key = edge.db_key("mail-alice-test")
    peers = edge.show()["peers"]
    assert peers == {key: {"allowed": {"192.0.2.66/32", "2001:db8:78::2/128"}, "handshake": 0}}, peers
    edge.d.wait_for(r"event=peer action=add tenant=mail-alice-test ")

    # enrollq's key is nobody's: the tunnel never handshakes, the tenant is stale,
    # and a sender gets the 421 at once, without a connect to wait out.
    edge.d.wait_for(r"event=tenant state=stale tenant=mail-alice-test handshake_age=never", timeout=SYNC_TIMEOUT)
    m = edge.d.mark()
    assert banner(bench) == "421 4.4.2 relay.edge.test Destination unreachable, try again later"
    line = edge.d.wait_for(r"event=relay listener=smtp ", start=m)
    assert "tenant=mail-alice-test by=default" in line and "end=tenant_stale" in line, line
    assert not any("event=tenant_connect" in x for x in edge.d.lines[m:]), edge.d.lines[m:]

    # Suspended by the operator (another process): the peer goes, senders hear why.
    m = edge.d.mark()
    assert edge.cli("tenant", "suspend", "mail-alice-test").returncode == 0
    edge.d.wait_for(r"event=peer action=remove tenant=mail-alice-test .*reason=suspended", start=m,
                    timeout=SYNC_TIMEOUT)
    assert edge.show()["peers"] == {}
    assert banner(bench) == \
        "421 4.4.2 relay.edge.test Service for this destination is suspended, try again later"
    assert "end=tenant_suspended" in edge.d.wait_for(r"event=relay listener=smtp .*end=tenant_s", start=m)

    # Resumed: the peer is back, as it was.
    m = edge.d.mark()
    assert edge.cli("tenant", "resume", "mail-alice-test").returncode == 0
    edge.d.wait_for(r"event=peer action=add tenant=mail-alice-test ", start=m, timeout=SYNC_TIMEOUT)
    assert edge.show()["peers"] == peers

    # A second home: adding it leaves the first one's peer alone.
    token = edge.cli("invite", "--hostname", "mail.bob.test").stdout.strip()
    assert enroll(bench, tooldir, token, "mail.bob.test")["tunnel_v4"] == "192.0.2.67"
    now = edge.show()["peers"]
    assert len(now) == 2 and now[key] == peers[key], now

    # Removed: its peer goes, and so does its route (the default names nobody now).
    m = edge.d.mark()
    assert edge.cli("tenant", "remove", "mail-alice-test").returncode == 0
    edge.d.wait_for(r"event=peer action=remove tenant=- .*reason=not_enrolled", start=m, timeout=SYNC_TIMEOUT)
    assert list(edge.show()["peers"]) == [edge.db_key("mail-bob-test")]
    assert banner(bench) == "421 4.3.0 relay.edge.test No route for this destination, try again later"

    # SIGHUP reads tenants.db again with the file; the interface cannot change without a restart.
    m = edge.d.mark()
    edge.d.signal(signal.SIGHUP)
    assert "enrolled=1" in edge.d.wait_for(r"event=reload result=ok", start=m)
    text = edge.conf.read_text()
    edge.conf.write_text(text.replace(f"interface = {edge.ifname}", "interface = hpother0"))
    m = edge.d.mark()
    edge.d.signal(signal.SIGHUP)
    assert "a restart is needed" in edge.d.wait_for(r"event=reload result=failed", start=m)
    edge.conf.write_text(text)
    assert banner(bench) == "421 4.3.0 relay.edge.test No route for this destination, try again later"

    # A stop leaves the interface and its peers for the next start.
    assert edge.d.stop() == 0
    assert list(edge.show()["peers"]) == [edge.db_key("mail-bob-test")]
    assert os.path.exists(f"/proc/{go_pid}")


def home_tunnel(bench, edge, ifname, tunnel_v4):
    """A home's WireGuard interface in `home` (wgctl, as bench.tunnel() does); returns its public key."""
    home = bench.host("home")
    key = bench.dir / f"{ifname}.key"
    priv = sh(bench.bindir / "homeport", "keys", "wg-genkey").stdout
    key.write_text(priv)
    key.chmod(0o600)
    pub = sh(bench.bindir / "homeport", "keys", "wg-pubkey", input=priv).stdout.strip()
    out = wgctl(bench, home, "create", ifname, bench.dir / f"wireguard-go-{ifname}.log")
    pid = int(out.strip().split("pid=")[1])
    if pid > 0:
        bench.registry.pids.append(pid)
    wgctl(bench, home, "set", ifname, "private-key", key)
    wgctl(bench, home, "addr", ifname, f"{tunnel_v4}/26")
    wgctl(bench, home, "up", ifname)
    wgctl(bench, home, "peer", ifname, edge.public_key, "endpoint", f"{EDGE}:{WG_PORT}",
          "allowed-ips", f"{EDGE_TUNNEL[0]}/32", "keepalive", "25")
    return pub, pid


def test_a_live_home_is_forwarded_and_a_killed_edge_finds_its_tunnels(bench, edges):
    edge = edges("wgb", "home-test")
    _, go_pid = edge.start()
    # The home, added to tenants.db by another process (as an enrollment would have).
    tunnel_v4 = "192.0.2.70"
    pub, home_go = home_tunnel(bench, edge, bench.host("home").ifname("wgh"), tunnel_v4)
    try:
        db = sqlite3.connect(edge.state / "tenants.db")
        db.execute("INSERT INTO tenants (name, wg_key, tunnel_v4, tunnel_v6, hostnames, created)"
                   " VALUES ('home-test', ?, ?, NULL, 'mail.home.test', 1800000000)",
                   (base64.b64decode(pub), tunnel_v4))
        db.commit()
        db.close()
        edge.d.wait_for(r"event=peer action=add tenant=home-test ", timeout=SYNC_TIMEOUT)
        server = bench.host("home").popen(PY, "-c", HOME_SERVER, tunnel_v4, str(TENANT_PORT),
                                          name="home-smtp", log=bench.dir / "wgb-home-smtp.log")
        wait_until("the home's server listens",
                   lambda: "listening" in (bench.dir / "wgb-home-smtp.log").read_text())
        # The home's keepalive brings the tunnel up; the edge sees the handshake.
        edge.d.wait_for(r"event=tenant state=live tenant=home-test handshake_age=\d+", timeout=30)
        assert banner(bench) == f"220 mail.home.test ESMTP home, client {CLIENT}"
        assert "end=" in edge.d.wait_for(r"event=relay listener=smtp .*tenant=home-test by=default")

        # SIGKILL: nothing is cleaned up. The next start finds the interface, its
        # wireguard-go and its peer as they were, and forwards at once.
        before = edge.show()
        edge.d.signal(signal.SIGKILL)
        edge.d.wait()
        line, again = edge.start()
        assert again == go_pid and "created=no" in line, line
        assert not any("event=peer " in x for x in edge.d.lines), edge.d.lines
        after = edge.show()
        assert after["peers"].keys() == before["peers"].keys() == {pub}, after
        assert after["peers"][pub]["allowed"] == {f"{tunnel_v4}/32"}
        assert after["peers"][pub]["handshake"] > 0
        assert banner(bench) == f"220 mail.home.test ESMTP home, client {CLIENT}"
        st = proc_status(edge.pid())
        assert st["Uid"] == [str(NOBODY)] * 4 and int(st["CapEff"][0], 16) == 1 << CAP_NET_ADMIN, st
        server.stop()
    finally:
        stop_pid(home_go)
