"""Hosts as Linux network namespaces, and the processes started in them.

Every name carries the run's id, so runs never collide; every process is
stopped by its PID and every namespace deleted by Registry.cleanup(),
which the fixtures call also when a test fails or is interrupted.
Nothing here touches a namespace, interface or process it did not make.
"""
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import time

IFNAME_MAX = 15
# "ip netns exec NS" bind-mounts files from /etc/netns/NS/ over /etc/ (resolv.conf, hosts).
ETC_NETNS = pathlib.Path("/etc/netns")


def new_run_id():
    """Six hex digits: short enough for interface names (15 bytes at most)."""
    return os.environ.get("HOMEPORT_BENCH_RUN_ID") or secrets.token_hex(3)


def sh(*cmd, check=True, input=None, timeout=30):
    """Run a command on the host (not in a namespace); return the CompletedProcess."""
    r = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


class Process:
    """A process we started; stop() ends it by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, popen, name, log=None):
        self.popen = popen
        self.pid = popen.pid
        self.name = name
        self.log = log

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=5.0):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        return self.popen.returncode


class Registry:
    """What one run made: processes (by PID), extra PIDs, namespaces."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.processes = []
        self.pids = []          # processes we did not fork ourselves (wireguard-go via wgctl)
        self.namespaces = []

    def cleanup(self):
        errors = []
        for p in reversed(self.processes):
            try:
                p.stop()
            except Exception as e:  # keep going: everything must be removed
                errors.append(f"stop {p.name} ({p.pid}): {e}")
        for pid in self.pids:
            stop_pid(pid)
        for ns in reversed(self.namespaces):
            # Anything still running inside one of our namespaces is ours: by PID.
            for pid in namespace_pids(ns):
                stop_pid(pid)
            r = sh("ip", "netns", "del", ns, check=False)
            if r.returncode != 0 and ns in list_namespaces():
                errors.append(f"ip netns del {ns}: {r.stderr.strip()}")
            shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)
        self.processes.clear()
        self.pids.clear()
        self.namespaces.clear()
        if errors:
            raise RuntimeError("cleanup: " + "; ".join(errors))


def stop_pid(pid, timeout=5.0):
    """SIGTERM, then SIGKILL after timeout: one process, by its PID."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def list_namespaces():
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def namespace_pids(ns):
    r = sh("ip", "netns", "pids", ns, check=False)
    return [int(x) for x in r.stdout.split()]


class Host:
    """One namespace: run commands in it, start processes in it."""

    def __init__(self, registry, name):
        self.registry = registry
        self.name = name
        self.ns = f"hp{registry.run_id}-{name}"
        sh("ip", "netns", "add", self.ns)
        registry.namespaces.append(self.ns)
        self.run("ip", "link", "set", "lo", "up")

    def ifname(self, suffix):
        """An interface name unique to this run: at most 15 bytes."""
        name = f"{self.registry.run_id}{suffix}"
        assert len(name) <= IFNAME_MAX, name
        return name

    def run(self, *cmd, check=True, input=None, timeout=30):
        return sh("ip", "netns", "exec", self.ns, *cmd, check=check, input=input, timeout=timeout)

    def popen(self, *cmd, name=None, log=None, env=None, stdin=subprocess.DEVNULL):
        """Start a process in this namespace, output to log (a path) or discarded."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns, *map(str, cmd)], stdin=stdin,
                                 stdout=out, stderr=subprocess.STDOUT, env=env)
        finally:
            if log:
                out.close()
        proc = Process(p, name or str(cmd[0]), log)
        self.registry.processes.append(proc)
        return proc

    def etc_file(self, name, text):
        """A file seen as /etc/NAME by processes started in this namespace
        (e.g. resolv.conf); removed with the namespace."""
        d = ETC_NETNS / self.ns
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)

    def sysctl(self, key, value):
        self.run("sysctl", "-q", "-w", f"{key}={value}")
