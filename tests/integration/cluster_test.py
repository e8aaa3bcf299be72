#!/usr/bin/python3
"""Scale-out on NATS JetStream (issue 9) against real processes: a 3-node
nats-server cluster (nats_cluster.py) and three xmppd nodes n1..n3 serving
the same domain, each with its own data directory. Users register in-band
on any node; the cases check that accounts, messages, receipts, presence,
IQs and offline backlogs cross nodes with the single-node semantics of
spec/delivery.md, and what survives a kill -9 of an xmppd node or of one
nats-server.

Usage: cluster_test.py XMPPD CASE   (run with /usr/bin/python3)
CLUSTER_TRACE=1 prints every client's XML; XD_KEEP=1 keeps the logs and
data directories of a failed run; CLUSTER_NATS_VICTIM (leader, busiest or
an index) chooses the nats-server that nats_server_killed kills."""
import asyncio
import collections
import glob
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server  # noqa: E402
from nats_cluster import NatsCluster  # noqa: E402
from xmpp_client import (NS_CLIENT, NS_DELAY, NS_PING, NS_RECEIPTS, Client,  # noqa: E402
                         StreamClosed, XmppError, catchup_of, child, is_message, is_tag, local,
                         origin_id_of, q, stanza_ids_of, text_of, to_xml)

PASSWORD = "secret-pw"
DOMAIN = "localhost"
TIMEOUT = 15
HEARTBEAT_MS = 250
DEAD_AFTER_MS = 1500
# A login on another node than the one that registered the account may see
# the account a little later (the account mirror follows a KV watcher).
ACCOUNT_SYNC_S = 3
CASE_TIMEOUT = 150
TRACE = (lambda line: print(line, flush=True)) if os.environ.get("CLUSTER_TRACE") else None
RECEIPT_REQUEST = f"<request xmlns='{NS_RECEIPTS}'/>"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def say(what):
    print(f"  {what}", flush=True)


def bare(user):
    return f"{user}@{DOMAIN}"


def body_of(m):
    return text_of(m, "body")


def errors_in(c, since=0):
    return [e for e in c.inbox[since:] if e.get("type") == "error"]


def closed_why(c):
    if not c.closed:
        return "still open"
    return f"stream error {c.stream_error_condition()}" if c.stream_error is not None else "closed"


def show_errors(c):
    errs = errors_in(c)
    return f"{len(errs)} error stanza(s), first {[to_xml(e, 400) for e in errs[:2]]}"


def sids_by(m, user):
    return [i for i, by in stanza_ids_of(m) if by == bare(user)]


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class Cluster:
    """The NATS cluster and three xmppd nodes (index 0 is node id n1)."""

    def __init__(self, xmppd, nats, base, extra=()):
        self.nats = nats
        self.nodes = []
        for k in range(1, 4):
            node = Server(xmppd, domain=DOMAIN, workdir=os.path.join(base, f"n{k}"),
                          extra=["--cluster", nats.urls, "--node-id", f"n{k}",
                                 "--cluster-heartbeat-ms", str(HEARTBEAT_MS),
                                 "--cluster-dead-after-ms", str(DEAD_AFTER_MS), *extra])
            node.node_id = f"n{k}"
            self.nodes.append(node)

    def start(self):
        for node in self.nodes:
            t = time.monotonic()
            node.start()
            say(f"xmppd {node.node_id} listening on {node.port} after "
                f"{time.monotonic() - t:.1f}s")

    @staticmethod
    def running(node):
        return node.proc is not None and node.proc.poll() is None

    def stop(self):
        """SIGTERM every running node; returns the problems (unclean exits)."""
        problems = []
        for node in self.nodes:
            was_running = self.running(node)
            code = node.stop()
            if was_running and code != 0:
                problems.append(f"xmppd {node.node_id} exited with {code} on SIGTERM")
        return problems

    def report(self):
        for node in self.nodes:
            print(f"---- xmppd {node.node_id} log ({node.log_path}) ----")
            print(node.read_log()[-12000:])
        print("---- NATS cluster ----")
        print(self.nats.status())
        print(self.nats.streams_summary(), flush=True)


# ------------------------------------------------------------------ clients

async def register(node, user, password=PASSWORD):
    """XEP-0077 on |node|: None, or the error condition."""
    c = Client(node.port, DOMAIN, name=f"register {user}@{node.node_id}", log=TRACE)
    try:
        await c.open(timeout=TIMEOUT)
        return await c.register(user, password, timeout=TIMEOUT)
    finally:
        c.abort()


async def try_auth(node, user, password):
    """SASL only: None on success, else the failure condition."""
    c = Client(node.port, DOMAIN, name=f"auth {user}@{node.node_id}", log=TRACE)
    try:
        await c.open(timeout=TIMEOUT)
        return await c.authenticate(user, password, timeout=TIMEOUT)
    finally:
        c.abort()


async def connect(node, user, resource, sm=False, resume=True, name=None, on_stanza=None,
                  password=PASSWORD, sync_s=ACCOUNT_SYNC_S):
    """A logged-in client on |node|. SASL 'not-authorized' is retried for
    |sync_s| seconds (an account registered on another node a moment ago)."""
    deadline = time.monotonic() + sync_s
    t0 = time.monotonic()
    while True:
        c = Client(node.port, DOMAIN, name=name or f"{user}/{resource}@{node.node_id}", log=TRACE)
        c.on_stanza = on_stanza
        try:
            await c.login(user, password, resource=resource, sm=sm, resume=resume, timeout=TIMEOUT)
            break
        except XmppError as e:
            c.abort()
            if "not-authorized" not in str(e) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    if time.monotonic() - t0 > 0.5:
        say(f"note: {c.name} logged in after {time.monotonic() - t0:.2f}s of retries")
    if sm:
        check(c.sm, f"{c.name}: XEP-0198 <enable/> answered with {to_xml(c.sm_failed)}")
    return c


def check_marker(c, el, state, count):
    m = catchup_of(el)
    check(m is not None and m.get("state") == state, f"{c.name}: catch-up {state}: {to_xml(el)}")
    check(el.get("from") == DOMAIN and el.get("to") == c.jid,
          f"{c.name}: marker from the domain to the full JID: {to_xml(el)}")
    check(m.get("count") == str(count),
          f"{c.name}: catch-up {state} count={count} expected: {to_xml(el)}")


def check_stored(m, recipient):
    delay = child(m, "delay", NS_DELAY)
    check(delay is not None and delay.get("from") == DOMAIN and delay.get("stamp"),
          f"a backlog message carries the delay stamp: {to_xml(m)}")
    ids = sids_by(m, recipient)
    check(len(ids) == 1 and ids[0], f"exactly one stanza-id by {recipient}: {to_xml(m)}")
    return ids[0]


async def no_live_duplicates(c, done, wait=1.0):
    await c.expect_absent(lambda e: is_message(e) and body_of(e) is not None, wait=wait,
                          since=c.inbox.index(done) + 1)


def first_order_problems(oids):
    """Per sender, sequence numbers whose first arrival came after a later
    one's: [(sender, seq, after_seq)]."""
    seen, last, problems = set(), {}, []
    for oid in oids:
        if oid in seen:
            continue
        seen.add(oid)
        sender, seq = oid.rsplit(":", 1)
        seq = int(seq)
        if sender in last and seq < last[sender]:
            problems.append((sender, seq, last[sender]))
        last[sender] = max(seq, last.get(sender, -1))
    return problems


