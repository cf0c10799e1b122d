"""Relay mode set up on the bench the way a user does it, for test_relay.py
and for make demo (tests/demo.py): `homeport-edge init` in `edge`, the
daemon making its own WireGuard interface, `homeport-edge invite`; a home
in `home` behind the CGNAT that joins with `homeport relay join TOKEN`;
the records `homeport dns` prints, loaded into Knot as they are; Postfix
in `peer` sending SNI so the edge can route.

The tunnel pool is the bench plan's: the edge 192.0.2.1 / 2001:db8:77::1,
the home 192.0.2.2 / 2001:db8:77::2; the bench's own tunnel (other tests')
is taken down first.
"""
import json
import pathlib
import re
import shutil
import subprocess
import tempfile

import dkim

import peers
from bench import PUBLIC
from daemon import Daemon
from homed import Home
from https_peer import TestCA

PY = "/usr/bin/python3"
EDGE = "203.0.113.1"
EDGE_TUNNEL = "192.0.2.1"
HOME_TUNNEL = "192.0.2.2"
POOL = "192.0.2.0/25,2001:db8:77::/64"
DOMAIN = peers.HOME_DOMAIN
HOSTNAME = peers.HOME_HOSTNAME
POLICY_HOST = f"mta-sts.{DOMAIN}"     # where senders fetch its MTA-STS policy
USER = f"alice@{DOMAIN}"
TIMEOUT = 60

# The peer's Postfix while relay mode is on the bench: SNI = the MX host's
# name (the edge routes on it); deferred mail retried within seconds.
POSTFIX_SETTINGS = {
    "smtp_tls_security_level": "may",
    "smtp_tls_servername": "hostname",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
}


def run(cmd, host=None, check=True, timeout=60):
    args = [str(c) for c in cmd]
    if host is not None:
        args = ["ip", "netns", "exec", host.ns, *args]
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class Edge:
    """homeport-edge as an operator sets it up: init, then the daemon."""

    def __init__(self, bench, bindir, name="edge", pool=POOL, detached=False, extra_conf=""):
        self.bench = bench
        self.detached = detached
        self.name = name
        self.address = PUBLIC[name][0]
        self.host = bench.host(name)
        self.exe = bindir / "homeport-edge"
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"relay-{name}-", dir=bench.dir))
        self.dir.chmod(0o755)
        self.conf = self.dir / "edge.conf"
        self.state = self.dir / "state"
        # Unique across namespaces: wireguard-go's sockets share /var/run/wireguard.
        self.ifname = self.host.ifname("hp" + name[0] + name[-1])
        r = self.cmd("init", "--name", f"relay.{name}.test", "--endpoint", f"{self.address}:51820",
                     "--tunnel", pool, "--state-dir", self.state)
        self.init_output = r.stdout
        text = self.conf.read_text()
        text = text.replace("[edge]\n", "[edge]\nuser = nobody\nlog_level = debug\n", 1)
        text = text.replace("[enroll]\n", f"[enroll]\ninterface = {self.ifname}\n", 1)
        self.conf.write_text(text + extra_conf)
        self.conf.chmod(0o644)
        self.daemon = None
        self.go_pid = None

    def cmd(self, *args, check=True):
        return run([self.exe, "-c", self.conf, *args], check=check)

    def start(self):
        self.daemon = Daemon(["ip", "netns", "exec", self.host.ns, self.exe, "-c", self.conf],
                             log_path=self.dir / "edge.log" if self.detached else None)
        self.daemon.wait_for(r"event=start result=ok")
        line = self.daemon.wait_for(r"event=wireguard .*result=ok")
        pid = int(re.search(r"go_pid=(\d+)", line).group(1))
        if pid > 0 and pid not in self.bench.registry.pids:
            self.go_pid = pid
            self.bench.registry.pids.append(pid)
        return self

    def stop(self):
        if self.daemon is not None:
            assert self.daemon.stop() == 0, "\n".join(self.daemon.lines[-30:])
            self.daemon = None

    def kill(self):
        """SIGKILL: no goodbye to anyone; the interface and its peers stay."""
        self.daemon.proc.kill()
        self.daemon.proc.wait(10)
        self.daemon = None

    def tenant(self):
        """The one tenant's name (tenant list's first word)."""
        return self.cmd("tenant", "list").stdout.split()[0]

    def remove_interface(self):
        if self.go_pid:
            self.bench.stop_pid(self.go_pid)
            self.go_pid = None

    def invite(self, *hostnames, expires=None):
        args = ["invite"] + [a for h in hostnames for a in ("--hostname", h)]
        if expires:
            args += ["--expires", expires]
        out = self.cmd(*args).stdout
        return re.search(r"hpe1-[A-Za-z0-9_-]+", out).group(0)


