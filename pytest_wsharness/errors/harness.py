"""The harness itself: its own parts and the machine it runs on (see
:mod:`pytest_wsharness.errors`)."""

from __future__ import annotations

from .base import WsHarnessError

# The harness itself: its own parts and the machine it runs on.


class HarnessFailure(WsHarnessError):
    """The harness itself could not run or judge a scenario: no verdict about the system.

    Its own parts failed or ran too late (a proxy or relay thread, a real proxy's process, its
    event loops, a browser's timers), or a part it needs is not installed. The message says
    which; a larger time scale, a quieter machine or the missing part is the usual remedy.
    """


class HarnessTimeout(HarnessFailure, TimeoutError):
    """An awaited event did not happen before its deadline.

    A harness failure: most waits that raise it are the harness's own (a proxy, relay or event
    loop thread to start, listen or end; a control call; another worker's image build). A wait
    on the UI raises it too (a client's ``wait_for``, a first connect to settle, a browser page
    to load), and there the system may be why: ``seen`` says what the client saw. A scenario
    whose wait expired while the harness lagged raises :class:`Inconclusive` instead; a verdict
    about the system is an :class:`OutcomeError`, never this.

    Args:
        waiting_for: what was awaited.
        timeout: the deadline in seconds.
        seen: what was seen instead, for the message.
    """

    def __init__(self, waiting_for: str, timeout: float, seen: str = "") -> None:
        self.waiting_for = waiting_for
        self.timeout = timeout
        self.seen = seen
        super().__init__(waiting_for, timeout, seen)

    def __str__(self) -> str:
        text = f"timed out after {self.timeout:.3g}s waiting for {self.waiting_for}"
        return f"{text}; seen: {self.seen}" if self.seen else text


class Inconclusive(HarnessFailure, RuntimeError):
    """The harness ran too late to judge a scenario: not a verdict about the proxy.

    Args:
        what: what was being judged, e.g. ``the UI to behave as behind compliant``.
        lag: how late the harness ran at worst, e.g. ``180 ms (client and server)``.
        limit: the lag in seconds above which the outcome could have changed.
        time_scale: the scenario's time scale.
        seen: what came out meanwhile (the would-be verdict, or the wait that expired).
    """

    def __init__(self, what: str, lag: str, limit: float, time_scale: float, seen: str) -> None:
        self.what = what
        self.lag = lag
        self.limit = limit
        self.time_scale = time_scale
        self.seen = seen
        super().__init__(what, lag, limit, time_scale, seen)

    def __str__(self) -> str:
        return (
            f"inconclusive: {self.what}: the harness itself ran {self.lag} late at time scale "
            f"{self.time_scale:g}, where {self.limit * 1000:.0f} ms could change the outcome; "
            f"this says nothing about the proxy (a slow or busy machine; a larger "
            f"--wsharness-time-scale makes room); seen meanwhile: {self.seen}"
        )


class MissingPart(HarnessFailure, RuntimeError):
    """A system part a feature needs is not installed.

    Args:
        part: the part, e.g. ``"Chromium"``.
        how: what was looked for, and how to install it.
    """

    def __init__(self, part: str, how: str) -> None:
        self.part = part
        self.how = how
        super().__init__(part, how)

    def __str__(self) -> str:
        return f"missing {self.part}: {self.how}"


class ProxyCrashed(HarnessFailure, RuntimeError):
    """The proxy's thread raised; the original exception is the ``__cause__``.

    Args:
        profile: the profile the proxy ran.
        error: the exception raised in the proxy thread.
    """

    def __init__(self, profile: str, error: BaseException) -> None:
        self.profile = profile
        self.error = error
        super().__init__(profile, error)

    def __str__(self) -> str:
        return f"proxy {self.profile!r} failed in its thread: {self.error!r}"
