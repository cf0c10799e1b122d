"""Real peers on the network bench, started on demand inside their namespaces.

    knot(bench)          Knot DNS in `dns` (198.51.100.53:53 UDP+TCP): the zones
                         example.test, peer.test, edge.test and alice.test, RFC
                         2136 updates signed with one TSIG key (hmac-sha256);
                         peer.test signed with DNSSEC (.trust_anchors())
    postfix(bench)       Postfix in `peer` (198.51.100.25:25): MX for peer.test
                         (any user, into one maildir under bench.dir) and a
                         sending MTA that finds MX records through Knot; relays
                         for 198.51.100.0/24 (mynetworks) only; STARTTLS with
                         peer_cert(bench); RCPT reject-* 550, defer-* 451
    home_postfix(bench)  a second Postfix, in `home` on the tunnel address
                         (192.0.2.2:25): receives for alice.test behind the
                         edge, a PROXY header first (smtpd_upstream_proxy_protocol)
    dovecot(bench)       Dovecot in `home` (192.0.2.2:993): IMAPS with a PROXY
                         header first, trusted from the edge's 192.0.2.1 only;
                         user alice; home_cert(bench) is its certificate
    smtp_sink(bench)     a small SMTP server (this file, run as a script) in
                         `client` (198.51.100.100:25) that stores every message
    capture(bench, host, iface, filter)
                         dumpcap in a host's namespace; .stop() gives the pcap
    smtp_send(host, ...) python smtplib run inside a host's namespace

Every peer keeps its configuration and state in a private directory under
bench.dir, runs in the foreground as a Process of the bench's registry (so it
is stopped by its PID, also when a test fails) and is started once per run:
calling knot(bench) again returns the running one (or starts a new one when
it was stopped). Every wait is bounded.

The zones (serial 1, TTL 60; all NS records name ns.example.test):

    example.test   MX 10 mail.example.test      mail    A 203.0.113.1
                   ns A 198.51.100.53           client  A 198.51.100.100
                   sink.example.test MX 10 client.example.test   (no A: MX only)
    peer.test      MX 10 mx.peer.test           mx      A 198.51.100.25
    edge.test      A 203.0.113.1, MX 10 mx.edge.test, mx A 203.0.113.1
    alice.test     SOA and NS only (the home's domain: tests add its records)

So mail for anyone@sink.example.test goes, by MX only, to the SMTP sink on
the client host; mail for anyone@peer.test to Postfix.

peer.test is signed (DNSSEC, Knot's automatic signing: ECDSA P-256, a KSK
and a ZSK made when Knot starts, kept in its KASP database under its
directory; updates are signed as they come). The others are unsigned. No
parent holds a DS for it: a validating resolver is given
Knot.trust_anchors() (the KSK's DS) as its trust anchor.
"""
import base64
import collections
import grp
import json
import os
import pathlib
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import time
import weakref

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"

DNS_ADDR = "198.51.100.53"
PEER_ADDR = "198.51.100.25"
CLIENT_ADDR = "198.51.100.100"
EDGE_ADDR = "203.0.113.1"

# The domain whose MX is the client host (where smtp_sink listens).
SINK_DOMAIN = "sink.example.test"
SINK_MX = "client.example.test"
PEER_DOMAIN = "peer.test"
PEER_HOSTNAME = "mx.peer.test"

# The home, as the edge reaches it through the tunnel (bench.TUNNEL), and
# the mail domain it serves (its zone in Knot holds only SOA and NS: tests
# publish the MX and address records they need).
HOME_ADDR = "192.0.2.2"
EDGE_TUNNEL_ADDR = "192.0.2.1"
HOME_DOMAIN = "alice.test"
HOME_HOSTNAME = "mail.alice.test"

POSTFIX_DAEMONS = pathlib.Path("/usr/lib/postfix/sbin")

# What each bench has running: bench -> {key: peer object}.
_running = weakref.WeakKeyDictionary()


def _cached(bench, key):
    obj = _running.setdefault(bench, {}).get(key)
    if obj is not None and obj.process.alive():
        return obj
    return None


def _remember(bench, key, obj):
    _running.setdefault(bench, {})[key] = obj
    return obj


def wait(what, check, timeout=60, interval=0.2):
    """Poll check() until it returns something true (returned); TimeoutError after timeout s."""
    return _wait(what, check, timeout, interval=interval)


