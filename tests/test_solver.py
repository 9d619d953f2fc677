"""Solver: history, learning-rate decay, best-weights checkpointing, training a real model, bad input."""

import numpy as np
import pytest

from helpers.paths import LOCK_NAME
from helpers.scratch.layers import affine_backward, affine_forward, softmax_loss
from helpers.scratch.solver import Solver


class ScriptedModel:
    """A model whose validation accuracy after each epoch is scripted.

    One parameter ``step`` grows by exactly 1 per update (SGD with learning
    rate 1 on a gradient of -1). With one update per epoch, ``step`` counts the
    epochs, and ``loss(X)`` predicts the labels right for the first
    ``val_acc[step] * N`` examples.
    """

    def __init__(self, val_acc):
        self.val_acc = val_acc
        self.params = {"step": np.zeros(1)}

    def loss(self, X, y=None):
        if y is not None:
            return 1.0 / (1.0 + self.params["step"][0]), {"step": -np.ones(1)}
        n_right = int(round(self.val_acc[int(round(self.params["step"][0]))] * len(X)))
        scores = np.zeros((len(X), 2))
        scores[:n_right, 0] = 1.0   # labels are all 0: right
        scores[n_right:, 1] = 1.0   # wrong
        return scores


def scripted_data(n=10):
    X = np.zeros((n, 1))
    y = np.zeros(n, dtype=int)
    return {"X_train": X, "y_train": y, "X_val": X, "y_val": y}


def test_keeps_the_best_weights_and_checkpoints_them(tmp_path):
    val_acc = {0: 0.0, 1: 0.3, 2: 0.8, 3: 0.5, 4: 0.6}  # the best is after epoch 2
    model = ScriptedModel(val_acc)
    path = tmp_path / "ckpt" / "best.npz"
    solver = Solver(model, scripted_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=10, num_epochs=4, checkpoint_path=path, progress=False)
    history = solver.train()
    assert history["val_acc"] == [0.3, 0.8, 0.5, 0.6]
    assert solver.best_val_acc == 0.8 and solver.best_epoch == 2
    assert model.params["step"][0] == 2.0  # the weights of epoch 2 are back in the model
    assert len(history["iter_loss"]) == 4 and history["train_loss"] == history["iter_loss"]  # one update per epoch
    assert solver.loss_history is history["iter_loss"] and solver.val_acc_history is history["val_acc"]
    with np.load(path) as f:
        assert f["step"][0] == 2.0 and f["_epoch"] == 2 and f["_val_acc"] == 0.8
    # No temporary files left behind (the folder's lock file stays: helpers.paths.output_lock).
    assert [p.name for p in path.parent.iterdir() if p.name != LOCK_NAME] == ["best.npz"]


def test_learning_rate_decays_after_every_epoch():
    model = ScriptedModel({i: 0.1 * i for i in range(10)})
    solver = Solver(model, scripted_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    lr_decay=0.5, batch_size=10, num_epochs=3, progress=False)
    solver.train()
    assert solver.history["lr"] == [1.0, 0.5, 0.25]  # the rate each epoch trained with
    assert solver.optim_configs["step"]["learning_rate"] == 0.125
    # The updates shrink with the rate: step = 1, 1.5, 1.75 after the epochs, so the
    # accuracies are val_acc[1], val_acc[2], val_acc[2]; a tie does not replace the best.
    assert solver.history["val_acc"] == [0.1, 0.2, 0.2]
    assert solver.best_epoch == 2 and solver.best_params["step"][0] == 1.5


