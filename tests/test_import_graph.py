"""cnilib's imports point one way: down the layers, never round in a cycle.

The edges are every import a module can make, wherever it is written:

* every ``import``/``from ... import`` statement (top level, in functions, under ``TYPE_CHECKING``);
  ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``;
* the module names given to importlib as strings: the ``_LAZY`` tables of the packages' PEP 562
  ``__getattr__`` (``cnilib._base._lazy``), the command line's ``_COMMANDS`` (each handler's module)
  and any literal passed to ``import_module``/``_module``/``__import__``. A call of
  ``import_module`` with a name that is not a literal is allowed only in the few functions of
  :data:`DISPATCHERS`, whose names come from those tables: a new one fails until this test knows
  where its names come from.

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; that is not an edge (each
``__init__`` is a module with its own edges, and the root's is a table of names loaded on use).

:data:`LAYERS` is the layer list, the one ``docs/architecture.md`` draws. Each module belongs to
the layer of the longest prefix naming it there; an edge into a higher layer fails, and so does a
cycle, within a layer too. The synthetic graphs at the end prove that both failures are found,
through function-level imports and importlib strings as well.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import cnilib

ROOT = Path(cnilib.__file__).parent
DOCS = ROOT.parent / "docs" / "architecture.md"

#: The layers, bottom up: (name, the modules and packages in it). ``cnilib`` alone is the root
#: package's ``__init__`` (the public surface), not a prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("leaves", ("cnilib._base",)),
    ("spec", ("cnilib._spec",)),
    ("models", ("cnilib._model",)),
    ("invoker, cache", ("cnilib._exec", "cnilib._cache")),
    ("engine", ("cnilib._engine",)),
    ("networks", ("cnilib._networks",)),
    ("public surface", ("cnilib",)),
    ("fronts", ("cnilib.netns", "cnilib.sandbox", "cnilib.docker", "cnilib.conformance", "cnilib.doctor")),
    ("command line", ("cnilib._cli", "cnilib.__main__")),
    ("testing", ("cnilib.testing",)),
)

#: The functions that import a module by a name computed at run time, and where the names come from.
DISPATCHERS = {
    ("cnilib._base._lazy", "getattr_"): "the _LAZY tables given to lazy_getattr",
    ("cnilib._cli._main", "_handler"): "_COMMANDS",
    ("cnilib._cli._parser", "_module"): "its literal arguments",
    ("cnilib._base._digest", "_builtin"): "CPython's built-in SHA-2 modules, not cnilib's",
}

#: The callables whose first argument, a literal, names a module to import.
_IMPORT_CALLS = frozenset(("import_module", "_module", "__import__"))
#: The assignments whose dict values (or their first element) name modules to import.
_IMPORT_TABLES = frozenset(("_LAZY", "_COMMANDS"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _package(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package(module, is_package).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _string_target(text: str, package: str) -> str:
    """The module an importlib string names (relative ones against ``package``)."""
    if text.startswith(".") and not text.startswith(".."):
        return package + text
    return text


def _import_strings(tree: ast.AST) -> Iterable[str]:
    """The literal module names a module hands to importlib (see the module docstring)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = {t.id for t in targets if isinstance(t, ast.Name)}
            if named & _IMPORT_TABLES and isinstance(node.value, ast.Dict):
                for value in node.value.values:
                    first = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else value
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        yield first.value
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if name in _IMPORT_CALLS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value


