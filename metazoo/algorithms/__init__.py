"""The meta-learning algorithms: one module each."""

from metazoo.algorithms.augmentation import CenterInk, RandomAffine
from metazoo.algorithms.base import FewShotClassifier
from metazoo.algorithms.embedding import EmbeddingClassifier
from metazoo.algorithms.l2l import L2LMetaTrainer, LearnedOptimizer
from metazoo.algorithms.maml import MAML
from metazoo.algorithms.meta_lstm import MetaLSTM, MetaLSTMCell
from metazoo.algorithms.protonet import PrototypicalNetwork
from metazoo.algorithms.reptile import Reptile
from metazoo.algorithms.siamese import SiameseNetwork

__all__ = [
    "CenterInk",
    "EmbeddingClassifier",
    "FewShotClassifier",
    "L2LMetaTrainer",
    "LearnedOptimizer",
    "MAML",
    "MetaLSTM",
    "MetaLSTMCell",
    "PrototypicalNetwork",
    "Reptile",
    "RandomAffine",
    "SiameseNetwork",
]
