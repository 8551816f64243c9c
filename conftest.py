"""Every code sample of README.md and docs/*.md runs as a test, collected by Sybil.

Conventions for a page (docs/contributing.md says the same for authors):

Fenced blocks, by language:

* ``python``: executed in order in one Python process per page (names carry over from block to
  block). A block that starts with ``>>>`` is a doctest: what it shows is compared with what it
  prints (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``).
* ``console``: a shell session. ``$ command`` lines (a line ending in ``\\`` continues on a line
  starting with the prompt ``> ``) are run by one
  ``bash`` per page (``cd`` and ``export`` carry over); the lines after a command are its expected
  output, stdout and stderr together as a terminal shows them. A command shown without output must
  print nothing. In expected output ``...`` stands for anything (doctest's ``ELLIPSIS``): use it only
  for what varies from run to run (ids, veth names, timings) and say so on the page.
* ``sh`` / ``bash``: a script run by the page's ``bash``; it must succeed; its output is not shown.
* ``json``: must parse.
* Any of these (and ``text``) preceded by ``<!-- docs: file PATH -->`` is written to ``PATH``
  (relative to the page's working directory) instead of being run (Python is compiled, JSON
  parsed), so the samples after it use exactly what the page shows.
* ``text`` and everything else: shown, not run (a synopsis, a diagram). Preceded by
  ``<!-- docs: output -->`` a ``text`` block is the expected output of the ``python`` block just
  before it (compared as for ``console``).

Directives are HTML comments (invisible once rendered); a page directive comes before the page's
first sample:

* ``<!-- docs: sandbox -->``: the page needs root and the real plugins in ``/usr/lib/cni``. Its
  Python and shell samples run inside a throwaway network namespace (the "host": bridges, veths and
  iptables rules made by plugins live and die with it) and a private mount namespace in which
  ``/var/lib`` is an empty tmpfs (so libcni's default cache ``/var/lib/cni`` and host-local's store
  start empty and vanish). Network namespaces a page leaves in ``/run/netns`` are deleted after it.
  Without root the page is skipped, and fails on CI (``CI`` or ``CNILIB_REQUIRE_REAL`` set).
* ``<!-- docs: sandbox docker -->``: the same, plus a private Docker engine
  (:class:`cnilib.testing.dockerd.PrivateDockerd`, living in the sandbox namespace) whose address is
  in ``DOCKER_HOST`` and which holds the offline-built image ``cnilib-busybox:latest`` (busybox
  ``httpd`` serving ``/www``).
* ``<!-- docs: not-run REASON -->``: the next block is not run. Only for commands that install the
  machine or run this suite itself; the reason is shown in the test report.

Every page runs in a fresh empty working directory holding ``examples``, a link to the source
tree's ``examples/``, with ``HOME`` pointing there; the virtual environment's ``bin`` comes first on
``PATH`` (``python``, ``cnilib``); ``NETCONFPATH``, ``CNI_*``, ``DOCKER_HOST`` (unless set by the
sandbox) and the ``*_proxy`` variables are removed, so nothing can be sent anywhere else. A page
must say, in words, which hidden setup it relies on (a sentence such as "these samples run inside a
throwaway network namespace"). A reader runs them on the machine: before the first sample that
changes its network a page shows a GitHub alert box, ``> [!WARNING]`` (a blockquote, not a sample;
docs/conf.py renders it as a Sphinx admonition; tests/test_docs_pages.py checks it is there).
"""

from __future__ import annotations

import contextlib
import doctest
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.abstract.lexers import LexerCollection
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parent
PLUGIN_DIR = "/usr/lib/cni"
SAMPLE_TIMEOUT = 300.0
_DONE = "__cnilib_docs_done__"
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# The Python side of a page: one interpreter per page, fed sample after sample on a pipe, answering
# on a pipe of its own, so that what samples print (or their subprocesses write to fd 1) cannot mix in.
_WORKER = textwrap.dedent(
    """
    import contextlib, doctest, io, json, os, sys, traceback
    os.chdir(sys.argv[1])
    sys.path.insert(0, sys.argv[1])
    requests, replies = os.fdopen(int(sys.argv[2]), "r"), os.fdopen(int(sys.argv[3]), "w")
    ns = {"__name__": "__main__"}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for line in requests:
        req = json.loads(line)
        buf = io.StringIO()
        try:
            if req["mode"] == "doctest":
                test = doctest.DocTestParser().get_doctest(
                    req["code"], ns, req["name"], req["file"], req["line"] - 1
                )
                runner = doctest.DocTestRunner(optionflags=flags)
                runner.run(test, out=buf.write, clear_globs=False)
                ns.update(test.globs)  # DocTest works on a copy: keep its names for later blocks
                reply = {"ok": runner.failures == 0, "output": "", "error": buf.getvalue()}
            else:
                code = compile("\\n" * (req["line"] - 1) + req["code"], req["file"], "exec")
                with contextlib.redirect_stdout(buf):
                    exec(code, ns)
                reply = {"ok": True, "output": buf.getvalue(), "error": ""}
        except BaseException:
            reply = {"ok": False, "output": buf.getvalue(), "error": traceback.format_exc()}
        sys.stdout.flush()
        replies.write(json.dumps(reply) + "\\n")
        replies.flush()
    """
)


