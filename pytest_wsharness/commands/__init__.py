"""The sub-commands of ``wsharness``, one module each: ``add_parser(commands)`` adds its
parser to the command's subparsers and sets ``run``, called with the parsed arguments for the
exit code. ``pytest_wsharness.cli`` is the entry point that puts them together.

* ``matrix`` (with ``upstream``: in front of a team's own CMS): every profile, one row each;
* ``profiles``: the catalogue, or the real proxy configs;
* ``proxy`` (with ``proxy_real``: real software, a team's own config): one proxy in front of
  any server, each connection's fate printed;
* ``diagnose``: what happens to the realtime endpoint of a site, and the likely fix;
* ``serve``: the simulated CMS on its own.

``args`` holds what several of them parse: numbers, ``--listen``, ``--profiles-dir``.
"""

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
# Some scenario (or a diagnosis) could not be judged, and none was wrong.
EXIT_INCONCLUSIVE = 3
