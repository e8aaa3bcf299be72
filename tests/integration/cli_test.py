#!/usr/bin/python3
"""The `xmpp` CLI (client/cli) against a real xmppd: two people chatting end
to end encrypted with sent -> delivered -> read, offline delivery, the
server's LMDB files holding no plaintext, an outbox that survives a kill -9
without duplicates, retry receipts, several devices per account, the
refusals of catalogue 75 (untrusted certificate, STARTTLS stripped, wrong
password, unreachable server) and 76 (forged carbons), and sending in the
clear only with --plaintext.

Usage: cli_test.py XMPPD XMPP CASE   (run with /usr/bin/python3)"""
import asyncio
import glob
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CERTS, Server, free_port  # noqa: E402
from xmpp_client import Client  # noqa: E402

PASSWORD = "pw-for-cli-tests"
CA = os.path.join(CERTS, "ca.pem")
OTHER_CA = os.path.join(CERTS, "other-ca.pem")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Cli:
    """One account's CLI: its data directory and the flags every run gets."""

    def __init__(self, xmpp, server, user, workdir, device="d1", port=None):
        self.xmpp = xmpp
        self.server = server
        self.user = user
        self.jid = f"{user}@{server.domain}"
        self.data = os.path.join(workdir, f"{user}-{device}")
        self.port = port or server.port
        self.env = dict(os.environ, XMPP_PASSWORD=PASSWORD, HOME=workdir)

    def args(self, *rest, json_out=True):
        a = [self.xmpp, "--jid", self.jid, "--server", f"127.0.0.1:{self.port}", "--ca", CA,
             "--data", self.data, "--timeout", "15"]
        if json_out:
            a.append("--json")
        return a + list(rest)

    def run(self, *rest, json_out=True, stdin=None, timeout=40):
        p = subprocess.run(self.args(*rest, json_out=json_out), env=self.env, input=stdin,
                           capture_output=True, text=True, timeout=timeout)
        return p

    def events(self, out):
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def popen(self, *rest, json_out=True):
        return subprocess.Popen(self.args(*rest, json_out=json_out), env=self.env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def register(self):
        p = self.run("register")
        check(p.returncode == 0, f"register {self.jid}: rc={p.returncode} {p.stderr}")
        ev = self.events(p.stdout)
        check(ev and ev[0]["event"] == "registered", f"register output: {p.stdout}")
        return ev[0]

    def login_once(self):
        """A first online run for an account that exists (other device)."""
        p = self.run("listen", "--catch-up")
        check(p.returncode == 0, f"{self.jid} first login: rc={p.returncode} {p.stderr}")

    def db(self):
        return sqlite3.connect(os.path.join(self.data, "history.db"))


class Reader:
    """Collects a running CLI's JSON lines on a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                with self.lock:
                    self.lines.append(json.loads(line))

    def wait(self, pred, timeout=20, what="event"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.lines:
                    if pred(e):
                        return e
            if self.proc.poll() is not None and not self.t.is_alive():
                break
            time.sleep(0.05)
        with self.lock:
            seen = list(self.lines)
        err = self.proc.stderr.read() if self.proc.poll() is not None else ""
        raise AssertionError(f"no {what} within {timeout}s; saw {seen} {err}")

    def all(self):
        with self.lock:
            return list(self.lines)


def server_files_contain(server, needle):
    data = needle.encode()
    for path in glob.glob(os.path.join(server.data, "*")):
        with open(path, "rb") as f:
            if data in f.read():
                return True
    return False


def add_user(server, name):
    subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, PASSWORD],
                   check=True, capture_output=True)


# ---- Cases ---------------------------------------------------------------

def c_e2e_chat_states(server, xmpp, work):
    """Two CLI chats through xmppd: Alice sees queued -> sent -> delivered ->
    read, Bob reads the text, and neither body is in the server's files."""
    alice = Cli(xmpp, server, "alice", work)
    bob = Cli(xmpp, server, "bob", work)
    alice.register()
    bob.register()
    bob_chat = bob.popen("chat", alice.jid)
    bob_r = Reader(bob_chat)
    bob_r.wait(lambda e: e["event"] == "ready", what="bob ready")
    texts = ["the eagle lands at 0400 zulu", "bring the blue folder"]
    alice_chat = alice.popen("chat", bob.jid, "--linger", "1")
    alice_r = Reader(alice_chat)
    alice_r.wait(lambda e: e["event"] == "ready", what="alice ready")
    for t in texts:
        alice_chat.stdin.write(t + "\n")
    alice_chat.stdin.flush()
    for t in texts:
        m = bob_r.wait(lambda e, t=t: e["event"] == "message" and e["body"] == t,
                       what=f"bob gets {t!r}")
        check(m["encrypted"] and m["direction"] == "in" and m["peer"] == alice.jid, f"{m}")
    for t in texts:
        states = []
        for want in ("queued", "sent", "delivered", "read"):
            e = alice_r.wait(lambda e, t=t, want=want: e["event"] == "state" and
                             e["body"] == t and e["state"] == want, what=f"{t!r} {want}")
            states.append(e["state"])
        # The order the states were reported in.
        order = [e["state"] for e in alice_r.all() if e["event"] == "state" and e["body"] == t]
        check(order == ["queued", "sent", "delivered", "read"], f"{t!r}: states {order}")
    alice_chat.stdin.close()
    check(alice_chat.wait(timeout=20) == 0, f"alice chat rc {alice_chat.returncode}")
    bob_chat.stdin.close()
    check(bob_chat.wait(timeout=20) == 0, f"bob chat rc {bob_chat.returncode}")
    # History in SQLite, both sides.
    h = alice.events(alice.run("history", bob.jid).stdout)
    check([m["body"] for m in h] == texts and all(m["state"] == "read" for m in h), f"{h}")
    h = bob.events(bob.run("history", alice.jid).stdout)
    check([m["body"] for m in h] == texts and all(m["direction"] == "in" for m in h), f"{h}")
    # The server saw only ciphertext (and stored the messages for a while).
    for t in texts:
        check(not server_files_contain(server, t), f"server files hold the plaintext {t!r}")
        check(not server_files_contain(server, t.split()[1]), "server files hold a word of it")
    # The default mechanism is the strongest offered: SCRAM with channel
    # binding over the verified TLS connection.
    check("(SCRAM-SHA-256-PLUS)" in server.read_log(), "not logged in with SCRAM-SHA-256-PLUS")


def c_offline_backlog_encrypted(server, xmpp, work):
    """Alice sends while Bob is offline: `send` exits 0 once the server
    stored it; Bob gets it at his next login, decrypted; Alice then sees
    delivered. The body never reaches the server's files."""
    alice = Cli(xmpp, server, "alice", work)
    bob = Cli(xmpp, server, "bob", work)
    alice.register()
    bob.register()
    text = "offline hello with a unique word zanzibar"
    p = alice.run("send", bob.jid, text)
    check(p.returncode == 0, f"send rc={p.returncode} {p.stderr}")
    sent = alice.events(p.stdout)[-1]
    check(sent["state"] == "sent" and sent["encrypted"], f"{sent}")
    check(not server_files_contain(server, "zanzibar"), "the server stored plaintext")
    p = bob.run("listen", "--catch-up")
    check(p.returncode == 0, f"bob listen rc={p.returncode} {p.stderr}")
    msgs = [e for e in bob.events(p.stdout) if e["event"] == "message"]
    check([m["body"] for m in msgs] == [text], f"bob got {msgs}")
    p = alice.run("listen", "--catch-up")
    states = [e["state"] for e in alice.events(p.stdout) if e["event"] == "state"]
    check("delivered" in states, f"alice states {states}")


def c_outbox_survives_kill(server, xmpp, work):
    """A client killed -9 with messages in its outbox resends them on
    restart with the same ids, and Bob gets exactly one copy of each: one
    the server had received before the kill (the resend is dropped by
    origin-id), and one that never got there (the server was stopped, then
    killed, so it only ever existed in Alice's outbox)."""
    alice = Cli(xmpp, server, "alice", work)
    bob = Cli(xmpp, server, "bob", work)
    alice.register()
    bob.register()

    def stuck_send(text, then):
        chat = alice.popen("chat", bob.jid)
        r = Reader(chat)
        r.wait(lambda e: e["event"] == "ready", what="alice ready")
        # One message through first: sessions and device lists are set up
        # in this run, so the next one needs no IQ round trip.
        chat.stdin.write(f"warm-up before {text}\n")
        chat.stdin.flush()
        r.wait(lambda e: e["event"] == "state" and e["state"] == "sent" and
               e["body"].startswith("warm-up"), what="warm-up sent")
        server.proc.send_signal(signal.SIGSTOP)
        chat.stdin.write(text + "\n")
        chat.stdin.flush()
        r.wait(lambda e: e["event"] == "state" and e["state"] == "queued" and e["body"] == text,
               what="queued")
        time.sleep(0.3)  # the bytes are in the server's socket buffer
        chat.kill()
        chat.wait()
        then()

    def resume_server():
        server.proc.send_signal(signal.SIGCONT)

    def kill_server():
        server.kill()  # SIGKILL while stopped: the socket buffer is lost
        server.start()

    stuck_send("reached the server", resume_server)
    rows = dict(alice.db().execute("select body, state from messages where direction='out'")
                .fetchall())
    check(rows.get("reached the server") == "queued", f"outbox {rows}")
    stuck_send("lost in transit", kill_server)
    rows = dict(alice.db().execute("select body, state from messages where direction='out'")
                .fetchall())
    check(rows.get("lost in transit") == "queued", f"outbox {rows}")
    # Restart: the outbox goes out with the same ids.
    p = alice.run("listen", "--catch-up")
    check(p.returncode == 0, f"alice restart rc={p.returncode} {p.stderr}")
    rows = dict(alice.db().execute("select body, state from messages where direction='out'")
                .fetchall())
    check(all(v != "queued" for v in rows.values()), f"still queued: {rows}")
    p = bob.run("listen", "--catch-up")
    check(p.returncode == 0, f"bob rc={p.returncode} {p.stderr}")
    msgs = [e["body"] for e in bob.events(p.stdout) if e["event"] == "message"]
    for text in ("reached the server", "lost in transit"):
        check(msgs.count(text) == 1, f"bob got {msgs}")
    p = bob.run("listen", "--catch-up")
    msgs = [e["body"] for e in bob.events(p.stdout) if e["event"] == "message"]
    check(msgs == [], f"delivered again: {msgs}")


def c_retry_receipt(server, xmpp, work):
    """Bob's device lost its session with Alice: it cannot decrypt, sends a
    retry receipt, and Alice's running client re-encrypts for it."""
    alice = Cli(xmpp, server, "alice", work)
    bob = Cli(xmpp, server, "bob", work)
    alice.register()
    bob.register()
    check(alice.run("send", bob.jid, "first, sets up the session").returncode == 0, "send 1")
    p = bob.run("listen", "--catch-up")
    check("first, sets up the session" in p.stdout, f"bob first: {p.stdout} {p.stderr}")
    # Bob's local ratchet state is gone (a restored backup, say).
    con = bob.db()
    n = con.execute("delete from sessions").rowcount
    check(n >= 1, "bob had no session to lose")
    con.commit()
    con.close()
    alice_chat = alice.popen("chat", bob.jid)
    ar = Reader(alice_chat)
    ar.wait(lambda e: e["event"] == "ready", what="alice ready")
    alice_chat.stdin.write("second, needs a retry\n")
    alice_chat.stdin.flush()
    ar.wait(lambda e: e["event"] == "state" and e["state"] == "sent", what="sent")
    bob_l = bob.popen("listen")
    br = Reader(bob_l)
    br.wait(lambda e: e["event"] == "message" and e["body"] == "second, needs a retry",
            timeout=25, what="bob decrypts after the retry")
    # The first attempt was shown as undecryptable, not as text.
    check(any(e["event"] == "message" and e["body"].startswith("[undecryptable")
              for e in br.all()), f"no placeholder: {br.all()}")
    ar.wait(lambda e: e["event"] == "state" and e["state"] == "delivered", what="delivered")
    for p in (bob_l, alice_chat):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


def c_multi_device(server, xmpp, work):
    """Alice and Bob have two devices each: every device of Bob decrypts,
    and Alice's other device gets the carbon of what she sent, decrypted."""
    alice1 = Cli(xmpp, server, "alice", work, device="phone")
    alice2 = Cli(xmpp, server, "alice", work, device="laptop")
    bob1 = Cli(xmpp, server, "bob", work, device="phone")
    bob2 = Cli(xmpp, server, "bob", work, device="laptop")
    alice1.register()
    bob1.register()
    alice2.login_once()
    bob2.login_once()
    listeners = []
    for who in (alice2, bob1, bob2):
        p = who.popen("listen")
        r = Reader(p)
        r.wait(lambda e: e["event"] == "ready", what=f"{who.data} ready")
        listeners.append((who, p, r))
    p = alice1.run("send", bob1.jid, "to all of bob's devices")
    check(p.returncode == 0, f"send rc={p.returncode} {p.stderr}")
    for who, proc, r in listeners:
        m = r.wait(lambda e: e["event"] == "message" and e["body"] == "to all of bob's devices",
                   what=f"{who.data} decrypts")
        want = "out" if who.user == "alice" else "in"
        check(m["direction"] == want and m["encrypted"], f"{who.data}: {m}")
    for who, proc, r in listeners:
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=10) == 0, f"{who.data} exit {proc.returncode}")


