"""Pure judgements about WebSocket handshakes (RFC 6455 section 4), shared by every hop."""

from __future__ import annotations

from collections.abc import Callable

HOP_BY_HOP = ("Connection", "Upgrade")


def connection_tokens(connection: str | None) -> list[str]:
    """Return the lower-cased tokens of a ``Connection`` header value."""
    return [t.strip().lower() for t in (connection or "").split(",") if t.strip()]


def asks_to_upgrade(get_header: Callable[[str], str | None]) -> bool:
    """Whether a request carries both headers that ask for a WebSocket.

    Args:
        get_header: returns a header's value by case-insensitive name, or ``None``.
    """
    upgrade = (get_header("Upgrade") or "").strip().lower() == "websocket"
    return upgrade and "upgrade" in connection_tokens(get_header("Connection"))
