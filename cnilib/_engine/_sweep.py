"""Remove what plugins left for an attachment whose sandbox is gone (see ``cnilib._spec._leftovers``).

Run as a program, like a plugin (``python -I -S _sweep.py``, through the executor: in the
namespace where the plugins run), with a JSON document on stdin::

    {"cnilib": "remove leftovers", "network": "...", "leftovers": [{"kind": "chain", ...}, ...]}

Standard library only (it runs without site packages). Idempotent: what is not there is success.
It touches only what is the attachment's: rules that jump to the attachment's chain (from the
attachment's addresses, when they are known), a chain only once nothing jumps to it any more, a
link whose MAC address matches, a reservation file holding exactly the container id and interface
name. Prints nothing on success; on failure, one line per problem on stderr and exit status 1.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# It runs once per DEL of a gone sandbox, mostly for files alone (host-local's, tuning's): the
# modules only chains and links need (shlex, shutil, subprocess) are imported when they are.

_PATH = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"])
_ABSENT = ("does not exist", "no chain/target/match", "bad rule", "can't initialize", "cannot find device")
_TOOLS = {"ipv4": "iptables", "ipv6": "ip6tables"}


class SweepError(Exception):
    """One leftover could not be removed."""


def _tool(name: str) -> str | None:
    import shutil

    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), _PATH]))


def _run(argv: Sequence[str]) -> tuple[int, str, str]:
    import subprocess

    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def _absent(stderr: str) -> bool:
    text = stderr.lower()
    return any(words in text for words in _ABSENT)


def option(words: Sequence[str], *names: str) -> str:
    """The value of a rule's first option among ``names`` ("" when it has none)."""
    return next((n for w, n in itertools.pairwise(words) if w in names), "")


def target(words: Sequence[str]) -> str:
    """The chain (or target) a rule jumps or goes to ("" when none)."""
    return option(words, "-j", "--jump", "-g", "--goto")


def _source(words: Sequence[str]) -> str:
    return option(words, "-s", "--source").removesuffix("/32").removesuffix("/128")


def parse_rules(listing: str) -> tuple[set[str], list[list[str]]]:
    """``iptables -S`` (or ``iptables-save``) output: the chains it declares and every ``-A``
    rule as words (the chain first)."""
    import shlex

    chains: set[str] = set()
    rules: list[list[str]] = []
    for line in listing.splitlines():
        if line.startswith(":"):  # iptables-save's declaration: ":CHAIN POLICY [packets:bytes]"
            chains.add(line[1:].split(" ", 1)[0])
            continue
        words = shlex.split(line)
        if len(words) >= 2 and words[0] in ("-N", "-P"):
            chains.add(words[1])
        elif len(words) >= 3 and words[0] == "-A":
            rules.append(words[1:])
    return chains, rules


def remove_chain(item: Mapping[str, Any]) -> None:
    """Delete the rules of the item's parents that jump to its chain (those from its sources when
    given), then the chain, unless another rule still jumps to it."""
    tool = _tool(_TOOLS[item["family"]])
    if tool is None:
        return  # no iptables for this family: nothing of it can be there
    base = [tool, "-w", "-t", item["table"]]
    chain = item["name"]
    status, listing, err = _run([*base, "-S"])
    if status != 0:
        if _absent(err):
            return  # the table does not exist in this kernel
        raise SweepError(f"cannot list the {item['table']} table: {err}")
    chains, rules = parse_rules(listing)
    if chain not in chains:
        return
    sources = set(item.get("sources") or ())
    kept = False
    for words in rules:
        if target(words) != chain:
            continue
        if words[0] not in item["parents"] or (sources and _source(words) not in sources):
            kept = True  # another attachment's (same network and container, another interface)
            continue
        status, _, err = _run([*base, "-D", *words])
        if status != 0 and not _absent(err):
            import shlex

            raise SweepError(f"cannot delete rule {shlex.join(words)}: {err}")
    if kept:
        return
    for flag in ("-F", "-X"):
        status, _, err = _run([*base, flag, chain])
        if status != 0 and not _absent(err):
            raise SweepError(f"cannot remove chain {chain} ({item['table']}): {err}")


def remove_link(item: Mapping[str, Any]) -> None:
    """Delete the link when its MAC address is the one recorded (or none was)."""
    tool = _tool("ip")
    if tool is None:
        raise SweepError("the ip program (iproute2) is not installed")
    status, out, err = _run([tool, "-o", "link", "show", "dev", item["name"]])
    if status != 0:
        if _absent(err):
            return
        raise SweepError(f"cannot look at link {item['name']}: {err}")
    words = out.split()
    mac = words[words.index("link/ether") + 1].lower() if "link/ether" in words[:-1] else ""
    if item.get("mac") and mac != item["mac"].lower():
        return  # the name is another interface's now
    status, _, err = _run([tool, "link", "del", "dev", item["name"]])
    if status != 0 and not _absent(err):
        raise SweepError(f"cannot delete link {item['name']}: {err}")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SweepError(f"cannot remove {path}: {exc.strerror}") from None


def remove_file(item: Mapping[str, Any]) -> None:
    """Remove the file (a symlink itself, never its target)."""
    _unlink(item["path"])


def _holds(path: str, want: list[str]) -> bool:
    """The file at ``path`` (a regular file, not through a symlink) holds exactly ``want``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace").split() == want


def _reservation_files(item: Mapping[str, Any]) -> list[str]:
    """host-local's files of ``item["directory"]`` that reserve an address for exactly this
    container and interface."""
    directory = item["directory"]
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SweepError(f"cannot list {directory}: {exc.strerror}") from None
    want = [item["container_id"], item["ifname"]]
    paths = (
        os.path.join(directory, n) for n in names if n != "lock" and not n.startswith("last_reserved_ip")
    )
    return [path for path in paths if _holds(path, want)]


def remove_reservations(item: Mapping[str, Any]) -> None:
    """Remove host-local's files that reserve an address for exactly this container and interface."""
    for path in _reservation_files(item):
        _unlink(path)


def may_remain(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` may still be there, judged without a tool (as the caller sees the files):
    a file or a reservation is looked at; a chain or a link needs iptables or ip, so it may."""
    kind = item.get("kind")
    try:
        if kind == "file":
            return os.path.lexists(item["path"])
        if kind == "reservations":
            return bool(_reservation_files(item))
    except (SweepError, OSError, KeyError):
        return True  # no evidence that it is gone: the sweep process decides
    return True


_REMOVERS = {
    "chain": remove_chain,
    "link": remove_link,
    "file": remove_file,
    "reservations": remove_reservations,
}


def sweep(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Remove every item (each independently); the problems, one line each."""
    problems = []
    for item in items:
        remover = _REMOVERS.get(item.get("kind", ""))
        try:
            if remover is None:
                raise SweepError(f"unknown kind of leftover {item.get('kind')!r}")
            remover(item)
        except (SweepError, OSError, KeyError, ValueError) as exc:
            problems.append(f"{item.get('plugin', '?')} {item.get('kind', '?')}: {exc}")
    return problems


def main() -> int:
    """Read the document on stdin, remove its leftovers; 0, or 1 with the problems on stderr."""
    import json

    try:
        doc = json.loads(sys.stdin.buffer.read())
        items = doc["leftovers"]
    except (ValueError, KeyError, TypeError) as exc:
        sys.stderr.write(f"unusable input: {exc}\n")
        return 1
    problems = sweep(items)
    for line in problems:
        sys.stderr.write(line + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
