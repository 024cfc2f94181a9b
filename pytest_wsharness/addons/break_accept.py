"""BreakUpgradeResponse: a middlebox that spoils the backend's 101 on its way to the client.

Models a proxy or scanner that rewrites response headers without knowing WebSocket: it either
puts a wrong (well-formed) ``Sec-WebSocket-Accept`` in the 101, or drops its ``Upgrade`` and
``Connection`` headers. The backend upgraded; the client must fail the handshake (RFC 6455 4.1):
websockets raises ``InvalidHeaderValue`` or ``InvalidUpgrade`` (both ``InvalidHandshake``), a
browser closes with 1006. The change is made in ``responseheaders``, before mitmproxy decides
whether a WebSocket follows: without ``Upgrade: websocket`` it relays the connection as raw TCP
(or, with ``rawtcp`` off, closes it) instead of starting its WebSocket layer. Option
``wsharness_break_mode`` sets the mode when run as ``mitmdump -s``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from mitmproxy import exceptions, http

from pytest_wsharness.proxy.records import RESPONSE_REMOVED_HEADERS, RESPONSE_REWRITTEN_HEADERS

MODES = ("bad-accept", "no-upgrade-headers")
# The base64 of a SHA-1 digest, as a real accept value is, but of nothing the client sent.
WRONG_ACCEPT = base64.b64encode(hashlib.sha1(b"not the client's key").digest()).decode()


class BreakUpgradeResponse:
    """Spoil every 101 answer from the backend.

    Args:
        mode: ``"bad-accept"`` replaces ``Sec-WebSocket-Accept`` with a wrong value;
            ``"no-upgrade-headers"`` removes ``Upgrade`` and ``Connection``. It defaults to
            ``"bad-accept"``.

    Raises:
        ValueError: ``mode`` is not one of those.
    """

    def __init__(self, mode: str = "bad-accept") -> None:
        self.mode = _check_mode(mode)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option(
            "wsharness_break_mode", str, self.mode, "How to spoil the 101 answer.", MODES
        )

    def configure(self, updated: set[str]) -> None:
        if "wsharness_break_mode" in updated and self._options is not None:
            try:
                self.mode = _check_mode(self._options.wsharness_break_mode)
            except ValueError as error:
                raise exceptions.OptionsError(str(error)) from None

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.status_code != 101:
            return
        headers = flow.response.headers
        if self.mode == "bad-accept":
            headers["Sec-WebSocket-Accept"] = WRONG_ACCEPT
            flow.metadata[RESPONSE_REWRITTEN_HEADERS] = ("Sec-WebSocket-Accept",)
            return
        removed = tuple(name for name in ("Upgrade", "Connection") if name in headers)
        for name in removed:
            del headers[name]
        if removed:
            flow.metadata[RESPONSE_REMOVED_HEADERS] = removed


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"break mode {mode!r} is not valid; valid modes: {', '.join(MODES)}")
    return mode


addons = [BreakUpgradeResponse()]
