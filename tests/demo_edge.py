"""make demo's relay step: a sender talks to the edge, which answers up to
STARTTLS, routes on the TLS server name and hands the encrypted stream to
the home (here a stand-in from the edge's tests, with the home's bootstrap
certificate) behind a PROXY v2 header.

    demo_edge.py CERT KEY EDGE_PORT HOME_PORT
"""
import pathlib
import smtplib
import ssl
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "integration"))
from edgepeer import Backend  # noqa: E402


def main():
    cert, key, edge_port, home_port = sys.argv[1:5]
    home = Backend("127.0.0.2", int(home_port), "mail.example.test", "smtp-tls", (cert, key))
    s = smtplib.SMTP("127.0.0.1", int(edge_port), local_hostname="sender.example.org", timeout=10)
    s.set_debuglevel(1)
    s.ehlo()
    ctx = ssl.create_default_context(cafile=cert)
    s._host = "mail.example.test"       # the name sent as SNI
    s.starttls(context=ctx)
    code, text = s.ehlo()
    s.quit()
    h = home.headers[-1]
    print(f"\nthe home received a PROXY v{h.version} header:")
    print(f"  client {h.src[0]}:{h.src[1]} -> edge {h.dst[0]}:{h.dst[1]}")
    print(f"  authority (SNI) {h.authority}, unique id {h.unique_id.decode()}")
    version, flags, proto, ehlo = h.homeport
    print(f"  Homeport TLV: version {version}, STARTTLS answered={bool(flags & 1)}, "
          f"proto={'SMTP' if proto == 1 else proto}, client said EHLO {ehlo}")
    print(f"after TLS the home itself answered EHLO: {code} {text.decode().splitlines()[0]}")
    home.close()
    if home.errors:
        sys.exit(f"demo: the home stand-in failed: {home.errors}")


if __name__ == "__main__":
    main()
