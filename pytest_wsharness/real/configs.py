"""The real proxy configs of ``proxies/real/``: one file each, naming the software, the simulated
profile it claims to behave like, and the config text with the harness's placeholders.

Placeholders, replaced when a proxy starts: ``@PORT@`` (the port to listen on, on 127.0.0.1),
``@UPSTREAM@`` (``http://host:port``), ``@UPSTREAM_HOSTPORT@`` (``host:port``),
``@UPSTREAM_HOST@`` and ``@UPSTREAM_PORT@`` (apart, for a forward proxy's rules), ``@WORKDIR@``
(a private folder for pid, logs and temp files), ``@IDLE_TIMEOUT@`` (``idle_timeout`` times the
time scale), ``@SCALED:N@`` (any other idle cut of N seconds, times the time scale, checked the
same way; a team's own config gets these, see :mod:`~pytest_wsharness.real.adapt`) and
``@TIMEOUT:N@`` (N seconds, times the time scale when that is above 1), all in the software's
own notation.

How timeouts follow the time scale (issue 10): each keeps its place among the client's timings.

* The idle cut a config models (``@IDLE_TIMEOUT@``) is shorter than the CMS heartbeat (2 s
  against 3 s), so it cuts between heartbeats. The heartbeat is scaled, so the cut is scaled
  exactly; unscaled, it would never come. Where that cannot be written, or would be too short
  for a real proxy (:data:`IDLE_FLOOR`), the config refuses the time scale
  (:class:`~pytest_wsharness.errors.TimeScaleUnsupported`) rather than be judged wrongly.
* A tunnel timeout meant never to cut (``@TIMEOUT:N@``: HAProxy's ``timeout tunnel 1h``,
  nginx's and Apache's 60 s, tinyproxy's ``Timeout 60``, Squid's 15 min ``read_timeout``) must
  stay longer than the longest silence of an open socket (two heartbeats). Below time scale 1
  it already is, unscaled; above 1 it grows with the scale (at 16, a re-run's scale, two
  heartbeats are 96 s). It is not shrunk below 1: it also bounds the wait for the upstream's
  answer, which races the client's handshake bound (10 s at every time scale), and in whole
  seconds (Apache, Squid, tinyproxy) it often could not be written.
* Connect and request timeouts (HAProxy's ``timeout connect 5s``, ``timeout client 30s``) race
  the client's handshake and page-load bounds, which are not scaled: they stay as written.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ProfileError, TimeScaleUnsupported, UnknownChoiceError
from ..profiles import builtin_dir

if TYPE_CHECKING:
    from .adapt.common import Change

SOFTWARE = ("nginx", "haproxy", "apache", "caddy", "squid", "tinyproxy")
KEYS = ("software", "models", "summary", "config", "idle_timeout")
LONG_TIMEOUT = re.compile(r"@TIMEOUT:([0-9]+(?:\.[0-9]+)?)@")
SCALED_CUT = re.compile(r"@SCALED:([0-9]+(?:\.[0-9]+)?)@")

# The shortest idle cut a real proxy is given, in seconds (issue 10). nginx's proxy_read_timeout
# also bounds the wait for the upstream's 101, and nginx and HAProxy arm timers from a clock
# they read once per event-loop turn: a proxy preempted for a while on a busy machine arms the
# cut that much early, and it can fire before the 101 (a 504, not an idle cut). The harness's
# lag meter sees its own stalls, not the proxy's, so nothing would call that inconclusive. A
# loaded 2-core CI runner stalls a process for up to ~100 ms (see timescale.py), so the cut gets
# at least that: a 2 s cut runs at time scale 0.05 and above (200 ms at the default 0.1).
IDLE_FLOOR = 0.1
# A scaled cut rounded to the software's unit may be this far off (in share of the exact value):
# well inside the 20% a real and a simulated cut are compared with, and 2 s against 3 s keeps
# the cut between heartbeats.
ROUNDING = 0.1


@dataclass(frozen=True)
class Notation:
    """How a software writes a duration.

    Attributes:
        unit: the smallest step it accepts, in seconds.
        seconds: the text for a whole number of seconds, ``{}`` being the number.
        millis: the text for a number of milliseconds; ``None`` when it takes whole seconds only.
    """

    unit: float
    seconds: str
    millis: str | None = None

    def round(self, value: float, up: bool = False) -> float:
        """``value`` seconds to the nearest :attr:`unit` (``up``: the next one), at least one."""
        steps = math.ceil(value / self.unit - 1e-9) if up else round(value / self.unit)
        return max(1, steps) * self.unit

    def write(self, value: float) -> str:
        """``value`` seconds, a multiple of :attr:`unit`, in the software's notation."""
        millis = round(value * 1000)
        if self.millis is None or millis % 1000 == 0:
            return self.seconds.format(max(1, round(value)))
        return self.millis.format(millis)


