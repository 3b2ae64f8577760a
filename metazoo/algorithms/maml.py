"""Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, 2017), with FOMAML, Meta-SGD and ANIL."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from metazoo.algorithms.base import FewShotClassifier, check_labels_fit_head
from metazoo.algorithms.inner_loop import ACTIVATIONS, ConvLearner, adapt, map_episodes
from metazoo.checks import check_int

ADAPT_CHOICES = ("all", "head")


@keras.saving.register_keras_serializable(package="metazoo")
class MAML(FewShotClassifier):
    """Learns initial weights from which a few SGD steps on a support set classify well.

    `call((support_images, support_labels, query_images))` adapts the
    learner (`ConvLearner`: Finn et al.'s 4 strided conv blocks and a
    `ways`-way head) to each episode's support set with `inner_steps` SGD
    steps of size `inner_lr` and returns the adapted learner's query logits
    `[episodes, queries, ways]`. The inner gradients are computed inside
    `call`, differentiably, so the ordinary Keras `fit` (the default
    `train_step`) gets the exact MAML meta-gradient of the query loss, with
    its second-order terms, on TensorFlow and JAX alike.

    Batch norm uses the statistics of the batch at hand in training and at
    test time, as in the paper (there are no moving averages): the support
    set and the query set of an episode are normalized separately, each by
    its own statistics, so predictions depend on the query batch.

    Args:
        ways: int. Classes per episode (the head's size); support labels are
            `0..ways-1`.
        inner_steps: int. SGD steps on the support set in training (1 in
            the paper for 5-way Omniglot).
        eval_inner_steps: int. Steps at test time (`evaluate`, `predict`,
            `training=False`); default `inner_steps` (the paper: 3 for
            5-way Omniglot).
        inner_lr: float. Inner step size (0.4 in the paper for 5-way
            Omniglot); the initial value of the learned ones with
            `learn_inner_lr`.
        first_order: bool. First-order MAML (FOMAML): the inner gradients
            are constants to the meta-gradient.
        learn_inner_lr: bool. One learnable step size per adapted weight
            tensor, meta-learned with the initial weights (Meta-SGD with a
            step size per tensor rather than per coordinate).
        adapt: str. `"all"` adapts every weight; `"head"` only the linear
            head (ANIL), the body is meta-learned but fixed per episode.
        filters: int. Filters of every convolution (64 in the paper).
        image_shape: tuple. `(height, width, channels)` of the images.
        activation: str. The learner's activation (`"relu"` in the paper;
            a smooth one such as `"softplus"` for gradient checks).

    Example:
    ```python
    model = MAML(ways=5, inner_steps=1, eval_inner_steps=3, inner_lr=0.4)
    model.compile()  # Adam(1e-3), cross-entropy on the query logits
    model.fit(omniglot_episodes("trainval", 5, 1, 1, batch_size=32),
              steps_per_epoch=500, epochs=1)
    ```

    References:
        Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
        Adaptation of Deep Networks", ICML 2017.
        Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for
        Few-Shot Learning", arXiv:1707.09835, 2017.
        Raghu, Raghu, Bengio & Vinyals, "Rapid Learning or Feature Reuse?
        Towards Understanding the Effectiveness of MAML" (ANIL), ICLR 2020.
    """

    def __init__(
        self,
        ways: int = 5,
        inner_steps: int = 1,
        eval_inner_steps: int | None = None,
        inner_lr: float = 0.4,
        first_order: bool = False,
        learn_inner_lr: bool = False,
        adapt: str = "all",
        filters: int = 64,
        image_shape: tuple[int, int, int] = (28, 28, 1),
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("ways", ways)
        check_int("inner_steps", inner_steps)
        if eval_inner_steps is not None:
            check_int("eval_inner_steps", eval_inner_steps)
        check_int("filters", filters)
        if isinstance(inner_lr, bool) or not isinstance(inner_lr, (int, float)):
            raise ValueError(f"inner_lr must be a positive number. Received: inner_lr={inner_lr!r}")
        if not (math.isfinite(inner_lr) and inner_lr > 0):
            raise ValueError(f"inner_lr must be a positive number. Received: inner_lr={inner_lr!r}")
        for name, value in (("first_order", first_order), ("learn_inner_lr", learn_inner_lr)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False. Received: {name}={value!r}")
        if adapt not in ADAPT_CHOICES:
            raise ValueError(f"adapt must be one of {ADAPT_CHOICES}. Received: adapt={adapt!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}. Received: activation={activation!r}"
            )
        self.ways = int(ways)
        self.inner_steps = int(inner_steps)
        self.eval_inner_steps = None if eval_inner_steps is None else int(eval_inner_steps)
        self.inner_lr = float(inner_lr)
        self.first_order = bool(first_order)
        self.learn_inner_lr = bool(learn_inner_lr)
        self.adapt_mode = adapt
        self.filters = int(filters)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.activation = activation
        self.learner = ConvLearner(self.ways, self.image_shape, self.filters, activation=activation)
        self.build()

    def build(self, input_shape=None):
        specs = self.learner.parameter_specs()
        self.adapted = [self.adapt_mode == "all" or spec.head for spec in specs]
        self.initial_params = [
            self.add_weight(spec.shape, spec.initializer, name=spec.name) for spec in specs
        ]
        self.inner_lrs = [
            self.add_weight((), keras.initializers.Constant(self.inner_lr), name=f"{spec.name}_lr")
            if self.learn_inner_lr and flag
            else self.inner_lr
            for spec, flag in zip(specs, self.adapted, strict=True)
        ]
        self.built = True

    def check_inputs(self, inputs) -> None:
        super().check_inputs(inputs)
        check_labels_fit_head(inputs, self.ways)

    def adapt_parameters(self, support, support_labels, training: bool = False) -> list:
        """One episode's adapted weights: the inner loop from the learned initialization.

        Args:
            support: `[n, H, W, C]` support images.
            support_labels: int `[n]` in `0..ways-1`.
            training: bool. `inner_steps` steps if true, else `eval_inner_steps`.
        """
        steps = self.inner_steps if training else (self.eval_inner_steps or self.inner_steps)
        params = [ops.convert_to_tensor(v) for v in self.initial_params]
        return adapt(
            self.learner.forward,
            params,
            support,
            support_labels,
            steps,
            self.inner_lrs,
            first_order=self.first_order,
            adapted=self.adapted,
        )

    def episode_logits(self, support, support_labels, query, training=False):
        def one(episode):
            images, labels, queries = episode
            fast = self.adapt_parameters(images, labels, training)
            return self.learner.forward(fast, queries, training)

        return map_episodes(one, (support, support_labels, query))

    def call(self, inputs, training=False):
        support, support_labels, query = inputs
        support_labels = ops.cast(support_labels, "int32")
        batched = len(support.shape) == 5
        if not batched:
            support, support_labels, query = support[None], support_labels[None], query[None]
        logits = self.episode_logits(support, support_labels, query, training=training)
        return logits if batched else logits[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            ways=self.ways,
            inner_steps=self.inner_steps,
            eval_inner_steps=self.eval_inner_steps,
            inner_lr=self.inner_lr,
            first_order=self.first_order,
            learn_inner_lr=self.learn_inner_lr,
            adapt=self.adapt_mode,
            filters=self.filters,
            image_shape=self.image_shape,
            activation=self.activation,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["image_shape"] = tuple(config["image_shape"])
        return cls(**config)
