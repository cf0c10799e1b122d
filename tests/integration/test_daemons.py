"""homeportd and homeport-edge as daemons: start, reload on SIGHUP (a bad
configuration is refused and the running one kept; a listener that moved
is rebuilt while its sessions finish), stop on SIGTERM; homeportd's PID
file and, run as root, the one capability it keeps."""
import os
import pathlib
import pwd
import shutil
import signal
import socket
import tempfile

import pytest

from daemon import Daemon
from homed import Home, free_port
from test_smtp import Raw

CAP_NET_BIND_SERVICE = 10

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

        # A good one: applied; the new listener is bound at once, the old one left as it was.
        added = free_port()
        home.conf_path.write_text(good.replace("log_level = info", "log_level = debug").replace(
            "[listener mx]", f"[listener mx2]\naddress = 127.0.0.1:{added}\nmode = submission\n\n"
            "[listener mx]"))
        m = home.mark()
        home.signal(signal.SIGHUP)
        assert "result=ok hostname=mail.example.test listeners=2" in home.wait_for(r"event=reload result=",
                                                                                 start=m)
        line = home.wait_for(r"event=reload listener=mx2 ", start=m)
        assert f"result=added address=127.0.0.1:{added} proxy=no" in line, line
        assert not any("listener=mx " in x for x in home.lines[m:]), home.lines[m:]
        with socket.create_connection(("127.0.0.1", added), timeout=5) as s:
            assert s.recv(100).startswith(b"220 ")

        # Removed again: its port closes.
        home.conf_path.write_text(good)
        m = home.mark()
        home.signal(signal.SIGHUP)
        assert "result=removed" in home.wait_for(r"event=reload listener=mx2 ", start=m)
        home.wait_for(r"event=reload result=ok", start=m)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", added), timeout=5)
        assert home.stop() == 0
        assert "event=stop result=ok" in home.lines[-1]
    finally:
        home.stop()


def _moved(home, port):
    """homeportd.conf with [listener mx] on 127.0.0.1:port instead."""
    old = home.port("mx")
    return home.conf_path.read_text().replace(f"127.0.0.1:{old}\n", f"127.0.0.1:{port}\n")


def test_homeportd_moves_a_listener_on_reload_and_its_sessions_finish(bindir, tmp_path):
    """As relay on|off moves the listeners: on SIGHUP the same process answers
    on the new port at once, the old port is closed, and a session opened
    before, in the middle of a message, delivers it and ends with 221."""
    home = _home(bindir, tmp_path)
    try:
        home.start()
        home.add_domain("example.test")
        home.add_user("alice@example.test")
        pid = home.proc.pid
        old, new = home.port("mx"), free_port()
        before = Raw.connect(old)
        assert before.cmd("EHLO before.test")[0] == 250
        assert before.cmd("MAIL FROM:<carol@before.test>")[0] == 250
        assert before.cmd("RCPT TO:<alice@example.test>")[0] == 250

        home.conf_path.write_text(_moved(home, new))
        m = home.mark()
        home.signal(signal.SIGHUP)
        line = home.wait_for(r"event=reload listener=mx ", start=m)
        assert f"result=moved address=127.0.0.1:{new} proxy=no" in line, line
        home.wait_for(r"event=reload result=ok", start=m)
        assert home.alive() and home.proc.pid == pid
        after = Raw.connect(new)
        assert after.cmd("QUIT")[0] == 221
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", old), timeout=5)

        # The session from before the move goes on to the end of its message.
        assert before.cmd("DATA")[0] == 354
        assert before.cmd("Subject: across a reload\r\n\r\nmoved while sending\r\n.")[0] == 250
        assert before.cmd("QUIT")[0] == 221
        assert before.closed()
        assert [b"moved while sending" in x.body for x in home.messages("alice@example.test")] == [True]
        assert home.stop() == 0
    finally:
        home.stop()


def test_homeportd_keeps_a_listener_whose_new_address_is_taken(bindir, tmp_path):
    """A reload that cannot bind a listener's new address (another program
    holds it) binds the old one again: the listener keeps answering where
    it did, and the reload says it was partial."""
    home = _home(bindir, tmp_path)
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        home.start()
        old, new = home.port("mx"), taken.getsockname()[1]
        home.conf_path.write_text(_moved(home, new))
        m = home.mark()
        home.signal(signal.SIGHUP)
        line = home.wait_for(r"event=reload listener=mx ", start=m)
        assert "result=failed kept=old_address" in line and "Address already in use" in line, line
        assert "failed=1" in home.wait_for(r"event=reload result=partial", start=m)
        still = Raw.connect(old)
        assert still.cmd("QUIT")[0] == 221 and still.closed()
        assert home.alive()

        # Once the address is free, the next reload moves it.
        taken.close()
        m = home.mark()
        home.signal(signal.SIGHUP)
        assert f"result=moved address=127.0.0.1:{new}" in home.wait_for(r"event=reload listener=mx ", start=m)
        home.wait_for(r"event=reload result=ok", start=m)
        assert home.stop() == 0
    finally:
        taken.close()
        home.stop()


def test_homeportd_writes_its_pid_file_and_removes_it(bindir, tmp_path):
    home = _home(bindir, tmp_path)
    pid_file = home.state_dir / "homeportd.pid"
    try:
        home.start()
        assert pid_file.read_text() == f"{home.proc.pid}\n"
        assert pid_file.stat().st_mode & 0o777 == 0o644
        assert home.stop() == 0
        assert not pid_file.exists()
    finally:
        home.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="homeportd drops root only when started as root")
def test_homeportd_as_root_keeps_only_cap_net_bind_service(bindir, tmp_path):
    """Started as root, homeportd runs as nobody with CAP_NET_BIND_SERVICE
    alone, and so can move a listener to a port under 1024 on reload."""
    home = _home(bindir, tmp_path)
    try:
        home.start()
        status = {}
        for text in pathlib.Path(f"/proc/{home.proc.pid}/status").read_text().splitlines():
            k, _, v = text.partition(":")
            status[k] = v.split()
        nobody = str(pwd.getpwnam("nobody").pw_uid)
        assert status["Uid"] == [nobody] * 4, status["Uid"]
        for field in ("CapEff", "CapPrm"):
            assert int(status[field][0], 16) == 1 << CAP_NET_BIND_SERVICE, (field, status[field])
        assert int(status["CapInh"][0], 16) == 0, status["CapInh"]
        low = free_low_port()
        home.conf_path.write_text(_moved(home, low))
        m = home.mark()
        home.signal(signal.SIGHUP)
        line = home.wait_for(r"event=reload listener=mx ", start=m)
        assert f"result=moved address=127.0.0.1:{low} " in line, line
        with socket.create_connection(("127.0.0.1", low), timeout=5) as s:
            assert s.recv(100).startswith(b"220 ")
        assert home.stop() == 0
    finally:
        home.stop()


def free_low_port():
    """A port under 1024 free on 127.0.0.1 (we are root here)."""
    for port in range(1023, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port under 1024 on 127.0.0.1")


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