def c_plaintext_needs_flag(server, xmpp, work):
    """A recipient without published keys (an account made by the admin
    tool, used by a client without E2E): `send` refuses with exit 4 and
    says why; with --plaintext it is sent and marked as not encrypted."""
    alice = Cli(xmpp, server, "alice", work)
    alice.register()
    add_user(server, "carol")
    p = alice.run("send", f"carol@{server.domain}", "hi carol")
    check(p.returncode == 4, f"rc={p.returncode} {p.stdout} {p.stderr}")
    check("no end-to-end encryption keys" in p.stderr and "--plaintext" in p.stderr, p.stderr)
    p = alice.run("send", "--plaintext", f"carol@{server.domain}", "hi carol")
    check(p.returncode == 0, f"plaintext rc={p.returncode} {p.stderr}")
    ev = alice.events(p.stdout)[-1]
    check(ev["encrypted"] is False and ev["state"] == "sent", f"{ev}")
    p = alice.run("send", "--plaintext", f"carol@{server.domain}", "hi carol", json_out=False)
    check("NOT encrypted" in p.stdout, p.stdout)


def c_untrusted_certificate(server, xmpp, work):
    """Catalogue 75: a certificate from another CA ends the login before
    any credentials are sent."""
    alice = Cli(xmpp, server, "alice", work)
    args = alice.args("send", "bob@localhost", "x")
    args[args.index(CA)] = OTHER_CA
    p = subprocess.run(args, env=alice.env, capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, f"rc={p.returncode} {p.stderr}")
    check("certificate" in p.stderr and "--ca" in p.stderr, p.stderr)
    # A trusted certificate for another name is refused the same way: the
    # account file asks for the name "other.example".
    account = os.path.join(work, "mismatch.toml")
    with open(account, "w") as f:
        f.write('tls_host = "other.example"\n')
    os.chmod(account, 0o600)
    args = alice.args("send", "bob@localhost", "x")
    p = subprocess.run([args[0], "--account", account] + args[1:], env=alice.env,
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "certificate" in p.stderr, f"rc={p.returncode} {p.stderr}")
    check("authenticated" not in server.read_log(), "credentials were used")


