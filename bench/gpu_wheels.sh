#!/usr/bin/env bash
# Download, on a machine that can reach PyPI, the wheels bench/gpu_check.sh installs on a GPU
# machine that cannot: what the pipeline and its CUDA tests need beyond a CUDA PyTorch image
# (python 3.12 with torch, numpy, scipy, scikit-learn, numba, Pillow, pytest, safetensors,
# accelerate). Versions are those the standalone suite is tested with (transformers < 5).
# Also cuts them into parts of one tar, DIR/parts/wheels.tar.aa, .ab, ... of at most PART_MB
# (default 20), for sending in several calls where each may carry little (gpu_check.sh --stage).
#   bash bench/gpu_wheels.sh [DIR] [PYTHON_VERSION]     # default .whl and 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.whl}
version=${2:-3.12}
wheels=(
  av==18.1.0 diffusers==0.39.0 transformers==4.57.6 tokenizers==0.22.2 huggingface_hub==0.36.2
  librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0 audioread==3.1.0 pooch==1.9.0 decorator==5.3.2
  platformdirs==4.14.9 cffi==2.1.1 pycparser==3.12 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 pytest-timeout==2.4.0
)
mkdir -p "$dir"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$dir" "${wheels[@]}"
rm -rf "$dir/parts" && mkdir -p "$dir/parts"
tar -c -C "$dir" $(cd "$dir" && ls *.whl) | split -b "${PART_MB:-20}m" - "$dir/parts/wheels.tar."
echo "gpu_wheels: $(ls "$dir"/*.whl | wc -l) wheels, $(du -sh "$dir" --exclude=parts | cut -f1) in" \
     "$dir; as $(ls "$dir/parts" | wc -l) parts in $dir/parts"
