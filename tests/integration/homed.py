"""homeportd for tests and benchmarks: a private state directory, a
configuration, a TLS certificate, domains and users, the daemon started
and stopped by its PID, and the store read back.

    from homed import Home

    home = Home(build, tmp_path / "home")             # nothing runs yet
    home.listener("mx", "smtp")                        # 127.0.0.1:<free port>
    home.listener("sub", "submission")
    home.listener("edge", "smtp", proxy_from="127.0.0.1")
    home.start()                                       # waits for "event=start result=ok"
    home.add_domain("example.test")
    password = home.add_user("alice@example.test")     # generated unless given
    home.add_alias("team@example.test", "alice@example.test")
    port = home.port("mx")
    ...
    home.messages("alice@example.test")                # [Message(uid, mailbox, body, ...)]
    home.queue()                                       # [(mail_from, rcpt), ...]
    home.stop()                                        # SIGTERM by PID; SIGKILL after a timeout

Everything lives under the directory given (config homeportd.conf, state
state/ with mail.db and keys/). Run as root, homeportd binds as root and
then runs as `user` (default "nobody"), so the state directory is handed
to that user before each start. Not as root, it runs as the caller.

Accounts go through `homeport domain|user|alias add`, which may run
while the daemon does.
"""
import os
import pathlib
import pwd
import secrets
import socket
import sqlite3
import ssl
import struct
import subprocess
from dataclasses import dataclass

