"""The scenario matrix: every profile x {WebSocket enabled, disabled}, judged and tabulated."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .client.base import UiClient
from .client.driver import CmsClient
from .errors import UnknownChoiceError
from .explain import proxy_clause, server_clause
from .profiles import Expect, Profile
from .proxy.base import Proxy, start_proxy
from .scenario import ServerSetup, observe
from .server.cms import SimulatedCMS
from .verdict import Observation, Verdict, expected_outcome, judge

if TYPE_CHECKING:
    from .tls import TestCA


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

    @property
    def ok(self) -> bool:
        """Whether the UI did what it should behind this profile."""
        return self.verdict is self.expected


DRIVERS = ("model", "browser")
BROWSERS_AT_ONCE = 4  # Chromium instances running together: a 2-core machine stays responsive


async def run_row(
    profile: Profile,
    websocket_enabled: bool,
    time_scale: float,
    ca: TestCA | None = None,
    *,
    driver: str = "model",
    screenshots: Path | None = None,
) -> Row:
    """Run one scenario against a fresh simulated CMS behind a fresh proxy.

    Args:
        profile: the middlebox.
        websocket_enabled: the CMS's ``WebSocketEnabled``.
        time_scale: multiplies every timing: the client's, the faults', the server's.
        ca: the run's test CA; needed by profiles whose server speaks TLS.
        driver: ``"model"`` (the Python client) or ``"browser"`` (the page in Chromium).
        screenshots: with the browser, a folder for a screenshot of the page as the watch ends,
            before the reload: ``<profile>-<enabled|disabled>.png``.

    Raises:
        UnknownChoiceError: ``driver`` is not one of :data:`DRIVERS`.
    """
    if driver not in DRIVERS:
        raise UnknownChoiceError("client driver", driver, DRIVERS)
    setup = ServerSetup.of(profile, time_scale)
    kwargs = setup.server_kwargs(ca)
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(
            SimulatedCMS(websocket_enabled=websocket_enabled, **kwargs)
        )
        backends = [server]
        for _ in range(setup.backends - 1):
            other = SimulatedCMS(
                websocket_enabled=websocket_enabled, content=server.content, **kwargs
            )
            backends.append(await stack.enter_async_context(other))
        upstream = ",".join(b.url for b in backends)
        tls_ca = ca if setup.tls else None
        proxy = await stack.enter_async_context(_proxy(profile, upstream, time_scale, tls_ca))
        page, forward = proxy.route(server.url)
        client_tls = tls_ca.client_context(also_trust=proxy.client_trust) if tls_ca else None
        client: UiClient
        shoot = None
        if driver == "browser":
            from .browser.client import BrowserClient, trust_for

            trust = trust_for(tls_ca, proxy) if tls_ca else []
            browser = BrowserClient(
                page, time_scale=time_scale, proxy=forward, artifacts=screenshots, trust=trust
            )
            state = "enabled" if websocket_enabled else "disabled"
            shoot = functools.partial(browser.save_artifacts, f"{profile.name}-{state}")
            client = browser
        else:
            client = CmsClient(page, time_scale=time_scale, proxy=forward, ssl=client_tls)
        async with client:
            expect = profile.expect if websocket_enabled else Expect.FALLBACK
            observation: Observation = await observe(
                client,
                server,
                expect=expect,
                time_scale=time_scale,
                restart=setup.restart,
                backends=backends if len(backends) > 1 else (),
                before_refresh=shoot,
            )
        proxy.check()
        verdict, problems = judge(observation, profile.expect)
        did = proxy_clause(profile.name, proxy.records, proxy.connections)
        return Row(
            profile=profile.name,
            websocket_enabled=websocket_enabled,
            proxy_did=did.removeprefix(profile.name + " "),
            server_did=server_clause(server.requests, server.routes.endpoint).removeprefix(
                "server "
            ),
            client_saw=observation.summary(),
            verdict=verdict,
            expected=expected_outcome(profile.expect, websocket_enabled),
            problems=tuple(problems),
        )


@contextlib.asynccontextmanager
async def _proxy(
    profile: Profile, upstream: str, time_scale: float, ca: TestCA | None
) -> AsyncIterator[Proxy]:
    proxy = await asyncio.to_thread(start_proxy, profile, upstream, time_scale=time_scale, ca=ca)
    try:
        yield proxy
    finally:
        await asyncio.to_thread(proxy.stop)


async def run_matrix(
    profiles: Iterable[Profile],
    time_scale: float,
    enabled: Sequence[bool] = (True, False),
    *,
    driver: str = "model",
    screenshots: Path | None = None,
) -> list[Row]:
    """Run every profile x ``enabled`` concurrently; rows come back in input order.

    With the browser, at most :data:`BROWSERS_AT_ONCE` rows run at a time.
    """
    chosen = list(profiles)
    ca = None
    if any(p.server["tls"] for p in chosen):
        from .tls import TestCA  # cryptography: only for TLS profiles

        ca = TestCA()
    browsers = asyncio.Semaphore(BROWSERS_AT_ONCE)

    async def row(profile: Profile, on: bool) -> Row:
        async with browsers if driver == "browser" else contextlib.nullcontext():
            return await run_row(
                profile, on, time_scale, ca, driver=driver, screenshots=screenshots
            )

    return list(await asyncio.gather(*(row(p, e) for p in chosen for e in enabled)))


def format_table(rows: Sequence[Row]) -> str:
    """Render the rows as a plain-text table, one line per scenario."""
    header = ("profile", "websocket", "proxy did", "server did", "client saw", "verdict")
    lines = [
        (
            r.profile,
            "enabled" if r.websocket_enabled else "disabled",
            r.proxy_did if r.websocket_enabled else "-",
            r.server_did if r.websocket_enabled else "-",
            r.client_saw,
            r.verdict.value if r.ok else f"{r.verdict.value} (expected {r.expected.value})",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=False)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [render(header), render(["-" * w for w in widths])]
    out += [render(line) for line in lines]
    for r in rows:
        for problem in r.problems:
            out.append(
                f"  {r.profile} ({'enabled' if r.websocket_enabled else 'disabled'}): {problem}"
            )
    return "\n".join(out)
