"""Sphinx extension: the reference pages, generated from the code at every build.

Directives (each usable from a Markdown page, as ```{wsharness-fixtures}```):

* ``wsharness-fixtures``: every public fixture of the plugins, with its docstring;
* ``wsharness-options``, ``wsharness-ini-options``, ``wsharness-markers``: from ``pytest
  --help`` and ``pytest --markers``;
* ``wsharness-commands``: the ``--help`` of ``wsharness`` and of each sub-command;
* ``wsharness-profiles``, ``wsharness-profile-table``, ``wsharness-real-configs``: the TOML
  files of ``proxies/`` and ``proxies/real/``;
* ``wsharness-api MODULE``: the public functions and classes of a module, through autodoc;
* ``wsharness-layout``: every module of the package with the first line of its docstring.

Each registers what it documents as an object Sphinx can link to (``{fixture}`cms_client```,
``{option}`pytest --wsharness-upstream```, ``{confval}`wsharness_upstream```,
``{marker}`wsharness_profiles```, ``{profile}`compliant```, ``{proxy-config}`nginx-websocket```,
``{command}`wsharness matrix```, ``{source}`pytest_wsharness.relay```),
so that with ``-n -W`` a page that names a fixture, an option or a profile that no longer
exists fails the build. A fixture without a docstring, an option without help or a profile
without a summary fails it too: generated docs are only as good as what they are made of.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, ClassVar

import surface  # docs/_ext, on sys.path by conf.py
from docutils import nodes
from docutils.parsers.rst import Parser as RstParser
from docutils.parsers.rst import directives
from docutils.utils import new_document
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _surface(env: BuildEnvironment) -> surface.Surface:
    app: Any = env.app
    if getattr(app, "wsharness_surface", None) is None:
        app.wsharness_surface = surface.collect()
    found: surface.Surface = app.wsharness_surface
    return found


def _indent(text: str, by: int = 3) -> str:
    return textwrap.indent(text, " " * by, lambda line: bool(line.strip()))


def _literal(text: str) -> str:
    """A reST literal block of ``text``, with the ``::`` that opens it."""
    return "::\n\n" + _indent(text.rstrip("\n") or "(empty)") + "\n"


def _escape(text: str) -> str:
    """Plain text (help strings, TOML values) as reST: no markup of its own."""
    return text.replace("\\", "\\\\").replace("`", "\\`").replace("*", "\\*").replace("|", "\\|")


class _Generated(SphinxDirective):
    """Generates reST and parses it in place, from a Markdown page as from a reST one."""

    has_content = False

    def rst(self) -> str:
        raise NotImplementedError

    def missing(self, what: str) -> None:
        """A generated entry that has nothing to say: a warning, so -W fails the build."""
        logger.warning(what, location=self.get_location())

    def run(self) -> list[nodes.Node]:
        # Whatever the page's own language (MyST's directives parse their content as Markdown),
        # the generated text is reST: docstrings are reST.
        document = self.state.document
        generated = new_document(document["source"], document.settings)
        generated.reporter = document.reporter
        RstParser().parse(self.rst(), generated)
        self.env.metadata[self.env.docname]["wsharness-generated"] = True
        return list(generated.children)


class Fixtures(_Generated):
    def rst(self) -> str:
        found = _surface(self.env)
        out = []
        module = None
        for fixture in found.fixtures:
            if fixture.module != module:
                module = fixture.module
                out.append(f".. rubric:: From ``{module}``\n")
            if not fixture.doc:
                self.missing(f"fixture {fixture.name!r} ({fixture.module}) has no docstring")
            scope = f"{fixture.scope} scope"
            out.append(f".. fixture:: {fixture.name}\n\n   *{scope}*\n\n{_indent(fixture.doc)}\n")
        return "\n".join(out)


class Options(_Generated):
    def rst(self) -> str:
        out = [".. program:: pytest\n"]
        group = None
        for option in _surface(self.env).options:
            if option.group != group:
                group = option.group
                out.append(f".. rubric:: {_escape(group)}\n")
            if not option.help:
                self.missing(f"pytest option {option.head} has no help")
            out.append(f".. option:: {option.head}\n\n{_indent(_escape(option.help))}\n")
        return "\n".join(out)


class IniOptions(_Generated):
    def rst(self) -> str:
        out = []
        for ini in _surface(self.env).ini_options:
            if not ini.help:
                self.missing(f"ini option {ini.name} has no help")
            body = _indent(_escape(ini.help))
            out.append(f".. confval:: {ini.name}\n   :type: ``{ini.type}``\n\n{body}\n")
        return "\n".join(out)


class Markers(_Generated):
    def rst(self) -> str:
        out = []
        for marker in _surface(self.env).markers:
            if not marker.help:
                self.missing(f"marker {marker.name} has no help")
            out.append(f".. marker:: {marker.signature}\n\n{_indent(_escape(marker.help))}\n")
        return "\n".join(out)


class Commands(_Generated):
    def rst(self) -> str:
        out = []
        for name, help_text in _surface(self.env).commands.items():
            command = f"wsharness {name}".strip()
            if not help_text.strip():
                self.missing(f"{command} --help says nothing")
            body = f"``{command} --help``:\n\n{_literal(help_text)}"
            out.append(f".. command:: {command}\n\n{_indent(body)}\n")
        return "\n".join(out)


class ProfileTable(_Generated):
    def rst(self) -> str:
        rows = [".. list-table::\n   :header-rows: 1\n   :widths: 22 14 64\n"]
        rows.append("   * - profile\n     - expect\n     - what the middlebox does")
        for profile in _surface(self.env).profiles:
            rows.append(
                f"   * - :profile:`{profile.name}`\n     - ``{profile.expect}``\n"
                f"     - {_escape(profile.summary)}"
            )
        return "\n".join(rows) + "\n"


class Profiles(_Generated):
    def rst(self) -> str:
        out = []
        for profile in _surface(self.env).profiles:
            if not profile.summary:
                self.missing(f"profile {profile.name} ({profile.path}) has no summary")
            if not profile.expect:
                self.missing(f"profile {profile.name} ({profile.path}) has no expect")
            fields = [
                f"expect: ``{profile.expect}``",
                f"kind: ``{profile.kind}``",
            ]
            if profile.models:
                fields.append("models: " + "; ".join(_escape(m) for m in profile.models))
            if profile.behaviours:
                fields.append("behaviours: " + "; ".join(f"``{b}``" for b in profile.behaviours))
            if profile.faults:
                fields.append("faults: " + "; ".join(f"``{f}``" for f in profile.faults))
            if profile.server:
                server = ", ".join(f"{k} = {v!r}" for k, v in profile.server.items())
                fields.append(f"server: ``{server}``")
            body = _escape(profile.summary) + "\n\n" + "\n".join(f"- {f}" for f in fields)
            if profile.comment:
                body += "\n\n" + _escape(profile.comment)
            out.append(f".. profile:: {profile.name}\n\n{_indent(body)}\n")
        return "\n".join(out)


class RealConfigs(_Generated):
    def rst(self) -> str:
        out = []
        for config in _surface(self.env).real_configs:
            if not config.summary:
                self.missing(f"real proxy config {config.name} ({config.path}) has no summary")
            body = (
                f"{_escape(config.summary)}\n\n- software: ``{config.software}``\n"
                f"- modelled by: :profile:`{config.models}`\n"
            )
            if config.comment:
                body += "\n" + _escape(config.comment) + "\n"
            body += "\nIts config:\n\n" + _literal(config.config)
            out.append(f".. proxy-config:: {config.name}\n\n{_indent(body)}\n")
        return "\n".join(out)


class Api(_Generated):
    """``wsharness-api MODULE``: its public functions and classes, in source order."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Callable[[str], str]]] = {
        "module-docstring": lambda arg: directives.choice(arg, ("rst", "literal"))
    }

    def rst(self) -> str:
        name = self.arguments[0]
        module = importlib.import_module(name)
        # A module that names its public API (``__all__``) is shown in that order: its
        # members may be defined in modules of its own (pytest_wsharness.errors's families).
        order = list(getattr(module, "__all__", ()))
        members = [
            (order.index(member) if member in order else inspect.getsourcelines(obj)[1],
             member, obj)
            for member, obj in vars(module).items()
            if not member.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == name
        ]  # fmt: skip
        if self.options.get("module-docstring") == "literal":
            # A docstring written as plain text (an indented tree): shown as written.
            out = [f".. py:module:: {name}\n", _literal(inspect.getdoc(module) or "")]
        else:
            out = [f".. automodule:: {name}\n   :no-members:\n"]
        for _, member, obj in sorted(members, key=lambda m: m[0]):
            if not obj.__doc__:
                self.missing(f"{name}.{member} has no docstring")
            if not isinstance(obj, type):
                kind = "autofunction"
            elif issubclass(obj, BaseException):
                kind = "autoexception"
            else:
                kind = "autoclass"
            out.append(f".. {kind}:: {name}.{member}\n")
        return "\n".join(out)


