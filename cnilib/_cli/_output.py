"""What the commands print: JSON for people and machines, tables, ``--debug``'s blocks."""

from __future__ import annotations

import json
import sys

import cnilib

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def _human_json(value: Any) -> str:
    """Indented JSON for people (``<`` stays ``<``)."""
    return cnilib.go_dumps(value, indent="    ", escape_html=False)


def _write(text: str) -> None:
    out = sys.stdout.buffer
    view = memoryview(text.encode("utf-8", "surrogateescape"))
    # With PYTHONUNBUFFERED (python -u) this is the raw file, whose write() may be partial.
    while view:
        written = out.write(view)
        view = view[written or 0 :]
    out.flush()


def _print_json(value: Any) -> None:
    _write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _indented(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _one_line(text: str) -> str:
    parts = [p.strip() for p in text.splitlines()]
    return "; ".join(p for p in parts if p)


def _bytes_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _how_it_ended(run: cnilib.PluginRun) -> str:
    o = run.outcome
    if o is None:
        return "not run" if run.error is not None else "no outcome"
    if o.timed_out:
        # The engine's error names the operation's limit, which the outcome does not know.
        limit = getattr(run.error, "limit", o.timeout or 0.0)
        if getattr(run.error, "started", True) is False:
            return f"not started: the time limit of {limit:g}s had run out"
        return f"timed out after {limit:g}s"
    if o.start_error:
        return f"could not start: {o.start_error}"
    if o.signal is not None:
        return f"killed by signal {o.signal}"
    return f"exit status {o.exit_status}"


def _debug_title(run: cnilib.PluginRun) -> str:
    who = run.plugin if run.verb.value == "VERSION" else f"plugins[{run.index}] {run.plugin}"
    if run.network:
        who += f" (network {run.network})"
    if run.attempt > 1:
        who += f" attempt {run.attempt}"
    return f"cnilib: --- {run.verb.value} {who}: {_how_it_ended(run)}, {run.duration * 1000:.1f} ms"


def _stdin_text(stdin: bytes) -> str:
    try:
        return _human_json(json.loads(stdin))
    except ValueError:
        return _bytes_text(stdin)


def _outcome_lines(outcome: cnilib.ExecOutcome) -> list[str]:
    lines = []
    for label, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        text = _indented(_bytes_text(data)) if data.strip() else "    (empty)"
        lines += [f"  {label}:", text]
    return lines


def _debug_hook(run: cnilib.PluginRun) -> None:
    """``--debug``: one block per plugin run on stderr (env, stdin, stdout, stderr, time)."""
    o = run.outcome
    lines = [_debug_title(run)]
    if o is not None and o.plugin_path:
        lines.append(f"  path: {o.plugin_path}")
    lines.append("  env:")
    lines.extend(f"    {k}={v}" for k, v in run.request.env.items())
    lines += ["  stdin:", _indented(_stdin_text(run.request.stdin))]
    if o is not None:
        lines += _outcome_lines(o)
    if run.error is not None:
        lines.append(f"  error: {_one_line(str(run.error))}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
