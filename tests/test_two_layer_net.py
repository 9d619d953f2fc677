"""TwoLayerNet: the HLCV toy model's reference values, gradients, SGD with momentum."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.scratch.classifiers import TwoLayerNet
from helpers.scratch.gradient_check import eval_numerical_gradient, rel_error
from tests._checks import assert_outputs_match, by_hand, needs

# HLCV / CS231n: scores of the toy model on the toy data.
CORRECT_SCORES = np.asarray([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949],
])
CORRECT_LOSS = 1.30378789133  # reg=0.05, L2 term reg * (sum(W1**2) + sum(W2**2))


def toy_model():
    np.random.seed(0)
    return TwoLayerNet(4, 10, 3, std=1e-1)


def toy_data():
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return X, y


def test_params_shapes_and_init():
    np.random.seed(0)
    net = TwoLayerNet(6, 5, 4, std=0.5)
    np.random.seed(0)
    W1 = 0.5 * np.random.randn(6, 5)
    W2 = 0.5 * np.random.randn(5, 4)
    np.testing.assert_array_equal(net.params["W1"], W1)  # W1 drawn first, then W2
    np.testing.assert_array_equal(net.params["W2"], W2)
    assert net.params["b1"].shape == (5,) and not net.params["b1"].any()
    assert net.params["b2"].shape == (4,) and not net.params["b2"].any()
    assert net.sizes == (6, 5, 4)


@pytest.mark.two_layer_net
def test_toy_scores():
    net, (X, _) = toy_model(), toy_data()
    scores = net.loss(X)
    assert scores.shape == (5, 3)
    # The reference is printed to 8 decimals: it holds to half a unit in the last place.
    np.testing.assert_allclose(scores, CORRECT_SCORES, rtol=0, atol=5e-9)


@pytest.mark.two_layer_net
def test_toy_loss():
    net, (X, y) = toy_model(), toy_data()
    loss, _ = net.loss(X, y, reg=0.05)
    assert abs(loss - CORRECT_LOSS) < 1e-10


@pytest.mark.two_layer_net
@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_toy_gradients_match_numeric_float64(reg):
    net, (X, y) = toy_model(), toy_data()
    _, grads = net.loss(X, y, reg=reg)
    assert set(grads) == {"W1", "b1", "W2", "b2"}, f"grads has the keys {sorted(grads)}"
    errors = {}
    for name in grads:
        numeric = eval_numerical_gradient(lambda _: net.loss(X, y, reg=reg)[0], net.params[name])
        assert grads[name].shape == net.params[name].shape, f"grads[{name!r}] has shape {grads[name].shape}"
        errors[name] = rel_error(grads[name], numeric)
    wrong = [f"{name} (relative error {err:.2g})" for name, err in errors.items() if err >= 1e-8]
    assert not wrong, f"reg={reg}: the gradient of {', '.join(wrong)} differs from the numeric gradient (tolerance 1e-8)"


@pytest.mark.two_layer_net
@settings(max_examples=15, deadline=None)
@given(N=st.integers(1, 6), D=st.integers(1, 5), H=st.integers(1, 6), C=st.integers(2, 4),
       reg=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_random_gradients_match_numeric(N, D, H, C, reg, seed):
    np.random.seed(seed)
    net = TwoLayerNet(D, H, C, std=1.0)
    for name in ("b1", "b2"):  # non-zero biases exercise their gradients fully
        net.params[name] += np.random.randn(*net.params[name].shape)
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=N)
    _, grads = net.loss(X, y, reg=reg)
    # Near a ReLU kink central differences straddle it; compare absolutely with a loose bound.
    numeric = {name: eval_numerical_gradient(lambda _: net.loss(X, y, reg=reg)[0], net.params[name], h=1e-6)
               for name in grads}
    assert_outputs_match("compared with the numeric gradient", {f"d{name}": (grads[name], numeric[name]) for name in grads},
                         tol=1e-5, rtol=1e-4)


@pytest.mark.two_layer_net
def test_loss_is_written_in_numpy():
    net, (X, y) = toy_model(), toy_data()
    by_hand("TwoLayerNet.loss", lambda: net.loss(X, y, reg=0.05))


@pytest.fixture(scope="module")
def loss_written():
    """Training runs TwoLayerNet.loss, an earlier exercise: its own checks first."""
    needs("two_layer_net", test_toy_scores, test_toy_loss, lambda: test_toy_gradients_match_numeric_float64(0.05))


@pytest.mark.two_layer_train
def test_toy_training_reaches_002(loss_written):
    net, (X, y) = toy_model(), toy_data()
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100)
    assert len(stats["loss_history"]) == 100
    assert stats["loss_history"][-1] <= 0.02
    # N=5 < batch_size: one epoch per step, so one accuracy per step.
    assert len(stats["train_acc_history"]) == len(stats["val_acc_history"]) == 100


@pytest.mark.two_layer_train
def test_toy_training_with_momentum_reaches_002(loss_written):
    net, (X, y) = toy_model(), toy_data()
    stats = net.train(X, y, X, y, learning_rate=5e-2, reg=5e-6, num_iters=100, momentum=0.9)
    assert stats["loss_history"][-1] <= 0.02


# TwoLayerNet.train (HLCV's Algorithm 1, as its docstring states it) on the problem below, as the reference solution
# trains it: per parameter, the sum of its entries, the sum of their squares and their sum weighted by position
# 1, 2, 3, ... A step in another order, another learning-rate decay or another sampling of the batches changes them.
ALGORITHM_1_RESULT = {
    0.0: {"W1": (-2.4619614909453773, 3.9678947125645485, -76.28342694414235),
          "b1": (-0.012384907049167105, 0.00047601209350442544, -0.0211842626300637),
          "W2": (-1.0582543339363941, 2.5455375386157306, -0.8568608531983645),
          "b2": (0.0, 0.001009501669463957, -0.04093047982885992)},
    0.9: {"W1": (-2.778861872917594, 3.9378552035622776, -85.14293838645256),
          "b1": (-0.06256548735727605, 0.016314726387561696, -0.11858285089512113),
          "W2": (-1.0548908230241556, 2.5055463550451025, -1.3305892035721179),
          "b2": (0.0, 0.028728957002279537, -0.2074887824187927)},
}


def _summary(values: np.ndarray) -> tuple[float, float, float]:
    flat = values.ravel()
    return float(flat.sum()), float(flat @ flat), float(flat @ np.arange(1, flat.size + 1))


@pytest.mark.two_layer_train
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_train_follows_algorithm_1(loss_written, momentum):
    np.random.seed(3)
    net = TwoLayerNet(6, 7, 3, std=0.3)
    X = np.random.randn(40, 6)
    y = np.random.randint(3, size=40)
    np.random.seed(11)
    net.train(X, y, X, y, learning_rate=0.05, learning_rate_decay=0.5, reg=1e-3, num_iters=12,
              batch_size=10, momentum=momentum)
    for k, expected in ALGORITHM_1_RESULT[momentum].items():
        np.testing.assert_allclose(_summary(net.params[k]), expected, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{k} after 12 steps of train (sum, sum of squares, weighted sum)")


@pytest.mark.two_layer_train
def test_momentum_first_steps_by_hand(loss_written):
    # Two steps on a fixed batch: v1 = -lr g0, w1 = w0 + v1; v2 = mu v1 - lr g1, w2 = w1 + v2.
    np.random.seed(0)
    net = TwoLayerNet(3, 4, 2, std=0.5)
    X = np.random.randn(1, 3)
    y = np.array([1])
    w0 = {k: p.copy() for k, p in net.params.items()}
    lr, mu = 0.1, 0.9
    probe = TwoLayerNet(3, 4, 2)
    probe.params = {k: p.copy() for k, p in w0.items()}
    _, g0 = probe.loss(X, y)
    w1 = {k: w0[k] - lr * g0[k] for k in w0}
    probe.params = {k: p.copy() for k, p in w1.items()}
    _, g1 = probe.loss(X, y)
    w2 = {k: w1[k] + mu * (-lr * g0[k]) - lr * g1[k] for k in w0}
    # N=1, batch_size=1: every draw is row 0; decay 1 keeps lr fixed.
    net.train(X, y, X, y, learning_rate=lr, learning_rate_decay=1.0, reg=0.0, num_iters=2, batch_size=1, momentum=mu)
    for k in w2:
        np.testing.assert_allclose(net.params[k], w2[k], rtol=1e-12, err_msg=k)


@pytest.mark.two_layer_train
def test_learning_rate_decays_per_epoch(loss_written):
    # 100 samples / batch 25 = 4 steps per epoch: accuracies are recorded (and lr decayed) after steps 4 and 8.
    np.random.seed(0)
    net = TwoLayerNet(3, 4, 2)
    X = np.random.randn(100, 3)
    y = np.random.randint(2, size=100)
    stats = net.train(X, y, X[:10], y[:10], num_iters=10, batch_size=25)
    assert len(stats["loss_history"]) == 10
    assert len(stats["val_acc_history"]) == 2  # after steps 4 and 8


@pytest.mark.two_layer_train
def test_training_is_written_in_numpy(loss_written):
    net, (X, y) = toy_model(), toy_data()
    by_hand("TwoLayerNet.train", lambda: net.train(X, y, X, y, num_iters=3, momentum=0.9))
    by_hand("TwoLayerNet.predict", lambda: net.predict(X))


@pytest.mark.two_layer_train
def test_predict_and_errors(loss_written):
    net, (X, y) = toy_model(), toy_data()
    pred = net.predict(X)
    np.testing.assert_array_equal(pred, np.argmax(CORRECT_SCORES, axis=1))
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\) = \(N, 4\)"):
        net.loss(X[:, :3])
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        net.loss(X, y[:3])
    with pytest.raises(ValueError, match="labels y must lie in"):
        net.loss(X, y + 3)
    with pytest.raises(ValueError, match="momentum"):
        net.train(X, y, X, y, momentum=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        TwoLayerNet(4, 0, 3)


@pytest.mark.two_layer_net
def test_float32_model_computes_in_float32():
    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1, dtype=np.float32)
    X, y = toy_data()
    loss, grads = net.loss(X.astype(np.float32), y, reg=0.05)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert loss == pytest.approx(CORRECT_LOSS, rel=1e-5)


def test_save_and_load_round_trip(tmp_path):
    net = toy_model()
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = TwoLayerNet.load(path)
    for k in net.params:
        np.testing.assert_array_equal(loaded.params[k], net.params[k])
    X, _ = toy_data()
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    np.savez(tmp_path / "bad.npz", W1=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lacks the arrays"):
        TwoLayerNet.load(tmp_path / "bad.npz")
