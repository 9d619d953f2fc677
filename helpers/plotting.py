"""Figures the notebooks share: image grids, filter grids and training curves."""

from __future__ import annotations

import numpy as np


def image_grid(images: np.ndarray, labels=None, class_names=None, ncols: int = 10, title: str | None = None,
               scale: float = 1.0, highlight=None):
    """Show images in a grid and return the matplotlib figure.

    images: ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB, uint8 or float in [0, 1].
    labels: optional ``(N,)`` ints (or strings) written above each image;
    ``class_names`` maps ints to names. ``highlight``: optional ``(N,)`` bools;
    those images get a red frame and a red title (e.g. mistakes).
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images (N, H, W) or (N, H, W, 3); got shape {images.shape}.")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols * scale, 1.25 * nrows * scale), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
        bad = highlight is not None and bool(highlight[i])
        if labels is not None:
            lab = labels[i]
            text = class_names[int(lab)] if class_names is not None and not isinstance(lab, str) else str(lab)
            ax.set_title(text, fontsize=7, color="red" if bad else "black")
        if bad:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def filter_grid(weights: np.ndarray, ncols: int = 8, title: str | None = None, scale: float = 1.0):
    """Show convolution filters or weight templates as a grid of images.

    weights: ``(F, C, H, W)`` (PyTorch / CS231n layout) with C = 1 or 3, or
    ``(F, H, W)``. Each filter is min-max normalised on its own so that its
    pattern is visible whatever its scale.
    """
    import matplotlib.pyplot as plt

    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError(f"expected weights (F, C, H, W) with C in (1, 3), or (F, H, W); got {np.shape(weights)}.")
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    w = w.transpose(0, 2, 3, 1)
    imgs = w[..., 0] if w.shape[-1] == 1 else w
    n = len(imgs)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9 * scale, nrows * 0.9 * scale), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: dict, title: str | None = None, loss_keys=("train_loss", "val_loss"),
                 acc_keys=("train_acc", "val_acc"), xlabel: str = "epoch"):
    """Loss and accuracy curves side by side from a history dict of lists.

    Keys that are missing or empty are skipped, so the same function draws a
    NumPy ``Solver``'s history and a PyTorch training loop's.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in loss_keys:
        if history.get(key):
            ax_loss.plot(np.arange(1, len(history[key]) + 1), history[key], label=key.replace("_", " "))
    for key in acc_keys:
        if history.get(key):
            ax_acc.plot(np.arange(1, len(history[key]) + 1), history[key], label=key.replace("_", " "))
    ax_loss.set(xlabel=xlabel, ylabel="loss", title="loss")
    ax_acc.set(xlabel=xlabel, ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
