"""Test backends for homeport-edge: small servers standing in for a home.

Each backend reads the PROXY header the edge sends (decoded here by a
parser written apart from the C codec, from the specification), records
it, then plays its part: a TLS echo server, an SMTP server that starts TLS
at once as a home does after the edge answered STARTTLS, a plaintext
banner-first server (passthrough), or an HTTP server. Until the home
exists, these are the far end of every edge test.
"""
import ipaddress
import socket
import ssl
import struct
import subprocess
import threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class ProxyHeader:
    def __init__(self):
        self.version = None
        self.command = None
        self.src = self.dst = None      # (ip, port)
        self.tlvs = {}                  # type -> bytes (last one wins)

    @property
    def authority(self):
        v = self.tlvs.get(0x02)
        return v.decode() if v is not None else None

    @property
    def unique_id(self):
        return self.tlvs.get(0x05)

    @property
    def homeport(self):
        """The Homeport TLV as (version, flags, proto, ehlo) or None."""
        v = self.tlvs.get(0xE0)
        if v is None:
            return None
        assert len(v) >= 3, "Homeport TLV shorter than 3 bytes"
        return v[0], v[1], v[2], v[3:].decode()


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_proxy(sock):
    """Read one PROXY header (v1 or v2) from sock; raises on anything else."""
    h = ProxyHeader()
    first = read_exact(sock, 12)
    if first == SIG:
        h.version = 2
        ver_cmd, fam, length = struct.unpack("!BBH", read_exact(sock, 4))
        assert ver_cmd >> 4 == 2, f"version nibble {ver_cmd >> 4}"
        h.command = ver_cmd & 0x0F
        body = read_exact(sock, length)
        assert length <= 536 - 16, f"header of {16 + length} bytes is over 536"
        if fam == 0x11:
            src, dst, sp, dp = struct.unpack("!4s4sHH", body[:12])
            h.src = (str(ipaddress.IPv4Address(src)), sp)
            h.dst = (str(ipaddress.IPv4Address(dst)), dp)
            rest = body[12:]
        elif fam == 0x21:
            src, dst, sp, dp = struct.unpack("!16s16sHH", body[:36])
            h.src = (str(ipaddress.IPv6Address(src)), sp)
            h.dst = (str(ipaddress.IPv6Address(dst)), dp)
            rest = body[36:]
        else:
            raise AssertionError(f"family/protocol byte {fam:#x}")
        while rest:
            assert len(rest) >= 3, "truncated TLV"
            t, n = rest[0], struct.unpack("!H", rest[1:3])[0]
            assert len(rest) >= 3 + n, "TLV overruns the header"
            h.tlvs[t] = rest[3:3 + n]
            rest = rest[3 + n:]
        return h
    assert first.startswith(b"PROXY "), f"no PROXY header: {first!r}"
    line = first
    while not line.endswith(b"\r\n"):
        line += read_exact(sock, 1)
        assert len(line) <= 108, "v1 line too long"
    parts = line[:-2].decode().split(" ")
    h.version = 1
    h.src = (parts[2], int(parts[4]))
    h.dst = (parts[3], int(parts[5]))
    return h


def make_cert(directory, names):
    """A self-signed certificate for names; returns (certfile, keyfile)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Backend:
    """A threaded server on (host, port) that records each connection's PROXY header.

    mode: 'tls-echo'   TLS at once, then echo every line back;
          'smtp-tls'   TLS at once (the edge answered STARTTLS), then a tiny SMTP server;
          'banner'     plaintext: send a 220 banner, then echo lines (passthrough);
          'http'       read a request head, answer 200 naming this backend;
          'hold'       read nothing until release() is called, then count bytes to EOF.
    proxy: 'v2', 'v1' or None (what the backend expects first).
    """

    def __init__(self, host, port, name, mode, certs=None, proxy="v2"):
        self.name, self.mode, self.proxy = name, mode, proxy
        self.headers = []
        self.received = []           # per connection: bytes/lines seen after the header
        self.errors = []
        self.released = threading.Event()
        self.held_bytes = []
        self.ctx = None
        if certs is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*certs)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.threads = []
        self._stop = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        conn.settimeout(30)
        try:
            if self.proxy is not None:
                h = read_proxy(conn)
                self.headers.append(h)
            getattr(self, "_" + self.mode.replace("-", "_"))(conn)
        except Exception as e:  # recorded for the test to report
            self.errors.append(repr(e))
        finally:
            conn.close()

    def _lines(self, f, record):
        for line in f:
            record.append(line)
            yield line

    def _tls_echo(self, conn):
        tls = self.ctx.wrap_socket(conn, server_side=True)
        record = []
        self.received.append(record)
        f = tls.makefile("rwb")
        for line in self._lines(f, record):
            f.write(b"echo " + self.name.encode() + b" " + line)
            f.flush()
        tls.close()

    def _smtp_tls(self, conn):
        tls = self.ctx.wrap_socket(conn, server_side=True)
        record = []
        self.received.append(record)
        f = tls.makefile("rwb")
        for line in self._lines(f, record):
            verb = line.split(b" ")[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                f.write(b"250-" + self.name.encode() + b" after TLS\r\n250 SIZE 10485760\r\n")
            elif verb == b"QUIT":
                f.write(b"221 bye\r\n")
                f.flush()
                break
            else:
                f.write(b"250 ok " + self.name.encode() + b"\r\n")
            f.flush()
        tls.close()

    def _banner(self, conn):
        record = []
        self.received.append(record)
        conn.sendall(b"220 " + self.name.encode() + b" ESMTP backend\r\n")
        f = conn.makefile("rwb")
        for line in self._lines(f, record):
            if line.strip().upper() == b"QUIT":
                f.write(b"221 bye\r\n")
                f.flush()
                break
            f.write(b"250 " + self.name.encode() + b" " + line)
            f.flush()

    def _http(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        self.received.append([head])
        body = self.name.encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))

    def _hold(self, conn):
        self.released.wait(60)
        total = 0
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            total += len(chunk)
        self.held_bytes.append(total)
        conn.sendall(b"got %d\n" % total)

    def release(self):
        self.released.set()

    def close(self):
        self._stop = True
        self.released.set()
        try:
            self.sock.close()
        except OSError:
            pass
