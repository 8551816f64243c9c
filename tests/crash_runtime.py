"""Helper of tests/test_crash_real.py and tests/test_kill_real.py: a runtime to kill mid-operation.

Usage: ``python crash_runtime.py SPEC`` (SPEC: a JSON object with ``conf``, ``cache``, ``netns``
(container namespace paths), ``ports`` (one host port per container, or null for none), ``seed``,
and optionally ``front`` and ``once``). Run inside the sandbox host namespace (the tests start it
under ``nsenter``), so the plugins run there directly. Prints ``ready`` before the first operation,
then loops forever: a random container is DELeted if it is attached, else ADDed (with a port
mapping). ``once``: one ADD of the first container, then exit. The tests send a signal at a
random moment (or once a plugin said it started).

``front`` says which front end runs the operations: ``CNI`` (``cnilib.CNI``, the default),
``AsyncCNI``, or ``cli``: ``cnilib add``/``del`` through the command line's entry point in this
process (its fast path and its signal handling, exactly as the ``cnilib`` program runs them).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnilib import CNI, AsyncCNI, NetworkConfigList, RuntimeConfig
from cnilib._cli import main as cli_main


def _caps(port: int | None) -> dict[str, Any]:
    if port is None:
        return {}
    return {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]}


def _api_ops(spec: dict[str, Any]) -> tuple[Callable[[int], object], Callable[[int], object]]:
    conf = NetworkConfigList.from_file(spec["conf"])
    dirs = spec.get("plugin_dirs", ["/usr/lib/cni"])
    rts = [
        RuntimeConfig(container_id=f"crash-{i}", netns=path, capability_args=_caps(port))
        for i, (path, port) in enumerate(zip(spec["netns"], spec["ports"], strict=True))
    ]
    if spec.get("front") == "AsyncCNI":
        acni = AsyncCNI(dirs, spec["cache"], timeout=60)
        return (lambda i: asyncio.run(acni.add(conf, rts[i]))), (
            lambda i: asyncio.run(acni.delete(conf, rts[i]))
        )
    cni = CNI(dirs, spec["cache"], timeout=60)
    return (lambda i: cni.add(conf, rts[i])), (lambda i: cni.delete(conf, rts[i]))


def _cli_ops(spec: dict[str, Any]) -> tuple[Callable[[int], object], Callable[[int], object]]:
    name = json.loads(Path(spec["conf"]).read_bytes())["name"]
    os.environ.update(
        NETCONFPATH=os.path.dirname(spec["conf"]),
        CNI_PATH=":".join(spec.get("plugin_dirs", ["/usr/lib/cni"])),
        CNI_CACHE_DIR=spec["cache"],
    )

    def run(verb: str, i: int) -> None:
        os.environ["CAP_ARGS"] = json.dumps(_caps(spec["ports"][i]))
        rc = cli_main([verb, name, spec["netns"][i]])
        if rc >= 128:  # stopped by a signal: the command cleaned up, then said so
            sys.exit(rc)
        if rc != 0:
            raise SystemExit(f"cnilib {verb} failed by itself: exit status {rc}")

    return (lambda i: run("add", i)), (lambda i: run("del", i))


def main() -> None:
    """ADD/DEL forever (or one ADD)."""
    spec = json.loads(sys.argv[1])
    rnd = random.Random(spec["seed"])
    add, delete = _cli_ops(spec) if spec.get("front") == "cli" else _api_ops(spec)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if spec.get("once"):
        add(0)
        return
    attached: set[int] = set()  # every round starts after a GC that left nothing
    while True:
        i = rnd.randrange(len(spec["netns"]))
        if i in attached:
            delete(i)
            attached.discard(i)
        else:
            add(i)
            attached.add(i)


if __name__ == "__main__":
    main()
