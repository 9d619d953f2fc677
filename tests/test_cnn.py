"""ThreeLayerConvNet: loss and gradients against PyTorch autograd and numeric gradients, training, save/load."""

import numpy as np
import pytest

from helpers.scratch.classifiers import ThreeLayerConvNet
from helpers.scratch.gradient_check import eval_numerical_gradient, rel_error
from helpers.scratch.layer_check import convnet_vs_torch
from helpers.scratch.solver import Solver
from tests._checks import by_hand, needs

pytestmark = pytest.mark.three_layer_convnet  # every test here needs this exercise (helpers/course/exercises.py)


@pytest.fixture(scope="module", autouse=True)
def earlier_layers_written():
    """The network runs affine, ReLU, the softmax loss and (training) an update rule, earlier exercises: their own
    checks first, so that a bug there is reported as theirs (the convolution and pooling are the given fast ones)."""
    from tests import test_layers, test_optim

    needs("affine", test_layers.test_affine_forward_reference_values,
          lambda: test_layers.check_affine_against_torch(3, [2, 3], 4, seed=0))
    needs("relu_layer", test_layers.test_relu_forward_reference_values, test_layers.test_relu_matches_torch)
    needs("softmax_loss", test_layers.test_softmax_loss_numeric_gradient_and_chance_level)
    needs("update_rules", test_optim.test_sgd_momentum_reference_values, test_optim.test_rules_match_torch_optim)

SMALL = dict(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=7, num_classes=5)


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_loss_and_gradients_match_torch(reg):
    model = ThreeLayerConvNet(**SMALL, weight_scale=0.1, reg=reg, dtype=np.float64, seed=1)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 3, 8, 8)), rng.integers(0, 5, 6)
    rows = dict(convnet_vs_torch(model, X, y))
    assert set(rows) == {"scores", "loss"} | {f"d{k}" for k in model.params}
    wrong = {name: f"{err:.2g}" for name, err in rows.items() if not err < 1e-9}
    assert not wrong, f"compared with PyTorch (relative errors, tolerance 1e-9): {wrong} differ"
    _, grads = model.loss(X, y)
    assert all(grads[k].shape == model.params[k].shape for k in model.params)


def test_network_is_written_in_numpy():
    model = ThreeLayerConvNet(**SMALL, weight_scale=0.1, reg=0.3, dtype=np.float64, seed=3)
    X, y = np.random.default_rng(4).standard_normal((2, 3, 8, 8)), np.array([0, 4])
    by_hand("ThreeLayerConvNet.loss", lambda: model.loss(X, y))


def test_gradients_match_numeric_gradients():
    model = ThreeLayerConvNet(**SMALL, weight_scale=0.1, reg=0.3, dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((2, 3, 8, 8)), rng.integers(0, 5, 2)
    _, grads = model.loss(X, y)
    for k in ("W3", "b3", "b2", "b1"):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[k], h=1e-6)
        assert rel_error(grads[k], num) < 1e-6, k


def test_initial_loss_is_chance_and_grows_with_reg():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3, 32, 32)), rng.integers(0, 10, 20)
    model = ThreeLayerConvNet(weight_scale=1e-3, dtype=np.float64, seed=0)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 1e-3
    model.reg = 0.5
    assert model.loss(X, y)[0] > loss


def test_float32_model_stays_float32():
    model = ThreeLayerConvNet(**SMALL, seed=0)
    loss, grads = model.loss(np.zeros((2, 3, 8, 8)), np.array([0, 1]))
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert {p.dtype for p in model.params.values()} == {np.dtype(np.float32)}


def test_overfits_a_small_batch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 20)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3, hidden_dim=32, num_classes=5,
                              weight_scale=1e-1, seed=0)
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, update_rule="adam",
                    optim_config={"learning_rate": 1e-2}, batch_size=10, num_epochs=30, progress=False)
    solver.train()
    assert solver.best_val_acc == 1.0
    assert solver.loss_history[-1] < 0.1


def test_save_and_load_round_trip(tmp_path):
    model = ThreeLayerConvNet(**SMALL, seed=5)
    path = tmp_path / "m.npz"
    model.save(path)
    again = ThreeLayerConvNet.load(path)
    assert again.config == model.config
    for k in model.params:
        np.testing.assert_array_equal(again.params[k], model.params[k])
    X = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_load_names_what_is_missing(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, W1=np.zeros(3))
    with pytest.raises(ValueError, match="lacks"):
        ThreeLayerConvNet.load(path)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="odd"):
        ThreeLayerConvNet(filter_size=4)
    with pytest.raises(ValueError, match="even H and W"):
        ThreeLayerConvNet(input_dim=(3, 31, 32))
    model = ThreeLayerConvNet(**SMALL, seed=0)
    with pytest.raises(ValueError, match=r"\(N, 3, 8, 8\)"):
        model.loss(np.zeros((2, 3, 9, 9)))
