"""The schema interpreter (``cnilib._spec._schemas``): its keywords, Go's rules, its formats, its refusals,
and its agreement with the ``jsonschema`` library on every shipped schema and generated documents.

The interpreter is hand-written (no compiled dependency at run time); ``jsonschema`` is a test
dependency only, the reference it is held to. Two deliberate differences are given to
``jsonschema`` as the same rules (an integer is a JSON number without a fraction, as in Go; the four
formats are cnilib's), and the generated documents keep to exact key spellings, since Go's
case-insensitive match of keys (``fold_case``) is not JSON Schema's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnilib import ConfigError
from cnilib._spec._schemas import (
    Validator,
    builtin_catalog,
    catalog_from,
    check_schema,
    child_path,
    parent_path,
)
from cnilib._spec._schemas._catalog import _IPAM_COMMON
from cnilib._spec._schemas._formats import FORMATS, is_cidr, is_ifname, is_ip, is_mac


def problems(schema: Any, doc: Any, **kw: Any) -> list[tuple[str, str, str]]:
    check_schema(schema)
    return [(p.path, p.severity, p.keyword) for p in Validator(schema, **kw).problems(doc)]


# -- formats: Go's rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("10.1.0.1", True), ("fd00::1", True), ("::ffff:10.1.0.1", True), ("", True),
        ("10.1.0.300", False), ("010.1.0.1", False), ("fe80::1%eth0", False), ("10.1.0.1/24", False),
        (" 10.1.0.1", False),
    ],
)  # fmt: skip
def test_ip_is_what_go_net_ip_decodes(text: str, ok: bool) -> None:
    assert is_ip(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("10.1.0.0/24", True), ("10.1.0.5/24", True), ("10.1.0.0/024", True), ("fd00::/64", True),
        ("10.1.0.0/32", True), ("::/128", True), ("", False), ("10.1.0.0", False), ("10.1.0.0/33", False),
        ("fd00::/129", False), ("010.1.0.0/24", False), ("fe80::1%eth0/64", False), ("10.1.0.0/", False),
        ("10.1.0.0/-1", False), ("/24", False), ("10.1.0.0/2 4", False),
    ],
)  # fmt: skip
def test_cidr_is_what_go_parse_cidr_accepts(text: str, ok: bool) -> None:
    assert is_cidr(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0a:58:0a:01:00:05", True), ("0A-58-0A-01-00-05", True), ("0a58.0a01.0005", True),
        ("02:00:5e:10:00:00:00:01", True), ("", True),
        ("00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", True),
        ("00:11:22", False), ("0a:58:0a:01:00:5", False), ("0a:58:0a:01:00:05:06", False),
        ("zz:58:0a:01:00:05", False), ("0a:58-0a:01:00:05", False), ("0a58.0a01.005", False),
    ],
)  # fmt: skip
def test_mac_is_what_go_parse_mac_accepts(text: str, ok: bool) -> None:
    assert is_mac(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("eth0", True), ("cni-0123456789a", True), ("", True), ("cni-0123456789ab", False),
        ("a/b", False), ("a:b", False), ("a b", False), (".", False), ("..", False), ("é" * 8, False),
    ],
)  # fmt: skip
def test_ifname_is_what_the_kernel_takes(text: str, ok: bool) -> None:
    assert is_ifname(text) is ok


# -- the interpreter --------------------------------------------------------------------------------


OBJ = {
    "type": "object",
    "properties": {
        "mtu": {"type": ["integer", "null"], "maximum": 65535},
        "mode": {"type": "string", "enum": ["", "bridge", "vepa"]},
        "sub": {
            "type": "object",
            "properties": {"dst": {"type": "string", "format": "cidr"}},
            "required": ["dst"],
        },
        "list": {"type": "array", "items": {"type": "string", "format": "ip"}, "minItems": 1},
        "map": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {"pattern": "^net"},
        },
    },
    "additionalProperties": False,
}


def test_each_problem_has_its_path_severity_and_keyword_in_document_order() -> None:
    doc = {
        "mode": "bridged",
        "mtu": 1.0,
        "sub": {},
        "list": ["10.0.0.1", "x"],
        "map": {"net.a": 1, "kernel.b": "1"},
        "mtuu": 1,
    }
    assert problems(OBJ, doc) == [
        ("$.mode", "error", "enum"),
        ("$.mtu", "error", "type"),  # Go refuses 1.0 for an int
        ("$.sub.dst", "error", "required"),
        ("$.list[1]", "error", "format"),
        ('$.map["net.a"]', "error", "type"),
        ('$.map["kernel.b"]', "error", "propertyNames"),
        ("$.mtuu", "warning", "additionalProperties"),
    ]
    assert problems(OBJ, {"mtu": None, "mode": "", "list": [], "map": {}}) == [
        ("$.list", "error", "minItems")
    ]


def test_messages_say_what_was_expected_and_suggest_the_closest_key_or_value() -> None:
    found = Validator(OBJ, subject="bridge").problems({"mtu": "big", "mode": "brigde", "mdoe": "x", "zzz": 1})
    assert [(p.message, p.suggestion) for p in found] == [
        ('must be an integer, not a string ("big")', None),
        ('must be one of "bridge", "vepa" (or empty), not "brigde"; did you mean "bridge"?', "bridge"),
        ('unknown key, bridge ignores it; did you mean "mode"?', "mode"),
        ("unknown key, bridge ignores it", None),
    ]


def test_keys_match_properties_whatever_their_capitals_as_in_go() -> None:
    assert problems(OBJ, {"MTU": "x", "Sub": {}}) == [
        ("$.MTU", "error", "type"),
        ("$.Sub.dst", "error", "required"),
    ]
    required = {"type": "object", "properties": {"master": {"type": "string"}}, "required": ["master"]}
    assert problems(required, {"Master": "eth0"}) == []
    assert problems(OBJ, {"MTU": "x"}, fold_case=False) == [("$.MTU", "warning", "additionalProperties")]


def test_x_severity_x_message_ref_and_the_combinators() -> None:
    schema = {
        "$defs": {"port": {"type": "integer", "minimum": 1}},
        "type": "object",
        "properties": {
            "backend": {"enum": ["iptables"], "x-severity": "warning", "x-message": "falls back to iptables"},
            "port": {"$ref": "#/$defs/port"},
            "a": {"type": "boolean"},
            "b": {"type": "boolean"},
            "one": {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
        },
        "allOf": [
            {"if": {"required": ["a"], "properties": {"a": {"const": True}}}, "then": {"required": ["b"]}}
        ],
        "anyOf": [{"required": ["port"]}, {"required": ["backend"]}],
        "not": {"required": ["x"]},
    }
    assert problems(schema, {"backend": "nft", "port": 0}) == [
        ("$.backend", "warning", "enum"),
        ("$.port", "error", "minimum"),
    ]
    [found] = Validator(schema).problems({"backend": "iptable", "port": 1})
    assert (found.message, found.suggestion) == (
        'falls back to iptables; did you mean "iptables"?',
        "iptables",
    )
    assert problems(schema, {"a": True, "x": 1, "one": 5}) == [
        ("$", "error", "anyOf"),
        ("$", "error", "not"),
        ("$.b", "error", "required"),  # (a missing key goes with its object)
        ("$.one", "error", "oneOf"),  # an integer >= 0 matches both
    ]
    assert Validator(schema).problems({"a": True, "x": 1})[0].message == 'needs "port" or "backend"'


def test_paths_quote_keys_that_are_not_identifiers() -> None:
    assert child_path("$", "mtu") == "$.mtu"
    assert child_path("$.plugins", 2) == "$.plugins[2]"
    assert child_path("$", "cni.dev/attachments") == '$["cni.dev/attachments"]'
    assert child_path("$", 'a"]b') == '$["a\\"]b"]'
    for path in ("$.a.b", "$.a[3]", '$.a["cni.dev/x"]', '$.a["a\\"]b"]'):
        assert parent_path(path) == "$.a"
    assert parent_path("$") == "$"


@pytest.mark.parametrize(
    ("schema", "where", "why"),
    [
        ({"propertys": {}}, "$.propertys", "keyword 'propertys' is not supported"),
        ({"properties": {"a": {"format": "colour"}}}, "$.properties.a.format", "unknown format 'colour'"),
        ({"type": "text"}, "$.type", "malformed 'type'"),
        ({"minLength": -1}, "$.minLength", "malformed 'minLength'"),
        ({"required": "a"}, "$.required", "malformed 'required'"),
        ({"pattern": "("}, "$.pattern", "is not a regular expression"),
        ({"$ref": "#/$defs/none"}, '$["$ref"]', "does not resolve"),
        ({"$ref": "other.json"}, '$["$ref"]', "only references inside the same document"),
        ({"anyOf": []}, "$.anyOf", "non-empty array"),
        (
            {"anyOf": [{"additionalProperties": False}]},
            "$.anyOf[0].additionalProperties",
            "cannot be used inside",
        ),
        ({"if": {"x-severity": "warning"}}, '$.if["x-severity"]', "cannot be used inside"),
        ({"x-severity": "fatal"}, '$["x-severity"]', "malformed 'x-severity'"),
        ([], "$", "must be a JSON object"),
    ],
)
def test_a_schema_outside_the_subset_is_refused_where_it_goes_wrong(
    schema: Any, where: str, why: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)) as info:
        check_schema(schema, source="s.json")
    assert info.value.path == where
    assert info.value.source == "s.json"


def test_a_schema_directory_that_is_not_json_is_refused(tmp_path: Any) -> None:
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ConfigError, match="plugin schema is not JSON") as info:
        catalog_from(tmp_path)
    assert info.value.source == str(tmp_path / "x.json")
    with pytest.raises(ConfigError, match="mapping or a directory"):
        catalog_from(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="a plugin type must be a non-empty string"):
        catalog_from({7: {}})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="must be a JSON object") as info:
        catalog_from({"x": ["not", "a", "schema"]})  # type: ignore[dict-item]
    assert info.value.source == "schemas['x']"
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="cannot read the schema directory"):
        catalog_from(tmp_path / "x.json")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_KEYS_SEEN = st.sampled_from(["mtu", "ipam", "dns", "ranges", "subnet", "routes", "sysctl", "addresses", "x"])


@settings(max_examples=300, deadline=None)
@given(
    plugin_type=st.sampled_from(sorted(builtin_catalog().schemas)),
    ipam_type=st.sampled_from(["host-local", "static", "dhcp"]),
    body=st.dictionaries(_KEYS_SEEN, _JSON, max_size=5),
    ipam=st.dictionaries(_KEYS_SEEN, _JSON, max_size=4),
)
def test_any_json_gives_problems_never_an_exception(
    plugin_type: str, ipam_type: str, body: dict[str, Any], ipam: dict[str, Any]
) -> None:
    doc = {**body, "type": plugin_type, "ipam": {**ipam, "type": ipam_type}}
    for _, found in builtin_catalog().check_plugin(doc, "$"):
        assert all(p.path.startswith("$") and p.message for p in found)


# -- the shipped schemas ---------------------------------------------------------------------------


def _effective() -> dict[str, dict[str, Any]]:
    """Every shipped schema as the interpreter applies it (common keys merged in)."""
    catalog = builtin_catalog()
    out: dict[str, dict[str, Any]] = {"_list": dict(catalog.list_validator.schema)}
    for name, schema in catalog.schemas.items():
        common = _IPAM_COMMON if schema.ipam_only else catalog.plugin_common
        out[name] = dict(schema.validator(common).schema)
    return out


EFFECTIVE = _effective()


def test_the_shipped_schemas_are_json_schema_2020_12_and_in_the_subset() -> None:
    assert sorted(EFFECTIVE) == sorted(
        ["_list", "bridge", "ptp", "macvlan", "ipvlan", "vlan", "host-device", "loopback", "host-local",
         "static", "dhcp", "portmap", "bandwidth", "tuning", "firewall", "sbr", "vrf"]
    )  # fmt: skip
    for name, schema in EFFECTIVE.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        check_schema(schema, source=name)
        if name != "_list":
            assert schema["x-source"] == "containernetworking-plugins 1.1.1", name
            assert schema["additionalProperties"] is False, name


# -- agreement with jsonschema ---------------------------------------------------------------------


def _go_integer(_: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKER = jsonschema.FormatChecker(formats=())
for _name, _check in FORMATS.items():
    _CHECKER.checks(_name)(lambda v, check=_check: not isinstance(v, str) or check(v))
_REFERENCE = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _go_integer),
)


def _is_warning(root: dict[str, Any], error: jsonschema.ValidationError) -> bool:
    if error.validator == "additionalProperties" and error.validator_value is False:
        return True
    node: Any = root
    for part in error.absolute_schema_path:
        if isinstance(node, dict) and node.get("x-severity") == "warning":
            return True
        if isinstance(node, dict) and "$ref" in node and part not in node:
            node = Validator(root)._resolve(node["$ref"])  # (the path goes on in the target)
        node = node[part]
    return isinstance(node, dict) and node.get("x-severity") == "warning"


def _theirs(schema: dict[str, Any], doc: Any) -> set[tuple[str, str]]:
    out = set()
    for error in _REFERENCE(schema, format_checker=_CHECKER).iter_errors(doc):
        path = "$"
        for part in error.absolute_path:
            path = child_path(path, part)
        out.add((path, "warning" if _is_warning(schema, error) else "error"))
    return out


def _mine(schema: dict[str, Any], doc: Any) -> set[tuple[str, str]]:
    out = set()
    for p in Validator(schema, fold_case=False).problems(doc):
        path = p.path
        # jsonschema places these at the object, the interpreter at the key concerned.
        if p.keyword in ("required", "dependentRequired", "additionalProperties", "propertyNames"):
            path = parent_path(path)
        out.add((path, p.severity))
    return out


_SAMPLES: dict[str | None, list[str]] = {
    "ip": ["10.1.0.1", "fd00::1", "", "10.1.0.300", "x"],
    "cidr": ["10.1.0.0/24", "10.1.0.0/33", "10.1.0.0", ""],
    "mac": ["0a:58:0a:01:00:05", "00:11:22", ""],
    "ifname": ["eth0", "", "cni-bridge-too-long", "a/b"],
    None: ["", "bridge", "l2", "iptables", "same-bridge", "tcp", "TCP", "x", "net.ipv4.ip_forward"],
}
_KEYS = ["zz", "mtuu", "cni.dev/attachments", "net.ipv4.ip_forward", "kernel.shmmax"]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.sampled_from([1.5, 1.0, -1e30, 2**70]),
    st.text(max_size=3),
)


def _values(schema: Any, root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if not isinstance(schema, dict):
        return _SCALARS
    if "$ref" in schema:
        schema = Validator(root)._resolve(schema["$ref"])
    options: list[st.SearchStrategy[Any]] = []
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types:
        options.append(st.sampled_from(_SAMPLES.get(schema.get("format"), _SAMPLES[None])))
    if "integer" in types:
        bounds = [schema[k] for k in ("minimum", "maximum", "exclusiveMinimum") if k in schema]
        near = [b + d for b in bounds for d in (-1, 0, 1) if isinstance(b, int)]
        options.append(st.sampled_from([0, 1, 67, 68, *near]))
    if depth < 4 and "array" in types:
        options.append(st.lists(_values(schema.get("items", True), root, depth + 1), max_size=3))
    if depth < 4 and ("object" in types or "properties" in schema):
        options.append(_objects(schema, root, depth + 1))
    return st.one_of([*options, _SCALARS])  # what the schema is about first, then anything


def _objects(schema: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    known = sorted(set(props) | set(schema.get("required", ())))

    def build(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({k: _values(props.get(k, extra), root, depth) for k in keys})

    # Mostly the schema's own keys (their values are where the rules are), some unknown ones.
    mine = st.lists(st.sampled_from(known), unique=True, max_size=6) if known else st.just([])
    others = st.lists(st.sampled_from(_KEYS), unique=True, max_size=2)
    return st.tuples(mine, others).flatmap(lambda ks: build(ks[0] + ks[1]))


@pytest.mark.parametrize("name", sorted(EFFECTIVE))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_interpreter_agrees_with_jsonschema_on_generated_documents(
    name: str, data: st.DataObject
) -> None:
    schema = EFFECTIVE[name]
    doc = data.draw(_objects(schema, schema, 0), label="document")
    assert _mine(schema, doc) == _theirs(schema, doc), json.dumps(doc)
