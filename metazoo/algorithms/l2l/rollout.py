"""Running Keras optimizers on optimizee families: the loss curves L2L is judged by."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from metazoo import backend
from metazoo.algorithms.inner_loop import value_and_grad
from metazoo.algorithms.l2l.trajectories import trajectory_seeds


class Rollout:
    """Runs a Keras optimizer on `seeds` optimizees at once; one trace serves every lr.

    The optimizees' parameters are one variable of `seeds * num_params`
    coordinates and the loss is the sum of theirs, so for the elementwise
    optimizers compared here (Adam, RMSprop, SGD, NAG, the coordinatewise
    LSTM) each run is exactly a separate run, in one graph. The optimizer is
    copied from its config: an optimizer serves one set of variables. On
    TensorFlow the steps run as one graph loop of stateful steps; on JAX and
    PyTorch as a loop of `stateless_apply` steps (compiled whole on JAX).

    Args:
        optimizee: Optimizee. The task family.
        optimizer: keras.optimizers.Optimizer. Copied; its state is reset per call.
        steps: int. Optimizee steps per run.
        split: str. Data split the optimizees train on (`"train"`, `"test"`).
        seeds: int. Optimizees per run: trajectories `0 .. seeds - 1` of a stream.

    Example:
    ```python
    rollout = Rollout(Quadratic(), keras.optimizers.Adam(), steps=100, split="train", seeds=3)
    curve, finals = rollout(stream=0, learning_rate=0.1)  # [100, 3], [3]
    ```
    """

    def __init__(self, optimizee, optimizer, steps: int, split: str, seeds: int):
        self.optimizer = type(optimizer).from_config(optimizer.get_config())
        self.optimizee, self.steps, self.split, self.seeds = optimizee, steps, split, seeds
        zeros = np.zeros((seeds * optimizee.num_params,), "float32")
        self.variable = keras.Variable(zeros, name="params")
        self.optimizer.build([self.variable])
        self._initial = [ops.convert_to_numpy(v) for v in self.optimizer.variables]
        if keras.config.backend() == "tensorflow":
            self._graph = self._graph_run()
        else:
            self._compiled = backend.jit(self._stateless_run)

    def _start(self, seeds) -> tuple:
        """Samples the optimizees `seeds[i, 0]`: `(their parameters, concatenated; tasks)`."""
        samples = [self.optimizee.sample(seeds[i, 0]) for i in range(self.seeds)]
        return ops.concatenate([params for params, _ in samples], axis=0), [t for _, t in samples]

    def _losses_and_grad(self, params, seeds, tasks, t) -> tuple:
        """Every optimizee's minibatch loss at step `t` (`[seeds]`) and the gradient."""
        per_seed = ops.reshape(params, (self.seeds, -1))
        losses, grads = [], []
        for i in range(self.seeds):
            batch = self.optimizee.batch(seeds[i, 1], t, self.split)
            loss, (grad,) = value_and_grad(
                lambda p, i=i, batch=batch: self.optimizee.loss(p[0], tasks[i], batch),
                [per_seed[i]],
                create_graph=False,
            )
            losses.append(loss)
            grads.append(grad)
        return ops.stack(losses), ops.concatenate(grads, axis=0)

    def _final_losses(self, params, tasks):
        per_seed = ops.reshape(params, (self.seeds, -1))
        full = self.optimizee.full_batch(self.split)
        return ops.stack(
            [self.optimizee.loss(per_seed[i], tasks[i], full) for i in range(self.seeds)]
        )

    def _graph_run(self):
        # TensorFlow: one graph, a while loop of stateful optimizer steps.
        import tensorflow as tf

        @tf.function
        def run(seeds):
            params, tasks = self._start(seeds)
            self.variable.assign(params)
            curve = tf.TensorArray(tf.float32, size=self.steps)
            for t in tf.range(self.steps):
                value = ops.convert_to_tensor(self.variable)
                losses, grad = self._losses_and_grad(value, seeds, tasks, t)
                self.optimizer.apply([grad], [self.variable])
                curve = curve.write(t, losses)
            return curve.stack(), self._final_losses(ops.convert_to_tensor(self.variable), tasks)

        return run

    def _stateless_run(self, optimizer_variables, seeds):
        # JAX and PyTorch: a loop of pure steps (`stateless_apply`), compiled whole on JAX.
        params, tasks = self._start(seeds)

        def step(t, carry):
            optimizer_variables, params, curve = carry
            losses, grad = self._losses_and_grad(params, seeds, tasks, t)
            (params,), optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, [grad], [params]
            )
            return optimizer_variables, params, ops.slice_update(curve, (t, 0), losses[None])

        start = (optimizer_variables, params, ops.zeros((self.steps, self.seeds)))
        _, params, curve = ops.fori_loop(0, self.steps, step, start)
        return curve, self._final_losses(params, tasks)

    def _run(self, seeds):
        """`(curve, finals)` of the optimizees `seeds` (int32 `[seeds, 2, 2]`) as tensors."""
        if keras.config.backend() == "tensorflow":
            return self._graph(seeds)
        variables = [v.value for v in self.optimizer.variables]
        return self._compiled(variables, ops.convert_to_tensor(seeds))

    def __call__(self, stream: int, learning_rate: float | None = None):
        """`(minibatch losses [steps, seeds], final full-split losses [seeds])`.

        The optimizees are trajectories `(stream, 0 .. seeds - 1)`.
        """
        for var, value in zip(self.optimizer.variables, self._initial, strict=True):
            var.assign(value)  # A fresh optimizer state for every run.
        if learning_rate is not None:
            self.optimizer.learning_rate = learning_rate
        seeds = ops.stack([ops.stack(trajectory_seeds(stream, i)) for i in range(self.seeds)])
        curve, finals = self._run(seeds)
        return ops.convert_to_numpy(curve), ops.convert_to_numpy(finals)
