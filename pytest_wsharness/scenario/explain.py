"""Say what each hop saw, in one clause per hop, for failure messages and the matrix."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from ..proxy.records import ProxyRecord
from ..relay.records import ConnectionRecord
from ..server.records import RequestRecord

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
    return f"{profile} {'; '.join(parts) if parts else _nothing_said(records, connections)}"


def _nothing_said(records: Sequence[ProxyRecord], connections: Sequence[ConnectionRecord]) -> str:
    """What the proxy's records allow to say when they show no upgrade it dealt with.

    Issue 10: "saw no upgrade request" only when the records could show one: not while the
    edge still holds one, nor when the relay passed connections whose request it never read.
    """
    if any(r.asked_to_upgrade and not r.finished for r in records):
        return "saw the upgrade request, no answer yet"
    unread = [c for c in connections if c.asked_to_upgrade is None]
    if unread and not records:
        return f"passed {len(unread)} connection(s) without reading whether they asked to upgrade"
    return "saw no upgrade request"


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
    if connection.encrypted and connection.status is None:
        return "relayed an encrypted connection untouched", False
    if connection.asked_to_upgrade and connection.status is not None:
        return f"forwarded the upgrade request (HTTP {connection.status} came back)", False
    return None


def server_clause(requests: Sequence[RequestRecord] | None, endpoint: str) -> str:
    """Say what the server did with the last request to the realtime endpoint it answered.

    A request it sent no answer to (its client gone, or the server stopping) is named only
    when it answered none: the reload's own attempt, abandoned as the client closed, does not
    undo an upgrade before it.

    ``requests`` is ``None`` for a server whose requests the harness does not see (a real
    deployment): the clause says so rather than guess.
    """
    if requests is None:
        return NOT_OBSERVED
    return f"server {_endpoint_clause(requests, endpoint)}"


def backends_clause(backends: Sequence[Sequence[RequestRecord]], endpoint: str) -> str:
    """Say what every backend of a site did with the realtime endpoint, in order.

    Issue 10: behind a balancer the socket may go to any backend, so each is named, e.g.
    ``backend 1 never saw the endpoint request; backend 2 upgraded (101)``. One backend reads
    as :func:`server_clause`.

    Raises:
        ValueError: ``backends`` is empty: with no backend there is nothing the records
            could show, and "never saw" would be a guess.
    """
    if not backends:
        raise ValueError("backends_clause needs the requests of at least one backend")
    if len(backends) == 1:
        return server_clause(backends[0], endpoint)
    return "; ".join(
        f"backend {i} {_endpoint_clause(requests, endpoint)}"
        for i, requests in enumerate(backends, 1)
    )


def backend_requests(server: Any) -> list[Sequence[RequestRecord]]:
    """The requests each backend of ``server`` received, one list per backend, when it runs
    several (a :class:`~pytest_wsharness.runtime.sync.SyncCMS` of a two-backends profile); empty
    otherwise."""
    # A real deployment, or a server with one backend, has none to list.
    return [backend.requests for backend in getattr(server, "backends", ())]


def _endpoint_clause(requests: Sequence[RequestRecord], endpoint: str) -> str:
    hits = [r for r in requests if r.path.split("?", 1)[0] == endpoint]
    if not hits:
        return "never saw the endpoint request"
    answered = [r for r in hits if r.status is not None]
    last = answered[-1] if answered else hits[-1]
    did = answer_text(last)
    if last.status != 101 and not last.asked_to_upgrade:
        return f"never saw an Upgrade header and {did}"
    return did


def answer_text(request: RequestRecord) -> str:
    """What the server did with ``request``: ``upgraded (101)``, ``answered 200 OK``, or
    ``sent no answer (client gone)``."""
    if request.status is None:
        # Issue 10: a handler that ended without an answer is no status.
        return f"sent no answer ({request.no_answer})" if request.no_answer else "sent no answer"
    if request.status == 101:
        return "upgraded (101)"
    return f"answered {status_text(request.status)}"


def explain(**hops: Any) -> str:
    """Join the clauses of every hop into one line; the arguments are :func:`hop_clauses`'s."""
    return "; ".join(clause for _, clause in hop_clauses(**hops))


def hop_clauses(
    *,
    client: str,
    requests: Sequence[RequestRecord] | None,
    endpoint: str,
    profile: str | None = None,
    proxy_records: Sequence[ProxyRecord] = (),
    connections: Sequence[ConnectionRecord] = (),
    backends: Sequence[Sequence[RequestRecord]] = (),
) -> list[tuple[str, str]]:
    """The clause of every hop, proxy (when there is one), server, client, each with its hop.

    ``backends`` holds what each backend received when the site has several
    (:func:`backend_requests`); the server clause then names every one of them.
    """
    clauses = [("proxy", proxy_clause(profile, proxy_records, connections))] if profile else []
    if requests is not None and len(backends) > 1:
        clauses.append(("server", backends_clause(backends, endpoint)))
    else:
        clauses.append(("server", server_clause(requests, endpoint)))
    clauses.append(("client", client))
    return clauses


def status_text(code: int) -> str:
    """``code`` with its reason phrase, e.g. ``200 OK`` (the bare number if it has none)."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
