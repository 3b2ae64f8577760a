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
# # Learning to learn by gradient descent by gradient descent
#
# Andrychowicz et al. (NeurIPS 2016) replace a hand-designed update rule
# such as Adam by a small LSTM that reads a parameter's gradient and
# outputs its update. One LSTM (2 layers of 20 units) is shared by every
# coordinate of the model being optimized (the *optimizee*), each
# coordinate keeping its own hidden state, so the optimizer's size does not
# depend on the model's. The LSTM's weights are trained by gradient descent
# on the optimizee's loss along its optimization trajectory.
#
# This tutorial
#
# 1. calls the update rule, a pure function of (gradient, state, meta-parameters),
# 2. meta-trains it on random quadratics with `fit`,
# 3. compares its loss curves with tuned Adam, RMSprop, SGD and NAG,
# 4. compiles an ordinary Keras model with `LearnedOptimizer` from the
#    `l2l_mnist_mlp` preset, trains it with `fit`, saves and reloads it.
#
# It reads MNIST from `$METAZOO_DATA_DIR` (or downloads it). Set
# `METAZOO_FAST=1` to run it in seconds with tiny settings (as CI does); the
# numbers are then not meaningful.

# %%
import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import metazoo
from metazoo.algorithms.l2l import (
    L2LMetaTrainer,
    LearnedOptimizer,
    Quadratic,
    UpdateRuleConfig,
    init_meta_params,
    init_state,
    lstm_update,
    meta_training_data,
    preprocess_gradient,
)
from metazoo.recipes.l2l import evaluate_task

FAST = os.environ.get("METAZOO_FAST") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## The update rule
#
# Gradients span many orders of magnitude, so the paper feeds the LSTM
# `(log|g| / p, sign g)` (or `(-1, e^p g)` for tiny `|g|`), with `p = 10`.
# `lstm_update` maps a gradient of any shape and the per-coordinate state to
# an update of the same shape: `theta <- theta + update`. An untrained rule
# starts with a zero output layer, so its first updates are zero.

# %%
print(preprocess_gradient(tf.constant([0.0, 1e-6, -0.1, 2.0])).numpy())
config = UpdateRuleConfig(hidden_units=20, num_layers=2)
meta_params = init_meta_params(config, seed=0)
update, state = lstm_update(tf.constant([0.5, -1e-3]), init_state(config, 2), meta_params, config)
print("update:", update.numpy(), "state:", [s.shape for s in state])

# %% [markdown]
# ## Meta-training on quadratics
#
# Each optimizee is a batch of 128 random functions `||W theta - y||^2`
# (10-d, `W` and `y` Gaussian). `L2LMetaTrainer.train_step` unrolls 20
# optimizee steps, sums their losses, and backpropagates into the LSTM
# (the optimizee's own gradients are inputs, not differentiated: the
# paper's first-order approximation). Optimizee and LSTM state carry over
# from one step to the next (truncated backpropagation through time) until
# 100 optimizee steps, then a fresh quadratic is drawn. The full run below
# takes a few minutes on a laptop CPU.

# %%
META_STEPS = 20 if FAST else 2000
quadratic = Quadratic(dims=10, num_functions=128)
trainer = L2LMetaTrainer(quadratic, unroll=20, horizon=100)
trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
history = trainer.fit(
    meta_training_data(quadratic, unroll=20, horizon=100, seed=0),
    steps_per_epoch=META_STEPS // 10,
    epochs=10,
    verbose=0,
)
print("meta-loss per epoch:", np.round(history.history["loss"], 3))

# %% [markdown]
# ## Against hand-designed optimizers
#
# `evaluate_task` runs every optimizer on quadratics from a held-out seed
# stream. Each baseline gets the learning rate (from a grid) that did best
# on meta-training quadratics: a fair, tuned comparison.

# %%
grid = (1e-2, 1e-1) if FAST else (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
result = evaluate_task(
    LearnedOptimizer.from_meta_trainer(trainer),
    quadratic,
    steps=100,
    seeds=2 if FAST else 10,
    tune_seeds=1 if FAST else 3,
    lr_grid=grid,
    curves=True,
)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(result["curve"], label="LSTM (learned)", color="black", linewidth=2)
for name, record in result["baselines"].items():
    ax.plot(record["curve"], label=f"{name} (lr {record['learning_rate']:g})")
ax.set(yscale="log", xlabel="optimizee step", ylabel="loss (mean of held-out seeds)")
ax.legend()
plt.show()
print("final loss, learned:", result["final_loss"])
print({name: r["final_loss"] for name, r in result["baselines"].items()})

# %% [markdown]
# ## A learned optimizer for any Keras model
#
# `LearnedOptimizer` is a `keras.optimizers.Optimizer`: it keeps each
# coordinate's LSTM state in optimizer variables and applies the frozen
# rule in `update_step`. `from_preset` loads the meta-parameters of a
# trained preset; here the one meta-trained on MNIST MLPs, when it is
# installed (otherwise the quadratic rule we just trained stands in).

# %%
if "l2l_mnist_mlp" in metazoo.list_presets():
    optimizer = LearnedOptimizer.from_preset("l2l_mnist_mlp")
else:
    print("Preset l2l_mnist_mlp not found: using the rule trained above.")
    optimizer = LearnedOptimizer.from_meta_trainer(trainer)

images, labels = metazoo.data.load_mnist("train")
x, y = images.reshape(-1, 784), labels
model = keras.Sequential(
    [keras.Input((784,)), keras.layers.Dense(20, activation="sigmoid"), keras.layers.Dense(10)]
)
model.compile(
    optimizer=optimizer,
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
steps = 10 if FAST else 100  # the paper's horizon: 100 steps of 128 images
model.fit(x[: 128 * steps], y[: 128 * steps], batch_size=128, epochs=1, verbose=0)
test_images, test_labels = metazoo.data.load_mnist("test")
print(model.evaluate(test_images.reshape(-1, 784), test_labels, verbose=0, return_dict=True))

# %% [markdown]
# The optimizer's state is saved with the model and restored on load.

# %%
path = os.path.join(tempfile.mkdtemp(), "l2l_mlp.keras")
model.save(path)
reloaded = keras.saving.load_model(path)
same = all(
    np.array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables, strict=True)
)
print(type(reloaded.optimizer).__name__, "state restored:", same)
