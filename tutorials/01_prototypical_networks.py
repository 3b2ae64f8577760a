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
# 2. trains a ProtoNet with `fit`,
# 3. scores it with a 95% confidence interval,
# 4. loads the pretrained `protonet_omniglot` preset, evaluates and fine-tunes it.
#
# It reads the data from `$METAZOO_DATA_DIR` (the folder with the official
# Omniglot zips) or downloads them. Set `METAZOO_FAST=1` to run it in seconds
# with tiny settings (that is how CI executes it); the numbers below are then
# not meaningful.

# %%
import os

import keras
import matplotlib.pyplot as plt
import numpy as np

import metazoo
from metazoo.algorithms import PrototypicalNetwork
from metazoo.networks import Conv4

FAST = os.environ.get("METAZOO_FAST") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## Episodes
#
# `omniglot_episodes` samples N-way K-shot Q-query episodes from the
# Vinyals/Snell split (28x28, rotations as new classes) with TensorFlow ops. An
# element is `((support_images, support_labels, query_images), query_labels)`,
# images in [0, 1] with ink = 1, labels `0..N-1`. The same seed always gives
# the same episodes.

# %%
episodes = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=3, seed=0)
(support, support_labels, query), query_labels = next(iter(episodes))
print(support.shape, support_labels.numpy(), query.shape, query_labels.numpy())

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
# ## Train with `fit`
#
# Snell et al. train with 60-way 5-shot episodes of 5 queries per class and
# Adam at 1e-3, halved every 2,000 episodes. One step of `fit` is one episode.

# %%
ways, train_steps = (5, 20) if FAST else (60, 2000)
model = PrototypicalNetwork(Conv4(filters=16 if FAST else 64))
model.compile(optimizer=keras.optimizers.Adam(metazoo.training.step_decay(1e-3, every=2000)))
train = metazoo.omniglot_episodes("trainval", ways=ways, shots=5, queries=5, seed=1)
history = model.fit(train, steps_per_epoch=train_steps // 2, epochs=2, verbose=2)

# %% [markdown]
# ## Evaluate: accuracy ± 95% confidence interval
#
# `evaluate_episodes` scores every episode and reports the mean with
# 1.96 · std / √E. `model.evaluate` works too and gives the mean accuracy.

# %%
test = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15, seed=0)
score = metazoo.evaluate_episodes(model, test, num_episodes=20 if FAST else 600, verbose=0)
print("our short training run, 5-way 1-shot:", score)
print(model.evaluate(test.take(10), verbose=0, return_dict=True))

# %% [markdown]
# ## The pretrained preset
#
# `metazoo.load` takes a preset name (or folder), checks the weights'
# checksum and returns a compiled Keras model. Its metadata records how it
# was trained and what it scores.

# %%
if "protonet_omniglot" in metazoo.list_presets():
    pretrained = metazoo.load("protonet_omniglot")
    for record in metazoo.presets.load_metadata("protonet_omniglot")["evaluation"]:
        print(
            f"{record['ways']}-way {record['shots']}-shot: "
            f"{100 * record['accuracy']:.2f} ± {100 * record['ci95']:.2f}% "
            f"(paper {100 * record['paper']:.1f}%, {record['episodes']} episodes)"
        )
    score = metazoo.evaluate_episodes(
        pretrained, test, num_episodes=20 if FAST else 1000, verbose=0
    )
    print("re-measured here, 5-way 1-shot:", score)
else:
    print("protonet_omniglot is not in saved_models/ yet; using the model trained above")
    pretrained = model

# %% [markdown]
# ## Fine-tune with `fit`, save and reload
#
# A loaded preset is an ordinary compiled Keras model: keep training it on
# your own episodes, save it to `.keras` (optimizer state included) and load
# it back.

# %%
pretrained.fit(train.take(4 if FAST else 100), epochs=1, verbose=0)
pretrained.save("/tmp/protonet_finetuned.keras")
reloaded = keras.saving.load_model("/tmp/protonet_finetuned.keras")
x, y = next(iter(test))
np.testing.assert_allclose(reloaded(x), pretrained(x), atol=1e-4)
print("reloaded model predicts the same:", np.argmax(reloaded(x), -1)[:15])
