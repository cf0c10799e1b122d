"""Postfix and Dovecot on loopback, each private, for the SMTP tests and
`make bench-smtp` (tests/bench/smtp_bench.py imports this file).

    Dovecot(dir, users)          LMTP on a unix socket in its own base_dir,
                                 one Maildir per user under dir/home/USER;
                                 with imap=True also IMAP and IMAPS on
                                 127.0.0.1 (the anchor of make bench-imap and
                                 the stand-in server of imap_clients.py)
    Postfix(dir, port, ...)      smtpd on 127.0.0.1:port; delivers either
                                 through LMTP into a Dovecot (lmtp=socket
                                 path, for the domains in `domains`), or to
                                 another SMTP server on loopback (routes=
                                 {sender: nexthop}) with or without TLS

Nothing here touches /etc/postfix, /var/spool/postfix, /run/dovecot or
/var/lib/dovecot: every instance keeps configuration, queue, state,
sockets and logs in the directory it is given. Each runs in the
foreground as a child of the caller (Postfix's `master -c DIR -s`,
`dovecot -F -c CONF`), and stop() ends it by its PID and then waits for
(and if need be kills, by PID) every process it had started, so nothing
outlives a test or a bench run. Every wait is bounded.

Not the bench's namespaces (peers.py): everything here is on 127.0.0.1,
so tests and the benchmark need no network bench.
"""
import grp
import os
import pathlib
import pwd
import re
import signal
import socket
import sqlite3
import subprocess
import time

import peers
from daemon import terminate
from procfs import alive, descendants

POSTFIX_DAEMONS = pathlib.Path("/usr/lib/postfix/sbin")
POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
DOVECOT = "/usr/sbin/dovecot"
HOST = "127.0.0.1"

START_TIMEOUT = 20      # s for a daemon to come up
STOP_TIMEOUT = 10       # s between SIGTERM and SIGKILL, and for children to go


class MtaError(Exception):
    pass


# ---------------------------------------------------------------- processes

class Proc:
    """A foreground daemon, a child of this process; its stdout and stderr
    go to log. stop() signals its PID and then deals with every process
    below it by PID."""

    def __init__(self, name, argv, log):
        self.name = name
        self.log = pathlib.Path(log)
        with open(self.log, "ab") as f:
            self.popen = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                          stdout=f, stderr=subprocess.STDOUT)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def pids(self):
        return descendants(self.pid) if self.alive() else []

    def tail(self, n=20):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM to the daemon's PID; children left behind after
        STOP_TIMEOUT get SIGKILL by their PIDs. Returns the exit status."""
        kids = [p for p in self.pids() if p != self.pid]
        terminate(self.popen, STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for kid in kids:
            while alive(kid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(kid):
                try:
                    os.kill(kid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.popen.returncode


def wait_for(what, check, timeout, proc=None, interval=0.05):
    """Poll check() until it is true (and return it); raise MtaError after
    timeout seconds, or at once when proc has exited."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if proc is not None and not proc.alive():
            raise MtaError(f"{what}: {proc.name} exited ({proc.popen.returncode})\n{proc.tail()}")
        if time.monotonic() >= deadline:
            extra = f"\n{proc.tail()}" if proc is not None else ""
            raise MtaError(f"{what}: not within {timeout} s{extra}")
        time.sleep(interval)


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port(host=HOST):
    """A free TCP port on host from the kernel (bound and released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def private_dir(path, mode=0o755):
    """Make path (fresh) with mode; its parents must be traversable by the
    daemons' unprivileged users (postfix, dovecot, nobody)."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=False)
    path.chmod(mode)
    return path


# ---------------------------------------------------------------- Dovecot (LMTP)