def _wait(what, check, timeout, proc=None, interval=0.1):
    """Poll check() until it returns something true; raise after timeout
    seconds, or at once when proc (a Process) has died."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if proc is not None and not proc.alive():
            log = pathlib.Path(proc.log).read_text(errors="replace") if proc.log else ""
            raise RuntimeError(f"{what}: {proc.name} exited ({proc.popen.returncode})\n{log}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def _private_dir(bench, name, mode=0o700):
    """A fresh directory under bench.dir. bench.dir (mkdtemp: 0700) is made
    traversable, not listable (0711), so that daemons which drop root
    (Postfix's) reach their own directory (mode 0755) inside it; the
    others stay 0700."""
    os.chmod(bench.dir, 0o711)
    d = bench.dir / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    d.chmod(mode)
    return d


def listening(host, proto, addr, port):
    """True if something in host's namespace listens on addr:port (tcp/udp)."""
    flag = "-Htln" if proto == "tcp" else "-Huln"
    out = host.run("ss", flag, "src", f"{addr}:{port}", check=False).stdout
    return bool(out.strip())


def use_knot(host):
    """Make /etc/resolv.conf of processes started in host from now on point
    at the bench's Knot (authoritative only: answers for its three zones)."""
    host.etc_file("resolv.conf", f"nameserver {DNS_ADDR}\noptions timeout:2 attempts:2\n")


# ---------------------------------------------------------------- Knot DNS

Tsig = collections.namedtuple("Tsig", "name algorithm secret")


def _tsig_arg(tsig):
    return f"{tsig.algorithm}:{tsig.name}:{tsig.secret}"


ZONES = {
    "example.test": f"""\
@        SOA   ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@        NS    ns.example.test.
@        MX    10 mail.example.test.
ns       A     {DNS_ADDR}
mail     A     {EDGE_ADDR}
client   A     {CLIENT_ADDR}
sink     MX    10 {SINK_MX}.
""",
    "peer.test": f"""\
@        SOA   ns.example.test. hostmaster.peer.test. 1 3600 600 86400 60
@        NS    ns.example.test.
@        MX    10 mx.peer.test.
mx       A     {PEER_ADDR}
""",
    "edge.test": f"""\
@        SOA   ns.example.test. hostmaster.edge.test. 1 3600 600 86400 60
@        NS    ns.example.test.
@        A     {EDGE_ADDR}
@        MX    10 mx.edge.test.
mx       A     {EDGE_ADDR}
""",
    HOME_DOMAIN: f"""\
@        SOA   ns.example.test. hostmaster.{HOME_DOMAIN}. 1 3600 600 86400 60
@        NS    ns.example.test.
""",
}

# Zones Knot signs (DNSSEC policy "bench" below); the others stay unsigned.
SIGNED_ZONES = ("peer.test",)


class Knot:
    """knotd -c CONF in the foreground, run as root (no `user:`, so nothing
    depends on the knot account or on /run/knot and /var/lib/knot of the
    system's own knot.service)."""

    address = DNS_ADDR

    def __init__(self, bench):
        self.bench = bench
        self.host = bench.host("dns")
        self.dir = _private_dir(bench, "knot")
        for sub in ("run", "db", "zones"):
            (self.dir / sub).mkdir()
        self.zones = dict(ZONES)
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.tsig = Tsig("bench-update.", "hmac-sha256", secret)
        for zone, body in self.zones.items():
            (self.dir / "zones" / f"{zone}.zone").write_text(
                f"$ORIGIN {zone}.\n$TTL 60\n{body}")
        self.conf = self.dir / "knot.conf"
        self.conf.write_text(self._conf())
        self.log = self.dir / "knotd.log"
        r = self.host.run("knotc", "-c", self.conf, "conf-check", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"knot.conf rejected: {r.stdout}{r.stderr}")
        self.process = self.host.popen("knotd", "-c", self.conf, name="knotd", log=self.log)
        self.client = bench.host("client")

        def ready():
            if not (listening(self.host, "udp", DNS_ADDR, 53)
                    and listening(self.host, "tcp", DNS_ADDR, 53)):
                return False
            return (all(self.query(z, "SOA", check=False) for z in self.zones)
                    and all(self.query(z, "DNSKEY", check=False) for z in SIGNED_ZONES))

        _wait("knotd serving its zones", ready, 20, self.process, interval=0.2)

    def _conf(self):
        zones = "".join(f"  - domain: {z}\n" + (
            "    dnssec-signing: on\n    dnssec-policy: bench\n" if z in SIGNED_ZONES else "")
            for z in self.zones)
        return f"""\
server:
    rundir: "{self.dir}/run"
    listen: [ {DNS_ADDR}@53 ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

log:
  - target: stdout
    any: info

database:
    storage: "{self.dir}/db"

key:
  - id: {self.tsig.name}
    algorithm: {self.tsig.algorithm}
    secret: {self.tsig.secret}

acl:
  - id: tsig-update
    key: {self.tsig.name}
    action: update

# Keys made at the first start, in the KASP database ({self.dir}/db/keys).
policy:
  - id: bench
    algorithm: ecdsap256sha256
    nsec3: off

template:
  - id: default
    storage: "{self.dir}/zones"
    file: "%s.zone"
    acl: tsig-update
    semantic-checks: on

zone:
{zones}"""

    # -- queries, from the client host by default

    def dig(self, *args, host=None, check=True):
        """kdig @198.51.100.53 ARGS in host (default: client); CompletedProcess."""
        h = host or self.client
        return h.run("kdig", f"@{DNS_ADDR}", "+time=2", "+retry=1", *args, check=check)

    def query(self, name, rtype="A", tcp=False, host=None, check=True):
        """The answer section's rdata for name/rtype as a sorted list of
        strings ([] for NXDOMAIN or no data). Any other status, or no answer
        at all, raises (check=True) or returns None."""
        args = ["+tcp"] if tcp else []
        r = self.dig(*args, name, rtype, host=host, check=False)
        status = re.search(r"status: (\w+)", r.stdout)
        if r.returncode != 0 or not status or status.group(1) not in ("NOERROR", "NXDOMAIN"):
            if check:
                raise RuntimeError(f"kdig {name} {rtype}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            return None
        answers, section = [], None
        for line in r.stdout.splitlines():
            if line.startswith(";; ") and line.endswith(" SECTION:"):
                section = line[3:-len(" SECTION:")]
            elif not line.strip():
                section = None
            elif section == "ANSWER" and not line.startswith(";"):
                _owner, _ttl, _class, rr, data = line.split(None, 4)
                if rr == rtype.upper():
                    answers.append(data)
        return sorted(answers)

    # -- DNSSEC

    def trust_anchors(self):
        """The DS records of the signed zones' KSKs (SHA-256 digests), one
        per line in zone-file syntax, from Knot's key database (keymgr), not
        from the DNS: the text a validating resolver takes as its trust
        anchor file (libunbound's ub_ctx_add_ta_file). The keys are this
        Knot's: a restarted Knot (a new directory) has new ones."""
        lines = []
        for zone in SIGNED_ZONES:
            r = self.host.run("keymgr", "-c", self.conf, zone, "ds", check=False)
            ds = [line.strip() for line in r.stdout.splitlines()
                  if re.fullmatch(rf"{re.escape(zone)}\.\s+DS\s+\d+\s+13\s+2\s+[0-9A-Fa-f]{{64}}",
                                  line.strip())]
            if r.returncode != 0 or not ds:
                raise RuntimeError(f"keymgr {zone} ds: exit {r.returncode}\n{r.stdout}{r.stderr}")
            lines += ds
        return "".join(f"{line}\n" for line in lines)

    # -- RFC 2136 updates, signed with the TSIG key

    def update(self, zone, *commands, tsig=None, sign=True, host=None, check=True):
        """Run knsupdate in host (default: client) with `commands` (e.g.
        "update add x.example.test. 60 A 203.0.113.7") for zone, signed with
        tsig (default: the server's key; sign=False sends it unsigned)."""
        h = host or self.client
        script = f"server {DNS_ADDR} 53\nzone {zone}.\n" + "\n".join(commands) + "\nsend\nanswer\nquit\n"
        args = ["knsupdate", "-t", "5", "-r", "1"]
        if sign:
            args += ["-y", _tsig_arg(tsig or self.tsig)]
        r = h.run(*args, input=script, check=False)
        if check and r.returncode != 0:
            raise RuntimeError(f"knsupdate {zone}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    @staticmethod
    def _zone_of(name, zones):
        name = name.rstrip(".")
        for z in sorted(zones, key=len, reverse=True):
            if name == z or name.endswith("." + z):
                return z
        raise KeyError(f"{name} is in none of the zones {sorted(zones)}")

    def add_record(self, name, rtype, data, ttl=60):
        """Add one record (keeps the others of the same name and type)."""
        zone = self._zone_of(name, self.zones)
        return self.update(zone, f"update add {name.rstrip('.')}. {ttl} {rtype} {data}")

    def set_record(self, name, rtype, data, ttl=60):
        """Replace the whole RRset name/rtype by one record."""
        zone = self._zone_of(name, self.zones)
        fqdn = name.rstrip(".") + "."
        return self.update(zone, f"update delete {fqdn} {rtype}",
                           f"update add {fqdn} {ttl} {rtype} {data}")

    def delete_record(self, name, rtype):
        zone = self._zone_of(name, self.zones)
        return self.update(zone, f"update delete {name.rstrip('.')}. {rtype}")

    def stop(self):
        return self.process.stop()


def knot(bench):
    """The bench's Knot DNS (started on first use)."""
    return _cached(bench, "knot") or _remember(bench, "knot", Knot(bench))


# ---------------------------------------------------------------- Postfix

# Postfix's services; "{listen}" is where smtpd listens ("smtp": port 25
# on every address). mta.py uses the same table on loopback.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# How every private instance's main.cf begins: its directories, its names,
# where it listens, whom it relays for, and retries soon (the defaults are
# minutes). Each instance adds how it delivers. mta.py's begin the same way.
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
maillog_file = {maillog}
maillog_file_prefixes = {dir}
myhostname = {hostname}
mydomain = {domain}
myorigin = $mydomain
mydestination =
inet_interfaces = {address}
inet_protocols = ipv4
mynetworks = {mynetworks}
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_banner = $myhostname ESMTP
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 15s
"""


class Postfix:
    """One private Postfix instance (by default the one in `peer`), all of
    it under bench.dir.

    Its master runs in the foreground as the Process (`master -c DIR -s`,
    after `postfix -c DIR check`, which also creates the queue directories),
    so stopping that PID stops the whole instance: on SIGTERM the master
    signals its process group (it made itself a session leader) and exits.
    Not `postfix start-fg`: unless it is PID 1, postfix-script runs the
    master as a child of a shell, and a SIGTERM to the shell's PID leaves
    the master and its children running.

    As root, `-c DIR` needs no alternate_config_directories (that check is
    for unprivileged users of the set-gid commands), and no /etc/postfix/
    main.cf (Debian's "No configuration" install has none); every postconf,
    postqueue, sendmail -C call must name the directory, though."""

    address = PEER_ADDR
    hostname = PEER_HOSTNAME
    domain = PEER_DOMAIN
    mynetworks = "127.0.0.0/8 198.51.100.0/24"

    def __init__(self, bench, dns, host_name="peer", address=None, hostname=None, domain=None,
                 mynetworks=None, extra_main_cf=""):
        """The peer's instance by default; another one in host_name, listening
        on address:25, named hostname, receiving for domain, relaying for
        mynetworks, with extra_main_cf appended to its main.cf."""
        self.bench = bench
        self.dns = dns
        self.address = address or self.address
        self.hostname = hostname or self.hostname
        self.domain = domain or self.domain
        self.mynetworks = mynetworks or self.mynetworks
        self.extra_main_cf = extra_main_cf
        self.host = bench.host(host_name)
        use_knot(self.host)
        owner = pwd.getpwnam("postfix")
        self.dir = _private_dir(bench, f"postfix-{host_name}", 0o755)
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.mail = self.dir / "mail"
        self.maillog = self.dir / "maillog"
        for d in (self.etc, self.spool):
            d.mkdir(mode=0o755)
        for d, mode in ((self.data, 0o700), (self.mail, 0o755)):
            d.mkdir(mode=mode)
            os.chown(d, owner.pw_uid, owner.pw_gid)
        # Any user@domain, into one maildir for the domain (virtual(8)
        # refuses $1 substitutions from regexp tables, so no per-user paths;
        # the Delivered-To: header virtual(8) adds tells the recipients apart).
        (self.etc / "vmailbox").write_text(
            rf"/^[^@]+@{re.escape(self.domain)}$/ {self.domain}/" + "\n")
        (self.etc / "master.cf").write_text(MASTER_CF.format(listen="smtp"))
        (self.etc / "main.cf").write_text(self._main_cf(owner))
        self.postfix("check")
        if listening(self.host, "tcp", self.address, 25):
            holder = self.host.run("ss", "-Htlnp", "src", f"{self.address}:25").stdout.strip()
            raise RuntimeError(f"{self.address}:25 in {self.host.ns} is taken already, so Postfix "
                               f"cannot listen there: {holder}")
        self.process = self.host.popen(POSTFIX_DAEMONS / "master", "-c", self.etc, "-s",
                                       name="postfix-master", log=self.dir / "master.out")
        try:
            _wait("postfix master started", lambda: "daemon started" in self.log(), 20,
                  self.process)
            _wait(f"postfix listening on {self.address}:25",
                  lambda: listening(self.host, "tcp", self.address, 25), 10, self.process)
        except (RuntimeError, TimeoutError) as e:
            raise RuntimeError(f"{e}\nmaillog:\n{self.log()[-3000:]}") from None

    def _main_cf(self, owner):
        return MAIN_CF.format(spool=self.spool, data=self.data, maillog=self.maillog,
                              dir=self.dir, hostname=self.hostname, domain=self.domain,
                              address=self.address, mynetworks=self.mynetworks) + f"""\
# {self.domain}: any user, into maildirs under mail/
virtual_mailbox_domains = {self.domain}
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = regexp:{self.etc}/vmailbox
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
virtual_minimum_uid = {min(owner.pw_uid, 100)}
# everything else: by MX, looked up in the bench's Knot
smtp_host_lookup = dns
disable_dns_lookups = no
smtp_dns_support_level = enabled
smtp_connect_timeout = 10s
{self.extra_main_cf}"""

    def postfix(self, *args, check=True):
        """`postfix -c DIR ARGS` inside the peer namespace."""
        r = self.host.run("/usr/sbin/postfix", "-c", self.etc, *args, check=False, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def postconf(self, *args):
        return self.host.run("/usr/sbin/postconf", "-c", self.etc, *args).stdout

    def flush(self):
        """Attempt delivery of everything queued now (postqueue -f)."""
        return self.host.run("/usr/sbin/postqueue", "-c", self.etc, "-f")

    def queue(self):
        """postqueue -j: one dict per queued message."""
        out = self.host.run("/usr/sbin/postqueue", "-c", self.etc, "-j").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def log(self):
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def wait_log(self, pattern, timeout=30):
        """The first match of the regex pattern in the maillog, waiting for it."""
        rx = re.compile(pattern)
        return _wait(f"maillog line /{pattern}/", lambda: rx.search(self.log()), timeout,
                     self.process, interval=0.2)

    def maildir(self, domain=None):
        """The domain's maildir (every user@domain is delivered there)."""
        return self.mail / (domain or self.domain)

    def delivered(self, user=None, domain=None):
        """Messages in the maildir (new/ and cur/), as [(path, bytes)]; only
        those with "Delivered-To: user@domain" when user is given."""
        found = []
        domain = domain or self.domain
        want = f"Delivered-To: {user}@{domain}\n".encode().lower() if user else None
        for sub in ("new", "cur"):
            d = self.maildir(domain) / sub
            if d.is_dir():
                for p in sorted(d.iterdir()):
                    data = p.read_bytes()
                    head = data.split(b"\n\n", 1)[0].lower() + b"\n"
                    if want is None or want in head:
                        found.append((p, data))
        return found

    def wait_delivered(self, user, marker, domain=None, timeout=30):
        """The (path, bytes) of the message delivered to user@domain that
        contains marker, waiting for it."""
        m = marker.encode() if isinstance(marker, str) else marker
        domain = domain or self.domain

        def find():
            return next((msg for msg in self.delivered(user, domain) if m in msg[1]), None)

        return _wait(f"delivery to {user}@{domain}", find, timeout, self.process, interval=0.2)

    def stop(self):
        return self.process.stop()


# What the peer's Postfix answers to RCPT TO, by local part: a permanent
# and a temporary refusal that tests can ask for by address.
PEER_RCPT_ACCESS = """\
/^reject-[^@]*@/ 550 5.1.1 no such user here
/^defer-[^@]*@/ 451 4.7.1 try again later
"""


def postfix(bench):
    """The bench's Postfix in `peer` (started on first use, with Knot):
    STARTTLS offered with peer_cert(bench) and logged; RCPT TO reject-*
    answered 550 and defer-* 451 (PEER_RCPT_ACCESS; tests may rewrite
    pf.rcpt_access and `postfix reload`)."""
    cached = _cached(bench, "postfix")
    if cached:
        return cached
    cert, key = peer_cert(bench)
    access = bench.dir / "postfix-peer-rcpt_access"
    access.write_text(PEER_RCPT_ACCESS)
    access.chmod(0o644)
    extra = (f"smtpd_tls_cert_file = {cert}\n"
             f"smtpd_tls_key_file = {key}\n"
             "smtpd_tls_security_level = may\n"
             "smtpd_tls_loglevel = 1\n"
             f"smtpd_recipient_restrictions = check_recipient_access regexp:{access}\n")
    pf = Postfix(bench, knot(bench), extra_main_cf=extra)
    pf.rcpt_access = access
    return _remember(bench, "postfix", pf)


def peer_cert(bench):
    """A self-signed certificate (and key) for mx.peer.test, made once per
    run: (cert path, key path). The key is readable by root only (Postfix's
    smtpd reads it before dropping privileges)."""
    d = bench.dir / "peer-cert"
    cert, key = d / "cert.pem", d / "key.pem"
    if not cert.exists():
        d.mkdir(mode=0o755, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        f"/CN={PEER_HOSTNAME}", "-addext", f"subjectAltName=DNS:{PEER_HOSTNAME}",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=30)
        cert.chmod(0o644)
    return cert, key


def home_postfix(bench):
    """A second Postfix, in `home` on its tunnel address (192.0.2.2:25):
    receives for alice.test behind the edge, trusting the PROXY header
    (v1 or v2) that must start every connection (smtpd_upstream_proxy_protocol);
    relays for nobody but itself (mynetworks 127.0.0.0/8). Started on first
    use, with the tunnel and Knot (its resolver)."""
    cached = _cached(bench, "home-postfix")
    if cached:
        return cached
    bench.tunnel()
    extra = ("# behind homeport-edge: a PROXY header first, then SMTP\n"
             "smtpd_upstream_proxy_protocol = haproxy\n"
             "smtpd_upstream_proxy_timeout = 5s\n")
    return _remember(bench, "home-postfix", Postfix(
        bench, knot(bench), host_name="home", address=HOME_ADDR, hostname=HOME_HOSTNAME,
        domain=HOME_DOMAIN, mynetworks="127.0.0.0/8", extra_main_cf=extra))


def postfix_pids(host):
    """PIDs of Postfix programs running in host's namespace."""
    from netns import namespace_pids
    pids = []
    for pid in namespace_pids(host.ns):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.startswith(str(POSTFIX_DAEMONS) + "/"):
            pids.append(pid)
    return pids


# ---------------------------------------------------------------- the home's TLS certificate

def home_cert(bench):
    """A self-signed certificate (and key) for mail.alice.test, alice.test and
    *.alice.test, made once per run: (cert path, key path). The cert is also
    the CA file clients verify against."""
    d = bench.dir / "home-cert"
    cert, key = d / "cert.pem", d / "key.pem"
    if not cert.exists():
        d.mkdir(mode=0o755, exist_ok=True)
        names = [HOME_HOSTNAME, HOME_DOMAIN, f"*.{HOME_DOMAIN}"]
        san = ",".join(f"DNS:{n}" for n in names)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=30)
        cert.chmod(0o644)
    return cert, key


# ---------------------------------------------------------------- Dovecot

class Dovecot:
    """A private Dovecot (IMAPS only) in `home` on 192.0.2.2:993, behind the
    edge: the listener wants a PROXY header (haproxy = yes) and trusts it only
    from the edge's tunnel address (haproxy_trusted_networks), then ends TLS
    itself with home_cert(). One user, alice, from a passwd-file, whose
    Maildir lies under bench.dir (owned by nobody, the mail uid).

    `dovecot -F -c CONF` is the Process: its master stays in the foreground
    and takes its children with it on SIGTERM. base_dir, state_dir and the
    log are private, so nothing touches /run/dovecot or /var/lib/dovecot."""

    address = HOME_ADDR
    port = 993
    user = "alice"

    def __init__(self, bench):
        bench.tunnel()
        self.host = bench.host("home")
        self.dir = _private_dir(bench, "dovecot-home", 0o755)
        self.password = secrets.token_hex(8)
        self.cert, self.key = home_cert(bench)
        mail = pwd.getpwnam("nobody")
        self.uid, self.gid = mail.pw_uid, mail.pw_gid
        self.home = self.dir / "home" / self.user
        self.maildir = self.home / "Maildir"
        (self.dir / "state").mkdir(mode=0o755)
        (self.dir / "home").mkdir(mode=0o755)
        for d in (self.home, self.maildir, *(self.maildir / s for s in ("cur", "new", "tmp"))):
            d.mkdir(mode=0o700)
            os.chown(d, self.uid, self.gid)
        passwd = self.dir / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}:{self.uid}:{self.gid}::"
                          f"{self.home}::\n")
        # Read by the auth process, which runs as the dovecot user.
        os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
        passwd.chmod(0o640)
        self.logfile = self.dir / "dovecot.log"
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(self._conf(passwd))
        r = self.host.run("doveconf", "-n", "-c", self.conf, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot.conf rejected: {r.stdout}{r.stderr}")
        self.process = self.host.popen("dovecot", "-F", "-c", self.conf, name="dovecot",
                                       log=self.dir / "dovecot.out")
        try:
            _wait(f"dovecot listening on {self.address}:{self.port}",
                  lambda: listening(self.host, "tcp", self.address, self.port), 20, self.process)
        except (RuntimeError, TimeoutError) as e:
            raise RuntimeError(f"{e}\nlog:\n{self.log()[-3000:]}") from None

    def _conf(self, passwd):
        return f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.logfile}
protocols = imap
listen = {self.address}
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_verbose = yes
# Behind homeport-edge: the real client comes in a PROXY header, believed
# only from the edge's end of the tunnel.
haproxy_trusted_networks = {EDGE_TUNNEL_ADDR}
haproxy_timeout = 5s
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = {self.address}
    port = {self.port}
    ssl = yes
    haproxy = yes
  }}
}}
"""

    def deliver(self, message):
        """Put message (bytes, LF or CRLF lines) into alice's INBOX (Maildir
        new/), as a delivery agent would; returns its path."""
        name = f"{int(time.time())}.M{secrets.token_hex(4)}P{os.getpid()}.bench"
        tmp, new = self.maildir / "tmp" / name, self.maildir / "new" / name
        tmp.write_bytes(message)
        os.chown(tmp, self.uid, self.gid)
        tmp.chmod(0o600)
        tmp.rename(new)
        return new

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def wait_log(self, pattern, timeout=15):
        """The first match of the regex pattern in Dovecot's log, waiting for it."""
        rx = re.compile(pattern)
        try:
            return _wait(f"dovecot log line /{pattern}/", lambda: rx.search(self.log()), timeout,
                         self.process, interval=0.2)
        except (RuntimeError, TimeoutError) as e:
            raise type(e)(f"{e}\nlog:\n{self.log()[-3000:]}") from None

    def stop(self):
        return self.process.stop()


