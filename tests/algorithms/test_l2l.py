import json
import math
from functools import partial

import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.algorithms.l2l import (
    L2LMetaTrainer,
    LearnedOptimizer,
    MnistMLP,
    Quadratic,
    UpdateRuleConfig,
    init_meta_params,
    init_state,
    lstm_update,
    meta_training_data,
    preprocess_gradient,
)
from metazoo.algorithms.l2l.optimizees import optimizee_from_config
from metazoo.data.mnist import load_mnist
from metazoo.presets import save_preset
from metazoo.training import fit_resumable

# One LSTM layer of one unit, raw gradient input; gates ordered i, f, o, cell input.
TINY = UpdateRuleConfig(hidden_units=1, num_layers=1, preprocess="none", output_scale=0.5)
TINY_PARAMS = {
    "lstm_0/kernel": np.array([[0.5, -0.5, 1.0, 2.0], [0.1, 0.2, 0.3, 0.4]], np.float32),
    "lstm_0/bias": np.array([0.0, 1.0, 0.0, 0.0], np.float32),
    "output/kernel": np.array([[1.5]], np.float32),
    "output/bias": np.array([0.1], np.float32),
}


def test_preprocess_golden_values():
    g = tf.constant([0.0, 1e-6, -0.1, 2.0])
    expected = [
        [-1.0, 0.0],  # g = 0: below e^-10
        [-1.0, math.exp(10) * 1e-6],
        [math.log(0.1) / 10, -1.0],
        [math.log(2.0) / 10, 1.0],
    ]
    np.testing.assert_allclose(preprocess_gradient(g, p=10.0), expected, rtol=1e-5)


