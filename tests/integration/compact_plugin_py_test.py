#!/usr/bin/python3
"""The slixmpp compact plugin (client/slixmpp_compact) against a scripted
server written with the Python codec: negotiation in feature mode (with and
without compression, refused, not offered without TLS), the switch of the
transport when frames follow <compacted/> in the same read, acks, unknown
top-level elements, keepalives, the CLOSE frame, a malformed frame from the
server, and the direct mode (preface, OPEN frames). The live interop with a
real xmppd is compact_interop_test.py.

Usage: compact_plugin_py_test.py [unittest args]   (Debian's python3-slixmpp)."""
import asyncio
import logging
import os
import ssl
import sys
import unittest
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "client", "slixmpp_compact"))

import slixmpp  # noqa: E402

import xmppd_compact  # noqa: E402,F401  (registers 'xep_compact')
from xmppd_compact import codec as C  # noqa: E402

CERTS = os.path.join(ROOT, "tests", "data", "certs")
DOMAIN = "localhost"
TIMEOUT = 10
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
STREAM_HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' id='s%d' from='localhost' "
                 "version='1.0' xml:lang='en'>")


class XmlReader:
    """The fake server's XML side: stream header, then top-level elements."""

    def __init__(self):
        self.parser = ET.XMLPullParser(("start", "end"))
        self.depth = 0
        self.ready = []

    def feed(self, data: bytes):
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                if self.depth == 0:
                    self.ready.append(("header", el))
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(("element", el))
                elif self.depth == 0:
                    self.ready.append(("close", None))


