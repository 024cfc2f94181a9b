"""What the simulated server saw: one record per request, headers redacted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..handshake import asks_to_upgrade


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server received it.

    Attributes:
        method: the request method.
        path: the request path with its query.
        version: the HTTP version the request used, e.g. ``"1.1"``.
        headers: the headers as received, secrets redacted.
        status: the status the server answered (101 when it upgraded).
        at: when the request reached the server's handler, ``time.monotonic()`` (the
            process-wide clock of every record, so that a timeline can order them); not
            compared. It defaults to when the record is made.
    """

    method: str
    path: str
    version: str
    headers: tuple[tuple[str, str], ...]
    status: int
    at: float = field(default_factory=time.monotonic, compare=False)

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def asked_to_upgrade(self) -> bool:
        """Whether both hop-by-hop upgrade headers reached the server."""
        return asks_to_upgrade(self.header)

    def __str__(self) -> str:
        return f"{self.method} {self.path} HTTP/{self.version} -> {self.status}"
