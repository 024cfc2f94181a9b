"""The relay: faults in live connections, after the handshake, where mitmproxy cannot act.

* :mod:`.frames`, :mod:`.messages`, :mod:`.scanner`: sans-I/O reading of heads, frames,
  messages and frame boundaries.
* :mod:`.fault_base`, :mod:`.toxics`, :mod:`.wsfaults`: the faults; :mod:`.faults`: their
  registry :data:`~pytest_wsharness.relay.faults.FAULTS` (cheap to import: profiles validate
  with it).
* :mod:`.tunnel`: one connection's decisions, without I/O, as :mod:`.actions`; :mod:`.link`:
  its I/O, which carries them out.
* :mod:`.relay`: :class:`~pytest_wsharness.relay.relay.Relay`, the engine on its own thread
  (:class:`~pytest_wsharness.runtime.engine.LoopEngine`); :mod:`.accept`: what it does with a
  connection before the tunnel.

The engine is imported on first use of ``Relay`` so that importing the registry stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import FAULTS, FaultError, FaultType
from .records import ConnectionRecord

if TYPE_CHECKING:
    from .relay import Relay

__all__ = ["FAULTS", "ConnectionRecord", "FaultError", "FaultType", "Relay"]


def __getattr__(name: str) -> Any:
    if name == "Relay":
        from .relay import Relay

        return Relay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
