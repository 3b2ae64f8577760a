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
# # MAML: learning where to start
#
# Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, 2017) does not learn
# a classifier: it learns **initial weights** $\theta$ from which a few steps
# of plain gradient descent on an episode's support set give a good
# classifier of its query set. For an episode with support loss
# $\mathcal{L}_S$ and query loss $\mathcal{L}_Q$, the inner loop takes
#
# $$\theta'_{k+1} = \theta'_k - \alpha \nabla_{\theta'_k} \mathcal{L}_S(\theta'_k),
#   \qquad \theta'_0 = \theta,$$
#
# and meta-training moves $\theta$ down the gradient of
# $\mathcal{L}_Q(\theta'_K)$, differentiating *through* the inner steps
# (second derivatives of $\mathcal{L}_S$ included). First-order MAML
# (FOMAML) drops those second derivatives.
#
# This tutorial loads the pretrained `maml_omniglot_5w1s` preset, watches it
# adapt to one new episode step by step, compares the exact meta-gradient
# with the first-order one, and fine-tunes the preset with `fit`. It runs on
# every Keras backend (`KERAS_BACKEND`: TensorFlow, JAX or PyTorch); the
# fine-tuning run is shorter with `METAZOO_FAST=1` (as on the docs build),
# everything else is measured on every build of this page. The
# [MAML page](../../maml/) has the maths, the options (FOMAML, Meta-SGD,
# ANIL, Reptile), the paper-vs-ours table and the costs.
#
# [Download this tutorial](05_maml.py): a jupytext notebook;
# `jupytext --to ipynb 05_maml.py` makes an `.ipynb` of it.

# %%
import metazoo  # first: it quiets TensorFlow's C++ logs

import os
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from metazoo.algorithms import MAML
from metazoo.algorithms.inner_loop import adapt, cross_entropy, value_and_grad

FAST = os.environ.get("METAZOO_FAST") == "1"
EPISODES = 100  # test episodes per measurement (every episode runs its own inner loop)
FINE_TUNE_STEPS = 20 if FAST else 300
keras.utils.set_random_seed(0)
print("Keras backend:", keras.config.backend())

# %% [markdown]
# ## The pretrained preset
#
# `maml_omniglot_5w1s` was meta-trained with Finn et al.'s 5-way 1-shot
# Omniglot settings (`metazoo train maml`: Vinyals trainval split, meta-batches
# of 32 episodes, one inner step in training and three at test, 60,000
# meta-steps with Adam at 1e-3), then 2,500 more at 1e-4 (`--init-preset`).
# Its inner step, 0.4 on the mean support loss, is a fifth of Finn et al.'s
# (their loss sums over the support set); the [MAML page](../../maml/) lists
# every difference from their code. Its metadata records the scores on 1,000
# seeded test episodes, after the preset's own test steps and after the 10
# of Finn et al.'s code; below the first is measured again on the first 100
# of the same episodes.

# %%
PRESET = "maml_omniglot_5w1s"
model = MAML.from_preset(PRESET)
for record in metazoo.presets.load_metadata(PRESET)["evaluation"]:
    print(
        f"recorded, {record['ways']}-way {record['shots']}-shot, {record['inner_steps']} test "
        f"steps, {record['episodes']} episodes: "
        f"{100 * record['accuracy']:.2f} ± {100 * record['ci95']:.2f}%"
        f" (paper {100 * record['paper']:.1f}%)"
    )
test = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15, seed=0)
score = metazoo.evaluate_episodes(model, test, num_episodes=EPISODES, verbose=0)
print(f"measured here, 5-way 1-shot, first {EPISODES} of the same episodes:", score)

# %% [markdown]
# ## One episode, one inner step at a time
#
# `model.initial_params` are the meta-learned weights $\theta$ and
# `model.learner.forward(params, images)` is the learner as a function of
# any weights, so the inner loop can be run by hand: `adapt` takes SGD steps
# on the support set (the same function `MAML.call` uses). Before the first
# step the head has never seen this episode's labels, so the predictions are
# at chance; the model was meta-trained so that *one* step fixes that.

