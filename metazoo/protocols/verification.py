"""Verification of seeded balanced pairs (`"verification"` records): accuracy, CI and ROC AUC."""

from __future__ import annotations

import dataclasses
import os

import keras

from metazoo.algorithms.siamese import SiameseNetwork
from metazoo.evaluation import PairScore, evaluate_pairs
from metazoo.pairs import omniglot_pairs
from metazoo.protocols.base import Protocol, register
from metazoo.protocols.episodes import DEFAULT_SPLIT

VERIFICATION = "verification"
# Pairs per forward pass: fixed, so that a seed names the same pairs in every run.
VERIFICATION_BATCH = 500
# A trained pair model's verification records: plain different pairs, and
# different pairs always from one alphabet (the harder, Lake-like case).
VERIFICATION_FRACTIONS = (0.0, 1.0)


@register
@dataclasses.dataclass(frozen=True)
class VerificationPairs(Protocol):
    """Same or different? P(same) of seeded balanced pairs of unseen characters.

    The pairs come from the protocol's evaluation split, half of them two
    drawings of one character; `same_alphabet_fraction` of the different
    pairs are two characters of one alphabet.

    Args:
        omniglot_protocol: str. `"lake"` or `"vinyals"`: whose split.
        split: str. Default: that protocol's evaluation split.
        pairs: int. How many pairs.
        same_alphabet_fraction: float. Share of different pairs within one alphabet.
        seed: int. Same seed, same pairs.
        image_size: int. The model's input size.

    Example:
    ```python
    VerificationPairs(pairs=10_000).score(metazoo.load("siamese_omniglot"))
    ```
    """

    omniglot_protocol: str = "lake"
    split: str | None = None
    pairs: int = 10_000
    same_alphabet_fraction: float = 0.0
    seed: int = 0
    image_size: int = 28

    names = (VERIFICATION,)

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> VerificationPairs:
        return cls(
            omniglot_protocol=record["omniglot_protocol"],
            split=record["split"],
            pairs=record["pairs"],
            same_alphabet_fraction=record["same_alphabet_fraction"],
            seed=record["seed"],
            image_size=record["image_size"],
        )

    def measure(
        self, model: keras.Model, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> tuple[dict, PairScore]:
        """The JSON record (these settings, `accuracy`, `ci95`, `auc`) and its `PairScore`.

        Raises:
            ValueError: if `model` gives no P(same) of a pair (not a `SiameseNetwork`).
        """
        if not isinstance(model, SiameseNetwork):
            raise ValueError(
                "Verification needs a model that gives P(same) of a pair (a SiameseNetwork). "
                f"Received: a {type(model).__name__}"
            )
        split = self.split or DEFAULT_SPLIT.get(self.omniglot_protocol, "test")
        data = omniglot_pairs(
            split,
            VERIFICATION_BATCH,
            protocol=self.omniglot_protocol,
            image_size=self.image_size,
            seed=self.seed,
            same_alphabet_fraction=self.same_alphabet_fraction,
            data_dir=data_dir,
        )
        score = evaluate_pairs(model, data, self.pairs, verbose=verbose)
        record = {
            "protocol": VERIFICATION,
            "omniglot_protocol": self.omniglot_protocol,
            "split": split,
            "image_size": self.image_size,
            "pairs": self.pairs,
            "same_alphabet_fraction": self.same_alphabet_fraction,
            "seed": self.seed,
            "accuracy": round(score.accuracy, 5),
            "ci95": round(score.ci95, 5),
            "auc": round(score.auc, 5),
        }
        return record, score

    def label(self, record: dict) -> str:
        return f"Verification, same-alphabet fraction {self.same_alphabet_fraction}"

    def command(self, preset: str) -> str:
        return (
            f"metazoo eval {preset} --verification-pairs {self.pairs} "
            f"--same-alphabet-fraction {self.same_alphabet_fraction} --seed {self.seed}"
        )


def score_verification_records(
    model: keras.Model,
    preset: str,
    pairs: int,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
) -> list[dict]:
    """A new pair preset's verification records (`VERIFICATION_FRACTIONS`, seed 0), printed."""
    return [
        VerificationPairs(
            pairs=pairs, same_alphabet_fraction=fraction, image_size=image_size
        ).preset_record(model, preset, data_dir, verbose=0)
        for fraction in VERIFICATION_FRACTIONS
    ]


def evaluate_verification_preset(model: keras.Model, metadata: dict, args) -> dict:
    """`metazoo eval --verification-pairs`: a pair preset on pairs of its protocol."""
    training = metadata.get("training", {})
    scored = VerificationPairs(
        omniglot_protocol=training.get("protocol", "vinyals"),
        split=args.split,
        pairs=args.verification_pairs,
        same_alphabet_fraction=args.same_alphabet_fraction or 0.0,
        seed=args.seed,
        image_size=training.get("image_size", 28),
    )
    return scored.score(model, args.data_dir, verbose=0 if args.json else 1)
