"""Checks for identifiers that end up in cache file paths or in a plugin's environment."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._errors import ValidationError

__all__ = [
    "validate_cni_args",
    "validate_container_id",
    "validate_ifname",
    "validate_network_name",
]

# libcni's rule for container ids and network names: they become file names in the cache.
_ID_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")
_IFNAME_MAX = 15  # IFNAMSIZ - 1


def validate_container_id(container_id: str) -> None:
    """Reject an empty container id or one with characters outside ``[a-zA-Z0-9_.-]``."""
    if not isinstance(container_id, str) or not container_id:
        raise ValidationError("missing container id")
    if not _ID_RE.fullmatch(container_id):
        raise ValidationError(
            f"invalid container id {container_id!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
        )


def validate_network_name(name: str) -> None:
    """Reject an empty network name or one with characters outside ``[a-zA-Z0-9_.-]``."""
    if not isinstance(name, str) or not name:
        raise ValidationError("missing network name")
    if not _ID_RE.fullmatch(name):
        raise ValidationError(f"invalid network name {name!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def validate_ifname(ifname: str) -> None:
    """Reject interface names the kernel would refuse (libcni's rules)."""
    if not isinstance(ifname, str) or not ifname:
        raise ValidationError("missing interface name")
    try:
        # surrogateescape: a name taken from a non-UTF-8 environment keeps its original bytes.
        size = len(ifname.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ValidationError(f"interface name {ifname!r} is not valid text") from None
    if size > _IFNAME_MAX:
        raise ValidationError(f"interface name {ifname!r} is longer than {_IFNAME_MAX} bytes")
    if ifname in (".", ".."):
        raise ValidationError(f"interface name {ifname!r} is not allowed")
    for ch in ifname:
        if ch in "/:" or ch.isspace():
            raise ValidationError(f"interface name {ifname!r} contains invalid character {ch!r}")


def validate_cni_args(args: Iterable[tuple[str, str]]) -> None:
    """Reject CNI_ARGS pairs that would corrupt ``K=V;K2=V2`` (``;`` anywhere, ``=`` in a key, empties)."""
    for key, value in args:
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationError(f"CNI_ARGS entry {key!r}={value!r}: keys and values must be strings")
        if not key:
            raise ValidationError(f"CNI_ARGS entry with an empty key (value {value!r})")
        if "=" in key or ";" in key:
            raise ValidationError(f"CNI_ARGS key {key!r} must not contain '=' or ';'")
        if ";" in value or "=" in value:
            raise ValidationError(f"CNI_ARGS value {value!r} of {key!r} must not contain ';' or '='")
        if "\0" in key or "\0" in value:
            raise ValidationError(f"CNI_ARGS entry {key!r} contains a NUL byte")
