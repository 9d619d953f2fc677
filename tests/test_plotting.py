"""helpers.plotting: image and filter grids, and the one plot_history for every history format."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.plotting import filter_grid, history_lists, image_grid, plot_history


def test_plotting_helpers_check_shapes():
    fig = image_grid(np.zeros((5, 28, 28), np.uint8), labels=[0, 1, 2, 3, 4], highlight=[0, 1, 0, 0, 0])
    assert len([a for a in fig.axes if a.images]) == 5
    fig = filter_grid(np.random.default_rng(0).standard_normal((6, 3, 7, 7)))
    assert len([a for a in fig.axes if a.images]) == 6
    fig = plot_history({"train_loss": [3, 2, 1], "val_acc": [0.1, 0.5]})
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 1
    with pytest.raises(ValueError, match=r"\(F, C, H, W\)"):
        filter_grid(np.zeros((4, 5, 3, 3)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        image_grid(np.zeros((28, 28)))



# The histories the workbook makes: fit's (PyTorch), the NumPy network's, a Solver's, CS231n's TwoLayerNet stats.
FIT = {"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.4], "train_acc": [0.3, 0.5, 0.6],
       "val_acc": [0.3, 0.45, 0.5], "train_time": [30.0, 60.0, 90.0], "iter_loss": list(np.linspace(2.3, 1.0, 120))}
SOLVER = {"loss": list(np.linspace(2.3, 1.0, 120)), "train_loss": [2.0, 1.5, 1.2], "train_acc": [0.3, 0.5, 0.6],
          "val_acc": [0.3, 0.45, 0.5], "learning_rate": [1e-3, 9e-4, 8e-4]}
STATS = {"loss_history": list(np.linspace(2, 1, 50)), "train_acc_history": [0.1, 0.2], "val_acc_history": [0.1, 0.15]}
NUMPY_NET = {"train_loss": [0.2, 0.1], "val_loss": [0.21, 0.12], "train_acc": [0.9, 0.95], "val_acc": [0.88, 0.94],
             "seconds": 3.0}


def test_cs231n_names_are_read_as_the_one_format():
    assert set(history_lists(STATS)) == {"iter_loss", "train_acc", "val_acc"}
    assert set(history_lists(SOLVER)) == {"iter_loss", "train_loss", "train_acc", "val_acc", "learning_rate"}
    assert "seconds" not in history_lists(NUMPY_NET)          # a scalar, not a curve
    assert np.isnan(history_lists({"val_acc": [None, 0.5]})["val_acc"][0])   # an epoch without evaluation


@pytest.mark.parametrize("history, loss_lines, acc_lines", [
    (FIT, 3, 2),        # each iteration + running mean + validation per epoch; train + val
    (SOLVER, 2, 2),     # each iteration + running mean; train + val
    (STATS, 2, 2),
    (NUMPY_NET, 2, 2),  # per-epoch train + val loss
])
def test_plot_history_draws_every_format(history, loss_lines, acc_lines):
    fig = plot_history(history, title="t", smooth=10)
    loss_ax, acc_ax = fig.axes
    assert (len(loss_ax.lines), len(acc_ax.lines)) == (loss_lines, acc_lines)
    np.testing.assert_array_equal(acc_ax.lines[-1].get_ydata(), history_lists(history)["val_acc"])
    plt.close(fig)


def test_the_running_mean_is_the_mean_of_the_window():
    fig = plot_history(SOLVER, smooth=10, panels="loss")
    raw, mean = fig.axes[0].lines
    np.testing.assert_allclose(mean.get_ydata()[0], np.mean(SOLVER["loss"][:10]))
    assert len(mean.get_xdata()) == len(SOLVER["loss"]) - 9
    plt.close(fig)


def test_validation_loss_sits_at_the_end_of_each_epoch():
    fig = plot_history(FIT, panels="loss")
    np.testing.assert_array_equal(fig.axes[0].lines[-1].get_xdata(), [40, 80, 120])
    plt.close(fig)


def test_time_to_accuracy_uses_the_training_minutes_and_draws_the_target():
    fig = plot_history(FIT, panels="accuracy", x="minutes", target=0.9)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [0.5, 1.0, 1.5])
    assert ax.get_xlabel() == "training time (min)" and len(ax.lines) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="train_time"):
        plot_history(SOLVER, x="minutes")
    with pytest.raises(ValueError, match="panels"):
        plot_history(FIT, panels="speed")
