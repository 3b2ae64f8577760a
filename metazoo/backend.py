"""Where the Keras backends differ, one function per concept; the model code stays in `keras.ops`.

Each function switches on `keras.config.backend()` and imports the
backend's library lazily, so no model module needs TensorFlow, JAX or
PyTorch installed beyond the one Keras runs on. Like `metazoo.checks`, this
module imports nothing from metazoo at import time (the numpy Philox of
`metazoo.stateless_random` only when drawing), so any module may use it.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

_PLAIN_VALUES = (np.ndarray, np.generic, list, tuple, int, float)


def has_values(*tensors) -> bool:
    """Whether every tensor holds values now (numpy or an eager tensor), none symbolic.

    Symbolic means a `keras.KerasTensor`, a tensor of a TensorFlow graph
    (`tf.function`, `fit`), a JAX tracer (`jax.jit`, `fit`), or a PyTorch
    tensor on the `meta` device (Keras's shape inference).

    Example:
    ```python
    has_values(np.zeros(3), keras.ops.ones(2))  # True
    has_values(keras.KerasTensor((None, 3)))  # False
    ```
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Inside a graph even numpy inputs are about to become placeholders.
        if not tf.executing_eagerly():
            return False
    return all(_has_value(t, backend) for t in tensors)


def _has_value(tensor, backend: str) -> bool:
    if isinstance(tensor, _PLAIN_VALUES):
        return True
    if isinstance(tensor, keras.KerasTensor) or not keras.ops.is_tensor(tensor):
        return False
    if backend == "jax":
        import jax

        return not isinstance(tensor, jax.core.Tracer)
    if backend == "torch":
        return tensor.device.type != "meta"
    return True


def is_tf_dataset(value) -> bool:
    """Whether `value` is a `tf.data.Dataset`; never imports TensorFlow to find out."""
    # Without TensorFlow imported, nothing can be one of its datasets.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def stateless_uniform(shape, seed, minval=0.0, maxval=1.0, dtype="float32"):
    """Uniform draws in `[minval, maxval)` that depend only on `seed` (a `[2]` seed tensor).

    `seed` is what `keras.random.SeedGenerator.next()` returns; derived seeds
    such as `seed + 1` give further independent streams from one draw of
    the generator. On TensorFlow this is `tf.random.stateless_uniform`, the
    same numbers `keras.random.uniform` draws there; on JAX the seed is the
    key; on PyTorch it seeds a generator as Keras does (their sum).
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval, dtype=dtype)
    if backend == "torch":
        # Keras's torch backend seeds its generator from an int, not a tensor.
        seed = int(keras.ops.convert_to_numpy(keras.ops.sum(seed))) & 0xFFFFFFFF
    return keras.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)


def _philox_draw(draw, shape, dtype, *args):
    """`draw(*args)` of `metazoo.stateless_random` (TensorFlow's Philox in numpy) as a tensor.

    On JAX a `jax.pure_callback`, so it also runs inside `jax.jit` and loops
    (its result is a constant to `jax.grad`); on PyTorch an eager call.
    """
    if keras.config.backend() == "jax":
        import jax

        def host(*values):
            return np.asarray(draw(*(np.asarray(v) for v in values)), dtype)

        return jax.pure_callback(host, jax.ShapeDtypeStruct(tuple(shape), dtype), *args)
    values = draw(*(np.asarray(keras.ops.convert_to_numpy(a)) for a in args))
    return keras.ops.convert_to_tensor(np.asarray(values, dtype))


def stateless_fold_in(seed, data):
    """A new int32 `[2]` seed from `seed` (int32 `[2]`) and an integer `data`.

    Folding distinct `data` into one seed gives independent streams, e.g.
    one per task and step. On TensorFlow this is
    `tf.random.experimental.stateless_fold_in`; on JAX and PyTorch the same
    seed from `metazoo.stateless_random.fold_in` (TensorFlow's Philox in numpy).

    Example:
    ```python
    step_seed = stateless_fold_in(np.array([0, 7], "int32"), 3)
    ```
    """
    seed = keras.ops.cast(seed, "int32")
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.experimental.stateless_fold_in(seed, data)
    from metazoo import stateless_random

    data = keras.ops.cast(data, "int32")
    return _philox_draw(stateless_random.fold_in, (2,), "int32", seed, data)


def stateless_normal(shape, seed, dtype="float32"):
    """Standard normal draws that depend only on `seed` (an int32 `[2]` seed tensor).

    On TensorFlow this is `tf.random.stateless_normal`; on JAX and PyTorch
    `metazoo.stateless_random.normal`: the same draws for the same seed,
    a value at most a float32 step or two from TensorFlow's (its `logf` and
    `sincosf` round differently).

    Example:
    ```python
    noise = stateless_normal((3, 4), np.array([0, 1], "int32"))
    ```
    """
    seed = keras.ops.cast(seed, "int32")
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_normal(shape, seed, dtype=dtype)
    from metazoo import stateless_random

    return _philox_draw(lambda s: stateless_random.normal(shape, s), shape, dtype, seed)


def stateless_randint(shape, seed, minval, maxval, dtype="int32"):
    """Integers uniform in `[minval, maxval)` that depend only on `seed` (int32 `[2]`).

    On TensorFlow this is `tf.random.stateless_uniform` with an integer
    dtype; on JAX and PyTorch `metazoo.stateless_random.uniform`, which
    draws exactly the same integers.

    Example:
    ```python
    index = stateless_randint((128,), np.array([0, 1], "int32"), 0, 60_000)
    ```
    """
    seed = keras.ops.cast(seed, "int32")
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype)
    from metazoo import stateless_random

    def draw(s, low, high):
        return stateless_random.uniform(shape, s, int(low), int(high), dtype)

    bounds = [keras.ops.cast(b, dtype) for b in (minval, maxval)]
    return _philox_draw(draw, shape, dtype, seed, *bounds)


def jit(fn):
    """`fn` compiled with XLA where the backend can, also when called outside a compiled step.

    `tf.function(jit_compile=True)` on TensorFlow, `jax.jit` on JAX; on
    PyTorch `fn` itself (it runs eagerly). Inside an already compiled step
    the call is simply part of that step.

    Example:
    ```python
    step = jit(lambda x: keras.ops.tanh(x) * 2.0)
    ```
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def constant(value):
    """`value` as a tensor made eagerly, even when first asked for inside a traced function.

    On TensorFlow, a tensor made inside a `tf.function` or a `tf.data` map
    would be a constant copied into that graph; made under `tf.init_scope`
    it is captured by reference (e.g. a data set's 47 MB of images). On
    JAX, one made inside `jax.jit` would be a tracer of that trace; made
    under `jax.ensure_compile_time_eval` it is a concrete array that may be
    kept (say, cached) and used by later traces.

    Example:
    ```python
    pixels = constant(np.zeros((60_000, 784), "uint8"))
    ```
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():
            return tf.constant(value)
    if keras.config.backend() == "jax":
        import jax

        with jax.ensure_compile_time_eval():
            return keras.ops.convert_to_tensor(value)
    return keras.ops.convert_to_tensor(value)


def matmul_transposed(a, b):
    """`transpose(a) @ b` for 2-D tensors.

    On TensorFlow it is one `tf.matmul(a, b, transpose_a=True)`: its
    rounding differs from a transpose followed by a matmul (in XLA, and in
    the gradient), and it is the op the committed L2L presets were trained
    and scored with, so their figures stay bit-identical.

    Example:
    ```python
    matmul_transposed(np.ones((3, 2), "float32"), np.ones((3, 4), "float32"))  # [2, 4] of 3s
    ```
    """
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.matmul(a, b, transpose_a=True)
    return keras.ops.matmul(keras.ops.transpose(a), b)


def matmul(a, b):
    """`keras.ops.matmul`, except that float64 stays float64 on PyTorch.

    Keras's PyTorch matmul follows JAX's default type promotion (64-bit off)
    and computes float64 products in float32, too coarse for float64
    gradient checks; here two float64 tensors are multiplied in float64.

    Example:
    ```python
    matmul(np.ones((2, 3)), np.ones((3, 4))).shape  # (2, 4)
    ```
    """
    if keras.config.backend() == "torch":
        import torch

        a, b = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
        if a.dtype == b.dtype == torch.float64:
            return torch.matmul(a, b)
    return keras.ops.matmul(a, b)


def graph_assert_less(x, limit: int, message: str):
    """`x`, checked to be `< limit` when a TensorFlow graph runs; unchanged elsewhere.

    Eager values are for the caller to check, with a `ValueError` (as
    `FewShotClassifier.check_inputs` does). A TensorFlow graph (`fit`,
    `predict`) has no values yet, so there the check is an assertion op that
    raises `InvalidArgumentError` with `message` when it runs. A JAX trace
    cannot raise on values, and PyTorch runs eagerly: `x` comes back as is.

    Example:
    ```python
    labels = graph_assert_less(labels, 5, "labels must be < 5")
    ```
    """
    if keras.config.backend() != "tensorflow":
        return x
    import tensorflow as tf

    if tf.executing_eagerly():
        return x
    check = tf.debugging.assert_less(x, tf.constant(limit, x.dtype), message=message)
    with tf.control_dependencies([check]):
        return tf.identity(x)


def split_at(x, indices: list[int]):
    """`keras.ops.split(x, indices)` along the first axis, at static Python indices.

    On PyTorch this is `torch.split` by sizes: Keras's torch `split` turns
    the indices into a tensor and back, which fails on the meta device of
    Keras's shape inference.

    Example:
    ```python
    split_at(np.arange(5), [2])  # [[0, 1], [2, 3, 4]]
    ```
    """
    if keras.config.backend() == "torch":
        import torch

        x = keras.ops.convert_to_tensor(x)
        sizes = [b - a for a, b in zip([0, *indices], [*indices, x.shape[0]], strict=True)]
        return list(torch.split(x, sizes, dim=0))
    return keras.ops.split(x, indices)
