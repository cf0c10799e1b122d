"""The bench itself: the CGNAT, the ISP's port-25 block and the WireGuard
tunnel (built with our shared/wg) behave as the topology promises."""
import pathlib
import re
import time

import pytest

NETTOOL = str(pathlib.Path(__file__).with_name("nettool.py"))
PY = "/usr/bin/python3"


def start_echo(bench, host, addr, port):
    log = bench.dir / f"echo-{host.name}-{port}.log"
    proc = host.popen(PY, NETTOOL, "echo", addr, port, name=f"echo:{port}", log=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and "ready" in log.read_text():
            return proc
        assert proc.alive(), log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"echo server on {addr}:{port} did not start")


@pytest.fixture
def echo(bench):
    """start_echo for one test: its servers are stopped (by PID) when the
    test ends, so their ports are free for later tests (Postfix on peer:25)."""
    started = []

    def _start(host, addr, port):
        started.append(start_echo(bench, host, addr, port))
        return started[-1]

    yield _start
    for proc in started:
        proc.stop()


def test_tunnel_crosses_the_cgnat_both_ways(bench, echo):
    wg = bench.tunnel()
    edge, home = bench.host("edge"), bench.host("home")
    echo(edge, "192.0.2.1", 7000)
    echo(edge, "2001:db8:77::1", 7001)
    # 1 MiB each way over IPv4 and IPv6 inside the tunnel, opened from home.
    assert home.run(PY, NETTOOL, "send", "192.0.2.1", 7000, 1 << 20).stdout == f"ok {1 << 20}\n"
    assert home.run(PY, NETTOOL, "send", "2001:db8:77::1", 7001, 1 << 20).stdout == f"ok {1 << 20}\n"
    # And the other way: the edge opens a connection to the home's tunnel address.
    echo(home, "192.0.2.2", 7002)
    assert edge.run(PY, NETTOOL, "send", "192.0.2.2", 7002, 65536).stdout == "ok 65536\n"
    # The edge saw the home come from the CGNAT's public address, with a handshake.
    show = bench.wgctl(edge, "show", wg["ifname"]["edge"]).stdout
    assert f"peer={wg['public_key']['home']}" in show
    assert re.search(r"endpoint=203\.0\.113\.50:\d+", show), show
    assert re.search(r"last_handshake=[1-9]\d+", show), show
    rx = int(re.search(r"rx_bytes=(\d+)", show).group(1))
    assert rx > 2 << 20


def test_isp_blocks_port_25_and_everything_inbound(bench, echo):
    peer, home = bench.host("peer"), bench.host("home")
    echo(peer, "198.51.100.25", 25)
    echo(peer, "198.51.100.25", 2525)
    # Outbound works in general...
    assert home.run(PY, NETTOOL, "send", "198.51.100.25", 2525, 1000).returncode == 0
    # ...but not to port 25: the ISP drops it.
    r = home.run(PY, NETTOOL, "connect", "198.51.100.25", 25, "--timeout", "2", check=False)
    assert r.returncode == 1 and "timed out" in r.stderr
    # Nothing reaches the home from outside: not its LAN address, not the CGNAT's.
    echo(home, "0.0.0.0", 2526)
    for target in ("192.0.2.130", "203.0.113.50"):
        r = peer.run(PY, NETTOOL, "connect", target, 2526, "--timeout", "2", check=False)
        assert r.returncode == 1, (target, r.stdout)


def test_the_edge_sees_only_wireguard_frames(bench, echo):
    from peers import capture, tshark_fields

    wg = bench.tunnel()
    edge, home = bench.host("edge"), bench.host("home")
    echo(edge, "192.0.2.1", 7003)
    marker = "HOMEPORT-PLAINTEXT-MARKER-7f3a"
    cap = capture(bench, edge, edge.ifname("vedg"))
    # Control: inside the tunnel (the edge's WireGuard interface) the marker is plain.
    inner = capture(bench, edge, wg["ifname"]["edge"])
    r = home.run(PY, NETTOOL, "send", "192.0.2.1", 7003, 200000, "--pattern", marker)
    assert r.stdout == "ok 200000\n"
    pcap = cap.stop()
    assert marker.encode() in inner.stop().read_bytes()
    frames = tshark_fields(pcap, "frame", "frame.protocols")
    assert len(frames) > 100, f"only {len(frames)} frames captured"
    # Every frame is WireGuard over UDP between the CGNAT and the edge's port
    # (ARP aside); nothing else crosses the edge's public interface.
    others = [f for f in frames if ":wg" not in f[0] and not f[0].endswith(":arp")]
    assert others == [], others[:5]
    ends = set(tshark_fields(pcap, "wg", "ip.src", "ip.dst", "udp.dstport", "udp.srcport"))
    for src, dst, dport, sport in ends:
        assert {src, dst} == {"203.0.113.50", "203.0.113.1"}
        assert str(51820) in (dport, sport)
    # The payload crossed the tunnel encrypted: not one copy of the marker.
    assert marker.encode() not in pcap.read_bytes()
    assert len(tshark_fields(pcap, "wg.type == 4", "frame.number")) > 100   # transport data
