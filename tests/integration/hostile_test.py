#!/usr/bin/python3
"""Hostile-input cases (hostile-inputs.md catalogue A, D, E, F, I) against a
real xmppd with a raw client: exact bytes in, the exact stream error and
close out, and the server keeps serving.

Usage: hostile_test.py XMPPD CASE"""
import base64
import os
import socket
import ssl
import sys
import time

from harness import CERTS, Server

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>")


class Raw:
    """A hand-driven client connection; read() returns what arrived until
    |until| is seen, the peer closes, or the timeout passes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.closed = False

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def read(self, until=None, timeout=10):
        self.sock.settimeout(0.2)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                if until is None and out:
                    break
                continue
            except (ConnectionResetError, ssl.SSLError):
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            out += chunk
            if until and until.encode() in out:
                break
        return out.decode("utf-8", "replace")

    def wait_closed(self, timeout=10):
        rest = self.read(timeout=timeout, until="\x00never")
        return self.closed, rest

    def starttls(self, server):
        self.send(HEADER.format(to=server.domain))
        features = self.read(until="</stream:features>")
        assert "<starttls" in features, features
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert "<proceed" in self.read(until="/>")
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server.domain)
        self.send(HEADER.format(to=server.domain))
        return self.read(until="</stream:features>")

    def login(self, server, user, password, resource=None):
        self.starttls(server)
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        reply = self.read(until="/>")
        if "<success" not in reply:
            return reply
        self.send(HEADER.format(to=server.domain))
        self.read(until="</stream:features>")
        res = f"<resource>{resource}</resource>" if resource else ""
        self.send(f"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{res}</bind></iq>")
        return self.read(until="</iq>")


def add_user(server, name, password="pw-" + "x" * 8):
    import subprocess
    subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, password],
                   check=True, capture_output=True)
    return password


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def stream_error(text, condition):
    return "<stream:error>" in text and f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in text


def canary(server):
    """The server still serves a fresh client (G1 at its simplest)."""
    c = Raw(server.port)
    features = c.starttls(server)
    check("SCRAM-SHA-1" in features, "a new client still negotiates")


# ------------------------------------------------------------------- cases

def c_a1_http_on_xmpp_port(server):
    c = Raw(server.port)
    c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    out = c.read(until="</stream:stream>")
    check(stream_error(out, "not-well-formed"), out)
    closed, _ = c.wait_closed()
    check(closed, "the server closes the connection")
    canary(server)


def c_a4_missing_to(server):
    c = Raw(server.port)
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
    out = c.read(until="</stream:stream>")
    check(stream_error(out, "improper-addressing"), out)
    check(c.wait_closed()[0], "closed")


def c_a5_host_unknown(server):
    c = Raw(server.port)
    c.send(HEADER.format(to="evil.example"))
    out = c.read(until="</stream:stream>")
    check(stream_error(out, "host-unknown"), out)
    check(c.wait_closed()[0], "closed")


def c_b11_billion_laughs(server):
    c = Raw(server.port)
    c.send("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]>"
           + HEADER.format(to=server.domain)[21:])
    out = c.read(until="</stream:stream>")
    check(stream_error(out, "restricted-xml"), out)
    check(c.wait_closed()[0], "closed")


def c_d31_auth_before_tls(server):
    add_user(server, "alice", "secret-pw")
    c = Raw(server.port)
    c.send(HEADER.format(to=server.domain))
    features = c.read(until="</stream:features>")
    check("<mechanisms" not in features, "no SASL mechanisms before TLS")
    token = base64.b64encode(b"\0alice\0secret-pw").decode()
    c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    out = c.read(until="</failure>")
    check("<encryption-required/>" in out and "<success" not in out, out)
    check("authenticated" not in server.read_log(), "no credential was checked")


def c_d32_starttls_injection(server):
    add_user(server, "alice", "secret-pw")
    c = Raw(server.port)
    c.send(HEADER.format(to=server.domain))
    c.read(until="</stream:features>")
    token = base64.b64encode(b"\0alice\0secret-pw").decode()
    # The injected <auth> rides in the same segment as <starttls/>.
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
           f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    check("<proceed" in c.read(until="/>"), "proceed")
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    c.sock = ctx.wrap_socket(c.sock, server_hostname=server.domain)
    c.send(HEADER.format(to=server.domain))
    features = c.read(until="</stream:features>")
    check("<mechanisms" in features, "still unauthenticated after TLS: " + features)
    check("<success" not in features, "the injected auth had no effect")
    check("authenticated alice" not in server.read_log(), "no auth attempt was processed")


def c_e37_three_failures_close(server):
    add_user(server, "alice", "secret-pw")
    c = Raw(server.port)
    c.starttls(server)
    out = ""
    for _ in range(3):
        token = base64.b64encode(b"\0alice\0wrong").decode()
        c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        out += c.read(until="</failure>", timeout=5)
    check(out.count("<not-authorized/>") >= 2, out)
    closed, rest = c.wait_closed()
    check(closed, "closed after three failures: " + out + rest)
    canary(server)


def c_e38_authzid_mismatch(server):
    add_user(server, "alice", "secret-pw")
    add_user(server, "victim", "other-pw")
    c = Raw(server.port)
    c.starttls(server)
    token = base64.b64encode(b"victim@localhost\0alice\0secret-pw").decode()
    c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    out = c.read(until="</failure>")
    check("<invalid-authzid/>" in out, out)


def c_f46_resource_conflict(server):
    pw = add_user(server, "alice")
    first = Raw(server.port)
    check("<jid>alice@localhost/desk</jid>" in first.login(server, "alice", pw, "desk"), "first bind")
    second = Raw(server.port)
    check("<jid>alice@localhost/desk</jid>" in second.login(server, "alice", pw, "desk"), "second bind")
    out = first.read(until="</stream:stream>")
    check(stream_error(out, "conflict"), out)
    check(first.wait_closed()[0], "the old session is closed")
    second.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    reply = second.read(until="/>")
    check("type='result'" in reply and "id='p'" in reply, "the new session works: " + reply)


def c_f47_session_cap(server):
    pw = add_user(server, "alice")
    keep = []
    for i in range(2):
        c = Raw(server.port)
        check("<jid>" in c.login(server, "alice", pw, f"r{i}"), f"bind {i}")
        keep.append(c)
    third = Raw(server.port)
    out = third.login(server, "alice", pw, "r2")
    check("<resource-constraint" in out, out)
    keep[0].send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check("id='p'" in keep[0].read(until="/>"), "existing sessions unaffected")


def c_f42_from_spoofing_raw(server):
    pw_a = add_user(server, "alice")
    pw_b = add_user(server, "bob")
    a = Raw(server.port)
    a.login(server, "alice", pw_a, "a")
    b = Raw(server.port)
    b.login(server, "bob", pw_b, "b")
    b.send("<presence/>")
    time.sleep(0.2)
    b.read(timeout=0.5)
    a.send("<message from='victim@localhost/x' to='bob@localhost' type='chat'><body>hi</body></message>")
    out = b.read(until="</message>")
    check("from='alice@localhost/a'" in out and "victim" not in out, out)


def c_i56_negotiation_timeout(server):
    c = Raw(server.port)
    c.send("<stream:stream")
    out = c.read(until="</stream:stream>", timeout=8)
    check(stream_error(out, "connection-timeout"), out)
    check(c.wait_closed()[0], "closed at the deadline")
    canary(server)


def c_i62_idle_peer_pinged_then_closed(server):
    pw = add_user(server, "alice")
    c = Raw(server.port)
    c.login(server, "alice", pw, "r")
    # XEP-0199 §4.1: after idle_ping_s of silence the server pings.
    ping = c.read(until="</iq>", timeout=8)
    check("<ping xmlns='urn:xmpp:ping'/>" in ping and "type='get'" in ping, ping)
    # No answer within idle_close_s: the connection is dead (RFC 6120 §4.6).
    out = c.read(until="</stream:stream>", timeout=8)
    check(stream_error(out, "connection-timeout"), out)
    check(c.wait_closed()[0], "closed")


def c_i62_idle_peer_answering_stays(server):
    pw = add_user(server, "alice")
    c = Raw(server.port)
    c.login(server, "alice", pw, "r")
    for _ in range(2):
        ping = c.read(until="</iq>", timeout=8)
        check("<ping xmlns='urn:xmpp:ping'/>" in ping, ping)
        iq_id = ping.split("id='")[1].split("'")[0]
        c.send(f"<iq type='result' id='{iq_id}' to='localhost'/>")
    c.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    reply = c.read(until="id='p'")
    check("id='p'" in reply and not c.closed, "an answering peer stays connected: " + reply)


def c_k_restart_keeps_accounts_and_roster(server):
    pw = add_user(server, "alice")
    add_user(server, "bob")
    c = Raw(server.port)
    c.login(server, "alice", pw, "r")
    c.send("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>"
           "<item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>")
    check("id='s1'" in c.read(until="id='s1'"), "roster set answered")
    check(server.stop() == 0, "clean stop")
    server.start()
    c = Raw(server.port)
    c.login(server, "alice", pw, "r")
    c.send("<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
    roster = c.read(until="</iq>")
    check("jid='bob@localhost'" in roster and "name='Bob'" in roster and
          "<group>Friends</group>" in roster, roster)


def c_i57_slow_reader_closed(server):
    pw_a = add_user(server, "alice")
    pw_b = add_user(server, "bob")
    # Bob's client stops reading; a tiny receive buffer makes the kernel
    # push back early instead of absorbing megabytes.
    bob = Raw.__new__(Raw)
    bob.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    bob.sock.connect(("127.0.0.1", server.port))
    bob.closed = False
    bob.login(server, "bob", pw_b, "slow")
    bob.send("<presence/>")
    time.sleep(0.3)
    alice = Raw(server.port)
    alice.login(server, "alice", pw_a, "fast")
    body = "y" * 4000
    for i in range(600):  # ~2.4 MB toward a reader that never reads
        alice.send(f"<message to='bob@localhost/slow' type='chat' id='m{i}'><body>{body}</body></message>")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "write queue over" not in server.read_log():
        time.sleep(0.1)
    check("write queue over" in server.read_log(), "the slow reader hit its write-queue cap")
    # The sender is unaffected: its own stream still answers.
    alice.read(timeout=0.5)
    alice.send("<iq type='get' id='alive' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check("id='alive'" in alice.read(until="id='alive'"), "the sender's stream still works")
    canary(server)


def c_i58_flooding_writer_paused_not_dropped(server):
    pw_a = add_user(server, "alice")
    pw_b = add_user(server, "bob")
    bob = Raw(server.port)
    bob.login(server, "bob", pw_b, "b")
    bob.send("<presence/>")
    time.sleep(0.3)
    bob.read(timeout=0.3)
    alice = Raw(server.port)
    alice.login(server, "alice", pw_a, "a")
    # 60 KB at once: three times the default burst (10 KB/s for 2 s), so the
    # server must pause reading alice (TCP backpressure) rather than drop.
    count = 60
    body = "z" * 900
    alice.send("".join(f"<message to='bob@localhost/b' type='chat' id='f{i}'><body>{i}:{body}</body></message>"
                       for i in range(count)))
    got = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and got.count("</message>") < count:
        got += bob.read(timeout=1)
    ids = [int(part.split(":")[0]) for part in got.split("<body>")[1:]]
    check(ids == list(range(count)), f"every message arrives once, in order: {len(ids)} of {count}")
    alice.send("<iq type='get' id='alive' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    check("id='alive'" in alice.read(until="id='alive'"), "the flooder's stream stays valid")


def fd_count(server):
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def c_i59_per_ip_unauthenticated_cap(server):
    # Loopback is exempt by default; this case turns the exemption off. The
    # harness's start-up probe must be gone before the count starts.
    time.sleep(0.5)
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(5)]
    time.sleep(0.3)
    for _ in range(3):
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        extra.settimeout(5)
        # Refused at accept with no XMPP error: the connection just ends.
        try:
            data = extra.recv(100)
        except ConnectionResetError:
            data = b""
        check(data == b"", f"a connection over the cap is closed without a stream: {data!r}")
        extra.close()
    check(server.read_log().count("per-IP limit") == 3, "three refusals logged")
    for s in held:
        s.close()
    time.sleep(0.5)
    canary(server)


def c_i61_connect_churn_returns_fds(server):
    canary(server)
    time.sleep(0.5)
    baseline = fd_count(server)
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        if i % 2:
            s.sendall(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx")
        s.close()
    for _ in range(50):
        if fd_count(server) <= baseline:
            break
        time.sleep(0.1)
    check(fd_count(server) <= baseline, f"fds back to baseline: {fd_count(server)} > {baseline}")
    canary(server)


def proc_cpu_seconds(pid):
    """utime + stime of |pid| from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the ')' closing comm; utime and stime are fields 14
        # and 15 of proc(5), i.e. 12 and 13 after the state field.
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def nofile_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def c_i60_fd_exhaustion(server):
    # The server runs under RLIMIT_NOFILE 256 (FD_LIMIT, prlimit in main()).
    check(nofile_limit(server.proc.pid) == FD_LIMIT, "xmppd runs with the 256-fd limit")
    pw = add_user(server, "alice")
    alice = Raw(server.port)
    check("<jid>alice@localhost/before</jid>" in alice.login(server, "alice", pw, "before"),
          "a session logged in before the flood")
    alice.send("<presence/>")
    time.sleep(0.3)
    alice.read(timeout=0.3)  # its own presence, reflected (RFC 6121 §4.2.2)
    baseline = fd_count(server)

    # The flood: 400 plain connections that never send a byte. The kernel
    # completes every handshake (backlog 511), so connect() succeeds either
    # way; the server accepts until EMFILE, then sheds what is pending
    # (accept + close with its reserved fd) and pauses accepting.
    flood = []
    for _ in range(400):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.setblocking(False)
        flood.append(s)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and fd_count(server) < FD_LIMIT - 16:
        time.sleep(0.05)
    check(fd_count(server) >= FD_LIMIT - 16, f"the server is at its fd limit: {fd_count(server)} fds")

    # While saturated, keep knocking: new connections arrive every 50 ms, so
    # the listening socket has pending connections the server cannot
    # accept. Behaviour check "no busy loop": over a 2 s window the server
    # uses well under the wall time in CPU (a spinning accept loop would
    # burn ~2 s). The catalogue's target is < 5 % and ~0-1 % is typical;
    # the bound here is 0.5 s so that a sanitizer build on a shared machine
    # cannot flake, while a spin still fails by a wide margin.
    knocks = []
    cpu_before = proc_cpu_seconds(server.proc.pid)
    wall_before = time.monotonic()
    while time.monotonic() - wall_before < 2.0:
        try:
            k = socket.create_connection(("127.0.0.1", server.port), timeout=2)
            k.setblocking(False)
            knocks.append(k)
        except OSError:
            pass  # a refused or timed-out connect is an acceptable answer
        time.sleep(0.05)
    wall = time.monotonic() - wall_before
    cpu = proc_cpu_seconds(server.proc.pid) - cpu_before
    check(server.proc.poll() is None, "the server did not crash under fd exhaustion")
    check(cpu < 0.5, f"no busy loop while saturated: {cpu:.2f} s CPU in {wall:.2f} s")

    # Pending connections were shed (closed at once), not left to time out:
    # some of the flood sees end-of-stream without any XMPP bytes.
    shed = 0
    time.sleep(0.3)
    for s in flood + knocks:
        try:
            if s.recv(100) == b"":
                shed += 1
        except (BlockingIOError, InterruptedError):
            pass
        except ConnectionResetError:
            shed += 1
    check(shed > 0, "connections beyond the fd limit were closed by the server")
    print(f"i60: saturated at {fd_count(server)} fds, {cpu:.2f} s CPU in {wall:.2f} s, "
          f"{shed} of {len(flood) + len(knocks)} connections shed")
    # The descriptors the server needs to keep serving were never given up.
    targets = [os.readlink(f"/proc/{server.proc.pid}/fd/{fd}")
               for fd in os.listdir(f"/proc/{server.proc.pid}/fd")]
    check(any(t.endswith("data.mdb") for t in targets), "the LMDB data file stays open")
    check(any(t == server.log_path for t in targets), "the log stays open")

    # The existing session keeps working while the server is saturated: a
    # ping to the server and a message to itself both come back.
    alice.send("<iq type='get' id='sat' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    reply = alice.read(until="id='sat'")
    check("id='sat'" in reply and "type='result'" in reply, "ping answered while saturated: " + reply)
    alice.send("<message to='alice@localhost/before' type='chat' id='self'><body>still here</body></message>")
    reply = alice.read(until="</message>")
    check("<body>still here</body>" in reply, "a message to itself is routed while saturated: " + reply)

    # The load goes away: the server releases the descriptors and a new
    # client logs in.
    for s in flood + knocks:
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and fd_count(server) > baseline:
        time.sleep(0.1)
    check(fd_count(server) <= baseline, f"fds back to baseline: {fd_count(server)} > {baseline}")
    pw_b = add_user(server, "bob")
    bob = Raw(server.port)
    check("<jid>bob@localhost/after</jid>" in bob.login(server, "bob", pw_b, "after"),
          "a new client logs in after the flood")
    bob.send("<message to='alice@localhost/before' type='chat' id='b1'><body>after the flood</body></message>")
    check("<body>after the flood</body>" in alice.read(until="</message>"),
          "the old session receives from the new one")
    check(server.proc.poll() is None, "still running")


def c_sigterm_system_shutdown(server):
    pw = add_user(server, "alice")
    c = Raw(server.port)
    c.login(server, "alice", pw, "r")
    server.proc.send_signal(15)
    out = c.read(until="</stream:stream>")
    check(stream_error(out, "system-shutdown"), out)
    check(server.proc.wait(timeout=10) == 0, "clean exit")


# The I60 case runs xmppd with this RLIMIT_NOFILE (soft and hard).
FD_LIMIT = 256

# ------------------------------------------------ catalogue J: the compact dialect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "client", "slixmpp_compact"))
from xmppd_compact import codec as cc  # noqa: E402  (the dialect's Python codec)


class CompactRaw(Raw):
    """A raw client that negotiates the compact dialect after TLS and SASL
    (spec/compact.md §3.1) and then speaks frames."""

    def compact_login(self, server, user, password):
        self.starttls(server)
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        check("<success" in self.read(until="/>"), "PLAIN login")
        self.send(HEADER.format(to=server.domain))
        features = self.read(until="</stream:features>")
        check("urn:xmppd:compact:1" in features, f"the dialect is offered: {features}")
        self.send("<compact xmlns='urn:xmppd:compact:1' dictionary='1' compression='zstd'/>")
        check("<compacted" in self.read(until="/>"), "compacted")
        self.codec = cc.Codec(domain=server.domain)
        self.frames = cc.FrameDecoder(self.codec, compression=True)
        self.encoder = cc.FrameEncoder(self.codec, compress=True)
        self.send_xml("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        reply = self.events(until=lambda e: e.element is not None and e.element.name == "iq")
        check(any(e.element is not None and e.element.attr("type") == "result" for e in reply),
              "bound over frames")

    def send_xml(self, xml):
        for e in cc.parse_xml(xml):
            self.send(self.encoder.element_frame(e))

    def events(self, until=None, timeout=10):
        """Frames from the server until |until(event)|, a close, or the timeout."""
        out = []
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ConnectionResetError, ssl.SSLError):
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self.frames.feed(chunk)
            for ev in self.frames.events():
                out.append(ev)
                if until and until(ev):
                    return out
        return out

    def stream_error(self, timeout=10):
        """The condition of the stream error frame, after which the server
        sends CLOSE and closes the connection."""
        evs = self.events(until=lambda e: e.type == "close", timeout=timeout)
        check(evs and evs[-1].type == "close", f"CLOSE after the error: {evs}")
        self.read(timeout=2, until="\x00never")
        check(self.closed, "the server closed the connection")
        for ev in evs:
            if ev.element is not None and ev.element.name == "error":
                for child in ev.element.children:
                    if isinstance(child, cc.Element) and child.name != "text":
                        return child.name
        return ""


def proc_usage(server):
    """(CPU seconds, RSS KiB) of the xmppd process."""
    with open(f"/proc/{server.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{server.proc.pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return cpu, rss


def compact_canary(server):
    """A pair of clients, one compact and one XML, still exchange a message."""
    add_user(server, "canary1", "canary-pw")
    add_user(server, "canary2", "canary-pw")
    a = CompactRaw(server.port)
    a.compact_login(server, "canary1", "canary-pw")
    b = Raw(server.port)
    check("<jid>" in b.login(server, "canary2", "canary-pw", "r"), "XML canary bound")
    b.send("<presence/>")
    a.send_xml(f"<message to='canary2@{server.domain}/r' type='chat'><body>still here</body></message>")
    # The catch-up markers come first (spec/delivery.md §4), then the message.
    check("still here" in b.read(until="still here"), "the canary message crossed the dialects")


_hostile_users = iter(range(1000))


def compact_mallory(server):
    user = f"mallory{next(_hostile_users)}"
    add_user(server, user)
    c = CompactRaw(server.port)
    c.compact_login(server, user, "pw-" + "x" * 8)
    return c


def c_j63_decompression_bomb(server):
    """A compressed frame that expands to 1 GiB claims its size up front: it
    is refused before any output (policy-violation), within 100 ms of
    server CPU and without the RSS growing by the cap."""
    import zstandard
    body = b"\x20\x02\x01\xf0" + cc.varint(1 << 30)  # one text node of 1 GiB ...
    z = zstandard.ZstdCompressor(level=3).compressobj()
    packed = z.compress(body)
    chunk = b" " * (1 << 20)
    for _ in range(1024):
        packed += z.compress(chunk)
    packed += z.flush()
    packed = packed[4:]  # the wire omits the zstd magic (spec §4.3)
    check(len(packed) < 100 * 1024, f"a small bomb: {len(packed)} bytes")
    c = compact_mallory(server)
    payload = cc.frame(cc.KIND_ELEMENT | cc.FRAME_COMPRESSED,
                       cc.varint(len(body) + (1 << 30)) + packed)
    cpu0, rss0 = proc_usage(server)
    c.send(payload)
    got = c.stream_error()
    cpu1, rss1 = proc_usage(server)
    check(got == "policy-violation", f"policy-violation, got {got!r}")
    # 100 ms plus one scheduler tick of measurement slack.
    check(cpu1 - cpu0 < 0.11, f"server CPU {cpu1 - cpu0:.3f} s")
    check(rss1 - rss0 < 2 * 256, f"RSS grew {rss1 - rss0} KiB")
    # The same bomb claiming a small size: the output stops at the claim.
    c2 = compact_mallory(server)
    c2.send(cc.frame(cc.KIND_ELEMENT | cc.FRAME_COMPRESSED, cc.varint(1000) + packed))
    got = c2.stream_error()
    check(got == "bad-format", f"a lying size is bad-format, got {got!r}")
    compact_canary(server)


def c_j64_hostile_framing(server):
    """Each hostile frame gets its exact stream error and the connection is
    closed; other users are unaffected (spec/compact.md §10)."""
    cases = [
        (b"\xff\xff\xff\xff\x0f", "policy-violation"),               # length 2^32 - 1
        (b"\x80\x80\x80\x80\x80\x80", "bad-format"),                 # a 6-byte varint
        (b"\x04\x00\x00\xec\xff", "bad-format"),                     # token 491: out of range
        (b"\x08\x00\x20\x02\x01\xf0\x02\xc3\x28", "not-well-formed"),  # invalid UTF-8
        (b"\x07\x00\x20\x02\x01\xf0\x01\x00", "not-well-formed"),     # NUL in text
        (b"\x07\x00\x20\x02\x01\xf0\x05\x61", "bad-format"),          # a length beyond the frame
        (b"\x0b\x00\x00\xf0\x07<script", "not-well-formed"),          # '<' in an element name
        (b"\x02\x08\x00", "bad-format"),                             # a reserved flag
    ]
    for payload, condition in cases:
        c = compact_mallory(server)
        c.send(payload)
        got = c.stream_error()
        check(got == condition, f"{payload!r}: stream error {condition}, got {got!r}")
    compact_canary(server)


def c_j65_no_smuggling_into_xml(server):
    """Text from a compact client that looks like markup reaches an XML
    client escaped: one message, the text intact (catalogue J65)."""
    add_user(server, "victim", "victim-pw")
    v = Raw(server.port)
    check("<jid>" in v.login(server, "victim", "victim-pw", "r"), "victim bound")
    v.send("<presence/>")
    m = compact_mallory(server)
    evil = "</body></message><message to='victim@localhost' from='admin@localhost'><body>owned"
    m.send_xml(f"<message to='victim@{server.domain}/r' type='chat'><body>"
               + evil.replace("&", "&amp;").replace("<", "&lt;") + "</body></message>")
    got = v.read(until="owned</body>")
    check("&lt;/body&gt;&lt;/message&gt;&lt;message" in got, f"escaped: {got}")
    check("<message to='victim@localhost' from='admin@localhost'>" not in got,
          f"no forged stanza: {got}")
    check(got.count("<body>") == 1, f"one body: {got}")



CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}
EXTRA_ARGS = {"i56_negotiation_timeout": ["--set", "negotiation_timeout_s=1"],
              "i62_idle_peer_pinged_then_closed": ["--set", "idle_ping_s=1", "--set", "idle_close_s=1"],
              "i62_idle_peer_answering_stays": ["--set", "idle_ping_s=1", "--set", "idle_close_s=2"],
              "f47_session_cap": ["--set", "sessions_per_account=2"],
              "i59_per_ip_unauthenticated_cap": ["--set", "loopback_exempt=false",
                                                 "--set", "max_unauthenticated_per_ip=5"],
              "i57_slow_reader_closed": ["--set", "write_queue_bytes=65536",
                                         "--set", "read_rate_bytes=0"],
              # All 400 connections come from 127.0.0.1: the fd limit, not the
              # per-IP unauthenticated cap (the default exemption), must bite.
              "i60_fd_exhaustion": ["--set", "loopback_exempt=true"]}


# Commands that wrap xmppd for one case; prlimit execs xmppd in place, so
# server.proc.pid stays xmppd's.
WRAPPERS = {"i60_fd_exhaustion": ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", "--"]}


def main():
    xmppd, name = sys.argv[1], sys.argv[2]
    server = Server(xmppd, extra=EXTRA_ARGS.get(name, []))
    server.args = WRAPPERS.get(name, []) + server.args
    with server:
        CASES[name](server)
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
