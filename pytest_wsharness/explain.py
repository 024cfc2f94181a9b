"""Say what each hop saw, in one clause per hop, for failure messages and the matrix."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from .proxy.records import ProxyRecord
from .relay.records import ConnectionRecord
from .server.records import RequestRecord

NOT_OBSERVED = "server not observed (a real deployment)"


def proxy_clause(
    profile: str, records: Sequence[ProxyRecord], connections: Sequence[ConnectionRecord] = ()
) -> str:
    """Say what the proxy did to the realtime connection: its HTTP edge, then its relay."""
    # What it did to TLS first: it happened first, and it is the tell-tale of an interceptor.
    parts: list[str] = []
    tls = next((c.tls for c in connections if c.tls), "")
    if tls:
        parts.append(tls)
    edge = len(parts)
    # A request still in flight (the reload's own attempt) has nothing to say yet.
    upgrades = [r for r in records if r.asked_to_upgrade and r.finished]
    refused = [r for r in records if r.request.startswith("CONNECT") and r.answered_by == "proxy"]
    if upgrades:
        parts.append(upgrades[-1].describe())
    elif refused:
        last = refused[-1]
        parts.append(f"refused {last.request.rsplit(' ', 1)[0]} with {last.status}")
    relayed, faulted = relay_summary(connections)
    # Without faults the relay only repeats what the edge said; with faults it adds to it.
    if relayed and (faulted or len(parts) == edge):
        parts.append(relayed)
    return f"{profile} {'; '.join(parts) if parts else 'saw no upgrade request'}"


def relay_summary(connections: Sequence[ConnectionRecord]) -> tuple[str, bool]:
    """Say what the relay did to the first connection that mattered (``""`` if none), and
    whether a fault acted on it."""
    for connection in connections:
        if connection.asked_to_upgrade is False:
            continue  # the page's own requests
        said = _connection_clause(connection)
        if said is not None:
            return said
    return "", False


def _connection_clause(connection: ConnectionRecord) -> tuple[str, bool] | None:
    if connection.events:
        events = "; ".join(
            e.split(" ", 1)[1] if e.startswith("+") else e for e in connection.events
        )
        return f"{events} ({connection.ended or 'still open'})", True
    if connection.upgraded:
        return "tunnelled the WebSocket", False
    if connection.asked_to_upgrade is None and connection.status is None:
        return "relayed an encrypted connection untouched", False
    if connection.asked_to_upgrade and connection.status is not None:
        return f"forwarded the upgrade request (HTTP {connection.status} came back)", False
    return None


def server_clause(requests: Sequence[RequestRecord] | None, endpoint: str) -> str:
    """Say what the server did with the last request to the realtime endpoint.

    ``requests`` is ``None`` for a server whose requests the harness does not see (a real
    deployment): the clause says so rather than guess.
    """
    if requests is None:
        return NOT_OBSERVED
    hits = [r for r in requests if r.path.split("?", 1)[0] == endpoint]
    if not hits:
        return "server never saw the endpoint request"
    last = hits[-1]
    if last.status == 101:
        return "server upgraded (101)"
    answered = f"answered {status_text(last.status)}"
    if not last.asked_to_upgrade:
        return f"server never saw an Upgrade header and {answered}"
    return f"server {answered}"


def explain(
    *,
    client: str,
    requests: Sequence[RequestRecord] | None,
    endpoint: str,
    profile: str | None = None,
    proxy_records: Sequence[ProxyRecord] = (),
    connections: Sequence[ConnectionRecord] = (),
) -> str:
    """Join the clauses of every hop: proxy (when there is one), server, client."""
    clauses = [proxy_clause(profile, proxy_records, connections)] if profile is not None else []
    clauses.append(server_clause(requests, endpoint))
    clauses.append(client)
    return "; ".join(clauses)


def status_text(code: int) -> str:
    """``code`` with its reason phrase, e.g. ``200 OK`` (the bare number if it has none)."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
