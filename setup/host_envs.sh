#!/usr/bin/env bash
# The extension under each WebUI host's own stack. A host's users run our code with the host's
# packages (A1111 1.10.1: gradio 3.41.2, fastapi 0.94, pydantic 1, transformers 4.30.2; Forge:
# gradio 4.40.0, fastapi 0.104.1, pydantic 2.8.2, transformers 4.46.1, diffusers 0.31.0), so
# each host gets a venv at the repo root (.venv-a1111, .venv-forge) built from its pin file in
# constraints/hosts/, our requirements added by our install.py as the host runs it at launch,
# and the host-facing tests run there against the fake host modules.
#
#   bash setup/host_envs.sh [a1111] [forge] [-- PYTEST_ARGS...]     (default: both)
#
# setup/test.sh sources this file for its host stages. A venv is reused while what it was built
# from is unchanged (pin file, pyproject.toml, install.py, the torch pin, the Python, the recipe
# below); SONIC_HOST_REBUILD=1 rebuilds it. SONIC_HOST_PYTHON picks the interpreter (default
# python3.11, on which the real-host smoke test runs both hosts).

HOST_NAMES=(a1111 forge)

# What each host stage runs: directories, so that new tests there are picked up (tests that need
# another gradio skip themselves by its version), and the pipeline's numerics against the host's
# transformers and diffusers (the golden case and the components, 15 s); less tests marked
# `host_independent` (slow ones that no host package affects: the main suite runs them).
# test_install_resolves.py resolves against PyPI for a target Python whatever venv runs it: the
# main suite runs it once.
HOST_TESTS=(tests/hosts tests/webui tests/ui tests/api tests/test_no_bypass.py tests/test_hosting.py
            tests/test_parameters.py
            tests/sonic/test_golden_check.py tests/sonic/test_audio_path.py
            tests/sonic/test_image_vae_rife.py
            -m "not host_independent" --ignore=tests/webui/test_install_resolves.py
            --continue-on-collection-errors --durations=10)

host_pin_file() {
  case "$1" in
    a1111) echo constraints/hosts/a1111-1.10.1-requirements_versions.txt ;;
    forge) echo constraints/hosts/forge-requirements_versions.txt ;;
    *) return 1 ;;
  esac
}

# The host's pins as pip reads them, less those that cannot stand for the host here:
#   torch       the host's CUDA build; the CPU build of our torch pin is installed instead
#   setuptools  a build tool pin (69.5.1, for old sdists); nothing we run imports it
# torchvision is no pin but comes in with the host's packages: see build_host_env.
host_pin_lines() {
  sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$1" | grep -viE '^(torch|setuptools)([^a-z0-9_.-]|$)'
}

# Our install.py as the host runs it at every launch: from the WebUI root, where it reads the
# host's requirements_versions.txt, with the host's `launch` importable. This `launch` has the one
# helper install.py uses, as A1111 1.10.1 and Forge define it (modules/launch_utils.py).
run_install_py() {  # VENV PIN_FILE
  local venv=$1 pins=$2 repo=$PWD root="$1/sonic-build/webui"
  mkdir -p "$root"
  cp "$pins" "$root/requirements_versions.txt"
  cat > "$root/launch.py" <<'EOF'
"""The host's launch.run_pip: pip in the WebUI's Python; output shown only when it fails."""
import subprocess
import sys


def run_pip(command, desc=None, live=False):
    result = subprocess.run(f'"{sys.executable}" -m pip {command} --prefer-binary', shell=True,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Couldn't install {desc}.\nCommand: pip {command}\n"
                           f"Error code: {result.returncode}\n{result.stdout}{result.stderr}")
EOF
  (cd "$root" && PYTHONPATH="$PWD" "$repo/$venv/bin/python" "$repo/install.py")
}

torch_pin() {  # the version the main venv uses, as its CPU build: a CUDA torch never comes in
  local version
  version=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' constraints/standalone.txt)
  [ -n "$version" ] || { echo "setup: no torch== pin in constraints/standalone.txt" >&2; return 1; }
  echo "torch==${version}+cpu"
}

host_pip() {  # pip in a host venv, without this machine's notes about absent local indexes
  local venv=$1; shift
  PYTHONWARNINGS=ignore "$venv/bin/python" -m pip --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location" >&2)
}

build_host_env() {  # NAME VENV PYTHON
  local name=$1 venv=$2 python=$3 build pins
  build="$venv/sonic-build"
  pins=$(host_pin_file "$name")
  rm -rf "$venv"
  "$python" -m venv "$venv" || return 1
  echo '*' > "$venv/.gitignore"  # keeps the venv out of git without touching the repo's list
  mkdir -p "$build"
  host_pin_lines "$pins" > "$build/host-pins.txt"
  torch_pin > "$build/torch.txt" || return 1
  local find_links=()
  [ -d "${SONIC_TORCH_WHEELS:-/opt/wheels}" ] && find_links=(--find-links "${SONIC_TORCH_WHEELS:-/opt/wheels}")

  echo "setup: [$name] building $venv from $pins"
  host_pip "$venv" install --quiet --upgrade pip >/dev/null || return 1
  host_pip "$venv" install --quiet "${find_links[@]}" -r "$build/torch.txt" || {
    echo "setup: [$name] no CPU build of $(cat "$build/torch.txt") found: put its wheel in a" \
         "folder and set SONIC_TORCH_WHEELS to it" >&2; return 1; }
  # The host as its launcher installs it: its pins as requirements and as constraints.
  host_pip "$venv" install --quiet -r "$build/host-pins.txt" -c "$build/host-pins.txt" \
    -c "$build/torch.txt" || return 1
  # Then our requirements, as our install.py adds them to a real host.
  run_install_py "$venv" "$pins" || return 1
  # Then our package itself (editable) and the test tools, moving nothing installed.
  host_pip "$venv" list --format=freeze > "$build/installed.txt" || return 1
  host_pip "$venv" install --quiet -c "$build/host-pins.txt" -c "$build/installed.txt" \
    -e ".[test]" || return 1
  # PyPI's torchvision (pulled in by the host's facexlib, open-clip, spandrel, ...) is a CUDA
  # build that cannot load against the CPU torch ("operator torchvision::nms does not exist")
  # and no CPU build is reachable; transformers would import it and fail. Without it, the host
  # packages that need it stay unimportable; we import none of them.
  if host_pip "$venv" show --quiet torchvision >/dev/null 2>&1; then
    host_pip "$venv" uninstall --quiet --yes torchvision || return 1
  fi
  "$venv/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is not None)' || {
    echo "setup: [$name] torch in $venv is a CUDA build" >&2; return 1; }
  "$venv/bin/python" - <<'EOF'