def c_sealed_key_file(server, xmpp, work):
    """The local key file sealed with a passphrase: the store opens only
    with it, and a wrong one is refused with a clear message."""
    alice = Cli(xmpp, server, "alice", work)
    alice.env["XMPP_PASSPHRASE"] = "correct horse battery staple"
    alice.register()
    check(alice.run("send", "--plaintext", "bob@localhost", "x").returncode in (0, 4), "send")
    del alice.env["XMPP_PASSPHRASE"]
    p = alice.run("history", "bob@localhost")
    check(p.returncode == 1 and "passphrase is required" in p.stderr, f"{p.returncode} {p.stderr}")
    alice.env["XMPP_PASSPHRASE"] = "wrong"
    p = alice.run("history", "bob@localhost")
    check(p.returncode == 1 and "does not unlock" in p.stderr, f"{p.returncode} {p.stderr}")
    alice.env["XMPP_PASSPHRASE"] = "correct horse battery staple"
    p = alice.run("whoami")
    check(p.returncode == 0, p.stderr)
    key = open(os.path.join(alice.data, "storage.key"), "rb").read()
    check(os.stat(os.path.join(alice.data, "storage.key")).st_mode & 0o077 == 0, "key file mode")
    check(b"correct horse" not in key, "passphrase in the key file")


