# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Prototypical Networks on Omniglot
#
# A Prototypical Network (Snell, Swersky & Zemel, 2017) classifies a query image
# by the nearest *prototype*: the mean embedding of each class's few labelled
# examples (the support set). Training is ordinary `model.fit` on *episodes*:
# each step is a small N-way K-shot classification problem.
#
# This tutorial
#
# 1. samples Omniglot episodes and looks at one,
# 2. loads the pretrained `protonet_omniglot` preset and scores it as the paper does,
# 3. trains a small ProtoNet of its own with `fit`,
# 4. fine-tunes the preset with `fit`, saves it and loads it back.
#
# It reads the official Omniglot zips from `$METAZOO_DATA_DIR` (or downloads
# them once). The preset's scores below are measured in full on every build
# of this page; only the training run of section 3 is shorter when
# `METAZOO_FAST=1` is set (as on the docs build), and it says how long it ran.
#
# [Download this tutorial](01_prototypical_networks.py): a jupytext notebook;
# `jupytext --to ipynb 01_prototypical_networks.py` makes an `.ipynb` of it.

# %%
import metazoo  # first: it quiets TensorFlow's C++ logs

import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

from metazoo.algorithms import PrototypicalNetwork
from metazoo.networks import Conv4

FAST = os.environ.get("METAZOO_FAST") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## Episodes
#
# `omniglot_episodes` samples N-way K-shot Q-query episodes from the
# Vinyals/Snell split (28x28, rotations as new classes). An element is
# `((support_images, support_labels, query_images), query_labels)`, images in
# [0, 1] with ink = 1, labels `0..N-1`. The same seed always gives the same
# episodes, on every Keras backend: a `tf.data` dataset on TensorFlow, a
# `keras.utils.PyDataset` of numpy arrays on JAX and PyTorch (this page runs
# on all three).

# %%
episodes = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=3, seed=0)
(support, support_labels, query), query_labels = next(iter(episodes))
print(support.shape, np.asarray(support_labels), query.shape, np.asarray(query_labels))

fig, axes = plt.subplots(4, 5, figsize=(6, 5))
for c in range(5):
    axes[0, c].imshow(support[c, ..., 0], cmap="gray_r")
    axes[0, c].set_title(f"class {c}")
    for j in range(3):
        axes[1 + j, c].imshow(query[3 * c + j, ..., 0], cmap="gray_r")
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle("Support (top row) and queries of one 5-way 1-shot episode")
plt.show()

# %% [markdown]
# ## The pretrained preset
#
# `metazoo.load` (or `PrototypicalNetwork.from_preset`) takes a preset name,
# checks the weights' checksum and returns a compiled Keras model. Its
# metadata records how it was trained and what it scores on the Vinyals test
# split, beside Snell et al.'s figures.

# %%
pretrained = PrototypicalNetwork.from_preset("protonet_omniglot")
for record in metazoo.presets.load_metadata("protonet_omniglot")["evaluation"]:
    print(
        f"{record['ways']:>2}-way {record['shots']}-shot: "
        f"{100 * record['accuracy']:.2f} ± {100 * record['ci95']:.2f}%  "
        f"(paper {100 * record['paper']:.1f}%; {record['episodes']} episodes, "
        f"seed {record['seed']})"
    )

# %% [markdown]
# The first of those records, measured again here: the same 1,000 seeded
# 5-way 1-shot episodes with 15 queries per class, so the same number.
# `evaluate_episodes` reports the mean accuracy over episodes with its 95%
# interval, 1.96 · std / √episodes.

# %%
test = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15, seed=0)
preset_score = metazoo.evaluate_episodes(pretrained, test, num_episodes=1000, verbose=0)
print("protonet_omniglot, 5-way 1-shot, 1,000 test episodes:", preset_score)

# %% [markdown]
# What it predicts on the episode above: each query's nearest prototype.

# %%
logits = keras.ops.convert_to_numpy(pretrained((support, support_labels, query)))
predicted = np.argmax(logits, axis=-1)
fig, axes = plt.subplots(1, 15, figsize=(12, 1.6))
for i, ax in enumerate(axes):
    ax.imshow(query[i, ..., 0], cmap="gray_r")
    right = predicted[i] == query_labels[i]
    ax.set_title(f"{predicted[i]}", color="tab:green" if right else "tab:red")
    ax.axis("off")
fig.suptitle("Queries, titled with the predicted class (green: right)", y=1.08)
plt.show()

# %% [markdown]
# ## Train with `fit`
#
# Snell et al. train with 60-way 5-shot episodes of 5 queries per class and
# Adam at 1e-3, halved every 2,000 episodes. One step of `fit` is one
# episode. The run below is short (20-way episodes, a few hundred of them),
# enough to see the method learn; the preset's recipe is
# `metazoo train protonet --episodes 20000` (60-way; see the Model zoo page
# for its full command).

# %%
train_steps = 300 if FAST else 2000
model = PrototypicalNetwork(Conv4(filters=64))
model.compile(optimizer=keras.optimizers.Adam(metazoo.training.step_decay(1e-3, every=2000)))
train = metazoo.omniglot_episodes("trainval", ways=20, shots=5, queries=5, seed=1)
history = model.fit(train, steps_per_epoch=train_steps // 5, epochs=5, verbose=0)
print(f"{train_steps} training episodes; loss per fifth of the run:",
      np.round(history.history["loss"], 3))  # fmt: skip

# %%
short_score = metazoo.evaluate_episodes(model, test, num_episodes=1000, verbose=0)
print(f"trained here for {train_steps} episodes, 5-way 1-shot:", short_score)
print("the preset, same episodes:                ", preset_score)

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, 6) * train_steps // 5, history.history["loss"], marker="o")
ax.set(xlabel="training episodes", ylabel="training loss", title="The short run learns")
plt.show()

# %% [markdown]
# ## Fine-tune with `fit`, save and reload
#
# A loaded preset is an ordinary compiled Keras model: keep training it on
# your own episodes, save it to `.keras` (optimizer state included) and load
# it back.

# %%
pretrained.fit(train, steps_per_epoch=20, epochs=1, verbose=0)
path = os.path.join(tempfile.mkdtemp(), "protonet_finetuned.keras")
pretrained.save(path)
reloaded = keras.saving.load_model(path)
x, y = next(iter(test))
logits = keras.ops.convert_to_numpy(reloaded(x))
np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(pretrained(x)), atol=1e-4)
right = np.mean(np.argmax(logits, -1) == np.asarray(y))
print(f"the reloaded model gives the same logits; it gets {right:.0%} of this episode's queries")
print("the optimizer's step count came back too:", int(reloaded.optimizer.iterations))
