"""The PyTorch wing's data splits, and the training runs of notebook 07 and ``python -m helpers.train``.

``load_splits(dataset, pixels=...)`` gives any of the three data sets split
into train / validation / test as one ``TensorSplits``, the container every
PyTorch recipe takes: standardised for CS7643's runs, in [0, 1] for the RPZ
lab's ``MyNet`` (``helpers.pytorch.mynet_recipe``), uint8 for ``MyModel``'s
fast recipe (``helpers.pytorch.mymodel_recipe``).

``run_experiment(name, model, data, epochs=..., optimizer=...)`` trains a
model with the shared loop (``helpers.pytorch.training.fit``), then writes what seed
002 asks for into the output folder (``out_dir``, default ``output_dir()``):

- ``<name>_lossvstrain.png``: training loss of every iteration and the
  validation loss after each epoch, against the iteration number;
- ``<name>_valaccuracy.png``: validation accuracy against the iteration number;
- ``<name>.log``: one line per epoch (rewritten after every epoch), ending
  with the test accuracy;
- ``models/<name>.pt``: the trained state dict (notebook 08 shows its filters).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from helpers.data import load_dataset, to_float_tensor, to_uint8_tensor, train_val_split
from helpers.paths import atomic_write_bytes, output_dir, output_lock
from helpers.plotting import plot_history
from helpers.provenance import keep_full, save_artefact, save_figure
from helpers.pytorch.models import CIFAR_MEAN, CIFAR_STD
from helpers.pytorch.registry import weights_bytes
from helpers.pytorch.training import Callback, EpochEnd, Recipe, TensorLoader, evaluate, fit

NOTEBOOK = "notebooks/07_pytorch_cifar10.ipynb"   # what makes these files, unless the caller says otherwise

# Per-channel mean and standard deviation of each training set (pixels in [0, 1]).
CHANNEL_STATS = {
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
}


PIXELS = ("standardized", "unit", "uint8")   # the pixel forms of load_splits


@dataclass
class TensorSplits:
    """A data set split into train / validation / test: images ``(N, C, H, W)``, int64 labels ``(N,)`` per split.

    The images' dtype and range depend on how they were loaded (``load_splits``'s ``pixels``).
    ``x_test`` / ``y_test`` are ``None`` in a copy that must not see the test set (``without_test``).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_train, y_train)``."""
        return self.x_train, self.y_train

    @property
    def val(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_val, y_val)``."""
        return self.x_val, self.y_val

    @property
    def test(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(x_test, y_test)`` (``(None, None)`` without a test set)."""
        return self.x_test, self.y_test

    def without_test(self) -> TensorSplits:
        """The same training and validation tensors, no test set: for choosing a recipe, which never looks at it."""
        return replace(self, x_test=None, y_test=None)

    def shapes(self) -> str:
        """``"train (N, C, H, W) | val (...) | test (...)"``: one line for a log."""
        return " | ".join(f"{name} {tuple(x.shape)}" for name, x in
                          (("train", self.x_train), ("val", self.x_val), ("test", self.x_test)) if x is not None)

    def loaders(self, batch_size: int = 128, seed: int = 0):
        """``(train, val, test)`` ``TensorLoader``s; only the training one shuffles (test: ``None`` without a test set)."""
        test = TensorLoader(self.x_test, self.y_test, 1000) if self.x_test is not None else None
        return (TensorLoader(self.x_train, self.y_train, batch_size, shuffle=True, seed=seed),
                TensorLoader(self.x_val, self.y_val, 1000), test)


def standardize(images_u8: np.ndarray, dataset: str = "cifar10") -> torch.Tensor:
    """uint8 ``(N, H, W[, C])`` -> float32 ``(N, C, H, W)`` with zero mean, unit std per channel (training-set statistics)."""
    if dataset not in CHANNEL_STATS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {sorted(CHANNEL_STATS)}.")
    mean, std = CHANNEL_STATS[dataset]
    x = to_float_tensor(images_u8)
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def load_splits(dataset: str, val_size: int | float = 0.1, seed: int = 0, root=None, pixels: str = "standardized",
                max_train: int | None = None) -> TensorSplits:
    """``dataset``'s training images split into train / validation, and its test set, as one ``TensorSplits``.

    dataset: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``; ``root``: the data root (``helpers.data``).
    The validation part is ``val_size`` of the training images (a count or a fraction), drawn by
    ``helpers.data.train_val_split`` with ``seed``: the same seed, the same split. ``max_train`` keeps only the
    first training images after the split (for quick experiments). Labels are int64 ``(N,)`` in every form;
    the images, ``(N, 1, 28, 28)`` for MNIST and Fashion-MNIST, ``(N, 3, 32, 32)`` for CIFAR-10, are by ``pixels``:

    - ``"standardized"`` (CS7643's runs, notebook 07, ``python -m helpers.train``): float32, zero mean and unit
      standard deviation per channel by the training set's statistics (``CHANNEL_STATS``, ``standardize``);
    - ``"unit"`` (the RPZ lab's ``MyNet``, notebook 06): float32 in [0, 1], as ``torchvision``'s ``ToTensor``
      makes them (``helpers.data.to_float_tensor``);
    - ``"uint8"`` (``MyModel``'s fast recipe): uint8 in [0, 255] (``helpers.data.to_uint8_tensor``).
    """
    if dataset not in CHANNEL_STATS:
        raise ValueError(f"unknown data set {dataset!r}; expected one of {', '.join(map(repr, CHANNEL_STATS))}.")
    if pixels not in PIXELS:
        raise ValueError(f"unknown pixels {pixels!r}; expected one of {', '.join(map(repr, PIXELS))}.")
    X, y = load_dataset(dataset, "train", root=root)
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=seed)
    if max_train is not None:
        X_tr, y_tr = X_tr[:max_train], y_tr[:max_train]
    X_te, y_te = load_dataset(dataset, "test", root=root)

    def images(a):
        if pixels == "standardized":
            return standardize(a, dataset)
        return to_float_tensor(a) if pixels == "unit" else to_uint8_tensor(a)

    def labels(a):
        return torch.as_tensor(a, dtype=torch.int64)

    return TensorSplits(images(X_tr), labels(y_tr), images(X_val), labels(y_val), images(X_te), labels(y_te))


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Plain ``argmax`` accuracy of ``model`` on tensors ``x (N, ...)`` and ``y (N,)``."""
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


def save_plots(name: str, history: dict, out_dir, show: bool = False, made_by: str = NOTEBOOK, **facts) -> dict:
    """Write ``<name>_lossvstrain.png`` and ``<name>_valaccuracy.png`` into ``out_dir``; returns their paths.

    Each gets a record of how it was made (``helpers.provenance``: ``made_by``, the run mode, ``facts``).
    """
    import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only the plots need it

    window = max(1, min(len(history["iter_loss"]) // 20, 50))
    figs = {"lossvstrain": plot_history(history, f"{name}: loss", smooth=window, panels="loss",
                                        loss_label="cross-entropy loss"),
            "valaccuracy": plot_history(history, f"{name}: validation accuracy", panels="accuracy")}
    paths = {}
    for kind, fig in figs.items():
        paths[kind] = save_figure(fig, Path(out_dir) / f"{name}_{kind}.png", made_by, **facts)
        if show:
            plt.show()
        else:
            plt.close(fig)
    return paths


def write_log(path, lines: list[str]) -> Path:
    """Write the log lines to ``path`` atomically (an interrupted run keeps the previous version)."""
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def epoch_logger(name: str, out_dir, settings: str) -> Callback:
    """A ``fit`` callback that rewrites ``<name>.log`` after every epoch, so an interrupted run keeps its log so far.

    A smoke run never replaces the log of a full run (``provenance.keep_full``: it writes ``<name>.smoke.log``).
    """
    log_path = keep_full(Path(out_dir) / f"{name}.log")

    def log_epoch(_epoch, history, _model):
        write_log(log_path, log_lines(name, history, None, settings))

    return EpochEnd(log_epoch)


def finish_run(name: str, model, history: dict, test_acc: float, settings: str, out_dir,
               weights_name: str | None = None, show: bool = True, extra_lines=(), made_by: str = NOTEBOOK,
               dataset: str = "cifar10") -> dict:
    """After training: the plots, the log (``extra_lines``, then the test accuracy last) and the weights of a run.

    Writes ``<name>_lossvstrain.png``, ``<name>_valaccuracy.png``, ``<name>.log`` and
    ``models/<weights_name or name.pt>`` into ``out_dir``, each with its record
    (``helpers.provenance``: ``made_by``, the run mode, the data set, the
    epochs and the test accuracy), which ``collect_submission.sh cs7643`` checks.
    A smoke run writes ``*.smoke.*`` beside the files of a full run instead of
    replacing them. Returns ``{"history", "test_acc", "val_acc", "train_time", "log", "paths"}``.
    """
    out = Path(out_dir)
    facts = {"dataset": dataset, "epochs": len(history["epoch"]), "test_accuracy": float(test_acc)}
    with output_lock(out):
        paths = save_plots(name, history, out, show=show, made_by=made_by, **facts)
        lines = log_lines(name, history, None, settings) + list(extra_lines) + [f"test accuracy: {test_acc:.4f}"]
        paths["log"] = save_artefact(out / f"{name}.log", ("\n".join(lines) + "\n").encode(), made_by, **facts)
        paths["weights"] = save_artefact(out / "models" / (weights_name or f"{name}.pt"), weights_bytes(model),
                                         made_by, **facts)
    return {"history": history, "test_acc": test_acc, "val_acc": history["val_acc"][-1],
            "train_time": history["train_time"][-1], "log": lines, "paths": paths}


def run_experiment(name: str, model, data: TensorSplits, epochs: int, optimizer, batch_size: int = 128,
                   scheduler=None, settings: str = "", seed: int = 0, show: bool = True, out_dir=None,
                   checkpoint_dir=None, resume=False, progress: bool = False, verbose: bool = False,
                   checkpoint_extra: dict | None = None, made_by: str = NOTEBOOK, dataset: str = "cifar10") -> dict:
    """Train ``model`` with ``helpers.pytorch.training.fit`` and write its plots, log and weights (``finish_run``).

    ``out_dir``: where the files go (default ``output_dir()``), held with ``helpers.paths.output_lock``
    while the run lasts (a second writer there, a shell run or another notebook, is refused, naming this one);
    ``made_by``: what the files' records name as their maker (default notebook 07).
    ``checkpoint_dir`` / ``resume``: passed to ``fit`` (``last.pt`` every
    epoch, ``best.pt`` at the best validation accuracy; ``resume=True``
    continues from ``last.pt``; ``checkpoint_extra`` is stored in each checkpoint). The model keeps its
    last epoch's weights, as in CS7643's ``train.py``.

    Returns ``{"history", "test_acc", "val_acc", "train_time", "log", "paths"}``.
    """
    out = Path(out_dir) if out_dir is not None else output_dir()
    train, val, test = data.loaders(batch_size, seed=seed)
    recipe = Recipe(epochs=epochs, optimizer=optimizer, scheduler=scheduler, seed=seed, restore_best=False)
    with output_lock(out):   # one writer per output folder: a second run into ``out`` is refused, naming this one
        history = fit(model, train, val, recipe, callbacks=(epoch_logger(name, out, settings),),
                      checkpoint_dir=checkpoint_dir, resume=resume, progress=progress, verbose=verbose,
                      checkpoint_extra=checkpoint_extra)
        test_acc = accuracy(model, data.x_test, data.y_test)
        return finish_run(name, model, history, test_acc, settings, out, show=show, made_by=made_by,
                          dataset=dataset)
