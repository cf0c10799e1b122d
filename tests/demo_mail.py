"""make demo's mail step: a sender delivers a message through the edge to
homeportd, and the message is read back from the home's store.

The sender talks to the edge, which answers up to STARTTLS, routes on the
TLS server name and hands the encrypted stream to homeportd behind a PROXY
v2 header whose Homeport TLV says STARTTLS was answered; homeportd starts
TLS at once, takes the message, and answers 250 once it is durable.

    demo_mail.py CERT EDGE_PORT DB_PATH RECIPIENT MAILBOX_OWNER
"""
import smtplib
import sqlite3
import ssl
import sys

MESSAGE = """From: Sender <sender@example.org>
To: {rcpt}
Subject: Hello through the edge

Carried encrypted from the edge to the home; stored durably before the 250.
"""


def stored_messages(db_path, user):
    """The user's INBOX messages, oldest first, as bytes."""
    local, domain = user.split("@")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT m.body_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
            "JOIN users u ON u.id = b.user_id JOIN domains d ON d.id = u.domain_id "
            "WHERE d.name = ? AND u.local = ? AND b.name = 'INBOX' ORDER BY m.id", (domain, local)).fetchall()
        return [b"".join(c for (c,) in db.execute(
            "SELECT data FROM body_chunks WHERE body_id = ? ORDER BY start", (body_id,)))
            for (body_id,) in rows]
    finally:
        db.close()


def main():
    cert, edge_port, db_path, rcpt, owner = sys.argv[1:6]
    before = len(stored_messages(db_path, owner))
    s = smtplib.SMTP("127.0.0.1", int(edge_port), local_hostname="sender.example.org", timeout=10)
    s.set_debuglevel(1)
    code, banner = s.ehlo()
    ctx = ssl.create_default_context(cafile=cert)
    s._host = "mail.example.test"       # the name sent as SNI
    s.starttls(context=ctx)
    code, text = s.ehlo()
    print(f"\nafter STARTTLS the home itself answered EHLO: {code} {text.decode().splitlines()[0]}")
    refused = s.sendmail("sender@example.org", [rcpt], MESSAGE.format(rcpt=rcpt).replace("\n", "\r\n"))
    s.quit()
    if refused:
        sys.exit(f"demo: refused: {refused}")
    stored = stored_messages(db_path, owner)
    if len(stored) != before + 1:
        sys.exit(f"demo: {len(stored) - before} new messages in {owner}'s INBOX, want 1")
    head = stored[-1].split(b"\r\n\r\n", 1)[0].decode()
    print(f"\n{rcpt} is {owner}: their INBOX in the home's store now holds it; its header as stored:")
    print("  " + head.replace("\r\n", "\n  "))


if __name__ == "__main__":
    main()
