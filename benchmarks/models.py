"""How much cnilib's typed models cost next to plain ``json``, and what ``import cnilib`` adds.

Run: ``python benchmarks/models.py`` (``--quick`` for fewer rounds). Prints two tables and exits 0;
the aims (parse+serialize at most 4x ``json.loads``+``json.dumps`` of the same bytes; cnilib adding
under 10 ms to an import of attrs and cattrs) are reported, never asserted.

* Models: a realistic 1.0.0 bridge result (host bridge, host veth, container eth0 with its sandbox,
  one address, routes, empty dns), parsed with :func:`cnilib.parse_result` and written with
  ``to_bytes()``, against ``json.loads`` and compact ``json.dumps`` of the very same bytes, timed in
  the same process with the same loop.
* Imports: fresh interpreters (this one's ``sys.executable``, not a shim) time, in-process, ``import
  attrs``, ``import attrs, cattrs``, ``import cnilib`` and ``import cnilib`` plus a first parse
  (which loads the lazily imported models and builds the cattrs converter), interleaved, many times;
  medians are compared, the whole-process wall time is shown beside them. A last variant times
  cnilib's modules one after the other on top of an already imported attrs and cattrs.
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


# Each variant runs in a fresh interpreter; ``PRE`` is imported untimed, ``STMT`` timed in-process,
# so interpreter start-up noise stays out of the numbers.
_CHILD = """
import json, sys, time
{pre}
t0 = time.perf_counter()
{stmt}
sys.stdout.write(json.dumps(time.perf_counter() - t0))
"""
FIRST_PARSE = f"import cnilib; cnilib.parse_result({BRIDGE_RESULT!r})"
IMPORTS: dict[str, tuple[str, str]] = {
    "attrs": ("", "import attrs"),
    "attrs + cattrs": ("", "import attrs, cattrs"),
    "cnilib": ("", "import cnilib"),
    "cnilib + 1st parse": ("", FIRST_PARSE),
    "cnilib + 1st parse, attrs+cattrs already loaded": ("import attrs, cattrs", FIRST_PARSE),
}
# Where the time goes: cnilib's modules imported one after the other on top of attrs and cattrs.
STEPS = ["cnilib", "cnilib._model._codec", "cnilib._model._results", "cnilib._model._models"]
_STEPS_CHILD = f"""
import json, sys, time, importlib
import attrs, cattrs
out = []
for name in {STEPS!r}:
    t0 = time.perf_counter()
    importlib.import_module(name)
    out.append(time.perf_counter() - t0)
import cnilib
t0 = time.perf_counter()
cnilib.parse_result({BRIDGE_RESULT!r})
out.append(time.perf_counter() - t0)
sys.stdout.write(json.dumps(out))
"""


def _child(code: str, env: dict[str, str]) -> tuple[object, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    return json.loads(proc.stdout), time.perf_counter() - start


def bench_imports(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]], list[list[float]]]:
    """In-process seconds and whole-process wall seconds per variant; per-step seconds."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    codes = {label: _CHILD.format(pre=pre, stmt=stmt) for label, (pre, stmt) in IMPORTS.items()}
    for code in [*codes.values(), _STEPS_CHILD]:  # warm the OS cache and the .pyc files
        _child(code, env)
    inner: dict[str, list[float]] = {label: [] for label in IMPORTS}
    wall: dict[str, list[float]] = {label: [] for label in IMPORTS}
    steps: list[list[float]] = []
    for _ in range(rounds):  # interleaved, so drift hits every variant alike
        for label, code in codes.items():
            took, elapsed = _child(code, env)
            assert isinstance(took, float)
            inner[label].append(took)
            wall[label].append(elapsed)
        took, _ = _child(_STEPS_CHILD, env)
        assert isinstance(took, list)
        steps.append([float(x) for x in took])
    return inner, wall, steps


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

    inner, wall, steps = bench_imports(rounds)
    med = {label: statistics.median(v) * 1e3 for label, v in inner.items()}
    print(f"imports in fresh interpreters, median of {rounds} runs (ms)")
    print(f"  {'what is timed':<48} {'in-process':>10} {'min':>7} {'process wall':>13}")
    for label in IMPORTS:
        low = min(inner[label]) * 1e3
        print(f"  {label:<48} {med[label]:>10.1f} {low:>7.1f} {statistics.median(wall[label]) * 1e3:>13.1f}")
    added_import = med["cnilib"] - med["attrs + cattrs"]
    added_used = med["cnilib + 1st parse, attrs+cattrs already loaded"]
    verdict = "ok" if added_import < 10.0 else "ABOVE AIM"
    print(f"  aim: import cnilib adds < 10 ms to attrs+cattrs -> {added_import:+.1f} ms ({verdict})")
    verdict = "ok" if added_used < 10.0 else "above 10 ms"
    print(f"  first use (lazy models, converter): {added_used:.1f} ms on top of attrs+cattrs ({verdict})")
    cols = [*STEPS, "first parse_result"]
    per_step = [statistics.median(run[i] for run in steps) * 1e3 for i in range(len(cols))]
    shown = ", ".join(f"{name} {ms:.1f}" for name, ms in zip(cols, per_step, strict=True))
    print(f"  on top of attrs+cattrs, step by step: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
