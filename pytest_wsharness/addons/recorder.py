"""Recorder: turns each flow into a :class:`ProxyRecord` and logs its fate in one line.

It runs first in the addon list, so it sees the request as the client sent it; it reads what the
behaviour addons decided from the flow's metadata once the flow has an answer or an error.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from pytest_wsharness.protocol.handshake import asks_to_upgrade
from pytest_wsharness.proxy.records import (
    ALLOWED_TARGETS,
    ANSWERED_BY_PROXY,
    DELAYED,
    REFUSED_TARGET,
    REMOVED_HEADERS,
    RESET,
    RESPONSE_REMOVED_HEADERS,
    RESPONSE_REWRITTEN_HEADERS,
    REWRITTEN_HEADERS,
    TLS_INTERCEPTED,
    ProxyRecord,
    RecordSink,
)

logger = logging.getLogger("wsharness.proxy")
_RECORD = "wsharness.record"


class Recorder:
    """Record every request, its answer and, for WebSockets, how the connection ended.

    Args:
        profile: the profile name to put in each record.
        sink: where to put the records; a new one by default.
    """

    def __init__(self, profile: str = "mitmdump", sink: RecordSink | None = None) -> None:
        self.profile = profile
        self.sink = sink or RecordSink()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        record = ProxyRecord(
            profile=self.profile,
            request=f"{request.method} {request.path} {request.http_version}",
            asked_to_upgrade=asks_to_upgrade(request.headers.get),
        )
        flow.metadata[_RECORD] = record
        self.sink.add(record)

    def http_connected(self, flow: http.HTTPFlow) -> None:
        self._connect(flow)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        self._connect(flow)

    def _connect(self, flow: http.HTTPFlow) -> None:
        # A CONNECT is the proxy's own business (no requestheaders/response hooks): one record.
        request = flow.request
        record = ProxyRecord(
            profile=self.profile,
            request=f"CONNECT {request.host}:{request.port} {request.http_version}",
            asked_to_upgrade=False,
        )
        flow.metadata[_RECORD] = record
        self.sink.add(record)
        self.response(flow)
        if record.status is not None and record.status >= 300:
            record.answered_by, record.forwarded = "proxy", False

    def response(self, flow: http.HTTPFlow) -> None:
        record = self._finish(flow)
        if record is None or flow.response is None:
            return
        record.status, record.answered_at = flow.response.status_code, time.monotonic()
        by_proxy = bool(flow.metadata.get(ANSWERED_BY_PROXY))
        record.answered_by = "proxy" if by_proxy else "upstream"
        record.forwarded = not by_proxy
        record.upgraded = flow.websocket is not None
        if not record.upgraded:
            logger.info("%s: %s -> %s", record.request, record.describe(), record.status)

    def error(self, flow: http.HTTPFlow) -> None:
        record = self._finish(flow)
        if record is not None and flow.error is not None:
            record.error, record.answered_at = flow.error.msg, time.monotonic()
            logger.info("%s: %s", record.request, record.describe())

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        # Relay, do not keep: mitmproxy stores every message otherwise (#6620).
        if flow.websocket is not None:
            flow.websocket.messages.clear()

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        record = self._record(flow)
        if record is None or flow.websocket is None:
            return
        record.close_code = int(flow.websocket.close_code) if flow.websocket.close_code else None
        record.closed_by = "client" if flow.websocket.closed_by_client else "server"
        record.closed_at = time.monotonic()
        logger.info("%s: %s", record.request, record.describe())

    def _finish(self, flow: http.HTTPFlow) -> ProxyRecord | None:
        record = self._record(flow)
        if record is not None:
            record.headers_removed = tuple(flow.metadata.get(REMOVED_HEADERS, ()))
            record.reset = bool(flow.metadata.get(RESET))
            record.changes = _changes(flow.metadata)
        return record

    @staticmethod
    def _record(flow: http.HTTPFlow) -> ProxyRecord | None:
        record = flow.metadata.get(_RECORD)
        return record if isinstance(record, ProxyRecord) else None


def _changes(metadata: dict[str, object]) -> tuple[str, ...]:
    words = []
    if refused := metadata.get(REFUSED_TARGET):
        targets = metadata.get(ALLOWED_TARGETS)
        allowed = ", ".join(str(t) for t in targets) if isinstance(targets, tuple) else ""
        reach = f"it reaches only {allowed}" if allowed else "no target allowed"
        words.append(f"refused to reach {refused} ({reach})")
    if metadata.get(TLS_INTERCEPTED):
        words.append("opened TLS with its own CA")
    if delay := metadata.get(DELAYED):
        words.append(f"held the request {delay:.3g}s")
    for key, what in (
        (REWRITTEN_HEADERS, "rewrote {} in the request"),
        (RESPONSE_REWRITTEN_HEADERS, "spoiled {} in the answer"),
        (RESPONSE_REMOVED_HEADERS, "removed {} from the answer"),
    ):
        names = metadata.get(key)
        if isinstance(names, tuple | list) and names:
            words.append(what.format(", ".join(str(n) for n in names)))
    return tuple(words)


addons = [Recorder()]
