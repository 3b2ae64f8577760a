"""One JSON line about metazoo on an accelerator: a preset's score and meta-training speed.

Run by `benchmarks/gpu_check.sh` on a GPU machine that has JAX with CUDA and
no TensorFlow (metazoo and Keras installed from wheels), or anywhere with
`KERAS_BACKEND=jax` (`JAX_PLATFORMS=cpu` on a machine without a GPU):

```bash
KERAS_BACKEND=jax python benchmarks/gpu_check.py --output gpu_check.json
```

What it measures, on the first JAX device:
1. `protonet_omniglot` scored on `--episodes` seeded Vinyals test episodes
   (5-way 1-shot, 15 queries, seed 0: the protocol of its preset record),
   accuracy ± 95% CI, and episodes/s of the evaluation.
2. Meta-training steps of the recipes' own settings: ProtoNet (Snell et
   al.'s 60-way 5-shot 5-query episodes, one per step, Adam) and MAML
   (Finn et al.'s 5-way 1-shot, 1 query per class, meta-batch 32, one
   second-order inner step, Adam): the median seconds per step of
   `--steps` timed `fit` steps after `--warmup` untimed ones, and episodes/s.
3. For each step, its floating-point operations as XLA counts them (the
   compiled forward and backward pass, `cost_analysis`), and the fraction of
   the device's fp32 and bf16 peak that this rate reaches (peaks known for
   H100/H200, else `--peak-tflops-fp32/--peak-tflops-bf16`, else null).

The models run in float32 (Keras's default policy); the bf16 fraction says
how far the same step is from the tensor cores' peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# Dense (no sparsity) peaks from NVIDIA's data sheets, in TFLOP/s: (fp32, bf16).
PEAK_TFLOPS = {"H100": (67.0, 989.0), "H200": (67.0, 989.0)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000, help="test episodes to score")
    parser.add_argument("--steps", type=int, default=30, help="timed meta-training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compiling)")
    parser.add_argument("--protonet-ways", type=int, default=60, help="ways of ProtoNet steps")
    parser.add_argument("--maml-meta-batch", type=int, default=32, help="episodes per MAML step")
    parser.add_argument("--peak-tflops-fp32", type=float, help="the device's fp32 peak")
    parser.add_argument("--peak-tflops-bf16", type=float, help="the device's bf16 peak")
    parser.add_argument("--data-dir", help="folder with the Omniglot zips ($METAZOO_DATA_DIR)")
    parser.add_argument("--output", help="also write the JSON line to this file")
    args = parser.parse_args(argv)
    for name in ("episodes", "steps", "warmup", "protonet_ways", "maml_meta_batch"):
        value = getattr(args, name)
        if value < (0 if name == "warmup" else 1):
            parser.error(f"--{name.replace('_', '-')} must be >= 1. Received: {value}")
    return args


def device_record(args) -> dict:
    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", str(device))
    known = next((peaks for name, peaks in PEAK_TFLOPS.items() if name in kind), (None, None))
    fp32 = args.peak_tflops_fp32 or known[0]
    bf16 = args.peak_tflops_bf16 or known[1]
    return {
        "platform": device.platform,
        "kind": kind,
        "count": jax.device_count(),
        "peak_tflops": {"fp32": fp32, "bf16": bf16},
    }


def step_flops(model, batch) -> float | None:
    """FLOPs of one forward + backward pass of `model` on `batch`, as XLA counts them."""
    import jax
    import keras

    x, y = batch

    def loss(trainable, non_trainable):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return keras.ops.mean(losses)

    grad = jax.jit(jax.value_and_grad(loss))
    variables = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )
    cost = grad.lower(*variables).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per computation
        cost = cost[0] if cost else {}
    flops = (cost or {}).get("flops")
    return float(flops) if flops else None


def step_times():
    """A Keras callback keeping each training batch's wall time in `.seconds`."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            # Reading the loss waits for the step's (asynchronous) device work to finish.
            if logs and "loss" in logs:
                float(logs["loss"])
            self.seconds.append(time.perf_counter() - self.start)

    return StepTimes()


def first_batch(data):
    """The first element of a `keras.utils.PyDataset` or of an iterable dataset."""
    return data[0] if hasattr(data, "__getitem__") else next(iter(data))


def time_training(name, model, data, episodes_per_step, args, device) -> dict:
    times = step_times()
    model.fit(data, steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0,
              callbacks=[times])  # fmt: skip
    seconds = statistics.median(times.seconds[args.warmup :])
    flops = step_flops(model, first_batch(data))
    record = {
        "seconds_per_step": round(seconds, 5),
        "episodes_per_second": round(episodes_per_step / seconds, 2),
        "episodes_per_step": episodes_per_step,
        "timed_steps": args.steps,
        "flops_per_step": flops,
    }
    for dtype, peak in device["peak_tflops"].items():
        fraction = flops / seconds / (peak * 1e12) if flops and peak else None
        record[f"fraction_of_{dtype}_peak"] = round(fraction, 6) if fraction else None
    print(f"{name}: {seconds * 1e3:.1f} ms/step, {record['episodes_per_second']} episodes/s",
          file=sys.stderr)  # fmt: skip
    return record


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    import metazoo
    from metazoo.recipes.maml import MAMLRecipe
    from metazoo.recipes.protonet import ProtoNetRecipe

    if keras.config.backend() != "jax":
        raise SystemExit(f"gpu_check runs on JAX. Received: KERAS_BACKEND={keras.config.backend()}")
    keras.utils.set_random_seed(0)
    device = device_record(args)
    result = {"check": "metazoo gpu_check", "metazoo": metazoo.__version__,
              "keras": keras.__version__, "device": device}  # fmt: skip

    model = metazoo.load("protonet_omniglot")
    test = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15, seed=0,
                                     data_dir=args.data_dir)  # fmt: skip
    start = time.perf_counter()
    score = metazoo.evaluate_episodes(model, test, args.episodes, verbose=0)
    seconds = time.perf_counter() - start
    result["eval"] = {
        "preset": "protonet_omniglot",
        "protocol": "vinyals test split, 5-way 1-shot, 15 queries, seed 0",
        "episodes": args.episodes,
        "accuracy": round(score.accuracy, 6),
        "ci95": round(score.ci95, 6),
        "episodes_per_second": round(args.episodes / seconds, 1),
    }
    print(f"eval: {score}", file=sys.stderr)

    recipe = ProtoNetRecipe(ways=args.protonet_ways, eval_episodes=0)
    protonet = recipe.build_model(args.data_dir)
    recipe.compile_model(protonet)
    train = recipe.train_data(protonet, 0, args.data_dir)
    result["protonet_step"] = {
        "settings": f"{recipe.ways}-way {recipe.shots}-shot {recipe.queries}-query, Adam",
        **time_training("protonet", protonet, train, 1, args, device),
    }

    recipe = MAMLRecipe(meta_batch=args.maml_meta_batch, eval_episodes=0)
    maml = recipe.build_model(args.data_dir)
    recipe.compile_model(maml)
    train = recipe.train_data(maml, 0, args.data_dir)
    result["maml_step"] = {
        "settings": (
            f"{recipe.ways}-way {recipe.shots}-shot {recipe.queries}-query, meta-batch "
            f"{recipe.meta_batch}, {recipe.inner_steps} second-order inner step, Adam"
        ),
        **time_training("maml", maml, train, recipe.meta_batch, args, device),
    }
    line = json.dumps(result, sort_keys=True)
    print(line)
    if args.output:
        with open(args.output, "w") as f:
            f.write(line + "\n")
    return result


if __name__ == "__main__":
    main()
