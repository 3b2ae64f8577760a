"""Learning to learn by gradient descent by gradient descent (Andrychowicz et al., 2016).

- `update_rule`: the coordinatewise LSTM as pure functions (init, preprocess, step);
- `optimizees`: the task families (quadratics, MNIST MLPs), written functionally;
- `trajectories`: optimizee seeds and `meta_training_data`;
- `meta_trainer`: `L2LMetaTrainer`, meta-training with `fit` (truncated BPTT);
- `optimizer`: `LearnedOptimizer`, the trained rule as a Keras optimizer;
- `rollout`: `Rollout`, any Keras optimizer run on a batch of optimizees.

Model code is `keras.ops`, so all of it runs on TensorFlow, JAX and PyTorch;
random draws go through `metazoo.backend` (TensorFlow's own generators on
TensorFlow, so the committed presets' figures are reproduced bit for bit).
"""

from metazoo.algorithms.l2l.meta_trainer import L2LMetaTrainer
from metazoo.algorithms.l2l.optimizees import MnistMLP, Optimizee, Quadratic
from metazoo.algorithms.l2l.optimizer import LearnedOptimizer
from metazoo.algorithms.l2l.trajectories import meta_training_data
from metazoo.algorithms.l2l.update_rule import (
    UpdateRuleConfig,
    init_meta_params,
    init_state,
    lstm_update,
    preprocess_gradient,
)

__all__ = [
    "L2LMetaTrainer",
    "LearnedOptimizer",
    "MnistMLP",
    "Optimizee",
    "Quadratic",
    "UpdateRuleConfig",
    "init_meta_params",
    "init_state",
    "lstm_update",
    "meta_training_data",
    "preprocess_gradient",
]
