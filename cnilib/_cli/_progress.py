"""What a long command (``try``, ``conformance``) prints while it runs: a line per step as soon as
the step ends, and, on a terminal, a live status line for the step in progress.

The status line (``ADD try-1 ... 12.3s``) is redrawn in place with ``\\r`` by a ticker thread while
the main thread waits for a plugin, and erased before every line, so what stays on the screen is
what a pipe gets. In a pipe nothing is live: only the lines, each flushed when it is written. With
``--json`` stdout carries nothing but the final document: the status line then goes to stderr, and
only when stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress", "Timer"]

#: Erase the terminal line the cursor is on, and go back to its start.
_ERASE = "\r\x1b[K"


class Timer:
    """How long a step took: ``elapsed`` is set when its ``with`` block ends."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.elapsed = 0.0


class Progress:
    """Step lines to ``out`` (None: none, for ``--json``) and a live status line on ``live`` (a
    terminal, or None). Use it as a context manager: leaving it stops the ticker and erases the
    status line, also when the command is interrupted."""

    def __init__(self, out: TextIO | None, live: TextIO | None, *, interval: float = 0.1) -> None:
        self.out = out
        self.live = live
        self.interval = interval
        self._lock = threading.Lock()
        self._label: str | None = None
        self._since = 0.0
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @classmethod
    def for_command(cls, json_out: bool) -> Progress:
        """Lines on stdout (none with ``--json``); the status line where a terminal shows it."""
        if json_out:
            return cls(None, sys.stderr if _is_terminal(sys.stderr) else None)
        return cls(sys.stdout, sys.stdout if _is_terminal(sys.stdout) else None)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, label: str) -> None:
        """Show ``label`` as the step in progress (with the time since now) until the next line."""
        if self.live is None:
            return
        with self._lock:
            self._label, self._since = label, time.monotonic()
            self._draw()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="cnilib-progress", daemon=True)
            self._ticker.start()

    def relabel(self, label: str) -> None:
        """Show ``label`` for the step in progress, its time still counted from its ``begin``."""
        with self._lock:
            if self._label is not None:
                self._label = label
                self._draw()

    @contextmanager
    def step(self, label: str) -> Iterator[Timer]:
        """A step shown live as ``label`` while the ``with`` block runs; the timer says how long."""
        self.begin(label)
        timer = Timer()
        try:
            yield timer
        finally:
            timer.elapsed = time.monotonic() - timer.started

    def line(self, text: str) -> None:
        """Write one finished line (the status line is erased first and stays off until ``begin``)."""
        with self._lock:
            self._label = None
            self._erase()
            if self.out is not None:
                self.out.write(text + "\n")
                self.out.flush()

    def close(self) -> None:
        """Stop the ticker and erase the status line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            self._label = None
            self._erase()

    # -- the status line (called with the lock held) --

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if self.live is None or self._label is None:
            return
        text = f"{self._label} ... {time.monotonic() - self._since:.1f}s"
        # One character short of the width: a line that wraps could no longer be redrawn in place.
        self.live.write(_ERASE + text[: _columns(self.live) - 1])
        self.live.flush()
        self._shown = True

    def _erase(self) -> None:
        if self.live is not None and self._shown:
            self.live.write(_ERASE)
            self.live.flush()
            self._shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80
