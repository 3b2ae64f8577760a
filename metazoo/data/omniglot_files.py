"""Omniglot's official files: where they come from, how they split, how a drawing is read.

The two zips of brendenlake/omniglot (`images_background.zip`,
`images_evaluation.zip`), the alphabets of the Vinyals split, and the
readers of a zip's drawings that the TFDS builder (`metazoo.data.omniglot`)
and the Lake run writer (`metazoo.lake`) share.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from metazoo.data._files import RemoteFile

_URL = "https://github.com/brendenlake/omniglot/raw/master/python/"
BACKGROUND = RemoteFile(
    "images_background.zip",
    _URL + "images_background.zip",
    "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640",
    "omniglot",
)
EVALUATION = RemoteFile(
    "images_evaluation.zip",
    _URL + "images_evaluation.zip",
    "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee",
    "omniglot",
)
EXPECTED_IMAGES = {BACKGROUND.name: 19_280, EVALUATION.name: 13_180}
DRAWERS = 20

# Vinyals et al. (2016) split as published by Snell et al. (2017).
VINYALS_TEST_ALPHABETS = frozenset(
    {
        "Kannada",
        "Keble",
        "Malayalam",
        "Manipuri",
        "Mongolian",
        "Old_Church_Slavonic_(Cyrillic)",
        "Oriya",
        "Syriac_(Serto)",
        "Sylheti",
        "Tengwar",
        "Tibetan",
        "ULOG",
    }
)
VINYALS_TEST_GURMUKHI = frozenset({42, 43, 44, 45})
VINYALS_VAL_ALPHABETS = frozenset(
    {"Hebrew", "Mkhedruli_(Georgian)", "Armenian", "Early_Aramaic", "Bengali"}
)
ROTATIONS = (0, 90, 180, 270)
LAKE_IMAGE_SIZES = (28, 56, 105)
PROTOCOLS = {
    "vinyals": ("train", "val", "test", "trainval"),
    "lake": ("background", "evaluation"),
}
# Beside a prepared config's records: the sha256 of the zips they were built from.
SOURCES_FILE = "metazoo_sources.json"
# A drawing inside an official zip: alphabet, character number, character id, drawer.
DRAWING_PATH_RE = re.compile(
    r"images_(?:background|evaluation)/([^/]+)/character(\d+)/(\d+)_(\d+)\.png$"
)


def vinyals_split(alphabet: str, character: int) -> str:
    """Returns "train", "val" or "test" for a character under the Vinyals split."""
    if alphabet in VINYALS_TEST_ALPHABETS or (
        alphabet == "Gurmukhi" and character in VINYALS_TEST_GURMUKHI
    ):
        return "test"
    if alphabet in VINYALS_VAL_ALPHABETS:
        return "val"
    return "train"


def open_drawings_zip(path: Path) -> tuple[zipfile.ZipFile, list[str]]:
    """Opens an Omniglot zip and checks that it holds all the drawings."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"{str(path)!r} is not a readable zip file ({err}); it may be corrupt or "
            "incompletely downloaded. Replace it with the official file."
        ) from err
    names = sorted(n for n in archive.namelist() if DRAWING_PATH_RE.search(n))
    expected = EXPECTED_IMAGES.get(path.name)
    if expected is not None and len(names) != expected:
        raise ValueError(
            f"{str(path)!r} holds {len(names)} Omniglot drawings, expected {expected}: "
            "the file is incomplete or not the official archive."
        )
    if not names:
        raise ValueError(f"{str(path)!r} holds no Omniglot drawings.")
    return archive, names


def ink_image(png: bytes, size: int, where: str = "the image") -> np.ndarray:
    """A PNG drawing as uint8 `[size, size, 1]`, ink = 255 (Lanczos-resized if needed)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png)).convert("L")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"{where} is not a readable PNG image ({err}).") from err
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return (255 - np.asarray(image, dtype=np.uint8))[..., None]
