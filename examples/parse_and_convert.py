"""Parse a plugin result and convert it to every CNI version (no root, no plugins needed).

Run: python examples/parse_and_convert.py
"""

from __future__ import annotations

import cnilib

BRIDGE_RESULT = b"""{
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "cni_bridge1", "mac": "6a:1f:3c:00:00:01"},
    {"name": "veth1234", "mac": "6a:1f:3c:00:00:02"},
    {"name": "eth0", "mac": "6a:1f:3c:00:00:03", "sandbox": "/run/netns/ctr"}
  ],
  "ips": [{"interface": 2, "address": "10.15.30.100/24", "gateway": "10.15.30.99"}],
  "routes": [{"dst": "0.0.0.0/0"}, {"dst": "1.1.1.1/32", "gw": "10.15.30.1"}],
  "dns": {}
}"""


def main() -> None:
    result = cnilib.parse_result(BRIDGE_RESULT)
    print(f"parsed a {type(result).__name__}: addresses {result.all_addresses}")
    for version in cnilib.SUPPORTED_VERSIONS:
        print(f"{version:>6}  {result.convert_to(version).to_json()}")
    try:
        cnilib.parse_result(b'{"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}')
    except cnilib.ResultError as exc:
        print(f"a bad result is a typed error with its JSON path: {exc}")


if __name__ == "__main__":
    main()
