"""SHA-2 digests without loading OpenSSL: ``hashlib`` imports ``_hashlib`` (about 4 ms at every
start of the command line), while CPython's own SHA-2 module is built in and loads at once."""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["sha256_hex", "sha512_digest"]


def _builtin() -> Any:
    # CPython 3.12+ has one _sha2 module; 3.10/3.11 have _sha256 and _sha512 (asking for the
    # other one first would cost a failed search of sys.path at every start).
    name = "_sha2" if sys.version_info >= (3, 12) else "_sha256"
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - a Python without the built-in module
        return None


_SHA2 = _builtin()


def sha256_hex(data: bytes) -> str:
    """``hashlib.sha256(data).hexdigest()``."""
    if _SHA2 is not None:
        return str(_SHA2.sha256(data).hexdigest())
    import hashlib  # pragma: no cover - a Python without the built-in module

    return hashlib.sha256(data).hexdigest()  # pragma: no cover


def sha512_digest(data: bytes) -> bytes:
    """``hashlib.sha512(data).digest()``."""
    sha512 = getattr(_SHA2, "sha512", None) if _SHA2 is not None else None
    if sha512 is None:
        try:
            sha512 = importlib.import_module("_sha512").sha512
        except ImportError:  # pragma: no cover - a Python without the built-in module
            import hashlib

            return hashlib.sha512(data).digest()
    return bytes(sha512(data).digest())
