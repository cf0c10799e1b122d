#!/usr/bin/python3
"""Bring the network bench up by hand, for debugging, and take it down.

    bench_cli.py up BUILD_DIR      build every host, the tunnel and the real peers
                                   (Knot, Postfix, the SMTP sink); leave them
                                   running; write build/bench/state.json
    bench_cli.py down              stop every process (by PID) and delete every
                                   namespace that state.json lists

make bench-up and make bench-down call this.
"""
import json
import pathlib
import sys

import peers
from bench import PUBLIC, TUNNEL, Bench, HOME_LAN
from netns import Registry, list_namespaces

REPO = pathlib.Path(__file__).resolve().parents[2]
STATE = REPO / "build" / "bench" / "state.json"


def up(build):
    if STATE.exists():
        print(f"a bench is already up ({STATE}); run make bench-down first", file=sys.stderr)
        return 1
    build = pathlib.Path(build).resolve()
    b = Bench(build / "bin", build / "tests" / "tools")
    try:
        for name in ("inet", "peer", "dns", "client", "edge", "isp", "home"):
            b.host(name)
        b.tunnel()
        knot = peers.knot(b)
        anchor = knot.dir / "trust-anchors.key"
        anchor.write_text(knot.trust_anchors())
        postfix = peers.postfix(b)
        peers.smtp_sink(b)
    except BaseException:
        b.cleanup()
        raise
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps({
        "run_id": b.run_id,
        "dir": str(b.dir),
        "pids": [p.pid for p in b.registry.processes] + b.registry.pids,
        "namespaces": b.registry.namespaces,
    }, indent=1))
    print(f"bench {b.run_id} is up (state in {STATE}):")
    addresses = dict({n: a for n, (a, _) in PUBLIC.items()}, home=HOME_LAN[0])
    for name, host in b.hosts.items():
        extra = f"  tunnel {'/'.join(TUNNEL[name])}" if name in TUNNEL else ""
        print(f"  {name:7} {host.ns:18} {addresses.get(name, 'router'):15}{extra}")
    print(f"enter a host:  ip netns exec {b.hosts['home'].ns} bash")
    print(f"tunnel state:  ip netns exec {b.hosts['edge'].ns} "
          f"{b.tooldir / 'wgctl'} show {b.wg['ifname']['edge']}")
    print(f"DNS:           kdig @198.51.100.53 peer.test MX   (TSIG key {knot.tsig.name}: "
          f"{knot.dir})")
    print(f"DNSSEC:        ip netns exec {b.hosts['client'].ns} {b.tooldir / 'dnsq'} "
          f"-f 198.51.100.53 -a {anchor} mx peer.test")
    print(f"Postfix log:   {postfix.maillog}")
    print("take it down:  make bench-down")
    return 0


def down():
    if not STATE.exists():
        print("no bench is up", file=sys.stderr)
        return 0
    state = json.loads(STATE.read_text())
    reg = Registry(state["run_id"])
    reg.pids = state["pids"]
    reg.namespaces = [ns for ns in state["namespaces"] if ns in list_namespaces()]
    reg.cleanup()
    import shutil
    shutil.rmtree(state["dir"], ignore_errors=True)
    STATE.unlink()
    print(f"bench {state['run_id']} is down")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "up":
        sys.exit(up(sys.argv[2]))
    if len(sys.argv) == 2 and sys.argv[1] == "down":
        sys.exit(down())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
