"""The workbook's PyTorch training loop: one implementation for every notebook and script.

``fit(model, train_loader, val_loader, Recipe(epochs=...))`` trains any
``nn.Module`` with any loss, optimizer and learning-rate schedule on the
device ``helpers.device.get_device()`` picks (cuda, mps or cpu), and returns
a history dict::

    history = fit(model, train_loader, val_loader,
                  Recipe(epochs=10, optimizer=lambda params: torch.optim.AdamW(params, lr=3e-3),
                         scheduler=one_cycle(max_lr=3e-3),
                         batch_transform=augment,     # per-batch augmentation, optional
                         patience=5),                 # early stopping
                  callbacks=[...],                    # Callback objects: the loop's one extension point
                  checkpoint_dir=output_dir("run1"),  # best.pt and last.pt, written atomically
                  resume=True)                        # continue from last.pt if it exists

A recipe's fields may also be given as keywords, ``fit(model, train_loader,
val_loader, epochs=10, optimizer=...)``.

History keys (one value per epoch): ``epoch``, ``train_loss``, ``train_acc``
(on the augmented training batches), ``val_loss``, ``val_acc``, ``lr`` (at
the end of the epoch), ``time`` (seconds since the start, summed over
resumed runs; a ``time_budget`` schedule may end the last epoch early),
``train_time`` (the same, counting only the training steps: evaluation
excluded, what a time-to-accuracy curve plots); and ``iter_loss``, the
mean training loss of every iteration. Every PyTorch run of the workbook
(notebooks 06 and 07, ``python -m helpers.train``) returns this format, and
``helpers.plotting.plot_history`` draws it.

``fit`` reads like d2l's ``Trainer.fit``: a short loop over the named steps
of a ``Trainer``: ``start_or_resume`` (a fresh run, or a checkpoint's),
``train_epoch`` (``prepare_batch`` and ``training_step`` for each batch),
``evaluate``, ``end_of_epoch`` (a per-epoch schedule, the history, the best
so far, the checkpoints, the epoch's line, stopping) and, after the last
epoch, ``restore_best``.

A recipe is configuration of this loop, not a second loop: a ``Recipe`` (an
optimizer or its factory, a scheduler stepped per batch or per epoch, a loss
function, mean or ``reduction="sum"``, a batch transform, early stopping), a
loader that augments, and ``callbacks``, the one extension point:
``Callback`` objects with any of ``on_epoch_start(epoch, model)``,
``on_step_end(step, model)``, ``on_epoch_end(epoch, history, model)`` (True
stops) and ``state_dict()`` / ``load_state_dict(state)`` (saved in every
checkpoint, so that a resumed run continues exactly).
``helpers.pytorch.mymodel_recipe`` is the example: lookahead is a callback,
its warm-up and decay a scheduler; ``experiments.epoch_logger`` is a callback
that rewrites a run's log after every epoch.

Reproducibility: ``TensorLoader`` draws each epoch's order from
``(seed, epoch)``, the batch transform gets a generator seeded from
``(seed, epoch)`` and the checkpoint stores torch's RNG state, so an
interrupted run resumed from ``last.pt`` continues exactly as the
uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import io
import math
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.device import get_device
from helpers.paths import atomic_write_bytes, display_path, error_line, output_lock, remove_stale_temporaries
from helpers.runtime import mode

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time", "train_time")
BEST_NAME, LAST_NAME = "best.pt", "last.pt"


class TensorLoader:
    """Mini-batches ``(x, y)`` from in-memory tensors: much faster on a CPU than a per-sample ``DataLoader``.

    x: ``(N, ...)`` tensor (e.g. float32 ``(N, 1, 28, 28)`` in [0, 1]); y: ``(N,)``
    int64. With ``shuffle`` the order of epoch ``e`` (see ``set_epoch``) is a
    permutation drawn from ``seed`` and ``e``, so it is the same in a resumed run.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, shuffle: bool = False,
                 seed: int = 0, drop_last: bool = False):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive; got {batch_size}.")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.y)
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
            order = torch.randperm(n, generator=g)
        else:
            order = None
        for i in range(len(self)):
            if order is None:
                sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
                yield self.x[sl], self.y[sl]
            else:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                yield self.x[idx], self.y[idx]


