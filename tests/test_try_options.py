"""The rule that says a plugin of ``cnilib try`` was not exercised, and the values of
``--port-mappings`` and ``--bandwidth`` (the commands with real plugins: ``test_try.py``)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

import cnilib
from cnilib._cli._settings import _Failure
from cnilib._cli._try_options import not_exercised, runtime_args


def _list(*plugins: dict[str, Any]) -> cnilib.NetworkConfigList:
    return cnilib.NetworkConfigList.from_dict({"cniVersion": "1.0.0", "name": "n", "plugins": list(plugins)})


PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}}
BANDWIDTH = {"type": "bandwidth", "capabilities": {"bandwidth": True}}


@pytest.mark.parametrize(
    ("plugin", "caps", "idle"),
    [
        (PORTMAP, {}, ["portMappings"]),
        (PORTMAP, {"portMappings": []}, ["portMappings"]),  # an empty list maps nothing
        (PORTMAP, {"portMappings": [{"hostPort": 1, "containerPort": 2, "protocol": "tcp"}]}, []),
        ({"type": "portmap", "capabilities": {"portMappings": False}}, {}, []),  # not enabled: its choice
        (BANDWIDTH, {}, ["bandwidth"]),
        ({**BANDWIDTH, "ingressRate": 1000, "ingressBurst": 100}, {}, []),  # rates of its own
        ({"type": "tuning", "capabilities": {"mac": True}}, {}, []),  # tuning has other work
    ],
)
def test_not_exercised(plugin: dict[str, Any], caps: dict[str, Any], idle: list[str]) -> None:
    found = not_exercised(_list({"type": "bridge"}, plugin), caps)
    assert [item["capability"] for item in found] == idle
    assert all(item["index"] == 1 and item["plugin"] == plugin["type"] for item in found)


def _ns(**options: Any) -> argparse.Namespace:
    defaults = {"cni_args": None, "cap_args": None, "port_mappings": None, "bandwidth": None}
    return argparse.Namespace(**{**defaults, **options})


def test_options_replace_their_capabilities_of_cap_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAP_ARGS", '{"portMappings": [], "mac": "c2:00:00:00:00:01"}')
    monkeypatch.setenv("CNI_ARGS", "A=1")
    args, caps = runtime_args(_ns(port_mappings=["80:8080/udp, 443:8443", "53:53/sctp"], bandwidth="2M/1k"))
    assert args == [("A", "1")]
    assert caps == {
        "portMappings": [
            {"hostPort": 80, "containerPort": 8080, "protocol": "udp"},
            {"hostPort": 443, "containerPort": 8443, "protocol": "tcp"},
            {"hostPort": 53, "containerPort": 53, "protocol": "sctp"},
        ],
        "mac": "c2:00:00:00:00:01",
        "bandwidth": {
            "ingressRate": 2_000_000,
            "ingressBurst": 1000,
            "egressRate": 2_000_000,
            "egressBurst": 1000,
        },
    }
    # The options win over the variables.
    assert runtime_args(_ns(cni_args="B=2", cap_args="{}")) == ([("B", "2")], {})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port_mappings": ["80:80/icmp"]}, "expected HOST:CONTAINER[/PROTO]"),
        ({"port_mappings": ["0:80"]}, "a port is 1 to 65535"),
        ({"bandwidth": "1M"}, "expected RATE/BURST"),
        ({"bandwidth": "1T/1k"}, "expected RATE/BURST"),
        ({"bandwidth": "0/1k"}, "must be more than 0"),
    ],
)
def test_bad_values(options: dict[str, Any], message: str) -> None:
    with pytest.raises(_Failure, match=message.replace("[", r"\[").replace("]", r"\]")):
        runtime_args(_ns(**options))
