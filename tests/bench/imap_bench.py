#!/usr/bin/env python3
"""make bench-imap: homeportd's IMAP server against Dovecot, with the same mailbox.

    python3 tests/bench/imap_bench.py BUILD_DIR [--homeportd PATH] [--only homeportd|dovecot]
            [--rounds N] [--messages N] [--idle-sessions N]

Each round, each server (in an order that alternates from round to round)
starts from nothing and gets the same MESSAGES messages (deterministic:
2 to 20 KiB, three in ten multipart, a word in exactly 1 %) into one user's
INBOX through its own delivery path, several sessions in parallel:

    homeportd   SMTP to its MX listener; IMAPS on its imaps listener. A
                fresh state directory, one domain, one user (homeport user
                add, Argon2id)
    dovecot     LMTP (its unix socket) into Maildir; IMAPS. Private
                configuration, Dovecot's defaults otherwise; the password
                hashed with Argon2id at the parameters homeportd uses
                (libsodium's "interactive": 2 passes, 64 MiB)

Both servers put trace header fields in front of each message (Received,
Return-Path; Dovecot also Delivered-To), so their copies differ by those.
Then each server is restarted, and a raw-socket client (this file: one
TLS socket, commands written whole, responses read until the tagged
line, counting bytes, no IMAP parsing while the clock runs) times:

    login+SELECT     LOGIN and SELECT INBOX pipelined, after the greeting
    FETCH envelope   FETCH 1:* (FLAGS ENVELOPE): first touch (the first
                     after the restart) and warm (median of WARM more)
    SEARCH TEXT      UID SEARCH TEXT <word>, median of SEARCHES; it must
                     return exactly the 1 % that hold the word
    FETCH bodies     FETCH 1:* BODY.PEEK[], median of BODIES; every message
                     must come back ending with the bytes sent, so both
                     servers returned the same messages
    RSS / PSS        summed over the server's processes with IDLE_SESSIONS
                     sessions logged in, INBOX selected and in IDLE (each
                     answered "+"), and before they opened

Everything runs on 127.0.0.1 as children of this script, each stopped by
its PID (Dovecot's children by theirs) when the run ends or fails. Needs
root: Dovecot and homeportd change users. Results: medians with min-max
over every sample of every round and the ratios of medians
homeportd / Dovecot, printed and written as Markdown and JSON under
BUILD_DIR/bench-imap/.
"""
import argparse
import base64
import ctypes
import ctypes.util
import datetime
import hashlib
import os
import pathlib
import random
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

import imap_clients  # noqa: E402  (tests/integration/imap_clients.py: delivery in parallel)
import mta  # noqa: E402  (tests/integration/mta.py: the private Dovecot)
import procfs  # noqa: E402  (tests/integration/procfs.py: processes' memory)
from benchlib import (cell, exit_on_signals, first_line, fmt_ratio,  # noqa: E402
                      head_and_table, machine_meta, med, ratio, write_report)

HOST = mta.HOST
DOMAIN = "bench.test"
USER = f"bench@{DOMAIN}"
PASSWORD = "bench-imap-password"
SERVERNAME = "mx.home.test"
SEED = 6                    # the number: the same messages every run
MESSAGES = 10000
WORD = "quorblezyx"         # the rare word: in exactly 1 % of the messages
WORD_EVERY = 100
SIZE_MIN, SIZE_MAX = 2 * 1024, 20 * 1024
ROUNDS = 1
WARM = 5
SEARCHES = 5
BODIES = 3
IDLE_SESSIONS = 50
SETTLE_MAX = 600        # s a server may take to finish indexing what it was given
LOAD_SESSIONS = 8
TAG = b"Zq9"                # tags are TAG + a number; no message line starts so
SETTLE = 1.0                # s after the IDLE sessions settle before memory is read
IO_TIMEOUT = 300            # s for any one response
RECV = 1 << 20

TARGETS = ("homeportd", "dovecot")
# The targets for homeportd, as ratios to Dovecot (at most).
TARGET_FETCH = 1.0
TARGET_SEARCH = 0.1
TARGET_MEMORY = 0.5


class BenchError(Exception):
    pass


# ---- the messages ------------------------------------------------------------

SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "ve", "da", "fe", "gi", "ho",
             "ju", "be", "co", "tu", "wa", "el", "an"]


def vocabulary(rng, n=600):
    """Words of 2 to 4 syllables; none holds WORD (case-insensitively)."""
    words = set()
    while len(words) < n:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if WORD not in w.lower():
            words.add(w)
    return sorted(words)


def text(rng, words, size, word=False):
    """Lines of 5 to 10 words making about size bytes; WORD once
    somewhere in it when word."""
    lines, n = [], 0
    while n < size:
        lines.append(" ".join(rng.choices(words, k=rng.randint(5, 10))))
        n += len(lines[-1]) + 2
    if word:
        i = rng.randrange(len(lines))
        ws = lines[i].split(" ")
        ws.insert(rng.randrange(len(ws) + 1), WORD)
        lines[i] = " ".join(ws)
    return "\r\n".join(lines) + "\r\n"


def make_messages(n=MESSAGES, seed=SEED):
    """n messages as bytes (CRLF lines), the same for a given seed; those
    at i % WORD_EVERY == 37 hold WORD. About 70 % text/plain, 10 %
    multipart/alternative, 20 % multipart/mixed with a base64 attachment."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    out = []
    for i in range(n):
        size = rng.randint(SIZE_MIN, SIZE_MAX)
        word = i % WORD_EVERY == 37
        date = (base + datetime.timedelta(minutes=7 * i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        sender = f"{rng.choice(words).capitalize()} {rng.choice(words).capitalize()}"
        head = [f"From: {sender} <{rng.choice(words)}@{rng.choice(words)}.example>",
                f"To: Bench <{USER}>",
                f"Subject: {' '.join(rng.choice(words) for _ in range(rng.randint(2, 8)))}",
                f"Date: {date}", f"Message-ID: <bench-{i}@client.test>", "MIME-Version: 1.0"]
        kind = rng.random()
        if kind < 0.7:
            head.append("Content-Type: text/plain; charset=us-ascii")
            body = text(rng, words, size, word)
        elif kind < 0.8:
            b = f"alt-{i}"
            head.append(f'Content-Type: multipart/alternative; boundary="{b}"')
            t = text(rng, words, size // 2, word)
            body = (f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{t}"
                    f"--{b}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
                    f"<html><body><p>{t}</p></body></html>\r\n--{b}--\r\n")
        else:
            b = f"mix-{i}"
            head.append(f'Content-Type: multipart/mixed; boundary="{b}"')
            t = text(rng, words, size // 3, word)
            blob = rng.randbytes(size // 2)
            enc = base64.encodebytes(blob).decode().replace("\n", "\r\n")
            body = (f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{t}"
                    f"--{b}\r\nContent-Type: application/octet-stream; name=\"data-{i}.bin\"\r\n"
                    f"Content-Disposition: attachment; filename=\"data-{i}.bin\"\r\n"
                    f"Content-Transfer-Encoding: base64\r\n\r\n{enc}--{b}--\r\n")
        out.append(("\r\n".join(head) + "\r\n\r\n" + body).encode())
    check_messages(out)
    return out


def word_count(n):
    """How many of n messages hold WORD."""
    return sum(1 for i in range(n) if i % WORD_EVERY == 37)


def check_messages(msgs):
    """The corpus is what the bench assumes: WORD in exactly 1 % (anywhere,
    case-insensitively, so no attachment's base64 holds it by chance), and
    no line that would pass for a tagged response of ours."""
    with_word = sum(1 for m in msgs if WORD.encode() in m.lower())
    if with_word != word_count(len(msgs)):
        raise BenchError(f"the corpus has {WORD} in {with_word} messages, "
                         f"not {word_count(len(msgs))}")
    tagged = re.compile(rb"(?:^|\r\n)" + TAG + rb"\d+ ")
    if any(tagged.search(m) for m in msgs):
        raise BenchError(f"a message has a line that starts like a tagged response ({TAG!r})")


# ---- the raw client ------------------------------------------------------------

class Raw:
    """One IMAP session over TLS, with no IMAP parsing while timing: a
    command is written whole and the response read until its tagged line
    (found by "CRLF TAG SP", and no message holds TAG)."""

    def __init__(self, port, ctx):
        self.n = 0
        t0 = time.perf_counter()
        s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(s, server_hostname=SERVERNAME)
        greeting = self._until(b"\r\n", b"")
        self.connect_s = time.perf_counter() - t0
        if not greeting.startswith(b"* OK"):
            raise BenchError(f"greeting: {greeting[:200]!r}")

    def _until(self, marker, data):
        """Read until marker is in data (bytes so far); returns all read."""
        buf = bytearray(data)
        while marker not in buf:
            chunk = self.sock.recv(RECV)
            if not chunk:
                raise BenchError(f"connection closed; so far {bytes(buf[-300:])!r}")
            buf += chunk
        return bytes(buf)

    def send(self, *commands):
        """Write the commands (without tags) at once; returns their tags."""
        tags = []
        out = []
        for c in commands:
            self.n += 1
            tag = TAG + str(self.n).encode()
            tags.append(tag)
            out.append(tag + b" " + c + b"\r\n")
        self.sock.sendall(b"".join(out))
        return tags

    def read_tagged(self, tag):
        """Read until tag's tagged line has ended: (bytes read, its status).
        Only the seam between the last chunk and the new one is searched
        again; a response that is the tagged line alone counts (the search
        starts as if a line had just ended)."""
        marker = b"\r\n" + tag + b" "
        chunks, tail, line = [], b"\r\n", None
        while True:
            chunk = self.sock.recv(RECV)
            if not chunk:
                raise BenchError(f"connection closed waiting for {tag!r}")
            chunks.append(chunk)
            if line is None:
                window = tail + chunk
                i = window.find(marker)
                if i >= 0:
                    line = window[i + 2:]
                else:
                    tail = window[-(len(marker) - 1):]
            else:
                line += chunk
            if line is not None and b"\r\n" in line:
                break
        status = line.split(b"\r\n", 1)[0].split(b" ")[1:2]
        return b"".join(chunks), (status[0] if status else b"?")

    def timed(self, *commands):
        """Send commands pipelined, read until the last one's tagged line.
        Returns (seconds, bytes read, data); BenchError unless every one
        answered OK."""
        t0 = time.perf_counter()
        tags = self.send(*commands)
        data, status = self.read_tagged(tags[-1])
        dt = time.perf_counter() - t0
        for tag in tags:
            m = re.search(rb"(?:^|\r\n)" + tag + rb" (OK|NO|BAD)", data)
            if not m or m.group(1) != b"OK":
                raise BenchError(f"{commands[tags.index(tag)][:60]!r}: "
                                 f"{data[-300:]!r}")
        return dt, len(data), data

    def close(self):
        try:
            self.send(b"LOGOUT")
            self.sock.settimeout(5)
            while self.sock.recv(RECV):
                pass
        except (OSError, BenchError):
            pass
        self.sock.close()


def literals(data):
    """The literals of a response, in order (outside the clock): a literal
    is announced by {N} at a line's end."""
    out, i = [], 0
    rx = re.compile(rb"\{(\d+)\}\r\n")
    while True:
        m = rx.search(data, i)
        if not m:
            return out
        start = m.end()
        n = int(m.group(1))
        out.append(data[start:start + n])
        i = start + n


# ---- the servers --------------------------------------------------------------

def argon2id_interactive(password):
    """password hashed as homeportd hashes its (libsodium crypto_pwhash_str_alg,
    Argon2id, OPSLIMIT/MEMLIMIT_INTERACTIVE), as Dovecot's passwd-file wants it."""
    lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
    if lib.sodium_init() < 0:
        raise BenchError("sodium_init failed")
    lib.crypto_pwhash_opslimit_interactive.restype = ctypes.c_size_t
    lib.crypto_pwhash_memlimit_interactive.restype = ctypes.c_size_t
    lib.crypto_pwhash_str_alg.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong,
                                          ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_int]
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    if lib.crypto_pwhash_str_alg(out, pw, len(pw), lib.crypto_pwhash_opslimit_interactive(),
                                 lib.crypto_pwhash_memlimit_interactive(),
                                 lib.crypto_pwhash_alg_argon2id13()) != 0:
        raise BenchError("crypto_pwhash_str_alg failed")
    return "{ARGON2ID}" + out.value.decode()


