"""metazoo.stateless_random against TensorFlow's own stateless random ops (on the CPU)."""

import numpy as np
import pytest
import tensorflow as tf

from metazoo import stateless_random

# Small, negative, int32-edge and large int64 seeds.
SEEDS = [
    [0, 0],
    [1, 2],
    [-1, -1],
    [2**31 - 1, -(2**31)],
    [2**62 + 12345, -(2**63)],
    [-987654321012, 2**40 + 7],
    *np.random.default_rng(0).integers(-(2**63), 2**63 - 1, (6, 2)).tolist(),
]
# Scalar, sizes not divisible by 4 (a block of Philox gives 4 words), 2-D and 3-D.
SHAPES = [[], [1], [3], [4], [6], [5, 7], [2, 3, 5]]


def _seeds():
    for seed in SEEDS:
        yield np.array(seed, np.int64)
        if all(-(2**31) <= s < 2**31 for s in seed):
            yield np.array(seed, np.int32)


def _assert_same(ours, theirs):
    theirs = theirs.numpy()
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_floats_are_tensorflows(shape):
    for seed in _seeds():
        _assert_same(
            stateless_random.uniform(shape, seed), tf.random.stateless_uniform(shape, seed)
        )
        _assert_same(
            stateless_random.uniform(shape, seed, -3.5, 2.25),
            tf.random.stateless_uniform(shape, seed, -3.5, 2.25),
        )
        _assert_same(
            stateless_random.uniform(shape, seed, dtype="float64"),
            tf.random.stateless_uniform(shape, seed, dtype=tf.float64),
        )


@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_integers_are_tensorflows(shape):
    ranges = [(0, 1), (0, 5), (-7, 1000), (1, 1692), (-(2**31), 2**31 - 1)]
    for seed in _seeds():
        for low, high in ranges:
            _assert_same(
                stateless_random.uniform(shape, seed, low, high, "int32"),
                tf.random.stateless_uniform(shape, seed, low, high, tf.int32),
            )
        _assert_same(
            stateless_random.uniform(shape, seed, -(2**40), 3**30, "int64"),
            tf.random.stateless_uniform(shape, seed, -(2**40), 3**30, tf.int64),
        )
        for dtype in (tf.int32, tf.int64, tf.uint32, tf.uint64):
            _assert_same(
                stateless_random.uniform(shape, seed, None, None, dtype.as_numpy_dtype),
                tf.random.stateless_uniform(shape, seed, None, None, dtype),
            )


def test_split_and_fold_in_are_tensorflows():
    for seed in [*_seeds(), [1, 2], [3, 2**40]]:  # lists: int32 if they fit, as in TF
        for num in (1, 2, 3, 8):
            _assert_same(stateless_random.split(seed, num), tf.random.split(seed, num))
        for data in (0, 1, -5, 2**40, np.int64(3), np.int32(-7)):
            _assert_same(stateless_random.fold_in(seed, data), tf.random.fold_in(seed, data))


def test_derived_seeds_draw_tensorflows_numbers():
    # As the episode sampler chains them: split, then fold_in, then draws.
    seed = np.array([7, 123], np.int64)
    ours = stateless_random.fold_in(stateless_random.split(seed, 2)[0], 1)
    theirs = tf.random.fold_in(tf.random.split(seed, 2)[0], 1)
    _assert_same(stateless_random.uniform([9], ours, 0, 13, "int32"),
                 tf.random.stateless_uniform([9], theirs, 0, 13, tf.int32))  # fmt: skip


def test_normal_is_tensorflows_within_one_float32_step():
    seed = np.array([3, 4], np.int64)
    theirs = tf.random.stateless_normal([200_001], seed).numpy()
    ours = stateless_random.normal([200_001], seed)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    # TF's values come from the C library's float sincosf/logf, which round
    # otherwise than float64 maths in about 1.5% of values (glibc 2.36).
    steps = np.abs(ours.view(np.int32).astype(np.int64) - theirs.view(np.int32))
    assert steps.max() <= 3 and np.mean(steps == 0) > 0.97
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    for shape in SHAPES:
        scaled = stateless_random.normal(shape, [-1, 2**40], 0.5, 2.0)
        expected = tf.random.stateless_normal(shape, [-1, 2**40], 0.5, 2.0).numpy()
        assert scaled.shape == expected.shape
        np.testing.assert_allclose(scaled, expected, rtol=1e-6, atol=1e-5)


def test_same_seed_same_numbers_and_other_seeds_differ():
    a = stateless_random.uniform([50], [5, 6])
    np.testing.assert_array_equal(a, stateless_random.uniform([50], [5, 6]))
    assert not np.array_equal(a, stateless_random.uniform([50], [6, 5]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stateless_random.uniform([2], [1, 2, 3]), "seed must be 2 integers"),
        (lambda: stateless_random.uniform([2], np.array([1.0, 2.0])), "seed must be 2 integers"),
        (lambda: stateless_random.uniform([2], [1, 2], 5, 5, "int32"), "minval must be < maxval"),
        (lambda: stateless_random.uniform([2], [1, 2], 0, None, "int32"), "both be None"),
        (lambda: stateless_random.uniform([2], [1, 2], dtype="float16"), "dtype must be"),
        (lambda: stateless_random.uniform([-1], [1, 2]), "negative sizes"),
        (lambda: stateless_random.fold_in([1, 2], 1.5), "data must be one int32 or int64"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
