#!/usr/bin/env bash
# Install a PyPI package unless a check command already succeeds.
#   scripts/need-pip.sh 'python3 -c "import moto.server"' 'moto[server]'
# Debian's own python3 refuses pip installs (PEP 668) unless told this machine is the
# tests' to change, hence the second attempt.
set -euo pipefail
check=$1 package=$2
bash -c "$check" >/dev/null 2>&1 && exit 0
echo "installing: $package (pip)" >&2
python3 -m pip install -q --disable-pip-version-check "$package" 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --break-system-packages "$package"