def dynamic_imports(module: str, tree: ast.AST) -> list[str]:
    """``module.function`` of each call of ``import_module`` with a name that is not a literal
    (``function``: the innermost one around the call)."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "import_module"
                and not (child.args and isinstance(child.args[0], ast.Constant))
            ):
                found.append(f"{module}.{function}")
            visit(child, function)

    visit(tree, "<module>")
    return found


def edges_of(module: str, is_package: bool, source: str, modules: Iterable[str]) -> set[str]:
    """The cnilib modules that ``module`` (whose text is ``source``) imports, by statement or string."""
    known = set(modules)
    tree = ast.parse(source)
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in known else base)
    package = _package(module, is_package)
    targets += [_string_target(text, package) for text in _import_strings(tree)]
    return {t for t in targets if t in known and t != module}


def import_graph() -> dict[str, set[str]]:
    """Edges between cnilib modules, from every import statement and importlib string."""
    modules = _modules()
    return {
        name: edges_of(name, path.name == "__init__.py", path.read_text(), modules)
        for name, path in modules.items()
    }


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int | None:
    """The index in ``layers`` of the longest prefix naming ``module`` (None: in no layer)."""
    best: tuple[int, int] | None = None  # (length of the prefix, layer)
    for index, (_, members) in enumerate(layers):
        for prefix in members:
            hit = module == prefix or (prefix != "cnilib" and module.startswith(prefix + "."))
            if hit and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def upward_edges(graph: Mapping[str, set[str]], layer: Callable[[str], int | None]) -> list[str]:
    """Each edge into a higher layer, as ``a (layer) -> b (layer)``."""
    found = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            low, high = layer(source), layer(target)
            if low is not None and high is not None and high > low:
                found.append(f"{source} ({LAYERS[low][0]}) -> {target} ({LAYERS[high][0]})")
    return found


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
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


# -- the tree ----------------------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if layer_of(m) is None] == []


def test_no_import_points_up() -> None:
    assert upward_edges(import_graph(), layer_of) == []


def test_no_import_cycle_in_cnilib() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_importlib_is_called_with_computed_names_only_where_this_test_knows_them() -> None:
    found = set()
    for name, path in _modules().items():
        found.update(dynamic_imports(name, ast.parse(path.read_text())))
    assert found <= {f"{m}.{f}" for m, f in DISPATCHERS}, sorted(found)


def test_the_graph_sees_function_level_imports_and_importlib_strings() -> None:
    graph = import_graph()
    assert "cnilib._model._codec" in graph
    assert "cnilib.testing.strategies" in graph
    # _wrap_single imports the Go encoder inside a function: still an edge.
    assert "cnilib._base._gojson" in graph["cnilib._model._models"]
    # The public surface's lazy table, the packages' tables and the command line's handlers.
    assert {"cnilib._engine", "cnilib._networks"} <= graph["cnilib"]
    assert "cnilib._engine._front" in graph["cnilib._engine"]
    assert "cnilib._cache._entry" in graph["cnilib._cache"]
    assert {"cnilib._cli._cnitool", "cnilib._cli._try"} <= graph["cnilib._cli._main"]
    assert "cnilib._cli._doctor" in graph["cnilib._cli._parser"]


def test_the_leaves_and_the_spec_never_import_attrs_or_cattrs() -> None:
    # Both paths stand on them: the command line's fast path runs without attrs and cattrs.
    for name, path in _modules().items():
        if layer_of(name) in (0, 1):
            imported = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    imported.add(node.module.split(".")[0])
            assert not {"attrs", "cattrs"} & imported, name


def test_the_codec_is_a_leaf() -> None:
    # The codec knows JSON and cattrs, not the models: they describe themselves in field metadata
    # or in the element descriptions, which know only the checks and the versions.
    graph = import_graph()
    assert graph["cnilib._model._codec"] <= {
        "cnilib._base._errors",
        "cnilib._spec._validate",
        "cnilib._spec._jsontext",
        "cnilib._spec._scalars",
        "cnilib._spec._shapes",
    }
    assert graph["cnilib._spec._shapes"] <= {"cnilib._spec._scalars", "cnilib._spec._version"}
    assert graph["cnilib._spec._scalars"] <= {"cnilib._spec._jsontext"}
    assert graph["cnilib._spec._jsontext"] <= {"cnilib._base._errors", "cnilib._spec._validate"}


def test_the_docs_draw_the_same_layers() -> None:
    page = DOCS.read_text()
    for index, (name, members) in enumerate(LAYERS):
        line = f"{index}  {name:<15} {'  '.join(members)}"
        assert line in page, f"docs/architecture.md lacks the layer line:\n{line}"


# -- the checks fail when they must -----------------------------------------------------------------


def _fake_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """The graph of made-up modules (name -> source; a name ending in ``.__init__`` is a package)."""
    names = {n.removesuffix(".__init__"): n.endswith(".__init__") for n in sources}
    return {
        name: edges_of(name, is_package, sources[name + (".__init__" if is_package else "")], names)
        for name, is_package in names.items()
    }


def test_an_upward_import_fails_naming_the_edge() -> None:
    graph = _fake_graph(
        {
            "cnilib._base._errors": "def f():\n    from .._engine import _plans\n",  # function-level
            "cnilib._spec._wire": (
                "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from cnilib._model import _models\n"
            ),
            "cnilib._exec._proc": "import importlib\nimportlib.import_module('cnilib._networks._core')\n",
            "cnilib._engine._plans": "from .._base._errors import CNIError\n",  # down: fine
            "cnilib._model._models": "",
            "cnilib._networks._core": "",
        }
    )
    assert upward_edges(graph, layer_of) == [
        "cnilib._base._errors (leaves) -> cnilib._engine._plans (engine)",
        "cnilib._exec._proc (invoker, cache) -> cnilib._networks._core (networks)",
        "cnilib._spec._wire (spec) -> cnilib._model._models (models)",
    ]


def test_a_cycle_through_an_importlib_string_fails_naming_it() -> None:
    graph = _fake_graph(
        {
            "cnilib._cli._main": "_COMMANDS = {'try': ('._try', 'cmd_try')}\n",
            "cnilib._cli._try": "def cmd_try():\n    from ._settings import x\n",
            "cnilib._cli._settings": "def t():\n    from ._main import y\n",
        }
    )
    assert upward_edges(graph, layer_of) == []  # one layer: only the cycle rule sees it
    assert find_cycle(graph) == [
        "cnilib._cli._main",
        "cnilib._cli._try",
        "cnilib._cli._settings",
        "cnilib._cli._main",
    ]


def test_a_lazy_table_is_an_edge_and_its_cycle_is_found() -> None:
    graph = _fake_graph(
        {
            "cnilib._exec.__init__": (
                "_LAZY = {'Executor': '._options'}\n__getattr__ = lazy_getattr(globals(), _LAZY)\n"
            ),
            "cnilib._exec._options": "from cnilib._exec import DEFAULTS\n",
        }
    )
    assert graph["cnilib._exec"] == {"cnilib._exec._options"}
    assert find_cycle(graph) == ["cnilib._exec", "cnilib._exec._options", "cnilib._exec"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_a_computed_import_outside_the_dispatchers_is_found() -> None:
    tree = ast.parse("import importlib\ndef load(name):\n    return importlib.import_module(name)\n")
    assert dynamic_imports("cnilib._spec._x", tree) == ["cnilib._spec._x.load"]
    tree = ast.parse("import importlib\ndef load():\n    return importlib.import_module('json')\n")
    assert dynamic_imports("cnilib._spec._x", tree) == []
