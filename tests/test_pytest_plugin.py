"""The fixtures cnilib's pytest plugin gives its users, used the way a user would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from engine_support import LIVE_NETNS

import cnilib
from cnilib.testing.fake import FakeExecutor, error_outcome, result_outcome
from cnilib.testing.plugins import recording_plugin

CONF = {
    "cniVersion": "1.0.0",
    "name": "unit",
    "plugins": [{"type": "bridge", "bridge": "br0"}, {"type": "tuning", "mtu": 1400}],
}
RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1"}], "dns": {}}


def test_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("cnilib")


def test_cni_fixture_runs_the_list_against_the_fake(
    cni: cnilib.CNI, cni_fake: FakeExecutor, cni_cache_dir: Path
) -> None:
    cni_fake.script("bridge", "ADD", result_outcome(RESULT))
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)
    result = cni.add(conflist, rt)
    assert result is not None
    assert result.all_addresses == ("10.1.0.2/24",)
    assert [(c.plugin, c.verb.value) for c in cni_fake.calls] == [("bridge", "ADD"), ("tuning", "ADD")]
    assert cni_fake.calls[1].config["prevResult"]["ips"][0]["address"] == "10.1.0.2/24"
    assert (cni_cache_dir / "results" / "unit-c1-eth0").is_file()


def test_scripted_error_surfaces_as_plugin_error(cni: cnilib.CNI, cni_fake: FakeExecutor) -> None:
    cni_fake.script("tuning", "ADD", error_outcome(7, "bad mtu", "mtu 1400 too big"))
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    with pytest.raises(cnilib.PluginError) as info:
        cni.add(conflist, cnilib.RuntimeConfig(container_id="c2", netns=LIVE_NETNS))
    assert (info.value.plugin, info.value.code, info.value.details) == ("tuning", 7, "mtu 1400 too big")


def test_async_cni_fixture(async_cni: cnilib.AsyncCNI) -> None:
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    rt = cnilib.RuntimeConfig(container_id="c3", netns=LIVE_NETNS)

    async def main() -> None:
        await async_cni.add(conflist, rt)
        await async_cni.delete(conflist, rt)

    asyncio.run(main())
    assert async_cni.cached_attachments() == []


def test_plugin_dir_takes_real_fake_plugins(cni_plugin_dir: Path, cni_cache_dir: Path) -> None:
    rec = recording_plugin(cni_plugin_dir, "recorder", stdout={"ADD": json.dumps(RESULT)})
    conf = {"cniVersion": "1.0.0", "name": "rec", "plugins": [{"type": "recorder", "x": 1}]}
    engine = cnilib.CNI(plugin_dirs=[str(cni_plugin_dir)], cache_dir=cni_cache_dir)
    engine.add(
        cnilib.NetworkConfigList.from_dict(conf), cnilib.RuntimeConfig(container_id="c4", netns=LIVE_NETNS)
    )
    [call] = rec.records()
    assert call.env["CNI_COMMAND"] == "ADD"
    assert json.loads(call.stdin) == {"type": "recorder", "x": 1, "name": "rec", "cniVersion": "1.0.0"}
