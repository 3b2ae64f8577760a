# metazoo: `make demo` (the main job) and `make test`; both create/reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The data folder: $METAZOO_DATA_DIR, else ../shared/data when it exists
# (CI, developers); otherwise loaders download the official files.
METAZOO_DATA_DIR ?= $(wildcard $(abspath ../shared/data))
export METAZOO_DATA_DIR
# What `make` runs prepare stays in this checkout (ignored), not in ~: Omniglot's
# decoded images (.npz), and the TFDS records that the builder's tests prepare.
METAZOO_PREPARED_DIR ?= $(abspath .prepared)
export METAZOO_PREPARED_DIR
TFDS_DATA_DIR ?= $(abspath .tfds)
export TFDS_DATA_DIR

.PHONY: install demo test lint unit backends docs wheel-check benchmarks gpu-wheels clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/metazoo demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	$(BIN)/pytest

# The backend matrix: `unit` runs on TensorFlow and compares JAX and PyTorch with it in
# subprocesses (presets, models, inner loops, optimizer, data); here tutorial 01 runs from
# start to end on JAX and on PyTorch (fast mode, as on the docs build).
backends: $(STAMP)
	for backend in jax torch; do \
	  echo "== tutorials/01_prototypical_networks.py on $$backend"; \
	  KERAS_BACKEND=$$backend METAZOO_FAST=1 MPLBACKEND=Agg \
	    $(BIN)/python -W ignore::UserWarning tutorials/01_prototypical_networks.py || exit 1; \
	done

# Executes every tutorial (fast mode) and fails on any error or warning, then checks
# the built pages as a reader sees them (math, anchors, links, no stderr blocks).
docs: $(STAMP)
	METAZOO_FAST=1 $(BIN)/mkdocs build --strict
	$(BIN)/python scripts/check_site.py site

# A new user's install: sdist -> wheel -> fresh venv, used outside the source tree.
wheel-check: $(STAMP)
	PYTHON=$(BIN)/python scripts/check_wheel.sh

test: lint unit backends docs wheel-check

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/presets.py

# Wheels for benchmarks/gpu_check.sh on a GPU machine with JAX but no network: metazoo,
# this Keras, and the two Keras needs that such an image lacks (for its Python, GPU_PYTHON).
GPU_PYTHON ?= 3.12
gpu-wheels: $(STAMP)
	rm -rf .whl && mkdir .whl
	$(BIN)/python -m build --wheel --outdir .whl . > /dev/null
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: -d .whl \
	  --python-version $(GPU_PYTHON) --implementation cp --platform manylinux_2_28_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  keras==$$($(BIN)/python -c 'import keras; print(keras.__version__)') namex optree
	ls -l .whl

clean:
	rm -rf site .pytest_cache .ruff_cache