class Layout(_Generated):
    """Every module, as a ``source`` object: a page that names a module that is gone fails."""

    def rst(self) -> str:
        out = []
        for module in _surface(self.env).modules:
            summary = _escape(module.summary) or "(no docstring)"
            kind = "*package*: " if module.is_package else ""
            out.append(f".. source:: {module.name}\n\n   {kind}{summary}\n")
        return "\n".join(out)


def _marker_name(env: BuildEnvironment, sig: str, signode: addnodes.desc_signature) -> str:
    """``wsharness_profiles(*names)`` is shown whole and linked to as ``wsharness_profiles``."""
    signode += addnodes.desc_addname("@pytest.mark.", "@pytest.mark.")
    signode += addnodes.desc_name(sig, sig)
    return sig.split("(")[0]


def _to_layout(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    """A docstring's ``:class:`~pytest_wsharness.upstream.deployment.RealDeployment```
    (or ``:mod:``, ``:func:``...) where no page documents it: a link to its module in the
    layout, provided the module exists and defines that name. Anything else stays unresolved
    and fails the build."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith(surface.PACKAGE):
        return None
    modules = {m.name: m for m in _surface(env).modules}
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        module = modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        rest = parts[cut:]
        if rest and rest[0] not in module.defines:
            return None
        std = env.domains.standard_domain
        return std.resolve_xref(
            env, node["refdoc"], app.builder, "source", module.name, node, contnode
        )
    return None


def _outdated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Pages with generated parts are read again at every build: the code may have changed."""
    return [name for name, meta in env.metadata.items() if meta.get("wsharness-generated")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_object_type("fixture", "fixture", indextemplate="pair: %s; fixture")
    app.add_object_type("marker", "marker", "pair: %s; marker", parse_node=_marker_name)
    app.add_object_type("profile", "profile", indextemplate="pair: %s; proxy profile")
    app.add_object_type("proxy-config", "proxy-config", indextemplate="pair: %s; real proxy")
    app.add_object_type("source", "source", indextemplate="pair: %s; module")
    app.add_object_type("command", "command", indextemplate="pair: %s; command")
    for name, directive in {
        "wsharness-fixtures": Fixtures,
        "wsharness-options": Options,
        "wsharness-ini-options": IniOptions,
        "wsharness-markers": Markers,
        "wsharness-commands": Commands,
        "wsharness-profile-table": ProfileTable,
        "wsharness-profiles": Profiles,
        "wsharness-real-configs": RealConfigs,
        "wsharness-api": Api,
        "wsharness-layout": Layout,
    }.items():
        app.add_directive(name, directive)
    app.connect("env-get-outdated", _outdated)
    app.connect("missing-reference", _to_layout)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
