#!/usr/bin/python3
"""The Prometheus endpoint (server/metrics_endpoint.h, issue 8) against a
real xmppd: scrape, drive XMPP traffic (logins, a message online and one
offline, a stanza error, a stream error, a failed login), scrape again and
check the exact counter deltas; hostile requests on the metrics port
(oversized, never completed, too many connections) are answered or
refused and closed while XMPP and later scrapes keep working; and without
--metrics nothing more listens.

Usage: metrics_test.py XMPPD CASE   (run with /usr/bin/python3)"""
import asyncio
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, free_port  # noqa: E402
from xmpp_client import Client, error_condition, is_message, text_of  # noqa: E402

PASSWORD = "secret-pw"
TIMEOUT = 15
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def add_users(server, *names):
    for name in names:
        subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, PASSWORD],
                       check=True, capture_output=True)


# ------------------------------------------------------------------ HTTP

def http(port, request, timeout=TIMEOUT):
    """Sends |request| (bytes or str) and reads until the server closes.
    Returns (bytes received, how it ended: "eof" or "reset")."""
    data = request.encode() if isinstance(request, str) else request
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        return read_to_end(s, timeout)


def read_to_end(s, timeout=TIMEOUT):
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out, "reset"
        except socket.timeout:
            raise AssertionError(f"the server did not close within {timeout}s; got {out[:200]!r}")
        if not chunk:
            return out, "eof"
        out += chunk


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"\})? '
                    r'(\S+)$')


def parse_exposition(text):
    """{series: float} from the text format, checking HELP/TYPE come first
    for every family and counters end in _total."""
    values = {}
    types = {}
    helped = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            check(name not in helped, f"HELP twice for {name}")
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(name in helped, f"TYPE before HELP for {name}")
            check((kind == "counter") == name.endswith("_total"),
                  f"{name}: a {kind} {'must' if kind == 'counter' else 'must not'} end in _total")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        check(m is not None, f"not a sample line: {line!r}")
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or types.get(base) == "histogram", f"sample before TYPE: {line!r}")
        check(name.startswith("xmppd_") or name.startswith("process_"), f"prefix: {name}")
        key = name + (m.group(2) or "")
        check(key not in values, f"duplicate series {key}")
        values[key] = float(m.group(3))
    return values