def duplicates(oids):
    return {o: n for o, n in collections.Counter(oids).items() if n > 1}


# ------------------------------------------------------------------ cases

async def c_register_anywhere(cl):
    n1, n2, n3 = cl.nodes
    check(await register(n1, "alice") is None, "alice registers on n1")
    t_reg = time.monotonic()
    for node in (n2, n3):
        c = await connect(node, "alice", "r")
        check(c.jid == f"{bare('alice')}/r", f"bound on {node.node_id}: {c.jid}")
        say(f"alice logs in on {node.node_id} ({time.monotonic() - t_reg:.2f}s after "
            f"registering on n1)")
        await c.close()
    err = await register(n3, "alice", "another-pw")
    check(err == "conflict", f"registering alice again on n3 is a conflict, got {err!r}")
    say("registering alice again on n3: conflict")
    failure = await try_auth(n2, "alice", "wrong-pw")
    check(failure == "not-authorized", f"a wrong password on n2 fails: {failure!r}")
    failure = await try_auth(n1, "alice", "another-pw")
    check(failure == "not-authorized",
          f"the refused registration did not change alice's password: {failure!r}")
    check(await try_auth(n1, "alice", PASSWORD) is None, "alice's password still works on n1")
    say("wrong password on n2: not-authorized; the conflicting registration changed nothing")

    # Two nodes registering the same name at once: exactly one wins.
    results = await asyncio.gather(register(n1, "carol", "pw-from-n1"),
                                   register(n3, "carol", "pw-from-n3"))
    check(sorted(map(repr, results)) == ["'conflict'", "None"],
          f"concurrent registrations of carol on n1 and n3: one succeeds, one conflicts: "
          f"{results}")
    win, lose = ("pw-from-n1", "pw-from-n3") if results[0] is None else ("pw-from-n3", "pw-from-n1")
    c = await connect(n2, "carol", "r", password=win)
    await c.close()
    failure = await try_auth(n2, "carol", lose)
    check(failure == "not-authorized", f"the losing registration's password fails: {failure!r}")
    say(f"concurrent registration of carol on n1 and n3: {results}; the winner's password "
        "works on n2, the loser's does not")

    check(await register(n3, "dave") is None, "dave registers on n3")
    c = await connect(n1, "dave", "r")
    await c.close()
    say("dave registered on n3 logs in on n1")


async def c_messages_across_nodes(cl):
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"),
                                   register(n3, "carol"))
    check(results == [None, None, None], f"registrations: {results}")
    a = await connect(n1, "alice", "a", sm=True)
    b = await connect(n2, "bob", "b", sm=True)
    c = await connect(n3, "carol", "c", sm=True)
    for x in (a, b, c):
        x.start_periodic_ack(0.1)
        await x.presence(timeout=TIMEOUT)
    alice_full, bob_full, carol_full = a.jid, b.jid, c.jid
    say(f"alice on n1 ({alice_full}), bob on n2 ({bob_full}), carol on n3 ({carol_full})")

    n = 20
    for i in range(n):
        a.send_message(bare("bob"), f"a2b {i}", origin_id=f"alice:{i}", msg_id=f"a2b-{i}",
                       extra=RECEIPT_REQUEST)
        c.send_message(bare("bob"), f"c2b {i}", origin_id=f"carol:{i}", msg_id=f"c2b-{i}")
    await a.wait_acked(TIMEOUT)
    await c.wait_acked(TIMEOUT)

    def from_(x, jid):
        return [m for m in x.chat_messages() if m.get("from") == jid]
    try:
        await b.wait_until(lambda: len(from_(b, alice_full)) >= n
                           and len(from_(b, carol_full)) >= n, TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"bob got {len(from_(b, alice_full))}/{n} from alice and "
                             f"{len(from_(b, carol_full))}/{n} from carol within {TIMEOUT}s: "
                             f"{[body_of(m) for m in b.chat_messages()]}") from None
    await asyncio.sleep(0.5)  # duplicates, if any
    got_a = from_(b, alice_full)
    check([body_of(m) for m in got_a] == [f"a2b {i}" for i in range(n)],
          f"alice's {n} messages exactly once and in order: {[body_of(m) for m in got_a]}")
    got_c = from_(b, carol_full)
    check([body_of(m) for m in got_c] == [f"c2b {i}" for i in range(n)],
          f"carol's {n} messages exactly once and in order: {[body_of(m) for m in got_c]}")
    others = [m for m in b.chat_messages() if m not in got_a and m not in got_c]
    check(not others, f"nothing else reached bob: {[to_xml(m) for m in others[:3]]}")
    sids = []
    for i, m in enumerate(got_a):
        check(origin_id_of(m) == f"alice:{i}", f"origin-id kept: {to_xml(m)}")
        check(child(m, "request", NS_RECEIPTS) is not None, f"receipt request kept: {to_xml(m)}")
    for m in got_a + got_c:
        ids = sids_by(m, "bob")
        check(len(ids) == 1 and ids[0], f"one stanza-id by bob: {to_xml(m)}")
        sids.append(ids[0])
    check(len(set(sids)) == len(sids),
          f"stanza-ids by bob are unique across the nodes that stored them (n1, n3): {sids}")
    say(f"bob (n2) got {n} from alice (n1) and {n} from carol (n3): once each, in order, "
        f"{len(set(sids))} distinct stanza-ids")

    for m in got_a:
        b.send_message(alice_full, None, msg_id=f"rcpt-{m.get('id')}",
                       extra=f"<received xmlns='{NS_RECEIPTS}' id={q(m.get('id'))}/>")

    def receipts():
        return [m for m in a.messages() if child(m, "received", NS_RECEIPTS) is not None]
    want = {m.get("id") for m in got_a}
    try:
        await a.wait_until(lambda: {child(m, "received", NS_RECEIPTS).get("id")
                                    for m in receipts()} >= want, TIMEOUT)
    except asyncio.TimeoutError:
        have = {child(m, "received", NS_RECEIPTS).get("id") for m in receipts()}
        raise AssertionError(f"receipts missing at alice: {sorted(want - have)}") from None
    await asyncio.sleep(0.3)
    rids = [child(m, "received", NS_RECEIPTS).get("id") for m in receipts()]
    check(sorted(rids) == sorted(want), f"each receipt once: {rids}")
    check(all(m.get("from") == bob_full for m in receipts()),
          f"receipts from bob's full JID: {[m.get('from') for m in receipts()]}")
    say(f"alice (n1) got bob's {n} receipts")

    mark = len(b.inbox)
    a.send_stanza(f"<presence to={q(bob_full)}><status>directed to bob</status></presence>")
    p = await b.expect(lambda e: is_tag(e, "presence", NS_CLIENT) and e.get("from") == alice_full
                       and text_of(e, "status") == "directed to bob", TIMEOUT, since=mark)
    check(p.get("type") is None, f"available directed presence: {to_xml(p)}")
    say("alice's directed presence to bob's full JID arrived")

    ping_id = "ping-alice-bob"
    a.send_stanza(f"<iq type='get' id={q(ping_id)} to={q(bob_full)}><ping xmlns='{NS_PING}'/></iq>")
    req = await b.expect(lambda e: is_tag(e, "iq", NS_CLIENT) and e.get("id") == ping_id, TIMEOUT)
    check(req.get("type") == "get" and req.get("from") == alice_full
          and child(req, "ping", NS_PING) is not None, f"the ping at bob: {to_xml(req)}")
    b.send_stanza(f"<iq type='result' id={q(ping_id)} to={q(alice_full)}/>")
    res = await a.expect(lambda e: is_tag(e, "iq", NS_CLIENT) and e.get("id") == ping_id, TIMEOUT)
    check(res.get("type") == "result" and res.get("from") == bob_full,
          f"bob's result reaches alice: {to_xml(res)}")
    say("iq ping alice -> bob's full JID answered by bob")

    mark = len(a.inbox)
    for i in range(n):
        b.send_message(bare("alice"), f"b2a {i}", origin_id=f"bob:{i}", msg_id=f"b2a-{i}")
    await b.wait_acked(TIMEOUT)
    try:
        await a.wait_until(lambda: len(from_(a, bob_full)) >= n, TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"alice got {len(from_(a, bob_full))}/{n} of bob's messages") from None
    await asyncio.sleep(0.5)
    got = [body_of(m) for m in from_(a, bob_full)]
    check(got == [f"b2a {i}" for i in range(n)], f"bob -> alice once each, in order: {got}")
    say(f"bob (n2) -> alice (n1): {n} messages once each, in order")
    for x in (a, b, c):
        check(not errors_in(x), f"{x.name}: no errors: {show_errors(x)}")
        check(not x.protocol_errors, f"{x.name}: {x.protocol_errors}")
        check(not x.closed, f"{x.name} still connected")


