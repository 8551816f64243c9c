"""The exception tree of cnilib.

Every failure cnilib reports is a :class:`CNIError`, so callers can catch one type::

    CNIError
    ├── ConfigError            a configuration (or any CNI document) is malformed; carries a JSON path
    │   └── ResultError        a plugin result / cached result cannot be parsed or converted
    ├── ValidationError        a container id, network name, ifname, CNI_ARGS entry or path is unusable
    │   ├── UnsafePermissionsError  (strict mode) a plugin or config path is writable by others
    │   └── NetnsPathError     a netns path that is relative, or (ADD) missing or not a network namespace
    ├── VersionError           an unknown version, or a verb the version does not support
    ├── PluginNotFoundError    no executable named like the plugin type in any search directory
    ├── ExecError              the plugin ran but failed without a CNI error object (signal, garbage,
    │   │                      empty output) or could not be started
    │   └── PluginTimeoutError the plugin exceeded its deadline and was killed with its process group
    ├── PluginError            the plugin reported a CNI error object (code, msg, details)
    ├── CacheError             the on-disk result cache cannot be read or written
    ├── LockError              a per-container lock or the GC lock could not be taken in time
    ├── AlreadyAttachedError   ADD of an attachment the cache says exists (DEL it first)
    └── MultiError             several independent operations failed (e.g. multi-network attach)

:class:`ExecError` and :class:`PluginError` share :class:`ExecContext` attributes that name the plugin,
its path, the verb, the container, the exit status or signal and the captured stderr.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AlreadyAttachedError",
    "CNIError",
    "CNISecurityWarning",
    "CacheError",
    "ConfigError",
    "ErrorCode",
    "ExecContext",
    "ExecError",
    "LockError",
    "MultiError",
    "NetnsPathError",
    "PluginError",
    "PluginNotFoundError",
    "PluginTimeoutError",
    "ResultError",
    "UnsafePermissionsError",
    "ValidationError",
    "VersionError",
]


class ErrorCode(enum.IntEnum):
    """The error codes the CNI specification reserves (0-99); 100+ are plugin specific."""

    UNKNOWN = 0
    INCOMPATIBLE_CNI_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENVIRONMENT_VARIABLES = 4
    IO_FAILURE = 5
    DECODING_FAILURE = 6
    INVALID_NETWORK_CONFIG = 7
    TRY_AGAIN_LATER = 11
    PLUGIN_NOT_AVAILABLE = 50
    PLUGIN_NOT_AVAILABLE_LIMITED_CONNECTIVITY = 51


class CNIError(Exception):
    """Base class of every error raised by cnilib."""


class ConfigError(CNIError, ValueError):
    """A CNI document is malformed. ``path`` is the JSON path of the offending value (``$.plugins[1]``)."""

    def __init__(self, message: str, *, path: str | None = None, source: str | None = None) -> None:
        self.message = message
        self.path = path
        self.source = source
        text = message
        if path and path != "$":
            text = f"{text} @ {path}"
        if source:
            text = f"{source}: {text}"
        super().__init__(text)


class ResultError(ConfigError):
    """A plugin result (or a cached one) is malformed or cannot be converted to the wanted version."""


class ValidationError(CNIError, ValueError):
    """An identifier that would end up in a path or in the plugin environment is unusable."""


class VersionError(CNIError, ValueError):
    """An unknown CNI version, or a verb that the configuration's version does not support."""


class PluginNotFoundError(CNIError, FileNotFoundError):
    """No executable for a plugin type was found in any of the searched directories."""

    def __init__(self, plugin: str, dirs: Sequence[str]) -> None:
        self.plugin = plugin
        self.dirs = tuple(dirs)
        where = ", ".join(self.dirs) if self.dirs else "(no directories given: set CNI_PATH)"
        super().__init__(f"failed to find plugin {plugin!r} in path [{where}]")


# Control characters a plugin may print (ESC sequences, NUL, C1 controls) except newline and tab:
# shown escaped, so that an error message cannot drive the terminal it is printed on. A translate
# table rather than a regex: compiling one would cost every ``import cnilib``.
_UNPRINTABLE = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def _printable(text: str) -> str:
    return text.translate(_UNPRINTABLE)


