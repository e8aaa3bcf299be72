#!/usr/bin/python3
"""The scale-out benchmark (issue 9; a measurement, never a test): xmppd
nodes on a real three-server NATS JetStream cluster on this machine
(docs/cluster.md), against the same nodes with sender and receiver on one
node.

- throughput: 100 pairs, 10 messages in flight each, durable; receivers on
  the senders' node (with the journal copy in JetStream, then without it),
  and on another node (every message a JetStream hand-off).
- latency: open loop at a fixed rate, same node vs cross node.
- connections: NODES nodes (5 by default), each holding CONNS idle
  authenticated connections (19,000 by default: a process here may hold
  20,000 files), from one xd-loadgen process per node; the total held, the
  RSS of each node and the directory's size.

Everything shares two cores (the NATS servers too), so the figures are for
this machine's load as a whole, not for xmppd alone; server CPU per message
is printed beside them.

Usage: bench_cluster.py --xmppd PATH --loadgen PATH [--only throughput,latency,connections]
Environment: XD_BENCH_SECONDS (5), XD_BENCH_CLUSTER_NODES (5),
XD_BENCH_CLUSTER_CONNS (19000)."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from bench_suite import (PIN_CLIENT, PIN_SERVER, cpu_seconds, env_int, fields,  # noqa: E402
                         free_port, rss_kib, stop_process, wait_port)
from nats_cluster import NatsCluster  # noqa: E402

PASSWORD = "pw"
USERS = 40


class Node:
    def __init__(self, binary, tmp, urls, index):
        self.binary = binary
        self.name = f"n{index}"
        self.data = os.path.join(tmp, self.name)
        self.urls = urls
        self.port = free_port()
        self.proc = None

    def start(self, extra=()):
        args = [*PIN_SERVER, self.binary, "--domain", "localhost",
                "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
                "--log-level", "warn", "--allow-plaintext",
                "--cluster", self.urls, "--node-id", self.name,
                "--set", "read_rate_bytes=0", "--set", "sessions_per_account=1000",
                "--set", "max_unauthenticated=1000000",
                "--set", "max_unauthenticated_per_ip=1000000",
                "--set", "connects_per_ip_second=0", *extra]
        self.proc = subprocess.Popen(args)
        wait_port(self.port, self.proc, seconds=60)
        return self.proc.pid

    def stop(self):
        stop_process(self.proc)
        self.proc = None


def loadgen(args, server, extra, receiver=None, users=USERS):
    cmd = [*PIN_CLIENT, args.loadgen, "--server", f"127.0.0.1:{server.port}",
           "--domain", "localhost", "--users", str(users), "--password", PASSWORD, "--plain"]
    if receiver is not None:
        cmd += ["--receiver-server", f"127.0.0.1:{receiver.port}"]
    cmd += extra
    return subprocess.run(cmd, capture_output=True, text=True)


def line(out, prefix):
    for ln in out.splitlines():
        if ln.startswith(prefix):
            return fields(ln)
    return None


def throughput(args, a, b, label, rows):
    secs = env_int("XD_BENCH_SECONDS", 5)
    c0 = cpu_seconds(a.proc.pid) + (cpu_seconds(b.proc.pid) if b is not a else 0)
    r = loadgen(args, a, ["--concurrency", "200", "throughput", "--pairs", "100", "--window",
                          "10", "--seconds", str(secs)], receiver=b)
    c1 = cpu_seconds(a.proc.pid) + (cpu_seconds(b.proc.pid) if b is not a else 0)
    f = line(r.stdout, "throughput:")
    if not f:
        rows.append((label, f"failed: {r.stderr.strip()[-200:]}"))
        return
    sent = max(int(f["sent"]), 1)
    rows.append((label, f"{float(f['msg_per_s']):,.0f} msg/s; p50 {float(f['p50_us']) / 1e3:.1f} ms,"
                        f" p99 {float(f['p99_us']) / 1e3:.1f} ms; lost {f['lost']}, dup {f['dup']},"
                        f" reordered {f['reordered']}; xmppd CPU {(c1 - c0) / sent * 1e6:.1f} µs/msg"
                        f" (both nodes)"))


def latency(args, a, b, rate, label, rows):
    secs = env_int("XD_BENCH_SECONDS", 5)
    r = loadgen(args, a, ["--concurrency", "200", "latency", "--pairs", "100", "--rate", str(rate),
                          "--seconds", str(secs), "--grace", "10"], receiver=b)
    f = line(r.stdout, "latency:")
    if not f:
        rows.append((label, f"failed: {r.stderr.strip()[-200:]}"))
        return
    ms = lambda k: f"{float(f[k]) / 1e3:.2f}"  # noqa: E731
    rows.append((label, f"p50 {ms('p50_us')} / p90 {ms('p90_us')} / p99 {ms('p99_us')} / "
                        f"p99.9 {ms('p999_us')} / max {ms('max_us')} ms; lost {f['lost']}"))


def connections(args, nodes, rows):
    per = env_int("XD_BENCH_CLUSTER_CONNS", 19000)
    procs = []
    t0 = time.monotonic()
    base = {n.name: rss_kib(n.proc.pid) for n in nodes}
    for k, n in enumerate(nodes):
        cmd = [*PIN_CLIENT, args.loadgen, "--server", f"127.0.0.1:{n.port}", "--domain",
               "localhost", "--users", str(USERS), "--password", PASSWORD, "--plain",
               "--concurrency", "200", "--first-index", str(k * per), "--login-timeout", "600",
               "idle", "--connections", str(per), "--hold", "0"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    held = 0
    bound = {}
    for k, p in enumerate(procs):
        # Each reports its logins, then holds until told to stop.
        for ln in p.stdout:
            if ln.startswith("idle: all-bound="):
                bound[nodes[k].name] = int(fields(ln)["all-bound"])
                break
    took = time.monotonic() - t0
    time.sleep(2)
    held = sum(bound.values())
    rss = {n.name: rss_kib(n.proc.pid) for n in nodes}
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    per_conn = [(rss[n] - base[n]) * 1024 / max(bound.get(n, 1), 1) for n in rss]
    rows.append((f"idle connections over {len(nodes)} nodes",
                 f"{held:,} held ({', '.join(f'{k} {v:,}' for k, v in bound.items())}) "
                 f"after {took:.0f} s; node RSS growth {min(per_conn) / 1024:.1f}-"
                 f"{max(per_conn) / 1024:.1f} KiB per connection"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xmppd", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--only", default="throughput,latency,connections")
    args = ap.parse_args()
    only = set(args.only.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="xd-bench-cluster-") as tmp:
        cluster = NatsCluster(3, base_dir=os.path.join(tmp, "nats"))
        cluster.start()
        try:
            count = env_int("XD_BENCH_CLUSTER_NODES", 5) if "connections" in only else 2
            nodes = [Node(args.xmppd, tmp, cluster.urls, i + 1) for i in range(max(count, 2))]
            for i in range(USERS):
                subprocess.run([args.xmppd, "--data", nodes[0].data, "--cluster", cluster.urls,
                                "user", "add", f"u{i}", PASSWORD], check=True,
                               stdout=subprocess.DEVNULL)
            for n in nodes:
                n.start()
            a, b = nodes[0], nodes[1]
            if "throughput" in only:
                throughput(args, a, a, "throughput, 100 pairs, same node (journal)", rows)
                throughput(args, a, b, "throughput, 100 pairs, across nodes", rows)
                a.stop()
                a.start(["--cluster-no-journal"])
                throughput(args, a, a, "throughput, 100 pairs, same node, no journal", rows)
                a.stop()
                a.start()
            if "latency" in only:
                for rate in (2000, 10000):
                    latency(args, a, a, rate, f"latency at {rate:,} msg/s, same node (journal)",
                            rows)
                    latency(args, a, b, rate, f"latency at {rate:,} msg/s, across nodes", rows)
            if "connections" in only:
                connections(args, nodes, rows)
            for n in nodes:
                n.stop()
        finally:
            cluster.stop()
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for m, v in rows:
        print(f"| {m.ljust(width)} | {v} |")


if __name__ == "__main__":
    main()