def _mix(seed: int, epoch: int) -> int:
    """A generator seed from a run seed and an epoch number (distinct for distinct pairs)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 12345) % (2**63 - 1)


def one_cycle(max_lr: float, pct_start: float = 0.25, div_factor: float = 25.0, final_div_factor: float = 1e3,
              time_budget: float | None = None):
    """Scheduler factory for ``fit``: a one-cycle learning rate over the whole run, stepped per batch.

    Without ``time_budget``: ``torch.optim.lr_scheduler.OneCycleLR``. With
    ``time_budget`` (seconds): ``BudgetOneCycle``, the same curve over
    whichever ends first, the planned steps or the time; ``fit`` stops when
    it ends, so a slow machine trains fewer steps but still anneals fully.
    """

    def make(optimizer, epochs: int, steps_per_epoch: int):
        if time_budget is not None:
            return BudgetOneCycle(optimizer, max_lr, epochs * steps_per_epoch, time_budget, pct_start, div_factor,
                                  final_div_factor)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=pct_start,
            div_factor=div_factor, final_div_factor=final_div_factor)

    make.interval = "step"
    return make


class BudgetOneCycle:
    """One-cycle learning rate driven by progress = max(steps / total_steps, training seconds / time_budget).

    Warm-up (cosine) from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the progress, then cosine annealing down to
    ``max_lr / div_factor / final_div_factor``. ``finished`` turns true when
    progress reaches 1; ``fit`` then ends the run. The seconds count only
    time spent between ``step`` calls (the training itself), and are saved in
    ``state_dict`` so a resumed run continues the same budget.
    """

    def __init__(self, optimizer, max_lr: float, total_steps: int, time_budget: float, pct_start: float = 0.25,
                 div_factor: float = 25.0, final_div_factor: float = 1e3, clock=time.monotonic):
        if total_steps < 1 or time_budget <= 0:
            raise ValueError(f"total_steps must be >= 1 and time_budget > 0; got {total_steps}, {time_budget}.")
        self.optimizer, self.max_lr, self.total_steps, self.time_budget = optimizer, max_lr, total_steps, time_budget
        self.pct_start, self.initial_lr = pct_start, max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        self.clock, self.steps, self.elapsed, self._last = clock, 0, 0.0, None
        self._set_lr(self.lr_at(0.0))

    @property
    def progress(self) -> float:
        return min(1.0, max(self.steps / self.total_steps, self.elapsed / self.time_budget))

    @property
    def finished(self) -> bool:
        return self.progress >= 1.0

    def lr_at(self, progress: float) -> float:
        if progress < self.pct_start:
            t = progress / self.pct_start
            return self.max_lr + (self.initial_lr - self.max_lr) * (1 + math.cos(math.pi * t)) / 2
        t = (progress - self.pct_start) / max(1e-12, 1 - self.pct_start)
        return self.min_lr + (self.max_lr - self.min_lr) * (1 + math.cos(math.pi * min(1.0, t))) / 2

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def start_clock(self) -> None:
        """Restart the clock (``fit`` calls it before each epoch, so evaluation time is not counted)."""
        self._last = self.clock()

    def step(self) -> None:
        now = self.clock()
        if self._last is not None:
            self.elapsed += now - self._last
        self._last = now
        self.steps += 1
        self._set_lr(self.lr_at(self.progress))

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"steps": self.steps, "elapsed": self.elapsed}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.elapsed = state["steps"], state["elapsed"]
        self._set_lr(self.lr_at(self.progress))


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _is_summed(loss_fn) -> bool:
    """True for a loss that sums over the batch (``reduction="sum"``): its value is divided by the batch size in logs."""
    return getattr(loss_fn, "reduction", "mean") == "sum"


def _to_device(batch, device, channels_last: bool):
    x, y = batch[0], batch[1]
    x = x.to(device, non_blocking=True)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


@contextlib.contextmanager
def evaluation_mode(model: nn.Module):
    """The block runs ``model`` in evaluation mode (dropout off, batch norm on its running statistics) without
    gradients; the model's train/eval mode is restored afterwards, even when the block fails."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, loader, loss_fn=None, device=None, channels_last: bool = False) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` (batches ``(x, y)``), in evaluation mode.

    Returns ``{"loss": float, "acc": float, "n": int}``. The default loss is
    ``F.cross_entropy`` (which also suits log-softmax outputs). The model's
    train/eval mode is restored afterwards.
    """
    loss_fn = loss_fn or F.cross_entropy
    summed = _is_summed(loss_fn)
    device = torch.device(device) if device is not None else _model_device(model)
    total_loss, correct, n = 0.0, 0, 0
    with evaluation_mode(model):
        for batch in loader:
            x, y = _to_device(batch, device, channels_last)
            out = model(x)
            total_loss += float(loss_fn(out, y)) * (1 if summed else len(y))
            correct += int((out.argmax(dim=1) == y).sum())
            n += len(y)
    if n == 0:
        raise ValueError("evaluate() got an empty loader.")
    return {"loss": total_loss / n, "acc": correct / n, "n": n}


def predict_classes(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Class indices ``(N,)`` (int64, on the CPU) for inputs ``x`` ``(N, ...)``, in evaluation mode, in batches."""
    device = _model_device(model)
    labels = torch.empty(len(x), dtype=torch.int64)
    with evaluation_mode(model):
        for start in range(0, len(x), batch_size):
            labels[start:start + batch_size] = model(x[start:start + batch_size].to(device)).argmax(dim=1).cpu()
    return labels


