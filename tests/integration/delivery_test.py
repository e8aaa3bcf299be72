#!/usr/bin/python3
"""Durable delivery (spec/delivery.md) against a real xmppd: the offline
queue and its catch-up markers, receipts and chat markers, XEP-0198 acks,
resumption across a TCP loss, a clean restart and a kill -9, bad acks, the
unacked cap, the offline quota, origin-id de-duplication, carbons, and
offline delivery between two slixmpp clients.

Usage: delivery_test.py XMPPD CASE   (run with /usr/bin/python3)"""
import asyncio
import os
import re
import subprocess
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server  # noqa: E402
from xmpp_client import (NS_CARBONS, NS_CATCHUP, NS_CLIENT, NS_DELAY, NS_FORWARD,  # noqa: E402
                         NS_MARKERS, NS_RECEIPTS, NS_SM, NS_STANZAS, Client, catchup_of,
                         child, error_condition, is_message, is_tag, local, ns, origin_id_of, q,
                         stanza_ids_of, text_of, to_xml)

PASSWORD = "secret-pw"
TIMEOUT = 15
# DELIVERY_TRACE=1 prints every client's XML, in and out.
TRACE = (lambda line: print(line, flush=True)) if os.environ.get("DELIVERY_TRACE") else None
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def add_users(server, *names):
    for name in names:
        subprocess.run([server.xmppd, "--data", server.data, "user", "add", name, PASSWORD],
                       check=True, capture_output=True)


async def connect(server, user, resource=None, sm=False, resume=True, name=None):
    c = Client(server.port, server.domain, name=name or f"{user}/{resource or '-'}", log=TRACE)
    await c.login(user, PASSWORD, resource=resource or f"r-{user}", sm=sm, resume=resume)
    if sm:
        check(c.sm, f"{c.name}: XEP-0198 <enable/> answered with {to_xml(c.sm_failed)}")
    return c


def bare(server, user):
    return f"{user}@{server.domain}"


def body_of(m):
    return text_of(m, "body")


def count_of(marker_msg):
    return catchup_of(marker_msg).get("count")


def check_marker(server, c, marker_msg, state, count):
    m = catchup_of(marker_msg)
    check(m is not None and m.get("state") == state,
          f"{c.name}: catch-up {state} expected: {to_xml(marker_msg)}")
    check(marker_msg.get("from") == server.domain, f"marker from the domain: {to_xml(marker_msg)}")
    check(marker_msg.get("to") == c.jid, f"marker to the full JID {c.jid}: {to_xml(marker_msg)}")
    check(m.get("count") == str(count), f"{c.name}: catch-up {state} count={count} expected: "
                                        f"{to_xml(marker_msg)}")


def check_stored(server, m, recipient):
    """A stanza that came out of the queue: delay stamp and the server's
    stanza-id (spec §2.1, §4). Returns the stanza-id."""
    delay = child(m, "delay", NS_DELAY)
    check(delay is not None, f"urn:xmpp:delay on a stored stanza: {to_xml(m)}")
    check(delay.get("from") == server.domain and STAMP.match(delay.get("stamp") or ""),
          f"delay from the domain with an XEP-0082 stamp: {to_xml(delay)}")
    ids = [i for i, by in stanza_ids_of(m) if by == bare(server, recipient)]
    check(len(ids) == 1 and ids[0], f"exactly one stanza-id by {recipient}: {to_xml(m)}")
    return ids[0]


def errors_in(c, since=0):
    return [e for e in c.messages(since) if e.get("type") == "error"]


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# ------------------------------------------------------------------ cases

async def c_offline_backlog_in_order(server):
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a")
    n = 20
    for i in range(n):
        a.send_message(bare(server, "bob"), f"offline {i}", origin_id=f"alice:{i}", msg_id=f"o{i}")
    await a.ping()  # everything before it was processed
    check(not errors_in(a), f"no error for an offline recipient: {[to_xml(e) for e in errors_in(a)[:3]]}")

    b = await connect(server, "bob", "b")
    start, msgs, done = await b.presence(timeout=TIMEOUT)
    check_marker(server, b, start, "start", n)
    check_marker(server, b, done, "done", n)
    check([body_of(m) for m in msgs] == [f"offline {i}" for i in range(n)],
          f"the {n} messages in order between the markers: {[body_of(m) for m in msgs]}")
    sids = set()
    for i, m in enumerate(msgs):
        check(m.get("from") == f"{bare(server, 'alice')}/a", f"from alice's full JID: {to_xml(m)}")
        check(origin_id_of(m) == f"alice:{i}", f"origin-id kept: {to_xml(m)}")
        sids.add(check_stored(server, m, "bob"))
    check(len(sids) == n, "stanza-ids are unique")
    # No live duplicate after 'done'.
    await b.expect_absent(lambda e: is_message(e) and body_of(e), wait=0.5,
                          since=b.inbox.index(done) + 1)
    await b.close()

    # Written to a session without SM and the TCP write completed: deleted
    # (spec §1.3). The next login has an empty backlog.
    b2 = await connect(server, "bob", "b")
    start, msgs, done = await b2.presence(timeout=TIMEOUT)
    check_marker(server, b2, start, "start", 0)
    check(msgs == [], f"nothing left in the queue: {[to_xml(m) for m in msgs]}")
    check_marker(server, b2, done, "done", 0)


