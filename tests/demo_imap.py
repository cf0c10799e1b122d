#!/usr/bin/env python3
"""make demo, one step: the user reads the message just delivered over
IMAPS from homeportd, as a mail client would (TLS checked against the
home's certificate, LOGIN, SELECT, SEARCH, FETCH), and prints what came."""
import imaplib
import ssl
import sys


def main():
    cert, host, port, user, password, subject = sys.argv[1:7]
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False          # the certificate names mail.example.test; we dial an address
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=10)
    print(f"greeting: {m.welcome.decode()[:80]}...")
    m.login(user, password)
    typ, data = m.select("INBOX")
    print(f"SELECT INBOX: {int(data[0])} message(s)")
    typ, data = m.uid("SEARCH", None, "SUBJECT", f'"{subject}"')
    uids = data[0].split()
    if typ != "OK" or len(uids) != 1:
        sys.exit(f"demo: SEARCH SUBJECT {subject!r} found {uids}, want one message")
    typ, data = m.uid("FETCH", uids[0], "(FLAGS ENVELOPE BODY.PEEK[TEXT])")
    meta, text = data[0][0].decode(), data[0][1].decode()
    print(f"UID SEARCH SUBJECT found UID {uids[0].decode()}; FETCH ENVELOPE:\n  {meta[meta.index('ENVELOPE'):][:160]}...")
    print("its text:\n  " + text.strip().replace("\r\n", "\n  "))
    m.logout()


if __name__ == "__main__":
    main()
