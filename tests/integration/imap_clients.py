"""Real IMAP clients against an IMAP server (issue 6): the npm imapflow
client, mbsync (isync) and curl, with what each check needs around it.

The server is described by an Account: where its IMAPS and IMAP (STARTTLS)
listeners are, one user's name and password, the self-signed certificate
clients trust and the name in it, and how mail reaches that user (an SMTP
client for homeportd's MX listener, an LMTP client for Dovecot's socket):
a delivery returns once the server has answered 250, i.e. stored the
message. The same checks run against homeportd and against Dovecot, the
stand-in they were written and validated with (test_imap_clients_dovecot.py).

    acct = Account("dovecot", "127.0.0.1", imaps_port, imap_port, user,
                   password, cafile, servername, connect_mta)
    acct.deliver(message)                        # one message, stored
    deliver_many(acct, messages, sessions=8)     # in parallel sessions

    run_imapflow(acct)             # tests/clients/imapflow_check.mjs: JSON result
    check_imapflow(acct)           # ... and assert it held
    write_mbsyncrc(acct, path, maildir_root)    mbsync(rc, "-a")
    maildir_state(folder)          # {Message-ID: [flag letters, ...]} of a Maildir folder
    imap_state(acct, "INBOX")      # {Message-ID: [(uid, {flags}), ...]} as IMAP sees it
    check_mbsync(acct, tmp)        # 1,000 messages both ways, a change on each side
    curl_fetch(acct, "INBOX;UID=7")              # curl imaps://...: the bytes
    check_curl(acct)               # a message and a section by UID, imaps and STARTTLS

check_* raise AssertionError with what differed and return a report (a
dict) of what they saw. Everything runs on 127.0.0.1; every process is
waited for with a timeout (subprocess.run), so none outlives a check.
"""
import base64
import collections
import contextlib
import email.parser
import email.policy
import imaplib
import json
import os
import pathlib
import re
import secrets
import smtplib
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

REPO = pathlib.Path(__file__).resolve().parents[2]
CLIENTS = REPO / "tests" / "clients"
IMAPFLOW_CHECK = CLIENTS / "imapflow_check.mjs"
NODE = "node"
MBSYNC = "mbsync"
CURL = "curl"

SENDER = "clients@client.test"
IMAPFLOW_TIMEOUT = 120      # s for the whole imapflow check
IDLE_NOTICE_MS = 1000       # the bound: EXISTS within 1 s of delivery
MBSYNC_TIMEOUT = 300        # s for one mbsync run
CURL_TIMEOUT = 60           # s for one curl run
SYNC_MESSAGES = 1000        # the mbsync round trip
DELIVERY_SESSIONS = 8       # parallel SMTP/LMTP sessions for deliver_many


@dataclass
class Account:
    """One user on one IMAP server, and how mail reaches that user."""
    server: str                 # "homeportd", "dovecot": for messages
    host: str                   # 127.0.0.1
    imaps_port: int             # implicit TLS
    imap_port: int              # STARTTLS offered (before LOGIN)
    user: str                   # login name and mail address: local@domain
    password: str
    cafile: pathlib.Path        # the server's self-signed certificate
    servername: str             # the name in it
    connect_mta: Callable       # () -> a connected smtplib.SMTP or smtplib.LMTP

    def deliver(self, message, sender=SENDER):
        """Deliver message (bytes, CRLF lines) to self.user; returns once stored."""
        with contextlib.closing(self.connect_mta()) as s:
            refused = s.sendmail(sender, [self.user], message)
            s.quit()
        if refused:
            raise AssertionError(f"{self.server}: delivery refused: {refused}")

    def tls_context(self):
        """A client context that trusts the server's certificate, and only it."""
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        ctx.check_hostname = False      # we connect to 127.0.0.1; the chain is still checked
        return ctx

    @contextlib.contextmanager
    def imap(self):
        """Python imaplib over IMAPS, logged in: the checks' own view of the server."""
        m = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=self.tls_context(),
                              timeout=60)
        try:
            m.login(self.user, self.password)
            yield m
        finally:
            with contextlib.suppress(Exception):
                m.logout()


