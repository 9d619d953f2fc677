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
    import matplotlib.pyplot as plt  # deferred: ~1 s to import, and it picks a GUI backend

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
    import matplotlib.pyplot as plt  # deferred: ~1 s to import, and it picks a GUI backend

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


# CS231n's names for the same lists (``TwoLayerNet.train``'s stats, ``Solver``'s attributes and history).
CS231N_KEYS = {"loss_history": "iter_loss", "loss": "iter_loss", "train_acc_history": "train_acc",
               "val_acc_history": "val_acc"}
X_AXES = ("epoch", "minutes")


def history_lists(history: dict) -> dict:
    """The workbook's one history format from any history it produces.

    The format is ``helpers.pytorch.training.fit``'s: per epoch ``train_loss``,
    ``val_loss``, ``train_acc``, ``val_acc`` (and ``train_time``, seconds), per
    iteration ``iter_loss``. CS231n's names (``loss_history``,
    ``train_acc_history``, ``val_acc_history``, a ``Solver``'s ``loss``) are
    read as the same lists. Returns a new dict of NumPy arrays (missing keys left out).
    """
    out = {}
    for key, value in history.items():
        key = CS231N_KEYS.get(key, key)
        if key in out or not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
            continue
        if all(v is None or isinstance(v, (int, float, np.number)) for v in value):
            out[key] = np.array([np.nan if v is None else v for v in value], dtype=float)
    return out


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_history(history: dict, title: str | None = None, smooth: int = 0, x: str = "epoch",
                 panels=("loss", "accuracy"), loss_label: str = "loss", acc_label: str = "accuracy",
                 target: float | None = None):
    """Loss and accuracy of a training run, side by side (or one ``panels``); returns the figure.

    history: any history of the workbook (see ``history_lists``): a PyTorch
    run's, the NumPy network's, a ``Solver``'s or CS231n's ``TwoLayerNet`` stats.

    - Loss: with a per-iteration ``iter_loss``, every iteration (faint) and,
      when ``smooth`` > 1, its running mean over ``smooth`` iterations, with the
      per-epoch validation loss at each epoch's last iteration; otherwise the
      per-epoch training and validation losses.
    - Accuracy: training and validation accuracy per epoch, against the epoch
      (``x="epoch"``) or the minutes of training (``x="minutes"``, from
      ``train_time``: a time-to-accuracy curve); ``target`` draws a dashed line.
    """
    # deferred (both): pyplot takes ~1 s to import and picks a GUI backend; importing this module stays light
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}; got {x!r}.")
    panels = (panels,) if isinstance(panels, str) else tuple(panels)
    if not panels or set(panels) - {"loss", "accuracy"}:
        raise ValueError(f"panels must be 'loss', 'accuracy' or both; got {panels!r}.")
    h = history_lists(history)
    if x == "minutes" and "train_time" not in h:
        raise ValueError("x='minutes' needs the history's 'train_time' (seconds per epoch, cumulative).")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    axes = dict(zip(panels, axes[0]))
    n_epochs = max((len(h[k]) for k in ("train_acc", "val_acc", "train_loss", "val_loss") if k in h), default=0)
    if "loss" in axes:
        ax = axes["loss"]
        if "iter_loss" in h:
            loss = h["iter_loss"]
            it = np.arange(1, len(loss) + 1)
            ax.plot(it, loss, lw=0.6, alpha=0.4 if smooth > 1 else 0.9, label="training (each iteration)")
            window = min(smooth, len(loss))
            if window > 1:
                ax.plot(it[window - 1:], _running_mean(loss, window), lw=1.5, label=f"training (mean of {window})")
            if "val_loss" in h and n_epochs:
                ends = np.round(np.arange(1, len(h["val_loss"]) + 1) * len(loss) / n_epochs)
                ax.plot(ends, h["val_loss"], "o-", label="validation (each epoch)")
            ax.set(xlabel="iteration")
        else:
            for key, label in (("train_loss", "training"), ("val_loss", "validation")):
                if key in h:
                    ax.plot(np.arange(1, len(h[key]) + 1), h[key], "o-", ms=3, label=label)
            ax.set(xlabel="epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(ylabel=loss_label, title="loss")
    if "accuracy" in axes:
        ax = axes["accuracy"]
        for key, label in (("train_acc", "training"), ("val_acc", "validation")):
            if key in h:
                xs = h["train_time"][:len(h[key])] / 60 if x == "minutes" else np.arange(1, len(h[key]) + 1)
                ax.plot(xs, h[key], "o-", ms=3, label=label)
        if target is not None:
            ax.axhline(target, color="gray", ls="--", lw=1, label=f"{target:g}")
        ax.set(xlabel="training time (min)" if x == "minutes" else "epoch", ylabel=acc_label, title="accuracy")
        if x == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.values():
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
