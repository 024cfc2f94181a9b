"""Proxies in front of the server under test.

The engine is :class:`~pytest_wsharness.proxy.mitm.MitmProxy`, imported lazily through
:func:`start_proxy` because importing mitmproxy costs 0.3-0.5 s.
"""

from .records import ProxyRecord, RecordSink

__all__ = ["ProxyRecord", "RecordSink"]
