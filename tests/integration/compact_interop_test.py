#!/usr/bin/python3
"""A modified third-party client speaks the compact dialect with a real
xmppd: Debian's slixmpp plus client/slixmpp_compact on one side, plain
slixmpp (XML) on the other, through one server (harness.py: real TLS with
the test CA, real LMDB files).

Usage: compact_interop_test.py XMPPD SCENARIO   (one scenario per run)
  messages_both_ways   compact+zstd <-> XML, both directions, acks, iq, presence
  compression_off      the same without compression
  receipt_round_trip   XEP-0184 receipts both ways across the dialects
  batched_receipts     one <receipts/> batch expanded for the XML client
  offline_backlog      the offline backlog and catch-up markers into frames
  stream_management    XEP-0198 (slixmpp's xep_0198) on a compact stream
  sm_resume            a dropped compact session resumed on a new compact stream
  direct_mode          the direct compact port (skipped, exit 77, when the
                       server has no compact port setting)"""
import asyncio
import logging
import os
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "slixmpp_compact"))

import xmppd_compact  # noqa: E402,F401  (registers 'xep_compact')
from harness import Server, free_port  # noqa: E402
from slixmpp_test import Client, check, next_message, register  # noqa: E402

TIMEOUT = 15
SKIP = 77  # meson's exit code for a skipped test
UNICODE_BODY = "héllo <b>&amp;</b> ]]> 'q' \"dq\" 😀 ☕"
LONG_BODY = ("Thank you so much, I really appreciate it. Let me know when you are home. "
             "Yes, that sounds good to me. What time do we meet tomorrow morning?")


class CompactClient(Client):
    def __init__(self, jid, password, compact=None, plugins=()):
        super().__init__(jid, password)
        for p in plugins:
            self.register_plugin(p)
        self.register_plugin("xep_compact", dict(compact or {}))
        self.acks = asyncio.Queue()
        self.compact_failures = []
        self.add_event_handler("compact_ack", lambda a: self.acks.put_nowait(a))
        self.add_event_handler("compact_failed", lambda f: self.compact_failures.append(f))


