"""homeport-edge on loopback: every listener mode, routing order, PROXY
headers, refusals, backpressure, half-close, reload and metrics.

The edge runs as a real process with a generated configuration; the homes
are edgepeer.Backend servers on other loopback addresses (127.0.0.2 is
tenant alice, 127.0.0.3 bob, 127.0.0.6 carol whose home is down).
"""
import errno
import os
import pathlib
import re
import shutil
import signal
import smtplib
import socket
import ssl
import tempfile
import threading
import time
import urllib.request

import pytest

from daemon import Daemon
from edgepeer import Backend, make_cert, read_proxy

ALICE, BOB, CAROL = "127.0.0.2", "127.0.0.3", "127.0.0.6"
BOB_PUBLIC = "127.0.0.5"
BACKEND_BIND_TRIES = 5      # probes of free backend ports (see Edge.__init__)


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def free_ports(n, host="127.0.0.1"):
    """n distinct free ports: all held open until all are chosen."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class RawHome:
    """A home behind a passthrough listener that speaks raw bytes after the
    PROXY v2 header, one thread per connection:

      'echo'        echo every byte until EOF, then write "bye N\n" (N: the
                    bytes echoed) and shut its write half;
      'shut-first'  write "hello\n" and shut its write half at once, then
                    read until EOF.

    Per connection it records what it read and how the connection ended
    ("eof", or "reset" when the edge reset it) and sets an event."""

    def __init__(self, host, port, mode):
        self.name, self.mode = "alice", mode
        self.errors = []
        self.conns = []                 # dicts: received, end, done (threading.Event)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            c = {"received": bytearray(), "end": None, "done": threading.Event()}
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(conn, c), daemon=True).start()

    def _serve(self, conn, c):
        conn.settimeout(30)
        try:
            read_proxy(conn)
            if self.mode == "shut-first":
                conn.sendall(b"hello\n")
                conn.shutdown(socket.SHUT_WR)
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                c["received"] += data
                if self.mode == "echo":
                    conn.sendall(data)
            c["end"] = "eof"
            if self.mode == "echo":
                try:
                    conn.sendall(b"bye %d\n" % len(c["received"]))
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    c["end"] = "eof, then closed"   # the edge closed both sides
        except ConnectionResetError:
            c["end"] = "reset"
        except Exception as e:  # recorded for the test to report
            self.errors.append(repr(e))
        finally:
            conn.close()
            c["done"].set()

    def close(self):
        self.sock.close()


class Edge:
    """The edge, its ports, and the backends of alice and bob."""

    def __init__(self, bindir, tmp, confdir):
        self.tmp = tmp
        names = ("tls", "mx", "mxdefault", "imap", "pass", "http", "hold", "echo", "shut",
                 "egress", "metrics")
        self.ports = dict(zip(names, free_ports(len(names))))
        self.certs = certs = make_cert(tmp, ["mail.alice.test", "*.alice.test", "mail.bob.test"])
        # The ports are probed free on ALICE and bound a moment later, bob's on another address:
        # something may take one in between (seen under ASan). Then probe again.
        for attempt in range(BACKEND_BIND_TRIES):
            names = ("tls", "smtp", "imap", "banner", "http", "hold", "echo", "shut")
            self.bport = dict(zip(names, free_ports(len(names), ALICE)))
            try:
                self.backends = self._backends(certs)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or attempt == BACKEND_BIND_TRIES - 1:
                    raise
        self.conf = confdir / "edge.conf"
        self.write_conf()
        self.conf.chmod(0o644)
        self.d = Daemon([bindir / "homeport-edge", "-c", self.conf])
        self.d.wait_for(r"event=start result=ok")

    def _backends(self, certs):
        """Every backend on its port of self.bport; none left open if one cannot bind."""
        b, made = self.bport, {}
        specs = [
            (("alice", "tls"), lambda: Backend(ALICE, b["tls"], "alice", "tls-echo", certs)),
            (("alice", "smtp"), lambda: Backend(ALICE, b["smtp"], "alice", "smtp-tls", certs)),
            (("alice", "imap"), lambda: Backend(ALICE, b["imap"], "alice", "tls-echo", certs)),
            (("alice", "http"), lambda: Backend(ALICE, b["http"], "alice", "http")),
            (("alice", "hold"), lambda: Backend(ALICE, b["hold"], "alice", "hold")),
            (("alice", "echo"), lambda: RawHome(ALICE, b["echo"], "echo")),
            (("alice", "shut"), lambda: RawHome(ALICE, b["shut"], "shut-first")),
            (("bob", "tls"), lambda: Backend(BOB, b["tls"], "bob", "tls-echo", certs, proxy="v1")),
            (("bob", "banner"), lambda: Backend(BOB, b["banner"], "bob", "banner", proxy="v1")),
        ]
        try:
            for key, make in specs:
                made[key] = make()
        except OSError:
            for backend in made.values():
                backend.close()
            raise
        return made

    def write_conf(self):
        p, b = self.ports, self.bport
        self.conf.write_text(f"""