def minutes_to(history: dict, accuracy: float, key: str = "val_acc") -> float | None:
    """Minutes of training (``train_time``, evaluation excluded) until ``history[key]`` first reached ``accuracy``.

    ``None`` when it never did. Read off the epochs' ends: a time-to-accuracy figure, as the benchmarks print.
    """
    for value, seconds in zip(history.get(key, []), history.get("train_time", [])):
        if value is not None and value >= accuracy:
            return seconds / 60
    return None


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def save_checkpoint(path, model: nn.Module, optimizer=None, scheduler=None, epoch: int = 0, history=None,
                    **extra) -> Path:
    """Write model, optimizer and scheduler states, epoch and history to ``path`` atomically.

    A crash while saving leaves the previous checkpoint intact (temporary
    file, then rename). ``extra`` items are stored as they are.
    """
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "history": history or {},
        **extra,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely (damaged, empty, or holding more than tensors and plain values)."""


class CheckpointMismatch(CheckpointError):
    """A checkpoint made in another run mode or on other data than the run that would resume it."""


def made_with(train_loader, val_loader=None) -> dict:
    """What a checkpoint records of how its run was made, and a resume must match: the run mode and the data sizes.

    ``mode``: ``full`` or ``smoke`` (``helpers.runtime.mode``); ``train_examples`` / ``val_examples``:
    how many examples the loaders hold (``None`` where a loader cannot say); ``steps_per_epoch``.
    """
    return {"mode": mode(), "train_examples": _examples(train_loader),
            "val_examples": _examples(val_loader) if val_loader is not None else None,
            "steps_per_epoch": len(train_loader)}


def _examples(loader) -> int | None:
    """How many examples ``loader`` holds: a ``DataLoader``'s dataset, a ``TensorLoader``'s labels."""
    for attribute in ("dataset", "y", "labels"):
        try:
            return len(getattr(loader, attribute))
        except (AttributeError, TypeError):
            continue
    return None


def _describe_made_with(made: dict) -> str:
    parts = [f"{made.get('mode')} mode"]
    if made.get("train_examples") is not None:
        parts.append(f"{made['train_examples']} training examples")
    if made.get("val_examples") is not None:
        parts.append(f"{made['val_examples']} validation examples")
    if made.get("train_examples") is None:
        parts.append(f"{made.get('steps_per_epoch')} steps per epoch")
    return ", ".join(parts)


def check_made_with(path, saved: dict | None, current: dict) -> None:
    """Raise ``CheckpointMismatch`` naming ``path`` when the checkpoint's ``made_with`` differs from ``current``.

    A smoke run's checkpoint never becomes a full run's (its weights would carry a full-mode record), nor does a
    checkpoint made on other data. Checkpoints written before the workbook stored this carry none and pass.
    """
    if saved is None or saved == current:
        return
    raise CheckpointMismatch(f"{path} was made in {_describe_made_with(saved)}; this run is in "
                             f"{_describe_made_with(current)}. Resume it as it was made, or start over "
                             "without resuming (its checkpoints stay until the new run's first epoch).")


def load_data_only(path, map_location="cpu"):
    """``torch.load(path, weights_only=True)``: tensors and plain values only, so a file holding code is refused
    (an exception the caller names the file in), never run. torch's warning about a file pickled with another
    protocol than its own is not shown: the caller's one line says what matters."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        return torch.load(path, map_location=map_location, weights_only=True)


