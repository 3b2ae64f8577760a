"""A tiny Omniglot: the official zips' layout with a few synthetic characters."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

# (alphabet, character number) per zip. Vinyals: train = Latin, Gurmukhi 41,
# Angelic; val = Hebrew; test = Gurmukhi 42, Tengwar.
TINY_CHARACTERS = {
    "images_background": [("Latin", 2), ("Latin", 1), ("Hebrew", 1), ("Gurmukhi", 41)],
    "images_evaluation": [("Tengwar", 1), ("Gurmukhi", 42), ("Angelic", 3)],
}


def drawing_png(seed: int) -> bytes:
    """A 105x105 1-bit PNG as in the official zips: white (1) background, black (0) ink."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((105, 105), bool)
    row, col = rng.integers(5, 80, size=2)
    ink[row : row + 20, col : col + 3] = True  # a stroke, and some specks
    ink |= rng.random((105, 105)) < 0.02
    out = io.BytesIO()
    Image.fromarray(~ink).convert("1").save(out, format="PNG")
    return out.getvalue()


def write_tiny_zip(path, stem: str, seed: int = 0) -> None:
    """Writes a zip of `TINY_CHARACTERS[stem]`, 20 drawers each, members in reverse order."""
    members = []
    for index, (alphabet, number) in enumerate(TINY_CHARACTERS[stem]):
        character_id = 1 + index + (100 if stem == "images_evaluation" else 0)
        for drawer in range(1, 21):
            name = f"{stem}/{alphabet}/character{number:02d}/{character_id:04d}_{drawer:02d}.png"
            members.append((name, drawing_png(seed + 1000 * character_id + drawer)))
    with zipfile.ZipFile(path, "w") as archive:
        for name, png in reversed(members):
            archive.writestr(name, png)