def _signal_name(signum: int) -> str:
    try:
        import signal  # only for a message: its import builds an enum of every signal

        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class ExecContext:
    """Attributes shared by errors that come from running one plugin process."""

    plugin: str
    plugin_path: str | None
    verb: str
    container_id: str | None
    exit_status: int | None
    signal: int | None
    stderr: bytes
    stdout: bytes
    duration: float | None

    def _set_context(
        self,
        *,
        plugin: str,
        verb: str,
        plugin_path: str | None = None,
        container_id: str | None = None,
        exit_status: int | None = None,
        signal: int | None = None,
        stderr: bytes = b"",
        stdout: bytes = b"",
        duration: float | None = None,
    ) -> None:
        self.plugin = plugin
        self.plugin_path = plugin_path
        self.verb = verb
        self.container_id = container_id
        self.exit_status = exit_status
        self.signal = signal
        self.stderr = stderr
        self.stdout = stdout
        self.duration = duration

    @property
    def stderr_text(self) -> str:
        """Captured stderr decoded leniently, stripped, control characters escaped (``\\x1b``)."""
        return _printable(self.stderr.decode("utf-8", "replace").strip())

    def _how(self) -> str:
        if self.signal is not None:
            return f"killed by {_signal_name(self.signal)}"
        if self.exit_status is not None:
            return f"exit status {self.exit_status}"
        return "did not run"

    def _where(self) -> str:
        who = f"plugin {self.plugin!r} ({self.verb}"
        if self.container_id:
            who += f", container {self.container_id}"
        return who + ")"

    def _tail(self) -> str:
        err = self.stderr_text
        if not err:
            return ""
        if len(err) > 2000:
            err = "..." + err[-2000:]
        return f"; stderr: {err}"


class ExecError(CNIError, ExecContext):
    """A plugin could not be run, died, or printed something that is not a CNI document."""

    def __init__(self, message: str, **context: Any) -> None:
        self._set_context(**context)
        self.message = message
        super().__init__(f"{self._where()} {message} [{self._how()}]{self._tail()}")


class PluginTimeoutError(ExecError, TimeoutError):
    """A plugin exceeded its deadline; it was terminated together with its whole process group.

    ``timeout`` is the time the plugin was given; ``limit`` the limit it ran into, which the message
    names: an operation's limit (``CNI(timeout=...)``, ``--timeout``) is shared by the plugins of a
    list, so a later plugin gets what the earlier ones left (``timeout`` may be less). ``started``
    is False for a plugin that was never started because no time was left.
    """

    def __init__(
        self, timeout: float, *, limit: float | None = None, started: bool = True, **context: Any
    ) -> None:
        self.timeout = timeout
        self._set_context(**context)
        self._name_limit(timeout if limit is None else limit, started=started)

    def _name_limit(self, limit: float, *, started: bool) -> None:
        # The engine knows the operation's limit only once the error exists: it rewords it in place,
        # so the report hook and the caller see one error with one message.
        self.limit = limit
        self.started = started
        if started:
            self.message = f"timed out after {limit:g}s and was killed with its process group"
        else:
            self.message = f"was not started: the time limit of {limit:g}s had run out"
        CNIError.__init__(self, f"{self._where()} {self.message}{self._tail()}")


