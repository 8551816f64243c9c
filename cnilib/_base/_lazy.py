"""Names a package loads on first access (PEP 562): how ``cnilib`` and its subpackages keep a start
from importing what it does not use."""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(namespace: dict[str, Any], names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the package whose globals are ``namespace``: ``name`` is
    imported from ``names[name]`` (a module relative to the package) on first access and kept."""
    package = namespace["__name__"]

    def getattr_(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib  # (not at a bare start: --version loads the package and nothing else)

        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return getattr_
