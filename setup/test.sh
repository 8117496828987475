#!/usr/bin/env bash
# Prepare this machine (.venv at the repo root, with test tools) and run the tests: the default
# suite in .venv, then one stage per WebUI host (setup/host_envs.sh: the tab and the API under
# A1111's and Forge's own packages). Prints one summary line per stage; fails if any stage failed.
# Extra arguments go to the default suite's pytest (e.g. -k cli, or -m heavy with
# SONIC_TEST_HEAVY=1). SONIC_HOST_ENVS picks the host stages: "a1111 forge" (default), one of
# them, or 0 for none. The "latest" stage installs the wheel with no constraints file (the newest
# dependencies our bounds allow) into a fresh venv and runs a generation; SONIC_LATEST_DEPS=0
# skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
. setup/common.sh
. setup/host_envs.sh
ensure_venv app,ml,identity,provenance,test
ensure_test_tools

hosts=${SONIC_HOST_ENVS-${HOST_NAMES[*]}}
[ "$hosts" = 0 ] && hosts=""
failed=0
run_pytest_stage main "" .venv/bin/python "$@" || failed=1
if [ "${SONIC_LATEST_DEPS-1}" != 0 ]; then
  SONIC_TEST_LATEST_DEPS=1 run_pytest_stage latest "" .venv/bin/python \
    tests/test_wheel_install.py -k newest_allowed || failed=1
fi
for host in $hosts; do
  run_host_stage "$host" || failed=1
done
print_stage_summary
exit "$failed"
