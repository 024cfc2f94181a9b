"""One scenario's timeline: what the client, the proxy and the server did, in time order.

A pure function over the records the hops keep. Every record carries a ``time.monotonic()``
stamp (the proxy and relay run on threads of the same process, so one clock orders them all);
the client's times count from its own start, which the caller passes. Only header *names* and
the values of the hop-by-hop upgrade headers are quoted (from records already redacted), so no
credential reaches a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..reports.scenarios import HopEvent
from .explain import answer_text, status_text

if TYPE_CHECKING:
    from ..client.events import SocketEvent
    from ..client.machine import TimelineEntry
    from ..proxy.records import ProxyRecord
    from ..relay.records import ConnectionRecord
    from ..server.records import RequestRecord

# Past this many events the middle of the timeline is left out: a retry storm must not turn a
# report attached to a ticket into megabytes.
MAX_EVENTS = 300

_DIALOGS = {
    "noconnection": "the no-connection modal",
    "reconnecting": "the reconnecting dialog",
    "reconnect-failed": "the reconnect-failed dialog",
}
# Relay events are noted as "+0.600s what happened", counting from the connection's start.
_OFFSET = re.compile(r"^\+(-?\d+(?:\.\d+)?)s (.*)$", re.DOTALL)

_Stamped = tuple[float, str, str]


def build_timeline(
    *,
    endpoint: str,
    client_origin: float,
    history: Sequence[TimelineEntry] = (),
    socket_events: Sequence[SocketEvent] = (),
    proxy_records: Sequence[ProxyRecord] = (),
    connections: Sequence[ConnectionRecord] = (),
    requests: Sequence[RequestRecord] = (),
    limit: int = MAX_EVENTS,
    published_at: float | None = None,
    refreshed_at: float | None = None,
    after_refresh: bool = False,
) -> tuple[HopEvent, ...]:
    """Merge what every hop did into one timeline, in time order.

    Args:
        endpoint: the realtime endpoint's path; the server's other requests (the page's REST
            reads) are left out.
        client_origin: the ``time.monotonic()`` the client's times count from.
        history: the client's page lives (``UiClient.history``), in seconds since
            ``client_origin``: page loads, connect attempts, dialogs, live updates.
        socket_events: what the client's sockets saw, in seconds since ``client_origin``.
        proxy_records: what the proxy's HTTP edge did, one record per request.
        connections: what the proxy's relay did, one record per client connection.
        requests: what the server received, from every backend.
        limit: the most events kept, at least 3; the middle of a longer timeline is left
            out, and an event says how many went. It defaults to :data:`MAX_EVENTS`.
        published_at: when the scenario's update was published (``time.monotonic()``): a
            server event.
        refreshed_at: when the reload had loaded, and ``after_refresh`` whether it showed the
            update: a client event.

    Returns:
        The events, ``t`` in seconds since the earliest of them (the first page load, as a
        rule); events at the same time keep the order client, proxy, server.

    Raises:
        ValueError: ``limit`` is under 3.
    """
    if limit < 3:
        raise ValueError(f"limit must be at least 3, got {limit!r}")
    stamped: list[_Stamped] = [
        *_client(client_origin, history, socket_events),
        *_proxy(proxy_records, endpoint),
        *_relay(connections),
        *_server(requests, endpoint),
    ]
    if published_at is not None:
        stamped.append((published_at, "server", "update published"))
    if refreshed_at is not None:
        shown = "shown" if after_refresh else "NOT shown"
        stamped.append((refreshed_at, "client", f"update {shown} after reload"))
    if not stamped:
        return ()
    # The first thing any hop did: a browser's own start (its launch) is not the scenario's.
    zero = min(at for at, _, _ in stamped)
    hops = {"client": 0, "proxy": 1, "server": 2}
    ordered = sorted(stamped, key=lambda s: (s[0], hops[s[1]]))
    events = [HopEvent(round(at - zero, 3), hop, text) for at, hop, text in ordered]
    return _bounded(events, limit)


def _client(
    origin: float, history: Iterable[TimelineEntry], events: Iterable[SocketEvent]
) -> list[_Stamped]:
    # The socket's events first: at the same time, what the page did follows from them.
    out: list[_Stamped] = [(origin + e.t, "client", f"WebSocket {e}") for e in events]
    for entry in history:
        text = _history_text(entry.kind, entry.detail)
        if text:
            out.append((origin + entry.t, "client", text))
    return out


def _history_text(kind: str, detail: str) -> str:
    """Say what a client's timeline entry means; ``""`` for the routine (heartbeats, states,
    and the socket's own events, which the socket events say better)."""
    if kind == "load":
        return detail if detail.endswith(" 1") else f"reload ({detail})"
    if kind == "connect":
        return f"WebSocket handshake, {detail}"
    if kind == "dialog":
        return f"showed {_DIALOGS.get(detail, detail)}"
    if kind == "dialog-hidden":
        return f"hid {_DIALOGS.get(detail, detail)}"
    if kind == "update":
        return f"live update received ({detail})"
    if kind == "heartbeat-timeout":
        return f"heartbeat timeout ({detail}): closing the socket"
    if kind == "reconnect-scheduled":
        return f"reconnect scheduled {detail}"
    if kind == "state" and detail == "disabled":
        return "WebSocketEnabled=false: no socket"
    if kind == "ignored" and detail != "socket closing":
        return f"ignored a message: {detail}"
    return ""


