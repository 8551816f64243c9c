"""cnilib: run CNI plugins from the runtime side, typed end to end.

Start with :func:`load_network` (or :meth:`NetworkConfigList.from_file`), a :class:`RuntimeConfig`,
and :class:`CNI` / :class:`AsyncCNI`. Every error is a :class:`CNIError`.

Only the version string loads with the package; every other name (errors, models, results, the
engine, executors, cache, config loader) loads on first use (PEP 562), so a command-line start pays
only for what it uses: ``cnilib --version`` loads neither :mod:`typing` nor :mod:`enum`.
"""

from __future__ import annotations

from ._defaults import __version__
from ._lazy import lazy_getattr as _lazy_getattr

# typing is not imported for this alone: it is a measurable part of a bare ``cnilib --version``.
# (Annotated, so the public-name tables do not count it as an export; mypy still knows it.)
TYPE_CHECKING: bool = False
if TYPE_CHECKING:
    from ._attachment import (
        AttachedAddress,
        AttachedInterface,
        AttachedRoute,
        Attachment,
        NetworkAttachment,
    )
    from ._cache import CacheEntry, ResultCache
    from ._capabilities import Bandwidth, Capabilities, DNSCapability, IPRange, PortMapping
    from ._config import (
        ConfigDirectoryError,
        DuplicateNetworkWarning,
        NetworkNotFoundError,
        load_conf_file,
        load_network,
        load_networks,
    )
    from ._engine import (
        CNI,
        AsyncCNI,
        FieldFinding,
        PlannedCall,
        PluginReport,
        PluginRun,
        RetryPolicy,
        ValidationReport,
    )
    from ._errors import (
        AlreadyAttachedError,
        CacheError,
        CNIError,
        CNISecurityWarning,
        ConfigError,
        ErrorCode,
        ExecError,
        LockError,
        MultiError,
        NetnsPathError,
        PluginError,
        PluginNotFoundError,
        PluginTimeoutError,
        ResultError,
        UnsafePermissionsError,
        ValidationError,
        VersionError,
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
    from ._networks import (
        AsyncNetworks,
        ConfiguredNetwork,
        Networks,
        NetworksConfig,
        NetworksNotReadyError,
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
        validate_capability_args,
        validate_cni_args,
        validate_container_id,
        validate_ifname,
        validate_network_name,
    )
    from ._version import LATEST_VERSION, SUPPORTED_VERSIONS, VERB_MIN_VERSION, Verb


# Public names that live in modules loaded on first access.
_LAZY: dict[str, str] = {
    "AlreadyAttachedError": "._errors",
    "CacheError": "._errors",
    "CNIError": "._errors",
    "CNISecurityWarning": "._errors",
    "ConfigError": "._errors",
    "ErrorCode": "._errors",
    "ExecError": "._errors",
    "LockError": "._errors",
    "MultiError": "._errors",
    "NetnsPathError": "._errors",
    "PluginError": "._errors",
    "PluginNotFoundError": "._errors",
    "PluginTimeoutError": "._errors",
    "ResultError": "._errors",
    "UnsafePermissionsError": "._errors",
    "ValidationError": "._errors",
    "VersionError": "._errors",
    "validate_capability_args": "._validate",
    "validate_cni_args": "._validate",
    "validate_container_id": "._validate",
    "validate_ifname": "._validate",
    "validate_network_name": "._validate",
    "LATEST_VERSION": "._version",
    "SUPPORTED_VERSIONS": "._version",
    "VERB_MIN_VERSION": "._version",
    "Verb": "._version",
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
    "DuplicateNetworkWarning": "._config",
    "NetworkNotFoundError": "._config",
    "load_conf_file": "._config",
    "load_network": "._config",
    "load_networks": "._config",
    "CNI": "._engine",
    "AsyncCNI": "._engine",
    "FieldFinding": "._engine",
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
    "Networks": "._networks",
    "AsyncNetworks": "._networks",
    "ConfiguredNetwork": "._networks",
    "NetworksConfig": "._networks",
    "NetworksNotReadyError": "._networks",
    "Capabilities": "._capabilities",
    "PortMapping": "._capabilities",
    "Bandwidth": "._capabilities",
    "IPRange": "._capabilities",
    "DNSCapability": "._capabilities",
    "Attachment": "._attachment",
    "AttachedInterface": "._attachment",
    "AttachedAddress": "._attachment",
    "AttachedRoute": "._attachment",
    "NetworkAttachment": "._attachment",
}


__getattr__ = _lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CNI",
    "DNS",
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "VERB_MIN_VERSION",
    "AlreadyAttachedError",
    "AsyncCNI",
    "AsyncExecutor",
    "AsyncNetworks",
    "AsyncSubprocessExecutor",
    "AttachedAddress",
    "AttachedInterface",
    "AttachedRoute",
    "Attachment",
    "Bandwidth",
    "CNIError",
    "CNISecurityWarning",
    "CacheEntry",
    "CacheError",
    "Capabilities",
    "ConfigDirectoryError",
    "ConfigError",
    "ConfiguredNetwork",
    "DNSCapability",
    "DuplicateNetworkWarning",
    "ErrorCode",
    "ErrorInfo",
    "ExecError",
    "ExecOutcome",
    "ExecRequest",
    "Executor",
    "FieldFinding",
    "GCAttachment",
    "IPConfig",
    "IPConfig020",
    "IPRange",
    "Interface",
    "LockError",
    "MultiError",
    "NetnsPathError",
    "NetworkAttachment",
    "NetworkConfigList",
    "NetworkNotFoundError",
    "Networks",
    "NetworksConfig",
    "NetworksNotReadyError",
    "PlannedCall",
    "PluginConfig",
    "PluginError",
    "PluginNotFoundError",
    "PluginReport",
    "PluginRun",
    "PluginTimeoutError",
    "PortMapping",
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
    "UnsafePermissionsError",
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
    "validate_capability_args",
    "validate_cni_args",
    "validate_container_id",
    "validate_ifname",
    "validate_network_name",
]
