"""Run ``cnilib`` the way a user meets its streaming output: on a pseudo-terminal (the live status
line), or in a pipe read line by line while it runs; as root or as uid 65534.

A plugin that waits for a file the test creates (:func:`gated_plugin`) holds a command in the middle
of its run, so a test can look at what was printed before the end without timing anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from sandbox_support import _SETPRIV, _env, nobody_python

from cnilib.testing.plugins import write_plugin

#: ESC (the live line's "erase line") and every other control character but newline.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
#: A step's or a check's duration, as the commands print it.
DURATION = re.compile(r"\(\d+\.\d\ds\)")
#: The counts line that ends ``try`` and ``conformance``.
COUNTS = re.compile(r"^\d+ passed, \d+ failed, \d+ skipped$", re.MULTILINE)


def command(args: Sequence[str], who: str, home: Path) -> tuple[list[str], dict[str, str] | None]:
    """argv and environment of ``cnilib ARGS`` as ``who`` (``root`` or ``nobody``)."""
    if who == "nobody":
        return [*_SETPRIV, nobody_python(), "-m", "cnilib", *args], _env(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "CAP_ARGS", "NETCONFPATH"))}
    return [sys.executable, "-m", "cnilib", *args], env


def run_in_pty(args: Sequence[str], who: str, home: Path, *, timeout: float = 900) -> tuple[int, str]:
    """Run ``cnilib ARGS`` with stdout and stderr on a pseudo-terminal; its exit status and
    everything it wrote there (the terminal turns ``\\n`` into ``\\r\\n``: turned back here)."""
    argv, env = command(args, who, home)
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, cwd=str(home)
        )
    finally:
        os.close(slave)
    data = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"no output for {timeout}s: {data.decode(errors='replace')}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
        rc = proc.wait(timeout=timeout)
    return rc, data.decode(errors="replace").replace("\r\n", "\n")


@contextlib.contextmanager
def running(args: Sequence[str], who: str, home: Path) -> Iterator[subprocess.Popen[str]]:
    """``cnilib ARGS`` started with stdout on a pipe (stderr too), for a test to read as it runs."""
    argv, env = command(args, who, home)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(home),
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


#: How long :func:`read_until` waits for a line while a gated plugin holds the command (a guard
#: against hanging forever when nothing is streamed, not a measure of anything).
HANG_GUARD = 120.0


def read_until(proc: subprocess.Popen[str], pattern: str) -> str:
    """What ``proc`` has written on its stdout by the time a line containing ``pattern`` is complete
    (that line, what came before and whatever was read with it)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()  # read raw: the text wrapper's buffer stays empty for later reads
    seen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], HANG_GUARD)
        if not ready:
            raise AssertionError(f"{pattern!r} not printed while the plugin waited; got:\n{seen.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"{pattern!r} never printed; got:\n{seen.decode()}")
        seen += chunk
        text = seen.decode(errors="replace")
        if pattern in text and "\n" in text.partition(pattern)[2]:
            return text


def gated_plugin(directory: Path, name: str, gate: Path, *, wait_on: str, version: str = "1.0.0") -> Path:
    """A plugin that succeeds at once, except for the verb ``wait_on``, which first waits until
    ``gate`` exists. ADD prints an empty result of ``version``; VERSION claims ``version``."""
    body = f"""cat >/dev/null
if [ "$CNI_COMMAND" = {wait_on} ]; then
  while [ ! -e '{gate}' ]; do sleep 0.05; done
fi
case "$CNI_COMMAND" in
ADD) printf '{{"cniVersion":"{version}","interfaces":[],"ips":[],"dns":{{}}}}\\n' ;;
VERSION) printf '{{"cniVersion":"{version}","supportedVersions":["{version}"]}}\\n' ;;
esac
exit 0
"""
    return write_plugin(directory, name, body)


def conf_file(
    directory: Path, name: str, plugins: Sequence[Mapping[str, object]], version: str = "1.0.0"
) -> Path:
    """A ``.conflist`` file readable by uid 65534."""
    import json

    path = directory / f"{name}.conflist"
    path.write_text(json.dumps({"cniVersion": version, "name": name, "plugins": list(plugins)}))
    path.chmod(0o644)
    return path
