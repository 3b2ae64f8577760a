#!/usr/bin/env bash
# metazoo on a GPU machine that has JAX with CUDA but no TensorFlow and no network.
#
#   here:  make gpu-wheels                 # .whl/: metazoo + Keras (and what the image lacks)
#          cp ../shared/data/omniglot/images_*.zip .gpu-data/    # ignored, carried along
#   there: METAZOO_DATA_DIR=.gpu-data benchmarks/gpu_check.sh [OUT.json]
#
# Installs the wheels of .whl/ (no index, no dependencies: the machine has JAX, numpy,
# h5py, ...) into a fresh folder, then runs benchmarks/gpu_check.py on KERAS_BACKEND=jax
# from outside the checkout, so the installed metazoo is the one measured. Prints (and
# writes to OUT.json) one JSON line: the protonet_omniglot score on 1,000 test episodes,
# and ProtoNet and MAML meta-training steps per second with their share of the GPU's
# peak. Extra arguments after OUT.json go to gpu_check.py. On a machine without a GPU:
# JAX_PLATFORMS=cpu (and small settings, e.g. --episodes 20 --steps 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
wheels="${WHEELS_DIR:-$root/.whl}"
out="${1:-$root/gpu_check.json}"
shift || true
: "${METAZOO_DATA_DIR:?set METAZOO_DATA_DIR to the folder with the Omniglot zips}"
export METAZOO_DATA_DIR="$(cd "$METAZOO_DATA_DIR" && pwd)"
ls "$wheels"/metazoo-*.whl > /dev/null || { echo "no metazoo wheel in $wheels: make gpu-wheels"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
  --target "$work/site" "$wheels"/*.whl
export PYTHONPATH="$work/site" KERAS_BACKEND=jax METAZOO_CACHE_DIR="$work/cache"
cd "$work"
"$python" -c 'import importlib.util as u; print("tensorflow installed:", u.find_spec("tensorflow") is not None)'
timeout 600 "$python" "$root/benchmarks/gpu_check.py" --output "$out" "$@"
