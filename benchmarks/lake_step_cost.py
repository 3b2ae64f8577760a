"""Seconds per training step of the two Lake presets' recipes, at their settings.

`siamese_omniglot`: one step = 128 background pairs through Conv-4 towers
(28x28, 64 filters) with Koch's distortions. `protonet_omniglot_lake`: one
step = one 60-way 5-shot 5-query background episode (28x28, 64 filters);
`--shots 1` times the 1-shot episodes of its last steps, `--augment` its
episodes with Koch's distortions (`train protonet --augment`).
Both are traced first, then timed over `--steps` steps, `--repeats` times
alternately (so load from other jobs hits both alike); the figure is the
median. Multiply by the preset's steps for its training time.
`--image-size 56` (or 105) and `--ways` time the same recipes at other
settings (the Lake images of that size, rotations as classes for the
Siamese pairs and the ProtoNet, as in both presets).

    python benchmarks/lake_step_cost.py [--steps 20] [--repeats 3] [--image-size 28]
        [--ways 60] [--shots 5] [--augment] [--data-dir DIR]

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from fit_timing import seconds_per_step  # noqa: E402

from metazoo.algorithms.protonet import PrototypicalNetwork  # noqa: E402
from metazoo.episodes import omniglot_episodes  # noqa: E402
from metazoo.networks import Conv4  # noqa: E402
from metazoo.pairs import omniglot_pairs  # noqa: E402
from metazoo.recipes.siamese import build_siamese  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--ways", type=int, default=60, help="ways of the ProtoNet episodes")
    parser.add_argument("--shots", type=int, default=5, help="shots of the ProtoNet episodes")
    parser.add_argument(
        "--augment", action="store_true", help="ProtoNet with Koch's affine distortions"
    )
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    size = args.image_size
    keras.utils.set_random_seed(0)
    siamese = build_siamese(image_size=size, filters=64, augment=True)
    siamese.compile()
    protonet = PrototypicalNetwork(
        Conv4(image_shape=(size, size, 1), filters=64),
        augmentation="koch" if args.augment else None,
    )
    protonet.compile()
    jobs = {
        f"siamese_omniglot (128 pairs, {size}x{size})": (
            siamese,
            omniglot_pairs(
                "background",
                128,
                image_size=size,
                same_alphabet_fraction=0.5,
                data_dir=args.data_dir,
                rotations=True,
            ),
        ),
        f"protonet_omniglot_lake ({args.ways}-way {args.shots}-shot 5-query, {size}x{size}"
        + (", distorted" if args.augment else "")
        + ")": (
            protonet,
            omniglot_episodes(
                "background",
                args.ways,
                args.shots,
                5,
                protocol="lake",
                image_size=size,
                data_dir=args.data_dir,
                rotations=True,
            ),  # fmt: skip
        ),
    }
    seconds = seconds_per_step(jobs, args.steps, args.repeats)
    for name, value in seconds.items():
        print(f"{name}: {value} s/step")
    result = {
        "seconds_per_step": seconds,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
