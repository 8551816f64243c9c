"""Capture the real output of Debian's CNI plugins into tests/data/corpus/.

Run as root from the repository root::

    python tests/data/capture_corpus.py [--plugin-dir /usr/lib/cni] [--out tests/data/corpus]

Everything happens inside network namespaces this script creates (a sandbox "host" namespace in
which the plugins run, plus one container namespace per capture); host-local's dataDir lives in a
temporary directory. No traffic is sent anywhere. All namespaces and files are removed at the end,
also on failure.

For every (plugin, variant) and every cniVersion the plugin supports (asked with
CNI_COMMAND=VERSION), the plugin is run directly: ADD (stdout stored byte for byte as
``<plugin>-<variant>-<version>.json``), CHECK for >= 0.4.0 (with the ADD result as prevResult,
must succeed, output not stored), then DEL (with prevResult for >= 0.4.0, like libcni).
``version-<plugin>.json`` holds each plugin's VERSION answer to ``{"cniVersion": "1.0.0"}``;
``error-<plugin>-<variant>-<version>.json`` holds the stdout of a few deliberately failing ADDs.
``INDEX.json`` maps each file name to what produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NEWEST = "1.0.0"
CHECK_MIN = (0, 4, 0)
PLUGIN_ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIMEOUT = 60.0

JSON = dict[str, Any]


@dataclass(frozen=True)
class Variant:
    plugin: str
    variant: str
    # (cniVersion, dataDir, macvlan master) -> network configuration
    config: Callable[[str, str, str], JSON]


def _hl(data_dir: str, **kw: Any) -> JSON:
    return {"type": "host-local", "dataDir": data_dir, **kw}


SEED_ROUTES = [{"dst": "0.0.0.0/0"}, {"dst": "1.1.1.1/32", "gw": "10.15.30.1"}]

VARIANTS: list[Variant] = [
    # The founding scenario (seed-scenario.md), at every version.
    Variant(
        "bridge",
        "hostlocal",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "mybridge",
            "type": "bridge",
            "bridge": "cni_bridge1",
            "isGateway": True,
            "ipMasq": True,
            "ipam": _hl(
                d,
                subnet="10.15.30.0/24",
                routes=SEED_ROUTES,
                rangeStart="10.15.30.100",
                rangeEnd="10.15.30.200",
                gateway="10.15.30.99",
            ),
        },
    ),
    Variant(
        "bridge",
        "dualstack",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "dualbridge",
            "type": "bridge",
            "bridge": "cni_bridge2",
            "isGateway": True,
            "ipam": _hl(
                d,
                ranges=[
                    [{"subnet": "10.15.31.0/24", "gateway": "10.15.31.1"}],
                    [{"subnet": "fd00:15:31::/64", "gateway": "fd00:15:31::1"}],
                ],
                routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
            ),
        },
    ),
    Variant(
        "ptp",
        "hostlocal",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "myptp",
            "type": "ptp",
            "ipMasq": False,
            "ipam": _hl(d, subnet="10.15.32.0/24", routes=[{"dst": "0.0.0.0/0"}]),
        },
    ),
    Variant(
        "macvlan",
        "hostlocal",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "mymacvlan",
            "type": "macvlan",
            "master": m,
            "mode": "bridge",
            "ipam": _hl(d, subnet="10.15.33.0/24", gateway="10.15.33.1"),
        },
    ),
    Variant(
        "loopback",
        "default",
        lambda v, d, m: {"cniVersion": v, "name": "lo", "type": "loopback"},
    ),
    # IPAM plugins run as the main plugin: they read the "ipam" key of their stdin.
    Variant(
        "host-local",
        "ipv4",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "hlnet",
            "type": "host-local",
            "ipam": _hl(
                d,
                subnet="10.15.34.0/24",
                gateway="10.15.34.1",
                routes=[{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.15.34.254"}],
            ),
        },
    ),
    Variant(
        "host-local",
        "dualstack",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "hlnet6",
            "type": "host-local",
            "ipam": _hl(
                d,
                ranges=[[{"subnet": "10.15.35.0/24"}], [{"subnet": "fd00:15:35::/64"}]],
                routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
            ),
        },
    ),
    Variant(
        "static",
        "dualstack",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "staticnet",
            "type": "static",
            "ipam": {
                "type": "static",
                "addresses": [
                    {"address": "10.15.36.5/24", "gateway": "10.15.36.1"},
                    {"address": "fd00:15:36::5/64", "gateway": "fd00:15:36::1"},
                ],
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:15:36::1"}],
                "dns": {
                    "nameservers": ["10.15.36.53"],
                    "domain": "example.test",
                    "search": ["example.test"],
                    "options": ["ndots:2"],
                },
            },
        },
    ),
]

# Deliberately failing ADDs: (plugin, variant, cniVersion, config builder).
ERRORS: list[tuple[str, str, str, Callable[[str, str, str], JSON]]] = [
    (
        "bridge",
        "badversion",
        "9.9.9",
        lambda v, d, m: {"cniVersion": v, "name": "x", "type": "bridge", "ipam": _hl(d)},
    ),
    (
        "host-local",
        "nosubnet",
        "1.0.0",
        lambda v, d, m: {"cniVersion": v, "name": "x", "type": "host-local", "ipam": _hl(d)},
    ),
    (
        "macvlan",
        "nomaster",
        "1.0.0",
        lambda v, d, m: {
            "cniVersion": v,
            "name": "x",
            "type": "macvlan",
            "master": "cnigo-nope0",
            "ipam": _hl(d, subnet="10.15.37.0/24"),
        },
    ),
    (
        "loopback",
        "badjson",
        "1.0.0",
        lambda v, d, m: {"cniVersion": v, "name": "x", "type": "loopback", "__raw__": "{not json"},
    ),
]


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _redact(conf: JSON, data_dir: str) -> JSON:
    """The config as recorded in INDEX.json: the temporary dataDir becomes "$DATADIR"."""
    redacted: JSON = json.loads(json.dumps(conf).replace(json.dumps(data_dir)[1:-1], "$DATADIR"))
    return redacted


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=TIMEOUT)


@contextmanager
def netns(prefix: str) -> Iterator[str]:
    name = f"{prefix}-{secrets.token_hex(4)}"
    _sh("ip", "netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def run_plugin(
    plugin_dir: Path,
    plugin: str,
    command: str,
    stdin: bytes,
    host_ns: str,
    *,
    netns_path: str = "",
    container_id: str = "",
    ifname: str = "",
) -> subprocess.CompletedProcess[bytes]:
    env = {
        "PATH": PLUGIN_ENV_PATH,
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns_path,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": "",
        "CNI_PATH": str(plugin_dir),
    }
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{host_ns}", "--", str(plugin_dir / plugin)],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def supported_versions(plugin_dir: Path, plugin: str, host_ns: str) -> tuple[bytes, list[str]]:
    proc = run_plugin(plugin_dir, plugin, "VERSION", json.dumps({"cniVersion": NEWEST}).encode(), host_ns)
    if proc.returncode != 0:
        raise RuntimeError(f"{plugin} VERSION failed: {proc.stdout!r} {proc.stderr!r}")
    return proc.stdout, list(json.loads(proc.stdout)["supportedVersions"])


def _fail(what: str, proc: subprocess.CompletedProcess[bytes]) -> RuntimeError:
    return RuntimeError(f"{what} exited {proc.returncode}: stdout={proc.stdout!r} stderr={proc.stderr!r}")


def capture(plugin_dir: Path, out: Path) -> dict[str, JSON]:
    index: dict[str, JSON] = {}
    work = Path(tempfile.mkdtemp(prefix="cnigo-corpus-"))
    try:
        with netns("cnigo-host") as host:
            _sh("ip", "-n", host, "link", "set", "lo", "up")
            master = "cnigo-mv0"
            _sh("ip", "-n", host, "link", "add", master, "type", "veth", "peer", "name", "cnigo-mv1")
            _sh("ip", "-n", host, "link", "set", master, "up")
            _sh("ip", "-n", host, "link", "set", "cnigo-mv1", "up")

            for binary in sorted(p for p in plugin_dir.iterdir() if p.is_file()):
                raw, _ = supported_versions(plugin_dir, binary.name, host)
                name = f"version-{binary.name}.json"
                (out / name).write_bytes(raw)
                index[name] = {"plugin": binary.name, "command": "VERSION", "stdin": NEWEST}

            for var in VARIANTS:
                _, versions = supported_versions(plugin_dir, var.plugin, host)
                for version in versions:
                    name = f"{var.plugin}-{var.variant}-{version}.json"
                    data_dir = work / f"{var.plugin}-{var.variant}-{version}"
                    conf = var.config(version, str(data_dir), master)
                    stdin = json.dumps(conf).encode()
                    cid = f"corpus-{var.plugin}-{var.variant}"
                    with netns("cnigo-ctr") as ctr:
                        kw = {
                            "netns_path": f"/run/netns/{ctr}",
                            "container_id": cid,
                            "ifname": "eth0",
                        }
                        add = run_plugin(plugin_dir, var.plugin, "ADD", stdin, host, **kw)
                        del_conf = conf
                        try:
                            if add.returncode != 0 or not add.stdout.strip():
                                raise _fail(f"{name} ADD", add)
                            (out / name).write_bytes(add.stdout)
                            index[name] = {
                                "plugin": var.plugin,
                                "cniVersion": version,
                                "variant": var.variant,
                                "command": "ADD",
                                "config": _redact(conf, str(data_dir)),
                                "netns": kw["netns_path"],
                            }
                            with_prev = dict(conf, prevResult=json.loads(add.stdout))
                            if _vkey(version) >= CHECK_MIN:
                                del_conf = with_prev
                                chk = run_plugin(
                                    plugin_dir,
                                    var.plugin,
                                    "CHECK",
                                    json.dumps(with_prev).encode(),
                                    host,
                                    **kw,
                                )
                                if chk.returncode != 0:
                                    raise _fail(f"{name} CHECK", chk)
                        finally:
                            dele = run_plugin(
                                plugin_dir,
                                var.plugin,
                                "DEL",
                                json.dumps(del_conf).encode(),
                                host,
                                **kw,
                            )
                        if dele.returncode != 0:
                            raise _fail(f"{name} DEL", dele)
                    print(f"captured {name}", file=sys.stderr)

            for plugin, variant, version, builder in ERRORS:
                name = f"error-{plugin}-{variant}-{version}.json"
                conf = builder(version, str(work / name), master)
                raw = conf.pop("__raw__", None)
                stdin = raw.encode() if isinstance(raw, str) else json.dumps(conf).encode()
                with netns("cnigo-ctr") as ctr:
                    kw = {
                        "netns_path": f"/run/netns/{ctr}",
                        "container_id": "corpus-err",
                        "ifname": "eth0",
                    }
                    add = run_plugin(plugin_dir, plugin, "ADD", stdin, host, **kw)
                    if add.returncode == 0:
                        run_plugin(plugin_dir, plugin, "DEL", stdin, host, **kw)
                        raise RuntimeError(f"{name}: ADD unexpectedly succeeded: {add.stdout!r}")
                (out / name).write_bytes(add.stdout)
                index[name] = {
                    "plugin": plugin,
                    "cniVersion": version,
                    "variant": variant,
                    "command": "ADD",
                    "stdin": stdin.decode().replace(str(work / name), "$DATADIR"),
                    "exitCode": add.returncode,
                    "stderr": add.stderr.decode(errors="replace"),
                }
                print(f"captured {name}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return index


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--plugin-dir", type=Path, default=Path("/usr/lib/cni"))
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("must run as root (creates network namespaces)", file=sys.stderr)
        return 2
    out: Path = args.out
    staging = Path(tempfile.mkdtemp(prefix="cnigo-corpus-out-"))
    try:
        index = capture(args.plugin_dir, staging)
        (staging / "INDEX.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.json"):
            old.unlink()
        for new in sorted(staging.iterdir()):
            shutil.copyfile(new, out / new.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {len(index) + 1} files to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
