"""Skip a test whose system part is missing, or fail it where every part is required (CI)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from ..errors import MissingPart


def skip_or_fail(missing: MissingPart, require_env: str) -> NoReturn:
    """Skip with ``missing``'s message, naming the part; raise it when ``require_env`` is 1.

    Raises:
        MissingPart: ``require_env`` is set to ``1``: nothing may skip there.
    """
    if os.environ.get(require_env) == "1":
        raise missing
    pytest.skip(str(missing))