from daemon import LogLines, start_logged, terminate

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def tls_context():
    """A client TLS context for the home's self-signed test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def proxy_header(src, sport, dst="127.0.0.1", dport=25, ehlo=None, unique_id=None):
    """A PROXY v2 header as the edge writes it (docs/wire.md), with the Homeport
    TLV saying "STARTTLS already answered" when ehlo is given, and the edge's
    log id as PP2_TYPE_UNIQUE_ID when unique_id is."""
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    if unique_id is not None:
        body += struct.pack("!BH", 0x05, len(unique_id)) + unique_id
    if ehlo is not None:
        v = bytes([1, 0x01, 1]) + ehlo.encode()
        body += struct.pack("!BH", 0xE0, len(v)) + v
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def free_port(host=HOST):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Message:
    user: str           # local@domain
    mailbox: str
    uid: int
    size: int
    body_id: int
    body: bytes


class Home:
    def __init__(self, build, d, hostname="mx.home.test", user=None, log_level="debug",
                 exe=None, smtp=None, auth=None, prefix=None, sections=None, init_domain=None):
        """A home in directory d. With init_domain, set up as a user does:
        `homeport init --domain init_domain --hostname hostname`, whose
        homeportd.conf is then kept (the user, the log level and sections
        changed); else this class writes the configuration itself."""
        self.build = pathlib.Path(build)
        self.exe = pathlib.Path(exe) if exe else self.build / "bin" / "homeportd"
        self.cli = self.build / "bin" / "homeport"
        self.dir = pathlib.Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.dir / "state"
        self.state_dir.mkdir(exist_ok=True)
        (self.state_dir / "keys").mkdir(exist_ok=True)
        self.conf_path = self.dir / "homeportd.conf"
        self.db_path = self.state_dir / "mail.db"
        self.log_path = self.dir / "homeportd.log"
        self.hostname = hostname
        self.user = user or ("nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
        self.log_level = log_level
        self.prefix = [str(p) for p in (prefix or [])]   # e.g. ip netns exec NS
        self.sections = {k: dict(v) for k, v in (sections or {}).items()}  # [name]: {key: value}
        # Outbound DNS stays on loopback (TESTING.md): a queued remote
        # recipient is looked up at 127.0.0.1:1, where nothing answers, and
        # deferred; never at the internet's root servers.
        self.sections.setdefault("outbound", {}).setdefault("dns_forward", "127.0.0.1@1")
        self.smtp = dict(smtp or {})
        self.auth = dict(auth or {})
        self.listeners = {}         # name -> dict(mode, port, host, extra keys)
        self.proc = None
        self.detached = False       # True: logs to log_path only, outlives this process (make demo)
        self.log = LogLines()       # homeportd's stderr, also appended to log_path
        self.from_init = init_domain is not None
        if self.from_init:
            self._init(init_domain)
            return
        subprocess.run([str(self.cli), "keys", "selfcert", "-c", str(self.state_dir / "keys" / "tls.crt"),
                        "-k", str(self.state_dir / "keys" / "tls.key"), "-f", hostname],
                       check=True, capture_output=True)

    # ---- configuration -------------------------------------------------------

    def _init(self, domain):
        os.rmdir(self.state_dir / "keys")
        os.rmdir(self.state_dir)
        subprocess.run([str(self.cli), "-c", str(self.conf_path), "init", "--domain", domain,
                        "--hostname", self.hostname, "--state-dir", str(self.state_dir)],
                       check=True, capture_output=True, text=True, timeout=120)
        text = self.conf_path.read_text()
        text = text.replace("\nuser = homeport\n", f"\nuser = {self.user}\n", 1)
        text = text.replace("\nlog_level = info\n", f"\nlog_level = {self.log_level}\n", 1)
        for section, keys in self.sections.items():
            text += f"\n[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        self.conf_path.write_text(text)

    def listener(self, name, mode, host=HOST, port=None, **keys):
        """Add [listener name] (mode smtp, submission, submissions, ...); extra keys
        as given (proxy_from="127.0.0.1" implies proxy = yes). Returns the port."""
        port = port or free_port(host)
        if "proxy_from" in keys:
            keys.setdefault("proxy", "yes")
        self.listeners[name] = dict(mode=mode, host=host, port=port, keys=keys)
        return port

    def port(self, name):
        return self.listeners[name]["port"]

    def write_conf(self):
        if self.from_init:
            return          # homeport init's file, as it was adjusted once
        lines = ["[home]", f"hostname = {self.hostname}", f"state_dir = {self.state_dir}",
                 f"log_level = {self.log_level}", f"user = {self.user}", ""]
        for section, keys in (("smtp", self.smtp), ("auth", self.auth), *self.sections.items()):
            if keys:
                lines += [f"[{section}]"] + [f"{k} = {v}" for k, v in keys.items()] + [""]
        for name, l in self.listeners.items():
            lines += [f"[listener {name}]", f"address = {l['host']}:{l['port']}", f"mode = {l['mode']}"]
            lines += [f"{k} = {v}" for k, v in l["keys"].items()] + [""]
        self.conf_path.write_text("\n".join(lines))

    # ---- the daemon ----------------------------------------------------------

    def _own(self):
        if os.geteuid() != 0:
            return
        pw = pwd.getpwnam(self.user)
        # Not keys/: the TLS key is read as root at start and must be root's.
        os.chown(self.state_dir, pw.pw_uid, pw.pw_gid)
        for f in self.state_dir.iterdir():
            if f.name.startswith("mail.db"):
                os.chown(f, pw.pw_uid, pw.pw_gid)
        # The daemon's user must reach the state directory through its parents.
        p = self.state_dir.parent
        while p != p.parent:
            mode = p.stat().st_mode
            if not mode & 0o001:
                os.chmod(p, mode | 0o001)
            p = p.parent

    def start(self, wait=True):
        self.write_conf()
        self._own()
        argv = [*self.prefix, str(self.exe), "-c", str(self.conf_path)]
        if self.detached:
            self.proc, self.log = start_logged(argv, self.log_path)
        else:
            log_file = open(self.log_path, "a")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
            self.log = LogLines(self.proc, copy=log_file)
        if wait:
            self.wait_for(r"event=start result=ok", START_TIMEOUT)
        return self

    @property
    def lines(self):
        """The log lines of the daemon's last start."""
        return self.log.lines

    def wait_for(self, pattern, timeout=10.0, start=0):
        """The first log line from index start on that matches pattern; AssertionError after timeout."""
        return self.log.wait_for(pattern, timeout, start)

    def mark(self):
        return self.log.mark()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return [self.proc.pid] if self.alive() else []

    def tail(self, n=30):
        return self.log.tail(n)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM by PID (SIGKILL if it does not stop in time); returns the exit status."""
        if self.proc is None:
            return None
        return terminate(self.proc, timeout)

    def kill(self):
        """SIGKILL by PID (durability tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    # ---- accounts --------------------------------------------------------------

    def _homeport(self, *args, input=None):
        self.write_conf()
        r = subprocess.run([str(self.cli), "-c", str(self.conf_path), *map(str, args)], input=input,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"homeport {' '.join(map(str, args))}: {r.stderr}")
        if not self.alive():
            self._own()
        return r.stdout

    def add_domain(self, name):
        self._homeport("domain", "add", name)

    def add_user(self, address, password=None, quota=0):
        """Add a user; returns its password (generated when not given)."""
        password = password or "pw-" + secrets.token_hex(10)  # never starts with "-" (an option to swaks)
        args = ["user", "add", address, "--password-stdin"]
        if quota:
            args[3:3] = ["--quota", str(quota)]
        self._homeport(*args, input=password + "\n")
        return password

    def add_alias(self, alias, *users):
        self._homeport("alias", "add", alias, *users)

    # ---- the store, read back ------------------------------------------------

    def query(self, sql, args=()):
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def messages(self, address=None, mailbox="INBOX"):
        """Messages with their bodies, oldest first; of one user (local@domain) or all."""
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            rows = db.execute(
                "SELECT u.local || '@' || d.name, b.name, m.uid, m.size, m.body_id FROM messages m "
                "JOIN mailboxes b ON b.id = m.mailbox_id JOIN users u ON u.id = b.user_id "
                "JOIN domains d ON d.id = u.domain_id WHERE b.name = ? ORDER BY m.id", (mailbox,)).fetchall()
            out = []
            for user, mb, uid, size, body_id in rows:
                if address is not None and user != address:
                    continue
                chunks = db.execute("SELECT data FROM body_chunks WHERE body_id = ? ORDER BY start",
                                    (body_id,)).fetchall()
                out.append(Message(user, mb, uid, size, body_id, b"".join(c[0] for c in chunks)))
            return out
        finally:
            db.close()

    def queue(self):
        """The outbound queue: (mail_from, rcpt, body_id) rows, oldest first."""
        return self.query("SELECT mail_from, rcpt, body_id FROM queue ORDER BY id")


def start_for_bench(d, build, exe, host, port, hostname, domain, users, password="bench-password"):
    """A started homeportd with one MX listener on host:port (no PROXY), domain
    and users (local parts) added, for the benchmark and durability tests."""
    home = Home(build, d, hostname=hostname, exe=exe, log_level="info")
    home.listener("mx", "smtp", host=host, port=port)
    home.start()
    home.add_domain(domain)
    for u in users:
        home.add_user(f"{u}@{domain}", password=password)
    return home
