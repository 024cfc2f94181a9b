"""Assertions for the two outcomes that matter, with failures that say what each hop saw.

    assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    assert_fell_back(cms_client, cms_server, proxy=cms_proxy)

Each publishes a recognisable update, watches the UI, reloads the page and judges; a failure is
an :class:`~pytest_wsharness.errors.OutcomeError` (an ``AssertionError``) such as
``expected updates delivered, but header-stripping removed Connection, Upgrade, forwarded the
request; server never saw an Upgrade header and answered 200 OK; client handshake failed
(HTTP 200), closed 1006; ...``. Behind a proxy the failure ends with what ``wsharness diagnose``
then finds on the path (``diagnosis of the path: The upgrade headers were stripped on the way:
... Likely fix, nginx: ...``): the same classifier, so a test's failure reads like the
command's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .errors import Inconclusive, OutcomeError
from .profiles import Expect
from .proxy.base import Proxy
from .reports import scenarios as report
from .runtime import lag
from .runtime.sync import SyncClient
from .scenario.explain import backend_requests, hop_clauses
from .scenario.observe import DELIVERY_TIMEOUT, budget, observe
from .scenario.timeline import build_timeline
from .upstream.deployment import ServerUnderTest
from .verdict import Observation, Verdict, expected_outcome, fair, judge

CALL_MARGIN = 60.0
# Two answers that may never come (through the proxy and direct) and a heartbeat, with room.
DIAGNOSIS_TIMEOUT = 30.0


def assert_updates_delivered(
    client: SyncClient,
    server: ServerUnderTest,
    *,
    proxy: Proxy | None = None,
    within: float = DELIVERY_TIMEOUT,
) -> Observation:
    """Assert that an update published on the server reaches the UI live, within ``within`` s.

    Raises:
        OutcomeError: it did not; the message says what the proxy, server and client saw.
        Inconclusive: the harness itself lagged too much to tell; no verdict about the proxy.
    """
    __tracebackhide__ = True  # a failure shows the test's line, not ours
    return _assert(client, server, proxy, Expect.DELIVERED, within, "updates delivered")


def assert_fell_back(
    client: SyncClient, server: ServerUnderTest, *, proxy: Proxy | None = None
) -> Observation:
    """Assert that the UI degraded correctly.

    With WebSockets enabled: the no-connection modal once, one attempt and no retry, the update
    visible after a reload. With ``WebSocketEnabled = false``: no socket at all, no dialog, the
    update visible after a reload only.

    Raises:
        OutcomeError: it did not; the message says what the proxy, server and client saw.
        Inconclusive: the harness itself lagged too much to tell; no verdict about the proxy.
    """
    __tracebackhide__ = True  # a failure shows the test's line, not ours
    return _assert(client, server, proxy, Expect.FALLBACK, DELIVERY_TIMEOUT, "the UI to fall back")


def assert_expected_outcome(
    client: SyncClient, server: ServerUnderTest, proxy: Proxy
) -> Observation:
    """Assert whatever the proxy's profile says the UI should do (its ``expect``).

    With ``WebSocketEnabled = false`` that is always the fallback: no socket, updates after a
    reload.

    Raises:
        OutcomeError: it did not; the message says what the proxy, server and client saw.
        Inconclusive: the harness itself lagged too much to tell; no verdict about the proxy.
    """
    __tracebackhide__ = True  # a failure shows the test's line, not ours
    expect = proxy.profile.expect if client.engine.websocket_enabled else Expect.FALLBACK
    expected = f"the UI to behave as behind {proxy.profile.name} ({expected_outcome(expect, True)})"
    return _assert(client, server, proxy, expect, DELIVERY_TIMEOUT, expected)


def _assert(
    client: SyncClient,
    server: ServerUnderTest,
    proxy: Proxy | None,
    expect: Expect,
    within: float,
    expected: str,
) -> Observation:
    __tracebackhide__ = True
    engine = client.engine
    observed = expect if engine.websocket_enabled else Expect.FALLBACK
    # The simulated CMS publishes; a real deployment is made to push by the team's trigger.
    updates = server.update_source()
    observation = client.loop.run(
        observe(
            engine,
            updates,
            expect=observed,
            time_scale=engine.time_scale,
            timeout=within,
            restart=server.scenario_restart,
        ),
        budget(engine.time_scale, within, sum(server.scenario_restart or ())),
        f"{expected} to be observed",
    )
    if proxy is not None:
        proxy.check()
    if expect is Expect.DELIVERED:
        # judge() holds a disabled UI to the fallback rules; this assertion wants the update live.
        problems = [] if observation.live else ["should have got the update live"]
        verdict = Verdict.DELIVERED if observation.live else Verdict.WRONG
    else:
        verdict, problems = judge(observation, expect)
    verdict, problems = fair(verdict, problems, observation, engine.time_scale, observed)
    if verdict is Verdict.INCONCLUSIVE:
        report.emit(_result(client, server, proxy, observation, expect, verdict, problems))
        raise Inconclusive(
            expected,
            str(observation.lag),
            lag.limit(engine.time_scale),
            engine.time_scale,
            f"the UI showed {observation.summary()}: it {'; '.join(problems[1:])}",
        )
    result = _result(client, server, proxy, observation, expect, verdict, problems)
    if not problems:
        report.emit(result)
        return observation
    clauses = hop_clauses(
        client=observation.client_clause(),
        requests=server.requests,
        backends=backend_requests(server),
        endpoint=server.routes.endpoint,
        profile=proxy.profile.name if proxy is not None else None,
        proxy_records=proxy.records if proxy is not None else (),
        connections=proxy.connections if proxy is not None else (),
    )
    hops = "; ".join(clause for _, clause in clauses)
    # Only now: the diagnosis's own requests must not enter the records explained above.
    diagnosis = diagnose_path(client, server, proxy)
    report.emit(dataclasses.replace(result, diagnosis=diagnosis))
    ui = f"the UI showed {observation.summary()}: it {'; '.join(problems)}"
    found = f"; diagnosis of the path: {' '.join(diagnosis)}" if diagnosis else ""
    saved = save_browser_artifacts(client, "failure")
    kept = f"; browser screenshot and console log: {', '.join(map(str, saved))}"
    raise OutcomeError(
        expected,
        f"{hops}; {ui}{found}" + (kept if saved else ""),
        _details(clauses, observation, problems, diagnosis, saved),
    )


# The label of each hop's line in a failure, and the word its clause starts with, said once.
_HOP_LABELS = {"proxy": ("proxy did", ""), "server": ("server did", "server "),
               "client": ("client saw", "client ")}  # fmt: skip
_FIX = " Likely fix, "


def _details(
    clauses: list[tuple[str, str]],
    observation: Observation,
    problems: list[str],
    diagnosis: tuple[str, ...],
    saved: list[Path],
) -> list[tuple[str, str]]:
    """A failure's lines: each hop, what the UI showed and should have, the diagnosis and its
    fix, the browser's files; the words of the one-line explanation."""
    details = []
    for hop, clause in clauses:
        label, word = _HOP_LABELS[hop]
        details.append((label, clause.removeprefix(word) if word else clause))
    details.append(("UI showed", observation.summary()))
    details.append(("UI should have", "; ".join(p.removeprefix("should have ") for p in problems)))
    for finding in diagnosis:
        sentence, _, fix = finding.partition(_FIX)
        details.append(("diagnosis", sentence))
        if fix:
            details.append(("likely fix", fix))
    for path in saved:
        details.append(("screenshot" if path.suffix == ".png" else "console log", str(path)))
    return details


