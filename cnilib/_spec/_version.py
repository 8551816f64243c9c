"""CNI spec versions, their ordering, and which verb needs which version (rules as data)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable

from .._base._errors import VersionError

__all__ = [
    "FALLBACK_VERSION",
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "VERB_MIN_VERSION",
    "Verb",
    "carries_ip_version",
    "check_verb_supported",
    "family",
    "highest_version",
    "normalize_version",
    "parse_version",
    "version_at_least",
]

#: Every spec version cnilib knows, oldest first.
SUPPORTED_VERSIONS: tuple[str, ...] = (
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
)
#: The newest spec version; sent with VERSION requests.
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
#: The version of a document that names none (an empty or missing ``cniVersion``), as libcni reads it.
FALLBACK_VERSION = SUPPORTED_VERSIONS[0]


class Verb(str, enum.Enum):
    """A CNI operation (the value of ``CNI_COMMAND``)."""

    ADD = "ADD"
    DEL = "DEL"
    CHECK = "CHECK"
    STATUS = "STATUS"
    GC = "GC"
    VERSION = "VERSION"

    def __str__(self) -> str:
        return self.value


#: The oldest configuration version each verb may run with. Read by :func:`check_verb_supported`.
VERB_MIN_VERSION: dict[Verb, str] = {
    Verb.ADD: "0.1.0",
    Verb.DEL: "0.1.0",
    Verb.VERSION: "0.1.0",
    Verb.CHECK: "0.4.0",
    Verb.STATUS: "1.1.0",
    Verb.GC: "1.1.0",
}


@functools.lru_cache(maxsize=64)
def parse_version(version: str) -> tuple[int, int, int]:
    """Parse ``"major.minor.patch"`` (an empty string means 0.1.0) into a comparable tuple."""
    if version == "":
        version = FALLBACK_VERSION
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() for p in parts):
        raise VersionError(f"invalid CNI version {version!r}: expected major.minor.patch")
    major, minor, patch = (int(p) for p in parts)
    return (major, minor, patch)


def normalize_version(version: str | None) -> str:
    """Return a known spec version; empty or missing means 0.1.0, anything unknown is an error."""
    if not version:
        return FALLBACK_VERSION
    if version in SUPPORTED_VERSIONS:
        return version
    parse_version(version)  # a malformed string gets the more precise message
    raise VersionError(f"unsupported CNI version {version!r} (known: {', '.join(SUPPORTED_VERSIONS)})")


def version_at_least(version: str, minimum: str) -> bool:
    """True if ``version`` >= ``minimum`` (both parsed as spec versions)."""
    return parse_version(version) >= parse_version(minimum)


def family(version: str) -> str:
    """The result family of a version: ``"0.2.0"``, ``"0.4.0"`` or ``"1.0.0"`` (its newest member's shape)."""
    v = parse_version(normalize_version(version))
    if v < (0, 3, 0):
        return "0.2.0"
    if v < (1, 0, 0):
        return "0.4.0"
    return "1.0.0"


def carries_ip_version(version: str) -> bool:
    """True for the versions whose ``ips`` entries carry ``version`` ("4"/"6"): 0.3.0 to 0.4.0."""
    return version in _CARRY_IP_VERSION


_CARRY_IP_VERSION = frozenset(v for v in SUPPORTED_VERSIONS if family(v) == "0.4.0")


def highest_version(candidates: Iterable[str]) -> str | None:
    """The highest of ``candidates`` that cnilib supports, or None (every entry must parse)."""
    best: str | None = None
    for cand in candidates:
        parse_version(cand)
        if cand in SUPPORTED_VERSIONS and (best is None or parse_version(cand) > parse_version(best)):
            best = cand
    return best


def check_verb_supported(verb: Verb, version: str) -> None:
    """Raise :class:`VersionError` when ``verb`` needs a newer configuration version than ``version``."""
    minimum = VERB_MIN_VERSION[verb]
    if not version_at_least(normalize_version(version), minimum):
        raise VersionError(
            f"configuration version {version!r} does not support {verb.value} (needs >= {minimum})"
        )