async def c_receipts_and_markers_roundtrip(server):
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a")
    await a.presence(catchup=False)
    b = await connect(server, "bob", "b")
    await b.presence(timeout=TIMEOUT)
    alice_full = f"{bare(server, 'alice')}/a"

    # Both online: request + markable → received + displayed.
    a.send_message(bare(server, "bob"), "read me", msg_id="m1", origin_id="alice:m1",
                   extra=f"<request xmlns='{NS_RECEIPTS}'/><markable xmlns='{NS_MARKERS}'/>")
    m = await b.expect(lambda e: is_message(e) and e.get("id") == "m1", TIMEOUT)
    check(child(m, "request", NS_RECEIPTS) is not None, f"receipt request kept: {to_xml(m)}")
    check(child(m, "markable", NS_MARKERS) is not None, f"markable kept: {to_xml(m)}")
    b.send_message(alice_full, None, msg_id="r1", extra=f"<received xmlns='{NS_RECEIPTS}' id='m1'/>")
    b.send_message(alice_full, None, msg_id="d1", extra=f"<displayed xmlns='{NS_MARKERS}' id='m1'/>")
    rec = await a.expect(lambda e: is_message(e) and child(e, "received", NS_RECEIPTS) is not None,
                         TIMEOUT)
    check(child(rec, "received", NS_RECEIPTS).get("id") == "m1", to_xml(rec))
    check(rec.get("from") == f"{bare(server, 'bob')}/b", f"receipt from bob: {to_xml(rec)}")
    disp = await a.expect(lambda e: is_message(e) and child(e, "displayed", NS_MARKERS) is not None,
                          TIMEOUT)
    check(child(disp, "displayed", NS_MARKERS).get("id") == "m1", to_xml(disp))

    # The sender goes offline before the receipt is sent: the receipt and
    # the marker are content (spec §3), stored, and arrive at its next login.
    a.send_message(bare(server, "bob"), "read me later", msg_id="m2", origin_id="alice:m2",
                   extra=f"<request xmlns='{NS_RECEIPTS}'/><markable xmlns='{NS_MARKERS}'/>")
    await b.expect(lambda e: is_message(e) and e.get("id") == "m2", TIMEOUT)
    await a.close()
    b.send_message(alice_full, None, msg_id="r2", extra=f"<received xmlns='{NS_RECEIPTS}' id='m2'/>")
    b.send_message(bare(server, "alice"), None, msg_id="d2",
                   extra=f"<displayed xmlns='{NS_MARKERS}' id='m2'/>")
    await b.ping()
    check(not errors_in(b), f"no error to bob: {[to_xml(e) for e in errors_in(b)[:3]]}")

    a2 = await connect(server, "alice", "a")
    start, msgs, done = await a2.presence(timeout=TIMEOUT)
    check_marker(server, a2, start, "start", 2)
    check_marker(server, a2, done, "done", 2)
    check(len(msgs) == 2, f"two stored stanzas: {[to_xml(m) for m in msgs]}")
    received = child(msgs[0], "received", NS_RECEIPTS)
    displayed = child(msgs[1], "displayed", NS_MARKERS)
    check(received is not None and received.get("id") == "m2", f"the receipt first: {to_xml(msgs[0])}")
    check(displayed is not None and displayed.get("id") == "m2", f"then the marker: {to_xml(msgs[1])}")
    for m in msgs:
        check(m.get("from") == f"{bare(server, 'bob')}/b", f"from bob: {to_xml(m)}")
        check_stored(server, m, "alice")


async def c_sm_ack_counts_messages(server):
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a")
    a.send_presence()  # before <enable/>: not counted
    enabled = await a.enable_sm(resume=True)
    check(local(enabled) == "enabled", f"SM enabled: {to_xml(enabled)}")
    check(enabled.get("id") and enabled.get("resume") in ("true", "1"), to_xml(enabled))
    check((enabled.get("max") or "").isdigit(), f"max is the window in seconds: {to_xml(enabled)}")

    n = 25
    for i in range(n):  # to an offline bob: committed to his queue
        a.send_message(bare(server, "bob"), f"first {i}", origin_id=f"alice:f{i}")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == n, f"<a h='{n}'> after {n} messages, got h={a.last_h}")

    b = await connect(server, "bob", "b")
    start, msgs, _ = await b.presence(timeout=TIMEOUT)
    check(len(msgs) == n and count_of(start) == str(n), f"bob gets the {n}: {len(msgs)}")
    for i in range(n):  # to an online bob
        a.send_message(bare(server, "bob"), f"second {i}", origin_id=f"alice:s{i}")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == 2 * n, f"h={2 * n} after {2 * n} messages, got h={a.last_h}")
    await b.wait_until(lambda: len(b.chat_messages()) == 2 * n, TIMEOUT)
    # Asked again: the same h, nothing more.
    acks = a.acks
    a.request_ack()
    await a.wait_until(lambda: a.acks > acks, TIMEOUT)
    check(a.last_h == 2 * n, f"<r/> answered with h={2 * n}, got {a.last_h}")
    check(not a.protocol_errors, f"client saw: {a.protocol_errors}")


async def _resume_case(server, restart=None):
    """Bob (SM, resume) receives 0..4 and acks 0..2; his TCP connection
    drops; alice sends 5..9; with |restart| the server is stopped
    ('sigterm') or killed ('kill9') and started again and alice sends
    10..12 from a new session; bob resumes and must end with 0..12."""
    add_users(server, "alice", "bob")
    bob_bare = bare(server, "bob")
    b = await connect(server, "bob", "b", sm=True)
    check(b.sm and b.sm_id, f"bob has SM with resume: {to_xml(b.sm_enabled)}")
    await b.presence(timeout=TIMEOUT)
    b.auto_ack = False
    a = await connect(server, "alice", "a", sm=True)

    def send(c, i):
        c.send_message(bob_bare, str(i), origin_id=f"alice:{i}", msg_id=f"x{i}")

    for i in range(3):
        send(a, i)
    await b.wait_until(lambda: len(b.chat_messages()) == 3, TIMEOUT)
    b.send_ack()
    for i in range(3, 5):
        send(a, i)
    await b.wait_until(lambda: len(b.chat_messages()) == 5, TIMEOUT)
    state = b.sm_state()
    b.abort()

    for i in range(5, 10):
        send(a, i)
    await a.wait_acked(TIMEOUT)
    expected = 10
    if restart:
        stop = server.stop if restart == "sigterm" else server.kill
        code = await in_thread(stop)
        if restart == "sigterm":
            check(code == 0, f"clean exit on SIGTERM: {code}")
        a.abort()
        await in_thread(server.start)
        a = await connect(server, "alice", "a2", sm=True)
        for i in range(10, 13):
            send(a, i)
        await a.wait_acked(TIMEOUT)
        expected = 13

    b2 = Client(server.port, server.domain, name="bob/resumed", log=TRACE)
    reply = await b2.resume("bob", PASSWORD, **state)
    check(local(reply) == "resumed" and ns(reply) == NS_SM, f"<resumed/>: {to_xml(reply)}")
    check(reply.get("previd") == state["previd"], f"previd echoed: {to_xml(reply)}")
    if restart is None:
        # Bob's only stanza since <enable/> was his presence.
        sent = state["out_base"] + len(state["unacked"])
        check(reply.get("h") == str(sent), f"h counts bob's {sent} stanza(s): {to_xml(reply)}")
    got = b.chat_messages()
    want = {f"alice:{i}" for i in range(expected)}
    try:
        await b2.wait_until(lambda: {origin_id_of(m) for m in got + b2.chat_messages()} >= want,
                            TIMEOUT)
    except asyncio.TimeoutError:
        have = {origin_id_of(m) for m in got + b2.chat_messages()}
        # Lost, or only not resent? A fresh login shows what is still queued.
        await b2.close()
        probe = await connect(server, "bob", "probe")
        _, queued, _ = await probe.presence(timeout=TIMEOUT)
        raise AssertionError(f"missing after the resume: {sorted(want - have)}; before the drop "
                             f"{[origin_id_of(m) for m in got]}, after "
                             f"{[origin_id_of(m) for m in b2.chat_messages()]}; a fresh login "
                             f"then gets {[origin_id_of(m) for m in queued]}")
    await asyncio.sleep(0.5)  # let duplicates, if any, arrive
    received = [origin_id_of(m) for m in got + b2.chat_messages()]
    unique = set(received)
    check(unique == {f"alice:{i}" for i in range(expected)},
          f"every message, nothing else: {sorted(unique)}")
    dups = len(received) - len(unique)
    if restart is None:
        check(dups == 0, f"no duplicates after a resume with the right h: {received}")
        after = [origin_id_of(m) for m in b2.chat_messages()]
        check(after == [f"alice:{i}" for i in range(5, 10)],
              f"the gap in order after <resumed/>: {after}")
    for m in b2.chat_messages():
        check(body_of(m) == origin_id_of(m).split(":")[1], f"body intact: {to_xml(m)}")
    print(f"received {len(received)}, unique {len(unique)}, duplicates {dups}")

    # Acked after the resume: the queue is empty at the next login.
    b2.send_ack()
    await b2.ping()
    await b2.close()
    b3 = await connect(server, "bob", "b3")
    start, msgs, _ = await b3.presence(timeout=TIMEOUT)
    check(msgs == [] and count_of(start) == "0",
          f"nothing left after the ack: {[to_xml(m) for m in msgs]}")
    check(not b2.protocol_errors and not a.protocol_errors,
          f"{b2.protocol_errors} {a.protocol_errors}")


