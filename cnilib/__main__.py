"""``python -m cnilib``: the ``cnilib`` command line (see ``cnilib --help``)."""

from __future__ import annotations

import sys

from cnilib._cli import main

if __name__ == "__main__":
    sys.exit(main())
