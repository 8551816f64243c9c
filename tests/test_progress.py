"""The printer of ``cnilib try`` and ``cnilib conformance`` (``cnilib._cli._progress``), on streams
that stand in for a terminal and a pipe. The commands themselves are run on a real pseudo-terminal
and in a pipe by ``test_try_stream.py``."""

from __future__ import annotations

import io
import re

from cnilib._cli._progress import Progress


def test_status_line_is_drawn_cut_to_the_width_and_erased_before_each_line() -> None:
    out = io.StringIO()
    live = out  # a terminal: both on one stream
    with Progress(out, live, interval=3600) as progress:  # (no redraw by the ticker in this test)
        progress.begin("ADD " + "x" * 200)
        progress.line("ADD   try-1: ok (0.01s)")
        progress.begin("DEL try-1")
    erase = "\r\x1b[K"
    parts = out.getvalue().split(erase)
    # 80 columns when the width is unknown: one character short, so it never wraps.
    assert parts[1].startswith("ADD xxx")
    assert len(parts[1]) == 79
    assert parts[2] == "ADD   try-1: ok (0.01s)\n"
    assert re.fullmatch(r"DEL try-1 \.\.\. \d+\.\ds", parts[3])
    assert parts[4:] == [""]  # erased when the command ends


def test_pipe_gets_lines_only() -> None:
    out = io.StringIO()
    with Progress(out, None) as progress:
        progress.begin("ADD try-1")
        progress.line("ADD   try-1: ok (0.01s)")
    assert out.getvalue() == "ADD   try-1: ok (0.01s)\n"


def test_json_mode_prints_no_line() -> None:
    live = io.StringIO()
    with Progress(None, live, interval=3600) as progress:
        progress.begin("ADD try-1")
        progress.line("ADD   try-1: ok (0.01s)")
    assert re.fullmatch(r"\r\x1b\[KADD try-1 \.\.\. \d+\.\ds\r\x1b\[K", live.getvalue())
