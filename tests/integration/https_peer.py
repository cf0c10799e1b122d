"""An HTTPS server on the bench, for what outbound mail fetches over HTTPS
(MTA-STS policies, RFC 8461): nginx inside a host's namespace, one virtual
server per name (chosen by SNI and Host), certificates from test CAs made
with openssl, and two misbehaving upstreams nginx can proxy to.

    TestCA(directory, name)      a CA (EC P-256, two days): .cert, .issue(stem, names)
    Nginx(bench, host, address, servers, name)
                                 nginx -g 'daemon off; master_process off;'
                                 listening on address:443; one process, so
                                 stopping it by its PID stops everything
    hold_upstream(bench, host, addr, port)
                                 accepts connections and never answers
    stream_upstream(bench, host, addr, port)
                                 answers 200 text/plain, chunked, and then
                                 sends policy lines without end (bounded:
                                 STREAM_MAX bytes or STREAM_SECONDS)
    system_store(host, ca_cert)  a context: while in it, programs started in
                                 host see only ca_cert as the system's CAs

Every process is started with host.popen (the bench's registry: stopped by
its PID at the end of the run, also after a failure), keeps its files under
bench.dir, and every wait is bounded. The upstream servers are this file
run as a script inside the namespace:

    python3 https_peer.py hold ADDR PORT
    python3 https_peer.py stream ADDR PORT
"""
import contextlib
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"

START_TIMEOUT = 15       # s: a server listening after its start
HELPER_SECONDS = 300     # s: the upstream helpers end by themselves
STREAM_MAX = 64 << 20    # bytes one streamed answer sends at most
STREAM_SECONDS = 120     # s: one streamed answer lasts at most
STREAM_CHUNK = 16 << 10  # bytes per chunk
STREAM_PAUSE = 0.01      # s between chunks
HEAD_MAX = 8192          # bytes of a request head the upstreams read


def wait_for(what, check, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and not proc.alive():
            log = pathlib.Path(proc.log).read_text(errors="replace") if proc.log else ""
            raise RuntimeError(f"{what}: {proc.name} exited ({proc.popen.returncode})\n{log}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def _listening(host, addr, port):
    out = host.run("ss", "-Htln", "src", f"{addr}:{port}", check=False).stdout
    return bool(out.strip())


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30,
                       cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))}: {r.stderr}")
    return r


class TestCA:
    """A certificate authority for tests: a key and a self-signed CA
    certificate (basicConstraints CA:TRUE, keyCertSign) in directory; issue()
    makes server certificates signed by it."""

    __test__ = False     # not a pytest class

    def __init__(self, directory, name):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.pem"
        conf = self.dir / "ca.cnf"
        conf.write_text(f"""[req]
distinguished_name = dn
prompt = no
[dn]
CN = {name}
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
""")
        _openssl("req", "-x509", "-config", conf, "-extensions", "ca_ext", "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-keyout", self.key, "-out", self.cert)

    def issue(self, stem, names):
        """A server certificate for names (subjectAltName DNS entries, the
        first also the CN), signed by this CA: (cert path, key path)."""
        key, csr, cert = (self.dir / f"{stem}.key", self.dir / f"{stem}.csr",
                          self.dir / f"{stem}.pem")
        ext = self.dir / f"{stem}.ext"
        ext.write_text("basicConstraints = critical, CA:FALSE\n"
                       "keyUsage = critical, digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       "subjectKeyIdentifier = hash\n"
                       "authorityKeyIdentifier = keyid\n"
                       "subjectAltName = " + ", ".join(f"DNS:{n}" for n in names) + "\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-subj", f"/CN={names[0]}", "-keyout", key, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", "0x" + secrets.token_hex(16), "-days", "2", "-extfile", ext,
                 "-out", cert)
        return cert, key


