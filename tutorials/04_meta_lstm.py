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
# # The LSTM meta-learner: optimization as a model
#
# Ravi & Larochelle (2017) noticed that one step of gradient descent,
# $\theta_t = \theta_{t-1} - \alpha_t \nabla_{\theta_{t-1}} \mathcal{L}_t$,
# is the cell-state update of an LSTM,
# $c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t$, with the cell state
# $c_t = \theta_t$ (the learner's parameters), the candidate
# $\tilde c_t = -\nabla \mathcal{L}_t$, the forget gate $f_t = 1$ and the input
# gate $i_t = \alpha_t$. So they *learn* the gates: for every coordinate of the
# learner, with weights shared across all coordinates,
#
# $$i_t = \sigma(W_I [x_t, \theta_{t-1}, i_{t-1}] + b_I), \qquad
#   f_t = \sigma(W_F [x_t, \theta_{t-1}, f_{t-1}] + b_F),$$
#
# where $x_t$ is the output of a small ordinary LSTM that reads the
# preprocessed gradient and loss. $i_t$ is a learned, per-coordinate,
# per-step learning rate; $f_t < 1$ shrinks parameters (like weight decay,
# but chosen from the situation). The initial cell state $c_0$, the
# learner's starting point, is meta-learned too.
#
# Meta-training runs $T$ such updates of a conv-4 learner on each episode's
# support set, measures the loss of the final learner on the query set and
# back-propagates it into the gate weights and $c_0$.
#
# This tutorial looks at one cell step, loads the pretrained
# `meta_lstm_omniglot_5w1s` preset and scores it, looks inside its inner
# loop (the learned gates, and the query accuracy step by step against
# plain SGD and Adam started from the same $c_0$), and meta-trains a small
# model of its own with `fit`. Everything is measured on every build of this
# page; only the training run of the last section is shorter with
# `METAZOO_FAST=1` (as on the docs build).
#
# [Download this tutorial](04_meta_lstm.py): a jupytext notebook;
# `jupytext --to ipynb 04_meta_lstm.py` makes an `.ipynb` of it.

# %%
import metazoo  # first: it quiets TensorFlow's C++ logs

import os

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from metazoo.algorithms import MetaLSTM, MetaLSTMCell
from metazoo.algorithms.l2l import preprocess_gradient
from metazoo.networks import Conv4

FAST = os.environ.get("METAZOO_FAST") == "1"
EPISODES = 100  # test episodes per measurement (an inner loop of 12 steps is not cheap)
TRAIN_STEPS = 300 if FAST else 3000
keras.utils.set_random_seed(0)

# %% [markdown]
# ## One cell step
#
# The gradient and the loss enter as $(\log|x| / p, \operatorname{sign} x)$
# (or $(-1, e^p x)$ for $|x| < e^{-p}$, $p = 10$): magnitudes over many orders
# become comparable, and zero is safe. The gate biases start at
# $b_F \sim U(4, 5)$ and $b_I \sim U(-5, -4)$, so an untrained cell is close
# to SGD with a learning rate of about 0.01.

# %%
print(preprocess_gradient(tf.constant([1.0, 1e-3, 1e-8, 0.0, -2.0])).numpy())

cell = MetaLSTMCell(hidden_units=20)
params = tf.random.normal([6], stddev=0.1)
grad = tf.random.normal([6], stddev=0.5)
new_params, state = cell(grad, tf.constant(1.6), params, cell.initial_state(params))
forget, inputs = state["forget"], state["input"]
print("forget gate f_1:", forget.numpy().round(4))
print("input gate  i_1:", inputs.numpy().round(4))
print("c_1 == f_1 * c_0 - i_1 * grad:", np.allclose(new_params, forget * params - inputs * grad))

# %% [markdown]
# ## The pretrained preset
#
# `meta_lstm_omniglot_5w1s` meta-trains a conv-4 learner (32 filters, a
# 5-unit head) for 12 inner steps on 5-way 1-shot episodes of the Vinyals
# trainval split. Its metadata records what it scores on 1,000 seeded test
# episodes; below it is measured again on the first 100 of them.

# %%
PRESET = "meta_lstm_omniglot_5w1s"
model = MetaLSTM.from_preset(PRESET)
for record in metazoo.presets.load_metadata(PRESET)["evaluation"]:
    print(
        f"recorded, {record['ways']}-way {record['shots']}-shot, {record['episodes']} episodes: "
        f"{100 * record['accuracy']:.2f} ± {100 * record['ci95']:.2f}%"
    )
test = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15, seed=0)
score = metazoo.evaluate_episodes(model, test, num_episodes=EPISODES, verbose=0)
print(f"measured here, 5-way 1-shot, first {EPISODES} of the same episodes:", score)

# %% [markdown]
# ## Inside the inner loop
#
# `model.adapt(support, labels, trace=...)` runs the $T$ updates and records
# each step's gates and parameters; `model.learner_logits(params, images)`
# runs the learner with any flat parameter vector. The baselines run $T$
# steps of SGD or Adam from the same $c_0$ on the same support set, with the
# best learning rate of a small grid *chosen on these very episodes*, which
# flatters them.

# %%
T = model.inner_steps


def accuracy(params, images, labels):
    predictions = tf.argmax(model.learner_logits(params, images), -1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(predictions == labels, tf.float32))


