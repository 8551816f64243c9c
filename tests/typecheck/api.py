"""The public API as users type it: checked by ``mypy --strict`` in CI (scripts/test.sh), not run.

If a public signature changes in a way that breaks typed callers, this file stops type-checking.
"""

from __future__ import annotations

from typing_extensions import assert_type

import cnilib
import cnilib.docker
import cnilib.netns
from cnilib.testing.fake import FakeExecutor, error_outcome, result_outcome


def sync_api(conflist: cnilib.NetworkConfigList) -> None:
    rt = cnilib.RuntimeConfig(
        container_id="abc",
        netns="/run/netns/x",
        ifname="eth0",
        args={"K8S_POD_NAME": "web"},
        capability_args={"portMappings": []},
    )
    cni = cnilib.CNI(plugin_dirs=["/usr/lib/cni"], cache_dir="/var/lib/cni", timeout=30.0)
    result = cni.add(conflist, rt)
    if result is not None:
        assert_type(result.convert_to("0.4.0"), cnilib.Result)
        assert_type(result.to_json(), str)
        assert_type(result.all_addresses, tuple[str, ...])
    cni.check(conflist, rt)
    cni.delete(conflist, rt)
    cni.gc(conflist, valid_attachments=[cnilib.GCAttachment(container_id="abc", ifname="eth0")])
    cni.status(conflist)
    assert_type(cni.version_info("bridge"), cnilib.VersionInfo)
    report = cni.validate(conflist)
    assert_type(report.ok, bool)
    assert_type(report.capabilities, tuple[str, ...])
    calls: list[cnilib.PlannedCall] = cni.explain("ADD", conflist, rt)
    assert_type(calls[0].env["CNI_COMMAND"], str)
    entries: list[cnilib.CacheEntry] = cni.cached_attachments(container_id="abc")
    assert_type(entries[0].runtime_config(), cnilib.RuntimeConfig)


def loading() -> cnilib.NetworkConfigList:
    conflist = cnilib.load_network("/etc/cni/net.d", "mybridge")
    assert_type(conflist.plugins, tuple[cnilib.PluginConfig, ...])
    assert_type(cnilib.NetworkConfigList.from_file("/etc/cni/net.d/10-x.conflist"), cnilib.NetworkConfigList)
    parsed = cnilib.parse_result(b'{"cniVersion": "1.0.0"}')
    assert_type(parsed.cni_version, str)
    return conflist


async def async_api(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    async with cnilib.AsyncCNI(plugin_dirs=["/usr/lib/cni"], timeout=5.0) as acni:
        await acni.add(conflist, rt)
        await acni.delete(conflist, rt)
        assert_type(await acni.version_info("loopback"), cnilib.VersionInfo)


def errors(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    fake = FakeExecutor()
    fake.script("bridge", "ADD", result_outcome({"cniVersion": "1.0.0"}), error_outcome(11, "busy"))
    cni = cnilib.CNI(executor=fake, retry=cnilib.RetryPolicy(attempts=3), rollback=True)
    try:
        cni.add(conflist, rt)
    except cnilib.PluginError as exc:
        assert_type(exc.code, int)
        assert_type(exc.stderr_text, str)
    except cnilib.PluginTimeoutError as exc:
        assert_type(exc.timeout, float)
    except cnilib.CNIError:
        pass


def namespaces_and_docker(cni: cnilib.CNI, conflist: cnilib.NetworkConfigList) -> None:
    with cnilib.netns.create() as ns:
        argv: list[str] = cnilib.netns.enter_argv(ns.path)
        del argv
    info = cnilib.docker.inspect("cnitest")
    assert_type(info.id, str)
    cnilib.docker.attach(cni, "cnitest", conflist)
    cnilib.docker.detach(cni, "cnitest", conflist)



def engine_recovery_and_bounds(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    cni = cnilib.CNI(concurrency=8)
    result = cni.add(conflist, rt)  # never None
    assert_type(result.all_addresses, tuple[str, ...])
    assert_type(cni.recover(), list[cnilib.CacheEntry])
    assert_type(cni.recover(conflist), list[cnilib.CacheEntry])
    assert_type(cni.concurrency, int | None)
    with cni.cache.lock(conflist.name, exclusive=True, timeout=1.0):
        pass
    executor: cnilib.Executor = cnilib.SubprocessExecutor()
    aexecutor: cnilib.AsyncExecutor = cnilib.AsyncSubprocessExecutor()
    del executor, aexecutor
    unbounded = cnilib.AsyncCNI(concurrency=None)
    del unbounded
