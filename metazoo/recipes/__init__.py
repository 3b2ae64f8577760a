"""Recipes behind `metazoo train` / `metazoo eval`: one module per algorithm.

Each recipe module exposes:

- `add_train_arguments(parser)`: its `metazoo train <algorithm>` options;
- `run_train(args) -> pathlib.Path`: trains and writes a preset folder;

and score what they train through `metazoo.protocols`, which also says,
by a preset's `metadata["kind"]`, how `metazoo eval` scores it
(`metazoo.protocols.PRESET_KINDS`).
"""