async def c_backlog_on_other_node(cl):
    n1, n2, n3 = cl.nodes
    check(await register(n1, "alice") is None, "alice registers on n1")
    check(await register(n2, "bob") is None, "bob registers on n2")
    a = await connect(n1, "alice", "a", sm=True)
    n = 30
    for i in range(n):
        a.send_message(bare("bob"), f"first {i}", origin_id=f"alice:{i}", msg_id=f"f{i}")
    await a.wait_acked(TIMEOUT)
    check(a.last_h == n, f"alice's {n} messages to offline bob acked: h={a.last_h}")
    await a.ping()
    check(not errors_in(a),
          f"no error for an offline recipient: {show_errors(a)}")
    say(f"alice on n1 sent {n} to offline bob: all acked (h={a.last_h})")

    b = await connect(n3, "bob", "b")
    start, msgs, done = await b.presence(timeout=TIMEOUT)
    check_marker(b, start, "start", n)
    check_marker(b, done, "done", n)
    check([body_of(m) for m in msgs] == [f"first {i}" for i in range(n)],
          f"the {n} between the markers, in order: {[body_of(m) for m in msgs]}")
    sids = set()
    for i, m in enumerate(msgs):
        check(m.get("from") == a.jid, f"from alice's full JID: {to_xml(m)}")
        check(origin_id_of(m) == f"alice:{i}", f"origin-id kept: {to_xml(m)}")
        sids.add(check_stored(m, "bob"))
    check(len(sids) == n, "stanza-ids unique")
    await no_live_duplicates(b, done)
    say(f"bob logs in on n3: {n} in order between catch-up markers, once each")
    await b.close()

    for i in range(10):
        a.send_message(bare("bob"), f"second {i}", origin_id=f"alice:s{i}", msg_id=f"s{i}")
    await a.wait_acked(TIMEOUT)
    # h also counted the ping's <iq/> above.
    check(a.last_h == n + 1 + 10, f"h={n + 1 + 10} after 10 more, got {a.last_h}")
    b2 = await connect(n2, "bob", "b")
    start, msgs, done = await b2.presence(timeout=TIMEOUT)
    got = [body_of(m) for m in msgs]
    check(got == [f"second {i}" for i in range(10)],
          f"after a clean close on n3 (no SM: written = delivered), the login on n2 gets "
          f"exactly the 10 new ones: {got}")
    check_marker(b2, start, "start", 10)
    check_marker(b2, done, "done", 10)
    for m in msgs:
        check_stored(m, "bob")
    await no_live_duplicates(b2, done)
    say("bob closes, alice sends 10 more, bob logs in on n2: exactly those 10")


async def c_moved_session_gets_rest(cl):
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    b = await connect(n2, "bob", "b", sm=True)
    b.auto_ack = False  # never acks: for n2 nothing is delivered
    await b.presence(timeout=TIMEOUT)
    a = await connect(n1, "alice", "a", sm=True)
    n = 5
    want = [f"alice:{i}" for i in range(n)]
    for i in range(n):
        a.send_message(bare("bob"), f"moved {i}", origin_id=want[i], msg_id=f"mv{i}")
    await a.wait_acked(TIMEOUT)
    await b.wait_until(lambda: len(b.chat_messages()) >= n, TIMEOUT)
    check([origin_id_of(m) for m in b.chat_messages()] == want,
          f"bob on n2 got the {n}: {[origin_id_of(m) for m in b.chat_messages()]}")
    b.abort()  # TCP gone, nothing acked: the session hibernates on n2
    say(f"bob on n2 received {n} without acking, then lost his TCP connection")
    await asyncio.sleep(0.2)

    b2 = await connect(n3, "bob", "b", sm=True, name="bob/b@n3")
    b2.start_periodic_ack(0.1)
    start, backlog, done = await b2.presence(timeout=TIMEOUT)
    try:
        await b2.wait_until(lambda: {origin_id_of(m) for m in b2.chat_messages()} >= set(want),
                            TIMEOUT)
    except asyncio.TimeoutError:
        got = [origin_id_of(m) for m in b2.chat_messages()]
        raise AssertionError(f"bob on n3 (same resource) must get every message n2 did not see "
                             f"acknowledged: missing {sorted(set(want) - set(got))}, got {got}; "
                             f"catch-up {to_xml(start)}") from None
    await asyncio.sleep(1.5)  # duplicates; and n2's old session must not win the resource
    got = [origin_id_of(m) for m in b2.chat_messages()]
    in_backlog = [origin_id_of(m) for m in backlog]
    check(not b2.closed, f"the new session on n3 keeps the resource: {closed_why(b2)}")
    check(set(got) == set(want), f"nothing else reached bob: {got}")
    check(not first_order_problems(got), f"in order: {got}")
    say(f"bob logs in on n3 with the same resource: all {n} again (backlog {in_backlog}, "
        f"live {[o for o in got if o not in in_backlog]}, duplicates {duplicates(got)})")

    mark = len(b2.inbox)
    a.send_message(bare("bob"), "after the move", origin_id="alice:after", msg_id="after")
    await a.wait_acked(TIMEOUT)
    m = await b2.expect(lambda e: is_message(e) and body_of(e) == "after the move", TIMEOUT,
                        since=mark)
    check(m.get("from") == a.jid, to_xml(m))
    say("a new message reaches bob on n3")


class Receiver:
    """One receiving account; its messages are recorded across reconnects."""

    def __init__(self, user):
        self.user = user
        self.client = None
        self.got = []  # origin-ids of body messages, in arrival order
        self.node = None
        self.reconnect_s = None
        self.relogin_got = []

    def on_stanza(self, e):
        if is_message(e) and body_of(e) is not None:
            self.got.append(origin_id_of(e))

    async def connect(self, node):
        c = await connect(node, self.user, "r", sm=True, on_stanza=self.on_stanza,
                          name=f"{self.user}/r@{node.node_id}")
        try:
            c.start_periodic_ack(0.1)
            await c.presence(timeout=TIMEOUT)
        except BaseException:
            c.abort()
            raise
        self.client, self.node = c, node
        return c