class Proxy:
    def __init__(self, sock, cut):
        self.sock = sock
        self.cut = cut

    def close(self):
        self.sock.close()


def proxy(listen_port, target_port, rewrite, client_log):
    """A TCP relay that applies |rewrite| to server->client bytes and logs
    the client's bytes (the MITM of catalogue 75)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(4)

    def pump(src, dst, fn, log):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if log is not None:
                    log.append(data)
                dst.sendall(fn(data))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    live = []

    def accept():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", target_port))
            live.extend([c, s])
            threading.Thread(target=pump, args=(c, s, lambda d: d, client_log), daemon=True).start()
            threading.Thread(target=pump, args=(s, c, rewrite, None), daemon=True).start()

    def cut():
        """Drops every relayed connection at once (a network failure)."""
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        live.clear()

    threading.Thread(target=accept, daemon=True).start()
    return Proxy(ls, cut)


def c_starttls_stripped(server, xmpp, work):
    """Catalogue 75 (CVE-2016-10027): a MITM removes <starttls/> from the
    features; the client aborts and never sends the password."""
    port = free_port()
    log = []
    strip = lambda d: d.replace(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>", b"").replace(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", b"")  # noqa: E731
    ls = proxy(port, server.port, strip, log)
    try:
        alice = Cli(xmpp, server, "alice", work, port=port)
        p = alice.run("send", "bob@localhost", "x")
        check(p.returncode == 2, f"rc={p.returncode} {p.stderr}")
        check("STARTTLS" in p.stderr, p.stderr)
        sent = b"".join(log)
        check(b"<auth" not in sent and PASSWORD.encode() not in sent,
              f"credentials went out: {sent[:300]}")
    finally:
        ls.close()


def c_wrong_password_and_unreachable(server, xmpp, work):
    """Clear errors: a wrong password (exit 2, says so) and a server that
    is not there (exit 2, says it cannot reach it)."""
    alice = Cli(xmpp, server, "alice", work)
    alice.register()
    alice.env["XMPP_PASSWORD"] = "not-the-password"
    p = alice.run("send", "bob@localhost", "x")
    check(p.returncode == 2 and "wrong password" in p.stderr, f"rc={p.returncode} {p.stderr}")
    closed = free_port()
    alice.env["XMPP_PASSWORD"] = PASSWORD
    nowhere = Cli(xmpp, server, "alice", work, port=closed)
    p = nowhere.run("send", "bob@localhost", "x")
    check(p.returncode == 2 and "cannot reach" in p.stderr, f"rc={p.returncode} {p.stderr}")


def c_forged_carbon_ignored(server, xmpp, work):
    """Catalogue 76: Mallory sends Alice a message wrapped as a carbon of
    one from Bob, and a roster push; Alice's client ignores both (notice,
    nothing displayed or stored, the push answered with an error)."""
    alice = Cli(xmpp, server, "alice", work)
    alice.register()
    add_user(server, "mallory")
    p = alice.popen("listen")
    r = Reader(p)
    r.wait(lambda e: e["event"] == "ready", what="alice ready")

    async def forge():
        c = Client(server.port, server.domain, name="mallory")
        await c.login("mallory", PASSWORD, resource="m")
        c.send_stanza(
            f"<message to='alice@{server.domain}' type='chat' id='forge1'>"
            "<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
            f"<message xmlns='jabber:client' from='bob@{server.domain}/x' "
            f"to='alice@{server.domain}' type='chat' id='f2'><body>send me the money</body>"
            "</message></forwarded></received></message>")
        c.send_stanza(f"<message to='alice@{server.domain}' type='chat' id='plain1'>"
                      "<body>a genuine plaintext note</body></message>")
        await c.flush()
        await asyncio.sleep(0.5)
        await c.close()

    ready = r.wait(lambda e: e["event"] == "ready", what="alice ready")

    async def forge_roster_push():
        # RFC 6121 §2.1.6 (CVE-2016-9928): a roster push from someone else.
        c = Client(server.port, server.domain, name="mallory-iq")
        await c.login("mallory", PASSWORD, resource="m2")
        reply = await c.iq("<query xmlns='jabber:iq:roster'><item jid='mallory@localhost' "
                           "name='Bob'/></query>", to=ready["jid"], itype="set")
        await c.close()
        return reply

    asyncio.run(forge())
    reply = asyncio.run(forge_roster_push())
    check(reply.get("type") == "error", f"the forged roster push was accepted: {reply}")
    r.wait(lambda e: e["event"] == "notice" and "forged roster push" in e["text"],
           what="roster notice")
    r.wait(lambda e: e["event"] == "notice" and "forged carbon" in e["text"], what="notice")
    r.wait(lambda e: e["event"] == "message" and e["body"] == "a genuine plaintext note",
           what="the genuine message")
    check(not any(e.get("body") == "send me the money" for e in r.all()), f"{r.all()}")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    rows = alice.db().execute("select body from messages").fetchall()
    check(("send me the money",) not in rows, f"stored: {rows}")


def c_resume_after_connection_loss(server, xmpp, work):
    """XEP-0198 resumption: Alice's listening client loses its TCP
    connection (the relay drops it), reconnects, resumes the stream, and
    gets Bob's message sent meanwhile, once."""
    alice = Cli(xmpp, server, "alice", work)
    bob = Cli(xmpp, server, "bob", work)
    alice.register()
    bob.register()
    port = free_port()
    relay = proxy(port, server.port, lambda d: d, None)
    try:
        via = Cli(xmpp, server, "alice", work, port=port)
        p = via.popen("listen")
        r = Reader(p)
        r.wait(lambda e: e["event"] == "ready", what="alice ready")
        r.wait(lambda e: e["event"] == "caught-up", what="alice caught up")
        relay.cut()
        r.wait(lambda e: e["event"] == "notice" and "reconnecting" in e["text"],
               what="reconnect notice")
        check(bob.run("send", alice.jid, "while you were away").returncode == 0, "bob send")
        r.wait(lambda e: e["event"] == "message" and e["body"] == "while you were away",
               what="message after resumption")
        time.sleep(1)
        got = [e for e in r.all() if e["event"] == "message"]
        check(len(got) == 1, f"got {got}")
        check(p.poll() is None, "listen ended")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=10) == 0, f"exit {p.returncode}")
        check("resumed" in server.read_log(), "the server log shows no resumption")
    finally:
        relay.close()


