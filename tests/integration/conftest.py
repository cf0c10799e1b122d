"""Shared fixtures for Homeport's integration tests.

The binaries under test come from $HOMEPORT_BUILD/bin (tests/run.sh sets it
to build/ or build/san/); tests run them as real processes and talk to them
through their command line, files, signals and (later) the network.
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bindir():
    d = (pathlib.Path(os.environ.get("HOMEPORT_BUILD", REPO / "build")) / "bin").resolve()
    for name in ("homeportd", "homeport", "homeport-edge"):
        if not (d / name).is_file():
            pytest.fail(f"{d / name} is missing: run make first")
    return d


@pytest.fixture
def run(bindir):
    """Run one of our programs; returns the CompletedProcess (never raises on exit code)."""

    def _run(prog, *args, input=None, cwd=None, timeout=60):
        return subprocess.run([str(bindir / prog), *map(str, args)], input=input, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)

    return _run


@pytest.fixture
def examples():
    return REPO / "docs" / "examples"


@pytest.fixture(scope="session")
def tooldir(bindir):
    d = bindir.parent / "tests" / "tools"
    if not (d / "wgctl").is_file():
        pytest.fail(f"{d / 'wgctl'} is missing: run make test (it builds the test tools)")
    return d


@pytest.fixture(scope="session")
def bench(bindir, tooldir):
    """The network bench (tests/integration/bench.py), built part by part as
    tests ask; every process and namespace removed at the end of the session,
    also after failures and interrupts."""
    import atexit
    import signal

    from bench import Bench

    if os.geteuid() != 0:
        pytest.fail("the network bench needs root (network namespaces)")
    b = Bench(bindir, tooldir)
    atexit.register(b.cleanup)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        yield b
    finally:
        signal.signal(signal.SIGTERM, previous)
        b.cleanup()
        atexit.unregister(b.cleanup)