async def c_kill9_node_under_load(cl):
    n1, n2, n3 = cl.nodes
    S = [f"s{i}" for i in range(10)]
    R = [f"r{i}" for i in range(10)]
    Q = [f"q{i}" for i in range(3)]
    results = await asyncio.gather(*(register(n1, u) for u in S), *(register(n2, u) for u in R),
                                   *(register(n3, u) for u in Q))
    check(all(r is None for r in results), f"registrations: {results}")
    receivers = {u: Receiver(u) for u in R + Q}
    await asyncio.gather(*(receivers[u].connect(n2) for u in R),
                         *(receivers[u].connect(n3) for u in Q))
    senders = await asyncio.gather(*(connect(n1, s, "s", sm=True) for s in S))
    acked = set()
    for c in senders:
        c.on_acked = lambda meta: acked.add(meta[0]) if meta else None
    say(f"{len(S)} senders on n1, {len(R)} receivers on n2, {len(Q)} on n3")

    async def follow(rcv):
        """Reconnects an n2 receiver to n3 once its connection drops."""
        while not rcv.client.closed:
            await asyncio.sleep(0.02)
        t0 = time.monotonic()
        while True:
            try:
                await rcv.connect(n3)
                break
            except (XmppError, OSError, asyncio.TimeoutError) as e:
                if time.monotonic() - t0 > 20:
                    raise AssertionError(f"{rcv.user} could not log in on n3 within 20s after "
                                         f"n2 died: {e!r}") from None
                await asyncio.sleep(0.2)
        rcv.reconnect_s = time.monotonic() - t0
    followers = [asyncio.ensure_future(follow(receivers[u])) for u in R]
    try:
        await _kill9_load(cl, S, R, Q, receivers, senders, acked, followers)
    finally:
        for f in followers:
            f.cancel()


async def _kill9_load(cl, S, R, Q, receivers, senders, acked, followers):
    """The load, the kill and the checks of c_kill9_node_under_load."""
    n2, n3 = cl.nodes[1], cl.nodes[2]

    rate, before, after = 200, 2.0, 2.0
    sent = []  # (oid, receiver, seconds since the start)
    t_start = time.monotonic()
    k, last_r, kill = 0, 0.0, None
    while True:
        now = time.monotonic() - t_start
        if kill is None and now >= before:
            kill = asyncio.ensure_future(in_thread(n2.kill))
            t_kill = now
        if now >= before + after:
            break
        while k < int(now * rate):
            i, seq = k % len(S), k // len(S)
            target = R[i] if seq % 2 == 0 else Q[i % len(Q)]
            oid = f"{S[i]}:{seq}"
            senders[i].send_message(bare(target), f"{seq}", origin_id=oid, msg_id=oid,
                                    meta=(oid, target))
            sent.append((oid, target, now))
            k += 1
        if now - last_r >= 0.1:
            for c in senders:
                c.request_ack()
            last_r = now
        await asyncio.sleep(0.005)
    code = await kill
    check(code == -9, f"n2 killed: {code}")
    say(f"sent {len(sent)} messages in {before + after:.0f}s; n2 SIGKILLed at {t_kill:.2f}s")
    for c in senders:
        check(not c.closed, f"{c.name} kept its connection to n1: {closed_why(c)}")
    try:
        await asyncio.gather(*(c.wait_acked(30) for c in senders))
    except (asyncio.TimeoutError, StreamClosed):
        left = {c.name: len(c.unacked) for c in senders if c.unacked}
        raise AssertionError(f"n1 and every NATS server are up: n1 must ack every message "
                             f"within 30s although n2 is dead; unacked: {left}") from None
    errors = [to_xml(e, 300) for c in senders for e in errors_in(c)]
    check(not errors, f"no error to the senders: {len(errors)}, first {errors[:2]}")
    check(len(acked) == len(sent), f"every message acked: {len(acked)} of {len(sent)}")
    say(f"n1 acked all {len(acked)}")

    def missing(users):
        by_user = collections.defaultdict(set)
        for oid, target, _ in sent:
            if oid in acked and target in users:
                by_user[target].add(oid)
        return {u: sorted(want - set(receivers[u].got)) for u, want in by_user.items()
                if want - set(receivers[u].got)}

    try:
        await asyncio.wait_for(asyncio.gather(*followers), 30)
    except asyncio.TimeoutError:
        raise AssertionError("the n2 receivers did not all reconnect to n3 within 30s") from None
    say("n2's receivers reconnected to n3 after " +
        ", ".join(f"{receivers[u].reconnect_s:.1f}s" for u in R))

    # The n3 receivers never noticed n2's death.
    deadline = time.monotonic() + TIMEOUT
    while missing(Q) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    check(not missing(Q), f"n3's receivers lost acked messages while n2 was dead: {missing(Q)}")
    for u in Q:
        problems = first_order_problems(receivers[u].got)
        check(not problems, f"{u} (n3, never disconnected): per-sender order broken at "
                            f"{problems[:5]}")
    say("n3's receivers got every acked message to them, in per-sender order")

    # docs/cluster.md §4: a hand-off n2 took and did not deliver stays in
    # XD_ROUTE (acknowledged only on delivery); the janitor routes it again
    # once n2 counts as dead. So n2's receivers, now on n3, get every acked
    # message while n2 is still down.
    deadline = time.monotonic() + 2 * DEAD_AFTER_MS / 1000 + TIMEOUT
    while missing(R) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    still = missing(R)
    check(not still, f"acked messages to n2's receivers not delivered while n2 is dead: "
                     f"{ {u: v[:4] for u, v in still.items()} }")
    say("n2's receivers got every acked message on n3 while n2 was still dead "
        "(hand-offs routed again by the janitor)")

    t_restart = time.monotonic()
    await in_thread(n2.start)
    # Listening is not serving: n2 must rejoin (a login needs its account
    # mirror) and route to the other nodes again.
    try:
        probe = await connect(n2, S[0], "probe", name=f"{S[0]}/probe@n2", sync_s=TIMEOUT)
        await probe.presence(timeout=TIMEOUT)
        senders[1].send_message(probe.jid, "n2 is back", origin_id="probe:0", msg_id="probe0")
        await probe.expect(lambda e: is_message(e) and body_of(e) == "n2 is back", TIMEOUT)
    except (XmppError, OSError, asyncio.TimeoutError) as e:
        raise AssertionError(f"n2, restarted on its data directory, does not serve: {e!r}") \
            from None
    await probe.close()
    say(f"n2 restarted on its data directory: a login there and a message from n1 work after "
        f"{time.monotonic() - t_restart:.1f}s")
    deadline = time.monotonic() + 20
    while missing(R) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    live_missing = missing(R)
    if live_missing:
        # Not delivered to the online sessions: lost, or only waiting for a login?
        say(f"not delivered live within 20s: "
            f"{ {u: len(v) for u, v in live_missing.items()} }; logging those receivers in again")
        for u in live_missing:
            rcv = receivers[u]
            await rcv.client.close()
            mark = len(rcv.got)
            await rcv.connect(n3)
            rcv.relogin_got = rcv.got[mark:]
        deadline = time.monotonic() + 5
        while missing(R) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    lost = missing(R)
    if lost:
        sent_at = {oid: t for oid, _, t in sent}
        detail = {u: [(o, f"{sent_at[o]:.2f}s") for o in v[:8]] for u, v in lost.items()}
        raise AssertionError(f"acked messages never reached their n2 receiver (kill at "
                             f"{t_kill:.2f}s): {detail}")
    want_of = collections.defaultdict(set)
    for oid, target, _ in sent:
        want_of[target].add(oid)
    for u, rcv in receivers.items():
        stray = set(rcv.got) - want_of[u]
        check(not stray, f"{u} got messages sent to someone else: {sorted(stray)[:5]}")
    dups = {u: duplicates(r.got) for u, r in receivers.items() if duplicates(r.got)}
    ndup = sum(n - 1 for d in dups.values() for n in d.values())
    total = sum(len(r.got) for r in receivers.values())
    say(f"every acked message arrived: {total} deliveries, {ndup} duplicates"
        + (f", e.g. {[(u, sorted(d)[:4]) for u, d in list(dups.items())[:3]]}" if dups else "")
        + (f"; only after a new login: { {u: len(receivers[u].relogin_got) for u in live_missing} }"
           if live_missing else ""))
    order = {u: first_order_problems(receivers[u].got) for u in R
             if first_order_problems(receivers[u].got)}
    if order:
        say(f"per-sender order inversions at n2's receivers (reported, not failed): "
            f"{sum(map(len, order.values()))} at {len(order)} receivers, e.g. "
            f"{[(u, v[:2]) for u, v in list(order.items())[:3]]}")


