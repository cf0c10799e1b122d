#!/usr/bin/env python3
"""make bench-smtp: homeportd against Postfix delivering through LMTP into Dovecot.

    python3 tests/bench/smtp_bench.py BUILD_DIR [--homeportd PATH] [--rounds N]
            [--messages N] [--sessions N] [--size BYTES] [--only homeportd|anchor]

Postfix's smtp-source sends MESSAGES messages with SIZE bytes of payload
(plus its few header lines), one recipient each, over SESSIONS concurrent
SMTP sessions that each stay connected (-d), to each target in turn:

    homeportd   a fresh state directory, one domain and one user; a message
                is acknowledged (250) only after its store transaction
                committed with synchronous=FULL, and is visible (a row in
                the user's INBOX) from then on
    anchor      a private Postfix (smtpd on loopback, its own queue, which
                fsyncs every queue file before 250) delivering through LMTP
                on a unix socket into a private Dovecot that saves to
                Maildir (mail_fsync = optimized, the default: each file is
                fsynced before LMTP answers 250); visible = a file in the
                user's Maildir new/ or cur/

Both with default durability settings. Each round starts every target from
scratch (empty queue and mailbox), in an order that alternates from round
to round. Per round and target:

    accepted/s  MESSAGES / (smtp-source's end - its start): every message
                got its 250
    visible/s   MESSAGES / (the moment the mailbox holds all of them - the
                start), polled every POLL seconds
    RSS         VmRSS summed over every process of the target (homeportd
                and its children; Postfix's master and every child, plus
                Dovecot's master and every child): idle (started and
                listening, nothing sent, after SETTLE s) and peak (the
                largest sum seen, sampled every SAMPLE s during the run)
    PSS         the same with PSS (shared pages divided among the processes
                that share them), for comparison: RSS counts a shared
                library once per process
    CPU         user + system seconds of the target's processes per 1,000
                messages (children's time counts once they are reaped)

Everything runs on 127.0.0.1 as children of this script, each stopped by
its PID (and every process below it by PID) when the run ends or fails.
Needs root: Postfix and Dovecot change users. Results: medians with
min-max over the rounds and the ratios of medians, printed and written as
Markdown and JSON under BUILD_DIR/bench-smtp/.
"""
import argparse
import hashlib
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

import mta  # noqa: E402  (tests/integration/mta.py: the private Postfix and Dovecot)
import procfs  # noqa: E402  (tests/integration/procfs.py: processes' memory)
from benchlib import (cell, exit_on_signals, first_line, fmt_ratio,  # noqa: E402
                      head_and_table, machine_meta, med, ratio, write_report)

SMTP_SOURCE = "/usr/sbin/smtp-source"
HOST = mta.HOST

ROUNDS = 5
MESSAGES = 2000
SESSIONS = 20
SIZE = 4096
DOMAIN = "bench.test"
USER = "bench"
SENDER = "sender@client.test"
CLIENT_NAME = "client.test"
HOME_HOSTNAME = "mx.home.test"
ANCHOR_HOSTNAME = "mx.anchor.test"

POLL = 0.02             # s between looks at the mailbox
SAMPLE = 0.05           # s between RSS samples
PSS_EVERY = 10          # PSS every this many RSS samples (smaps_rollup is dearer)
SETTLE = 1.0            # s after start before idle memory is read
RUN_TIMEOUT = 300       # s for smtp-source, and for the last message to be visible
DISK_PROBE = 2.0        # s of synchronous 4 KiB writes to measure the disk

TARGETS = ("homeportd", "anchor")
TARGET_VISIBLE_RATIO = 2.0      # homeportd's delivered messages/s, × the anchor's
TARGET_MEMORY_RATIO = 0.25      # homeportd's memory, × the anchor's (at most)


class BenchError(Exception):
    pass


# ---- the targets ------------------------------------------------------------

class Anchor:
    """Dovecot (LMTP, Maildir) and Postfix delivering to it, both fresh."""

    name = "anchor"

    def __init__(self, d):
        self.dovecot = self.postfix = None
        self.dovecot = mta.Dovecot(d / "dovecot", users=[USER])
        try:
            self.port = mta.free_port()
            self.postfix = mta.Postfix(d / "postfix", self.port, hostname=ANCHOR_HOSTNAME,
                                       domains=[DOMAIN], mailboxes=[f"{USER}@{DOMAIN}"],
                                       lmtp=self.dovecot.lmtp_socket)
        except BaseException:
            self.dovecot.stop()
            raise

    def pids(self):
        return self.postfix.pids() + self.dovecot.pids()

    def visible(self):
        return self.dovecot.count(USER)

    def check(self):
        for p in (self.postfix.process, self.dovecot.process):
            if not p.alive():
                raise BenchError(f"{p.name} exited:\n{p.tail()}")

    def describe(self):
        return "; ".join(first_line(a) for a in (["/usr/sbin/postconf", "-d", "mail_version"],
                                                 ["dovecot", "--version"]))

    def stop(self):
        for x in (self.postfix, self.dovecot):
            if x is not None:
                x.stop()


