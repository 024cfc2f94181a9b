"""Header redaction: no credential ever reaches a log, a record or a report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie"})
REDACTED = "<redacted>"


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Return the headers as ``(name, value)`` pairs with secret values replaced.

    Args:
        headers: a mapping, or pairs (which keeps repeated headers).

    Returns:
        The pairs in their original order, values of Authorization, Cookie,
        Proxy-Authorization and Set-Cookie replaced by ``<redacted>``.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple(
        (name, REDACTED if name.lower() in SECRET_HEADERS else value) for name, value in pairs
    )
