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
