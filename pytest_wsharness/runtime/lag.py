"""How late the harness itself ran: the lag of its event loops, so that a slow machine is never
mistaken for a misbehaving proxy.

Every timing of a scenario is the CMS's, multiplied by the time scale: at 0.01 the heartbeat is
30 ms. A scheduler hiccup, a busy neighbour (pytest-xdist, Chromium, another CI job) or the GIL
held by another thread can be longer than that, and then the client kills a healthy socket or
a window closes before the event it waits for. Each event loop of the harness (the client's and
the simulated CMS's, the relay's, mitmproxy's) runs :func:`watch`, which sleeps a short interval
again and again and notes how late it woke up. A scenario asks :data:`METER` for the worst lag
while it ran; a verdict that lag could have changed is *inconclusive*, never ``WRONG``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass

from .timescale import CMS_HEARTBEAT

# An inconclusive scenario runs again with every timing this many times longer, this often at
# most: a lag 3 times too long then fits, and the third run is at 16 times the first's scale.
RERUN_FACTOR = 4
MAX_RERUNS = 2
# Lags below this are noise on any machine and not worth a record.
NOTABLE = 0.002
# A lag this share of the scaled heartbeat could change an outcome: the client kills a socket
# whose heartbeat echo is one interval late, and a third of the interval leaves the margin
# every profile's own timings keep (an idle cut of 2 s against a 3 s heartbeat).
SHARE_OF_HEARTBEAT = 1 / 3
# The probe's interval: a third of the lag worth noticing, so a stall of that length is
# always seen, but never busier than 100 wake-ups a second, nor idler than 4.
PROBE_MIN, PROBE_MAX = 0.01, 0.25


def limit(time_scale: float) -> float:
    """The loop lag, in seconds, above which the harness may have changed an outcome."""
    return CMS_HEARTBEAT * time_scale * SHARE_OF_HEARTBEAT


def probe_interval(time_scale: float) -> float:
    """How often :func:`watch` wakes up at ``time_scale``."""
    return min(PROBE_MAX, max(PROBE_MIN, limit(time_scale) / 3))


@dataclass(frozen=True)
class Lag:
    """The worst lag seen in a stretch of time.

    Attributes:
        seconds: how late a loop (or the page's timers) woke up, at worst.
        where: which one: ``client``, ``relay``, ``mitmproxy``, ``page``...; empty for none.
    """

    seconds: float = 0.0
    where: str = ""

    def __str__(self) -> str:
        if not self.where:
            return "no lag"
        return f"{self.seconds * 1000:.0f} ms ({self.where})"

    def worse(self, other: Lag) -> Lag:
        """The worse of the two."""
        return other if other.seconds > self.seconds else self


class LagMeter:
    """A process-wide record of notable lags, stamped with ``time.monotonic()``.

    Thread-safe: every loop thread writes, the scenario reads. Bounded: only the newest
    records are kept, which cover any scenario still running.
    """

    def __init__(self, keep: int = 4096) -> None:
        self._lock = threading.Lock()
        self._records: deque[tuple[float, float, str]] = deque(maxlen=keep)

    def note(self, where: str, seconds: float, at: float | None = None) -> None:
        """Record that ``where`` woke up ``seconds`` late (at ``at``, now by default)."""
        if seconds < NOTABLE:
            return
        stamp = time.monotonic() if at is None else at
        with self._lock:
            self._records.append((stamp, seconds, where))

    def worst(self, since: float, until: float | None = None, where: str | None = None) -> Lag:
        """The worst lag recorded between ``since`` and ``until`` (now by default), of the loop
        ``where`` names or of any."""
        end = time.monotonic() if until is None else until
        worst = Lag()
        with self._lock:
            records = list(self._records)
        for stamp, seconds, place in records:
            if where is not None and place != where:
                continue
            # A lag recorded at ``stamp`` covers the stall that ended then.
            if since <= stamp and stamp - seconds <= end and seconds > worst.seconds:
                worst = Lag(seconds, place)
        return worst

    def stalled(self, since: float, until: float | None = None) -> float:
        """Seconds between ``since`` and ``until`` (now by default) in which some loop was
        stalled: the union of the recorded stalls, each clipped to the window, so that stalls
        several loops saw at once count once."""
        end = time.monotonic() if until is None else until
        with self._lock:
            records = list(self._records)
        spans = sorted(
            (max(since, stamp - seconds), min(end, stamp))
            for stamp, seconds, _ in records
            if stamp > since and stamp - seconds < end
        )
        total, reached = 0.0, since
        for start, stop in spans:
            if stop > reached:
                total += stop - max(start, reached)
                reached = stop
        return total


METER = LagMeter()


async def watch(where: str, time_scale: float, meter: LagMeter = METER) -> None:
    """Note in ``meter`` how late this loop wakes up, until cancelled.

    Run it as a task on every loop of the harness; it sleeps between looks.
    """
    interval = probe_interval(time_scale)
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        late = loop.time() - before - interval
        meter.note(where, late)


def start_watch(where: str, time_scale: float) -> asyncio.Task[None]:
    """Start :func:`watch` on the running loop; the caller cancels the task when done."""
    return asyncio.get_running_loop().create_task(watch(where, time_scale), name=f"lag {where}")


def start_watch_on(
    loop: asyncio.AbstractEventLoop, where: str, time_scale: float
) -> asyncio.Future[None]:
    """Start :func:`watch` on ``loop``, another thread's; cancelling the returned future (of
    the running loop) cancels the watch there."""
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(watch(where, time_scale), loop))
