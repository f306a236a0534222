#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install igg4-cds into it. Usage: scripts/setup.sh [extras]
#   scripts/setup.sh            runtime only
#   scripts/setup.sh dev,spark  with the test tools and the Spark extra
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  py=""
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$cand"; break
    fi
  done
  [ -n "$py" ] || { echo "igg4-cds needs Python >= 3.11" >&2; exit 1; }
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -e ".[${extras}]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
