"""The RPZ lab's experiments (notebook 06): data as tensors, one training call, the augmentation per data set.

Everything here is a thin layer over ``helpers.pytorch.training.fit``; the notebook
calls ``train_classifier`` for each network of the lab's sequence.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from helpers.data import load_dataset, to_float_tensor, train_val_split
from helpers.device import bf16_is_fast, get_device
from helpers.pytorch.augment import CameraAugment
from helpers.pytorch.training import Recipe, TensorLoader, evaluate, fit, one_cycle

DATASETS = ("mnist", "fashion_mnist")


def load_pixel_tensors(name: str, val_size: int | float = 5000, seed: int = 0, max_train: int | None = None) -> dict:
    """``name``'s training set split into train / validation, and its test set, as tensors.

    Returns a dict with ``x_train``, ``y_train``, ``x_val``, ``y_val``,
    ``x_test``, ``y_test``: images float32 ``(N, 1, 28, 28)`` in [0, 1],
    labels int64 ``(N,)``. ``max_train`` keeps only the first training images
    (after the split; for quick experiments).
    """
    if name not in DATASETS:
        raise ValueError(f"the RPZ lab uses {DATASETS}; got {name!r}.")
    X, y = load_dataset(name, "train")
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, val_size=val_size, seed=seed)
    if max_train is not None:
        X_tr, y_tr = X_tr[:max_train], y_tr[:max_train]
    X_te, y_te = load_dataset(name, "test")
    as_labels = lambda a: torch.as_tensor(a, dtype=torch.int64)
    return {"x_train": to_float_tensor(X_tr), "y_train": as_labels(y_tr),
            "x_val": to_float_tensor(X_val), "y_val": as_labels(y_val),
            "x_test": to_float_tensor(X_te), "y_test": as_labels(y_te)}


def camera_augment(name: str, seed: int = 0, **overrides) -> CameraAugment:
    """The augmentation used for ``name``'s ``MyNet``.

    MNIST (the RPZ lab's MNIST year, a very noisy camera): 60 % of the images corrupted at
    strength 0.8, rotations, shears and elastic warps of the handwriting.
    Fashion-MNIST (its Fashion-MNIST year, real-world photos, brightness shifts): 40 % of
    the images corrupted, at strength 0.6 (clothes are told apart by finer
    texture than digits, which strong noise erases), left-right mirroring,
    small shifts and no warps (a warped sleeve changes the class more than
    a warped digit).
    """
    if name == "mnist":
        kwargs = dict(p=0.6, strength=0.8)
    elif name == "fashion_mnist":
        kwargs = dict(p=0.4, strength=0.6, degrees=5.0, translate=0.08, scale=(0.9, 1.1), shear=0.0,
                      elastic_p=0.0, hflip=True)
    else:
        raise ValueError(f"no augmentation defined for {name!r}; expected one of {DATASETS}.")
    kwargs.update(overrides)
    return CameraAugment(seed=seed, **kwargs)


def train_classifier(model: nn.Module, data: dict, *, epochs: int, lr: float = 3e-3, batch_size: int = 128,
                     optimizer: str = "adamw", weight_decay: float = 5e-4, label_smoothing: float = 0.0,
                     augment=None, schedule: str = "onecycle", checkpoint_dir=None, seed: int = 0,
                     progress: bool = True, verbose: bool = True, patience: int | None = None,
                     channels_last: bool = True, time_budget: float | None = None,
                     bf16: bool | None = None, loss_fn=None) -> tuple[dict, float]:
    """Train ``model`` on ``data`` (from ``load_pixel_tensors``); return ``(history, seconds)``.

    ``optimizer``: ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov);
    ``schedule``: ``"onecycle"`` (peak ``lr``) or ``"constant"``;
    ``augment``: a batch transform such as ``camera_augment(name)`` or ``None``;
    ``time_budget``: seconds of training at most (the one-cycle schedule is
    fitted into it: see ``helpers.pytorch.training.BudgetOneCycle``).
    ``bf16``: bfloat16 autocast in the training steps; ``None`` uses it where
    it is fast (``helpers.device.bf16_is_fast``).
    ``loss_fn``: ``(scores, y) -> loss`` instead of the cross-entropy with
    ``label_smoothing`` (e.g. a consistency loss over stacked views: see ``fit``'s ``batch_transform``).
    The history also gets the test accuracy as ``history["test_acc"]``
    (``None`` when ``data`` holds no test set: choosing a recipe never looks at it).
    """
    train = TensorLoader(data["x_train"], data["y_train"], batch_size=batch_size, shuffle=True, seed=seed)
    val = TensorLoader(data["x_val"], data["y_val"], batch_size=1000)
    if optimizer == "adamw":
        make_opt = lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        make_opt = lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd'; got {optimizer!r}.")
    if schedule not in ("onecycle", "constant"):
        raise ValueError(f"schedule must be 'onecycle' or 'constant'; got {schedule!r}.")
    if time_budget is not None and schedule != "onecycle":
        raise ValueError("time_budget needs schedule='onecycle' (the schedule is what fits the budget).")
    loss_fn = loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    device = get_device()
    if bf16 is None:
        bf16 = bf16_is_fast(device)
    start = time.time()
    recipe = Recipe(epochs=epochs, optimizer=make_opt,
                    scheduler=one_cycle(lr, time_budget=time_budget) if schedule == "onecycle" else None,
                    loss_fn=loss_fn, batch_transform=augment, seed=seed, patience=patience,
                    channels_last=channels_last, bf16=bf16)
    history = fit(model, train, val, recipe, checkpoint_dir=checkpoint_dir, device=device, progress=progress,
                  verbose=verbose)
    seconds = time.time() - start
    history["bf16"] = bf16
    model.to("cpu").to(memory_format=torch.contiguous_format)
    history["test_acc"] = (evaluate(model, TensorLoader(data["x_test"], data["y_test"], batch_size=1000),
                                    device="cpu")["acc"] if "x_test" in data else None)
    return history, seconds
