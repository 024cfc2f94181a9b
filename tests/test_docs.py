"""The docs cannot rot: they build strictly, they document the whole surface, and the README's
commands and failure message are real.

* The Sphinx build (``docs/``) runs with ``-W --keep-going -n``: a warning or a reference that
  does not resolve fails it. Its inventory must hold every fixture, option, ini option, marker,
  ``wsharness`` sub-command, profile and real proxy config that ``docs/_ext/surface.py`` reads
  from the code, the way a user meets them (``pytest --fixtures``, ``--help``, ``--markers``,
  ``proxies/``), each with a docstring, help or summary.
* Every command in a shell block of README.md is run by a test here, as the table
  :data:`README_COMMANDS` says; its first test runs as written, and its failure message is the
  one a failing test prints.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import zlib
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from pytest_wsharness.errors import MissingPart

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
BUILD_TIMEOUT = 300.0
DOCS_EXTRA = "the docs extra (Sphinx and myst-parser): pip install -e '.[docs]'"
# What Sphinx's inventory (objects.inv) calls each kind of name surface.Surface.names() gives.
INVENTORY_ROLES = {
    "fixture": "std:fixture",
    "option": "std:cmdoption",
    "confval": "std:confval",
    "marker": "std:marker",
    "command": "std:command",
    "profile": "std:profile",
    "proxy-config": "std:proxy-config",
}
STRICT = ["-W", "--keep-going", "-n", "-E", "-q"]


def _load_surface() -> ModuleType:
    spec = importlib.util.spec_from_file_location("surface", DOCS / "_ext" / "surface.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("surface", module)
    spec.loader.exec_module(module)
    return module


surface = _load_surface()


def _require_docs_extra() -> None:
    """Skip, naming the extra, where Sphinx is not installed; in CI (tox installs the extra)
    fail instead: the docs must build there."""
    missing = [m for m in ("sphinx", "myst_parser") if importlib.util.find_spec(m) is None]
    if missing:
        part = MissingPart(DOCS_EXTRA, f"{', '.join(missing)} not importable")
        if os.environ.get("CI") == "true":
            raise part
        pytest.skip(str(part))


def _sphinx(source: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", *STRICT, "-b", "html"),
            *("-d", str(out / ".doctrees"), *options, str(source), str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


def inventory(path: Path) -> dict[str, set[str]]:
    """The names a Sphinx ``objects.inv`` holds, by role (``std:fixture``...)."""
    with path.open("rb") as file:
        for _ in range(4):  # the header: version, project, version, compression note
            file.readline()
        text = zlib.decompress(file.read()).decode("utf-8")
    found: dict[str, set[str]] = defaultdict(set)
    for line in text.splitlines():
        entry = re.match(r"(?P<name>.+?)\s+(?P<role>\S+:\S+)\s+-?\d+\s", line)
        if entry:
            found[entry["role"]].add(entry["name"])
    return found


def undocumented(defined: dict[str, set[str]], documented: dict[str, set[str]]) -> list[str]:
    """Each name the code defines that the built docs do not hold, as ``kind name``."""
    missing = []
    for kind, names in sorted(defined.items()):
        role = INVENTORY_ROLES[kind]
        held = documented.get(role, set())
        if kind == "option":  # Sphinx files `pytest --x` under "pytest.--x"
            held = {name.replace(".", " ", 1) for name in held}
        missing += [f"{kind} {name}" for name in sorted(names - held)]
    return missing


def undescribed(found: surface.Surface) -> list[str]:
    """Each part of the surface that has nothing to say about itself."""
    empty = [f"fixture {f.name} has no docstring" for f in found.fixtures if not f.doc.strip()]
    empty += [f"option {o.head} has no help" for o in found.options if not o.help]
    empty += [f"ini option {i.name} has no help" for i in found.ini_options if not i.help]
    empty += [f"marker {m.name} has no help" for m in found.markers if not m.help]
    empty += [f"profile {p.name} has no summary" for p in found.profiles if not p.summary]
    empty += [f"profile {p.name} has no expect" for p in found.profiles if not p.expect]
    empty += [f"real config {c.name} has no summary" for c in found.real_configs if not c.summary]
    empty += [
        f"{f'wsharness {name}'.strip()} --help is empty"
        for name, text in found.commands.items()
        if not text.strip()
    ]
    return empty


@pytest.fixture(scope="module")
def found() -> surface.Surface:
    return surface.collect()


def test_the_surface_is_read_whole(found: surface.Surface) -> None:
    """What the docs are generated from is what the plugins and proxies/ hold: a change in how
    pytest prints its help must not leave the docs quietly empty."""
    assert {"cms_client", "cms_server", "cms_proxy", "proxy_factory", "real_proxy"} <= {
        f.name for f in found.fixtures
    }
    assert not [f.name for f in found.fixtures if f.name.startswith("_")], "private fixtures"
    assert {f.module for f in found.fixtures} <= set(surface.plugin_modules())
    assert "--wsharness-upstream-ca" in {n for o in found.options for n in o.names}
    assert not [o for o in found.options if not o.names[0].startswith("--wsharness")]
    assert {i.name for i in found.ini_options} == {
        "wsharness_profiles",
        "wsharness_time_scale",
        "wsharness_profiles_dir",
        "wsharness_upstream",
        "wsharness_upstream_ca",
    }
    assert {m.name for m in found.markers} == {"wsharness_profiles", "wsharness_time_scale"}
    assert set(found.commands) == {"", "matrix", "profiles", "proxy", "diagnose", "serve"}
    assert {p.name for p in found.profiles} == {p.stem for p in (ROOT / "proxies").glob("*.toml")}
    assert {c.name for c in found.real_configs} == {
        p.stem for p in (ROOT / "proxies" / "real").glob("*.toml")
    }
    assert undescribed(found) == []


def test_the_docs_build_strictly_and_document_the_whole_surface(
    found: surface.Surface, tmp_path: Path
) -> None:
    _require_docs_extra()
    built = _sphinx(DOCS, tmp_path)
    assert built.returncode == 0, f"the docs build failed:\n{built.stdout}\n{built.stderr}"
    assert built.stderr.strip() == "", built.stderr  # -q: only warnings would be printed
    documented = inventory(tmp_path / "objects.inv")
    assert undocumented(found.names(), documented) == []
    # Each reference page is there, with its generated part.
    fixtures = (tmp_path / "fixtures.html").read_text(encoding="utf-8")
    assert 'id="fixture-cms_client"' in fixtures


def test_a_missing_name_or_an_empty_docstring_is_caught() -> None:
    """The checks above fail for what they should: a fabricated fixture, option or profile
    that the docs do not hold, a fixture without a docstring, a profile without a summary."""
    documented = {
        "std:fixture": {"cms_client"},
        "std:cmdoption": {"pytest.--wsharness-profile"},
        "std:profile": {"compliant"},
    }
    defined = {
        "fixture": {"cms_client", "cms_fabricated"},
        "option": {"pytest --wsharness-profile", "pytest --wsharness-fabricated"},
        "profile": {"compliant", "fabricated-profile"},
        "marker": {"wsharness_fabricated"},
    }
    assert undocumented(defined, documented) == [
        "fixture cms_fabricated",
        "marker wsharness_fabricated",
        "option pytest --wsharness-fabricated",
        "profile fabricated-profile",
    ]
    bare = surface.Surface(
        fixtures=[surface.Fixture("cms_fabricated", "function", "pytest_wsharness.x", 1, "")],
        profiles=[
            surface.Profile("fabricated", "", "", "reverse", [], "", [], [], {}, Path("f.toml"))
        ],
    )
    assert undescribed(bare) == [
        "fixture cms_fabricated has no docstring",
        "profile fabricated has no summary",
        "profile fabricated has no expect",
    ]


def test_pytest_fixtures_output_is_read_as_pytest_prints_it() -> None:
    """`pytest --fixtures -v` as pytest 8 and 9 print it: only this package's sections, the
    docstring dedented, "no docstring available" read as none, private fixtures left out."""
    printed = textwrap.dedent(
        """\
        tmp_path -- .../_pytest/tmpdir.py:328
            Return a temporary directory.

        ------------- fixtures defined from pytest_wsharness.plugin -------------
        cms_fabricated [session scope] -- ../pytest_wsharness/plugin.py:40
            First line.

            Second paragraph::

                code

        cms_bare -- ../pytest_wsharness/plugin.py:20
            no docstring available

        _cms_private -- ../pytest_wsharness/plugin.py:10
            Private.

        ---------------- fixtures defined from other_plugin ----------------
        other -- ../other_plugin.py:1
            Not ours.
        """
    )
    fixtures = surface._fixtures(printed)
    assert [(f.name, f.scope, f.line) for f in fixtures] == [
        ("cms_bare", "function", 20),
        ("cms_fabricated", "session", 40),
    ]
    assert fixtures[0].doc == ""
    assert fixtures[1].doc == "First line.\n\nSecond paragraph::\n\n    code"


def test_a_reference_to_a_fabricated_fixture_fails_the_build(tmp_path: Path) -> None:
    """Nitpicky mode really fails on a name that is not documented (here a page of its own, so
    that the check costs no full build)."""
    _require_docs_extra()
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.md").write_text(
        "# Page\n\nAsk for {fixture}`cms_fabricated` and {profile}`fabricated-profile`.\n",
        encoding="utf-8",
    )
    built = _sphinx(pages, tmp_path / "out", "-c", str(DOCS))  # docs/conf.py, this page
    assert built.returncode != 0
    # Sphinx 8 says "std:fixture reference target...", Sphinx 9 "'fixture' reference target...".
    assert re.search(r"fixture\W* reference target not found: cms_fabricated", built.stderr)
    assert re.search(r"profile\W* reference target not found: fabricated-profile", built.stderr)


# ---------------------------------------------------------------------------------------------
# The README

# Every command a shell block of README.md shows -> the test here that runs it.
README_COMMANDS = {
    "scripts/matrix": "test_scripts_matrix_runs_the_matrix",
    "scripts/test": "test_ci_runs_scripts_test",
    "pytest test_live_updates.py": "test_the_readme_first_test_passes",
}
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_commands(text: str) -> list[str]:
    """The commands of the README's shell blocks: prompts and comments left out, continuation
    lines joined."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.removeprefix("$ ").split(" #")[0].strip()
            if command and not command.startswith("#"):
                commands.append(" ".join(command.split()))
    return commands


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_is_short() -> None:
    lines = _readme().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; the manual lives in docs/"


