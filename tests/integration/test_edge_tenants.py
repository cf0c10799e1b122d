"""homeport-edge tenant list|show|suspend|resume|remove: the operator's
view of tenants.db. The tenants are written into the database the way the
enrollment will (rows of the edge's own schema, which the first command
creates), then listed and changed through the command."""
import base64
import hashlib
import os
import signal
import sqlite3
import subprocess

import pytest

CONF = """\
[edge]
name = relay.edge.test
state_dir = {state}
"""


@pytest.fixture
def edge(run, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    conf = tmp_path / "edge.conf"
    conf.write_text(CONF.format(state=state))

    def cmd(*args):
        return run("homeport-edge", "-c", conf, "tenant", *args)

    cmd.db = state / "tenants.db"
    return cmd


def add(db, name, key, v4, v6, hosts):
    c = sqlite3.connect(db)
    c.execute("INSERT INTO tenants (name, wg_key, tunnel_v4, tunnel_v6, hostnames, created)"
              " VALUES (?, ?, ?, ?, ?, 1800000000)", (name, key, v4, v6, hosts))
    c.commit()
    c.close()


def test_tenant_commands(edge):
    r = edge("list")
    assert r.returncode == 0 and r.stdout == "no tenants\n", (r.stdout, r.stderr)
    assert edge.db.exists()
    add(edge.db, "bob", b"\x02" * 32, "192.0.2.3", None, "mail.bob.test")
    add(edge.db, "alice", b"\x01" * 32, "192.0.2.2", "2001:db8:77::2", "mail.alice.test,alice.test")
    assert edge("list").stdout.splitlines() == [
        "alice active 192.0.2.2 mail.alice.test,alice.test",
        "bob active 192.0.2.3 mail.bob.test"]
    show = edge("show", "alice").stdout
    assert "state: active" in show and "tunnel: 192.0.2.2 2001:db8:77::2" in show, show
    key = base64.b64encode(bytes([1] * 32)).decode()
    assert f"wireguard key: {key}" in show, show
    assert "enrolled: 2027-01-15 08:00:00 UTC" in show, show
    assert edge("suspend", "bob").stdout == "tenant bob suspended\n"
    assert "bob suspended" in edge("list").stdout
    assert edge("resume", "bob").stdout == "tenant bob resumed\n"
    assert "bob active" in edge("list").stdout
    assert edge("remove", "bob").stdout == "tenant bob removed\n"
    assert edge("list").stdout.splitlines() == ["alice active 192.0.2.2 mail.alice.test,alice.test"]
    for args, status, text in ((("remove", "bob"), 1, "no tenant bob"),
                               (("show", "nobody"), 1, "no tenant nobody"),
                               (("suspend", "Not_A_Name"), 1, "not a tenant name"),
                               (("show",), 2, "usage:"),
                               (("frobnicate", "x"), 2, "usage:")):
        r = edge(*args)
        assert r.returncode == status and text in r.stderr, (args, r.returncode, r.stderr)


# ---- homeport-edge init and invite -----------------------------------------

def test_init_and_invite(run, tmp_path):
    conf, state = tmp_path / "edge.conf", tmp_path / "state"

    def edge(*args):
        return run("homeport-edge", "-c", conf, *args)

    r = edge("init", "--name", "relay.edge.test", "--endpoint", "203.0.113.1:51820",
             "--tunnel", "192.0.2.0/25,2001:db8:77::/64", "--state-dir", state)
    assert r.returncode == 0, r.stderr
    assert edge("--check").stdout == "configuration OK\n"
    modes = {p.name: p.stat().st_mode & 0o777 for p in [state, state / "keys", *state.rglob("*")]}
    assert modes == {"state": 0o700, "keys": 0o700, "wg.key": 0o600, "enroll.key": 0o600,
                     "tenants.db": 0o600}, modes
    # The WireGuard key is wg's: its public half is what init printed.
    pub = subprocess.run(["wg", "pubkey"], input=(state / "keys" / "wg.key").read_text(),
                         capture_output=True, text=True, check=True).stdout.strip()
    assert f"WireGuard key  {pub} (public)" in r.stdout, r.stdout
    again = edge("init", "--name", "x.test", "--endpoint", "203.0.113.1:51820", "--tunnel", "192.0.2.0/25")
    assert again.returncode == 1 and "init never replaces a configuration" in again.stderr

    r = edge("invite", "--hostname", "mail.alice.test", "--hostname", "alice.test", "--expires", "2h")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    # The token as docs/wire.md lays it out, read here without our C code.
    assert token.startswith("hpe1-")
    raw = base64.urlsafe_b64decode(token[5:] + "=" * (-len(token[5:]) % 4))
    assert len(raw) == 1 + 32 + 1 + 4 + 2 + 16 + 32 + 4, len(raw)
    assert raw[-4:] == hashlib.blake2b(raw[:-4], digest_size=32).digest()[:4]
    assert raw[0] == 1 and raw[33] == 4 and raw[34:38] == bytes([203, 0, 113, 1])
    assert int.from_bytes(raw[38:40], "big") == 51821
    invite_id, secret = raw[40:56], raw[56:88]
    db = sqlite3.connect(state / "tenants.db")
    (sec, hosts, created, expires, used), = db.execute(
        "SELECT secret, hostnames, created, expires, used FROM invites WHERE id = ?", (invite_id,))
    db.close()
    assert (sec, hosts, expires - created, used) == (secret, "mail.alice.test,alice.test", 7200, 0)
    # Two invites never share an id or a secret.
    other = base64.urlsafe_b64decode(edge("invite").stdout.strip()[5:] + "==")
    assert other[40:56] != invite_id and other[56:88] != secret
    for args, text in ((("invite", "--expires", "10s"), "a duration from 1m to 30d"),
                       (("invite", "--hostname", "not a name"), "not a host name")):
        bad = edge(*args)
        assert bad.returncode == 1 and text in bad.stderr, bad.stderr


def test_init_refusals(run, tmp_path):
    conf = tmp_path / "edge.conf"
    base = ["init", "--name", "relay.edge.test", "--state-dir", tmp_path / "s"]
    for extra, text in (
            (["--endpoint", "127.0.0.1:51820", "--tunnel", "192.0.2.0/25"], "--endpoint"),
            (["--endpoint", "203.0.113.1", "--tunnel", "192.0.2.0/25"], "--endpoint"),
            (["--endpoint", "203.0.113.1:51820", "--tunnel", "2001:db8::/64"], "--tunnel"),
            (["--endpoint", "203.0.113.1:51820", "--tunnel", "192.0.2.0/25",
              "--control", "0.0.0.0:7443"], "--control")):
        r = run("homeport-edge", "-c", conf, *base, *extra)
        assert r.returncode == 1 and text in r.stderr, (extra, r.stderr)
        assert not conf.exists()
    assert run("homeport-edge", "-c", conf, "init", "--name", "x.test").returncode == 2
    # invite on an edge without [enroll]: a clear refusal.
    conf.write_text("[edge]\nname = relay.edge.test\n")
    r = run("homeport-edge", "-c", conf, "invite")
    assert r.returncode == 1 and "no [enroll] control address" in r.stderr, r.stderr


# ---- the control port -------------------------------------------------------

def test_enrollment_over_the_control_port(run, bindir, tooldir, tmp_path, bench):
    """A running edge answers enrollments on [enroll] control: enrollq (a
    home's side, built on enroll_wire) joins with a token once; the second
    use of the token is refused; the tenant is in tenants.db at once. With
    [enroll] the edge brings its WireGuard interface up, so it runs in a
    namespace of its own, with an interface name of this run's."""
    import json
    import re
    from daemon import Daemon
    from homed import free_port
    from netns import Host, sh

    conf, state = tmp_path / "edge.conf", tmp_path / "state"
    r = run("homeport-edge", "-c", conf, "init", "--name", "relay.edge.test", "--endpoint",
            "203.0.113.1:51820", "--tunnel", "192.0.2.0/25,2001:db8:77::/64", "--state-dir", state)
    assert r.returncode == 0, r.stderr
    host = Host(bench.registry, "enroll")
    ifname = host.ifname("enr")
    # The control port on loopback, no public listeners: only what this test needs.
    port = free_port()
    conf.write_text(f"[edge]\nname = relay.edge.test\nstate_dir = {state}\nuser = nobody\n\n"
                    f"[enroll]\ncontrol = 127.0.0.1:{port}\nendpoint = 203.0.113.1:51820\n"
                    f"tunnel = 192.0.2.0/25, 2001:db8:77::/64\ninterface = {ifname}\n")
    edge = Daemon(["ip", "netns", "exec", host.ns, bindir / "homeport-edge", "-c", conf])
    go_pid = 0
    try:
        go_pid = int(re.search(r"go_pid=(\d+)", edge.wait_for(r"event=wireguard result=ok")).group(1))
        bench.registry.pids.append(go_pid)
        edge.wait_for(r"event=start result=ok")
        token = run("homeport-edge", "-c", conf, "invite", "--hostname", "mail.alice.test").stdout.strip()

        def enroll(*hosts):
            q = host.run(str(tooldir / "enrollq"), token, *hosts, check=False, timeout=30)
            assert q.returncode == 0, (q.stdout, q.stderr)
            return json.loads(q.stdout)

        got = enroll("mail.alice.test")
        assert got == {"status": 0, "message": "welcome", "tenant": "mail-alice-test",
                       "tunnel_v4": "192.0.2.2", "tunnel_v6": "2001:db8:77::2", "edge_v4": "192.0.2.1",
                       "wg_endpoint": "203.0.113.1:51820", "egress_port": 0, "nhost": 1}, got
        assert "mail-alice-test active 192.0.2.2 mail.alice.test" in run(
            "homeport-edge", "-c", conf, "tenant", "list").stdout
        again = enroll("mail.alice.test")
        assert (again["status"], again["message"]) == (1, "invite already used"), again
        line = edge.wait_for(r"event=enroll .*result=enrolled")
        assert "tenant=mail-alice-test" in line and "peer=127.0.0.1:" in line, line
        edge.wait_for(r"event=enroll .*result=refused reason=\"invite used\"")
    finally:
        assert edge.stop() == 0, "\n".join(edge.lines[-20:])
        if go_pid > 0:
            # wireguard-go (the interface outlives the edge), by PID.
            os.kill(go_pid, signal.SIGTERM)
        sh("ip", "netns", "del", host.ns, check=False)
        bench.registry.namespaces.remove(host.ns)
