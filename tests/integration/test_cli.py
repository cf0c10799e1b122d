"""`homeport init` and the account commands (domain, user, alias), run as
real processes against a real mail.db: what each command changes in the
store, what it prints, its exit status, and that nothing is changed or
lost when it refuses. Passwords are checked with libsodium's own verifier
(ctypes) and, once, by logging in to homeportd over SMTP submission."""
import ctypes
import ctypes.util
import hashlib
import os
import pwd
import re
import signal
import smtplib
import socket
import sqlite3
import ssl
import stat
import subprocess
import threading
import time

import pytest

DOMAIN = "example.test"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
GENERATED = re.compile(r"^password: ([A-Za-z0-9]{20})$", re.M)
LOOKALIKES = set("0O1lI")
START_TIMEOUT = 20


class Sodium:
    """crypto_pwhash_str_verify through ctypes: does this password match that hash?"""

    def __init__(self):
        self.lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        assert self.lib.sodium_init() >= 0

    def verify(self, hash_, password):
        pw = password.encode()
        return self.lib.crypto_pwhash_str_verify(ctypes.c_char_p(hash_.encode()), ctypes.c_char_p(pw),
                                                 ctypes.c_ulonglong(len(pw))) == 0


@pytest.fixture(scope="session")
def sodium():
    return Sodium()


