"""What edge_bench.py, smtp_bench.py and imap_bench.py share: how a run starts (signals,
the machine it runs on), the first line of a command's output (the
versions of what was measured), and the figures and tables of the report.
Imported as a sibling: a script's own directory is on sys.path.
"""
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys


def exit_on_signals():
    """SIGTERM and SIGHUP end the run through sys.exit, so that a run stopped
    by a signal still stops its children (its finally: clauses run)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))


def machine_meta():
    """When and on what the run ran: the first entries of a report's meta."""
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
    }


def first_line(argv):
    """The first line of argv's output (stdout, then stderr), or "?"."""
    try:
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def med(values):
    return statistics.median(values) if values else None


def cell(values, fmt, scale=1.0):
    """"median [min–max]" of the values times scale, each in fmt; "—" for none."""
    if not values:
        return "—"
    v = [x * scale for x in values]
    return f"{fmt.format(med(v))} [{fmt.format(min(v))}–{fmt.format(max(v))}]"


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(x):
    return f"{x:.2f}×" if x is not None else "—"


def text_table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def markdown_table(rows):
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(c.strip() for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def head_and_table(head, rows, markdown):
    """The report's head lines then its table, as lines: in Markdown each
    head line a paragraph of its own."""
    if markdown:
        lines = [x for line in head for x in (line, "")]
    else:
        lines = head + [""]
    return lines + [markdown_table(rows) if markdown else text_table(rows), ""]


def write_report(build, kind, meta, res, render, targets):
    """The report of a run as BUILD/bench-KIND/KIND-DATE.json and .md,
    and as text on stdout. Returns the Markdown file's path."""
    outdir = build / f"bench-{kind}"
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (outdir / f"{kind}-{stamp}.json").write_text(json.dumps({"meta": meta, "results": res}, indent=1) + "\n")
    md = outdir / f"{kind}-{stamp}.md"
    md.write_text(render(res, meta, targets, markdown=True))
    print()
    print(render(res, meta, targets, markdown=False))
    return md
