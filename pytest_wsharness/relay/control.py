"""Changing a running relay from the test's thread: cutting every open connection, adding
and removing faults on the open connections and the new ones. Each change runs on the relay's
own loop, where the connections live (:meth:`~pytest_wsharness.runtime.engine.LoopEngine._call`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ProfileError, UnknownChoiceError
from .faults import FaultError, FaultSpec, check_fault
from .link import Link
from .tunnel import CUT_ALL

T = TypeVar("T")


class FaultControl:
    """The relay's controls (:class:`~pytest_wsharness.relay.relay.Relay` has the state they
    use: its name, its open links, its fault specs and their ids, and ``_call``)."""

    name: str
    _links: set[Link]
    _specs: list[FaultSpec]
    _ids: itertools.count[int]

    if TYPE_CHECKING:  # the engine's (LoopEngine), which comes first in the relay's bases

        def _call(self, fn: Callable[[], T]) -> T: ...

    @property
    def faults(self) -> list[FaultSpec]:
        """The faults applied to new connections, in order."""
        return list(self._specs)

    def cut_all(self, how: str = "fin") -> int:
        """Cut every open connection now.

        Args:
            how: ``fin`` (FIN to both ends, no Close frame), ``rst`` (reset both ends) or
                ``close`` (Close 1001 to both ends, then FIN).

        Returns:
            How many connections were cut (those already cut are not counted).

        Raises:
            UnknownChoiceError: ``how`` is not one of the three.
        """
        if how not in CUT_ALL:
            raise UnknownChoiceError("cut", how, CUT_ALL)

        def cut() -> int:
            if not self._links:
                return 0
            now = asyncio.get_running_loop().time()
            count = 0
            for link in list(self._links):
                actions = link.tunnel.cut(how, now)
                if actions:
                    count += 1
                    link.apply(actions)
            return count

        return self._call(cut)

    def add_fault(self, use: str, **params: Any) -> int:
        """Apply a fault to the open connections and to every new one.

        Returns:
            The fault's id, for :meth:`remove_fault`.

        Raises:
            UnknownChoiceError: ``use`` is not a fault.
            FaultError: a parameter that is unknown, missing or out of range.
        """
        spec = self._spec(use, params, use)

        def add() -> int:
            self._specs.append(spec)
            if self._links:
                now = asyncio.get_running_loop().time()
                for link in list(self._links):
                    link.apply(link.tunnel.add(spec.id, spec.build(), now))
            return spec.id

        return self._call(add)

    def remove_fault(self, fault_id: int) -> None:
        """Stop a fault on every connection; what it held back is forwarded.

        Raises:
            UnknownChoiceError: no fault has that id.
        """

        def remove() -> None:
            ids = [s.id for s in self._specs]
            if fault_id not in ids:
                raise UnknownChoiceError("relay fault id", fault_id, map(str, ids))
            self._specs = [s for s in self._specs if s.id != fault_id]
            if self._links:
                now = asyncio.get_running_loop().time()
                for link in list(self._links):
                    link.apply(link.tunnel.remove(fault_id, now))

        self._call(remove)

    def clear_faults(self) -> None:
        """Remove every fault."""
        for spec in self.faults:
            self.remove_fault(spec.id)

    def _spec(self, use: str, params: Mapping[str, Any], key: str) -> FaultSpec:
        try:
            checked = check_fault(use, params, where=f"relay {self.name!r}", key=key)
        except ProfileError as error:
            raise FaultError(error.path, error.key, error.problem) from None
        return FaultSpec(next(self._ids), use, checked)
