"""The IMAP client checks of pending_test_imap_clients.py, against Dovecot.

imap_clients.py's checks (imapflow, mbsync, curl) are written before
homeportd's IMAP server exists. Run here against a private Dovecot
(tests/integration/mta.py) on 127.0.0.1, they show that the checks
themselves are right: a real server that does what the issue asks passes
them. Dovecot gets the same kind of certificate homeportd has (`homeport
keys selfcert` for mx.home.test), so the clients' trust of a self-signed
certificate is checked too; mail reaches it through LMTP, whose 250 means
stored, as homeportd's SMTP 250 does.

The tests are those of pending_test_imap_clients.py, one for one, with
the server swapped.
"""
import os
import subprocess

import pytest

import mta
from imap_clients import (Account, check_curl, check_imapflow, check_mbsync,
                          lmtp_connector)

DOMAIN = "example.test"
SERVERNAME = "mx.home.test"
USERS = ("flow", "sync", "sync-starttls", "curl")


def traversable(path):
    """Let Dovecot's unprivileged processes reach path through its parents."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            os.chmod(p, mode | 0o001)


@pytest.fixture(scope="module")
def dovecot(bindir, tmp_path_factory):
    d = tmp_path_factory.mktemp("dovecot-imap")
    traversable(d)
    cert, key = d / "tls.crt", d / "tls.key"
    subprocess.run([str(bindir / "homeport"), "keys", "selfcert", "-c", str(cert), "-k", str(key),
                    "-f", SERVERNAME], check=True, capture_output=True, timeout=60)
    dv = mta.Dovecot(d / "dovecot", users=[], imap=True, tls=(cert, key), servername=SERVERNAME,
                     passwords={f"{u}@{DOMAIN}": f"pw-{u}-{os.urandom(6).hex()}" for u in USERS})
    try:
        yield dv
    finally:
        dv.stop()


def account(dv, local):
    return Account("dovecot", mta.HOST, dv.imaps_port, dv.imap_port, f"{local}@{DOMAIN}",
                   dv.passwords[local], dv.cert, dv.servername, lmtp_connector(dv.lmtp_socket))


def test_imapflow_over_imaps(dovecot):
    check_imapflow(account(dovecot, "flow"), tls="implicit")


def test_imapflow_over_starttls(dovecot):
    check_imapflow(account(dovecot, "flow"), tls="starttls")


def test_mbsync_round_trip_of_1000_messages(dovecot, tmp_path):
    check_mbsync(account(dovecot, "sync"), tmp_path)


def test_mbsync_over_starttls(dovecot, tmp_path):
    check_mbsync(account(dovecot, "sync-starttls"), tmp_path, n=50, tls="starttls")


def test_curl_fetches_a_message_and_a_section(dovecot):
    check_curl(account(dovecot, "curl"))