async def c_sm_resume_after_tcp_close(server):
    await _resume_case(server)


async def c_sm_resume_after_restart(server):
    await _resume_case(server, restart="sigterm")


async def c_sm_resume_after_kill9(server):
    await _resume_case(server, restart="kill9")


async def c_sm_bad_ack(server):
    add_users(server, "alice", "bob")
    # 1. h higher than what the server sent.
    a = await connect(server, "alice", "a", sm=True)
    await a.presence(timeout=TIMEOUT)
    sent = a.h_in
    a.send_raw(f"<a xmlns='{NS_SM}' h='999999'/>")
    check(await a.wait_closed(TIMEOUT), "closed after <a h='999999'/>")
    check(a.stream_error_condition() == "undefined-condition",
          f"undefined-condition: {a.stream_error is not None and to_xml(a.stream_error)}")
    high = a.stream_error.find(f"{{{NS_SM}}}handled-count-too-high")
    check(high is not None and high.get("h") == "999999" and high.get("send-count") == str(sent),
          f"handled-count-too-high h=999999 send-count={sent}: {to_xml(a.stream_error)}")

    # 2. h lower than the previous ack (catalogue H53).
    b = await connect(server, "bob", "b", sm=True)
    await b.presence(timeout=TIMEOUT)
    c = await connect(server, "alice", "c")
    for i in range(3):
        c.send_message(bare(server, "bob"), f"m{i}")
    await b.wait_until(lambda: len(b.chat_messages()) == 3, TIMEOUT)
    b.send_ack()
    b.send_raw(f"<a xmlns='{NS_SM}' h='{b.h_in - 2}'/>")
    check(await b.wait_closed(TIMEOUT), "closed after an h below the previous one")
    check(b.stream_error_condition() == "undefined-condition",
          f"undefined-condition: {b.stream_error is not None and to_xml(b.stream_error)}")

    # 3. A second <enable/>.
    d = await connect(server, "alice", "d", sm=True)
    d.send_raw(f"<enable xmlns='{NS_SM}' resume='true'/>")
    check(await d.wait_closed(TIMEOUT), "closed after a second <enable/>")
    check(d.stream_error is not None, f"a stream error for the second <enable/>: {d.inbox[-3:]}")
    print(f"second <enable/>: stream error {d.stream_error_condition()}")

    # 4. <enable/> before bind: <failed/> (XEP-0198 §3, catalogue H52).
    e = Client(server.port, server.domain, name="alice/early", log=TRACE)
    await e.open()
    check(await e.authenticate("alice", PASSWORD) is None, "auth")
    e.send_raw(f"<enable xmlns='{NS_SM}'/>")
    reply = await e.next_element(TIMEOUT)
    check(ns(reply) == NS_SM and local(reply) == "failed", f"<failed/> before bind: {to_xml(reply)}")
    check(child(reply, "unexpected-request", NS_STANZAS) is not None,
          f"unexpected-request: {to_xml(reply)}")

    # 5. <resume/> before authentication, even with a live previd.
    live = await connect(server, "bob", "live", sm=True)
    f = Client(server.port, server.domain, name="anon", log=TRACE)
    await f.open()
    f.send_raw(f"<resume xmlns='{NS_SM}' previd='{live.sm_id}' h='0'/>")
    try:
        reply = await f.next_element(TIMEOUT)
    except Exception as exc:  # a stream error and close is also a refusal
        reply = None
        check(f.stream_error is not None, f"refused before auth: {exc}")
    if reply is not None:
        check(local(reply) != "resumed", f"never resumed before auth: {to_xml(reply)}")
        refused = (local(reply) == "failed" or
                   (is_tag(reply, "error", "http://etherx.jabber.org/streams")))
        check(refused, f"<failed/> or a stream error before auth: {to_xml(reply)}")
        print(f"<resume/> before auth: {to_xml(reply)}")
    await live.ping()  # the live session is untouched


async def c_sm_resume_abuse(server):
    """Catalogue H54: previd bound to the account, garbage previd, resume
    while the old stream is still open."""
    add_users(server, "alice", "bob")
    b = await connect(server, "bob", "b", sm=True)
    await b.presence(timeout=TIMEOUT)
    state = b.sm_state()
    b.abort()
    # Another account with bob's previd.
    m = Client(server.port, server.domain, name="alice/thief", log=TRACE)
    reply = await m.resume("alice", PASSWORD, state["previd"], 0)
    check(local(reply) == "failed" and child(reply, "item-not-found", NS_STANZAS) is not None,
          f"<failed><item-not-found/> for another account: {to_xml(reply)}")
    await m.bind("x")  # the stream stays usable after <failed/>
    # Garbage previd.
    g = Client(server.port, server.domain, name="bob/garbage", log=TRACE)
    reply = await g.resume("bob", PASSWORD, "Z" * 5000, 0)
    check(local(reply) == "failed" and child(reply, "item-not-found", NS_STANZAS) is not None,
          f"<failed><item-not-found/> for a garbage previd: {to_xml(reply)}")
    await g.bind("g")
    # Bob's own state survived both attempts.
    b2 = Client(server.port, server.domain, name="bob/resumed", log=TRACE)
    reply = await b2.resume("bob", PASSWORD, **state)
    check(local(reply) == "resumed", f"bob still resumes: {to_xml(reply)}")
    # Resume while that stream is open: the old one gets conflict.
    b3 = Client(server.port, server.domain, name="bob/third", log=TRACE)
    reply = await b3.resume("bob", PASSWORD, **b2.sm_state())
    check(local(reply) == "resumed", f"resume over a live stream: {to_xml(reply)}")
    check(await b2.wait_closed(TIMEOUT) and b2.stream_error_condition() == "conflict",
          f"old stream closed with conflict: {b2.stream_error_condition()}")
    await b3.ping()