class LinearSoftmax:
    """A softmax classifier built from the layers: the smallest real model."""

    def __init__(self, D, C, seed=0):
        self.params = {"W": 1e-3 * np.random.default_rng(seed).standard_normal((D, C)), "b": np.zeros(C)}

    def loss(self, X, y=None):
        scores, cache = affine_forward(X, self.params["W"], self.params["b"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        _, dW, db = affine_backward(dscores, cache)
        return loss, {"W": dW, "b": db}


@pytest.mark.parametrize("rule, lr", [("sgd", 0.5), ("sgd_momentum", 0.1), ("adam", 0.05)])
def test_trains_a_real_model(rule, lr):
    rng = np.random.default_rng(0)
    centers = 3 * rng.standard_normal((3, 5))
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.5 * rng.standard_normal((300, 5))
    data = {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}
    model = LinearSoftmax(5, 3)
    solver = Solver(model, data, update_rule=rule, optim_config={"learning_rate": lr}, batch_size=20,
                    num_epochs=5, num_train_samples=100, eval_batch_size=7, progress=False)
    solver.train()
    assert len(solver.history["iter_loss"]) == 5 * 10
    assert solver.history["iter_loss"][-1] < 0.5 * solver.history["iter_loss"][0]
    assert solver.best_val_acc >= 0.95
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc


def test_progress_bar_writes_to_stderr(capsys):
    model = ScriptedModel({i: 0.1 * i for i in range(10)})
    Solver(model, scripted_data(), optim_config={"learning_rate": 1.0}, batch_size=10, num_epochs=2, progress=True).train()
    assert "2/2" in capsys.readouterr().err


def test_custom_update_rule_is_called():
    calls = []

    def rule(w, dw, config):
        calls.append(w.shape)
        return w - dw, config

    model = ScriptedModel({i: 0.1 * i for i in range(10)})
    Solver(model, scripted_data(), update_rule=rule, batch_size=5, num_epochs=1, progress=False).train()
    assert calls == [(1,), (1,)]  # two minibatches of 5


def test_bad_input_is_named():
    model = ScriptedModel({0: 0.0})
    with pytest.raises(ValueError, match="X_val"):
        Solver(model, {"X_train": np.zeros((2, 1)), "y_train": np.zeros(2)})
    with pytest.raises(ValueError, match="y_train"):
        Solver(model, {**scripted_data(), "y_train": np.zeros(3)})
    with pytest.raises(ValueError, match="unknown update_rule 'rmsprop'"):
        Solver(model, scripted_data(), update_rule="rmsprop")
    with pytest.raises(TypeError, match="params"):
        Solver(object(), scripted_data())


def test_diverging_loss_stops_training():
    class Exploding(ScriptedModel):
        def loss(self, X, y=None):
            return (np.nan, {"step": np.ones(1)}) if y is not None else super().loss(X)

    with pytest.raises(FloatingPointError, match="learning rate"):
        Solver(Exploding({0: 0.0}), scripted_data(), batch_size=10, num_epochs=1, progress=False).train()


def test_cs231n_calling_habits(tmp_path, monkeypatch, capsys):
    """Solver(..., verbose=True, print_every=.., checkpoint_name=..) and check_accuracy(X, y, batch_size=..)."""
    monkeypatch.chdir(tmp_path)
    val_acc = {0: 0.0, 1: 0.3, 2: 0.8}
    solver = Solver(ScriptedModel(val_acc), scripted_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=10, num_epochs=2, verbose=True, print_every=1, checkpoint_name="run")
    solver.train()
    out = capsys.readouterr().out.splitlines()
    assert out == ["(Iteration 1 / 2) loss: 1.000000", "(Epoch 1 / 2) train acc: 0.300000; val_acc: 0.300000",
                   "(Iteration 2 / 2) loss: 0.500000", "(Epoch 2 / 2) train acc: 0.800000; val_acc: 0.800000"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_epoch_1.npz", "run_epoch_2.npz"]
    with np.load(tmp_path / "run_epoch_2.npz", allow_pickle=False) as saved:
        assert saved["step"][0] == 2.0 and float(saved["_val_acc"]) == 0.8
    data = scripted_data(10)
    assert solver.check_accuracy(data["X_val"], data["y_val"], batch_size=5) == solver.check_accuracy(
        data["X_val"], data["y_val"]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"X has 10 examples but y has 3"):
        solver.check_accuracy(data["X_val"], data["y_val"][:3])


def test_training_steps_run_with_subnormals_flushed_and_the_mode_ends_with_training():
    """Subnormal update-rule state (Adam's moments of dead units) slows a CPU several times: Solver flushes it."""
    seen = []

    class Recording(ScriptedModel):
        def loss(self, X, y=None):
            if y is not None:
                seen.append(float(np.array([1e-38], dtype=np.float32)[0] * np.float32(0.01)))
            return super().loss(X, y)

    Solver(Recording({0: 0.0, 1: 0.5, 2: 0.5}), scripted_data(), update_rule="sgd",
           optim_config={"learning_rate": 1.0}, batch_size=10, num_epochs=2, progress=False).train()
    assert seen == [0.0, 0.0]
    assert float(np.array([1e-38], dtype=np.float32)[0] * np.float32(0.01)) > 0
