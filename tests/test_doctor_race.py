"""The doctor's repair racing a runtime: between the repair's last look at an attachment (a source
asked again) and its DEL, a runtime DELs the container and ADDs it again, only DELs it, or starts
an ADD of a container whose reservation looked orphaned. The guarded DEL
(``cnilib._engine._teardown.Guard``: under the attachment's lock, only while the cache entry and
intent record are what the examination read) never DELs what the runtime made. Debian's real
host-local and a recording fake plugin, on a node of files (as in ``test_doctor.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from test_doctor import LIVE, PLUGIN_DIR, Files, kinds

import cnilib
from cnilib import doctor
from cnilib.testing.plugins import RecordingPlugin, recording_plugin

pytestmark = pytest.mark.skipif(
    not os.access(f"{PLUGIN_DIR}/host-local", os.X_OK), reason="needs Debian's host-local"
)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


class Meanwhile(doctor.Source):
    """A source the repair asks again just before its DEL (the entry records no netns, so the sources
    decide): once armed, it first lets a runtime act, then answers "gone" as it did at the
    examination. That is the window between the doctor's last look and its DEL."""

    name = "meanwhile"

    def __init__(self, runtime: Callable[[], None]) -> None:
        self.runtime = runtime
        self.armed = False

    def state(self, container_id: str, ifname: str | None = None) -> doctor.Liveness:
        if self.armed:
            self.armed = False
            self.runtime()
        return doctor.Liveness.GONE


def _verbs(recorder: RecordingPlugin) -> list[str]:
    return [r.verb for r in recorder.records() if r.verb != "VERSION"]  # (the examination asks VERSION)


def _racing(files: Files) -> tuple[RecordingPlugin, cnilib.NetworkConfigList]:
    version = {"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}
    recorder = recording_plugin(
        files.fakes, "recorder", stdout={"ADD": {"cniVersion": "1.0.0"}, "VERSION": version}
    )
    files.write("lonet", [{"type": "recorder"}])  # host-local, then the recorder
    return recorder, cnilib.load_network(files.confdir, "lonet")


def test_a_del_and_re_add_between_the_last_look_and_the_del_is_not_touched(files: Files) -> None:
    recorder, conflist = _racing(files)
    files.attach("c-race", netns="")

    def restart() -> None:  # the runtime DELs the container and ADDs it again, in a new sandbox
        cni = files.cni()
        cni.delete(conflist, cnilib.RuntimeConfig(container_id="c-race", netns=LIVE))
        cni.add(conflist, cnilib.RuntimeConfig(container_id="c-race", netns=LIVE))

    source = Meanwhile(restart)
    d = files.diagnose(sources=[source])
    assert kinds(d) == [("stale_attachment", "c-race")]
    held = files.held()
    source.armed = True
    [finding] = doctor.repair(d).findings
    assert source.armed is False  # the runtime acted
    assert (finding.fixed, finding.error) == (
        False,
        "the attachment changed since the examination: not touched",
    )
    assert _verbs(recorder) == ["ADD", "DEL", "ADD"]  # no DEL of the new attachment
    [entry] = files.cni().cached_attachments("c-race")
    assert entry.netns == LIVE
    assert set(files.held().values()) == {"c-race"}
    assert files.held() != held  # host-local gave it the next address: the re-ADD's, kept


def test_an_attachment_deleted_between_the_last_look_and_the_del_counts_as_fixed(files: Files) -> None:
    recorder, conflist = _racing(files)
    files.attach("c-race", netns="")
    source = Meanwhile(
        lambda: files.cni().delete(conflist, cnilib.RuntimeConfig(container_id="c-race", netns=""))
    )
    d = files.diagnose(sources=[source])
    source.armed = True
    report = doctor.repair(d)
    assert [(f.fixed, f.error) for f in report.findings] == [(True, "")]
    assert _verbs(recorder) == ["ADD", "DEL"]  # the runtime's; none of the doctor's
    assert (files.entries(), files.held()) == ([], {})


def test_an_add_starting_between_the_last_look_and_a_reservations_del_is_not_touched(files: Files) -> None:
    recorder, conflist = _racing(files)
    files.attach("c-killed")
    os.unlink(files.cache_dir / "results" / "lonet-c-killed-eth0")  # a runtime killed before writing it
    rt = cnilib.RuntimeConfig(container_id="c-killed", netns=LIVE)
    # cnilib's ADD records its intent first, under the attachment's lock.
    source = Meanwhile(
        lambda: files.cni().cache.write_intent(cnilib.CacheEntry.create(conflist, rt, None).as_intent())
    )
    d = files.diagnose(sources=[source], grace=0)
    assert kinds(d) == [("orphan_reservation", "c-killed")]
    held = files.held()
    source.armed = True
    [finding] = doctor.repair(d).findings
    assert (finding.fixed, finding.error) == (False, "the container has an attachment now: not touched")
    assert _verbs(recorder) == ["ADD"]  # no DEL ran
    assert files.held() == held
