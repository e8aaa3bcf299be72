#!/usr/bin/python3
"""The issue-8 benchmark suite (a measurement, never a test): every figure of
docs/performance.md's target table from one run, printed as one table.

Each measurement starts a fresh server with a fresh data directory, pinned
to one core (taskset -c 0), and runs xd-loadgen pinned to the other core
(taskset -c 1): logins per second (SCRAM-SHA-1, SaltedPassword cached per
account as real clients do), durable 1:1 throughput (100 and 1000 pairs, 10
messages in flight each), open-loop latency at 2k and 50k msg/s, bytes per
idle authenticated connection (plaintext and TLS), the offline store rate
and the delivery time of a 10,000-message backlog. Beside each load figure
it reports the server's CPU time per operation (from /proc/PID/stat), which
does not depend on how busy the shared machine was.

With --compare, the comparable figures (logins, throughput, latency, idle)
are also taken from Prosody and ejabberd when they are installed, each
configured like xmppd here: plaintext c2s on loopback, SASL PLAIN allowed,
rate limits and shapers off, accounts created before the run. The store and
backlog figures use xmppd's durable-queue markers (spec/delivery.md) and
have no equivalent there.

Usage: bench_suite.py --xmppd PATH --loadgen PATH [--compare] [--only NAME,...]
Environment (sizes): XD_BENCH_LOGINS (5000), XD_BENCH_SECONDS (5),
XD_BENCH_IDLE (10000; the target is stated at 19000), XD_BENCH_TMP (parent
of the data directories; put it on the disk you mean to measure)."""
import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CERTS = os.path.join(ROOT, "tests", "data", "certs")
PASSWORD = "pw"
USERS = 40          # accounts u0..u39; sessions share them (up to 1000 each)
OFFLINE = 100       # accounts o0..o99 for the store and backlog runs
CLK_TCK = os.sysconf("SC_CLK_TCK")
PIN_SERVER = ["taskset", "-c", "0"] if shutil.which("taskset") else []
PIN_CLIENT = ["taskset", "-c", "1"] if shutil.which("taskset") else []


def env_int(name, default):
    return int(os.environ.get(name, default))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not open its port")


def stop_process(proc):
    """SIGTERM, then SIGKILL after a minute."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid):
    """utime + stime of |pid| (all its threads) in seconds; None once the
    process is gone (a server that died under the load)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fields(line):
    return dict(f.split("=", 1) for f in line.split() if "=" in f)


def report(out, prefix):
    for line in out.splitlines():
        if line.startswith(prefix):
            return fields(line)
    return None


class Xmppd:
    name = "xmppd"

    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp
        self.template = os.path.join(tmp, "xmppd-template")
        os.makedirs(self.template)
        for i in range(USERS):
            self._admin("user", "add", f"u{i}", PASSWORD)
        for i in range(OFFLINE):
            self._admin("user", "add", f"o{i}", PASSWORD)
        self.proc = None

    def _admin(self, *args, data=None):
        subprocess.run([self.binary, "--data", data or self.template, *args], check=True,
                       stdout=subprocess.DEVNULL)

    def start(self, settings=(), tls=False):
        self.stop()
        self.data = os.path.join(self.tmp, "xmppd-data")
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.copytree(self.template, self.data)
        self.port = free_port()
        args = [*PIN_SERVER, self.binary, "--domain", "localhost",
                "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
                "--log-level", "warn",
                "--set", "read_rate_bytes=0", "--set", "sessions_per_account=1000",
                "--set", "max_unauthenticated=1000000",
                "--set", "max_unauthenticated_per_ip=1000000"]
        # Plaintext runs have no certificate, so PLAIN is offered without
        # TLS (--allow-plaintext, loopback only); TLS runs use the test CA's.
        if tls:
            args += ["--cert", os.path.join(CERTS, "server.pem"),
                     "--key", os.path.join(CERTS, "server.key")]
        else:
            args += ["--allow-plaintext"]
        for s in settings:
            args += ["--set", s]
        self.proc = subprocess.Popen(args)
        wait_port(self.port, self.proc)
        return self.proc.pid

    def stop(self):
        stop_process(self.proc)
        self.proc = None


