"""make demo: Homeport in relay mode on a bench of network namespaces,
set up with the product's own commands, each step printed with its result.

    tests/demo.py up BUILD_DIR      bring it up and leave it running
    tests/demo.py down              remove it (make demo-down)

The bench is the tests' (tests/integration/bench.py, TESTING.md): the
internet, Postfix in `peer`, Knot in `dns`, a `client`, the edge on
203.0.113.1, and the home behind an ISP's CGNAT that blocks port 25.
What stays up is recorded in build/demo/bench.json, for `down`.
"""
import json
import os
import pathlib
import re
import secrets
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import peers  # noqa: E402
from peers import wait  # noqa: E402
from bench import Bench  # noqa: E402
from netns import Registry  # noqa: E402
from relaybench import (EDGE, HOSTNAME, POLICY_HOST, USER, Relay, fetch_policy,  # noqa: E402
                        imaps_fetch, send_from_peer, stored, verify_dkim)

STATE = REPO / "build" / "demo" / "bench.json"
BOLD, GREEN, RED, OFF = "\033[1m", "\033[32m", "\033[31m", "\033[0m"


def step(text):
    print(f"\n{BOLD}== {text}{OFF}", flush=True)


def ok(text):
    print(f"   {GREEN}ok{OFF}  {text}", flush=True)


def indent(text):
    for line in text.rstrip().splitlines():
        print(f"   | {line}")


def save(bench, relay, password):
    reg = bench.registry
    pids = [p.pid for p in reg.processes] + list(reg.pids)
    for proc in (relay.home.proc, relay.edge.daemon.proc):
        pids.append(proc.pid)
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps({"run_id": reg.run_id, "dir": str(bench.dir), "pids": pids,
                                 "namespaces": list(reg.namespaces), "user": USER,
                                 "password": password}, indent=1))
    STATE.chmod(0o600)


def down():
    if not STATE.exists():
        print("demo-down: no demo bench is up")
        return 0
    st = json.loads(STATE.read_text())
    reg = Registry(st["run_id"])
    reg.pids = list(st["pids"])
    reg.namespaces = list(st["namespaces"])
    reg.cleanup()
    shutil.rmtree(st["dir"], ignore_errors=True)
    STATE.unlink()
    print(f"demo-down: stopped {len(st['pids'])} processes, removed {len(st['namespaces'])} namespaces")
    return 0


def up(build):
    if STATE.exists():
        print("demo: a demo bench is already up; make demo-down first", file=sys.stderr)
        return 1
    bindir = pathlib.Path(build).resolve() / "bin"
    bench = Bench(bindir, bindir.parent / "tests" / "tools")
    password = secrets.token_urlsafe(12)
    relay = Relay(bench, bindir, detached=True)
    try:
        run_demo(bench, relay, password)
    except BaseException:
        print(f"\n{RED}demo: a step failed; removing the bench{OFF}", file=sys.stderr)
        try:
            relay.down()
        finally:
            bench.cleanup()
        raise
    save(bench, relay, password)
    print_instructions(bench, relay, password)
    return 0


