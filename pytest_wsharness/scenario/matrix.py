"""The scenario matrix: every profile x {WebSocket enabled, disabled}, judged and tabulated.

Against a real deployment (``deployment=``) each profile runs once, with the server's own
``WebSocketEnabled``, one scenario at a time: a real server pushes every update to every
editor, so scenarios running together would see each other's updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..client.base import UiClient
from ..client.driver import CmsClient
from ..errors import PageLoadError, TriggerFailed, UnknownChoiceError, UsageError
from ..profiles import Expect, Profile
from ..reports.scenarios import HopEvent, ScenarioResult
from ..runtime.lag import MAX_RERUNS, RERUN_FACTOR
from ..upstream.deployment import RealDeployment, ServerUnderTest
from ..verdict import Observation, Verdict, expected_outcome, fair, judge
from .explain import backends_clause, proxy_clause, server_clause
from .observe import ServerSetup, observe
from .rig import SimulatedSite, proxy_in_front
from .timeline import build_timeline

if TYPE_CHECKING:
    from ..browser.shared import SharedChromium
    from ..reports.progress import Progress
    from ..runtime.tls import TestCA


@dataclass(frozen=True)
class Row:
    """One scenario's result."""

    profile: str
    websocket_enabled: bool
    proxy_did: str
    server_did: str
    client_saw: str
    verdict: Verdict
    expected: Verdict
    problems: tuple[str, ...]
    driver: str = "model"
    timeline: tuple[HopEvent, ...] = field(default=(), compare=False)
    time_scale: float = field(default=0.0, compare=False)
    reruns: tuple[str, ...] = field(default=(), compare=False)
    lag_ms: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the UI did what it should behind this profile."""
        return self.verdict is self.expected

    @property
    def name(self) -> str:
        """The scenario's name in reports, as pytest would name it: ``matrix[<profile>-enabled]``
        (or ``-disabled``: the CMS's ``WebSocketEnabled``)."""
        return f"matrix[{self.profile}-{'enabled' if self.websocket_enabled else 'disabled'}]"

    def to_result(self) -> ScenarioResult:
        """The row as the reports' :class:`~pytest_wsharness.reports.scenarios.ScenarioResult`."""
        return ScenarioResult(
            profile=self.profile,
            websocket_enabled=self.websocket_enabled,
            expected=self.expected.value,
            verdict=self.verdict.value
            if self.ok or self.verdict is Verdict.INCONCLUSIVE
            else Verdict.WRONG.value,
            ui=self.client_saw,
            problems=self.problems,
            driver=self.driver,
            timeline=self.timeline,
            time_scale=self.time_scale,
            lag_ms=self.lag_ms,
        )


DRIVERS = ("model", "browser")
BROWSERS_AT_ONCE = 4  # pages (renderers) running together: a 2-core machine stays responsive


async def run_once(
    profile: Profile,
    websocket_enabled: bool,
    time_scale: float,
    ca: TestCA | None = None,
    *,
    driver: str = "model",
    screenshots: Path | None = None,
    deployment: RealDeployment | None = None,
    browser: SharedChromium | None = None,
) -> Row:
    """Run one scenario once against a fresh simulated CMS behind a fresh proxy.

    What goes wrong is raised; :func:`run_row` makes it the scenario's row instead.

    Args:
        profile: the middlebox.
        websocket_enabled: the CMS's ``WebSocketEnabled``; ignored with ``deployment``, whose
            page reports its own.
        time_scale: multiplies every timing: the client's, the faults', the server's.
        ca: the run's test CA; needed by profiles whose server speaks TLS.
        driver: ``"model"`` (the Python client) or ``"browser"`` (the page in Chromium).
        screenshots: with the browser, a folder for a screenshot of the page as the watch ends,
            before the reload: ``<profile>-<enabled|disabled>.png``.
        deployment: a real deployment to put the proxy in front of instead of a simulated
            CMS; its trigger makes the update, and the server column says it was not observed.
            The proxy and the client trust its ``upstream_ca`` besides the system's CAs.
        browser: with the browser, the Chromium to open the page in (a context of its own);
            ``None``, the default, launches one for the row.

    Raises:
        UnknownChoiceError: ``driver`` is not one of :data:`DRIVERS`.
        UsageError: ``profile`` changes the server, and ``deployment`` is given.
        TriggerFailed: the deployment's trigger failed.
        PageLoadError: the page did not load through the proxy;
            :class:`~pytest_wsharness.errors.UntrustedCertificate` when the deployment's
            certificate was refused.
    """
    if driver not in DRIVERS:
        raise UnknownChoiceError("client driver", driver, DRIVERS)
    async with contextlib.AsyncExitStack() as stack:
        server: ServerUnderTest
        if deployment is None:
            server = await stack.enter_async_context(
                SimulatedSite(ServerSetup.of(profile, time_scale), websocket_enabled, ca)
            )
        else:
            reason = deployment.left_out_reason(profile)
            if reason is not None:
                raise UsageError(f"profile {profile.name!r} {reason}")
            server = deployment
        routes, updates, restart = server.routes, server.update_source(), server.scenario_restart
        proxy = await stack.enter_async_context(proxy_in_front(server, profile, time_scale))
        page, forward = proxy.route(server.url)
        # A real deployment's refused certificate reaches the client as a disconnect or a 502:
        # a page that fails to load on it says what it was.
        stack.enter_context(server.explain_untrusted(proxy))
        client: UiClient
        shoot = None
        if driver == "browser":
            from ..browser.client import BrowserClient

            in_browser = BrowserClient(
                page,
                time_scale=time_scale,
                proxy=forward,
                artifacts=screenshots,
                trust=server.browser_trust(proxy),
                browser=browser,
            )
            state = "enabled" if websocket_enabled else "disabled"
            shoot = functools.partial(in_browser.save_artifacts, f"{profile.name}-{state}")
            client = in_browser
        else:
            client = CmsClient(
                page, time_scale=time_scale, proxy=forward, ssl=server.client_tls(proxy)
            )
        async with client:
            # What the page read: the simulated CMS's setting, or the real deployment's own.
            expect = profile.expect if client.websocket_enabled else Expect.FALLBACK
            observation: Observation = await observe(
                client,
                updates,
                expect=expect,
                time_scale=time_scale,
                restart=restart,
                before_refresh=shoot,
            )
        proxy.check()
        timeline = build_timeline(
            endpoint=routes.endpoint,
            client_origin=client.origin,
            history=client.history,
            socket_events=list(client.events),
            proxy_records=proxy.records,
            connections=proxy.connections,
            # Every backend's: the socket may be held by any of them.
            requests=list(server.every_request),
            published_at=observation.published_at,
            refreshed_at=observation.refreshed_at,
            after_refresh=observation.after_refresh,
        )
        verdict, problems = judge(observation, profile.expect)
        verdict, problems = fair(verdict, problems, observation, time_scale, profile.expect)
        did = proxy_clause(profile.name, proxy.records, proxy.connections)
        # A real deployment's requests are not seen: the clause says so.
        seen = (
            None
            if server.requests is None
            else backends_clause(
                [b.requests for b in server.backends] or [server.requests], routes.endpoint
            )
        )
        enabled = observation.websocket_enabled
        return Row(
            profile=profile.name,
            websocket_enabled=enabled,
            proxy_did=did.removeprefix(profile.name + " "),
            server_did=(seen or server_clause(None, "")).removeprefix("server "),
            client_saw=observation.summary(),
            verdict=verdict,
            expected=expected_outcome(profile.expect, enabled),
            problems=tuple(problems),
            driver=driver,
            timeline=timeline,
            time_scale=time_scale,
            lag_ms=round(observation.lag.seconds * 1000, 1),
        )


async def run_row(
    profile: Profile,
    websocket_enabled: bool,
    time_scale: float,
    ca: TestCA | None = None,
    *,
    driver: str = "model",
    screenshots: Path | None = None,
    deployment: RealDeployment | None = None,
    browser: SharedChromium | None = None,
) -> Row:
    """Run one scenario as :func:`run_once` does (same arguments), and always come back with
    its row.

    A scenario that cannot be judged (the harness lagged more than its timings allow, or a
    wait of its own expired) is :attr:`Verdict.INCONCLUSIVE`, with what was seen, and runs
    again with every timing :data:`~pytest_wsharness.runtime.lag.RERUN_FACTOR` times longer, at most
    :data:`~pytest_wsharness.runtime.lag.MAX_RERUNS` times; the row says what the earlier runs saw.
    Only what makes every scenario impossible ends the run: a bad input, the team's trigger
    failing, a real deployment's page that does not load.
    """
    notes: list[str] = []
    scale = time_scale
    for attempt in range(MAX_RERUNS + 1):
        try:
            row = await run_once(
                profile,
                websocket_enabled,
                scale,
                ca,
                driver=driver,
                screenshots=screenshots,
                deployment=deployment,
                browser=browser,
            )
        except (UsageError, TriggerFailed):
            raise
        except Exception as error:  # one scenario's trouble is that scenario's result
            if isinstance(error, PageLoadError) and deployment is not None:
                raise  # a real deployment's page that does not load fails every scenario
            row = _trouble_row(profile, websocket_enabled, scale, driver, error)
        if row.verdict is not Verdict.INCONCLUSIVE or attempt == MAX_RERUNS:
            break
        notes.append(f"at time scale {scale:g}: {row.problems[0]}")
        scale *= RERUN_FACTOR
    return dataclasses.replace(row, reruns=tuple(notes))


def _trouble_row(
    profile: Profile, websocket_enabled: bool, time_scale: float, driver: str, error: Exception
) -> Row:
    return Row(
        profile=profile.name,
        websocket_enabled=websocket_enabled,
        proxy_did="-",
        server_did="-",
        client_saw="-",
        verdict=Verdict.INCONCLUSIVE,
        expected=expected_outcome(profile.expect, websocket_enabled),
        problems=(f"the scenario could not be judged: {error}",),
        driver=driver,
        time_scale=time_scale,
    )


async def run_matrix(
    profiles: Iterable[Profile],
    time_scale: float,
    enabled: Sequence[bool] = (True, False),
    *,
    driver: str = "model",
    screenshots: Path | None = None,
    deployment: RealDeployment | None = None,
    progress: Progress | None = None,
) -> list[Row]:
    """Run every profile x ``enabled`` concurrently; rows come back in input order.

    ``progress`` is told as each scenario starts and ends.

    With the browser, at most :data:`BROWSERS_AT_ONCE` rows run at a time, each in a context
    of one Chromium launched for the run (issue 11: a launch per row cost a second). With a
    ``deployment`` each profile runs once (``enabled`` is the server's to say), one at a time;
    leave out the profiles :func:`~pytest_wsharness.upstream.deployment.left_out_reason` refuses.
    """
    chosen = list(profiles)
    ca = None
    if deployment is None and any(p.server["tls"] for p in chosen):
        from ..runtime.tls import TestCA  # cryptography: only for TLS profiles

        ca = TestCA()
    if driver != "browser":
        return await _run_rows(
            chosen, time_scale, enabled, ca, driver, screenshots, deployment, None, progress
        )
    from ..browser.shared import SharedChromium

    async with SharedChromium() as browser:
        return await _run_rows(
            chosen, time_scale, enabled, ca, driver, screenshots, deployment, browser, progress
        )


async def _run_rows(
    chosen: list[Profile],
    time_scale: float,
    enabled: Sequence[bool],
    ca: TestCA | None,
    driver: str,
    screenshots: Path | None,
    deployment: RealDeployment | None,
    browser: SharedChromium | None = None,
    progress: Progress | None = None,
) -> list[Row]:
    pages = asyncio.Semaphore(BROWSERS_AT_ONCE)

    async def row(profile: Profile, on: bool) -> Row:
        name = f"{profile.name} ({'enabled' if on else 'disabled'})"
        async with pages if driver == "browser" else contextlib.nullcontext():
            if progress is not None:
                progress.start(name)
            done = await run_row(
                profile,
                on,
                time_scale,
                ca,
                driver=driver,
                screenshots=screenshots,
                deployment=deployment,
                browser=browser,
            )
        if progress is not None:
            progress.done(name, done.verdict.value)
        return done

    if deployment is not None:
        # In turn, and the first failure (a trigger's) ends the run before another starts.
        return [await row(profile, True) for profile in chosen]
    return list(await asyncio.gather(*(row(p, e) for p in chosen for e in enabled)))
