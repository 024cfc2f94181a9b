"""The time scale, one factor on every CMS timing: its defaults.

One default for the simulated CMS wherever a user meets it (the plugin, ``wsharness matrix``,
with or without ``--browser``), and another in front of a real deployment:

* 0.1 against the simulated CMS: the client and every simulated middlebox are scaled alike, so
  a 300 ms heartbeat judges the same as a 3 s one, ten times faster; and a 100 ms stall of the
  machine (what a busy 2-core CI runner shows) stays below the lag that could change an outcome
  (:func:`pytest_wsharness.runtime.lag.limit`: a third of the heartbeat), so verdicts stay
  conclusive.
* 1 in front of a real deployment: only the client can be scaled there, while the team's own
  proxies and load balancers keep their real timeouts; a faster heartbeat would keep an idle
  cut from ever showing.
"""

from __future__ import annotations

import math

SIMULATED = 0.1
REAL_DEPLOYMENT = 1.0
# The CMS client's own timings, in seconds, before scaling (REFERENCE.md: a 3 s heartbeat check,
# a reconnect after failure n waits 5 s x n^2). Kept here, in a module with no imports, because
# the lag probes on every loop thread need the heartbeat: a first import of the client's state
# machine from a loop thread, while the main thread imported it too, once handed the main thread
# a half-imported module ("cannot import name 'Dialog'", py3.11).
CMS_HEARTBEAT = 3.0
CMS_RECONNECT_BASE = 5.0


def default(*, real_deployment: bool) -> float:
    """The time scale to use when none is given."""
    return REAL_DEPLOYMENT if real_deployment else SIMULATED


def positive(value: object, noun: str = "number") -> float:
    """``value`` as a finite number > 0: the one check of a time scale or a number of seconds,
    wherever one is given (an option, an ini value, an argument).

    Args:
        value: what was given: a number, or its text.
        noun: what it is called in the message (``"number of seconds"``).

    Raises:
        UsageError: not such a number; the message says ``must be a {noun} > 0`` for what is
            no number at all, ``must be a finite {noun} > 0`` for one out of range, and what
            was given; the caller names the option.
    """
    from ..errors import UsageError

    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"must be a {noun} > 0, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise UsageError(f"must be a finite {noun} > 0, got {value!r}")
    return number


def check(time_scale: float) -> float:
    """``time_scale``, checked (:func:`positive`).

    Raises:
        UsageError: ``time_scale must be a finite number > 0, got ...``.
    """
    from ..errors import UsageError

    try:
        return positive(time_scale)
    except UsageError as error:
        raise UsageError(f"time_scale {error}") from None