async def c_sm_unacked_cap(server):
    add_users(server, "alice", "bob")
    b = await connect(server, "bob", "b", sm=True, resume=False)
    b.auto_ack = False  # reads everything, never acks
    await b.presence(timeout=TIMEOUT)
    a = await connect(server, "alice", "a", sm=True)
    n = 600
    for i in range(n):
        a.send_message(bare(server, "bob"), str(i), origin_id=f"alice:{i}")
        if i % 50 == 0:
            await a.flush()
    check(await b.wait_closed(30), f"bob's stream closed after {len(b.chat_messages())} unacked")
    check(b.stream_error_condition() == "policy-violation",
          f"policy-violation: {b.stream_error is not None and to_xml(b.stream_error)}")
    first = len(b.chat_messages())
    check(490 <= first <= 500, f"closed at the cap of 500 unacked stanzas: bob got {first}")
    await a.wait_acked(30)
    check(a.last_h == n, f"all {n} accepted: h={a.last_h}")
    b2 = await connect(server, "bob", "b2")
    start, msgs, done = await b2.presence(timeout=30)
    bodies = [body_of(m) for m in msgs]
    missing = sorted(set(map(str, range(n))) - set(bodies), key=int)
    check(bodies == [str(i) for i in range(n)],
          f"all {n} at the next login, in order: got {len(bodies)}, missing {missing[:20]}, "
          f"first {bodies[:5]}; count={count_of(start)}; in the first session: {first}")
    check(count_of(start) == str(n) and count_of(done) == str(n), to_xml(start))
    print(f"first session got {first} before policy-violation")


async def c_k68_crash_during_offline_delivery(server):
    """Catalogue K68 with the fault hook (spec §6): the server dies by
    SIGKILL right after writing bob's backlog, before his ack; after the
    restart the whole backlog is still stored and delivered again."""
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    n = 50
    for i in range(n):
        a.send_message(bare(server, "bob"), str(i), origin_id=f"alice:{i}")
    await a.wait_acked(TIMEOUT)
    a.abort()
    check(await in_thread(server.stop) == 0, "clean stop")
    await in_thread(server.start, {"XMPPD_CRASH_AT": "after-offline-write"})
    b = await connect(server, "bob", "b", sm=True)
    b.auto_ack = False
    b.send_presence()
    check(await b.wait_closed(TIMEOUT), "the server died after writing the backlog")
    for _ in range(50):
        if server.proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    check(server.proc.poll() == -9, f"killed by its fault hook: {server.proc.poll()}")
    first = len(b.chat_messages())
    # Spec §6: the point is "backlog written to the socket": bob can read it.
    check(first > 0, "after-offline-write fired before any of the backlog reached the socket "
                     f"(bob read {first} of {n})")
    server.kill()
    await in_thread(server.start)
    b2 = await connect(server, "bob", "b", sm=True)
    b2.start_periodic_ack(0.1)
    start, msgs, _ = await b2.presence(timeout=TIMEOUT)
    check([body_of(m) for m in msgs] == [str(i) for i in range(n)],
          f"all {n} again after the crash (bob had read {first}): got {len(msgs)}")
    check(count_of(start) == str(n), to_xml(start))
    print(f"bob read {first} of {n} before the crash; all {n} redelivered")


async def c_offline_backlog_over_write_queue(server):
    """A backlog larger than the per-connection write-queue cap (here
    64 KiB, run with write_queue_bytes=65536) reaches a client that reads
    as fast as it can, without SM: the backlog must be paced by the
    socket, not queued at once and the connection dropped, or the account
    could never log in again."""
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    n = 200
    filler = "x" * 1000
    for i in range(n):
        a.send_message(bare(server, "bob"), f"{i} {filler}", origin_id=f"alice:{i}")
        if i % 20 == 0:
            await a.flush()
    await a.wait_acked(30)
    b = await connect(server, "bob", "b")
    try:
        start, msgs, _ = await b.presence(timeout=30)
    except Exception as e:
        raise AssertionError(f"backlog of {n} x 1 KB: {e}; bob got {len(b.chat_messages())} "
                             f"before the stream ended ({b.stream_error_condition() or 'no error'})")
    check([body_of(m).split()[0] for m in msgs] == [str(i) for i in range(n)],
          f"all {n} in order: got {len(msgs)}")


async def c_sm_large_backlog(server):
    """A backlog larger than the unacked cap (spec §5: 500) reaches a client
    that has SM and acks what it reads: the server must pace the backlog
    by acks, not close the stream, or the account could never log in with
    SM again."""
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    n = 700
    for i in range(n):
        a.send_message(bare(server, "bob"), str(i), origin_id=f"alice:{i}")
        if i % 50 == 0:
            await a.flush()
    await a.wait_acked(30)
    b = await connect(server, "bob", "b", sm=True)
    b.start_periodic_ack(0.05)  # besides answering every <r/>
    try:
        start, msgs, done = await b.presence(timeout=30)
    except Exception as e:
        raise AssertionError(f"backlog of {n} with SM: {e}; bob got {len(b.chat_messages())}, "
                             f"stream error {b.stream_error_condition()}")
    check([body_of(m) for m in msgs] == [str(i) for i in range(n)],
          f"all {n} in order: got {len(msgs)}")
    check(count_of(start) == str(n), to_xml(start))


async def c_offline_quota(server):
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    for i in range(6):
        a.send_message(bare(server, "bob"), f"q {i}", msg_id=f"q{i}", origin_id=f"alice:q{i}")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == 6, f"the refused one counts as handled too: h={a.last_h}")
    err = await a.expect(lambda e: is_message(e) and e.get("type") == "error", TIMEOUT)
    check(err.get("id") == "q5", f"the 6th is refused: {to_xml(err)}")
    check(error_condition(err) == ("resource-constraint", "wait"),
          f"<error type='wait'><resource-constraint/>: {to_xml(err)}")
    check(err.get("from") in (bare(server, "bob"), server.domain), f"from bob: {to_xml(err)}")
    await a.ping()
    check(len(errors_in(a)) == 1, f"only one error: {[to_xml(e) for e in errors_in(a)[:3]]}")
    b = await connect(server, "bob", "b")
    start, msgs, _ = await b.presence(timeout=TIMEOUT)
    check([body_of(m) for m in msgs] == [f"q {i}" for i in range(5)],
          f"the first 5 delivered: {[body_of(m) for m in msgs]}")
    check(count_of(start) == "5", to_xml(start))


