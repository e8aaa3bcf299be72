"""The compact dialect's codec in Python: the token dictionary, string
values, elements, frames, the direct-mode preface and per-frame zstd.

A transcription of the C++ reference (protocol/compact/wire.h,
compact_codec.cc, compact_frames.cc, compression.cc, text_rules.cc): the
encoder makes the same canonical choices, so for the same element and
stream domain both produce the same bytes; the decoder applies the same
checks in the same order, so a malformed input gets the same stream error
condition (bad-format, not-well-formed or policy-violation).

Pure: no I/O except reading the dictionary and sample files when a
Dictionary is loaded; no dependency on slixmpp. The element model is
`Element` (namespace, local name, attribute list, children that are
Elements or text strings); `to_etree`/`from_etree` convert to and from
xml.etree.ElementTree elements as slixmpp uses them.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple, Union

# ------------------------------------------------------------ constants (wire.h)

PREFACE_MAGIC = b"XC"
PROTOCOL_VERSION = 1
PREFACE_BYTES = 5
PREFACE_COMPRESSION = 0x01
PREFACE_RESERVED = 0xFE

COMPACT_NS = "urn:xmppd:compact:1"
COMPRESSION_ZSTD = "zstd"
ALPN_PROTOCOL = "xmppd-compact"  # direct mode (spec/compact.md §3.2, §13.11)

STREAM_NS = "http://etherx.jabber.org/streams"
CLIENT_NS = "jabber:client"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"

KIND_ELEMENT = 0
KIND_OPEN = 1
KIND_CLOSE = 2
KIND_KEEPALIVE = 3
FRAME_KIND_MASK = 0x03
FRAME_COMPRESSED = 0x04
FRAME_RESERVED = 0xF8

TYPE_EMPTY = 0x00
TYPE_TOKEN_FIRST = 0x01
TYPE_TOKEN_LAST = 0xEB
TYPE_TOKEN2 = 0xEC
TYPE_JID = 0xED
TYPE_NIBBLE = 0xEE
TYPE_HEX_LOWER = 0xEF
TYPE_RAW = 0xF0
TYPE_BINARY = 0xF1
TYPE_ELEMENT = 0xF2
TYPE_HEX_UPPER = 0xF3
TYPE_UUID = 0xF4
TYPE_QUALIFIED = 0xF5

PRIMARY_TOKENS = 235
MAX_TOKENS = 235 + 256

HDR_ATTR_MASK = 0x0F
HDR_ATTR_ESCAPE = 0x0F
HDR_NAMESPACE = 0x10
HDR_CHILDREN = 0x20
HDR_RESERVED = 0xC0

JID_LOCAL = 0x01
JID_RESOURCE = 0x02
JID_STREAM_DOMAIN = 0x04
JID_RESERVED = 0xF8

NIBBLE_ALPHABET = "0123456789-.:TZ+"
HEX_LOWER = "0123456789abcdef"
HEX_UPPER = "0123456789ABCDEF"
MAX_VARINT_BYTES = 5

# compact_codec.cc: the decoder's recursion is bounded whatever the limits.
HARD_MAX_DEPTH = 256
# compact_codec.cc: shorter base64 texts are never worth the binary form.
MIN_BINARY_TEXT = 4
# compact_frames.cc: below this a compressed body is never smaller.
MIN_COMPRESS_BYTES = 64
# compression.cc: the zstd magic number, not sent; level 1 with a 16 KiB
# window and 4 Ki-entry tables (sized for small frames).
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 1
ZSTD_WINDOW_LOG = 14
ZSTD_TABLE_LOG = 12

BAD_FORMAT = "bad-format"
NOT_WELL_FORMED = "not-well-formed"
POLICY_VIOLATION = "policy-violation"

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DICTIONARY_PATH = os.path.normpath(
    os.path.join(_HERE, "..", "..", "..", "protocol", "compact", "dictionary.txt"))
DEFAULT_SAMPLES_PATH = os.path.normpath(
    os.path.join(_HERE, "..", "..", "..", "protocol", "compact", "compression_samples.xml"))
# XMPPD_COMPACT_DICTIONARY / XMPPD_COMPACT_SAMPLES override the defaults.
ENV_DICTIONARY = "XMPPD_COMPACT_DICTIONARY"
ENV_SAMPLES = "XMPPD_COMPACT_SAMPLES"


class CompactError(Exception):
    """A decoding error, with the stream error condition the spec assigns
    (bad-format, not-well-formed, policy-violation) and a detail for logs."""

    def __init__(self, condition: str, detail: str):
        super().__init__(f"{condition}: {detail}")
        self.condition = condition
        self.detail = detail


class EncodeError(ValueError):
    """The element cannot be encoded: a name that is not an NCName or text
    that is not XML (the XML serializer would refuse it too)."""


# ------------------------------------------------------------ varint


def varint_size(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def append_varint(out: bytearray, v: int) -> None:
    if v < 0 or v > 0xFFFFFFFF:
        raise EncodeError("varint out of range")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def varint(v: int) -> bytes:
    out = bytearray()
    append_varint(out, v)
    return bytes(out)


VARINT_OK, VARINT_NEED_MORE, VARINT_BAD = 0, 1, 2


def read_varint(data, pos: int, end: int) -> Tuple[int, int, int]:
    """Reads a varint from data[pos:end]. Returns (result, value, new_pos):
    VARINT_NEED_MORE when the bytes end inside a varint that may still be
    valid; VARINT_BAD when longer than 5 bytes, above 2^32 - 1 or not
    minimal (a last byte of 0 after the first)."""
    v = 0
    q = pos
    for i in range(MAX_VARINT_BYTES):
        if q == end:
            return VARINT_NEED_MORE, 0, pos
        b = data[q]
        q += 1
        v |= (b & 0x7F) << (7 * i)
        if (b & 0x80) == 0:
            if i > 0 and b == 0:
                return VARINT_BAD, 0, pos
            if v > 0xFFFFFFFF:
                return VARINT_BAD, 0, pos
            return VARINT_OK, v, q
    return VARINT_BAD, 0, pos


# ------------------------------------------------------------ text rules (text_rules.cc)

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_START = ("A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff"
               "\u200c-\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf"
               "\ufdf0-\ufffd\U00010000-\U000effff")
_NAME_CHAR = _NAME_START + "\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
_NCNAME = re.compile(f"[{_NAME_START}][{_NAME_CHAR}]*")


def valid_xml_text(s: str) -> bool:
    """Every code point is an XML 1.0 Char (lone surrogates are not)."""
    return _NOT_XML_CHAR.search(s) is None


def _expat_accepts_name(name: str) -> bool:
    import xml.parsers.expat
    parser = xml.parsers.expat.ParserCreate("UTF-8")
    try:
        parser.Parse(("<" + name + "/>").encode("utf-8"), True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def valid_ncname(s: str) -> bool:
    """An NCName as xmppd's XML parser accepts it (text_rules.cc): XML 1.0
    fifth edition Name without ':' (productions [4], [4a]); a name with
    non-ASCII characters must also pass expat (whose fourth-edition name
    tables are narrower), so a compact peer cannot use a name an XML peer
    of the same server could not."""
    if _NCNAME.fullmatch(s) is None:
        return False
    return s.isascii() or _expat_accepts_name(s)


def _decode_utf8(b: bytes) -> Optional[str]:
    # Python's strict UTF-8 decoder refuses exactly what RFC 3629 refuses:
    # overlongs, surrogates, code points above U+10FFFF, truncations.
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ------------------------------------------------------------ element model


class Element:
    """An element: namespace, local name, attributes as (ns, name, value)
    triples in order (ns '' when unqualified), children as Elements and
    text strings in document order (never empty, never two adjacent)."""

    __slots__ = ("ns", "name", "attrs", "children")

    def __init__(self, ns: str, name: str,
                 attrs: Optional[List[Tuple[str, str, str]]] = None,
                 children: Optional[List[Union["Element", str]]] = None):
        self.ns = ns
        self.name = name
        self.attrs = attrs if attrs is not None else []
        self.children = children if children is not None else []

    def attr(self, name: str, ns: str = "") -> Optional[str]:
        for a_ns, a_name, value in self.attrs:
            if a_name == name and a_ns == ns:
                return value
        return None

    def add_text(self, text: str) -> None:
        if not text:
            return
        if self.children and isinstance(self.children[-1], str):
            self.children[-1] += text
        else:
            self.children.append(text)

    def equals(self, other: "Element") -> bool:
        """Structural equality: attribute sets (order not significant) and
        children in order with exact text, as the C++ Element::equals."""
        if self.ns != other.ns or self.name != other.name:
            return False
        if sorted(self.attrs) != sorted(other.attrs) or len(self.children) != len(other.children):
            return False
        for a, b in zip(self.children, other.children):
            if isinstance(a, str) != isinstance(b, str):
                return False
            if isinstance(a, str):
                if a != b:
                    return False
            elif not a.equals(b):
                return False
        return True

    __eq__ = equals

    def __repr__(self) -> str:
        return f"Element({self.ns!r}, {self.name!r}, {self.attrs!r}, {self.children!r})"


def _split_clark(key: str) -> Tuple[str, str]:
    if key.startswith("{"):
        end = key.index("}")
        return key[1:end], key[end + 1:]
    return "", key


def from_etree(e: ET.Element) -> Element:
    """An ElementTree element (as slixmpp holds stanzas: tags and attribute
    keys in {ns}name form, text/tail for mixed content) to an Element.
    Comments and processing instructions are dropped; the root's tail is
    not part of the element."""
    ns, name = _split_clark(e.tag)
    root = Element(ns, name)
    stack = [(e, root)]
    while stack:
        src, dst = stack.pop()
        for key, value in src.attrib.items():
            a_ns, a_name = _split_clark(key)
            dst.attrs.append((a_ns, a_name, value))
        if src.text:
            dst.add_text(src.text)
        for child in src:
            if isinstance(child.tag, str):
                c_ns, c_name = _split_clark(child.tag)
                c = Element(c_ns, c_name)
                dst.children.append(c)
                stack.append((child, c))
            if child.tail:
                dst.add_text(child.tail)
    return root


def to_etree(e: Element) -> ET.Element:
    """An Element to an ElementTree element ({ns}name tags and keys;
    xml:lang becomes {http://www.w3.org/XML/1998/namespace}lang)."""

    def make(src: Element) -> ET.Element:
        tag = "{%s}%s" % (src.ns, src.name) if src.ns else src.name
        attrib = {("{%s}%s" % (a_ns, a_name) if a_ns else a_name): v
                  for a_ns, a_name, v in src.attrs}
        return ET.Element(tag, attrib)

    root = make(e)
    stack = [(e, root)]
    while stack:
        src, dst = stack.pop()
        last: Optional[ET.Element] = None
        for child in src.children:
            if isinstance(child, str):
                if last is None:
                    dst.text = (dst.text or "") + child
                else:
                    last.tail = (last.tail or "") + child
            else:
                c = make(child)
                dst.append(c)
                last = c
                stack.append((child, c))
    return root


def parse_xml(xml: str, default_ns: str = CLIENT_NS) -> List[Element]:
    """Parses a sequence of elements as they would arrive in a jabber:client
    stream (the 'stream' prefix bound), like the C++ parse_fragments.
    Raises ET.ParseError on malformed XML or text between the elements."""
    wrapper = ET.fromstring(
        f"<stream:stream xmlns='{default_ns}' xmlns:stream='{STREAM_NS}'>{xml}</stream:stream>")
    if wrapper.text and wrapper.text.strip():
        raise ET.ParseError("text at stream level")
    out = []
    for child in wrapper:
        if child.tail and child.tail.strip():
            raise ET.ParseError("text at stream level")
        out.append(from_etree(child))
    return out


# ------------------------------------------------------------ limits


@dataclass
class Limits:
    """The XML parser's limits (protocol/xml/stream_parser.h), which the
    compact decoder applies to frames and decoded trees."""
    max_decoded_bytes: int = 8 * 1024  # max_outstanding_bytes: frame length and decoded size
    max_depth: int = 64
    max_attributes: int = 64
    max_elements: int = 32


PRE_AUTH_LIMITS = Limits()
POST_AUTH_LIMITS = Limits(max_decoded_bytes=256 * 1024, max_elements=4096)


# ------------------------------------------------------------ dictionary


class Dictionary:
    """The token dictionary (protocol/compact/dictionary.txt) and, built
    from it, the zstd raw-content dictionary (compression_samples.xml)."""

    def __init__(self, version: int, tokens: Sequence[str], samples_path: Optional[str] = None):
        self.version = version
        self.tokens: List[str] = [""] + list(tokens)  # index 0 is not a token
        self.index = {t: i for i, t in enumerate(self.tokens) if i > 0}
        self.samples_path = samples_path
        self._compression_dict: Optional[bytes] = None
        self._zstd = None

    @classmethod
    def load(cls, path: Optional[str] = None, samples_path: Optional[str] = None) -> "Dictionary":
        """Reads dictionary.txt as scripts/gen_compact_dictionary.py does.
        Default paths: $XMPPD_COMPACT_DICTIONARY / $XMPPD_COMPACT_SAMPLES,
        else the repository's protocol/compact/ files."""
        path = path or os.environ.get(ENV_DICTIONARY) or DEFAULT_DICTIONARY_PATH
        if samples_path is None:
            samples_path = os.environ.get(ENV_SAMPLES) or os.path.join(
                os.path.dirname(path), "compression_samples.xml")
        version = None
        tokens: List[str] = []
        seen = set()
        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                if version is None:
                    if not line.startswith("version "):
                        raise ValueError(f"{path}:{lineno}: expected 'version N' first")
                    version = int(line.split()[1])
                    continue
                if line != line.strip():
                    raise ValueError(f"{path}:{lineno}: leading or trailing space in a token")
                if line in seen:
                    raise ValueError(f"{path}:{lineno}: duplicate token {line!r}")
                seen.add(line)
                tokens.append(line)
        if version is None or not 1 <= version <= 255:
            raise ValueError(f"{path}: missing or bad version")
        if len(tokens) > MAX_TOKENS:
            raise ValueError(f"{path}: {len(tokens)} tokens, at most {MAX_TOKENS}")
        return cls(version, tokens, samples_path)

    @property
    def token_count(self) -> int:
        return len(self.tokens) - 1

    def find(self, text: str) -> int:
        return self.index.get(text, 0)

    def token(self, index: int) -> Optional[str]:
        if index <= 0 or index > self.token_count:
            return None
        return self.tokens[index]

    # -------------------------------------------------- compression dictionary

    def compression_dictionary(self) -> bytes:
        """The raw-content zstd dictionary (compression.cc build_dictionary):
        the token encodings of the sample lines, stream domain empty,
        concatenated. A line that does not parse is skipped, as in C++."""
        if self._compression_dict is None:
            if not self.samples_path:
                raise ValueError("no compression samples file")
            out = bytearray()
            with open(self.samples_path, encoding="utf-8") as f:
                text = f.read()
            codec = Codec(self, "")
            for line in text.split("\n"):
                if not line or line.startswith("#"):
                    continue
                try:
                    elements = parse_xml(line)
                except ET.ParseError:
                    continue
                if len(elements) != 1:
                    continue
                try:
                    out += codec.encode_element(elements[0])
                except EncodeError:
                    continue
            self._compression_dict = bytes(out)
        return self._compression_dict

    def zstd(self) -> "Zstd":
        if self._zstd is None:
            self._zstd = Zstd(self.compression_dictionary())
        return self._zstd


_default_dictionary: Optional[Dictionary] = None


def default_dictionary() -> Dictionary:
    global _default_dictionary
    if _default_dictionary is None:
        _default_dictionary = Dictionary.load()
    return _default_dictionary


# ------------------------------------------------------------ zstd (compression.cc)


class Zstd:
    """Per-frame zstd with the raw-content dictionary. Every frame is
    compressed on its own (no state carried between frames)."""

    def __init__(self, dict_bytes: bytes, level: int = ZSTD_LEVEL):
        import zstandard  # python3-zstandard; only needed when compression is used
        self._z = zstandard
        self.dict = zstandard.ZstdCompressionDict(dict_bytes,
                                                  dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        self.level = level
        params = zstandard.ZstdCompressionParameters.from_level(
            level, window_log=ZSTD_WINDOW_LOG, hash_log=ZSTD_TABLE_LOG,
            chain_log=ZSTD_TABLE_LOG, write_content_size=True, write_checksum=False,
            write_dict_id=False)
        self._cctx = zstandard.ZstdCompressor(dict_data=self.dict, compression_params=params)
        self._dctx = zstandard.ZstdDecompressor(dict_data=self.dict)

    def compress(self, body: bytes) -> bytes:
        """The zstd frame of |body| without its 4-byte magic."""
        frame = self._cctx.compress(body)
        if len(frame) < 4 or frame[:4] != ZSTD_MAGIC:
            raise ValueError("zstd produced no frame")
        return frame[4:]

    def decompress(self, compressed: bytes, size: int) -> Optional[bytes]:
        """Exactly |size| bytes, or None if the data is corrupt, does not
        decompress to exactly |size| bytes, or has trailing bytes. The
        output never grows past |size| (the caller checked |size| against
        its limits): a content size in the frame header is compared with
        |size| before anything is decompressed."""
        z = self._z
        frame = ZSTD_MAGIC + bytes(compressed)
        try:
            params = z.get_frame_parameters(frame)
        except z.ZstdError:
            return None
        if params.content_size != z.CONTENTSIZE_UNKNOWN and params.content_size != size:
            return None
        try:
            out = self._dctx.decompress(frame, max_output_size=size)
        except z.ZstdError:
            return None
        if len(out) != size:
            return None
        # Trailing bytes after the frame are an error, as in C++ (which
        # would read them as a further frame without a magic number). The
        # frame is now known to decompress to exactly |size| bytes.
        dobj = self._dctx.decompressobj()
        try:
            dobj.decompress(frame)
        except z.ZstdError:
            return None
        if dobj.unused_data:
            return None
        return out


# ------------------------------------------------------------ the codec


_RAW, _NIBBLE, _HEX_LOWER, _HEX_UPPER, _UUID, _BINARY = range(6)
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NIBBLE_SET = frozenset(NIBBLE_ALPHABET)
_LOWER_SET = frozenset(HEX_LOWER)
_UPPER_SET = frozenset(HEX_UPPER)
_B64_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _raw_cost(n: int) -> int:
    return 1 + varint_size(n) + n


def _packed_cost(n: int) -> int:
    return 1 + varint_size(n) + (n + 1) // 2


def _canonical_base64(s: str) -> Optional[bytes]:
    """The bytes of |s| if it is canonical RFC 4648 base64 with padding (as
    protocol/sasl/base64.cc accepts: padding only at the end, zero trailing
    bits), else None."""
    if len(s) % 4 != 0:
        return None
    try:
        b = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(b).decode("ascii") != s:
        return None
    return b


def _choose_plain(s: str, b: bytes) -> Tuple[int, int]:
    """The cheapest non-JID, non-token encoding of non-empty |s| (UTF-8 |b|):
    (kind, cost); ties go to the earliest of raw, nibble, hex-lower,
    hex-upper, uuid, binary."""
    n = len(b)
    best = (_RAW, _raw_cost(n))
    chars = set(s)
    if chars <= _NIBBLE_SET and _packed_cost(n) < best[1]:
        best = (_NIBBLE, _packed_cost(n))
    if chars <= _LOWER_SET and _packed_cost(n) < best[1]:
        best = (_HEX_LOWER, _packed_cost(n))
    if chars <= _UPPER_SET and _packed_cost(n) < best[1]:
        best = (_HEX_UPPER, _packed_cost(n))
    if len(s) == 36 and _UUID_RE.fullmatch(s) and 17 < best[1]:
        best = (_UUID, 17)
    if n >= MIN_BINARY_TEXT and n % 4 == 0 and chars <= _B64_SET:
        pad = 0 if s[-1] != "=" else (2 if s[-2] == "=" else 1)
        nbytes = n // 4 * 3 - pad
        cost = 1 + varint_size(nbytes) + nbytes
        if cost < best[1] and _canonical_base64(s) is not None:
            best = (_BINARY, cost)
    return best


def _pack(out: bytearray, type_byte: int, s: str, alphabet: str) -> None:
    out.append(type_byte)
    append_varint(out, len(s))
    lookup = {c: i for i, c in enumerate(alphabet)}
    for i in range(0, len(s), 2):
        hi = lookup[s[i]]
        lo = lookup[s[i + 1]] if i + 1 < len(s) else 0
        out.append((hi << 4) | lo)


def _emit_plain(out: bytearray, s: str, b: bytes, kind: int) -> None:
    if kind == _RAW:
        out.append(TYPE_RAW)
        append_varint(out, len(b))
        out += b
    elif kind == _NIBBLE:
        _pack(out, TYPE_NIBBLE, s, NIBBLE_ALPHABET)
    elif kind == _HEX_LOWER:
        _pack(out, TYPE_HEX_LOWER, s, HEX_LOWER)
    elif kind == _HEX_UPPER:
        _pack(out, TYPE_HEX_UPPER, s, HEX_UPPER)
    elif kind == _UUID:
        out.append(TYPE_UUID)
        out += bytes.fromhex(s.replace("-", ""))
    elif kind == _BINARY:
        data = _canonical_base64(s)
        out.append(TYPE_BINARY)
        append_varint(out, len(data))
        out += data
    else:  # pragma: no cover
        raise AssertionError(kind)


def _split_jid(s: str):
    """(has_local, local, domain, has_resource, resource): the resource
    after the first '/', the local part before the first '@' of the bare
    part."""
    has_resource = False
    resource = ""
    bare = s
    slash = s.find("/")
    if slash >= 0:
        has_resource = True
        resource = s[slash + 1:]
        bare = s[:slash]
    at = bare.find("@")
    if at >= 0:
        return True, bare[:at], bare[at + 1:], has_resource, resource
    return False, "", bare, has_resource, resource


class Codec:
    """Element <-> token encoding of one frame body for one stream: the
    dictionary and the stream domain (the JID 04 flag; '' when unknown)."""

    def __init__(self, dictionary: Optional[Dictionary] = None, domain: str = ""):
        self.dictionary = dictionary or default_dictionary()
        self.domain = domain

    # -------------------------------------------------- encoding

    def _token_cost(self, t: int) -> int:
        return 1 if t <= PRIMARY_TOKENS else 2

    def _value_cost(self, s: str) -> int:
        if not s:
            return 1
        t = self.dictionary.find(s)
        if t:
            return self._token_cost(t)
        return _choose_plain(s, s.encode("utf-8"))[1]

    def _stream_domain(self, domain: str) -> bool:
        return bool(self.domain) and domain == self.domain

    def _encode_plain_value(self, out: bytearray, s: str) -> None:
        if not s:
            out.append(TYPE_EMPTY)
            return
        t = self.dictionary.find(s)
        if t:
            if t <= PRIMARY_TOKENS:
                out.append(t)
            else:
                out.append(TYPE_TOKEN2)
                out.append(t - PRIMARY_TOKENS - 1)
            return
        b = s.encode("utf-8")
        _emit_plain(out, s, b, _choose_plain(s, b)[0])

    def _encode_name(self, out: bytearray, s: str) -> None:
        if self.dictionary.find(s):
            self._encode_plain_value(out, s)
            return
        b = s.encode("utf-8")
        out.append(TYPE_RAW)
        append_varint(out, len(b))
        out += b

    def _encode_value(self, out: bytearray, s: str) -> None:
        if not s or self.dictionary.find(s) or (
                "@" not in s and "/" not in s and not self._stream_domain(s)):
            self._encode_plain_value(out, s)
            return
        b = s.encode("utf-8")
        plain = _choose_plain(s, b)
        has_local, local, domain, has_resource, resource = _split_jid(s)
        cost = 2
        if has_local:
            cost += self._value_cost(local)
        if not self._stream_domain(domain):
            cost += self._value_cost(domain)
        if has_resource:
            cost += self._value_cost(resource)
        if cost >= plain[1]:
            _emit_plain(out, s, b, plain[0])
            return
        flags = 0
        if has_local:
            flags |= JID_LOCAL
        if has_resource:
            flags |= JID_RESOURCE
        if self._stream_domain(domain):
            flags |= JID_STREAM_DOMAIN
        out.append(TYPE_JID)
        out.append(flags)
        if has_local:
            self._encode_plain_value(out, local)
        if not flags & JID_STREAM_DOMAIN:
            self._encode_plain_value(out, domain)
        if has_resource:
            self._encode_plain_value(out, resource)

    def encode_value(self, s: str) -> bytes:
        """One string value in its canonical encoding (attribute values and
        text; the JID form is considered)."""
        out = bytearray()
        self._encode_value(out, s)
        return bytes(out)

    def encode_element(self, root: Element, parent_ns: str = CLIENT_NS) -> bytes:
        """The token encoding of |root| (a frame body). Raises EncodeError
        for a name that is not an NCName or text that is not XML."""
        out = bytearray()

        def open_(e: Element, inherited: str) -> None:
            if not valid_ncname(e.name) or not valid_xml_text(e.ns):
                raise EncodeError(f"cannot encode element {e.ns!r} {e.name!r}")
            nattrs = len(e.attrs)
            hdr = nattrs if nattrs < HDR_ATTR_ESCAPE else HDR_ATTR_ESCAPE
            if e.ns != inherited:
                hdr |= HDR_NAMESPACE
            if e.children:
                hdr |= HDR_CHILDREN
            out.append(hdr)
            if nattrs >= HDR_ATTR_ESCAPE:
                append_varint(out, nattrs)
            self._encode_name(out, e.name)
            if hdr & HDR_NAMESPACE:
                self._encode_plain_value(out, e.ns)
            for a_ns, a_name, a_value in e.attrs:
                if not valid_ncname(a_name) or not valid_xml_text(a_value):
                    raise EncodeError(f"cannot encode attribute {a_name!r}")
                if a_ns:
                    if not valid_xml_text(a_ns):
                        raise EncodeError(f"cannot encode attribute namespace {a_ns!r}")
                    out.append(TYPE_QUALIFIED)
                    self._encode_plain_value(out, a_ns)
                self._encode_name(out, a_name)
                self._encode_value(out, a_value)
            if e.children:
                append_varint(out, len(e.children))

        open_(root, parent_ns)
        # Iterative, as in C++: no tree depth can overflow the stack.
        stack: List[Tuple[Element, int]] = []
        if root.children:
            stack.append((root, 0))
        while stack:
            element, i = stack[-1]
            if i == len(element.children):
                stack.pop()
                continue
            stack[-1] = (element, i + 1)
            node = element.children[i]
            if isinstance(node, Element):
                out.append(TYPE_ELEMENT)
                open_(node, element.ns)
                if node.children:
                    stack.append((node, 0))
            else:
                if not valid_xml_text(node):
                    raise EncodeError("text that is not XML")
                self._encode_value(out, node)
        return bytes(out)

    # -------------------------------------------------- decoding

    def decode_element(self, body: bytes, limits: Limits = PRE_AUTH_LIMITS,
                       parent_ns: str = CLIENT_NS) -> Element:
        """Exactly one element from all of |body|. Raises CompactError with
        the spec's condition."""
        return _Decoder(body, self, limits).run(parent_ns)


class _Decoder:
    def __init__(self, body: bytes, codec: Codec, limits: Limits):
        self.data = bytes(body)
        self.p = 0
        self.end = len(self.data)
        self.codec = codec
        self.tokens = codec.dictionary
        self.domain = codec.domain
        self.limits = limits
        self.decoded = 0
        self.elements = 0

    def run(self, parent_ns: str) -> Element:
        root = self.element(parent_ns, 1)
        if self.p != self.end:
            raise CompactError(BAD_FORMAT, "bytes after the element")
        return root

    def left(self) -> int:
        return self.end - self.p

    def byte(self) -> int:
        if self.p == self.end:
            raise CompactError(BAD_FORMAT, "element ends early")
        b = self.data[self.p]
        self.p += 1
        return b

    def varint(self) -> int:
        result, v, p = read_varint(self.data, self.p, self.end)
        if result == VARINT_NEED_MORE:
            raise CompactError(BAD_FORMAT, "varint ends early")
        if result == VARINT_BAD:
            raise CompactError(BAD_FORMAT, "malformed varint")
        self.p = p
        return v

    def charge(self, n: int) -> None:
        # Decoded bytes are charged before they are produced.
        if n > self.limits.max_decoded_bytes - self.decoded:
            raise CompactError(POLICY_VIOLATION, "decoded size over the limit")
        self.decoded += n

    def packed(self, alphabet: str) -> str:
        count = self.varint()
        nbytes = (count + 1) // 2
        if nbytes > self.left():
            raise CompactError(BAD_FORMAT, "packed string past the end")
        self.charge(count)
        p = self.p
        data = self.data
        chars = []
        for i in range(count):
            b = data[p + i // 2]
            chars.append(alphabet[(b >> 4) if i % 2 == 0 else (b & 0x0F)])
        if count % 2 == 1 and (data[p + nbytes - 1] & 0x0F) != 0:
            raise CompactError(BAD_FORMAT, "packed string padding is not zero")
        self.p += nbytes
        return "".join(chars)

    def string(self, in_jid: bool = False) -> str:
        type_byte = self.byte()
        if type_byte == TYPE_EMPTY:
            return ""
        if type_byte <= TYPE_TOKEN_LAST or type_byte == TYPE_TOKEN2:
            index = type_byte
            if type_byte == TYPE_TOKEN2:
                index = PRIMARY_TOKENS + 1 + self.byte()
            t = self.tokens.token(index)
            if t is None:
                raise CompactError(BAD_FORMAT, "token index out of range")
            self.charge(len(t.encode("utf-8")))
            return t
        if type_byte == TYPE_JID:
            if in_jid:
                raise CompactError(BAD_FORMAT, "JID inside a JID")
            return self.jid()
        if type_byte == TYPE_NIBBLE:
            return self.packed(NIBBLE_ALPHABET)
        if type_byte == TYPE_HEX_LOWER:
            return self.packed(HEX_LOWER)
        if type_byte == TYPE_HEX_UPPER:
            return self.packed(HEX_UPPER)
        if type_byte == TYPE_RAW:
            n = self.varint()
            if n > self.left():
                raise CompactError(BAD_FORMAT, "string length past the end")
            self.charge(n)
            raw = self.data[self.p:self.p + n]
            self.p += n
            s = _decode_utf8(raw)
            if s is None or not valid_xml_text(s):
                raise CompactError(NOT_WELL_FORMED, "string is not UTF-8 XML text")
            return s
        if type_byte == TYPE_BINARY:
            n = self.varint()
            if n > self.left():
                raise CompactError(BAD_FORMAT, "binary length past the end")
            self.charge((n + 2) // 3 * 4)
            raw = self.data[self.p:self.p + n]
            self.p += n
            return base64.b64encode(raw).decode("ascii")
        if type_byte == TYPE_UUID:
            if self.left() < 16:
                raise CompactError(BAD_FORMAT, "UUID past the end")
            self.charge(36)
            h = self.data[self.p:self.p + 16].hex()
            self.p += 16
            return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        raise CompactError(BAD_FORMAT, "not a string type byte")

    def jid(self) -> str:
        flags = self.byte()
        if flags & JID_RESERVED:
            raise CompactError(BAD_FORMAT, "reserved JID flag")
        out = ""
        if flags & JID_LOCAL:
            out += self.string(True)
            self.charge(1)
            out += "@"
        if flags & JID_STREAM_DOMAIN:
            if not self.domain:
                raise CompactError(BAD_FORMAT, "stream domain flag without a stream domain")
            self.charge(len(self.domain.encode("utf-8")))
            out += self.domain
        else:
            out += self.string(True)
        if flags & JID_RESOURCE:
            part = self.string(True)
            self.charge(1)
            out += "/" + part
        return out

    def name(self, what: str) -> str:
        s = self.string()
        if not valid_ncname(s):
            raise CompactError(NOT_WELL_FORMED, f"invalid {what} name")
        return s

    def element(self, parent_ns: str, depth: int) -> Element:
        limits = self.limits
        if depth > limits.max_depth or depth > HARD_MAX_DEPTH:
            raise CompactError(POLICY_VIOLATION, "too deep")
        self.elements += 1
        if self.elements > limits.max_elements:
            raise CompactError(POLICY_VIOLATION, "too many elements")
        hdr = self.byte()
        if hdr & HDR_RESERVED:
            raise CompactError(BAD_FORMAT, "reserved header bits")
        nattrs = hdr & HDR_ATTR_MASK
        if nattrs == HDR_ATTR_ESCAPE:
            nattrs = self.varint()
        if nattrs > limits.max_attributes:
            raise CompactError(POLICY_VIOLATION, "too many attributes")
        if nattrs > self.left() // 2:
            raise CompactError(BAD_FORMAT, "attributes past the end")
        local = self.name("element")
        self.charge(len(local.encode("utf-8")) + 5)  # the end tag and brackets
        if hdr & HDR_NAMESPACE:
            ns = self.string()
            if ns == XMLNS_NS:
                raise CompactError(BAD_FORMAT, "reserved namespace on an element")
            self.charge(9)  # " xmlns=''"
        else:
            ns = parent_ns
        e = Element(ns, local)
        seen = set()
        for _ in range(nattrs):
            a_ns = ""
            if self.p != self.end and self.data[self.p] == TYPE_QUALIFIED:
                self.p += 1
                a_ns = self.string()
                if not a_ns or a_ns == XMLNS_NS:
                    raise CompactError(BAD_FORMAT, "bad attribute namespace")
                self.charge(8)  # a prefix and its declaration, roughly
            a_name = self.name("attribute")
            if not a_ns and a_name == "xmlns":
                raise CompactError(BAD_FORMAT, "namespace declaration as an attribute")
            value = self.string()
            self.charge(4)  # " ='' "
            if (a_ns, a_name) in seen:
                raise CompactError(BAD_FORMAT, "duplicate attribute")
            seen.add((a_ns, a_name))
            e.attrs.append((a_ns, a_name, value))
        if not hdr & HDR_CHILDREN:
            return e
        nchildren = self.varint()
        if nchildren > self.left():
            raise CompactError(BAD_FORMAT, "children past the end")
        last_text = False
        for _ in range(nchildren):
            if self.p != self.end and self.data[self.p] == TYPE_ELEMENT:
                self.p += 1
                e.children.append(self.element(e.ns, depth + 1))
                last_text = False
                continue
            text = self.string()
            if not text or last_text:
                raise CompactError(BAD_FORMAT, "empty or adjacent text node")
            e.children.append(text)
            last_text = True
        return e


# ------------------------------------------------------------ frames (compact_frames.cc)


def frame(flags: int, body: bytes = b"") -> bytes:
    out = bytearray()
    append_varint(out, len(body) + 1)
    out.append(flags)
    out += body
    return bytes(out)


CLOSE_FRAME = frame(KIND_CLOSE)
KEEPALIVE_FRAME = frame(KIND_KEEPALIVE)


def preface(accept_compression: bool, dictionary: Optional[Dictionary] = None) -> bytes:
    d = dictionary or default_dictionary()
    return bytes([PREFACE_MAGIC[0], PREFACE_MAGIC[1], PROTOCOL_VERSION, d.version,
                  PREFACE_COMPRESSION if accept_compression else 0])


PREFACE_OK, PREFACE_NEED_MORE, PREFACE_BAD = 0, 1, 2


def parse_preface(data: bytes) -> Tuple[int, Optional[Tuple[int, int, int]]]:
    """(result, (protocol_version, dictionary_version, flags)). Each byte is
    judged as soon as it is there."""
    if len(data) >= 1 and data[0] != PREFACE_MAGIC[0]:
        return PREFACE_BAD, None
    if len(data) >= 2 and data[1] != PREFACE_MAGIC[1]:
        return PREFACE_BAD, None
    if len(data) < PREFACE_BYTES:
        return PREFACE_NEED_MORE, None
    fields = (data[2], data[3], data[4])
    if data[4] & PREFACE_RESERVED:
        return PREFACE_BAD, fields
    return PREFACE_OK, fields


class FrameEncoder:
    """Writes frames for one stream (the encoder half of the C++
    compact_frames)."""

    def __init__(self, codec: Codec, compress: bool = False):
        self.codec = codec
        self.compress = compress
        self.compressed_frames = 0  # ELEMENT frames written compressed

    def element_frame(self, element: Element) -> bytes:
        """An ELEMENT frame; with compression on, the body is compressed
        when that makes it smaller. Raises EncodeError."""
        body = self.codec.encode_element(element)
        if self.compress and len(body) >= MIN_COMPRESS_BYTES:
            try:
                packed = varint(len(body)) + self.codec.dictionary.zstd().compress(body)
            except Exception:  # zstd failure: send it uncompressed, as C++ does
                packed = None
            if packed is not None and len(packed) < len(body):
                self.compressed_frames += 1
                return frame(KIND_ELEMENT | FRAME_COMPRESSED, packed)
        return frame(KIND_ELEMENT, body)

    def open_frame(self, header: Element) -> bytes:
        return frame(KIND_OPEN, self.codec.encode_element(header, STREAM_NS))

    @staticmethod
    def close_frame() -> bytes:
        return CLOSE_FRAME

    @staticmethod
    def keepalive_frame() -> bytes:
        return KEEPALIVE_FRAME


@dataclass
class Event:
    """A decoded frame: type 'open' (element = the stream header), 'element'
    (a stanza or nonza), 'close', or 'error' (condition, detail)."""
    type: str
    element: Optional[Element] = None
    condition: str = ""
    detail: str = ""


class FrameDecoder:
    """Frames in, Events out, with the C++ CompactDecoder's checks: the
    length is judged before anything is buffered for it, a compressed
    body's claimed size before anything is decompressed. After an error,
    exactly one 'error' event, then nothing until reset()."""

    def __init__(self, codec: Codec, limits: Limits = POST_AUTH_LIMITS,
                 compression: bool = False):
        self.codec = codec
        self.limits = limits
        self.compression = compression
        self.buffer = bytearray()
        self.state = "ok"  # ok, reported, closed
        self.compressed_frames = 0  # ELEMENT frames that arrived compressed

    def feed(self, data: bytes) -> None:
        if self.state != "ok":
            return
        self.buffer += data

    def reset(self) -> None:
        self.buffer = bytearray()
        self.state = "ok"

    @property
    def failed(self) -> bool:
        return self.state != "ok"

    def _error(self, condition: str, detail: str) -> Event:
        self.state = "reported"
        self.buffer = bytearray()
        return Event("error", condition=condition, detail=detail)

    def events(self) -> Iterator[Event]:
        while True:
            ev = self.next()
            if ev is None:
                return
            yield ev

    def next(self) -> Optional[Event]:
        limits = self.limits
        while self.state == "ok":
            buf = self.buffer
            if not buf:
                return None
            result, length, p = read_varint(buf, 0, len(buf))
            if result == VARINT_NEED_MORE:
                return None
            if result == VARINT_BAD:
                return self._error(BAD_FORMAT, "malformed frame length")
            if length == 0:
                return self._error(BAD_FORMAT, "frame length 0")
            if length > limits.max_decoded_bytes:
                return self._error(POLICY_VIOLATION, "frame longer than the stanza limit")
            if len(buf) - p < length:
                return None
            flags = buf[p]
            body = bytes(buf[p + 1:p + length])
            del buf[:p + length]

            if flags & FRAME_RESERVED:
                return self._error(BAD_FORMAT, "reserved frame flag")
            kind = flags & FRAME_KIND_MASK
            if flags & FRAME_COMPRESSED:
                if not self.compression:
                    return self._error(BAD_FORMAT, "compression not negotiated")
                if kind != KIND_ELEMENT:
                    return self._error(BAD_FORMAT, "compressed frame that is not an element")
                result, size, q = read_varint(body, 0, len(body))
                if result != VARINT_OK:
                    return self._error(BAD_FORMAT, "malformed decompressed size")
                if size > limits.max_decoded_bytes:
                    return self._error(POLICY_VIOLATION, "decompressed size over the limit")
                inflated = self.codec.dictionary.zstd().decompress(body[q:], size)
                if inflated is None:
                    return self._error(BAD_FORMAT,
                                       "compressed body does not decompress to its size")
                body = inflated
                self.compressed_frames += 1

            if kind == KIND_KEEPALIVE:
                if body:
                    return self._error(BAD_FORMAT, "keepalive with a body")
                continue
            if kind == KIND_CLOSE:
                if body:
                    return self._error(BAD_FORMAT, "close with a body")
                self.state = "closed"
                return Event("close")
            if kind == KIND_OPEN:
                try:
                    root = self.codec.decode_element(body, limits, STREAM_NS)
                except CompactError as e:
                    return self._error(e.condition, "stream header: " + e.detail)
                if root.ns != STREAM_NS or root.name != "stream" or root.children:
                    return self._error(BAD_FORMAT, "OPEN frame is not a stream header")
                return Event("open", element=root)
            try:
                root = self.codec.decode_element(body, limits)
            except CompactError as e:
                return self._error(e.condition, e.detail)
            return Event("element", element=root)
        return None
