"""What a reader of README.md and docs/*.md meets before running a sample that changes the machine's
network: a warning box, written as a GitHub alert (``> [!WARNING]``), which GitHub renders as a box
and the Sphinx build (docs/conf.py) as a warning admonition.

The test suite runs such samples inside a throwaway network namespace (``docs: sandbox``), a reader
does not. Samples written to a file (``docs: file``) and ``text`` blocks are not run by a reader as
they stand; everything else is, ``not-run`` blocks included.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<code>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL
)
_RUN_BY_READERS = {"python", "console", "sh", "bash"}
# What changes the network of the machine a sample runs on: namespaces, links, addresses, firewall
# rules, and what makes them (a plugin run by cnilib, the jobs that run them).
NETWORK_CHANGING = re.compile(
    r"\bip (?:netns|link|addr|address|route) (?:add|del)\b"
    r"|\biptables\s+(?:-t\s+\w+\s+)?-[AIDRNXFPZE]\b"
    r"|\bcnilib (?:add|check|del|gc|docker (?:attach|detach|watch))\b"
    r"|\b(?:cni|nets|networks|real)\.(?:add|check|delete|setup|remove)\("
    r"|\bdocker\.(?:attach|detach)\("
    r"|scripts/main-job\.sh"
)
# A sample that makes its own sandbox runs the plugins in it, not on the machine.
SANDBOXED = re.compile(r"\bSandbox\(|\bcnilib try\b")
SANDBOX_PAGE = re.compile(r"^<!-- docs: sandbox", re.MULTILINE)
WARNING = re.compile(r"^> \[!WARNING\]\n(?:>.*\n)+", re.MULTILINE)


def first_network_changing_sample(text: str) -> tuple[int, str] | None:
    """The offset and first matching line of the page's first network-changing sample, if any."""
    end = 0
    for fence in _FENCE.finditer(text):
        between, end = text[end : fence.start()], fence.end()
        code = fence["code"]
        if fence["lang"] not in _RUN_BY_READERS or "docs: file" in between or SANDBOXED.search(code):
            continue
        found = NETWORK_CHANGING.search(code)
        if found:
            start = code.rfind("\n", 0, found.start()) + 1
            end = code.find("\n", found.end())
            return fence.start(), code[start : end if end >= 0 else None].strip()
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_warning_box_comes_before_the_first_sample_that_changes_the_network(page: Path) -> None:
    text = page.read_text()
    found = first_network_changing_sample(text)
    if SANDBOX_PAGE.search(text):
        # The suite runs this page's samples in a sandbox: a reader would run them on the machine.
        assert found is not None, "a sandboxed page whose samples this test does not recognise"
    if found is None:
        return
    offset, line = found
    fences = [f.span() for f in _FENCE.finditer(text)]
    boxes = [m.start() for m in WARNING.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    box = next((start for start in boxes if start < offset), None)
    line_no = text.count("\n", 0, offset) + 1
    assert box is not None, f"no `> [!WARNING]` box before line {line_no}: {line}"


def test_the_detector_finds_what_it_is_for() -> None:
    fence = "```"
    page = (
        f"<!-- docs: file t.py -->\n\n{fence}python\ncni.add(conf, rt)\n{fence}\n\n"
        f"{fence}text\nip netns add x\n{fence}\n\n"
        f"{fence}python\nimport cnilib\n{fence}\n\n"
        f"1. A step:\n\n   {fence}console\n   $ ip netns add abc\n   {fence}\n"
    )
    found = first_network_changing_sample(page)
    assert found is not None
    assert found[1] == "$ ip netns add abc"
    assert first_network_changing_sample(f"{fence}console\n$ cnilib try conf\n{fence}\n") is None
    assert first_network_changing_sample(f"{fence}sh\napt-get install iptables\n{fence}\n") is None
    assert first_network_changing_sample(f"{fence}sh\niptables -t nat -A X -j Y\n{fence}\n") is not None


def test_the_sphinx_build_renders_the_box_as_a_warning(tmp_path: Path) -> None:
    # A one-page site with docs/conf.py's settings and hooks.
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'docs')!r})\nfrom conf import *  # noqa\n"
        "from conf import setup  # noqa\n"
    )
    fence = "```"
    (src / "index.md").write_text(
        textwrap.dedent(
            f"""\
            # Page

            > [!WARNING]
            > These samples change **this machine's** network: `ip netns add`.
            > Run them in a throwaway VM.

            > A plain quote stays a quote.

            {fence}console
            $ ip netns add abc
            {fence}

            {fence}text
            > [!NOTE]
            > shown as written
            {fence}
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(src), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "html" / "index.html").read_text()
    box = re.search(r'<div class="admonition warning">(.*?)</div>', html, re.DOTALL)
    assert box is not None, html
    assert "<strong>this machine" in box[1]
    assert "Run them in a throwaway VM." in box[1]
    assert "[!WARNING]" not in html
    assert "&gt; [!NOTE]\n&gt; shown as written" in html  # in a code block, as written
    assert "<blockquote>" in html  # the plain quote


# MyST fills `[](page.md)` with the page's title, GitHub shows an empty link: every link has text.
_EMPTY_LINK = re.compile(r"(?<!!)\[\]\(([^)]*)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_shows_its_text_on_github_too(page: Path) -> None:
    empty = [m.group(0) for m in _EMPTY_LINK.finditer(page.read_text())]
    assert empty == [], f"links without text (empty on GitHub): {empty}"


def test_the_empty_link_detector_finds_what_it_is_for() -> None:
    assert _EMPTY_LINK.findall("see [](cli.md) and [the CLI](cli.md), ![](x.png)") == ["cli.md"]
