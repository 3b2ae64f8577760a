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
# 2. meta-trains a rule on random quadratics with `fit` and watches the meta-loss fall,
# 3. compares the pretrained `l2l_quadratic` rule with tuned Adam, RMSprop, SGD and NAG,
# 4. compiles an ordinary Keras model with `LearnedOptimizer` from the
#    `l2l_mnist_mlp` preset, trains it with `fit` beside Adam and NAG, saves and reloads it.
#
# It reads MNIST from `$METAZOO_DATA_DIR` (or downloads it). Only the
# meta-training run of section 2 is shorter with `METAZOO_FAST=1` (as on
# the docs build).
#
# [Download this tutorial](03_learning_to_learn.py): a jupytext notebook;
# `jupytext --to ipynb 03_learning_to_learn.py` makes an `.ipynb` of it.

# %%
import metazoo  # first: it quiets TensorFlow's C++ logs

import os
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

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
from metazoo.protocols.l2l import evaluate_task, protocol_from_metadata

FAST = os.environ.get("METAZOO_FAST") == "1"
keras.utils.set_random_seed(0)

# %% [markdown]
# ## The update rule
#
# Gradients span many orders of magnitude, so the paper feeds the LSTM
# $(\log|g| / p, \operatorname{sign} g)$, or $(-1, e^p g)$ for tiny $|g|$,
# with $p = 10$. `lstm_update` maps a gradient of any shape and the
# per-coordinate state to an update of the same shape:
# $\theta \leftarrow \theta + \text{update}$. An untrained rule starts with a
# zero output layer, so its first updates are zero.

# %%
print(preprocess_gradient(tf.constant([0.0, 1e-6, -0.1, 2.0])).numpy())
config = UpdateRuleConfig(hidden_units=20, num_layers=2)
meta_params = init_meta_params(config, seed=0)
update, state = lstm_update(tf.constant([0.5, -1e-3]), init_state(config, 2), meta_params, config)
print("update:", update.numpy(), "state:", [s.shape for s in state])

# %% [markdown]
# ## Meta-training on quadratics
#
# Each optimizee is a batch of 128 random functions $\|W\theta - y\|^2$
# (10-d, $W$ and $y$ Gaussian). `L2LMetaTrainer.train_step` unrolls 20
# optimizee steps, sums their losses, and backpropagates into the LSTM (the
# optimizee's own gradients are inputs, not differentiated: the paper's
# first-order approximation). Optimizee and LSTM state carry over from one
# step to the next (truncated backpropagation through time) until 100
# optimizee steps, then a fresh quadratic is drawn. The `l2l_quadratic`
# preset ran 4,000 such meta-steps; this run is shorter.

# %%
META_STEPS = 500 if FAST else 4000
quadratic = Quadratic(dims=10, num_functions=128)
trainer = L2LMetaTrainer(quadratic, unroll=20, horizon=100)
trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
history = trainer.fit(
    meta_training_data(quadratic, unroll=20, horizon=100, seed=0),
    steps_per_epoch=META_STEPS // 10,
    epochs=10,
    verbose=0,
)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, 11) * META_STEPS // 10, history.history["loss"], marker="o")
ax.set(xlabel="meta-training steps", ylabel="meta-loss (sum of 20 losses)", yscale="log")
ax.set_title(f"Meta-training the update rule, {META_STEPS} steps")
plt.show()

# %% [markdown]
# ## Against hand-designed optimizers
#
# `evaluate_task` runs every optimizer for 100 steps on 10 quadratics from
# a held-out seed stream. Each baseline gets the learning rate (from a grid
# of 1e-4 to 3) that did best on meta-training quadratics: a fair, tuned
# comparison. This is the protocol of the preset's metadata
# (`metazoo eval l2l_quadratic --json`): the baselines repeat their recorded
# figures exactly; the learned rule's 100-step float32 recurrence has given
# 0.206 to 0.208 on different machines.

