"""Liveness sources: who can say whether a container still exists.

The filesystem (the namespace path of an attachment) is always asked first and by the examination
itself; a source answers for container ids: :data:`Liveness.ALIVE`, :data:`Liveness.GONE` or
:data:`Liveness.UNKNOWN`. A source that cannot be asked raises :class:`SourceError`: a runtime that
is down is never taken as "every container is gone".
"""

from __future__ import annotations

import enum
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterable, Mapping, Sequence

from .._base._errors import CNIError
from .._spec._validate import validate_container_id, validate_ifname
from ._model import SourceError

__all__ = ["DockerSource", "Liveness", "PodmanSource", "Source", "ValidSource", "combine", "source_named"]

Query = tuple[str, "str | None"]

# Docker's and Podman's container ids: 64 hex digits. Anything else is not theirs to judge (a
# name would be looked up as a name).
_FULL_ID = re.compile(r"[0-9a-f]{64}")


class Liveness(str, enum.Enum):
    """A source's answer about one container."""

    #: The runtime knows the container (running or not).
    ALIVE = "alive"
    #: The runtime says the container does not exist.
    GONE = "gone"
    #: The source cannot tell (not one of its ids).
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


def combine(answers: Iterable[Liveness]) -> Liveness:
    """Several sources' answers as one: alive if any says alive, else gone if any says gone."""
    seen = set(answers)
    if Liveness.ALIVE in seen:
        return Liveness.ALIVE
    return Liveness.GONE if Liveness.GONE in seen else Liveness.UNKNOWN


class Source:
    """A liveness source. Subclasses set :attr:`name` and implement :meth:`state`; :meth:`states`
    answers many at once (override it when the runtime can list its containers in one call)."""

    #: The name used on the command line (``--source NAME``) and in the report.
    name = "source"

    def check(self) -> None:
        """Raise :class:`SourceError` when the source cannot be asked at all."""

    def state(self, container_id: str, ifname: str | None = None) -> Liveness:
        """Whether the container exists (``ifname``: the attachment, for sources that know them).
        Raises :class:`SourceError` when the runtime cannot be asked."""
        raise NotImplementedError

    def states(self, queries: Iterable[Query]) -> dict[Query, Liveness]:
        """:meth:`state` of each ``(container_id, ifname)``."""
        return {q: self.state(*q) for q in queries}


class ValidSource(Source):
    """The attachments a runtime reports valid (what a kubelet or Nomad knows): a container id
    alone covers all its interfaces. Everything not listed is gone."""

    name = "valid"

    def __init__(self, attachments: Iterable[str | tuple[str, str]]) -> None:
        self._ids: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()
        for item in attachments:
            if isinstance(item, str):
                validate_container_id(item)
                self._ids.add(item)
            else:
                cid, ifname = item
                validate_container_id(cid)
                validate_ifname(ifname)
                self._pairs.add((cid, ifname))
        self._pair_ids = {cid for cid, _ in self._pairs}

    @classmethod
    def from_json(cls, data: bytes | str, *, source: str = "the list of valid attachments") -> ValidSource:
        """From JSON: a list of container ids, or of ``{"containerID": ..., "ifname": ...}``
        (``ifname`` optional). Raises :class:`SourceError` for anything else."""
        try:
            items = json.loads(data)
        except ValueError as exc:
            raise SourceError(f"{source} is not JSON: {exc}") from None
        if not isinstance(items, list):
            raise SourceError(f"{source} must be a JSON list, not {type(items).__name__}")
        out: list[str | tuple[str, str]] = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("containerID"), str):
                ifname = item.get("ifname")
                if ifname is None:
                    out.append(item["containerID"])
                elif isinstance(ifname, str):
                    out.append((item["containerID"], ifname))
                else:
                    raise SourceError(f"{source}: [{i}].ifname must be a string")
            elif isinstance(item, str):
                out.append(item)
            else:
                raise SourceError(
                    f'{source}: [{i}] must be a container id or {{"containerID": ..., "ifname": ...}}'
                )
        try:
            return cls(out)
        except CNIError as exc:
            raise SourceError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ValidSource:
        """:meth:`from_json` of a file (``-``: standard input)."""
        where = os.fspath(path)
        try:
            if where == "-":
                import sys

                data = sys.stdin.buffer.read()
            else:
                with open(where, "rb") as f:
                    data = f.read(64 << 20)
        except OSError as exc:
            raise SourceError(f"cannot read the list of valid attachments {where}: {exc.strerror}") from None
        return cls.from_json(data, source=where)

    def state(self, container_id: str, ifname: str | None = None) -> Liveness:
        """Alive when listed (the container, or this attachment of it), else gone."""
        if container_id in self._ids:
            return Liveness.ALIVE
        if (container_id, ifname) in self._pairs or (ifname is None and container_id in self._pair_ids):
            return Liveness.ALIVE
        return Liveness.GONE


