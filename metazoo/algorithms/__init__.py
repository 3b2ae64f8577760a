"""The meta-learning algorithms: one module each."""

from metazoo.algorithms.base import FewShotClassifier
from metazoo.algorithms.protonet import PrototypicalNetwork

__all__ = ["FewShotClassifier", "PrototypicalNetwork"]