# %%
(support, support_labels, query), query_labels = next(iter(test))
theta = [ops.convert_to_tensor(v) for v in model.initial_params]


def inner_trajectory(support, support_labels, query, steps):
    """Query probabilities and the support loss after 0, 1, ..., `steps` inner steps."""
    params, probabilities, losses = theta, [], []
    for step in range(steps + 1):
        if step:
            params = adapt(model.learner.forward, params, support, support_labels, 1,
                           model.inner_lr, first_order=True)  # fmt: skip
        probabilities.append(ops.softmax(model.learner.forward(params, query)))
        losses.append(cross_entropy(model.learner.forward(params, support), support_labels))
    return np.stack([ops.convert_to_numpy(p) for p in probabilities]), np.array(
        [float(ops.convert_to_numpy(x)) for x in losses]
    )


STEPS = model.eval_inner_steps
probs, _ = inner_trajectory(support, support_labels, query, STEPS)
labels = ops.convert_to_numpy(query_labels)
shown = [int(np.flatnonzero(labels == c)[0]) for c in range(5)] + [
    int(np.flatnonzero(labels == c)[1]) for c in range(3)
]

fig = plt.figure(figsize=(11, 1.5 * len(shown) + 2.4), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[2.4, 1.5 * len(shown)])
for c, ax in enumerate(top.subplots(1, 5)):
    ax.imshow(ops.convert_to_numpy(support)[c, ..., 0], cmap="gray_r")
    ax.set_title(f"class {int(ops.convert_to_numpy(support_labels)[c])}", fontsize=10)
    ax.axis("off")
top.suptitle("The support set: one drawing per class", fontsize=11)
grid = bottom.subplots(len(shown), STEPS + 2, width_ratios=[1] + [2] * (STEPS + 1))
for row, q in zip(grid, shown, strict=True):
    row[0].imshow(ops.convert_to_numpy(query)[q, ..., 0], cmap="gray_r")
    row[0].set_xticks([])
    row[0].set_yticks([])
    row[0].set_ylabel(f"class {labels[q]}", fontsize=9)
    for step, ax in enumerate(row[1:]):
        guess = probs[step, q].argmax()
        colors = ["tab:green" if c == labels[q] else "tab:red" if c == guess else "tab:gray"
                  for c in range(5)]  # fmt: skip
        ax.bar(range(5), probs[step, q], color=colors)
        ax.set(ylim=(0, 1), xticks=range(5), yticks=[])
        ax.tick_params(labelsize=8)
for step, ax in enumerate(grid[0, 1:]):
    ax.set_title("before adapting" if step == 0 else f"after step {step}", fontsize=10)
bottom.suptitle(
    "Query images and the predicted class probabilities "
    "(green: the true class; red: a wrong top guess)",
    fontsize=11,
)
plt.show()
accuracy = (probs.argmax(-1) == labels).mean(axis=1)
print("this episode's query accuracy after 0..3 steps:", np.round(100 * accuracy, 1))

# %% [markdown]
# ### More steps than it was trained for
#
# The preset was meta-trained with one inner step and is scored, as in the
# paper, after three. The curves below run ten, averaged over test
# episodes. One step does almost everything: it fits the one support
# drawing per class (the support loss falls by orders of magnitude) and
# takes the query accuracy from chance to its final level; the further
# steps start from a fitted support set, whose gradient is tiny.

# %%
accuracy_curves, loss_curves = [], []
for i, ((s, s_labels, q), q_labels) in enumerate(test):
    if i == EPISODES // 2:
        break
    p, losses = inner_trajectory(s, s_labels, q, 10)
    accuracy_curves.append((p.argmax(-1) == ops.convert_to_numpy(q_labels)).mean(axis=1))
    loss_curves.append(losses)
