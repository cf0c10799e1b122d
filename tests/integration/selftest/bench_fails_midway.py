"""Not collected by the suite: test_bench_cleanup.py runs this file in a
subprocess to prove that a bench test failing (or being interrupted) midway
still leaves no namespace and no process behind."""
import os
import time

from test_bench import start_echo


def test_fails_after_building_everything(bench):
    bench.tunnel()
    start_echo(bench, bench.host("peer"), "198.51.100.25", 2525)
    if os.environ.get("HOMEPORT_SELFTEST_HANG"):
        print("selftest: built, hanging", flush=True)
        time.sleep(600)
    assert False, "failing on purpose, with the bench up"