class Dovecot:
    name = "dovecot"

    def __init__(self, d, build, exe, sessions):
        self.dv = mta.Dovecot(d / "dovecot", users=[], imap=True, scheme=None,
                              passwords={USER: argon2id_interactive(PASSWORD)},
                              imap_sessions_max=sessions)
        self.port = self.dv.imaps_port
        self.acct = imap_clients.Account("dovecot", HOST, self.dv.imaps_port, self.dv.imap_port,
                                         USER, PASSWORD, self.dv.cert, self.dv.servername,
                                         imap_clients.lmtp_connector(self.dv.lmtp_socket))

    def count(self):
        return self.dv.count(USER)

    def settle(self):
        """Dovecot keeps no full-text index by default: nothing to wait for."""

    def restart(self):
        self.dv.stop()
        self.dv.start()

    def pids(self):
        return self.dv.pids()

    def check(self):
        if not self.dv.process.alive():
            raise BenchError(f"dovecot exited:\n{self.dv.log()[-2000:]}")

    def describe(self):
        return first_line(["dovecot", "--version"])

    def stop(self):
        self.dv.stop()


class Homeportd:
    name = "homeportd"

    def __init__(self, d, build, exe, sessions):
        import homed
        self.home = homed.Home(build, d / "home", hostname=SERVERNAME, exe=exe, log_level="info")
        self.home.listener("mx", "smtp")
        # The IDLE sessions all come from 127.0.0.1: as Dovecot's session limit, room for them.
        self.home.listener("imap", "imap", max_per_source=sessions)
        self.port = self.home.listener("imaps", "imaps", max_per_source=sessions)
        self.home.start()
        try:
            self.home.add_domain(DOMAIN)
            self.home.add_user(USER, password=PASSWORD)
        except BaseException:
            self.home.stop()
            raise
        self.acct = imap_clients.Account(
            "homeportd", HOST, self.port, self.home.port("imap"), USER, PASSWORD,
            self.home.state_dir / "keys" / "tls.crt", SERVERNAME,
            imap_clients.smtp_connector(HOST, self.home.port("mx")))

    def count(self):
        return self.home.query(
            "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
            "WHERE b.name = 'INBOX'")[0][0]

    def settle(self):
        """Wait until homeportd's full-text index holds every message: it
        indexes behind deliveries, so without this the first SEARCH of a
        round would index the whole mailbox itself (34 s measured), and
        its median would hide that. The wait counts as loading."""
        deadline = time.monotonic() + SETTLE_MAX
        while self.home.query("SELECT count(*) FROM bodies WHERE pending = 0 AND indexed = 0")[0][0] > 0:
            if time.monotonic() > deadline:
                raise BenchError(f"homeportd: the text index did not catch up within {SETTLE_MAX} s")
            time.sleep(0.2)

    def restart(self):
        status = self.home.stop()
        if status != 0:
            raise BenchError(f"homeportd stopped with {status}:\n{self.home.tail()}")
        self.home.start()

    def pids(self):
        # homeportd and any process it starts
        return [p for pid in self.home.pids() for p in procfs.descendants(pid)]

    def check(self):
        if not self.home.alive():
            raise BenchError(f"homeportd exited:\n{self.home.tail()}")

    def describe(self):
        return f"homeportd {self.home.exe}"

    def stop(self):
        self.home.stop()


