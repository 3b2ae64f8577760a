# %% [markdown]
# # Siamese networks and Lake's one-shot benchmark
#
# Lake, Salakhutdinov & Tenenbaum (Science, 2015) asked people to classify
# a new handwritten character after seeing **one** example of each of 20
# characters of an alphabet they had never seen: people erred 4.5% of the
# time, their Bayesian Program Learning (BPL) model 3.3%. Koch, Zemel &
# Salakhutdinov (2015) trained a **Siamese network** to tell whether two
# drawings show the same character and classified by the most similar
# example: 92.0% right.
#
# This tutorial trains a small Siamese network on Omniglot's *background*
# alphabets, shows what it thinks of pairs of new characters, runs Lake's
# 20-way benchmark on runs built from the *evaluation* alphabets, and
# compares it with a Prototypical Network and the published figures.
#
# With `METAZOO_FAST=1` (the docs build) everything is tiny and the numbers
# mean nothing; presets from `saved_models/` are used when they exist.

# %%
import os
import tempfile
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

import metazoo
from metazoo.lake import (
    REFERENCE_ACCURACY,
    ModifiedHausdorff,
    build_lake_runs,
    read_lake_runs,
    score_lake_runs,
)
from metazoo.pairs import omniglot_pairs
from metazoo.recipes.protonet import train_protonet
from metazoo.recipes.siamese import build_siamese

FAST = os.environ.get("METAZOO_FAST") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## Pairs of drawings
#
# `omniglot_pairs` draws balanced batches: every other pair shows two
# drawings of one character (label 1), the others two different characters
# (label 0). With `same_alphabet_fraction=0.5` half the different pairs come
# from one alphabet, the hard case of Lake's within-alphabet task. Only the
# background split is used for training: the evaluation alphabets are the
# benchmark's.

# %%
pairs = omniglot_pairs("background", batch_size=32 if FAST else 128, same_alphabet_fraction=0.5)
(images_a, images_b), same = next(iter(pairs))
print(images_a.shape, images_b.shape, same.numpy()[:8])

# %% [markdown]
# ## Train a small Siamese network
#
# Twin Conv-4 towers with shared weights embed both images; the network
# outputs P(same) = sigmoid(w · |f(a) − f(b)| + b) and is trained with
# binary cross-entropy. In training, each image gets a random affine
# distortion (`RandomAffine`, Koch's rotation / shear / scale / shift).
# The full setting below takes minutes on a laptop CPU; the
# `siamese_omniglot` preset was trained much longer (see its metadata).

# %%
siamese = build_siamese(image_size=28, filters=16 if FAST else 64)
siamese.compile()  # Adam 1e-3, binary cross-entropy, accuracy
history = siamese.fit(pairs, steps_per_epoch=30 if FAST else 2000, epochs=1, verbose=2)

# %% [markdown]
# ## What it thinks of new characters
#
# Pairs from the evaluation alphabets, never seen in training, with the
# network's P(same).

