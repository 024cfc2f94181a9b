"""What pytest-wsharness shows its users, read the way a user meets it.

The reference pages of the docs are generated from this, at build time, and
``tests/test_docs.py`` checks the built docs against it, so that a fixture, an option, a marker
or a profile cannot be added without a page saying what it is:

* fixtures, command-line options, ini options and markers: from pytest itself (``pytest
  --fixtures -v``, ``pytest --help``, ``pytest --markers``) with this distribution's pytest11
  plugins loaded and no others, each compared with the same run without them;
* the ``wsharness`` command: each sub-command's ``--help``;
* the proxy profiles and the real proxy configs: the TOML files of ``proxies/`` and
  ``proxies/real/``;
* the package layout: the first paragraph of each module's docstring, read without importing.

No Sphinx here: the test imports this module without the ``docs`` extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DISTRIBUTION = "pytest-wsharness"
PACKAGE = "pytest_wsharness"
ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "proxies"
REAL_CONFIGS = PROFILES / "real"
# Wide enough that pytest's and argparse's help never wrap an option's name onto its text.
COLUMNS = "200"
# What a command's --help is rendered at in the docs: a width a page shows without scrolling.
HELP_COLUMNS = "88"
TIMEOUT = 120.0


@dataclass(frozen=True)
class Fixture:
    name: str
    scope: str
    module: str
    line: int
    doc: str


@dataclass(frozen=True)
class Option:
    """A command-line option as ``pytest --help`` shows it, e.g. ``--wsharness-profile=NAME``."""

    head: str
    group: str
    help: str

    @property
    def names(self) -> list[str]:
        """``--wsharness-profile`` out of ``--wsharness-profile=NAME``, each alias."""
        return [part.split("=")[0].split(" ")[0] for part in self.head.split(", ")]


@dataclass(frozen=True)
class IniOption:
    name: str
    type: str
    help: str


@dataclass(frozen=True)
class Marker:
    name: str
    signature: str
    help: str


@dataclass(frozen=True)
class Profile:
    name: str
    expect: str
    summary: str
    kind: str
    models: list[str]
    comment: str
    behaviours: list[str]
    faults: list[str]
    server: dict[str, object]
    path: Path


@dataclass(frozen=True)
class RealConfig:
    name: str
    software: str
    models: str
    summary: str
    comment: str
    config: str
    path: Path


@dataclass(frozen=True)
class Module:
    name: str
    is_package: bool
    summary: str
    defines: frozenset[str] = frozenset()


@dataclass
class Surface:
    fixtures: list[Fixture] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    ini_options: list[IniOption] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    commands: dict[str, str] = field(default_factory=dict)
    profiles: list[Profile] = field(default_factory=list)
    real_configs: list[RealConfig] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)

    def names(self) -> dict[str, set[str]]:
        """Every documented name, by the kind of object the docs register it as."""
        return {
            "fixture": {f.name for f in self.fixtures},
            "option": {f"pytest {name}" for o in self.options for name in o.names},
            "confval": {i.name for i in self.ini_options},
            "marker": {m.name for m in self.markers},
            "profile": {p.name for p in self.profiles},
            "proxy-config": {c.name for c in self.real_configs},
            "command": {f"wsharness {name}".strip() for name in self.commands},
        }


def plugin_modules() -> list[str]:
    """The modules this distribution registers with pytest: its ``pytest11`` entry points, and
    the modules they register in turn (their ``pytest_plugins``)."""
    dist = importlib.metadata.distribution(DISTRIBUTION)
    found = sorted(ep.value.split(":")[0] for ep in dist.entry_points if ep.group == "pytest11")
    for name in list(found):
        more = getattr(importlib.import_module(name), "pytest_plugins", ())
        found += [module for module in more if module not in found]
    return found


def _environment(columns: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "WSHARNESS_")) and k not in ("COLUMNS", "LINES")
    }
    # Only what we ask for: neither the other installed plugins nor a user's PYTEST_ADDOPTS.
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", COLUMNS=columns, NO_COLOR="1", PY_COLORS="0")
    return env


def _start(args: list[str], cwd: Path, columns: str = COLUMNS) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=_environment(columns),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str], what: str) -> str:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"{what} did not finish within {TIMEOUT:g}s") from None
    if process.returncode != 0:
        raise RuntimeError(f"{what} exited {process.returncode}:\n{out}\n{err}")
    return out


# `python -c` for each --help of the console script: one process for all of them.
_COMMAND_HELP = r"""
import contextlib, io, json, re, sys
from importlib.metadata import distribution
(main,) = [ep.load() for ep in distribution(sys.argv[1]).entry_points
           if ep.group == "console_scripts" and ep.name == sys.argv[2]]