# ---- measuring ---------------------------------------------------------------------

def client_context(target):
    ctx = ssl.create_default_context(cafile=str(target.acct.cafile))
    ctx.check_hostname = False
    return ctx


def login_select(raw):
    return raw.timed(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()), b"SELECT INBOX")


def measure(target, msgs, args):
    """One round's figures for a started target that holds msgs."""
    ctx = client_context(target)
    res = {}
    raw = Raw(target.port, ctx)
    try:
        res["connect"] = [raw.connect_s]
        dt, _, data = login_select(raw)
        res["login_select"] = [dt]
        exists = re.search(rb"\* (\d+) EXISTS", data)
        if not exists or int(exists.group(1)) != len(msgs):
            raise BenchError(f"{target.name}: SELECT says {exists and exists.group(1)!r} "
                             f"messages, {len(msgs)} were delivered")
        fetch = b"FETCH 1:* (FLAGS ENVELOPE)"
        dt, n, data = raw.timed(fetch)
        res["fetch_first"] = [dt]
        res["fetch_envelope_bytes"] = [n]
        if data.count(b" FETCH (") != len(msgs):
            raise BenchError(f"{target.name}: {data.count(b' FETCH (')} FETCH responses, "
                             f"{len(msgs)} messages")
        res["fetch_warm"] = [raw.timed(fetch)[0] for _ in range(args.warm)]
        search = b"UID SEARCH TEXT " + WORD.encode()
        times = []
        for _ in range(args.searches):
            dt, _, data = raw.timed(search)
            times.append(dt)
            line = re.search(rb"\* SEARCH([ 0-9]*)\r\n", data)
            hits = line.group(1).split() if line else []
            if len(hits) != word_count(len(msgs)):
                raise BenchError(f"{target.name}: UID SEARCH TEXT {WORD} found {len(hits)}")
        res["search_text"] = times
        res["search_hits"] = [len(hits)]
        times, sizes = [], []
        for k in range(args.bodies):
            dt, n, data = raw.timed(b"FETCH 1:* BODY.PEEK[]")
            times.append(dt)
            sizes.append(n)
            if k == 0:
                res["body_check"] = check_bodies(target, data, msgs)
        res["fetch_bodies"] = times
        res["fetch_bodies_bytes"] = sizes
    finally:
        raw.close()
    res.update(idle_memory(target, ctx, args.idle_sessions))
    return res


