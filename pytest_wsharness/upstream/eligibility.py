"""Which profiles and tests can run against a team's own CMS: the harness cannot change a
server it does not run (its ``[server]`` settings), nor switch its ``WebSocketEnabled``; and
Chromium cannot be told to trust the deployment's own CA through a forward proxy."""

from __future__ import annotations

from typing import Any

from ..profiles import SERVER_PARAMS, Kind, Profile

# What each [server] setting asks of the server, for the reason a profile is left out.
_SERVER_NEEDS = {
    "websocket_feature": "the server must answer upgrades as a plain page",
    "plain_get_status": "the server must answer a plain GET of the endpoint with that status",
    "tls": "the harness must serve https with its test CA",
    "restart_after": "the harness must restart the server",
    "down_for": "the harness must restart the server",
    "backends": "the harness must run a second backend",
}


def server_changes(profile: Profile) -> list[str]:
    """Say which ``[server]`` settings of ``profile`` change the server, and what they ask.

    Returns:
        One phrase per change, e.g. ``"websocket_feature = false: the server must answer
        upgrades as a plain page"``; empty for a profile that leaves the server alone.
    """
    changed = [
        name for name, param in SERVER_PARAMS.items() if profile.server[name] != param.default
    ]
    phrases = []
    for name in changed:
        if name == "down_for" and "restart_after" in changed:
            continue  # one restart, said once
        settings = [name] if name != "restart_after" else ["restart_after", "down_for"]
        values = ", ".join(f"{key} = {_toml(profile.server[key])}" for key in settings)
        need = _SERVER_NEEDS.get(name, "the harness must change the server")
        phrases.append(f"{values}: {need}")
    return phrases


def left_out_reason(profile: Profile) -> str | None:
    """Why ``profile`` cannot run against a real deployment; ``None`` when it can."""
    changes = server_changes(profile)
    if not changes:
        return None
    return (
        f"needs the server changed ([server] {'; '.join(changes)}), which the harness cannot "
        "do to a real deployment"
    )


def browser_left_out_reason(profile: Profile, url: str) -> str | None:
    """Why Chromium cannot run ``profile`` against the real deployment at ``url``; ``None``
    when it can.

    Through a forward proxy Chromium tunnels to an ``https`` server itself and meets the
    server's own certificate, and Chromium reads no CA file (it is told the keys to accept,
    which the harness knows only for CAs it made).
    """
    if profile.kind is Kind.FORWARD and url.startswith("https://"):
        return (
            "is a forward proxy: Chromium would tunnel to the https server itself, and it cannot "
            "be told to trust a certificate from the deployment's own CA (the Python client can)"
        )
    return None


def skip_reason(profile: Profile | None, websocket_enabled: bool, url: str) -> str | None:
    """Why a test cannot run against the real deployment at ``url``; ``None`` when it can.

    Args:
        profile: the test's proxy profile, if it has one.
        websocket_enabled: what the test asks ``WebSocketEnabled`` to be.
        url: the real deployment.
    """
    if profile is not None:
        reason = left_out_reason(profile)
        if reason is not None:
            return f"profile {profile.name!r} {reason} ({url})"
    if not websocket_enabled:
        return (
            f"websocket_enabled=False: the harness cannot switch WebSocketEnabled off on the "
            f"real deployment at {url}; its page reports the server's own setting"
        )
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
