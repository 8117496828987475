#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): on a machine with a CUDA PyTorch, within 8 minutes, Sonic's
# full-size architecture (random weights) at 512 px for 10 s of speech, 25 steps, in bf16 and
# fp16 with offload none, model and sequential; then the CUDA tests. Prints per variant the
# seconds per second of video, peak GPU memory beside the estimate, and MFU.
#
#   bash bench/gpu_check.sh --dry-run                  # here, on the CPU, every step at tiny size
#   bash bench/gpu_check.sh [--wheels DIR]             # on the GPU machine
#   bash bench/gpu_check.sh --stage DIR                # only stage wheel parts (see below)
#
# What the machine lacks (diffusers, a transformers < 5, PyAV, librosa, ...) comes as wheels that
# bench/gpu_wheels.sh downloads where PyPI is reachable. --wheels DIR installs DIR/*.whl. Where
# what can travel in one go is limited, gpu_wheels.sh also cuts them into parts of one tar
# (DIR/parts/wheels.tar.*): send them in several calls with --stage DIR/parts, each adding the
# parts it finds to $SONIC_GPU_STAGE; the run then joins them. Packages go to $SONIC_GPU_STAGE/site.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${SONIC_GPU_STAGE:-/tmp/sonic-gpu}
python=${PYTHON:-python3}
run_args=()
wheels=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels=$2; shift 2 ;;
    --stage)
      mkdir -p "$stage/parts"
      cp "$2"/wheels.tar.* "$stage/parts/"
      echo "gpu_check: staged $(ls "$stage/parts" | wc -l) part(s) in $stage/parts"
      exit 0 ;;
    *) run_args+=("$1"); shift ;;
  esac
done

install_wheels() {  # install_wheels DIR: every wheel there, no index, into the stage's site
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$stage/site" "$1"/*.whl
  echo "gpu_check: installed $(ls "$1"/*.whl | wc -l) wheels from $1"
}
if [ -d "$stage/parts" ] && [ ! -f "$stage/site/.joined" ]; then
  mkdir -p "$stage/wheels"
  cat "$stage"/parts/wheels.tar.* | tar -x -C "$stage/wheels"
  install_wheels "$stage/wheels"
  touch "$stage/site/.joined"
fi
[ -z "$wheels" ] || install_wheels "$wheels"
# the package runs from this tree: nothing of ours is installed
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ ! -d "$stage/site" ] || export PYTHONPATH="$stage/site:$PYTHONPATH"

missing=$("$python" - <<'EOF'
import importlib.util
needed = ["torch", "numpy", "PIL", "diffusers", "transformers", "safetensors", "av", "librosa",
          "soundfile", "jsonschema", "pytest"]
print(" ".join(name for name in needed if importlib.util.find_spec(name) is None))
EOF
)
if [ -n "$missing" ]; then
  echo "gpu_check: missing Python packages: $missing" >&2
  echo "  download wheels with bench/gpu_wheels.sh where PyPI is reachable, then --wheels DIR" >&2
  exit 2
fi
exec env PYTHONUNBUFFERED=1 "$python" bench/gpu_check.py ${run_args[@]+"${run_args[@]}"}