class PodmanSource(Source):
    """Podman, through its command line: ``podman container exists ID`` (and ``podman ps -a`` to
    list every container at once, when it works: after a hard crash it fails until the crashed
    container is removed).

    ``command``: the argv that runs podman (e.g. ``("nsenter", "--net=/run/netns/x", "podman")``);
    ``env``: its whole environment (default: inherited), e.g. with ``CONTAINERS_CONF``.
    """

    name = "podman"

    def __init__(
        self,
        command: Sequence[str] = ("podman",),
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.command = tuple(command)
        self.env = dict(env) if env is not None else None
        self.timeout = timeout

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*self.command, *args]
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, env=self.env, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(f"cannot run podman ({' '.join(argv)}): {exc}") from None

    def _exists(self, container_id: str) -> Liveness:
        proc = self._run("container", "exists", container_id)
        if proc.returncode in (0, 1):
            return Liveness.ALIVE if proc.returncode == 0 else Liveness.GONE
        why = proc.stderr.strip() or f"exit status {proc.returncode}"
        raise SourceError(f"podman cannot be asked about container {container_id}: {why}")

    def check(self) -> None:
        """Ask podman about a container that cannot exist."""
        self._exists("0" * 64)

    def state(self, container_id: str, ifname: str | None = None) -> Liveness:  # noqa: ARG002
        """``podman container exists``: alive (exit 0) or gone (exit 1); other ids are unknown."""
        return self._exists(container_id) if _FULL_ID.fullmatch(container_id) else Liveness.UNKNOWN

    def states(self, queries: Iterable[Query]) -> dict[Query, Liveness]:
        """One ``podman ps -a`` for all, or one ``container exists`` each when it fails."""
        queries = list(queries)
        if not any(_FULL_ID.fullmatch(cid) for cid, _ in queries):
            return dict.fromkeys(queries, Liveness.UNKNOWN)
        proc = self._run("ps", "--all", "--no-trunc", "--format", "{{.ID}}")
        if proc.returncode != 0:
            return super().states(queries)
        known = set(proc.stdout.split())
        return {q: _listed(q[0], known) for q in queries}


def _listed(container_id: str, known: set[str]) -> Liveness:
    if not _FULL_ID.fullmatch(container_id):
        return Liveness.UNKNOWN
    return Liveness.ALIVE if container_id in known else Liveness.GONE


class DockerSource(Source):
    """The Docker engine, through its API on a unix socket (as :mod:`cnilib.docker`): ``host``,
    else ``DOCKER_HOST``, else ``unix:///var/run/docker.sock``. Needs httpx."""

    name = "docker"

    def __init__(self, host: str | None = None, *, timeout: float = 10.0) -> None:
        self.host = host
        self.timeout = timeout

    def _get(self, url: str) -> tuple[int, bytes]:
        from cnilib import docker  # (httpx and the Docker helpers load only when asked)

        try:
            sock = docker.socket_path(self.host)
        except docker.DockerError as exc:
            raise SourceError(str(exc)) from None
        # httpcore leaks the socket of a failed unix connect (a ResourceWarning later): the usual
        # failures are caught here with a socket that is always closed.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(self.timeout)
            probe.connect(sock)
        except OSError as exc:
            raise SourceError(
                f"cannot reach the Docker engine at unix://{sock}: {exc.strerror or exc}"
            ) from None
        finally:
            probe.close()
        try:
            import httpx
        except ImportError:
            raise SourceError("the docker source needs httpx: pip install cnilib[docker]") from None
        try:
            with httpx.Client(
                transport=httpx.HTTPTransport(uds=sock, verify=False),
                base_url="http://docker",
                timeout=self.timeout,
                trust_env=False,
            ) as client:
                response = client.get(url)
        except httpx.TransportError as exc:
            raise SourceError(f"cannot reach the Docker engine at unix://{sock}: {exc}") from None
        return response.status_code, response.content

    def check(self) -> None:
        """``GET /_ping``."""
        status, body = self._get("/_ping")
        if status != 200:
            raise SourceError(f"the Docker engine answered {status} to a ping: {body[:200]!r}")

    def state(self, container_id: str, ifname: str | None = None) -> Liveness:  # noqa: ARG002
        """``GET /containers/ID/json``: alive (200) or gone (404); other ids are unknown."""
        if not _FULL_ID.fullmatch(container_id):
            return Liveness.UNKNOWN
        status, body = self._get(f"/containers/{container_id}/json")
        if status in (200, 404):
            return Liveness.ALIVE if status == 200 else Liveness.GONE
        raise SourceError(f"the Docker engine answered {status} for container {container_id}: {body[:200]!r}")

    def states(self, queries: Iterable[Query]) -> dict[Query, Liveness]:
        """One ``GET /containers/json?all=1`` for all."""
        queries = list(queries)
        status, body = self._get("/containers/json?all=1")
        try:
            listed = json.loads(body) if status == 200 else None
            known = {str(c["Id"]) for c in listed} if isinstance(listed, list) else None
        except (ValueError, KeyError, TypeError):
            known = None
        if known is None:
            raise SourceError(
                f"the Docker engine answered {status} to the list of containers: {body[:200]!r}"
            )
        return {q: _listed(q[0], known) for q in queries}


def source_named(name: str, *, docker_host: str | None = None, timeout: float | None = None) -> Source:
    """The source ``name`` (``docker`` or ``podman``) with its defaults."""
    if name == "docker":
        return DockerSource(docker_host, timeout=timeout or 10.0)
    if name == "podman":
        return PodmanSource(timeout=timeout or 60.0)
    raise SourceError(f"unknown liveness source {name!r} (docker, podman, or --valid FILE)")
