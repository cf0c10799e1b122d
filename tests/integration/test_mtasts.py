"""MTA-STS policy fetching (home/mtasts_fetch.c, through tests/tools/mtastsq)
against a real HTTPS server on the bench: nginx in `peer` on
198.51.100.25:443, one virtual server per case, certificates from a test CA
made here with openssl. mtastsq runs in `client` (198.51.100.100) and pins
mta-sts.DOMAIN to the peer's address with -r (curl's CURLOPT_RESOLVE), as
the delivery code will after its own validating lookup; one case finds the
name through Knot instead.

Every case is one domain under peer.test:

    peer.test          the policy, CRLF lines, text/plain
    params.peer.test   a policy (LF lines) as "text/plain; charset=utf-8"
    exact.peer.test    a valid policy of exactly 64 KiB
    notfound.peer.test 404
    ctype.peer.test    the policy as text/html
    redirect.peer.test 301 to the good policy's URL (must not be followed)
    wrongname.peer.test  a certificate (trusted CA) for mta-sts.other.test
    untrusted.peer.test  a certificate for its name from another CA
    big.peer.test      a valid policy of 64 KiB + 1 byte (Content-Length)
    stream.peer.test   a policy streamed without end (chunked), from an
                       upstream that logs how much it could send
    slow.peer.test     TLS and the request go through, the answer never comes
    silent.peer.test   pinned to a listener in `client` that accepts and
                       never speaks (no TLS handshake)
    badpolicy.peer.test  200 text/plain without a mode line

Everything that would make a refused case pass if the check were missing
is there: the bad sites serve the good policy (content type, names, CAs,
redirect target), the big ones are valid policies past the limit.
"""
import json
import pathlib

import pytest

import https_peer
import peers

PEER = peers.PEER_ADDR
PORT = 443
TIMEOUT_MS = 10000       # a fetch that should finish
SHORT_MS = 3000          # a fetch that should time out
STREAM_PORT = 8081       # upstreams, on the peer's own loopback
HOLD_PORT = 8082
PATH = "/.well-known/mta-sts.txt"

GOOD = ("version: STSv1\r\nmode: enforce\r\nmx: mx.peer.test\r\nmx: *.mx.peer.test\r\n"
        "max_age: 86400\r\n")
GOOD_JSON = {"domain": "peer.test", "mode": "enforce", "max_age": 86400,
             "mx": ["mx.peer.test", "*.mx.peer.test"]}
TESTING = "version: STSv1\nmode: testing\nmx: MX.Peer.Test\nmax_age: 604800\n"
NO_MODE = "version: STSv1\nmx: mx.peer.test\nmax_age: 86400\n"
POLICY_MAX = 64 * 1024


def padded(size):
    """A valid policy (enforce, mx.peer.test) of exactly size bytes: the
    fields, then unknown "pad:" lines, which parsers ignore."""
    head = "version: STSv1\nmode: enforce\nmx: mx.peer.test\nmax_age: 86400\n"
    out, left = [head], size - len(head)
    while left > 0:
        n = min(left, 1000)
        if 0 < left - n < 7:          # never leave less than "pad: x\n"
            n = left - 7
        out.append("pad: " + "x" * (n - 6) + "\n")
        left -= n
    text = "".join(out)
    assert len(text) == size
    return text


def file_server(path, content_type="text/plain", extra=""):
    return f"""
        location = {PATH} {{
            default_type {content_type};
            {extra}
            alias {path};
        }}"""