def scrape(port):
    raw, how = http(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, body = split_response(raw)
    check(status == "HTTP/1.1 200 OK", f"scrape status: {status!r}")
    check(headers.get("content-type") == CONTENT_TYPE, f"content type: {headers}")
    check(headers.get("connection") == "close", f"Connection: close: {headers}")
    check(int(headers.get("content-length", "-1")) == len(body),
          f"Content-Length {headers.get('content-length')} for {len(body)} bytes")
    check(how == "eof", f"the server closed after the answer ({how})")
    return parse_exposition(body.decode())


async def scrape_async(port):
    return await asyncio.get_running_loop().run_in_executor(None, scrape, port)


async def scrape_until(port, cond, what, timeout=TIMEOUT):
    """Scrapes until |cond|(values) holds: for gauges that follow a close the
    server learns about asynchronously (a peer's FIN). Returns the values."""
    deadline = time.monotonic() + timeout
    while True:
        values = await scrape_async(port)
        if cond(values):
            return values
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        await asyncio.sleep(0.05)


def delta(before, after, series):
    return after.get(series, 0) - before.get(series, 0)


def check_deltas(before, after, expected):
    """Every series named in |expected| moved by exactly that much; every
    other series of the same families did not move."""
    families = {re.sub(r"\{.*", "", k) for k in expected}
    problems = []
    for key in sorted(set(before) | set(after)):
        if re.sub(r"\{.*", "", key) not in families:
            continue
        want = expected.get(key, 0)
        got = delta(before, after, key)
        if got != want:
            problems.append(f"{key}: moved by {got:g}, expected {want:g}")
    for key in expected:
        if key not in after:
            problems.append(f"{key}: missing")
    check(not problems, "counter deltas:\n  " + "\n  ".join(problems))


def check_histogram(values, name):
    buckets = sorted(((float(re.search(r'le="([^"]+)"', k).group(1)), v)
                      for k, v in values.items() if k.startswith(name + "_bucket{")))
    check(buckets and buckets[-1][0] == float("inf"), f"{name}: +Inf bucket last")
    counts = [v for _, v in buckets]
    check(counts == sorted(counts), f"{name}: buckets are cumulative: {buckets}")
    check(counts[-1] == values[name + "_count"], f"{name}: +Inf == _count")
    check(values[name + "_sum"] >= 0, f"{name}_sum")


# ------------------------------------------------------------------ XMPP

async def login(server, user, mechanism, resource):
    c = Client(server.port, server.domain, name=f"{user}/{resource}")
    await c.login(user, PASSWORD, resource=resource, mechanism=mechanism)
    return c


async def xmpp_still_works(server, user="alice"):
    """A full login and a round trip: the XMPP side is unaffected."""
    c = await login(server, user, "SCRAM-SHA-256", "probe")
    reply = await c.ping(TIMEOUT)
    check(reply.get("type") == "result", "ping answered")
    await c.close()


def listening_ports(pid):
    """The TCP ports process |pid| listens on (from /proc, no tools)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # TCP_LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


# ----------------------------------------------------------------- cases

async def c_counters_follow_traffic(server, metrics_port):
    add_users(server, "alice", "bob")
    s0 = await scrape_async(metrics_port)
    check(s0.get("xmppd_delivery_queue_depth") == 0, "an empty queue at start")
    check(s0.get("xmppd_sessions_bound") == 0, "no sessions at start")
    for family in ("process_resident_memory_bytes", "process_open_fds"):
        check(s0.get(family, 0) > 0, f"{family} is read from /proc/self")

    alice = await login(server, "alice", "SCRAM-SHA-256", "desk")
    bob = await login(server, "bob", "PLAIN", "phone")
    await bob.presence()  # initial presence: the (empty) backlog between two markers
    # A message to an online recipient.
    alice.send_message(f"bob@{server.domain}", "online one")
    m = await bob.expect(lambda e: is_message(e) and text_of(e, "body") == "online one", TIMEOUT)
    check(m is not None, "bob got the online message")
    # A stanza error: no such user.
    nobody = alice.send_message(f"nobody@{server.domain}", "into the void")
    err = await alice.expect(lambda e: is_message(e) and e.get("id") == nobody and
                             e.get("type") == "error", TIMEOUT)
    check(error_condition(err)[0] == "service-unavailable", "service-unavailable for nobody")
    # A message to an offline recipient.
    await bob.close()
    alice.send_message(f"bob@{server.domain}", "offline one")
    await alice.ping(TIMEOUT)  # the message is committed once the ping is answered
    # A failed login.
    wrong = Client(server.port, server.domain, name="wrong")
    await wrong.open()
    failure = await wrong.authenticate("alice", "not-the-password", "SCRAM-SHA-1")
    check(failure == "not-authorized", f"wrong password refused ({failure})")
    await wrong.close()
    # A stream error: a header for a host this server does not serve.
    raw, _ = await asyncio.get_running_loop().run_in_executor(None, lambda: http(
        server.port, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='elsewhere.example' version='1.0'>"))
    check(b"host-unknown" in raw, f"host-unknown stream error: {raw[:300]!r}")

    # Only alice is connected now; the closes above are learnt from FINs.
    s1 = await scrape_until(
        metrics_port, lambda v: sum(v.get(f'xmppd_c2s_connections{{transport="{t}"}}', -1)
                                    for t in ("plain", "starttls", "direct_tls", "compact")) == 1,
        "one connection left")
    check_deltas(s0, s1, {
        # alice, bob, the failed login, the raw stream.
        "xmppd_c2s_connections_accepted_total": 4,
        'xmppd_logins_total{mechanism="SCRAM-SHA-256"}': 1,
        'xmppd_logins_total{mechanism="PLAIN"}': 1,
        "xmppd_login_failures_total": 1,
        # Three messages and bob's presence came in; alice's ping too.
        'xmppd_stanzas_in_total{kind="message"}': 3,
        'xmppd_stanzas_in_total{kind="presence"}': 1,
        'xmppd_stanzas_in_total{kind="iq"}': 1,
        # Out: bob's catch-up start and done markers and the online message;
        # the error to alice; the ping's result.
        'xmppd_stanzas_out_total{kind="message"}': 4,
        'xmppd_stanzas_out_total{kind="iq"}': 1,
        'xmppd_stanza_errors_total{condition="service-unavailable"}': 1,
        'xmppd_stream_errors_total{condition="host-unknown"}': 1,
        "xmppd_messages_stored_total": 2,
        "xmppd_messages_stored_offline_total": 1,
        "xmppd_messages_delivered_total": 1,
        'xmppd_messages_not_stored_total{reason="duplicate"}': 0,
        'xmppd_c2s_connections_refused_total{reason="global_cap"}': 0,
    })
    check(s1['xmppd_c2s_connections{transport="starttls"}'] == 1, "alice is on STARTTLS")
    check(s1["xmppd_sessions_bound"] == 1, "one bound session")
    check(s1["xmppd_delivery_queue_depth"] == 1, "the offline message waits in the queue")
    check(s1["xmppd_uptime_seconds"] >= s0["xmppd_uptime_seconds"], "uptime never goes back")
    check(delta(s0, s1, "xmppd_commits_total") >= 2, "the two messages were committed")
    check(s1["xmppd_commit_seconds_count"] == s1["xmppd_commits_total"],
          "one latency observation per commit")
    check_histogram(s1, "xmppd_commit_seconds")

    # bob comes back: the backlog is delivered and the queue empties.
    bob = await login(server, "bob", "PLAIN", "phone")
    _, backlog, _ = await bob.presence()
    check([text_of(m, "body") for m in backlog] == ["offline one"], "bob's backlog")
    s2 = await scrape_until(metrics_port, lambda v: v.get("xmppd_delivery_queue_depth") == 0,
                            "the queue is empty again")
    check_deltas(s1, s2, {
        "xmppd_c2s_connections_accepted_total": 1,
        'xmppd_logins_total{mechanism="PLAIN"}': 1,
        'xmppd_stanzas_in_total{kind="presence"}': 1,
        'xmppd_stanzas_out_total{kind="message"}': 3,  # start marker, backlog, done marker
        "xmppd_messages_stored_total": 0,
        "xmppd_messages_delivered_total": 1,
    })
    check(s2["xmppd_sessions_bound"] == 2, "alice and bob bound")


async def c_oversized_request(server, metrics_port):
    add_users(server, "alice")
    huge = "GET /metrics HTTP/1.1\r\n" + "X-Junk: " + "a" * 100 + "\r\n"
    huge = huge * (64 * 1024 // len(huge))  # 64 KiB, never a blank line
    raw, how = await asyncio.get_running_loop().run_in_executor(None, http, metrics_port, huge)
    status, headers, _ = split_response(raw)
    check(status == "HTTP/1.1 431 Request Header Fields Too Large", f"431: {status!r}")
    check(headers.get("connection") == "close", "Connection: close")
    check(how in ("eof", "reset"), "closed")
    # A request line that is one endless line, too.
    raw, _ = await asyncio.get_running_loop().run_in_executor(
        None, http, metrics_port, "GET /" + "m" * 20000)
    check(raw.startswith(b"HTTP/1.1 431 "), f"431 for an endless line: {raw[:100]!r}")
    # Wrong paths, methods and bytes get their answers.
    loop = asyncio.get_running_loop()
    for request, status in (("GET / HTTP/1.1\r\n\r\n", "404"),
                            ("PUT /metrics HTTP/1.1\r\n\r\n", "405"),
                            ("\x16\x03\x01\x00\x05hello\r\n\r\n", "400")):
        raw, _ = await loop.run_in_executor(None, http, metrics_port, request)
        check(raw.startswith(f"HTTP/1.1 {status} ".encode()),
              f"{status} for {request!r}: {raw[:80]!r}")
    raw, _ = await loop.run_in_executor(None, http, metrics_port, "HEAD /metrics HTTP/1.0\r\n\r\n")
    status, headers, body = split_response(raw)
    check(status == "HTTP/1.1 200 OK" and body == b"" and int(headers["content-length"]) > 0,
          f"HEAD: headers only: {raw[:200]!r}")
    await xmpp_still_works(server)
    values = await scrape_async(metrics_port)
    check(values['xmppd_logins_total{mechanism="SCRAM-SHA-256"}'] == 1, "the probe login counted")


async def c_incomplete_request(server, metrics_port):
    add_users(server, "alice")
    loop = asyncio.get_running_loop()
    # A head without its blank line, and a peer that sends nothing at all:
    # both get 408 once metrics_request_timeout_ms passes, then the close.
    partial = loop.run_in_executor(None, http, metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
    silent = loop.run_in_executor(None, http, metrics_port, b"")
    await xmpp_still_works(server)  # meanwhile, XMPP is served
    for raw, how in await asyncio.gather(partial, silent):
        check(raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), f"408: {raw[:100]!r}")
        check(how in ("eof", "reset"), "closed")
    await scrape_async(metrics_port)


async def c_connection_cap(server, metrics_port):
    add_users(server, "alice")
    loop = asyncio.get_running_loop()
    holders = []
    for _ in range(2):  # metrics_max_connections=2
        s = socket.create_connection(("127.0.0.1", metrics_port), timeout=TIMEOUT)
        s.sendall(b"GET /metrics")  # and no more, for now
        holders.append(s)
    try:
        # The holders are accepted in order before the next connection, so
        # this one finds the cap reached: closed without a byte.
        raw, how = await loop.run_in_executor(None, http, metrics_port,
                                              "GET /metrics HTTP/1.1\r\n\r\n")
        check(raw == b"", f"refused without an answer: {raw[:100]!r}")
        check(how in ("eof", "reset"), "closed")
        # XMPP clients do not notice.
        await xmpp_still_works(server)
        # The holders finish their requests and are answered in full.
        for s in holders:
            s.sendall(b" HTTP/1.1\r\n\r\n")
        for s in holders:
            raw, how = await loop.run_in_executor(None, read_to_end, s)
            status, _, body = split_response(raw)
            check(status == "HTTP/1.1 200 OK", f"held scrape answered: {status!r}")
            parse_exposition(body.decode())
    finally:
        for s in holders:
            s.close()
    # Room again once they are gone (their closes are learnt from FINs).
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            await scrape_async(metrics_port)
            break
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def c_off_by_default(server, metrics_port):
    check(metrics_port is None, "this case runs without --metrics")
    ports = listening_ports(server.proc.pid)
    check(ports == {server.port, server.tls_port, server.compact_port},
          f"only the XMPP ports listen: {sorted(ports)}")
    check("metrics on" not in server.read_log(), "no metrics endpoint in the log")


def c_config_flags(xmppd):
    """--print-config and --check-config know the setting (no server runs)."""
    base = [xmppd, "--allow-plaintext", "--data", "/nonexistent-unused"]
    out = subprocess.run(base + ["--print-config"], capture_output=True, text=True, check=True)
    check('\nmetrics = ""\n' in out.stdout, "off by default in --print-config")
    out = subprocess.run(base + ["--metrics", "127.0.0.1:9123", "--print-config"],
                         capture_output=True, text=True, check=True)
    check('\nmetrics = "127.0.0.1:9123"\n' in out.stdout, "--metrics in --print-config")
    out = subprocess.run(base + ["--metrics", "127.0.0.1:9123", "--check-config"],
                         capture_output=True, text=True)
    check(out.returncode == 0 and "configuration ok" in out.stdout, f"valid: {out.stderr}")
    out = subprocess.run(base + ["--metrics", "9123", "--check-config"], capture_output=True,
                         text=True)
    check(out.returncode == 2 and "server.metrics" in out.stderr, f"refused: {out.stderr!r}")
    # The TOML setting, overridden by the flag.
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"xd-metrics-{os.getpid()}.toml")
    with open(path, "w") as f:
        f.write('[server]\nmetrics = "127.0.0.1:9124"\n[limits]\nmetrics_max_connections = 3\n')
    try:
        out = subprocess.run(base + ["--config", path, "--print-config"], capture_output=True,
                             text=True, check=True)
        check('\nmetrics = "127.0.0.1:9124"\n' in out.stdout, "from the file")
        check("\nmetrics_max_connections = 3\n" in out.stdout, "limit from the file")
        out = subprocess.run(base + ["--config", path, "--metrics", "[::1]:9125", "--print-config"],
                             capture_output=True, text=True, check=True)
        check('\nmetrics = "[::1]:9125"\n' in out.stdout, "the flag overrides the file")
    finally:
        os.remove(path)


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}
EXTRA_ARGS = {
    "incomplete_request": ["--set", "metrics_request_timeout_ms=1000"],
    "connection_cap": ["--set", "metrics_max_connections=2",
                       "--set", "metrics_request_timeout_ms=600000"],
}


def main():
    xmppd, name = sys.argv[1], sys.argv[2]
    if name not in CASES:
        sys.exit(f"unknown case {name}; cases: {' '.join(CASES)}")
    if name == "config_flags":
        c_config_flags(xmppd)
        print(f"{name}: ok")
        return
    metrics_port = None if name == "off_by_default" else free_port()
    extra = list(EXTRA_ARGS.get(name, []))
    if metrics_port is not None:
        extra += ["--metrics", f"127.0.0.1:{metrics_port}"]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def run(server):
        try:
            await asyncio.wait_for(CASES[name](server, metrics_port), 100)
        finally:
            await Client.close_all()

    with Server(xmppd, extra=extra) as server:
        loop.run_until_complete(run(server))
        check(server.proc.poll() is None, "xmppd is still running")
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