def run_demo(bench, relay, password):
    step("The bench: namespaces for the internet, peer (Postfix), dns (Knot), client, "
         "the edge, and the home behind a CGNAT that blocks port 25")
    for name in ("inet", "peer", "dns", "client", "edge", "isp", "home"):
        bench.host(name)
    r = bench.host("isp").run("nft", "list", "ruleset", check=False)
    assert "tcp dport 25 drop" in r.stdout
    ok(f"hosts up (run {bench.run_id}); the home's ISP drops outbound TCP 25")

    step("Edge and home set up, the home enrolled: homeport-edge init, homeport init, "
         "homeport-edge invite, homeport relay join TOKEN")
    relay.up(bench.dir / "home", password)
    indent(relay.edge.init_output)
    ok(f"edge running, its WireGuard interface {relay.edge.ifname} made by itself")
    print(f"   $ homeport init --domain {peers.HOME_DOMAIN} --hostname {HOSTNAME}")
    ok("home set up: configuration, certificate, DKIM keys, mail store")
    print(f"   $ homeport-edge invite --hostname {HOSTNAME} --hostname {POLICY_HOST}\n   | {relay.token}")
    print("   $ homeport relay join TOKEN")
    indent(relay.join_output)
    listening = relay.home.host.run("ss", "-Hltn").stdout
    assert "192.0.2.2:25 " in listening and "0.0.0.0:25 " not in listening, listening
    ok("the home joined; homeportd listens on its tunnel address only (ss -ltn)")
    print(f"   $ homeport user add {USER}\n   | password: {password}")

    step("homeport dns: the records to publish, loaded into Knot as printed")
    indent("\n".join(line for line in relay.dns.splitlines()
                     if " IN " in line and "DKIM" not in line and "_domainkey" not in line))
    ok(f"Knot serves MX {relay.knot.query(peers.HOME_DOMAIN, 'MX')} -> A "
       f"{relay.knot.query(HOSTNAME, 'A')}")

    step(f"MTA-STS: client fetches https://{POLICY_HOST}/.well-known/mta-sts.txt through the edge")
    policy = fetch_policy(relay)
    indent(policy.rstrip("\n"))
    assert "mode: enforce" in policy and f"mx: {HOSTNAME}" in policy, policy
    ok(f"policy served by the home (TLS verified: the bench's CA); _mta-sts TXT "
       f"{relay.knot.query('_mta-sts.' + peers.HOME_DOMAIN, 'TXT')}")

    step(f"Postfix in peer sends to {USER}: MX -> edge -> STARTTLS routed by SNI -> tunnel -> home")
    marker_in = secrets.token_hex(8)
    qid = send_from_peer(relay, marker_in)
    wait("the message in alice's INBOX", lambda: stored(relay.home, marker_in))
    line = relay.postfix.wait_log(rf"{qid}: to=<[^>]*>, relay=\S+\[{EDGE}\]:25.*status=sent").group(0)
    relay_field = re.search(r"relay=\S+", line).group(0)
    ok(f"Postfix: {relay_field} ... status=sent")
    session = relay.home.wait_for(rf"event=session .*client={re.escape(peers.PEER_ADDR)}")
    ok("stored in alice's INBOX at home, which saw the sender's own address through PROXY v2: "
       + re.search(r"client=\S+", session).group(0))

    step("alice reads it over IMAPS from client, through the edge (SNI mail.alice.test)")
    found = imaps_fetch(relay, marker_in, password)
    subject = re.search(r"^Subject: (.*)$", found[0], re.M).group(1).strip()
    ok(f"IMAP FETCH: \"{subject}\" (TLS verified: the home's certificate, from the bench's CA)")

    step("alice replies via submission through the edge; the home sends it out through "
         "the edge's egress to Postfix")
    marker_out = secrets.token_hex(8)
    reply = (f"From: <{USER}>\r\nTo: <bob@peer.test>\r\nSubject: Re: {subject}\r\n"
             f"In-Reply-To: <{marker_in}@peer.test>\r\n\r\nreply {marker_out}\r\n")
    peers.smtp_send(relay.client, HOSTNAME, 587, USER, ["bob@peer.test"], reply,
                    login=(USER, password), timeout=30)
    path, raw = relay.postfix.wait_delivered("bob", marker_out, timeout=60)
    log = relay.postfix.log()
    assert re.search(rf"TLS connection established from unknown\[{re.escape(EDGE)}\]", log)
    ok(f"Postfix received it from the edge ({EDGE}) over TLS: it left through the tunnel, "
       "past the home ISP's port-25 block")

    step("DKIM, checked by python3-dkim against the records homeport dns published in Knot")
    algs = verify_dkim(relay.knot, raw)
    ok("signatures verify: " + ", ".join(a.decode() for a in algs))


def print_instructions(bench, relay, password):
    ns = {n: bench.host(n).ns for n in ("client", "edge", "home")}
    print(f"""
{BOLD}The bench stays up.{OFF}
  edge      203.0.113.1 (ip netns exec {ns['edge']} ...), log {relay.edge.dir}/edge.log
  home      192.0.2.130 behind the CGNAT, tunnel 192.0.2.2 (ip netns exec {ns['home']} ...)
            log {relay.home.log_path}
  mail      {USER}  password {password}
            IMAPS and submission at {HOSTNAME} (203.0.113.1, through the edge)
  try       ip netns exec {ns['home']} {relay.home.cli} -c {relay.home.conf_path} relay status
            ip netns exec {ns['client']} curl -k --resolve {HOSTNAME}:993:{EDGE} --url imaps://{HOSTNAME}/INBOX --user '{USER}:{password}'
            ip netns exec {ns['edge']} {relay.edge.exe} -c {relay.edge.conf} tenant list
  remove    make demo-down
""")


def main(argv):
    if len(argv) == 3 and argv[1] == "up":
        return up(argv[2])
    if len(argv) == 2 and argv[1] == "down":
        return down()
    print("usage: demo.py up BUILD_DIR | down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("demo: run as root (it builds network namespaces)", file=sys.stderr)
        sys.exit(1)
    sys.exit(main(sys.argv))
