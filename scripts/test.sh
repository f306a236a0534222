#!/usr/bin/env bash
# The whole test suite on a fresh clone: installs what it needs, starts what it needs, runs the checks.
#   bash scripts/test.sh            lint, types and every test
#   bash scripts/test.sh -k hooks   extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,spark

# Services the tests talk to over real connections (present on the team's machines).
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi

# CJK fonts for Chromium, so that Chinese pages render as text, not boxes (the browser tests check).
if command -v fc-list >/dev/null 2>&1 && ! fc-list :lang=zh 2>/dev/null | grep -q . \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null) \
    || echo "warning: could not install fonts-noto-cjk; the CJK rendering test will be skipped" >&2
fi

.venv/bin/ruff check --output-format concise .
.venv/bin/ruff format --check --quiet cds_service fhir_mappings
.venv/bin/mypy
# The README's main job, end to end: fixture FHIR server + service, three hook calls checked.
.venv/bin/igg4-cds demo --once --port 0 >/dev/null
echo "demo check passed"
.venv/bin/python -m pytest "$@"
