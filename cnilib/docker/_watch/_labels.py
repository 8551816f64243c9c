"""The container labels the watcher reads (``cnilib.networks``, ...) and what they ask for:
:class:`AttachSpec`, parsed by :func:`parse_labels`; :class:`LabelError` for a malformed label."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

import cnilib
from cnilib import CNIError
from cnilib.docker._api import (
    LABEL_ARGS,
    LABEL_CAPABILITIES,
    LABEL_NETWORKS,
    LABEL_PORT_MAPPINGS,
    ContainerInfo,
    DockerError,
)

_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")


_PORT_RE = re.compile(
    r"(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>\d+):(?P<ctr>\d+)(?:/(?P<proto>tcp|udp|sctp))?"
)


class LabelError(DockerError):
    """A container's ``cnilib.*`` labels cannot be used (malformed, unknown network, ...)."""

    __module__ = "cnilib.docker"  # tracebacks name the public path


# -- labels ---------------------------------------------------------------------------------------


@attrs.frozen
class AttachSpec:
    """What a container's labels ask for."""

    #: Network names in label order; interface ``eth<i>`` for the i-th.
    networks: tuple[str, ...]
    #: ``CNI_ARGS`` pairs (empty, or ``IgnoreUnknown=1`` first).
    args: tuple[tuple[str, str], ...] = ()
    #: Capability arguments offered to the plugins (``runtimeConfig``).
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


def _split_networks(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(","))
    if not names or any(not n for n in names):
        raise LabelError(f"{LABEL_NETWORKS}={value!r}: expected NAME[,NAME...] without empty names")
    for n in names:
        if not _NAME_RE.fullmatch(n):
            raise LabelError(f"{LABEL_NETWORKS}={value!r}: invalid network name {n!r}")
    if len(set(names)) != len(names):
        raise LabelError(f"{LABEL_NETWORKS}={value!r}: a network is named twice")
    return names


def _parse_args(value: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if not sep or not key or not val:
            raise LabelError(f"{LABEL_ARGS}={value!r}: expected K=V[;K2=V2...]")
        pairs.append((key, val))
    try:
        cnilib.validate_cni_args(pairs)
    except CNIError as exc:
        raise LabelError(f"{LABEL_ARGS}={value!r}: {exc}") from None
    if not any(k == "IgnoreUnknown" for k, _ in pairs):
        # As containerd and CRI-O do: plugins that do not know a key must not refuse it.
        pairs.insert(0, ("IgnoreUnknown", "1"))
    return tuple(pairs)


def _published_mappings(info: ContainerInfo) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in info.port_bindings:
        if not b.host_port.isdigit():
            raise LabelError(
                f"{LABEL_PORT_MAPPINGS}=published: port {b.container_port}/{b.protocol} is published "
                f"without a fixed host port; publish it as -p HOST:{b.container_port}"
            )
        m: dict[str, Any] = {
            "hostPort": int(b.host_port),
            "containerPort": b.container_port,
            "protocol": b.protocol,
        }
        if b.host_ip and b.host_ip not in ("0.0.0.0", "::"):
            m["hostIP"] = b.host_ip
        out.append(m)
    return out


def _explicit_mappings(value: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in value.split(","):
        m = _PORT_RE.fullmatch(item.strip())
        if m is None:
            raise LabelError(
                f"{LABEL_PORT_MAPPINGS}={value!r}: expected 'published' or "
                "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp][,...]"
            )
        host, ctr = int(m["host"]), int(m["ctr"])
        if not (0 < host < 65536 and 0 < ctr < 65536):
            raise LabelError(f"{LABEL_PORT_MAPPINGS}={value!r}: port out of range in {item!r}")
        mapping: dict[str, Any] = {"hostPort": host, "containerPort": ctr, "protocol": m["proto"] or "tcp"}
        if m["ip"]:
            mapping["hostIP"] = m["ip"].strip("[]")
        out.append(mapping)
    return out


def _capabilities(value: str) -> dict[str, Any]:
    try:
        caps = json.loads(value)
    except ValueError as exc:
        raise LabelError(f"{LABEL_CAPABILITIES}: not JSON: {exc}") from None
    if not isinstance(caps, dict) or not all(isinstance(k, str) and k for k in caps):
        raise LabelError(f"{LABEL_CAPABILITIES}: expected a JSON object of capability arguments")
    return caps


def parse_labels(info: ContainerInfo) -> AttachSpec | None:
    """What ``info``'s labels ask for; None for a container without :data:`LABEL_NETWORKS`.

    Raises :class:`LabelError` naming the label for anything malformed.
    """
    labels = info.labels
    if LABEL_NETWORKS not in labels:
        return None
    networks = _split_networks(labels[LABEL_NETWORKS])
    args = _parse_args(labels[LABEL_ARGS]) if LABEL_ARGS in labels else ()
    caps = _capabilities(labels[LABEL_CAPABILITIES]) if LABEL_CAPABILITIES in labels else {}
    if LABEL_PORT_MAPPINGS in labels:
        if "portMappings" in caps:
            raise LabelError(f"both {LABEL_PORT_MAPPINGS} and {LABEL_CAPABILITIES} set portMappings")
        value = labels[LABEL_PORT_MAPPINGS].strip()
        caps["portMappings"] = (
            _published_mappings(info) if value == "published" else _explicit_mappings(value)
        )
    return AttachSpec(networks=networks, args=args, capability_args=caps)


# -- log lines ------------------------------------------------------------------------------------