class Nginx:
    """nginx in host's namespace on address:443 (TLS), one process
    (master_process off), its configuration, logs and temporary files in a
    directory of its own under bench.dir.

    servers: a list of (server_name, cert, key, body), body being the
    directives inside `server { }` after listen, name and certificate
    (locations, typically). The first is the default server. The access log
    (self.access_log) has one line per request: "$host $request_uri $status".
    """

    def __init__(self, bench, host, address, servers, name="nginx"):
        self.host = host
        self.address = address
        self.dir = bench.dir / name
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "tmp").mkdir(parents=True)
        self.dir.chmod(0o700)
        self.access_log = self.dir / "access.log"
        self.error_log = self.dir / "error.log"
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(self._conf(servers))
        r = host.run("nginx", "-t", "-p", f"{self.dir}/", "-c", self.conf, "-e", self.error_log,
                     check=False)
        if r.returncode != 0:
            raise RuntimeError(f"nginx -t: {r.stdout}{r.stderr}")
        self.process = host.popen("nginx", "-p", f"{self.dir}/", "-c", self.conf,
                                  "-e", self.error_log, name=name, log=self.dir / "stdout.log")
        wait_for(f"{name} on {address}:443", lambda: _listening(host, address, 443), START_TIMEOUT,
              self.process)

    def _conf(self, servers):
        tmp = self.dir / "tmp"
        blocks = []
        for server_name, cert, key, body in servers:
            blocks.append(f"""
    server {{
        listen {self.address}:443 ssl;
        server_name {server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
{body}
    }}""")
        return f"""daemon off;
master_process off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.error_log} info;

events {{
    worker_connections 256;
}}

http {{
    log_format hosts '$host $request_uri $status';
    access_log {self.access_log} hosts;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server_tokens off;
    types {{ }}
    default_type application/octet-stream;
{"".join(blocks)}
}}
"""

    def requests(self):
        """The access log's lines so far: [(host, uri, status)]."""
        try:
            text = self.access_log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [tuple(line.split(" ", 2)) for line in text.splitlines() if line.count(" ") >= 2]

    def stop(self):
        return self.process.stop()


def _helper(bench, host, mode, addr, port):
    log = bench.dir / f"https-peer-{mode}-{host.name}-{port}.log"
    proc = host.popen(PY, HERE / "https_peer.py", mode, addr, port, name=f"https-peer-{mode}",
                      log=log)
    wait_for(f"{mode} upstream on {addr}:{port}", lambda: _listening(host, addr, port),
          START_TIMEOUT, proc)
    return proc


def hold_upstream(bench, host, addr, port):
    """A TCP server in host on addr:port that accepts and never answers."""
    return _helper(bench, host, "hold", addr, port)


def stream_upstream(bench, host, addr, port):
    """An HTTP/1.1 server in host on addr:port that answers every request
    with an endless text/plain policy (chunked), logging "sent N" when a
    client goes away after N body bytes."""
    return _helper(bench, host, "stream", addr, port)


@contextlib.contextmanager
def system_store(host, ca_cert):
    """While inside: processes started in host with `ip netns exec` find
    ca_cert, and nothing else, as the system's CA store (/etc/ssl/certs: the
    bundle ca-certificates.crt and the hashed directory, libcurl's compiled-in
    defaults on Debian). ip netns exec bind-mounts /etc/netns/NS/ssl over
    /etc/ssl for each process it starts; the directory is removed on the way
    out, so later processes (and other tests) see the real store again."""
    from netns import ETC_NETNS
    ssl_dir = ETC_NETNS / host.ns / "ssl"
    certs = ssl_dir / "certs"
    certs.mkdir(parents=True)
    try:
        shutil.copy(ca_cert, certs / "ca-certificates.crt")
        shutil.copy(ca_cert, certs / "test-ca.pem")
        _openssl("rehash", certs)
        yield certs
    finally:
        shutil.rmtree(ssl_dir, ignore_errors=True)


# ---------------------------------------------------------------- the helpers, run as scripts

def _listen(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    s.settimeout(1.0)
    return s


def _hold_main(addr, port):
    s = _listen(addr, port)
    print(f"ready {addr}:{port}", flush=True)
    held = []
    deadline = time.monotonic() + HELPER_SECONDS
    while time.monotonic() < deadline:
        try:
            conn, peer = s.accept()
        except socket.timeout:
            continue
        print(f"accepted {peer[0]}:{peer[1]}", flush=True)
        held.append(conn)     # never read, never answered, closed at exit


def _read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < HEAD_MAX:
        got = conn.recv(HEAD_MAX - len(data))
        if not got:
            return None
        data += got
    return data


def _stream_one(conn):
    conn.settimeout(10.0)
    sent = 0
    try:
        if _read_head(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        first = b"version: STSv1\nmode: enforce\nmx: mx.peer.test\nmax_age: 86400\n"
        line = b"pad: " + b"x" * 58 + b"\n"
        chunk = line * (STREAM_CHUNK // len(line))
        deadline = time.monotonic() + STREAM_SECONDS
        body = first
        while sent < STREAM_MAX and time.monotonic() < deadline:
            conn.sendall(b"%x\r\n%s\r\n" % (len(body), body))
            sent += len(body)
            body = chunk
            time.sleep(STREAM_PAUSE)
        print(f"limit {sent}", flush=True)
    except OSError as e:
        print(f"sent {sent} ({e.__class__.__name__})", flush=True)
    finally:
        conn.close()


def _stream_main(addr, port):
    s = _listen(addr, port)
    print(f"ready {addr}:{port}", flush=True)
    deadline = time.monotonic() + HELPER_SECONDS
    while time.monotonic() < deadline:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=_stream_one, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("hold", "stream"):
        main = _hold_main if sys.argv[1] == "hold" else _stream_main
        main(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} hold|stream ADDR PORT")
