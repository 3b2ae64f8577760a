"""Omniglot's official files: where they come from, how they split, how a drawing is read.

The two zips of brendenlake/omniglot (`images_background.zip`,
`images_evaluation.zip`), the alphabets of the Vinyals split, and the
readers of a zip's drawings that the numpy loader (`metazoo.data.omniglot`),
the TFDS builder (`metazoo.data.omniglot_tfds`) and the Lake run writer
(`metazoo.lake`) share.
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


def read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """The bytes of `name` in `archive` (opened from `path`); a damaged member is a ValueError."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"Could not read {name} from {str(path)!r} ({err}): the archive is corrupt."
        ) from err


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


def read_characters(path: Path, size: int) -> tuple[np.ndarray, list[str]]:
    """Every drawing of an Omniglot zip at one size, grouped by character.

    Args:
        path: Path. `images_background.zip` or `images_evaluation.zip`.
        size: int. The side of the images (Lanczos-resized from 105 if not 105).

    Returns:
        `(images, names)`: uint8 `[characters, 20, size, size, 1]` (ink =
        255), the characters sorted by name (`"Alphabet/characterNN"`) and
        each one's drawings by drawer; and the names.

    Example:
    ```python
    images, names = read_characters(Path("data/images_evaluation.zip"), 28)
    images.shape, names[0]  # (659, 20, 28, 28, 1), 'Angelic/character01'
    ```
    """
    drawings: dict[str, dict[int, np.ndarray]] = {}
    archive, members = open_drawings_zip(path)
    with archive:
        for member in members:
            alphabet, character, _, drawer = DRAWING_PATH_RE.search(member).groups()
            png = read_member(archive, member, path)
            image = ink_image(png, size, f"{member} in {str(path)!r}")
            drawings.setdefault(f"{alphabet}/character{character}", {})[int(drawer)] = image
    names = sorted(drawings)
    for name in names:
        if len(drawings[name]) != DRAWERS:
            raise ValueError(
                f"{str(path)!r} holds {len(drawings[name])} drawings of {name}, expected "
                f"{DRAWERS}: the file is not the official archive."
            )
    images = np.stack([np.stack([d[k] for k in sorted(d)]) for d in map(drawings.get, names)])
    return images, names
