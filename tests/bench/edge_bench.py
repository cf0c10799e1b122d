#!/usr/bin/env python3
"""make bench-edge: homeport-edge against HAProxy, nginx stream and no relay.

    python3 tests/bench/edge_bench.py BUILD_DIR [--edge PATH] [--rounds N] [--memory-rounds N]

Everything runs on loopback (127.0.0.1) as child processes of this script,
each stopped by its PID when the run ends, also when it fails. Needs root:
it raises RLIMIT_NOFILE for the 5,000 held connections and the relays
drop to `nobody` after binding.

One bench_backend (tests/bench/bench_backend.c) serves every target on a
port of its own; bench_client (tests/bench/bench_client.c) sends a real,
canned TLS ClientHello carrying SNI bench.example.test and then raw bytes,
so neither end does any crypto. The targets:

    direct         the client talks to the backend itself (no relay)
    homeport-edge  mode = sni, PROXY v2 (the tenant default)
    haproxy        mode tcp, req.ssl_sni routing, send-proxy-v2, nbthread 1
    nginx          stream, ssl_preread + map, proxy_protocol on (v1: nginx
                   stream cannot send v2), worker_processes 1

Every relay runs one thread, as homeport-edge does. Each round gives every
target a turn (in a rotating order) at three figures:

    throughput     one stream, THROUGHPUT_BYTES client -> backend
    connections/s  CONNECTIONS connections, CONCURRENCY at a time
    latency        ROUND_TRIPS echoes of ECHO_SIZE bytes on one connection,
                   with client, relay and backend pinned to LATENCY_CPU

and the relay's CPU time (utime + stime of its processes) is read around
the first two. Memory is measured apart, MEMORY_ROUNDS times per relay on
a fresh relay process: PSS (smaps_rollup) after a warm-up, then with
IDLE_CONNECTIONS idle proxied connections open. Results: medians with
min-max over the rounds, ratios, and homeport-edge's targets (see
docs/benchmarks.md), printed and written as Markdown and JSON under
BUILD_DIR/bench-edge/.
"""
import argparse
import datetime
import hashlib
import json
import os
import pathlib
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import procfs  # noqa: E402  (tests/integration/procfs.py: processes read from /proc)
from daemon import terminate  # noqa: E402  (tests/integration/daemon.py: SIGTERM, then SIGKILL)
from benchlib import (cell, exit_on_signals, first_line, fmt_ratio,  # noqa: E402
                      head_and_table, machine_meta, med, ratio)

HOST = "127.0.0.1"
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"     # Debian's libnginx-mod-stream
SNI = "bench.example.test"

ROUNDS = 9
MEMORY_ROUNDS = 3
THROUGHPUT_BYTES = 4 << 30
CONNECTIONS, CONCURRENCY = 20000, 50
ROUND_TRIPS, ECHO_SIZE = 50000, 64
IDLE_CONNECTIONS, IDLE_CONCURRENCY = 5000, 50
WARMUP_CONNECTIONS = 200
LATENCY_CPU = 0

NOFILE_NEED = 12000             # descriptors: a relay holds 2 per idle connection, 10,000 in all
NOFILE_WANT = 65536
START_TIMEOUT = 10              # s for a process to listen
STOP_TIMEOUT = 10               # s between SIGTERM and SIGKILL
CLIENT_TIMEOUT = 330            # s for one bench_client run (it stops itself at 300)
BACKEND_LIFETIME = 1800         # s: the backend exits by itself after this
SETTLE = 0.5                    # s before reading memory
PORT_SPAN = 10000               # relay ports come from this many below the ephemeral range
PORT_TRIES = 100

TARGETS = ("direct", "homeport-edge", "haproxy", "nginx")
RELAYS = TARGETS[1:]
EXPECTED_HEADER = {"direct": "0", "homeport-edge": "2", "haproxy": "2", "nginx": "1"}
HEADER_NAME = {"0": "none", "1": "v1", "2": "v2"}

