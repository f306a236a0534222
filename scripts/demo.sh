#!/usr/bin/env bash
# The main job on the bundled synthetic patients: assess every fixture and print the candidates.
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/igg4-cds demo "$@"
