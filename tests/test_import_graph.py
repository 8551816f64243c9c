"""The import graph of cnilib has no cycle, counting function-level imports (they only defer a cycle).

Every ``import``/``from ... import`` statement anywhere in a module (top level, functions,
``TYPE_CHECKING`` blocks) is an edge; ``from pkg import name`` points at ``pkg.name`` when that is a
module, else at ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cnilib

ROOT = Path(cnilib.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph() -> dict[str, set[str]]:
    """Edges between cnilib modules, from every import statement of every module."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_graph_sees_every_module_and_function_level_imports() -> None:
    graph = import_graph()
    assert "cnilib._model._codec" in graph
    assert "cnilib.testing.strategies" in graph
    # _wrap_single imports the Go encoder inside a function: still an edge.
    assert "cnilib._base._gojson" in graph["cnilib._model._models"]


def test_no_import_cycle_in_cnilib() -> None:
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_codec_is_a_leaf() -> None:
    # The codec knows JSON and cattrs, not the models: they describe themselves in field metadata
    # or in the element descriptions, which know only the checks and the versions.
    leaves = {
        "cnilib._base._errors",
        "cnilib._spec._validate",
        "cnilib._spec._jsontext",
        "cnilib._spec._scalars",
        "cnilib._spec._shapes",
    }
    assert import_graph()["cnilib._model._codec"] <= leaves
    assert import_graph()["cnilib._spec._shapes"] <= {"cnilib._spec._scalars", "cnilib._spec._version"}
    assert import_graph()["cnilib._spec._scalars"] <= {"cnilib._spec._jsontext"}
    assert import_graph()["cnilib._spec._jsontext"] <= {"cnilib._base._errors", "cnilib._spec._validate"}


def test_a_cycle_is_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
