"""metazoo: the meta-learning model zoo for Keras 3 (TensorFlow, JAX, PyTorch).

Example:
```python
import metazoo
model = metazoo.load("protonet_omniglot")
episodes = metazoo.omniglot_episodes("test", ways=5, shots=1, queries=15)
model.evaluate(episodes, steps=100)
```

Submodules and the names below are imported on first use, so `import
metazoo` (and `metazoo list`) starts no backend.
"""

import importlib

from metazoo import _tf_logs

__version__ = "0.1.0"

_tf_logs.install()

_SUBMODULES = ("algorithms", "data", "episodes", "evaluation", "networks", "presets", "training")
_NAMES = {
    "omniglot_episodes": "metazoo.episodes",
    "evaluate_episodes": "metazoo.evaluation",
    "evaluate_pairs": "metazoo.evaluation",
    "list_presets": "metazoo.presets",
    "load": "metazoo.presets",
}

__all__ = sorted((*_SUBMODULES, *_NAMES))


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"metazoo.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'metazoo' has no attribute {name!r}")


def __dir__():
    return sorted((*globals(), *__all__))
