#!/usr/bin/env bash
# The founding scenario end to end (see shared/seed-scenario.md): installs what is needed, then
# attaches a --net=none container (Docker when an engine can be started here, else an ip-netns
# container) to the mybridge network with the real bridge plugin, fetches its page, and detaches.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/founding_scenario.py "$@"
