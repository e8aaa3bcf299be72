"""xmppd's compact dialect for slixmpp.

    import xmppd_compact            # registers the 'xep_compact' plugin
    xmpp.register_plugin('xep_compact', {'compression': True})

codec.py is the pure codec (no slixmpp); plugin.py the slixmpp plugin.
"""
from .codec import (  # noqa: F401
    Codec, CompactError, Dictionary, Element, EncodeError, FrameDecoder, FrameEncoder,
    Limits, POST_AUTH_LIMITS, PRE_AUTH_LIMITS, from_etree, parse_xml, to_etree,
)

try:
    from slixmpp.plugins.base import register_plugin as _register
except ImportError:  # the codec alone works without slixmpp
    _register = None

if _register is not None:
    from .plugin import XEPCompact, xep_compact  # noqa: F401
    _register(XEPCompact)