def read_checkpoint(path, map_location="cpu") -> dict:
    """The dict ``save_checkpoint`` wrote to ``path``, read as data only (``weights_only=True``: no code runs).

    Raises ``CheckpointError`` naming the file when it is damaged, empty or not such a dict.
    """
    path = Path(path)
    try:
        ckpt = load_data_only(path, map_location)
    except Exception as err:  # zip, pickle and torch errors come in many types
        raise CheckpointError(f"Cannot read the checkpoint {path} ({error_line(err)}): it is damaged, or holds more than "
                              "tensors and plain values and was not loaded, since loading it could run code. "
                              "Delete it, or start over without --resume.") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise CheckpointError(f"{path} is not a training checkpoint (no model state and epoch); delete it, "
                              "or start over without --resume.")
    return ckpt


def load_checkpoint(path, model: nn.Module | None = None, optimizer=None, scheduler=None, map_location="cpu",
                    expect: dict | None = None) -> dict:
    """Read a checkpoint written by ``save_checkpoint``; load its states into the objects given.

    Returns the whole checkpoint dict (``epoch``, ``history``, ...). Raises
    ``FileNotFoundError`` naming the path when there is none, and
    ``CheckpointMismatch`` before loading anything when ``expect`` (a
    ``made_with`` dict) differs from the one the checkpoint stores.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    ckpt = read_checkpoint(path, map_location)
    if expect is not None:
        check_made_with(path, ckpt.get("made_with"), expect)
    if model is not None:
        model.load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt


@dataclasses.dataclass
class Recipe:
    """What a recipe decides about a run of ``fit``: its length, optimizer, schedule, loss, augmentation, stopping.

    epochs : total number of epochs of the run (a resumed run counts the epochs already done).
    optimizer : an optimizer over the model's parameters, or a factory ``params -> optimizer``;
        default ``AdamW(lr=1e-3, weight_decay=1e-4)``.
    scheduler : a learning-rate scheduler, or a factory ``(optimizer, epochs, steps_per_epoch) -> scheduler``
        (``one_cycle``), or ``None``. ``ReduceLROnPlateau`` is stepped with the monitored value.
    scheduler_interval : ``"step"`` (after each batch) or ``"epoch"``; default: the factory's ``interval``
        attribute, else ``"epoch"``.
    loss_fn : ``(scores, y) -> loss``; default ``F.cross_entropy``. A loss with ``reduction="sum"`` is logged
        per example (divided by the batch size).
    batch_transform : applied to each training batch ``x`` on the device (augmentation), as
        ``batch_transform(x, generator=g)`` if it takes a ``generator`` (seeded from ``seed`` and the epoch),
        else ``batch_transform(x)``. It may return ``k`` views of the batch stacked (``k * B`` images, view by
        view): ``loss_fn`` then gets all ``k * B`` scores with the ``B`` labels, and ``train_acc`` counts the
        first view.
    seed : seeds the batch transform's generators (the loader shuffles with its own seed).
    monitor : ``"val_acc"`` (higher is better) or ``"val_loss"`` (lower is better), or a train key when there
        is no validation set.
    patience : stop after this many epochs without an improvement of ``monitor`` by more than ``min_delta``
        (``None``: never stop early).
    restore_best : at the end, load the best epoch's weights into the model.
    channels_last : use the channels-last memory format (faster convolutions on CPUs).
    bf16 : run the training steps' forward pass under bfloat16 autocast (weights, gradients and evaluation
        stay float32); 1.8x (AVX-512 BF16) to 3.5x (AMX) faster per step on CPUs that have it (see
        ``helpers.device.bf16_is_fast``), slower on others.
    """

    epochs: int
    optimizer: Any = None
    scheduler: Any = None
    scheduler_interval: str | None = None
    loss_fn: Any = None
    batch_transform: Any = None
    seed: int = 0
    monitor: str = "val_acc"
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    channels_last: bool = False
    bf16: bool = False

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}.")


class Callback:
    """The training loop's one extension point: a recipe or a run subclasses it and overrides the steps it needs.

    ``fit`` calls each of its callbacks in turn:

    - ``on_epoch_start(epoch, model)``: before the epoch's first batch, the model in training mode
      (``epoch`` counts from 0);
    - ``on_step_end(step, model)``: after each optimizer step and per-step schedule step (``step`` counts
      from 1 over the whole run, resumed or not);
    - ``on_epoch_end(epoch, history, model)``: after the epoch's checkpoints and line (``epoch`` counts from
      1: ``history["epoch"][-1]``); returning True ends the run, once every callback has been called;
    - ``state_dict()`` / ``load_state_dict(state)``: the callback's state, stored in every checkpoint and
      loaded on resume (matched by position among the callbacks), so that a resumed run continues exactly;
      ``None`` stores nothing.
    """

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        pass

    def on_step_end(self, step: int, model: nn.Module) -> None:
        pass

    def on_epoch_end(self, epoch: int, history: dict, model: nn.Module) -> bool | None:
        return None

    def state_dict(self) -> dict | None:
        return None

    def load_state_dict(self, state: dict) -> None:
        pass


class EpochEnd(Callback):
    """A callback made of a function ``(epoch, history, model) -> stop``, called at the end of every epoch."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, epoch: int, history: dict, model: nn.Module) -> bool | None:
        return self.function(epoch, history, model)