class FakeServer:
    """One scripted xmppd-like server; |script| options select behaviour."""

    def __init__(self, tls=True, offer=True, offer_compression=True, refuse=None,
                 direct=False, grant_compression=True, trailing_frame=True, bad_frame=False,
                 answer_delay=0.0):
        self.tls = tls
        self.offer = offer
        self.offer_compression = offer_compression
        self.refuse = refuse
        self.direct = direct
        self.grant_compression = grant_compression
        self.trailing_frame = trailing_frame
        self.bad_frame = bad_frame
        self.answer_delay = answer_delay
        self.got_compact_request = asyncio.Event()
        self.alpn = None
        self.log = []  # what the server saw: ('xml', element) / ('frame', kind, compressed, element)
        self.compact_request = None
        self.closed = asyncio.Event()
        self.got_close = False
        self.keepalives = 0
        self.server = None
        self.port = None

    async def start(self):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server.key"))
            if self.direct:
                ctx.set_alpn_protocols([C.ALPN_PROTOCOL])
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader, writer):
        tls = writer.get_extra_info("ssl_object")
        self.alpn = tls.selected_alpn_protocol() if tls else None
        try:
            if self.direct:
                await self.direct_session(reader, writer)
            else:
                await self.session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.closed.set()

    # -------------------------------------------------- XML part

    async def next_xml(self, reader, xr):
        while not xr.ready:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("eof")
            xr.feed(data)
        return xr.ready.pop(0)

    async def session(self, reader, writer):
        xr = XmlReader()
        kind, _ = await self.next_xml(reader, xr)
        assert kind == "header"
        writer.write((STREAM_HEADER % 1 + "<stream:features><mechanisms xmlns='%s'><mechanism>"
                      "PLAIN</mechanism></mechanisms></stream:features>" % SASL_NS).encode())
        kind, auth = await self.next_xml(reader, xr)
        assert auth.tag == "{%s}auth" % SASL_NS, auth.tag
        writer.write(b"<success xmlns='%s'/>" % SASL_NS.encode())
        xr = XmlReader()
        kind, _ = await self.next_xml(reader, xr)
        assert kind == "header"
        compact = ""
        if self.offer:
            compact = ("<compact xmlns='urn:xmppd:compact:1' dictionary='1'>%s</compact>" %
                       ("<compression>zstd</compression>" if self.offer_compression else ""))
        writer.write((STREAM_HEADER % 2 + "<stream:features><bind xmlns='%s'/>%s"
                      "</stream:features>" % (BIND_NS, compact)).encode())
        kind, el = await self.next_xml(reader, xr)
        while True:
            if el.tag == "{urn:xmppd:compact:1}compact":
                self.compact_request = dict(el.attrib)
                self.got_compact_request.set()
                if self.answer_delay:
                    await asyncio.sleep(self.answer_delay)
                if self.refuse:
                    writer.write(("<failure xmlns='urn:xmppd:compact:1'><%s/></failure>" %
                                  self.refuse).encode())
                    kind, el = await self.next_xml(reader, xr)
                    continue
                compression = (self.grant_compression and self.offer_compression
                               and el.get("compression") == "zstd")
                out = ("<compacted xmlns='urn:xmppd:compact:1'%s/>" %
                       (" compression='zstd'" if compression else "")).encode()
                codec = C.Codec(C.default_dictionary(), DOMAIN)
                enc = C.FrameEncoder(codec, compression)
                if self.trailing_frame:
                    # Frames in the same write as <compacted/>: an unknown
                    # top-level element the client must ignore.
                    out += enc.element_frame(C.parse_xml("<hello xmlns='urn:example:unknown'/>")[0])
                writer.write(out)
                dec = C.FrameDecoder(codec, C.POST_AUTH_LIMITS, compression)
                # The client sends nothing between <compact/> and
                # <compacted/>, so the XML reader holds no frame bytes.
                return await self.frames(reader, writer, enc, dec)
            # XML session (no compact): answer bind, echo messages.
            self.log.append(("xml", el))
            reply = self.answer(C.from_etree(el))
            for r in reply:
                writer.write(ET.tostring(C.to_etree(r)))
            kind, el = await self.next_xml(reader, xr)
            if kind == "close":
                self.got_close = True
                writer.write(b"</stream:stream>")
                return

    def answer(self, e: C.Element):
        """Replies to a client stanza: bind result, ack + echo for messages."""
        out = []
        if e.name == "iq" and e.children and isinstance(e.children[0], C.Element) \
                and e.children[0].name == "bind":
            out.append(C.parse_xml(
                "<iq type='result' id='%s'><bind xmlns='%s'><jid>alice@localhost/res</jid></bind>"
                "</iq>" % (e.attr("id"), BIND_NS))[0])
        elif e.name == "message" and e.attr("type") != "error":
            mid = e.attr("id") or ""
            out.append(C.Element(C.COMPACT_NS, "ack", [("", "id", mid), ("", "stanza-id", "1042"),
                                                     ("", "stamp", "2026-11-28T06:15:34.123Z")]))
            echo = C.Element("jabber:client", "message",
                             [("", "from", "bob@localhost/phone"), ("", "to", "alice@localhost/res"),
                              ("", "type", "chat"), ("", "id", "echo-" + mid)],
                             [c for c in e.children if isinstance(c, C.Element)])
            out.append(echo)
        return out

    # -------------------------------------------------- frames part

    async def frames(self, reader, writer, enc, dec):
        while True:
            for ev in dec.events():
                if ev.type == "error":
                    self.log.append(("error", ev.condition))
                    return
                if ev.type == "close":
                    self.got_close = True
                    writer.write(C.CLOSE_FRAME)
                    await writer.drain()
                    return
                if ev.type == "open":
                    self.log.append(("open", ev.element))
                    await self.on_open(writer, enc, ev.element)
                    continue
                self.log.append(("frame", self.last_compressed, ev.element))
                await self.on_element(writer, enc, ev.element)
            data = await reader.read(65536)
            if not data:
                return
            self.scan_kinds(data)
            dec.feed(data)

    last_compressed = False

    def scan_kinds(self, data):
        # Note whether frames were compressed / keepalives (coarse: per read).
        i = 0
        while i < len(data):
            res, length, p = C.read_varint(data, i, len(data))
            if res != C.VARINT_OK or p >= len(data):
                return
            flags = data[p]
            if flags & C.FRAME_KIND_MASK == C.KIND_KEEPALIVE:
                self.keepalives += 1
            self.last_compressed = bool(flags & C.FRAME_COMPRESSED)
            i = p + length

    async def on_element(self, writer, enc, e):
        out = b""
        if self.direct and e.name == "auth":  # SASL PLAIN in frames
            writer.write(enc.element_frame(C.Element(SASL_NS, "success")))
            return
        if self.bad_frame and e.name == "message":
            writer.write(bytes([0x02, 0x00, 0x40]))  # reserved header bits
            return
        for r in self.answer(e):
            out += enc.element_frame(r)
        if out:
            writer.write(out)

    # -------------------------------------------------- direct mode

    async def direct_session(self, reader, writer):
        pre = await reader.readexactly(5)
        self.preface = pre
        res, fields = C.parse_preface(pre)
        assert res == C.PREFACE_OK, pre
        writer.write(C.preface(self.grant_compression))
        compression = bool(fields[2] & 1) and self.grant_compression
        codec = C.Codec(C.default_dictionary(), "")
        enc = C.FrameEncoder(codec, compression)
        dec = C.FrameDecoder(codec, C.PRE_AUTH_LIMITS, compression)
        self.direct_state = {"codec": codec, "dec": dec, "opens": 0}
        await self.frames(reader, writer, enc, dec)

    async def on_open(self, writer, enc, header):
        st = self.direct_state
        st["opens"] += 1
        st["codec"].domain = header.attr("to") or ""
        reply = C.Element(C.STREAM_NS, "stream", [("", "from", DOMAIN), ("", "id", "d%d" % st["opens"]),
                                                  ("", "version", "1.0"), (C.XML_NS, "lang", "en")])
        out = enc.open_frame(reply)
        if st["opens"] == 1:
            features = C.parse_xml("<stream:features><mechanisms xmlns='%s'><mechanism>PLAIN"
                                   "</mechanism></mechanisms></stream:features>" % SASL_NS)[0]
        else:
            st["dec"].limits = C.POST_AUTH_LIMITS
            features = C.parse_xml("<stream:features><bind xmlns='%s'/></stream:features>"
                                   % BIND_NS)[0]
        out += enc.element_frame(features)
        writer.write(out)