async def wait_started(c):
    done = asyncio.ensure_future(c.started.wait())
    failed = asyncio.ensure_future(c.auth_failed.wait())
    await asyncio.wait([done, failed], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    done.cancel()
    failed.cancel()
    check(c.started.is_set(), f"{c.boundjid} reached session_start")
    return c


async def online_compact(server, user, compact=None, plugins=(), port=None, use_ssl=False):
    c = CompactClient(f"{user}@{server.domain}/res-{user}", "secret-pw", compact, plugins)
    c.connect(address=("127.0.0.1", port or server.port), use_ssl=use_ssl)
    return await wait_started(c)


async def online_plain(server, user, plugins=()):
    c = Client(f"{user}@{server.domain}/res-{user}", "secret-pw")
    for p in plugins:
        c.register_plugin(p)
    c.connect(address=("127.0.0.1", server.port))
    return await wait_started(c)


def compact_log_lines(server):
    return [line for line in server.read_log().splitlines() if "compact dialect on" in line]


async def close_all(*clients):
    waits = []
    for c in clients:
        ev = asyncio.Event()
        c.add_event_handler("disconnected", lambda *_, ev=ev: ev.set())
        c.disconnect()
        waits.append(ev)
    for ev in waits:
        await asyncio.wait_for(ev.wait(), TIMEOUT)


async def messages_both_ways(server, compression):
    check(await register(server, "alice") is None, "register alice")
    check(await register(server, "bob") is None, "register bob")
    a = await online_compact(server, "alice", {"compression": compression})
    b = await online_plain(server, "bob")
    plugin = a["xep_compact"]
    check(plugin.active, "alice's stream switched to the compact dialect")
    check(plugin.mode == "feature", f"feature mode: {plugin.mode}")
    check(plugin.compressed == compression, f"compression negotiated: {plugin.compressed}")
    check(not b.plugin.enabled("xep_compact"), "bob is a plain XML client")
    lines = compact_log_lines(server)
    check(len(lines) == 1, f"the server logged one compact stream: {lines}")
    check(("with zstd frames" in lines[0]) == compression, f"server log: {lines[0]}")

    # compact -> XML, with the dialect's ack for the stored message.
    for body in (UNICODE_BODY, LONG_BODY):
        msg = a.make_message(mto=f"bob@{server.domain}/res-bob", mbody=body, mtype="chat")
        msg["id"] = f"m-{len(body)}"
        msg.send()
        m = await next_message(b)
        check(m["body"] == body, f"bob got alice's body exactly: {m['body']!r}")
        check(str(m["from"]) == f"alice@{server.domain}/res-alice", f"from: {m['from']}")
        ack = await asyncio.wait_for(a.acks.get(), TIMEOUT)
        check(ack["id"] == msg["id"], f"ack names alice's message: {ack['id']}")
        check(ack["stanza_id"] != "", "ack carries the server's stanza id")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", ack["stamp"]),
              f"ack stamp: {ack['stamp']}")

    # XML -> compact.
    for body in (UNICODE_BODY, LONG_BODY, "to bare"):
        to = f"alice@{server.domain}" + ("" if body == "to bare" else "/res-alice")
        b.send_message(mto=to, mbody=body, mtype="chat")
        m = await next_message(a)
        check(m["body"] == body, f"alice got bob's body exactly: {m['body']!r}")
        check(str(m["from"]) == f"bob@{server.domain}/res-bob", f"from: {m['from']}")
    if compression:
        check(plugin.compressed_out >= 1, f"alice sent compressed frames: {plugin.compressed_out}")
        check(plugin.compressed_in >= 1, f"alice received compressed frames: {plugin.compressed_in}")
    else:
        check(plugin.compressed_out == 0 and plugin.compressed_in == 0, "no compressed frames")

    # An iq round trip and the roster over frames; a keepalive frame.
    rtt = await a["xep_0199"].ping(jid=server.domain, timeout=TIMEOUT)
    check(rtt is not None and rtt >= 0, "ping answered over the compact stream")
    a.send_raw(" ")
    check(plugin.keepalives_out == 1, "the whitespace keepalive became a KEEPALIVE frame")
    info = await a["xep_0030"].get_info(jid=server.domain, timeout=TIMEOUT)
    check("urn:xmpp:ping" in info["disco_info"]["features"], "disco over frames")
    check(plugin.frames_in > 5 and plugin.frames_out > 5,
          f"frames both ways: in {plugin.frames_in}, out {plugin.frames_out}")
    await close_all(a, b)
    check(not plugin.active, "the compact stream ended (CLOSE frame)")


async def t_messages_both_ways(server):
    await messages_both_ways(server, compression=True)


async def t_compression_off(server):
    await messages_both_ways(server, compression=False)


async def t_receipt_round_trip(server):
    await register(server, "alice")
    await register(server, "bob")
    a = await online_compact(server, "alice", plugins=("xep_0184",))
    b = await online_plain(server, "bob", plugins=("xep_0184",))
    check(a["xep_compact"].active, "alice is compact")
    got_a = asyncio.Queue()
    got_b = asyncio.Queue()
    a.add_event_handler("receipt_received", lambda m: got_a.put_nowait(m))
    b.add_event_handler("receipt_received", lambda m: got_b.put_nowait(m))

    # compact requests, XML client's slixmpp auto-acks, receipt back in frames.
    msg = a.make_message(mto=f"bob@{server.domain}/res-bob", mbody="receipt please", mtype="chat")
    msg["id"] = "rcpt-from-alice"
    msg["request_receipt"] = True
    msg.send()
    m = await next_message(b)
    check(m["body"] == "receipt please" and m["request_receipt"], "bob got the request")
    r = await asyncio.wait_for(got_a.get(), TIMEOUT)
    check(r["receipt"] == "rcpt-from-alice", f"alice got the receipt: {r['receipt']}")
    check(str(r["from"]) == f"bob@{server.domain}/res-bob", f"receipt from: {r['from']}")

    # XML requests, the compact client auto-acks in frames.
    msg = b.make_message(mto=f"alice@{server.domain}/res-alice", mbody="and you?", mtype="chat")
    msg["id"] = "rcpt-from-bob"
    msg["request_receipt"] = True
    msg.send()
    m = await next_message(a)
    check(m["body"] == "and you?", "alice got bob's message")
    r = await asyncio.wait_for(got_b.get(), TIMEOUT)
    check(r["receipt"] == "rcpt-from-bob", f"bob got the receipt: {r['receipt']}")
    check(str(r["from"]) == f"alice@{server.domain}/res-alice", f"receipt from: {r['from']}")
    await close_all(a, b)


