"""Wall time of the ``cnilib`` command line against the Python API and against Go (cnigo).

One run measures, interleaved round by round (the machine may be busy; medians are reported):

* the CLI's own start-up: ``cnilib --version`` and ``cnilib --help`` (nothing run), next to three
  floors: the bare interpreter (``python -c pass``), the standard library modules a Python command
  line that runs a plugin needs anyway (:data:`STDLIB_NEEDED`), and the import of the design's two
  dependencies (``python -c "import attrs, cattrs"``), which every command that runs a plugin needs;
* ``cnilib add`` / ``cnilib del`` of a one-plugin ``loopback`` network, each a fresh process, on
  the fast path (``cnilib._lean``, what a plain ``cnilib add NET NETNS`` takes) and on the typed
  path (``--debug`` takes it: the same plans on the attrs models, as before the fast path);
* the same ADD/DEL through the Python API in a warm process (``cni.add`` / ``cni.delete``);
* the same with ``cnigo``: Go's libcni v1.1.2 behind cnitool's front end (tests/go/cnigo).

Everything happens in a network namespace this script creates and deletes (loopback only brings
that namespace's ``lo`` up and down); the cache directories are temporary. Needs root, Debian's
plugins in /usr/lib/cni, and Go with golang-github-appc-cni-dev for the cnigo rows.

The CLI runs from the virtual environment's own script (``<venv>/bin/cnilib``), never a version
manager's shim. Python keeps compiled bytecode in a temporary ``PYTHONPYCACHEPREFIX`` (warmed
once), as an installed package has it; ``--no-bytecode`` measures instead with
``PYTHONDONTWRITEBYTECODE=1`` and no cache, which is how this sandbox runs Python by default.

Besides the wall time, each row's CPU time (user + system of the child, from
``getrusage(RUSAGE_CHILDREN)``) is reported: on a loaded machine it moves much less than the wall
time. The closing lines give ``cnilib add``/``del`` as ratios to Go and to the floors.

Run: ``.venv/bin/python benchmarks/cli.py [--rounds 30] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cnilib
from cnilib import netns

PLUGIN_DIR = "/usr/lib/cni"
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
CNILIB = VENV_BIN / "cnilib"
PYTHON = Path(sys.executable)
LOOPBACK = {"cniVersion": "1.0.0", "name": "lo", "plugins": [{"type": "loopback"}]}
#: The standard library modules that ``cnilib add`` needs whatever its own design: JSON for the
#: documents, subprocess to run the plugin, fcntl for the cache's locks.
STDLIB_NEEDED = "fcntl, json, subprocess"
STDLIB_ROW = "python -c 'import fcntl, json, subprocess' (stdlib)"


#: CPU seconds (user + system) of the last child measured by :func:`_timed`.
_last_cpu = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: Sequence[str], env: dict[str, str]) -> float:
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    _last_cpu[0] = _children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed


def _bind(op: Callable[[str], float], verb: str) -> Callable[[], float]:
    return lambda: op(verb)


def _build_cnigo(dest: Path) -> Path | None:
    sys.path.insert(0, str(HERE.parent / "tests"))
    try:
        import gotools  # type: ignore[import-not-found]
    except ImportError:
        return None
    if not gotools.go_available():
        return None
    binary: Path = gotools.build_cnigo(dest)
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="run child interpreters with PYTHONDONTWRITEBYTECODE=1, no cache",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    if not CNILIB.is_file():
        print(f"{CNILIB} is missing: pip install -e the project first", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="cnilib-bench-cli-"))
    ns = netns.create()
    try:
        conf = work / "conf"
        conf.mkdir()
        (conf / "10-lo.conflist").write_text(json.dumps(LOOPBACK))
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "PYTHONDONTWRITEBYTECODE",
                "PYTHONPYCACHEPREFIX",
                "CNI_IFNAME",
                "CNI_ARGS",
                "CAP_ARGS",
                "CNI_CONTAINERID",
                "CNI_TIMEOUT",
            )
        }
        env.update(NETCONFPATH=str(conf), CNI_PATH=PLUGIN_DIR)
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        cli_env = {**env, "CNI_CACHE_DIR": str(work / "cli-cache")}
        site_packages = next(p for p in sys.path if p.endswith("site-packages"))
        plain_env = {**cli_env, "PYTHONPATH": f"{HERE.parent}:{site_packages}"}
        go_env = {**env, "CNI_CACHE_DIR": str(work / "go-cache")}

        cni = cnilib.CNI(plugin_dirs=[PLUGIN_DIR], cache_dir=work / "api-cache")
        conflist = cnilib.load_network(conf, "lo")
        rt = cnilib.RuntimeConfig(container_id="bench-api", netns=ns.path)

        def api(verb: str) -> float:
            c0 = _children_cpu() + time.process_time()
            t0 = time.perf_counter()
            if verb == "add":
                cni.add(conflist, rt)
            else:
                cni.delete(conflist, rt)
            elapsed = time.perf_counter() - t0
            _last_cpu[0] = _children_cpu() + time.process_time() - c0
            return elapsed

        cnigo = _build_cnigo(work / "go")
        py = str(PYTHON)
        rows: list[tuple[str, Callable[[], float]]] = [
            ("python -c pass (interpreter + site)", lambda: _timed([py, "-c", "pass"], env)),
            (
                "python -c 'import attrs, cattrs' (dependencies)",
                lambda: _timed([py, "-c", "import attrs, cattrs"], env),
            ),
            # What any Python runtime that runs a plugin and reads cnitool's arguments imports,
            # attrs or not: the floor of a command line written in Python without the design's
            # dependencies.
            (STDLIB_ROW, lambda: _timed([py, "-c", f"import {STDLIB_NEEDED}"], env)),
            ("python -c 'import cnilib' (the package)", lambda: _timed([py, "-c", "import cnilib"], env)),
            (
                "python -c 'import cnilib._lean._run' (the fast path)",
                lambda: _timed([py, "-c", "import cnilib._lean._run"], env),
            ),
            ("cnilib --version (CLI start-up, no-op)", lambda: _timed([str(CNILIB), "--version"], cli_env)),
            ("cnilib --help", lambda: _timed([str(CNILIB), "--help"], cli_env)),
            # What a regular (wheel) install costs: no editable-install finder in site.
            (
                "python -S -m cnilib --version (no editable finder)",
                lambda: _timed([py, "-S", "-m", "cnilib", "--version"], plain_env),
            ),
        ]
        pairs: list[tuple[str, Callable[[str], float]]] = [
            ("cnilib CLI", lambda verb: _timed([str(CNILIB), verb, "lo", ns.path], cli_env)),
            (
                "cnilib CLI, typed path (--debug)",
                lambda verb: _timed([str(CNILIB), verb, "--debug", "lo", ns.path], cli_env),
            ),
            ("Python API (warm process)", api),
        ]
        if cnigo is not None:
            pairs.append(
                ("cnigo (Go libcni)", lambda verb: _timed([str(cnigo), verb, "lo", ns.path], go_env))
            )
        # Each front end's ADD then its DEL: they share the attachment (one netns, one cache for
        # the CLI's two paths), and a second ADD of an attachment is refused.
        for label, op in pairs:
            rows.extend((f"loopback {verb.upper()}: {label}", _bind(op, verb)) for verb in ("add", "del"))

        # Warm-up: bytecode caches, page cache, the plugin binary.
        for _ in range(2):
            for _, measure in rows:
                measure()
        samples: dict[str, list[float]] = {label: [] for label, _ in rows}
        cpu: dict[str, list[float]] = {label: [] for label, _ in rows}
        for _ in range(args.rounds):
            for label, measure in rows:
                samples[label].append(measure())
                cpu[label].append(_last_cpu[0])
    finally:
        ns.delete()
        shutil.rmtree(work, ignore_errors=True)

    medians = {label: statistics.median(xs) * 1000 for label, xs in samples.items()}
    cpu_medians = {label: statistics.median(xs) * 1000 for label, xs in cpu.items()}
    if args.json:
        print(
            json.dumps({"rounds": args.rounds, "median_ms": medians, "cpu_median_ms": cpu_medians}, indent=2)
        )
        return 0
    width = max(len(label) for label in samples)
    mode = "no bytecode cache" if args.no_bytecode else "bytecode cached"
    print(
        f"cnilib CLI benchmark: {args.rounds} rounds, interleaved; {mode}; "
        f"python {sys.version.split()[0]}; load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'operation':<{width}}  {'median ms':>9}  {'min ms':>7}  {'max ms':>7}  {'cpu ms':>7}")
    for label, xs in samples.items():
        print(
            f"{label:<{width}}  {medians[label]:>9.1f}  {min(xs) * 1000:>7.1f}  "
            f"{max(xs) * 1000:>7.1f}  {cpu_medians[label]:>7.1f}"
        )
    _closing(medians, cpu_medians)
    return 0


def _closing(wall: dict[str, float], cpu: dict[str, float]) -> None:
    """cnilib add/del against Go and the two floors, as ratios (wall) and differences."""
    floor = wall["python -c pass (interpreter + site)"]
    deps = wall["python -c 'import attrs, cattrs' (dependencies)"]
    stdlib = wall[STDLIB_ROW]
    print()
    for verb in ("ADD", "DEL"):
        cli = wall[f"loopback {verb}: cnilib CLI"]
        cli_cpu = cpu[f"loopback {verb}: cnilib CLI"]
        typed = wall[f"loopback {verb}: cnilib CLI, typed path (--debug)"]
        go = wall.get(f"loopback {verb}: cnigo (Go libcni)")
        vs_go = f"{cli / go:.1f}x Go's cnitool ({go:.1f} ms), " if go else ""
        print(
            f"cnilib {verb.lower()}: {cli:.1f} ms wall ({cli_cpu:.1f} ms CPU): {vs_go}"
            f"{cli - floor:+.1f} ms over `python -c pass`, {cli - stdlib:+.1f} ms over the stdlib it "
            f"needs, {cli - deps:+.1f} ms over `import attrs, cattrs`; the typed path takes "
            f"{typed:.1f} ms ({typed / cli:.2f}x)"
        )
    version = wall["cnilib --version (CLI start-up, no-op)"]
    print(f"cnilib --version: {version:.1f} ms wall, {version - floor:+.1f} ms over `python -c pass`")


if __name__ == "__main__":
    sys.exit(main())
