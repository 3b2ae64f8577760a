"""`metazoo demo`: the README's main job, end to end on the pretrained ProtoNet."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from metazoo.episodes import omniglot_episodes
from metazoo.presets import load, load_metadata
from metazoo.protocols import PAPER_PROTONET_OMNIGLOT, OmniglotEpisodes

WAYS, SHOTS, QUERIES = 5, 1, 15
SHOWN_QUERIES = 3  # per class, in the picture


def plot_episode(support, support_labels, query, query_labels, predictions, path) -> Path:
    """Writes a PNG: the support row, then queries titled predicted / true label.

    Args:
        support: `[ways * shots, H, W, 1]` images (ink = 1).
        support_labels: `[ways * shots]` labels.
        query: `[ways * queries, H, W, 1]` images, class-major.
        query_labels: `[ways * queries]` labels.
        predictions: `[ways * queries]` predicted labels.
        path: where to write the PNG (written atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ways = int(np.max(support_labels)) + 1
    per_class = len(query_labels) // ways
    shown = min(SHOWN_QUERIES, per_class)
    fig, axes = plt.subplots(1 + shown, ways, figsize=(1.6 * ways, 1.8 * (1 + shown)))
    axes = np.asarray(axes).reshape(1 + shown, ways)
    for c in range(ways):
        first = int(np.flatnonzero(support_labels == c)[0])
        axes[0, c].imshow(support[first, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[0, c].set_title(f"support {c}", fontsize=9)
        for row in range(shown):
            i = c * per_class + row
            ok = predictions[i] == query_labels[i]
            ax = axes[1 + row, c]
            ax.imshow(query[i, ..., 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(
                f"pred {predictions[i]} / true {query_labels[i]}",
                fontsize=8,
                color="green" if ok else "red",
            )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("One 5-way 1-shot Omniglot test episode", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the picture is for the user
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def run_demo(args: argparse.Namespace) -> dict:
    """Loads the preset, scores it on 5-way 1-shot test episodes, draws one episode."""
    model = load(args.preset)
    metadata = load_metadata(args.preset)
    protocol = metadata.get("training", {}).get("protocol", "vinyals")
    print(f"Evaluating {args.preset} on {args.episodes} {WAYS}-way {SHOTS}-shot episodes ...")
    episodes = OmniglotEpisodes(
        protocol, ways=WAYS, shots=SHOTS, queries=QUERIES, episodes=args.episodes, seed=args.seed
    )
    record, score = episodes.measure(model, args.data_dir, verbose=1)
    paper = PAPER_PROTONET_OMNIGLOT[(WAYS, SHOTS)]
    print(
        f"{args.preset}: {score} on the {protocol} {record['split']} split "
        f"({QUERIES} queries per class, seed {args.seed}); "
        f"Snell et al. 2017 report {100 * paper:.1f}%."
    )
    (x, y) = next(
        iter(omniglot_episodes(record["split"], WAYS, SHOTS, QUERIES, protocol=protocol,
                               seed=args.seed, data_dir=args.data_dir))
    )  # fmt: skip
    predictions = np.argmax(model(x, training=False), axis=-1)
    # Tensors from tf.data on TensorFlow, numpy arrays from an EpisodeDataset elsewhere.
    path = plot_episode(*(np.asarray(t) for t in x), np.asarray(y), predictions, args.output)
    print(f"Wrote {path}")
    return record
