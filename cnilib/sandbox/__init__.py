"""A throwaway network world for real CNI plugins, as root or as any other user.

A :class:`Sandbox` is a private network namespace plus a private mount namespace (with tmpfs over
``/run`` and ``/var/lib/cni``, so the xtables lock, host-local's leases and the result cache live
and die with it). As root that is all; as any other user it is also a new user namespace in which
the caller is root, so the real plugins (bridge, host-local, portmap with iptables...) work without
privileges and without a setuid helper::

    import cnilib
    from cnilib.sandbox import Sandbox

    conflist = cnilib.NetworkConfigList.from_file("examples/net.d/10-mybridge.conf")
    with Sandbox() as sb:
        ctr = sb.container("c1")
        cni = sb.cni(plugin_dirs=["/usr/lib/cni"])
        rt = cnilib.RuntimeConfig(container_id="c1", netns=ctr.path)
        cni.add(conflist, rt)
        print(sb.run(["ip", "-br", "addr"], netns=ctr).stdout)
        cni.delete(conflist, rt)
        print(sb.leaks())        # [] : what DEL left behind
        print(sb.leftovers().kept)   # the bridge (and more) the bridge plugin keeps on purpose

A holder process (``cat`` reading a pipe from this process) keeps the namespaces alive: when the
sandbox is closed, or this process dies however it dies, the pipe closes, the holder exits and
the kernel drops the namespaces with everything in them. :meth:`Sandbox.close` also kills every
process still inside (a plugin's daemon, a command that hung).

Container namespaces (:meth:`Sandbox.container`) are ``ip netns`` bind mounts under the private
``/run/netns``: their paths (``/run/netns/NAME``) mean something only inside the sandbox, which is
where the sandbox's :class:`~cnilib.CNI` runs plugins (``argv_prefix``).

:meth:`Sandbox.inventory` lists links, addresses, routes (``ip -j``), iptables rules
(``iptables-save``), nftables tables of the plugins' own (``nft``, when installed), files under
``/var/lib/cni`` and ``/run`` and result-cache entries, in the host namespace and in every
container. What is there now that was not at the baseline is split by one rule
(:func:`split_leftovers`, the one ``cnilib try`` uses) into what was left behind and what the
plugins keep across attachments on purpose (:meth:`Sandbox.leftovers`); :meth:`Sandbox.leaks` is the
first part, or with ``strict=True`` everything new.
"""

from __future__ import annotations

from cnilib.sandbox import _state as _sandbox_state
from cnilib.sandbox._leftovers import Leftovers, split_leftovers
from cnilib.sandbox._sandbox import Sandbox
from cnilib.sandbox._state import Container, Inventory, SandboxError, StateItem, UserNamespaceUnavailable

__all__ = [
    "HOST",
    "Container",
    "Inventory",
    "Leftovers",
    "Sandbox",
    "SandboxError",
    "StateItem",
    "UserNamespaceUnavailable",
    "split_leftovers",
]

#: The ``where`` of a :class:`StateItem` of the sandbox's host namespace.
HOST = _sandbox_state.HOST
