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
    d = pathlib.Path(os.environ.get("HOMEPORT_BUILD", REPO / "build")) / "bin"
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
