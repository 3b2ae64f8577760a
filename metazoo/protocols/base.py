"""What every evaluation protocol is, and the registry that finds one from a record.

A protocol is a frozen dataclass of its settings. It scores a model into
the JSON record presets carry in `metadata["evaluation"]`
(`score`), states the command that measures that record again
(`command`), and is rebuilt from such a record (`from_record`), so a
preset's records can be measured again without the caller knowing
which protocol each one states (`protocol_from_record`).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

_REGISTRY: list[type[Protocol]] = []


class Protocol:
    """Base class of the protocol types; subclasses are frozen dataclasses.

    Subclasses set `names` (the values of a record's `"protocol"` it
    claims) or override `matches`, and implement `score`, `command` and
    `from_record`. Exactly one registered type claims any record.
    """

    names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def matches(cls, record: dict) -> bool:
        """Whether `record` was measured under this protocol."""
        return record.get("protocol") in cls.names

    @classmethod
    def from_record(cls, record: dict, metadata: dict | None = None) -> Protocol:
        """The protocol a record states (`metadata`: the preset's, for settings kept there)."""
        raise NotImplementedError

    def measure(
        self, model: Any, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> tuple[dict, Any]:
        """Measures `model`; returns the JSON record (without its `command`) and the score."""
        raise NotImplementedError

    def score(
        self, model: Any, data_dir: str | os.PathLike | None = None, verbose: int = 0
    ) -> dict:
        """Measures `model`; returns the JSON record (without its `command`)."""
        return self.measure(model, data_dir, verbose)[0]

    def label(self, record: dict) -> str:
        """What a printed line of a new record starts with (e.g. `5-way 1-shot (test split)`)."""
        return type(self).__name__

    def preset_record(
        self,
        model: Any,
        preset: str,
        data_dir: str | os.PathLike | None = None,
        verbose: int = 1,
        extra: dict | None = None,
    ) -> dict:
        """A new preset's record: measured, the items of `extra`, its command; printed.

        Args:
            model: the model the preset `preset` will hold.
            preset: str. The preset's name (the command names it).
            data_dir: folder with the official data files.
            verbose: int. 1 shows a progress bar while measuring.
            extra: dict. More items for the record (before its `command`).
        """
        record, score = self.measure(model, data_dir, verbose)
        record.update(extra or {})
        record["command"] = self.command(preset)
        print(f"{self.label(record)}: {score}")
        return record

    def command(self, preset: str) -> str:
        """The command line that measures this record of preset `preset` again."""
        raise NotImplementedError

    def remeasure(
        self, model: Any, record: dict, preset: str, data_dir: str | os.PathLike | None = None
    ) -> dict:
        """`record` measured again: fresh values, the record's own keys and key order kept."""
        return {**record, **self.score(model, data_dir, verbose=1)}


def register(cls: type[Protocol]) -> type[Protocol]:
    """Class decorator: makes `protocol_from_record` consider `cls`."""
    _REGISTRY.append(cls)
    return cls


def protocol_from_record(record: dict, metadata: dict | None = None) -> Protocol:
    """The protocol that an evaluation record of a preset states.

    Args:
        record: dict. One item of a preset's `metadata["evaluation"]`.
        metadata: dict. The preset's metadata, for settings a record does
            not repeat (the L2L protocol's learning-rate grid, ...).

    Raises:
        ValueError: if no registered protocol (or more than one) claims the record.
    """
    claims = [cls for cls in _REGISTRY if cls.matches(record)]
    if len(claims) != 1:
        known = sorted({name for cls in _REGISTRY for name in cls.names})
        raise ValueError(
            f"An evaluation record must state one known protocol ({known}, or an L2L variant). "
            f"Received: protocol={record.get('protocol')!r}, claimed by "
            f"{[cls.__name__ for cls in claims]}"
        )
    return claims[0].from_record(record, metadata)