def check_bodies(target, data, msgs):
    """Every message sent came back whole at the end of one literal, with
    only header fields in front: (literal bytes, message bytes, trace bytes)."""
    by_id = {imap_clients.message_id(m): m for m in msgs}
    lits = literals(data)
    if len(lits) != len(msgs):
        raise BenchError(f"{target.name}: {len(lits)} bodies for {len(msgs)} messages")
    seen, trace = set(), 0
    for lit in lits:
        mid = imap_clients.message_id(lit)
        sent = by_id.get(mid)
        if sent is None or mid in seen or not lit.endswith(sent):
            raise BenchError(f"{target.name}: body of {mid} is not the message sent")
        prefix = lit[:len(lit) - len(sent)]
        if prefix and not re.fullmatch(rb"([!-9;-~]+:[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*)+", prefix):
            raise BenchError(f"{target.name}: {mid} has more than header fields in front")
        seen.add(mid)
        trace += len(prefix)
    total = sum(len(lit) for lit in lits)
    return {"literal_bytes": total, "message_bytes": total - trace, "trace_bytes": trace}


def idle_memory(target, ctx, n):
    """Summed RSS and PSS of the target's processes before and with n
    sessions in IDLE."""
    time.sleep(SETTLE)
    target.check()
    pids = target.pids()
    out = {"rss_before_idle": [procfs.rss_bytes(pids)], "pss_before_idle": [procfs.pss_bytes(pids)],
           "procs_before_idle": [len(pids)]}
    sessions = []
    try:
        for _ in range(n):
            raw = Raw(target.port, ctx)
            sessions.append(raw)
            login_select(raw)
            tag = raw.send(b"IDLE")[0]
            raw._until(b"+ ", b"")
            raw.idle_tag = tag
        time.sleep(SETTLE)
        target.check()
        pids = target.pids()
        out.update(rss_idle=[procfs.rss_bytes(pids)], pss_idle=[procfs.pss_bytes(pids)],
                   procs_idle=[len(pids)])
        for raw in sessions:
            raw.sock.sendall(b"DONE\r\n")
            raw.read_tagged(raw.idle_tag)
    finally:
        for raw in sessions:
            raw.close()
    return out


# ---- the report ------------------------------------------------------------------

