"""Training runs of notebook 07: data, plots and logs for the PyTorch CIFAR-10 models.

``run_experiment(name, model, data, epochs=..., optimizer=...)`` trains a
model with the shared loop (``helpers.training.fit``), then writes what seed
002 asks for into ``output_dir()``:

- ``<name>_lossvstrain.png``: training loss of every iteration and the
  validation loss after each epoch, against the iteration number;
- ``<name>_valaccuracy.png``: validation accuracy against the iteration number;
- ``<name>.log``: one line per epoch, ending with the test accuracy;
- ``models/<name>.pt``: the trained state dict (notebook 08 shows its filters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from helpers.paths import atomic_save_figure, atomic_write_bytes, output_dir
from helpers.torch_models import CIFAR_MEAN, CIFAR_STD


@dataclass
class CifarTensors:
    """CIFAR-10 as float32 tensors ``(N, 3, 32, 32)``, standardised per channel, and int64 labels ``(N,)``."""

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


def standardize(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 32, 32, 3)`` -> float32 ``(N, 3, 32, 32)`` with zero mean, unit std per channel (CIFAR-10 statistics)."""
    from helpers.data import to_float_tensor

    x = to_float_tensor(images_u8)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def load_cifar_tensors(val_size: int | float = 0.1, seed: int = 0, root=None) -> CifarTensors:
    """Training images split into train / validation (``train_val_split``), and the test set, standardised."""
    from helpers.data import load_dataset, train_val_split

    X, y = load_dataset("cifar10", "train", root=root)
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=seed)
    X_te, y_te = load_dataset("cifar10", "test", root=root)

    def labels(a):
        return torch.as_tensor(a, dtype=torch.int64)

    return CifarTensors(standardize(X_tr), labels(y_tr), standardize(X_val), labels(y_val),
                        standardize(X_te), labels(y_te))


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


def log_lines(name: str, history: dict, test_acc: float, settings: str) -> list[str]:
    """The training log: settings, one line per epoch, and the test accuracy last."""
    lines = [f"model: {name}", f"settings: {settings}"]
    for i, epoch in enumerate(history["epoch"]):
        lines.append(f"epoch {epoch:3d} | train loss {history['train_loss'][i]:.4f} | train acc "
                     f"{history['train_acc'][i]:.4f} | val loss {history['val_loss'][i]:.4f} | val acc "
                     f"{history['val_acc'][i]:.4f} | {history['time'][i]:.1f} s")
    lines.append(f"test accuracy: {test_acc:.4f}")
    return lines


def run_experiment(name: str, model, data: CifarTensors, epochs: int, optimizer, batch_size: int = 128,
                   scheduler=None, settings: str = "", seed: int = 0, show: bool = True) -> dict:
    """Train ``model`` with ``helpers.training.fit`` and write its plots, log and weights (module docstring).

    Returns ``{"history", "test_acc", "val_acc", "train_time", "figures"}``.
    """
    import matplotlib.pyplot as plt

    from helpers.training import fit

    train, val, test = data.loaders(batch_size, seed=seed)
    history = fit(model, train, val, epochs=epochs, optimizer=optimizer, scheduler=scheduler, seed=seed,
                  progress=False, verbose=False, restore_best=False)
    test_acc = accuracy(model, data.x_test, data.y_test)
    steps = len(train)
    figs = {"lossvstrain": plot_loss_vs_iterations(history, steps, f"{name}: loss"),
            "valaccuracy": plot_val_accuracy(history, steps, f"{name}: validation accuracy")}
    for kind, fig in figs.items():
        atomic_save_figure(fig, output_dir() / f"{name}_{kind}.png")
        if show:
            plt.show()
        else:
            plt.close(fig)
    lines = log_lines(name, history, test_acc, settings)
    atomic_write_bytes(output_dir() / f"{name}.log", ("\n".join(lines) + "\n").encode())
    from helpers.cifar_fast import save_state_dict

    save_state_dict(model, output_dir("models") / f"{name}.pt")
    return {"history": history, "test_acc": test_acc, "val_acc": history["val_acc"][-1],
            "train_time": history["time"][-1], "log": lines}
