"""The relay's faults by name, with their parameters: what profiles and the relay validate against.

Importing this module is cheap (no mitmproxy, no asyncio, no I/O), so profile loading can use
:data:`FAULTS`. TCP faults take Toxiproxy's names and units and add ``stream`` and ``toxicity``;
the WebSocket-aware ones are ours. Every duration is in milliseconds (the slicer's ``delay`` in
microseconds) and is multiplied by the relay's ``time_scale``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# FaultError lives with the other exceptions; re-exported where it was defined (issue 13).
from ..errors import FaultError as FaultError
from ..errors import ProfileError, UnknownChoiceError
from ..profiles.params import REQUIRED, Param, check_params
from .fault_base import STREAM, TOXICITY, Fault
from .toxics import Bandwidth, Down, Latency, LimitData, ResetPeer, Slicer, SlowClose, Timeout
from .wsfaults import (
    AcceptThenClose,
    Close,
    DelayMessages,
    DropMessages,
    HoldMessages,
    IdleTimeout,
    SilentDrop,
    Swallow,
)

MAX_REASON = 123  # a Close frame's payload is at most 125 bytes, 2 of them the code


class FaultType(NamedTuple):
    """A fault a relay can run: its class, a one-line summary, and its parameters."""

    cls: type[Fault]
    summary: str
    params: Mapping[str, Param]


def _ms(help: str, default: Any = REQUIRED) -> Param:
    return Param(float, default, low=0, help=f"{help} (ms)")


_TCP = {"stream": STREAM, "toxicity": TOXICITY}
_TOPIC = Param(str, "", help='the CMS topic of a {"topic": ...} message; "" matches any')
_PATTERN = Param(str, "", help='a regular expression searched in the text; "" matches any')

FAULTS: dict[str, FaultType] = {
    "latency": FaultType(
        Latency,
        "delay each chunk",
        {"latency": _ms("delay"), "jitter": _ms("+/- random spread", 0.0), **_TCP},
    ),
    "bandwidth": FaultType(
        Bandwidth,
        "limit throughput",
        {"rate": Param(int, REQUIRED, low=0, help="KB/s (1000 bytes); 0 is unlimited"), **_TCP},
    ),
    "slicer": FaultType(
        Slicer,
        "split data into small writes",
        {
            "average_size": Param(int, REQUIRED, low=1, help="bytes per write, on average"),
            "size_variation": Param(int, 0, low=0, help="+/- bytes per write"),
            "delay": Param(float, 0.0, low=0, help="between writes (microseconds)"),
            **_TCP,
        },
    ),
    "limit_data": FaultType(
        LimitData,
        "close the connection once that many bytes passed",
        {"bytes": Param(int, REQUIRED, low=0, help="bytes to let through"), **_TCP},
    ),
    "slow_close": FaultType(
        SlowClose, "delay the close (FIN)", {"delay": _ms("delay of the FIN"), **_TCP}
    ),
    "timeout": FaultType(
        Timeout,
        "stop all data, close after timeout (0: never, a blackhole)",
        {"timeout": _ms("until the close; 0 never closes"), **_TCP},
    ),
    "reset_peer": FaultType(
        ResetPeer,
        "reset (RST) the connection after the first data",
        {"timeout": _ms("from the first data to the reset", 0.0), **_TCP},
    ),
    "down": FaultType(Down, "reset new connections at accept, as a proxy that is down", {}),
    "drop_messages": FaultType(
        DropMessages,
        "drop matching text/binary messages",
        {
            "topic": _TOPIC,
            "pattern": _PATTERN,
            "percent": Param(float, 100.0, low=0, high=100, help="chance to drop a match"),
            "stream": STREAM,
        },
    ),
    "delay_messages": FaultType(
        DelayMessages,
        "deliver matching messages late, holding later frames behind them",
        {"delay": _ms("delay"), "topic": _TOPIC, "pattern": _PATTERN, "stream": STREAM},
    ),
    "hold_messages": FaultType(
        HoldMessages,
        "hold frames after the 101 until enough bytes are held (a buffering proxy)",
        {
            "until_bytes": Param(int, 0, low=0, help="release once this many are held; 0: never"),
            "both": Param(bool, False, help="also hold frames to the server"),
        },
    ),
    "swallow": FaultType(
        Swallow,
        "drop pings and/or the CMS heartbeat, both directions",
        {"what": Param(str, "both", choices=("pings", "heartbeats", "both"), help="what to drop")},
    ),
    "close": FaultType(
        Close,
        "send a Close frame to both ends mid-stream, then FIN",
        {
            "code": Param(int, 1001, low=1000, high=4999, help="the Close code"),
            "reason": Param(str, "", help=f"the Close reason, at most {MAX_REASON} bytes"),
            "after_messages": Param(int, 0, low=0, help="data messages to the client first"),
            "after": _ms("after the 101", 0.0),
        },
    ),
    "idle_timeout": FaultType(
        IdleTimeout,
        "cut the tunnel (FIN, no Close frame) after a time without bytes",
        {"timeout": _ms("without bytes either way")},
    ),
    "silent_drop": FaultType(
        SilentDrop,
        "stop forwarding and send nothing, no FIN, no RST (Azure LB)",
        {"after": _ms("after the 101", 0.0)},
    ),
    "accept_then_close": FaultType(
        AcceptThenClose,
        "end the connection after the 101",
        {
            "after": _ms("after the 101", 0.0),
            "mode": Param(str, "clean", choices=("clean", "fin", "rst"), help="how to end it"),
        },
    ),
}


def check_fault(use: str, given: Mapping[str, Any], *, where: str, key: str) -> dict[str, Any]:
    """Validate a fault's name and parameters; return the parameters, defaults filled in.

    Args:
        use: the fault's name, a key of :data:`FAULTS`.
        given: its parameters.
        where: the profile file (or the relay), for the message.
        key: where the fault is in it, e.g. ``faults[0]``.

    Raises:
        UnknownChoiceError: ``use`` is not a fault.
        ProfileError: an unknown or missing parameter, or a bad value.
    """
    kind = FAULTS.get(use)
    if kind is None:
        raise UnknownChoiceError("relay fault", use, FAULTS)
    params = check_params(where, key, f"fault {use!r}", kind.params, given)
    if params.get("pattern"):
        try:
            re.compile(params["pattern"])
        except re.error as error:
            raise ProfileError(
                where, f"{key}.pattern", f"not a regular expression: {error}"
            ) from None
    if len(params.get("reason", "").encode()) > MAX_REASON:
        raise ProfileError(where, f"{key}.reason", f"longer than {MAX_REASON} bytes in UTF-8")
    return params


@dataclass(frozen=True)
class FaultSpec:
    """A validated fault as the relay keeps it: built anew for each connection.

    Attributes:
        id: the relay's handle on it, for ``remove_fault``.
        use: its name in :data:`FAULTS`.
        params: its parameters, defaults filled in.
    """

    id: int
    use: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Fault:
        """A fresh instance, for one connection."""
        return FAULTS[self.use].cls(**self.params)

    def describe(self) -> str:
        """``latency(latency=100, jitter=0, ...)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.use}({args})"
