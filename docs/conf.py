"""Sphinx configuration: Markdown pages (MyST), the reference generated from the code.

Build it strictly, as scripts/test and tests/test_docs.py do:

    python -m sphinx -W --keep-going -n -E -b html docs build/docs
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "pytest-wsharness"
author = "pytest-wsharness developers"
copyright = "pytest-wsharness developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "wsharness_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Every reference must resolve: a page that names a fixture, an option, a profile, a page or a
# heading that does not exist fails the build (with -W).
nitpicky = True
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# Signatures without type hints: the docstrings say what each argument is, and the types are
# internal classes with no page of their own.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_title = "pytest-wsharness"
html_theme_options = {"description": "CMS realtime updates through proxies, tested"}