class Dovecot:
    """A private Dovecot: LMTP on the unix socket self.lmtp_socket (mode
    0666: Postfix's lmtp client runs as postfix), and with imap=True also
    IMAP (self.imap_port, STARTTLS offered) and IMAPS (self.imaps_port) on
    127.0.0.1, with a self-signed certificate for self.servername
    (self.cert, also the file clients trust), or the one given as
    tls=(cert, key) for servername.

    Users come from a passwd-file, by local part (alice@example.test is
    alice, at login and in LMTP): passwords {user: password} can log in
    (scheme: how the password is stored, "PLAIN" or one of `doveadm pw`'s,
    e.g. "ARGON2ID", what homeportd uses; None: the passwords are given
    hashed, "{SCHEME}..."), the others cannot. Each user's
    mail goes to the Maildir dir/home/USER/Maildir, owned by nobody.
    Dovecot's defaults otherwise, fsync included (mail_fsync = optimized: a
    delivery is fsynced before LMTP answers 250), but for
    mail_max_userip_connections, raised to imap_sessions_max (Dovecot's 10
    would refuse the 11th session of a user from one address). stop()
    and start() again keep the configuration, mail and index."""

    servername = "imap.anchor.test"

    def __init__(self, dir, users=("bench",), log_level="info", imap=False, passwords=None,
                 scheme="PLAIN", imap_sessions_max=200, tls=None, servername=None):
        self.dir = private_dir(dir)
        mail = pwd.getpwnam("nobody")
        self.uid, self.gid = mail.pw_uid, mail.pw_gid
        # Users by local part: "alice@example.test" logs in as alice (%n).
        self.passwords = {u.split("@")[0]: pw for u, pw in (passwords or {}).items()}
        self.users = list(dict.fromkeys([*(u.split("@")[0] for u in users), *self.passwords]))
        (self.dir / "state").mkdir(mode=0o755)
        (self.dir / "run").mkdir(mode=0o755)
        (self.dir / "home").mkdir(mode=0o755)
        for u in self.users:
            home = self.dir / "home" / u
            home.mkdir(mode=0o700)
            os.chown(home, self.uid, self.gid)
        passwd = self.dir / "passwd"
        passwd.write_text("".join(f"{u}:{self._hash(u, scheme)}:{self.uid}:{self.gid}::"
                                  f"{self.dir / 'home' / u}::\n" for u in self.users))
        os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
        passwd.chmod(0o640)
        self.imap = imap
        self.imap_port = self.imaps_port = None
        self.cert = self.key = None
        if imap:
            from edgepeer import make_cert
            self.servername = servername or self.servername
            self.cert, self.key = tls or make_cert(self.dir, [self.servername])
            self.imap_port, self.imaps_port = free_port(), free_port()
        self.logfile = self.dir / "dovecot.log"
        self.lmtp_socket = self.dir / "run" / "lmtp"
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(self._conf(passwd, log_level, imap_sessions_max))
        r = subprocess.run(["doveconf", "-n", "-c", str(self.conf)], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise MtaError(f"dovecot.conf rejected: {r.stdout}{r.stderr}")
        self.process = None
        self.start()

    def _hash(self, user, scheme):
        if user not in self.passwords:
            return "{PLAIN}x-no-login"
        if scheme is None:              # given hashed already: {SCHEME}...
            return self.passwords[user]
        if scheme == "PLAIN":
            return "{PLAIN}" + self.passwords[user]
        r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", self.passwords[user]],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise MtaError(f"doveadm pw -s {scheme}: {r.stderr}")
        return r.stdout.strip()

    def start(self):
        """Start the daemon (again); returns when its sockets are there."""
        if self.process is not None and self.process.alive():
            raise MtaError("dovecot runs already")
        ports = [p for p in (self.imap_port, self.imaps_port) if p is not None]
        for port in ports:
            if port_open(port):
                raise MtaError(f"{HOST}:{port} is taken already")
        self.process = Proc("dovecot", [DOVECOT, "-F", "-c", self.conf], self.dir / "dovecot.out")
        try:
            wait_for("dovecot's LMTP socket", self.lmtp_socket.exists, START_TIMEOUT,
                     self.process)
            for port in ports:
                wait_for(f"dovecot listening on {HOST}:{port}", lambda: port_open(port),
                         START_TIMEOUT, self.process)
        except MtaError:
            self.stop()
            raise MtaError(f"dovecot did not start:\n{self.log()[-3000:]}") from None
        return self

    def _conf(self, passwd, log_level, imap_sessions_max):
        verbose = "mail_debug = yes\n" if log_level == "debug" else ""
        if not self.imap:
            protocols, tls, listeners = "lmtp", "ssl = no\n", ""
        else:
            protocols = "lmtp imap"
            tls = (f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.key}\n"
                   "auth_mechanisms = plain login\n")
            listeners = f"""\
listen = {HOST}
mail_max_userip_connections = {imap_sessions_max}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
  process_limit = {imap_sessions_max + 10}
}}
service imap {{
  process_limit = {imap_sessions_max + 10}
}}
"""
        return f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.logfile}