def _as_callback(callback) -> Callback:
    if isinstance(callback, Callback):
        return callback
    if callable(callback):
        return EpochEnd(callback)
    raise TypeError(f"fit's callbacks are Callback objects or functions (epoch, history, model) -> stop; "
                    f"got {type(callback).__name__}.")


def _recipe(recipe: Recipe | None, fields: dict) -> Recipe:
    """``recipe`` with ``fields`` replaced, or a ``Recipe`` of ``fields`` alone."""
    unknown = sorted(set(fields) - {field.name for field in dataclasses.fields(Recipe)})
    if unknown:
        raise TypeError(f"fit() got unexpected keyword arguments: {', '.join(unknown)}.")
    return dataclasses.replace(recipe, **fields) if recipe is not None else Recipe(**fields)


def _holding_checkpoint_dir(train):
    """``fit`` holds its checkpoint folder's ``output_lock`` while it runs: a second writer there is refused."""

    @functools.wraps(train)
    def run(*args, **kwargs):
        folder = kwargs.get("checkpoint_dir")
        with output_lock(folder) if folder is not None else contextlib.nullcontext():
            return train(*args, **kwargs)

    return run


@_holding_checkpoint_dir
def fit(model: nn.Module, train_loader, val_loader=None, recipe: Recipe | None = None, *, callbacks=(),
        device=None, checkpoint_dir=None, resume=False, checkpoint_extra: dict | None = None,
        progress: bool = True, verbose: bool = True, **recipe_fields) -> dict:
    """Train ``model`` by ``recipe`` and return its history (see the module docstring for the keys).

    model : any ``nn.Module`` mapping a batch ``x`` to scores ``(B, classes)``.
    train_loader, val_loader : iterables of batches ``(x, y)`` (a ``TensorLoader`` or a
        ``torch.utils.data.DataLoader``); ``val_loader`` may be ``None``.
    recipe : a ``Recipe``; ``recipe_fields`` (``epochs=10, optimizer=...``) make one, or replace the given
        one's fields.
    callbacks : ``Callback`` objects, called in turn at the loop's steps (a function
        ``(epoch, history, model) -> stop`` is taken for an ``on_epoch_end``).
    device : default ``get_device()``.
    checkpoint_dir : where ``last.pt`` (every epoch, for resuming) and ``best.pt`` (best ``monitor`` so far)
        are written atomically; ``fit`` holds the folder's ``helpers.paths.output_lock`` while it runs.
    resume : ``True`` to continue from ``checkpoint_dir/last.pt`` when it exists, or the path of a
        checkpoint. Every checkpoint stores the run mode and the data sizes (``made_with``); one made in
        another mode or on other data is refused (``CheckpointMismatch``) before anything loads.
    checkpoint_extra : plain values stored in every checkpoint as they are (e.g. the run's settings, which a
        resume can check against).
    progress : a progress bar over each epoch's batches; verbose : a line per epoch, and what ``fit`` decides.
    """
    trainer = Trainer(model, train_loader, val_loader, _recipe(recipe, recipe_fields), callbacks, device=device,
                      checkpoint_dir=checkpoint_dir, checkpoint_extra=checkpoint_extra, progress=progress,
                      verbose=verbose)
    for epoch in range(trainer.start_or_resume(resume), trainer.recipe.epochs):
        row = trainer.train_epoch(epoch)
        row.update(trainer.evaluate())
        if trainer.end_of_epoch(epoch, row):
            break
    trainer.restore_best()
    return trainer.history