# The targets for homeport-edge.
TARGET_THROUGHPUT_VS_HAPROXY = 1.2
TARGET_CONNS_VS_HAPROXY = 1.0
TARGET_IDLE_BYTES = 2048

DISTURBED_CPUS = 0.1            # other load above this in a turn makes the run suspect
IDLE_PROBE = 0.5                # s of looking at the machine before a turn
PATIENCE = 300                  # s a run may spend waiting for quiet and measuring again
TURN_ATTEMPTS = 3               # measurements of a turn when other load disturbs it


class BenchError(Exception):
    pass


# ---- processes ------------------------------------------------------------

class Proc:
    """A child process, its log in the run's directory, stopped by PID."""

    def __init__(self, name, argv, logdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL):
        self.name = name
        self.log = logdir / f"{name}.log"
        with open(self.log, "ab") as log:
            self.p = subprocess.Popen([str(a) for a in argv], stdin=stdin, stdout=stdout,
                                      stderr=log, text=True)
        self.pid = self.p.pid

    def pids(self):
        """The process and its children: what the relay's memory and CPU are summed over."""
        return [self.pid] + procfs.children(self.pid)

    def check_running(self):
        if self.p.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.p.returncode}:\n{self.tail()}")

    def tail(self, lines=15):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM by PID, then SIGKILL; children left behind (nginx workers) by their PIDs."""
        kids = procfs.children(self.pid)
        terminate(self.p, STOP_TIMEOUT)
        for kid in kids:
            deadline = time.monotonic() + STOP_TIMEOUT
            while procfs.alive(kid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procfs.alive(kid):
                os.kill(kid, signal.SIGKILL)


def free_port():
    """A free loopback port below the ephemeral range, so that none of the
    bench's own outgoing connections can take it before the relay binds it."""
    low = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    first = max(1024, low - PORT_SPAN)
    for _ in range(PORT_TRIES):
        port = random.randrange(first, low)
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
                return port
            except OSError:
                continue
    raise BenchError(f"no free port in {first}..{low - 1} after {PORT_TRIES} tries")


def wait_listening(proc, port):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        proc.check_running()
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{proc.name} is not listening on {HOST}:{port} after {START_TIMEOUT}s:\n"
                     f"{proc.tail()}")


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds."""
    ticks = 0
    for pid in pids:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pss_bytes(pids):
    total = 0
    for pid in pids:
        for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total


def machine_sample(pids):
    """(user CPU s of the whole machine, user CPU s of this bench, steal s).

    The bench's own work is mostly system time (loopback TCP); other
    people's compilers and fuzzers are mostly user time, so the difference
    of the first two is a fair measure of what else ran."""
    hz = os.sysconf("SC_CLK_TCK")
    cpu = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    own = sum(int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])
              for pid in pids) / hz
    own += resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    own += resource.getrusage(resource.RUSAGE_SELF).ru_utime
    return (int(cpu[0]) + int(cpu[1])) / hz, own, int(cpu[7]) / hz


def pin(pids, cpus):
    """Set the CPU affinity of every thread of the processes."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), cpus)


# ---- the relays -----------------------------------------------------------

def conf_dir(tmp, name):
    """A directory the relays can read after dropping to nobody: 0755, files 0644."""
    d = tmp / name
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    return d


def write_conf(path, text):
    path.write_text(text)
    path.chmod(0o644)


def start_edge(edge, d, port, bport):
    conf = d / "edge.conf"
    # log_level = warn: no line per connection, like the other relays here.
    write_conf(conf, f"""[edge]
name = {SNI}
user = nobody
log_level = warn
max_connections = 30000
max_per_source = 30000
rate_per_source = 0

[listener bench]
address = {HOST}:{port}
mode = sni
tenant_port = {bport}

[tenant bench]
hostnames = {SNI}
tunnel_address = {HOST}
max_connections = 30000
""")
    return Proc("homeport-edge", [edge, "-c", conf], d)