[edge]
name = relay.example.test
user = nobody
log_level = debug
max_connections = 20000
max_per_source = 20000
rate_per_source = 0
metrics = 127.0.0.1:{p['metrics']}

[listener tls]
address = 127.0.0.1:{p['tls']}
mode = sni
tenant_port = {b['tls']}

[listener mx]
address = 127.0.0.1:{p['mx']}
mode = starttls
tenant_port = {b['smtp']}
handshake_timeout = 3s

[listener mxdefault]
address = 127.0.0.1:{p['mxdefault']}
mode = starttls
default_tenant = alice
tenant_port = {b['smtp']}

[listener imap]
address = 127.0.0.1:{p['imap']}
mode = starttls
preamble = imap
tenant_port = {b['imap']}

[listener pass]
address = {BOB_PUBLIC}:{p['pass']}, 127.0.0.1:{p['pass']}
mode = passthrough
tenant_port = {b['banner']}

[listener http]
address = 127.0.0.1:{p['http']}
mode = http
tenant_port = {b['http']}

[listener hold]
address = 127.0.0.1:{p['hold']}
mode = passthrough
default_tenant = alice
tenant_port = {b['hold']}
idle_timeout = 5s

[listener echo]
address = 127.0.0.1:{p['echo']}
mode = passthrough
default_tenant = alice
tenant_port = {b['echo']}
idle_timeout = 2s

[listener shut]
address = 127.0.0.1:{p['shut']}
mode = passthrough
default_tenant = alice
tenant_port = {b['shut']}

[egress]
address = 127.0.0.1:{p['egress']}
ports = 25, 587
deny = 198.51.100.0/24

[tenant alice]
hostnames = mail.alice.test, *.alice.test
tunnel_address = {ALICE}

[tenant bob]
hostnames = mail.bob.test
tunnel_address = {BOB}
public_addresses = {BOB_PUBLIC}
proxy = v1

[tenant carol]
hostnames = mail.carol.test
tunnel_address = {CAROL}
""")

    def client_ctx(self):
        ctx = ssl.create_default_context(cafile=str(self.certs[0]))
        return ctx

    def close(self):
        """Stop everything; returns the edge's exit status."""
        status = self.d.stop()
        for b in self.backends.values():
            b.close()
        return status


@pytest.fixture
def edge(bindir, tmp_path):
    # The edge reads its configuration again on SIGHUP, as user nobody.
    confdir = pathlib.Path(tempfile.mkdtemp(prefix="hp-edge-"))
    confdir.chmod(0o755)
    e = Edge(bindir, tmp_path, confdir)
    yield e
    status = e.close()
    shutil.rmtree(confdir)
    # A clean stop, and under SAN=1 no sanitizer report (they exit non-zero).
    assert status == 0, "\n".join(e.d.lines[-30:])
    for b in e.backends.values():
        assert not b.errors, f"backend {b.name}/{b.mode}: {b.errors}"


