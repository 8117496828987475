#!/usr/bin/env bash
# Prepare this machine (.venv at the repo root) and start the standalone app on
# http://127.0.0.1:7861. Extra arguments go to `sonic-ext`: its global flags (--home,
# --models-dir, --log-level, --debug) before `serve`, the rest after it (e.g. --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
. setup/common.sh
global=() serve=()
while (($#)); do
  case "$1" in
    --home|--models-dir|--log-level)
      (($# >= 2)) || die "$1 needs a value"
      global+=("$1" "$2"); shift 2 ;;
    --home=*|--models-dir=*|--log-level=*|--debug) global+=("$1"); shift ;;
    *) serve+=("$1"); shift ;;
  esac
done
ensure_venv app,ml,identity,provenance
exec .venv/bin/sonic-ext "${global[@]}" serve "${serve[@]}"
