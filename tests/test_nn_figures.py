"""Figures for the NumPy classifiers."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from helpers.scratch.nn_figures import weights_as_images


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
