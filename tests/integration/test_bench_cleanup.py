"""A bench run leaves nothing behind: not after a test fails midway, not
after an interrupt, not after passing tests. Each case runs pytest in a
subprocess with a known run id and then looks for anything carrying it."""
import os
import pathlib
import secrets
import signal
import subprocess
import time

HERE = pathlib.Path(__file__).resolve().parent


def leftovers(run_id):
    """Everything on this machine that carries the run id."""
    found = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line for line in ns.splitlines() if run_id in line]
    for d in (pathlib.Path("/var/run/wireguard"), pathlib.Path("/etc/netns")):
        if d.is_dir():
            found += [str(p) for p in d.iterdir() if run_id in p.name]
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if run_id in cmdline and "pytest" not in cmdline:
            found.append(f"pid {proc.name}: {cmdline}")
    return found


def _sigint_as_at_a_terminal():
    """In the child before exec: SIGINT back to its default disposition.
    A shell starts background jobs (`make test &`, `nohup ... &`, CI
    launchers) with SIGINT ignored, exec keeps that, and Python then installs
    no KeyboardInterrupt handler: our SIGINT would be dropped and the child
    would sit out its whole HOMEPORT_SELFTEST_HANG sleep. The case under test
    is a user's Ctrl-C, which reaches a process whose SIGINT is not ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(p):
    """End the child pytest by PID, whatever happened: SIGTERM makes the
    bench fixture clean up (conftest.py), so a failing case leaves nothing."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_pytest(bindir, run_id, target, env_extra=None, interrupt_after=None):
    env = dict(os.environ, HOMEPORT_BENCH_RUN_ID=run_id, HOMEPORT_BUILD=str(bindir.parent),
               **(env_extra or {}))
    cmd = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s",
           "--rootdir", str(HERE), str(target)]
    if interrupt_after is None:
        return subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=300)
    p = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, preexec_fn=_sigint_as_at_a_terminal)
    out = []
    try:
        deadline = time.monotonic() + 120
        for line in p.stdout:
            out.append(line)
            if interrupt_after in line:
                # The bench is up now: the detector must see it, or it proves nothing.
                up = leftovers(run_id)
                p.send_signal(signal.SIGINT)
                break
            assert time.monotonic() < deadline, "".join(out)
        else:
            up = []
        rest, _ = p.communicate(timeout=120)
    except BaseException:
        _stop(p)
        raise
    r = subprocess.CompletedProcess(cmd, p.returncode, "".join(out) + rest, "")
    r.seen_while_up = up
    return r


def fresh_id():
    return secrets.token_hex(3)


def test_a_failing_test_leaves_nothing(bindir):
    run_id = fresh_id()
    r = run_pytest(bindir, run_id, HERE / "selftest" / "bench_fails_midway.py")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "failing on purpose, with the bench up" in r.stdout
    assert leftovers(run_id) == []


def test_an_interrupted_run_leaves_nothing(bindir):
    run_id = fresh_id()
    r = run_pytest(bindir, run_id, HERE / "selftest" / "bench_fails_midway.py",
                   env_extra={"HOMEPORT_SELFTEST_HANG": "1"}, interrupt_after="selftest: built")
    assert r.returncode != 0
    # While it was up: namespaces, wireguard-go processes, UAPI sockets of this run.
    seen = "\n".join(r.seen_while_up)
    assert f"hp{run_id}-home" in seen and f"hp{run_id}-edge" in seen, r.stdout
    assert "wireguard-go" in seen and f"{run_id}wgedge.sock" in seen, seen
    assert leftovers(run_id) == []


def test_a_passing_suite_leaves_nothing(bindir):
    run_id = fresh_id()
    r = run_pytest(bindir, run_id, HERE / "test_bench.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert leftovers(run_id) == []


def test_the_real_peers_leave_nothing(bindir):
    # Postfix (master and children), Knot, the sink and dumpcap all carry the
    # run's directory in their command lines, so leftovers() would see them.
    run_id = fresh_id()
    r = run_pytest(bindir, run_id, HERE / "test_bench_peers.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert leftovers(run_id) == []
