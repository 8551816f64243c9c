"""Helper for tests/test_cache.py: write large cache entries in a loop until killed.

Usage: ``python crash_writer.py CACHE_DIR SEED``. Prints ``ready`` once each of the three entries
is on disk, then keeps rewriting them (about 100 KB each) so that a SIGKILL lands mid-write.
"""

from __future__ import annotations

import random
import sys

from cnilib._cache import CacheEntry, ResultCache

KEYS = (("crashnet", "ctr-1", "eth0"), ("crashnet", "ctr-2", "eth0"), ("crash-net", "ctr", "net1"))
PAYLOAD_SIZE = 100_000


def make_entry(key: tuple[str, str, str], counter: int, rnd: random.Random) -> CacheEntry:
    """An entry whose size and content change with ``counter``."""
    filler = "".join(rnd.choice("abcdef<>&") for _ in range(64)) * (PAYLOAD_SIZE // 64)
    return CacheEntry(
        network_name=key[0],
        container_id=key[1],
        ifname=key[2],
        config=b'{"cniVersion":"1.0.0","name":"' + key[0].encode() + b'","plugins":[]}',
        netns=f"/run/netns/{key[1]}",
        cni_args=(("COUNTER", str(counter)),),
        capability_args={"filler": filler[: PAYLOAD_SIZE - counter % 1000]},
        result={"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}], "dns": {}},
    )


def main() -> None:
    """Write entries forever."""
    cache = ResultCache(sys.argv[1])
    rnd = random.Random(int(sys.argv[2]))
    # Start at a key chosen by the seed, and say "ready" once every key was written: the test
    # expects all three entries, whatever the machine's load lets through before the kill.
    first = counter = int(sys.argv[2])
    while True:
        key = KEYS[counter % len(KEYS)]
        cache.write(make_entry(key, counter, rnd))
        if counter == first + len(KEYS) - 1:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
        counter += 1


if __name__ == "__main__":
    main()
