"""Spec versions: parsing, ordering, normalization, the verb/version table and version selection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnilib
from cnilib import SUPPORTED_VERSIONS, VERB_MIN_VERSION, Verb, VersionError
from cnilib._spec._version import (
    LATEST_VERSION,
    check_verb_supported,
    family,
    highest_version,
    normalize_version,
    parse_version,
    version_at_least,
)
from cnilib.testing import strategies as cst

ALL = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


def test_the_seven_versions_in_order() -> None:
    assert SUPPORTED_VERSIONS == ALL
    assert LATEST_VERSION == "1.1.0"
    assert cnilib.LATEST_VERSION == "1.1.0"
    assert sorted(SUPPORTED_VERSIONS, key=parse_version) == list(SUPPORTED_VERSIONS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1.0", (0, 1, 0)),
        ("0.3.1", (0, 3, 1)),
        ("1.1.0", (1, 1, 0)),
        ("10.20.30", (10, 20, 30)),
        ("", (0, 1, 0)),  # an empty cniVersion means 0.1.0
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "1.0",
        "1.0.0.0",
        "v1.0.0",
        "1.0.x",
        "a.b.c",
        "1..0",
        " 1.0.0",
        "1.0.0 ",
        "-1.0.0",
        "1.0.-1",
        "\u0661.0.0",
        "1,0,0",
        "\uff11.0.0",
    ],
)
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(VersionError, match="invalid CNI version"):
        parse_version(text)


@given(st.tuples(*[st.integers(0, 1000)] * 3), st.tuples(*[st.integers(0, 1000)] * 3))
def test_ordering_is_numeric_not_lexicographic(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    va, vb = ".".join(map(str, a)), ".".join(map(str, b))
    assert parse_version(va) == a
    assert version_at_least(va, vb) == (a >= b)


def test_numeric_ordering_examples() -> None:
    assert version_at_least("0.10.0", "0.9.0")
    assert not version_at_least("0.3.0", "0.3.1")
    assert version_at_least("1.0.0", "0.4.0")
    assert version_at_least("", "0.1.0")
    assert not version_at_least("", "0.2.0")


@pytest.mark.parametrize(
    ("given_version", "expected"),
    [("", "0.1.0"), (None, "0.1.0"), *[(v, v) for v in ALL]],
)
def test_normalize_version(given_version: str | None, expected: str) -> None:
    assert normalize_version(given_version) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("9.9.9", "unsupported CNI version"),
        ("0.5.0", "unsupported CNI version"),
        ("1.2.0", "unsupported CNI version"),
        ("x", "invalid CNI version"),
        ("1.0", "invalid CNI version"),
    ],
)
def test_normalize_version_rejects(text: str, match: str) -> None:
    with pytest.raises(VersionError, match=match):
        normalize_version(text)


def test_version_error_is_a_cni_error() -> None:
    with pytest.raises(cnilib.CNIError):
        normalize_version("2.0.0")
    assert issubclass(VersionError, ValueError)


@pytest.mark.parametrize(
    ("version", "shape"),
    [
        ("", "0.2.0"),
        ("0.1.0", "0.2.0"),
        ("0.2.0", "0.2.0"),
        ("0.3.0", "0.4.0"),
        ("0.3.1", "0.4.0"),
        ("0.4.0", "0.4.0"),
        ("1.0.0", "1.0.0"),
        ("1.1.0", "1.0.0"),
    ],
)
def test_family(version: str, shape: str) -> None:
    assert family(version) == shape


def test_family_of_unknown_version() -> None:
    with pytest.raises(VersionError):
        family("1.2.0")


# -- the verb table -----------------------------------------------------------------------------


def test_verb_min_version_table() -> None:
    assert VERB_MIN_VERSION == {
        Verb.ADD: "0.1.0",
        Verb.DEL: "0.1.0",
        Verb.VERSION: "0.1.0",
        Verb.CHECK: "0.4.0",
        Verb.STATUS: "1.1.0",
        Verb.GC: "1.1.0",
    }
    assert set(VERB_MIN_VERSION) == set(Verb)


def test_verb_is_the_cni_command_string() -> None:
    assert [v.value for v in Verb] == ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"]
    assert str(Verb.CHECK) == "CHECK"
    assert f"{Verb.GC}" == "GC"
    assert Verb("DEL") is Verb.DEL
    assert Verb.ADD == "ADD"


SUPPORTED_PAIRS = {
    Verb.ADD: ALL,
    Verb.DEL: ALL,
    Verb.VERSION: ALL,
    Verb.CHECK: ("0.4.0", "1.0.0", "1.1.0"),
    Verb.STATUS: ("1.1.0",),
    Verb.GC: ("1.1.0",),
}


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("version", ALL)
def test_check_verb_supported(verb: Verb, version: str) -> None:
    if version in SUPPORTED_PAIRS[verb]:
        check_verb_supported(verb, version)
    else:
        with pytest.raises(VersionError, match=f"does not support {verb.value}") as info:
            check_verb_supported(verb, version)
        assert VERB_MIN_VERSION[verb] in str(info.value)


def test_check_verb_supported_empty_version_is_010() -> None:
    check_verb_supported(Verb.ADD, "")
    with pytest.raises(VersionError):
        check_verb_supported(Verb.CHECK, "")


@pytest.mark.parametrize("version", ["9.9.9", "0.5.0", "junk"])
def test_check_verb_supported_unknown_version(version: str) -> None:
    with pytest.raises(VersionError):
        check_verb_supported(Verb.ADD, version)


# -- highest_version ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], None),
        (["0.3.1"], "0.3.1"),
        (["0.3.1", "0.3.0", "1.0.0", "0.4.0"], "1.0.0"),
        (["1.1.0", "2.0.0"], "1.1.0"),  # newer than cnilib: skipped
        (["0.5.0", "0.4.0"], "0.4.0"),  # unknown in between: skipped
        (["2.0.0", "1.2.0"], None),
        (["0.10.0", "0.2.0"], "0.2.0"),
    ],
)
def test_highest_version(candidates: list[str], expected: str | None) -> None:
    assert highest_version(candidates) == expected
    assert highest_version(iter(candidates)) == expected


def test_highest_version_rejects_malformed_entries() -> None:
    with pytest.raises(VersionError):
        highest_version(["1.0.0", "one"])


@given(st.lists(cst.versions() | st.sampled_from(["1.2.0", "2.0.0", "0.5.0"])))
def test_highest_version_property(candidates: list[str]) -> None:
    known = [c for c in candidates if c in ALL]
    expected = max(known, key=parse_version) if known else None
    assert highest_version(candidates) == expected


@given(cst.versions())
def test_versions_strategy(version: str) -> None:
    assert normalize_version(version) == version
