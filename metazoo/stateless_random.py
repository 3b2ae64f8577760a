"""TensorFlow's stateless random ops in numpy: the same numbers for the same seed, without TF.

`uniform`, `split` and `fold_in` return exactly what
`tf.random.stateless_uniform`, `tf.random.split` and `tf.random.fold_in`
return on a CPU (their default `alg="auto_select"` is Philox-4x32-10
there), so data drawn with them are the same on every Keras backend, with
or without TensorFlow installed. `normal` draws the same numbers as
`tf.random.stateless_normal` but rounds its sines and logarithms itself,
so a value can be one float32 step away from TensorFlow's (see `normal`).

How TensorFlow draws (its `StatelessRandomGetKeyCounter` and
`StatelessRandom*V2` CPU kernels): the `[2]` seed, as two uint64, is the
counter of one Philox block under a fixed key; that block's four words
become the key (words 0, 1) and the high half of the counter (words 2, 3;
the low half starts at 0). Element `i` of the output is then word `i % 4`
of block `i // 4` (counter + `i // 4`); 64-bit values take two words
(low, high) of a block, so a block gives two of them.

Like TensorFlow, a seed given as a Python list is int32 if its values fit,
else int64; the seed's dtype matters (`split` keeps it, and an int32 seed
is sign-extended before use).
"""

from __future__ import annotations

import numpy as np

# Philox-4x32's multipliers and Weyl key increments (Salmon et al. 2011).
_MULTIPLIERS = np.array([[0xD2511F53], [0xCD9E8D57]], np.uint64)
_KEY_STEPS = np.array([[0x9E3779B9], [0xBB67AE85]], np.uint64)
_ROUNDS = 10
# TensorFlow's fixed key for scrambling a seed into a key and counter.
_SEED_KEY = (0x3EC8F720, 0x02461E29)
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)
# Box-Muller's floor on its first uniform, as TensorFlow's `BoxMullerFloat`.
_NORMAL_EPSILON = np.float32(1.0e-7)

__all__ = ["fold_in", "normal", "split", "uniform"]


def _philox(counter, key: tuple[int, int]) -> list[np.ndarray]:
    """Philox-4x32-10 blocks of `counter` (4 arrays of 32-bit values) under `key` (2 ints).

    Words are held in uint64, so that a 32x32-bit product is exact; words
    0 and 2 (the multiplied ones) and words 1 and 3 travel as pairs of rows.
    """
    counter = np.broadcast_arrays(*(np.atleast_1d(np.asarray(c, np.uint64)) for c in counter))
    even, odd = np.stack(counter[0::2]), np.stack(counter[1::2])
    rounds = np.arange(_ROUNDS, dtype=np.uint64)
    keys = (np.array([[key[0]], [key[1]]], np.uint64) + _KEY_STEPS * rounds) & _LOW32
    for round_ in range(_ROUNDS):
        product = _MULTIPLIERS * even
        # (c0, c2) <- (hi(M1 c2) ^ c1 ^ k0, hi(M0 c0) ^ c3 ^ k1); (c1, c3) <- (lo(M1 c2), lo(M0 c0))
        even, odd = (product[::-1] >> _32) ^ odd ^ keys[:, round_, None], product[::-1] & _LOW32
    return [even[0], odd[0], even[1], odd[1]]


def _as_seed(seed) -> np.ndarray:
    """`seed` as a `[2]` int32 or int64 array, with TensorFlow's dtype for Python ints."""
    if isinstance(seed, (np.ndarray, np.generic)) or hasattr(seed, "__array__"):
        array = np.asarray(seed)
    else:
        values = np.asarray(seed, dtype=object)
        fits = all(-(2**31) <= int(v) < 2**31 for v in values.ravel())
        array = np.asarray(seed, dtype=np.int32 if fits else np.int64)
    if array.shape != (2,) or array.dtype not in (np.int32, np.int64):
        raise ValueError(
            "seed must be 2 integers of dtype int32 or int64. "
            f"Received: shape={array.shape}, dtype={array.dtype}"
        )
    return array


