#!/usr/bin/env python3
"""A CNI 1.1.0 test plugin with STATUS and GC that records every call and keeps real state.

Configuration keys (besides ``type``/``name``/``cniVersion``):

* ``stateDir`` (required): one file per attachment, ``<containerID>@<ifname>``, holding the netns;
* ``logFile``: every call is appended as a JSON line ``{"env": {CNI_*}, "stdin": {...}}``;
* ``address``: the IPv4 CIDR put in the result of an ADD without ``prevResult``;
* ``statusFile``: when this file exists, STATUS fails with the code written in it (50 or 51).

ADD records the attachment and prints a 1.1.0 result (the prevResult plus one interface with the
1.1-only ``mtu`` field, or a fresh result); DEL forgets it (idempotent); CHECK fails with code 3
when it is unknown; GC forgets every attachment not in ``cni.dev/valid-attachments``; VERSION
lists 0.3.0 to 1.1.0. Standard library only: the tests run it with ``python -I -S``.
"""

import contextlib
import json
import os
import sys

CNI_VARS = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
SUPPORTED = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def fail(code, msg, details=""):
    json.dump({"cniVersion": "1.1.0", "code": code, "msg": msg, "details": details}, sys.stdout)
    sys.exit(1)


def state_path(conf, cid, ifname):
    return os.path.join(conf["stateDir"], f"{cid}@{ifname}")


def main():
    env = {k: os.environ[k] for k in CNI_VARS if k in os.environ}
    raw = sys.stdin.read()
    conf = json.loads(raw) if raw.strip() else {}
    if conf.get("logFile"):
        with open(conf["logFile"], "a") as fh:
            fh.write(json.dumps({"env": env, "stdin": conf}) + "\n")
    verb = env.get("CNI_COMMAND", "")
    if verb == "VERSION":
        json.dump({"cniVersion": "1.1.0", "supportedVersions": SUPPORTED}, sys.stdout)
        return
    if conf.get("cniVersion") not in SUPPORTED:
        fail(1, "incompatible CNI version", str(conf.get("cniVersion")))
    if "stateDir" not in conf:
        fail(7, "missing stateDir")
    os.makedirs(conf["stateDir"], exist_ok=True)
    cid, ifname = env.get("CNI_CONTAINERID", ""), env.get("CNI_IFNAME", "")
    if verb == "ADD":
        with open(state_path(conf, cid, ifname), "w") as fh:
            fh.write(env.get("CNI_NETNS", ""))
        result = conf.get("prevResult") or {
            "interfaces": [],
            "ips": [{"address": conf.get("address", "10.99.0.2/24"), "interface": 0}],
            "dns": {},
        }
        result = dict(result)
        result["cniVersion"] = conf["cniVersion"]
        iface = {"name": f"{conf['type']}-{ifname}", "mtu": 1400}
        if conf["cniVersion"] != "1.1.0":
            iface.pop("mtu")
        result["interfaces"] = [*result.get("interfaces", []), iface]
        json.dump(result, sys.stdout)
    elif verb == "DEL":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(state_path(conf, cid, ifname))
    elif verb == "CHECK":
        if not os.path.exists(state_path(conf, cid, ifname)):
            fail(3, "unknown attachment", f"{cid}/{ifname}")
    elif verb == "STATUS":
        status = conf.get("statusFile")
        if status and os.path.exists(status):
            with open(status) as fh:
                code = int(fh.read().strip() or 50)
            fail(code, "plugin not available", conf["type"])
    elif verb == "GC":
        valid = {(a["containerID"], a["ifname"]) for a in conf.get("cni.dev/valid-attachments", [])}
        for name in sorted(os.listdir(conf["stateDir"])):
            cid_, _, ifname_ = name.partition("@")
            if (cid_, ifname_) not in valid:
                os.unlink(os.path.join(conf["stateDir"], name))
    else:
        fail(4, f"unknown CNI_COMMAND: {verb}")


if __name__ == "__main__":
    main()
