"""Tests of helpers/scratch/binary_mnist.py: two-digit data, the network, minibatch gradient descent, figures, widgets.

Runs in smoke mode (conftest): the MNIST subset shipped in assets/data.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers.numpy_nn import SE, Linear, ReLU, Sigmoid, Tanh
from helpers.scratch import binary_mnist as bm


@pytest.fixture(scope="module")
def data():
    return bm.load_two_digits((3, 8), val_size=0.2, seed=0)


def test_two_digit_arrays_selects_and_scales():
    images = np.array([[[0, 255]], [[128, 0]], [[1, 2]], [[255, 255]]], dtype=np.uint8)  # (4, 1, 2)
    labels = np.array([3, 8, 5, 3])
    X, y, kept = bm.two_digit_arrays(images, labels, (3, 8))
    assert X.shape == (3, 2) and X.dtype == np.float64
    assert np.allclose(X, [[0, 1], [128 / 255, 0], [1, 1]])
    assert y.shape == (3, 1) and y.ravel().tolist() == [0.0, 1.0, 0.0]  # 1.0 for the second digit
    assert np.array_equal(kept, images[[0, 1, 3]])


@pytest.mark.parametrize("digits", [(3, 3), (3, 10), (-1, 2)])
def test_two_digit_arrays_rejects_bad_digits(digits):
    with pytest.raises(ValueError, match="two different digits"):
        bm.two_digit_arrays(np.zeros((2, 28, 28), np.uint8), np.array([0, 1]), digits)


def test_two_digit_arrays_rejects_flat_images():
    with pytest.raises(ValueError, match=r"expected images \(N, H, W\) and labels \(N,\); got \(2, 784\)"):
        bm.two_digit_arrays(np.zeros((2, 784), np.uint8), np.array([0, 1]), (0, 1))


def test_load_two_digits(data):
    n_train, n_val = len(data["X_train"]), len(data["X_val"])
    assert data["X_train"].shape == (n_train, 784) and data["y_train"].shape == (n_train, 1)
    assert data["X_val"].shape == (n_val, 784) and data["y_val"].shape == (n_val, 1)
    assert data["images_test"].shape == (len(data["X_test"]), 28, 28)
    assert abs(n_val / (n_train + n_val) - 0.2) < 0.01
    assert 0 <= data["X_train"].min() and data["X_train"].max() <= 1
    # both classes present in every split, nothing else
    for split in ("train", "val", "test"):
        assert set(np.unique(data[f"y_{split}"])) == {0.0, 1.0}
    # train and validation are disjoint rows of the training set
    train_rows = {r.tobytes() for r in data["X_train"]}
    assert not any(r.tobytes() in train_rows for r in data["X_val"])
    # the test images are the test inputs
    assert np.allclose(data["images_test"].reshape(-1, 784) / 255.0, data["X_test"])


def test_build_network_layers():
    model = bm.build_network(784, hidden_units=16, depth=2, activation="tanh")
    assert [type(layer) for layer in model] == [Linear, Tanh, Linear, Tanh, Linear, Sigmoid]
    assert [(m.input_dim, m.output_dim) for m in model if isinstance(m, Linear)] == [(784, 16), (16, 16), (16, 1)]
    logistic = bm.build_network(10, depth=0)
    assert [type(layer) for layer in logistic] == [Linear, Sigmoid]
    out = bm.forward(bm.build_network(784, 8, 1), np.zeros((5, 784)))
    assert out.shape == (5, 1) and np.all((out > 0) & (out < 1))
    with pytest.raises(ValueError, match="activation must be one of"):
        bm.build_network(784, activation="softplus")


def test_build_network_is_seeded():
    a, b = bm.build_network(20, 4, 1, seed=3), bm.build_network(20, 4, 1, seed=3)
    assert np.array_equal(a[0].W, b[0].W)
    assert not np.array_equal(a[0].W, bm.build_network(20, 4, 1, seed=4)[0].W)


def test_sgd_step_is_mean_gradient():
    """One step equals W -= lr * dL/dW of the batch-mean loss, computed independently."""
    rng = np.random.default_rng(0)
    layer = Linear(4, 1, rng=rng)
    model = [layer, Sigmoid()]
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 2, (6, 1)).astype(float)
    W0 = layer.W.copy()
    p = bm.forward(model, X)
    se = SE()
    se.forward(p, y)
    bm.backward(model, se.backward())
    bm.sgd_step(model, 0.3)
    dz = 2 * (p - y) * p * (1 - p)  # d(x-y)^2 through the sigmoid, per sample
    assert np.allclose(layer.W, W0 - 0.3 * X.T @ dz / len(X))
    assert np.allclose(layer.b, -0.3 * dz.mean(axis=0, keepdims=True))


def test_train_history_and_learning(data):
    model = bm.build_network(784, 16, 1, seed=0)
    loss0, acc0 = bm.loss_and_accuracy(model, data["X_val"], data["y_val"])
    calls = []
    history = bm.train(model, data, learning_rate=0.5, batch_size=32, epochs=3, seed=0,
                       callback=lambda epoch, h: calls.append(epoch))
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert len(history[key]) == 3
    assert calls == [0, 1, 2]
    assert history["epoch"] == list(range(1, len(history["val_acc"]) + 1)) and history["train_time"][-1] > 0
    assert history["val_loss"][-1] < loss0
    assert history["val_acc"][-1] > 0.9 and history["train_acc"][-1] > 0.9
    # the recorded numbers are the model's numbers
    assert np.isclose(bm.loss_and_accuracy(model, data["X_val"], data["y_val"])[0], history["val_loss"][-1])


def test_train_is_reproducible(data):
    runs = [bm.run(dict(hidden_units=8, epochs=1), data, seed=5)["history"]["val_loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_run_result(data):
    result = bm.run(dict(hidden_units=8, depth=1, epochs=1, batch_size=64), data)
    assert result["probs_test"].shape == (len(data["X_test"]), 1)
    acc = np.mean((result["probs_test"] > 0.5) == (data["y_test"] > 0.5))
    assert np.isclose(acc, result["test_acc"])
    assert result["config"]["batch_size"] == 64 and result["config"]["learning_rate"] == bm.DEFAULT_CONFIG["learning_rate"]


def test_classification_figure_highlights_mistakes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (30, 28, 28), dtype=np.uint8)
    y = np.array([0, 1] * 15, dtype=float)[:, None]
    probs = np.where(y > 0.5, 0.9, 0.2)
    probs[:3] = 1 - probs[:3]  # three mistakes
    fig = bm.classification_figure(images, probs, y, (3, 8), n=20, ncols=10)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 20
    red = [ax for ax in fig.axes if ax.get_title() and ax.title.get_color() == "red"]
    assert len(red) == 3  # every mistake is shown and framed
    assert "3 of 30 wrong" in fig._suptitle.get_text()
    # predicted digit and confidence: a 0.9 for digit 8 reads "8 (0.90)", a 0.2 reads "3 (0.80)"
    assert "8 (0.90)" in titles and "3 (0.80)" in titles


def test_classification_figure_checks_lengths():
    with pytest.raises(ValueError, match="same length"):
        bm.classification_figure(np.zeros((3, 28, 28)), np.zeros((2, 1)), np.zeros((3, 1)), (0, 1))


def test_save_figures(data, tmp_path):
    result = bm.run(dict(hidden_units=4, epochs=1), data)
    paths = bm.save_figures(result, data, tmp_path / "new")
    assert paths["training"].name == "numpy_nn_training.png"
    assert paths["classification"].name == "numpy_nn_classification.png"
    assert sorted(paths) == ["classification", "training"]   # what notebook 02 shows, one image each
    for key in ("training", "classification"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"
    # Each file (and the network beside them) with the record of how it was made (helpers.provenance),
    # which collect_submission.sh checks.
    network = tmp_path / "new" / bm.NETWORK_FILE
    made = [p.name for p in paths.values()] + [network.name]
    expected = made + [name + ".provenance.json" for name in made]
    assert sorted(p.name for p in (tmp_path / "new").iterdir() if not p.name.startswith(".")) == sorted(expected)
    from helpers import provenance

    network_sha = provenance.read(network)["sha256"]
    for p in [*paths.values(), network]:
        entry = provenance.read(p)
        assert entry["mode"] == "smoke" and entry["epochs"] == 1 and entry["test_accuracy"] == result["test_acc"]
        assert entry["made_by"] == "notebooks/02_numpy_nn.ipynb" and "mnist digits" in entry["dataset"]
    for key in ("training", "classification"):
        assert provenance.read(paths[key])["network_sha256"] == network_sha
    # The network file holds the trained weights and the history, as plain arrays.
    net = bm.read_network(network)
    linear = [layer for layer in result["model"] if hasattr(layer, "W")]
    assert len(net["weights"]) == len(linear)
    for (W, b), layer in zip(net["weights"], linear):
        assert np.array_equal(W, layer.W) and np.array_equal(b, layer.b)
    assert net["history"] == {key: result["history"][key] for key in bm.HISTORY_KEYS}
    assert net["config"]["digits"] == [3, 8] and net["config"]["val_size"] == 0.2
    np.testing.assert_array_equal(net["probs_test"], result["probs_test"])


def test_compare_and_format_table(data):
    rows = bm.compare([dict(depth=0, epochs=1), dict(depth=1, hidden_units=4, epochs=1)], data)
    assert [r["depth"] for r in rows] == [0, 1]
    assert all(0 <= r["test_acc"] <= 1 and r["best_val_acc"] >= r["val_acc"] for r in rows)
    table = bm.format_table(rows, ["depth", "hidden_units", "test_acc"])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].split() == ["depth", "hidden_units", "test_acc"]
    assert lines[2].split()[2] == f"{rows[0]['test_acc']:.4f}"


def test_training_ui_button_trains(data):
    loaded = []

    def load(digits):
        loaded.append(digits)
        return data

    ui, state = bm.training_ui(load_data=load, config=dict(epochs=1, hidden_units=4))
    c = state["controls"]
    assert set(c) == {"learning_rate", "hidden_units", "depth", "activation", "batch_size", "epochs",
                      "digit_a", "digit_b"}
    assert type(c["learning_rate"]).__name__ == "FloatLogSlider"
    c["depth"].value = 2
    c["activation"].value = "sigmoid"
    state["button"].click()
    result = state["result"]
    assert result is not None and len(result["history"]["val_acc"]) == 1
    assert [type(layer) for layer in result["model"]][:4] == [Linear, Sigmoid, Linear, Sigmoid]
    state["button"].click()  # same digits: loaded once, cached
    assert loaded == [(3, 8)]
    c["digit_b"].value = 3  # the same digit twice is refused with a message
    state["button"].click()
    assert loaded == [(3, 8)]
    assert "different digits" in ui.children[1].children[1].value


def test_relu_default_and_activations():
    assert set(bm.ACTIVATIONS) == {"relu", "sigmoid", "tanh"}
    assert bm.DEFAULT_CONFIG["activation"] == "relu"
    assert isinstance(bm.build_network(4, 2, 1)[1], ReLU)