class Homeportd:
    """homeportd with a fresh state directory, one domain and one user,
    set up and started by tests/integration/homed.py."""

    name = "homeportd"

    def __init__(self, d, build, exe):
        import homed
        self.port = mta.free_port()
        self.home = homed.start_for_bench(d, build, exe, HOST, self.port, HOME_HOSTNAME,
                                          DOMAIN, [USER])
        self.db_path = self.home.db_path
        self.db = None

    def pids(self):
        return self.home.pids()

    def visible(self):
        if self.db is None:
            if not self.db_path.exists():
                return 0
            self.db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        row = self.db.execute(
            "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
            "WHERE b.name = 'INBOX'").fetchone()
        return row[0]

    def check(self):
        if not self.home.alive():
            raise BenchError(f"homeportd exited:\n{self.home.tail()}")

    def describe(self):
        return f"homeportd {self.home.exe}"

    def stop(self):
        if self.db is not None:
            self.db.close()
            self.db = None
        self.home.stop()


# ---- measuring ---------------------------------------------------------------

def cpu_seconds(pids):
    """utime + stime + reaped children's, of the processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            text = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = text[text.rindex(")") + 2:].split()
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    """Samples the target's summed RSS (and now and then PSS) until stopped."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.stopped = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0

    def run(self):
        i = 0
        while not self.stopped.is_set():
            pids = self.target.pids()
            rss = procfs.rss_bytes(pids)
            if rss > self.peak_rss:
                self.peak_rss, self.peak_procs = rss, len(pids)
            if i % PSS_EVERY == 0:
                self.peak_pss = max(self.peak_pss, procfs.pss_bytes(pids))
            i += 1
            self.stopped.wait(SAMPLE)

    def stop(self):
        self.stopped.set()
        self.join()


def machine_user_cpu():
    """User CPU seconds of the whole machine."""
    f = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(f[0]) + int(f[1])) / os.sysconf("SC_CLK_TCK")


def measure(target, args, logdir, rnd):
    """One run of smtp-source against a started target; returns its figures."""
    time.sleep(SETTLE)
    target.check()
    if target.visible() != 0:
        raise BenchError(f"{target.name}: the mailbox is not empty before the run")
    idle_pids = target.pids()
    idle_rss, idle_pss = procfs.rss_bytes(idle_pids), procfs.pss_bytes(idle_pids)
    argv = [SMTP_SOURCE, "-d", "-s", args.sessions, "-m", args.messages, "-l", args.size,
            "-f", SENDER, "-t", f"{USER}@{DOMAIN}", "-M", CLIENT_NAME, f"{HOST}:{target.port}"]
    sampler = Sampler(target)
    log = logdir / f"smtp-source-{target.name}-{rnd}.log"
    cpu0, user0 = cpu_seconds(target.pids()), machine_user_cpu()
    sampler.start()
    try:
        t0 = time.monotonic()
        with open(log, "wb") as f:
            src = subprocess.Popen([str(a) for a in argv], stdout=f, stderr=subprocess.STDOUT)
        accepted = visible_at = None
        deadline = t0 + RUN_TIMEOUT
        while time.monotonic() < deadline:
            now = time.monotonic()
            if accepted is None and src.poll() is not None:
                accepted = now
                if src.returncode != 0:
                    raise BenchError(f"smtp-source to {target.name} failed "
                                     f"({src.returncode}): {log.read_text(errors='replace')[-800:]}")
            if visible_at is None and target.visible() >= args.messages:
                visible_at = time.monotonic()
            if accepted is not None and visible_at is not None:
                break
            target.check()
            time.sleep(POLL)
        else:
            if src.poll() is None:
                src.kill()
                src.wait()
            raise BenchError(f"{target.name}: not done after {RUN_TIMEOUT} s "
                             f"({target.visible()} of {args.messages} visible)")
    finally:
        sampler.stop()
    cpu1 = cpu_seconds(target.pids())
    user1 = machine_user_cpu()
    n = target.visible()
    if n != args.messages:
        raise BenchError(f"{target.name}: {n} messages in the mailbox, sent {args.messages}")
    return {
        "accepted_per_s": args.messages / (accepted - t0),
        "visible_per_s": args.messages / (visible_at - t0),
        "accept_seconds": accepted - t0,
        "visible_seconds": visible_at - t0,
        "rss_idle": idle_rss, "rss_peak": max(sampler.peak_rss, idle_rss),
        "pss_idle": idle_pss, "pss_peak": max(sampler.peak_pss, idle_pss),
        "procs_idle": len(idle_pids), "procs_peak": sampler.peak_procs,
        "cpu_per_1000": (cpu1 - cpu0) / args.messages * 1000,
        "machine_user_cpu": (user1 - user0) / (visible_at - t0),
    }


