"""Acknowledged means durable: homeportd killed with SIGKILL at random
moments during DATA, ROUNDS times in a row, under load.

Each round starts homeportd on the same state directory, lets CLIENTS
concurrent SMTP clients (Python, raw sockets, so that the test knows
exactly which bytes went out before the kill) send uniquely tagged
messages to one or two of the users, and kills homeportd with SIGKILL:

    data    a short random time after some client's DATA was answered 354,
            while bodies are being sent
    dot     right after some client sent the final CRLF.CRLF: the moment
            of the commit and of the 250
    any     at a random time after the round started

Every message ends up in one of four states, from what the client saw:

    acked       250 after the final dot
    refused     any other reply after the dot (4xx/5xx)
    cut         the connection died before the client had sent the final
                dot: homeportd cannot have the whole message
    in doubt    the final dot went out, then the connection died with no
                reply: homeportd may have committed it just before it was
                killed, the answer lost with the process (RFC 5321 6.1:
                the sender tries again, and a duplicate is the price)

At the end, with homeportd restarted and stopped once more:
- every acked message is in each of its recipients' INBOX exactly once,
  and in no other mailbox;
- no refused or cut message is visible anywhere;
- an in-doubt message is either in every one of its recipients' INBOX
  exactly once, or nowhere (one transaction: all or nothing);
- nothing else is in the store; no body is left pending;
- PRAGMA integrity_check says ok and foreign_key_check finds nothing.

The randomness is seeded (HOMEPORT_TEST_SEED=N repeats a run's choices;
thread timing still varies) and the seed is printed."""
import hashlib
import os
import random
import re
import socket
import threading
import time

import mta

ROUNDS = 100
CLIENTS = 4
DOMAIN = "durable.test"
USERS = ("u0", "u1", "u2", "u3")
BODY_MIN, BODY_MAX = 2_000, 120_000     # bytes of a body: some span several 64 KiB chunks
PIECES = 4                              # a body goes out in this many writes...
PIECE_PAUSE = 0.002                     # ...with up to this many seconds between them
ROUND_MAX = 3.0                         # s: a round's kill comes at the latest then
CLIENT_TIMEOUT = 10.0                   # s for any one reply
ROUND_LIMIT = 30.0                      # s for clients to notice the kill and stop
MODES = ("data", "dot", "any")

ACKED, REFUSED, CUT, DOUBT = "acked", "refused", "cut", "in doubt"


class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = {}          # tag -> (rcpts, state, detail)
        self.bodies = {}            # tag -> (length, sha256) of the bytes sent
        self.in_data = threading.Event()
        self.dot_sent = threading.Event()

    def record(self, tag, rcpts, body, state, detail=""):
        with self.lock:
            assert tag not in self.messages
            self.messages[tag] = (tuple(rcpts), state, detail)
            self.bodies[tag] = (len(body), hashlib.sha256(body).digest())