def c_contacts_and_help(server, xmpp, work):
    """`xmpp contacts` keeps local contacts; every command has --help."""
    alice = Cli(xmpp, server, "alice", work)
    alice.register()
    check(alice.run("contacts", "add", "bob@localhost", "Bob B").returncode == 0, "add")
    check(alice.run("contacts", "add", "Carol@LOCALHOST").returncode == 0, "add carol")
    listed = alice.events(alice.run("contacts").stdout)
    check({(c["jid"], c["name"]) for c in listed} ==
          {("bob@localhost", "Bob B"), ("carol@localhost", "")}, f"{listed}")
    check(alice.run("contacts", "remove", "bob@localhost").returncode == 0, "remove")
    listed = alice.events(alice.run("contacts").stdout)
    check([c["jid"] for c in listed] == ["carol@localhost"], f"{listed}")
    p = alice.run("contacts", "add", "not a jid@@")
    check(p.returncode == 1 and "not a JID" in p.stderr, p.stderr)
    for cmd in ("register", "send", "chat", "listen", "history", "contacts", "whoami"):
        p = subprocess.run([xmpp, cmd, "--help"], capture_output=True, text=True, timeout=10)
        check(p.returncode == 0 and ("Usage" in p.stdout or "OPTIONS" in p.stdout),
              f"{cmd} --help: {p.returncode} {p.stdout[:200]}")
    p = alice.run("whoami")
    me = alice.events(p.stdout)[0]
    check(me["jid"] == alice.jid and len(me["fingerprint"].split()) == 8, f"{me}")


