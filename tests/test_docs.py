"""The API reference: every public name has a docstring and appears in docs/api.md, and the built
reference shows public import paths only (``cnilib.X``, never ``cnilib._module.X``).

The code samples of README.md and docs/*.md are run by Sybil (see the top-level conftest.py).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sphinx.pycode import ModuleAnalyzer

import cnilib

ROOT = Path(__file__).resolve().parent.parent
API_PAGE = ROOT / "docs" / "api.md"
_DIRECTIVE = re.compile(
    r"^\.\. auto(?P<kind>\w+):: (?P<name>cnilib[\w.]*)(?P<options>(?:\n   :.*)*)", re.MULTILINE
)
# What pytest's plugin module exports are fixtures, described in its docstring.
_MODULES_WITHOUT_MEMBERS = {"cnilib.testing.pytest_plugin"}


def public_submodules() -> list[str]:
    """Every importable module of cnilib whose dotted path has no private part."""
    return sorted(
        info.name
        for info in pkgutil.walk_packages(cnilib.__path__, "cnilib.")
        if not any(part.startswith("_") for part in info.name.split("."))
    )


def public_names(module: ModuleType) -> list[str]:
    names = [n for n in getattr(module, "__all__", ()) if not n.startswith("__")]
    return sorted(names)


def _attr_docs(name: str) -> set[str]:
    """Names documented by ``#:`` comments in ``cnilib`` and its private modules."""
    modules = (
        [name]
        if name != "cnilib"
        else ["cnilib"] + [f"cnilib{module}" for module in sorted(set(cnilib._LAZY.values()))]
    )
    found: set[str] = set()
    for mod in modules:
        found |= {attr for (_, attr) in ModuleAnalyzer.for_module(mod).find_attr_docs()}
    return found


def _undocumented(module: ModuleType) -> list[str]:
    missing = []
    data_docs: set[str] | None = None
    for name in public_names(module):
        obj = getattr(module, name)
        label = f"{module.__name__}.{name}"
        if inspect.isclass(obj) or inspect.isfunction(obj):
            own = obj.__doc__ if inspect.isfunction(obj) else vars(obj).get("__doc__")
            if not (own or "").strip():
                missing.append(label)
            if inspect.isclass(obj):
                missing += _undocumented_members(obj, label)
        else:
            data_docs = _attr_docs(module.__name__) if data_docs is None else data_docs
            if name not in data_docs:
                missing.append(f"{label} (needs a `#:` comment)")
    return missing


def _undocumented_members(cls: type, label: str) -> list[str]:
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        documentable = isinstance(func, property) or inspect.isfunction(func)
        if documentable and not (func.__doc__ or "").strip():
            missing.append(f"{label}.{attr}")
    return missing


@pytest.mark.parametrize("module_name", ["cnilib", *public_submodules()])
def test_public_names_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    assert _undocumented(module) == []


def test_every_public_name_is_in_the_reference() -> None:
    text = API_PAGE.read_text()
    directives = {m["name"]: m for m in _DIRECTIVE.finditer(text)}
    missing = [f"cnilib.{n}" for n in public_names(cnilib) if f"cnilib.{n}" not in directives]
    for module_name in public_submodules():
        found = directives.get(module_name)
        if found is None or found["kind"] != "module":
            missing.append(f"{module_name} (needs `.. automodule:: {module_name}`)")
        elif ":no-members:" in found["options"] and module_name not in _MODULES_WITHOUT_MEMBERS:
            missing.append(f"{module_name} (its members are left out)")
    assert missing == [], f"add these to {API_PAGE.relative_to(ROOT)}"
    assert not [name for name in directives if re.search(r"\._[a-z]", name)], "private paths in api.md"


def test_the_built_reference_shows_public_paths_only(tmp_path: Path) -> None:
    # Warnings are errors, as in CI's docs build.
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(ROOT / "docs"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "api.html").read_text()
    private = sorted(set(re.findall(r"cnilib(?:\.\w+)*\._[a-z]\w*(?:\.\w+)*", html)))
    assert private == [], "the reference shows private import paths"
    anchors = set(re.findall(r'id="(cnilib[\w.]*)"', html))
    expected = {f"cnilib.{n}" for n in public_names(cnilib)}
    for module_name in public_submodules():
        module = importlib.import_module(module_name)
        if module_name not in _MODULES_WITHOUT_MEMBERS:
            expected |= {f"{module_name}.{n}" for n in public_names(module)}
    assert sorted(expected - anchors) == []


def test_tests_named_by_the_comparison_page_exist() -> None:
    page = (ROOT / "docs" / "compared.md").read_text()
    cited = sorted(set(re.findall(r"`(tests/\w+\.py)::(\w+)`", page)))
    assert len(cited) >= 20
    missing = []
    for path, name in cited:
        source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
        if not re.search(rf"^(?:async )?def {name}\(", source, re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_sample_runner_fails_a_sample_that_no_longer_does_what_its_page_shows(tmp_path: Path) -> None:
    # The runner (the top-level conftest.py) on a page of its own: right samples pass, wrong fail.
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "examples").mkdir()
    (tmp_path / "docs").mkdir()
    fence = "```"
    (tmp_path / "docs" / "page.md").write_text(
        f"{fence}console\n$ echo right\nright\n$ echo $((6 * 7))\n42\n{fence}\n\n"
        f"{fence}python\n>>> print('right')\nright\n{fence}\n\n"
        f"{fence}console\n$ echo wrong\nright\n{fence}\n\n"
        f"{fence}python\nx = 1\n{fence}\n\n<!-- docs: output -->\n\n{fence}text\nsomething\n{fence}\n\n"
        f"{fence}python\nraise RuntimeError('broken sample')\n{fence}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "docs/page.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "4 passed" in proc.stdout, proc.stdout  # two commands, a doctest, `x = 1`, the directive
    assert "3 failed" in proc.stdout, proc.stdout
    assert re.search(r"--- it printed:\nE\s+wrong\n", proc.stdout)
    assert "RuntimeError: broken sample" in proc.stdout
