"""The root of every exception pytest-wsharness raises."""

from __future__ import annotations


class WsHarnessError(Exception):
    """Base class of every exception raised by pytest-wsharness.

    Each one is also in one family, which says whose fault it is: :class:`UsageError` (the
    caller's), :class:`SystemUnderTestError` (the system's) or :class:`HarnessFailure` (the
    harness's own).
    """