def test_gradients_are_finite_at_zero_gradient():
    config = UpdateRuleConfig()
    params = {k: tf.Variable(v) for k, v in init_meta_params(config, seed=1).items()}
    params["output/kernel"].assign(tf.ones_like(params["output/kernel"]))
    g = tf.constant([0.0, 0.0, 1e-6, -3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(g)
        features = tf.reduce_sum(preprocess_gradient(g))
        update, _ = lstm_update(g, init_state(config, 4), params, config)
        loss = tf.reduce_sum(update)
    assert np.all(np.isfinite(tape.gradient(features, g)))
    assert np.all(np.isfinite(tape.gradient(loss, g)))
    for grad in tape.gradient(loss, list(params.values())):
        assert np.all(np.isfinite(grad))


def test_update_rule_golden_values():
    # By hand: z = g K[0] + h K[1] + b; c = s(f) c + s(i) tanh(u); h = s(o) tanh(c);
    # update = 0.5 * (1.5 h + 0.1).
    state = init_state(TINY, 1)
    expected = [(0.4, 0.2070239892, 0.2093653190, 0.3651099918)]
    expected += [(-0.2, 0.0950717733, 0.0600956977, 0.1297515312)]
    for g, update_value, h, c in expected:
        update, state = lstm_update(tf.constant([g]), state, TINY_PARAMS, TINY)
        np.testing.assert_allclose(update, [update_value], rtol=1e-5)
        np.testing.assert_allclose([state[0][0, 0], state[1][0, 0]], [h, c], rtol=1e-5)


def test_coordinates_share_weights_but_not_state():
    config = UpdateRuleConfig()
    params = init_meta_params(config, seed=3)
    params["output/kernel"] = np.linspace(-1, 1, 20, dtype=np.float32)[:, None]
    grads = tf.constant([[0.3, -1e-3], [2.0, 0.0]])
    together, _ = lstm_update(grads, init_state(config, 4), params, config)
    assert together.shape == (2, 2)
    for index, g in np.ndenumerate(grads.numpy()):
        alone, _ = lstm_update(tf.constant([g]), init_state(config, 1), params, config)
        np.testing.assert_allclose(together[index], alone[0], rtol=1e-5, atol=1e-7)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="preprocess must be one of"):
        UpdateRuleConfig(preprocess="log")
    with pytest.raises(ValueError, match="hidden_units must be a positive integer"):
        UpdateRuleConfig(hidden_units=0)
    with pytest.raises(ValueError, match="must have shape"):
        LearnedOptimizer({**TINY_PARAMS, "output/bias": np.zeros(2)}, **TINY.as_dict())


def test_quadratic_loss_and_config():
    quad = Quadratic(dims=3, num_functions=2)
    w = tf.eye(3, batch_shape=[2])
    y = tf.ones((2, 3))
    assert float(quad.loss(tf.zeros(6), (w, y))) == pytest.approx(3.0)
    params, (w, y) = quad.sample(tf.constant([0, 5]))
    assert params.shape == (6,) and w.shape == (2, 3, 3)
    again, _ = quad.sample(tf.constant([0, 5]))
    np.testing.assert_array_equal(params, again)
    assert optimizee_from_config(quad.get_config()).get_config() == quad.get_config()
    with pytest.raises(ValueError, match="Unknown optimizee"):
        optimizee_from_config({"name": "cifar"})


def test_mnist_mlp_parameters_and_loss(data_dir):
    assert MnistMLP().num_params == 784 * 20 + 20 + 20 * 10 + 10
    assert MnistMLP(hidden_sizes=(20, 20)).num_params == 15910 + 20 * 20 + 20
    mlp = MnistMLP(
        hidden_sizes=(4,),
        activation="relu",
        batch_size=8,
        data=partial(load_mnist, data_dir=data_dir),
    )
    params, task = mlp.sample(tf.constant([0, 0]))
    images, labels = mlp.batch(tf.constant([0, 1]), 3, "test")
    assert images.shape == (8, 784) and labels.shape == (8,)
    assert float(tf.reduce_max(images)) <= 1.0
    # Tiny initial weights: logits near zero, so the loss is about log(10).
    assert float(mlp.loss(params, task, (images, labels))) == pytest.approx(math.log(10), abs=0.05)
    with pytest.raises(ValueError, match="activation must be one of"):
        MnistMLP(activation="tanh")


def test_mnist_mlp_takes_its_data_from_the_caller():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = np.arange(6) % 10
    as_uint8 = MnistMLP(batch_size=4, data={"train": (pixels, labels)})
    as_float = optimizee_from_config(
        as_uint8.get_config(), data=lambda split: (pixels / np.float32(255), labels)
    )
    assert as_float.get_config() == as_uint8.get_config()
    for a, b in zip(as_uint8.full_batch(), as_float.full_batch(), strict=True):
        np.testing.assert_array_equal(a, b)
    images, _ = as_uint8.batch(tf.constant([0, 1]), 0)
    assert images.shape == (4, 784) and float(tf.reduce_max(images)) <= 1.0
    with pytest.raises(ValueError, match="This MnistMLP has no data: pass data="):
        MnistMLP().batch(tf.constant([0, 1]), 0)
    with pytest.raises(ValueError, match="data must be a mapping or a function"):
        MnistMLP(data="mnist/")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        MnistMLP(batch_size=0)


def test_meta_training_data_is_resumable():
    quad = Quadratic(dims=2, num_functions=1)
    data = list(meta_training_data(quad, unroll=2, horizon=6, seed=4).take(7))
    assert [bool(d["reset"]) for d in data] == [True, False, False, True, False, False, True]
    assert [int(d["seed"][1]) for d in data] == [0, 0, 0, 1, 1, 1, 2]
    late = next(iter(meta_training_data(quad, unroll=2, horizon=6, seed=4, start=4)))
    np.testing.assert_array_equal(late["seed"], data[4]["seed"])
    with pytest.raises(ValueError, match="multiple of unroll"):
        meta_training_data(quad, unroll=3, horizon=10)


def tiny_trainer(**kwargs):
    keras.utils.set_random_seed(0)
    settings = {"unroll": 4, "horizon": 8, "hidden_units": 6, "init_seed": 0}
    trainer = L2LMetaTrainer(Quadratic(dims=4, num_functions=8), **{**settings, **kwargs})
    return trainer


def held_out_meta_loss(trainer, tasks=4):
    """Mean loss over the first unroll of `tasks` fixed quadratics (no training)."""
    from metazoo.algorithms.l2l.meta_trainer import trajectory_seeds

    quad, losses = trainer.optimizee, []
    for i in range(tasks):
        params, task = quad.sample(trajectory_seeds(99, i)[0])
        state = init_state(trainer.rule_config, quad.num_params)
        batches = tf.zeros((trainer.unroll + 1,))
        losses.append(float(trainer.unroll_loss(params, state, task, batches)[0]))
    return np.mean(losses)


def test_meta_training_lowers_the_meta_loss():
    trainer = tiny_trainer()
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = held_out_meta_loss(trainer)
    data = meta_training_data(trainer.optimizee, unroll=4, horizon=8, seed=0)
    history = trainer.fit(data, steps_per_epoch=40, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert held_out_meta_loss(trainer) < 0.8 * before


def test_train_step_compiles_with_xla():
    trainer = tiny_trainer(unroll=2, horizon=4)
    trainer.compile(jit_compile=True)
    data = meta_training_data(trainer.optimizee, unroll=2, horizon=4)
    history = trainer.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    assert trainer.jit_compile is True
    assert np.isfinite(history.history["loss"][-1])


class NaNAfterStepQuadratic(Quadratic):
    """Its data turn NaN from optimizee step 5 on (a stand-in for a diverging run)."""

    def batch(self, seed, step, split="train"):
        return tf.where(step >= 5, float("nan"), 0.0)

    def loss(self, params, task, batch=None):
        return super().loss(params, task) + batch


def test_nan_stops_meta_training_with_an_error(tmp_path):
    trainer = L2LMetaTrainer(NaNAfterStepQuadratic(dims=2, num_functions=2), unroll=2, horizon=8)
    trainer.compile()

    def make_dataset(start):
        return meta_training_data(trainer.optimizee, 2, 8, start=start)

    with pytest.raises(FloatingPointError, match="loss became nan"):
        fit_resumable(trainer, make_dataset, 20, 4, tmp_path / "backup", verbose=0)


def test_meta_trainer_keras_file_keeps_meta_optimizer(tmp_path):
    trainer = tiny_trainer()
    trainer.compile()
    data = meta_training_data(trainer.optimizee, unroll=4, horizon=8)
    trainer.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
    trainer.save(tmp_path / "trainer.keras")
    loaded = keras.saving.load_model(tmp_path / "trainer.keras")
    assert loaded.get_config() == trainer.get_config()
    assert len(loaded.optimizer.variables) == len(trainer.optimizer.variables) > 2
    for a, b in zip(trainer.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name, value in trainer.get_meta_params().items():
        np.testing.assert_array_equal(loaded.get_meta_params()[name], value)


def tiny_keras_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])


def trained_looking_optimizer(**kwargs):
    config = UpdateRuleConfig(hidden_units=5)
    params = init_meta_params(config, seed=2)
    params["output/kernel"] = np.linspace(-0.5, 0.5, 5, dtype=np.float32)[:, None]
    return LearnedOptimizer(params, **config.as_dict(), **kwargs)


def test_learned_optimizer_fit_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    model = tiny_keras_model()
    model.compile(optimizer=trained_looking_optimizer(), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert any(np.any(a != b) for a, b in zip(before, model.get_weights(), strict=True))
    states = model.optimizer.variables[2:]
    assert len(states) == 4 * 4  # h, c of 2 layers for each of the 4 model variables
    assert all(np.any(s.numpy() != 0) for s in states)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, LearnedOptimizer)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_learned_optimizer_under_mirrored_strategy_matches_one_device(jit_compile):
    # The test process configures two logical CPUs before TF starts (conftest).
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.skip("needs two logical CPUs (set before TensorFlow initialised)")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    results = []
    # ReductionToOneDevice: collective all-reduce keys clash between the
    # MirroredStrategy objects of one test process.
    mirrored = tf.distribute.MirroredStrategy(
        [d.name for d in cpus[:2]], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    for strategy in (mirrored, None):
        with strategy.scope() if strategy else tf.distribute.get_strategy().scope():
            model = tiny_keras_model()
            model.compile(optimizer=trained_looking_optimizer(jit_compile=jit_compile), loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        if strategy:
            assert model.distribute_strategy is strategy
        results.append(model.get_weights() + [v.numpy() for v in model.optimizer.variables[2:]])
    # Each replica takes half of every batch; the summed gradient is the same.
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert np.any(results[0][-1] != 0)


def test_learned_optimizer_config_round_trip():
    optimizer = trained_looking_optimizer(learning_rate=0.5, clipnorm=1.0)
    config = optimizer.get_config()
    json.dumps(config)
    clone = LearnedOptimizer.from_config(config)
    assert clone.get_config() == config
    variables = [keras.Variable(np.ones((2, 3), "float32")) for _ in range(2)]
    grad = tf.constant([[0.1, -0.2, 0.0], [3.0, 1e-7, -1.0]])
    optimizer.apply([grad], variables[:1])
    clone.apply([grad], variables[1:])
    np.testing.assert_array_equal(variables[0].numpy(), variables[1].numpy())
    assert np.any(variables[0].numpy() != 1.0)


def test_learned_optimizer_xla_rule_matches_the_plain_rule():
    # The default compiles the rule with XLA; the plain graph gives the same steps.
    rng = np.random.default_rng(1)
    results = []
    for jit_compile in (True, False):
        optimizer = trained_looking_optimizer(jit_compile=jit_compile)
        variables = [
            keras.Variable(np.ones((2, 3), "float32")),
            keras.Variable(np.zeros(4, "float32")),
        ]
        for step in range(3):
            grads = [
                tf.constant(rng.normal(size=v.shape) * 10.0**-step, tf.float32) for v in variables
            ]
            optimizer.apply(grads, variables)
        results.append([v.numpy() for v in variables + list(optimizer.variables[2:])])
        rng = np.random.default_rng(1)
    assert optimizer.get_config()["jit_compile"] is False
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.any(results[0][0] != 1.0)
    with pytest.raises(ValueError, match="jit_compile must be True or False"):
        trained_looking_optimizer(jit_compile="auto")


def test_from_preset_gives_the_trained_rule(tmp_path):
    trainer = tiny_trainer()
    trainer.compile()
    metadata = {"description": "test", "kind": "learned_optimizer"}
    path = save_preset(trainer, tmp_path / "l2l_test", metadata, export=False)
    optimizer = LearnedOptimizer.from_preset(path, learning_rate=0.5)
    assert optimizer.rule_config == trainer.rule_config
    for name, value in trainer.get_meta_params().items():
        np.testing.assert_array_equal(optimizer.meta_params[name], value)
    other = save_preset(trainer, tmp_path / "other", {"description": "x"}, export=False)
    with pytest.raises(ValueError, match="needs a learned-optimizer preset. Received"):
        LearnedOptimizer.from_preset(other)


@pytest.mark.parametrize("preset", ["l2l_quadratic", "l2l_mnist_mlp"])
def test_committed_presets_load_as_optimizers(preset):
    from metazoo.presets import list_presets

    if preset not in list_presets():
        pytest.skip(f"preset {preset} is not registered")
    optimizer = LearnedOptimizer.from_preset(preset)
    assert optimizer.rule_config == UpdateRuleConfig()
    variable = keras.Variable(np.zeros((3,), "float32"))
    optimizer.apply([tf.constant([1.0, -1.0, 0.0])], [variable])
    # A trained rule steps against the gradient's sign.
    assert variable.numpy()[0] < 0 < variable.numpy()[1]