accuracy_curve, loss_curve = np.mean(accuracy_curves, 0), np.mean(loss_curves, 0)

fig, (ax_a, ax_l) = plt.subplots(1, 2, figsize=(11, 3.8))
ax_a.plot(range(11), 100 * accuracy_curve, marker="o")
ax_a.axvline(1, color="gray", ls=":", label="meta-trained with 1 step")
ax_a.axvline(STEPS, color="gray", ls="--", label=f"scored after {STEPS}")
ax_a.set(xlabel="inner steps", ylabel="query accuracy (%)", xticks=range(11))
ax_a.legend(frameon=False, fontsize=9)
ax_l.plot(range(11), loss_curve, marker="o", color="tab:orange")
ax_l.set(xlabel="inner steps", ylabel="support loss", xticks=range(11), yscale="log")
fig.suptitle(f"5-way 1-shot, mean of the first {len(loss_curves)} test episodes")
plt.tight_layout()
plt.show()
print("query accuracy after 0..10 steps:", np.round(100 * accuracy_curve, 1))

# %% [markdown]
# ## Second order against first order
#
# The meta-gradient of one inner step is
# $(I - \alpha \nabla^2 \mathcal{L}_S(\theta)) \nabla \mathcal{L}_Q(\theta'_1)$.
# FOMAML (`MAML(first_order=True)`) replaces the Hessian term by zero, so
# its meta-gradient is just the query gradient at the adapted weights. Both
# are computed below for one meta-batch of 8 training episodes, at the
# preset's weights, with the same `value_and_grad` the model uses inside
# `fit` (a nested `GradientTape` on TensorFlow, `jax.grad` on JAX,
# `torch.autograd.grad` on PyTorch).

# %%
meta_batch = metazoo.omniglot_episodes("trainval", ways=5, shots=1, queries=1, batch_size=8, seed=2)
(s, s_labels, q), q_labels = next(iter(meta_batch))


def meta_loss(params, first_order):
    losses = []
    for i in range(s.shape[0]):
        fast = adapt(model.learner.forward, params, s[i], s_labels[i], model.inner_steps,
                     model.inner_lr, first_order=first_order)  # fmt: skip
        losses.append(cross_entropy(model.learner.forward(fast, q[i]), q_labels[i]))
    return ops.mean(ops.stack(losses))


grads, seconds = {}, {}
for name, first_order in [("second order", False), ("first order", True)]:
    value_and_grad(lambda p, f=first_order: meta_loss(p, f), theta, create_graph=False)  # warm-up
    start = time.perf_counter()
    _, grads[name] = value_and_grad(
        lambda p, f=first_order: meta_loss(p, f), theta, create_graph=False
    )
    seconds[name] = time.perf_counter() - start
    grads[name] = [ops.convert_to_numpy(g) for g in grads[name]]

exact, first = grads["second order"], grads["first order"]
# First order, analytically: the mean query gradient at each episode's adapted weights.
analytic = [np.zeros_like(g) for g in grads["first order"]]
for i in range(s.shape[0]):
    fast = adapt(model.learner.forward, theta, s[i], s_labels[i], model.inner_steps,
                 model.inner_lr, first_order=True)  # fmt: skip
    _, g = value_and_grad(
        lambda p, i=i: cross_entropy(model.learner.forward(p, q[i]), q_labels[i]), fast
    )
    analytic = [a + ops.convert_to_numpy(x) / s.shape[0] for a, x in zip(analytic, g, strict=True)]
same = [np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(analytic, first, strict=True)]
print("first order == mean query gradient at the adapted weights:", all(same))
for name, value in seconds.items():
    print(f"{name}: {value:.2f} s for this meta-batch (eager, one run)")

