"""The package's three export tables agree: ``__all__``, the lazy map and the type-checking imports.

``cnilib/__init__.py`` keeps them by hand (lazy loading keeps the command line's start-up cheap), so a
name added to one and forgotten in another would either be invisible to type checkers, fail on first
access, or be missing from ``from cnilib import *``. This test reads the module's source to compare them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnilib

INIT = Path(cnilib.__file__)


def _tables() -> tuple[set[str], set[str], set[str], set[str]]:
    tree = ast.parse(INIT.read_text())
    eager: set[str] = set()
    typing_only: set[str] = set()
    lazy: set[str] = set()
    declared: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 1:
            eager.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                assert isinstance(sub, ast.ImportFrom), ast.dump(sub)
                typing_only.update(a.asname or a.name for a in sub.names)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id == "_LAZY":
                assert isinstance(node.value, ast.Dict)
                lazy = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List)
            declared = {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) for t in node.targets):
            eager.update(t.id for t in node.targets if isinstance(t, ast.Name) and not t.id.startswith("_"))
    eager.add("__version__")
    return eager, typing_only, lazy, declared


def test_lazy_map_and_type_checking_imports_name_the_same() -> None:
    _, typing_only, lazy, _ = _tables()
    assert typing_only == lazy, {
        "only under TYPE_CHECKING": sorted(typing_only - lazy),
        "only in _LAZY": sorted(lazy - typing_only),
    }


def test_all_is_exactly_the_eager_and_lazy_names() -> None:
    eager, _, lazy, declared = _tables()
    public_eager = {n for n in eager if not n.startswith("_") or n == "__version__"}
    assert declared == public_eager | lazy, {
        "missing from __all__": sorted((public_eager | lazy) - declared),
        "in __all__ but defined nowhere": sorted(declared - public_eager - lazy),
    }
    assert len(declared) == len(cnilib.__all__), "a name is listed twice in __all__"


def test_every_lazy_name_resolves_from_its_module() -> None:
    for name, module in cnilib._LAZY.items():
        value = getattr(importlib.import_module(module, "cnilib"), name)
        assert getattr(cnilib, name) is value


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        cnilib.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_star_import_and_dir_give_the_public_names() -> None:
    code = "from cnilib import *; import cnilib; print(sorted(cnilib.__all__) == sorted(dir(cnilib)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_version_is_defined_once() -> None:
    # pyproject.toml reads it from cnilib/_base/_defaults.py; no other file may spell it.
    from importlib.metadata import version

    assert version("cnilib") == cnilib.__version__
    root = INIT.parent.parent
    assert 'version = "' not in (root / "pyproject.toml").read_text().split("[project.optional")[0]


def _public_classes() -> list[tuple[str, type]]:
    from test_docs import public_names, public_submodules

    found: dict[type, str] = {}
    for module_name in ["cnilib", *public_submodules()]:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj.__module__.startswith("cnilib"):
                found.setdefault(obj, f"{module_name}.{name}")
    return sorted(((path, cls) for cls, path in found.items()), key=lambda item: item[0])


@pytest.mark.parametrize(("path", "cls"), _public_classes(), ids=[p for p, _ in _public_classes()])
def test_help_shows_the_class_docstring_first(path: str, cls: type) -> None:
    # What help() prints: the class line, the constructor's signature (as for any Python class), then
    # the class's own docstring, before any method (attrs generates several).
    text = pydoc.render_doc(cls, "Help on %s:", renderer=pydoc.plaintext)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"class {cls.__name__}"))
    body = [re.sub(r"^ \|(?:  |$)", "", line).rstrip() for line in lines[start + 1 :]]
    i = 0
    if body[0].startswith(f"{cls.__name__}("):  # the signature: one line, or several from 3.13 on
        if body[0].endswith("("):
            while not body[i].startswith(")"):
                i += 1
        i += 1
    while i < len(body) and not body[i].strip():
        i += 1
    own = vars(cls).get("__doc__")
    assert own, f"{path} has no docstring of its own"
    first_paragraph = inspect.cleandoc(own).split("\n\n")[0].splitlines()
    assert body[i : i + len(first_paragraph)] == first_paragraph, text[:2000]


def test_every_public_module_exports_what_it_did() -> None:
    # The public import paths are a promise: each public module and its ``__all__`` as they were
    # recorded (tests/data/public_names.json; a module without ``__all__`` is null). Adding a name
    # or a public module is a deliberate change of this file; moving code behind them is not.
    from test_docs import public_submodules

    recorded = json.loads((Path(__file__).parent / "data" / "public_names.json").read_text())
    assert sorted(recorded) == ["cnilib", *public_submodules()]
    for module_name, names in recorded.items():
        module = importlib.import_module(module_name)
        all_ = getattr(module, "__all__", None)
        assert (None if all_ is None else sorted(all_)) == names, module_name
        for name in names or ():
            getattr(module, name)  # loads (a lazy name) or raises AttributeError