def test_every_readme_command_is_run_by_a_test() -> None:
    commands = readme_commands(_readme())
    assert commands, "no shell block found in README.md"
    assert set(commands) == set(README_COMMANDS), (
        f"not run by a test: {sorted(set(commands) - set(README_COMMANDS))}; "
        f"no longer in the README: {sorted(set(README_COMMANDS) - set(commands))}"
    )
    for test in README_COMMANDS.values():
        assert callable(globals().get(test)), test


def test_every_readme_link_to_a_file_finds_it() -> None:
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", _readme())
    assert links, "the README links to no page of the docs"
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_readme_commands_are_read_from_every_shell_block() -> None:
    text = "```sh\n$ scripts/x --a \\\n    --b   # why\n# a comment\n```\n```python\nno\n```\n"
    assert readme_commands(text) == ["scripts/x --a --b"]


def test_ci_runs_scripts_test() -> None:
    """`scripts/test` is what CI runs (`.ci/run`): each submission runs it whole, the strict
    docs build among its steps."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^exec bash scripts/test$", ci, re.MULTILINE), ci
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert "-m sphinx -W --keep-going -n" in script


def test_scripts_matrix_runs_the_matrix(tmp_path: Path) -> None:
    """`scripts/matrix` installs the package, then runs `wsharness matrix` with its arguments:
    that command runs here as the script runs it, with none (the whole catalogue)."""
    script = (ROOT / "scripts" / "matrix").read_text(encoding="utf-8")
    assert script.rstrip().endswith('exec "$VENV/bin/wsharness" matrix "$@"'), script
    wsharness = Path(sys.executable).with_name("wsharness")
    ran = subprocess.run(
        [str(wsharness), "matrix"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    total = re.search(r"^(\d+) scenarios, (\d+) as expected, 0 wrong", ran.stdout, re.MULTILINE)
    assert total, ran.stdout
    assert total[1] == total[2], ran.stdout


def _python_block(text: str, containing: str) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


def _readme_first_test() -> tuple[str, str]:
    """The README's first test module and the file name its command runs."""
    text = _readme()
    command = next(c for c in readme_commands(text) if c.startswith("pytest "))
    return _python_block(text, "def test_"), command.split()[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs see no option of this suite (PYTEST_ADDOPTS, xdist's worker variables)."""
    for name in list(os.environ):
        if name.startswith(("PYTEST_", "WSHARNESS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.mark.usefixtures("clean_env")
def test_the_readme_first_test_passes(pytester: pytest.Pytester) -> None:
    """`pytest test_live_updates.py` on the README's first test, as a team would run it: no
    ini, the default time scale."""
    module, filename = _readme_first_test()
    (pytester.path / filename).write_text(module, encoding="utf-8")
    result = pytester.runpytest_subprocess(filename, "-p", "no:cacheprovider")
    counts = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert counts.get("passed", 0) >= 3, counts
    assert set(counts) <= {"passed", "warnings"}, counts


FAILING_TEST = """\
import pytest
from pytest_wsharness.assertions import assert_updates_delivered


@pytest.mark.wsharness_profiles("header-stripping")
def test_editors_get_live_notifications(cms_client, cms_server, cms_proxy):
    assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
"""


@pytest.mark.usefixtures("clean_env")
def test_the_readme_failure_message_is_real(pytester: pytest.Pytester) -> None:
    """The failure the README (and the docs' first page) shows is what assert_updates_delivered
    prints through header-stripping, word for word."""
    shown = [
        block
        for page in (_readme(), (DOCS / "index.md").read_text(encoding="utf-8"))
        for block in re.findall(r"^```\n(.*?)^```", page, re.MULTILINE | re.DOTALL)
        if "OutcomeError" in block
    ]
    assert len(shown) == 2, shown
    pytester.makepyfile(test_failing=FAILING_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 1, result.stdout.str()
    printed = [
        line.rstrip()
        for line in result.stdout.lines
        if line.startswith("E ") or line.startswith(">       assert_")
    ]
    for block in shown:
        assert block.rstrip("\n").splitlines() == printed
