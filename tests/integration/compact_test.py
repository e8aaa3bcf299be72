#!/usr/bin/python3
"""The compact dialect through a real xmppd (spec/compact.md), with the
project's own client (xd-loadgen on client/session): sessions negotiate the
dialect after TLS and SASL, and the server translates every message between
a compact sender and an XML receiver (--dialect mixed) with nothing lost,
duplicated or reordered; with and without zstd frames; XML-only clients
are untouched.

Usage: compact_test.py XMPPD XD_LOADGEN CASE"""
import os
import re
import subprocess
import sys

from harness import CERTS, Server

PASSWORD = "correct horse battery"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def add_users(server, prefix, n):
    for i in range(n):
        subprocess.run([server.xmppd, "--data", server.data, "user", "add", f"{prefix}{i}",
                        PASSWORD], check=True, capture_output=True)


def throughput(loadgen_path, server, dialect, extra=(), pairs=10):
    args = [loadgen_path, "--server", f"127.0.0.1:{server.port}", "--domain", server.domain,
            "--users", str(pairs), "--user-prefix", "u", "--password", PASSWORD,
            "--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--login-timeout", "20",
            "--dialect", dialect, *extra,
            "throughput", "--pairs", str(pairs), "--window", "5", "--seconds", "2",
            "--grace", "5"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    check(done.returncode == 0, f"xd-loadgen {dialect} failed ({done.returncode}):\n{out}")
    logins = re.search(r"compact=(\d+)", done.stdout)
    check(logins is not None, f"the login line counts compact sessions:\n{out}")
    result = re.search(r"delivered=(\d+) .* lost=(\d+) dup=(\d+) reordered=(\d+) bounced=(\d+)",
                       done.stdout)
    check(result is not None, f"a throughput line:\n{out}")
    delivered, lost, dup, reordered, bounced = (int(x) for x in result.groups())
    check(delivered > 0, f"messages were delivered:\n{out}")
    check((lost, dup, reordered, bounced) == (0, 0, 0, 0), f"no anomalies:\n{out}")
    return int(logins.group(1)), out


def c_mixed_translation(loadgen_path, server):
    """Ten compact senders, ten XML receivers: every message is translated
    from frames to XML by the server (spec §6)."""
    add_users(server, "u", 10)
    compact, out = throughput(loadgen_path, server, "mixed")
    check(compact == 10, f"exactly the ten senders speak compact:\n{out}")
    log = server.read_log()
    check(log.count("compact dialect on with zstd frames") == 10,
          "the server log names each compact session with zstd")


def c_compact_both_ways_no_compression(loadgen_path, server):
    """All twenty sessions compact, without zstd frames (spec §4.3)."""
    add_users(server, "u", 10)
    compact, out = throughput(loadgen_path, server, "compact", ["--no-compression"])
    check(compact == 20, f"all sessions speak compact:\n{out}")
    log = server.read_log()
    check(log.count("compact dialect on") == 20 and "with zstd frames" not in log,
          "compact without zstd in the server log")


def c_xml_clients_untouched(loadgen_path, server):
    """A client that does not ask for the dialect stays XML (the feature is
    only offered, spec §3.1)."""
    add_users(server, "u", 10)
    compact, out = throughput(loadgen_path, server, "xml")
    check(compact == 0, f"no session speaks compact:\n{out}")
    check("compact dialect on" not in server.read_log(), "nothing negotiated")


def c_backlog_to_compact_client(loadgen_path, server):
    """Stored messages (XML in the queue) reach a compact client through the
    backlog pager, between the catch-up markers (spec §9.3)."""
    add_users(server, "u", 3)
    add_users(server, "o", 1)
    args = [loadgen_path, "--server", f"127.0.0.1:{server.port}", "--domain", server.domain,
            "--users", "3", "--user-prefix", "u", "--password", PASSWORD,
            "--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--login-timeout", "20",
            "--dialect", "compact",
            "backlog", "--senders", "3", "--window", "50", "--messages", "300",
            "--timeout", "60"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=150)
    check(done.returncode == 0,
          f"xd-loadgen backlog failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    check(server.read_log().count("compact dialect on") >= 4, "senders and reader were compact")


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}


def main():
    xmppd, loadgen_path, case = sys.argv[1], sys.argv[2], sys.argv[3]
    server = Server(xmppd).start()
    try:
        CASES[case](loadgen_path, server)
    except Exception:
        print(server.read_log()[-4000:], file=sys.stderr)
        raise
    finally:
        server.stop()
    print(f"compact {case}: ok")


if __name__ == "__main__":
    main()
