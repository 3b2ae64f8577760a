import re

import numpy as np
import pytest

from metazoo.pairs import alphabet_ids, omniglot_pairs, pairs_from_array

# tiny_images has 12 classes; call classes 0-3, 4-7, 8-11 three alphabets.
ALPHABETS = np.repeat([0, 1, 2], 4)


def _owner(tiny_images):
    flat = tiny_images.reshape(12 * 6, -1)

    def owner(image):
        idx = np.flatnonzero((flat == np.round(image.ravel() * 255)).all(axis=1))
        assert idx.size == 1
        return divmod(int(idx[0]), 6)  # (class, drawing)

    return owner


def _batches(ds, n):
    out = []
    for (a, b), same in ds.take(n):
        out.append((a.numpy(), b.numpy(), same.numpy()))
    return out


def test_batch_shapes_range_and_balanced_labels(tiny_images):
    ((a, b, same),) = _batches(pairs_from_array(tiny_images, batch_size=10), 1)
    assert a.shape == b.shape == (10, 28, 28, 1) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(same, [1, 0] * 5)


def test_same_pairs_share_a_class_not_a_drawing_and_different_pairs_do_not(tiny_images):
    owner = _owner(tiny_images)
    for a, b, same in _batches(pairs_from_array(tiny_images, batch_size=32, seed=4), 5):
        for x, y, s in zip(a, b, same, strict=True):
            (ca, da), (cb, db) = owner(x), owner(y)
            if s:
                assert ca == cb and da != db
            else:
                assert ca != cb


def _same_alphabet_share(tiny_images, fraction):
    owner = _owner(tiny_images)
    hits = total = 0
    ds = pairs_from_array(
        tiny_images, 64, seed=1, alphabets=ALPHABETS, same_alphabet_fraction=fraction
    )
    for a, b, same in _batches(ds, 30):
        for x, y in zip(a[same == 0], b[same == 0], strict=True):
            ca, cb = owner(x)[0], owner(y)[0]
            assert ca != cb
            hits += ALPHABETS[ca] == ALPHABETS[cb]
            total += 1
    return hits / total


def test_same_alphabet_fraction_controls_hard_negatives(tiny_images):
    # A uniform other class shares the alphabet with chance 3/11.
    assert _same_alphabet_share(tiny_images, 1.0) == 1.0
    assert abs(_same_alphabet_share(tiny_images, 0.0) - 3 / 11) < 0.05
    assert abs(_same_alphabet_share(tiny_images, 0.5) - (0.5 + 0.5 * 3 / 11)) < 0.05


def test_same_seed_same_pairs_other_seed_differs_and_start_resumes(tiny_images):
    a = _batches(pairs_from_array(tiny_images, 8, seed=3), 3)
    b = _batches(pairs_from_array(tiny_images, 8, seed=3), 3)
    c = _batches(pairs_from_array(tiny_images, 8, seed=4), 1)
    resumed = _batches(pairs_from_array(tiny_images, 8, seed=3, start=2), 1)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[2][1], b[2][1])
    assert not np.array_equal(a[0][0], c[0][0])
    np.testing.assert_array_equal(a[2][0], resumed[0][0])


def test_alphabet_ids_from_class_names():
    names = ["Latin/character01", "Greek/character01/rot090", "Latin/character02"]
    np.testing.assert_array_equal(alphabet_ids(names), [0, 1, 0])
    with pytest.raises(ValueError, match="Received: 'character01'"):
        alphabet_ids(["character01"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 7}, "batch_size must be even"),
        ({"batch_size": 0}, "batch_size must be an integer >= 2"),
        ({"batch_size": 8.0}, "batch_size must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"start": -2}, "start must be an integer >= 0"),
        ({"same_alphabet_fraction": 1.5}, "same_alphabet_fraction must be a number in [0, 1]"),
        ({"same_alphabet_fraction": 0.5}, "needs alphabets"),
        (
            {"same_alphabet_fraction": 0.5, "alphabets": [0, 1]},
            "alphabets must give one integer alphabet id per class (12)",
        ),
        (
            {"same_alphabet_fraction": 0.5, "alphabets": [0] * 11 + [1]},
            "alphabet(s) [1] with 1 class",
        ),
    ],
)
def test_invalid_requests_raise(tiny_images, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pairs_from_array(tiny_images, **{"batch_size": 8, **kwargs})


def test_bad_arrays_raise():
    with pytest.raises(ValueError, match=re.escape("Received: shape=(4, 28, 28)")):
        pairs_from_array(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="at least 2 classes and 2 drawings"):
        pairs_from_array(np.zeros((4, 1, 28, 28, 1), np.uint8))


@pytest.mark.data
def test_omniglot_background_pairs_with_hard_negatives(data_dir):
    ds = omniglot_pairs("background", batch_size=6, same_alphabet_fraction=1.0, data_dir=data_dir)
    (a, b), same = next(iter(ds))
    assert a.shape == (6, 28, 28, 1) and float(a.numpy().max()) <= 1.0
    np.testing.assert_array_equal(same, [1, 0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="split must be one of"):
        omniglot_pairs("test", data_dir=data_dir)


@pytest.mark.data
def test_omniglot_pairs_with_rotations_draw_from_the_rotated_classes(data_dir):
    from metazoo.data.omniglot import load_omniglot

    data = load_omniglot("lake", "background", 28, data_dir, rotations=True)
    assert data.num_classes == 4 * 964
    owners = {}
    for c, drawings in enumerate(data.images):
        for image in drawings:
            owners.setdefault(image.tobytes(), set()).add(data.class_names[c].rsplit("/", 1)[1])
    (a, b), _ = next(iter(omniglot_pairs("background", 32, rotations=True, data_dir=data_dir)))
    found = [
        owners.get(np.round(image * 255).astype(np.uint8).tobytes())
        for image in np.concatenate([a.numpy(), b.numpy()])
    ]
    assert all(found), "every pair image is a drawing of the rotated background set"
    angles = set().union(*found)
    assert angles - {"rot000"}, f"no rotated drawing among 64 images: {angles}"
    with pytest.raises(ValueError, match="rotations must be True, False or None"):
        omniglot_pairs("background", rotations="yes", data_dir=data_dir)