def diagnose_path(
    client: SyncClient, server: ServerUnderTest, proxy: Proxy | None
) -> tuple[str, ...]:
    """What ``wsharness diagnose`` finds on a scenario's path, one sentence per finding.

    Empty without a proxy, or with WebSockets disabled (no socket was meant to open). A
    diagnosis that fails says so instead of hiding the test's own failure.
    """
    engine = client.engine
    if proxy is None or not engine.websocket_enabled:
        return ()
    from .diagnose.findings import explain_failure
    from .diagnose.report import diagnose_scenario

    page, forward = proxy.route(server.url)
    trust = getattr(engine, "ssl", None)
    headers = list(getattr(engine, "headers", {}).items())
    look = diagnose_scenario(
        page,
        forward=forward,
        origin=server.url,
        time_scale=engine.time_scale,
        trust=trust,
        headers=headers,
    )
    try:
        found = client.loop.run(look, DIAGNOSIS_TIMEOUT, "the diagnosis of the path")
    except Exception as error:  # the test's failure matters more than the diagnosis's
        return (f"the diagnosis itself failed: {error}",)
    findings = found.findings
    if trust is None and page.startswith("https"):
        # Without the client's trust store every certificate looks untrusted: leave TLS out.
        findings = tuple(f for f in findings if not f.code.startswith("tls-"))
    return explain_failure(findings)


def _result(
    client: SyncClient,
    server: ServerUnderTest,
    proxy: Proxy | None,
    observation: Observation,
    expect: Expect,
    verdict: Verdict,
    problems: list[str],
) -> report.ScenarioResult:
    from .browser.client import BrowserClient

    enabled = observation.websocket_enabled
    engine = client.engine
    timeline = build_timeline(
        endpoint=server.routes.endpoint,
        client_origin=engine.origin,
        history=engine.history,
        socket_events=list(engine.events),
        proxy_records=proxy.records if proxy is not None else (),
        connections=proxy.connections if proxy is not None else (),
        # Every backend of a site with several: the socket may be held by any of them.
        requests=server.every_request,
        published_at=observation.published_at,
        refreshed_at=observation.refreshed_at,
        after_refresh=observation.after_refresh,
    )
    return report.ScenarioResult(
        profile=proxy.profile.name if proxy is not None else "",
        websocket_enabled=enabled,
        expected=expected_outcome(expect, enabled).value,
        verdict=verdict.value,
        ui=observation.summary(),
        problems=tuple(problems),
        driver="browser" if isinstance(engine, BrowserClient) else "model",
        timeline=timeline,
        time_scale=engine.time_scale,
        lag_ms=round(observation.lag.seconds * 1000, 1),
    )


def save_browser_artifacts(client: SyncClient, name: str) -> list[Path]:
    """Save a browser client's screenshot and console log; nothing for the Python client."""
    from .browser.client import BrowserClient

    if not isinstance(client.engine, BrowserClient):
        return []
    return client.loop.run(client.engine.save_artifacts(name), CALL_MARGIN, "browser artifacts")
