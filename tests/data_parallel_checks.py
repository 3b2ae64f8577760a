"""Run as `KERAS_BACKEND=jax python -m tests.data_parallel_checks OUT.json`: DataParallel on 2 CPUs.

Forces two host devices, then trains a ProtoNet and a MAML for two steps on
batched episodes, once on one device and once under
`keras.distribution.DataParallel` (the episodes of a batch split across the
two devices), from the same initial weights and data, and writes what the
test compares: the weights after training, and how the variables and the
data were placed.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
).strip()

import json  # noqa: E402
import sys  # noqa: E402

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from metazoo.algorithms import MAML, PrototypicalNetwork  # noqa: E402
from metazoo.episodes import episodes_from_array  # noqa: E402
from metazoo.networks import Conv4  # noqa: E402


def tiny_images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (8, 4, 28, 28, 1), dtype=np.uint8)


MODELS = {
    "protonet": lambda: PrototypicalNetwork(Conv4(filters=4)),
    "maml": lambda: MAML(ways=3, inner_steps=1, filters=4, image_shape=(28, 28, 1)),
}


def train(name: str, distributed: bool) -> dict:
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices()) if distributed else None
    )
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    episodes = episodes_from_array(tiny_images(), 3, 1, 2, batch_size=2, pipeline="numpy")
    model(episodes[0][0])  # built: the initial weights exist before `fit`
    initial = [np.asarray(w).tolist() for w in model.get_weights()]
    history = model.fit(episodes, steps_per_epoch=2, epochs=1, verbose=0)
    kernel = model.trainable_variables[0].value
    return {
        "initial": initial,
        "weights": [np.asarray(w).tolist() for w in model.get_weights()],
        "loss": history.history["loss"][-1],
        "variable_devices": len(kernel.sharding.device_set),
        "iterations": int(model.optimizer.iterations),
    }


def main(path: str) -> None:
    out = {"devices": jax.device_count(), "backend": keras.config.backend()}
    for name in MODELS:
        out[name] = {"single": train(name, False), "data_parallel": train(name, True)}
    keras.distribution.set_distribution(None)
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
