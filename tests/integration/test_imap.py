"""homeportd's IMAP server with Python's imaplib and a raw socket:
every command, several sessions on one mailbox, IDLE woken by an SMTP
delivery, and hostile input answered with BAD/NO while the server stays
healthy."""
import imaplib
import re
import smtplib
import socket
import time

import pytest

from homed import Home, proxy_header, tls_context

DOMAIN = "example.test"
ALICE, BOB = "alice@example.test", "bob@example.test"
CAROL_FREE = "carol@example.test"       # a mailbox no other test writes to


@pytest.fixture(scope="module")
def home(bindir, tmp_path_factory):
    h = Home(bindir.parent, tmp_path_factory.mktemp("home"), hostname="mx.home.test",
             smtp={"message_size_max": 1024 * 1024},
             auth={"fail_delay": "100ms", "fail_delay_max": "200ms", "lockout_failures": 50,
                   "lockout_time": "10m"})
    h.listener("mx", "smtp")
    h.listener("imap", "imap")
    h.listener("imaps", "imaps")
    h.listener("edge", "imaps", proxy_from="127.0.0.1")
    h.start()
    try:
        h.add_domain(DOMAIN)
        h.passwords = {ALICE: h.add_user(ALICE), BOB: h.add_user(BOB, quota=10 * 1024 * 1024),
                       CAROL_FREE: h.add_user(CAROL_FREE)}
        yield h
    finally:
        status = h.stop()
        assert status == 0, h.tail()


def deliver(home, rcpt, subject, body="Hello\r\n", headers=""):
    msg = (f"From: Sender <sender@peer.test>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
           f"Date: Tue, 03 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@peer.test>\r\n"
           f"{headers}\r\n{body}")
    with smtplib.SMTP("127.0.0.1", home.port("mx"), timeout=10) as s:
        s.sendmail("sender@peer.test", [rcpt], msg.encode())


def login(home, user=BOB):
    m = imaplib.IMAP4_SSL("127.0.0.1", home.port("imaps"), ssl_context=tls_context(), timeout=10)
    m.login(user, home.passwords[user])
    return m


class Raw:
    """IMAP over TLS, byte-exact: send lines, read until the tagged answer."""

    def __init__(self, home, tls=True, port=None):
        sock = socket.create_connection(("127.0.0.1", port or home.port("imaps" if tls else "imap")), timeout=10)
        self.s = tls_context().wrap_socket(sock) if tls else sock
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag):
        out = []
        while True:
            line = self.line()
            out.append(line)
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                n = int(m.group(1))
                while len(self.buf) < n:
                    data = self.s.recv(65536)
                    if not data:
                        raise EOFError
                    self.buf += data
                out.append(self.buf[:n])
                self.buf = self.buf[n:]
            if line.startswith(tag + b" "):
                return out

    def cmd(self, tag, text):
        self.s.sendall(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def close(self):
        self.s.close()


def bad(call, *args):
    """imaplib raises on BAD: the command was refused as malformed."""
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        call(*args)


def alive(home):
    m = login(home)
    assert m.noop()[0] == "OK"
    m.logout()


# ---- login ----

def test_plain_port_needs_starttls(home):
    r = Raw(home, tls=False)
    assert b"STARTTLS" in r.greeting and b"LOGINDISABLED" in r.greeting
    out = r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())
    assert out[-1].startswith(b"a1 NO [PRIVACYREQUIRED]")
    out = r.cmd(b"a2", b"AUTHENTICATE PLAIN AGJvYgB4")
    assert out[-1].startswith(b"a2 NO")
    r.close()
    m = imaplib.IMAP4("127.0.0.1", home.port("imap"), timeout=10)
    m.starttls(ssl_context=tls_context())
    assert "AUTH=PLAIN" in m.capabilities and "LOGINDISABLED" not in m.capabilities
    assert m.login(BOB, home.passwords[BOB])[0] == "OK"
    m.logout()