NOTATION = {
    "nginx": Notation(0.001, "{}s", "{}ms"),
    "haproxy": Notation(0.001, "{}s", "{}ms"),
    "caddy": Notation(0.001, "{}s", "{}ms"),  # Go's durations
    "apache": Notation(1.0, "{}"),  # Timeout, ProxyTimeout: whole seconds
    "squid": Notation(1.0, "{} seconds"),
    "tinyproxy": Notation(1.0, "{}"),  # Timeout: whole seconds
}


@dataclass(frozen=True)
class RealConfig:
    """One real proxy config.

    Attributes:
        name: the file's name without ``.toml``.
        software: one of :data:`SOFTWARE`.
        models: the simulated profile that claims to behave the same.
        summary: one line for listings.
        config: the config text, with placeholders.
        idle_timeout: seconds, for a config that cuts idle tunnels; ``None`` otherwise.
        path: the file it came from.
        changes: for a team's own config, what the harness rewrote or left out of the file
            (:mod:`~pytest_wsharness.real.adapt`), line by line; empty for the shipped ones.
    """

    name: str
    software: str
    models: str
    summary: str
    config: str
    idle_timeout: float | None
    path: Path
    changes: tuple[Change, ...] = ()

    def cuts(self) -> list[float]:
        """Every idle cut the config writes (``@IDLE_TIMEOUT@`` and ``@SCALED:N@``), seconds."""
        cuts = [float(match[1]) for match in SCALED_CUT.finditer(self.config)]
        return cuts if self.idle_timeout is None else [self.idle_timeout, *cuts]

    def smallest_time_scale(self) -> float:
        """The smallest time scale this config runs at; 0 when nothing in it is scaled."""
        cuts = self.cuts()
        if not cuts:
            return 0.0
        return max(IDLE_FLOOR, NOTATION[self.software].unit) / min(cuts)

    def check_time_scale(self, time_scale: float) -> None:
        """Raise when one of the config's idle cuts cannot follow ``time_scale``.

        Raises:
            TimeScaleUnsupported: see :meth:`scaled_cut`.
        """
        for cut in self.cuts():
            self.scaled_cut(cut, time_scale)

    def scaled_idle_timeout(self, time_scale: float) -> str:
        """``idle_timeout`` times ``time_scale``, in the software's notation; ``""`` without one.

        Raises:
            TimeScaleUnsupported: see :meth:`scaled_cut`.
        """
        if self.idle_timeout is None:
            return ""
        return self.scaled_cut(self.idle_timeout, time_scale)

    def scaled_cut(self, cut: float, time_scale: float) -> str:
        """An idle cut of ``cut`` seconds times ``time_scale``, in the software's notation.

        Raises:
            TimeScaleUnsupported: the scaled cut is below :data:`IDLE_FLOOR`, or the software
                cannot write it (Apache, Squid and tinyproxy take whole seconds); the message
                names the config, the scaled value and the smallest time scale that works.
        """
        notation = NOTATION[self.software]
        scaled = cut * time_scale
        problem = ""
        if scaled < IDLE_FLOOR * (1 - 1e-9):  # 2 s x 0.05 is the floor, whatever the float
            problem = (
                f"is below the {IDLE_FLOOR * 1000:.0f} ms a real proxy's idle cut is given "
                "(shorter, it could fire while a busy machine is still in the handshake)"
            )
        else:
            written = notation.round(scaled)
            if abs(written - scaled) > ROUNDING * scaled:
                problem = f"cannot be written in {self.software}'s whole seconds"
        if problem:
            raise TimeScaleUnsupported(
                self.name, cut, time_scale, problem, self.smallest_time_scale()
            )
        return notation.write(written)

    def _long_timeout(self, match: re.Match[str], time_scale: float) -> str:
        notation = NOTATION[self.software]
        return notation.write(notation.round(float(match[1]) * max(1.0, time_scale), up=True))

    def render(
        self,
        *,
        port: int,
        upstream: str,
        workdir: Path,
        time_scale: float = 1.0,
        text: str | None = None,
    ) -> str:
        """The config text (or ``text``, a line of it) with every placeholder filled in.

        Args:
            port: the port to listen on, on 127.0.0.1.
            upstream: the server, ``http://host:port``.
            workdir: the private folder, as the software sees it.
            time_scale: multiplies the idle cuts, and the long timeouts when above 1 (see the
                module's docstring). It defaults to 1.

        Raises:
            TimeScaleUnsupported: the idle cut cannot be scaled by ``time_scale``.
        """
        hostport = upstream.split("://", 1)[-1].rstrip("/")
        idle = self.scaled_idle_timeout(time_scale)
        text = self.config if text is None else text
        text = LONG_TIMEOUT.sub(lambda match: self._long_timeout(match, time_scale), text)
        text = SCALED_CUT.sub(lambda match: self.scaled_cut(float(match[1]), time_scale), text)
        for key, value in (
            ("@PORT@", str(port)),
            ("@UPSTREAM_HOSTPORT@", hostport),
            # Apart, for the forward proxies' rules that let them reach the upstream only.
            ("@UPSTREAM_HOST@", hostport.rpartition(":")[0].strip("[]")),
            ("@UPSTREAM_PORT@", hostport.rpartition(":")[2]),
            ("@UPSTREAM@", upstream.rstrip("/")),
            ("@WORKDIR@", str(workdir)),
            ("@IDLE_TIMEOUT@", idle),
        ):
            text = text.replace(key, value)
        return text


