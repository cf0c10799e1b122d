"""Every program's -c FILE --check: "configuration OK" for the documented
examples, and the exact file, line and key of a wrong line otherwise."""
import pytest

PROGRAMS = {
    # program: (example file, a minimal valid head for bad-line tests)
    "homeportd": ("homeportd.conf", "[home]\nhostname = mail.example.test\n"),
    "homeport": ("homeportd.conf", "[home]\nhostname = mail.example.test\n"),
    "homeport-edge": ("edge.conf", "[edge]\nname = relay.example.net\n"),
}


@pytest.mark.parametrize("prog", PROGRAMS)
def test_documented_example_is_ok(run, examples, prog):
    r = run(prog, "-c", examples / PROGRAMS[prog][0], "--check")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "configuration OK\n"


# (program, lines after the valid head, line number reported, text in the error)
BAD_LINES = [
    ("homeportd", "log_level = loud\n", 3, "[home] log_level: expected one of error, warn, info, debug"),
    ("homeportd", "\n[listener mx]\naddress = 192.0.2.2\nmode = smtp\n", 5, "[listener mx] address: expected"),
    ("homeportd", "\n[listener mx]\naddress = 192.0.2.2:25\nmode = smtp\nproxy = yes\n", 7,
     "[listener mx] proxy: proxy = yes needs proxy_from"),
    ("homeportd", "\n[listener mx]\naddress = 192.0.2.2:25\nmode = smtp\nidle_timeout = 10\n", 7,
     "[listener mx] idle_timeout: expected a duration"),
    ("homeportd", "colour = blue\n", 3, "[home] colour: unknown key"),
    ("homeportd", "[home]\n", 3, "section [home] appears twice (first at line 1)"),
    ("homeport", "hostname = again.example.test\n", 3, "set twice (first at line 2)"),
    ("homeport", "[mail]\n", 3, "unknown section [mail]"),
    ("homeport-edge", "\n[listener mx]\naddress = 203.0.113.1:25\nmode = starttls\ndefault_tenant = carol\n", 7,
     "[listener mx] default_tenant: no [tenant carol] in this file"),
    ("homeport-edge", "\n[tenant a]\ntunnel_address = 192.0.2.2\nhostnames = mail.a.test, bad_name.test\n", 6,
     "[tenant a] hostnames: 'bad_name.test' is not a host name"),
    ("homeport-edge", "\n[tenant a]\ntunnel_address = 192.0.2.2\nhostnames = m.a.test\n"
     "[tenant b]\ntunnel_address = 192.0.2.3\nhostnames = M.A.test\n", 9,
     "[tenant b] hostnames: 'M.A.test' is also claimed by [tenant a]"),
    ("homeport-edge", "max_connections = many\n", 3, "[edge] max_connections: expected a whole number"),
    ("homeport-edge", "\n[tenant a]\ntunnel_address = 192.0.2.0/24\n", 5, "[tenant a] tunnel_address: expected"),
    ("homeport-edge", "this is not a key\n", 3, "expected 'key = value'"),
]


@pytest.mark.parametrize("prog,tail,line,text", BAD_LINES)
def test_wrong_line_is_named(run, tmp_path, prog, tail, line, text):
    conf = tmp_path / "bad.conf"
    conf.write_text(PROGRAMS[prog][1] + tail)
    r = run(prog, "-c", conf, "--check")
    assert r.returncode != 0
    assert r.stdout == ""
    assert f"{conf}:{line}: " in r.stderr, r.stderr
    assert text in r.stderr, r.stderr


@pytest.mark.parametrize("prog", PROGRAMS)
def test_missing_required_section(run, tmp_path, prog):
    conf = tmp_path / "empty.conf"
    conf.write_text("# nothing here\n")
    r = run(prog, "-c", conf, "--check")
    assert r.returncode != 0
    assert f"{conf}: missing section [" in r.stderr


@pytest.mark.parametrize("prog", PROGRAMS)
def test_missing_file(run, tmp_path, prog):
    r = run(prog, "-c", tmp_path / "nope.conf", "--check")
    assert r.returncode != 0
    assert "nope.conf: cannot open: No such file or directory" in r.stderr
