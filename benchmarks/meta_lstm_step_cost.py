"""Seconds per Meta-LSTM training episode with and without XLA (`--xla` of the recipe).

One step = one 5-way episode of the `meta_lstm_omniglot_5w1s` recipe (Conv-4
with 32 filters, 12 inner updates, 15 queries; `--shots 5` for the 5-shot
one: 8 updates), trainval split. Both models are traced first, then timed
over `--steps` episodes, `--repeats` times alternately (so load from other
jobs hits both alike); the figure is the median.

    python benchmarks/meta_lstm_step_cost.py [--shots 1] [--steps 100] [--repeats 3]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from fit_timing import seconds_per_step  # noqa: E402

from metazoo.algorithms.meta_lstm import MetaLSTM  # noqa: E402
from metazoo.episodes import omniglot_episodes  # noqa: E402
from metazoo.networks import Conv4  # noqa: E402
from metazoo.recipes.meta_lstm import paper_inner_steps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = omniglot_episodes("trainval", 5, args.shots, 15, data_dir=args.data_dir)
    jobs = {}
    for name, jit in (("no_xla", "auto"), ("xla", True)):
        keras.utils.set_random_seed(0)
        model = MetaLSTM(Conv4(filters=32), ways=5, inner_steps=paper_inner_steps(args.shots))
        model.compile(jit_compile=jit)  # Adam(1e-3, global_clipnorm=0.25)
        jobs[name] = (model, data)
    seconds = seconds_per_step(jobs, args.steps, args.repeats)
    print(
        json.dumps(
            {
                "benchmark": "meta_lstm_step_cost",
                "ways": 5,
                "shots": args.shots,
                "seconds_per_episode": seconds,
                "cpus": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
