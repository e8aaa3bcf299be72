#!/usr/bin/python3
"""xd-push-appserver (client/push_appserver), the reference XEP-0357 app
server, against a real xmppd, without xmppd's own push support: the app
server logs in as push@localhost/app and alice, an ordinary client, sends
it the publish IQs a server would (clients may address IQs to another full
JID; the server routes them). Checked: the XEP-0357 §7 example gives an IQ
result and one JSON line; optional fields stay out of the line; escaping
survives; every malformed variant gets bad-request, no line, and the app
server keeps running; other IQs get service-unavailable (pings a result);
--command gets the line on stdin and never in its command line; the app
server reconnects after the server is killed and restarted; STARTTLS with
the test CA.

Usage: push_appserver_test.py XMPPD XD_PUSH_APPSERVER CASE"""
import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CERTS, Server  # noqa: E402
from xmpp_client import Client, error_condition, q, to_xml  # noqa: E402

PUSH_PW = "push secret"
ALICE_PW = "alice secret"
TIMEOUT = 15
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS_FULL = {"node", "message_count", "last_sender", "last_body", "from", "received_at"}

# XEP-0357 §7, Example 11 ("Server publishes a notification"), with the
# summary form marked type='submit' as a submitted form is (XEP-0004) and as
# xmppd's push_notifier sends it. The 'from' is stamped by the server.
XEP_EXAMPLE = """<iq type='set' to='{to}' id='{id}'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <publish node='yxs32uqsflafdk3iuqo'>
      <item>
        <notification xmlns='urn:xmpp:push:0'>
          <x xmlns='jabber:x:data' type='submit'>
            <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>
            <field var='message-count'><value>1</value></field>
            <field var='last-message-sender'><value>juliet@capulet.example/balcony</value></field>
            <field var='last-message-body'><value>Wherefore art thou, Romeo?</value></field>
          </x>
        </notification>
      </item>
    </publish>
    <publish-options>
      <x xmlns='jabber:x:data' type='submit'>
        <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
        <field var='secret'><value>eruio234vzxc2kla-91</value></field>
      </x>
    </publish-options>
  </pubsub>
</iq>"""


def field(var, value):
    return f"<field var='{var}'><value>{value}</value></field>"


def publish(to, iq_id, fields, node="n1", form_attrs=" type='submit'", item=None):
    """A publish IQ with the given summary fields (XML snippets)."""
    if item is None:
        item = (f"<item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'{form_attrs}>"
                f"{''.join(fields)}</x></notification></item>")
    node_attr = f" node={q(node)}" if node is not None else ""
    return (f"<iq type='set' to='{to}' id='{iq_id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
            f"<publish{node_attr}>{item}</publish></pubsub></iq>")


SUMMARY = field("FORM_TYPE", "urn:xmpp:push:summary")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def add_user(server, name, password):
    subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, password],
                   check=True, capture_output=True)


