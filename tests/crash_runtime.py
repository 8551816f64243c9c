"""Helper of tests/test_crash_real.py: a runtime that ADDs and DELs containers until it is killed.

Usage: ``python crash_runtime.py SPEC`` (SPEC: a JSON object with ``conf``, ``cache``, ``netns``
(container namespace paths), ``ports`` (one host port per container) and ``seed``). Run inside the
sandbox host namespace (the test starts it under ``nsenter``), so the plugins run there directly.
Prints ``ready`` before the first operation, then loops forever: a random container is DELeted if
it is attached, else ADDed with a port mapping. The test sends SIGKILL at a random moment.
"""

from __future__ import annotations

import json
import random
import sys

from cnilib import CNI, NetworkConfigList, RuntimeConfig


def main() -> None:
    """ADD/DEL forever."""
    spec = json.loads(sys.argv[1])
    rnd = random.Random(spec["seed"])
    conf = NetworkConfigList.from_file(spec["conf"])
    cni = CNI(["/usr/lib/cni"], spec["cache"], timeout=60)
    rts = [
        RuntimeConfig(
            container_id=f"crash-{i}",
            netns=path,
            capability_args={"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]},
        )
        for i, (path, port) in enumerate(zip(spec["netns"], spec["ports"], strict=True))
    ]
    attached: set[int] = set()  # every round starts after a GC that left nothing
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        i = rnd.randrange(len(rts))
        if i in attached:
            cni.delete(conf, rts[i])
            attached.discard(i)
        else:
            cni.add(conf, rts[i])
            attached.add(i)


if __name__ == "__main__":
    main()