def dovecot(bench):
    """The home's Dovecot (started on first use, with the tunnel)."""
    return _cached(bench, "dovecot") or _remember(bench, "dovecot", Dovecot(bench))


def stop_tunnel_peers(bench):
    """Stop the peers bound to the bench tunnel's home address (the home's
    Postfix and Dovecot), so that the address is free for another tunnel
    (relay mode's). They start again on first use."""
    for key in ("home-postfix", "dovecot"):
        obj = _cached(bench, key)
        if obj is not None:
            obj.stop()
            del _running[bench][key]


# ---------------------------------------------------------------- SMTP sink

SinkMessage = collections.namedtuple("SinkMessage", "path data envelope")


class SmtpSink:
    """This file run as `peers.py smtp-sink ADDR PORT DIR` in a namespace."""

    def __init__(self, bench, host, addr, port, hostname, max_size):
        self.host = host
        self.addr, self.port = addr, port
        self.dir = _private_dir(bench, f"sink-{host.name}-{port}")
        self.log = self.dir / "sink.log"
        self.messages_dir = self.dir / "messages"
        self.process = host.popen(PY, __file__, "smtp-sink", addr, port, self.messages_dir,
                                  "--hostname", hostname, "--max-size", max_size,
                                  name=f"smtp-sink:{port}", log=self.log)
        _wait(f"smtp sink on {addr}:{port}",
              lambda: self.log.exists() and "ready" in self.log.read_text(), 10, self.process)

    def messages(self):
        """Every stored message, oldest first."""
        out = []
        for p in sorted(self.messages_dir.glob("*.eml")):
            env = json.loads(p.with_suffix(".json").read_text())
            out.append(SinkMessage(p, p.read_bytes(), env))
        return out

    def wait_for(self, marker, timeout=30):
        """The first stored message containing marker."""
        m = marker.encode() if isinstance(marker, str) else marker
        return _wait(f"message with {marker!r} at the sink",
                     lambda: next((x for x in self.messages() if m in x.data), None),
                     timeout, self.process, interval=0.2)

    def transcript(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        return self.process.stop()


def smtp_sink(bench, host_name="client", addr=CLIENT_ADDR, port=25, hostname=SINK_MX,
              max_size=10 << 20):
    key = ("sink", host_name, addr, port)
    return _cached(bench, key) or _remember(
        bench, key, SmtpSink(bench, bench.host(host_name), addr, port, hostname, max_size))


# ---------------------------------------------------------------- capture

class Capture:
    """dumpcap -i IFACE -f FILTER -w FILE in host's namespace (pcap format)."""

    _count = 0

    def __init__(self, bench, host, iface, bpf_filter=""):
        Capture._count += 1
        d = bench.dir / "captures"
        d.mkdir(exist_ok=True)
        stem = f"{host.name}-{iface}-{Capture._count}"
        self.path = d / f"{stem}.pcap"
        self.log = d / f"{stem}.log"
        args = ["dumpcap", "-i", iface, "-P", "-w", self.path]
        if bpf_filter:
            args += ["-f", bpf_filter]
        self.process = host.popen(*args, name=f"dumpcap:{iface}", log=self.log)
        # dumpcap says so once the interface is open and the filter set.
        _wait(f"capture on {host.name}:{iface}",
              lambda: self.log.exists() and "Capturing on" in self.log.read_text(), 15,
              self.process)

    def packets(self):
        """The packet count dumpcap last reported (it writes "Packets: N")."""
        counts = re.findall(r"Packets: (\d+)", self.log.read_text(errors="replace"))
        return int(counts[-1]) if counts else 0

    def stop(self, settle=1.0, timeout=10):
        """End the capture; returns the pcap's path.

        dumpcap gets packets from the kernel's TPACKET_V3 ring one block at
        a time, a block when it fills or after dumpcap's read timeout
        (250 ms); a SIGTERM before that loses the packets still in the
        block. So first wait until the count dumpcap reports has not changed
        for `settle` seconds (at most `timeout`), then SIGTERM (dumpcap
        closes the file properly)."""
        deadline = time.monotonic() + timeout
        last, since = self.packets(), time.monotonic()
        while time.monotonic() < deadline and self.process.alive():
            time.sleep(0.1)
            now, count = time.monotonic(), self.packets()
            if count != last:
                last, since = count, now
            elif now - since >= settle:
                break
        self.process.stop()
        if not self.path.exists():
            raise RuntimeError(f"no capture file: {self.log.read_text(errors='replace')}")
        return self.path


def capture(bench, host, iface, bpf_filter=""):
    return Capture(bench, host, iface, bpf_filter)


def interfaces(host):
    """The host's interfaces other than lo."""
    out = host.run("ip", "-o", "link", "show").stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n != "lo"]


