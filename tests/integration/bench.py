"""The network test bench: the topology of the handbook's TESTING.md, built
on demand from network namespaces.

    inet    router and bridge: 198.51.100.254/24 and 203.0.113.254/24
    peer    198.51.100.25        a real MTA (Postfix)
    dns     198.51.100.53        a real DNS server (Knot)
    client  198.51.100.100       mail clients
    edge    203.0.113.1          homeport-edge; WireGuard on UDP 51820
    isp     203.0.113.50 outside, 192.0.2.129 inside: CGNAT, TCP 25 out dropped
    home    192.0.2.130 behind isp; tunnel 192.0.2.2 / 2001:db8:77::2
            (edge's end: 192.0.2.1 / 2001:db8:77::1)

Tests ask for what they need (bench.host("peer"), bench.tunnel()); each
part is built once per run, with everything it depends on. All names carry
the run id; Registry.cleanup() removes every process and namespace.
"""
import pathlib
import tempfile

from netns import Host, Registry, new_run_id, sh, stop_pid

REPO = pathlib.Path(__file__).resolve().parents[2]

INET_V4 = {"198.51.100": "198.51.100.254", "203.0.113": "203.0.113.254"}

# name: (address on the internet side, prefix)
PUBLIC = {
    "peer": ("198.51.100.25", 24),
    "dns": ("198.51.100.53", 24),
    "client": ("198.51.100.100", 24),
    "edge": ("203.0.113.1", 24),
    "isp": ("203.0.113.50", 24),
    # For relay mode's tests: a second edge, and a second home on a public address.
    "edge2": ("203.0.113.2", 24),
    "home2": ("198.51.100.120", 24),
}
ISP_INSIDE = ("192.0.2.129", 25)
HOME_LAN = ("192.0.2.130", 25)

WG_PORT = 51820
TUNNEL = {
    # side: (IPv4, IPv6) on the WireGuard interface
    "edge": ("192.0.2.1", "2001:db8:77::1"),
    "home": ("192.0.2.2", "2001:db8:77::2"),
}
TUNNEL_PREFIX = (25, 64)
KEEPALIVE = 25


def _gateway(address):
    return INET_V4[address.rsplit(".", 1)[0]]


