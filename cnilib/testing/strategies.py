"""Hypothesis strategies for CNI documents: versions, addresses, results, configs, runtime configs.

Every strategy produces values that cnilib accepts and that survive a round trip through JSON:
parsing what ``to_json()``/``to_dict()`` wrote gives an equal object back. Use them to
property-test code that consumes cnilib's models::

    from hypothesis import given
    from cnilib.testing import strategies as cst

    @given(cst.results("1.0.0", min_ips=1))
    def test_my_ipam_consumer(result):
        ...

Hypothesis is a test extra of cnilib: this module imports it at the top and is meant to be
imported only where Hypothesis is installed (``import cnilib`` never imports it).

Shapes follow the spec of each version: 1.1-only fields (interface ``mtu``/``socketPath``/``pciID``,
route ``mtu``/``advmss``/``priority``/``table``/``scope``) appear only in 1.1.0 results;
``ips[].version`` is set (and agrees with the address) exactly in 0.3.x/0.4.0 results; 0.1.0/0.2.0
``ip4``/``ip6`` blocks carry routes of their own family with only ``dst``/``gw``. Optional strings
are either absent (None) or non-empty, because the spec's JSON omits empty strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from ._st_configs import (
    cni_arg_pairs,
    network_config_dicts,
    network_config_lists,
    plugin_config_dicts,
    plugin_configs,
    runtime_configs,
)
from ._st_results import dns, interfaces, ip_configs, results, routes
from ._st_values import (
    _json_values,
    cidrs,
    container_ids,
    ifnames,
    ips,
    json_values,
    network_names,
    versions,
)

__all__ = [
    "cidrs",
    "cni_arg_pairs",
    "container_ids",
    "dns",
    "hostile_json_bytes",
    "ifnames",
    "interfaces",
    "ip_configs",
    "ips",
    "json_values",
    "network_config_dicts",
    "network_config_lists",
    "network_names",
    "plugin_config_dicts",
    "plugin_configs",
    "results",
    "routes",
    "runtime_configs",
    "versions",
]


#: Values Go's decoder refuses (or that cnilib bounds), as raw JSON tokens.
HOSTILE_TOKENS: tuple[bytes, ...] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"1" + b"0" * 400,
    b"9" * 5000,
    b"[" * 300 + b"]" * 300,
    b"[" * 5000 + b"]" * 5000,
    rb'"\ud800"',
    rb'"\udc00\ud800"',
    rb'"\u0000"',
    b'"\xff\xfe"',
    b'"a\x01b"',
    b"\xff",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1.5",
    b"true",
    b"null",
)
_SENTINEL = "__cnilib_hostile__"
_PREFIXES = (b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _put_sentinel(doc: Any, path: Sequence[int]) -> Any:
    # Walk ``path`` (indices into the containers met) and replace the value found there.
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return _SENTINEL
    if isinstance(doc, dict):
        key = list(doc)[path[0] % len(doc)]
        return {**doc, key: _put_sentinel(doc[key], path[1:])}
    index = path[0] % len(doc)
    return [*doc[:index], _put_sentinel(doc[index], path[1:]), *doc[index + 1 :]]


@st.composite
def _hostile(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> bytes:
    import json

    doc = draw(base)
    path = draw(st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=6))
    token = draw(st.sampled_from(HOSTILE_TOKENS))
    text = json.dumps(_put_sentinel(doc, path)).encode()
    data = text.replace(f'"{_SENTINEL}"'.encode(), token, 1)
    how = draw(st.sampled_from(("as-is", "prefix", "utf16", "truncate", "byte")))
    if how == "prefix":
        return draw(st.sampled_from(_PREFIXES)) + data
    if how == "utf16":
        return data.decode("utf-8", "replace").encode(
            draw(st.sampled_from(("utf-16", "utf-32", "utf-16-le")))
        )
    if how == "truncate":
        return data[: draw(st.integers(min_value=0, max_value=len(data)))]
    if how == "byte":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=2)) + data[at:]
    return data


def hostile_json_bytes(base: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[bytes]:
    """JSON text built from ``base`` documents (any JSON value by default) with one hostile change:
    a value Go refuses (NaN, 1e999, absurd nesting, huge integers), text that is not valid Unicode,
    a byte order mark or UTF-16/32, a truncation or a stray byte. A parser must answer with a value
    or a :class:`~cnilib.CNIError`."""
    return _hostile(base if base is not None else _json_values(False, 12))
