"""Run one of our daemons as a child process and watch its log lines.

Every daemon is stopped by its own PID (SIGTERM, then SIGKILL if it does
not stop in time), also when the test fails.
"""
import re
import signal
import subprocess
import threading
import time


class Daemon:
    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern, timeout=10.0, start=0):
        """Return the first log line from index start on matching pattern; fail after timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no log line matching {pattern!r}; got:\n" +
                                         "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def mark(self):
        with self._cond:
            return len(self.lines)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Wait for the daemon to exit by itself; returns the exit status."""
        status = self.proc.wait(timeout)
        self._reader.join(timeout)
        return status

    def stop(self, timeout=10.0):
        """SIGTERM by PID; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode
