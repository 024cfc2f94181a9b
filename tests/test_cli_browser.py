"""``wsharness matrix --browser``: the scenario matrix with the page in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_wsharness.cli import EXIT_OK, EXIT_USAGE, main


def test_matrix_in_the_browser_with_a_screenshot_per_scenario(
    chromium: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["matrix", "--browser", "--time-scale", "0.1", "--screenshots", str(tmp_path)]
    argv += ["--profile", "compliant", "--profile", "header-stripping"]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "4 scenarios, 4 as expected, 0 wrong" in out
    assert "(time scale 0.1, in Chromium)" in out
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == [
        "compliant-disabled.png",
        "compliant-enabled.png",
        "header-stripping-disabled.png",
        "header-stripping-enabled.png",
    ]
    assert all(p.stat().st_size > 1000 for p in tmp_path.glob("*.png"))


def test_screenshots_need_the_browser(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--screenshots", "shots", "--profile", "compliant"]) == EXIT_USAGE
    assert "--screenshots needs --browser" in capsys.readouterr().err


def test_https_profiles_run_in_the_browser_too(
    chromium: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["matrix", "--browser", "--time-scale", "0.1"]
    assert main([*argv, "--profile", "tls-intercepting", "--profile", "transparent-wss"]) == 0
    assert "4 scenarios, 4 as expected, 0 wrong" in capsys.readouterr().out