MIB = 1 << 20
FIGURES = (
    # key, label, format, scale, target ratio (at most) or None
    ("connect", "TCP + TLS + greeting, ms", "{:.1f}", 1000, None),
    ("login_select", "LOGIN + SELECT, ms", "{:.1f}", 1000, None),
    ("fetch_first", "FETCH 1:* (FLAGS ENVELOPE) first touch, s", "{:.3f}", 1, TARGET_FETCH),
    ("fetch_warm", "FETCH 1:* (FLAGS ENVELOPE) warm, s", "{:.3f}", 1, TARGET_FETCH),
    ("search_text", "UID SEARCH TEXT (1 %), s", "{:.3f}", 1, TARGET_SEARCH),
    ("fetch_bodies", "FETCH 1:* BODY.PEEK[], s", "{:.3f}", 1, None),
    ("fetch_bodies_bytes", "FETCH 1:* BODY.PEEK[], MiB read", "{:.1f}", 1 / MIB, None),
    ("rss_before_idle", "RSS before the IDLE sessions, MiB", "{:.1f}", 1 / MIB, None),
    ("rss_idle", "RSS with the IDLE sessions, MiB", "{:.1f}", 1 / MIB, TARGET_MEMORY),
    ("pss_idle", "PSS with the IDLE sessions, MiB", "{:.1f}", 1 / MIB, None),
    ("procs_idle", "processes with the IDLE sessions", "{:.0f}", 1, None),
)


def build_report(res, targets):
    both = len(targets) == 2
    rows = [["", *targets] + (["homeportd / dovecot", "target"] if both else [])]
    verdicts = []
    for key, label, fmt, scale, target in FIGURES:
        row = [label, *[cell(res[t][key], fmt, scale) for t in targets]]
        if both:
            x = ratio(med(res["homeportd"][key]), med(res["dovecot"][key]))
            row += [fmt_ratio(x), f"≤ {target:g}×" if target is not None else ""]
            if target is not None:
                verdicts.append((label, fmt_ratio(x), target,
                                 "met" if x is not None and x <= target else "MISSED"))
        rows.append(row)
    return rows, verdicts


def render(res, meta, targets, markdown):
    rows, verdicts = build_report(res, targets)
    lines = head_and_table([
        f"IMAP bench, {meta['date']}, nproc={meta['nproc']}, kernel {meta['kernel']}; "
        f"{meta['rounds']} round(s) of {meta['messages']} messages ({meta['corpus_mib']:.1f} MiB, "
        f"sha256 {meta['corpus_sha256']}) over IMAPS on 127.0.0.1; {meta['idle_sessions']} IDLE "
        f"sessions; median [min–max] of every sample",
        f"homeportd: {meta['homeportd']} (sha256 {meta['homeportd_sha256']}; tree {meta['commit']})",
        f"dovecot: {meta['dovecot']}",
    ], rows, markdown)
    for t in targets:
        c = res[t].get("body_check")
        if c:
            lines.append(f"{t}: {c[0]['message_bytes']} bytes of messages, as sent, and "
                         f"{c[0]['trace_bytes']} bytes of trace fields in front; loaded in "
                         f"{med(res[t]['load_s']):.1f} s")
    if verdicts:
        lines.append("")
        lines.append("targets for homeportd (verdict on the medians):")
        for label, x, target, verdict in verdicts:
            lines.append(f"{'- ' if markdown else '  '}{label}: {x} (at most {target:g}×): {verdict}")
    return "\n".join(lines) + "\n"


# ---- main ---------------------------------------------------------------------------

def start(name, d, args):
    cls = Dovecot if name == "dovecot" else Homeportd
    return cls(d, args.build, args.homeportd, args.idle_sessions + 20)