class AppServer:
    """xd-push-appserver as a child process: stdout lines in a queue,
    stderr kept (and echoed at the end for failures)."""

    def __init__(self, binary, server, tls=False, extra=(), env=None):
        args = [binary, "--server", f"127.0.0.1:{server.port}",
                "--jid", f"push@{server.domain}/app", "--password", PUSH_PW,
                "--reconnect-min", "0.2", "--reconnect-max", "1"]
        args += ["--tls", "--ca", os.path.join(CERTS, "ca.pem")] if tls else ["--plaintext"]
        args += list(extra)
        self.jid = f"push@{server.domain}/app"
        self.lines = queue.Queue()
        self.err = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=dict(os.environ, **(env or {})))
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.rstrip("\n"))

    def stderr(self):
        return "\n".join(self.err)

    async def wait_stderr(self, pattern, count=1, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while sum(1 for line in list(self.err) if pattern in line) < count:
            check(self.proc.poll() is None,
                  f"xd-push-appserver exited with {self.proc.returncode}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}x {pattern!r} on stderr:\n{self.stderr()}")
            await asyncio.sleep(0.05)

    async def next_json(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get_nowait()
                check(line.endswith("\n"), f"a whole line: {line!r}")
                return json.loads(line), line
            except queue.Empty:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"no JSON line within {timeout}s:\n{self.stderr()}")
            await asyncio.sleep(0.02)

    def check_no_line(self):
        check(self.lines.empty(), f"unexpected output: {self.lines.queue!r}")

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


async def alice_client(server, tls=False):
    alice = Client(server.port, server.domain, name="alice")
    await alice.login("alice", ALICE_PW, resource="phone", tls=tls)
    return alice


async def send_iq(alice, xml, iq_id):
    mark = len(alice.inbox)
    alice.send_raw(xml)
    return await alice.expect(lambda e: e.get("id") == iq_id and
                              e.get("type") in ("result", "error"), TIMEOUT, since=mark)


async def expect_result(alice, app, xml, iq_id):
    reply = await send_iq(alice, xml, iq_id)
    check(reply.get("type") == "result", f"{iq_id}: iq result expected: {to_xml(reply)}\n"
                                         f"{app.stderr()}")
    check(reply.get("from") == app.jid, f"{iq_id}: the result comes from {app.jid}: {to_xml(reply)}")
    return reply


async def expect_error(alice, xml, iq_id, condition, etype):
    reply = await send_iq(alice, xml, iq_id)
    got = error_condition(reply)
    check(reply.get("type") == "error" and got == (condition, etype),
          f"{iq_id}: {condition}/{etype} expected, got {got}: {to_xml(reply)}")
    return reply


def check_example_line(obj, line, alice):
    check(set(obj) == KEYS_FULL, f"keys: {sorted(obj)}")
    check(obj["node"] == "yxs32uqsflafdk3iuqo", f"node: {line}")
    check(obj["message_count"] == 1 and isinstance(obj["message_count"], int), f"count: {line}")
    check(obj["last_sender"] == "juliet@capulet.example/balcony", f"sender: {line}")
    check(obj["last_body"] == "Wherefore art thou, Romeo?", f"body: {line}")
    check(obj["from"] == alice.jid, f"from is the sender's full JID {alice.jid}: {line}")
    check(ISO.match(obj["received_at"]), f"received_at: {line}")
    stamp = time.strptime(obj["received_at"][:19], "%Y-%m-%dT%H:%M:%S")
    check(abs(time.mktime(stamp) - time.timezone - time.time()) < 120,
          f"received_at is now, in UTC: {line}")


# ------------------------------------------------------------------- cases

async def c_publish_stdout(server, binary):
    app = AppServer(binary, server)
    try:
        await app.wait_stderr("online as push@localhost/app")
        alice = await alice_client(server)
        to = app.jid

        # The XEP-0357 example, exactly.
        await expect_result(alice, app, XEP_EXAMPLE.format(to=to, id="n12"), "n12")
        obj, line = await app.next_json()
        check_example_line(obj, line, alice)
        print("example:", line.strip())

        # Only what XEP-0357 requires of this form: no sender, no body (what
        # xmppd sends for stalled acknowledgements), and no form type.
        await expect_result(alice, app, publish(to, "p2", [SUMMARY, field("message-count", "42")],
                                                node="dev-2", form_attrs=""), "p2")
        obj, line = await app.next_json()
        check(set(obj) == {"node", "message_count", "from", "received_at"}, f"keys: {line}")
        check(obj["node"] == "dev-2" and obj["message_count"] == 42, f"p2: {line}")

        # Escaping: quotes, backslash, control characters, markup, non-ASCII.
        body = 'say "hi"\\n\tthen <b>&amp;</b> — ünïcödé 😀'
        xml_body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        expected_body = body
        # &#10; is a newline inside the value: JSON must escape it (and the tab).
        await expect_result(alice, app, publish(to, "p3", [
            SUMMARY, field("message-count", "18446744073709551615"),
            field("last-message-sender", "romeo@montague.example"),
            field("last-message-body", xml_body + "&#10;line 2")], node="n'\"\\"), "p3")
        obj, line = await app.next_json()
        check(obj["last_body"] == expected_body + "\nline 2", f"body round trip: {line}")
        check(obj["message_count"] == 18446744073709551615, f"uint64 count: {line}")
        check(obj["node"] == "n'\"\\", f"node round trip: {line}")
        check("\n" not in line[:-1] and "\t" not in line, f"one line, escaped: {line!r}")

        # Malformed publishes: bad-request (modify), no line, still running.
        good = [SUMMARY, field("message-count", "1")]
        malformed = {
            "m-formtype": publish(to, "m-formtype", [field("FORM_TYPE", "urn:xmpp:push:other"),
                                                     field("message-count", "1")]),
            "m-noformtype": publish(to, "m-noformtype", [field("message-count", "1")]),
            "m-nocount": publish(to, "m-nocount", [SUMMARY]),
            "m-count-text": publish(to, "m-count-text", [SUMMARY, field("message-count", "many")]),
            "m-count-neg": publish(to, "m-count-neg", [SUMMARY, field("message-count", "-1")]),
            "m-count-plus": publish(to, "m-count-plus", [SUMMARY, field("message-count", "+1")]),
            "m-count-big": publish(to, "m-count-big",
                                   [SUMMARY, field("message-count", "18446744073709551616")]),
            "m-sender": publish(to, "m-sender", good + [field("last-message-sender", "a@@b")]),
            "m-twice": publish(to, "m-twice", good + [field("message-count", "2")]),
            "m-two-values": publish(to, "m-two-values", [
                SUMMARY, "<field var='message-count'><value>1</value><value>2</value></field>"]),
            "m-form-type": publish(to, "m-form-type", good, form_attrs=" type='form'"),
            "m-nonode": publish(to, "m-nonode", good, node=None),
            "m-emptynode": publish(to, "m-emptynode", good, node=""),
            "m-noitem": publish(to, "m-noitem", good, item=""),
            "m-twoitems": publish(to, "m-twoitems", good, item=(
                "<item><notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'>"
                f"{''.join(good)}</x></notification></item>") * 2),
            "m-nonotification": publish(to, "m-nonotification", good, item="<item><foo/></item>"),
            "m-wrongns": publish(to, "m-wrongns", good, item=(
                "<item><notification xmlns='urn:xmpp:push:1'><x xmlns='jabber:x:data'>"
                f"{''.join(good)}</x></notification></item>")),
            "m-noform": publish(to, "m-noform", good,
                                item="<item><notification xmlns='urn:xmpp:push:0'/></item>"),
            "m-novar": publish(to, "m-novar", good + ["<field><value>x</value></field>"]),
        }
        for iq_id, xml in malformed.items():
            await expect_error(alice, xml, iq_id, "bad-request", "modify")
            check(app.proc.poll() is None, f"still running after {iq_id}:\n{app.stderr()}")
        await app.wait_stderr("malformed push", count=len(malformed))
        app.check_no_line()
        print(f"{len(malformed)} malformed publishes: bad-request each, no output")

        # Not a push: the session's default answers.
        await expect_error(alice, f"<iq type='get' to='{to}' id='o1'>"
                                  "<query xmlns='jabber:iq:version'/></iq>", "o1",
                           "service-unavailable", "cancel")
        await expect_error(alice, f"<iq type='set' to='{to}' id='o2'>"
                                  "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                                  f"<subscribe node='n1' jid='{alice.jid}'/></pubsub></iq>", "o2",
                           "service-unavailable", "cancel")
        # A publish in an iq get is not a push either.
        await expect_error(alice, XEP_EXAMPLE.format(to=to, id="o3").replace("type='set'",
                                                                            "type='get'", 1),
                           "o3", "service-unavailable", "cancel")
        await expect_result(alice, app, f"<iq type='get' to='{to}' id='o4'>"
                                        "<ping xmlns='urn:xmpp:ping'/></iq>", "o4")
        app.check_no_line()

        # Still serving.
        await expect_result(alice, app, publish(to, "p4", [SUMMARY, field("message-count", "7")]),
                            "p4")
        obj, line = await app.next_json()
        check(obj["message_count"] == 7, f"p4: {line}")
    finally:
        code = app.stop()
        print("---- xd-push-appserver stderr ----\n" + app.stderr())
    check(code == 0, f"SIGTERM: exit 0, got {code}")
    check("shutting down" in app.stderr(), "logs its shutdown")


async def c_publish_command(server, binary):
    work = tempfile.mkdtemp(prefix="xd-push-cmd-")
    out = os.path.join(work, "lines")
    mark = os.path.join(work, "pwned")
    # The command reads the line from stdin; the data may try to break out
    # of a shell command line, but it is never part of one. It then fails on
    # purpose: the failure is logged and the notification stays accepted.
    app = AppServer(binary, server, extra=["--command", 'cat >> "$PUSH_OUT"; exit 3'],
                    env={"PUSH_OUT": out})
    try:
        await app.wait_stderr("online as")
        alice = await alice_client(server)
        hostile = f"$(touch {mark}) `touch {mark}` '; touch {mark}; ' \"; touch {mark}; \""
        node = f"n$(touch {mark})"
        await expect_result(alice, app, publish(app.jid, "c1", [
            SUMMARY, field("message-count", "3"), field("last-message-sender", "bob@localhost/x"),
            field("last-message-body", hostile)], node=node), "c1")
        deadline = time.monotonic() + TIMEOUT
        while not (os.path.exists(out) and open(out).read().endswith("\n")):
            check(time.monotonic() < deadline, f"the command wrote nothing:\n{app.stderr()}")
            await asyncio.sleep(0.05)
        await app.wait_stderr("exited with status 3")
        with open(out) as f:
            lines = f.read().splitlines()
        check(len(lines) == 1, f"one line on the command's stdin: {lines}")
        obj = json.loads(lines[0])
        check(obj["last_body"] == hostile and obj["node"] == node and obj["message_count"] == 3,
              f"the line, intact: {lines[0]}")
        check(obj["from"] == alice.jid, f"from: {lines[0]}")
        check(not os.path.exists(mark), "nothing from the data was executed")
        app.check_no_line()  # with --command, stdout carries no JSON
        # A malformed push never reaches the command.
        await expect_error(alice, publish(app.jid, "c2", [SUMMARY]), "c2", "bad-request", "modify")
        await expect_result(alice, app, publish(app.jid, "c3", [
            SUMMARY, field("message-count", "4")]), "c3")
        while len(open(out).read().splitlines()) < 2:
            check(time.monotonic() < deadline, f"second line missing:\n{app.stderr()}")
            await asyncio.sleep(0.05)
        lines = open(out).read().splitlines()
        check(len(lines) == 2 and json.loads(lines[1])["message_count"] == 4, f"lines: {lines}")
        print("command got:", lines[0])
    finally:
        code = app.stop()
        print("---- xd-push-appserver stderr ----\n" + app.stderr())
    check(code == 0, f"SIGTERM: exit 0, got {code}")


async def c_reconnect(server, binary):
    app = AppServer(binary, server)
    try:
        await app.wait_stderr("online as")
        alice = await alice_client(server)
        await expect_result(alice, app, publish(app.jid, "r1", [SUMMARY, field("message-count", "1")]),
                            "r1")
        await app.next_json()
        await alice.close()
        # A crash of the server: the app server must notice and come back.
        server.kill()
        await app.wait_stderr("disconnected")
        await asyncio.sleep(0.5)  # at least one refused attempt while it is down
        server.start()
        await app.wait_stderr("online as", count=2, timeout=30)
        check(app.proc.poll() is None, "still running")
        alice = await alice_client(server)
        await expect_result(alice, app, publish(app.jid, "r2", [SUMMARY, field("message-count", "2")]),
                            "r2")
        obj, line = await app.next_json()
        check(obj["message_count"] == 2, f"after the reconnect: {line}")
        check("reconnecting in" in app.stderr(), "logs its backoff")
    finally:
        code = app.stop()
        print("---- xd-push-appserver stderr ----\n" + app.stderr())
    check(code == 0, f"SIGTERM: exit 0, got {code}")


async def c_starttls(server, binary):
    app = AppServer(binary, server, tls=True)
    try:
        await app.wait_stderr("online as push@localhost/app")
        alice = await alice_client(server, tls=True)
        await expect_result(alice, app, XEP_EXAMPLE.format(to=app.jid, id="t1"), "t1")
        obj, line = await app.next_json()
        check_example_line(obj, line, alice)
        check("authenticated push@localhost (SCRAM-SHA-256)" in server.read_log(),
              "the app server logged in with SCRAM-SHA-256")
    finally:
        code = app.stop()
        print("---- xd-push-appserver stderr ----\n" + app.stderr())
    check(code == 0, f"SIGTERM: exit 0, got {code}")


async def c_server_push_offline(server, binary):
    """xmppd's own XEP-0357 support end to end (spec/delivery.md §6): bob
    enables push to the reference app server and goes offline; alice's
    message is stored and the app server prints a summary (count, last
    sender, no body); two more within the interval are coalesced into one
    notification with the new count; the registration survives a restart;
    after <disable/> nothing more is published."""
    add_user(server, "bob", "bob secret")
    app = AppServer(binary, server)
    await app.wait_stderr("online as")
    bob = Client(server.port, server.domain, name="bob")
    await bob.login("bob", "bob secret", resource="phone")
    form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
            "http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='secret'><value>s3cr3t</value></field></x>")
    enable = (f"<iq type='set' id='en1'><enable xmlns='urn:xmpp:push:0' jid='{app.jid}' "
              f"node='bobnode'>{form}</enable></iq>")
    reply = await send_iq(bob, enable, "en1")
    check(reply.get("type") == "result", f"enable: {to_xml(reply)}")
    remote = ("<iq type='set' id='en2'><enable xmlns='urn:xmpp:push:0' "
              "jid='push.example.org' node='x'/></iq>")
    reply = await send_iq(bob, remote, "en2")
    check(error_condition(reply)[0] == "remote-server-not-found",
          f"a remote app server is refused: {to_xml(reply)}")
    await bob.close()

    alice = await alice_client(server)
    bob_bare = f"bob@{server.domain}"
    alice.send_raw(f"<message to='{bob_bare}' type='chat' id='m1'><body>secret body</body></message>")
    obj, line = await app.next_json()
    check(obj["node"] == "bobnode", f"node: {line}")
    check(obj["message_count"] == 1, f"one stored message: {line}")
    check(obj["last_sender"] == alice.jid, f"last sender is alice's full JID: {line}")
    check("last_body" not in obj, f"no body unless configured: {line}")
    check(obj["from"] == bob_bare, f"published on behalf of bob: {line}")
    # Coalescing: two more inside the interval give one notification.
    for i in (2, 3):
        alice.send_raw(f"<message to='{bob_bare}' type='chat' id='m{i}'><body>{i}</body></message>")
    obj, line = await app.next_json(timeout=10)
    check(obj["message_count"] == 3, f"coalesced with the latest count: {line}")
    await asyncio.sleep(1.5)
    app.check_no_line()

    # The registration is stored: it survives a restart.
    await alice.close()
    loop = asyncio.get_running_loop()
    check(await loop.run_in_executor(None, server.stop) == 0, "clean stop")
    await loop.run_in_executor(None, server.start)
    await app.wait_stderr("online as", count=2, timeout=20)
    alice = await alice_client(server)
    alice.send_raw(f"<message to='{bob_bare}' type='chat' id='m4'><body>4</body></message>")
    obj, line = await app.next_json()
    check(obj["message_count"] == 4, f"after the restart: {line}")

    # Disabled: no more notifications.
    bob = Client(server.port, server.domain, name="bob2")
    await bob.login("bob", "bob secret", resource="tablet")
    reply = await send_iq(bob, f"<iq type='set' id='d1'><disable xmlns='urn:xmpp:push:0' "
                               f"jid='{app.jid}'/></iq>", "d1")
    check(reply.get("type") == "result", f"disable: {to_xml(reply)}")
    await bob.close()
    await asyncio.sleep(1.5)
    alice.send_raw(f"<message to='{bob_bare}' type='chat' id='m5'><body>5</body></message>")
    await asyncio.sleep(2)
    app.check_no_line()
    check(app.stop() == 0, "the app server exits cleanly on SIGTERM")


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}


EXTRA_ARGS = {"server_push_offline": ["--set", "push_interval_s=1"]}


def main():
    xmppd, binary, name = sys.argv[1], sys.argv[2], sys.argv[3]
    if name not in CASES:
        sys.exit(f"unknown case {name}; cases: {' '.join(CASES)}")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def run(server):
        try:
            await asyncio.wait_for(CASES[name](server, binary), 100)
        finally:
            await Client.close_all()

    extra = ["--allow-plaintext"] + EXTRA_ARGS.get(name, [])
    with Server(xmppd, extra=extra) as server:
        add_user(server, "push", PUSH_PW)
        add_user(server, "alice", ALICE_PW)
        loop.run_until_complete(run(server))
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
