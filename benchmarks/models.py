"""How much cnilib's typed models cost next to plain ``json``, and what ``import cnilib`` adds.

Run: ``python benchmarks/models.py`` (``--quick`` for fewer rounds). Prints two tables and exits 0;
the aims (parse+serialize at most 4x ``json.loads``+``json.dumps`` of the same bytes; cnilib adding
under 10 ms to an import of attrs and cattrs) are reported, never asserted.

* Models: a realistic 1.0.0 bridge result (host bridge, host veth, container eth0 with its sandbox,
  one address, routes, empty dns), parsed with :func:`cnilib.parse_result` and written with
  ``to_bytes()``, against ``json.loads`` and compact ``json.dumps`` of the very same bytes, timed in
  the same process with the same loop.
* Imports: fresh interpreters (this one's ``sys.executable``, not a shim) run ``pass``,
  ``import attrs, cattrs`` and ``import cnilib``, interleaved, many times; medians are compared.
  ``-X importtime`` then shows cnilib's own share of one import.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable

import cnilib

BRIDGE_RESULT = json.dumps(
    {
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "cni0", "mac": "3a:fa:0f:65:9e:b1"},
            {"name": "veth20eab00a", "mac": "32:25:14:9c:85:f0"},
            {
                "name": "eth0",
                "mac": "0a:10:d8:7b:e6:5d",
                "sandbox": "/var/run/netns/cni-3b8e5a2c-7f1d-4c3e-9a61-0d2f7c1e4b55",
            },
        ],
        "ips": [{"interface": 2, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}, {"dst": "10.96.0.0/12"}],
        "dns": {},
    },
    separators=(",", ":"),
).encode()


def _per_call(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds per call (the minimum is the least noisy estimate)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def bench_models(number: int, repeat: int) -> list[tuple[str, float, float]]:
    data = BRIDGE_RESULT
    # Sanity: the typed round trip writes exactly the same bytes as json does.
    assert cnilib.parse_result(data).to_bytes() == data
    obj = json.loads(data)
    result = cnilib.parse_result(data)

    def json_rt() -> object:
        return json.dumps(json.loads(data), separators=(",", ":")).encode()

    def cni_rt() -> object:
        return cnilib.parse_result(data).to_bytes()

    rows = [
        (
            "parse",
            _per_call(lambda: json.loads(data), number, repeat),
            _per_call(lambda: cnilib.parse_result(data), number, repeat),
        ),
        (
            "serialize",
            _per_call(lambda: json.dumps(obj, separators=(",", ":")).encode(), number, repeat),
            _per_call(result.to_bytes, number, repeat),
        ),
        ("parse+serialize", _per_call(json_rt, number, repeat), _per_call(cni_rt, number, repeat)),
    ]
    return rows


def _run(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


FIRST_PARSE = f"import cnilib; cnilib.parse_result({BRIDGE_RESULT!r})"
IMPORTS = {
    "python (pass)": "pass",
    "attrs": "import attrs",
    "attrs + cattrs": "import attrs, cattrs",
    "cnilib": "import cnilib",
    "cnilib+1st parse": FIRST_PARSE,
}


def bench_imports(rounds: int) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    for code in IMPORTS.values():  # warm the OS cache and the .pyc files
        _run(code, env)
    samples: dict[str, list[float]] = {label: [] for label in IMPORTS}
    for _ in range(rounds):  # interleaved, so drift hits every variant alike
        for label, code in IMPORTS.items():
            samples[label].append(_run(code, env))
    return samples


def importtime_breakdown(code: str) -> dict[str, float]:
    """Milliseconds of one ``-X importtime`` run of ``code``, by who is to blame.

    ``total`` is the cumulative time of the top-level cnilib imports (``cnilib``, and
    ``cnilib._convert`` when the first parse pulls it in lazily); ``attrs``/``cattrs`` their
    cumulative time inside it; each ``cnilib.*`` module its self time (class creation included);
    ``stdlib and other`` the rest (typing, json, signal, ipaddress...).
    """
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], check=True, capture_output=True, text=True
    )
    out: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        self_ms, cumulative_ms, raw = float(fields[0]) / 1e3, float(fields[1]) / 1e3, fields[2]
        name = raw.strip()
        top_level = not raw[1:].startswith(" ")  # nested imports are indented
        if top_level and name.split(".")[0] == "cnilib":  # cnilib, later cnilib._convert (lazy)
            out["total"] = out.get("total", 0.0) + cumulative_ms
        if name.split(".")[0] == "cnilib":
            out[name] = self_ms
        elif name in ("attrs", "cattrs"):
            out[name] = cumulative_ms
    own = sum(v for k, v in out.items() if k.startswith("cnilib"))
    out["stdlib and other"] = out.get("total", 0.0) - own - out.get("attrs", 0) - out.get("cattrs", 0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (for CI smoke runs)")
    args = parser.parse_args()
    number, repeat, rounds = (500, 3, 7) if args.quick else (2000, 7, 25)

    print(
        f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"cnilib {cnilib.__version__}; result document {len(BRIDGE_RESULT)} bytes\n")

    print("1.0.0 bridge result, time per call (best of runs)")
    print(f"  {'operation':<17} {'json':>10} {'cnilib':>10} {'ratio':>7}")
    ratio_rt = 0.0
    for label, plain, typed in bench_models(number, repeat):
        ratio = typed / plain
        print(f"  {label:<17} {plain * 1e6:>8.2f}us {typed * 1e6:>8.2f}us {ratio:>6.1f}x")
        if label == "parse+serialize":
            ratio_rt = ratio
    verdict = "ok" if ratio_rt <= 4.0 else "ABOVE AIM"
    print(f"  aim: parse+serialize <= 4.0x json -> {ratio_rt:.1f}x ({verdict})\n")

    samples = bench_imports(rounds)
    med = {label: statistics.median(v) for label, v in samples.items()}
    low = {label: min(v) for label, v in samples.items()}
    print(f"fresh interpreters, {rounds} runs each (wall time of the whole process)")
    print(f"  {'command':<18} {'median':>9} {'min':>9} {'median - python':>16}")
    for label in IMPORTS:
        extra = (med[label] - med["python (pass)"]) * 1e3
        print(f"  {label:<18} {med[label] * 1e3:>7.1f}ms {low[label] * 1e3:>7.1f}ms {extra:>14.1f}ms")
    added = med["cnilib"] - med["attrs + cattrs"]
    added_used = med["cnilib+1st parse"] - med["attrs + cattrs"]
    verdict = "ok" if added < 0.010 else "ABOVE AIM"
    print(f"  aim: import cnilib adds < 10 ms to attrs+cattrs -> {added * 1e3:+.1f} ms ({verdict})")
    print(f"       with the first parse (builds the converter): {added_used * 1e3:+.1f} ms\n")

    print("-X importtime, one run each (ms)")
    for title, code in (("import cnilib", "import cnilib"), ("+ first parse", FIRST_PARSE)):
        parts = importtime_breakdown(code)
        total = parts.pop("total", 0.0)
        shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
        print(f"  {title:<14} {total:5.1f} = {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