def disk_sync_writes(d, seconds=DISK_PROBE):
    """Synchronous 4 KiB appends per second (write + fdatasync) in directory d."""
    path = d / "disk-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    buf = b"\0" * 4096
    n, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            os.write(fd, buf)
            os.fdatasync(fd)
            n += 1
    finally:
        os.close(fd)
        path.unlink()
    return n / (time.monotonic() - t0)


# ---- the report -----------------------------------------------------------------

MIB = 1 << 20
FIGURES = (
    # key, label, format, scale, higher is better
    ("accepted_per_s", "accepted, messages/s", "{:.0f}", 1, True),
    ("visible_per_s", "visible in the mailbox, messages/s", "{:.0f}", 1, True),
    ("rss_idle", "RSS idle, MiB", "{:.1f}", 1 / MIB, False),
    ("rss_peak", "RSS peak, MiB", "{:.1f}", 1 / MIB, False),
    ("pss_idle", "PSS idle, MiB", "{:.1f}", 1 / MIB, False),
    ("pss_peak", "PSS peak, MiB", "{:.1f}", 1 / MIB, False),
    ("procs_idle", "processes idle", "{:.0f}", 1, False),
    ("procs_peak", "processes at the RSS peak", "{:.0f}", 1, False),
    ("cpu_per_1000", "CPU s per 1,000 messages", "{:.2f}", 1, False),
)


def build_report(res, targets):
    rows = [["", *targets]]
    if len(targets) == 2:
        rows[0].append("homeportd / anchor")
    for key, label, fmt, scale, _ in FIGURES:
        row = [label, *[cell(res[t][key], fmt, scale) for t in targets]]
        if len(targets) == 2:
            row.append(fmt_ratio(ratio(med(res["homeportd"][key]), med(res["anchor"][key]))))
        rows.append(row)
    verdicts = []
    if len(targets) == 2:
        h, a = res["homeportd"], res["anchor"]
        checks = (
            ("visible messages/s ≥ 2× the anchor's", "visible_per_s",
             lambda x: x >= TARGET_VISIBLE_RATIO),
            ("RSS idle ≤ ¼ of the anchor's", "rss_idle", lambda x: x <= TARGET_MEMORY_RATIO),
            ("RSS peak ≤ ¼ of the anchor's", "rss_peak", lambda x: x <= TARGET_MEMORY_RATIO),
        )
        for name, key, ok in checks:
            x = ratio(med(h[key]), med(a[key]))
            per_round = [p / q for p, q in zip(h[key], a[key])]
            held = sum(1 for r in per_round if ok(r))
            verdicts.append((name, f"{fmt_ratio(x)} (per round {fmt_ratio(min(per_round))}–"
                                   f"{fmt_ratio(max(per_round))}, met in {held} of "
                                   f"{len(per_round)})", "met" if ok(x) else "MISSED"))
    return rows, verdicts


def render(res, meta, targets, markdown):
    rows, verdicts = build_report(res, targets)
    lines = head_and_table([
        f"SMTP bench, {meta['date']}, nproc={meta['nproc']}, kernel {meta['kernel']}; "
        f"{meta['rounds']} rounds of {meta['messages']} messages of {meta['size']} bytes over "
        f"{meta['sessions']} sessions; median [min–max]",
        f"homeportd: {meta['homeportd']} (sha256 {meta['homeportd_sha256']}; "
        f"tree {meta['commit']})",
        f"anchor: {meta['anchor']}",
        f"disk: {meta['disk_sync_writes']:.0f} synchronous 4 KiB writes/s "
        f"(write + fdatasync, {meta['tmp_fs']})",
    ], rows, markdown)
    other = [x for t in targets for x in res[t]["machine_user_cpu"]]
    lines.append(f"user CPU of the whole machine during the runs: median {med(other):.2f}, "
                 f"max {max(other):.2f} CPUs (the bench's own included)")
    if verdicts:
        lines.append("")
        lines.append("targets for homeportd (verdict on the medians):")
        for name, value, verdict in verdicts:
            lines.append(f"{'- ' if markdown else '  '}{name}: {value}: {verdict}")
    return "\n".join(lines) + "\n"


