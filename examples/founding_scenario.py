"""The founding scenario end to end: a ``--net=none`` container attached to a CNI bridge network.

This is the README's main job (``bash scripts/main-job.sh`` runs it after installing what it needs).
As root, it:

1. creates a sandbox "host" network namespace; the real plugins run there (``nsenter --net``), so
   the bridge, the veths and the iptables rules live and die with it;
2. starts a container running a web server on port 80 with no networking: with Docker when an engine
   can be started here (a private ``dockerd`` inside the sandbox namespace, ``docker run --net=none``
   of a busybox image built offline), else an ``ip netns`` namespace running ``busybox httpd``;
3. attaches it (``cnilib.docker.attach`` / ``CNI.add``) to the ``mybridge`` network, the exact 0.2.0
   configuration of the scenario, and prints the result;
4. checks the result, the container's eth0 and routes, the bridge, ipMasq's NAT chain, and fetches
   ``http://10.15.30.100/`` from the host namespace (the only address anything is sent to);
5. detaches it (DEL) and checks that eth0, the NAT chain and the reserved address are gone;
6. on the Docker path, does it again without hands: ``cnilib docker watch`` runs in the sandbox
   namespace, the same container is started with ``--label cnilib.networks=mybridge``, the watcher
   attaches it (the same checks and page), ``docker rm -f`` removes it, and the watcher's DEL frees
   the address in host-local's store;
7. removes everything it made (namespaces, engine, temporary files), also on failure.

Usage: ``python examples/founding_scenario.py [--netns | --docker] [--keep]``. Exit status 0 when
every check passed (last line ``PASS …``), 1 otherwise (``FAIL …``). Nothing here touches the
machine's own network namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import cnilib
from cnilib import docker, netns
from cnilib.testing.dockerd import INDEX_HTML, PrivateDockerd, docker_available

PLUGIN_DIR = "/usr/lib/cni"
CONTAINER = "cnitest"
ADDRESS = "10.15.30.100"

#: The network configuration of the founding scenario, exactly (host-local's dataDir is added):
#: the same file works with ``NETCONFPATH=examples/net.d cnilib add mybridge NETNS``.
CONFIG_FILE = Path(__file__).resolve().parent / "net.d" / "10-mybridge.conf"
CONFIG: dict[str, Any] = json.loads(CONFIG_FILE.read_text())

# GET from inside the host namespace (run under nsenter), ignoring any *_proxy variables so the
# request can only go to the container. busybox 1.35's `wget -T` segfaults, hence Python.
_FETCH = (
    "import sys, urllib.request as u\n"
    "opener = u.build_opener(u.ProxyHandler({}))\n"
    "sys.stdout.write(opener.open(sys.argv[1], timeout=2).read().decode())\n"
)


class Checks:
    """Prints each check as it is made and remembers the failures."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0

    def __call__(self, ok: bool, what: str, detail: object = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed.append(what)
            print(f"  FAIL  {what}" + (f": {detail}" if detail != "" else ""))
        return ok


# -- looking into namespaces -----------------------------------------------------------------------


def ip_json(ns: str, *args: str) -> Any:
    out = netns.run(ns, ["ip", "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def link_names(ns: str) -> list[str]:
    return [link["ifname"] for link in ip_json(ns, "link", "show")]


def ipv4_addrs(ns: str, dev: str) -> list[str]:
    return [
        f"{a['local']}/{a['prefixlen']}"
        for link in ip_json(ns, "-4", "addr", "show", "dev", dev)
        for a in link.get("addr_info", [])
    ]


def ipv4_routes(ns: str, dev: str) -> set[tuple[str, str | None, str]]:
    return {
        (r["dst"], r.get("gateway"), r.get("scope", "global"))
        for r in ip_json(ns, "-4", "route", "show", "dev", dev)
    }


def nat_rules(ns: str) -> list[str]:
    return netns.run(ns, ["iptables", "-t", "nat", "-S"]).stdout.splitlines()


def masq_chains(ns: str, address: str) -> list[str]:
    """CNI-… chains that POSTROUTING sends traffic from ``address`` to (bridge's ipMasq)."""
    return [
        line.split(" -j ")[1].split()[0]
        for line in nat_rules(ns)
        if line.startswith(f"-A POSTROUTING -s {address}/32 ") and " -j CNI-" in line
    ]


def reserved(data_dir: Path) -> set[str]:
    """Addresses host-local holds for mybridge."""
    d = data_dir / CONFIG["name"]
    if not d.is_dir():
        return set()
    held = set()
    for name in os.listdir(d):
        with contextlib.suppress(ValueError):
            held.add(str(ipaddress.ip_address(name)))
    return held


def fetch(host_ns: str, url: str, attempts: int = 40) -> str:
    """GET ``url`` from the host namespace; retried briefly while the web server starts."""
    last = ""
    for _ in range(attempts):
        proc = netns.run(host_ns, [sys.executable, "-c", _FETCH, url], check=False, timeout=10)
        if proc.returncode == 0:
            return proc.stdout
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        time.sleep(0.05)
    raise RuntimeError(f"GET {url} failed: {last}")


# -- the two kinds of container --------------------------------------------------------------------


@contextlib.contextmanager
def netns_container(workdir: Path, keep: bool) -> Iterator[tuple[str, str]]:
    """An ``ip netns`` namespace running ``busybox httpd -f -p 80``; yields (netns path, page)."""
    www = workdir / "www"
    www.mkdir()
    page = "hello from the founding scenario (ip netns container)\n"
    (www / "index.html").write_text(page)
    ctr = netns.create()
    httpd: subprocess.Popen[bytes] | None = None
    try:
        httpd = subprocess.Popen(
            [*netns.enter_argv(ctr.path), "busybox", "httpd", "-f", "-p", "80", "-h", str(www)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        print(f"container: ip netns {ctr.name} ({ctr.path}) running busybox httpd, pid {httpd.pid}")
        yield ctr.path, page
    finally:
        if keep:
            print(f"kept: container namespace {ctr.name} (httpd pid {httpd and httpd.pid})")
        else:
            if httpd is not None:
                httpd.kill()
                httpd.wait()
            ctr.delete()


def start_engine(host_ns: str, workdir: Path) -> PrivateDockerd:
    engine = PrivateDockerd(netns=host_ns, base_dir=workdir, start_timeout=60)
    engine.start()
    return engine


# -- the scenario ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, check: Checks) -> str:
    """Run the scenario; returns the name of the path taken. Cleans up unless --keep."""
    workdir = Path(tempfile.mkdtemp(prefix="cnilib-founding-"))
    data_dir = workdir / "ipam"
    config = json.loads(json.dumps(CONFIG))
    config["ipam"]["dataDir"] = str(data_dir)
    conflist = cnilib.NetworkConfigList.from_dict(config)

    with contextlib.ExitStack() as stack:
        host = _sandbox(stack, workdir, keep=args.keep)
        cni = cnilib.CNI(
            plugin_dirs=[args.plugin_dir],
            cache_dir=workdir / "cache",
            argv_prefix=netns.enter_argv(host.path),
            timeout=60,
        )
        engine, why_not_docker = _choose_engine(args, host.path, workdir)
        if engine is not None:
            _keep_or_stop(stack, engine, workdir, keep=args.keep)
            return _docker_path(engine, cni, conflist, host_ns=host.path, data_dir=data_dir, check=check)
        print(f"path: ip netns ({why_not_docker})")
        ctr_path, page = stack.enter_context(netns_container(workdir, args.keep))
        _netns_path(cni, conflist, ctr=ctr_path, host_ns=host.path, data_dir=data_dir, page=page, check=check)
        return "ip netns"


def _sandbox(stack: contextlib.ExitStack, workdir: Path, *, keep: bool) -> netns.NetNS:
    """The work directory's clean-up and the sandbox host namespace (both kept with --keep)."""
    if keep:
        print(f"kept: work directory {workdir}")
    else:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    host = netns.create(loopback_up=True)
    if keep:
        print(f"kept: sandbox host namespace {host.name} (remove: ip netns del {host.name})")
    else:
        stack.callback(host.delete)
    print(f"sandbox host namespace: {host.path}")
    return host


def _choose_engine(
    args: argparse.Namespace, host_ns: str, workdir: Path
) -> tuple[PrivateDockerd | None, str]:
    """A private Docker engine when one can run (and --netns is not given), else why not."""
    if args.netns:
        return None, "--netns given"
    engine: PrivateDockerd | None = None
    why_not_docker = ""
    if docker_available():
        try:
            engine = start_engine(host_ns, workdir)
        except Exception as exc:  # any failure means: use the other path
            why_not_docker = f"the private Docker engine did not start: {exc}"
    else:
        why_not_docker = "no Docker engine can run here (needs root, docker.io, busybox-static)"
    if engine is None and args.docker:
        raise RuntimeError(f"--docker: {why_not_docker}")
    return engine, why_not_docker


def _keep_or_stop(stack: contextlib.ExitStack, engine: PrivateDockerd, workdir: Path, *, keep: bool) -> None:
    if keep:
        cgroup = engine.cgroup_parent.strip("/")
        print(
            f"kept: private dockerd pid {engine.pid}, {engine.host}; to remove it: "
            f"/usr/bin/docker -H {engine.host} rm -f {CONTAINER}; kill {engine.pid}; "
            f"then rmdir /sys/fs/cgroup/*/{cgroup} and rm -rf {workdir}"
        )
    else:
        stack.callback(engine.stop)


def _netns_path(
    cni: cnilib.CNI,
    conflist: cnilib.NetworkConfigList,
    *,
    ctr: str,
    host_ns: str,
    data_dir: Path,
    page: str,
    check: Checks,
) -> None:
    rt = cnilib.RuntimeConfig(container_id=CONTAINER, netns=ctr, ifname="eth0")
    print(f"ADD mybridge for {CONTAINER}, CNI_NETNS={ctr}")
    result = cni.add(conflist, rt)
    try:
        verify_added(result, ctr=ctr, host=host_ns, data_dir=data_dir, page=page, check=check)
    finally:
        print(f"DEL mybridge for {CONTAINER}")
        cni.delete(conflist, rt)
    verify_deleted(ctr, host_ns, data_dir, check)


def _docker_path(
    engine: PrivateDockerd,
    cni: cnilib.CNI,
    conflist: cnilib.NetworkConfigList,
    *,
    host_ns: str,
    data_dir: Path,
    check: Checks,
) -> str:
    version = engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    print(f"path: docker (private dockerd {version} in the sandbox namespace, {engine.host})")
    image = engine.build_busybox_image()
    cid = engine.run_container(CONTAINER, image)  # docker run -d --name cnitest --net=none IMAGE
    info = docker.inspect(CONTAINER, host=engine.host)
    print(f"container: {CONTAINER} {info.id[:12]}, SandboxKey {info.sandbox_key}")
    check(info.id == cid and info.network_mode == "none", "docker inspect: full id, --net=none")
    ctr_path = docker.netns_path(info)
    print(f"ADD mybridge for {info.id[:12]}, CNI_NETNS={ctr_path}")
    result = docker.attach(cni, CONTAINER, conflist, host=engine.host)
    try:
        verify_added(result, ctr=ctr_path, host=host_ns, data_dir=data_dir, page=INDEX_HTML, check=check)
    finally:
        print(f"DEL mybridge for {info.id[:12]}")
        docker.detach(cni, CONTAINER, conflist, host=engine.host)
    verify_deleted(ctr_path, host_ns, data_dir, check)
    engine.remove_container(CONTAINER)
    _watch_path(engine, image, host_ns=host_ns, workdir=data_dir.parent, check=check)
    return "docker, then docker watch"


def _wait(
    what: str, predicate: Callable[[], bool], watcher: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if watcher.poll() is not None:
            raise RuntimeError(
                f"the watcher exited with status {watcher.returncode} while waiting for {what}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def _watch_path(engine: PrivateDockerd, image: str, *, host_ns: str, workdir: Path, check: Checks) -> None:
    """The same container, attached by ``cnilib docker watch`` because of its label, detached by
    the watcher when ``docker rm -f`` removes it."""
    print("path: docker watch (the same container, labelled cnilib.networks=mybridge)")
    conf, cache, data_dir = workdir / "watch-net.d", workdir / "watch-cache", workdir / "watch-ipam"
    conf.mkdir()
    config = json.loads(json.dumps(CONFIG))
    config["ipam"]["dataDir"] = str(data_dir)
    (conf / CONFIG_FILE.name).write_text(json.dumps(config))
    log_path = workdir / "watch.log"
    # The watcher runs as a service would, in the sandbox host namespace: its plugins inherit it.
    argv = [*netns.enter_argv(host_ns), sys.executable, "-m", "cnilib", "docker", "watch"]
    argv += ["--conf-dir", str(conf), "--cni-path", PLUGIN_DIR, "--cache-dir", str(cache)]
    argv += ["--docker-host", engine.host]
    print("watcher: cnilib docker watch " + " ".join(argv[argv.index("watch") + 1 :]))
    with open(log_path, "wb") as log:
        watcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def logged(action: str) -> list[str]:
        return [line for line in log_path.read_text().splitlines() if f" action={action} " in f"{line} "]

    try:
        _wait("the watcher's first reconciliation", lambda: bool(logged("reconcile")), watcher)
        cid = engine.run_container(CONTAINER, image, extra_args=["--label", "cnilib.networks=mybridge"])
        print(f"docker run -d --name {CONTAINER} --net=none --label cnilib.networks=mybridge: {cid[:12]}")
        entries = cnilib.ResultCache(cache)
        # The entry is written during the ADD; the watcher's log line follows once it returned.
        _wait(
            "the watcher's ADD",
            lambda: bool(entries.entries(container_id=cid)) and bool(logged("attach")),
            watcher,
        )
        [entry] = entries.entries(container_id=cid)
        print(f"  {logged('attach')[-1]}")
        ctr = docker.netns_path(docker.inspect(cid, host=engine.host))
        verify_added(
            entry.parsed_result(), ctr=ctr, host=host_ns, data_dir=data_dir, page=INDEX_HTML, check=check
        )
        print(f"docker rm -f {CONTAINER}")
        engine.docker("rm", "-f", CONTAINER)
        _wait(
            "the watcher's DEL",
            lambda: not entries.entries() and not reserved(data_dir) and bool(logged("detach")),
            watcher,
        )
        print(f"  {logged('detach')[-1]}")
        # The container and its namespace are gone: only the host side is left to check.
        verify_deleted("", host_ns, data_dir, check)
    finally:
        watcher.send_signal(signal.SIGTERM)
        status = watcher.wait(timeout=120)
    check(status == 0, "the watcher stopped cleanly on SIGTERM (exit status 0)", status)


def verify_added(
    result: cnilib.Result | None, *, ctr: str, host: str, data_dir: Path, page: str, check: Checks
) -> None:
    print("result:")
    print(result.to_json(indent=4) if result is not None else "null")
    if check(
        isinstance(result, cnilib.Result020) and result.cni_version == "0.2.0" and result.ip4 is not None,
        "a 0.2.0 result with ip4",
        type(result).__name__,
    ):
        assert isinstance(result, cnilib.Result020)
        assert result.ip4 is not None
        check(result.ip4.ip == f"{ADDRESS}/24", f"ip4.ip = {ADDRESS}/24", result.ip4.ip)
        check(result.ip4.gateway == "10.15.30.99", "ip4.gateway = 10.15.30.99", result.ip4.gateway)
        want = (cnilib.Route("0.0.0.0/0"), cnilib.Route("1.1.1.1/32", "10.15.30.1"))
        check(
            result.ip4.routes == want,
            "ip4.routes = 0.0.0.0/0, 1.1.1.1/32 via 10.15.30.1",
            result.ip4.routes,
        )
        check(not result.dns, "dns = {}", result.dns)

    print("inside the container:")
    check("eth0" in link_names(ctr), "eth0 exists", link_names(ctr))
    if "eth0" in link_names(ctr):
        got = ipv4_addrs(ctr, "eth0")
        check(got == [f"{ADDRESS}/24"], f"eth0 has {ADDRESS}/24", got)
        table = ipv4_routes(ctr, "eth0")
        for route, what in (
            (("default", "10.15.30.99", "global"), "default via 10.15.30.99"),
            (("1.1.1.1", "10.15.30.1", "global"), "1.1.1.1 via 10.15.30.1"),
            (("10.15.30.0/24", None, "link"), "10.15.30.0/24 dev eth0 scope link"),
        ):
            check(route in table, what, sorted(table, key=str))

    print("on the host side (sandbox host namespace):")
    bridge = "cni_bridge1" in link_names(host)
    check(bridge, "bridge cni_bridge1 exists")
    if bridge:
        got = ipv4_addrs(host, "cni_bridge1")
        check(got == ["10.15.30.99/24"], "cni_bridge1 holds 10.15.30.99/24", got)
        ports = [link["ifname"] for link in ip_json(host, "link", "show", "master", "cni_bridge1")]
        check(len(ports) == 1 and ports[0].startswith("veth"), "one veth on the bridge", ports)
    chains = masq_chains(host, ADDRESS)
    check(len(chains) == 1, f"a CNI-… NAT chain for {ADDRESS}: {', '.join(chains)}", chains)
    check(reserved(data_dir) == {ADDRESS}, f"host-local reserved {ADDRESS}", reserved(data_dir))

    print(f"GET http://{ADDRESS}/ from the host namespace:")
    try:
        body = fetch(host, f"http://{ADDRESS}/")
    except RuntimeError as exc:
        check(False, "the container's web server answers", exc)
    else:
        print(f"  {body.strip()!r}")
        check(body == page, "the container's web server answers with its page", body)


def verify_deleted(ctr: str, host: str, data_dir: Path, check: Checks) -> None:
    print("after DEL:")
    if os.path.exists(ctr):
        check("eth0" not in link_names(ctr), "no eth0 in the container", link_names(ctr))
    check(masq_chains(host, ADDRESS) == [], "no NAT chain left", masq_chains(host, ADDRESS))
    leftover = [line for line in nat_rules(host) if ADDRESS in line]
    check(not leftover, f"no NAT rule mentions {ADDRESS}", leftover)
    check(reserved(data_dir) == set(), "host-local's store holds no address", reserved(data_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--netns", action="store_true", help="use an ip netns container")
    which.add_argument("--docker", action="store_true", help="require the Docker path")
    parser.add_argument("--keep", action="store_true", help="keep namespaces, engine and files")
    parser.add_argument("--plugin-dir", default=PLUGIN_DIR, help=f"default {PLUGIN_DIR}")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # so that the cleanup in `finally` blocks runs

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    print(f"cnilib {cnilib.__version__}: the founding scenario")
    check = Checks()
    path = "none"
    try:
        if os.geteuid() != 0:
            raise RuntimeError("must run as root (network namespaces, iptables)")
        if not os.path.isfile(os.path.join(args.plugin_dir, "bridge")):
            raise RuntimeError(f"the CNI plugins are not in {args.plugin_dir}")
        path = run(args, check)
    except (Exception, KeyboardInterrupt) as exc:  # reported as FAIL below
        check(False, "the scenario ran to the end", f"{type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - started
    if check.failed:
        print(
            f"FAIL: {len(check.failed)} of {check.passed + len(check.failed)} checks failed "
            f"({path} path, {elapsed:.1f} s): {'; '.join(check.failed)}"
        )
        return 1
    print(f"PASS: {check.passed} checks on the {path} path in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
