"""A small asyncio XMPP client for integration tests: raw enough to send
exactly what a test wants, complete enough to log in and do stream
management.

- TCP, STARTTLS with tests/data/certs/ca.pem (or plaintext against a server
  run with --allow-plaintext), direct TLS is not needed by the tests.
- SASL PLAIN when offered, else SCRAM-SHA-256 / SCRAM-SHA-1 without channel
  binding; XEP-0077 in-band registration; resource binding; presence.
- XEP-0198: <enable resume>, counting inbound stanzas, answering <r/>
  (optionally also acking unsolicited on a timer), <r/> requests, tracking
  which outbound stanzas the server's <a h> covers (mod 2^32), <resume> with
  previd + h and resending what the server did not count.
- Incoming XML is parsed incrementally (xml.etree XMLPullParser fed the
  stream header); every top-level element is kept in |inbox| and handed to
  tests through expect()/wait_until().

Only the standard library is used, so the crash test runs it with any
python3."""
import asyncio
import base64
import hashlib
import hmac
import itertools
import os
import ssl
import time
import weakref
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "certs")
CA = os.path.join(CERTS, "ca.pem")

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SM = "urn:xmpp:sm:3"
NS_SID = "urn:xmpp:sid:0"
NS_DELAY = "urn:xmpp:delay"
NS_CATCHUP = "urn:xmppd:catchup:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_REGISTER = "jabber:iq:register"
NS_PING = "urn:xmpp:ping"

STANZA_TAGS = {f"{{{NS_CLIENT}}}message", f"{{{NS_CLIENT}}}presence", f"{{{NS_CLIENT}}}iq"}
MOD = 1 << 32

_ids = itertools.count(1)


def next_id(prefix="c"):
    return f"{prefix}{next(_ids)}"


def q(value):
    """An XML attribute value with its quotes."""
    return quoteattr(str(value))


def local(el):
    return el.tag.rsplit("}", 1)[-1]


def ns(el):
    return el.tag[1:].split("}", 1)[0] if el.tag.startswith("{") else ""


def is_tag(el, name, namespace):
    return el.tag == f"{{{namespace}}}{name}"


def child(el, name, namespace):
    return el.find(f"{{{namespace}}}{name}")


def text_of(el, name, namespace=NS_CLIENT):
    c = child(el, name, namespace)
    return None if c is None else (c.text or "")


ET.register_namespace("", NS_CLIENT)
ET.register_namespace("stream", NS_STREAM)


def to_xml(el, limit=2000):
    """The element as XML for messages (at most |limit| characters)."""
    if el is None:
        return "None"
    text = ET.tostring(el, encoding="unicode")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def is_message(el):
    return is_tag(el, "message", NS_CLIENT)


def catchup_of(el):
    """The urn:xmppd:catchup:0 marker of a message (spec/delivery.md §4), or None."""
    return child(el, "catchup", NS_CATCHUP) if is_message(el) else None


def origin_id_of(el):
    c = child(el, "origin-id", NS_SID)
    return None if c is None else c.get("id")


def stanza_ids_of(el):
    return [(c.get("id"), c.get("by")) for c in el.findall(f"{{{NS_SID}}}stanza-id")]


def error_condition(el):
    """The defined condition of a stanza error (first child of <error/>), or None."""
    err = child(el, "error", NS_CLIENT)
    if err is None:
        return None, None
    for c in err:
        if ns(c) == NS_STANZAS and local(c) != "text":
            return local(c), err.get("type")
    return None, err.get("type")


class XmppError(Exception):
    pass


class StreamClosed(XmppError):
    pass


def _hi(hname, password, salt, iterations):
    return hashlib.pbkdf2_hmac(hname, password, salt, iterations)


_scram_cache = {}


