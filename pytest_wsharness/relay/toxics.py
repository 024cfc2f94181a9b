"""TCP faults, with Toxiproxy's names, parameters and units (github.com/Shopify/toxiproxy).

Each acts on the bytes of its ``stream`` whatever they carry (the HTTP head too), and applies to a
connection with probability ``toxicity``. Durations are in milliseconds (the slicer's delay in
microseconds, as in Toxiproxy), multiplied by the relay's ``time_scale``.
"""

from __future__ import annotations

from .fault_base import NONE, TOWARDS, Cut, Direction, Fault, Segment, Toxic


class Latency(Toxic):
    """Delay every chunk by ``latency`` +/- ``jitter`` (a uniform draw per chunk).

    Chunks keep their order: a chunk never overtakes an earlier, longer-delayed one.
    """

    use = "latency"

    def __init__(
        self, latency: float, jitter: float = 0.0, stream: str = "downstream", toxicity: float = 1.0
    ) -> None:
        super().__init__(stream, toxicity)
        self.latency = latency
        self.jitter = jitter
        self._noted: set[Direction] = set()

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Delay each segment."""
        if segments and direction not in self._noted:
            self._noted.add(direction)
            jitter = f" +/- {self.ctx.ms(self.jitter)}" if self.jitter else ""
            self.ctx.note(
                now,
                f"latency {self.ctx.ms(self.latency)}{jitter}: delaying data {TOWARDS[direction]}",
            )
        for segment in segments:
            spread = self.ctx.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
            segment.at += self.ctx.seconds(max(0.0, self.latency + spread))
        return segments


class Bandwidth(Toxic):
    """Limit throughput to ``rate`` KB/s (1 KB = 1000 bytes); 0 leaves it unlimited.

    As in Toxiproxy, a chunk larger than 100 ms worth of data goes out in 100 ms pieces.
    """

    use = "bandwidth"

    def __init__(self, rate: int, stream: str = "downstream", toxicity: float = 1.0) -> None:
        super().__init__(stream, toxicity)
        self.rate = rate
        self._free: dict[Direction, float] = {}

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Space the segments out as the rate allows."""
        if not self.rate or not segments:
            return segments
        if direction not in self._free:
            self.ctx.note(now, f"bandwidth {self.rate} KB/s: limiting data {TOWARDS[direction]}")
        per_byte = self.ctx.seconds(1 / self.rate)  # 1 ms per KB, scaled
        piece = self.rate * 100  # bytes in 100 ms
        free = self._free.get(direction, now)
        out: list[Segment] = []
        for segment in segments:
            free = max(free, segment.at)
            data = segment.data
            for start in range(0, len(data), piece):
                part = data[start : start + piece]
                free += len(part) * per_byte
                last = start + piece >= len(data)
                out.append(Segment(part, free, segment.frames if last else 0))
        self._free[direction] = free
        return out


