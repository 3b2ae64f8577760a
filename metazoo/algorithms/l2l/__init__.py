"""Learning to learn by gradient descent by gradient descent (Andrychowicz et al., 2016).

- `update_rule`: the coordinatewise LSTM as pure functions (init, preprocess, step);
- `optimizees`: the task families (quadratics, MNIST MLPs), written functionally;
- `meta_trainer`: `L2LMetaTrainer`, meta-training with `fit` (truncated BPTT);
- `optimizer`: `LearnedOptimizer`, the trained rule as a Keras optimizer.
"""

from metazoo.algorithms.l2l.meta_trainer import L2LMetaTrainer, meta_training_data
from metazoo.algorithms.l2l.optimizees import MnistMLP, Optimizee, Quadratic
from metazoo.algorithms.l2l.optimizer import LearnedOptimizer
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
