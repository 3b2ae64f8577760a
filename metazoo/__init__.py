"""metazoo: the meta-learning model zoo for Keras 3 / TensorFlow.

Example:
```python
import metazoo
model = metazoo.load("protonet_omniglot")
episodes = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15)
model.evaluate(episodes.take(100))
```
"""

__version__ = "0.1.0"

from metazoo import algorithms, data, episodes, evaluation, networks, presets, training  # noqa: E402
from metazoo.episodes import omniglot_episodes  # noqa: E402
from metazoo.evaluation import evaluate_episodes, evaluate_pairs  # noqa: E402
from metazoo.presets import list_presets, load  # noqa: E402

__all__ = [
    "algorithms",
    "data",
    "episodes",
    "evaluate_episodes",
    "evaluate_pairs",
    "evaluation",
    "list_presets",
    "load",
    "networks",
    "omniglot_episodes",
    "presets",
    "training",
]