async def t_batched_receipts(server):
    await register(server, "alice")
    await register(server, "bob")
    a = await online_compact(server, "alice")
    b = await online_plain(server, "bob", plugins=("xep_0184", "xep_0333"))
    check(a["xep_compact"].active, "alice is compact")
    received = asyncio.Queue()
    displayed = asyncio.Queue()
    b.add_event_handler("receipt_received", lambda m: received.put_nowait(m["receipt"]))
    b.add_event_handler("marker_displayed", lambda m: displayed.put_nowait(m["displayed"]["id"]))
    a["xep_compact"].send_receipts(f"bob@{server.domain}/res-bob", received=["r1", "r2"],
                                   displayed=["d1"])
    got = sorted([await asyncio.wait_for(received.get(), TIMEOUT) for _ in range(2)])
    check(got == ["r1", "r2"], f"bob got one XEP-0184 receipt per id: {got}")
    d = await asyncio.wait_for(displayed.get(), TIMEOUT)
    check(d == "d1", f"bob got the XEP-0333 displayed marker: {d}")
    await close_all(a, b)


async def t_direct_mode(server):
    await register(server, "alice")
    await register(server, "bob")
    for compression in (True, False):
        a = await online_compact(server, "alice", {"direct": True, "compression": compression},
                                 port=server.compact_port, use_ssl=True)
        b = await online_plain(server, "bob")
        plugin = a["xep_compact"]
        check(plugin.active and plugin.mode == "direct", "direct compact stream")
        check(plugin.compressed == compression, f"compression {plugin.compressed}")
        a.send_message(mto=f"bob@{server.domain}/res-bob", mbody=LONG_BODY, mtype="chat")
        m = await next_message(b)
        check(m["body"] == LONG_BODY, "bob got the message from the direct port")
        b.send_message(mto=f"alice@{server.domain}/res-alice", mbody=UNICODE_BODY, mtype="chat")
        m = await next_message(a)
        check(m["body"] == UNICODE_BODY, "alice got bob's message on the direct port")
        await close_all(a, b)


async def t_offline_backlog(server):
    await register(server, "alice")
    await register(server, "bob")
    b = await online_plain(server, "bob")
    bodies = [f"while you were away {i}" for i in range(3)]
    for body in bodies:
        b.send_message(mto=f"alice@{server.domain}", mbody=body, mtype="chat")
    # Stored before alice connects: wait for the server to have them.
    await asyncio.sleep(0.5)
    a = CompactClient(f"alice@{server.domain}/res-alice", "secret-pw")
    markers = []
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    a.register_handler(Callback(
        "catchup", MatchXPath("{jabber:client}message/{urn:xmppd:catchup:0}catchup"),
        lambda m: markers.append({k: m.xml[0].get(k) for k in ("state", "count")})))
    a.connect(address=("127.0.0.1", server.port))
    await wait_started(a)
    check(a["xep_compact"].active, "alice is compact")
    got = [await next_message(a) for _ in bodies]
    check([m["body"] for m in got] == bodies, f"backlog in order: {[m['body'] for m in got]}")
    stamps = [m.xml.find("{urn:xmpp:delay}delay") for m in got]
    check(all(d is not None and d.get("stamp") for d in stamps), "each carries its delay stamp")
    for _ in range(100):
        if len(markers) >= 2:
            break
        await asyncio.sleep(0.05)
    check(markers[:2] == [{"state": "start", "count": "3"}, {"state": "done", "count": "3"}],
          f"catch-up markers through frames: {markers}")
    await close_all(a, b)