def tls_echo(e, name, port=None, line=b"hello\n"):
    with socket.create_connection(("127.0.0.1", port or e.ports["tls"]), timeout=10) as raw:
        with e.client_ctx().wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(line)
            return tls.recv(4096), tls.getsockname()


def test_sni_routes_by_exact_name_with_a_proxy_v2_header(edge):
    reply, client = tls_echo(edge, "mail.alice.test")
    assert reply == b"echo alice hello\n"
    h = edge.backends[("alice", "tls")].headers[-1]
    assert (h.version, h.command) == (2, 1)
    assert h.src == client and h.dst == ("127.0.0.1", edge.ports["tls"])
    assert h.authority == "mail.alice.test"
    assert re.fullmatch(rb"[0-9a-f]{12}", h.unique_id)
    assert h.homeport is None          # no STARTTLS was answered on an sni listener
    assert 0x20 not in h.tlvs          # never PP2_TYPE_SSL
    line = edge.d.wait_for(r"event=relay .*tenant=alice by=name")
    assert f"sid={h.unique_id.decode()}" in line


def test_sni_routes_by_suffix_and_sends_v1_where_asked(edge):
    reply, _ = tls_echo(edge, "webmail.alice.test")
    assert reply == b"echo alice hello\n"
    edge.d.wait_for(r"event=relay .*tenant=alice by=suffix")
    reply, client = tls_echo(edge, "MAIL.BOB.TEST")
    assert reply == b"echo bob hello\n"
    h = edge.backends[("bob", "tls")].headers[-1]
    assert h.version == 1 and h.src == client


def test_unknown_sni_gets_unrecognized_name(edge):
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        tls_echo(edge, "mail.nobody.test")
    edge.d.wait_for(r"event=relay .*by=none .*end=no_route")