def smtp_connector(host, port, helo="client.test"):
    """connect_mta for an SMTP listener (homeportd's MX)."""
    return lambda: smtplib.SMTP(host, port, local_hostname=helo, timeout=60)


def lmtp_connector(socket_path):
    """connect_mta for an LMTP unix socket (Dovecot's)."""
    return lambda: smtplib.LMTP(str(socket_path), timeout=60)


def deliver_many(acct, messages, sessions=DELIVERY_SESSIONS, sender=SENDER):
    """Deliver every message (bytes) to acct.user over `sessions` parallel
    SMTP/LMTP sessions, each sending its share one after the other on one
    connection. Returns once all are stored; raises if one was refused."""
    errors = []
    shares = [messages[i::sessions] for i in range(sessions)]

    def send(share):
        try:
            with contextlib.closing(acct.connect_mta()) as s:
                for m in share:
                    refused = s.sendmail(sender, [acct.user], m)
                    if refused:
                        raise AssertionError(f"refused: {refused}")
                s.quit()
        except Exception as e:      # reported below, in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=send, args=(s,)) for s in shares if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError(f"{acct.server}: {len(errors)} delivery sessions failed: {errors[0]!r}")


# ---- messages ----------------------------------------------------------------

def message(message_id, subject, body, to, headers=()):
    """A plain text message as bytes with CRLF line ends."""
    lines = [f"From: Clients Check <{SENDER}>", f"To: <{to}>", f"Subject: {subject}",
             "Date: Mon, 02 Nov 2026 10:00:00 +0000", f"Message-ID: {message_id}",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii", *headers, ""]
    return ("\r\n".join(lines) + "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode()


_headers = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def message_id(data):
    """The Message-ID of a message (its bytes, or at least its header)."""
    mid = _headers.parsebytes(data).get("Message-ID")
    return mid.strip() if mid else None


# ---- imapflow ------------------------------------------------------------------

def run_imapflow(acct, tls="implicit", idle_timeout_ms=IDLE_NOTICE_MS, timeout=IMAPFLOW_TIMEOUT,
                 tmp=None):
    """Run tests/clients/imapflow_check.mjs against acct and answer its
    delivery requests (acct.deliver). Returns (result, stderr): result is
    the script's last JSON line ({"ok", "failures", "steps"}) with
    "exit" added; AssertionError if it printed none."""
    port = acct.imaps_port if tls == "implicit" else acct.imap_port
    argv = [NODE, str(IMAPFLOW_CHECK), "--host", acct.host, "--port", str(port),
            "--user", acct.user, "--tls", tls, "--ca", str(acct.cafile),
            "--servername", acct.servername, "--idle-timeout-ms", str(idle_timeout_ms),
            "--timeout-ms", str(int(timeout * 1000 / 5))]
    env = {**os.environ, "IMAP_PASSWORD": acct.password}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=CLIENTS)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)     # by its PID; the check ends either way
    timer.start()
    result, deliveries = None, 0
    try:
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "deliver":
                answer = {"id": ev["id"], "ok": True}
                try:
                    acct.deliver(base64.b64decode(ev["message"]), sender=ev["from"])
                    deliveries += 1
                except Exception as e:
                    answer = {"id": ev["id"], "ok": False, "error": repr(e)}
                with contextlib.suppress(BrokenPipeError):     # it died: its result says why
                    proc.stdin.write((json.dumps(answer) + "\n").encode())
                    proc.stdin.flush()
            elif ev.get("event") == "result":
                result = ev
        status = proc.wait(timeout)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    err = b"".join(stderr).decode(errors="replace")
    if result is None:
        raise AssertionError(f"imapflow_check printed no result (exit {proc.returncode}):\n{err}")
    result["exit"] = status
    result["deliveries"] = deliveries
    return result, err


def check_imapflow(acct, tls="implicit"):
    """imapflow: list, fetch, search, IDLE, move, append, flags (see the
    script's head); asserts that every check held and that the script's
    exit status says so too."""
    result, err = run_imapflow(acct, tls=tls)
    assert result["ok"] and result["exit"] == 0 and not result["failures"], \
        f"imapflow against {acct.server} ({tls}):\n" + "\n".join(result["failures"]) + \
        f"\nexit {result['exit']}\n{err}"
    assert result["deliveries"] == 4, result
    return result


