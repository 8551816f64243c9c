"""Fake CNI plugins written as real executables, for tests that exercise the real executors.

Every helper writes a small ``#!/bin/sh`` script into a directory (usually pytest's ``tmp_path``)
and returns its path; put that directory on the search path of an ``ExecRequest``. Shell scripts
start in about a millisecond, so a test suite can run hundreds of them::

    from cnilib.testing.plugins import recording_plugin

    rec = recording_plugin(tmp_path / "bin", "fake", stdout={"ADD": result_json})
    ...  # run cnilib against tmp_path / "bin"
    [call] = rec.records()
    assert call.env["CNI_COMMAND"] == "ADD" and call.config["name"] == "net"

Scripted output is embedded with ``printf`` octal escapes, so any bytes (NUL included) can be
printed. The fault plugins (hangs, signals, garbage, floods, lingering children) are what the
executor tests use to prove that timeouts, output caps and process-group kills work.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from cnilib.testing import _plugin_shell
from cnilib.testing._plugin_shell import _NAME_RE, _SH_JSON, _emit, _printf, _quote, _stdout_json, _unlink

__all__ = [
    "CNI_VARS",
    "PluginRecord",
    "RecordingPlugin",
    "crashing_plugin",
    "env_dump_plugin",
    "exiting_plugin",
    "flooding_plugin",
    "hanging_plugin",
    "is_running",
    "lingering_plugin",
    "parse_env_dump",
    "read_pids",
    "recording_plugin",
    "stdin_saving_plugin",
    "wait_gone",
    "write_plugin",
]

#: The six variables libcni always sets.
CNI_VARS: tuple[str, ...] = (
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
)

#: Text or bytes to print; a mapping picks by verb (``CNI_COMMAND``), ``"*"`` being the fallback.
Output: TypeAlias = _plugin_shell.Output
#: An exit status; a mapping picks by verb, ``"*"`` being the fallback (0 when absent).
Status: TypeAlias = _plugin_shell.Status

#: A directory or file argument.
PathLike: TypeAlias = "str | os.PathLike[str]"


def write_plugin(directory: PathLike, name: str, body: str, *, shebang: str = "#!/bin/sh") -> Path:
    """Write an executable ``directory/name`` holding ``shebang`` and ``body``; return its path.

    The file is written under a temporary name and renamed into place, so a plugin being rewritten
    is never seen half-written and no write descriptor of it is open when it runs ("text file
    busy").
    """
    dirpath = Path(directory)
    dirpath.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dirpath, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{shebang}\n{body}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, dirpath / name)
    except BaseException:
        _unlink(tmp)
        raise
    return dirpath / name


def exiting_plugin(
    directory: PathLike,
    name: str,
    *,
    stdout: Output | None = None,
    stderr: Output | None = None,
    exit_status: Status = 0,
) -> Path:
    """A plugin that prints ``stdout``/``stderr`` (per verb if mappings), exits ``exit_status``.

    Use it for garbage output (``stdout=b"\\xffnot json"``), an error object with exit status 1,
    empty output with only stderr, and so on. It does not read stdin.
    """
    return write_plugin(directory, name, _emit(stdout, stderr, exit_status))


@attrs.frozen
class PluginRecord:
    """One recorded invocation: the recorded variables (unset ones absent) and the stdin bytes."""

    env: Mapping[str, str]
    stdin: bytes
    argv0: str = ""

    @property
    def verb(self) -> str:
        """``CNI_COMMAND`` of this call."""
        return self.env.get("CNI_COMMAND", "")

    @property
    def config(self) -> Any:
        """The stdin decoded as JSON (``None`` for empty stdin)."""
        return json.loads(self.stdin) if self.stdin.strip() else None


@attrs.frozen
class RecordingPlugin:
    """A recording plugin: its executable and the JSON-lines log it appends to."""

    path: Path
    log: Path

    @property
    def name(self) -> str:
        """The plugin type (file name)."""
        return self.path.name

    def records(self) -> list[PluginRecord]:
        """Every invocation so far, oldest first."""
        try:
            text = self.log.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            stdin = obj["stdin"]
            out.append(
                PluginRecord(
                    env=obj["env"],
                    # stdin is embedded as the JSON it is; re-encode compactly for byte comparisons.
                    stdin=b"" if stdin is None else json.dumps(stdin, separators=(",", ":")).encode(),
                    argv0=obj.get("argv0", ""),
                )
            )
        return out

    def clear(self) -> None:
        """Forget the records so far."""
        _unlink(os.fspath(self.log))


def recording_plugin(
    directory: PathLike,
    name: str = "recorder",
    *,
    log: PathLike | None = None,
    stdout: Output | Mapping[str, Any] | None = None,
    stderr: Output | None = None,
    exit_status: Status = 0,
    record_vars: Iterable[str] = (),
) -> RecordingPlugin:
    """A plugin that appends ``{"argv0", "env", "stdin"}`` as one JSON line to ``log`` per call.

    ``env`` holds the six ``CNI_*`` variables that are set (an unset one is absent, an empty one is
    ``""``) plus any of ``record_vars``. ``stdin`` must be JSON (cnilib always sends JSON): it is
    embedded as is, newlines turned into spaces. Then the plugin prints ``stdout`` and ``stderr``
    and exits with ``exit_status`` (mappings choose per verb; ``stdout`` may hold result objects,
    dumped as JSON).
    """
    log_path = Path(log) if log is not None else Path(directory) / f"{name}.log"
    names = list(dict.fromkeys((*CNI_VARS, *record_vars)))
    for var in names:
        if not _NAME_RE.fullmatch(var):
            raise ValueError(f"invalid variable name {var!r}")
    body = [_SH_JSON, "_in=$(cat)", "nl='\n'"]
    # JSON holds raw newlines only between tokens, so spaces there keep it valid and one line long.
    body.append(
        'while :; do case $_in in *"$nl"*) _in="${_in%%"$nl"*} ${_in#*"$nl"}";; *) break;; esac; done'
    )
    body.append('[ -n "$_in" ] || _in=null')
    body.append('_j "$0"; _line="{\\"argv0\\":$_J,\\"env\\":{"; _sep=')
    body.extend(
        f'if [ -n "${{{var}+x}}" ]; then _j "${var}"; _line="$_line$_sep\\"{var}\\":$_J"; _sep=,; fi'
        for var in names
    )
    body.append('_line="$_line},\\"stdin\\":$_in}"')
    body.append(f"printf '%s\\n' \"$_line\" >> {_quote(log_path)}")
    script = "\n".join(body) + "\n" + _emit(_stdout_json(stdout), stderr, exit_status)
    return RecordingPlugin(path=write_plugin(directory, name, script), log=log_path)


def env_dump_plugin(directory: PathLike, name: str = "envdump", *, exit_status: int = 0) -> Path:
    """A plugin that prints its whole environment NUL-separated (``env -0``) on stdout.

    The ``PWD`` that the shell itself exports is dropped, so the output is exactly what the plugin
    was given (apart from ``PWD``). Decode it with :func:`parse_env_dump`.
    """
    return write_plugin(directory, name, f"unset PWD\nenv -0\nexit {int(exit_status)}\n")


def parse_env_dump(stdout: bytes) -> dict[str, str]:
    """The environment printed by an :func:`env_dump_plugin`."""
    pairs = (entry.split(b"=", 1) for entry in stdout.split(b"\0") if entry)
    return {os.fsdecode(k): os.fsdecode(v) for k, v in pairs}


def stdin_saving_plugin(directory: PathLike, name: str, save_to: PathLike) -> Path:
    """A plugin that copies its whole stdin to ``save_to`` and exits 0 printing nothing."""
    return write_plugin(directory, name, f"cat > {_quote(save_to)}\n")


def hanging_plugin(
    directory: PathLike,
    name: str,
    pid_dir: PathLike,
    *,
    child: bool = True,
    ignore_term: bool = False,
    stdout: str | bytes = "",
) -> Path:
    """A plugin that never finishes: writes its pid to ``pid_dir/pid`` and, with ``child``, starts
    a ``sleep`` in its process group that holds stdout open, its pid in ``pid_dir/child.pid``.

    ``ignore_term`` ignores SIGTERM in the plugin and its child (only SIGKILL ends them).
    """
    pdir = _quote(Path(pid_dir))
    lines = [f"mkdir -p {pdir}"]
    if ignore_term:
        lines.append("trap '' TERM")
    if stdout:
        lines.append(_printf(stdout))
    if child:
        lines += [
            "sleep 1000 &",
            f"echo $! > {pdir}/child.pid.tmp && mv {pdir}/child.pid.tmp {pdir}/child.pid",
        ]
    lines += [f"echo $$ > {pdir}/pid.tmp && mv {pdir}/pid.tmp {pdir}/pid"]
    # A loop, not `wait`: with SIGTERM ignored, each SIGTERM must not end the wait early.
    lines.append("while :; do sleep 1; done")
    return write_plugin(directory, name, "\n".join(lines) + "\n")


def lingering_plugin(
    directory: PathLike,
    name: str,
    pid_dir: PathLike,
    *,
    stdout: Output | Mapping[str, Any] | None = None,
    exit_status: int = 0,
) -> Path:
    """A plugin that leaves a ``sleep`` child behind holding stdout and stderr, then exits at once.

    The child's pid goes to ``pid_dir/child.pid``, the plugin's to ``pid_dir/pid``.
    """
    pdir = _quote(Path(pid_dir))
    lines = [
        f"mkdir -p {pdir}",
        f"echo $$ > {pdir}/pid",
        "sleep 1000 &",
        f"echo $! > {pdir}/child.pid",
    ]
    return write_plugin(
        directory, name, "\n".join(lines) + "\n" + _emit(_stdout_json(stdout), None, exit_status)
    )


def crashing_plugin(
    directory: PathLike,
    name: str,
    sig: int = signal.SIGSEGV,
    *,
    stdout: str | bytes = "",
    stderr: str | bytes = "",
) -> Path:
    """A plugin that prints ``stdout``/``stderr`` and then dies by signal ``sig`` (no core file)."""
    signame = signal.Signals(sig).name.removeprefix("SIG")
    lines = ["ulimit -c 0"]
    if stdout:
        lines.append(_printf(stdout))
    if stderr:
        lines.append(_printf(stderr) + " >&2")
    lines += [f"kill -{signame} $$", "sleep 5", "exit 99"]
    return write_plugin(directory, name, "\n".join(lines) + "\n")


def flooding_plugin(
    directory: PathLike, name: str, size: int, *, stderr_size: int = 0, exit_status: int = 0
) -> Path:
    """A plugin that prints ``size`` bytes (``x``) on stdout (and ``stderr_size`` on stderr)."""
    lines = []
    if stderr_size:
        lines.append(f"head -c {int(stderr_size)} /dev/zero | tr '\\0' e >&2 &")
    lines.append(f"head -c {int(size)} /dev/zero | tr '\\0' x")
    lines += ["wait", f"exit {int(exit_status)}"]
    return write_plugin(directory, name, "\n".join(lines) + "\n")


def read_pids(pid_dir: PathLike, *, timeout: float = 5.0) -> list[int]:
    """The pids written by a :func:`hanging_plugin` or :func:`lingering_plugin` (plugin first, then
    its child when there is one), waiting up to ``timeout`` for the plugin's own pid file."""
    pdir = Path(pid_dir)
    end = time.monotonic() + timeout
    while not (pdir / "pid").exists():
        if time.monotonic() > end:
            raise TimeoutError(f"no pid file in {pdir}")
        time.sleep(0.005)
    pids = [int((pdir / "pid").read_text())]
    if (pdir / "child.pid").exists():
        pids.append(int((pdir / "child.pid").read_text()))
    return pids


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (an exited process nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the parenthesised command name, which may itself hold ") ".
    state = stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3]
    return state not in (b"Z", b"X")


def wait_gone(pids: Iterable[int], *, timeout: float = 2.0) -> list[int]:
    """Wait up to ``timeout`` for every pid to be gone; return those still running (empty: none).

    SIGKILL is delivered asynchronously, so a just-killed process may take a moment to disappear.
    """
    remaining = list(pids)
    end = time.monotonic() + timeout
    while True:
        remaining = [pid for pid in remaining if is_running(pid)]
        if not remaining or time.monotonic() > end:
            return remaining
        time.sleep(0.01)
