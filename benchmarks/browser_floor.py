"""What Chromium alone costs a browser test, the floor of the ``fixtures/test browser`` row.

A browser scenario loads the edit UI twice (the live look, then the reload the verdict needs),
each test in a fresh browser context (issue 11: nothing may leak between tests). This does the
same with Playwright and none of the harness: one Chromium, launched once with the harness's
own flags; per round a fresh context and page, two loads of the simulated CMS's edit UI
straight from the server (no proxy), each until the page says its REST reads are done, then
the context closed. The median round is the floor a fresh-context browser test cannot go
under on this machine, whatever the harness does.
"""

from __future__ import annotations

import time

from pytest_wsharness.browser.chromium import LAUNCH_ARGS, find_browser
from pytest_wsharness.server import SimulatedCMS
from results import median

LOAD_TIMEOUT_MS = 30_000
LOADED = "() => document.body && document.body.dataset.loaded === 'true'"
LOADS_PER_TEST = 2


async def chromium_floor(rounds: int, time_scale: float) -> float:
    """The median seconds of one round; the first round (a cold renderer) is not counted."""
    from playwright.async_api import async_playwright

    times: list[float] = []
    async with SimulatedCMS() as cms, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(find_browser()), args=list(LAUNCH_ARGS)
        )
        try:
            url = f"{cms.url}{cms.routes.page}?timeScale={time_scale!r}"
            for _ in range(rounds + 1):
                start = time.perf_counter()
                context = await browser.new_context()
                try:
                    page = await context.new_page()
                    for _ in range(LOADS_PER_TEST):
                        await page.goto(url, wait_until="domcontentloaded")
                        await page.wait_for_function(LOADED, timeout=LOAD_TIMEOUT_MS)
                finally:
                    await context.close()
                times.append(time.perf_counter() - start)
        finally:
            await browser.close()
    return median(times[1:])
