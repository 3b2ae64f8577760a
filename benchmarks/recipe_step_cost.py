"""Seconds per training step of `metazoo train` recipes, and the hours a whole run would take.

Each recipe is given as its `metazoo train` arguments (without `--output`),
e.g. `"reptile"` or `"maml --first-order"`, and runs in a worker process of
its own: the recipe's own model, compile and training data (Omniglot, from
`--data-dir` or `$METAZOO_DATA_DIR`), on the backend of `KERAS_BACKEND`.
Every worker first runs `--warmup` steps (tracing, not timed); then the
parent asks each in turn for `--steps` steps, `--rounds` rounds, so load
from other jobs hits all alike. The figure is the median over rounds of the
seconds per step; `hours` is that times the recipe's steps in all.

    python benchmarks/recipe_step_cost.py "reptile" "maml --first-order"
        [--steps 10] [--rounds 3] [--warmup 2] [--data-dir DIR]

Prints a markdown table, then one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help='`metazoo train` arguments, e.g. "reptile"')
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (tracing)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_recipe(spec: str):
    """The recipe `metazoo train SPEC` would run."""
    from metazoo import cli

    args = cli.build_parser().parse_args(["train", *shlex.split(spec), "--output", "unused"])
    return cli.recipe_class(args.algorithm).from_args(args)


def run_worker(args: argparse.Namespace) -> None:
    """One recipe; answers the parent's `run N` lines on stdout."""
    # Anything the libraries print goes to stderr; stdout carries only the answers.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    recipe = make_recipe(args.worker)
    keras.utils.set_random_seed(recipe.seed)
    model = recipe.build_model(args.data_dir)
    recipe.compile_model(model)
    data = recipe.train_data(model, 0, args.data_dir)
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    answers.write(json.dumps({"total_steps": recipe.total_steps}) + "\n")
    for line in sys.stdin:
        command, _, count = line.partition(" ")
        if command.strip() == "quit":
            return
        steps = int(count)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
        answers.write(json.dumps({"seconds": (time.perf_counter() - start) / steps}) + "\n")


class Worker:
    """A worker process and the file its stderr goes to (shown if it fails)."""

    def __init__(self, spec: str, args: argparse.Namespace, log: Path):
        self.spec, self.log = spec, log
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        argv = [sys.executable, __file__, "--worker", spec, f"--warmup={args.warmup}"]
        if args.data_dir:
            argv.append(f"--data-dir={args.data_dir}")
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def ask(self, command: str | None) -> dict:
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            tail = self.log.read_text()[-3000:]
            raise RuntimeError(f"worker {self.spec!r} exited ({self.process.returncode}):\n{tail}")
        return json.loads(line)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return {}
    if not args.recipes:
        raise SystemExit('Give at least one recipe, e.g. "reptile". Received: none')
    for spec in args.recipes:
        make_recipe(spec)  # a bad spec fails here, before any worker starts
    with tempfile.TemporaryDirectory() as logs:
        workers = [Worker(s, args, Path(logs) / f"{i}.log") for i, s in enumerate(args.recipes)]
        try:
            totals = [w.ask(None)["total_steps"] for w in workers]
            seconds = {w.spec: [] for w in workers}
            for _ in range(args.rounds):
                for w in workers:
                    seconds[w.spec].append(w.ask(f"run {args.steps}")["seconds"])
        finally:
            for w in workers:
                if w.process.poll() is None:
                    w.process.stdin.write("quit\n")
                    w.process.stdin.close()
                    w.process.wait()
    rows = {}
    print("| recipe | s/step | steps | hours |\n| --- | ---: | ---: | ---: |")
    for spec, total in zip(args.recipes, totals, strict=True):
        median = statistics.median(seconds[spec])
        rows[spec] = {
            "seconds": round(median, 4),
            "all_seconds": [round(s, 4) for s in seconds[spec]],
            "total_steps": total,
            "hours": round(median * total / 3600, 2),
        }
        print(f"| `metazoo train {spec}` | {median:.3f} | {total:,} | {rows[spec]['hours']:.1f} |")
    result = {
        "benchmark": "recipe_step_cost",
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "steps": args.steps,
        "rounds": args.rounds,
        "load_average": round(os.getloadavg()[0], 1),
        "recipes": rows,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