class Sts:
    """What the module's tests share: the CAs, nginx and its upstreams, and
    a way to run mtastsq in `client`."""

    def __init__(self, bench, tooldir):
        self.bench = bench
        self.tool = tooldir / "mtastsq"
        if not self.tool.is_file():
            pytest.fail(f"{self.tool} is missing: run make test (it builds the test tools)")
        self.peer = bench.host("peer")
        self.client = bench.host("client")
        d = bench.dir / "mtasts"
        d.mkdir(exist_ok=True)
        d.chmod(0o755)
        self.ca = https_peer.TestCA(d / "ca", "Homeport test CA")
        self.other_ca = https_peer.TestCA(d / "other-ca", "Some other CA")
        good_names = [f"mta-sts.{s}peer.test" for s in
                      ("", "params.", "exact.", "notfound.", "ctype.", "redirect.", "big.",
                       "stream.", "slow.", "silent.", "badpolicy.")]
        cert, key = self.ca.issue("peer", good_names)
        other_name = self.ca.issue("othername", ["mta-sts.other.test"])
        untrusted = self.other_ca.issue("untrusted", ["mta-sts.untrusted.peer.test"])
        files = {"good": GOOD, "testing": TESTING, "nomode": NO_MODE,
                 "exact": padded(POLICY_MAX), "big": padded(POLICY_MAX + 1)}
        www = d / "www"
        www.mkdir(exist_ok=True)
        for name, text in files.items():
            (www / f"{name}.txt").write_text(text)
        self.stream = https_peer.stream_upstream(bench, self.peer, "127.0.0.1", STREAM_PORT)
        self.hold = https_peer.hold_upstream(bench, self.peer, "127.0.0.1", HOLD_PORT)
        # TLS never starts: a listener in the client's own namespace, reached by the pin.
        self.silent = https_peer.hold_upstream(bench, self.client, "127.0.0.1", PORT)

        def site(sub, body, pair=(cert, key)):
            return (f"mta-sts.{sub}peer.test", pair[0], pair[1], body)

        proxy = """
        location = {path} {{
            proxy_pass http://127.0.0.1:{port};
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}"""
        servers = [
            site("", file_server(www / "good.txt")),
            site("params.", file_server(www / "testing.txt", extra="charset utf-8;")),
            site("exact.", file_server(www / "exact.txt")),
            site("notfound.", "        location / { return 404; }"),
            site("ctype.", file_server(www / "good.txt", content_type="text/html")),
            site("redirect.", f"        location / {{ return 301 https://mta-sts.peer.test{PATH}; }}"),
            site("wrongname.", file_server(www / "good.txt"), other_name),
            site("untrusted.", file_server(www / "good.txt"), untrusted),
            site("big.", file_server(www / "big.txt")),
            site("stream.", proxy.format(path=PATH, port=STREAM_PORT)),
            site("slow.", proxy.format(path=PATH, port=HOLD_PORT)),
            site("badpolicy.", file_server(www / "nomode.txt")),
        ]
        self.nginx = https_peer.Nginx(bench, self.peer, PEER, servers, name="mtasts-nginx")

    def fetch(self, domain, ca="test", pin=PEER, timeout_ms=TIMEOUT_MS):
        """mtastsq in `client`: (exit code, the JSON it printed)."""
        args = [self.tool, "-t", timeout_ms]
        if ca == "test":
            args += ["-c", self.ca.cert]
        elif ca is not None:
            args += ["-c", ca]
        if pin is not None:
            args += ["-r", f"mta-sts.{domain}:{PORT}:{pin}"]
        r = self.client.run(*args, domain, check=False, timeout=timeout_ms / 1000 + 30)
        assert r.returncode in (0, 1), f"mtastsq exit {r.returncode}: {r.stdout}{r.stderr}"
        out = json.loads(r.stdout)
        assert out["domain"] == domain
        assert ("error" in out) == (r.returncode == 1), out
        return r.returncode, out

    def error(self, domain, **kw):
        rc, out = self.fetch(domain, **kw)
        assert rc == 1, f"{domain}: fetched {out}, expected a refusal"
        return out["error"]

    def hosts_requested(self):
        return [h for h, _uri, _status in self.nginx.requests()]

    def stop(self):
        for p in (self.nginx.process, self.silent, self.hold, self.stream):
            p.stop()


@pytest.fixture(scope="module")
def sts(bench, tooldir):
    s = Sts(bench, tooldir)
    yield s
    s.stop()


# ---- policies taken ----

def test_good_policy(sts):
    rc, out = sts.fetch("peer.test")
    assert (rc, out) == (0, GOOD_JSON)
    assert ("mta-sts.peer.test", PATH, "200") in sts.nginx.requests()


def test_content_type_with_parameters(sts):
    rc, out = sts.fetch("params.peer.test")
    assert (rc, out) == (0, {"domain": "params.peer.test", "mode": "testing", "max_age": 604800,
                             "mx": ["mx.peer.test"]})


def test_policy_of_exactly_64_kib(sts):
    rc, out = sts.fetch("exact.peer.test")
    assert (rc, out) == (0, {"domain": "exact.peer.test", "mode": "enforce", "max_age": 86400,
                             "mx": ["mx.peer.test"]})


def test_name_found_through_dns(bench, sts):
    """No pin: curl looks mta-sts.peer.test up (Knot, through the client's
    resolv.conf) and still verifies the certificate for that name."""
    knot = peers.knot(bench)
    knot.set_record("mta-sts.peer.test", "A", PEER)
    peers.use_knot(sts.client)
    rc, out = sts.fetch("peer.test", pin=None)
    assert (rc, out) == (0, GOOD_JSON)


