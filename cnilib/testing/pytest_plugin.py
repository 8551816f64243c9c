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
    test; the test fails when the sandbox holds anything new at the end (see
    :meth:`~cnilib.sandbox.Sandbox.leaks`), unless it is marked ``cni_sandbox_leaks_ok``.

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
    """Register the marker of the ``cni_sandbox`` fixture."""
    config.addinivalue_line(
        "markers", "cni_sandbox_leaks_ok: the cni_sandbox fixture does not fail the test for what it left"
    )


@pytest.fixture
def cni_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A :class:`~cnilib.sandbox.Sandbox`, closed after the test (also when it fails).

    The test fails if the sandbox holds anything at the end that it did not hold when created
    (or at the last :meth:`~cnilib.sandbox.Sandbox.mark_baseline`), unless it is marked
    ``@pytest.mark.cni_sandbox_leaks_ok``.
    """
    from cnilib.sandbox import Sandbox

    with Sandbox() as sb:
        yield sb
        if request.node.get_closest_marker("cni_sandbox_leaks_ok") is None:
            left = sb.leaks()
            if left:
                pytest.fail(
                    "the test left this in its cni_sandbox:\n" + "\n".join(f"  {item}" for item in left),
                    pytrace=False,
                )
