"""A slixmpp plugin that negotiates and speaks xmppd's compact dialect.

Feature mode (the normal port, after TLS and SASL): when the post-SASL
<stream:features/> offer <compact xmlns='urn:xmppd:compact:1'/>, the plugin
sends <compact dictionary='1' [compression='zstd']/> before resource
binding, waits for <compacted/>, and from then on the transport carries
frames: incoming frames are decoded into ElementTree stanzas and dispatched
through slixmpp's normal stanza handling; everything slixmpp sends (it
serializes stanzas to XML and calls send_raw) is re-parsed and sent as
ELEMENT frames; the stream footer becomes a CLOSE frame and whitespace
keepalives become KEEPALIVE frames. A <failure/> leaves the stream in XML.

Direct mode (config direct=True, connect with use_ssl=True to xmppd's
compact port): the stream starts with the 5-byte preface, stream headers
are OPEN frames, everything else ELEMENT frames, from the first byte.

Events fired on the ClientXMPP:
  compact_active   (dict: compression, mode)   the transport switched to frames
  compact_failed   (the <failure/> stanza, or None on a timeout / refusal)
  compact_ack      (CompactAck stanza: ['id'], ['stanza_id'], ['stamp'])
  compact_error    (CompactError) a frame from the server was malformed; the
                   plugin sends the stream error and closes
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable, List, Optional

from slixmpp.xmlstream.xmlstream import NotConnectedError
from slixmpp.plugins import BasePlugin
from slixmpp.stanza import Message, StreamFeatures
from slixmpp.xmlstream import ElementBase, StanzaBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from . import codec as C

log = logging.getLogger(__name__)

NS = C.COMPACT_NS
RECEIPTS_NS = "urn:xmpp:receipts"
MARKERS_NS = "urn:xmpp:chat-markers:0"


# ------------------------------------------------------------ stanzas


class CompactFeature(ElementBase):
    """<compact xmlns='urn:xmppd:compact:1' dictionary='1'>
         <compression>zstd</compression></compact> in <stream:features/>."""
    name = "compact"
    namespace = NS
    plugin_attrib = "compact"
    interfaces = {"dictionary", "compression", "required"}

    def get_compression(self) -> List[str]:
        return [c.text or "" for c in self.xml.findall("{%s}compression" % NS)]

    def get_required(self) -> bool:
        return False


class CompactRequest(StanzaBase):
    """<compact xmlns='urn:xmppd:compact:1' dictionary='1' compression='zstd'/>"""
    name = "compact"
    namespace = NS
    interfaces = {"dictionary", "compression"}


class Compacted(StanzaBase):
    """<compacted xmlns='urn:xmppd:compact:1' [compression='zstd']/>"""
    name = "compacted"
    namespace = NS
    interfaces = {"compression"}


class CompactFailure(StanzaBase):
    """<failure xmlns='urn:xmppd:compact:1'><unsupported-dictionary/></failure>"""
    name = "failure"
    namespace = NS
    interfaces = {"condition"}

    def get_condition(self) -> str:
        for child in self.xml:
            if isinstance(child.tag, str):
                return child.tag.split("}", 1)[-1]
        return ""


class CompactAck(StanzaBase):
    """<ack xmlns='urn:xmppd:compact:1' id='CLIENT-ID' stanza-id='SERVER-ID'
       stamp='2026-11-28T06:15:34.123Z'/>: the server took responsibility
    for the message the client sent with id CLIENT-ID."""
    name = "ack"
    namespace = NS
    interfaces = {"id", "stanza_id", "stamp"}

    def get_stanza_id(self) -> str:
        return self.xml.attrib.get("stanza-id", "")

    def set_stanza_id(self, value: str) -> None:
        self.xml.attrib["stanza-id"] = value

    def del_stanza_id(self) -> None:
        self.xml.attrib.pop("stanza-id", None)


class Receipts(ElementBase):
    """<receipts xmlns='urn:xmppd:compact:1'><received id=''/>...</receipts>:
    several receipts and markers in one message (xmppd expands it for XML
    clients)."""
    name = "receipts"
    namespace = NS
    plugin_attrib = "compact_receipts"
    interfaces = {"received", "displayed", "acknowledged"}

    def _ids(self, kind: str) -> List[str]:
        return [c.get("id", "") for c in self.xml.findall("{%s}%s" % (NS, kind))]

    def get_received(self) -> List[str]:
        return self._ids("received")

    def get_displayed(self) -> List[str]:
        return self._ids("displayed")

    def get_acknowledged(self) -> List[str]:
        return self._ids("acknowledged")

    def add(self, kind: str, id_: str) -> None:
        from xml.etree import ElementTree as ET
        ET.SubElement(self.xml, "{%s}%s" % (NS, kind), {"id": id_})


# ------------------------------------------------------------ the plugin


class XEPCompact(BasePlugin):
    name = "xep_compact"
    description = "xmppd compact dialect (urn:xmppd:compact:1)"
    dependencies = set()
    default_config = {
        # Ask for zstd compressed frames (sent and accepted) when offered.
        "compression": True,
        # Negotiate the dialect at all (feature mode).
        "enabled": True,
        # Feature order: before 'bind' (10000) and XEP-0198's resume (9000),
        # so <resume/> and the bind iq go as frames (spec/compact.md §3.4).
        "order": 8000,
        # Seconds to wait for <compacted/> or <failure/>.
        "timeout": 30,
        # Direct mode: the server's compact port, preface first.
        "direct": False,
        # dictionary.txt / compression_samples.xml; default: the
        # repository's protocol/compact/ files (or $XMPPD_COMPACT_DICTIONARY).
        "dictionary_path": None,
        "samples_path": None,
        # Decoder limits for frames from the server (codec.Limits); default
        # the server's post-authentication limits (spec/compact.md §11.1:
        # a client SHOULD accept frames within them).
        "limits": None,
        # Direct mode: offer the ALPN protocol ID (spec/compact.md §3.2).
        "alpn": True,
    }

    def plugin_init(self) -> None:
        self.dictionary = C.Dictionary.load(self.dictionary_path, self.samples_path)
        self.active = False           # frames on this connection
        self.compressed = False       # zstd frames negotiated
        self.mode: Optional[str] = None  # 'feature' or 'direct' once active
        self.negotiations = 0         # times <compacted/> (or a direct preface) was seen
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.keepalives_out = 0
        # xml | awaiting (<compact/> sent) | compact | direct-start | preface
        self._state = "xml"
        self._waiter: Optional[asyncio.Future] = None
        self._pending = bytearray()   # bytes held while awaiting / before the preface
        self._held_open: Optional[bytes] = None
        self._held_sends: List = []   # what slixmpp sent while awaiting the answer
        self._codec: Optional[C.Codec] = None
        self._encoder: Optional[C.FrameEncoder] = None
        self._decoder: Optional[C.FrameDecoder] = None

        register_stanza_plugin(StreamFeatures, CompactFeature)
        register_stanza_plugin(Message, Receipts)
        for stanza in (CompactRequest, Compacted, CompactFailure, CompactAck):
            self.xmpp.register_stanza(stanza)
        self.xmpp.register_handler(Callback(
            "Compact Compacted", MatchXPath(Compacted.tag_name()), self._on_compacted,
            instream=True))
        self.xmpp.register_handler(Callback(
            "Compact Failure", MatchXPath(CompactFailure.tag_name()), self._on_failure,
            instream=True))
        self.xmpp.register_handler(Callback(
            "Compact Ack", MatchXPath(CompactAck.tag_name()), self._on_ack))
        if self.enabled and not self.direct:
            self.xmpp.register_feature("compact", self._handle_feature, restart=False,
                                       order=self.order)
        self.xmpp.add_event_handler("connected", self._on_connected)
        self.xmpp.add_event_handler("disconnected", self._on_disconnected)
        if self.direct and self.enabled and self.alpn:
            # The context is only used for this client's connections.
            self.xmpp.ssl_context.set_alpn_protocols([C.ALPN_PROTOCOL])

        # The transport hooks: instance attributes shadow XMLStream's
        # methods, and asyncio calls protocol.data_received at call time.
        self._orig_data_received = self.xmpp.data_received
        self._orig_send_raw = self.xmpp.send_raw
        self.xmpp.data_received = self._data_received
        self.xmpp.send_raw = self._send_raw

    def plugin_end(self) -> None:
        if self.enabled and not self.direct:
            self.xmpp.unregister_feature("compact", self.order)
        for name in ("data_received", "send_raw"):
            self.xmpp.__dict__.pop(name, None)
        self.xmpp.remove_handler("Compact Compacted")
        self.xmpp.remove_handler("Compact Failure")
        self.xmpp.remove_handler("Compact Ack")
        self.xmpp.del_event_handler("connected", self._on_connected)
        self.xmpp.del_event_handler("disconnected", self._on_disconnected)

    # -------------------------------------------------- helpers

    def _limits(self) -> C.Limits:
        return self.limits if self.limits is not None else C.POST_AUTH_LIMITS

    def _tls_active(self) -> bool:
        transport = self.xmpp.transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    def _stream_domain(self) -> str:
        # The domain the stream header addressed (clientxmpp's stream_header).
        return self.xmpp.boundjid.domain

    def _reset(self) -> None:
        self.active = False
        self.compressed = False
        self.mode = None
        self._state = "xml"
        self._pending = bytearray()
        self._held_open = None
        self._held_sends = []
        self._codec = self._encoder = self._decoder = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(False)
        self._waiter = None

    def _activate(self, compression: bool, mode: str) -> None:
        self._codec = C.Codec(self.dictionary, self._stream_domain())
        self._encoder = C.FrameEncoder(self._codec, compression)
        self._decoder = C.FrameDecoder(self._codec, self._limits(), compression)
        if compression:
            self.dictionary.zstd()  # digest the dictionary now, not on the first frame
        self.compressed = compression
        self.mode = mode
        self.active = True
        self._state = "compact"
        self.negotiations += 1
        log.info("compact dialect active (%s mode, compression %s)", mode,
                 "zstd" if compression else "off")

    def _write(self, data: bytes) -> None:
        transport = self.xmpp.transport
        if not transport:
            raise NotConnectedError()
        self.bytes_out += len(data)
        transport.write(data)

    # -------------------------------------------------- connection lifecycle

    def _on_connected(self, _event) -> None:
        # Also fires after STARTTLS (connection_made again): feature mode
        # starts in XML; direct mode starts with the preface on a TLS link.
        # The transport is not set yet when this event fires: direct mode
        # waits for connection_made's stream header (see _send_raw).
        self._reset()
        if self.direct and self.enabled:
            self._state = "direct-start"

    def _on_disconnected(self, _event) -> None:
        self._reset()

    # -------------------------------------------------- feature mode

    async def _handle_feature(self, features) -> bool:
        if self.active or self._state != "xml":
            return False
        if not self.xmpp.authenticated:
            log.debug("compact offered before authentication: ignored")
            return False
        if not self._tls_active():
            log.warning("compact offered without TLS: not negotiated")
            return False
        offer = features["compact"]
        if offer["dictionary"] and offer["dictionary"] != str(self.dictionary.version):
            log.info("server's compact dictionary %s, ours %s: staying in XML",
                     offer["dictionary"], self.dictionary.version)
            return False
        want_zstd = bool(self.compression) and C.COMPRESSION_ZSTD in offer["compression"]
        if want_zstd:
            try:
                self.dictionary.zstd()
            except ImportError:
                log.warning("python3-zstandard is missing: compact without compression")
                want_zstd = False
        request = "<compact xmlns='%s' dictionary='%d'%s/>" % (
            NS, self.dictionary.version, " compression='zstd'" if want_zstd else "")
        loop = asyncio.get_event_loop()
        self._waiter = loop.create_future()
        self._state = "awaiting"
        self._pending = bytearray()
        self._orig_send_raw(request)
        try:
            ok = await asyncio.wait_for(asyncio.shield(self._waiter), self.timeout)
        except asyncio.TimeoutError:
            log.warning("no answer to <compact/> in %s s", self.timeout)
            self._state = "xml"
            self._held_sends = []
            self.xmpp.event("compact_failed", None)
            self.xmpp.disconnect(reason="compact negotiation timed out")
            return False
        finally:
            self._waiter = None
        return bool(ok)

    def _on_compacted(self, stanza: Compacted) -> None:
        if self._state != "awaiting":
            log.warning("unexpected <compacted/>: ignored")
            return
        granted = stanza["compression"] == C.COMPRESSION_ZSTD
        self._activate(granted, "feature")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)
        self.xmpp.event("compact_active", {"compression": granted, "mode": "feature"})
        self._replay_held_sends()

    def _on_failure(self, stanza: CompactFailure) -> None:
        log.info("compact refused (%s): continuing in XML", stanza["condition"])
        if self._state == "awaiting":
            self._state = "xml"
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(False)
        self.xmpp.event("compact_failed", stanza)
        self._replay_held_sends()

    def _replay_held_sends(self) -> None:
        # spec/compact.md §3.1: nothing (not even whitespace) may follow
        # <compact/> before the answer; what slixmpp sent meanwhile goes now,
        # in the format the answer chose.
        held, self._held_sends = self._held_sends, []
        for data in held:
            self._send_raw(data)

    def _on_ack(self, stanza: CompactAck) -> None:
        self.xmpp.event("compact_ack", stanza)

    # -------------------------------------------------- the transport

    def _data_received(self, data: bytes) -> None:
        state = self._state
        if state == "xml":
            return self._orig_data_received(data)
        self.bytes_in += len(data)
        if state == "compact":
            self._decoder.feed(data)
            return self._drain()
        if state == "awaiting":
            return self._awaiting_data(data)
        if state in ("preface", "direct-start"):
            return self._preface_data(data)

    def _awaiting_data(self, data: bytes) -> None:
        # The server's answer to <compact/> is XML, and frames may follow it
        # in the same read: hand the XML parser exactly the bytes up to the
        # end of each complete top-level element, and switch as soon as the
        # <compacted/> handler has run (synchronously, instream).
        self._pending += data
        while self._state == "awaiting" and self._pending:
            end = _element_end(self._pending)
            if end is None:
                return
            chunk = bytes(self._pending[:end])
            del self._pending[:end]
            self._orig_data_received(chunk)
        rest = bytes(self._pending)
        self._pending = bytearray()
        if not rest:
            return
        if self._state == "compact":
            self._decoder.feed(rest)
            self._drain()
        else:
            self._orig_data_received(rest)

    def _preface_data(self, data: bytes) -> None:
        self._pending += data
        result, fields = C.parse_preface(bytes(self._pending[:C.PREFACE_BYTES]))
        if result == C.PREFACE_NEED_MORE:
            return
        if result == C.PREFACE_BAD or fields is None:
            log.error("the server's compact preface is malformed")
            self.xmpp.abort()
            return
        protocol, dictionary, flags = fields
        if protocol != C.PROTOCOL_VERSION or dictionary != self.dictionary.version:
            log.error("server speaks compact protocol %d dictionary %d; we speak %d/%d",
                      protocol, dictionary, C.PROTOCOL_VERSION, self.dictionary.version)
            self.xmpp.event("compact_failed", None)
            self.xmpp.abort()
            return
        rest = bytes(self._pending[C.PREFACE_BYTES:])
        self._pending = bytearray()
        compression = bool(self.compression) and bool(flags & C.PREFACE_COMPRESSION)
        self._activate(compression, "direct")
        self.xmpp.event("compact_active", {"compression": compression, "mode": "direct"})
        if self._held_open is not None:
            held, self._held_open = self._held_open, None
            self._send_frame(held)
        if rest:
            self._decoder.feed(rest)
            self._drain()

    def _drain(self) -> None:
        decoder = self._decoder
        while decoder is not None and self._state == "compact":
            ev = decoder.next()
            if ev is None:
                return
            if ev.type == "element":
                self.frames_in += 1
                xml = C.to_etree(ev.element)
                self.xmpp._spawn_event(xml)
            elif ev.type == "open":
                self.frames_in += 1
                root = C.to_etree(ev.element)
                self.xmpp.xml_root = root
                log.debug("RECV (compact OPEN): %s", ev.element.attrs)
                self.xmpp.start_stream_handler(root)
            elif ev.type == "close":
                self.frames_in += 1
                log.debug("End of stream received (compact CLOSE)")
                self.xmpp.disconnect_reason = "End of stream"
                self.xmpp.abort()
                return
            elif ev.type == "error":
                log.error("malformed frame from the server: %s (%s)", ev.condition, ev.detail)
                self.xmpp.event("compact_error", C.CompactError(ev.condition, ev.detail))
                try:
                    error = C.Element(C.STREAM_NS, "error", children=[
                        C.Element("urn:ietf:params:xml:ns:xmpp-streams", ev.condition)])
                    self._send_frame(self._encoder.element_frame(error) + C.CLOSE_FRAME)
                except (NotConnectedError, C.EncodeError):
                    pass
                self.xmpp.disconnect_reason = "compact " + ev.condition
                self.xmpp.abort()
                return

    def _send_frame(self, frame: bytes) -> None:
        self.frames_out += 1
        self._write(frame)

    def _send_raw(self, data) -> None:
        state = self._state
        if state == "xml":
            return self._orig_send_raw(data)
        if state == "awaiting":
            self._held_sends.append(data)
            return
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        if state == "direct-start":
            # connection_made sends the stream header: the preface goes
            # first, the header as an OPEN frame once the server's preface
            # has been read.
            if not self._tls_active():
                log.error("compact direct mode needs TLS (connect with use_ssl=True)")
                self.xmpp.abort()
                return
            self._state = "preface"
            self._handle_header(text, before_preface=True)
            return
        if state == "preface":
            log.warning("nothing can be sent before the server's preface: %r", text)
            return
        stripped = text.strip()
        if not stripped:
            if text:
                log.debug("SEND (compact KEEPALIVE)")
                self.keepalives_out += 1
                self._send_frame(C.KEEPALIVE_FRAME)
            return
        if stripped == self.xmpp.stream_footer:
            log.debug("SEND (compact CLOSE)")
            self._send_frame(C.CLOSE_FRAME)
            return
        if stripped.startswith("<stream:stream") and self.mode == "direct":
            self._handle_header(text, before_preface=False)
            return
        try:
            elements = C.parse_xml(text, self.xmpp.default_ns)
        except Exception as e:  # ET.ParseError; nothing else should be sent raw
            log.error("cannot send %r as frames: %s", text, e)
            return
        out = bytearray()
        for element in elements:
            try:
                out += self._encoder.element_frame(element)
                self.frames_out += 1
            except C.EncodeError as e:
                log.error("cannot encode %r: %s", text, e)
        if out:
            log.debug("SEND (compact, %d bytes): %s", len(out), text)
            self._write(bytes(out))

    def _handle_header(self, text: str, before_preface: bool) -> None:
        header = _parse_stream_header(text)
        codec = self._codec or C.Codec(self.dictionary, "")
        frame = C.FrameEncoder(codec).open_frame(header)
        if before_preface:
            log.debug("SEND (compact preface, OPEN held)")
            self._write(C.preface(bool(self.compression), self.dictionary))
            self._held_open = frame
        else:
            # The restart after SASL: a new OPEN; the server answers OPEN +
            # features. Both sides discard decoder state at a restart
            # (spec/compact.md §3.2), as slixmpp resets its XML parser.
            self._decoder.reset()
            log.debug("SEND (compact OPEN)")
            self._send_frame(frame)

    # -------------------------------------------------- API

    @property
    def compressed_in(self) -> int:
        """ELEMENT frames received compressed on this connection."""
        return self._decoder.compressed_frames if self._decoder else 0

    @property
    def compressed_out(self) -> int:
        """ELEMENT frames sent compressed on this connection."""
        return self._encoder.compressed_frames if self._encoder else 0

    def send_receipts(self, mto, received: Iterable[str] = (), displayed: Iterable[str] = (),
                      acknowledged: Iterable[str] = (), mtype: Optional[str] = None) -> None:
        """Sends several XEP-0184 receipts and XEP-0333 displayed /
        acknowledged markers (spec/compact.md §9.2). In the compact dialect:
        one message with a <receipts/> batch, which xmppd expands for XML
        recipients; in XML: one standard message each."""
        items = ([("received", i) for i in received] + [("displayed", i) for i in displayed]
                 + [("acknowledged", i) for i in acknowledged])
        if not items:
            return
        if self.active:
            msg = self.xmpp.make_message(mto=mto, mtype=mtype)
            batch = msg["compact_receipts"]
            for kind, id_ in items:
                batch.add(kind, id_)
            msg.send()
            return
        from xml.etree import ElementTree as ET
        for kind, id_ in items:
            ns = RECEIPTS_NS if kind == "received" else MARKERS_NS
            msg = self.xmpp.make_message(mto=mto, mtype=mtype)
            msg.append(ET.Element("{%s}%s" % (ns, kind), {"id": id_}))
            msg.send()


def _parse_stream_header(text: str) -> C.Element:
    """slixmpp's stream header (an open tag) as the OPEN frame's element:
    <stream> in the streams namespace with its attributes."""
    from xml.etree import ElementTree as ET
    start = text.find("<stream:stream")
    end = text.find(">", start)
    tag = text[start:end].rstrip("/")
    root = ET.fromstring(tag + "/>")
    element = C.from_etree(root)
    element.children = []
    return element


def _element_end(buf: bytearray) -> Optional[int]:
    """The index after the first complete top-level element in |buf| (XML
    between stanzas: whitespace, then one element), or None if it is not
    complete yet. Tracks tags, quoted attribute values, comments, CDATA and
    processing instructions; the XML parser does the real validation."""
    i = 0
    n = len(buf)
    depth = 0
    while i < n:
        c = buf[i]
        if c != 0x3C:  # '<'
            i += 1
            continue
        if buf.startswith(b"<!--", i):
            j = buf.find(b"-->", i + 4)
            if j < 0:
                return None
            i = j + 3
            continue
        if buf.startswith(b"<![CDATA[", i):
            j = buf.find(b"]]>", i + 9)
            if j < 0:
                return None
            i = j + 3
            continue
        if buf.startswith(b"<?", i):
            j = buf.find(b"?>", i + 2)
            if j < 0:
                return None
            i = j + 2
            continue
        # A start, end or empty-element tag: find its '>' outside quotes.
        j = i + 1
        quote = 0
        while j < n:
            b = buf[j]
            if quote:
                if b == quote:
                    quote = 0
            elif b in (0x22, 0x27):
                quote = b
            elif b == 0x3E:  # '>'
                break
            j += 1
        if j >= n:
            return None
        closing = buf[i + 1] == 0x2F  # '</'
        empty = buf[j - 1] == 0x2F  # '/>'
        if closing:
            depth -= 1
            if depth <= 0:
                return j + 1  # '</stream:stream>' at depth 0 too
        elif empty:
            if depth == 0:
                return j + 1
        else:
            depth += 1
        i = j + 1
    return None


xep_compact = XEPCompact