async def t_stream_management(server):
    await register(server, "alice")
    await register(server, "bob")
    a = await online_compact(server, "alice", plugins=("xep_0198",))
    b = await online_plain(server, "bob")
    sm = a["xep_0198"]
    check(a["xep_compact"].active, "alice is compact")
    for _ in range(100):
        if "stream_management" in a.features:
            break
        await asyncio.sleep(0.05)
    check("stream_management" in a.features and sm.enabled_out,
          "XEP-0198 enabled in frames after the switch")
    for i in range(3):
        a.send_message(mto=f"bob@{server.domain}/res-bob", mbody=f"sm {i}", mtype="chat")
        m = await next_message(b)
        check(m["body"] == f"sm {i}", "bob got the message")
    sm.request_ack()
    for _ in range(100):
        if sm.last_ack == sm.seq and not sm.unacked_queue:
            break
        await asyncio.sleep(0.05)
    check(sm.last_ack == sm.seq and not sm.unacked_queue,
          f"the server acknowledged everything: {sm.last_ack}/{sm.seq}")
    before = sm.handled
    b.send_message(mto=f"alice@{server.domain}/res-alice", mbody="counted", mtype="chat")
    m = await next_message(a)
    check(m["body"] == "counted" and sm.handled == before + 1, "inbound stanza counted once")
    await close_all(a, b)


async def t_sm_resume(server):
    await register(server, "alice")
    await register(server, "bob")
    a = await online_compact(server, "alice", plugins=("xep_0198",))
    b = await online_plain(server, "bob")
    sm = a["xep_0198"]
    for _ in range(100):
        if sm.sm_id:
            break
        await asyncio.sleep(0.05)
    check(sm.sm_id, "resumable XEP-0198 session enabled over frames")
    resumed = asyncio.Event()
    dropped = asyncio.Event()
    a.add_event_handler("session_resumed", lambda *_: resumed.set())
    a.add_event_handler("disconnected", lambda *_: dropped.set())
    a.abort()  # the TCP connection drops, no CLOSE frame
    await asyncio.wait_for(dropped.wait(), TIMEOUT)
    b.send_message(mto=f"alice@{server.domain}/res-alice", mbody="while dropped", mtype="chat")
    await asyncio.sleep(0.3)
    a.connect(address=("127.0.0.1", server.port))
    await asyncio.wait_for(resumed.wait(), TIMEOUT)
    plugin = a["xep_compact"]
    check(plugin.active and plugin.negotiations == 2,
          "the new stream went compact before <resume/>")
    m = await next_message(a)
    check(m["body"] == "while dropped", f"the held message arrived on resumption: {m['body']}")
    await close_all(a, b)


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("t_")}


def direct_port_args(xmppd):
    """The server arguments that open a direct compact port
    (spec/compact.md §3.2: --compact-listen, [server] compact_listen), or
    (None, None) when this xmppd has none."""
    probe = subprocess.run([xmppd, "--help"], capture_output=True, text=True, timeout=20)
    if "--compact-listen" not in probe.stdout + probe.stderr:
        return None, None
    port = free_port()
    return ["--compact-listen", f"127.0.0.1:{port}"], port


def main():
    xmppd, name = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.DEBUG if os.environ.get("COMPACT_DEBUG") else logging.ERROR)
    extra = []
    compact_port = None
    # harness.Server opens a direct compact port itself when it knows of
    # one; otherwise ask this xmppd for the option.
    harness_port = "--compact-listen" in Server(xmppd).args
    if name == "direct_mode" and not harness_port:
        extra, compact_port = direct_port_args(xmppd)
        if extra is None:
            print("direct_mode: this xmppd has no direct compact port; skipped")
            sys.exit(SKIP)
    with Server(xmppd, extra=extra) as server:
        if compact_port is not None:
            server.compact_port = compact_port
        if name == "direct_mode":
            # The listener may come up a moment after the main port.
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", server.compact_port),
                                             timeout=0.2).close()
                    break
                except OSError:
                    asyncio.get_event_loop().run_until_complete(asyncio.sleep(0.05))
        asyncio.get_event_loop().run_until_complete(
            asyncio.wait_for(SCENARIOS[name](server), 60))
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