async def c_dedupe_resend(server):
    add_users(server, "alice", "bob", "carol")
    bob_bare = bare(server, "bob")
    a = await connect(server, "alice", "a", sm=True)
    # Offline: the same origin-id twice.
    a.send_message(bob_bare, "once", origin_id="alice:dup1", msg_id="d1a")
    a.send_message(bob_bare, "once", origin_id="alice:dup1", msg_id="d1b")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == 2, f"both acked: h={a.last_h}")
    # Another sender may use the same origin-id: the key is (sender, origin-id).
    c = await connect(server, "carol", "c")
    c.send_message(bob_bare, "carol's", origin_id="alice:dup1", msg_id="c1")
    await c.ping()
    b = await connect(server, "bob", "b")
    start, msgs, _ = await b.presence(timeout=TIMEOUT)
    from_alice = [m for m in msgs if m.get("from", "").startswith(bare(server, "alice"))]
    from_carol = [m for m in msgs if m.get("from", "").startswith(bare(server, "carol"))]
    check(len(from_alice) == 1 and origin_id_of(from_alice[0]) == "alice:dup1",
          f"alice's resend delivered once: {[to_xml(m) for m in msgs]}")
    check(len(from_carol) == 1, f"carol's message with the same origin-id is delivered: "
                                f"{[to_xml(m) for m in msgs]}")
    # Online.
    since = len(b.inbox)
    a.send_message(bob_bare, "live", origin_id="alice:dup2", msg_id="d2a")
    a.send_message(bob_bare, "live", origin_id="alice:dup2", msg_id="d2b")
    a.send_message(bob_bare, "after", origin_id="alice:after", msg_id="d3")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == 5, f"every send acked: h={a.last_h}")
    await b.expect(lambda e: origin_id_of(e) == "alice:after", TIMEOUT, since=since)
    await asyncio.sleep(0.3)
    live = [origin_id_of(m) for m in b.chat_messages(since)]
    check(live == ["alice:dup2", "alice:after"], f"the live resend delivered once: {live}")


def _carbon(el, kind):
    """The forwarded message inside a <sent/>/<received/> carbon, or None."""
    if not is_message(el):
        return None
    wrap = child(el, kind, NS_CARBONS)
    if wrap is None:
        return None
    fwd = child(wrap, "forwarded", NS_FORWARD)
    return None if fwd is None else child(fwd, "message", NS_CLIENT)


async def c_carbons_copy(server):
    add_users(server, "alice", "bob")
    alice_bare = bare(server, "alice")
    a1 = await connect(server, "alice", "a1")
    await a1.presence(catchup=False)
    a2 = await connect(server, "alice", "a2")
    reply = await a2.iq(f"<enable xmlns='{NS_CARBONS}'/>", itype="set")
    check(reply.get("type") == "result", f"carbons enabled: {to_xml(reply)}")
    await a2.presence(catchup=False)
    b = await connect(server, "bob", "b")
    await b.presence(catchup=False)
    await asyncio.sleep(0.3)

    a1.send_message(f"{bare(server, 'bob')}/b", "from a1", msg_id="s1")
    sent = await a2.expect(lambda e: _carbon(e, "sent") is not None, TIMEOUT)
    inner = _carbon(sent, "sent")
    check(sent.get("from") == alice_bare and sent.get("to") == a2.jid,
          f"carbon from the bare JID to a2: {to_xml(sent)}")
    check(body_of(inner) == "from a1" and inner.get("from") == f"{alice_bare}/a1",
          f"the sent message inside: {to_xml(sent)}")
    await b.expect(lambda e: is_message(e) and body_of(e) == "from a1", TIMEOUT)

    b.send_message(f"{alice_bare}/a1", "to a1", msg_id="r1")
    received = await a2.expect(lambda e: _carbon(e, "received") is not None, TIMEOUT)
    inner = _carbon(received, "received")
    check(received.get("from") == alice_bare, f"carbon from the bare JID: {to_xml(received)}")
    check(body_of(inner) == "to a1" and inner.get("from") == f"{bare(server, 'bob')}/b",
          f"the received message inside: {to_xml(received)}")
    await a1.expect(lambda e: is_message(e) and body_of(e) == "to a1", TIMEOUT)
    check(not [e for e in a1.inbox if _carbon(e, "sent") is not None or
                _carbon(e, "received") is not None],
          "a1 has carbons off and gets no copies")

    # Catch-up markers are not copied (spec §4): a third resource logs in.
    a3 = await connect(server, "alice", "a3")
    await a3.presence(catchup=False)
    await asyncio.sleep(0.5)
    for e in a2.inbox:
        for kind in ("sent", "received"):
            inner = _carbon(e, kind)
            check(inner is None or child(inner, "catchup", NS_CATCHUP) is None,
                  f"a catch-up marker was copied: {to_xml(e)}")


async def c_slixmpp_offline(server):
    import slixmpp_test as sx  # Debian's python3-slixmpp
    add_users(server, "alice", "bob")

    async def online(user):
        c = sx.Client(f"{user}@{server.domain}/res-{user}", PASSWORD)
        c.register_plugin("xep_0203")
        c.register_plugin("xep_0359")
        c.connect(address=("127.0.0.1", server.port))
        await asyncio.wait_for(c.started.wait(), TIMEOUT)
        return c

    a = await online("alice")
    bodies = [f"while you were out {i} <&>" for i in range(5)]
    for body in bodies:
        a.send_message(mto=bare(server, "bob"), mbody=body, mtype="chat")
    await a["xep_0199"].ping(jid=server.domain, timeout=TIMEOUT)
    b = await online("bob")
    got = []
    while len(got) < len(bodies):
        try:
            m = await asyncio.wait_for(b.messages.get(), TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"bob got {len(got)} of the {len(bodies)} offline messages "
                                 f"within {TIMEOUT}s") from None
        if m["body"]:
            got.append(m)
    check([m["body"] for m in got] == bodies, f"in order: {[m['body'] for m in got]}")
    for m in got:
        check(str(m["from"]) == f"alice@{server.domain}/res-alice", f"from: {m['from']}")
        check(m["delay"]["stamp"] is not None, f"delay stamp: {m}")
        check(m["stanza_id"]["by"] == f"bob@{server.domain}" and m["stanza_id"]["id"],
              f"stanza-id: {m}")
    await asyncio.sleep(0.5)
    extra = []
    while not b.messages.empty():
        m = b.messages.get_nowait()
        if m["body"]:
            extra.append(m["body"])
    check(not extra, f"no duplicates: {extra}")
    a.disconnect()
    b.disconnect()


