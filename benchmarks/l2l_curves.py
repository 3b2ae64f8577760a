"""Loss curves of an L2L preset against tuned Adam, RMSprop, SGD and NAG (the docs' figure).

Runs the protocol of `metazoo eval <preset>` (`metazoo.protocols.l2l.PROTOCOL`,
same seeds, so the curves end at the numbers `metazoo eval` prints) on the
preset's task and its generalization variants, and plots the mean minibatch
loss per optimizee step on a log scale.

    python benchmarks/l2l_curves.py --preset l2l_mnist_mlp --output docs/img/l2l_mnist_mlp.png

Prints one JSON line last (final losses; curves go to `<output>.json`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from metazoo.algorithms.l2l import LearnedOptimizer  # noqa: E402
from metazoo.presets import load_metadata  # noqa: E402
from metazoo.protocols.l2l import (  # noqa: E402
    evaluate_generalization,
    evaluate_task,
    make_optimizee,
    protocol_from_metadata,
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="l2l_mnist_mlp")
    parser.add_argument("--output", required=True, help="PNG to write")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    metadata = load_metadata(args.preset)
    task = metadata["training"]["task"]
    protocol = protocol_from_metadata(metadata)
    optimizer = LearnedOptimizer.from_preset(args.preset)
    results = {
        "main": evaluate_task(
            optimizer, make_optimizee(task, args.data_dir), curves=True, **protocol
        ),
        **evaluate_generalization(optimizer, task, args.data_dir, curves=True, **protocol),
    }

    cols = min(3, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(results) :]:
        ax.set_visible(False)
    for ax, (name, result) in zip(axes.flat, results.items(), strict=False):
        ax.plot(result["curve"], color="black", linewidth=2, label="L2L (learned)")
        for baseline, record in result["baselines"].items():
            ax.plot(record["curve"], label=f"{baseline} (lr {record['learning_rate']:g})")
        title = f"{result['steps']} steps (as meta-trained)" if name == "main" else name
        ax.set(yscale="log", title=title, xlabel="optimizee step")
        ax.legend(fontsize=7)
    for row in axes:
        row[0].set_ylabel("loss at each step (mean of seeds)")
    fig.suptitle(f"{args.preset}: {protocol.get('seeds')} held-out optimizees")
    fig.tight_layout()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    output.with_suffix(".json").write_text(json.dumps(results) + "\n")
    summary = {
        name: {
            "learned": r["final_loss"],
            **{b: rec["final_loss"] for b, rec in r["baselines"].items()},
        }
        for name, r in results.items()
    }
    print(json.dumps({"benchmark": "l2l_curves", "preset": args.preset, "final_loss": summary}))
    return summary


if __name__ == "__main__":
    main()
