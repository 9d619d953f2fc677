"""Figures for the NumPy classifiers: training statistics and learned weights as images.

Used by ``03_softmax`` (class templates) and ``04_two_layer_net`` (curves,
first-layer weights); ``08`` shows the saved two-layer net's weights with
:func:`weights_as_images` too.
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


def plot_training_stats(stats: dict, title: str | None = None, smooth: int = 1):
    """Loss per step and train / validation accuracy per epoch, side by side; returns the figure.

    ``stats`` is what ``TwoLayerNet.train`` returns (``loss_history``,
    ``train_acc_history``, ``val_acc_history``). ``smooth`` > 1 overlays a
    moving average of the loss over that many steps.
    """
    import matplotlib.pyplot as plt

    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        if key not in stats:
            raise ValueError(f"stats lacks {key!r}; expected the dict TwoLayerNet.train returns.")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.5))
    loss = np.asarray(stats["loss_history"], dtype=np.float64)
    ax_loss.plot(loss, lw=0.6, alpha=0.6 if smooth > 1 else 1.0, label="minibatch loss")
    if smooth > 1 and len(loss) >= smooth:
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax_loss.plot(np.arange(smooth - 1, len(loss)), avg, label=f"mean of {smooth} steps")
        ax_loss.legend()
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss")
    epochs = np.arange(1, len(stats["train_acc_history"]) + 1)
    ax_acc.plot(epochs, stats["train_acc_history"], "o-", ms=3, label="train (minibatch)")
    ax_acc.plot(epochs, stats["val_acc_history"], "o-", ms=3, label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="classification accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