async def c_csi_holds_until_urgent(server):
    """XEP-0352 (spec §7): while bob/b1 is inactive, presence updates from
    his other resource and a chat-state-only message wait (only the latest
    presence is kept); the next message with a body brings them, in order,
    before itself; <active/> flushes too."""
    add_users(server, "alice", "bob")
    b1 = await connect(server, "bob", "b1")
    await b1.presence(timeout=TIMEOUT)
    b2 = await connect(server, "bob", "b2")
    await b2.presence(timeout=TIMEOUT)
    a = await connect(server, "alice", "a")
    await b1.ping()
    b1.send_raw("<inactive xmlns='urn:xmpp:csi:0'/>")
    await b1.ping()
    mark = len(b1.inbox)
    b2.send_presence(extra="<status>one</status>")
    b2.send_presence(extra="<status>two</status>")
    a.send_message(f"bob@{server.domain}/b1", None, mtype="chat",
                   extra="<composing xmlns='http://jabber.org/protocol/chatstates'/>")
    await b2.ping()
    await a.ping()
    await b1.expect_absent(lambda e: e.tag.endswith("presence") or e.tag.endswith("message"),
                           wait=1.0, since=mark)
    a.send_message(f"bob@{server.domain}/b1", "wake up", origin_id="alice:csi1")
    await b1.wait_until(lambda: len(b1.chat_messages(mark)) == 1, TIMEOUT)
    got = [e for e in b1.inbox[mark:] if e.tag.endswith("presence") or e.tag.endswith("message")]
    kinds = []
    for e in got:
        if e.tag.endswith("presence"):
            kinds.append("presence:" + (text_of(e, "status") or ""))
        elif body_of(e):
            kinds.append("body")
        else:
            kinds.append("chatstate")
    check(kinds == ["presence:two", "chatstate", "body"],
          f"held stanzas (latest presence only) before the urgent one: {kinds}")
    # <active/> flushes what is held.
    b1.send_raw("<inactive xmlns='urn:xmpp:csi:0'/>")
    await b1.ping()
    mark = len(b1.inbox)
    b2.send_presence(extra="<status>three</status>")
    await b2.ping()
    await b1.expect_absent(lambda e: e.tag.endswith("presence"), wait=0.5, since=mark)
    b1.send_raw("<active xmlns='urn:xmpp:csi:0'/>")
    await b1.expect(lambda e: e.tag.endswith("presence") and text_of(e, "status") == "three",
                    TIMEOUT, since=mark)


async def c_push_when_unacked(server):
    """XEP-0357 for a half-dead link (spec §6): bob's stream keeps a queued
    message unacknowledged for push_unacked_s (1 s here); his app server
    (a plain client here) gets one notification."""
    add_users(server, "alice", "bob", "push")
    app = await connect(server, "push", "app")
    b = await connect(server, "bob", "phone", sm=True)
    b.auto_ack = False
    reply = await b.iq(f"<enable xmlns='urn:xmpp:push:0' jid='push@{server.domain}/app' "
                       f"node='n1'/>", itype="set")
    check(reply.get("type") == "result", f"push enabled: {to_xml(reply)}")
    await b.presence(timeout=TIMEOUT)
    a = await connect(server, "alice", "a")
    a.send_message(bare(server, "bob"), "are you there?", origin_id="alice:u1")
    await b.wait_until(lambda: len(b.chat_messages()) == 1, TIMEOUT)
    pub = await app.expect(lambda e: e.tag.endswith("iq") and e.get("type") == "set", 10)
    xml = to_xml(pub)
    check("urn:xmpp:push:summary" in xml and "node=\"n1\"" in xml.replace("'", '"'),
          f"a summary notification for node n1: {xml}")
    check(pub.get("from") == bare(server, "bob"), f"on behalf of bob: {xml}")
    # Acknowledged: no further notification for it.
    b.send_ack()
    mark = len(app.inbox)
    await app.expect_absent(lambda e: e.tag.endswith("iq") and e.get("type") == "set",
                            wait=2.5, since=mark)


async def c_k70_storage_full(server):
    """Catalogue K70: the LMDB map cannot grow past 2 MiB. Messages to an
    offline user eventually get resource-constraint (type wait), which the
    sender's h still counts; online chat keeps working (delivered live);
    what was stored before is intact and delivered at login."""
    add_users(server, "alice", "bob", "carol")
    c = await connect(server, "carol", "c")
    await c.presence(timeout=TIMEOUT)
    a = await connect(server, "alice", "a", sm=True)
    big = "y" * 60000
    sent = 0
    errors = []
    for i in range(60):
        mark = len(a.inbox)
        a.send_message(bare(server, "bob"), f"{i} {big}", origin_id=f"alice:big{i}",
                       msg_id=f"big{i}")
        await a.wait_acked(TIMEOUT)
        sent += 1
        errors = [e for e in a.messages(mark) if e.get("type") == "error"]
        if errors:
            break
    check(errors, f"no resource-constraint after {sent} x 60 KB to an offline user")
    cond = error_condition(errors[0])
    check(cond == ("resource-constraint", "wait"), f"resource-constraint/wait: {to_xml(errors[0])}")
    stored = sent - 1
    check(stored > 0, "some messages were stored before the map filled")
    # Online routing still works.
    a.send_message(bare(server, "carol"), "still here", origin_id="alice:online1")
    await c.wait_until(lambda: any(body_of(m) == "still here" for m in c.chat_messages()), TIMEOUT)
    await a.wait_acked(TIMEOUT)
    # Everything stored before is intact.
    b = await connect(server, "bob", "b", sm=True)
    b.start_periodic_ack(0.1)
    start, msgs, _ = await b.presence(timeout=30)
    check([body_of(m).split()[0] for m in msgs] == [str(i) for i in range(stored)],
          f"the {stored} stored messages, in order: got {len(msgs)}")


async def c_k71_fsync_eio(server):
    """Catalogue K71: fdatasync starts failing with EIO (an LD_PRELOAD
    fault injector armed by a trigger file). The server must not
    acknowledge the stanza whose commit failed and must stop (fail-stop,
    non-zero exit); after a restart on healthy storage everything it
    acknowledged before is intact."""
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    for i in range(3):
        a.send_message(bare(server, "bob"), str(i), origin_id=f"alice:e{i}")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == 3, f"three acked before the fault: h={a.last_h}")
    open(FSYNC_TRIGGER, "w").close()
    a.send_message(bare(server, "bob"), "3", origin_id="alice:e3")
    a.request_ack()
    for _ in range(100):
        if server.proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    code = server.proc.poll()
    check(code is not None and code != 0, f"the server stopped with a non-zero code: {code}")
    await asyncio.sleep(0.2)
    check(a.last_h == 3, f"nothing acknowledged after the failed commit: h={a.last_h}")
    server.kill()
    os.unlink(FSYNC_TRIGGER)
    await in_thread(server.start)
    b = await connect(server, "bob", "b")
    start, msgs, _ = await b.presence(timeout=TIMEOUT)
    bodies = [body_of(m) for m in msgs]
    check(bodies[:3] == ["0", "1", "2"] and len(bodies) <= 4,
          f"the acknowledged three intact after the restart: {bodies}")
    check("EIO" in server.read_log() or "commit failed" in server.read_log(),
          "the log says why the server stopped")


