"""The typed models (layer 2): attrs classes for configurations, runtime configurations, results,
capabilities and version info, their cattrs codec, and the configuration loader that builds them.

The public names load from these modules through ``cnilib``'s lazy table; this package imports
nothing itself, so a module of it costs only what it imports.
"""