def _proxy(records: Iterable[ProxyRecord], endpoint: str) -> list[_Stamped]:
    out: list[_Stamped] = []
    for r in records:
        connect = r.request.startswith("CONNECT ")
        if not (
            r.asked_to_upgrade
            or connect
            or _path(r.request) == endpoint
            or r.reset
            or r.answered_by == "proxy"
        ):
            continue  # the page's REST reads, passed on untouched
        asks = " (asks to upgrade)" if r.asked_to_upgrade else " (no upgrade asked)"
        out.append((r.seen_at, "proxy", f"request {r.request}{'' if connect else asks}"))
        if r.headers_removed:
            removed = ", ".join(r.headers_removed)
            out.append((r.seen_at, "proxy", f"removed {removed} from the request"))
        out += [(r.seen_at, "proxy", change) for change in r.changes]
        answered = r.answered_at if r.answered_at is not None else r.seen_at
        answer = _proxy_answer(r)
        if answer:
            out.append((answered, "proxy", answer))
        if r.closed_by is not None:  # set when the WebSocket closed
            at = r.closed_at if r.closed_at is not None else answered
            code = r.close_code if r.close_code is not None else "without a code"
            out.append((at, "proxy", f"WebSocket closed {code} by the {r.closed_by}"))
    return out


def _proxy_answer(r: ProxyRecord) -> str:
    if r.reset:
        return "reset the client's TCP connection"
    if r.status is None:
        return f"error: {r.error}" if r.error else ""
    if r.answered_by == "proxy":
        return f"answered {status_text(r.status)} itself (not forwarded)"
    if r.upgraded:
        return f"{status_text(r.status)} from the server: upgraded, WebSocket tunnelled"
    return f"answer {status_text(r.status)} from the server, passed on"


def _relay(connections: Iterable[ConnectionRecord]) -> list[_Stamped]:
    out: list[_Stamped] = []
    for c in connections:
        if c.asked_to_upgrade is False:
            continue  # the page's own requests: no fault acted on them
        name = f"connection #{c.index}"
        routine = not c.events and not c.upgraded and c.status != 101
        if routine and c.asked_to_upgrade is None:
            # A connection the relay did not look into (encrypted, or its request still to
            # come) and did nothing to: one line.
            what = "a connection unread" if c.status is None else f"HTTP {c.status}"
            ended = c.ended or "still open"
            out.append((c.started, "proxy", f"{name}: passed {what}, untouched ({ended})"))
            continue
        asks = " asking to upgrade" if c.asked_to_upgrade else ""
        tls = f"; {c.tls}" if c.tls else ""
        out.append((c.started, "proxy", f"{name} from {c.client} accepted{asks}{tls}"))
        if c.status is not None:
            at = c.answered_at if c.answered_at is not None else c.started
            passed = ", upgraded" if c.upgraded else ""
            out.append((at, "proxy", f"{name}: HTTP {c.status} came back{passed}"))
        last = c.started
        for event in c.events:
            match = _OFFSET.match(event)
            at, text = (c.started + float(match[1]), match[2]) if match else (c.started, event)
            out.append((at, "proxy", f"{name}: {text}"))
            last = max(last, at)
        if c.ended is not None:
            # The end is said after the event that caused it: their stamps differ by rounding.
            at = max(c.ended_at if c.ended_at is not None else c.started, last)
            traffic = f"{c.frames_up} frame(s) up, {c.frames_down} down"
            out.append((at, "proxy", f"{name}: {c.ended} ({traffic})"))
    return out


def _server(requests: Iterable[RequestRecord], endpoint: str) -> list[_Stamped]:
    out: list[_Stamped] = []
    for r in requests:
        if r.path.split("?", 1)[0] != endpoint:
            continue
        headers: dict[str, str] = {}
        for key, value in r.headers:
            headers.setdefault(key.lower(), value)  # the first value, as the server reads it
        seen = ", ".join(
            f"{name}: {headers[name.lower()]}"
            for name in ("Upgrade", "Connection")
            if name.lower() in headers
        )
        if not r.asked_to_upgrade:
            seen = f"no Upgrade header{f' ({seen})' if seen else ''}"
        out.append((r.at, "server", f"{r.method} {r.path} saw {seen}; {answer_text(r)}"))
    return out


def _path(request_line: str) -> str:
    """The path of a request line, for an absolute-form target too."""
    parts = request_line.split(" ")
    target = parts[1] if len(parts) > 1 else ""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0]


def _bounded(events: list[HopEvent], limit: int) -> tuple[HopEvent, ...]:
    if len(events) <= limit:
        return tuple(events)
    head, tail = limit // 2, limit - limit // 2 - 1
    left = events[head : len(events) - tail]
    gap = HopEvent(left[0].t, left[0].hop, f"... {len(left)} more events left out ...")
    return (*events[:head], gap, *events[len(events) - tail :])