class Trainer:
    """One run of ``fit``: the model, its optimizer and schedule, the history so far, and the loop's steps.

    ``fit`` is the loop over them: ``start_or_resume``, then per epoch ``train_epoch`` (``prepare_batch`` and
    ``training_step`` for each batch), ``evaluate`` and ``end_of_epoch``, and last ``restore_best``.
    """

    def __init__(self, model: nn.Module, train_loader, val_loader, recipe: Recipe, callbacks=(), device=None,
                 checkpoint_dir=None, checkpoint_extra: dict | None = None, progress: bool = True,
                 verbose: bool = True):
        self.model, self.train_loader, self.val_loader, self.recipe = model, train_loader, val_loader, recipe
        self.callbacks = [_as_callback(callback) for callback in callbacks]
        self.device = torch.device(device) if device is not None else get_device()
        model.to(self.device)
        if recipe.channels_last:
            model.to(memory_format=torch.channels_last)
        self.loss_fn = recipe.loss_fn or F.cross_entropy
        self.summed = _is_summed(self.loss_fn)
        self.takes_generator = recipe.batch_transform is not None and _accepts(recipe.batch_transform, "generator")
        self.optimizer = recipe.optimizer
        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        elif not isinstance(self.optimizer, torch.optim.Optimizer):
            self.optimizer = self.optimizer(model.parameters())
        self.steps_per_epoch = len(train_loader)
        self.scheduler, interval = recipe.scheduler, recipe.scheduler_interval
        if self.scheduler is not None and not hasattr(self.scheduler, "step"):   # a factory
            interval = interval or getattr(self.scheduler, "interval", None)
            self.scheduler = self.scheduler(self.optimizer, recipe.epochs, self.steps_per_epoch)
        self.scheduler_interval = interval or "epoch"
        if self.scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch'; got {self.scheduler_interval!r}.")
        self.monitor = recipe.monitor
        if val_loader is None and self.monitor.startswith("val_"):
            self.monitor = "train_" + self.monitor[4:]
        self.higher_is_better = self.monitor.endswith("acc")
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_extra, self.progress, self.verbose = checkpoint_extra or {}, progress, verbose
        self.history = {key: [] for key in HISTORY_KEYS}
        self.history["iter_loss"] = []
        self.best, self.bad_epochs, self.step, self.best_state = None, 0, 0, None
        # Seconds of earlier (resumed) runs, and of this one since start_or_resume.
        self.time_before, self.train_time_before, self.started, self.training_seconds = 0.0, 0.0, None, 0.0

    def start_or_resume(self, resume=False) -> int:
        """Start afresh, or continue from a checkpoint (``resume``: see ``fit``); returns the first epoch to train
        (counting from 0)."""
        path = None
        if resume is True and self.ckpt_dir is not None and (self.ckpt_dir / LAST_NAME).is_file():
            path = self.ckpt_dir / LAST_NAME
        elif resume not in (False, None, True):
            path = Path(resume)
        if self.ckpt_dir is not None:
            remove_stale_temporaries(self.ckpt_dir)  # left by a process killed while writing a checkpoint
        # A fresh run leaves an earlier run's checkpoints in place until its own first epoch replaces them
        # (an interruption before that loses nothing); run_id tells the two runs' files apart.
        self.run_id = uuid.uuid4().hex
        self.made = made_with(self.train_loader, self.val_loader)
        start_epoch = self._resume(path) if path is not None else 0
        self.started, self.training_seconds = time.time(), 0.0
        return start_epoch

    def _resume(self, path: Path) -> int:
        ckpt = load_checkpoint(path, self.model, self.optimizer, self.scheduler, map_location=self.device,
                               expect=self.made)
        self.run_id = ckpt.get("run_id", self.run_id)
        self.history = ckpt["history"]
        start_epoch = ckpt["epoch"]
        self.best, self.bad_epochs = ckpt.get("best"), ckpt.get("bad_epochs", 0)
        self.time_before = self.history["time"][-1] if self.history.get("time") else 0.0
        self.train_time_before = self.history["train_time"][-1] if self.history.get("train_time") else 0.0
        self.step = ckpt.get("step", start_epoch * self.steps_per_epoch)
        # The callbacks' states are stored under "hooks": checkpoints of every version resume.
        for callback, state in zip(self.callbacks, ckpt.get("hooks") or ()):
            if state is not None:
                callback.load_state_dict(state)
        if ckpt.get("torch_rng") is not None:
            torch.set_rng_state(ckpt["torch_rng"])
        if self.verbose:
            print(f"Resumed from {display_path(path)} after epoch {start_epoch}.")
        return start_epoch

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the training batches (``epoch`` counts from 0); returns the epoch's row so far:
        ``epoch`` (from 1), ``train_loss`` (per example) and ``train_acc``."""
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(epoch)
        generator = torch.Generator().manual_seed(_mix(self.recipe.seed + 1, epoch))
        self.model.train()
        for callback in self.callbacks:
            callback.on_epoch_start(epoch, self.model)
        if hasattr(self.scheduler, "start_clock"):
            self.scheduler.start_clock()
        started = time.time()
        total_loss, correct, n = 0.0, 0, 0
        bar = _progress(self.train_loader, self.progress, desc=f"epoch {epoch + 1}/{self.recipe.epochs}",
                        leave=False, total=self.steps_per_epoch, mininterval=1.0)
        for batch in bar:
            x, y = self.prepare_batch(batch, generator)
            loss, scores = self.training_step(x, y)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} in epoch {epoch + 1}: lower the learning rate.")
            self.history["iter_loss"].append(loss)
            total_loss += loss * len(y)
            # A transform may stack several views of the batch (k * B images): count the first view.
            correct += int((scores[:len(y)].argmax(dim=1) == y).sum())
            n += len(y)
            if self.progress and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            if getattr(self.scheduler, "finished", False):
                break   # a time-budgeted schedule has run out: end with this (partial) epoch
        if self.progress and hasattr(bar, "close"):
            bar.close()
        self.training_seconds += time.time() - started
        if n == 0:
            raise ValueError("the training loader gave no batches.")
        return {"epoch": epoch + 1, "train_loss": total_loss / n, "train_acc": correct / n}

    def prepare_batch(self, batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch ``(x, y)`` on the device, ``x`` through the recipe's ``batch_transform``."""
        x, y = _to_device(batch, self.device, self.recipe.channels_last)
        transform = self.recipe.batch_transform
        if transform is not None:
            x = transform(x, generator=generator) if self.takes_generator else transform(x)
            if self.recipe.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def training_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Forward, loss, backward, the optimizer's and a per-step schedule's steps, the callbacks' ``on_step_end``.

        x: ``(k * B, ...)``, y: ``(B,)``. Returns the loss per example (a float) and the scores
        ``(k * B, classes)``, detached.
        """
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.recipe.bf16):
            out = self.model(x)
        out = out.float()
        loss = self.loss_fn(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()
        self.step += 1
        for callback in self.callbacks:
            callback.on_step_end(self.step, self.model)
        return float(loss.detach()) / (len(y) if self.summed else 1), out.detach()

    def evaluate(self) -> dict:
        """``val_loss`` and ``val_acc`` over the validation loader, in evaluation mode (``{}`` without one)."""
        if self.val_loader is None:
            return {}
        val = evaluate(self.model, self.val_loader, self.loss_fn, self.device, self.recipe.channels_last)
        return {"val_loss": val["loss"], "val_acc": val["acc"]}

    def end_of_epoch(self, epoch: int, row: dict) -> bool:
        """Step a per-epoch schedule, add ``row`` to the history, keep the best, write the checkpoints, print the
        epoch's line and call the callbacks' ``on_epoch_end``; returns True when the run ends here."""
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(row[self.monitor])
            else:
                self.scheduler.step()
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        row["time"] = self.time_before + time.time() - self.started
        row["train_time"] = self.train_time_before + self.training_seconds
        for key in HISTORY_KEYS:
            if key in row:
                self.history.setdefault(key, []).append(row[key])
        improved = self._keep_best(row[self.monitor])
        self._save_checkpoints(epoch + 1, improved)
        if self.verbose:
            print(_epoch_line(row, self.recipe.epochs, improved), flush=True)
        return self._stops(epoch + 1)

    def _keep_best(self, value: float) -> bool:
        """Whether ``value`` of the monitored key improves on the best so far (then it becomes the best)."""
        min_delta = self.recipe.min_delta
        improved = self.best is None or (value > self.best + min_delta if self.higher_is_better
                                         else value < self.best - min_delta)
        if improved:
            self.best, self.bad_epochs = value, 0
            if self.recipe.restore_best and self.ckpt_dir is None:   # no best.pt to restore from: keep a copy
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return improved

    def _save_checkpoints(self, epochs_done: int, improved: bool) -> None:
        if self.ckpt_dir is None:
            return
        extra = {**self.checkpoint_extra, "best": self.best, "bad_epochs": self.bad_epochs, "monitor": self.monitor,
                 "torch_rng": torch.get_rng_state(), "run_id": self.run_id, "step": self.step, "made_with": self.made,
                 "hooks": [callback.state_dict() for callback in self.callbacks]}
        if improved:
            save_checkpoint(self.ckpt_dir / BEST_NAME, self.model, self.optimizer, self.scheduler, epochs_done,
                            self.history, **extra)
        save_checkpoint(self.ckpt_dir / LAST_NAME, self.model, self.optimizer, self.scheduler, epochs_done,
                        self.history, **extra)

    def _stops(self, epochs_done: int) -> bool:
        """Whether a callback, a spent time budget or early stopping ends the run after ``epochs_done`` epochs."""
        stop = any([callback.on_epoch_end(epochs_done, self.history, self.model) for callback in self.callbacks])
        if getattr(self.scheduler, "finished", False) and epochs_done < self.recipe.epochs:
            if self.verbose:
                print(f"The time budget is spent after {epochs_done} epochs: training ends here.")
            stop = True
        patience = self.recipe.patience
        if patience is not None and self.bad_epochs >= patience:
            if self.verbose:
                print(f"Early stopping: {self.monitor} did not improve for {patience} epochs.")
            stop = True
        return stop

    def restore_best(self) -> None:
        """Load the best epoch's weights into the model (``recipe.restore_best``): this run's ``best.pt``, or
        the copy kept in memory when there are no checkpoints."""
        if not self.recipe.restore_best:
            return
        best_ckpt = None
        if self.ckpt_dir is not None and (self.ckpt_dir / BEST_NAME).is_file():
            best_ckpt = read_checkpoint(self.ckpt_dir / BEST_NAME, map_location=self.device)
            if best_ckpt.get("run_id") != self.run_id:  # an earlier run's file (this run was killed before replacing it)
                if self.verbose:
                    print(f"{self.ckpt_dir / BEST_NAME} is from an earlier run: keeping the last epoch's weights.")
                best_ckpt = None
        if best_ckpt is not None:
            if best_ckpt["epoch"] != len(self.history["epoch"]) and self.verbose:
                print(f"Restoring the best weights (epoch {best_ckpt['epoch']}, {self.monitor} "
                      f"{best_ckpt['best']:.4f}).")
            self.model.load_state_dict(best_ckpt["model"])
        elif self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def _epoch_line(row: dict, epochs: int, improved: bool) -> str:
    """``epoch   3/10 | train loss ... acc ... | val loss ... acc ... | lr ... | 42 s *`` (``*``: a new best)."""
    parts = [f"epoch {row['epoch']:3d}/{epochs}", f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}"]
    if "val_acc" in row:
        parts.append(f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}")
    parts.append(f"lr {row['lr']:.2e} | {row['time']:.0f} s" + (" *" if improved else ""))
    return " | ".join(parts)


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm  # deferred: only a run with a progress bar needs it

    return tqdm(iterable, **kwargs)