def run(args, targets, tmp, msgs):
    res = {t: {} for t in targets}
    describe = {}
    for r in range(args.rounds):
        order = targets if r % 2 == 0 else tuple(reversed(targets))
        for name in order:
            d = tmp / f"{name}-{r}"
            d.mkdir(mode=0o755)
            target = start(name, d, args)
            try:
                describe.setdefault(name, target.describe())
                t0 = time.monotonic()
                imap_clients.deliver_many(target.acct, msgs, sessions=LOAD_SESSIONS)
                n = target.count()
                index_t0 = time.monotonic()
                target.settle()
                index_s = time.monotonic() - index_t0
                load_s = time.monotonic() - t0
                if n != len(msgs):
                    raise BenchError(f"{name}: {n} messages in INBOX after delivering {len(msgs)}")
                print(f"round {r + 1}/{args.rounds} {name}: {n} messages delivered and indexed in "
                      f"{load_s:.1f} s (indexing after the last delivery {index_s:.1f} s); restarting",
                      flush=True)
                target.restart()
                try:
                    got = measure(target, msgs, args)
                except OSError as e:
                    raise BenchError(f"{name}: IMAPS on {HOST}:{target.port}: {e}") from None
                got["load_s"] = [load_s]
                got["index_s"] = [index_s]
                got["body_check"] = [got["body_check"]]
            finally:
                target.stop()
            for k, v in got.items():
                res[name].setdefault(k, []).extend(v)
            print(f"round {r + 1}/{args.rounds} {name}: "
                  f"login+SELECT {got['login_select'][0] * 1000:.0f} ms, "
                  f"FETCH envelope first {got['fetch_first'][0]:.3f} s, "
                  f"warm {med(got['fetch_warm']):.3f} s, "
                  f"SEARCH TEXT {med(got['search_text']):.3f} s, "
                  f"bodies {med(got['fetch_bodies']):.3f} s, "
                  f"RSS with {args.idle_sessions} IDLE {got['rss_idle'][0] / MIB:.1f} MiB "
                  f"({got['procs_idle'][0]} processes)", flush=True)
            shutil.rmtree(d, ignore_errors=True)
    return res, describe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=pathlib.Path, help="the build directory (build/)")
    ap.add_argument("--homeportd", type=pathlib.Path,
                    help="the homeportd to measure (default: BUILD/bin/homeportd)")
    ap.add_argument("--only", choices=TARGETS, help="measure one server alone")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--messages", type=int, default=MESSAGES)
    ap.add_argument("--warm", type=int, default=WARM)
    ap.add_argument("--searches", type=int, default=SEARCHES)
    ap.add_argument("--bodies", type=int, default=BODIES)
    ap.add_argument("--idle-sessions", type=int, default=IDLE_SESSIONS)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("imap_bench: run as root (Dovecot and homeportd change users)", file=sys.stderr)
        return 2
    if min(args.rounds, args.messages, args.warm, args.searches, args.bodies,
           args.idle_sessions) < 1 or args.messages < WORD_EVERY:
        print(f"imap_bench: every count must be at least 1, --messages at least {WORD_EVERY}",
              file=sys.stderr)
        return 2
    args.build = args.build.resolve()
    args.homeportd = (args.homeportd or args.build / "bin" / "homeportd").resolve()
    targets = (args.only,) if args.only else TARGETS
    missing = [p for p in (mta.DOVECOT, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp")
               if not os.path.exists(p)]
    if "homeportd" in targets:
        missing += [str(p) for p in (args.homeportd, args.build / "bin" / "homeport")
                    if not p.is_file()]
    if missing:
        print(f"imap_bench: missing {', '.join(missing)} (make bench-imap builds homeportd; "
              "make deps installs dovecot-imapd and dovecot-lmtpd)", file=sys.stderr)
        return 2
    exit_on_signals()
    started = time.monotonic()
    msgs = make_messages(args.messages)
    corpus = hashlib.sha256(b"".join(msgs)).hexdigest()[:12]
    meta = {
        **machine_meta(),
        "rounds": args.rounds, "messages": args.messages, "idle_sessions": args.idle_sessions,
        "corpus_mib": sum(map(len, msgs)) / MIB, "corpus_sha256": corpus,
        "commit": first_line(["git", "-C", REPO, "describe", "--always", "--dirty"]),
        "homeportd": str(args.homeportd) if "homeportd" in targets else "-",
        "homeportd_sha256": (hashlib.sha256(args.homeportd.read_bytes()).hexdigest()[:12]
                             if "homeportd" in targets and args.homeportd.is_file() else "-"),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench-imap-") as tmp:
            tmp = pathlib.Path(tmp)
            tmp.chmod(0o755)     # Dovecot and homeportd drop root and must reach their dirs
            res, describe = run(args, targets, tmp, msgs)
    except (BenchError, mta.MtaError, AssertionError, OSError) as e:
        print(f"imap_bench: {e}", file=sys.stderr)
        return 1
    meta["dovecot"] = describe.get("dovecot", "-")
    meta["seconds"] = round(time.monotonic() - started)
    md = write_report(args.build, "imap", meta, res, render, targets)
    print(f"({meta['seconds']} s; written to {md} and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