def test_authenticate_plain_with_and_without_initial_response(home):
    import base64
    token = base64.b64encode(b"\0" + BOB.encode() + b"\0" + home.passwords[BOB].encode())
    r = Raw(home)
    assert r.cmd(b"a1", b"AUTHENTICATE PLAIN " + token)[-1].startswith(b"a1 OK")
    r.close()
    r = Raw(home)
    r.s.sendall(b"a1 AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ "
    r.s.sendall(token + b"\r\n")
    assert r.until(b"a1")[-1].startswith(b"a1 OK")
    r.close()
    r = Raw(home)
    r.s.sendall(b"a1 AUTHENTICATE PLAIN\r\n")
    r.line()
    r.s.sendall(b"*\r\n")
    assert r.until(b"a1")[-1].startswith(b"a1 BAD")
    assert r.cmd(b"a2", b"NOOP")[-1].startswith(b"a2 OK")
    r.close()


def test_wrong_password_is_refused_and_delayed(home):
    r = Raw(home)
    t = time.monotonic()
    out = r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" wrong")
    assert out[-1].startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    assert time.monotonic() - t >= 0.09
    out = r.cmd(b"a2", b"SELECT INBOX")
    assert out[-1].startswith(b"a2 NO")     # still not logged in
    r.close()


def test_session_commands(home):
    r = Raw(home)
    assert r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2")
    out = r.cmd(b"a1", b"CAPABILITY")
    assert b"AUTH=PLAIN" in out[0] and out[-1].startswith(b"a1 OK")
    out = r.cmd(b"a2", b'ID ("name" "test")')
    assert out[0].startswith(b"* ID (") and out[-1].startswith(b"a2 OK")
    assert r.cmd(b"a3", b"NAMESPACE")[-1].startswith(b"a3 NO")     # not before login
    r.cmd(b"a4", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())
    assert r.cmd(b"a5", b"LOGIN x y")[-1].startswith(b"a5 BAD")     # already logged in
    assert r.cmd(b"a6", b"NAMESPACE")[0] == b'* NAMESPACE (("" "/")) NIL NIL'
    assert r.cmd(b"a7", b"ENABLE IMAP4rev2 UTF8=ACCEPT NOSUCH")[0] == b"* ENABLED IMAP4rev2 UTF8=ACCEPT"
    out = r.cmd(b"a8", b"SELECT INBOX")
    assert not any(x.endswith(b" RECENT") for x in out)            # IMAP4rev2 has no \Recent
    assert b'* LIST () "/" "INBOX"' in out
    assert r.cmd(b"a9", b"CHECK")[-1].startswith(b"a9 OK")
    assert r.cmd(b"b1", b"UNSELECT")[-1].startswith(b"b1 OK")
    assert r.cmd(b"b2", b"FETCH 1 FLAGS")[-1].startswith(b"b2 BAD")  # nothing selected now
    assert r.cmd(b"b3", "CREATE \"Ünïcode\"".encode())[-1].startswith(b"b3 OK")   # UTF8=ACCEPT: as it is
    assert any("Ünïcode".encode() in x for x in r.cmd(b"b4", b'LIST "" *'))
    out = r.cmd(b"b5", b"LOGOUT")
    assert out[0].startswith(b"* BYE") and out[-1].startswith(b"b5 OK")
    with pytest.raises(EOFError):
        r.line()
    r.close()


def test_behind_the_edge_the_proxy_client_is_the_client(home):
    sock = socket.create_connection(("127.0.0.1", home.port("edge")), timeout=10)
    sock.sendall(proxy_header("198.51.100.7", 40000, dport=993, unique_id=b"edgesid00001"))
    s = tls_context().wrap_socket(sock)
    r = Raw.__new__(Raw)
    r.s, r.buf = s, b""
    assert r.line().startswith(b"* OK")
    assert r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" nope")[-1].startswith(b"a1 NO")
    home.wait_for(r"event=auth result=failed user=\"bob@example.test\" known=yes peer=198\.51\.100\.7 ")
    assert r.cmd(b"a2", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())[-1].startswith(b"a2 OK")
    r.cmd(b"a3", b"LOGOUT")
    r.close()
    home.wait_for(r"event=session listener=edge mode=imaps peer=127\.0\.0\.1:\d+ client=198\.51\.100\.7:40000 "
                  r"edge_sid=\"edgesid00001\" tls=yes .* user=\"bob@example.test\" commands=3 errors=0")
    # Without a PROXY header (a ClientHello at once): closed.
    with socket.create_connection(("127.0.0.1", home.port("edge")), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")
        assert raw.recv(100) == b""


# ---- mailboxes ----

def test_list_special_use_and_children(home):
    m = login(home)
    typ, data = m.list('""', "*")
    assert typ == "OK"
    names = {re.search(rb'"/" "?([^"]*)"?$', d).group(1): d for d in data}
    assert b"INBOX" in names and b"\\Sent" in names[b"Sent"] and b"\\Trash" in names[b"Trash"]
    assert m.create("Work/Projects")[0] == "OK"
    typ, data = m.list('""', "%")
    work = [d for d in data if d.endswith(b'"Work"')]
    assert work and b"\\HasChildren" in work[0]
    typ, data = m.list('""', "Work/%")
    assert any(d.endswith(b'"Work/Projects"') for d in data)
    typ, data = m._simple_command("LIST", '(SPECIAL-USE)', '""', "*")
    data = m._untagged_response(typ, data, "LIST")[1]
    assert all(re.search(rb"\\(Sent|Trash|Drafts|Junk|Archive)", d) for d in data) and len(data) == 5
    typ, data = m._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES UIDNEXT))")
    assert typ == "OK"
    assert any(b"STATUS" in d or b"MESSAGES" in d for d in m.untagged_responses.get("STATUS", []))
    m.untagged_responses.clear()
    assert m.list('""', '""')[1][0] == b'(\\Noselect) "/" ""'
    m.logout()


