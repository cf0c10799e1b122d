"""homeportd and homeport-edge as daemons: start, reload on SIGHUP (a bad
configuration is refused and the running one kept), stop on SIGTERM."""
import pathlib
import shutil
import signal
import socket
import tempfile

import pytest

from daemon import Daemon
from homed import Home, free_port

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


def _home(bindir, tmp_path):
    """homeportd with one MX listener on a free loopback port, run as
    nobody when started as root (homed.Home sets up the state directory)."""
    home = Home(bindir.parent, tmp_path / "home", hostname="mail.example.test", log_level="info")
    home.listener("mx", "smtp")
    return home


def test_homeportd_start_reload_stop(bindir, tmp_path):
    home = _home(bindir, tmp_path)
    try:
        line = home.start().wait_for(r"event=start ")
        assert "result=ok hostname=mail.example.test listeners=1" in line
        assert 'certificate="/CN=mail.example.test"' in line
        good = home.conf_path.read_text()

        # A broken file: refused with the exact line, the old configuration kept.
        home.conf_path.write_text(good + "bogus = 1\n")
        m = home.mark()
        home.signal(signal.SIGHUP)
        line = home.wait_for(r"event=reload result=", start=m)
        assert "result=failed keeping=old" in line
        lineno = good.count("\n") + 1
        assert f"{home.conf_path}:{lineno}: [listener mx] bogus: unknown key" in line
        assert home.alive()

        # A good one: applied; the new listener needs a restart and says so.
        home.conf_path.write_text(good.replace("log_level = info", "log_level = debug").replace(
            "[listener mx]", f"[listener mx2]\naddress = 127.0.0.1:{free_port()}\nmode = submission\n\n"
            "[listener mx]"))
        m = home.mark()
        home.signal(signal.SIGHUP)
        assert "result=ok hostname=mail.example.test listeners=2" in home.wait_for(r"event=reload result=",
                                                                                 start=m)
        assert "result=needs_restart" in home.wait_for(r"event=reload .*listeners?=", start=m)

        # The same listener moved to another address (as relay on|off does): a restart too, and
        # until then the old address still answers.
        old = home.port("mx")
        home.conf_path.write_text(good.replace(f"127.0.0.1:{old}", f"127.0.0.1:{free_port()}"))
        m = home.mark()
        home.signal(signal.SIGHUP)
        home.wait_for(r"event=reload listener=mx result=needs_restart", start=m)
        with socket.create_connection(("127.0.0.1", old), timeout=5) as s:
            assert s.recv(100).startswith(b"220 ")
        assert home.stop() == 0
        assert "event=stop result=ok" in home.lines[-1]
    finally:
        home.stop()


def test_homeportd_reload_keeps_the_certificate_when_the_new_one_is_refused(bindir, tmp_path):
    home = _home(bindir, tmp_path)
    try:
        home.start()
        (home.state_dir / "keys/tls.key").chmod(0o644)
        m = home.mark()
        home.signal(signal.SIGHUP)
        line = home.wait_for(r"event=reload tls=", start=m)
        assert "tls=kept_old" in line and "chmod 600" in line, line
        # The rest of the configuration was applied all the same.
        assert "result=ok" in home.wait_for(r"event=reload result=", start=m)
        assert home.stop() == 0
    finally:
        home.stop()


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