@tf.function
def meta_lstm_run(support, labels, query, query_labels):
    trace = []
    model.adapt(support, labels, trace=trace)
    steps = [model.initial_parameters()] + [s["parameters"] for s in trace]
    accuracies = tf.stack([accuracy(p, query, query_labels) for p in steps])
    gates = [tf.stack([s[name] for s in trace]) for name in ("input_gate", "forget_gate")]
    return accuracies, gates[0], gates[1]


@tf.function
def finetune_run(support, labels, query, query_labels, learning_rate, adam):
    params = model.initial_parameters()
    m, v = tf.zeros_like(params), tf.zeros_like(params)
    accuracies = [accuracy(params, query, query_labels)]
    for t in range(1, T + 1):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = keras.losses.sparse_categorical_crossentropy(
                labels, model.learner_logits(params, support), from_logits=True
            )
            loss = tf.reduce_mean(loss)
        g = tape.gradient(loss, params)
        if adam:
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            step = (m / (1 - 0.9**t)) / (tf.sqrt(v / (1 - 0.999**t)) + 1e-7)
        else:
            step = g
        params = params - learning_rate * step
        accuracies.append(accuracy(params, query, query_labels))
    return tf.stack(accuracies)


episodes = list(test.take(EPISODES))
runs = [meta_lstm_run(*x, y) for x, y in episodes]
lstm_accuracy = np.mean([r[0] for r in runs], axis=0)
input_gates = np.mean([r[1] for r in runs], axis=0)  # [T, parameters]
forget_gates = np.mean([r[2] for r in runs], axis=0)

baselines = {}
for name, adam, rates in [
    ("SGD", False, (0.03, 0.1, 0.3, 1.0)),
    ("Adam", True, (1e-3, 3e-3, 1e-2)),
]:
    curves = {
        lr: np.mean([finetune_run(*x, y, tf.constant(lr), adam) for x, y in episodes], axis=0)
        for lr in rates
    }
    best = max(curves, key=lambda lr: curves[lr][-1])
    baselines[f"{name} (lr {best:g})"] = curves[best]

# %% [markdown]
# ### The learned gates over the inner steps
#
# Averaged over episodes and over the coordinates of each learner layer:
# how large a step each layer takes ($i_t$) and how much of its current
# value it keeps ($f_t$).

# %%
names, sizes = [], []
for variable in model.learner_variables:
    names.append(variable.path.split("/")[0] + "/" + variable.path.split("/")[-1])
    sizes.append(int(np.prod(variable.shape)))
bounds = np.cumsum([0] + sizes)

fig, (ax_i, ax_f) = plt.subplots(1, 2, figsize=(12, 4.5))
steps = np.arange(1, T + 1)
for name, start, stop in zip(names, bounds[:-1], bounds[1:], strict=True):
    if name.endswith("kernel") or name.endswith("gamma"):
        ax_i.plot(steps, input_gates[:, start:stop].mean(1), marker="o", label=name)
        ax_f.plot(steps, forget_gates[:, start:stop].mean(1), marker="o", label=name)
ax_i.set(title="input gate $i_t$ (learned step size)", xlabel="inner step t", xticks=steps)
ax_f.set(title="forget gate $f_t$", xlabel="inner step t", xticks=steps)
fig.legend(*ax_i.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5),
           fontsize=10, frameon=False, title="learner layer")  # fmt: skip
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Query accuracy after each inner step
#
# Step 0 is $c_0$ itself: its head has not seen the episode's labels yet,
# so it is at chance (20%). The meta-learner's $T$ steps were trained to end
# in a good learner; SGD and Adam start from the same point.

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(np.arange(T + 1), 100 * lstm_accuracy, marker="o", label="LSTM meta-learner")
for name, curve in baselines.items():
    ax.plot(np.arange(T + 1), 100 * curve, marker=".", label=name)
ax.set(xlabel="inner step", ylabel="query accuracy (%)", xticks=np.arange(T + 1))
ax.set_title(f"5-way 1-shot, mean of {len(episodes)} test episodes")
ax.legend(fontsize=10, frameon=False)
plt.show()
print(
    f"after {T} steps: meta-learner {100 * lstm_accuracy[-1]:.1f}%, "
    + ", ".join(f"{name} {100 * curve[-1]:.1f}%" for name, curve in baselines.items())
)

# %% [markdown]
# ## Meta-training with `fit`
#
# One `fit` step is one 5-way episode: the learner runs its inner steps on
# the support set, and the query loss of the adapted learner trains the gate
# weights and $c_0$ (the authors' meta-optimizer: Adam 1e-3, meta-gradient
# clipped to global norm 0.25, second derivatives of the learner's gradient
# dropped). The preset took 65,000 episodes in three `metazoo train
# meta_lstm` runs (its metadata has the commands); the run below is short,
# with a smaller learner, enough to watch it learn.

# %%
steps = TRAIN_STEPS
small = MetaLSTM(Conv4(filters=16), ways=5, inner_steps=5, hidden_units=8)
small.compile()  # Adam(1e-3, global_clipnorm=0.25)
train = metazoo.omniglot_episodes("trainval", ways=5, shots=1, queries=15, seed=1)
history = small.fit(train, steps_per_epoch=steps // 5, epochs=5, verbose=0)
print(f"{steps} training episodes; query accuracy per fifth of the run:",
      np.round(history.history["accuracy"], 3))  # fmt: skip
score = metazoo.evaluate_episodes(small, test, num_episodes=EPISODES, verbose=0)
print(f"trained here, 5-way 1-shot, {EPISODES} test episodes:", score)
