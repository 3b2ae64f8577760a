"""Recipes behind `metazoo train` / `metazoo eval`: one module per algorithm.

Each recipe module exposes:

- `add_train_arguments(parser)`: its `metazoo train <algorithm>` options;
- `run_train(args) -> pathlib.Path`: trains and writes a preset folder;

and presets say in `metadata["kind"]` how `metazoo eval` scores them
(`"few_shot_classifier"`: episodes; others name a recipe module whose
`evaluate_preset(path, args) -> dict` gives the JSON result).
"""
