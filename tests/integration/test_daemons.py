"""homeportd and homeport-edge as daemons: start, reload on SIGHUP (a bad
configuration is refused and the running one kept), stop on SIGTERM."""
import pathlib
import shutil
import signal
import tempfile

import pytest

from daemon import Daemon

HOME_CONF = """[home]
hostname = mail.example.test
state_dir = {state}
log_level = {level}

[listener mx]
address = 192.0.2.2:25
mode = smtp
"""

EDGE_CONF = """[edge]
name = relay.example.net
user = nobody

[tenant alice]
tunnel_address = 192.0.2.2
hostnames = mail.alice.test
"""


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        d.stop()


@pytest.fixture
def home_state(run, tmp_path):
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    r = run("homeport", "keys", "selfcert", "-c", state / "keys/tls.crt", "-k",
            state / "keys/tls.key", "mail.example.test")
    assert r.returncode == 0, r.stderr
    return state


def test_homeportd_start_reload_stop(bindir, tmp_path, home_state, daemons):
    conf = tmp_path / "homeportd.conf"
    conf.write_text(HOME_CONF.format(state=home_state, level="info"))
    d = Daemon([bindir / "homeportd", "-c", conf])
    daemons.append(d)
    line = d.wait_for(r"event=start ")
    assert "result=ok hostname=mail.example.test listeners=1" in line
    assert 'certificate="/CN=mail.example.test"' in line

    # A broken file: refused with the exact line, the old configuration kept.
    conf.write_text(HOME_CONF.format(state=home_state, level="info") + "bogus = 1\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_for(r"event=reload ", start=m)
    assert "result=failed keeping=old" in line
    assert f"{conf}:9: [listener mx] bogus: unknown key" in line
    assert d.proc.poll() is None

    # A good one: applied.
    conf.write_text(HOME_CONF.format(state=home_state, level="debug").replace(
        "[listener mx]", "[listener mx2]\naddress = 192.0.2.2:587\nmode = submission\n\n[listener mx]"))
    m = d.mark()
    d.signal(signal.SIGHUP)
    assert "result=ok hostname=mail.example.test listeners=2" in d.wait_for(r"event=reload ", start=m)

    assert d.stop() == 0
    assert "event=stop result=ok" in d.lines[-1]


def test_homeportd_reload_refuses_a_broken_certificate(bindir, tmp_path, home_state, daemons):
    conf = tmp_path / "homeportd.conf"
    conf.write_text(HOME_CONF.format(state=home_state, level="info"))
    d = Daemon([bindir / "homeportd", "-c", conf])
    daemons.append(d)
    d.wait_for(r"event=start result=ok")
    (home_state / "keys/tls.key").chmod(0o644)
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_for(r"event=reload ", start=m)
    assert "result=failed keeping=old" in line and "chmod 600" in line
    assert d.stop() == 0


def test_homeportd_without_certificate_says_what_to_do(bindir, tmp_path, daemons):
    conf = tmp_path / "homeportd.conf"
    conf.write_text(HOME_CONF.format(state=tmp_path / "empty", level="info"))
    d = Daemon([bindir / "homeportd", "-c", conf])
    daemons.append(d)
    line = d.wait_for(r"event=start ")
    assert "result=failed" in line and "tls.crt: cannot open" in line and "homeport init" in line
    assert d.wait() == 1


def test_edge_start_reload_stop(bindir, daemons):
    # The edge drops root to "nobody" and reads the file again as nobody.
    confdir = pathlib.Path(tempfile.mkdtemp(prefix="hp-edge-"))
    confdir.chmod(0o755)
    conf = confdir / "edge.conf"
    conf.write_text(EDGE_CONF)
    conf.chmod(0o644)
    d = Daemon([bindir / "homeport-edge", "-c", conf])
    daemons.append(d)
    try:
        _edge_start_reload_stop(d, conf)
    finally:
        shutil.rmtree(confdir)


def test_edge_refuses_to_run_as_a_missing_user(bindir, tmp_path, daemons):
    conf = tmp_path / "edge.conf"
    conf.write_text(EDGE_CONF.replace("user = nobody", "user = hp-no-such-user"))
    d = Daemon([bindir / "homeport-edge", "-c", conf])
    daemons.append(d)
    line = d.wait_for(r"event=start ")
    assert 'result=failed error="cannot run as user hp-no-such-user: no such user"' in line
    assert d.wait() == 1


def _edge_start_reload_stop(d, conf):
    assert "result=ok name=relay.example.net listeners=0 sockets=0 tenants=1" in d.wait_for(r"event=start ")

    conf.write_text(EDGE_CONF + "[tenant bob]\ntunnel_address = 192.0.2.3\nhostnames = MAIL.alice.test\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    line = d.wait_for(r"event=reload ", start=m)
    assert "result=failed keeping=old" in line and "also claimed by [tenant alice]" in line

    conf.write_text(EDGE_CONF + "[tenant bob]\ntunnel_address = 192.0.2.3\nhostnames = mail.bob.test\n")
    m = d.mark()
    d.signal(signal.SIGHUP)
    assert "result=ok listeners=0 tenants=2" in d.wait_for(r"event=reload ", start=m)
    assert d.stop() == 0