def nofile():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_haproxy(edge, d, port, bport):
    conf = d / "haproxy.cfg"
    # HAProxy refuses to start if 2 * maxconn (+ a margin) descriptors are not allowed.
    write_conf(conf, f"""global
    maxconn {(nofile() - 1000) // 2}
    nbthread 1
    user nobody
    group nogroup

defaults
    mode tcp
    timeout connect 10s
    timeout client 10m
    timeout server 10m

frontend bench
    bind {HOST}:{port}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend home if {{ req.ssl_sni -i {SNI} }}

backend home
    server home {HOST}:{bport} send-proxy-v2
""")
    return Proc("haproxy", ["haproxy", "-db", "-f", conf], d)


def start_nginx(edge, d, port, bport):
    conf = d / "nginx.conf"
    # Unknown names go to port 1, where nothing listens: refused, closed.
    write_conf(conf, f"""load_module {NGINX_STREAM_MODULE};
user nobody nogroup;
worker_processes 1;
worker_rlimit_nofile {nofile()};
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections {nofile() - 100};
}}

stream {{
    map $ssl_preread_server_name $home {{
        {SNI} {HOST}:{bport};
        default {HOST}:1;
    }}
    server {{
        listen {HOST}:{port};
        ssl_preread on;
        proxy_pass $home;
        proxy_protocol on;
        # Pass the client's half-close on (the throughput figure ends with one).
        proxy_half_close on;
    }}
}}
""")
    return Proc("nginx", ["nginx", "-p", f"{d}/", "-c", conf, "-e", d / "error.log",
                          "-g", "daemon off;"], d)


STARTERS = {"homeport-edge": start_edge, "haproxy": start_haproxy, "nginx": start_nginx}


class Target:
    def __init__(self, name, port, bport, proc=None):
        self.name = name
        self.port = port
        self.bport = bport
        self.proc = proc

    def pids(self):
        return self.proc.pids() if self.proc is not None else []


def start_relay(edge, tmp, name, bport, tag):
    port = free_port()
    proc = STARTERS[name](edge, conf_dir(tmp, f"{name}-{tag}"), port, bport)
    try:
        wait_listening(proc, port)
        # nginx's worker starts after the master listens.
        deadline = time.monotonic() + START_TIMEOUT
        while name == "nginx" and not procfs.children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    except BaseException:
        proc.stop()
        raise
    return Target(name, port, bport, proc)


# ---- the client -----------------------------------------------------------

