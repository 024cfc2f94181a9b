"""The HTML report: the timeline builder fed records, the renderer, the option end to end through
pytester, and the file as Chromium shows it."""

from __future__ import annotations

import asyncio
import datetime
import re
import textwrap
from pathlib import Path

import pytest

from pytest_wsharness import __version__
from pytest_wsharness.browser.chromium import LAUNCH_ARGS
from pytest_wsharness.client.driver import SocketEvent
from pytest_wsharness.client.machine import TimelineEntry
from pytest_wsharness.proxy.records import ProxyRecord
from pytest_wsharness.relay.records import ConnectionRecord
from pytest_wsharness.reports.html import render_html
from pytest_wsharness.reports.scenarios import HopEvent, ScenarioResult
from pytest_wsharness.scenario.timeline import build_timeline
from pytest_wsharness.server.records import RequestRecord

ENDPOINT = "/EPiServer/Shell/socket/endpoint"
T0 = 1000.0  # the client's start on the monotonic clock
SECRETS = ("Bearer s3cr3t-token", "session=s3cr3t-cookie", "Basic s3cr3t-proxy", "id=s3cr3t-set")
SECRET_HEADERS = tuple(
    zip(("Authorization", "Cookie", "Proxy-Authorization", "Set-Cookie"), SECRETS, strict=True)
)


def header_stripping() -> tuple[HopEvent, ...]:
    """The timeline of an upgrade whose hop-by-hop headers a proxy removed, from records as
    the hops keep them (the server's headers unredacted here, to prove the builder redacts)."""
    return build_timeline(
        endpoint=ENDPOINT,
        client_origin=T0,
        history=[
            TimelineEntry(0.0, "load", "page load 1"),
            TimelineEntry(0.010, "state", "connecting"),
            TimelineEntry(0.010, "connect", "attempt 1"),
            TimelineEntry(0.019, "heartbeat-sent", "1 unanswered"),
            TimelineEntry(0.020, "dialog", "noconnection"),
            TimelineEntry(0.200, "load", "page load 2"),
        ],
        socket_events=[SocketEvent(0.020, "handshake-failed", status=200, code=1006)],
        proxy_records=[
            ProxyRecord(
                "header-stripping", "GET /api/settings HTTP/1.1", False, status=200, seen_at=T0
            ),
            ProxyRecord(
                "header-stripping",
                f"GET {ENDPOINT} HTTP/1.1",
                asked_to_upgrade=True,
                headers_removed=("Connection", "Upgrade"),
                forwarded=True,
                status=200,
                answered_by="upstream",
                seen_at=T0 + 0.012,
                answered_at=T0 + 0.018,
            ),
        ],
        connections=[
            ConnectionRecord(0, "127.0.0.1:1", asked_to_upgrade=False, started=T0 + 0.001),
            ConnectionRecord(
                1,
                "127.0.0.1:2",
                asked_to_upgrade=True,
                status=200,
                ended="client closed",
                started=T0 + 0.011,
                answered_at=T0 + 0.019,
                ended_at=T0 + 0.021,
            ),
        ],
        requests=[
            RequestRecord("GET", "/api/settings", "1.1", (), 200, at=T0 + 0.002),
            RequestRecord(
                "GET", ENDPOINT, "1.1", (("Host", "x"), *SECRET_HEADERS), 200, at=T0 + 0.015
            ),
        ],
    )


def test_the_timeline_merges_the_hops_in_time_order() -> None:
    assert [(e.t, e.hop, e.text) for e in header_stripping()] == [
        (0.0, "client", "page load 1"),
        (0.01, "client", "WebSocket handshake, attempt 1"),
        (0.011, "proxy", "connection #1 from 127.0.0.1:2 accepted asking to upgrade"),
        (0.012, "proxy", f"request GET {ENDPOINT} HTTP/1.1 (asks to upgrade)"),
        (0.012, "proxy", "removed Connection, Upgrade from the request"),
        (0.015, "server", f"GET {ENDPOINT} saw no Upgrade header; answered 200 OK"),
        (0.018, "proxy", "answer 200 OK from the server, passed on"),
        (0.019, "proxy", "connection #1: HTTP 200 came back"),
        (0.02, "client", "WebSocket handshake failed (HTTP 200), closed 1006"),
        (0.02, "client", "showed the no-connection modal"),
        (0.021, "proxy", "connection #1: client closed (0 frame(s) up, 0 down)"),
        (0.2, "client", "reload (page load 2)"),
    ]


