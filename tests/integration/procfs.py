"""Processes read from /proc: a process's children and descendants,
whether it still runs, and the memory of a set of processes.

Used by mta.py and by the benches (tests/bench/*.py put tests/integration
on sys.path).
"""
import os
import pathlib


def children(pid):
    """PIDs of pid's direct children (every thread's), from /proc."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = pathlib.Path(f"/proc/{pid}/task/{task}/children").read_text()
            kids += [int(p) for p in text.split()]
    except OSError:
        pass
    return kids


def descendants(pid):
    """pid and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def alive(pid):
    """Running (a zombie is not)."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


def _sum_kib(pids, name, key):
    """Sum over the processes of the "key: N kB" line of /proc/PID/name, in
    bytes (a process gone meanwhile counts 0)."""
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            pass
    return total


def rss_bytes(pids):
    """Sum of VmRSS over the processes (those gone meanwhile count 0)."""
    return _sum_kib(pids, "status", "VmRSS:")


def pss_bytes(pids):
    """Sum of PSS over the processes (shared pages split among sharers)."""
    return _sum_kib(pids, "smaps_rollup", "Pss:")