def show(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*argv, "--help"])
        except SystemExit:
            pass
    return out.getvalue()
top = show([])
# The sub-commands, as the top --help lists them: "    matrix    run every profile..."
listed = top.split("positional arguments:", 1)[1].split("options:", 1)[0]
names = [line.split()[0] for line in listed.splitlines() if re.match(r"^    \w", line)]
print(json.dumps({"": top, **{name: show([name]) for name in names}}))
"""


def collect() -> Surface:
    """Everything the docs document, read from the installed plugin and ``proxies/``."""
    plugins = [arg for module in plugin_modules() for arg in ("-p", module)]
    with tempfile.TemporaryDirectory(prefix="wsharness-docs-") as folder:
        cwd = Path(folder)
        # An ini file of its own: none of this repository's (its -p pytester, its markers).
        (cwd / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        base = ["-m", "pytest", "-p", "no:cacheprovider"]
        runs = {
            "help": _start([*base, *plugins, "--help"], cwd),
            "help-core": _start([*base, "--help"], cwd),
            "markers": _start([*base, *plugins, "--markers"], cwd),
            "markers-core": _start([*base, "--markers"], cwd),
            "fixtures": _start([*base, *plugins, "--fixtures", "-v"], cwd),
            "commands": _start(["-c", _COMMAND_HELP, DISTRIBUTION, "wsharness"], cwd, HELP_COLUMNS),
        }
        out = {what: _finish(process, what) for what, process in runs.items()}
    options, ini = _help_entries(out["help"])
    core_options, core_ini = _help_entries(out["help-core"])
    core_markers = {m.name for m in _markers(out["markers-core"])}
    return Surface(
        fixtures=_fixtures(out["fixtures"]),
        options=[o for o in options if o.head not in {c.head for c in core_options}],
        ini_options=[i for i in ini if i.name not in {c.name for c in core_ini}],
        markers=[m for m in _markers(out["markers"]) if m.name not in core_markers],
        commands=json.loads(out["commands"]),
        profiles=profiles(),
        real_configs=real_configs(),
        modules=modules(),
    )


_FIXTURE_HEAD = re.compile(r"^(?P<name>\w+)(?: \[(?P<scope>\w+) scope\])? -- (?P<where>.+)$")
_FIXTURE_SECTION = re.compile(r"^-+ fixtures defined from (?P<module>\S+) -+$")


def _fixtures(text: str) -> list[Fixture]:
    """The public fixtures this distribution's modules define, from ``pytest --fixtures -v``."""
    found: list[Fixture] = []
    module = "_pytest"
    current: dict[str, str | int] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            doc = "\n".join(lines).strip("\n")
            if doc == "no docstring available":
                doc = ""
            found.append(Fixture(doc=doc, **current))  # type: ignore[arg-type]

    for line in text.splitlines():
        if section := _FIXTURE_SECTION.match(line):
            close()
            current, lines = None, []
            module = section["module"]
        elif head := _FIXTURE_HEAD.match(line):
            close()
            current, lines = None, []
            if module.startswith(PACKAGE + ".") or module == PACKAGE:
                line_no = int(head["where"].rsplit(":", 1)[1])
                current = {
                    "name": head["name"],
                    "scope": head["scope"] or "function",
                    "module": module,
                    "line": line_no,
                }
        elif current is not None and (line.startswith("    ") or not line.strip()):
            lines.append(line[4:])
        elif current is not None:
            close()
            current, lines = None, []
    close()
    public = [f for f in found if not f.name.startswith("_")]
    # The main plugin first, then the others: by depth, then name; each in source order.
    return sorted(public, key=lambda f: (f.module.count("."), f.module, f.line))