def test_garbage_and_truncated_hello_are_closed_and_others_still_work(edge):
    with socket.create_connection(("127.0.0.1", edge.ports["tls"]), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(100) == b""
    with socket.create_connection(("127.0.0.1", edge.ports["tls"]), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # then nothing
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""
    assert tls_echo(edge, "mail.alice.test")[0] == b"echo alice hello\n"


def test_starttls_smtp_routes_by_sni_and_the_home_gets_the_tlv(edge):
    s = smtplib.SMTP("127.0.0.1", edge.ports["mx"], local_hostname="sender.example.test", timeout=10)
    try:
        code, msg = s.ehlo()
        assert code == 250 and msg.split(b"\n")[0] == b"relay.example.test"
        assert set(s.esmtp_features) == {"size", "8bitmime", "enhancedstatuscodes", "starttls"}
        ctx = edge.client_ctx()
        s._host = "mail.alice.test"            # smtplib sends SNI from the host it was given
        assert s.starttls(context=ctx)[0] == 220
        code, msg = s.ehlo()                   # RFC 3207: EHLO again, now answered by the home
        assert code == 250 and msg.startswith(b"alice after TLS")
        assert s.noop()[0] == 250
    finally:
        s.quit()
    h = edge.backends[("alice", "smtp")].headers[-1]
    assert h.authority == "mail.alice.test"
    assert h.homeport == (1, 1, 1, "sender.example.test")
    edge.d.wait_for(r"event=relay .*listener=mx .*tenant=alice by=name")


def test_starttls_without_sni_uses_the_default_tenant_or_refuses(edge):
    for port, expect in ((edge.ports["mxdefault"], "alice"), (edge.ports["mx"], None)):
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="nosni.example.test", timeout=10)
        s.ehlo()
        ctx = ssl.create_default_context(cafile=str(edge.certs[0]))
        ctx.check_hostname = False
        # smtplib names the server by the host it connected to; Python
        # sends no SNI for an IP address.
        if expect is None:
            with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
                s.starttls(context=ctx)
            s.close()
        else:
            assert s.starttls(context=ctx)[0] == 220
            assert s.ehlo()[1].startswith(b"alice after TLS")
            s.quit()
    edge.d.wait_for(r"event=relay .*listener=mxdefault .*tenant=alice by=default")
    edge.d.wait_for(r"event=relay .*listener=mx .*by=none .*end=no_route")


def raw_session(port, sends, host="127.0.0.1", greeting=True):
    """Send each chunk from host, collecting everything the server says until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(host, 0)) as s:
        out = b""
        if sends and greeting:
            out = s.recv(4096)          # the greeting: clients wait for it
        s.settimeout(1.0)
        for chunk in sends:
            s.sendall(chunk)
            try:
                out += s.recv(65536)
            except socket.timeout:
                pass
        s.settimeout(10)
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            out += data
        return out


def test_smtp_preamble_refuses_mail_before_starttls_and_pipelining_after_it(edge):
    sent = [b"EHLO a.test\r\n", b"MAIL FROM:<a@a.test>\r\n", b"QUIT\r\n"]
    m = edge.d.mark()
    out = raw_session(edge.ports["mx"], sent)
    assert b"451 4.7.0 Must issue a STARTTLS command first\r\n" in out
    assert out.endswith(b"221 2.0.0 Bye\r\n")
    # Never routed: the log counts the preamble's bytes, both ways.
    line = edge.d.wait_for(r"event=relay listener=mx .*end=", start=m)
    assert f"from_client={len(b''.join(sent))} to_client={len(out)} " in line, line
    out = raw_session(edge.ports["mx"], [b"EHLO a.test\r\n",
                                          b"STARTTLS\r\nMAIL FROM:<a@a.test>\r\n"])
    assert out.endswith(b"554 5.5.0 Error: bytes sent after STARTTLS\r\n")
    assert b"220 2.0.0" not in out


def test_imap_preamble_up_to_starttls(edge):
    out = raw_session(edge.ports["imap"], [b"a1 CAPABILITY\r\n", b"a2 LOGIN u p\r\n",
                                            b"a3 LOGOUT\r\n"])
    assert out.startswith(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] relay.example.test")
    assert b"a1 OK" in out and b"a2 NO [PRIVACYREQUIRED]" in out and b"a3 OK" in out
    with socket.create_connection(("127.0.0.1", edge.ports["imap"]), timeout=10) as raw:
        f = raw.makefile("rwb")
        assert f.readline().startswith(b"* OK")
        f.write(b"t1 STARTTLS\r\n")
        f.flush()
        assert f.readline() == b"t1 OK Begin TLS negotiation now\r\n"
        with edge.client_ctx().wrap_socket(raw, server_hostname="imap.alice.test") as tls:
            tls.sendall(b"x1 NOOP\r\n")
            assert tls.recv(100) == b"echo alice x1 NOOP\r\n"
    h = edge.backends[("alice", "imap")].headers[-1]
    assert h.homeport == (1, 1, 2, "")


def test_a_client_that_speaks_before_the_greeting_is_refused(edge):
    pid = edge.d.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        s = socket.create_connection(("127.0.0.1", edge.ports["mx"]), timeout=10)
        s.sendall(b"EHLO eager.test\r\n")
    finally:
        os.kill(pid, signal.SIGCONT)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"554 5.5.1")
    assert b"220" not in data


def test_passthrough_routes_by_address_and_the_home_speaks_first(edge):
    with socket.create_connection((BOB_PUBLIC, edge.ports["pass"]), timeout=10) as s:
        f = s.makefile("rwb")
        assert f.readline() == b"220 bob ESMTP backend\r\n"
        f.write(b"NOOP\r\n")
        f.flush()
        assert f.readline() == b"250 bob NOOP\r\n"
        client = s.getsockname()
        f.close()
    h = edge.backends[("bob", "banner")].headers[-1]
    assert h.version == 1 and h.src == client and h.dst == (BOB_PUBLIC, edge.ports["pass"])
    edge.d.wait_for(r"event=relay .*listener=pass .*tenant=bob by=address")


def test_passthrough_with_no_tenant_answers_421(edge):
    out = raw_session(edge.ports["pass"], [])
    assert out.startswith(b"421 4.3.0 relay.example.test No route")


def test_an_unreachable_home_gets_421_never_5xx(edge):
    conf = edge.conf.read_text().replace("[listener hold]", f"""[listener down]
address = 127.0.0.1:{free_port()}
mode = passthrough
default_tenant = carol

[listener hold]""")
    edge.conf.write_text(conf)
    # A new listener needs a restart: the reload is refused and the old one kept.
    m = edge.d.mark()
    edge.d.signal(signal.SIGHUP)
    assert "result=failed" in edge.d.wait_for(r"event=reload ", start=m)
    edge.d.stop()
    edge.d = Daemon([edge.d.proc.args[0], "-c", edge.conf])
    edge.d.wait_for(r"event=start result=ok")
    port = int(re.search(r"\[listener down\]\naddress = 127.0.0.1:(\d+)", conf).group(1))
    out = raw_session(port, [])
    assert out.startswith(b"421 4.4.2 relay.example.test Destination unreachable")
    edge.d.wait_for(r"event=relay .*tenant=carol .*end=tenant_down")


def test_http_routes_by_host(edge):
    req = urllib.request.Request(f"http://127.0.0.1:{edge.ports['http']}/.well-known/acme-challenge/x",
                                 headers={"Host": "mail.alice.test"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.read() == b"alice"
    h = edge.backends[("alice", "http")].headers[-1]
    assert h.authority == "mail.alice.test"
    out = raw_session(edge.ports["http"], [b"GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n"],
                      greeting=False)
    assert out.startswith(b"HTTP/1.1 421 ")
    out = raw_session(edge.ports["http"], [b"GET / HTTP/1.1\r\n\r\n"], greeting=False)
    assert out.startswith(b"HTTP/1.1 400 ")


def test_backpressure_stops_reading_a_fast_client(edge):
    """The home reads nothing: the edge must stop reading the client, not buffer it all."""
    hold = edge.backends[("alice", "hold")]
    port = edge.ports["hold"]
    rss_before = rss_kib(edge.d.proc.pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    chunk = b"x" * 65536
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sent < 64 << 20:
        try:
            sent += s.send(chunk)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break
            time.sleep(0.05)
    # Without backpressure the edge would read (and buffer) all it is sent
    # and the client would never stall.
    assert stalled_since is not None, f"sent {sent} bytes and the edge kept reading"
    assert sent < 64 << 20, sent
    # Kernel socket buffers on both hops hold most of what was sent; the
    # edge itself holds at most PIPE_BUFFER_MAX (256 KiB) plus a read's
    # worth. The bound is loose for ASan's allocator.
    rss_stalled = rss_kib(edge.d.proc.pid)
    assert rss_stalled - rss_before < 32 << 10, (rss_before, rss_stalled, sent)
    s.setblocking(True)
    hold.release()
    s.shutdown(socket.SHUT_WR)              # half-close: the home sees EOF, then answers
    reply = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        reply += data
    s.close()
    assert reply == b"got %d\n" % sent
    assert hold.held_bytes == [sent]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_reload_adds_a_tenant_while_connections_carry_on(edge):
    with socket.create_connection(("127.0.0.1", edge.ports["tls"]), timeout=10) as raw:
        with edge.client_ctx().wrap_socket(raw, server_hostname="mail.alice.test") as tls:
            tls.sendall(b"before\n")
            assert tls.recv(100) == b"echo alice before\n"
            with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
                tls_echo(edge, "new.example.test")
            conf = edge.conf.read_text().replace("hostnames = mail.bob.test",
                                                 "hostnames = mail.bob.test, new.example.test")
            edge.conf.write_text(conf)
            m = edge.d.mark()
            edge.d.signal(signal.SIGHUP)
            assert "result=ok" in edge.d.wait_for(r"event=reload ", start=m)
            tls.sendall(b"after\n")
            assert tls.recv(100) == b"echo alice after\n"
    ctx = ssl.create_default_context(cafile=str(edge.certs[0]))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", edge.ports["tls"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="new.example.test") as tls:
            tls.sendall(b"hi\n")
            assert tls.recv(100) == b"echo bob hi\n"


def test_metrics_count_by_tenant_and_listener(edge):
    tls_echo(edge, "mail.alice.test")
    with pytest.raises(ssl.SSLError):
        tls_echo(edge, "mail.nobody.test")
    edge.d.wait_for(r"event=relay .*end=no_route")
    with urllib.request.urlopen(f"http://127.0.0.1:{edge.ports['metrics']}/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'homeport_edge_routed_name_total{tenant="alice",listener="tls"} 1' in text
    assert 'homeport_edge_accepted_total{tenant="",listener="tls"} 2' in text
    assert 'homeport_edge_refused_total{tenant="",listener="tls"} 1' in text
    m = re.search(r'homeport_edge_bytes_to_client_total\{tenant="alice",listener="tls"\} (\d+)', text)
    assert m and int(m.group(1)) > 0


def socks(edge, request, source=ALICE, greeting=b"\x05\x01\x00"):
    """One SOCKS5 exchange from source; returns (method reply, request reply) bytes."""
    with socket.socket() as s:
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(("127.0.0.1", edge.ports["egress"]))
        try:
            s.sendall(greeting)
            method = s.recv(2)
        except ConnectionResetError:
            return b"", b""
        if method != b"\x05\x00":
            return method, s.recv(100)
        s.sendall(request)
        reply = b""
        while True:
            chunk = s.recv(100)
            if not chunk:
                return method, reply
            reply += chunk


def connect_v4(ip, port):
    return b"\x05\x01\x00\x01" + socket.inet_aton(ip) + port.to_bytes(2, "big")


def test_egress_refuses_what_it_must(edge):
    # Not a tenant (the source is no tunnel address): closed without a word.
    assert socks(edge, connect_v4("192.0.2.99", 25), source="127.0.0.1") == (b"", b"")
    edge.d.wait_for(r"event=egress result=refused peer=127.0.0.1:\d+ reason=not_a_tenant")
    # No acceptable method (only username/password offered).
    assert socks(edge, b"", greeting=b"\x05\x01\x02")[0] == b"\x05\xff"
    # Its line first: the cases below each look at the first line after a mark.
    edge.d.wait_for(r"event=egress tenant=alice .*end=no_acceptable_method")
    cases = [
        (connect_v4("192.0.2.99", 80), 2, "port_not_allowed"),
        (connect_v4("127.0.0.1", 25), 2, "special_address"),
        (connect_v4("10.1.2.3", 25), 2, "special_address"),
        (connect_v4("198.51.100.25", 25), 2, "denied_network"),
        (b"\x05\x01\x00\x03\x0cmx.peer.test\x00\x19", 8, "domain_name"),
        (b"\x05\x02\x00\x01" + socket.inet_aton("192.0.2.99") + b"\x00\x19", 7, "bad_request"),
    ]
    for request, code, reason in cases:
        m = edge.d.mark()
        method, reply = socks(edge, request)
        assert method == b"\x05\x00"
        assert reply[:2] == bytes([5, code]), (request, reply)
        line = edge.d.wait_for(r"event=egress tenant=alice ", start=m)
        assert f"end={reason}" in line, line


def test_a_slow_client_is_cut_off_at_the_handshake_timeout(edge):
    """One byte every half second never makes a line: 421 at handshake_timeout (3 s)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", edge.ports["mx"]), timeout=10) as s:
        assert s.recv(4096).startswith(b"220 ")
        out = b""
        for c in b"EHLO slow.example.test\r\n":
            try:
                s.sendall(bytes([c]))
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.5)
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            out += data
            if not data or b"421" in out:
                break
        s.settimeout(10)
        try:
            while (data := s.recv(4096)):
                out += data
        except ConnectionResetError:
            pass
    assert out.startswith(b"421 4.4.2 relay.example.test Timeout"), out
    assert 2.5 < time.monotonic() - start < 8
    edge.d.wait_for(r"event=relay .*listener=mx .*end=handshake_timeout")