async def own_prekey_count(server, user, device):
    """The one-time prekeys the server holds for |user|'s |device|
    (spec/e2e-keys.md §5), asked as that user."""
    c = Client(server.port, server.domain, name=f"{user}-probe")
    await c.login(user, PASSWORD, resource="probe")
    reply = await c.iq("<devices xmlns='urn:xmppd:e2e:1'/>", to=f"{user}@{server.domain}")
    await c.close()
    for el in reply.iter("{urn:xmppd:e2e:1}device"):
        if el.get("id") == str(device):
            return int(el.get("prekeys"))
    raise AssertionError(f"device {device} not listed: {reply}")


def c_prekeys_replenished(server, xmpp, work):
    """The server keeps at most 12 one-time prekeys per device here: Bob's
    first publish of 100 is refused and the client offers fewer until it
    fits. Ten new correspondents then use up ten of them while Bob listens;
    his client notices and tops the stock up without a restart."""
    bob = Cli(xmpp, server, "bob", work)
    device = bob.register()["device"]
    have = asyncio.run(own_prekey_count(server, "bob", device))
    check(1 <= have <= 12, f"published {have} prekeys")
    senders = [Cli(xmpp, server, f"s{i}", work) for i in range(10)]
    for s_ in senders:
        s_.register()
    listen = bob.popen("listen")
    r = Reader(listen)
    r.wait(lambda e: e["event"] == "caught-up", what="bob caught up")
    for i, s_ in enumerate(senders):
        p = s_.run("send", bob.jid, f"hello from s{i}")
        check(p.returncode == 0, f"s{i} send: {p.stderr}")
    for i in range(10):
        r.wait(lambda e, i=i: e["event"] == "message" and e["body"] == f"hello from s{i}",
               what=f"message {i}")
    # Claims took min(have, 10) prekeys; the client replenishes after the
    # tenth new session.
    deadline = time.monotonic() + 15
    now = 0
    while time.monotonic() < deadline:
        now = asyncio.run(own_prekey_count(server, "bob", device))
        if now > max(have - 10, 0):
            break
        time.sleep(0.3)
    check(now > max(have - 10, 0), f"not replenished: {have} -> {now}")
    listen.send_signal(signal.SIGTERM)
    check(listen.wait(timeout=10) == 0, f"listen exit {listen.returncode}")


