"""cnilib: run CNI plugins from the runtime side, typed end to end.

Start with :func:`load_network` (or :meth:`NetworkConfigList.from_file`), a :class:`RuntimeConfig`, and
:class:`CNI` / :class:`AsyncCNI`. Every error is a :class:`CNIError`.
"""

from __future__ import annotations

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
from ._exec import AsyncSubprocessExecutor, SubprocessExecutor, find_plugin
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
from ._validate import (
    validate_cni_args,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from ._version import LATEST_VERSION, SUPPORTED_VERSIONS, VERB_MIN_VERSION, Verb

__version__ = "0.1.0"

__all__ = [
    "CNI",
    "AsyncCNI",
    "AsyncSubprocessExecutor",
    "CacheEntry",
    "ConfigDirectoryError",
    "ExecOutcome",
    "ExecRequest",
    "NetworkNotFoundError",
    "PlannedCall",
    "PluginReport",
    "PluginRun",
    "ResultCache",
    "RetryPolicy",
    "SubprocessExecutor",
    "ValidationReport",
    "find_plugin",
    "load_conf_file",
    "load_network",
    "load_networks",
    "DNS",
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "VERB_MIN_VERSION",
    "CNIError",
    "CacheError",
    "ConfigError",
    "ErrorCode",
    "ErrorInfo",
    "ExecError",
    "GCAttachment",
    "IPConfig",
    "IPConfig020",
    "Interface",
    "LockError",
    "MultiError",
    "NetworkConfigList",
    "PluginConfig",
    "PluginError",
    "PluginNotFoundError",
    "PluginTimeoutError",
    "Result",
    "Result020",
    "Result040",
    "Result100",
    "ResultError",
    "Route",
    "RuntimeConfig",
    "ValidationError",
    "Verb",
    "VersionError",
    "VersionInfo",
    "__version__",
    "parse_result",
    "validate_cni_args",
    "validate_container_id",
    "validate_ifname",
    "validate_network_name",
]