async def bob_on_n3_after_n2_dies(cl, want, what):
    """SIGKILLs n2, waits until the others count it dead, logs bob in on n3
    and waits for every origin-id of |want| (|what| names them in the
    failure); returns the origin-ids bob got, in arrival order."""
    code = await in_thread(cl.nodes[1].kill)
    check(code == -9, f"n2 killed: {code}")
    await asyncio.sleep(DEAD_AFTER_MS / 1000 + 1)
    b3 = await connect(cl.nodes[2], "bob", "b3", sm=True, name="bob/b3@n3")
    b3.start_periodic_ack(0.1)
    await b3.presence(timeout=TIMEOUT)
    try:
        await b3.wait_until(
            lambda: {origin_id_of(m) for m in b3.chat_messages()} >= set(want), TIMEOUT)
    except asyncio.TimeoutError:
        got = [origin_id_of(m) for m in b3.chat_messages()]
        raise AssertionError(f"bob on n3, n2 still dead: missing {sorted(set(want) - set(got))}"
                             f" of {what}; got {got}") from None
    return [origin_id_of(m) for m in b3.chat_messages()]


async def c_dead_node_held_messages(cl):
    """docs/cluster.md §4: messages a node took over from another node and
    had not delivered (its recipient's session hibernated there) are not
    stranded on its disk when it dies: they stay in XD_ROUTE until delivered,
    and the janitor routes them again, so the recipient gets them on
    another node while the dead one stays down."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    b = await connect(n2, "bob", "b", sm=True)
    b.auto_ack = False
    await b.presence(timeout=TIMEOUT)
    b.abort()  # TCP gone: the resumable session hibernates on n2
    await asyncio.sleep(0.3)
    a = await connect(n1, "alice", "a", sm=True)
    n = 5
    want = [f"alice:h{i}" for i in range(n)]
    for i in range(n):
        a.send_message(bare("bob"), f"held {i}", origin_id=want[i], msg_id=f"h{i}")
    await a.wait_acked(TIMEOUT)
    say(f"bob's session hibernates on n2; alice's {n} messages to him acked by n1")
    await asyncio.sleep(0.5)  # n2 commits them to its queue
    got = await bob_on_n3_after_n2_dies(cl, want, "the messages n2 held")
    say(f"n2 dead, bob logs in on n3 and gets all {n} n2 held (order {got}, duplicates "
        f"{duplicates(got)})")


async def c_dead_node_pulled_backlog(cl):
    """docs/cluster.md §4: offline messages a node read into its queue at a
    login stay in XD_OFFLINE until delivered. bob's backlog reaches his
    session on n2, which never acknowledges it; n2 dies; bob's login on n3
    reads the same messages from the stream again."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    a = await connect(n1, "alice", "a", sm=True)
    n = 5
    want = [f"alice:p{i}" for i in range(n)]
    for i in range(n):
        a.send_message(bare("bob"), f"pulled {i}", origin_id=want[i], msg_id=f"p{i}")
    await a.wait_acked(TIMEOUT)
    b = await connect(n2, "bob", "b", sm=True)
    b.auto_ack = False  # for n2 nothing is ever delivered
    start, backlog, done = await b.presence(timeout=TIMEOUT)
    check([origin_id_of(m) for m in backlog] == want,
          f"bob's backlog on n2: {[origin_id_of(m) for m in backlog]}")
    say(f"bob offline got {n} from alice; his login on n2 read them from the offline stream "
        f"(never acknowledged)")
    b.abort()
    code = await in_thread(n2.kill)
    check(code == -9, f"n2 killed: {code}")
    await asyncio.sleep(DEAD_AFTER_MS / 1000 + 1)
    b3 = await connect(n3, "bob", "b3", sm=True, name="bob/b3@n3")
    b3.start_periodic_ack(0.1)
    start, backlog, done = await b3.presence(timeout=TIMEOUT)
    got = [origin_id_of(m) for m in backlog]
    check(got == want, f"bob's backlog on n3 while n2 is dead: {got}, want {want}")
    say(f"n2 dead: bob's login on n3 read the same {n} from the stream, in order, between "
        f"the markers")


async def c_dead_node_same_node_messages(cl):
    """docs/cluster.md §4: a message between two users of the same node has
    a copy in XD_JOURNAL until delivered. alice and bob both on n2, bob's
    session hibernating there; n2 dies with alice's messages undelivered;
    bob gets them on n3 while n2 stays down."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n2, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    b = await connect(n2, "bob", "b", sm=True)
    b.auto_ack = False
    await b.presence(timeout=TIMEOUT)
    b.abort()  # the resumable session hibernates on n2
    await asyncio.sleep(0.3)
    a = await connect(n2, "alice", "a", sm=True)
    n = 5
    want = [f"alice:s{i}" for i in range(n)]
    for i in range(n):
        a.send_message(bare("bob"), f"same node {i}", origin_id=want[i], msg_id=f"s{i}")
    await a.wait_acked(TIMEOUT)
    say(f"alice and bob on n2 (bob hibernating): {n} messages acked by n2")
    got = await bob_on_n3_after_n2_dies(cl, want, "the same-node messages")
    say(f"n2 dead: bob gets all {n} on n3 from n2's journal (order {got})")


async def c_push_across_nodes(cl):
    """XEP-0357 between nodes: bob enables push through n2 (the registration
    lands in the shared bucket) and goes offline; alice's message to him is
    stored through n3, which notifies bob's app server, connected on n1."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "push"), register(n2, "bob"),
                                   register(n3, "alice"))
    check(results == [None, None, None], f"registrations: {results}")
    app = await connect(n1, "push", "app")
    await app.presence(timeout=TIMEOUT)
    b = await connect(n2, "bob", "phone")
    reply = await b.iq(f"<enable xmlns='urn:xmpp:push:0' jid='push@{DOMAIN}/app' node='p1'/>",
                       itype="set")
    check(reply.get("type") == "result", f"push enabled on n2: {to_xml(reply)}")
    await b.close()
    await asyncio.sleep(0.3)
    a = await connect(n3, "alice", "a", sm=True)
    mark = len(app.inbox)
    a.send_message(bare("bob"), "wake up", origin_id="alice:push1")
    await a.wait_acked(TIMEOUT)
    pub = await app.expect(lambda e: local(e) == "iq" and e.get("type") == "set", TIMEOUT,
                           since=mark)
    xml = to_xml(pub)
    check("urn:xmpp:push:summary" in xml and "p1" in xml, f"a summary for node p1: {xml}")
    check(pub.get("from") == bare("bob"), f"on behalf of bob: {xml}")
    say("push enabled on n2, message stored through n3, notification reached the app server "
        "on n1")