@pytest.mark.parametrize(("shown", "said"), [(True, "shown"), (False, "NOT shown")])
def test_the_timeline_says_when_the_update_was_published_and_if_the_reload_showed_it(
    shown: bool, said: str
) -> None:
    events = build_timeline(
        endpoint=ENDPOINT,
        client_origin=T0,
        history=[
            TimelineEntry(0.0, "load", "page load 1"),
            TimelineEntry(0.2, "load", "page load 2"),
        ],
        published_at=T0 + 0.05,
        refreshed_at=T0 + 0.25,
        after_refresh=shown,
    )
    assert [(e.t, e.hop, e.text) for e in events] == [
        (0.0, "client", "page load 1"),
        (0.05, "server", "update published"),
        (0.2, "client", "reload (page load 2)"),
        (0.25, "client", f"update {said} after reload"),
    ]


def test_relay_events_count_from_the_connection_start_and_the_end_follows_them() -> None:
    connection = ConnectionRecord(
        3,
        "127.0.0.1:9",
        asked_to_upgrade=True,
        status=101,
        upgraded=True,
        frames_up=1,
        frames_down=3,
        events=["+0.600s idle timeout 60000ms x0.01: cut without a Close frame"],
        ended="cut (FIN)",
        started=T0 + 1,
        answered_at=T0 + 1.1,
        ended_at=T0 + 1.5997,  # stamped a hair before the event's rounded offset
    )
    upgrade = RequestRecord(
        "GET", ENDPOINT, "1.1", (("Upgrade", "websocket"), ("Connection", "Upgrade")), 101, T0 + 1
    )
    events = build_timeline(
        endpoint=ENDPOINT, client_origin=T0, connections=[connection], requests=[upgrade]
    )
    # Times count from the first thing a hop did, not from the client's start.
    assert [(e.t, e.text) for e in events] == [
        (0.0, "connection #3 from 127.0.0.1:9 accepted asking to upgrade"),
        (0.0, f"GET {ENDPOINT} saw Upgrade: websocket, Connection: Upgrade; upgraded (101)"),
        (0.1, "connection #3: HTTP 101 came back, upgraded"),
        (0.6, "connection #3: idle timeout 60000ms x0.01: cut without a Close frame"),
        (0.6, "connection #3: cut (FIN) (1 frame(s) up, 3 down)"),
    ]


def test_a_proxy_that_answers_or_resets_itself_and_a_websocket_that_closes() -> None:
    records = [
        ProxyRecord("p", "CONNECT 127.0.0.1:8 HTTP/1.1", False, status=403, answered_by="proxy"),
        ProxyRecord("p", "GET /x HTTP/1.1", True, reset=True, error="killed"),
        ProxyRecord(
            "p",
            f"GET {ENDPOINT} HTTP/1.1",
            True,
            status=101,
            answered_by="upstream",
            upgraded=True,
            close_code=1001,
            closed_by="client",
        ),
    ]
    texts = [e.text for e in build_timeline(endpoint=ENDPOINT, client_origin=0.0, **_at(records))]
    assert texts == [
        "request CONNECT 127.0.0.1:8 HTTP/1.1",
        "answered 403 Forbidden itself (not forwarded)",
        "request GET /x HTTP/1.1 (asks to upgrade)",
        "reset the client's TCP connection",
        f"request GET {ENDPOINT} HTTP/1.1 (asks to upgrade)",
        "101 Switching Protocols from the server: upgraded, WebSocket tunnelled",
        "WebSocket closed 1001 by the client",
    ]


def test_a_request_the_server_sent_no_answer_to_shows_as_such() -> None:
    # Issue 10: a handler cancelled or left by its client read as "answered 500".
    upgrade = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
    requests = [
        RequestRecord("GET", ENDPOINT, "1.1", upgrade, None, T0, no_answer="client gone"),
        RequestRecord(
            "GET", ENDPOINT, "1.1", (), None, T0 + 1, no_answer="cancelled: server stopping"
        ),
    ]
    events = build_timeline(endpoint=ENDPOINT, client_origin=T0, requests=requests)
    assert [(e.t, e.hop, e.text) for e in events] == [
        (
            0.0,
            "server",
            f"GET {ENDPOINT} saw Upgrade: websocket, Connection: Upgrade; "
            "sent no answer (client gone)",
        ),
        (
            1.0,
            "server",
            f"GET {ENDPOINT} saw no Upgrade header; sent no answer (cancelled: server stopping)",
        ),
    ]
    html = render_html([scenario("t.py::test_gone", "failed", timeline=events)])
    assert "sent no answer (client gone)" in html
    assert "500" not in html


