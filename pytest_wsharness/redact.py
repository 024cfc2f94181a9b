"""Header redaction: no credential ever reaches a log, a record or a report."""

from __future__ import annotations

import re
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


# A secret header in free text: "Authorization: Bearer x" (curl -v, a log line), or
# "Cookie=..." / "\"Set-Cookie\": \"...\"" (a config dump); the value runs to the end of the
# line or the closing quote.
_SECRET_IN_TEXT = re.compile(
    r"\b(" + "|".join(sorted(SECRET_HEADERS, key=len, reverse=True)) + r")(\"?\s*[:=]\s*\"?)"
    r"[^\r\n\"']*",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Return ``text`` with the value of every secret header it mentions replaced.

    For what a program of the user's printed (a trigger command's output), where headers
    appear as text: ``> Authorization: Bearer x`` becomes ``> Authorization: <redacted>``.
    """
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
