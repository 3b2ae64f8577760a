"""Episodes per second of the two episode pipelines: `tf.data` and numpy (`EpisodeDataset`).

Both draw the same Omniglot episodes (`--ways`-way `--shots`-shot
`--queries`-query, Vinyals `test` split, 28x28). `tf.data` is read as
`fit` reads it (its parallel map and prefetch); the `EpisodeDataset` is
indexed in order, in this process, as Keras reads a `PyDataset` with
`workers=1`. Each is timed over `--episodes` episodes (after a warm-up),
`--repeats` times alternately, so load from other jobs hits both alike;
the figure is the median.

    python benchmarks/episode_pipelines.py [--episodes 300] [--repeats 5] [--data-dir DIR]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from metazoo.data.omniglot import load_omniglot  # noqa: E402
from metazoo.episodes import episodes_from_array  # noqa: E402


def _seconds(batches, count: int) -> float:
    start = time.perf_counter()
    for _ in itertools.islice(batches, count):
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    images = load_omniglot("vinyals", "test", 28, args.data_dir).images
    shape = dict(ways=args.ways, shots=args.shots, queries=args.queries, seed=0)
    readers = {
        "tf.data": lambda: iter(episodes_from_array(images, pipeline="tf.data", **shape)),
        "numpy": lambda: iter(episodes_from_array(images, pipeline="numpy", **shape)),
    }
    for make in readers.values():
        _seconds(make(), 20)  # trace, build thread pools, warm caches
    seconds = {name: [] for name in readers}
    for _ in range(args.repeats):
        for name, make in readers.items():
            seconds[name].append(_seconds(make(), args.episodes))
    rate = {name: args.episodes / statistics.median(s) for name, s in seconds.items()}
    result = {
        "benchmark": "episode_pipelines",
        "episode": f"{args.ways}-way {args.shots}-shot {args.queries}-query",
        "episodes": args.episodes,
        "repeats": args.repeats,
        "episodes_per_second": {name: round(r, 1) for name, r in rate.items()},
        "all_seconds": {name: [round(x, 3) for x in s] for name, s in seconds.items()},
        "numpy_over_tf_data": round(rate["numpy"] / rate["tf.data"], 3),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
