"""Running Keras optimizers on optimizee families: the loss curves L2L is judged by."""

from __future__ import annotations

import keras
import tensorflow as tf

from metazoo.algorithms.l2l.meta_trainer import trajectory_seeds


class Rollout:
    """Runs a Keras optimizer on `seeds` optimizees at once; one trace serves every lr.

    The optimizees' parameters are one variable of `seeds * num_params`
    coordinates and the loss is the sum of theirs, so for the elementwise
    optimizers compared here (Adam, RMSprop, SGD, NAG, the coordinatewise
    LSTM) each run is exactly a separate run, in one graph. The optimizer is
    copied from its config: an optimizer serves one set of variables.

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
        self.variable = keras.Variable(tf.zeros((seeds * optimizee.num_params,)), name="params")
        self.optimizer.build([self.variable])
        self._initial = [v.numpy() for v in self.optimizer.variables]

    def _losses(self, params, tasks, batches):
        per_seed = tf.reshape(params, (self.seeds, -1))
        return tf.stack(
            [self.optimizee.loss(per_seed[i], tasks[i], batches[i]) for i in range(self.seeds)]
        )

    @tf.function
    def _run(self, seeds):
        optimizee = self.optimizee
        samples = [optimizee.sample(seeds[i, 0]) for i in range(self.seeds)]
        tasks = [task for _, task in samples]
        self.variable.assign(tf.concat([params for params, _ in samples], axis=0))
        curve = tf.TensorArray(tf.float32, size=self.steps)
        for t in tf.range(self.steps):
            batches = [optimizee.batch(seeds[i, 1], t, self.split) for i in range(self.seeds)]
            params = tf.convert_to_tensor(self.variable)
            with tf.GradientTape() as tape:
                tape.watch(params)
                losses = self._losses(params, tasks, batches)
                total = tf.reduce_sum(losses)
            grad = tape.gradient(total, params)
            self.optimizer.apply([grad], [self.variable])
            curve = curve.write(t, losses)
        full = [optimizee.full_batch(self.split)] * self.seeds
        return curve.stack(), self._losses(tf.convert_to_tensor(self.variable), tasks, full)

    def __call__(self, stream: int, learning_rate: float | None = None):
        """`(minibatch losses [steps, seeds], final full-split losses [seeds])`.

        The optimizees are trajectories `(stream, 0 .. seeds - 1)`.
        """
        for var, value in zip(self.optimizer.variables, self._initial, strict=True):
            var.assign(value)  # A fresh optimizer state for every run.
        if learning_rate is not None:
            self.optimizer.learning_rate = learning_rate
        seeds = tf.stack([tf.stack(trajectory_seeds(stream, i)) for i in range(self.seeds)])
        curve, finals = self._run(seeds)
        return curve.numpy(), finals.numpy()
