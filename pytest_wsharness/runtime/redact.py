"""Header redaction: no credential ever reaches a log, a record or a report."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
# "Cookie=..." / "\"Set-Cookie\": \"...\"" (a config dump), "'Cookie': '...'" (a dict's repr)
# or "('Cookie', '...')" (a list of pairs' repr, as websockets' Headers print); the value runs
# to the end of the line or the closing quote. A comma counts only between quotes, so that
# prose naming the headers ("removed Authorization, Cookie") keeps its words.
_SECRET_IN_TEXT = re.compile(
    r"\b(" + "|".join(sorted(SECRET_HEADERS, key=len, reverse=True)) + r")"
    r"(['\"]?\s*[:=]\s*['\"]?|['\"]\s*,\s*['\"])"
    r"[^\r\n\"']*",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Return ``text`` with the value of every secret header it mentions replaced.

    For what a program of the user's printed (a trigger command's output), where headers
    appear as text: ``> Authorization: Bearer x`` becomes ``> Authorization: <redacted>``.
    """
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Redact the secret header values in a log record's message and traceback, in place.

    A filter that lets every record through, changed: on a handler it sees every record that
    handler emits, propagated ones included (a filter on a logger would not). The message is
    formatted once, here, only when it names a secret header.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the secret header values in ``record``'s message and traceback; return it.

    Idempotent: a record already redacted is left alone.
    """
    if getattr(record, _DONE, False):
        return record
    setattr(record, _DONE, True)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when a handler formats
        return record
    redacted = redact_text(message) if _NAMES.search(message) else message
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        # The formatter caches the traceback's text here and prints that.
        record.exc_text = redact_text(_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    return record


def install_log_redaction() -> Callable[[], None]:
    """Redact secret header values in every log record made in this process from now on.

    Wraps the log record factory, so that a record is redacted as it is made, before any
    filter, handler or capture (pytest's caplog, its report and live-log handlers, JUnit
    XML) sees it, whichever logger made it: the harness's or a library's it drives
    (websockets logs each handshake header at DEBUG). Installs nest: the CLI's inside a
    pytest session adds nothing.

    Returns:
        A function that undoes this install (idempotent).
    """
    global _installs, _previous_factory
    with _lock:
        _installs += 1
        if _installs == 1:
            _previous_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacting_factory)
    done = False

    def uninstall() -> None:
        global _installs
        nonlocal done
        with _lock:
            if done:
                return
            done = True
            _installs -= 1
            # Only when nobody wrapped ours since: theirs would lose their own wrapper.
            if _installs == 0 and logging.getLogRecordFactory() is _redacting_factory:
                logging.setLogRecordFactory(_previous_factory)

    return uninstall


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)
    return redact_record(record) if _installs else record


_DONE = "_wsharness_redacted"
_NAMES = re.compile("|".join(SECRET_HEADERS), re.IGNORECASE)
_FORMATTER = logging.Formatter()
_lock = threading.Lock()
_installs = 0
_previous_factory: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
