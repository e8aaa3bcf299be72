"""Starts a real xmppd for one integration test: free ports on 127.0.0.1, a
temporary LMDB data directory, the test certificate, and a log file kept
for failures. Used with Debian's python3-slixmpp (/usr/bin/python3)."""
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CERTS = os.path.join(ROOT, "tests", "data", "certs")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


_HANDED_OUT = set()


def free_port():
    """A port free on 127.0.0.1 now, drawn below the kernel's ephemeral
    range: a port the kernel hands out (bind to 0) can be taken by any
    outgoing connection of a test running beside this one before the server
    binds it, which failed runs with 'Address already in use'."""
    low, _ = _ephemeral_range()
    top = min(low, 65536)
    for _ in range(200):
        port = random.randrange(max(1024, top - 12000), top)
        if port in _HANDED_OUT:  # never the same port twice in one test
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, xmppd, extra=(), domain="localhost", workdir=None, env=None):
        """|workdir|: keep the data directory and log there (created if
        missing, never deleted) instead of a temporary directory. |env|:
        extra environment variables for every start (e.g. XMPPD_CRASH_AT)."""
        self.xmppd = xmppd
        self.domain = domain
        self.port = free_port()
        self.tls_port = free_port()
        self.compact_port = free_port()  # spec/compact.md §3.2
        if workdir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="xmppd-it-")
            base = self.tmp.name
        else:
            self.tmp = None
            os.makedirs(workdir, exist_ok=True)
            base = workdir
        self.workdir = base
        self.env = dict(env or {})
        self.data = os.path.join(base, "data")
        self.log_path = os.path.join(base, "xmppd.log")
        self.args = [
            xmppd,
            "--domain", domain,
            "--listen", f"127.0.0.1:{self.port}",
            "--tls-listen", f"127.0.0.1:{self.tls_port}",
            "--compact-listen", f"127.0.0.1:{self.compact_port}",
            "--data", self.data,
            "--cert", os.path.join(CERTS, "server.pem"),
            "--key", os.path.join(CERTS, "server.key"),
            "--allow-registration",
            "--log-level", "debug",
            *extra,
        ]
        self.proc = None

    def start(self, env=None):
        """Starts xmppd (again, after stop() or kill(), on the same data
        directory and ports). The log is appended to across restarts.
        |env| adds environment variables for this start only."""
        self.log = open(self.log_path, "ab")
        self.log.write(f"==== xmppd start {time.strftime('%H:%M:%S')} ====\n".encode())
        self.log.flush()
        run_env = None
        if self.env or env:
            run_env = dict(os.environ, **self.env, **(env or {}))
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=run_env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"xmppd exited with {self.proc.returncode}\n{self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("xmppd did not start listening\n" + self.read_log())

    def stop(self):
        """SIGTERM and wait: returns the exit code (0 is a clean shutdown)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        self.log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash) and wait: returns the exit code (-9), or the
        code the process had already exited with."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is not None or code != 0:
            print("---- xmppd log ----")
            print(self.read_log()[-20000:])
        if self.tmp is not None:
            self.tmp.cleanup()
        if exc[0] is None and code != 0:
            raise AssertionError(f"xmppd exited with {code} on SIGTERM")
        return False