class Slicer(Toxic):
    """Split data into writes of about ``average_size`` bytes, ``delay`` microseconds apart."""

    use = "slicer"

    def __init__(
        self,
        average_size: int,
        size_variation: int = 0,
        delay: float = 0.0,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        super().__init__(stream, toxicity)
        self.average_size = average_size
        # Toxiproxy requires the variation to be smaller than the average.
        self.size_variation = min(size_variation, average_size - 1)
        self.delay = delay
        self._noted: set[Direction] = set()

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Slice each segment."""
        if segments and direction not in self._noted:
            self._noted.add(direction)
            self.ctx.note(
                now,
                f"slicer: writing data {TOWARDS[direction]} in ~{self.average_size} byte pieces",
            )
        gap = self.ctx.seconds(self.delay / 1000)
        out: list[Segment] = []
        for segment in segments:
            bounds = self.chunks(0, len(segment.data))
            at = segment.at
            for i, (start, end) in enumerate(bounds):
                last = i == len(bounds) - 1
                out.append(Segment(segment.data[start:end], at, segment.frames if last else 0))
                at += gap
        return out

    def chunks(self, start: int, end: int) -> list[tuple[int, int]]:
        """Toxiproxy's slicing: halve, with a random shift, until pieces are about the average."""
        if end - start - self.average_size <= self.size_variation:
            return [(start, end)]
        shift = self.ctx.rng.randint(-self.size_variation, self.size_variation)
        middle = start + (end - start) // 2 + shift
        return self.chunks(start, middle) + self.chunks(middle, end)


class LimitData(Toxic):
    """Close the connection (FIN) once ``bytes`` bytes passed in a direction of the stream."""

    use = "limit_data"

    def __init__(self, bytes: int, stream: str = "downstream", toxicity: float = 1.0) -> None:
        super().__init__(stream, toxicity)
        self.limit = bytes
        self._passed: dict[Direction, int] = {}
        self._reached: Direction | None = None

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Pass bytes up to the limit, none after."""
        out: list[Segment] = []
        for segment in segments:
            passed = self._passed.get(direction, 0)
            left = self.limit - passed
            if left <= 0:
                break
            if len(segment.data) > left:
                segment = Segment(segment.data[:left], segment.at)
            out.append(segment)
            self._passed[direction] = passed + len(segment.data)
        if self._reached is None and self._passed.get(direction, 0) >= self.limit:
            self._reached = direction
        return out

    def poll(self, now: float) -> Cut | None:
        """Cut once the limit is reached, after the bytes up to it are written."""
        if self._reached is None:
            return None
        towards = TOWARDS[self._reached]
        return Cut("fin", f"limit_data {self.limit} bytes {towards} reached: cut (FIN)")


class SlowClose(Toxic):
    """Delay forwarding the close (FIN) of the stream by ``delay``."""

    use = "slow_close"

    def __init__(self, delay: float, stream: str = "downstream", toxicity: float = 1.0) -> None:
        super().__init__(stream, toxicity)
        self.delay = delay

    def on_eof(self, direction: Direction, now: float) -> float:
        """Return the delay."""
        self.ctx.note(
            now, f"slow_close: delaying the FIN {TOWARDS[direction]} by {self.ctx.ms(self.delay)}"
        )
        return self.ctx.seconds(self.delay)


class Timeout(Toxic):
    """Stop all data of the stream; close the connection (FIN) after ``timeout``.

    ``timeout = 0`` never closes: a blackhole, where a handshake is never answered. The timer runs
    from the connection's start (or from when the fault was added), whatever the traffic.
    """

    use = "timeout"

    def __init__(self, timeout: float, stream: str = "downstream", toxicity: float = 1.0) -> None:
        super().__init__(stream, toxicity)
        self.timeout = timeout
        self._noted: set[Direction] = set()

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Drop everything."""
        if segments and direction not in self._noted:
            self._noted.add(direction)
            self.ctx.note(now, f"timeout: dropping data {TOWARDS[direction]}")
        return []

    def deadline(self) -> float | None:
        """When to close, unless never."""
        return self.since + self.ctx.seconds(self.timeout) if self.timeout else None

    def poll(self, now: float) -> Cut | None:
        """Close when the time is up."""
        when = self.deadline()
        if when is None or now < when:
            return None
        return Cut("fin", f"timeout {self.ctx.ms(self.timeout)}: cut (FIN)", flush=False)


class ResetPeer(Toxic):
    """Reset the connection (RST) ``timeout`` after the first data of the stream.

    As in Toxiproxy, that data and all after it in the stream are not forwarded.
    """

    use = "reset_peer"

    def __init__(
        self, timeout: float = 0.0, stream: str = "downstream", toxicity: float = 1.0
    ) -> None:
        super().__init__(stream, toxicity)
        self.timeout = timeout
        self._at: float | None = None

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Arm on the first data; drop it and everything after."""
        if segments and self._at is None:
            self._at = now + self.ctx.seconds(self.timeout)
            self.ctx.note(
                now,
                f"reset_peer: data {TOWARDS[direction]} held, reset in {self.ctx.ms(self.timeout)}",
            )
        return []

    def deadline(self) -> float | None:
        """When to reset, once armed."""
        return self._at

    def poll(self, now: float) -> Cut | None:
        """Reset when the time is up."""
        if self._at is None or now < self._at:
            return None
        return Cut("rst", "reset by reset_peer", flush=False)


class Down(Fault):
    """Accept new connections and reset them at once, as a proxy that is down.

    Connections open when the fault is added are left alone (``Relay.cut_all`` cuts those).
    """

    use = "down"
    refuses = True
    directions = NONE  # it acts at accept, on no bytes