class Client(threading.Thread):
    """Sends messages to port until the connection breaks or stop is set."""

    def __init__(self, port, name, rng, out, stop):
        super().__init__(daemon=True)
        self.port, self.name_, self.rng, self.out, self.stop = port, name, rng, out, stop
        self.seq = 0
        self.last_tag = None
        self.sock = None
        self.buf = b""
        self.error = None

    def reply(self):
        """One reply (all its lines): (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        return int(lines[-1][:3]), b"\n".join(lines)

    def command(self, text, want):
        self.sock.sendall(text.encode() + b"\r\n")
        code, text_ = self.reply()
        if code != want:
            raise RuntimeError(f"{text!r}: {text_!r}")

    def run(self):
        try:
            self.sock = socket.create_connection((mta.HOST, self.port), timeout=CLIENT_TIMEOUT)
        except OSError:
            return
        try:
            code, text = self.reply()
            if code != 220:
                raise RuntimeError(f"greeting {text!r}")
            self.command(f"EHLO {self.name_}.client.test", 250)
            while not self.stop.is_set():
                self.one()
        except (OSError, ConnectionError):
            pass            # killed: the message in flight was recorded by one()
        except Exception as e:      # a reply that should not have come: the test fails
            self.error = e
        finally:
            self.sock.close()

    def one(self):
        self.seq += 1
        tag = f"{self.name_}-{self.seq}-{self.rng.randrange(1 << 32):08x}"
        self.last_tag = tag
        rcpts = self.rng.sample(USERS, self.rng.choice((1, 1, 2)))
        rcpts = [f"{u}@{DOMAIN}" for u in rcpts]
        size = self.rng.randrange(BODY_MIN, BODY_MAX)
        line = (tag.encode() + b" ") * 10
        text = (line[:76] + b"\r\n") * (size // 78 + 1)
        body = (f"From: <sender@client.test>\r\nTo: <{rcpts[0]}>\r\nSubject: {tag}\r\n"
                f"X-Tag: {tag}\r\n\r\n").encode() + text
        pauses = [self.rng.uniform(0, PIECE_PAUSE) for _ in range(PIECES)]
        state, detail = CUT, "before DATA"
        try:
            self.command("MAIL FROM:<sender@client.test>", 250)
            for r in rcpts:
                self.command(f"RCPT TO:<{r}>", 250)
            self.command("DATA", 354)
            detail = "during DATA"
            self.out.in_data.set()
            step = len(body) // PIECES + 1
            for i in range(PIECES):
                self.sock.sendall(body[i * step:(i + 1) * step])
                time.sleep(pauses[i])
            self.sock.sendall(b".\r\n")
            state, detail = DOUBT, "no reply after the dot"
            self.out.dot_sent.set()
            code, text = self.reply()
            state, detail = (ACKED if code == 250 else REFUSED), text.decode(errors="replace")
            if code != 250 and code < 400:
                raise RuntimeError(f"end of DATA: {text!r}")
        finally:
            self.out.record(tag, rcpts, body, state, detail)


def run_round(home, rng, out, log):
    mode = rng.choice(MODES)
    stop = threading.Event()
    out.in_data.clear()
    out.dot_sent.clear()
    clients = [Client(home.port, f"c{i}", random.Random(rng.random()), out, stop)
               for i in range(CLIENTS)]
    for c in clients:
        c.start()
    start = time.monotonic()
    if mode == "data":
        out.in_data.wait(ROUND_MAX)
        time.sleep(rng.uniform(0, 0.01))
    elif mode == "dot":
        # Skip a few ends of DATA first, so that the store has work behind it.
        for _ in range(rng.randrange(1, 6)):
            out.dot_sent.clear()
            if not out.dot_sent.wait(ROUND_MAX):
                break
        time.sleep(rng.uniform(0, 0.002))
    else:
        time.sleep(rng.uniform(0.05, 0.6))
    home.kill()
    killed = time.monotonic() - start
    stop.set()
    for c in clients:
        c.join(ROUND_LIMIT)
        assert not c.is_alive(), "a client did not stop after the kill"
        assert c.error is None, f"{c.name_}: {c.error}"
    log.append((mode, round(killed, 3)))


def tag_of(body):
    m = re.search(rb"^X-Tag: (\S+)\r$", body, re.M)
    return m.group(1).decode() if m else None


def test_sigkill_during_data(bindir, tmp_path):
    seed = int(os.environ.get("HOMEPORT_TEST_SEED", random.randrange(1 << 31)))
    print(f"\ndurability seed: {seed} (HOMEPORT_TEST_SEED={seed} repeats the choices)")
    rng = random.Random(seed)
    home = mta.start_home(tmp_path / "home", bindir, {DOMAIN: USERS})
    out, log = Outcome(), []
    try:
        for i in range(ROUNDS):
            if i > 0:
                home.restart()
            run_round(home, rng, out, log)
        home.restart()
        # Something to compare against: homeportd takes mail after all this.
        c = Client(home.port, "after", random.Random(seed), out, threading.Event())
        c.sock = socket.create_connection((mta.HOST, home.port), timeout=CLIENT_TIMEOUT)
        assert c.reply()[0] == 220
        c.command("EHLO after.client.test", 250)
        c.one()
        c.command("QUIT", 221)
        c.sock.close()
    finally:
        home.stop()

    states = {}
    for tag, (rcpts, state, detail) in out.messages.items():
        states.setdefault(state, []).append(tag)
    counts = {s: len(v) for s, v in states.items()}
    modes = {m: sum(1 for x in log if x[0] == m) for m in MODES}
    print(f"rounds: {len(log)} ({modes}); messages: {counts}")
    assert out.messages[c.last_tag][1] == ACKED, out.messages[c.last_tag]
    assert counts.get(ACKED, 0) >= ROUNDS, f"too little got through to mean anything: {counts}"

    stored = mta.store_messages(home.db_path)
    seen = {}
    for m in stored:
        tag = tag_of(m["body"])
        assert tag is not None, f"a message without a tag: {m['body'][:200]!r}"
        assert tag in out.messages, f"a message nobody sent: {tag}"
        seen.setdefault(tag, []).append((m["address"], m["mailbox"]))
    doubt_stored = 0
    for tag, (rcpts, state, detail) in out.messages.items():
        where = sorted(seen.get(tag, []))
        want = sorted((r, "INBOX") for r in rcpts)
        if state == ACKED:
            assert where == want, f"acknowledged {tag} to {rcpts}: stored as {where}"
        elif state == DOUBT:
            assert where in ([], want), f"in-doubt {tag} to {rcpts}: stored as {where}"
            doubt_stored += bool(where)
        else:
            assert where == [], f"{state} {tag} ({detail}) is visible: {where}"
    print(f"in doubt: {counts.get(DOUBT, 0)}, of which stored: {doubt_stored}")
    # Every message stored is whole: what the client sent ends it, byte for
    # byte (homeportd only prepends its trace headers), and its size is right.
    for m in stored:
        assert m["size"] == len(m["body"])
        length, digest = out.bodies[tag_of(m["body"])]
        assert hashlib.sha256(m["body"][-length:]).digest() == digest, tag_of(m["body"])

    pending = mta.store_query(home.db_path, "SELECT count(*) FROM bodies WHERE pending = 1")
    assert pending == [(0,)], "bodies left pending after a clean restart"
    integrity, fk = mta.store_integrity(home.db_path)
    assert integrity == ["ok"], integrity
    assert fk == [], fk
