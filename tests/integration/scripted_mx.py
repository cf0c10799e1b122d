"""A scripted MX for the SMTP client's tests: a small SMTP server that
misbehaves on purpose, one way per connection, so that homeportd's client
meets what real servers rarely send.

    ScriptedMx(bench, host, addr)   started in host's namespace on addr:25;
                                    .play(scenario) sets what the next
                                    connections do; .connections() gives
                                    each finished connection's transcript

Scenarios (the server's side of the conversation):

    injection      offers STARTTLS, answers it with "220" and, in the same
                   write, a "250" the client never asked for (STARTTLS
                   response injection)
    garbage        answers EHLO with a line that is not an SMTP reply
    greeting421    greets with 421 and closes
    longline       answers EHLO with one line of 3000 bytes
    mismatch       answers RCPT with a two-line reply whose codes differ
    badtls         offers STARTTLS, answers it with "220", reads the client's
                   first TLS bytes and closes: a server whose TLS is broken
    nopipelining   a correct server that offers neither PIPELINING nor
                   STARTTLS; records, for each command, whether more bytes
                   had already arrived before it answered (a client that
                   pipelines without the extension)
    dropafterdata  takes the whole message and closes without an answer

Run as a script inside the namespace: python3 scripted_mx.py ADDR DIR
(it reads DIR/scenario before each connection, writes DIR/conn-N.json
after it, and ends by itself after SERVE_SECONDS).
"""
import json
import pathlib
import select
import socket
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
PY = "/usr/bin/python3"
SERVE_SECONDS = 600
READ_TIMEOUT = 30
LINE_MAX = 4096


class ScriptedMx:
    def __init__(self, bench, host, addr):
        import peers
        self.host = host
        self.addr = addr
        self.dir = bench.dir / f"scripted-mx-{addr}"
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.play("nopipelining")
        self.process = host.popen(PY, HERE / "scripted_mx.py", addr, self.dir, name="scripted-mx",
                                  log=self.dir / "server.log")
        peers._wait("the scripted MX listening", lambda: peers.listening(host, "tcp", addr, 25), 10,
                    self.process)

    def play(self, scenario):
        (self.dir / "scenario").write_text(scenario)

    def connections(self):
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("conn-*.json"),
                                                          key=lambda p: int(p.stem[5:]))]

    def stop(self):
        return self.process.stop()


# ---------------------------------------------------------------- the server

def _serve_one(conn, scenario):
    log = {"scenario": scenario, "commands": [], "early": [], "message": None, "error": None}
    buf = bytearray()

    def send(text):
        conn.sendall(text.encode())

    def line():
        while b"\n" not in buf:
            if len(buf) > LINE_MAX:
                raise EOFError("line too long")
            data = conn.recv(65536)
            if not data:
                raise EOFError("client closed")
            buf.extend(data)
        i = buf.index(b"\n")
        text = bytes(buf[:i]).decode(errors="replace").rstrip("\r")
        del buf[:i + 1]
        return text

    def pending():
        # Bytes already here before we answer: a client that did not wait.
        if buf:
            return True
        r, _, _ = select.select([conn], [], [], 0.2)
        return bool(r)

    if scenario == "greeting421":
        send("421 4.3.2 scripted: busy, try later\r\n")
        return log
    send("220 oddmx.example.test ESMTP scripted\r\n")
    while True:
        cmd = line()
        log["commands"].append(cmd.split(" ")[0].upper())
        verb = cmd[:4].upper()
        if scenario == "nopipelining" and verb in ("MAIL", "RCPT"):
            log["early"].append(pending())
        if verb in ("EHLO", "HELO"):
            if scenario == "garbage":
                send("hello there, I am not an SMTP reply\r\n")
                continue
            if scenario == "longline":
                send("250-oddmx.example.test\r\n250 " + "X" * 3000 + "\r\n")
                continue
            caps = ["250-oddmx.example.test", "250-SIZE 10000000", "250-8BITMIME"]
            if scenario in ("injection", "badtls"):
                caps.append("250-STARTTLS")
            send("\r\n".join(caps) + "\r\n250 ENHANCEDSTATUSCODES\r\n")
        elif verb == "STAR" and scenario == "badtls":
            send("220 2.0.0 go ahead\r\n")
            conn.recv(4096)         # the ClientHello, unanswered
            log["error"] = "closed during the TLS handshake"
            return log
        elif verb == "STAR":
            send("220 2.0.0 go ahead\r\n250 2.0.0 smuggled\r\n")
        elif verb == "MAIL":
            send("250 2.1.0 ok\r\n")
        elif verb == "RCPT":
            if scenario == "mismatch":
                send("450-4.2.0 first line\r\n550 5.1.1 second line\r\n")
            else:
                send("250 2.1.5 ok\r\n")
        elif verb == "DATA":
            send("354 go ahead\r\n")
            body = []
            while True:
                ln = line()
                if ln == ".":
                    break
                body.append(ln)
            log["message"] = "\n".join(body)
            if scenario == "dropafterdata":
                return log
            send("250 2.0.0 queued\r\n")
        elif verb == "QUIT":
            send("221 2.0.0 bye\r\n")
            return log
        elif verb == "RSET":
            send("250 2.0.0 ok\r\n")
        else:
            send("502 5.5.2 not here\r\n")


def _main(argv):
    addr, d = argv[1], pathlib.Path(argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 25))
    s.listen(16)
    s.settimeout(1.0)
    end = time.monotonic() + SERVE_SECONDS
    n = 0
    while time.monotonic() < end:
        try:
            conn, _peer = s.accept()
        except socket.timeout:
            continue
        n += 1
        conn.settimeout(READ_TIMEOUT)
        scenario = (d / "scenario").read_text().strip()
        try:
            log = _serve_one(conn, scenario)
        except (OSError, EOFError) as e:
            log = {"scenario": scenario, "error": str(e)}
        finally:
            conn.close()
        (d / f"conn-{n}.json").write_text(json.dumps(log))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