def load_real(path: Path) -> RealConfig:
    """Read one real config file.

    Raises:
        ProfileError: not TOML, a missing or unknown key, or a bad value; the message names the
            file, the key and the valid values.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(str(path), "(file)", f"not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ProfileError(str(path), unknown[0], f"unknown key; valid keys: {', '.join(KEYS)}")
    for key in ("software", "models", "summary", "config"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileError(str(path), key, "missing, or not a non-empty string")
    if data["software"] not in SOFTWARE:
        raise ProfileError(
            str(path), "software", f"{data['software']!r}; valid values: {', '.join(SOFTWARE)}"
        )
    idle = data.get("idle_timeout")
    if idle is not None and (isinstance(idle, bool) or not isinstance(idle, int | float)):
        raise ProfileError(str(path), "idle_timeout", f"{idle!r} is not a number of seconds")
    if idle is not None and idle <= 0:
        raise ProfileError(str(path), "idle_timeout", f"{idle!r} must be > 0")
    # A cut written into the text would not follow the time scale (issue 10).
    if (idle is None) != ("@IDLE_TIMEOUT@" not in data["config"]):
        raise ProfileError(
            str(path),
            "idle_timeout",
            "set it exactly when the config writes its idle cut as @IDLE_TIMEOUT@",
        )
    return RealConfig(
        name=path.stem,
        software=data["software"],
        models=data["models"],
        summary=data["summary"],
        config=data["config"],
        idle_timeout=float(idle) if idle is not None else None,
        path=path,
    )


class RealCatalogue:
    """Every real config in ``proxies/real/``."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or builtin_dir() / "real"
        self._configs = {p.stem: load_real(p) for p in sorted(folder.glob("*.toml"))}

    def names(self) -> list[str]:
        """The config names, sorted."""
        return sorted(self._configs)

    def get(self, name: str) -> RealConfig:
        """Return the config ``name``.

        Raises:
            UnknownChoiceError: no such config; the message lists them.
        """
        try:
            return self._configs[name]
        except KeyError:
            raise UnknownChoiceError("real proxy config", name, self._configs) from None

    def __iter__(self) -> Iterator[RealConfig]:
        return iter(self._configs[name] for name in self.names())