class PluginError(CNIError, ExecContext):
    """A plugin reported a CNI error object: the spec's ``code``, ``msg`` and ``details``."""

    def __init__(
        self,
        code: int,
        msg: str,
        details: str = "",
        *,
        extra: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> None:
        self._set_context(**context)
        self.code = code
        self.msg = msg
        self.details = details
        self.extra: Mapping[str, Any] = dict(extra or {})
        text = f"{self._where()} failed with CNI error {self.code_name}: {_printable(msg)}"
        if details:
            text += f" ({_printable(details)})"
        super().__init__(f"{text} [{self._how()}]{self._tail()}")

    @property
    def code_name(self) -> str:
        """The code followed by its spec name when it is a reserved code (``11 TRY_AGAIN_LATER``)."""
        try:
            return f"{self.code} {ErrorCode(self.code).name}"
        except ValueError:
            return str(self.code)

    @property
    def temporary(self) -> bool:
        """True for code 11, which asks the runtime to try again later."""
        return self.code == ErrorCode.TRY_AGAIN_LATER


class CNISecurityWarning(UserWarning):
    """A plugin binary, or a directory on the plugin or configuration path, is writable by users other
    than its owner: whoever can write there can make the runtime run their code (sudo and ssh refuse
    such files). Pass ``strict_permissions=True`` to refuse instead (:class:`UnsafePermissionsError`)."""


class UnsafePermissionsError(ValidationError, PermissionError):
    """Strict mode refused a plugin binary or a plugin/configuration directory writable by others."""

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(message)


class CacheError(CNIError, OSError):
    """The on-disk result cache could not be read or written. ``errno`` is that of the OS error
    behind it, when there is one (``EACCES``/``EPERM``: this process may not use the cache
    directory; the fix is another directory, or more privilege), else None."""


class NetnsPathError(ValidationError):
    """A network namespace path that cannot be meant: ADD's that is empty, missing, or not a
    network namespace (an empty file that a reboot left where a bind-mounted namespace was, a
    directory, another kind of namespace), raised before anything is applied; or, for any verb and
    at the construction of a :class:`~cnilib.RuntimeConfig`, one that is not absolute (a name given
    for ``/run/netns/NAME``). ``path`` is the path, ``state`` what is there (``"missing"``, ``"not a
    network namespace"``, ``"relative"``; ``""`` for an empty path)."""

    def __init__(self, message: str, *, path: str, state: str) -> None:
        self.path = path
        self.state = state
        super().__init__(message)


class LockError(CNIError, TimeoutError):
    """A serialization lock (per container, or the GC lock of a network) was not obtained in time.

    ``holders`` lists ``(pid, command)`` of the processes seen holding it, when they could be found
    (open-file-description locks have no owner pid: they are looked up in ``/proc/*/fdinfo``)."""

    def __init__(self, message: str, *, holders: Sequence[tuple[int, str]] = ()) -> None:
        self.holders = tuple(holders)
        super().__init__(message)


class AlreadyAttachedError(CNIError):
    """ADD of a (network, container id, ifname) that is already attached: its cache entry exists.

    The spec forbids a second ADD without a DEL in between, and what the plugins would do is fail
    half way (bridge: "container veth name provided (eth0) already exists"), so the ADD is refused
    before anything is applied and the existing attachment is left as it is. ``path`` is the cache
    entry, ``netns`` the namespace it was attached in ("" when the entry does not say), ``gone``
    whether that namespace is known to be gone."""

    def __init__(
        self, *, network: str, container_id: str, ifname: str, path: str, netns: str, gone: bool
    ) -> None:
        self.network = network
        self.container_id = container_id
        self.ifname = ifname
        self.path = path
        self.netns = netns
        self.gone = gone
        where = f" in network namespace {netns}" if netns else ""
        text = (
            f"container {container_id} is already attached to network {network!r} as {ifname}{where} "
            f"(cache entry {path}): ADD refused before any plugin ran, nothing was applied"
        )
        if gone:
            text += (
                f"; the sandbox of that attachment is gone ({netns} is no network namespace now): "
                "a DEL or a GC of it clears it"
            )
        else:
            option = "" if ifname == "eth0" else f" --ifname {ifname}"
            command = f"cnilib del {network} {netns or 'NETNS'} --container-id {container_id}{option}"
            text += f"; DEL it first to attach it again ({command}, or CNI.delete)"
        super().__init__(text)


class MultiError(CNIError):
    """Several independent operations failed; ``errors`` maps a label to each failure."""

    def __init__(self, message: str, errors: Mapping[str, BaseException]) -> None:
        self.errors = dict(errors)
        lines = "; ".join(f"{key}: {err}" for key, err in self.errors.items())
        super().__init__(f"{message}: {lines}")