# ---- mbsync --------------------------------------------------------------------

def write_mbsyncrc(acct, path, maildir_root, tls="implicit", patterns="INBOX"):
    """An .mbsyncrc (isync 1.4) with one channel, "sync": acct's IMAP store
    (far) and a Maildir under maildir_root (near, INBOX at
    maildir_root/INBOX), both ways (Sync All), mailboxes created and
    expunges carried both ways, state kept in the Maildir. The server's
    certificate is the only one trusted (SystemCertificates no).

    mbsync connects to acct.host (127.0.0.1) and has no way to give it
    another name. A certificate that is not a CA's (homeportd's, from
    `homeport keys selfcert`, is CA:FALSE) is for isync a "host"
    certificate: matched against the server's own and then trusted
    without a name check (mbsync(1), CertificateFile). A CA:TRUE
    self-signed one is used as a trust anchor instead, and its name must
    then match Host. Returns path."""
    path = pathlib.Path(path)
    root = pathlib.Path(maildir_root)
    root.mkdir(parents=True, exist_ok=True)
    pwfile = path.with_name(path.name + ".password")
    pwfile.write_text(acct.password + "\n")
    pwfile.chmod(0o600)
    path.write_text(f"""\
IMAPAccount far
Host {acct.host}
Port {acct.imaps_port if tls == "implicit" else acct.imap_port}
User {acct.user}
PassCmd "cat {pwfile}"
SSLType {"IMAPS" if tls == "implicit" else "STARTTLS"}
CertificateFile {acct.cafile}
SystemCertificates no

IMAPStore far
Account far

MaildirStore near
Path {root}/
Inbox {root}/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns {patterns}
Create Both
Expunge Both
SyncState *
Sync All
""")
    path.chmod(0o600)
    return path


