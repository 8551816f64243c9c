"""Build dist/cnilib.pyz: cnilib and its runtime dependencies in one file that runs with a node's own
``python3`` (3.10 or newer) and nothing installed: ``python3 cnilib.pyz doctor --json``.

Run it with the virtual environment's interpreter (``scripts/setup.sh`` installs what it needs, the
``zipapp`` extra)::

    .venv/bin/python scripts/build-zipapp.py [--output dist/cnilib.pyz]

A standard-library zipapp: Python imports straight from the archive, nothing is unpacked (shiv and
pex unpack into the home directory on first run, which a read-only node or uid 65534 may not have).
That only works for pure-Python code, so the build fails if a bundled distribution is not a
``py3-none-any`` wheel or holds a compiled extension. The distributions come from this interpreter's
environment (offline: exactly what the test suite ran against), following ``Requires-Dist`` of cnilib
and of its ``docker`` extra (httpx, for the Docker engine's API) with the markers of every Python from
3.10 on, so that what only 3.10 needs (exceptiongroup) is in too. ``cnilib.testing`` (pytest
helpers) is left out.

Each module goes in with a ``.pyc`` for this interpreter (unchecked hash, so no timestamps): an
interpreter of the same minor version starts without compiling; another one falls back to the
source. Nothing is written outside a temporary directory and the output file.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import sys
import tempfile
import zipapp
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "dist" / "cnilib.pyz"
#: Every Python the archive must run on: markers are evaluated for each (their union is bundled).
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
#: cnilib's extras whose dependencies are bundled.
EXTRAS = ("docker",)
COMPILED = (".so", ".pyd", ".dylib", ".dll")
# Install-time files of a .dist-info directory: they describe this environment, not the archive.
_INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_MAIN = '''"""cnilib as one file (built by scripts/build-zipapp.py): python3 cnilib.pyz COMMAND ..."""

import sys

from cnilib._cli import main

sys.exit(main())
'''
# zip timestamps cannot be older than 1980; a fixed one makes the archive independent of the checkout.
_EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))


class BuildError(Exception):
    """The archive cannot be built as asked (a dependency missing, compiled, or too new)."""


def _wanted(marker: Marker | None, extra: str) -> bool:
    if marker is None:
        return True
    return any(
        marker.evaluate({"python_version": v, "python_full_version": f"{v}.0", "extra": extra})
        for v in PYTHONS
    )


def _pure(dist: metadata.Distribution) -> None:
    name = dist.metadata["Name"]
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    if not tags or any(not tag.endswith("-none-any") for tag in tags):
        raise BuildError(f"{name} is not a pure-Python wheel (tags {tags or 'unknown'})")
    compiled = [str(f) for f in dist.files or () if str(f).endswith(COMPILED)]
    if compiled:
        raise BuildError(f"{name} holds compiled extensions, which cannot load from a zip: {compiled}")
    requires_python = dist.metadata.get("Requires-Python")
    if requires_python and PYTHONS[0] not in SpecifierSet(requires_python):
        raise BuildError(f"{name} {dist.version} needs Python {requires_python}; the archive targets 3.10+")


def dependencies() -> list[metadata.Distribution]:
    """The installed distributions cnilib needs at run time (with its bundled extras), checked pure."""
    queue = [(Requirement(r), extra) for r in metadata.requires("cnilib") or () for extra in ("", *EXTRAS)]
    found: dict[str, metadata.Distribution] = {}
    while queue:
        req, extra = queue.pop()
        name = canonicalize_name(req.name)
        if not _wanted(req.marker, extra) or name in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise BuildError(f"{req.name} is not installed here: pip install -e '.[zipapp]'") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise BuildError(f"{req.name} {dist.version} is installed; cnilib needs {req}")
        _pure(dist)
        found[name] = dist
        queue += [(Requirement(r), "") for r in dist.requires or ()]
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise BuildError(f"two sources for {dest.name}: {src}")
    shutil.copyfile(src, dest)


def stage(into: Path, dists: list[metadata.Distribution]) -> None:
    """Copy cnilib's source (without cnilib.testing) and the distributions' files into ``into``."""
    package = ROOT / "cnilib"
    for src in sorted(package.rglob("*")):
        rel = src.relative_to(ROOT)
        if src.is_dir() or "__pycache__" in rel.parts or rel.parts[:2] == ("cnilib", "testing"):
            continue
        # The sources and the package data (the plugins' field schemas) that the library reads.
        if src.suffix in (".py", ".json") or src.name == "py.typed":
            _copy(src, into / rel)
    for dist in dists:
        for file in dist.files or ():
            rel = PurePosixPath(str(file))
            # Scripts live outside site-packages (../../bin); bytecode is compiled afresh below.
            if rel.parts[0] == ".." or "__pycache__" in rel.parts or rel.suffix == ".pyc":
                continue
            if rel.parts[0].endswith(".dist-info") and rel.name in _INSTALL_RECORDS:
                continue
            _copy(Path(str(dist.locate_file(file))), into.joinpath(*rel.parts))
    (into / "__main__.py").write_text(_MAIN)


def compile_and_fix_times(root: Path, compile_pyc: bool) -> None:
    """Add a ``.pyc`` beside every module (zipimport's layout) and give every file one timestamp."""
    for src in sorted(root.rglob("*.py")):
        if compile_pyc:
            py_compile.compile(
                str(src),
                cfile=str(src.with_suffix(".pyc")),
                dfile=str(src.relative_to(root)),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (_EPOCH, _EPOCH))


def build(output: Path, *, compile_pyc: bool = True) -> list[str]:
    """Build the archive at ``output``; returns the bundled distributions as ``name==version``."""
    dists = dependencies()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cnilib-zipapp-") as tmp:
        staging = Path(tmp) / "app"
        stage(staging, dists)
        compile_and_fix_times(staging, compile_pyc)
        partial = Path(tmp) / "cnilib.pyz"
        zipapp.create_archive(staging, partial, interpreter="/usr/bin/env python3", compressed=True)
        with zipfile.ZipFile(partial) as zf:
            compiled = [n for n in zf.namelist() if n.endswith(COMPILED)]
        if compiled:
            raise BuildError(f"compiled extensions in the archive: {compiled}")
        shutil.copyfile(partial, output)
        output.chmod(0o755)
    return [f"{d.metadata['Name']}=={d.version}" for d in dists]


def main(argv: list[str] | None = None) -> int:
    """Command line: build, print what went in; exit 1 with the reason if it cannot be built."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--no-compile", action="store_true", help="sources only, no .pyc")
    args = parser.parse_args(argv)
    try:
        bundled = build(args.output, compile_pyc=not args.no_compile)
    except BuildError as exc:
        print(f"build-zipapp: {exc}", file=sys.stderr)
        return 1
    tag = sys.implementation.cache_tag
    print(f"{args.output}: {args.output.stat().st_size} bytes, .pyc for {tag}; bundled: {' '.join(bundled)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
