"""cnilib: run CNI plugins from the runtime side, typed end to end.

Start with :func:`load_network` (or :meth:`NetworkConfigList.from_file`), a :class:`RuntimeConfig`,
and :class:`CNI` / :class:`AsyncCNI`. Every error is a :class:`CNIError`.

Only the version string loads with the package; every other name (errors, models, results, the
engine, executors, cache, config loader) loads on first use (PEP 562), so a command-line start pays
only for what it uses: ``cnilib --version`` loads neither :mod:`typing` nor :mod:`enum`.
"""

from __future__ import annotations

from ._base._defaults import __version__
from ._base._lazy import lazy_getattr as _lazy_getattr

# typing is not imported for this alone: it is a measurable part of a bare ``cnilib --version``.
# (Annotated, so the public-name tables do not count it as an export; mypy still knows it.)
TYPE_CHECKING: bool = False
if TYPE_CHECKING:
    from ._base._errors import (
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
    from ._base._gojson import go_dumps
    from ._cache import CacheEntry, ResultCache
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
    from ._exec import AsyncExecutor, AsyncSubprocessExecutor, Executor, SubprocessExecutor, find_plugin
    from ._exec._protocol import ExecOutcome, ExecRequest
    from ._model._capabilities import Bandwidth, Capabilities, DNSCapability, IPRange, PortMapping
    from ._model._config import (
        ConfigDirectoryError,
        DuplicateNetworkWarning,
        NetworkNotFoundError,
        load_conf_file,
        load_network,
        load_networks,
    )
    from ._model._models import (
        ErrorInfo,
        GCAttachment,
        NetworkConfigList,
        PluginConfig,
        RuntimeConfig,
        VersionInfo,
    )
    from ._model._results import (
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
    from ._networks import (
        AsyncNetworks,
        ConfiguredNetwork,
        Networks,
        NetworksConfig,
        NetworksNotReadyError,
    )
    from ._networks._attachment import (
        AttachedAddress,
        AttachedInterface,
        AttachedRoute,
        Attachment,
        NetworkAttachment,
    )
    from ._spec._validate import (
        validate_capability_args,
        validate_cni_args,
        validate_container_id,
        validate_ifname,
        validate_network_name,
    )
    from ._spec._version import LATEST_VERSION, SUPPORTED_VERSIONS, VERB_MIN_VERSION, Verb


# Public names that live in modules loaded on first access.
_LAZY: dict[str, str] = {
    "AlreadyAttachedError": "._base._errors",
    "CacheError": "._base._errors",
    "CNIError": "._base._errors",
    "CNISecurityWarning": "._base._errors",
    "ConfigError": "._base._errors",
    "ErrorCode": "._base._errors",
    "ExecError": "._base._errors",
    "LockError": "._base._errors",
    "MultiError": "._base._errors",
    "NetnsPathError": "._base._errors",
    "PluginError": "._base._errors",
    "PluginNotFoundError": "._base._errors",
    "PluginTimeoutError": "._base._errors",
    "ResultError": "._base._errors",
    "UnsafePermissionsError": "._base._errors",
    "ValidationError": "._base._errors",
    "VersionError": "._base._errors",
    "validate_capability_args": "._spec._validate",
    "validate_cni_args": "._spec._validate",
    "validate_container_id": "._spec._validate",
    "validate_ifname": "._spec._validate",
    "validate_network_name": "._spec._validate",
    "LATEST_VERSION": "._spec._version",
    "SUPPORTED_VERSIONS": "._spec._version",
    "VERB_MIN_VERSION": "._spec._version",
    "Verb": "._spec._version",
    "ErrorInfo": "._model._models",
    "GCAttachment": "._model._models",
    "NetworkConfigList": "._model._models",
    "PluginConfig": "._model._models",
    "RuntimeConfig": "._model._models",
    "VersionInfo": "._model._models",
    "DNS": "._model._results",
    "Interface": "._model._results",
    "IPConfig": "._model._results",
    "IPConfig020": "._model._results",
    "Result": "._model._results",
    "Result020": "._model._results",
    "Result040": "._model._results",
    "Result100": "._model._results",
    "Route": "._model._results",
    "parse_result": "._model._results",
    "CacheEntry": "._cache",
    "ResultCache": "._cache",
    "ConfigDirectoryError": "._model._config",
    "DuplicateNetworkWarning": "._model._config",
    "NetworkNotFoundError": "._model._config",
    "load_conf_file": "._model._config",
    "load_network": "._model._config",
    "load_networks": "._model._config",
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
    "ExecOutcome": "._exec._protocol",
    "go_dumps": "._base._gojson",
    "ExecRequest": "._exec._protocol",
    "Networks": "._networks",
    "AsyncNetworks": "._networks",
    "ConfiguredNetwork": "._networks",
    "NetworksConfig": "._networks",
    "NetworksNotReadyError": "._networks",
    "Capabilities": "._model._capabilities",
    "PortMapping": "._model._capabilities",
    "Bandwidth": "._model._capabilities",
    "IPRange": "._model._capabilities",
    "DNSCapability": "._model._capabilities",
    "Attachment": "._networks._attachment",
    "AttachedInterface": "._networks._attachment",
    "AttachedAddress": "._networks._attachment",
    "AttachedRoute": "._networks._attachment",
    "NetworkAttachment": "._networks._attachment",
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