async def c_sm_resume_after_window(server):
    """Catalogue H54 / spec §5 with a 1 s window (sm_resume_s=1): bob's
    connection drops while a message is in flight to him and another
    arrives while he hibernates; after the window, <resume/> gets
    item-not-found, and a fresh login receives both from the queue
    (what the hibernated session held went back to offline storage)."""
    add_users(server, "alice", "bob")
    b = await connect(server, "bob", "b", sm=True)
    await b.presence(timeout=TIMEOUT)
    b.auto_ack = False
    a = await connect(server, "alice", "a", sm=True)
    a.send_message(bare(server, "bob"), "0", origin_id="alice:w0")
    await b.wait_until(lambda: len(b.chat_messages()) == 1, TIMEOUT)
    state = b.sm_state()
    b.abort()
    await asyncio.sleep(0.3)
    a.send_message(bare(server, "bob"), "1", origin_id="alice:w1")
    await a.wait_acked(TIMEOUT)
    await asyncio.sleep(2.5)
    late = Client(server.port, server.domain, name="bob/late", log=TRACE)
    reply = await late.resume("bob", PASSWORD, **state)
    check(local(reply) == "failed" and child(reply, "item-not-found", NS_STANZAS) is not None,
          f"<failed><item-not-found/> after the window: {to_xml(reply)}")
    await late.bind("late")
    late.start_reader()
    start, msgs, _ = await late.presence(timeout=TIMEOUT)
    check([body_of(m) for m in msgs] == ["0", "1"],
          f"both messages from the queue after the window: {[body_of(m) for m in msgs]}")


async def subscribe_both(server, x, y):
    """A mutual presence subscription (RFC 6121 §3.1) between the online
    clients |x| and |y|: each sees the other's presence."""
    for a, b in ((x, y), (y, x)):
        a_bare, b_bare = a.jid.split("/")[0], b.jid.split("/")[0]
        mark = len(b.inbox)
        a.send_stanza(f"<presence to='{b_bare}' type='subscribe'/>")
        await b.expect(lambda e: e.tag.endswith("presence") and e.get("type") == "subscribe"
                       and e.get("from") == a_bare, TIMEOUT, since=mark)
        b.send_stanza(f"<presence to='{a_bare}' type='subscribed'/>")
        await a.expect(lambda e: e.tag.endswith("presence") and e.get("type") == "subscribed"
                       and e.get("from") == b_bare, TIMEOUT)
    await x.ping()
    await y.ping()


def presence_from(c, jid, ptype=None, since=0):
    return [e for e in c.inbox[since:] if e.tag.endswith("presence") and e.get("from") == jid
            and e.get("type") == ptype]


async def c_a10_clean_close_not_resumable(server):
    """Catalogue A10 with XEP-0198: alice has resumable SM. When she ends
    her stream cleanly (</stream:stream>) the session ends: bob, her
    contact, sees her unavailable at once, <resume/> of her previd gets
    item-not-found, and a message sent to her afterwards waits in the
    offline queue. An unclean end (TCP gone) is the other branch: she
    hibernates, bob sees no unavailable, and she resumes."""
    add_users(server, "alice", "bob")
    b = await connect(server, "bob", "b")
    await b.presence(timeout=TIMEOUT)
    a0 = await connect(server, "alice", "setup")
    await a0.presence(timeout=TIMEOUT)
    await subscribe_both(server, a0, b)
    await a0.close()

    alice_full = f"{bare(server, 'alice')}/a"
    mark = len(b.inbox)
    a = await connect(server, "alice", "a", sm=True)
    check(a.sm_id, f"resumable SM: {to_xml(a.sm_enabled)}")
    await a.presence(timeout=TIMEOUT)
    await b.wait_until(lambda: presence_from(b, alice_full, None, mark), TIMEOUT)
    state = a.sm_state()
    mark = len(b.inbox)
    await a.close()
    check(a.stream_end and a.stream_error is None,
          f"the server answered </stream:stream> with its own, no error: "
          f"{a.stream_error is not None and to_xml(a.stream_error)}")
    await b.wait_until(lambda: presence_from(b, alice_full, "unavailable", mark), TIMEOUT)
    late = Client(server.port, server.domain, name="alice/resume", log=TRACE)
    reply = await late.resume("alice", PASSWORD, **state)
    check(local(reply) == "failed" and child(reply, "item-not-found", NS_STANZAS) is not None,
          f"a cleanly closed stream is not resumable: {to_xml(reply)}")
    b.send_message(bare(server, "alice"), "after the close", origin_id="bob:a10")
    await b.ping()
    check(not errors_in(b), f"no error to bob: {[to_xml(e) for e in errors_in(b)]}")
    await late.bind("later")
    late.start_reader()
    _, msgs, _ = await late.presence(timeout=TIMEOUT)
    check([body_of(m) for m in msgs] == ["after the close"],
          f"the message waited in the offline queue: {[to_xml(m) for m in msgs]}")
    await late.close()

    # The unclean branch: the TCP connection just goes away.
    a2 = await connect(server, "alice", "a", sm=True)
    await a2.presence(timeout=TIMEOUT)
    await a2.ping()
    state = a2.sm_state()
    mark = len(b.inbox)
    a2.abort()
    await b.expect_absent(lambda e: e.tag.endswith("presence") and e.get("from") == alice_full
                          and e.get("type") == "unavailable", wait=1.5, since=mark)
    back = Client(server.port, server.domain, name="alice/back", log=TRACE)
    reply = await back.resume("alice", PASSWORD, **state)
    check(local(reply) == "resumed", f"an unclean end hibernates and resumes: {to_xml(reply)}")
    await back.ping()
    mark = len(b.inbox)
    await back.close()
    await b.wait_until(lambda: presence_from(b, alice_full, "unavailable", mark), TIMEOUT)


def auto_pong(c):
    """|c| answers the server's XEP-0199 pings, as a live client does (the
    I62 case pings after 1 s of silence)."""
    def on_stanza(e):
        if (e.tag.endswith("}iq") and e.get("type") == "get"
                and child(e, "ping", "urn:xmpp:ping") is not None):
            c.send_stanza(f"<iq type='result' id={q(e.get('id') or '')} to={q(c.domain)}/>")
    c.on_stanza = on_stanza
    return c


