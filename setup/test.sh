#!/usr/bin/env bash
# Prepare this machine (.venv at the repo root, with test tools) and run the default test suite.
# Extra arguments go to pytest (e.g. -k cli, or -m heavy with SONIC_TEST_HEAVY=1).
set -euo pipefail
cd "$(dirname "$0")/.."
. setup/common.sh
ensure_venv app,ml,identity,provenance,test
ensure_chromium
exec .venv/bin/python -m pytest "$@"
