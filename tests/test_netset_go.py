"""cnilib.Networks side by side with containerd's go-cni (Debian's v1.1.7, through ``gocni``).

The same configuration directory and the same fake plugins (real executables) for both: the same
networks in the same order with the same interface names (``lo`` first, ``eth0`` the first file by
name, whatever its extension), the same default network, ``status()`` failing with too few networks,
and the same merged result.

Known differences, by design (pinned here):
- ``min_networks`` does not count the loopback network; go-cni's ``WithMinNetworkCount`` does
  (containerd passes 2 when it adds loopback), so cnilib's ``k`` is go-cni's ``k + 1``;
- an address whose result names no interface (a 0.2.0 result) is filed under the interface cnilib
  asked that network to create; go-cni files it under ``eth0`` whichever network returned it;
- DNS servers are merged without repeats; go-cni lists each result's DNS block.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import gotools
import pytest
from engine_support import LIVE_NETNS
from test_netset import fake_net, old_net

import cnilib

pytestmark = [pytest.mark.go, pytest.mark.root]

GOCNI_SOURCE = Path(__file__).resolve().parent / "go" / "gocni"
GOCNI_LIB = gotools.LIBCNI_GOPATH / "src" / "github.com" / "containerd" / "go-cni"


@pytest.fixture(scope="session")
def gocni(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (gotools.go_available() and (GOCNI_LIB / "cni.go").is_file()):
        pytest.skip("needs Go, golang-github-appc-cni-dev and golang-github-containerd-go-cni-dev")
    go = shutil.which("go")
    assert go is not None
    out = tmp_path_factory.mktemp("gocni")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(gotools.LIBCNI_GOPATH), "GOPROXY": "off"}
    env.update(GOFLAGS="", GOWORK="off", CGO_ENABLED="0")
    if not os.environ.get("HOME") and "GOCACHE" not in os.environ:
        digest = hashlib.sha256((GOCNI_SOURCE / "main.go").read_bytes()).hexdigest()[:12]
        env["GOCACHE"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"cnilib-gocni-{digest}")
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(out / "gocni"), "."],
        cwd=GOCNI_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "gocni"


def run_gocni(gocni: Path, tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    # go-cni gives libcni no cache directory (/var/lib/cni): a private mount namespace hides the
    # machine's /var/lib from it behind a directory of the test's.
    private = tmp_path / "gocni-var-lib"
    private.mkdir(exist_ok=True)
    script = 'mount --bind "$1" /var/lib && shift && exec "$@"'
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(private),
            str(gocni),
            *args,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    bindir, confdir = tmp_path / "bin", tmp_path / "net.d"
    confdir.mkdir()
    fake_net(bindir, "neta", "10.1.0.2/24", "10.1.0.1", dns="10.1.0.53")
    fake_net(bindir, "netb", "10.2.0.2/24", "10.2.0.1", dns="10.2.0.53")
    fake_net(bindir, "netc", "10.3.0.2/24", "10.3.0.1")
    fake_net(bindir, "loopback", "127.0.0.1/8", "127.0.0.1")
    old_net(bindir)
    (confdir / "10-b.conf").write_text('{"cniVersion":"1.0.0","name":"bnet","type":"netb"}')
    (confdir / "15-c.json").write_text('{"cniVersion":"0.4.0","name":"cnet","type":"netc"}')
    (confdir / "20-a.conflist").write_text('{"cniVersion":"1.0.0","name":"anet","plugins":[{"type":"neta"}]}')
    return bindir, confdir


def ours(dirs: tuple[Path, Path], tmp_path: Path, **kw: Any) -> cnilib.Networks:
    bindir, confdir = dirs
    return cnilib.Networks.from_dir(confdir, plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache", **kw)


@pytest.mark.parametrize(
    ("loopback", "max_networks", "prefix"),
    [(False, None, "eth"), (True, None, "eth"), (True, 1, "eth"), (False, 2, "net")],
)
def test_same_networks_names_and_default(
    gocni: Path,
    dirs: tuple[Path, Path],
    tmp_path: Path,
    loopback: bool,
    max_networks: int | None,
    prefix: str,
) -> None:
    bindir, confdir = dirs
    go = run_gocni(
        gocni,
        tmp_path,
        "config",
        str(confdir),
        str(bindir),
        GOCNI_LO="1" if loopback else "0",
        GOCNI_MAX=str(max_networks or 0),
        GOCNI_PREFIX=prefix,
    )
    cfg = ours(dirs, tmp_path, loopback=loopback, max_networks=max_networks, interface_prefix=prefix).config()
    assert [[n.ifname, n.name] for n in cfg.networks] == go["networks"]
    assert cfg.default is not None
    assert [cfg.default.ifname, cfg.default.name] == next(n for n in go["networks"] if n[0] != "lo")
    assert go["load_error"] is None


@pytest.mark.parametrize("wanted", [2, 3, 4])
def test_status_fails_with_too_few_networks(
    gocni: Path, dirs: tuple[Path, Path], tmp_path: Path, wanted: int
) -> None:
    bindir, confdir = dirs
    # go-cni counts its loopback network: containerd's "2 with loopback" is cnilib's 1.
    go = run_gocni(
        gocni, tmp_path, "config", str(confdir), str(bindir), GOCNI_LO="1", GOCNI_MIN=str(wanted + 1)
    )
    nets = ours(dirs, tmp_path, loopback=True, min_networks=wanted)
    try:
        nets.status()
        ours_ok = True
    except cnilib.NetworksNotReadyError:
        ours_ok = False
    assert ours_ok == (go["status_error"] is None) == (wanted <= 3)


def test_status_of_an_empty_directory(gocni: Path, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bindir, _ = dirs
    empty = tmp_path / "empty"
    empty.mkdir()
    go = run_gocni(gocni, tmp_path, "config", str(empty), str(bindir), GOCNI_LO="1", GOCNI_MIN="2")
    assert go["status_error"] is not None
    assert "no network config found" in go["load_error"]
    nets = cnilib.Networks.from_dir(empty, plugin_dirs=[str(bindir)], cache_dir=tmp_path / "c", loopback=True)
    with pytest.raises(cnilib.NetworksNotReadyError):
        nets.status()


def _ours_view(att: cnilib.Attachment) -> dict[str, Any]:
    return {
        name: {
            "ips": [str(ip.ip) for ip in iface.ips],
            "gateways": [str(a.gateway) for a in iface.addresses if a.gateway is not None],
            "mac": iface.mac or "",
            "sandbox": iface.sandbox or "",
        }
        for name, iface in att.interfaces.items()
    }


def test_same_merged_result(gocni: Path, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bindir, confdir = dirs
    go = run_gocni(gocni, tmp_path, "setup", str(confdir), str(bindir), "ctr1", LIVE_NETNS, GOCNI_LO="1")
    att = ours(dirs, tmp_path, loopback=True).setup("ctr1", LIVE_NETNS)
    assert _ours_view(att) == go["interfaces"]
    assert sorted(att.interfaces) == [
        "eth0",
        "eth1",
        "eth2",
        "host-eth0",
        "host-eth1",
        "host-eth2",
        "host-lo",
        "lo",
    ]
    assert [str(r.destination) for r in att.routes] == go["routes"]
    assert list(att.dns.nameservers) == list(dict.fromkeys(go["nameservers"]))


def test_address_without_interface_index(gocni: Path, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bindir, confdir = dirs
    (confdir / "30-old.conf").write_text('{"cniVersion":"0.2.0","name":"onet","type":"oldnet"}')
    go = run_gocni(gocni, tmp_path, "setup", str(confdir), str(bindir), "ctr1", LIVE_NETNS)
    att = ours(dirs, tmp_path).setup("ctr1", LIVE_NETNS)
    # go-cni: under eth0, beside the default network's own address; cnilib: on eth3, onet's.
    assert go["interfaces"]["eth0"]["ips"] == ["10.2.0.2", "10.9.0.5"]
    assert "eth3" not in go["interfaces"]
    assert [str(ip.ip) for ip in att.interfaces["eth0"].ips] == ["10.2.0.2"]
    assert [str(ip.ip) for ip in att.interfaces["eth3"].ips] == ["10.9.0.5"]
