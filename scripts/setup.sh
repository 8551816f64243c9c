#!/usr/bin/env bash
# Install everything cnilib's jobs need on a fresh Debian machine (as root), then the package itself
# with its extras into .venv. Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  containernetworking-plugins iptables iproute2 util-linux procps iputils-ping
  python3-venv  # tests/test_packaging.py: a user's virtual environment, made with the machine's python3
  docker.io busybox-static
  podman
  golang-go golang-github-appc-cni-dev golang-github-containerd-go-cni-dev
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  # Installing docker.io must not start the machine's own Docker daemon: we run a private one.
  # policy-rc.d (exit 101: "do not start services") is ours only for this install; left in place it
  # would silently keep every later `apt-get install` on this machine from starting its service.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# cnilib scripts/setup.sh: no service starts during its install\nexit 101\n' \
      > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT  # also when the install fails
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "${made_policy:-}" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Editable: hatchling's is a .pth line naming this checkout (no import hook, nothing written here).
# The setuptools build of earlier versions left cnilib.egg-info here: on sys.path through that line it
# would be a second, stale cnilib distribution (its entry points, its version).
rm -rf cnilib.egg-info
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,docker,lint,docs,zipapp]' 2>&1 \
  | { grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true; }
# Byte-compile now: with PYTHONDONTWRITEBYTECODE set (as on these machines) an editable install would
# otherwise recompile cnilib on every start of the command line.
.venv/bin/python -m compileall -q cnilib >/dev/null