from importlib.metadata import version
names = ("gradio", "fastapi", "pydantic", "transformers", "diffusers", "numpy", "torch")
print("setup: built with " + ", ".join(f"{n} {version(n)}" for n in names))
EOF
}

# The fingerprint of what a host venv is built from (pyproject.toml: only what pip reads, so
# pytest settings do not cost a rebuild); the venv is rebuilt when it changes.
host_env_stamp() {  # NAME PYTHON
  {
    cat "$(host_pin_file "$1")"
    "$2" -c 'import json, tomllib; t = tomllib.load(open("pyproject.toml", "rb"))
print(json.dumps([t["build-system"], t["project"]], sort_keys=True))'
    cat install.py
    torch_pin
    "$2" -VV
    declare -f build_host_env host_pin_lines run_install_py torch_pin
  } | sha256sum | cut -d' ' -f1
}

# ensure_host_env NAME: (re)build .venv-NAME when needed; sets HOST_ENV_STATE (reused/built).
ensure_host_env() {
  local name=$1 venv=".venv-$1" python stamp
  python=$(command -v "${SONIC_HOST_PYTHON:-python3.11}") || {
    echo "setup: ${SONIC_HOST_PYTHON:-python3.11} is needed for the host envs (set SONIC_HOST_PYTHON)" >&2
    return 1; }
  stamp=$(host_env_stamp "$name" "$python") || return 1
  if [ "${SONIC_HOST_REBUILD:-0}" != 1 ] && [ -f "$venv/.sonic-stamp" ] \
     && [ "$(cat "$venv/.sonic-stamp")" = "$stamp" ] && "$venv/bin/python" -c '' 2>/dev/null; then
    HOST_ENV_STATE=reused
    return 0
  fi
  build_host_env "$name" "$venv" "$python" || return 1
  echo "$stamp" > "$venv/.sonic-stamp"
  HOST_ENV_STATE=built
}

STAGE_SUMMARY=()

# run_pytest_stage NAME SETUP_NOTE PYTHON [PYTEST ARGS...]: run pytest, note its last line.
run_pytest_stage() {
  local name=$1 note=$2 python=$3 log start rc result
  shift 3
  log=$(mktemp "${TMPDIR:-/tmp}/sonic-stage-$name.XXXXXX")
  start=$(date +%s)
  echo "=== stage $name: $python -m pytest $*"
  local color=()
  [ -t 1 ] && color=(--color=yes)
  "$python" -m pytest "${color[@]}" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  result=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | sed -e 's/\x1b\[[0-9;]*m//g' \
           -e 's/^=* *//' -e 's/ *=*$//')
  rm -f "$log"
  STAGE_SUMMARY+=("stage $name: $([ "$rc" = 0 ] && echo PASS || echo "FAIL (exit $rc)"): $result; tests $(( $(date +%s) - start )) s${note:+; $note}")
  return "$rc"
}

# run_host_stage NAME [PYTEST ARGS...]: the host's venv, then the host-facing tests in it.
run_host_stage() {
  local name=$1 start env_note
  shift
  host_pin_file "$name" >/dev/null || {
    STAGE_SUMMARY+=("stage $name: FAIL: unknown host (known: ${HOST_NAMES[*]})"); return 1; }
  start=$(date +%s)
  HOST_ENV_STATE=""
  if ! ensure_host_env "$name"; then
    STAGE_SUMMARY+=("stage $name: FAIL: could not build .venv-$name (see above); $(( $(date +%s) - start )) s")
    return 1
  fi
  env_note="env $HOST_ENV_STATE in $(( $(date +%s) - start )) s"
  SONIC_HOST_ENV=$name SONIC_HOST_PINS="$(host_pin_file "$name")" \
    run_pytest_stage "$name" "$env_note" ".venv-$name/bin/python" \
    -p no:cacheprovider "${HOST_TESTS[@]}" "$@"
}

print_stage_summary() {
  local line
  echo "=== summary"
  for line in "${STAGE_SUMMARY[@]}"; do echo "$line"; done
}

host_envs_main() {
  local hosts=() failed=0 host
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do hosts+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  [ ${#hosts[@]} -gt 0 ] || hosts=("${HOST_NAMES[@]}")
  for host in "${hosts[@]}"; do run_host_stage "$host" "$@" || failed=1; done
  print_stage_summary
  return "$failed"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail  # not -e: a failed stage is reported and the next one still runs
  cd "$(dirname "$0")/.." || exit 1
  host_envs_main "$@"
  exit $?
fi
