"""Training runs of notebook 07 and of ``python -m helpers.train``: data, plots, logs, weights.

``run_experiment(name, model, data, epochs=..., optimizer=...)`` trains a
model with the shared loop (``helpers.training.fit``), then writes what seed
002 asks for into the output folder (``out_dir``, default ``output_dir()``):

- ``<name>_lossvstrain.png``: training loss of every iteration and the
  validation loss after each epoch, against the iteration number;
- ``<name>_valaccuracy.png``: validation accuracy against the iteration number;
- ``<name>.log``: one line per epoch (rewritten after every epoch), ending
  with the test accuracy;
- ``models/<name>.pt``: the trained state dict (notebook 08 shows its filters).

``load_tensors(dataset)`` gives any of the three data sets as standardised
tensors split into train / validation / test (``load_cifar_tensors`` is the
CIFAR-10 case notebook 07 uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.paths import atomic_save_figure, atomic_write_bytes, output_dir
from helpers.torch_models import CIFAR_MEAN, CIFAR_STD

# Per-channel mean and standard deviation of each training set (pixels in [0, 1]).
CHANNEL_STATS = {
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
}
# (C, H, W) of one image of each data set.
IMAGE_SHAPES = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28)}


@dataclass
class TensorSplits:
    """A data set as float32 tensors ``(N, C, H, W)``, standardised per channel, and int64 labels ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def loaders(self, batch_size: int = 128, seed: int = 0):
        """``(train, val, test)`` ``TensorLoader``s; only the training one shuffles."""
        from helpers.training import TensorLoader

        return (TensorLoader(self.x_train, self.y_train, batch_size, shuffle=True, seed=seed),
                TensorLoader(self.x_val, self.y_val, 1000), TensorLoader(self.x_test, self.y_test, 1000))


CifarTensors = TensorSplits  # the name notebook 07 was written with


def standardize(images_u8: np.ndarray, dataset: str = "cifar10") -> torch.Tensor:
    """uint8 ``(N, H, W[, C])`` -> float32 ``(N, C, H, W)`` with zero mean, unit std per channel (training-set statistics)."""
    from helpers.data import to_float_tensor

    if dataset not in CHANNEL_STATS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {sorted(CHANNEL_STATS)}.")
    mean, std = CHANNEL_STATS[dataset]
    x = to_float_tensor(images_u8)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def load_tensors(dataset: str, val_size: int | float = 0.1, seed: int = 0, root=None) -> TensorSplits:
    """``dataset``'s training images split into train / validation (``train_val_split``) and its test set, standardised."""
    from helpers.data import load_dataset, train_val_split

    X, y = load_dataset(dataset, "train", root=root)
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=seed)
    X_te, y_te = load_dataset(dataset, "test", root=root)

    def labels(a):
        return torch.as_tensor(a, dtype=torch.int64)

    return TensorSplits(standardize(X_tr, dataset), labels(y_tr), standardize(X_val, dataset), labels(y_val),
                        standardize(X_te, dataset), labels(y_te))


def load_cifar_tensors(val_size: int | float = 0.1, seed: int = 0, root=None) -> TensorSplits:
    """CIFAR-10 split into train / validation and the test set, standardised (``load_tensors("cifar10")``)."""
    return load_tensors("cifar10", val_size=val_size, seed=seed, root=root)