class Home:
    """A home made by `homeport init` in a temporary directory."""

    def __init__(self, run, conf, state):
        self.run, self.conf, self.state = run, conf, state
        self.db_path = state / "mail.db"

    def __call__(self, *args, input=None):
        return self.run("homeport", "-c", self.conf, *args, input=input)

    def query(self, sql, args=()):
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def user_row(self, address):
        local, domain = address.rsplit("@", 1)
        rows = self.query("SELECT u.password_hash, u.quota_bytes FROM users u JOIN domains d ON d.id = u.domain_id"
                          " WHERE d.name = ? AND u.local = ?", (domain, local))
        return rows[0] if rows else None

    def hash_of(self, address):
        return self.user_row(address)[0]

    def quota_of(self, address):
        return self.user_row(address)[1]

    def lines(self, *args):
        r = self(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()


def fails(r, status, text):
    """Refused with status, one line on stderr naming what failed (usage errors add the usage)."""
    assert r.returncode == status, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert lines and lines[0].startswith("homeport: "), r.stderr
    assert text in lines[0], r.stderr
    if status == 1:
        assert len(lines) == 1, r.stderr
    else:
        assert all(l.startswith(("usage:", " ")) for l in lines[1:]), r.stderr
    assert r.stdout == ""


@pytest.fixture
def home(run, tmp_path):
    conf, state = tmp_path / "etc" / "homeportd.conf", tmp_path / "state"
    r = run("homeport", "-c", conf, "init", "--domain", DOMAIN, "--state-dir", state)
    assert r.returncode == 0, r.stderr
    return Home(run, conf, state)


def add_user(home, address, password="pw-correct horse", *extra):
    r = home("user", "add", address, "--password-stdin", *extra, input=password + "\n")
    assert r.returncode == 0, r.stderr
    return password


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- init ----------------------------------------------------------------------


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_home(run, tmp_path):
    conf, state = tmp_path / "etc" / "homeportd.conf", tmp_path / "state"
    r = run("homeport", "-c", conf, "init", "--domain", "Example.TEST", "--state-dir", state)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    # What to do next: add a user (with this config), DNS comes later.
    assert f"homeport -c {conf} user add you@{DOMAIN}" in r.stdout
    assert re.search(r"homeport( -c \S+)? dns --address", r.stdout), r.stdout

    for prog in ("homeport", "homeportd"):
        c = run(prog, "-c", conf, "--check")
        assert (c.returncode, c.stdout) == (0, "configuration OK\n"), c.stderr
    text = conf.read_text()
    assert re.search(r"^hostname = mail\.example\.test$", text, re.M)
    assert re.search(rf"^state_dir = {re.escape(str(state))}$", text, re.M)

    keys = state / "keys"
    assert mode(state) == 0o750 and mode(keys) == 0o700 and mode(keys / "dkim") == 0o700
    assert mode(keys / "tls.key") == 0o600
    ed, rsa = keys / "dkim" / f"{DOMAIN}.ed25519.key", keys / "dkim" / f"{DOMAIN}.rsa.key"
    assert mode(ed) == 0o600 and mode(rsa) == 0o600

    # The keys are what they claim, read by a tool nobody here wrote.
    def openssl(*args):
        p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout
    assert "ED25519" in openssl("pkey", "-in", ed, "-noout", "-text")
    assert "Private-Key: (2048 bit" in openssl("pkey", "-in", rsa, "-noout", "-text")
    san = openssl("x509", "-in", keys / "tls.crt", "-noout", "-ext", "subjectAltName")
    assert "DNS:mail.example.test" in san and f"DNS:{DOMAIN}" in san
    # The certificate and key belong together.
    assert openssl("x509", "-in", keys / "tls.crt", "-noout", "-pubkey") == \
        openssl("pkey", "-in", keys / "tls.key", "-pubout")
    # And `homeport keys` reads the DKIM keys back.
    assert run("homeport", "keys", "dkim-record", rsa).stdout.startswith("v=DKIM1; k=rsa; p=")

    home = Home(run, conf, state)
    assert home.lines("domain", "list") == [DOMAIN]


def test_init_hostname(run, tmp_path):
    conf, state = tmp_path / "h.conf", tmp_path / "s"
    r = run("homeport", "-c", conf, "init", "--domain", DOMAIN, "--hostname", "mx1.example.net",
            "--state-dir", state)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^hostname = mx1\.example\.net$", conf.read_text(), re.M)
    san = subprocess.run(["openssl", "x509", "-in", state / "keys" / "tls.crt", "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True).stdout
    assert "DNS:mx1.example.net" in san and f"DNS:{DOMAIN}" in san


def test_init_refuses_to_overwrite(home, run, tmp_path):
    keys = home.state / "keys"
    before = {p: digest(p) for p in [home.conf, keys / "tls.crt", keys / "tls.key",
                                     keys / "dkim" / f"{DOMAIN}.rsa.key", home.db_path]}
    # The same configuration file again.
    r = run("homeport", "-c", home.conf, "init", "--domain", "other.test", "--state-dir", tmp_path / "new")
    fails(r, 1, f"configuration {home.conf} exists; refusing to overwrite it")
    assert not (tmp_path / "new").exists()
    # A new configuration file, but the state directory of the first home.
    other = tmp_path / "other.conf"
    r = run("homeport", "-c", other, "init", "--domain", DOMAIN, "--state-dir", home.state)
    fails(r, 1, f"certificate {keys / 'tls.crt'} exists; refusing to overwrite it")
    assert not other.exists()
    # Only a DKIM key in the way.
    dkim_only = tmp_path / "d"
    (dkim_only / "keys" / "dkim").mkdir(parents=True, mode=0o700)
    (dkim_only / "keys").chmod(0o700)
    (dkim_only / "keys" / "dkim" / f"{DOMAIN}.ed25519.key").write_text("mine\n")
    r = run("homeport", "-c", tmp_path / "d.conf", "init", "--domain", DOMAIN, "--state-dir", dkim_only)
    fails(r, 1, "DKIM key")
    assert (dkim_only / "keys" / "dkim" / f"{DOMAIN}.ed25519.key").read_text() == "mine\n"
    assert not (dkim_only / "keys" / "tls.key").exists()
    assert {p: digest(p) for p in before} == before
    assert home.lines("domain", "list") == [DOMAIN]


def test_init_failure_leaves_nothing(run, tmp_path):
    # A keys directory others may write to is refused after the config was written:
    # the config and everything else made goes again.
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    (state / "keys").chmod(0o777)
    conf = tmp_path / "etc" / "homeportd.conf"
    r = run("homeport", "-c", conf, "init", "--domain", DOMAIN, "--state-dir", state)
    fails(r, 1, "keys directory is writable by group or others")
    assert not conf.exists() and not conf.parent.exists()
    assert sorted(p.name for p in state.iterdir()) == ["keys"]
    assert list((state / "keys").iterdir()) == []


@pytest.mark.parametrize("args,text", [
    ([], "--domain is required"),
    (["--domain", "bad_name.test"], "--domain: not a domain name"),
    (["--domain", DOMAIN, "--hostname", "-bad"], "--hostname: not a host name"),
    (["--domain", DOMAIN, "--hostname", "a" * 60 + ".test"], "longer than 64"),
    (["--domain", DOMAIN, "--state-dir", "relative/dir"], "--state-dir must be an absolute path"),
    (["--domain", DOMAIN, "--state-dir", "/"], "--state-dir must be an absolute path"),
    (["--domain", DOMAIN, "extra"], "unexpected arguments"),
    (["--domain", DOMAIN, "--colour", "blue"], "unknown option"),
    (["--domain"], "needs a value"),
])
def test_init_usage_errors(run, tmp_path, args, text):
    conf = tmp_path / "c.conf"
    if "--state-dir" not in args:
        args = ["--state-dir", str(tmp_path / "s")] + args
    r = run("homeport", "-c", conf, "init", *args)
    fails(r, 2, text)
    assert sorted(os.listdir(tmp_path)) == []


def test_init_state_dir_that_a_config_cannot_hold(run, tmp_path):
    conf = tmp_path / "c.conf"
    r = run("homeport", "-c", conf, "init", "--domain", DOMAIN, "--state-dir", f"{tmp_path}/a #b")
    fails(r, 1, "cannot be written in a configuration file")
    assert os.listdir(tmp_path) == []


# ---- domain ----------------------------------------------------------------------


def test_domain_add_list_remove(home):
    assert home.lines("domain", "add", "Other.TEST") == ["domain Other.TEST added"]
    assert home.lines("domain", "add", "a.example") == ["domain a.example added"]
    assert home.lines("domain", "list") == ["a.example", DOMAIN, "other.test"]
    fails(home("domain", "add", "other.test"), 1, "domain add: domain other.test exists")
    fails(home("domain", "add", "bad_name"), 1, "domain add: bad domain")
    fails(home("domain", "remove", "nowhere.test"), 1, "domain remove: no domain nowhere.test")
    assert home.lines("domain", "remove", "OTHER.test") == ["domain OTHER.test removed, with its aliases"]
    assert home.lines("domain", "list") == ["a.example", DOMAIN]


def test_domain_with_users_is_kept(home):
    add_user(home, ALICE)
    home.lines("alias", "add", f"team@{DOMAIN}", ALICE)
    fails(home("domain", "remove", DOMAIN), 1, f"domain {DOMAIN} has 1 users; remove them first")
    assert home.lines("domain", "list") == [DOMAIN]
    assert home.lines("alias", "list") == [f"team@{DOMAIN} -> {ALICE}"]


# ---- user ------------------------------------------------------------------------


def test_user_add_generates_a_password_shown_once(home, sodium):
    r = home("user", "add", ALICE)
    assert r.returncode == 0, r.stderr
    found = GENERATED.findall(r.stdout)
    assert len(found) == 1, r.stdout
    password = found[0]
    assert r.stdout.count(password) == 1 and password not in r.stderr
    assert not LOOKALIKES & set(password)
    h = home.hash_of(ALICE)
    assert h.startswith("$argon2id$")
    assert sodium.verify(h, password)
    assert not sodium.verify(h, password + "x")
    # Nowhere else: not in the listing, not in the database in clear.
    listing = home("user", "list")
    assert password not in listing.stdout + listing.stderr
    assert password.encode() not in home.db_path.read_bytes()
    # Each user gets their own.
    r2 = home("user", "add", BOB)
    assert GENERATED.findall(r2.stdout)[0] != password


def test_user_add_password_stdin(home, sodium):
    r = home("user", "add", ALICE, "--password-stdin", input="s3cret pass\nsecond line\n")
    assert r.returncode == 0, r.stderr
    assert "password:" not in r.stdout and "s3cret" not in r.stdout
    h = home.hash_of(ALICE)
    assert sodium.verify(h, "s3cret pass")
    assert not sodium.verify(h, "s3cret pass\n")
    # No newline at the end of input is fine too.
    add_user(home, BOB, "no-newline")
    assert sodium.verify(home.hash_of(BOB), "no-newline")
    # Exactly PASSWORD_MAX (1024) octets are taken.
    add_user(home, f"carol@{DOMAIN}", "p" * 1024)
    assert sodium.verify(home.hash_of(f"carol@{DOMAIN}"), "p" * 1024)


@pytest.mark.parametrize("given,text", [
    ("\n", "empty password on stdin"),
    ("", "empty password on stdin"),
    ("p" * 1025 + "\n", "the password on stdin is longer than 1024 octets"),
    ("a\0b\n", "the password on stdin contains a NUL byte"),
], ids=["empty-line", "nothing", "1025-octets", "nul"])
def test_user_add_password_stdin_refused(home, given, text):
    fails(home("user", "add", ALICE, "--password-stdin", input=given), 1, f"user add: {text}")
    assert home.user_row(ALICE) is None


def test_user_add_unknown_domain(home):
    r = home("user", "add", "carol@nope.test", "--password-stdin", input="pw\n")
    fails(r, 1, "homeport: user add: domain nope.test is not local; "
                "run 'homeport domain add nope.test' first")
    r = home("user", "add", "carol@nope.test")
    fails(r, 1, "domain nope.test is not local")
    assert home.query("SELECT count(*) FROM users") == [(0,)]


def test_user_add_duplicate(home, sodium):
    add_user(home, ALICE, "first")
    fails(home("user", "add", ALICE, "--password-stdin", input="second\n"), 1,
          f"user add: user {ALICE} exists")
    fails(home("user", "add", ALICE), 1, f"user {ALICE} exists")
    assert sodium.verify(home.hash_of(ALICE), "first")


@pytest.mark.parametrize("address,text", [
    ("no-at-sign", "not an address"),
    (f"two words@{DOMAIN}", "bad local part"),
    ("alice@bad_domain", "bad domain"),
])
def test_user_add_bad_address(home, address, text):
    fails(home("user", "add", address, "--password-stdin", input="pw\n"), 1, text)


def test_user_quota(home):
    add_user(home, ALICE, "pw", "--quota", "500M")
    assert home.quota_of(ALICE) == 500 * 1024 * 1024
    add_user(home, BOB, "pw")
    assert home.quota_of(BOB) == 0
    assert home.lines("user", "list") == [f"{ALICE} quota=500M used=0", f"{BOB} quota=unlimited used=0"]
    assert home.lines("user", "quota", BOB, "2G") == [f"quota of {BOB} set to 2G"]
    assert home.quota_of(BOB) == 2 * 1024 ** 3
    assert home.lines("user", "quota", BOB, "1000") == [f"quota of {BOB} set to 1000"]
    assert home.quota_of(BOB) == 1000
    assert home.lines("user", "quota", ALICE, "0") == [f"quota of {ALICE} set to unlimited"]
    assert home.quota_of(ALICE) == 0
    fails(home("user", "quota", f"nobody@{DOMAIN}", "1G"), 1, f"user quota: no user nobody@{DOMAIN}")


@pytest.mark.parametrize("size", ["5X", "1.5G", "-1", "", "2GB", "2T", "1 G", "9223372036854775808"])
def test_user_bad_size(home, size):
    add_user(home, ALICE, "pw", "--quota", "1G")
    # A word that starts with '-' is an option, and not one of ours.
    fails(home("user", "quota", ALICE, size), 2,
          f"user quota: unknown option '{size}'" if size.startswith("-") else f"user quota: bad size '{size}'")
    fails(home("user", "add", BOB, "--quota", size, "--password-stdin", input="pw\n"), 2,
          f"user add: bad size '{size}'")
    assert home.quota_of(ALICE) == 1024 ** 3
    assert home.user_row(BOB) is None


def test_user_passwd(home, sodium):
    add_user(home, ALICE, "old")
    r = home("user", "passwd", ALICE)
    assert r.returncode == 0, r.stderr
    (new,) = GENERATED.findall(r.stdout)
    assert sodium.verify(home.hash_of(ALICE), new) and not sodium.verify(home.hash_of(ALICE), "old")
    r = home("user", "passwd", ALICE, "--password-stdin", input="chosen\n")
    assert r.stdout == f"password of {ALICE} changed\n", r.stderr
    assert sodium.verify(home.hash_of(ALICE), "chosen") and not sodium.verify(home.hash_of(ALICE), new)
    fails(home("user", "passwd", f"nobody@{DOMAIN}", "--password-stdin", input="x\n"), 1,
          f"user passwd: no user nobody@{DOMAIN}")
    fails(home("user", "passwd", ALICE, "--password-stdin", input="\n"), 1, "empty password")
    assert sodium.verify(home.hash_of(ALICE), "chosen")


def test_user_list_and_remove(home):
    home.lines("domain", "add", "other.test")
    add_user(home, BOB)
    add_user(home, ALICE)
    add_user(home, "zed@other.test")
    assert [l.split()[0] for l in home.lines("user", "list")] == [ALICE, BOB, "zed@other.test"]
    assert [l.split()[0] for l in home.lines("user", "list", "OTHER.test")] == ["zed@other.test"]
    fails(home("user", "list", "nope.test"), 1, "user list: domain nope.test is not local")
    home.lines("alias", "add", f"team@{DOMAIN}", BOB, ALICE)
    assert home.lines("user", "remove", BOB) == [f"user {BOB} removed, with its mailboxes and messages"]
    assert [l.split()[0] for l in home.lines("user", "list", DOMAIN)] == [ALICE]
    assert home.lines("alias", "list") == [f"team@{DOMAIN} -> {ALICE}"]
    assert home.query("SELECT count(*) FROM mailboxes") == [(12,)]
    fails(home("user", "remove", BOB), 1, f"user remove: no user {BOB}")


# ---- alias -------------------------------------------------------------------------


def test_alias_add_list_remove(home):
    home.lines("domain", "add", "other.test")
    add_user(home, ALICE)
    add_user(home, BOB)
    assert home.lines("alias", "add", f"team@{DOMAIN}", ALICE, BOB) == \
        [f"alias team@{DOMAIN} -> {ALICE} added", f"alias team@{DOMAIN} -> {BOB} added"]
    home.lines("alias", "add", f"@{DOMAIN}", ALICE)          # the catch-all
    home.lines("alias", "add", "info@other.test", BOB)       # to a user of another domain
    assert home.lines("alias", "list") == [
        f"@{DOMAIN} -> {ALICE}", f"team@{DOMAIN} -> {ALICE}", f"team@{DOMAIN} -> {BOB}",
        f"info@other.test -> {BOB}"]
    assert home.lines("alias", "list", "other.test") == [f"info@other.test -> {BOB}"]
    fails(home("alias", "list", "nope.test"), 1, "alias list: domain nope.test is not local")
    fails(home("alias", "add", f"team@{DOMAIN}", BOB), 1, f"alias team@{DOMAIN} already delivers to {BOB}")

    assert home.lines("alias", "remove", f"team@{DOMAIN}", BOB) == [f"alias team@{DOMAIN} -> {BOB} removed"]
    fails(home("alias", "remove", f"team@{DOMAIN}", BOB), 1,
          f"alias remove: alias team@{DOMAIN} does not deliver to {BOB}")
    assert home.lines("alias", "remove", f"@{DOMAIN}") == [f"alias @{DOMAIN} removed"]
    assert home.lines("alias", "list", DOMAIN) == [f"team@{DOMAIN} -> {ALICE}"]
    fails(home("alias", "remove", f"nothing@{DOMAIN}"), 1, f"alias remove: no alias nothing@{DOMAIN}")


def test_alias_add_is_all_or_nothing(home):
    add_user(home, ALICE)
    add_user(home, BOB)
    fails(home("alias", "add", f"team@{DOMAIN}", ALICE, BOB, f"ghost@{DOMAIN}"), 1,
          f"alias add: no user ghost@{DOMAIN}")
    assert home.lines("alias", "list") == []


def test_alias_refused(home):
    add_user(home, ALICE)
    add_user(home, BOB)
    fails(home("alias", "add", "team@nope.test", ALICE), 1,
          "alias add: domain nope.test is not local; run 'homeport domain add nope.test' first")
    fails(home("alias", "add", ALICE, BOB), 1, f"alias add: {ALICE} is a user")
    home.lines("alias", "add", f"team@{DOMAIN}", ALICE)
    r = home("user", "add", f"team@{DOMAIN}", "--password-stdin", input="pw\n")
    fails(r, 1, f"user add: team@{DOMAIN} is an alias")
    assert home.lines("alias", "list") == [f"team@{DOMAIN} -> {ALICE}"]


# ---- usage and set-up errors ---------------------------------------------------------------


@pytest.mark.parametrize("args,text", [
    (["user"], "user: missing subcommand"),
    (["user", "frob"], "user: unknown subcommand 'frob'"),
    (["domain", "add"], "domain add: missing arguments"),
    (["domain", "list", "extra"], "domain list: too many arguments"),
    (["user", "add"], "user add: missing arguments"),
    (["user", "add", ALICE, "--bogus"], "user add: unknown option '--bogus'"),
    (["user", "add", ALICE, "--quota"], "user add: option '--quota' needs a value"),
    (["user", "passwd", ALICE, "--quota", "1G"], "user passwd: unknown option '--quota'"),
    (["user", "quota", ALICE], "user quota: missing arguments"),
    (["user", "remove", ALICE, BOB], "user remove: too many arguments"),
    (["alias", "add", f"team@{DOMAIN}"], "alias add: missing arguments"),
    (["alias", "add", f"team@{DOMAIN}"] + [ALICE] * 64, "alias add: too many arguments"),
    (["alias", "remove"], "alias remove: missing arguments"),
])
def test_usage_errors(home, args, text):
    fails(home(*args), 2, text)


def test_help(home):
    for group, words in (("domain", ["add", "list", "remove"]),
                         ("user", ["add", "list", "remove", "passwd", "quota"]),
                         ("alias", ["add", "list", "remove"])):
        r = home(group, "--help")
        assert r.returncode == 0 and r.stderr == ""
        assert re.findall(rf"^(?:usage:)? +homeport \[-c FILE\] {group} (\w+)", r.stdout, re.M) == words
    r = home("user", "add", "--help")
    assert r.returncode == 0
    assert r.stdout.strip().endswith("user add ADDRESS [--quota SIZE] [--password-stdin]")


def test_options_anywhere_even_posixly_correct(home, bindir, sodium):
    env = dict(os.environ, POSIXLY_CORRECT="1")
    r = subprocess.run([str(bindir / "homeport"), "-c", str(home.conf), "user", "add", "--password-stdin",
                        ALICE, "--quota", "1M"], input="pw\n", capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert home.quota_of(ALICE) == 1024 * 1024 and sodium.verify(home.hash_of(ALICE), "pw")


def test_no_configuration(run, tmp_path):
    r = run("homeport", "-c", tmp_path / "missing.conf", "domain", "list")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("homeport: ") and "missing.conf" in r.stderr


def test_state_dir_missing(run, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(f"[home]\nhostname = mail.{DOMAIN}\nstate_dir = {tmp_path}/gone\n")
    fails(run("homeport", "-c", conf, "domain", "list"), 1,
          f"state directory {tmp_path}/gone does not exist")
    assert not (tmp_path / "gone").exists()


# ---- the generated password logs in --------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home):
    """init's configuration with its listeners moved to free ports on 127.0.0.1 and,
    as root, the service user switched to nobody (given the state, as init would give
    it to homeport). Returns (process, submission port) once homeportd says it started."""
    ports = {p: free_port() for p in ("25", "587", "465", "993", "443", "80")}
    text = home.conf.read_text()
    text, n = re.subn(r"^address = 0\.0\.0\.0:(\d+), \[::\]:\d+$",
                      lambda m: f"address = 127.0.0.1:{ports[m.group(1)]}", text, flags=re.M)
    assert n == 6, text
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    text, n = re.subn(r"^user = homeport$", f"user = {user}", text, flags=re.M)
    assert n == 1, text
    home.conf.write_text(text)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        for p in (home.state, home.db_path):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        p = home.state.parent
        while p != p.parent:        # nobody must reach the state directory
            if not p.stat().st_mode & 0o001:
                p.chmod(p.stat().st_mode | 0o001)
            p = p.parent
    proc = subprocess.Popen([str(home.bindir / "homeportd"), "-c", str(home.conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, started = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if "event=start result=ok" in line:
                started.set()
        started.set()
    threading.Thread(target=read, daemon=True).start()
    started.wait(START_TIMEOUT)
    assert proc.poll() is None and any("event=start result=ok" in l for l in lines), "".join(lines)
    return proc, ports["587"]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(15)


def login(port, user, password):
    """STARTTLS with init's certificate as the only trust anchor (its names are
    checked with openssl above: here the address is 127.0.0.1), then AUTH PLAIN.
    Returns the reply code."""
    ctx = ssl.create_default_context(cafile=str(port[1]))
    ctx.check_hostname = False
    with smtplib.SMTP("127.0.0.1", port[0], timeout=30) as s:
        s.starttls(context=ctx)
        try:
            return s.login(user, password)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def test_generated_password_logs_in(home, bindir):
    home.bindir = bindir
    proc, port = serve(home)
    try:
        sub = (port, home.state / "keys" / "tls.crt")
        r = home("user", "add", ALICE)          # while homeportd runs
        assert r.returncode == 0, r.stderr
        (password,) = GENERATED.findall(r.stdout)
        assert login(sub, ALICE, password) == 235
        r = home("user", "passwd", ALICE)
        (new,) = GENERATED.findall(r.stdout)
        assert login(sub, ALICE, password) == 535
        assert login(sub, ALICE, new) == 235
    finally:
        stop(proc)


# ---- homeport dkim ----------------------------------------------------------

def test_dkim_rotation(home):
    """rotate makes pending keys and prints their records; activate retires
    the old keys and makes the new ones sign; remove takes retired keys only."""
    keys = home.state / "keys" / "dkim"
    assert sorted(l.split()[:3] for l in home.lines("dkim", "list")) == [
        [DOMAIN, "ed25519", "active"], [DOMAIN, "rsa", "active"]]
    r = home("dkim", "rotate", DOMAIN)
    assert r.returncode == 0, r.stderr
    records = re.findall(r"^(\S+)\._domainkey\.example\.test\. TXT \"(v=DKIM1; k=(\w+); p=[^\"]+)\"$",
                         r.stdout, re.M)
    assert [(rec[2]) for rec in records] == ["ed25519", "rsa"], r.stdout
    new = [rec[0] for rec in records]
    assert re.fullmatch(r"ed\d{8}", new[0]) and re.fullmatch(r"rsa\d{8}", new[1]), new
    for sel, record, _alg in records:
        path = keys / f"{DOMAIN}.{sel}.key.pending"
        assert path.stat().st_mode & 0o777 == 0o600
        again = home("keys", "dkim-record", path)
        assert again.stdout.strip() == record
    states = {tuple(l.split()[1:3]) for l in home.lines("dkim", "list", DOMAIN)}
    assert states == {("ed25519", "active"), ("rsa", "active"), (new[0], "pending"),
                      (new[1], "pending")}
    fails(home("dkim", "rotate", DOMAIN), 1, "already has pending keys")
    r = home("dkim", "activate", DOMAIN)
    assert r.returncode == 0, r.stderr
    states = {tuple(l.split()[1:3]) for l in home.lines("dkim", "list")}
    assert states == {("ed25519", "retired"), ("rsa", "retired"), (new[0], "active"),
                      (new[1], "active")}
    assert sorted(p.name for p in keys.iterdir()) == sorted(
        [f"{DOMAIN}.ed25519.key.retired", f"{DOMAIN}.rsa.key.retired",
         f"{DOMAIN}.{new[0]}.key", f"{DOMAIN}.{new[1]}.key"])
    fails(home("dkim", "activate", DOMAIN), 1, "has no pending keys")
    fails(home("dkim", "remove", DOMAIN, new[0]), 1, "signs mail")
    fails(home("dkim", "remove", DOMAIN, "nosuch"), 1, "has no key nosuch")
    r = home("dkim", "remove", DOMAIN, "ed25519")
    assert r.returncode == 0 and "remove its record ed25519._domainkey.example.test" in r.stdout
    assert not (keys / f"{DOMAIN}.ed25519.key.retired").exists()
    assert home("dkim", "rotate").returncode == 2
    fails(home("dkim", "rotate", "not a domain"), 1, "is not a domain name")
