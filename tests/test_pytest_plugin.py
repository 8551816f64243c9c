"""The fixtures cnilib's pytest plugin gives its users, used the way a user would."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
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
    cnilib_cni: cnilib.CNI, cnilib_fake: FakeExecutor, cnilib_cache_dir: Path
) -> None:
    cnilib_fake.script("bridge", "ADD", result_outcome(RESULT))
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    rt = cnilib.RuntimeConfig(container_id="c1", netns="/run/netns/c1")
    result = cnilib_cni.add(conflist, rt)
    assert result is not None
    assert result.all_addresses == ("10.1.0.2/24",)
    assert [(c.plugin, c.verb.value) for c in cnilib_fake.calls] == [("bridge", "ADD"), ("tuning", "ADD")]
    assert cnilib_fake.calls[1].config["prevResult"]["ips"][0]["address"] == "10.1.0.2/24"
    assert (cnilib_cache_dir / "results" / "unit-c1-eth0").is_file()


def test_scripted_error_surfaces_as_plugin_error(cnilib_cni: cnilib.CNI, cnilib_fake: FakeExecutor) -> None:
    cnilib_fake.script("tuning", "ADD", error_outcome(7, "bad mtu", "mtu 1400 too big"))
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    with pytest.raises(cnilib.PluginError) as info:
        cnilib_cni.add(conflist, cnilib.RuntimeConfig(container_id="c2", netns="/run/netns/c2"))
    assert (info.value.plugin, info.value.code, info.value.details) == ("tuning", 7, "mtu 1400 too big")


def test_async_cni_fixture(cnilib_async_cni: cnilib.AsyncCNI) -> None:
    conflist = cnilib.NetworkConfigList.from_dict(CONF)
    rt = cnilib.RuntimeConfig(container_id="c3", netns=LIVE_NETNS)

    async def main() -> None:
        await cnilib_async_cni.add(conflist, rt)
        await cnilib_async_cni.delete(conflist, rt)

    asyncio.run(main())
    assert cnilib_async_cni.cached_attachments() == []


def test_plugin_dir_takes_real_fake_plugins(cnilib_plugin_dir: Path, cnilib_cache_dir: Path) -> None:
    rec = recording_plugin(cnilib_plugin_dir, "recorder", stdout={"ADD": json.dumps(RESULT)})
    conf = {"cniVersion": "1.0.0", "name": "rec", "plugins": [{"type": "recorder", "x": 1}]}
    engine = cnilib.CNI(plugin_dirs=[str(cnilib_plugin_dir)], cache_dir=cnilib_cache_dir)
    engine.add(
        cnilib.NetworkConfigList.from_dict(conf),
        cnilib.RuntimeConfig(container_id="c4", netns="/proc/self/ns/net"),
    )
    [call] = rec.records()
    assert call.env["CNI_COMMAND"] == "ADD"
    assert json.loads(call.stdin) == {"type": "recorder", "x": 1, "name": "rec", "cniVersion": "1.0.0"}


# -- as a user's pytest run meets the plugin: a project of its own, pytest in a process of its own ----

NAMESPACED = {
    "cnilib_fake",
    "cnilib_async_fake",
    "cnilib_cache_dir",
    "cnilib_plugin_dir",
    "cnilib_cni",
    "cnilib_async_cni",
    "cnilib_sandbox",
}
MARKERS = {"cnilib_sandbox_strict", "cnilib_sandbox_leaks_ok"}


def _user_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_every_pytest_run_gets_only_namespaced_names(tmp_path: Path) -> None:
    # Any pytest run in an environment where cnilib is installed: nothing of the user's mentions cnilib.
    (tmp_path / "test_unrelated.py").write_text("def test_unrelated():\n    pass\n")
    proc = _user_pytest(tmp_path, "--fixtures")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = proc.stdout.split("fixtures defined from cnilib.testing.pytest_plugin", 1)[1]
    ours = ours.split(" fixtures defined from ", 1)[0]
    assert set(re.findall(r"^(\w+) -- ", ours, re.MULTILINE)) == NAMESPACED
    every_fixture = set(re.findall(r"^(\w+)(?: \[\w+ scope\])? -- ", proc.stdout, re.MULTILINE))
    assert not {"cni", "async_cni"} & every_fixture
    assert not [name for name in every_fixture if name.startswith("cni_")]
    proc = _user_pytest(tmp_path, "--markers")
    markers = set(re.findall(r"^@pytest\.mark\.(\w+)", proc.stdout, re.MULTILINE))
    assert markers >= MARKERS
    assert not [name for name in markers if name.startswith("cni_")]


def test_a_users_own_generic_fixture_names_are_theirs(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef cni():\n    return 'the user'\n"
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import pytest
            import cnilib

            CONF = cnilib.NetworkConfigList.from_dict({CONF!r})


            def test_both(cni, cnilib_cni, cnilib_fake):
                assert cni == "the user"
                cnilib_cni.add(CONF, cnilib.RuntimeConfig(container_id="c1", netns="/run/netns/c1"))
                assert [c.plugin for c in cnilib_fake.calls] == ["bridge", "tuning"]


            def test_no_generic_name(request):
                with pytest.raises(pytest.FixtureLookupError):
                    request.getfixturevalue("async_cni")
            """
        )
    )
    proc = _user_pytest(tmp_path, "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
