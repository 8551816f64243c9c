"""The help texts of ``cnilib`` and ``cnilib docker watch`` (the parser, ``_parser``, shows them)."""

from __future__ import annotations

from .._base._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONF_DIR, DEFAULT_IFNAME, DEFAULT_PLUGIN_DIRS

__all__ = ["_DESCRIPTION", "_EPILOG", "_WATCH_EPILOG", "_WATCH_HELP"]

_DESCRIPTION = """\
Run CNI plugins from the command line. The cnitool commands (add, check, del, gc, status) take the
same arguments and environment as cnitool and print the same output; validate, explain, version,
cache, docker and doctor are cnilib's own."""

_EPILOG = f"""\
cnitool-compatible commands:
  add NETWORK NETNS         ADD; prints the result as cnitool does (4-space JSON, no newline)
  check NETWORK NETNS       CHECK (configurations of version 0.4.0 or newer)
  del NETWORK NETNS         DEL, also after a failed or partial ADD
  gc NETWORK [NETNS]        DEL every cached attachment of NETWORK not kept with --keep, then GC
  status NETWORK [NETNS]    STATUS (configurations of version 1.1.0; nothing to ask before)

cnilib's own commands:
  validate [NETWORK|PATH]   every plugin's VERSION and fields; every problem with its JSON path
  explain VERB NETWORK [NETNS]
                            dry run: the environment and stdin each plugin would get
  version PLUGIN            a plugin's VERSION answer
  cache list|show           attachments in the result cache (libcni's format)
  docker attach|detach CONTAINER NETWORK
                            ADD/DEL a Docker container started with --net=none
  docker watch              keep containers labelled cnilib.networks=NAME,... attached
  doctor [--fix] [--json]   what runtimes leaked on this node and what is wrong with its CNI
                            setup; --fix frees what can be freed (never anything live)
  try CONFIG                ADD, CHECK, DEL with the real plugins in a sandbox, as any
                            user; exit 1 if a step failed or DEL left something behind
  conformance PLUGIN        a plugin through the spec's lifecycle in a sandbox; every
                            check with pass/fail/skip (--json, --junit FILE)

environment (a command-line option wins over its variable):
  NETCONFPATH     configuration directory (--conf-dir), default {DEFAULT_CONF_DIR}
  CNI_PATH        plugin directories separated by ':' (--cni-path),
                  default {":".join(DEFAULT_PLUGIN_DIRS)}
  CNI_IFNAME      interface name (--ifname/-i), default {DEFAULT_IFNAME} (set but empty is an error)
  CNI_ARGS        plugin arguments K=V;K2=V2 (a pair with an empty key or value is an error)
  CAP_ARGS        capability arguments, a JSON object ({{"portMappings": [...]}})
  CNI_CONTAINERID container id (--container-id); default "cnitool-" + the first 10 bytes
                  of sha512(absolute NETNS path) in hex, as cnitool derives it
  CNI_CACHE_DIR   result cache directory (--cache-dir), default {DEFAULT_CACHE_DIR}
  CNI_TIMEOUT     seconds an operation may take (--timeout), default unlimited
  DOCKER_HOST     Docker engine for the docker commands (--docker-host),
                  default unix:///var/run/docker.sock

exit status:
  0  success
  1  failure: bad input, unknown network, a plugin failed or timed out (one line on stderr)
  2  usage error: unknown command, missing argument, invalid option value
  128+N  stopped by signal N (SIGHUP 129, SIGINT 130, SIGTERM 143) after the running plugin
         finished (a second signal kills it); an unfinished ADD is left to gc
"""


_WATCH_HELP = "keep containers labelled cnilib.networks=NAME[,NAME...] attached (see docs/docker-watch.md)"
_WATCH_EPILOG = (
    "exit status: 0 stopped by SIGTERM/SIGINT (--once: all converged), 1 failure, "
    "2 usage error, 3 another watcher serves the cache directory"
)
