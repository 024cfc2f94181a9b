"""Say what each hop saw, in one clause per hop, for failure messages and the matrix."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from .proxy.records import ProxyRecord
from .server.records import RequestRecord


def proxy_clause(profile: str, records: Sequence[ProxyRecord]) -> str:
    """Say what the proxy did to the last upgrade request."""
    # A request still in flight (the reload's own attempt) has nothing to say yet.
    upgrades = [r for r in records if r.asked_to_upgrade and r.finished]
    if upgrades:
        return f"{profile} {upgrades[-1].describe()}"
    refused = [r for r in records if r.request.startswith("CONNECT") and r.answered_by == "proxy"]
    if refused:
        return (
            f"{profile} refused {refused[-1].request.rsplit(' ', 1)[0]} with {refused[-1].status}"
        )
    return f"{profile} saw no upgrade request"


def server_clause(requests: Sequence[RequestRecord], endpoint: str) -> str:
    """Say what the server did with the last request to the realtime endpoint."""
    hits = [r for r in requests if r.path.split("?", 1)[0] == endpoint]
    if not hits:
        return "server never saw the endpoint request"
    last = hits[-1]
    if last.status == 101:
        return "server upgraded (101)"
    answered = f"answered {_status(last.status)}"
    if not last.asked_to_upgrade:
        return f"server never saw an Upgrade header and {answered}"
    return f"server {answered}"


def explain(
    *,
    client: str,
    requests: Sequence[RequestRecord],
    endpoint: str,
    profile: str | None = None,
    proxy_records: Sequence[ProxyRecord] = (),
) -> str:
    """Join the clauses of every hop: proxy (when there is one), server, client."""
    clauses = [proxy_clause(profile, proxy_records)] if profile is not None else []
    clauses.append(server_clause(requests, endpoint))
    clauses.append(client)
    return "; ".join(clauses)


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
