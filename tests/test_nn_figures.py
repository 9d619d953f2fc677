"""Figures for the NumPy classifiers."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.nn_figures import plot_training_stats, weights_as_images


def test_weights_as_images_layout_and_scaling():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 32, 32, 3))
    W = images.reshape(4, -1).T  # (3072, 4): one column per unit
    out = weights_as_images(W)
    assert out.shape == (4, 32, 32, 3)
    for k in range(4):
        assert out[k].min() == pytest.approx(0) and out[k].max() == pytest.approx(1)
        # Same pattern up to the affine min-max scaling.
        np.testing.assert_allclose(out[k], (images[k] - images[k].min()) / np.ptp(images[k]))
    with_bias = np.vstack([W, np.full((1, 4), 1e6)])  # the bias row must not reach the images
    np.testing.assert_allclose(weights_as_images(with_bias), out)


def test_weights_as_images_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="D = 3072"):
        weights_as_images(np.zeros((100, 3)))


def test_plot_training_stats():
    stats = {"loss_history": list(np.linspace(2, 1, 50)), "train_acc_history": [0.1, 0.2], "val_acc_history": [0.1, 0.15]}
    fig = plot_training_stats(stats, title="t", smooth=10)
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 2 and len(ax_acc.lines) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="val_acc_history"):
        plot_training_stats({"loss_history": [], "train_acc_history": []})
