"""homeport-edge tenant list|show|suspend|resume|remove: the operator's
view of tenants.db. The tenants are written into the database the way the
enrollment will (rows of the edge's own schema, which the first command
creates), then listed and changed through the command."""
import base64
import sqlite3

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