def test_an_oversized_client_hello_is_closed(edge):
    record = b"\x16\x03\x01\x40\x00"          # one full 16 KiB record...
    body = b"\x01\x00\x7f\xfc" + b"\x00" * (0x4000 - 4)   # ...of a 32 KiB ClientHello
    with socket.create_connection(("127.0.0.1", edge.ports["tls"]), timeout=10) as s:
        try:
            s.sendall(record + body + record + b"\x00" * 0x4000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
    line = edge.d.wait_for(r"event=relay .*listener=tls .*end=clienthello_")
    assert "tenant=-" in line
    assert tls_echo(edge, "mail.alice.test")[0] == b"echo alice hello\n"


def test_per_source_cap_spans_listeners_and_follows_reload(edge):
    conf = edge.conf.read_text().replace("max_per_source = 20000", "max_per_source = 1")
    edge.conf.write_text(conf)
    m = edge.d.mark()
    edge.d.signal(signal.SIGHUP)
    assert "result=ok" in edge.d.wait_for(r"event=reload ", start=m)
    with socket.create_connection(("127.0.0.1", edge.ports["mx"]), timeout=10) as first:
        assert first.recv(4096).startswith(b"220 ")
        # The same source on another listener: over the cap, told in its protocol.
        out = raw_session(edge.ports["imap"], [])
        assert out.startswith(b"* BYE [UNAVAILABLE] relay.example.test"), out
        edge.d.wait_for(r"event=refuse listener=imap peer=127.0.0.1:\d+ reason=max_per_source")


def test_rate_per_source_refuses_the_fast_source_only(edge):
    conf = edge.conf.read_text().replace("rate_per_source = 0", "rate_per_source = 3")
    edge.conf.write_text(conf)
    m = edge.d.mark()
    edge.d.signal(signal.SIGHUP)
    assert "result=ok" in edge.d.wait_for(r"event=reload ", start=m)
    for _ in range(3):
        out = raw_session(edge.ports["mx"], [b"QUIT\r\n"], host="127.0.0.5")
        assert out.startswith(b"220 ") and out.endswith(b"221 2.0.0 Bye\r\n"), out
    # The fourth within the minute: told to come back later, in SMTP.
    out = raw_session(edge.ports["mx"], [], host="127.0.0.5")
    assert out.startswith(b"421 4.3.2 "), out
    edge.d.wait_for(r"event=refuse listener=mx peer=127.0.0.5:\d+ reason=rate_per_source")
    # Another source is not held to the first one's count.
    out = raw_session(edge.ports["mx"], [b"QUIT\r\n"], host="127.0.0.6")
    assert out.startswith(b"220 "), out


def test_a_plaintext_retry_after_a_cut_tls_gets_421(edge):
    """Postfix retries in plaintext after a failed TLS handshake: a 5xx would bounce."""
    src = "127.0.0.9"
    s = smtplib.SMTP("127.0.0.1", edge.ports["mx"], local_hostname="retry.example.test",
                     timeout=10, source_address=(src, 0))
    s.ehlo()
    ctx = ssl.create_default_context(cafile=str(edge.certs[0]))
    ctx.check_hostname = False                 # no SNI, no default tenant: no route
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
        s.starttls(context=ctx)
    s.close()
    edge.d.wait_for(r"event=relay .*peer=127.0.0.9:\d+ .*end=no_route")
    out = raw_session(edge.ports["mx"], [b"EHLO retry.example.test\r\n",
                                          b"MAIL FROM:<a@retry.example.test>\r\n"], host=src)
    assert out.endswith(b"421 4.7.0 relay.example.test TLS failed on your last attempt, "
                        b"try again later\r\n"), out
    # Another source that never tried TLS gets a 451 for MAIL, and may go on.
    out = raw_session(edge.ports["mx"], [b"EHLO other.example.test\r\n",
                                          b"MAIL FROM:<a@other.example.test>\r\n", b"QUIT\r\n"],
                      host="127.0.0.1")
    assert b"451 4.7.0 Must issue a STARTTLS command first\r\n" in out


def test_bytes_cross_exactly_both_ways_with_half_close(edge):
    """8 MiB up while the home echoes them down: every byte arrives, in
    order, through the pipe's buffers and backpressure; the client's
    half-close reaches the home, and the home's reaches the client."""
    home = edge.backends[("alice", "echo")]
    payload = os.urandom(8 << 20)
    s = socket.create_connection(("127.0.0.1", edge.ports["echo"]), timeout=10)

    def send():
        for i in range(0, len(payload), 1 << 20):
            s.sendall(payload[i:i + (1 << 20)])
        s.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    got = bytearray()
    while True:
        data = s.recv(1 << 16)
        if not data:
            break
        got += data
    sender.join(10)
    s.close()
    expect = payload + b"bye %d\n" % len(payload)
    assert len(got) == len(expect) and got == expect
    assert home.conns[-1]["done"].wait(10) and home.conns[-1]["end"] == "eof"
    line = edge.d.wait_for(r"event=relay listener=echo .*end=closed")
    assert f"from_client={len(payload)} to_client={len(expect)} " in line, line


def test_the_homes_half_close_reaches_the_client_which_may_still_send(edge):
    home = edge.backends[("alice", "shut")]
    with socket.create_connection(("127.0.0.1", edge.ports["shut"]), timeout=10) as s:
        got = b""
        while (data := s.recv(100)):
            got += data
        assert got == b"hello\n"          # then EOF, with the connection still up
        s.sendall(b"after the home's EOF\n")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""
    assert home.conns[-1]["done"].wait(10)
    assert bytes(home.conns[-1]["received"]) == b"after the home's EOF\n"
    edge.d.wait_for(r"event=relay listener=shut .*end=closed")


def test_a_reset_from_the_client_closes_the_home_side(edge):
    """The home writes nothing after its hello: only the reset itself can
    end the connection as client_error."""
    home = edge.backends[("alice", "shut")]
    s = socket.create_connection(("127.0.0.1", edge.ports["shut"]), timeout=10)
    assert s.recv(100) == b"hello\n"
    s.sendall(b"x")
    # An abortive close: RST instead of FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    assert home.conns[-1]["done"].wait(10)
    assert home.conns[-1]["end"] in ("eof", "reset")
    edge.d.wait_for(r"event=relay listener=shut .*end=client_error")


def test_idle_timeout_ends_a_piped_connection_only_when_nothing_moves(edge):
    """idle_timeout = 2s: a byte each way every 0.5 s for 3.5 s keeps the
    connection; silence ends it, logged as idle_timeout."""
    with socket.create_connection(("127.0.0.1", edge.ports["echo"]), timeout=10) as s:
        for i in range(8):
            if i > 0:
                time.sleep(0.5)
            s.sendall(b".")
            assert s.recv(1) == b"."
        quiet = time.monotonic()
        s.settimeout(15)
        assert s.recv(100) == b""
        assert time.monotonic() - quiet > 1.5
    edge.d.wait_for(r"event=relay listener=echo .*from_client=8 to_client=8 .*end=idle_timeout")