_INI_HEAD = re.compile(r"^(?P<name>[\w.-]+) \((?P<type>[\w-]+)\):$")


def _help_entries(text: str) -> tuple[list[Option], list[IniOption]]:
    """Every option and ini option of ``pytest --help``, each with its group and help."""
    options: list[Option] = []
    ini: list[IniOption] = []
    group = ""
    entry: list[str] | None = None

    def close() -> None:
        if entry is None:
            return
        head, text = entry[0], " ".join(part.strip() for part in entry[1:] if part.strip())
        if found := _INI_HEAD.match(head):
            ini.append(IniOption(found["name"], found["type"], text))
        elif head.startswith("-"):
            options.append(Option(head, group, text))

    for line in text.splitlines():
        if line and not line.startswith(" "):
            close()
            entry = None
            group = line.rstrip(":")
        elif re.match(r"^  \S", line):
            close()
            head, _, rest = line[2:].partition("  ")
            entry = [head.strip(), rest]
        elif line.startswith("   ") and entry is not None:
            entry.append(line)
        else:
            close()
            entry = None
    close()
    return options, ini


_MARKER = re.compile(r"^@pytest\.mark\.(?P<name>\w+)(?P<args>\(.*?\))?: (?P<help>.*)$")


def _markers(text: str) -> list[Marker]:
    found = []
    for line in text.splitlines():
        if marker := _MARKER.match(line):
            signature = marker["name"] + (marker["args"] or "")
            found.append(Marker(marker["name"], signature, marker["help"].strip()))
    return found


def _leading_comment(text: str) -> str:
    """The comment a TOML file opens with: why the file is what it is."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return " ".join(lines)


def _uses(entries: object) -> list[str]:
    """``deny-upgrade (status=403)`` for each ``[[behaviours]]`` or ``[[faults]]`` entry."""
    described = []
    for entry in entries if isinstance(entries, list) else []:
        params = ", ".join(f"{k}={v!r}" for k, v in entry.items() if k != "use")
        described.append(f"{entry.get('use')}" + (f" ({params})" if params else ""))
    return described


def profiles(folder: Path = PROFILES) -> list[Profile]:
    """The proxy profiles, one per ``proxies/*.toml``."""
    found = []
    for path in sorted(folder.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        models = data.get("models", [])
        found.append(
            Profile(
                name=path.stem,
                expect=str(data.get("expect", "")),
                summary=str(data.get("summary", "")),
                kind=str(data.get("kind", "reverse")),
                models=[models] if isinstance(models, str) else list(models),
                comment=_leading_comment(text),
                behaviours=_uses(data.get("behaviours")),
                faults=_uses(data.get("faults")),
                server=dict(data.get("server", {})),
                path=path,
            )
        )
    return found


def real_configs(folder: Path = REAL_CONFIGS) -> list[RealConfig]:
    """The real proxy configs, one per ``proxies/real/*.toml``."""
    found = []
    for path in sorted(folder.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        found.append(
            RealConfig(
                name=path.stem,
                software=str(data.get("software", "")),
                models=str(data.get("models", "")),
                summary=str(data.get("summary", "")),
                comment=_leading_comment(text),
                config=str(data.get("config", "")),
                path=path,
            )
        )
    return found


def _defines(tree: ast.Module) -> frozenset[str]:
    """The names a module defines at its top level (classes, functions, constants)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def modules() -> list[Module]:
    """Every module of the package, with the first paragraph of its docstring (not imported:
    the browser's and the proxies' dependencies need not be installed to build the docs)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{PACKAGE} is not installed as a package")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        summary = " ".join(doc.split("\n\n", 1)[0].split())
        found.append(Module(name, is_package, summary, _defines(tree)))
    return sorted(found, key=lambda m: m.name.split("."))


if __name__ == "__main__":  # a look at what the docs will show: python docs/_ext/surface.py
    surface = collect()
    for kind, names in surface.names().items():
        print(f"{kind}: {', '.join(sorted(names))}")
    print(f"commands: {', '.join(name or 'wsharness' for name in surface.commands)}")
