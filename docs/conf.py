"""Sphinx configuration for cnilib's documentation."""

from __future__ import annotations

project = "cnilib"
author = "cnilib developers"
copyright = "2026, cnilib developers"  # noqa: A001
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
# Public annotations name classes that Sphinx cannot always resolve (attrs internals, typing aliases).
nitpicky = False
suppress_warnings = ["myst.header"]
myst_heading_anchors = 3