def stream_messages(cl, stream):
    with cl.nats.client(timeout=5) as nc:
        return nc.js(f"STREAM.INFO.{stream}", timeout=5).get("state", {}).get("messages")


async def c_streams_emptied_on_delivery(cl):
    """docs/cluster.md §4: what JetStream holds for a message (the journal
    copy of a same-node message, a hand-off, an offline message read at a
    login) goes once the message is delivered: after traffic of every kind
    is delivered and acknowledged, XD_JOURNAL, XD_ROUTE and XD_OFFLINE are
    empty."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n1, "bob"),
                                   register(n2, "carol"), register(n3, "dave"))
    check(results == [None] * 4, f"registrations: {results}")
    a = await connect(n1, "alice", "a", sm=True)
    b = await connect(n1, "bob", "b", sm=True)
    c = await connect(n2, "carol", "c", sm=True)
    for x in (a, b, c):
        x.start_periodic_ack(0.1)
        await x.presence(timeout=TIMEOUT)
    n = 40
    for i in range(n):
        a.send_message(bare("bob"), f"same {i}", origin_id=f"alice:b{i}")   # same node
        a.send_message(bare("carol"), f"cross {i}", origin_id=f"alice:c{i}")  # hand-off
        a.send_message(bare("dave"), f"offline {i}", origin_id=f"alice:d{i}")  # offline
    await a.wait_acked(TIMEOUT)
    await b.wait_until(lambda: len(b.chat_messages()) >= n, TIMEOUT)
    await c.wait_until(lambda: len(c.chat_messages()) >= n, TIMEOUT)
    d = await connect(n3, "dave", "d", sm=True)
    d.start_periodic_ack(0.1)
    start, backlog, done = await d.presence(timeout=TIMEOUT)
    check(len(backlog) == n, f"dave's backlog on n3: {len(backlog)} of {n}")
    for x in (b, c, d):
        x.send_ack()
    deadline = time.monotonic() + TIMEOUT
    counts = {}
    while time.monotonic() < deadline:
        counts = {s: await in_thread(stream_messages, cl, s)
                  for s in ("XD_JOURNAL", "XD_ROUTE", "XD_OFFLINE")}
        if all(v == 0 for v in counts.values()):
            break
        await asyncio.sleep(0.3)
    check(all(v == 0 for v in counts.values()),
          f"JetStream still holds delivered messages: {counts}")
    say(f"{n} same-node, {n} cross-node and {n} offline messages delivered and acked: "
        f"XD_JOURNAL, XD_ROUTE and XD_OFFLINE are empty")


async def c_nats_server_killed(cl):
    n1, n2, n3 = cl.nodes
    nats = cl.nats
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"),
                                   register(n3, "carol"))
    check(results == [None, None, None], f"registrations: {results}")
    a = await connect(n1, "alice", "a", sm=True)
    b = await connect(n2, "bob", "b", sm=True)
    for x in (a, b):
        x.start_periodic_ack(0.1)
        await x.presence(timeout=TIMEOUT)
    acked, sent = set(), []  # sent: (oid, sender client, recipient client, time)

    def on_acked(meta):
        if meta:
            acked.add(meta)
    a.on_acked = b.on_acked = on_acked

    def exchange(i):
        now = time.monotonic()
        for frm, to, name in ((a, b, "alice"), (b, a, "bob")):
            oid = f"{name}:{i}"
            frm.send_message(to.jid.split("/")[0], str(i), origin_id=oid, msg_id=oid, meta=oid)
            sent.append((oid, frm, to, now))

    def received(x):
        return [origin_id_of(m) for m in x.chat_messages()]

    for i in range(5):
        exchange(i)
    await asyncio.gather(a.wait_acked(TIMEOUT), b.wait_acked(TIMEOUT))
    await a.wait_until(lambda: len(received(a)) >= 5, TIMEOUT)
    await b.wait_until(lambda: len(received(b)) >= 5, TIMEOUT)
    say("alice (n1) and bob (n2) exchanged 5 messages each way")

    # Which nats-server dies: by default the JetStream meta leader (an
    # election every time, the worst case and the same one on every run);
    # CLUSTER_NATS_VICTIM=busiest picks the one with the most client
    # connections (xmppd's), or an index 0..2.
    conns = {}
    for i in nats.alive_indexes():
        try:
            conns[i] = nats.monitor(i, "connz").get("num_connections", 0)
        except Exception:  # noqa: BLE001
            conns[i] = 0
    choice = os.environ.get("CLUSTER_NATS_VICTIM", "leader")
    leader = nats.leader_index()
    if choice == "busiest":
        victim = max(conns, key=lambda i: (conns[i], i))
    elif choice.isdigit():
        victim = int(choice)
    else:
        check(leader is not None, f"a meta leader before the kill:\n{nats.status()}")
        victim = leader
    code = await in_thread(nats.kill, victim)
    t_kill = time.monotonic()
    say(f"killed nats-server {nats.name(victim)} ({choice}; exit {code}; it was "
        f"{'' if victim == leader else 'not '}the meta leader and had {conns.get(victim)} of the "
        f"{sum(conns.values())} client connections)")

    i = 5
    for j in range(5):  # to offline carol, right after the kill
        a.send_message(bare("carol"), f"for carol {j}", origin_id=f"alice:carol:{j}",
                       msg_id=f"carol{j}")
    while time.monotonic() - t_kill < 4:
        exchange(i)
        i += 1
        await asyncio.sleep(0.2)
    t_last = time.monotonic()
    for x in (a, b):
        try:
            await x.wait_acked(20)
        except (asyncio.TimeoutError, StreamClosed):
            raise AssertionError(f"{x.name}: {len(x.unacked)} messages not acked 20s after the "
                                 f"last send (2 of 3 NATS servers are up)") from None
    say(f"{len(sent)} messages exchanged, all acked "
        f"{time.monotonic() - t_kill:.1f}s after the kill")

    want_a = {oid for oid, _, to, _ in sent if to is a and oid in acked}
    want_b = {oid for oid, _, to, _ in sent if to is b and oid in acked}
    try:
        await a.wait_until(lambda: set(received(a)) >= want_a and set(received(b)) >= want_b,
                           10 + max(0.0, t_last + 10 - time.monotonic()))
    except asyncio.TimeoutError:
        raise AssertionError(f"acked messages missing: at alice "
                             f"{sorted(want_a - set(received(a)))}, at bob "
                             f"{sorted(want_b - set(received(b)))}") from None
    await asyncio.sleep(0.5)
    for x in (a, b):
        check(not x.closed, f"{x.name} kept its XMPP connection through the NATS failover")
        check(not errors_in(x), f"{x.name}: no errors: {show_errors(x)}")
    dups = {x.name: duplicates(received(x)) for x in (a, b) if duplicates(received(x))}
    # A publish retried across a JetStream election may land behind later
    # ones (docs/cluster-design.md §2.4 rule 8): reported, not failed.
    order = {x.name: first_order_problems(received(x))[:5] for x in (a, b)
             if first_order_problems(received(x))}
    say(f"every acked message arrived (duplicates: {dups or 'none'}; order inversions: "
        f"{order or 'none'})")

    c = await connect(n3, "carol", "c")
    start, msgs, done = await c.presence(timeout=TIMEOUT)
    got = [body_of(m) for m in msgs]
    want = [f"for carol {j}" for j in range(5)]
    if got != want:
        await asyncio.sleep(5)  # lost, or only late?
        later = [body_of(m) for m in c.chat_messages()[len(msgs):]]
        raise AssertionError(f"carol's backlog on n3 (messages acked to alice right after the "
                             f"NATS kill), in order: expected {want}, got {got}; live within 5s "
                             f"after the catch-up: {later}")
    check_marker(c, start, "start", 5)
    check_marker(c, done, "done", 5)
    say("carol logs in on n3 and gets her 5 in her backlog")
    # The accounts bucket may still be electing a leader (its leader was on
    # the killed server): the registration fails cleanly and a client's
    # retry succeeds once the election is over.
    t_reg = time.monotonic()
    errors = []
    while True:
        err = await register(n3, "dave")
        if err is None:
            break
        errors.append(err)
        check(err != "conflict" and time.monotonic() - t_reg < 15,
              f"a registration on n3 with one NATS server down: {errors}")
        await asyncio.sleep(0.5)
    say(f"a registration on n3 with one NATS server down succeeded after "
        f"{time.monotonic() - t_reg:.1f}s ({len(errors)} refused while the bucket had no "
        f"leader: {sorted(set(map(str, errors)))})")
    d = await connect(n1, "dave", "d")
    await d.close()
    say("dave registers on n3 and logs in on n1 with one NATS server down")


async def c_dead_node_entries_expire(cl):
    """bob's only session is on n2, which is SIGKILLed. A message sent at
    once (n2's directory entry still looks alive) and one sent after
    dead-after plus a margin (the entry has expired) are both acked, and
    bob, logging in on n3 with the same resource, gets both: the second in
    his backlog; the first, acked while n2 was already dead, at least
    once (n2 does not come back in this case)."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    b = await connect(n2, "bob", "b")
    await b.presence(timeout=TIMEOUT)
    a = await connect(n1, "alice", "a", sm=True)
    await a.presence(timeout=TIMEOUT)
    a.send_message(bare("bob"), "before the kill", origin_id="alice:0", msg_id="k0")
    await b.expect(lambda e: is_message(e) and body_of(e) == "before the kill", TIMEOUT)
    say("bob on n2 gets alice's message from n1")

    code = await in_thread(n2.kill)
    t_kill = time.monotonic()
    check(code == -9, f"n2 killed: {code}")
    dead_after = DEAD_AFTER_MS / 1000
    a.send_message(bare("bob"), "in the window", origin_id="alice:1", msg_id="k1")
    try:
        await a.wait_acked(dead_after + 5)
    except (asyncio.TimeoutError, StreamClosed):
        raise AssertionError(f"a message to bob sent right after his node n2 died is not acked "
                             f"within {dead_after + 5}s") from None
    t1 = time.monotonic() - t_kill
    await asyncio.sleep(max(0.0, t_kill + dead_after + 1.0 - time.monotonic()))
    a.send_message(bare("bob"), "after expiry", origin_id="alice:2", msg_id="k2")
    try:
        await a.wait_acked(TIMEOUT)
    except (asyncio.TimeoutError, StreamClosed):
        raise AssertionError(f"a message to bob sent {dead_after + 1}s after n2 died is not "
                             f"acked within {TIMEOUT}s") from None
    say(f"n2 SIGKILLed; a message to bob sent at once acked after {t1:.2f}s, one sent after "
        f"dead-after ({DEAD_AFTER_MS} ms) + 1 s acked "
        f"{time.monotonic() - t_kill - dead_after - 1:.2f}s after it was sent")
    await a.ping()
    check(not errors_in(a), f"no error to alice: {show_errors(a)}")

    b2 = await connect(n3, "bob", "b", name="bob/b@n3")
    b2.start_periodic_ack(0.1)
    start, msgs, done = await b2.presence(timeout=TIMEOUT)
    got = [body_of(m) for m in msgs]
    check(got.count("after expiry") == 1,
          f"bob on n3 (same resource as on dead n2) gets the message sent after n2's entry "
          f"expired in his backlog, once: {got}")
    check(set(got) <= {"after expiry", "in the window", "before the kill"}, f"nothing else: {got}")
    check_marker(b2, start, "start", len(msgs))
    say(f"bob logs in on n3 {time.monotonic() - t_kill:.2f}s after the kill; backlog {got}")
    try:
        await b2.wait_until(lambda: "in the window" in [body_of(m) for m in b2.chat_messages()],
                            TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"the message acked {t1:.2f}s after n2 died (n2's entry not yet "
                             f"expired) never reached bob on n3: backlog {got}, then "
                             f"{[body_of(m) for m in b2.chat_messages()[len(msgs):]]}") from None
    where = "backlog" if "in the window" in got else "live, after the catch-up"
    say(f"the message sent in the window arrived too ({where})")

    mark = len(b2.inbox)
    a.send_message(bare("bob"), "live to n3", origin_id="alice:3", msg_id="k3")
    await a.wait_acked(TIMEOUT)
    m = await b2.expect(lambda e: is_message(e) and body_of(e) == "live to n3", TIMEOUT, since=mark)
    check(m.get("from") == a.jid, to_xml(m))
    await asyncio.sleep(0.5)
    bodies = [body_of(m) for m in b2.chat_messages()]
    dups = duplicates(bodies)
    say(f"a live message now reaches bob on n3 (duplicates: {dups or 'none'})")


def is_presence(e, frm_prefix=None, ptype=None):
    if local(e) != "presence":
        return False
    if ptype is not None and e.get("type", "") != ptype:
        return False
    return frm_prefix is None or (e.get("from") or "").startswith(frm_prefix)


async def c_roster_presence_across_nodes(cl):
    """RFC 6121 §3 and §4 between nodes: a mutual subscription made from
    two nodes lands in one shared roster; availability and unavailability
    cross nodes; a login on a third node gets the contact's presence (a
    probe answered by the node the contact is on) and the same roster."""
    n1, n2, n3 = cl.nodes
    results = await asyncio.gather(register(n1, "alice"), register(n2, "bob"))
    check(results == [None, None], f"registrations: {results}")
    a = await connect(n1, "alice", "a")
    b = await connect(n2, "bob", "b")
    await a.presence(timeout=TIMEOUT)
    await b.presence(timeout=TIMEOUT)

    # alice asks bob (n1 -> n2), bob approves and asks back, alice approves.
    mark_b = len(b.inbox)
    a.send_stanza(f"<presence to='{bare('bob')}' type='subscribe'/>")
    await b.expect(lambda e: is_presence(e, bare("alice"), "subscribe"), TIMEOUT, since=mark_b)
    mark_a = len(a.inbox)
    b.send_stanza(f"<presence to='{bare('alice')}' type='subscribed'/>")
    await a.expect(lambda e: is_presence(e, bare("bob"), "subscribed"), TIMEOUT, since=mark_a)
    # RFC 6121 §3.1.5: the new subscriber gets bob's current presence.
    await a.expect(lambda e: is_presence(e, bare("bob") + "/b", ""), TIMEOUT, since=mark_a)
    say("alice (n1) subscribed to bob (n2): request, approval and bob's presence crossed nodes")
    mark_a = len(a.inbox)
    b.send_stanza(f"<presence to='{bare('alice')}' type='subscribe'/>")
    await a.expect(lambda e: is_presence(e, bare("bob"), "subscribe"), TIMEOUT, since=mark_a)
    mark_b = len(b.inbox)
    a.send_stanza(f"<presence to='{bare('bob')}' type='subscribed'/>")
    await b.expect(lambda e: is_presence(e, bare("alice") + "/a", ""), TIMEOUT, since=mark_b)
    say("bob subscribed back: both directions, each node saw the other's presence")

    # Both rosters, read on a third node, say 'both'.
    async def roster_of(user, node):
        c = await connect(node, user, "roster-check")
        r = await c.iq("<query xmlns='jabber:iq:roster'/>")
        await c.close()
        items = {i.get("jid"): i.get("subscription") for i in r.iter()
                 if local(i) == "item"}
        return items
    ra = await roster_of("alice", n3)
    rb = await roster_of("bob", n3)
    check(ra.get(bare("bob")) == "both", f"alice's roster read on n3: {ra}")
    check(rb.get(bare("alice")) == "both", f"bob's roster read on n3: {rb}")
    say("both rosters read on n3: subscription 'both'")

    # bob goes away and comes back on n3: alice (n1) sees both.
    mark_a = len(a.inbox)
    await b.close()
    await a.expect(lambda e: is_presence(e, bare("bob") + "/b", "unavailable"), TIMEOUT,
                   since=mark_a)
    mark_a = len(a.inbox)
    b3 = await connect(n3, "bob", "b3")
    mark_b3 = len(b3.inbox)
    await b3.presence(timeout=TIMEOUT)
    await a.expect(lambda e: is_presence(e, bare("bob") + "/b3", ""), TIMEOUT, since=mark_a)
    # The probe at bob's login is answered by n1, where alice is.
    await b3.expect(lambda e: is_presence(e, bare("alice") + "/a", ""), TIMEOUT, since=mark_b3)
    say("bob left n2 (alice saw unavailable) and logged in on n3: alice saw him, "
        "and n1 answered his probe with alice's presence")
    await a.close()
    await b3.close()


async def c_e2e_cli_across_nodes(cl):
    """The `xmpp` CLI end to end encrypted between nodes: bob's device keys
    published on n2 are claimed through n1 (the shared key bucket), alice's
    message reaches bob decrypted and alice sees it delivered; a second
    message while bob is offline is read from his backlog on n3."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cli_test import Cli, Reader  # noqa: E402
    xmpp = os.environ.get("XD_XMPP_CLI", "")
    check(os.path.exists(xmpp), f"XD_XMPP_CLI must name the xmpp binary, got {xmpp!r}")
    n1, n2, n3 = cl.nodes
    work = os.path.join(os.path.dirname(n1.workdir), "cli")
    os.makedirs(work, exist_ok=True)
    alice = Cli(xmpp, n1, "alice", work)
    bob = Cli(xmpp, n2, "bob", work)
    alice.register()
    bob.register()  # publishes bob's device keys on n2
    say("alice registered with the CLI on n1, bob on n2 (keys published there)")
    bob_chat = bob.popen("chat", alice.jid)
    bob_r = Reader(bob_chat)
    bob_r.wait(lambda e: e["event"] == "ready", what="bob ready")
    text = "across the cluster, sealed"
    p = alice.run("send", bob.jid, text)
    check(p.returncode == 0, f"alice send rc={p.returncode} {p.stderr}")
    m = bob_r.wait(lambda e: e["event"] == "message" and e["body"] == text, what="bob gets it")
    check(m["encrypted"] and m["peer"] == alice.jid, f"{m}")
    say("alice (n1) -> bob (n2): decrypted by bob; the session was built from keys "
        "claimed through n1")
    bob_chat.stdin.close()
    check(bob_chat.wait(timeout=20) == 0, f"bob chat rc {bob_chat.returncode}")

    later = "while you were away"
    p = alice.run("send", bob.jid, later)
    check(p.returncode == 0, f"second send rc={p.returncode} {p.stderr}")
    bob3 = Cli(xmpp, n3, "bob", work)  # the same device data, another node
    p = bob3.run("listen", "--catch-up")
    check(p.returncode == 0, f"bob listen on n3 rc={p.returncode} {p.stderr}")
    got = [e for e in bob3.events(p.stdout) if e.get("event") == "message"]
    check([e["body"] for e in got] == [later] and got[0]["encrypted"],
          f"bob's backlog on n3: {got}")
    say("bob offline; alice's next message read from his backlog on n3, decrypted")
    for node in cl.nodes:
        check(not any(text.encode() in open(f, "rb").read()
                      for f in glob.glob(os.path.join(node.data, "*"))),
              f"{node.node_id}'s files hold the plaintext")
    say("no node's files hold the plaintext")


CASES = {n[2:]: f for n, f in globals().items() if n.startswith("c_")}
EXTRA_ARGS = {"kill9_node_under_load": ["--set", "read_rate_bytes=0"]}


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} XMPPD CASE; cases: {' '.join(CASES)}")
    xmppd, name = sys.argv[1], sys.argv[2]
    if name not in CASES:
        sys.exit(f"unknown case {name}; cases: {' '.join(CASES)}")
    base = tempfile.mkdtemp(prefix="xd-cluster-")
    ok = False
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def run(cl):
        try:
            await asyncio.wait_for(CASES[name](cl), CASE_TIMEOUT)
        finally:
            await Client.close_all()

    def on_sigterm(signum, frame):
        # meson's timeout: SIGTERM to the whole process group. Fail here,
        # so that the logs are printed while they are still there.
        raise AssertionError(f"SIGTERM after {time.monotonic() - t0:.0f}s (test timeout?)")
    signal.signal(signal.SIGTERM, on_sigterm)

    t0 = time.monotonic()
    try:
        with NatsCluster(base_dir=os.path.join(base, "nats")) as nats:
            print(f"{name}: NATS cluster ready ({nats.urls})", flush=True)
            cl = Cluster(xmppd, nats, base, EXTRA_ARGS.get(name, []))
            try:
                cl.start()
                loop.run_until_complete(run(cl))
            except BaseException:
                traceback.print_exc()
                cl.report()
                cl.stop()
                raise
            problems = cl.stop()
            if problems:
                cl.report()
                raise AssertionError("; ".join(problems))
        ok = True
    except Exception as e:  # noqa: BLE001 (the verdict line)
        print(f"{name}: FAILED: {e}", flush=True)
    finally:
        if ok or not os.environ.get("XD_KEEP"):
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept {base}")
    if not ok:
        sys.exit(1)
    print(f"{name}: ok ({time.monotonic() - t0:.1f}s)")


if __name__ == "__main__":
    main()