def test_create_rename_delete_subscribe(home):
    m = login(home)
    assert m.create("Tmp")[0] == "OK"
    assert m.create("Tmp")[0] == "NO"
    assert m.subscribe("Tmp")[0] == "OK"
    assert any(d.endswith(b'"Tmp"') for d in m.lsub('""', "*")[1])
    assert m.rename("Tmp", "Tmp2")[0] == "OK"
    assert any(d.endswith(b'"Tmp2"') for d in m.lsub('""', "*")[1])   # the subscription followed
    assert m.delete("Tmp2")[0] == "OK"
    assert m.delete("Tmp2")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    assert m.unsubscribe("Tmp2")[0] == "OK"
    # A non-ASCII name in modified UTF-7, read back the same.
    assert m.create("&AMk-t&AOk-")[0] == "OK"
    assert any(d.endswith(b'"&AMk-t&AOk-"') for d in m.list('""', "*")[1])
    m.logout()


def test_status_and_quota(home):
    deliver(home, BOB, "status one")
    m = login(home)
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE HIGHESTMODSEQ)")
    assert typ == "OK"
    fields = dict(re.findall(rb"([A-Z]+) (\d+)", data[0]))
    assert int(fields[b"MESSAGES"]) >= 1 and int(fields[b"SIZE"]) > 0
    bad(m.status, "INBOX", "(BOGUS)")
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK"
    assert re.search(rb"STORAGE \d+ 10240", b" ".join(x for x in data[1] if x))
    m.logout()


# ---- messages ----

MULTIPART = ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n", (
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe plain part\r\n"
    "--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1--\r\n"))


