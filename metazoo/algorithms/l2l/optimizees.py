"""Optimizee task families for L2L, written functionally on a flat parameter vector.

An optimizee is a random family of functions. Everything is a pure function
of a stateless seed (an int32 pair), so a meta-training run and an
evaluation are exactly reproducible and resumable:

- `sample(seed) -> (params, task)`: initial parameters `[num_params]` and
  the constants of one sampled function (e.g. `W`, `y` of a quadratic);
- `batch(seed, step, split)`: the minibatch of optimizee step `step`;
- `loss(params, task, batch)`: the scalar the optimizer minimizes;
- `full_batch(split)`: all of a split's data, for the final loss.

Every random draw goes through `fold_in`, `normal` and `randint` below, which
use `metazoo.backend`: TensorFlow's stateless generators on TensorFlow, the
same Philox draws in numpy (`metazoo.stateless_random`) on JAX and PyTorch.
So a seed is the same optimizee on every backend: `fold_in` and `randint`
are bit-identical, `normal` within a float32 step or two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from keras import ops

from metazoo import backend
from metazoo.checks import check_int

# What `MnistMLP` trains on: split -> (images, labels), as a mapping or a function.
SplitData = Mapping[str, tuple] | Callable[[str], tuple]

ACTIVATIONS = {"sigmoid": ops.sigmoid, "relu": ops.relu}


# The task families' random draws, all of them: one place to change the generator.
def fold_in(seed, data):
    """A new stateless seed from `seed` (int32 `[2]`) and an integer `data`."""
    return backend.stateless_fold_in(ops.cast(seed, "int32"), data)


def normal(shape, seed):
    """float32 standard normal draws of a stateless seed."""
    return backend.stateless_normal(shape, seed)


def randint(shape, seed, maxval):
    """int32 draws uniform in `[0, maxval)` of a stateless seed."""
    return backend.stateless_randint(shape, seed, 0, maxval, "int32")


class Optimizee:
    """Base of the task families; subclasses set `name` and `num_params`."""

    name = "optimizee"
    num_params: int

    def sample(self, seed) -> tuple[object, tuple]:
        raise NotImplementedError

    def batch(self, seed, step, split: str = "train"):
        return ops.zeros((), "float32")  # Deterministic families need no data.

    def full_batch(self, split: str = "train"):
        return ops.zeros((), "float32")

    def loss(self, params, task, batch):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Quadratic(Optimizee):
    """`f(theta) = ||W theta - y||^2` with `W`, `y` IID standard normal; a batch of them.

    `num_functions` independent functions are optimized side by side (one
    flat vector of `num_functions * dims` coordinates); the loss is their
    mean, as in DeepMind's release. Initial `theta` ~ N(0, 0.01^2).

    Args:
        dims: int. Dimension of `theta` and `y` (10 in the paper).
        num_functions: int. Functions optimized at once (128 in DeepMind's code).

    Example:
    ```python
    quad = Quadratic(dims=10, num_functions=4)
    params, task = quad.sample(np.array([0, 1], "int32"))
    quad.loss(params, task, quad.batch(None, 0))
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016, Section 3.1.
    """

    name = "quadratic"

    def __init__(self, dims: int = 10, num_functions: int = 128):
        self.dims = check_int("dims", dims)
        self.num_functions = check_int("num_functions", num_functions)
        self.num_params = self.dims * self.num_functions

    def sample(self, seed):
        k, d = self.num_functions, self.dims
        w_seed, y_seed, init_seed = (fold_in(seed, i) for i in range(3))
        w = normal((k, d, d), w_seed)
        y = normal((k, d), y_seed)
        params = 0.01 * normal((k * d,), init_seed)
        return params, (w, y)

    def loss(self, params, task, batch=None):
        w, y = task
        theta = ops.reshape(params, (self.num_functions, self.dims, 1))
        residual = ops.squeeze(ops.matmul(w, theta), -1) - y
        return ops.mean(ops.sum(ops.square(residual), axis=-1))

    def get_config(self):
        return {"name": self.name, "dims": self.dims, "num_functions": self.num_functions}


class MnistMLP(Optimizee):
    """An MLP classifying MNIST digits, cross-entropy on minibatches drawn with replacement.

    Weights and biases start ~ N(0, 0.01^2) (DeepMind's release). The caller
    supplies the data (meta-train on `"train"`, evaluate on `"test"` images);
    a split is read the first time it is used.

    Args:
        hidden_sizes: tuple of int. Hidden layer widths: `(20,)` in the paper;
            `(40,)` and `(20, 20)` are its generalization variants.
        activation: str. `"sigmoid"` (paper) or `"relu"` (a variant).
        batch_size: int. Images per optimizee step (128).
        data: the MNIST splits: a mapping or a function `split -> (images,
            labels)`, images `[n, 28, 28]` or `[n, 784]` (float in [0, 1] or
            uint8), labels int `[n]`; e.g. `load_mnist` of metazoo's data
            package, or `functools.partial(load_mnist, data_dir=...)`. May be
            `None` for a family that only counts its parameters or describes
            itself (`get_config`).

    Example:
    ```python
    mlp = MnistMLP(hidden_sizes=(20,), data=load_mnist)
    params, task = mlp.sample(np.array([0, 0], "int32"))
    mlp.loss(params, task, mlp.batch(np.array([0, 1], "int32"), 0))  # about log(10)
    ```

    References:
        Andrychowicz et al., "Learning to learn by gradient descent by
        gradient descent", NeurIPS 2016, Section 3.2.
    """

    name = "mnist_mlp"

    def __init__(
        self,
        hidden_sizes: tuple[int, ...] = (20,),
        activation: str = "sigmoid",
        batch_size: int = 128,
        data: SplitData | None = None,
    ):
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        if not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(
                f"hidden_sizes must be one or more positive widths. Received: {hidden_sizes!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}. Received: {activation!r}"
            )
        if data is not None and not isinstance(data, Mapping) and not callable(data):
            raise ValueError(
                "data must be a mapping or a function split -> (images, labels). "
                f"Received: {type(data).__name__}"
            )
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.batch_size = check_int("batch_size", batch_size)
        self.source = data
        sizes = (784, *hidden_sizes, 10)
        self.layer_shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
        self.num_params = sum(a * b + b for a, b in self.layer_shapes)
        self._data: dict[str, tuple] = {}

    def data(self, split: str) -> tuple:
        """uint8 images `[n, 784]` and int32 labels of a split, loaded once."""
        if split not in self._data:
            if self.source is None:
                raise ValueError(
                    "This MnistMLP has no data: pass data=... (e.g. load_mnist, or "
                    "functools.partial(load_mnist, data_dir=...)). "
                    f"Received: data=None, asked for split {split!r}"
                )
            source = self.source
            images, labels = source[split] if isinstance(source, Mapping) else source(split)
            images = np.asarray(images).reshape(len(images), 784)
            pixels = images if images.dtype == np.uint8 else np.round(images * 255).astype(np.uint8)
            # Eager tensors even when first asked for inside a tf.function or a
            # dataset map: captured by reference, not baked into each graph.
            labels = np.asarray(labels, np.int32)
            self._data[split] = (backend.constant(pixels), backend.constant(labels))
        return self._data[split]

    def sample(self, seed):
        params = 0.01 * normal((self.num_params,), fold_in(seed, 0))
        return params, ()

    def batch(self, seed, step, split="train"):
        images, labels = self.data(split)
        index = randint((self.batch_size,), fold_in(seed, step), ops.shape(labels)[0])
        images = ops.take(images, index, axis=0)
        return ops.cast(images, "float32") / 255.0, ops.take(labels, index, axis=0)

    def full_batch(self, split="train"):
        images, labels = self.data(split)
        return ops.cast(images, "float32") / 255.0, labels

    def logits(self, params, images):
        x, offset = images, 0
        for i, (a, b) in enumerate(self.layer_shapes):
            kernel = ops.reshape(params[offset : offset + a * b], (a, b))
            bias = params[offset + a * b : offset + a * b + b]
            offset += a * b + b
            x = ops.matmul(x, kernel) + bias
            if i < len(self.layer_shapes) - 1:
                x = ACTIVATIONS[self.activation](x)
        return x

    def loss(self, params, task, batch):
        images, labels = batch
        logits = self.logits(params, images)
        return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    def get_config(self):
        return {
            "name": self.name,
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "batch_size": self.batch_size,
        }


OPTIMIZEES = {"quadratic": Quadratic, "mnist_mlp": MnistMLP}


def optimizee_from_config(config: dict, data: SplitData | None = None) -> Optimizee:
    """Rebuilds an optimizee from `get_config()` (`name` picks the family).

    `data` goes to the families that train on data (`MnistMLP`).
    """
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPTIMIZEES:
        raise ValueError(f"Unknown optimizee {name!r}. Known: {sorted(OPTIMIZEES)}")
    if name == "mnist_mlp":
        config["data"] = data
    return OPTIMIZEES[name](**config)