class Client(slixmpp.ClientXMPP):
    def __init__(self, compact_config=None, tls=True):
        super().__init__("alice@localhost/res", "secret")
        self.ssl_context.load_verify_locations(os.path.join(CERTS, "ca.pem"))
        self.register_plugin("xep_compact", compact_config or {})
        fm = self["feature_mechanisms"]
        fm.use_mechs = {"PLAIN"}
        if not tls:
            fm.unencrypted_plain = True
        self.started = asyncio.Event()
        self.messages = asyncio.Queue()
        self.acks = asyncio.Queue()
        self.failed = []
        self.errors = []
        self.active_events = []
        self.disconnected_ev = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("compact_ack", lambda a: self.acks.put_nowait(a))
        self.add_event_handler("compact_failed", lambda f: self.failed.append(f))
        self.add_event_handler("compact_error", lambda e: self.errors.append(e))
        self.add_event_handler("compact_active", lambda d: self.active_events.append(d))
        self.add_event_handler("disconnected", lambda _: self.disconnected_ev.set())


LONG = ("Thank you so much, I really appreciate it. Let me know when you are home. "
        "See you tomorrow morning at the station, bring the tickets please.")


class PluginTest(unittest.IsolatedAsyncioTestCase):
    async def run_client(self, server, client, use_ssl=True):
        await server.start()
        self.addAsyncCleanup(server.stop)
        client.connect(address=("127.0.0.1", server.port), use_ssl=use_ssl,
                       force_starttls=False, disable_starttls=True)
        await asyncio.wait_for(client.started.wait(), TIMEOUT)

    async def finish(self, server, client):
        client.disconnect()
        await asyncio.wait_for(client.disconnected_ev.wait(), TIMEOUT)
        await asyncio.wait_for(server.closed.wait(), TIMEOUT)

    async def chat_round(self, server, client):
        client.send_message(mto="bob@localhost/phone", mbody=LONG, mtype="chat")
        ack = await asyncio.wait_for(client.acks.get(), TIMEOUT)
        self.assertEqual(ack["stanza_id"], "1042")
        self.assertEqual(ack["stamp"], "2026-11-28T06:15:34.123Z")
        self.assertTrue(ack["id"])
        echo = await asyncio.wait_for(client.messages.get(), TIMEOUT)
        self.assertEqual(echo["body"], LONG)
        self.assertEqual(str(echo["from"]), "bob@localhost/phone")
        self.assertEqual(echo["id"], "echo-" + ack["id"])
        return ack

    async def test_feature_mode_with_compression(self):
        server = FakeServer()
        client = Client({"compression": True})
        await self.run_client(server, client)
        plugin = client["xep_compact"]
        self.assertTrue(plugin.active)
        self.assertTrue(plugin.compressed)
        self.assertEqual(plugin.mode, "feature")
        self.assertEqual(server.compact_request, {"dictionary": "1", "compression": "zstd"})
        # The bind iq travelled as a frame.
        self.assertEqual(server.log[0][0], "frame")
        self.assertEqual(server.log[0][2].name, "iq")
        self.assertEqual(str(client.boundjid), "alice@localhost/res")
        await self.chat_round(server, client)
        sent = [x for x in server.log if x[0] == "frame" and x[2].name == "message"]
        self.assertTrue(sent and sent[-1][1], "the long message went compressed")
        # A whitespace keepalive becomes a KEEPALIVE frame.
        client.send_raw(" ")
        for _ in range(100):
            if server.keepalives:
                break
            await asyncio.sleep(0.02)
        self.assertEqual(server.keepalives, 1)
        await self.finish(server, client)
        self.assertTrue(server.got_close, "the stream footer became a CLOSE frame")
        self.assertFalse(plugin.active)
        self.assertEqual(client.active_events, [{"compression": True, "mode": "feature"}])

    async def test_nothing_sent_before_the_answer(self):
        # spec §3.1: nothing may follow <compact/> before the answer; a
        # keepalive slixmpp sends meanwhile goes afterwards, as a frame.
        server = FakeServer(answer_delay=0.3)
        client = Client({"compression": False})

        async def keepalive_while_waiting():
            await server.got_compact_request.wait()
            client.send_raw(" ")
        task = asyncio.ensure_future(keepalive_while_waiting())
        await self.run_client(server, client)
        await task
        self.assertTrue(client["xep_compact"].active)
        await self.chat_round(server, client)
        self.assertEqual(server.keepalives, 1)
        await self.finish(server, client)

    async def test_feature_mode_without_compression(self):
        server = FakeServer()
        client = Client({"compression": False})
        await self.run_client(server, client)
        plugin = client["xep_compact"]
        self.assertTrue(plugin.active)
        self.assertFalse(plugin.compressed)
        self.assertEqual(server.compact_request, {"dictionary": "1"})
        await self.chat_round(server, client)
        sent = [x for x in server.log if x[0] == "frame" and x[2].name == "message"]
        self.assertFalse(sent[-1][1])
        await self.finish(server, client)

    async def test_server_declines_compression(self):
        server = FakeServer(grant_compression=False, trailing_frame=False)
        client = Client({"compression": True})
        await self.run_client(server, client)
        plugin = client["xep_compact"]
        self.assertTrue(plugin.active)
        self.assertFalse(plugin.compressed)
        await self.chat_round(server, client)
        await self.finish(server, client)

    async def test_failure_continues_in_xml(self):
        server = FakeServer(refuse="unsupported-dictionary")
        client = Client()
        await self.run_client(server, client)
        plugin = client["xep_compact"]
        self.assertFalse(plugin.active)
        self.assertEqual(len(client.failed), 1)
        self.assertEqual(client.failed[0]["condition"], "unsupported-dictionary")
        self.assertEqual(server.log[0][0], "xml")  # bind in XML
        await self.chat_round(server, client)
        await self.finish(server, client)

    async def test_not_offered_means_xml(self):
        server = FakeServer(offer=False)
        client = Client()
        await self.run_client(server, client)
        self.assertFalse(client["xep_compact"].active)
        self.assertIsNone(server.compact_request)
        await self.finish(server, client)

    async def test_never_without_tls(self):
        server = FakeServer(tls=False)
        client = Client(tls=False)
        await self.run_client(server, client, use_ssl=False)
        self.assertFalse(client["xep_compact"].active)
        self.assertIsNone(server.compact_request, "no <compact/> on a plaintext stream")
        await self.finish(server, client)

    async def test_malformed_frame_from_server(self):
        server = FakeServer(bad_frame=True)
        client = Client({"compression": False})
        await self.run_client(server, client)
        client.send_message(mto="bob@localhost/phone", mbody="x", mtype="chat")
        await asyncio.wait_for(client.disconnected_ev.wait(), TIMEOUT)
        self.assertEqual([e.condition for e in client.errors], ["bad-format"])
        await asyncio.wait_for(server.closed.wait(), TIMEOUT)
        # The client answered with a stream error frame (then CLOSE).
        errors = [x for x in server.log if x[0] == "frame" and x[2].name == "error"]
        self.assertEqual(errors[0][2].ns, C.STREAM_NS)
        self.assertEqual(errors[0][2].children[0].name, "bad-format")
        self.assertTrue(server.got_close)

    async def test_direct_mode(self):
        for compression in (True, False):
            with self.subTest(compression=compression):
                server = FakeServer(direct=True)
                client = Client({"direct": True, "compression": compression})
                await self.run_client(server, client)
                plugin = client["xep_compact"]
                self.assertTrue(plugin.active)
                self.assertEqual(plugin.mode, "direct")
                self.assertEqual(plugin.compressed, compression)
                self.assertEqual(server.preface, C.preface(compression))
                self.assertEqual(server.alpn, C.ALPN_PROTOCOL)
                opens = [x[1] for x in server.log if x[0] == "open"]
                self.assertEqual(len(opens), 2, "initial OPEN and the restart after SASL")
                self.assertEqual(opens[0].attr("to"), DOMAIN)
                self.assertEqual(client.stream_id, "d2")
                await self.chat_round(server, client)
                await self.finish(server, client)
                self.assertTrue(server.got_close)


class ElementEndTest(unittest.TestCase):
    def test_element_end(self):
        from xmppd_compact.plugin import _element_end
        self.assertEqual(_element_end(bytearray(b"<a/>xyz")), 4)
        self.assertEqual(_element_end(bytearray(b"  <a x='/>'/>\x05")), 13)
        self.assertIsNone(_element_end(bytearray(b"<a><b/>")))
        self.assertEqual(_element_end(bytearray(b"<a><b/><!-- </a> --></a>\x01\x02")), 24)
        self.assertIsNone(_element_end(bytearray(b"  ")))
        self.assertIsNone(_element_end(bytearray(b"<compacted xmlns='urn:xmppd:comp")))
        self.assertEqual(_element_end(bytearray(b"</stream:stream>")), 16)


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG if os.environ.get("COMPACT_DEBUG") else logging.ERROR)
    unittest.main(verbosity=2)