def tshark_fields(path, display_filter, *fields, options=()):
    """tshark -r PATH -Y FILTER -T fields -e F...: one tuple per packet.
    options: preferences, each "name:value" (tshark -o), e.g.
    "tcp.try_heuristic_first:TRUE" to see PROXY headers in front of TLS."""
    args = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for o in options:
        args += ["-o", o]
    for f in fields:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"tshark: exit {r.returncode}\n{r.stderr}")
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


# ---------------------------------------------------------------- smtplib in a namespace

_SMTP_SEND = r"""
import json, smtplib, ssl, sys
a = json.loads(sys.argv[1])
with smtplib.SMTP(a["addr"], a["port"], local_hostname=a["helo"], timeout=a["timeout"]) as s:
    s.ehlo()
    if a.get("login"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo()
        s.login(*a["login"])
    refused = s.sendmail(a["from"], a["to"], a["message"].encode())
    print(json.dumps({"refused": refused}))
"""


def smtp_send(host, addr, port, sender, recipients, message, helo="client.example.test",
              timeout=20, check=True, login=None):
    """Send message (str, CRLF or LF lines) with python smtplib from inside
    host's namespace; login=(user, password): STARTTLS (any certificate)
    and AUTH first, as a submission client. Returns the CompletedProcess;
    raises if it fails and check."""
    arg = json.dumps({"addr": addr, "port": port, "from": sender, "to": list(recipients),
                      "message": message, "helo": helo, "timeout": timeout,
                      "login": list(login) if login else None})
    return host.run(PY, "-c", _SMTP_SEND, arg, check=check, timeout=timeout + 10)