def test_select_fetch_and_sections(home):
    deliver(home, ALICE, "fetch me", body=MULTIPART[1], headers=MULTIPART[0])
    m = login(home, ALICE)
    typ, data = m.select("INBOX")
    n = int(data[0])
    for key in ("FLAGS", "EXISTS", "UIDVALIDITY", "UIDNEXT"):
        assert key in m.untagged_responses
    typ, data = m.fetch(str(n), "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
    text = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b'"fetch me"' in text and b'"mixed"' in text.lower() and b'"octet-stream"' in text.lower()
    typ, data = m.fetch(str(n), "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                                "BODY.PEEK[TEXT]<0.4>)")
    parts = [x[1] for x in data if isinstance(x, tuple)]
    assert parts[0] == b"The plain part"
    assert parts[1].startswith(b"Content-Type: application/octet-stream")
    assert parts[2] == b"Subject: fetch me\r\n\r\n"
    assert parts[3] == b"--b1"
    assert b"\\Seen" not in m.fetch(str(n), "(FLAGS)")[1][0]      # PEEK left it unseen
    typ, data = m.fetch(str(n), "(BODY[])")
    assert data[0][1].endswith(MULTIPART[1].encode())
    assert b"\\Seen" in m.fetch(str(n), "(FLAGS)")[1][0]
    typ, data = m.fetch(str(n), "(RFC822.HEADER)")
    assert data[0][1].startswith(b"Return-Path:") and data[0][1].endswith(b"\r\n\r\n")
    assert m.fetch("999999", "(FLAGS)")[0] == "OK"        # past the end: nothing
    bad(m.fetch, str(n), "(NOSUCHITEM)")
    m.logout()


def test_binary_fetch(home):
    deliver(home, CAROL_FREE, "binary", body=MULTIPART[1], headers=MULTIPART[0])
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + CAROL_FREE.encode() + b" " + home.passwords[CAROL_FREE].encode())
    assert b"BINARY" in r.cmd(b"a2", b"CAPABILITY")[0].split()
    n = int([x for x in r.cmd(b"a3", b"SELECT INBOX") if x.endswith(b" EXISTS")][0].split()[1])
    out = r.cmd(b"a4", b"FETCH %d (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1] BINARY.PEEK[2]<1.2>)" % n)
    assert out[0].endswith(b"BINARY[2] ~{4}"), out     # NULs: a literal8
    assert out[1] == b"\0\1\2\3"
    assert b"BINARY.SIZE[2] 4 BINARY[1] {14}" in out[2], out
    assert out[3] == b"The plain part"
    assert out[4].endswith(b"BINARY[2]<1> {2}") and out[5] == b"\1\2", out     # no NUL: a literal
    out = r.cmd(b"a5", b"FETCH %d (BINARY.PEEK[9] BINARY.PEEK[])" % n)
    assert b"BINARY[9] NIL" in out[0], out
    assert out[1].endswith(MULTIPART[1].encode()), out
    out = r.cmd(b"a6", b"FETCH %d (FLAGS)" % n)
    assert b"\\Seen" not in out[0]                      # PEEK
    r.cmd(b"a7", b"FETCH %d (BINARY[1])" % n)
    assert b"\\Seen" in r.cmd(b"a8", b"FETCH %d (FLAGS)" % n)[0]
    r.close()


def test_examine_is_read_only(home):
    deliver(home, ALICE, "read only")
    m = login(home, ALICE)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    n = int(data[0])
    assert m.store(str(n), "+FLAGS", "\\Flagged")[0] == "NO"
    m.fetch(str(n), "(BODY[TEXT])")
    assert b"\\Seen" not in m.fetch(str(n), "(FLAGS)")[1][0]
    m.logout()


