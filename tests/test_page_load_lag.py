"""A page load that fails for lack of time, while the harness itself stalled, is inconclusive.

A real nginx in front of the simulated CMS keeps its timeouts scaled with the client's (its
proxy_read_timeout is 200 ms at time scale 0.1). A py313 fresh-clone run had it answer 504 to
a REST read of the page load while the machine stalled, and the test failed with
``PageLoadError: HTTP 504``, blaming the proxy for the machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.errors import Inconclusive, PageLoadError

SCALE = 0.1  # lag.limit: 100 ms
E = TypeVar("E", bound=BaseException)


@asynccontextmanager
async def _hop(status: str, stall: float) -> AsyncIterator[str]:
    """A hop on 127.0.0.1 that answers every request with ``status`` after blocking this loop
    for ``stall`` seconds (the stall under test: the machine, not the hop, is late)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        time.sleep(stall)  # noqa: ASYNC251 - blocks the loop the client shares
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def _load_fails(status: str, stall: float, error: type[E]) -> E:
    """Load the page through a hop answering ``status`` after a ``stall``; the ``error`` the
    load raised (the test fails if it raised none, or another)."""
    async with _hop(status, stall) as url:
        client = CmsClient(url, time_scale=SCALE)
        try:
            with pytest.raises(error) as raised:
                await client.load()
        finally:
            await client.close()
    return raised.value


@pytest.mark.asyncio
async def test_a_gateway_timeout_while_the_harness_stalled_is_inconclusive() -> None:
    said = str(await _load_fails("504 Gateway Time-out", 0.3, Inconclusive))
    assert said.startswith("inconclusive: the edit UI to load: the harness itself ran ")
    assert "where 100 ms could change the outcome" in said
    assert said.endswith("/EPiServer/Shell/settings: HTTP 504")


@pytest.mark.parametrize(
    ("status", "stall", "reason"),
    [
        ("504 Gateway Time-out", 0.0, "HTTP 504"),  # the hop's own timeout: no lag to blame
        ("403 Forbidden", 0.3, "HTTP 403"),  # a refusal is the hop's, however late we ran
    ],
    ids=["no-stall", "refused"],
)
@pytest.mark.asyncio
async def test_a_failed_load_lag_cannot_explain_stays_a_page_load_error(
    status: str, stall: float, reason: str
) -> None:
    assert (await _load_fails(status, stall, PageLoadError)).reason == reason


SETUP_SUITE = """
import pytest
from pytest_wsharness.errors import Inconclusive

@pytest.fixture
def loaded_page(wsharness_time_scale):
    # As cms_client's page load is when a hop's scaled timeout runs out on a stalled machine.
    if wsharness_time_scale < 0.04:
        raise Inconclusive("the edit UI to load", "300 ms (client)", 0.01,
                           wsharness_time_scale, "GET /settings: HTTP 504")
    return wsharness_time_scale

def test_loads_once_there_is_room(loaded_page):
    assert loaded_page == 0.04
"""


def test_a_fixture_that_was_inconclusive_is_set_up_again(
    pytester: pytest.Pytester, write_ini: Callable[..., None]
) -> None:
    write_ini(time_scale=None)
    pytester.makepyfile(test_setup_rerun=SETUP_SUITE)
    result = pytester.runpytest("--wsharness-time-scale", "0.01")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*test_loads_once_there_is_room: run 1 (time scale x1) was inconclusive: the edit UI*"]
    )
