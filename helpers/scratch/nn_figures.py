"""Learned weights of the NumPy classifiers as images.

Used by ``03_softmax`` (class templates) and ``04_two_layer_net`` (first-layer
weights); ``08`` shows the saved two-layer net's weights with
:func:`weights_as_images` too. Training curves are ``helpers.plotting.plot_history``.
"""

from __future__ import annotations

import numpy as np

CIFAR_SHAPE = (32, 32, 3)


def weights_as_images(W: np.ndarray, image_shape=CIFAR_SHAPE, drop_bias_row: bool | None = None) -> np.ndarray:
    """Turn a weight matrix ``(D, K)`` (one column per unit or class) into ``K`` images ``(K, H, W, C)`` in [0, 1].

    ``D`` must be ``prod(image_shape)`` (e.g. 3072 for CIFAR-10), or one more
    when the last row holds biases (the bias trick); that row is dropped. Each
    image is min-max scaled on its own so its pattern is visible.
    """
    W = np.asarray(W, dtype=np.float64)
    size = int(np.prod(image_shape))
    if W.ndim != 2 or W.shape[0] not in (size, size + 1):
        raise ValueError(f"W must have shape (D, K) with D = {size} (or {size + 1} with a bias row); got {W.shape}.")
    if drop_bias_row is None:
        drop_bias_row = W.shape[0] == size + 1
    if drop_bias_row:
        W = W[:-1]
    images = W.T.reshape(-1, *image_shape)
    lo = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
    hi = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
    return (images - lo) / np.maximum(hi - lo, 1e-12)
