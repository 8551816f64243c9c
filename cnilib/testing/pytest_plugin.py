"""The cnilib pytest plugin, registered through the ``pytest11`` entry point.

It gives users of cnilib fixtures for unit-testing code that runs CNI plugins, without root and
without real plugins. Every name it adds to a pytest run starts with ``cnilib_`` (fixtures and
markers alike): the plugin is active in every pytest run of an environment where cnilib is
installed, so it takes no name a user's project or another plugin might mean otherwise.

``cnilib_fake``
    a :class:`~cnilib.testing.fake.FakeExecutor`: records every request, answers what is scripted.
``cnilib_async_fake``
    the :class:`~cnilib.testing.fake.AsyncFakeExecutor` equivalent.
``cnilib_cache_dir`` / ``cnilib_plugin_dir``
    empty directories under ``tmp_path`` for the result cache and for fake plugin executables
    (see :mod:`cnilib.testing.plugins`).
``cnilib_cni``
    a :class:`cnilib.CNI` wired to ``cnilib_fake`` and ``cnilib_cache_dir``.
``cnilib_async_cni``
    a :class:`cnilib.AsyncCNI` wired to ``cnilib_async_fake`` and ``cnilib_cache_dir``.
``cnilib_sandbox``
    a :class:`cnilib.sandbox.Sandbox` for the real plugins (as root or not), closed after the
    test; the test fails when the test left something behind in it (what ``cnilib try`` calls
    "left behind by DEL": see :meth:`~cnilib.sandbox.Sandbox.leftovers`), not for what the plugins
    keep across attachments (a bridge...). Marked ``cnilib_sandbox_strict`` it fails for anything
    new; marked ``cnilib_sandbox_leaks_ok``, for nothing.

Everything is imported inside the fixtures, so merely having cnilib installed costs a pytest run
nothing. It needs pytest only (the ``pytest`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cnilib import CNI, AsyncCNI
    from cnilib.sandbox import Sandbox
    from cnilib.testing.fake import AsyncFakeExecutor, FakeExecutor


@pytest.fixture
def cnilib_fake() -> FakeExecutor:
    """A fresh :class:`~cnilib.testing.fake.FakeExecutor`."""
    from cnilib.testing.fake import FakeExecutor

    return FakeExecutor()


@pytest.fixture
def cnilib_async_fake() -> AsyncFakeExecutor:
    """A fresh :class:`~cnilib.testing.fake.AsyncFakeExecutor`."""
    from cnilib.testing.fake import AsyncFakeExecutor

    return AsyncFakeExecutor()


@pytest.fixture
def cnilib_cache_dir(tmp_path: Path) -> Path:
    """An empty result-cache directory private to the test."""
    path = tmp_path / "cni-cache"
    path.mkdir()
    return path


@pytest.fixture
def cnilib_plugin_dir(tmp_path: Path) -> Path:
    """An empty directory for fake plugin executables (put it in ``plugin_dirs``)."""
    path = tmp_path / "cni-bin"
    path.mkdir()
    return path


@pytest.fixture
def cnilib_cni(cnilib_fake: FakeExecutor, cnilib_cache_dir: Path, cnilib_plugin_dir: Path) -> CNI:
    """A :class:`cnilib.CNI` that runs nothing: plugins are answered by ``cnilib_fake``."""
    from cnilib import CNI

    return CNI(plugin_dirs=[str(cnilib_plugin_dir)], cache_dir=cnilib_cache_dir, executor=cnilib_fake)


@pytest.fixture
def cnilib_async_cni(
    cnilib_async_fake: AsyncFakeExecutor, cnilib_cache_dir: Path, cnilib_plugin_dir: Path
) -> AsyncCNI:
    """A :class:`cnilib.AsyncCNI` that runs nothing: plugins are answered by ``cnilib_async_fake``."""
    from cnilib import AsyncCNI

    return AsyncCNI(
        plugin_dirs=[str(cnilib_plugin_dir)], cache_dir=cnilib_cache_dir, executor=cnilib_async_fake
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of the ``cnilib_sandbox`` fixture."""
    config.addinivalue_line(
        "markers",
        "cnilib_sandbox_leaks_ok: the cnilib_sandbox fixture does not fail the test for what it left",
    )
    config.addinivalue_line(
        "markers",
        "cnilib_sandbox_strict: the cnilib_sandbox fixture fails the test for anything new in the sandbox, "
        "what the plugins keep across attachments too",
    )


@pytest.fixture
def cnilib_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A :class:`~cnilib.sandbox.Sandbox`, closed after the test (also when it fails).

    The test fails if it left something behind in the sandbox: what
    :meth:`~cnilib.sandbox.Sandbox.leftovers` (the rule ``cnilib try`` uses) calls left behind
    since the sandbox was created (or since the last :meth:`~cnilib.sandbox.Sandbox.mark_baseline`).
    What the plugins keep across attachments on purpose (the bridge plugin's bridge, host-local's
    last-reserved file, portmap's shared chains...) is no failure, unless the test is marked
    ``@pytest.mark.cnilib_sandbox_strict``. Marked ``@pytest.mark.cnilib_sandbox_leaks_ok``, nothing is.
    """
    from cnilib.sandbox import Sandbox

    with Sandbox() as sb:
        yield sb
        if request.node.get_closest_marker("cnilib_sandbox_leaks_ok") is None:
            _judge(sb, strict=request.node.get_closest_marker("cnilib_sandbox_strict") is not None)


def _judge(sb: Sandbox, *, strict: bool) -> None:
    found = sb.leftovers()
    if not found.left and not (strict and found.kept):
        return
    if strict:
        why = "the test left this in its cnilib_sandbox (cnilib_sandbox_strict: anything new counts):\n"
    else:
        why = "the test left this in its cnilib_sandbox:\n"
    pytest.fail(why + found.describe(), pytrace=False)
