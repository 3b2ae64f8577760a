"""Seeded Omniglot episodes (`"vinyals"` or `"lake"` records): accuracy with a 95% CI."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable

import keras

from metazoo.checks import check_int
from metazoo.episodes import omniglot_episodes
from metazoo.evaluation import EpisodeScore, evaluate_episodes
from metazoo.protocols.base import Protocol, register

# Snell et al. (2017), Table 1: Omniglot 28x28, Vinyals split.
PAPER_PROTONET_OMNIGLOT = {
    (5, 1): 0.988,
    (5, 5): 0.997,
    (20, 1): 0.960,
    (20, 5): 0.989,
}
STANDARD_SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))
DEFAULT_SPLIT = {"vinyals": "test", "lake": "evaluation"}


@register
@dataclasses.dataclass(frozen=True)
class OmniglotEpisodes(Protocol):
    """Mean accuracy over seeded Omniglot episodes of one protocol and split.

    Args:
        protocol: str. `"vinyals"` or `"lake"` (see `omniglot_episodes`).
        split: str. Default: the protocol's evaluation split
            (`DEFAULT_SPLIT`).
        ways: int. Classes per episode.
        shots: int. Support examples per class.
        queries: int. Query examples per class.
        episodes: int. How many episodes.
        seed: int. Same seed, same episodes.
        image_size: int. The model's input size.
        paper: float. The paper's figure for this setting; the record
            carries it when set.
        inner_steps: int. Test-time inner steps of a model that adapts by
            inner steps (MAML, Reptile: its `eval_inner_steps`; Meta-LSTM
            only its own count) for this measurement; `None` keeps the
            model's own. The record of such a model always states the steps
            it was scored with; the command states them when set.

    Example:
    ```python
    protocol = OmniglotEpisodes("vinyals", ways=5, shots=1, episodes=1000)
    protocol.score(metazoo.load("protonet_omniglot"))  # {"protocol": "vinyals", ...}
    ```
    """

    protocol: str = "vinyals"
    split: str | None = None
    ways: int = 5
    shots: int = 1
    queries: int = 15
    episodes: int = 1000
    seed: int = 0
    image_size: int = 28
    paper: float | None = None
    inner_steps: int | None = None

    names = ("vinyals", "lake")

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> OmniglotEpisodes:
        return cls(
            protocol=record["protocol"],
            split=record["split"],
            ways=record["ways"],
            shots=record["shots"],
            queries=record["queries"],
            episodes=record["episodes"],
            seed=record["seed"],
            image_size=record.get("image_size", 28),
            paper=record.get("paper"),
            inner_steps=record.get("inner_steps"),
        )

    def measure(
        self, model: keras.Model, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> tuple[dict, EpisodeScore]:
        """The JSON record and the `EpisodeScore` it rounds.

        The record holds the whole protocol (protocol, split, image size,
        ways, shots, queries, episodes, seed) beside `accuracy` and `ci95`,
        both as fractions, then `paper` when set.

        Raises:
            ValueError: if the model classifies a fixed number of ways
                (Meta-LSTM's learner head) other than `ways`, or if
                `inner_steps` is set for a model without test-time inner steps.
        """
        split = self.split or DEFAULT_SPLIT.get(self.protocol, "test")
        fixed_ways = getattr(model, "ways", None)  # learners with an N-way head (Meta-LSTM)
        if fixed_ways is not None and fixed_ways != self.ways:
            raise ValueError(
                f"This model classifies exactly {fixed_ways} ways (its learner's head). "
                f"Received: ways={self.ways}"
            )
        with adapting_with(model, self.inner_steps) as steps:
            record, score = self._measure(model, split, data_dir, verbose)
        if steps is not None:  # learners that adapt by inner steps: how many they took
            record["inner_steps"] = steps
        return record, score

    def _measure(self, model, split, data_dir, verbose) -> tuple[dict, EpisodeScore]:
        data = omniglot_episodes(
            split,
            self.ways,
            self.shots,
            self.queries,
            protocol=self.protocol,
            image_size=self.image_size,
            seed=self.seed,
            data_dir=data_dir,
        )
        score = evaluate_episodes(model, data, self.episodes, verbose=verbose)
        record = {
            "protocol": self.protocol,
            "split": split,
            "image_size": self.image_size,
            "ways": self.ways,
            "shots": self.shots,
            "queries": self.queries,
            "episodes": self.episodes,
            "seed": self.seed,
            "accuracy": round(score.accuracy, 5),
            "ci95": round(score.ci95, 5),
        }
        if self.paper is not None:
            record["paper"] = self.paper
        return record, score

    def label(self, record: dict) -> str:
        return f"{self.ways}-way {self.shots}-shot ({record['split']} split)"

    def command(self, preset: str) -> str:
        command = (
            f"metazoo eval {preset} --ways {self.ways} --shots {self.shots} "
            f"--queries {self.queries} --episodes {self.episodes} --seed {self.seed}"
        )
        if self.inner_steps is not None:
            command += f" --inner-steps {self.inner_steps}"
        return command


@contextlib.contextmanager
def adapting_with(model, steps: int | None):
    """Lets a learner that adapts by inner steps take `steps` of them at test, in the block.

    Yields the steps the model adapts with at test time: `steps`, or by
    default the model's own; `None` for a model without inner steps
    (ProtoNet, Siamese). MAML and Reptile take any count (their
    `eval_inner_steps`, set back after the block); Meta-LSTM only the count
    its LSTM was meta-trained for.

    Raises:
        ValueError: if `steps` is not a positive integer, differs from a
            Meta-LSTM's count, or is set for a model without inner steps.
    """
    steps = check_int("inner_steps", steps, allow_none=True)
    if hasattr(model, "eval_inner_steps"):
        own = model.eval_inner_steps
        if steps is None:
            yield own or model.inner_steps
            return
        model.eval_inner_steps = steps
        try:
            yield steps
        finally:
            model.eval_inner_steps = own
        return
    fixed = getattr(model, "inner_steps", None)
    if steps is not None and steps != fixed:
        what = (
            f"takes the {fixed} inner steps it was meta-trained for"
            if fixed is not None
            else "has no inner steps"
        )
        raise ValueError(
            f"A {type(model).__name__} {what}; --inner-steps (inner_steps) sets the test-time "
            f"steps of MAML and Reptile. Received: inner_steps={steps}"
        )
    yield fixed


def score_settings(
    model: keras.Model,
    preset_name: str,
    settings: Iterable[tuple[int, int]],
    protocol: str,
    episodes: int,
    image_size: int = 28,
    data_dir: str | os.PathLike | None = None,
    paper: dict | None = None,
    extra: dict | None = None,
    inner_steps: int | None = None,
) -> list[dict]:
    """Scores a freshly trained model for its metadata: one record per (ways, shots).

    15 queries per class, seed 0, the protocol's evaluation split; each
    record carries the paper's figure where `paper` has one, the items of
    `extra`, and the `metazoo eval` command that measures it again. Prints
    one line per setting. `inner_steps`: test-time steps of a MAML-family
    model (default: its own `eval_inner_steps`).
    """
    return [
        OmniglotEpisodes(
            protocol,
            ways=ways,
            shots=shots,
            queries=15,
            episodes=episodes,
            seed=0,
            image_size=image_size,
            paper=(paper or {}).get((ways, shots)),
            inner_steps=inner_steps,
        ).preset_record(model, preset_name, data_dir, verbose=1, extra=extra)
        for ways, shots in settings
    ]


def evaluate_episodes_preset(model: keras.Model, metadata: dict, args) -> dict:
    """`metazoo eval` of a few-shot classifier: seeded episodes of its training protocol.

    ProtoNet presets of the Vinyals protocol also state Snell et al.'s figure.
    """
    training = metadata.get("training", {})
    protocol = training.get("protocol", "vinyals")
    paper = None
    if protocol == "vinyals" and training.get("algorithm") == "protonet":
        paper = PAPER_PROTONET_OMNIGLOT.get((args.ways, args.shots))
    scored = OmniglotEpisodes(
        protocol,
        split=args.split,
        ways=args.ways,
        shots=args.shots,
        queries=args.queries,
        episodes=args.episodes,
        seed=args.seed,
        image_size=training.get("image_size", 28),
        paper=paper,
        inner_steps=getattr(args, "inner_steps", None),
    )
    return scored.score(model, args.data_dir, verbose=0 if args.json else 1)