# %%
learned = LearnedOptimizer.from_preset("l2l_quadratic")
protocol = protocol_from_metadata(metazoo.presets.load_metadata("l2l_quadratic"))
result = evaluate_task(learned, quadratic, curves=True, **protocol)

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot(result["curve"], label="LSTM (l2l_quadratic)", color="black", linewidth=2.5)
for name, record in result["baselines"].items():
    ax.plot(record["curve"], label=f"{name} (lr {record['learning_rate']:g})", linewidth=1.2)
ax.set(yscale="log", xlabel="optimizee step", ylabel="loss (mean of 10 held-out quadratics)")
ax.legend(fontsize=9, frameon=False)
plt.show()
print(f"final loss, learned: {result['final_loss']:.4f} ± {result['final_loss_ci95']:.4f}")
for name, record in result["baselines"].items():
    print(
        f"{name:>8} (lr {record['learning_rate']:g}): {record['final_loss']:.4f}; "
        f"learned − {name}: {record['learned_minus_baseline']:+.4f} "
        f"± {record['learned_minus_baseline_ci95']:.4f}"
    )

# %% [markdown]
# ## A learned optimizer for any Keras model
#
# `LearnedOptimizer` is a `keras.optimizers.Optimizer`: it keeps each
# coordinate's LSTM state in optimizer variables and applies the frozen
# rule in `update_step`. `from_preset` loads the meta-parameters of a
# trained preset; here the one meta-trained on MNIST MLPs (784-20-10,
# sigmoid), for the paper's horizon of 100 steps of 128 images. Adam and
# NAG train the same network from the same initial weights on the same
# batches, each at the learning rate the preset's evaluation tuned for it.

# %%
images, labels = metazoo.data.load_mnist("train")
x, y = images.reshape(-1, 784)[: 128 * 100], labels[: 128 * 100]
test_images, test_labels = metazoo.data.load_mnist("test")
tuned = metazoo.presets.load_metadata("l2l_mnist_mlp")["evaluation"][0]["baselines"]
optimizers = {
    "LSTM (l2l_mnist_mlp)": LearnedOptimizer.from_preset("l2l_mnist_mlp"),
    f"Adam (lr {tuned['adam']['learning_rate']:g})": keras.optimizers.Adam(
        tuned["adam"]["learning_rate"]
    ),
    f"NAG (lr {tuned['nag']['learning_rate']:g})": keras.optimizers.SGD(
        tuned["nag"]["learning_rate"], momentum=0.9, nesterov=True
    ),
}
keras.utils.set_random_seed(1)
initial = keras.Sequential(
    [keras.Input((784,)), keras.layers.Dense(20, activation="sigmoid"), keras.layers.Dense(10)]
)
models = {}
for name, optimizer in optimizers.items():
    model = keras.models.clone_model(initial)
    model.set_weights(initial.get_weights())
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)
    scores = model.evaluate(test_images.reshape(-1, 784), test_labels, verbose=0, return_dict=True)
    print(f"{name:>22}: test loss {scores['loss']:.3f}, accuracy {scores['accuracy']:.3f}")
    models[name] = model

# %% [markdown]
# One network is one sample. The preset's metadata holds the same comparison
# over 10 held-out networks, with 95% intervals (`metazoo eval l2l_mnist_mlp
# --json` measures it again):

# %%
record = metazoo.presets.load_metadata("l2l_mnist_mlp")["evaluation"][0]
print(f"learned: {record['final_loss']:.3f} ± {record['final_loss_ci95']:.3f}")
for name, baseline in record["baselines"].items():
    print(f"{name:>8}: {baseline['final_loss']:.3f} ± {baseline['final_loss_ci95']:.3f}")

# %% [markdown]
# The optimizer's state is saved with the model and restored on load.

# %%
model = models["LSTM (l2l_mnist_mlp)"]
path = os.path.join(tempfile.mkdtemp(), "l2l_mlp.keras")
model.save(path)
reloaded = keras.saving.load_model(path)
same = all(
    np.array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables, strict=True)
)
print(type(reloaded.optimizer).__name__, "state restored:", same)