# ---------------------------------------------------------------- the sink itself

def _sink_main(argv):
    import argparse
    import asyncio

    ap = argparse.ArgumentParser(prog="peers.py smtp-sink")
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--hostname", default="sink.example.test")
    ap.add_argument("--max-size", type=int, default=10 << 20)
    ap.add_argument("--max-recipients", type=int, default=100)
    ap.add_argument("--max-connections", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)

    COMMAND_MAX = 512     # RFC 5321 4.5.3.1.4, with CRLF
    TEXT_MAX = 1000       # RFC 5321 4.5.3.1.6, with CRLF
    MAX_ERRORS = 10
    a.dir.mkdir(parents=True, exist_ok=True)
    state = {"seq": 0, "conns": 0}

    def log(*parts):
        print(*parts, flush=True)

    async def read_line(reader, limit):
        """One line (bytes, with its ending) and whether it was too long;
        a too-long line is consumed to its end and returned empty."""
        too_long = False
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), a.timeout)
            except asyncio.LimitOverrunError as e:
                too_long = True
                await reader.readexactly(e.consumed)
                continue
            if too_long or len(line) > limit:
                return b"", True
            return line, False

    async def session(reader, writer):
        peer = writer.get_extra_info("peername")
        tag = f"{peer[0]}:{peer[1]}"

        async def reply(text):
            log(f"{tag} >>> {text}")
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        if state["conns"] >= a.max_connections:
            await reply("421 4.3.2 too many connections")
            writer.close()
            return
        state["conns"] += 1
        log(f"{tag} connect")
        helo = None
        mail_from = None
        rcpts = []
        errors = 0
        try:
            await reply(f"220 {a.hostname} ESMTP bench sink")
            while errors < MAX_ERRORS:
                line, too_long = await read_line(reader, COMMAND_MAX)
                if too_long:
                    errors += 1
                    await reply("500 5.5.2 line too long")
                    continue
                text = line.rstrip(b"\r\n").decode("utf-8", "replace")
                log(f"{tag} <<< {text}")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                arg = arg.strip()
                if verb in ("EHLO", "HELO"):
                    if not arg:
                        errors += 1
                        await reply(f"501 5.5.4 {verb} needs a domain")
                        continue
                    helo, mail_from, rcpts = arg, None, []
                    if verb == "HELO":
                        await reply(f"250 {a.hostname}")
                    else:
                        await reply(f"250-{a.hostname} greets {arg}")
                        await reply(f"250-SIZE {a.max_size}")
                        await reply("250-8BITMIME")
                        await reply("250 PIPELINING")
                elif verb == "MAIL":
                    m = re.fullmatch(r"(?i)FROM:\s*<([^<>]*)>(.*)", arg)
                    if helo is None:
                        await reply("503 5.5.1 EHLO first")
                    elif mail_from is not None:
                        await reply("503 5.5.1 nested MAIL command")
                    elif not m:
                        errors += 1
                        await reply("501 5.5.4 syntax: MAIL FROM:<address>")
                    else:
                        size = re.search(r"(?i)\bSIZE=(\d+)", m.group(2))
                        if size and int(size.group(1)) > a.max_size:
                            await reply("552 5.3.4 message size exceeds fixed limit")
                        else:
                            mail_from, rcpts = m.group(1), []
                            await reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.fullmatch(r"(?i)TO:\s*<([^<>]+)>(.*)", arg)
                    if mail_from is None:
                        await reply("503 5.5.1 MAIL first")
                    elif not m:
                        errors += 1
                        await reply("501 5.5.4 syntax: RCPT TO:<address>")
                    elif len(rcpts) >= a.max_recipients:
                        await reply("452 4.5.3 too many recipients")
                    else:
                        rcpts.append(m.group(1))
                        await reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if arg:
                        await reply("501 5.5.4 DATA takes no argument")
                        continue
                    if not rcpts:
                        await reply("503 5.5.1 RCPT first" if mail_from is not None
                                    else "503 5.5.1 MAIL first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    body, size, bad_line, too_big = [], 0, False, False
                    while True:
                        line, too_long = await read_line(reader, TEXT_MAX)
                        if too_long:
                            bad_line = True
                            continue
                        if line in (b".\r\n", b".\n"):
                            break
                        if line.startswith(b"."):
                            line = line[1:]
                        size += len(line)
                        if size > a.max_size:
                            too_big = True
                        elif not bad_line:
                            body.append(line)
                    log(f"{tag} <<< [{size} octets] .")
                    if too_big:
                        await reply("552 5.3.4 message size exceeds fixed limit")
                    elif bad_line:
                        await reply("500 5.5.2 message line too long")
                    else:
                        state["seq"] += 1
                        name = f"{state['seq']:04d}"
                        env = {"client": peer[0], "helo": helo, "mail_from": mail_from,
                               "rcpt_to": rcpts}
                        # The .json first, the .eml last and by rename: a
                        # visible .eml is a complete message.
                        (a.dir / f"{name}.json").write_text(json.dumps(env))
                        tmp = a.dir / f".{name}.tmp"
                        tmp.write_bytes(b"".join(body))
                        tmp.rename(a.dir / f"{name}.eml")
                        await reply(f"250 2.0.0 Ok: queued as {name}")
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    await reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    await reply("250 2.0.0 Ok")
                elif verb == "VRFY":
                    await reply("252 2.1.5 cannot VRFY")
                elif verb == "QUIT":
                    await reply("221 2.0.0 Bye")
                    break
                else:
                    errors += 1
                    await reply("502 5.5.2 command not implemented")
            else:
                await reply("421 4.7.0 too many errors")
        except (asyncio.IncompleteReadError, ConnectionError):
            log(f"{tag} lost connection")
        except asyncio.TimeoutError:
            log(f"{tag} timeout")
            try:
                await reply("421 4.4.2 timeout")
            except ConnectionError:
                pass
        finally:
            state["conns"] -= 1
            writer.close()
            log(f"{tag} disconnect")

    async def main():
        server = await asyncio.start_server(session, a.addr, a.port, limit=TEXT_MAX,
                                            reuse_address=True)
        log(f"ready {a.addr}:{a.port}")
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "smtp-sink":
        _sink_main(sys.argv[2:])
    else:
        sys.exit(f"usage: {sys.argv[0]} smtp-sink ADDR PORT DIR [--hostname H] [--max-size N]")