def _at(records: list[ProxyRecord]) -> dict[str, list[ProxyRecord]]:
    for i, record in enumerate(records):
        record.seen_at = record.answered_at = record.closed_at = float(i)
    return {"proxy_records": records}


def test_a_long_timeline_keeps_its_ends_and_says_what_it_left_out() -> None:
    history = [TimelineEntry(float(i), "connect", f"attempt {i}") for i in range(10)]
    events = build_timeline(endpoint=ENDPOINT, client_origin=0.0, history=history, limit=5)
    assert [e.text for e in events] == [
        "WebSocket handshake, attempt 0",
        "WebSocket handshake, attempt 1",
        "... 6 more events left out ...",
        "WebSocket handshake, attempt 8",
        "WebSocket handshake, attempt 9",
    ]
    with pytest.raises(ValueError, match="at least 3"):
        build_timeline(endpoint=ENDPOINT, client_origin=0.0, limit=2)


def test_time_stamps_do_not_change_what_records_compare_equal() -> None:
    assert ProxyRecord("p", "GET / HTTP/1.1", False, seen_at=1.0) == ProxyRecord(
        "p", "GET / HTTP/1.1", False, seen_at=2.0
    )
    assert ConnectionRecord(0, "a", started=1.0) == ConnectionRecord(0, "a", started=2.0)
    assert RequestRecord("GET", "/", "1.1", (), 200, at=1.0) == RequestRecord(
        "GET", "/", "1.1", (), 200, at=2.0
    )


def test_the_result_carries_its_timeline_through_json() -> None:
    result = ScenarioResult(
        "header-stripping",
        True,
        "delivered",
        "WRONG",
        "ui",
        ("p",),
        timeline=header_stripping(),
        diagnosis=("The upgrade headers were stripped on the way.",),
    )
    assert ScenarioResult.from_json(result.to_json()) == result
    # A result written before timelines existed still reads.
    older = '{"profile": "", "websocket_enabled": false, "expected": "x", "verdict": "x", "ui": ""}'
    assert ScenarioResult.from_json(older).timeline == ()


def scenario(test: str, outcome: str, **fields: object) -> tuple[str, str, ScenarioResult]:
    values: dict[str, object] = {
        "profile": "header-stripping",
        "websocket_enabled": True,
        "expected": "delivered",
        "verdict": "WRONG",
        "ui": "1 failed attempt(s), noconnection, no live update, shown after refresh",
        "problems": ("should have got the update live",),
        "timeline": header_stripping(),
        **fields,
    }
    return test, outcome, ScenarioResult(**values)  # type: ignore[arg-type]


def test_the_html_has_a_summary_and_a_swimlane_per_scenario() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    html = render_html(
        [
            scenario("t.py::test_a[header-stripping]", "failed"),
            scenario("t.py::test_b", "passed", profile="", verdict="delivered", timeline=()),
        ],
        generated=when,
    )
    assert html.startswith("<!DOCTYPE html>")
    assert f"Generated 2024-05-06T07:08:09+00:00 by pytest-wsharness {__version__}" in html
    assert "2 scenario(s), 1 failed" in html
    assert '<details id="scenario-1" open>' in html
    assert '<details id="scenario-2">' in html  # passed: closed
    # The verdict and the test's outcome, each named (not "WRONG failed").
    assert (
        "<summary>t.py::test_a[header-stripping] (header-stripping): verdict WRONG, test "
        '<span class="failed">failed</span></summary>'
    ) in html
    assert "<th>test</th><th>profile</th><th>websocket</th><th>driver</th>" in html
    assert (
        '<tr><td class="t">0.012</td><td class="lane client"></td><td class="lane proxy">'
        "removed Connection, Upgrade from the request</td>"
        '<td class="lane server"></td></tr>'
    ) in html
    assert "No timeline was recorded." in html
    # Self-contained: no script, and nothing fetched from elsewhere.
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html
    assert "url(" not in html


