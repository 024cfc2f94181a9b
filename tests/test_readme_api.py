"""The docs' table of what a test can read (docs/client-model.md, once in the README) stays
true to the code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.verdict import Observation

PAGE = Path(__file__).resolve().parents[1] / "docs" / "client-model.md"


def _row(name: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(rf"^\| {re.escape(name)} .*$", text, re.MULTILINE)
    assert found is not None, f"{PAGE.name} has no row for {name}"
    return found.group(0)


@pytest.mark.parametrize(
    ("row", "names"),
    [
        ("`cms_client.state` (`client.machine.State`)", [s.value for s in State]),
        ("`Dialog`", [d.value for d in Dialog]),
        (
            "an `Observation` (what the assertions return)",
            [f.name for f in dataclasses.fields(Observation)],
        ),
    ],
    ids=["State", "Dialog", "Observation"],
)
def test_every_value_and_field_is_documented(row: str, names: list[str]) -> None:
    documented = set(re.findall(r"`([\w-]+)`", _row(row)))
    assert set(names) <= documented, set(names) - documented
