"""Starts a real xmppd for one integration test: free ports on 127.0.0.1, a
temporary LMDB data directory, the test certificate, and a log file kept
for failures. Used with Debian's python3-slixmpp (/usr/bin/python3)."""
import os
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CERTS = os.path.join(ROOT, "tests", "data", "certs")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, xmppd, extra=(), domain="localhost"):
        self.xmppd = xmppd
        self.domain = domain
        self.port = free_port()
        self.tls_port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="xmppd-it-")
        self.data = os.path.join(self.tmp.name, "data")
        self.log_path = os.path.join(self.tmp.name, "xmppd.log")
        self.args = [
            xmppd,
            "--domain", domain,
            "--listen", f"127.0.0.1:{self.port}",
            "--tls-listen", f"127.0.0.1:{self.tls_port}",
            "--data", self.data,
            "--cert", os.path.join(CERTS, "server.pem"),
            "--key", os.path.join(CERTS, "server.key"),
            "--allow-registration",
            "--log-level", "debug",
            *extra,
        ]
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
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
        self.tmp.cleanup()
        if exc[0] is None and code != 0:
            raise AssertionError(f"xmppd exited with {code} on SIGTERM")
        return False
