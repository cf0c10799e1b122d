#!/usr/bin/python3
"""Small TCP endpoints for bench tests, run inside a namespace.

    nettool.py echo ADDR PORT            accept connections, echo every byte; prints "ready"
    nettool.py send ADDR PORT BYTES      send BYTES random bytes (or --pattern TEXT repeated),
                                         expect them echoed back; prints "ok BYTES" or exits 1
    nettool.py connect ADDR PORT         exit 0 if a TCP connection opens within the timeout

Every operation is bounded by --timeout seconds (default 10).
"""
import argparse
import os
import socket
import sys
import threading


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo(args):
    s = socket.socket(family(args.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.addr, args.port))
    s.listen(16)
    print("ready", flush=True)

    def serve(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                c.sendall(data)

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def send(args):
    if args.pattern:
        unit = args.pattern.encode()
        payload = (unit * (args.bytes // len(unit) + 1))[:args.bytes]
    else:
        payload = os.urandom(args.bytes)
    with socket.create_connection((args.addr, args.port), timeout=args.timeout) as c:
        got = bytearray()

        def reader():
            while len(got) < len(payload):
                data = c.recv(65536)
                if not data:
                    return
                got.extend(data)

        t = threading.Thread(target=reader)
        t.start()
        c.sendall(payload)
        t.join(args.timeout)
    if bytes(got) != payload:
        print(f"echo mismatch: sent {len(payload)}, got {len(got)}", file=sys.stderr)
        return 1
    print(f"ok {len(payload)}")
    return 0


def connect(args):
    try:
        socket.create_connection((args.addr, args.port), timeout=args.timeout).close()
    except OSError as e:
        print(f"no connection: {e}", file=sys.stderr)
        return 1
    print("connected")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["echo", "send", "connect"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("bytes", type=int, nargs="?", default=0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--pattern", default="")
    args = p.parse_args()
    return {"echo": echo, "send": send, "connect": connect}[args.op](args) or 0


if __name__ == "__main__":
    sys.exit(main())