protocols = {protocols}
{tls}{verbose}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
mail_location = maildir:~/Maildir
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
{listeners}"""

    def deliver(self, rcpt, message, sender="sender@client.test"):
        """Deliver message (bytes, CRLF lines) to rcpt (a user) through LMTP;
        returns once Dovecot answered 250, i.e. stored it."""
        import smtplib
        with smtplib.LMTP(str(self.lmtp_socket), timeout=30) as s:
            refused = s.sendmail(sender, [rcpt], message)
        if refused:
            raise MtaError(f"LMTP refused {refused}")

    def maildir(self, user):
        return self.dir / "home" / user.split("@")[0] / "Maildir"

    def count(self, user):
        """Messages delivered to user's INBOX: files in Maildir new/ and cur/."""
        n = 0
        for sub in ("new", "cur"):
            try:
                with os.scandir(self.maildir(user) / sub) as it:
                    n += sum(1 for _ in it)
            except FileNotFoundError:
                pass
        return n

    def messages(self, user):
        """[(path, bytes)] of user's INBOX."""
        out = []
        for sub in ("new", "cur"):
            d = self.maildir(user) / sub
            if d.is_dir():
                out += [(p, p.read_bytes()) for p in sorted(d.iterdir())]
        return out

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def pids(self):
        return self.process.pids()

    def stop(self):
        return self.process.stop()


# ---------------------------------------------------------------- Postfix

MASTER_CF = peers.MASTER_CF + """\
# Two SMTP clients for routes= (tests): without TLS, and TLS or nothing.
plain     unix  -       -       n       -       -       smtp
  -o smtp_tls_security_level=none
  -o syslog_name=postfix/plain
tls       unix  -       -       n       -       -       smtp
  -o smtp_tls_security_level=encrypt
  -o syslog_name=postfix/tls
"""


class Postfix:
    """One private Postfix on 127.0.0.1:port, everything under dir.

    Its master runs in the foreground (`master -c DIR/etc -s`, after
    `postfix -c DIR/etc check`, which creates the queue directories); on
    SIGTERM it signals its process group and exits, and stop() then waits
    for every child by PID. Postfix's defaults otherwise, so the queue is
    as durable as it always is: smtpd answers 250 after cleanup fsynced
    the queue file.

    Two ways to deliver:
      lmtp=PATH     mail for `domains` (each address listed in `mailboxes`)
                    goes through LMTP to the unix socket PATH (Dovecot's);
      routes={sender: nexthop}
                    mail from that envelope sender goes to nexthop, a
                    `transport:[127.0.0.1]:port` (transport `plain`: no
                    TLS; `tls`: STARTTLS required); anything else bounces.
    Clients on 127.0.0.0/8 may relay (mynetworks)."""

    def __init__(self, dir, port, hostname="mx.anchor.test", domains=(), mailboxes=(),
                 lmtp=None, routes=None, extra_main_cf=""):
        self.dir = private_dir(dir)
        self.port = port
        self.hostname = hostname
        owner = pwd.getpwnam("postfix")
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.maillog = self.dir / "maillog"
        for d in (self.etc, self.spool):
            d.mkdir(mode=0o755)
        self.data.mkdir(mode=0o700)
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        (self.etc / "master.cf").write_text(MASTER_CF.format(listen=f"{HOST}:{port}"))
        if lmtp is not None:
            (self.etc / "vmailbox").write_text("".join(f"{m} OK\n" for m in mailboxes))
            delivery = f"""\
virtual_mailbox_domains = {' '.join(domains)}
virtual_mailbox_maps = texthash:{self.etc}/vmailbox
virtual_transport = lmtp:unix:{lmtp}
"""
        elif routes is not None:
            (self.etc / "sender_transport").write_text(
                "".join(f"{s} {n}\n" for s, n in routes.items()))
            delivery = f"""\
sender_dependent_default_transport_maps = texthash:{self.etc}/sender_transport
default_transport = error:5.7.1 no route for this sender (mta.py)
smtp_tls_loglevel = 1
smtp_dns_support_level = disabled
smtp_host_lookup = native
"""
        else:
            raise ValueError("Postfix needs lmtp= or routes=")
        (self.etc / "main.cf").write_text(peers.MAIN_CF.format(
            spool=self.spool, data=self.data, maillog=self.maillog, dir=self.dir,
            hostname=hostname, domain=hostname.split('.', 1)[1], address=HOST,
            mynetworks="127.0.0.0/8") + delivery + extra_main_cf)
        self.postfix("check")
        if port_open(port):
            raise MtaError(f"{HOST}:{port} is taken already")
        self.process = Proc("postfix-master", [POSTFIX_DAEMONS / "master", "-c", self.etc, "-s"],
                            self.dir / "master.out")
        try:
            wait_for("postfix master started", lambda: "daemon started" in self.log(),
                     START_TIMEOUT, self.process)
            wait_for(f"postfix listening on {HOST}:{port}", lambda: port_open(port),
                     START_TIMEOUT, self.process)
        except MtaError as e:
            self.stop()
            raise MtaError(f"{e}\nmaillog:\n{self.log()[-3000:]}") from None

    def postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", str(self.etc), *args], capture_output=True, text=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise MtaError(f"postfix {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def queue(self):
        """postqueue -j: one dict per queued message (a JSON line each)."""
        import json
        r = subprocess.run([POSTQUEUE, "-c", str(self.etc), "-j"], capture_output=True, text=True,
                           timeout=60)
        return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]

    def flush(self):
        subprocess.run([POSTQUEUE, "-c", str(self.etc), "-f"], capture_output=True, timeout=60)

    def log(self):
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def wait_log(self, pattern, timeout=30):
        rx = re.compile(pattern)
        return wait_for(f"maillog line /{pattern}/", lambda: rx.search(self.log()), timeout,
                        self.process, interval=0.2)

    def pids(self):
        return self.process.pids()

    def stop(self):
        return self.process.stop()


