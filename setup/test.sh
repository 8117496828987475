#!/usr/bin/env bash
# Prepare this machine (.venv at the repo root, with test tools) and run the tests: the default
# suite in .venv, then one stage per WebUI host (setup/host_envs.sh: the tab and the API under
# A1111's and Forge's own packages). Prints one summary line per stage; fails if any stage failed.
# Extra arguments go to the default suite's pytest (e.g. -k cli, or -m heavy with
# SONIC_TEST_HEAVY=1). SONIC_HOST_ENVS picks the host stages: "a1111 forge" (default), one of
# them, or 0 for none. The "latest" stage installs the wheel with no constraints file (the newest
# dependencies our bounds allow) into a fresh venv and runs a generation; SONIC_LATEST_DEPS=0
# skips it.
#
# The host stages (venv, then tests) and the latest stage run beside the main suite; their
# output is printed after it. Each test process gets one torch thread: the tiny test models gain
# nothing from a second one, and two stages of two threads each on two cores lose to
# oversubscription (two processes of the same tests: 34 s with one thread each, 43 s with two,
# 35 s for one process alone).
set -euo pipefail
cd "$(dirname "$0")/.."
. setup/common.sh
. setup/host_envs.sh
ensure_venv app,ml,identity,provenance,postgres,queue,test
ensure_test_tools

hosts=${SONIC_HOST_ENVS-${HOST_NAMES[*]}}
[ "$hosts" = 0 ] && hosts=""
latest=$([ "${SONIC_LATEST_DEPS-1}" != 0 ] && echo 1 || echo "")

# The WebUI-facing tests run under each host's own stack; no host ships the main venv's gradio,
# so with every host stage on, the main suite leaves them to those stages.
main_args=("$@")
if [ $# = 0 ] && [ "$hosts" = "${HOST_NAMES[*]}" ]; then
  # (all but the one that resolves our requirements against PyPI for every host's Python)
  main_args=(--ignore=tests/hosts)
  for test_file in tests/webui/test_*.py; do
    [ "$test_file" = tests/webui/test_install_resolves.py ] || main_args+=(--ignore="$test_file")
  done
fi

# side_stages DIR: each host stage (its venv, then its tests), then the latest stage; their
# summary lines go to DIR/summary as each ends.
side_stages() {
  local dir=$1 host
  for host in $hosts; do
    run_host_stage "$host" --basetemp="$dir/pytest-$host"
    printf '%s\n' "${STAGE_SUMMARY[@]}" > "$dir/summary"
  done
  if [ -n "$latest" ]; then
    SONIC_TEST_LATEST_DEPS=1 run_pytest_stage latest "" .venv/bin/python -p no:cacheprovider \
      --basetemp="$dir/pytest-latest" tests/test_wheel_install.py -k newest_allowed
    printf '%s\n' "${STAGE_SUMMARY[@]}" > "$dir/summary"
  fi
}

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
side=$(mktemp -d "${TMPDIR:-/tmp}/sonic-side.XXXXXX")
side_pid=""
trap '[ -n "$side_pid" ] && kill "$side_pid" 2>/dev/null; rm -rf "$side"' EXIT
if [ -n "$hosts$latest" ]; then
  (set +e; side_stages "$side") > "$side/log" 2>&1 &
  side_pid=$!
  echo "=== beside the main suite: host stages (${hosts:-none}), latest stage" \
       "($([ -n "$latest" ] && echo on || echo off)); output printed after it"
fi

failed=0
run_pytest_stage main "" .venv/bin/python --durations=15 "${main_args[@]}" || failed=1
if [ -n "$side_pid" ]; then
  wait "$side_pid" || true
  side_pid=""
  echo "=== beside the main suite (output)"
  cat "$side/log"
  side_lines=()
  [ -f "$side/summary" ] && mapfile -t side_lines < "$side/summary"
  STAGE_SUMMARY+=("${side_lines[@]}")
  for stage in $hosts ${latest:+latest}; do
    if ! grep -q "^stage $stage: " "$side/summary" 2>/dev/null; then
      STAGE_SUMMARY+=("stage $stage: FAIL: did not finish (see the output above)"); failed=1
    elif ! grep -q "^stage $stage: PASS" "$side/summary"; then
      failed=1
    fi
  done
fi
print_stage_summary
exit "$failed"
