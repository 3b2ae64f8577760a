"""Seconds and peak memory per MAML meta-step (second order, first order, ANIL) on TF, JAX, PyTorch.

One step = one `fit` step of `MAML` (Finn et al.'s conv learner, 64 filters,
28x28) on a meta-batch of `--meta-batch` 5-way 1-shot episodes with 1 query
per class (as the recipe trains), each adapted with
`--inner-steps` SGD steps of 0.4. Variants: `second_order` (MAML, exact
meta-gradient), `first_order` (FOMAML), `anil` (`adapt="head"`, second
order). Each compiles with `MAML.compile()`'s defaults (`jit_compile="auto"`:
XLA on JAX, none on a CPU-only TensorFlow, eager PyTorch).

Every (backend, variant) pair runs in a fresh worker process of its own
(Keras fixes its backend per process, and the process's peak memory is then
that variant's alone). The workers are started together, each traces or
compiles its step with `--warmup` steps (not timed), then the parent asks
each in turn for `--steps` steps, `--repeats` rounds, so load from other
jobs hits all alike; the figure is the median over rounds of the seconds
per step.

Memory is the worker's `ru_maxrss`: the peak resident set of a process that
imported Keras (TensorFlow, and JAX or PyTorch for those), built the episodes and the
model, traced or compiled the step and ran it. `added` is that peak minus
the high-water mark just before the first step: what tracing/compilation
and the steps themselves added.

    python benchmarks/maml_step_cost.py [--steps 5] [--repeats 5] [--inner-steps 5]
        [--meta-batch 4] [--backends tensorflow jax torch] [--omniglot] [--data-dir DIR]
        [--threads N [N ...]]
    python benchmarks/maml_step_cost.py --quick   # tiny shapes, few steps: for tests

The episodes are drawn by `episodes_from_array` from seeded random images
(uint8, 20 classes): the step has no data-dependent branch, so its cost
depends on the shapes only, and the workers skip loading Omniglot.
`--omniglot` draws them from Omniglot `trainval` instead (`--data-dir`).
Prints a markdown table, then one JSON line last.

`--threads N [N ...]` caps each worker's intra-op threads (`OMP_NUM_THREADS`,
`torch.set_num_threads`, TensorFlow's intra-op pool; on JAX only `1` has a
knob, `--xla_cpu_multi_thread_eigen=false`); `0` leaves each library its own
choice (the default). With several values every (backend, variant) runs once
per value, in the same rounds: on a small machine shared with other jobs,
threads that wait for each other can cost more than the work (PyTorch's
OpenMP pool most of all), and this measures by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
VARIANTS = {
    "second_order": dict(first_order=False, adapt="all"),
    "first_order": dict(first_order=True, adapt="all"),
    "anil": dict(first_order=False, adapt="head"),
}
QUICK = dict(steps=2, repeats=2, warmup=1, inner_steps=2, meta_batch=2, filters=4, image_size=12)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (tracing, XLA)")
    parser.add_argument("--inner-steps", type=int, default=5)
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=1, help="per class (1 as in training)")
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--omniglot", action="store_true", help="Omniglot trainval episodes")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[0],
        help="intra-op threads per worker, one or more settings (0: the library's choice)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"tiny shapes and few steps: {QUICK}")
    parser.add_argument(
        "--worker", nargs=3, metavar=("BACKEND", "VARIANT", "THREADS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if any(threads < 0 for threads in args.threads):
        parser.error(
            f"--threads takes numbers of threads >= 0 (0: default). Received: {args.threads}"
        )
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The options a worker needs, as command-line arguments."""
    argv = [
        f"--warmup={args.warmup}",
        f"--inner-steps={args.inner_steps}",
        f"--meta-batch={args.meta_batch}",
        f"--ways={args.ways}",
        f"--shots={args.shots}",
        f"--queries={args.queries}",
        f"--filters={args.filters}",
        f"--image-size={args.image_size}",
    ]
    if args.omniglot:
        argv.append("--omniglot")
    if args.data_dir:
        argv.append(f"--data-dir={args.data_dir}")
    return argv


def thread_env(threads: int, backend: str) -> dict[str, str]:
    """Environment variables that cap a worker's intra-op threads (read at import)."""
    if not threads:  # 0: the library's own choice
        return {}
    env = {"OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads)}
    if backend == "jax" and threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    return env


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def thread_cap(backend: str) -> int | None:
    """The intra-op thread cap this worker runs under (None: the library's default)."""
    if backend == "torch" and os.environ.get("OMP_NUM_THREADS"):
        import torch

        return torch.get_num_threads()
    if backend == "jax":
        return 1 if "xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", "") else None
    if backend == "tensorflow" and os.environ.get("TF_NUM_INTRAOP_THREADS"):
        return int(os.environ["TF_NUM_INTRAOP_THREADS"])
    return None


