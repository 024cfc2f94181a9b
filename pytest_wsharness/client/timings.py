"""The CMS client's timings (REFERENCE.md section 1): the heartbeat check and the reconnect
schedule, as the CMS has them or scaled by the run's time scale."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..runtime.timescale import CMS_HEARTBEAT, CMS_RECONNECT_BASE, positive
from ..runtime.timescale import check as check_time_scale


@dataclass(frozen=True)
class Timings:
    """The client's timings in seconds; ``Timings()`` is the CMS's own.

    Attributes:
        heartbeat_interval: seconds between heartbeat checks.
        reconnect_base: the attempt after failure n waits ``reconnect_base * n**2`` seconds.
        max_reconnects: failures that still get an attempt; the next one gives up.
    """

    heartbeat_interval: float = CMS_HEARTBEAT
    reconnect_base: float = CMS_RECONNECT_BASE
    max_reconnects: int = 8

    def __post_init__(self) -> None:
        for name in ("heartbeat_interval", "reconnect_base"):
            try:
                positive(getattr(self, name))
            except UsageError as error:
                raise UsageError(f"{name} {error}") from None
        if self.max_reconnects < 1:
            raise UsageError(f"max_reconnects must be >= 1, got {self.max_reconnects!r}")

    @classmethod
    def scaled(cls, time_scale: float) -> Timings:
        """Return the CMS timings, every one multiplied by ``time_scale``.

        Raises:
            UsageError: a ``ValueError``, if ``time_scale`` is not a finite number > 0.
        """
        check_time_scale(time_scale)
        default = cls()
        try:
            return cls(default.heartbeat_interval * time_scale, default.reconnect_base * time_scale)
        except UsageError:
            raise UsageError(f"time_scale {time_scale!r} is out of range") from None

    def reconnect_delay(self, failures: int) -> float:
        """Return the wait before the next attempt after ``failures`` failures in a row.

        Raises:
            UsageError: if ``failures`` is outside ``0..max_reconnects``.
        """
        if not 0 <= failures <= self.max_reconnects:
            raise UsageError(f"failures must be in 0..{self.max_reconnects}, got {failures!r}")
        return self.reconnect_base * failures**2
