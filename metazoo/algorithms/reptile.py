"""Reptile (Nichol, Achiam & Schulman, 2018): move the initialization toward adapted weights."""

from __future__ import annotations

import keras
from keras import ops

from metazoo.algorithms.maml import MAML


@keras.saving.register_keras_serializable(package="metazoo")
class Reptile(MAML):
    """Learns initial weights by moving them toward the weights each task adapts to.

    For a meta-batch of episodes, each episode's weights `phi` are
    `inner_steps` SGD steps of size `inner_lr` on its support set, from the
    initialization `theta`; the meta-update is

        theta <- theta + epsilon * mean(phi - theta)

    with `epsilon` the optimizer's learning rate (the default `compile` uses
    `SGD(1.0)`; Nichol et al. anneal it linearly to 0, e.g. with a
    `keras.optimizers.schedules.PolynomialDecay`). Training needs no second
    derivative and no query loss: `fit` minimizes the surrogate
    `mean(||theta - stop_gradient(phi)||^2) / 2`, whose gradient is
    `theta - mean(phi)`, so Keras's own `train_step` applies the Reptile
    update on every backend. The query logits of the adapted weights are
    still returned, for the accuracy metric. At test time (`evaluate`,
    `predict`) a Reptile model adapts exactly like `MAML`, with
    `eval_inner_steps` steps.

    Train on episodes with more support examples than the test task has
    (Nichol et al. train 1-shot Omniglot models on 10 examples per class).

    Args:
        ways: int. Classes per episode (the head's size).
        inner_steps: int. SGD steps on the support set per episode in training.
        eval_inner_steps: int. Steps at test time (default `inner_steps`).
        inner_lr: float. The inner SGD step size.
        filters: int. Filters of every convolution.
        image_shape: tuple. `(height, width, channels)` of the images.
        activation: str. The learner's activation.

    Example:
    ```python
    model = Reptile(ways=5, inner_steps=5, eval_inner_steps=50, inner_lr=0.1)
    model.compile()  # SGD(1.0) meta-steps, the accuracy of the adapted weights
    model.fit(omniglot_episodes("trainval", 5, 10, 1, batch_size=5),
              steps_per_epoch=100, epochs=1)
    ```

    References:
        Nichol, Achiam & Schulman, "On First-Order Meta-Learning
        Algorithms", arXiv:1803.02999, 2018.
    """

    def __init__(
        self,
        ways: int = 5,
        inner_steps: int = 5,
        eval_inner_steps: int | None = None,
        inner_lr: float = 0.1,
        filters: int = 64,
        image_shape: tuple[int, int, int] = (28, 28, 1),
        activation: str = "relu",
        **kwargs,
    ):
        for name in ("first_order", "learn_inner_lr", "adapt"):
            if name in kwargs:
                raise ValueError(
                    f"Reptile is first order, with one fixed step size, adapting every weight: "
                    f"it takes no {name}. Received: {name}={kwargs[name]!r}"
                )
        super().__init__(
            ways=ways,
            inner_steps=inner_steps,
            eval_inner_steps=eval_inner_steps,
            inner_lr=inner_lr,
            first_order=True,
            filters=filters,
            image_shape=image_shape,
            activation=activation,
            **kwargs,
        )

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Configures the model; `"auto"` picks Reptile's defaults.

        Args:
            optimizer: `"auto"` for `SGD(1.0)`: the meta step size `epsilon`.
            loss: `"auto"` for none: the Reptile update comes from the
                surrogate `call` adds in training.
            metrics: `"auto"` for the accuracy of the adapted weights on the queries.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.SGD(1.0)
        super().compile(optimizer=optimizer, loss=None if loss == "auto" else loss,
                        metrics=metrics, **kwargs)  # fmt: skip

    def call(self, inputs, training=False):
        if not training:
            return super().call(inputs, training=False)
        support, support_labels, query = inputs
        support_labels = ops.cast(support_labels, "int32")
        batched = len(support.shape) == 5
        if not batched:
            support, support_labels, query = support[None], support_labels[None], query[None]
        count = support.shape[0]
        if count is None:
            raise ValueError(
                "Reptile trains on a known number of episodes per step (a static meta-batch). "
                f"Received: support of shape {support.shape}"
            )
        theta = [ops.convert_to_tensor(v) for v in self.initial_params]
        surrogate, logits = 0.0, []
        for i in range(count):
            adapted = self.adapt_parameters(support[i], support_labels[i], training=True)
            phi = [ops.stop_gradient(p) for p in adapted]
            surrogate += sum(
                0.5 * ops.sum(ops.square(t - p)) for t, p in zip(theta, phi, strict=True)
            )
            logits.append(self.learner.forward(phi, query[i]))
        self.add_loss(surrogate / count)
        logits = ops.stack(logits)
        return logits if batched else logits[0]

    def get_config(self):
        config = super().get_config()
        for name in ("first_order", "learn_inner_lr", "adapt"):
            config.pop(name)
        return config
