import keras
import numpy as np
import pytest
import tensorflow as tf

from metazoo.algorithms.l2l.update_rule import preprocess_gradient
from metazoo.algorithms.meta_lstm import MetaLSTM, MetaLSTMCell, _round_robin, preprocess
from metazoo.episodes import episodes_from_array
from metazoo.evaluation import evaluate_episodes
from metazoo.networks import Conv4
from tests.model_checks import run_episodic_model_checks


@pytest.fixture(scope="module")
def small_images() -> np.ndarray:
    """uint8 `[8 classes, 5 drawings, 8, 8, 1]`: each class a 2x2 blob at its own place, noisy."""
    rng = np.random.default_rng(0)
    images = np.zeros((8, 5, 8, 8, 1), np.float32)
    for c in range(8):
        row, col = divmod(c, 4)
        images[c, :, 4 * row : 4 * row + 2, 2 * col : 2 * col + 2] = 1.0
    images += rng.normal(0, 0.2, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


def tiny_meta_lstm(**kwargs):
    """Conv-2 with 4 filters on 8x8 images, 2 inner steps: small graphs, fast tracing."""
    keras.utils.set_random_seed(0)
    options = dict(ways=4, inner_steps=2, hidden_units=4)
    options.update(kwargs)
    model = MetaLSTM(Conv4(image_shape=(8, 8, 1), filters=4, blocks=2), **options)
    model.compile()
    return model


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_preprocess_golden_values_and_finite_gradient_at_zero():
    x = tf.constant([0.5, 0.0, -1e-6, -2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = preprocess_gradient(x, p=10.0)
    np.testing.assert_allclose(
        out,
        [[np.log(0.5) / 10, 1.0], [-1.0, 0.0], [-1.0, -np.exp(10) * 1e-6], [np.log(2) / 10, -1.0]],
        rtol=1e-5,
    )
    grad = tape.gradient(out, x).numpy()
    assert np.all(np.isfinite(grad))
    assert grad[1] == pytest.approx(np.exp(10))  # d(e^p x)/dx at 0, not NaN
    # The cell's keras.ops copy computes the same bits, and the same gradient.
    with tf.GradientTape() as tape:
        tape.watch(x)
        ours = preprocess(x, p=10.0, axis=0)
    np.testing.assert_array_equal(ours, tf.transpose(out))
    np.testing.assert_array_equal(tape.gradient(ours, x), grad)


def test_cell_step_golden_values():
    # Gates read one input each: f = sigmoid(theta), i = sigmoid(sign(grad)).
    cell = MetaLSTMCell(hidden_units=0)
    forget_kernel = np.zeros((6, 1), np.float32)
    forget_kernel[4] = 1.0  # [grad (2), loss (2), theta, f_prev]
    input_kernel = np.zeros((6, 1), np.float32)
    input_kernel[1] = 1.0
    cell.set_weights([forget_kernel, input_kernel, np.zeros(1), np.zeros(1)])
    params = tf.constant([1.0, -2.0])
    new, state = cell(tf.constant([0.5, 0.0]), tf.constant(1.0), params, cell.initial_state(params))
    f = [0.7310586, 0.1192029]  # sigmoid(1), sigmoid(-2)
    i = [0.7310586, 0.5]  # sigmoid(sign 0.5), sigmoid(sign 0)
    np.testing.assert_allclose(state["forget"], f, rtol=1e-6)
    np.testing.assert_allclose(state["input"], i, rtol=1e-6)
    # c = f * theta - i * grad
    np.testing.assert_allclose(new, [0.3655293, -0.2384058], rtol=1e-6)


def test_cell_with_first_lstm_layer_matches_numpy():
    # An ordinary LSTM (gate order i, f, g, o) on [prep(grad), prep(loss)],
    # then the gates on [h, theta, previous gate]; 4 coordinates, 3 units.
    keras.utils.set_random_seed(1)
    cell = MetaLSTMCell(hidden_units=3)
    rng = np.random.default_rng(0)
    cell.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in cell.get_weights()])
    lstm_kernel, lstm_bias, wf, wi, bf, bi = cell.get_weights()
    grad = np.array([0.3, -1e-7, 2.0, 0.0], np.float32)
    params = np.array([0.1, -0.4, 0.7, 1.5], np.float32)
    state = {k: v + 0.2 for k, v in cell.initial_state(tf.constant(params)).items()}
    new, out_state = cell(tf.constant(grad), tf.constant(0.25), tf.constant(params), state)

    def prep(v):
        big = np.abs(v) >= np.exp(-10)
        safe = np.where(big, np.abs(v), 1.0)
        log_part = np.where(big, np.log(safe) / 10, -1)
        return np.stack([log_part, np.where(big, np.sign(v), np.exp(10) * v)], -1)

    x = np.concatenate([prep(grad), np.broadcast_to(prep(np.float32(0.25)), (4, 2))], -1)
    z = np.concatenate([x, np.full((4, 3), 0.2)], -1) @ lstm_kernel + lstm_bias
    zi, zf, zg, zo = np.split(z, 4, -1)
    c = sigmoid(zf) * 0.2 + sigmoid(zi) * np.tanh(zg)
    h = sigmoid(zo) * np.tanh(c)
    f = sigmoid(np.concatenate([h, params[:, None], np.full((4, 1), 0.2)], -1) @ wf + bf)[:, 0]
    i = sigmoid(np.concatenate([h, params[:, None], np.full((4, 1), 0.2)], -1) @ wi + bi)[:, 0]
    np.testing.assert_allclose(out_state["h"], h.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_state["c"], c.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new, f * params - i * grad, rtol=1e-5, atol=1e-6)


def test_initial_gates_start_near_sgd():
    keras.utils.set_random_seed(0)
    cell = MetaLSTMCell()
    params = tf.random.normal([1000], stddev=0.1)
    _, state = cell(
        tf.random.normal([1000], stddev=0.01), tf.constant(2.0), params, cell.initial_state(params)
    )
    forget, inputs = state["forget"].numpy(), state["input"].numpy()
    assert 0.98 < forget.min() and forget.max() < 0.995  # sigmoid(U(4, 5)) +- small weights
    assert 0.006 < inputs.min() and inputs.max() < 0.02  # sigmoid(U(-5, -4)): a small step


def test_round_robin_interleaves_classes():
    labels = tf.constant([0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(tf.gather(labels, _round_robin(labels, 3)), [0, 1, 2, 0, 1, 2])


def _query_loss(model, episode):
    (support, labels, query), query_labels = episode
    logits = model((support, labels, query))
    one_hot = tf.one_hot(query_labels, model.ways, dtype=logits.dtype)
    return -tf.reduce_mean(tf.reduce_sum(one_hot * tf.nn.log_softmax(logits), -1))


def test_second_order_meta_gradient_matches_finite_differences():
    # float64, tiny learner (one conv block + batch norm + head), two inner steps
    # on mini-batches: checks the whole meta-gradient, c_0 included, along a
    # random direction, against central differences.
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # Cached at the first layer otherwise.
    try:
        keras.utils.set_random_seed(3)
        model = MetaLSTM(
            Conv4(image_shape=(4, 4, 1), filters=2, blocks=1),
            ways=2,
            inner_steps=3,
            inner_batch_size=2,
            hidden_units=2,
            second_order=True,
        )
        # Large enough gates that the inner loop moves the learner.
        model.cell.input_bias.assign([-1.0])
        rng = np.random.default_rng(0)
        episode = (
            (rng.random((4, 4, 4, 1)), np.array([0, 0, 1, 1], np.int32), rng.random((4, 4, 4, 1))),
            np.array([0, 0, 1, 1], np.int32),
        )
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            loss = _query_loss(model, episode)
        grads = tape.gradient(loss, variables)
        direction = [rng.normal(size=v.shape) for v in variables]
        analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction, strict=True))
        origin = [v.numpy() for v in variables]
        eps = 1e-6
        values = []
        for sign in (1, -1):
            for v, o, d in zip(variables, origin, direction, strict=True):
                v.assign(o + sign * eps * d)
            values.append(float(_query_loss(model, episode)))
        numeric = (values[0] - values[1]) / (2 * eps)
        assert abs(analytic) > 1e-3
        assert analytic == pytest.approx(numeric, rel=1e-5)
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def test_first_order_meta_gradient_reaches_every_meta_parameter(small_images):
    model = tiny_meta_lstm()
    episode = next(iter(episodes_from_array(small_images, 4, 1, 2, seed=0)))
    with tf.GradientTape() as tape:
        loss = _query_loss(model, episode)
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), variable.path