def run_worker(args: argparse.Namespace) -> None:
    """One variant on this process's backend; answers the parent's `run N` lines on stdout."""
    # Anything the libraries print goes to stderr; stdout carries only the answers.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from metazoo.algorithms.maml import MAML
    from metazoo.episodes import episodes_from_array, omniglot_episodes

    backend, variant, threads = args.worker[0], args.worker[1], int(args.worker[2])
    assert keras.config.backend() == backend, (keras.config.backend(), backend)
    if threads and backend == "torch":
        import torch

        torch.set_num_threads(threads)
    shape = dict(ways=args.ways, shots=args.shots, queries=args.queries, seed=0)
    if not args.omniglot:
        rng = np.random.default_rng(0)
        size = args.image_size
        drawings = args.shots + args.queries
        images = rng.integers(0, 256, (max(20, args.ways), drawings, size, size, 1), np.uint8)
        data = episodes_from_array(images, batch_size=args.meta_batch, **shape)
    else:
        data = omniglot_episodes(
            "trainval",
            image_size=args.image_size,
            batch_size=args.meta_batch,
            data_dir=args.data_dir,
            **shape,
        )
    keras.utils.set_random_seed(0)
    model = MAML(
        ways=args.ways,
        inner_steps=args.inner_steps,
        inner_lr=0.4,
        filters=args.filters,
        image_shape=(args.image_size, args.image_size, 1),
        **VARIANTS[variant],
    )
    model.compile()
    before = peak_rss_mib()
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        command, _, count = line.partition(" ")
        if command == "run":
            steps = int(count)
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            answers.write(json.dumps({"seconds": (time.perf_counter() - start) / steps}) + "\n")
        elif command.strip() == "quit":
            peak = peak_rss_mib()
            answers.write(
                json.dumps(
                    {
                        "peak_rss_mib": round(peak),
                        "before_mib": round(before),
                        "added_mib": round(peak - before),
                        "jit_compile": model.jit_compile,
                        "threads_cap": thread_cap(backend),
                    }
                )
                + "\n"
            )
            return


def worker_name(backend: str, variant: str, threads: int, args: argparse.Namespace) -> str:
    """`backend/variant`, and `/threads=N` when several thread settings are compared."""
    name = f"{backend}/{variant}"
    return f"{name}/threads={threads}" if len(args.threads) > 1 else name


class Worker:
    """A worker process and the file its stderr goes to (shown if it fails)."""

    def __init__(
        self, backend: str, variant: str, threads: int, args: argparse.Namespace, log_dir: str
    ):
        self.name = worker_name(backend, variant, threads, args)
        self.log = Path(log_dir) / f"{backend}_{variant}_{threads}.log"
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {
            **os.environ,
            **thread_env(threads, backend),
            "KERAS_BACKEND": backend,
            "PYTHONPATH": path,
        }
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    backend,
                    variant,
                    str(threads),
                    *worker_argv(args),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
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
            raise RuntimeError(f"worker {self.name} exited ({self.process.returncode}):\n{tail}")
        return json.loads(line)


def markdown_table(result: dict) -> str:
    rows = [
        "| backend | variant | threads | s/step | x first order | peak RSS (MiB) | added (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, seconds in result["seconds_per_step"].items():
        backend, variant, *threads = name.split("/")
        first_name = "/".join([backend, "first_order", *threads])
        first = result["seconds_per_step"].get(first_name)
        ratio = f"{seconds / first:.2f}" if first else "—"
        memory = result["memory"][name]
        cap = memory["threads_cap"] or "default"
        rows.append(
            f"| {backend} | {variant} | {cap} | {seconds:.3f} | {ratio} | "
            f"{memory['peak_rss_mib']:,} | {memory['added_mib']:,} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return None
    load_start = os.getloadavg()[0]
    names = [(b, v, t) for b in args.backends for v in args.variants for t in args.threads]
    times: dict[str, list[float]] = {worker_name(*name, args): [] for name in names}
    memory: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as log_dir:
        workers = [Worker(b, v, t, args, log_dir) for b, v, t in names]
        try:
            for worker in workers:  # Imports and builds in parallel; compiles as they come.
                worker.ask(None)
            for _ in range(args.repeats):
                for worker in workers:
                    times[worker.name].append(worker.ask(f"run {args.steps}")["seconds"])
            for worker in workers:
                memory[worker.name] = worker.ask("quit")
                worker.process.wait(timeout=60)
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
    result = {
        "benchmark": "maml_step_cost",
        "episodes": (
            f"{args.ways}-way {args.shots}-shot {args.queries}-query, meta-batch "
            f"{args.meta_batch}, {args.image_size}x{args.image_size} "
            + ("Omniglot trainval" if args.omniglot else "random images")
        ),
        "learner_filters": args.filters,
        "inner_steps": args.inner_steps,
        "warmup": args.warmup,
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": args.threads,
        "seconds_per_step": {n: round(statistics.median(t), 4) for n, t in times.items()},
        "all_seconds": {n: [round(s, 4) for s in t] for n, t in times.items()},
        "memory": memory,
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    print(markdown_table(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
