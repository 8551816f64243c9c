"""``cnilib validate`` checks every plugin's fields against its schema (issue 24, "the first hour").

``tests/data/schema-mistakes/`` holds one configuration per kind of mistake for the reference
plugins; ``cnilib validate`` (run as a process, text and ``--json``) must find each, at the right
JSON path, and nothing else. The valid configurations of ``examples/``, of every page of the docs
and of ``cnilib conformance`` must give no finding at all. Which of these mistakes the real plugins
reject (or ignore) is shown in ``tests/test_validate_real.py``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_cli import CLI

import cnilib
from cnilib.conformance import DEFAULT_SPECS

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = ROOT / "tests" / "data" / "schema-mistakes"
TYPES = (
    "bridge", "ptp", "macvlan", "ipvlan", "vlan", "host-device", "loopback", "host-local", "static",
    "dhcp", "portmap", "bandwidth", "tuning", "firewall", "sbr", "vrf",
)  # fmt: skip

E, W = "error", "warning"
# file -> every finding: (path, severity, keyword, suggestion)
EXPECTED: dict[str, list[tuple[str, str, str, str | None]]] = {
    "bridge-wrong-type.conf": [("$.mtu", E, "type", None)],
    "bridge-misspelt-key.conf": [("$.isGatway", W, "additionalProperties", "isGateway")],
    "bridge-out-of-range.conflist": [("$.plugins[0].vlan", E, "maximum", None)],
    "bridge-bad-ifname.conf": [("$.bridge", E, "format", None)],
    "bridge-together.conf": [("$.promiscMode", E, "enum", None)],
    "bridge-other-capitals.conf": [("$.MTU", E, "type", None)],
    "bridge-dns-misspelt.conf": [("$.dns.nameserver", W, "additionalProperties", "nameservers")],
    "host-local-bad-cidr.conf": [("$.ipam.subnet", E, "format", None)],
    "host-local-bad-nesting.conf": [("$.ipam.ranges[0]", E, "type", None)],
    "host-local-misspelt-key.conf": [("$.ipam.rangeStrat", W, "additionalProperties", "rangeStart")],
    "host-local-bad-ip.conf": [("$.ipam.gateway", E, "format", None)],
    "host-local-no-range.conf": [("$.ipam", E, "anyOf", None)],
    "host-local-bad-route.conf": [("$.ipam.routes[0].dst", E, "format", None)],
    "static-bad-address.conf": [("$.ipam.addresses[0].address", E, "format", None)],
    "dhcp-wrong-type.conf": [("$.ipam.provide[0].fromArg", E, "type", None)],
    "macvlan-unknown-mode.conf": [("$.mode", E, "enum", "bridge")],
    "macvlan-fraction.conf": [("$.mtu", E, "type", None)],
    "ipvlan-unknown-mode.conf": [("$.mode", E, "enum", None)],
    "vlan-missing-master.conf": [("$.master", E, "required", None)],
    "ptp-missing-ipam.conf": [("$.ipam", E, "required", None)],
    "host-device-no-device.conf": [("$", E, "anyOf", None)],
    "host-device-bad-mac.conf": [("$.hwaddr", E, "format", None)],
    "loopback-unknown-key.conf": [("$.mtu", W, "additionalProperties", None)],
    "tuning-bad-mac.conflist": [("$.plugins[1].mac", E, "format", None)],
    "tuning-sysctl-type.conflist": [
        ('$.plugins[1].sysctl["net.ipv4.conf.all.log_martians"]', E, "type", None)
    ],
    "tuning-sysctl-outside-net.conflist": [
        ('$.plugins[1].sysctl["kernel.shmmax"]', E, "propertyNames", None)
    ],
    "portmap-out-of-range.conflist": [("$.plugins[1].markMasqBit", E, "maximum", None)],
    "portmap-wrong-type.conflist": [("$.plugins[1].snat", E, "type", None)],
    "bandwidth-rate-without-burst.conflist": [("$.plugins[1].ingressBurst", E, "required", None)],
    "bandwidth-negative.conflist": [("$.plugins[1].egressRate", E, "minimum", None)],
    "firewall-unknown-policy.conflist": [("$.plugins[1].ingressPolicy", E, "enum", None)],
    "firewall-unknown-backend.conflist": [("$.plugins[1].backend", W, "enum", "iptables")],
    "vrf-missing-name.conflist": [("$.plugins[1].vrfname", E, "required", None)],
    "sbr-unknown-key.conflist": [("$.plugins[1].table", W, "additionalProperties", None)],
    "list-misspelt-key.conflist": [("$.disableCheks", W, "additionalProperties", "disableCheck")],
}


def _versions() -> dict[str, Any]:
    versions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
    return {"VERSION": {"cniVersion": "1.0.0", "supportedVersions": versions}}


@pytest.fixture
def fields_cli(tmp_path: Path) -> CLI:
    """The command line with a stand-in for every reference plugin (each answers VERSION only):
    the field check needs no real plugin, and an unreachable plugin must not be what fails."""
    cli = CLI(tmp_path)
    for name in TYPES:
        cli.plugin(name, stdout=_versions())
    return cli


def _found(report: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(f["path"], f["severity"], f["keyword"], f["suggestion"]) for f in report["findings"]]


def test_the_mistakes_cover_at_least_eight_reference_plugins_and_every_kind() -> None:
    assert sorted(p.name for p in MISTAKES.iterdir()) == sorted(EXPECTED)
    plugins = {name.split("-")[0] for name in EXPECTED} | {"host-device", "host-local"}
    assert len(plugins & set(TYPES)) >= 8
    kinds = {k for found in EXPECTED.values() for _, _, k, _ in found}
    assert {"type", "additionalProperties", "format", "enum", "maximum", "required", "anyOf"} <= kinds


def test_validate_finds_every_mistake_of_the_directory_at_its_path(fields_cli: CLI) -> None:
    run = fields_cli.run("validate", f"{MISTAKES}/", "--json")
    assert run.rc == 1, run
    doc = run.json()
    assert doc["ok"] is False
    assert doc["unusable"] == []
    by_file = {Path(r["source"]).name: r for r in doc["networks"]}
    assert sorted(by_file) == sorted(EXPECTED)
    for name, expected in EXPECTED.items():
        report = by_file[name]
        assert _found(report) == expected, name
        assert report["ok"] is (E not in {s for _, s, _, _ in expected}), name
        # Every plugin answered VERSION: the only problems are the field errors, as text.
        errors = [f"{f['path']}: {f['message']}" for f in report["findings"] if f["severity"] == E]
        assert report["problems"] == errors, name
        for f in report["findings"]:
            source = "CNI specification 1.1.0" if f["plugin"] is None else "containernetworking-plugins 1.1.1"
            assert f["schema"].endswith(f" ({source})"), f


def test_validate_prints_each_mistake_with_its_path_and_a_suggestion(fields_cli: CLI) -> None:
    run = fields_cli.run("validate", str(MISTAKES / "bridge-misspelt-key.conf"))
    assert run.rc == 0, run  # a warning alone is not a failure
    assert "fields checked: bridge, host-local (containernetworking-plugins 1.1.1)\n" in run.out
    assert run.out.endswith(
        "1 warning(s) (what the plugins would ignore):\n"
        '  - $.isGatway: unknown key, bridge ignores it; did you mean "isGateway"?\n'
    )
    run = fields_cli.run("validate", str(MISTAKES / "macvlan-unknown-mode.conf"))
    assert run.rc == 1, run
    assert run.out.endswith(
        "1 problem(s):\n"
        '  - $.mode: must be one of "bridge", "private", "vepa", "passthru" (or empty), not "bridged"; '
        'did you mean "bridge"?\n'
    )
    whole = fields_cli.run("validate", f"{MISTAKES}/")
    assert whole.rc == 1
    for name, expected in EXPECTED.items():
        assert f"from {MISTAKES}/{name}\n" in whole.out
        for path, _, _, _ in expected:
            assert f"  - {path}: " in whole.out, (name, path)
    assert whole.out.endswith(f"35 configuration(s) in {MISTAKES}/: 28 with errors, 7 with warnings only\n")


def test_validate_by_network_name_and_every_configuration_of_the_directory(fields_cli: CLI) -> None:
    fields_cli.write_conf(
        "10-a.conflist", json.loads((MISTAKES / "portmap-out-of-range.conflist").read_text())
    )
    fields_cli.write_conf("20-b.conf", json.loads((ROOT / "examples/net.d/10-mybridge.conf").read_text()))
    fields_cli.write_conf("30-broken.conf", '{"cniVersion": "1.0.0", "name": "x", "type": 7}')
    one = fields_cli.run("validate", "portmap-out-of-range", "--json")
    assert one.rc == 1
    assert _found(one.json()) == EXPECTED["portmap-out-of-range.conflist"]
    assert fields_cli.run("validate", "mybridge").rc == 0
    every = fields_cli.run("validate", "--json")
    assert every.rc == 1, every
    doc = every.json()
    assert [r["network"] for r in doc["networks"]] == ["portmap-out-of-range", "mybridge"]
    [bad] = doc["unusable"]
    assert bad["source"].endswith("30-broken.conf")
    assert bad["path"] == "$.type"


def test_a_schema_directory_checks_a_third_party_plugin(fields_cli: CLI, tmp_path: Path) -> None:
    fields_cli.plugin("thing", stdout=_versions())
    fields_cli.write_conf("t.conf", {"cniVersion": "1.0.0", "name": "t", "type": "thing", "colour": 3})
    plain = fields_cli.run("validate", "t")
    assert plain.rc == 0, plain  # left alone without a schema
    assert "fields not checked (no schema): thing\nno problems found\n" in plain.out
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    schema = {
        "x-source": "thing 2.0",
        "type": "object",
        "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
        "additionalProperties": False,
    }
    (schemas / "thing.json").write_text(json.dumps(schema))
    run = fields_cli.run("validate", "t", "--schema-dir", str(schemas), "--json")
    assert run.rc == 0, run
    assert _found(run.json()) == [("$.colour", W, "additionalProperties", "color")]
    assert run.json()["plugins"][0]["schemas"] == ["thing (thing 2.0)"]
    (schemas / "thing.json").write_text(json.dumps({**schema, "propertys": {}}))
    bad = fields_cli.run("validate", "t", "--schema-dir", str(schemas))
    assert bad.rc == 1
    assert "unusable plugin schema: keyword 'propertys' is not supported" in bad.err
    assert "@ $.propertys" in bad.err


# -- the valid configurations: nothing to say -----------------------------------------------------


def _docs_configurations() -> list[tuple[str, Any]]:
    """Every configuration the docs show: ``json`` blocks and literal dicts given to ``from_dict``."""
    found: list[tuple[str, Any]] = []
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = page.read_text()
        for match in re.finditer(r"```(\w+)\n(.*?)```", text, re.DOTALL):
            where = f"{page.name}:{text[: match.start()].count(chr(10)) + 1}"
            if match.group(1) == "json":
                found.append((where, json.loads(match.group(2))))
            elif match.group(1) == "python":
                found.extend((where, doc) for doc in _from_dict_literals(_source_of(match.group(2))))
    return [(w, d) for w, d in found if isinstance(d, dict) and ("type" in d or "plugins" in d)]


def _source_of(block: str) -> str:
    lines = block.splitlines()
    if not any(line.startswith(">>> ") for line in lines):
        return block
    # A doctest: its statements, without the expected output.
    return "\n".join(line[4:] for line in lines if line.startswith((">>> ", "... ")))


def _from_dict_literals(code: str) -> list[Any]:
    tree = ast.parse(code)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "from_dict" and node.args:
            try:
                out.append(ast.literal_eval(node.args[0]))
            except ValueError:
                continue
    return out


# The docs show these mistakes on purpose (what validate finds, what a plugin rejects).
DELIBERATE = {
    "mynet": [("$.mtu", E, "type", None)],
    "bad": [("$.plugins[0].mtu", E, "type", None)],
    "typo": [
        ("$.plugins[0].isGatway", W, "additionalProperties", "isGateway"),
        ("$.plugins[0].mtu", E, "type", None),
        ("$.plugins[0].ipam.subnet", E, "format", None),
    ],
}


def test_the_valid_configurations_of_examples_docs_and_conformance_give_no_finding(
    fields_cli: CLI, tmp_path: Path
) -> None:
    examples = fields_cli.run("validate", f"{ROOT}/examples/net.d", "--json")
    assert examples.rc == 0, examples
    assert [(r["network"], r["findings"], r["ok"]) for r in examples.json()["networks"]] == [
        ("mybridge", [], True)
    ]
    shown = tmp_path / "shown"
    shown.mkdir()
    docs = _docs_configurations()
    assert len(docs) >= 10, docs
    conformance = [
        {"cniVersion": "1.0.0", "name": f"conformance-{n}", **s.config} for n, s in DEFAULT_SPECS.items()
    ]
    for i, doc in enumerate([d for _, d in docs] + conformance):
        ext = ".conflist" if "plugins" in doc else ".conf"
        (shown / f"{i:03d}{ext}").write_text(json.dumps({"cniVersion": "1.0.0", **doc}))
    run = fields_cli.run("validate", f"{shown}/", "--json")
    report = run.json()
    # The docs also show a plugin "type" that is not a string: cnilib refuses to load it.
    assert [u["path"] for u in report["unusable"]] == ["$.plugins[0].type"]
    found = {r["network"]: _found(r) for r in report["networks"] if r["findings"]}
    assert found == DELIBERATE
    checked = {s.split(" ")[0] for r in report["networks"] for p in r["plugins"] for s in p["schemas"]}
    # Every reference plugin was looked at (conformance runs dhcp without an ipam object to check).
    assert checked == set(TYPES) - {"dhcp"}


# -- the Python API -------------------------------------------------------------------------------


def _broken() -> cnilib.NetworkConfigList:
    return cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "api",
            "plugins": [
                {"type": "bridge", "bridge": "cni-api0", "isGatway": True, "ipam": {"type": "static"}},
                {"type": "custom", "speed": "fast"},
            ],
        }
    )


def test_the_report_holds_typed_findings_and_ok_ignores_warnings(tmp_path: Path) -> None:
    cni = cnilib.CNI(plugin_dirs=[tmp_path], cache_dir=tmp_path / "cache")
    report = cni.validate(_broken())
    assert [(f.path, f.severity, f.plugin, f.suggestion) for f in report.findings] == [
        ("$.plugins[0].isGatway", W, 0, "isGateway")
    ]
    assert report.warnings == (
        '$.plugins[0].isGatway: unknown key, bridge ignores it; did you mean "isGateway"?',
    )
    assert report.plugins[0].schemas == (
        "bridge (containernetworking-plugins 1.1.1)",
        "static (containernetworking-plugins 1.1.1)",
    )
    assert report.plugins[1].schemas == ()
    # Only the missing plugins are problems: a warning does not make the report fail.
    assert [p.split(":")[0] for p in report.problems] == ["plugins[0] (bridge)", "plugins[1] (custom)"]


def test_schemas_given_as_a_mapping_and_to_the_async_front(tmp_path: Path) -> None:
    schemas = {"custom": {"properties": {"speed": {"type": "integer"}}}}
    report = cnilib.CNI(plugin_dirs=[tmp_path], cache_dir=tmp_path).validate(_broken(), schemas=schemas)
    assert [(f.path, f.severity, f.schema) for f in report.findings][1:] == [
        ("$.plugins[1].speed", E, "custom (schemas['custom'])")
    ]

    async def main() -> cnilib.ValidationReport:
        async with cnilib.AsyncCNI(plugin_dirs=[tmp_path], cache_dir=tmp_path) as acni:
            return await acni.validate(_broken(), schemas=schemas)

    assert asyncio.run(main()).findings == report.findings
    with pytest.raises(cnilib.ConfigError, match="unknown format 'colour'"):
        cnilib.CNI(plugin_dirs=[tmp_path], cache_dir=tmp_path).validate(
            _broken(), schemas={"custom": {"format": "colour"}}
        )
    with pytest.raises(cnilib.ConfigError, match="cannot read the schema directory"):
        cnilib.CNI(plugin_dirs=[tmp_path], cache_dir=tmp_path).validate(_broken(), schemas=tmp_path / "none")


def test_a_schema_for_a_third_party_ipam_plugin_checks_the_ipam_object(tmp_path: Path) -> None:
    whereabouts = {
        "x-cni-kind": "ipam",
        "x-source": "whereabouts 0.6",
        "properties": {"range": {"type": "string", "format": "cidr"}},
        "additionalProperties": False,
    }
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "wb",
            "type": "macvlan",
            "master": "eth0",
            "ipam": {"type": "whereabouts", "range": "10.5.0.0/33", "exclude": []},
        }
    )
    cni = cnilib.CNI(plugin_dirs=[tmp_path], cache_dir=tmp_path)
    assert cni.validate(conflist).findings == ()  # left alone without its schema
    report = cni.validate(conflist, schemas={"whereabouts": whereabouts})
    assert [(f.path, f.severity, f.schema) for f in report.findings] == [
        ("$.ipam.range", E, "whereabouts (whereabouts 0.6)"),
        ("$.ipam.exclude", W, "whereabouts (whereabouts 0.6)"),
    ]
    assert report.plugins[0].schemas == (
        "macvlan (containernetworking-plugins 1.1.1)",
        "whereabouts (whereabouts 0.6)",
    )
