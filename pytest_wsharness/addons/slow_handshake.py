"""SlowHandshake: a hop that holds each WebSocket upgrade request before forwarding it.

Models an overloaded load balancer, an authenticating gateway or a scanning proxy slow to pass
the handshake on. The client waits: with an opening timeout shorter than the delay it gives up,
else it opens late. Only upgrade requests wait, and only their own connection: the hook is a
coroutine, which mitmproxy awaits in its own task, so other requests proceed meanwhile. Option
``wsharness_handshake_delay`` sets the delay in seconds when run as ``mitmdump -s``
(``--set wsharness_handshake_delay=0.5``); it is declared as text because mitmproxy's ``--set``
parses no float option (it exits at startup), and read as a number here.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from mitmproxy import exceptions, http

from pytest_wsharness.protocol.handshake import asks_to_upgrade
from pytest_wsharness.proxy.records import DELAYED


class SlowHandshake:
    """Wait ``delay`` seconds before forwarding every upgrade request.

    Args:
        delay: seconds to wait, already scaled by the caller; 0 forwards at once.

    Raises:
        ValueError: ``delay`` is negative or not a finite number.
    """

    def __init__(self, delay: float) -> None:
        self.delay = _check_delay(delay)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option(
            "wsharness_handshake_delay",
            str,
            f"{self.delay:g}",
            "Seconds to hold each upgrade request before forwarding it.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wsharness_handshake_delay" in updated and self._options is not None:
            try:
                self.delay = _check_delay(_seconds(self._options.wsharness_handshake_delay))
            except ValueError as error:
                raise exceptions.OptionsError(str(error)) from None

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if asks_to_upgrade(flow.request.headers.get):
            flow.metadata[DELAYED] = self.delay
            await asyncio.sleep(self.delay)


def _check_delay(delay: float) -> float:
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay):
        raise ValueError(f"handshake delay must be a number of seconds, got {delay!r}")
    if delay < 0:
        raise ValueError(f"handshake delay must be >= 0 seconds, got {delay!r}")
    return float(delay)


addons = [SlowHandshake(1.0)]


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"handshake delay must be a number of seconds, got {text!r}") from None