# ---------------------------------------------------------------- homeportd's store, read-only

def store_messages(db_path):
    """Every message in homeportd's mail.db, read with a read-only
    connection (homeportd may be running): a list of dicts with address
    (the owner, local@domain), mailbox, uid, size, body_id and body
    (bytes, its chunks joined in order)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT u.local || '@' || d.name, b.name, m.uid, m.size, m.body_id "
            "FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
            "JOIN users u ON u.id = b.user_id JOIN domains d ON d.id = u.domain_id "
            "ORDER BY m.id").fetchall()
        out = []
        for address, mailbox, uid, size, body_id in rows:
            body = b"".join(r[0] for r in db.execute(
                "SELECT data FROM body_chunks WHERE body_id = ? ORDER BY start", (body_id,)))
            out.append({"address": address, "mailbox": mailbox, "uid": uid, "size": size,
                        "body_id": body_id, "body": body})
        return out
    finally:
        db.close()


def store_query(db_path, sql, args=()):
    """One read-only query on mail.db: all rows."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def store_integrity(db_path):
    """PRAGMA integrity_check's rows (["ok"] when all is well) and the
    rows of PRAGMA foreign_key_check."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return ([r[0] for r in db.execute("PRAGMA integrity_check")],
                db.execute("PRAGMA foreign_key_check").fetchall())
    finally:
        db.close()


# ---------------------------------------------------------------- homeportd (through homed.py)

class HomeServer:
    """homed.Home with one MX listener on 127.0.0.1 and the accounts given,
    plus what these tests need of it: restart() after a kill() (on the
    same state directory and port), and the log file kept across restarts."""

    def __init__(self, d, bindir, accounts, log_level="info", max_per_source=100):
        from homed import Home
        self.home = Home(pathlib.Path(bindir).parent, d, hostname="mx.home.test",
                         log_level=log_level)
        self.port = self.home.listener("mx", "smtp", max_per_source=max_per_source)
        self.home.start()
        try:
            for domain, users in accounts.items():
                self.home.add_domain(domain)
                for u in users:
                    self.home.add_user(f"{u}@{domain}")
        except BaseException:
            self.home.stop()
            raise
        self.db_path = self.home.db_path
        self.cert = self.home.state_dir / "keys" / "tls.crt"

    def alive(self):
        return self.home.alive()

    def pids(self):
        return self.home.pids()

    def kill(self):
        """SIGKILL by PID, and wait for it to be gone."""
        self.home.kill()

    def restart(self):
        """Start again after kill() or stop(): same configuration, state and port."""
        if self.home.alive():
            raise MtaError("restart() of a homeportd that still runs")
        self.home.start()
        wait_for(f"homeportd listening on {HOST}:{self.port}", lambda: port_open(self.port),
                 START_TIMEOUT)

    def log(self):
        return self.home.log_path.read_text(errors="replace")

    def stop(self):
        return self.home.stop()


def start_home(d, bindir, accounts, **kw):
    """A started homeportd (HomeServer) with accounts {domain: [local, ...]}."""
    return HomeServer(d, bindir, accounts, **kw)