# ---- refused: HTTP ----

def test_not_found(sts):
    assert sts.error("notfound.peer.test") == "mta-sts.notfound.peer.test: HTTP 404"


def test_wrong_content_type(sts):
    assert sts.error("ctype.peer.test") == \
        'mta-sts.ctype.peer.test: Content-Type "text/html", not text/plain'


def test_redirect_is_not_followed(sts):
    before = sts.hosts_requested()
    assert sts.error("redirect.peer.test") == \
        "mta-sts.redirect.peer.test: HTTP 301 (a redirect, not followed)"
    after = sts.hosts_requested()[len(before):]
    # One request, to the redirecting server; none to the good policy it points at.
    assert after == ["mta-sts.redirect.peer.test"], after


def test_policy_without_mode(sts):
    assert sts.error("badpolicy.peer.test") == "mta-sts.badpolicy.peer.test: policy: mode missing"


# ---- refused: certificates ----

def test_certificate_for_another_name(sts):
    before = sts.hosts_requested()
    err = sts.error("wrongname.peer.test")
    assert err.startswith("mta-sts.wrongname.peer.test: certificate not valid: "), err
    assert "mta-sts.wrongname.peer.test'" in err and "name" in err, err
    # Refused in the handshake: no request was sent.
    assert sts.hosts_requested()[len(before):] == []


def test_certificate_from_an_untrusted_ca(sts):
    before = sts.hosts_requested()
    err = sts.error("untrusted.peer.test")
    assert err.startswith("mta-sts.untrusted.peer.test: certificate not valid: "), err
    assert "issuer" in err, err
    assert sts.hosts_requested()[len(before):] == []
    # The same server is fine for a client that trusts that CA: only the CA was wrong.
    rc, out = sts.fetch("untrusted.peer.test", ca=sts.other_ca.cert)
    assert rc == 0 and out["mode"] == "enforce", out


def test_system_store_without_ca_file(sts):
    """Without -c the system's CAs are used: the real ones do not vouch for
    the test CA's certificate; a store that holds the test CA does."""
    err = sts.error("peer.test", ca=None)
    assert err.startswith("mta-sts.peer.test: certificate not valid: "), err
    with https_peer.system_store(sts.client, sts.ca.cert):
        rc, out = sts.fetch("peer.test", ca=None)
    assert (rc, out) == (0, GOOD_JSON)


def test_ca_file_replaces_the_system_store(sts):
    """A CA file is the only trust: with the test CA in the system store,
    the other CA's file still does not vouch for the good site."""
    with https_peer.system_store(sts.client, sts.ca.cert):
        err = sts.error("peer.test", ca=sts.other_ca.cert)
    assert err.startswith("mta-sts.peer.test: certificate not valid: "), err


# ---- refused: size and time ----

def test_body_over_64_kib(sts):
    assert sts.error("big.peer.test") == "mta-sts.big.peer.test: policy larger than 65536 bytes"


def test_endless_body_is_cut(sts):
    """A body without end: refused for its size, not after the timeout, and
    the server could not send much more than the limit before we went."""
    assert sts.error("stream.peer.test", timeout_ms=60000) == \
        "mta-sts.stream.peer.test: policy larger than 65536 bytes"
    log = pathlib.Path(sts.stream.log)
    line = None

    def gone():
        nonlocal line
        lines = [ln for ln in log.read_text().splitlines() if ln.startswith(("sent ", "limit "))]
        line = lines[-1] if lines else None
        return line is not None

    https_peer.wait_for("the streaming upstream sees the client go", gone, 30)
    assert line.startswith("sent "), line
    # What nginx and the kernels buffer is a few hundred KiB; the stream would go to 64 MiB.
    assert int(line.split()[1]) < 4 << 20, line


def test_server_never_answers(sts):
    """TLS and the request go through; the answer never comes."""
    assert sts.error("slow.peer.test", timeout_ms=SHORT_MS) == \
        f"mta-sts.slow.peer.test: timed out after {SHORT_MS} ms"


def test_server_never_starts_tls(sts):
    """The connection is accepted and nothing is ever said."""
    assert sts.error("silent.peer.test", pin="127.0.0.1", timeout_ms=SHORT_MS) == \
        f"mta-sts.silent.peer.test: timed out after {SHORT_MS} ms"
