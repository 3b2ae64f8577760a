import re

import numpy as np
import pytest

from metazoo.episodes import episodes_from_array


def _first(ds):
    (support, support_labels, query), query_labels = next(iter(ds))
    return support.numpy(), support_labels.numpy(), query.numpy(), query_labels.numpy()


def test_episode_shapes_labels_and_range(tiny_images):
    support, support_labels, query, query_labels = _first(
        episodes_from_array(tiny_images, ways=5, shots=2, queries=3)
    )
    assert support.shape == (10, 28, 28, 1) and query.shape == (15, 28, 28, 1)
    assert support.dtype == np.float32 and 0.0 <= support.min() and support.max() <= 1.0
    np.testing.assert_array_equal(support_labels, np.repeat(np.arange(5), 2))
    np.testing.assert_array_equal(query_labels, np.repeat(np.arange(5), 3))


def test_episode_images_come_from_one_class_each_and_do_not_overlap(tiny_images):
    flat = tiny_images.reshape(12 * 6, -1)
    ds = episodes_from_array(tiny_images, ways=4, shots=2, queries=4, seed=3)
    support, support_labels, query, query_labels = _first(ds)

    def owner(image):
        idx = np.flatnonzero((flat == np.round(image.ravel() * 255)).all(axis=1))
        assert idx.size == 1
        return divmod(int(idx[0]), 6)

    seen = set()
    for images, labels in ((support, support_labels), (query, query_labels)):
        for image, label in zip(images, labels, strict=True):
            cls, drawing = owner(image)
            seen.add((cls, drawing))
            assert {owner(i)[0] for i in images[labels == label]} == {cls}
    assert len(seen) == 4 * (2 + 4)  # support and query drawings are all distinct


def test_same_seed_same_episodes_other_seed_differs(tiny_images):
    a = _first(episodes_from_array(tiny_images, 5, 1, 2, seed=7))
    b = _first(episodes_from_array(tiny_images, 5, 1, 2, seed=7))
    c = _first(episodes_from_array(tiny_images, 5, 1, 2, seed=8))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_start_resumes_the_same_sequence(tiny_images):
    ds = episodes_from_array(tiny_images, 3, 1, 1, seed=1)
    third = list(ds.take(3))[2][0][0].numpy()
    resumed = _first(episodes_from_array(tiny_images, 3, 1, 1, seed=1, start=2))[0]
    np.testing.assert_array_equal(third, resumed)


def test_batched_episodes(tiny_images):
    (support, labels, query), query_labels = next(
        iter(episodes_from_array(tiny_images, 3, 1, 2, batch_size=4))
    )
    assert support.shape == (4, 3, 28, 28, 1) and query_labels.shape == (4, 6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ways": 13, "shots": 1, "queries": 1}, "ways must be <= the 12 classes"),
        ({"ways": 5, "shots": 4, "queries": 3}, "shots + queries must be <= the 6"),
        ({"ways": 0, "shots": 1, "queries": 1}, "ways must be a positive integer"),
        ({"ways": 5, "shots": -1, "queries": 1}, "shots must be a positive integer"),
        ({"ways": 5, "shots": 1, "queries": 1.5}, "queries must be a positive integer"),
    ],
)
def test_invalid_requests_raise(tiny_images, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        episodes_from_array(tiny_images, **kwargs)


def test_bad_array_shape_raises():
    with pytest.raises(ValueError, match="Received: shape=\\(4, 28, 28\\)"):
        episodes_from_array(np.zeros((4, 28, 28), np.uint8), 2, 1, 1)


def _episode_classes(ds, count, tiny_images):
    """The classes of each of `count` episodes (support images traced back to the data)."""
    flat = tiny_images.reshape(12, 6, -1)
    found = []
    for (support, _, _), _ in ds.take(count):
        classes = set()
        for image in support.numpy():
            match = (flat == np.round(image.ravel() * 255)).all(axis=-1)
            classes.add(int(np.argwhere(match)[0][0]))
        found.append(classes)
    return found


# Alphabets of the 12 tiny classes: 0 has 5 classes, 1 has 4, 2 has 3.
ALPHABETS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])


def test_same_alphabet_episodes_stay_within_one_eligible_alphabet(tiny_images):
    ds = episodes_from_array(
        tiny_images, 4, 1, 1, seed=2, alphabets=ALPHABETS, same_alphabet_fraction=1.0
    )
    episodes = _episode_classes(ds, 20, tiny_images)
    owners = [{int(ALPHABETS[c]) for c in classes} for classes in episodes]
    assert all(len(o) == 1 for o in owners)
    # Alphabet 2 has only 3 classes: never chosen for 4-way episodes; both others are.
    assert {o.pop() for o in owners} == {0, 1}


def test_same_alphabet_fraction_mixes_and_zero_keeps_the_old_episodes(tiny_images):
    plain = episodes_from_array(tiny_images, 3, 1, 1, seed=5)
    zero = episodes_from_array(
        tiny_images, 3, 1, 1, seed=5, alphabets=ALPHABETS, same_alphabet_fraction=0.0
    )
    assert _episode_classes(plain, 10, tiny_images) == _episode_classes(zero, 10, tiny_images)
    half = episodes_from_array(
        tiny_images, 3, 1, 1, seed=5, alphabets=ALPHABETS, same_alphabet_fraction=0.5
    )
    within = [
        len({int(ALPHABETS[c]) for c in classes}) == 1
        for classes in _episode_classes(half, 40, tiny_images)
    ]
    assert 10 < sum(within) < 40


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"same_alphabet_fraction": 1.5, "alphabets": ALPHABETS}, "must be a number in [0, 1]"),
        ({"same_alphabet_fraction": 0.5}, "needs alphabets"),
        ({"same_alphabet_fraction": 0.5, "alphabets": ALPHABETS[:5]}, "one integer alphabet id"),
        (
            {"same_alphabet_fraction": 0.5, "alphabets": np.arange(12)},
            "an alphabet with at least ways=4 classes; the largest in the data has 1",
        ),
    ],
)
def test_invalid_same_alphabet_requests_raise(tiny_images, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        episodes_from_array(tiny_images, 4, 1, 1, **kwargs)


@pytest.mark.data
def test_omniglot_same_alphabet_episodes_use_the_class_names_alphabets(data_dir):
    from metazoo.episodes import omniglot_episodes

    with pytest.raises(ValueError, match="the largest in split 'background' of protocol 'lake'"):
        omniglot_episodes(
            "background", 60, 1, 1, "lake", same_alphabet_fraction=1.0, data_dir=data_dir
        )
    episodes = omniglot_episodes(
        "background", 20, 1, 1, protocol="lake", same_alphabet_fraction=1.0, data_dir=data_dir
    )
    (support, labels, _), _ = next(iter(episodes))
    assert support.shape == (20, 28, 28, 1) and labels.numpy().tolist() == list(range(20))