def loadgen(args, port, extra, server_pid=None, mark=None):
    """Runs xd-loadgen; returns (exit code, stdout, stderr, server CPU
    seconds from the line starting with |mark| (the end of the logins) to
    the exit, or None)."""
    cmd = [*PIN_CLIENT, args.loadgen, "--server", f"127.0.0.1:{port}", "--domain", "localhost",
           "--users", str(USERS), "--password", PASSWORD, *extra]
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    out, c0 = [], None
    for line in proc.stdout:
        out.append(line)
        if mark and c0 is None and line.startswith(mark):
            c0 = cpu_seconds(server_pid)
    proc.wait()
    c1 = cpu_seconds(server_pid) if c0 is not None else None
    cpu = c1 - c0 if c1 is not None else None
    err.seek(0)
    return proc.returncode, "".join(out), err.read(), cpu


class Result:
    def __init__(self):
        self.rows = []  # (measure, {server: text}, goal)

    def add(self, measure, server, text, goal=""):
        for row in self.rows:
            if row[0] == measure:
                row[1][server] = text
                return
        self.rows.append((measure, {server: text}, goal))

    def print(self, servers):
        head = ["measure", *servers, "goal (xmppd)"]
        table = [head] + [[m, *[v.get(s, "-") for s in servers], g] for m, v, g in self.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for k, r in enumerate(table):
            print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
            if k == 0:
                print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def m_login(args, server, result):
    n = env_int("XD_BENCH_LOGINS", 5000)
    pid = server.start()
    code, out, err, cpu = loadgen(args, server.port,
                                  ["--concurrency", "100", "login", "--connections", str(n)],
                                  pid, "login-warmup:")
    r = report(out, "login-logins:")
    if code != 0 or not r:
        result.add("SCRAM-SHA-1 logins/s", server.name, f"failed ({err.strip()[:60]})", "≥ 5,000")
        return
    per = f"{cpu / int(r['ok']) * 1e6:.0f} µs" if cpu is not None else "?"
    result.add("SCRAM-SHA-1 logins/s", server.name,
               f"{float(r['logins_per_s']):,.0f} ({per} server CPU each)", "≥ 5,000")


def m_throughput(args, server, result, pairs):
    secs = env_int("XD_BENCH_SECONDS", 5)
    pid = server.start()
    code, out, err, cpu = loadgen(
        args, server.port, ["--plain", "--concurrency", "200", "throughput", "--pairs", str(pairs),
                            "--window", "10", "--seconds", str(secs)], pid, "throughput-logins:")
    r = report(out, "throughput:")
    goal = "≥ 250k" if pairs == 100 else "≥ 200k"
    label = f"1:1 throughput, {pairs} pairs, window 10 (msg/s)"
    if not r:
        result.add(label, server.name, f"failed ({err.strip()[:60]})", goal)
        return
    sent = int(r["sent"])
    anomalies = f"lost {r['lost']}, dup {r['dup']}, reordered {r['reordered']}"
    per = cpu / max(sent, 1) * 1e6 if cpu is not None else float("nan")
    result.add(label, server.name,
               f"{float(r['msg_per_s']):,.0f}; p50 {float(r['p50_us']) / 1e3:.1f} ms, "
               f"p99 {float(r['p99_us']) / 1e3:.1f} ms; {anomalies}; {per:.1f} µs CPU/msg", goal)


def m_latency(args, server, result, rate):
    secs = env_int("XD_BENCH_SECONDS", 5)
    pid = server.start()
    code, out, err, cpu = loadgen(args, server.port,
                                  ["--plain", "--concurrency", "200", "latency", "--pairs", "100",
                                   "--rate", str(rate), "--seconds", str(secs), "--grace", "10"],
                                  pid, "latency-logins:")
    r = report(out, "latency:")
    goal = "p50 ≤ 0.1 ms" if rate <= 2000 else "p99 < 1 ms"
    label = f"latency at {rate:,} msg/s, 100 pairs"
    if not r:
        result.add(label, server.name, f"failed ({err.strip()[:60]})", goal)
        return
    ms = lambda k: f"{float(r[k]) / 1e3:.2f}"
    result.add(label, server.name,
               f"p50 {ms('p50_us')} / p90 {ms('p90_us')} / p99 {ms('p99_us')} / "
               f"p99.9 {ms('p999_us')} / max {ms('max_us')} ms; lost {r['lost']}; "
               f"pacer lag p50 {ms('lag_p50_us')} / p99 {ms('lag_p99_us')} ms", goal)


def m_idle(args, server, result, tls):
    n = env_int("XD_BENCH_IDLE", 10000)
    pid = server.start(tls=tls)
    time.sleep(0.5)
    base = rss_kib(pid)
    cmd = [*PIN_CLIENT, args.loadgen, "--server", f"127.0.0.1:{server.port}",
           "--domain", "localhost", "--users", str(USERS), "--password", PASSWORD,
           "--concurrency", "200", "--login-timeout", "600"]
    if tls:
        cmd += ["--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--dialect", "xml"]
    cmd += ["idle", "--connections", str(n), "--hold", "0"]
    label = f"bytes per idle connection, {n:,} {'TLS' if tls else 'plaintext'}"
    goal = "≤ 12,288" if tls else "≤ 4,096"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ok = False
    for line in proc.stdout:
        if line.startswith("idle: all-bound="):
            ok = int(fields(line)["all-bound"]) == n
            break
    if ok:
        time.sleep(3)  # idle timers (parser hibernation after 1 s) have run
        after = rss_kib(pid)
        result.add(label, server.name, f"{(after - base) * 1024 / n:,.0f}", goal)
    else:
        result.add(label, server.name, "failed", goal)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def m_store(args, server, result):
    secs = env_int("XD_BENCH_SECONDS", 5)
    pid = server.start(["offline_quota=10000000"])
    code, out, err, cpu = loadgen(
        args, server.port, ["--plain", "store", "--senders", "100", "--window", "100",
                            "--offline-users", str(OFFLINE), "--seconds", str(secs)],
        pid, "store-logins:")
    r = report(out, "store:")
    label = "offline store, 100 senders (msg/s committed)"
    if not r:
        result.add(label, server.name, f"failed ({err.strip()[:60]} {out.strip()[:60]})", "≥ 100k")
        return
    result.add(label, server.name,
               f"{float(r['msg_per_s']):,.0f}; bounced {r['bounced']}; "
               f"{cpu / max(int(r['acked']), 1) * 1e6:.1f} µs CPU/msg", "≥ 100k")


def m_backlog(args, server, result):
    pid = server.start(["offline_quota=10000000"])
    code, out, err, _ = loadgen(args, server.port,
                                ["--plain", "backlog", "--senders", "10", "--window", "100",
                                 "--messages", "10000", "--timeout", "120"], pid)
    r = report(out, "backlog:")
    label = "10,000-message backlog: presence -> done"
    if not r or code != 0:
        result.add(label, server.name, f"failed ({err.strip()[:60]})", "< 100 ms")
        return
    result.add(label, server.name,
               f"{float(r['presence_to_done_ms']):.1f} ms; received {r['unique']}, "
               f"missing {r['missing']}, dup {r['duplicates']}", "< 100 ms")


MEASURES = {
    "login": lambda a, s, r: m_login(a, s, r),
    "throughput100": lambda a, s, r: m_throughput(a, s, r, 100),
    "throughput1000": lambda a, s, r: m_throughput(a, s, r, 1000),
    "latency2k": lambda a, s, r: m_latency(a, s, r, 2000),
    "latency50k": lambda a, s, r: m_latency(a, s, r, 50000),
    "idle": lambda a, s, r: m_idle(a, s, r, tls=False),
    "idle_tls": lambda a, s, r: m_idle(a, s, r, tls=True),
    "store": lambda a, s, r: m_store(a, s, r),
    "backlog": lambda a, s, r: m_backlog(a, s, r),
}
XMPPD_ONLY = {"store", "backlog"}


def main():
    # Each side holds one fd per connection: raise the soft limit to the
    # hard one (20,000 per process on this machine).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = argparse.ArgumentParser()
    p.add_argument("--xmppd", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--compare", action="store_true")
    p.add_argument("--only", default="", help="comma-separated: " + ",".join(MEASURES))
    args = p.parse_args()
    only = [m for m in args.only.split(",") if m] or list(MEASURES)
    tmp = tempfile.mkdtemp(prefix="xd-bench-suite.", dir=os.environ.get("XD_BENCH_TMP"))
    servers = []
    try:
        servers.append(Xmppd(os.path.abspath(args.xmppd), tmp))
        if args.compare:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from bench_compare import other_servers  # Prosody and ejabberd adapters
            servers += other_servers(tmp, USERS, PASSWORD, OFFLINE, os.path.abspath(args.loadgen))
        result = Result()
        for name in only:
            # Interleaved: each measurement runs on every server before the
            # next (the machine is shared; anchors.md asks for this).
            for server in servers:
                if name in XMPPD_ONLY and server.name != "xmppd":
                    continue
                load = os.getloadavg()[0]
                print(f"-- {name} on {server.name} (load {load:.2f})", file=sys.stderr, flush=True)
                try:
                    MEASURES[name](args, server, result)
                except Exception as e:  # a server that died: report it, go on
                    result.add(name, server.name, f"failed: {type(e).__name__}: {e}"[:80])
                finally:
                    server.stop()
        result.print([s.name for s in servers])
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
