"""The leaves (layer 0): errors, defaults, the version, the lazy-import helper, the Go-compatible
JSON writer, digests, the operation context, the netns probe and the permission checks.

Free of attrs, cattrs and typing, and importing nothing of cnilib outside this package. Empty on
purpose: ``cnilib --version`` imports :mod:`._defaults` and must stay that cheap.
"""