names = [spec.name for spec in model.learner.parameter_specs()]
cosine = [
    float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
    for a, b in zip(exact, first, strict=True)
]
ratio = [
    float(np.linalg.norm(b) / (np.linalg.norm(a) + 1e-30))
    for a, b in zip(exact, first, strict=True)
]
flat_exact = np.concatenate([g.ravel() for g in exact])
flat_first = np.concatenate([g.ravel() for g in first])
overall = flat_exact @ flat_first / (np.linalg.norm(flat_exact) * np.linalg.norm(flat_first))
print(f"cosine of the whole meta-gradients: {overall:.3f}")
fig, ax = plt.subplots(figsize=(11, 3.8))
x = np.arange(len(names))
ax.bar(x - 0.2, cosine, 0.4, label="cosine(first order, exact)")
ax.bar(x + 0.2, ratio, 0.4, label="|first order| / |exact|")
ax.axhline(1, color="gray", lw=0.8)
ax.set_xticks(x, names, rotation=45, ha="right", fontsize=9)
ax.legend(frameon=False, fontsize=9)
ax.set_title("Per weight tensor: how far the first-order meta-gradient is from the exact one")
plt.tight_layout()
plt.show()

# %% [markdown]
# Per tensor the two can differ widely, in size and even in direction: the
# dropped term is the curvature of the support loss where the inner loop
# starts, times the query gradient. What a meta-step needs is that the
# first-order direction still points downhill on the exact meta-loss, i.e.
# a positive cosine of the whole gradients (printed above). Finn et al.
# found first-order MAML close to exact MAML on miniImageNet, and Nichol et
# al. on Omniglot; the [MAML page](../../maml/) has what each costs per
# meta-step (`benchmarks/maml_step_cost.py`; the eager timings above are
# one run each, not a benchmark).
#
# ## Fine-tuning a preset with `fit`
#
# A preset is an ordinary Keras model: compile it and `fit` it on your own
# episodes. Here the 1-shot preset is meta-trained further on 5-way
# **5-shot** episodes (meta-batches of 8, Adam at 1e-4) and scored on
# 5-shot test episodes before and after. The run is short (the
# `maml_omniglot_5w5s` preset was made the same way with 1,500 meta-steps of
# 32 episodes: `metazoo train maml --shots 5 --init-preset ...`);
# whether it changes the score beyond the 95% interval is printed, not
# assumed.

# %%
test_5shot = metazoo.omniglot_episodes("test", ways=5, shots=5, queries=15, seed=0)
tuned = MAML.from_preset(PRESET)
before = metazoo.evaluate_episodes(tuned, test_5shot, num_episodes=EPISODES, verbose=0)
tuned.compile(optimizer=keras.optimizers.Adam(1e-4))
train_5shot = metazoo.omniglot_episodes(
    "trainval", ways=5, shots=5, queries=1, batch_size=8, seed=3
)
start = time.perf_counter()
history = tuned.fit(train_5shot, steps_per_epoch=FINE_TUNE_STEPS // 4, epochs=4, verbose=0)
minutes = (time.perf_counter() - start) / 60
after = metazoo.evaluate_episodes(tuned, test_5shot, num_episodes=EPISODES, verbose=0)
print(f"{FINE_TUNE_STEPS} meta-steps of 8 episodes in {minutes:.1f} min; "
      f"query loss per quarter: {np.round(history.history['loss'], 4)}")  # fmt: skip
print(f"5-way 5-shot, first {EPISODES} test episodes: before {before}, after {after}")
print("difference beyond both intervals:",
      abs(after.accuracy - before.accuracy) > after.ci95 + before.ci95)  # fmt: skip

# %% [markdown]
# The fine-tuned model saves like any Keras model, optimizer state
# included: `tuned.save("maml_5shot.keras")`, then
# `keras.saving.load_model("maml_5shot.keras")` and `fit` again. To train a
# MAML of your own from scratch, `metazoo train maml --help` lists the
# recipe's options (Finn et al.'s settings by default).
