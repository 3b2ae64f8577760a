"""What tracing costs `evaluate_episodes` on TensorFlow: static or unknown batch size.

`evaluate_episodes` traces its step once with the episode axis unknown, so a
model that adapts to each episode (MAML, Meta-LSTM) maps one episode's graph
over the batch. Before, the first batch's static size (`tf.data` gives
`take(n).batch(b)` one when `b` divides `n`) made such models unroll every
episode of the batch. For each preset this builds both functions of the
model's forward pass on the same seeded test episodes (5-way 1-shot, 15
queries, seed 0, batches of `--batch-size`), and reports per variant the
seconds of the trace plus the first batch, the median seconds of the later
batches (the variants alternate), the graph's size, and how far the two
variants' logits and predictions are apart.

    python benchmarks/eval_trace_cost.py meta_lstm_omniglot_5w1s maml_omniglot_5w1s
        [--episodes 100] [--batch-size 10] [--data-dir DIR]

Prints one JSON line per preset.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", help="few-shot presets, e.g. maml_omniglot_5w1s")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if args.episodes < 2 * args.batch_size or args.batch_size < 1:
        parser.error(
            "--episodes must give at least two batches of --batch-size >= 1. "
            f"Received: --episodes {args.episodes} --batch-size {args.batch_size}"
        )
    return args


def measure(name: str, args: argparse.Namespace) -> dict:
    import numpy as np
    import tensorflow as tf

    from metazoo import omniglot_episodes, presets

    model = presets.load(name)
    episodes = omniglot_episodes(
        "test", ways=5, shots=1, queries=15, seed=0, data_dir=args.data_dir
    ).take(args.episodes)
    batches = [x for x, _ in episodes.batch(args.batch_size, drop_remainder=True)]
    unknown = tf.nest.map_structure(
        lambda t: tf.TensorSpec([None, *t.shape[1:]], t.dtype), batches[0]
    )
    variants = {
        "static_batch": tf.function(lambda x: model(x, training=False)),
        "unknown_batch": tf.function(lambda x: model(x, training=False), input_signature=[unknown]),
    }
    result: dict = {"preset": name, "episodes": len(batches) * args.batch_size}
    logits: dict[str, list] = {key: [] for key in variants}
    seconds: dict[str, list[float]] = {key: [] for key in variants}
    for key, fn in variants.items():
        start = time.perf_counter()
        logits[key].append(fn(batches[0]).numpy())
        result[f"{key}_first_s"] = round(time.perf_counter() - start, 2)
        graph = fn.get_concrete_function(*([] if key == "unknown_batch" else [batches[0]])).graph
        result[f"{key}_ops"] = len(graph.get_operations())
    for batch in batches[1:]:
        for key, fn in variants.items():
            start = time.perf_counter()
            logits[key].append(fn(batch).numpy())
            seconds[key].append(time.perf_counter() - start)
    for key in variants:
        result[f"{key}_batch_s"] = round(statistics.median(seconds[key]), 3)
    a, b = (np.concatenate(logits[key]) for key in variants)
    result["max_abs_logit_diff"] = float(np.abs(a - b).max())
    result["changed_predictions"] = int((a.argmax(-1) != b.argmax(-1)).sum())
    result["queries"] = int(a.shape[0] * a.shape[1])
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if keras.config.backend() != "tensorflow":
        raise SystemExit(
            f"This compares TensorFlow graphs. Received: KERAS_BACKEND={keras.config.backend()}"
        )
    for name in args.presets:
        print(json.dumps(measure(name, args)), flush=True)


if __name__ == "__main__":
    main()