def mbsync(rc, *args, timeout=MBSYNC_TIMEOUT):
    """mbsync -c rc ARGS (default: -a); CompletedProcess (text). Raises
    AssertionError unless it exits 0."""
    r = subprocess.run([MBSYNC, "-c", str(rc), *(args or ("-a",))], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"mbsync {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


MAILDIR_INFO = re.compile(r":2,([A-Za-z]*)$")


def maildir_files(folder):
    """Paths of the messages in a Maildir folder (new/ and cur/)."""
    folder = pathlib.Path(folder)
    return [p for sub in ("new", "cur") if (folder / sub).is_dir()
            for p in sorted((folder / sub).iterdir()) if not p.name.startswith(".")]


def maildir_state(folder):
    """{Message-ID: [flags, ...]} of a Maildir folder, one entry in the list
    per file with that Message-ID (so a duplicate shows as two): the flag
    letters of the file name's ":2," part (D F P R S T), sorted."""
    out = collections.defaultdict(list)
    for p in maildir_files(folder):
        with open(p, "rb") as f:
            head = f.read(16384).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        m = MAILDIR_INFO.search(p.name)
        out[message_id(head + b"\n\n")].append("".join(sorted(m.group(1))) if m else "")
    return dict(out)


FETCH_UID = re.compile(rb"\bUID (\d+)")
FETCH_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")


def imap_state(acct, mailbox="INBOX"):
    """{Message-ID: [(uid, frozenset(flags)), ...]} of a mailbox as IMAP
    shows it (imaplib, read-only, \\Recent left out), one entry per
    message (so a duplicate shows as two)."""
    out = collections.defaultdict(list)
    with acct.imap() as m:
        typ, data = m.select(_quote(mailbox), readonly=True)
        assert typ == "OK", data
        if int(data[0]) == 0:
            return {}
        typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta, literal = item
            trailer = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
            uid = FETCH_UID.search(meta + trailer)
            flags = FETCH_FLAGS.search(meta + trailer)
            assert uid and flags, item
            fl = frozenset(f for f in flags.group(1).decode().split() if f != "\\Recent")
            out[message_id(literal + b"\r\n")].append((int(uid.group(1)), fl))
    return dict(out)


def _quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uid_of(acct, mid, mailbox="INBOX"):
    """The UID of the one message with Message-ID mid."""
    with acct.imap() as m:
        m.select(_quote(mailbox))
        typ, data = m.uid("SEARCH", "HEADER", "Message-ID", _quote(mid))
        assert typ == "OK", data
        uids = data[0].split()
        assert len(uids) == 1, f"{mid}: UIDs {uids}"
        return int(uids[0])


def store(acct, uid, op, flags, mailbox="INBOX", expunge=False):
    """UID STORE uid op (flags) through imaplib; then EXPUNGE if asked."""
    with acct.imap() as m:
        m.select(_quote(mailbox))
        typ, data = m.uid("STORE", str(uid), op, f"({' '.join(flags)})")
        assert typ == "OK", data
        if expunge:
            typ, data = m.expunge()
            assert typ == "OK", data


def sync_messages(run, n, to):
    """n small messages for the mbsync round trip, Message-IDs <sync-RUN-I@client.test>."""
    return [message(f"<sync-{run}-{i}@client.test>", f"sync {run} {i}",
                    f"Message {i} of {n} for the mbsync round trip.\n" + "x" * (i % 300) + "\n", to)
            for i in range(n)]


def _no_duplicates(side, state):
    dup = {k: v for k, v in state.items() if len(v) != 1}
    assert not dup, f"{side}: {len(dup)} Message-IDs more than once, e.g. {list(dup.items())[:3]}"


UPLOADED = "Uploaded"


def check_mbsync(acct, tmp, n=SYNC_MESSAGES, tls="implicit"):
    """The issue's mbsync round trip, against an account with an empty
    INBOX and no mailbox called Uploaded:

    1. Down and up: n messages delivered to INBOX, n other messages written
       into a new Maildir folder Uploaded, then `mbsync -a`: the Maildir's
       INBOX holds each delivered message once, and the server a new
       mailbox Uploaded (CREATE, APPEND) with each written message once.
    2. A change on each side. Server: one message delivered, one flagged,
       one deleted (\\Deleted, EXPUNGE). Maildir: one message written into
       new/, one marked seen and flagged (its name's :2, part), one file
       removed. `mbsync -a` again.
    3. Both sides hold the same n + 2 - 2 Message-IDs in INBOX, each once,
       with the flags carried across; a third `mbsync -a` changes nothing
       in either folder on either side."""
    tmp = pathlib.Path(tmp)
    run = secrets.token_hex(4)
    msgs = sync_messages(run, n, acct.user)
    ids = [message_id(m) for m in msgs]
    ups = sync_messages(f"{run}-up", n, acct.user)
    up_ids = [message_id(m) for m in ups]
    before = imap_state(acct)
    assert not before, f"{acct.server}: INBOX of {acct.user} is not empty ({len(before)} messages)"
    t0 = time.monotonic()
    deliver_many(acct, msgs)
    delivered_s = time.monotonic() - t0
    root = tmp / f"Mail-{run}"
    rc = write_mbsyncrc(acct, tmp / f"mbsyncrc-{run}", root, tls=tls,
                        patterns=f"INBOX {UPLOADED}")
    inbox, uploaded = root / "INBOX", root / UPLOADED
    for sub in ("cur", "new", "tmp"):
        (uploaded / sub).mkdir(parents=True)
    for i, m in enumerate(ups):
        (uploaded / "cur" / f"1700000000.{run}_{i}.client.test:2,S").write_bytes(m)
    report = {"messages": n, "delivery_s": round(delivered_s, 2)}

    # 1. down and up
    t0 = time.monotonic()
    first = mbsync(rc)
    report["first_sync_s"] = round(time.monotonic() - t0, 2)
    local, server = maildir_state(inbox), imap_state(acct)
    _no_duplicates("Maildir after the first sync", local)
    _no_duplicates(f"{acct.server} after the first sync", server)
    assert sorted(local) == sorted(ids), \
        f"Maildir after the first sync: {len(local)} Message-IDs, want {n}; " \
        f"missing {sorted(set(ids) - set(local))[:5]}, extra {sorted(set(local) - set(ids))[:5]}"
    assert sorted(server) == sorted(ids), f"{acct.server} INBOX changed by the first sync"
    up_server = imap_state(acct, UPLOADED)
    _no_duplicates(f"{acct.server} {UPLOADED} after the first sync", up_server)
    assert sorted(up_server) == sorted(up_ids), \
        f"{acct.server} {UPLOADED} after the first sync: {len(up_server)} Message-IDs, want {n}; " \
        f"missing {sorted(set(up_ids) - set(up_server))[:5]}"
    assert all("\\Seen" in v[0][1] for v in up_server.values()), "uploaded without \\Seen"
    up_local = maildir_state(uploaded)
    assert sorted(up_local) == sorted(up_ids), f"Maildir {UPLOADED} changed by the first sync"

    # 2. a change on each side
    s_new = message(f"<sync-{run}-server-new@client.test>", "new on the server", "server\n", acct.user)
    l_new = message(f"<sync-{run}-local-new@client.test>", "new in the Maildir", "local\n", acct.user)
    s_flag, s_del, l_flag, l_del = ids[10], ids[20], ids[30], ids[40]
    acct.deliver(s_new)
    store(acct, server[s_flag][0][0], "+FLAGS", ["\\Flagged"])
    store(acct, server[s_del][0][0], "+FLAGS", ["\\Deleted"], expunge=True)
    (inbox / "new" / f"{int(time.time())}.{run}_local.client.test").write_bytes(l_new)
    by_id = {message_id(p.read_bytes()[:16384]): p for p in maildir_files(inbox)}
    p = by_id[l_flag]
    base = p.name.split(":2,")[0]
    p.rename(inbox / "cur" / f"{base}:2,FS")
    by_id[l_del].unlink()
    t0 = time.monotonic()
    second = mbsync(rc)
    report["second_sync_s"] = round(time.monotonic() - t0, 2)

    # 3. both sides the same, each message once, flags carried across
    want = sorted(set(ids) - {s_del, l_del} | {message_id(s_new), message_id(l_new)})
    local, server = maildir_state(inbox), imap_state(acct)
    _no_duplicates("Maildir after the second sync", local)
    _no_duplicates(f"{acct.server} after the second sync", server)
    assert sorted(local) == want, \
        f"Maildir after the second sync: missing {sorted(set(want) - set(local))}, " \
        f"extra {sorted(set(local) - set(want))}"
    assert sorted(server) == want, \
        f"{acct.server} after the second sync: missing {sorted(set(want) - set(server))}, " \
        f"extra {sorted(set(server) - set(want))}"
    assert "F" in local[s_flag][0], f"server's \\Flagged not in the Maildir: {local[s_flag]}"
    assert {"\\Seen", "\\Flagged"} <= server[l_flag][0][1], \
        f"Maildir's seen and flagged not on {acct.server}: {server[l_flag]}"
    assert message_id(l_new) in server and message_id(s_new) in local

    up_server, up_local = imap_state(acct, UPLOADED), maildir_state(uploaded)
    third = mbsync(rc)
    assert maildir_state(inbox) == local, "the third sync changed the Maildir"
    assert imap_state(acct) == server, f"the third sync changed {acct.server}"
    assert maildir_state(uploaded) == up_local, f"the third sync changed the Maildir's {UPLOADED}"
    assert imap_state(acct, UPLOADED) == up_server, f"the third sync changed {UPLOADED}"
    report.update(final=len(want), uploaded=len(up_server), third_sync_output=(third.stdout + third.stderr).strip()[-300:],
                  first_sync_output=(first.stdout + first.stderr).strip()[-300:],
                  second_sync_output=(second.stdout + second.stderr).strip()[-300:])
    return report


# ---- curl ----------------------------------------------------------------------

def curl_fetch(acct, path, tls="implicit", insecure=True):
    """curl's IMAP fetch of URL path (e.g. "INBOX;UID=7", "INBOX;UID=7;SECTION=1")
    as bytes. tls: "implicit" (imaps://) or "starttls" (imap:// with
    --ssl-reqd). insecure: curl --insecure, as the issue says; otherwise
    the server's certificate is checked against acct.cafile and
    acct.servername (resolved to acct.host). The password goes to curl on
    its stdin (-K -), not in its arguments."""
    port = acct.imaps_port if tls == "implicit" else acct.imap_port
    scheme = "imaps" if tls == "implicit" else "imap"
    host = acct.host if insecure else acct.servername
    argv = [CURL, "-sS", "--max-time", str(CURL_TIMEOUT), "-K", "-"]
    if tls == "starttls":
        argv.append("--ssl-reqd")
    if insecure:
        argv.append("--insecure")
    else:
        argv += ["--cacert", str(acct.cafile), "--resolve", f"{acct.servername}:{port}:{acct.host}"]
    argv.append(f"{scheme}://{host}:{port}/{path}")
    config = f'user = "{acct.user}:{acct.password}"\n'.encode()
    r = subprocess.run(argv, input=config, capture_output=True, timeout=CURL_TIMEOUT + 10)
    if r.returncode != 0:
        raise AssertionError(f"curl {argv[-1]}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def fetch_uid(acct, uid, item, mailbox="INBOX"):
    """UID FETCH uid (item) through imaplib: the literal's bytes."""
    with acct.imap() as m:
        m.select(_quote(mailbox), readonly=True)
        typ, data = m.uid("FETCH", str(uid), f"({item})")
        assert typ == "OK" and data and isinstance(data[0], tuple), (typ, data)
        return data[0][1]


def flags_of(acct, uid, mailbox="INBOX"):
    with acct.imap() as m:
        m.select(_quote(mailbox), readonly=True)
        typ, data = m.uid("FETCH", str(uid), "(FLAGS)")
        assert typ == "OK", data
        return set(FETCH_FLAGS.search(data[0]).group(1).decode().split())


def check_curl(acct):
    """curl fetches by UID, of a whole message and of a section, over
    IMAPS and over IMAP with STARTTLS. Three messages are delivered and the
    first expunged, so the UIDs fetched are not sequence numbers (a client
    that confused the two would get another message). Each fetch must
    equal imaplib's UID FETCH BODY.PEEK[] (or [1]) of the same message,
    end with what was delivered, and (curl fetches BODY[], not
    BODY.PEEK[]) leave the message \\Seen."""
    run = secrets.token_hex(4)
    plain = message(f"<curl-{run}-plain@client.test>", "curl plain", "A plain message for curl.\n",
                    acct.user)
    part1 = b"The first part, for ;SECTION=1."     # its CRLF belongs to the boundary
    multi = ("From: <%s>\r\nTo: <%s>\r\nSubject: curl multipart\r\nMessage-ID: <curl-%s-multi@client.test>\r\n"
             "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"c-%s\"\r\n\r\n"
             "--c-%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" % (SENDER, acct.user, run, run, run)
             ).encode() + part1 + (
             "\r\n--c-%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe second part.\r\n--c-%s--\r\n"
             % (run, run)).encode()
    gone = message(f"<curl-{run}-gone@client.test>", "curl expunged", "Expunged first.\n", acct.user)
    for m in (gone, plain, multi):
        acct.deliver(m)
    g, p, mp = (uid_of(acct, message_id(m)) for m in (gone, plain, multi))
    store(acct, g, "+FLAGS", ["\\Deleted"], expunge=True)
    with acct.imap() as m:
        m.select("INBOX", readonly=True)
        typ, data = m.search(None, "ALL")
        seqs = len(data[0].split())
    report = {"uids": {"plain": p, "multipart": mp}, "messages_in_inbox": seqs, "fetches": []}
    for tls in ("implicit", "starttls"):
        for insecure in (True, False):
            for uid, section, sent in ((p, None, plain), (mp, None, multi), (mp, "1", part1)):
                path = f"INBOX;UID={uid}" + (f";SECTION={section}" if section else "")
                got = curl_fetch(acct, path, tls=tls, insecure=insecure)
                want = fetch_uid(acct, uid, f"BODY.PEEK[{section or ''}]")
                assert got == want, \
                    f"curl {path} ({tls}): {len(got)} bytes, imaplib {len(want)}: {got[:200]!r}"
                if section:
                    assert got == sent, f"curl {path}: {got!r}, want {sent!r}"
                else:
                    assert got.endswith(sent), f"curl {path} does not end with the message sent"
                report["fetches"].append({"path": path, "tls": tls, "insecure": insecure,
                                          "bytes": len(got)})
    for uid in (p, mp):
        assert "\\Seen" in flags_of(acct, uid), f"UID {uid} not \\Seen after curl fetched BODY[]"
    return report
