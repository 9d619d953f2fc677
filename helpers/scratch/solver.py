"""``Solver``: minibatch training of any NumPy model (CS231n conventions).

A model is anything with

- ``model.params``: a dict from parameter names to NumPy arrays;
- ``model.loss(X, y)``: returns ``(loss, grads)``, ``grads`` a dict with the
  same keys as ``params``; ``model.loss(X)`` (no labels) returns the class
  scores ``(N, C)``.

Usage::

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=5, batch_size=64)
    solver.train()
    solver.history        # the workbook's one format: {"epoch", "iter_loss", "train_loss", "train_acc", "val_acc", "lr"}
    solver.best_val_acc   # model.params now hold the best weights seen

CS231n's calling habits work: ``Solver(..., verbose=True, print_every=100,
checkpoint_name="convnet")`` prints CS231n's iteration and epoch lines and
writes ``convnet_epoch_<N>.npz`` after every epoch (atomically, ``.npz``: data
that loads without running code); ``solver.loss_history``,
``solver.train_acc_history``, ``solver.val_acc_history`` and
``solver.check_accuracy(X, y, num_samples=None, batch_size=100)`` are there.

``data`` is a dict with ``X_train`` ``(N_train, ...)``, ``y_train``
``(N_train,)``, ``X_val`` ``(N_val, ...)``, ``y_val`` ``(N_val,)``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from helpers.paths import atomic_write_bytes
from helpers.runtime import subnormals_flushed
from helpers.scratch import optim

REQUIRED_DATA = ("X_train", "y_train", "X_val", "y_val")


class Solver:
    """Train a model with minibatch updates; keep the history and the best weights.

    Parameters
    ----------
    model : object with ``params`` and ``loss(X, y=None)`` (see the module docstring).
    data : dict with ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    update_rule : a name from ``helpers.scratch.optim`` (``"sgd"``, ``"sgd_momentum"``,
        ``"adam"``) or a function ``(w, dw, config) -> (next_w, config)``.
    optim_config : hyperparameters for the update rule (each parameter gets
        its own copy, which also holds that parameter's optimiser state).
    lr_decay : the learning rate is multiplied by this after every epoch.
    batch_size : examples per update.
    num_epochs : passes over the training data.
    num_train_samples : training examples used to measure the training
        accuracy after each epoch (None: all of them).
    num_val_samples : validation examples used for the validation accuracy
        (None: all of them).
    eval_batch_size : examples per forward pass when measuring accuracy.
    checkpoint_path : if given, the best parameters are written there (an
        ``.npz`` file, atomically) each time the validation accuracy improves.
    checkpoint_name : CS231n's: if given, the parameters after every epoch go to
        ``<checkpoint_name>_epoch_<N>.npz`` (atomically).
    progress : show a tqdm progress bar over the iterations (off when ``verbose``).
    print_every : print the loss every that many iterations (0: never).
    verbose : CS231n's: print ``(Iteration i / n) loss: ...`` every ``print_every``
        iterations (default 10 when not given) and ``(Epoch e / n) train acc: ...; val_acc: ...``
        after every epoch.
    seed : seed of the generator that draws the minibatches.
    """

    def __init__(self, model, data: dict, update_rule: str | Callable = "sgd", optim_config: dict | None = None,
                 lr_decay: float = 1.0, batch_size: int = 100, num_epochs: int = 10,
                 num_train_samples: int | None = 1000, num_val_samples: int | None = None,
                 eval_batch_size: int = 200, checkpoint_path: str | os.PathLike | None = None,
                 progress: bool = True, print_every: int | None = None, seed: int = 0, verbose: bool = False,
                 checkpoint_name: str | os.PathLike | None = None):
        missing = [k for k in REQUIRED_DATA if k not in data]
        if missing:
            raise ValueError(f"data is missing {missing}; it needs the keys {list(REQUIRED_DATA)}.")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if len(X) != len(y) or np.ndim(y) != 1:
                raise ValueError(f"X_{split} {np.shape(X)} and y_{split} {np.shape(y)} must hold the same number of examples, y as (N,).")
            if len(X) == 0:
                raise ValueError(f"X_{split} holds no examples (shape {np.shape(X)}); give at least one.")
        if not hasattr(model, "params") or not hasattr(model, "loss"):
            raise TypeError(f"model must have a 'params' dict and a 'loss(X, y)' method; got {type(model).__name__}.")
        if isinstance(update_rule, str):
            if update_rule not in optim.__all__:
                raise ValueError(f"unknown update_rule {update_rule!r}; expected one of {optim.__all__} or a function.")
            update_rule = getattr(optim, update_rule)
        if batch_size < 1 or num_epochs < 0:
            raise ValueError(f"batch_size must be >= 1 and num_epochs >= 0; got {batch_size} and {num_epochs}.")
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = update_rule
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.eval_batch_size = eval_batch_size
        self.checkpoint_path = checkpoint_path
        self.verbose = verbose
        self.progress = progress and not verbose
        self.print_every = print_every if print_every is not None else (10 if verbose else 0)
        self.checkpoint_name = checkpoint_name
        self.rng = np.random.default_rng(seed)
        self._reset()

    def _reset(self) -> None:
        self.epoch = 0
        self.best_val_acc = -1.0
        self.best_epoch = 0
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self.history = {"epoch": [], "iter_loss": [], "train_loss": [], "train_acc": [], "val_acc": [], "lr": []}
        # Each parameter gets its own copy of the configuration (and optimiser state).
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}

    # CS231n's attribute names, for code written against its Solver.
    @property
    def loss_history(self) -> list:
        return self.history["iter_loss"]

    @property
    def train_acc_history(self) -> list:
        return self.history["train_acc"]

    @property
    def val_acc_history(self) -> list:
        return self.history["val_acc"]

    def _step(self, X_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """One update of every parameter on one minibatch; returns the loss."""
        loss, grads = self.model.loss(X_batch, y_batch)
        for name, w in self.model.params.items():
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
        return float(loss)

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int | None = None) -> float:
        """Fraction of ``X`` ``(N, ...)`` classified as ``y`` ``(N,)``; on a random subset of ``num_samples`` if given.

        ``batch_size``: examples per forward pass (default: the solver's ``eval_batch_size``).
        """
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} examples but y has {len(y)}; check_accuracy needs X (N, ...) and y (N,).")
        batch_size = batch_size or self.eval_batch_size
        if num_samples is not None and len(X) > num_samples:
            idx = self.rng.choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        pred = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1) for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(pred) == y)) if len(X) else 0.0

    def _learning_rate(self):
        rates = [c.get("learning_rate") for c in self.optim_configs.values()]
        return rates[0] if rates else None

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the best parameters (and the epoch and validation accuracy) to ``path`` (``.npz``), atomically."""
        buf = io.BytesIO()
        np.savez(buf, **self.best_params, _epoch=self.best_epoch, _val_acc=self.best_val_acc)
        atomic_write_bytes(path, buf.getvalue(), hold_folder=True)

    def train(self) -> dict:
        """Run ``num_epochs`` epochs, then put the best parameters seen into ``model.params``.

        After each epoch: record the mean training loss, the training and
        validation accuracies and the learning rate in ``history``; keep a copy
        of the parameters if the validation accuracy is the best so far (and
        write the checkpoint); decay the learning rate. Returns ``history``.
        """
        num_train = len(self.X_train)
        iters_per_epoch = max(num_train // self.batch_size, 1)
        bar = tqdm(total=iters_per_epoch * self.num_epochs, disable=not self.progress, unit="batch", leave=True)
        # Subnormal update-rule state (Adam's moments of dead units) would slow every later step several times.
        with subnormals_flushed(), bar:
            for _ in range(self.num_epochs):
                order = self.rng.permutation(num_train)
                epoch_losses = []
                for it in range(iters_per_epoch):
                    idx = order[it * self.batch_size:(it + 1) * self.batch_size]
                    loss = self._step(self.X_train[idx], self.y_train[idx])
                    if not np.isfinite(loss):
                        raise FloatingPointError(
                            f"the loss became {loss} at epoch {self.epoch + 1}, iteration {it + 1}: "
                            "the learning rate is probably too high."
                        )
                    epoch_losses.append(loss)
                    self.history["iter_loss"].append(loss)
                    bar.update(1)
                    done = len(self.history["iter_loss"])
                    if self.print_every and done % self.print_every == 0:
                        if self.verbose:  # CS231n's line
                            print(f"(Iteration {done} / {iters_per_epoch * self.num_epochs}) loss: {loss:f}")
                        else:
                            bar.write(f"iteration {done}: loss {loss:.4f}")
                self.epoch += 1
                self._end_of_epoch(float(np.mean(epoch_losses)))
                bar.set_postfix(loss=f"{self.history['train_loss'][-1]:.3f}",
                                val_acc=f"{self.history['val_acc'][-1]:.3f}")
                for config in self.optim_configs.values():
                    if "learning_rate" in config:
                        config["learning_rate"] *= self.lr_decay
        self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        return self.history

    def _end_of_epoch(self, mean_loss: float) -> None:
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.history["epoch"].append(self.epoch)
        self.history["train_loss"].append(mean_loss)
        self.history["train_acc"].append(train_acc)
        self.history["val_acc"].append(val_acc)
        self.history["lr"].append(self._learning_rate())
        if self.verbose:  # CS231n's line
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
        if self.checkpoint_name is not None:
            buf = io.BytesIO()
            np.savez(buf, **self.model.params, _epoch=self.epoch, _val_acc=val_acc)
            atomic_write_bytes(f"{self.checkpoint_name}_epoch_{self.epoch}.npz", buf.getvalue())
        if val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, self.epoch
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            if self.checkpoint_path is not None:
                self.save_checkpoint(self.checkpoint_path)
