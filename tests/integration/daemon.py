"""Run one of our daemons as a child process and watch its log lines.

Every daemon is stopped by its own PID (SIGTERM, then SIGKILL if it does
not stop in time), also when the test fails. LogLines, the watching, is
homed.py's too; terminate() is also mta.py's and edge_bench.py's.
"""
import re
import signal
import subprocess
import threading
import time

WAIT_POLL = 0.1         # s between looks at whether the process has exited


def terminate(popen, timeout):
    """SIGTERM to popen's PID unless it has exited; SIGKILL when it has not
    exited within timeout s. Returns the exit status."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout)
    return popen.returncode


class LogLines:
    """What a child process writes to its stderr (a text pipe), line by
    line: read on a thread into .lines, each line also copied to the open
    file copy when given. With tail=PATH the process writes its stderr to
    that file instead (so it can outlive this Python process: make demo)
    and the thread follows the file from its current end. LogLines()
    without a process holds no lines."""

    def __init__(self, proc=None, copy=None, tail=None):
        self.proc = proc
        self.lines = []
        self._cond = threading.Condition()
        self._reader = None
        if proc is not None:
            if tail is not None:
                self._reader = threading.Thread(target=self._tail, args=tail, daemon=True)
            else:
                self._reader = threading.Thread(target=self._read, args=(copy,), daemon=True)
            self._reader.start()

    def _add(self, line):
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def _tail(self, path, offset):
        with open(path, errors="replace") as f:
            f.seek(offset)
            part = ""
            while True:
                exited = self.proc.poll() is not None
                chunk = f.read()
                part += chunk
                *whole, part = part.split("\n")
                for line in whole:
                    self._add(line)
                if exited and not chunk:
                    break
                if not chunk:
                    time.sleep(WAIT_POLL / 2)
        with self._cond:
            self._cond.notify_all()

    def _read(self, copy):
        for line in self.proc.stderr:
            if copy is not None:
                copy.write(line)
                copy.flush()
            self._add(line.rstrip("\n"))
        with self._cond:
            self._cond.notify_all()

    def _ended(self):
        """No line will come any more: the process has exited and its pipe is read to the end."""
        if self._reader is None:
            return True
        return self.proc.poll() is not None and not self._reader.is_alive()

    def wait_for(self, pattern, timeout=10.0, start=0):
        """Return the first line from index start on matching pattern; AssertionError after
        timeout, or once the process has exited without writing one."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._ended():
                    raise AssertionError(f"no log line matching {pattern!r}; got:\n" +
                                         "\n".join(self.lines))
                self._cond.wait(min(left, WAIT_POLL))

    def mark(self):
        """The index of the next line, for wait_for(start=)."""
        with self._cond:
            return len(self.lines)

    def tail(self, n):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def join(self, timeout):
        """Wait for the reader to reach the end of the pipe."""
        if self._reader is not None:
            self._reader.join(timeout)


def start_logged(argv, log_path=None, env=None, **popen):
    """Start argv, its stderr watched by a LogLines: through a pipe, or with
    log_path appended to that file (the process then outlives us).
    Returns (Popen, LogLines)."""
    argv = [str(a) for a in argv]
    if log_path is None:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=env, **popen)
        return proc, LogLines(proc)
    with open(log_path, "a") as f:
        offset = f.tell()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=f, env=env, start_new_session=True, **popen)
    return proc, LogLines(proc, tail=(log_path, offset))


class Daemon:
    def __init__(self, argv, env=None, log_path=None):
        self.proc, self.log = start_logged(argv, log_path, env)
        self.lines = self.log.lines

    def wait_for(self, pattern, timeout=10.0, start=0):
        """Return the first log line from index start on matching pattern; fail after timeout."""
        return self.log.wait_for(pattern, timeout, start)

    def mark(self):
        return self.log.mark()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Wait for the daemon to exit by itself; returns the exit status."""
        status = self.proc.wait(timeout)
        self.log.join(timeout)
        return status

    def stop(self, timeout=10.0):
        """SIGTERM by PID; returns the exit status."""
        status = terminate(self.proc, timeout)
        self.log.join(timeout)
        return status