class Bench:
    def __init__(self, bindir, tooldir, run_id=None):
        self.bindir = pathlib.Path(bindir)
        self.tooldir = pathlib.Path(tooldir)
        self.run_id = run_id or new_run_id()
        self.registry = Registry(self.run_id)
        self.hosts = {}
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"hpbench-{self.run_id}-"))
        # Traversable (not listable) so unprivileged daemons (Postfix) reach their dirs.
        self.dir.chmod(0o711)
        self.wg = None

    # ---- hosts ----

    def host(self, name):
        """The host called name, built (with what it needs) on first use."""
        if name in self.hosts:
            return self.hosts[name]
        builders = {"inet": self._build_inet, "isp": self._build_isp, "home": self._build_home}
        if name in builders:
            return builders[name]()
        if name in PUBLIC:
            return self._build_public(name)
        raise KeyError(f"no host {name!r} on the bench")

    def _build_inet(self):
        inet = Host(self.registry, "inet")
        self.hosts["inet"] = inet
        br = inet.ifname("br")
        # A fixed MAC: a bridge without one takes its lowest port's, so
        # attaching a host later would change the gateway's MAC under hosts
        # that have it cached, and their packets would be dropped until the
        # neighbour entry goes stale (up to ~45 s).
        inet.run("ip", "link", "add", br, "address", "02:00:00:00:00:01", "type", "bridge")
        inet.sysctl(f"net.ipv6.conf.{br}.disable_ipv6", 1)
        for gw in INET_V4.values():
            inet.run("ip", "addr", "add", f"{gw}/24", "dev", br)
        inet.run("ip", "link", "set", br, "up")
        inet.sysctl("net.ipv4.ip_forward", 1)
        return inet

    def _attach(self, host, address, prefix, gateway, to, to_name):
        """A veth pair from host (eth0 side) to the host `to`; returns nothing."""
        # Three letters of the name; "edge2" -> "ed2", unlike "edge" -> "edg".
        tag = host.name[:2] + host.name[-1] if host.name[-1].isdigit() else host.name[:3]
        mine, theirs = host.ifname("v" + tag), host.ifname("p" + tag)
        host.run("ip", "link", "add", mine, "type", "veth", "peer", "name", theirs,
                 "netns", to.ns)
        # The bench's links are IPv4 (IPv6 runs inside the tunnel): no
        # link-local chatter (MLD, router solicitations) on captures.
        host.sysctl(f"net.ipv6.conf.{mine}.disable_ipv6", 1)
        to.sysctl(f"net.ipv6.conf.{theirs}.disable_ipv6", 1)
        host.run("ip", "addr", "add", f"{address}/{prefix}", "dev", mine)
        host.run("ip", "link", "set", mine, "up")
        to.run("ip", "link", "set", theirs, "up")
        if to_name == "inet":
            to.run("ip", "link", "set", theirs, "master", to.ifname("br"))
        if gateway:
            host.run("ip", "route", "add", "default", "via", gateway)
        return mine, theirs

    def _build_public(self, name):
        inet = self.host("inet")
        h = Host(self.registry, name)
        self.hosts[name] = h
        address, prefix = PUBLIC[name]
        self._attach(h, address, prefix, _gateway(address), inet, "inet")
        return h

    def _build_isp(self):
        isp = self._build_public("isp")
        isp.sysctl("net.ipv4.ip_forward", 1)
        return isp

    def _build_home(self):
        isp = self.host("isp")
        home = Host(self.registry, "home")
        self.hosts["home"] = home
        lan_home, lan_isp = self._attach(home, HOME_LAN[0], HOME_LAN[1], ISP_INSIDE[0], isp, "isp")
        isp.run("ip", "addr", "add", f"{ISP_INSIDE[0]}/{ISP_INSIDE[1]}", "dev", lan_isp)
        out = isp.ifname("visp")
        # CGNAT: the home's traffic leaves as 203.0.113.50; nothing comes in
        # unless it answers the home; and the ISP blocks outbound TCP 25.
        rules = f"""
table inet hpisp {{
    chain forward {{
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "{lan_isp}" oifname "{out}" tcp dport 25 drop
        iifname "{lan_isp}" oifname "{out}" accept
    }}
}}
table ip hpnat {{
    chain postrouting {{
        type nat hook postrouting priority 100;
        oifname "{out}" masquerade
    }}
}}
"""
        isp.run("nft", "-f", "-", input=rules)
        return home

    # ---- the tunnel ----

    def wgctl(self, host, *args):
        return host.run(str(self.tooldir / "wgctl"), *args)

    def tunnel(self):
        """The WireGuard tunnel between edge and home (behind the CGNAT), built
        with Homeport's shared/wg through wgctl. Returns a dict of its facts."""
        if self.wg is not None:
            return self.wg
        edge, home = self.host("edge"), self.host("home")
        keys = {}
        for side in ("edge", "home"):
            key = self.dir / f"{side}.wgkey"
            priv = sh(self.bindir / "homeport", "keys", "wg-genkey").stdout
            key.write_text(priv)
            key.chmod(0o600)
            pub = sh(self.bindir / "homeport", "keys", "wg-pubkey", input=priv).stdout.strip()
            keys[side] = (key, pub)
        ifs, pids = {}, []
        for side, host in (("edge", edge), ("home", home)):
            # Unique across namespaces: all UAPI sockets share /var/run/wireguard.
            ifname = host.ifname("wg" + side)
            out = self.wgctl(host, "create", ifname, self.dir / f"wireguard-go-{side}.log").stdout
            pid = int(out.strip().split("pid=")[1])
            if pid > 0:
                self.registry.pids.append(pid)
                pids.append(pid)
            ifs[side] = ifname
            args = ["set", ifname, "private-key", keys[side][0]]
            if side == "edge":
                args += ["listen-port", str(WG_PORT)]
            self.wgctl(host, *args)
            v4, v6 = TUNNEL[side]
            self.wgctl(host, "addr", ifname, f"{v4}/{TUNNEL_PREFIX[0]}")
            self.wgctl(host, "addr", ifname, f"{v6}/{TUNNEL_PREFIX[1]}")
            self.wgctl(host, "up", ifname)
        # The edge learns the home's endpoint from its handshakes (CGNAT);
        # the home names the edge and keeps the mapping alive.
        self.wgctl(edge, "peer", ifs["edge"], keys["home"][1],
                   "allowed-ips", f"{TUNNEL['home'][0]}/32,{TUNNEL['home'][1]}/128")
        self.wgctl(home, "peer", ifs["home"], keys["edge"][1],
                   "endpoint", f"{PUBLIC['edge'][0]}:{WG_PORT}",
                   "allowed-ips", f"{TUNNEL['edge'][0]}/32,{TUNNEL['edge'][1]}/128",
                   "keepalive", str(KEEPALIVE))
        self.wg = {"ifname": ifs, "public_key": {s: keys[s][1] for s in keys}, "pids": pids}
        return self.wg

    def tunnel_down(self):
        """Remove the tunnel tunnel() built (its wireguard-go processes, by
        PID, and with them the interfaces), so that a test can build one on
        the same addresses its own way: relay mode's enrollment."""
        if self.wg is None:
            return
        for pid in self.wg["pids"]:
            self.stop_pid(pid)
        self.wg = None

    def stop_pid(self, pid):
        """Stop a process the run did not fork itself (wireguard-go) by its PID."""
        stop_pid(pid)
        if pid in self.registry.pids:
            self.registry.pids.remove(pid)

    def cleanup(self):
        try:
            self.registry.cleanup()
        finally:
            sh("rm", "-rf", str(self.dir), check=False)
