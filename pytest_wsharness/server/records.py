"""What the simulated server saw: one record per request, headers redacted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..protocol.handshake import asks_to_upgrade
from ..runtime.redact import redact_headers

if TYPE_CHECKING:
    from aiohttp import web


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server received it.

    Attributes:
        method: the request method.
        path: the request path with its query.
        version: the HTTP version the request used, e.g. ``"1.1"``.
        headers: the headers as received, secrets redacted.
        status: the status the server answered (101 when it upgraded); ``None`` when it sent
            no answer (see ``no_answer``).
        at: when the request reached the server's handler, ``time.monotonic()`` (the
            process-wide clock of every record, so that a timeline can order them); not
            compared. It defaults to when the record is made.
        no_answer: why the server sent no answer, when it sent none: ``client gone`` (the
            client closed its connection before the answer could be written),
            ``cancelled: server stopping``, ``cancelled: client gone``, ``cancelled``.
            Empty when it answered.
    """

    method: str
    path: str
    version: str
    headers: tuple[tuple[str, str], ...]
    status: int | None
    at: float = field(default_factory=time.monotonic, compare=False)
    no_answer: str = ""

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def asked_to_upgrade(self) -> bool:
        """Whether both hop-by-hop upgrade headers reached the server."""
        return asks_to_upgrade(self.header)

    @property
    def answer(self) -> str:
        """What the server did, in words: ``101``, ``200``, or ``no answer (client gone)``."""
        if self.status is not None:
            return str(self.status)
        return f"no answer ({self.no_answer})" if self.no_answer else "no answer"

    def __str__(self) -> str:
        return f"{self.method} {self.path} HTTP/{self.version} -> {self.answer}"


def client_gone(request: web.Request) -> bool:
    """Whether the client of ``request`` has gone (its connection closed or closing)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def request_record(
    request: web.Request, status: int | None, arrived: float, no_answer: str = ""
) -> RequestRecord:
    """The record of ``request``, answered ``status`` (``None``: not answered, ``no_answer``
    says why), which arrived at ``arrived`` (``time.monotonic()``)."""
    return RequestRecord(
        method=request.method,
        path=request.path_qs,
        version=f"{request.version.major}.{request.version.minor}",
        headers=redact_headers(request.headers.items()),
        status=status,
        at=arrived,
        no_answer=no_answer,
    )
