#!/usr/bin/python3
"""Our own client end to end: xd-loadgen (client/loadgen, XMPP over net/ and
protocol/) logs in to a real xmppd with the test certificate using
SCRAM-SHA-1-PLUS and SCRAM-SHA-256-PLUS with tls-exporter channel binding
(RFC 9266, XEP-0440) over TLS 1.3, through STARTTLS and through direct TLS
(XEP-0368). A wrong password must fail the same way. Both sides verify:
xd-loadgen checks the server signature (RFC 5802 §3) and the server's log
names the -PLUS mechanism it accepted.

Usage: loadgen_test.py XMPPD XD_LOADGEN CASE"""
import os
import subprocess
import sys

from harness import CERTS, Server

PLUS_MECHS = ("SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS")
USER = "alice0"  # xd-loadgen logs in as PREFIX0 with --users 1
PASSWORD = "correct horse battery"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def add_user(server, name, password):
    subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, password],
                   check=True, capture_output=True)


def loadgen(loadgen_path, server, mech, direct_tls, password=PASSWORD, cb="tls-exporter"):
    """One login with |mech|; returns (exit code, stdout, stderr)."""
    port = server.tls_port if direct_tls else server.port
    args = [loadgen_path,
            "--server", f"127.0.0.1:{port}",
            "--domain", server.domain,
            "--users", "1", "--user-prefix", "alice",
            "--password", password,
            "--mechanism", mech,
            "--channel-binding", cb,
            "--direct-tls" if direct_tls else "--tls",
            "--ca", os.path.join(CERTS, "ca.pem"),
            "--login-timeout", "20",
            "login", "--connections", "1"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def expect_login(loadgen_path, server, mech, direct_tls, cb="tls-exporter"):
    code, out, err = loadgen(loadgen_path, server, mech, direct_tls, cb=cb)
    what = f"{mech} over {'direct TLS' if direct_tls else 'STARTTLS'} ({cb})"
    check(code == 0, f"{what}: exit {code}\n{out}{err}")
    check("ok=1 failed=0" in out, f"{what}: one login bound: {out}")
    check(f"mech={mech} " in out and f"cb={cb} " in out, f"{what}: reports the mechanism: {out}")
    transport = "direct-tls" if direct_tls else "starttls"
    check(f"transport={transport} " in out, f"{what}: {out}")
    # tls-exporter is only defined where the exporter covers the whole
    # handshake; our server and client negotiate TLS 1.3 (RFC 9266 §3).
    check("tls_version=TLSv1.3 " in out, f"{what}: TLS 1.3: {out}")
    check(f"authenticated {USER}@{server.domain} ({mech})" in server.read_log(),
          f"{what}: the server accepted {mech}")
    print(f"{what}: {out.strip()}")


def expect_refused(loadgen_path, server, mech, direct_tls):
    before = server.read_log().count(f"authenticated {USER}@")
    code, out, err = loadgen(loadgen_path, server, mech, direct_tls, password="wrong password")
    what = f"{mech} over {'direct TLS' if direct_tls else 'STARTTLS'}, wrong password"
    check(code == 1, f"{what}: exit {code} (1 = a login failed)\n{out}{err}")
    check("ok=0 failed=1" in out, f"{what}: {out}")
    check("not-authorized" in err, f"{what}: the server's SASL failure is reported: {err}")
    check(server.read_log().count(f"authenticated {USER}@") == before,
          f"{what}: the server authenticated nobody")
    print(f"{what}: exit {code}: {err.strip()}")


# ------------------------------------------------------------------- cases

def c_scram_plus_starttls(loadgen_path, server):
    for mech in PLUS_MECHS:
        expect_login(loadgen_path, server, mech, direct_tls=False)
    # A -PLUS mechanism without TLS has nothing to bind to: a usage error.
    done = subprocess.run([loadgen_path, "--server", f"127.0.0.1:{server.port}",
                           "--mechanism", "SCRAM-SHA-256-PLUS", "login", "--connections", "1"],
                          capture_output=True, text=True, timeout=30)
    check(done.returncode == 2 and "--tls" in done.stderr,
          f"-PLUS without TLS is refused: {done.returncode} {done.stderr}")


def c_scram_plus_direct_tls(loadgen_path, server):
    for mech in PLUS_MECHS:
        expect_login(loadgen_path, server, mech, direct_tls=True)


def c_scram_plus_server_end_point(loadgen_path, server):
    # The other binding type the server lists (RFC 5929 §4).
    expect_login(loadgen_path, server, "SCRAM-SHA-256-PLUS", direct_tls=False,
                 cb="tls-server-end-point")


def c_scram_plus_wrong_password(loadgen_path, server):
    for direct_tls in (False, True):
        for mech in PLUS_MECHS:
            expect_refused(loadgen_path, server, mech, direct_tls)
    # The account itself is fine: the right password still gets in.
    expect_login(loadgen_path, server, "SCRAM-SHA-256-PLUS", direct_tls=False)


def c_backlog_with_our_client(loadgen_path, server):
    """The project's own client through the durable path (spec/delivery.md):
    three senders with XEP-0198 store 600 messages for an offline account
    (counted only when their acks cover them), which then logs in over
    STARTTLS; xd-loadgen exits 0 only if exactly those 600 arrive between
    the catch-up markers, each with a delay stamp, and the markers count
    600 (more than the 500-stanza stream-management window, so the
    backlog has to be paced)."""
    for i in range(3):
        add_user(server, f"u{i}", PASSWORD)
    add_user(server, "o0", PASSWORD)
    args = [loadgen_path, "--server", f"127.0.0.1:{server.port}", "--domain", server.domain,
            "--users", "3", "--user-prefix", "u", "--password", PASSWORD,
            "--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--login-timeout", "20",
            "backlog", "--senders", "3", "--window", "50", "--messages", "600",
            "--timeout", "60"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=150)
    check(done.returncode == 0,
          f"xd-loadgen backlog failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    check("600" in done.stdout, f"the report names the 600 messages:\n{done.stdout}")


def run_loadgen(loadgen_path, server, users, prefix, mode_args, common=(), timeout=120):
    args = [loadgen_path, "--server", f"127.0.0.1:{server.port}", "--domain", server.domain,
            "--users", str(users), "--user-prefix", prefix, "--password", PASSWORD,
            "--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--login-timeout", "60",
            *common, *mode_args]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def fields(line):
    """The key=value pairs of one report line."""
    return dict(f.split("=", 1) for f in line.split() if "=" in f)


def report_line(out, prefix):
    lines = [l for l in out.splitlines() if l.startswith(prefix)]
    check(len(lines) == 1, f"one '{prefix}' line expected:\n{out}")
    return fields(lines[0])


def c_login_key_cache(loadgen_path, server):
    """RFC 5802 §5.1: with the SaltedPassword cached per account, the login
    mode first logs every account in once (unmeasured), then times the
    logins; each timed login is a full SCRAM exchange the server verifies.
    With --no-key-cache there is no warm-up round. A cached key that went
    stale (the password changed) fails once and is dropped; here each run is
    a fresh process, so the new password works."""
    for i in range(3):
        add_user(server, f"k{i}", PASSWORD)
    log_before = server.read_log().count("authenticated k")
    code, out, err = run_loadgen(loadgen_path, server, 3, "k",
                                 ["login", "--connections", "30"],
                                 common=["--mechanism", "SCRAM-SHA-256", "--concurrency", "5"])
    check(code == 0, f"exit {code}\n{out}{err}")
    warm = report_line(out, "login-warmup:")
    check(warm["ok"] == "3" and warm["failed"] == "0", f"warm-up round: {out}")
    timed = report_line(out, "login-logins:")
    check(timed["ok"] == "30" and timed["failed"] == "0", f"timed round: {out}")
    check(timed["mech"] == "SCRAM-SHA-256", out)
    check(server.read_log().count("authenticated k") - log_before == 33,
          "the server authenticated 3 + 30 SCRAM logins")
    code, out, err = run_loadgen(loadgen_path, server, 3, "k", ["login", "--connections", "6"],
                                 common=["--mechanism", "SCRAM-SHA-256", "--no-key-cache"])
    check(code == 0, f"--no-key-cache: exit {code}\n{out}{err}")
    check("login-warmup:" not in out, f"no warm-up without the cache: {out}")
    check(report_line(out, "login-logins:")["ok"] == "6", out)
    # A wrong password fails in the warm-up round and nothing is timed.
    args = [loadgen_path, "--server", f"127.0.0.1:{server.port}", "--domain", server.domain,
            "--users", "3", "--user-prefix", "k", "--password", "wrong",
            "--tls", "--ca", os.path.join(CERTS, "ca.pem"), "--login-timeout", "30",
            "login", "--connections", "6"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(done.returncode == 1, f"wrong password: exit {done.returncode}\n{done.stdout}")
    check(report_line(done.stdout, "login-warmup:")["failed"] == "3", done.stdout)
    check("login-logins:" not in done.stdout, f"nothing timed: {done.stdout}")
    print(f"login_key_cache: {out.strip()}")


def c_latency_fixed_rate(loadgen_path, server):
    """Open loop at a fixed rate: 4 pairs, 150 msg/s for 2 s. Every message
    is stamped with its due time and must arrive once and in order; the
    report carries p50 <= p90 <= p99 <= p99.9 <= max."""
    for i in range(2):
        add_user(server, f"t{i}", PASSWORD)
    code, out, err = run_loadgen(loadgen_path, server, 2, "t",
                                 ["latency", "--pairs", "4", "--rate", "150", "--seconds", "2",
                                  "--grace", "10"])
    check(code == 0, f"exit {code}\n{out}{err}")
    r = report_line(out, "latency: ")
    check(r["pairs"] == "4" and r["rate"] == "150", out)
    sent = int(r["sent"])
    # The pacer sends what is due at 1 ms ticks up to the end of the window.
    check(290 <= sent <= 300, f"about 300 messages sent: {out}")
    check(r["lost"] == "0" and r["dup"] == "0" and r["reordered"] == "0" and r["bounced"] == "0",
          f"nothing lost, duplicated, reordered or bounced: {out}")
    q = [float(r[k]) for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")]
    check(q[0] > 0 and q == sorted(q), f"percentiles ordered: {q}")
    print(f"latency_fixed_rate: {out.strip()}")


def c_register_rate(loadgen_path, server):
    """XEP-0077 in-band registration: 12 new accounts r5..r16 (a second
    process would start at --first-index 17), each created and logged in on
    its stream; they exist afterwards and an existing name is refused with
    conflict."""
    code, out, err = run_loadgen(loadgen_path, server, 1, "r",
                                 ["register", "--connections", "12"],
                                 common=["--first-index", "5", "--concurrency", "4"])
    check(code == 0, f"exit {code}\n{out}{err}")
    r = report_line(out, "register-logins:")
    check(r["ok"] == "12" and r["failed"] == "0", out)
    listed = subprocess.run([server.xmppd, "--data", server.data, "user", "list"],
                            capture_output=True, text=True, check=True).stdout.split()
    names = sorted(u.split("@")[0] for u in listed if u.startswith("r"))
    check(names == sorted(f"r{i}" for i in range(5, 17)),
          f"accounts r5..r16 exist: {listed}")
    code, out, err = run_loadgen(loadgen_path, server, 1, "r", ["register", "--connections", "1"],
                                 common=["--first-index", "5"])
    check(code == 1 and "conflict" in err, f"r5 again: exit {code}\n{out}{err}")
    # The new accounts log in with their password (connection i is account
    # (first + i) mod users: r5..r16).
    code, out, err = run_loadgen(loadgen_path, server, 17, "r", ["login", "--connections", "12"],
                                 common=["--first-index", "5"])
    check(code == 0 and report_line(out, "login-logins:")["ok"] == "12", f"{out}{err}")
    print(f"register_rate: {out.strip()}")


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}
EXTRA_ARGS = {"register_rate": ["--allow-registration"]}


def main():
    xmppd, loadgen_path, name = sys.argv[1], sys.argv[2], sys.argv[3]
    with Server(xmppd, extra=EXTRA_ARGS.get(name, [])) as server:
        add_user(server, USER, PASSWORD)
        CASES[name](loadgen_path, server)
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