class Client:
    """One XMPP connection. Typical use:

        c = Client(server.port, server.domain)
        await c.login("alice", "pw", resource="r", sm=True)
        await c.presence()
        c.send_message("bob@localhost", "hi", origin_id="alice:1")
        await c.expect(lambda e: ...)
    """

    live = weakref.WeakSet()  # every Client not yet closed, for close_all()

    def __init__(self, port, domain="localhost", host="127.0.0.1", name=None, log=None):
        Client.live.add(self)
        self.port = port
        self.domain = domain
        self.host = host
        self.name = name or "client"
        self.logf = log  # callable(str) or None: a transcript of the stream
        self.reader = self.writer = None
        self.parser = None
        self.root = None
        self.depth = 0
        self.pending = []  # complete top-level elements not yet consumed
        self.inbox = []  # every top-level element received after negotiation
        self.changed = asyncio.Event()
        self.closed = False  # the server closed (EOF, </stream:stream> or reset)
        self.stream_end = False  # the server sent </stream:stream>
        self.stream_error = None  # the <stream:error/> element
        self.features = None
        self.jid = None
        self.tls = False
        self.reader_task = None
        self.ack_task = None
        self.on_stanza = None  # callable(element) for every inbound stanza
        self.on_acked = None  # callable(meta) when <a h> covers an outbound stanza
        # XEP-0198 state.
        self.sm = False  # <enabled/> received on this connection
        self.sm_enable_sent = False
        self.sm_id = None
        self.sm_max = None
        self.sm_failed = None
        self.sm_enabled = None
        self.sm_resumed = None
        self.auto_ack = True  # answer <r/>
        self.h_in = 0  # inbound stanzas handled (mod 2^32 on the wire)
        self.h_in_acked = 0
        self.out_base = 0  # server h of unacked[0] minus one (absolute, not mod)
        self.unacked = []  # [(xml, meta)], oldest first
        self.last_h = None  # last h the server sent (raw)
        self.acks = 0  # <a/> elements received
        self.protocol_errors = []  # things the server did that XEP-0198 forbids

    # ------------------------------------------------------------ transport

    def _log(self, direction, data):
        if self.logf:
            self.logf(f"{time.monotonic():.3f} {self.name} {direction} {data}")

    async def open(self, tls=True, timeout=10):
        """TCP connect and the first stream header; STARTTLS if |tls|.
        Returns the stream features element."""
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=1 << 22), timeout)
        await self._restart_stream()
        if tls:
            if child(self.features, "starttls", NS_TLS) is None:
                raise XmppError("no <starttls/> offered: " + to_xml(self.features))
            self.send_raw(f"<starttls xmlns='{NS_TLS}'/>")
            reply = await self.next_element(timeout)
            if not is_tag(reply, "proceed", NS_TLS):
                raise XmppError("STARTTLS refused: " + to_xml(reply))
            ctx = ssl.create_default_context(cafile=CA)
            await self.writer.start_tls(ctx, server_hostname=self.domain)
            self.tls = True
            await self._restart_stream()
        return self.features

    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.root = None
        self.depth = 0
        self.pending = []

    async def _restart_stream(self, timeout=10):
        self._new_parser()
        self.send_raw("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' "
                      f"to={q(self.domain)} version='1.0'>")
        self.features = await self.next_element(timeout)
        if not is_tag(self.features, "features", NS_STREAM):
            raise XmppError("expected stream features, got " + to_xml(self.features))
        return self.features

    def send_raw(self, data):
        if self.closed or self.writer is None or self.writer.is_closing():
            return False
        self._log(">>", data)
        self.writer.write(data.encode() if isinstance(data, str) else data)
        return True

    async def flush(self):
        if self.writer is not None and not self.writer.is_closing():
            try:
                await self.writer.drain()
            except (ConnectionError, OSError):
                self._mark_closed()

    def _feed(self, data):
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                if self.depth == 0:
                    self.root = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    self.root.remove(el)
                elif self.depth == 0:
                    self.stream_end = True

    async def next_element(self, timeout=10):
        """The next complete top-level element (negotiation only: before the
        reader task runs). Raises StreamClosed on end of stream."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.pending:
            if self.stream_end or self.closed:
                raise StreamClosed(self._close_reason())
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise asyncio.TimeoutError(f"{self.name}: no element within {timeout}s")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except (ConnectionError, OSError, ssl.SSLError):
                data = b""
            if not data:
                self._mark_closed()
                continue
            self._log("<<", data.decode("utf-8", "replace"))
            try:
                self._feed(data)
            except ET.ParseError as e:
                self._mark_closed()
                raise StreamClosed(f"{self.name}: not well-formed from server: {e}")
        el = self.pending.pop(0)
        if is_tag(el, "error", NS_STREAM):
            self.stream_error = el
        return el

    def _close_reason(self):
        if self.stream_error is not None:
            return f"{self.name}: stream error {self.stream_error_condition()}"
        return f"{self.name}: stream closed"

    def _mark_closed(self):
        if not self.closed:
            self.closed = True
            self.changed.set()
        Client.live.discard(self)

    def stream_error_condition(self):
        if self.stream_error is None:
            return None
        for c in self.stream_error:
            if ns(c) == NS_STREAMS_ERR and local(c) != "text":
                return local(c)
        return None

    def abort(self):
        """An abrupt close: no </stream:stream>, no TLS close_notify."""
        if self.writer is not None:
            self.writer.transport.abort()
        self._mark_closed()
        for t in (self.reader_task, self.ack_task):
            if t:
                t.cancel()

    async def close(self, timeout=5):
        """</stream:stream> and wait for the server's."""
        if self.sm:
            self.send_ack()
        self.send_raw("</stream:stream>")
        try:
            await self.wait_until(lambda: self.closed or self.stream_end, timeout)
        except asyncio.TimeoutError:
            pass
        self.abort()

    @staticmethod
    async def close_all(timeout=2):
        """Ends every open stream (so a server stop does not wait for them)."""
        clients = list(Client.live)
        await asyncio.gather(*(c.close(timeout) for c in clients if c.writer is not None),
                             return_exceptions=True)
        for c in clients:
            c.abort()

    async def wait_closed(self, timeout=10):
        """True when the server ended the stream within |timeout|."""
        try:
            await self.wait_until(lambda: self.closed, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # ------------------------------------------------------------- SASL

    async def authenticate(self, user, password, mechanism=None, timeout=10):
        """SASL, then the stream restart. Returns None on success or the
        <failure/> condition name."""
        mechs = [m.text for m in self.features.iter(f"{{{NS_SASL}}}mechanism")]
        if mechanism is None:
            for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"):
                if m in mechs:
                    mechanism = m
                    break
            else:
                raise XmppError(f"no usable SASL mechanism in {mechs}")
        if mechanism == "PLAIN":
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            self.send_raw(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
            reply = await self.next_element(timeout)
        else:
            reply = await self._scram(mechanism, user, password, timeout)
        if not is_tag(reply, "success", NS_SASL):
            cond = [local(c) for c in reply if local(c) != "text"]
            return cond[0] if cond else local(reply)
        await self._restart_stream()
        return None

    async def _scram(self, mechanism, user, password, timeout):
        hname = "sha256" if mechanism.startswith("SCRAM-SHA-256") else "sha1"
        nonce = base64.b64encode(os.urandom(18)).decode()
        gs2 = "n,,"
        name = user.replace("=", "=3D").replace(",", "=2C")
        first_bare = f"n={name},r={nonce}"
        self.send_raw(f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>"
                      f"{base64.b64encode((gs2 + first_bare).encode()).decode()}</auth>")
        challenge = await self.next_element(timeout)
        if not is_tag(challenge, "challenge", NS_SASL):
            return challenge
        server_first = base64.b64decode(challenge.text or "").decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(nonce):
            raise XmppError("SCRAM: server nonce does not extend ours")
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        key = (hname, password, salt, iterations)
        salted = _scram_cache.get(key)
        if salted is None:
            salted = _scram_cache[key] = _hi(hname, password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hname).digest()
        stored_key = hashlib.new(hname, client_key).digest()
        final_wo_proof = f"c={base64.b64encode(gs2.encode()).decode()},r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{final_wo_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hname).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = f"{final_wo_proof},p={base64.b64encode(proof).decode()}"
        self.send_raw(f"<response xmlns='{NS_SASL}'>{base64.b64encode(final.encode()).decode()}</response>")
        reply = await self.next_element(timeout)
        if is_tag(reply, "success", NS_SASL) and reply.text:
            server_key = hmac.new(salted, b"Server Key", hname).digest()
            expected = base64.b64encode(hmac.new(server_key, auth_message, hname).digest()).decode()
            got = base64.b64decode(reply.text).decode()
            if got != f"v={expected}":
                raise XmppError("SCRAM: wrong server signature")
        return reply

    # ---------------------------------------------------- login helpers

    async def register(self, user, password, timeout=10):
        """XEP-0077 before authentication. Returns None or the error condition."""
        iq_id = next_id("reg")
        self.send_raw(f"<iq type='set' id={q(iq_id)}><query xmlns='{NS_REGISTER}'>"
                      f"<username>{escape(user)}</username><password>{escape(password)}</password>"
                      "</query></iq>")
        reply = await self.next_element(timeout)
        if reply.get("type") == "result":
            return None
        return error_condition(reply)[0] or to_xml(reply)

    async def bind(self, resource=None, timeout=10):
        res = f"<resource>{escape(resource)}</resource>" if resource else ""
        self.send_raw(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>{res}</bind></iq>")
        reply = await self.next_element(timeout)
        jid = reply.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        if reply.get("type") != "result" or jid is None:
            raise XmppError(f"{self.name}: bind failed: {to_xml(reply)}")
        self.jid = jid.text
        return self.jid

    async def login(self, user, password, resource=None, tls=True, sm=False, resume=True,
                    mechanism=None, timeout=10):
        """Connect, authenticate, bind, optionally enable SM; starts the
        reader task. Raises XmppError when authentication fails."""
        await self.open(tls=tls, timeout=timeout)
        failure = await self.authenticate(user, password, mechanism, timeout)
        if failure:
            raise XmppError(f"{self.name}: SASL failure {failure}")
        await self.bind(resource, timeout)
        self.start_reader()
        if sm:
            await self.enable_sm(resume=resume, timeout=timeout)
        return self.jid

    def start_reader(self):
        # Elements that arrived with the last negotiation reply.
        early, self.pending = self.pending, []
        for el in early:
            self._dispatch(el)
        self.reader_task = asyncio.ensure_future(self._reader())

    async def _reader(self):
        try:
            while True:
                el = await self.next_element(timeout=None)
                self._dispatch(el)
        except StreamClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 (a test client: surface, do not die silently)
            self.protocol_errors.append(f"reader: {e!r}")
        finally:
            self._mark_closed()

    def _dispatch(self, el):
        if el.tag in STANZA_TAGS:
            if self.sm:
                self.h_in = (self.h_in + 1) % MOD
            self.inbox.append(el)
            if self.on_stanza:
                self.on_stanza(el)
        elif ns(el) == NS_SM:
            self._sm_element(el)
        else:
            self.inbox.append(el)
        self.changed.set()

    # ---------------------------------------------------------- stanzas

    def send_stanza(self, xml, meta=None):
        """A stanza that counts for XEP-0198 once <enable/> was sent."""
        if self.sm_enable_sent:
            self.unacked.append((xml, meta))
        return self.send_raw(xml)

    def send_message(self, to, body=None, origin_id=None, mtype="chat", msg_id=None, extra="",
                     meta=None):
        msg_id = msg_id or next_id("m")
        parts = [f"<message to={q(to)} id={q(msg_id)}"]
        if mtype:
            parts.append(f" type={q(mtype)}")
        parts.append(">")
        if body is not None:
            parts.append(f"<body>{escape(str(body))}</body>")
        if origin_id is not None:
            parts.append(f"<origin-id xmlns='{NS_SID}' id={q(origin_id)}/>")
        parts.append(extra)
        parts.append("</message>")
        self.send_stanza("".join(parts), meta)
        return msg_id

    def send_presence(self, priority=None, extra=""):
        prio = f"<priority>{priority}</priority>" if priority is not None else ""
        self.send_stanza(f"<presence>{prio}{extra}</presence>")

    async def presence(self, priority=None, catchup=True, timeout=10):
        """Initial presence; with |catchup|, waits for the backlog (spec §4)
        and returns (start_marker, [stored stanzas], done_marker)."""
        mark = len(self.inbox)
        self.send_presence(priority)
        if not catchup:
            return None
        return await self.catchup(since=mark, timeout=timeout)

    async def catchup(self, since=0, timeout=10):
        async def marker(state, since):
            try:
                return await self.expect(lambda e: catchup_of(e) is not None and
                                         catchup_of(e).get("state") == state, timeout, since=since)
            except asyncio.TimeoutError:
                got = [to_xml(e, 300) for e in self.inbox[since:]]
                raise XmppError(f"{self.name}: no catch-up '{state}' marker within {timeout}s "
                                f"({len(got)} elements arrived: {got[:3]}...)") from None
        start = await marker("start", since)
        si = self.inbox.index(start)
        done = await marker("done", si)
        di = self.inbox.index(done)
        between = [e for e in self.inbox[si + 1:di] if is_message(e)]
        return start, between, done

    async def iq(self, body, to=None, itype="get", timeout=10):
        iq_id = next_id("iq")
        to_attr = f" to={q(to)}" if to else ""
        self.send_stanza(f"<iq type={q(itype)} id={q(iq_id)}{to_attr}>{body}</iq>")
        return await self.expect(lambda e: is_tag(e, "iq", NS_CLIENT) and e.get("id") == iq_id and
                                 e.get("type") in ("result", "error"), timeout)

    async def ping(self, timeout=10):
        """A round trip to the server: everything sent before is processed."""
        return await self.iq(f"<ping xmlns='{NS_PING}'/>", to=self.domain, timeout=timeout)

    def messages(self, since=0):
        return [e for e in self.inbox[since:] if is_message(e)]

    def chat_messages(self, since=0):
        """Messages with a body (no catch-up markers, no receipts-only)."""
        return [e for e in self.messages(since) if child(e, "body", NS_CLIENT) is not None]

    # ---------------------------------------------------------- waiting

    async def wait_until(self, cond, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"{self.name}: condition not met within {timeout}s")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    async def expect(self, pred, timeout=10, since=0):
        """The first element of inbox[since:] matching |pred|, waiting for it."""
        def find():
            for e in self.inbox[since:]:
                if pred(e):
                    return (e,)  # an Element without children is falsy
            if self.closed:
                raise StreamClosed(self._close_reason() + " while waiting")
            return None
        return (await self.wait_until(find, timeout))[0]

    async def expect_absent(self, pred, wait=0.5, since=0):
        await asyncio.sleep(wait)
        found = [e for e in self.inbox[since:] if pred(e)]
        if found:
            raise AssertionError(f"{self.name}: unexpected {to_xml(found[0])}")

    # --------------------------------------------------------- XEP-0198

    async def enable_sm(self, resume=True, timeout=10):
        """<enable/>; returns the <enabled/> or <failed/> element."""
        self.sm_enable_sent = True
        self.unacked = []
        self.out_base = 0
        self.h_in = 0
        self.h_in_acked = 0
        self.last_h = None
        self.sm_failed = None
        res = " resume='true'" if resume else ""
        self.send_raw(f"<enable xmlns='{NS_SM}'{res}/>")
        await self.wait_until(lambda: self.sm or self.sm_failed is not None or self.closed, timeout)
        if not self.sm:
            self.sm_enable_sent = False
            if self.sm_failed is not None:
                return self.sm_failed
            raise StreamClosed(self._close_reason() + " after <enable/>")
        return self.sm_enabled

    def _sm_element(self, el):
        name = local(el)
        if name == "enabled":
            self.sm = True
            self.sm_enabled = el
            self.sm_id = el.get("id")
            self.sm_max = el.get("max")
        elif name == "resumed":
            self.sm_resumed = el
        elif name == "failed":
            self.sm_failed = el
        elif name == "r":
            if self.sm and self.auto_ack:
                self.send_ack()
        elif name == "a":
            self._on_ack(el.get("h"))
        self.inbox.append(el)

    def _on_ack(self, h_attr):
        self.acks += 1
        try:
            h = int(h_attr)
        except (TypeError, ValueError):
            self.protocol_errors.append(f"<a h={h_attr!r}> is not a number")
            return
        self._apply_h(h)

    def _apply_h(self, h, resumed=False):
        self.last_h = h
        delta = (h - self.out_base) % MOD
        if delta > len(self.unacked):
            if resumed and delta > MOD // 2:
                # <resumed h> below what was acknowledged before (spec §5,
                # after a restart): the server's numbering restarts at h.
                self.out_base = h
                return
            self.protocol_errors.append(
                f"<a h='{h}'> covers {delta} stanzas but only {len(self.unacked)} are unacked")
            delta = len(self.unacked)
        done, self.unacked = self.unacked[:delta], self.unacked[delta:]
        self.out_base = (self.out_base + delta) % MOD
        if self.on_acked:
            for _, meta in done:
                self.on_acked(meta)

    @property
    def out_count(self):
        return (self.out_base + len(self.unacked)) % MOD

    def request_ack(self):
        self.send_raw(f"<r xmlns='{NS_SM}'/>")

    def send_ack(self):
        if self.send_raw(f"<a xmlns='{NS_SM}' h='{self.h_in}'/>"):
            self.h_in_acked = self.h_in

    def start_periodic_ack(self, interval=0.2):
        """Unsolicited <a/> whenever |h_in| moved (XEP-0198 §4 allows it)."""
        async def loop():
            while not self.closed:
                await asyncio.sleep(interval)
                if self.sm and self.auto_ack and self.h_in != self.h_in_acked:
                    self.send_ack()
        self.ack_task = asyncio.ensure_future(loop())

    async def wait_acked(self, timeout=10, request=True):
        """Until every outbound stanza is covered by the server's h."""
        if request:
            self.request_ack()
        await self.wait_until(lambda: not self.unacked or self.closed, timeout)
        if self.unacked:
            raise StreamClosed(self._close_reason() + f" with {len(self.unacked)} unacked")

    async def resume(self, user, password, previd, h, unacked=(), out_base=0, tls=True,
                     mechanism=None, timeout=10):
        """A new connection that resumes |previd| (XEP-0198 §5). |h| is the
        inbound count of the old stream, |unacked|/|out_base| its outbound
        state. Returns the <resumed/> or <failed/> element; on <resumed/> the
        reader runs and every stanza the server did not count was resent."""
        await self.open(tls=tls, timeout=timeout)
        failure = await self.authenticate(user, password, mechanism, timeout)
        if failure:
            raise XmppError(f"{self.name}: SASL failure {failure}")
        self.send_raw(f"<resume xmlns='{NS_SM}' previd={q(previd)} h='{h % MOD}'/>")
        reply = await self.next_element(timeout)
        if not (ns(reply) == NS_SM and local(reply) == "resumed"):
            if ns(reply) == NS_SM and local(reply) == "failed":
                self.sm_failed = reply
            return reply
        self.sm = True
        self.sm_enable_sent = True
        self.sm_id = previd
        self.sm_resumed = reply
        self.h_in = h % MOD
        self.h_in_acked = self.h_in
        self.unacked = list(unacked)
        self.out_base = out_base
        self._apply_h(int(reply.get("h", "0")), resumed=True)
        self.start_reader()
        for xml, _ in self.unacked:
            self.send_raw(xml)
        return reply

    def sm_state(self):
        """What a later resume() needs from this connection."""
        return dict(previd=self.sm_id, h=self.h_in, unacked=list(self.unacked),
                    out_base=self.out_base)
