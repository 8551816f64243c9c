"""The checks of :data:`~cnilib.conformance.CHECKS`, one function per group: the VERSION reply,
the error objects, the lifecycle (ADD, CHECK, DEL), the DEL cases, chained use, STATUS and GC."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cnilib.sandbox import Container, Inventory

from ._report import Status, _vt
from ._run import _KNOWN_VERSIONS, _Call, _Run, _validate_result


def _version_reply(run: _Run, only: Sequence[str] | None) -> list[str]:
    """VERSION, and the versions to run: those the plugin claims (and cnilib knows), or ``only``."""
    call = run.call("VERSION", {"cniVersion": "0.1.0"}, None, "conformance")
    doc = call.doc
    ok = (
        call.ok
        and isinstance(doc, dict)
        and isinstance(doc.get("cniVersion"), str)
        and isinstance(doc.get("supportedVersions"), list)
        and all(isinstance(v, str) for v in doc["supportedVersions"])
    )
    claimed: list[str] = []
    if isinstance(doc, dict) and isinstance(doc.get("supportedVersions"), list):
        claimed = [v for v in _KNOWN_VERSIONS if v in doc["supportedVersions"]]
    # Known before the first check is reported: a report's heading names them.
    run.versions = tuple(_iter_versions(claimed, only))
    run.record("version-reply", "pass" if ok else "fail", call.evidence())
    return list(run.versions)


def _errors(run: _Run, newest: str) -> None:
    ctr = run.new_container("e")
    call = run.call("ADD", b"{this is not json", ctr, "conformance-bad")
    doc = call.doc
    good = isinstance(doc, dict) and isinstance(doc.get("code"), int) and isinstance(doc.get("msg"), str)
    run.record("error-bad-config", "pass" if good and not call.ok else "fail", call.evidence())
    run.prepare()
    conf = run.conf("99.0.0")
    call = run.call("ADD", conf, ctr, "conformance-ver")
    doc = call.doc
    good = isinstance(doc, dict) and doc.get("code") == 1 and isinstance(doc.get("msg"), str)
    run.record("error-unsupported-version", "pass" if good and not call.ok else "fail", call.evidence())
    if call.ok:  # it added something after all: take it away again
        run.call("DEL", run.conf(newest), ctr, "conformance-ver")
    run.sb.remove_container(ctr)


def _lifecycle(run: _Run, v: str) -> None:
    """ADD, CHECK, DEL, DEL at version ``v``, and what it left."""
    meta = run.spec.kind == "meta"
    if meta and _vt(v) < (0, 3, 0):
        for check in (
            "add-result-valid",
            "result-version",
            "check-after-add",
            "del",
            "del-twice",
            "no-leaks",
        ):
            run.record(check, "skip", "a chained plugin needs 0.3.0 or newer (prevResult)", v)
        return
    ctr = run.new_container("c")
    n = run.counter
    prev = run.harness_prev(ctr, v) if meta else None
    run.prepare()
    before = run.sb.inventory()
    cid = f"conformance-{n}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    _judge_add(run, add, v, ctr)
    with_result = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    if _vt(v) < (0, 4, 0):
        run.record("check-after-add", "skip", "CHECK needs 0.4.0", v)
    elif not add.ok:
        run.record("check-after-add", "skip", "ADD failed", v)
    else:
        checked = run.call("CHECK", with_result, ctr, cid)
        run.record("check-after-add", "pass" if checked.ok else "fail", checked.evidence(), v)
    first = run.call("DEL", with_result, ctr, cid)
    run.record("del", "pass" if first.ok else "fail", first.evidence(), v)
    second = run.call("DEL", with_result, ctr, cid)
    run.record("del-twice", "pass" if second.ok else "fail", second.evidence(), v)
    if meta:
        run.drop_harness(n)
        run.sb.run(["ip", "link", "del", "eth0"], netns=ctr, check=False)
    _judge_leaks(run, before, v)
    run.sb.remove_container(ctr)


def _judge_add(run: _Run, add: _Call, v: str, ctr: Container) -> None:
    if not add.ok:
        run.record("add-result-valid", "fail", add.evidence(), v)
        run.record("result-version", "skip", "ADD failed", v)
        return
    problems = _validate_result(add.doc, v, run.spec.kind, ctr.path)
    evidence = "; ".join(problems) + " in " + add.evidence() if problems else add.evidence()
    run.record("add-result-valid", "fail" if problems else "pass", evidence, v)
    got = add.doc.get("cniVersion") if isinstance(add.doc, dict) else None
    status: Status = "pass" if got == v else "fail"
    run.record("result-version", status, f"asked for {v}, the result says {got!r}", v)


def _judge_leaks(run: _Run, before: Inventory, v: str) -> None:
    left = run.sb.inventory() - before
    if left:
        run.record("no-leaks", "fail", "left after DEL: " + "; ".join(str(i) for i in left), v)
    else:
        run.record("no-leaks", "pass", f"{len(before)} items before ADD, the same after DEL", v)


def _del_cases(run: _Run, v: str) -> None:
    meta = run.spec.kind == "meta"
    ctr = run.new_container("d")
    call = run.call("DEL", run.conf(v), ctr, f"conformance-never-{run.counter}")
    run.record("del-without-add", "pass" if call.ok else "fail", call.evidence(), v)
    run.sb.remove_container(ctr)
    if meta and _vt(v) < (0, 3, 0):
        run.record("del-netns-gone", "skip", "a chained plugin needs 0.3.0 or newer", v)
        return
    ctr = run.new_container("g")
    n = run.counter
    prev = run.harness_prev(ctr, v) if meta else None
    run.prepare()
    cid = f"conformance-gone-{n}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    run.sb.remove_container(ctr)
    if meta:
        run.drop_harness(n)
    if not add.ok:
        run.record("del-netns-gone", "skip", "ADD failed: " + add.evidence(), v)
        return
    conf = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    call = run.call("DEL", conf, Container(ctr.name, ctr.path), cid)
    run.record("del-netns-gone", "pass" if call.ok else "fail", call.evidence(), v)


def _chained(run: _Run, v: str) -> None:
    kind = run.spec.kind
    if kind == "ipam":
        run.record("chained-prevresult", "skip", "an IPAM plugin is not chained", v)
        return
    if _vt(v) < (0, 3, 0):
        run.record("chained-prevresult", "skip", "prevResult needs 0.3.0", v)
        return
    if kind == "meta":
        run.record("chained-prevresult", "pass", "every ADD above carried a prevResult", v)
        return
    # A main plugin placed after another one: the earlier plugin's result arrives as prevResult.
    ctr = run.new_container("p")
    prev = {"cniVersion": v, "interfaces": [{"name": "earlier0"}], "ips": [], "routes": [], "dns": {}}
    run.prepare()
    cid = f"conformance-chain-{run.counter}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    run.record("chained-prevresult", "pass" if add.ok else "fail", add.evidence(), v)
    run.call("DEL", run.conf(v, add.doc if isinstance(add.doc, dict) else prev), ctr, cid)
    run.sb.remove_container(ctr)


def _status_gc(run: _Run, versions: Sequence[str]) -> None:
    if "1.1.0" not in versions:
        for check in ("status", "gc"):
            run.record(check, "skip", "the plugin does not claim 1.1.0")
        return
    call = run.call("STATUS", run.conf("1.1.0"), None, "conformance")
    run.record("status", "pass" if call.ok else "fail", call.evidence())
    conf = {**run.conf("1.1.0"), "cni.dev/valid-attachments": []}
    call = run.call("GC", conf, None, "conformance")
    run.record("gc", "pass" if call.ok else "fail", call.evidence())


def _warm_up(run: _Run, v: str) -> None:
    # Shared state a plugin keeps on purpose (the bridge, chains every attachment uses) is made
    # once here, so that "no-leaks" compares attachments, not the first one with an empty world.
    if run.spec.kind == "meta" and _vt(v) < (0, 3, 0):
        return
    ctr = run.new_container("w")
    n = run.counter
    prev = run.harness_prev(ctr, v) if run.spec.kind == "meta" else None
    run.prepare()
    add = run.call("ADD", run.conf(v, prev), ctr, f"conformance-warm-{n}")
    conf = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    run.call("DEL", conf, ctr, f"conformance-warm-{n}")
    if prev is not None:
        run.drop_harness(n)
    run.sb.remove_container(ctr)


def _iter_versions(versions: Sequence[str], only: Sequence[str] | None) -> Iterator[str]:
    for v in versions:
        if only is None or v in only:
            yield v