def test_store_flags_and_keywords(home):
    deliver(home, ALICE, "flags")
    m = login(home, ALICE)
    n = int(m.select("INBOX")[1][0])
    typ, data = m.store(str(n), "+FLAGS", "(\\Flagged $Label1 Custom)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Label1" in data[0]
    typ, data = m.store(str(n), "-FLAGS", "($Label1)")
    assert b"$Label1" not in data[0] and b"Custom" in data[0]
    typ, data = m.store(str(n), "FLAGS.SILENT", "(\\Answered)")
    assert typ == "OK" and data == [None]
    assert m.fetch(str(n), "(FLAGS)")[1][0].endswith(b"FLAGS (\\Answered))")
    bad(m.store, str(n), "+FLAGS", "(\\Bogus)")
    m.logout()


def test_condstore_modseq_and_unchangedsince(home):
    deliver(home, ALICE, "condstore")
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + ALICE.encode() + b" " + home.passwords[ALICE].encode())
    out = r.cmd(b"a2", b"SELECT INBOX (CONDSTORE)")
    assert any(b"HIGHESTMODSEQ" in x for x in out)
    n = int([x for x in out if x.endswith(b" EXISTS")][0].split()[1])
    out = r.cmd(b"a3", b"FETCH %d (MODSEQ)" % n)
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", out[0]).group(1))
    out = r.cmd(b"a4", b"STORE %d (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % (n, modseq))
    assert out[-1].startswith(b"a4 OK") and b"MODIFIED" not in out[-1]
    out = r.cmd(b"a5", b"STORE %d (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % (n, modseq))
    assert out[-1].startswith(b"a5 OK [MODIFIED %d]" % n)
    out = r.cmd(b"a6", b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseq)
    assert len([x for x in out if x.startswith(b"* ") and b"FETCH" in x]) == 1
    r.close()


def test_search_criteria(home):
    for i in range(4):
        deliver(home, BOB, f"search {i}", body=f"needle{i} haystack\r\n", headers=f"X-Tag: t{i % 2}\r\n")
    m = login(home)
    m.select("INBOX")
    uid_of = {}
    typ, data = m.uid("SEARCH", None, "SUBJECT", '"search "')
    uids = [int(x) for x in data[0].split()]
    assert len(uids) == 4
    for u, i in zip(uids, range(4)):
        uid_of[i] = u
    assert m.uid("SEARCH", None, "BODY", "needle2")[1][0] == str(uid_of[2]).encode()
    assert m.uid("SEARCH", None, "TEXT", "NEEDLE3")[1][0] == str(uid_of[3]).encode()   # any case
    got = sorted(int(x) for x in m.uid("SEARCH", None, "HEADER", "X-Tag", "t1")[1][0].split())
    assert got == [uid_of[1], uid_of[3]]
    m.uid("STORE", str(uid_of[0]), "+FLAGS", "\\Flagged")
    assert m.uid("SEARCH", None, "FLAGGED", "SUBJECT", "search")[1][0] == str(uid_of[0]).encode()
    got = m.uid("SEARCH", None, "OR", "FLAGGED", "BODY", "needle1", "NOT", "DELETED")[1][0].split()
    assert sorted(int(x) for x in got) == [uid_of[0], uid_of[1]]
    assert m.uid("SEARCH", None, "UID", f"{uid_of[1]}:{uid_of[2]}", "SUBJECT", "search")[1][0].split() == \
        [str(uid_of[1]).encode(), str(uid_of[2]).encode()]
    assert m.search(None, "SENTON", "3-Nov-2026")[1][0] != b""
    assert m.search(None, "SENTBEFORE", "1-Jan-2000")[1][0] == b""
    assert m.search(None, "SINCE", "1-Jan-2000", "LARGER", "10")[1][0] != b""
    assert m.search(None, "KEYWORD", "Nope")[1][0] == b""
    typ, data = m._simple_command("UID", "SEARCH", "RETURN", "(MIN MAX COUNT)", "SUBJECT", "search")
    esearch = m.untagged_responses.pop("ESEARCH", [b""])[0]
    assert b"COUNT 4" in esearch and b"MIN %d" % uid_of[0] in esearch
    bad(m.search, None, "BOGUS")
    assert m.search("KOI8-R", "ALL")[0] == "NO"
    m.logout()


def test_the_text_index_follows_deliveries(home):
    """Deliveries are acknowledged before their text is indexed: homeportd
    indexes behind them by itself, and a SEARCH meanwhile misses nothing."""
    unindexed = "SELECT count(*) FROM bodies WHERE pending = 0 AND indexed = 0"
    for i in range(20):
        deliver(home, BOB, f"indexed behind {i}", body=f"qwzxvb{i:02d}\r\n")
    deadline = time.monotonic() + 10
    while home.query(unindexed)[0][0] > 0:
        assert time.monotonic() < deadline, "the index did not catch up"
        time.sleep(0.05)
    home.wait_for(r"event=store_index done=[1-9]\d* left=0")
    for i in range(30):
        deliver(home, ALICE, f"searched at once {i}", body=f"zyxwvu{i:02d}\r\n")
    m = login(home, ALICE)
    m.select("INBOX")
    assert len(m.search(None, "BODY", "zyxwvu")[1][0].split()) == 30
    m.logout()


def test_copy_move_and_uidplus(home):
    deliver(home, BOB, "to copy")
    deliver(home, BOB, "to move")
    m = login(home)
    n = int(m.select("INBOX")[1][0])
    typ, data = m.copy(f"{n - 1}", "Archive")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = m.uid("SEARCH", None, "SUBJECT", '"to move"')
    uid = data[0].split()[-1].decode()
    typ, data = m.uid("MOVE", uid, "Trash")
    assert typ == "OK"
    assert b"COPYUID" in b" ".join(m.untagged_responses.get("OK", [b""]))
    assert m.uid("SEARCH", None, "SUBJECT", '"to move"')[1][0] == b""
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]"), data
    m.select("Trash")
    assert m.search(None, "SUBJECT", '"to move"')[1][0] != b""
    m.logout()


def test_expunge_and_uid_expunge_never_reuse_uids(home):
    deliver(home, BOB, "expunge a")
    deliver(home, BOB, "expunge b")
    m = login(home)
    m.select("INBOX")
    a = m.uid("SEARCH", None, "SUBJECT", '"expunge a"')[1][0].decode()
    b = m.uid("SEARCH", None, "SUBJECT", '"expunge b"')[1][0].decode()
    m.uid("STORE", f"{a},{b}", "+FLAGS", "\\Deleted")
    typ, data = m._simple_command("UID", "EXPUNGE", a)
    assert typ == "OK"
    assert m.uid("SEARCH", None, "SUBJECT", '"expunge a"')[1][0] == b""
    assert m.uid("SEARCH", None, "SUBJECT", '"expunge b"')[1][0] == b.encode()
    assert m.expunge()[0] == "OK"
    deliver(home, BOB, "expunge c")
    m.noop()
    c = m.uid("SEARCH", None, "SUBJECT", '"expunge c"')[1][0].decode()
    assert int(c) > int(b)
    m.uid("STORE", c, "+FLAGS", "\\Deleted")
    assert m.close()[0] == "OK"
    m.select("INBOX")
    assert m.uid("SEARCH", None, "SUBJECT", '"expunge c"')[1][0] == b""
    m.logout()


def test_append_durable_with_flags_date_and_appenduid(home):
    m = login(home)
    msg = b"From: me@example.test\r\nSubject: appended\r\n\r\nkept as sent\r\n"
    typ, data = m.append("Drafts", "(\\Draft $Mine)", '"17-Jul-1996 02:44:25 -0700"', msg)
    assert typ == "OK"
    code = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert code, data
    validity, uid = int(code.group(1)), int(code.group(2))
    m.select("Drafts")
    assert int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(m.untagged_responses["OK"])).group(1)) == validity
    typ, data = m.uid("FETCH", str(uid), "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert data[0][1] == msg
    assert b"\\Draft" in data[0][0] and b"$Mine" in data[0][0]
    assert b'"17-Jul-1996 09:44:25 +0000"' in data[0][0]
    # Durable: the store has it (read back outside the daemon).
    assert any(x.body == msg for x in home.messages(BOB, mailbox="Drafts"))
    typ, data = m.append("NoSuchBox", None, None, msg)
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]"), data
    m.logout()


