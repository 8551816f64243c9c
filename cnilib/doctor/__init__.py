"""Find and free what any runtime leaked on a node, and say what is wrong with its CNI setup.

:func:`diagnose` examines every network of a configuration directory and every entry and intent
record of the result cache (cnilib's, Go's libcni's, cnitool's, containerd's, CRI-O's, Podman's),
host-local's stores, the NAT chains and the bridges' veths; :func:`repair` fixes what it found
through the engine and the plugins' own DEL::

    from cnilib import doctor

    diagnosis = doctor.diagnose(conf_dir="/etc/cni/net.d", sources=[doctor.DockerSource()])
    for finding in diagnosis.findings:
        print(finding.kind, finding.network, finding.container_id, finding.evidence)
    report = doctor.repair(diagnosis)
    assert report.ok

"Gone" is decided from evidence only: a namespace path that is missing or is no network namespace,
or a runtime (a :class:`Source`) that says the container does not exist; a live namespace is never
overruled. A source that cannot be reached raises :class:`SourceError`. ``cnilib doctor`` is the
command line; see the "Keeping a node clean" page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .._base._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONF_DIR
from .._engine import CNI
from ._examine import Context, examine
from ._host import Host
from ._model import Checked, Diagnosis, DoctorError, Finding, Kind, RepairReport, SourceError
from ._repair import repair
from ._report import openmetrics_text, text_report, write_openmetrics
from ._sources import DockerSource, Liveness, PodmanSource, Source, ValidSource

__all__ = [
    "DEFAULT_GRACE",
    "Checked",
    "Diagnosis",
    "DockerSource",
    "DoctorError",
    "Finding",
    "Kind",
    "Liveness",
    "PodmanSource",
    "RepairReport",
    "Source",
    "SourceError",
    "ValidSource",
    "diagnose",
    "openmetrics_text",
    "repair",
    "text_report",
    "write_openmetrics",
]

#: Seconds a host-local reservation must have existed before it can be an orphan: a runtime that
#: does not use cnilib's locks writes its cache entry only after every plugin has run.
DEFAULT_GRACE = 120.0


def diagnose(
    *,
    conf_dir: str | os.PathLike[str] = DEFAULT_CONF_DIR,
    cache_dir: str | os.PathLike[str] | None = None,
    plugin_dirs: Iterable[str] | str | None = None,
    sources: Iterable[Source] = (),
    cni: CNI | None = None,
    host_netns: str | None = None,
    grace: float = DEFAULT_GRACE,
    timeout: float | None = 30.0,
) -> Diagnosis:
    """Examine the node; change nothing.

    ``conf_dir``, ``cache_dir`` (default ``/var/lib/cni``, or ``cni``'s) and ``plugin_dirs`` (default
    ``$CNI_PATH``, ...) are what the runtimes use. ``sources`` answer for container ids besides the
    namespace paths; each is asked once first, and one that cannot be reached raises
    :class:`SourceError`. ``cni``: the engine the repair runs DEL with (default: one made from these
    arguments). ``host_netns``: the namespace where the plugins keep bridges, veths and NAT rules,
    if not this process's (the default engine then runs the plugins there too). ``grace``: a younger
    reservation is never an orphan. ``timeout`` bounds each plugin's VERSION and each command.
    """
    if grace < 0:
        raise DoctorError(f"grace must not be negative, not {grace}")
    if cni is None:
        from .. import netns

        prefix = netns.enter_argv(host_netns) if host_netns else ()
        cni = CNI(
            plugin_dirs=plugin_dirs,
            cache_dir=DEFAULT_CACHE_DIR if cache_dir is None else cache_dir,
            timeout=timeout,
            argv_prefix=prefix,
        )
    elif cache_dir is not None and os.path.abspath(cache_dir) != os.path.abspath(cni.cache.cache_dir):
        raise DoctorError(f"cache_dir {os.fspath(cache_dir)} is not the engine's ({cni.cache.cache_dir})")
    ctx = Context(
        conf_dir=os.fspath(conf_dir),
        cache=cni.cache,
        cni=cni,
        host=Host(host_netns, timeout=timeout or 30.0),
        sources=tuple(sources),
        grace=grace,
        networks={},
    )
    return examine(ctx)
