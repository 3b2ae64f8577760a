#!/usr/bin/env bash
# A new user's install: build the sdist and, from it, the wheel; install the wheel into a
# fresh venv (no editable install) and use it from a folder outside the source tree: with
# TensorFlow (`metazoo[tensorflow]`), then in a venv that has JAX and no TensorFlow at all.
# Part of `make test`. Needs METAZOO_DATA_DIR (the Omniglot zips); reads no network data.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
# Absolute: the checks below run from other folders (`make` passes .venv/bin/python).
python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"
: "${METAZOO_DATA_DIR:?set METAZOO_DATA_DIR to the folder with the Omniglot zips}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== build: sdist, then the wheel from the sdist"
"$python" -m build --outdir "$work/dist" "$root" > "$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 1; }
wheel="$(ls "$work"/dist/metazoo-*.whl)"
tracked="$(git -C "$root" ls-files metazoo/saved_models | wc -l)"
shipped="$("$python" -m zipfile -l "$wheel" | grep -c '^metazoo/saved_models/' || true)"
echo "$(basename "$wheel"): $shipped preset files (the repository has $tracked)"
[ "$shipped" -eq "$tracked" ] || { echo "the wheel lacks preset files"; exit 1; }

echo "== install metazoo[tensorflow] into a fresh venv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[tensorflow]" \
  > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
bin="$work/venv/bin"
mkdir "$work/user" && cd "$work/user"  # outside the source tree
unset METAZOO_PRESETS_DIR PYTHONPATH

echo "== metazoo list"
"$bin/python" - "$bin/metazoo" "$root/metazoo/saved_models" <<'PY'
import pathlib, subprocess, sys, time

start = time.perf_counter()
listing = subprocess.run([sys.argv[1], "list"], check=True, capture_output=True, text=True)
seconds = time.perf_counter() - start
print(listing.stdout, end="")
names = {line.split()[0] for line in listing.stdout.splitlines()}
missing = {p.name for p in pathlib.Path(sys.argv[2]).iterdir()} - names
assert not missing, f"metazoo list lacks {sorted(missing)}"
print(f"metazoo list took {seconds:.2f} s")
assert seconds < 1.5, "metazoo list is slower than 1.5 s"
PY

echo "== metazoo eval protonet_omniglot --episodes 20 --json"
"$bin/metazoo" eval protonet_omniglot --episodes 20 --json > eval.txt 2> eval.err \
  || { cat eval.err; exit 1; }
if grep -E '^[IWEF][0-9]{4} |absl::InitializeLog' eval.err; then
  echo "TensorFlow's C++ log lines reached the user"; exit 1
fi
tail -n 1 eval.txt
"$bin/python" -c '
import json, sys
result = json.loads(open("eval.txt").read().splitlines()[-1])
assert result["episodes"] == 20 and result["accuracy"] > 0.9, result
'

echo "== metazoo.load + fit of 2 steps"
"$bin/python" - <<'PY'
import metazoo
from metazoo.algorithms import PrototypicalNetwork

assert "site-packages" in metazoo.__file__, metazoo.__file__
model = PrototypicalNetwork.from_preset("protonet_omniglot")
episodes = metazoo.omniglot_episodes("train", ways=5, shots=1, queries=5, seed=1)
history = model.fit(episodes, steps_per_epoch=2, epochs=1, verbose=0)
assert int(model.optimizer.iterations) == 2, model.optimizer.iterations
print(f"fit: 2 steps from {metazoo.__file__}, loss {history.history['loss'][-1]:.4f}")
PY
find "$work/user" -mindepth 1 -not -name '*.txt' -not -name '*.err' | grep . \
  && { echo "the commands above left files in the user's folder"; exit 1; }

echo "== install metazoo[jax] into a fresh venv: no TensorFlow"
"$python" -m venv "$work/venv-jax"
"$work/venv-jax/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[jax]" \
  > "$work/install-jax.log" 2>&1 || { cat "$work/install-jax.log"; exit 1; }
bin="$work/venv-jax/bin"
"$bin/python" -c 'import importlib.util as u; assert u.find_spec("tensorflow") is None, "TensorFlow came with metazoo[jax]"'
export KERAS_BACKEND=jax
"$bin/metazoo" eval protonet_omniglot --episodes 20 --json > eval-jax.txt 2> eval-jax.err \
  || { cat eval-jax.err; exit 1; }
tail -n 1 eval-jax.txt
"$bin/python" - <<'PY'
import json

import keras

import metazoo
from metazoo.algorithms import PrototypicalNetwork

assert keras.config.backend() == "jax", keras.config.backend()
on_tf = json.loads(open("eval.txt").read().splitlines()[-1])
on_jax = json.loads(open("eval-jax.txt").read().splitlines()[-1])
# The same 20 seeded episodes, the same model: the same queries right.
assert on_jax["accuracy"] == on_tf["accuracy"], (on_jax, on_tf)
model = PrototypicalNetwork.from_preset("protonet_omniglot")
episodes = metazoo.omniglot_episodes("train", ways=5, shots=1, queries=5, seed=1)
history = model.fit(episodes, steps_per_epoch=2, epochs=1, verbose=0)
assert int(model.optimizer.iterations) == 2, model.optimizer.iterations
print(f"JAX fit: 2 steps, loss {history.history['loss'][-1]:.4f}")
PY
"$bin/python" -c 'import sys, metazoo.algorithms, metazoo.evaluation, metazoo.episodes; assert "tensorflow" not in sys.modules'
find "$work/user" -mindepth 1 -not -name '*.txt' -not -name '*.err' | grep . \
  && { echo "the commands above left files in the user's folder"; exit 1; }
echo "wheel check passed"