def test_append_refusals(home):
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())
    assert r.cmd(b"a2", b"APPEND Nowhere {5}")[-1].startswith(b"a2 NO [TRYCREATE]")
    assert r.cmd(b"a3", b"APPEND INBOX {%d}" % (2 * 1024 * 1024))[-1].startswith(b"a3 NO [TOOBIG]")
    assert r.cmd(b"a4", b"APPEND INBOX {%d}" % (9 * 1024 * 1024 + 900 * 1024))[-1].startswith(b"a4 NO")
    assert r.cmd(b"a5", b'APPEND INBOX "not a date" {5}')[-1].startswith(b"a5 BAD")
    # A non-synchronizing literal that is refused is read and dropped.
    out = r.cmd(b"a6", b"APPEND Nowhere {5+}\r\nhello")
    assert out[-1].startswith(b"a6 NO [TRYCREATE]")
    assert r.cmd(b"a7", b"NOOP")[-1].startswith(b"a7 OK")
    r.close()


# ---- several sessions ----

def test_idle_sees_a_delivery_within_a_second(home):
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + ALICE.encode() + b" " + home.passwords[ALICE].encode())
    out = r.cmd(b"a2", b"SELECT INBOX")
    exists = int([x for x in out if x.endswith(b" EXISTS")][0].split()[1])
    r.s.sendall(b"a3 IDLE\r\n")
    assert r.line().startswith(b"+")
    t = time.monotonic()
    deliver(home, ALICE, "while idling")
    r.s.settimeout(1.0)
    line = r.line()
    took = time.monotonic() - t
    assert line == b"* %d EXISTS" % (exists + 1), line
    assert took < 1.0
    r.s.settimeout(10)
    r.s.sendall(b"DONE\r\n")
    assert r.until(b"a3")[-1].startswith(b"a3 OK")
    r.close()


def test_flags_and_expunges_reach_other_sessions(home):
    deliver(home, ALICE, "shared one")
    deliver(home, ALICE, "shared two")
    a, b = login(home, ALICE), Raw(home)
    b.cmd(b"b1", b"LOGIN " + ALICE.encode() + b" " + home.passwords[ALICE].encode())
    b.cmd(b"b2", b"SELECT INBOX")
    a.select("INBOX")
    one = a.uid("SEARCH", None, "SUBJECT", '"shared one"')[1][0].decode()
    a.uid("STORE", one, "+FLAGS", "(\\Flagged \\Deleted)")
    out = b.cmd(b"b3", b"NOOP")
    assert any(b"FETCH" in x and b"\\Flagged" in x for x in out), out
    a.expunge()
    # Not during FETCH (RFC 9051 7.5.1): the EXPUNGE waits for the NOOP.
    out = b.cmd(b"b4", b"FETCH 1 (FLAGS)")
    assert not any(x.endswith(b" EXPUNGE") for x in out), out
    out = b.cmd(b"b5", b"NOOP")
    assert any(x.endswith(b" EXPUNGE") for x in out), out
    out = b.cmd(b"b6", b"UID SEARCH UID " + one.encode())
    assert out[0] == b"* SEARCH"
    a.logout()
    b.close()


