"""Sphinx configuration for cnilib's documentation.

The API reference (api.md) is generated from docstrings and must show only public import paths:
``cnilib.X``, ``cnilib.netns.X``, ..., never ``cnilib._module.X``. Public classes live in private
modules, so three hooks here put them where users import them from: references to
``cnilib._module.X`` resolve to ``cnilib.X``, signatures are rewritten the same way, and data whose
``#:`` comment sits in a private module gets that comment. ``tests/test_docs.py`` checks the result.

Pages are read by people on GitHub too: GitHub alert boxes (``> [!WARNING]``) become MyST admonitions
before a page is parsed, so that one source renders as a box in both places.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.nodes import nested_parse_with_titles

project = "cnilib"
author = "cnilib developers"
copyright = "2026, cnilib developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
# Annotations also name things Sphinx cannot resolve (attrs internals, typing aliases): unresolved
# references stay plain text instead of warnings.
nitpicky = False
suppress_warnings = ["myst.header"]
myst_heading_anchors = 3

# A private part and what follows up to the name: in ``cnilib._model._models.X`` and in a public
# package's private module, ``cnilib.conformance._report.X``.
_PRIVATE = re.compile(r"\b(cnilib(?:\.[a-z]\w*)*)\.(?:_\w+\.)+")


# The Hypothesis strategies' private modules, which ``cnilib.testing.strategies`` re-exports.
_STRATEGIES = re.compile(r"\bcnilib\.testing\._st_\w+\.")


def _public(text: str) -> str:
    """``cnilib._model._models.RuntimeConfig`` -> ``cnilib.RuntimeConfig``; ``cnilib.testing._st_values.ips``
    -> ``cnilib.testing.strategies.ips``."""
    return _PRIVATE.sub(r"\1.", _STRATEGIES.sub("cnilib.testing.strategies.", text))


def _process_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, annotation: str | None
) -> tuple[str | None, str | None]:
    return (_public(signature) if signature else signature, _public(annotation) if annotation else annotation)


def _private_attr_docs() -> dict[str, list[str]]:
    docs: dict[str, list[str]] = {}
    import cnilib

    # The private modules the public names are loaded from (the package's lazy table).
    for module in sorted(set(vars(cnilib)["_LAZY"].values())):
        analyzer = ModuleAnalyzer.for_module(f"cnilib{module}")
        for (_, attr), lines in analyzer.find_attr_docs().items():
            docs.setdefault(attr, list(lines))
    return docs


def _process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    # `cnilib.SUPPORTED_VERSIONS` is documented by a `#:` comment in cnilib/_spec/_version.py (autodoc
    # would otherwise show the docstring of its type, tuple or dict).
    if what == "data" and name.count(".") == 1 and name.startswith("cnilib."):
        lines[:] = _private_attr_docs().get(name.split(".", 1)[1], [])
    lines[:] = [_public(line) for line in lines]


def _missing_reference(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not _PRIVATE.search(target):
        return None
    node["reftarget"] = _public(target)
    domain = env.get_domain("py")
    ref = domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], node["reftarget"], node, contnode
    )
    if ref is not None and ref.get("reftitle"):
        ref["reftitle"] = _public(ref["reftitle"])  # the tooltip, too
    return ref


def _doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    # autodoc registers `cnilib._model._models.X` as the canonical name of `cnilib.X`, so references by
    # the private name resolve, with the private name as the link's tooltip: show the public one.
    for ref in doctree.findall(nodes.reference):
        if ref.get("reftitle"):
            ref["reftitle"] = _public(ref["reftitle"])


# GitHub's alert syntax: a blockquote whose first line is ``> [!WARNING]`` (or NOTE, TIP, IMPORTANT,
# CAUTION). GitHub renders it as a box; so that the same page source renders as one here too, each
# becomes the MyST admonition of that name before the page is parsed.
_ALERT = re.compile(r"^> \[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\n((?:>.*(?:\n|$))*)", re.MULTILINE)


_FENCED = re.compile(r"^( *)(`{3,}|~{3,}).*?^\1\2", re.MULTILINE | re.DOTALL)


def github_alerts(text: str) -> str:
    """``text`` with GitHub alert blockquotes turned into MyST admonition directives (not inside
    fenced code blocks, which show one as it is written)."""

    def admonition(found: re.Match[str]) -> str:
        body = re.sub(r"^> ?", "", found[2], flags=re.MULTILINE).rstrip("\n")
        return f"````{{{found[1].lower()}}}\n{body}\n````\n"

    out, end = [], 0
    for fence in _FENCED.finditer(text):
        out += [_ALERT.sub(admonition, text[end : fence.start()]), fence[0]]
        end = fence.end()
    return "".join([*out, _ALERT.sub(admonition, text[end:])])


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    source[0] = github_alerts(source[0])


class ModuleDocstring(Directive):
    """``.. module-docstring:: cnilib._base._errors``: a module's docstring as text, without a module target.

    For the docstrings of private modules that hold public explanations (the exception tree).
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.arguments[0])
        text = _public(inspect.cleandoc(module.__doc__ or ""))
        container = nodes.container()
        nested_parse_with_titles(
            self.state, StringList(text.splitlines(), source=self.arguments[0]), container
        )
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", _source_read)
    app.connect("autodoc-process-signature", _process_signature)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("missing-reference", _missing_reference)
    app.connect("doctree-resolved", _doctree_resolved)
    app.add_directive("module-docstring", ModuleDocstring)
    return {"parallel_read_safe": True}
