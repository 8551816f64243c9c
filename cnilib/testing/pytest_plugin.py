"""The cnilib pytest plugin, registered through the ``pytest11`` entry point.

It gives users of cnilib fixtures for unit-testing code that runs CNI plugins, without root and
without real plugins:

``cni_fake``
    a :class:`~cnilib.testing.fake.FakeExecutor`: records every request, answers what is scripted.
``cni_async_fake``
    the :class:`~cnilib.testing.fake.AsyncFakeExecutor` equivalent.
``cni_cache_dir`` / ``cni_plugin_dir``
    empty directories under ``tmp_path`` for the result cache and for fake plugin executables
    (see :mod:`cnilib.testing.plugins`).
``cni``
    a :class:`cnilib.CNI` wired to ``cni_fake`` and ``cni_cache_dir``.
``async_cni``
    a :class:`cnilib.AsyncCNI` wired to ``cni_async_fake`` and ``cni_cache_dir``.
``cni_sandbox``
    a :class:`cnilib.sandbox.Sandbox` for the real plugins (as root or not), closed after the
    test; the test fails when the test left something behind in it (what ``cnilib try`` calls
    "left behind by DEL": see :meth:`~cnilib.sandbox.Sandbox.leftovers`), not for what the plugins
    keep across attachments (a bridge...). Marked ``cni_sandbox_strict`` it fails for anything
    new; marked ``cni_sandbox_leaks_ok``, for nothing.

Everything is imported inside the fixtures, so merely having cnilib installed costs a pytest run
nothing.
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
def cni_fake() -> FakeExecutor:
    """A fresh :class:`~cnilib.testing.fake.FakeExecutor`."""
    from cnilib.testing.fake import FakeExecutor

    return FakeExecutor()


@pytest.fixture
def cni_async_fake() -> AsyncFakeExecutor:
    """A fresh :class:`~cnilib.testing.fake.AsyncFakeExecutor`."""
    from cnilib.testing.fake import AsyncFakeExecutor

    return AsyncFakeExecutor()


@pytest.fixture
def cni_cache_dir(tmp_path: Path) -> Path:
    """An empty result-cache directory private to the test."""
    path = tmp_path / "cni-cache"
    path.mkdir()
    return path


@pytest.fixture
def cni_plugin_dir(tmp_path: Path) -> Path:
    """An empty directory for fake plugin executables (put it in ``plugin_dirs``)."""
    path = tmp_path / "cni-bin"
    path.mkdir()
    return path


@pytest.fixture
def cni(cni_fake: FakeExecutor, cni_cache_dir: Path, cni_plugin_dir: Path) -> CNI:
    """A :class:`cnilib.CNI` that runs nothing: plugins are answered by ``cni_fake``."""
    from cnilib import CNI

    return CNI(plugin_dirs=[str(cni_plugin_dir)], cache_dir=cni_cache_dir, executor=cni_fake)


@pytest.fixture
def async_cni(cni_async_fake: AsyncFakeExecutor, cni_cache_dir: Path, cni_plugin_dir: Path) -> AsyncCNI:
    """A :class:`cnilib.AsyncCNI` that runs nothing: plugins are answered by ``cni_async_fake``."""
    from cnilib import AsyncCNI

    return AsyncCNI(plugin_dirs=[str(cni_plugin_dir)], cache_dir=cni_cache_dir, executor=cni_async_fake)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of the ``cni_sandbox`` fixture."""
    config.addinivalue_line(
        "markers", "cni_sandbox_leaks_ok: the cni_sandbox fixture does not fail the test for what it left"
    )
    config.addinivalue_line(
        "markers",
        "cni_sandbox_strict: the cni_sandbox fixture fails the test for anything new in the sandbox, "
        "what the plugins keep across attachments too",
    )


@pytest.fixture
def cni_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A :class:`~cnilib.sandbox.Sandbox`, closed after the test (also when it fails).

    The test fails if it left something behind in the sandbox: what
    :meth:`~cnilib.sandbox.Sandbox.leftovers` (the rule ``cnilib try`` uses) calls left behind
    since the sandbox was created (or since the last :meth:`~cnilib.sandbox.Sandbox.mark_baseline`).
    What the plugins keep across attachments on purpose (the bridge plugin's bridge, host-local's
    last-reserved file, portmap's shared chains...) is no failure, unless the test is marked
    ``@pytest.mark.cni_sandbox_strict``. Marked ``@pytest.mark.cni_sandbox_leaks_ok``, nothing is.
    """
    from cnilib.sandbox import Sandbox

    with Sandbox() as sb:
        yield sb
        if request.node.get_closest_marker("cni_sandbox_leaks_ok") is None:
            _judge(sb, strict=request.node.get_closest_marker("cni_sandbox_strict") is not None)


def _judge(sb: Sandbox, *, strict: bool) -> None:
    found = sb.leftovers()
    if not found.left and not (strict and found.kept):
        return
    if strict:
        why = "the test left this in its cni_sandbox (cni_sandbox_strict: anything new counts):\n"
    else:
        why = "the test left this in its cni_sandbox:\n"
    pytest.fail(why + found.describe(), pytrace=False)