def _key_counter(seed: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """TensorFlow's key of a seed and the high half of its counter (the low half is 0)."""
    words = seed.astype(np.int64).view(np.uint64)  # int32 seeds are sign-extended first
    mix = _philox(
        [words[0] & _LOW32, words[0] >> _32, words[1] & _LOW32, words[1] >> _32], _SEED_KEY
    )
    mix = [int(word[0]) for word in mix]
    return (mix[0], mix[1]), (mix[2], mix[3])


def _words(seed, count: int) -> np.ndarray:
    """The first `count` uint32 words TensorFlow's kernels draw from `seed`, in order."""
    key, high = _key_counter(_as_seed(seed))
    # Block i has counter (i, 0, high): the low 64 bits start at 0, so they never carry.
    block = np.arange(-(-count // 4), dtype=np.uint64)
    counter = [block & _LOW32, block >> _32, np.uint64(high[0]), np.uint64(high[1])]
    return np.stack(_philox(counter, key), axis=-1).reshape(-1)[:count].astype(np.uint32)


def _uint64s(seed, count: int) -> np.ndarray:
    """`count` uint64 values as TensorFlow builds them: words (low, high) in pairs."""
    words = _words(seed, 2 * count).astype(np.uint64)
    return words[0::2] | words[1::2] << _32


def _shape(shape) -> tuple[int, ...]:
    """`shape` as a tuple: a sequence of sizes (`[]` for a scalar) or one int."""
    shape = tuple(int(n) for n in np.asarray(shape, dtype=np.int64).reshape(-1))
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must not have negative sizes. Received: shape={shape}")
    return shape


def _full_range_ints(shape, seed, dtype) -> np.ndarray:
    """Full-range integers, as `stateless_random_uniform(..., minval=None, maxval=None)`."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    if dtype.itemsize == 4:
        return _words(seed, size).view(dtype).reshape(shape)
    return _uint64s(seed, size).view(dtype).reshape(shape)


def uniform(shape, seed, minval=0, maxval=None, dtype="float32") -> np.ndarray:
    """Uniform draws in `[minval, maxval)`, exactly `tf.random.stateless_uniform`'s.

    Args:
        shape: sequence of ints (or an int). Shape of the output; `[]` gives a scalar.
        seed: two ints (int32 or int64 array, or a list). Same seed, same numbers.
        minval: number. Lower bound (included); `None` with `maxval=None`
            and an integer dtype gives full-range integers.
        maxval: number. Upper bound (excluded); default 1 for floats,
            required for integers.
        dtype: `"float32"`, `"float64"`, `"int32"`, `"int64"` (or, full
            range only, `"uint32"`, `"uint64"`).

    Example:
    ```python
    uniform([2, 3], seed=[1, 2])  # == tf.random.stateless_uniform([2, 3], [1, 2])
    uniform([5], seed=np.array([7, 0]), minval=0, maxval=10, dtype="int32")
    ```
    """
    dtype = np.dtype(dtype)
    shape = _shape(shape)
    size = int(np.prod(shape, dtype=np.int64))
    if dtype.kind in "iu":
        if (minval is None) != (maxval is None):
            raise ValueError(
                "For an integer dtype, minval and maxval must both be None or both be given. "
                f"Received: minval={minval}, maxval={maxval}"
            )
        if minval is None:
            return _full_range_ints(shape, seed, dtype)
        if dtype not in (np.int32, np.int64):
            raise ValueError(f"Bounded integers must be int32 or int64. Received: dtype={dtype}")
        low, high = int(minval), int(maxval)
        if low >= high:
            raise ValueError(f"minval must be < maxval. Received: minval={low}, maxval={high}")
        bits = 32 if dtype == np.int32 else 64
        span = np.uint64((high - low) % 2**bits)  # as TF: unsigned difference
        draws = _words(seed, size).astype(np.uint64) if bits == 32 else _uint64s(seed, size)
        offsets = draws % span if span else draws
        with np.errstate(over="ignore"):
            out = (np.asarray(low, dtype).astype(np.uint64) + offsets) & np.uint64(2**bits - 1)
        return out.astype(f"uint{bits}").view(dtype).reshape(shape)
    if dtype == np.float32:
        mantissa = (_words(seed, size) & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)
        unit = mantissa.view(np.float32) - np.float32(1.0)
    elif dtype == np.float64:
        # Two words per value; here the first holds the high 20 bits of the mantissa.
        words = _words(seed, 2 * size).astype(np.uint64)
        mantissa = (words[0::2] & np.uint64(0xFFFFF)) << _32 | words[1::2]
        unit = (mantissa | np.uint64(0x3FF << 52)).view(np.float64) - 1.0
    else:
        raise ValueError(f"dtype must be float32, float64, int32 or int64. Received: dtype={dtype}")
    low, high = dtype.type(minval), dtype.type(1 if maxval is None else maxval)
    return (unit * (high - low) + low).reshape(shape)


def _as_int(value) -> np.ndarray:
    """A Python or numpy integer as TensorFlow converts it: int32 if it fits, else int64."""
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        array = np.asarray(value, np.int32 if -(2**31) <= value < 2**31 else np.int64)
    else:
        array = np.asarray(value, dtype=object)
    if array.shape != () or array.dtype not in (np.int32, np.int64):
        raise ValueError(
            f"data must be one int32 or int64 integer. Received: shape={array.shape}, "
            f"dtype={array.dtype}"
        )
    return array


def split(seed, num: int = 2) -> np.ndarray:
    """`num` new seeds `[num, 2]` from `seed`, exactly `tf.random.split`'s (same dtype as `seed`).

    Example:
    ```python
    split(np.array([1, 2], np.int64), 3)  # == tf.random.split(tf.constant([1, 2], tf.int64), 3)
    ```
    """
    seed = _as_seed(seed)
    return uniform([int(num), 2], seed, None, None, seed.dtype)


def fold_in(seed, data) -> np.ndarray:
    """A new seed from `seed` and an integer `data`, exactly `tf.random.fold_in`'s.

    The new seed has `data`'s dtype (int32 for a Python int that fits), as in TensorFlow.

    Example:
    ```python
    fold_in([1, 2], 3)  # [1105988140, 3], int32, as tf.random.fold_in([1, 2], 3)
    ```
    """
    data = _as_int(data)
    first = uniform([], seed, None, None, data.dtype)
    return np.stack([first, data])


def normal(shape, seed, mean=0.0, stddev=1.0) -> np.ndarray:
    """Standard-normal float32 draws by TensorFlow's Box-Muller, as `tf.random.stateless_normal`.

    Same words, same pairing and the same float32/float64 steps as
    TensorFlow's `BoxMullerFloat`; its `logf` and `sincosf` are computed
    here in float64 and rounded once, i.e. correctly rounded. TensorFlow
    calls the platform's C library instead (glibc on Linux), whose float32
    results are not always correctly rounded, so a value can differ from
    TensorFlow's by one unit in the last place (about 1.5% of values with
    glibc 2.36): the same draws, not bit-identical ones.

    Args:
        shape: sequence of ints (or an int). Shape of the output.
        seed: two ints (int32 or int64 array, or a list).
        mean: float. Mean of the distribution.
        stddev: float. Standard deviation.

    Example:
    ```python
    normal([3], seed=[1, 2])  # within 1 ulp of tf.random.stateless_normal([3], [1, 2])
    ```
    """
    shape = _shape(shape)
    size = int(np.prod(shape, dtype=np.int64))
    words = _words(seed, size + size % 2)
    units = ((words & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - 1
    radius_unit = np.maximum(units[0::2], _NORMAL_EPSILON)
    # TF: float v1 = 2.0f * M_PI * u, a double product rounded to float.
    angle = (2.0 * np.pi * units[1::2].astype(np.float64)).astype(np.float32)
    log = np.log(radius_unit.astype(np.float64)).astype(np.float32)
    radius = np.sqrt(np.float32(-2.0) * log)
    pairs = np.empty((size + size % 2,), np.float32)
    pairs[0::2] = np.sin(angle.astype(np.float64)).astype(np.float32) * radius
    pairs[1::2] = np.cos(angle.astype(np.float64)).astype(np.float32) * radius
    return (pairs[:size] * np.float32(stddev) + np.float32(mean)).reshape(shape)