def test_common_model_checks(small_images, tmp_path):
    run_episodic_model_checks(
        tiny_meta_lstm, episodes_from_array(small_images, 4, 2, 2, seed=0), tmp_path
    )


def test_batch_norm_keeps_no_state_across_episodes(small_images):
    model = tiny_meta_lstm(inner_batch_size=3)
    moving = [v.numpy() for v in model.non_trainable_variables]
    episodes = list(episodes_from_array(small_images, 4, 2, 2, seed=0).take(2))
    first = model(episodes[0][0]).numpy()
    model(episodes[1][0])
    np.testing.assert_allclose(model(episodes[0][0]), first, rtol=1e-6)
    model.fit(episodes_from_array(small_images, 4, 2, 2, seed=1), steps_per_epoch=2, verbose=0)
    for before, after in zip(moving, model.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(before, after)


def test_evaluate_episodes_with_a_dynamic_episode_batch(small_images):
    score = evaluate_episodes(
        tiny_meta_lstm(), episodes_from_array(small_images, 4, 1, 2), 3, batch_size=2, verbose=0
    )
    assert score.episodes == 3 and 0.0 <= score.accuracy <= 1.0


def test_learns_tiny_task(small_images):
    keras.utils.set_random_seed(0)
    model = MetaLSTM(Conv4(image_shape=(8, 8, 1), filters=8, blocks=2), ways=4, inner_steps=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2, global_clipnorm=0.25))
    episodes = episodes_from_array(small_images, 4, 1, 3, seed=1)
    before = model.evaluate(episodes.take(10), verbose=0, return_dict=True)
    model.fit(episodes, steps_per_epoch=60, epochs=1, verbose=0)
    after = model.evaluate(episodes.take(10), verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.8  # chance is 0.25


def test_train_step_compiles_with_xla(small_images):
    # One conv block keeps XLA's compile time down; two inner steps on
    # mini-batches of 2 exercise the static support slicing.
    keras.utils.set_random_seed(0)
    model = MetaLSTM(
        Conv4(image_shape=(8, 8, 1), filters=4, blocks=1),
        ways=3,
        inner_steps=2,
        inner_batch_size=2,
        hidden_units=2,
    )
    model.compile(jit_compile=True)
    history = model.fit(
        episodes_from_array(small_images, 3, 1, 2), steps_per_epoch=2, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][-1])


def test_rejects_bad_arguments_and_labels(small_images):
    with pytest.raises(ValueError, match="backbone must be a keras.Model"):
        MetaLSTM("conv4")
    with pytest.raises(ValueError, match="inner_steps must be a positive integer"):
        MetaLSTM(Conv4(filters=4), inner_steps=0)
    with pytest.raises(ValueError, match="hidden_units must be an integer >= 0"):
        MetaLSTMCell(hidden_units=-1)
    model = tiny_meta_lstm(ways=3)
    (support, labels, query), _ = next(iter(episodes_from_array(small_images, 4, 1, 2)))
    with pytest.raises(ValueError, match=r"support_labels must be in 0\.\.2 \(ways=3"):
        model((support, labels, query))
    # In a TensorFlow graph the labels have no values yet: an assertion op checks them.
    with pytest.raises(tf.errors.InvalidArgumentError, match="support_labels must be < ways=3"):
        tf.function(lambda x: model(x))((support, labels, query))
