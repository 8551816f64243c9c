"""cnilib: run CNI plugins from the runtime side, typed end to end.

Start with :func:`load_network` (or :meth:`NetworkConfigList.from_file`), a :class:`RuntimeConfig`,
and :class:`CNI` / :class:`AsyncCNI`. Every error is a :class:`CNIError`.

Only the errors, versions and validators load with the package; everything else (models, results, the
engine, executors, cache, config loader) loads on first use (PEP 562), so a command-line start pays
only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    CacheError,
    CNIError,
    ConfigError,
    ErrorCode,
    ExecError,
    LockError,
    MultiError,
    PluginError,
    PluginNotFoundError,
    PluginTimeoutError,
    ResultError,
    ValidationError,
    VersionError,
)
from ._validate import (
    validate_cni_args,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from ._version import LATEST_VERSION, SUPPORTED_VERSIONS, VERB_MIN_VERSION, Verb

if TYPE_CHECKING:
    from ._cache import CacheEntry, ResultCache
    from ._config import (
        ConfigDirectoryError,
        NetworkNotFoundError,
        load_conf_file,
        load_network,
        load_networks,
    )
    from ._engine import (
        CNI,
        AsyncCNI,
        PlannedCall,
        PluginReport,
        PluginRun,
        RetryPolicy,
        ValidationReport,
    )
    from ._exec import AsyncExecutor, AsyncSubprocessExecutor, Executor, SubprocessExecutor, find_plugin
    from ._gojson import go_dumps
    from ._models import (
        ErrorInfo,
        GCAttachment,
        NetworkConfigList,
        PluginConfig,
        RuntimeConfig,
        VersionInfo,
    )
    from ._protocol import ExecOutcome, ExecRequest
    from ._results import (
        DNS,
        Interface,
        IPConfig,
        IPConfig020,
        Result,
        Result020,
        Result040,
        Result100,
        Route,
        parse_result,
    )

__version__ = "0.1.0"

# Public names that live in modules loaded on first access.
_LAZY: dict[str, str] = {
    "ErrorInfo": "._models",
    "GCAttachment": "._models",
    "NetworkConfigList": "._models",
    "PluginConfig": "._models",
    "RuntimeConfig": "._models",
    "VersionInfo": "._models",
    "DNS": "._results",
    "Interface": "._results",
    "IPConfig": "._results",
    "IPConfig020": "._results",
    "Result": "._results",
    "Result020": "._results",
    "Result040": "._results",
    "Result100": "._results",
    "Route": "._results",
    "parse_result": "._results",
    "CacheEntry": "._cache",
    "ResultCache": "._cache",
    "ConfigDirectoryError": "._config",
    "NetworkNotFoundError": "._config",
    "load_conf_file": "._config",
    "load_network": "._config",
    "load_networks": "._config",
    "CNI": "._engine",
    "AsyncCNI": "._engine",
    "PlannedCall": "._engine",
    "PluginReport": "._engine",
    "PluginRun": "._engine",
    "RetryPolicy": "._engine",
    "ValidationReport": "._engine",
    "AsyncExecutor": "._exec",
    "AsyncSubprocessExecutor": "._exec",
    "Executor": "._exec",
    "SubprocessExecutor": "._exec",
    "find_plugin": "._exec",
    "ExecOutcome": "._protocol",
    "go_dumps": "._gojson",
    "ExecRequest": "._protocol",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnilib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CNI",
    "DNS",
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "VERB_MIN_VERSION",
    "AsyncCNI",
    "AsyncExecutor",
    "AsyncSubprocessExecutor",
    "CNIError",
    "CacheEntry",
    "CacheError",
    "ConfigDirectoryError",
    "ConfigError",
    "ErrorCode",
    "ErrorInfo",
    "ExecError",
    "ExecOutcome",
    "ExecRequest",
    "Executor",
    "GCAttachment",
    "IPConfig",
    "IPConfig020",
    "Interface",
    "LockError",
    "MultiError",
    "NetworkConfigList",
    "NetworkNotFoundError",
    "PlannedCall",
    "PluginConfig",
    "PluginError",
    "PluginNotFoundError",
    "PluginReport",
    "PluginRun",
    "PluginTimeoutError",
    "Result",
    "Result020",
    "Result040",
    "Result100",
    "ResultCache",
    "ResultError",
    "RetryPolicy",
    "Route",
    "RuntimeConfig",
    "SubprocessExecutor",
    "ValidationError",
    "ValidationReport",
    "Verb",
    "VersionError",
    "VersionInfo",
    "__version__",
    "find_plugin",
    "go_dumps",
    "load_conf_file",
    "load_network",
    "load_networks",
    "parse_result",
    "validate_cni_args",
    "validate_container_id",
    "validate_ifname",
    "validate_network_name",
]
