#!/usr/bin/env bash
# Prepare this machine (.venv at the repo root) and start the standalone app on
# http://127.0.0.1:7861. Extra arguments go to `sonic-ext serve` (e.g. --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
. setup/common.sh
ensure_venv app,ml,identity,provenance
exec .venv/bin/sonic-ext serve "$@"
