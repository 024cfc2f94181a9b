"""Which test CAs Chromium is told to accept, to load an ``https`` page through a proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..proxy.base import Proxy
    from ..runtime.tls import TestCA


def trust_for(ca: TestCA | None, proxy: Proxy) -> list[TestCA]:
    """The test CAs a browser trusts to load an ``https`` page through ``proxy``: the site's
    (``ca``), and the one the proxy presents when it opens TLS with another, as a managed
    machine trusts its company's TLS-inspection CA.

    ``ca`` is ``None`` for a real deployment, whose own CA the browser never meets through a
    reverse proxy: the proxy opens the browser's TLS with the CA it presents.
    """
    presented = proxy.presented_ca
    trusted = [ca] if ca is not None else []
    return trusted if presented is None or presented is ca else [*trusted, presented]
