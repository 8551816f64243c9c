"""Argument types shared by the parser (``_parser``, ``_try_options``) and the settings read from the
environment (``_settings``: ``CNI_TIMEOUT``), in a module of their own so that neither imports the
other (the parser names the handler modules, which import the settings)."""

from __future__ import annotations

import argparse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value