def test_the_html_escapes_everything_and_quotes_no_secret() -> None:
    evil = "<script>alert('x')</script> & \"q\""
    html = render_html(
        [
            scenario(
                f"t.py::test[{evil}]",
                "failed",
                profile=evil,
                ui=evil,
                problems=(evil,),
                timeline=(*header_stripping(), HopEvent(9.0, "proxy", evil)),
            )
        ]
    )
    assert evil not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;" in html
    assert "<script" not in html
    for secret in SECRETS:
        assert secret not in html
        assert "s3cr3t" not in html


TESTS = """
    import pytest
    from pytest_wsharness.assertions import assert_expected_outcome, assert_updates_delivered

    @pytest.mark.wsharness_profiles("compliant")
    def test_outcome(cms_client, cms_server, cms_proxy):
        assert_expected_outcome(cms_client, cms_server, cms_proxy)

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_wants_too_much(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)

    def test_no_scenario():
        pass
"""

# What the header-stripping scenario's timeline says, lane by lane.
STRIPPED = {
    "proxy": "removed Connection, Upgrade from the request",
    "server": "saw no Upgrade header; answered 200 OK",
    "client": "WebSocket handshake failed (HTTP 200), closed 1006",
}


@pytest.fixture
def inner(inner: pytest.Pytester) -> pytest.Pytester:
    """The conftest's pytester directory, with :data:`TESTS` as its test module."""
    inner.makepyfile(test_inner=textwrap.dedent(TESTS))
    return inner


def run_with_html(inner: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, str]:
    path = inner.path / "report" / "scenarios.html"
    path.parent.mkdir()
    result = inner.runpytest("-p", "no:cacheprovider", f"--wsharness-report-html={path}", *args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"wsharness HTML report: {path}"])
    return result, path.read_text(encoding="utf-8")


def test_the_option_writes_every_scenario_with_its_timeline(inner: pytest.Pytester) -> None:
    _, html = run_with_html(inner)
    assert "test_inner.py::test_outcome[compliant]" in html
    assert "test_inner.py::test_wants_too_much[header-stripping]" in html
    assert "test_no_scenario" not in html  # no scenario, no row
    assert html.count("<details") == 2
    for hop, text in STRIPPED.items():
        assert f'<td class="lane {hop}">' in html
        assert text in html
    assert "page load 1" in html
    assert "reload (page load 2)" in html
    assert '<td class="lane server">update published</td>' in html
    assert '<td class="lane client">update shown after reload</td>' in html
    # The failed scenario carries what diagnose then found on its path.
    assert "<p>Diagnosis of the path:</p>" in html
    assert "<li>The upgrade headers were stripped on the way" in html


def test_under_xdist_the_controller_writes_every_scenario(inner: pytest.Pytester) -> None:
    path = inner.path / "scenarios.html"
    result = inner.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", f"--wsharness-report-html={path}"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"wsharness HTML report: {path}"])
    html = path.read_text(encoding="utf-8")
    assert html.count("<details") == 2
    assert STRIPPED["proxy"] in html


def test_chromium_shows_the_timeline_rows(inner: pytest.Pytester, chromium: Path) -> None:
    run_with_html(inner)
    report = inner.path / "report" / "scenarios.html"
    seen = asyncio.run(_look(chromium, report))
    assert seen["stripped"] == dict.fromkeys(STRIPPED, True)
    # The passed scenario is folded until its summary is clicked.
    assert seen["compliant before"] is False
    assert seen["compliant after"] is True
    assert seen["title"] == "pytest-wsharness scenarios"


async def _look(executable: Path, report: Path) -> dict[str, object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=list(LAUNCH_ARGS)
        )
        try:
            page = await browser.new_page()
            await page.goto(report.as_uri())
            stripped = page.locator("details", has_text="header-stripping")
            # .first: the reload's own socket may have upgraded too.
            upgraded = (
                page.locator("details", has_text="[compliant]")
                .locator("td.lane.server", has_text="upgraded (101)")
                .first
            )
            seen: dict[str, object] = {
                "title": await page.title(),
                "stripped": {
                    hop: await stripped.locator(f"td.lane.{hop}", has_text=text).first.is_visible()
                    for hop, text in STRIPPED.items()
                },
                "compliant before": await upgraded.is_visible(),
            }
            await page.locator("summary", has_text="[compliant]").click()
            seen["compliant after"] = await upgraded.is_visible()
            return seen
        finally:
            await browser.close()