# %%
test_pairs = omniglot_pairs("evaluation", batch_size=8, seed=1, same_alphabet_fraction=1.0)
(test_a, test_b), test_same = next(iter(test_pairs))
p_same = siamese((test_a, test_b)).numpy()[:, 0]
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for i in range(8):
    for row, images in enumerate((test_a, test_b)):
        axes[row, i].imshow(1 - images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
        axes[row, i].axis("off")
    truth = "same" if test_same[i] else "different"
    axes[0, i].set_title(f"{truth}\nP(same)={p_same[i]:.2f}", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# Over many such pairs, `evaluate_pairs` gives the verification accuracy
# (at P(same) = 0.5, with its 95% interval) and the ROC AUC, which does
# not depend on that threshold. Different characters of one alphabet
# (`same_alphabet_fraction=1.0`) are the harder pairs. `metazoo eval
# siamese_omniglot --verification-pairs 10000` does the same for the preset.

# %%
for fraction in (0.0, 1.0):
    eval_pairs = omniglot_pairs("evaluation", batch_size=500, same_alphabet_fraction=fraction)
    score = metazoo.evaluate_pairs(siamese, eval_pairs, 1000 if FAST else 10_000, verbose=0)
    print(f"different pairs within one alphabet: {fraction:.0%} -> {score}")

# %% [markdown]
# ## Lake's 20-way one-shot runs
#
# The official runs (`all_runs.zip` in brendenlake/omniglot) are 20 folders
# `run01` … `run20`: 20 training drawings of 20 characters of one
# alphabet, 20 test drawings by another person, and `class_labels.txt`
# with the answers. `build_lake_runs` writes runs in exactly that format
# from `images_evaluation.zip` (CLI: `metazoo lake-runs build`), and
# `read_lake_runs` reads either.

# %%
runs_dir = build_lake_runs(Path(tempfile.mkdtemp()) / "lake_runs", seed=0)
runs = read_lake_runs(runs_dir, image_size=28)
print(sorted(p.name for p in runs_dir.iterdir()))
print((runs_dir / "run01" / "class_labels.txt").read_text().splitlines()[:3])

fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for k in range(10):
    item = int(np.flatnonzero(runs[0].answers == k)[0])
    axes[0, k].imshow(1 - runs[0].training[k, ..., 0], cmap="gray")
    axes[1, k].imshow(1 - runs[0].test[item, ..., 0], cmap="gray")
    axes[0, k].set_title(f"class{k + 1:02d}", fontsize=8)
    axes[1, k].set_title(f"item{item + 1:02d}", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle("run01: training drawings (top) and their test items (bottom)")
plt.show()

# %% [markdown]
# Each run is one 20-way 1-shot episode: the Siamese network picks, for
# each test item, the training drawing with the highest P(same).

# %%
presets = metazoo.list_presets()
siamese_source = "the network trained above"
if "siamese_omniglot" in presets:
    siamese = metazoo.load("siamese_omniglot")
    siamese_source = "preset siamese_omniglot"
siamese_score = score_lake_runs(siamese, runs)
print(f"Siamese ({siamese_source}): {siamese_score}")
print({run: f"{100 * error:.0f}%" for run, error in siamese_score.run_errors.items()})

# %% [markdown]
# ## A Prototypical Network on the same runs
#
# Any episodic classifier runs on the benchmark. With one shot, a
# Prototypical Network is a nearest neighbour in its embedding space.

# %%
protonet_source = "preset protonet_omniglot_lake"
if "protonet_omniglot_lake" in presets:
    protonet = metazoo.load("protonet_omniglot_lake")
else:
    protonet_source = "a ProtoNet trained here on the background set"
    protonet, _ = train_protonet(
        protocol="lake",
        split="background",
        ways=20 if FAST else 60,
        shots=1,
        queries=5,
        episodes=30 if FAST else 2000,
        epoch_episodes=30 if FAST else 500,
        filters=16 if FAST else 64,
        verbose=2,
    )
protonet_score = score_lake_runs(protonet, read_lake_runs(runs_dir, image_size=28))
print(f"ProtoNet ({protonet_source}): {protonet_score}")

# %% [markdown]
# ## Lake's own baseline on the same runs
#
# Lake's `demo_classification.py` classifies each test item by the nearest
# training drawing under the *modified Hausdorff distance* between the two
# sets of inked pixels (each centred on its mean), with no learning at all,
# and states 38.8% error on the official runs. `ModifiedHausdorff` is that
# classifier, at the runs' own 105x105. Its score on the runs built here
# says how hard they are next to the official ones (and on a copy of the
# official runs it checks that they were read right:
# `metazoo lake-runs baseline all_runs.zip`).

# %%
hausdorff_score = score_lake_runs(ModifiedHausdorff(), read_lake_runs(runs_dir, image_size=105))
print(f"Modified Hausdorff nearest neighbour: {hausdorff_score}")

# %% [markdown]
# ## Against people, BPL and Koch et al.
#
# The published figures are on the official runs; ours are on the runs
# built above (same format and kind of task, different characters and
# drawers), so compare them as estimates, not to the decimal. The two
# modified Hausdorff bars, the same classifier on the built runs and on the
# official ones, show how alike the two sets of runs are in difficulty.

# %%
names = [
    "Siamese\n(" + ("preset" if "siamese_omniglot" in presets else "trained here") + ")",
    "ProtoNet\n(" + ("preset" if "protonet_omniglot_lake" in presets else "trained here") + ")",
    "Modified\nHausdorff\n(here)",
] + [name.replace(" (", "\n(") for name in REFERENCE_ACCURACY]
values = [
    siamese_score.accuracy,
    protonet_score.accuracy,
    hausdorff_score.accuracy,
    *REFERENCE_ACCURACY.values(),
]
colors = ["tab:blue"] * 3 + ["tab:gray"] * len(REFERENCE_ACCURACY)
fig, ax = plt.subplots(figsize=(9.5, 3.8))
bars = ax.bar(names, [100 * v for v in values], color=colors)
ax.bar_label(bars, fmt="%.1f")
ax.axhline(5, color="k", linestyle=":", linewidth=1)
ax.text(len(names) - 0.5, 6, "chance", ha="right", fontsize=8)
ax.set_ylabel("% right, 20-way one-shot")
ax.set_ylim(0, 105)
ax.set_title("Lake 20-way within-alphabet one-shot classification")
plt.tight_layout()
plt.show()

# %% [markdown]
# To score a preset on the official runs, download `all_runs.zip` from
# `python/one-shot-classification/` of brendenlake/omniglot and run
#
# ```bash
# metazoo eval siamese_omniglot --lake-runs all_runs.zip --json
# ```
#
# The guide "Lake one-shot benchmark" describes the format, the presets
# and how they were trained.