def test_qresync_vanished_and_catching_up(home):
    for i in range(3):
        deliver(home, ALICE, f"qresync {i}")
    a, b = login(home, ALICE), Raw(home)
    b.cmd(b"b1", b"LOGIN " + ALICE.encode() + b" " + home.passwords[ALICE].encode())
    assert b"QRESYNC" in b.cmd(b"b2", b"ENABLE QRESYNC")[0]
    out = b.cmd(b"b3", b"SELECT INBOX")
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(out)).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(out)).group(1))
    a.select("INBOX")
    uids = [int(x) for x in a.uid("SEARCH", None, "SUBJECT", "qresync")[1][0].split()]
    a.uid("STORE", str(uids[0]), "+FLAGS", "(\\Deleted)")
    a.uid("STORE", str(uids[1]), "+FLAGS", "(\\Flagged)")
    a.expunge()
    out = b.cmd(b"b4", b"NOOP")
    assert b"* VANISHED %d" % uids[0] in out, out
    assert not any(x.endswith(b" EXPUNGE") for x in out)
    b.cmd(b"b5", b"UNSELECT")
    out = b.cmd(b"b6", b"SELECT INBOX (QRESYNC (%d %d))" % (validity, modseq))
    assert b"* VANISHED (EARLIER) %d" % uids[0] in out, out
    changed = [x for x in out if b"FETCH" in x and x.startswith(b"* ")]
    assert len(changed) == 1 and b"UID %d " % uids[1] in changed[0] and b"\\Flagged" in changed[0]
    out = b.cmd(b"b7", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
    assert out[0] == b"* VANISHED (EARLIER) %d" % uids[0], out
    assert b.cmd(b"b8", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].startswith(b"b8 BAD")
    a.logout()
    b.close()


# ---- hostile input ----

def test_hostile_input_gets_bad_and_the_server_lives(home):
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())
    out = r.cmd(b"a2", b"APPEND INBOX {999999999}")
    assert out[-1].startswith(b"a2 NO [TOOBIG]") or out[-1].startswith(b"a2 BAD")
    out = r.cmd(b"a3", b"LIST " + b"(" * 200 + b")" * 200 + b" \"\" *")
    assert out[-1].startswith(b"a3 BAD")
    out = r.cmd(b"a4", b"NOSUCHCOMMAND")
    assert out[-1].startswith(b"a4 BAD")
    out = r.cmd(b"a5", b"FETCH 1 FLAGS")
    assert out[-1].startswith(b"a5 BAD")                 # nothing selected
    r.s.sendall(b"\x00\xff\r\n")
    assert r.line().startswith(b"* BAD")
    assert r.cmd(b"a6", b"NOOP")[-1].startswith(b"a6 OK")
    r.close()
    # An unterminated literal, then the client goes away.
    r = Raw(home)
    r.s.sendall(b"a1 LOGIN {5}\r\n")
    assert r.line().startswith(b"+")
    r.s.sendall(b"ab")
    r.close()
    alive(home)


def test_thousands_of_pipelined_commands(home):
    r = Raw(home)
    r.cmd(b"a1", b"LOGIN " + BOB.encode() + b" " + home.passwords[BOB].encode())
    r.cmd(b"a2", b"SELECT INBOX")
    n = 5000
    r.s.sendall(b"".join(b"p%d NOOP\r\n" % i for i in range(n)) + b"last FETCH 1:* (FLAGS)\r\n")
    out = r.until(b"last")
    assert len([x for x in out if re.match(rb"p\d+ OK", x)]) == n
    assert out[-1].startswith(b"last OK")
    r.close()
    alive(home)


def test_too_many_errors_end_the_session(home):
    r = Raw(home)
    with pytest.raises(EOFError):
        for i in range(100):
            r.cmd(b"e%d" % i, b"BOGUS")
    r.close()
    alive(home)
