"""Cost of a `fit` step with `LearnedOptimizer` against Adam on the paper's MNIST MLP.

All run in this process on the same model (784-20-10, sigmoid), the same
MNIST batches of 128, alternating `--repeats` times so that load from other
jobs on the machine hits them alike; the figures are the median and the
best (fastest) repeat's time per step: on a small shared VM some repeats
land in a slow mode (thread pools competing for 2 cores), which moves the
median but not the best.
`LearnedOptimizer` is timed twice: as shipped (its rule compiled with XLA,
`jit_compile=True`) and with the plain TensorFlow graph (`jit_compile=False`).
Target (issue 4): at most ~3x Adam.

    python benchmarks/l2l_step_cost.py [--preset l2l_mnist_mlp] [--steps 200]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from metazoo.algorithms.l2l import LearnedOptimizer, UpdateRuleConfig, init_meta_params  # noqa: E402
from metazoo.algorithms.l2l.update_rule import init_state, lstm_update  # noqa: E402
from metazoo.data import load_mnist  # noqa: E402


def make_model(hidden: int = 20) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(hidden, activation="sigmoid"),
            keras.layers.Dense(10),
        ]
    )
    return model


def learned_optimizer(preset: str | None, jit_compile: bool = True) -> LearnedOptimizer:
    from metazoo.presets import list_presets

    if preset and (preset in list_presets() or os.path.isdir(preset)):
        return LearnedOptimizer.from_preset(preset, jit_compile=jit_compile)
    # Same cost with untrained meta-parameters: the figure is about time only.
    config = UpdateRuleConfig()
    return LearnedOptimizer(init_meta_params(config), **config.as_dict(), jit_compile=jit_compile)


def time_fit(make_optimizer, data, steps: int, jit_compile) -> float:
    """Seconds per step of `fit` after a warm-up epoch (tracing excluded)."""
    model = make_model()
    model.compile(
        optimizer=make_optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    model.fit(data, steps_per_epoch=10, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def time_rule(preset: str | None, num_coordinates: int, repeats: int) -> dict:
    """ms per call of the rule alone on `num_coordinates` (plain graph, XLA) and of
    its two LSTM matmuls alone (the floor that no fusion removes)."""
    optimizer = learned_optimizer(preset)
    config = optimizer.rule_config
    params = {k: tf.constant(v) for k, v in optimizer.meta_params.items()}
    gradient = tf.random.stateless_normal([num_coordinates], seed=[0, 0]) * 1e-2
    state = init_state(config, num_coordinates)

    def rule(g, s):
        return lstm_update(g, s, params, config)

    def matmuls(g, s):
        x = tf.stack([g, g])  # the 2 preprocessed inputs
        out = []
        for layer in range(config.num_layers):
            kernel = params[f"lstm_{layer}/kernel"]
            z = tf.matmul(kernel, tf.concat([x, s[2 * layer]], 0), transpose_a=True)
            x = z[: config.hidden_units]
            out.append(x)
        return out

    functions = {
        "rule_plain": tf.function(rule),
        "rule_xla": tf.function(rule, jit_compile=True),
        "matmuls_only": tf.function(matmuls),
    }
    result = {}
    for name, function in functions.items():
        for _ in range(20):
            function(gradient, state)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(50):
                function(gradient, state)
            samples.append((time.perf_counter() - start) / 50)
        result[name] = round(1000 * statistics.median(samples), 3)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="l2l_mnist_mlp")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128, help="128 in the paper")
    parser.add_argument("--jit-compile", action="store_true", help="XLA for both optimizers")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    images, labels = load_mnist("train", args.data_dir)
    data = (
        tf.data.Dataset.from_tensor_slices((images.reshape(-1, 784), labels))
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
        .prefetch(4)
    )
    jit = True if args.jit_compile else "auto"
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(1e-3),
        "learned": lambda: learned_optimizer(args.preset),
        "learned_plain": lambda: learned_optimizer(args.preset, jit_compile=False),
    }
    times = {name: [] for name in optimizers}
    for _ in range(args.repeats):
        for name, make in optimizers.items():
            times[name].append(time_fit(make, data, args.steps, jit))
    median = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}
    result = {
        "benchmark": "l2l_step_cost",
        "model": f"MNIST MLP 784-20-10 sigmoid, batch {args.batch_size}",
        "jit_compile": jit,
        "steps": args.steps,
        "repeats": args.repeats,
        "adam_ms": round(1000 * median["adam"], 3),
        "learned_ms": round(1000 * median["learned"], 3),
        "ratio": round(median["learned"] / median["adam"], 2),
        "learned_plain_ms": round(1000 * median["learned_plain"], 3),
        "ratio_plain": round(median["learned_plain"] / median["adam"], 2),
        "best_ms": {name: round(1000 * t, 3) for name, t in best.items()},
        "ratio_best": round(best["learned"] / best["adam"], 2),
        "ratio_plain_best": round(best["learned_plain"] / best["adam"], 2),
        "all_ms": {name: [round(1000 * t, 3) for t in ts] for name, ts in times.items()},
        "target_ratio": 3.0,
        # The rule alone on the MLP's 15,910 coordinates, outside `fit`.
        "rule_only_ms": time_rule(args.preset, make_model().count_params(), args.repeats),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
