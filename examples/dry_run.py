"""Show exactly what each plugin of a list would receive, without running anything.

Run: python examples/dry_run.py
"""

from __future__ import annotations

import json
import tempfile

import cnilib

CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "web",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "tuning", "mtu": 1400},
    ],
}


def main() -> None:
    conflist = cnilib.NetworkConfigList.from_dict(CONFLIST)
    rt = cnilib.RuntimeConfig(
        container_id="web-1",
        netns="/run/netns/web-1",
        args={"K8S_POD_NAME": "web"},
        capability_args={"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
    )
    with tempfile.TemporaryDirectory() as cache:
        cni = cnilib.CNI(plugin_dirs=["/usr/lib/cni"], cache_dir=cache)
        for call in cni.explain("ADD", conflist, rt):
            print(f"--- plugins[{call.index}] {call.plugin} ({call.plugin_path or call.problem})")
            for key, value in call.env.items():
                print(f"    {key}={value}")
            print("    stdin:", json.dumps(call.stdin, indent=2).replace("\n", "\n    "))


if __name__ == "__main__":
    main()
