"""Run the probes of one diagnosis and say what they found, as text or JSON."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..reports.columns import wrap
from ..runtime import lag
from .findings import INCONCLUSIVE, Finding, classify
from .probe import probe
from .records import DEFAULT_LIMITS, Header, Limits, Probe, Target

# A failing test waits this long at most for an answer that may never come (a blackhole).
SCENARIO_ANSWER = 2.0


@dataclass(frozen=True)
class Diagnosis:
    """The probes of one diagnosis and what they mean.

    Attributes:
        through: the probe through the middle tier.
        direct: the probe of the origin, when one was given.
        findings: what :func:`~.findings.classify` made of them.
    """

    through: Probe
    direct: Probe | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """No finding is a problem."""
        return not any(f.problem for f in self.findings)

    @property
    def inconclusive(self) -> bool:
        """The main finding rested on a wait this machine's own lag could have run out."""
        return any(f.code == INCONCLUSIVE for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """Everything, for ``--json``; secret header values are already redacted."""
        return {
            "ok": self.ok,
            "inconclusive": self.inconclusive,
            "findings": [asdict(f) for f in self.findings],
            "through": asdict(self.through),
            "direct": asdict(self.direct) if self.direct is not None else None,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self, width: int | None = None) -> str:
        """One line per probe, then one sentence per finding with its likely fix; wrapped to
        ``width`` columns when given, continued lines indented."""
        lines = [("", f"through the middle tier: {describe(self.through)}", "    ")]
        if self.direct is not None:
            lines.append(("", f"directly: {describe(self.direct)}", "    "))
        for finding in self.findings:
            label = (
                "problem" if finding.problem else ("works" if finding.code == "works" else "note")
            )
            if finding.code == INCONCLUSIVE:
                label = "inconclusive"
            lines.append(("", f"{label} ({finding.code}): {finding.sentence}", "    "))
            lines += [("  ", f"likely fix, {line}", "      ") for line in finding.fix]
        if width is None:
            return "\n".join(printable(prefix + line) for prefix, line, _ in lines)
        return "\n".join(
            wrap(printable(line), prefix=prefix, indent=indent, width=width)
            for prefix, line, indent in lines
        )


async def diagnose(
    url: str,
    *,
    proxy: str | None = None,
    direct: str | None = None,
    endpoint: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    cafile: str | None = None,
    headers: Sequence[Header] = (),
    trust: ssl.SSLContext | None = None,
) -> Diagnosis:
    """Probe the realtime endpoint of ``url`` (through ``proxy``) and, if given, ``direct``.

    Args:
        url: the site or endpoint as editors reach it (see :meth:`Target.parse`).
        proxy: an explicit forward proxy, ``http://host:port``; ``None`` for none.
        direct: the origin server's URL, bypassing the middle tier; ``None`` to skip.
        endpoint: the endpoint's path for ``http(s)://`` URLs (default: the CMS's).
        limits: how long each step may take.
        cafile: extra CAs to trust for ``wss://``.
        headers: extra request headers, e.g. a session cookie.
        trust: a TLS context to verify with instead of the system's CAs and ``cafile``.

    Raises:
        UsageError: a URL is not one of the accepted forms.
    """
    target = Target.parse(url, endpoint)
    hop = Target.parse(proxy, what="--proxy") if proxy else None
    origin = Target.parse(direct, target.path, what="--direct") if direct else None
    looks = [probe(target, proxy=hop, limits=limits, cafile=cafile, headers=headers, trust=trust)]
    if origin is not None:
        looks.append(probe(origin, limits=limits, cafile=cafile, headers=headers, trust=trust))
    # The probes' waits are real seconds: watch this loop at time scale 1 so that a stall of
    # the machine shows in each probe's lag (a test's own loops are watched already).
    watching = lag.start_watch("diagnosis", 1.0)
    try:
        done = await asyncio.gather(*looks)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    seen_direct = done[1] if origin is not None else None
    return Diagnosis(done[0], seen_direct, tuple(classify(done[0], seen_direct, limits)))


async def diagnose_scenario(
    page: str,
    *,
    forward: str | None,
    origin: str,
    time_scale: float,
    trust: ssl.SSLContext | None = None,
    headers: Sequence[Header] = (),
) -> Diagnosis:
    """Diagnose the path of a test's scenario, to explain its failure.

    Args:
        page: the page URL the client loaded (the proxy's, for a reverse proxy).
        forward: the explicit forward proxy the client went through, if any.
        origin: the server's own URL.
        time_scale: the scenario's; the heartbeat's echo is awaited for two scaled CMS
            heartbeats (never under 0.5 s).
        trust: the client's TLS context.
        headers: the client's own request headers (a session cookie).
    """
    limits = Limits(answer=SCENARIO_ANSWER, heartbeat=max(0.5, 6.0 * time_scale))
    return await diagnose(
        page, proxy=forward, direct=origin, limits=limits, trust=trust, headers=headers
    )


def describe(p: Probe) -> str:
    """One line: what the probe reached and how far it got."""
    via = f" via {p.proxy}" if p.proxy else ""
    text = f"{p.url}{via} -> "
    if p.connect_status not in (None, 200):
        return text + f"CONNECT answered {p.connect_status}"
    if p.error:
        return text + f"{p.error} at {p.error_step} after {p.waited:.2f}s"
    text += f"HTTP {p.status} {p.reason} in {p.waited:.2f}s".rstrip()
    server = p.header("Server")
    if server:
        text += f" (Server: {server})"
    if p.tls_issuer:
        text += f", certificate issued by {p.tls_issuer}"
    if p.opened and p.ended and not p.in_idle:
        text += f", then {p.ended} after {p.ended_after or 0:.2f}s"
    elif p.opened:
        echo = p.heartbeat_rtt
        text += ", heartbeat " + (
            f"echoed in {echo * 1000:.0f} ms" if echo is not None else "unanswered"
        )
        if p.ended:
            text += f", then {p.ended} after {p.ended_after or 0:.2f}s idle"
        elif p.idle_silent:
            text += ", then unanswered after the idle watch"
    return text


def printable(text: str) -> str:
    """``text`` with control characters escaped: header values come from the network."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