class Client:
    def __init__(self, build, logdir):
        self.exe = build / "tests" / "bench" / "bench_client"
        self.logdir = logdir

    def run(self, target, *args, cpus=None):
        """One bench_client run to target; returns its result line as a dict."""
        argv = [str(self.exe), args[0], HOST, str(target.port)] + [str(a) for a in args[1:]]
        pre = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                               preexec_fn=pre)
        except subprocess.TimeoutExpired:
            raise BenchError(f"bench_client {' '.join(argv[1:])} to {target.name}: "
                             f"no result after {CLIENT_TIMEOUT}s")
        if r.returncode != 0:
            raise BenchError(f"bench_client {' '.join(argv[1:])} to {target.name} failed "
                             f"({r.returncode}): {r.stderr.strip()}\n"
                             f"{target.proc.tail() if target.proc else ''}")
        return parse_result(r.stdout, target)

    def hold(self, target, n, concurrency):
        """Open n connections and keep them; returns (result, proc): close proc's stdin to end."""
        argv = [self.exe, "hold", HOST, target.port, n, concurrency]
        proc = Proc("hold", argv, self.logdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = proc.p.stdout.readline()
        if not line:
            proc.stop()
            raise BenchError(f"bench_client hold to {target.name} failed: {proc.tail()}")
        return parse_result(line, target), proc


def parse_result(text, target):
    line = text.strip().splitlines()[-1]
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    if fields.get("kind") != EXPECTED_HEADER[target.name]:
        raise BenchError(f"{target.name}: the backend saw PROXY header {fields.get('kind')!r}, "
                         f"expected {EXPECTED_HEADER[target.name]!r}")
    if int(fields.get("errors", "0")) != 0:
        raise BenchError(f"{target.name}: {line}")
    return fields


# ---- the figures ----------------------------------------------------------

def measure_round(client, t, backend_pid, all_cpus, res):
    """One turn of target t: throughput, connections/s, latency; appends to res[t.name]."""
    r = res[t.name]
    pids = t.pids()

    cpu0 = cpu_seconds(pids)
    out = client.run(t, "throughput", THROUGHPUT_BYTES)
    cpu1 = cpu_seconds(pids)
    r["throughput_MBps"].append(int(out["bytes"]) / float(out["seconds"]) / 1e6)
    if pids:
        r["cpu_s_per_GB"].append((cpu1 - cpu0) / (int(out["bytes"]) / 1e9))

    cpu0 = cpu_seconds(pids)
    out = client.run(t, "connect", CONNECTIONS, CONCURRENCY)
    cpu1 = cpu_seconds(pids)
    r["conns_per_s"].append(int(out["n"]) / float(out["seconds"]))
    if pids:
        r["cpu_us_per_conn"].append((cpu1 - cpu0) / int(out["n"]) * 1e6)

    pinned = pids + [backend_pid]
    pin(pinned, {LATENCY_CPU})
    try:
        out = client.run(t, "latency", ROUND_TRIPS, ECHO_SIZE, cpus={LATENCY_CPU})
    finally:
        pin(pinned, all_cpus)
    r["latency_p50_us"].append(float(out["p50_us"]))
    r["latency_p99_us"].append(float(out["p99_us"]))
    r["header"] = HEADER_NAME[out["kind"]]


def other_load(live, seconds):
    """CPUs of user time that processes outside the bench used over the next seconds."""
    t0, m0 = time.monotonic(), machine_sample(live)
    time.sleep(seconds)
    t1, m1 = time.monotonic(), machine_sample(live)
    return max(0.0, (m1[0] - m0[0]) - (m1[1] - m0[1])) / (t1 - t0)


def measure_turn(client, t, backend_pid, live, all_cpus, res, patience):
    """measure_round() on a quiet machine: wait until nothing else runs, and
    measure again (at most TURN_ATTEMPTS times) when something else ran
    meanwhile, while patience["seconds"] (shared by the whole run) lasts.
    Returns what else ran during the turn kept."""
    for attempt in range(1, TURN_ATTEMPTS + 1):
        started = time.monotonic()
        while (patience["seconds"] > time.monotonic() - started and
               other_load(live, IDLE_PROBE) > DISTURBED_CPUS):
            continue
        patience["seconds"] -= time.monotonic() - started
        scratch = {t.name: {k: [] for k, *_ in FIGURES}}
        t0, m0 = time.monotonic(), machine_sample(live)
        measure_round(client, t, backend_pid, all_cpus, scratch)
        t1, m1 = time.monotonic(), machine_sample(live)
        other = max(0.0, (m1[0] - m0[0]) - (m1[1] - m0[1])) / (t1 - t0)
        if other <= DISTURBED_CPUS or attempt == TURN_ATTEMPTS or patience["seconds"] <= 0:
            break
        patience["seconds"] -= t1 - t0
        print(f"  {t.name}: other load {other:.2f} CPU during the turn: measuring again",
              flush=True)
    for key, values in scratch[t.name].items():
        if key == "header":
            res[t.name]["header"] = values
        else:
            res[t.name][key] += values
    return {"other_user_cpus": other, "steal_cpus": (m1[2] - m0[2]) / (t1 - t0),
            "attempts": attempt}


def measure_memory(client, t, res):
    """PSS of a fresh, warmed-up relay, then with IDLE_CONNECTIONS idle proxied connections."""
    client.run(t, "connect", WARMUP_CONNECTIONS, CONCURRENCY)
    time.sleep(SETTLE)
    before = pss_bytes(t.pids())
    out, hold = client.hold(t, IDLE_CONNECTIONS, IDLE_CONCURRENCY)
    try:
        if int(out["n"]) != IDLE_CONNECTIONS:
            raise BenchError(f"{t.name}: held {out['n']} of {IDLE_CONNECTIONS} connections")
        time.sleep(SETTLE)
        after = pss_bytes(t.pids())
    finally:
        hold.p.stdin.close()
        try:
            hold.p.wait(STOP_TIMEOUT * 3)
        except subprocess.TimeoutExpired:
            pass
        hold.stop()
    res[t.name]["idle_bytes_per_conn"].append((after - before) / IDLE_CONNECTIONS)


# ---- the report -----------------------------------------------------------

FIGURES = (
    # key, label, format, higher is better
    ("throughput_MBps", "throughput, MB/s", "{:.0f}", True),
    ("conns_per_s", "connections/s", "{:.0f}", True),
    ("latency_p50_us", "latency p50, µs", "{:.1f}", False),
    ("latency_p99_us", "latency p99, µs", "{:.1f}", False),
    ("idle_bytes_per_conn", "memory per idle connection, KiB", "{:.2f}", False),
    ("cpu_us_per_conn", "relay CPU per connection, µs", "{:.1f}", False),
    ("cpu_s_per_GB", "relay CPU per GB, s", "{:.3f}", False),
)


def build_report(res):
    rows = [["", *TARGETS], ["PROXY header", *[res[t].get("header", "—") for t in TARGETS]]]
    for key, label, fmt, _ in FIGURES:
        scale = 1 / 1024 if key == "idle_bytes_per_conn" else 1.0
        rows.append([label, *[cell(res[t][key], fmt, scale) for t in TARGETS]])
        if key in ("throughput_MBps", "conns_per_s"):
            d = med(res["direct"][key])
            rows.append(["  × direct", "1.00×", *[fmt_ratio(ratio(med(res[t][key]), d))
                                                 for t in RELAYS]])
        if key in ("latency_p50_us", "latency_p99_us"):
            d = med(res["direct"][key])
            rows.append(["  added over direct, µs", "0",
                         *[f"{med(res[t][key]) - d:+.1f}" for t in RELAYS]])

    e, h = res["homeport-edge"], res["haproxy"]
    versus = []
    for key, label, _, higher in FIGURES:
        x = ratio(med(e[key]), med(h[key]))
        versus.append((label, x, "higher is better" if higher else "lower is better"))

    def quotient(a, b):
        return a / b

    def difference(a, b):
        return a - b

    checks = [
        # name, key, how edge compares with HAProxy, the test, format
        ("throughput ≥ 1.2× HAProxy", "throughput_MBps", quotient,
         lambda x: x >= TARGET_THROUGHPUT_VS_HAPROXY, fmt_ratio),
        ("connections/s ≥ HAProxy", "conns_per_s", quotient,
         lambda x: x >= TARGET_CONNS_VS_HAPROXY, fmt_ratio),
        ("p99 latency no worse than HAProxy", "latency_p99_us", difference,
         lambda x: x <= 0, lambda x: f"{x:+.1f} µs"),
        ("≤ 2 KiB per idle connection", "idle_bytes_per_conn", None,
         lambda x: x <= TARGET_IDLE_BYTES, lambda x: f"{x / 1024:.2f} KiB"),
    ]
    verdicts = []
    for name, key, compare, ok, fmt in checks:
        if compare is None:
            value, rounds = med(e[key]), list(e[key])
        else:
            value = compare(med(e[key]), med(h[key]))
            # Rounds are interleaved: round i of each relay ran seconds apart.
            rounds = [compare(a, b) for a, b in zip(e[key], h[key])]
        held = sum(1 for x in rounds if ok(x))
        text = (f"{fmt(value)} (per round {fmt(min(rounds))}–{fmt(max(rounds))}, "
                f"met in {held} of {len(rounds)})")
        verdicts.append((name, text, "met" if ok(value) else "MISSED"))
    return rows, versus, verdicts


def render(res, machine, meta, markdown):
    rows, versus, checks = build_report(res)
    head = (f"homeport-edge bench, {meta['date']}, nproc={meta['nproc']}, "
            f"kernel {meta['kernel']}, "
            f"{meta['rounds']} rounds ({meta['memory_rounds']} for memory); "
            "median [min–max]")
    lines = head_and_table(
        [head, f"homeport-edge: {meta['edge']} (sha256 {meta['edge_sha256']}; "
               f"tree {meta['commit']})", f"{meta['haproxy']}; {meta['nginx']}"],
        rows, markdown)
    other = [m["other_user_cpus"] for m in machine]
    steal = [m["steal_cpus"] for m in machine]
    again = sum(m["attempts"] - 1 for m in machine)
    lines.append(f"other load on the machine during the rounds: median {med(other):.2f}, "
                 f"max {max(other):.2f} CPU (user time not the bench's); "
                 f"steal median {med(steal):.2f} CPU; {again} disturbed turns measured again")
    if max(other) > DISTURBED_CPUS:
        lines.append(f"WARNING: something else used more than {DISTURBED_CPUS} CPU during "
                     "some turns: these figures are disturbed; run again on an idle machine")
    lines.append("")
    lines.append("homeport-edge / HAProxy (ratio of medians):")
    for label, x, sense in versus:
        lines.append(f"{'- ' if markdown else '  '}{label}: {fmt_ratio(x)} ({sense})")
    lines.append("")
    lines.append("targets for homeport-edge (verdict on the medians):")
    for name, value, verdict in checks:
        lines.append(f"{'- ' if markdown else '  '}{name}: {value}: {verdict}")
    return "\n".join(lines) + "\n"


# ---- main -----------------------------------------------------------------

def versions():
    """What was measured: the tree's commit and the relays' versions."""
    repo = pathlib.Path(__file__).resolve().parent.parent.parent
    return {
        "commit": first_line(["git", "-C", repo, "describe", "--always", "--dirty"]),
        "haproxy": first_line(["haproxy", "-v"]),
        "nginx": first_line(["nginx", "-v"]),
    }


def raise_nofile():
    """Raise RLIMIT_NOFILE (inherited by every child) as far as allowed; returns it."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE_WANT, NOFILE_WANT))
    except (ValueError, OSError):
        # No CAP_SYS_RESOURCE (a container): up to the hard limit.
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < NOFILE_NEED:
        raise BenchError(f"RLIMIT_NOFILE is {soft}, the bench needs {NOFILE_NEED}: "
                         f"run as root, or raise the hard limit (ulimit -Hn)")
    return soft


def run(build, edge, rounds, memory_rounds, tmp):
    client = Client(build, tmp)
    all_cpus = os.sched_getaffinity(0)
    procs = []
    res = {t: {k: [] for k, *_ in FIGURES} for t in TARGETS}
    machine = []        # per turn: what else the machine did meanwhile
    patience = {"seconds": PATIENCE}
    try:
        backend = Proc("backend", [build / "tests" / "bench" / "bench_backend", HOST,
                                   len(TARGETS), BACKEND_LIFETIME], tmp, stdout=subprocess.PIPE)
        procs.append(backend)
        ready = backend.p.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise BenchError(f"bench_backend did not start: {backend.tail()}")
        bports = dict(zip(TARGETS, (int(p) for p in ready[1:])))

        # Memory first, each round on fresh relay processes.
        for m in range(memory_rounds):
            for name in RELAYS[m % len(RELAYS):] + RELAYS[:m % len(RELAYS)]:
                t = start_relay(edge, tmp, name, bports[name], f"mem{m}")
                procs.append(t.proc)
                try:
                    measure_memory(client, t, res)
                finally:
                    t.proc.stop()
                print(f"memory round {m + 1}/{memory_rounds} {name}: "
                      f"{res[name]['idle_bytes_per_conn'][-1] / 1024:.2f} KiB/conn", flush=True)

        targets = [Target("direct", bports["direct"], bports["direct"])]
        for name in RELAYS:
            t = start_relay(edge, tmp, name, bports[name], "main")
            procs.append(t.proc)
            targets.append(t)
        for r in range(rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                for other in targets:
                    if other.proc is not None:
                        other.proc.check_running()
                live = [backend.pid] + [pid for x in targets for pid in x.pids()]
                machine.append(measure_turn(client, t, backend.pid, live, all_cpus, res,
                                            patience))
                x = res[t.name]
                print(f"round {r + 1}/{rounds} {t.name}: {x['throughput_MBps'][-1]:.0f} MB/s, "
                      f"{x['conns_per_s'][-1]:.0f} conn/s, p50 {x['latency_p50_us'][-1]:.1f} µs, "
                      f"p99 {x['latency_p99_us'][-1]:.1f} µs; other load "
                      f"{machine[-1]['other_user_cpus']:.2f} CPU", flush=True)
    finally:
        for p in reversed(procs):
            p.stop()
    return res, machine


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=pathlib.Path, help="the build directory (build/)")
    ap.add_argument("--edge", type=pathlib.Path,
                    help="the homeport-edge to measure (default: BUILD/bin/homeport-edge)")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--memory-rounds", type=int, default=MEMORY_ROUNDS)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("edge_bench: run as root (descriptor limits, relays dropping to nobody)",
              file=sys.stderr)
        return 2
    if args.rounds < 1 or args.memory_rounds < 1:
        print("edge_bench: --rounds and --memory-rounds must be at least 1", file=sys.stderr)
        return 2
    build = args.build.resolve()
    edge = (args.edge or build / "bin" / "homeport-edge").resolve()
    missing = [str(f) for f in (edge, build / "tests" / "bench" / "bench_backend",
                                build / "tests" / "bench" / "bench_client",
                                pathlib.Path(NGINX_STREAM_MODULE)) if not f.is_file()]
    missing += [exe for exe in ("haproxy", "nginx") if shutil.which(exe) is None]
    if missing:
        print(f"edge_bench: missing {', '.join(missing)} (make bench-edge builds them, "
              "make deps installs haproxy and nginx)", file=sys.stderr)
        return 2
    exit_on_signals()           # run()'s finally: stops every child
    started = time.monotonic()
    meta = {
        **machine_meta(),
        "rounds": args.rounds,
        "memory_rounds": args.memory_rounds,
        "throughput_bytes": THROUGHPUT_BYTES,
        "connections": CONNECTIONS, "concurrency": CONCURRENCY,
        "round_trips": ROUND_TRIPS, "echo_size": ECHO_SIZE,
        "idle_connections": IDLE_CONNECTIONS,
        **versions(),
        "edge": str(edge),
        "edge_sha256": hashlib.sha256(edge.read_bytes()).hexdigest()[:12],
    }
    if pathlib.Path("/proc/sys/net/ipv4/tcp_tw_reuse").read_text().strip() == "0":
        # 140,000 connections a round leave TIME-WAIT sockets; without reuse
        # on loopback (the kernel's default, 2) the ephemeral ports run out.
        print("edge_bench: warning: net.ipv4.tcp_tw_reuse is 0; connections may fail "
              "with EADDRNOTAVAIL", file=sys.stderr)
    try:
        meta["nofile"] = raise_nofile()
        with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
            tmp = pathlib.Path(tmp)
            tmp.chmod(0o755)
            res, machine = run(build, edge, args.rounds, args.memory_rounds, tmp)
    except BenchError as e:
        print(f"edge_bench: {e}", file=sys.stderr)
        return 1
    meta["seconds"] = round(time.monotonic() - started)
    outdir = build / "bench-edge"
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (outdir / f"edge-{stamp}.json").write_text(json.dumps({"meta": meta, "results": res,
                                                           "machine": machine},
                                                          indent=1) + "\n")
    (outdir / f"edge-{stamp}.md").write_text(render(res, machine, meta, markdown=True))
    print()
    print(render(res, machine, meta, markdown=False))
    print(f"({meta['seconds']} s; written to {outdir}/edge-{stamp}.md and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
