"""homeportd's IMAP server with real clients (issue 6): the npm imapflow
client, mbsync (isync) and curl.

One homeportd serves the module, as homeportd.conf would configure it:

    mx      smtp    127.0.0.1: mail reaches the users here
    imap    imap    127.0.0.1: STARTTLS before LOGIN
    imaps   imaps   127.0.0.1: implicit TLS

with its self-signed certificate for mx.home.test (`homeport keys
selfcert`, as homed.py makes it), which the clients trust, and users
added with `homeport user add`, one per client check so that each starts
from an empty INBOX. The checks are imap_clients.py's; the same tests run
against Dovecot in test_imap_clients_dovecot.py, which shows what passing
looks like.
"""
import pytest

from homed import HOST, Home
from imap_clients import (Account, check_curl, check_imapflow, check_mbsync,
                          smtp_connector)

DOMAIN = "example.test"
SERVERNAME = "mx.home.test"
USERS = ("flow", "sync", "sync-starttls", "curl")


@pytest.fixture(scope="module")
def home(bindir, tmp_path_factory):
    h = Home(bindir.parent, tmp_path_factory.mktemp("home"), hostname=SERVERNAME)
    h.listener("mx", "smtp")
    h.listener("imap", "imap")
    h.listener("imaps", "imaps")
    h.start()
    try:
        h.add_domain(DOMAIN)
        h.passwords = {u: h.add_user(f"{u}@{DOMAIN}") for u in USERS}
        yield h
    finally:
        status = h.stop()
        assert status == 0, h.tail()


def account(home, local):
    return Account("homeportd", HOST, home.port("imaps"), home.port("imap"), f"{local}@{DOMAIN}",
                   home.passwords[local], home.state_dir / "keys" / "tls.crt", SERVERNAME,
                   smtp_connector(HOST, home.port("mx")))


def test_imapflow_over_imaps(home):
    check_imapflow(account(home, "flow"), tls="implicit")


def test_imapflow_over_starttls(home):
    check_imapflow(account(home, "flow"), tls="starttls")


def test_mbsync_round_trip_of_1000_messages(home, tmp_path):
    check_mbsync(account(home, "sync"), tmp_path)


def test_mbsync_over_starttls(home, tmp_path):
    check_mbsync(account(home, "sync-starttls"), tmp_path, n=50, tls="starttls")


def test_curl_fetches_a_message_and_a_section(home):
    check_curl(account(home, "curl"))