async def c_i62_idle_sm_hibernates(server):
    """Catalogue I62 with XEP-0198 (idle_ping_s=1, idle_close_s=1,
    sm_resume_s=6): bob has resumable SM and stops answering. The server
    pings him, gets no answer and drops the TCP connection *without* a
    stream error: the session hibernates. Messages sent to him meanwhile
    are acked to the sender and arrive when he resumes, once each. A
    second time he stays away past the window: <resume/> gets
    item-not-found and the messages arrive at his next login (nothing
    lost, nothing twice)."""
    add_users(server, "alice", "bob")
    a = auto_pong(await connect(server, "alice", "a", sm=True))
    for round_, resume_in_time in ((1, True), (2, False)):
        b = await connect(server, "bob", f"b{round_}", sm=True)
        check(b.sm_id, f"resumable SM: {to_xml(b.sm_enabled)}")
        await b.presence(timeout=TIMEOUT)
        b.auto_ack = False  # silent: no pong, no <a/>
        ping = await b.expect(lambda e: e.tag.endswith("iq") and e.get("type") == "get"
                              and child(e, "ping", "urn:xmpp:ping") is not None, 10)
        check(ping.get("from") == server.domain, f"the server pings: {to_xml(ping)}")
        check(await b.wait_closed(10), "the silent peer's connection is dropped")
        check(b.stream_error is None,
              f"with resumable SM no stream error, the session hibernates: "
              f"{b.stream_error is not None and to_xml(b.stream_error)}")
        state = b.sm_state()
        bodies = [f"r{round_} {i}" for i in range(3)]
        for i, body in enumerate(bodies):
            a.send_message(bare(server, "bob"), body, origin_id=f"alice:i62:{round_}:{i}")
        await a.wait_acked(TIMEOUT)
        check(not errors_in(a), f"no error to alice: {[to_xml(e) for e in errors_in(a)]}")
        check(not b.chat_messages(), "nothing reached the dropped connection")
        if resume_in_time:
            b2 = auto_pong(Client(server.port, server.domain, name="bob/resumed", log=TRACE))
            reply = await b2.resume("bob", PASSWORD, **state)
            check(local(reply) == "resumed", f"resumed within the window: {to_xml(reply)}")
            await b2.wait_until(lambda: len(b2.chat_messages()) >= len(bodies), TIMEOUT)
            await asyncio.sleep(0.5)  # duplicates, if any
            got = [body_of(m) for m in b2.chat_messages()]
            check(got == bodies, f"every message once, in order, on resumption: {got}")
            await b2.close()  # acks all: nothing is left queued
        else:
            await asyncio.sleep(7)  # past sm_resume_s=6 after the drop
            late = auto_pong(Client(server.port, server.domain, name="bob/late", log=TRACE))
            reply = await late.resume("bob", PASSWORD, **state)
            check(local(reply) == "failed" and child(reply, "item-not-found", NS_STANZAS) is not None,
                  f"after the window: {to_xml(reply)}")
            await late.bind("late")
            late.start_reader()
            _, msgs, _ = await late.presence(timeout=TIMEOUT)
            got = [body_of(m) for m in msgs]
            check(got == bodies, f"the messages wait for the next login, once each: {got}")
            await late.close()


async def c_f46_kicked_session_unacked_not_lost(server):
    """Catalogue F46 with XEP-0198: bob's session bound as 'desk' has read
    six messages and acked two when a new session binds 'desk' (kick-old:
    the old stream gets conflict). The four unacked ones are not lost:
    the new session gets them in its backlog, and the two acked ones are
    not sent again. The same when the old session is hibernating (its TCP
    connection gone) rather than live."""
    add_users(server, "alice", "bob")
    a = await connect(server, "alice", "a", sm=True)
    desk = f"{bare(server, 'bob')}/desk"
    for variant in ("live", "hibernating"):
        old = await connect(server, "bob", "desk", sm=True, name=f"bob/desk-{variant}")
        await old.presence(timeout=TIMEOUT)
        old.auto_ack = False
        h_at = {}  # body -> the stream's h once that message was handled

        def note(e, c=old, h_at=h_at):
            if is_message(e) and body_of(e):
                h_at[body_of(e)] = c.h_in
        old.on_stanza = note
        bodies = [f"{variant} {i}" for i in range(6)]
        for i, body in enumerate(bodies):
            a.send_message(desk, body, origin_id=f"alice:f46:{variant}:{i}")
        await a.wait_acked(TIMEOUT)
        await old.wait_until(lambda: len(old.chat_messages()) == len(bodies), TIMEOUT)
        # Acks exactly the first two messages (and what came before them).
        old.send_raw(f"<a xmlns='{NS_SM}' h='{h_at[bodies[1]]}'/>")
        await asyncio.sleep(0.3)
        if variant == "hibernating":
            old.abort()
            await asyncio.sleep(0.3)
        new = await connect(server, "bob", "desk", sm=True, name=f"bob/desk-new-{variant}")
        check(new.jid == desk, f"bound {new.jid}")
        if variant == "live":
            check(await old.wait_closed(TIMEOUT) and old.stream_error_condition() == "conflict",
                  f"the old stream gets conflict: {old.stream_error_condition()}")
        new.start_periodic_ack(0.1)
        _, msgs, _ = await new.presence(timeout=TIMEOUT)
        got = [body_of(m) for m in msgs]
        check(got == bodies[2:], f"the unacked four reach the new session, the acked two do not: "
                                 f"{got}")
        await new.close()


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}
# Cases that push hundreds of stanzas lift the 10 KB/s read limit.
FSYNC_TRIGGER = os.path.join(tempfile.gettempdir(), f"xd-fail-fsync-{os.getpid()}")

EXTRA_ARGS = {"offline_quota": ["--set", "offline_quota=5"],
              "i62_idle_sm_hibernates": ["--set", "idle_ping_s=1", "--set", "idle_close_s=1",
                                         "--set", "sm_resume_s=6"],
              "sm_resume_after_window": ["--set", "sm_resume_s=1"],
              "push_when_unacked": ["--set", "push_unacked_s=1"],
              "k70_storage_full": ["--set", "lmdb_map_mb=2", "--set", "lmdb_max_map_mb=2",
                                   "--set", "read_rate_bytes=0"],
              "sm_unacked_cap": ["--set", "read_rate_bytes=0"],
              "sm_large_backlog": ["--set", "read_rate_bytes=0"],
              "offline_backlog_over_write_queue": ["--set", "read_rate_bytes=0",
                                                   "--set", "write_queue_bytes=65536"]}


def main():
    xmppd, name = sys.argv[1], sys.argv[2]
    if name not in CASES:
        sys.exit(f"unknown case {name}; cases: {' '.join(CASES)}")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    async def run(server):
        try:
            await asyncio.wait_for(CASES[name](server), 100)
        finally:
            await Client.close_all()

    env = None
    if name == "k71_fsync_eio":
        build = os.path.dirname(os.path.dirname(os.path.abspath(xmppd)))
        lib = os.path.join(build, "tests", "tools", "libxd_fail_fsync.so")
        check(os.path.exists(lib), f"the fault injector was built: {lib}")
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = {"LD_PRELOAD": lib, "XD_FAIL_FSYNC_TRIGGER": FSYNC_TRIGGER,
               "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    with Server(xmppd, extra=EXTRA_ARGS.get(name, []), env=env) as server:
        loop.run_until_complete(run(server))
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