def homeport(home, *args, check=True, timeout=60):
    return run([home.cli, "-c", home.conf_path, *args], host=home.host, check=check, timeout=timeout)


# One record line of `homeport dns`: owner, TTL, type, data, then maybe a comment.
DNS_LINE = re.compile(r'^(\S+)\.\s+(\d+)\s+IN\s+(\S+)\s+(.*?)\s*(?:;[^"]*)?$')


def dns_records(text):
    """The records of homeport dns's output: [(owner, ttl, type, data)], comments dropped."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        m = DNS_LINE.match(line)
        assert m, line
        out.append((m.group(1), int(m.group(2)), m.group(3), m.group(4)))
    return out


def load_dns(knot, text, zone=DOMAIN):
    """What `homeport dns` printed, into Knot's zone as it is: each RRset
    replaced. Returns the updates that remove them again."""
    rrs = dns_records(text)
    rrsets = list(dict.fromkeys((owner, rtype) for owner, _, rtype, _ in rrs))
    drop = [f"update delete {owner}. {rtype}" for owner, rtype in rrsets]
    knot.update(zone, *drop, *(f"update add {o}. {ttl} IN {t} {d}" for o, ttl, t, d in rrs))
    return drop


def send_from_peer(relay, marker, rcpt=USER):
    """client -> Postfix in `peer` -> the recipient domain's MX, an edge.
    Returns Postfix's queue id."""
    body = (f"From: <carol@peer.test>\r\nTo: <{rcpt}>\r\nSubject: hello through the edge\r\n"
            f"Message-ID: <{marker}@peer.test>\r\n\r\nbody marker {marker}\r\n")
    peers.smtp_send(relay.client, peers.PEER_ADDR, 25, "carol@peer.test", [rcpt], body)
    return relay.postfix.wait_log(rf"(\w+): message-id=<{marker}@peer\.test>").group(1)


def stored(home, marker, user=USER):
    """user's INBOX messages that carry marker."""
    return [m for m in home.messages(user) if marker.encode() in m.body]


_IMAPS_FETCH = r"""
import imaplib, json, ssl, sys
addr, sni, ca, user, password, marker = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = True
class SNI(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        import socket
        sock = socket.create_connection((addr, 993), timeout)
        return ctx.wrap_socket(sock, server_hostname=sni)
c = SNI(addr, 993, ssl_context=ctx, timeout=20)
c.login(user, password)
c.select("INBOX")
typ, data = c.search(None, "BODY", marker)
found = []
for num in data[0].split():
    typ, msg = c.fetch(num, "(RFC822)")
    found.append(msg[0][1].decode(errors="replace"))
c.logout()
print(json.dumps(found))
"""


def imaps_fetch(relay, marker, password):
    """IMAPS from `client` to the edge's 993, SNI mail.alice.test, the
    bench's WebPKI trusted (the home's certificate is issued by it): the
    messages found with marker in their body."""
    r = relay.client.run(PY, "-c", _IMAPS_FETCH, EDGE, HOSTNAME, str(relay.ca.cert), USER, password,
                         marker, timeout=60)
    return json.loads(r.stdout)


def fetch_policy(relay):
    """curl in `client`: https://mta-sts.alice.test/.well-known/mta-sts.txt,
    the name from Knot (the edge's address), the bench's WebPKI trusted,
    through the edge (SNI routing on 443) to the home. Returns the body."""
    r = relay.client.run("curl", "-sS", "--fail", "--max-time", "20", "--cacert", str(relay.ca.cert),
                         f"https://{POLICY_HOST}/.well-known/mta-sts.txt", timeout=30)
    return r.stdout


def verify_dkim(knot, raw):
    """Both DKIM signatures of raw, checked by python3-dkim against the
    keys' records as Knot serves them. Returns the algorithms, sorted."""
    def dnsfunc(name, timeout=5):
        r = knot.dig("+short", name.decode().rstrip("."), "TXT")
        return "".join(re.findall(r'"([^"]*)"', r.stdout)).encode() or None

    d = dkim.DKIM(raw)
    algs = []
    for idx in range(2):
        assert d.verify(idx=idx, dnsfunc=dnsfunc), idx
        algs.append(d.signature_fields[b"a"])
    return sorted(algs)




def take_tunnel_addresses(bench):
    """The bench's own tunnel and the peers bound to its addresses go:
    relay mode builds its tunnel on the same addresses."""
    peers.stop_tunnel_peers(bench)
    bench.tunnel_down()