# ---- main -------------------------------------------------------------------------

def start(name, d, args):
    if name == "anchor":
        return Anchor(d)
    return Homeportd(d, args.build, args.homeportd)


def run(args, targets, tmp):
    res = {t: {k: [] for k in (*[f[0] for f in FIGURES], "accept_seconds", "visible_seconds",
                                "machine_user_cpu")} for t in targets}
    describe = {}
    for r in range(args.rounds):
        order = targets if r % 2 == 0 else tuple(reversed(targets))
        for name in order:
            d = tmp / f"{name}-{r}"
            d.mkdir(mode=0o755)
            target = start(name, d, args)
            try:
                describe.setdefault(name, target.describe())
                got = measure(target, args, tmp, r)
            finally:
                target.stop()
            for k, v in got.items():
                res[name][k].append(v)
            print(f"round {r + 1}/{args.rounds} {name}: accepted {got['accepted_per_s']:.0f}/s, "
                  f"visible {got['visible_per_s']:.0f}/s, RSS idle "
                  f"{got['rss_idle'] / MIB:.1f} MiB peak {got['rss_peak'] / MIB:.1f} MiB "
                  f"({got['procs_peak']} processes), CPU {got['cpu_per_1000']:.2f} s/1000",
                  flush=True)
            shutil.rmtree(d, ignore_errors=True)
    return res, describe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=pathlib.Path, help="the build directory (build/)")
    ap.add_argument("--homeportd", type=pathlib.Path,
                    help="the homeportd to measure (default: BUILD/bin/homeportd)")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--messages", type=int, default=MESSAGES)
    ap.add_argument("--sessions", type=int, default=SESSIONS)
    ap.add_argument("--size", type=int, default=SIZE)
    ap.add_argument("--only", choices=TARGETS, help="measure one target alone")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("smtp_bench: run as root (Postfix and Dovecot change users)", file=sys.stderr)
        return 2
    if min(args.rounds, args.messages, args.sessions, args.size) < 1:
        print("smtp_bench: --rounds, --messages, --sessions and --size must be at least 1",
              file=sys.stderr)
        return 2
    args.build = args.build.resolve()
    args.homeportd = (args.homeportd or args.build / "bin" / "homeportd").resolve()
    targets = (args.only,) if args.only else TARGETS
    missing = [p for p in (SMTP_SOURCE, mta.DOVECOT, str(mta.POSTFIX_DAEMONS / "master"),
                           "/usr/lib/dovecot/lmtp") if not os.path.exists(p)]
    if "homeportd" in targets:
        missing += [str(p) for p in (args.homeportd, args.build / "bin" / "homeport")
                    if not p.is_file()]
    if missing:
        print(f"smtp_bench: missing {', '.join(missing)} (make bench-smtp builds homeportd; "
              "make deps installs postfix, dovecot-core and dovecot-lmtpd)", file=sys.stderr)
        return 2
    exit_on_signals()
    started = time.monotonic()
    meta = {
        **machine_meta(),
        "rounds": args.rounds, "messages": args.messages, "sessions": args.sessions,
        "size": args.size,
        "commit": first_line(["git", "-C", REPO, "describe", "--always", "--dirty"]),
        "homeportd": str(args.homeportd),
        "homeportd_sha256": (hashlib.sha256(args.homeportd.read_bytes()).hexdigest()[:12]
                             if args.homeportd.is_file() else "-"),
        "command": " ".join([SMTP_SOURCE, "-d", "-s", str(args.sessions), "-m",
                             str(args.messages), "-l", str(args.size), "-f", SENDER, "-t",
                             f"{USER}@{DOMAIN}", "-M", CLIENT_NAME, "127.0.0.1:PORT"]),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
            tmp = pathlib.Path(tmp)
            tmp.chmod(0o755)     # Postfix and Dovecot drop root and must reach their dirs
            meta["tmp_fs"] = first_line(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", tmp])
            meta["disk_sync_writes"] = disk_sync_writes(tmp)
            res, describe = run(args, targets, tmp)
    except (BenchError, mta.MtaError) as e:
        print(f"smtp_bench: {e}", file=sys.stderr)
        return 1
    meta["anchor"] = describe.get("anchor", "-")
    meta["seconds"] = round(time.monotonic() - started)
    md = write_report(args.build, "smtp", meta, res, render, targets)
    print(f"smtp-source: {meta['command']}")
    print(f"({meta['seconds']} s; written to {md} and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
