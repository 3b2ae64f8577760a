"""The `metazoo` command: list, eval, train and demo.

With `--json`, `metazoo eval` prints one JSON object as the last line of
stdout; everything else (progress bars, logs) goes before it or to stderr.
A failing command prints one line, `metazoo <command>: error: ...`, to
stderr and exits with 2 (`metazoo --debug ...` shows the traceback).
TensorFlow is imported only by the commands that need it, so `metazoo
list` and `--help` start at once.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

# Recipes behind `metazoo train <algorithm>`: modules with a `RECIPE` class
# (a `metazoo.recipes.base.Recipe`), imported only when the command line says `train`.
TRAIN_RECIPES = {
    "protonet": "metazoo.recipes.protonet",
    "l2l": "metazoo.recipes.l2l",
    "siamese": "metazoo.recipes.siamese",
    "meta_lstm": "metazoo.recipes.meta_lstm",
    "maml": "metazoo.recipes.maml",
    "reptile": "metazoo.recipes.reptile",
}


def recipe_class(algorithm: str):
    """The `Recipe` class behind `metazoo train <algorithm>`."""
    return importlib.import_module(TRAIN_RECIPES[algorithm]).RECIPE


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder with the official data files (default: $METAZOO_DATA_DIR, else download)",
    )
    parser.add_argument("--seed", type=int, default=0)


def build_parser(with_recipes: bool = True) -> argparse.ArgumentParser:
    """The `metazoo` argument parser.

    Args:
        with_recipes: bool. Add every `train <algorithm>`'s options, which
            imports the recipes (and TensorFlow); `main` leaves them out
            unless the command line asks for `train`.
    """
    parser = argparse.ArgumentParser(
        prog="metazoo", description="The meta-learning model zoo for Keras."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list the presets")

    evaluate = commands.add_parser("eval", help="score a preset")
    evaluate.add_argument("preset", help="preset name or folder")
    evaluate.add_argument("--split", default=None)
    evaluate.add_argument("--ways", type=int, default=5)
    evaluate.add_argument("--shots", type=int, default=1)
    evaluate.add_argument("--queries", type=int, default=15)
    evaluate.add_argument("--episodes", type=int, default=1000)
    evaluate.add_argument(
        "--inner-steps",
        type=int,
        default=None,
        metavar="N",
        help="MAML-family presets: adapt with N gradient steps at test (default: the preset's)",
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print the result as JSON on the last line"
    )
    evaluate.add_argument(
        "--lake-runs",
        default=None,
        metavar="PATH",
        help="score on Lake's 20-way one-shot runs (all_runs.zip or a folder of run01..run20)",
    )
    evaluate.add_argument(
        "--verification-pairs",
        type=int,
        default=None,
        metavar="N",
        help="pair presets (Siamese): accuracy and ROC AUC of same/different on N "
        "balanced pairs of the evaluation split",
    )
    evaluate.add_argument(
        "--same-alphabet-fraction",
        type=float,
        default=None,
        help="with --verification-pairs: share of different pairs drawn within one alphabet "
        "(default 0)",
    )
    _add_common(evaluate)

    lake_runs = commands.add_parser("lake-runs", help="Lake one-shot benchmark runs")
    lake_actions = lake_runs.add_subparsers(dest="action", required=True)
    build = lake_actions.add_parser(
        "build", help="write Lake-format runs built from images_evaluation.zip"
    )
    build.add_argument("--output", required=True, help="folder to create")
    build.add_argument("--runs", type=int, default=20)
    build.add_argument("--overwrite", action="store_true")
    _add_common(build)
    baseline = lake_actions.add_parser(
        "baseline",
        help="score Lake et al.'s modified Hausdorff baseline (38.8%% error on the official runs)",
    )
    baseline.add_argument(
        "runs", metavar="PATH", help="all_runs.zip, a folder of run01..runNN, or built runs"
    )
    baseline.add_argument(
        "--json", action="store_true", help="print the result as JSON on the last line"
    )

    train = commands.add_parser("train", help="train a model and write a preset")
    algorithms = train.add_subparsers(dest="algorithm", required=True)
    for name in TRAIN_RECIPES:
        sub = algorithms.add_parser(name, help=f"train with the {name} recipe")
        if with_recipes:
            recipe_class(name).add_arguments(sub)

    demo = commands.add_parser("demo", help="the README's main job")
    demo.add_argument("--preset", default="protonet_omniglot")
    demo.add_argument("--episodes", type=int, default=600)
    demo.add_argument("--output", default="outputs/demo_episode.png")
    _add_common(demo)
    return parser


def cmd_list(args) -> int:
    from metazoo.presets import list_presets, preset_dirs

    presets = list_presets()
    if not presets:
        raise FileNotFoundError(f"No presets found in {[str(d) for d in preset_dirs()]}")
    width = max(map(len, presets))
    for name, meta in presets.items():
        print(f"{name:<{width}}  {meta.get('description', '')}")
    return 0


def cmd_eval(args) -> int:
    from metazoo.presets import load_metadata, preset_path
    from metazoo.protocols.kinds import DEFAULT_KIND, PRESET_KINDS

    path = preset_path(args.preset)
    metadata = load_metadata(path)
    kind = metadata.get("kind", DEFAULT_KIND)
    if kind not in PRESET_KINDS:
        raise ValueError(
            f"Preset {args.preset!r} has kind {kind!r}, which `metazoo eval` cannot "
            f"score. Known kinds: {sorted(PRESET_KINDS)}"
        )
    if args.lake_runs and args.verification_pairs is not None:
        raise ValueError(
            "--lake-runs and --verification-pairs are two different measurements; ask for one. "
            f"Received: --lake-runs {args.lake_runs} --verification-pairs {args.verification_pairs}"
        )
    if args.verification_pairs is None and args.same_alphabet_fraction is not None:
        raise ValueError(
            "--same-alphabet-fraction applies to --verification-pairs only. "
            f"Received: --same-alphabet-fraction {args.same_alphabet_fraction} alone"
        )
    flag = "--verification-pairs" if args.verification_pairs is not None else "--lake-runs"
    if (args.verification_pairs is not None or args.lake_runs) and kind != "few_shot_classifier":
        raise ValueError(
            f"{flag} needs a few-shot classifier preset. Received: {args.preset!r} of kind {kind!r}"
        )
    if args.inner_steps is not None and (kind != "few_shot_classifier"
                                         or args.verification_pairs is not None):  # fmt: skip
        raise ValueError(
            "--inner-steps applies to few-shot episodes (or --lake-runs) of a MAML-family "
            f"preset. Received: --inner-steps {args.inner_steps} for {args.preset!r} of kind "
            f"{kind!r}" + (" with --verification-pairs" if kind == "few_shot_classifier" else "")
        )
    if args.verification_pairs is not None and args.verification_pairs < 1:
        raise ValueError(
            "--verification-pairs must be a positive number of pairs. "
            f"Received: {args.verification_pairs}"
        )
    scorer = PRESET_KINDS[kind]
    result = {"preset": args.preset, **scorer.evaluate(scorer.load(path), metadata, args)}
    _print_result(result, args.json)
    return 0


def _print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


def cmd_train(args) -> int:
    from metazoo.presets import check_preset_output
    from metazoo.recipes.base import backup_dir

    # Before any training: a mistaken --output must cost nothing.
    check_preset_output(args.output, args.overwrite)
    recipe = recipe_class(args.algorithm).from_args(args)
    path = recipe.run(
        args.output,
        data_dir=args.data_dir,
        backup_dir=backup_dir(args),
        overwrite=args.overwrite,
        description=args.description,
    )
    print(f"Wrote preset {path}")
    return 0


def cmd_lake_runs(args) -> int:
    from metazoo.lake import MODIFIED_HAUSDORFF_OFFICIAL_ERROR, ModifiedHausdorff, build_lake_runs
    from metazoo.protocols.lake import lake_record

    if args.action == "baseline":
        result = {
            "baseline": ModifiedHausdorff.name,
            **lake_record(ModifiedHausdorff(), args.runs),
            "official_error_rate": MODIFIED_HAUSDORFF_OFFICIAL_ERROR,
        }
        _print_result(result, args.json)
        return 0
    path = build_lake_runs(
        args.output, args.data_dir, runs=args.runs, seed=args.seed, overwrite=args.overwrite
    )
    print(f"Wrote {args.runs} Lake runs to {path}")
    return 0


def cmd_demo(args) -> int:
    from metazoo.demo import run_demo

    run_demo(args)
    return 0


# The library each Keras backend runs on, and the extra that installs it.
_BACKEND_LIBRARIES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _missing_backend(err: BaseException) -> str | None:
    """A one-line hint when `err` is Keras's backend library missing, else `None`."""
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    library = err.name.split(".")[0]
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if _BACKEND_LIBRARIES.get(backend) != library:
        return None
    others = " or ".join(f"KERAS_BACKEND={b}" for b in _BACKEND_LIBRARIES if b != backend)
    return (
        f"Keras's backend {backend!r} needs {library}, which is not installed: "
        f"pip install 'metazoo[{backend}]', or run on another backend ({others})"
    )


def _one_line(err: BaseException) -> str:
    hint = _missing_backend(err)
    if hint:
        return hint
    lines = str(err).strip().splitlines()
    known = (ValueError, FileNotFoundError, FileExistsError, ConnectionError, FloatingPointError)
    text = lines[0] if lines else ""
    if not isinstance(err, known) or not text:
        text = f"{type(err).__name__}: {text}".rstrip(": ")
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(with_recipes="train" in argv)
    args = parser.parse_args(argv)
    handler = {
        "list": cmd_list,
        "eval": cmd_eval,
        "train": cmd_train,
        "demo": cmd_demo,
        "lake-runs": cmd_lake_runs,
    }
    try:
        return handler[args.command](args)
    except KeyboardInterrupt:
        print(f"metazoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"metazoo {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