def new_home(bench, bindir, host_name, d, hostname, domain, detached=False, ca=None, extra_names=()):
    """A homeportd (not started) in host_name, set up by `homeport init
    --domain domain --hostname hostname` (direct mode's listeners, which
    relay mode moves; a certificate; DKIM keys; the domain in mail.db), its
    outbound DNS through the bench's Knot with its trust anchors. With ca
    (the bench's WebPKI, an https_peer.TestCA), the bootstrap certificate is
    replaced by one ca issues for hostname, mta-sts.DOMAIN and extra_names
    (other MX host names), and ca is
    what the home trusts for MTA-STS ([outbound] tls_ca_file): its policy
    is then published."""
    host = bench.host(host_name)
    d.mkdir(parents=True, exist_ok=True)
    anchors = d / "trust-anchors"
    anchors.write_text(peers.knot(bench).trust_anchors())
    anchors.chmod(0o644)
    outbound = {"dns_forward": peers.DNS_ADDR, "dns_trust_anchor": anchors, "retry_min": "1s",
                "retry_max": "2s", "connect_timeout": "5s"}
    if ca is not None:
        outbound["tls_ca_file"] = ca.cert
    home = Home(bindir.parent, d, hostname=hostname, log_level="debug",
                prefix=["ip", "netns", "exec", host.ns], sections={"outbound": outbound},
                init_domain=domain)
    if ca is not None:
        cert, key = ca.issue(host_name, [hostname, f"mta-sts.{domain}", *extra_names])
        shutil.copy(cert, home.state_dir / "keys" / "tls.crt")
        shutil.copy(key, home.state_dir / "keys" / "tls.key")
        (home.state_dir / "keys" / "tls.key").chmod(0o600)
    home.host = host
    home.detached = detached
    return home


def join(bench, home, token, ifname, *options):
    """homeport relay join TOKEN on the home: (its output, stdout then
    stderr, the PID of a wireguard-go it started or 0, registered with the
    bench)."""
    r = homeport(home, "relay", "join", token, "--interface", ifname, *options)
    out = r.stdout + r.stderr
    m = re.search(r"wireguard-go pid (\d+)", out)
    pid = int(m.group(1)) if m else 0
    if pid:
        bench.registry.pids.append(pid)
    return out, pid


def run_all(what, steps):
    """Call every step, also after one failed (everything must be removed);
    then raise naming each failure."""
    errors = []
    for step in steps:
        try:
            step()
        except Exception as e:  # keep going: everything must be removed
            errors.append(repr(e))
    if errors:
        raise RuntimeError(f"{what}: " + "; ".join(errors))


def postfix_for_relay(postfix, on):
    """The peer's Postfix with POSTFIX_SETTINGS (on) or without them, reloaded."""
    if on:
        postfix.postconf("-e", *(f"{k}={v}" for k, v in POSTFIX_SETTINGS.items()))
    else:
        postfix.postconf("-X", *POSTFIX_SETTINGS)
    postfix.postfix("reload")


class Relay:
    """One edge and one home joined to it, the DNS published (up()); all
    of it removed again (down()), also after a failure half-way."""

    def __init__(self, bench, bindir, detached=False):
        """Nothing starts yet but the peers: up() does."""
        self.bench = bench
        self.bindir = bindir
        self.detached = detached    # the daemons log to files and outlive us (make demo)
        self.knot = peers.knot(bench)
        self.postfix = peers.postfix(bench)
        self.client = bench.host("client")
        self.edge = None
        self.home = None
        self.home_go_pid = 0
        self._drop = []
        self._postfix_sni = False

    def up(self, home_dir, password):
        take_tunnel_addresses(self.bench)
        self.edge = Edge(self.bench, self.bindir, detached=self.detached).start()
        # The bench's WebPKI: the CA senders trust for MTA-STS.
        self.ca = TestCA(pathlib.Path(home_dir).parent / "webpki", "Homeport bench WebPKI")
        self.home = new_home(self.bench, self.bindir, "home", home_dir, HOSTNAME, DOMAIN,
                             detached=self.detached, ca=self.ca)
        self.token = self.edge.invite(HOSTNAME, POLICY_HOST)
        self.home_ifname = self.home.host.ifname("hph")
        self.join_output, self.home_go_pid = join(self.bench, self.home, self.token, self.home_ifname)
        self.home.start()
        self.home.add_user(USER, password=password)
        peers.use_knot(self.client)     # clients find mail.alice.test, and send it as SNI
        self.dns = homeport(self.home, "dns").stdout
        self._drop = load_dns(self.knot, self.dns)
        postfix_for_relay(self.postfix, True)
        self._postfix_sni = True
        return self

    def down(self):
        run_all("relay down", (lambda: self.home and self.home.stop(),
                               lambda: self.edge and self.edge.stop(),
                               lambda: self._drop and self.knot.update(DOMAIN, *self._drop),
                               self._postfix_back,
                               lambda: self.home_go_pid and self.bench.stop_pid(self.home_go_pid),
                               lambda: self.edge and self.edge.remove_interface()))

    def _postfix_back(self):
        if self._postfix_sni:
            postfix_for_relay(self.postfix, False)
            self._postfix_sni = False