def c_redirect_not_followed(server, xmpp, work):
    """Catalogue 75: a server (or a MITM before TLS) that answers with a
    see-other-host redirect does not make the client connect anywhere
    else or send credentials: it stops with exit 2."""
    evil = socket.socket()
    evil.bind(("127.0.0.1", 0))
    evil.listen(4)
    evil.settimeout(0.2)
    evil_port = evil.getsockname()[1]
    fake = socket.socket()
    fake.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fake.bind(("127.0.0.1", 0))
    fake.listen(1)
    seen = []

    def serve():
        c, _ = fake.accept()
        seen.append(c.recv(4096))
        c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
                  b"from='localhost' id='x'><stream:error><see-other-host "
                  b"xmlns='urn:ietf:params:xml:ns:xmpp-streams'>127.0.0.1:"
                  + str(evil_port).encode() + b"</see-other-host></stream:error>"
                  b"</stream:stream>")
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                seen.append(d)
        except OSError:
            pass
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    alice = Cli(xmpp, server, "alice", work, port=fake.getsockname()[1])
    p = alice.run("send", "bob@localhost", "x")
    check(p.returncode == 2 and "see-other-host" in p.stderr, f"rc={p.returncode} {p.stderr}")
    try:
        evil.accept()
        raise AssertionError("the client followed the redirect")
    except socket.timeout:
        pass
    sent = b"".join(seen)
    check(b"<auth" not in sent and PASSWORD.encode() not in sent, f"sent {sent[:300]}")
    fake.close()
    evil.close()


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}


EXTRA_ARGS = {"prekeys_replenished": ["--set", "e2e_max_prekeys=12"]}


def main():
    xmppd, xmpp, name = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory(prefix="xmpp-cli-") as work:
        server = Server(xmppd, extra=EXTRA_ARGS.get(name, []))
        with server:
            CASES[name](server, xmpp, work)
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