def _real_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or bool(
        os.environ.get("CNILIB_REQUIRE_REAL")
    )


def _sandbox_missing() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.isfile(os.path.join(PLUGIN_DIR, "bridge")):
        return f"needs the Debian CNI plugins in {PLUGIN_DIR}"
    for tool in ("ip", "nsenter", "unshare", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return ""


def _page_env(workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    drop = re.compile(r"(NETCONFPATH|CNI_.*|CAP_ARGS|DOCKER_.*|.*_proxy|.*_PROXY|PYTEST_.*|COV_.*)")
    env = {k: v for k, v in os.environ.items() if not drop.fullmatch(k)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    env["HOME"] = str(workdir)
    env["TMPDIR"] = str(workdir / "tmp")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def _netns_mounts(pid: int) -> set[str]:
    """Mount points under /run/netns in the mount namespace of ``pid``."""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as f:
            points = {line.split()[4] for line in f}
    except OSError:
        return set()
    return {p for p in points if p.startswith("/run/netns/")}


class PageSession:
    """The bash and the Python interpreter that run one page's samples, in its working directory."""

    def __init__(self, page: Path, mode: str) -> None:
        self.page = page
        self.mode = mode
        self.workdir = Path(tempfile.mkdtemp(prefix="cnilib-docs-"))
        (self.workdir / "tmp").mkdir()
        (self.workdir / "examples").symlink_to(ROOT / "examples")
        self.log = open(self.workdir / "tmp" / "python-output.log", "wb")  # noqa: SIM115
        self.host: Any = None
        self.engine: Any = None
        self.bash: subprocess.Popen[bytes] | None = None
        self.python: subprocess.Popen[bytes] | None = None
        self._netns_before: set[str] = set()
        self.started = False
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        extra: dict[str, str] = {}
        wrap: list[str] = []
        if self.mode.startswith("sandbox"):
            from cnilib import netns

            self.host = netns.create(loopback_up=True)
            wrap = ["unshare", "--mount", "--propagation", "private", "--", *netns.enter_argv(self.host.path)]
            if "docker" in self.mode:
                from cnilib.testing.dockerd import PrivateDockerd

                self.engine = PrivateDockerd(netns=self.host.path)
                self.engine.start()
                self.engine.build_busybox_image()
                extra["DOCKER_HOST"] = self.engine.host
        env = _page_env(self.workdir, extra)
        self.bash = subprocess.Popen(
            [*wrap, "bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
        )
        if self.mode.startswith("sandbox"):
            out, rc = self.shell("mount -t tmpfs cnilib-docs /var/lib && mkdir /var/lib/cni")
            if rc != 0:
                raise RuntimeError(f"sandbox setup failed: {out}")
            wrap = ["nsenter", f"--target={self.bash.pid}", "--mount", "--net", "--"]
            # The page's mount namespace is private: namespaces that appear in it later are the
            # page's own (other processes' new namespaces never show up in it).
            self._netns_before = _netns_mounts(self.bash.pid)
        worker = self.workdir / "tmp" / "docs_worker.py"
        worker.write_text(_WORKER)
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.python = subprocess.Popen(
            [*wrap, sys.executable, str(worker), str(self.workdir), str(req_r), str(rep_w)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            pass_fds=(req_r, rep_w),
            start_new_session=True,
        )
        os.close(req_r)
        os.close(rep_w)
        self._requests = os.fdopen(req_w, "w")
        self._replies = os.fdopen(rep_r, "r")
        self.started = True

    # -- running samples ---------------------------------------------------------------------------

    def shell(self, command: str) -> tuple[str, int]:
        """Run ``command`` in the page's bash; return its output (stdout and stderr) and status."""
        assert self.bash is not None
        assert self.bash.stdin is not None
        assert self.bash.stdout is not None
        if self.bash.poll() is not None:
            raise AssertionError("the page's bash is gone (an earlier sample timed out or ended it)")
        # `$?` of the previous command is restored first, so that `echo $?` shows it.
        script = (
            f"(exit ${{_docs_rc:-0}}); {{\n{command}\n}} </dev/null\n"
            f"_docs_rc=$?; printf '\\n{_DONE} %d\\n' $_docs_rc\n"
        )
        self.bash.stdin.write(script.encode())
        self.bash.stdin.flush()
        fd = self.bash.stdout.fileno()
        data = b""
        marker = re.compile(rb"\n" + _DONE.encode() + rb" (\d+)\n$")
        while True:
            ready, _, _ = select.select([fd], [], [], SAMPLE_TIMEOUT)
            if not ready:
                _kill_group(self.bash)  # the page's later shell samples then fail at once
                raise AssertionError(f"no answer after {SAMPLE_TIMEOUT:g}s to: {command}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the page's bash ended while running: {command}\n{data.decode()}")
            data += chunk
            found = marker.search(data)
            if found:
                return data[: found.start()].decode(errors="replace"), int(found.group(1))

    def python_sample(self, code: str, *, mode: str, line: int) -> dict[str, Any]:
        assert self.python is not None
        if self.python.poll() is not None:
            raise AssertionError("the page's Python is gone (an earlier sample timed out or ended it)")
        self._requests.write(
            json.dumps(
                {"mode": mode, "code": code, "file": str(self.page), "line": line, "name": self.page.name}
            )
            + "\n"
        )
        self._requests.flush()
        ready, _, _ = select.select([self._replies], [], [], SAMPLE_TIMEOUT)
        reply = self._replies.readline() if ready else ""
        if not reply:
            _kill_group(self.python)
            self.log.flush()
            written = (self.workdir / "tmp" / "python-output.log").read_text(errors="replace")
            raise AssertionError(
                f"the page's Python did not answer (timeout or crash); its output:\n{written}"
            )
        result: dict[str, Any] = json.loads(reply)
        return result

    # -- the end of a page -------------------------------------------------------------------------

    def close(self) -> None:
        if self.mode.startswith("sandbox") and self.bash is not None and self.bash.poll() is None:
            for point in sorted(_netns_mounts(self.bash.pid) - self._netns_before):
                if re.fullmatch(r"/run/netns/[A-Za-z0-9_.-]+", point):
                    self.shell(f"umount {point}; rm -f {point}")
        for proc in (self.python, self.bash):
            if proc is None:
                continue
            _kill_group(proc)
            if proc.stdin is not None:
                proc.stdin.close()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.started:
            self._requests.close()
            self._replies.close()
        self.log.close()
        if self.engine is not None:
            self.engine.stop()
        if self.host is not None:
            self.host.delete()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Each process leads a session of its own: this also ends what its samples left running.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# -- evaluators ------------------------------------------------------------------------------------


def _session(example: Example) -> PageSession:
    ns = example.namespace
    session: PageSession | None = ns.get("_docs_session")
    if session is None:
        mode = ns.get("_docs_mode", "plain")
        if mode.startswith("sandbox"):
            missing = _sandbox_missing()
            if not missing and "docker" in mode:
                from cnilib.testing.dockerd import docker_available

                missing = "" if docker_available() else "needs dockerd, containerd and busybox-static"
            if missing:
                if _real_required():
                    pytest.fail(f"{example.path}: sandboxed samples cannot run on CI: {missing}")
                pytest.skip(f"sandboxed sample: {missing}")
        if "_docs_session_error" in ns:
            raise AssertionError(f"the page's session could not start: {ns['_docs_session_error']}")
        try:
            session = PageSession(Path(example.path), mode)
        except Exception as exc:
            ns["_docs_session_error"] = f"{type(exc).__name__}: {exc}"  # fail the page's samples fast
            raise
        ns["_docs_session"] = session
    return session


def _compare(want: str, got: str, what: str) -> None:
    want_n = "\n".join(line.rstrip() for line in want.strip("\n").splitlines())
    got_n = "\n".join(line.rstrip() for line in got.strip("\n").splitlines())
    if want_n == got_n or (
        want_n and doctest.OutputChecker().check_output(want_n + "\n", got_n + "\n", _FLAGS)
    ):
        return
    raise AssertionError(f"{what}\n--- the page shows:\n{want_n}\n--- it printed:\n{got_n}")


def _take_not_run(example: Example) -> bool:
    reason = example.namespace.pop("_docs_not_run", None)
    if reason is not None:
        example.namespace.setdefault("_docs_not_run_log", []).append((example.line, reason))
        return True
    return False


def _take_file(example: Example) -> bool:
    """Write the block to the file a ``docs: file PATH`` directive named, if one did."""
    target = example.namespace.pop("_docs_file", None)
    if target is None:
        return False
    path = _session(example).workdir / target
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example.parsed)
    return True


def evaluate_python(example: Example) -> None:
    if _take_not_run(example):
        return
    if _take_file(example):
        compile(example.parsed, str(example.path), "exec")  # a file shown must at least be Python
        return
    code: str = example.parsed
    session = _session(example)
    mode = "doctest" if code.lstrip().startswith(">>>") else "exec"
    reply = session.python_sample(code, mode=mode, line=example.line + 1)
    example.namespace["_docs_last_output"] = reply["output"]
    if not reply["ok"]:
        raise AssertionError(f"python sample at line {example.line} failed:\n{reply['error']}")


def _console_commands(source: str) -> list[tuple[str, str]]:
    commands: list[tuple[str, str]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            raise AssertionError(f"console block: expected a `$ ` command line, got {line!r}")
        cmd = [line[2:]]
        while cmd[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd.append(lines[i].removeprefix("> "))  # the shell's continuation prompt
        i += 1
        want: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            want.append(lines[i])
            i += 1
        commands.append(("\n".join(cmd), "\n".join(want)))
    return commands


def evaluate_console(example: Example) -> None:
    if _take_not_run(example):
        return
    session = _session(example)
    for command, want in _console_commands(example.parsed):
        got, _status = session.shell(command)
        _compare(want, got, f"`$ {command}` (line {example.line})")


def evaluate_script(example: Example) -> None:
    if _take_not_run(example) or _take_file(example):
        return
    got, status = _session(example).shell(example.parsed)
    if status != 0:
        raise AssertionError(f"script at line {example.line} exited with status {status}:\n{got}")


def evaluate_json(example: Example) -> None:
    try:
        json.loads(example.parsed)
    except ValueError as exc:
        raise AssertionError(f"json block at line {example.line} does not parse: {exc}") from exc
    _take_file(example)


def evaluate_text(example: Example) -> None:
    if _take_file(example):
        return
    if example.namespace.pop("_docs_output", False):
        _compare(
            example.parsed, example.namespace.get("_docs_last_output", ""), f"output at line {example.line}"
        )


def evaluate_directive(example: Example) -> None:
    words = example.parsed.split(None, 1)
    kind, rest = words[0], (words[1] if len(words) > 1 else "")
    ns = example.namespace
    if kind == "sandbox":
        if "_docs_session" in ns:
            raise AssertionError("`docs: sandbox` must come before the page's first sample")
        ns["_docs_mode"] = "sandbox docker" if rest.strip() == "docker" else "sandbox"
    elif kind == "file":
        ns["_docs_file"] = rest.strip()
    elif kind == "output":
        ns["_docs_output"] = True
    elif kind == "not-run":
        if not rest.strip():
            raise AssertionError("`docs: not-run` needs a reason")
        ns["_docs_not_run"] = rest.strip()
    else:
        raise AssertionError(f"unknown docs directive {kind!r}")


# -- parsers ---------------------------------------------------------------------------------------


class _FenceParser:
    """Fenced blocks of some languages, each evaluated by ``evaluator`` (no invisible code blocks)."""

    def __init__(self, languages: str, evaluator: Any) -> None:
        self.lexers = LexerCollection([FencedCodeBlockLexer(language=languages)])
        self.evaluator = evaluator

    def __call__(self, document: Document) -> Any:
        for region in self.lexers(document):
            region.parsed = region.lexemes["source"]
            region.evaluator = self.evaluator
            yield region


class _DirectiveParser:
    """``<!-- docs: KIND ARGS -->`` comments."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="docs", arguments=".+?")

    def __call__(self, document: Document) -> Any:
        for region in self.lexer(document):
            yield Region(region.start, region.end, region.lexemes["arguments"], evaluate_directive)


def _teardown(namespace: dict[str, Any]) -> None:
    session = namespace.pop("_docs_session", None)
    if session is not None:
        session.close()


pytest_collect_file = Sybil(
    parsers=[
        _DirectiveParser(),
        _FenceParser("python", evaluate_python),
        _FenceParser("console", evaluate_console),
        _FenceParser("sh|bash", evaluate_script),
        _FenceParser("json", evaluate_json),
        _FenceParser("text", evaluate_text),
    ],
    patterns=["README.md", "docs/*.md"],
    excludes=["docs/_build/*"],
    teardown=_teardown,
).pytest()