def plot_loss_vs_iterations(history: dict, steps_per_epoch: int, title: str):
    """Training loss per iteration (and its running mean) with the validation loss after each epoch."""
    import matplotlib.pyplot as plt

    loss = np.asarray(history["iter_loss"])
    it = np.arange(1, len(loss) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(it, loss, alpha=0.35, lw=0.8, label="train (each iteration)")
    window = max(1, min(len(loss) // 20, 50))
    if window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(it[window - 1:], smooth, lw=1.5, label=f"train (mean of {window})")
    if history.get("val_loss"):
        ax.plot(np.asarray(history["epoch"]) * steps_per_epoch, history["val_loss"], "o-", label="validation")
    ax.set(xlabel="iteration", ylabel="cross-entropy loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_val_accuracy(history: dict, steps_per_epoch: int, title: str):
    """Validation (and training) accuracy after each epoch, against the iteration number."""
    import matplotlib.pyplot as plt

    it = np.asarray(history["epoch"]) * steps_per_epoch
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(it, history["val_acc"], "o-", label="validation")
    ax.plot(it, history["train_acc"], "s--", alpha=0.6, label="train (mean over the epoch's batches)")
    ax.set(xlabel="iteration", ylabel="accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Plain ``argmax`` accuracy of ``model`` on tensors ``x (N, ...)`` and ``y (N,)``."""
    from helpers.training import TensorLoader, evaluate

    return float(evaluate(model, TensorLoader(x, y, batch_size))["acc"])


def log_lines(name: str, history: dict, test_acc: float | None, settings: str) -> list[str]:
    """The training log: settings, one line per epoch, and the test accuracy last (none yet: ``None``)."""
    lines = [f"model: {name}", f"settings: {settings}"]
    for i, epoch in enumerate(history["epoch"]):
        parts = [f"epoch {epoch:3d}", f"train loss {history['train_loss'][i]:.4f}",
                 f"train acc {history['train_acc'][i]:.4f}"]
        for key, label in (("val_loss", "val loss"), ("val_acc", "val acc")):
            value = history.get(key, [None] * (i + 1))[i]
            if value is not None:   # the fast recipe has no validation loss
                parts.append(f"{label} {value:.4f}")
        parts.append(f"{history['time'][i]:.1f} s")
        lines.append(" | ".join(parts))
    if test_acc is not None:
        lines.append(f"test accuracy: {test_acc:.4f}")
    return lines


def save_plots(name: str, history: dict, steps_per_epoch: int, out_dir, show: bool = False) -> dict:
    """Write ``<name>_lossvstrain.png`` and ``<name>_valaccuracy.png`` into ``out_dir``; returns their paths."""
    import matplotlib.pyplot as plt

    figs = {"lossvstrain": plot_loss_vs_iterations(history, steps_per_epoch, f"{name}: loss"),
            "valaccuracy": plot_val_accuracy(history, steps_per_epoch, f"{name}: validation accuracy")}
    paths = {}
    for kind, fig in figs.items():
        paths[kind] = atomic_save_figure(fig, Path(out_dir) / f"{name}_{kind}.png")
        if show:
            plt.show()
        else:
            plt.close(fig)
    return paths


def write_log(path, lines: list[str]) -> Path:
    """Write the log lines to ``path`` atomically (an interrupted run keeps the previous version)."""
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def run_experiment(name: str, model, data: TensorSplits, epochs: int, optimizer, batch_size: int = 128,
                   scheduler=None, settings: str = "", seed: int = 0, show: bool = True, out_dir=None,
                   checkpoint_dir=None, resume=False, progress: bool = False, verbose: bool = False,
                   checkpoint_extra: dict | None = None) -> dict:
    """Train ``model`` with ``helpers.training.fit`` and write its plots, log and weights (module docstring).

    ``out_dir``: where the files go (default ``output_dir()``);
    ``checkpoint_dir`` / ``resume``: passed to ``fit`` (``last.pt`` every
    epoch, ``best.pt`` at the best validation accuracy; ``resume=True``
    continues from ``last.pt``; ``checkpoint_extra`` is stored in each checkpoint). The model keeps its last epoch's weights,
    as in the seed's ``train.py``.

    Returns ``{"history", "test_acc", "val_acc", "train_time", "log", "paths"}``.
    """
    from helpers.cifar_fast import save_state_dict
    from helpers.training import fit

    out = Path(out_dir) if out_dir is not None else output_dir()
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"{name}.log"

    def log_epoch(_epoch, history, _model):
        # Rewritten after every epoch, so an interrupted run still has its log so far.
        write_log(log_path, log_lines(name, history, None, settings))

    train, val, test = data.loaders(batch_size, seed=seed)
    history = fit(model, train, val, epochs=epochs, optimizer=optimizer, scheduler=scheduler, seed=seed,
                  checkpoint_dir=checkpoint_dir, resume=resume, callbacks=(log_epoch,),
                  progress=progress, verbose=verbose, restore_best=False, checkpoint_extra=checkpoint_extra)
    test_acc = accuracy(model, data.x_test, data.y_test)
    paths = save_plots(name, history, len(train), out, show=show)
    lines = log_lines(name, history, test_acc, settings)
    paths["log"] = write_log(log_path, lines)
    paths["weights"] = out / "models" / f"{name}.pt"
    save_state_dict(model, paths["weights"])
    return {"history": history, "test_acc": test_acc, "val_acc": history["val_acc"][-1],
            "train_time": history["time"][-1], "log": lines, "paths": paths}
