"""Building a real proxy's Docker image says each step as it goes (a build takes minutes), and
a failed build says what failed. Needs a Docker engine and the base image (CI has both)."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_wsharness.errors import MissingPart, ProxyCrashed
from pytest_wsharness.real.docker import base_image, build, engine
from pytest_wsharness.runtime.require import skip_or_fail

REQUIRE_ENV = "WSHARNESS_REQUIRE_DOCKER"


@pytest.fixture
def docker_client() -> Iterator[Any]:
    """A client of the Docker engine that has the base image; skips (fails in CI) without."""
    try:
        client = engine()
    except MissingPart as missing:
        skip_or_fail(missing, REQUIRE_ENV)
    import docker.errors

    try:
        client.images.get(base_image())
    except docker.errors.ImageNotFound:
        client.close()
        skip_or_fail(MissingPart(f"the Docker base image {base_image()}", "scripts/docker-base"),
                     REQUIRE_ENV)  # fmt: skip
    yield client
    client.close()


@pytest.fixture
def tag(docker_client: Any) -> Iterator[str]:
    tag = f"wsharness/build-probe:{secrets.token_hex(4)}"
    yield tag
    with contextlib.suppress(Exception):  # not built: nothing to remove
        docker_client.images.remove(tag, force=True)


def test_an_image_build_says_each_step(docker_client: Any, tag: str, tmp_path: Path) -> None:
    dockerfile = tmp_path / "probe.Dockerfile"
    dockerfile.write_text("ARG BASE\nFROM ${BASE}\nRUN true\n")
    said = io.StringIO()
    build(docker_client, dockerfile, tag, base_image(), said)
    lines = said.getvalue().splitlines()
    assert lines[0] == (
        f"wsharness: building the Docker image {tag} (probe.Dockerfile on {base_image()}; "
        "first use only)"
    )
    assert any(line.endswith(": Step 3/3 : RUN true") for line in lines), lines
    assert lines[-1].startswith(f"wsharness: built {tag} in ")
    assert docker_client.images.get(tag)


def test_a_failed_build_says_what_failed(docker_client: Any, tag: str, tmp_path: Path) -> None:
    dockerfile = tmp_path / "probe.Dockerfile"
    dockerfile.write_text("ARG BASE\nFROM ${BASE}\nRUN echo no-such-package && false\n")
    with pytest.raises(ProxyCrashed, match=r"docker build failed: .*returned a non-zero code"):
        build(docker_client, dockerfile, tag, base_image(), None)
