"""Pure tests of the judgements: verdict.py (judge, expected_outcome, Observation), explain.py
(one clause per hop, from hand-built records) and redact.py (no credential in a record)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.profiles import Expect
from pytest_wsharness.proxy.records import ProxyRecord
from pytest_wsharness.relay.records import ConnectionRecord
from pytest_wsharness.runtime.redact import REDACTED, redact_headers
from pytest_wsharness.scenario.explain import (
    backend_requests,
    backends_clause,
    explain,
    proxy_clause,
    server_clause,
)
from pytest_wsharness.server.records import RequestRecord
from pytest_wsharness.verdict import Observation, Verdict, expected_outcome, judge

ENDPOINT = "/EPiServer/Shell/socket/endpoint"
UPGRADE = (("Host", "cms"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"))


def observe(**changes: Any) -> Observation:
    """A correct fallback behind a refusing proxy, with ``changes`` applied."""
    fields: dict[str, Any] = {
        "websocket_enabled": True,
        "attempts": 1,
        "opened": False,
        "state": State.NO_CONNECTION,
        "dialogs": (Dialog.NO_CONNECTION,),
        "live": False,
        "after_refresh": True,
    }
    return Observation(**{**fields, **changes})


DISABLED = {"websocket_enabled": False, "attempts": 0, "state": State.DISABLED, "dialogs": ()}
LIVE = {"opened": True, "state": State.CONNECTED, "dialogs": (), "live": True}


@pytest.mark.parametrize(
    ("changes", "expect", "verdict", "problems"),
    [
        pytest.param(DISABLED, Expect.DELIVERED, Verdict.FELL_BACK, [], id="disabled-ok"),
        pytest.param(
            {**DISABLED, "attempts": 1},
            Expect.FALLBACK,
            Verdict.WRONG,
            ["should have opened no socket (made 1 attempt(s))"],
            id="disabled-but-attempted",
        ),
        pytest.param(
            {**DISABLED, "dialogs": (Dialog.NO_CONNECTION,), "after_refresh": False},
            Expect.DELIVERED,
            Verdict.WRONG,
            [
                "should have shown no dialog (showed noconnection)",
                "should have shown the update after a refresh",
            ],
            id="disabled-dialog-no-refresh",
        ),
        pytest.param(
            {**DISABLED, "live": True},
            Expect.DELIVERED,
            Verdict.WRONG,
            ["should have got no live update"],
            id="disabled-but-live",
        ),
        pytest.param(LIVE, Expect.DELIVERED, Verdict.DELIVERED, [], id="delivered-ok"),
        pytest.param(
            {},
            Expect.DELIVERED,
            Verdict.WRONG,
            ["should have got the update live (state no-connection, 1 attempt(s))"],
            id="delivered-expected-not-live",
        ),
        pytest.param({}, Expect.FALLBACK, Verdict.FELL_BACK, [], id="fallback-ok"),
        pytest.param(
            {"attempts": 3},
            Expect.FALLBACK,
            Verdict.WRONG,
            ["should have made one attempt, no retry storm (made 3)"],
            id="retry-storm",
        ),
        pytest.param(
            {"state": State.WAITING, "dialogs": (Dialog.RECONNECTING,), "after_refresh": False},
            Expect.FALLBACK,
            Verdict.WRONG,
            [
                "should have ended in the no-connection state (ended waiting-to-reconnect)",
                "should have shown the noconnection modal once (showed reconnecting)",
                "should have shown the update after a refresh",
            ],
            id="fallback-wrong-everything",
        ),
        pytest.param(
            {"dialogs": (Dialog.NO_CONNECTION, Dialog.NO_CONNECTION)},
            Expect.FALLBACK,
            Verdict.WRONG,
            ["should have shown the noconnection modal once (showed noconnection, noconnection)"],
            id="modal-twice",
        ),
        pytest.param(
            {"dialogs": ()},
            Expect.FALLBACK,
            Verdict.WRONG,
            ["should have shown the noconnection modal once (showed none)"],
            id="no-modal",
        ),
    ],
)
def test_judge(
    changes: dict[str, Any], expect: Expect, verdict: Verdict, problems: list[str]
) -> None:
    assert judge(observe(**changes), expect) == (verdict, problems)


@pytest.mark.parametrize(
    ("expect", "enabled", "verdict"),
    [
        (Expect.DELIVERED, True, Verdict.DELIVERED),
        (Expect.DELIVERED, False, Verdict.FELL_BACK),
        (Expect.FALLBACK, True, Verdict.FELL_BACK),
        (Expect.FALLBACK, False, Verdict.FELL_BACK),
    ],
)
def test_expected_outcome(expect: Expect, enabled: bool, verdict: Verdict) -> None:
    assert expected_outcome(expect, enabled) is verdict


@pytest.mark.parametrize(
    ("changes", "summary"),
    [
        ({}, "1 failed attempt(s), noconnection, no live update, shown after refresh"),
        (DISABLED, "no socket, no dialog, no live update, shown after refresh"),
        (
            {**LIVE, "attempts": 2},
            "open after 2 attempt(s), no dialog, live update, shown after refresh",
        ),
        (
            {
                "attempts": 9,
                "dialogs": (Dialog.RECONNECTING, Dialog.RECONNECT_FAILED),
                "after_refresh": False,
            },
            "9 failed attempt(s), reconnecting+reconnect-failed, no live update, "
            "NOT shown after refresh",
        ),
    ],
)
def test_summary(changes: dict[str, Any], summary: str) -> None:
    assert observe(**changes).summary() == summary


@pytest.mark.parametrize(
    ("changes", "clause"),
    [
        ({}, "client saw no socket event"),
        (DISABLED, "client opened no socket (WebSocketEnabled=false)"),
        (
            {"socket_events": ("handshake failed (HTTP 200)", "closed 1006")},
            "client handshake failed (HTTP 200); closed 1006",
        ),
    ],
)
def test_client_clause(changes: dict[str, Any], clause: str) -> None:
    assert observe(**changes).client_clause() == clause


def proxied(**changes: Any) -> ProxyRecord:
    return ProxyRecord(
        profile="p", request=f"GET {ENDPOINT} HTTP/1.1", asked_to_upgrade=True, **changes
    )


@pytest.mark.parametrize(
    ("records", "clause"),
    [
        ([], "p saw no upgrade request"),
        (
            [ProxyRecord("p", "GET / HTTP/1.1", asked_to_upgrade=False, forwarded=True)],
            "p saw no upgrade request",
        ),
        # Still in flight: it did see one (issue 10), and has nothing more to say yet.
        ([proxied()], "p saw the upgrade request, no answer yet"),
        # The reload's own attempt, still in flight, does not hide the answered one.
        ([proxied(forwarded=True, status=200), proxied()], "p forwarded the request"),
        ([proxied(status=200)], "p did nothing visible"),
        (
            [proxied(headers_removed=("Connection", "Upgrade"), forwarded=True, status=200)],
            "p removed Connection, Upgrade, forwarded the request",
        ),
        ([proxied(reset=True, error="connection reset")], "p reset the connection"),
        ([proxied(answered_by="proxy", status=403)], "p answered 403 itself"),
        (
            [
                proxied(
                    upgraded=True, forwarded=True, status=101, close_code=1001, closed_by="server"
                )
            ],
            "p tunnelled the WebSocket, saw close 1001 from the server",
        ),
        ([proxied(error="peer closed")], "p error: peer closed"),
        (
            [proxied(answered_by="proxy", status=403), proxied(forwarded=True, status=200)],
            "p forwarded the request",
        ),
    ],
)
def test_proxy_clause(records: list[ProxyRecord], clause: str) -> None:
    assert proxy_clause("p", records) == clause


@pytest.mark.parametrize(
    ("connections", "clause"),
    [
        (
            [ConnectionRecord(0, "c", asked_to_upgrade=False, status=200)],
            "p saw no upgrade request",
        ),
        ([ConnectionRecord(0, "c", upgraded=True, status=101)], "p tunnelled the WebSocket"),
        # Issue 10: a relay that did not read the requests cannot say none asked to upgrade.
        (
            [ConnectionRecord(0, "c", status=200), ConnectionRecord(1, "c", status=404)],
            "p passed 2 connection(s) without reading whether they asked to upgrade",
        ),
        (
            [ConnectionRecord(0, "c", asked_to_upgrade=True, status=200)],
            "p forwarded the upgrade request (HTTP 200 came back)",
        ),
        (
            [
                ConnectionRecord(
                    0, "c", upgraded=True, events=["+0.600s idle timeout: cut"], ended="cut (FIN)"
                )
            ],
            "p idle timeout: cut (cut (FIN))",
        ),
    ],
)
def test_proxy_clause_from_the_relay(connections: list[ConnectionRecord], clause: str) -> None:
    assert proxy_clause("p", [], connections) == clause


def test_relay_faults_add_to_what_the_edge_did() -> None:
    edge = [proxied(headers_removed=("Upgrade",), forwarded=True, status=200)]
    relayed = [ConnectionRecord(0, "c", events=["+0.1s held frames"], ended="server closed")]
    assert proxy_clause("p", edge, relayed) == (
        "p removed Upgrade, forwarded the request; held frames (server closed)"
    )


def request(
    status: int | None,
    headers: tuple[tuple[str, str], ...] = UPGRADE,
    path: str = ENDPOINT,
    no_answer: str = "",
) -> RequestRecord:
    return RequestRecord("GET", path, "1.1", headers, status, no_answer=no_answer)


GONE = "client gone"


@pytest.mark.parametrize(
    ("requests", "clause"),
    [
        ([], "server never saw the endpoint request"),
        ([request(200, path="/EPiServer/Shell/settings")], "server never saw the endpoint request"),
        ([request(101)], "server upgraded (101)"),
        ([request(101, path=ENDPOINT + "?x=1")], "server upgraded (101)"),
        (
            [request(200, headers=(("Host", "cms"),))],
            "server never saw an Upgrade header and answered 200 OK",
        ),
        ([request(403)], "server answered 403 Forbidden"),
        ([request(599)], "server answered 599"),
        ([request(101), request(426)], "server answered 426 Upgrade Required"),
        # Issue 10: a request the server sent no answer to is no status of it.
        ([request(None, no_answer=GONE)], "server sent no answer (client gone)"),
        ([request(None)], "server sent no answer"),
        (
            [request(None, headers=(), no_answer="cancelled: server stopping")],
            "server never saw an Upgrade header and sent no answer (cancelled: server stopping)",
        ),
        # The reload's own attempt, abandoned as the client closed, does not undo the upgrade.
        ([request(101), request(None, no_answer=GONE)], "server upgraded (101)"),
    ],
)
def test_server_clause(requests: list[RequestRecord], clause: str) -> None:
    assert server_clause(requests, ENDPOINT) == clause


SETTINGS = request(200, path="/EPiServer/Shell/settings")


@pytest.mark.parametrize(
    ("backends", "clause"),
    [
        # Issue 10: the socket went to the second backend; the first saw only the page.
        (
            [[SETTINGS], [SETTINGS, request(101)]],
            "backend 1 never saw the endpoint request; backend 2 upgraded (101)",
        ),
        (
            [[request(101)], [request(None, no_answer=GONE)]],
            "backend 1 upgraded (101); backend 2 sent no answer (client gone)",
        ),
        (
            [[], [], [request(101)]],
            "backend 1 never saw the endpoint request; "
            "backend 2 never saw the endpoint request; backend 3 upgraded (101)",
        ),
        ([[request(101)]], "server upgraded (101)"),
    ],
)
def test_backends_clause_names_every_backend(
    backends: list[list[RequestRecord]], clause: str
) -> None:
    assert backends_clause(backends, ENDPOINT) == clause


def test_backends_clause_needs_a_backend() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        backends_clause([], ENDPOINT)


def test_explain_names_every_backend_of_the_site() -> None:
    first, second = [SETTINGS], [request(101)]
    site = SimpleNamespace(
        requests=first, backends=[SimpleNamespace(requests=r) for r in (first, second)]
    )
    text = explain(
        client="client open",
        requests=site.requests,
        endpoint=ENDPOINT,
        backends=backend_requests(site),
    )
    assert text == "backend 1 never saw the endpoint request; backend 2 upgraded (101); client open"


@pytest.mark.parametrize(
    "server",
    [
        SimpleNamespace(requests=[request(101)], backends=[]),  # one backend (SyncCMS)
        SimpleNamespace(requests=[request(101)]),  # no backends at all
    ],
)
def test_explain_with_one_backend_says_server(server: SimpleNamespace) -> None:
    assert backend_requests(server) == []
    text = explain(
        client="c", requests=server.requests, endpoint=ENDPOINT, backends=backend_requests(server)
    )
    assert text == "server upgraded (101); c"


def test_explain_of_an_unobserved_server_names_no_backend() -> None:
    text = explain(client="c", requests=None, endpoint=ENDPOINT, backends=[[], [request(101)]])
    assert text == "server not observed (a real deployment); c"


def test_explain_joins_every_hop() -> None:
    text = explain(
        client="client closed 1006",
        requests=[request(200, headers=())],
        endpoint=ENDPOINT,
        profile="header-stripping",
        proxy_records=[proxied(headers_removed=("Upgrade",), forwarded=True, status=200)],
    )
    assert text == (
        "header-stripping removed Upgrade, forwarded the request; "
        "server never saw an Upgrade header and answered 200 OK; client closed 1006"
    )


def test_explain_without_proxy() -> None:
    text = explain(client="client saw no socket event", requests=[], endpoint=ENDPOINT)
    assert text == "server never saw the endpoint request; client saw no socket event"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer x", "Host": "h"}, (("Authorization", REDACTED), ("Host", "h"))),
        (
            [("cookie", "a=1"), ("Cookie", "b=2"), ("X-Other", "v")],
            (("cookie", REDACTED), ("Cookie", REDACTED), ("X-Other", "v")),
        ),
        (
            [("PROXY-AUTHORIZATION", "Basic y"), ("Set-Cookie", "s=1"), ("Upgrade", "websocket")],
            (("PROXY-AUTHORIZATION", REDACTED), ("Set-Cookie", REDACTED), ("Upgrade", "websocket")),
        ),
        ([], ()),
    ],
)
def test_redact_headers(headers: Any, expected: tuple[tuple[str, str], ...]) -> None:
    assert redact_headers(headers) == expected


def test_request_record_reads_headers() -> None:
    record = request(101)
    assert record.header("upgrade") == "websocket"
    assert record.header("X-Missing") is None
    assert record.asked_to_upgrade
    assert not request(200, headers=(("Upgrade", "websocket"),)).asked_to_upgrade
    assert str(record) == f"GET {ENDPOINT} HTTP/1.1 -> 101"
    assert (
        str(request(None, no_answer=GONE)) == f"GET {ENDPOINT} HTTP/1.1 -> no answer (client gone)"
    )
