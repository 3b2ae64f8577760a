"""Synthetic Lake runs for the tests of `metazoo.lake` and the Lake protocols."""

import keras
import numpy as np
from PIL import Image

from metazoo.algorithms.protonet import PrototypicalNetwork

PERMUTATION = [(7 * m + 3) % 20 for m in range(20)]  # the class of test item m + 1


def square_png(path, k, test=False, size=105):
    """Black-on-white drawing of class k: a square at its own place on a 4x5 grid."""
    pixels = np.full((size, size), 255, np.uint8)
    row, col = divmod(k, 5)
    pixels[5 + 25 * row : 20 + 25 * row, 5 + 20 * col : 18 + 20 * col] = 0
    Image.fromarray(pixels).convert("1").save(path)


def moved_rectangle_png(path, k, test=False):
    """Class k: a rectangle of its own size; test drawings sit elsewhere on the page."""
    pixels = np.full((105, 105), 255, np.uint8)
    height, width = 8 + 3 * (k // 5), 8 + 4 * (k % 5)
    top, left = (10 + 3 * k, 40 + 2 * k) if test else (30, 30)
    pixels[top : top + height, left : left + width] = 0
    Image.fromarray(pixels).convert("1").save(path)


def write_runs(root, runs=2, draw=square_png):
    """Lake-format runs where each test item is `draw(..., test=True)` of its class.

    With the default drawing, a test item is an exact copy of its class's image.
    """
    for r in range(1, runs + 1):
        run = root / f"run{r:02d}"
        (run / "training").mkdir(parents=True)
        (run / "test").mkdir()
        for k in range(20):
            draw(run / "training" / f"class{k + 1:02d}.png", k)
        lines = []
        for m, k in enumerate(PERMUTATION, 1):
            draw(run / "test" / f"item{m:02d}.png", k, test=True)
            lines.append(
                f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k + 1:02d}.png"
            )
        (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def pixel_nearest_neighbour():
    """A ProtoNet on raw pixels: one-shot nearest neighbour, exact on copied images."""
    backbone = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()])
    return PrototypicalNetwork(backbone)
